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
//! Its `pg_depend` entries on the lyra_index classes go (btree's are
//! pinned, so an index on them records none, as on heap); the table still
//! depends on the `lyra` access method, which keeps `DROP EXTENSION lyra`
//! from going without CASCADE. `pg_get_indexdef` prints a class only where
//! heap's would (`text_pattern_ops`), and recreating the index from that
//! text comes through here again.

use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::error::raise;

/// Rebinds the key columns of the just-created lyra_index `index_oid` to
/// btree's default operator classes for their types.
///
/// # Safety
/// Called from the post-create hook of an index whose catalog rows this
/// command wrote.
pub unsafe fn rebind(index_oid: pg_sys::Oid) {
    // The pg_index row was inserted by the current command: make it
    // visible (and updatable), as index_create itself does right after.
    pg_sys::CommandCounterIncrement();
    let cache = pg_sys::SysCacheIdentifier::INDEXRELID as i32;
    let zero = pg_sys::Datum::from(0);
    let tuple = pg_sys::SearchSysCacheCopy(cache, index_oid.into(), zero, zero, zero);
    if tuple.is_null() {
        raise(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            format!("cache lookup failed for index {}", index_oid.to_u32()),
        );
    }
    let mut isnull = false;
    let datum = pg_sys::SysCacheGetAttr(cache, tuple, pg_sys::Anum_pg_index_indclass as i16, &mut isnull);
    let classes = datum.cast_mut_ptr::<pg_sys::oidvector>();
    let n = (*classes).dim1 as usize;
    let old: Vec<pg_sys::Oid> = (*classes).values.as_slice(n).to_vec();
    let new: Vec<pg_sys::Oid> = old.iter().map(|&class| btree_class(class).unwrap_or(class)).collect();
    if new == old {
        pg_sys::heap_freetuple(tuple);
        return;
    }
    let natts = pg_sys::Natts_pg_index as usize;
    let mut values = vec![pg_sys::Datum::from(0); natts];
    let mut nulls = vec![false; natts];
    let mut replace = vec![false; natts];
    let at = pg_sys::Anum_pg_index_indclass as usize - 1;
    values[at] = pg_sys::Datum::from(pg_sys::buildoidvector(new.as_ptr(), n as i32));
    replace[at] = true;
    let pg_index = pg_sys::table_open(pg_sys::IndexRelationId, pg_sys::RowExclusiveLock as i32);
    let updated = pg_sys::heap_modify_tuple(
        tuple,
        (*pg_index).rd_att,
        values.as_mut_ptr(),
        nulls.as_mut_ptr(),
        replace.as_mut_ptr(),
    );
    // Updating a pg_index row invalidates the index's relcache entry.
    pg_sys::CatalogTupleUpdate(pg_index, &mut (*updated).t_self, updated);
    pg_sys::table_close(pg_index, pg_sys::RowExclusiveLock as i32);
    // btree's classes are pinned: an index on them records no dependency.
    pg_sys::deleteDependencyRecordsForClass(
        pg_sys::RelationRelationId,
        index_oid,
        pg_sys::OperatorClassRelationId,
        pg_sys::DependencyType::DEPENDENCY_NORMAL as std::ffi::c_char,
    );
    pg_sys::heap_freetuple(updated);
    pg_sys::heap_freetuple(tuple);
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
