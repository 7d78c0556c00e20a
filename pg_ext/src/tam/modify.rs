//! Row writes and point reads: insert, COPY's multi-insert, update, delete,
//! and fetching one row by TID.
//!
//! Every write goes to the transaction's buffer ([`crate::txn`]) tagged with
//! the command id, and becomes durable at commit. A row keeps its row id —
//! and so its TID — across UPDATE, since the id is the key's suffix.
//!
//! Not here yet (transactions issue): row locks, and the `TM_Updated` /
//! `TM_Deleted` results that make concurrent writers wait and re-check.
//! Until then the last committer of a row wins.

use lyra_engine::keys::RowId;
use pgrx::itemptr::{item_pointer_get_both, item_pointer_set_all};
use pgrx::pg_sys;
use crate::error::raise;
use pgrx::prelude::*;

use super::scan::{snapshot_cid, store};
use crate::{datum, node_link, table, txn};

pub unsafe fn row_id_of(tid: pg_sys::ItemPointer) -> RowId {
    let (block, offset) = item_pointer_get_both(*tid);
    match RowId::from_tid(block, offset) {
        Some(row) => row,
        None => raise(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("({block},{offset}) is not a valid TID of a lyra table")
        ),
    }
}

unsafe fn insert(rel: pg_sys::Relation, slot: *mut pg_sys::TupleTableSlot, cid: pg_sys::CommandId) {
    let table = table::table_id(rel);
    let row = table::next_row_id(table);
    let mut value = Vec::new();
    datum::encode_slot(slot, &mut value);
    txn::put(table::row_key(table, row), value, cid);
    let (block, offset) = row.to_tid();
    item_pointer_set_all(&mut (*slot).tts_tid, block, offset);
    (*slot).tts_tableOid = (*rel).rd_id;
}

/// The visible encoded row at `tid`, if any.
pub unsafe fn fetch(rel: pg_sys::Relation, tid: pg_sys::ItemPointer, cid: pg_sys::CommandId) -> Option<(Vec<u8>, Vec<u8>)> {
    let key = table::row_key(table::table_id(rel), row_id_of(tid));
    let value = match txn::lookup(&key, cid) {
        Some(buffered) => buffered,
        None => node_link::with_node(|c, w| c.get(key.clone(), w)),
    }?;
    Some((key, value))
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
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn tuple_delete(
    rel: pg_sys::Relation,
    tid: pg_sys::ItemPointer,
    cid: pg_sys::CommandId,
    _snapshot: pg_sys::Snapshot,
    _crosscheck: pg_sys::Snapshot,
    _wait: bool,
    _tmfd: *mut pg_sys::TM_FailureData,
    _changing_part: bool,
) -> pg_sys::TM_Result::Type {
    let key = table::row_key(table::table_id(rel), row_id_of(tid));
    txn::delete(key, cid);
    pg_sys::TM_Result::TM_Ok
}

#[pg_guard]
pub unsafe extern "C-unwind" fn tuple_update(
    rel: pg_sys::Relation,
    otid: pg_sys::ItemPointer,
    slot: *mut pg_sys::TupleTableSlot,
    cid: pg_sys::CommandId,
    _snapshot: pg_sys::Snapshot,
    _crosscheck: pg_sys::Snapshot,
    _wait: bool,
    _tmfd: *mut pg_sys::TM_FailureData,
    lockmode: *mut pg_sys::LockTupleMode::Type,
    update_indexes: *mut bool,
) -> pg_sys::TM_Result::Type {
    let key = table::row_key(table::table_id(rel), row_id_of(otid));
    let mut value = Vec::new();
    datum::encode_slot(slot, &mut value);
    txn::put(key, value, cid);
    (*slot).tts_tid = *otid;
    (*slot).tts_tableOid = (*rel).rd_id;
    *lockmode = pg_sys::LockTupleMode::LockTupleExclusive;
    *update_indexes = false;
    pg_sys::TM_Result::TM_Ok
}

#[pg_guard]
pub unsafe extern "C-unwind" fn tuple_fetch_row_version(
    rel: pg_sys::Relation,
    tid: pg_sys::ItemPointer,
    snapshot: pg_sys::Snapshot,
    slot: *mut pg_sys::TupleTableSlot,
) -> bool {
    match fetch(rel, tid, snapshot_cid(snapshot)) {
        Some((key, value)) => {
            store(rel, slot, &key, &value);
            true
        }
        None => false,
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn tuple_tid_valid(_scan: pg_sys::TableScanDesc, tid: pg_sys::ItemPointer) -> bool {
    let (block, offset) = item_pointer_get_both(*tid);
    RowId::from_tid(block, offset).is_some()
}

/// Rows never move: the latest version of a row is always at its TID.
#[pg_guard]
pub unsafe extern "C-unwind" fn tuple_get_latest_tid(_scan: pg_sys::TableScanDesc, _tid: pg_sys::ItemPointer) {}

#[pg_guard]
pub unsafe extern "C-unwind" fn tuple_satisfies_snapshot(
    rel: pg_sys::Relation,
    slot: *mut pg_sys::TupleTableSlot,
    snapshot: pg_sys::Snapshot,
) -> bool {
    fetch(rel, &mut (*slot).tts_tid, snapshot_cid(snapshot)).is_some()
}

#[pg_guard]
pub unsafe extern "C-unwind" fn tuple_lock(
    _rel: pg_sys::Relation,
    _tid: pg_sys::ItemPointer,
    _snapshot: pg_sys::Snapshot,
    _slot: *mut pg_sys::TupleTableSlot,
    _cid: pg_sys::CommandId,
    _mode: pg_sys::LockTupleMode::Type,
    _wait_policy: pg_sys::LockWaitPolicy::Type,
    _flags: u8,
    _tmfd: *mut pg_sys::TM_FailureData,
) -> pg_sys::TM_Result::Type {
    raise(PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
        "row locks (SELECT ... FOR UPDATE/SHARE) on lyra tables are not supported yet"
    );
}

#[pg_guard]
pub unsafe extern "C-unwind" fn finish_bulk_insert(_rel: pg_sys::Relation, _options: std::ffi::c_int) {}
