//! The index access method `lyra_gin`: an inverted index — GIN's — whose
//! entries are stored in the engine, written in the same transaction as
//! the row, like [`lyra_index`](super)'s.
//!
//! `CREATE INDEX … USING gin` on a Lyra table makes one: the index is
//! created with GIN's operator classes (arrays, `jsonb_ops`,
//! `jsonb_path_ops`, `tsvector_ops`, and those of extensions such as
//! `pg_trgm`) and turned into a lyra_gin before it is built (see
//! `btree_classes::adopt`). The classes' own functions do the work GIN
//! has them do: `extractValue` gives a value's keys, `extractQuery` a
//! condition's, `consistent` decides a row from the keys it has.
//!
//! One entry per (column, key, row), in the index's key range:
//!
//! ```text
//!   column (1 byte) · category (1 byte) · key (memcomparable) · row id
//! ```
//!
//! The category is GIN's: a key, a NULL key, an *empty item* (a value with
//! no keys, such as `'{}'`), a *NULL item* (the column is NULL) — so every
//! row has at least one entry per column, and a condition that GIN answers
//! by reading every item (`<@`, a prefix match in a tsquery) reads every
//! entry of the column instead. A condition's keys are looked up one by
//! one (a key range each); a row found is handed to `consistent` with
//! which keys it has; what it accepts goes back to Postgres as a TID,
//! always to be rechecked against the row (an UPDATE keeps a row's id, so
//! the row is judged by its current version, never by the entry).
//!
//! Limits: scans are plain index scans (no bitmap scans on Lyra tables);
//! prefix (partial) matches read every entry of the column; keys are
//! encoded as `lyra_index` encodes values, so a key type it cannot encode
//! is refused at `CREATE INDEX`, as is text under a nondeterministic
//! collation.

// Callback signatures are Postgres's, argument counts included.
#![allow(clippy::too_many_arguments)]

use std::collections::{BTreeMap, BTreeSet, HashMap};

use lyra_engine::keys::{memcmp, Key, KeyPrefix, RowId, TableId};
use pgrx::itemptr::item_pointer_set_all;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgMemoryContexts;

use super::{entry, type_name};
use crate::error::raise;
use crate::snapshot::{self, ReadTs};
use crate::tam::{row_id_of, snapshot_cid, Cursor};
use crate::{table, txn};

/// GIN's support functions: `extractValue`, `extractQuery`, `consistent`.
const EXTRACT_VALUE: u16 = pg_sys::GIN_EXTRACTVALUE_PROC as u16;
const EXTRACT_QUERY: u16 = pg_sys::GIN_EXTRACTQUERY_PROC as u16;
const CONSISTENT: u16 = pg_sys::GIN_CONSISTENT_PROC as u16;

/// GIN's entry categories (`gin_private.h`), which sort in this order.
const NORM_KEY: u8 = 0;
const NULL_KEY: u8 = 1;
const EMPTY_ITEM: u8 = 2;
const NULL_ITEM: u8 = 3;

/// `lyra.lyra_gin_handler(internal) RETURNS index_am_handler`.
#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn lyra_gin_handler(_fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    super::handler_result(pg_sys::IndexAmRoutine {
        // As GIN: no fixed strategies, its support functions and options.
        amstrategies: 0,
        amsupport: pg_sys::GINNProcs as u16,
        amoptsprocnum: pg_sys::GIN_OPTIONS_PROC as u16,
        amcanorder: false,
        amcanbackward: false,
        amcanunique: false,
        amsearcharray: false,
        amstorage: true,
        amcaninclude: false,
        // No order to cluster by (lyra_index's is btree's).
        amclusterable: false,
        ambuild: Some(build),
        aminsert: Some(insert),
        amcostestimate: Some(cost_estimate),
        amoptions: Some(options),
        ambeginscan: Some(begin),
        amrescan: Some(rescan),
        amgettuple: Some(get_tuple),
        amgetbitmap: Some(get_bitmap),
        amendscan: Some(end),
        ..super::routine()
    })
}

#[no_mangle]
pub extern "C" fn pg_finfo_lyra_gin_handler() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

