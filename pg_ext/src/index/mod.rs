//! The index access method `lyra_index` (DESIGN §6): every index on a Lyra
//! table — primary key, UNIQUE, plain, multi-column, on expressions,
//! partial — stored in the engine next to the table's rows, written in the
//! same transaction as the row, so never out of step with it.
//!
//! * [`entry`] — datums → engine keys (memcomparable), unique entries;
//! * [`scan`] — index scans: scan keys → one key range of the engine;
//! * here — the handler, builds, inserts with the unique check, and the
//!   maintenance heap gets from VACUUM and Lyra must do itself: when a row
//!   is deleted or its key columns change, its old entries are deleted in
//!   the same transaction ([`remove_entries`], called by the table AM).
//!
//! Uniqueness is a row lock on the entry key (the node's lock table, with
//! waits in Postgres's lock manager like row locks): the second of two
//! transactions inserting the same key waits for the first, then sees its
//! entry and raises 23505 — or inserts, if the first rolled back. The
//! commit checks the entry did not change since it was locked.
//!
//! `INSERT … ON CONFLICT` uses the same entry locks ([`speculative`]);
//! foreign keys need the index's operator classes to be btree's
//! ([`btree_classes`]).
//!
//! Scans are ordered — ascending, nulls last, in every column, whatever the
//! index declares — and run both ways, except where the encoding's order
//! is not the column's ([`describe_entry_order`]).
//!
//! A DEFERRABLE unique index keeps non-unique entries (two rows may hold
//! one key until the check): its inserts lock the key's *column prefix*
//! on the node (so concurrent inserters of a key queue as for an immediate
//! unique index) and report a possible conflict when another live entry
//! has the key; Postgres then rechecks at the end of the statement or at
//! COMMIT (`UNIQUE_CHECK_EXISTING`, see [`other_live_entry`]).
//!
//! Not done yet: index-only scans, descending entries (a `DESC` column's
//! entries are ascending; the planner is told so).
//!
//! Inverted indexes (`USING gin`) are [`gin`]'s `lyra_gin`; they share
//! the entry maintenance here ([`remove_entries`], [`drop_index`]).

// Callback signatures are Postgres's, argument counts included.
#![allow(clippy::too_many_arguments)]

pub mod btree_classes;
pub mod claims;
pub mod collated;
pub mod entry;
pub mod gin;
pub mod gist;
pub mod parents;
pub mod ranges;
pub mod scan;
pub mod speculative;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use lyra_cluster::protocol::LockMode;
use lyra_engine::keys::{Key, KeyPrefix, RowId, TableId};
use lyra_engine::keys::memcmp::entry_row_id;
use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::error::{raise, raise_detail};
use crate::tam::row_id_of;
use crate::{table, txn};
use entry::IndexShape;

thread_local! {
    /// (index, row) pairs whose entry an UPDATE left as it was: the
    /// executor's `aminsert` for them that follows has nothing to do.
    static UNCHANGED: RefCell<HashSet<(pg_sys::Oid, u64)>> = RefCell::new(HashSet::new());
}

/// `lyra.lyra_index_handler(internal) RETURNS index_am_handler`.
#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn lyra_index_handler(_fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    handler_result(routine())
}

/// An index access method's routine in Postgres's memory, as its handler
/// returns it.
pub(crate) unsafe fn handler_result(routine: pg_sys::IndexAmRoutine) -> pg_sys::Datum {
    let palloced = pg_sys::palloc0(std::mem::size_of::<pg_sys::IndexAmRoutine>()) as *mut pg_sys::IndexAmRoutine;
    palloced.write(routine);
    pg_sys::Datum::from(palloced)
}

/// lyra_index's routine; `lyra_gin` changes what an inverted index does
/// otherwise (and shares the rest: no storage to vacuum or initialize).
pub(crate) fn routine() -> pg_sys::IndexAmRoutine {
    pg_sys::IndexAmRoutine {
        type_: pg_sys::NodeTag::T_IndexAmRoutine,
        amstrategies: 5,
        // btree's support functions (its classes are the ones bound; see
        // btree_classes): comparison, sort support, in_range, equalimage, options.
        amsupport: 5,
        amoptsprocnum: 0,
        amcanorder: true,
        amcanorderbyop: false,
        amcanbackward: true,
        amcanunique: true,
        amcanmulticol: true,
        amoptionalkey: true,
        amsearcharray: true,
        amsearchnulls: false,
        amstorage: false,
        amclusterable: true,
        ampredlocks: false,
        amcanparallel: false,
        amcaninclude: true,
        amusemaintenanceworkmem: false,
        amparallelvacuumoptions: 0,
        amkeytype: pg_sys::InvalidOid,
        ambuild: Some(build),
        ambuildempty: Some(build_empty),
        aminsert: Some(insert),
        ambulkdelete: Some(bulk_delete),
        amvacuumcleanup: Some(vacuum_cleanup),
        amcanreturn: None,
        amcostestimate: Some(cost_estimate),
        amoptions: Some(options),
        amproperty: None,
        ambuildphasename: None,
        amvalidate: Some(validate),
        amadjustmembers: None,
        ambeginscan: Some(scan::begin),
        amrescan: Some(scan::rescan),
        amgettuple: Some(scan::get_tuple),
        amgetbitmap: Some(scan::get_bitmap),
        amendscan: Some(scan::end),
        ammarkpos: None,
        amrestrpos: None,
        amestimateparallelscan: None,
        aminitparallelscan: None,
        amparallelrescan: None,
    }
}

#[no_mangle]
pub extern "C" fn pg_finfo_lyra_index_handler() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

/// Whether `index` is a `lyra_index`.
pub unsafe fn is_lyra_index(index: pg_sys::Relation) -> bool {
    if index.is_null() || (*(*index).rd_rel).relkind != pg_sys::RELKIND_INDEX as std::ffi::c_char {
        return false;
    }
    // A syscache lookup, not a cached oid: DROP and CREATE EXTENSION in one
    // session gives the access method a new oid.
    let am = pg_sys::get_index_am_oid(c"lyra_index".as_ptr(), true);
    am != pg_sys::InvalidOid && (*(*index).rd_rel).relam == am || btree_classes::is_lent((*index).rd_id)
}

