//! Lyra indexes answer to btree's operator classes.
//!
//! Postgres 15 insists on btree where a Lyra table needs it most: a
//! foreign key may only reference columns covered by a unique index whose
//! operator classes belong to btree (`ATAddForeignKeyConstraint` reads the
//! index's `pg_index.indclass` and refuses any other access method's
//! class). lyra_index has classes of its own (`sql/lyra_am.sql`) because
//! `CREATE INDEX … USING lyra_index` accepts only classes of that method;
//! they carry btree's names (`int4_ops`, `text_pattern_ops`, …), and the
//! moment such an index is created — its catalog rows written, before it
//! is built — [`rebind`] points each key column's class at btree's class
//! of the same name:
//!
//! ```text
//!   CREATE INDEX … USING lyra_index (id)     indclass = lyra.int4_ops (lyra_index)
//!   object_access_hook, OAT_POST_CREATE  →   indclass = int4_ops (btree)
//! ```
//!
//! Nothing changes in meaning: both classes have the same five operators
//! under btree's strategy numbers and the same comparison function, and
//! the entries are encoded from the column's type either way. btree's
//! families are wider: they relate types across a family (int4 with int8,
//! date with timestamp, name with text), so the planner may hand an index
//! scan a key of another type than its column; the scan narrows its range
//! only by keys whose type encodes like the column's
//! ([`super::entry::encodes_like`]), and the executor rechecks every row.
//!
//! The same hook adopts a *btree* index created on a Lyra table by a path
//! the utility hook does not see — a partition's copy of its partitioned
//! parent's index, `CREATE TABLE … (LIKE … INCLUDING INDEXES)` — by making
//! its access method lyra_index before it is built; its classes are
//! btree's already. The rows are changed in place: they were written by
//! the command still running, and `index_create` builds the index's cache
//! entry from them at its next command counter increment.
//!
//! Its `pg_depend` entries on the lyra_index classes go (btree's are
//! pinned, so an index on them records none, as on heap); the table still
//! depends on the `lyra` access method, which keeps `DROP EXTENSION lyra`
//! from going without CASCADE. `pg_get_indexdef` prints a class only where
//! heap's would (`text_pattern_ops`), and recreating the index from that
//! text comes through here again.

use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::error::raise;

/// What an index being created on a table is, for [`adopt`].
pub enum NewIndex {
    /// A lyra_index: bind its classes to btree's.
    Lyra,
    /// A btree on a Lyra table, made by a path the utility hook does not
    /// see (a partition's copy of its parent's index, `CREATE TABLE …
    /// (LIKE … INCLUDING INDEXES)`): make it a lyra_index too.
    BtreeOnLyra,
}

/// Binds the just-created index `index_oid` to btree's operator classes,
/// and makes it a lyra_index if it was a btree (see [`NewIndex`]).
///
/// Its catalog rows were written by the current command, so they are
/// changed in place (same sizes), found with a snapshot that sees this
/// command's own rows; the index's cache entry is built from them at the
/// command counter increment that `index_create` does next.
///
/// # Safety
/// Called from the post-create hook of an index whose catalog rows this
/// command wrote.
pub unsafe fn adopt(index_oid: pg_sys::Oid, kind: NewIndex) {
    if let NewIndex::BtreeOnLyra = kind {
        let am = pg_sys::get_index_am_oid(c"lyra_index".as_ptr(), false);
        let by = pg_sys::Anum_pg_class_oid;
        with_new_row(pg_sys::RelationRelationId, pg_sys::ClassOidIndexId, by, index_oid, true, |_, tuple| {
            (*(pg_sys::GETSTRUCT(tuple) as *mut pg_sys::FormData_pg_class)).relam = am;
        });
    }
    let mut rebound = false;
    let by = pg_sys::Anum_pg_index_indexrelid;
    with_new_row(pg_sys::IndexRelationId, pg_sys::IndexRelidIndexId, by, index_oid, true, |rel, tuple| {
        let mut isnull = false;
        let datum = pg_sys::heap_getattr(tuple, pg_sys::Anum_pg_index_indclass as i32, (*rel).rd_att, &mut isnull);
        let classes = datum.cast_mut_ptr::<pg_sys::oidvector>();
        let n = (*classes).dim1 as usize;
        for class in (*classes).values.as_mut_slice(n) {
            if let Some(btree) = btree_class(*class) {
                rebound |= btree != *class;
                *class = btree;
            }
        }
    });
    if rebound {
        // btree's classes are pinned: an index on them records no
        // dependency on its classes, as on heap.
        pg_sys::deleteDependencyRecordsForClass(
            pg_sys::RelationRelationId,
            index_oid,
            pg_sys::OperatorClassRelationId,
            pg_sys::DependencyType::DEPENDENCY_NORMAL as std::ffi::c_char,
        );
    }
}

