//! [`LogStore`]: one replica's Raft log, hard state and apply state in the
//! node's engine, as raft-rs's [`Storage`].
//!
//! ```text
//!   01 'r' range 'h'          HardState (term, vote, commit)      rust-protobuf
//!   01 'r' range 'a'          ApplyState (below)                   prost
//!   01 'r' range 'l' index    Entry                                rust-protobuf
//!   01 'r' range 't'          tombstone (removed from the range)
//! ```
//!
//! The apply state says how far the replica has applied its log, where the
//! log starts (entries up to `truncated_index` were applied and deleted; the
//! term of that last deleted entry is kept, as Raft's log matching needs
//! it), the configuration applied, and the span of keys the range holds. It
//! is written in the same batch as the data an apply writes, so after a
//! crash the data and the applied index agree, and the entries after it are
//! applied again.
//!
//! Reads (`entries`, `term`) go to the engine; the hard state, apply state
//! and last index are cached. Writes are *added to a batch* the caller
//! writes (one batch for every replica of a ready round, DESIGN §5), and
//! the cache follows at once: nothing reads the store between the batch
//! being built and written, and a failed write stops the node.
//!
//! A new range starts with its log at [`INIT_INDEX`] (applied, term
//! [`INIT_TERM`]) on each of its first members; a replica created by a
//! message starts empty, at 0, so the leader must send it a snapshot,
//! which is how it learns its range's span and configuration.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use lyra_engine::keys::{Key, KeyPrefix, RangeId};
use lyra_engine::storage::{Engine, WriteBatch, WriteOp};
use protobuf::Message as _;
use raft::eraftpb::{ConfState, Entry, HardState, Snapshot};
use raft::{GetEntriesContext, RaftState, Storage, StorageError};

/// The index (and term) of the log a range's first members start with:
/// above 0, so a replica created empty by a message is behind it and gets
/// a snapshot (as TiKV does).
pub const INIT_INDEX: u64 = 5;
pub const INIT_TERM: u64 = 5;

/// How far a replica has applied, where its log starts, and what it holds.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ApplyState {
    #[prost(uint64, tag = "1")]
    pub applied: u64,
    #[prost(uint64, tag = "2")]
    pub truncated_index: u64,
    #[prost(uint64, tag = "3")]
    pub truncated_term: u64,
    /// The applied `ConfState`, rust-protobuf encoded.
    #[prost(bytes = "vec", tag = "4")]
    pub conf_state: Vec<u8>,
    /// The range's span of keys, `[start, end)`.
    #[prost(bytes = "vec", tag = "5")]
    pub start: Vec<u8>,
    #[prost(bytes = "vec", tag = "6")]
    pub end: Vec<u8>,
}

/// A snapshot's data: the range's span and every pair in it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SnapshotData {
    #[prost(bytes = "vec", tag = "1")]
    pub start: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub end: Vec<u8>,
    #[prost(bytes = "vec", repeated, tag = "3")]
    pub keys: Vec<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "4")]
    pub values: Vec<Vec<u8>>,
}

/// One replica's log and state; see the module docs.
pub struct LogStore {
    range: RangeId,
    engine: Arc<dyn Engine>,
    hard_state: HardState,
    apply: ApplyState,
    conf_state: ConfState,
    last_index: u64,
    /// The terms of the log's last entries (at most [`TERMS_KEPT`]), so
    /// that `term()` of an index near the end — which raft-rs asks on
    /// every heartbeat round, append and commit — reads no entry: an entry
    /// holding a large transaction (a bulk load's, hundreds of MB) would
    /// be read whole for its term each time.
    terms: BTreeMap<u64, u64>,
}

/// How many of the last entries' terms a replica keeps in memory.
const TERMS_KEPT: usize = 1024;

fn storage_error(e: impl std::fmt::Display) -> raft::Error {
    raft::Error::Store(StorageError::Other(e.to_string().into()))
}

fn decode_entry(bytes: &[u8]) -> raft::Result<Entry> {
    Entry::parse_from_bytes(bytes).map_err(raft::Error::CodecError)
}

