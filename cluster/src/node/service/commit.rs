//! Commits, in groups: concurrent commits share one write and one fsync.
//!
//! Every commit must pick its timestamp and be written under the commit
//! latch (see the service's module comment), and a durable write costs an
//! fsync — milliseconds, against microseconds for everything else. One
//! commit per fsync caps the node at a few hundred commits a second
//! however many backends wait. So a commit queues itself, then takes the
//! latch; whoever gets it first is the leader and commits everything
//! queued by then, its own commit included:
//!
//! ```text
//!   backend 1  queue ─ latch ──────────── (leader) ─────────────┐
//!   backend 2  queue ─ latch (waits) ·······························► answered already
//!   backend 3  queue ─ latch (waits) ·······························► answered already
//!                      for each queued commit, in order:
//!                        SERIALIZABLE read validation (recent writes)
//!                        commit_ts = hlc.now(); checks against seen_at
//!                        its writes join the group's batch; its keys
//!                        become recent writes (later members see them)
//!                      one atomic batch, one fsync; answer every member
//! ```
//!
//! A member whose checks fail is answered with its error and adds
//! nothing. The checks read the stored data, not the group's batch, so a
//! commit writing a key an earlier member of the group writes starts a new
//! group after the current one is written (row locks make that rare: two
//! transactions write one row only one after the other). Readers taking a
//! fresh timestamp wait for the latch, as before, so a read never sees a
//! commit that is not yet durable.

use std::sync::{Arc, Mutex};

use lyra_engine::hlc::Timestamp;
use lyra_engine::keys::is_versioned;
use lyra_engine::mvcc::keys::user_range;
use lyra_engine::mvcc::{CommitGroup, Mutation};
use lyra_engine::storage::{Engine, WriteBatch, WriteOp};
use lyra_engine::TxnError;

use super::{lock, Failure, Reply, Service};
use crate::protocol::{response, Committed, ErrorCode, Op, OpKind, Span, Ts};

/// A commit waiting for the group that writes it.
pub(super) struct PendingCommit {
    /// Writes outside the MVCC keyspace (catalog, dropped tables' ranges).
    raw: WriteBatch,
    mutations: Checked,
    start_ts: Option<Ts>,
    /// SERIALIZABLE: the snapshot its reads were at, and what it read.
    read_ts: Option<Ts>,
    read_spans: Vec<Span>,
    answer: Answer,
}

/// Where the leader leaves a member's reply.
type Answer = Arc<Mutex<Option<Reply>>>;

/// A commit's MVCC writes, each with the timestamp its transaction last
/// saw the row at.
type Checked = Vec<(Mutation, Option<Timestamp>)>;

impl<E: Engine> Service<E> {
    /// Applies a transaction's writes in one atomic batch at a fresh commit
    /// timestamp, after the checks, in whichever group writes it.
    pub(super) fn apply_commit(
        &self,
        ops: Vec<Op>,
        start_ts: Option<Ts>,
        read_ts: Option<Ts>,
        read_spans: Vec<Span>,
    ) -> Reply {
        let (raw, mutations) = parse(ops)?;
        let answer: Answer = Arc::default();
        let pending = PendingCommit { raw, mutations, start_ts, read_ts, read_spans, answer: Arc::clone(&answer) };
        lock(&self.commit_queue).push(pending);
        let _latch = lock(&self.commit_latch);
        if let Some(reply) = lock(&answer).take() {
            return reply;
        }
        let queued = std::mem::take(&mut *lock(&self.commit_queue));
        self.commit_queued(queued);
        let reply = lock(&answer).take();
        reply.unwrap_or_else(|| Err(Failure(ErrorCode::Io, "the commit group did not answer".into())))
    }

