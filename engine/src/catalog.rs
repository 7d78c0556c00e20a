//! The cluster catalog kept in the engine: who gets which id.
//!
//! Lyra never uses Postgres OIDs as storage keys — they differ from node to
//! node. Instead the catalog hands out cluster-wide ids and keeps their
//! counters under `/meta` (see [`crate::keys`]):
//!
//! ```text
//!   Key::NextTableId              → next table id to hand out (absent: 1)
//!   Key::NextRowId { table }      → one past the highest row id handed out (absent: 0)
//! ```
//!
//! Each allocation is read-counter, bump, write-counter under one mutex, so
//! allocations through one `Catalog` never overlap. There must be one
//! `Catalog` per engine: two over the same store would race.
//!
//! # Durability
//!
//! Counters are written without sync. That is safe because an id only
//! matters once durable data uses it, and that data's synced write also
//! makes the earlier counter write durable (the WAL is ordered). An id
//! handed out but lost in a crash was used by nothing durable, so handing
//! it out again is harmless.
//!
//! # Row ids and TIDs
//!
//! Row ids are reserved in blocks (`allocate_row_ids(table, count)`) so
//! that a node need not coordinate per row. They stop at [`RowId::MAX`],
//! the last id whose TID is valid; the counter doubles as the table's size
//! in TID space ([`Catalog::row_id_high_water`]).
//!
//! # Not done yet
//!
//! Cluster-wide allocation: today the counters live in one engine; they
//! move to range 1 and become Raft writes. Index ids, schema versions, the
//! relfile mapping's maintenance, and dropping a table's counters.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::error::{Error, Result};
use crate::keys::{decode_u64_value, encode_u64_value, Key, RowId, TableId};
use crate::storage::{Engine, WriteBatch};

/// Table-id and row-id allocation over any [`Engine`].
pub struct Catalog<E: Engine> {
    engine: Arc<E>,
    /// Serialises read-bump-write of the counters.
    allocation: Mutex<()>,
}

impl<E: Engine> Catalog<E> {
    /// A catalog over `engine`; all state lives in the engine.
    pub fn new(engine: Arc<E>) -> Self {
        Catalog {
            engine,
            allocation: Mutex::new(()),
        }
    }

    /// The engine the catalog stores its counters in.
    pub fn engine(&self) -> &Arc<E> {
        &self.engine
    }

    /// A fresh cluster-wide table id (the first is 1), persisted but not
    /// synced (see the module notes on durability).
    pub fn allocate_table_id(&self) -> Result<TableId> {
        let _guard = self.lock();
        let next = self.counter(&Key::NextTableId)?.unwrap_or(1);
        let after = next
            .checked_add(1)
            .ok_or_else(|| Error::Corrupt("table id counter is at u64::MAX".into()))?;
        self.set_counter(&Key::NextTableId, after)?;
        tracing::debug!(table = next, "allocated table id");
        Ok(next)
    }

    /// Reserves `count` consecutive row ids for `table` and returns the
    /// first (a table's first id is 0). `Err(RowIdsExhausted)` if the block
    /// would pass [`RowId::MAX`]; nothing is reserved then.
    pub fn allocate_row_ids(&self, table: TableId, count: u64) -> Result<RowId> {
        if count == 0 {
            return Err(Error::InvalidInput("cannot allocate zero row ids".into()));
        }
        let key = Key::NextRowId { table };
        let _guard = self.lock();
        let next = self.counter(&key)?.unwrap_or(0);
        let after = next
            .checked_add(count)
            .filter(|&after| after <= RowId::MAX.0 + 1)
            .ok_or(Error::RowIdsExhausted(table))?;
        self.set_counter(&key, after)?;
        tracing::debug!(table, first = next, count, "allocated row ids");
        Ok(RowId(next))
    }

    /// One past the highest row id ever handed out for `table` (0 if none):
    /// the table's size in TID space.
    pub fn row_id_high_water(&self, table: TableId) -> Result<u64> {
        Ok(self.counter(&Key::NextRowId { table })?.unwrap_or(0))
    }

    /// The mutex guards no data, so a poisoned lock is still good to use.
    fn lock(&self) -> MutexGuard<'_, ()> {
        self.allocation
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn counter(&self, key: &Key) -> Result<Option<u64>> {
        self.engine
            .get(&key.encode())?
            .map(|bytes| decode_u64_value(&bytes))
            .transpose()
    }

    fn set_counter(&self, key: &Key, value: u64) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put(key.encode(), encode_u64_value(value));
        self.engine.write(&batch, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Memory, RocksDb};