impl LogStore {
    /// Loads the replica of `range` this node keeps; a range it has
    /// nothing of loads empty (uninitialized: log at 0, no configuration).
    pub fn open(range: RangeId, engine: Arc<dyn Engine>) -> raft::Result<LogStore> {
        let hard_state = match engine.get(&Key::RaftHardState { range }.encode()).map_err(storage_error)? {
            Some(bytes) => HardState::parse_from_bytes(&bytes)?,
            None => HardState::default(),
        };
        let apply = match engine.get(&Key::RaftApplyState { range }.encode()).map_err(storage_error)? {
            Some(bytes) => prost::Message::decode(&bytes[..]).map_err(storage_error)?,
            None => ApplyState::default(),
        };
        let conf_state = ConfState::parse_from_bytes(&apply.conf_state)?;
        let (start, end) = KeyPrefix::RaftLog { range }.range();
        let mut last_index = apply.truncated_index;
        let mut terms = BTreeMap::new();
        engine
            .scan_visit_reverse(&start, &end, 1, usize::MAX, &mut |_, value| {
                if let Ok(entry) = decode_entry(value) {
                    last_index = entry.index;
                    terms.insert(entry.index, entry.term);
                }
                false
            })
            .map_err(storage_error)?;
        Ok(LogStore { range, engine, hard_state, apply, conf_state, last_index, terms })
    }

    /// Writes the state a range's first members start with: log applied up
    /// to [`INIT_INDEX`], members `voters`, span `[start, end)`.
    pub fn bootstrap(range: RangeId, voters: &[u64], start: &[u8], end: &[u8], batch: &mut WriteBatch) {
        let conf_state = ConfState { voters: voters.to_vec(), ..Default::default() };
        let apply = ApplyState {
            applied: INIT_INDEX,
            truncated_index: INIT_INDEX,
            truncated_term: INIT_TERM,
            conf_state: conf_state.write_to_bytes().expect("encode ConfState"),
            start: start.to_vec(),
            end: end.to_vec(),
        };
        let hard_state = HardState { term: INIT_TERM, commit: INIT_INDEX, ..Default::default() };
        batch.put(Key::RaftHardState { range }.encode(), hard_state.write_to_bytes().expect("encode HardState"));
        batch.put(Key::RaftApplyState { range }.encode(), prost::Message::encode_to_vec(&apply));
    }

    pub fn range(&self) -> RangeId {
        self.range
    }

    pub fn applied(&self) -> u64 {
        self.apply.applied
    }

    pub fn truncated_index(&self) -> u64 {
        self.apply.truncated_index
    }

    /// The span of keys this replica holds (empty until it is initialized).
    pub fn span(&self) -> (&[u8], &[u8]) {
        (&self.apply.start, &self.apply.end)
    }

    /// Whether `key` of the range's data has a value once `pending` (the
    /// writes of entries applied before, not yet in the engine) is written.
    pub fn has_value(&self, key: &[u8], pending: &WriteBatch) -> raft::Result<bool> {
        for op in pending.ops().iter().rev() {
            match op {
                WriteOp::Put { key: k, .. } if k == key => return Ok(true),
                WriteOp::Delete { key: k } if k == key => return Ok(false),
                WriteOp::DeleteRange { start, end } if key >= &start[..] && key < &end[..] => return Ok(false),
                _ => {}
            }
        }
        Ok(self.engine.get(key).map_err(storage_error)?.is_some())
    }

    /// Shrinks the span to `[start, key)` (a split), recorded with the
    /// next applied index.
    pub fn narrow_to(&mut self, key: &[u8]) {
        self.apply.end = key.to_vec();
    }

    pub fn conf_state(&self) -> &ConfState {
        &self.conf_state
    }

    /// Whether the replica knows its range (its first members, or a
    /// snapshot, told it); an uninitialized one only waits for a snapshot.
    pub fn is_initialized(&self) -> bool {
        self.apply.truncated_index > 0 || !self.conf_state.voters.is_empty()
    }

