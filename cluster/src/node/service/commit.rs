//! Commits, in groups: concurrent commits share one write and one fsync.
//!
//! Every commit must pick its timestamp and be written while no other
//! group is being written, and a durable write costs an fsync (a Raft
//! round) — a millisecond, against microseconds for everything else. One
//! commit per fsync caps the node at a few hundred commits a second
//! however many backends wait. So a commit queues itself
//! ([`Service::queue_commit`]) and waits for its [`Outcome`]. If no group
//! is being written, it is told to *lead* ([`Service::lead_group`]): it
//! commits everything queued by then, its own commit included, and hands
//! the leadership to the oldest commit queued meanwhile, if any:
//!
//! ```text
//!   backend 1  queue ─ Lead ─ lead_group ──────────────────────┐
//!   backend 2  queue ─ wait ·······································► Done
//!   backend 3  queue ─ wait ·······································► Done
//!                      floor = now (every commit below lands at or above it)
//!                      for each queued commit, in order:
//!                        SERIALIZABLE read validation (recent writes)
//!                        commit_ts = hlc.now(); checks against seen_at
//!                        its writes join the group's batch; its keys
//!                        become recent writes (later members see them)
//!                      one atomic batch, one fsync; floor = none;
//!                      each member's transaction ends (row locks go), Done
//!   backend 4  queue ─ wait ····· Lead (handed over) ─ lead_group ─ …
//! ```
//!
//! A member whose checks fail is answered with its error and adds
//! nothing. The checks read the stored data, not the group's batch, so a
//! commit writing a key an earlier member of the group writes starts a new
//! group after the current one is written (row locks make that rare: two
//! transactions write one row only one after the other). A member's row
//! locks go as soon as its group is written, and only the leader blocks
//! a thread: the others wait on their outcome (the socket shell awaits it
//! without holding a runtime thread).
//!
//! **Reads never wait for a group.** A reader asking for a fresh
//! timestamp takes `now`, or — while a group is being written — the
//! timestamp just below the group's *floor*, which the leader takes from
//! the clock before it picks any commit timestamp of the group. Every
//! commit below the answer is written; none can land below it later
//! (commits in flight are at or above the floor, later ones above `now`).
//! The reader takes `now` before it looks at the floor, and the leader
//! sets the floor under the same mutex, so a group that starts in between
//! has a floor above the reader's `now`. A commit acknowledged to its
//! client is below every fresh timestamp taken after the acknowledgement.

use std::sync::{Mutex, MutexGuard};

use tokio::sync::mpsc;

use lyra_engine::hlc::Timestamp;
use lyra_engine::keys::is_versioned;
use lyra_engine::mvcc::keys::user_range;
use lyra_engine::mvcc::locks::Owner;
use lyra_engine::mvcc::{CommitGroup, Mutation};
use lyra_engine::storage::{Engine, WriteBatch, WriteOp};
use lyra_engine::TxnError;

use super::{lock, respond, Connection, Failure, Reply, Service};
use crate::protocol::{response, Commit, Committed, ErrorCode, Op, OpKind, Response, Span, Ts};

/// A commit waiting for the group that writes it.
pub(super) struct PendingCommit {
    /// Writes outside the MVCC keyspace (catalog, dropped tables' ranges).
    raw: WriteBatch,
    mutations: Checked,
    /// The versioned key ranges `raw` deletes wholesale (dropped or
    /// truncated tables and indexes), as user keys.
    dropped: Vec<(Vec<u8>, Vec<u8>)>,
    start_ts: Option<Ts>,
    /// SERIALIZABLE: the snapshot its reads were at, and what it read.
    read_ts: Option<Ts>,
    read_spans: Vec<Span>,
    /// The connection whose transaction this is.
    owner: Owner,
    answer: Answer,
}

/// What a queued commit hears: lead the next group, or its reply (its
/// transaction is over by then).
#[derive(Debug)]
pub enum Outcome {
    Lead,
    Done(Response),
}

/// Where a queued commit hears its outcomes (a `Lead`, then `Done`).
pub type Outcomes = mpsc::UnboundedReceiver<Outcome>;
type Answer = mpsc::UnboundedSender<Outcome>;

/// The commit groups' shared state.
#[derive(Default)]
pub(super) struct Commits {
    state: Mutex<GroupState>,
}

#[derive(Default)]
struct GroupState {
    /// Commits waiting for the next group.
    queue: Vec<PendingCommit>,
    /// Whether a commit has been told to lead and has not handed over yet.
    leading: bool,
    /// While a group is being written: a timestamp at or below each of its
    /// commits'.
    floor: Option<Timestamp>,
}

impl Commits {
    fn state(&self) -> MutexGuard<'_, GroupState> {
        lock(&self.state)
    }

    /// The floor of the group being written, if one is.
    pub(super) fn floor(&self) -> Option<Timestamp> {
        self.state().floor
    }

    /// How many commits wait for a group.
    #[cfg(test)]
    pub(super) fn queued(&self) -> usize {
        self.state().queue.len()
    }
}

