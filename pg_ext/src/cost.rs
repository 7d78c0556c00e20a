//! What reading a Lyra table costs, in the planner's units.
//!
//! Postgres prices scans for heap: pages read from disk, a random page
//! for every row an index scan fetches. Neither holds for Lyra, whose unit
//! of cost is the request to the node:
//!
//! * A **seq scan** is a round trip per page of rows (Postgres's page
//!   count, from [`crate::tam`]'s size estimate, is close enough) and every
//!   row crosses the socket and is decoded: [`ROW_TRANSFER`] per row, on top
//!   of heap's price.
//! * A **LyraScan** is one round trip for its first page of entries; the
//!   node reads each entry's row itself ([`ROW_GET`], a point read in the
//!   store) and sends both. No random page per row: the rows come with
//!   their entries.
//!
//! * A **bitmap heap scan** reads the TID blocks (291 row ids) the bitmap
//!   names: the node walks a block, or reads the named rows one by one
//!   ([`add_bitmap_scans`]; priced as a round trip per block, though the
//!   blocks read by name share requests, 64 at a time).
//!
//! ```text
//!   seq scan   = heap's seq scan            + tuples  × ROW_TRANSFER
//!   LyraScan   = seq_page_cost × round trips + fetched × (cpu_index_tuple_cost
//!                + cpu_tuple_cost + ROW_TRANSFER + ROW_GET + quals per row)
//!   bitmap     = heap's bitmap heap scan    + blocks × min(291 × NODE_FILTER,
//!                rows per block × ROW_GET) + rows × ROW_TRANSFER
//! ```
//!
//! Postgres has priced and pruned the paths by the time Lyra sees them
//! (`set_rel_pathlist_hook`), so the hook takes the seq and bitmap scans
//! out, has the index paths built again if those may have pruned some
//! ([`index_paths_may_be_missing`]), prices them as LyraScans and offers
//! the seq and bitmap scans back at Lyra's price for `add_path` to weigh.
//!
//! A statement that locks the rows it reads (UPDATE, DELETE, `FOR …`)
//! pays a round trip per row for the locks on top of a whole-table scan;
//! a LyraScan point lookup takes them with its read
//! ([`lock_round_trips`]).
//!
//! So a point lookup (one round trip, one row) beats a seq scan of even a
//! small table (up to about ten rows, where the two cost the same): the
//! seq scan of a hot table walks every row's uncollected versions on the
//! node (pgbench's `tellers`). An index range beats a seq scan up to
//! about a tenth of the table, which is what they measure. Not modelled: versions awaiting garbage collection, and the
//! cost of a round trip relative to local work (`seq_page_cost` stands
//! for it).

use lyra_engine::keys::RowId;
use pgrx::pg_sys;

/// Sending one row from the node and decoding it, per row.
const ROW_TRANSFER: f64 = 0.01;
/// The node's point read of the row an index entry names, and the
/// backend's work per entry and fetched row. Measured: counting 10,000 to
/// 90,000 rows of pgbench_accounts (scale 1) through a LyraScan takes
/// 5.3 µs a row, a seq scan with a filter 0.54 µs a row, which its price
/// (0.026 a row) puts at about 20 µs per unit.
const ROW_GET: f64 = 0.2;
/// A row an index scan that is not a LyraScan hands Postgres by TID, which
/// the table AM then reads in a round trip of its own. Measured: an
/// ordered lyra_gist scan returning all 100,000 rows of a table took
/// 10.8 s (about 100 µs a row), some five units.
pub const ROW_FETCH: f64 = 5.0;
/// Rows a LyraScan gets per round trip, roughly (pages grow from 64 rows).
const ROWS_PER_ROUND_TRIP: f64 = 1000.0;

