//! The `lyra node` background worker: hosts the node inside Postgres.
//!
//! The postmaster starts it when `lyra` is in `shared_preload_libraries`.
//! The worker's main thread (the only one that touches Postgres) starts a
//! [`NodeHandle`] — whose tokio runtime and threads are created here, after
//! the fork — and then sleeps on its latch until SIGTERM or postmaster death,
//! when it shuts the node down cleanly.
//!
//! The node's pid is in `$PGDATA/lyra/node.pid`. SIGTERM outside a server
//! shutdown restarts it (the worker exits with status 1).
//!
//! If the node cannot start (e.g. the previous node process still holds the
//! RocksDB lock after a crash), the worker logs why and exits with status 1;
//! the postmaster starts it again a second later. Backends meanwhile get a
//! clear "not reachable" error.

use std::path::PathBuf;
use std::time::Duration;

use lyra_cluster::node::{init_logging, NodeConfig};
use lyra_cluster::NodeHandle;
use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, BgWorkerStartTime, SignalWakeFlags};
use pgrx::prelude::*;

/// The node's directory and socket, relative to the data directory (every
/// Postgres process runs with the data directory as its working directory,
/// and a relative path keeps the socket clear of the 108-byte limit).
pub const NODE_DIR: &str = "lyra";
pub const NODE_SOCKET: &str = "lyra/node.sock";
pub const NODE_PID_FILE: &str = "lyra/node.pid";

/// The node's settings from the `lyra.*` GUCs (`guc.rs`).
fn node_config() -> Result<NodeConfig, String> {
    let mut config = NodeConfig::single(PathBuf::from(NODE_DIR), PathBuf::from(NODE_SOCKET));
    config.node_id = crate::guc::node_id();
    config.bootstrap = vec![config.node_id];
    config.raft.range_max_bytes = crate::guc::range_max_bytes();
    if let Some(listen) = crate::guc::listen_addr() {
        config.listen = Some(listen.parse().map_err(|e| format!("lyra.listen_addr = '{listen}': {e}"))?);
        let join = crate::guc::join();
        if !join.is_empty() {
            config.bootstrap.clear();
        }
        if join == [crate::guc::JOIN_WAIT] {
            config.wait_to_be_added = true;
        } else {
            config.join = Some(join);
        }
        config.replication_factor = crate::guc::replication_factor();
    }
    Ok(config)
}

pub fn register() {
    BackgroundWorkerBuilder::new("lyra node")
        .set_type("lyra node")
        .set_library("lyra")
        .set_function("lyra_node_main")
        .enable_shmem_access(None)
        .set_start_time(BgWorkerStartTime::PostmasterStart)
        .set_restart_time(Some(Duration::from_secs(1)))
        .load();
}

#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn lyra_node_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    init_logging(&crate::guc::log_level());
    let config = match node_config() {
        Ok(config) => config,
        Err(e) => {
            log!("lyra node cannot start: {e}");
            // SAFETY: ends this worker process (see below).
            unsafe { pg_sys::proc_exit(1) };
        }
    };
    let node = match NodeHandle::start(config) {
        Ok(node) => {
            // Lets scripts and tests find (and signal) the node.
            if let Err(e) = std::fs::write(NODE_PID_FILE, format!("{}\n", std::process::id())) {
                log!("lyra node could not write {NODE_PID_FILE}: {e}");
            }
            node
        }
        Err(e) => {
            log!("lyra node could not start: {e}; retrying");
            // SAFETY: ends this worker process; status 1 asks the
            // postmaster to restart it after bgw_restart_time.
            unsafe { pg_sys::proc_exit(1) };
        }
    };
    while BackgroundWorker::wait_latch(Some(Duration::from_millis(500))) {}
    node.shutdown();
    // Status 1, not 0: a node stopped by SIGTERM outside a server shutdown
    // (pg_terminate_backend) is restarted; in a shutdown nothing restarts.
    // SAFETY: ends this worker process after the node closed its storage.
    unsafe { pg_sys::proc_exit(1) };
}
