//! Deterministic simulation of a cluster of [`Store`]s (DESIGN §7).
//!
//! Every node is a [`Store`] over its own crashable [`Memory`] engine, in
//! one thread. Time is a step counter (a step is a millisecond; every node
//! ticks every [`TICK`] steps); the network is a list of envelopes in
//! flight with delivery steps drawn from the seeded generator, so it
//! delays, reorders and drops; links can be cut (partitions, isolation).
//! A crash drops a node's store and loses its unsynced writes (a random
//! prefix of them survives); a restart reopens the store from its engine.
//! Everything random comes from one seed: a failing run prints its seed,
//! and `LYRA_SIM_SEED=<seed>` replays exactly that run; `LYRA_SIM_SEEDS=<n>`
//! runs seeds 1..=n instead of each test's usual few.
//!
//! Checked throughout:
//! * **election safety** — at most one leader per range and term;
//! * **state machine safety** — every replica applies the same command at
//!   the same index;
//! * **no acknowledged write lost** — a command applied by the leader it
//!   was proposed to stays in the range's history, whatever happens after;
//! * **linearizable reads** — a read served at its read point (from a
//!   leader's lease, or Raft's ReadIndex on any replica) sees every write
//!   acknowledged before the read was asked for;
//!
//! and at the end, after the faults are healed: every member of every range
//! applied the same log and holds exactly the data that history leads to.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use lyra_engine::keys::{Key, KeyPrefix, RangeId, RowId};
use lyra_engine::storage::{Engine, Memory};
use raft::eraftpb::{ConfChangeSingle, ConfChangeType, ConfChangeV2, MessageType};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::command::OUTSIDE_RANGE;
use super::{Command, Envelope, Event, ProposeError, RaftConfig, Store};

/// Steps (milliseconds) per Raft tick.
const TICK: u64 = 10;

struct Node {
    engine: Arc<Memory>,
    /// `None` while the node is down.
    store: Option<Store>,
}

/// A linearizable read of one key of a range, asked of one node.
struct Read {
    id: u64,
    node: u64,
    range: RangeId,
    key: Vec<u8>,
    /// When it was asked for: it must see every write acknowledged before.
    started: u64,
}

struct InFlight {
    at: u64,
    seq: u64,
    envelope: Envelope,
}

/// The network's behaviour; the nemesis changes it as the run goes.
#[derive(Clone)]
struct Weather {
    /// Chance that a message is lost.
    drop: f64,
    /// Delivery takes 1..=max_delay steps.
    max_delay: u64,
}

const CALM: Weather = Weather { drop: 0.0, max_delay: 3 };

struct Sim {
    seed: u64,
    rng: StdRng,
    now: u64,
    config: RaftConfig,
    nodes: BTreeMap<u64, Node>,
    in_flight: Vec<InFlight>,
    seq: u64,
    weather: Weather,
    /// Directed links that carry nothing: (from, to).
    cut: BTreeSet<(u64, u64)>,
    /// The leader seen for each (range, term).
    leaders: HashMap<(RangeId, u64), u64>,
    /// Every range's history: the command id applied at each index.
    history: BTreeMap<RangeId, BTreeMap<u64, u64>>,
    /// The writes of each command proposed: id → (range, key, value).
    proposed: HashMap<u64, (RangeId, Vec<u8>, Vec<u8>)>,
    /// Proposal id → the node it was proposed to, until acknowledged.
    waiting: HashMap<u64, u64>,
    /// Acknowledged commands: id → (range, index).
    acknowledged: BTreeMap<u64, (RangeId, u64)>,
    next_id: u64,
    /// Each key's acknowledged writes: (step acknowledged, range, index).
    acked_writes: HashMap<Vec<u8>, Vec<(u64, RangeId, u64)>>,
    /// The range and index each applied command was applied at.
    index_of: HashMap<u64, (RangeId, u64)>,
    /// Commands applied as refused (their range split under them).
    refused: std::collections::HashSet<u64>,
    /// Every range there is: bootstrapped, or split off (from its parent).
    ranges: BTreeSet<RangeId>,
    parent: HashMap<RangeId, RangeId>,
    /// Rows per table the writes pick from, and the size of each value.
    rows: u64,
    value_bytes: usize,
    /// Reads asked for and not yet served, by id.
    reads: HashMap<u64, Read>,
    /// Reads served and checked.
    reads_served: usize,
    /// Every event, for the determinism check.
    trace: Vec<(u64, u64, Event)>,
}

fn row_key(range: RangeId, row: u64) -> Vec<u8> {
    Key::Row { table: range, row: RowId(row) }.encode()
}

fn span(range: RangeId) -> (Vec<u8>, Vec<u8>) {
    KeyPrefix::Rows { table: range }.range()
}

