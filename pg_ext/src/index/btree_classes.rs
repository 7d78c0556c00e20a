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
    /// A lyra_gin, lyra_gist or lyra_spgist (the access method named:
    /// `USING lyra_gin`), its classes the access method's already.
    Own(&'static std::ffi::CStr),
    /// A GIN, GiST or SP-GiST index on a Lyra table (`CREATE INDEX …
    /// USING gin`, its classes resolved as GIN's): make it the Lyra access
    /// method named (lyra_gin), bound to its classes of the same names
    /// where it has them, else keeping its own (an extension's).
    OnLyra(&'static std::ffi::CStr),
}

/// Postgres's index access methods Lyra stands in for with its own, whose
/// operator classes are copies of theirs (`sql/lyra_am.sql`).
pub const STAND_INS: [(pg_sys::Oid, &std::ffi::CStr); 3] = [
    (pg_sys::GIN_AM_OID, c"lyra_gin"),
    (pg_sys::GIST_AM_OID, c"lyra_gist"),
    (pg_sys::SPGIST_AM_OID, c"lyra_spgist"),
];

/// The stand-ins' (Postgres's, Lyra's) access method oids, those installed.
unsafe fn stand_ins() -> Vec<(pg_sys::Oid, pg_sys::Oid)> {
    STAND_INS
        .iter()
        .map(|&(pg, lyra)| (pg, pg_sys::get_index_am_oid(lyra.as_ptr(), true)))
        .filter(|&(_, lyra)| lyra != pg_sys::InvalidOid)
        .collect()
}

/// Binds the just-created index `index_oid` to btree's operator classes,
/// and makes it a lyra_index if it was a btree — or, a GIN index, makes it
/// a lyra_gin bound to lyra_gin's classes of the same names where there
/// are, and so GiST's and SP-GiST's (see [`NewIndex`]).
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
    let made = match kind {
        NewIndex::Lyra => None,
        NewIndex::BtreeOnLyra => Some(c"lyra_index"),
        NewIndex::Own(am) | NewIndex::OnLyra(am) => Some(am),
    };
    let stand_in = matches!(kind, NewIndex::Own(_) | NewIndex::OnLyra(_));
    let made_am = made.map(|made| match pg_sys::get_index_am_oid(made.as_ptr(), true) {
        pg_sys::InvalidOid => raise(
            PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            format!(
                "access method \"{}\" does not exist in this database's lyra extension; run ALTER EXTENSION lyra UPDATE",
                made.to_string_lossy()
            ),
        ),
        am => am,
    });
    if let (Some(am), false) = (made_am, matches!(kind, NewIndex::Own(_))) {
        set_access_method(index_oid, am, Write::InPlace);
    }
    let rebound = rebind_classes(index_oid, Write::InPlace, |class| match made_am {
        Some(am) if stand_in => lyra_class(am, class),
        _ => btree_class(class),
    });
    // The index's dependencies follow its classes: on the classes given up
    // (lyra_index's), none; on lyra_gin's (and lyra_gist's…), the
    // extension's objects, one each. btree's and GIN's core classes are
    // pinned: an index on them records none, as on heap.
    if let (true, Some(am)) = (stand_in, made_am) {
        // On its access method too (Postgres records none for an index):
        // `DROP EXTENSION lyra CASCADE` then drops the index before it —
        // an index whose access method is gone cannot even be opened.
        depend_on_access_method(index_oid, am);
    }
    follow_classes(index_oid, rebound);
}

/// After [`adopt`] made the btree `index_oid` a lyra_index (the GiST
/// index a lyra_gist: `am`, whose `routine` this is): its cache entry, if
/// it was built before (from the btree's catalog rows; else nothing to
/// do), gets the access method's routine. A partition's copy of its parent's DEFERRABLE
/// unique constraint is such an index: `index_create` makes the
/// constraint's trigger before the post-create hook, and that opens the
/// index; the cache entry of an open index is not rebuilt at the next
/// command counter increment, only its catalog rows are read again. The
/// rest of the entry stands as it is: the index keeps btree's classes, and
/// lyra_index has btree's number of support functions (lyra_gist GiST's,
/// and its classes' families have GiST's members).
///
/// # Safety
/// `index_oid` is an index `index_create` is making, held open by it.
pub unsafe fn make_built_entry_lyra(index_oid: pg_sys::Oid, am: &std::ffi::CStr, routine: pg_sys::IndexAmRoutine) {
    let rel = pg_sys::RelationIdGetRelation(index_oid);
    if rel.is_null() || (*rel).rd_indexcxt.is_null() {
        if !rel.is_null() {
            pg_sys::RelationClose(rel);
        }
        return;
    }
    if routine.amsupport != (*(*rel).rd_indam).amsupport {
        raise(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            format!(
                "index {} was built with another number of support functions than {} has",
                index_oid.to_u32(),
                am.to_string_lossy()
            ),
        );
    }
    let am = pg_sys::get_index_am_oid(am.as_ptr(), false);
    let kept = pg_sys::MemoryContextAlloc((*rel).rd_indexcxt, std::mem::size_of::<pg_sys::IndexAmRoutine>()) as *mut pg_sys::IndexAmRoutine;
    kept.write(routine);
    (*rel).rd_indam = kept;
    (*rel).rd_amhandler = handler_of(am);
    (*(*rel).rd_rel).relam = am;
    (*rel).rd_amcache = std::ptr::null_mut();
    pg_sys::RelationClose(rel);
}

