//! The conformance suite: one set of tests that every [`Engine`] must pass.
//!
//! Each test is a generic function over `E: Engine`; the
//! `conformance_suite!` macro instantiates all of them once per engine, so
//! `cargo test memory::` and `cargo test rocksdb::` run the same checks.
//! A property test compares each engine against a `BTreeMap` model over
//! random batches. Persistence across reopen applies to RocksDB alone.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use proptest::prelude::*;

use super::{Engine, KvPair, Memory, RocksDb, Step, WriteBatch, WriteOp};
use crate::error::{Error, Result};

macro_rules! conformance_suite {
    ($($test:ident),* $(,)?) => {
        mod memory {
            $(#[test]
            fn $test() -> crate::error::Result<()> {
                super::$test(std::sync::Arc::new(super::Memory::new()))
            })*
        }
        mod rocksdb {
            $(#[test]
            fn $test() -> crate::error::Result<()> {
                let dir = tempfile::tempdir().expect("temporary directory");
                super::$test(std::sync::Arc::new(super::RocksDb::open(dir.path())?))
            })*
        }
    };
}

conformance_suite!(
    get_put_delete,
    empty_keys_and_values,
    scan_respects_bounds,
    walk_steps_seeks_and_stops,
    reverse_scan_respects_bounds_and_limits,
    scan_respects_row_limit,
    scan_respects_byte_limit,
    scan_refuses_zero_rows,
    delete_range_removes_exactly_its_range,
    unbounded_delete_range_refuses_the_whole_batch,
    batch_applies_in_order,
    batches_are_atomic_to_readers,
    large_values,
);

fn put(engine: &impl Engine, key: &[u8], value: &[u8]) -> Result<()> {
    let mut batch = WriteBatch::new();
    batch.put(key, value);
    engine.write(&batch, false)
}

fn scan_all(engine: &impl Engine) -> Result<Vec<KvPair>> {
    engine.scan(b"", b"", usize::MAX, usize::MAX)
}

fn keys(pairs: &[KvPair]) -> Vec<&[u8]> {
    pairs.iter().map(|(key, _)| &key[..]).collect()
}

/// Puts a..=e with one-byte values.
fn fill_a_to_e(engine: &impl Engine) -> Result<()> {
    let mut batch = WriteBatch::new();
    for key in [b"a", b"b", b"c", b"d", b"e"] {
        batch.put(*key, *key);
    }
    engine.write(&batch, true)
}

fn get_put_delete<E: Engine>(engine: Arc<E>) -> Result<()> {
    assert_eq!(engine.get(b"k")?, None);
    put(&*engine, b"k", b"v1")?;
    assert_eq!(engine.get(b"k")?.as_deref(), Some(&b"v1"[..]));
    put(&*engine, b"k", b"v2")?;
    assert_eq!(engine.get(b"k")?.as_deref(), Some(&b"v2"[..]));
    assert_eq!(engine.get(b"k\0")?, None);
    let mut batch = WriteBatch::new();
    batch.delete(&b"k"[..]);
    batch.delete(&b"never-written"[..]);
    engine.write(&batch, true)?;
    assert_eq!(engine.get(b"k")?, None);
    Ok(())
}

fn empty_keys_and_values<E: Engine>(engine: Arc<E>) -> Result<()> {
    put(&*engine, b"", b"empty key")?;
    put(&*engine, b"empty value", b"")?;
    assert_eq!(engine.get(b"")?.as_deref(), Some(&b"empty key"[..]));
    assert_eq!(engine.get(b"empty value")?.as_deref(), Some(&b""[..]));
    assert_eq!(keys(&scan_all(&*engine)?), [&b""[..], b"empty value"]);
    Ok(())
}

