//! Which engine timestamp a Postgres snapshot reads Lyra tables at.
//!
//! Postgres's snapshots are lists of transaction ids; Lyra's are HLC
//! timestamps from the node. The mapping follows the isolation level, as
//! heap's snapshots do:
//!
//! * REPEATABLE READ and SERIALIZABLE: one timestamp for the whole
//!   transaction, taken by its first read of a Lyra table — or as its
//!   first INSERT into one starts ([`fix_before_insert`]). A query on a
//!   newer snapshot (foreign-key checks use the latest) reads as under
//!   READ COMMITTED.
//! * READ COMMITTED: one timestamp per statement. Each executor run
//!   (`ExecutorStart` … `ExecutorEnd`) gets its own, unless it runs on the
//!   snapshot of an executor still running (a STABLE function's queries
//!   share their caller's snapshot, and so its timestamp). A cursor keeps
//!   its executor, and so its timestamp, until it is closed.
//! * Non-MVCC snapshots (SnapshotSelf, SnapshotDirty, SnapshotAny, catalog
//!   scans) read the latest committed data: a fresh timestamp each time.
//!
//! A timestamp is taken lazily: a [`ReadTs`] starts empty, the first request
//! at it goes out without one, and the node answers with the timestamp it
//! read at — no round trip just to learn the time (except for the first
//! INSERT of a REPEATABLE READ transaction, [`fix_before_insert`]).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use lyra_cluster::protocol::Ts;
use pgrx::pg_sys;

/// A snapshot's timestamp, shared by the scans and fetches that use it;
/// empty until the first read at it.
#[derive(Clone, Default)]
pub struct ReadTs(Rc<Cell<Option<Ts>>>);

impl ReadTs {
    /// The timestamp, if some read already fixed it.
    pub fn get(&self) -> Option<Ts> {
        self.0.get()
    }

    /// Fixes the timestamp from the node's answer to the first read.
    pub fn learn(&self, ts: Option<Ts>) {
        if self.0.get().is_none() {
            self.0.set(ts);
        }
    }
}

/// A running executor: its query, its snapshot, the snapshot's timestamp.
struct Statement {
    query: *mut pg_sys::QueryDesc,
    snapshot: pg_sys::Snapshot,
    read_ts: ReadTs,
}

thread_local! {
    static STATEMENTS: RefCell<Vec<Statement>> = const { RefCell::new(Vec::new()) };
    /// The transaction's timestamp under REPEATABLE READ / SERIALIZABLE.
    static TRANSACTION: RefCell<ReadTs> = RefCell::new(ReadTs::default());
}

/// Whether the transaction reads at one snapshot throughout.
pub fn uses_transaction_snapshot() -> bool {
    // SAFETY: reading a backend-local GUC variable.
    unsafe { pg_sys::XactIsoLevel >= pg_sys::XACT_REPEATABLE_READ as i32 }
}

/// Whether the transaction is SERIALIZABLE (its reads are validated at
/// commit).
pub fn is_serializable() -> bool {
    // SAFETY: as above.
    unsafe { pg_sys::XactIsoLevel == pg_sys::XACT_SERIALIZABLE as i32 }
}

/// The timestamp `snapshot` reads Lyra tables at.
///
/// # Safety
/// `snapshot` is null or a valid snapshot.
pub unsafe fn read_ts(snapshot: pg_sys::Snapshot) -> ReadTs {
    if snapshot.is_null() || (*snapshot).snapshot_type != pg_sys::SnapshotType::SNAPSHOT_MVCC {
        return ReadTs::default();
    }
    if uses_transaction_snapshot() && is_transaction_snapshot(snapshot) {
        return TRANSACTION.with(|t| t.borrow().clone());
    }
    STATEMENTS.with(|s| {
        s.borrow()
            .iter()
            .rev()
            .find(|st| st.snapshot == snapshot)
            .map(|st| st.read_ts.clone())
            .unwrap_or_default()
    })
}

