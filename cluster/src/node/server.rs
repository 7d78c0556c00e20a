//! The node's socket shell: accept backends on a Unix socket and serve each
//! connection's frames in order with [`Service::handle`].
//!
//! One task per connection. A request that may take long (a scan) runs
//! inside `block_in_place`, so it occupies a runtime thread without
//! stalling the other connections' tasks; point reads and lock attempts
//! run on the task itself ([`is_quick`]). A commit waits for its group
//! without a thread; only the group's leader blocks one, for the write
//! ([`commit_and_wait`]). A malformed frame closes
//! that connection (its staged writes are dropped); it never stops the node.
//! However a connection ends, its transaction ends with it: its row locks
//! are released, so a backend killed mid-transaction blocks nobody.
//!
//! After a page of a long scan, the connection reads the page the cursor
//! will ask for next ([`Scan::after`]) while the backend takes this one
//! in, and answers that request with it if it comes exactly so
//! ([`next_page`]); any other request drops it. A request arriving
//! meanwhile waits for that one page.
//!
//! A `LockRow` that must wait is parked here: the task sleeps until locks
//! are released somewhere (or 100 ms pass), then tries again; it gives up
//! at the request's timeout, and when the backend closes the connection
//! (how a backend cancels a wait: the request cannot be taken back). The
//! hang-up check must clear the socket's readiness when it finds nothing,
//! or the wait spins (`tests/lock_wait.rs`).

use std::path::Path;
use std::sync::Arc;

use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

use std::os::fd::AsRawFd;
use std::time::Duration;

use tokio::time::Instant;

use super::service::{unanswered, Connection, LockAttempt, Outcome, Service};
use super::NodeError;
use crate::protocol::{
    encode_frame, frame_len, request, response, ClusterInfo, Commit, Done, ErrorCode, ErrorReply, Id, LockRow,
    Request, Response, Scan,
};

/// A parked lock request tries again at least this often.
const RETRY_LOCK_AFTER: Duration = Duration::from_millis(100);
use lyra_engine::storage::Engine;

/// Binds `path`, replacing a socket file left behind by a previous run.
pub async fn bind(path: &Path) -> Result<UnixListener, NodeError> {
    let listen_err = |source| NodeError::Listen { path: path.display().to_string(), source };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(listen_err)?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(listen_err(e)),
    }
    UnixListener::bind(path).map_err(listen_err)
}

/// What backends' admin functions ask of the node's cluster side (the
/// Raft node under the service); blocking calls.
pub trait NodeAdmin: Send + Sync {
    fn cluster(&self) -> Result<ClusterInfo, String>;
    fn transfer_lease(&self, range: u64, to: u64) -> Result<(), String>;
    fn change_replicas(&self, range: u64, add: Vec<u64>, remove: Vec<u64>) -> Result<(), String>;
    fn split_range(&self, range: u64, key: Vec<u8>) -> Result<u64, String>;
    fn decommission(&self, node: u64) -> Result<(), String>;
    /// Adds the node waiting at `address`; its new id.
    fn add_node(&self, address: &str) -> Result<u64, String>;
}

/// The node's service, one generation at a time: a generation lives
/// while its engine is not [stale](Engine::stale) (the node kept its
/// leases). A connection moves to the next generation at its next request;
/// one that was inside a transaction gets a retryable error for it.
pub struct Services<E: Engine> {
    make: Box<dyn Fn(Option<&E>) -> Service<E> + Send + Sync>,
    current: std::sync::Mutex<Arc<Service<E>>>,
    admin: Option<Arc<dyn NodeAdmin>>,
}

impl<E: Engine> Services<E> {
    /// `make` builds a generation: the first from `None`, each next one
    /// from its predecessor's engine.
    pub fn new(make: impl Fn(Option<&E>) -> Service<E> + Send + Sync + 'static) -> Services<E> {
        let first = Arc::new(make(None));
        Services { make: Box::new(make), current: std::sync::Mutex::new(first), admin: None }
    }

    /// Answers cluster requests with `admin`.
    pub fn with_admin(mut self, admin: Arc<dyn NodeAdmin>) -> Services<E> {
        self.admin = Some(admin);
        self
    }

