//! Bitmap heap scans of a Lyra table.
//!
//! Postgres's bitmap heap scan hands the table one "block" of the TID
//! bitmap at a time; a Lyra block is 291 row ids (a row id is a TID), and
//! reading it is a request to the node. A block is read in one of two ways:
//!
//! * The few rows an exact block names (under an eighth of the block: a
//!   point read costs about eight rows walked) are read by name,
//!   a point read each on the node (`Scan::only_keys`) — and **the blocks
//!   after it** that are like it go in the same request: this module runs
//!   its own iterator over the bitmap ahead of Postgres's, as Postgres's
//!   prefetching does for heap pages, up to [`MAX_NAMED`] rows or
//!   [`MAX_BLOCKS`] blocks a request.
//! * A lossy block (`work_mem` exceeded: every row of the block, the
//!   quals rechecked), or one the bitmap names many rows of, is walked
//!   from its first named row to its last — with the blocks right after
//!   it that are walked too, up to [`MAX_WALKED`] row ids a request.
//!
//! Either way the rows come through the scan's [`Cursor`], read at the
//! statement's snapshot and merged with this transaction's own writes, and
//! [`scan_bitmap_next_tuple`] returns those of the current block that the
//! bitmap names; a row of a later block waits for that block.
//!
//! The bitmap itself belongs to the executor node (`BitmapHeapScanState`),
//! which the table never sees: `ExecutorStart` points each Lyra bitmap
//! heap scan at its node ([`note_bitmap_scans`]).

use std::collections::VecDeque;

use bytes::Bytes;
use lyra_engine::keys::RowId;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgMemoryContexts;

use super::scan::{cursor, row_of, store_row, LyraScanDesc};
use crate::{datum, table};

/// Rows named in one request, at most (the node reads each by a point read).
const MAX_NAMED: usize = 1024;
/// Row ids walked in one request, at most (adjacent blocks walked together).
const MAX_WALKED: usize = 4096;
/// Blocks read in one request, at most.
const MAX_BLOCKS: usize = 64;
const BLOCK_ROWS: usize = RowId::TUPLES_PER_BLOCK as usize;

/// What the bitmap names in one block.
struct Block {
    number: pg_sys::BlockNumber,
    /// The offsets, ascending; `None` if the block is lossy.
    offsets: Option<Vec<pg_sys::OffsetNumber>>,
}

impl Block {
    /// From the iterator's current result.
    unsafe fn of(result: *mut pg_sys::TBMIterateResult) -> Block {
        Block { number: (*result).blockno, offsets: offsets(result).map(<[_]>::to_vec) }
    }

    fn first_row(&self) -> u64 {
        u64::from(self.number) * RowId::TUPLES_PER_BLOCK
    }

    /// The row ids `[first, end)` the block's named rows lie in (all of it
    /// if lossy).
    fn span(&self) -> (u64, u64) {
        let first = self.first_row();
        match self.offsets.as_deref() {
            Some([low, .., high]) => (first + u64::from(*low) - 1, first + u64::from(*high)),
            Some([only]) => (first + u64::from(*only) - 1, first + u64::from(*only)),
            _ => (first, first + RowId::TUPLES_PER_BLOCK),
        }
    }

    /// Whether its rows are read by name (few of the block's) or walked.
    fn by_name(&self) -> bool {
        self.offsets.as_ref().is_some_and(|o| !o.is_empty() && (o.len() as u64) * 8 < RowId::TUPLES_PER_BLOCK)
    }
}

/// A bitmap heap scan's state beyond its cursor (in the scan's memory).
pub struct BitmapRead {
    /// The executor's node, whose bitmap this scan reads.
    node: *mut pg_sys::BitmapHeapScanState,
    /// The bitmap `ahead` iterates (a rescan builds another).
    tbm: *mut pg_sys::TIDBitmap,
    /// This scan's own iterator over `tbm`, ahead of the executor's.
    ahead: *mut pg_sys::TBMIterator,
    /// Blocks `ahead` passed that the executor has not reached, in order.
    upcoming: VecDeque<Block>,
    /// The blocks the cursor's current request covers.
    reading: Vec<pg_sys::BlockNumber>,
    /// A row of a later block the cursor already returned.
    pending: Option<(Bytes, Bytes)>,
}