impl Sim {
    fn new(seed: u64, node_ids: &[u64], config: RaftConfig) -> Sim {
        let mut sim = Sim {
            seed,
            rng: StdRng::seed_from_u64(seed),
            now: 0,
            config,
            nodes: BTreeMap::new(),
            in_flight: Vec::new(),
            seq: 0,
            weather: CALM,
            cut: BTreeSet::new(),
            leaders: HashMap::new(),
            history: BTreeMap::new(),
            proposed: HashMap::new(),
            waiting: HashMap::new(),
            acknowledged: BTreeMap::new(),
            next_id: 1,
            acked_writes: HashMap::new(),
            index_of: HashMap::new(),
            refused: Default::default(),
            ranges: BTreeSet::new(),
            parent: HashMap::new(),
            rows: 16,
            value_bytes: 8,
            reads: HashMap::new(),
            reads_served: 0,
            trace: Vec::new(),
        };
        for &id in node_ids {
            let engine = Arc::new(Memory::crashable());
            let store = sim.open_store(id, &engine);
            sim.nodes.insert(id, Node { engine, store: Some(store) });
        }
        sim
    }

    fn open_store(&self, id: u64, engine: &Arc<Memory>) -> Store {
        Store::open(id, engine.clone(), self.config.clone(), self.seed.wrapping_add(id)).expect("open store")
    }

    fn context(&self) -> String {
        format!("seed {} step {}", self.seed, self.now)
    }

    /// Creates `range` on each of `voters`.
    fn bootstrap(&mut self, range: RangeId, voters: &[u64]) {
        let (start, end) = span(range);
        for id in voters {
            let store = self.nodes.get_mut(id).and_then(|n| n.store.as_mut()).expect("node up");
            store.bootstrap_range(range, voters, &start, &end).expect("bootstrap");
        }
        self.history.entry(range).or_default();
        self.ranges.insert(range);
    }

    /// The leader (node, range) of the range that holds `key`, as the
    /// leader with the highest term among up nodes sees it.
    fn leader_of_key(&self, key: &[u8]) -> Option<(u64, RangeId)> {
        self.nodes
            .iter()
            .filter_map(|(&id, n)| {
                let store = n.store.as_ref()?;
                let range = store.range_of(key)?;
                let replica = store.replica(range)?;
                replica.is_leader().then_some((replica.term(), id, range))
            })
            .max()
            .map(|(_, id, range)| (id, range))
    }

    /// How many splits lie between `range` and the range it came from.
    fn depth(&self, mut range: RangeId) -> usize {
        let mut depth = 0;
        while let Some(&parent) = self.parent.get(&range) {
            range = parent;
            depth += 1;
        }
        depth
    }

    fn store(&mut self, id: u64) -> Option<&mut Store> {
        self.nodes.get_mut(&id).and_then(|n| n.store.as_mut())
    }

    fn up(&self) -> Vec<u64> {
        self.nodes.iter().filter(|(_, n)| n.store.is_some()).map(|(&id, _)| id).collect()
    }

    /// The node that leads `range` in the highest term any up node knows.
    fn leader(&self, range: RangeId) -> Option<u64> {
        self.nodes
            .iter()
            .filter_map(|(&id, n)| n.store.as_ref()?.replica(range).filter(|r| r.is_leader()).map(|r| (r.term(), id)))
            .max()
            .map(|(_, id)| id)
    }

    fn run(&mut self, steps: u64) {
        for _ in 0..steps {
            self.step();
        }
    }

    /// Runs until `done` holds, for at most `steps`; panics if it never does.
    fn run_until(&mut self, steps: u64, what: &str, mut done: impl FnMut(&Sim) -> bool) {
        for _ in 0..steps {
            if done(self) {
                return;
            }
            self.step();
        }
        assert!(done(self), "{}: {what} did not happen within {steps} steps\n{}", self.context(), self.describe());
    }

    /// Every replica's state, for a failure message.
    fn describe(&self) -> String {
        let mut text = String::new();
        for (id, node) in &self.nodes {
            let Some(store) = &node.store else {
                text += &format!("node {id}: down\n");
                continue;
            };
            for r in store.replicas() {
                text += &format!(
                    "node {id} range {}: {:?} term {} leader {:?} commit {} applied {} first {} voters {:?}\n",
                    r.range(),
                    r.role(),
                    r.term(),
                    r.leader(),
                    r.commit_index(),
                    r.applied(),
                    r.first_index(),
                    r.conf_state().voters
                );
            }
        }
        text + &format!("cut links: {:?}, in flight: {}", self.cut, self.in_flight.len())
    }

