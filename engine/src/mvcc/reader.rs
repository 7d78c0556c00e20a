//! [`MvccReader`] and [`MvccWriter`]: the typed view of the MVCC keyspace
//! that transaction actions read from and write to.
//!
//! The reader answers the questions every action asks — is there a lock,
//! what is the newest commit record at or below a timestamp, did the
//! transaction started at `start_ts` leave a record on this key — straight
//! from the [`Engine`]. The writer only collects typed operations into a
//! [`WriteBatch`]; nothing touches the engine until a command applies the
//! batch, so an action that fails leaves no trace.
//!
//! Commit records are walked with `Engine::scan_visit`, which stops where
//! the walker decides: a read never steps into the older versions behind
//! the one it wants (see [`MvccReader::walk_write_records`]).

use std::ops::ControlFlow;

use super::keys::{key_records, writes_from, Lock, MvccKey, Write, WriteKind};
use crate::error::{Error, Result, TxnError, TxnResult};
use crate::hlc::Timestamp;
use crate::mvcc::LockInfo;
use crate::storage::{Engine, WriteBatch};

/// Typed reads of the MVCC keyspace.
pub struct MvccReader<'a, E: Engine> {
    engine: &'a E,
}

impl<'a, E: Engine> MvccReader<'a, E> {
    /// A reader over `engine`.
    pub fn new(engine: &'a E) -> Self {
        MvccReader { engine }
    }

    /// The lock on `key`, if any.
    pub fn load_lock(&self, key: &[u8]) -> Result<Option<Lock>> {
        let raw = MvccKey::Lock { key: key.to_vec() }.encode();
        self.engine
            .get(&raw)?
            .map(|bytes| Lock::decode(&bytes))
            .transpose()
    }

    /// The value written by the transaction started at `start_ts`.
    pub fn load_data(&self, key: &[u8], start_ts: Timestamp) -> Result<Vec<u8>> {
        let raw = MvccKey::Data {
            key: key.to_vec(),
            start_ts,
        }
        .encode();
        self.engine.get(&raw)?.ok_or_else(|| {
            Error::Corrupt(format!(
                "commit record of key {} at start {start_ts} has no data",
                key.escape_ascii()
            ))
        })
    }

    /// Calls `visit(commit_ts, write)` on the commit records of `key` with
    /// commit_ts ≤ `newest`, newest first, until it returns `Break`.
    pub fn walk_writes<T>(
        &self,
        key: &[u8],
        newest: Timestamp,
        mut visit: impl FnMut(Timestamp, Write) -> ControlFlow<T>,
    ) -> Result<Option<T>> {
        self.walk_write_records(key, newest, |commit_ts, write, _| visit(commit_ts, write))
    }

    /// [`walk_writes`](Self::walk_writes), also handing over the inline
    /// value of a Put committed in one phase.
    pub fn walk_write_records<T>(
        &self,
        key: &[u8],
        newest: Timestamp,
        mut visit: impl FnMut(Timestamp, Write, Option<&[u8]>) -> ControlFlow<T>,
    ) -> Result<Option<T>> {
        let (start, end) = writes_from(key, newest);
        // Visited lazily and left at the first record that decides: the
        // engine must not step past it, into older versions that garbage
        // collection deleted but that RocksDB's memtable still holds (an
        // iterator skips those one by one, and a hot row has thousands).
        let mut outcome: Result<Option<T>> = Ok(None);
        self.engine.scan_visit(&start, &end, usize::MAX, usize::MAX, &mut |raw, value| {
            let decoded = match MvccKey::decode(raw) {
                Ok(MvccKey::Write { commit_ts, .. }) => Write::decode_record(value).map(|(w, inline)| (commit_ts, w, inline)),
                Ok(_) => Err(Error::Corrupt("non-write record among writes".into())),
                Err(e) => Err(e),
            };
            match decoded {
                Ok((commit_ts, write, inline)) => match visit(commit_ts, write, inline) {
                    ControlFlow::Continue(()) => true,
                    ControlFlow::Break(found) => {
                        outcome = Ok(Some(found));
                        false
                    }
                },
                Err(e) => {
                    outcome = Err(e);
                    false
                }
            }
        })?;
        outcome
    }

    /// The newest Put or Delete of `key` committed at or before `ts`, with
    /// its value: `(commit_ts, Some(value))` for a Put, `(commit_ts, None)`
    /// for a tombstone.
    pub fn version_at(&self, key: &[u8], ts: Timestamp) -> Result<Option<(Timestamp, Option<Vec<u8>>)>> {
        let found = self.walk_write_records(key, ts, |commit_ts, write, inline| match write.kind {
            WriteKind::Rollback => ControlFlow::Continue(()),
            WriteKind::Delete => ControlFlow::Break((commit_ts, None, write.start_ts)),
            WriteKind::Put => ControlFlow::Break((commit_ts, Some(inline.map(<[u8]>::to_vec)), write.start_ts)),
        })?;
        Ok(match found {
            None => None,
            Some((commit_ts, None, _)) => Some((commit_ts, None)),
            Some((commit_ts, Some(Some(value)), _)) => Some((commit_ts, Some(value))),
            Some((commit_ts, Some(None), start_ts)) => Some((commit_ts, Some(self.load_data(key, start_ts)?))),
        })
    }

