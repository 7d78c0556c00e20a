//! [`RaftLoop`]: the thread that drives a node's [`Store`].
//!
//! The store is single-threaded and does blocking I/O (fsync), so it gets a
//! thread of its own rather than a tokio task. Everything reaches it as an
//! [`Input`] on one channel — Raft messages from the transport, proposals
//! and reads from the key-value service — and each turn of the loop takes
//! *all* inputs waiting before it runs one ready round: proposals that
//! arrive together share one fsync (group commit across clients and
//! ranges).
//!
//! ```text
//!  transport ─┐                                   ┌─► Outbox (per-peer queues)
//!  kv service ┼─► inputs ─► [ step / propose / read ─ tick ─ ready round ]
//!             │                                   └─► replies (oneshot)
//! ```
//!
//! A proposal is answered once this node *applies* it (the writes are in
//! its engine), or with the leader to ask instead, or with a refusal
//! (nothing written); if it never applies within [`PATIENCE`] (leadership
//! lost mid-way) its answer is dropped: the caller's outcome is unknown. A read is served once the replica has
//! applied up to its ReadIndex point.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lyra_engine::keys::RangeId;
use raft::eraftpb::MessageType;
use tokio::sync::oneshot;

use lyra_engine::hlc::Hlc;

use super::replicated::{RangeServing, Serving};
use super::{Command, Envelope, Event, ProposeError, Store};

/// How long a proposal or read waits before its caller is told to retry.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// How a read of a key no replica here holds is refused.
pub const NO_RANGE: &str = "no range holds the key on this node";

/// Where the loop sends each round's messages: one batch per peer. Must not
/// block; `false` means the peer's queue is full or unknown (the batch is
/// dropped, and Raft is told the peer is unreachable).
pub trait Outbox: Send + 'static {
    fn send(&self, to: u64, batch: Vec<Envelope>) -> bool;
}

/// What a proposal came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Proposed {
    /// Applied at this log index.
    Applied { index: u64 },
    /// This node does not lead the range; `leader` may.
    NotLeader { leader: Option<u64> },
    /// Refused: nothing was written.
    Failed(String),
}

/// What a membership change came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Changed {
    /// Applied: the range's voters now.
    Voters(Vec<u64>),
    NotLeader { leader: Option<u64> },
    Failed(String),
}

/// What a split came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Split {
    /// Applied: the new range holds the keys from the split key on.
    Done { new_range: RangeId },
    NotLeader { leader: Option<u64> },
    Failed(String),
}

/// A linearizable read's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadValue {
    pub value: Option<Vec<u8>>,
    pub read_index: u64,
}

/// One range as this node sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeInfo {
    pub range: RangeId,
    pub leader: Option<u64>,
    pub is_leader: bool,
    pub term: u64,
    pub commit: u64,
    pub applied: u64,
    pub voters: Vec<u64>,
    /// Voters and learners, incoming and outgoing (mid-change).
    pub members: Vec<u64>,
    /// The replica holds the range's data (not only a leader's first
    /// message yet).
    pub initialized: bool,
    /// The range's keys: `[start, end)`, end empty = unbounded.
    pub span: (Vec<u8>, Vec<u8>),
    /// Snapshots applied to this replica since the loop started.
    pub snapshots_applied: u64,
}

pub enum Input {
    Raft(Vec<Envelope>),
    /// A command for `range`, or (`None`) for the range that holds its
    /// first key here; with a `term`, only if this node leads the range in
    /// that term (a command evaluated under one leadership must not be
    /// proposed under a later one).
    Propose { range: Option<RangeId>, term: Option<u64>, command: Command, reply: oneshot::Sender<Proposed> },
    /// A read of `key` from `range`, or (`None`) from the range holding it.
    Read { range: Option<RangeId>, key: Vec<u8>, reply: oneshot::Sender<Result<ReadValue, String>> },
    Status { reply: oneshot::Sender<(Vec<RangeInfo>, super::store::StoreStats)> },
    /// Adds and removes voters of a range (on its leader); answered once
    /// the leader applied a configuration without the joint part.
    ChangeMembers { range: RangeId, add: Vec<u64>, remove: Vec<u64>, reply: oneshot::Sender<Changed> },
    TransferLeader { range: RangeId, to: u64, reply: oneshot::Sender<Result<(), Option<u64>>> },
    /// Splits a range at `key` (on its leader); answered with the new
    /// range once applied here.
    Split { range: RangeId, key: Vec<u8>, reply: oneshot::Sender<Split> },
    /// The transport's word on a snapshot it carried (or failed to).
    Snapshot { range: RangeId, to: u64, delivered: bool },
    /// Deletes this node's replica of `range`, which is no member of it
    /// any more (its leader said so); `false`: not deleted (no such
    /// replica, or it leads).
    Forget { range: RangeId, reply: oneshot::Sender<bool> },
    Stop,
}