    /// One millisecond: deliver what is due, tick on tick boundaries, and
    /// run every node's ready rounds.
    fn step(&mut self) {
        self.now += 1;
        let now = self.now;
        let mut due: Vec<InFlight> = Vec::new();
        let mut later = Vec::with_capacity(self.in_flight.len());
        for message in self.in_flight.drain(..) {
            if message.at <= now {
                due.push(message);
            } else {
                later.push(message);
            }
        }
        self.in_flight = later;
        due.sort_by_key(|m| (m.at, m.seq));
        for InFlight { envelope, .. } in due {
            let (from, to, range) = (envelope.message.from, envelope.message.to, envelope.range);
            let snapshot = envelope.message.get_msg_type() == MessageType::MsgSnapshot;
            let delivered = !self.cut.contains(&(from, to)) && self.store(to).is_some();
            if delivered {
                self.store(to).expect("up").step(envelope).expect("step");
            }
            // The transport tells the sender what became of a snapshot (a
            // stream that broke, or finished) and of a peer it could not
            // reach.
            if let Some(sender) = self.store(from) {
                if snapshot {
                    sender.report_snapshot(range, to, delivered);
                } else if !delivered {
                    sender.report_unreachable(range, to);
                }
            }
        }
        if now % TICK == 0 {
            for node in self.nodes.values_mut() {
                if let Some(store) = node.store.as_mut() {
                    store.tick();
                }
            }
        }
        for id in self.up() {
            self.ready(id);
        }
    }

    /// Asks a random up node holding the row for a read of a random row of
    /// table `table`.
    fn read(&mut self, table: u64) {
        let key = row_key(table, self.rng.gen_range(0..self.rows));
        let holders: Vec<(u64, RangeId)> = self
            .nodes
            .iter()
            .filter_map(|(&id, n)| Some((id, n.store.as_ref()?.range_of(&key)?)))
            .collect();
        if holders.is_empty() {
            return;
        }
        let (node, range) = holders[self.rng.gen_range(0..holders.len())];
        self.read_from(node, range, key);
    }

    /// Asks `node` for a read of `key` from its replica of `range`.
    fn read_from(&mut self, node: u64, range: RangeId, key: Vec<u8>) {
        self.next_id += 1;
        let id = self.next_id;
        self.store(node).expect("up").read(range, key.clone(), id.to_be_bytes().to_vec()).expect("replica");
        self.reads.insert(id, Read { id, node, range, key, started: self.now });
    }

    /// Checks that a read saw every write acknowledged before it was asked
    /// for.
    fn check_read(&self, read: &Read, value: Option<Vec<u8>>) {
        // A key's writes are ordered by (splits above their range, index):
        // a key moves only down its ranges' lineage.
        let acked = self.acked_writes.get(&read.key).map_or(&[][..], |w| &w[..]);
        let must_see =
            acked.iter().filter(|&&(at, _, _)| at < read.started).map(|&(_, range, index)| (self.depth(range), index)).max();
        let seen = value.map(|v| {
            let id = u64::from_be_bytes(v[..8].try_into().expect("an id"));
            let (range, index) = self.index_of[&id];
            (self.depth(range), index)
        });
        assert!(
            seen >= must_see,
            "{}: read {} of range {} on node {} saw the write at index {seen:?}, but the one at {must_see:?} was acknowledged before it began",
            self.context(),
            read.id,
            read.range,
            read.node
        );
    }

    /// Ready rounds on node `id` until it has nothing more to do; sends
    /// what they produce and checks what they applied.
    fn ready(&mut self, id: u64) {
        for _ in 0..4 {
            let mut out = Vec::new();
            let events = self.store(id).expect("up").handle_ready(&mut out).expect("ready round");
            if out.is_empty() && events.is_empty() {
                break;
            }
            for envelope in out {
                self.send(envelope);
            }
            for event in events {
                self.check_event(id, &event);
                self.trace.push((self.now, id, event));
            }
        }
        let store = self.nodes[&id].store.as_ref().expect("up");
        for replica in store.replicas() {
            if replica.is_leader() {
                let leader = *self.leaders.entry((replica.range(), replica.term())).or_insert(id);
                assert_eq!(
                    leader,
                    id,
                    "{}: two leaders of range {} in term {}",
                    self.context(),
                    replica.range(),
                    replica.term()
                );
            }
        }
    }

    fn send(&mut self, envelope: Envelope) {
        if self.rng.gen_bool(self.weather.drop) {
            if envelope.message.get_msg_type() == MessageType::MsgSnapshot {
                let (from, to) = (envelope.message.from, envelope.message.to);
                if let Some(sender) = self.store(from) {
                    sender.report_snapshot(envelope.range, to, false);
                }
            }
            return;
        }
        let at = self.now + self.rng.gen_range(1..=self.weather.max_delay);
        self.seq += 1;
        self.in_flight.push(InFlight { at, seq: self.seq, envelope });
    }

