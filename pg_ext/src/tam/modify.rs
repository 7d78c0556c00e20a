//! Row writes and point reads: insert, COPY's multi-insert, update, delete,
//! and fetching one row by TID.
//!
//! Every write goes to the transaction's buffer ([`crate::txn`]) tagged with
//! the command id, and becomes durable at commit. A row keeps its row id —
//! and so its TID — across UPDATE, since the id is the key's suffix.
//!
//! UPDATE, DELETE and `SELECT … FOR …` first lock the row on the node
//! ([`txn::lock_row`]) — waiting for a concurrent holder's transaction in
//! Postgres's lock manager, as heap waits for a row's xmax — and learn the
//! row's newest committed version. If that is
//! newer than the statement's snapshot, the row changed under the
//! statement: `TM_Updated` / `TM_Deleted`, and Postgres does what it does
//! for heap (READ COMMITTED re-checks the newest version with EvalPlanQual
//! through `tuple_lock(FIND_LAST_VERSION)`; REPEATABLE READ and
//! SERIALIZABLE raise 40001). Rows this transaction inserted or already
//! locked need no trip to the node.

use std::cell::RefCell;

use lyra_engine::keys::RowId;
use pgrx::itemptr::{item_pointer_get_both, item_pointer_set_all};
use pgrx::pg_sys;
use crate::error::raise;
use pgrx::prelude::*;

use lyra_cluster::protocol::{LockMode, RowLocked, Ts};

use super::scan::{snapshot_cid, store};
use super::versions::{self, Version, Which};
use crate::{datum, node_link, snapshot, table, txn};

/// The row a TID names: a row TID, or a version TID ([`versions`]).
pub unsafe fn row_id_of(tid: pg_sys::ItemPointer) -> RowId {
    let (block, offset) = item_pointer_get_both(*tid);
    match RowId::from_tid(block, offset).or_else(|| versions::named(block, offset).map(|v| v.row)) {
        Some(row) => row,
        None => raise(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("({block},{offset}) is not a valid TID of a lyra table")
        ),
    }
}

/// Sets the TID of a slot holding the version of `row` that command `cid`
/// wrote: the row's TID, or a version TID when after-row triggers of
/// `event` will fetch that version again.
unsafe fn set_written_tid(rel: pg_sys::Relation, slot: *mut pg_sys::TupleTableSlot, row: RowId, cid: pg_sys::CommandId, event: u32) {
    versions::note_writer(cid);
    let (block, offset) = if versions::has_after_row_triggers(rel, event) {
        versions::name(Version { row, which: Which::After(cid) })
    } else {
        row.to_tid()
    };
    item_pointer_set_all(&mut (*slot).tts_tid, block, offset);
    (*slot).tts_tableOid = (*rel).rd_id;
}

unsafe fn insert(rel: pg_sys::Relation, slot: *mut pg_sys::TupleTableSlot, cid: pg_sys::CommandId) {
    let table = table::table_id(rel);
    let row = table::next_row_id(table);
    let mut value = Vec::new();
    datum::encode_slot(slot, &mut value);
    txn::put(table::row_key(table, row), value, cid);
    set_written_tid(rel, slot, row, cid, pg_sys::TRIGGER_EVENT_INSERT);
}

thread_local! {
    /// The last committed row a dirty snapshot fetched (key, value): the
    /// newest version, which `INSERT … ON CONFLICT DO UPDATE` then locks.
    static DIRTY_FETCHED: RefCell<Option<(Vec<u8>, Vec<u8>)>> = const { RefCell::new(None) };
    /// A committed row an index point lookup brought along (key, the
    /// timestamp it was read at — none: any —, value), for the fetch that
    /// follows.
    static PREFETCHED: RefCell<Option<(Vec<u8>, Option<Ts>, Option<Vec<u8>>)>> = const { RefCell::new(None) };
}

/// Keeps the committed row `key` read at `read_ts` for the next [`fetch`]
/// of it at that timestamp.
pub fn prefetched(key: Vec<u8>, read_ts: Option<Ts>, value: Option<Vec<u8>>) {
    PREFETCHED.with(|p| *p.borrow_mut() = read_ts.map(|ts| (key, Some(ts), value)));
}

/// Keeps a version of the row `key` for the next MVCC [`fetch`] of it at
/// any timestamp: a parent row a foreign key's check found and holds
/// locked, whose columns the check does not read (`txn::checked_parent`).
pub fn prefetched_checked(key: Vec<u8>, value: Vec<u8>) {
    PREFETCHED.with(|p| *p.borrow_mut() = Some((key, None, Some(value))));
}

