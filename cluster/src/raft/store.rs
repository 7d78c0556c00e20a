//! [`Store`]: every replica on one node, driven together.
//!
//! One tick drives all groups; one ready round collects every replica's
//! writes into one batch and makes one write — one fsync for all the groups
//! that must sync (group commit) — before any replica sends what depends on
//! it. Messages leave as [`Envelope`]s (range + raft-rs message) for the
//! transport to carry; the [`Event`]s of a round say what was applied.
//!
//! A message for a range the node has no replica of creates an empty one
//! when it comes from the range's leader (an append, heartbeat or
//! snapshot): that is how a node added to a range gets its replica, which
//! the leader then fills with a snapshot.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use lyra_engine::hlc::Timestamp;
use lyra_engine::keys::{Key, KeyPrefix, RangeId};
use lyra_engine::storage::{Engine, Step, WriteBatch};
use protobuf::Message as _;
use raft::eraftpb::{ConfChangeV2, MessageType};

use super::command::Command;
use super::log_store::LogStore;
use super::replica::{Replica, Round};
use super::{Envelope, Event, ProposeError, RaftConfig};

pub struct Store {
    node: u64,
    engine: Arc<dyn Engine>,
    config: RaftConfig,
    seed: u64,
    replicas: BTreeMap<RangeId, Replica>,
    /// Ranges this node was removed from (their tombstones).
    removed: std::collections::BTreeSet<RangeId>,
    stats: StoreStats,
    /// Ticks since the store opened (paces split proposals).
    ticks: u64,
    /// Picks new ranges' ids (seeded: the simulation replays).
    rng: rand::rngs::StdRng,
    /// Messages the store itself answers with (a refused snapshot), sent
    /// with the next round's.
    replies: Vec<Envelope>,
    /// Events the store makes itself (read points granted under a lease,
    /// reads given up), returned by the next round.
    pending_events: Vec<Event>,
    /// Reads asked for with [`Store::read`], by context.
    reads: HashMap<Vec<u8>, PendingRead>,
    /// The latest proposer clock of any command applied here.
    clock: Timestamp,
}

struct PendingRead {
    range: RangeId,
    key: Vec<u8>,
    /// The read point, once known.
    index: Option<u64>,
    /// The tick it was asked at.
    asked: u64,
}

/// Ticks a read waits for its read point before it is given up.
const READ_PATIENCE_TICKS: u64 = 50;

/// A snapshot's span, read from its data without decoding the pairs
/// (prost skips the fields this struct does not name).
#[derive(Clone, PartialEq, prost::Message)]
struct SnapshotSpan {
    #[prost(bytes = "vec", tag = "1")]
    start: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    end: Vec<u8>,
}

/// Ticks a leader waits for its split to apply before it proposes again.
const SPLIT_RETRY_TICKS: u64 = 50;

/// Where a store's time goes, counted since it opened.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreStats {
    /// Ready rounds run.
    pub rounds: u64,
    /// Engine writes with fsync, and the time they took.
    pub synced_writes: u64,
    pub synced_micros: u64,
    /// Engine writes without fsync (applied commands, commit indexes).
    pub unsynced_writes: u64,
    pub unsynced_micros: u64,
    /// Commands applied, on this node.
    pub commands_applied: u64,
    /// Reads given their read point under a leader lease (no heartbeat
    /// round), and through ReadIndex.
    pub lease_reads: u64,
    pub read_index_reads: u64,
    /// Raft messages handed to the transport.
    pub messages_sent: u64,
}

impl StoreStats {
    fn note_write(&mut self, synced: bool, took: std::time::Duration) {
        let micros = took.as_micros() as u64;
        if synced {
            self.synced_writes += 1;
            self.synced_micros += micros;
        } else {
            self.unsynced_writes += 1;
            self.unsynced_micros += micros;
        }
    }
}

fn engine_error(e: lyra_engine::Error) -> raft::Error {
    raft::Error::Store(raft::StorageError::Other(e.to_string().into()))
}

