//! The keyspaces of DESIGN §3, as typed enums with an order-preserving
//! ("memcomparable") byte encoding.
//!
//! Nothing outside this module builds key bytes by hand: callers say
//! [`Key::Row`] and get bytes whose order is the order of the key's fields,
//! so a byte-range scan of the store is a scan over rows in row-id order.
//!
//! # Layout
//!
//! A one-byte tag names the keyspace, further tags name the kind of key,
//! and integers are fixed-width big-endian (u64 in 8 bytes, u32 in 4), which
//! sorts like the numbers themselves. Every field has a fixed width, so no
//! key is a proper prefix of another key of a different shape.
//!
//! ```text
//!   key                                   bytes                          value
//!   /meta/next_table_id                   'm' 'n'                        u64 BE
//!   /meta/node/{node}/address             'm' 'a' node:8                 gRPC address (UTF-8)
//!   /meta/node/{node}/decommissioned      'm' 'x' node:8                 (empty)
//!   /meta/range/{range}                   'm' 'd' range:8                range descriptor
//!   /meta/relfile/{node}/{spc}/{db}/{rel} 'm' 'f' node:8 spc:4 db:4 rel:4 TableId BE
//!   /meta/table/{table}/next_row_id       'm' 't' table:8 'n'            u64 BE
//!   /t/{table}/r/{row}                    't' table:8 'r' row:8          encoded row
//!   /t/{table}/i/{index}/{entry}          't' table:8 'i' index:8 entry  row id or empty
//!   /local/range/{range}/hard_state       01 'r' range:8 'h'             Raft HardState
//!   /local/range/{range}/apply_state      01 'r' range:8 'a'             applied index, log start, ConfState
//!   /local/range/{range}/log/{index}      01 'r' range:8 'l' index:8     Raft log entry
//!   /local/range/{range}/tombstone        01 'r' range:8 't'             (removed from the range)
//!   └──────── KeyPrefix ────────┘
//!   Meta              'm'
//!   NodeAddresses     'm' 'a'
//!   Decommissioned    'm' 'x'
//!   RangeDescriptors  'm' 'd'
//!   RelfileMappings   'm' 'f' node:8
//!   Table             't' table:8
//!   Rows              't' table:8 'r'
//!   Index             't' table:8 'i' index:8
//!   Local             01
//!   RangeLocal        01 'r' range:8
//!   RaftLog           01 'r' range:8 'l'
//! ```
//!
//! Local keys (tag 0x01, below every replicated keyspace, so ranges'
//! spans are one contiguous stretch above them) are a replica's own state
//! (its Raft log and where it stands), never replicated: each node keeps
//! its own under the same key, and no range's span covers them. The values' encodings belong to the cluster's
//! Raft code.
//!
//! An index entry is the index's columns in [`memcmp`] encoding; a unique
//! index entry with no NULL column maps to the row id (8 bytes BE), any
//! other entry ends with the row id itself and maps to nothing. The index
//! id comes from the same allocator as table ids.
//!
//! Invariants, each kept by a test:
//!
//! * `Key::decode(&k.encode()) == Ok(k)`, and any bytes that decode
//!   re-encode to themselves (one encoding per key).
//! * Row keys compare as `(table, row)` tuples.
//! * Every key's encoding starts with its [`Key::prefix`]'s encoding, and
//!   lies in that prefix's [`KeyPrefix::range`].
//! * Decoding arbitrary bytes returns `Err(Corrupt)`, never panics.
//!
//! # Not done yet
//!
//! Decoding index entries back into column values (for pushed-down
//! filters). [`crate::mvcc`] stores these encodings as its user keys,
//! escaped, under its own `'v'` keyspace (see `mvcc::keys`).

pub mod memcmp;
mod row_id;

pub use row_id::RowId;

use crate::encoding::Reader;
use crate::error::Result;

