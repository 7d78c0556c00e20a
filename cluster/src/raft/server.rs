//! [`RaftNode`]: a node's replicated storage — the engine, the Raft loop,
//! the transport and the gRPC server (`Peer`, `Kv`, `Admin`) on one
//! address. The `lyra-node` binary runs it alone; the node inside Postgres
//! ([`crate::node::NodeHandle`]) runs its SQL service on top of it, through
//! [`RaftNode::replicated_engine`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lyra_engine::hlc::Hlc;
use lyra_engine::storage::{Engine, RocksDb};
use tokio::sync::watch;

use super::directory::{self, Directory};
use super::driver::RangeInfo;
use super::kv::LoopHandle;
use super::peer_proto::admin_client::AdminClient;
use super::peer_proto::TransferLeaderRequest;
use crate::node::server::NodeAdmin;
use crate::protocol::{ClusterInfo, NodeInfo, ReplicaInfo};
use std::time::Instant;
use super::driver::{self, Input, LoopHooks, RaftLoop};
use super::replicated::{ReplicatedEngine, Serving};
use super::kv::{KvService, KV_RANGE, KV_SPAN};
use super::peer_proto::kv_server::KvServer;
use super::peer_proto::peer_server::PeerServer;
use super::admin::AdminService;
use super::peer_proto::admin_server::AdminServer;
use super::transport::{Faults, PeerService, Transport};
use super::{RaftConfig, Store};

/// The largest gRPC message a node takes: a snapshot of a whole range.
const MAX_MESSAGE: usize = 1 << 30;

#[derive(Debug, Clone)]
pub struct RaftNodeConfig {
    pub node: u64,
    /// RocksDB lives here.
    pub dir: PathBuf,
    /// gRPC address (node-to-node and `Kv`); `None`: a node alone, with
    /// no server (a single-node Postgres).
    pub listen: Option<SocketAddr>,
    /// Every node of the cluster, this one included: id → address.
    pub peers: BTreeMap<u64, String>,
    /// Create range 1 with these voters, if this node has no replica of it
    /// yet (each first member does the same); empty: join later (a leader
    /// adds this node and sends it a snapshot).
    pub bootstrap: Vec<u64>,
    /// Raft's tick.
    pub tick: Duration,
    pub raft: RaftConfig,
    /// Threads of the node's runtime (gRPC, and the services on top).
    pub threads: usize,
    /// Joining ([`super::directory`]): `None`, membership is `peers` and
    /// the operator's changes; `Some(addresses)`, this node joins through
    /// them (none: it starts the cluster and joins itself).
    pub join: Option<Vec<String>>,
    /// Voters each range this node leads is brought up to (capped by the
    /// number of nodes); 0: never add any.
    pub replication_factor: usize,
}

pub struct RaftNode {
    node: u64,
    runtime: Option<tokio::runtime::Runtime>,
    raft_loop: Option<RaftLoop>,
    stop: watch::Sender<bool>,
    engine: Arc<dyn Engine>,
    inputs: std::sync::mpsc::Sender<Input>,
    serving: Arc<Serving>,
    clock: Arc<Hlc>,
    directory: Arc<Directory>,
}

