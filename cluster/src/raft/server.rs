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
use super::driver::{Changed, RangeInfo, Split as DriverSplit};
use super::kv::{KvClient, KvError, LoopHandle};
use crate::node::server::NodeAdmin;
use crate::protocol::{ClusterInfo, NodeInfo, ReplicaInfo};
use lyra_engine::keys::Key;
use std::time::Instant;
use super::driver::{self, Input, LoopHooks, RaftLoop};
use super::replicated::{ReplicatedEngine, Serving};
use super::kv::{KvService, KV_RANGE, KV_SPAN};
use super::peer_proto::kv_server::KvServer;
use super::peer_proto::peer_server::PeerServer;
use super::admin::AdminService;
use super::peer_proto::admin_server::AdminServer;
use super::transport::{Faults, PeerService, Transport};
use super::peer_proto::invitation_server::{Invitation, InvitationServer};
use super::peer_proto::{InviteRequest, InviteResponse};
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
    /// A node without an id waits to be added (`lyra.add_node` on a node
    /// of a cluster, `lyra.join = 'wait'`) instead of joining or starting a
    /// cluster.
    pub wait_to_be_added: bool,
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
    pub fn start(mut config: RaftNodeConfig) -> Result<RaftNode, String> {
        std::fs::create_dir_all(&config.dir).map_err(|e| format!("{}: {e}", config.dir.display()))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.threads.max(1))
            .enable_all()
            .thread_name("lyra-node")
            .build()
            .map_err(|e| e.to_string())?;
        let directory = Arc::new(Directory::new(config.peers.clone()));
        if config.node == 0 {
            runtime.block_on(take_identity(&mut config, &directory))?;
        }
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
        let (inputs, receiver) = driver::inputs();
        let faults = Arc::new(Faults::default());
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
        let runtime = node.runtime.as_ref().expect("set above");
        runtime.spawn(directory::tend(config.node, config.replication_factor, directory.clone(), inputs.clone()));
        let Some(listen) = config.listen else { return Ok(node) };
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(listen))
            .map_err(|e| format!("listen on {listen}: {e}"))?;
        let peer = PeerServer::new(PeerService::new(inputs.clone(), faults.clone())).max_decoding_message_size(MAX_MESSAGE);
        let admin = AdminServer::new(AdminService::new(directory.clone(), inputs.clone(), faults));
        let kv = KvServer::new(KvService::new(config.node, directory.clone(), inputs.clone()));
        if let Some(via) = config.join.clone() {
            let via = if via.is_empty() { vec![listen.to_string()] } else { via };
            runtime.spawn(async move { directory::join(config.node, listen.to_string(), via, directory).await });
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

    /// This node's id (given by the cluster if it was started with 0).
    pub fn node_id(&self) -> u64 {
        self.node
    }

    /// The node's runtime, for the services that run beside Raft.
    pub fn runtime(&self) -> &tokio::runtime::Handle {
        self.runtime.as_ref().expect("the runtime lives until shutdown").handle()
    }

    /// A first generation of the engine over this node's ranges.
    pub fn replicated_engine(&self) -> ReplicatedEngine {
        ReplicatedEngine::new(self.node, self.engine.clone(), self.serving.clone(), self.inputs.clone(), self.clock.clone())
            .with_directory(self.directory.clone())
    }

    /// The node's hybrid clock.
    pub fn clock(&self) -> Arc<Hlc> {
        self.clock.clone()
    }

    /// Answers the backends' admin functions.
    pub fn admin(&self) -> Arc<dyn NodeAdmin> {
        Arc::new(RaftAdmin {
            node: self.node,
            engine: self.engine.clone(),
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

/// The file in a node's data directory that keeps the id the cluster gave
/// it.
const NODE_ID_FILE: &str = "LYRA_NODE_ID";

/// How long a node without an id tries to join for one before it gives up
/// (and, inside Postgres, the worker restarts and tries again).
const JOIN_FOR_ID: Duration = Duration::from_secs(20);

/// The file beside a node's id that keeps the addresses it was added
/// through (`lyra.join = 'wait'`): it joins through them again when it
/// restarts.
const JOINED_VIA_FILE: &str = "LYRA_JOINED_VIA";

/// How long a node waits to be added before it gives up (a Postgres
/// worker must be able to stop; it is restarted and waits again).
const WAIT_TO_BE_ADDED: Duration = Duration::from_secs(10);

/// Gives a node started without an id its id: the one its data directory
/// keeps; else 1 for a node that starts a cluster (no one to join); else a
/// new one from the cluster it joins (or is added to, waiting), kept in
/// the data directory at once.
async fn take_identity(config: &mut RaftNodeConfig, directory: &Arc<Directory>) -> Result<(), String> {
    let file = config.dir.join(NODE_ID_FILE);
    let via_file = config.dir.join(JOINED_VIA_FILE);
    let read = |path: &std::path::Path| match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    };
    let id = match read(&file)? {
        Some(text) => text.trim().parse().map_err(|e| format!("{}: {e}", file.display()))?,
        None => {
            let (id, via) = match (&config.join, config.listen) {
                (_, Some(listen)) if config.wait_to_be_added => {
                    let (id, via) = wait_to_be_added(listen, directory).await?;
                    (id, Some(via))
                }
                (_, None) if config.wait_to_be_added => {
                    return Err("a node that waits to be added needs lyra.listen_addr".into());
                }
                (Some(via), Some(listen)) if !via.is_empty() => {
                    tracing::info!(?via, "joining the cluster for a node id");
                    // Bounded: the caller (a Postgres worker) must be able
                    // to stop; it tries again when restarted.
                    let joined = directory::join(0, listen.to_string(), via.clone(), directory.clone());
                    let id = tokio::time::timeout(JOIN_FOR_ID, joined)
                        .await
                        .map_err(|_| format!("no node of {via:?} gave this node an id within {JOIN_FOR_ID:?}"))?;
                    (id, None)
                }
                _ => (1, None),
            };
            if let Some(via) = via {
                write_synced(&via_file, &via.join("\n"))?;
            }
            write_synced(&file, &id.to_string())?;
            id
        }
    };
    if config.wait_to_be_added {
        // Added once: rejoin through the nodes it was added through.
        let via = read(&via_file)?.unwrap_or_default();
        config.join = Some(via.lines().map(String::from).filter(|a| !a.is_empty()).collect());
        config.bootstrap.clear();
    }
    config.node = id;
    for voter in config.bootstrap.iter_mut().filter(|voter| **voter == 0) {
        *voter = id;
    }
    Ok(())
}

fn write_synced(path: &std::path::Path, text: &str) -> Result<(), String> {
    let write = || -> std::io::Result<()> {
        let mut out = std::fs::File::create(path)?;
        std::io::Write::write_all(&mut out, format!("{text}\n").as_bytes())?;
        out.sync_all()
    };
    write().map_err(|e| format!("{}: {e}", path.display()))
}

/// Serves `Invitation` on `listen` until a node of a cluster invites this
/// one (or [`WAIT_TO_BE_ADDED`] passes): joins through the addresses it
/// was given, for a new id. The id and those addresses.
async fn wait_to_be_added(listen: SocketAddr, directory: &Arc<Directory>) -> Result<(u64, Vec<String>), String> {
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| format!("listen on {listen}: {e}"))?;
    let (joined, mut added) = tokio::sync::oneshot::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let invitations = Invitations {
        listen: listen.to_string(),
        directory: directory.clone(),
        joined: tokio::sync::Mutex::new(Some(joined)),
    };
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(InvitationServer::new(invitations))
            .serve_with_incoming_shutdown(tokio_stream::wrappers::TcpListenerStream::new(listener), async {
                let _ = stopped.await;
            }),
    );
    tracing::info!(%listen, "waiting to be added to a cluster (lyra.add_node)");
    let waited = tokio::time::timeout(WAIT_TO_BE_ADDED, &mut added).await;
    let _ = stop.send(());
    // A shutdown lets an invitation under way finish first.
    let _ = server.await;
    match waited {
        Ok(Ok(outcome)) => Ok(outcome),
        _ => added.try_recv().map_err(|_| {
            format!("waiting to be added to a cluster: run lyra.add_node('{listen}') on one of its nodes")
        }),
    }
}

/// The `Invitation` service of a node waiting to be added.
struct Invitations {
    listen: String,
    directory: Arc<Directory>,
    /// Taken by the first invitation (a node joins one cluster once).
    joined: tokio::sync::Mutex<Option<tokio::sync::oneshot::Sender<(u64, Vec<String>)>>>,
}

#[tonic::async_trait]
impl Invitation for Invitations {
    async fn invite(&self, request: tonic::Request<InviteRequest>) -> Result<tonic::Response<InviteResponse>, tonic::Status> {
        let via = request.into_inner().via;
        if via.is_empty() {
            return Err(tonic::Status::invalid_argument("an invitation names the nodes to join through"));
        }
        let mut joined = self.joined.lock().await;
        if joined.is_none() {
            return Err(tonic::Status::failed_precondition("this node was added already"));
        }
        let join = directory::join(0, self.listen.clone(), via.clone(), self.directory.clone());
        let node = tokio::time::timeout(JOIN_FOR_ID, join)
            .await
            .map_err(|_| tonic::Status::unavailable(format!("could not join through {via:?} in time")))?;
        if let Some(joined) = joined.take() {
            let _ = joined.send((node, via));
        }
        Ok(tonic::Response::new(InviteResponse { node }))
    }
}

/// The node's answers to admin functions, from its Raft loop; what only a
/// range's leader can do is asked of it, here or on its node over gRPC.
struct RaftAdmin {
    node: u64,
    engine: Arc<dyn Engine>,
    handle: LoopHandle,
    serving: Arc<Serving>,
    runtime: tokio::runtime::Handle,
}

/// How long an admin change may take before the caller hears it failed.
const ADMIN_PATIENCE: Duration = Duration::from_secs(10);

/// One attempt at something only a range's leader does.
enum Attempt<T> {
    Done(T),
    /// Not the leader; this one may be (`None`: none known yet).
    Leader(Option<u64>),
}

impl RaftAdmin {
    fn ranges(&self) -> Result<Vec<RangeInfo>, String> {
        let (ranges, _) = self.runtime.block_on(self.handle.ask(|reply| Input::Status { reply })).map_err(|e| e.to_string())?;
        Ok(ranges)
    }

    /// `range` as this node's replica sees it, or else as the catalog
    /// describes it.
    fn range(&self, range: u64) -> Result<RangeInfo, String> {
        if let Some(here) = self.ranges()?.into_iter().find(|r| r.range == range) {
            return Ok(here);
        }
        let Some(d) = self.handle.directory.range(range) else {
            return Err(format!("range {range} is unknown here: no replica on this node, and not in the catalog"));
        };
        Ok(RangeInfo {
            range,
            leader: Some(d.leader).filter(|&leader| leader != 0),
            is_leader: false,
            term: d.term,
            commit: 0,
            applied: 0,
            members: d.voters.clone(),
            voters: d.voters,
            initialized: false,
            span: (d.start, d.end),
            snapshots_applied: 0,
        })
    }

    /// The range holding `key`: this node's replica of it, or the
    /// catalog's.
    fn range_of(&self, key: &[u8]) -> Result<u64, String> {
        let holds = |start: &[u8], end: &[u8]| start <= key && (end.is_empty() || key < end);
        let here = self.ranges()?.into_iter().find(|r| r.initialized && holds(&r.span.0, &r.span.1));
        here.map(|r| r.range)
            .or_else(|| self.handle.directory.locate(key).map(|d| d.range))
            .ok_or_else(|| format!("no range known here holds the key {:?}", String::from_utf8_lossy(key)))
    }

    /// Bytes of keys and values in `[start, end)` of this node's engine
    /// (a scan: a moment per hundred megabytes).
    fn size_here(&self, start: &[u8], end: &[u8]) -> Result<u64, String> {
        let mut size = 0u64;
        let end = if end.is_empty() { KV_SPAN.1 } else { end };
        self.engine
            .scan_visit(start, end, usize::MAX, usize::MAX, &mut |key, value| {
                size += (key.len() + value.len()) as u64;
                true
            })
            .map_err(|e| e.to_string())?;
        Ok(size)
    }

    /// Runs `local` on this node's loop; if another node leads, `remote`
    /// through a [`KvClient`] that starts at that leader and follows
    /// leadership from there (the client that tools use).
    fn on_leader<T>(
        &self,
        what: &str,
        range: u64,
        mut local: impl FnMut() -> Result<Attempt<T>, String>,
        remote: impl AsyncFnOnce(&mut KvClient) -> Result<T, KvError>,
    ) -> Result<T, String> {
        let deadline = Instant::now() + ADMIN_PATIENCE;
        loop {
            let info = self.range(range)?;
            // No replica here: to the leader the catalog names.
            let attempt = if info.initialized { local()? } else { Attempt::Leader(info.leader) };
            match attempt {
                Attempt::Done(value) => return Ok(value),
                Attempt::Leader(Some(leader)) if leader != self.node => {
                    // The leader first, then every other node.
                    let nodes = self.handle.directory.all();
                    let first = nodes.get(&leader).cloned();
                    let rest = nodes.into_iter().filter(|&(id, _)| id != leader).map(|(_, address)| address);
                    let addresses: Vec<String> = first.into_iter().chain(rest).collect();
                    let mut client = KvClient::new(addresses);
                    client.deadline = deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(1));
                    return self.runtime.block_on(remote(&mut client)).map_err(|e| format!("{what}: {e}"));
                }
                // No leader known yet (an election): ask again shortly.
                Attempt::Leader(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
                Attempt::Leader(_) => return Err(format!("{what}: no leader in time")),
            }
        }
    }

    /// Waits until this node sees `done` hold of `range`.
    fn wait_for(&self, range: u64, what: &str, done: impl Fn(&RangeInfo) -> bool) -> Result<(), String> {
        let deadline = Instant::now() + ADMIN_PATIENCE;
        while !done(&self.range(range)?) {
            if Instant::now() >= deadline {
                return Err(format!("range {range}: {what} not seen here in time"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}

impl NodeAdmin for RaftAdmin {
    fn cluster(&self) -> Result<ClusterInfo, String> {
        let directory = &self.handle.directory;
        let mut nodes: Vec<NodeInfo> = directory
            .all()
            .into_iter()
            .map(|(node_id, address)| NodeInfo { node_id, address, decommissioned: directory.is_decommissioned(node_id) })
            .collect();
        if !nodes.iter().any(|n| n.node_id == self.node) {
            nodes.push(NodeInfo { node_id: self.node, address: String::new(), decommissioned: false });
            nodes.sort_by_key(|n| n.node_id);
        }
        let now = Instant::now();
        let leased: std::collections::HashMap<_, _> =
            self.serving.ranges().into_iter().map(|r| (r.range, r.lease_until.is_some_and(|until| now < until))).collect();
        let mut ranges: BTreeMap<u64, ReplicaInfo> = BTreeMap::new();
        for r in self.ranges()?.into_iter().filter(|r| r.initialized) {
            let size = self.size_here(&r.span.0, &r.span.1)?;
            let info = ReplicaInfo {
                range: r.range,
                start: r.span.0,
                end: r.span.1,
                voters: r.voters,
                leader: r.leader.unwrap_or(0),
                lease_here: leased.get(&r.range).copied().unwrap_or(false),
                term: r.term,
                commit: r.commit,
                applied: r.applied,
                replica_here: true,
                size,
            };
            ranges.insert(r.range, info);
        }
        for d in directory.ranges() {
            ranges.entry(d.range).or_insert(ReplicaInfo {
                range: d.range,
                start: d.start,
                end: d.end,
                voters: d.voters,
                leader: d.leader,
                ..ReplicaInfo::default()
            });
        }
        let mut ranges: Vec<ReplicaInfo> = ranges.into_values().collect();
        ranges.sort_by(|a, b| a.start.cmp(&b.start).then(a.range.cmp(&b.range)));
        Ok(ClusterInfo { node_id: self.node, nodes, ranges })
    }

    fn transfer_lease(&self, range: u64, to: u64) -> Result<(), String> {
        let voters = self.range(range)?.voters;
        if !voters.contains(&to) {
            return Err(format!("node {to} is not a voter of range {range} (voters: {voters:?})"));
        }
        let ask_here = || {
            let asked = self.runtime.block_on(self.handle.ask(|reply| Input::TransferLeader { range, to, reply }));
            Ok(match asked.map_err(|e| e.to_string())? {
                Ok(()) => Attempt::Done(()),
                Err(leader) => Attempt::Leader(leader),
            })
        };
        // Asked again until `to` leads: a transfer the target could not
        // take (behind on the log) is simply dropped by Raft.
        let deadline = Instant::now() + ADMIN_PATIENCE;
        loop {
            if self.range(range)?.leader == Some(to) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("the lease of range {range} did not move to node {to} in time"));
            }
            self.on_leader("transfer_lease", range, ask_here, async |client| client.move_leadership(range, to).await)?;
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn change_replicas(&self, range: u64, add: Vec<u64>, remove: Vec<u64>) -> Result<(), String> {
        if let Some(unknown) = add.iter().find(|&&id| self.handle.directory.get(id).is_none()) {
            return Err(format!("node {unknown} is not in the cluster's directory"));
        }
        let info = self.range(range)?;
        // A leader removed from its own range stops leading only once the
        // change applied; hand leadership over first.
        if let Some(leader) = info.leader.filter(|l| remove.contains(l)) {
            let Some(&to) = info.voters.iter().find(|v| !remove.contains(v)) else {
                return Err(format!("range {range} would have no voter left"));
            };
            self.transfer_lease(range, to)?;
            tracing::info!(range, from = leader, to, "moved leadership off a replica being removed");
        }
        let ask_here = || {
            let (add, remove) = (add.clone(), remove.clone());
            let asked = self.runtime.block_on(self.handle.ask(|reply| Input::ChangeMembers { range, add, remove, reply }));
            match asked.map_err(|e| e.to_string())? {
                Changed::Voters(_) => Ok(Attempt::Done(())),
                Changed::NotLeader { leader } => Ok(Attempt::Leader(leader)),
                Changed::Failed(why) => Err(why),
            }
        };
        let (add_there, remove_there) = (add.clone(), remove.clone());
        self.on_leader("change_replicas", range, ask_here, async |client| {
            client.change_members(range, add_there, remove_there).await.map(|_| ())
        })?;
        if add.iter().chain(&remove).any(|&node| node == self.node) {
            return Ok(()); // this node's own replica comes or goes: nothing to watch here
        }
        self.wait_for(range, "the new configuration", |r| {
            add.iter().all(|n| r.voters.contains(n)) && remove.iter().all(|n| !r.voters.contains(n))
        })
    }

    fn split_range(&self, range: u64, key: Vec<u8>) -> Result<u64, String> {
        let range = match range {
            0 => self.range_of(&key)?,
            range => range,
        };
        let ask_here = || {
            let key = key.clone();
            let asked = self.runtime.block_on(self.handle.ask(|reply| Input::Split { range, key, reply }));
            match asked.map_err(|e| e.to_string())? {
                DriverSplit::Done { new_range } => Ok(Attempt::Done(new_range)),
                DriverSplit::NotLeader { leader } => Ok(Attempt::Leader(leader)),
                DriverSplit::Failed(why) => Err(why),
            }
        };
        let key_there = key.clone();
        let new_range = self.on_leader("split_range", range, ask_here, async |client| client.split_range(range, key_there).await)?;
        // Answered once applied on the leader; here, once applied here.
        self.wait_for(range, "the split", |r| r.span.1 == key)?;
        Ok(new_range)
    }

    fn add_node(&self, address: &str) -> Result<u64, String> {
        let via: Vec<String> = self.handle.directory.all().into_values().filter(|a| !a.is_empty()).collect();
        if via.is_empty() {
            return Err("this node runs alone (no lyra.listen_addr): it has no cluster to add a node to".into());
        }
        let node = self.runtime.block_on(KvClient::new(Vec::new()).invite(address, via))?;
        let deadline = Instant::now() + ADMIN_PATIENCE;
        while self.handle.directory.get(node).is_none() {
            if Instant::now() >= deadline {
                return Err(format!("node {node} joined, but this node has not heard of it in time"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(node)
    }

    fn decommission(&self, node: u64) -> Result<(), String> {
        if self.handle.directory.get(node).is_none() {
            return Err(format!("node {node} is not in the cluster's directory"));
        }
        let key = Key::NodeDecommissioned { node }.encode();
        let ask_here = || {
            let put = self.runtime.block_on(self.handle.put_catalog(key.clone(), Vec::new()));
            Ok(match put.map_err(|e| e.message().to_string())? {
                Ok(()) => Attempt::Done(()),
                Err(redirect) => Attempt::Leader(Some(redirect.leader_id).filter(|&id| id != 0)),
            })
        };
        self.on_leader("decommission", KV_RANGE, ask_here, async |client| client.decommission(node).await)
    }
}