/// Whether an encoded key is versioned: table data (`'t'`) is stored
/// through [`crate::mvcc`] at commit timestamps; catalog keys (`'m'`) are
/// plain values that every reader sees at their latest, as Postgres's own
/// catalog lookups do.
pub fn is_versioned(encoded: &[u8]) -> bool {
    encoded.first() == Some(&TABLE)
}

/// A cluster-wide table id, allocated by the [`crate::catalog::Catalog`].
/// Never a Postgres OID: OIDs differ from node to node.
pub type TableId = u64;

const META: u8 = b'm';
const NEXT_TABLE_ID: u8 = b'n';
const RELFILE: u8 = b'f';
const NODE_ADDRESS: u8 = b'a';
const DECOMMISSIONED: u8 = b'x';
const RANGE_DESCRIPTOR: u8 = b'd';
const TABLE_META: u8 = b't';
const NEXT_ROW_ID: u8 = b'n';
const TABLE: u8 = b't';
const ROWS: u8 = b'r';
const INDEX: u8 = b'i';
const LOCAL: u8 = 0x01;
const RANGE_LOCAL: u8 = b'r';
const HARD_STATE: u8 = b'h';
const APPLY_STATE: u8 = b'a';
const RAFT_LOG: u8 = b'l';
const TOMBSTONE: u8 = b't';

/// A range of the keyspace, replicated by one Raft group (DESIGN §5).
/// Ranges are numbered from 1.
pub type RangeId = u64;

/// A key in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// The next table id to hand out (u64 BE). Absent means 1.
    NextTableId,
    /// Where node `node` of the cluster listens for other nodes (its
    /// gRPC address, UTF-8): the cluster's directory of nodes.
    NodeAddress { node: u64 },
    /// Node `node` is leaving the cluster: its replicas move to other
    /// nodes, and it gets no new ones.
    NodeDecommissioned { node: u64 },
    /// Range `range`'s descriptor (span, voters, leader), written by its
    /// leader; the cluster's routing table (the cluster crate encodes it).
    RangeDescriptor { range: RangeId },
    /// A node-local Postgres relation file (relfilenode) → the cluster
    /// table id stored there (u64 BE).
    RelfileMapping {
        /// The cluster node whose Postgres holds the file.
        node: u64,
        /// Tablespace OID (RelFileNode.spcNode).
        spc: u32,
        /// Database OID (RelFileNode.dbNode).
        db: u32,
        /// Relation file number (RelFileNode.relNode).
        rel: u32,
    },
    /// One past the highest row id handed out for `table` (u64 BE).
    /// Absent means 0.
    NextRowId { table: TableId },
    /// A row of a table → the row, encoded by [`crate::row`].
    Row { table: TableId, row: RowId },
    /// An entry of an index on `table` (see the module docs).
    IndexEntry { table: TableId, index: TableId, entry: Vec<u8> },
    /// This node's replica of `range`: its Raft hard state (term, vote,
    /// commit).
    RaftHardState { range: RangeId },
    /// This node's replica of `range`: the applied index, where its log
    /// starts, and the configuration applied.
    RaftApplyState { range: RangeId },
    /// This node's replica of `range`: the Raft log entry at `index`.
    RaftLogEntry { range: RangeId, index: u64 },
    /// This node was removed from `range` and deleted its replica; late
    /// messages of the range must not bring it back.
    RaftTombstone { range: RangeId },
}

impl Key {
    /// The narrowest prefix this key lies under.
    pub fn prefix(&self) -> KeyPrefix {
        match *self {
            Key::NextTableId | Key::NextRowId { .. } => KeyPrefix::Meta,
            Key::NodeAddress { .. } => KeyPrefix::NodeAddresses,
            Key::NodeDecommissioned { .. } => KeyPrefix::DecommissionedNodes,
            Key::RangeDescriptor { .. } => KeyPrefix::RangeDescriptors,
            Key::RelfileMapping { node, .. } => KeyPrefix::RelfileMappings { node },
            Key::Row { table, .. } => KeyPrefix::Rows { table },
            Key::IndexEntry { table, index, .. } => KeyPrefix::Index { table, index },
            Key::RaftHardState { range } | Key::RaftApplyState { range } | Key::RaftTombstone { range } => {
                KeyPrefix::RangeLocal { range }
            }
            Key::RaftLogEntry { range, .. } => KeyPrefix::RaftLog { range },
        }
    }

