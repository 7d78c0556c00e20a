//! The backend's side of a Lyra transaction: a write buffer committed
//! atomically at the end of the Postgres transaction.
//!
//! Writes (row puts and deletes, table mappings, range deletes for dropped
//! tables) go into a buffer in the backend, not to the node. Reads merge the
//! buffer over what the node has committed, so a transaction sees its own
//! writes. At `PRE_COMMIT` the buffer is streamed to the node in chunks and
//! applied there as one atomic Raft command; at `ABORT` it is dropped.
//! Nothing of a transaction is visible to anyone else before its commit, and
//! all of it is after.
//!
//! Each key keeps a short chain of versions tagged with the command id that
//! wrote it. A scan whose snapshot has `curcid = c` sees the newest version
//! written by a command `< c` — Postgres's own rule — so `INSERT INTO t
//! SELECT * FROM t` does not read its own inserts, and a cursor opened
//! before an UPDATE keeps seeing the old rows.
//!
//! Subtransactions (SAVEPOINT, PL/pgSQL exception blocks) mark the undo
//! log; rolling one back pops every version it added.
//!
//! Concurrency control lives on the node (see `lyra_cluster::node::service`):
//! reads are at snapshot timestamps ([`crate::snapshot`]); UPDATE, DELETE
//! and `SELECT … FOR …` lock the row there first ([`lock_row`]), which is
//! where concurrent writers of a row wait for each other; the commit names,
//! per written row, the lock timestamp at which it was last seen, and, for
//! SERIALIZABLE, the spans the transaction read ([`note_read`]), and the
//! node refuses it (40001) if any of those changed. At the end of a
//! transaction that held locks but wrote nothing, `EndTxn` releases them.
//!
//! A transaction's writes live in backend memory until commit, so its size
//! is bounded by memory. Row locks taken in a subtransaction that rolls
//! back go with it ([`release_subtransaction_locks`]).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;

use lyra_cluster::protocol::{Commit, LockMode, LockRow, MarkWritten, Op, RowLocked, Span, Ts, WaitPolicy};
use lyra_engine::keys::{RowId, TableId};
use pgrx::pg_sys;
use crate::error::raise;
use pgrx::prelude::*;

use crate::node_link;

/// Reader that sees the latest version, including the current command's
/// (SnapshotSelf/Dirty, catalog lookups). Postgres never hands out a command
/// id this high (the limit is 2^32 - 2 commands per transaction).
pub const SEE_ALL: pg_sys::CommandId = pg_sys::CommandId::MAX;
/// Reader that sees the latest version that is a row, even if a later
/// command deleted it (SnapshotAny: DELETE ... RETURNING and AFTER DELETE
/// triggers fetch the row they just deleted).
pub const SEE_ANY: pg_sys::CommandId = pg_sys::CommandId::MAX - 1;

/// Frames sent at commit carry about this many bytes of writes.
const COMMIT_CHUNK_BYTES: usize = 4 << 20;

/// One buffered version of a key: the command that wrote it and the row
/// (`None`: deleted).
type Version = (pg_sys::CommandId, Option<Vec<u8>>);

#[derive(Default)]
struct WriteBuffer {
    /// key → versions, oldest first; `None` is a delete.
    versions: BTreeMap<Vec<u8>, Vec<Version>>,
    /// Whole ranges removed at commit (dropped and truncated tables).
    range_deletes: Vec<(pg_sys::CommandId, Vec<u8>, Vec<u8>)>,
    /// Rows deleted by moving to another partition, with the command that
    /// moved each: the delete is a move if it is still the key's last
    /// version (a subtransaction's rollback takes the version away, and
    /// later commands have greater ids).
    moved: HashMap<Vec<u8>, pg_sys::CommandId>,
    /// Keys in the order versions were added, for subtransaction rollback.
    undo: Vec<Vec<u8>>,
    /// Open subtransactions: (id, undo length, range_deletes length,
    /// running executors) at start.
    savepoints: Vec<(pg_sys::SubTransactionId, usize, usize, usize)>,
}

/// What the node must be told about the transaction.
#[derive(Default)]
struct NodeState {
    /// The first timestamp the transaction got: its id in commit records.
    start_ts: Option<Ts>,
    /// Rows locked on the node: the mode held and the lock timestamp (the
    /// row's newest version then is the one this transaction saw).
    locks: HashMap<Vec<u8>, (LockMode, Ts)>,
    /// SERIALIZABLE: the key spans read, validated at commit.
    read_spans: Vec<Span>,
    /// Locks taken along with a read (an UPDATE, DELETE or `SELECT … FOR
    /// …` by key), with the node's answer, until the write or row lock
    /// that follows takes them.
    read_locks: HashMap<Vec<u8>, RowLocked>,
    /// Unique index entries whose rows a read locked, and those rows
    /// ([`locked_entry`]).
    locked_entries: HashMap<Vec<u8>, RowId>,
    /// Rows a foreign key's check found and key-share locked, by their
    /// unique entry, with the version it found ([`checked_parent`]).
    checked_parents: HashMap<Vec<u8>, (RowId, Vec<u8>)>,
    /// The node's answer to the last row lock granted ([`newest_locked`]).
    last_granted: Option<(Vec<u8>, RowLocked)>,
    /// Each lock a subtransaction took or made stronger, oldest first: what
    /// a rollback to a savepoint undoes ([`release_subtransaction_locks`]).
    lock_changes: Vec<LockChange>,
    /// Rows locked to be written (an UPDATE or DELETE, not `SELECT … FOR
    /// …`), as the node knows them ([`mark_written`]), with the
    /// subtransaction that made each so: its rollback undoes the mark.
    written: HashMap<Vec<u8>, pg_sys::SubTransactionId>,
    /// A row the current statement read by key to lock it, which others
    /// held ([`note_busy`]).
    busy: Option<BusyRow>,
    /// Rows whose newest version a row lock of the current top-level
    /// statement handed back for a recheck ([`first_recheck`]).
    rechecked: HashSet<Vec<u8>>,
}

