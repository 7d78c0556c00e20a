//! Version TIDs: names for one version of a row, for after-row triggers.
//!
//! Heap gives every row version a TID of its own. A Lyra TID names the row
//! (its row id), the same across UPDATE. Postgres's after-trigger queue
//! remembers the versions an event saw by TID — `ate_ctid1` the inserted,
//! deleted or old row (taken from the old slot, which `GetTupleForTrigger`
//! fills with a `SnapshotAny` fetch right after the write), `ate_ctid2` the
//! new row (the new slot's TID) — and fetches them again with `SnapshotAny`
//! when the trigger fires: at the end of the statement, or at COMMIT for a
//! deferred constraint. By row id alone both would be the newest version,
//! and a foreign key's check of an UPDATE of a referenced key would compare
//! the new key with itself.
//!
//! So for a table with after-row triggers, the TIDs handed to those slots
//! are *version TIDs*: offsets past `MaxHeapTuplesPerPage` (no row has
//! one), numbering this transaction's entries in a backend-local table:
//!
//! ```text
//!   (block n / 1757, offset 292 + n % 1757)  →  entry n: row, which version
//!   Before(c)  the version before command c wrote it (the old row)
//!   After(c)   the version command c wrote (the inserted or new row)
//! ```
//!
//! [`row_of`] maps a version TID back to its row wherever a TID is used as
//! a row (index entries, locks, fetches at a snapshot); a `SnapshotAny`
//! fetch by version TID returns that version. The table lives as long as
//! the transaction (deferred triggers fire before `PRE_COMMIT`), and holds
//! one small entry per row written to a table with after-row triggers —
//! the same order as the trigger queue itself.

use std::cell::RefCell;

use lyra_engine::keys::RowId;
use pgrx::pg_sys;

/// Offsets of version TIDs: past every row's (1..=291), within a page's
/// possible line pointers (MaxOffsetNumber, 2048).
const FIRST_OFFSET: u32 = 292;
const PER_BLOCK: u32 = 2048 - FIRST_OFFSET + 1;

/// Which version of a row a version TID names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// As it was before command `c` wrote it.
    Before(pg_sys::CommandId),
    /// As command `c` wrote it.
    After(pg_sys::CommandId),
}

#[derive(Clone, Copy)]
pub struct Version {
    pub row: RowId,
    pub which: Which,
}

thread_local! {
    static VERSIONS: RefCell<Vec<Version>> = const { RefCell::new(Vec::new()) };
}

/// A new version TID for `version`.
pub fn name(version: Version) -> (pg_sys::BlockNumber, pg_sys::OffsetNumber) {
    let n = VERSIONS.with(|v| {
        let mut v = v.borrow_mut();
        v.push(version);
        v.len() as u32 - 1
    });
    (n / PER_BLOCK, (FIRST_OFFSET + n % PER_BLOCK) as pg_sys::OffsetNumber)
}

/// The version a TID names, if it is a version TID of this transaction.
pub fn named(block: pg_sys::BlockNumber, offset: pg_sys::OffsetNumber) -> Option<Version> {
    let offset = u32::from(offset);
    if offset < FIRST_OFFSET {
        return None;
    }
    let n = block.checked_mul(PER_BLOCK)?.checked_add(offset - FIRST_OFFSET)? as usize;
    VERSIONS.with(|v| v.borrow().get(n).copied())
}

/// Forgets every version TID: the transaction ended.
pub fn reset() {
    VERSIONS.with(|v| {
        let mut v = v.borrow_mut();
        v.clear();
        v.shrink_to(1024);
    });
    WRITERS.with(|w| w.borrow_mut().clear());
    JUST_WRITTEN.with(|j| j.borrow_mut().take());
}

thread_local! {
    /// The row the running statement updated or deleted last, and the
    /// command that did: until the next statement starts.
    static JUST_WRITTEN: RefCell<Option<(Vec<u8>, pg_sys::CommandId)>> = const { RefCell::new(None) };
}