    /// Instantiates each generic check once per engine, as the storage
    /// conformance suite does.
    macro_rules! on_each_engine {
        ($($check:ident),* $(,)?) => {
            mod memory {
                $(#[test]
                fn $check() -> crate::error::Result<()> {
                    super::$check(&super::Catalog::new(std::sync::Arc::new(super::Memory::new())))
                })*
            }
            mod rocksdb {
                $(#[test]
                fn $check() -> crate::error::Result<()> {
                    let dir = tempfile::tempdir().expect("temporary directory");
                    let engine = super::RocksDb::open(dir.path())?;
                    super::$check(&super::Catalog::new(std::sync::Arc::new(engine)))
                })*
            }
        };
    }

    on_each_engine!(
        table_ids_start_at_one_and_increase,
        row_ids_are_per_table_blocks,
        row_ids_stop_at_the_last_valid_tid,
        corrupt_counters_are_reported,
        concurrent_allocations_never_overlap,
    );

    fn table_ids_start_at_one_and_increase<E: Engine>(catalog: &Catalog<E>) -> Result<()> {
        let ids: Vec<_> = (0..5)
            .map(|_| catalog.allocate_table_id())
            .collect::<Result<_>>()?;
        assert_eq!(ids, [1, 2, 3, 4, 5]);
        Ok(())
    }

    fn row_ids_are_per_table_blocks<E: Engine>(catalog: &Catalog<E>) -> Result<()> {
        assert_eq!(catalog.row_id_high_water(1)?, 0);
        assert_eq!(catalog.allocate_row_ids(1, 100)?, RowId(0));
        assert_eq!(catalog.allocate_row_ids(1, 1)?, RowId(100));
        assert_eq!(catalog.allocate_row_ids(2, 10)?, RowId(0));
        assert_eq!(catalog.row_id_high_water(1)?, 101);
        assert_eq!(catalog.row_id_high_water(2)?, 10);
        assert!(matches!(
            catalog.allocate_row_ids(1, 0),
            Err(Error::InvalidInput(_))
        ));
        Ok(())
    }

    fn row_ids_stop_at_the_last_valid_tid<E: Engine>(catalog: &Catalog<E>) -> Result<()> {
        assert_eq!(catalog.allocate_row_ids(7, RowId::MAX.0)?, RowId(0));
        assert!(matches!(
            catalog.allocate_row_ids(7, 2),
            Err(Error::RowIdsExhausted(7))
        ));
        assert!(matches!(
            catalog.allocate_row_ids(7, u64::MAX),
            Err(Error::RowIdsExhausted(7))
        ));
        assert_eq!(
            catalog.allocate_row_ids(7, 1)?,
            RowId::MAX,
            "a failed block reserves nothing"
        );
        assert!(matches!(
            catalog.allocate_row_ids(7, 1),
            Err(Error::RowIdsExhausted(7))
        ));
        assert_eq!(catalog.row_id_high_water(7)?, RowId::MAX.0 + 1);
        Ok(())
    }

    fn corrupt_counters_are_reported<E: Engine>(catalog: &Catalog<E>) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put(Key::NextRowId { table: 3 }.encode(), &b"short"[..]);
        catalog.engine().write(&batch, false)?;
        assert!(matches!(
            catalog.allocate_row_ids(3, 1),
            Err(Error::Corrupt(_))
        ));
        assert!(matches!(
            catalog.row_id_high_water(3),
            Err(Error::Corrupt(_))
        ));
        Ok(())
    }

    fn concurrent_allocations_never_overlap<E: Engine>(catalog: &Catalog<E>) -> Result<()> {
        let mut blocks: Vec<(u64, u64)> = std::thread::scope(|scope| {
            let workers: Vec<_> = (1..=4u64)
                .map(|worker| {
                    scope.spawn(move || {
                        (0..100u64)
                            .map(|i| {
                                let count = 1 + (worker * 7 + i) % 13;
                                Ok((catalog.allocate_row_ids(9, count)?.0, count))
                            })
                            .collect::<Result<Vec<_>>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("worker panicked"))
                .collect::<Result<Vec<_>>>()
        })?
        .concat();
        blocks.sort();
        let mut expected_start = 0;
        for (start, count) in blocks {
            assert_eq!(start, expected_start, "blocks overlap or leave a gap");
            expected_start += count;
        }
        assert_eq!(catalog.row_id_high_water(9)?, expected_start);
        Ok(())
    }

    #[test]
    fn allocations_survive_rocksdb_reopen() -> Result<()> {
        let dir = tempfile::tempdir().expect("temporary directory");
        {
            let catalog = Catalog::new(Arc::new(RocksDb::open(dir.path())?));
            assert_eq!(catalog.allocate_table_id()?, 1);
            assert_eq!(catalog.allocate_row_ids(1, 50)?, RowId(0));
        }
        let catalog = Catalog::new(Arc::new(RocksDb::open(dir.path())?));
        assert_eq!(catalog.allocate_table_id()?, 2);
        assert_eq!(catalog.row_id_high_water(1)?, 50);
        assert_eq!(catalog.allocate_row_ids(1, 1)?, RowId(50));
        Ok(())
    }
}