/// What a row lock is for. Heap tells a row's updater or deleter (its
/// xmax) from a transaction that only locked it (a lock-only xmax), and
/// so do the node's locks: [`writer_of`] names only the former.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LockFor {
    /// `SELECT … FOR …`, a foreign key's check, a unique entry's claim.
    Lock,
    /// An UPDATE or DELETE of the row.
    Write,
}

/// Postgres's `TopSubTransactionId`: the top level of a transaction.
const TOP_SUBTRANSACTION: pg_sys::SubTransactionId = 1;

/// A row lock a subtransaction took or made stronger.
struct LockChange {
    subxact: pg_sys::SubTransactionId,
    key: Vec<u8>,
    /// The mode held before, and its lock timestamp (none: not held).
    before: Option<(LockMode, Ts)>,
}

/// A row a read by key could not lock: others held it.
struct BusyRow {
    key: Vec<u8>,
    /// Their lock takers' tags (xids) to wait on.
    holders: Vec<u64>,
    /// The version the read found (at the statement's snapshot).
    seen: Vec<u8>,
}

/// SERIALIZABLE read spans kept one by one up to this many; beyond, they
/// are coalesced into one span per table (coarser, still sound).
const MAX_READ_SPANS: usize = 4096;

thread_local! {
    static BUFFER: RefCell<WriteBuffer> = RefCell::new(WriteBuffer::default());
    static NODE_STATE: RefCell<NodeState> = RefCell::new(NodeState::default());
    /// Set while a commit streams to the node; still set at ABORT means the
    /// node may hold staged writes of this transaction.
    static COMMITTING: Cell<bool> = const { Cell::new(false) };
    /// Between this transaction's engine commit (at PRE_COMMIT) and the end
    /// of Postgres's commit: see [`delete_range`].
    static PAST_COMMIT: Cell<bool> = const { Cell::new(false) };
}

/// Notes a timestamp the node read at: the first becomes the transaction's
/// start timestamp.
pub fn note_ts(ts: Option<Ts>) {
    NODE_STATE.with(|n| {
        let mut n = n.borrow_mut();
        if n.start_ts.is_none() {
            n.start_ts = ts;
        }
    });
}

/// Under SERIALIZABLE, remembers that `[start, end)` was read.
pub fn note_read(start: &[u8], end: &[u8]) {
    if !crate::snapshot::is_serializable() {
        return;
    }
    NODE_STATE.with(|n| {
        let spans = &mut n.borrow_mut().read_spans;
        if spans.last().is_some_and(|s| s.start == start && s.end == end) {
            return;
        }
        spans.push(Span { start: start.to_vec(), end: end.to_vec() });
        if spans.len() > MAX_READ_SPANS {
            coalesce(spans);
        }
    });
}

/// Whether, under SERIALIZABLE, this transaction read `key` (a span it
/// noted holds it) at a timestamp before `committed_at`: a write
/// committed there fails this transaction's commit.
pub fn read_before_commit_of(key: &[u8], committed_at: Option<Ts>) -> bool {
    let (Some(committed_at), Some(read_at)) = (committed_at, crate::snapshot::transaction_read_ts()) else {
        return false;
    };
    crate::snapshot::is_serializable()
        && committed_at > read_at
        && NODE_STATE.with(|n| n.borrow().read_spans.iter().any(|s| s.start.as_slice() <= key && key < s.end.as_slice()))
}

/// Replaces the spans by one per table (row keys: `'t'` table:8 …).
fn coalesce(spans: &mut Vec<Span>) {
    let mut tables: Vec<Vec<u8>> = spans.iter().map(|s| s.start.iter().take(9).copied().collect()).collect();
    tables.sort();
    tables.dedup();
    *spans = tables
        .into_iter()
        .map(|prefix| {
            let mut end = prefix.clone();
            end.push(0xff);
            Span { start: prefix, end }
        })
        .collect();
}

/// The lock timestamp if the transaction holds `mode` (or stronger) on
/// `key`.
pub fn held_lock(key: &[u8], mode: LockMode) -> Option<Ts> {
    NODE_STATE.with(|n| n.borrow().locks.get(key).filter(|(held, _)| *held >= mode).map(|(_, ts)| *ts))
}

/// Locks `key` on the node for this transaction. When others hold it and
/// `wait` is set, waits the way heap waits for a row's updater: in
/// Postgres's lock manager, on the holders' transaction ids — so the wait
/// shows in `pg_locks`, Postgres's deadlock detector sees it (40P01 after
/// `deadlock_timeout`), and `lock_timeout`, `statement_timeout` and cancel
/// end it. Then asks again. `None`: held by others and `wait` is not set.
///
/// # Safety
/// `rel` and `tid` are the relation and row being locked (for the wait's
/// error context).
pub unsafe fn lock_row(
    key: &[u8],
    mode: LockMode,
    purpose: LockFor,
    wait: bool,
    rel: pg_sys::Relation,
    tid: pg_sys::ItemPointer,
) -> Option<RowLocked> {
    request_lock(key, mode, purpose, false, wait, rel, tid, lock_taker())
}

/// Claims the unique index entry `key` for a speculative insertion (`INSERT
/// … ON CONFLICT`), as [`lock_row`] in `FOR UPDATE` strength, waiting —
/// unless the node has a committed value for it: that is a conflict, and
/// the answer (`skipped`) comes without a lock, as heap's speculative
/// insertion that finds a conflict leaves nothing behind; another
/// inserter of the key is not kept waiting for this transaction, nor
/// deadlocked with it.
///
/// # Safety
/// As [`lock_row`].
pub unsafe fn claim_entry(key: &[u8], rel: pg_sys::Relation, tid: pg_sys::ItemPointer) -> RowLocked {
    claim_entry_for(key, rel, tid, lock_taker())
}

