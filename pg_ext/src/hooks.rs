//! Planner and catalog hooks.
//!
//! * `object_access_hook`, on DROP of a relation stored by Lyra: schedule
//!   its table's removal at commit (DROP TABLE, DROP SCHEMA ... CASCADE, the
//!   transient table left by a rewrite). Heap learns of drops through its
//!   files; Lyra has none to unlink.
//! * `set_rel_pathlist_hook`, for a Lyra relation: keep it out of parallel
//!   plans. A parallel worker is another backend: it would not see this
//!   transaction's buffered writes, so Lyra tables are scanned by the
//!   leader only.

use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::{table, tam};

static mut PREV_OBJECT_ACCESS: pg_sys::object_access_hook_type = None;
static mut PREV_SET_REL_PATHLIST: pg_sys::set_rel_pathlist_hook_type = None;

pub fn install() {
    // SAFETY: hooks are process globals set once in _PG_init, chaining
    // whatever was installed before.
    unsafe {
        PREV_OBJECT_ACCESS = pg_sys::object_access_hook;
        pg_sys::object_access_hook = Some(object_access);
        PREV_SET_REL_PATHLIST = pg_sys::set_rel_pathlist_hook;
        pg_sys::set_rel_pathlist_hook = Some(set_rel_pathlist);
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn object_access(
    access: pg_sys::ObjectAccessType::Type,
    class_id: pg_sys::Oid,
    object_id: pg_sys::Oid,
    sub_id: std::ffi::c_int,
    arg: *mut std::ffi::c_void,
) {
    if let Some(prev) = PREV_OBJECT_ACCESS {
        prev(access, class_id, object_id, sub_id, arg);
    }
    if access == pg_sys::ObjectAccessType::OAT_DROP && class_id == pg_sys::RelationRelationId && sub_id == 0 {
        let rel = pg_sys::RelationIdGetRelation(object_id);
        if tam::is_lyra(rel) {
            table::drop(&(*rel).rd_node);
        }
        if !rel.is_null() {
            pg_sys::RelationClose(rel);
        }
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn set_rel_pathlist(
    root: *mut pg_sys::PlannerInfo,
    rel: *mut pg_sys::RelOptInfo,
    rti: pg_sys::Index,
    rte: *mut pg_sys::RangeTblEntry,
) {
    if let Some(prev) = PREV_SET_REL_PATHLIST {
        prev(root, rel, rti, rte);
    }
    if (*rte).rtekind != pg_sys::RTEKind::RTE_RELATION || !(*rel).consider_parallel {
        return;
    }
    let relation = pg_sys::RelationIdGetRelation((*rte).relid);
    let lyra = tam::is_lyra(relation);
    if !relation.is_null() {
        pg_sys::RelationClose(relation);
    }
    if lyra {
        (*rel).consider_parallel = false;
        (*rel).partial_pathlist = std::ptr::null_mut();
        let paths = (*rel).pathlist;
        if !paths.is_null() {
            for i in 0..(*paths).length as usize {
                let path = (*(*paths).elements.add(i)).ptr_value as *mut pg_sys::Path;
                (*path).parallel_safe = false;
            }
        }
    }
}
