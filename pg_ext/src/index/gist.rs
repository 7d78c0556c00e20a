//! The index access methods `lyra_gist` and `lyra_spgist`: GiST's and
//! SP-GiST's operator classes (geometry, ranges, inet, full text search)
//! over entries stored in the engine, written in the same transaction as
//! the row, like [`lyra_index`](super)'s.
//!
//! `CREATE INDEX … USING gist` (or `spgist`) on a Lyra table makes one:
//! the index is created with GiST's classes and turned into a lyra_gist
//! before it is built, bound to lyra_gist's classes of the same names
//! (copies of the core ones, made at `CREATE EXTENSION`), so the
//! definition Postgres prints and rebuilds it from (`ALTER COLUMN … TYPE`,
//! pg_dump) names lyra_gist (see `btree_classes::adopt`).
//!
//! One entry per row, in the index's key range, its value empty:
//!
//! ```text
//!   the row's key column values (Lyra's row codec, datum.rs) · row id
//! ```
//!
//! The values are those the operators take (a polygon, not the bounding
//! box GiST keeps of it). A scan reads every entry of the index, decodes
//! its values and evaluates each condition's operator on them, exactly —
//! the class's `consistent` is not needed — and an `ORDER BY` operator
//! (`p <-> point '(0,0)'`, nearest first) is evaluated and sorted by the
//! same way. So a scan costs a read of the whole index: what these
//! indexes give a Lyra table is GiST's and SP-GiST's *operators* in index
//! scans (ordered nearest-first scans without a sort of the table, and
//! DDL written for GiST that works), not a sub-linear search.
//!
//! Exclusion constraints (`EXCLUDE USING gist (r WITH &&)`) work through
//! them, their checks taken in turns ([`super::take_exclusion_turn`]).
//!
//! Limits: scans run forward only; no index-only scans; no `CLUSTER`; a
//! row's values are stored whole in its entry.

// Callback signatures are Postgres's, argument counts included.
#![allow(clippy::too_many_arguments)]

use std::cell::RefCell;
use std::collections::HashMap;

use lyra_engine::keys::{memcmp, Key, KeyPrefix, RowId, TableId};
use pgrx::itemptr::item_pointer_set_all;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgMemoryContexts;

use crate::datum;
use crate::error::raise;
use crate::snapshot::{self, ReadTs};
use crate::tam::{row_id_of, snapshot_cid, Cursor};
use crate::{table, txn};

/// `lyra.lyra_gist_handler(internal) RETURNS index_am_handler`.
#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn lyra_gist_handler(_fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    super::handler_result(gist_routine())
}

fn gist_routine() -> pg_sys::IndexAmRoutine {
    pg_sys::IndexAmRoutine {
        // As GiST: no fixed strategies, its support functions and options.
        amstrategies: 0,
        amsupport: pg_sys::GISTNProcs as u16,
        amoptsprocnum: pg_sys::GIST_OPTIONS_PROC as u16,
        amcanmulticol: true,
        amoptions: Some(gist_options),
        ..routine()
    }
}

/// `lyra.lyra_spgist_handler(internal) RETURNS index_am_handler`.
#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn lyra_spgist_handler(_fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    super::handler_result(spgist_routine())
}

fn spgist_routine() -> pg_sys::IndexAmRoutine {
    pg_sys::IndexAmRoutine {
        // As SP-GiST (spgist.h): SPGISTNProc, SPGIST_OPTIONS_PROC.
        amstrategies: 0,
        amsupport: 7,
        amoptsprocnum: 7,
        amcanmulticol: false,
        amoptions: Some(spgist_options),
        ..routine()
    }
}

/// The routine of `am` if it is lyra_gist or lyra_spgist.
pub fn routine_of(am: &std::ffi::CStr) -> Option<pg_sys::IndexAmRoutine> {
    match am.to_bytes() {
        b"lyra_gist" => Some(gist_routine()),
        b"lyra_spgist" => Some(spgist_routine()),
        _ => None,
    }
}

