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

/// Everything that can go wrong in the engine.
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
}

/// The engine's result type.
pub type Result<T> = std::result::Result<T, Error>;
