//! Unique entries claimed a statement at a time.
//!
//! A row's entry in a unique lyra_index is claimed on the node — its key
//! locked, and 23505 if a live entry of another row is there
//! ([`txn::claim_entry`]). Claimed row by row, that was a round trip per
//! row and index: `INSERT … SELECT` and COPY into a table with a primary
//! key ran 60 times slower than on heap. A claim whose key the transaction
//! has not written yet is now deferred: the entry goes into the write
//! buffer at once, and the statement's claims go to the node together
//! (`LockRows`, at most [`CLAIMS_PER_REQUEST`] a request) when it ends —
//! at the end of its executor (before its AFTER triggers fire, and again
//! after, for the rows a data-modifying `WITH` inserted then), of a utility
//! statement (COPY), of a subtransaction, and before the commit — each
//! in the subtransaction that inserted it, where a failed claim raises
//! what its insert would have; before the commit, all that are left. A claim
//! the node cannot grant at once (another transaction holds the key) is
//! then made as before, waiting in Postgres's lock manager for the holder.
//!
//! A key the transaction wrote already (an earlier row of its own, or one
//! it deleted) is claimed at once, against what it wrote, as before.
//!
//! What a user can tell: a statement that inserts a duplicate still fails
//! with 23505 naming the key, but at its end rather than at the row, so
//! the BEFORE ROW triggers of the rows after it (and COPY's AFTER ROW
//! triggers) have run — what they did non-transactionally (a NOTICE, a
//! sequence's `nextval`) remains, the rest rolls back with the statement —
//! and COPY's error names the key but not its line.
//! Two transactions inserting the same key meet when the first ends its
//! statement, not at its row.

use std::cell::RefCell;

use lyra_cluster::protocol::RowLocked;
use lyra_engine::keys::memcmp::entry_row_id;
use lyra_engine::keys::RowId;
use pgrx::pg_sys;

use crate::txn;

/// The most claims one request carries: a statement inserting more makes
/// them as it goes.
const CLAIMS_PER_REQUEST: usize = 1024;

/// A unique entry inserted, not claimed yet.
struct Claim {
    key: Vec<u8>,
    /// The row the entry names.
    row: RowId,
    index: pg_sys::Oid,
    heap: pg_sys::Oid,
    /// The (sub)transaction that inserted it ([`txn::lock_taker`]): the
    /// lock is its, as if taken then.
    taker: (u64, u32),
}

thread_local! {
    static CLAIMS: RefCell<Claims> = const { RefCell::new(Claims { claims: Vec::new(), run: 0 }) };
}

struct Claims {
    claims: Vec<Claim>,
    /// How many of the last claims deferred are of one subtransaction.
    run: usize,
}

/// Defers the claim of the unique entry `key` of `row` in `index`, which
/// the caller writes to the buffer now.
///
/// # Safety
/// `index` and `heap` are open relations, inside a transaction.
pub unsafe fn defer(index: pg_sys::Relation, heap: pg_sys::Relation, key: &[u8], row: RowId) {
    let claim = Claim { key: key.to_vec(), row, index: (*index).rd_id, heap: (*heap).rd_id, taker: txn::lock_taker() };
    let full = CLAIMS.with(|c| {
        let mut c = c.borrow_mut();
        let same = c.claims.last().is_some_and(|last| last.taker.1 == claim.taker.1);
        c.run = if same { c.run + 1 } else { 1 };
        c.claims.push(claim);
        c.run >= CLAIMS_PER_REQUEST
    });
    if full {
        make();
    }
}

/// Whether claims wait to be made.
pub fn pending() -> bool {
    CLAIMS.with(|c| !c.borrow().claims.is_empty())
}

/// Drops the claims of subtransaction `subxact` and those inside it (all:
/// `None`), which rolled back — and their entries with them.
pub fn forget(subxact: Option<pg_sys::SubTransactionId>) {
    CLAIMS.with(|c| {
        let mut c = c.borrow_mut();
        match subxact {
            Some(subxact) => c.claims.retain(|claim| claim.taker.1 < subxact),
            None => c.claims.clear(),
        }
        c.run = 0;
    });
}

