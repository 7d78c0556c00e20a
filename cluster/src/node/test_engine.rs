//! A local engine the node's tests control: writes wait for permits the
//! test hands out, and it goes stale on demand (a node losing a lease).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use lyra_engine::storage::{Engine, Memory, Step, WriteBatch};

/// Writes wait at a gate that starts closed ([`Gated::allow`] opens it);
/// [`Gated::set_stale`] turns the engine [stale](Engine::stale).
#[derive(Default)]
pub struct Gated {
    inner: Memory,
    gate: Mutex<Gate>,
    changed: Condvar,
    stale: AtomicBool,
}

#[derive(Default)]
struct Gate {
    permits: usize,
    /// Writers waiting for a permit.
    waiting: usize,
    /// Writes done since the gate closed.
    done: usize,
}

impl Gated {
    fn gate(&self) -> MutexGuard<'_, Gate> {
        self.gate.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lets `n` more writes through.
    pub fn allow(&self, n: usize) {
        self.gate().permits += n;
        self.changed.notify_all();
    }

    /// Closes the gate and starts counting writes anew.
    pub fn close(&self) {
        *self.gate() = Gate::default();
    }

    /// Returns once `done` writes are done and a writer waits for a permit.
    pub fn await_writer_after(&self, done: usize) {
        let mut gate = self.gate();
        while gate.done < done || gate.waiting == 0 {
            gate = self.changed.wait(gate).unwrap_or_else(PoisonError::into_inner);
        }
    }

    pub fn set_stale(&self, stale: bool) {
        self.stale.store(stale, Ordering::SeqCst);
    }
}

impl Engine for Gated {
    fn get(&self, key: &[u8]) -> lyra_engine::Result<Option<Vec<u8>>> {
        self.inner.get(key)
    }

    fn walk(&self, start: &[u8], end: &[u8], visit: &mut dyn FnMut(&[u8], &[u8]) -> Step) -> lyra_engine::Result<()> {
        self.inner.walk(start, end, visit)
    }

    fn scan_visit_reverse(
        &self,
        start: &[u8],
        end: &[u8],
        max_rows: usize,
        max_bytes: usize,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> lyra_engine::Result<()> {
        self.inner.scan_visit_reverse(start, end, max_rows, max_bytes, visit)
    }

    fn write(&self, batch: &WriteBatch, sync: bool) -> lyra_engine::Result<()> {
        let mut gate = self.gate();
        gate.waiting += 1;
        self.changed.notify_all();
        while gate.permits == 0 {
            gate = self.changed.wait(gate).unwrap_or_else(PoisonError::into_inner);
        }
        gate.permits -= 1;
        gate.waiting -= 1;
        drop(gate);
        let written = self.inner.write(batch, sync);
        self.gate().done += 1;
        self.changed.notify_all();
        written
    }

    fn stale(&self) -> bool {
        self.stale.load(Ordering::SeqCst)
    }
}
