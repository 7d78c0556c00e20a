//! Index scans: the scan keys become one key range of the index's entries,
//! read at the scan's snapshot through a table [`Cursor`] (the node's
//! committed entries merged with this transaction's buffered ones); each
//! entry hands Postgres the TID of its row, which the table AM fetches.
//! A unique index searched by its whole key is a point lookup: the entry
//! and its row come back from the node in one request.
//! Entries come in index order, forward or backward (the planner counts
//! on it for `ORDER BY`, merge joins and `max()`; see `withhold_unordered`
//! in `index` for when it may).
//!
//! ```text
//!   keys on columns 1..k-1 all `=`, column k `>`/`>=` and/or `<`/`<=`:
//!   start = prefix · enc(=1) … enc(=k-1) · enc(lower) (· successor if `>`)
//!   end   = prefix · enc(=1) … enc(=k-1) · enc(upper) (· successor if `<=`)
//! ```
//!
//! Keys the encoding cannot bound by (text under a collation whose order
//! is not byte order, non-deterministic collations, a key of another type
//! of the column's btree family that encodes differently, such as a date
//! against a timestamp column) just do not narrow the range. The executor
//! rechecks every tuple, so the range only has to cover the matches —
//! unless every scan key is an equality that became part of the prefix:
//! then the range is exact and says so.

use lyra_engine::keys::{memcmp, RowId, TableId};
use pgrx::itemptr::item_pointer_set_all;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgMemoryContexts;

use super::entry::{byte_semantics, encode_datum, encodes_like, IndexShape};
use crate::error::raise;
use crate::snapshot::{self, ReadTs};
use crate::tam::{snapshot_cid, Cursor};
use crate::{node_link, table, txn};

/// Our part of an index scan (`IndexScanDesc.opaque`).
struct IndexCursor {
    cursor: Option<Cursor>,
    prefix_len: usize,
    /// The range holds exactly the entries that match the scan keys (all
    /// of them equalities the encoding decides): no recheck needed. The
    /// unique check of a NULLS NOT DISTINCT index counts on it, since a
    /// recheck never matches NULL.
    exact: bool,
    /// A unique index searched by its whole key: the one entry, read with
    /// its row in one round trip instead of through the cursor; taken by
    /// the first `get_tuple`.
    point: Option<Point>,
    /// The memory context the scan was begun in.
    cx: pg_sys::MemoryContext,
    /// The table, and the timestamp the cursor reads at.
    table: TableId,
    read_ts: ReadTs,
}

/// A point lookup: the entry key, read at `read_ts` and command `cid`.
struct Point {
    entry: Vec<u8>,
    table: TableId,
    cid: pg_sys::CommandId,
    read_ts: ReadTs,
}

/// The key range of a scan's keys.
struct KeyRange {
    start: Vec<u8>,
    end: Vec<u8>,
    /// The range holds only matches (see [`IndexCursor::exact`]).
    exact: bool,
    /// Every key column has an equality (or `IS NULL`), in `start`.
    whole_key: bool,
    /// One of those is `IS NULL`.
    null_key: bool,
}

unsafe fn state<'a>(scan: pg_sys::IndexScanDesc) -> &'a mut IndexCursor {
    &mut *((*scan).opaque as *mut IndexCursor)
}

#[pg_guard]
pub unsafe extern "C-unwind" fn begin(
    index: pg_sys::Relation,
    nkeys: std::ffi::c_int,
    norderbys: std::ffi::c_int,
) -> pg_sys::IndexScanDesc {
    let scan = pg_sys::RelationGetIndexScan(index, nkeys, norderbys);
    let state = PgMemoryContexts::CurrentMemoryContext.leak_and_drop_on_delete(IndexCursor {
        cursor: None,
        prefix_len: 0,
        exact: false,
        point: None,
        cx: pg_sys::CurrentMemoryContext,
        table: 0,
        read_ts: ReadTs::default(),
    });
    (*scan).opaque = state.cast();
    scan
}

