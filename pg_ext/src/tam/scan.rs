//! Sequential, TID-range and ANALYZE scans of a Lyra table.
//!
//! A scan is a [`Cursor`] over a span of row keys `[start, end)`: it pages
//! through the node's committed rows (64 rows per request at first, doubling
//! to 4096, so a `LIMIT 1` costs little and a full scan few round trips;
//! from the third page on it asks for the next page before decoding the
//! current one, so node and backend work side by side) and
//! merges this transaction's buffered writes over them in key order — the
//! buffer wins where both have a key, a buffered delete hides the row.
//!
//! Row keys are ordered by row id, so one span serves every scan kind: the
//! whole table, one TID "block" (291 row ids) for ANALYZE, a TID range, or
//! the blocks of a bitmap heap scan (`super::bitmap`).
//! A cursor can also run from the end of its span (index scans backward:
//! `ORDER BY … DESC`, `max()`), merging the buffer in reverse.
//!
//! The cursor's state lives in the query's memory context and is dropped
//! with it, so a scan abandoned by an ERROR leaks nothing.

use bytes::Bytes;
use lyra_cluster::client::Ticket;
use lyra_cluster::protocol::{request, KvPair, RowCondition, Scan};
use lyra_engine::keys::{Key, KeyPrefix, RowId, TableId};
use pgrx::itemptr::{item_pointer_get_both, item_pointer_set_all};
use pgrx::pg_sys;
use crate::error::raise;
use pgrx::prelude::*;
use pgrx::PgMemoryContexts;

use crate::snapshot::{self, ReadTs};
use crate::{datum, node_link, table, txn};

const FIRST_PAGE_ROWS: u32 = 64;
const MAX_PAGE_ROWS: u32 = 4096;
/// Pages from this size on are prefetched: by then the scan has shown it
/// is long, and a `LIMIT` that stops early wastes no node work.
const PREFETCH_FROM_ROWS: u32 = 256;

/// Postgres's scan descriptor followed by ours.
#[repr(C)]
pub struct LyraScanDesc {
    base: pg_sys::TableScanDescData,
    cursor: *mut Cursor,
    /// A bitmap heap scan's reading ahead (`super::bitmap`); null otherwise.
    pub(super) bitmap: *mut super::bitmap::BitmapRead,
    /// A sample scan's place (`super::sample`); null otherwise.
    pub(super) sample: *mut super::sample::SampleRead,
    /// A parallel scan's shared state (`super::parallel`); null otherwise.
    parallel: pg_sys::ParallelTableScanDesc,
}

pub struct Cursor {
    table: TableId,
    start: Vec<u8>,
    end: Vec<u8>,
    /// Buffered writes by commands before this one are visible.
    cid: pg_sys::CommandId,
    /// Committed rows are read at this snapshot timestamp.
    read_ts: ReadTs,
    page: Vec<KvPair>,
    pos: usize,
    page_rows: u32,
    node_more: bool,
    /// Keys in reverse order (from the end of the span).
    reverse: bool,
    /// The whole span of the scan (a change of direction narrows
    /// `start`/`end` to one side of the turning point).
    span: (Vec<u8>, Vec<u8>),
    /// The key `next_in` returned last, where a change of direction turns.
    returned: Option<Bytes>,
    /// Where the next page starts (forward) or ends (reverse).
    next_fetch: Vec<u8>,
    /// The last key returned, where the buffer merge resumes.
    last: Option<Vec<u8>>,
    merge_buffer: bool,
    /// The next page, already asked for.
    prefetched: Option<Ticket>,
    /// The cursor runs over index entries of `table` and has the node send
    /// each entry's row along ([`Cursor::with_rows`]).
    with_rows: bool,
    /// The row the node sent with the entry `next` returned last; `None`
    /// if that entry came from this transaction's buffer.
    last_row: Option<Option<Bytes>>,
    /// Conditions the node applies to committed rows before sending them
    /// (a pushed-down `WHERE`, see [`Cursor::set_filter`]).
    filter: Vec<RowCondition>,
    /// The columns the caller reads, if not all ([`Cursor::set_columns`]).
    columns: Vec<u32>,
    /// The only committed keys to send, if not all (a bitmap's block).
    only_keys: Vec<Vec<u8>>,
}

impl Cursor {
    pub fn new(table: TableId, cid: pg_sys::CommandId, read_ts: ReadTs) -> Cursor {
        let (start, end) = KeyPrefix::Rows { table }.range();
        Cursor::over(table, cid, read_ts, start, end)
    }

