//! [`RocksDb`]: the engine on a real node, over Debian's librocksdb 7.8
//! (linked dynamically, DESIGN §8).
//!
//! The mapping to RocksDB is direct: one database, the default column
//! family, bytewise key order (which is what the key encoding is designed
//! for). A [`WriteBatch`] becomes one RocksDB write batch, which RocksDB
//! applies atomically with consecutive sequence numbers — so later
//! operations in a batch win over earlier ones, as the trait requires.
//! `DeleteRange` becomes a range tombstone; `sync` maps to
//! `WriteOptions::set_sync`, which fsyncs the WAL before returning.
//!
//! Every RocksDB error becomes [`Error::Io`]: they are failures of the
//! machine, not of the caller.
//!
//! # Not done yet
//!
//! Tuning (compaction), column families for
//! Raft logs vs state, snapshots, and checkpoints for Raft snapshot
//! transfer. Many range tombstones slow reads down until compaction, and
//! a tombstone in the memtable makes a read landing among the keys it
//! covers there step over them one by one (RocksDB 7.8's merging iterator
//! does not seek past them); the node keeps its garbage collection out of
//! ranges deleted wholesale for that reason.

use std::path::{Path, PathBuf};

use rocksdb::{BlockBasedOptions, Cache, SliceTransform};
use rocksdb::{Options, ReadOptions, WriteOptions, DB};

/// Block cache per node. Sized for a development machine; a setting later.
const BLOCK_CACHE_BYTES: usize = 256 << 20;

/// Values this large or larger go to blob files (see [`RocksDb::options`]).
const BLOB_MIN_BYTES: u64 = 256 << 10;

use super::{backward_seek, range_is_empty, Engine, ScanLimits, Step, WriteBatch, WriteOp};
use crate::error::{Error, Result};
use crate::mvcc::keys::records_prefix_len;

/// Bits of the memtable's prefix bloom filter, as a fraction of its size.
const MEMTABLE_PREFIX_BLOOM_RATIO: f64 = 0.05;

/// A RocksDB-backed [`Engine`].
pub struct RocksDb {
    db: DB,
    path: PathBuf,
}

impl std::fmt::Debug for RocksDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksDb").field("path", &self.path).finish()
    }
}

fn io(err: rocksdb::Error) -> Error {
    Error::Io(err.into_string())
}

impl RocksDb {
    /// Opens the database at `path`, creating it if missing.
    pub fn open(path: &Path) -> Result<RocksDb> {
        let db = DB::open(&Self::options()?, path).map_err(io)?;
        tracing::info!(path = %path.display(), "opened RocksDB");
        Ok(RocksDb {
            db,
            path: path.to_path_buf(),
        })
    }

    /// RocksDB's defaults, except: a block cache large enough to keep a
    /// working set of tables decompressed (the default 8 MB made every full
    /// scan of a 200,000-row table decompress its blocks again), bloom
    /// filters so point reads of absent keys skip files, and values of
    /// [`BLOB_MIN_BYTES`] or more in blob files.
    ///
    /// The bloom filters, in table files and in the memtable, also hold
    /// each MVCC key's records prefix ([`records_prefix_len`]): a read of
    /// one user key's versions (every point read of a row or an index
    /// entry) seeks only the files and memtables that hold some record of
    /// it — without them each such read seeked every level's file and the
    /// whole memtable skip list. Such a read is a prefix seek
    /// ([`RocksDb::walk`]); every other iterator reads in total order.
    ///
    /// Why blobs: a large value (a Raft log entry holding a whole COPY)
    /// makes its table block as large, and a seek to any key after it in
    /// that file may land in that block first — the index's separator
    /// after a file's last log key is shortened to `0x02`, which sorts
    /// after every log key. Each such seek (reading the log's newest
    /// entries) decompressed 100 MB: pgbench's TPC-B ran at 15 TPS after a
    /// scale-10 load, against 850 before. In a blob file, the block holds a
    /// small reference instead.
    fn options() -> Result<Options> {
        let cache = Cache::new_lru_cache(BLOCK_CACHE_BYTES).map_err(io)?;
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&cache);
        table.set_bloom_filter(10.0, false);
        let mut options = Options::default();
        options.create_if_missing(true);
        options.set_block_based_table_factory(&table);
        options.set_prefix_extractor(SliceTransform::create("lyra.mvcc_records", records_prefix, Some(has_records_prefix)));
        options.set_memtable_prefix_bloom_ratio(MEMTABLE_PREFIX_BLOOM_RATIO);
        options.set_enable_blob_files(true);
        options.set_min_blob_size(BLOB_MIN_BYTES);
        options.set_enable_blob_gc(true);
        Ok(options)
    }

    /// Writes the memtable to a table file (tests: reads from files).
    #[cfg(test)]
    pub fn flush(&self) -> Result<()> {
        self.db.flush().map_err(io)
    }

    /// The directory the database lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The prefix extractor: an MVCC record's [records prefix](records_prefix_len).