impl RaftNode {
    pub fn start(config: RaftNodeConfig) -> Result<RaftNode, String> {
        std::fs::create_dir_all(&config.dir).map_err(|e| format!("{}: {e}", config.dir.display()))?;
        let engine: Arc<dyn Engine> = Arc::new(RocksDb::open(&config.dir).map_err(|e| e.to_string())?);
        let mut store =
            Store::open(config.node, engine.clone(), config.raft.clone(), rand::random()).map_err(|e| e.to_string())?;
        if !config.bootstrap.is_empty() && store.replica(KV_RANGE).is_none() && !store.was_removed_from(KV_RANGE) {
            store.bootstrap_range(KV_RANGE, &config.bootstrap, KV_SPAN.0, KV_SPAN.1).map_err(|e| e.to_string())?;
        }
        // A range this node is the only voter of needs no election timeout
        // to find its leader (a single node serves at once).
        let alone: Vec<_> =
            store.replicas().filter(|r| r.conf_state().voters == [config.node]).map(|r| r.range()).collect();
        for range in alone {
            store.campaign(range).map_err(|e| e.to_string())?;
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.threads.max(1))
            .enable_all()
            .thread_name("lyra-node")
            .build()
            .map_err(|e| e.to_string())?;
        let (inputs, receiver) = driver::inputs();
        let faults = Arc::new(Faults::default());
        let directory = Arc::new(Directory::new(config.peers.clone()));
        directory.refresh_from(&*engine);
        let transport = Transport::start(runtime.handle(), config.node, directory.clone(), inputs.clone(), faults.clone());
        let serving = Arc::new(Serving::default());
        let clock = Arc::new(crate::node::service::system_clock());
        let hooks = LoopHooks {
            serving: Some(serving.clone()),
            clock: Some(clock.clone()),
            directory: Some(directory.clone()),
        };
        let raft_loop = RaftLoop::start_with(store, transport, config.tick, (inputs.clone(), receiver), hooks);
        let (stop, mut stopped) = watch::channel(false);
        let node = RaftNode {
            node: config.node,
            runtime: Some(runtime),
            raft_loop: Some(raft_loop),
            stop,
            engine,
            inputs: inputs.clone(),
            serving,
            clock,
            directory: directory.clone(),
        };
        let Some(listen) = config.listen else { return Ok(node) };
        let runtime = node.runtime.as_ref().expect("set above");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(listen))
            .map_err(|e| format!("listen on {listen}: {e}"))?;
        let peer = PeerServer::new(PeerService::new(inputs.clone(), faults.clone())).max_decoding_message_size(MAX_MESSAGE);
        let admin = AdminServer::new(AdminService::new(directory.clone(), inputs.clone(), faults));
        let kv = KvServer::new(KvService::new(config.node, directory.clone(), inputs.clone()));
        if let Some(via) = config.join.clone() {
            let via = if via.is_empty() { vec![listen.to_string()] } else { via };
            runtime.spawn(directory::join(config.node, listen.to_string(), via, directory.clone()));
        }
        if config.replication_factor > 0 {
            runtime.spawn(directory::replicate_up(config.replication_factor, directory, inputs));
        }
        runtime.spawn(async move {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            let served = tonic::transport::Server::builder()
                .tcp_nodelay(true)
                .add_service(peer)
                .add_service(kv)
                .add_service(admin)
                .serve_with_incoming_shutdown(incoming, async move {
                    let _ = stopped.changed().await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "the gRPC server stopped");
            }
        });
        Ok(node)
    }

    /// The node's runtime, for the services that run beside Raft.
    pub fn runtime(&self) -> &tokio::runtime::Handle {
        self.runtime.as_ref().expect("the runtime lives until shutdown").handle()
    }

    /// A first generation of the engine over this node's ranges.
    pub fn replicated_engine(&self) -> ReplicatedEngine {
        ReplicatedEngine::new(self.node, self.engine.clone(), self.serving.clone(), self.inputs.clone(), self.clock.clone())
    }

    /// The node's hybrid clock.
    pub fn clock(&self) -> Arc<Hlc> {
        self.clock.clone()
    }

    /// Answers the backends' admin functions.
    pub fn admin(&self) -> Arc<dyn NodeAdmin> {
        Arc::new(RaftAdmin {
            node: self.node,
            handle: LoopHandle { directory: self.directory.clone(), inputs: self.inputs.clone() },
            serving: self.serving.clone(),
            runtime: self.runtime().clone(),
        })
    }

    pub fn shutdown(mut self) {
        self.stop_all();
    }

    fn stop_all(&mut self) {
        let _ = self.stop.send(true);
        if let Some(raft_loop) = self.raft_loop.take() {
            raft_loop.stop();
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

impl Drop for RaftNode {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// The node's answers to admin functions, from its Raft loop.
struct RaftAdmin {
    node: u64,
    handle: LoopHandle,
    serving: Arc<Serving>,
    runtime: tokio::runtime::Handle,
}

/// How long a lease transfer may take before the caller hears it failed.
const TRANSFER_PATIENCE: Duration = Duration::from_secs(10);

impl RaftAdmin {
    fn ranges(&self) -> Result<Vec<RangeInfo>, String> {
        let (ranges, _) = self.runtime.block_on(self.handle.ask(|reply| Input::Status { reply })).map_err(|e| e.to_string())?;
        Ok(ranges)
    }
}

impl NodeAdmin for RaftAdmin {
    fn cluster(&self) -> Result<ClusterInfo, String> {
        let mut nodes: Vec<NodeInfo> =
            self.handle.directory.all().into_iter().map(|(node_id, address)| NodeInfo { node_id, address }).collect();
        if !nodes.iter().any(|n| n.node_id == self.node) {
            nodes.push(NodeInfo { node_id: self.node, address: String::new() });
            nodes.sort_by_key(|n| n.node_id);
        }
        let now = Instant::now();
        let leased: std::collections::HashMap<_, _> =
            self.serving.ranges().into_iter().map(|r| (r.range, r.lease_until.is_some_and(|until| now < until))).collect();
        let ranges = self
            .ranges()?
            .into_iter()
            .map(|r| {
                let (start, end) = r.span.clone();
                ReplicaInfo {
                    range: r.range,
                    start,
                    end,
                    voters: r.voters,
                    leader: r.leader.unwrap_or(0),
                    lease_here: leased.get(&r.range).copied().unwrap_or(false),
                    term: r.term,
                    commit: r.commit,
                    applied: r.applied,
                }
            })
            .collect();
        Ok(ClusterInfo { node_id: self.node, nodes, ranges })
    }

    fn transfer_lease(&self, range: u64, to: u64) -> Result<(), String> {
        let deadline = Instant::now() + TRANSFER_PATIENCE;
        loop {
            let info = self.ranges()?.into_iter().find(|r| r.range == range);
            let Some(info) = info else { return Err(format!("range {range} has no replica on this node")) };
            if !info.voters.contains(&to) {
                return Err(format!("node {to} is not a voter of range {range} (voters: {:?})", info.voters));
            }
            if info.leader == Some(to) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("the lease of range {range} did not move to node {to} in time"));
            }
            // Ask the leader (here or on its node), then look again.
            match info.leader {
                Some(leader) if leader == self.node => {
                    let _ = self.runtime.block_on(self.handle.ask(|reply| Input::TransferLeader { range, to, reply }));
                }
                Some(leader) => {
                    if let Some(address) = self.handle.directory.get(leader) {
                        let asked = self.runtime.block_on(async {
                            let mut client = AdminClient::connect(format!("http://{address}")).await.map_err(|e| e.to_string())?;
                            client.transfer_leader(TransferLeaderRequest { range, to }).await.map_err(|e| e.to_string())
                        });
                        if let Err(e) = asked {
                            tracing::debug!(range, to, leader, error = %e, "asking the leader to transfer failed");
                        }
                    }
                }
                None => {}
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
