//! Point reads of MVCC keys on RocksDB, with and without the prefix bloom
//! filters (`storage::RocksDb`): the same records read by prefix walks
//! (bounded by the key's records, as `MvccReader::get` walks) and by
//! total-order walks (unbounded, stopped after the key's first record).
//!
//!   cargo run --release -p lyra-engine --example point_reads [KEYS]
//!
//! Loads KEYS (2,000,000) keys with a 100-byte value each into a fresh
//! database under the system's temporary directory (several table files
//! and a memtable), then times 500,000 random reads each way, alternating
//! rounds.
use std::time::Instant;

use lyra_engine::mvcc::keys::key_records;
use lyra_engine::storage::{Engine, RocksDb, Step, WriteBatch};

const READS: u64 = 500_000;

fn main() -> lyra_engine::error::Result<()> {
    let keys: u64 = std::env::args().nth(1).map_or(2_000_000, |n| n.parse().expect("KEYS is a number"));
    let dir = std::env::temp_dir().join(format!("lyra-point-reads-{}", std::process::id()));
    let db = RocksDb::open(&dir)?;
    for chunk in (0..keys).step_by(100_000) {
        let mut batch = WriteBatch::new();
        for i in chunk..(chunk + 100_000).min(keys) {
            let user_key = (i * 7919 % keys).to_be_bytes();
            let record = [key_records(&user_key).0, vec![b'W'], vec![0xff; 12]].concat();
            batch.put(record, vec![7u8; 100]);
        }
        db.write(&batch, false)?;
    }
    let tables = std::fs::read_dir(&dir).map_or(0, |d| d.flatten().filter(|f| f.path().extension().is_some_and(|e| e == "sst")).count());
    println!("{keys} keys, {tables} table files");
    for round in 0..3 {
        for prefix in [true, false] {
            let mut x: u64 = 12345 + round;
            let mut found = 0;
            let started = Instant::now();
            for _ in 0..READS {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let (start, end) = key_records(&((x >> 20) % keys).to_be_bytes());
                let lock = [&start[..], b"L"].concat();
                let bound: &[u8] = if prefix { &end } else { b"" };
                db.walk(&lock, bound, &mut |raw, _| {
                    found += usize::from(raw.starts_with(&start));
                    Step::Stop
                })?;
            }
            let per_read = started.elapsed().as_secs_f64() * 1e6 / READS as f64;
            let how = if prefix { "prefix walks     " } else { "total-order walks" };
            println!("round {round}: {how} {per_read:.2} µs/read ({found} found)");
        }
    }
    drop(db);
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