    /// A cluster request's answer.
    fn admin(&self, kind: &request::Kind) -> Response {
        let Some(admin) = &self.admin else {
            return error_response(ErrorCode::InvalidInput, "this node runs no cluster");
        };
        let answer = tokio::task::block_in_place(|| match kind {
            request::Kind::ClusterStatus(_) => admin.cluster().map(response::Kind::Cluster),
            request::Kind::TransferLease(t) => admin.transfer_lease(t.range, t.to).map(|()| response::Kind::Done(Done {})),
            request::Kind::ChangeReplicas(c) => {
                admin.change_replicas(c.range, c.add.clone(), c.remove.clone()).map(|()| response::Kind::Done(Done {}))
            }
            request::Kind::SplitRange(s) => admin.split_range(s.range, s.key.clone()).map(|id| response::Kind::Id(Id { id })),
            request::Kind::Decommission(d) => admin.decommission(d.node).map(|()| response::Kind::Done(Done {})),
            request::Kind::AddNode(a) => admin.add_node(&a.address).map(|id| response::Kind::Id(Id { id })),
            _ => Err("not a cluster request".into()),
        });
        match answer {
            Ok(kind) => Response { kind: Some(kind) },
            Err(message) => error_response(ErrorCode::InvalidInput, &message),
        }
    }

    /// The current generation, started anew if the last one went stale.
    pub fn current(&self) -> Arc<Service<E>> {
        let mut current = self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if current.engine().stale() {
            *current = Arc::new((self.make)(Some(current.engine())));
            tracing::info!("the node lost a lease: its service starts a new generation");
        }
        Arc::clone(&current)
    }
}

/// Accepts connections until `stop` turns true.
pub async fn serve<E: Engine>(listener: UnixListener, services: Arc<Services<E>>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let services = Arc::clone(&services);
                    let stop = stop.clone();
                    tokio::spawn(async move {
                        if let Err(e) = serve_connection(stream, services, stop).await {
                            tracing::debug!(error = %e, "backend connection closed");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            },
        }
    }
}

async fn serve_connection<E: Engine>(
    stream: UnixStream,
    services: Arc<Services<E>>,
    stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut service = services.current();
    let mut conn = service.connect();
    let result = serve_requests(stream, &services, &mut service, &mut conn, stop).await;
    service.disconnect(&mut conn);
    result
}

