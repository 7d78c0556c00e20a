//! The MVCC keyspace: how locks, commit records and versioned values of
//! user keys are laid out in one byte-ordered [`Engine`](crate::storage::Engine).
//!
//! Percolator keeps three column families (lock, write, data); Lyra's
//! engine has one ordered keyspace, so the family becomes a tag after the
//! user key, and a version's timestamp is stored bitwise inverted so that
//! newer versions sort first:
//!
//! ```text
//!   'v' escape(user_key) 00 01 'D' !start_ts   → value         (data)
//!   'v' escape(user_key) 00 01 'L'             → Lock           (lock)
//!   'v' escape(user_key) 00 01 'W' !commit_ts  → Write          (commit record)
//!
//!   escape: every 00 byte of the user key becomes 00 FF; 00 01 ends it.
//!
//!   user key "a" committed at 20 (started 10), then locked by txn 30:
//!   76 61 00 01 44 !(30,0)   data  "a"@30 → "new"
//!   76 61 00 01 44 !(10,0)   data  "a"@10 → "old"
//!   76 61 00 01 4C           lock  "a" → primary "a", start 30, ttl, put
//!   76 61 00 01 57 !(20,0)   write "a"@20 → put, start 10
//!   76 61 00 FF 00 01 …      records of user key "a\0" start here
//! ```
//!
//! Invariants, each kept by a test:
//!
//! * Records of one user key are contiguous: they all lie in
//!   [`key_records`]`(k)`, which holds no record of any other key. So
//!   versions of `"a"` never interleave with those of `"a\0"` or `"a\x01"`.
//! * Raw order of the user-key part is user-key order, so a user range
//!   `[start, end)` is the raw range [`user_range`]`(start, end)`.
//! * Within a key and tag, versions sort newest first: seeking to
//!   `Write(k, read_ts)` lands on the newest commit record ≤ `read_ts`.
//! * `MvccKey::decode(&k.encode()) == Ok(k)`; other bytes are
//!   `Err(Corrupt)`, never a panic.
//!
//! The `'v'` keyspace tag sits beside the raw keyspaces of
//! [`crate::keys`] (`'m'`, `'t'`), so an MVCC store and raw catalog
//! counters can share one engine. The user keys inside are whatever the
//! caller chooses — normally [`crate::keys::Key`] encodings.

use crate::encoding::{put_varint, Reader};
use crate::error::Result;
use crate::hlc::Timestamp;

/// The keyspace tag of every MVCC record.
pub const MVCC_TAG: u8 = b'v';
const ESCAPE: u8 = 0xff;
const TERMINATOR: u8 = 0x01;
const DATA: u8 = b'D';
const LOCK: u8 = b'L';
const WRITE: u8 = b'W';
/// Kind byte of a commit record with the value inline.
const INLINE_PUT: u8 = b'V';

/// A record in the MVCC keyspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MvccKey {
    /// The value a transaction started at `start_ts` wrote for `key`.
    Data { key: Vec<u8>, start_ts: Timestamp },
    /// The lock a transaction holds on `key` between prewrite and commit.
    Lock { key: Vec<u8> },
    /// The commit (or rollback) record of `key` at `commit_ts`.
    Write { key: Vec<u8>, commit_ts: Timestamp },
}

impl MvccKey {
    /// The user key the record belongs to.
    pub fn user_key(&self) -> &[u8] {
        match self {
            MvccKey::Data { key, .. } | MvccKey::Lock { key } | MvccKey::Write { key, .. } => key,
        }
    }

    /// The record's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = key_records(self.user_key()).0;
        match self {
            MvccKey::Data { start_ts, .. } => {
                buf.push(DATA);
                buf.extend_from_slice(&inverted(*start_ts));
            }
            MvccKey::Lock { .. } => buf.push(LOCK),
            MvccKey::Write { commit_ts, .. } => {
                buf.push(WRITE);
                buf.extend_from_slice(&inverted(*commit_ts));
            }
        }
        buf
    }

    /// Parses [`MvccKey::encode`]'s output; anything else is `Err(Corrupt)`.
    pub fn decode(bytes: &[u8]) -> Result<MvccKey> {
        let mut reader = Reader::new(bytes, "mvcc key");
        let tag = reader.u8()?;
        if tag != MVCC_TAG {
            return Err(reader.corrupt(format!("not an MVCC key (tag {tag:#04x})")));
        }
        let key = unescape(&mut reader)?;
        let record = match reader.u8()? {
            DATA => MvccKey::Data {
                key,
                start_ts: read_inverted(&mut reader)?,
            },
            LOCK => MvccKey::Lock { key },
            WRITE => MvccKey::Write {
                key,
                commit_ts: read_inverted(&mut reader)?,
            },
            tag => return Err(reader.corrupt(format!("unknown MVCC record tag {tag:#04x}"))),
        };
        reader.finish()?;
        Ok(record)
    }
}