/// Tells the planner the order a Lyra index's entries are really in.
/// Entries are encoded ascending with nulls last in every column, whatever
/// the index declares: a column declared `DESC` or `NULLS FIRST` is
/// described as ascending, nulls last — so an index on `(t DESC)` serves
/// `ORDER BY t DESC` (nulls first, the default) scanning backward and
/// `ORDER BY t` forward, as a btree on `(t)` would; an order neither way
/// gives (`(a, b DESC)`, `t DESC NULLS LAST`) sorts. An index with a
/// column whose encoding's order is not its type's (text under a
/// collation whose order is not byte order, arrays, enums, jsonb) offers
/// no order at all; it still serves equality (and ranges where ordered).
///
/// # Safety
/// `rel` is the planner's relation, its index list built.
pub unsafe fn describe_entry_order(rel: *mut pg_sys::RelOptInfo) {
    let am = pg_sys::get_index_am_oid(c"lyra_index".as_ptr(), true);
    let indexes = (*rel).indexlist;
    if am == pg_sys::InvalidOid || indexes.is_null() {
        return;
    }
    for i in 0..(*indexes).length as usize {
        let info = (*(*indexes).elements.add(i)).ptr_value as *mut pg_sys::IndexOptInfo;
        if (*info).relam != am && !btree_classes::is_lent((*info).indexoid) || (*info).sortopfamily.is_null() {
            continue;
        }
        let columns = (*info).nkeycolumns as usize;
        let column = |c: usize| (*(*info).opfamily.add(c), *(*info).opcintype.add(c), *(*info).indexcollations.add(c));
        // Text under an ICU collation: ordered if the index keys it by
        // sort key (its storage mapping says; the relcache keeps it).
        let by_sort_key = (0..columns).any(|c| {
            let (family, typ, collation) = column(c);
            collated::Collated::for_column(table::KeyFormat::Collated, family, typ, collation).is_some()
        });
        let format = if by_sort_key { index_key_format((*info).indexoid) } else { table::KeyFormat::Bytes };
        let ordered = (0..columns).all(|c| {
            let (family, typ, collation) = column(c);
            entry::key_semantics(format, family, typ, collation).0
        });
        if !ordered {
            (*info).sortopfamily = std::ptr::null_mut();
            continue;
        }
        for c in 0..columns {
            *(*info).reverse_sort.add(c) = false;
            *(*info).nulls_first.add(c) = false;
        }
    }
}

/// How the engine index `oid` encodes its keys.
unsafe fn index_key_format(oid: pg_sys::Oid) -> table::KeyFormat {
    let rel = pg_sys::RelationIdGetRelation(oid);
    if rel.is_null() {
        return table::KeyFormat::Bytes;
    }
    let format = table::key_format(rel);
    pg_sys::RelationClose(rel);
    format
}

/// Whether `index` keeps its entries in the engine: a lyra_index or a
/// lyra_gin ([`gin`]), a lyra_gist or lyra_spgist ([`gist`]).
pub unsafe fn is_engine_index(index: pg_sys::Relation) -> bool {
    is_lyra_index(index) || gin::is_lyra_gin(index) || gist::is_lyra_gist(index)
}

/// What every build of an engine index (`am`) starts with: the table must
/// be a Lyra table; the index gets its id, or — rebuilt on the same
/// relfilenode (TRUNCATE of a table created in this transaction) — keeps
/// it, its old entries cleared.
pub(crate) unsafe fn prepare_build(heap: pg_sys::Relation, index: pg_sys::Relation, am: &str) {
    if !crate::tam::is_lyra(heap) {
        raise(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("{am} can only index lyra tables; \"{}\" is not one", table::relation_name(heap)),
        );
    }
    let node = (*index).rd_node;
    match table::lookup(&node) {
        Some(old) => {
            let (start, end) = KeyPrefix::Index { table: table::table_id(heap), index: old }.range();
            txn::delete_range(start, end, table::current_cid());
        }
        None => {
            // lyra_index keys text under an ICU collation by its sort key
            // (`entry::Collated`); the other engine indexes do not key text
            // by collation.
            let format = if am == "lyra_index" { table::KeyFormat::Collated } else { table::KeyFormat::Bytes };
            table::create(&node, format);
        }
    }
}

/// Whether an UPDATE left the entries of `row` in `index` as they were
/// (so its `aminsert` has nothing to do); forgets it either way.
pub(crate) unsafe fn take_unchanged(index: pg_sys::Relation, row: RowId) -> bool {
    UNCHANGED.with(|u| u.borrow_mut().remove(&((*index).rd_id, row.0)))
}

/// What a build pass counts, and what it needs.
struct BuildState {
    shape: IndexShape,
    index: pg_sys::Relation,
    heap: pg_sys::Relation,
    info: *mut pg_sys::IndexInfo,
    tuples: f64,
}

#[pg_guard]
unsafe extern "C-unwind" fn build(
    heap: pg_sys::Relation,
    index: pg_sys::Relation,
    info: *mut pg_sys::IndexInfo,
) -> *mut pg_sys::IndexBuildResult {
    prepare_build(heap, index, "lyra_index");
    check_columns(index);
    let mut state = BuildState { shape: IndexShape::of(index, heap), index, heap, info, tuples: 0.0 };
    build_scan(heap, index, info, Some(build_callback), &mut state, |s| s.tuples)
}