/// [`claim_entry`] for the (sub)transaction `taker` ([`lock_taker`]) — a
/// claim made after the statement that inserted the entry.
///
/// # Safety
/// As [`lock_row`].
pub unsafe fn claim_entry_for(key: &[u8], rel: pg_sys::Relation, tid: pg_sys::ItemPointer, taker: (u64, u32)) -> RowLocked {
    request_lock(key, LockMode::Update, LockFor::Lock, true, true, rel, tid, taker).expect("a waiting lock request is answered")
}

/// Claims the unique index entries `keys`, each for its (sub)transaction
/// ([`lock_taker`]), as [`claim_entry`] does but in one round trip and
/// without waiting: per key, in order, the node's answer — the entry's
/// newest committed value, and a lock unless that is present — or, if
/// others hold the key, their tags (claim it again with
/// [`claim_entry_for`], which waits for them).
pub fn claim_entries(keys: &[(&[u8], (u64, u32))]) -> Vec<Result<RowLocked, Vec<u64>>> {
    let rows: Vec<LockRow> = keys
        .iter()
        .map(|&(key, (txn_tag, subxact))| LockRow {
            key: key.to_vec(),
            mode: LockMode::Update as i32,
            wait: WaitPolicy::NoWait as i32,
            timeout_ms: 0,
            txn_tag,
            subxact,
            writes: false,
            unless_present: true,
        })
        .collect();
    let answers = node_link::with_node(|client, w| client.lock_rows(rows, w));
    for (&(key, (_, subxact)), answer) in keys.iter().zip(&answers) {
        if let Ok(locked) = answer {
            if !locked.skipped {
                hold_for(key, LockMode::Update, locked.lock_ts.unwrap_or_default(), LockFor::Lock, subxact);
            }
        }
    }
    answers
}

/// [`lock_row`], or with `unless_present` [`claim_entry`], for `taker`.
#[allow(clippy::too_many_arguments)]
unsafe fn request_lock(
    key: &[u8],
    mode: LockMode,
    purpose: LockFor,
    unless_present: bool,
    wait: bool,
    rel: pg_sys::Relation,
    tid: pg_sys::ItemPointer,
    (txn_tag, subxact): (u64, u32),
) -> Option<RowLocked> {
    // The holder's xid lock is what waiters wait on: take an xid.
    let xid = pg_sys::GetTopTransactionId();
    // A waiter first queues for the row in Postgres's lock manager, as
    // heap's does (its "tuple lock", in the heavyweight mode matching the
    // row lock's strength): when the holder ends, the first to wait gets
    // the row, rather than whichever asks the node again first — a later
    // waiter no longer overtakes an earlier one that then waits for it.
    // Not to upgrade a lock this transaction holds already (heap skips it
    // too): the queue's head may be waiting for this very transaction.
    let upgrade = held_lock(key, LockMode::KeyShare).is_some();
    let mut queued = None;
    let mut queue = || {
        if queued.is_none() && !upgrade && !rel.is_null() && !tid.is_null() {
            let mode = tuple_lock_mode(mode);
            pg_sys::LockTuple(rel, tid, mode);
            queued = Some(mode);
        }
    };
    // The read that found the row found it held: wait for the holders
    // before asking, rather than be told so again.
    if let Some(busy) = take_busy(key) {
        if wait {
            queue();
            wait_for(&busy.holders, xid, rel, tid);
        }
    }
    let request = LockRow {
        key: key.to_vec(),
        mode: mode as i32,
        wait: WaitPolicy::NoWait as i32,
        timeout_ms: 0,
        txn_tag,
        subxact,
        writes: purpose == LockFor::Write,
        unless_present,
    };
    let locked = loop {
        match node_link::with_node(|client, w| client.lock_row(request.clone(), w)) {
            Ok(locked) => break locked,
            Err(_) if !wait => return None,
            Err(holders) => {
                queue();
                wait_for(&holders, xid, rel, tid)
            }
        }
    };
    if let Some(queued) = queued {
        pg_sys::UnlockTuple(rel, tid, queued);
    }
    if locked.skipped {
        return Some(locked);
    }
    hold_for(key, mode, locked.lock_ts.unwrap_or_default(), purpose, subxact);
    NODE_STATE.with(|n| n.borrow_mut().last_granted = Some((key.to_vec(), locked.clone())));
    Some(locked)
}

/// The heavyweight lock mode heap queues for a row lock of strength
/// `mode` in (`tupleLockExtraInfo`): they conflict as the row locks do.
fn tuple_lock_mode(mode: LockMode) -> pg_sys::LOCKMODE {
    (match mode {
        LockMode::KeyShare => pg_sys::AccessShareLock,
        LockMode::Share => pg_sys::RowShareLock,
        LockMode::NoKeyUpdate => pg_sys::ExclusiveLock,
        LockMode::Update => pg_sys::AccessExclusiveLock,
    }) as pg_sys::LOCKMODE
}

/// The newest committed version of `key` as the last row lock granted
/// reported it, if that lock was on `key` and the transaction holds it at
/// `mode` or stronger and at least `Share`: no one else can commit to the
/// row while it is held, so the answer stands until the transaction ends.
/// An UPDATE that waited for a row's updater asks for the row three more
/// times (EvalPlanQual's lock of the newest version, the fetch of the old
/// row to build the new one, the write's read of the version it replaces);
/// they need no node.
pub fn newest_locked(key: &[u8], mode: LockMode) -> Option<RowLocked> {
    held_lock(key, mode.max(LockMode::Share))?;
    NODE_STATE.with(|n| match &n.borrow().last_granted {
        Some((locked_key, locked)) if locked_key.as_slice() == key => Some(locked.clone()),
        _ => None,
    })
}

