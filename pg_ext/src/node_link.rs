//! The backend's one connection to its node.
//!
//! Opened on first use, kept for the backend's life, replaced when it broke
//! (the node restarted, or an ERROR abandoned a request midway). While
//! waiting for the node the backend keeps serving interrupts, so a cancel or
//! `statement_timeout` ends the wait.
//!
//! Every failure becomes an ERROR with a SQLSTATE: an unreachable or lost
//! node is `08006` (connection_failure) — the transaction aborts, the
//! backend lives on, and the next statement reconnects.

use std::cell::RefCell;
use std::path::Path;
use std::time::{Duration, Instant};

use lyra_cluster::protocol::ErrorCode;
use lyra_cluster::client::Ticket;
use lyra_cluster::{ClientError, NodeClient};
use pgrx::pg_sys;
use crate::error::{raise, raise_detail_hint};
use pgrx::prelude::*;

use crate::worker::NODE_SOCKET;

/// How long a backend waits for a node that is (re)starting.
const CONNECT_PATIENCE: Duration = Duration::from_secs(5);

thread_local! {
    static CLIENT: RefCell<Option<NodeClient>> = const { RefCell::new(None) };
}

/// Runs `f` with the connected client; turns any failure into an ERROR.
pub fn with_node<T>(f: impl FnOnce(&mut NodeClient, &mut dyn FnMut()) -> Result<T, ClientError>) -> T {
    let result = CLIENT.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|c| c.is_broken()) {
            *slot = None;
            *slot = Some(connect()?);
        }
        let client = slot.as_mut().expect("connected above");
        let result = f(client, &mut check_for_interrupts);
        if matches!(result, Err(ClientError::Disconnected(_) | ClientError::Protocol(_))) {
            *slot = None;
        }
        result
    });
    result.unwrap_or_else(|e| report(e))
}

/// Gives up on a pipelined response (a scan ended before its prefetched
/// page was needed). Never raises: it may run while an ERROR unwinds.
pub fn forget(ticket: Ticket) {
    CLIENT.with(|cell| {
        if let Ok(mut slot) = cell.try_borrow_mut() {
            if let Some(client) = slot.as_mut() {
                client.forget(ticket);
            }
        }
    });
}

/// Gives up on every unclaimed response: no scan outlives its transaction.
pub fn forget_all() {
    CLIENT.with(|cell| {
        if let Ok(mut slot) = cell.try_borrow_mut() {
            if let Some(client) = slot.as_mut() {
                client.forget_all();
            }
        }
    });
}

/// Drops the connection, discarding whatever it had staged on the node.
pub fn disconnect() {
    CLIENT.with(|cell| *cell.borrow_mut() = None);
}

fn connect() -> Result<NodeClient, ClientError> {
    let started = Instant::now();
    loop {
        match NodeClient::connect(Path::new(NODE_SOCKET)) {
            Ok(client) => return Ok(client),
            Err(e) if started.elapsed() < CONNECT_PATIENCE => {
                tracing::debug!(error = %e, "waiting for the lyra node");
                check_for_interrupts();
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e),
        }
    }
}

fn check_for_interrupts() {
    pg_sys::check_for_interrupts!();
}

fn report(e: ClientError) -> ! {
    let see_log = "See the server log.";
    match e {
        ClientError::Unreachable { path, source } => raise_detail_hint(
            PgSqlErrorCode::ERRCODE_CONNECTION_FAILURE,
            "the lyra node is not reachable",
            format!("connecting to {path}: {source}"),
            "The lyra node runs as a background worker when lyra is in shared_preload_libraries; \
             after a failure it restarts within seconds. See the server log.",
        ),
        ClientError::Disconnected(source) => raise_detail_hint(
            PgSqlErrorCode::ERRCODE_CONNECTION_FAILURE,
            "lost the connection to the lyra node",
            source.to_string(),
            see_log,
        ),
        ClientError::Protocol(message) => {
            raise_detail_hint(PgSqlErrorCode::ERRCODE_PROTOCOL_VIOLATION, "lyra node protocol error", message, see_log)
        }
        ClientError::Node { code, message } => report_node_error(code, message),
    }
}

