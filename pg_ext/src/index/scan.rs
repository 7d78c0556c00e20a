//! Index scans: the scan keys become key ranges of the index's entries
//! ([`super::ranges`]), read at the scan's snapshot through a table
//! [`Cursor`] (the node's committed entries merged with this transaction's
//! buffered ones), one range after the other; each entry hands Postgres
//! the TID of its row, which the table AM fetches — from the row the node
//! sent along with the entry, not with another request.
//!
//! A unique index searched by its whole key (`=`, or `= ANY` lists) is
//! point lookups: the entries and their rows come back from the node in
//! one request, whatever the number of keys.
//!
//! Entries come in index order, forward or backward (the planner counts
//! on it for `ORDER BY`, merge joins and `max()`; see `describe_entry_order`
//! in `index` for when it may).
//!
//! ```text
//!   ranges  [r0) [r1) [r2)        forward: r0 → r2, each from its start;
//!   cursor        ^ current       backward: r2 → r0, each from its end
//! ```

use std::collections::HashMap;

use lyra_engine::keys::{memcmp, RowId, TableId};
use pgrx::itemptr::item_pointer_set_all;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgMemoryContexts;

use super::entry::IndexShape;
use super::ranges::{key_ranges, KeyRange};
use crate::error::raise;
use crate::snapshot::{self, ReadTs};
use crate::tam::{snapshot_cid, Cursor};
use lyra_cluster::protocol::{GetEntries, LockMode, RowCondition};
use crate::{node_link, table, txn};

/// Our part of an index scan (`IndexScanDesc.opaque`).
struct IndexCursor {
    /// What the keys select, in key order.
    ranges: Vec<KeyRange>,
    /// The range `cursor` reads; `None` before the first fetch.
    current: Option<usize>,
    cursor: Option<Cursor>,
    /// Every range is one entry of a unique index: looked up together.
    points: Option<Points>,
    prefix_len: usize,
    /// The memory context the scan was begun in.
    cx: pg_sys::MemoryContext,
    table: TableId,
    cid: pg_sys::CommandId,
    /// The timestamp the scan reads at.
    read_ts: ReadTs,
    /// Have the node send rows with entries (not for index-only scans).
    with_rows: bool,
    /// Entries in the first page of a range: the `LIMIT` the scan's rows
    /// go straight to, if known ([`limit_first_page`]).
    first_page: Option<u32>,
    /// Conditions the node applies to the rows of ranges ([`push_filter`]).
    filter: Vec<RowCondition>,
    /// Lock the rows of point lookups as they are read ([`lock_rows`]).
    lock_rows: Option<(LockMode, txn::LockFor)>,
    /// Nothing reads the rows' columns (a foreign key's check), see
    /// [`lock_rows`].
    columns_unread: bool,
}

/// Point lookups: the rows found, in key order, once looked up, each with
/// the committed row the node sent (none for this transaction's entries).
struct Points {
    found: Option<Vec<(RowId, Option<Option<Vec<u8>>>)>>,
    /// Where the scan is: before the first row (-1), at one, or past the
    /// last (`len`); moves both ways for scrollable cursors.
    at: isize,
    /// No row returned yet: a backward scan starts from the last one.
    fresh: bool,
    /// Checked parents found without the node, with their versions
    /// (`txn::checked_parent`), for the fetch of each.
    checked: HashMap<RowId, Vec<u8>>,
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
        ranges: Vec::new(),
        current: None,
        cursor: None,
        points: None,
        prefix_len: 0,
        cx: pg_sys::CurrentMemoryContext,
        table: 0,
        cid: 0,
        read_ts: ReadTs::default(),
        with_rows: false,
        first_page: None,
        filter: Vec::new(),
        lock_rows: None,
        columns_unread: false,
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
    let heap = take_keys(scan, keys, nkeys, "lyra_index");
    super::take_exclusion_turn(scan);
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
    let snapshot = (*scan).xs_snapshot;
    state.ranges = key_ranges(&shape, keys);
    state.current = None;
    state.cursor = None;
    state.prefix_len = shape.prefix().len();
    state.table = shape.table;
    state.cid = snapshot_cid(snapshot);
    state.read_ts = snapshot::read_ts(snapshot);
    state.with_rows = !(*scan).xs_want_itup;
    let all_points = !state.ranges.is_empty() && state.ranges.iter().all(|r| r.is_point(&shape));
    state.points = all_points.then_some(Points { found: None, at: -1, fresh: true, checked: HashMap::new() });
}

