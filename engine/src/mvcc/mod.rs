//! Multi-version concurrency control and Percolator transactions over any
//! [`Engine`] (DESIGN §4).
//!
//! Every user key holds versions at commit timestamps ([`Timestamp`]s from
//! the [`crate::hlc::Hlc`]); a read at `read_ts` sees the newest version
//! committed at or before `read_ts`, and a tombstone hides the key.
//! Writes follow Percolator as TiKV does it: a transaction buffers its
//! writes, picks one key as *primary*, and commits in two phases.
//!
//! ```text
//!   client (Transaction)           Mvcc (per-key actions in one batch per call)
//!   begin start_ts=10
//!   put a, put b (buffered)
//!   prewrite [a, b] primary=a ──►  lock a, lock b; data a@10, b@10
//!   commit_ts = hlc.now() = 20
//!   commit [a] @20            ──►  a: lock → write@20 (put, start 10)   ← commit point
//!   commit [b] @20            ──►  b: lock → write@20                  (may never come)
//!
//!   a reader at ts 25 meets b's lock → check_txn_status(a, 10, now):
//!       a committed at 20 → resolve b: roll forward (commit b@20)
//!       a rolled back, or its lock expired → resolve b: roll back
//!       a locked and alive → KeyLocked: wait, or give up
//! ```
//!
//! The module is split as TiKV splits it:
//!
//! * [`keys`] — the keyspace: lock, commit-record and data records of a
//!   user key, tagged after its escaped bytes, versions newest first.
//! * [`reader`] — [`MvccReader`] / [`MvccWriter`], typed access to it.
//! * [`actions`] — per-key actions (prewrite, commit, rollback,
//!   check_txn_status, resolve_lock, 1PC, gc): pure functions from what
//!   the reader sees to what the writer stages.
//! * [`Mvcc`] (here) — request-level commands: run an action over a set of
//!   keys, apply the staged batch atomically or nothing at all; and reads.
//! * [`txn`] — [`Transaction`], the client flow: buffer, then 2PC or 1PC.
//!
//! # Invariants
//!
//! * A command applies one [`WriteBatch`](crate::storage::WriteBatch) or
//!   nothing: if any key fails, no key changes. Commands that write run
//!   one at a time (a mutex standing in for the latches a range leader
//!   keeps), so each sees the result of the previous one.
//! * First committer wins (snapshot isolation): prewrite of a transaction
//!   started at `s` fails with `WriteConflict` if any version of the key
//!   was committed at or after `s`, and with `KeyLocked` if another
//!   transaction holds its lock. Hence no dirty writes and no lost updates.
//! * Reads never see uncommitted data: a lock of a transaction started at
//!   or before `read_ts` is reported ([`TxnError::KeyLocked`]) rather than
//!   skipped, because it may commit below `read_ts`. Locks started after
//!   `read_ts` are invisible to the read.
//! * Every action is idempotent, and a rolled-back transaction cannot come
//!   back: rollback leaves a marker that a late prewrite or commit finds.
//! * GC at `safe_ts` keeps, per key, the newest version ≤ `safe_ts` (unless
//!   a tombstone) and everything newer, so every read at `ts ≥ safe_ts`
//!   returns what it returned before.
//!
//! # What a caller must know
//!
//! * `commit_ts` must be greater than every `read_ts` at which any key of
//!   the transaction was already read without seeing its lock. Percolator
//!   gets this from a timestamp oracle; with HLCs, the range must keep a
//!   per-key (or per-range) *max read timestamp* and push `commit_ts`
//!   above it — CockroachDB's timestamp cache, TiKV's `max_ts`. That
//!   bookkeeping belongs to the range leader and is **not** done here.
//! * Lock TTLs are compared with the `now` the caller passes in.
//! * `gc(safe_ts)` also removes rollback markers ≤ `safe_ts`, so `safe_ts`
//!   must stay below the start of every transaction that may still send a
//!   prewrite.
//!
//! # Not done yet
//!
//! Lock-only records for pessimistic locks across ranges (the node keeps
//! row locks in memory, [`locks`]), a timestamp cache making
//! [`Mvcc::refresh`] safe without a commit latch, async commit /
//! parallel commits, uncertainty intervals, collecting every lock of a
//! scan instead of stopping at the first, and a consistent snapshot for
//! multi-call reads (each engine call is atomic, and a read is safe because
//! committed versions at or below `read_ts` never change — given the max
//! read timestamp rule above).

