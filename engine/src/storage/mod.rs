//! The storage layer: a tiny ordered byte key-value store.
//!
//! [`Engine`] is all that the layers above need from a disk: point reads,
//! bounded forward scans, and atomic write batches. It knows nothing of
//! keys' meaning, versions or transactions; those are built on top of it
//! (as toyDB's MVCC wraps any `storage::Engine`, and TiKV's engine traits
//! stay free of RocksDB).
//!
//! Two engines implement it:
//!
//! * [`Memory`] — a `BTreeMap` behind a lock, for tests and the cluster's
//!   deterministic simulation.
//! * [`RocksDb`] — the real store on a node.
//!
//! One conformance suite (`conformance.rs`) runs against both, so they
//! cannot drift apart.
//!
//! # Semantics every engine keeps
//!
//! * A [`WriteBatch`] applies atomically — a reader sees all of it or none
//!   of it — and in order: a `Put` after a `DeleteRange` covering its key
//!   survives.
//! * Ranges are half-open `[start, end)`. A scan's empty `end` means
//!   unbounded; a range whose start is not below its end is empty. A
//!   `DeleteRange` must have a non-empty end (use
//!   [`KeyPrefix::range`](crate::keys::KeyPrefix::range)), otherwise the
//!   whole batch is refused with `InvalidInput`.
//! * `write(batch, sync = true)` returns only once the batch is durable
//!   (WAL fsynced). Unsynced writes may be lost in a crash, but never
//!   partially and never out of order.
//!
//! # Not done yet
//!
//! Snapshots (consistent multi-call reads), reverse scans, column
//! families, and engine statistics. MVCC will need the first.

mod memory;
mod rocks;

#[cfg(test)]
mod conformance;

pub use memory::Memory;
pub use rocks::RocksDb;

use crate::error::{Error, Result};

/// A key and its value.
pub type KvPair = (Vec<u8>, Vec<u8>);

/// One operation of a [`WriteBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    /// Set `key` to `value`.
    Put { key: Vec<u8>, value: Vec<u8> },
    /// Remove `key` (no error if absent).
    Delete { key: Vec<u8> },
    /// Remove every key in `[start, end)`; `end` must not be empty.
    DeleteRange { start: Vec<u8>, end: Vec<u8> },
}

