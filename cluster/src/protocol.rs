//! The node protocol spoken over the node's Unix socket.
//!
//! A frame is a 4-byte big-endian length followed by that many bytes of a
//! protobuf message (prost, derived here rather than generated, so the local
//! socket needs no `protoc`). A backend sends one [`Request`] and reads one
//! [`Response`]; requests on one connection are served in order.
//!
//! ```text
//!  ┌──────────┬────────────────────────────┐
//!  │ len: u32 │ Request / Response (prost) │
//!  └──────────┴────────────────────────────┘
//! ```
//!
//! Writes of a transaction are *staged* on the connection with
//! [`StageWrites`] (in chunks, so no frame needs to hold a whole large
//! transaction) and applied atomically by [`Commit`], which carries the last
//! chunk. A connection that drops discards what it staged.
//!
//! Row keys are versioned (MVCC): reads carry the snapshot timestamp they
//! read at — or none, and the node picks a fresh one and returns it, so the
//! first read of a statement costs no extra round trip. [`LockRow`] takes a
//! row lock (waiting if asked to) and returns the row's newest version;
//! [`Commit`] applies the transaction at a commit timestamp the node picks,
//! after checking each written row against the timestamp its writer last
//! saw it at and, for SERIALIZABLE, the spans it read; [`EndTxn`] ends a
//! transaction that commits nothing, releasing its locks. Catalog keys
//! (`m…`) are not versioned.
//!
//! A node serves requests for the ranges it holds the lease of; others
//! are refused (`NotServed`), not forwarded yet. Cluster requests
//! (`ClusterStatus`, `TransferLease`, `ChangeReplicas`, `SplitRange`,
//! `Decommission`, `AddNode`) are answered by the node's Raft side.

use prost::Message;

/// The largest frame either side accepts. One row may hold several 1 GB
/// fields in Postgres; Lyra caps a single frame well below the address space
/// and documents the per-row limit that follows from it.
pub const MAX_FRAME: usize = 512 << 20;

#[derive(Clone, PartialEq, Message)]
pub struct Request {
    #[prost(oneof = "request::Kind", tags = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21")]
    pub kind: Option<request::Kind>,
}

pub mod request {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Kind {
        #[prost(message, tag = "1")]
        Get(super::Get),
        #[prost(message, tag = "2")]
        Scan(super::Scan),
        #[prost(message, tag = "3")]
        AllocateTableId(super::AllocateTableId),
        #[prost(message, tag = "4")]
        AllocateRowIds(super::AllocateRowIds),
        #[prost(message, tag = "5")]
        RowIdHighWater(super::RowIdHighWater),
        #[prost(message, tag = "6")]
        StageWrites(super::StageWrites),
        #[prost(message, tag = "7")]
        Commit(super::Commit),
        #[prost(message, tag = "8")]
        DiscardStaged(super::DiscardStaged),
        #[prost(message, tag = "9")]
        LockRow(super::LockRow),
        #[prost(message, tag = "10")]
        EndTxn(super::EndTxn),
        #[prost(message, tag = "11")]
        GetEntries(super::GetEntries),
        #[prost(message, tag = "12")]
        ClusterStatus(super::ClusterStatus),
        #[prost(message, tag = "13")]
        TransferLease(super::TransferLease),
        #[prost(message, tag = "14")]
        ChangeReplicas(super::ChangeReplicas),
        #[prost(message, tag = "15")]
        SplitRange(super::SplitRange),
        #[prost(message, tag = "16")]
        Decommission(super::Decommission),
        #[prost(message, tag = "17")]
        AddNode(super::AddNode),
        #[prost(message, tag = "18")]
        FreshReadTs(super::FreshReadTs),
        #[prost(message, tag = "19")]
        ReleaseLocks(super::ReleaseLocks),
        #[prost(message, tag = "20")]
        MarkWritten(super::MarkWritten),
        #[prost(message, tag = "21")]
        LockRows(super::LockRows),
    }
}

#[derive(Clone, PartialEq, Message)]
pub struct Response {
    #[prost(oneof = "response::Kind", tags = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11")]
    pub kind: Option<response::Kind>,
}