/// `[start, end)` holding every record of `key` and nothing else.
pub fn key_records(key: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut start = Vec::with_capacity(key.len() + 4);
    start.push(MVCC_TAG);
    for &byte in key {
        start.push(byte);
        if byte == 0 {
            start.push(ESCAPE);
        }
    }
    start.extend_from_slice(&[0, TERMINATOR]);
    let mut end = start.clone();
    *end.last_mut().expect("terminator pushed above") += 1;
    (start, end)
}

/// The length of the part of `raw` that every record of one user key
/// shares — `key_records(key).0`, `'v' escape(key) 00 01` — or `None` when
/// `raw` does not start with one (not an MVCC record). RocksDB builds its
/// prefix bloom filters on it, so a read of one key's records skips the
/// files and memtables that hold none (`storage::RocksDb`).
pub fn records_prefix_len(raw: &[u8]) -> Option<usize> {
    if raw.first() != Some(&MVCC_TAG) {
        return None;
    }
    let mut at = 1;
    loop {
        // Every 00 of the user key is escaped as 00 FF; 00 01 ends it.
        at += raw.get(at..)?.iter().position(|&b| b == 0)?;
        match *raw.get(at + 1)? {
            TERMINATOR => return Some(at + 2),
            ESCAPE => at += 2,
            _ => return None,
        }
    }
}

/// The raw key of `key`'s lock record, given `key_records(key).0`.
pub(crate) fn lock_record(records_start: &[u8]) -> Vec<u8> {
    let mut raw = Vec::with_capacity(records_start.len() + 1);
    raw.extend_from_slice(records_start);
    raw.push(LOCK);
    raw
}

/// The commit timestamp of a raw commit record of the key whose records
/// start at `records_start` (`key_records(key).0`), read from its suffix
/// alone: a read that knows its key need not unescape it back (that
/// allocation was a tenth of a point read).
pub(crate) fn commit_ts_of(records_start: &[u8], raw: &[u8]) -> Result<Timestamp> {
    match raw.strip_prefix(records_start) {
        Some([WRITE, inverted @ ..]) if inverted.len() == Timestamp::ENCODED_LEN => {
            let mut bytes = [0u8; Timestamp::ENCODED_LEN];
            for (byte, stored) in bytes.iter_mut().zip(inverted) {
                *byte = !stored;
            }
            Timestamp::decode(&bytes)
        }
        _ => Err(crate::error::Error::Corrupt(format!(
            "{} is not a commit record of the key at {}",
            raw.escape_ascii(),
            records_start.escape_ascii()
        ))),
    }
}

/// `[start, end)` of the commit records of `key` with commit_ts ≤ `newest`,
/// newest first.
/// Takes `key_records(key).0`, which its callers have already.
pub(crate) fn writes_from(records_start: &[u8], newest: Timestamp) -> (Vec<u8>, Vec<u8>) {
    let mut start = Vec::with_capacity(records_start.len() + 1 + Timestamp::ENCODED_LEN);
    start.extend_from_slice(records_start);
    start.push(WRITE);
    start.extend_from_slice(&inverted(newest));
    let mut end = records_start.to_vec();
    end.push(WRITE + 1);
    (start, end)
}

/// The raw range of the commit records of a key (its records prefix is
/// `records_start`) committed in `[oldest, newest]`: [`writes_from`]`(newest)`
/// cut just after `oldest`'s record, the older ones sorting after it.
pub(crate) fn writes_between(records_start: &[u8], newest: Timestamp, oldest: Timestamp) -> (Vec<u8>, Vec<u8>) {
    let start = writes_from(records_start, newest).0;
    let mut end = writes_from(records_start, oldest).0;
    end.push(0);
    (start, end)
}