/// The handler function of the access method `am`.
unsafe fn handler_of(am: pg_sys::Oid) -> pg_sys::Oid {
    let tuple = pg_sys::SearchSysCache1(pg_sys::SysCacheIdentifier::AMOID as i32, pg_sys::Datum::from(am));
    if tuple.is_null() {
        raise(PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT, format!("access method {} not found", am.to_u32()));
    }
    let handler = (*(pg_sys::GETSTRUCT(tuple) as *mut pg_sys::FormData_pg_am)).amhandler;
    pg_sys::ReleaseSysCache(tuple);
    handler
}

/// `ALTER TABLE … SET ACCESS METHOD` between lyra and another table
/// access method: the indexes of `table` change kind with it, before the
/// rewrite rebuilds them — a btree (or hash) becomes a lyra_index and a
/// GIN index a lyra_gin, a GiST one a lyra_gist, an SP-GiST one a
/// lyra_spgist (`to_lyra`), or back. A lyra_index keeps its (btree's)
/// classes; hash's and GIN's (GiST's…) are rebound as [`adopt`] binds
/// them, lyra_gin's to GIN's of the same names (lyra_gist's to GiST's…).
/// The catalog rows get new versions, which roll back with the statement.
/// An index the other side has no kind for (BRIN) is refused before
/// anything changes.
///
/// # Safety
/// `table` is locked against other sessions' use (the statement's lock).
pub unsafe fn convert_indexes(table: pg_sys::Oid, to_lyra: bool) {
    let lyra_index = pg_sys::get_index_am_oid(c"lyra_index".as_ptr(), false);
    let stand_ins = stand_ins();
    let lyra_of = |am: pg_sys::Oid| stand_ins.iter().find(|&&(pg, _)| pg == am).map(|&(_, lyra)| lyra);
    let postgres_of = |am: pg_sys::Oid| stand_ins.iter().find(|&&(_, lyra)| lyra == am).map(|&(pg, _)| pg);
    let mut plan = Vec::new();
    for index in indexes_of(table) {
        let am = access_method_of(index);
        let name = std::ffi::CStr::from_ptr(pg_sys::get_rel_name(index)).to_string_lossy().into_owned();
        let target = match (to_lyra, am) {
            (true, pg_sys::BTREE_AM_OID | pg_sys::HASH_AM_OID) => lyra_index,
            (true, am) if lyra_of(am).is_some() => lyra_of(am).expect("found"),
            (false, am) if am == lyra_index => pg_sys::BTREE_AM_OID,
            (false, am) if postgres_of(am).is_some() => postgres_of(am).expect("found"),
            (false, _) => continue,
            (true, am) => raise(
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                format!(
                    "index \"{name}\" uses access method \"{}\", which lyra tables do not support; drop it first",
                    std::ffi::CStr::from_ptr(pg_sys::get_am_name(am)).to_string_lossy()
                ),
            ),
        };
        if target == lyra_index || target == pg_sys::BTREE_AM_OID {
            for class in classes_of(index) {
                if btree_class(class).is_none() {
                    raise(
                        PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                        format!("index \"{name}\" has an operator class btree has no class of the same name for; drop it first"),
                    );
                }
            }
        }
        plan.push((index, am, target));
    }
    for (index, am, target) in plan {
        if am == lyra_index || postgres_of(am).is_some() {
            // Its entries and storage mapping go at commit, as a dropped
            // index's: the rebuilt index is Postgres's.
            let rel = pg_sys::RelationIdGetRelation(index);
            super::drop_index(rel);
            pg_sys::RelationClose(rel);
        }
        set_access_method(index, target, Write::Update);
        let rebound = rebind_classes(index, Write::Update, |class| match target {
            t if postgres_of(t).is_some() => lyra_class(t, class),
            t if lyra_of(t).is_some() => same_named_class(t, class),
            _ => btree_class(class),
        });
        if postgres_of(target).is_some() {
            depend_on_access_method(index, target);
        } else if postgres_of(am).is_some() {
            let normal = pg_sys::DependencyType::DEPENDENCY_NORMAL as std::ffi::c_char;
            pg_sys::deleteDependencyRecordsForSpecific(pg_sys::RelationRelationId, index, normal, pg_sys::AccessMethodRelationId, am);
        }
        follow_classes(index, rebound);
    }
    pg_sys::CommandCounterIncrement();
}

