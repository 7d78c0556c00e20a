//! What the node does with each request, independent of sockets.
//!
//! [`Service::handle`] is a synchronous function of the engine, the
//! connection's state and one request, returning one response. Errors are
//! values ([`ErrorReply`]) — a bad request never takes the node down.
//!
//! A connection's state is its staged batch: the writes of the
//! transaction it is committing, sent in chunks by `StageWrites` and applied
//! in one atomic, fsynced engine batch by `Commit`. Until then nobody else
//! sees them, and a connection that goes away takes them with it.

use std::sync::Arc;

use bytes::BytesMut;

use lyra_engine::catalog::Catalog;
use lyra_engine::storage::{Engine, WriteBatch, WriteOp};

use crate::protocol::{request, response, Done, ErrorCode, ErrorReply, Id, KvPair, Op, OpKind, Request, Response, Scanned, Value};

/// Scan limits applied when a request leaves them 0, and their ceilings.
const DEFAULT_SCAN_ROWS: u32 = 1024;
const MAX_SCAN_ROWS: u32 = 100_000;
const DEFAULT_SCAN_BYTES: u32 = 1 << 20;
const MAX_SCAN_BYTES: u32 = 64 << 20;

pub struct Service<E: Engine> {
    engine: Arc<E>,
    catalog: Catalog<E>,
    node_id: u64,
}

/// Per-connection state.
#[derive(Default)]
pub struct Connection {
    staged: WriteBatch,
}

impl<E: Engine> Service<E> {
    pub fn new(engine: Arc<E>, node_id: u64) -> Self {
        let catalog = Catalog::new(Arc::clone(&engine));
        Service { engine, catalog, node_id }
    }

    pub fn node_id(&self) -> u64 {
        self.node_id
    }

    pub fn handle(&self, conn: &mut Connection, request: Request) -> Response {
        let kind = match request.kind {
            Some(kind) => kind,
            None => return error(ErrorCode::InvalidInput, "empty request".into()),
        };
        let result = match kind {
            request::Kind::Get(get) => {
                self.engine.get(&get.key).map(|value| response::Kind::Value(Value { value }))
            }
            request::Kind::Scan(scan) => self.scan(scan),
            request::Kind::AllocateTableId(_) => self.catalog.allocate_table_id().map(id),
            request::Kind::AllocateRowIds(a) => {
                self.catalog.allocate_row_ids(a.table, a.count).map(|row| id(row.0))
            }
            request::Kind::RowIdHighWater(h) => self.catalog.row_id_high_water(h.table).map(id),
            request::Kind::StageWrites(stage) => stage_ops(&mut conn.staged, stage.ops).map(|()| done()),
            request::Kind::Commit(commit) => self.commit(conn, commit.ops),
            request::Kind::DiscardStaged(_) => {
                conn.staged = WriteBatch::new();
                Ok(done())
            }
        };
        match result {
            Ok(kind) => Response { kind: Some(kind) },
            Err(e) => error(code_of(&e), e.to_string()),
        }
    }

    fn scan(&self, scan: crate::protocol::Scan) -> lyra_engine::Result<response::Kind> {
        let max_rows = limit(scan.max_rows, DEFAULT_SCAN_ROWS, MAX_SCAN_ROWS);
        let max_bytes = limit(scan.max_bytes, DEFAULT_SCAN_BYTES, MAX_SCAN_BYTES);
        // Pairs are copied once, into one buffer for the page; each KvPair
        // is a slice of it (no allocation per pair).
        let mut arena = BytesMut::new();
        let mut spans = Vec::new();
        self.engine.scan_visit(&scan.start, &scan.end, max_rows, max_bytes, &mut |k, v| {
            spans.push((arena.len(), k.len(), v.len()));
            arena.extend_from_slice(k);
            arena.extend_from_slice(v);
        })?;
        // A limit may have stopped the scan exactly at the last key; the
        // client then asks once more and gets an empty, final page.
        let more = spans.len() >= max_rows || arena.len() >= max_bytes;
        let arena = arena.freeze();
        let pairs = spans
            .into_iter()
            .map(|(at, k, v)| KvPair { key: arena.slice(at..at + k), value: arena.slice(at + k..at + k + v) })
            .collect();
        Ok(response::Kind::Scanned(Scanned { pairs, more }))
    }

    fn commit(&self, conn: &mut Connection, ops: Vec<Op>) -> lyra_engine::Result<response::Kind> {
        let mut batch = std::mem::take(&mut conn.staged);
        stage_ops(&mut batch, ops)?;
        if !batch.is_empty() {
            self.engine.write(&batch, true)?;
            tracing::debug!(writes = batch.len(), "committed");
        }
        Ok(done())
    }
}

fn stage_ops(batch: &mut WriteBatch, ops: Vec<Op>) -> lyra_engine::Result<()> {
    for op in ops {
        let kind = OpKind::try_from(op.kind)
            .map_err(|_| lyra_engine::Error::InvalidInput(format!("unknown write kind {}", op.kind)))?;
        batch.push(match kind {
            OpKind::Put => WriteOp::Put { key: op.key, value: op.value },
            OpKind::Delete => WriteOp::Delete { key: op.key },
            OpKind::DeleteRange => WriteOp::DeleteRange { start: op.key, end: op.value },
        });
    }
    Ok(())
}