    /// The newest Put or Delete of `key` committed at or before `ts`
    /// (rollback markers skipped), as `(commit_ts, write)`.
    pub fn newest_version(&self, key: &[u8], ts: Timestamp) -> Result<Option<(Timestamp, Write)>> {
        self.walk_writes(key, ts, |commit_ts, write| match write.kind {
            WriteKind::Rollback => ControlFlow::Continue(()),
            _ => ControlFlow::Break((commit_ts, write)),
        })
    }

    /// The record the transaction started at `start_ts` left on `key` (its
    /// commit record or rollback marker), as `(commit_ts, write)`.
    pub fn txn_record(
        &self,
        key: &[u8],
        start_ts: Timestamp,
    ) -> Result<Option<(Timestamp, Write)>> {
        self.walk_writes(key, Timestamp::MAX, |commit_ts, write| {
            if write.start_ts == start_ts {
                ControlFlow::Break(Some((commit_ts, write)))
            } else if commit_ts < start_ts {
                // Commit records are newer than their start: none older can be ours.
                ControlFlow::Break(None)
            } else {
                ControlFlow::Continue(())
            }
        })
        .map(Option::flatten)
    }

    /// The value of `key` visible at `read_ts`: the newest committed version
    /// ≤ `read_ts`, `None` if that is a tombstone or there is none. A lock
    /// of a transaction started at or before `read_ts` might hide a version
    /// the read must see, so it is reported as [`TxnError::KeyLocked`].
    pub fn get(&self, key: &[u8], read_ts: Timestamp) -> TxnResult<Option<Vec<u8>>> {
        if let Some(lock) = self.load_lock(key)? {
            if lock.start_ts <= read_ts {
                return Err(TxnError::KeyLocked(LockInfo::new(key, &lock)));
            }
        }
        Ok(self.version_at(key, read_ts)?.and_then(|(_, value)| value))
    }

    /// The first user key with any record in the raw range `[from, end)`.
    pub fn next_user_key(&self, from: &[u8], end: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.engine.scan(from, end, 1, usize::MAX)?.first() {
            Some((raw, _)) => Ok(Some(MvccKey::decode(raw)?.user_key().to_vec())),
            None => Ok(None),
        }
    }

    /// Every record of `key`, raw, in key order.
    pub fn records(&self, key: &[u8]) -> Result<Vec<(MvccKey, Vec<u8>)>> {
        let (start, end) = key_records(key);
        let pairs = self.engine.scan(&start, &end, usize::MAX, usize::MAX)?;
        pairs
            .into_iter()
            .map(|(raw, value)| Ok((MvccKey::decode(&raw)?, value)))
            .collect()
    }
}

/// Typed writes to the MVCC keyspace, collected into a [`WriteBatch`].
#[derive(Debug, Default)]
pub struct MvccWriter {
    batch: WriteBatch,
}

impl MvccWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// A writer whose batch starts with `batch`'s operations.
    pub fn from_batch(batch: WriteBatch) -> Self {
        MvccWriter { batch }
    }

    /// The collected operations.
    pub fn into_batch(self) -> WriteBatch {
        self.batch
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    pub fn put_lock(&mut self, key: &[u8], lock: &Lock) {
        self.batch
            .put(MvccKey::Lock { key: key.to_vec() }.encode(), lock.encode());
    }

    pub fn delete_lock(&mut self, key: &[u8]) {
        self.batch
            .delete(MvccKey::Lock { key: key.to_vec() }.encode());
    }

    pub fn put_data(&mut self, key: &[u8], start_ts: Timestamp, value: &[u8]) {
        let raw = MvccKey::Data {
            key: key.to_vec(),
            start_ts,
        };
        self.batch.put(raw.encode(), value);
    }

    pub fn delete_data(&mut self, key: &[u8], start_ts: Timestamp) {
        let raw = MvccKey::Data {
            key: key.to_vec(),
            start_ts,
        };
        self.batch.delete(raw.encode());
    }

    /// A one-phase Put: the commit record carries the value.
    pub fn put_inline_write(&mut self, key: &[u8], commit_ts: Timestamp, start_ts: Timestamp, value: &[u8]) {
        let raw = MvccKey::Write {
            key: key.to_vec(),
            commit_ts,
        };
        self.batch.put(raw.encode(), Write::encode_inline_put(start_ts, value));
    }

    pub fn put_write(&mut self, key: &[u8], commit_ts: Timestamp, write: Write) {
        let raw = MvccKey::Write {
            key: key.to_vec(),
            commit_ts,
        };
        self.batch.put(raw.encode(), write.encode());
    }

    pub fn delete_write(&mut self, key: &[u8], commit_ts: Timestamp) {
        let raw = MvccKey::Write {
            key: key.to_vec(),
            commit_ts,
        };
        self.batch.delete(raw.encode());
    }

    /// Deletes the commit record of `key` at `commit_ts` and every older
    /// one, as one range: a hot row's collected versions then cost a
    /// reader one skip, not one per version.
    pub fn delete_writes_from(&mut self, key: &[u8], commit_ts: Timestamp) {
        let from = MvccKey::Write {
            key: key.to_vec(),
            commit_ts,
        };
        let (_, end) = super::keys::key_records(key);
        self.batch.push(crate::storage::WriteOp::DeleteRange { start: from.encode(), end });
    }
}