/// Whether `index` is a `lyra_gin`.
pub unsafe fn is_lyra_gin(index: pg_sys::Relation) -> bool {
    if index.is_null() || (*(*index).rd_rel).relkind != pg_sys::RELKIND_INDEX as std::ffi::c_char {
        return false;
    }
    let am = pg_sys::get_index_am_oid(c"lyra_gin".as_ptr(), true);
    am != pg_sys::InvalidOid && (*(*index).rd_rel).relam == am
}

/// How the keys of one column are encoded.
struct Column {
    /// The key type (the class's storage type), as encoded ([`entry::encoded_as`]).
    key_type: pg_sys::Oid,
    collation: pg_sys::Oid,
}

/// What writing and reading entries of an index needs.
pub struct Shape {
    table: TableId,
    index: TableId,
    relation: pg_sys::Relation,
    columns: Vec<Column>,
}

impl Shape {
    /// The shape of lyra_gin `index` on `heap` (its columns were checked
    /// when it was built: [`check_columns`]).
    ///
    /// # Safety
    /// Both are open relations; `index` is a lyra_gin on `heap`.
    pub unsafe fn of(index: pg_sys::Relation, heap: pg_sys::Relation) -> Shape {
        let columns = (0..(*(*index).rd_index).indnkeyatts as usize)
            .map(|i| {
                let typ = key_type(index, i);
                let key_type = entry::encoded_as(typ).unwrap_or_else(|| cannot_store(typ));
                Column { key_type, collation: *(*index).rd_indcollation.add(i) }
            })
            .collect();
        Shape { table: table::table_id(heap), index: table::table_id(index), relation: index, columns }
    }

    /// The engine key of an entry: `column` (0-based), `category`, the
    /// encoded key (for [`NORM_KEY`]), and the row id if any.
    unsafe fn key(&self, column: usize, category: u8, key: Option<pg_sys::Datum>, row: Option<RowId>) -> Vec<u8> {
        let mut bytes = vec![column as u8 + 1, category];
        if let Some(key) = key {
            entry::encode_datum(&mut bytes, self.columns[column].key_type, key);
        }
        if let Some(row) = row {
            memcmp::put_row_id(&mut bytes, row);
        }
        Key::IndexEntry { table: self.table, index: self.index, entry: bytes }.encode()
    }

    /// The entries of row `row` whose index columns are `values`/`isnull`,
    /// sorted, without duplicates.
    ///
    /// # Safety
    /// `values` and `isnull` hold one datum per key column.
    pub unsafe fn entries(&self, values: &[pg_sys::Datum], isnull: &[bool], row: RowId) -> Vec<Vec<u8>> {
        let mut entries = BTreeSet::new();
        for (c, column) in self.columns.iter().enumerate() {
            if isnull[c] {
                entries.insert(self.key(c, NULL_ITEM, None, Some(row)));
                continue;
            }
            let mut count: i32 = 0;
            let mut nulls: *mut bool = std::ptr::null_mut();
            let keys = pg_sys::FunctionCall3Coll(
                pg_sys::index_getprocinfo(self.relation, c as i16 + 1, EXTRACT_VALUE),
                column.collation,
                values[c],
                pg_sys::Datum::from(&mut count as *mut i32),
                pg_sys::Datum::from(&mut nulls as *mut *mut bool),
            )
            .cast_mut_ptr::<pg_sys::Datum>();
            if count <= 0 || keys.is_null() {
                entries.insert(self.key(c, EMPTY_ITEM, None, Some(row)));
                continue;
            }
            for k in 0..count as usize {
                let entry = if !nulls.is_null() && *nulls.add(k) {
                    self.key(c, NULL_KEY, None, Some(row))
                } else {
                    self.key(c, NORM_KEY, Some(*keys.add(k)), Some(row))
                };
                entries.insert(entry);
            }
        }
        entries.into_iter().collect()
    }
}

/// The type of the keys of column `i` of `index` (its class's storage type).
unsafe fn key_type(index: pg_sys::Relation, i: usize) -> pg_sys::Oid {
    (*(*(*index).rd_att).attrs.as_ptr().add(i)).atttypid
}

fn cannot_store(typ: pg_sys::Oid) -> ! {
    // SAFETY: a catalog lookup for the message.
    let name = unsafe { type_name(typ) };
    raise(PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED, format!("lyra_gin cannot store keys of type {name}"))
}