/// Before an exclusion constraint's check (Postgres scans the index with a
/// dirty snapshot for rows that conflict with the one just written;
/// `rescan` of lyra_index and lyra_gist calls this for every scan): the
/// *exclusion turn* for the row's values, a row lock held to the end of
/// the transaction, waiting for whoever has it.
///
/// Postgres's check relies on the dirty snapshot showing rows other
/// transactions are writing, to wait for them; a Lyra transaction's
/// writes stay in its backend until commit, so two could each insert
/// conflicting rows and find none. So writers that could conflict take
/// turns: the check runs only once every such transaction that checked
/// before has ended, and reads the latest committed rows (a dirty
/// snapshot reads at a new timestamp) besides the transaction's own — a
/// conflict with a committed row is reported, one with a rolled-back row
/// is gone.
///
/// Which writers could conflict: rows conflict only if every column's
/// operator holds, so where a column's operator is an equality with a
/// hash function (`room WITH =`; the hash opfamily's contract: equal
/// values hash alike), conflicting rows have equal hashes there. The
/// turn's key is the index's own key followed by those columns' hashes —
/// one turn per room, not per table; an index with no such column has one
/// turn (its own key): its writers run one at a time. A row with a NULL
/// in a key column conflicts with none (the operators are strict) and
/// takes no turn.
pub(crate) unsafe fn take_exclusion_turn(scan: pg_sys::IndexScanDesc) {
    let snapshot = (*scan).xs_snapshot;
    let index = (*scan).indexRelation;
    let dirty = !snapshot.is_null() && (*snapshot).snapshot_type == pg_sys::SnapshotType::SNAPSHOT_DIRTY;
    if !dirty || !(*(*index).rd_index).indisexclusion {
        return;
    }
    let keys = match (*scan).numberOfKeys {
        n if n > 0 => std::slice::from_raw_parts((*scan).keyData, n as usize),
        _ => &[],
    };
    if keys.iter().any(|k| k.sk_flags & pg_sys::SK_ISNULL as i32 != 0) {
        return;
    }
    let mut operators: *mut pg_sys::Oid = std::ptr::null_mut();
    let mut procs: *mut pg_sys::Oid = std::ptr::null_mut();
    let mut strategies: *mut u16 = std::ptr::null_mut();
    pg_sys::RelationGetExclusionInfo(index, &mut operators, &mut procs, &mut strategies);
    // A key only locked, never written; an entry of the same key would
    // only share its lock (the entries of an exclusion index, never
    // unique, are not locked otherwise).
    let mut turn = vec![0xff, 0xff];
    for k in keys {
        let operator = *operators.add(k.sk_attno as usize - 1);
        let (mut hash, mut _rhs) = (pg_sys::InvalidOid, pg_sys::InvalidOid);
        if pg_sys::get_op_hash_functions(operator, &mut hash, &mut _rhs) && hash != pg_sys::InvalidOid {
            let h = pg_sys::OidFunctionCall1Coll(hash, k.sk_collation, k.sk_argument).value() as u32;
            turn.extend_from_slice(&h.to_be_bytes());
        }
    }
    if turn.len() == 2 {
        turn.clear();
    }
    let heap = (*scan).heapRelation;
    let key = Key::IndexEntry { table: table::table_id(heap), index: table::table_id(index), entry: turn }.encode();
    if txn::held_lock(&key, LockMode::Update).is_none() {
        txn::lock_row(&key, LockMode::Update, txn::LockFor::Lock, true, std::ptr::null_mut(), std::ptr::null_mut());
    }
}

/// A new memory context `name` under the current one, sized as Postgres's
/// default ones.
pub(crate) unsafe fn memory_context(name: &'static std::ffi::CStr) -> pg_sys::MemoryContext {
    pg_sys::AllocSetContextCreateExtended(
        pg_sys::CurrentMemoryContext,
        name.as_ptr(),
        pg_sys::ALLOCSET_DEFAULT_MINSIZE as usize,
        pg_sys::ALLOCSET_DEFAULT_INITSIZE as usize,
        pg_sys::ALLOCSET_DEFAULT_MAXSIZE as usize,
    )
}

/// The `n` key columns Postgres hands an index callback, as slices.
///
/// # Safety
/// `values` and `isnull` point at `n` elements each.
pub(crate) unsafe fn columns<'a>(values: *mut pg_sys::Datum, isnull: *mut bool, n: usize) -> (&'a [pg_sys::Datum], &'a [bool]) {
    (std::slice::from_raw_parts(values, n), std::slice::from_raw_parts(isnull, n))
}

/// The table's scan for a build of `index`, each row handed to `callback`
/// with `state`; the result Postgres wants, with the entries `tuples`
/// counts.
pub(crate) unsafe fn build_scan<S>(
    heap: pg_sys::Relation,
    index: pg_sys::Relation,
    info: *mut pg_sys::IndexInfo,
    callback: pg_sys::IndexBuildCallback,
    state: &mut S,
    tuples: impl Fn(&S) -> f64,
) -> *mut pg_sys::IndexBuildResult {
    let heap_tuples =
        pg_sys::table_index_build_scan(heap, index, info, false, false, callback, (state as *mut S).cast(), std::ptr::null_mut());
    let result = pg_sys::palloc0(std::mem::size_of::<pg_sys::IndexBuildResult>()) as *mut pg_sys::IndexBuildResult;
    (*result).heap_tuples = heap_tuples;
    (*result).index_tuples = tuples(state);
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
    let (values, isnull) = columns(values, isnull, state.shape.columns.len());
    let (key, value, constrained) = state.shape.entry(values, isnull, row_id_of(tid));
    let mut holder = None;
    let duplicate = if constrained {
        holder = txn::lookup(&key, txn::SEE_ALL).flatten();
        holder.is_some()
    } else if deferred_unique(state.index, &state.shape, isnull) {
        // Entries of a deferrable index end with their row id.
        let columns = &key[..key.len() - 8];
        let end = lyra_engine::keys::memcmp::prefix_end(columns);
        txn::next_visible(columns, None, &end, txn::SEE_ALL, false).is_some()
    } else {
        false
    };
    if duplicate {
        // The key as the row that took it first has it (heap's sorted build
        // names the first of the two it meets; under a nondeterministic
        // collation the two may differ: 'abc' and 'ABC'); else this row's.
        let described = holder.and_then(|h| holder_key(state, &h)).or_else(|| describe(state.index, values, isnull));
        let detail = match described {
            Some(key) => format!("Key {key} is duplicated."),
            None => "Duplicate keys exist.".into(),
        };
        raise_detail(
            PgSqlErrorCode::ERRCODE_UNIQUE_VIOLATION,
            format!("could not create unique index \"{}\"", table::relation_name(state.index)),
            detail,
        );
    }
    txn::put(key, value, table::current_cid());
    state.tuples += 1.0;
}

/// The index key of the row whose id a unique entry holds (`holder`), as
/// `BuildIndexValueDescription` prints it; `None` if it cannot be read.
unsafe fn holder_key(state: &BuildState, holder: &[u8]) -> Option<String> {
    let row = RowId(u64::from_be_bytes(holder.try_into().ok()?));
    let snapshot = if pg_sys::ActiveSnapshotSet() { pg_sys::GetActiveSnapshot() } else { &raw mut pg_sys::SnapshotAnyData };
    key_of(state.index, state.info, state.heap, row, snapshot)
}