/// The access method of index `index`.
unsafe fn access_method_of(index: pg_sys::Oid) -> pg_sys::Oid {
    let rel = pg_sys::RelationIdGetRelation(index);
    let found = (*(*rel).rd_rel).relam;
    pg_sys::RelationClose(rel);
    found
}

/// The operator classes of index `index`'s key columns.
unsafe fn classes_of(index: pg_sys::Oid) -> Vec<pg_sys::Oid> {
    let mut found = Vec::new();
    let by = pg_sys::Anum_pg_index_indexrelid;
    with_new_row(pg_sys::IndexRelationId, pg_sys::IndexRelidIndexId, by, index, Write::No, |rel, tuple| {
        found = indclass(rel, tuple).to_vec();
    });
    found
}

/// The key columns' classes in the `pg_index` row `tuple` of `rel`.
unsafe fn indclass<'a>(rel: pg_sys::Relation, tuple: pg_sys::HeapTuple) -> &'a mut [pg_sys::Oid] {
    let mut isnull = false;
    let datum = pg_sys::heap_getattr(tuple, pg_sys::Anum_pg_index_indclass as i32, (*rel).rd_att, &mut isnull);
    let classes = datum.cast_mut_ptr::<pg_sys::oidvector>();
    let n = (*classes).dim1 as usize;
    (*classes).values.as_mut_slice(n)
}

/// Sets index `index_oid`'s access method in its `pg_class` row.
unsafe fn set_access_method(index_oid: pg_sys::Oid, am: pg_sys::Oid, write: Write) {
    let by = pg_sys::Anum_pg_class_oid;
    with_new_row(pg_sys::RelationRelationId, pg_sys::ClassOidIndexId, by, index_oid, write, |_, tuple| {
        (*(pg_sys::GETSTRUCT(tuple) as *mut pg_sys::FormData_pg_class)).relam = am;
    });
}

/// Points each key column's class of index `index_oid` at what
/// `class_for` maps it to (kept where it maps to none); returns the
/// changes, as (old, new).
unsafe fn rebind_classes(
    index_oid: pg_sys::Oid,
    write: Write,
    class_for: impl Fn(pg_sys::Oid) -> Option<pg_sys::Oid>,
) -> Vec<(pg_sys::Oid, pg_sys::Oid)> {
    let mut rebound = Vec::new();
    let by = pg_sys::Anum_pg_index_indexrelid;
    with_new_row(pg_sys::IndexRelationId, pg_sys::IndexRelidIndexId, by, index_oid, write, |rel, tuple| {
        for class in indclass(rel, tuple) {
            if let Some(same) = class_for(*class).filter(|same| same != class) {
                rebound.push((*class, same));
                *class = same;
            }
        }
    });
    rebound
}

/// Index `index_oid` depends on the access method `am` (see [`adopt`]).
unsafe fn depend_on_access_method(index_oid: pg_sys::Oid, am: pg_sys::Oid) {
    let index = pg_sys::ObjectAddress { classId: pg_sys::RelationRelationId, objectId: index_oid, objectSubId: 0 };
    let am = pg_sys::ObjectAddress { classId: pg_sys::AccessMethodRelationId, objectId: am, objectSubId: 0 };
    pg_sys::recordDependencyOn(&index, &am, pg_sys::DependencyType::DEPENDENCY_NORMAL);
}

/// Index `index_oid`'s dependencies on the classes `rebound` replaced go
/// to their replacements (none is recorded on a pinned class: btree's
/// and GIN's core ones).
unsafe fn follow_classes(index_oid: pg_sys::Oid, rebound: Vec<(pg_sys::Oid, pg_sys::Oid)>) {
    let normal = pg_sys::DependencyType::DEPENDENCY_NORMAL as std::ffi::c_char;
    let index = pg_sys::ObjectAddress { classId: pg_sys::RelationRelationId, objectId: index_oid, objectSubId: 0 };
    let classes = pg_sys::OperatorClassRelationId;
    for (old, new) in rebound {
        pg_sys::deleteDependencyRecordsForSpecific(pg_sys::RelationRelationId, index_oid, normal, classes, old);
        let class = pg_sys::ObjectAddress { classId: classes, objectId: new, objectSubId: 0 };
        pg_sys::recordDependencyOn(&index, &class, pg_sys::DependencyType::DEPENDENCY_NORMAL);
    }
}