/// Points every Lyra bitmap heap scan in the plan tree under `planstate` at
/// its executor node (called once the executor has started, for every
/// statement: it allocates nothing but what it finds).
///
/// # Safety
/// `planstate` is null or an initialised plan state tree.
pub unsafe fn note_bitmap_scans(planstate: *mut pg_sys::PlanState) {
    if planstate.is_null() {
        return;
    }
    let each_in = |list: *mut pg_sys::List, f: &dyn Fn(*mut std::ffi::c_void)| {
        for i in 0..if list.is_null() { 0 } else { (*list).length as usize } {
            f((*(*list).elements.add(i)).ptr_value);
        }
    };
    let each_of = |plans: *mut *mut pg_sys::PlanState, n: i32| {
        for i in 0..n.max(0) as usize {
            note_bitmap_scans(*plans.add(i));
        }
    };
    note_bitmap_scans((*planstate).lefttree);
    note_bitmap_scans((*planstate).righttree);
    let sub_plan = |sub: *mut std::ffi::c_void| note_bitmap_scans((*(sub as *mut pg_sys::SubPlanState)).planstate);
    each_in((*planstate).initPlan, &sub_plan);
    each_in((*planstate).subPlan, &sub_plan);
    match (*planstate).type_ {
        pg_sys::NodeTag::T_BitmapHeapScanState => {
            let node = planstate as *mut pg_sys::BitmapHeapScanState;
            let scan = (*node).ss.ss_currentScanDesc;
            if !scan.is_null() && super::is_lyra((*node).ss.ss_currentRelation) {
                // In the query's memory, as the scan descriptor is.
                let query_cx = (*(*planstate).state).es_query_cxt;
                let read = PgMemoryContexts::For(query_cx).leak_and_drop_on_delete(BitmapRead {
                    node,
                    tbm: std::ptr::null_mut(),
                    ahead: std::ptr::null_mut(),
                    upcoming: VecDeque::new(),
                    reading: Vec::new(),
                    pending: None,
                });
                (*(scan as *mut LyraScanDesc)).bitmap = read;
            }
        }
        pg_sys::NodeTag::T_AppendState => {
            let append = planstate as *mut pg_sys::AppendState;
            each_of((*append).appendplans, (*append).as_nplans);
        }
        pg_sys::NodeTag::T_MergeAppendState => {
            let merge = planstate as *mut pg_sys::MergeAppendState;
            each_of((*merge).mergeplans, (*merge).ms_nplans);
        }
        pg_sys::NodeTag::T_SubqueryScanState => note_bitmap_scans((*(planstate as *mut pg_sys::SubqueryScanState)).subplan),
        pg_sys::NodeTag::T_CustomScanState => {
            each_in((*(planstate as *mut pg_sys::CustomScanState)).custom_ps, &|p| note_bitmap_scans(p.cast()));
        }
        _ => {}
    }
}

/// The scan's reading ahead, if `ExecutorStart` found its node.
unsafe fn bitmap_read<'a>(scan: pg_sys::TableScanDesc) -> Option<&'a mut BitmapRead> {
    (*(scan as *mut LyraScanDesc)).bitmap.as_mut()
}

/// The scan is starting again (the executor frees its bitmap next): its
/// iterator and what it read ahead go.
///
/// # Safety
/// `scan` is a Lyra table scan.
pub unsafe fn rescan(scan: pg_sys::TableScanDesc) {
    let Some(read) = bitmap_read(scan) else { return };
    if !read.ahead.is_null() {
        pg_sys::tbm_end_iterate(read.ahead);
    }
    read.tbm = std::ptr::null_mut();
    read.ahead = std::ptr::null_mut();
    read.upcoming.clear();
    read.reading.clear();
    read.pending = None;
}

/// The offsets a bitmap result names, ascending; `None` if it is lossy.
unsafe fn offsets<'a>(result: *mut pg_sys::TBMIterateResult) -> Option<&'a [pg_sys::OffsetNumber]> {
    let n = usize::try_from((*result).ntuples).ok()?;
    Some((*result).offsets.as_slice(n))
}

