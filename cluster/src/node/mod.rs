//! The Lyra node: the long-lived service that owns a node's storage.
//!
//! Inside Postgres the node runs in the `lyra node` background worker; the
//! worker only starts a [`NodeHandle`] and waits for SIGTERM. The node:
//!
//! * opens the engine (RocksDB) in its directory, `$PGDATA/lyra/db`, and
//!   its Raft ranges over it ([`crate::raft::server::RaftNode`]): a node
//!   alone is one voter of range 1, which spans every key; in a cluster
//!   its replicas follow their leaders over gRPC;
//! * runs the service on a [`ReplicatedEngine`]: reads from the local
//!   engine while this node holds the range's lease, writes through Raft
//!   (one command per commit group);
//! * serves its backends on a Unix socket, `$PGDATA/lyra/node.sock`, with a
//!   tokio runtime created here, after the worker forked — never in the
//!   postmaster and never in a backend;
//! * stops cleanly on [`NodeHandle::shutdown`]: it stops accepting, lets
//!   in-flight requests finish (each commit is one Raft command, so one
//!   cut short is applied whole or not at all), and closes the engine.
//!
//! The request logic lives in [`service`], a plain synchronous function of
//! (engine, connection state, request) so it is tested without sockets;
//! [`server`] is the socket shell around it.
//!
//! The service's memory (row locks, recent writes) is true only while no
//! other node writes its keys, so it lives as long as the node keeps its
//! leases: [`server::Services`] starts a new generation when the engine
//! turns stale ([`lyra_engine::storage::Engine::stale`]).

pub mod server;
pub mod service;
#[cfg(test)]
mod test_engine;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::raft::replicated::ReplicatedEngine;
use crate::raft::server::{RaftNode, RaftNodeConfig};
use crate::raft::RaftConfig;
use server::Services;

/// Where and how a node runs.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The node's directory; the engine lives in `dir/db`.
    pub dir: PathBuf,
    /// The Unix socket backends connect to.
    pub socket: PathBuf,
    /// This node's id in the cluster (1 for a single node); 0: the one its
    /// directory keeps, else one the cluster gives it when it joins.
    pub node_id: u64,
    /// Threads of the node's runtime.
    pub worker_threads: usize,
    /// The gRPC address other nodes reach this one at; `None`: a node
    /// alone, with no server.
    pub listen: Option<SocketAddr>,
    /// Every node of the cluster, this one included: id → address.
    pub peers: BTreeMap<u64, String>,
    /// The voters of range 1 if this node creates it (when it has no
    /// replica of it yet); empty: a leader adds this node.
    pub bootstrap: Vec<u64>,
    /// Raft's tick.
    pub tick: Duration,
    pub raft: RaftConfig,
    /// How this node joins a cluster (see [`RaftNodeConfig::join`]).
    pub join: Option<Vec<String>>,
    /// Voters per range (capped by the number of nodes).
    pub replication_factor: usize,
    /// Wait to be added (see [`RaftNodeConfig::wait_to_be_added`]).
    pub wait_to_be_added: bool,
}

impl NodeConfig {
    /// A node alone in `dir`, serving backends on `socket`: one voter
    /// for every range, no gRPC server (what `make run` starts).
    pub fn single(dir: PathBuf, socket: PathBuf) -> NodeConfig {
        NodeConfig {
            dir,
            socket,
            node_id: 1,
            worker_threads: 2,
            listen: None,
            peers: BTreeMap::new(),
            bootstrap: vec![1],
            tick: Duration::from_millis(100),
            raft: RaftConfig::default(),
            join: None,
            replication_factor: 1,
            wait_to_be_added: false,
        }
    }
}

/// Threads of the Raft node's runtime (transport, gRPC).
const RAFT_THREADS: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("cannot open the node's storage in {path}: {source}")]
    Storage { path: String, source: lyra_engine::Error },
    #[error("cannot start the node's replicated storage in {path}: {why}")]
    Raft { path: String, why: String },
    #[error("cannot prepare the node directory {path}: {source}")]
    Dir { path: String, source: std::io::Error },
    #[error("cannot listen on {path}: {source}")]
    Listen { path: String, source: std::io::Error },
    #[error("cannot start the node's runtime: {0}")]
    Runtime(std::io::Error),
}

