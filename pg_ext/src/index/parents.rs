//! Foreign-key parents looked up together.
//!
//! Postgres checks each row inserted under a foreign key with its own
//! query, `SELECT 1 FROM ONLY parent WHERE key = $1 FOR KEY SHARE`, fired
//! as an AFTER trigger at the end of the statement (of a COPY, of the
//! transaction for a deferred constraint). On a Lyra parent that is a
//! point lookup of its unique entry that locks the row — a round trip to
//! the node per row: `INSERT … SELECT` of rows referencing 20,000
//! different parents made 20,000 of them. A parent checked once and still
//! held is answered in the backend (`txn::checked_parent`), so only the
//! first check of each parent went to the node.
//!
//! Now the rows a statement inserts note the parent entries their checks
//! will ask for ([`note_inserted`]), and the first check that must ask the
//! node takes the other noted entries of the same index along in its
//! request ([`take`], up to [`PER_REQUEST`]): each found, locked and at
//! the version the check would read becomes a checked parent, and the
//! checks after it need no node. A parent another transaction holds, or
//! one not there, is left to its own check, which waits or fails as
//! before. Locks are taken only for checks that will run: keys of
//! constraints checked on insert and not deferrable, of rows without
//! NULLs in the key, by the check of the same index in the subtransaction
//! that inserted them — a bit before their own check would take them.
//! (A row of `INSERT … ON CONFLICT`, which a conflict may take back,
//! notes none.)
//! The entries are those the parent's unique index holds for the values
//! (its own encoding), so what a check finds through them is the row at
//! that entry, whatever way the check builds its key; a check whose key
//! differs (another unique index over the columns) just asks the node.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use pgrx::pg_sys;

use super::entry::IndexShape;
use super::is_lyra_index;

/// The most entries one check's request takes along.
pub const PER_REQUEST: usize = 1024;

/// The most entries noted and not taken yet; past it rows note none (their
/// checks ask the node one by one).
const PENDING_MAX: usize = 1 << 17;

/// A foreign key whose parents are noted: the child's attributes in the
/// order of the parent's unique index, and that index's shape.
struct ForeignKey {
    columns: Vec<usize>,
    shape: IndexShape,
}

thread_local! {
    static PARENTS: RefCell<Parents> = RefCell::new(Parents::default());
}

#[derive(Default)]
struct Parents {
    /// Each child table's foreign keys, for the transaction.
    keys: HashMap<pg_sys::Oid, Rc<Vec<ForeignKey>>>,
    /// Parent entries noted, with the subtransaction that inserted the row.
    pending: Vec<(Vec<u8>, pg_sys::SubTransactionId)>,
}

/// Notes the parent entries the foreign-key checks of the row `slot` just
/// inserted into `rel` will look up (its attributes are deformed).
///
/// # Safety
/// `rel` is an open Lyra table, `slot` a row of it, inside a transaction.
pub unsafe fn note_inserted(rel: pg_sys::Relation, slot: *mut pg_sys::TupleTableSlot) {
    if !(*(*rel).rd_rel).relhastriggers {
        return;
    }
    let keys = foreign_keys(rel);
    if keys.is_empty() {
        return;
    }
    let natts = (*slot).tts_nvalid as usize;
    let values = std::slice::from_raw_parts((*slot).tts_values, natts);
    let isnull = std::slice::from_raw_parts((*slot).tts_isnull, natts);
    let subxact = pg_sys::GetCurrentSubTransactionId();
    for key in keys.iter() {
        if key.columns.iter().any(|&c| c >= natts || isnull[c]) {
            continue;
        }
        let vals: Vec<pg_sys::Datum> = key.columns.iter().map(|&c| values[c]).collect();
        let nulls = vec![false; vals.len()];
        let (entry, _, constrained) = key.shape.entry(&vals, &nulls, lyra_engine::keys::RowId(0));
        // A parent checked already is answered without the node.
        if !constrained || crate::txn::checked_parent(&entry, key.shape.table).is_some() {
            continue;
        }
        let noted = PARENTS.with(|p| {
            let mut p = p.borrow_mut();
            if p.pending.len() >= PENDING_MAX {
                return false;
            }
            p.pending.push((entry, subxact));
            true
        });
        if !noted {
            return;
        }
    }
}

/// Takes up to `limit` noted entries of the index whose entries start with
/// `prefix`, noted in the current subtransaction, none twice.
///
/// # Safety
/// Inside a transaction.
pub unsafe fn take(prefix: &[u8], limit: usize) -> Vec<Vec<u8>> {
    let subxact = pg_sys::GetCurrentSubTransactionId();
    PARENTS.with(|p| {
        let mut p = p.borrow_mut();
        if p.pending.is_empty() {
            return Vec::new();
        }
        // Moved, not copied: a statement may have noted tens of thousands.
        let mut taken = std::collections::HashSet::new();
        let mut kept = Vec::new();
        for (entry, by) in std::mem::take(&mut p.pending) {
            if taken.len() < limit && by == subxact && entry.starts_with(prefix) {
                taken.insert(entry);
            } else {
                kept.push((entry, by));
            }
        }
        p.pending = kept;
        taken.into_iter().collect()
    })
}