    /// A cursor over the keys `[start, end)` under `table` (an index's entries).
    pub fn over(table: TableId, cid: pg_sys::CommandId, read_ts: ReadTs, start: Vec<u8>, end: Vec<u8>) -> Cursor {
        let mut cursor = Cursor {
            table,
            start: Vec::new(),
            end: Vec::new(),
            cid,
            read_ts,
            page: Vec::new(),
            pos: 0,
            page_rows: FIRST_PAGE_ROWS,
            node_more: true,
            reverse: false,
            span: (Vec::new(), Vec::new()),
            returned: None,
            next_fetch: Vec::new(),
            last: None,
            merge_buffer: false,
            prefetched: None,
            with_rows: false,
            last_row: None,
            filter: Vec::new(),
            columns: Vec::new(),
            only_keys: Vec::new(),
        };
        cursor.reset(start, end);
        cursor
    }

    /// Asks the node for `rows` in the first page instead of the default
    /// (a `LIMIT` that the scan's rows go straight to); later pages double.
    pub fn first_page(mut self, rows: u32) -> Cursor {
        self.page_rows = rows.clamp(1, MAX_PAGE_ROWS);
        self
    }

    /// Has the node send each index entry's row with the entry, read at
    /// the same timestamp ([`Cursor::take_row`]).
    pub fn with_rows(mut self) -> Cursor {
        self.with_rows = true;
        self
    }

    /// Has the node send only the committed rows that meet `filter` (rows
    /// or, with [`Cursor::with_rows`], the entries' rows). The caller still
    /// judges every row it gets: the node keeps what it cannot judge, and
    /// this transaction's own rows are not filtered. Only for a cursor
    /// over rows, or over entries when the transaction wrote nothing to
    /// the table (an entry whose row it changed is not in its buffer, and
    /// the node would judge the committed row).
    pub fn set_filter(&mut self, filter: Vec<RowCondition>) {
        self.filter = filter;
    }

    /// Has the node send committed rows with only `columns` (0-based,
    /// ascending) and every other column NULL. Only for a cursor whose rows
    /// go straight into a scan slot whose readers need no other column:
    /// rows a statement writes or locks are fetched again whole.
    pub fn set_columns(&mut self, columns: Vec<u32>) {
        self.columns = columns;
    }

    /// The committed row sent with the entry `next` returned last: `None`
    /// if the node sent none (the entry is this transaction's own),
    /// `Some(None)` if the entry names no visible row.
    pub fn take_row(&mut self) -> Option<Option<Bytes>> {
        self.last_row.take()
    }

    /// Restarts the cursor over `[start, end)`.
    pub fn reset(&mut self, start: Vec<u8>, end: Vec<u8>) {
        self.reset_in(start, end, false);
    }

    /// Restarts the cursor over `[start, end)`, from the end if `reverse`.
    pub fn reset_in(&mut self, start: Vec<u8>, end: Vec<u8>, reverse: bool) {
        self.span = (start.clone(), end.clone());
        self.returned = None;
        self.reposition(start, end, reverse);
    }

    /// The next row in the direction asked. A scan that changes direction
    /// (a scrollable cursor fetching backward) turns at the row it
    /// returned last; one that ran off an end starts again from that end.
    pub fn next_in(&mut self, backward: bool) -> Option<(Bytes, Bytes)> {
        if backward != self.reverse {
            let (start, end) = self.span.clone();
            match self.returned.take() {
                Some(last) if backward => self.reposition(start, last.to_vec(), true),
                Some(last) => self.reposition([&last[..], &[0]].concat(), end, false),
                None => self.reposition(start, end, backward),
            }
        }
        let row = self.next();
        self.returned = row.as_ref().map(|(key, _)| key.clone());
        row
    }

    /// Runs the cursor over `[start, end)` (part of its span), from the
    /// end if `reverse`.
    fn reposition(&mut self, start: Vec<u8>, end: Vec<u8>, reverse: bool) {
        self.forget_prefetch();
        self.reverse = reverse;
        self.next_fetch = if reverse { end.clone() } else { start.clone() };
        self.start = start;
        self.end = end;
        self.page.clear();
        self.pos = 0;
        self.last = None;
        self.merge_buffer = !txn::is_empty();
        self.node_more = !(self.merge_buffer && txn::range_deleted(&self.start, &self.end, self.cid));
        if self.node_more {
            txn::note_read(&self.start, &self.end);
        }
    }

