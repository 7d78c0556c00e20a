//! Statements on whole databases. Postgres copies, moves and removes a
//! database's files without asking its relations' access methods, and a
//! Lyra storage mapping names a relation's file (tablespace, database,
//! relfilenode — [`table`]), so each of these needs Lyra's part:
//!
//! * `CREATE DATABASE … TEMPLATE t` would copy t's (empty) Lyra files and
//!   not their rows: the copies would name storage the engine does not
//!   have ("has no storage mapping" on every use). Refused while t holds
//!   Lyra tables.
//! * `DROP DATABASE`: the database's Lyra rows, index entries and mappings
//!   are removed once Postgres has removed its files (they stayed in the
//!   engine for good).
//! * `ALTER DATABASE … SET TABLESPACE` moves the files of the relations in
//!   the database's default tablespace: their mappings move with them.
//!
//! DROP DATABASE and SET TABLESPACE cannot be rolled back once Postgres
//! has removed or moved the files, so Lyra's part commits on its own after
//! them, and a failure there is a WARNING (the data stays, unreachable, or
//! the tables report no storage mapping) rather than an error that would
//! abort the statement's transaction with its files already gone.

use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::error::raise;
use crate::table;

/// What a database statement leaves for [`after`] to do.
pub enum Pending {
    Drop { db: pg_sys::Oid },
    Move { db: pg_sys::Oid, from: pg_sys::Oid, to: pg_sys::Oid },
}

/// Before `stmt` runs: refuses a CREATE DATABASE whose template holds Lyra
/// tables; notes what a DROP DATABASE or SET TABLESPACE will leave to do.
///
/// # Safety
/// `stmt` is a utility statement's node, inside a transaction.
pub unsafe fn before(stmt: *mut pg_sys::Node) -> Option<Pending> {
    match (*stmt).type_ {
        pg_sys::NodeTag::T_CreatedbStmt => {
            let stmt = stmt as *mut pg_sys::CreatedbStmt;
            let template = option((*stmt).options, "template").unwrap_or_else(|| "template1".into());
            let db = database_oid(&template)?;
            if !table::mappings_in_database(db).is_empty() {
                raise(
                    PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                    format!("template database \"{template}\" holds lyra tables, which CREATE DATABASE cannot copy"),
                );
            }
            None
        }
        pg_sys::NodeTag::T_DropdbStmt => {
            let name = std::ffi::CStr::from_ptr((*(stmt as *mut pg_sys::DropdbStmt)).dbname).to_string_lossy();
            database_oid(&name).map(|db| Pending::Drop { db })
        }
        pg_sys::NodeTag::T_AlterDatabaseStmt => {
            let stmt = stmt as *mut pg_sys::AlterDatabaseStmt;
            let to = option((*stmt).options, "tablespace")?;
            let name = std::ffi::CStr::from_ptr((*stmt).dbname).to_string_lossy();
            let db = database_oid(&name)?;
            let to_c = std::ffi::CString::new(to).ok()?;
            let to = pg_sys::get_tablespace_oid(to_c.as_ptr(), true);
            let from = default_tablespace(db)?;
            (to != pg_sys::InvalidOid && to != from).then_some(Pending::Move { db, from, to })
        }
        _ => None,
    }
}

/// After the statement succeeded: removes a dropped database's Lyra data,
/// or moves its mappings to the new default tablespace, in a node
/// transaction of its own; a failure is a WARNING.
///
/// # Safety
/// Inside a transaction, with no subtransaction of Lyra's own open.
pub unsafe fn after(pending: Pending) {
    let context = pg_sys::CurrentMemoryContext;
    let owner = pg_sys::CurrentResourceOwner;
    pg_sys::BeginInternalSubTransaction(std::ptr::null());
    let done = PgTryBuilder::new(std::panic::AssertUnwindSafe(|| {
        match pending {
            Pending::Drop { db } => {
                let ops = table::mappings_in_database(db).iter().flat_map(|(node, m)| table::drop_ops(node, m.table)).collect();
                table::commit_now(ops);
            }
            Pending::Move { db, from, to } => {
                let ops = table::mappings_in_database(db)
                    .iter()
                    .filter(|(node, _)| node.spcNode == from)
                    .flat_map(|(node, m)| table::remap_ops(node, &pg_sys::RelFileNode { spcNode: to, ..*node }, *m))
                    .collect();
                table::commit_now(ops);
            }
        }
        true
    }))
    .catch_others(|e| {
        let message = match &e {
            pg_sys::panic::CaughtError::PostgresError(report) | pg_sys::panic::CaughtError::ErrorReport(report) => {
                report.message().to_string()
            }
            pg_sys::panic::CaughtError::RustPanic { ereport, .. } => ereport.message().to_string(),
        };
        pgrx::warning!("lyra could not finish its part of the database statement: {message}");
        false
    })
    .execute();
    if done {
        pg_sys::ReleaseCurrentSubTransaction();
    } else {
        pg_sys::RollbackAndReleaseCurrentSubTransaction();
    }
    pg_sys::MemoryContextSwitchTo(context);
    pg_sys::CurrentResourceOwner = owner;
}

/// The string value of option `name` in a statement's `DefElem` list.
unsafe fn option(options: *mut pg_sys::List, name: &str) -> Option<String> {
    crate::hooks::list_nodes(options).into_iter().find_map(|node| {
        let def = node as *mut pg_sys::DefElem;
        let matches = std::ffi::CStr::from_ptr((*def).defname).to_bytes() == name.as_bytes();
        (matches && !(*def).arg.is_null())
            .then(|| std::ffi::CStr::from_ptr(pg_sys::defGetString(def)).to_string_lossy().into_owned())
    })
}

unsafe fn database_oid(name: &str) -> Option<pg_sys::Oid> {
    let name = std::ffi::CString::new(name).ok()?;
    let db = pg_sys::get_database_oid(name.as_ptr(), true);
    (db != pg_sys::InvalidOid).then_some(db)
}

/// `pg_database.dattablespace` of `db`.
unsafe fn default_tablespace(db: pg_sys::Oid) -> Option<pg_sys::Oid> {
    let tuple = pg_sys::SearchSysCache1(pg_sys::SysCacheIdentifier::DATABASEOID as i32, db.into());
    if tuple.is_null() {
        return None;
    }
    let form = pg_sys::GETSTRUCT(tuple) as *mut pg_sys::FormData_pg_database;
    let spc = (*form).dattablespace;
    pg_sys::ReleaseSysCache(tuple);
    Some(spc)
}
