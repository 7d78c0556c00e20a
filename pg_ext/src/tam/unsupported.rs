//! Callbacks for what Lyra tables do not support yet, each a clear ERROR.
//!
//! * `CREATE INDEX CONCURRENTLY`'s validation scan (the utility hook turns
//!   it into a plain build), index deletion hints (no dead versions).
//! * Parallel scans (the planner hook keeps them out of plans;
//!   `scan_begin` refuses a parallel descriptor).
//! * TOAST — Lyra stores values detoasted, so no toast table exists.

use pgrx::pg_sys;
use crate::error::raise;
use pgrx::prelude::*;

fn not_supported(what: &str) -> ! {
    raise(PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED, format!("{what} on lyra tables are not supported yet"));
}

fn indexes() -> ! {
    not_supported("concurrent index builds")
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
pub unsafe extern "C-unwind" fn index_delete_tuples(
    _rel: pg_sys::Relation,
    _delstate: *mut pg_sys::TM_IndexDeleteOp,
) -> pg_sys::TransactionId {
    not_supported("index deletion hints")
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