/// The row [`prefetched`] kept, if it is `key` at `read_ts` (taken); a
/// dirty fetch takes none kept for any timestamp.
fn take_prefetched(key: &[u8], read_ts: Option<Ts>, dirty: bool) -> Option<Option<Vec<u8>>> {
    PREFETCHED.with(|p| {
        let mut p = p.borrow_mut();
        let matches = match (&*p, read_ts) {
            (Some((k, None, _)), _) => k == key && !dirty,
            (Some((k, Some(ts), _)), Some(at)) => k == key && *ts == at,
            _ => false,
        };
        matches.then(|| p.take().map(|(_, _, value)| value)).flatten()
    })
}

/// The encoded row at `tid` visible to `snapshot`, if any.
pub unsafe fn fetch(rel: pg_sys::Relation, tid: pg_sys::ItemPointer, snapshot: pg_sys::Snapshot) -> Option<(Vec<u8>, Vec<u8>)> {
    let kind = if snapshot.is_null() { None } else { Some((*snapshot).snapshot_type) };
    let dirty = kind == Some(pg_sys::SnapshotType::SNAPSHOT_DIRTY);
    let any = kind == Some(pg_sys::SnapshotType::SNAPSHOT_ANY);
    if dirty {
        // A dirty snapshot reports the in-progress writer of what it saw,
        // for the caller to wait on. Lyra shows no uncommitted row of
        // another transaction (inserters of one unique key meet at its
        // entry lock instead): no inserter; a committed row's updater or
        // deleter is set below.
        (*snapshot).xmin = pg_sys::InvalidTransactionId;
        (*snapshot).xmax = pg_sys::InvalidTransactionId;
        (*snapshot).speculativeToken = 0;
    }
    let key = table::row_key(table::table_id(rel), row_id_of(tid));
    let buffered = if any { buffered_for_any(tid, &key) } else { txn::lookup(&key, snapshot_cid(snapshot)) };
    let value = match buffered {
        Some(buffered) => buffered,
        None if any => match txn::read_lock_row(&key)
            .or_else(|| txn::newest_locked(&key, LockMode::KeyShare).map(|l| l.value))
            .or_else(|| txn::busy_seen(&key).map(Some))
        {
            // The row an UPDATE by key is about to write: its read (or the
            // lock it waited for) brought the lock and the newest version
            // (the executor fetches the old row before the write) — or, if
            // others held the row, the version the read found.
            Some(newest) => newest,
            // A row this transaction has not locked: the version the
            // running statement's snapshot sees. A heap TID names the
            // version the scan found, and EvalPlanQual fetches a joined
            // row it did not lock (`FOR UPDATE OF` another table) by its
            // TID: as the scan saw it, not a version committed since. A
            // locked row's newest version is the one to write over. A row
            // the snapshot does not see (committed since: the conflicting
            // row ON CONFLICT checks the visibility of) is its newest
            // version. A row inserted by the current command has no
            // version before it.
            None => {
                let locked = txn::held_lock(&key, LockMode::KeyShare).is_some();
                let read_ts = if locked || !pg_sys::ActiveSnapshotSet() {
                    None
                } else {
                    snapshot::read_ts(pg_sys::GetActiveSnapshot()).get()
                };
                let get = |read_ts| node_link::with_node(|c, w| c.get(key.clone(), read_ts, w)).value;
                get(read_ts)
                    .or_else(|| read_ts.and_then(|_| get(None)))
                    .or_else(|| txn::lookup(&key, txn::SEE_ANY).flatten())
            }
        },
        None => {
            let read_ts = snapshot::read_ts(snapshot);
            txn::note_read(&key, &key_successor(&key));
            if let Some(value) = take_prefetched(&key, read_ts.get(), dirty) {
                return value.map(|v| (key, v));
            }
            let got = node_link::with_node(|c, w| c.get(key.clone(), read_ts.get(), w));
            read_ts.learn(got.read_ts);
            txn::note_ts(got.read_ts);
            if dirty {
                DIRTY_FETCHED.with(|d| *d.borrow_mut() = got.value.clone().map(|v| (key.clone(), v)));
                if got.value.is_some() {
                    (*snapshot).xmax = txn::writer_of(&key).unwrap_or(pg_sys::InvalidTransactionId);
                }
            }
            got.value
        }
    }?;
    Some((key, value))
}

/// `xmin` of the Lyra row in `slot`, for the executor code that asks
/// (ON CONFLICT under REPEATABLE READ: "was the row found inserted by this
/// transaction?"): for a row this transaction wrote, the id of the
/// (sub)transaction that wrote its newest version, else
/// FrozenTransactionId — committed, and older than any snapshot's horizon.
///
/// # Safety
/// `slot` holds a row of a Lyra table (its `tts_tableOid` and TID set).
pub unsafe fn inserting_xid(slot: *mut pg_sys::TupleTableSlot) -> pg_sys::TransactionId {
    match with_slot_row_key(slot, txn::last_writer).flatten() {
        Some(cid) => versions::writer_xid(cid),
        None => pg_sys::FrozenTransactionId,
    }
}