    /// The key's bytes: its prefix's bytes, then the rest of its fields.
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = self.prefix().encode();
        match self {
            Key::NextTableId => buf.push(NEXT_TABLE_ID),
            Key::NodeAddress { node } | Key::NodeDecommissioned { node } => buf.extend_from_slice(&node.to_be_bytes()),
            Key::RangeDescriptor { range } => buf.extend_from_slice(&range.to_be_bytes()),
            Key::RelfileMapping { spc, db, rel, .. } => {
                buf.extend_from_slice(&spc.to_be_bytes());
                buf.extend_from_slice(&db.to_be_bytes());
                buf.extend_from_slice(&rel.to_be_bytes());
            }
            Key::NextRowId { table } => {
                buf.push(TABLE_META);
                buf.extend_from_slice(&table.to_be_bytes());
                buf.push(NEXT_ROW_ID);
            }
            Key::Row { row, .. } => buf.extend_from_slice(&row.0.to_be_bytes()),
            Key::IndexEntry { entry, .. } => buf.extend_from_slice(entry),
            Key::RaftHardState { .. } => buf.push(HARD_STATE),
            Key::RaftApplyState { .. } => buf.push(APPLY_STATE),
            Key::RaftTombstone { .. } => buf.push(TOMBSTONE),
            Key::RaftLogEntry { index, .. } => buf.extend_from_slice(&index.to_be_bytes()),
        }
        buf
    }

    /// Parses bytes written by [`Key::encode`]; anything else is
    /// `Err(Corrupt)`.
    pub fn decode(bytes: &[u8]) -> Result<Key> {
        let mut reader = Reader::new(bytes, "key");
        let key = match reader.u8()? {
            META => Self::decode_meta(&mut reader)?,
            TABLE => Self::decode_table(&mut reader)?,
            LOCAL => Self::decode_local(&mut reader)?,
            tag => return Err(reader.corrupt(format!("unknown keyspace tag {tag:#04x}"))),
        };
        reader.finish()?;
        Ok(key)
    }

    fn decode_meta(reader: &mut Reader) -> Result<Key> {
        match reader.u8()? {
            NEXT_TABLE_ID => Ok(Key::NextTableId),
            NODE_ADDRESS => Ok(Key::NodeAddress { node: reader.u64_be()? }),
            DECOMMISSIONED => Ok(Key::NodeDecommissioned { node: reader.u64_be()? }),
            RANGE_DESCRIPTOR => Ok(Key::RangeDescriptor { range: reader.u64_be()? }),
            RELFILE => Ok(Key::RelfileMapping {
                node: reader.u64_be()?,
                spc: reader.u32_be()?,
                db: reader.u32_be()?,
                rel: reader.u32_be()?,
            }),
            TABLE_META => {
                let table = reader.u64_be()?;
                match reader.u8()? {
                    NEXT_ROW_ID => Ok(Key::NextRowId { table }),
                    tag => Err(reader.corrupt(format!("unknown table meta tag {tag:#04x}"))),
                }
            }
            tag => Err(reader.corrupt(format!("unknown meta tag {tag:#04x}"))),
        }
    }

    fn decode_local(reader: &mut Reader) -> Result<Key> {
        match reader.u8()? {
            RANGE_LOCAL => {
                let range = reader.u64_be()?;
                match reader.u8()? {
                    HARD_STATE => Ok(Key::RaftHardState { range }),
                    APPLY_STATE => Ok(Key::RaftApplyState { range }),
                    TOMBSTONE => Ok(Key::RaftTombstone { range }),
                    RAFT_LOG => Ok(Key::RaftLogEntry { range, index: reader.u64_be()? }),
                    tag => Err(reader.corrupt(format!("unknown range-local tag {tag:#04x}"))),
                }
            }
            tag => Err(reader.corrupt(format!("unknown local tag {tag:#04x}"))),
        }
    }

    fn decode_table(reader: &mut Reader) -> Result<Key> {
        let table = reader.u64_be()?;
        match reader.u8()? {
            ROWS => Ok(Key::Row {
                table,
                row: RowId(reader.u64_be()?),
            }),
            INDEX => Ok(Key::IndexEntry {
                table,
                index: reader.u64_be()?,
                entry: reader.rest().to_vec(),
            }),
            tag => Err(reader.corrupt(format!("unknown table keyspace tag {tag:#04x}"))),
        }
    }
}