    /// Restarts over the rows `[first, end)`, read in one request: only the
    /// `named` ones (row keys, ascending), each by a point read on the
    /// node, or all of them if `named` is empty.
    pub(super) fn read_rows(&mut self, first: u64, end: u64, named: Vec<Vec<u8>>) {
        let rows = if named.is_empty() { end.saturating_sub(first) } else { named.len() as u64 };
        self.only_keys = named;
        self.reset_rows(first, end);
        self.page_rows = rows.clamp(1, u64::from(MAX_PAGE_ROWS)) as u32;
    }

    /// Restarts over the rows of a parallel scan's chunk, `[first, end)`
    /// (`None`: to the end of the table), asking for full pages at once.
    pub(super) fn read_chunk(&mut self, first: u64, end: Option<u64>) {
        match end {
            Some(end) => self.reset_rows(first, end),
            None => {
                let start = Key::Row { table: self.table, row: RowId(first) }.encode();
                self.reset(start, KeyPrefix::Rows { table: self.table }.range().1);
            }
        }
        self.page_rows = MAX_PAGE_ROWS;
    }

    /// The table the cursor reads.
    pub(super) fn table(&self) -> TableId {
        self.table
    }

    /// Restarts over the rows whose ids are in `[first, end)`.
    pub fn reset_rows(&mut self, first: u64, end: u64) {
        let key = |id: u64| Key::Row { table: self.table, row: RowId(id) }.encode();
        let (start, end) = (key(first), key(end.max(first)));
        self.reset(start, end);
    }

    /// The next visible row: its key and encoded value.
    pub fn next(&mut self) -> Option<(Bytes, Bytes)> {
        self.last_row = None;
        loop {
            // A filtered page may hold no rows and still not be the last.
            while self.pos == self.page.len() && self.node_more {
                self.fetch();
            }
            let buffered = if self.merge_buffer {
                txn::next_visible(&self.start, self.last.as_deref(), &self.end, self.cid, self.reverse)
            } else {
                None
            };
            let stored = self.page.get_mut(self.pos);
            let take_stored = match (&stored, &buffered) {
                (None, None) => return None,
                // The nearer key first; on a tie the buffered version,
                // which is newer (it may delete the stored one).
                (Some(s), Some((b, _))) if self.reverse => s.key[..] > b[..],
                (Some(s), Some((b, _))) => s.key[..] < b[..],
                (Some(_), None) => true,
                (None, Some(_)) => false,
            };
            if take_stored {
                let pair = stored.expect("matched Some above");
                let (key, value) = (std::mem::take(&mut pair.key), std::mem::take(&mut pair.value));
                if self.with_rows {
                    self.last_row = Some(pair.row.take());
                }
                self.pos += 1;
                if self.merge_buffer {
                    self.last = Some(key.to_vec());
                }
                return Some((key, value));
            }
            let (key, value) = buffered.expect("matched Some above");
            if stored.is_some_and(|s| s.key[..] == key[..]) {
                self.pos += 1;
            }
            self.last = Some(key.clone());
            if let Some(value) = value {
                return Some((key.into(), value.into()));
            }
        }
    }

    fn fetch(&mut self) {
        let scanned = match self.prefetched.take() {
            Some(ticket) => node_link::with_node(|c, w| c.receive_scan(ticket, w)),
            None => {
                let scan = self.next_scan();
                node_link::with_node(|c, w| c.scan(scan, w))
            }
        };
        self.read_ts.learn(scanned.read_ts);
        txn::note_ts(scanned.read_ts);
        let (page, more) = (scanned.pairs, scanned.more);
        // A filtered page resumes past the last row the node looked at.
        if let Some(last) = scanned.resume.as_ref().or(page.last().map(|p| &p.key)) {
            // As the node reads ahead (`Scan::after`): the same bound.
            self.next_fetch = Scan::bound_after(last, self.reverse);
        }
        self.page = page;
        self.pos = 0;
        self.node_more = more;
        self.page_rows = (self.page_rows * 2).min(MAX_PAGE_ROWS);
        if more && self.page_rows >= PREFETCH_FROM_ROWS {
            let scan = self.next_scan();
            self.prefetched = Some(node_link::with_node(|c, w| c.send(request::Kind::Scan(scan), w)));
        }
    }