/// The raw range holding the records of every user key in `[start, end)`;
/// an empty `end` is unbounded.
pub fn user_range(start: &[u8], end: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let raw_end = if end.is_empty() {
        vec![MVCC_TAG + 1]
    } else {
        key_records(end).0
    };
    (key_records(start).0, raw_end)
}

/// What a raw record is, read without allocating (see [`peek_record`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// A `Data` record at this start timestamp.
    Data(Timestamp),
    /// The lock of the key.
    Lock,
    /// A commit record at this commit timestamp.
    Write(Timestamp),
}

/// Splits a raw record into the bytes that name its user key (the `'v'`
/// tag, the escaped key and its `00 01` terminator — equal for all records
/// of one key, different for any two keys) and its kind, without copying.
/// Scans use it to walk records at a few comparisons per record.
///
/// The terminator `00 01` occurs once in a record (inside the escaped key a
/// `00` is always followed by `FF`), so a record whose bytes 15 and 14
/// from the end are `00 01` followed by `D`/`W` is versioned, and one
/// ending in `00 01 'L'` is a lock.
pub fn peek_record(raw: &[u8]) -> Result<(&[u8], RecordKind)> {
    let n = raw.len();
    let ts_len = Timestamp::ENCODED_LEN;
    if raw.first() == Some(&MVCC_TAG) && n >= ts_len + 4 && raw[n - ts_len - 3..n - ts_len - 1] == [0, TERMINATOR] {
        let ts = read_inverted(&mut Reader::new(&raw[n - ts_len..], "mvcc key"))?;
        match raw[n - ts_len - 1] {
            DATA => return Ok((&raw[..n - ts_len - 1], RecordKind::Data(ts))),
            WRITE => return Ok((&raw[..n - ts_len - 1], RecordKind::Write(ts))),
            _ => {}
        }
    }
    if raw.first() == Some(&MVCC_TAG) && n >= 4 && raw[n - 3..] == [0, TERMINATOR, LOCK] {
        return Ok((&raw[..n - 1], RecordKind::Lock));
    }
    Err(crate::error::Error::Corrupt(format!("not an MVCC record: {}", raw.escape_ascii())))
}

/// Appends the user key named by a [`peek_record`] prefix to `out`.
pub fn unescape_prefix(prefix: &[u8], out: &mut Vec<u8>) {
    let escaped = &prefix[1..prefix.len() - 2];
    let mut bytes = escaped.iter();
    while let Some(&byte) = bytes.next() {
        out.push(byte);
        if byte == 0 {
            bytes.next(); // the FF escape
        }
    }
}

fn inverted(ts: Timestamp) -> [u8; Timestamp::ENCODED_LEN] {
    ts.encode().map(|byte| !byte)
}

fn read_inverted(reader: &mut Reader) -> Result<Timestamp> {
    let raw = reader.take(Timestamp::ENCODED_LEN)?;
    let mut bytes = [0u8; Timestamp::ENCODED_LEN];
    bytes.iter_mut().zip(raw).for_each(|(out, byte)| *out = !byte);
    Timestamp::decode(&bytes)
}

fn unescape(reader: &mut Reader) -> Result<Vec<u8>> {
    let mut key = Vec::new();
    loop {
        match reader.u8()? {
            0 => match reader.u8()? {
                ESCAPE => key.push(0),
                TERMINATOR => return Ok(key),
                other => return Err(reader.corrupt(format!("bad escape 00 {other:#04x}"))),
            },
            byte => key.push(byte),
        }
    }
}

/// What a committed version (or rollback marker) says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// The key holds the value in `Data { start_ts }`.
    Put,
    /// The key was deleted (a tombstone).
    Delete,
    /// The key was deleted because its row moved to another table (an
    /// UPDATE of a partitioned table's partition key): a tombstone to
    /// every read, which tells a writer meeting it that the row lives on
    /// elsewhere (Postgres then fails the writer with a serialization
    /// failure rather than skip the row as deleted).
    Moved,
    /// The transaction started at `start_ts` was rolled back on this key;
    /// stored at `commit_ts == start_ts` so a late prewrite finds it.
    Rollback,
}