/// Waits for the transactions tagged `holders` (their xids: see
/// [`lock_taker`]) to end, in
/// Postgres's lock manager, as heap waits for a row's updater.
///
/// # Safety
/// `rel` and `tid` are the relation and row waited for; `xid` is this
/// transaction's.
unsafe fn wait_for(holders: &[u64], xid: pg_sys::TransactionId, rel: pg_sys::Relation, tid: pg_sys::ItemPointer) {
    for &holder in holders {
        let holder = pg_sys::TransactionId::from_inner(holder as u32);
        if holder != xid && holder != pg_sys::TransactionId::INVALID {
            pg_sys::XactLockTableWait(holder, rel, tid, pg_sys::XLTW_Oper::XLTW_Lock);
        } else {
            // A holder without a Postgres transaction to wait on.
            pg_sys::check_for_interrupts!();
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}

/// Notes that a read by key of this statement (an UPDATE, DELETE or
/// `SELECT … FOR …` by key) found row `key` at version `seen` but could not
/// lock it: the transactions tagged `holders` hold it. The row lock that
/// follows waits for them first ([`lock_row`]), and the executor's fetch
/// of the row to update before that gets the version the read found
/// ([`busy_seen`]) — what heap's fetch of the scanned tuple returns; the
/// lock then tells whether it changed since.
pub fn note_busy(key: Vec<u8>, holders: Vec<u64>, seen: Vec<u8>) {
    NODE_STATE.with(|n| n.borrow_mut().busy = Some(BusyRow { key, holders, seen }));
}

/// The version a read by key of this statement found for `key`, which it
/// could not lock ([`note_busy`]).
pub fn busy_seen(key: &[u8]) -> Option<Vec<u8>> {
    NODE_STATE.with(|n| n.borrow().busy.as_ref().filter(|b| b.key == key).map(|b| b.seen.clone()))
}

fn take_busy(key: &[u8]) -> Option<BusyRow> {
    NODE_STATE.with(|n| {
        let mut n = n.borrow_mut();
        if n.busy.as_ref().is_some_and(|b| b.key == key) { n.busy.take() } else { None }
    })
}

/// A statement starts: what an earlier one's read found ([`note_busy`])
/// is not its to use.
pub fn statement_started() {
    NODE_STATE.with(|n| {
        let mut n = n.borrow_mut();
        n.busy = None;
        if crate::snapshot::statement_mark() == 0 {
            n.rechecked.clear();
        }
    });
}

/// Whether this is the first time the current top-level statement hands
/// back the newest version of the locked row `key` for a recheck
/// (EvalPlanQual). See `tam::modify::tuple_lock`.
pub fn first_recheck(key: &[u8]) -> bool {
    NODE_STATE.with(|n| n.borrow_mut().rechecked.insert(key.to_vec()))
}

/// Records a row lock the node granted (at `lock_ts`, for `purpose`). A stronger lock on a row already held takes its
/// grant's timestamp: the commit checks the row's writes against it, and
/// a key-share lock lets others commit no-key updates to the row, which
/// the stronger lock's answer showed (EvalPlanQual) — checked against the
/// first grant, they failed the commit as a lost update.
fn hold(key: &[u8], mode: LockMode, lock_ts: Ts, purpose: LockFor) {
    // SAFETY: a row lock is taken inside a transaction.
    hold_for(key, mode, lock_ts, purpose, unsafe { pg_sys::GetCurrentSubTransactionId() });
}

/// [`hold`], for the lock's subtransaction `subxact` (the one its request named).
fn hold_for(key: &[u8], mode: LockMode, lock_ts: Ts, purpose: LockFor, subxact: pg_sys::SubTransactionId) {
    note_ts(Some(lock_ts));
    NODE_STATE.with(|n| {
        let mut n = n.borrow_mut();
        if purpose == LockFor::Write {
            n.written.entry(key.to_vec()).or_insert(subxact);
        }
        let before = n.locks.get(key).copied();
        if before.is_some_and(|(held, _)| held >= mode) {
            return;
        }
        n.locks.insert(key.to_vec(), (mode, lock_ts));
        // The top level's locks end with the transaction: no log for them.
        if subxact > TOP_SUBTRANSACTION {
            n.lock_changes.push(LockChange { subxact, key: key.to_vec(), before });
        }
    });
}

/// Subtransaction `subxact` rolled back: the row locks it and those inside
/// it took go, on the node and here, and its upgrades return to the mode
/// held before — as heap's row locks end with the subtransaction whose xid
/// took them, so a session waiting for one goes on at `ROLLBACK TO`. Costs
/// a round trip only when the subtransaction took locks. Never raises (it
/// runs while the subtransaction aborts): a node that cannot be told loses
/// the connection, which ends all of the transaction's locks there — the
/// commit's check of each write against its lock's timestamp still refuses
/// a lost update.
pub fn release_subtransaction_locks(subxact: pg_sys::SubTransactionId) {
    let undone = NODE_STATE.with(|n| {
        let mut n = n.borrow_mut();
        // What was taken since the subtransaction began is a suffix: one
        // begun earlier and still open encloses it (a smaller id).
        let from = n.lock_changes.iter().rposition(|c| c.subxact < subxact).map_or(0, |i| i + 1);
        let undone: Vec<LockChange> = n.lock_changes.drain(from..).collect();
        for change in undone.iter().rev() {
            match change.before {
                Some(before) => n.locks.insert(change.key.clone(), before),
                None => n.locks.remove(&change.key),
            };
        }
        let marks = n.written.len();
        n.written.retain(|_, marked_in| *marked_in < subxact);
        let undone_marks = n.written.len() < marks;
        if !undone.is_empty() {
            // Answers kept for locks that may be gone now.
            n.last_granted = None;
            n.read_locks.clear();
            n.locked_entries.clear();
            n.checked_parents.clear();
            n.busy = None;
        }
        !undone.is_empty() || undone_marks
    });
    if undone {
        node_link::release_locks(subxact);
    }
}

/// Who takes a row lock, as the node records it: the current
/// subtransaction's xid (the top level's outside one), which a transaction
/// the lock blocks waits on — Postgres follows a committed
/// subtransaction's xid to its parent's, as it does for heap's row locks —
/// and its `SubTransactionId`, by which a rollback to a savepoint releases
/// the lock ([`release_subtransaction_locks`]).
///
/// # Safety
/// Inside a transaction (takes an xid if it has none).
pub unsafe fn lock_taker() -> (u64, u32) {
    (u64::from(pg_sys::GetCurrentTransactionId().into_inner()), pg_sys::GetCurrentSubTransactionId())
}

/// Another transaction about to change the row `key` — one that locked
/// it to update or delete it — if any: what a dirty snapshot reports as
/// the row's in-progress xmax, for the caller to wait on and look again
/// (an `INSERT … ON CONFLICT` meeting a row being deleted inserts once the
/// deleter commits, as on heap). A transaction that only locked the row
/// (`SELECT … FOR UPDATE`) is not one, as heap's lock-only xmax is not.
pub unsafe fn writer_of(key: &[u8]) -> Option<pg_sys::TransactionId> {
    let request = LockRow {
        key: key.to_vec(),
        mode: LockMode::Share as i32,
        wait: WaitPolicy::Probe as i32,
        timeout_ms: 0,
        txn_tag: 0,
        subxact: 0,
        ..Default::default()
    };
    let holders = node_link::with_node(|client, w| client.lock_row(request, w)).err()?;
    holders.into_iter().map(|h| pg_sys::TransactionId::from_inner(h as u32)).find(|&xid| xid != pg_sys::TransactionId::INVALID)
}

/// A row lock the node took along with a read of `key` (an UPDATE or
/// DELETE, or `SELECT … FOR …`, by key): held from now on, and its answer
/// kept for the write or row lock that follows ([`take_read_lock`]) —
/// which then needs no `LockRow`.
pub fn held_with_read(key: Vec<u8>, mode: LockMode, purpose: LockFor, locked: RowLocked) {
    hold(&key, mode, locked.lock_ts.unwrap_or_default(), purpose);
    NODE_STATE.with(|n| n.borrow_mut().read_locks.insert(key, locked));
}

/// The transaction is about to update or delete the row `key`, which it
/// holds locked: tells the node, if the lock was not taken for writing
/// (`SELECT … FOR UPDATE` first, or `ON CONFLICT DO UPDATE`'s lock), so
/// that others see a writer ([`writer_of`]). Without waiting for an
/// answer: the node serves the connection's requests in order, and a
/// probe it answers before the mark arrives sees the row as it was
/// before this statement touched it.
pub fn mark_written(key: &[u8]) {
    if held_lock(key, LockMode::KeyShare).is_none() || NODE_STATE.with(|n| n.borrow().written.contains_key(key)) {
        return;
    }
    // SAFETY: inside a transaction holding a lock on the row (so an xid).
    let (txn_tag, subxact) = unsafe { lock_taker() };
    NODE_STATE.with(|n| n.borrow_mut().written.insert(key.to_vec(), subxact));
    node_link::mark_written(MarkWritten { key: key.to_vec(), txn_tag, subxact });
}

/// A key-share lock the node took on the parent row `key` for a foreign
/// key's check taken along with another's (`index::parents`): held from
/// now on, with no read waiting for its answer.
pub fn held_by_check(key: &[u8], locked: &RowLocked) {
    hold(key, LockMode::KeyShare, locked.lock_ts.unwrap_or_default(), LockFor::Lock);
}

/// Notes that the row a point lookup found at the unique index entry
/// `entry` was locked by that read ([`held_with_read`]).
pub fn note_locked_entry(entry: Vec<u8>, row: RowId) {
    NODE_STATE.with(|n| n.borrow_mut().locked_entries.insert(entry, row));
}

/// Notes that a read of the unique index entry `entry` that needed none
/// of the row's columns (a foreign key's check) found `row` at `version`
/// and locked it `FOR KEY SHARE` or stronger ([`checked_parent`]).
pub fn note_checked_parent(entry: Vec<u8>, row: RowId, version: Vec<u8>) {
    NODE_STATE.with(|n| n.borrow_mut().checked_parents.insert(entry, (row, version)));
}

/// The row at the unique index entry `entry` and a version of it, if a
/// check earlier in this transaction found and locked it and the lock is
/// still held, and this transaction has not written the row since: it
/// still exists with that key — a key-share lock keeps others from
/// deleting the row or changing its key. Another transaction may have
/// changed its other columns, so the version is only for a read that
/// needs none of them (a foreign key's check asks whether the row is
/// there), and the lock's answer for the row lock that follows.
pub fn checked_parent(entry: &[u8], table: TableId) -> Option<(RowId, RowLocked)> {
    let (row, version) = NODE_STATE.with(|n| n.borrow().checked_parents.get(entry).cloned())?;
    let key = crate::table::row_key(table, row);
    let lock_ts = held_lock(&key, LockMode::KeyShare)?;
    if lookup(&key, SEE_ALL).is_some() {
        return None;
    }
    Some((row, RowLocked { lock_ts: Some(lock_ts), value: Some(version), ..Default::default() }))
}

/// The row at the unique index entry `entry`, if a read of the entry
/// locked that row earlier in this transaction. The entry names the same
/// row for as long as the lock is held (to the end of the transaction):
/// even the weakest row lock (`FOR KEY SHARE`) keeps others from changing
/// the row's key or deleting it, and no other row can take the entry
/// while it has it. This transaction's own changes to the entry
/// are in the buffer, which readers consult first.
pub fn locked_entry(entry: &[u8]) -> Option<RowId> {
    NODE_STATE.with(|n| n.borrow().locked_entries.get(entry).copied())
}

/// The newest committed version of `key` (`None` inside: a deletion), if
/// a read took its lock and the write has not come yet: while the lock is
/// held nobody else can commit to the row, so it is still the newest —
/// what the `SnapshotAny` fetch of the row to update asks the node for.
pub fn read_lock_row(key: &[u8]) -> Option<Option<Vec<u8>>> {
    NODE_STATE.with(|n| n.borrow().read_locks.get(key).map(|locked| locked.value.clone()))
}

/// The answer of the lock a read took on `key`, if it holds at least
/// `mode` (taken: once used, the lock is just held).
pub fn take_read_lock(key: &[u8], mode: LockMode) -> Option<RowLocked> {
    let locked = NODE_STATE.with(|n| n.borrow_mut().read_locks.remove(key))?;
    held_lock(key, mode).map(|_| locked)
}

fn with<T>(f: impl FnOnce(&mut WriteBuffer) -> T) -> T {
    BUFFER.with(|b| f(&mut b.borrow_mut()))
}

pub fn put(key: Vec<u8>, value: Vec<u8>, cid: pg_sys::CommandId) {
    with(|b| b.add(key, cid, Some(value)));
}

pub fn delete(key: Vec<u8>, cid: pg_sys::CommandId) {
    with(|b| b.add(key, cid, None));
}

/// Deletes the row `key` that moves to another partition (an UPDATE of
/// the partition key): its tombstone tells a concurrent writer the row
/// lives on elsewhere ([`OpKind::Moved`](lyra_cluster::protocol::OpKind)).
pub fn delete_moved(key: Vec<u8>, cid: pg_sys::CommandId) {
    with(|b| {
        b.moved.insert(key.clone(), cid);
        b.add(key, cid, None)
    });
}

/// The savepoint mark of a speculative insertion: no subtransaction has
/// this id.
const SPECULATIVE: pg_sys::SubTransactionId = 0;

/// Marks the start of a speculative insertion (`INSERT … ON CONFLICT`):
/// what is buffered until [`end_speculative`] can be taken back as one.
pub fn begin_speculative() {
    with(|b| b.savepoints.push((SPECULATIVE, b.undo.len(), b.range_deletes.len(), crate::snapshot::statement_mark())));
}

/// Ends the speculative insertion begun last: keeps what it buffered if it
/// `succeeded`, else takes it back (the row and its index entries).
pub fn end_speculative(succeeded: bool) {
    with(|b| {
        let Some(pos) = b.savepoints.iter().rposition(|s| s.0 == SPECULATIVE) else { return };
        let (_, undo_len, ranges_len, _) = b.savepoints[pos];
        b.savepoints.truncate(pos);
        if !succeeded {
            b.rollback_to(undo_len, ranges_len);
        } else if b.savepoints.is_empty() {
            // No subtransaction can roll these back any more.
            b.undo.truncate(undo_len);
        }
    });
}

/// Removes `[start, end)` at commit, and hides buffered keys in it now.
pub fn delete_range(start: Vec<u8>, end: Vec<u8>, cid: pg_sys::CommandId) {
    if PAST_COMMIT.with(|p| p.get()) {
        // `ON COMMIT DELETE ROWS`: Postgres truncates those temp tables (and
        // rebuilds their indexes) after the PRE_COMMIT callbacks, so after
        // this transaction's engine commit. The truncate is not
        // transactional on heap either: it is committed on its own, now.
        with(|b| b.range_deletes.push((cid, start, end)));
        commit();
        return;
    }
    with(|b| {
        let keys: Vec<Vec<u8>> = buffered_in(&b.versions, Bound::Included(&start), Bound::Excluded(&end))
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            b.add(key, cid, None);
        }
        b.range_deletes.push((cid, start, end));
    });
}

/// The buffered keys between `lower` and `upper` — none when the bounds
/// cross (an index scan's `BETWEEN 12 AND 4`, a backward step from the
/// range's first key), where `BTreeMap::range` would panic.
fn buffered_in<'a>(
    versions: &'a BTreeMap<Vec<u8>, Vec<Version>>,
    lower: Bound<&[u8]>,
    upper: Bound<&[u8]>,
) -> std::collections::btree_map::Range<'a, Vec<u8>, Vec<Version>> {
    let empty = match (lower, upper) {
        (Bound::Included(l), Bound::Included(u)) => l > u,
        (Bound::Included(l) | Bound::Excluded(l), Bound::Included(u) | Bound::Excluded(u)) => l >= u,
        _ => false,
    };
    if empty {
        // Start and end equal, the start included: empty, and allowed.
        return versions.range::<[u8], _>((Bound::Included(&[][..]), Bound::Excluded(&[][..])));
    }
    versions.range::<[u8], _>((lower, upper))
}