/// What lyra_gist and lyra_spgist share.
fn routine() -> pg_sys::IndexAmRoutine {
    pg_sys::IndexAmRoutine {
        amcanorder: false,
        // Nearest-first scans: `ORDER BY column <-> constant`.
        amcanorderbyop: true,
        amcanbackward: false,
        amcanunique: false,
        amoptionalkey: true,
        amsearcharray: false,
        amsearchnulls: true,
        amstorage: true,
        amcaninclude: true,
        // CLUSTER's sort is btree's (tam/ddl.rs).
        amclusterable: false,
        ambuild: Some(build),
        aminsert: Some(insert),
        amcostestimate: Some(cost_estimate),
        ambeginscan: Some(begin),
        amrescan: Some(rescan),
        amgettuple: Some(get_tuple),
        amgetbitmap: Some(get_bitmap),
        amendscan: Some(end),
        ..super::routine()
    }
}

#[no_mangle]
pub extern "C" fn pg_finfo_lyra_gist_handler() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

#[no_mangle]
pub extern "C" fn pg_finfo_lyra_spgist_handler() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

/// The access methods of this module, and the Postgres ones they stand in for.
pub const METHODS: [(&std::ffi::CStr, pg_sys::Oid); 2] =
    [(c"lyra_gist", pg_sys::GIST_AM_OID), (c"lyra_spgist", pg_sys::SPGIST_AM_OID)];

/// Whether `index` is a `lyra_gist` or a `lyra_spgist`.
pub unsafe fn is_lyra_gist(index: pg_sys::Relation) -> bool {
    if index.is_null() || (*(*index).rd_rel).relkind != pg_sys::RELKIND_INDEX as std::ffi::c_char {
        return false;
    }
    let relam = (*(*index).rd_rel).relam;
    METHODS.iter().any(|(name, _)| {
        let am = pg_sys::get_index_am_oid(name.as_ptr(), true);
        am != pg_sys::InvalidOid && relam == am
    })
}

/// What writing and reading entries of an index needs.
pub struct Shape {
    table: TableId,
    index: TableId,
    /// The key columns' types — of the values the operators take (the
    /// table's column or the expression), not the class's storage type.
    values: pg_sys::TupleDesc,
}

impl Shape {
    /// The shape of lyra_gist or lyra_spgist `index` on `heap`.
    ///
    /// # Safety
    /// Both are open relations; `index` is one of these on `heap`.
    pub unsafe fn of(index: pg_sys::Relation, heap: pg_sys::Relation) -> Shape {
        Shape { table: table::table_id(heap), index: table::table_id(index), values: value_types(index, heap) }
    }

    fn columns(&self) -> usize {
        // SAFETY: a descriptor made by `of`.
        unsafe { (*self.values).natts as usize }
    }

    /// The engine key of row `row`'s entry, its key columns `values`/`isnull`.
    ///
    /// # Safety
    /// One datum per key column, of the column's type.
    pub unsafe fn entry(&self, values: &[pg_sys::Datum], isnull: &[bool], row: RowId) -> Vec<u8> {
        let mut bytes = Vec::new();
        datum::encode_values(self.values, values, isnull, &mut bytes);
        memcmp::put_row_id(&mut bytes, row);
        Key::IndexEntry { table: self.table, index: self.index, entry: bytes }.encode()
    }
}

thread_local! {
    /// The key columns' value types of the indexes this backend has
    /// written or read, by index, with the relfilenode they were found for
    /// (a rebuild — `ALTER COLUMN … TYPE`, REINDEX — gives a new one):
    /// `Shape::of` runs for every row inserted, and building the
    /// descriptor (catalog lookups, the index expressions copied) cost
    /// more than the entry itself. Descriptors live in `TopMemoryContext`
    /// and are never freed — a scan may still hold the one a rebuild
    /// replaced; a few hundred bytes per index and rebuild.
    static VALUE_TYPES: RefCell<HashMap<pg_sys::Oid, (pg_sys::Oid, usize)>> = RefCell::new(HashMap::new());
}