impl Store {
    /// The node's store with every replica it keeps in `engine`. `seed`
    /// seeds the replicas' election timeouts.
    pub fn open(node: u64, engine: Arc<dyn Engine>, config: RaftConfig, seed: u64) -> raft::Result<Store> {
        let mut store = Store { node, engine, config, seed, replicas: BTreeMap::new(),
            removed: Default::default(),
            stats: StoreStats::default(),
            ticks: 0,
            rng: rand::SeedableRng::seed_from_u64(seed ^ 0x5eed_5917),
            replies: Vec::new(),
            pending_events: Vec::new(),
            reads: HashMap::new(),
            clock: Timestamp::ZERO,
        };
        let (ranges, removed) = store.ranges_on_disk()?;
        store.removed = removed;
        for range in ranges {
            store.add_replica(range)?;
        }
        Ok(store)
    }

    /// The ranges this node keeps a replica of, and those it was removed
    /// from.
    fn ranges_on_disk(&self) -> raft::Result<(Vec<RangeId>, std::collections::BTreeSet<RangeId>)> {
        let (start, end) = KeyPrefix::Local.range();
        let mut ranges = Vec::new();
        let mut removed = std::collections::BTreeSet::new();
        self.engine
            .walk(&start, &end, &mut |key, _| {
                let (range, tombstone) = match Key::decode(key) {
                    Ok(Key::RaftTombstone { range }) => (range, true),
                    Ok(Key::RaftHardState { range } | Key::RaftApplyState { range } | Key::RaftLogEntry { range, .. }) => {
                        (range, false)
                    }
                    _ => return Step::Next,
                };
                if tombstone {
                    removed.insert(range);
                } else {
                    ranges.push(range);
                }
                // The range's other keys say nothing more: on to the next.
                match range.checked_add(1) {
                    Some(next) => Step::Seek(KeyPrefix::RangeLocal { range: next }.encode()),
                    None => Step::Stop,
                }
            })
            .map_err(engine_error)?;
        Ok((ranges, removed))
    }

    fn add_replica(&mut self, range: RangeId) -> raft::Result<&mut Replica> {
        let log = LogStore::open(range, self.engine.clone())?;
        let replica = Replica::new(self.node, log, &self.config, self.seed)?;
        Ok(self.replicas.entry(range).or_insert(replica))
    }

    pub fn node(&self) -> u64 {
        self.node
    }

    /// Creates this node's replica of a new range whose first members are
    /// `voters` (each of them bootstraps it alike), holding `[start, end)`.
    pub fn bootstrap_range(&mut self, range: RangeId, voters: &[u64], start: &[u8], end: &[u8]) -> raft::Result<()> {
        if self.replicas.contains_key(&range) {
            return Err(raft::Error::Exists { id: range, set: "ranges" });
        }
        let mut batch = WriteBatch::new();
        LogStore::bootstrap(range, voters, start, end, &mut batch);
        self.engine.write(&batch, true).map_err(engine_error)?;
        self.add_replica(range)?;
        Ok(())
    }

    /// The latest clock a proposer stamped on a command applied here: a
    /// node's hybrid clock must stay above it, since commits in the data
    /// it holds may be stamped up to it (a new leaseholder's commits must
    /// land above its predecessors').
    pub fn applied_clock(&self) -> Timestamp {
        self.clock
    }

    /// The engine the store keeps its replicas in.
    pub fn engine(&self) -> &dyn Engine {
        &*self.engine
    }

    /// Ticks since the store opened.
    pub fn ticks(&self) -> u64 {
        self.ticks
    }

    pub fn stats(&self) -> &StoreStats {
        &self.stats
    }

