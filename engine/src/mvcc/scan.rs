//! The snapshot scan: every user key of a range visible at `read_ts`, in
//! one forward pass over the raw records.
//!
//! Records of one key are contiguous and ordered data, lock, then commit
//! records newest first (see [`super::keys`]), so a single pass decides each
//! key with a few comparisons per record:
//!
//! ```text
//!   records of key k                       what the scan does
//!   D !start …                             skip (a 2PC value, fetched when needed)
//!   L                                      start ≤ read_ts → KeyLocked, else skip
//!   W !commit_ts > read_ts                 skip (too new)
//!   W !commit_ts ≤ read_ts  (first such)   Put → emit value; Delete → hide k;
//!                                          Rollback → keep looking
//!   W older (the first such)               seek past k's records
//! ```
//!
//! Seeking at the first superseded version, on the same iterator
//! ([`Engine::walk`]), is what keeps a hot row cheap to scan: the versions
//! that garbage collection removed stay in RocksDB's memtable until it is
//! flushed, and an iterator stepping forward skips them one by one (a row
//! updated a hundred times a second has tens of thousands). A row with
//! one version costs no seek: its next record is the next row's.
//!
//! The visitor gets the unescaped user key and the value; it allocates
//! nothing per record. A Put committed by 2PC keeps its value in a `Data`
//! record: the pass stops there, reads it, and resumes after the key.

use super::keys::{key_records, peek_record, unescape_prefix, user_range, Lock, RecordKind, Write, WriteKind};
use super::LockInfo;
use crate::error::{Error, TxnError, TxnResult};
use crate::hlc::Timestamp;
use crate::storage::{Engine, Step};

/// How a scan ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanEnd {
    /// A limit stopped it; the range may hold more keys after the last one
    /// visited.
    pub more: bool,
}

/// What the raw pass stopped for, besides the end of the range.
enum Stop {
    /// The caller's row or byte limit.
    Limit,
    /// A 2PC Put whose value lives in its data record.
    NeedsData { key: Vec<u8>, start_ts: Timestamp },
    Failed(TxnError),
}

/// Visits every user key in `[start, end)` (`end` empty: unbounded) visible
/// at `read_ts`, with its value, in key order, until `visit` took
/// `max_rows` of them (it answers whether it takes each: a filter may
/// skip some) or `max_bytes` of keys and values were visited. Fails with `KeyLocked` at a
/// lock of a transaction started at or before `read_ts`.
pub fn scan_visible<E: Engine>(
    engine: &E,
    start: &[u8],
    end: &[u8],
    read_ts: Timestamp,
    max_rows: usize,
    max_bytes: usize,
    visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
) -> TxnResult<ScanEnd> {
    if max_rows == 0 {
        return Err(Error::InvalidInput("scan max_rows must be at least 1".into()).into());
    }
    let (mut from, raw_end) = user_range(start, end);
    let (mut rows, mut bytes) = (0usize, 0usize);
    let mut user_key = Vec::new();
    loop {
        // The key being decided, by its record prefix, and whether it is.
        let mut current: Vec<u8> = Vec::new();
        let mut decided = false;
        let mut stop = None;
        engine.walk(&from, &raw_end, &mut |raw, value| {
            let (prefix, kind) = match peek_record(raw) {
                Ok(parts) => parts,
                Err(e) => {
                    stop = Some(Stop::Failed(e.into()));
                    return Step::Stop;
                }
            };
            if prefix != current.as_slice() {
                if decided && (rows >= max_rows || bytes >= max_bytes) {
                    stop = Some(Stop::Limit);
                    return Step::Stop;
                }
                current.clear();
                current.extend_from_slice(prefix);
                decided = false;
            }
            if decided {
                // A superseded version: skip the key's others with a seek.
                return Step::Seek(seek_past(prefix));
            }
            match kind {
                RecordKind::Data(_) => Step::Next,
                RecordKind::Lock => match Lock::decode(value) {
                    Ok(lock) if lock.start_ts <= read_ts => {
                        user_key.clear();
                        unescape_prefix(prefix, &mut user_key);
                        stop = Some(Stop::Failed(TxnError::KeyLocked(LockInfo::new(&user_key, &lock))));
                        Step::Stop
                    }
                    Ok(_) => Step::Next,
                    Err(e) => {
                        stop = Some(Stop::Failed(e.into()));
                        Step::Stop
                    }
                },
                RecordKind::Write(commit_ts) if commit_ts > read_ts => Step::Next,
                RecordKind::Write(_) => {
                    let (write, inline) = match Write::decode_record(value) {
                        Ok(parts) => parts,
                        Err(e) => {
                            stop = Some(Stop::Failed(e.into()));
                            return Step::Stop;
                        }
                    };
                    match (write.kind, inline) {
                        (WriteKind::Rollback, _) => return Step::Next,
                        (WriteKind::Delete | WriteKind::Moved, _) => decided = true,
                        (WriteKind::Put, Some(value)) => {
                            decided = true;
                            user_key.clear();
                            unescape_prefix(prefix, &mut user_key);
                            bytes += user_key.len() + value.len();
                            rows += visit(&user_key, value) as usize;
                        }
                        (WriteKind::Put, None) => {
                            let mut key = Vec::new();
                            unescape_prefix(prefix, &mut key);
                            stop = Some(Stop::NeedsData { key, start_ts: write.start_ts });
                            return Step::Stop;
                        }
                    }
                    Step::Next
                }
            }
        })?;
        match stop {
            None => return Ok(ScanEnd { more: false }),
            Some(Stop::Limit) => return Ok(ScanEnd { more: true }),
            Some(Stop::Failed(e)) => return Err(e),
            Some(Stop::NeedsData { key, start_ts }) => {
                let value = super::MvccReader::new(engine).load_data(&key, start_ts)?;
                bytes += key.len() + value.len();
                rows += visit(&key, &value) as usize;
                from = key_records(&key).1;
            }
        }
        if rows >= max_rows || bytes >= max_bytes {
            return Ok(ScanEnd { more: true });
        }
    }
}

