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
//! A SERIALIZABLE transaction ([`Transaction::serializable`]) also
//! remembers the spans it read; before its commit point it refreshes them
//! ([`Mvcc::refresh`]) up to `commit_ts`, and fails with `ReadConflict` if
//! anything in them changed since `start_ts` — so write skew cannot commit.
//! A read-only transaction needs no refresh: it is serializable at its
//! snapshot.
//!
//! Not done yet: savepoints, lock heartbeats (a transaction longer than its
//! TTL can be rolled back under it).

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
    /// SERIALIZABLE: the spans read, `[start, end)` (empty end unbounded);
    /// `None` under snapshot isolation.
    reads: Option<Vec<(Vec<u8>, Vec<u8>)>>,
}

impl Transaction {
    /// A transaction reading at `start_ts`, locking with the default TTL.
    pub fn begin(start_ts: Timestamp) -> Transaction {
        Transaction {
            start_ts,
            ttl: DEFAULT_LOCK_TTL,
            writes: BTreeMap::new(),
            reads: None,
        }
    }

    /// Makes the transaction SERIALIZABLE: reads are tracked and refreshed
    /// at commit.
    pub fn serializable(mut self) -> Transaction {
        self.reads = Some(Vec::new());
        self
    }

    /// The spans read so far (SERIALIZABLE only).
    pub fn read_spans(&self) -> &[(Vec<u8>, Vec<u8>)] {
        self.reads.as_deref().unwrap_or_default()
    }

    fn note_read(&mut self, start: &[u8], end: &[u8]) {
        if let Some(reads) = &mut self.reads {
            reads.push((start.to_vec(), end.to_vec()));
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
    pub fn get<E: Engine>(&mut self, mvcc: &Mvcc<E>, key: &[u8]) -> TxnResult<Option<Vec<u8>>> {
        if let Some(own) = self.writes.get(key) {
            return Ok(own.clone());
        }
        let mut end = key.to_vec();
        end.push(0);
        self.note_read(key, &end);
        mvcc.get(key, self.start_ts)
    }

    /// Up to `limit` pairs in `[start, end)` as this transaction sees them,
    /// in key order.
    pub fn scan<E: Engine>(
        &mut self,
        mvcc: &Mvcc<E>,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> TxnResult<Vec<KvPair>> {
        self.scan_in(mvcc, start, end, limit, false)
    }

    /// [`scan`](Self::scan) from the last key down.
    pub fn scan_reverse<E: Engine>(
        &mut self,
        mvcc: &Mvcc<E>,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> TxnResult<Vec<KvPair>> {
        self.scan_in(mvcc, start, end, limit, true)
    }

    fn scan_in<E: Engine>(
        &mut self,
        mvcc: &Mvcc<E>,
        start: &[u8],
        end: &[u8],
        limit: usize,
        reverse: bool,
    ) -> TxnResult<Vec<KvPair>> {
        let own: Vec<_> = self
            .writes
            .iter()
            .filter(|(key, _)| key.as_slice() >= start && (end.is_empty() || key.as_slice() < end))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        // Own deletes may hide up to own.len() stored keys; the stored keys
        // not fetched lie beyond every one fetched, so beyond the result.
        let fetch = limit.saturating_add(own.len());
        let stored = if reverse {
            mvcc.scan_reverse(start, end, self.start_ts, fetch)?
        } else {
            mvcc.scan(start, end, self.start_ts, fetch)?
        };
        let mut merged: BTreeMap<Vec<u8>, Option<Vec<u8>>> = stored
            .into_iter()
            .map(|(key, value)| (key, Some(value)))
            .collect();
        merged.extend(own);
        let visible = merged.into_iter().filter_map(|(key, value)| Some((key, value?)));
        let pairs: Vec<KvPair> = if reverse {
            visible.rev().take(limit).collect()
        } else {
            visible.take(limit).collect()
        };
        // The span read: all of it, or up to the last key a limit stopped at.
        match pairs.last() {
            Some((last, _)) if pairs.len() == limit && reverse => self.note_read(last, end),
            Some((last, _)) if pairs.len() == limit => {
                let mut after = last.clone();
                after.push(0);
                self.note_read(start, &after);
            }
            _ => self.note_read(start, end),
        }
        Ok(pairs)
    }

    /// SERIALIZABLE: checks that nothing read changed between `start_ts`
    /// and `commit_ts` ([`Mvcc::refresh`]). A no-op otherwise.
    pub fn refresh<E: Engine>(&self, mvcc: &Mvcc<E>, commit_ts: Timestamp) -> TxnResult<()> {
        match &self.reads {
            Some(reads) => mvcc.refresh(reads, self.start_ts, self.start_ts, commit_ts),
            None => Ok(()),
        }
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

    /// The whole 2PC flow: prewrite, refresh the reads if SERIALIZABLE
    /// (rolling back if either fails), commit the primary, then the
    /// secondaries.
    pub fn commit<E: Engine>(&self, mvcc: &Mvcc<E>, commit_ts: Timestamp) -> TxnResult<()> {
        if self.writes.is_empty() {
            return Ok(());
        }
        // Refresh after the locks are down, so the written keys cannot move.
        if let Err(err) = self.prewrite(mvcc).and_then(|()| self.refresh(mvcc, commit_ts)) {
            self.rollback(mvcc)?;
            return Err(err);
        }
        self.commit_primary(mvcc, commit_ts)?;
        if let Err(err) = self.commit_secondaries(mvcc, commit_ts) {
            tracing::warn!(txn = %self.start_ts, %err, "secondaries left for resolution");
        }
        Ok(())
    }

    /// The 1PC fast path: every write committed in one batch, no locks,
    /// after the read refresh if SERIALIZABLE.
    pub fn commit_one_phase<E: Engine>(
        &self,
        mvcc: &Mvcc<E>,
        commit_ts: Timestamp,
    ) -> TxnResult<()> {
        if self.writes.is_empty() {
            return Ok(());
        }
        self.refresh(mvcc, commit_ts)?;
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
