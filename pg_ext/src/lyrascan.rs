//! `LyraScan`: the custom scan that reads a Lyra table through one of its
//! `lyra_index` indexes.
//!
//! The planner already knows which clauses a btree-like index can use, on
//! which columns, in which order, and how to parameterise the scan for the
//! inner side of a nested loop; it builds an `IndexPath` for each
//! candidate. `set_rel_pathlist_hook` ([`offer`]) replaces each plain index
//! path of a Lyra relation by a `CustomPath` with the same order and
//! parameterisation, priced by [`crate::cost`], keeping the index path as
//! its child. When such a path
//! wins, Postgres turns the child into an `IndexScan` plan (fixing the index
//! quals, replacing outer variables by nest-loop parameters) and hands it to
//! [`plan_path`], which takes the quals and discards the child:
//!
//! ```text
//!   IndexPath(t_pkey, id = $1) ──offer──► CustomPath "LyraScan"
//!                                            └ custom_paths: [IndexPath]
//!   create_plan ──► IndexScan (child) ──plan_path──► CustomScan "LyraScan"
//!                                                    custom_exprs: index quals
//!                                                              + original quals
//!                                                              + node filter
//!                                                    custom_private: [index, direction,
//!                                                                     #quals, LIMIT hint]
//!
//!   filtered table scan (no index):                  custom_exprs: node filter
//!                                                    custom_private: [0, forward, 0, 0,
//!                                                                     node columns…]
//! ```
//!
//! (`custom_private` is an integer list: Postgres copies plans with it as
//! plain integers, so it must hold nothing else.)
//!
//! At execution the scan builds its scan keys as `IndexScan` does
//! (`ExecIndexBuildScanKeys`, runtime keys evaluated on every rescan) and
//! reads through the index AM ([`crate::index`]): the keys become key
//! ranges or point lookups. Point lookups on a unique index (`=`, `IN
//! (…)`, `= ANY($1)`) read every entry and its row in **one request** to
//! the node; a range brings each entry's row along with it, a page of
//! them per request. Tuples a range does not decide exactly are rechecked
//! against the original quals.
//!
//! `EXPLAIN` shows the index, its condition and a pushed `LIMIT`;
//! `VERBOSE` adds the key
//! range read; `ANALYZE` the requests sent to the node (round trips), so
//! a point `SELECT` shows `Node Round Trips: 1`.
//!
//! A LyraScan can also read the **whole table with a filter** the node
//! applies ([`offer_filtered`], `Node Filter` in `EXPLAIN`): the clauses
//! the node can judge ([`crate::pushdown`]) go with every page request,
//! and the node sends only the rows that may match. It competes with the
//! seq scan, which ships every row ([`crate::cost::filtered_scan`]); the
//! backend evaluates all clauses again on what it gets.
//!
//! An index scan's own quals that the index does not decide go to the
//! node the same way, as a filter on the rows it sends with the entries
//! of a range (`Node Filter`; not for point lookups, and not once the
//! transaction has written the table, see [`start`]).
//!
//! Not done yet: projection pushed into the node; a `LIMIT` sizes the first page of entries when the scan's
//! rows go straight to it ([`limit_hint`]), it is not a node-side limit;
//! the ranges of an `IN (…)` list on a non-unique index are one request
//! each.

use std::ffi::{c_int, CStr};

use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::index;
use crate::pushdown::Values;
use lyra_engine::keys::KeyPrefix;

const NAME: &CStr = c"LyraScan";

static mut PATH_METHODS: pg_sys::CustomPathMethods = pg_sys::CustomPathMethods {
    CustomName: NAME.as_ptr(),
    PlanCustomPath: Some(plan_path),
    // The child index path is reparameterised by Postgres; nothing private.
    ReparameterizeCustomPathByChild: None,
};

static mut SCAN_METHODS: pg_sys::CustomScanMethods =
    pg_sys::CustomScanMethods { CustomName: NAME.as_ptr(), CreateCustomScanState: Some(create_state) };

static mut EXEC_METHODS: pg_sys::CustomExecMethods = pg_sys::CustomExecMethods {
    CustomName: NAME.as_ptr(),
    BeginCustomScan: Some(begin),
    ExecCustomScan: Some(exec),
    EndCustomScan: Some(end),
    ReScanCustomScan: Some(rescan),
    MarkPosCustomScan: None,
    RestrPosCustomScan: None,
    EstimateDSMCustomScan: None,
    InitializeDSMCustomScan: None,
    ReInitializeDSMCustomScan: None,
    InitializeWorkerCustomScan: None,
    ShutdownCustomScan: None,
    ExplainCustomScan: Some(explain),
};