/// `xmax` of the Lyra row in `slot`: this transaction's id if it locked
/// the row (to update or delete it, or `FOR …`), else 0 — what heap shows
/// for a row this transaction deleted or locked (`DELETE … RETURNING xmax`,
/// the updating path of ON CONFLICT DO UPDATE) and for a row nobody
/// touched. Unlike heap, the lockers and deleters of other transactions
/// are not shown (the node keeps no Postgres transaction ids).
///
/// # Safety
/// As [`inserting_xid`].
pub unsafe fn locking_xid(slot: *mut pg_sys::TupleTableSlot) -> pg_sys::TransactionId {
    match with_slot_row_key(slot, |key| txn::held_lock(key, LockMode::KeyShare)).flatten() {
        Some(_) => pg_sys::GetCurrentTransactionIdIfAny(),
        None => pg_sys::InvalidTransactionId,
    }
}

/// `f` of the row key of the Lyra row in `slot`; `None` if the slot's
/// relation is not a Lyra table.
unsafe fn with_slot_row_key<T>(slot: *mut pg_sys::TupleTableSlot, f: impl FnOnce(&[u8]) -> T) -> Option<T> {
    let rel = pg_sys::RelationIdGetRelation((*slot).tts_tableOid);
    let result = if super::is_lyra(rel) {
        Some(f(&table::row_key(table::table_id(rel), row_id_of(&mut (*slot).tts_tid))))
    } else {
        None
    };
    if !rel.is_null() {
        pg_sys::RelationClose(rel);
    }
    result
}

/// What a `SnapshotAny` fetch by `tid` reads from the write buffer: the
/// version a version TID names; for a row TID, the version before the
/// current command wrote it (the row an after-row trigger's old slot, a
/// DELETE's RETURNING list or an ON CONFLICT re-check asks for), or else
/// the newest version that is a row. `None`: the node's committed row.
unsafe fn buffered_for_any(tid: pg_sys::ItemPointer, key: &[u8]) -> Option<Option<Vec<u8>>> {
    let (block, offset) = item_pointer_get_both(*tid);
    if let Some(version) = versions::named(block, offset) {
        return match version.which {
            Which::Before(cid) => txn::lookup(key, cid),
            Which::After(cid) => txn::lookup(key, cid.saturating_add(1)),
        };
    }
    match txn::lookup(key, command_before(key)) {
        Some(Some(row)) => Some(Some(row)),
        Some(None) => txn::lookup(key, txn::SEE_ANY),
        None => None,
    }
}

/// The command whose write a `SnapshotAny` fetch of the row `key` reads
/// past: the running statement's update or delete of it (see
/// [`versions::note_write`]), else the current command.
unsafe fn command_before(key: &[u8]) -> pg_sys::CommandId {
    versions::just_written_by(key).unwrap_or_else(|| pg_sys::GetCurrentCommandId(false))
}

/// The version of `key` a dirty snapshot fetched last in this statement,
/// if it was `key` — the newest one then, whatever the statement's
/// snapshot (forgotten on asking).
fn dirty_fetched(key: &[u8]) -> Option<Vec<u8>> {
    DIRTY_FETCHED.with(|d| d.borrow_mut().take().filter(|(k, _)| k == key).map(|(_, v)| v))
}

/// A statement starts: a row an earlier one fetched with a dirty
/// snapshot is not the version its locks compare with.
pub fn statement_started() {
    DIRTY_FETCHED.with(|d| d.borrow_mut().take());
    // A row kept for a fetch that never came (one kept for any timestamp
    // must not answer a later statement's).
    PREFETCHED.with(|p| p.borrow_mut().take());
}

/// The smallest key after `key`.
fn key_successor(key: &[u8]) -> Vec<u8> {
    let mut next = key.to_vec();
    next.push(0);
    next
}

/// What locking a row found.
enum RowLock {
    /// Locked; the newest committed value (None: deleted or never there),
    /// whether it is newer than the statement's snapshot, and whether the
    /// deletion moved the row to another partition.
    Held { value: Option<Vec<u8>>, changed: bool, moved: bool },
    /// Someone else holds it and the caller would not wait.
    WouldBlock,
}