/// Refuses, at `CREATE INDEX`, columns whose keys lyra_gin cannot store:
/// a type lyra_index cannot encode, text (or a part of an array or
/// composite) under a nondeterministic collation, and a class without
/// the functions a scan calls.
unsafe fn check_columns(index: pg_sys::Relation) {
    for c in 0..(*(*index).rd_index).indnkeyatts as usize {
        let typ = key_type(index, c);
        let collation = *(*index).rd_indcollation.add(c);
        let encoded = entry::encoded_as(typ).unwrap_or_else(|| cannot_store(typ));
        if collation != pg_sys::InvalidOid && !entry::byte_semantics(encoded, collation).1 {
            raise(
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                format!("lyra_gin cannot store keys of type {} under a nondeterministic collation", type_name(typ)),
            );
        }
        // Keys made of parts (arrays, composites): each part too.
        if let Some(why) = entry::WITH_PARTS.contains(&encoded).then(|| entry::cannot_key(typ, collation)).flatten() {
            raise(PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED, format!("lyra_gin cannot encode {why}"));
        }
        for (proc_, what) in [(EXTRACT_VALUE, "extractValue"), (EXTRACT_QUERY, "extractQuery"), (CONSISTENT, "consistent")] {
            if pg_sys::index_getprocid(index, c as i16 + 1, proc_) == pg_sys::InvalidOid {
                raise(
                    PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                    format!("lyra_gin needs the operator class's {what} function (column {})", c + 1),
                );
            }
        }
    }
}

/// A build pass's state: the shape, and a memory context reset per row
/// (a value's keys are allocated there).
struct BuildState {
    shape: Shape,
    cx: pg_sys::MemoryContext,
    tuples: f64,
}

#[pg_guard]
unsafe extern "C-unwind" fn build(
    heap: pg_sys::Relation,
    index: pg_sys::Relation,
    info: *mut pg_sys::IndexInfo,
) -> *mut pg_sys::IndexBuildResult {
    check_columns(index);
    super::prepare_build(heap, index, "lyra_gin");
    let cx = super::memory_context(c"lyra_gin build");
    let mut state = BuildState { shape: Shape::of(index, heap), cx, tuples: 0.0 };
    let result = super::build_scan(heap, index, info, Some(build_callback), &mut state, |s| s.tuples);
    pg_sys::MemoryContextDelete(cx);
    result
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
    let (values, isnull) = super::columns(values, isnull, state.shape.columns.len());
    let caller = pg_sys::MemoryContextSwitchTo(state.cx);
    let entries = state.shape.entries(values, isnull, row_id_of(tid));
    pg_sys::MemoryContextSwitchTo(caller);
    pg_sys::MemoryContextReset(state.cx);
    let cid = table::current_cid();
    state.tuples += entries.len() as f64;
    for key in entries {
        txn::put(key, Vec::new(), cid);
    }
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
    let shape = Shape::of(index, heap);
    let (values, isnull) = super::columns(values, isnull, shape.columns.len());
    let cid = table::current_cid();
    // An UPDATE that changed the keys deleted the entries it no longer
    // has ([`super::remove_entries`]); those it kept are written again.
    for key in shape.entries(values, isnull, row) {
        txn::put(key, Vec::new(), cid);
    }
    true
}

extern "C-unwind" {
    fn ginoptions(reloptions: pg_sys::Datum, validate: bool) -> *mut pg_sys::bytea;
}

/// GIN's storage parameters (`fastupdate`, `gin_pending_list_limit`), so
/// DDL written for GIN works; the engine has no pending list to tune.
#[pg_guard]
unsafe extern "C-unwind" fn options(reloptions: pg_sys::Datum, validate: bool) -> *mut pg_sys::bytea {
    ginoptions(reloptions, validate)
}

/// Postgres's generic estimate (selectivity of the conditions the index
/// takes, times the table's rows). GIN's own estimate reads statistics
/// from its metapage, which a lyra_gin does not have.
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
    pg_sys::genericcostestimate(root, path, loop_count, &mut costs);
    *startup = costs.indexStartupCost;
    *total = costs.indexTotalCost;
    *selectivity = costs.indexSelectivity;
    // Rows come in row-id order, not the order of any column.
    *correlation = 0.0;
    *pages = costs.numIndexPages;
}