/// Registers the scan's methods by name (plans copied or read back find
/// them through it).
pub fn register() {
    // SAFETY: called once from _PG_init; Postgres keeps the pointer.
    unsafe { pg_sys::RegisterCustomScanMethods(&raw const SCAN_METHODS) }
}

/// Replaces every plain index path on a `lyra_index` of `rel` by a LyraScan
/// path with the same order and parameterisation, at Lyra's price.
pub unsafe fn offer(rel: *mut pg_sys::RelOptInfo) {
    if !crate::guc::enable_lyrascan() {
        return;
    }
    let lyra_index = pg_sys::get_index_am_oid(c"lyra_index".as_ptr(), true);
    let paths = (*rel).pathlist;
    if paths.is_null() || lyra_index == pg_sys::InvalidOid {
        return;
    }
    for i in 0..(*paths).length as usize {
        let cell = (*paths).elements.add(i);
        let path = (*cell).ptr_value as *mut pg_sys::Path;
        if (*path).pathtype != pg_sys::NodeTag::T_IndexScan {
            continue;
        }
        let index_path = path as *mut pg_sys::IndexPath;
        let info = (*index_path).indexinfo;
        if (*info).relam != lyra_index && !crate::index::btree_classes::is_lent((*info).indexoid) {
            continue;
        }
        (*cell).ptr_value = wrap(rel, index_path).cast();
    }
}

/// Offers a LyraScan of the whole table that has the node filter rows by
/// the clauses of `rel` it can judge ([`crate::pushdown`]), if any: it
/// competes with the seq scan, which ships every row.
pub unsafe fn offer_filtered(rel: *mut pg_sys::RelOptInfo, locks: f64) {
    if !crate::guc::enable_lyrascan() {
        return;
    }
    let (pushed, _) = crate::pushdown::pushable((*rel).baserestrictinfo, (*rel).relid, Values::Plan);
    if pushed.is_null() {
        return;
    }
    let custom = pg_sys::palloc0(std::mem::size_of::<pg_sys::CustomPath>()) as *mut pg_sys::CustomPath;
    (*custom).path.type_ = pg_sys::NodeTag::T_CustomPath;
    (*custom).path.pathtype = pg_sys::NodeTag::T_CustomScan;
    (*custom).path.parent = rel;
    (*custom).path.pathtarget = (*rel).reltarget;
    (*custom).path.rows = (*rel).rows;
    ((*custom).path.startup_cost, (*custom).path.total_cost) = crate::cost::filtered_scan(rel, locks);
    (*custom).flags = pg_sys::CUSTOMPATH_SUPPORT_PROJECTION;
    (*custom).custom_private = pushed;
    (*custom).methods = &raw const PATH_METHODS;
    pg_sys::add_path(rel, custom.cast());
}

unsafe fn wrap(rel: *mut pg_sys::RelOptInfo, index_path: *mut pg_sys::IndexPath) -> *mut pg_sys::CustomPath {
    let custom = pg_sys::palloc0(std::mem::size_of::<pg_sys::CustomPath>()) as *mut pg_sys::CustomPath;
    (*custom).path = (*index_path).path;
    ((*custom).path.startup_cost, (*custom).path.total_cost) = crate::cost::lyrascan(rel, index_path);
    (*custom).path.type_ = pg_sys::NodeTag::T_CustomPath;
    (*custom).path.pathtype = pg_sys::NodeTag::T_CustomScan;
    (*custom).flags = pg_sys::CUSTOMPATH_SUPPORT_BACKWARD_SCAN | pg_sys::CUSTOMPATH_SUPPORT_PROJECTION;
    (*custom).custom_paths = pg_sys::lappend(std::ptr::null_mut(), index_path.cast());
    (*custom).methods = &raw const PATH_METHODS;
    custom
}