async fn serve_requests<E: Engine>(
    mut stream: UnixStream,
    services: &Services<E>,
    service: &mut Arc<Service<E>>,
    conn: &mut Connection,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut inbox = Inbox::default();
    let mut out = Vec::new();
    // The page read ahead of a long scan, and the request it answers.
    let mut ahead: Option<(Scan, Response)> = None;
    loop {
        let request = match inbox.next_frame()? {
            Some(payload) => Request::decode(payload).map_err(|e| invalid_data(e.to_string()))?,
            None => {
                tokio::select! {
                    _ = stop.changed() => return Ok(()),
                    read = inbox.fill(&mut stream) => { read?; }
                }
                continue;
            }
        };
        // Any other request than the one predicted drops the page read
        // ahead; so does a new generation (below).
        let mut read_ahead = ahead.take().and_then(|(scan, page)| match &request.kind {
            Some(request::Kind::Scan(asked)) if *asked == scan => Some(page),
            _ => None,
        });
        let asked = match &request.kind {
            Some(request::Kind::Scan(scan)) if reads_ahead(scan) => Some(scan.clone()),
            _ => None,
        };
        let marks = matches!(&request.kind, Some(request::Kind::MarkWritten(_)));
        let quiet = marks || matches!(&request.kind, Some(request::Kind::EndTxn(end)) if end.quiet);
        let ends = matches!(&request.kind, Some(request::Kind::EndTxn(_)));
        let current = services.current();
        // A mark is unanswered, so it cannot carry the failure below: it
        // goes to the old generation's locks (gone with it), and the
        // transaction's next request is refused instead.
        if !Arc::ptr_eq(&current, service) && !marks {
            read_ahead = None;
            let was_open = service.in_transaction(conn);
            service.disconnect(conn);
            *service = current;
            *conn = service.connect();
            if was_open && !ends {
                out.clear();
                let message = "this node's lease on a range moved during the transaction; retry the transaction";
                encode_frame(&error_response(ErrorCode::SerializationFailure, message), &mut out);
                stream.write_all(&out).await?;
                continue;
            }
        }
        let service = &**service;
        let response = match request.kind {
            Some(
                ref kind @ (request::Kind::ClusterStatus(_)
                | request::Kind::TransferLease(_)
                | request::Kind::ChangeReplicas(_)
                | request::Kind::SplitRange(_)
                | request::Kind::Decommission(_)
                | request::Kind::AddNode(_)),
            ) => services.admin(kind),
            Some(request::Kind::LockRow(lock)) => match wait_for_lock(&stream, service, conn, &lock, &mut stop).await? {
                Some(response) => response,
                None => return Ok(()),
            },
            Some(request::Kind::Commit(commit)) => commit_and_wait(service, conn, commit).await,
            Some(ref kind) if is_quick(kind) => service.handle(conn, request),
            _ => match read_ahead {
                Some(page) => {
                    READ_AHEAD_SERVED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    page
                }
                None => tokio::task::block_in_place(|| service.handle(conn, request)),
            },
        };
        // A request that found its generation stale: the lease moved under
        // its transaction, which fails as a serialization failure (a
        // retry runs on the next generation).
        let response = match response.kind {
            Some(response::Kind::Error(e)) if e.code == ErrorCode::NotServed as i32 && service.engine().stale() => {
                error_response(ErrorCode::SerializationFailure, &e.message)
            }
            _ => response,
        };
        if quiet {
            continue;
        }
        out.clear();
        encode_frame(&response, &mut out);
        stream.write_all(&out).await?;
        // While the backend takes this page in and decodes it, read the one
        // it will ask for next — unless it asked for something already.
        if let Some(next) = asked.and_then(|asked| next_page(&asked, &response)) {
            if inbox.next_frame_len()?.is_none() {
                let page = tokio::task::block_in_place(|| service.handle(conn, Request { kind: Some(request::Kind::Scan(next.clone())) }));
                if matches!(page.kind, Some(response::Kind::Scanned(_))) {
                    ahead = Some((next, page));
                }
            }
        }
    }
}

/// Pages read ahead that served the request they were read for (tests).
static READ_AHEAD_SERVED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Pages of at least this many rows are read ahead: by then a scan has
/// shown it is long (a cursor's pages grow from 64 rows to 4,096), and a
/// `LIMIT` that stops early wastes at most one page of node work.
const READ_AHEAD_FROM_ROWS: u32 = 1024;

/// Whether the page after the one `scan` asks for may be read ahead: a
/// long scan's, of a span (not of named rows: a bitmap's blocks, whose
/// requests carry their keys — copied to compare, not worth it).
fn reads_ahead(scan: &Scan) -> bool {
    scan.max_rows >= READ_AHEAD_FROM_ROWS && scan.only_keys.is_empty()
}

/// The request a scan cursor makes after `asked` ([`reads_ahead`]) was
/// answered with `response` (`Scan::after`), if there is more to read, at
/// a fixed timestamp (a page read ahead at a fresh one could miss a
/// commit acknowledged before the real request). The cursor's request
/// must then be exactly this one for the page to serve.
///
/// Why: a full scan's pages alternate between the node (reading one) and
/// the backend (taking it in, asking for the next, decoding it); the
/// node sat idle a fifth of a `count(*)` waiting for the next request.
fn next_page(asked: &Scan, response: &Response) -> Option<Scan> {
    let Some(response::Kind::Scanned(page)) = &response.kind else { return None };
    if !page.more || page.read_ts.is_none() {
        return None;
    }
    let last = page.resume.clone().or_else(|| page.last_key())?;
    Some(asked.after(&last, page.read_ts.clone()))
}

/// The bytes a connection has sent and the node has not served yet. One
/// read takes whatever the socket holds — a request's header and payload
/// together, or a quiet `EndTxn` and the next request — where reading a
/// frame's header and then its payload cost two system calls.
#[derive(Default)]
struct Inbox {
    bytes: Vec<u8>,
    /// Where the first unserved frame starts.
    start: usize,
}

