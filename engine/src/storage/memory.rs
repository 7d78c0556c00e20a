//! [`Memory`]: the in-memory engine, a `BTreeMap` behind a `RwLock`.
//!
//! Used by unit tests and by the cluster's deterministic simulation, where
//! a node's "disk" must be cheap to create, inspect and throw away. A batch
//! is applied entirely under the write lock, which gives atomicity for
//! free. Nothing survives a drop.
//!
//! A store made by [`Memory::crashable`] also keeps what a disk would hold
//! if the machine lost power now: everything up to the last `sync` write,
//! plus the unsynced batches after it, in order. [`Memory::crash`] throws
//! away all but a prefix of those batches, as a real crash may (never part
//! of a batch, never out of order), so a simulation can check that a node
//! relies on nothing it did not sync.
//!
//! A panic while the lock is held poisons it; from then on every call
//! returns `Error::Io`, since a half-applied batch may be inside.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::{backward_seek, range_is_empty, Engine, ScanLimits, Step, WriteBatch, WriteOp};
use crate::error::{Error, Result};

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

/// An in-memory [`Engine`].
#[derive(Debug, Default)]
pub struct Memory {
    map: RwLock<Map>,
    /// For a crashable store: the contents as of the last synced write,
    /// and the batches written since without `sync`.
    disk: Option<std::sync::Mutex<Disk>>,
}

#[derive(Debug, Default)]
struct Disk {
    synced: Map,
    unsynced: Vec<WriteBatch>,
}

impl Memory {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store that can [`crash`](Self::crash). Keeps a second
    /// copy of its contents: for simulations, not for big tests.
    pub fn crashable() -> Self {
        Memory { map: RwLock::default(), disk: Some(Default::default()) }
    }

    /// The number of batches written without `sync` since the last synced
    /// one: what a crash now may lose. Always 0 unless crashable.
    pub fn unsynced_batches(&self) -> usize {
        self.disk.as_ref().map_or(0, |disk| disk.lock().expect("disk lock").unsynced.len())
    }

    /// Loses power: the store goes back to its last synced write plus the
    /// first `keep` of the unsynced batches written after it (all of them
    /// if fewer). A store not made by [`crashable`](Self::crashable) keeps
    /// everything.
    pub fn crash(&self, keep: usize) -> Result<()> {
        let Some(disk) = &self.disk else { return Ok(()) };
        let mut map = self.write_lock()?; // first, as `write` takes them
        let mut disk = disk.lock().expect("disk lock");
        let kept: Vec<WriteBatch> = disk.unsynced.drain(..).take(keep).collect();
        for batch in &kept {
            apply(&mut disk.synced, batch);
        }
        *map = disk.synced.clone();
        Ok(())
    }

    fn read(&self) -> Result<RwLockReadGuard<'_, Map>> {
        self.map.read().map_err(|_| poisoned())
    }

    fn write_lock(&self) -> Result<RwLockWriteGuard<'_, Map>> {
        self.map.write().map_err(|_| poisoned())
    }
}

fn apply(map: &mut Map, batch: &WriteBatch) {
    for op in batch.ops() {
        match op {
            WriteOp::Put { key, value } => {
                map.insert(key.clone(), value.clone());
            }
            WriteOp::Delete { key } => {
                map.remove(key);
            }
            WriteOp::DeleteRange { start, end } => delete_range(map, start, end),
        }
    }
}

/// The upper bound of a scan's range: `end` excluded, empty = unbounded.
fn upper_bound(end: &[u8]) -> Bound<&[u8]> {
    if end.is_empty() {
        Bound::Unbounded
    } else {
        Bound::Excluded(end)
    }
}

fn poisoned() -> Error {
    Error::Io("memory engine lock poisoned by an earlier panic".into())
}

impl Engine for Memory {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.read()?.get(key).cloned())
    }

    fn walk(&self, start: &[u8], end: &[u8], visit: &mut dyn FnMut(&[u8], &[u8]) -> Step) -> Result<()> {
        if range_is_empty(start, end) {
            return Ok(());
        }
        let map = self.read()?;
        let mut from = start.to_vec();
        loop {
            let mut seek = None;
            for (key, value) in map.range::<[u8], _>((Bound::Included(from.as_slice()), upper_bound(end))) {
                match visit(key, value) {
                    Step::Next => {}
                    Step::Seek(target) if target.as_slice() > key.as_slice() => {
                        seek = Some(target);
                        break;
                    }
                    Step::Seek(_) => return Err(backward_seek()),
                    Step::Stop => return Ok(()),
                }
            }
            match seek {
                Some(target) if end.is_empty() || target.as_slice() < end => from = target,
                _ => return Ok(()),
            }
        }
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
        let map = self.read()?;
        for (key, value) in map.range::<[u8], _>((Bound::Included(start), upper_bound(end))).rev() {
            if !visit(key, value) || !limits.take(key, value) {
                break;
            }
        }
        Ok(())
    }

    fn write(&self, batch: &WriteBatch, sync: bool) -> Result<()> {
        batch.validate()?;
        let mut map = self.write_lock()?;
        apply(&mut map, batch);
        if let Some(disk) = &self.disk {
            let mut disk = disk.lock().expect("disk lock");
            disk.unsynced.push(batch.clone());
            if sync {
                let Disk { synced, unsynced } = &mut *disk;
                for batch in unsynced.drain(..) {
                    apply(synced, &batch);
                }
            }
        }
        Ok(())
    }
}

/// Removes every key in `[start, end)`: O(k log n) for k keys removed.
fn delete_range(map: &mut Map, start: &[u8], end: &[u8]) {
    if range_is_empty(start, end) {
        return;
    }
    let doomed: Vec<Vec<u8>> = map
        .range::<[u8], _>((Bound::Included(start), Bound::Excluded(end)))
        .map(|(key, _)| key.clone())
        .collect();
    for key in doomed {
        map.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str) -> WriteBatch {
        let mut batch = WriteBatch::new();
        batch.put(key.as_bytes(), b"v".to_vec());
        batch
    }

    fn keys(memory: &Memory) -> Vec<Vec<u8>> {
        memory.scan(b"", b"", 100, usize::MAX).unwrap().into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn a_crash_keeps_synced_writes_and_a_prefix_of_the_rest() {
        let memory = Memory::crashable();
        memory.write(&put("a"), false).unwrap();
        memory.write(&put("b"), true).unwrap(); // syncs "a" too, as a WAL does
        memory.write(&put("c"), false).unwrap();
        memory.write(&put("d"), false).unwrap();
        assert_eq!(memory.unsynced_batches(), 2);
        memory.crash(1).unwrap();
        assert_eq!(keys(&memory), vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        assert_eq!(memory.unsynced_batches(), 0);
        memory.write(&put("e"), false).unwrap();
        memory.crash(0).unwrap();
        assert_eq!(keys(&memory), vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    }

    #[test]
    fn a_store_that_is_not_crashable_keeps_everything() {
        let memory = Memory::new();
        memory.write(&put("a"), false).unwrap();
        memory.crash(0).unwrap();
        assert_eq!(keys(&memory), vec![b"a".to_vec()]);
    }
}