#[pg_guard]
unsafe extern "C-unwind" fn plan_path(
    root: *mut pg_sys::PlannerInfo,
    rel: *mut pg_sys::RelOptInfo,
    path: *mut pg_sys::CustomPath,
    tlist: *mut pg_sys::List,
    clauses: *mut pg_sys::List,
    custom_plans: *mut pg_sys::List,
) -> *mut pg_sys::Plan {
    if custom_plans.is_null() {
        return plan_filtered(rel, path, tlist, clauses);
    }
    let mut child = pg_sys::list_nth(custom_plans, 0) as *mut pg_sys::IndexScan;
    // Pseudo-constant quals (`WHERE $1 IS NULL`, `k = 1 AND k = 2`) put a
    // gating Result over the child; Postgres gates the LyraScan the same
    // way, so the child's is dropped with it.
    if (*child).scan.plan.type_ == pg_sys::NodeTag::T_Result {
        child = (*child).scan.plan.lefttree as *mut pg_sys::IndexScan;
    }
    if child.is_null() || (*child).scan.plan.type_ != pg_sys::NodeTag::T_IndexScan {
        error!("LyraScan expected an index scan plan to take its quals from");
    }
    let scan = pg_sys::palloc0(std::mem::size_of::<pg_sys::CustomScan>()) as *mut pg_sys::CustomScan;
    (*scan).scan.plan.type_ = pg_sys::NodeTag::T_CustomScan;
    (*scan).scan.plan.targetlist = tlist;
    // What the index does not decide: the child worked it out, with outer
    // variables already replaced by nest-loop parameters.
    (*scan).scan.plan.qual = (*child).scan.plan.qual;
    (*scan).scan.scanrelid = (*rel).relid;
    (*scan).flags = (*path).flags;
    let quals = (*child).indexqual;
    // What the index does not decide and the node can judge on each row.
    let (pushed, _) = crate::pushdown::pushable((*scan).scan.plan.qual, (*rel).relid, Values::Plan);
    (*scan).custom_exprs = pg_sys::list_concat(pg_sys::list_copy(quals), (*child).indexqualorig);
    (*scan).custom_exprs = pg_sys::list_concat((*scan).custom_exprs, pushed);
    let mut private = pg_sys::lappend_int(std::ptr::null_mut(), (*child).indexid.to_u32() as c_int);
    private = pg_sys::lappend_int(private, (*child).indexorderdir as c_int);
    private = pg_sys::lappend_int(private, pg_sys::list_length(quals));
    private = pg_sys::lappend_int(private, limit_hint(root, path, (*scan).scan.plan.qual));
    (*scan).custom_private = private;
    (*scan).methods = &raw const SCAN_METHODS;
    scan.cast()
}

/// The plan of a filtered table scan ([`offer_filtered`]): every clause
/// is a qual the backend evaluates (the node's filter only thins the rows
/// sent); the pushed ones are `custom_exprs`; no index (`custom_private`
/// starts with 0).
unsafe fn plan_filtered(
    rel: *mut pg_sys::RelOptInfo,
    path: *mut pg_sys::CustomPath,
    tlist: *mut pg_sys::List,
    clauses: *mut pg_sys::List,
) -> *mut pg_sys::Plan {
    let scan = pg_sys::palloc0(std::mem::size_of::<pg_sys::CustomScan>()) as *mut pg_sys::CustomScan;
    (*scan).scan.plan.type_ = pg_sys::NodeTag::T_CustomScan;
    (*scan).scan.plan.targetlist = tlist;
    (*scan).scan.plan.qual = pg_sys::extract_actual_clauses(clauses, false);
    (*scan).scan.scanrelid = (*rel).relid;
    (*scan).flags = (*path).flags;
    (*scan).custom_exprs = pg_sys::list_copy((*path).custom_private);
    let mut private = pg_sys::lappend_int(std::ptr::null_mut(), 0);
    private = pg_sys::lappend_int(private, pg_sys::ScanDirection::ForwardScanDirection as c_int);
    private = pg_sys::lappend_int(private, 0);
    private = pg_sys::lappend_int(private, 0);
    // then the columns the node sends (none listed: all); all plain
    // integers, as the list is an integer list
    for column in needed_columns(rel, (*scan).scan.plan.qual) {
        private = pg_sys::lappend_int(private, column);
    }
    (*scan).custom_private = private;
    (*scan).methods = &raw const SCAN_METHODS;
    scan.cast()
}

/// Whether nothing reads a column of the scan's rows: its target list and
/// filter name none (system columns aside — a row mark's `ctid`), as a
/// foreign key's `SELECT 1 … FOR KEY SHARE` does.
unsafe fn reads_no_column(node: *mut pg_sys::CustomScanState) -> bool {
    let plan = (*node).ss.ps.plan as *mut pg_sys::CustomScan;
    let relid = (*plan).scan.scanrelid;
    let mut attrs: *mut pg_sys::Bitmapset = std::ptr::null_mut();
    pg_sys::pull_varattnos((*plan).scan.plan.targetlist.cast(), relid, &mut attrs);
    pg_sys::pull_varattnos((*plan).scan.plan.qual.cast(), relid, &mut attrs);
    // Members are attribute numbers offset by the lowest system column's:
    // user columns and the whole row (0) come after the system columns.
    let first_user = -pg_sys::FirstLowInvalidHeapAttributeNumber;
    let mut member = -1;
    loop {
        member = pg_sys::bms_next_member(attrs, member);
        if member < 0 {
            return true;
        }
        if member >= first_user {
            return false;
        }
    }
}