/// The table the just-created index `index_oid` is on.
///
/// # Safety
/// As [`adopt`].
pub unsafe fn table_of_new_index(index_oid: pg_sys::Oid) -> pg_sys::Oid {
    let mut table = pg_sys::InvalidOid;
    let by = pg_sys::Anum_pg_index_indexrelid;
    with_new_row(pg_sys::IndexRelationId, pg_sys::IndexRelidIndexId, by, index_oid, Write::No, |_, tuple| {
        table = (*(pg_sys::GETSTRUCT(tuple) as *mut pg_sys::FormData_pg_index)).indrelid;
    });
    table
}

/// How [`with_new_row`] writes the edited copy back.
#[derive(Clone, Copy, PartialEq)]
enum Write {
    /// Not at all: the row is only read.
    No,
    /// In place: a row the running command wrote ([`adopt`]).
    InPlace,
    /// As a new version of the row, which rolls back with the transaction
    /// ([`convert_indexes`]).
    Update,
}

/// Finds the row `oid` of catalog `catalog` (through its index `by`, on
/// attribute `attno`) as this command sees it and hands a copy to `visit`;
/// the copy (edited without changing its size) is written back as `write`
/// says.
unsafe fn with_new_row(
    catalog: pg_sys::Oid,
    by: u32,
    attno: u32,
    oid: pg_sys::Oid,
    write: Write,
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
            format!("catalog row of index {} not found", oid.to_u32()),
        );
    }
    let copy = pg_sys::heap_copytuple(found);
    visit(rel, copy);
    match write {
        Write::No => {}
        Write::InPlace => pg_sys::heap_inplace_update(rel, copy),
        Write::Update => pg_sys::CatalogTupleUpdate(rel, &mut (*copy).t_self, copy),
    }
    pg_sys::systable_endscan(scan);
    pg_sys::table_close(rel, pg_sys::RowExclusiveLock as i32);
    pg_sys::heap_freetuple(copy);
}

/// btree's class of the same name and input type as `class` (Lyra's
/// classes are named after btree's), if there is one.
unsafe fn btree_class(class: pg_sys::Oid) -> Option<pg_sys::Oid> {
    let (name, typ) = name_and_type(class)?;
    same_input(pg_sys::OpclassnameGetOpcid(pg_sys::BTREE_AM_OID, name.as_ptr()), typ)
}

/// The class of access method `am` in the extension's schema with the
/// name and input type of `class` (GIN's `jsonb_path_ops` → lyra_gin's).
unsafe fn lyra_class(am: pg_sys::Oid, class: pg_sys::Oid) -> Option<pg_sys::Oid> {
    let (name, typ) = name_and_type(class)?;
    let names = pg_sys::lappend(
        pg_sys::lappend(std::ptr::null_mut(), pg_sys::makeString(pg_sys::pstrdup(c"lyra".as_ptr())).cast()),
        pg_sys::makeString(pg_sys::pstrdup(name.as_ptr())).cast(),
    );
    same_input(pg_sys::get_opclass_oid(am, names, true), typ)
}

/// The class of Postgres's access method `am` (GIN) of the same name and
/// input type as `class` (lyra_gin's are named after GIN's).
unsafe fn same_named_class(am: pg_sys::Oid, class: pg_sys::Oid) -> Option<pg_sys::Oid> {
    let (name, typ) = name_and_type(class)?;
    same_input(pg_sys::OpclassnameGetOpcid(am, name.as_ptr()), typ)
}

/// The name and input type of operator class `class`.
unsafe fn name_and_type(class: pg_sys::Oid) -> Option<(std::ffi::CString, pg_sys::Oid)> {
    let cache = pg_sys::SysCacheIdentifier::CLAOID as i32;
    let zero = pg_sys::Datum::from(0);
    let tuple = pg_sys::SearchSysCache(cache, class.into(), zero, zero, zero);
    if tuple.is_null() {
        return None;
    }
    let form = pg_sys::GETSTRUCT(tuple) as *mut pg_sys::FormData_pg_opclass;
    let found = (std::ffi::CStr::from_ptr((*form).opcname.data.as_ptr()).to_owned(), (*form).opcintype);
    pg_sys::ReleaseSysCache(tuple);
    Some(found)
}