impl BitmapRead {
    /// The blocks of the next request, starting with `block` (the one the
    /// executor is on): it alone, or it and the blocks after it read by
    /// name. None if this scan's iterator does not find `block`.
    unsafe fn next_request(&mut self, block: &Block) -> Option<Vec<Block>> {
        let tbm = (*self.node).tbm;
        if tbm.is_null() {
            return None;
        }
        if tbm != self.tbm {
            self.tbm = tbm;
            self.ahead = pg_sys::tbm_begin_iterate(tbm);
            self.upcoming.clear();
        }
        // Catch up with the executor (blocks it skipped, if any).
        loop {
            let front = match self.upcoming.front() {
                Some(front) => front.number,
                None => {
                    let result = pg_sys::tbm_iterate(self.ahead);
                    if result.is_null() {
                        return None;
                    }
                    self.upcoming.push_back(Block::of(result));
                    continue;
                }
            };
            if front >= block.number {
                break;
            }
            self.upcoming.pop_front();
        }
        if self.upcoming.front().map(|b| b.number) != Some(block.number) {
            return None;
        }
        let first = self.upcoming.pop_front().expect("checked above");
        let by_name = first.by_name();
        // Named rows so far, or row ids walked so far.
        let mut rows = if by_name { first.offsets.as_ref().map_or(0, Vec::len) } else { BLOCK_ROWS };
        let mut blocks = vec![first];
        while blocks.len() < MAX_BLOCKS {
            if self.upcoming.is_empty() {
                let result = pg_sys::tbm_iterate(self.ahead);
                if result.is_null() {
                    break;
                }
                self.upcoming.push_back(Block::of(result));
            }
            let next = self.upcoming.front().expect("filled above");
            let last = blocks.last().expect("one at least");
            let fits = if by_name {
                next.by_name() && rows + next.offsets.as_ref().map_or(0, Vec::len) <= MAX_NAMED
            } else {
                // The next block walked with this one: the one right after it.
                !next.by_name() && next.number == last.number + 1 && rows + BLOCK_ROWS <= MAX_WALKED
            };
            if !fits {
                break;
            }
            rows += if by_name { next.offsets.as_ref().map_or(0, Vec::len) } else { BLOCK_ROWS };
            blocks.push(self.upcoming.pop_front().expect("checked above"));
        }
        Some(blocks)
    }
}

/// The executor moves to the next block of the bitmap.
#[pg_guard]
pub unsafe extern "C-unwind" fn scan_bitmap_next_block(
    scan: pg_sys::TableScanDesc,
    tbmres: *mut pg_sys::TBMIterateResult,
) -> bool {
    let block = Block::of(tbmres);
    if block.offsets.as_ref().is_some_and(Vec::is_empty) {
        return false;
    }
    let blocks = match bitmap_read(scan) {
        Some(read) if read.reading.contains(&block.number) => {
            return true; // its rows are on their way in the current request
        }
        Some(read) => {
            let blocks = read.next_request(&block).unwrap_or_else(|| vec![block]);
            read.reading = blocks.iter().map(|b| b.number).collect();
            read.pending = None;
            blocks
        }
        // Not found at ExecutorStart: this block alone.
        None => vec![block],
    };
    let c = cursor(scan);
    let (first, _) = blocks[0].span();
    let (_, end) = blocks[blocks.len() - 1].span();
    let named = if blocks[0].by_name() { named_keys(c.table(), &blocks) } else { Vec::new() };
    c.read_rows(first, end, named);
    true
}

/// The row keys `blocks` name, ascending.
fn named_keys(table: lyra_engine::keys::TableId, blocks: &[Block]) -> Vec<Vec<u8>> {
    blocks
        .iter()
        .flat_map(|b| {
            let first = b.first_row();
            b.offsets.iter().flatten().map(move |&o| table::row_key(table, RowId(first + u64::from(o) - 1)))
        })
        .collect()
}

/// The next row of the executor's current block that the bitmap names.
#[pg_guard]
pub unsafe extern "C-unwind" fn scan_bitmap_next_tuple(
    scan: pg_sys::TableScanDesc,
    tbmres: *mut pg_sys::TBMIterateResult,
    slot: *mut pg_sys::TupleTableSlot,
) -> bool {
    let block = (*tbmres).blockno;
    let wanted = offsets(tbmres);
    let mut pending = bitmap_read(scan).and_then(|r| r.pending.take());
    loop {
        let Some((key, value)) = pending.take().or_else(|| cursor(scan).next()) else { break };
        let row = row_of(&key);
        let (row_block, offset) = row.to_tid();
        if row_block < block || wanted.is_some_and(|o| row_block == block && o.binary_search(&offset).is_err()) {
            continue;
        }
        if row_block > block {
            // A later block's row (of this request): kept for that block.
            if let Some(read) = bitmap_read(scan) {
                read.pending = Some((key, value));
            }
            break;
        }
        store_row((*scan).rs_rd, slot, row, &value);
        return true;
    }
    datum::clear_slot(slot);
    false
}
