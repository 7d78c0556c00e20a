//! What the node does with each request, independent of sockets.
//!
//! [`Service::handle`] is a synchronous function of the engine, the
//! connection's state and one request, returning one response. Errors are
//! values ([`ErrorReply`]) — a bad request never takes the node down.
//!
//! # Transactions on one node
//!
//! Table rows are versioned ([`Mvcc`]) at timestamps from the node's
//! [`Hlc`]. A backend's transaction is, to the node, the requests of one
//! connection between two `Commit`/`EndTxn`s:
//!
//! ```text
//!   Scan/Get (read_ts or none → now)   snapshot reads; the answer says at which ts
//!   LockRow key mode wait              row lock until the end; answers the row's
//!                                      newest version as of lock_ts
//!   LockRows [LockRow]                 several, none waiting: an answer each
//!   StageWrites*, Commit               one atomic batch at commit_ts = now:
//!                                      each row checked against seen_at, the
//!                                      read spans (SERIALIZABLE) against the
//!                                      recent writes (or, for a read older
//!                                      than that log, the stored versions);
//!                                      then the locks go
//!   EndTxn                             release the locks, forget the staged writes
//! ```
//!
//! Old versions are collected ([`Service::collect_garbage`], run every few
//! seconds by the node) below the oldest timestamp any open transaction
//! read or locked at: each connection *pins* the first timestamp it used
//! until its `Commit`/`EndTxn`. Only rows overwritten or deleted since the
//! last collection are visited. A read below the collected horizon (a
//! backend that lost its connection mid-transaction) is refused with
//! "snapshot too old" rather than answered wrongly.
//!
//! Snapshots are exact without a timestamp cache: commits pick their
//! timestamps and are written in groups, one group at a time, sharing one
//! fsync ([`commit`]); a reader that asks for "now" gets a timestamp below
//! which every commit is written and none can land later — now, or just
//! below the group being written, so it never waits for a commit. Waiting
//! for a lock is not done here (the socket shell waits, see
//! [`super::server`]): [`Service::try_lock`] either
//! answers or says the request is blocked.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::BytesMut;

use lyra_engine::catalog::Catalog;
use lyra_engine::hlc::{Hlc, Timestamp};
use lyra_engine::keys::{is_versioned, memcmp, Key, RowId};
use lyra_engine::mvcc::locks::{Acquire, LockMode as Mode, LockTable, Owner, Taker};
use lyra_engine::mvcc::recent::RecentWrites;
use lyra_engine::mvcc::{scan::scan_visible, scan::scan_visible_reverse, Mvcc};
use lyra_engine::{row, row_filter};
use lyra_engine::storage::Engine;
use lyra_engine::TxnError;

use crate::protocol::{
    request, response, Done, Entries, Entry, ErrorCode, ErrorReply, Id, KvPair, LockMode, LockRow, Op, Request,
    Response, RowBusy, RowLocked, Scanned, Ts, Value, WaitPolicy,
};

/// Scan limits applied when a request leaves them 0, and their ceilings.
const DEFAULT_SCAN_ROWS: u32 = 1024;
const MAX_SCAN_ROWS: u32 = 100_000;
const DEFAULT_SCAN_BYTES: u32 = 1 << 20;
const MAX_SCAN_BYTES: u32 = 64 << 20;
/// The node refuses timestamps further ahead of its clock than this, µs.
const MAX_CLOCK_OFFSET: u64 = 500_000;
/// Keys of recent commits remembered for SERIALIZABLE read validation.
const RECENT_WRITE_KEYS: usize = 1 << 20;

pub struct Service<E: Engine> {
    engine: Arc<E>,
    catalog: Catalog<E>,
    node_id: u64,
    mvcc: Mvcc<E>,
    /// Shared with the node's Raft loop, which moves it past every
    /// replicated command it applies.
    hlc: Arc<Hlc>,
    /// Commits waiting for a group, and the group being written ([`commit`]).
    commits: commit::Commits,
    locks: Mutex<LockTable>,
    /// Woken whenever locks are released, so waiters try again.
    released: tokio::sync::Notify,
    /// With the engine epoch it began at: a range taken over since then
    /// was written elsewhere, which the log does not know.
    recent: Mutex<(u64, RecentWrites)>,
    next_connection: AtomicU64,
    /// Connection → the oldest timestamp its open transaction uses.
    pins: Mutex<HashMap<Owner, Timestamp>>,
    /// Rows overwritten or deleted since they were last collected.
    garbage: Mutex<BTreeSet<Vec<u8>>>,
    /// Key ranges deleted wholesale since the current collection began:
    /// keys it took before are skipped (see `remember_writes`).
    dropped: Mutex<Vec<(Vec<u8>, Vec<u8>)>>,
    /// Versions below this may be gone: reads under it are refused.
    gc_horizon: Mutex<Timestamp>,
}

/// Rows collected per engine batch. Each batch holds the MVCC latch,
/// which commits wait for, while it walks its keys and writes: 1,024 held
/// it ~40 ms on this development VM, and TPC-B's slowest transactions
/// were the ones that waited (p99.9 62–79 ms; 33–46 ms with 128).
const GC_BATCH_KEYS: usize = 128;

/// Per-connection state: its transaction's staged writes; its id owns the
/// transaction's row locks.
pub struct Connection {
    id: Owner,
    staged: Vec<Op>,
}

/// A lock request's outcome when it may wait.
pub enum LockAttempt {
    /// The answer: granted, or an error (deadlock, would block).
    Done(Response),
    /// Held by others; try again when locks are released.
    Blocked,
}

/// A failed request, as it goes back to the backend.
struct Failure(ErrorCode, String);

impl From<Failure> for Response {
    fn from(Failure(code, message): Failure) -> Response {
        error(code, message)
    }
}

/// A request's outcome as it goes back to the backend.
fn respond(reply: Reply) -> Response {
    match reply {
        Ok(kind) => Response { kind: Some(kind) },
        Err(failure) => failure.into(),
    }
}

impl From<lyra_engine::Error> for Failure {
    fn from(e: lyra_engine::Error) -> Failure {
        let code = match e {
            lyra_engine::Error::Io(_) => ErrorCode::Io,
            lyra_engine::Error::Corrupt(_) => ErrorCode::Corrupt,
            lyra_engine::Error::InvalidInput(_) => ErrorCode::InvalidInput,
            lyra_engine::Error::RowIdsExhausted(_) => ErrorCode::RowIdsExhausted,
            lyra_engine::Error::NotServed(_) => ErrorCode::NotServed,
            lyra_engine::Error::Ambiguous(_) => ErrorCode::Ambiguous,
        };
        Failure(code, e.to_string())
    }
}

impl From<TxnError> for Failure {
    fn from(e: TxnError) -> Failure {
        match e {
            TxnError::Engine(e) => e.into(),
            TxnError::ClockOffset { .. } => Failure(ErrorCode::InvalidInput, e.to_string()),
            TxnError::WriteConflict { .. } => {
                Failure(ErrorCode::SerializationFailure, "could not serialize access due to concurrent update".into())
            }
            other => Failure(ErrorCode::SerializationFailure, other.to_string()),
        }
    }
}

type Reply = Result<response::Kind, Failure>;

/// A node's clock: the system's, refusing peers further ahead than the
/// maximum offset.
pub fn system_clock() -> Hlc {
    Hlc::system(MAX_CLOCK_OFFSET)
}

mod commit;

pub use commit::{unanswered, Outcome, Outcomes};

impl<E: Engine> Service<E> {
    pub fn new(engine: Arc<E>, node_id: u64) -> Self {
        Self::with_clock(engine, node_id, Hlc::system(MAX_CLOCK_OFFSET))
    }

    /// A service on `hlc` (tests inject a clock).
    pub fn with_clock(engine: Arc<E>, node_id: u64, hlc: Hlc) -> Self {
        Self::with_shared_clock(engine, node_id, Arc::new(hlc))
    }

    /// A service on a clock shared with the node (its Raft loop).
    pub fn with_shared_clock(engine: Arc<E>, node_id: u64, hlc: Arc<Hlc>) -> Self {
        let catalog = Catalog::new(Arc::clone(&engine));
        // Commits before this start are not remembered: reads older than
        // now cannot be validated (their connections are gone anyway).
        let horizon = hlc.now();
        let recent = Mutex::new((engine.epoch(), RecentWrites::new(horizon, RECENT_WRITE_KEYS)));
        Service {
            recent,
            mvcc: Mvcc::new(Arc::clone(&engine)),
            engine,
            catalog,
            node_id,
            hlc,
            commits: commit::Commits::default(),
            locks: Mutex::new(LockTable::new()),
            released: tokio::sync::Notify::new(),
            next_connection: AtomicU64::new(1),
            pins: Mutex::new(HashMap::new()),
            garbage: Mutex::new(BTreeSet::new()),
            dropped: Mutex::new(Vec::new()),
            gc_horizon: Mutex::new(Timestamp::ZERO),
        }
    }

    /// Collects the versions no open transaction can read: below the
    /// oldest pinned timestamp (or now). Returns how many rows it visited.
    pub fn collect_garbage(&self) -> Result<usize, lyra_engine::TxnError> {
        let safe_ts = {
            let pins = lock(&self.pins);
            let now = self.fresh_ts();
            let safe = pins.values().copied().min().unwrap_or(now).min(now);
            // Raised while the pins are held, so no read can pin below it.
            *lock(&self.gc_horizon) = safe;
            safe
        };
        // Ranges dropped before this point took their keys out of the
        // queue already; those dropped while it runs are skipped below.
        lock(&self.dropped).clear();
        let keys: Vec<Vec<u8>> = std::mem::take(&mut *lock(&self.garbage)).into_iter().collect();
        let mut again = Vec::new();
        for chunk in keys.chunks(GC_BATCH_KEYS) {
            let dropped = lock(&self.dropped).clone();
            let chunk: Vec<Vec<u8>> = chunk.iter().filter(|k| !in_ranges(k, &dropped)).cloned().collect();
            again.extend(self.mvcc.gc_keys(&chunk, safe_ts)?);
        }
        lock(&self.garbage).extend(again);
        Ok(keys.len())
    }