pub mod actions;
pub mod keys;
pub mod locks;
pub mod reader;
pub mod recent;
pub mod scan;
pub mod txn;

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, PoisonError};

pub use keys::{Lock, MvccKey, Write, WriteKind};
pub use reader::{MvccReader, MvccWriter};
pub use txn::Transaction;

use crate::error::{Error, Result, TxnError, TxnResult};
use crate::hlc::Timestamp;
use crate::storage::{Engine, KvPair, WriteBatch};

/// One write of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mutation {
    /// Set the key to the value.
    Put(Vec<u8>, Vec<u8>),
    /// Delete the key (write a tombstone).
    Delete(Vec<u8>),
    /// Delete the key of a row that moved to another table
    /// ([`WriteKind::Moved`]).
    Moved(Vec<u8>),
}

impl Mutation {
    /// The key written.
    pub fn key(&self) -> &[u8] {
        match self {
            Mutation::Put(key, _) | Mutation::Delete(key) | Mutation::Moved(key) => key,
        }
    }

    /// The kind of commit record it becomes.
    pub fn kind(&self) -> WriteKind {
        match self {
            Mutation::Put(..) => WriteKind::Put,
            Mutation::Delete(_) => WriteKind::Delete,
            Mutation::Moved(_) => WriteKind::Moved,
        }
    }
}

/// The newest committed version of a key: what a row lock hands back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Latest {
    pub commit_ts: Timestamp,
    /// `None`: a tombstone.
    pub value: Option<Vec<u8>>,
    /// The tombstone of a row that moved to another table
    /// ([`WriteKind::Moved`]).
    pub moved: bool,
}

/// A lock as reported to a reader or writer that met it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockInfo {
    /// The locked key.
    pub key: Vec<u8>,
    /// The lock holder's primary key.
    pub primary: Vec<u8>,
    /// The lock holder's start timestamp.
    pub start_ts: Timestamp,
    /// The lock's time to live, µs after `start_ts.wall`.
    pub ttl: u64,
}

impl LockInfo {
    /// The report of `lock` on `key`.
    pub fn new(key: &[u8], lock: &Lock) -> LockInfo {
        LockInfo {
            key: key.to_vec(),
            primary: lock.primary.clone(),
            start_ts: lock.start_ts,
            ttl: lock.ttl,
        }
    }
}

/// What a transaction's primary key says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnStatus {
    /// Committed at this timestamp: its other locks roll forward.
    Committed(Timestamp),
    /// Rolled back (perhaps just now, by the check): its locks roll back.
    RolledBack,
    /// Still locked and within its TTL: alive, wait for it.
    Locked(LockInfo),
}

/// MVCC reads and transaction commands over an [`Engine`].
pub struct Mvcc<E: Engine> {
    engine: Arc<E>,
    /// Serialises commands that write (see the invariants above).
    latch: Mutex<()>,
    /// The floor ([`actions::Collected`]) of each key a collection deleted
    /// versions of: the next collection of the key walks down to it only. At most
    /// [`GC_FLOORS_MAX`] keys; forgetting one costs its next collection a
    /// walk over the key's deleted versions, nothing more.
    gc_floors: Mutex<HashMap<Vec<u8>, Timestamp>>,
}

/// Keys whose garbage-collection floor is remembered (about 100 bytes
/// each). Past it the map starts again empty: the hot keys are back in it
/// after their next collection.
const GC_FLOORS_MAX: usize = 1 << 18;

impl<E: Engine> Mvcc<E> {
    /// MVCC over `engine`; every record lives in the engine's `'v'` keyspace.
    pub fn new(engine: Arc<E>) -> Self {
        Mvcc {
            engine,
            latch: Mutex::new(()),
            gc_floors: Mutex::new(HashMap::new()),
        }
    }

    /// The engine underneath.
    pub fn engine(&self) -> &Arc<E> {
        &self.engine
    }

    /// The value of `key` visible at `read_ts`; `KeyLocked` if a lock of a
    /// transaction started at or before `read_ts` is in the way.
    pub fn get(&self, key: &[u8], read_ts: Timestamp) -> TxnResult<Option<Vec<u8>>> {
        MvccReader::new(&*self.engine).get(key, read_ts)
    }

