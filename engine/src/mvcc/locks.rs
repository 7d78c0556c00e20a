//! Row locks held until the end of a transaction: what makes concurrent
//! writers of one row wait for each other (Postgres's tuple locks), and
//! what `SELECT … FOR UPDATE / SHARE` takes.
//!
//! A transaction locks a key before it updates or deletes it (the rows it
//! inserts are new keys nobody else can name). The lock table is in memory
//! on the range leader, as TiKV's in-memory pessimistic locks are: if it is
//! lost (a restart), the commit-time check against the timestamp at which
//! the lock was taken (`Mvcc::one_phase_commit_checked`) still refuses a lost
//! update, so losing locks costs at most a serialization failure, never a
//! wrong result.
//!
//! The four modes and their conflicts are Postgres's (`FOR KEY SHARE` is
//! compatible with `FOR NO KEY UPDATE`, which is what a non-key UPDATE
//! takes):
//!
//! ```text
//!                    KeyShare  Share  NoKeyUpdate  Update
//!   KeyShare                                          ×
//!   Share                             ×               ×
//!   NoKeyUpdate               ×       ×               ×
//!   Update              ×     ×       ×               ×
//! ```
//!
//! A request that conflicts is *blocked*; the caller waits (elsewhere: this
//! module has no threads or clocks) and asks again. While it waits it is in
//! the wait-for graph, and a request whose wait would close a cycle gets
//! [`Acquire::Deadlock`] instead — so a deadlock is reported to the
//! transaction that closed it, at once.
//!
//! Not done: fairness (a waiter can be overtaken by compatible newcomers),
//! releasing the locks of a rolled-back subtransaction before the end of
//! its top-level transaction.

use std::collections::{HashMap, HashSet};

/// Who holds or waits for locks: one transaction (the node uses its
/// connection's id; a connection runs one transaction at a time).
pub type Owner = u64;

/// Postgres's row lock strengths, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LockMode {
    KeyShare,
    Share,
    NoKeyUpdate,
    Update,
}

impl LockMode {
    /// Whether two owners may hold these modes on one key at once.
    pub fn conflicts_with(self, other: LockMode) -> bool {
        use LockMode::*;
        match (self, other) {
            (Update, _) | (_, Update) => true,
            (NoKeyUpdate, Share | NoKeyUpdate) | (Share, NoKeyUpdate) => true,
            _ => false,
        }
    }
}

/// The answer to a lock request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquire {
    /// Held now (perhaps already was, in this or a stronger mode).
    Granted,
    /// Others hold conflicting modes; the requester is now waiting.
    Blocked { holders: Vec<Owner> },
    /// Waiting would close a cycle in the wait-for graph; the requester is
    /// not waiting and should abort.
    Deadlock,
}

/// Every lock of one range, and who waits for what.
#[derive(Debug, Default)]
pub struct LockTable {
    /// key → its holders and their modes.
    keys: HashMap<Vec<u8>, Vec<(Owner, LockMode)>>,
    /// owner → the keys it holds, to release them at its end.
    held: HashMap<Owner, Vec<Vec<u8>>>,
    /// owner → the key and mode it waits for.
    waiting: HashMap<Owner, (Vec<u8>, LockMode)>,
}

impl LockTable {
    pub fn new() -> LockTable {
        LockTable::default()
    }

    /// Asks for `mode` on `key` for `owner`.
    pub fn acquire(&mut self, owner: Owner, key: &[u8], mode: LockMode) -> Acquire {
        let holders = self.blockers(owner, key, mode);
        if holders.is_empty() {
            self.waiting.remove(&owner);
            let entry = self.keys.entry(key.to_vec()).or_default();
            match entry.iter_mut().find(|(o, _)| *o == owner) {
                Some((_, held)) => *held = (*held).max(mode),
                None => {
                    entry.push((owner, mode));
                    self.held.entry(owner).or_default().push(key.to_vec());
                }
            }
            return Acquire::Granted;
        }
        if self.reaches(&holders, owner) {
            self.waiting.remove(&owner);
            return Acquire::Deadlock;
        }
        self.waiting.insert(owner, (key.to_vec(), mode));
        Acquire::Blocked { holders }
    }

    /// [`acquire`](Self::acquire) for a caller that will not wait: a
    /// conflict answers `Blocked` and registers no wait, so no deadlock can
    /// come of it (never `Deadlock`).
    pub fn try_acquire(&mut self, owner: Owner, key: &[u8], mode: LockMode) -> Acquire {
        let holders = self.blockers(owner, key, mode);
        if holders.is_empty() {
            return self.acquire(owner, key, mode);
        }
        Acquire::Blocked { holders }
    }

    /// `owner` gave up waiting (timeout, cancel, gone).
    pub fn stop_waiting(&mut self, owner: Owner) {
        self.waiting.remove(&owner);
    }

    /// Releases every lock `owner` holds and its wait; returns how many
    /// locks it held.
    pub fn release_all(&mut self, owner: Owner) -> usize {
        self.waiting.remove(&owner);
        let keys = self.held.remove(&owner).unwrap_or_default();
        for key in &keys {
            if let Some(holders) = self.keys.get_mut(key) {
                holders.retain(|(o, _)| *o != owner);
                if holders.is_empty() {
                    self.keys.remove(key);
                }
            }
        }
        keys.len()
    }