/// Locks the committed row `key` of `rel` at `tid` in `mode` for this
/// transaction, for `purpose`, waiting if `wait` (see
/// [`txn::lock_row`]) — or takes the lock the read of the row brought
/// ([`txn::held_with_read`]), or the answer of the lock already held
/// ([`txn::newest_locked`]).
unsafe fn lock_committed_row(
    rel: pg_sys::Relation,
    tid: pg_sys::ItemPointer,
    key: &[u8],
    mode: LockMode,
    purpose: txn::LockFor,
    wait: bool,
    snapshot: pg_sys::Snapshot,
) -> RowLock {
    // The read that found the row may have taken the lock already
    // (LyraScan, by key): its answer stands while the lock is held.
    if let Some(locked) = txn::take_read_lock(key, mode) {
        return row_lock(locked, snapshot);
    }
    if let Some(locked) = txn::newest_locked(key, mode) {
        return row_lock(locked, snapshot);
    }
    match txn::lock_row(key, mode, purpose, wait, rel, tid) {
        Some(locked) => row_lock(locked, snapshot),
        None => RowLock::WouldBlock,
    }
}

/// What the node's answer to a granted row lock means for a statement
/// reading at `snapshot`.
unsafe fn row_lock(locked: RowLocked, snapshot: pg_sys::Snapshot) -> RowLock {
    let read_ts = snapshot::read_ts(snapshot).get();
    let changed = match (locked.latest_ts, read_ts) {
        (Some(latest), Some(read)) => latest > read,
        // Nothing committed, or a snapshot that reads the latest.
        _ => false,
    };
    RowLock::Held { value: locked.value, changed, moved: locked.moved }
}

/// Postgres's row lock strength as the node's lock mode.
fn lock_mode(mode: pg_sys::LockTupleMode::Type) -> LockMode {
    match mode {
        pg_sys::LockTupleMode::LockTupleKeyShare => LockMode::KeyShare,
        pg_sys::LockTupleMode::LockTupleShare => LockMode::Share,
        pg_sys::LockTupleMode::LockTupleNoKeyExclusive => LockMode::NoKeyUpdate,
        _ => LockMode::Update,
    }
}

/// Fills `tmfd` for a row that changed, or was changed by this command.
unsafe fn failure_data(tmfd: *mut pg_sys::TM_FailureData, tid: pg_sys::ItemPointer, cmax: pg_sys::CommandId) {
    (*tmfd).ctid = *tid;
    (*tmfd).xmax = pg_sys::GetCurrentTransactionIdIfAny();
    (*tmfd).cmax = cmax;
    (*tmfd).traversed = false;
}

/// The row the caller would change or lock moved to another partition
/// (a concurrent UPDATE of its partition key committed): heap answers
/// "updated", its successor named by the "moved partitions" pointer, from
/// which the executor raises a serialization failure rather than skip
/// the row as deleted. What [`tuple_lock`] asked to follow the row to its
/// newest version raises itself, as heap's does.
unsafe fn moved_away(tmfd: *mut pg_sys::TM_FailureData, tid: pg_sys::ItemPointer, follow: bool) -> pg_sys::TM_Result::Type {
    if follow {
        raise(
            PgSqlErrorCode::ERRCODE_T_R_SERIALIZATION_FAILURE,
            "tuple to be locked was already moved to another partition due to concurrent update",
        );
    }
    failure_data(tmfd, tid, 0);
    item_pointer_set_all(&mut (*tmfd).ctid, pg_sys::InvalidBlockNumber, pg_sys::MovedPartitionsOffsetNumber as u16);
    pg_sys::TM_Result::TM_Updated
}

/// Prepares an UPDATE or DELETE of the row at `tid` by command `cid`: the
/// row lock, and the `TM_*` answer if the write must not go ahead (also
/// when the `crosscheck` snapshot does not see the row's current version,
/// [`crosscheck_fails`]). The row's current version goes to `current`
/// when the lock brought it.
unsafe fn before_write(
    rel: pg_sys::Relation,
    key: &[u8],
    tid: pg_sys::ItemPointer,
    cid: pg_sys::CommandId,
    mode: LockMode,
    snapshot: pg_sys::Snapshot,
    crosscheck: pg_sys::Snapshot,
    wait: bool,
    tmfd: *mut pg_sys::TM_FailureData,
    current: &mut Option<Vec<u8>>,
) -> Option<pg_sys::TM_Result::Type> {
    'locked: {
        if let Some(written_by) = txn::last_writer(key) {
            // This transaction wrote the row: it is ours to change, unless
            // this very command already did (a join producing the row twice).
            if written_by >= cid {
                failure_data(tmfd, tid, written_by);
                return Some(pg_sys::TM_Result::TM_SelfModified);
            }
            // Inserted by us (no lock: nobody else can see it) — ours to change.
            if txn::held_lock(key, LockMode::KeyShare).is_none() {
                break 'locked;
            }
        }
        // Held already — unless a read just took it (LyraScan, by key):
        // then its answer is checked as a lock's below.
        if txn::held_lock(key, mode).is_some() && txn::read_lock_row(key).is_none() {
            break 'locked;
        }
        let refused = match lock_committed_row(rel, tid, key, mode, txn::LockFor::Write, wait, snapshot) {
            RowLock::WouldBlock => pg_sys::TM_Result::TM_WouldBlock,
            RowLock::Held { value: None, moved: true, .. } => return Some(moved_away(tmfd, tid, false)),
            RowLock::Held { value: None, .. } => pg_sys::TM_Result::TM_Deleted,
            RowLock::Held { changed: true, .. } => pg_sys::TM_Result::TM_Updated,
            RowLock::Held { value, .. } => {
                *current = value;
                break 'locked;
            }
        };
        failure_data(tmfd, tid, 0);
        return Some(refused);
    }
    // A lock taken earlier only to lock the row (or by ON CONFLICT DO
    // UPDATE) becomes a writer's.
    txn::mark_written(key);
    if crosscheck_fails(rel, tid, key, crosscheck, current) {
        failure_data(tmfd, tid, 0);
        return Some(pg_sys::TM_Result::TM_Updated);
    }
    None
}