    /// Up to `limit` visible `(key, value)` pairs of user keys in
    /// `[start, end)` (`end` empty: unbounded) at `read_ts`, in key order,
    /// tombstones left out. Stops with `KeyLocked` at the first lock in the
    /// way.
    pub fn scan(
        &self,
        start: &[u8],
        end: &[u8],
        read_ts: Timestamp,
        limit: usize,
    ) -> TxnResult<Vec<KvPair>> {
        let mut pairs = Vec::new();
        scan::scan_visible(&*self.engine, start, end, read_ts, limit.max(1), usize::MAX, &mut |k, v| {
            pairs.push((k.to_vec(), v.to_vec()));
            true
        })?;
        pairs.truncate(limit);
        Ok(pairs)
    }

    /// [`scan`](Self::scan) in descending key order: up to `limit` visible
    /// pairs of `[start, end)` from the last key down.
    pub fn scan_reverse(
        &self,
        start: &[u8],
        end: &[u8],
        read_ts: Timestamp,
        limit: usize,
    ) -> TxnResult<Vec<KvPair>> {
        let mut pairs = Vec::new();
        scan::scan_visible_reverse(&*self.engine, start, end, read_ts, limit.max(1), usize::MAX, &mut |k, v| {
            pairs.push((k.to_vec(), v.to_vec()));
            true
        })?;
        pairs.truncate(limit);
        Ok(pairs)
    }

    /// Read refresh for SERIALIZABLE (CockroachDB's): checks that nothing a
    /// transaction read at `read_ts` in `spans` (`[start, end)` of user
    /// keys, empty end unbounded) changed before its `commit_ts`. Fails with
    /// [`TxnError::ReadConflict`] at the first commit record in a span with
    /// a timestamp in `(read_ts, commit_ts]`, or a lock of another
    /// transaction (not `start_ts`) started at or before `commit_ts`, which
    /// might commit in that window.
    ///
    /// A refresh that passes proves the reads as valid at `commit_ts` as at
    /// `read_ts` only if no other commit lands in the spans between the
    /// refresh and the commit: the caller makes the two atomic (the node's
    /// commit latch) or keeps later writers above `commit_ts` (a timestamp
    /// cache). Versions newer than the oldest live snapshot are never
    /// garbage-collected, so the walk sees every commit it must.
    pub fn refresh(
        &self,
        spans: &[(Vec<u8>, Vec<u8>)],
        start_ts: Timestamp,
        read_ts: Timestamp,
        commit_ts: Timestamp,
    ) -> TxnResult<()> {
        for (start, end) in spans {
            let (raw_start, raw_end) = keys::user_range(start, end);
            let mut conflict: Option<TxnResult<(Vec<u8>, Timestamp)>> = None;
            self.engine.scan_visit(&raw_start, &raw_end, usize::MAX, usize::MAX, &mut |raw, value| {
                let found = match keys::peek_record(raw) {
                    Err(e) => Err(e.into()),
                    Ok((_, keys::RecordKind::Data(_))) => return true,
                    Ok((prefix, keys::RecordKind::Lock)) => match Lock::decode(value) {
                        Err(e) => Err(e.into()),
                        Ok(lock) if lock.start_ts != start_ts && lock.start_ts <= commit_ts => {
                            Ok((prefix.to_vec(), lock.start_ts))
                        }
                        Ok(_) => return true,
                    },
                    Ok((prefix, keys::RecordKind::Write(ts))) if ts > read_ts && ts <= commit_ts => {
                        match Write::decode_record(value) {
                            Err(e) => Err(e.into()),
                            Ok((write, _)) if write.kind == WriteKind::Rollback => return true,
                            Ok(_) => Ok((prefix.to_vec(), ts)),
                        }
                    }
                    Ok(_) => return true,
                };
                conflict = Some(found);
                false
            })?;
            if let Some(found) = conflict {
                let (prefix, conflict_commit_ts) = found?;
                let mut key = Vec::new();
                keys::unescape_prefix(&prefix, &mut key);
                return Err(TxnError::ReadConflict { key, read_ts, conflict_commit_ts });
            }
        }
        Ok(())
    }