/// Writes applied together, atomically and in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    ops: Vec<WriteOp>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a put of `key` = `value`.
    pub fn put(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.push(WriteOp::Put {
            key: key.into(),
            value: value.into(),
        });
    }

    /// Adds a delete of `key`.
    pub fn delete(&mut self, key: impl Into<Vec<u8>>) {
        self.push(WriteOp::Delete { key: key.into() });
    }

    /// Adds a delete of every key in `[start, end)`.
    pub fn delete_range(&mut self, start: impl Into<Vec<u8>>, end: impl Into<Vec<u8>>) {
        self.push(WriteOp::DeleteRange {
            start: start.into(),
            end: end.into(),
        });
    }

    /// Adds an operation.
    /// Moves every operation of `other` to the end of this batch.
    pub fn append(&mut self, other: WriteBatch) {
        self.ops.extend(other.ops);
    }

    pub fn push(&mut self, op: WriteOp) {
        self.ops.push(op);
    }

    /// The operations, in the order they apply.
    pub fn ops(&self) -> &[WriteOp] {
        &self.ops
    }

    /// The operations, in the order they apply, taken out of the batch.
    pub fn into_ops(self) -> Vec<WriteOp> {
        self.ops
    }

    /// The number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether the batch has no operations.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Refuses a batch no engine may apply, before anything is applied.
    fn validate(&self) -> Result<()> {
        for op in &self.ops {
            if let WriteOp::DeleteRange { end, .. } = op {
                if end.is_empty() {
                    return Err(Error::InvalidInput(
                        "DeleteRange needs a non-empty end".into(),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// What an [`Engine::walk`] visitor asks for after a pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The pair after this one.
    Next,
    /// The first pair at or after this key, which must come after the
    /// current one: a reader skipping the rest of a key's versions moves
    /// its iterator instead of stepping through them.
    Seek(Vec<u8>),
    /// Nothing more.
    Stop,
}

/// A byte key-value store. Batches apply atomically and in order (a Put
/// after a DeleteRange in the same batch survives).
pub trait Engine: Send + Sync + 'static {
    /// The value stored at `key`, if any.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Forward scan of [start, end) (end empty = unbounded), at most
    /// max_rows pairs and stopping after the pair that reaches max_bytes of
    /// key+value bytes (always at least one pair if any exists).
    /// `max_rows` of 0 is refused with `InvalidInput`.
    fn scan(
        &self,
        start: &[u8],
        end: &[u8],
        max_rows: usize,
        max_bytes: usize,
    ) -> Result<Vec<KvPair>> {
        let mut pairs = Vec::new();
        self.scan_visit(start, end, max_rows, max_bytes, &mut |k, v| {
            pairs.push((k.to_vec(), v.to_vec()));
            true
        })?;
        Ok(pairs)
    }

    /// The same scan as [`Engine::scan`], handing each pair to `visit`
    /// instead of collecting it, so a caller that copies pairs straight into
    /// an output buffer (the node encoding a page) allocates nothing per
    /// pair. `visit` returns whether the scan goes on: `false` stops it
    /// after that pair (an MVCC scan stops on its own count of visible rows).
    fn scan_visit(
        &self,
        start: &[u8],
        end: &[u8],
        max_rows: usize,
        max_bytes: usize,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        let mut limits = ScanLimits::new(max_rows, max_bytes)?;
        self.walk(start, end, &mut |key, value| match visit(key, value) && limits.take(key, value) {
            true => Step::Next,
            false => Step::Stop,
        })
    }

    /// A forward walk of `[start, end)` (end empty: unbounded) that `visit`
    /// steers pair by pair ([`Step`]), on one iterator: no limits, no
    /// copies. A `Seek` to a key at or before the current one is refused
    /// with `InvalidInput`.
    fn walk(&self, start: &[u8], end: &[u8], visit: &mut dyn FnMut(&[u8], &[u8]) -> Step) -> Result<()>;

    /// [`Engine::scan_visit`] in descending key order: the pairs of
    /// `[start, end)` from the last one down, with the same limits.
    fn scan_visit_reverse(
        &self,
        start: &[u8],
        end: &[u8],
        max_rows: usize,
        max_bytes: usize,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()>;

    /// [`Engine::scan`] in descending key order.
    fn scan_reverse(
        &self,
        start: &[u8],
        end: &[u8],
        max_rows: usize,
        max_bytes: usize,
    ) -> Result<Vec<KvPair>> {
        let mut pairs = Vec::new();
        self.scan_visit_reverse(start, end, max_rows, max_bytes, &mut |k, v| {
            pairs.push((k.to_vec(), v.to_vec()));
            true
        })?;
        Ok(pairs)
    }

    /// Apply atomically; with sync=true the batch is durable (WAL fsynced)
    /// when this returns.
    fn write(&self, batch: &WriteBatch, sync: bool) -> Result<()>;

    /// [`write`](Self::write), taking the batch: an engine that hands the
    /// operations on (a replicated one, into its Raft command) moves them
    /// instead of copying each key and value.
    fn write_owned(&self, batch: WriteBatch, sync: bool) -> Result<()> {
        self.write(&batch, sync)
    }

    /// For an engine that serves a replicated keyspace only while it holds
    /// the lease of each range: whether what a layer above keeps in memory
    /// about the data (row locks, recent writes) may be untrue because a
    /// lease was lost (others may have written since). That layer must
    /// start over on a fresh engine. A local engine is never stale.
    fn stale(&self) -> bool {
        false
    }

    /// Counts the times the engine began serving keys it did not serve
    /// before (a node taking a range's lease over): memory of recent
    /// writes older than the last change lacks writes made elsewhere. A
    /// local engine stays at 0.
    fn epoch(&self) -> u64 {
        0
    }
}

/// The size limits of one scan, shared by every engine's scan loop.
struct ScanLimits {
    rows_left: usize,
    bytes_left: usize,
}

impl ScanLimits {
    fn new(max_rows: usize, max_bytes: usize) -> Result<Self> {
        if max_rows == 0 {
            return Err(Error::InvalidInput(
                "scan max_rows must be at least 1".into(),
            ));
        }
        Ok(ScanLimits {
            rows_left: max_rows,
            bytes_left: max_bytes,
        })
    }

    /// Counts one pair; returns whether the scan may take another.
    fn take(&mut self, key: &[u8], value: &[u8]) -> bool {
        self.rows_left -= 1;
        self.bytes_left = self.bytes_left.saturating_sub(key.len() + value.len());
        self.rows_left > 0 && self.bytes_left > 0
    }
}

/// Whether `[start, end)` contains nothing (an empty end is unbounded).
/// The error for a [`Step::Seek`] that does not move forward.
fn backward_seek() -> Error {
    Error::InvalidInput("a walk can only seek forward".into())
}

fn range_is_empty(start: &[u8], end: &[u8]) -> bool {
    !end.is_empty() && start >= end
}
