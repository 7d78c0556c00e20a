//! `TABLESAMPLE` on Lyra tables.
//!
//! Postgres's sampling methods (`SYSTEM`, `BERNOULLI`, and extensions'
//! such as `tsm_system_rows`) pick blocks and offsets within them; a Lyra
//! row id is a TID (291 row ids a block, as for bitmap scans), so a block
//! is the rows of 291 consecutive row ids. A chosen block is read whole in
//! one request through the scan's cursor (the statement's snapshot, the
//! transaction's own writes merged), and the method's offsets pick rows
//! from it. A block is sampled from the ids that exist, so `SYSTEM` takes
//! about the percentage asked of the rows, as on heap; which rows it takes
//! differs from heap's (heap's blocks hold as many rows as fit in 8 kB).

use bytes::Bytes;
use lyra_engine::keys::RowId;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgMemoryContexts;

use super::scan::{cursor, row_of, store_row, LyraScanDesc};
use crate::datum;

/// A sample scan's place: the blocks there are and the block being read.
pub struct SampleRead {
    blocks: u32,
    /// The block sampled now; `None` before the first and after the last.
    block: Option<u32>,
    /// Its visible rows, by offset.
    rows: Vec<(pg_sys::OffsetNumber, RowId, Bytes)>,
}

/// The scan's sampling state, made at its first block.
unsafe fn sample_read<'a>(scan: pg_sys::TableScanDesc) -> &'a mut SampleRead {
    let desc = scan as *mut LyraScanDesc;
    if (*desc).sample.is_null() {
        // It lives as long as the scan descriptor.
        let mut context = PgMemoryContexts::For(pg_sys::GetMemoryChunkContext(desc.cast()));
        let read = SampleRead { blocks: blocks(scan), block: None, rows: Vec::new() };
        (*desc).sample = context.leak_and_drop_on_delete(read);
    }
    &mut *(*desc).sample
}

/// Blocks of 291 row ids up to the highest id the table has given out.
unsafe fn blocks(scan: pg_sys::TableScanDesc) -> u32 {
    u32::try_from(super::ddl::row_id_blocks((*scan).rs_rd)).unwrap_or(pg_sys::InvalidBlockNumber - 1)
}

/// The scan starts again (new parameters, a new seed): from the first
/// block, over the table as it is now.
///
/// # Safety
/// `scan` is a Lyra table scan.
pub unsafe fn rescan(scan: pg_sys::TableScanDesc) {
    let read = (*(scan as *mut LyraScanDesc)).sample;
    if !read.is_null() {
        *read = SampleRead { blocks: blocks(scan), block: None, rows: Vec::new() };
    }
}

/// The sampling method picks the next block (or, without a block picker,
/// the next in order); its rows are read.
#[pg_guard]
pub unsafe extern "C-unwind" fn scan_sample_next_block(
    scan: pg_sys::TableScanDesc,
    scanstate: *mut pg_sys::SampleScanState,
) -> bool {
    let tsm = (*scanstate).tsmroutine;
    let read = sample_read(scan);
    read.rows.clear();
    let next = if read.blocks == 0 {
        None
    } else if let Some(pick) = (*tsm).NextSampleBlock {
        Some(pick(scanstate, read.blocks)).filter(|&b| b != pg_sys::InvalidBlockNumber)
    } else {
        match read.block {
            None => Some(0),
            Some(b) => Some(b + 1).filter(|&b| b < read.blocks),
        }
    };
    read.block = next;
    let Some(block) = next else { return false };
    let first = u64::from(block) * RowId::TUPLES_PER_BLOCK;
    let c = cursor(scan);
    c.read_rows(first, first + RowId::TUPLES_PER_BLOCK, Vec::new());
    while let Some((key, value)) = c.next() {
        let row = row_of(&key);
        read.rows.push((row.to_tid().1, row, value));
    }
    true
}

/// The next row of the block that the sampling method picks.
#[pg_guard]
pub unsafe extern "C-unwind" fn scan_sample_next_tuple(
    scan: pg_sys::TableScanDesc,
    scanstate: *mut pg_sys::SampleScanState,
    slot: *mut pg_sys::TupleTableSlot,
) -> bool {
    let read = sample_read(scan);
    if let (Some(block), Some(pick)) = (read.block, (*(*scanstate).tsmroutine).NextSampleTuple) {
        loop {
            let offset = pick(scanstate, block, RowId::TUPLES_PER_BLOCK as pg_sys::OffsetNumber);
            if offset == pg_sys::InvalidOffsetNumber {
                break;
            }
            if let Ok(at) = read.rows.binary_search_by_key(&offset, |r| r.0) {
                let (_, row, value) = &read.rows[at];
                store_row((*scan).rs_rd, slot, *row, value);
                return true;
            }
        }
    }
    datum::clear_slot(slot);
    false
}