    /// The newest committed version of `key` at any timestamp. What a row
    /// lock hands back.
    pub fn latest(&self, key: &[u8]) -> TxnResult<Option<Latest>> {
        Ok(MvccReader::new(&*self.engine).version_at(key, Timestamp::MAX)?)
    }

    /// Like [`get`](Self::get), but a lock in the way is resolved through
    /// its primary (at time `now`) and the read retried. Returns `KeyLocked`
    /// only for a lock whose transaction is alive.
    pub fn get_resolving(
        &self,
        key: &[u8],
        read_ts: Timestamp,
        now: Timestamp,
    ) -> TxnResult<Option<Vec<u8>>> {
        loop {
            match self.get(key, read_ts) {
                Err(TxnError::KeyLocked(lock)) => {
                    if let TxnStatus::Locked(_) = self.resolve_lock(&lock, now)? {
                        return Err(TxnError::KeyLocked(lock));
                    }
                }
                result => return result,
            }
        }
    }

    /// Prewrites every mutation for the transaction started at `start_ts`,
    /// with `primary` as its primary key. All or nothing.
    pub fn prewrite(
        &self,
        mutations: &[Mutation],
        primary: &[u8],
        start_ts: Timestamp,
        ttl: u64,
    ) -> TxnResult<()> {
        check_distinct(mutations.iter().map(Mutation::key))?;
        self.apply(|reader, writer| {
            mutations
                .iter()
                .try_for_each(|m| actions::prewrite(reader, writer, m, primary, start_ts, ttl))
        })
    }

    /// Commits the transaction started at `start_ts` on `keys` at
    /// `commit_ts`. Committing the primary is the transaction's commit point.
    pub fn commit(
        &self,
        keys: &[Vec<u8>],
        start_ts: Timestamp,
        commit_ts: Timestamp,
    ) -> TxnResult<()> {
        self.apply(|reader, writer| {
            keys.iter()
                .try_for_each(|key| actions::commit(reader, writer, key, start_ts, commit_ts))
        })
    }

    /// Rolls the transaction started at `start_ts` back on `keys`.
    pub fn rollback(&self, keys: &[Vec<u8>], start_ts: Timestamp) -> TxnResult<()> {
        self.apply(|reader, writer| {
            keys.iter()
                .try_for_each(|key| actions::rollback(reader, writer, key, start_ts))
        })
    }

    /// Writes every mutation at `commit_ts` in one batch, with no locks: the
    /// 1PC fast path. All or nothing, with prewrite's conflict checks.
    pub fn one_phase_commit(
        &self,
        mutations: &[Mutation],
        start_ts: Timestamp,
        commit_ts: Timestamp,
    ) -> TxnResult<()> {
        check_distinct(mutations.iter().map(Mutation::key))?;
        self.apply(|reader, writer| {
            mutations
                .iter()
                .try_for_each(|m| actions::one_phase_write(reader, writer, m, start_ts, commit_ts))
        })
    }

    /// Writes every mutation at `commit_ts` in one batch, no locks, each key
    /// checked only against the timestamp its transaction last saw it at
    /// (see [`actions::one_phase_write_checked`]). `raw` operations
    /// outside the MVCC keyspace (catalog entries, a dropped table's range)
    /// go first in the same atomic batch. All or nothing.
    pub fn one_phase_commit_checked(
        &self,
        raw: WriteBatch,
        mutations: &[(Mutation, Option<Timestamp>)],
        start_ts: Timestamp,
        commit_ts: Timestamp,
    ) -> TxnResult<()> {
        let mut group = self.commit_group();
        group.add(raw, mutations, start_ts, commit_ts)?;
        Ok(group.write()?)
    }