pub mod response {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Kind {
        #[prost(message, tag = "1")]
        Error(super::ErrorReply),
        #[prost(message, tag = "2")]
        Value(super::Value),
        #[prost(message, tag = "3")]
        Scanned(super::Scanned),
        #[prost(message, tag = "4")]
        Id(super::Id),
        #[prost(message, tag = "5")]
        Done(super::Done),
        #[prost(message, tag = "6")]
        RowLocked(super::RowLocked),
        #[prost(message, tag = "7")]
        Committed(super::Committed),
        #[prost(message, tag = "8")]
        RowBusy(super::RowBusy),
        #[prost(message, tag = "9")]
        Entries(super::Entries),
        #[prost(message, tag = "10")]
        Cluster(super::ClusterInfo),
        #[prost(message, tag = "11")]
        RowsLocked(super::RowsLocked),
    }
}

/// What this node knows of its cluster: the nodes, and its replicas.
#[derive(Clone, PartialEq, Message)]
pub struct ClusterStatus {}

/// Moves the lease (leadership) of `range` to node `to`; answered `Done`
/// once this node sees `to` lead it.
#[derive(Clone, PartialEq, Message)]
pub struct TransferLease {
    #[prost(uint64, tag = "1")]
    pub range: u64,
    #[prost(uint64, tag = "2")]
    pub to: u64,
}

/// Adds and removes voters of `range`; answered `Done` once its leader
/// applied the change.
#[derive(Clone, PartialEq, Message)]
pub struct ChangeReplicas {
    #[prost(uint64, tag = "1")]
    pub range: u64,
    #[prost(uint64, repeated, tag = "2")]
    pub add: Vec<u64>,
    #[prost(uint64, repeated, tag = "3")]
    pub remove: Vec<u64>,
}

/// Splits `range` at `key`; answered with the new range's `Id`.
#[derive(Clone, PartialEq, Message)]
pub struct SplitRange {
    #[prost(uint64, tag = "1")]
    pub range: u64,
    #[prost(bytes = "vec", tag = "2")]
    pub key: Vec<u8>,
}

/// Decommissions `node`: answered `Done` once recorded; its replicas move
/// away after.
#[derive(Clone, PartialEq, Message)]
pub struct Decommission {
    #[prost(uint64, tag = "1")]
    pub node: u64,
}