/// The types of the values `index`'s key columns take — the table's
/// column, or the expression's type (see [`VALUE_TYPES`]).
///
/// # Safety
/// Both are open relations; `index` is a lyra_gist or lyra_spgist on `heap`.
unsafe fn value_types(index: pg_sys::Relation, heap: pg_sys::Relation) -> pg_sys::TupleDesc {
    let storage = (*index).rd_node.relNode;
    let cached = VALUE_TYPES.with(|c| c.borrow().get(&(*index).rd_id).copied());
    if let Some((_, desc)) = cached.filter(|&(node, _)| node == storage) {
        return desc as pg_sys::TupleDesc;
    }
    let n = (*(*index).rd_index).indnkeyatts as usize;
    let attnums = (*(*index).rd_index).indkey.values.as_slice(n);
    let expressions = pg_sys::RelationGetIndexExpressions(index);
    let mut next_expression = 0;
    let types: Vec<(pg_sys::Oid, i32)> = attnums
        .iter()
        .map(|&attnum| {
            if attnum > 0 {
                let column = &*(*(*heap).rd_att).attrs.as_ptr().add(attnum as usize - 1);
                (column.atttypid, column.atttypmod)
            } else {
                let expression = (*(*expressions).elements.add(next_expression)).ptr_value as *const pg_sys::Node;
                next_expression += 1;
                (pg_sys::exprType(expression), pg_sys::exprTypmod(expression))
            }
        })
        .collect();
    let desc = PgMemoryContexts::TopMemoryContext.switch_to(|_| {
        let desc = pg_sys::CreateTemplateTupleDesc(n as i32);
        for (i, &(typ, typmod)) in types.iter().enumerate() {
            pg_sys::TupleDescInitEntry(desc, i as i16 + 1, std::ptr::null(), typ, typmod, 0);
        }
        desc
    });
    VALUE_TYPES.with(|c| c.borrow_mut().insert((*index).rd_id, (storage, desc as usize)));
    desc
}

struct BuildState {
    shape: Shape,
    tuples: f64,
}

#[pg_guard]
unsafe extern "C-unwind" fn build(
    heap: pg_sys::Relation,
    index: pg_sys::Relation,
    info: *mut pg_sys::IndexInfo,
) -> *mut pg_sys::IndexBuildResult {
    let am = std::ffi::CStr::from_ptr(pg_sys::get_am_name((*(*index).rd_rel).relam)).to_string_lossy().into_owned();
    super::prepare_build(heap, index, &am);
    let mut state = BuildState { shape: Shape::of(index, heap), tuples: 0.0 };
    super::build_scan(heap, index, info, Some(build_callback), &mut state, |s| s.tuples)
}

#[pg_guard]
unsafe extern "C-unwind" fn build_callback(
    _index: pg_sys::Relation,
    tid: pg_sys::ItemPointer,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    _alive: bool,
    state: *mut std::ffi::c_void,
) {
    let state = &mut *(state as *mut BuildState);
    let (values, isnull) = super::columns(values, isnull, state.shape.columns());
    txn::put(state.shape.entry(values, isnull, row_id_of(tid)), Vec::new(), table::current_cid());
    state.tuples += 1.0;
}

#[pg_guard]
unsafe extern "C-unwind" fn insert(
    index: pg_sys::Relation,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    heap_tid: pg_sys::ItemPointer,
    heap: pg_sys::Relation,
    _check_unique: pg_sys::IndexUniqueCheck::Type,
    _index_unchanged: bool,
    _info: *mut pg_sys::IndexInfo,
) -> bool {
    let row = row_id_of(heap_tid);
    if super::take_unchanged(index, row) {
        return true;
    }
    // An UPDATE that changed the values deleted the old entry
    // ([`super::remove_entries`]).
    let shape = Shape::of(index, heap);
    let (values, isnull) = super::columns(values, isnull, shape.columns());
    txn::put(shape.entry(values, isnull, row), Vec::new(), table::current_cid());
    true
}