impl Inbox {
    /// The next whole frame's payload, if the inbox holds one.
    fn next_frame(&mut self) -> std::io::Result<Option<&[u8]>> {
        let unread = &self.bytes[self.start..];
        let Some(header) = unread.first_chunk::<4>() else { return Ok(None) };
        let len = frame_len(*header).map_err(invalid_data)?;
        if unread.len() < 4 + len {
            return Ok(None);
        }
        let payload = self.start + 4..self.start + 4 + len;
        self.start = payload.end;
        Ok(Some(&self.bytes[payload]))
    }

    /// The length of the next whole frame, if the inbox holds one.
    fn next_frame_len(&self) -> std::io::Result<Option<usize>> {
        let unread = &self.bytes[self.start..];
        let Some(header) = unread.first_chunk::<4>() else { return Ok(None) };
        let len = frame_len(*header).map_err(invalid_data)?;
        Ok((unread.len() >= 4 + len).then_some(len))
    }

    /// Drops the served frames; and one huge frame's buffer, not kept for
    /// the connection's life.
    fn compact(&mut self) {
        self.bytes.drain(..self.start);
        self.start = 0;
        if self.bytes.is_empty() && self.bytes.capacity() > 4 << 20 {
            self.bytes = Vec::new();
        }
    }

    /// Reads what the socket holds (waiting for at least one byte); an
    /// end of stream with no whole frame left is an error, as a short
    /// frame was before.
    async fn fill(&mut self, stream: &mut UnixStream) -> std::io::Result<()> {
        self.compact();
        // Room for the rest of a frame whose header is in, else a read's worth.
        let wanted = match self.bytes.first_chunk::<4>() {
            Some(header) => (4 + frame_len(*header).map_err(invalid_data)?).saturating_sub(self.bytes.len()),
            None => 0,
        };
        self.bytes.reserve(wanted.max(READ_AHEAD));
        match stream.read_buf(&mut self.bytes).await? {
            0 => Err(std::io::ErrorKind::UnexpectedEof.into()),
            _ => Ok(()),
        }
    }
}

/// The least room an inbox read offers.
const READ_AHEAD: usize = 8 << 10;

/// Requests served on the connection's task itself: point reads and
/// bookkeeping that take microseconds. `block_in_place` hands the runtime
/// thread's other work to another thread first — a wake-up of a pooled
/// thread per request, which for a point read costs more than the read.
/// Scans (pages of up to thousands of rows) still go through it; commits
/// wait apart ([`commit_and_wait`]).
fn is_quick(kind: &request::Kind) -> bool {
    matches!(
        kind,
        request::Kind::Get(_)
            | request::Kind::FreshReadTs(_)
            | request::Kind::GetEntries(_)
            | request::Kind::RowIdHighWater(_)
            | request::Kind::StageWrites(_)
            | request::Kind::DiscardStaged(_)
            | request::Kind::EndTxn(_)
            | request::Kind::ReleaseLocks(_)
            | request::Kind::MarkWritten(_)
    )
}

/// Queues a commit and waits for its outcome without holding a runtime
/// thread; only a commit told to lead its group blocks one, for the write.
async fn commit_and_wait<E: Engine>(service: &Service<E>, conn: &mut Connection, commit: Commit) -> Response {
    let mut outcomes = service.queue_commit(conn, commit);
    loop {
        match outcomes.recv().await {
            Some(Outcome::Lead) => tokio::task::block_in_place(|| service.lead_group()),
            Some(Outcome::Done(response)) => return response,
            None => return unanswered(),
        }
    }
}