    fn check_event(&mut self, node: u64, event: &Event) {
        match event {
            Event::Read { context, value, .. } => {
                let id = u64::from_be_bytes(context[..].try_into().expect("a read id"));
                let read = self.reads.remove(&id).expect("a read this simulation asked for");
                assert_eq!(read.node, node, "{}: read {id} served by another node", self.context());
                self.check_read(&read, value.clone());
                self.reads_served += 1;
                return;
            }
            Event::ReadFailed { context, .. } => {
                let id = u64::from_be_bytes(context[..].try_into().expect("a read id"));
                self.reads.remove(&id); // a client asks again
                return;
            }
            _ => {}
        }
        if let Event::Split { range, new_range, .. } = event {
            let parent = *self.parent.entry(*new_range).or_insert(*range);
            assert_eq!(parent, *range, "{}: range {new_range} split off two ranges", self.context());
            self.ranges.insert(*new_range);
            self.history.entry(*new_range).or_default();
            return;
        }
        let Event::Applied { range, index, id, outcome, .. } = event else { return };
        if let Err(why) = outcome {
            // Only a split under a write may refuse it (and then on every
            // replica alike: the history check below).
            assert!(why.starts_with(OUTSIDE_RANGE) || self.proposed.get(id).is_none(), "{}: command {id} refused: {why}", self.context());
            self.refused.insert(*id);
        }
        let seen = *self.history.entry(*range).or_default().entry(*index).or_insert(*id);
        if outcome.is_ok() {
            self.index_of.insert(*id, (*range, *index));
        }
        assert_eq!(
            seen,
            *id,
            "{}: node {node} applied command {id} at range {range} index {index}, another replica applied {seen}",
            self.context()
        );
        if self.waiting.get(id) == Some(&node) {
            self.waiting.remove(id);
            if outcome.is_ok() {
                self.acknowledged.insert(*id, (*range, *index));
                let key = self.proposed[id].1.clone();
                self.acked_writes.entry(key).or_default().push((self.now, *range, *index));
            }
        }
    }

    /// Proposes a write of a random row of table `table` to the leader of
    /// the range holding it, if any.
    fn propose(&mut self, table: u64) -> Option<u64> {
        let key = row_key(table, self.rng.gen_range(0..self.rows));
        let (leader, range) = self.leader_of_key(&key)?;
        let id = self.next_id;
        let mut value = id.to_be_bytes().to_vec();
        value.resize(self.value_bytes.max(8), 0);
        let command = Command::new(id).put(key.clone(), value.clone());
        match self.store(leader).expect("leader is up").propose(range, &command) {
            Ok(()) => {
                self.next_id += 1;
                self.proposed.insert(id, (range, key, value));
                self.waiting.insert(id, leader);
                Some(id)
            }
            Err(ProposeError::NotLeader { .. }) => None,
            Err(e) => panic!("{}: {e}", self.context()),
        }
    }

    fn crash(&mut self, id: u64) {
        let keep = self.rng.gen_range(0..3);
        let node = self.nodes.get_mut(&id).expect("node");
        node.store = None;
        node.engine.crash(keep).expect("crash");
        self.waiting.retain(|_, &mut at| at != id);
        self.reads.retain(|_, read| read.node != id);
    }

    fn restart(&mut self, id: u64) {
        let engine = self.nodes[&id].engine.clone();
        let store = self.open_store(id, &engine);
        self.nodes.get_mut(&id).expect("node").store = Some(store);
    }

    fn isolate(&mut self, id: u64) {
        for &other in self.nodes.keys() {
            if other != id {
                self.cut.insert((id, other));
                self.cut.insert((other, id));
            }
        }
    }

    fn partition(&mut self, side: &[u64]) {
        for &a in side {
            for &b in self.nodes.keys() {
                if !side.contains(&b) {
                    self.cut.insert((a, b));
                    self.cut.insert((b, a));
                }
            }
        }
    }

    fn heal(&mut self) {
        self.cut.clear();
        self.weather = CALM;
    }

    /// The members of `range` in the configuration its leader applied.
    fn members(&self, range: RangeId) -> Vec<u64> {
        let leader = self.leader(range).expect("a leader");
        let replica = self.nodes[&leader].store.as_ref().expect("up").replica(range).expect("replica");
        replica.conf_state().voters.clone()
    }

    /// The value history leads `key` to: its last write in the deepest
    /// range of `range`'s lineage that has one (after a split, writes to a
    /// key go to the new range; the parent refuses them).
    fn expected_value(&self, key: &[u8], mut range: RangeId) -> Option<Vec<u8>> {
        loop {
            let last = self.history[&range]
                .values()
                .rev()
                .filter(|id| !self.refused.contains(id))
                .find_map(|id| self.proposed.get(id).filter(|(_, k, _)| k.as_slice() == key));
            if let Some((_, _, value)) = last {
                return Some(value.clone());
            }
            range = *self.parent.get(&range)?;
        }
    }

