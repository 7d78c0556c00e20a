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
//! Not here yet: timestamps, locks and prewrite/commit actions (MVCC issue),
//! and routing to ranges on other nodes (replication issue).

use prost::Message;

/// The largest frame either side accepts. One row may hold several 1 GB
/// fields in Postgres; Lyra caps a single frame well below the address space
/// and documents the per-row limit that follows from it.
pub const MAX_FRAME: usize = 512 << 20;

#[derive(Clone, PartialEq, Message)]
pub struct Request {
    #[prost(oneof = "request::Kind", tags = "1, 2, 3, 4, 5, 6, 7, 8")]
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
    }
}

#[derive(Clone, PartialEq, Message)]
pub struct Response {
    #[prost(oneof = "response::Kind", tags = "1, 2, 3, 4, 5")]
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
    }
}

/// Read one key.
#[derive(Clone, PartialEq, Message)]
pub struct Get {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
}

/// Read `[start, end)` in key order (`end` empty: unbounded), stopping at
/// `max_rows` pairs or once `max_bytes` of keys and values were gathered.
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
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum OpKind {
    Put = 0,
    Delete = 1,
    DeleteRange = 2,
}

/// Add writes to this connection's staged batch.
#[derive(Clone, PartialEq, Message)]
pub struct StageWrites {
    #[prost(message, repeated, tag = "1")]
    pub ops: Vec<Op>,
}

/// Apply the staged batch plus `ops` atomically; durable on return.
#[derive(Clone, PartialEq, Message)]
pub struct Commit {
    #[prost(message, repeated, tag = "1")]
    pub ops: Vec<Op>,
}

/// Forget the staged batch.
#[derive(Clone, PartialEq, Message)]
pub struct DiscardStaged {}

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
}

/// A scanned pair. `Bytes`, not `Vec`: decoding a page slices the frame
/// instead of allocating two buffers per row.
#[derive(Clone, PartialEq, Message)]
pub struct KvPair {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: bytes::Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub value: bytes::Bytes,
}

#[derive(Clone, PartialEq, Message)]
pub struct Scanned {
    #[prost(message, repeated, tag = "1")]
    pub pairs: Vec<KvPair>,
    /// False when the scan reached `end`; true when a limit stopped it.
    #[prost(bool, tag = "2")]
    pub more: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct Id {
    #[prost(uint64, tag = "1")]
    pub id: u64,
}

#[derive(Clone, PartialEq, Message)]
pub struct Done {}

impl Op {
    pub fn put(key: Vec<u8>, value: Vec<u8>) -> Op {
        Op { kind: OpKind::Put as i32, key, value }
    }
    pub fn delete(key: Vec<u8>) -> Op {
        Op { kind: OpKind::Delete as i32, key, value: Vec::new() }
    }
    pub fn delete_range(start: Vec<u8>, end: Vec<u8>) -> Op {
        Op { kind: OpKind::DeleteRange as i32, key: start, value: end }
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

    #[test]
    fn frame_round_trip() {
        let req = Request {
            kind: Some(request::Kind::Commit(Commit {
                ops: vec![Op::put(b"k".to_vec(), vec![0; 300]), Op::delete_range(b"a".to_vec(), b"b".to_vec())],
            })),
        };
        let mut buf = Vec::new();
        encode_frame(&req, &mut buf);
        let len = frame_len(buf[..4].try_into().unwrap()).unwrap();
        assert_eq!(len, buf.len() - 4);
        assert_eq!(Request::decode(&buf[4..]).unwrap(), req);
    }

    #[test]
    fn oversized_frame_is_refused() {
        assert!(frame_len(u32::MAX.to_be_bytes()).is_err());
        assert_eq!(frame_len(7u32.to_be_bytes()), Ok(7));
    }

    #[test]
    fn missing_value_differs_from_empty_value() {
        let none = Value { value: None }.encode_to_vec();
        let empty = Value { value: Some(Vec::new()) }.encode_to_vec();
        assert_eq!(Value::decode(&none[..]).unwrap().value, None);
        assert_eq!(Value::decode(&empty[..]).unwrap().value, Some(Vec::new()));
    }
}