/// Drops the entries noted in subtransaction `subxact` and those inside
/// it, which rolled back; `None`: the transaction ended, and with it what
/// it knew of tables' foreign keys.
pub fn forget(subxact: Option<pg_sys::SubTransactionId>) {
    PARENTS.with(|p| {
        let mut p = p.borrow_mut();
        match subxact {
            Some(subxact) => p.pending.retain(|(_, by)| *by < subxact),
            None => *p = Parents::default(),
        }
    });
}

/// `rel`'s foreign keys whose parents are noted, worked out once a
/// transaction.
unsafe fn foreign_keys(rel: pg_sys::Relation) -> Rc<Vec<ForeignKey>> {
    let oid = (*rel).rd_id;
    if let Some(keys) = PARENTS.with(|p| p.borrow().keys.get(&oid).cloned()) {
        return keys;
    }
    let keys = Rc::new(find_foreign_keys(rel));
    PARENTS.with(|p| p.borrow_mut().keys.insert(oid, Rc::clone(&keys)));
    keys
}

unsafe fn find_foreign_keys(rel: pg_sys::Relation) -> Vec<ForeignKey> {
    let list = pg_sys::RelationGetFKeyList(rel);
    let n = if list.is_null() { 0 } else { (*list).length };
    let mut found = Vec::new();
    for i in 0..n {
        let info = &*(pg_sys::list_nth(list, i) as *const pg_sys::ForeignKeyCacheInfo);
        if !checked_at_insert(rel, info.conoid) {
            continue;
        }
        let parent = pg_sys::relation_open(info.confrelid, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        if crate::tam::is_lyra(parent) {
            found.extend(parent_index(rel, parent, info));
        }
        pg_sys::relation_close(parent, pg_sys::NoLock as pg_sys::LOCKMODE);
    }
    found
}

/// Whether the foreign key `conoid` of `rel` is checked when a row is
/// inserted, not deferrably (its `RI_FKey_check_ins` trigger is enabled).
unsafe fn checked_at_insert(rel: pg_sys::Relation, conoid: pg_sys::Oid) -> bool {
    let triggers = (*rel).trigdesc;
    if triggers.is_null() {
        return false;
    }
    (0..(*triggers).numtriggers as usize).any(|i| {
        let t = &*(*triggers).triggers.add(i);
        t.tgconstraint == conoid
            && t.tgfoid == pg_sys::Oid::from(pg_sys::F_RI_FKEY_CHECK_INS)
            && t.tgenabled != pg_sys::TRIGGER_DISABLED as std::ffi::c_char
            && !t.tgdeferrable
    })
}

/// The parent's immediate unique lyra_index over exactly the key's
/// columns (no expression, no predicate), each of the child column's type.
unsafe fn parent_index(
    child: pg_sys::Relation,
    parent: pg_sys::Relation,
    info: &pg_sys::ForeignKeyCacheInfo,
) -> Option<ForeignKey> {
    let nkeys = info.nkeys as usize;
    let indexes = pg_sys::RelationGetIndexList(parent);
    let count = if indexes.is_null() { 0 } else { (*indexes).length };
    for i in 0..count {
        let index = pg_sys::index_open(pg_sys::list_nth_oid(indexes, i), pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let key = matching_key(child, parent, index, info, nkeys);
        pg_sys::index_close(index, pg_sys::NoLock as pg_sys::LOCKMODE);
        if key.is_some() {
            return key;
        }
    }
    None
}

unsafe fn matching_key(
    child: pg_sys::Relation,
    parent: pg_sys::Relation,
    index: pg_sys::Relation,
    info: &pg_sys::ForeignKeyCacheInfo,
    nkeys: usize,
) -> Option<ForeignKey> {
    let form = &*(*index).rd_index;
    if !is_lyra_index(index)
        || !form.indisunique
        || !form.indimmediate
        || !form.indisvalid
        || form.indnkeyatts as usize != nkeys
        || !pg_sys::RelationGetIndexPredicate(index).is_null()
    {
        return None;
    }
    let indkey = form.indkey.values.as_slice(nkeys);
    let mut columns = Vec::with_capacity(nkeys);
    for &attno in indkey {
        let at = (0..nkeys).find(|&k| info.confkey[k] == attno)?;
        let child_attno = info.conkey[at] as usize;
        let child_type = attribute_type(child, child_attno);
        if child_type != attribute_type(parent, attno as usize) || child_type == pg_sys::InvalidOid {
            return None;
        }
        columns.push(child_attno - 1);
    }
    Some(ForeignKey { columns, shape: IndexShape::of(index, parent) })
}

/// The type of attribute `attno` (1-based; none for a system column).
unsafe fn attribute_type(rel: pg_sys::Relation, attno: usize) -> pg_sys::Oid {
    let desc = (*rel).rd_att;
    if attno == 0 || attno > (*desc).natts as usize {
        return pg_sys::InvalidOid;
    }
    (*(*desc).attrs.as_ptr().add(attno - 1)).atttypid
}