    /// Adds new log entries to `batch`: entries from the first one's index
    /// on replace what the log had there (a leader's log overrides an
    /// uncommitted suffix).
    pub fn append(&mut self, entries: &[Entry], batch: &mut WriteBatch) {
        let Some(first) = entries.first() else { return };
        let range = self.range;
        if first.index <= self.last_index {
            batch.delete_range(
                Key::RaftLogEntry { range, index: first.index }.encode(),
                Key::RaftLogEntry { range, index: self.last_index + 1 }.encode(),
            );
        }
        self.terms.split_off(&first.index);
        for entry in entries {
            batch.put(Key::RaftLogEntry { range, index: entry.index }.encode(), entry.write_to_bytes().expect("encode Entry"));
            self.terms.insert(entry.index, entry.term);
        }
        while self.terms.len() > TERMS_KEPT {
            self.terms.pop_first();
        }
        self.last_index = entries.last().expect("not empty").index;
    }

    pub fn set_hard_state(&mut self, hard_state: &HardState, batch: &mut WriteBatch) {
        batch.put(Key::RaftHardState { range: self.range }.encode(), hard_state.write_to_bytes().expect("encode HardState"));
        self.hard_state = hard_state.clone();
    }

    /// Records that entries up to `index` are applied (and, if it changed,
    /// the configuration): in the batch that holds what they wrote.
    pub fn set_applied(&mut self, index: u64, conf_state: Option<ConfState>, batch: &mut WriteBatch) {
        self.apply.applied = index;
        if let Some(conf_state) = conf_state {
            self.apply.conf_state = conf_state.write_to_bytes().expect("encode ConfState");
            self.conf_state = conf_state;
        }
        self.write_apply_state(batch);
    }

    fn write_apply_state(&self, batch: &mut WriteBatch) {
        batch.put(Key::RaftApplyState { range: self.range }.encode(), prost::Message::encode_to_vec(&self.apply));
    }

    /// Deletes the log up to `index` (applied entries only), keeping its
    /// last term for log matching.
    pub fn truncate_to(&mut self, index: u64, batch: &mut WriteBatch) -> raft::Result<()> {
        if index <= self.apply.truncated_index {
            return Ok(());
        }
        assert!(index <= self.apply.applied, "truncating the log past the applied index");
        let term = self.term(index)?;
        let range = self.range;
        batch.delete_range(
            Key::RaftLogEntry { range, index: self.apply.truncated_index + 1 }.encode(),
            Key::RaftLogEntry { range, index: index + 1 }.encode(),
        );
        self.apply.truncated_index = index;
        self.apply.truncated_term = term;
        self.terms = self.terms.split_off(&(index + 1));
        self.write_apply_state(batch);
        Ok(())
    }

    /// Replaces the replica's data, log and state with a snapshot's.
    pub fn apply_snapshot(&mut self, snapshot: &Snapshot, batch: &mut WriteBatch) -> raft::Result<()> {
        let data: SnapshotData = prost::Message::decode(&snapshot.data[..]).map_err(storage_error)?;
        let meta = snapshot.get_metadata();
        let range = self.range;
        if !self.apply.end.is_empty() {
            batch.delete_range(self.apply.start.clone(), self.apply.end.clone());
        }
        if data.end.is_empty() {
            return Err(storage_error("a snapshot without its range's end"));
        }
        batch.delete_range(data.start.clone(), data.end.clone());
        let (log_start, log_end) = KeyPrefix::RaftLog { range }.range();
        batch.delete_range(log_start, log_end);
        for (key, value) in data.keys.into_iter().zip(data.values) {
            batch.put(key, value);
        }
        let conf_state = meta.get_conf_state().clone();
        self.apply = ApplyState {
            applied: meta.index,
            truncated_index: meta.index,
            truncated_term: meta.term,
            conf_state: conf_state.write_to_bytes().expect("encode ConfState"),
            start: data.start,
            end: data.end,
        };
        self.conf_state = conf_state;
        self.last_index = meta.index;
        self.terms.clear();
        self.write_apply_state(batch);
        Ok(())
    }

    /// Deletes everything the replica holds: data, log, state (it was
    /// removed from its range), leaving a tombstone.
    pub fn destroy(&mut self, batch: &mut WriteBatch) {
        if !self.apply.end.is_empty() {
            batch.delete_range(self.apply.start.clone(), self.apply.end.clone());
        }
        let (start, end) = KeyPrefix::RangeLocal { range: self.range }.range();
        batch.delete_range(start, end);
        // The tombstone keeps the term and vote: a replica created again
        // (the node added back) must not vote twice in a term.
        let hard_state = self.hard_state.write_to_bytes().expect("encode HardState");
        batch.put(Key::RaftTombstone { range: self.range }.encode(), hard_state);
    }
}