extern "C-unwind" {
    fn gistoptions(reloptions: pg_sys::Datum, validate: bool) -> *mut pg_sys::bytea;
    fn spgoptions(reloptions: pg_sys::Datum, validate: bool) -> *mut pg_sys::bytea;
    fn datumCopy(value: pg_sys::Datum, by_value: bool, len: std::ffi::c_int) -> pg_sys::Datum;
}

/// GiST's storage parameters (`fillfactor`, `buffering`), so DDL written
/// for GiST works; the engine has no pages to fill.
#[pg_guard]
unsafe extern "C-unwind" fn gist_options(reloptions: pg_sys::Datum, validate: bool) -> *mut pg_sys::bytea {
    gistoptions(reloptions, validate)
}

/// SP-GiST's storage parameters (`fillfactor`).
#[pg_guard]
unsafe extern "C-unwind" fn spgist_options(reloptions: pg_sys::Datum, validate: bool) -> *mut pg_sys::bytea {
    spgoptions(reloptions, validate)
}

/// Postgres's generic estimate with every entry read (a scan reads the
/// whole index; the conditions' selectivity still counts the rows
/// fetched).
#[pg_guard]
unsafe extern "C-unwind" fn cost_estimate(
    root: *mut pg_sys::PlannerInfo,
    path: *mut pg_sys::IndexPath,
    loop_count: f64,
    startup: *mut pg_sys::Cost,
    total: *mut pg_sys::Cost,
    selectivity: *mut pg_sys::Selectivity,
    correlation: *mut f64,
    pages: *mut f64,
) {
    let mut costs: pg_sys::GenericCosts = std::mem::zeroed();
    costs.numIndexTuples = (*(*path).indexinfo).tuples.max(1.0);
    pg_sys::genericcostestimate(root, path, loop_count, &mut costs);
    // Every entry is read before the first row comes out.
    *startup = costs.indexTotalCost;
    *total = costs.indexTotalCost;
    if !(*path).indexorderbys.is_null() {
        // A nearest-first scan returns its rows one by one, each read in a
        // round trip (a bitmap scan, never ordered, reads them by block).
        *total += costs.indexSelectivity * (*(*(*path).indexinfo).rel).tuples * crate::cost::ROW_FETCH;
    }
    *selectivity = costs.indexSelectivity;
    *correlation = 0.0;
    *pages = costs.numIndexPages;
}

/// A row a scan found, with its `ORDER BY` values (allocated in the
/// scan's memory).
struct Found {
    row: RowId,
    order: Vec<(pg_sys::Datum, bool)>,
}

/// Our part of a scan (`IndexScanDesc.opaque`): the rows that match,
/// found at the first fetch after a rescan, and how far they are in the
/// order to return them.
struct TreeScan {
    rows: Option<Vec<Found>>,
    at: usize,
    /// `rows[..ordered]` are in order (the rest: all after them).
    ordered: usize,
    /// How `ORDER BY` values compare, one per ordering operator.
    comparisons: Vec<Comparison>,
    cid: pg_sys::CommandId,
    read_ts: ReadTs,
    /// Where the found rows' `ORDER BY` values live; reset at each rescan.
    cx: pg_sys::MemoryContext,
    /// The scan's own memory (its descriptor's).
    scan_cx: pg_sys::MemoryContext,
}

unsafe fn scan_state<'a>(scan: pg_sys::IndexScanDesc) -> &'a mut TreeScan {
    &mut *((*scan).opaque as *mut TreeScan)
}

#[pg_guard]
unsafe extern "C-unwind" fn begin(
    index: pg_sys::Relation,
    nkeys: std::ffi::c_int,
    norderbys: std::ffi::c_int,
) -> pg_sys::IndexScanDesc {
    let scan = pg_sys::RelationGetIndexScan(index, nkeys, norderbys);
    if norderbys > 0 {
        let n = norderbys as usize;
        (*scan).xs_orderbyvals = pg_sys::palloc0(n * std::mem::size_of::<pg_sys::Datum>()).cast();
        (*scan).xs_orderbynulls = pg_sys::palloc(n).cast();
        std::ptr::write_bytes((*scan).xs_orderbynulls, 1, n);
    }
    let cx = super::memory_context(c"lyra_gist scan");
    let state = PgMemoryContexts::CurrentMemoryContext.leak_and_drop_on_delete(TreeScan {
        rows: None,
        at: 0,
        ordered: 0,
        comparisons: Vec::new(),
        cid: 0,
        read_ts: ReadTs::default(),
        cx,
        scan_cx: pg_sys::CurrentMemoryContext,
    });
    (*scan).opaque = state.cast();
    scan
}