fn scan_respects_bounds<E: Engine>(engine: Arc<E>) -> Result<()> {
    fill_a_to_e(&*engine)?;
    let scan = |start: &[u8], end: &[u8]| engine.scan(start, end, 100, 1 << 20);
    assert_eq!(keys(&scan(b"b", b"d")?), [b"b", b"c"]);
    assert_eq!(keys(&scan(b"bb", b"dd")?), [b"c", b"d"]);
    assert_eq!(keys(&scan(b"d", b"")?), [b"d", b"e"]);
    assert_eq!(keys(&scan(b"", b"b")?), [b"a"]);
    assert!(scan(b"c", b"c")?.is_empty());
    assert!(scan(b"d", b"b")?.is_empty());
    assert!(scan(b"f", b"")?.is_empty());
    assert_eq!(scan(b"c", b"d")?, [(b"c".to_vec(), b"c".to_vec())]);
    Ok(())
}

fn walk_steps_seeks_and_stops<E: Engine>(engine: Arc<E>) -> Result<()> {
    fill_a_to_e(&*engine)?;
    // Seek from "a" past "b" (to "bz": lands on "c"), step to "d", stop.
    let mut seen = Vec::new();
    engine.walk(b"a", b"", &mut |key, _| {
        seen.push(key.to_vec());
        match key {
            b"a" => Step::Seek(b"bz".to_vec()),
            b"c" => Step::Next,
            _ => Step::Stop,
        }
    })?;
    assert_eq!(seen, [b"a".to_vec(), b"c".to_vec(), b"d".to_vec()]);
    // A seek past the end of the range ends the walk; the end is exclusive.
    seen.clear();
    engine.walk(b"b", b"d", &mut |key, _| {
        seen.push(key.to_vec());
        if key == b"b" { Step::Next } else { Step::Seek(b"zz".to_vec()) }
    })?;
    assert_eq!(seen, [b"b".to_vec(), b"c".to_vec()]);
    // A seek that does not move forward is refused.
    let back = engine.walk(b"c", b"", &mut |_, _| Step::Seek(b"b".to_vec()));
    assert!(matches!(back, Err(Error::InvalidInput(_))), "{back:?}");
    let same = engine.walk(b"c", b"", &mut |key, _| Step::Seek(key.to_vec()));
    assert!(matches!(same, Err(Error::InvalidInput(_))), "{same:?}");
    Ok(())
}

fn reverse_scan_respects_bounds_and_limits<E: Engine>(engine: Arc<E>) -> Result<()> {
    fill_a_to_e(&*engine)?;
    let scan = |start: &[u8], end: &[u8], rows| engine.scan_reverse(start, end, rows, 1 << 20);
    assert_eq!(keys(&scan(b"b", b"d", 100)?), [b"c", b"b"]);
    assert_eq!(keys(&scan(b"bb", b"dd", 100)?), [b"d", b"c"]);
    assert_eq!(keys(&scan(b"", b"", 2)?), [b"e", b"d"]);
    assert_eq!(keys(&scan(b"", b"b", 100)?), [b"a"]);
    assert_eq!(keys(&scan(b"", b"a", 100)?), Vec::<&[u8]>::new());
    assert!(scan(b"c", b"c", 100)?.is_empty());
    assert!(scan(b"d", b"b", 100)?.is_empty());
    assert!(scan(b"f", b"", 100)?.is_empty());
    assert_eq!(engine.scan_reverse(b"", b"", 100, 0)?.len(), 1, "always one pair");
    assert!(matches!(
        engine.scan_reverse(b"", b"", 0, 1),
        Err(Error::InvalidInput(_))
    ));
    Ok(())
}

fn scan_respects_row_limit<E: Engine>(engine: Arc<E>) -> Result<()> {
    fill_a_to_e(&*engine)?;
    assert_eq!(keys(&engine.scan(b"", b"", 2, usize::MAX)?), [b"a", b"b"]);
    assert_eq!(keys(&engine.scan(b"b", b"", 1, usize::MAX)?), [b"b"]);
    assert_eq!(engine.scan(b"", b"", 5, usize::MAX)?.len(), 5);
    assert_eq!(engine.scan(b"", b"", 6, usize::MAX)?.len(), 5);
    Ok(())
}