    /// Commits `queued`, in order, in as few groups as their keys allow,
    /// and answers each. Runs under the commit latch.
    fn commit_queued(&self, queued: Vec<PendingCommit>) {
        let mut group = Some(self.mvcc.commit_group());
        let mut members: Vec<(Answer, Timestamp)> = Vec::new();
        for commit in queued {
            if let Err(failure) = self.validate_reads(&commit) {
                *lock(&commit.answer) = Some(Err(failure));
                continue;
            }
            if group.as_ref().is_some_and(|g| g.overlaps(&commit.mutations)) {
                self.write_group(group.take(), &mut members);
                group = Some(self.mvcc.commit_group());
            }
            let current = group.as_mut().expect("a group is always open here");
            let commit_ts = self.hlc.now();
            let start_ts = commit.start_ts.map(Timestamp::from).filter(|s| *s < commit_ts).unwrap_or(commit_ts.prev());
            let keys: Vec<Vec<u8>> = commit.mutations.iter().map(|(m, _)| m.key().to_vec()).collect();
            match current.add(commit.raw, &commit.mutations, start_ts, commit_ts) {
                Ok(()) => {
                    self.remember_writes(commit_ts, &commit.mutations, keys);
                    members.push((commit.answer, commit_ts));
                }
                Err(e) => *lock(&commit.answer) = Some(Err(e.into())),
            }
        }
        self.write_group(group, &mut members);
    }

    /// Writes a group with one sync and answers its members.
    fn write_group(&self, group: Option<CommitGroup<'_, E>>, members: &mut Vec<(Answer, Timestamp)>) {
        let written = group.map_or(Ok(()), CommitGroup::write);
        if members.len() > 1 {
            tracing::debug!(commits = members.len(), "group committed");
        }
        for (answer, commit_ts) in members.drain(..) {
            let reply = match &written {
                Ok(()) => Ok(response::Kind::Committed(Committed { commit_ts: Some(commit_ts.into()) })),
                Err(e) => Err(Failure(ErrorCode::Io, e.to_string())),
            };
            *lock(&answer) = Some(reply);
        }
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
    /// and overwrites and deletes as versions to collect.
    fn remember_writes(&self, commit_ts: Timestamp, mutations: &[(Mutation, Option<Timestamp>)], mut keys: Vec<Vec<u8>>) {
        if mutations.is_empty() {
            return;
        }
        let mut garbage = lock(&self.garbage);
        for (mutation, seen_at) in mutations {
            if seen_at.is_some() || matches!(mutation, Mutation::Delete(_)) {
                garbage.insert(mutation.key().to_vec());
            }
        }
        drop(garbage);
        keys.sort_unstable();
        self.recent_writes().1.record(commit_ts, keys);
        tracing::debug!(%commit_ts, "committed");
    }
}

/// A commit's ops as raw engine writes and checked MVCC mutations.
fn parse(ops: Vec<Op>) -> Result<(WriteBatch, Checked), Failure> {
    let mut raw = WriteBatch::new();
    let mut mutations = Vec::new();
    for op in ops {
        let kind = OpKind::try_from(op.kind)
            .map_err(|_| Failure(ErrorCode::InvalidInput, format!("unknown write kind {}", op.kind)))?;
        let seen_at = op.seen_at.map(Timestamp::from);
        match (kind, is_versioned(&op.key)) {
            (OpKind::Put, true) => mutations.push((Mutation::Put(op.key, op.value), seen_at)),
            (OpKind::Delete, true) => mutations.push((Mutation::Delete(op.key), seen_at)),
            // A dropped or truncated table: every version of its rows.
            (OpKind::DeleteRange, true) => {
                let (start, end) = user_range(&op.key, &op.value);
                raw.push(WriteOp::DeleteRange { start, end });
            }
            (OpKind::Put, false) => raw.push(WriteOp::Put { key: op.key, value: op.value }),
            (OpKind::Delete, false) => raw.push(WriteOp::Delete { key: op.key }),
            (OpKind::DeleteRange, false) => raw.push(WriteOp::DeleteRange { start: op.key, end: op.value }),
        }
    }
    Ok((raw, mutations))
}
