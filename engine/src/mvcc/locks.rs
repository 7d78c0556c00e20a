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
//! A lock is taken by a [`Taker`]: a subtransaction of the owner's
//! transaction, and the tag waiters wait on (a backend's subtransaction
//! xid). Rolling a subtransaction back ([`LockTable::release_since`])
//! undoes what it and the subtransactions inside it took — a lock taken
//! there goes, an upgrade made there returns to the mode held before — as
//! heap's row locks end with the subtransaction whose xid took them.
//!
//! A lock also says whether its holder *writes* the row (an UPDATE or
//! DELETE holds it) or only locks it (`SELECT … FOR …`): heap's
//! in-progress updater is a row's xmax, a locker's is marked lock-only,
//! and an `INSERT … ON CONFLICT` meeting the row waits only for the former
//! ([`LockTable::writer_tags`]). Marking a lock written is a grant like an
//! upgrade, undone with its subtransaction.
//!
//! Not done: fairness (a waiter can be overtaken by compatible newcomers;
//! backends queue in Postgres's lock manager first).

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

/// Who, inside an owner's transaction, asks for a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Taker {
    /// The subtransaction: 1 is the top level, and one that starts later
    /// has a larger number (Postgres's `SubTransactionId`).
    pub subxact: u32,
    /// What a transaction blocked by the lock waits on.
    pub tag: u64,
    /// The taker changes the row (an UPDATE or DELETE), not only locks it.
    pub writes: bool,
}

/// The subtransaction id of a transaction's top level (Postgres's
/// `TopSubTransactionId`; 0 from a requester that names none).
const TOP_LEVEL: u32 = 1;

/// An owner's lock on a key: its mode, whether the owner writes the row,
/// and the tag of the taker that made it that strong or marked it written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hold {
    owner: Owner,
    mode: LockMode,
    tag: u64,
    writes: bool,
}

/// What a grant changed, to undo it when its subtransaction rolls back.
#[derive(Debug)]
struct Change {
    subxact: u32,
    key: Vec<u8>,
    /// The mode, tag and write mark held before (none: the grant took
    /// the lock).
    before: Option<(LockMode, u64, bool)>,
}

/// Every lock of one range, and who waits for what.
#[derive(Debug, Default)]
pub struct LockTable {
    /// key → its holders.
    keys: HashMap<Vec<u8>, Vec<Hold>>,
    /// owner → the keys it holds, to release them at its end.
    held: HashMap<Owner, Vec<Vec<u8>>>,
    /// owner → its subtransactions' grants that changed something, oldest
    /// first.
    changes: HashMap<Owner, Vec<Change>>,
    /// owner → the key and mode it waits for.
    waiting: HashMap<Owner, (Vec<u8>, LockMode)>,
}

impl LockTable {
    pub fn new() -> LockTable {
        LockTable::default()
    }