/// The columns (0-based) of `rel` that anything reads from the scan's
/// rows: its target (every column a later plan node needs) and `quals`.
/// Empty (meaning all) if that is every column, or a whole-row reference
/// needs them all. Rows that are updated, deleted or locked are fetched
/// again whole by the executor, so the scan's rows need no more.
unsafe fn needed_columns(rel: *mut pg_sys::RelOptInfo, quals: *mut pg_sys::List) -> Vec<c_int> {
    let mut attrs: *mut pg_sys::Bitmapset = std::ptr::null_mut();
    pg_sys::pull_varattnos((*(*rel).reltarget).exprs.cast(), (*rel).relid, &mut attrs);
    pg_sys::pull_varattnos(quals.cast(), (*rel).relid, &mut attrs);
    let offset = pg_sys::FirstLowInvalidHeapAttributeNumber;
    let mut columns = Vec::new();
    let mut member = -1;
    loop {
        member = pg_sys::bms_next_member(attrs, member);
        if member < 0 {
            break;
        }
        let attno = member + offset;
        if attno == 0 {
            return Vec::new();
        }
        if attno > 0 {
            columns.push(attno - 1);
        }
    }
    if columns.len() >= (*rel).max_attr as usize {
        return Vec::new();
    }
    // A scan that reads no column (count(*)) asks for one past the last:
    // none listed would mean all of them.
    if columns.is_empty() {
        columns.push((*rel).max_attr as c_int);
    }
    columns
}

/// The query's `LIMIT` (with its `OFFSET`), if this scan's rows go
/// straight to it: the query reads only this relation, the scan filters
/// nothing itself, is not the inner side of a join, and its order is the
/// one the query asks for (no sort above it needs every row). 0: none.
unsafe fn limit_hint(root: *mut pg_sys::PlannerInfo, path: *mut pg_sys::CustomPath, filter: *mut pg_sys::List) -> c_int {
    let limit = (*root).limit_tuples;
    let alone = pg_sys::bms_membership((*root).all_baserels) == pg_sys::BMS_Membership::BMS_SINGLETON;
    let ordered = (*root).query_pathkeys.is_null() || pg_sys::pathkeys_contained_in((*root).query_pathkeys, (*path).path.pathkeys);
    if limit <= 0.0 || !filter.is_null() || !(*path).path.param_info.is_null() || !alone || !ordered {
        return 0;
    }
    limit.ceil().min(4096.0) as c_int
}

/// The executor state: Postgres's part first, ours after it (plain values
/// only: it lives in executor memory and is never dropped).
#[repr(C)]
struct LyraScanState {
    css: pg_sys::CustomScanState,
    index: pg_sys::Relation,
    scan: pg_sys::IndexScanDesc,
    keys: pg_sys::ScanKey,
    nkeys: c_int,
    runtime_keys: *mut pg_sys::IndexRuntimeKeyInfo,
    nruntime_keys: c_int,
    runtime_cx: *mut pg_sys::ExprContext,
    keys_ready: bool,
    /// The original quals, for tuples the key range does not decide and
    /// for EvalPlanQual rechecks.
    recheck: *mut pg_sys::ExprState,
    quals_orig: *mut pg_sys::List,
    /// The index's order as the plan reads it (ORDER BY … DESC: backward).
    direction: pg_sys::ScanDirection::Type,
    /// The `LIMIT` the rows go straight to, if any (0: none).
    limit: c_int,
    round_trips: u64,
    /// A filtered table scan (no index): the table scan, and the clauses
    /// the node judges.
    table_scan: pg_sys::TableScanDesc,
    node_filter: *mut pg_sys::List,
}