/// Takes the seq scans out of `rel`'s paths, to be offered again at
/// Lyra's price ([`add_seq_scans`]) once the index paths they beat at
/// heap's price have been built again: `add_path` dropped those for good
/// (a point lookup on a small table loses to a heap-priced seq scan).
///
/// # Safety
/// Called from `set_rel_pathlist_hook` for a Lyra base relation.
pub unsafe fn take_seq_scans(rel: *mut pg_sys::RelOptInfo) -> Vec<*mut pg_sys::Path> {
    take_paths(rel, pg_sys::NodeTag::T_SeqScan)
}

/// Takes the bitmap heap scans out of `rel`'s paths, as [`take_seq_scans`]
/// (a heap-priced bitmap scan beats a heap-priced index scan that fetches
/// a random page per row; a LyraScan fetches none).
///
/// # Safety
/// As [`take_seq_scans`].
pub unsafe fn take_bitmap_scans(rel: *mut pg_sys::RelOptInfo) -> Vec<*mut pg_sys::Path> {
    take_paths(rel, pg_sys::NodeTag::T_BitmapHeapScan)
}

/// Takes the paths of plan type `tag` out of `rel`'s paths.
unsafe fn take_paths(rel: *mut pg_sys::RelOptInfo, tag: pg_sys::NodeTag) -> Vec<*mut pg_sys::Path> {
    let paths = (*rel).pathlist;
    if paths.is_null() {
        return Vec::new();
    }
    let mut taken = Vec::new();
    let mut kept: *mut pg_sys::List = std::ptr::null_mut();
    for i in 0..(*paths).length as usize {
        let path = (*(*paths).elements.add(i)).ptr_value as *mut pg_sys::Path;
        if (*path).pathtype == tag {
            taken.push(path);
        } else {
            kept = pg_sys::lappend(kept, path.cast());
        }
    }
    (*rel).pathlist = kept;
    taken
}

/// Whether the heap-priced seq and bitmap scans taken out may have cost
/// `rel` index paths that Lyra's prices would keep: no plain index path
/// is left, or one of them is cheaper than every one that is. Otherwise
/// building the index paths again would give the same ones — work on
/// every plan of a large table's point lookup (pgbench -S plans each
/// statement) for nothing.
///
/// # Safety
/// As [`take_seq_scans`], with what it and [`take_bitmap_scans`] returned.
pub unsafe fn index_paths_may_be_missing(
    rel: *mut pg_sys::RelOptInfo,
    seq_scans: &[*mut pg_sys::Path],
    bitmap_scans: &[*mut pg_sys::Path],
) -> bool {
    let paths = (*rel).pathlist;
    let cheapest_index_path = (0..if paths.is_null() { 0 } else { (*paths).length as usize })
        .map(|i| (*(*paths).elements.add(i)).ptr_value as *mut pg_sys::Path)
        .filter(|&p| (*p).pathtype == pg_sys::NodeTag::T_IndexScan && (*p).param_info.is_null())
        .map(|p| (*p).total_cost)
        .reduce(f64::min);
    let mut taken = seq_scans.iter().chain(bitmap_scans);
    match cheapest_index_path {
        None => taken.next().is_some(),
        Some(cost) => taken.any(|&s| (*s).total_cost < cost),
    }
}

/// Builds `rel`'s index paths again, with the seq and bitmap scans out of
/// the way. Postgres builds bitmap scans with them; those come at
/// `disable_cost` here, so that they drop none of the index paths, and are
/// thrown away (the ones taken out before stay).
///
/// # Safety
/// As [`take_seq_scans`].
pub unsafe fn build_index_paths_again(root: *mut pg_sys::PlannerInfo, rel: *mut pg_sys::RelOptInfo) {
    /// Puts `enable_bitmapscan` back, also when an ERROR unwinds.
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: the backend's own GUC variable, on its only thread.
            unsafe { pg_sys::enable_bitmapscan = self.0 }
        }
    }
    let _restore = Restore(pg_sys::enable_bitmapscan);
    pg_sys::enable_bitmapscan = false;
    pg_sys::create_index_paths(root, rel);
    take_bitmap_scans(rel);
}

