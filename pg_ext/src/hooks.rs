//! Planner, executor and catalog hooks.
//!
//! * `object_access_hook`, on DROP of a relation stored by Lyra: schedule
//!   its table's removal at commit (DROP TABLE, DROP SCHEMA ... CASCADE, the
//!   transient table left by a rewrite). Heap learns of drops through its
//!   files; Lyra has none to unlink. On creation of a lyra_index: bind it
//!   to btree's operator classes ([`index::btree_classes`]), which foreign
//!   keys require; of a btree on a Lyra table (a partition's copy of its
//!   parent's index): make it a lyra_index.
//! * `ProcessUtility_hook`: indexes on Lyra tables are `lyra_index`
//!   indexes without the user asking — `CREATE INDEX` (btree by default;
//!   hash too, with a notice),
//!   the indexes behind `PRIMARY KEY` / `UNIQUE` in `CREATE TABLE` and
//!   `ALTER TABLE`; another access method is refused (it would be local to
//!   this server); `CREATE INDEX CONCURRENTLY` and `REINDEX …
//!   CONCURRENTLY` run as plain builds. An index that REINDEX, TRUNCATE
//!   or a table rewrite gives a new relfilenode is a new engine index: the
//!   old one's entries and mapping go at commit; one that SET TABLESPACE
//!   moves keeps its entries ([`index::reclaim_replaced`]).
//! * `ExecutorStart` / `ExecutorEnd`: each executor's read timestamp
//!   ([`crate::snapshot`]); the arbiter indexes of `INSERT … ON CONFLICT`
//!   into a Lyra table ([`index::speculative`]).
//! * `ProcessUtility`, `ExecutorStart`/`ExecutorEnd` and the planner: Lyra
//!   indexes lent as btrees where Postgres insists on one, and not while
//!   planning ([`index::btree_classes::lend_as_btree`]).
//! * `get_relation_info_hook`: the planner learns the order Lyra indexes'
//!   entries are in — ascending, nulls last, whatever the columns declare;
//!   none where the encoding's order is not the columns'
//!   ([`index::describe_entry_order`]).
//! * `set_rel_pathlist_hook`, for a Lyra relation: seq and bitmap scans
//!   priced for Lyra ([`crate::cost`]); index paths become `LyraScan` paths
//!   ([`crate::lyrascan`]); a parallel seq scan when the transaction has
//!   no buffered writes, every other path kept out of parallel workers
//!   (another backend would not see those writes; `tam::parallel`).
//! * `ExecutorRun`: a cached parallel plan that reads Lyra tables runs
//!   without workers once the transaction has buffered writes.

use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::error::raise;
use crate::{index, table, tam};

static mut PREV_OBJECT_ACCESS: pg_sys::object_access_hook_type = None;
static mut PREV_SET_REL_PATHLIST: pg_sys::set_rel_pathlist_hook_type = None;
static mut PREV_GET_RELATION_INFO: pg_sys::get_relation_info_hook_type = None;
static mut PREV_PLANNER: pg_sys::planner_hook_type = None;
static mut PREV_PROCESS_UTILITY: pg_sys::ProcessUtility_hook_type = None;
static mut PREV_EXECUTOR_START: pg_sys::ExecutorStart_hook_type = None;
static mut PREV_EXECUTOR_END: pg_sys::ExecutorEnd_hook_type = None;
static mut PREV_EXECUTOR_RUN: pg_sys::ExecutorRun_hook_type = None;
static mut PREV_EXECUTOR_FINISH: pg_sys::ExecutorFinish_hook_type = None;

const LYRA_INDEX: &std::ffi::CStr = c"lyra_index";

pub fn install() {
    // SAFETY: hooks are process globals set once in _PG_init, chaining
    // whatever was installed before.
    unsafe {
        PREV_OBJECT_ACCESS = pg_sys::object_access_hook;
        pg_sys::object_access_hook = Some(object_access);
        PREV_SET_REL_PATHLIST = pg_sys::set_rel_pathlist_hook;
        pg_sys::set_rel_pathlist_hook = Some(set_rel_pathlist);
        PREV_PLANNER = pg_sys::planner_hook;
        pg_sys::planner_hook = Some(planner);
        PREV_GET_RELATION_INFO = pg_sys::get_relation_info_hook;
        pg_sys::get_relation_info_hook = Some(get_relation_info);
        PREV_PROCESS_UTILITY = pg_sys::ProcessUtility_hook;
        pg_sys::ProcessUtility_hook = Some(process_utility);
        PREV_EXECUTOR_START = pg_sys::ExecutorStart_hook;
        pg_sys::ExecutorStart_hook = Some(executor_start);
        PREV_EXECUTOR_END = pg_sys::ExecutorEnd_hook;
        pg_sys::ExecutorEnd_hook = Some(executor_end);
        PREV_EXECUTOR_RUN = pg_sys::ExecutorRun_hook;
        pg_sys::ExecutorRun_hook = Some(executor_run);
        PREV_EXECUTOR_FINISH = pg_sys::ExecutorFinish_hook;
        pg_sys::ExecutorFinish_hook = Some(executor_finish);
    }
}