/// What every engine index's `amrescan` starts with: the new scan keys
/// copied into the scan; returns the table, which the scan needs (`am`
/// names the access method in the error if it is gone).
pub(super) unsafe fn take_keys(
    scan: pg_sys::IndexScanDesc,
    keys: pg_sys::ScanKey,
    nkeys: std::ffi::c_int,
    am: &str,
) -> pg_sys::Relation {
    if !keys.is_null() && nkeys > 0 {
        std::ptr::copy(keys, (*scan).keyData, nkeys as usize);
    }
    if (*scan).heapRelation.is_null() {
        // A bitmap index scan is given no table. The bitmap heap scan above
        // it holds the table open, so its relcache entry outlives the scan.
        let table = (*(*(*scan).indexRelation).rd_index).indrelid;
        let heap = pg_sys::RelationIdGetRelation(table);
        if heap.is_null() {
            raise(PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE, format!("the table of a {am} scan is gone"));
        }
        pg_sys::RelationClose(heap);
        (*scan).heapRelation = heap;
    }
    (*scan).heapRelation
}

#[pg_guard]
pub unsafe extern "C-unwind" fn get_tuple(scan: pg_sys::IndexScanDesc, direction: pg_sys::ScanDirection::Type) -> bool {
    let state = state(scan);
    let backward = direction == pg_sys::ScanDirection::BackwardScanDirection;
    let found = if state.points.is_some() { state.next_point(backward) } else { state.next_in_ranges(backward) };
    let Some((row, exact)) = found else { return false };
    let (block, offset) = row.to_tid();
    item_pointer_set_all(&mut (*scan).xs_heaptid, block, offset);
    // In the scan's own memory: it lives as long as the scan.
    give_index_tuple(scan, state.cx);
    (*scan).xs_recheck = !exact;
    true
}

/// An index-only scan: the planner chooses one only when it needs no
/// column of the index (`count(*)`), since engine indexes return none; it
/// still wants a tuple of the index's shape. All NULL, allocated once in
/// `cx`, which must live as long as the scan.
pub(super) unsafe fn give_index_tuple(scan: pg_sys::IndexScanDesc, cx: pg_sys::MemoryContext) {
    if !(*scan).xs_want_itup || !(*scan).xs_itup.is_null() {
        return;
    }
    let desc = (*(*scan).indexRelation).rd_att;
    let n = (*desc).natts as usize;
    let mut values = vec![pg_sys::Datum::from(0); n];
    let mut isnull = vec![true; n];
    (*scan).xs_itupdesc = desc;
    (*scan).xs_itup = pg_sys::index_form_tuple_context(desc, values.as_mut_ptr(), isnull.as_mut_ptr(), cx);
}

/// A bitmap index scan: every entry's row into `tbm` (those of inexact
/// ranges to be rechecked), without the rows — the bitmap heap scan reads
/// them a TID block at a time. Returns how many.
#[pg_guard]
pub unsafe extern "C-unwind" fn get_bitmap(scan: pg_sys::IndexScanDesc, tbm: *mut pg_sys::TIDBitmap) -> i64 {
    let state = state(scan);
    state.with_rows = false;
    let mut count = 0;
    loop {
        let found = if state.points.is_some() { state.next_point(false) } else { state.next_in_ranges(false) };
        let Some((row, exact)) = found else { return count };
        add_to_bitmap(tbm, row, !exact);
        count += 1;
    }
}

