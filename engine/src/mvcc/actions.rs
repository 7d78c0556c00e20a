//! Per-key transaction actions (TiKV's `actions/`): pure functions that read
//! one key's records through an [`MvccReader`] and say what to change in an
//! [`MvccWriter`]. They never write to the engine themselves, take every
//! input (timestamps, TTLs, "now") as an argument, and are idempotent:
//! running an action again after it succeeded changes nothing and
//! succeeds again (or fails the same way).
//!
//! ```text
//!   action            lock of this txn     own commit rec.   own rollback   nothing
//!   ───────────────   ──────────────────   ───────────────   ────────────   ──────────────
//!   prewrite          ok (no-op)           ok (no-op)        TxnRolledBack  lock + data¹
//!   commit            → commit record      ok (no-op)        TxnRolledBack  TxnNotFound
//!   rollback          → rollback marker    TxnCommitted      ok (no-op)     rollback marker
//!   check_txn_status  Locked / expired →   Committed         RolledBack     rollback marker,
//!                     rollback, RolledBack                                  RolledBack
//!
//!   ¹ unless another txn's lock is there (KeyLocked) or a version was
//!     committed at or after start_ts (WriteConflict).
//! ```
//!
//! Rollback markers are commit records of kind `Rollback` stored at
//! `commit_ts = start_ts`. They exist so that a prewrite arriving after its
//! transaction was rolled back (a slow coordinator whose lock a reader
//! already cleaned up) fails instead of resurrecting the transaction. If
//! another transaction already committed at exactly that timestamp, the
//! marker is not written: that commit record is ≥ start_ts, so the late
//! prewrite fails with `WriteConflict` anyway. The other way round, a
//! commit at `T` overwrites a rollback marker at `T`, with the same effect;
//! `check_txn_status` of the rolled-back transaction still reports
//! `RolledBack`, because the record at `T` is not its own.

use std::ops::ControlFlow;

use super::keys::{Lock, Write, WriteKind};
use super::reader::{MvccReader, MvccWriter};
use super::{LockInfo, Mutation, TxnStatus};
use crate::error::{Error, Result, TxnError, TxnResult};
use crate::hlc::Timestamp;
use crate::storage::Engine;

/// What prewrite found on a key before writing.
enum Existing {
    /// Nothing of this transaction: go ahead and write.
    Nothing,
    /// This transaction's own lock: a retried prewrite.
    OwnLock,
    /// This transaction's own commit record: a retry after commit.
    OwnCommit,
}

/// The checks prewrite and 1PC share: another transaction's lock, a newer
/// committed version, or this transaction's own earlier outcome.
fn check_for_write<E: Engine>(
    reader: &MvccReader<E>,
    key: &[u8],
    start_ts: Timestamp,
) -> TxnResult<Existing> {
    if let Some(lock) = reader.load_lock(key)? {
        if lock.start_ts == start_ts {
            return Ok(Existing::OwnLock);
        }
        return Err(TxnError::KeyLocked(LockInfo::new(key, &lock)));
    }
    match reader.txn_record(key, start_ts)? {
        Some((_, write)) if write.kind == WriteKind::Rollback => {
            return Err(rolled_back(key, start_ts))
        }
        Some(_) => return Ok(Existing::OwnCommit),
        None => {}
    }
    match reader.newest_version(key, Timestamp::MAX)? {
        Some((commit_ts, write)) if commit_ts >= start_ts => Err(TxnError::WriteConflict {
            key: key.to_vec(),
            start_ts,
            conflict_start_ts: write.start_ts,
            conflict_commit_ts: commit_ts,
        }),
        _ => Ok(Existing::Nothing),
    }
}

fn rolled_back(key: &[u8], start_ts: Timestamp) -> TxnError {
    TxnError::TxnRolledBack {
        key: key.to_vec(),
        start_ts,
    }
}

/// The first phase of 2PC on one key: lock it for the transaction started
/// at `start_ts` and stage its value at `start_ts`.
pub fn prewrite<E: Engine>(
    reader: &MvccReader<E>,
    writer: &mut MvccWriter,
    mutation: &Mutation,
    primary: &[u8],
    start_ts: Timestamp,
    ttl: u64,
) -> TxnResult<()> {
    let key = mutation.key();
    if !matches!(check_for_write(reader, key, start_ts)?, Existing::Nothing) {
        return Ok(());
    }
    let lock = Lock {
        kind: mutation.kind(),
        start_ts,
        primary: primary.to_vec(),
        ttl,
    };
    writer.put_lock(key, &lock);
    if let Mutation::Put(_, value) = mutation {
        writer.put_data(key, start_ts, value);
    }
    Ok(())
}