fn scan_respects_byte_limit<E: Engine>(engine: Arc<E>) -> Result<()> {
    fill_a_to_e(&*engine)?; // each pair is 2 bytes
    assert_eq!(
        engine.scan(b"", b"", 100, 0)?.len(),
        1,
        "always at least one pair"
    );
    assert_eq!(engine.scan(b"", b"", 100, 1)?.len(), 1);
    assert_eq!(
        engine.scan(b"", b"", 100, 2)?.len(),
        1,
        "stop after the pair reaching it"
    );
    assert_eq!(engine.scan(b"", b"", 100, 3)?.len(), 2);
    assert_eq!(engine.scan(b"", b"", 100, 4)?.len(), 2);
    assert_eq!(engine.scan(b"", b"", 2, 1000)?.len(), 2, "rows bind first");
    put(&*engine, b"big", &[0; 1000])?;
    assert_eq!(
        keys(&engine.scan(b"b", b"", 100, 10)?),
        [b"b".as_slice(), b"big"]
    );
    Ok(())
}

fn scan_refuses_zero_rows<E: Engine>(engine: Arc<E>) -> Result<()> {
    fill_a_to_e(&*engine)?;
    assert!(matches!(
        engine.scan(b"", b"", 0, 100),
        Err(Error::InvalidInput(_))
    ));
    Ok(())
}

fn delete_range_removes_exactly_its_range<E: Engine>(engine: Arc<E>) -> Result<()> {
    fill_a_to_e(&*engine)?;
    put(&*engine, b"bz", b"")?;
    let mut batch = WriteBatch::new();
    batch.delete_range(&b"b"[..], &b"d"[..]);
    batch.delete_range(&b"e"[..], &b"a"[..]); // reversed: empty, a no-op
    batch.delete_range(&b"a"[..], &b"a"[..]); // empty
    engine.write(&batch, false)?;
    assert_eq!(keys(&scan_all(&*engine)?), [b"a", b"d", b"e"]);
    Ok(())
}

fn unbounded_delete_range_refuses_the_whole_batch<E: Engine>(engine: Arc<E>) -> Result<()> {
    let mut batch = WriteBatch::new();
    batch.put(&b"x"[..], &b"1"[..]);
    batch.delete_range(&b"a"[..], Vec::new());
    assert!(matches!(
        engine.write(&batch, true),
        Err(Error::InvalidInput(_))
    ));
    assert_eq!(
        engine.get(b"x")?,
        None,
        "nothing of a refused batch applies"
    );
    Ok(())
}

fn batch_applies_in_order<E: Engine>(engine: Arc<E>) -> Result<()> {
    fill_a_to_e(&*engine)?;
    let mut batch = WriteBatch::new();
    batch.put(&b"b"[..], &b"gone"[..]);
    batch.delete_range(&b"a"[..], &b"z"[..]);
    batch.put(&b"c"[..], &b"survives"[..]);
    batch.put(&b"x"[..], &b"first"[..]);
    batch.delete(&b"x"[..]);
    batch.delete(&b"y"[..]);
    batch.put(&b"y"[..], &b"last"[..]);
    batch.put(&b"y"[..], &b"really last"[..]);
    engine.write(&batch, true)?;
    let expected: Vec<KvPair> = vec![
        (b"c".to_vec(), b"survives".to_vec()),
        (b"y".to_vec(), b"really last".to_vec()),
    ];
    assert_eq!(scan_all(&*engine)?, expected);
    Ok(())
}