    pub fn node_id(&self) -> u64 {
        self.node_id
    }

    /// The engine this service runs on.
    pub fn engine(&self) -> &E {
        &self.engine
    }

    /// Whether the connection is inside a transaction: it read at a
    /// pinned timestamp, holds row locks or staged writes.
    pub fn in_transaction(&self, conn: &Connection) -> bool {
        !conn.staged.is_empty() || lock(&self.pins).contains_key(&conn.id)
    }

    /// The log of recent writes, started over if the engine took a range
    /// over since it began (see [`Engine::epoch`]).
    fn recent_writes(&self) -> MutexGuard<'_, (u64, RecentWrites)> {
        let mut recent = lock(&self.recent);
        let epoch = self.engine.epoch();
        if recent.0 != epoch {
            *recent = (epoch, RecentWrites::new(self.hlc.now(), RECENT_WRITE_KEYS));
        }
        recent
    }

    /// State for a new connection.
    pub fn connect(&self) -> Connection {
        Connection { id: self.next_connection.fetch_add(1, Ordering::Relaxed), staged: Vec::new() }
    }

    /// The connection's transaction ended (or the connection is gone): its
    /// staged writes, locks and pin go.
    pub fn disconnect(&self, conn: &mut Connection) {
        conn.staged.clear();
        self.end_transaction(conn.id);
    }

    /// The transaction of connection `owner` is over: its locks and pin go.
    fn end_transaction(&self, owner: Owner) {
        if self.lock_table().release_all(owner) > 0 {
            self.released.notify_waiters();
        }
        lock(&self.pins).remove(&owner);
    }

    /// Keeps versions at `ts` (`None`: a fresh timestamp, returned) for the
    /// connection's transaction; refuses a timestamp below what garbage
    /// collection may already have removed. A fresh timestamp is taken
    /// under the pins' lock, so a collection cannot pass it unpinned.
    fn pin(&self, conn: &Connection, ts: Option<Timestamp>) -> Result<Timestamp, Failure> {
        let mut pins = lock(&self.pins);
        let ts = match ts {
            Some(ts) if ts < *lock(&self.gc_horizon) => {
                return Err(Failure(
                    ErrorCode::SerializationFailure,
                    format!("snapshot too old: {ts} is below the collected horizon"),
                ));
            }
            Some(ts) => ts,
            None => self.fresh_ts(),
        };
        let pin = pins.entry(conn.id).or_insert(ts);
        *pin = (*pin).min(ts);
        Ok(ts)
    }

    pub fn handle(&self, conn: &mut Connection, request: Request) -> Response {
        let kind = match request.kind {
            Some(kind) => kind,
            None => return error(ErrorCode::InvalidInput, "empty request".into()),
        };
        let result: Reply = match kind {
            request::Kind::Get(get) => self.get(conn, get),
            request::Kind::FreshReadTs(_) => {
                self.read_ts(conn, None).map(|ts| response::Kind::Value(Value { value: None, read_ts: Some(ts.into()) }))
            }
            request::Kind::GetEntries(get) => self.get_entries(conn, get),
            request::Kind::Scan(scan) => self.scan(conn, scan),
            request::Kind::AllocateTableId(_) => self.catalog.allocate_table_id().map(id).map_err(Failure::from),
            request::Kind::AllocateRowIds(a) => {
                self.catalog.allocate_row_ids(a.table, a.count).map(|row| id(row.0)).map_err(Failure::from)
            }
            request::Kind::RowIdHighWater(h) => self.catalog.row_id_high_water(h.table).map(id).map_err(Failure::from),
            request::Kind::StageWrites(stage) => {
                conn.staged.extend(stage.ops);
                Ok(done())
            }
            request::Kind::Commit(commit) => return self.commit_blocking(conn, commit),
            request::Kind::DiscardStaged(_) => {
                conn.staged.clear();
                Ok(done())
            }
            request::Kind::EndTxn(_) => {
                self.disconnect(conn);
                Ok(done())
            }
            request::Kind::ReleaseLocks(release) => self.release_locks(conn, release.subxact),
            request::Kind::MarkWritten(mark) => {
                self.mark_written(conn, mark);
                Ok(done())
            }
            request::Kind::ClusterStatus(_)
            | request::Kind::TransferLease(_)
            | request::Kind::ChangeReplicas(_)
            | request::Kind::SplitRange(_)
            | request::Kind::Decommission(_)
            | request::Kind::AddNode(_) => {
                Err(Failure(ErrorCode::InvalidInput, "cluster requests are for the node, not its storage service".into()))
            }
            request::Kind::LockRows(batch) => {
                let answers = batch
                    .rows
                    .into_iter()
                    .map(|mut lock| {
                        lock.wait = WaitPolicy::NoWait as i32;
                        self.lock_at_once(conn, &lock)
                    })
                    .collect();
                Ok(response::Kind::RowsLocked(crate::protocol::RowsLocked { answers }))
            }
            request::Kind::LockRow(lock) => return self.lock_at_once(conn, &lock),
        };
        respond(result)
    }

    /// [`try_lock`](Self::try_lock) answered now: a lock that would have
    /// to wait (the server parks those before they get here) is refused.
    fn lock_at_once(&self, conn: &Connection, lock: &LockRow) -> Response {
        match self.try_lock(conn, lock) {
            LockAttempt::Done(response) => response,
            LockAttempt::Blocked => {
                self.cancel_wait(conn);
                error(ErrorCode::WouldBlock, "the row is locked".into())
            }
        }
    }

    /// One attempt at a row lock. A `Block` request that cannot be granted
    /// leaves the connection waiting in the lock table (for deadlock
    /// detection) until it tries again, or [`cancel_wait`](Self::cancel_wait).
    pub fn try_lock(&self, conn: &Connection, request: &LockRow) -> LockAttempt {
        let Some(mode) = lock_mode(request.mode) else {
            return LockAttempt::Done(error(ErrorCode::InvalidInput, format!("unknown lock mode {}", request.mode)));
        };
        if !is_versioned(&request.key) {
            return LockAttempt::Done(error(ErrorCode::InvalidInput, "only table rows can be locked".into()));
        }
        if request.wait == WaitPolicy::Probe as i32 {
            return busy(self.lock_table().writer_tags(conn.id, &request.key));
        }
        if request.unless_present {
            // Whoever commits to the key holds its lock first: while no one
            // else holds it (the table's latch held, so no one can take it
            // meanwhile) its newest committed value is final. One being
            // deleted or changed is waited for below, as heap waits for an
            // in-progress deleter of a conflicting row.
            let mut table = self.lock_table();
            let free = table.held_mode(conn.id, &request.key).is_none()
                && table.blockers(conn.id, &request.key, mode).is_empty();
            let latest = if free { self.mvcc.latest(&request.key).map(Some) } else { Ok(None) };
            match latest {
                Ok(Some(Some(latest))) if latest.value.is_some() => {
                    let present = RowLocked {
                        latest_ts: Some(latest.commit_ts.into()),
                        value: latest.value,
                        skipped: true,
                        ..Default::default()
                    };
                    return LockAttempt::Done(respond(Ok(response::Kind::RowLocked(present))));
                }
                // Absent or deleted, and free: taken under the same latch
                // (granted, nothing blocks it), so what was just read is
                // still the newest version — no one commits to a key
                // without its lock — and answers the lock.
                Ok(Some(latest)) => {
                    let taker = Taker { subxact: request.subxact, tag: request.txn_tag, writes: request.writes };
                    if table.try_acquire(conn.id, &request.key, mode, taker) == Acquire::Granted {
                        drop(table);
                        return LockAttempt::Done(respond(self.locked_answer(conn, latest)));
                    }
                }
                Ok(None) => {}
                Err(e) => return LockAttempt::Done(respond(Err(e.into()))),
            }
        }
        let taker = Taker { subxact: request.subxact, tag: request.txn_tag, writes: request.writes };
        let outcome = if request.wait == WaitPolicy::NoWait as i32 {
            self.lock_table().try_acquire(conn.id, &request.key, mode, taker)
        } else {
            self.lock_table().acquire(conn.id, &request.key, mode, taker)
        };
        match outcome {
            Acquire::Granted => LockAttempt::Done(respond(self.locked_row(conn, &request.key))),
            Acquire::Deadlock => LockAttempt::Done(error(ErrorCode::Deadlock, "deadlock detected".into())),
            Acquire::Blocked { .. } if request.wait == WaitPolicy::NoWait as i32 => {
                self.cancel_wait(conn);
                busy(self.lock_table().blocking_tags(conn.id, &request.key, mode))
            }
            Acquire::Blocked { .. } => LockAttempt::Blocked,
        }
    }

    /// Locks the row `key` for the connection in `mode` if no one else
    /// holds it — a `LockRow` that does not wait: the lock a read by key
    /// takes along (`GetEntries::lock`). `Err`: held by others, whose
    /// transaction tags it names.
    fn lock_if_free(
        &self,
        conn: &Connection,
        key: &[u8],
        mode: i32,
        taker: Taker,
    ) -> Result<Result<RowLocked, Vec<u64>>, Failure> {
        let request = LockRow {
            key: key.to_vec(),
            mode,
            wait: WaitPolicy::NoWait as i32,
            timeout_ms: 0,
            txn_tag: taker.tag,
            subxact: taker.subxact,
            writes: taker.writes,
            unless_present: false,
        };
        match self.try_lock(conn, &request) {
            LockAttempt::Done(Response { kind: Some(response::Kind::RowLocked(locked)) }) => Ok(Ok(locked)),
            LockAttempt::Done(Response { kind: Some(response::Kind::Error(e)) }) => {
                Err(Failure(ErrorCode::try_from(e.code).unwrap_or(ErrorCode::Io), e.message))
            }
            LockAttempt::Done(Response { kind: Some(response::Kind::RowBusy(busy)) }) => Ok(Err(busy.holders)),
            // A request that does not wait is never left blocked.
            _ => Ok(Err(Vec::new())),
        }
    }

    /// The connection's subtransaction `subxact` rolled back: the locks
    /// it and those inside it took go (`LockTable::release_since`).
    fn release_locks(&self, conn: &Connection, subxact: u32) -> Reply {
        if self.lock_table().release_since(conn.id, subxact) > 0 {
            self.released.notify_waiters();
        }
        Ok(done())
    }

    /// The connection's transaction writes the row it holds locked.
    fn mark_written(&self, conn: &Connection, mark: crate::protocol::MarkWritten) {
        let mut table = self.lock_table();
        if let Some(mode) = table.held_mode(conn.id, &mark.key) {
            let taker = Taker { subxact: mark.subxact, tag: mark.txn_tag, writes: true };
            // Held already in `mode`: granted at once, nothing to wait for.
            table.acquire(conn.id, &mark.key, mode, taker);
        }
    }

    /// The connection stopped waiting for a lock.
    pub fn cancel_wait(&self, conn: &Connection) {
        self.lock_table().stop_waiting(conn.id);
    }

    /// Notified whenever row locks are released.
    pub fn lock_released(&self) -> &tokio::sync::Notify {
        &self.released
    }

    fn locked_row(&self, conn: &Connection, key: &[u8]) -> Reply {
        let latest = self.mvcc.latest(key)?;
        self.locked_answer(conn, latest)
    }

    /// The answer to a lock the connection now holds on a row whose newest
    /// version is `latest`.
    fn locked_answer(&self, conn: &Connection, latest: Option<lyra_engine::mvcc::Latest>) -> Reply {
        let lock_ts = self.pin(conn, None)?;
        let locked = match latest {
            Some(latest) => RowLocked {
                lock_ts: Some(lock_ts.into()),
                latest_ts: Some(latest.commit_ts.into()),
                value: latest.value,
                moved: latest.moved,
                skipped: false,
            },
            None => RowLocked { lock_ts: Some(lock_ts.into()), ..Default::default() },
        };
        Ok(response::Kind::RowLocked(locked))
    }

    fn lock_table(&self) -> MutexGuard<'_, LockTable> {
        lock(&self.locks)
    }

    /// A timestamp every commit below which is written, and below which no
    /// commit can land later: now, or just below the group being written
    /// (see [`commit`]). It never waits for a commit.
    fn fresh_ts(&self) -> Timestamp {
        let now = self.hlc.now();
        match self.commits.floor() {
            Some(floor) if floor <= now => floor.prev(),
            _ => now,
        }
    }

    /// The timestamp a read asked for, or a fresh one; pinned for the
    /// connection's transaction.
    fn read_ts(&self, conn: &Connection, asked: Option<Ts>) -> Result<Timestamp, Failure> {
        let asked = asked.map(Timestamp::from);
        if let Some(ts) = asked {
            // Later commits must land above a read at `ts`.
            self.hlc.update(ts)?;
        }
        self.pin(conn, asked)
    }

    fn get(&self, conn: &Connection, get: crate::protocol::Get) -> Reply {
        if !is_versioned(&get.key) {
            let value = self.engine.get(&get.key)?;
            return Ok(response::Kind::Value(Value { value, read_ts: None }));
        }
        let read_ts = self.read_ts(conn, get.read_ts)?;
        let value = self.mvcc.get(&get.key, read_ts)?;
        Ok(response::Kind::Value(Value { value, read_ts: Some(read_ts.into()) }))
    }

    /// Unique index entries and the rows they name, at one timestamp.
    fn get_entries(&self, conn: &Connection, get: crate::protocol::GetEntries) -> Reply {
        let not_an_entry = || Failure(ErrorCode::InvalidInput, "get_entries: a key is not a unique index entry".into());
        if !get.entries.iter().all(|e| matches!(Key::decode(e), Ok(Key::IndexEntry { .. }))) {
            return Err(not_an_entry());
        }
        let read_ts = self.read_ts(conn, get.read_ts)?;
        let mut entries = Vec::with_capacity(get.entries.len());
        for key in &get.entries {
            let value = self.mvcc.get(key, read_ts)?;
            // A unique index entry's value is its row's id (8 bytes).
            let mut entry = Entry { value, ..Default::default() };
            if let Some(id) = entry.value.as_deref() {
                let id: [u8; 8] = id.try_into().map_err(|_| not_an_entry())?;
                let row_key = Key::Row { table: get.table, row: RowId(u64::from_be_bytes(id)) }.encode();
                entry.row = self.mvcc.get(&row_key, read_ts)?;
                if let (Some(mode), Some(_)) = (get.lock, &entry.row) {
                    match self.lock_if_free(conn, &row_key, mode, Taker { subxact: get.subxact, tag: get.txn_tag, writes: get.lock_writes })? {
                        Ok(locked) => entry.locked = Some(locked),
                        Err(holders) => entry.busy = holders,
                    }
                }
            }
            entries.push(entry);
        }
        Ok(response::Kind::Entries(Entries { entries, read_ts: Some(read_ts.into()) }))
    }

    fn scan(&self, conn: &Connection, scan: crate::protocol::Scan) -> Reply {
        let max_rows = limit(scan.max_rows, DEFAULT_SCAN_ROWS, MAX_SCAN_ROWS);
        let max_bytes = limit(scan.max_bytes, DEFAULT_SCAN_BYTES, MAX_SCAN_BYTES);
        let filter: Vec<_> = scan
            .filter
            .iter()
            .map(|c| c.to_engine())
            .collect::<Option<_>>()
            .ok_or_else(|| Failure(ErrorCode::InvalidInput, "unknown kind or test in a scan filter".into()))?;
        // Rows filter themselves as they are visited; entries' rows once read.
        let filter_rows = !filter.is_empty() && scan.rows_of_table.is_none();
        // Pairs are copied once, into one buffer for the page; each KvPair
        // is a slice of it (no allocation per pair).
        let mut arena = BytesMut::new();
        let mut spans = Vec::new();
        let mut last_seen = Vec::new();
        // Rows a filter skips count against the page's bytes (the work of
        // looking at them), not its rows: a selective filter's page looks
        // at up to `max_bytes` of rows.
        let columns: Vec<usize> = scan.columns.iter().map(|&c| c as usize).collect();
        let project_rows = !columns.is_empty() && scan.rows_of_table.is_none();
        // A page of plain pairs goes packed (`Scanned::packed`): the arena
        // holds them with their lengths, and a span's key is still at its
        // offset (its value is not: only entries' spans, never packed,
        // are sliced into pairs).
        let pack = scan.rows_of_table.is_none();
        let mut keep = |k: &[u8], v: &[u8]| {
            if filter_rows && !row_filter::keeps(v, &filter) {
                last_seen.clear();
                last_seen.extend_from_slice(k);
                return false;
            }
            let projected;
            let v = if project_rows {
                projected = row::project(v, &columns);
                &projected[..]
            } else {
                v
            };
            let at = if pack {
                Scanned::pack(&mut arena, k, v)
            } else {
                let at = arena.len();
                arena.extend_from_slice(k);
                arena.extend_from_slice(v);
                at
            };
            spans.push((at, k.len(), v.len()));
            true
        };
        let named = !scan.only_keys.is_empty();
        let mut named_last = None;
        let (more, read_ts) = if named && is_versioned(&scan.start) && !scan.reverse {
            // Named rows: a point read each, not a walk of the span.
            let read_ts = self.read_ts(conn, scan.read_ts)?;
            let in_span = |k: &&Vec<u8>| k[..] >= scan.start[..] && (scan.end.is_empty() || k[..] < scan.end[..]);
            let mut keys = scan.only_keys.iter().filter(in_span).peekable();
            let mut sent = 0;
            while sent < max_rows {
                let Some(key) = keys.next() else { break };
                named_last = Some(key);
                if let Some(value) = self.mvcc.get(key, read_ts)? {
                    sent += usize::from(keep(key, &value));
                }
            }
            (keys.peek().is_some(), Some(read_ts))
        } else if named {
            return Err(Failure(ErrorCode::InvalidInput, "named keys are for versioned keys, forward".into()));
        } else if is_versioned(&scan.start) {
            let read_ts = self.read_ts(conn, scan.read_ts)?;
            let scan_fn = if scan.reverse { scan_visible_reverse } else { scan_visible };
            let end = scan_fn(&*self.engine, &scan.start, &scan.end, read_ts, max_rows, max_bytes, &mut keep)?;
            (end.more, Some(read_ts))
        } else if scan.reverse {
            return Err(Failure(ErrorCode::InvalidInput, "reverse scans are for versioned keys only".into()));
        } else if !filter.is_empty() {
            return Err(Failure(ErrorCode::InvalidInput, "filters are for versioned rows only".into()));
        } else {
            self.engine.scan_visit(&scan.start, &scan.end, max_rows, max_bytes, &mut |k, v| keep(k, v))?;
            // A limit may have stopped the scan exactly at the last key; the
            // client then asks once more and gets an empty, final page.
            (spans.len() >= max_rows || arena.len() >= max_bytes, None)
        };
        if let Some(key) = named_last {
            last_seen.clone_from(key);
        }
        let mut rows = match (scan.rows_of_table, read_ts) {
            (Some(table), Some(at)) => self.rows_of_entries(table, &arena, &spans, at)?,
            _ => Vec::new(),
        };
        if !filter.is_empty() && scan.rows_of_table.is_some() {
            // The last entry looked at is where the next page resumes.
            if let Some(&(at, k, _)) = spans.last() {
                last_seen = arena[at..at + k].to_vec();
            }
            (spans, rows) = spans
                .into_iter()
                .zip(rows)
                .filter(|(_, row)| row.as_deref().is_none_or(|r| row_filter::keeps(r, &filter)))
                .unzip();
        }
        if !columns.is_empty() && scan.rows_of_table.is_some() {
            for entry_row in rows.iter_mut().flatten() {
                *entry_row = row::project(entry_row, &columns);
            }
        }
        let resume = (!filter.is_empty() || named).then(|| bytes::Bytes::from(last_seen));
        let read_ts = read_ts.map(Into::into);
        let arena = arena.freeze();
        let last_key = spans.last().map(|&(at, k, _)| arena.slice(at..at + k));
        let (pairs, packed) = if pack {
            (Vec::new(), arena)
        } else {
            let mut rows = rows.into_iter().map(|row| row.map(bytes::Bytes::from));
            let pairs = spans
                .into_iter()
                .map(|(at, k, v)| KvPair {
                    key: arena.slice(at..at + k),
                    value: arena.slice(at + k..at + k + v),
                    row: rows.next().flatten(),
                })
                .collect();
            (pairs, bytes::Bytes::new())
        };
        // The resume key is the later of the last pair sent and the last
        // row skipped (both in scan order).
        let resume = resume.map(|skipped| match last_key {
            Some(last) if skipped.is_empty() || (last[..] > skipped[..]) != scan.reverse => last,
            _ => skipped,
        });
        let resume = resume.filter(|r| !r.is_empty());
        Ok(response::Kind::Scanned(Scanned { pairs, more, read_ts, resume, packed }))
    }

    /// The rows of `table` that the scanned index entries (`spans` of
    /// `arena`) name, read at `read_ts`, in the entries' order.
    fn rows_of_entries(
        &self,
        table: u64,
        arena: &[u8],
        spans: &[(usize, usize, usize)],
        read_ts: Timestamp,
    ) -> Result<Vec<Option<Vec<u8>>>, Failure> {
        let not_an_entry = || Failure(ErrorCode::InvalidInput, "rows_of_table: the range holds no index entries".into());
        spans
            .iter()
            .map(|&(at, k, v)| {
                let Ok(Key::IndexEntry { entry, .. }) = Key::decode(&arena[at..at + k]) else {
                    return Err(not_an_entry());
                };
                let row = memcmp::entry_row_id(&entry, &arena[at + k..at + k + v]).ok_or_else(not_an_entry)?;
                Ok(self.mvcc.get(&Key::Row { table, row }.encode(), read_ts)?)
            })
            .collect()
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn limit(asked: u32, default: u32, ceiling: u32) -> usize {
    (if asked == 0 { default } else { asked.min(ceiling) }) as usize
}

fn id(id: u64) -> response::Kind {
    response::Kind::Id(Id { id })
}

fn done() -> response::Kind {
    response::Kind::Done(Done {})
}

/// A `RowBusy` answer naming the tags of the lock takers in the way.
fn busy(holders: Vec<u64>) -> LockAttempt {
    LockAttempt::Done(Response { kind: Some(response::Kind::RowBusy(RowBusy { holders })) })
}

fn error(code: ErrorCode, message: String) -> Response {
    Response { kind: Some(response::Kind::Error(ErrorReply { code: code as i32, message })) }
}

/// The lock table's mode for a protocol `LockMode`.
fn lock_mode(mode: i32) -> Option<Mode> {
    match LockMode::try_from(mode) {
        Ok(LockMode::KeyShare) => Some(Mode::KeyShare),
        Ok(LockMode::Share) => Some(Mode::Share),
        Ok(LockMode::NoKeyUpdate) => Some(Mode::NoKeyUpdate),
        Ok(LockMode::Update) => Some(Mode::Update),
        Err(_) => None,
    }
}

/// Whether `key` is in one of `ranges` (`[start, end)`, an empty end
/// unbounded).
fn in_ranges(key: &[u8], ranges: &[(Vec<u8>, Vec<u8>)]) -> bool {
    ranges.iter().any(|(start, end)| key >= &start[..] && (end.is_empty() || key < &end[..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Commit, EndTxn, Get, GetEntries, ReleaseLocks, Scan, Span, StageWrites};
    use lyra_engine::keys::{Key, KeyPrefix, RowId};
    use lyra_engine::storage::Memory;
    use crate::node::test_engine::Gated;

    fn service() -> Service<Memory> {
        Service::new(Arc::new(Memory::new()), 1)
    }

    fn call<E: Engine>(service: &Service<E>, conn: &mut Connection, kind: request::Kind) -> response::Kind {
        // Pages unpacked, as the client unpacks them.
        match service.handle(conn, Request { kind: Some(kind) }).kind.expect("a response always has a kind") {
            response::Kind::Scanned(mut page) => {
                page.unpack().expect("a well-formed packed page");
                response::Kind::Scanned(page)
            }
            other => other,
        }
    }

    fn row(n: u64) -> Vec<u8> {
        Key::Row { table: 7, row: RowId(n) }.encode()
    }

    fn get_at<E: Engine>(service: &Service<E>, key: &[u8], read_ts: Option<Ts>) -> (Option<Vec<u8>>, Option<Ts>) {
        let get = Get { key: key.to_vec(), read_ts };
        match call(service, &mut service.connect(), request::Kind::Get(get)) {
            response::Kind::Value(v) => (v.value, v.read_ts),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn get<E: Engine>(service: &Service<E>, key: &[u8]) -> Option<Vec<u8>> {
        get_at(service, key, None).0
    }

    fn commit<E: Engine>(service: &Service<E>, conn: &mut Connection, commit: Commit) -> response::Kind {
        call(service, conn, request::Kind::Commit(commit))
    }

    fn put<E: Engine>(service: &Service<E>, key: Vec<u8>, value: &[u8]) {
        let ops = vec![Op::put(key, value.to_vec())];
        let reply = commit(service, &mut service.connect(), Commit { ops, ..Default::default() });
        assert!(matches!(reply, response::Kind::Committed(_)), "{reply:?}");
    }

    fn lock<E: Engine>(service: &Service<E>, conn: &mut Connection, key: Vec<u8>, mode: LockMode, wait: WaitPolicy) -> response::Kind {
        let lock = LockRow { key, mode: mode as i32, wait: wait as i32, timeout_ms: 0, txn_tag: 0, subxact: 1, ..Default::default() };
        call(service, conn, request::Kind::LockRow(lock))
    }

    fn error_code(reply: &response::Kind) -> Option<i32> {
        match reply {
            response::Kind::Error(e) => Some(e.code),
            _ => None,
        }
    }

    #[test]
    fn staged_writes_are_invisible_until_commit() {
        let service = service();
        let mut conn = service.connect();
        let stage = StageWrites { ops: vec![Op::put(row(1), b"1".to_vec())] };
        call(&service, &mut conn, request::Kind::StageWrites(stage));
        assert_eq!(get(&service, &row(1)), None);
        commit(&service, &mut conn, Commit { ops: vec![Op::put(row(2), b"2".to_vec())], ..Default::default() });
        assert_eq!(get(&service, &row(1)), Some(b"1".to_vec()));
        assert_eq!(get(&service, &row(2)), Some(b"2".to_vec()));
    }

    #[test]
    fn discarded_writes_never_apply() {
        let service = service();
        let mut conn = service.connect();
        let stage = StageWrites { ops: vec![Op::put(row(1), b"1".to_vec())] };
        call(&service, &mut conn, request::Kind::StageWrites(stage));
        call(&service, &mut conn, request::Kind::DiscardStaged(crate::protocol::DiscardStaged {}));
        commit(&service, &mut conn, Commit::default());
        assert_eq!(get(&service, &row(1)), None);
    }

    #[test]
    fn reads_at_an_old_snapshot_do_not_see_later_commits() {
        let service = service();
        put(&service, row(1), b"old");
        let (value, snapshot) = get_at(&service, &row(1), None);
        assert_eq!(value, Some(b"old".to_vec()));
        put(&service, row(1), b"new");
        put(&service, row(2), b"born");
        assert_eq!(get_at(&service, &row(1), snapshot).0, Some(b"old".to_vec()));
        assert_eq!(get_at(&service, &row(2), snapshot).0, None);
        assert_eq!(get(&service, &row(1)), Some(b"new".to_vec()));
        let (start, end) = KeyPrefix::Rows { table: 7 }.range();
        let scan = |read_ts| Scan { start: start.clone(), end: end.clone(), max_rows: 10, max_bytes: 0, read_ts, reverse: false, rows_of_table: None, filter: Vec::new(), columns: Vec::new(), only_keys: Vec::new() };
        let response::Kind::Scanned(old) = call(&service, &mut service.connect(), request::Kind::Scan(scan(snapshot))) else {
            panic!("not a scan page")
        };
        assert_eq!(old.pairs.len(), 1);
        assert_eq!(&old.pairs[0].value[..], b"old");
        let response::Kind::Scanned(now) = call(&service, &mut service.connect(), request::Kind::Scan(scan(None))) else {
            panic!("not a scan page")
        };
        assert_eq!(now.pairs.len(), 2);
        assert!(now.read_ts.expect("a fresh read says when") > snapshot.expect("so did the first"));
    }

    #[test]
    fn scan_pages_until_the_end() {
        let service = service();
        for i in 0..10 {
            put(&service, row(i), &[i as u8]);
        }
        let (mut start, end) = KeyPrefix::Rows { table: 7 }.range();
        let mut seen = Vec::new();
        loop {
            let scan = Scan { start: start.clone(), end: end.clone(), max_rows: 4, max_bytes: 0, read_ts: None, reverse: false, rows_of_table: None, filter: Vec::new(), columns: Vec::new(), only_keys: Vec::new() };
            let response::Kind::Scanned(page) = call(&service, &mut service.connect(), request::Kind::Scan(scan)) else {
                panic!("scan answered with something else")
            };
            if let Some(last) = page.pairs.last() {
                start = last.key.to_vec();
                start.push(0);
            }
            seen.extend(page.pairs.into_iter().map(|p| p.value[0]));
            if !page.more {
                break;
            }
        }
        assert_eq!(seen, (0u8..10).collect::<Vec<_>>());
    }

    #[test]
    fn concurrent_commits_all_land_with_distinct_timestamps() {
        let service = Arc::new(service());
        let threads: Vec<_> = (0..8u64)
            .map(|t| {
                let service = Arc::clone(&service);
                std::thread::spawn(move || {
                    (0..50u64)
                        .map(|i| {
                            let ops = vec![Op::put(row(t * 1000 + i), vec![t as u8, i as u8])];
                            match commit(&service, &mut service.connect(), Commit { ops, ..Default::default() }) {
                                response::Kind::Committed(c) => Timestamp::from(c.commit_ts.expect("a commit ts")),
                                other => panic!("commit failed: {other:?}"),
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all = Vec::new();
        for thread in threads {
            let stamps = thread.join().expect("no panic");
            assert!(stamps.windows(2).all(|w| w[0] < w[1]), "one backend's commits are ordered");
            all.extend(stamps);
        }
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 400, "every commit has its own timestamp");
        for t in 0..8u64 {
            for i in 0..50u64 {
                assert_eq!(get(&service, &row(t * 1000 + i)), Some(vec![t as u8, i as u8]));
            }
        }
    }

    /// A service on a [`Gated`] engine, and a committer on its own thread
    /// (returns the commit timestamp).
    fn gated() -> (Arc<Gated>, Arc<Service<Gated>>) {
        let engine = Arc::new(Gated::default());
        engine.allow(usize::MAX / 2);
        let service = Arc::new(Service::new(Arc::clone(&engine), 1));
        put(&service, row(1), b"old");
        engine.close();
        (engine, service)
    }

    fn commit_in_thread(service: &Arc<Service<Gated>>, key: Vec<u8>, value: &[u8]) -> std::sync::mpsc::Receiver<Timestamp> {
        let (done, answer) = std::sync::mpsc::channel();
        let service = Arc::clone(service);
        let ops = vec![Op::put(key, value.to_vec())];
        std::thread::spawn(move || match commit(&service, &mut service.connect(), Commit { ops, ..Default::default() }) {
            response::Kind::Committed(c) => done.send(Timestamp::from(c.commit_ts.expect("a commit ts"))).unwrap(),
            other => panic!("commit failed: {other:?}"),
        });
        answer
    }

    const PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

    #[test]
    fn a_fresh_read_does_not_wait_for_a_commit_being_written() {
        let (engine, service) = gated();
        let writer = commit_in_thread(&service, row(1), b"new");
        engine.await_writer_after(0);
        let (read, answer) = std::sync::mpsc::channel();
        let reader = Arc::clone(&service);
        std::thread::spawn(move || read.send(get_at(&reader, &row(1), None)).unwrap());
        let (value, read_ts) = answer.recv_timeout(PATIENCE).expect("the read waited for the commit being written");
        assert_eq!(value, Some(b"old".to_vec()));
        engine.allow(1);
        let commit_ts = writer.recv_timeout(PATIENCE).expect("the commit finishes");
        assert!(Timestamp::from(read_ts.expect("a read ts")) < commit_ts, "the read is below the commit in flight");
        // Nothing landed below the read after it: its snapshot holds.
        assert_eq!(get_at(&service, &row(1), read_ts).0, Some(b"old".to_vec()));
        let (value, after) = get_at(&service, &row(1), None);
        assert_eq!(value, Some(b"new".to_vec()));
        assert!(Timestamp::from(after.expect("a read ts")) >= commit_ts);
    }

    #[test]
    fn a_group_is_visible_and_answered_once_written_not_after_the_next() {
        let (engine, service) = gated();
        // A first group holds the leadership while three commits queue:
        // the first two form one group, the third (same key as the first)
        // the next.
        let first = commit_in_thread(&service, row(9), b"0");
        engine.await_writer_after(0);
        let mut waiting = Vec::new();
        for (n, (key, value)) in [(row(2), b"x"), (row(3), b"x"), (row(2), b"y")].into_iter().enumerate() {
            waiting.push(commit_in_thread(&service, key, value));
            while service.commits.queued() <= n {
                std::thread::yield_now();
            }
        }
        engine.allow(1);
        first.recv_timeout(PATIENCE).expect("the first group is written");
        engine.await_writer_after(1);
        engine.allow(1);
        engine.await_writer_after(2);
        // The second group is written, the third waits at the gate: a fresh
        // read sees the second (whose commits may have released their row
        // locks), and of its two commits the one not leading returns now.
        assert_eq!(get(&service, &row(2)), Some(b"x".to_vec()));
        assert_eq!(get(&service, &row(3)), Some(b"x".to_vec()));
        let since = std::time::Instant::now();
        while !waiting[..2].iter().any(|w| w.try_recv().is_ok()) {
            assert!(since.elapsed() < PATIENCE, "a commit waited for a later group than its own");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(waiting[2].try_recv().is_err(), "the third group is not written yet");
        engine.allow(1);
        waiting[2].recv_timeout(PATIENCE).expect("the third group is written");
        assert_eq!(get(&service, &row(2)), Some(b"y".to_vec()));
    }

    /// A unique index entry of table 7's index 8.
    fn entry(key: &[u8]) -> Vec<u8> {
        Key::IndexEntry { table: 7, index: 8, entry: key.to_vec() }.encode()
    }

    /// Rows of table 7 and their unique entries: (entry key, row id, row).
    fn put_indexed_rows<const N: usize>(service: &Service<Memory>, rows: [(&[u8; 2], u64, &[u8]); N]) {
        for (key, id, value) in rows {
            put(service, row(id), value);
            put(service, entry(key), &id.to_be_bytes());
        }
    }

    #[test]
    fn index_entries_and_their_rows_in_one_read() {
        let service = service();
        put_indexed_rows(&service, [(b"k1", 3, b"row three"), (b"k4", 4, b"row four")]);
        let get = |entries: Vec<Vec<u8>>| request::Kind::GetEntries(GetEntries { entries, table: 7, ..Default::default() });
        let asked = vec![entry(b"k4"), entry(b"k2"), entry(b"k1")];
        let response::Kind::Entries(found) = call(&service, &mut service.connect(), get(asked)) else {
            panic!("not entries")
        };
        let got: Vec<_> = found.entries.iter().map(|e| (e.value.clone(), e.row.clone())).collect();
        let id = |n: u64| Some(n.to_be_bytes().to_vec());
        assert_eq!(got, vec![(id(4), Some(b"row four".to_vec())), (None, None), (id(3), Some(b"row three".to_vec()))]);
        assert!(found.read_ts.is_some());
        // A key that is no index entry is refused, not misread.
        let response::Kind::Error(e) = call(&service, &mut service.connect(), get(vec![entry(b"k1"), row(3)])) else {
            panic!("a row is no index entry")
        };
        assert_eq!(e.code, ErrorCode::InvalidInput as i32);
    }

    #[test]
    fn a_read_by_key_for_an_update_locks_the_rows_no_one_else_holds() {
        let service = service();
        put_indexed_rows(&service, [(b"k3", 3, b"row three"), (b"k4", 4, b"row four")]);
        let (mut writer, mut other) = (service.connect(), service.connect());
        // Someone else holds row 4.
        const OTHER_TAG: u64 = 77;
        let hold = LockRow { key: row(4), mode: LockMode::Share as i32, wait: WaitPolicy::NoWait as i32, timeout_ms: 0, txn_tag: OTHER_TAG, subxact: 1, ..Default::default() };
        assert!(matches!(call(&service, &mut other, request::Kind::LockRow(hold)), response::Kind::RowLocked(_)));
        let get = GetEntries {
            entries: vec![entry(b"k3"), entry(b"k4"), entry(b"k9")],
            table: 7,
            lock: Some(LockMode::NoKeyUpdate as i32),
            ..Default::default()
        };
        let response::Kind::Entries(found) = call(&service, &mut writer, request::Kind::GetEntries(get)) else {
            panic!("not entries")
        };
        let locked: Vec<_> = found.entries.iter().map(|e| e.locked.as_ref().map(|l| l.value.clone())).collect();
        // Row 3 locked, with its newest version; row 4 read but left to the
        // usual lock (it would have to wait); no row, no lock.
        assert_eq!(locked, vec![Some(Some(b"row three".to_vec())), None, None]);
        assert_eq!(found.entries[1].row.as_deref(), Some(&b"row four"[..]));
        // Row 4's answer names its holder, for the reader to wait on.
        let busy: Vec<_> = found.entries.iter().map(|e| e.busy.clone()).collect();
        assert_eq!(busy, vec![vec![], vec![OTHER_TAG], vec![]]);
        // The lock is real: another transaction cannot take row 3 now...
        assert!(matches!(lock(&service, &mut other, row(3), LockMode::Share, WaitPolicy::NoWait), response::Kind::RowBusy(_)));
        // ...and the reader is not left waiting behind row 4's holder.
        call(&service, &mut other, request::Kind::EndTxn(EndTxn::default()));
        assert!(matches!(lock(&service, &mut writer, row(4), LockMode::Update, WaitPolicy::NoWait), response::Kind::RowLocked(_)));
        call(&service, &mut writer, request::Kind::EndTxn(EndTxn::default()));
        assert!(matches!(lock(&service, &mut other, row(3), LockMode::Update, WaitPolicy::NoWait), response::Kind::RowLocked(_)));
    }

    #[test]
    fn an_index_range_and_its_rows_in_one_scan() {
        let service = service();
        // A unique entry maps to its row id; a non-unique one ends with it.
        let unique = entry(b"a");
        let plain = entry(&[&b"b"[..], &4u64.to_be_bytes()].concat());
        let dangling = entry(b"c");
        put(&service, row(3), b"row three");
        put(&service, row(4), b"row four");
        put(&service, unique, &3u64.to_be_bytes());
        put(&service, plain, b"");
        put(&service, dangling, &9u64.to_be_bytes());
        let (start, end) = KeyPrefix::Index { table: 7, index: 8 }.range();
        let scan = Scan { start, end, max_rows: 10, max_bytes: 0, read_ts: None, reverse: false, rows_of_table: Some(7), filter: Vec::new(), columns: Vec::new(), only_keys: Vec::new() };
        let response::Kind::Scanned(page) = call(&service, &mut service.connect(), request::Kind::Scan(scan)) else {
            panic!("scan answered with something else")
        };
        let rows: Vec<_> = page.pairs.iter().map(|p| p.row.as_deref()).collect();
        assert_eq!(rows, vec![Some(&b"row three"[..]), Some(&b"row four"[..]), None]);
        // Rows of a range that holds no entries are refused, not misread.
        let (start, end) = KeyPrefix::Rows { table: 7 }.range();
        let scan = Scan { start, end, max_rows: 10, max_bytes: 0, read_ts: None, reverse: false, rows_of_table: Some(7), filter: Vec::new(), columns: Vec::new(), only_keys: Vec::new() };
        let response::Kind::Error(e) = call(&service, &mut service.connect(), request::Kind::Scan(scan)) else {
            panic!("rows are no index entries")
        };
        assert_eq!(e.code, ErrorCode::InvalidInput as i32);
    }

    /// Rows encoded as the backend encodes one int4 column.
    fn int_row(v: i32) -> Vec<u8> {
        lyra_engine::row::encode_row(0, &[Some(&v.to_le_bytes()[..])])
    }

    fn greater_than(v: i64) -> Vec<crate::protocol::RowCondition> {
        use crate::protocol::{RowCondition, ValueKind, ValueTest};
        vec![RowCondition { column: 0, kind: ValueKind::Int as i32, test: ValueTest::Gt as i32, value: v.to_le_bytes().to_vec() }]
    }

    #[test]
    fn a_filtered_scan_sends_only_matching_rows_and_resumes_past_skipped_ones() {
        let service = service();
        for i in 0..20 {
            put(&service, row(i), &int_row(i as i32));
        }
        for reverse in [false, true] {
            let (start, end) = KeyPrefix::Rows { table: 7 }.range();
            let (mut start, mut end) = (start, end);
            let mut seen = Vec::new();
            let mut pages = 0;
            loop {
                // 3 rows or 60 bytes (about 4 rows looked at) a page
            let scan = Scan { start: start.clone(), end: end.clone(), max_rows: 3, max_bytes: 60, read_ts: None, reverse, rows_of_table: None, filter: greater_than(14), columns: Vec::new(), only_keys: Vec::new() };
                let response::Kind::Scanned(page) = call(&service, &mut service.connect(), request::Kind::Scan(scan)) else {
                    panic!("scan answered with something else")
                };
                pages += 1;
                // pages of only skipped rows still move the scan on
                let resume = page.resume.clone().expect("a filtered page says where to resume").to_vec();
                if reverse {
                    end = resume;
                } else {
                    start = resume;
                    start.push(0);
                }
                seen.extend(page.pairs.iter().map(|p| {
                    let view = lyra_engine::row::RowView::decode(&p.value).expect("a row");
                    i32::from_le_bytes(view.column(0).expect("a value").try_into().expect("4 bytes"))
                }));
                if !page.more {
                    break;
                }
            }
            let mut expected: Vec<i32> = (15..20).collect();
            if reverse {
                expected.reverse();
            }
            assert_eq!(seen, expected, "reverse: {reverse}");
            assert!(pages >= 5, "20 rows, about 4 looked at a page: {pages} pages");
        }
    }

    #[test]
    fn a_scan_of_named_keys_sends_only_them_and_says_where_to_resume() {
        let service = service();
        for i in 0..10 {
            put(&service, row(i), &int_row(i as i32));
        }
        let (start, end) = KeyPrefix::Rows { table: 7 }.range();
        let only_keys = vec![row(2), row(3), row(7), row(12)]; // no row 12
        // two rows a page: the first page stops after row 3
        let scan = Scan { start, end: end.clone(), max_rows: 2, max_bytes: 0, read_ts: None, reverse: false, rows_of_table: None, filter: Vec::new(), columns: Vec::new(), only_keys: only_keys.clone() };
        let response::Kind::Scanned(page) = call(&service, &mut service.connect(), request::Kind::Scan(scan)) else {
            panic!("scan answered with something else")
        };
        let keys: Vec<Vec<u8>> = page.pairs.iter().map(|p| p.key.to_vec()).collect();
        assert_eq!(keys, vec![row(2), row(3)]);
        assert!(page.more);
        let mut start = page.resume.expect("a page of named keys says where to resume").to_vec();
        start.push(0);
        let scan = Scan { start, end, max_rows: 2, max_bytes: 0, read_ts: None, reverse: false, rows_of_table: None, filter: Vec::new(), columns: Vec::new(), only_keys };
        let response::Kind::Scanned(page) = call(&service, &mut service.connect(), request::Kind::Scan(scan)) else {
            panic!("scan answered with something else")
        };
        let keys: Vec<Vec<u8>> = page.pairs.iter().map(|p| p.key.to_vec()).collect();
        assert_eq!(keys, vec![row(7)]);
        assert!(!page.more);
    }

    #[test]
    fn a_projected_scan_sends_only_the_columns_asked_for() {
        let service = service();
        let wide = |i: u8| lyra_engine::row::encode_row(0, &[Some(&[i][..]), Some(&[0xaa; 100][..]), Some(&[i, i][..])]);
        for i in 0..3u8 {
            put(&service, row(u64::from(i)), &wide(i));
        }
        let (start, end) = KeyPrefix::Rows { table: 7 }.range();
        let scan = Scan { start, end, max_rows: 10, max_bytes: 0, read_ts: None, reverse: false, rows_of_table: None, filter: Vec::new(), columns: vec![0, 2], only_keys: Vec::new() };
        let response::Kind::Scanned(page) = call(&service, &mut service.connect(), request::Kind::Scan(scan)) else {
            panic!("scan answered with something else")
        };
        for (i, pair) in page.pairs.iter().enumerate() {
            let expected = lyra_engine::row::encode_row(0, &[Some(&[i as u8][..]), None, Some(&[i as u8, i as u8][..])]);
            assert_eq!(&pair.value[..], &expected[..]);
        }
        assert_eq!(page.pairs.len(), 3);
    }

    #[test]
    fn a_filtered_index_scan_drops_entries_whose_rows_fail() {
        let service = service();
        for i in 0..6u64 {
            put(&service, row(i), &int_row(i as i32 * 10));
            put(&service, entry(&[&[b'k', i as u8][..], &i.to_be_bytes()].concat()), b"");
        }
        let (start, end) = KeyPrefix::Index { table: 7, index: 8 }.range();
        let scan = Scan { start, end, max_rows: 10, max_bytes: 0, read_ts: None, reverse: false, rows_of_table: Some(7), filter: greater_than(25), columns: Vec::new(), only_keys: Vec::new() };
        let response::Kind::Scanned(page) = call(&service, &mut service.connect(), request::Kind::Scan(scan)) else {
            panic!("scan answered with something else")
        };
        let rows: Vec<Vec<u8>> = page.pairs.iter().map(|p| p.row.clone().expect("a row").to_vec()).collect();
        assert_eq!(rows, vec![int_row(30), int_row(40), int_row(50)]);
        let last_entry = entry(&[&[b'k', 5][..], &5u64.to_be_bytes()].concat());
        assert_eq!(page.resume.as_deref(), Some(&last_entry[..]));
    }

    #[test]
    fn reverse_scan_pages_from_the_end_and_skips_deleted_rows() {
        let service = service();
        for i in 0..10 {
            put(&service, row(i), &[i as u8]);
        }
        commit(&service, &mut service.connect(), Commit { ops: vec![Op::delete(row(4))], ..Default::default() });
        let (start, mut end) = KeyPrefix::Rows { table: 7 }.range();
        let mut seen = Vec::new();
        loop {
            let scan = Scan { start: start.clone(), end: end.clone(), max_rows: 3, max_bytes: 0, read_ts: None, reverse: true, rows_of_table: None, filter: Vec::new(), columns: Vec::new(), only_keys: Vec::new() };
            let response::Kind::Scanned(page) = call(&service, &mut service.connect(), request::Kind::Scan(scan)) else {
                panic!("scan answered with something else")
            };
            if let Some(last) = page.pairs.last() {
                end = last.key.to_vec();
            }
            seen.extend(page.pairs.into_iter().map(|p| p.value[0]));
            if !page.more {
                break;
            }
        }
        assert_eq!(seen, vec![9, 8, 7, 6, 5, 3, 2, 1, 0]);
    }

    /// A probe names the holders that write the row — a lock taken to
    /// write, or one held to lock and then marked written — and not those
    /// that only lock it, even `FOR UPDATE`; it takes nothing.
    #[test]
    fn a_probe_names_the_writers_holding_a_row_and_takes_nothing() {
        let service = service();
        put(&service, row(1), b"v1");
        let (mut writer, mut sharer, mut prober) = (service.connect(), service.connect(), service.connect());
        let request = |mode: LockMode, wait: WaitPolicy, txn_tag, writes| LockRow {
            key: row(1),
            mode: mode as i32,
            wait: wait as i32,
            timeout_ms: 0,
            txn_tag,
            subxact: 1,
            writes,
            ..Default::default()
        };
        let probe = || request::Kind::LockRow(request(LockMode::Share, WaitPolicy::Probe, 0, false));
        let holders = |reply| match reply {
            response::Kind::RowBusy(busy) => busy.holders,
            other => panic!("a probe answered {other:?}"),
        };
        assert_eq!(holders(call(&service, &mut prober, probe())), Vec::<u64>::new());
        // a key-share locker (a foreign key's check) is no writer
        let key_share = request(LockMode::KeyShare, WaitPolicy::NoWait, 5, false);
        assert!(matches!(call(&service, &mut sharer, request::Kind::LockRow(key_share)), response::Kind::RowLocked(_)));
        assert_eq!(holders(call(&service, &mut prober, probe())), Vec::<u64>::new());
        let update = request(LockMode::NoKeyUpdate, WaitPolicy::NoWait, 42, true);
        assert!(matches!(call(&service, &mut writer, request::Kind::LockRow(update)), response::Kind::RowLocked(_)));
        assert_eq!(holders(call(&service, &mut prober, probe())), vec![42]);
        // the probes took no lock: once the writer is done, anyone may lock
        call(&service, &mut writer, request::Kind::EndTxn(EndTxn::default()));
        call(&service, &mut sharer, request::Kind::EndTxn(EndTxn::default()));
        let mut next = service.connect();
        let for_update = request(LockMode::Update, WaitPolicy::NoWait, 43, false);
        assert!(matches!(call(&service, &mut next, request::Kind::LockRow(for_update)), response::Kind::RowLocked(_)));
        // FOR UPDATE is no writer, until the row it locked is written
        assert_eq!(holders(call(&service, &mut prober, probe())), Vec::<u64>::new());
        let mark = crate::protocol::MarkWritten { key: row(1), txn_tag: 44, subxact: 2 };
        call(&service, &mut next, request::Kind::MarkWritten(mark));
        assert_eq!(holders(call(&service, &mut prober, probe())), vec![44]);
        // the mark goes with its subtransaction
        call(&service, &mut next, request::Kind::ReleaseLocks(crate::protocol::ReleaseLocks { subxact: 2 }));
        assert_eq!(holders(call(&service, &mut prober, probe())), Vec::<u64>::new());
        // a mark on a row the connection does not hold does nothing
        let mark = crate::protocol::MarkWritten { key: row(1), txn_tag: 45, subxact: 1 };
        call(&service, &mut prober, request::Kind::MarkWritten(mark));
        assert_eq!(holders(call(&service, &mut sharer, probe())), Vec::<u64>::new());
    }

    /// `unless_present` locks an absent key and answers a present one
    /// without taking anything — unless the connection holds it already,
    /// or another does (then it is busy, as for any lock).
    #[test]
    fn a_lock_unless_present_takes_nothing_for_a_committed_value() {
        let service = service();
        put(&service, row(1), b"v1");
        let (mut a, mut b) = (service.connect(), service.connect());
        let claim = |key| {
            request::Kind::LockRow(LockRow {
                key,
                mode: LockMode::Update as i32,
                wait: WaitPolicy::NoWait as i32,
                subxact: 1,
                unless_present: true,
                ..Default::default()
            })
        };
        let response::Kind::RowLocked(present) = call(&service, &mut a, claim(row(1))) else { panic!("not answered") };
        assert!(present.skipped && present.lock_ts.is_none());
        assert_eq!(present.value.as_deref(), Some(&b"v1"[..]));
        // nothing was taken: b locks it
        let response::Kind::RowLocked(locked) = call(&service, &mut b, claim(row(2))) else { panic!("not answered") };
        assert!(!locked.skipped && locked.lock_ts.is_some() && locked.value.is_none());
        let for_update = |key| {
            request::Kind::LockRow(LockRow { key, mode: LockMode::Update as i32, wait: WaitPolicy::NoWait as i32, ..Default::default() })
        };
        let response::Kind::RowLocked(_) = call(&service, &mut b, for_update(row(1))) else { panic!("a's claim held row 1") };
        // present, but held by another (a deleter, say): waited for, as usual
        assert!(matches!(call(&service, &mut a, claim(row(1))), response::Kind::RowBusy(_)));
        // the absent key b claimed is b's: a is told so
        assert!(matches!(call(&service, &mut a, claim(row(2))), response::Kind::RowBusy(_)));
        // a key held already is locked as usual, present or not
        let response::Kind::RowLocked(again) = call(&service, &mut b, claim(row(1))) else { panic!("not answered") };
        assert!(!again.skipped && again.lock_ts.is_some());
    }

    /// `LockRows` answers each lock as a `NoWait` `LockRow` would, in
    /// order, in one round trip: a free key locked, a present one skipped
    /// (a claim), a held one busy with its holder — even when asked to
    /// wait — and a bad one an error in its place.
    #[test]
    fn lock_rows_answers_each_lock_without_waiting() {
        let service = service();
        put(&service, row(1), b"v1");
        let (mut a, mut b) = (service.connect(), service.connect());
        let lock = |key, wait: WaitPolicy, txn_tag| LockRow {
            key,
            mode: LockMode::Update as i32,
            wait: wait as i32,
            txn_tag,
            subxact: 1,
            unless_present: true,
            ..Default::default()
        };
        let response::Kind::RowLocked(_) = call(&service, &mut b, request::Kind::LockRow(lock(row(3), WaitPolicy::NoWait, 7)))
        else {
            panic!("b's lock not granted")
        };
        let batch = vec![
            lock(row(2), WaitPolicy::NoWait, 5),
            lock(row(1), WaitPolicy::NoWait, 5),
            lock(row(3), WaitPolicy::Block, 5),
            lock(b"m-not-a-row".to_vec(), WaitPolicy::NoWait, 5),
        ];
        let response::Kind::RowsLocked(locked) = call(&service, &mut a, request::Kind::LockRows(crate::protocol::LockRows { rows: batch }))
        else {
            panic!("not answered")
        };
        let kinds: Vec<_> = locked.answers.into_iter().map(|r| r.kind.expect("an answer")).collect();
        assert!(matches!(&kinds[0], response::Kind::RowLocked(l) if !l.skipped && l.lock_ts.is_some() && l.value.is_none()));
        assert!(matches!(&kinds[1], response::Kind::RowLocked(l) if l.skipped && l.value.as_deref() == Some(&b"v1"[..])));
        assert!(matches!(&kinds[2], response::Kind::RowBusy(busy) if busy.holders == [7]));
        assert!(matches!(&kinds[3], response::Kind::Error(_)));
        assert_eq!(kinds.len(), 4);
        // a holds what it was granted: b is told so
        assert!(matches!(call(&service, &mut b, request::Kind::LockRow(lock(row(2), WaitPolicy::NoWait, 7))), response::Kind::RowBusy(_)));
    }

    /// `ReleaseLocks` undoes what a rolled-back subtransaction took: its
    /// lock goes (a waiter is told the subtransaction's tag, then gets the
    /// row), its upgrade returns to the mode held before; locks from
    /// before it stay.
    #[test]
    fn a_rolled_back_subtransaction_releases_its_row_locks() {
        let service = service();
        put(&service, row(1), b"v1");
        put(&service, row(2), b"v2");
        let (mut owner, mut other) = (service.connect(), service.connect());
        let request = |key, mode: LockMode, txn_tag, subxact| {
            request::Kind::LockRow(LockRow { key, mode: mode as i32, wait: WaitPolicy::NoWait as i32, timeout_ms: 0, txn_tag, subxact, ..Default::default() })
        };
        let granted = |reply| matches!(reply, response::Kind::RowLocked(_));
        let busy = |reply| match reply {
            response::Kind::RowBusy(busy) => busy.holders,
            other => panic!("not busy: {other:?}"),
        };
        assert!(granted(call(&service, &mut owner, request(row(1), LockMode::Share, 10, 1))));
        // Subtransaction 2 (xid 11) upgrades row 1 and locks row 2.
        assert!(granted(call(&service, &mut owner, request(row(1), LockMode::Update, 11, 2))));
        assert!(granted(call(&service, &mut owner, request(row(2), LockMode::NoKeyUpdate, 11, 2))));
        assert_eq!(busy(call(&service, &mut other, request(row(1), LockMode::KeyShare, 20, 1))), vec![11]);
        assert_eq!(busy(call(&service, &mut other, request(row(2), LockMode::Share, 20, 1))), vec![11]);
        let release = request::Kind::ReleaseLocks(ReleaseLocks { subxact: 2 });
        assert!(matches!(call(&service, &mut owner, release), response::Kind::Done(_)));
        assert!(granted(call(&service, &mut other, request(row(2), LockMode::Share, 20, 1))));
        assert!(granted(call(&service, &mut other, request(row(1), LockMode::KeyShare, 20, 1))));
        // The top level's share lock stays, and names the top level.
        assert_eq!(busy(call(&service, &mut other, request(row(1), LockMode::Update, 20, 1))), vec![10]);
    }

    #[test]
    fn a_lock_on_a_row_that_moved_away_says_so() {
        let service = service();
        put(&service, row(1), b"v1");
        put(&service, row(2), b"v2");
        let ops = vec![Op::moved(row(1)), Op::delete(row(2))];
        assert!(matches!(commit(&service, &mut service.connect(), Commit { ops, ..Default::default() }), response::Kind::Committed(_)));
        for (key, moved) in [(row(1), true), (row(2), false)] {
            let response::Kind::RowLocked(locked) = lock(&service, &mut service.connect(), key, LockMode::Update, WaitPolicy::NoWait) else {
                panic!("the lock was not granted")
            };
            assert_eq!((locked.value, locked.moved), (None, moved));
        }
        // to a read, the moved row is gone like the deleted one
        assert_eq!(get_at(&service, &row(1), None).0, None);
    }

    #[test]
    fn a_write_over_a_row_changed_since_it_was_seen_fails() {
        let service = service();
        put(&service, row(1), b"v1");
        let (_, seen) = get_at(&service, &row(1), None);
        put(&service, row(1), b"v2");
        let ops = vec![Op::put(row(1), b"lost update".to_vec()).seen_at(seen)];
        let reply = commit(&service, &mut service.connect(), Commit { ops, ..Default::default() });
        assert_eq!(error_code(&reply), Some(ErrorCode::SerializationFailure as i32));
        assert_eq!(get(&service, &row(1)), Some(b"v2".to_vec()));
    }

    #[test]
    fn row_locks_conflict_and_are_released_at_commit_or_end() {
        let service = service();
        put(&service, row(1), b"v1");
        let (mut a, mut b) = (service.connect(), service.connect());
        let granted = lock(&service, &mut a, row(1), LockMode::NoKeyUpdate, WaitPolicy::Block);
        let response::Kind::RowLocked(locked) = granted else { panic!("not granted: {granted:?}") };
        assert_eq!(locked.value, Some(b"v1".to_vec()));
        assert!(locked.lock_ts > locked.latest_ts);
        // KEY SHARE is compatible with NO KEY UPDATE; SHARE is not.
        assert!(matches!(lock(&service, &mut b, row(1), LockMode::KeyShare, WaitPolicy::NoWait), response::Kind::RowLocked(_)));
        let blocked = lock(&service, &mut b, row(1), LockMode::Share, WaitPolicy::NoWait);
        assert!(matches!(blocked, response::Kind::RowBusy(_)), "{blocked:?}");
        let ops = vec![Op::put(row(1), b"v2".to_vec()).seen_at(locked.lock_ts)];
        assert!(matches!(commit(&service, &mut a, Commit { ops, ..Default::default() }), response::Kind::Committed(_)));
        let response::Kind::RowLocked(relocked) = lock(&service, &mut b, row(1), LockMode::Share, WaitPolicy::NoWait) else {
            panic!("a's commit released its lock")
        };
        assert_eq!(relocked.value, Some(b"v2".to_vec()));
        call(&service, &mut b, request::Kind::EndTxn(EndTxn { quiet: false }));
        assert!(matches!(lock(&service, &mut a, row(1), LockMode::Update, WaitPolicy::NoWait), response::Kind::RowLocked(_)));
        service.disconnect(&mut a);
        assert!(matches!(lock(&service, &mut b, row(1), LockMode::Update, WaitPolicy::NoWait), response::Kind::RowLocked(_)));
    }

    #[test]
    fn a_blocked_request_that_would_deadlock_is_refused() {
        let service = service();
        let (mut a, mut b) = (service.connect(), service.connect());
        lock(&service, &mut a, row(1), LockMode::Update, WaitPolicy::Block);
        lock(&service, &mut b, row(2), LockMode::Update, WaitPolicy::Block);
        let wait = |key| LockRow { key, mode: LockMode::Update as i32, wait: WaitPolicy::Block as i32, timeout_ms: 0, txn_tag: 0, subxact: 1, ..Default::default() };
        assert!(matches!(service.try_lock(&a, &wait(row(2))), LockAttempt::Blocked));
        let LockAttempt::Done(reply) = service.try_lock(&b, &wait(row(1))) else { panic!("b must not wait") };
        assert_eq!(error_code(&reply.kind.expect("a kind")), Some(ErrorCode::Deadlock as i32));
    }

    #[test]
    fn serializable_commits_fail_when_what_they_read_changed() {
        let service = service();
        put(&service, row(1), b"on call");
        put(&service, row(2), b"on call");
        // Both read both rows at one snapshot, each takes one off call.
        let (_, snapshot) = get_at(&service, &row(1), None);
        let (start, end) = KeyPrefix::Rows { table: 7 }.range();
        let spans = vec![Span { start, end }];
        let txn = |key| Commit {
            ops: vec![Op::put(key, b"off".to_vec()).seen_at(snapshot)],
            start_ts: snapshot,
            read_ts: snapshot,
            read_spans: spans.clone(),
        };
        assert!(matches!(commit(&service, &mut service.connect(), txn(row(1))), response::Kind::Committed(_)));
        let reply = commit(&service, &mut service.connect(), txn(row(2)));
        assert_eq!(error_code(&reply), Some(ErrorCode::SerializationFailure as i32));
        assert_eq!(get(&service, &row(2)), Some(b"on call".to_vec()));
    }

    #[test]
    fn serializable_reads_older_than_the_recent_log_are_checked_in_storage() {
        let engine = Arc::new(Memory::new());
        let before = Service::new(Arc::clone(&engine), 1);
        put(&before, row(1), b"on call");
        put(&before, row(2), b"on call");
        let (_, snapshot) = get_at(&before, &row(1), None);
        let (start, end) = KeyPrefix::Rows { table: 7 }.range();
        let txn = |key, spans: Vec<Span>| Commit {
            ops: vec![Op::put(key, b"off".to_vec()).seen_at(snapshot)],
            start_ts: snapshot,
            read_ts: snapshot,
            read_spans: spans,
        };
        let both = vec![Span { start, end }];
        assert!(matches!(commit(&before, &mut before.connect(), txn(row(1), both.clone())), response::Kind::Committed(_)));
        // A restarted node remembers no commits: the read at `snapshot` is
        // below its log's horizon, and the versions themselves decide.
        let after = Service::new(Arc::clone(&engine), 1);
        let reply = commit(&after, &mut after.connect(), txn(row(2), both));
        assert_eq!(error_code(&reply), Some(ErrorCode::SerializationFailure as i32));
        let only_row_2 = vec![Span { start: row(2), end: row(3) }];
        let reply = commit(&after, &mut after.connect(), txn(row(2), only_row_2));
        assert!(matches!(reply, response::Kind::Committed(_)), "{reply:?}");
    }

    #[test]
    fn garbage_collection_keeps_what_open_transactions_read() {
        let service = service();
        put(&service, row(1), b"v1");
        let mut reader = service.connect();
        let get = |conn: &mut Connection, read_ts| {
            match call(&service, conn, request::Kind::Get(Get { key: row(1), read_ts })) {
                response::Kind::Value(v) => (v.value, v.read_ts),
                other => panic!("unexpected {other:?}"),
            }
        };
        let (_, snapshot) = get(&mut reader, None);
        for v in [b"v2", b"v3"] {
            let mut writer = service.connect();
            let response::Kind::RowLocked(locked) = lock(&service, &mut writer, row(1), LockMode::Update, WaitPolicy::Block) else {
                panic!("not locked")
            };
            let ops = vec![Op::put(row(1), v.to_vec()).seen_at(locked.lock_ts)];
            commit(&service, &mut writer, Commit { ops, ..Default::default() });
        }
        service.collect_garbage().unwrap();
        assert_eq!(get(&mut reader, snapshot).0, Some(b"v1".to_vec()), "the pinned snapshot still reads");
        call(&service, &mut reader, request::Kind::EndTxn(EndTxn { quiet: false }));
        service.collect_garbage().unwrap();
        let versions = service.mvcc.engine().scan(b"v", b"w", 100, usize::MAX).unwrap().len();
        assert_eq!(versions, 1, "only the newest version is left");
        assert_eq!(get(&mut service.connect(), None).0, Some(b"v3".to_vec()));
        let stale = call(&service, &mut service.connect(), request::Kind::Get(Get { key: row(1), read_ts: snapshot }));
        assert_eq!(error_code(&stale), Some(ErrorCode::SerializationFailure as i32));
    }

    #[test]
    fn a_range_deleted_wholesale_is_not_collected_key_by_key() {
        let service = service();
        let other = Key::Row { table: 8, row: RowId(1) }.encode();
        for key in [row(1), row(2), other.clone()] {
            put(&service, key.clone(), b"v");
            let reply = commit(&service, &mut service.connect(), Commit { ops: vec![Op::delete(key)], ..Default::default() });
            assert!(matches!(reply, response::Kind::Committed(_)), "{reply:?}");
        }
        assert_eq!(service.garbage.lock().unwrap().len(), 3, "deleted keys wait for collection");
        let (start, end) = KeyPrefix::Rows { table: 7 }.range();
        commit(&service, &mut service.connect(), Commit { ops: vec![Op::delete_range(start, end)], ..Default::default() });
        let left: Vec<Vec<u8>> = service.garbage.lock().unwrap().iter().cloned().collect();
        assert_eq!(left, vec![other], "only the other table's key is left");
    }

    #[test]
    fn catalog_keys_are_not_versioned() {
        let service = service();
        let key = Key::NextTableId.encode();
        let ops = vec![Op::put(key.clone(), 5u64.to_be_bytes().to_vec())];
        commit(&service, &mut service.connect(), Commit { ops, ..Default::default() });
        assert_eq!(get_at(&service, &key, None), (Some(5u64.to_be_bytes().to_vec()), None));
    }

    #[test]
    fn bad_write_kind_is_an_error_not_a_crash() {
        let service = service();
        let bad = Op { kind: 99, key: row(1), value: vec![], seen_at: None };
        let reply = commit(&service, &mut service.connect(), Commit { ops: vec![bad], ..Default::default() });
        assert_eq!(error_code(&reply), Some(ErrorCode::InvalidInput as i32));
        assert_eq!(get(&service, &row(1)), None);
    }

    #[test]
    fn allocations_come_from_the_catalog() {
        let service = service();
        let mut conn = service.connect();
        let a = call(&service, &mut conn, request::Kind::AllocateTableId(crate::protocol::AllocateTableId {}));
        let b = call(&service, &mut conn, request::Kind::AllocateTableId(crate::protocol::AllocateTableId {}));
        match (a, b) {
            (response::Kind::Id(a), response::Kind::Id(b)) => assert!(b.id > a.id),
            other => panic!("unexpected {other:?}"),
        }
    }
}