    /// Deletes this node's replica of `range` (with the next ready round,
    /// leaving a tombstone as a removal does) unless it leads: the range's
    /// leader said this node is no member, a removal it never heard of.
    pub fn forget(&mut self, range: RangeId) -> bool {
        match self.replicas.get_mut(&range) {
            Some(replica) if !replica.is_leader() => {
                replica.mark_removed();
                true
            }
            _ => false,
        }
    }

    /// Whether this node was removed from `range` (and must not recreate it).
    pub fn was_removed_from(&self, range: RangeId) -> bool {
        self.removed.contains(&range)
    }

    pub fn replica(&self, range: RangeId) -> Option<&Replica> {
        self.replicas.get(&range)
    }

    pub fn replicas(&self) -> impl Iterator<Item = &Replica> {
        self.replicas.values()
    }

    /// One tick of every group's logical clock; leaders of ranges that
    /// grew past `range_max_bytes` propose their split.
    pub fn tick(&mut self) {
        self.ticks += 1;
        self.expire_reads();
        let renew = self.ticks % self.config.heartbeat_tick.max(1) as u64 == 0;
        for replica in self.replicas.values_mut() {
            replica.tick();
            if renew {
                replica.renew_lease(self.ticks);
            }
            if replica.campaign_at.is_some_and(|at| at <= self.ticks) {
                replica.campaign_at = None;
                if replica.leader().is_none() {
                    if let Err(e) = replica.campaign() {
                        tracing::debug!(range = replica.range(), error = %e, "campaign of a new range failed");
                    }
                }
            }
        }
        if self.config.range_max_bytes > 0 {
            let ranges: Vec<RangeId> = self.replicas.keys().copied().collect();
            for range in ranges {
                if let Err(e) = self.maybe_split(range) {
                    tracing::warn!(range, error = %e, "split check failed");
                }
            }
        }
    }

    /// The key ranges this node holds a replica of, by span: the range
    /// that holds `key`, if any.
    pub fn range_of(&self, key: &[u8]) -> Option<RangeId> {
        self.replicas
            .values()
            .find(|r| {
                let (start, end) = r.span();
                r.is_initialized() && !end.is_empty() && key >= start && key < end
            })
            .map(|r| r.range())
    }

    /// Proposes a split of `range` (led here) at its middle key if its data
    /// outgrew `range_max_bytes`. The size is measured by a scan of the
    /// range, on this thread: only once the bytes written since the last
    /// measurement could have taken it past the limit, and never after
    /// less than a quarter of the limit was written (so a range that stays
    /// just under the limit by overwriting is scanned at most once per
    /// quarter of the limit written: at most 4 bytes read per byte
    /// written).
    fn maybe_split(&mut self, range: RangeId) -> lyra_engine::Result<()> {
        let max = self.config.range_max_bytes;
        let replica = self.replicas.get(&range).expect("listed by the caller");
        let waiting = replica.split_proposed_at.is_some_and(|at| self.ticks < at + SPLIT_RETRY_TICKS);
        let due = replica.grown >= max.saturating_sub(replica.measured).max(max / 4).max(1);
        if !replica.is_leader() || waiting || !due {
            return Ok(());
        }
        // Candidate split keys: the key at each 64th of the limit (so the
        // scan keeps a few dozen keys, not every key of the range), never
        // the range's first key (it would keep nothing).
        let (start, end) = replica.span();
        let range_start = start.to_vec();
        let every = (max / 64).max(1);
        let (mut size, mut next_sample) = (0u64, every);
        let mut samples: Vec<(Vec<u8>, u64)> = Vec::new();
        self.engine.scan_visit(start, end, usize::MAX, usize::MAX, &mut |key, value| {
            let first = size == 0;
            size += (key.len() + value.len()) as u64;
            if !first && size >= next_sample {
                samples.push((key.to_vec(), size));
                next_sample = size + every;
            }
            true
        })?;
        let replica = self.replicas.get_mut(&range).expect("listed by the caller");
        replica.grown = 0;
        replica.measured = size;
        if size <= max {
            return Ok(());
        }
        // The first sample past half the bytes, moved back to the start of
        // its row: every version of a row stays in one range.
        let Some(key) = samples
            .into_iter()
            .find(|(_, upto)| *upto * 2 >= size)
            .map(|(key, _)| row_boundary(key))
            .filter(|key| *key > range_start && !in_catalog(key))
        else {
            return Ok(()); // one key (or one row): nothing to split
        };
        match self.propose_split(range, key, 0) {
            Ok(new_range) => tracing::info!(range, new_range, size, "proposed a split"),
            Err(e) => tracing::debug!(range, error = %e, "split not proposed"),
        }
        Ok(())
    }