/// The `index` key of `row` in `heap`, a row this transaction wrote, as
/// `BuildIndexValueDescription` prints it; `None` if it cannot be read.
unsafe fn row_key(index: pg_sys::Relation, heap: pg_sys::Relation, row: RowId) -> Option<String> {
    key_of(index, pg_sys::BuildIndexInfo(index), heap, row, &raw mut pg_sys::SnapshotSelfData)
}

/// The `index` (described by `info`) key of `row` in `heap` as `snapshot`
/// sees the row, as `BuildIndexValueDescription` prints it.
unsafe fn key_of(
    index: pg_sys::Relation,
    info: *mut pg_sys::IndexInfo,
    heap: pg_sys::Relation,
    row: RowId,
    snapshot: pg_sys::Snapshot,
) -> Option<String> {
    let (block, offset) = row.to_tid();
    let mut tid = pg_sys::ItemPointerData::default();
    pgrx::itemptr::item_pointer_set_all(&mut tid, block, offset);
    let slot = pg_sys::table_slot_create(heap, std::ptr::null_mut());
    let fetch = (*(*heap).rd_tableam).tuple_fetch_row_version?;
    let mut described = None;
    if fetch(heap, &mut tid, snapshot, slot) {
        let estate = pg_sys::CreateExecutorState();
        (*pg_sys::MakePerTupleExprContext(estate)).ecxt_scantuple = slot;
        let n = pg_sys::INDEX_MAX_KEYS as usize;
        let (mut values, mut isnull) = (vec![pg_sys::Datum::from(0); n], vec![false; n]);
        pg_sys::FormIndexDatum(info, slot, estate, values.as_mut_ptr(), isnull.as_mut_ptr());
        described = describe(index, &values, &isnull);
        pg_sys::FreeExecutorState(estate);
    }
    pg_sys::ExecDropSingleTupleTableSlot(slot);
    described
}

/// Refuses key columns whose type has no encoding (an operator class of
/// another family bound to lyra_index by hand), uniqueness or a pattern
/// class under a nondeterministic collation, and parts that cannot be
/// encoded.
unsafe fn check_columns(index: pg_sys::Relation) {
    for i in 0..(*(*index).rd_index).indnkeyatts as usize {
        let typ = *(*index).rd_opcintype.add(i);
        if !entry::supported(typ) {
            raise(
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                format!("lyra_index does not support columns of type {}", type_name(typ)),
            );
        }
        let collation = *(*index).rd_indcollation.add(i);
        let family = *(*index).rd_opfamily.add(i);
        let (_, key_equal) = entry::key_semantics(table::key_format(index), family, typ, collation);
        let (_, byte_equal) = entry::byte_semantics(typ, collation);
        if (*(*index).rd_index).indisunique && !key_equal {
            // Entries are unique by their bytes; under a nondeterministic
            // libc collation (or an older index's ICU one: `collated`)
            // equal strings have other bytes ('abc' and 'ABC'
            // case-insensitively), and both would be taken.
            raise(
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                format!(
                    "lyra_index cannot enforce uniqueness of {} under the nondeterministic collation \"{}\"",
                    type_name(typ),
                    collation_name(collation)
                ),
            );
        }
        let pattern_class = match family {
            pg_sys::TEXT_PATTERN_BTREE_FAM_OID => Some("text_pattern_ops"),
            pg_sys::BPCHAR_PATTERN_BTREE_FAM_OID => Some("bpchar_pattern_ops"),
            _ => None,
        };
        if let Some(class) = pattern_class.filter(|_| !byte_equal) {
            // btree's pattern classes compare bytes, which is not equality
            // under a nondeterministic collation; btree refuses them (its
            // message, naming the family's class as it does).
            raise(
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                format!("nondeterministic collations are not supported for operator class \"{class}\""),
            );
        }
        if entry::WITH_PARTS.contains(&typ) {
            // The column's own type: which arrays or composites it holds.
            let column = (*(*(*index).rd_att).attrs.as_ptr().add(i)).atttypid;
            if let Some(why) = entry::cannot_key(column, collation) {
                raise(PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED, format!("lyra_index cannot encode {why}"));
            }
        }
    }
}

/// A lyra_index with key values of the composite type `typ` (in a
/// column of it, an array, a domain or another composite), if any.
///
/// # Safety
/// Inside a transaction (reads the catalog through SPI).
pub unsafe fn keyed_with(typ: pg_sys::Oid) -> Option<String> {
    let columns: Vec<(String, pg_sys::Oid)> = Spi::connect(|client| {
        let query = "SELECT c.oid::regclass::text, a.atttypid FROM pg_class c \
                     JOIN pg_am m ON m.oid = c.relam AND m.amname = 'lyra_index' \
                     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0";
        let mut columns = Vec::new();
        for row in client.select(query, None, &[])? {
            if let (Some(index), Some(typ)) = (row.get::<String>(1)?, row.get::<pg_sys::Oid>(2)?) {
                columns.push((index, typ));
            }
        }
        Ok::<_, pgrx::spi::SpiError>(columns)
    })
    .unwrap_or_else(|e| raise(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, format!("reading lyra_index columns: {e}")));
    columns.into_iter().find(|&(_, column)| entry::holds(column, typ)).map(|(index, _)| index)
}

unsafe fn collation_name(collation: pg_sys::Oid) -> String {
    let name = pg_sys::get_collation_name(collation);
    if name.is_null() {
        return collation.to_u32().to_string();
    }
    std::ffi::CStr::from_ptr(name).to_string_lossy().into_owned()
}

pub(super) unsafe fn type_name(typ: pg_sys::Oid) -> String {
    let name = pg_sys::format_type_be(typ);
    std::ffi::CStr::from_ptr(name).to_string_lossy().into_owned()
}

/// `(a, b)=(1, 2)`, as Postgres prints a key in errors; `None` when the
/// user may not see the key's columns (Postgres then leaves the key out).
unsafe fn describe(index: pg_sys::Relation, values: &[pg_sys::Datum], isnull: &[bool]) -> Option<String> {
    let text = pg_sys::BuildIndexValueDescription(index, values.as_ptr().cast_mut(), isnull.as_ptr().cast_mut());
    (!text.is_null()).then(|| std::ffi::CStr::from_ptr(text).to_string_lossy().into_owned())
}

