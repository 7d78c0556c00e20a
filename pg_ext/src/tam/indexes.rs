//! What index access methods ask of a table: the scan that builds an
//! index, and fetching the row an index entry points at.
//!
//! Every index build scans the table through here, whatever its access
//! method — so this is also where a non-Lyra index (a btree made by hand,
//! which would live on this server only) is refused.

use pgrx::pg_sys;
use pgrx::prelude::*;

use super::modify::fetch;
use super::scan::{store, Cursor};
use crate::error::raise;
use crate::{table, txn};

#[pg_guard]
pub unsafe extern "C-unwind" fn index_build_range_scan(
    table_rel: pg_sys::Relation,
    index_rel: pg_sys::Relation,
    info: *mut pg_sys::IndexInfo,
    _allow_sync: bool,
    _anyvisible: bool,
    _progress: bool,
    start_block: pg_sys::BlockNumber,
    num_blocks: pg_sys::BlockNumber,
    callback: pg_sys::IndexBuildCallback,
    callback_state: *mut std::ffi::c_void,
    _scan: pg_sys::TableScanDesc,
) -> f64 {
    if !crate::index::is_engine_index(index_rel) {
        raise(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!(
                "index \"{}\" on lyra table \"{}\" must use one of lyra's index access methods (lyra_index, lyra_gin, lyra_gist, lyra_spgist)",
                table::relation_name(index_rel),
                table::relation_name(table_rel)
            ),
        );
    }
    if start_block != 0 || num_blocks != pg_sys::InvalidBlockNumber {
        raise(PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED, "partial index build scans of lyra tables are not supported");
    }
    let Some(callback) = callback else { return 0.0 };
    let estate = pg_sys::CreateExecutorState();
    let econtext = pg_sys::MakePerTupleExprContext(estate);
    let slot = pg_sys::MakeSingleTupleTableSlot((*table_rel).rd_att, &crate::slot::LYRA_SLOT_OPS);
    (*econtext).ecxt_scantuple = slot;
    let predicate = pg_sys::ExecPrepareQual((*info).ii_Predicate, estate);
    let mut values = [pg_sys::Datum::from(0); pg_sys::INDEX_MAX_KEYS as usize];
    let mut isnull = [false; pg_sys::INDEX_MAX_KEYS as usize];
    // Every committed row, and this transaction's own.
    let mut cursor = Cursor::new(table::table_id(table_rel), txn::SEE_ALL, Default::default());
    let mut rows = 0.0;
    while let Some((key, value)) = cursor.next() {
        pg_sys::MemoryContextReset((*econtext).ecxt_per_tuple_memory);
        store(table_rel, slot, &key, &value);
        rows += 1.0;
        if !predicate.is_null() && !pg_sys::ExecQual(predicate, econtext) {
            continue;
        }
        pg_sys::FormIndexDatum(info, slot, estate, values.as_mut_ptr(), isnull.as_mut_ptr());
        callback(index_rel, &mut (*slot).tts_tid, values.as_mut_ptr(), isnull.as_mut_ptr(), true, callback_state);
    }
    pg_sys::ExecDropSingleTupleTableSlot(slot);
    pg_sys::FreeExecutorState(estate);
    (*info).ii_ExpressionsState = std::ptr::null_mut();
    (*info).ii_PredicateState = std::ptr::null_mut();
    rows
}

#[pg_guard]
pub unsafe extern "C-unwind" fn index_fetch_begin(rel: pg_sys::Relation) -> *mut pg_sys::IndexFetchTableData {
    let fetch = pg_sys::palloc0(std::mem::size_of::<pg_sys::IndexFetchTableData>()) as *mut pg_sys::IndexFetchTableData;
    (*fetch).rel = rel;
    fetch
}

#[pg_guard]
pub unsafe extern "C-unwind" fn index_fetch_reset(_data: *mut pg_sys::IndexFetchTableData) {}

#[pg_guard]
pub unsafe extern "C-unwind" fn index_fetch_end(data: *mut pg_sys::IndexFetchTableData) {
    pg_sys::pfree(data.cast());
}

/// The row at `tid` visible to `snapshot`. Rows never move or leave dead
/// versions behind, so there is never a next version to call again for.
#[pg_guard]
pub unsafe extern "C-unwind" fn index_fetch_tuple(
    data: *mut pg_sys::IndexFetchTableData,
    tid: pg_sys::ItemPointer,
    snapshot: pg_sys::Snapshot,
    slot: *mut pg_sys::TupleTableSlot,
    call_again: *mut bool,
    all_dead: *mut bool,
) -> bool {
    *call_again = false;
    if !all_dead.is_null() {
        *all_dead = false;
    }
    let rel = (*data).rel;
    match fetch(rel, tid, snapshot) {
        Some((key, value)) => {
            store(rel, slot, &key, &value);
            true
        }
        None => false,
    }
}