#[pg_guard]
pub unsafe extern "C-unwind" fn rescan(
    scan: pg_sys::IndexScanDesc,
    keys: pg_sys::ScanKey,
    nkeys: std::ffi::c_int,
    _orderbys: pg_sys::ScanKey,
    _norderbys: std::ffi::c_int,
) {
    if !keys.is_null() && nkeys > 0 {
        std::ptr::copy(keys, (*scan).keyData, nkeys as usize);
    }
    let heap = (*scan).heapRelation;
    if heap.is_null() {
        raise(PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED, "lyra_index scans need their table");
    }
    let shape = IndexShape::of((*scan).indexRelation, heap);
    let keys = if (*scan).numberOfKeys > 0 {
        std::slice::from_raw_parts((*scan).keyData, (*scan).numberOfKeys as usize)
    } else {
        &[]
    };
    let state = state(scan);
    if let Some(old) = &mut state.cursor {
        old.forget_prefetch();
    }
    state.prefix_len = shape.prefix().len();
    state.table = shape.table;
    state.exact = false;
    state.point = None;
    state.cursor = None;
    let Some(range) = key_range(&shape, keys) else { return };
    state.exact = range.exact;
    let snapshot = (*scan).xs_snapshot;
    let (cid, read_ts) = (snapshot_cid(snapshot), snapshot::read_ts(snapshot));
    if range.is_point(&shape) {
        state.point = Some(Point { entry: range.start, table: shape.table, cid, read_ts });
    } else {
        let cursor = Cursor::over(shape.table, cid, read_ts.clone(), range.start, range.end);
        // Rows come with their entries, unless the scan only counts them.
        state.cursor = Some(if (*scan).xs_want_itup { cursor } else { cursor.with_rows() });
        state.read_ts = read_ts;
    }
}

impl KeyRange {
    /// The range is the one entry of a unique index: a point lookup.
    fn is_point(&self, shape: &IndexShape) -> bool {
        let unique_entry = shape.unique && (!self.null_key || shape.nulls_not_distinct);
        unique_entry && self.exact && self.whole_key
    }
}

/// What a scan with `keys` reads, for `EXPLAIN VERBOSE`: one entry (a
/// point lookup) or a range of entries, as the bytes of their keys past
/// the index's prefix, in hex.
pub unsafe fn describe_range(index: pg_sys::Relation, heap: pg_sys::Relation, keys: &[pg_sys::ScanKeyData]) -> String {
    let shape = IndexShape::of(index, heap);
    let prefix = shape.prefix();
    let Some(range) = key_range(&shape, keys) else {
        return "none (a key is NULL)".into();
    };
    let show = |key: &[u8], whole: &str| match key.strip_prefix(prefix.as_slice()) {
        Some([]) | None => whole.to_string(),
        Some(rest) => format!("0x{}", rest.iter().map(|b| format!("{b:02x}")).collect::<String>()),
    };
    if range.is_point(&shape) {
        format!("point {}", show(&range.start, "?"))
    } else {
        format!("[{}, {})", show(&range.start, "index start"), show(&range.end, "index end"))
    }
}

/// The key range holding every entry that can satisfy `keys`; `None` if
/// none can (a key compares with NULL).
unsafe fn key_range(shape: &IndexShape, keys: &[pg_sys::ScanKeyData]) -> Option<KeyRange> {
    let is_null = |k: &pg_sys::ScanKeyData| k.sk_flags & pg_sys::SK_ISNULL as i32 != 0;
    let searches_null = |k: &pg_sys::ScanKeyData| k.sk_flags & pg_sys::SK_SEARCHNULL as i32 != 0;
    // A comparison with NULL matches nothing; `IS NULL` (only the unique
    // check of a NULLS NOT DISTINCT index asks it) matches NULL entries.
    if keys.iter().any(|k| is_null(k) && !searches_null(k)) {
        return None;
    }
    let mut prefix = shape.prefix();
    // Keys that became part of the equality prefix: if that is all of
    // them, the range holds exactly the matches.
    let mut used = 0;
    let mut null_key = false;
    for (col, &(typ, collation)) in shape.columns.iter().enumerate() {
        let on_col = |strategies: &[u16]| {
            keys.iter().find(|k| {
                let arg_type = if k.sk_subtype == pg_sys::InvalidOid { typ } else { k.sk_subtype };
                k.sk_attno as usize == col + 1 && strategies.contains(&k.sk_strategy) && encodes_like(arg_type, typ)
            })
        };
        let (ordered, equal) = byte_semantics(typ, collation);
        let encode = |key: &pg_sys::ScanKeyData| {
            let arg_type = if key.sk_subtype == pg_sys::InvalidOid { typ } else { key.sk_subtype };
            let mut bound = prefix.clone();
            encode_datum(&mut bound, arg_type, key.sk_argument);
            bound
        };
        if keys.iter().any(|k| k.sk_attno as usize == col + 1 && searches_null(k)) {
            memcmp::put_null(&mut prefix);
            used += 1;
            null_key = true;
            continue;
        }
        if equal {
            if let Some(key) = on_col(&[pg_sys::BTEqualStrategyNumber as u16]) {
                prefix = encode(key);
                used += 1;
                continue;
            }
        }
        if !ordered {
            let end = memcmp::prefix_end(&prefix);
            return Some(KeyRange { start: prefix, end, exact: false, whole_key: false, null_key });
        }
        let lower = on_col(&[pg_sys::BTGreaterStrategyNumber as u16, pg_sys::BTGreaterEqualStrategyNumber as u16]);
        let upper = on_col(&[pg_sys::BTLessStrategyNumber as u16, pg_sys::BTLessEqualStrategyNumber as u16]);
        if lower.is_none() && upper.is_none() {
            let end = memcmp::prefix_end(&prefix);
            return Some(KeyRange { start: prefix, end, exact: used == keys.len(), whole_key: false, null_key });
        }
        // A comparison is never true for NULL: the range holds values only.
        let start = match lower {
            Some(k) if k.sk_strategy == pg_sys::BTGreaterStrategyNumber as u16 => memcmp::prefix_end(&encode(k)),
            Some(k) => encode(k),
            None => [prefix.as_slice(), &[memcmp::VALUE]].concat(),
        };
        let end = match upper {
            Some(k) if k.sk_strategy == pg_sys::BTLessEqualStrategyNumber as u16 => memcmp::prefix_end(&encode(k)),
            Some(k) => encode(k),
            None => [prefix.as_slice(), &[memcmp::NULL]].concat(),
        };
        return Some(KeyRange { start, end, exact: false, whole_key: false, null_key });
    }
    let end = memcmp::prefix_end(&prefix);
    Some(KeyRange { start: prefix, end, exact: used == keys.len(), whole_key: true, null_key })
}