/// Unlogged indexes: the engine has no init fork to write.
#[pg_guard]
unsafe extern "C-unwind" fn build_empty(_index: pg_sys::Relation) {}

#[pg_guard]
unsafe extern "C-unwind" fn insert(
    index: pg_sys::Relation,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    heap_tid: pg_sys::ItemPointer,
    heap: pg_sys::Relation,
    check_unique: pg_sys::IndexUniqueCheck::Type,
    _index_unchanged: bool,
    _info: *mut pg_sys::IndexInfo,
) -> bool {
    let row = row_id_of(heap_tid);
    let unchanged = take_unchanged(index, row);
    if unchanged && !is_deferrable_unique(index) {
        return true;
    }
    let shape = IndexShape::of(index, heap);
    let (values, isnull) = columns(values, isnull, shape.columns.len());
    let (key, value, constrained) = shape.entry(values, isnull, row);
    if deferred_unique(index, &shape, isnull) {
        // The key without its row id: the columns every duplicate shares.
        let columns = &key[..key.len() - 8];
        use pg_sys::IndexUniqueCheck::*;
        let possible_conflict = match check_unique {
            UNIQUE_CHECK_NO => false,
            // The recheck (UNIQUE_CHECK_EXISTING) waits for other inserters
            // of the key and decides.
            UNIQUE_CHECK_EXISTING | UNIQUE_CHECK_YES => {
                if other_live_entry(heap, heap_tid, columns, row, true) {
                    duplicate_key(index, values, isnull);
                }
                false
            }
            // An insert: a conflict it cannot rule out is rechecked later.
            _ => other_live_entry(heap, heap_tid, columns, row, false),
        };
        // The recheck's entry is there already, and so is the entry of an
        // UPDATE that kept the key (which still asks for a recheck: a
        // pending one of the row's previous version would find that
        // version gone, where heap's follows the HOT chain to this one).
        if check_unique != UNIQUE_CHECK_EXISTING && !unchanged {
            txn::put(key, value, table::current_cid());
        }
        return !possible_conflict;
    }
    if constrained {
        match check_unique {
            pg_sys::IndexUniqueCheck::UNIQUE_CHECK_YES => {
                // A key this transaction has not written: claimed with the
                // statement's others when it ends (see `claims`).
                if txn::lookup(&key, txn::SEE_ALL).is_none() {
                    claims::defer(index, heap, &key, row);
                } else if let Err(conflict) = claim_unique_entry(heap, heap_tid, &key, row) {
                    refuse_duplicate(index, heap, &key, conflict, describe(index, values, isnull));
                }
            }
            // A speculative insertion (INSERT … ON CONFLICT): a conflict
            // is an answer, not an error — the executor takes the row back
            // and looks for the conflicting one.
            pg_sys::IndexUniqueCheck::UNIQUE_CHECK_PARTIAL if (*(*index).rd_index).indimmediate => {
                if claim_unique_entry(heap, heap_tid, &key, row).is_err() {
                    return false;
                }
            }
            _ => {}
        }
    }
    txn::put(key, value, table::current_cid());
    true
}

/// Locks the unique entry `key` for row `row` (waiting for a transaction
/// that holds it), unless a committed entry is there ([`txn::claim_entry`]).
/// `Err` if a live entry of another row is there: with its commit
/// timestamp and that row if it is committed (not this transaction's).
unsafe fn claim_unique_entry(
    heap: pg_sys::Relation,
    heap_tid: pg_sys::ItemPointer,
    key: &[u8],
    row: RowId,
) -> Result<(), Option<(Option<lyra_cluster::protocol::Ts>, RowId)>> {
    // A speculative insertion retries after every conflict: stay cancellable.
    pg_sys::check_for_interrupts!();
    let locked = txn::claim_entry(key, heap, heap_tid);
    let (existing, committed_at) = match txn::lookup(key, txn::SEE_ALL) {
        Some(buffered) => (buffered, None),
        None => (locked.value, Some(locked.latest_ts)),
    };
    match existing.map(|existing| entry_row_id(key, &existing)) {
        Some(other) if other != Some(row) => Err(committed_at.zip(other)),
        _ => Ok(()),
    }
}

/// 23505 for a row with key columns `values`/`isnull` in `index` (the key
/// in the DETAIL only for a user who may see its columns, as on heap).
unsafe fn duplicate_key(index: pg_sys::Relation, values: &[pg_sys::Datum], isnull: &[bool]) -> ! {
    duplicate_described(index, describe(index, values, isnull))
}

/// 23505 in `index`, naming the key `described` (`None`: unnamed).
unsafe fn duplicate_described(index: pg_sys::Relation, described: Option<String>) -> ! {
    let message = format!("duplicate key value violates unique constraint \"{}\"", table::relation_name(index));
    match described {
        Some(key) => raise_detail(PgSqlErrorCode::ERRCODE_UNIQUE_VIOLATION, message, format!("Key {key} already exists.")),
        None => raise(PgSqlErrorCode::ERRCODE_UNIQUE_VIOLATION, message),
    }
}

/// Refuses a row whose unique entry `key` in `index` of `heap` met another
/// row's (`conflict`: that row and its entry's commit timestamp, when
/// committed — not this transaction's): 23505 naming the key
/// (`described`) — or, if this transaction read the key (or the table)
/// before that commit, under SERIALIZABLE, the serialization failure its
/// commit would report, not a duplicate its snapshot never showed (heap's
/// SSI reports one here too).
///
/// # Safety
/// `heap` is an open relation.
unsafe fn refuse_duplicate(
    index: pg_sys::Relation,
    heap: pg_sys::Relation,
    key: &[u8],
    conflict: Option<(Option<lyra_cluster::protocol::Ts>, RowId)>,
    described: Option<String>,
) -> ! {
    let read = |k: &[u8]| conflict.is_some_and(|(at, _)| txn::read_before_commit_of(k, at));
    let row_key = conflict.map(|(_, other)| table::row_key(table::table_id(heap), other));
    if read(key) || row_key.is_some_and(|k| read(&k)) {
        raise_detail(
            PgSqlErrorCode::ERRCODE_T_R_SERIALIZATION_FAILURE,
            "could not serialize access due to read/write dependencies among transactions",
            match described {
                Some(key) => format!("Key {key} was inserted by a transaction that committed after this one read it."),
                None => "The key was inserted by a transaction that committed after this one read it.".into(),
            },
        );
    }
    duplicate_described(index, described)
}