/// The buffered state of `key` for a reader at `cid`: `None` when the
/// buffer has nothing visible (read the node), `Some(None)` when deleted.
pub fn lookup(key: &[u8], cid: pg_sys::CommandId) -> Option<Option<Vec<u8>>> {
    with(|b| b.versions.get(key).and_then(|chain| visible(chain, cid)).cloned())
}

/// The command that last wrote `key` in this transaction, if any did.
pub fn last_writer(key: &[u8]) -> Option<pg_sys::CommandId> {
    with(|b| b.versions.get(key).and_then(|chain| chain.last()).map(|(cid, _)| *cid))
}

/// The next buffered key of `[start, end)` (`end` empty: unbounded) that
/// has a version visible at `cid`: the first after `last` (or from
/// `start`), or with `reverse` the last before `last` (or before `end`).
pub fn next_visible(
    start: &[u8],
    last: Option<&[u8]>,
    end: &[u8],
    cid: pg_sys::CommandId,
    reverse: bool,
) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    with(|b| {
        let end_bound = if end.is_empty() { Bound::Unbounded } else { Bound::Excluded(end) };
        let (lower, upper) = match (last, reverse) {
            (Some(k), false) => (Bound::Excluded(k), end_bound),
            (Some(k), true) => (Bound::Included(start), Bound::Excluded(k)),
            (None, _) => (Bound::Included(start), end_bound),
        };
        let found = |(k, chain): (&Vec<u8>, &Vec<Version>)| visible(chain, cid).map(|v| (k.clone(), v.clone()));
        let mut range = buffered_in(&b.versions, lower, upper);
        if reverse {
            range.rev().find_map(found)
        } else {
            range.find_map(found)
        }
    })
}

