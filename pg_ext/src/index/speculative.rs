//! `INSERT … ON CONFLICT` on Lyra tables: Postgres's speculative insertion,
//! with Lyra's indexes as the arbiters.
//!
//! Postgres runs each proposed row like this (`ExecInsert`):
//!
//! ```text
//!  ┌► pre-check: scan each arbiter index with a dirty snapshot
//!  │  (the latest committed entries, and this transaction's own)
//!  │     found ──► DO NOTHING: skip the row
//!  │               DO UPDATE:  lock the row found, update it
//!  │  not found:
//!  │     tuple_insert_speculative    the row goes into the write buffer
//!  │                                 behind a mark (txn::begin_speculative)
//!  │     aminsert(UNIQUE_CHECK_PARTIAL) per index: an arbiter's entry is
//!  │                                 locked on the node (waiting for a
//!  │                                 concurrent inserter of the same key);
//!  │                                 a live entry of another row → false
//!  │     tuple_complete_speculative  kept, or on conflict everything since
//!  └──── conflict                    the mark is taken back
//! ```
//!
//! Two concurrent upserts of one new key: the second's pre-check cannot see
//! the first's uncommitted row, but its `aminsert` waits on the first's
//! entry lock; when the first commits, the entry is there, the second
//! takes its row back and the pre-check now finds the committed row — the
//! same outcome as heap's.
//!
//! Postgres prepares an arbiter index in `ExecOpenIndices` →
//! `BuildSpeculativeIndexInfo`, which refuses every index that is not a
//! btree. [`open_arbiters`] does the same preparation for Lyra tables at
//! `ExecutorStart` — the equality operator of each key column from the
//! index's (btree) operator family — so the executor finds the indexes
//! already open and never calls it.
//!
//! On a partitioned table, Postgres opens a partition's indexes itself when
//! it routes the first row there, and accepts only btrees: the partitions'
//! indexes are lent as btrees for the statement
//! ([`super::btree_classes::lend_for_upsert`]). An arbiter entry locked by an
//! insert that then found a conflict stays locked until the transaction
//! ends, so a later inserter of that key waits for it (heap would not).

use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::error::raise;
use crate::tam;

/// Opens the indexes of the Lyra result relations of `query`'s
/// `ON CONFLICT` inserts, ready for speculative insertion. Called after
/// the executor started.
///
/// # Safety
/// `query` has just been through `standard_ExecutorStart`.
pub unsafe fn open_arbiters(query: *mut pg_sys::QueryDesc) {
    let estate = (*query).estate;
    if estate.is_null() {
        return;
    }
    let mut states = vec![(*query).planstate];
    let aux = (*estate).es_auxmodifytables;
    if !aux.is_null() {
        states.extend((0..(*aux).length as usize).map(|i| (*(*aux).elements.add(i)).ptr_value.cast()));
    }
    for state in states {
        if state.is_null() || (*state).type_ != pg_sys::NodeTag::T_ModifyTableState {
            continue;
        }
        let modify = state as *mut pg_sys::ModifyTableState;
        let plan = (*state).plan as *mut pg_sys::ModifyTable;
        if (*plan).onConflictAction == pg_sys::OnConflictAction::ONCONFLICT_NONE {
            continue;
        }
        for i in 0..(*modify).mt_nrels as usize {
            let result = (*modify).resultRelInfo.add(i);
            if tam::is_lyra((*result).ri_RelationDesc) {
                open_indexes(result, estate);
            }
        }
    }
}

/// `ExecOpenIndices(result, true)`, for a Lyra table.
unsafe fn open_indexes(result: *mut pg_sys::ResultRelInfo, estate: *mut pg_sys::EState) {
    let rel = (*result).ri_RelationDesc;
    if !(*(*rel).rd_rel).relhasindex || !(*result).ri_IndexRelationDescs.is_null() {
        return;
    }
    let oids = pg_sys::RelationGetIndexList(rel);
    if oids.is_null() || (*oids).length == 0 {
        return;
    }
    let len = (*oids).length as usize;
    let caller_cxt = pg_sys::MemoryContextSwitchTo((*estate).es_query_cxt);
    let descs = pg_sys::palloc(len * std::mem::size_of::<pg_sys::Relation>()) as *mut pg_sys::Relation;
    let infos = pg_sys::palloc(len * std::mem::size_of::<*mut pg_sys::IndexInfo>()) as *mut *mut pg_sys::IndexInfo;
    for i in 0..len {
        let index = pg_sys::index_open((*(*oids).elements.add(i)).oid_value, pg_sys::RowExclusiveLock as i32);
        let info = pg_sys::BuildIndexInfo(index);
        if (*info).ii_Unique {
            add_equality_operators(index, info);
        }
        *descs.add(i) = index;
        *infos.add(i) = info;
    }
    (*result).ri_NumIndices = len as i32;
    (*result).ri_IndexRelationDescs = descs;
    (*result).ri_IndexRelationInfo = infos;
    pg_sys::MemoryContextSwitchTo(caller_cxt);
    pg_sys::list_free(oids);
}

/// `BuildSpeculativeIndexInfo` without its btree check: each key column's
/// equality operator (btree strategy 3 of its operator family) and the
/// operator's function, with which the pre-check scans the index.
unsafe fn add_equality_operators(index: pg_sys::Relation, info: *mut pg_sys::IndexInfo) {
    let n = (*(*index).rd_index).indnkeyatts as usize;
    let ops = pg_sys::palloc(n * std::mem::size_of::<pg_sys::Oid>()) as *mut pg_sys::Oid;
    let procs = pg_sys::palloc(n * std::mem::size_of::<pg_sys::Oid>()) as *mut pg_sys::Oid;
    let strategies = pg_sys::palloc(n * std::mem::size_of::<u16>()) as *mut u16;
    for i in 0..n {
        let family = *(*index).rd_opfamily.add(i);
        let typ = *(*index).rd_opcintype.add(i);
        let equal = pg_sys::BTEqualStrategyNumber as u16;
        let op = pg_sys::get_opfamily_member(family, typ, typ, equal as i16);
        if op == pg_sys::InvalidOid {
            raise(
                PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                format!("missing equality operator for {} in operator family {}", typ.to_u32(), family.to_u32()),
            );
        }
        *ops.add(i) = op;
        *procs.add(i) = pg_sys::get_opcode(op);
        *strategies.add(i) = equal;
    }
    (*info).ii_UniqueOps = ops;
    (*info).ii_UniqueProcs = procs;
    (*info).ii_UniqueStrats = strategies;
}