/// The committed rows the node sent with entries, by row id (`None`: no
/// visible version), for the table AM's fetch of them.
type Sent = HashMap<RowId, Option<Vec<u8>>>;

/// Our part of a scan (`IndexScanDesc.opaque`): the rows that match, found
/// at the first fetch after a rescan, and the rows the node sent with them.
struct GinScan {
    rows: Option<Vec<RowId>>,
    sent: Sent,
    at: usize,
    cid: pg_sys::CommandId,
    read_ts: ReadTs,
    /// The scan's own memory (its descriptor's).
    scan_cx: pg_sys::MemoryContext,
}

unsafe fn scan_state<'a>(scan: pg_sys::IndexScanDesc) -> &'a mut GinScan {
    &mut *((*scan).opaque as *mut GinScan)
}

#[pg_guard]
unsafe extern "C-unwind" fn begin(
    index: pg_sys::Relation,
    nkeys: std::ffi::c_int,
    norderbys: std::ffi::c_int,
) -> pg_sys::IndexScanDesc {
    let scan = pg_sys::RelationGetIndexScan(index, nkeys, norderbys);
    let state = PgMemoryContexts::CurrentMemoryContext.leak_and_drop_on_delete(GinScan {
        rows: None,
        sent: Sent::new(),
        at: 0,
        cid: 0,
        read_ts: ReadTs::default(),
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
    _orderbys: pg_sys::ScanKey,
    _norderbys: std::ffi::c_int,
) {
    super::scan::take_keys(scan, keys, nkeys, "lyra_gin");
    let state = scan_state(scan);
    let snapshot = (*scan).xs_snapshot;
    state.rows = None;
    state.sent.clear();
    state.at = 0;
    state.cid = snapshot_cid(snapshot);
    state.read_ts = snapshot::read_ts(snapshot);
}

#[pg_guard]
unsafe extern "C-unwind" fn get_tuple(scan: pg_sys::IndexScanDesc, direction: pg_sys::ScanDirection::Type) -> bool {
    if direction == pg_sys::ScanDirection::BackwardScanDirection {
        raise(PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED, "lyra_gin scans run forward only");
    }
    let state = scan_state(scan);
    if state.rows.is_none() {
        let keys = match (*scan).numberOfKeys {
            0 => &[][..],
            n => std::slice::from_raw_parts((*scan).keyData, n as usize),
        };
        let shape = Shape::of((*scan).indexRelation, (*scan).heapRelation);
        let rows = matching_rows(&shape, keys, state.cid, &state.read_ts, Some(&mut state.sent));
        state.sent.retain(|row, _| rows.binary_search(row).is_ok());
        state.rows = Some(rows);
    }
    let rows = state.rows.as_ref().expect("found above");
    let Some(&row) = rows.get(state.at) else { return false };
    state.at += 1;
    if let Some(sent) = state.sent.remove(&row) {
        super::scan::hand_over(table::table_id((*scan).heapRelation), &state.read_ts, row, sent);
    }
    let (block, offset) = row.to_tid();
    item_pointer_set_all(&mut (*scan).xs_heaptid, block, offset);
    super::scan::give_index_tuple(scan, state.scan_cx);
    // The row's current version decides, whatever its entries say.
    (*scan).xs_recheck = true;
    true
}

/// A bitmap index scan: the matching rows into `tbm`, all rechecked, the
/// entries read without their rows (the bitmap heap scan reads those).
#[pg_guard]
unsafe extern "C-unwind" fn get_bitmap(scan: pg_sys::IndexScanDesc, tbm: *mut pg_sys::TIDBitmap) -> i64 {
    let state = scan_state(scan);
    let keys = match (*scan).numberOfKeys {
        0 => &[][..],
        n => std::slice::from_raw_parts((*scan).keyData, n as usize),
    };
    let shape = Shape::of((*scan).indexRelation, (*scan).heapRelation);
    let rows = matching_rows(&shape, keys, state.cid, &state.read_ts, None);
    for &row in &rows {
        super::scan::add_to_bitmap(tbm, row, true);
    }
    rows.len() as i64
}

#[pg_guard]
unsafe extern "C-unwind" fn end(scan: pg_sys::IndexScanDesc) {
    let state = scan_state(scan);
    state.rows = None;
    state.sent.clear();
}

/// The rows every scan key accepts, in row-id order; `sent`, if given,
/// gathers the rows the node sent along with entries (else it sends none).
unsafe fn matching_rows(
    shape: &Shape,
    keys: &[pg_sys::ScanKeyData],
    cid: pg_sys::CommandId,
    read_ts: &ReadTs,
    mut sent: Option<&mut Sent>,
) -> Vec<RowId> {
    if keys.is_empty() {
        // No condition (the planner makes none of these): every row.
        return rows_of_column(shape, 0, cid, read_ts, sent).into_keys().collect();
    }
    let mut result: Option<BTreeSet<RowId>> = None;
    for key in keys {
        let rows = rows_for_key(shape, key, cid, read_ts, sent.as_deref_mut());
        result = Some(match result {
            None => rows,
            Some(before) => before.intersection(&rows).copied().collect(),
        });
        if result.as_ref().is_some_and(|r| r.is_empty()) {
            break;
        }
    }
    result.unwrap_or_default().into_iter().collect()
}

/// Every row with an entry in column `column` (0-based), and whether it
/// has keys (not only an empty or NULL item): `(row, has_keys, is_null)`.
fn rows_of_column(
    shape: &Shape,
    column: usize,
    cid: pg_sys::CommandId,
    read_ts: &ReadTs,
    mut sent: Option<&mut Sent>,
) -> BTreeMap<RowId, (bool, bool)> {
    let prefix = KeyPrefix::Index { table: shape.table, index: shape.index }.encode();
    let start = [prefix.as_slice(), &[column as u8 + 1]].concat();
    let end = memcmp::prefix_end(&start);
    let mut rows: BTreeMap<RowId, (bool, bool)> = BTreeMap::new();
    let mut cursor = entry_cursor(shape, cid, read_ts, start.clone(), end, sent.is_some());
    while let Some((key, value)) = cursor.next() {
        let row = entry_row(&key[prefix.len()..], &value);
        keep_sent(&mut cursor, row, sent.as_deref_mut());
        let category = key[start.len()];
        let seen = rows.entry(row).or_insert((false, false));
        seen.0 |= category == NORM_KEY || category == NULL_KEY;
        seen.1 |= category == NULL_ITEM;
    }
    rows
}

/// The rows the scan key `key` accepts: its query's keys looked up, each
/// row found judged by the class's `consistent`.
unsafe fn rows_for_key(
    shape: &Shape,
    key: &pg_sys::ScanKeyData,
    cid: pg_sys::CommandId,
    read_ts: &ReadTs,
    mut sent: Option<&mut Sent>,
) -> BTreeSet<RowId> {
    if key.sk_flags & pg_sys::SK_ISNULL as i32 != 0 {
        // GIN's operators are strict: a NULL query matches nothing.
        return BTreeSet::new();
    }
    let column = key.sk_attno as usize - 1;
    let collation = shape.columns[column].collation;
    let mut count: i32 = 0;
    let mut partial: *mut bool = std::ptr::null_mut();
    let mut extra: *mut pg_sys::Pointer = std::ptr::null_mut();
    let mut nulls: *mut bool = std::ptr::null_mut();
    let mut mode: i32 = pg_sys::GIN_SEARCH_MODE_DEFAULT as i32;
    let query_keys = pg_sys::FunctionCall7Coll(
        pg_sys::index_getprocinfo(shape.relation, key.sk_attno, EXTRACT_QUERY),
        collation,
        key.sk_argument,
        pg_sys::Datum::from(&mut count as *mut i32),
        pg_sys::Datum::from(key.sk_strategy),
        pg_sys::Datum::from(&mut partial as *mut *mut bool),
        pg_sys::Datum::from(&mut extra as *mut *mut pg_sys::Pointer),
        pg_sys::Datum::from(&mut nulls as *mut *mut bool),
        pg_sys::Datum::from(&mut mode as *mut i32),
    )
    .cast_mut_ptr::<pg_sys::Datum>();
    let count = if query_keys.is_null() { 0 } else { count.max(0) as usize };
    if count == 0 && mode == pg_sys::GIN_SEARCH_MODE_DEFAULT as i32 {
        // GIN's rule: no key to look for, and no row without keys wanted.
        return BTreeSet::new();
    }
    // Which of the query's keys each row found has.
    let mut found: BTreeMap<RowId, Vec<bool>> = BTreeMap::new();
    let is_partial = |k: usize| !partial.is_null() && *partial.add(k);
    let prefix_len = KeyPrefix::Index { table: shape.table, index: shape.index }.encode().len();
    for k in (0..count).filter(|&k| !is_partial(k)) {
        let start = if !nulls.is_null() && *nulls.add(k) {
            shape.key(column, NULL_KEY, None, None)
        } else {
            shape.key(column, NORM_KEY, Some(*query_keys.add(k)), None)
        };
        let end = memcmp::prefix_end(&start);
        let mut cursor = entry_cursor(shape, cid, read_ts, start, end, sent.is_some());
        while let Some((entry, value)) = cursor.next() {
            let row = entry_row(&entry[prefix_len..], &value);
            keep_sent(&mut cursor, row, sent.as_deref_mut());
            found.entry(row).or_insert_with(|| vec![false; count])[k] = true;
        }
    }
    // A prefix match, and rows without keys (GIN's empty and NULL items):
    // read every entry of the column. A row with keys counts as having
    // every prefix-matched key — `consistent` may then take a row it
    // should not, and the recheck drops it.
    let partials: Vec<usize> = (0..count).filter(|&k| is_partial(k)).collect();
    if !partials.is_empty() || mode != pg_sys::GIN_SEARCH_MODE_DEFAULT as i32 {
        for (row, (has_keys, is_null)) in rows_of_column(shape, column, cid, read_ts, sent.as_deref_mut()) {
            let wanted = match mode as u32 {
                pg_sys::GIN_SEARCH_MODE_EVERYTHING => true,
                pg_sys::GIN_SEARCH_MODE_ALL => !is_null,
                pg_sys::GIN_SEARCH_MODE_INCLUDE_EMPTY => !is_null && !has_keys || has_keys && !partials.is_empty(),
                _ => has_keys,
            };
            if !wanted {
                continue;
            }
            let check = found.entry(row).or_insert_with(|| vec![false; count]);
            if has_keys {
                for &k in &partials {
                    check[k] = true;
                }
            }
        }
    }
    let consistent = pg_sys::index_getprocinfo(shape.relation, key.sk_attno, CONSISTENT);
    let mut rows = BTreeSet::new();
    for (row, mut check) in found {
        let mut recheck = true;
        let accepted = pg_sys::FunctionCall8Coll(
            consistent,
            collation,
            pg_sys::Datum::from(check.as_mut_ptr()),
            pg_sys::Datum::from(key.sk_strategy),
            key.sk_argument,
            pg_sys::Datum::from(count as i32),
            pg_sys::Datum::from(extra),
            pg_sys::Datum::from(&mut recheck as *mut bool),
            pg_sys::Datum::from(query_keys),
            pg_sys::Datum::from(nulls),
        );
        if accepted.value() & 0xff != 0 {
            rows.insert(row);
        }
    }
    rows
}

/// A cursor over the entries `[start, end)`, with their rows if `rows`.
fn entry_cursor(shape: &Shape, cid: pg_sys::CommandId, read_ts: &ReadTs, start: Vec<u8>, end: Vec<u8>, rows: bool) -> Cursor {
    let cursor = Cursor::over(shape.table, cid, read_ts.clone(), start, end);
    if rows { cursor.with_rows() } else { cursor }
}

/// Keeps the row the node sent with the entry `cursor` just returned (of
/// row `row`), the first time it comes.
fn keep_sent(cursor: &mut Cursor, row: RowId, sent: Option<&mut Sent>) {
    let Some(sent) = sent else { return };
    if let Some(row_sent) = cursor.take_row() {
        sent.entry(row).or_insert_with(|| row_sent.map(|bytes| bytes.to_vec()));
    }
}

/// The row id of an entry (`suffix`: its key past the index prefix).
fn entry_row(suffix: &[u8], value: &[u8]) -> RowId {
    match memcmp::entry_row_id(suffix, value) {
        Some(row) => row,
        None => raise(PgSqlErrorCode::ERRCODE_DATA_CORRUPTED, "lyra_gin entry without a row id"),
    }
}