/// 1PC on one key: prewrite's checks, then the commit record straight away,
/// without a lock. Only sound when every key of the transaction is written
/// in the same atomic batch.
pub fn one_phase_write<E: Engine>(
    reader: &MvccReader<E>,
    writer: &mut MvccWriter,
    mutation: &Mutation,
    start_ts: Timestamp,
    commit_ts: Timestamp,
) -> TxnResult<()> {
    check_commit_ts(start_ts, commit_ts)?;
    let key = mutation.key();
    match check_for_write(reader, key, start_ts)? {
        Existing::OwnLock => {
            Err(Error::InvalidInput(format!("1PC of txn {start_ts} met its own 2PC lock")).into())
        }
        Existing::OwnCommit => Ok(()),
        Existing::Nothing => {
            put_one_phase(writer, mutation, start_ts, commit_ts);
            Ok(())
        }
    }
}

/// Stages a one-phase commit record: a Put's value inline, or a tombstone.
fn put_one_phase(writer: &mut MvccWriter, mutation: &Mutation, start_ts: Timestamp, commit_ts: Timestamp) {
    match mutation {
        Mutation::Put(key, value) => writer.put_inline_write(key, commit_ts, start_ts, value),
        Mutation::Delete(key) | Mutation::Moved(key) => {
            writer.put_write(key, commit_ts, Write { kind: mutation.kind(), start_ts })
        }
    }
}

/// 1PC on one key of a transaction that checked its own conflicts as it
/// went (the node's row locks): the write fails only if another
/// transaction's lock is on the key or, when `conflict_after` is given, a
/// version was committed after it (the snapshot or lock timestamp at which
/// the writer last saw the key). No check for retries of the same
/// transaction: the caller sends a commit once. A key with no
/// `conflict_after` is one the transaction created (a fresh row id) and is
/// written without a read.
pub fn one_phase_write_checked<E: Engine>(
    reader: &MvccReader<E>,
    writer: &mut MvccWriter,
    mutation: &Mutation,
    conflict_after: Option<Timestamp>,
    start_ts: Timestamp,
    commit_ts: Timestamp,
) -> TxnResult<()> {
    check_commit_ts(start_ts, commit_ts)?;
    let key = mutation.key();
    if let Some(seen) = conflict_after {
        let (lock, newest) = reader.lock_and_newest(key)?;
        if let Some(lock) = lock {
            return Err(TxnError::KeyLocked(LockInfo::new(key, &lock)));
        }
        if let Some((newest, write)) = newest {
            if newest > seen {
                return Err(TxnError::WriteConflict {
                    key: key.to_vec(),
                    start_ts,
                    conflict_start_ts: write.start_ts,
                    conflict_commit_ts: newest,
                });
            }
        }
    }
    put_one_phase(writer, mutation, start_ts, commit_ts);
    Ok(())
}

fn check_commit_ts(start_ts: Timestamp, commit_ts: Timestamp) -> Result<()> {
    if commit_ts <= start_ts {
        return Err(Error::InvalidInput(format!(
            "commit_ts {commit_ts} must be after start_ts {start_ts}"
        )));
    }
    Ok(())
}

/// The second phase on one key: turn the transaction's lock into a commit
/// record at `commit_ts`.
pub fn commit<E: Engine>(
    reader: &MvccReader<E>,
    writer: &mut MvccWriter,
    key: &[u8],
    start_ts: Timestamp,
    commit_ts: Timestamp,
) -> TxnResult<()> {
    check_commit_ts(start_ts, commit_ts)?;
    match reader.load_lock(key)? {
        Some(lock) if lock.start_ts == start_ts => {
            writer.delete_lock(key);
            let write = Write {
                kind: lock.kind,
                start_ts,
            };
            writer.put_write(key, commit_ts, write);
            Ok(())
        }
        _ => match reader.txn_record(key, start_ts)? {
            Some((_, write)) if write.kind == WriteKind::Rollback => {
                Err(rolled_back(key, start_ts))
            }
            Some(_) => Ok(()),
            None => Err(TxnError::TxnNotFound {
                key: key.to_vec(),
                start_ts,
            }),
        },
    }
}