/// `candidate`, if it is a class whose input type is `typ`.
unsafe fn same_input(candidate: pg_sys::Oid, typ: pg_sys::Oid) -> Option<pg_sys::Oid> {
    (candidate != pg_sys::InvalidOid && pg_sys::get_opclass_input_type(candidate) == typ).then_some(candidate)
}

thread_local! {
    /// Indexes whose cache entries say "btree" for the statement running
    /// now (see [`lend_as_btree`]), with the access method each really has.
    static LENT: std::cell::RefCell<Vec<Lent>> = const { std::cell::RefCell::new(Vec::new()) };
    /// `INSERT … ON CONFLICT` statements running that lent indexes, and
    /// their marks (see [`lend_for_upsert`]).
    static UPSERTS: std::cell::RefCell<Vec<(*mut pg_sys::QueryDesc, usize)>> = const { std::cell::RefCell::new(Vec::new()) };
    /// Materialized views' queries running while their refresh's lent
    /// indexes are given back, and the places in `LENT` of those indexes
    /// (see [`suspend_for_view_query`]).
    static SUSPENDED: std::cell::RefCell<Vec<(*mut pg_sys::QueryDesc, Vec<usize>)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// An index lent as a btree: its oid, its open relation (null while a
/// materialized view's query runs, see [`suspend_for_view_query`]), its
/// real access method, and the subtransaction that lent it.
struct Lent {
    oid: pg_sys::Oid,
    index: pg_sys::Relation,
    am: pg_sys::Oid,
    subxact: pg_sys::SubTransactionId,
}

/// Whether the index `oid` is lent as a btree now: Lyra's own code still
/// treats it as the lyra_index it is.
pub fn is_lent(oid: pg_sys::Oid) -> bool {
    LENT.with(|l| l.borrow().iter().any(|e| e.oid == oid && !e.index.is_null()))
}

/// Statements that compare a lyra_index with a btree, or check that an
/// index is a btree, before they use it as one:
///
/// * `ALTER TABLE t ADD [CONSTRAINT c] PRIMARY KEY | UNIQUE USING INDEX i`:
///   `transformIndexConstraint` refuses an index that is not a btree, then
///   "does not have default sorting behavior" (it compares `indclass`
///   with the default class *of the index's access method*).
/// * `REFRESH MATERIALIZED VIEW CONCURRENTLY v`: it needs a unique index
///   on `v` that is a btree (`is_usable_unique_index`), whose equality
///   operators then match the old and new contents.
/// * `ALTER TABLE p ATTACH PARTITION t`, `ALTER INDEX pi ATTACH PARTITION
///   i`, `CREATE INDEX` or `ALTER TABLE … ADD PRIMARY KEY / UNIQUE` on a
///   partitioned table: a partitioned table's index
///   is a btree (it has no storage and no table AM to route it by); a
///   Lyra partition's index that matches it is found by `CompareIndexInfo`,
///   which wants the same access method — without a match, ATTACH makes a
///   second primary key ("multiple primary keys") or refuses the index.
///
/// A lyra_index has btree's classes and btree's semantics, so for these
/// statements only, the indexes' relation cache entries (backend-local
/// memory, not the catalog) name btree as their access method;
/// [`give_back`] restores them after the statement, and [`forget_lent`]
/// has them rebuilt from the catalog if the statement fails. Each is held
/// open (so its entry is not freed) meanwhile. Nothing else changes: the
/// indexes' access method routines stay Lyra's, and what the statement
/// writes to the catalog (a constraint, a renamed index, a partition
/// link) is what it writes for a btree.
///
/// # Safety
/// `stmt` is a utility statement about to run.
/// Returns the mark to give them back by: statements nest (`CREATE TABLE`
/// runs its indexes as statements of their own).
pub unsafe fn lend_as_btree(stmt: *mut pg_sys::Node) -> usize {
    lend(indexes_compared_with_btree(stmt))
}

/// `INSERT … ON CONFLICT` into a partitioned table: when the executor
/// routes the first row to a partition, it opens that partition's indexes
/// for speculative insertion itself (`ExecInitPartitionInfo` →
/// `BuildSpeculativeIndexInfo`), which accepts only btrees. The Lyra
/// partitions' indexes are lent as btrees from `ExecutorStart` to
/// `ExecutorEnd` of such a statement (Lyra's planner and scan code keep
/// treating them as lyra_index, see [`is_lent`]).
///
/// # Safety
/// `query` is starting.
pub unsafe fn lend_for_upsert(query: *mut pg_sys::QueryDesc) {
    let Some(table) = partitioned_upsert_target((*query).plannedstmt) else {
        return;
    };
    let mark = lend(indexes_under(table));
    UPSERTS.with(|u| u.borrow_mut().push((query, mark)));
}

/// At `ExecutorEnd` of `query`: gives back what [`lend_for_upsert`] lent.
///
/// # Safety
/// `query` is ending.
pub unsafe fn give_back_upsert(query: *mut pg_sys::QueryDesc) {
    let mark = UPSERTS.with(|u| {
        let mut u = u.borrow_mut();
        let at = u.iter().rposition(|&(q, _)| q == query)?;
        let mark = u[at].1;
        u.truncate(at);
        Some(mark)
    });
    if let Some(mark) = mark {
        give_back(mark);
    }
}

/// The partitioned table an `INSERT … ON CONFLICT` of `stmt` inserts into.
unsafe fn partitioned_upsert_target(stmt: *mut pg_sys::PlannedStmt) -> Option<pg_sys::Oid> {
    if stmt.is_null() || (*stmt).commandType != pg_sys::CmdType::CMD_INSERT {
        return None;
    }
    let mut plans = vec![(*stmt).planTree];
    plans.extend(crate::hooks::list_nodes((*stmt).subplans).into_iter().map(|p| p.cast::<pg_sys::Plan>()));
    plans.into_iter().find_map(|plan| {
        if plan.is_null() || (*plan).type_ != pg_sys::NodeTag::T_ModifyTable {
            return None;
        }
        let modify = plan as *mut pg_sys::ModifyTable;
        if (*modify).onConflictAction == pg_sys::OnConflictAction::ONCONFLICT_NONE {
            return None;
        }
        let rte = pg_sys::list_nth((*stmt).rtable, (*modify).nominalRelation as i32 - 1) as *mut pg_sys::RangeTblEntry;
        let partitioned = pg_sys::get_rel_relkind((*rte).relid) == pg_sys::RELKIND_PARTITIONED_TABLE as std::ffi::c_char;
        partitioned.then_some((*rte).relid)
    })
}

/// Lends the lyra_index indexes among `oids` as btrees; returns the mark
/// to give them back by.
unsafe fn lend(oids: Vec<pg_sys::Oid>) -> usize {
    let mark = LENT.with(|l| l.borrow().len());
    for oid in oids {
        if is_lent(oid) {
            continue;
        }
        let index = pg_sys::index_open(oid, pg_sys::AccessShareLock as i32);
        if !super::is_lyra_index(index) {
            pg_sys::index_close(index, pg_sys::AccessShareLock as i32);
            continue;
        }
        let subxact = pg_sys::GetCurrentSubTransactionId();
        LENT.with(|l| l.borrow_mut().push(Lent { oid, index, am: (*(*index).rd_rel).relam, subxact }));
        (*(*index).rd_rel).relam = pg_sys::BTREE_AM_OID;
    }
    mark
}

/// The indexes `stmt` will compare with a btree (see [`lend_as_btree`]).
unsafe fn indexes_compared_with_btree(stmt: *mut pg_sys::Node) -> Vec<pg_sys::Oid> {
    let relation_oid = |rv| crate::hooks::relation_oid(rv).unwrap_or(pg_sys::InvalidOid);
    match (*stmt).type_ {
        pg_sys::NodeTag::T_IndexStmt => {
            let table = relation_oid((*(stmt as *mut pg_sys::IndexStmt)).relation);
            if partitioned(table) {
                return indexes_under(table);
            }
            Vec::new()
        }
        pg_sys::NodeTag::T_AlterTableStmt => {
            let stmt = stmt as *mut pg_sys::AlterTableStmt;
            let target = relation_oid((*stmt).relation);
            let mut found = Vec::new();
            for (cmd, def) in crate::hooks::alter_table_defs(stmt) {
                match (*def).type_ {
                    pg_sys::NodeTag::T_Constraint if target != pg_sys::InvalidOid => {
                        let constraint = def as *mut pg_sys::Constraint;
                        let keyed = matches!(
                            (*constraint).contype,
                            pg_sys::ConstrType::CONSTR_PRIMARY | pg_sys::ConstrType::CONSTR_UNIQUE
                        );
                        if keyed && !(*constraint).indexname.is_null() {
                            let namespace = pg_sys::get_rel_namespace(target);
                            found.push(pg_sys::get_relname_relid((*constraint).indexname, namespace));
                        } else if keyed && partitioned(target) {
                            // a partitioned table's new key: each partition's
                            // matching index is attached, not made again
                            found.extend(indexes_under(target));
                        }
                    }
                    pg_sys::NodeTag::T_PartitionCmd if (*cmd).subtype == pg_sys::AlterTableType::AT_AttachPartition => {
                        let part = relation_oid((*(def as *mut pg_sys::PartitionCmd)).name);
                        if (*stmt).objtype == pg_sys::ObjectType::OBJECT_INDEX {
                            found.push(part);
                        } else {
                            found.extend(indexes_under(part));
                        }
                    }
                    _ => {}
                }
            }
            found.retain(|&oid| oid != pg_sys::InvalidOid && pg_sys::get_rel_relkind(oid) == pg_sys::RELKIND_INDEX as std::ffi::c_char);
            found
        }
        pg_sys::NodeTag::T_RefreshMatViewStmt => {
            let stmt = stmt as *mut pg_sys::RefreshMatViewStmt;
            if !(*stmt).concurrent {
                return Vec::new();
            }
            indexes_of(relation_oid((*stmt).relation))
        }
        _ => Vec::new(),
    }
}

/// The indexes of the relation `oid` (none if it does not exist).
unsafe fn indexes_of(oid: pg_sys::Oid) -> Vec<pg_sys::Oid> {
    if oid == pg_sys::InvalidOid {
        return Vec::new();
    }
    let rel = pg_sys::RelationIdGetRelation(oid);
    if rel.is_null() {
        return Vec::new();
    }
    let found = crate::hooks::list_oids(pg_sys::RelationGetIndexList(rel));
    pg_sys::RelationClose(rel);
    found
}

unsafe fn partitioned(table: pg_sys::Oid) -> bool {
    table != pg_sys::InvalidOid && pg_sys::get_rel_relkind(table) == pg_sys::RELKIND_PARTITIONED_TABLE as std::ffi::c_char
}

/// Every index of `table` and of the tables under it.
unsafe fn indexes_under(table: pg_sys::Oid) -> Vec<pg_sys::Oid> {
    if table == pg_sys::InvalidOid {
        return Vec::new();
    }
    let mut found = Vec::new();
    for member in crate::hooks::relations_under(table) {
        found.extend(indexes_of(member));
    }
    found
}

/// After the statement of [`lend_as_btree`] that returned `mark`: the
/// entries it lent name their own access method again, and are closed.
pub unsafe fn give_back(mark: usize) {
    let lent = LENT.with(|l| {
        let mut l = l.borrow_mut();
        let from = mark.min(l.len());
        l.split_off(from)
    });
    for e in lent.into_iter().rev().filter(|e| !e.index.is_null()) {
        (*(*e.index).rd_rel).relam = e.am;
        pg_sys::index_close(e.index, pg_sys::AccessShareLock as i32);
    }
}

/// The index `oid` is being dropped (`OAT_DROP`): refused while it is
/// lent. The one statement known to do it is an `ALTER TABLE` that both
/// uses an index (`ADD PRIMARY KEY | UNIQUE USING INDEX i`, which lends
/// it) and rebuilds it (`ALTER COLUMN … TYPE` of its column, which drops
/// and re-creates it): the lent entry is held open, and the re-created
/// index would not be lent, so Postgres refused it either way — "being
/// used by active queries in this session", then "is not a btree". Run as
/// two statements, both work.
///
/// # Safety
/// In a transaction.
pub unsafe fn refuse_dropping_lent(oid: pg_sys::Oid) {
    if !is_lent(oid) {
        return;
    }
    let name = std::ffi::CStr::from_ptr(pg_sys::get_rel_name(oid)).to_string_lossy();
    crate::error::raise_detail_hint(
        PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
        format!("index \"{name}\" of a lyra table cannot be dropped or rebuilt by the statement that uses it as a btree"),
        "ADD PRIMARY KEY | UNIQUE USING INDEX and ATTACH PARTITION use a lyra_index as Postgres uses a btree, for the whole statement.",
        "Run the command that rebuilds the index (such as ALTER COLUMN … TYPE) as an ALTER TABLE statement of its own.",
    );
}

/// `REFRESH MATERIALIZED VIEW CONCURRENTLY` lends the view's indexes for
/// the whole statement, but Postgres needs them as btrees only before and
/// after the view's query runs: while it runs (`query`, whose rows go to
/// the refresh's transient table), they are given back and closed, so
/// that the query may drop one — as on heap, where the refresh then finds
/// no unique index — and [`resume_after_view_query`] lends them again.
///
/// # Safety
/// `query` is starting.
pub unsafe fn suspend_for_view_query(query: *mut pg_sys::QueryDesc) {
    if (*query).dest.is_null() || (*(*query).dest).mydest != pg_sys::CommandDest::DestTransientRel {
        return;
    }
    let suspended = LENT.with(|l| {
        let mut l = l.borrow_mut();
        let mut suspended = Vec::new();
        for (at, e) in l.iter_mut().enumerate().filter(|(_, e)| !e.index.is_null()) {
            (*(*e.index).rd_rel).relam = e.am;
            // The lock stays, as a statement's locks do.
            pg_sys::index_close(e.index, pg_sys::NoLock as i32);
            e.index = std::ptr::null_mut();
            suspended.push(at);
        }
        suspended
    });
    if !suspended.is_empty() {
        SUSPENDED.with(|s| s.borrow_mut().push((query, suspended)));
    }
}

/// At `ExecutorEnd` of `query`: the indexes [`suspend_for_view_query`]
/// gave back are lent again, those still there (the query may have
/// dropped one, or dropped it and rolled the drop back).
///
/// # Safety
/// `query` is ending.
pub unsafe fn resume_after_view_query(query: *mut pg_sys::QueryDesc) {
    let Some(suspended) = SUSPENDED.with(|s| {
        let mut s = s.borrow_mut();
        let at = s.iter().rposition(|&(q, _)| q == query)?;
        Some(s.remove(at).1)
    }) else {
        return;
    };
    for at in suspended {
        let Some(oid) = LENT.with(|l| l.borrow().get(at).map(|e| e.oid)) else {
            continue;
        };
        let index = pg_sys::try_relation_open(oid, pg_sys::AccessShareLock as i32);
        if index.is_null() {
            continue;
        }
        LENT.with(|l| {
            if let Some(e) = l.borrow_mut().get_mut(at) {
                e.index = index;
            }
        });
        (*(*index).rd_rel).relam = pg_sys::BTREE_AM_OID;
    }
}

/// Whether any index is lent as a btree now.
pub fn any_lent() -> bool {
    LENT.with(|l| !l.borrow().is_empty())
}

/// While the planner runs, lent indexes are lyra_indexes again: it reads a
/// btree's metapage for its height (`_bt_getrootheight`), and statements
/// that lend indexes plan queries of their own (a foreign key's check
/// during `ATTACH PARTITION`, a trigger's queries during an upsert). The
/// returned guard lends them back when dropped — also when planning fails.
pub fn unlend_for_planning() -> Option<Relend> {
    let any = LENT.with(|l| {
        let l = l.borrow();
        for e in l.iter().filter(|e| !e.index.is_null()) {
            // SAFETY: a lent index is held open until given back.
            unsafe { (*(*e.index).rd_rel).relam = e.am };
        }
        !l.is_empty()
    });
    any.then_some(Relend)
}

/// See [`unlend_for_planning`].
pub struct Relend;

impl Drop for Relend {
    fn drop(&mut self) {
        LENT.with(|l| {
            for e in l.borrow().iter().filter(|e| !e.index.is_null()) {
                // SAFETY: as in unlend_for_planning.
                unsafe { (*(*e.index).rd_rel).relam = pg_sys::BTREE_AM_OID };
            }
        });
    }
}

/// At commit: a statement that lent indexes and did not give them back
/// (an `INSERT … ON CONFLICT` whose `ExecutorEnd` a failed subtransaction
/// skipped) gives them back now, before the transaction's references to
/// them are checked.
pub unsafe fn give_back_all() {
    UPSERTS.with(|u| u.borrow_mut().clear());
    SUSPENDED.with(|s| s.borrow_mut().clear());
    give_back(0);
}

/// At abort of the transaction (`subxact` None) or of subtransaction
/// `subxact`: indexes lent since then were not given back, and their
/// references were dropped by the abort; their cache entries are thrown
/// away, to be rebuilt from the catalog.
pub unsafe fn forget_lent(subxact: Option<pg_sys::SubTransactionId>) {
    let (forgotten, kept) = LENT.with(|l| {
        let mut l = l.borrow_mut();
        let from = subxact.map_or(0, |s| l.iter().position(|e| e.subxact >= s).unwrap_or(l.len()));
        (l.split_off(from), from)
    });
    if subxact.is_none() {
        UPSERTS.with(|u| u.borrow_mut().clear());
    }
    // A view's query that failed with its refresh: its ExecutorEnd will
    // not come (and its QueryDesc's address may be another's later).
    SUSPENDED.with(|s| s.borrow_mut().retain(|(_, at)| at.iter().all(|&at| at < kept)));
    for e in forgotten {
        pg_sys::RelationCacheInvalidateEntry(e.oid);
    }
}