extern "C-unwind" {
    fn ExecIndexBuildScanKeys(
        planstate: *mut pg_sys::PlanState,
        index: pg_sys::Relation,
        quals: *mut pg_sys::List,
        isorderby: bool,
        scan_keys: *mut pg_sys::ScanKey,
        num_scan_keys: *mut c_int,
        runtime_keys: *mut *mut pg_sys::IndexRuntimeKeyInfo,
        num_runtime_keys: *mut c_int,
        array_keys: *mut *mut std::ffi::c_void,
        num_array_keys: *mut c_int,
    );
    fn ExecIndexEvalRuntimeKeys(
        econtext: *mut pg_sys::ExprContext,
        runtime_keys: *mut pg_sys::IndexRuntimeKeyInfo,
        num_runtime_keys: c_int,
    );
}

#[pg_guard]
unsafe extern "C-unwind" fn create_state(_scan: *mut pg_sys::CustomScan) -> *mut pg_sys::Node {
    let state = pg_sys::palloc0(std::mem::size_of::<LyraScanState>()) as *mut LyraScanState;
    (*state).css.ss.ps.type_ = pg_sys::NodeTag::T_CustomScanState;
    (*state).css.methods = &raw const EXEC_METHODS;
    state.cast()
}

unsafe fn state<'a>(node: *mut pg_sys::CustomScanState) -> &'a mut LyraScanState {
    &mut *(node as *mut LyraScanState)
}

#[pg_guard]
unsafe extern "C-unwind" fn begin(node: *mut pg_sys::CustomScanState, estate: *mut pg_sys::EState, _eflags: c_int) {
    let plan = (*node).ss.ps.plan as *mut pg_sys::CustomScan;
    let private = (*plan).custom_private;
    let index_oid = pg_sys::Oid::from(pg_sys::list_nth_int(private, 0) as u32);
    let nquals = pg_sys::list_nth_int(private, 2);
    let exprs = (*plan).custom_exprs;
    use_table_slots(node, estate);
    if index_oid == pg_sys::InvalidOid {
        // A filtered table scan: begun at the first fetch, as below.
        state(node).node_filter = exprs;
        state(node).direction = pg_sys::ScanDirection::ForwardScanDirection;
        return;
    }
    let quals = pg_sys::list_truncate(pg_sys::list_copy(exprs), nquals);
    let state = state(node);
    state.direction = pg_sys::list_nth_int(private, 1) as pg_sys::ScanDirection::Type;
    state.limit = pg_sys::list_nth_int(private, 3);
    // custom_exprs: index quals, the same as written, the pushed filter
    state.quals_orig = pg_sys::list_truncate(pg_sys::list_copy_tail(exprs, nquals), nquals);
    state.node_filter = pg_sys::list_copy_tail(exprs, 2 * nquals);
    state.recheck = pg_sys::ExecInitQual(state.quals_orig, node.cast());
    let lock = (*pg_sys::exec_rt_fetch((*plan).scan.scanrelid, estate)).rellockmode;
    state.index = pg_sys::index_open(index_oid, lock);
    ExecIndexBuildScanKeys(
        node.cast(),
        state.index,
        quals,
        false,
        &mut state.keys,
        &mut state.nkeys,
        &mut state.runtime_keys,
        &mut state.nruntime_keys,
        std::ptr::null_mut(),
        std::ptr::null_mut(),
    );
    if state.nruntime_keys > 0 {
        state.runtime_cx = pg_sys::CreateExprContext(estate);
    }
}

/// Gives the scan a slot of the table's own kind (Postgres gives a custom
/// scan a virtual one): rows stay encoded until a column is asked for,
/// and the expressions compiled for the slot kind also fit the slots that
/// EvalPlanQual hands the recheck, which are the table's kind. The quals
/// and projection Postgres compiled for a virtual slot are compiled again.
unsafe fn use_table_slots(node: *mut pg_sys::CustomScanState, estate: *mut pg_sys::EState) {
    let plan = (*node).ss.ps.plan as *mut pg_sys::CustomScan;
    let table = (*node).ss.ss_currentRelation;
    let ops = pg_sys::table_slot_callbacks(table);
    pg_sys::ExecInitScanTupleSlot(estate, &mut (*node).ss, (*table).rd_att, ops);
    pg_sys::ExecAssignScanProjectionInfoWithVarno(&mut (*node).ss, (*plan).scan.scanrelid as c_int);
    (*node).ss.ps.qual = pg_sys::ExecInitQual((*plan).scan.plan.qual, node.cast());
}

