//! Callbacks for what Lyra tables do not support yet, each a clear ERROR.
//!
//! * Indexes (`CREATE INDEX`, `PRIMARY KEY`, `UNIQUE`) — an index on a Lyra
//!   table must live in the engine (`lyra_index`, indexes issue); a
//!   node-local btree would be wrong once the table is distributed.
//! * `INSERT ... ON CONFLICT` — needs a unique index.
//! * `TABLESAMPLE`, parallel scans (the planner hook keeps them out of plans;
//!   `scan_begin` refuses a parallel descriptor).
//! * TOAST — Lyra stores values detoasted, so no toast table exists.

use pgrx::pg_sys;
use crate::error::raise;
use pgrx::prelude::*;

fn not_supported(what: &str) -> ! {
    raise(PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED, format!("{what} on lyra tables are not supported yet"));
}

fn indexes() -> ! {
    not_supported("indexes (CREATE INDEX, PRIMARY KEY, UNIQUE)")
}

#[pg_guard]
pub unsafe extern "C-unwind" fn index_build_range_scan(
    _table_rel: pg_sys::Relation,
    _index_rel: pg_sys::Relation,
    _index_info: *mut pg_sys::IndexInfo,
    _allow_sync: bool,
    _anyvisible: bool,
    _progress: bool,
    _start_blockno: pg_sys::BlockNumber,
    _numblocks: pg_sys::BlockNumber,
    _callback: pg_sys::IndexBuildCallback,
    _callback_state: *mut std::ffi::c_void,
    _scan: pg_sys::TableScanDesc,
) -> f64 {
    indexes()
}

#[pg_guard]
pub unsafe extern "C-unwind" fn index_validate_scan(
    _table_rel: pg_sys::Relation,
    _index_rel: pg_sys::Relation,
    _index_info: *mut pg_sys::IndexInfo,
    _snapshot: pg_sys::Snapshot,
    _state: *mut pg_sys::ValidateIndexState,
) {
    indexes()
}

#[pg_guard]
pub unsafe extern "C-unwind" fn index_fetch_begin(_rel: pg_sys::Relation) -> *mut pg_sys::IndexFetchTableData {
    indexes()
}

#[pg_guard]
pub unsafe extern "C-unwind" fn index_fetch_reset(_data: *mut pg_sys::IndexFetchTableData) {}

#[pg_guard]
pub unsafe extern "C-unwind" fn index_fetch_end(_data: *mut pg_sys::IndexFetchTableData) {}

#[pg_guard]
pub unsafe extern "C-unwind" fn index_fetch_tuple(
    _scan: *mut pg_sys::IndexFetchTableData,
    _tid: pg_sys::ItemPointer,
    _snapshot: pg_sys::Snapshot,
    _slot: *mut pg_sys::TupleTableSlot,
    _call_again: *mut bool,
    _all_dead: *mut bool,
) -> bool {
    indexes()
}

#[pg_guard]
pub unsafe extern "C-unwind" fn index_delete_tuples(
    _rel: pg_sys::Relation,
    _delstate: *mut pg_sys::TM_IndexDeleteOp,
) -> pg_sys::TransactionId {
    indexes()
}

#[pg_guard]
pub unsafe extern "C-unwind" fn tuple_insert_speculative(
    _rel: pg_sys::Relation,
    _slot: *mut pg_sys::TupleTableSlot,
    _cid: pg_sys::CommandId,
    _options: std::ffi::c_int,
    _bistate: *mut pg_sys::BulkInsertStateData,
    _spec_token: u32,
) {
    not_supported("INSERT ... ON CONFLICT statements")
}

#[pg_guard]
pub unsafe extern "C-unwind" fn tuple_complete_speculative(
    _rel: pg_sys::Relation,
    _slot: *mut pg_sys::TupleTableSlot,
    _spec_token: u32,
    _succeeded: bool,
) {
    not_supported("INSERT ... ON CONFLICT statements")
}

/// Shared-memory set-up of a parallel scan: the generic block-based one, so
/// that a parallel index build reaches `index_build_range_scan` and fails
/// there with the message about indexes. The planner never plans a parallel
/// scan of a Lyra table, and `scan_begin` refuses a parallel descriptor.
#[pg_guard]
pub unsafe extern "C-unwind" fn parallelscan_estimate(rel: pg_sys::Relation) -> pg_sys::Size {
    pg_sys::table_block_parallelscan_estimate(rel)
}

#[pg_guard]
pub unsafe extern "C-unwind" fn parallelscan_initialize(
    rel: pg_sys::Relation,
    pscan: pg_sys::ParallelTableScanDesc,
) -> pg_sys::Size {
    pg_sys::table_block_parallelscan_initialize(rel, pscan)
}

#[pg_guard]
pub unsafe extern "C-unwind" fn parallelscan_reinitialize(rel: pg_sys::Relation, pscan: pg_sys::ParallelTableScanDesc) {
    pg_sys::table_block_parallelscan_reinitialize(rel, pscan)
}

#[pg_guard]
pub unsafe extern "C-unwind" fn relation_fetch_toast_slice(
    _toastrel: pg_sys::Relation,
    _valueid: pg_sys::Oid,
    _attrsize: i32,
    _sliceoffset: i32,
    _slicelength: i32,
    _result: *mut pg_sys::varlena,
) {
    not_supported("TOAST tables")
}

#[pg_guard]
pub unsafe extern "C-unwind" fn scan_bitmap_next_block(
    _scan: pg_sys::TableScanDesc,
    _tbmres: *mut pg_sys::TBMIterateResult,
) -> bool {
    indexes()
}

#[pg_guard]
pub unsafe extern "C-unwind" fn scan_bitmap_next_tuple(
    _scan: pg_sys::TableScanDesc,
    _tbmres: *mut pg_sys::TBMIterateResult,
    _slot: *mut pg_sys::TupleTableSlot,
) -> bool {
    indexes()
}

#[pg_guard]
pub unsafe extern "C-unwind" fn scan_sample_next_block(
    _scan: pg_sys::TableScanDesc,
    _scanstate: *mut pg_sys::SampleScanState,
) -> bool {
    not_supported("TABLESAMPLE scans")
}

#[pg_guard]
pub unsafe extern "C-unwind" fn scan_sample_next_tuple(
    _scan: pg_sys::TableScanDesc,
    _scanstate: *mut pg_sys::SampleScanState,
    _slot: *mut pg_sys::TupleTableSlot,
) -> bool {
    not_supported("TABLESAMPLE scans")
}