    /// Asks for `mode` on `key` for `owner`, as `taker`.
    pub fn acquire(&mut self, owner: Owner, key: &[u8], mode: LockMode, taker: Taker) -> Acquire {
        let holders = self.blockers(owner, key, mode);
        if holders.is_empty() {
            self.waiting.remove(&owner);
            let entry = self.keys.entry(key.to_vec()).or_default();
            let before = match entry.iter_mut().find(|h| h.owner == owner) {
                Some(held) if held.mode >= mode && (held.writes || !taker.writes) => return Acquire::Granted,
                Some(held) => {
                    let before = (held.mode, held.tag, held.writes);
                    held.mode = held.mode.max(mode);
                    held.tag = taker.tag;
                    held.writes |= taker.writes;
                    Some(before)
                }
                None => {
                    entry.push(Hold { owner, mode, tag: taker.tag, writes: taker.writes });
                    self.held.entry(owner).or_default().push(key.to_vec());
                    None
                }
            };
            // The top level's grants end only with the transaction
            // (`release_all`): no log, no cost without savepoints.
            if taker.subxact > TOP_LEVEL {
                self.changes.entry(owner).or_default().push(Change { subxact: taker.subxact, key: key.to_vec(), before });
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
    pub fn try_acquire(&mut self, owner: Owner, key: &[u8], mode: LockMode, taker: Taker) -> Acquire {
        let holders = self.blockers(owner, key, mode);
        if holders.is_empty() {
            return self.acquire(owner, key, mode, taker);
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
        self.changes.remove(&owner);
        let keys = self.held.remove(&owner).unwrap_or_default();
        for key in &keys {
            self.drop_hold(owner, key);
        }
        keys.len()
    }

    /// Undoes what `owner`'s subtransaction `subxact` and those inside it
    /// took (it rolled back): their locks go, their upgrades return to the
    /// mode held before. Returns how many grants it undid.
    pub fn release_since(&mut self, owner: Owner, subxact: u32) -> usize {
        let Some(changes) = self.changes.get_mut(&owner) else { return 0 };
        // Everything taken since the subtransaction began is a suffix of
        // the log: a subtransaction that began earlier and is still open
        // encloses it, so has a smaller number.
        let from = changes.iter().rposition(|c| c.subxact < subxact).map_or(0, |i| i + 1);
        let undone: Vec<Change> = changes.drain(from..).collect();
        for change in undone.iter().rev() {
            match change.before {
                Some((mode, tag, writes)) => {
                    if let Some(held) =
                        self.keys.get_mut(&change.key).and_then(|hs| hs.iter_mut().find(|h| h.owner == owner))
                    {
                        (held.mode, held.tag, held.writes) = (mode, tag, writes);
                    }
                }
                None => {
                    self.drop_hold(owner, &change.key);
                    if let Some(keys) = self.held.get_mut(&owner) {
                        if let Some(i) = keys.iter().rposition(|k| *k == change.key) {
                            keys.swap_remove(i);
                        }
                    }
                }
            }
        }
        undone.len()
    }

    /// Removes `owner` from `key`'s holders.
    fn drop_hold(&mut self, owner: Owner, key: &[u8]) {
        if let Some(holders) = self.keys.get_mut(key) {
            holders.retain(|h| h.owner != owner);
            if holders.is_empty() {
                self.keys.remove(key);
            }
        }
    }

    /// The mode `owner` holds on `key`, if any.
    pub fn held_mode(&self, owner: Owner, key: &[u8]) -> Option<LockMode> {
        self.keys.get(key)?.iter().find(|h| h.owner == owner).map(|h| h.mode)
    }

    /// How many keys are locked.
    pub fn locked_keys(&self) -> usize {
        self.keys.len()
    }

    /// The other owners whose modes on `key` conflict with `mode`.
    pub fn blockers(&self, owner: Owner, key: &[u8], mode: LockMode) -> Vec<Owner> {
        self.conflicting(owner, key, mode).map(|h| h.owner).collect()
    }

    /// The tags of the takers of the locks on `key` that conflict with
    /// `mode` for `owner`: what a blocked transaction waits on.
    pub fn blocking_tags(&self, owner: Owner, key: &[u8], mode: LockMode) -> Vec<u64> {
        self.conflicting(owner, key, mode).map(|h| h.tag).collect()
    }

    /// The tags of the holders of `key` other than `owner` that write the
    /// row (not those that only lock it).
    pub fn writer_tags(&self, owner: Owner, key: &[u8]) -> Vec<u64> {
        self.keys.get(key).into_iter().flatten().filter(|h| h.owner != owner && h.writes).map(|h| h.tag).collect()
    }

    fn conflicting(&self, owner: Owner, key: &[u8], mode: LockMode) -> impl Iterator<Item = &Hold> {
        self.keys.get(key).into_iter().flatten().filter(move |h| h.owner != owner && h.mode.conflicts_with(mode))
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

    const TOP: Taker = Taker { subxact: 1, tag: 0, writes: false };

    fn taker(subxact: u32) -> Taker {
        Taker { subxact, tag: 100 + u64::from(subxact), writes: false }
    }

    fn writer(subxact: u32) -> Taker {
        Taker { writes: true, ..taker(subxact) }
    }

    /// A lock marked written — by the grant that took it or later, on a
    /// lock held already — names its holder to `writer_tags`; a lock taken
    /// only to lock does not. A mark made in a subtransaction goes with
    /// its rollback, and the tag waiters wait on with it.
    #[test]
    fn writer_tags_name_the_holders_that_write() {
        let mut t = LockTable::new();
        assert_eq!(t.acquire(1, b"locked", Update, taker(1)), Acquire::Granted);
        assert_eq!(t.acquire(2, b"written", NoKeyUpdate, writer(1)), Acquire::Granted);
        assert_eq!(t.writer_tags(3, b"locked"), Vec::<u64>::new());
        assert_eq!(t.writer_tags(3, b"written"), vec![101]);
        // The holder itself is not named to itself.
        assert_eq!(t.writer_tags(2, b"written"), Vec::<u64>::new());
        // FOR UPDATE, then an UPDATE in subtransaction 2: marked, and its
        // tag is the subtransaction's; rolled back, a locker again.
        assert_eq!(t.acquire(1, b"locked", NoKeyUpdate, writer(2)), Acquire::Granted);
        assert_eq!(t.held_mode(1, b"locked"), Some(Update));
        assert_eq!(t.writer_tags(3, b"locked"), vec![102]);
        assert_eq!(t.blocking_tags(3, b"locked", KeyShare), vec![102]);
        assert_eq!(t.release_since(1, 2), 1);
        assert_eq!(t.writer_tags(3, b"locked"), Vec::<u64>::new());
        assert_eq!(t.blocking_tags(3, b"locked", KeyShare), vec![101]);
        // A mark on a lock marked already changes nothing to undo.
        assert_eq!(t.acquire(2, b"written", KeyShare, writer(3)), Acquire::Granted);
        assert_eq!(t.release_since(2, 3), 0);
        assert_eq!(t.writer_tags(3, b"written"), vec![101]);
        t.release_all(1);
        t.release_all(2);
        assert_eq!(t.locked_keys(), 0);
    }

    /// A subtransaction's rollback undoes its grants and its inner ones',
    /// and nothing from before it: a lock taken there goes, an upgrade
    /// returns to the mode (and the tag to wait on) held before; a
    /// released (committed) inner subtransaction's grants go with its
    /// parent's.
    #[test]
    fn a_rolled_back_subtransaction_s_locks_go() {
        let mut t = LockTable::new();
        assert_eq!(t.acquire(1, b"a", Share, taker(1)), Acquire::Granted);
        assert_eq!(t.acquire(1, b"b", KeyShare, taker(2)), Acquire::Granted);
        // Subtransaction 3 (inside 2) upgrades a and takes c, then is released.
        assert_eq!(t.acquire(1, b"a", Update, taker(3)), Acquire::Granted);
        assert_eq!(t.acquire(1, b"c", Update, taker(3)), Acquire::Granted);
        // A weaker request changes nothing (and is not undone).
        assert_eq!(t.acquire(1, b"a", KeyShare, taker(4)), Acquire::Granted);
        assert_eq!(t.blocking_tags(2, b"a", KeyShare), vec![103]);
        assert_eq!(t.release_since(1, 4), 0);
        assert_eq!(t.held_mode(1, b"a"), Some(Update));
        // Rolling back 2 undoes 3's grants too.
        assert_eq!(t.release_since(1, 2), 3);
        assert_eq!(t.held_mode(1, b"a"), Some(Share));
        assert_eq!(t.held_mode(1, b"b"), None);
        assert_eq!(t.held_mode(1, b"c"), None);
        assert_eq!(t.acquire(2, b"a", KeyShare, TOP), Acquire::Granted);
        assert_eq!(t.blocking_tags(2, b"a", Update), vec![101]);
        assert_eq!(t.acquire(2, b"c", Update, TOP), Acquire::Granted);
        // What is left goes at the end, and the log with it.
        assert_eq!(t.release_all(1), 1);
        assert_eq!(t.release_since(1, 1), 0);
        t.release_all(2);
        assert_eq!(t.locked_keys(), 0);
    }

    /// A waiter for a lock a subtransaction took can have it once that
    /// subtransaction rolls back, while the owner keeps its older locks.
    #[test]
    fn a_waiter_gets_a_lock_a_rolled_back_subtransaction_held() {
        let mut t = LockTable::new();
        assert_eq!(t.acquire(1, b"a", Update, taker(1)), Acquire::Granted);
        assert_eq!(t.acquire(1, b"b", Update, taker(2)), Acquire::Granted);
        assert_eq!(t.acquire(2, b"b", Share, TOP), Acquire::Blocked { holders: vec![1] });
        assert_eq!(t.release_since(1, 2), 1);
        assert_eq!(t.acquire(2, b"b", Share, TOP), Acquire::Granted);
        assert_eq!(t.try_acquire(2, b"a", Share, TOP), Acquire::Blocked { holders: vec![1] });
    }

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
        assert_eq!(t.acquire(1, b"r", NoKeyUpdate, TOP), Acquire::Granted);
        assert_eq!(t.acquire(2, b"r", KeyShare, TOP), Acquire::Granted);
        assert_eq!(t.acquire(3, b"r", Share, TOP), Acquire::Blocked { holders: vec![1] });
        assert_eq!(t.release_all(1), 1);
        assert_eq!(t.acquire(3, b"r", Share, TOP), Acquire::Granted);
        assert_eq!(t.held_mode(3, b"r"), Some(Share));
        t.release_all(2);
        t.release_all(3);
        assert_eq!(t.locked_keys(), 0);
    }

    #[test]
    fn an_owner_upgrades_its_own_lock() {
        let mut t = LockTable::new();
        assert_eq!(t.acquire(1, b"r", Share, TOP), Acquire::Granted);
        assert_eq!(t.acquire(1, b"r", Update, TOP), Acquire::Granted);
        assert_eq!(t.acquire(1, b"r", KeyShare, TOP), Acquire::Granted);
        assert_eq!(t.held_mode(1, b"r"), Some(Update));
        assert_eq!(t.acquire(2, b"r", KeyShare, TOP), Acquire::Blocked { holders: vec![1] });
    }

    #[test]
    fn the_request_closing_a_cycle_is_the_deadlock_victim() {
        let mut t = LockTable::new();
        t.acquire(1, b"a", Update, TOP);
        t.acquire(2, b"b", Update, TOP);
        t.acquire(3, b"c", Update, TOP);
        assert!(matches!(t.acquire(1, b"b", Update, TOP), Acquire::Blocked { .. }));
        assert!(matches!(t.acquire(2, b"c", Update, TOP), Acquire::Blocked { .. }));
        assert_eq!(t.acquire(3, b"a", Update, TOP), Acquire::Deadlock);
        // The victim aborts; the others proceed in turn.
        t.release_all(3);
        assert_eq!(t.acquire(2, b"c", Update, TOP), Acquire::Granted);
        t.release_all(2);
        assert_eq!(t.acquire(1, b"b", Update, TOP), Acquire::Granted);
    }

    #[test]
    fn a_caller_that_will_not_wait_is_never_a_deadlock_victim() {
        let mut table = LockTable::new();
        assert_eq!(table.acquire(1, b"a", LockMode::Update, TOP), Acquire::Granted);
        assert_eq!(table.acquire(2, b"b", LockMode::Update, TOP), Acquire::Granted);
        assert!(matches!(table.acquire(2, b"a", LockMode::Update, TOP), Acquire::Blocked { .. }));
        // 1 asking for b would close the cycle, but it does not wait.
        assert_eq!(table.try_acquire(1, b"b", LockMode::Update, TOP), Acquire::Blocked { holders: vec![2] });
        assert_eq!(table.try_acquire(1, b"c", LockMode::Update, TOP), Acquire::Granted);
        // 2 still waits for 1, and nothing waits for 2.
        table.release_all(1);
        assert_eq!(table.acquire(2, b"a", LockMode::Update, TOP), Acquire::Granted);
    }

    #[test]
    fn share_upgrades_on_both_sides_deadlock() {
        let mut t = LockTable::new();
        t.acquire(1, b"r", Share, TOP);
        t.acquire(2, b"r", Share, TOP);
        assert!(matches!(t.acquire(1, b"r", Update, TOP), Acquire::Blocked { .. }));
        assert_eq!(t.acquire(2, b"r", Update, TOP), Acquire::Deadlock);
    }

    #[test]
    fn a_waiter_that_gives_up_leaves_the_graph() {
        let mut t = LockTable::new();
        t.acquire(1, b"a", Update, TOP);
        t.acquire(2, b"b", Update, TOP);
        assert!(matches!(t.acquire(1, b"b", Update, TOP), Acquire::Blocked { .. }));
        t.stop_waiting(1);
        assert!(matches!(t.acquire(2, b"a", Update, TOP), Acquire::Blocked { .. }));
    }
}