/// (Re)starts the index scan with the current keys, evaluating the
/// runtime ones (parameters, outer columns) first. The scan is begun by
/// the first fetch, as `IndexScan` does (a scan that never runs asks
/// nothing).
unsafe fn start(node: *mut pg_sys::CustomScanState) {
    let state = state(node);
    if state.scan.is_null() {
        let estate = (*node).ss.ps.state;
        let table = (*node).ss.ss_currentRelation;
        state.scan = pg_sys::index_beginscan(table, state.index, (*estate).es_snapshot, state.nkeys, 0);
        if state.limit > 0 {
            index::scan::limit_first_page(state.scan, state.limit as u32);
        }
        if let Some((mode, purpose)) = read_lock_mode(node) {
            index::scan::lock_rows(state.scan, mode, purpose, reads_no_column(node));
        }
        let (rows_start, rows_end) = KeyPrefix::Rows { table: crate::table::table_id(table) }.range();
        if !state.node_filter.is_null() && !crate::txn::wrote_in(&rows_start, &rows_end) {
            let plan = (*node).ss.ps.plan as *mut pg_sys::CustomScan;
            let values = Values::Run((*estate).es_param_list_info);
            let (_, conditions) = crate::pushdown::pushable(state.node_filter, (*plan).scan.scanrelid, values);
            index::scan::push_filter(state.scan, conditions);
        }
    }
    if state.nruntime_keys > 0 {
        pg_sys::MemoryContextReset((*state.runtime_cx).ecxt_per_tuple_memory);
        ExecIndexEvalRuntimeKeys(state.runtime_cx, state.runtime_keys, state.nruntime_keys);
    }
    let before = lyra_cluster::client::requests_sent();
    pg_sys::index_rescan(state.scan, state.keys, state.nkeys, std::ptr::null_mut(), 0);
    state.round_trips += lyra_cluster::client::requests_sent() - before;
    state.keys_ready = true;
}