/// Whether `index` is a DEFERRABLE unique index.
unsafe fn is_deferrable_unique(index: pg_sys::Relation) -> bool {
    (*(*index).rd_index).indisunique && !(*(*index).rd_index).indimmediate
}

/// Whether `index` is a DEFERRABLE unique index and the key `isnull`
/// describes can conflict (NULLs are distinct unless NULLS NOT DISTINCT).
unsafe fn deferred_unique(index: pg_sys::Relation, shape: &IndexShape, isnull: &[bool]) -> bool {
    is_deferrable_unique(index) && (shape.nulls_not_distinct || !isnull.iter().any(|n| *n))
}

/// Whether a live entry of another row than `row` has the key columns
/// `columns` (encoded), among the latest committed entries and this
/// transaction's own — after locking `columns` on the node, which every
/// inserter of that key does (held until the transaction ends). With
/// `wait` false (an insert, `UNIQUE_CHECK_PARTIAL`), a lock held by
/// another inserter counts as a possible conflict, to be rechecked later
/// with `wait` (`UNIQUE_CHECK_EXISTING`, at the end of the statement or
/// at COMMIT) — heap's inserts likewise wait only at the recheck.
unsafe fn other_live_entry(
    heap: pg_sys::Relation,
    heap_tid: pg_sys::ItemPointer,
    columns: &[u8],
    row: RowId,
    wait: bool,
) -> bool {
    pg_sys::check_for_interrupts!();
    if txn::held_lock(columns, LockMode::Update).is_none()
        && txn::lock_row(columns, LockMode::Update, txn::LockFor::Lock, wait, heap, heap_tid).is_none()
    {
        return true;
    }
    let end = lyra_engine::keys::memcmp::prefix_end(columns);
    let read_latest = crate::snapshot::ReadTs::default();
    let mut cursor = crate::tam::Cursor::over(table::table_id(heap), txn::SEE_ALL, read_latest, columns.to_vec(), end);
    while let Some((key, value)) = cursor.next() {
        if entry_row_id(&key, &value) != Some(row) {
            return true;
        }
    }
    false
}

/// Deletes the entries of row `row` of `heap` whose key `new_slot` (an
/// UPDATE's new version; `None` for a DELETE) changes, given the row's
/// current version `old`. Returns whether any entry changed, so the
/// executor must insert the new ones; entries left as they were are
/// remembered so their `aminsert` is skipped.
///
/// # Safety
/// `heap` is an open Lyra table with indexes; `new_slot` holds a tuple of it.
pub unsafe fn remove_entries(
    heap: pg_sys::Relation,
    tid: pg_sys::ItemPointer,
    old: &[u8],
    new_slot: Option<*mut pg_sys::TupleTableSlot>,
) -> bool {
    let row = row_id_of(tid);
    forget_unchanged();
    let indexes = pg_sys::RelationGetIndexList(heap);
    if indexes.is_null() {
        return false;
    }
    // Everything below is allocated in the executor state's memory,
    // freed with it at the end of the call.
    let estate = pg_sys::CreateExecutorState();
    let caller_cxt = pg_sys::MemoryContextSwitchTo((*estate).es_query_cxt);
    let econtext = pg_sys::MakePerTupleExprContext(estate);
    let old_slot = pg_sys::MakeSingleTupleTableSlot((*heap).rd_att, &crate::slot::LYRA_SLOT_OPS);
    crate::datum::store_row(old_slot, old);
    let mut changed = false;
    let cid = table::current_cid();
    for i in 0..(*indexes).length as usize {
        let oid = (*(*indexes).elements.add(i)).oid_value;
        let index = pg_sys::index_open(oid, pg_sys::RowExclusiveLock as i32);
        let shape = if is_lyra_index(index) {
            Shape::Lyra(IndexShape::of(index, heap))
        } else if gin::is_lyra_gin(index) {
            Shape::Gin(gin::Shape::of(index, heap))
        } else if gist::is_lyra_gist(index) {
            Shape::Gist(gist::Shape::of(index, heap))
        } else {
            pg_sys::index_close(index, pg_sys::NoLock as i32);
            continue;
        };
        let info = pg_sys::BuildIndexInfo(index);
        let n = (*(*index).rd_index).indnkeyatts as usize;
        // A version's entries (sorted), and whether they are a unique constraint.
        let entries_of = |slot: *mut pg_sys::TupleTableSlot| -> (Vec<Vec<u8>>, bool) {
            let mut values = vec![pg_sys::Datum::from(0); pg_sys::INDEX_MAX_KEYS as usize];
            let mut isnull = vec![false; pg_sys::INDEX_MAX_KEYS as usize];
            (*econtext).ecxt_scantuple = slot;
            pg_sys::FormIndexDatum(info, slot, estate, values.as_mut_ptr(), isnull.as_mut_ptr());
            match &shape {
                Shape::Lyra(shape) => {
                    let (key, _, constrained) = shape.entry(&values[..n], &isnull[..n], row);
                    (vec![key], constrained)
                }
                Shape::Gin(shape) => (shape.entries(&values[..n], &isnull[..n], row), false),
                Shape::Gist(shape) => (vec![shape.entry(&values[..n], &isnull[..n], row)], false),
            }
        };
        // A partial index holds only the versions its predicate accepts.
        let predicate = if (*info).ii_Predicate.is_null() {
            std::ptr::null_mut()
        } else {
            pg_sys::ExecPrepareQual((*info).ii_Predicate, estate)
        };
        let indexed = |slot: *mut pg_sys::TupleTableSlot| {
            (*econtext).ecxt_scantuple = slot;
            predicate.is_null() || pg_sys::ExecQual(predicate, econtext)
        };
        if !indexed(old_slot) {
            // No entry to remove; the executor adds one if the new version
            // qualifies, as long as it is told to insert at all.
            changed |= new_slot.is_some_and(|slot| indexed(slot));
            pg_sys::index_close(index, pg_sys::NoLock as i32);
            continue;
        }
        let (old_entries, constrained) = entries_of(old_slot);
        let new_entries = new_slot.filter(|&slot| indexed(slot)).map(|slot| entries_of(slot).0);
        if new_entries.as_ref() == Some(&old_entries) {
            UNCHANGED.with(|u| u.borrow_mut().insert((oid, row.0)));
            // A deferrable unique index still hears of the new version (see
            // `insert`): the executor must call the index inserts.
            changed |= is_deferrable_unique(index);
        } else {
            // The entries the new version does not have (of a lyra_index,
            // its one entry; of a lyra_gin, the keys it lost).
            let kept = |key: &Vec<u8>| new_entries.as_ref().is_some_and(|new| new.binary_search(key).is_ok());
            for old_key in old_entries.into_iter().filter(|key| !kept(key)) {
                if constrained {
                    // Whoever inserts this key next waits for this transaction.
                    txn::lock_row(&old_key, LockMode::Update, txn::LockFor::Lock, true, heap, tid);
                }
                txn::delete(old_key, cid);
            }
            changed = true;
        }
        pg_sys::index_close(index, pg_sys::NoLock as i32);
    }
    pg_sys::ExecDropSingleTupleTableSlot(old_slot);
    pg_sys::MemoryContextSwitchTo(caller_cxt);
    pg_sys::FreeExecutorState(estate);
    if !changed {
        // The executor calls no `aminsert` to take these: a pair left over
        // would skip the entry of a later row with the same id (row ids
        // start again after TRUNCATE) — a row missing from its indexes.
        forget_unchanged();
    }
    changed
}