/// The table the just-created index `index_oid` is on.
///
/// # Safety
/// As [`adopt`].
pub unsafe fn table_of_new_index(index_oid: pg_sys::Oid) -> pg_sys::Oid {
    let mut table = pg_sys::InvalidOid;
    let by = pg_sys::Anum_pg_index_indexrelid;
    with_new_row(pg_sys::IndexRelationId, pg_sys::IndexRelidIndexId, by, index_oid, false, |_, tuple| {
        table = (*(pg_sys::GETSTRUCT(tuple) as *mut pg_sys::FormData_pg_index)).indrelid;
    });
    table
}

/// Finds the row `oid` of catalog `catalog` (through its index `by`, on
/// attribute `attno`) as this command sees it and hands a copy to `visit`;
/// if `write`, the copy (edited without changing its size) replaces the
/// row in place.
unsafe fn with_new_row(
    catalog: pg_sys::Oid,
    by: u32,
    attno: u32,
    oid: pg_sys::Oid,
    write: bool,
    visit: impl FnOnce(pg_sys::Relation, pg_sys::HeapTuple),
) {
    let rel = pg_sys::table_open(catalog, pg_sys::RowExclusiveLock as i32);
    let mut key = pg_sys::ScanKeyData::default();
    pg_sys::ScanKeyInit(
        &mut key,
        attno as pg_sys::AttrNumber,
        pg_sys::BTEqualStrategyNumber as u16,
        pg_sys::Oid::from(pg_sys::F_OIDEQ),
        oid.into(),
    );
    let scan = pg_sys::systable_beginscan(rel, pg_sys::Oid::from(by), true, &raw mut pg_sys::SnapshotSelfData, 1, &mut key);
    let found = pg_sys::systable_getnext(scan);
    if found.is_null() {
        raise(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            format!("catalog row of new index {} not found", oid.to_u32()),
        );
    }
    let copy = pg_sys::heap_copytuple(found);
    visit(rel, copy);
    if write {
        pg_sys::heap_inplace_update(rel, copy);
    }
    pg_sys::systable_endscan(scan);
    pg_sys::table_close(rel, pg_sys::RowExclusiveLock as i32);
    pg_sys::heap_freetuple(copy);
}

/// btree's class of the same name and input type as `class` (Lyra's
/// classes are named after btree's), if there is one.
unsafe fn btree_class(class: pg_sys::Oid) -> Option<pg_sys::Oid> {
    let cache = pg_sys::SysCacheIdentifier::CLAOID as i32;
    let zero = pg_sys::Datum::from(0);
    let tuple = pg_sys::SearchSysCache(cache, class.into(), zero, zero, zero);
    if tuple.is_null() {
        return None;
    }
    let form = pg_sys::GETSTRUCT(tuple) as *mut pg_sys::FormData_pg_opclass;
    let (name, typ) = ((*form).opcname.data.as_ptr(), (*form).opcintype);
    let btree = pg_sys::OpclassnameGetOpcid(pg_sys::BTREE_AM_OID, name);
    pg_sys::ReleaseSysCache(tuple);
    (btree != pg_sys::InvalidOid && pg_sys::get_opclass_input_type(btree) == typ).then_some(btree)
}