/// Whether `[start, end)` was wholly range-deleted by a command before `cid`.
pub fn range_deleted(start: &[u8], end: &[u8], cid: pg_sys::CommandId) -> bool {
    with(|b| b.range_deletes.iter().any(|(c, s, e)| *c < cid && s.as_slice() <= start && e.as_slice() >= end))
}

/// Whether this transaction wrote (or range-deleted) any key of `[start, end)`.
pub fn wrote_in(start: &[u8], end: &[u8]) -> bool {
    with(|b| {
        buffered_in(&b.versions, Bound::Included(start), Bound::Excluded(end)).next().is_some()
            || b.range_deletes.iter().any(|(_, s, e)| s.as_slice() < end && e.as_slice() > start)
    })
}

pub fn is_empty() -> bool {
    with(|b| b.versions.is_empty() && b.range_deletes.is_empty())
}

/// The version of a key's chain that a reader at `cid` sees; `None` when the
/// buffer has nothing for it (the node's committed value applies).
fn visible(chain: &[Version], cid: pg_sys::CommandId) -> Option<&Option<Vec<u8>>> {
    match cid {
        SEE_ALL => chain.last().map(|(_, v)| v),
        SEE_ANY => chain.iter().rev().find(|(_, v)| v.is_some()).map(|(_, v)| v),
        _ => chain.iter().rev().find(|(c, _)| *c < cid).map(|(_, v)| v),
    }
}