/// The value of a [`MvccKey::Write`] record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Write {
    pub kind: WriteKind,
    /// The start timestamp of the transaction that wrote it.
    pub start_ts: Timestamp,
}

impl Write {
    /// `kind` (one byte: P, D, M, R) then `start_ts`.
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = vec![match self.kind {
            WriteKind::Put => b'P',
            WriteKind::Delete => b'D',
            WriteKind::Moved => b'M',
            WriteKind::Rollback => b'R',
        }];
        buf.extend_from_slice(&self.start_ts.encode());
        buf
    }

    /// The commit record of a Put that carries its value inline: `V`,
    /// `start_ts`, then the value. One-phase commits write these, so a
    /// read finds the value in the commit record itself and a scan needs no
    /// second lookup per row (TiKV keeps short values in its write column
    /// family the same way). 2PC's commit records stay value-less and point
    /// at the `Data` record prewrite left.
    pub fn encode_inline_put(start_ts: Timestamp, value: &[u8]) -> Vec<u8> {
        let mut buf = Vec::with_capacity(1 + Timestamp::ENCODED_LEN + value.len());
        buf.push(INLINE_PUT);
        buf.extend_from_slice(&start_ts.encode());
        buf.extend_from_slice(value);
        buf
    }

    /// Parses [`Write::encode`]'s output; anything else is `Err(Corrupt)`.
    pub fn decode(bytes: &[u8]) -> Result<Write> {
        Write::decode_record(bytes).map(|(write, _)| write)
    }

    /// Parses either encoding, returning the inline value of an inline Put.
    pub fn decode_record(bytes: &[u8]) -> Result<(Write, Option<&[u8]>)> {
        let mut reader = Reader::new(bytes, "write record");
        let kind = match reader.u8()? {
            b'P' | INLINE_PUT => WriteKind::Put,
            b'D' => WriteKind::Delete,
            b'M' => WriteKind::Moved,
            b'R' => WriteKind::Rollback,
            tag => return Err(reader.corrupt(format!("unknown write kind {tag:#04x}"))),
        };
        let start_ts = Timestamp::read(&mut reader)?;
        let write = Write { kind, start_ts };
        if bytes[0] == INLINE_PUT {
            return Ok((write, Some(&bytes[1 + Timestamp::ENCODED_LEN..])));
        }
        reader.finish()?;
        Ok((write, None))
    }
}

/// The value of a [`MvccKey::Lock`] record: a prewritten, uncommitted write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    /// `Put` (the value is in `Data { start_ts }`), `Delete` or `Moved`;
    /// never `Rollback`.
    pub kind: WriteKind,
    /// The start timestamp of the transaction holding the lock.
    pub start_ts: Timestamp,
    /// The transaction's primary key, whose commit record decides its fate.
    pub primary: Vec<u8>,
    /// Microseconds of wall time after `start_ts.wall` during which the
    /// lock counts as alive; afterwards a resolver may roll it back.
    pub ttl: u64,
}

impl Lock {
    /// Whether the lock's TTL has run out at `now`.
    pub fn expired(&self, now: Timestamp) -> bool {
        now.wall >= self.start_ts.wall.saturating_add(self.ttl)
    }