/// Adds the node waiting at `address` (`lyra.join = 'wait'`) to this
/// node's cluster; answered with its new `Id`.
#[derive(Clone, PartialEq, Message)]
pub struct AddNode {
    #[prost(string, tag = "1")]
    pub address: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct ClusterInfo {
    #[prost(uint64, tag = "1")]
    pub node_id: u64,
    #[prost(message, repeated, tag = "2")]
    pub nodes: Vec<NodeInfo>,
    #[prost(message, repeated, tag = "3")]
    pub ranges: Vec<ReplicaInfo>,
}

#[derive(Clone, PartialEq, Message)]
pub struct NodeInfo {
    #[prost(uint64, tag = "1")]
    pub node_id: u64,
    /// Empty: a node alone, without a gRPC address.
    #[prost(string, tag = "2")]
    pub address: String,
    #[prost(bool, tag = "3")]
    pub decommissioned: bool,
}

/// A range of the cluster: as this node's replica sees it, or (no
/// replica here) as the catalog describes it.
#[derive(Clone, PartialEq, Message)]
pub struct ReplicaInfo {
    #[prost(uint64, tag = "1")]
    pub range: u64,
    #[prost(bytes = "vec", tag = "2")]
    pub start: Vec<u8>,
    /// Empty: unbounded.
    #[prost(bytes = "vec", tag = "3")]
    pub end: Vec<u8>,
    #[prost(uint64, repeated, tag = "4")]
    pub voters: Vec<u64>,
    /// 0: none known.
    #[prost(uint64, tag = "5")]
    pub leader: u64,
    /// This node holds the range's lease now (serves its reads and writes).
    #[prost(bool, tag = "6")]
    pub lease_here: bool,
    #[prost(uint64, tag = "7")]
    pub term: u64,
    #[prost(uint64, tag = "8")]
    pub commit: u64,
    #[prost(uint64, tag = "9")]
    pub applied: u64,
    /// This node holds a replica (else term, commit, applied and size are
    /// 0 and the rest comes from the catalog).
    #[prost(bool, tag = "10")]
    pub replica_here: bool,
    /// Bytes of keys and values of the range in this node's replica.
    #[prost(uint64, tag = "11")]
    pub size: u64,
}

/// A hybrid logical timestamp (see `lyra_engine::hlc::Timestamp`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Message)]
pub struct Ts {
    #[prost(uint64, tag = "1")]
    pub wall: u64,
    #[prost(uint32, tag = "2")]
    pub logical: u32,
}

/// Read one key, at `read_ts` (none: the node picks now and says which).
#[derive(Clone, PartialEq, Message)]
pub struct Get {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    #[prost(message, optional, tag = "2")]
    pub read_ts: Option<Ts>,
}

/// Read unique index entries of `table` and the rows they name, all at one
/// timestamp (none: the node picks now and says which): point lookups
/// through an index, `= ANY(…)` lists included, in one round trip.
#[derive(Clone, PartialEq, Message)]
pub struct GetEntries {
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub entries: Vec<Vec<u8>>,
    #[prost(uint64, tag = "2")]
    pub table: u64,
    #[prost(message, optional, tag = "3")]
    pub read_ts: Option<Ts>,
    /// Also lock each row found, in this mode, if no one else holds it (an
    /// UPDATE, DELETE or `SELECT … FOR …` by key: the row lock it takes
    /// next comes with the read, saving it a round trip); `Entry::locked`
    /// answers as `LockRow` would. A row not locked so is locked the usual
    /// way (`LockRow`) after.
    #[prost(enumeration = "LockMode", optional, tag = "4")]
    pub lock: Option<i32>,
    /// The locking transaction's tag (see `LockRow::txn_tag`).
    #[prost(uint64, tag = "5")]
    pub txn_tag: u64,
    /// The locking subtransaction (see `LockRow::subxact`).
    #[prost(uint32, tag = "6")]
    pub subxact: u32,
    /// The locks are for writing the rows (see `LockRow::writes`).
    #[prost(bool, tag = "7")]
    pub lock_writes: bool,
}

/// Read `[start, end)` in key order (`end` empty: unbounded), or in
/// reverse order from the end if `reverse`, stopping at `max_rows` pairs
/// or once `max_bytes` of keys and values were gathered.
#[derive(Clone, PartialEq, Message)]
pub struct Scan {
    #[prost(bytes = "vec", tag = "1")]
    pub start: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub end: Vec<u8>,
    #[prost(uint32, tag = "3")]
    pub max_rows: u32,
    #[prost(uint32, tag = "4")]
    pub max_bytes: u32,
    #[prost(message, optional, tag = "5")]
    pub read_ts: Option<Ts>,
    #[prost(bool, tag = "6")]
    pub reverse: bool,
    /// The range holds index entries of this table: send each entry's row
    /// along with it, read at the same timestamp (an index range scan in
    /// one round trip per page, not one per row).
    #[prost(uint64, optional, tag = "7")]
    pub rows_of_table: Option<u64>,
    /// Conditions every row sent must meet (a pushed-down `WHERE`; see
    /// `lyra_engine::row_filter`): on the rows themselves, or with
    /// `rows_of_table` on the entries' rows. Rows that fail are skipped.
    #[prost(message, repeated, tag = "8")]
    pub filter: Vec<RowCondition>,
    /// If not empty, the columns (0-based, ascending) the caller reads:
    /// rows are sent with every other column NULL (a pushed-down
    /// projection; see `lyra_engine::row::project`), after the filter.
    #[prost(uint32, repeated, tag = "9")]
    pub columns: Vec<u32>,
    /// If not empty, read only these keys of the span (ascending), each
    /// by a point read, not a walk of the span: the rows a bitmap heap
    /// scan names in a block. Versioned keys, forward only; `Scanned::resume`
    /// is the last key read.
    #[prost(bytes = "vec", repeated, tag = "10")]
    pub only_keys: Vec<Vec<u8>>,
}

impl Scan {
    /// The request for the rest of the span after a page that answered
    /// this one with `more`: from after `last`, the last key the node
    /// looked at (the page's `resume`, else its last pair's key), at the
    /// page's timestamp; the rest as asked. What a scan cursor asks next,
    /// as the node predicts it to read ahead (`node::server`).
    pub fn after(&self, last: &[u8], read_ts: Option<Ts>) -> Scan {
        let mut next = self.clone();
        let bound = Scan::bound_after(last, self.reverse);
        if self.reverse {
            next.end = bound;
        } else {
            next.start = bound;
        }
        next.read_ts = read_ts;
        next
    }