/// Raises the ERROR for the node's answer `code`: concurrency outcomes
/// with Postgres's own SQLSTATEs and messages, the rest as node failures.
pub fn report_node_error(code: ErrorCode, message: String) -> ! {
    let sqlstate = match code {
        ErrorCode::SerializationFailure => raise(PgSqlErrorCode::ERRCODE_T_R_SERIALIZATION_FAILURE, message),
        ErrorCode::Deadlock => raise(PgSqlErrorCode::ERRCODE_T_R_DEADLOCK_DETECTED, "deadlock detected"),
        ErrorCode::LockTimeout => {
            raise(PgSqlErrorCode::ERRCODE_LOCK_NOT_AVAILABLE, "canceling statement due to lock timeout")
        }
        ErrorCode::WouldBlock => raise(PgSqlErrorCode::ERRCODE_LOCK_NOT_AVAILABLE, "could not obtain lock on row"),
        ErrorCode::Io => PgSqlErrorCode::ERRCODE_IO_ERROR,
        ErrorCode::Corrupt => PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
        ErrorCode::InvalidInput => PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
        ErrorCode::RowIdsExhausted => PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
        ErrorCode::NotServed => PgSqlErrorCode::ERRCODE_CANNOT_CONNECT_NOW,
        ErrorCode::Ambiguous => PgSqlErrorCode::ERRCODE_T_R_STATEMENT_COMPLETION_UNKNOWN,
    };
    raise(sqlstate, format!("lyra node: {message}"))
}

/// Like [`with_node`], but the node's own answers (`ClientError::Node`)
/// come back to the caller instead of raising: a lock request turns
/// `WouldBlock` into SKIP LOCKED's skip.
pub fn with_node_answer<T>(
    f: impl FnOnce(&mut NodeClient, &mut dyn FnMut()) -> Result<T, ClientError>,
) -> Result<T, (ErrorCode, String)> {
    with_node(|client, wait| match f(client, wait) {
        Ok(value) => Ok(Ok(value)),
        Err(ClientError::Node { code, message }) => Ok(Err((code, message))),
        Err(other) => Err(other),
    })
}

/// Ends the node's side of a transaction that holds row locks and waits
/// for the node to say so, as heap's abort releases its locks before
/// `ROLLBACK` returns: a session told of the rollback that then asks for
/// the row `NOWAIT` must get it. Never raises (see [`without_raising`]).
pub fn end_txn_releasing_locks() {
    without_raising(|client| client.end_txn(&mut || {}));
}

/// Tells the node that subtransaction `subxact` rolled back (its row locks
/// go) and waits for it, as heap's locks are gone when `ROLLBACK TO`
/// returns. Never raises (see [`without_raising`]).
pub fn release_locks(subxact: u32) {
    without_raising(|client| client.release_locks(subxact, &mut || {}));
}

/// Tells the node the transaction writes a row it holds locked
/// (`MarkWritten`, which the node does not answer).
pub fn mark_written(mark: lyra_cluster::protocol::MarkWritten) {
    use lyra_cluster::protocol::request;
    with_node(|client, w| client.send_quiet(request::Kind::MarkWritten(mark), w));
}

/// Ends the node's side of the transaction (`EndTxn`, which the node does
/// not answer). Never raises (see [`without_raising`]).
pub fn end_txn_quietly() {
    use lyra_cluster::protocol::{request, EndTxn};
    without_raising(|client| client.send_quiet(request::Kind::EndTxn(EndTxn { quiet: true }), &mut || {}));
}

/// Runs `f` on the connection, if there is one, without raising: it runs
/// at a transaction's or subtransaction's end, perhaps while an ERROR
/// unwinds. A connection that cannot take the request is dropped instead,
/// which ends the node's side of the transaction (its locks, its pin)
/// just as well.
fn without_raising(f: impl FnOnce(&mut NodeClient) -> Result<(), ClientError>) {
    CLIENT.with(|cell| {
        let Ok(mut slot) = cell.try_borrow_mut() else { return };
        let Some(client) = slot.as_mut() else { return };
        if f(client).is_err() {
            *slot = None;
        }
    });
}