/// A writer rewrites keys k0..k9 to one value per batch (and deletes and
/// restores them by range); readers must never see two values at once.
/// The writer keeps going until the readers have looked many times.
fn batches_are_atomic_to_readers<E: Engine>(engine: Arc<E>) -> Result<()> {
    let done = Arc::new(AtomicBool::new(false));
    let scans = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (engine, done, scans) = (engine.clone(), done.clone(), scans.clone());
            std::thread::spawn(move || -> Result<()> {
                while !done.load(Ordering::Relaxed) {
                    let pairs = engine.scan(b"k", b"l", 100, usize::MAX)?;
                    assert!(
                        pairs.len() == 10 || pairs.is_empty(),
                        "{} keys",
                        pairs.len()
                    );
                    assert!(pairs.windows(2).all(|w| w[0].1 == w[1].1), "torn batch");
                    scans.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            })
        })
        .collect();
    let mut round = 0u32;
    let reader_stopped =
        |readers: &[std::thread::JoinHandle<_>]| readers.iter().any(|r| r.is_finished());
    while (round < 300 || scans.load(Ordering::Relaxed) < 200) && !reader_stopped(&readers) {
        round += 1;
        let mut batch = WriteBatch::new();
        batch.delete_range(&b"k"[..], &b"l"[..]);
        for i in 0..10 {
            batch.put(format!("k{i}"), round.to_be_bytes());
        }
        engine.write(&batch, false)?;
    }
    done.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.join().expect("reader thread panicked")?;
    }
    Ok(())
}

fn large_values<E: Engine>(engine: Arc<E>) -> Result<()> {
    let value: Vec<u8> = (0..3 << 20).map(|i| (i % 251) as u8).collect();
    put(&*engine, b"large", &value)?;
    assert_eq!(engine.get(b"large")?, Some(value.clone()));
    assert_eq!(scan_all(&*engine)?, [(b"large".to_vec(), value)]);
    Ok(())
}

#[test]
fn rocksdb_keeps_synced_and_unsynced_writes_across_reopen() -> Result<()> {
    let dir = tempfile::tempdir().expect("temporary directory");
    {
        let engine = RocksDb::open(dir.path())?;
        fill_a_to_e(&engine)?;
        put(&engine, b"unsynced", b"still written on clean close")?;
        let mut batch = WriteBatch::new();
        batch.delete_range(&b"b"[..], &b"d"[..]);
        engine.write(&batch, true)?;
    }
    let engine = RocksDb::open(dir.path())?;
    assert_eq!(
        keys(&scan_all(&engine)?),
        [&b"a"[..], b"d", b"e", b"unsynced"]
    );
    Ok(())
}

/// A large value lives in a blob file once flushed (RocksDb::options says
/// why), and reads back whole, also between small keys around it.
#[test]
fn rocksdb_keeps_large_values_in_blob_files() -> Result<()> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let value: Vec<u8> = (0..1 << 20).map(|i| (i % 253) as u8).collect();
    {
        let engine = RocksDb::open(dir.path())?;
        fill_a_to_e(&engine)?;
        put(&engine, b"c-large", &value)?;
    }
    // Reopening replays the log into a flushed table.
    let engine = RocksDb::open(dir.path())?;
    let blobs = std::fs::read_dir(dir.path())
        .expect("list the database")
        .filter(|f| f.as_ref().is_ok_and(|f| f.path().extension().is_some_and(|e| e == "blob")))
        .count();
    assert!(blobs > 0, "no blob file: large values are in table blocks");
    assert_eq!(engine.get(b"c-large")?, Some(value.clone()));
    let pairs = engine.scan(b"c", b"d", 10, usize::MAX)?;
    assert_eq!(keys(&pairs), [&b"c"[..], b"c-large"]);
    assert_eq!(pairs[1].1, value);
    Ok(())
}