    /// A group commit: several transactions' checked one-phase commits
    /// (see [`CommitGroup::add`]) written as one batch with one sync.
    pub fn commit_group(&self) -> CommitGroup<'_, E> {
        CommitGroup {
            mvcc: self,
            _latch: self.latch.lock().unwrap_or_else(PoisonError::into_inner),
            batch: WriteBatch::new(),
            key_hashes: HashSet::new(),
            hasher: RandomState::new(),
        }
    }

    /// The status of the transaction started at `start_ts`, read from its
    /// `primary` at time `now`; rolls it back if its lock expired or never
    /// arrived.
    pub fn check_txn_status(
        &self,
        primary: &[u8],
        start_ts: Timestamp,
        now: Timestamp,
    ) -> TxnResult<TxnStatus> {
        self.apply(|reader, writer| {
            actions::check_txn_status(reader, writer, primary, start_ts, now)
        })
    }

    /// Resolves a lock met by a reader or writer: checks its primary's
    /// status at time `now`, then rolls the lock forward or back. A lock of
    /// a live transaction is left alone and its status returned.
    pub fn resolve_lock(&self, lock: &LockInfo, now: Timestamp) -> TxnResult<TxnStatus> {
        let status = self.check_txn_status(&lock.primary, lock.start_ts, now)?;
        if lock.key != lock.primary && !matches!(status, TxnStatus::Locked(_)) {
            self.apply(|reader, writer| {
                actions::resolve_lock(reader, writer, &lock.key, lock.start_ts, &status)
            })?;
        }
        Ok(status)
    }

    /// Garbage-collects every key's versions below `safe_ts` (see
    /// [`actions::gc`]); returns how many commit records were removed.
    pub fn gc(&self, safe_ts: Timestamp) -> TxnResult<usize> {
        let (mut cursor, raw_end) = keys::user_range(b"", b"");
        let mut removed = 0;
        loop {
            let reader = MvccReader::new(&*self.engine);
            let Some(key) = reader.next_user_key(&cursor, &raw_end)? else {
                return Ok(removed);
            };
            self.apply(|reader, writer| {
                removed += actions::gc(reader, writer, &key, safe_ts, None)?.removed;
                Ok(())
            })?;
            cursor = keys::key_records(&key).1;
        }
    }

    /// Garbage-collects the versions of `keys` below `safe_ts` (see
    /// [`actions::gc`]) in one batch; returns the keys that still hold more
    /// than what a read at `safe_ts` needs (versions newer than `safe_ts`),
    /// to be collected again later.
    pub fn gc_keys(&self, keys: &[Vec<u8>], safe_ts: Timestamp) -> TxnResult<Vec<Vec<u8>>> {
        let floors: Vec<Option<Timestamp>> = {
            let known = self.gc_floors.lock().unwrap_or_else(PoisonError::into_inner);
            keys.iter().map(|key| known.get(key).copied()).collect()
        };
        // Not synced: a collection lost in a crash is redone (or its
        // versions stay, harmlessly); it must not cost commits an fsync.
        let (again, collected) = self.apply_after_synced(WriteBatch::new(), false, |reader, writer| {
            let mut again = Vec::new();
            let mut collected = Vec::with_capacity(keys.len());
            for (key, floor) in keys.iter().zip(floors) {
                collected.push(actions::gc(reader, writer, key, safe_ts, floor)?);
                if reader.newest_version(key, Timestamp::MAX)?.is_some_and(|(ts, _)| ts > safe_ts) {
                    again.push(key.clone());
                }
            }
            Ok((again, collected))
        })?;
        // Only once the deletes are applied: the floors say they are. A key
        // that lost nothing (a new row's only version) has nothing deleted
        // to walk over: its floor would only take room.
        let mut known = self.gc_floors.lock().unwrap_or_else(PoisonError::into_inner);
        for (key, collected) in keys.iter().zip(collected) {
            let Some(floor) = collected.floor else { continue };
            if let Some(known_floor) = known.get_mut(key) {
                *known_floor = floor;
            } else if collected.removed > 0 {
                if known.len() >= GC_FLOORS_MAX {
                    known.clear();
                }
                known.insert(key.clone(), floor);
            }
        }
        Ok(again)
    }

    /// Runs `action` under the latch and applies what it staged, if it
    /// succeeded and staged anything.
    fn apply<T>(
        &self,
        action: impl FnOnce(&MvccReader<E>, &mut MvccWriter) -> TxnResult<T>,
    ) -> TxnResult<T> {
        self.apply_after(WriteBatch::new(), action)
    }

    /// [`apply`](Self::apply), with `raw` operations ahead of the staged ones.
    fn apply_after<T>(
        &self,
        raw: WriteBatch,
        action: impl FnOnce(&MvccReader<E>, &mut MvccWriter) -> TxnResult<T>,
    ) -> TxnResult<T> {
        self.apply_after_synced(raw, true, action)
    }

    /// [`apply_after`](Self::apply_after), the write synced or not.
    fn apply_after_synced<T>(
        &self,
        raw: WriteBatch,
        sync: bool,
        action: impl FnOnce(&MvccReader<E>, &mut MvccWriter) -> TxnResult<T>,
    ) -> TxnResult<T> {
        let _latch = self.latch.lock().unwrap_or_else(PoisonError::into_inner);
        let reader = MvccReader::new(&*self.engine);
        let mut writer = MvccWriter::from_batch(raw);
        let result = action(&reader, &mut writer)?;
        if !writer.is_empty() {
            self.engine.write(&writer.into_batch(), sync)?;
        }
        Ok(result)
    }
}

