//! `lyra-cluster`: the Lyra node and the client that Postgres backends use to
//! reach it.
//!
//! Every Postgres server with Lyra preloaded runs one background worker, the
//! *node* (DESIGN §2). The node owns the engine (RocksDB under
//! `$PGDATA/lyra`), the catalog allocators, its replicas of the Raft
//! groups and the HLC (a transaction coordinator for writes across ranges
//! is later work). Backends never open
//! RocksDB and never start threads: they talk to their node through a small
//! blocking client over a Unix socket.
//!
//! ```text
//!  backend ── NodeClient ──(length-prefixed protobuf frames)──► Node (tokio)
//!                           lyra/node.sock in the data directory    │
//!                                                                   ▼
//!                                                        engine::RocksDb
//! ```
//!
//! * [`protocol`] — the request/response messages and the framing.
//! * [`node`] — the service: a tokio runtime serving the socket.
//! * [`client`] — the blocking client (no threads, no tokio).
//! * [`raft`] — ranges as raft-rs groups, their gRPC transport and services,
//!   and the `lyra-node` binary's node (KV level: replicated, split, leased).
//!
//! The node inside Postgres runs on [`raft`]: its service reads and
//! writes through [`raft::replicated::ReplicatedEngine`], so every SQL
//! commit is a Raft command of its range.

pub mod client;
pub mod node;
pub mod protocol;
pub mod raft;

pub use client::{ClientError, NodeClient};
pub use node::{NodeConfig, NodeHandle};