    /// Heals everything, restarts every node, and waits until every member
    /// of every range has applied everything its leader committed; then
    /// checks each member's data against the range's history.
    fn settle_and_check(&mut self) {
        let ranges: Vec<RangeId> = self.ranges.iter().copied().collect();
        let ranges = &ranges[..];
        self.heal();
        for id in self.nodes.keys().copied().collect::<Vec<_>>() {
            if self.nodes[&id].store.is_none() {
                self.restart(id);
            }
        }
        // A new leader commits an entry of its own term, and with it any
        // command still in its log: every range must be settled at once.
        let settled = |sim: &Sim, range: RangeId| {
            let Some(leader) = sim.leader(range) else { return false };
            let store = sim.nodes[&leader].store.as_ref().expect("up");
            let replica = store.replica(range).expect("replica");
            let commit = replica.commit_index();
            replica.applied() == commit
                && replica.conf_state().voters.iter().all(|id| {
                    sim.nodes[id].store.as_ref().and_then(|s| s.replica(range)).is_some_and(|r| r.applied() == commit)
                })
        };
        self.run_until(20_000, "every range settled", |sim| ranges.iter().all(|&range| settled(sim, range)));
        for &range in ranges {
            let leader = self.leader(range).expect("settled");
            let (start, end) = self.nodes[&leader].store.as_ref().unwrap().replica(range).unwrap().span();
            let (start, end) = (start.to_vec(), end.to_vec());
            let keys: BTreeSet<&Vec<u8>> = self.proposed.values().map(|(_, key, _)| key).filter(|k| **k >= start && **k < end).collect();
            let expected: BTreeMap<Vec<u8>, Vec<u8>> =
                keys.into_iter().filter_map(|k| Some((k.clone(), self.expected_value(k, range)?))).collect();
            for member in self.members(range) {
                let data: BTreeMap<Vec<u8>, Vec<u8>> = self.nodes[&member]
                    .engine
                    .scan(&start, &end, usize::MAX, usize::MAX)
                    .expect("scan")
                    .into_iter()
                    .collect();
                if data != expected {
                    let index_of = |id: u64| self.index_of.get(&id).copied();
                    let value_id = |v: Option<&Vec<u8>>| v.map(|v| u64::from_be_bytes(v[..8].try_into().unwrap()));
                    let mut diffs = String::new();
                    for key in expected.keys().chain(data.keys()).collect::<BTreeSet<_>>() {
                        let (want, got) = (value_id(expected.get(key)), value_id(data.get(key)));
                        if want != got {
                            let at = |id: Option<u64>| id.and_then(index_of);
                            diffs += &format!("\n  key {key:?}: history has command {want:?} (index {:?}), node has {got:?} (index {:?})", at(want), at(got));
                        }
                    }
                    panic!("{}: range {range} on node {member} differs from its history:{diffs}\n{}", self.context(), self.describe());
                }
            }
        }
        for (id, (range, index)) in &self.acknowledged {
            assert_eq!(
                self.history[range].get(index),
                Some(id),
                "{}: acknowledged command {id} lost from range {range}",
                self.context()
            );
        }
    }
}

fn small_log() -> RaftConfig {
    RaftConfig { compact_after: 20, ..RaftConfig::default() }
}

/// The seeds a randomized test runs: `count` of them, or
/// `LYRA_SIM_SEEDS` (a longer search), or `LYRA_SIM_SEED` alone (a replay).
fn seeds(count: u64) -> Vec<u64> {
    let var = |name| std::env::var(name).ok().map(|v: String| v.parse::<u64>().expect("a number"));
    match (var("LYRA_SIM_SEED"), var("LYRA_SIM_SEEDS")) {
        (Some(seed), _) => vec![seed],
        (None, Some(count)) => (1..=count).collect(),
        (None, None) => (1..=count).collect(),
    }
}

fn change(kind: ConfChangeType, node: u64) -> ConfChangeV2 {
    let mut change = ConfChangeV2::default();
    let mut single = ConfChangeSingle::default();
    single.set_change_type(kind);
    single.node_id = node;
    change.mut_changes().push(single);
    change
}

#[test]
fn three_nodes_elect_a_leader_and_replicate() {
    let mut sim = Sim::new(1, &[1, 2, 3], RaftConfig::default());
    sim.bootstrap(1, &[1, 2, 3]);
    sim.run_until(5_000, "an election", |sim| sim.leader(1).is_some());
    for _ in 0..50 {
        sim.propose(1).expect("a leader takes proposals");
        sim.run(5);
    }
    sim.run_until(2_000, "every acknowledgement", |sim| sim.waiting.is_empty());
    assert_eq!(sim.acknowledged.len(), 50);
    sim.settle_and_check();
}