    /// `kind` byte, `start_ts`, ttl varint, primary length varint, primary.
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = Write {
            kind: self.kind,
            start_ts: self.start_ts,
        }
        .encode();
        put_varint(&mut buf, self.ttl);
        put_varint(&mut buf, self.primary.len() as u64);
        buf.extend_from_slice(&self.primary);
        buf
    }

    /// Parses [`Lock::encode`]'s output; anything else is `Err(Corrupt)`.
    pub fn decode(bytes: &[u8]) -> Result<Lock> {
        let mut reader = Reader::new(bytes, "lock");
        let head_bytes = reader.take(1 + Timestamp::ENCODED_LEN)?;
        let head = Write::decode(head_bytes)?;
        if head.kind == WriteKind::Rollback || head_bytes[0] == INLINE_PUT {
            return Err(reader.corrupt("a lock is a plain put or delete"));
        }
        let ttl = reader.varint()?;
        let len = reader.varint()?;
        let len = usize::try_from(len).map_err(|_| reader.corrupt("primary length"))?;
        let primary = reader.take(len)?.to_vec();
        reader.finish()?;
        Ok(Lock {
            kind: head.kind,
            start_ts: head.start_ts,
            primary,
            ttl,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use proptest::prelude::*;

    fn any_ts() -> impl Strategy<Value = Timestamp> {
        any::<(u64, u32)>().prop_map(|(wall, logical)| Timestamp { wall, logical })
    }

    /// Short keys over a tiny alphabet, so that prefixes and 0 bytes are common.
    fn any_user_key() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(prop::sample::select(vec![0u8, 1, 0xff, b'a']), 0..5)
    }

    fn any_record() -> impl Strategy<Value = MvccKey> {
        prop_oneof![
            (any_user_key(), any_ts()).prop_map(|(key, start_ts)| MvccKey::Data { key, start_ts }),
            any_user_key().prop_map(|key| MvccKey::Lock { key }),
            (any_user_key(), any_ts())
                .prop_map(|(key, commit_ts)| MvccKey::Write { key, commit_ts }),
        ]
    }

    fn in_range(bytes: &[u8], (start, end): &(Vec<u8>, Vec<u8>)) -> bool {
        bytes >= &start[..] && bytes < &end[..]
    }

    proptest! {
        /// Every record's prefix is its key's `key_records` start, which is
        /// its own prefix; other keyspaces' keys have none.
        #[test]
        fn a_record_s_prefix_is_its_key_s_records_start(record in any_record()) {
            let raw = record.encode();
            let start = key_records(record.user_key()).0;
            prop_assert_eq!(records_prefix_len(&raw), Some(start.len()));
            prop_assert_eq!(records_prefix_len(&start), Some(start.len()));
            prop_assert_eq!(records_prefix_len(&raw[..start.len() - 1]), None);
            let mut raw_keyspace = raw.clone();
            raw_keyspace[0] = b'm';
            prop_assert_eq!(records_prefix_len(&raw_keyspace), None);
        }
    }

    #[test]
    fn layout_is_as_documented() {
        let write = MvccKey::Write {
            key: b"a\0".to_vec(),
            commit_ts: Timestamp::from_wall(1),
        };
        let mut expected = b"va\0\xff\0\x01W".to_vec();
        expected.extend_from_slice(&[!0, !0, !0, !0, !0, !0, !0, !1, !0, !0, !0, !0]);
        assert_eq!(write.encode(), expected);
        assert_eq!(MvccKey::Lock { key: b"a".to_vec() }.encode(), b"va\0\x01L");
        assert_eq!(user_range(b"a", b""), (b"va\0\x01".to_vec(), b"w".to_vec()));
    }

    #[test]
    fn the_mvcc_keyspace_is_apart_from_the_raw_ones() {
        use crate::keys::{Key, KeyPrefix, RowId};
        let record = MvccKey::Lock {
            key: Key::Row {
                table: 1,
                row: RowId(2),
            }
            .encode(),
        }
        .encode();
        assert!(Key::decode(&record).is_err());
        for prefix in [KeyPrefix::Meta, KeyPrefix::Table { table: 1 }] {
            let (start, end) = prefix.range();
            assert!(!(record >= start && record < end), "{prefix:?}");
            assert!(!in_range(&start, &user_range(b"", b"")), "{prefix:?}");
        }
    }

    #[test]
    fn records_decode_strictly() {
        let lock = Lock {
            kind: WriteKind::Delete,
            start_ts: Timestamp {
                wall: 5,
                logical: 1,
            },
            primary: b"p\0".to_vec(),
            ttl: 3000,
        };
        assert_eq!(Lock::decode(&lock.encode()).ok(), Some(lock.clone()));
        let mut long = lock.encode();
        long.push(0);
        assert!(matches!(Lock::decode(&long), Err(Error::Corrupt(_))));
        let rollback = Write {
            kind: WriteKind::Rollback,
            start_ts: Timestamp::from_wall(5),
        };
        assert!(Lock::decode(
            &Lock {
                kind: WriteKind::Put,
                ..lock
            }
            .encode()
        )
        .is_ok());
        assert!(matches!(
            Lock::decode(&rollback.encode()),
            Err(Error::Corrupt(_))
        ));
        assert_eq!(Write::decode(&rollback.encode()).ok(), Some(rollback));
        assert!(MvccKey::decode(b"va\0\x02L").is_err());
        assert!(MvccKey::decode(b"ma\0\x01L").is_err());
    }

    /// Zero bytes (escaped) anywhere, in runs, first and last: what row
    /// keys' big-endian integers are full of.
    #[test]
    fn prefixes_unescape_to_their_keys() {
        let keys: [&[u8]; 7] = [b"", b"\0", b"\0\0", b"a\0\0b", b"\0\0\0\0\0\0\0\x07", b"\x07\0", b"\xff\0\xff"];
        for key in keys {
            let mut out = b"kept".to_vec();
            unescape_prefix(&key_records(key).0, &mut out);
            assert_eq!(&out[4..], key, "{}", key.escape_ascii());
            assert_eq!(&out[..4], b"kept", "appends");
        }
    }

    proptest! {
        #[test]
        fn records_round_trip(record in any_record()) {
            prop_assert_eq!(MvccKey::decode(&record.encode())?, record);
        }

        #[test]
        fn peek_agrees_with_decode(record in any_record()) {
            let bytes = record.encode();
            let (prefix, kind) = peek_record(&bytes)?;
            prop_assert_eq!(prefix, &key_records(record.user_key()).0[..]);
            let mut user_key = Vec::new();
            unescape_prefix(prefix, &mut user_key);
            prop_assert_eq!(&user_key[..], record.user_key());
            let expected = match record {
                MvccKey::Data { start_ts, .. } => RecordKind::Data(start_ts),
                MvccKey::Lock { .. } => RecordKind::Lock,
                MvccKey::Write { commit_ts, .. } => RecordKind::Write(commit_ts),
            };
            prop_assert_eq!(kind, expected);
        }

        #[test]
        fn inline_puts_round_trip(ts in any_ts(), value in proptest::collection::vec(any::<u8>(), 0..40)) {
            let bytes = Write::encode_inline_put(ts, &value);
            let (write, inline) = Write::decode_record(&bytes)?;
            prop_assert_eq!(write, Write { kind: WriteKind::Put, start_ts: ts });
            prop_assert_eq!(inline, Some(&value[..]));
        }

        #[test]
        fn a_keys_records_stay_in_its_range(a in any_record(), b in any_user_key()) {
            let bytes = a.encode();
            prop_assert!(in_range(&bytes, &key_records(a.user_key())));
            prop_assert_eq!(in_range(&bytes, &key_records(&b)), a.user_key() == &b[..]);
        }

        #[test]
        fn raw_order_is_user_key_order(a in any_record(), b in any_record()) {
            if a.user_key() != b.user_key() {
                prop_assert_eq!(a.encode().cmp(&b.encode()), a.user_key().cmp(b.user_key()));
            }
        }

        #[test]
        fn newer_versions_sort_first(key in any_user_key(), x in any_ts(), y in any_ts()) {
            let write = |commit_ts| MvccKey::Write { key: key.clone(), commit_ts }.encode();
            prop_assert_eq!(write(x).cmp(&write(y)), y.cmp(&x));
            let data = |start_ts| MvccKey::Data { key: key.clone(), start_ts }.encode();
            prop_assert_eq!(data(x).cmp(&data(y)), y.cmp(&x));
        }

        #[test]
        fn user_ranges_hold_exactly_their_keys(r in any_record(), s in any_user_key(), e in any_user_key()) {
            let key = r.user_key();
            let inside = key >= &s[..] && (e.is_empty() || key < &e[..]);
            prop_assert_eq!(in_range(&r.encode(), &user_range(&s, &e)), inside);
            prop_assert!(in_range(&r.encode(), &user_range(b"", b"")));
        }

        #[test]
        fn garbage_never_panics(bytes: Vec<u8>) {
            if let Ok(record) = MvccKey::decode(&bytes) {
                prop_assert_eq!(record.encode(), bytes.clone());
            }
            if let Ok(lock) = Lock::decode(&bytes) {
                prop_assert_eq!(lock.encode(), bytes.clone());
            }
            if let Ok((write, inline)) = Write::decode_record(&bytes) {
                let encoded = match inline {
                    Some(value) => Write::encode_inline_put(write.start_ts, value),
                    None => write.encode(),
                };
                prop_assert_eq!(encoded, bytes);
            }
        }
    }
}
