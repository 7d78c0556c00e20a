//! [`ReplicatedEngine`]: the node's [`Engine`] over its Raft ranges, so that
//! the node's SQL service ([`crate::node::service`]) runs unchanged on
//! replicated data.
//!
//! A node serves a range's keys only while it holds the range's **lease**
//! ([`Serving`], published by the Raft loop after each turn):
//!
//! * **reads** go to the local engine directly — the leaseholder has
//!   applied everything any leader acknowledged ([`super::replica::Lease`]),
//!   and everything it acknowledged itself it applied before answering;
//! * **writes** become one Raft command of the range, and return once this
//!   node applied it (so the next read here sees them). A batch whose keys
//!   lie in two ranges is refused: writes across ranges need two-phase
//!   commit, not built yet.
//!
//! The service above keeps state in memory that is true only while no
//! other node writes its keys: row locks, recent writes (SERIALIZABLE),
//! versions to collect. So an engine is one **generation**: it remembers
//! the leader term in which it first served each range, and once a range's
//! lease is lost (another term, or a write refused because this node no
//! longer leads) it turns [`stale`](Engine::stale) and refuses everything;
//! the node starts a new service on [`ReplicatedEngine::next_generation`],
//! and transactions open on the old one fail with a retryable error.
//! Taking a range over within a generation bumps its [`epoch`](Engine::epoch)
//! (the service forgets its recent writes, which lack the other node's).
//!
//! Every command carries the proposer's hybrid clock, and every replica
//! that applies one moves its node's clock past it
//! ([`super::Store::applied_clock`]): a new leaseholder's commits land
//! above its predecessors'.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use lyra_engine::hlc::Hlc;
use lyra_engine::keys::RangeId;
use lyra_engine::storage::{Engine, KvPair, Step, WriteBatch, WriteOp};
use lyra_engine::{Error, Result};
use tokio::sync::oneshot;

use super::command::{CommandOp, CommandOpKind};
use super::directory::Directory;
use super::driver::{Input, Proposed};
use super::Command;

/// One range as the Raft loop last published it.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeServing {
    pub range: RangeId,
    pub start: Vec<u8>,
    /// Empty: unbounded.
    pub end: Vec<u8>,
    pub term: u64,
    pub leader: Option<u64>,
    /// Until when this node may serve the range: its lease, once it has
    /// applied what the lease covers. `None`: not now.
    pub lease_until: Option<Instant>,
}

impl RangeServing {
    fn serves_now(&self, now: Instant) -> bool {
        self.lease_until.is_some_and(|until| now < until)
    }

    fn overlaps(&self, start: &[u8], end: &[u8]) -> bool {
        (end.is_empty() || self.start.as_slice() < end) && (self.end.is_empty() || start < self.end.as_slice())
    }
}

/// The ranges this node holds and which of them it may serve; written by
/// the Raft loop, read by every request.
#[derive(Debug, Default)]
pub struct Serving {
    ranges: RwLock<Vec<RangeServing>>,
}

impl Serving {
    pub fn publish(&self, mut ranges: Vec<RangeServing>) {
        ranges.sort_by(|a, b| a.start.cmp(&b.start));
        *self.ranges.write().unwrap_or_else(PoisonError::into_inner) = ranges;
    }

