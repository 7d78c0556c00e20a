//! Ranges replicated by Raft (DESIGN §5): each range of the keyspace is one
//! raft-rs group, and a node's [`Store`] drives all the replicas it holds.
//!
//! ```text
//!   Store ──── one tick, one ready round, one synced write for all groups
//!    ├─ Replica (range 1) ── RawNode ── LogStore ─┐
//!    ├─ Replica (range 2) ── RawNode ── LogStore ─┼── engine (0x01 keys: log,
//!    └─ ...                                       │    hard/apply state;
//!                                                 └──  range data)
//!   out: Envelope { range, raft message }   in: Store::step(Envelope)
//! ```
//!
//! * [`log_store`] — a replica's log, hard state and apply state in the
//!   engine, as raft-rs's `Storage`; snapshots of a range's data.
//! * [`replica`] — one group's `RawNode` and state machine, and the ready
//!   round in raft-rs's documented order.
//! * [`store`] — the node's replicas, group commit, message routing.
//! * [`command`] — what the log carries: batches of writes to a range.
//!
//! The store is a plain single-threaded object: it neither sleeps nor
//! talks to the network. The caller ticks it, steps it with messages, asks
//! it for a ready round and carries the envelopes — the node's event loop
//! over the gRPC transport, or the deterministic simulation (`sim`), which
//! drives many stores over a simulated network and clock.
//!
//! Reads: [`Store::read_index`] gives a linearizable read point (Raft's
//! ReadIndex: the leader confirms its leadership with a heartbeat round;
//! a follower asks the leader), on any replica.
//!
//! Leader leases, splits, the gRPC transport, joins and the node's
//! [`replicated::ReplicatedEngine`] are built on top (see each module).
//!
//! Not here yet: range 1's catalog of range descriptors. Replica ids are
//! node ids: a node added back to a range it was removed from starts a new
//! replica from its tombstone's term and vote ([`Store::step`]). A node cut off while its removal committed never
//! learns of it (the leader no longer talks to it): its stale replica
//! cannot lead (the members' logs are ahead of it) but stays on its disk
//! until replica garbage collection, which needs range 1's descriptors.

pub mod admin;
pub mod command;
pub mod directory;
pub mod driver;
pub mod kv;
pub mod log_store;
mod logger;
pub mod replica;
pub mod replicated;
pub mod server;
pub mod store;
pub mod transport;

#[cfg(test)]
mod sim;

use lyra_engine::keys::RangeId;
use raft::eraftpb::{ConfState, Message};

/// The generated gRPC code of `proto/peer.proto`.
pub mod peer_proto {
    tonic::include_proto!("lyra.peer");
}

pub use command::Command;
pub use replica::Replica;
pub use store::Store;

/// The Raft settings every replica of a store uses.
#[derive(Debug, Clone)]
pub struct RaftConfig {
    /// Ticks without hearing from a leader before a follower campaigns
    /// (each election draws a timeout in `[election_tick, 2 × election_tick)`).
    pub election_tick: usize,
    /// Ticks between a leader's heartbeats.
    pub heartbeat_tick: usize,
    /// Applied entries kept in the log before it is truncated; a follower
    /// further behind than the log reaches gets a snapshot.
    pub compact_after: u64,
    /// The most entry bytes in one append message.
    pub max_size_per_msg: u64,
    /// Append messages in flight to one follower.
    pub max_inflight_msgs: usize,
    /// A range whose data grew past this many bytes is split in two by its
    /// leader (`lyra.range_max_bytes`); 0 never splits.
    pub range_max_bytes: u64,
}

impl Default for RaftConfig {
    /// With a 100 ms tick: heartbeats every 200 ms, elections after 1–2 s.
    fn default() -> Self {
        RaftConfig {
            election_tick: 10,
            heartbeat_tick: 2,
            compact_after: 10_000,
            max_size_per_msg: 1 << 20,
            max_inflight_msgs: 256,
            range_max_bytes: 64 << 20,
        }
    }
}

/// A Raft message of one range, for the transport to carry to `message.to`.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub range: RangeId,
    pub message: Message,
}

/// What a ready round did, for the proposers waiting on it.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A command was applied at `index` (in `term`): its writes are in
    /// the range's data, or, if `outcome` is an error, nothing is.
    Applied { range: RangeId, index: u64, term: u64, id: u64, outcome: Result<(), String> },
    /// A configuration change was applied.
    ConfChanged { range: RangeId, index: u64, conf_state: ConfState },
    /// The replica's data and log were replaced by a snapshot at `index`.
    SnapshotApplied { range: RangeId, index: u64 },
    /// The replica was removed from its range and deleted from this node.
    Removed { range: RangeId },
    /// The range split at `key` (applied at `index`): `new_range` holds the
    /// keys from `key` on.
    Split { range: RangeId, index: u64, new_range: RangeId, key: Vec<u8> },
    /// A read asked for with `context` may be served here once this
    /// replica has applied `index` ([`Store::read_index`]; [`Store::read`]
    /// consumes its own).
    ReadIndex { range: RangeId, index: u64, context: Vec<u8> },
    /// A read asked for with [`Store::read`], served: the key's value at a
    /// point at least as new as every write acknowledged before the ask.
    Read { range: RangeId, context: Vec<u8>, value: Option<Vec<u8>>, index: u64 },
    /// A read that could not be served here (no read point in time — no
    /// leader —, the range split under it, or the replica went away): the
    /// caller asks again.
    ReadFailed { range: RangeId, context: Vec<u8>, why: String },
}

/// Why a proposal was not taken.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProposeError {
    #[error("range {range}: this replica is not the leader (leader: {leader:?})")]
    NotLeader { range: RangeId, leader: Option<u64> },
    #[error("range {range} has no replica on this node")]
    NoSuchRange { range: RangeId },
    #[error("range {range}: proposal dropped ({reason})")]
    Dropped { range: RangeId, reason: String },
}

impl ProposeError {
    fn from_raft(range: RangeId, e: raft::Error, leader: Option<u64>) -> ProposeError {
        match e {
            raft::Error::ProposalDropped => ProposeError::NotLeader { range, leader },
            other => ProposeError::Dropped { range, reason: other.to_string() },
        }
    }
}
