//! [`Transaction`]: the client side of a Percolator transaction — what a
//! Postgres backend (through the node) will drive.
//!
//! A transaction reads at its `start_ts` snapshot and buffers its writes;
//! reads see its own buffered writes first. At commit it hands the buffer
//! to [`Mvcc`] in one of two ways:
//!
//! ```text
//!   commit (2PC)                          commit_one_phase (1PC)
//!   prewrite all keys, primary = first    one batch: every key's
//!   commit [primary]  @commit_ts  ← point   commit record @commit_ts
//!   commit secondaries @commit_ts
//! ```
//!
//! Each step is also public on its own (`prewrite`, `commit_primary`,
//! `commit_secondaries`) so tests can stop a coordinator between them and
//! watch readers clean up. If prewrite fails, `commit` rolls back every key
//! (rollback is idempotent and marks keys never locked) and returns the
//! error; once the primary is committed the transaction *is* committed,
//! and a failure committing secondaries is left for readers to resolve.
//!
//! The primary is the smallest buffered key. `commit_ts` is the caller's:
//! it should come from the HLC after prewrite, and must respect the max
//! read timestamp rule of [`crate::mvcc`].
//!
//! Not done yet: savepoints, SERIALIZABLE read tracking, lock heartbeats
//! (a transaction longer than its TTL can be rolled back under it).

use std::collections::BTreeMap;

use super::{Mutation, Mvcc};
use crate::error::TxnResult;
use crate::hlc::Timestamp;
use crate::storage::{Engine, KvPair};

/// The default lock TTL, µs: three seconds, as TiKV's default.
pub const DEFAULT_LOCK_TTL: u64 = 3_000_000;

/// A client transaction: a snapshot and a write buffer.
#[derive(Debug, Clone)]
pub struct Transaction {
    start_ts: Timestamp,
    ttl: u64,
    /// Buffered writes: `Some(value)` puts, `None` deletes.
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl Transaction {
    /// A transaction reading at `start_ts`, locking with the default TTL.
    pub fn begin(start_ts: Timestamp) -> Transaction {
        Transaction {
            start_ts,
            ttl: DEFAULT_LOCK_TTL,
            writes: BTreeMap::new(),
        }
    }

    /// Sets the TTL its locks carry, µs.
    pub fn with_ttl(mut self, ttl: u64) -> Transaction {
        self.ttl = ttl;
        self
    }

    /// The snapshot and start timestamp.
    pub fn start_ts(&self) -> Timestamp {
        self.start_ts
    }

    /// Buffers a put.
    pub fn put(&mut self, key: &[u8], value: &[u8]) {
        self.writes.insert(key.to_vec(), Some(value.to_vec()));
    }

    /// Buffers a delete.
    pub fn delete(&mut self, key: &[u8]) {
        self.writes.insert(key.to_vec(), None);
    }

    /// The key's value as this transaction sees it: its own write, else the
    /// snapshot at `start_ts`.
    pub fn get<E: Engine>(&self, mvcc: &Mvcc<E>, key: &[u8]) -> TxnResult<Option<Vec<u8>>> {
        match self.writes.get(key) {
            Some(own) => Ok(own.clone()),
            None => mvcc.get(key, self.start_ts),
        }
    }

    /// Up to `limit` pairs in `[start, end)` as this transaction sees them.
    pub fn scan<E: Engine>(
        &self,
        mvcc: &Mvcc<E>,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> TxnResult<Vec<KvPair>> {
        let own: Vec<_> = self
            .writes
            .iter()
            .filter(|(key, _)| key.as_slice() >= start && (end.is_empty() || key.as_slice() < end))
            .collect();
        // Own deletes may hide up to own.len() stored keys.
        let stored = mvcc.scan(start, end, self.start_ts, limit.saturating_add(own.len()))?;
        let mut merged: BTreeMap<Vec<u8>, Option<Vec<u8>>> = stored
            .into_iter()
            .map(|(key, value)| (key, Some(value)))
            .collect();
        for (key, value) in own {
            merged.insert(key.clone(), value.clone());
        }
        Ok(merged
            .into_iter()
            .filter_map(|(key, value)| Some((key, value?)))
            .take(limit)
            .collect())
    }

    /// The buffered writes, in key order.
    pub fn mutations(&self) -> Vec<Mutation> {
        self.writes
            .iter()
            .map(|(key, value)| match value {
                Some(value) => Mutation::Put(key.clone(), value.clone()),
                None => Mutation::Delete(key.clone()),
            })
            .collect()
    }

    /// The primary key: the smallest written key.
    pub fn primary(&self) -> Option<&[u8]> {
        self.writes.keys().next().map(Vec::as_slice)
    }

    fn keys(&self) -> Vec<Vec<u8>> {
        self.writes.keys().cloned().collect()
    }

    fn secondaries(&self) -> Vec<Vec<u8>> {
        self.writes.keys().skip(1).cloned().collect()
    }

    /// 2PC phase one: lock every key. A transaction with no writes has
    /// nothing to do.
    pub fn prewrite<E: Engine>(&self, mvcc: &Mvcc<E>) -> TxnResult<()> {
        match self.primary() {
            Some(primary) => mvcc.prewrite(&self.mutations(), primary, self.start_ts, self.ttl),
            None => Ok(()),
        }
    }

    /// Commits the primary: the commit point.
    pub fn commit_primary<E: Engine>(&self, mvcc: &Mvcc<E>, commit_ts: Timestamp) -> TxnResult<()> {
        match self.primary() {
            Some(primary) => mvcc.commit(&[primary.to_vec()], self.start_ts, commit_ts),
            None => Ok(()),
        }
    }

    /// Commits every key but the primary.
    pub fn commit_secondaries<E: Engine>(
        &self,
        mvcc: &Mvcc<E>,
        commit_ts: Timestamp,
    ) -> TxnResult<()> {
        mvcc.commit(&self.secondaries(), self.start_ts, commit_ts)
    }

    /// The whole 2PC flow: prewrite (rolling back on failure), commit the
    /// primary, then the secondaries.
    pub fn commit<E: Engine>(&self, mvcc: &Mvcc<E>, commit_ts: Timestamp) -> TxnResult<()> {
        if let Err(err) = self.prewrite(mvcc) {
            self.rollback(mvcc)?;
            return Err(err);
        }
        self.commit_primary(mvcc, commit_ts)?;
        if let Err(err) = self.commit_secondaries(mvcc, commit_ts) {
            tracing::warn!(txn = %self.start_ts, %err, "secondaries left for resolution");
        }
        Ok(())
    }

    /// The 1PC fast path: every write committed in one batch, no locks.
    pub fn commit_one_phase<E: Engine>(
        &self,
        mvcc: &Mvcc<E>,
        commit_ts: Timestamp,
    ) -> TxnResult<()> {
        mvcc.one_phase_commit(&self.mutations(), self.start_ts, commit_ts)
    }

    /// Rolls back every key of the transaction (locked or not).
    pub fn rollback<E: Engine>(&self, mvcc: &Mvcc<E>) -> TxnResult<()> {
        if self.writes.is_empty() {
            return Ok(());
        }
        mvcc.rollback(&self.keys(), self.start_ts)
    }
}