impl Storage for LogStore {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState { hard_state: self.hard_state.clone(), conf_state: self.conf_state.clone() })
    }

    fn entries(&self, low: u64, high: u64, max_size: impl Into<Option<u64>>, _: GetEntriesContext) -> raft::Result<Vec<Entry>> {
        if low <= self.apply.truncated_index {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if high > self.last_index + 1 {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        let range = self.range;
        let start = Key::RaftLogEntry { range, index: low }.encode();
        let end = Key::RaftLogEntry { range, index: high }.encode();
        let max_size = max_size.into().unwrap_or(u64::MAX);
        let mut entries = Vec::with_capacity((high - low) as usize);
        let mut size = 0u64;
        let mut failed = None;
        self.engine
            .scan_visit(&start, &end, usize::MAX, usize::MAX, &mut |_, value| match decode_entry(value) {
                Ok(entry) => {
                    size += u64::from(entry.compute_size());
                    // Always at least one entry, then only what fits.
                    if !entries.is_empty() && size > max_size {
                        return false;
                    }
                    entries.push(entry);
                    true
                }
                Err(e) => {
                    failed = Some(e);
                    false
                }
            })
            .map_err(storage_error)?;
        if let Some(e) = failed {
            return Err(e);
        }
        let expected = entries.first().map(|e| e.index) == Some(low)
            && entries.windows(2).all(|pair| pair[1].index == pair[0].index + 1);
        if !expected {
            return Err(storage_error(format!("range {range}: log entries [{low}, {high}) are not all there")));
        }
        Ok(entries)
    }

    fn term(&self, index: u64) -> raft::Result<u64> {
        if index == self.apply.truncated_index {
            return Ok(self.apply.truncated_term);
        }
        if index < self.apply.truncated_index {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if index > self.last_index {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        if let Some(&term) = self.terms.get(&index) {
            return Ok(term);
        }
        let key = Key::RaftLogEntry { range: self.range, index }.encode();
        match self.engine.get(&key).map_err(storage_error)? {
            Some(bytes) => Ok(decode_entry(&bytes)?.term),
            None => Err(storage_error(format!("range {}: log entry {index} is missing", self.range))),
        }
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.apply.truncated_index + 1)
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.last_index)
    }

    /// The replica's data as of its applied index. Built whole in memory:
    /// ranges are split before they get big (`range_max_bytes`).
    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        if self.apply.end.is_empty() || self.apply.applied < request_index {
            return Err(raft::Error::Store(StorageError::SnapshotTemporarilyUnavailable));
        }
        let mut data = SnapshotData { start: self.apply.start.clone(), end: self.apply.end.clone(), ..Default::default() };
        self.engine
            .scan_visit(&self.apply.start, &self.apply.end, usize::MAX, usize::MAX, &mut |key, value| {
                data.keys.push(key.to_vec());
                data.values.push(value.to_vec());
                true
            })
            .map_err(storage_error)?;
        let mut snapshot = Snapshot { data: Bytes::from(prost::Message::encode_to_vec(&data)), ..Default::default() };
        let meta = snapshot.mut_metadata();
        meta.index = self.apply.applied;
        meta.term = self.term(self.apply.applied)?;
        meta.set_conf_state(self.conf_state.clone());
        Ok(snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lyra_engine::storage::Memory;
    use raft::eraftpb::EntryType;

    fn entry(index: u64, term: u64) -> Entry {
        let mut entry = Entry { index, term, data: Bytes::from(vec![index as u8; 10]), ..Default::default() };
        entry.set_entry_type(EntryType::EntryNormal);
        entry
    }

    fn write(engine: &Arc<Memory>, f: impl FnOnce(&mut WriteBatch)) {
        let mut batch = WriteBatch::new();
        f(&mut batch);
        engine.write(&batch, true).unwrap();
    }

    fn bootstrapped() -> (Arc<Memory>, LogStore) {
        let engine = Arc::new(Memory::new());
        write(&engine, |b| LogStore::bootstrap(7, &[1, 2, 3], b"a", b"m", b));
        let log = LogStore::open(7, engine.clone()).unwrap();
        (engine, log)
    }

    fn indexes(entries: &[Entry]) -> Vec<(u64, u64)> {
        entries.iter().map(|e| (e.index, e.term)).collect()
    }

    fn no_context() -> GetEntriesContext {
        GetEntriesContext::empty(false)
    }

    #[test]
    fn a_bootstrapped_range_starts_at_the_initial_index() {
        let (_, log) = bootstrapped();
        let state = log.initial_state().unwrap();
        assert_eq!(state.conf_state.voters, vec![1, 2, 3]);
        assert_eq!((state.hard_state.term, state.hard_state.commit), (INIT_TERM, INIT_INDEX));
        assert_eq!((log.first_index().unwrap(), log.last_index().unwrap()), (INIT_INDEX + 1, INIT_INDEX));
        assert_eq!(log.term(INIT_INDEX).unwrap(), INIT_TERM);
        assert!(log.is_initialized());
        assert_eq!(log.span(), (&b"a"[..], &b"m"[..]));
        let empty = LogStore::open(8, Arc::new(Memory::new())).unwrap();
        assert!(!empty.is_initialized());
        assert_eq!((empty.first_index().unwrap(), empty.last_index().unwrap()), (1, 0));
    }

    #[test]
    fn appends_replace_a_conflicting_suffix_and_survive_reopening() {
        let (engine, mut log) = bootstrapped();
        write(&engine, |b| log.append(&(6..=10).map(|i| entry(i, 6)).collect::<Vec<_>>(), b));
        write(&engine, |b| log.append(&[entry(8, 7), entry(9, 7)], b));
        let expected = vec![(6, 6), (7, 6), (8, 7), (9, 7)];
        assert_eq!(indexes(&log.entries(6, 10, None, no_context()).unwrap()), expected);
        let reopened = LogStore::open(7, engine.clone()).unwrap();
        assert_eq!(reopened.last_index().unwrap(), 9);
        assert_eq!(indexes(&reopened.entries(6, 10, None, no_context()).unwrap()), expected);
        assert_eq!(reopened.term(9).unwrap(), 7);
        assert!(matches!(reopened.term(10), Err(raft::Error::Store(StorageError::Unavailable))));
    }

    /// The last entries' terms come from memory (an entry can be a bulk
    /// load's hundreds of MB), and stay right across overwrites,
    /// truncation and reopening.
    #[test]
    fn the_last_entries_terms_are_known_without_reading_them() {
        let (engine, mut log) = bootstrapped();
        write(&engine, |b| log.append(&(6..=10).map(|i| entry(i, 6)).collect::<Vec<_>>(), b));
        write(&engine, |b| log.append(&[entry(8, 7), entry(9, 7)], b));
        // Behind the log's back: entry 9's bytes go.
        write(&engine, |b| b.delete(Key::RaftLogEntry { range: 7, index: 9 }.encode()));
        assert_eq!(log.term(9).unwrap(), 7, "from memory, not read");
        assert_eq!(log.term(8).unwrap(), 7, "the overwritten term is gone");
        assert!(matches!(log.term(10), Err(raft::Error::Store(StorageError::Unavailable))));
        write(&engine, |b| log.append(&[entry(9, 7)], b));
        log.apply.applied = 9;
        write(&engine, |b| log.truncate_to(7, b).unwrap());
        assert_eq!((log.term(7).unwrap(), log.term(8).unwrap()), (6, 7));
        assert!(matches!(log.term(6), Err(raft::Error::Store(StorageError::Compacted))));
        // Many appends: only the last TERMS_KEPT stay in memory; older
        // ones are read.
        let many: Vec<Entry> = (10..10 + 2 * TERMS_KEPT as u64).map(|i| entry(i, 8)).collect();
        write(&engine, |b| log.append(&many, b));
        assert_eq!(log.terms.len(), TERMS_KEPT);
        assert_eq!((log.term(10).unwrap(), log.term(9 + 2 * TERMS_KEPT as u64).unwrap()), (8, 8));
        let reopened = LogStore::open(7, engine.clone()).unwrap();
        assert_eq!(reopened.terms.len(), 1, "the last entry's term, read when opened");
        assert_eq!(reopened.term(12).unwrap(), 8);
    }

    #[test]
    fn entries_are_limited_by_size_but_never_empty() {
        let (engine, mut log) = bootstrapped();
        write(&engine, |b| log.append(&(6..=10).map(|i| entry(i, 6)).collect::<Vec<_>>(), b));
        let one = u64::from(entry(6, 6).compute_size());
        assert_eq!(log.entries(6, 11, 0, no_context()).unwrap().len(), 1);
        assert_eq!(log.entries(6, 11, one * 3, no_context()).unwrap().len(), 3);
        assert_eq!(log.entries(6, 11, None, no_context()).unwrap().len(), 5);
        assert!(matches!(log.entries(6, 12, None, no_context()), Err(raft::Error::Store(StorageError::Unavailable))));
    }

    #[test]
    fn truncation_keeps_the_last_term_and_reports_compaction() {
        let (engine, mut log) = bootstrapped();
        write(&engine, |b| log.append(&(6..=10).map(|i| entry(i, 6 + i % 2)).collect::<Vec<_>>(), b));
        write(&engine, |b| log.set_applied(9, None, b));
        write(&engine, |b| log.truncate_to(8, b).unwrap());
        for log in [&log, &LogStore::open(7, engine.clone()).unwrap()] {
            assert_eq!(log.first_index().unwrap(), 9);
            assert_eq!(log.term(8).unwrap(), 6, "the truncated entry's term is kept");
            assert!(matches!(log.term(7), Err(raft::Error::Store(StorageError::Compacted))));
            assert!(matches!(log.entries(8, 10, None, no_context()), Err(raft::Error::Store(StorageError::Compacted))));
            assert_eq!(indexes(&log.entries(9, 11, None, no_context()).unwrap()), vec![(9, 7), (10, 6)]);
            assert_eq!(log.applied(), 9);
        }
    }

    #[test]
    fn a_snapshot_carries_the_range_to_an_empty_replica() {
        let (engine, mut log) = bootstrapped();
        write(&engine, |b| {
            b.put(b"b".to_vec(), b"1".to_vec());
            b.put(b"k".to_vec(), b"2".to_vec());
            b.put(b"z".to_vec(), b"outside".to_vec());
            log.append(&[entry(6, 6)], b);
            log.set_applied(6, None, b);
        });
        let snapshot = log.snapshot(0, 2).unwrap();
        assert_eq!((snapshot.get_metadata().index, snapshot.get_metadata().term), (6, 6));
        assert!(matches!(log.snapshot(7, 2), Err(raft::Error::Store(StorageError::SnapshotTemporarilyUnavailable))));

        let other = Arc::new(Memory::new());
        write(&other, |b| b.put(b"c".to_vec(), b"stale".to_vec()));
        let mut empty = LogStore::open(7, other.clone()).unwrap();
        write(&other, |b| empty.apply_snapshot(&snapshot, b).unwrap());
        for log in [&empty, &LogStore::open(7, other.clone()).unwrap()] {
            assert_eq!((log.applied(), log.first_index().unwrap(), log.last_index().unwrap()), (6, 7, 6));
            assert_eq!(log.conf_state().voters, vec![1, 2, 3]);
            assert_eq!(log.span(), (&b"a"[..], &b"m"[..]));
        }
        let data = other.scan(b"a", b"m", 10, usize::MAX).unwrap();
        assert_eq!(data, vec![(b"b".to_vec(), b"1".to_vec()), (b"k".to_vec(), b"2".to_vec())]);
    }

    #[test]
    fn a_destroyed_replica_leaves_only_its_tombstone() {
        let (engine, mut log) = bootstrapped();
        write(&engine, |b| {
            b.put(b"b".to_vec(), b"1".to_vec());
            log.append(&[entry(6, 6)], b);
        });
        write(&engine, |b| log.destroy(b));
        let left: Vec<_> = engine.scan(b"", b"", 10, usize::MAX).unwrap().into_iter().map(|(k, _)| k).collect();
        assert_eq!(left, vec![Key::RaftTombstone { range: 7 }.encode()]);
    }
}