fn limit(asked: u32, default: u32, ceiling: u32) -> usize {
    (if asked == 0 { default } else { asked.min(ceiling) }) as usize
}

fn id(id: u64) -> response::Kind {
    response::Kind::Id(Id { id })
}

fn done() -> response::Kind {
    response::Kind::Done(Done {})
}

fn error(code: ErrorCode, message: String) -> Response {
    Response { kind: Some(response::Kind::Error(ErrorReply { code: code as i32, message })) }
}

fn code_of(e: &lyra_engine::Error) -> ErrorCode {
    match e {
        lyra_engine::Error::Io(_) => ErrorCode::Io,
        lyra_engine::Error::Corrupt(_) => ErrorCode::Corrupt,
        lyra_engine::Error::InvalidInput(_) => ErrorCode::InvalidInput,
        lyra_engine::Error::RowIdsExhausted(_) => ErrorCode::RowIdsExhausted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lyra_engine::storage::Memory;

    fn call(service: &Service<Memory>, conn: &mut Connection, kind: request::Kind) -> response::Kind {
        service.handle(conn, Request { kind: Some(kind) }).kind.expect("a response always has a kind")
    }

    fn get(service: &Service<Memory>, key: &[u8]) -> Option<Vec<u8>> {
        match call(service, &mut Connection::default(), request::Kind::Get(crate::protocol::Get { key: key.to_vec() })) {
            response::Kind::Value(v) => v.value,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn staged_writes_are_invisible_until_commit() {
        let service = Service::new(Arc::new(Memory::new()), 1);
        let mut conn = Connection::default();
        let stage = crate::protocol::StageWrites { ops: vec![Op::put(b"a".to_vec(), b"1".to_vec())] };
        call(&service, &mut conn, request::Kind::StageWrites(stage));
        assert_eq!(get(&service, b"a"), None);
        let commit = crate::protocol::Commit { ops: vec![Op::put(b"b".to_vec(), b"2".to_vec())] };
        call(&service, &mut conn, request::Kind::Commit(commit));
        assert_eq!(get(&service, b"a"), Some(b"1".to_vec()));
        assert_eq!(get(&service, b"b"), Some(b"2".to_vec()));
    }

    #[test]
    fn discarded_writes_never_apply() {
        let service = Service::new(Arc::new(Memory::new()), 1);
        let mut conn = Connection::default();
        let stage = crate::protocol::StageWrites { ops: vec![Op::put(b"a".to_vec(), b"1".to_vec())] };
        call(&service, &mut conn, request::Kind::StageWrites(stage));
        call(&service, &mut conn, request::Kind::DiscardStaged(crate::protocol::DiscardStaged {}));
        call(&service, &mut conn, request::Kind::Commit(crate::protocol::Commit { ops: vec![] }));
        assert_eq!(get(&service, b"a"), None);
    }

    #[test]
    fn scan_pages_until_the_end() {
        let service = Service::new(Arc::new(Memory::new()), 1);
        let mut conn = Connection::default();
        let ops = (0u8..10).map(|i| Op::put(vec![b'k', i], vec![i])).collect();
        call(&service, &mut conn, request::Kind::Commit(crate::protocol::Commit { ops }));
        let scan = |start: Vec<u8>| crate::protocol::Scan { start, end: b"l".to_vec(), max_rows: 4, max_bytes: 0 };
        let mut start = b"k".to_vec();
        let mut seen = Vec::new();
        loop {
            let response::Kind::Scanned(page) = call(&service, &mut conn, request::Kind::Scan(scan(start.clone()))) else {
                panic!("scan answered with something else")
            };
            if let Some(last) = page.pairs.last() {
                start = last.key.to_vec();
                start.push(0);
            }
            seen.extend(page.pairs.into_iter().map(|p| p.value[0]));
            if !page.more {
                break;
            }
        }
        assert_eq!(seen, (0u8..10).collect::<Vec<_>>());
    }

    #[test]
    fn bad_write_kind_is_an_error_not_a_crash() {
        let service = Service::new(Arc::new(Memory::new()), 1);
        let bad = Op { kind: 99, key: b"x".to_vec(), value: vec![] };
        let reply = call(&service, &mut Connection::default(), request::Kind::Commit(crate::protocol::Commit { ops: vec![bad] }));
        assert!(matches!(reply, response::Kind::Error(e) if e.code == ErrorCode::InvalidInput as i32));
        assert_eq!(get(&service, b"x"), None);
    }

    #[test]
    fn allocations_come_from_the_catalog() {
        let service = Service::new(Arc::new(Memory::new()), 1);
        let mut conn = Connection::default();
        let a = call(&service, &mut conn, request::Kind::AllocateTableId(crate::protocol::AllocateTableId {}));
        let b = call(&service, &mut conn, request::Kind::AllocateTableId(crate::protocol::AllocateTableId {}));
        match (a, b) {
            (response::Kind::Id(a), response::Kind::Id(b)) => assert!(b.id > a.id),
            other => panic!("unexpected {other:?}"),
        }
    }
}