impl WriteBuffer {
    fn add(&mut self, key: Vec<u8>, cid: pg_sys::CommandId, value: Option<Vec<u8>>) {
        // Only a subtransaction can be rolled back alone (a top-level abort
        // drops the whole buffer), so versions are tracked for undo only
        // while one is open.
        let undo_key = (!self.savepoints.is_empty()).then(|| key.clone());
        let chain = self.versions.entry(key).or_default();
        match (chain.last_mut(), undo_key) {
            // A later write by the same command replaces the earlier one.
            (Some(last), None) if last.0 == cid => last.1 = value,
            (_, undo_key) => {
                chain.push((cid, value));
                self.undo.extend(undo_key);
            }
        }
    }

    fn rollback_to(&mut self, undo_len: usize, ranges_len: usize) {
        while self.undo.len() > undo_len {
            let key = self.undo.pop().expect("length checked");
            if let Some(chain) = self.versions.get_mut(&key) {
                chain.pop();
                if chain.is_empty() {
                    self.versions.remove(&key);
                }
            }
        }
        self.range_deletes.truncate(ranges_len);
    }

    /// The final writes: range deletes first, then each key's last version,
    /// each row checked at commit against the timestamp it was locked at.
    /// Keys written before a range delete were tombstoned by it; a delete
    /// that a range delete already covers is left out.
    fn into_ops(self, locks: &HashMap<Vec<u8>, (LockMode, Ts)>) -> Vec<Op> {
        let ranges: Vec<(Vec<u8>, Vec<u8>)> = self.range_deletes.into_iter().map(|(_, s, e)| (s, e)).collect();
        let covered = |k: &[u8]| ranges.iter().any(|(s, e)| s.as_slice() <= k && k < e.as_slice());
        let mut ops: Vec<Op> = ranges.iter().map(|(s, e)| Op::delete_range(s.clone(), e.clone())).collect();
        for (key, mut chain) in self.versions {
            let seen_at = locks.get(&key).map(|(_, ts)| *ts);
            let Some((cid, last)) = chain.pop() else { continue };
            match last {
                Some(value) => ops.push(Op::put(key, value).seen_at(seen_at)),
                None if covered(&key) => {}
                None if self.moved.get(&key) == Some(&cid) => ops.push(Op::moved(key).seen_at(seen_at)),
                None => ops.push(Op::delete(key).seen_at(seen_at)),
            }
        }
        ops
    }
}