    /// The mode `owner` holds on `key`, if any.
    pub fn held_mode(&self, owner: Owner, key: &[u8]) -> Option<LockMode> {
        self.keys.get(key)?.iter().find(|(o, _)| *o == owner).map(|(_, m)| *m)
    }

    /// How many keys are locked.
    pub fn locked_keys(&self) -> usize {
        self.keys.len()
    }

    /// The other owners whose modes on `key` conflict with `mode`.
    pub fn blockers(&self, owner: Owner, key: &[u8], mode: LockMode) -> Vec<Owner> {
        self.keys
            .get(key)
            .map(|holders| {
                holders
                    .iter()
                    .filter(|(o, held)| *o != owner && held.conflicts_with(mode))
                    .map(|(o, _)| *o)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether `target` is reachable from `from` in the wait-for graph.
    fn reaches(&self, from: &[Owner], target: Owner) -> bool {
        let mut seen = HashSet::new();
        let mut stack = from.to_vec();
        while let Some(owner) = stack.pop() {
            if owner == target {
                return true;
            }
            if !seen.insert(owner) {
                continue;
            }
            if let Some((key, mode)) = self.waiting.get(&owner) {
                stack.extend(self.blockers(owner, key, *mode));
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::LockMode::*;
    use super::*;

    #[test]
    fn the_conflict_matrix_is_postgres_s() {
        let modes = [KeyShare, Share, NoKeyUpdate, Update];
        let expected = [
            [false, false, false, true],
            [false, false, true, true],
            [false, true, true, true],
            [true, true, true, true],
        ];
        for (i, a) in modes.iter().enumerate() {
            for (j, b) in modes.iter().enumerate() {
                assert_eq!(a.conflicts_with(*b), expected[i][j], "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn conflicting_requests_block_until_release() {
        let mut t = LockTable::new();
        assert_eq!(t.acquire(1, b"r", NoKeyUpdate), Acquire::Granted);
        assert_eq!(t.acquire(2, b"r", KeyShare), Acquire::Granted);
        assert_eq!(t.acquire(3, b"r", Share), Acquire::Blocked { holders: vec![1] });
        assert_eq!(t.release_all(1), 1);
        assert_eq!(t.acquire(3, b"r", Share), Acquire::Granted);
        assert_eq!(t.held_mode(3, b"r"), Some(Share));
        t.release_all(2);
        t.release_all(3);
        assert_eq!(t.locked_keys(), 0);
    }

    #[test]
    fn an_owner_upgrades_its_own_lock() {
        let mut t = LockTable::new();
        assert_eq!(t.acquire(1, b"r", Share), Acquire::Granted);
        assert_eq!(t.acquire(1, b"r", Update), Acquire::Granted);
        assert_eq!(t.acquire(1, b"r", KeyShare), Acquire::Granted);
        assert_eq!(t.held_mode(1, b"r"), Some(Update));
        assert_eq!(t.acquire(2, b"r", KeyShare), Acquire::Blocked { holders: vec![1] });
    }

    #[test]
    fn the_request_closing_a_cycle_is_the_deadlock_victim() {
        let mut t = LockTable::new();
        t.acquire(1, b"a", Update);
        t.acquire(2, b"b", Update);
        t.acquire(3, b"c", Update);
        assert!(matches!(t.acquire(1, b"b", Update), Acquire::Blocked { .. }));
        assert!(matches!(t.acquire(2, b"c", Update), Acquire::Blocked { .. }));
        assert_eq!(t.acquire(3, b"a", Update), Acquire::Deadlock);
        // The victim aborts; the others proceed in turn.
        t.release_all(3);
        assert_eq!(t.acquire(2, b"c", Update), Acquire::Granted);
        t.release_all(2);
        assert_eq!(t.acquire(1, b"b", Update), Acquire::Granted);
    }

    #[test]
    fn a_caller_that_will_not_wait_is_never_a_deadlock_victim() {
        let mut table = LockTable::new();
        assert_eq!(table.acquire(1, b"a", LockMode::Update), Acquire::Granted);
        assert_eq!(table.acquire(2, b"b", LockMode::Update), Acquire::Granted);
        assert!(matches!(table.acquire(2, b"a", LockMode::Update), Acquire::Blocked { .. }));
        // 1 asking for b would close the cycle, but it does not wait.
        assert_eq!(table.try_acquire(1, b"b", LockMode::Update), Acquire::Blocked { holders: vec![2] });
        assert_eq!(table.try_acquire(1, b"c", LockMode::Update), Acquire::Granted);
        // 2 still waits for 1, and nothing waits for 2.
        table.release_all(1);
        assert_eq!(table.acquire(2, b"a", LockMode::Update), Acquire::Granted);
    }

    #[test]
    fn share_upgrades_on_both_sides_deadlock() {
        let mut t = LockTable::new();
        t.acquire(1, b"r", Share);
        t.acquire(2, b"r", Share);
        assert!(matches!(t.acquire(1, b"r", Update), Acquire::Blocked { .. }));
        assert_eq!(t.acquire(2, b"r", Update), Acquire::Deadlock);
    }

    #[test]
    fn a_waiter_that_gives_up_leaves_the_graph() {
        let mut t = LockTable::new();
        t.acquire(1, b"a", Update);
        t.acquire(2, b"b", Update);
        assert!(matches!(t.acquire(1, b"b", Update), Acquire::Blocked { .. }));
        t.stop_waiting(1);
        assert!(matches!(t.acquire(2, b"a", Update), Acquire::Blocked { .. }));
    }
}