/// The leader's turn: when it ends, even by a panic, the leadership goes
/// to the oldest commit queued meanwhile, so none waits for ever.
struct Leading<'a>(&'a Commits);

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        let mut state = self.0.state();
        state.floor = None;
        // A commit whose caller is gone (its receiver dropped) cannot lead;
        // the next one is asked, and whoever leads writes it too.
        state.leading = state.queue.iter().any(|next| next.answer.send(Outcome::Lead).is_ok());
    }
}

/// A commit's MVCC writes, each with the timestamp its transaction last
/// saw the row at.
type Checked = Vec<(Mutation, Option<Timestamp>)>;

impl<E: Engine> Service<E> {
    /// Queues the connection's commit — its staged writes and the final
    /// ones — to be applied in one atomic batch at a fresh commit
    /// timestamp, after the checks, in whichever group writes it. The
    /// caller waits for its [`Outcome`]s: on `Lead` it calls
    /// [`Service::lead_group`], on `Done` its transaction is over (its
    /// locks released, even when the commit failed).
    pub fn queue_commit(&self, conn: &mut Connection, commit: Commit) -> Outcomes {
        let (answer, outcomes) = mpsc::unbounded_channel();
        let mut ops = std::mem::take(&mut conn.staged);
        ops.extend(commit.ops);
        match parse(ops) {
            Ok((raw, mutations, dropped)) => {
                let (start_ts, read_ts, read_spans) = (commit.start_ts, commit.read_ts, commit.read_spans);
                let mut state = self.commits.state();
                if !state.leading {
                    state.leading = true;
                    let _ = answer.send(Outcome::Lead);
                }
                let owner = conn.id;
                state.queue.push(PendingCommit { raw, mutations, dropped, start_ts, read_ts, read_spans, owner, answer });
            }
            Err(failure) => {
                self.end_transaction(conn.id);
                let _ = answer.send(Outcome::Done(failure.into()));
            }
        }
        outcomes
    }

    /// Leads one turn: writes every commit queued now (blocks for the
    /// writes), then hands the leadership on.
    pub fn lead_group(&self) {
        let queued = std::mem::take(&mut self.commits.state().queue);
        let _leading = Leading(&self.commits);
        self.commit_queued(queued);
    }

    /// A commit from start to end on this thread (tests, and callers
    /// without a runtime): queue, lead when told, wait for the reply.
    pub(super) fn commit_blocking(&self, conn: &mut Connection, commit: Commit) -> Response {
        let mut outcomes = self.queue_commit(conn, commit);
        loop {
            match outcomes.blocking_recv() {
                Some(Outcome::Lead) => self.lead_group(),
                Some(Outcome::Done(reply)) => return reply,
                None => return unanswered(),
            }
        }
    }

    /// Commits `queued`, in order, in as few groups as their keys allow,
    /// and answers each. Runs as the leader.
    fn commit_queued(&self, queued: Vec<PendingCommit>) {
        self.raise_floor();
        let mut group = Some(self.mvcc.commit_group());
        let mut members: Vec<(Answer, Owner, Timestamp)> = Vec::new();
        for commit in queued {
            if let Err(failure) = self.validate_reads(&commit) {
                self.answer(&commit.answer, commit.owner, Err(failure));
                continue;
            }
            if group.as_ref().is_some_and(|g| g.overlaps(&commit.mutations)) {
                self.write_group(group.take(), &mut members);
                self.raise_floor();
                group = Some(self.mvcc.commit_group());
            }
            let current = group.as_mut().expect("a group is always open here");
            let commit_ts = self.hlc.now();
            let start_ts = commit.start_ts.map(Timestamp::from).filter(|s| *s < commit_ts).unwrap_or(commit_ts.prev());
            let keys: Vec<Vec<u8>> = commit.mutations.iter().map(|(m, _)| m.key().to_vec()).collect();
            match current.add(commit.raw, &commit.mutations, start_ts, commit_ts) {
                Ok(()) => {
                    self.remember_writes(commit_ts, &commit.mutations, &commit.dropped, keys);
                    members.push((commit.answer, commit.owner, commit_ts));
                }
                Err(e) => self.answer(&commit.answer, commit.owner, Err(e.into())),
            }
        }
        self.write_group(group, &mut members);
    }

    /// Takes the next group's floor from the clock, before the group picks
    /// any commit timestamp.
    fn raise_floor(&self) {
        let mut state = self.commits.state();
        state.floor = Some(self.hlc.now());
    }

    /// Writes a group with one sync and answers its members. The floor
    /// goes first: a member's row locks go with its answer, and whoever
    /// locks such a row next must get a fresh timestamp above the member's
    /// commit.
    fn write_group(&self, group: Option<CommitGroup<'_, E>>, members: &mut Vec<(Answer, Owner, Timestamp)>) {
        let written = group.map_or(Ok(()), CommitGroup::write);
        if members.len() > 1 {
            tracing::debug!(commits = members.len(), "group committed");
        }
        self.commits.state().floor = None;
        for (answer, owner, commit_ts) in members.drain(..) {
            let reply = match &written {
                Ok(()) => Ok(response::Kind::Committed(Committed { commit_ts: Some(commit_ts.into()) })),
                Err(e) => Err(Failure(ErrorCode::Io, e.to_string())),
            };
            self.answer(&answer, owner, reply);
        }
    }