/// Adds `row`'s TID to `tbm`.
pub(super) unsafe fn add_to_bitmap(tbm: *mut pg_sys::TIDBitmap, row: RowId, recheck: bool) {
    let mut tid = pg_sys::ItemPointerData::default();
    let (block, offset) = row.to_tid();
    item_pointer_set_all(&mut tid, block, offset);
    pg_sys::tbm_add_tuples(tbm, &mut tid, 1, recheck);
}

impl IndexCursor {
    /// The next entry's row through the ranges, and whether its range is
    /// exact. A range that runs out hands over to the next one in the
    /// direction of the scan.
    fn next_in_ranges(&mut self, backward: bool) -> Option<(RowId, bool)> {
        if self.ranges.is_empty() {
            return None;
        }
        let mut current = self.current.unwrap_or(if backward { self.ranges.len() - 1 } else { 0 });
        loop {
            if self.current != Some(current) || self.cursor.is_none() {
                let range = &self.ranges[current];
                let (start, end) = (range.start.clone(), range.end.clone());
                let mut cursor = Cursor::over(self.table, self.cid, self.read_ts.clone(), start, end);
                if let Some(rows) = self.first_page {
                    cursor = cursor.first_page(rows);
                }
                if self.with_rows && !self.filter.is_empty() {
                    cursor.set_filter(self.filter.clone());
                }
                self.cursor = Some(if self.with_rows { cursor.with_rows() } else { cursor });
                self.current = Some(current);
            }
            let cursor = self.cursor.as_mut().expect("set above");
            if let Some((key, value)) = cursor.next_in(backward) {
                let row = entry_row(&key[self.prefix_len..], &value);
                if let Some(sent) = cursor.take_row() {
                    hand_over(self.table, &self.read_ts, row, sent.map(|r| r.to_vec()));
                }
                return Some((row, self.ranges[current].exact));
            }
            let next = if backward { current.checked_sub(1) } else { Some(current + 1) };
            match next.filter(|&n| n < self.ranges.len()) {
                Some(n) => {
                    cursor.forget_prefetch();
                    self.cursor = None;
                    current = n;
                }
                // Stay on this range: a scrollable cursor turning around
                // reads it again from the end it ran off.
                None => return None,
            }
        }
    }

    /// Whether this scan is a foreign key's check: key-share locks of rows
    /// whose columns nothing reads.
    fn checks_parents(&self) -> bool {
        self.columns_unread && self.lock_rows == Some((LockMode::KeyShare, txn::LockFor::Lock))
    }

    /// Parent entries the statement's rows noted ([`super::parents`]) for
    /// this index, beside `asked`: neither written by this transaction nor
    /// checked already.
    fn other_parents(&self, asked: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let prefix = &asked[0][..self.prefix_len];
        // SAFETY: a scan runs inside a transaction.
        let noted = unsafe { super::parents::take(prefix, super::parents::PER_REQUEST.saturating_sub(asked.len())) };
        noted
            .into_iter()
            .filter(|entry| {
                !asked.contains(entry)
                    && txn::lookup(entry, txn::SEE_ALL).is_none()
                    && txn::checked_parent(entry, self.table).is_none()
            })
            .collect()
    }

    /// What the node found at a parent entry taken along: a row it locked
    /// at the version read becomes a checked parent; a lock taken is held
    /// either way; a row held by another, or none, is left to its check.
    fn note_other_parent(&self, entry: Vec<u8>, found: lyra_cluster::protocol::Entry) {
        let (Some(value), Some(locked)) = (found.value, found.locked) else { return };
        let row = entry_row(&entry[self.prefix_len..], &value);
        let key = table::row_key(self.table, row);
        txn::held_by_check(&key, &locked);
        if locked.value.is_some() && locked.value == found.row {
            let version = locked.value.expect("checked above");
            txn::note_checked_parent(entry, row, version);
        }
    }