/// The timestamp of the innermost running executor (the one setting up a
/// parallel scan: its leader), empty if none runs.
///
/// # Safety
/// Inside a transaction.
pub unsafe fn running_read_ts() -> ReadTs {
    match STATEMENTS.with(|s| s.borrow().last().map(|st| st.snapshot)) {
        Some(snapshot) => read_ts(snapshot),
        None => ReadTs::default(),
    }
}

/// Whether `snapshot` is (a copy of) the REPEATABLE READ transaction's
/// snapshot. Postgres also runs queries on newer snapshots in such a
/// transaction — the foreign-key checks that must see rows committed
/// since (`GetLatestSnapshot`) — and those read at their own timestamp,
/// as under READ COMMITTED.
unsafe fn is_transaction_snapshot(snapshot: pg_sys::Snapshot) -> bool {
    let transaction = pg_sys::GetTransactionSnapshot();
    transaction.is_null()
        || ((*transaction).xmin == (*snapshot).xmin
            && (*transaction).xmax == (*snapshot).xmax
            && (*transaction).xcnt == (*snapshot).xcnt)
}

/// The transaction's timestamp if it has one yet (REPEATABLE READ and
/// SERIALIZABLE).
pub fn transaction_read_ts() -> Option<Ts> {
    TRANSACTION.with(|t| t.borrow().get())
}

/// How many executors are registered: a subtransaction notes it at its
/// start and, if it aborts, forgets those started since (an executor cut
/// short by an ERROR never reaches `ExecutorEnd`).
pub fn statement_mark() -> usize {
    STATEMENTS.with(|s| s.borrow().len())
}

/// Forgets the executors registered after `mark`.
pub fn forget_statements_after(mark: usize) {
    STATEMENTS.with(|s| s.borrow_mut().truncate(mark));
}

/// Forgets every timestamp: the transaction ended.
pub fn reset() {
    STATEMENTS.with(|s| s.borrow_mut().clear());
    TRANSACTION.with(|t| *t.borrow_mut() = ReadTs::default());
}

/// Registers the executor `query` that has just started (hooks.rs's
/// `ExecutorStart`): it reads at the timestamp of a running executor on
/// the same snapshot, if there is one, else at a fresh one.
///
/// # Safety
/// `query` is a started executor's query descriptor.
pub unsafe fn statement_started(query: *mut pg_sys::QueryDesc) {
    let snapshot = (*query).snapshot;
    STATEMENTS.with(|s| {
        let mut statements = s.borrow_mut();
        let read_ts = statements
            .iter()
            .rev()
            .find(|st| st.snapshot == snapshot)
            .map(|st| st.read_ts.clone())
            .unwrap_or_default();
        statements.push(Statement { query, snapshot, read_ts });
    });
}

/// The first INSERT into a Lyra table of a REPEATABLE READ or
/// SERIALIZABLE transaction that has read none yet fixes the
/// transaction's timestamp as it starts, not at its first read: an
/// insert can wait for another inserter of a unique key before it reads
/// anything, and Postgres's snapshot was taken before that wait — a row
/// committed during it is not in the snapshot (`INSERT … ON CONFLICT DO
/// NOTHING` then fails with 40001, as on heap, rather than do nothing).
/// Other statements read first, which fixes it at their start anyway.
///
/// # Safety
/// `query` is a starting executor's query descriptor.
pub unsafe fn fix_before_insert(query: *mut pg_sys::QueryDesc) {
    if (*query).operation != pg_sys::CmdType::CMD_INSERT
        || !uses_transaction_snapshot()
        || transaction_read_ts().is_some()
        || !is_transaction_snapshot((*query).snapshot)
        || !crate::hooks::inserts_into_lyra((*query).plannedstmt)
    {
        return;
    }
    let ts = crate::node_link::with_node(|c, w| c.fresh_read_ts(w));
    TRANSACTION.with(|t| t.borrow().learn(ts));
}

/// Forgets the executor `query`, which is ending.
pub fn statement_ended(query: *mut pg_sys::QueryDesc) {
    STATEMENTS.with(|s| {
        let mut statements = s.borrow_mut();
        if let Some(pos) = statements.iter().rposition(|st| st.query == query) {
            statements.remove(pos);
        }
    });
}