/// [`scan_visible`] in descending key order: every user key in
/// `[start, end)` visible at `read_ts`, from the last one down, with the
/// same limits and the same `KeyLocked` rule.
///
/// Walking backwards meets a key's commit records oldest first, so instead
/// of deciding keys in one pass this steps one user key at a time: a
/// reverse seek finds the last key with records below the cursor, a point
/// read decides it, and the cursor moves to the start of its records. Two
/// seeks per key — what `ORDER BY … DESC` pays, and why forward scans keep
/// their single pass.
pub fn scan_visible_reverse<E: Engine>(
    engine: &E,
    start: &[u8],
    end: &[u8],
    read_ts: Timestamp,
    max_rows: usize,
    max_bytes: usize,
    visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
) -> TxnResult<ScanEnd> {
    if max_rows == 0 {
        return Err(Error::InvalidInput("scan max_rows must be at least 1".into()).into());
    }
    let (raw_start, mut cursor) = user_range(start, end);
    let reader = super::MvccReader::new(engine);
    let (mut rows, mut bytes) = (0usize, 0usize);
    let mut key = Vec::new();
    loop {
        let mut last = None;
        engine.scan_visit_reverse(&raw_start, &cursor, 1, usize::MAX, &mut |raw, _| {
            last = Some(peek_record(raw).map(|(prefix, _)| prefix.to_vec()));
            false
        })?;
        let Some(prefix) = last.transpose()? else {
            return Ok(ScanEnd { more: false });
        };
        key.clear();
        unescape_prefix(&prefix, &mut key);
        if let Some(value) = reader.get(&key, read_ts)? {
            bytes += key.len() + value.len();
            rows += visit(&key, &value) as usize;
        }
        // Every record of the key sorts after its bare prefix.
        cursor = prefix;
        if rows >= max_rows || bytes >= max_bytes {
            return Ok(ScanEnd { more: true });
        }
    }
}

