//! [`Memory`]: the in-memory engine, a `BTreeMap` behind a `RwLock`.
//!
//! Used by unit tests and by the cluster's deterministic simulation, where
//! a node's "disk" must be cheap to create, inspect and throw away. A batch
//! is applied entirely under the write lock, which gives atomicity for
//! free; `sync` is meaningless and ignored. Nothing survives a drop.
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
}

impl Memory {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> Result<RwLockReadGuard<'_, Map>> {
        self.map.read().map_err(|_| poisoned())
    }

    fn write_lock(&self) -> Result<RwLockWriteGuard<'_, Map>> {
        self.map.write().map_err(|_| poisoned())
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

    fn write(&self, batch: &WriteBatch, _sync: bool) -> Result<()> {
        batch.validate()?;
        let mut map = self.write_lock()?;
        for op in batch.ops() {
            match op {
                WriteOp::Put { key, value } => {
                    map.insert(key.clone(), value.clone());
                }
                WriteOp::Delete { key } => {
                    map.remove(key);
                }
                WriteOp::DeleteRange { start, end } => delete_range(&mut map, start, end),
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