    /// The next point lookup's row, in either direction; the first call
    /// looks them all up.
    fn next_point(&mut self, backward: bool) -> Option<(RowId, bool)> {
        if self.points.as_ref().is_some_and(|p| p.found.is_none()) {
            let found = self.look_up_all();
            self.points.as_mut().expect("checked above").found = Some(found);
        }
        let points = self.points.as_mut()?;
        let found = points.found.as_mut().expect("looked up above");
        let len = found.len() as isize;
        points.at = match (backward, points.fresh) {
            (true, true) => len - 1,
            (true, false) => (points.at - 1).max(-1),
            (false, _) => (points.at + 1).min(len),
        };
        points.fresh = false;
        let (row, sent) = found.get_mut(usize::try_from(points.at).ok()?)?;
        // Once: a scrollable cursor coming back asks the node.
        if let Some(sent) = sent.take() {
            hand_over(self.table, &self.read_ts, *row, sent);
        } else if let Some(version) = points.checked.remove(row) {
            // The statement may not have a timestamp yet: good at any.
            crate::tam::prefetched_checked(table::row_key(self.table, *row), version);
        }
        Some((*row, true))
    }

    /// The rows the point entries name, in key order: this transaction's
    /// own entries from its buffer, the others with their committed rows
    /// in one request to the node.
    fn look_up_all(&mut self) -> Vec<(RowId, Option<Option<Vec<u8>>>)> {
        let mut rows: Vec<Option<(RowId, Option<Option<Vec<u8>>>)>> = vec![None; self.ranges.len()];
        let mut ask = Vec::new();
        for (i, range) in self.ranges.iter().enumerate() {
            let entry = &range.start;
            if let Some(buffered) = txn::lookup(entry, self.cid) {
                rows[i] = buffered.map(|value| (entry_row(&entry[self.prefix_len..], &value), None));
                continue;
            }
            let successor = [entry.as_slice(), &[0]].concat();
            // Entries this transaction removed wholesale (a rebuild) are gone.
            if txn::range_deleted(entry, &successor, self.cid) {
                continue;
            }
            txn::note_read(entry, &successor);
            // A foreign key's check of a parent row it found and locked
            // earlier in this transaction: the row is still there with
            // this key (see `txn::checked_parent`), and the lock is held.
            if self.checks_parents() {
                if let Some((row, locked)) = txn::checked_parent(entry, self.table) {
                    rows[i] = Some((row, None));
                    let version = locked.value.clone().expect("a checked parent's version");
                    self.points.as_mut().expect("point lookups").checked.insert(row, version);
                    txn::held_with_read(table::row_key(self.table, row), LockMode::KeyShare, txn::LockFor::Lock, locked);
                    continue;
                }
            }
            // A row this transaction locked through this entry and has
            // written since (TPC-B's SELECT after its UPDATE): its own
            // version is what the fetch returns, so the node has nothing
            // to add.
            if let Some(row) = txn::locked_entry(entry) {
                if matches!(txn::lookup(&table::row_key(self.table, row), self.cid), Some(Some(_))) {
                    rows[i] = Some((row, None));
                    continue;
                }
            }
            ask.push(i);
        }
        if !ask.is_empty() {
            let mut entries: Vec<Vec<u8>> = ask.iter().map(|&i| self.ranges[i].start.clone()).collect();
            // A foreign key's check that asks the node takes along the
            // parents the statement's other rows will be checked against.
            if self.checks_parents() {
                let others = self.other_parents(&entries);
                entries.extend(others);
            }
            // SAFETY: a scan runs inside a transaction.
            let (txn_tag, subxact) = if self.lock_rows.is_some() { unsafe { txn::lock_taker() } } else { (0, 0) };
            let mut get = GetEntries {
                entries,
                table: self.table,
                read_ts: self.read_ts.get(),
                lock: self.lock_rows.map(|(mode, _)| mode as i32),
                txn_tag,
                subxact,
                lock_writes: self.lock_rows.is_some_and(|(_, purpose)| purpose == txn::LockFor::Write),
            };
            let mut got = node_link::with_node(|c, w| c.get_entries(get.clone(), w));
            self.read_ts.learn(got.read_ts);
            txn::note_ts(got.read_ts);
            let others = get.entries.split_off(ask.len());
            let found_others = got.entries.split_off(ask.len().min(got.entries.len()));
            for (entry, found) in others.into_iter().zip(found_others) {
                self.note_other_parent(entry, found);
            }
            for (&i, entry) in ask.iter().zip(got.entries) {
                let Some(value) = entry.value else { continue };
                let row = entry_row(&self.ranges[i].start[self.prefix_len..], &value);
                if let (Some((mode, purpose)), Some(locked)) = (self.lock_rows, entry.locked) {
                    // The row read is its newest version: it has this entry
                    // now, and keeps it while locked.
                    if locked.value.is_some() && locked.value == entry.row {
                        txn::note_locked_entry(self.ranges[i].start.clone(), row);
                        if self.checks_parents() {
                            let version = locked.value.clone().expect("checked above");
                            txn::note_checked_parent(self.ranges[i].start.clone(), row, version);
                        }
                    }
                    txn::held_with_read(table::row_key(self.table, row), mode, purpose, locked);
                } else if let (false, Some(seen)) = (entry.busy.is_empty(), &entry.row) {
                    txn::note_busy(table::row_key(self.table, row), entry.busy, seen.clone());
                }
                rows[i] = Some((row, Some(entry.row)));
            }
        }
        rows.into_iter().flatten().collect()
    }
}