/// The row lock to take while reading, when every row this scan returns
/// goes on to be locked: the statement reads this one table and nothing
/// else, the scan has no quals of its own, and it is an UPDATE or DELETE
/// of the table (`FOR NO KEY UPDATE` for an UPDATE, `FOR UPDATE` for a
/// DELETE, as the write takes it) or a `SELECT … FOR …` right under its
/// `LockRows` (a foreign key's check of its referenced row is one). The
/// lock then comes with the read instead of a round trip of its own;
/// heap locks exactly those rows too. With it, what for.
unsafe fn read_lock_mode(
    node: *mut pg_sys::CustomScanState,
) -> Option<(lyra_cluster::protocol::LockMode, crate::txn::LockFor)> {
    use lyra_cluster::protocol::LockMode;
    let stmt = (*(*node).ss.ps.state).es_plannedstmt;
    let plan = (*node).ss.ps.plan as *mut pg_sys::CustomScan;
    let relid = (*plan).scan.scanrelid;
    if pg_sys::list_length((*stmt).rtable) != 1 || !(*plan).scan.plan.qual.is_null() {
        return None;
    }
    match (*stmt).commandType {
        pg_sys::CmdType::CMD_UPDATE | pg_sys::CmdType::CMD_DELETE => {
            let targets = (*stmt).resultRelations;
            let only_target = pg_sys::list_length(targets) == 1 && pg_sys::list_nth_int(targets, 0) as pg_sys::Index == relid;
            let mode = match (*stmt).commandType {
                pg_sys::CmdType::CMD_UPDATE => LockMode::NoKeyUpdate,
                _ => LockMode::Update,
            };
            only_target.then_some((mode, crate::txn::LockFor::Write))
        }
        pg_sys::CmdType::CMD_SELECT => {
            let top = (*stmt).planTree;
            let marks = (*stmt).rowMarks;
            let locked_right_above = !top.is_null()
                && (*top).type_ == pg_sys::NodeTag::T_LockRows
                && (*top).lefttree == plan.cast()
                && pg_sys::list_length(marks) == 1;
            if !locked_right_above {
                return None;
            }
            let mark = pg_sys::list_nth(marks, 0) as *mut pg_sys::PlanRowMark;
            if (*mark).rti != relid {
                return None;
            }
            let mode = match (*mark).markType {
                pg_sys::RowMarkType::ROW_MARK_EXCLUSIVE => LockMode::Update,
                pg_sys::RowMarkType::ROW_MARK_NOKEYEXCLUSIVE => LockMode::NoKeyUpdate,
                pg_sys::RowMarkType::ROW_MARK_SHARE => LockMode::Share,
                pg_sys::RowMarkType::ROW_MARK_KEYSHARE => LockMode::KeyShare,
                _ => return None,
            };
            Some((mode, crate::txn::LockFor::Lock))
        }
        _ => None,
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn exec(node: *mut pg_sys::CustomScanState) -> *mut pg_sys::TupleTableSlot {
    pg_sys::ExecScan(&mut (*node).ss, Some(next), Some(recheck))
}

/// The next tuple of the index scan that satisfies the index quals.
#[pg_guard]
unsafe extern "C-unwind" fn next(ss: *mut pg_sys::ScanState) -> *mut pg_sys::TupleTableSlot {
    if state(ss.cast()).index.is_null() {
        return next_filtered(ss);
    }
    if !state(ss.cast()).keys_ready {
        start(ss.cast());
    }
    let state = state(ss.cast());
    let slot = (*ss).ss_ScanTupleSlot;
    let estate = (*ss).ps.state;
    let mut direction = (*estate).es_direction;
    if state.direction == pg_sys::ScanDirection::BackwardScanDirection {
        direction = -direction;
    }
    loop {
        let before = lyra_cluster::client::requests_sent();
        let found = pg_sys::index_getnext_slot(state.scan, direction, slot);
        state.round_trips += lyra_cluster::client::requests_sent() - before;
        if !found {
            // An empty slot tells ExecScan the scan is over.
            return pg_sys::ExecClearTuple(slot);
        }
        if !(*state.scan).xs_recheck || quals_hold(state, ss, slot) {
            return slot;
        }
    }
}

/// The next row of a filtered table scan (the backend's quals are applied
/// by `ExecScan`).
unsafe fn next_filtered(ss: *mut pg_sys::ScanState) -> *mut pg_sys::TupleTableSlot {
    let state = state(ss.cast());
    let estate = (*ss).ps.state;
    if state.table_scan.is_null() {
        let plan = (*ss).ps.plan as *mut pg_sys::CustomScan;
        let values = Values::Run((*estate).es_param_list_info);
        let (_, conditions) = crate::pushdown::pushable(state.node_filter, (*plan).scan.scanrelid, values);
        state.table_scan = pg_sys::table_beginscan((*ss).ss_currentRelation, (*estate).es_snapshot, 0, std::ptr::null_mut());
        crate::tam::push_filter(state.table_scan, conditions);
        let columns = node_columns(plan);
        if !columns.is_empty() {
            crate::tam::push_columns(state.table_scan, columns);
        }
    }
    let slot = (*ss).ss_ScanTupleSlot;
    let before = lyra_cluster::client::requests_sent();
    let found = pg_sys::table_scan_getnextslot(state.table_scan, (*estate).es_direction, slot);
    state.round_trips += lyra_cluster::client::requests_sent() - before;
    if !found {
        return pg_sys::ExecClearTuple(slot);
    }
    slot
}

/// Whether `slot` satisfies the scan's original index quals.
#[pg_guard]
unsafe extern "C-unwind" fn recheck(ss: *mut pg_sys::ScanState, slot: *mut pg_sys::TupleTableSlot) -> bool {
    // A filtered table scan has no index quals: ExecScan applies its quals.
    state(ss.cast()).index.is_null() || quals_hold(state(ss.cast()), ss, slot)
}

unsafe fn quals_hold(state: &LyraScanState, ss: *mut pg_sys::ScanState, slot: *mut pg_sys::TupleTableSlot) -> bool {
    let econtext = (*ss).ps.ps_ExprContext;
    (*econtext).ecxt_scantuple = slot;
    let holds = pg_sys::ExecQual(state.recheck, econtext);
    pg_sys::MemoryContextReset((*econtext).ecxt_per_tuple_memory);
    holds
}

#[pg_guard]
unsafe extern "C-unwind" fn rescan(node: *mut pg_sys::CustomScanState) {
    // The next fetch starts the scan again, with the runtime keys'
    // new values.
    state(node).keys_ready = false;
    let table_scan = state(node).table_scan;
    if !table_scan.is_null() {
        pg_sys::table_rescan(table_scan, std::ptr::null_mut());
    }
    pg_sys::ExecScanReScan(&mut (*node).ss);
}

#[pg_guard]
unsafe extern "C-unwind" fn end(node: *mut pg_sys::CustomScanState) {
    let state = state(node);
    if !state.table_scan.is_null() {
        pg_sys::table_endscan(state.table_scan);
        state.table_scan = std::ptr::null_mut();
    }
    if !state.scan.is_null() {
        pg_sys::index_endscan(state.scan);
        state.scan = std::ptr::null_mut();
    }
    if !state.index.is_null() {
        pg_sys::index_close(state.index, pg_sys::NoLock as pg_sys::LOCKMODE);
        state.index = std::ptr::null_mut();
    }
}

/// The columns a filtered table scan has the node send (empty: all):
/// `custom_private` past its first four entries.
unsafe fn node_columns(plan: *mut pg_sys::CustomScan) -> Vec<u32> {
    let private = (*plan).custom_private;
    (4..pg_sys::list_length(private)).map(|i| pg_sys::list_nth_int(private, i) as u32).collect()
}

/// `Node Filter`: the clauses the node judges (an index scan's only while
/// its transaction has not written the table, see [`start`]).
unsafe fn explain_node_filter(node: *mut pg_sys::CustomScanState, ancestors: *mut pg_sys::List, es: *mut pg_sys::ExplainState) {
    let context = pg_sys::set_deparse_context_plan((*es).deparse_cxt, (*node).ss.ps.plan, ancestors);
    let filter = pg_sys::make_ands_explicit(state(node).node_filter);
    let filter = pg_sys::deparse_expression(filter.cast(), context, (*es).verbose, false);
    pg_sys::ExplainPropertyText(c"Node Filter".as_ptr(), filter, es);
}

#[pg_guard]
unsafe extern "C-unwind" fn explain(
    node: *mut pg_sys::CustomScanState,
    ancestors: *mut pg_sys::List,
    es: *mut pg_sys::ExplainState,
) {
    let state = state(node);
    if state.index.is_null() {
        explain_node_filter(node, ancestors, es);
        let columns = node_columns((*node).ss.ps.plan as *mut pg_sys::CustomScan);
        if (*es).verbose && !columns.is_empty() {
            let tupdesc = (*(*node).ss.ss_currentRelation).rd_att;
            let names: Vec<String> = columns
                .iter()
                .filter(|&&c| (c as i32) < (*tupdesc).natts)
                .map(|&c| {
                    let attr = &*(*tupdesc).attrs.as_ptr().add(c as usize);
                    CStr::from_ptr(attr.attname.data.as_ptr()).to_string_lossy().into_owned()
                })
                .collect();
            let names = if names.is_empty() { "none".to_string() } else { names.join(", ") };
            let names = std::ffi::CString::new(names).unwrap_or_default();
            pg_sys::ExplainPropertyText(c"Node Columns".as_ptr(), names.as_ptr(), es);
        }
        if (*es).analyze {
            pg_sys::ExplainPropertyUInteger(c"Node Round Trips".as_ptr(), std::ptr::null(), state.round_trips, es);
        }
        return;
    }
    let index_name = CStr::from_ptr((*(*state.index).rd_rel).relname.data.as_ptr());
    pg_sys::ExplainPropertyText(c"Index".as_ptr(), index_name.as_ptr(), es);
    if state.direction == pg_sys::ScanDirection::BackwardScanDirection {
        pg_sys::ExplainPropertyText(c"Scan Direction".as_ptr(), c"Backward".as_ptr(), es);
    }
    if !state.quals_orig.is_null() {
        let context = pg_sys::set_deparse_context_plan((*es).deparse_cxt, (*node).ss.ps.plan, ancestors);
        let condition = pg_sys::deparse_expression(
            pg_sys::make_ands_explicit(state.quals_orig).cast(),
            context,
            (*es).verbose,
            false,
        );
        pg_sys::ExplainPropertyText(c"Index Cond".as_ptr(), condition, es);
    }
    if !state.node_filter.is_null() {
        explain_node_filter(node, ancestors, es);
    }
    if state.limit > 0 {
        pg_sys::ExplainPropertyInteger(c"Pushed Limit".as_ptr(), std::ptr::null(), state.limit.into(), es);
    }
    if (*es).verbose {
        // Runtime keys are known once the scan ran (ANALYZE).
        let range = if state.nruntime_keys > 0 && !state.keys_ready {
            "set by parameters at run time".to_string()
        } else {
            let keys = if state.nkeys > 0 { std::slice::from_raw_parts(state.keys, state.nkeys as usize) } else { &[] };
            index::ranges::describe(state.index, (*node).ss.ss_currentRelation, keys)
        };
        let range = std::ffi::CString::new(range).unwrap_or_default();
        pg_sys::ExplainPropertyText(c"Key Range".as_ptr(), range.as_ptr(), es);
    }
    if (*es).analyze {
        pg_sys::ExplainPropertyUInteger(c"Node Round Trips".as_ptr(), std::ptr::null(), state.round_trips, es);
    }
}