#[test]
fn a_follower_behind_the_truncated_log_gets_a_snapshot() {
    let mut sim = Sim::new(2, &[1, 2, 3], small_log());
    sim.bootstrap(1, &[1, 2, 3]);
    sim.run_until(5_000, "an election", |sim| sim.leader(1).is_some());
    let leader = sim.leader(1).expect("leader");
    let lagging = if leader == 3 { 2 } else { 3 };
    sim.isolate(lagging);
    for _ in 0..100 {
        sim.propose(1);
        sim.run(3);
    }
    sim.run_until(2_000, "every acknowledgement", |sim| sim.waiting.is_empty());
    let first = sim.nodes[&leader].store.as_ref().unwrap().replica(1).unwrap().first_index();
    assert!(first > 50, "the leader truncated its log (first index {first})");
    sim.heal();
    sim.run_until(5_000, "the snapshot", |sim| {
        sim.trace.iter().any(|(_, node, e)| *node == lagging && matches!(e, Event::SnapshotApplied { .. }))
    });
    sim.settle_and_check();
}

#[test]
fn a_partitioned_leader_is_replaced_and_its_uncommitted_writes_are_not_acknowledged() {
    let mut sim = Sim::new(3, &[1, 2, 3, 4, 5], RaftConfig::default());
    sim.bootstrap(1, &[1, 2, 3, 4, 5]);
    sim.run_until(5_000, "an election", |sim| sim.leader(1).is_some());
    let old = sim.leader(1).unwrap();
    let old_term = sim.nodes[&old].store.as_ref().unwrap().replica(1).unwrap().term();
    sim.partition(&[old]);
    for _ in 0..5 {
        sim.propose(1); // to the old leader: it cannot commit these
    }
    sim.run_until(10_000, "a new leader", |sim| {
        sim.leader(1).is_some_and(|l| l != old)
            && sim.nodes.values().filter_map(|n| n.store.as_ref()?.replica(1)).any(|r| r.is_leader() && r.term() > old_term)
    });
    for _ in 0..20 {
        sim.propose(1);
        sim.run(5);
    }
    // check_quorum: the cut-off leader steps down by itself.
    sim.run_until(5_000, "the old leader stepping down", |sim| {
        !sim.nodes[&old].store.as_ref().unwrap().replica(1).unwrap().is_leader()
    });
    sim.settle_and_check();
}

#[test]
fn restarts_that_lose_unsynced_writes_lose_no_acknowledged_write() {
    for seed in seeds(5) {
        let mut sim = Sim::new(seed, &[1, 2, 3], RaftConfig::default());
        sim.bootstrap(1, &[1, 2, 3]);
        for round in 0..20u64 {
            for _ in 0..10 {
                sim.propose(1);
                sim.run(7);
            }
            let victim = 1 + (seed + round) % 3;
            sim.crash(victim);
            sim.run(300);
            sim.restart(victim);
            sim.run(300);
        }
        assert!(sim.acknowledged.len() > 50, "seed {seed}: only {} writes acknowledged", sim.acknowledged.len());
        sim.settle_and_check();
    }
}

/// The nemesis: every few hundred steps, one fault or its repair.
fn random_fault(sim: &mut Sim) {
    let ids: Vec<u64> = sim.nodes.keys().copied().collect();
    match sim.rng.gen_range(0..8) {
        0 => {
            let id = ids[sim.rng.gen_range(0..ids.len())];
            sim.isolate(id);
        }
        1 => {
            let size = sim.rng.gen_range(1..=ids.len() / 2);
            let mut side = ids.clone();
            while side.len() > size {
                side.remove(sim.rng.gen_range(0..side.len()));
            }
            sim.partition(&side);
        }
        2 => sim.weather = Weather { drop: 0.2, max_delay: 40 },
        3 => {
            // At most a minority down at once.
            let up = sim.up();
            if up.len() > ids.len() / 2 + 1 {
                let id = up[sim.rng.gen_range(0..up.len())];
                sim.crash(id);
            }
        }
        4 | 5 => {
            let down: Vec<u64> = ids.iter().copied().filter(|id| sim.nodes[id].store.is_none()).collect();
            if let Some(&id) = down.first() {
                sim.restart(id);
            }
        }
        _ => sim.heal(),
    }
}