/// Transactions committed together: each is checked as
/// [`Mvcc::one_phase_commit_checked`] checks one, and its writes join the
/// group's batch; [`CommitGroup::write`] applies them all atomically with
/// one sync — the fsync a busy node would otherwise pay per commit.
///
/// Checks read only the engine, not the batch, so a member must not write
/// a key an earlier member writes: [`CommitGroup::overlaps`] says when one
/// would, and it then belongs in the next group. The group holds the MVCC
/// latch until it is written.
pub struct CommitGroup<'a, E: Engine> {
    mvcc: &'a Mvcc<E>,
    _latch: std::sync::MutexGuard<'a, ()>,
    batch: WriteBatch,
    /// The hashes of the keys the members write (not copies of the keys:
    /// a COPY's commit writes hundreds of thousands).
    key_hashes: HashSet<u64>,
    hasher: RandomState,
}

impl<E: Engine> CommitGroup<'_, E> {
    /// Whether a member writing `mutations` would write a key that an
    /// earlier member writes. Judged by the keys' hashes: two keys that
    /// collide only send the member to the next group.
    pub fn overlaps(&self, mutations: &[(Mutation, Option<Timestamp>)]) -> bool {
        !self.key_hashes.is_empty() && mutations.iter().any(|(m, _)| self.key_hashes.contains(&self.hasher.hash_one(m.key())))
    }

    /// Adds one transaction: `raw` operations, then every mutation at
    /// `commit_ts`, each checked against the timestamp its transaction
    /// last saw it at. On failure nothing of it joins the group.
    pub fn add(
        &mut self,
        raw: WriteBatch,
        mutations: &[(Mutation, Option<Timestamp>)],
        start_ts: Timestamp,
        commit_ts: Timestamp,
    ) -> TxnResult<()> {
        check_distinct(mutations.iter().map(|(m, _)| m.key()))?;
        let reader = MvccReader::new(&*self.mvcc.engine);
        let mut writer = MvccWriter::from_batch(raw);
        mutations.iter().try_for_each(|(m, seen)| {
            actions::one_phase_write_checked(&reader, &mut writer, m, *seen, start_ts, commit_ts)
        })?;
        self.batch.append(writer.into_batch());
        self.key_hashes.extend(mutations.iter().map(|(m, _)| self.hasher.hash_one(m.key())));
        Ok(())
    }

    /// Applies every member's writes, atomically, with one sync.
    pub fn write(self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        self.mvcc.engine.write_owned(self.batch, true)
    }
}

/// Refuses a request naming a key twice: actions read only the engine, so
/// the second would not see what the first staged. Keys in ascending order
/// (as a backend's write buffer sends them) are distinct without a set.
fn check_distinct<'a>(keys: impl Iterator<Item = &'a [u8]> + Clone) -> Result<()> {
    if keys.clone().is_sorted_by(|a, b| a < b) {
        return Ok(());
    }
    let mut seen = std::collections::BTreeSet::new();
    for key in keys {
        if !seen.insert(key) {
            return Err(Error::InvalidInput(format!(
                "key {} given twice",
                key.escape_ascii()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_distinct;

    fn distinct(keys: &[&str]) -> bool {
        check_distinct(keys.iter().map(|k| k.as_bytes())).is_ok()
    }

    #[test]
    fn a_key_named_twice_is_refused_in_any_order() {
        assert!(distinct(&[]));
        assert!(distinct(&["a", "b", "c"]));
        assert!(distinct(&["c", "a", "b"]));
        assert!(!distinct(&["a", "b", "b", "c"]));
        assert!(!distinct(&["b", "a", "b"]));
        assert!(!distinct(&["a", "a"]));
    }
}