/// Sends the buffer to the node and commits it there, atomically; or, for
/// a transaction that only locked rows, releases them.
fn commit() {
    let buffer = with(std::mem::take);
    let state = NODE_STATE.with(|n| std::mem::take(&mut *n.borrow_mut()));
    if buffer.versions.is_empty() && buffer.range_deletes.is_empty() {
        if !state.locks.is_empty() {
            node_link::with_node(|client, wait| client.end_txn(wait));
        } else if state.start_ts.is_some() {
            // Only reads: unpin its snapshot on the node, without waiting.
            node_link::end_txn_quietly();
        }
        return;
    }
    let mut ops = buffer.into_ops(&state.locks);
    let read_ts = if crate::snapshot::is_serializable() { crate::snapshot::transaction_read_ts() } else { None };
    COMMITTING.with(|c| c.set(true));
    node_link::with_node_answer(|client, wait| {
        let mut chunk = Vec::new();
        let mut bytes = 0;
        for op in ops.drain(..) {
            bytes += op.weight();
            chunk.push(op);
            if bytes >= COMMIT_CHUNK_BYTES {
                client.stage(std::mem::take(&mut chunk), wait)?;
                bytes = 0;
            }
        }
        let commit = Commit { ops: chunk, start_ts: state.start_ts, read_ts, read_spans: state.read_spans };
        // The commit request itself is not interruptible: a cancel that
        // arrived after the node applied the batch but before its answer
        // would abort a transaction that is in fact committed.
        client.commit(commit, &mut || {})
    })
    .unwrap_or_else(|(code, message)| {
        // The node refused the commit and ended its transaction; nothing is
        // staged there any more.
        COMMITTING.with(|c| c.set(false));
        node_link::report_node_error(code, message)
    });
    COMMITTING.with(|c| c.set(false));
}

fn forget() {
    crate::tam::versions::reset();
    with(|b| *b = WriteBuffer::default());
    NODE_STATE.with(|n| *n.borrow_mut() = NodeState::default());
    crate::snapshot::reset();
}

pub fn register_callbacks() {
    // SAFETY: registering process-local callbacks during _PG_init.
    unsafe {
        pg_sys::RegisterXactCallback(Some(on_xact), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(on_subxact), std::ptr::null_mut());
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn on_xact(event: pg_sys::XactEvent::Type, _arg: *mut std::ffi::c_void) {
    use pg_sys::XactEvent::*;
    match event {
        XACT_EVENT_PRE_COMMIT | XACT_EVENT_PARALLEL_PRE_COMMIT => {
            // Claims a statement left (each statement's end makes them).
            crate::index::claims::make_all();
            crate::index::parents::forget(None);
            crate::index::btree_classes::give_back_all();
            node_link::forget_all();
            crate::index::finish_drops();
            commit();
            PAST_COMMIT.with(|p| p.set(true));
            crate::snapshot::reset();
            crate::tam::versions::reset();
            crate::index::forget_unchanged();
        }
        XACT_EVENT_COMMIT | XACT_EVENT_PARALLEL_COMMIT => PAST_COMMIT.with(|p| p.set(false)),
        // A transaction that touched temporary objects gets Postgres's own
        // refusal, raised right after this callback.
        XACT_EVENT_PRE_PREPARE if (!is_empty() || crate::index::drops_pending()) && !touched_temporary_objects() => {
            raise(PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                "PREPARE TRANSACTION is not supported for transactions that wrote lyra tables"
            );
        }
        XACT_EVENT_ABORT | XACT_EVENT_PARALLEL_ABORT => {
            PAST_COMMIT.with(|p| p.set(false));
            crate::index::claims::forget(None);
            crate::index::parents::forget(None);
            crate::index::btree_classes::forget_lent(None);
            // A commit cut short may have staged writes on the node: a new
            // connection ends all that. Locks held are released by EndTxn.
            if COMMITTING.with(|c| c.replace(false)) {
                node_link::disconnect();
            } else {
                node_link::forget_all();
                let (locked, started) = NODE_STATE.with(|n| {
                    let n = n.borrow();
                    (!n.locks.is_empty(), n.start_ts.is_some())
                });
                if locked {
                    node_link::end_txn_releasing_locks();
                } else if started {
                    node_link::end_txn_quietly();
                }
            }
            forget();
            crate::index::forget_unchanged();
            crate::index::forget_drops(None);
            crate::index::forget_storage(None);
        }
        _ => {}
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn on_subxact(
    event: pg_sys::SubXactEvent::Type,
    my_subid: pg_sys::SubTransactionId,
    _parent: pg_sys::SubTransactionId,
    _arg: *mut std::ffi::c_void,
) {
    use pg_sys::SubXactEvent::*;
    if event == SUBXACT_EVENT_PRE_COMMIT_SUB {
        // Claims a statement left (each statement's end makes them).
        crate::index::claims::make();
    }
    with(|b| match event {
        SUBXACT_EVENT_START_SUB => {
            b.savepoints.push((my_subid, b.undo.len(), b.range_deletes.len(), crate::snapshot::statement_mark()))
        }
        SUBXACT_EVENT_COMMIT_SUB => {
            if let Some(pos) = b.savepoints.iter().rposition(|s| s.0 == my_subid) {
                b.savepoints.truncate(pos);
            }
        }
        SUBXACT_EVENT_ABORT_SUB => {
            crate::index::claims::forget(Some(my_subid));
            crate::index::parents::forget(Some(my_subid));
            release_subtransaction_locks(my_subid);
            crate::index::btree_classes::forget_lent(Some(my_subid));
            crate::index::forget_drops(Some(my_subid));
            crate::index::forget_storage(Some(my_subid));
            if let Some(pos) = b.savepoints.iter().rposition(|s| s.0 == my_subid) {
                let (_, undo_len, ranges_len, statements) = b.savepoints[pos];
                b.savepoints.truncate(pos);
                b.rollback_to(undo_len, ranges_len);
                crate::snapshot::forget_statements_after(statements);
            }
        }
        _ => {}
    });
}

/// Whether this transaction used a temporary table or schema, which
/// Postgres refuses to `PREPARE` on its own account.
fn touched_temporary_objects() -> bool {
    // SAFETY: a plain read of the backend's transaction flags.
    unsafe { pg_sys::MyXactFlags as u32 & pg_sys::XACT_FLAGS_ACCESSEDTEMPNAMESPACE != 0 }
}