/// A prefix shared by a family of keys; scanning its [`range`](Self::range)
/// visits exactly those keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPrefix {
    /// The cluster catalog: every `/meta/...` key.
    Meta,
    /// Every node's address.
    NodeAddresses,
    /// Every decommissioned node.
    DecommissionedNodes,
    /// Every range's descriptor.
    RangeDescriptors,
    /// Every relfile mapping of one node.
    RelfileMappings { node: u64 },
    /// Everything stored under one table: its rows and its indexes.
    Table { table: TableId },
    /// The rows of one table, in row-id order.
    Rows { table: TableId },
    /// The entries of one index of a table, in index order.
    Index { table: TableId, index: TableId },
    /// Everything this node keeps of its replicas, of every range.
    Local,
    /// Everything this node keeps of its replica of `range`.
    RangeLocal { range: RangeId },
    /// This node's Raft log of `range`, in index order.
    RaftLog { range: RangeId },
}

impl KeyPrefix {
    /// The prefix's bytes; every key under it starts with them.
    pub fn encode(&self) -> Vec<u8> {
        match *self {
            KeyPrefix::Meta => vec![META],
            KeyPrefix::NodeAddresses => vec![META, NODE_ADDRESS],
            KeyPrefix::DecommissionedNodes => vec![META, DECOMMISSIONED],
            KeyPrefix::RangeDescriptors => vec![META, RANGE_DESCRIPTOR],
            KeyPrefix::RelfileMappings { node } => {
                let mut buf = vec![META, RELFILE];
                buf.extend_from_slice(&node.to_be_bytes());
                buf
            }
            KeyPrefix::Table { table } => {
                let mut buf = vec![TABLE];
                buf.extend_from_slice(&table.to_be_bytes());
                buf
            }
            KeyPrefix::Rows { table } => {
                let mut buf = KeyPrefix::Table { table }.encode();
                buf.push(ROWS);
                buf
            }
            KeyPrefix::Index { table, index } => {
                let mut buf = KeyPrefix::Table { table }.encode();
                buf.push(INDEX);
                buf.extend_from_slice(&index.to_be_bytes());
                buf
            }
            KeyPrefix::Local => vec![LOCAL],
            KeyPrefix::RangeLocal { range } => {
                let mut buf = vec![LOCAL, RANGE_LOCAL];
                buf.extend_from_slice(&range.to_be_bytes());
                buf
            }
            KeyPrefix::RaftLog { range } => {
                let mut buf = KeyPrefix::RangeLocal { range }.encode();
                buf.push(RAFT_LOG);
                buf
            }
        }
    }

    /// `[start, end)` covering exactly the keys with this prefix. The end is
    /// the prefix's successor: strip trailing 0xFF bytes, then increment
    /// the last byte. Lyra's prefixes start with 0x01, 'm' or 't', so the end is
    /// never empty (which scans would read as "unbounded").
    pub fn range(&self) -> (Vec<u8>, Vec<u8>) {
        let start = self.encode();
        let mut end = start.clone();
        while end.last() == Some(&0xff) {
            end.pop();
        }
        if let Some(last) = end.last_mut() {
            *last += 1;
        }
        (start, end)
    }
}