/// Tries `lock` until granted, refused, timed out, or the backend hangs up
/// (`None`: close the connection).
async fn wait_for_lock<E: Engine>(
    stream: &UnixStream,
    service: &Service<E>,
    conn: &Connection,
    lock: &LockRow,
    stop: &mut watch::Receiver<bool>,
) -> std::io::Result<Option<Response>> {
    let deadline = (lock.timeout_ms > 0).then(|| Instant::now() + Duration::from_millis(lock.timeout_ms.into()));
    loop {
        // Registered before the attempt, so a release in between wakes it.
        let released = service.lock_released().notified();
        tokio::pin!(released);
        released.as_mut().enable();
        // An attempt is the lock table and a point read: quick, as the
        // requests of `is_quick` are.
        if let LockAttempt::Done(response) = service.try_lock(conn, lock) {
            return Ok(Some(response));
        }
        let timeout = async {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = &mut released => {}
            _ = tokio::time::sleep(RETRY_LOCK_AFTER) => {}
            _ = timeout => {
                service.cancel_wait(conn);
                return Ok(Some(error_response(ErrorCode::LockTimeout, "canceling statement due to lock timeout")));
            }
            _ = stop.changed() => return Ok(None),
            readable = stream.readable() => {
                readable?;
                // Through `try_io`, so that finding nothing clears the
                // readiness: `readable` reports the readiness left over
                // from reading the request, and a loop that only peeked
                // would spin on it for the whole wait.
                match stream.try_io(Interest::READABLE, || peek(stream)) {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    _ => return Ok(None),
                }
            }
        }
    }
}

/// Peeks at what a waiting backend sent: `Ok(0)` means it closed the
/// socket, `Ok(1)` that it sent something, which a backend waiting for an
/// answer never does — either way the connection ends; `WouldBlock`:
/// nothing.
fn peek(stream: &UnixStream) -> std::io::Result<usize> {
    let mut byte = [0u8; 1];
    // SAFETY: a non-blocking peek of one byte into a local buffer on a
    // socket this task owns.
    let n = unsafe {
        libc::recv(stream.as_raw_fd(), byte.as_mut_ptr().cast(), 1, libc::MSG_PEEK | libc::MSG_DONTWAIT)
    };
    if n < 0 { Err(std::io::Error::last_os_error()) } else { Ok(n as usize) }
}

fn error_response(code: ErrorCode, message: &str) -> Response {
    Response { kind: Some(response::Kind::Error(ErrorReply { code: code as i32, message: message.into() })) }
}