/// Rolls the transaction back on one key: drop its lock and data, and leave
/// a rollback marker. Fails with `TxnCommitted` if it already committed.
pub fn rollback<E: Engine>(
    reader: &MvccReader<E>,
    writer: &mut MvccWriter,
    key: &[u8],
    start_ts: Timestamp,
) -> TxnResult<()> {
    if let Some(lock) = reader.load_lock(key)? {
        if lock.start_ts == start_ts {
            writer.delete_lock(key);
            writer.delete_data(key, start_ts);
            put_rollback_marker(reader, writer, key, start_ts)?;
            return Ok(());
        }
    }
    match reader.txn_record(key, start_ts)? {
        Some((_, write)) if write.kind == WriteKind::Rollback => Ok(()),
        Some((commit_ts, _)) => Err(TxnError::TxnCommitted {
            key: key.to_vec(),
            start_ts,
            commit_ts,
        }),
        None => Ok(put_rollback_marker(reader, writer, key, start_ts)?),
    }
}

/// Writes the rollback marker at `start_ts`, unless another transaction's
/// commit record already sits there (see the module essay).
fn put_rollback_marker<E: Engine>(
    reader: &MvccReader<E>,
    writer: &mut MvccWriter,
    key: &[u8],
    start_ts: Timestamp,
) -> Result<()> {
    let occupied = reader.walk_writes(key, start_ts, |commit_ts, _| {
        ControlFlow::Break(commit_ts == start_ts)
    })?;
    if occupied != Some(true) {
        let write = Write {
            kind: WriteKind::Rollback,
            start_ts,
        };
        writer.put_write(key, start_ts, write);
    }
    Ok(())
}

/// Decides the fate of the transaction started at `start_ts` by looking at
/// its primary key, at time `now`. A lock past its TTL is rolled back; a
/// primary with neither lock nor record gets a rollback marker, so the
/// transaction can never commit afterwards.
pub fn check_txn_status<E: Engine>(
    reader: &MvccReader<E>,
    writer: &mut MvccWriter,
    primary: &[u8],
    start_ts: Timestamp,
    now: Timestamp,
) -> TxnResult<TxnStatus> {
    if let Some(lock) = reader.load_lock(primary)? {
        if lock.start_ts == start_ts {
            if !lock.expired(now) {
                return Ok(TxnStatus::Locked(LockInfo::new(primary, &lock)));
            }
            tracing::debug!(txn = %start_ts, %now, "rolling back an expired transaction");
            rollback(reader, writer, primary, start_ts)?;
            return Ok(TxnStatus::RolledBack);
        }
    }
    match reader.txn_record(primary, start_ts)? {
        Some((_, write)) if write.kind == WriteKind::Rollback => Ok(TxnStatus::RolledBack),
        Some((commit_ts, _)) => Ok(TxnStatus::Committed(commit_ts)),
        None => {
            put_rollback_marker(reader, writer, primary, start_ts)?;
            Ok(TxnStatus::RolledBack)
        }
    }
}

/// Settles the lock of the transaction started at `start_ts` on `key`
/// according to its primary's `status`: commit it (roll forward) or roll
/// it back. A status of `Locked` is refused: the transaction is alive.
pub fn resolve_lock<E: Engine>(
    reader: &MvccReader<E>,
    writer: &mut MvccWriter,
    key: &[u8],
    start_ts: Timestamp,
    status: &TxnStatus,
) -> TxnResult<()> {
    match status {
        TxnStatus::Committed(commit_ts) => commit(reader, writer, key, start_ts, *commit_ts),
        TxnStatus::RolledBack => rollback(reader, writer, key, start_ts),
        TxnStatus::Locked(lock) => Err(TxnError::KeyLocked(lock.clone())),
    }
}

/// What [`gc`] did to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Collected {
    /// Commit records removed.
    pub removed: usize,
    /// The commit ts of the newest version at or below `safe_ts` (kept, or
    /// removed with the rest if a tombstone): no record of the key
    /// committed before it is left. The next collection's `floor`.
    pub floor: Option<Timestamp>,
}