    /// Where the rest of a span starts (`reverse`: ends) once a page's
    /// last key looked at was `last`: just after it (before it, the end
    /// being exclusive).
    pub fn bound_after(last: &[u8], reverse: bool) -> Vec<u8> {
        let mut bound = last.to_vec();
        if !reverse {
            bound.push(0);
        }
        bound
    }
}

/// One condition of [`Scan::filter`].
#[derive(Clone, PartialEq, Message)]
pub struct RowCondition {
    #[prost(uint32, tag = "1")]
    pub column: u32,
    #[prost(enumeration = "ValueKind", tag = "2")]
    pub kind: i32,
    #[prost(enumeration = "ValueTest", tag = "3")]
    pub test: i32,
    #[prost(bytes = "vec", tag = "4")]
    pub value: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ValueKind {
    Int = 0,
    Float = 1,
    Bytes = 2,
    Bool = 3,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ValueTest {
    Eq = 0,
    Ne = 1,
    Lt = 2,
    Le = 3,
    Gt = 4,
    Ge = 5,
    IsNull = 6,
    IsNotNull = 7,
}

impl RowCondition {
    /// The engine's form of the condition; `None` for an unknown kind or test.
    pub fn to_engine(&self) -> Option<lyra_engine::row_filter::Condition> {
        use lyra_engine::row_filter::{Condition, Kind, Test};
        let kind = match ValueKind::try_from(self.kind).ok()? {
            ValueKind::Int => Kind::Int,
            ValueKind::Float => Kind::Float,
            ValueKind::Bytes => Kind::Bytes,
            ValueKind::Bool => Kind::Bool,
        };
        let test = match ValueTest::try_from(self.test).ok()? {
            ValueTest::Eq => Test::Eq,
            ValueTest::Ne => Test::Ne,
            ValueTest::Lt => Test::Lt,
            ValueTest::Le => Test::Le,
            ValueTest::Gt => Test::Gt,
            ValueTest::Ge => Test::Ge,
            ValueTest::IsNull => Test::IsNull,
            ValueTest::IsNotNull => Test::IsNotNull,
        };
        Some(Condition { column: self.column as usize, kind, test, value: self.value.clone() })
    }
}

#[derive(Clone, PartialEq, Message)]
pub struct AllocateTableId {}

#[derive(Clone, PartialEq, Message)]
pub struct AllocateRowIds {
    #[prost(uint64, tag = "1")]
    pub table: u64,
    #[prost(uint64, tag = "2")]
    pub count: u64,
}

#[derive(Clone, PartialEq, Message)]
pub struct RowIdHighWater {
    #[prost(uint64, tag = "1")]
    pub table: u64,
}

/// One write of a batch.
#[derive(Clone, PartialEq, Message)]
pub struct Op {
    #[prost(enumeration = "OpKind", tag = "1")]
    pub kind: i32,
    #[prost(bytes = "vec", tag = "2")]
    pub key: Vec<u8>,
    /// The value of a put; the exclusive end of a range delete.
    #[prost(bytes = "vec", tag = "3")]
    pub value: Vec<u8>,
    /// For a row the writer read or locked: the timestamp it last saw it
    /// at. The commit fails if a newer version was committed since. None:
    /// a row the transaction created.
    #[prost(message, optional, tag = "4")]
    pub seen_at: Option<Ts>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum OpKind {
    Put = 0,
    Delete = 1,
    DeleteRange = 2,
    /// A delete of a row that moved to another table (a partition-key
    /// UPDATE): its tombstone says so to a writer that meets it.
    Moved = 3,
}

/// Add writes to this connection's staged batch.
#[derive(Clone, PartialEq, Message)]
pub struct StageWrites {
    #[prost(message, repeated, tag = "1")]
    pub ops: Vec<Op>,
}

/// Apply the staged batch plus `ops` atomically at a commit timestamp the
/// node picks; durable on return. Releases the connection's row locks.
#[derive(Clone, PartialEq, Message)]
pub struct Commit {
    #[prost(message, repeated, tag = "1")]
    pub ops: Vec<Op>,
    /// The transaction's first timestamp (its id in commit records).
    #[prost(message, optional, tag = "2")]
    pub start_ts: Option<Ts>,
    /// SERIALIZABLE: the snapshot the transaction read at, and the key
    /// spans it read; the commit fails if any was written since.
    #[prost(message, optional, tag = "3")]
    pub read_ts: Option<Ts>,
    #[prost(message, repeated, tag = "4")]
    pub read_spans: Vec<Span>,
}

/// `[start, end)` of keys; an empty `end` is unbounded.
#[derive(Clone, PartialEq, Message)]
pub struct Span {
    #[prost(bytes = "vec", tag = "1")]
    pub start: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub end: Vec<u8>,
}

/// Lock one row for the connection's transaction until it ends.
#[derive(Clone, PartialEq, Message)]
pub struct LockRow {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    #[prost(enumeration = "LockMode", tag = "2")]
    pub mode: i32,
    #[prost(enumeration = "WaitPolicy", tag = "3")]
    pub wait: i32,
    /// Give up waiting after this many milliseconds (0: wait as long as it
    /// takes; the backend cancels by closing the connection).
    #[prost(uint32, tag = "4")]
    pub timeout_ms: u32,
    /// The requester's name for its transaction (a backend's Postgres
    /// xid: its current subtransaction's), reported to requesters it
    /// blocks.
    #[prost(uint64, tag = "5")]
    pub txn_tag: u64,
    /// The requester's subtransaction (Postgres's `SubTransactionId`: 1 at
    /// the top level, larger for later ones): a `ReleaseLocks` for it or
    /// one enclosing it undoes this grant.
    #[prost(uint32, tag = "6")]
    pub subxact: u32,
    /// The requester writes the row (an UPDATE or DELETE), not only locks
    /// it: a `Probe` names it (see `WaitPolicy::Probe`).
    #[prost(bool, tag = "7")]
    pub writes: bool,
    /// Take the lock only if the key has no committed value (it is absent
    /// or deleted); one that has is answered `RowLocked` with `skipped`,
    /// nothing taken — a speculative insertion's claim of a unique entry a
    /// committed row holds: a conflict, and no lock to keep for it (heap's
    /// speculative insertion leaves nothing behind either). A key the
    /// connection holds already is locked as usual.
    #[prost(bool, tag = "8")]
    pub unless_present: bool,
}

/// Several row locks in one round trip, none of them waiting (each is
/// tried as a `NoWait` `LockRow`, whatever its `wait` says): a statement's
/// claims of the unique index entries it inserted. Answered `RowsLocked`.
#[derive(Clone, PartialEq, Message)]
pub struct LockRows {
    #[prost(message, repeated, tag = "1")]
    pub rows: Vec<LockRow>,
}

/// The answers to a `LockRows`, one per lock in its order, each what a
/// `NoWait` `LockRow` is answered: `RowLocked`, `RowBusy` or an error.
#[derive(Clone, PartialEq, Message)]
pub struct RowsLocked {
    #[prost(message, repeated, tag = "1")]
    pub answers: Vec<Response>,
}

/// The connection's transaction is about to write the row `key`, which it
/// holds locked (a lock taken by `SELECT … FOR …`, then an UPDATE or
/// DELETE): the lock is marked written, as a `LockRow` with `writes`
/// would mark it — undone by a `ReleaseLocks` of `subxact`. Not answered
/// (the backend does not wait: requests are served in order); a key the
/// connection does not hold is ignored.
#[derive(Clone, PartialEq, Message)]
pub struct MarkWritten {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    /// See `LockRow::txn_tag`.
    #[prost(uint64, tag = "2")]
    pub txn_tag: u64,
    /// See `LockRow::subxact`.
    #[prost(uint32, tag = "3")]
    pub subxact: u32,
}

/// The connection's subtransaction `subxact` rolled back: undo the row
/// locks it and the subtransactions inside it took (locks taken go,
/// upgrades return to the mode held before). Answered with `Done`.
#[derive(Clone, PartialEq, Message)]
pub struct ReleaseLocks {
    #[prost(uint32, tag = "1")]
    pub subxact: u32,
}

/// A `NoWait` lock request met conflicting locks: the holders' tags.
#[derive(Clone, PartialEq, Message)]
pub struct RowBusy {
    #[prost(uint64, repeated, tag = "1")]
    pub holders: Vec<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum LockMode {
    KeyShare = 0,
    Share = 1,
    NoKeyUpdate = 2,
    Update = 3,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum WaitPolicy {
    /// Wait for the holders to finish.
    Block = 0,
    /// Answer `RowBusy` at once, naming the holders (a backend then waits
    /// in Postgres's lock manager for their transactions, as heap does).
    NoWait = 1,
    /// Take nothing: answer `RowBusy` naming the holders that write the
    /// row (`LockRow::writes`, `MarkWritten`; none: no one), whatever the
    /// mode asked — who is about to change the row, for a dirty read to
    /// report as Postgres's dirty snapshot reports an in-progress deleter
    /// or updater (and not a mere locker, whose xmax is lock-only).
    Probe = 2,
}

/// The lock is held: the row's newest committed version as of `lock_ts`
/// (nothing newer can commit while the lock is held).
#[derive(Clone, PartialEq, Message)]
pub struct RowLocked {
    #[prost(message, optional, tag = "1")]
    pub lock_ts: Option<Ts>,
    /// When the newest version was committed (none: the row never existed).
    #[prost(message, optional, tag = "2")]
    pub latest_ts: Option<Ts>,
    /// Its value; none if it is a deletion.
    #[prost(bytes = "vec", optional, tag = "3")]
    pub value: Option<Vec<u8>>,
    /// The deletion was the row's move to another table ([`OpKind::Moved`]).
    #[prost(bool, tag = "4")]
    pub moved: bool,
    /// Nothing was locked (`LockRow::unless_present`): `value` is the
    /// key's committed value, and `lock_ts` is none.
    #[prost(bool, tag = "5")]
    pub skipped: bool,
}

/// End the connection's transaction without committing: release its row
/// locks and forget what it staged.
#[derive(Clone, PartialEq, Message)]
pub struct EndTxn {
    /// Send no answer: the backend does not wait for it (a transaction
    /// that only read unpins its snapshot; the node serves the
    /// connection's requests in order, so the next one comes after it).
    #[prost(bool, tag = "1")]
    pub quiet: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct Committed {
    #[prost(message, optional, tag = "1")]
    pub commit_ts: Option<Ts>,
}

/// Forget the staged batch.
#[derive(Clone, PartialEq, Message)]
pub struct DiscardStaged {}

/// A fresh read timestamp, pinned for the connection as a read's is; the
/// answer is a `Value` with no value. For a transaction whose snapshot
/// must start before its first read (see `pg_ext`'s `snapshot.rs`).
#[derive(Clone, PartialEq, Message)]
pub struct FreshReadTs {}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ErrorCode {
    /// Storage failed on the node (disk, RocksDB).
    Io = 0,
    /// Stored bytes could not be decoded.
    Corrupt = 1,
    /// The request was malformed or out of range.
    InvalidInput = 2,
    /// A table used up its row id space.
    RowIdsExhausted = 3,
    /// A concurrent transaction wrote what this one read or writes
    /// (SQLSTATE 40001).
    SerializationFailure = 4,
    /// A NoWait lock request met a conflicting lock.
    WouldBlock = 5,
    /// Waiting for the lock would deadlock (SQLSTATE 40P01).
    Deadlock = 6,
    /// The lock wait ran past its timeout (SQLSTATE 55P03).
    LockTimeout = 7,
    /// This node does not hold the lease of a range the request needs
    /// (another node does, or none yet): nothing was done (SQLSTATE 57P03).
    NotServed = 8,
    /// A write's outcome is unknown (SQLSTATE 40003).
    Ambiguous = 9,
}

#[derive(Clone, PartialEq, Message)]
pub struct ErrorReply {
    #[prost(enumeration = "ErrorCode", tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Value {
    #[prost(bytes = "vec", optional, tag = "1")]
    pub value: Option<Vec<u8>>,
    /// The timestamp the read was done at.
    #[prost(message, optional, tag = "2")]
    pub read_ts: Option<Ts>,
}

/// The answer to [`GetEntries`], entry by entry in the order asked.
#[derive(Clone, PartialEq, Message)]
pub struct Entries {
    #[prost(message, repeated, tag = "1")]
    pub entries: Vec<Entry>,
    /// The timestamp the reads were done at.
    #[prost(message, optional, tag = "2")]
    pub read_ts: Option<Ts>,
}

/// An index entry's value (none: no such entry) and the row it names.
#[derive(Clone, PartialEq, Message)]
pub struct Entry {
    #[prost(bytes = "vec", optional, tag = "1")]
    pub value: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "2")]
    pub row: Option<Vec<u8>>,
    /// The row's lock, when `GetEntries::lock` asked for it and it was taken.
    #[prost(message, optional, tag = "3")]
    pub locked: Option<RowLocked>,
    /// When the lock was asked for and others hold it: their transaction
    /// tags (`LockRow::txn_tag`), for the backend to wait on before it asks
    /// again — as a `RowBusy` answer names them.
    #[prost(uint64, repeated, tag = "4")]
    pub busy: Vec<u64>,
}

/// A scanned pair. `Bytes`, not `Vec`: decoding a page slices the frame
/// instead of allocating two buffers per row.
#[derive(Clone, PartialEq, Message)]
pub struct KvPair {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: bytes::Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub value: bytes::Bytes,
    /// The row the entry names (`Scan::rows_of_table`); none if it has none.
    #[prost(bytes = "bytes", optional, tag = "3")]
    pub row: Option<bytes::Bytes>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Scanned {
    #[prost(message, repeated, tag = "1")]
    pub pairs: Vec<KvPair>,
    /// False when the scan reached `end`; true when a limit stopped it.
    #[prost(bool, tag = "2")]
    pub more: bool,
    /// The timestamp the scan read at.
    #[prost(message, optional, tag = "3")]
    pub read_ts: Option<Ts>,
    /// With a filter: the last key the scan looked at, where the next page
    /// starts (after it) — the page may end with rows the filter skipped,
    /// or hold none at all.
    #[prost(bytes = "bytes", optional, tag = "4")]
    pub resume: Option<bytes::Bytes>,
    /// A page of plain pairs (no entry rows) comes packed here instead of
    /// in `pairs`: each pair as its key's length (varint), the key, its
    /// value's length (varint), the value — the node's page buffer as it
    /// was filled, one field to encode. A `KvPair` message per row (two
    /// `Bytes` slices, its length computed twice, encoded field by field)
    /// was a quarter of the node's CPU in a full scan (`perf`). The client
    /// unpacks it ([`Scanned::unpack`]).
    #[prost(bytes = "bytes", tag = "5")]
    pub packed: bytes::Bytes,
}

impl Scanned {
    /// Appends one pair to a [`packed`](Self::packed) buffer; where in it
    /// the key starts.
    pub fn pack(packed: &mut bytes::BytesMut, key: &[u8], value: &[u8]) -> usize {
        prost::encoding::encode_varint(key.len() as u64, packed);
        let at = packed.len();
        packed.extend_from_slice(key);
        prost::encoding::encode_varint(value.len() as u64, packed);
        packed.extend_from_slice(value);
        at
    }

    /// The key of the page's last pair, packed or not.
    pub fn last_key(&self) -> Option<bytes::Bytes> {
        if self.packed.is_empty() {
            return self.pairs.last().map(|p| p.key.clone());
        }
        let mut rest = &self.packed[..];
        let mut last = None;
        while !rest.is_empty() {
            let key = prost::encoding::decode_varint(&mut rest).ok()? as usize;
            let key_at = self.packed.len() - rest.len();
            rest = rest.get(key..)?;
            let value = prost::encoding::decode_varint(&mut rest).ok()? as usize;
            rest = rest.get(value..)?;
            last = Some(key_at..key_at + key);
        }
        last.map(|range| self.packed.slice(range))
    }

    /// Moves the packed pairs, if any, to `pairs` (slices of the packed
    /// buffer, not copies).
    pub fn unpack(&mut self) -> Result<(), String> {
        let packed = std::mem::take(&mut self.packed);
        let mut rest = &packed[..];
        let next = |rest: &mut &[u8]| -> Result<bytes::Bytes, String> {
            let len = prost::encoding::decode_varint(rest).map_err(|e| format!("a packed page: {e}"))?;
            let len = usize::try_from(len).ok().filter(|&len| len <= rest.len()).ok_or("a packed page ends early")?;
            let at = packed.len() - rest.len();
            *rest = &rest[len..];
            Ok(packed.slice(at..at + len))
        };
        while !rest.is_empty() {
            let key = next(&mut rest)?;
            let value = next(&mut rest)?;
            self.pairs.push(KvPair { key, value, row: None });
        }
        Ok(())
    }
}

#[derive(Clone, PartialEq, Message)]
pub struct Id {
    #[prost(uint64, tag = "1")]
    pub id: u64,
}

#[derive(Clone, PartialEq, Message)]
pub struct Done {}

impl From<lyra_engine::hlc::Timestamp> for Ts {
    fn from(ts: lyra_engine::hlc::Timestamp) -> Ts {
        Ts { wall: ts.wall, logical: ts.logical }
    }
}

impl From<Ts> for lyra_engine::hlc::Timestamp {
    fn from(ts: Ts) -> lyra_engine::hlc::Timestamp {
        lyra_engine::hlc::Timestamp { wall: ts.wall, logical: ts.logical }
    }
}

impl Op {
    pub fn put(key: Vec<u8>, value: Vec<u8>) -> Op {
        Op { kind: OpKind::Put as i32, key, value, seen_at: None }
    }
    pub fn delete(key: Vec<u8>) -> Op {
        Op { kind: OpKind::Delete as i32, key, value: Vec::new(), seen_at: None }
    }
    pub fn moved(key: Vec<u8>) -> Op {
        Op { kind: OpKind::Moved as i32, key, value: Vec::new(), seen_at: None }
    }
    pub fn delete_range(start: Vec<u8>, end: Vec<u8>) -> Op {
        Op { kind: OpKind::DeleteRange as i32, key: start, value: end, seen_at: None }
    }
    /// The same write, checked at commit against `seen_at`.
    pub fn seen_at(mut self, ts: Option<Ts>) -> Op {
        self.seen_at = ts;
        self
    }
    /// Bytes this op adds to a frame, roughly (used to size chunks).
    pub fn weight(&self) -> usize {
        self.key.len() + self.value.len() + 8
    }
}

/// Appends `msg` to `out` as one frame.
pub fn encode_frame(msg: &impl Message, out: &mut Vec<u8>) {
    let len = msg.encoded_len();
    out.reserve(4 + len);
    out.extend_from_slice(&(len as u32).to_be_bytes());
    msg.encode(out).expect("a Vec<u8> grows as needed");
}

/// The payload length announced by a frame header, checked against
/// [`MAX_FRAME`].
pub fn frame_len(header: [u8; 4]) -> Result<usize, String> {
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_FRAME {
        return Err(format!("frame of {len} bytes exceeds the {MAX_FRAME}-byte limit"));
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A packed page unpacks to its pairs, in order, through a frame —
    /// empty keys and values and lengths of more than one varint byte too;
    /// a truncated one is an error, not a short page.
    #[test]
    fn a_packed_page_unpacks_to_its_pairs() {
        let pairs: Vec<(Vec<u8>, Vec<u8>)> =
            vec![(b"k1".to_vec(), b"v".to_vec()), (Vec::new(), Vec::new()), (vec![7; 200], vec![9; 70_000])];
        let mut packed = bytes::BytesMut::new();
        for (key, value) in &pairs {
            let at = Scanned::pack(&mut packed, key, value);
            assert_eq!(&packed[at..at + key.len()], &key[..], "the key's offset");
        }
        let page = Scanned { packed: packed.freeze(), more: true, ..Default::default() };
        let mut frame = Vec::new();
        encode_frame(&Response { kind: Some(response::Kind::Scanned(page.clone())) }, &mut frame);
        let Response { kind: Some(response::Kind::Scanned(mut got)) } = Response::decode(&frame[4..]).expect("decode") else {
            panic!("not a page")
        };
        got.unpack().expect("unpack");
        let got: Vec<(Vec<u8>, Vec<u8>)> = got.pairs.iter().map(|p| (p.key.to_vec(), p.value.to_vec())).collect();
        assert_eq!(got, pairs);
        let mut short = Scanned { packed: page.packed.slice(..page.packed.len() - 1), ..Default::default() };
        assert!(short.unpack().is_err());
    }

    #[test]
    fn frame_round_trip() {
        let req = Request {
            kind: Some(request::Kind::Commit(Commit {
                ops: vec![Op::put(b"k".to_vec(), vec![0; 300]), Op::delete_range(b"a".to_vec(), b"b".to_vec())],
                ..Default::default()
            })),
        };
        let mut buf = Vec::new();
        encode_frame(&req, &mut buf);
        let len = frame_len(buf[..4].try_into().unwrap()).unwrap();
        assert_eq!(len, buf.len() - 4);
        assert_eq!(Request::decode(&buf[4..]).unwrap(), req);
    }

    /// Every request kind survives the wire (a kind missing from the
    /// oneof's tag list is dropped silently: the node sees an empty
    /// request).
    #[test]
    fn cluster_requests_round_trip() {
        let kinds = [
            request::Kind::ClusterStatus(ClusterStatus {}),
            request::Kind::TransferLease(TransferLease { range: 2, to: 3 }),
            request::Kind::ChangeReplicas(ChangeReplicas { range: 2, add: vec![4], remove: vec![1] }),
            request::Kind::SplitRange(SplitRange { range: 0, key: b"w".to_vec() }),
            request::Kind::Decommission(Decommission { node: 3 }),
            request::Kind::AddNode(AddNode { address: "127.0.0.1:7445".into() }),
            request::Kind::FreshReadTs(FreshReadTs {}),
            request::Kind::ReleaseLocks(ReleaseLocks { subxact: 3 }),
        ];
        for kind in kinds {
            let request = Request { kind: Some(kind) };
            assert_eq!(Request::decode(&request.encode_to_vec()[..]).unwrap(), request);
        }
    }

    #[test]
    fn oversized_frame_is_refused() {
        assert!(frame_len(u32::MAX.to_be_bytes()).is_err());
        assert_eq!(frame_len(7u32.to_be_bytes()), Ok(7));
    }

    #[test]
    fn missing_value_differs_from_empty_value() {
        let none = Value { value: None, read_ts: None }.encode_to_vec();
        let empty = Value { value: Some(Vec::new()), read_ts: None }.encode_to_vec();
        assert_eq!(Value::decode(&none[..]).unwrap().value, None);
        assert_eq!(Value::decode(&empty[..]).unwrap().value, Some(Vec::new()));
    }
}
