//! [`Directory`]: where every node of the cluster listens, and how a node
//! joins.
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
//! replicas off decommissioned nodes ([`place_replicas`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{mpsc, Arc, PoisonError, RwLock};
use std::time::Duration;

use lyra_engine::keys::{Key, KeyPrefix};
use lyra_engine::storage::Engine;

use super::driver::{Changed, Input, RangeInfo};
use super::kv::{KvClient, LoopHandle};
use super::peer_proto::NodeEntry;

/// Node id → gRPC address, and the nodes decommissioned.
#[derive(Debug, Default)]
pub struct Directory {
    addresses: RwLock<BTreeMap<u64, String>>,
    decommissioned: RwLock<BTreeSet<u64>>,
}

impl Directory {
    pub fn new(known: BTreeMap<u64, String>) -> Directory {
        Directory { addresses: RwLock::new(known), decommissioned: RwLock::default() }
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
        let (start, end) = KeyPrefix::DecommissionedNodes.range();
        let mut gone = Vec::new();
        let scanned = engine.scan_visit(&start, &end, 1 << 16, usize::MAX, &mut |key, _| {
            if let Ok(Key::NodeDecommissioned { node }) = Key::decode(key) {
                gone.push(node);
            }
            true
        });
        if let Err(e) = scanned {
            tracing::warn!(error = %e, "reading the decommissioned nodes failed");
        }
        if !gone.is_empty() {
            self.decommissioned.write().unwrap_or_else(PoisonError::into_inner).extend(gone);
        }
        let (start, end) = KeyPrefix::NodeAddresses.range();
        let mut found = Vec::new();
        let scanned = engine.scan_visit(&start, &end, 1 << 16, usize::MAX, &mut |key, value| {
            if let (Ok(Key::NodeAddress { node }), Ok(address)) = (Key::decode(key), std::str::from_utf8(value)) {
                found.push((node, address.to_string()));
            }
            true
        });
        if let Err(e) = scanned {
            tracing::warn!(error = %e, "reading the node directory failed");
        }
        for (node, address) in found {
            self.learn(node, address);
        }
    }

    pub fn entries(&self) -> Vec<NodeEntry> {
        self.all().into_iter().map(|(node, address)| NodeEntry { node, address }).collect()
    }
}

/// Joins the cluster through `via` (addresses of nodes already in it; this
/// node's own address when it starts the cluster), following redirects to
/// range 1's leader, until a leader takes the join.
pub async fn join(node: u64, address: String, via: Vec<String>, directory: Arc<Directory>) {
    let mut client = KvClient::new(via.clone());
    loop {
        match client.join(node, &address).await {
            Ok(nodes) => {
                for entry in nodes {
                    directory.learn(entry.node, entry.address);
                }
                tracing::info!(node, "joined the cluster");
                return;
            }
            Err(e) => {
                tracing::warn!(node, ?via, error = %e, "still trying to join the cluster");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

/// Every second, one step for each range this node leads: with fewer
/// voters on active nodes than `factor` (capped by the number of active
/// nodes), add an active node that is not a voter yet (lowest id first);
/// otherwise, with a voter on a decommissioned node, remove it — or, if
/// that voter is this node, hand leadership to another voter first.
pub async fn place_replicas(node: u64, factor: usize, directory: Arc<Directory>, inputs: mpsc::Sender<Input>) {
    let handle = LoopHandle { directory: directory.clone(), inputs };
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let Ok((ranges, _)) = handle.ask(|reply| Input::Status { reply }).await else { continue };
        let active = directory.active();
        let target = factor.min(active.len()).max(1);
        for range in ranges.iter().filter(|r| r.is_leader) {
            let (leaving, staying): (Vec<u64>, Vec<u64>) =
                range.voters.iter().partition(|&&voter| directory.is_decommissioned(voter));
            let spare = active.iter().copied().find(|id| !range.voters.contains(id));
            match (spare, leaving.first()) {
                (Some(add), _) if staying.len() < target => change(&handle, range, vec![add], Vec::new()).await,
                (_, Some(&gone)) if gone == node => {
                    if let Some(&to) = staying.first() {
                        let range_id = range.range;
                        let _ = handle.ask(|reply| Input::TransferLeader { range: range_id, to, reply }).await;
                    }
                }
                (_, Some(&gone)) => change(&handle, range, Vec::new(), vec![gone]).await,
                _ => {}
            }
        }
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