/// Reads of one MVCC key's records (prefix seeks, through the prefix bloom
/// filters) and scans across keys (total order) see every record wherever
/// it lies: in a table file written before or after another, or in the
/// memtable; and a range from one key's records into another's is not
/// cut short at the first key's end.
#[test]
fn rocksdb_prefix_seeks_find_records_in_files_and_the_memtable() -> Result<()> {
    use crate::mvcc::keys::key_records;
    let dir = tempfile::tempdir().expect("temporary directory");
    let engine = RocksDb::open(dir.path())?;
    // User keys with 0 bytes in them (escaped in the records' prefixes).
    let user_keys: Vec<Vec<u8>> = (0u16..300).map(|i| [&i.to_be_bytes()[..], &[0]].concat()).collect();
    let mut model = Model::new();
    for generation in 0u8..3 {
        let mut batch = WriteBatch::new();
        for (i, key) in user_keys.iter().enumerate() {
            if (i + usize::from(generation)) % 3 == 0 {
                continue;
            }
            let raw = [key_records(key).0, vec![b'W', !generation]].concat();
            batch.put(raw.clone(), vec![generation]);
            model.insert(raw, vec![generation]);
        }
        engine.write(&batch, false)?;
        if generation < 2 {
            engine.flush()?;
        }
    }
    let range = |start: &[u8], end: &[u8]| -> Vec<KvPair> {
        model.range(start.to_vec()..end.to_vec()).map(|(k, v)| (k.clone(), v.clone())).collect()
    };
    for key in &user_keys {
        let (start, end) = key_records(key);
        let records = engine.scan(&start, &end, usize::MAX, usize::MAX)?;
        assert!(!records.is_empty());
        assert_eq!(records, range(&start, &end), "{key:?}");
        // As a point read walks: from the lock record on.
        let lock = [&start[..], b"L"].concat();
        assert_eq!(engine.scan(&lock, &end, usize::MAX, usize::MAX)?, range(&lock, &end));
    }
    let (first, _) = key_records(&user_keys[10]);
    let (_, last) = key_records(&user_keys[20]);
    let across = engine.scan(&first, &last, usize::MAX, usize::MAX)?;
    assert_eq!(across.len(), 22, "eleven keys, two records each");
    assert_eq!(across, range(&first, &last));
    let (start, end) = key_records(b"absent");
    assert!(engine.scan(&start, &end, usize::MAX, usize::MAX)?.is_empty());
    assert_eq!(scan_all(&engine)?, model.into_iter().collect::<Vec<_>>());
    Ok(())
}

// ---- model-based: random batches, compared against a BTreeMap ----

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn small_key() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(b"abc".to_vec()), 0..3)
}

fn any_op() -> impl Strategy<Value = WriteOp> {
    let non_empty = prop::collection::vec(prop::sample::select(b"abc".to_vec()), 1..3);
    prop_oneof![
        3 => (small_key(), small_key()).prop_map(|(key, value)| WriteOp::Put { key, value }),
        1 => small_key().prop_map(|key| WriteOp::Delete { key }),
        1 => (small_key(), non_empty).prop_map(|(start, end)| WriteOp::DeleteRange { start, end }),
    ]
}

fn apply_to_model(model: &mut Model, op: &WriteOp) {
    match op {
        WriteOp::Put { key, value } => {
            model.insert(key.clone(), value.clone());
        }
        WriteOp::Delete { key } => {
            model.remove(key);
        }
        WriteOp::DeleteRange { start, end } => model.retain(|k, _| k < start || k >= end),
    }
}

fn check_against_model(engine: &impl Engine, batches: &[Vec<WriteOp>]) -> Result<()> {
    let mut model = Model::new();
    for ops in batches {
        let mut batch = WriteBatch::new();
        for op in ops {
            batch.push(op.clone());
            apply_to_model(&mut model, op);
        }
        engine.write(&batch, false)?;
    }
    let expected: Vec<KvPair> = model.into_iter().collect();
    assert_eq!(scan_all(engine)?, expected);
    let mut reversed = engine.scan_reverse(b"", b"", usize::MAX, usize::MAX)?;
    reversed.reverse();
    assert_eq!(reversed, expected);
    for (key, value) in &expected {
        assert_eq!(engine.get(key)?.as_ref(), Some(value));
    }
    Ok(())
}

fn any_batches() -> impl Strategy<Value = Vec<Vec<WriteOp>>> {
    prop::collection::vec(prop::collection::vec(any_op(), 0..8), 1..6)
}

proptest! {
    #[test]
    fn memory_matches_model(batches in any_batches()) {
        check_against_model(&Memory::new(), &batches)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn rocksdb_matches_model(batches in any_batches()) {
        let dir = tempfile::tempdir().expect("temporary directory");
        check_against_model(&RocksDb::open(dir.path())?, &batches)?;
    }
}