#[pg_guard]
unsafe extern "C-unwind" fn rescan(
    scan: pg_sys::IndexScanDesc,
    keys: pg_sys::ScanKey,
    nkeys: std::ffi::c_int,
    orderbys: pg_sys::ScanKey,
    norderbys: std::ffi::c_int,
) {
    super::scan::take_keys(scan, keys, nkeys, "lyra_gist");
    if !orderbys.is_null() && norderbys > 0 {
        std::ptr::copy(orderbys, (*scan).orderByData, norderbys as usize);
    }
    let snapshot = (*scan).xs_snapshot;
    super::take_exclusion_turn(scan);
    let state = scan_state(scan);
    state.rows = None;
    state.at = 0;
    state.ordered = 0;
    state.cid = snapshot_cid(snapshot);
    state.read_ts = snapshot::read_ts(snapshot);
    pg_sys::MemoryContextReset(state.cx);
}

#[pg_guard]
unsafe extern "C-unwind" fn get_tuple(scan: pg_sys::IndexScanDesc, direction: pg_sys::ScanDirection::Type) -> bool {
    if direction == pg_sys::ScanDirection::BackwardScanDirection {
        raise(PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED, "lyra_gist and lyra_spgist scans run forward only");
    }
    let state = scan_state(scan);
    if state.rows.is_none() {
        let orderbys = scan_keys((*scan).orderByData, (*scan).numberOfOrderBys);
        state.comparisons = orderbys.iter().map(|k| comparison(k)).collect();
        state.rows = Some(matching_rows(scan, state, orderbys));
        if orderbys.is_empty() {
            state.ordered = usize::MAX;
        }
    }
    let rows = state.rows.as_mut().expect("found above");
    if state.at >= state.ordered && state.at < rows.len() {
        // The next rows in order: a nearest-first scan is mostly read
        // under a LIMIT, so only the first few are sorted, then twice as
        // many each time the scan gets that far.
        let chunk = (state.ordered.max(32)).min(rows.len() - state.at);
        order_first(&mut rows[state.at..], chunk, &state.comparisons);
        state.ordered = state.at + chunk;
    }
    let Some(found) = rows.get(state.at) else { return false };
    state.at += 1;
    let (block, offset) = found.row.to_tid();
    item_pointer_set_all(&mut (*scan).xs_heaptid, block, offset);
    // The row's current version decides, whatever its entry says.
    (*scan).xs_recheck = true;
    super::scan::give_index_tuple(scan, state.scan_cx);
    // The distances are the operators' own, exact: no reordering.
    (*scan).xs_recheckorderby = false;
    for (i, &(value, null)) in found.order.iter().enumerate() {
        *(*scan).xs_orderbyvals.add(i) = value;
        *(*scan).xs_orderbynulls.add(i) = null;
    }
    true
}

/// A bitmap index scan: the matching rows into `tbm`, all rechecked.
#[pg_guard]
unsafe extern "C-unwind" fn get_bitmap(scan: pg_sys::IndexScanDesc, tbm: *mut pg_sys::TIDBitmap) -> i64 {
    let state = scan_state(scan);
    let rows = matching_rows(scan, state, &[]);
    for found in &rows {
        super::scan::add_to_bitmap(tbm, found.row, true);
    }
    rows.len() as i64
}

#[pg_guard]
unsafe extern "C-unwind" fn end(scan: pg_sys::IndexScanDesc) {
    let state = scan_state(scan);
    state.rows = None;
    pg_sys::MemoryContextDelete(state.cx);
}