/// Offers `seq_scans` (from [`take_seq_scans`]) again, at Lyra's price.
///
/// # Safety
/// As [`take_seq_scans`].
pub unsafe fn add_seq_scans(rel: *mut pg_sys::RelOptInfo, seq_scans: Vec<*mut pg_sys::Path>, locks: f64) {
    for path in seq_scans {
        (*path).total_cost += (*rel).tuples * ROW_TRANSFER + locks;
        pg_sys::add_path(rel, path);
    }
}

/// Offers a parallel seq scan of `rel` (relation `relid`; see
/// `tam::parallel`) at Lyra's price: Postgres's partial seq scan, its
/// workers chosen by the size the table's rows would take in heap pages
/// (Lyra's own "pages" are blocks of 291 row ids, whatever the rows'
/// width), the rows' transfer shared by the participants like the rest of
/// the CPU work.
///
/// # Safety
/// `root` and `rel` are the planner's, for a base relation.
pub unsafe fn add_partial_seq_scan(root: *mut pg_sys::PlannerInfo, rel: *mut pg_sys::RelOptInfo, relid: pg_sys::Oid) {
    let width = f64::from(pg_sys::get_relation_data_width(relid, std::ptr::null_mut()) + HEAP_ROW_OVERHEAD);
    let heap_pages = ((*rel).tuples * width / f64::from(pg_sys::BLCKSZ)).ceil().min(f64::from(u32::MAX - 1));
    let workers = pg_sys::compute_parallel_worker(rel, heap_pages, -1.0, pg_sys::max_parallel_workers_per_gather);
    if workers <= 0 {
        return;
    }
    let path = pg_sys::create_seqscan_path(root, rel, std::ptr::null_mut(), workers);
    let mut divisor = f64::from(workers);
    if pg_sys::parallel_leader_participation {
        divisor += (1.0 - 0.3 * f64::from(workers)).max(0.0);
    }
    (*path).total_cost += (*rel).tuples * ROW_TRANSFER / divisor;
    pg_sys::add_partial_path(rel, path);
}

/// What heap adds to a row's data in a page (tuple header, line pointer).
const HEAP_ROW_OVERHEAD: i32 = 24 + 4;

/// Offers `bitmap_scans` (from [`take_bitmap_scans`]) again at Lyra's
/// price. Heap's counts a page read per block the bitmap names; for Lyra a
/// block is the rows of 291 row ids, which the node either walks or reads
/// one by one by name (`crate::tam`), the cheaper: per block the lesser
/// of [`NODE_FILTER`] a row id and [`ROW_GET`] a named row. (Blocks read
/// by name share a request, so heap's page read per block overprices
/// them: a LyraScan, which brings rows with their entries, keeps winning
/// single-index reads.) On top, as for a seq scan, the
/// rows' transfer and, when the statement locks them, a round trip per
/// row (`locks` is that for all of `rel`'s rows).
///
/// None on a table of more than half a storage segment of blocks (19
/// million row ids): Postgres prefetches a bitmap's blocks from the
/// relation's storage file, which for Lyra is empty, and a block past its
/// first segment fails to open.
///
/// # Safety
/// As [`take_seq_scans`].
pub unsafe fn add_bitmap_scans(
    root: *mut pg_sys::PlannerInfo,
    rel: *mut pg_sys::RelOptInfo,
    bitmap_scans: Vec<*mut pg_sys::Path>,
    locks: f64,
) {
    if f64::from((*rel).pages) >= f64::from(pg_sys::RELSEG_SIZE) / 2.0 {
        return;
    }
    let lock_per_row = if (*rel).rows > 0.0 { locks / (*rel).rows } else { 0.0 };
    for path in bitmap_scans {
        let bitmapqual = (*(path as *mut pg_sys::BitmapHeapPath)).bitmapqual;
        let (mut index_cost, mut tuples) = (0.0, 0.0);
        let blocks = pg_sys::compute_bitmap_pages(root, rel, bitmapqual, 1, &mut index_cost, &mut tuples).max(1.0);
        let per_block = (RowId::TUPLES_PER_BLOCK as f64 * NODE_FILTER).min(tuples / blocks * ROW_GET);
        (*path).total_cost += blocks * per_block + (*path).rows * (ROW_TRANSFER + lock_per_row);
        pg_sys::add_path(rel, path);
    }
}

