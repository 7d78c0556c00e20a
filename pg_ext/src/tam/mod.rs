//! The table access method `lyra`: the callback table Postgres calls for
//! every table created `USING lyra`. Like OrioleDB's handler it is just a
//! table of callbacks that delegate:
//!
//! * [`scan`] — sequential, TID-range and ANALYZE scans (merging the
//!   transaction's own writes over committed rows);
//! * [`bitmap`] — bitmap heap scans: a TID block's rows, or several
//!   blocks' named rows, a request;
//! * [`modify`] — insert, COPY, update, delete, fetch by TID;
//! * [`indexes`] — what index AMs ask of a table: the build scan, fetches
//!   by TID;
//! * [`ddl`] — create/truncate/rewrite/move, size estimates, vacuum;
//! * [`versions`] — TIDs naming one version of a row, for after-row
//!   triggers;
//! * [`unsupported`] — clear errors for what is not built yet.
//!
//! Slots are Lyra slots ([`crate::slot`]): a row's bytes, decoded lazily.

// Callback signatures are Postgres's, argument counts included.
#![allow(clippy::too_many_arguments)]

mod bitmap;
mod ddl;
mod indexes;
mod modify;
mod parallel;
mod sample;
mod scan;
mod unsupported;
pub mod versions;

pub use bitmap::note_bitmap_scans;
pub use modify::{inserting_xid, locking_xid, prefetched, prefetched_checked, row_id_of, statement_started};
pub use scan::{push_columns, push_filter, snapshot_cid, Cursor};

use pgrx::pg_sys;
use pgrx::prelude::*;


#[pg_guard]
unsafe extern "C-unwind" fn slot_callbacks(_rel: pg_sys::Relation) -> *const pg_sys::TupleTableSlotOps {
    &crate::slot::LYRA_SLOT_OPS
}

pub static LYRA_AM: pg_sys::TableAmRoutine = pg_sys::TableAmRoutine {
    type_: pg_sys::NodeTag::T_TableAmRoutine,
    slot_callbacks: Some(slot_callbacks),
    scan_begin: Some(scan::scan_begin),
    scan_end: Some(scan::scan_end),
    scan_rescan: Some(scan::scan_rescan),
    scan_getnextslot: Some(scan::scan_getnextslot),
    scan_set_tidrange: Some(scan::scan_set_tidrange),
    scan_getnextslot_tidrange: Some(scan::scan_getnextslot),
    parallelscan_estimate: Some(parallel::parallelscan_estimate),
    parallelscan_initialize: Some(parallel::parallelscan_initialize),
    parallelscan_reinitialize: Some(parallel::parallelscan_reinitialize),
    index_fetch_begin: Some(indexes::index_fetch_begin),
    index_fetch_reset: Some(indexes::index_fetch_reset),
    index_fetch_end: Some(indexes::index_fetch_end),
    index_fetch_tuple: Some(indexes::index_fetch_tuple),
    tuple_fetch_row_version: Some(modify::tuple_fetch_row_version),
    tuple_tid_valid: Some(modify::tuple_tid_valid),
    tuple_get_latest_tid: Some(modify::tuple_get_latest_tid),
    tuple_satisfies_snapshot: Some(modify::tuple_satisfies_snapshot),
    index_delete_tuples: Some(unsupported::index_delete_tuples),
    tuple_insert: Some(modify::tuple_insert),
    tuple_insert_speculative: Some(modify::tuple_insert_speculative),
    tuple_complete_speculative: Some(modify::tuple_complete_speculative),
    multi_insert: Some(modify::multi_insert),
    tuple_delete: Some(modify::tuple_delete),
    tuple_update: Some(modify::tuple_update),
    tuple_lock: Some(modify::tuple_lock),
    finish_bulk_insert: Some(modify::finish_bulk_insert),
    relation_set_new_filenode: Some(ddl::relation_set_new_filenode),
    relation_nontransactional_truncate: Some(ddl::relation_nontransactional_truncate),
    relation_copy_data: Some(ddl::relation_copy_data),
    relation_copy_for_cluster: Some(ddl::relation_copy_for_cluster),
    relation_vacuum: Some(ddl::relation_vacuum),
    scan_analyze_next_block: Some(scan::scan_analyze_next_block),
    scan_analyze_next_tuple: Some(scan::scan_analyze_next_tuple),
    index_build_range_scan: Some(indexes::index_build_range_scan),
    index_validate_scan: Some(unsupported::index_validate_scan),
    relation_size: Some(ddl::relation_size),
    relation_needs_toast_table: Some(ddl::relation_needs_toast_table),
    relation_toast_am: Some(ddl::relation_toast_am),
    relation_fetch_toast_slice: Some(unsupported::relation_fetch_toast_slice),
    relation_estimate_size: Some(ddl::relation_estimate_size),
    scan_bitmap_next_block: Some(bitmap::scan_bitmap_next_block),
    scan_bitmap_next_tuple: Some(bitmap::scan_bitmap_next_tuple),
    scan_sample_next_block: Some(sample::scan_sample_next_block),
    scan_sample_next_tuple: Some(sample::scan_sample_next_tuple),
};

/// Whether `rel` is stored by Lyra.
pub unsafe fn is_lyra(rel: pg_sys::Relation) -> bool {
    !rel.is_null() && std::ptr::eq((*rel).rd_tableam, &LYRA_AM)
}

/// `lyra.lyra_tam_handler(internal) RETURNS table_am_handler`, declared in
/// `sql/lyra_am.sql`.
#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn lyra_tam_handler(_fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    pg_sys::Datum::from(&raw const LYRA_AM as *const std::ffi::c_void as usize)
}

#[no_mangle]
pub extern "C" fn pg_finfo_lyra_tam_handler() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}