    fn next_scan(&self) -> Scan {
        let (start, end) = if self.reverse {
            (self.start.clone(), self.next_fetch.clone())
        } else {
            (self.next_fetch.clone(), self.end.clone())
        };
        Scan {
            start,
            end,
            max_rows: self.page_rows,
            max_bytes: 0,
            read_ts: self.read_ts.get(),
            reverse: self.reverse,
            rows_of_table: self.with_rows.then_some(self.table),
            filter: self.filter.clone(),
            columns: self.columns.clone(),
            only_keys: self.only_keys.clone(),
        }
    }

    /// Drops the page asked for ahead, if any (the scan ended or restarted).
    pub fn forget_prefetch(&mut self) {
        if let Some(ticket) = self.prefetched.take() {
            node_link::forget(ticket);
        }
    }
}

/// Which buffered versions `snapshot` sees: an MVCC snapshot those of
/// commands before its `curcid`; SnapshotAny also deleted rows; the others
/// the latest.
pub unsafe fn snapshot_cid(snapshot: pg_sys::Snapshot) -> pg_sys::CommandId {
    if snapshot.is_null() {
        return txn::SEE_ALL;
    }
    match (*snapshot).snapshot_type {
        pg_sys::SnapshotType::SNAPSHOT_MVCC => (*snapshot).curcid,
        pg_sys::SnapshotType::SNAPSHOT_ANY => txn::SEE_ANY,
        _ => txn::SEE_ALL,
    }
}

/// The row id of row key `key`.
pub(super) fn row_of(key: &[u8]) -> RowId {
    match Key::decode(key) {
        Ok(Key::Row { row, .. }) => row,
        _ => raise(PgSqlErrorCode::ERRCODE_DATA_CORRUPTED, "lyra scan returned a key that is not a row key"),
    }
}

/// Stores row `(key, value)` of `rel` in `slot`.
pub unsafe fn store(rel: pg_sys::Relation, slot: *mut pg_sys::TupleTableSlot, key: &[u8], value: &[u8]) {
    store_row(rel, slot, row_of(key), value);
}

/// Stores row `row` of `rel`, encoded as `value`, in `slot`.
pub(super) unsafe fn store_row(rel: pg_sys::Relation, slot: *mut pg_sys::TupleTableSlot, row: RowId, value: &[u8]) {
    datum::store_row(slot, value);
    let (block, offset) = row.to_tid();
    item_pointer_set_all(&mut (*slot).tts_tid, block, offset);
    (*slot).tts_tableOid = (*rel).rd_id;
}

/// Has the node filter the rows of the table scan `scan` by `filter`
/// before sending them ([`Cursor::set_filter`]); before its first row.
///
/// # Safety
/// `scan` is a scan of a Lyra table.
pub unsafe fn push_filter(scan: pg_sys::TableScanDesc, filter: Vec<RowCondition>) {
    cursor(scan).set_filter(filter);
}

/// Has the node send the rows of `scan` with only `columns`
/// ([`Cursor::set_columns`]); before its first row.
///
/// # Safety
/// `scan` is a scan of a Lyra table whose rows go to a scan slot only.
pub unsafe fn push_columns(scan: pg_sys::TableScanDesc, columns: Vec<u32>) {
    cursor(scan).set_columns(columns);
}

pub(super) unsafe fn cursor<'a>(scan: pg_sys::TableScanDesc) -> &'a mut Cursor {
    &mut *(*(scan as *mut LyraScanDesc)).cursor
}

#[pg_guard]
pub unsafe extern "C-unwind" fn scan_begin(
    rel: pg_sys::Relation,
    snapshot: pg_sys::Snapshot,
    nkeys: std::ffi::c_int,
    key: *mut pg_sys::ScanKeyData,
    pscan: pg_sys::ParallelTableScanDesc,
    flags: u32,
) -> pg_sys::TableScanDesc {
    let table = table::table_id(rel);
    // A parallel scan reads at the timestamp the leader shared, its rows a
    // chunk at a time as claimed (none yet).
    let cid = snapshot_cid(snapshot);
    let cursor = if pscan.is_null() {
        Cursor::new(table, cid, snapshot::read_ts(snapshot))
    } else {
        // No rows until a chunk is claimed (an empty span, not an unbounded one).
        let first = Key::Row { table, row: RowId(0) }.encode();
        Cursor::over(table, cid, super::parallel::read_ts(pscan), first.clone(), first)
    };
    let cursor = PgMemoryContexts::CurrentMemoryContext.leak_and_drop_on_delete(cursor);
    let desc = pg_sys::palloc0(std::mem::size_of::<LyraScanDesc>()) as *mut LyraScanDesc;
    (*desc).base.rs_rd = rel;
    (*desc).base.rs_snapshot = snapshot;
    (*desc).base.rs_nkeys = nkeys;
    (*desc).base.rs_key = key;
    (*desc).base.rs_flags = flags;
    (*desc).cursor = cursor;
    (*desc).parallel = pscan;
    desc as pg_sys::TableScanDesc
}