/// What locking the rows a scan of `rel` returns costs the statement when
/// it locks them (an UPDATE or DELETE of `rel`, or `SELECT … FOR …`): a
/// round trip each — except where a LyraScan point lookup takes the lock
/// with its read (`crate::lyrascan`), so this goes on the whole-table
/// scans only. It makes `UPDATE … WHERE pk = $1` on a small table a point
/// lookup (one round trip) rather than a scan and a lock (two):
/// pgbench's `branches`, ten rows.
///
/// # Safety
/// `root` and `rel` are the planner's, for a base relation.
pub unsafe fn lock_round_trips(root: *mut pg_sys::PlannerInfo, rel: *mut pg_sys::RelOptInfo) -> f64 {
    let parse = (*root).parse;
    let written = matches!((*parse).commandType, pg_sys::CmdType::CMD_UPDATE | pg_sys::CmdType::CMD_DELETE)
        && (*parse).resultRelation as pg_sys::Index == (*rel).relid;
    let marks = (*root).rowMarks;
    let marked = !marks.is_null()
        && (0..(*marks).length as usize).any(|i| {
            let mark = (*(*marks).elements.add(i)).ptr_value as *mut pg_sys::PlanRowMark;
            (*mark).rti == (*rel).relid && (*mark).markType <= pg_sys::RowMarkType::ROW_MARK_KEYSHARE
        });
    if written || marked {
        (*rel).rows * pg_sys::seq_page_cost
    } else {
        0.0
    }
}

/// The node reading a row and judging it by a pushed-down filter, per row:
/// its part of a seq scan's per-row cost that stays when the row is not
/// sent.
const NODE_FILTER: f64 = 0.01;

/// The cost of a LyraScan of the whole table whose rows the node filters
/// (`crate::lyrascan::offer_filtered`): a seq scan that pays the node's
/// read of every row, but the transfer and the backend's work only for
/// the rows the filter lets through (`rel.rows`).
///
/// # Safety
/// `rel` is a Lyra base relation whose size and selectivity are set.
pub unsafe fn filtered_scan(rel: *mut pg_sys::RelOptInfo, locks: f64) -> (f64, f64) {
    let startup = (*rel).baserestrictcost.startup;
    let sent = (*rel).rows;
    let per_sent = pg_sys::cpu_tuple_cost + ROW_TRANSFER + (*rel).baserestrictcost.per_tuple;
    let mut total = startup + pg_sys::seq_page_cost * (*rel).pages as f64 + (*rel).tuples * NODE_FILTER + sent * per_sent + locks;
    // It reads the whole table: `enable_seqscan = off` is for it too.
    if !pg_sys::enable_seqscan {
        total += pg_sys::disable_cost;
    }
    (startup, total)
}

/// The cost of a LyraScan reading what `index_path` reads: (startup, total).
///
/// # Safety
/// `index_path` is a valid index path of `rel`.
pub unsafe fn lyrascan(rel: *mut pg_sys::RelOptInfo, index_path: *mut pg_sys::IndexPath) -> (f64, f64) {
    let fetched = ((*index_path).indexselectivity * (*rel).tuples).max(1.0);
    let round_trips = 1.0 + (fetched / ROWS_PER_ROUND_TRIP).floor();
    let per_row = pg_sys::cpu_index_tuple_cost
        + pg_sys::cpu_tuple_cost
        + ROW_TRANSFER
        + ROW_GET
        + (*rel).baserestrictcost.per_tuple;
    let startup = pg_sys::seq_page_cost + (*rel).baserestrictcost.startup;
    (startup, startup + (round_trips - 1.0) * pg_sys::seq_page_cost + fetched * per_row)
}