    pub fn ranges(&self) -> Vec<RangeServing> {
        self.ranges.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The ranges covering `[start, end)` (end empty: unbounded), in key
    /// order, if they cover all of it; else the first key none covers.
    fn covering(&self, start: &[u8], end: &[u8]) -> std::result::Result<Vec<RangeServing>, Vec<u8>> {
        let ranges = self.ranges.read().unwrap_or_else(PoisonError::into_inner);
        let mut covering = Vec::new();
        let mut reached = start.to_vec();
        for range in ranges.iter().filter(|r| r.overlaps(start, end)) {
            if range.start.as_slice() > reached.as_slice() {
                break;
            }
            reached = range.end.clone();
            covering.push(range.clone());
            if reached.is_empty() || (!end.is_empty() && reached.as_slice() >= end) {
                return Ok(covering);
            }
        }
        Err(reached)
    }
}

/// How long a request waits for this node to be able to serve a range it
/// leads (or that has no leader yet) before it is refused: an election and
/// a first lease take about two election timeouts.
const WAIT_FOR_LEASE: Duration = Duration::from_secs(4);

/// The largest write batch one command carries (one transaction's
/// writes): an entry must fit in one gRPC message to reach the other
/// replicas (`server::MAX_MESSAGE`), with room for what is batched with it.
pub const MAX_COMMAND_BYTES: usize = 256 << 20;

/// The node's engine over its replicated ranges (module docs).
pub struct ReplicatedEngine {
    node: u64,
    local: Arc<dyn Engine>,
    serving: Arc<Serving>,
    inputs: mpsc::Sender<Input>,
    hlc: Arc<Hlc>,
    /// Where the ranges this node has no replica of are.
    directory: Option<Arc<Directory>>,
    /// Range → the leader term this generation serves it in.
    terms: Mutex<HashMap<RangeId, u64>>,
    stale: AtomicBool,
    epoch: AtomicU64,
}

impl ReplicatedEngine {
    pub fn new(
        node: u64,
        local: Arc<dyn Engine>,
        serving: Arc<Serving>,
        inputs: mpsc::Sender<Input>,
        hlc: Arc<Hlc>,
    ) -> ReplicatedEngine {
        ReplicatedEngine {
            node,
            local,
            serving,
            inputs,
            hlc,
            directory: None,
            terms: Mutex::new(HashMap::new()),
            stale: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
        }
    }

    /// Names the nodes serving ranges this node holds no replica of in
    /// refusals, from `directory`.
    pub fn with_directory(mut self, directory: Arc<Directory>) -> ReplicatedEngine {
        self.directory = Some(directory);
        self
    }

    /// A fresh generation on the same node and ranges.
    pub fn next_generation(&self) -> ReplicatedEngine {
        let next = ReplicatedEngine::new(self.node, self.local.clone(), self.serving.clone(), self.inputs.clone(), self.hlc.clone());
        ReplicatedEngine { directory: self.directory.clone(), ..next }
    }

    /// The node's clock (shared by every generation).
    pub fn clock(&self) -> Arc<Hlc> {
        self.hlc.clone()
    }

    /// Checks that this generation may serve `[start, end)` now (waiting a
    /// moment for a lease this node is about to hold); the ranges it spans,
    /// with the term this generation serves each in.
    fn serve(&self, start: &[u8], end: &[u8]) -> Result<Vec<(RangeId, u64)>> {
        let deadline = Instant::now() + WAIT_FOR_LEASE;
        loop {
            if self.stale() {
                return Err(self.moved());
            }
            let refusal = match self.serving.covering(start, end) {
                Ok(ranges) => match self.adopt(&ranges) {
                    Ok(ids) => return Ok(ids),
                    Err(refusal) => refusal,
                },
                Err(missing) => self.not_here(&missing),
            };
            match refusal {
                Refusal::Wait(why) if Instant::now() < deadline => {
                    tracing::trace!(why, "waiting for a lease");
                    // Off the async worker, if on one (a point read runs on
                    // its connection's task): a sleeping worker would hold
                    // up every other connection.
                    tokio::task::block_in_place(|| std::thread::sleep(Duration::from_millis(5)));
                }
                Refusal::Wait(why) | Refusal::Now(why) => return Err(Error::NotServed(why)),
                Refusal::Moved => return Err(self.moved()),
            }
        }
    }