unsafe fn scan_keys<'a>(keys: pg_sys::ScanKey, n: std::ffi::c_int) -> &'a [pg_sys::ScanKeyData] {
    if keys.is_null() || n <= 0 {
        &[]
    } else {
        std::slice::from_raw_parts(keys, n as usize)
    }
}

/// The rows whose entries every scan key accepts, in row-id order, with
/// their values of the `orderbys` operators (see [`order_first`]).
unsafe fn matching_rows(scan: pg_sys::IndexScanDesc, state: &TreeScan, orderbys: &[pg_sys::ScanKeyData]) -> Vec<Found> {
    let keys = scan_keys((*scan).keyData, (*scan).numberOfKeys);
    let shape = Shape::of((*scan).indexRelation, (*scan).heapRelation);
    let n = shape.columns();
    // A condition on NULL (other than IS [NOT] NULL) holds for no row: the
    // operators are strict.
    let tests_null = (pg_sys::SK_SEARCHNULL | pg_sys::SK_SEARCHNOTNULL) as i32;
    if keys.iter().any(|k| k.sk_flags & pg_sys::SK_ISNULL as i32 != 0 && k.sk_flags & tests_null == 0) {
        return Vec::new();
    }
    let order_types: Vec<(bool, i16)> = orderbys
        .iter()
        .map(|k| {
            let mut len = 0i16;
            let mut by_value = false;
            pg_sys::get_typlenbyval(pg_sys::get_func_rettype(k.sk_func.fn_oid), &mut len, &mut by_value);
            (by_value, len)
        })
        .collect();
    let per_entry = super::memory_context(c"lyra_gist entry");
    let prefix = KeyPrefix::Index { table: shape.table, index: shape.index }.encode();
    let end = memcmp::prefix_end(&prefix);
    let mut cursor = Cursor::over(shape.table, state.cid, state.read_ts.clone(), prefix.clone(), end);
    let mut values = vec![pg_sys::Datum::from(0); n];
    let mut isnull = vec![false; n];
    let mut found = Vec::new();
    while let Some((key, value)) = cursor.next() {
        let suffix = &key[prefix.len()..];
        let row = super::scan::entry_row(suffix, &value);
        let caller = pg_sys::MemoryContextSwitchTo(per_entry);
        let encoded = datum::decode_row(&suffix[..suffix.len() - 8]);
        datum::decode_columns(shape.values, &encoded, 0, n, values.as_mut_ptr(), isnull.as_mut_ptr(), per_entry);
        if keys.iter().all(|k| accepts(k, &values, &isnull)) {
            let order = orderbys
                .iter()
                .zip(&order_types)
                .map(|(k, &(by_value, len))| match order_value(k, &values, &isnull) {
                    Some(v) => (copy_to(v, state.cx, by_value, len), false),
                    None => (pg_sys::Datum::from(0), true),
                })
                .collect();
            found.push(Found { row, order });
        }
        pg_sys::MemoryContextSwitchTo(caller);
        pg_sys::MemoryContextReset(per_entry);
    }
    pg_sys::MemoryContextDelete(per_entry);
    found.sort_by_key(|f| f.row);
    found
}

/// `value` copied into `cx` (a by-value one as it is).
unsafe fn copy_to(value: pg_sys::Datum, cx: pg_sys::MemoryContext, by_value: bool, len: i16) -> pg_sys::Datum {
    if by_value {
        return value;
    }
    let caller = pg_sys::MemoryContextSwitchTo(cx);
    let copy = datumCopy(value, by_value, len as i32);
    pg_sys::MemoryContextSwitchTo(caller);
    copy
}

/// Whether scan key `k` accepts the entry's values: its operator applied
/// to the column's value and the key's argument, or `IS [NOT] NULL`.
unsafe fn accepts(k: &pg_sys::ScanKeyData, values: &[pg_sys::Datum], isnull: &[bool]) -> bool {
    let c = k.sk_attno as usize - 1;
    if k.sk_flags & pg_sys::SK_SEARCHNULL as i32 != 0 {
        return isnull[c];
    }
    if k.sk_flags & pg_sys::SK_SEARCHNOTNULL as i32 != 0 {
        return !isnull[c];
    }
    if isnull[c] {
        return false;
    }
    // The executor's scan keys carry the operator's function (GiST puts
    // its `consistent` there in its own rescan; we keep the operator's).
    let func = &k.sk_func as *const pg_sys::FmgrInfo as *mut pg_sys::FmgrInfo;
    pg_sys::FunctionCall2Coll(func, k.sk_collation, values[c], k.sk_argument).value() != 0
}