/// How a kind of engine index makes a row's entries.
enum Shape {
    Lyra(IndexShape),
    Gin(gin::Shape),
    Gist(gist::Shape),
}

/// Forgets the entries UPDATEs left as they were (at the end of an update
/// that changed none, and of every transaction).
pub fn forget_unchanged() {
    UNCHANGED.with(|u| u.borrow_mut().clear());
}

/// An engine index dropped in this transaction: its entries and storage
/// mapping go at commit, unless a new index took its storage over.
struct Dropped {
    node: pg_sys::RelFileNode,
    /// The table's id and the index's, if the table is a Lyra table.
    entries: Option<(TableId, TableId)>,
    subxact: pg_sys::SubTransactionId,
}

thread_local! {
    static DROPPED: RefCell<Vec<Dropped>> = const { RefCell::new(Vec::new()) };
}

/// Removes every entry of a dropped index at commit ([`finish_drops`]) —
/// unless another index takes its storage over first: `ALTER COLUMN …
/// TYPE` to a type whose entries are the same drops an index, then
/// recreates it on the same relfilenode ([`storage_reused`]).
pub unsafe fn drop_index(index: pg_sys::Relation) {
    let node = (*index).rd_node;
    let Some(index_id) = table::lookup(&node) else { return };
    let entries = lyra_table_id((*(*index).rd_index).indrelid).map(|table| (table, index_id));
    let subxact = pg_sys::GetCurrentSubTransactionId();
    DROPPED.with(|d| d.borrow_mut().push(Dropped { node, entries, subxact }));
}

/// The engine table id of relation `oid`, if it is a Lyra table.
unsafe fn lyra_table_id(oid: pg_sys::Oid) -> Option<TableId> {
    let rel = pg_sys::RelationIdGetRelation(oid);
    if rel.is_null() {
        return None;
    }
    let table = crate::tam::is_lyra(rel).then(|| table::table_id(rel));
    pg_sys::RelationClose(rel);
    table
}

/// A new index on relfilenode `node`: if an index dropped in this
/// transaction had it, its entries are the new index's.
pub fn storage_reused(node: &pg_sys::RelFileNode) {
    DROPPED.with(|d| d.borrow_mut().retain(|d| !table::same_node(&d.node, node)));
}

/// Where an engine index and its table were stored before a statement
/// that may give them new relfilenodes (REINDEX, TRUNCATE, table
/// rewrites, SET TABLESPACE): a stack, for statements run inside others.
struct Stored {
    index: pg_sys::Oid,
    node: pg_sys::RelFileNode,
    table: pg_sys::Oid,
    table_node: pg_sys::RelFileNode,
    subxact: pg_sys::SubTransactionId,
}

thread_local! {
    static STORED_BEFORE: RefCell<Vec<Stored>> = const { RefCell::new(Vec::new()) };
}

/// Notes every engine index's relfilenode, and its table's, before a
/// statement that may replace them; returns the mark
/// [`reclaim_replaced`] takes after it.
///
/// # Safety
/// Inside a transaction (reads the catalog through SPI).
pub unsafe fn note_storage() -> usize {
    let stored = engine_index_storage();
    STORED_BEFORE.with(|s| {
        let mut s = s.borrow_mut();
        let mark = s.len();
        s.extend(stored);
        mark
    })
}

/// Where every engine index of this database, and its table, is stored
/// (from the catalog, so no relation is opened).
unsafe fn engine_index_storage() -> Vec<Stored> {
    Spi::connect(|client| {
        let query = "SELECT c.oid, c.reltablespace, c.relfilenode, t.oid, t.reltablespace, t.relfilenode FROM pg_class c \
                     JOIN pg_am m ON m.oid = c.relam AND m.amname IN ('lyra_index', 'lyra_gin', 'lyra_gist', 'lyra_spgist') \
                     JOIN pg_index i ON i.indexrelid = c.oid JOIN pg_class t ON t.oid = i.indrelid";
        let mut stored = Vec::new();
        for row in client.select(query, None, &[])? {
            let oid = |n| row.get::<pg_sys::Oid>(n).map(|o| o.unwrap_or(pg_sys::InvalidOid));
            let (index, spc, rel) = (oid(1)?, oid(2)?, oid(3)?);
            let (table, table_spc, table_rel) = (oid(4)?, oid(5)?, oid(6)?);
            let (node, table_node) = (node_of(spc, rel), node_of(table_spc, table_rel));
            stored.push(Stored { index, node, table, table_node, subxact: pg_sys::GetCurrentSubTransactionId() });
        }
        Ok::<_, pgrx::spi::SpiError>(stored)
    })
    .unwrap_or_else(|e| raise(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, format!("reading engine indexes' storage: {e}")))
}