    /// Proposes splitting `range` at `key` (on its leader), as command
    /// `id`; the new range's id. The split is refused when applied unless
    /// `key` lies strictly inside the range, and at once if the catalog's
    /// keys would not all stay in range 1 (DESIGN §5).
    pub fn propose_split(&mut self, range: RangeId, key: Vec<u8>, id: u64) -> Result<RangeId, ProposeError> {
        if in_catalog(&key) {
            let reason = "the cluster catalog (keys below 'n') stays in range 1: split at 'n' or above".into();
            return Err(ProposeError::Dropped { range, reason });
        }
        // Ids below 2^53 read the same as SQL bigints and JSON numbers.
        let new_range = loop {
            let id: u64 = rand::Rng::gen_range(&mut self.rng, 2..1u64 << 53);
            if !self.replicas.contains_key(&id) && !self.removed.contains(&id) {
                break id;
            }
        };
        let ticks = self.ticks;
        let replica = self.replicas.get_mut(&range).ok_or(ProposeError::NoSuchRange { range })?;
        replica.split_proposed_at = Some(ticks);
        replica.propose(&Command::split(id, new_range, key))?;
        Ok(new_range)
    }

    /// Hands a message from another node to its replica (creating an empty
    /// one for a leader's message to a range this node does not have yet,
    /// or was removed from, in a term at or after its removal: added
    /// back). Other messages for removed replicas, and messages from peers
    /// the group does not know, are dropped, as a network may drop them.
    pub fn step(&mut self, envelope: Envelope) -> raft::Result<()> {
        let Envelope { range, message } = envelope;
        if message.to != self.node {
            return Ok(());
        }
        match message.get_msg_type() {
            // Another node refused (or took) a snapshot this one sent.
            MessageType::MsgSnapStatus => {
                self.report_snapshot(range, message.from, !message.reject);
                return Ok(());
            }
            MessageType::MsgSnapshot if self.overlaps_another(range, &message) => {
                // This node's replica of the range that split has not
                // applied the split yet: the snapshot would overlap it.
                // Refuse, so that the leader tries again later.
                let mut refusal = raft::eraftpb::Message::default();
                refusal.set_msg_type(MessageType::MsgSnapStatus);
                refusal.from = self.node;
                refusal.to = message.from;
                refusal.reject = true;
                self.replies.push(Envelope { range, message: refusal });
                return Ok(());
            }
            _ => {}
        }
        if !self.replicas.contains_key(&range) {
            let from_leader = matches!(
                message.get_msg_type(),
                MessageType::MsgAppend | MessageType::MsgHeartbeat | MessageType::MsgSnapshot
            );
            if !from_leader || (self.removed.contains(&range) && !self.revive(range, message.term)?) {
                return Ok(());
            }
            self.add_replica(range)?;
        }
        let replica = self.replicas.get_mut(&range).expect("added above");
        let mut message = message;
        if message.get_msg_type() == MessageType::MsgHeartbeat && message.commit > replica.last_index() {
            // A heartbeat sent to this node's previous replica of the range
            // (before its removal; replica ids are node ids) carries how far
            // that one had the log; raft-rs would panic on it. Entries this
            // replica has came from this leader or a later one (a heartbeat
            // of an older term is ignored), so they may be committed, and
            // no further.
            message.commit = replica.last_index();
        }
        match replica.step(message) {
            Ok(()) | Err(raft::Error::StepPeerNotFound) | Err(raft::Error::StepLocalMsg) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// A leader of `range` in `term` talks to this node, which was removed
    /// from the range: if `term` is not older than the removal, the node
    /// was added back. Its tombstone goes, and its new (empty) replica
    /// starts from the term and vote it had, never voting twice in a term.
    /// A tombstone without them (written before they were kept) stays.
    fn revive(&mut self, range: RangeId, term: u64) -> raft::Result<bool> {
        let key = Key::RaftTombstone { range }.encode();
        let tombstone = self.engine.get(&key).map_err(engine_error)?.unwrap_or_default();
        if tombstone.is_empty() {
            return Ok(false);
        }
        let removed_at = raft::eraftpb::HardState::parse_from_bytes(&tombstone)?;
        if term < removed_at.term {
            return Ok(false);
        }
        let mut hard_state = raft::eraftpb::HardState::default();
        hard_state.term = removed_at.term;
        hard_state.vote = removed_at.vote;
        let mut batch = WriteBatch::new();
        batch.delete(key);
        batch.put(Key::RaftHardState { range }.encode(), hard_state.write_to_bytes()?);
        self.engine.write(&batch, true).map_err(engine_error)?;
        self.removed.remove(&range);
        tracing::info!(range, term, "added back to a range it was removed from");
        Ok(true)
    }

    fn replica_mut(&mut self, range: RangeId) -> Result<&mut Replica, ProposeError> {
        self.replicas.get_mut(&range).ok_or(ProposeError::NoSuchRange { range })
    }

    /// Proposes a command to `range`: it is replicated, and its
    /// [`Event::Applied`] reports it once applied here. Only a leader takes
    /// proposals; the error names the leader if this replica knows it.
    pub fn propose(&mut self, range: RangeId, command: &Command) -> Result<(), ProposeError> {
        self.replica_mut(range)?.propose(command)
    }

    /// Proposes a configuration change (one change, or several entered
    /// and left through a joint configuration).
    pub fn propose_conf_change(&mut self, range: RangeId, change: ConfChangeV2) -> Result<(), ProposeError> {
        self.replica_mut(range)?.propose_conf_change(change)
    }

    /// Asks the leader of `range` here to hand leadership to `to`.
    pub fn transfer_leader(&mut self, range: RangeId, to: u64) -> Result<(), ProposeError> {
        self.replica_mut(range)?.transfer_leader(to);
        Ok(())
    }

    /// The transport's word on a snapshot this node sent to `to`: a
    /// leader waits for it before it sends that follower anything more, so
    /// a transport must report every snapshot it took, delivered or not.
    pub fn report_snapshot(&mut self, range: RangeId, to: u64, delivered: bool) {
        if let Some(replica) = self.replicas.get_mut(&range) {
            replica.report_snapshot(to, delivered);
        }
    }

    /// The transport could not reach `to`: the leader stops streaming
    /// appends to it and probes instead.
    pub fn report_unreachable(&mut self, range: RangeId, to: u64) {
        if let Some(replica) = self.replicas.get_mut(&range) {
            replica.report_unreachable(to);
        }
    }

    /// Asks `range` for a linearizable read point; see
    /// [`Event::ReadIndex`]. Works on followers too (the leader answers).
    /// A leader holding its lease grants it at once, at its commit index;
    /// any other replica asks the leader (Raft's ReadIndex).
    pub fn read_index(&mut self, range: RangeId, context: Vec<u8>) -> Result<(), ProposeError> {
        let now = self.ticks;
        let replica = self.replica_mut(range)?;
        if replica.holds_lease(now) {
            let index = replica.commit_index();
            self.pending_events.push(Event::ReadIndex { range, index, context });
            self.stats.lease_reads += 1;
        } else {
            replica.read_index(context);
            self.stats.read_index_reads += 1;
        }
        Ok(())
    }

    /// Starts an election for `range` now.
    pub fn campaign(&mut self, range: RangeId) -> raft::Result<()> {
        match self.replicas.get_mut(&range) {
            Some(replica) => replica.campaign(),
            None => Err(raft::Error::Store(raft::StorageError::Unavailable)),
        }
    }

    /// Whether a snapshot for `range` covers keys another replica here holds.
    fn overlaps_another(&self, range: RangeId, message: &raft::eraftpb::Message) -> bool {
        let Ok(span) = <SnapshotSpan as prost::Message>::decode(&message.get_snapshot().data[..]) else { return false };
        self.replicas.values().any(|r| {
            let (start, end) = r.span();
            r.range() != range && r.is_initialized() && !end.is_empty() && span.start.as_slice() < end && start < span.end.as_slice()
        })
    }

    /// Creates this node's replicas of ranges split off in a round (unless
    /// one exists already: created by a message of the new range's leader,
    /// it gets a snapshot instead). A crash before this leaves the new
    /// range to be filled by snapshot too.
    fn create_split_ranges(&mut self, splits: Vec<super::replica::NewRange>) -> raft::Result<()> {
        for new in splits {
            if self.replicas.contains_key(&new.range) || self.removed.contains(&new.range) {
                continue;
            }
            let mut batch = WriteBatch::new();
            LogStore::bootstrap(new.range, &new.voters, &new.start, &new.end, &mut batch);
            self.engine.write(&batch, true).map_err(engine_error)?;
            let ticks = self.ticks;
            let replica = self.add_replica(new.range)?;
            if new.campaign {
                // A tick or two for the other members to apply the split
                // too (their replicas do not exist before, and would not
                // hear the vote request).
                replica.campaign_at = Some(ticks + 2);
            }
        }
        Ok(())
    }

    /// One ready round for every replica (see [`Replica`]): their messages
    /// go to `out`, what they applied comes back. An error here is the
    /// disk's: the node must stop, not go on with replicas that may have
    /// promised what they did not write.
    pub fn handle_ready(&mut self, out: &mut Vec<Envelope>) -> raft::Result<Vec<Event>> {
        let mut round = Round::default();
        let mut readies = Vec::new();
        for (&range, replica) in self.replicas.iter_mut() {
            if let Some(ready) = replica.begin_ready(&mut round)? {
                readies.push((range, ready));
            }
        }
        let started = std::time::Instant::now();
        if !round.batch.is_empty() {
            self.engine.write(&round.batch, round.sync).map_err(engine_error)?;
            self.stats.note_write(round.sync, started.elapsed());
        }
        self.stats.rounds += 1;
        self.stats.commands_applied += round.events.iter().filter(|e| matches!(e, Event::Applied { .. })).count() as u64;
        let mut after = Round::default();
        for (range, ready) in readies {
            self.replicas.get_mut(&range).expect("replica of a ready").finish_ready(ready, &mut after)?;
        }
        // A removed replica goes last, after everything its round wrote
        // (a hard state written after its deletion would bring it back as
        // a replica with a commit index and no log). Synced: a replica
        // that comes back after a crash would vote again.
        for replica in self.replicas.values_mut().filter(|r| r.is_removed()) {
            replica.destroy(&mut after.batch);
            after.sync = true;
        }
        let removed = &mut self.removed;
        self.replicas.retain(|&range, replica| {
            if replica.is_removed() {
                removed.insert(range);
            }
            !replica.is_removed()
        });
        if !after.batch.is_empty() {
            // Commit indexes and applied entries may be lost in a crash
            // (the log has them): no fsync unless a replica was removed.
            let started = std::time::Instant::now();
            self.engine.write(&after.batch, after.sync).map_err(engine_error)?;
            self.stats.note_write(after.sync, started.elapsed());
        }
        self.stats.commands_applied += after.events.iter().filter(|e| matches!(e, Event::Applied { .. })).count() as u64;
        self.stats.messages_sent += (round.messages.len() + after.messages.len()) as u64;
        self.create_split_ranges(std::mem::take(&mut round.splits))?;
        self.create_split_ranges(std::mem::take(&mut after.splits))?;
        out.append(&mut self.replies);
        out.append(&mut round.messages);
        out.append(&mut after.messages);
        round.events.append(&mut after.events);
        self.clock = self.clock.max(round.clock).max(after.clock);
        let mut events = std::mem::take(&mut self.pending_events);
        events.append(&mut round.events);
        // Read points for this store's own reads are consumed here.
        events.retain(|event| match event {
            Event::ReadIndex { context, index, .. } => match self.reads.get_mut(context) {
                Some(read) => {
                    read.index.get_or_insert(*index);
                    false
                }
                None => true,
            },
            _ => true,
        });
        self.serve_reads(&mut events)?;
        Ok(events)
    }

    /// Reads `key` from `range` linearizably: an [`Event::Read`] (or
    /// [`Event::ReadFailed`]) with `context` comes back from a later round,
    /// once this replica has applied up to the read point — granted under
    /// the leader's lease, or asked of the leader.
    pub fn read(&mut self, range: RangeId, key: Vec<u8>, context: Vec<u8>) -> Result<(), ProposeError> {
        self.read_index(range, context.clone())?;
        self.reads.insert(context, PendingRead { range, key, index: None, asked: self.ticks });
        Ok(())
    }

    /// Serves the reads whose replica has applied up to their read point.
    fn serve_reads(&mut self, events: &mut Vec<Event>) -> raft::Result<()> {
        let mut done = Vec::new();
        for (context, read) in &self.reads {
            let failed = |why: &str| Event::ReadFailed { range: read.range, context: context.clone(), why: why.into() };
            let Some(replica) = self.replicas.get(&read.range) else {
                done.push((context.clone(), failed("the replica is gone")));
                continue;
            };
            let Some(index) = read.index.filter(|&index| replica.applied() >= index) else { continue };
            let (start, end) = replica.span();
            // A split applied since the read was routed: the key's writes go
            // to another range now, which this node may lag behind on.
            let event = if read.key.as_slice() < start || read.key.as_slice() >= end {
                failed("the range split under the read")
            } else {
                let value = self.engine.get(&read.key).map_err(engine_error)?;
                Event::Read { range: read.range, context: context.clone(), value, index }
            };
            done.push((context.clone(), event));
        }
        for (context, event) in done {
            self.reads.remove(&context);
            events.push(event);
        }
        Ok(())
    }

    /// Gives up the reads that got no read point in time (no leader).
    fn expire_reads(&mut self) {
        let now = self.ticks;
        let expired: Vec<Vec<u8>> = self
            .reads
            .iter()
            .filter(|(_, read)| read.index.is_none() && now >= read.asked + READ_PATIENCE_TICKS)
            .map(|(context, _)| context.clone())
            .collect();
        for context in expired {
            let read = self.reads.remove(&context).expect("listed above");
            let why = "no read point in time (no leader?)".to_string();
            self.pending_events.push(Event::ReadFailed { range: read.range, context, why });
        }
    }
}

/// The first key of the row (MVCC user key) `key` is a record of; other
/// keys as they are.
fn row_boundary(key: Vec<u8>) -> Vec<u8> {
    match lyra_engine::mvcc::keys::MvccKey::decode(&key) {
        Ok(record) => lyra_engine::mvcc::keys::key_records(record.user_key()).0,
        Err(_) => key,
    }
}

/// Whether a split at `key` would move part of the cluster catalog
/// (`/meta/...`: nodes, range descriptors, SQL's ids) out of range 1,
/// which every node must find it in.
fn in_catalog(key: &[u8]) -> bool {
    key < KeyPrefix::Meta.range().1.as_slice()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lyra_engine::storage::RocksDb;

    /// Replication factor 1 on the real engine (what `make run` will be):
    /// the one voter elects itself, commits on its own fsync, and finds
    /// everything again when reopened.
    #[test]
    fn a_single_voter_range_on_rocksdb_commits_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let (start, end) = KeyPrefix::Rows { table: 1 }.range();
        let row = |n: u64| Key::Row { table: 1, row: lyra_engine::keys::RowId(n) }.encode();
        {
            let engine: Arc<dyn Engine> = Arc::new(RocksDb::open(dir.path()).unwrap());
            let mut store = Store::open(1, engine, RaftConfig::default(), 1).unwrap();
            store.bootstrap_range(1, &[1], &start, &end).unwrap();
            store.campaign(1).unwrap();
            let mut out = Vec::new();
            store.handle_ready(&mut out).unwrap();
            assert!(store.replica(1).unwrap().is_leader());
            let mut applied = Vec::new();
            for n in 0..100 {
                store.propose(1, &Command::new(n).put(row(n), n.to_be_bytes().to_vec())).unwrap();
                if n % 10 == 9 {
                    applied.extend(store.handle_ready(&mut out).unwrap());
                }
            }
            assert!(out.is_empty(), "a single voter sends nothing: {out:?}");
            let ids: Vec<u64> = applied
                .iter()
                .filter_map(|e| match e {
                    Event::Applied { id, outcome: Ok(()), .. } => Some(*id),
                    _ => None,
                })
                .collect();
            assert_eq!(ids, (0..100).collect::<Vec<_>>());
            let proposal = store.propose(2, &Command::new(0));
            assert_eq!(proposal, Err(ProposeError::NoSuchRange { range: 2 }));
        }
        let engine: Arc<dyn Engine> = Arc::new(RocksDb::open(dir.path()).unwrap());
        let store = Store::open(1, engine.clone(), RaftConfig::default(), 1).unwrap();
        let replica = store.replica(1).expect("the range is found again");
        assert!(replica.applied() >= 100 + 6, "applied {}", replica.applied());
        assert_eq!(engine.scan(&start, &end, 1000, usize::MAX).unwrap().len(), 100);
    }

    /// A conditional write (a join taking a node id) sees the writes of
    /// the entries applied before it, in the same round or earlier.
    #[test]
    fn a_condition_sees_every_write_applied_before_it() {
        let engine: Arc<dyn Engine> = Arc::new(lyra_engine::storage::Memory::new());
        let mut store = Store::open(1, engine.clone(), RaftConfig::default(), 1).unwrap();
        store.bootstrap_range(1, &[1], b"\x02", b"\xff").unwrap();
        store.campaign(1).unwrap();
        let mut out = Vec::new();
        store.handle_ready(&mut out).unwrap();
        let key = Key::NodeAddress { node: 4 }.encode();
        let take = |id: u64| Command::new(id).if_absent(key.clone()).put(key.clone(), id.to_string().into_bytes());
        store.propose(1, &take(1)).unwrap();
        store.propose(1, &take(2)).unwrap();
        let mut events = store.handle_ready(&mut out).unwrap();
        store.propose(1, &take(3)).unwrap();
        events.extend(store.handle_ready(&mut out).unwrap());
        let outcomes: Vec<(u64, bool)> = events
            .iter()
            .filter_map(|e| match e {
                Event::Applied { id, outcome, .. } if *id > 0 => Some((*id, outcome.is_ok())),
                _ => None,
            })
            .collect();
        assert_eq!(outcomes, vec![(1, true), (2, false), (3, false)]);
        assert_eq!(engine.get(&key).unwrap(), Some(b"1".to_vec()));
        // The catalog stays in range 1.
        assert!(matches!(store.propose_split(1, b"ma".to_vec(), 9), Err(ProposeError::Dropped { .. })));
        assert!(store.propose_split(1, b"v".to_vec(), 9).is_ok());
    }
}

