//! [`Directory`]: where every node of the cluster listens, where every
//! range is, and how a node joins.
//!
//! The cluster's directory is replicated: node `n`'s gRPC address is the
//! value of [`Key::NodeAddress`] in range 1, written when the node joins.
//! Each node keeps a copy in memory that its transport and redirects use,
//! filled from three places: the addresses it was started with, the
//! answer to its join, and the keys its replica of range 1 applied (read
//! again on every tick).
//!
//! Joining (`lyra.join`): a node calls `Admin.Join` on any node it knows,
//! which writes its address through range 1's leader (following
//! redirects) and answers with the whole directory. A node that starts a
//! cluster joins itself. Joining again (a restart) rewrites the same key.
//! Replicas follow: every leader adds nodes of the directory as voters of
//! its ranges until each has `lyra.replication_factor` of them, and moves
//! replicas off decommissioned nodes ([`tend`]).
//!
//! A node started without an id (`lyra.node_id = 0`) is given one when it
//! joins: range 1's leader takes the lowest id above every id it knows,
//! written only if no node holds it yet (a condition every replica checks
//! when it applies the write, so two joins never get the same id), and
//! the node keeps it in its data directory.
//!
//! **Range descriptors** (DESIGN §5: range 1 holds the catalog and every
//! range's descriptor): each range's leader writes its range's span,
//! voters, leader and term to `/meta/range/{range}` in range 1 whenever
//! they differ from what the catalog says ([`tend`], every second), with
//! its applied index, which orders a range's descriptors (an older one
//! never replaces a newer one). Range 1's leader reads the descriptors
//! from its engine every tick; the other nodes ask it (`Admin.Catalog`)
//! every second (a replica of range 1 may be a zombie's, below). The
//! descriptors are a routing table, checked where it matters: a node finds
//! the range of any key ([`Directory::locate`]) and sends the request to
//! its leader, which serves it or redirects. They also find **zombie
//! replicas**: a replica whose range's descriptor does not list its node
//! asks the range's leader, and if the leader says it is no member, the
//! replica deletes itself (a node cut off while it was removed never hears
//! of its removal from the group).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{mpsc, Arc, PoisonError, RwLock};
use std::time::Duration;

use lyra_engine::keys::{Key, KeyPrefix, RangeId};
use lyra_engine::storage::Engine;
use prost::Message as _;

use super::driver::{Changed, Input, RangeInfo};
use super::kv::{KvClient, LoopHandle, KV_RANGE};
use super::peer_proto::{CatalogResponse, NodeEntry, RangeDescriptor};

/// Node id → gRPC address, the nodes decommissioned, and where each range
/// is.
#[derive(Debug, Default)]
pub struct Directory {
    addresses: RwLock<BTreeMap<u64, String>>,
    decommissioned: RwLock<BTreeSet<u64>>,
    ranges: RwLock<BTreeMap<RangeId, RangeDescriptor>>,
    /// Wakes [`tend`] early: a key no known range holds (a miss).
    missed: tokio::sync::Notify,
}

impl Directory {
    pub fn new(known: BTreeMap<u64, String>) -> Directory {
        Directory { addresses: RwLock::new(known), ..Directory::default() }
    }

    pub fn is_decommissioned(&self, node: u64) -> bool {
        self.decommissioned.read().unwrap_or_else(PoisonError::into_inner).contains(&node)
    }

    /// The nodes that may hold replicas: every known node not decommissioned.
    pub fn active(&self) -> Vec<u64> {
        let gone = self.decommissioned.read().unwrap_or_else(PoisonError::into_inner).clone();
        self.all().into_keys().filter(|node| !gone.contains(node)).collect()
    }

    pub fn get(&self, node: u64) -> Option<String> {
        self.addresses.read().unwrap_or_else(PoisonError::into_inner).get(&node).cloned()
    }