/// Has the node send only the entries of ranges whose rows may meet
/// `filter` (LyraScan: the quals the index does not decide, see
/// `crate::pushdown`); point lookups are not filtered. Only while this
/// transaction has written nothing to the table: an entry it left as it
/// was may name a row it changed, and the node judges the committed row
/// (`Cursor::set_filter`).
///
/// # Safety
/// `scan` is a `lyra_index` scan, not yet fetched from.
pub unsafe fn push_filter(scan: pg_sys::IndexScanDesc, filter: Vec<RowCondition>) {
    state(scan).filter = filter;
}

/// Has the scan's point lookups lock the rows they find in `mode` as they
/// read them, for `purpose` (LyraScan of an UPDATE, DELETE or `SELECT …
/// FOR …` by key, see `crate::lyrascan`): the row lock the statement then
/// needs came with the read, one round trip instead of two. A row someone
/// else holds is read without it and locked the usual way, waiting, after.
///
/// # Safety
/// `scan` is a `lyra_index` scan.
/// With `columns_unread` (nothing reads the rows' columns: a foreign key's
/// check, `SELECT 1 … FOR KEY SHARE`), a key-share lookup of a row it
/// found and locked before in the transaction needs no node.
pub unsafe fn lock_rows(scan: pg_sys::IndexScanDesc, mode: LockMode, purpose: txn::LockFor, columns_unread: bool) {
    let state = state(scan);
    state.lock_rows = Some((mode, purpose));
    state.columns_unread = columns_unread;
}

/// Has the scan ask for `rows` entries in the first page of each range
/// (LyraScan, under a `LIMIT`): a `LIMIT 3` reads three entries and rows
/// on the node, not a page of 64. Only a hint: more pages follow if needed.
///
/// # Safety
/// `scan` is a `lyra_index` scan.
pub unsafe fn limit_first_page(scan: pg_sys::IndexScanDesc, rows: u32) {
    state(scan).first_page = Some(rows);
}

/// Leaves the committed row the node sent with an entry for the table
/// AM's fetch of it that follows, which then asks the node nothing.
pub(super) fn hand_over(table: TableId, read_ts: &ReadTs, row: RowId, sent: Option<Vec<u8>>) {
    crate::tam::prefetched(table::row_key(table, row), read_ts.get(), sent);
}

/// The row id of an entry (`suffix`: its key past the index prefix).
pub(super) fn entry_row(suffix: &[u8], value: &[u8]) -> RowId {
    match memcmp::entry_row_id(suffix, value) {
        Some(row) => row,
        None => raise(PgSqlErrorCode::ERRCODE_DATA_CORRUPTED, "lyra index entry without a row id"),
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn end(scan: pg_sys::IndexScanDesc) {
    let state = state(scan);
    if let Some(cursor) = &mut state.cursor {
        cursor.forget_prefetch();
    }
    state.cursor = None;
    state.points = None;
}