thread_local! {
    /// Indexes whose cache entries say "btree" for the statement running
    /// now (see [`lend_as_btree`]), with the access method each really has.
    static LENT: std::cell::RefCell<Vec<(pg_sys::Oid, pg_sys::Relation, pg_sys::Oid)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `ALTER TABLE t ADD [CONSTRAINT c] PRIMARY KEY | UNIQUE USING INDEX i`
/// with `i` a lyra_index: Postgres's parse-time check wants a btree
/// (`transformIndexConstraint`: "index is not a btree", then "does not
/// have default sorting behavior" from comparing `indclass` with the
/// default class *of the index's access method*). A lyra_index has
/// btree's classes and btree's semantics, so for this statement only the
/// index's relation cache entry (backend-local memory, not the catalog)
/// names btree as its access method; [`give_back`] restores it after
/// the statement, and [`forget_lent`] has the entry rebuilt from the
/// catalog if the statement fails. `i` is held open (so its entry is not
/// freed) meanwhile. Nothing else of the index changes: its access
/// method's routines stay Lyra's, and the constraint made is the same
/// `pg_constraint` row and renamed index heap gets.
///
/// # Safety
/// `stmt` is an `ALTER TABLE` about to run.
pub unsafe fn lend_as_btree(stmt: *mut pg_sys::AlterTableStmt) {
    let table = pg_sys::RangeVarGetRelidExtended((*stmt).relation, pg_sys::NoLock as i32, pg_sys::RVROption::RVR_MISSING_OK, None, std::ptr::null_mut());
    if table == pg_sys::InvalidOid {
        return;
    }
    let namespace = pg_sys::get_rel_namespace(table);
    for cmd in crate::hooks::list_nodes((*stmt).cmds) {
        let def = (*(cmd as *mut pg_sys::AlterTableCmd)).def;
        if def.is_null() || (*def).type_ != pg_sys::NodeTag::T_Constraint {
            continue;
        }
        let constraint = def as *mut pg_sys::Constraint;
        let keyed = matches!((*constraint).contype, pg_sys::ConstrType::CONSTR_PRIMARY | pg_sys::ConstrType::CONSTR_UNIQUE);
        if !keyed || (*constraint).indexname.is_null() {
            continue;
        }
        let oid = pg_sys::get_relname_relid((*constraint).indexname, namespace);
        if oid == pg_sys::InvalidOid || pg_sys::get_rel_relkind(oid) != pg_sys::RELKIND_INDEX as std::ffi::c_char {
            continue;
        }
        let index = pg_sys::index_open(oid, pg_sys::AccessShareLock as i32);
        if !super::is_lyra_index(index) {
            pg_sys::index_close(index, pg_sys::AccessShareLock as i32);
            continue;
        }
        LENT.with(|l| l.borrow_mut().push((oid, index, (*(*index).rd_rel).relam)));
        (*(*index).rd_rel).relam = pg_sys::BTREE_AM_OID;
    }
}

/// After the statement of [`lend_as_btree`]: the entries name their own
/// access method again, and the indexes are closed.
pub unsafe fn give_back() {
    for (_, index, am) in LENT.with(|l| std::mem::take(&mut *l.borrow_mut())) {
        (*(*index).rd_rel).relam = am;
        pg_sys::index_close(index, pg_sys::AccessShareLock as i32);
    }
}

/// At (sub)transaction abort: a statement of [`lend_as_btree`] failed
/// before [`give_back`]; its references were dropped by the abort, so the
/// entries are thrown away, to be rebuilt from the catalog.
pub unsafe fn forget_lent() {
    for (oid, _, _) in LENT.with(|l| std::mem::take(&mut *l.borrow_mut())) {
        pg_sys::RelationCacheInvalidateEntry(oid);
    }
}