fn records_prefix(key: &[u8]) -> &[u8] {
    &key[..records_prefix_len(key).unwrap_or(key.len())]
}

fn has_records_prefix(key: &[u8]) -> bool {
    records_prefix_len(key).is_some()
}

/// Whether every key of `[start, end)` shares `start`'s records prefix:
/// then a walk of it may be a prefix seek, which consults the prefix bloom
/// filters and never leaves the prefix. (A prefix seek that left it would
/// skip keys: other walks read in total order.)
fn within_one_prefix(start: &[u8], end: &[u8]) -> bool {
    let Some(len) = records_prefix_len(start) else { return false };
    // The keys with the prefix (which ends in 00 01) are those from it up
    // to the same bytes ending in 00 02.
    let prefix_end = start[..len - 1].iter().chain(std::iter::once(&0x02));
    !end.is_empty() && end.iter().cmp(prefix_end) != std::cmp::Ordering::Greater
}

impl Engine for RocksDb {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.db.get(key).map_err(io)
    }

    fn walk(&self, start: &[u8], end: &[u8], visit: &mut dyn FnMut(&[u8], &[u8]) -> Step) -> Result<()> {
        if range_is_empty(start, end) {
            return Ok(());
        }
        let mut options = ReadOptions::default();
        if !end.is_empty() {
            options.set_iterate_upper_bound(end);
        }
        if within_one_prefix(start, end) {
            options.set_prefix_same_as_start(true);
        } else {
            options.set_total_order_seek(true);
        }
        let mut iter = self.db.raw_iterator_opt(options);
        iter.seek(start);
        while let (Some(key), Some(value)) = (iter.key(), iter.value()) {
            match visit(key, value) {
                Step::Next => iter.next(),
                Step::Seek(target) if target.as_slice() > key => iter.seek(&target),
                Step::Seek(_) => return Err(backward_seek()),
                Step::Stop => break,
            }
        }
        iter.status().map_err(io)
    }

    fn scan_visit_reverse(
        &self,
        start: &[u8],
        end: &[u8],
        max_rows: usize,
        max_bytes: usize,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        let mut limits = ScanLimits::new(max_rows, max_bytes)?;
        if range_is_empty(start, end) {
            return Ok(());
        }
        let mut options = ReadOptions::default();
        options.set_total_order_seek(true);
        options.set_iterate_lower_bound(start);
        let mut iter = self.db.raw_iterator_opt(options);
        if end.is_empty() {
            iter.seek_to_last();
        } else {
            // The last key before `end`.
            iter.seek_for_prev(end);
            if iter.key() == Some(end) {
                iter.prev();
            }
        }
        while let (Some(key), Some(value)) = (iter.key(), iter.value()) {
            if !visit(key, value) || !limits.take(key, value) {
                break;
            }
            iter.prev();
        }
        iter.status().map_err(io)
    }

    fn write(&self, batch: &WriteBatch, sync: bool) -> Result<()> {
        batch.validate()?;
        let mut rocks_batch = rocksdb::WriteBatch::default();
        for op in batch.ops() {
            match op {
                WriteOp::Put { key, value } => rocks_batch.put(key, value),
                WriteOp::Delete { key } => rocks_batch.delete(key),
                // An empty range is a no-op; RocksDB would reject start > end.
                WriteOp::DeleteRange { start, end } if range_is_empty(start, end) => {}
                WriteOp::DeleteRange { start, end } => rocks_batch.delete_range(start, end),
            }
        }
        let mut options = WriteOptions::default();
        options.set_sync(sync);
        self.db.write_opt(rocks_batch, &options).map_err(io)
    }
}