    pub fn all(&self) -> BTreeMap<u64, String> {
        self.addresses.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub fn learn(&self, node: u64, address: String) {
        let mut addresses = self.addresses.write().unwrap_or_else(PoisonError::into_inner);
        if addresses.get(&node) != Some(&address) {
            tracing::info!(node, address, "learned a node's address");
            addresses.insert(node, address);
        }
    }

    /// Learns the addresses and decommissions this node's engine holds
    /// (what its replica of range 1 applied).
    pub fn refresh_from(&self, engine: &dyn Engine) {
        read_prefix(engine, KeyPrefix::DecommissionedNodes, "the decommissioned nodes", |key, _| {
            if let Ok(Key::NodeDecommissioned { node }) = Key::decode(key) {
                self.decommissioned.write().unwrap_or_else(PoisonError::into_inner).insert(node);
            }
        });
        read_prefix(engine, KeyPrefix::NodeAddresses, "the node directory", |key, value| {
            if let (Ok(Key::NodeAddress { node }), Ok(address)) = (Key::decode(key), std::str::from_utf8(value)) {
                self.learn(node, address.to_string());
            }
        });
        read_prefix(engine, KeyPrefix::RangeDescriptors, "the range descriptors", |_, value| {
            match RangeDescriptor::decode(value) {
                Ok(descriptor) => self.note_range(descriptor),
                Err(e) => tracing::warn!(error = %e, "an undecodable range descriptor"),
            }
        });
    }

    /// Takes `descriptor` in unless a newer one is known.
    pub fn note_range(&self, descriptor: RangeDescriptor) {
        let mut ranges = self.ranges.write().unwrap_or_else(PoisonError::into_inner);
        match ranges.get(&descriptor.range) {
            Some(known) if known.index > descriptor.index || *known == descriptor => {}
            _ => {
                ranges.insert(descriptor.range, descriptor);
            }
        }
    }

    /// What the catalog says of `range`.
    pub fn range(&self, range: RangeId) -> Option<RangeDescriptor> {
        self.ranges.read().unwrap_or_else(PoisonError::into_inner).get(&range).cloned()
    }

    /// Every range the catalog describes, by id.
    pub fn ranges(&self) -> Vec<RangeDescriptor> {
        self.ranges.read().unwrap_or_else(PoisonError::into_inner).values().cloned().collect()
    }

    /// The range holding `key`, as far as this node knows: of the known
    /// spans holding it, the one starting last (a split's new range before
    /// a stale descriptor of the range it came from).
    pub fn locate(&self, key: &[u8]) -> Option<RangeDescriptor> {
        let ranges = self.ranges.read().unwrap_or_else(PoisonError::into_inner);
        ranges
            .values()
            .filter(|d| d.start.as_slice() <= key && (d.end.is_empty() || key < d.end.as_slice()))
            .max_by(|a, b| a.start.cmp(&b.start))
            .cloned()
    }

    /// [`Self::locate`], and on a miss asks [`tend`] to fetch the catalog
    /// at once and waits for it a moment (a range this node never heard
    /// of: a split under way, or a node that just joined).
    pub async fn locate_fresh(&self, key: &[u8]) -> Option<RangeDescriptor> {
        let deadline = tokio::time::Instant::now() + TEND_EVERY;
        loop {
            if let Some(found) = self.locate(key) {
                return Some(found);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            self.missed.notify_one();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Everything this node knows of the catalog, for a node without a
    /// replica of range 1.
    pub fn catalog(&self) -> CatalogResponse {
        CatalogResponse {
            nodes: self.entries(),
            decommissioned: self.decommissioned.read().unwrap_or_else(PoisonError::into_inner).iter().copied().collect(),
            ranges: self.ranges(),
        }
    }

    /// Learns what another node knows of the catalog.
    pub fn learn_catalog(&self, catalog: CatalogResponse) {
        for entry in catalog.nodes {
            self.learn(entry.node, entry.address);
        }
        self.decommissioned.write().unwrap_or_else(PoisonError::into_inner).extend(catalog.decommissioned);
        for descriptor in catalog.ranges {
            self.note_range(descriptor);
        }
    }

    /// The lowest node id above every id this node knows (a joining
    /// node's, if nobody takes it first).
    pub fn next_node_id(&self) -> u64 {
        let highest_known = self.all().into_keys().max().unwrap_or(0);
        let highest_gone = self.decommissioned.read().unwrap_or_else(PoisonError::into_inner).iter().copied().max();
        highest_known.max(highest_gone.unwrap_or(0)) + 1
    }

    pub fn entries(&self) -> Vec<NodeEntry> {
        self.all().into_iter().map(|(node, address)| NodeEntry { node, address }).collect()
    }
}

/// Calls `visit` on every key and value under `prefix` in `engine`; a
/// failed read is logged (the next tick reads again).
fn read_prefix(engine: &dyn Engine, prefix: KeyPrefix, what: &str, mut visit: impl FnMut(&[u8], &[u8])) {
    let (start, end) = prefix.range();
    let scanned = engine.scan_visit(&start, &end, 1 << 16, usize::MAX, &mut |key, value| {
        visit(key, value);
        true
    });
    if let Err(e) = scanned {
        tracing::warn!(error = %e, "reading {what} failed");
    }
}

/// Joins the cluster through `via` (addresses of nodes already in it; this
/// node's own address when it starts the cluster), following redirects to
/// range 1's leader, until a leader takes the join; node 0 asks for a new
/// id. This node's id.
pub async fn join(node: u64, address: String, via: Vec<String>, directory: Arc<Directory>) -> u64 {
    let mut client = KvClient::new(via.clone());
    loop {
        match client.join(node, &address).await {
            Ok((id, nodes)) => {
                for entry in nodes {
                    directory.learn(entry.node, entry.address);
                }
                tracing::info!(node = id, "joined the cluster");
                return id;
            }
            Err(e) => {
                tracing::warn!(node, ?via, error = %e, "still trying to join the cluster");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

/// How often a node tends its ranges ([`tend`]).
const TEND_EVERY: Duration = Duration::from_secs(1);

/// Every second: learn the catalog (from a node with a replica of range 1,
/// if this node has none); record in range 1 the descriptor of each range
/// this node leads where the catalog's differs; place replicas (below);
/// delete zombie replicas (module docs).
///
/// Placement, one step for each range this node leads: with fewer voters
/// on active nodes than `factor` (capped by the number of active nodes; 0
/// places nothing), add an active node that is not a voter yet (lowest id
/// first); otherwise, with a voter on a decommissioned node, remove it —
/// or, if that voter is this node, hand leadership to another voter first.
pub async fn tend(node: u64, factor: usize, directory: Arc<Directory>, inputs: mpsc::Sender<Input>) {
    let handle = LoopHandle { directory: directory.clone(), inputs };
    // Kept across turns: its connections are made once, not every second.
    let mut client = KvClient::new(Vec::new());
    loop {
        tokio::select! {
            _ = tokio::time::sleep(TEND_EVERY) => {}
            _ = directory.missed.notified() => {}
        }
        let Ok((ranges, _)) = handle.ask(|reply| Input::Status { reply }).await else { continue };
        // Range 1's leader reads the catalog from its engine (every tick);
        // other nodes ask it: a replica of range 1 here may be a zombie's.
        if !ranges.iter().any(|r| r.range == KV_RANGE && r.is_leader) {
            fetch_catalog(node, &directory, &mut client).await;
        }
        for range in ranges.iter().filter(|r| r.is_leader && r.initialized) {
            let descriptor = RangeDescriptor {
                range: range.range,
                start: range.span.0.clone(),
                end: range.span.1.clone(),
                voters: range.voters.clone(),
                leader: node,
                term: range.term,
                index: range.applied,
            };
            let known = directory.range(range.range).map(|d| RangeDescriptor { index: range.applied, ..d });
            if known.as_ref() != Some(&descriptor) {
                if let Err(e) = handle.describe(descriptor).await {
                    tracing::debug!(range = range.range, error = %e, "recording the range's descriptor failed; next time");
                }
            }
        }
        if factor > 0 {
            place_replicas(node, factor, &handle, &ranges).await;
        }
        for range in ranges.iter().filter(|r| !r.is_leader && r.initialized) {
            collect_if_zombie(node, &handle, range, &mut client).await;
        }
    }
}

/// Learns the catalog from another node (range 1's leader first).
async fn fetch_catalog(node: u64, directory: &Directory, client: &mut KvClient) {
    let leader = directory.range(KV_RANGE).map(|d| d.leader);
    let mut nodes: Vec<(u64, String)> = directory.all().into_iter().filter(|&(id, _)| id != node).collect();
    nodes.sort_by_key(|&(id, _)| Some(id) != leader);
    for (_, address) in &nodes {
        match client.catalog(address).await {
            Ok(catalog) => return directory.learn_catalog(catalog),
            Err(e) => tracing::debug!(address, error = %e, "no catalog from this node"),
        }
    }
}

async fn place_replicas(node: u64, factor: usize, handle: &LoopHandle, ranges: &[RangeInfo]) {
    let directory = &handle.directory;
    let active = directory.active();
    let target = factor.min(active.len()).max(1);
    for range in ranges.iter().filter(|r| r.is_leader) {
        let (leaving, staying): (Vec<u64>, Vec<u64>) =
            range.voters.iter().partition(|&&voter| directory.is_decommissioned(voter));
        let spare = active.iter().copied().find(|id| !range.voters.contains(id));
        match (spare, leaving.first()) {
            (Some(add), _) if staying.len() < target => change(handle, range, vec![add], Vec::new()).await,
            (_, Some(&gone)) if gone == node => {
                if let Some(&to) = staying.first() {
                    let range_id = range.range;
                    let _ = handle.ask(|reply| Input::TransferLeader { range: range_id, to, reply }).await;
                }
            }
            (_, Some(&gone)) => change(handle, range, Vec::new(), vec![gone]).await,
            _ => {}
        }
    }
}

/// Deletes this node's replica of `range` if the catalog no longer lists
/// this node and the range's leader confirms it is no member.
async fn collect_if_zombie(node: u64, handle: &LoopHandle, range: &RangeInfo, client: &mut KvClient) {
    let Some(descriptor) = handle.directory.range(range.range) else { return };
    if descriptor.voters.contains(&node) || descriptor.leader == node {
        return;
    }
    let Some(address) = handle.directory.get(descriptor.leader) else { return };
    match client.members(&address, range.range).await {
        Ok(Some(members)) if !members.contains(&node) => {
            let range_id = range.range;
            match handle.ask(|reply| Input::Forget { range: range_id, reply }).await {
                Ok(true) => tracing::info!(range = range_id, leader = descriptor.leader, ?members, "deleted a replica its range no longer has"),
                _ => tracing::debug!(range = range_id, "a zombie replica was not deleted (leading now?)"),
            }
        }
        Ok(_) => {}
        Err(e) => tracing::debug!(range = range.range, address, error = %e, "could not ask the range's leader about this replica"),
    }
}
async fn change(handle: &LoopHandle, range: &RangeInfo, add: Vec<u64>, remove: Vec<u64>) {
    let range_id = range.range;
    let asked = handle
        .ask(|reply| Input::ChangeMembers { range: range_id, add: add.clone(), remove: remove.clone(), reply })
        .await;
    match asked {
        Ok(Changed::Voters(voters)) => tracing::info!(range = range_id, ?add, ?remove, ?voters, "moved replicas"),
        Ok(other) => tracing::debug!(range = range_id, ?add, ?remove, ?other, "moving replicas did not happen"),
        Err(e) => tracing::debug!(range = range_id, ?add, ?remove, error = %e, "moving replicas did not happen"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn descriptor(range: RangeId, start: &[u8], end: &[u8], leader: u64, index: u64) -> RangeDescriptor {
        RangeDescriptor { range, start: start.to_vec(), end: end.to_vec(), voters: vec![1, 2, 3], leader, term: 1, index }
    }

    #[test]
    fn an_older_descriptor_never_replaces_a_newer_one() {
        let directory = Directory::default();
        directory.note_range(descriptor(1, b"\x02", b"", 1, 20));
        directory.note_range(descriptor(1, b"\x02", b"", 2, 10)); // a zombie's stale copy
        assert_eq!(directory.range(1).unwrap().leader, 1);
        directory.note_range(descriptor(1, b"\x02", b"", 3, 30));
        assert_eq!(directory.range(1).unwrap().leader, 3);
    }

    #[test]
    fn a_key_is_located_in_the_newest_range_holding_it() {
        let directory = Directory::default();
        // Range 1 split at 'v' into range 7; range 1's new descriptor has
        // not arrived yet, range 7's has.
        directory.note_range(descriptor(1, b"\x02", b"", 1, 20));
        directory.note_range(descriptor(7, b"v", b"", 2, 5));
        assert_eq!(directory.locate(b"m").unwrap().range, 1);
        assert_eq!(directory.locate(b"v").unwrap().range, 7);
        assert_eq!(directory.locate(b"w1").unwrap().range, 7);
        directory.note_range(descriptor(1, b"\x02", b"v", 1, 21));
        assert_eq!(directory.locate(b"u").unwrap().range, 1);
        assert_eq!(directory.locate(b"v").unwrap().range, 7);
        assert!(directory.locate(b"\x01").is_none(), "replica-local keys are in no range");
    }

    #[test]
    fn a_new_node_id_is_above_every_known_and_departed_one() {
        let directory = Directory::new([(1, "a".to_string()), (2, "b".to_string())].into());
        assert_eq!(directory.next_node_id(), 3);
        directory.learn_catalog(CatalogResponse { nodes: Vec::new(), decommissioned: vec![5], ranges: Vec::new() });
        assert_eq!(directory.next_node_id(), 6);
    }
}
