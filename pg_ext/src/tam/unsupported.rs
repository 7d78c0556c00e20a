//! Callbacks for what Lyra tables do not support yet, each a clear ERROR.
//!
//! * `CREATE INDEX CONCURRENTLY`'s validation scan (the utility hook turns
//!   it into a plain build), index deletion hints (no dead versions).
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