/// Makes the deferred claims of the current subtransaction, in the order
/// the entries were inserted: raises for the first that meets another
/// row's entry, as its insert would have. Those of enclosing
/// subtransactions wait for their own statements' ends (a statement run
/// inside a subtransaction — a trigger's exception block — must not raise,
/// and have caught, a duplicate of the statement around it).
///
/// # Safety
/// Inside a transaction that holds the claims' relations locked.
pub unsafe fn make() {
    let current = pg_sys::GetCurrentSubTransactionId();
    make_those(|claim| claim.taker.1 == current);
}

/// Makes every deferred claim, whatever its subtransaction: before the
/// commit, nothing may be left unclaimed.
///
/// # Safety
/// As [`make`].
pub unsafe fn make_all() {
    make_those(|_| true);
}

unsafe fn make_those(now: impl Fn(&Claim) -> bool) {
    let claims = CLAIMS.with(|c| {
        let mut c = c.borrow_mut();
        c.run = 0;
        let (those, later): (Vec<Claim>, Vec<Claim>) = std::mem::take(&mut c.claims).into_iter().partition(|claim| now(claim));
        c.claims = later;
        those
    });
    if claims.is_empty() {
        return;
    }
    let keys: Vec<(&[u8], (u64, u32))> = claims.iter().map(|c| (c.key.as_slice(), c.taker)).collect();
    let answers = txn::claim_entries(&keys);
    for (claim, answer) in claims.iter().zip(answers) {
        let locked = match answer {
            Ok(locked) => locked,
            Err(_holders) => wait_and_claim(claim),
        };
        let existing = locked.value.as_deref().map(|value| entry_row_id(&claim.key, value));
        if let Some(other) = existing.filter(|other| *other != Some(claim.row)) {
            let conflict = other.map(|other| (locked.latest_ts, other));
            let index = pg_sys::index_open(claim.index, pg_sys::NoLock as pg_sys::LOCKMODE);
            let heap = pg_sys::table_open(claim.heap, pg_sys::NoLock as pg_sys::LOCKMODE);
            let described = super::row_key(index, heap, claim.row);
            without_copy_line();
            super::refuse_duplicate(index, heap, &claim.key, conflict, described);
        }
    }
}

/// Leaves COPY's "line N" out of the error about to be raised: a claim's
/// row is one of the lines before (claims made mid-COPY, a request's worth
/// at a time), or the claims are made once COPY has read every line.
unsafe fn without_copy_line() {
    let copy_line: unsafe extern "C-unwind" fn(*mut std::ffi::c_void) = CopyFromErrorCallback;
    let mut link = &raw mut pg_sys::error_context_stack;
    while !(*link).is_null() {
        if (**link).callback.is_some_and(|callback| std::ptr::fn_addr_eq(callback, copy_line)) {
            // The frame is unlinked for this error only: an error handler
            // restores the stack it saved.
            *link = (**link).previous;
        } else {
            link = &raw mut (**link).previous;
        }
    }
}

extern "C-unwind" {
    /// COPY FROM's error context ("COPY t, line N"), by its own address
    /// (pgrx's binding is a wrapper).
    fn CopyFromErrorCallback(arg: *mut std::ffi::c_void);
}

/// The claim, made again waiting for the transactions that hold its key.
unsafe fn wait_and_claim(claim: &Claim) -> RowLocked {
    let heap = pg_sys::table_open(claim.heap, pg_sys::NoLock as pg_sys::LOCKMODE);
    let (block, offset) = claim.row.to_tid();
    let mut tid = pg_sys::ItemPointerData::default();
    pgrx::itemptr::item_pointer_set_all(&mut tid, block, offset);
    let locked = txn::claim_entry_for(&claim.key, heap, &mut tid, claim.taker);
    pg_sys::table_close(heap, pg_sys::NoLock as pg_sys::LOCKMODE);
    locked
}