/// A running loop; [`RaftLoop::stop`] ends it.
pub struct RaftLoop {
    inputs: mpsc::Sender<Input>,
    thread: Option<JoinHandle<()>>,
}

/// The loop's input channel, made before the loop so that the transport
/// (which the loop sends through) can hold a sender too.
pub fn inputs() -> (mpsc::Sender<Input>, mpsc::Receiver<Input>) {
    mpsc::channel()
}

/// What the loop tells the rest of the node after each turn.
#[derive(Default, Clone)]
pub struct LoopHooks {
    /// Which ranges this node may serve, and until when.
    pub serving: Option<Arc<Serving>>,
    /// The node's clock, moved past every applied command's clock.
    pub clock: Option<Arc<Hlc>>,
    /// The nodes' addresses, read again from the engine every tick.
    pub directory: Option<Arc<super::directory::Directory>>,
}

impl RaftLoop {
    /// Starts the loop on its own thread; `tick` is Raft's logical clock.
    pub fn start(
        store: Store,
        outbox: impl Outbox,
        tick: Duration,
        inputs: (mpsc::Sender<Input>, mpsc::Receiver<Input>),
    ) -> RaftLoop {
        RaftLoop::start_with(store, outbox, tick, inputs, LoopHooks::default())
    }

    /// [`RaftLoop::start`], telling `hooks` what changed after each turn.
    pub fn start_with(
        store: Store,
        outbox: impl Outbox,
        tick: Duration,
        (inputs, receiver): (mpsc::Sender<Input>, mpsc::Receiver<Input>),
        hooks: LoopHooks,
    ) -> RaftLoop {
        let node = store.node();
        let mut state = LoopState {
            hooks,
            tick,
            ticked_at: VecDeque::from([(store.ticks(), Instant::now())]),
            store,
            outbox,
            proposals: HashMap::new(),
            reads: HashMap::new(),
            snapshots_applied: HashMap::new(),
            changes: Vec::new(),
            splits: HashMap::new(),
            next_id: node << 40,
        };
        let thread = std::thread::Builder::new()
            .name(format!("lyra-raft-{node}"))
            .spawn(move || state.run(receiver, tick))
            .expect("spawn the raft thread");
        RaftLoop { inputs, thread: Some(thread) }
    }

    /// A sender for the loop's inputs (the transport and services hold one).
    pub fn inputs(&self) -> mpsc::Sender<Input> {
        self.inputs.clone()
    }

    pub fn stop(mut self) {
        self.stop_thread();
    }

