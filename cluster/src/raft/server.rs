//! [`RaftNode`]: a node of a KV-level cluster — the engine, the Raft loop,
//! the transport and the gRPC server (`Peer` + `Kv`) on one address. Run
//! by the `lyra-node` binary; the Postgres worker will host the same.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lyra_engine::storage::{Engine, RocksDb};
use tokio::sync::watch;

use super::driver::{self, RaftLoop};
use super::kv::{KvService, KV_RANGE, KV_SPAN};
use super::peer_proto::kv_server::KvServer;
use super::peer_proto::peer_server::PeerServer;
use super::admin::AdminService;
use super::peer_proto::admin_server::AdminServer;
use super::transport::{Faults, PeerService, Transport};
use super::{RaftConfig, Store};

/// The largest gRPC message a node takes: a snapshot of a whole range.
const MAX_MESSAGE: usize = 256 << 20;

#[derive(Debug, Clone)]
pub struct RaftNodeConfig {
    pub node: u64,
    /// RocksDB lives here.
    pub dir: PathBuf,
    /// gRPC address (node-to-node and `Kv`).
    pub listen: SocketAddr,
    /// Every node of the cluster, this one included: id → address.
    pub peers: BTreeMap<u64, String>,
    /// Create range 1 with these voters, if this node has no replica of it
    /// yet (each first member does the same); empty: join later (a leader
    /// adds this node and sends it a snapshot).
    pub bootstrap: Vec<u64>,
    /// Raft's tick.
    pub tick: Duration,
    pub raft: RaftConfig,
}

pub struct RaftNode {
    runtime: Option<tokio::runtime::Runtime>,
    raft_loop: Option<RaftLoop>,
    stop: watch::Sender<bool>,
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
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("lyra-grpc")
            .build()
            .map_err(|e| e.to_string())?;
        let (inputs, receiver) = driver::inputs();
        let faults = Arc::new(Faults::default());
        let transport = Transport::start(runtime.handle(), config.node, &config.peers, inputs.clone(), faults.clone());
        let raft_loop = RaftLoop::start(store, transport, config.tick, (inputs.clone(), receiver));
        let (stop, mut stopped) = watch::channel(false);
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(config.listen))
            .map_err(|e| format!("listen on {}: {e}", config.listen))?;
        let peer = PeerServer::new(PeerService::new(inputs.clone(), faults.clone())).max_decoding_message_size(MAX_MESSAGE);
        let admin = AdminServer::new(AdminService::new(config.peers.clone(), inputs.clone(), faults));
        let kv = KvServer::new(KvService::new(config.node, config.peers.clone(), inputs));
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
        Ok(RaftNode { runtime: Some(runtime), raft_loop: Some(raft_loop), stop })
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