/// A foreign key's action under REPEATABLE READ or SERIALIZABLE (`ON
/// DELETE CASCADE`, `SET NULL`, …) finds the referencing rows with the
/// latest snapshot and hands the transaction's as `crosscheck`: a row
/// whose current version that snapshot does not see (inserted or changed
/// since) must not be changed — heap answers "updated" and the executor
/// fails with 40001, where Lyra deleted a row its transaction never saw.
/// `current` is the row's current version if the lock brought it (kept
/// for the caller).
unsafe fn crosscheck_fails(
    rel: pg_sys::Relation,
    tid: pg_sys::ItemPointer,
    key: &[u8],
    crosscheck: pg_sys::Snapshot,
    current: &mut Option<Vec<u8>>,
) -> bool {
    if crosscheck.is_null() {
        return false;
    }
    let newest = current_version(key, current.take());
    let seen = fetch(rel, tid, crosscheck).map(|(_, value)| value);
    *current = newest;
    seen != *current
}

/// The current version of a row this transaction has locked or written:
/// its own buffered version, else the newest committed one.
fn current_version(key: &[u8], known: Option<Vec<u8>>) -> Option<Vec<u8>> {
    if let Some(buffered) = txn::lookup(key, txn::SEE_ALL) {
        return buffered;
    }
    known.or_else(|| match txn::newest_locked(key, LockMode::KeyShare) {
        Some(locked) => locked.value,
        None => node_link::with_node(|c, w| c.get(key.to_vec(), None, w)).value,
    })
}

/// Whether writes to `rel` must maintain index entries.
unsafe fn has_indexes(rel: pg_sys::Relation) -> bool {
    (*(*rel).rd_rel).relhasindex
}

#[pg_guard]
pub unsafe extern "C-unwind" fn tuple_insert(
    rel: pg_sys::Relation,
    slot: *mut pg_sys::TupleTableSlot,
    cid: pg_sys::CommandId,
    _options: std::ffi::c_int,
    _bistate: *mut pg_sys::BulkInsertStateData,
) {
    insert(rel, slot, cid);
    crate::index::parents::note_inserted(rel, slot);
}

/// The row of an `INSERT … ON CONFLICT` ([`crate::index::speculative`]):
/// buffered behind a mark, so that a conflict found while its index
/// entries go in takes back the row and the entries together.
#[pg_guard]
pub unsafe extern "C-unwind" fn tuple_insert_speculative(
    rel: pg_sys::Relation,
    slot: *mut pg_sys::TupleTableSlot,
    cid: pg_sys::CommandId,
    _options: std::ffi::c_int,
    _bistate: *mut pg_sys::BulkInsertStateData,
    _spec_token: u32,
) {
    txn::begin_speculative();
    insert(rel, slot, cid);
}

#[pg_guard]
pub unsafe extern "C-unwind" fn tuple_complete_speculative(
    _rel: pg_sys::Relation,
    _slot: *mut pg_sys::TupleTableSlot,
    _spec_token: u32,
    succeeded: bool,
) {
    txn::end_speculative(succeeded);
}

