//! The Lyra node: the long-lived service that owns a node's storage.
//!
//! Inside Postgres the node runs in the `lyra node` background worker; the
//! worker only starts a [`NodeHandle`] and waits for SIGTERM. The node:
//!
//! * opens the engine (RocksDB) in its directory, `$PGDATA/lyra/db`;
//! * serves its backends on a Unix socket, `$PGDATA/lyra/node.sock`, with a
//!   tokio runtime created here, after the worker forked — never in the
//!   postmaster and never in a backend;
//! * stops cleanly on [`NodeHandle::shutdown`]: it stops accepting, lets
//!   in-flight requests finish (each commit is atomic in the engine, so one
//!   cut short is simply not applied), and closes the engine.
//!
//! The request logic lives in [`service`], a plain synchronous function of
//! (engine, connection state, request) so it is tested without sockets;
//! [`server`] is the socket shell around it.
//!
//! Not here yet: running on Raft groups ([`crate::raft`] has them, for
//! `lyra-node`), gRPC to other nodes.

pub mod server;
pub mod service;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lyra_engine::storage::RocksDb;
use tokio::sync::watch;

/// Where and how a node runs.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The node's directory; the engine lives in `dir/db`.
    pub dir: PathBuf,
    /// The Unix socket backends connect to.
    pub socket: PathBuf,
    /// This node's id in the cluster (1 for a single node).
    pub node_id: u64,
    /// Threads of the node's runtime.
    pub worker_threads: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("cannot open the node's storage in {path}: {source}")]
    Storage { path: String, source: lyra_engine::Error },
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
    runtime: Option<tokio::runtime::Runtime>,
    stop: watch::Sender<bool>,
}

impl NodeHandle {
    /// Opens storage, binds the socket and starts serving. Errors here are
    /// reported to the caller (the worker logs them and exits, and the
    /// postmaster restarts it).
    pub fn start(config: NodeConfig) -> Result<NodeHandle, NodeError> {
        let db_path = config.dir.join("db");
        std::fs::create_dir_all(&db_path)
            .map_err(|source| NodeError::Dir { path: db_path.display().to_string(), source })?;
        let engine = RocksDb::open(&db_path)
            .map_err(|source| NodeError::Storage { path: db_path.display().to_string(), source })?;
        let service = Arc::new(service::Service::new(Arc::new(engine), config.node_id));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.worker_threads.max(1))
            .thread_name("lyra-node")
            .enable_all()
            .build()
            .map_err(NodeError::Runtime)?;
        let listener = runtime.block_on(server::bind(&config.socket))?;
        let (stop, stopped) = watch::channel(false);
        runtime.spawn(server::serve(listener, Arc::clone(&service), stopped));
        runtime.spawn(collect_garbage(service));
        tracing::info!(node_id = config.node_id, dir = %config.dir.display(), "lyra node started");
        Ok(NodeHandle { runtime: Some(runtime), stop })
    }

    /// Stops accepting, gives in-flight requests a moment to finish, and
    /// closes storage.
    pub fn shutdown(mut self) {
        self.stop_runtime();
        tracing::info!("lyra node stopped");
    }

    fn stop_runtime(&mut self) {
        let _ = self.stop.send(true);
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

impl Drop for NodeHandle {
    fn drop(&mut self) {
        self.stop_runtime();
    }
}

/// How often the node collects old row versions (a pass visits only rows
/// written since the last one; its writes are not synced). Not more often:
/// each pass leaves a range tombstone per hot row in RocksDB's memtable,
/// and with a pass every 250 ms pgbench's TPC-B ran 15% slower than now.
const GC_EVERY: Duration = Duration::from_secs(2);

/// Collects garbage every [`GC_EVERY`], off the runtime's worker threads.
async fn collect_garbage(service: Arc<service::Service<RocksDb>>) {
    let mut tick = tokio::time::interval(GC_EVERY);
    loop {
        tick.tick().await;
        let service = Arc::clone(&service);
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
