//! Table-level callbacks: create, truncate, rewrite, move, size, vacuum.
//!
//! Storage identity follows the relfilenode (see [`crate::table`]):
//!
//! | Postgres does | Lyra does |
//! |---|---|
//! | CREATE TABLE, TRUNCATE, rewrite: new relfilenode | a new, empty table id mapped to it; a replaced relfilenode's table is dropped at commit |
//! | TRUNCATE of a table created in this transaction | hide and range-delete its rows |
//! | SET TABLESPACE: copy to a new relfilenode | map the new relfilenode to the same table id |
//! | VACUUM FULL: copy live rows to a new relfilenode | copy the encoded rows, keeping their row ids |
//! | CLUSTER: copy them in an index's order | sort them by the index's key, new row ids from 0 in that order |
//! | VACUUM | nothing to do: space is reclaimed by the engine |
//!
//! Postgres still gets an empty storage file per relfilenode
//! (`RelationCreateStorage`), so its own bookkeeping — relfilenode
//! uniqueness, deleting files of rolled-back creations and dropped tables —
//! works unchanged; nothing is ever written to that file or to WAL.

use lyra_engine::keys::RowId;
use pgrx::pg_sys;
use crate::error::raise;
use pgrx::prelude::*;

use super::scan::Cursor;
use crate::{table, txn};

unsafe fn create_storage_file(node: *const pg_sys::RelFileNode, persistence: std::ffi::c_char) {
    let srel = pg_sys::RelationCreateStorage(*node, persistence, true);
    pg_sys::smgrclose(srel);
}

#[pg_guard]
pub unsafe extern "C-unwind" fn relation_set_new_filenode(
    rel: pg_sys::Relation,
    newrnode: *const pg_sys::RelFileNode,
    persistence: std::ffi::c_char,
    freeze_xid: *mut pg_sys::TransactionId,
    minmulti: *mut pg_sys::MultiXactId,
) {
    // Lyra rows carry no Postgres xids: nothing ever needs freezing.
    *freeze_xid = pg_sys::InvalidTransactionId;
    *minmulti = pg_sys::InvalidTransactionId; // == InvalidMultiXactId (0)
    create_storage_file(newrnode, persistence);
    let old = (*rel).rd_node;
    let new = *newrnode;
    if !table::same_node(&old, &new) {
        table::drop(&old);
    }
    table::create(&new, table::KeyFormat::Bytes);
}

#[pg_guard]
pub unsafe extern "C-unwind" fn relation_nontransactional_truncate(rel: pg_sys::Relation) {
    table::delete_all_rows(table::table_id(rel));
}

#[pg_guard]
pub unsafe extern "C-unwind" fn relation_copy_data(rel: pg_sys::Relation, newrnode: *const pg_sys::RelFileNode) {
    create_storage_file(newrnode, (*(*rel).rd_rel).relpersistence);
    table::remap(&(*rel).rd_node, &*newrnode, table::mapping_of(rel));
    // The old file goes at commit, as heap's does (it stayed behind, and
    // DROP TABLESPACE found the tablespace not empty).
    pg_sys::RelationDropStorage(rel);
}

#[pg_guard]
pub unsafe extern "C-unwind" fn relation_copy_for_cluster(
    old_table: pg_sys::Relation,
    new_table: pg_sys::Relation,
    old_index: pg_sys::Relation,
    _use_sort: bool,
    _oldest_xmin: pg_sys::TransactionId,
    _xid_cutoff: *mut pg_sys::TransactionId,
    _multi_cutoff: *mut pg_sys::MultiXactId,
    num_tuples: *mut f64,
    tups_vacuumed: *mut f64,
    tups_recently_dead: *mut f64,
) {
    let from = table::table_id(old_table);
    let to = table::table_id(new_table);
    *tups_vacuumed = 0.0;
    *tups_recently_dead = 0.0;
    if !old_index.is_null() {
        *num_tuples = copy_in_index_order(old_table, old_index, to) as f64;
        return;
    }
    let cid = table::current_cid();
    let mut cursor = Cursor::new(from, txn::SEE_ALL, crate::snapshot::ReadTs::default());
    let mut copied = 0.0;
    while let Some((key, value)) = cursor.next() {
        let row = match lyra_engine::keys::Key::decode(&key) {
            Ok(lyra_engine::keys::Key::Row { row, .. }) => row,
            _ => raise(PgSqlErrorCode::ERRCODE_DATA_CORRUPTED, "lyra scan returned a key that is not a row key"),
        };
        txn::put(table::row_key(to, row), value.to_vec(), cid);
        copied += 1.0;
    }
    table::reserve_row_ids_below(to, table::row_id_high_water(from));
    *num_tuples = copied;
}