/// Plans with every index lent as a btree back to lyra_index (see
/// [`index::btree_classes::unlend_for_planning`]). Not `#[pg_guard]`ed
/// when nothing is lent (the usual case), for the reason given at
/// [`process_utility`].
unsafe extern "C-unwind" fn planner(
    parse: *mut pg_sys::Query,
    query_string: *const std::ffi::c_char,
    cursor_options: std::ffi::c_int,
    bound_params: pg_sys::ParamListInfo,
) -> *mut pg_sys::PlannedStmt {
    if index::btree_classes::any_lent() {
        return plan_unlent(parse, query_string, cursor_options, bound_params);
    }
    match PREV_PLANNER {
        Some(prev) => prev(parse, query_string, cursor_options, bound_params),
        None => standard_planner(parse, query_string, cursor_options, bound_params),
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn plan_unlent(
    parse: *mut pg_sys::Query,
    query_string: *const std::ffi::c_char,
    cursor_options: std::ffi::c_int,
    bound_params: pg_sys::ParamListInfo,
) -> *mut pg_sys::PlannedStmt {
    // Lends them back when dropped, also when planning fails.
    let _relend = index::btree_classes::unlend_for_planning();
    match PREV_PLANNER {
        Some(prev) => prev(parse, query_string, cursor_options, bound_params),
        None => pg_sys::standard_planner(parse, query_string, cursor_options, bound_params),
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn executor_start(query: *mut pg_sys::QueryDesc, eflags: std::ffi::c_int) {
    crate::tam::versions::statement_started();
    crate::txn::statement_started();
    crate::tam::statement_started();
    index::btree_classes::lend_for_upsert(query);
    index::btree_classes::suspend_for_view_query(query);
    // Before the plan's nodes start: a bitmap heap scan begins its table
    // scan there, and takes the statement's timestamp as it does.
    crate::snapshot::statement_started(query);
    crate::snapshot::fix_before_insert(query);
    match PREV_EXECUTOR_START {
        Some(prev) => prev(query, eflags),
        None => pg_sys::standard_ExecutorStart(query, eflags),
    }
    tam::note_bitmap_scans((*query).planstate);
    index::speculative::open_arbiters(query);
}

/// Runs a parallel plan that reads Lyra tables without workers when the
/// transaction has buffered writes (a plan made before them, cached): a
/// worker would not see them (`tam::parallel`). Without parallel mode,
/// Gather runs its plan in the leader. Not `#[pg_guard]`ed, for the reason
/// given at [`process_utility`]; an ERROR leaves the cached plan without
/// workers, which only costs speed.
unsafe extern "C-unwind" fn executor_run(
    query: *mut pg_sys::QueryDesc,
    direction: pg_sys::ScanDirection::Type,
    count: u64,
    execute_once: bool,
) {
    let stmt = (*query).plannedstmt;
    let without_workers = (*stmt).parallelModeNeeded && !crate::txn::is_empty() && reads_lyra(stmt);
    if without_workers {
        (*stmt).parallelModeNeeded = false;
    }
    match PREV_EXECUTOR_RUN {
        Some(prev) => prev(query, direction, count, execute_once),
        None => standard_ExecutorRun(query, direction, count, execute_once),
    }
    if without_workers {
        (*stmt).parallelModeNeeded = true;
    }
}

/// Makes the statement's deferred unique-entry claims ([`index::claims`])
/// before its AFTER triggers fire, and again after them: a data-modifying
/// `WITH` finishes inserting then. Not `#[pg_guard]`ed, for the reason
/// given at [`process_utility`].
unsafe extern "C-unwind" fn executor_finish(query: *mut pg_sys::QueryDesc) {
    make_claims();
    match PREV_EXECUTOR_FINISH {
        Some(prev) => prev(query),
        None => standard_ExecutorFinish(query),
    }
    make_claims();
}

/// [`index::claims::make`], when claims wait.
unsafe fn make_claims() {
    if index::claims::pending() {
        make_pending_claims();
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn make_pending_claims() {
    index::claims::make();
}

/// Whether the plan `stmt` reads a Lyra table.
#[pg_guard]
unsafe extern "C-unwind" fn reads_lyra(stmt: *mut pg_sys::PlannedStmt) -> bool {
    let rtable = (*stmt).rtable;
    (0..if rtable.is_null() { 0 } else { (*rtable).length }).any(|i| {
        let rte = pg_sys::list_nth(rtable, i) as *mut pg_sys::RangeTblEntry;
        (*rte).rtekind == pg_sys::RTEKind::RTE_RELATION && relation_is((*rte).relid, |rel| tam::is_lyra(rel))
    })
}

#[pg_guard]
unsafe extern "C-unwind" fn executor_end(query: *mut pg_sys::QueryDesc) {
    crate::snapshot::statement_ended(query);
    match PREV_EXECUTOR_END {
        Some(prev) => prev(query),
        None => pg_sys::standard_ExecutorEnd(query),
    }
    index::btree_classes::give_back_upsert(query);
    index::btree_classes::resume_after_view_query(query);
}

/// Not `#[pg_guard]`ed, and calling Postgres through a plain declaration:
/// an ERROR inside the statement must reach Postgres's handler as it was
/// raised, with its CONTEXT lines, rather than be caught and re-raised by
/// pgrx at this frame. No Rust value with a destructor is alive across
/// the call, so a longjmp over this frame skips nothing.
unsafe extern "C-unwind" fn process_utility(
    pstmt: *mut pg_sys::PlannedStmt,
    query: *const std::ffi::c_char,
    read_only_tree: bool,
    context: pg_sys::ProcessUtilityContext::Type,
    params: pg_sys::ParamListInfo,
    query_env: *mut pg_sys::QueryEnvironment,
    dest: *mut pg_sys::DestReceiver,
    qc: *mut pg_sys::QueryCompletion,
) {
    let top_level = context == pg_sys::ProcessUtilityContext::PROCESS_UTILITY_TOPLEVEL;
    let routed = route_statement(pstmt, read_only_tree, top_level);
    let (pstmt, read_only_tree) = if routed.is_null() { (pstmt, read_only_tree) } else { (routed, false) };
    let stmt = (*pstmt).utilityStmt;
    let lends = !stmt.is_null()
        && [pg_sys::NodeTag::T_AlterTableStmt, pg_sys::NodeTag::T_IndexStmt, pg_sys::NodeTag::T_RefreshMatViewStmt]
            .contains(&(*stmt).type_);
    let mark = if lends { lend_indexes_as_btree(stmt) } else { 0 };
    let moves = !stmt.is_null() && moves_indexes((*stmt).type_);
    let stored = if moves { note_index_storage() } else { 0 };
    let on_database = !stmt.is_null() && on_database((*stmt).type_);
    let pending = if on_database { database_before(stmt) } else { std::ptr::null_mut() };
    match PREV_PROCESS_UTILITY {
        Some(prev) => prev(pstmt, query, read_only_tree, context, params, query_env, dest, qc),
        None => standard_ProcessUtility(pstmt, query, read_only_tree, context, params, query_env, dest, qc),
    }
    // COPY FROM inserts without an executor of its own.
    make_claims();
    if lends {
        index::btree_classes::give_back(mark);
    }
    if moves {
        reclaim_replaced_indexes(stored);
    }
    if !pending.is_null() {
        database_after(pending);
    }
}

fn on_database(tag: pg_sys::NodeTag) -> bool {
    use pg_sys::NodeTag::*;
    [T_CreatedbStmt, T_DropdbStmt, T_AlterDatabaseStmt].contains(&tag)
}

/// [`crate::database::before`]; what it leaves to do, boxed (null: nothing).
#[pg_guard]
unsafe extern "C-unwind" fn database_before(stmt: *mut pg_sys::Node) -> *mut crate::database::Pending {
    crate::database::before(stmt).map_or(std::ptr::null_mut(), |p| Box::into_raw(Box::new(p)))
}

#[pg_guard]
unsafe extern "C-unwind" fn database_after(pending: *mut crate::database::Pending) {
    crate::database::after(*Box::from_raw(pending))
}

/// Whether a statement of kind `tag` may give engine indexes new
/// relfilenodes ([`index::reclaim_replaced`]).
fn moves_indexes(tag: pg_sys::NodeTag) -> bool {
    use pg_sys::NodeTag::*;
    [T_ReindexStmt, T_TruncateStmt, T_ClusterStmt, T_VacuumStmt, T_AlterTableStmt, T_AlterTableMoveAllStmt].contains(&tag)
}

#[pg_guard]
unsafe extern "C-unwind" fn note_index_storage() -> usize {
    index::note_storage()
}

#[pg_guard]
unsafe extern "C-unwind" fn reclaim_replaced_indexes(mark: usize) {
    index::reclaim_replaced(mark)
}

#[pg_guard]
unsafe extern "C-unwind" fn lend_indexes_as_btree(stmt: *mut pg_sys::Node) -> usize {
    index::btree_classes::lend_as_btree(stmt)
}

extern "C-unwind" {
    fn standard_planner(
        parse: *mut pg_sys::Query,
        query_string: *const std::ffi::c_char,
        cursor_options: std::ffi::c_int,
        bound_params: pg_sys::ParamListInfo,
    ) -> *mut pg_sys::PlannedStmt;
    fn standard_ProcessUtility(
        pstmt: *mut pg_sys::PlannedStmt,
        query: *const std::ffi::c_char,
        read_only_tree: bool,
        context: pg_sys::ProcessUtilityContext::Type,
        params: pg_sys::ParamListInfo,
        query_env: *mut pg_sys::QueryEnvironment,
        dest: *mut pg_sys::DestReceiver,
        qc: *mut pg_sys::QueryCompletion,
    );
    fn standard_ExecutorRun(query: *mut pg_sys::QueryDesc, direction: pg_sys::ScanDirection::Type, count: u64, execute_once: bool);
    fn standard_ExecutorFinish(query: *mut pg_sys::QueryDesc);
}

/// Points index DDL on Lyra tables at lyra_index. Returns the statement to
/// run if it had to be copied and changed (a read-only tree), else null.
/// `top_level`: the statement is the client's own, not a function's.
#[pg_guard]
unsafe extern "C-unwind" fn route_statement(
    pstmt: *mut pg_sys::PlannedStmt,
    read_only_tree: bool,
    top_level: bool,
) -> *mut pg_sys::PlannedStmt {
    let stmt = (*pstmt).utilityStmt;
    let tag = if stmt.is_null() { pg_sys::NodeTag::T_Invalid } else { (*stmt).type_ };
    if ![pg_sys::NodeTag::T_IndexStmt, pg_sys::NodeTag::T_AlterTableStmt, pg_sys::NodeTag::T_ReindexStmt].contains(&tag) {
        return std::ptr::null_mut();
    }
    let copy: *mut pg_sys::PlannedStmt =
        if read_only_tree { pg_sys::copyObjectImpl(pstmt.cast()).cast() } else { std::ptr::null_mut() };
    let target: *mut pg_sys::PlannedStmt = if copy.is_null() { pstmt } else { copy };
    let stmt = (*target).utilityStmt;
    match tag {
        pg_sys::NodeTag::T_IndexStmt => route_index(stmt.cast(), top_level),
        pg_sys::NodeTag::T_ReindexStmt => route_reindex(stmt.cast(), top_level),
        _ => route_constraints(stmt.cast()),
    }
    copy
}

/// `REINDEX … CONCURRENTLY` that reaches a Lyra table runs as a plain
/// REINDEX, with a notice (a concurrent build's validation pass is not
/// built for Lyra): of a Lyra table or index, of a partitioned one with
/// a Lyra partition under it, of a schema or database holding a Lyra
/// table. Otherwise Postgres would reindex table after table, each in a
/// transaction of its own, and fail at the first Lyra one. Heap tables
/// the same statement reaches are then reindexed plainly too. Like
/// Postgres's, it is refused inside a transaction block or a function.
unsafe fn route_reindex(stmt: *mut pg_sys::ReindexStmt, top_level: bool) {
    use pg_sys::ReindexObjectType::*;
    let params = list_nodes((*stmt).params);
    let concurrently = |p: &*mut pg_sys::Node| {
        std::ffi::CStr::from_ptr((*(*p as *mut pg_sys::DefElem)).defname).to_bytes() == b"concurrently"
    };
    if !params.iter().any(concurrently) {
        return;
    }
    let reaches_lyra = match (*stmt).kind {
        REINDEX_OBJECT_INDEX | REINDEX_OBJECT_TABLE => relation_oid((*stmt).relation).is_some_and(|oid| {
            relations_under(oid)
                .into_iter()
                .any(|member| relation_is(member, |rel| tam::is_lyra(rel) || index::is_engine_index(rel)))
        }),
        REINDEX_OBJECT_SCHEMA => {
            let schema = std::ffi::CStr::from_ptr((*stmt).name).to_string_lossy().into_owned();
            holds_lyra_tables("c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = $1)", Some(schema))
        }
        REINDEX_OBJECT_DATABASE => holds_lyra_tables("true", None),
        _ => false,
    };
    if reaches_lyra {
        pg_sys::PreventInTransactionBlock(top_level, c"REINDEX CONCURRENTLY".as_ptr());
        pgrx::notice!("REINDEX CONCURRENTLY reaching lyra tables runs as a plain REINDEX");
        let mut kept = std::ptr::null_mut();
        for p in params.into_iter().filter(|p| !concurrently(p)) {
            kept = pg_sys::lappend(kept, p.cast());
        }
        (*stmt).params = kept;
    }
}

/// Whether the statement `stmt` inserts into a Lyra table (or into a
/// partitioned table with a Lyra partition).
pub unsafe fn inserts_into_lyra(stmt: *mut pg_sys::PlannedStmt) -> bool {
    list_ints((*stmt).resultRelations).into_iter().any(|index| {
        let rte = pg_sys::list_nth((*stmt).rtable, index - 1) as *mut pg_sys::RangeTblEntry;
        relations_under((*rte).relid).into_iter().any(|member| relation_is(member, |rel| tam::is_lyra(rel)))
    })
}

/// Whether a Lyra table meets `condition` on `pg_class c` (`$1`: `arg`).
fn holds_lyra_tables(condition: &str, arg: Option<String>) -> bool {
    let query = format!(
        "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE a.amname = 'lyra' AND {condition})"
    );
    let found = match arg {
        Some(arg) => Spi::get_one_with_args::<bool>(&query, &[arg.into()]),
        None => Spi::get_one::<bool>(&query),
    };
    found.ok().flatten().unwrap_or(false)
}

extern "C-unwind" {
    /// A relation and every one under it (no locks taken with `NoLock`).
    fn find_all_inheritors(parent: pg_sys::Oid, lockmode: pg_sys::LOCKMODE, parents: *mut *mut pg_sys::List) -> *mut pg_sys::List;
}

/// `oid` and the relations under it (partitions, inheritors, a partitioned
/// index's indexes).
///
/// # Safety
/// Inside a transaction.
pub unsafe fn relations_under(oid: pg_sys::Oid) -> Vec<pg_sys::Oid> {
    list_oids(find_all_inheritors(oid, pg_sys::NoLock as i32, std::ptr::null_mut()))
}

/// The oids of an oid `List`.
///
/// # Safety
/// `list` is an oid `List` or null.
pub unsafe fn list_oids(list: *mut pg_sys::List) -> Vec<pg_sys::Oid> {
    if list.is_null() {
        return Vec::new();
    }
    (0..(*list).length as usize).map(|i| (*(*list).elements.add(i)).oid_value).collect()
}

/// Whether `relation` names an existing Lyra table.
unsafe fn names_lyra_table(relation: *mut pg_sys::RangeVar) -> bool {
    names_relation(relation, |rel| tam::is_lyra(rel))
}

/// The relation `relation` names, if it exists (no lock taken).
///
/// # Safety
/// `relation` is a parsed name or null.
pub unsafe fn relation_oid(relation: *mut pg_sys::RangeVar) -> Option<pg_sys::Oid> {
    if relation.is_null() {
        return None;
    }
    let oid = pg_sys::RangeVarGetRelidExtended(
        relation,
        pg_sys::NoLock as i32,
        pg_sys::RVROption::RVR_MISSING_OK,
        None,
        std::ptr::null_mut(),
    );
    (oid != pg_sys::InvalidOid).then_some(oid)
}

/// Whether `relation` names an existing relation that `test` accepts.
unsafe fn names_relation(relation: *mut pg_sys::RangeVar, test: impl FnOnce(pg_sys::Relation) -> bool) -> bool {
    relation_oid(relation).is_some_and(|oid| relation_is(oid, test))
}

/// Whether relation `oid` exists and `test` accepts it.
unsafe fn relation_is(oid: pg_sys::Oid, test: impl FnOnce(pg_sys::Relation) -> bool) -> bool {
    let rel = pg_sys::RelationIdGetRelation(oid);
    let accepted = !rel.is_null() && test(rel);
    if !rel.is_null() {
        pg_sys::RelationClose(rel);
    }
    accepted
}

/// `CREATE INDEX` on a Lyra table: btree (the default) becomes lyra_index.
unsafe fn route_index(stmt: *mut pg_sys::IndexStmt, top_level: bool) {
    if !names_lyra_table((*stmt).relation) {
        return;
    }
    let method = (*stmt).accessMethod;
    let method = if method.is_null() { "btree".into() } else { std::ffi::CStr::from_ptr(method).to_string_lossy() };
    if method == "hash" {
        refuse_what_hash_cannot(stmt);
    }
    // Postgres's own substitution (DefineIndex), before the refusal below.
    let method = if method == "rtree" {
        pgrx::notice!("substituting access method \"gist\" for obsolete method \"rtree\"");
        "gist".into()
    } else {
        method
    };
    match method.as_ref() {
        // A hash index serves equality lookups, which a lyra_index serves
        // as well; like btree, it is converted without a word (\d shows it).
        "btree" | "hash" | "lyra_index" => (*stmt).accessMethod = pg_sys::pstrdup(LYRA_INDEX.as_ptr()),
        // Built with GIN's classes (those of extensions too), made a
        // lyra_gin when created (see `btree_classes::adopt`); `USING
        // lyra_gin` names lyra_gin's own (the core types'), or — a class
        // only GIN has (`gin_trgm_ops`, in a dump of a lyra_gin) — GIN's.
        // GiST and SP-GiST likewise (lyra_gist, lyra_spgist).
        "gin" | "gist" | "spgist" => {
            let postgres = std::ffi::CString::new(method.as_ref()).expect("no NUL");
            (*stmt).accessMethod = pg_sys::pstrdup(postgres.as_ptr());
            return finish_index_statement(stmt, false, top_level);
        }
        "lyra_gin" | "lyra_gist" | "lyra_spgist" => {
            if !names_own_classes(stmt, &method) {
                let postgres = std::ffi::CString::new(&method["lyra_".len()..]).expect("no NUL");
                (*stmt).accessMethod = pg_sys::pstrdup(postgres.as_ptr());
            }
            return finish_index_statement(stmt, false, top_level);
        }
        other => raise(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!(
                "access method \"{other}\" is not supported for indexes on lyra tables; use lyra_index (the default), gin, gist or spgist"
            ),
        ),
    }
    finish_index_statement(stmt, true, top_level);
}

/// What Postgres refuses a hash index (`DefineIndex`, in its order) is
/// refused before the index becomes a lyra_index, which could take it.
unsafe fn refuse_what_hash_cannot(stmt: *mut pg_sys::IndexStmt) {
    let refuse = |what: &str| -> ! {
        raise(PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED, format!("access method \"hash\" does not support {what}"))
    };
    if (*stmt).unique {
        refuse("unique indexes");
    }
    if !(*stmt).indexIncludingParams.is_null() {
        refuse("included columns");
    }
    if !(*stmt).indexParams.is_null() && (*(*stmt).indexParams).length > 1 {
        refuse("multicolumn indexes");
    }
}

/// Whether every operator class `stmt` names is one of `method`'s
/// (lyra_gin's), and every column it names no class for has a default
/// class of `method` (btree_gist's are GiST's defaults, so the definition
/// of a lyra_gist on them names none).
unsafe fn names_own_classes(stmt: *mut pg_sys::IndexStmt, method: &str) -> bool {
    let method = std::ffi::CString::new(method).expect("no NUL");
    let am = pg_sys::get_index_am_oid(method.as_ptr(), true);
    if am == pg_sys::InvalidOid {
        return false;
    }
    let table = relation_oid((*stmt).relation).unwrap_or(pg_sys::InvalidOid);
    list_nodes((*stmt).indexParams).into_iter().all(|elem| {
        let elem = elem as *mut pg_sys::IndexElem;
        if !(*elem).opclass.is_null() {
            return pg_sys::get_opclass_oid(am, (*elem).opclass, true) != pg_sys::InvalidOid;
        }
        if (*elem).name.is_null() || table == pg_sys::InvalidOid {
            // An expression: its type is not known before it is analysed.
            return true;
        }
        let attnum = pg_sys::get_attnum(table, (*elem).name);
        attnum == pg_sys::InvalidAttrNumber as i16
            || pg_sys::GetDefaultOpClass(pg_sys::get_atttype(table, attnum), am) != pg_sys::InvalidOid
    })
}

/// `CONCURRENTLY` dropped (with a notice; refused, as Postgres refuses
/// it, inside a transaction block or a function), and for a lyra_index,
/// its classes named as lyra_index's.
unsafe fn finish_index_statement(stmt: *mut pg_sys::IndexStmt, lyra_classes: bool, top_level: bool) {
    if (*stmt).concurrent {
        pg_sys::PreventInTransactionBlock(top_level, c"CREATE INDEX CONCURRENTLY".as_ptr());
        pgrx::notice!("CREATE INDEX CONCURRENTLY on a lyra table runs as a plain index build");
        (*stmt).concurrent = false;
    }
    if lyra_classes {
        for elem in list_nodes((*stmt).indexParams) {
            qualify_operator_class(elem as *mut pg_sys::IndexElem);
        }
    }
}

/// The extension's schema (`lyra.control`: not relocatable).
const EXTENSION_SCHEMA: &std::ffi::CStr = c"lyra";

/// An operator class named in `CREATE INDEX` (`text_pattern_ops`, written
/// for btree): lyra_index's class of that name lives in the extension's
/// schema, which need not be on the search path.
unsafe fn qualify_operator_class(elem: *mut pg_sys::IndexElem) {
    let names = (*elem).opclass;
    if names.is_null() || (*names).length != 1 {
        return;
    }
    let name = (*(*names).elements).ptr_value as *mut pg_sys::String;
    let am = pg_sys::get_index_am_oid(LYRA_INDEX.as_ptr(), true);
    let qualified = pg_sys::lappend(
        pg_sys::lappend(std::ptr::null_mut(), pg_sys::makeString(pg_sys::pstrdup(EXTENSION_SCHEMA.as_ptr())).cast()),
        pg_sys::makeString(pg_sys::pstrdup((*name).sval)).cast(),
    );
    if am != pg_sys::InvalidOid && pg_sys::get_opclass_oid(am, qualified, true) != pg_sys::InvalidOid {
        (*elem).opclass = qualified;
    }
}

/// `ALTER TABLE … ADD PRIMARY KEY / UNIQUE` (as a constraint or with a new
/// column) on a Lyra table: the index behind it is a lyra_index.
unsafe fn route_constraints(stmt: *mut pg_sys::AlterTableStmt) {
    if (*stmt).objtype == pg_sys::ObjectType::OBJECT_TYPE {
        refuse_reshaping_keyed_type(stmt);
        return;
    }
    let lyra = names_lyra_table((*stmt).relation);
    route_access_method(stmt);
    for (_, def) in alter_table_defs(stmt) {
        match (*def).type_ {
            pg_sys::NodeTag::T_Constraint => route_constraint(def.cast(), lyra),
            pg_sys::NodeTag::T_ColumnDef => {
                for constraint in list_nodes((*(def as *mut pg_sys::ColumnDef)).constraints) {
                    route_constraint(constraint.cast(), lyra);
                }
            }
            _ => {}
        }
    }
}

/// `ALTER TABLE … SET ACCESS METHOD` to lyra from another method, or
/// from lyra to another: the table's indexes change kind first
/// ([`index::btree_classes::convert_indexes`]), so that the rewrite
/// rebuilds them as the new kind. The statement's lock is taken now — by
/// the table's owner only: anyone else's statement fails its permission
/// check without this.
unsafe fn route_access_method(stmt: *mut pg_sys::AlterTableStmt) {
    let target = list_nodes((*stmt).cmds).into_iter().find_map(|cmd| {
        let cmd = cmd as *mut pg_sys::AlterTableCmd;
        ((*cmd).subtype == pg_sys::AlterTableType::AT_SetAccessMethod && !(*cmd).name.is_null()).then(|| (*cmd).name)
    });
    let Some(target) = target else { return };
    let to_lyra = std::ffi::CStr::from_ptr(target).to_bytes() == b"lyra";
    let Some(table) = relation_oid((*stmt).relation) else { return };
    // A table or materialized view: Postgres refuses the others itself.
    let kind = pg_sys::get_rel_relkind(table) as u8;
    if ![pg_sys::RELKIND_RELATION, pg_sys::RELKIND_MATVIEW].contains(&kind) || !pg_sys::pg_class_ownercheck(table, pg_sys::GetUserId()) {
        return;
    }
    pg_sys::LockRelationOid(table, pg_sys::AccessExclusiveLock as i32);
    if relation_is(table, |rel| tam::is_lyra(rel)) != to_lyra {
        index::btree_classes::convert_indexes(table, to_lyra);
    }
}

/// `ALTER TYPE … ADD / DROP ATTRIBUTE` of a composite type that lyra_index
/// keys hold: refused. Their entries encode the attributes the values had
/// when written, and would no longer be found by the values' new shape
/// (heap's btree compares values as the type is now).
unsafe fn refuse_reshaping_keyed_type(stmt: *mut pg_sys::AlterTableStmt) {
    let reshapes = list_nodes((*stmt).cmds).into_iter().any(|cmd| {
        let subtype = (*(cmd as *mut pg_sys::AlterTableCmd)).subtype;
        subtype == pg_sys::AlterTableType::AT_AddColumn || subtype == pg_sys::AlterTableType::AT_DropColumn
    });
    if !reshapes {
        return;
    }
    let flags = pg_sys::RVROption::RVR_MISSING_OK as u32;
    let relid = pg_sys::RangeVarGetRelidExtended((*stmt).relation, pg_sys::NoLock as i32, flags, None, std::ptr::null_mut());
    if relid == pg_sys::InvalidOid {
        return;
    }
    let typ = pg_sys::get_rel_type_id(relid);
    if let Some(index) = index::keyed_with(typ) {
        raise(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("cannot add or drop attributes of a composite type that keys of lyra_index \"{index}\" hold; drop that index first"),
        );
    }
}

/// A constraint added to a table (`lyra`: a Lyra table).
unsafe fn route_constraint(constraint: *mut pg_sys::Constraint, lyra: bool) {
    if !lyra {
        return;
    }
    match (*constraint).contype {
        pg_sys::ConstrType::CONSTR_PRIMARY | pg_sys::ConstrType::CONSTR_UNIQUE => {
            if (*constraint).access_method.is_null() {
                (*constraint).access_method = pg_sys::pstrdup(LYRA_INDEX.as_ptr());
            }
        }
        // A hash one is made as a btree one (a lyra_index; `route_index`
        // does the same for CREATE TABLE's); GiST's become lyra_gist.
        pg_sys::ConstrType::CONSTR_EXCLUSION => {
            let method = (*constraint).access_method;
            if !method.is_null() && std::ffi::CStr::from_ptr(method) == c"hash" {
                (*constraint).access_method = pg_sys::pstrdup(c"btree".as_ptr());
            }
        }
        _ => {}
    }
}

/// The subcommands of an `ALTER TABLE` that carry a definition (a
/// constraint, a column, a partition), with it.
pub(crate) unsafe fn alter_table_defs(stmt: *mut pg_sys::AlterTableStmt) -> Vec<(*mut pg_sys::AlterTableCmd, *mut pg_sys::Node)> {
    list_nodes((*stmt).cmds)
        .into_iter()
        .map(|cmd| cmd as *mut pg_sys::AlterTableCmd)
        .filter(|&cmd| !(*cmd).def.is_null())
        .map(|cmd| (cmd, (*cmd).def))
        .collect()
}

/// The integers of an integer `List`.
unsafe fn list_ints(list: *mut pg_sys::List) -> Vec<i32> {
    if list.is_null() {
        return Vec::new();
    }
    (0..(*list).length as usize).map(|i| (*(*list).elements.add(i)).int_value).collect()
}

/// The node pointers of a `List`.
pub(crate) unsafe fn list_nodes(list: *mut pg_sys::List) -> Vec<*mut pg_sys::Node> {
    if list.is_null() {
        return Vec::new();
    }
    (0..(*list).length as usize).map(|i| (*(*list).elements.add(i)).ptr_value.cast()).collect()
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
    if class_id != pg_sys::RelationRelationId || sub_id != 0 {
        return;
    }
    if access == pg_sys::ObjectAccessType::OAT_POST_CREATE {
        // A new relation's cache entry exists from its creation on, before
        // its pg_class row is visible to lookups.
        let rel = pg_sys::RelationIdGetRelation(object_id);
        let new_index = new_index_kind(rel, object_id);
        if new_index.is_some() {
            index::storage_reused(&(*rel).rd_node);
        }
        if !rel.is_null() {
            pg_sys::RelationClose(rel);
        }
        if let Some(kind) = new_index {
            // A DEFERRABLE constraint's trigger, created before this hook
            // runs, may have built its cache entry (as a btree's, a GiST's).
            let made = match kind {
                index::btree_classes::NewIndex::BtreeOnLyra => Some((c"lyra_index", index::routine())),
                index::btree_classes::NewIndex::OnLyra(am) => index::gist::routine_of(am).map(|routine| (am, routine)),
                _ => None,
            };
            index::btree_classes::adopt(object_id, kind);
            if let Some((am, routine)) = made {
                index::btree_classes::make_built_entry_lyra(object_id, am, routine);
            }
        }
    } else if access == pg_sys::ObjectAccessType::OAT_DROP {
        index::btree_classes::refuse_dropping_lent(object_id);
        let rel = pg_sys::RelationIdGetRelation(object_id);
        if tam::is_lyra(rel) {
            table::drop(&(*rel).rd_node);
        } else if index::is_engine_index(rel) {
            index::drop_index(rel);
        }
        if !rel.is_null() {
            pg_sys::RelationClose(rel);
        }
    }
}

/// Whether the relation `rel` (`oid`) just created is an index Lyra must
/// adopt: a lyra_index (lyra_gin…), or a btree (GIN…) on a Lyra table.
unsafe fn new_index_kind(rel: pg_sys::Relation, oid: pg_sys::Oid) -> Option<index::btree_classes::NewIndex> {
    if rel.is_null() || (*(*rel).rd_rel).relkind != pg_sys::RELKIND_INDEX as std::ffi::c_char {
        return None;
    }
    if index::is_lyra_index(rel) {
        return Some(index::btree_classes::NewIndex::Lyra);
    }
    let am = (*(*rel).rd_rel).relam;
    let stand_ins = index::btree_classes::STAND_INS;
    if let Some(&(_, lyra)) = stand_ins.iter().find(|(_, lyra)| pg_sys::get_index_am_oid(lyra.as_ptr(), true) == am) {
        return Some(index::btree_classes::NewIndex::Own(lyra));
    }
    let kind = match stand_ins.iter().find(|&&(postgres, _)| postgres == am) {
        Some(&(_, lyra)) => index::btree_classes::NewIndex::OnLyra(lyra),
        None if am == pg_sys::BTREE_AM_OID => index::btree_classes::NewIndex::BtreeOnLyra,
        None => return None,
    };
    let table = pg_sys::RelationIdGetRelation(index::btree_classes::table_of_new_index(oid));
    let on_lyra = tam::is_lyra(table);
    if !table.is_null() {
        pg_sys::RelationClose(table);
    }
    on_lyra.then_some(kind)
}

#[pg_guard]
unsafe extern "C-unwind" fn get_relation_info(
    root: *mut pg_sys::PlannerInfo,
    relation: pg_sys::Oid,
    inhparent: bool,
    rel: *mut pg_sys::RelOptInfo,
) {
    if let Some(prev) = PREV_GET_RELATION_INFO {
        prev(root, relation, inhparent, rel);
    }
    index::describe_entry_order(rel);
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
    if (*rte).rtekind != pg_sys::RTEKind::RTE_RELATION {
        return;
    }
    let relation = pg_sys::RelationIdGetRelation((*rte).relid);
    let lyra = tam::is_lyra(relation);
    if !relation.is_null() {
        pg_sys::RelationClose(relation);
    }
    if !lyra {
        return;
    }
    let seq_scans = crate::cost::take_seq_scans(rel);
    let bitmap_scans = crate::cost::take_bitmap_scans(rel);
    if !(*rel).indexlist.is_null() && crate::cost::index_paths_may_be_missing(rel, &seq_scans, &bitmap_scans) {
        crate::cost::build_index_paths_again(root, rel);
    }
    crate::lyrascan::offer(rel);
    let locks = crate::cost::lock_round_trips(root, rel);
    crate::cost::add_seq_scans(rel, seq_scans, locks);
    crate::cost::add_bitmap_scans(root, rel, bitmap_scans, locks);
    // An inheritance or partitioning parent is read by appending its
    // members' scans; a scan of its own would miss their rows.
    if !(*rte).inh {
        crate::lyrascan::offer_filtered(rel, locks);
    }
    // A parallel seq scan, when the transaction has written nothing a
    // worker would miss (`tam::parallel`); every other path of a Lyra
    // table runs in the leader only.
    (*rel).partial_pathlist = std::ptr::null_mut();
    if (*rel).consider_parallel && !(*rte).inh && crate::txn::is_empty() {
        crate::cost::add_partial_seq_scan(root, rel, (*rte).relid);
    }
    if (*rel).consider_parallel {
        if (*rel).partial_pathlist.is_null() {
            (*rel).consider_parallel = false;
        }
        let paths = (*rel).pathlist;
        if !paths.is_null() {
            for i in 0..(*paths).length as usize {
                let path = (*(*paths).elements.add(i)).ptr_value as *mut pg_sys::Path;
                (*path).parallel_safe = false;
            }
        }
    }
}