fn invalid_data(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lyra_engine::keys::{Key, RowId};

    use crate::node::test_engine::Gated;
    use crate::protocol::{LockMode, LockRow, MarkWritten, Op, Scan, WaitPolicy};
    use crate::{ClientError, NodeClient};

    /// A node serving `engine` (every write allowed) on a socket in a
    /// temporary directory: its runtime, the directory, the socket's path
    /// and the switch that stops it — keep them all while the test runs.
    /// Each new generation of the service finds the engine not stale.
    fn serving(engine: &Arc<Gated>) -> (tokio::runtime::Runtime, tempfile::TempDir, std::path::PathBuf, watch::Sender<bool>) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.sock");
        engine.allow(usize::MAX / 2);
        let services = Arc::new(Services::new({
            let engine = Arc::clone(engine);
            move |_| {
                engine.set_stale(false);
                Service::new(Arc::clone(&engine), 1)
            }
        }));
        let (stop_switch, stop) = watch::channel(false);
        let listener = runtime.block_on(bind(&path)).unwrap();
        runtime.spawn(serve(listener, services, stop));
        (runtime, dir, path, stop_switch)
    }

    /// An unanswered `MarkWritten` reaching a generation gone stale gets no
    /// answer either — an error frame for it would be read as the answer
    /// to the backend's next request, and every answer after it would be
    /// one request late. The transaction's next request is refused
    /// instead, and the connection goes on in step.
    #[test]
    fn a_mark_on_a_stale_generation_stays_unanswered() {
        let engine = Arc::new(Gated::default());
        let (_runtime, _dir, path, _stop) = serving(&engine);

        let row = |n| Key::Row { table: 7, row: RowId(n) }.encode();
        let mut client = NodeClient::connect(&path).unwrap();
        let w = &mut || {};
        let ops = vec![Op::put(row(1), b"one".to_vec()), Op::put(row(2), b"two".to_vec())];
        client.commit(crate::protocol::Commit { ops, ..Default::default() }, w).unwrap();
        let lock = LockRow { key: row(1), mode: LockMode::Update as i32, wait: WaitPolicy::NoWait as i32, ..Default::default() };
        client.lock_row(lock, w).unwrap().unwrap();
        engine.set_stale(true);
        let mark = MarkWritten { key: row(1), txn_tag: 1, subxact: 1 };
        client.send_quiet(request::Kind::MarkWritten(mark), w).unwrap();
        match client.get(row(2), None, w) {
            Err(ClientError::Node { code: ErrorCode::SerializationFailure, .. }) => {}
            other => panic!("the transaction's next request: {other:?}"),
        }
        assert_eq!(client.get(row(1), None, w).unwrap().value.as_deref(), Some(&b"one"[..]));
        assert_eq!(client.get(row(2), None, w).unwrap().value.as_deref(), Some(&b"two"[..]));
    }

    /// A long scan's next page is read ahead at the scan's timestamp and
    /// served when asked for exactly: the rows as of that timestamp, not
    /// a commit made between the read ahead and the request; a request
    /// that differs (a larger page) is read anew, also at its timestamp.
    #[test]
    fn a_long_scans_next_page_is_read_ahead_at_its_timestamp() {
        let engine = Arc::new(Gated::default());
        let (_runtime, _dir, path, _stop) = serving(&engine);

        let row = |n| Key::Row { table: 7, row: RowId(n) }.encode();
        let (start, end) = lyra_engine::keys::KeyPrefix::Rows { table: 7 }.range();
        let w = &mut || {};
        let mut writer = NodeClient::connect(&path).unwrap();
        let ops = (0..5000).map(|i| Op::put(row(i), b"old".to_vec())).collect();
        writer.commit(crate::protocol::Commit { ops, ..Default::default() }, w).unwrap();
        let mut reader = NodeClient::connect(&path).unwrap();
        let read_ts = reader.fresh_read_ts(w).unwrap();
        let first = Scan { start: start.clone(), end: end.clone(), max_rows: 2048, read_ts: read_ts.clone(), ..Default::default() };
        let page = reader.scan(first.clone(), w).unwrap();
        assert!(page.more && page.pairs.len() == 2048);
        // Row 3000 (in the third page) and row 2100 (in the second, read
        // ahead by now or being read) change after the snapshot.
        let ops = vec![Op::put(row(2100), b"new".to_vec()), Op::put(row(3000), b"new".to_vec())];
        writer.commit(crate::protocol::Commit { ops, ..Default::default() }, w).unwrap();
        let served = READ_AHEAD_SERVED.load(std::sync::atomic::Ordering::Relaxed);
        let second = reader.scan(first.after(&page.pairs[2047].key, page.read_ts.clone()), w).unwrap();
        assert!(READ_AHEAD_SERVED.load(std::sync::atomic::Ordering::Relaxed) > served, "the second page was read ahead");
        let mut third = first.after(&second.pairs.last().unwrap().key, second.read_ts.clone());
        third.max_rows = 4096;
        let third = reader.scan(third, w).unwrap();
        let pages = [&page, &second, &third];
        let rows: Vec<u64> = pages.iter().flat_map(|p| &p.pairs).map(|p| match Key::decode(&p.key) {
            Ok(Key::Row { row, .. }) => row.0,
            other => panic!("not a row: {other:?}"),
        }).collect();
        assert_eq!(rows, (0..5000).collect::<Vec<_>>());
        assert!(pages.iter().flat_map(|p| &p.pairs).all(|p| &p.value[..] == b"old"), "a change after the snapshot shows");
        assert!(!third.more);
    }

    /// Frames come out whole and in order however the bytes arrived: two
    /// in one read, a third split across reads, its header too.
    #[test]
    fn an_inbox_hands_out_whole_frames_in_order() {
        let mut sent = Vec::new();
        for payload in [&b"one"[..], b"", b"three"] {
            sent.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            sent.extend_from_slice(payload);
        }
        let mut inbox = Inbox::default();
        let mut got: Vec<Vec<u8>> = Vec::new();
        // The first read ends inside the third frame's header.
        for chunk in [&sent[..9], &sent[9..13], &sent[13..]] {
            inbox.compact();
            inbox.bytes.extend_from_slice(chunk);
            while let Some(frame) = inbox.next_frame().expect("valid frames") {
                got.push(frame.to_vec());
            }
        }
        assert_eq!(got, vec![b"one".to_vec(), Vec::new(), b"three".to_vec()]);
        let mut oversized = Inbox { bytes: u32::MAX.to_be_bytes().to_vec(), start: 0 };
        assert!(oversized.next_frame().is_err(), "a frame over the limit is refused");
    }
}