/// Encodes a number stored as a meta value (a counter, or the table id of a
/// relfile mapping): 8 bytes big-endian.
pub fn encode_u64_value(value: u64) -> Vec<u8> {
    value.to_be_bytes().to_vec()
}

/// Decodes a value written by [`encode_u64_value`]; `Err(Corrupt)` unless it
/// is exactly 8 bytes.
pub fn decode_u64_value(bytes: &[u8]) -> Result<u64> {
    let mut reader = Reader::new(bytes, "u64 value");
    let value = reader.u64_be()?;
    reader.finish()?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use proptest::prelude::*;

    fn any_key() -> impl Strategy<Value = Key> {
        prop_oneof![
            Just(Key::NextTableId),
            any::<u64>().prop_map(|node| Key::NodeAddress { node }),
            any::<u64>().prop_map(|node| Key::NodeDecommissioned { node }),
            any::<u64>().prop_map(|range| Key::RangeDescriptor { range }),
            (any::<u64>(), any::<u32>(), any::<u32>(), any::<u32>())
                .prop_map(|(node, spc, db, rel)| Key::RelfileMapping { node, spc, db, rel }),
            any::<u64>().prop_map(|table| Key::NextRowId { table }),
            (any::<u64>(), any::<u64>()).prop_map(|(table, row)| Key::Row {
                table,
                row: RowId(row)
            }),
            (any::<u64>(), any::<u64>(), any::<Vec<u8>>())
                .prop_map(|(table, index, entry)| Key::IndexEntry { table, index, entry }),
            any::<u64>().prop_map(|range| Key::RaftHardState { range }),
            any::<u64>().prop_map(|range| Key::RaftApplyState { range }),
            any::<u64>().prop_map(|range| Key::RaftTombstone { range }),
            (any::<u64>(), any::<u64>()).prop_map(|(range, index)| Key::RaftLogEntry { range, index }),
        ]
    }

    fn any_prefix() -> impl Strategy<Value = KeyPrefix> {
        prop_oneof![
            Just(KeyPrefix::Meta),
            Just(KeyPrefix::NodeAddresses),
            Just(KeyPrefix::DecommissionedNodes),
            Just(KeyPrefix::RangeDescriptors),
            any::<u64>().prop_map(|node| KeyPrefix::RelfileMappings { node }),
            any::<u64>().prop_map(|table| KeyPrefix::Table { table }),
            any::<u64>().prop_map(|table| KeyPrefix::Rows { table }),
            (any::<u64>(), any::<u64>()).prop_map(|(table, index)| KeyPrefix::Index { table, index }),
            Just(KeyPrefix::Local),
            any::<u64>().prop_map(|range| KeyPrefix::RangeLocal { range }),
            any::<u64>().prop_map(|range| KeyPrefix::RaftLog { range }),
        ]
    }

    fn in_range(bytes: &[u8], (start, end): &(Vec<u8>, Vec<u8>)) -> bool {
        bytes >= &start[..] && (end.is_empty() || bytes < &end[..])
    }

    // The two exhaustive matches below are the place that keeps Key and
    // KeyPrefix in step: a new variant of either does not compile until it
    // says where it lies, and the test then checks that it really does.

    /// Every prefix a key lies under, widest first.
    fn prefixes_of(key: &Key) -> Vec<KeyPrefix> {
        match *key {
            Key::NextTableId | Key::NextRowId { .. } => vec![KeyPrefix::Meta],
            Key::NodeAddress { .. } => vec![KeyPrefix::Meta, KeyPrefix::NodeAddresses],
            Key::NodeDecommissioned { .. } => vec![KeyPrefix::Meta, KeyPrefix::DecommissionedNodes],
            Key::RangeDescriptor { .. } => vec![KeyPrefix::Meta, KeyPrefix::RangeDescriptors],
            Key::RelfileMapping { node, .. } => {
                vec![KeyPrefix::Meta, KeyPrefix::RelfileMappings { node }]
            }
            Key::Row { table, .. } => vec![KeyPrefix::Table { table }, KeyPrefix::Rows { table }],
            Key::IndexEntry { table, index, .. } => {
                vec![KeyPrefix::Table { table }, KeyPrefix::Index { table, index }]
            }
            Key::RaftHardState { range } | Key::RaftApplyState { range } | Key::RaftTombstone { range } => {
                vec![KeyPrefix::Local, KeyPrefix::RangeLocal { range }]
            }
            Key::RaftLogEntry { range, .. } => {
                vec![KeyPrefix::Local, KeyPrefix::RangeLocal { range }, KeyPrefix::RaftLog { range }]
            }
        }
    }

    /// A key that lies under `prefix`.
    fn key_under(prefix: &KeyPrefix) -> Key {
        match *prefix {
            KeyPrefix::Meta => Key::NextTableId,
            KeyPrefix::NodeAddresses => Key::NodeAddress { node: 4 },
            KeyPrefix::DecommissionedNodes => Key::NodeDecommissioned { node: 4 },
            KeyPrefix::RangeDescriptors => Key::RangeDescriptor { range: 4 },
            KeyPrefix::RelfileMappings { node } => Key::RelfileMapping {
                node,
                spc: 1,
                db: 2,
                rel: 3,
            },
            KeyPrefix::Table { table } | KeyPrefix::Rows { table } => Key::Row {
                table,
                row: RowId(9),
            },
            KeyPrefix::Index { table, index } => Key::IndexEntry { table, index, entry: vec![1, 2] },
            KeyPrefix::Local => Key::RaftHardState { range: 1 },
            KeyPrefix::RangeLocal { range } => Key::RaftApplyState { range },
            KeyPrefix::RaftLog { range } => Key::RaftLogEntry { range, index: 5 },
        }
    }

    #[test]
    fn keys_and_prefixes_stay_in_step() {
        let keys = [
            Key::NextTableId,
            Key::NodeAddress { node: 2 },
            Key::NodeDecommissioned { node: 2 },
            Key::RangeDescriptor { range: 2 },
            Key::RelfileMapping {
                node: 7,
                spc: 1663,
                db: 5,
                rel: 16384,
            },
            Key::NextRowId { table: 3 },
            Key::Row {
                table: 3,
                row: RowId(42),
            },
            Key::IndexEntry { table: 3, index: 4, entry: vec![0xff, 0] },
            Key::RaftHardState { range: 2 },
            Key::RaftApplyState { range: 2 },
            Key::RaftLogEntry { range: 2, index: 10 },
            Key::RaftTombstone { range: 2 },
        ];
        for key in &keys {
            let chain = prefixes_of(key);
            assert_eq!(chain.last(), Some(&key.prefix()), "{key:?}");
            for prefix in chain {
                assert!(
                    key.encode().starts_with(&prefix.encode()),
                    "{key:?} {prefix:?}"
                );
                assert!(
                    in_range(&key.encode(), &prefix.range()),
                    "{key:?} {prefix:?}"
                );
            }
        }
        let prefixes = [
            KeyPrefix::Meta,
            KeyPrefix::NodeAddresses,
            KeyPrefix::DecommissionedNodes,
            KeyPrefix::RangeDescriptors,
            KeyPrefix::RelfileMappings { node: 7 },
            KeyPrefix::Table { table: 3 },
            KeyPrefix::Rows { table: 3 },
            KeyPrefix::Index { table: 3, index: 4 },
            KeyPrefix::Local,
            KeyPrefix::RangeLocal { range: 2 },
            KeyPrefix::RaftLog { range: 2 },
        ];
        for prefix in &prefixes {
            let key = key_under(prefix);
            assert!(prefixes_of(&key).contains(prefix), "{prefix:?}");
            assert!(in_range(&key.encode(), &prefix.range()), "{prefix:?}");
        }
    }

    #[test]
    fn layout_is_as_documented() {
        assert_eq!(Key::NextTableId.encode(), b"mn");
        assert_eq!(Key::RangeDescriptor { range: 7 }.encode(), b"md\0\0\0\0\0\0\0\x07");
        // Replica-local keys sort below every replicated key.
        let (_, local_end) = KeyPrefix::Local.range();
        assert_eq!(local_end, vec![0x02]);
        assert!(Key::RaftTombstone { range: u64::MAX }.encode() < Key::NextTableId.encode());
        let row = Key::Row {
            table: 1,
            row: RowId(2),
        }
        .encode();
        assert_eq!(row, b"t\0\0\0\0\0\0\0\x01r\0\0\0\0\0\0\0\x02");
        let (start, end) = KeyPrefix::Table { table: u64::MAX }.range();
        assert_eq!(
            (start, end),
            (b"t\xff\xff\xff\xff\xff\xff\xff\xff".to_vec(), b"u".to_vec())
        );
    }

    #[test]
    fn u64_values_must_be_eight_bytes() {
        assert_eq!(decode_u64_value(&encode_u64_value(9)).ok(), Some(9));
        assert!(matches!(decode_u64_value(&[0; 7]), Err(Error::Corrupt(_))));
        assert!(matches!(decode_u64_value(&[0; 9]), Err(Error::Corrupt(_))));
    }

    proptest! {
        #[test]
        fn keys_round_trip(key in any_key()) {
            prop_assert_eq!(Key::decode(&key.encode())?, key);
        }

        #[test]
        fn row_keys_sort_as_tuples(a: (u64, u64), b: (u64, u64)) {
            let encode = |(table, row): (u64, u64)| Key::Row { table, row: RowId(row) }.encode();
            prop_assert_eq!(encode(a).cmp(&encode(b)), a.cmp(&b));
        }

        #[test]
        fn raft_log_keys_sort_as_tuples(a: (u64, u64), b: (u64, u64)) {
            let encode = |(range, index)| Key::RaftLogEntry { range, index }.encode();
            prop_assert_eq!(encode(a).cmp(&encode(b)), a.cmp(&b));
        }

        #[test]
        fn relfile_keys_sort_as_tuples(a: (u64, u32, u32, u32), b: (u64, u32, u32, u32)) {
            let encode = |(node, spc, db, rel)| Key::RelfileMapping { node, spc, db, rel }.encode();
            prop_assert_eq!(encode(a).cmp(&encode(b)), a.cmp(&b));
        }

        #[test]
        fn a_prefix_range_holds_exactly_its_keys(key in any_key(), prefix in any_prefix()) {
            let bytes = key.encode();
            prop_assert!(in_range(&bytes, &key.prefix().range()));
            let under = bytes.starts_with(&prefix.encode());
            prop_assert_eq!(in_range(&bytes, &prefix.range()), under);
        }

        #[test]
        fn garbage_never_panics(bytes: Vec<u8>) {
            match Key::decode(&bytes) {
                Ok(key) => prop_assert_eq!(key.encode(), bytes),
                Err(e) => prop_assert!(matches!(e, Error::Corrupt(_))),
            }
        }

        #[test]
        fn mangled_keys_never_panic(key in any_key(), cut in any::<prop::sample::Index>(), byte: u8) {
            let mut bytes = key.encode();
            let at = cut.index(bytes.len());
            bytes[at] = byte;
            for candidate in [&bytes[..], &bytes[..at]] {
                if let Ok(decoded) = Key::decode(candidate) {
                    prop_assert_eq!(decoded.encode(), candidate);
                }
            }
        }
    }
}
