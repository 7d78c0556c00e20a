//! Helpers shared by the node's socket tests (each test file is its own
//! crate and includes this module).
#![allow(dead_code)]

use lyra_cluster::protocol::{LockMode, LockRow, WaitPolicy};
use lyra_cluster::{NodeClient, NodeConfig, NodeHandle};
use lyra_engine::keys::{Key, RowId};

pub fn config(dir: &std::path::Path) -> NodeConfig {
    NodeConfig::single(dir.join("lyra"), dir.join("lyra/node.sock"))
}

/// A node on a fresh directory `dir`, and the socket it listens on.
pub fn start_node(dir: &std::path::Path) -> (NodeHandle, std::path::PathBuf) {
    (NodeHandle::start(config(dir)).unwrap(), config(dir).socket)
}

pub fn connect(socket: &std::path::Path) -> NodeClient {
    NodeClient::connect(socket).unwrap()
}

pub fn no_wait() -> impl FnMut() {
    || {}
}

/// Row `n` of table 1 (versioned, as table rows are).
pub fn row(n: u64) -> Vec<u8> {
    Key::Row { table: 1, row: RowId(n) }.encode()
}

/// An exclusive lock on `key`, waiting up to `timeout_ms` (0: forever).
pub fn lock(key: Vec<u8>, timeout_ms: u32) -> LockRow {
    LockRow { key, mode: LockMode::Update as i32, wait: WaitPolicy::Block as i32, timeout_ms, txn_tag: 7, subxact: 1, ..Default::default() }
}
