//! Parallel sequential scans of a Lyra table.
//!
//! A parallel query's leader and workers are separate backends, each with
//! its own connection to the node. What they share lives in the query's
//! dynamic shared memory, after Postgres's own header ([`Shared`]): the
//! timestamp every participant reads at — the leader's statement's, fixed
//! before any worker starts, so the workers see exactly the rows the
//! leader's snapshot sees — and a counter handing out chunks of
//! [`CHUNK_ROWS`] row ids, each read by whoever claims it (the last chunk
//! runs to the end of the table's rows).
//!
//! A worker cannot see the leader's buffered writes, so no worker reads a
//! Lyra table for a transaction that has any: the planner offers partial
//! scans only when the transaction has written nothing yet
//! (`hooks::set_rel_pathlist`), and a plan made before its writes runs
//! without workers (`hooks::executor_run`: the leader runs it whole). The
//! scans of a SERIALIZABLE transaction are checked at commit: the leader
//! notes the whole table as read when it sets the scan up.

use std::sync::atomic::{AtomicU64, Ordering};

use lyra_cluster::protocol::Ts;
use lyra_engine::keys::KeyPrefix;
use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::error::raise;
use crate::snapshot::{self, ReadTs};
use crate::{node_link, table, txn};

/// Row ids per chunk a participant claims (56 of the 291-id blocks).
pub const CHUNK_ROWS: u64 = 291 * 56;

/// A parallel scan's shared state: Postgres's header, then Lyra's.
#[repr(C)]
pub struct Shared {
    base: pg_sys::ParallelTableScanDescData,
    /// The timestamp all participants read at.
    wall: u64,
    logical: u32,
    /// Row ids below which chunks are handed out; the last one runs on.
    high_water: u64,
    /// The next chunk to hand out.
    next_chunk: AtomicU64,
    /// The leader's transaction has buffered writes, which a worker would
    /// not see (`hooks::executor_run` keeps workers out of such a
    /// transaction's plans; this is the last guard).
    leader_wrote: bool,
}

#[pg_guard]
pub unsafe extern "C-unwind" fn parallelscan_estimate(_rel: pg_sys::Relation) -> pg_sys::Size {
    std::mem::size_of::<Shared>()
}

/// In the leader, before the workers start: the statement's timestamp
/// (taken now if no read has taken it yet) and the table's row-id
/// high-water mark.
#[pg_guard]
pub unsafe extern "C-unwind" fn parallelscan_initialize(
    rel: pg_sys::Relation,
    pscan: pg_sys::ParallelTableScanDesc,
) -> pg_sys::Size {
    let read_ts = snapshot::running_read_ts();
    if read_ts.get().is_none() {
        let ts = node_link::with_node(|c, w| c.fresh_read_ts(w));
        read_ts.learn(ts);
        txn::note_ts(ts);
    }
    let Some(ts) = read_ts.get() else {
        raise(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, "the lyra node gave no read timestamp");
    };
    let table = table::table_id(rel);
    let (start, end) = KeyPrefix::Rows { table }.range();
    txn::note_read(&start, &end);
    let shared = pscan as *mut Shared;
    shared.write(Shared {
        base: pg_sys::ParallelTableScanDescData {
            phs_relid: (*rel).rd_id,
            phs_syncscan: false,
            phs_snapshot_any: false,
            phs_snapshot_off: 0,
        },
        wall: ts.wall,
        logical: ts.logical,
        high_water: table::row_id_high_water(table),
        next_chunk: AtomicU64::new(0),
        leader_wrote: !txn::is_empty(),
    });
    std::mem::size_of::<Shared>()
}

/// A rescan (the scan under a rescanned Gather): the chunks again.
#[pg_guard]
pub unsafe extern "C-unwind" fn parallelscan_reinitialize(_rel: pg_sys::Relation, pscan: pg_sys::ParallelTableScanDesc) {
    (*(pscan as *mut Shared)).next_chunk.store(0, Ordering::SeqCst);
}

/// The timestamp the participants of `pscan` read at.
///
/// # Safety
/// `pscan` was set up by [`parallelscan_initialize`].
pub unsafe fn read_ts(pscan: pg_sys::ParallelTableScanDesc) -> ReadTs {
    let shared = &*(pscan as *const Shared);
    if shared.leader_wrote && pg_sys::ParallelWorkerNumber >= 0 {
        raise(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            "a parallel worker cannot read a lyra table for a transaction that has written lyra tables",
        );
    }
    let read_ts = ReadTs::default();
    read_ts.learn(Some(Ts { wall: shared.wall, logical: shared.logical }));
    read_ts
}

/// The row ids of the next chunk nobody has claimed, `[first, end)` (`end`
/// `None`: to the end of the table), if any is left.
///
/// # Safety
/// As [`read_ts`].
pub unsafe fn claim(pscan: pg_sys::ParallelTableScanDesc) -> Option<(u64, Option<u64>)> {
    let shared = &*(pscan as *const Shared);
    let chunks = shared.high_water.div_ceil(CHUNK_ROWS).max(1);
    let chunk = shared.next_chunk.fetch_add(1, Ordering::SeqCst);
    (chunk < chunks).then(|| {
        let first = chunk * CHUNK_ROWS;
        (first, (chunk + 1 < chunks).then_some(first + CHUNK_ROWS))
    })
}