#[pg_guard]
pub unsafe extern "C-unwind" fn multi_insert(
    rel: pg_sys::Relation,
    slots: *mut *mut pg_sys::TupleTableSlot,
    nslots: std::ffi::c_int,
    cid: pg_sys::CommandId,
    _options: std::ffi::c_int,
    _bistate: *mut pg_sys::BulkInsertStateData,
) {
    for i in 0..nslots as usize {
        insert(rel, *slots.add(i), cid);
        crate::index::parents::note_inserted(rel, *slots.add(i));
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn tuple_delete(
    rel: pg_sys::Relation,
    tid: pg_sys::ItemPointer,
    cid: pg_sys::CommandId,
    snapshot: pg_sys::Snapshot,
    crosscheck: pg_sys::Snapshot,
    wait: bool,
    tmfd: *mut pg_sys::TM_FailureData,
    changing_part: bool,
) -> pg_sys::TM_Result::Type {
    let key = table::row_key(table::table_id(rel), row_id_of(tid));
    let mut current = None;
    if let Some(result) = before_write(rel, &key, tid, cid, LockMode::Update, snapshot, crosscheck, wait, tmfd, &mut current) {
        return result;
    }
    if has_indexes(rel) {
        if let Some(old) = current_version(&key, current) {
            crate::index::remove_entries(rel, tid, &old, None);
        }
    }
    versions::note_write(&key, cid);
    if changing_part {
        txn::delete_moved(key, cid);
    } else {
        txn::delete(key, cid);
    }
    pg_sys::TM_Result::TM_Ok
}

#[pg_guard]
pub unsafe extern "C-unwind" fn tuple_update(
    rel: pg_sys::Relation,
    otid: pg_sys::ItemPointer,
    slot: *mut pg_sys::TupleTableSlot,
    cid: pg_sys::CommandId,
    snapshot: pg_sys::Snapshot,
    crosscheck: pg_sys::Snapshot,
    wait: bool,
    tmfd: *mut pg_sys::TM_FailureData,
    lockmode: *mut pg_sys::LockTupleMode::Type,
    update_indexes: *mut bool,
) -> pg_sys::TM_Result::Type {
    let key = table::row_key(table::table_id(rel), row_id_of(otid));
    // An UPDATE takes FOR NO KEY UPDATE strength; one that changes an
    // indexed column takes FOR UPDATE below (heap: only unique columns).
    *lockmode = pg_sys::LockTupleMode::LockTupleNoKeyExclusive;
    let mut current = None;
    if let Some(result) = before_write(rel, &key, otid, cid, LockMode::NoKeyUpdate, snapshot, crosscheck, wait, tmfd, &mut current) {
        return result;
    }
    *update_indexes = false;
    if has_indexes(rel) {
        if let Some(old) = current_version(&key, current) {
            *update_indexes = crate::index::remove_entries(rel, otid, &old, Some(slot));
        }
        if *update_indexes && txn::held_lock(&key, LockMode::NoKeyUpdate).is_some() {
            *lockmode = pg_sys::LockTupleMode::LockTupleExclusive;
            txn::lock_row(&key, LockMode::Update, txn::LockFor::Write, true, rel, otid);
        }
    }
    let mut value = Vec::new();
    datum::encode_slot(slot, &mut value);
    versions::note_write(&key, cid);
    txn::put(key, value, cid);
    set_written_tid(rel, slot, row_id_of(otid), cid, pg_sys::TRIGGER_EVENT_UPDATE);
    pg_sys::TM_Result::TM_Ok
}

#[pg_guard]
pub unsafe extern "C-unwind" fn tuple_fetch_row_version(
    rel: pg_sys::Relation,
    tid: pg_sys::ItemPointer,
    snapshot: pg_sys::Snapshot,
    slot: *mut pg_sys::TupleTableSlot,
) -> bool {
    let Some((key, value)) = fetch(rel, tid, snapshot) else { return false };
    store(rel, slot, &key, &value);
    // The old row an after-row trigger of an UPDATE or DELETE will fetch
    // again when it fires: name this version.
    let (block, offset) = item_pointer_get_both(*tid);
    let old_row_for_trigger = !snapshot.is_null()
        && (*snapshot).snapshot_type == pg_sys::SnapshotType::SNAPSHOT_ANY
        && RowId::from_tid(block, offset).is_some()
        && (versions::has_after_row_triggers(rel, pg_sys::TRIGGER_EVENT_UPDATE)
            || versions::has_after_row_triggers(rel, pg_sys::TRIGGER_EVENT_DELETE));
    if old_row_for_trigger {
        let which = Which::Before(command_before(&key));
        let (block, offset) = versions::name(Version { row: row_id_of(tid), which });
        item_pointer_set_all(&mut (*slot).tts_tid, block, offset);
    }
    true
}

#[pg_guard]
pub unsafe extern "C-unwind" fn tuple_tid_valid(_scan: pg_sys::TableScanDesc, tid: pg_sys::ItemPointer) -> bool {
    let (block, offset) = item_pointer_get_both(*tid);
    RowId::from_tid(block, offset).is_some()
}

/// Rows never move: the latest version of a row is always at its TID.
#[pg_guard]
pub unsafe extern "C-unwind" fn tuple_get_latest_tid(_scan: pg_sys::TableScanDesc, _tid: pg_sys::ItemPointer) {}

/// Whether the row version in `slot` is the one `snapshot` sees (ON
/// CONFLICT under REPEATABLE READ asks this of the row it found newest).
#[pg_guard]
pub unsafe extern "C-unwind" fn tuple_satisfies_snapshot(
    rel: pg_sys::Relation,
    slot: *mut pg_sys::TupleTableSlot,
    snapshot: pg_sys::Snapshot,
) -> bool {
    let visible = fetch(rel, &mut (*slot).tts_tid, snapshot);
    match (visible, crate::slot::row_bytes(slot)) {
        (Some((_, value)), Some(in_slot)) => value == in_slot,
        (visible, _) => visible.is_some(),
    }
}

/// `SELECT … FOR UPDATE / NO KEY UPDATE / SHARE / KEY SHARE` (and
/// EvalPlanQual's fetch of a row's newest version): lock the row on the
/// node and hand back the version locked.
#[pg_guard]
pub unsafe extern "C-unwind" fn tuple_lock(
    rel: pg_sys::Relation,
    tid: pg_sys::ItemPointer,
    snapshot: pg_sys::Snapshot,
    slot: *mut pg_sys::TupleTableSlot,
    cid: pg_sys::CommandId,
    mode: pg_sys::LockTupleMode::Type,
    wait_policy: pg_sys::LockWaitPolicy::Type,
    flags: u8,
    tmfd: *mut pg_sys::TM_FailureData,
) -> pg_sys::TM_Result::Type {
    let key = table::row_key(table::table_id(rel), row_id_of(tid));
    let mode = lock_mode(mode);
    if let Some(written_by) = txn::last_writer(&key) {
        if written_by > cid {
            // A later command of this transaction changed the row the
            // caller saw (a cursor's FOR UPDATE fetched after an UPDATE of
            // its rows): heap's "self-modified", which ExecLockRows skips.
            failure_data(tmfd, tid, written_by);
            return pg_sys::TM_Result::TM_SelfModified;
        }
        if written_by == cid {
            failure_data(tmfd, tid, written_by);
            // This very command wrote the row's newest version (ON CONFLICT
            // DO UPDATE meeting a row it inserted or updated itself): heap
            // answers "invisible" for a version its command created, with
            // the row in the slot for the caller to see whose it is.
            if let Some(value) = txn::lookup(&key, txn::SEE_ALL).flatten() {
                store(rel, slot, &key, &value);
                return pg_sys::TM_Result::TM_Invisible;
            }
            return pg_sys::TM_Result::TM_SelfModified;
        }
        // Our own row: inserted by us (nobody else can see it) or already
        // locked to be written.
        if txn::held_lock(&key, mode).is_some() || txn::held_lock(&key, LockMode::KeyShare).is_none() {
            return match txn::lookup(&key, txn::SEE_ALL).flatten() {
                Some(value) => {
                    store(rel, slot, &key, &value);
                    pg_sys::TM_Result::TM_Ok
                }
                None => {
                    failure_data(tmfd, tid, written_by);
                    pg_sys::TM_Result::TM_Deleted
                }
            };
        }
    }
    let wait = wait_policy == pg_sys::LockWaitPolicy::LockWaitBlock;
    let locked = lock_committed_row(rel, tid, &key, mode, txn::LockFor::Lock, wait, snapshot);
    if let (Some(written_by), RowLock::Held { .. }) = (txn::last_writer(&key), &locked) {
        // Our own version, locked weaker than now asked (a DELETE after this
        // transaction's UPDATE): the stronger lock is taken, and the row is
        // the version we wrote, not the node's committed one — nobody else
        // could change it since our write locked it.
        return match txn::lookup(&key, txn::SEE_ALL).flatten() {
            Some(value) => {
                failure_data(tmfd, tid, 0);
                store(rel, slot, &key, &value);
                pg_sys::TM_Result::TM_Ok
            }
            None => {
                failure_data(tmfd, tid, written_by);
                pg_sys::TM_Result::TM_Deleted
            }
        };
    }
    let (value, changed, moved) = match locked {
        RowLock::WouldBlock if wait_policy == pg_sys::LockWaitPolicy::LockWaitSkip => {
            failure_data(tmfd, tid, 0);
            return pg_sys::TM_Result::TM_WouldBlock;
        }
        RowLock::WouldBlock => raise(
            PgSqlErrorCode::ERRCODE_LOCK_NOT_AVAILABLE,
            format!("could not obtain lock on row in relation \"{}\"", table::relation_name(rel)),
        ),
        RowLock::Held { value, changed, moved } => (value, changed, moved),
    };
    failure_data(tmfd, tid, 0);
    let Some(value) = value else {
        if moved {
            return moved_away(tmfd, tid, flags & pg_sys::TUPLE_LOCK_FLAG_FIND_LAST_VERSION as u8 != 0);
        }
        return pg_sys::TM_Result::TM_Deleted;
    };
    // The caller found the row with a dirty snapshot (ON CONFLICT DO
    // UPDATE): heap locks the version found, or reports it updated — by
    // what it is, not by the statement's snapshot (which may not have
    // read anything yet: a row updated while the lock waited, its key
    // changed, was taken as the conflicting row).
    let changed = match dirty_fetched(&key) {
        Some(found) => found != value,
        None => changed,
    };
    if changed && mode == LockMode::KeyShare {
        // A key-share lock (a foreign key's check) does not conflict with
        // an update that kept the row's key: heap locks the version the
        // caller saw and returns it, in every isolation level.
        if let Some(seen) = version_with_same_key(rel, tid, snapshot, &key, &value) {
            store(rel, slot, &key, &seen);
            return pg_sys::TM_Result::TM_Ok;
        }
    }
    if changed {
        if flags & pg_sys::TUPLE_LOCK_FLAG_FIND_LAST_VERSION as u8 == 0 {
            return pg_sys::TM_Result::TM_Updated;
        }
        // The caller rechecks the newest version. An UPDATE that moves the
        // row to another partition comes back for it after the recheck
        // (a BEFORE DELETE trigger of the old partition locks it again):
        // heap's TID then names the newest version, which needs no second
        // recheck; Lyra's names the row, and answering "traversed" again
        // made the UPDATE recheck and retry forever. The lock held since
        // keeps the version newest.
        (*tmfd).traversed = !(moving_update(rel) && !txn::first_recheck(&key));
    }
    store(rel, slot, &key, &value);
    pg_sys::TM_Result::TM_Ok
}

/// Whether a row of `rel` may be locked twice by one UPDATE moving it to
/// another partition: `rel` is a partition with BEFORE DELETE row
/// triggers (which lock the row again, after the UPDATE's recheck).
unsafe fn moving_update(rel: pg_sys::Relation) -> bool {
    let triggers = (*rel).trigdesc;
    (*(*rel).rd_rel).relispartition && !triggers.is_null() && (*triggers).trig_delete_before_row
}

extern "C-unwind" {
    /// Whether two datums of one type have the same bytes (utils/datum.h).
    fn datumIsEqual(value1: pg_sys::Datum, value2: pg_sys::Datum, by_val: bool, len: std::ffi::c_int) -> bool;
}

/// The version of the row at `tid` that `snapshot` sees, if its key
/// columns (those of unique indexes a foreign key can reference: what
/// heap's "keys updated" flag is about) hold what they hold in `newest`.
unsafe fn version_with_same_key(
    rel: pg_sys::Relation,
    tid: pg_sys::ItemPointer,
    snapshot: pg_sys::Snapshot,
    key: &[u8],
    newest: &[u8],
) -> Option<Vec<u8>> {
    if snapshot.is_null() || (*snapshot).snapshot_type != pg_sys::SnapshotType::SNAPSHOT_MVCC {
        return None;
    }
    let (_, seen) = fetch(rel, tid, snapshot)?;
    let keys = pg_sys::RelationGetIndexAttrBitmap(rel, pg_sys::IndexAttrBitmapKind::INDEX_ATTR_BITMAP_KEY);
    let (a, b) = (pg_sys::table_slot_create(rel, std::ptr::null_mut()), pg_sys::table_slot_create(rel, std::ptr::null_mut()));
    store(rel, a, key, &seen);
    store(rel, b, key, newest);
    let mut same = true;
    let mut member = pg_sys::bms_next_member(keys, -1);
    while same && member >= 0 {
        let attnum = member + pg_sys::FirstLowInvalidHeapAttributeNumber;
        if attnum > 0 {
            let (mut null_a, mut null_b) = (false, false);
            let value_a = pg_sys::slot_getattr(a, attnum, &mut null_a);
            let value_b = pg_sys::slot_getattr(b, attnum, &mut null_b);
            let att = (*(*rel).rd_att).attrs.as_slice((*(*rel).rd_att).natts as usize)[attnum as usize - 1];
            same = null_a == null_b && (null_a || datumIsEqual(value_a, value_b, att.attbyval, att.attlen as std::ffi::c_int));
        }
        member = pg_sys::bms_next_member(keys, member);
    }
    pg_sys::ExecDropSingleTupleTableSlot(a);
    pg_sys::ExecDropSingleTupleTableSlot(b);
    pg_sys::bms_free(keys);
    same.then_some(seen)
}

#[pg_guard]
pub unsafe extern "C-unwind" fn finish_bulk_insert(_rel: pg_sys::Relation, _options: std::ffi::c_int) {}