#[pg_guard]
pub unsafe extern "C-unwind" fn scan_end(scan: pg_sys::TableScanDesc) {
    let c = cursor(scan);
    c.forget_prefetch();
    c.page = Vec::new(); // the rest goes with the memory context
    // A parallel scan's snapshot, restored from shared memory and
    // registered for the scan (`table_beginscan_parallel`).
    if (*scan).rs_flags & pg_sys::ScanOptions::SO_TEMP_SNAPSHOT as u32 != 0 {
        pg_sys::UnregisterSnapshot((*scan).rs_snapshot);
    }
    pg_sys::pfree(scan.cast());
}

#[pg_guard]
pub unsafe extern "C-unwind" fn scan_rescan(
    scan: pg_sys::TableScanDesc,
    _key: *mut pg_sys::ScanKeyData,
    _set_params: bool,
    _allow_strat: bool,
    _allow_sync: bool,
    _allow_pagemode: bool,
) {
    super::bitmap::rescan(scan);
    super::sample::rescan(scan);
    let c = cursor(scan);
    c.only_keys.clear();
    if !(*(scan as *mut LyraScanDesc)).parallel.is_null() {
        // The chunks are handed out again (parallelscan_reinitialize).
        c.reset_rows(0, 0);
        return;
    }
    let (start, end) = KeyPrefix::Rows { table: c.table }.range();
    c.reset(start, end);
}

#[pg_guard]
pub unsafe extern "C-unwind" fn scan_getnextslot(
    scan: pg_sys::TableScanDesc,
    direction: pg_sys::ScanDirection::Type,
    slot: *mut pg_sys::TupleTableSlot,
) -> bool {
    let backward = direction == pg_sys::ScanDirection::BackwardScanDirection;
    let parallel = (*(scan as *mut LyraScanDesc)).parallel;
    loop {
        match cursor(scan).next_in(backward) {
            Some((key, value)) => {
                store((*scan).rs_rd, slot, &key, &value);
                return true;
            }
            None => match (!parallel.is_null()).then(|| super::parallel::claim(parallel)).flatten() {
                Some((first, end)) => cursor(scan).read_chunk(first, end),
                None => {
                    datum::clear_slot(slot);
                    return false;
                }
            },
        }
    }
}

/// Row id bounds of the TIDs `[min, max]`, as a half-open id range.
fn tid_range_rows(min: pg_sys::ItemPointerData, max: pg_sys::ItemPointerData) -> (u64, u64) {
    let per_block = RowId::TUPLES_PER_BLOCK;
    let (min_block, min_off) = item_pointer_get_both(min);
    let (max_block, max_off) = item_pointer_get_both(max);
    let first = min_block as u64 * per_block + (min_off as u64).saturating_sub(1).min(per_block);
    let end = max_block as u64 * per_block + (max_off as u64).min(per_block);
    (first, end)
}

#[pg_guard]
pub unsafe extern "C-unwind" fn scan_set_tidrange(
    scan: pg_sys::TableScanDesc,
    mintid: pg_sys::ItemPointer,
    maxtid: pg_sys::ItemPointer,
) {
    let (first, end) = tid_range_rows(*mintid, *maxtid);
    cursor(scan).reset_rows(first, end);
}

#[pg_guard]
pub unsafe extern "C-unwind" fn scan_analyze_next_block(
    scan: pg_sys::TableScanDesc,
    blockno: pg_sys::BlockNumber,
    _bstrategy: pg_sys::BufferAccessStrategy,
) -> bool {
    let first = blockno as u64 * RowId::TUPLES_PER_BLOCK;
    cursor(scan).reset_rows(first, first + RowId::TUPLES_PER_BLOCK);
    true
}

#[pg_guard]
pub unsafe extern "C-unwind" fn scan_analyze_next_tuple(
    scan: pg_sys::TableScanDesc,
    _oldest_xmin: pg_sys::TransactionId,
    liverows: *mut f64,
    _deadrows: *mut f64,
    slot: *mut pg_sys::TupleTableSlot,
) -> bool {
    match cursor(scan).next() {
        Some((key, value)) => {
            store((*scan).rs_rd, slot, &key, &value);
            *liverows += 1.0;
            true
        }
        None => false,
    }
}