/// Garbage-collects the versions of `key` no read at or after `safe_ts` can
/// see: everything committed before the newest version ≤ `safe_ts`, that
/// version too if it is a tombstone, and rollback markers ≤ `safe_ts`.
/// Locks and versions newer than `safe_ts` are untouched.
///
/// `floor` is what an earlier collection of the key returned, if known:
/// nothing older is left, so the walk stops there. Without it, every
/// collection of a hot row would walk all the versions the row ever had:
/// RocksDB keeps deleted records (in its memtable, then in files) until a
/// compaction drops them, and an iterator steps over them one by one —
/// under the latch that commits wait for.
pub fn gc<E: Engine>(
    reader: &MvccReader<E>,
    writer: &mut MvccWriter,
    key: &[u8],
    safe_ts: Timestamp,
    floor: Option<Timestamp>,
) -> Result<Collected> {
    let mut newest = None;
    let mut removed = 0;
    // Commit records sort newest first: once the newest version is
    // decided, every older record goes. A few go one by one; many (a hot
    // row's) as one range delete from the first — see GC_RANGE_DELETE_MIN
    // (so no more than that many are kept here).
    let mut older = Vec::new();
    reader.walk_write_records_down_to(key, safe_ts, floor, |commit_ts, write, inline| {
        match write.kind {
            WriteKind::Put if newest.is_none() => newest = Some(commit_ts),
            WriteKind::Delete | WriteKind::Moved if newest.is_none() => {
                newest = Some(commit_ts);
                older.push(commit_ts);
                removed += 1;
            }
            // A rollback marker above the newest version.
            _ if newest.is_none() => {
                writer.delete_write(key, commit_ts);
                removed += 1;
            }
            kind => {
                if older.len() < GC_RANGE_DELETE_MIN {
                    older.push(commit_ts);
                }
                // Only a two-phase Put has a data record. Deleting one that
                // is not there would still leave a tombstone in RocksDB's
                // memtable, in front of the key's records, where every
                // scan of the key would step over it until a flush.
                if kind == WriteKind::Put && inline.is_none() {
                    writer.delete_data(key, write.start_ts);
                }
                removed += 1;
            }
        }
        ControlFlow::<()>::Continue(())
    })?;
    if older.len() >= GC_RANGE_DELETE_MIN {
        writer.delete_writes_from(key, older[0]);
    } else {
        older.into_iter().for_each(|commit_ts| writer.delete_write(key, commit_ts));
    }
    Ok(Collected {
        removed,
        floor: newest.or(floor),
    })
}