/// CLUSTER's copy: the rows of `old_table` sorted by `index`'s key (a
/// lyra_index: btree's comparison functions, which Postgres's cluster
/// sort takes from it, so expressions, `DESC` and `NULLS FIRST` sort as
/// heap's CLUSTER sorts them), written to table `to` under new row ids from 0
/// in that order — so a scan returns them in the index's order, as it
/// does heap's rewritten file. Returns how many.
///
/// # Safety
/// `old_table` and `index` are open; `to` is the new table of the same
/// row type, created by this transaction and empty.
unsafe fn copy_in_index_order(old_table: pg_sys::Relation, index: pg_sys::Relation, to: lyra_engine::keys::TableId) -> u64 {
    let tupdesc = (*old_table).rd_att;
    // The cluster sort accepts only a btree (by its access method's oid;
    // the rest it takes from the index's support functions, btree's): the
    // index's cache entry names btree while the sort starts.
    let am = (*(*index).rd_rel).relam;
    (*(*index).rd_rel).relam = pg_sys::BTREE_AM_OID;
    let sort = pg_sys::PgTryBuilder::new(|| {
        pg_sys::tuplesort_begin_cluster(tupdesc, index, pg_sys::maintenance_work_mem, std::ptr::null_mut(), pg_sys::TUPLESORT_NONE as i32)
    })
    .finally(|| (*(*index).rd_rel).relam = am)
    .execute();
    let read = pg_sys::table_slot_create(old_table, std::ptr::null_mut());
    let mut cursor = Cursor::new(table::table_id(old_table), txn::SEE_ALL, crate::snapshot::ReadTs::default());
    while let Some((key, value)) = cursor.next() {
        super::scan::store(old_table, read, &key, &value);
        pg_sys::slot_getsomeattrs_int(read, (*tupdesc).natts);
        let tuple = pg_sys::heap_form_tuple(tupdesc, (*read).tts_values, (*read).tts_isnull);
        pg_sys::tuplesort_putheaptuple(sort, tuple);
        pg_sys::heap_freetuple(tuple);
    }
    pg_sys::tuplesort_performsort(sort);
    let sorted = pg_sys::MakeSingleTupleTableSlot(tupdesc, &pg_sys::TTSOpsHeapTuple);
    let cid = table::current_cid();
    let mut copied = 0;
    loop {
        let tuple = pg_sys::tuplesort_getheaptuple(sort, true);
        if tuple.is_null() {
            break;
        }
        pg_sys::ExecStoreHeapTuple(tuple, sorted, false);
        let mut value = Vec::new();
        crate::datum::encode_slot(sorted, &mut value);
        txn::put(table::row_key(to, RowId(copied)), value, cid);
        copied += 1;
    }
    pg_sys::ExecDropSingleTupleTableSlot(sorted);
    pg_sys::ExecDropSingleTupleTableSlot(read);
    pg_sys::tuplesort_end(sort);
    table::reserve_row_ids_below(to, copied);
    copied
}

#[pg_guard]
pub unsafe extern "C-unwind" fn relation_vacuum(
    _rel: pg_sys::Relation,
    _params: *mut pg_sys::VacuumParams,
    _bstrategy: pg_sys::BufferAccessStrategy,
) {
}

/// Size in "blocks" of 291 row ids, up to the highest id ever allocated —
/// what ANALYZE samples and TID scans bound themselves by.
#[pg_guard]
pub unsafe extern "C-unwind" fn relation_size(rel: pg_sys::Relation, fork: pg_sys::ForkNumber::Type) -> u64 {
    if fork != pg_sys::ForkNumber::MAIN_FORKNUM && fork != pg_sys::ForkNumber::InvalidForkNumber {
        return 0;
    }
    row_id_blocks(rel) * pg_sys::BLCKSZ as u64
}

/// How many blocks of 291 row ids `rel` spans, up to the highest id ever
/// allocated (what relation_size reports, and TABLESAMPLE samples from).
pub(super) fn row_id_blocks(rel: pg_sys::Relation) -> u64 {
    blocks(table::row_id_high_water(table::table_id(rel)))
}

fn blocks(high_water: u64) -> u64 {
    high_water.div_ceil(RowId::TUPLES_PER_BLOCK)
}

#[pg_guard]
pub unsafe extern "C-unwind" fn relation_estimate_size(
    rel: pg_sys::Relation,
    attr_widths: *mut i32,
    pages: *mut pg_sys::BlockNumber,
    tuples: *mut f64,
    allvisfrac: *mut f64,
) {
    let high_water = table::row_id_high_water_estimate(table::table_id(rel));
    let mut cur_pages = blocks(high_water);
    let relpages = (*(*rel).rd_rel).relpages;
    let reltuples = (*(*rel).rd_rel).reltuples;
    // After ANALYZE, scale its density to today's size; before, assume every
    // row id handed out is a live row (an overestimate after deletes).
    *tuples = if relpages > 0 && reltuples >= 0.0 {
        (reltuples as f64 / relpages as f64 * cur_pages as f64).round()
    } else {
        high_water as f64
    };
    // Never analyzed: heap's rule, at least ten pages' worth of rows of this
    // width — a table just created and being filled is not planned for as
    // if it were to stay tiny (an inheritance parent is often empty: not it).
    if relpages == 0 && !(*(*rel).rd_rel).relhassubclass {
        let width = pg_sys::get_rel_data_width(rel, attr_widths) as usize + HEAP_TUPLE_OVERHEAD;
        let width = width.next_multiple_of(8);
        let density = (pg_sys::BLCKSZ as usize - PAGE_HEADER) / width;
        *tuples = (*tuples).max((density * MIN_UNANALYZED_PAGES as usize) as f64);
        cur_pages = cur_pages.max(MIN_UNANALYZED_PAGES);
    }
    *pages = cur_pages.min(u32::MAX as u64 - 1) as pg_sys::BlockNumber;
    *allvisfrac = 0.0;
}

/// Pages a never-analyzed table is assumed to have at least (heap's rule).
const MIN_UNANALYZED_PAGES: u64 = 10;
/// What heap adds to each row's data in a page (tuple header, line
/// pointer) and what a page header takes: the density heap assumes.
const HEAP_TUPLE_OVERHEAD: usize = 24 + 4;
const PAGE_HEADER: usize = 24;

#[pg_guard]
pub unsafe extern "C-unwind" fn relation_needs_toast_table(_rel: pg_sys::Relation) -> bool {
    false
}

#[pg_guard]
pub unsafe extern "C-unwind" fn relation_toast_am(_rel: pg_sys::Relation) -> pg_sys::Oid {
    pg_sys::InvalidOid
}