    fn stop_thread(&mut self) {
        let _ = self.inputs.send(Input::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for RaftLoop {
    fn drop(&mut self) {
        self.stop_thread();
    }
}


struct PendingChange {
    range: RangeId,
    add: Vec<u64>,
    remove: Vec<u64>,
    deadline: Instant,
    reply: oneshot::Sender<Changed>,
}

impl PendingChange {
    fn done_by(&self, conf: &raft::eraftpb::ConfState) -> bool {
        conf.voters_outgoing.is_empty()
            && self.add.iter().all(|id| conf.voters.contains(id))
            && self.remove.iter().all(|id| !conf.voters.contains(id))
    }
}

struct LoopState<O: Outbox> {
    hooks: LoopHooks,
    tick: Duration,
    /// When the store's recent ticks happened (a lease is counted from the
    /// tick its heartbeat round was sent at).
    ticked_at: VecDeque<(u64, Instant)>,
    store: Store,
    outbox: O,
    proposals: HashMap<u64, (Instant, oneshot::Sender<Proposed>)>,
    /// Reads the store serves, by id: their callers.
    reads: HashMap<u64, oneshot::Sender<Result<ReadValue, String>>>,
    snapshots_applied: HashMap<RangeId, u64>,
    changes: Vec<PendingChange>,
    /// Splits asked for, by command id: the new range, the deadline, the caller.
    splits: HashMap<u64, (RangeId, Instant, oneshot::Sender<Split>)>,
    /// Ids of proposals and reads: the node's id in the top bits, so ids
    /// never collide with another node's commands applied here.
    next_id: u64,
}

impl<O: Outbox> LoopState<O> {
    fn run(&mut self, receiver: mpsc::Receiver<Input>, tick: Duration) {
        let mut next_tick = Instant::now() + tick;
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            let first = match receiver.recv_timeout(wait) {
                Ok(input) => Some(input),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            };
            for input in first.into_iter().chain(std::iter::from_fn(|| receiver.try_recv().ok())) {
                if matches!(input, Input::Stop) {
                    return;
                }
                self.take(input);
            }
            if Instant::now() >= next_tick {
                self.store.tick();
                self.ticked_at.push_back((self.store.ticks(), Instant::now()));
                if self.ticked_at.len() > 256 {
                    self.ticked_at.pop_front();
                }
                next_tick = Instant::now() + tick;
                self.expire();
                if let Some(directory) = &self.hooks.directory {
                    directory.refresh_from(self.store.engine());
                }
            }
            if let Err(e) = self.ready() {
                // The disk failed: replicas may have promised what they did
                // not write. Stop the node rather than go on (DESIGN §5).
                tracing::error!(error = %e, "raft storage failed; stopping the node");
                std::process::abort();
            }
            self.publish();
        }
    }

    /// Tells the hooks what this turn changed: the clock first (a range
    /// served from now on may hold commits up to it), then the leases.
    fn publish(&mut self) {
        if let Some(clock) = &self.hooks.clock {
            let applied = self.store.applied_clock();
            if applied > clock.last() {
                if let Err(e) = clock.update(applied) {
                    tracing::warn!(error = %e, "an applied command's clock is ahead of this node's");
                }
            }
        }
        let Some(serving) = &self.hooks.serving else { return };
        let now_tick = self.store.ticks();
        let ranges = self
            .store
            .replicas()
            .filter(|r| r.is_initialized())
            .map(|r| {
                let (start, end) = r.span();
                // A lease counts from the instant its round was sent, in
                // real time: ticks may run late, never early.
                let lease_until = r.lease(now_tick).filter(|lease| r.applied() >= lease.index).and_then(|lease| {
                    let sent_at = self.ticked_at.iter().find(|(tick, _)| *tick == lease.sent)?.1;
                    Some(sent_at + self.tick * (lease.until - lease.sent) as u32)
                });
                RangeServing {
                    range: r.range(),
                    start: start.to_vec(),
                    end: end.to_vec(),
                    term: r.term(),
                    leader: r.leader(),
                    lease_until,
                }
            })
            .collect();
        serving.publish(ranges);
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn take(&mut self, input: Input) {
        match input {
            Input::Raft(envelopes) => {
                for envelope in envelopes {
                    if let Err(e) = self.store.step(envelope) {
                        tracing::warn!(error = %e, "raft message refused");
                    }
                }
            }
            Input::Propose { range, term, mut command, reply } => {
                command.id = self.id();
                let first_key = command.ops.first().map_or(&[][..], |op| &op.key[..]);
                let Some(range) = range.or_else(|| self.store.range_of(first_key)) else {
                    // No replica here holds the key: another node may.
                    let _ = reply.send(Proposed::NotLeader { leader: None });
                    return;
                };
                let in_one_range = self.store.replica(range).is_none_or(|replica| {
                    let (start, end) = replica.span();
                    command.ops.iter().all(|op| op.key.as_slice() >= start && op.key.as_slice() < end)
                });
                if !in_one_range {
                    let why = "the keys lie in more than one range (writes across ranges are not built yet)";
                    let _ = reply.send(Proposed::Failed(why.into()));
                    return;
                }
                if let (Some(term), Some(replica)) = (term, self.store.replica(range)) {
                    if replica.term() != term {
                        let _ = reply.send(Proposed::NotLeader { leader: replica.leader() });
                        return;
                    }
                }
                match self.store.propose(range, &command) {
                    Ok(()) => {
                        self.proposals.insert(command.id, (Instant::now() + PATIENCE, reply));
                    }
                    Err(ProposeError::NotLeader { leader, .. }) => {
                        let _ = reply.send(Proposed::NotLeader { leader });
                    }
                    Err(e) => {
                        let _ = reply.send(Proposed::Failed(e.to_string()));
                    }
                }
            }
            Input::Read { range, key, reply } => {
                let id = self.id();
                let Some(range) = range.or_else(|| self.store.range_of(&key)) else {
                    let _ = reply.send(Err(NO_RANGE.into()));
                    return;
                };
                match self.store.read(range, key, id.to_be_bytes().to_vec()) {
                    Ok(()) => {
                        self.reads.insert(id, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e.to_string()));
                    }
                }
            }
            Input::Status { reply } => {
                let ranges = self
                    .store
                    .replicas()
                    .map(|r| RangeInfo {
                        range: r.range(),
                        leader: r.leader(),
                        is_leader: r.is_leader(),
                        term: r.term(),
                        commit: r.commit_index(),
                        applied: r.applied(),
                        voters: sorted(&r.conf_state().voters),
                        members: members(r.conf_state()),
                        initialized: r.is_initialized(),
                        span: (r.span().0.to_vec(), r.span().1.to_vec()),
                        snapshots_applied: self.snapshots_applied.get(&r.range()).copied().unwrap_or(0),
                    })
                    .collect();
                let _ = reply.send((ranges, self.store.stats().clone()));
            }
            Input::ChangeMembers { range, add, remove, reply } => {
                let mut change = raft::eraftpb::ConfChangeV2::default();
                for (ids, kind) in [(&add, raft::eraftpb::ConfChangeType::AddNode), (&remove, raft::eraftpb::ConfChangeType::RemoveNode)] {
                    for &id in ids {
                        let mut single = raft::eraftpb::ConfChangeSingle::default();
                        single.set_change_type(kind);
                        single.node_id = id;
                        change.mut_changes().push(single);
                    }
                }
                let pending = PendingChange { range, add, remove, deadline: Instant::now() + PATIENCE, reply };
                if let Some(replica) = self.store.replica(range) {
                    if pending.done_by(replica.conf_state()) {
                        let _ = pending.reply.send(Changed::Voters(sorted(&replica.conf_state().voters)));
                        return;
                    }
                }
                // raft-rs drops a change while another is pending, without
                // an error: the deadline answers that case.
                match self.store.propose_conf_change(range, change) {
                    Ok(()) => self.changes.push(pending),
                    Err(ProposeError::NotLeader { leader, .. }) => {
                        let _ = pending.reply.send(Changed::NotLeader { leader });
                    }
                    Err(e) => {
                        let _ = pending.reply.send(Changed::Failed(e.to_string()));
                    }
                }
            }
            Input::TransferLeader { range, to, reply } => {
                let answer = match self.store.replica(range) {
                    Some(replica) if replica.is_leader() => self.store.transfer_leader(range, to).map_err(|_| None),
                    Some(replica) => Err(replica.leader()),
                    None => Err(None),
                };
                let _ = reply.send(answer);
            }
            Input::Split { range, key, reply } => {
                let id = self.id();
                match self.store.propose_split(range, key, id) {
                    Ok(new_range) => {
                        self.splits.insert(id, (new_range, Instant::now() + PATIENCE, reply));
                    }
                    Err(ProposeError::NotLeader { leader, .. }) => {
                        let _ = reply.send(Split::NotLeader { leader });
                    }
                    Err(e) => {
                        let _ = reply.send(Split::Failed(e.to_string()));
                    }
                }
            }
            Input::Snapshot { range, to, delivered } => self.store.report_snapshot(range, to, delivered),
            Input::Forget { range, reply } => {
                let _ = reply.send(self.store.forget(range));
            }
            Input::Stop => {}
        }
    }

    /// Ready rounds until the store has nothing more to do.
    fn ready(&mut self) -> raft::Result<()> {
        loop {
            let mut out = Vec::new();
            let events = self.store.handle_ready(&mut out)?;
            if out.is_empty() && events.is_empty() {
                return Ok(());
            }
            self.route(out);
            for event in events {
                self.answer(event);
            }
        }
    }

    /// Hands each peer its messages in one batch.
    fn route(&mut self, out: Vec<Envelope>) {
        let mut by_peer: BTreeMap<u64, Vec<Envelope>> = BTreeMap::new();
        for envelope in out {
            by_peer.entry(envelope.message.to).or_default().push(envelope);
        }
        for (to, batch) in by_peer {
            let lost: Vec<(RangeId, bool)> =
                batch.iter().map(|e| (e.range, e.message.get_msg_type() == MessageType::MsgSnapshot)).collect();
            if !self.outbox.send(to, batch) {
                for (range, snapshot) in lost {
                    if snapshot {
                        self.store.report_snapshot(range, to, false);
                    }
                    self.store.report_unreachable(range, to);
                }
            }
        }
    }

    fn answer(&mut self, event: Event) {
        match event {
            Event::Applied { id, outcome, .. } if self.splits.contains_key(&id) => {
                let (new_range, _, reply) = self.splits.remove(&id).expect("checked above");
                let _ = reply.send(match outcome {
                    Ok(()) => Split::Done { new_range },
                    Err(why) => Split::Failed(why),
                });
            }
            Event::Applied { id, index, outcome, .. } => {
                if let Some((_, reply)) = self.proposals.remove(&id) {
                    let _ = reply.send(match outcome {
                        Ok(()) => Proposed::Applied { index },
                        Err(why) => Proposed::Failed(why),
                    });
                }
            }
            Event::Read { context, value, index, .. } => {
                if let Some(reply) = read_id(&context).and_then(|id| self.reads.remove(&id)) {
                    let _ = reply.send(Ok(ReadValue { value, read_index: index }));
                }
            }
            Event::ReadFailed { context, why, .. } => {
                if let Some(reply) = read_id(&context).and_then(|id| self.reads.remove(&id)) {
                    let _ = reply.send(Err(why));
                }
            }
            Event::ReadIndex { .. } => {}
            Event::SnapshotApplied { range, .. } => *self.snapshots_applied.entry(range).or_default() += 1,
            Event::ConfChanged { range, conf_state, .. } => {
                for change in std::mem::take(&mut self.changes) {
                    if change.range == range && change.done_by(&conf_state) {
                        let _ = change.reply.send(Changed::Voters(sorted(&conf_state.voters)));
                    } else {
                        self.changes.push(change);
                    }
                }
            }
            Event::Removed { .. } => {}
            Event::Split { range, new_range, index, .. } => tracing::info!(range, new_range, index, "range split"),
        }
    }

    /// Answers what waited too long: the caller retries.
    fn expire(&mut self) {
        let now = Instant::now();
        self.proposals.retain(|_, (deadline, _)| *deadline > now);
        self.splits.retain(|_, (_, deadline, _)| *deadline > now);
        for change in std::mem::take(&mut self.changes) {
            if change.deadline <= now {
                let _ = change.reply.send(Changed::Failed("not applied in time (another change pending?); retry".into()));
            } else {
                self.changes.push(change);
            }
        }
    }
}

/// Every member of a configuration, once.
fn members(conf: &raft::eraftpb::ConfState) -> Vec<u64> {
    let all = [&conf.voters, &conf.voters_outgoing, &conf.learners, &conf.learners_next];
    let mut ids: Vec<u64> = all.into_iter().flatten().copied().collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

fn sorted(ids: &[u64]) -> Vec<u64> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids
}

/// The id of a read from its context.
fn read_id(context: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(context).ok().map(u64::from_be_bytes)
}