/// Command `cid` updated or deleted the row `key`. Right after, Postgres
/// fetches the row's old version with `SnapshotAny` (an after-row
/// trigger's old row, `DELETE … RETURNING`): the version before `cid`,
/// not before the *current* command id, which a BEFORE row trigger's
/// statements have advanced past `cid` by then (its OLD would otherwise
/// be the new row).
pub fn note_write(key: &[u8], cid: pg_sys::CommandId) {
    JUST_WRITTEN.with(|j| *j.borrow_mut() = Some((key.to_vec(), cid)));
}

/// The command of the running statement that last updated or deleted
/// `key`, if it was the statement's last write (see [`note_write`]).
pub fn just_written_by(key: &[u8]) -> Option<pg_sys::CommandId> {
    JUST_WRITTEN.with(|j| j.borrow().as_ref().filter(|(k, _)| k == key).map(|(_, c)| *c))
}

/// A statement starts (its own or one inside a function or trigger):
/// what an earlier one wrote last is not "just written" any more.
pub fn statement_started() {
    JUST_WRITTEN.with(|j| j.borrow_mut().take());
}

thread_local! {
    /// The subtransaction ids that wrote under each command, for the
    /// commands that ran inside a subtransaction (a row's `xmin`).
    static WRITERS: RefCell<std::collections::HashMap<pg_sys::CommandId, pg_sys::TransactionId>> =
        RefCell::new(std::collections::HashMap::new());
}

/// Command `cid` writes a row: inside a subtransaction, remembers that
/// subtransaction's id (taking one, as heap's write would).
pub fn note_writer(cid: pg_sys::CommandId) {
    // SAFETY: plain reads of the backend's transaction state.
    unsafe {
        if pg_sys::GetCurrentTransactionNestLevel() > 1 {
            let xid = pg_sys::GetCurrentTransactionId();
            WRITERS.with(|w| w.borrow_mut().insert(cid, xid));
        }
    }
}

/// The id of the (sub)transaction whose command `cid` wrote a row.
pub fn writer_xid(cid: pg_sys::CommandId) -> pg_sys::TransactionId {
    WRITERS.with(|w| w.borrow().get(&cid).copied())
        // SAFETY: takes the top-level transaction's id, as heap's write would.
        .unwrap_or_else(|| unsafe { pg_sys::GetTopTransactionId() })
}

/// Whether writes to `rel` by `event` (`TRIGGER_EVENT_INSERT`, `_UPDATE`,
/// `_DELETE`) queue after-row triggers that fetch rows by TID.
///
/// # Safety
/// `rel` is an open relation.
pub unsafe fn has_after_row_triggers(rel: pg_sys::Relation, event: u32) -> bool {
    let triggers = (*rel).trigdesc;
    if triggers.is_null() {
        return false;
    }
    match event {
        pg_sys::TRIGGER_EVENT_INSERT => (*triggers).trig_insert_after_row,
        pg_sys::TRIGGER_EVENT_UPDATE => (*triggers).trig_update_after_row,
        pg_sys::TRIGGER_EVENT_DELETE => (*triggers).trig_delete_after_row,
        _ => false,
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use super::*;
    use pgrx::prelude::*;

    #[pg_test]
    fn version_tids_round_trip_and_stay_clear_of_row_tids() {
        reset();
        let version = |n: u64| Version { row: RowId(n), which: Which::After(n as u32) };
        let tids: Vec<_> = (0..5000).map(|n| name(version(n))).collect();
        for (n, &(block, offset)) in tids.iter().enumerate() {
            assert!(u32::from(offset) > 291 && offset <= 2048);
            assert!(RowId::from_tid(block, offset).is_none());
            let got = named(block, offset).expect("named");
            assert_eq!((got.row, got.which), (RowId(n as u64), Which::After(n as u32)));
        }
        assert!(named(0, 1).is_none());
        reset();
        assert!(named(tids[0].0, tids[0].1).is_none());
    }
}