    /// Takes `ranges` into this generation if this node serves them all.
    fn adopt(&self, ranges: &[RangeServing]) -> std::result::Result<Vec<(RangeId, u64)>, Refusal> {
        let now = Instant::now();
        let mut terms = self.terms.lock().unwrap_or_else(PoisonError::into_inner);
        for range in ranges {
            if !range.serves_now(now) {
                return Err(match range.leader {
                    // A range this generation served, led elsewhere now:
                    // its memory of the range is over.
                    Some(leader) if leader != self.node && terms.contains_key(&range.range) => {
                        self.stale.store(true, Ordering::SeqCst);
                        Refusal::Moved
                    }
                    Some(leader) if leader != self.node => Refusal::Now(format!(
                        "range {} is served by node {leader}, not by this node (node {})",
                        range.range, self.node
                    )),
                    _ => Refusal::Wait(format!("range {} has no lease holder yet", range.range)),
                });
            }
            match terms.get(&range.range) {
                Some(&term) if term == range.term => {}
                Some(_) => {
                    self.stale.store(true, Ordering::SeqCst);
                    return Err(Refusal::Moved);
                }
                None => {
                    terms.insert(range.range, range.term);
                    self.epoch.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        Ok(ranges.iter().map(|r| (r.range, r.term)).collect())
    }

    /// Why keys from `missing` on cannot be served here: another node's
    /// range (the catalog names it), or none known yet (a split or a
    /// snapshot on its way: wait).
    fn not_here(&self, missing: &[u8]) -> Refusal {
        let shown = String::from_utf8_lossy(missing);
        let elsewhere = self.directory.as_ref().and_then(|d| Some((d.locate(missing)?, d)));
        match elsewhere {
            Some((range, directory)) if !range.voters.contains(&self.node) => Refusal::Now(format!(
                "the keys from {shown:?} are in range {}, served by node {} ({}); this node (node {}) holds no replica of it",
                range.range,
                range.leader,
                directory.get(range.leader).unwrap_or_default(),
                self.node
            )),
            _ => Refusal::Wait(format!("no range on this node holds the keys from {shown:?}")),
        }
    }

    fn moved(&self) -> Error {
        Error::NotServed("this node's lease on a range moved; its open transactions must restart".into())
    }

    #[cfg(test)]
    fn covering_now(&self, key: &[u8]) -> std::result::Result<Vec<RangeServing>, Vec<u8>> {
        self.serving.covering(key, &successor(key))
    }

    /// The one range all of `batch`'s keys lie in, and this generation's
    /// term of it.
    fn range_of_batch(&self, batch: &WriteBatch) -> Result<(RangeId, u64)> {
        let mut range = None;
        for op in batch.ops() {
            let ids = match op {
                WriteOp::Put { key, .. } | WriteOp::Delete { key } => self.serve(key, &successor(key))?,
                WriteOp::DeleteRange { start, end } => self.serve(start, end)?,
            };
            for id in ids {
                if range.is_some_and(|r| r != id) {
                    return Err(Error::NotServed(
                        "a transaction wrote rows in more than one range; writes across ranges \
                         (two-phase commit) are not supported yet"
                            .into(),
                    ));
                }
                range = Some(id);
            }
        }
        range.ok_or_else(|| Error::InvalidInput("an empty write".into()))
    }
}

enum Refusal {
    /// Not now, maybe in a moment.
    Wait(String),
    /// Not here.
    Now(String),
    /// This generation lost a lease.
    Moved,
}

/// The smallest key after `key`.
fn successor(key: &[u8]) -> Vec<u8> {
    let mut next = key.to_vec();
    next.push(0);
    next
}

impl Engine for ReplicatedEngine {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.serve(key, &successor(key))?;
        self.local.get(key)
    }

    fn scan(&self, start: &[u8], end: &[u8], max_rows: usize, max_bytes: usize) -> Result<Vec<KvPair>> {
        self.serve(start, end)?;
        self.local.scan(start, end, max_rows, max_bytes)
    }

    fn walk(&self, start: &[u8], end: &[u8], visit: &mut dyn FnMut(&[u8], &[u8]) -> Step) -> Result<()> {
        self.serve(start, end)?;
        self.local.walk(start, end, visit)
    }

    fn scan_visit_reverse(
        &self,
        start: &[u8],
        end: &[u8],
        max_rows: usize,
        max_bytes: usize,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        self.serve(start, end)?;
        self.local.scan_visit_reverse(start, end, max_rows, max_bytes, visit)
    }

    /// One Raft command; returns once applied here. Every write is durable
    /// (the Raft log is synced), whatever `sync` asks.
    fn write(&self, batch: &WriteBatch, sync: bool) -> Result<()> {
        self.write_owned(batch.clone(), sync)
    }

    fn write_owned(&self, batch: WriteBatch, _sync: bool) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let (range, term) = self.range_of_batch(&batch)?;
        let ops = batch
            .into_ops()
            .into_iter()
            .map(|op| match op {
                WriteOp::Put { key, value } => CommandOp { kind: CommandOpKind::Put as i32, key, value },
                WriteOp::Delete { key } => CommandOp { kind: CommandOpKind::Delete as i32, key, value: Vec::new() },
                WriteOp::DeleteRange { start, end } => {
                    CommandOp { kind: CommandOpKind::DeleteRange as i32, key: start, value: end }
                }
            })
            .collect();
        let command = Command { id: 0, ops, split: None, clock: self.hlc.now().encode().to_vec() };
        let bytes = prost::Message::encoded_len(&command);
        if bytes > MAX_COMMAND_BYTES {
            return Err(Error::InvalidInput(format!(
                "a transaction writing {} MB cannot be replicated (at most {} MB per commit)",
                bytes >> 20,
                MAX_COMMAND_BYTES >> 20
            )));
        }
        let (reply, answer) = oneshot::channel();
        if self.inputs.send(Input::Propose { range: Some(range), term: Some(term), command, reply }).is_err() {
            return Err(Error::NotServed("the node's Raft loop has stopped".into()));
        }
        match answer.blocking_recv() {
            Ok(Proposed::Applied { .. }) => Ok(()),
            Ok(Proposed::NotLeader { .. }) => {
                self.stale.store(true, Ordering::SeqCst);
                Err(self.moved())
            }
            Ok(Proposed::Failed(why)) => Err(Error::NotServed(format!("range {range} refused the write: {why}"))),
            Err(_) => {
                // Nothing is known of this write: the service's memory of
                // what it wrote cannot be trusted either.
                self.stale.store(true, Ordering::SeqCst);
                Err(Error::Ambiguous(format!(
                    "the write to range {range} was not applied in time (leadership changing?); \
                     it may or may not have taken effect"
                )))
            }
        }
    }

    fn stale(&self) -> bool {
        self.stale.load(Ordering::SeqCst)
    }

    fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lyra_engine::storage::Memory;
    use crate::raft::peer_proto::RangeDescriptor;

    fn range(range: RangeId, start: &[u8], end: &[u8], term: u64, leader: u64, leased: bool) -> RangeServing {
        let lease_until = leased.then(|| Instant::now() + Duration::from_secs(60));
        RangeServing { range, start: start.to_vec(), end: end.to_vec(), term, leader: Some(leader), lease_until }
    }

    fn engine(node: u64, serving: &Arc<Serving>) -> ReplicatedEngine {
        let local: Arc<dyn Engine> = Arc::new(Memory::new());
        let mut batch = WriteBatch::new();
        batch.put(b"a".to_vec(), b"1".to_vec());
        batch.put(b"p".to_vec(), b"2".to_vec());
        local.write(&batch, false).unwrap();
        let (inputs, _) = mpsc::channel();
        ReplicatedEngine::new(node, local, serving.clone(), inputs, Arc::new(Hlc::system(500_000)))
    }

    #[test]
    fn reads_are_served_only_under_a_lease_of_every_range_they_touch() {
        let serving = Arc::new(Serving::default());
        serving.publish(vec![range(2, b"m", b"\xff", 7, 2, false), range(1, b"\x02", b"m", 7, 1, true)]);
        let engine = engine(1, &serving);
        assert_eq!(engine.get(b"a").unwrap(), Some(b"1".to_vec()));
        // Range 2 is node 2's: refused at once, naming it.
        let started = Instant::now();
        match engine.get(b"p") {
            Err(Error::NotServed(why)) => assert!(why.contains("served by node 2"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(1), "no wait for a lease held elsewhere");
        assert!(matches!(engine.scan(b"a", b"z", 10, 1 << 20), Err(Error::NotServed(_))));
        assert!(!engine.stale(), "a range never served here is not a lost lease");
        // No range holds the keys past 0xff.
        assert!(matches!(engine.covering_now(b"\xff\x01"), Err(_)));
    }

    #[test]
    fn keys_of_a_range_without_a_replica_here_are_refused_naming_its_leader() {
        let serving = Arc::new(Serving::default());
        serving.publish(vec![range(1, b"\x02", b"m", 7, 1, true)]);
        let directory = Arc::new(Directory::new([(3, "10.0.0.3:7000".to_string())].into()));
        let descriptor = |voters: Vec<u64>| RangeDescriptor { range: 9, start: b"m".to_vec(), end: Vec::new(), voters, leader: 3, term: 2, index: 10 };
        directory.note_range(descriptor(vec![2, 3, 4]));
        let engine = engine(1, &serving).with_directory(directory.clone());
        let started = Instant::now();
        match engine.get(b"p") {
            Err(Error::NotServed(why)) => {
                assert!(why.contains("range 9, served by node 3 (10.0.0.3:7000)"), "{why}")
            }
            other => panic!("{other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(1), "no wait for a range this node is not in");
        // A range this node is a voter of, not here yet (a snapshot on its
        // way): waited for, then refused.
        directory.note_range(RangeDescriptor { index: 11, ..descriptor(vec![1, 2, 3]) });
        let started = Instant::now();
        assert!(matches!(engine.get(b"p"), Err(Error::NotServed(_))));
        assert!(started.elapsed() >= WAIT_FOR_LEASE, "waited for the replica");
    }

    #[test]
    fn a_lease_lost_and_regained_ends_the_generation() {
        let serving = Arc::new(Serving::default());
        serving.publish(vec![range(1, b"\x02", b"\xff", 7, 1, true)]);
        let first = engine(1, &serving);
        first.get(b"a").unwrap();
        let epoch = first.epoch();
        assert!(epoch > 0, "taking a range over moves the epoch");
        first.get(b"p").unwrap();
        assert_eq!(first.epoch(), epoch, "the same range in the same term: no new epoch");
        // Node 2 led the range in term 8; this node leads again in term 9.
        serving.publish(vec![range(1, b"\x02", b"\xff", 9, 1, true)]);
        assert!(matches!(first.get(b"a"), Err(Error::NotServed(_))));
        assert!(first.stale());
        let mut batch = WriteBatch::new();
        batch.put(b"b".to_vec(), b"3".to_vec());
        assert!(matches!(first.write(&batch, true), Err(Error::NotServed(_))), "a stale generation writes nothing");
        let next = first.next_generation();
        assert!(!next.stale());
        assert_eq!(next.get(b"a").unwrap(), Some(b"1".to_vec()));
    }

    #[test]
    fn a_range_led_elsewhere_after_serving_it_here_makes_the_generation_stale() {
        let serving = Arc::new(Serving::default());
        serving.publish(vec![range(1, b"\x02", b"\xff", 7, 1, true)]);
        let engine = engine(1, &serving);
        engine.get(b"a").unwrap();
        serving.publish(vec![range(1, b"\x02", b"\xff", 8, 3, false)]);
        assert!(matches!(engine.get(b"a"), Err(Error::NotServed(_))));
        assert!(engine.stale());
    }

    #[test]
    fn a_batch_across_ranges_is_refused() {
        let serving = Arc::new(Serving::default());
        serving.publish(vec![range(1, b"\x02", b"m", 7, 1, true), range(2, b"m", b"\xff", 7, 1, true)]);
        let engine = engine(1, &serving);
        let mut batch = WriteBatch::new();
        batch.put(b"a".to_vec(), b"x".to_vec());
        batch.put(b"p".to_vec(), b"y".to_vec());
        match engine.write(&batch, true) {
            Err(Error::NotServed(why)) => assert!(why.contains("more than one range"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(engine.get(b"a").unwrap(), Some(b"1".to_vec()), "nothing written");
    }
}