#[test]
fn random_faults_keep_every_range_safe() {
    for seed in seeds(40) {
        let mut sim = Sim::new(seed, &[1, 2, 3, 4, 5], small_log());
        let ranges: [(RangeId, [u64; 3]); 3] = [(1, [1, 2, 3]), (2, [3, 4, 5]), (3, [1, 3, 5])];
        for (range, voters) in &ranges {
            sim.bootstrap(*range, voters);
        }
        for _ in 0..50 {
            for _ in 0..40 {
                let range = sim.rng.gen_range(1..=3);
                sim.propose(range);
                let range = sim.rng.gen_range(1..=3);
                sim.read(range);
                sim.run(5);
            }
            let quiet = sim.rng.gen_range(0..1000);
            sim.run(quiet);
            random_fault(&mut sim);
        }
        sim.settle_and_check();
        assert!(sim.acknowledged.len() > 100, "seed {seed}: only {} writes acknowledged", sim.acknowledged.len());
        assert!(sim.reads_served > 100, "seed {seed}: only {} reads served", sim.reads_served);
        let lease_reads: u64 = sim.nodes.values().filter_map(|n| Some(n.store.as_ref()?.stats().lease_reads)).sum();
        assert!(lease_reads > 0, "seed {seed}: no read was served under a lease");
    }
}

#[test]
fn members_are_added_and_removed_while_writes_go_on() {
    let mut removals_applied = 0;
    for seed in seeds(4) {
        let mut sim = Sim::new(seed, &[1, 2, 3, 4, 5], small_log());
        sim.bootstrap(1, &[1, 2, 3]);
        sim.run_until(5_000, "an election", |sim| sim.leader(1).is_some());
        for _ in 0..40 {
            sim.propose(1);
            sim.run(5);
        }
        // Add 4 and 5 (one at a time), remove a follower, then add it back
        // (0: that follower): each change is retried until the leader
        // applied it, through elections.
        let steps: [(ConfChangeType, u64); 4] = [
            (ConfChangeType::AddNode, 4),
            (ConfChangeType::AddNode, 5),
            (ConfChangeType::RemoveNode, 0),
            (ConfChangeType::AddNode, 0),
        ];
        let mut removed = 0;
        for (kind, node) in steps {
            let node = match (node, kind) {
                (0, ConfChangeType::RemoveNode) => {
                    removed = *sim.members(1).iter().find(|&&m| Some(m) != sim.leader(1)).expect("a follower");
                    removed
                }
                (0, _) => {
                    check_removed(&mut sim, seed, removed);
                    removals_applied += sim.trace.iter().any(|(_, _, e)| matches!(e, Event::Removed { .. })) as usize;
                    removed
                }
                (n, _) => n,
            };
            let wanted = move |voters: &Vec<u64>| voters.contains(&node) == (kind == ConfChangeType::AddNode);
            for _ in 0..50 {
                if sim.leader(1).is_some_and(|_| wanted(&sim.members(1))) {
                    break;
                }
                if let Some(leader) = sim.leader(1) {
                    let _ = sim.store(leader).unwrap().propose_conf_change(1, change(kind, node));
                }
                for _ in 0..10 {
                    sim.propose(1);
                    sim.run(10);
                }
                if sim.rng.gen_bool(0.3) {
                    random_fault(&mut sim);
                }
            }
            sim.heal();
            sim.run_until(20_000, "the configuration change", |sim| sim.leader(1).is_some_and(|_| wanted(&sim.members(1))));
        }
        // The node added back holds the range again, as every member does
        // (checked by `settle_and_check`), from a new replica.
        sim.settle_and_check();
        let members = sim.members(1);
        assert_eq!(members.len(), 5, "seed {seed}: members {members:?}");
        let back = sim.nodes[&removed].store.as_ref().unwrap().replica(1).map(|r| r.applied());
        assert!(back.is_some_and(|applied| applied > 0), "seed {seed}: node {removed} added back holds no replica");
    }
    assert!(removals_applied > 0 || seeds(4).len() == 1, "no removed node ever applied its removal");
}

/// The node `removed` deleted its replica if it applied its removal (a
/// leader's message sent before the leader applied it may create an empty
/// one again, holding nothing); one cut off at that moment keeps a stale
/// replica that can never lead (not collected yet: see the module docs of
/// `raft`).
fn check_removed(sim: &mut Sim, seed: u64, removed: u64) {
    sim.heal();
    if sim.nodes[&removed].store.is_none() {
        sim.restart(removed);
    }
    sim.run(2_000);
    let store = sim.nodes[&removed].store.as_ref().unwrap();
    let applied_removal = sim.trace.iter().any(|(_, node, e)| *node == removed && matches!(e, Event::Removed { .. }));
    if applied_removal {
        let holds = store.replica(1).is_some_and(|r| r.is_initialized());
        assert!(!holds, "seed {seed}: removed node {removed} still holds the range");
        let (start, end) = span(1);
        let left = sim.nodes[&removed].engine.scan(&start, &end, 1, usize::MAX).unwrap();
        assert!(left.is_empty(), "seed {seed}: removed node {removed} kept the range's data");
    }
    assert!(!store.replica(1).is_some_and(|r| r.is_leader()), "seed {seed}: removed node {removed} leads");
}