    /// Ends a member's transaction (its locks go: a failed commit aborts
    /// it) and tells it how its commit went.
    fn answer(&self, answer: &Answer, owner: Owner, reply: Reply) {
        self.end_transaction(owner);
        // A caller that stopped waiting (its connection is gone) needs no answer.
        let _ = answer.send(Outcome::Done(respond(reply)));
    }

    /// SERIALIZABLE: fails a commit whose reads were written since its
    /// snapshot (the recent-writes log, or the stored versions for a
    /// snapshot older than the log).
    fn validate_reads(&self, commit: &PendingCommit) -> Result<(), Failure> {
        let Some(read_ts) = commit.read_ts.map(Timestamp::from) else { return Ok(()) };
        if commit.mutations.is_empty() {
            return Ok(());
        }
        let spans: Vec<_> = commit.read_spans.iter().map(|s| (s.start.clone(), s.end.clone())).collect();
        let stale = match self.recent_writes().1.conflicts(read_ts, &spans) {
            Some(stale) => stale,
            // Too old for the log: walk the stored versions instead (none
            // above a pinned snapshot has been collected).
            None => {
                let start_ts = commit.start_ts.map(Timestamp::from).unwrap_or(read_ts);
                match self.mvcc.refresh(&spans, start_ts, read_ts, Timestamp::MAX) {
                    Ok(()) => false,
                    Err(TxnError::ReadConflict { .. }) => true,
                    Err(e) => return Err(e.into()),
                }
            }
        };
        if stale {
            return Err(Failure(
                ErrorCode::SerializationFailure,
                "could not serialize access due to read/write dependencies among transactions".into(),
            ));
        }
        Ok(())
    }

    /// Notes a commit's writes: as recent writes for later validations,
    /// and overwrites and deletes as versions to collect — except in the
    /// ranges it deleted wholesale (`dropped`), which hold nothing left to
    /// collect, neither queued nor taken by a collection running now.
    /// Collecting there would also be slow: until RocksDB flushes its
    /// memtable, every read landing in a range deleted there steps over
    /// each key the deletion covers, one by one — per key collected (a
    /// dropped index's 60,000 entries made one collection, holding the
    /// MVCC latch, take minutes).
    fn remember_writes(
        &self,
        commit_ts: Timestamp,
        mutations: &[(Mutation, Option<Timestamp>)],
        dropped: &[(Vec<u8>, Vec<u8>)],
        mut keys: Vec<Vec<u8>>,
    ) {
        let mut garbage = lock(&self.garbage);
        if !dropped.is_empty() {
            lock(&self.dropped).extend(dropped.iter().cloned());
            garbage.retain(|key| !super::in_ranges(key, dropped));
        }
        if mutations.is_empty() {
            return;
        }
        for (mutation, seen_at) in mutations {
            if seen_at.is_some() || matches!(mutation, Mutation::Delete(_) | Mutation::Moved(_)) {
                garbage.insert(mutation.key().to_vec());
            }
        }
        drop(garbage);
        keys.sort_unstable();
        self.recent_writes().1.record(commit_ts, keys);
        tracing::debug!(%commit_ts, "committed");
    }
}

/// The reply of a commit whose group never answered (its leader failed).
pub fn unanswered() -> Response {
    Failure(ErrorCode::Io, "the commit group did not answer".into()).into()
}

/// A commit's ops as raw engine writes, checked MVCC mutations, and the
/// versioned user key ranges deleted wholesale.
fn parse(ops: Vec<Op>) -> Result<(WriteBatch, Checked, Vec<(Vec<u8>, Vec<u8>)>), Failure> {
    let mut raw = WriteBatch::new();
    let mut mutations = Vec::new();
    let mut dropped = Vec::new();
    for op in ops {
        let kind = OpKind::try_from(op.kind)
            .map_err(|_| Failure(ErrorCode::InvalidInput, format!("unknown write kind {}", op.kind)))?;
        let seen_at = op.seen_at.map(Timestamp::from);
        match (kind, is_versioned(&op.key)) {
            (OpKind::Put, true) => mutations.push((Mutation::Put(op.key, op.value), seen_at)),
            (OpKind::Delete, true) => mutations.push((Mutation::Delete(op.key), seen_at)),
            (OpKind::Moved, true) => mutations.push((Mutation::Moved(op.key), seen_at)),
            // A dropped or truncated table: every version of its rows.
            (OpKind::DeleteRange, true) => {
                let (start, end) = user_range(&op.key, &op.value);
                raw.push(WriteOp::DeleteRange { start, end });
                dropped.push((op.key, op.value));
            }
            (OpKind::Put, false) => raw.push(WriteOp::Put { key: op.key, value: op.value }),
            (OpKind::Delete | OpKind::Moved, false) => raw.push(WriteOp::Delete { key: op.key }),
            (OpKind::DeleteRange, false) => raw.push(WriteOp::DeleteRange { start: op.key, end: op.value }),
        }
    }
    Ok((raw, mutations, dropped))
}
