//! The engine's one error type.
//!
//! The variants split by who is at fault, because callers treat them
//! differently:
//!
//! * [`Error::Io`] — the disk or RocksDB failed. Non-deterministic: inside
//!   Raft apply this must stop the node rather than let replicas diverge.
//! * [`Error::Corrupt`] — bytes read back from storage do not decode. Also
//!   never the user's fault; it means a bug or damaged data.
//! * [`Error::InvalidInput`] — the caller passed values the engine refuses
//!   (a zero-row scan limit, a zero-sized allocation, an unbounded range
//!   delete). A bug in the caller, reported instead of panicking.
//! * [`Error::RowIdsExhausted`] — a table has used every row id that still
//!   maps to a valid Postgres TID; a user-visible "table full" condition.
//!
//! [`TxnError`] is what the transaction layers ([`crate::hlc`],
//! [`crate::mvcc`]) return: every [`Error`] (wrapped as
//! [`TxnError::Engine`]), plus the *outcomes* a transaction must expect —
//! write conflicts, locks held by others, transactions already committed or
//! rolled back, a peer's clock too far ahead. Those are deterministic and
//! the caller's to handle (retry, wait, resolve, or map to SQLSTATE 40001 /
//! 55P03); only `Engine(Io)` is a failure of the machine.
//!
//! `TxnError` is a separate type rather than new [`Error`] variants only so
//! that adding it broke no exhaustive `match` on `Error` in `cluster/`.
//! When the cluster wires transactions, it may fold the two together.

use crate::hlc::Timestamp;
use crate::mvcc::LockInfo;

/// Everything that can go wrong in the engine. (Two variants only an
/// engine over replicated ranges returns: [`Error::NotServed`] and
/// [`Error::Ambiguous`].)
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// RocksDB or the disk under it failed.
    #[error("storage I/O error: {0}")]
    Io(String),
    /// Bytes read from storage could not be decoded.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// The caller passed a value the engine does not accept.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The table has handed out every row id up to [`crate::keys::RowId::MAX`].
    #[error("row id space of table {0} is exhausted")]
    RowIdsExhausted(u64),
    /// This node cannot serve these keys now: it does not hold the lease
    /// of their range (another node does, or none yet), or their range is
    /// not on this node. Nothing was read or written.
    #[error("{0}")]
    NotServed(String),
    /// A write whose outcome is unknown: proposed, but not seen applied in
    /// time (leadership changed under it). It may or may not take effect.
    #[error("{0}")]
    Ambiguous(String),
}

/// The engine's result type.
pub type Result<T> = std::result::Result<T, Error>;

/// Failures and outcomes of the transaction layers (HLC, MVCC).
#[derive(Debug, thiserror::Error)]
pub enum TxnError {
    /// The storage under the transaction failed (I/O, corrupt data, a
    /// caller bug): see [`Error`].
    #[error(transparent)]
    Engine(#[from] Error),
    /// A remote timestamp is further ahead of the local physical clock
    /// than the configured maximum offset.
    #[error(
        "remote clock {remote} is more than {max_offset}µs ahead of local physical time {physical}"
    )]
    ClockOffset {
        remote: Timestamp,
        physical: u64,
        max_offset: u64,
    },
    /// Prewrite found a version of the key committed at or after the
    /// transaction's start: first-committer-wins says this one must abort.
    #[error("write conflict on key {}: txn {start_ts} met a version committed at {conflict_commit_ts} by txn {conflict_start_ts}", key.escape_ascii())]
    WriteConflict {
        key: Vec<u8>,
        start_ts: Timestamp,
        conflict_start_ts: Timestamp,
        conflict_commit_ts: Timestamp,
    },
    /// A SERIALIZABLE transaction's read is stale: a key it read at
    /// `read_ts` got a version committed after that, at `conflict_commit_ts`,
    /// before its own commit, or is locked by a transaction that may commit
    /// there (`conflict_commit_ts` is then the lock's start). Committing
    /// would allow write skew; the transaction must restart.
    #[error("read of key {} at {read_ts} is stale: it changed at {conflict_commit_ts}", key.escape_ascii())]
    ReadConflict {
        key: Vec<u8>,
        read_ts: Timestamp,
        conflict_commit_ts: Timestamp,
    },
    /// Another transaction holds a lock on the key. Readers resolve it
    /// (see [`crate::mvcc`]) or wait; writers wait or abort.
    #[error("key {} is locked by txn {} (primary {}, ttl {}µs)", .0.key.escape_ascii(), .0.start_ts, .0.primary.escape_ascii(), .0.ttl)]
    KeyLocked(LockInfo),
    /// Commit found neither the transaction's lock nor any record of it on
    /// the key: it was never prewritten there, or its rollback left no
    /// marker (see [`crate::mvcc`]).
    #[error("txn {start_ts} has no lock or record on key {}", key.escape_ascii())]
    TxnNotFound { key: Vec<u8>, start_ts: Timestamp },
    /// The transaction was rolled back (by itself or by a resolver): it can
    /// no longer prewrite or commit.
    #[error("txn {start_ts} was rolled back (key {})", key.escape_ascii())]
    TxnRolledBack { key: Vec<u8>, start_ts: Timestamp },
    /// A rollback asked for a transaction that already committed.
    #[error("txn {start_ts} already committed at {commit_ts} (key {})", key.escape_ascii())]
    TxnCommitted {
        key: Vec<u8>,
        start_ts: Timestamp,
        commit_ts: Timestamp,
    },
}

impl TxnError {
    /// Whether this is a conflict the transaction should answer by
    /// restarting at a newer timestamp (SQLSTATE 40001 if it cannot).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            TxnError::WriteConflict { .. }
                | TxnError::ReadConflict { .. }
                | TxnError::KeyLocked(_)
                | TxnError::TxnRolledBack { .. }
        )
    }
}

/// The transaction layers' result type.
pub type TxnResult<T> = std::result::Result<T, TxnError>;