#[test]
fn leadership_moves_where_it_is_sent() {
    let mut sim = Sim::new(7, &[1, 2, 3], RaftConfig::default());
    sim.bootstrap(1, &[1, 2, 3]);
    sim.run_until(5_000, "an election", |sim| sim.leader(1).is_some());
    for target in [1, 2, 3, 1] {
        let leader = sim.leader(1).unwrap();
        sim.store(leader).unwrap().transfer_leader(1, target).unwrap();
        sim.run_until(5_000, "the transfer", |sim| sim.leader(1) == Some(target));
        sim.propose(1).expect("the new leader takes proposals");
    }
    sim.settle_and_check();
}

#[test]
fn a_run_replays_exactly_from_its_seed() {
    let run = || {
        let mut sim = Sim::new(42, &[1, 2, 3], small_log());
        sim.bootstrap(1, &[1, 2, 3]);
        for _ in 0..10 {
            for _ in 0..20 {
                sim.propose(1);
                sim.run(5);
            }
            random_fault(&mut sim);
        }
        sim.trace
    };
    let (a, b) = (run(), run());
    assert!(!a.is_empty());
    assert!(a == b, "two runs of one seed differ");
}

#[test]
fn ranges_split_as_they_grow_under_faults() {
    for seed in seeds(12) {
        let config = RaftConfig { compact_after: 30, range_max_bytes: 1_500, ..RaftConfig::default() };
        let mut sim = Sim::new(seed, &[1, 2, 3, 4, 5], config);
        sim.rows = 64;
        sim.value_bytes = 100;
        sim.bootstrap(1, &[1, 2, 3]);
        for _ in 0..30 {
            for _ in 0..40 {
                sim.propose(1);
                sim.read(1);
                sim.run(5);
            }
            let quiet = sim.rng.gen_range(0..1000);
            sim.run(quiet);
            random_fault(&mut sim);
        }
        sim.settle_and_check();
        let splits = sim.trace.iter().filter(|(_, _, e)| matches!(e, Event::Split { .. })).count();
        assert!(sim.ranges.len() >= 3, "seed {seed}: only {} ranges ({splits} split events)", sim.ranges.len());
        assert!(sim.acknowledged.len() > 100, "seed {seed}: only {} writes acknowledged", sim.acknowledged.len());
        assert!(sim.reads_served > 100, "seed {seed}: only {} reads served", sim.reads_served);
    }
}

#[test]
fn a_lease_ends_when_leadership_is_handed_over() {
    for seed in seeds(8) {
        let mut sim = Sim::new(seed, &[1, 2, 3], RaftConfig::default());
        sim.rows = 1;
        sim.bootstrap(1, &[1, 2, 3]);
        sim.run_until(5_000, "an election", |sim| sim.leader(1).is_some());
        for round in 0..4u64 {
            let old = sim.leader(1).unwrap();
            let to = if 1 + (old + round) % 3 == old { 1 + old % 3 } else { 1 + (old + round) % 3 };
            sim.run(50); // the old leader holds a lease by now
            let term = sim.nodes[&old].store.as_ref().unwrap().replica(1).unwrap().term();
            sim.store(old).unwrap().transfer_leader(1, to).unwrap();
            // Once the transferee campaigns, cut the old leader off: it
            // never hears of the new term, and its lease must not let it
            // serve reads that miss the new leader's writes.
            sim.run_until(1_000, "the transferee's campaign", |sim| {
                sim.nodes[&to].store.as_ref().unwrap().replica(1).unwrap().term() > term
            });
            sim.isolate(old);
            for _ in 0..300 {
                sim.propose(1);
                sim.read_from(old, 1, row_key(1, 0));
                sim.read_from(to, 1, row_key(1, 0));
                sim.run(1);
            }
            sim.heal();
            sim.run_until(5_000, "the transfer", |sim| sim.leader(1) == Some(to));
        }
        sim.settle_and_check();
        assert!(sim.reads_served > 100, "seed {seed}: only {} reads served", sim.reads_served);
    }
}

#[test]
fn a_leader_with_its_lease_grants_reads_without_a_heartbeat_round() {
    let mut sim = Sim::new(11, &[1, 2, 3], RaftConfig::default());
    sim.bootstrap(1, &[1, 2, 3]);
    sim.run_until(5_000, "an election", |sim| sim.leader(1).is_some());
    sim.run(100);
    let leader = sim.leader(1).unwrap();
    for _ in 0..100 {
        sim.read_from(leader, 1, row_key(1, 0));
        sim.run(3);
    }
    let stats = sim.nodes[&leader].store.as_ref().unwrap().stats().clone();
    assert!(stats.lease_reads >= 90, "{stats:?}");
}