/// The relfilenode pg_class names (tablespace 0 is the database's
/// default, which a relation's cache entry names).
unsafe fn node_of(spc: pg_sys::Oid, rel: pg_sys::Oid) -> pg_sys::RelFileNode {
    let spc = if spc == pg_sys::InvalidOid { pg_sys::MyDatabaseTableSpace } else { spc };
    pg_sys::RelFileNode { spcNode: spc, dbNode: pg_sys::MyDatabaseId, relNode: rel }
}

/// After the statement [`note_storage`] saw start, for each engine index
/// that now has another relfilenode:
/// * rebuilt (REINDEX, a TRUNCATE, a table rewrite): the new relfilenode
///   is a new engine index, and the old one's storage mapping goes when
///   this transaction commits (the last one, for a REINDEX that commits
///   table after table) — with its entries, unless they went with the
///   table's old rows (its table has another relfilenode too);
/// * moved (`SET TABLESPACE` copies an index's storage, which for Lyra is
///   empty): the new relfilenode names the same engine index.
///
/// # Safety
/// Inside a transaction (reads the catalog through SPI).
pub unsafe fn reclaim_replaced(mark: usize) {
    let before = STORED_BEFORE.with(|s| {
        let mut s = s.borrow_mut();
        if mark < s.len() { s.split_off(mark) } else { Vec::new() }
    });
    if before.is_empty() {
        return;
    }
    let now: HashMap<pg_sys::Oid, Stored> = engine_index_storage().into_iter().map(|s| (s.index, s)).collect();
    let subxact = pg_sys::GetCurrentSubTransactionId();
    for old in before {
        // Gone: dropped, and drop_index has it.
        let Some(new) = now.get(&old.index) else { continue };
        if table::same_node(&new.node, &old.node) {
            continue;
        }
        let Some(old_index) = table::lookup_mapping(&old.node) else { continue };
        if table::lookup(&new.node).is_none() {
            table::remap(&old.node, &new.node, old_index);
            continue;
        }
        let old_index = old_index.table;
        let entries = if table::same_node(&new.table_node, &old.table_node) {
            lyra_table_id(new.table).map(|table| (table, old_index))
        } else {
            None
        };
        DROPPED.with(|d| d.borrow_mut().push(Dropped { node: old.node, entries, subxact }));
    }
}

/// Forgets what [`note_storage`] noted for statements that failed: in
/// subtransaction `subxact` and those inside it, or all (`None`).
pub fn forget_storage(subxact: Option<pg_sys::SubTransactionId>) {
    STORED_BEFORE.with(|s| s.borrow_mut().retain(|s| subxact.is_some_and(|x| s.subxact < x)));
}

/// Deletes the entries and mappings of the indexes this transaction
/// dropped (just before it commits).
pub fn finish_drops() {
    let cid = table::current_cid();
    for dropped in DROPPED.with(|d| std::mem::take(&mut *d.borrow_mut())) {
        if let Some((table, index)) = dropped.entries {
            let (start, end) = KeyPrefix::Index { table, index }.range();
            txn::delete_range(start, end, cid);
        }
        table::forget_mapping(&dropped.node);
    }
}

/// Whether this transaction dropped an engine index (its deletions wait
/// for the commit: a transaction is not empty with them).
pub fn drops_pending() -> bool {
    DROPPED.with(|d| !d.borrow().is_empty())
}

/// Forgets the drops of subtransaction `subxact` and those inside it (it
/// rolled back), or all of them (`None`: the transaction did).
pub fn forget_drops(subxact: Option<pg_sys::SubTransactionId>) {
    DROPPED.with(|d| d.borrow_mut().retain(|d| subxact.is_some_and(|s| d.subxact < s)));
}

/// VACUUM: nothing to remove — deleted rows' entries went with them.
#[pg_guard]
unsafe extern "C-unwind" fn bulk_delete(
    _info: *mut pg_sys::IndexVacuumInfo,
    stats: *mut pg_sys::IndexBulkDeleteResult,
    _callback: pg_sys::IndexBulkDeleteCallback,
    _state: *mut std::ffi::c_void,
) -> *mut pg_sys::IndexBulkDeleteResult {
    stats
}

#[pg_guard]
unsafe extern "C-unwind" fn vacuum_cleanup(
    _info: *mut pg_sys::IndexVacuumInfo,
    stats: *mut pg_sys::IndexBulkDeleteResult,
) -> *mut pg_sys::IndexBulkDeleteResult {
    stats
}

extern "C-unwind" {
    fn btcostestimate(
        root: *mut pg_sys::PlannerInfo,
        path: *mut pg_sys::IndexPath,
        loop_count: f64,
        startup: *mut pg_sys::Cost,
        total: *mut pg_sys::Cost,
        selectivity: *mut pg_sys::Selectivity,
        correlation: *mut f64,
        pages: *mut f64,
    );
    fn btoptions(reloptions: pg_sys::Datum, validate: bool) -> *mut pg_sys::bytea;
}

/// Costs as btree's: the same selectivity arithmetic over the same
/// statistics.
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
    // btcostestimate reads the first column's sort direction to turn the
    // statistics' correlation into the index's; the planner leaves these
    // arrays out for an index AM that cannot order. Ascending, nulls last
    // — the order of the entries. (The planner orders by sortopfamily,
    // which stays unset.)
    let info = (*path).indexinfo;
    let columns = (*info).ncolumns.max(1) as usize;
    if (*info).reverse_sort.is_null() {
        (*info).reverse_sort = pg_sys::palloc0(columns * std::mem::size_of::<bool>()).cast();
    }
    if (*info).nulls_first.is_null() {
        (*info).nulls_first = pg_sys::palloc0(columns * std::mem::size_of::<bool>()).cast();
    }
    btcostestimate(root, path, loop_count, startup, total, selectivity, correlation, pages);
}

/// Accepts btree's storage parameters (fillfactor, deduplicate_items) so
/// DDL written for btree works; the engine ignores them.
#[pg_guard]
unsafe extern "C-unwind" fn options(reloptions: pg_sys::Datum, validate: bool) -> *mut pg_sys::bytea {
    btoptions(reloptions, validate)
}

#[pg_guard]
unsafe extern "C-unwind" fn validate(_opclass: pg_sys::Oid) -> bool {
    true
}