/// A running node. Dropping it without [`NodeHandle::shutdown`] also stops
/// it, less gracefully.
pub struct NodeHandle {
    raft: Option<RaftNode>,
    /// The backends' service runs here, apart from the Raft node's runtime
    /// (its transport and gRPC server): requests that block a thread (a
    /// commit waiting for Raft, a read waiting for a lease) must never
    /// hold up the heartbeats that keep the lease.
    runtime: Option<tokio::runtime::Runtime>,
    stop: watch::Sender<bool>,
}

impl NodeHandle {
    /// Opens storage and its Raft ranges, binds the socket and starts
    /// serving. Errors here are reported to the caller (the worker logs
    /// them and exits, and the postmaster restarts it).
    pub fn start(config: NodeConfig) -> Result<NodeHandle, NodeError> {
        let db_path = config.dir.join("db");
        let raft = RaftNode::start(RaftNodeConfig {
            node: config.node_id,
            dir: db_path.clone(),
            listen: config.listen,
            peers: config.peers.clone(),
            bootstrap: config.bootstrap.clone(),
            tick: config.tick,
            raft: config.raft.clone(),
            threads: RAFT_THREADS,
            join: config.join.clone(),
            replication_factor: config.replication_factor,
            wait_to_be_added: config.wait_to_be_added,
        })
        .map_err(|why| NodeError::Raft { path: db_path.display().to_string(), why })?;
        let first = raft.replicated_engine();
        let node_id = raft.node_id();
        let services = Services::new(move |previous: Option<&ReplicatedEngine>| {
            let engine = previous.map_or_else(|| first.next_generation(), ReplicatedEngine::next_generation);
            let clock = engine.clock();
            service::Service::with_shared_clock(Arc::new(engine), node_id, clock)
        });
        let services = Arc::new(services.with_admin(raft.admin()));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.worker_threads.max(1))
            .thread_name("lyra-node")
            .enable_all()
            .build()
            .map_err(NodeError::Runtime)?;
        let listener = runtime.block_on(server::bind(&config.socket))?;
        let (stop, stopped) = watch::channel(false);
        runtime.spawn(server::serve(listener, Arc::clone(&services), stopped));
        runtime.spawn(collect_garbage(services));
        tracing::info!(node_id, dir = %config.dir.display(), "lyra node started");
        Ok(NodeHandle { raft: Some(raft), runtime: Some(runtime), stop })
    }

    /// Stops accepting, gives in-flight requests a moment to finish, and
    /// closes storage.
    pub fn shutdown(mut self) {
        self.stop_all();
        tracing::info!("lyra node stopped");
    }

    fn stop_all(&mut self) {
        let _ = self.stop.send(true);
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(5));
        }
        if let Some(raft) = self.raft.take() {
            raft.shutdown();
        }
    }
}

impl Drop for NodeHandle {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// How often the node collects old row versions (a pass visits only rows
/// written since the last one; its writes are not synced). Not more often:
/// each pass leaves a range tombstone per hot row in RocksDB's memtable,
/// and with a pass every 250 ms pgbench's TPC-B ran 15% slower than now.
const GC_EVERY: Duration = Duration::from_secs(2);

/// Collects garbage every [`GC_EVERY`], off the runtime's worker threads.
async fn collect_garbage(services: Arc<Services<ReplicatedEngine>>) {
    let mut tick = tokio::time::interval(GC_EVERY);
    loop {
        tick.tick().await;
        let service = services.current();
        match tokio::task::spawn_blocking(move || service.collect_garbage()).await {
            Ok(Ok(rows)) if rows > 0 => tracing::debug!(rows, "collected old versions"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "garbage collection failed"),
            Err(e) => tracing::warn!(error = %e, "garbage collection panicked"),
        }
    }
}

/// Sends the node's `tracing` output to stderr — inside Postgres that is the
/// server log. `filter` is an env-filter directive such as `warn` or
/// `lyra_cluster=debug`; an invalid one falls back to `warn`.
pub fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}