#[pg_guard]
pub unsafe extern "C-unwind" fn get_tuple(scan: pg_sys::IndexScanDesc, direction: pg_sys::ScanDirection::Type) -> bool {
    let state = state(scan);
    let prefix_len = state.prefix_len;
    let row = if let Some(point) = state.point.take() {
        match look_up(&point, prefix_len) {
            Some(row) => row,
            None => return false,
        }
    } else {
        let Some(cursor) = &mut state.cursor else { return false };
        let backward = direction == pg_sys::ScanDirection::BackwardScanDirection;
        let Some((key, value)) = cursor.next_in(backward) else { return false };
        let row = entry_row(&key[prefix_len..], &value);
        if let Some(sent) = cursor.take_row() {
            // The fetch that follows takes it instead of asking the node.
            crate::tam::prefetched(table::row_key(state.table, row), state.read_ts.get(), sent.map(|r| r.to_vec()));
        }
        row
    };
    let (block, offset) = row.to_tid();
    item_pointer_set_all(&mut (*scan).xs_heaptid, block, offset);
    if (*scan).xs_want_itup && (*scan).xs_itup.is_null() {
        // An index-only scan: the planner chooses one only when it needs
        // no column of the index (`count(*)`), since lyra_index returns
        // none; it still wants a tuple of the index's shape. All NULL.
        let desc = (*(*scan).indexRelation).rd_att;
        let n = (*desc).natts as usize;
        let mut values = vec![pg_sys::Datum::from(0); n];
        let mut isnull = vec![true; n];
        (*scan).xs_itupdesc = desc;
        // In the scan's own memory: it lives as long as the scan.
        (*scan).xs_itup = pg_sys::index_form_tuple_context(desc, values.as_mut_ptr(), isnull.as_mut_ptr(), state.cx);
    }
    (*scan).xs_recheck = !state.exact;
    true
}

/// The row id of an entry (`suffix`: its key past the index prefix).
fn entry_row(suffix: &[u8], value: &[u8]) -> RowId {
    match memcmp::entry_row_id(suffix, value) {
        Some(row) => row,
        None => raise(PgSqlErrorCode::ERRCODE_DATA_CORRUPTED, "lyra index entry without a row id"),
    }
}

/// The row a point lookup finds: this transaction's own entry if it wrote
/// one, else the committed entry and its row in one request to the node —
/// the row waits in the table AM for the fetch that follows.
unsafe fn look_up(point: &Point, prefix_len: usize) -> Option<RowId> {
    if let Some(buffered) = txn::lookup(&point.entry, point.cid) {
        return buffered.map(|value| entry_row(&point.entry[prefix_len..], &value));
    }
    let successor = [point.entry.as_slice(), &[0]].concat();
    // Entries this transaction removed wholesale (a rebuild) are gone.
    if txn::range_deleted(&point.entry, &successor, point.cid) {
        return None;
    }
    txn::note_read(&point.entry, &successor);
    let got = node_link::with_node(|c, w| c.get_entry_row(point.entry.clone(), point.table, point.read_ts.get(), w));
    point.read_ts.learn(got.read_ts);
    txn::note_ts(got.read_ts);
    let row = entry_row(&point.entry[prefix_len..], &got.value?);
    crate::tam::prefetched(table::row_key(point.table, row), got.read_ts, got.row);
    Some(row)
}

#[pg_guard]
pub unsafe extern "C-unwind" fn end(scan: pg_sys::IndexScanDesc) {
    let state = state(scan);
    if let Some(cursor) = &mut state.cursor {
        cursor.forget_prefetch();
    }
    state.cursor = None;
    state.point = None;
}
