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

use super::keys::{commit_ts_of, key_records, lock_record, writes_between, writes_from, Lock, MvccKey, Write, WriteKind};
use crate::error::{Error, Result, TxnError, TxnResult};
use crate::hlc::Timestamp;
use crate::mvcc::{Latest, LockInfo};
use crate::storage::{Engine, Step, WriteBatch};

/// A raw commit record of the key whose records start at `records`:
/// `(commit_ts, write, inline value)`.
fn commit_record<'v>(records: &[u8], raw: &[u8], value: &'v [u8]) -> Result<(Timestamp, Write, Option<&'v [u8]>)> {
    let commit_ts = commit_ts_of(records, raw)?;
    let (write, inline) = Write::decode_record(value)?;
    Ok((commit_ts, write, inline))
}

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
        visit: impl FnMut(Timestamp, Write, Option<&[u8]>) -> ControlFlow<T>,
    ) -> Result<Option<T>> {
        self.walk_write_records_down_to(key, newest, None, visit)
    }

    /// [`walk_write_records`](Self::walk_write_records) over the records
    /// committed at or after `oldest` only (all of them: `None`). The
    /// engine never looks below `oldest`'s record, where a collected key's
    /// deleted versions lie.
    pub fn walk_write_records_down_to<T>(
        &self,
        key: &[u8],
        newest: Timestamp,
        oldest: Option<Timestamp>,
        mut visit: impl FnMut(Timestamp, Write, Option<&[u8]>) -> ControlFlow<T>,
    ) -> Result<Option<T>> {
        let records = key_records(key).0;
        let (start, end) = match oldest {
            Some(oldest) => writes_between(&records, newest, oldest),
            None => writes_from(&records, newest),
        };
        // Visited lazily and left at the first record that decides: the
        // engine must not step past it, into older versions that garbage
        // collection deleted but that RocksDB's memtable still holds (an
        // iterator skips those one by one).
        let mut outcome: Result<Option<T>> = Ok(None);
        self.engine.walk(&start, &end, &mut |raw, value| {
            match commit_record(&records, raw, value).map(|(commit_ts, write, inline)| visit(commit_ts, write, inline)) {
                Ok(ControlFlow::Continue(())) => Step::Next,
                Ok(ControlFlow::Break(found)) => {
                    outcome = Ok(Some(found));
                    Step::Stop
                }
                Err(e) => {
                    outcome = Err(e);
                    Step::Stop
                }
            }
        })?;
        outcome
    }

    /// The newest version of `key` committed at or before `ts` (rollback
    /// markers skipped), with its value (`None`: a tombstone).
    pub fn version_at(&self, key: &[u8], ts: Timestamp) -> Result<Option<Latest>> {
        let found = self.walk_write_records(key, ts, |commit_ts, write, inline| match write.kind {
            WriteKind::Rollback => ControlFlow::Continue(()),
            _ => ControlFlow::Break((commit_ts, write, inline.map(<[u8]>::to_vec))),
        })?;
        let Some(version) = found else { return Ok(None) };
        let moved = version.1.kind == WriteKind::Moved;
        let (commit_ts, value) = self.with_value(key, version)?;
        Ok(Some(Latest { commit_ts, value, moved }))
    }

    /// A version found by a walk — `(commit_ts, write, inline value)` of a
    /// Put or Delete — as `(commit_ts, value)`: `None` for a Delete, a
    /// two-phase Put's value read from its data record.
    fn with_value(&self, key: &[u8], (commit_ts, write, inline): (Timestamp, Write, Option<Vec<u8>>)) -> Result<(Timestamp, Option<Vec<u8>>)> {
        Ok(match (write.kind, inline) {
            (WriteKind::Delete | WriteKind::Moved, _) => (commit_ts, None),
            (_, Some(value)) => (commit_ts, Some(value)),
            (_, None) => (commit_ts, Some(self.load_data(key, write.start_ts)?)),
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

    /// [`load_lock`](Self::load_lock) and [`newest_version`](Self::newest_version)
    /// at any timestamp, in one walk: the lock record sorts just before
    /// the commit records. What a commit checks for each row it writes.
    pub fn lock_and_newest(&self, key: &[u8]) -> Result<(Option<Lock>, Option<(Timestamp, Write)>)> {
        let records = key_records(key).0;
        let lock_key = lock_record(&records);
        let end = writes_from(&records, Timestamp::MAX).1;
        let mut lock = None;
        let mut newest = None;
        let mut failed = None;
        self.engine.walk(&lock_key, &end, &mut |raw, value| {
            let decoded = if raw == lock_key.as_slice() {
                Lock::decode(value).map(|found| lock = Some(found))
            } else {
                commit_record(&records, raw, value).map(|(commit_ts, write, _)| {
                    if write.kind != WriteKind::Rollback {
                        newest = Some((commit_ts, write));
                    }
                })
            };
            match decoded {
                Err(e) => {
                    failed = Some(e);
                    Step::Stop
                }
                Ok(()) if newest.is_some() => Step::Stop,
                Ok(()) => Step::Next,
            }
        })?;
        match failed {
            Some(e) => Err(e),
            None => Ok((lock, newest)),
        }
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
    ///
    /// One walk of the engine: a key's lock record sorts just before its
    /// commit records, so the walk starts at the lock and, past it (or past
    /// commit records newer than `read_ts`), seeks to the first commit
    /// record at or below `read_ts` — one iterator and usually one seek,
    /// where a lock lookup and a walk cost two of each.
    pub fn get(&self, key: &[u8], read_ts: Timestamp) -> TxnResult<Option<Vec<u8>>> {
        let records = key_records(key).0;
        let lock_key = lock_record(&records);
        let (below_read_ts, end) = writes_from(&records, read_ts);
        let mut outcome: TxnResult<Option<(Timestamp, Write, Option<Vec<u8>>)>> = Ok(None);
        let mut sought = false;
        self.engine.walk(&lock_key, &end, &mut |raw, value| {
            let seek = |sought: &mut bool| {
                *sought = true;
                Step::Seek(below_read_ts.clone())
            };
            if raw == lock_key.as_slice() {
                return match Lock::decode(value) {
                    Ok(lock) if lock.start_ts <= read_ts => {
                        outcome = Err(TxnError::KeyLocked(LockInfo::new(key, &lock)));
                        Step::Stop
                    }
                    Ok(_) => seek(&mut sought),
                    Err(e) => {
                        outcome = Err(e.into());
                        Step::Stop
                    }
                };
            }
            match commit_record(&records, raw, value) {
                Ok((commit_ts, _, _)) if commit_ts > read_ts && !sought => seek(&mut sought),
                Ok((_, write, _)) if write.kind == WriteKind::Rollback => Step::Next,
                Ok((commit_ts, write, inline)) => {
                    outcome = Ok(Some((commit_ts, write, inline.map(<[u8]>::to_vec))));
                    Step::Stop
                }
                Err(e) => {
                    outcome = Err(e.into());
                    Step::Stop
                }
            }
        })?;
        Ok(match outcome? {
            Some(version) => self.with_value(key, version)?.1,
            None => None,
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::TxnError;
    use crate::storage::Memory;

    fn ts(wall: u64) -> Timestamp {
        Timestamp::from_wall(wall)
    }

    /// `get` walks a key's lock and commit records once; it must answer
    /// exactly as a lock lookup followed by `version_at` does, over keys
    /// with locks older and newer than the read, rollback markers, deletes,
    /// two-phase and inline versions, and versions newer than the read.
    #[test]
    fn one_walk_reads_answer_as_lock_lookups_then_version_walks() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |below: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % below
        };
        for case in 0..400 {
            let engine = Memory::new();
            let mut writer = MvccWriter::new();
            // Keys sharing prefixes and holding a zero byte, so the walk of
            // one must never read its neighbours' records.
            let keys: [&[u8]; 3] = [b"k", b"k\0", b"ka"];
            for key in keys {
                let mut wall = 1;
                for _ in 0..next(6) {
                    let start = wall;
                    wall += 1 + next(3);
                    match next(4) {
                        0 => writer.put_inline_write(key, ts(wall), ts(start), format!("{case}-{wall}").as_bytes()),
                        1 => {
                            writer.put_data(key, ts(start), format!("2pc-{wall}").as_bytes());
                            writer.put_write(key, ts(wall), Write { kind: WriteKind::Put, start_ts: ts(start) });
                        }
                        2 => writer.put_write(key, ts(wall), Write { kind: WriteKind::Delete, start_ts: ts(start) }),
                        _ => writer.put_write(key, ts(start), Write { kind: WriteKind::Rollback, start_ts: ts(start) }),
                    }
                    wall += 1;
                }
                if next(3) == 0 {
                    let lock = Lock { kind: WriteKind::Put, start_ts: ts(1 + next(wall + 2)), primary: key.to_vec(), ttl: 0 };
                    writer.put_lock(key, &lock);
                }
            }
            engine.write(&writer.into_batch(), false).expect("write");
            let reader = MvccReader::new(&engine);
            for key in keys {
                for read in 0..24 {
                    let read_ts = ts(read);
                    let expected = match reader.load_lock(key).expect("lock") {
                        Some(lock) if lock.start_ts <= read_ts => Err(lock.start_ts),
                        _ => Ok(reader.version_at(key, read_ts).expect("version").and_then(|version| version.value)),
                    };
                    let got = match reader.get(key, read_ts) {
                        Err(TxnError::KeyLocked(info)) => Err(info.start_ts),
                        Err(e) => panic!("case {case}: {e}"),
                        Ok(value) => Ok(value),
                    };
                    assert_eq!(got, expected, "case {case}, key {}, read at {read}", key.escape_ascii());
                }
                let apart = (reader.load_lock(key).expect("lock"), reader.newest_version(key, Timestamp::MAX).expect("newest"));
                assert_eq!(reader.lock_and_newest(key).expect("one walk"), apart, "case {case}, key {}", key.escape_ascii());
            }
        }
    }
}