/// The `ORDER BY` operator of `k` applied to the entry's value and the
/// key's argument; `None` if either is NULL (such rows come last).
unsafe fn order_value(k: &pg_sys::ScanKeyData, values: &[pg_sys::Datum], isnull: &[bool]) -> Option<pg_sys::Datum> {
    let c = k.sk_attno as usize - 1;
    if isnull[c] || k.sk_flags & pg_sys::SK_ISNULL as i32 != 0 {
        return None;
    }
    let func = &k.sk_func as *const pg_sys::FmgrInfo as *mut pg_sys::FmgrInfo;
    Some(pg_sys::FunctionCall2Coll(func, k.sk_collation, values[c], k.sk_argument))
}

/// How the values of an `ORDER BY` operator compare: float8 (most
/// distances) directly, as `float8_cmp` does; any other type by its btree
/// comparison function.
enum Comparison {
    Float8,
    Function(*mut pg_sys::FmgrInfo, pg_sys::Oid),
}

/// The comparison of the values of ordering operator `k`.
unsafe fn comparison(k: &pg_sys::ScanKeyData) -> Comparison {
    let typ = pg_sys::get_func_rettype(k.sk_func.fn_oid);
    if typ == pg_sys::FLOAT8OID {
        return Comparison::Float8;
    }
    let cache = pg_sys::lookup_type_cache(typ, pg_sys::TYPECACHE_CMP_PROC_FINFO as i32);
    if (*cache).cmp_proc_finfo.fn_oid == pg_sys::InvalidOid {
        raise(
            PgSqlErrorCode::ERRCODE_UNDEFINED_FUNCTION,
            format!("lyra_gist cannot order by values of type {}: it has no btree comparison", super::type_name(typ)),
        );
    }
    Comparison::Function(&raw mut (*cache).cmp_proc_finfo, k.sk_collation)
}

impl Comparison {
    fn compare(&self, a: pg_sys::Datum, b: pg_sys::Datum) -> std::cmp::Ordering {
        match *self {
            Comparison::Float8 => {
                let (a, b) = (f64::from_bits(a.value() as u64), f64::from_bits(b.value() as u64));
                // float8_cmp: NaN equals NaN and sorts after every number.
                match (a.is_nan(), b.is_nan()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    (false, false) => a.partial_cmp(&b).expect("not NaN"),
                }
            }
            // SAFETY: both are values of the comparison's type.
            Comparison::Function(compare, collation) => {
                let c = unsafe { pg_sys::FunctionCall2Coll(compare, collation, a, b) }.value() as i32;
                c.cmp(&0)
            }
        }
    }
}

/// Puts the first `n` rows of `rows` in order — by their `ORDER BY`
/// values, ascending, NULLs last (the only order the planner asks of an
/// ordering operator), ties by row id — and leaves the rest after them.
fn order_first(rows: &mut [Found], n: usize, comparisons: &[Comparison]) {
    let order = |a: &Found, b: &Found| {
        for (i, comparison) in comparisons.iter().enumerate() {
            let ordering = match (a.order[i], b.order[i]) {
                ((_, true), (_, true)) => std::cmp::Ordering::Equal,
                ((_, true), _) => std::cmp::Ordering::Greater,
                (_, (_, true)) => std::cmp::Ordering::Less,
                ((x, false), (y, false)) => comparison.compare(x, y),
            };
            if ordering != std::cmp::Ordering::Equal {
                return ordering;
            }
        }
        a.row.cmp(&b.row)
    };
    if n == 0 {
        return;
    }
    if n < rows.len() {
        rows.select_nth_unstable_by(n - 1, order);
    }
    rows[..n].sort_unstable_by(order);
}