/// From this many older commit records of one key on, garbage collection
/// deletes them with one range delete instead of one delete each. A range
/// tombstone costs every read of every key in its file or memtable (RocksDB
/// checks them on each seek and get): one per collected key — TPC-B left
/// one behind for each account it updated, 38,000 in a development
/// database, where checking them was 12% of a point read's CPU (`perf`).
/// Point tombstones cost only a walk that steps over them, which a read
/// never does (it stops at the newest version, and the deleted ones sort
/// after it); below this count the walk in the next collection of the key
/// stays short.
const GC_RANGE_DELETE_MIN: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mvcc::keys::MvccKey;
    use crate::storage::{Memory, WriteBatch, WriteOp};

    fn ts(wall: u64) -> Timestamp {
        Timestamp::from_wall(wall)
    }

    /// The data records a batch deletes (point deletes only).
    fn deleted_data(batch: &WriteBatch) -> Vec<Timestamp> {
        batch
            .ops()
            .iter()
            .filter_map(|op| match op {
                WriteOp::Delete { key } => match MvccKey::decode(key.as_slice()) {
                    Ok(MvccKey::Data { start_ts, .. }) => Some(start_ts),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }

    #[test]
    fn gc_deletes_only_data_records_that_exist() {
        // Versions of one key: two committed in one phase (value inline,
        // no data record), one in two phases (value in a data record).
        let engine = Memory::new();
        let mut writer = MvccWriter::new();
        writer.put_inline_write(b"k", ts(10), ts(5), b"one");
        writer.put_data(b"k", ts(15), b"two");
        writer.put_write(b"k", ts(20), Write { kind: WriteKind::Put, start_ts: ts(15) });
        writer.put_inline_write(b"k", ts(30), ts(25), b"three");
        writer.put_inline_write(b"k", ts(40), ts(35), b"four");
        engine.write(&writer.into_batch(), false).expect("write");
        let reader = MvccReader::new(&engine);
        let mut gc_writer = MvccWriter::new();
        let removed = gc(&reader, &mut gc_writer, b"k", ts(45), None).expect("gc").removed;
        assert_eq!(removed, 3);
        // A delete of a record that is not there would still leave a
        // tombstone in front of the key's records for every scan to skip.
        assert_eq!(deleted_data(&gc_writer.into_batch()), vec![ts(15)]);
    }

    /// An engine holding versions of key `k` committed at 10, 20, … `10 * versions`.
    fn with_versions(versions: u64) -> Memory {
        let engine = Memory::new();
        let mut writer = MvccWriter::new();
        for v in 1..=versions {
            writer.put_inline_write(b"k", ts(10 * v), ts(10 * v - 5), b"v");
        }
        engine.write(&writer.into_batch(), false).expect("write");
        engine
    }

    /// The commit timestamps of `k`'s records, newest first.
    fn commits_left(engine: &impl Engine) -> Vec<Timestamp> {
        let records = MvccReader::new(engine).records(b"k").expect("records");
        records
            .into_iter()
            .filter_map(|(record, _)| match record {
                MvccKey::Write { commit_ts, .. } => Some(commit_ts),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn gc_walks_down_to_the_floor_only() {
        // An earlier collection kept the version at 30, so nothing older is
        // left: this one deletes 30, keeps 40 and never looks further — the
        // versions at 10 and 20, left here to show it, stay.
        let engine = with_versions(5);
        let mut gc_writer = MvccWriter::new();
        let collected = gc(&MvccReader::new(&engine), &mut gc_writer, b"k", ts(45), Some(ts(30))).expect("gc");
        assert_eq!(collected, Collected { removed: 1, floor: Some(ts(40)) });
        engine.write(&gc_writer.into_batch(), false).expect("collect");
        assert_eq!(commits_left(&engine), vec![ts(50), ts(40), ts(20), ts(10)]);

        // Nothing new at or below the safe timestamp: the floor stays.
        let mut gc_writer = MvccWriter::new();
        let collected = gc(&MvccReader::new(&engine), &mut gc_writer, b"k", ts(45), Some(ts(40))).expect("gc");
        assert_eq!(collected, Collected { removed: 0, floor: Some(ts(40)) });
        assert!(gc_writer.is_empty());

        // No floor known: the walk goes to the end; a tombstone kept as the
        // newest version goes too, and is still the floor.
        let mut writer = MvccWriter::new();
        writer.put_write(b"k", ts(60), Write { kind: WriteKind::Delete, start_ts: ts(55) });
        engine.write(&writer.into_batch(), false).expect("delete");
        let mut gc_writer = MvccWriter::new();
        let collected = gc(&MvccReader::new(&engine), &mut gc_writer, b"k", ts(65), None).expect("gc");
        assert_eq!(collected, Collected { removed: 5, floor: Some(ts(60)) });
        engine.write(&gc_writer.into_batch(), false).expect("collect");
        assert_eq!(commits_left(&engine), vec![]);
    }

    #[test]
    fn a_collection_walks_down_to_where_the_last_one_of_the_key_ended() {
        let engine = std::sync::Arc::new(with_versions(2));
        let mvcc = crate::mvcc::Mvcc::new(engine.clone());
        let key = || vec![b"k".to_vec()];
        assert_eq!(mvcc.gc_keys(&key(), ts(25)).expect("gc"), Vec::<Vec<u8>>::new());
        assert_eq!(commits_left(&*engine), vec![ts(20)]);
        // A record below the floor (20), which no commit could write now:
        // the next collection of the key does not look that far down.
        let mut writer = MvccWriter::new();
        for commit_ts in [5, 30, 40] {
            writer.put_inline_write(b"k", ts(commit_ts), ts(commit_ts - 1), b"v");
        }
        engine.write(&writer.into_batch(), false).expect("write");
        assert_eq!(mvcc.gc_keys(&key(), ts(35)).expect("gc"), key(), "40 is newer than the safe ts");
        assert_eq!(commits_left(&*engine), vec![ts(40), ts(30), ts(5)]);
        // A key that lost nothing (a new row's one version) has nothing
        // deleted to walk over, and no floor kept for it.
        let mut writer = MvccWriter::new();
        writer.put_inline_write(b"new", ts(50), ts(49), b"v");
        engine.write(&writer.into_batch(), false).expect("write");
        mvcc.gc_keys(&[b"new".to_vec()], ts(55)).expect("gc");
        let floors = mvcc.gc_floors.lock().expect("floors");
        assert_eq!(floors.get(&b"k"[..]), Some(&ts(30)));
        assert_eq!(floors.get(&b"new"[..]), None);
    }

    /// On RocksDB, whose deleted records stay (and are stepped over one by
    /// one by an iterator passing them) until a compaction drops them,
    /// each collection of a key steps over none of the versions the earlier
    /// ones deleted. Twenty versions per collection: fewer than
    /// [`GC_RANGE_DELETE_MIN`], so they go one by one, as a row updated a
    /// few times a second (TPC-B's tellers) has them.
    #[test]
    fn collections_of_a_hot_key_on_rocksdb_step_over_no_deleted_versions() {
        use rocksdb::perf::{set_perf_stats, PerfContext, PerfMetric, PerfStatsLevel};
        let dir = tempfile::tempdir().expect("temporary directory");
        let engine = std::sync::Arc::new(crate::storage::RocksDb::open(dir.path()).expect("open"));
        let mvcc = crate::mvcc::Mvcc::new(engine.clone());
        set_perf_stats(PerfStatsLevel::EnableCount);
        let mut context = PerfContext::default();
        let mut commit_ts = 0;
        let mut skipped = Vec::new();
        for _ in 0..5 {
            let mut writer = MvccWriter::new();
            for _ in 0..20 {
                commit_ts += 10;
                writer.put_inline_write(b"k", ts(commit_ts), ts(commit_ts - 5), b"v");
            }
            engine.write(&writer.into_batch(), false).expect("write");
            context.reset();
            mvcc.gc_keys(&[b"k".to_vec()], ts(commit_ts + 1)).expect("gc");
            skipped.push(context.metric(PerfMetric::InternalKeySkippedCount) + context.metric(PerfMetric::InternalDeleteSkippedCount));
        }
        set_perf_stats(PerfStatsLevel::Disable);
        assert_eq!(commits_left(&*engine), vec![ts(commit_ts)]);
        // Each walk steps over the twenty versions written since the last
        // collection; without the floors also over all the earlier ones'
        // deletes (20, 59, 99, 139, 179).
        assert!(skipped.iter().all(|&n| n <= 21), "records stepped over per collection: {skipped:?}");
    }

    /// What a collection of a key with `versions` committed versions writes:
    /// (point deletes of commit records, range deletes).
    fn collected(versions: u64) -> (usize, usize) {
        let engine = with_versions(versions);
        let mut gc_writer = MvccWriter::new();
        let removed = gc(&MvccReader::new(&engine), &mut gc_writer, b"k", ts(10 * versions + 1), None).expect("gc").removed;
        assert_eq!(removed as u64, versions - 1, "every version but the newest goes");
        let batch = gc_writer.into_batch();
        engine.write(&batch, false).expect("collect");
        assert_eq!(commits_left(&engine), vec![ts(10 * versions)], "only the newest version is left");
        let points = batch.ops().iter().filter(|op| matches!(op, WriteOp::Delete { .. })).count();
        let ranges = batch.ops().iter().filter(|op| matches!(op, WriteOp::DeleteRange { .. })).count();
        (points, ranges)
    }

    #[test]
    fn gc_deletes_a_few_versions_one_by_one_and_many_as_a_range() {
        // Range tombstones slow every read near them; a few versions (a
        // row updated once or twice: most rows) leave point tombstones.
        assert_eq!(collected(2), (1, 0));
        assert_eq!(collected(GC_RANGE_DELETE_MIN as u64), (GC_RANGE_DELETE_MIN - 1, 0));
        // A hot row's many versions: one range delete, not one per version.
        assert_eq!(collected(GC_RANGE_DELETE_MIN as u64 + 1), (0, 1));
        assert_eq!(collected(500), (0, 1));
    }
}