/// The first raw key after every record named by `prefix`.
fn seek_past(prefix: &[u8]) -> Vec<u8> {
    let mut next = prefix.to_vec();
    *next.last_mut().expect("a prefix ends with its terminator") += 1;
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mvcc::{Mutation, Mvcc};
    use crate::storage::Memory;
    use std::sync::Arc;

    fn ts(wall: u64) -> Timestamp {
        Timestamp::from_wall(wall)
    }

    fn collect(mvcc: &Mvcc<Memory>, read_ts: u64, max_rows: usize) -> (Vec<(Vec<u8>, Vec<u8>)>, bool) {
        let mut out = Vec::new();
        let end = scan_visible(&**mvcc.engine(), b"", b"", ts(read_ts), max_rows, usize::MAX, &mut |k, v| {
            out.push((k.to_vec(), v.to_vec()));
            true
        })
        .unwrap();
        (out, end.more)
    }

    fn put(k: &[u8], v: &[u8]) -> Mutation {
        Mutation::Put(k.to_vec(), v.to_vec())
    }

    #[test]
    fn sees_the_newest_version_at_or_below_read_ts() {
        let mvcc = Mvcc::new(Arc::new(Memory::new()));
        mvcc.one_phase_commit(&[put(b"a", b"1"), put(b"b\0x", b"1")], ts(1), ts(2)).unwrap();
        mvcc.one_phase_commit(&[put(b"a", b"2"), Mutation::Delete(b"b\0x".to_vec())], ts(3), ts(4)).unwrap();
        mvcc.one_phase_commit(&[put(b"c", b"3")], ts(5), ts(6)).unwrap();
        let kv = |k: &[u8], v: &[u8]| (k.to_vec(), v.to_vec());
        assert_eq!(collect(&mvcc, 1, 10).0, vec![]);
        assert_eq!(collect(&mvcc, 2, 10).0, vec![kv(b"a", b"1"), kv(b"b\0x", b"1")]);
        assert_eq!(collect(&mvcc, 5, 10).0, vec![kv(b"a", b"2")]);
        assert_eq!(collect(&mvcc, 9, 10).0, vec![kv(b"a", b"2"), kv(b"c", b"3")]);
        assert_eq!(collect(&mvcc, 9, 1), (vec![kv(b"a", b"2")], true));
    }

    #[test]
    fn many_versions_and_2pc_values_agree_with_point_reads() {
        let mvcc = Mvcc::new(Arc::new(Memory::new()));
        for i in 0..40u64 {
            let key = [b'k', (i % 3) as u8];
            mvcc.one_phase_commit(&[put(&key, &i.to_be_bytes())], ts(10 * i + 1), ts(10 * i + 2)).unwrap();
        }
        let txn = crate::mvcc::Transaction::begin(ts(1000));
        let mut txn = txn;
        txn.put(b"k\x01", b"2pc");
        txn.commit(&mvcc, ts(1001)).unwrap();
        for read_ts in [0, 5, 77, 200, 399, 1000, 1001, 2000] {
            let (scanned, _) = collect(&mvcc, read_ts, 100);
            let expected: Vec<_> = (0u8..3)
                .filter_map(|k| {
                    let key = vec![b'k', k];
                    mvcc.get(&key, ts(read_ts)).unwrap().map(|v| (key, v))
                })
                .collect();
            assert_eq!(scanned, expected, "read_ts {read_ts}");
        }
    }

    #[test]
    fn reverse_scans_mirror_forward_scans() {
        let mvcc = Mvcc::new(Arc::new(Memory::new()));
        for i in 0..30u64 {
            let key = [b'k', (i % 7) as u8, 0];
            let m = if i % 5 == 4 { Mutation::Delete(key.to_vec()) } else { put(&key, &i.to_be_bytes()) };
            mvcc.one_phase_commit(&[m], ts(10 * i + 1), ts(10 * i + 2)).unwrap();
        }
        let mut txn = crate::mvcc::Transaction::begin(ts(1000));
        txn.put(b"k\x03\0", b"2pc");
        txn.commit(&mvcc, ts(1001)).unwrap();
        let ranges: [(&[u8], &[u8]); 4] = [(b"", b""), (b"k\x02", b"k\x05"), (b"k\x02\0", b""), (b"a", b"b")];
        for read_ts in [0, 5, 77, 200, 1001, 2000] {
            for (start, end) in ranges {
                let mut forward = Vec::new();
                scan_visible(&**mvcc.engine(), start, end, ts(read_ts), 100, usize::MAX, &mut |k, v| {
                    forward.push((k.to_vec(), v.to_vec()));
                    true
                })
                .unwrap();
                let mut backward = Vec::new();
                let end_state = scan_visible_reverse(&**mvcc.engine(), start, end, ts(read_ts), 100, usize::MAX, &mut |k, v| {
                    backward.push((k.to_vec(), v.to_vec()));
                    true
                })
                .unwrap();
                assert!(!end_state.more);
                backward.reverse();
                assert_eq!(backward, forward, "read_ts {read_ts}, range {start:?}..{end:?}");
            }
            let mut two = Vec::new();
            let end_state = scan_visible_reverse(&**mvcc.engine(), b"", b"", ts(2000), 2, usize::MAX, &mut |k, _| {
                two.push(k.to_vec());
                true
            })
            .unwrap();
            assert!(end_state.more);
            assert_eq!(two, vec![b"k\x06\0".to_vec(), b"k\x05\0".to_vec()]);
        }
    }

    #[test]
    fn a_lock_at_or_below_read_ts_stops_the_scan() {
        let mvcc = Mvcc::new(Arc::new(Memory::new()));
        let mut txn = crate::mvcc::Transaction::begin(ts(10));
        txn.put(b"x", b"1");
        txn.prewrite(&mvcc).unwrap();
        let result = scan_visible(&**mvcc.engine(), b"", b"", ts(10), 10, usize::MAX, &mut |_, _| true);
        assert!(matches!(result, Err(TxnError::KeyLocked(_))));
        assert_eq!(collect(&mvcc, 9, 10).0, vec![]);
    }
}
