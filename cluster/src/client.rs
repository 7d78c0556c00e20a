//! The blocking client a Postgres backend uses to reach its node.
//!
//! Backends must not start threads or runtimes (DESIGN §2), so this is a
//! plain `std::os::unix::net::UnixStream` speaking the [`protocol`] frames,
//! one request at a time. One client per backend, kept open and reused.
//!
//! Waiting is interruptible: the socket has a short timeout, and every time
//! it expires the caller's `while_waiting` callback runs. In a backend that
//! callback is `CHECK_FOR_INTERRUPTS()`, which may abandon the request by
//! raising an ERROR (a Rust panic unwinding through here). The client notices
//! the abandoned request on its next use ([`NodeClient::is_broken`]) and the
//! caller reconnects, because the half-read reply would otherwise be taken
//! for the answer to the next request.
//!
//! [`protocol`]: crate::protocol

use std::collections::{HashMap, HashSet};
use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use prost::Message;

use crate::protocol::{self, encode_frame, frame_len, request, response, ErrorCode, Op, Request, Response, Scanned, Ts};

/// How often a blocked read or write hands control to `while_waiting`.
const POLL: Duration = Duration::from_millis(100);
/// Bytes a response's first read asks for: the header and most point
/// answers whole.
const FIRST_READ: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the lyra node is not reachable at {path}: {source}")]
    Unreachable { path: String, source: std::io::Error },
    #[error("lost the connection to the lyra node: {0}")]
    Disconnected(std::io::Error),
    #[error("lyra node: {message}")]
    Node { code: ErrorCode, message: String },
    #[error("lyra node protocol error: {0}")]
    Protocol(String),
}

pub type Result<T> = std::result::Result<T, ClientError>;

/// Names a sent request whose response has not been claimed yet.
pub type Ticket = u64;

/// Tickets are unique in the process, so a ticket from a connection that
/// was since replaced never matches a response on the new one. They are
/// handed out in order, one per request: they also count the requests.
static NEXT_TICKET: AtomicU64 = AtomicU64::new(1);

/// How many requests this process has sent to its node (each one a round
/// trip, pipelined or not): what `EXPLAIN ANALYZE` reports per scan.
pub fn requests_sent() -> u64 {
    NEXT_TICKET.load(Ordering::Relaxed) - 1
}

pub struct NodeClient {
    stream: UnixStream,
    /// Set while a frame is half written or half read; still set afterwards
    /// means the exchange was abandoned midway and the stream is out of step.
    mid_frame: bool,
    frame: Vec<u8>,
    /// The one request sent whose response is still unread.
    outstanding: Option<Ticket>,
    /// Responses read before their owner asked for them.
    parked: HashMap<Ticket, Result<response::Kind>>,
    /// Tickets whose responses nobody wants any more.
    forgotten: HashSet<Ticket>,
}

impl NodeClient {
    pub fn connect(path: &Path) -> Result<NodeClient> {
        let unreachable = |source| ClientError::Unreachable { path: path.display().to_string(), source };
        let stream = UnixStream::connect(path).map_err(unreachable)?;
        stream.set_read_timeout(Some(POLL)).map_err(unreachable)?;
        stream.set_write_timeout(Some(POLL)).map_err(unreachable)?;
        Ok(NodeClient {
            stream,
            mid_frame: false,
            frame: Vec::new(),
            outstanding: None,
            parked: HashMap::new(),
            forgotten: HashSet::new(),
        })
    }

    /// True when an earlier exchange was abandoned midway; the client must
    /// then be replaced by a new connection.
    pub fn is_broken(&self) -> bool {
        self.mid_frame
    }

    /// Sends one request and waits for its response, calling
    /// `while_waiting` every [`POLL`] while blocked.
    pub fn call(&mut self, kind: request::Kind, while_waiting: &mut dyn FnMut()) -> Result<response::Kind> {
        let ticket = self.send(kind, while_waiting)?;
        self.receive(ticket, while_waiting)
    }

    /// Sends a request without waiting for its response, so the node works
    /// on it while the caller does something else (a scan decodes one page
    /// while the node reads the next). Claim the response with
    /// [`receive`](Self::receive), or [`forget`](Self::forget) it.
    ///
    /// At most one response is ever unread: a send first reads (and parks)
    /// the previous one. So the client never writes while the node may be
    /// blocked writing a response — the two cannot deadlock on full socket
    /// buffers.
    pub fn send(&mut self, kind: request::Kind, while_waiting: &mut dyn FnMut()) -> Result<Ticket> {
        self.write_request(kind, while_waiting)?;
        let ticket = NEXT_TICKET.fetch_add(1, Ordering::Relaxed);
        self.outstanding = Some(ticket);
        Ok(ticket)
    }

    /// Sends a request the node does not answer (`EndTxn { quiet: true }`):
    /// no round trip. Like [`send`](Self::send), it first reads the unread
    /// response, if any.
    pub fn send_quiet(&mut self, kind: request::Kind, while_waiting: &mut dyn FnMut()) -> Result<()> {
        self.write_request(kind, while_waiting)
    }

    fn write_request(&mut self, kind: request::Kind, while_waiting: &mut dyn FnMut()) -> Result<()> {
        if self.mid_frame {
            return Err(ClientError::Protocol("connection left mid-request".into()));
        }
        self.drain(while_waiting)?;
        self.frame.clear();
        encode_frame(&Request { kind: Some(kind) }, &mut self.frame);
        let frame = std::mem::take(&mut self.frame);
        self.mid_frame = true;
        self.write_all(&frame, while_waiting)?;
        self.mid_frame = false;
        self.frame = frame;
        if self.frame.capacity() > 4 << 20 {
            self.frame = Vec::new();
        }
        Ok(())
    }

    /// The response to `ticket`, waiting for it if it has not arrived.
    pub fn receive(&mut self, ticket: Ticket, while_waiting: &mut dyn FnMut()) -> Result<response::Kind> {
        if let Some(parked) = self.parked.remove(&ticket) {
            return parked;
        }
        if self.outstanding != Some(ticket) {
            return Err(ClientError::Protocol(format!("no response pending for request {ticket}")));
        }
        let response = self.read_response(while_waiting)?;
        self.outstanding = None;
        response
    }

    /// Gives up on the response to `ticket`.
    pub fn forget(&mut self, ticket: Ticket) {
        if self.parked.remove(&ticket).is_none() && self.outstanding == Some(ticket) {
            self.forgotten.insert(ticket);
        }
    }

    /// Gives up on every response not yet claimed (at transaction end).
    pub fn forget_all(&mut self) {
        self.parked.clear();
        if let Some(ticket) = self.outstanding {
            self.forgotten.insert(ticket);
        }
    }

    /// Reads the unread response, if any, and parks it for its owner.
    fn drain(&mut self, while_waiting: &mut dyn FnMut()) -> Result<()> {
        if let Some(ticket) = self.outstanding {
            let response = self.read_response(while_waiting)?;
            self.outstanding = None;
            if !self.forgotten.remove(&ticket) {
                self.parked.insert(ticket, response);
            }
        }
        Ok(())
    }

    /// Reads one response frame. The outer error is the connection's (the
    /// client is unusable), the inner one the node's answer to the request.
    fn read_response(&mut self, while_waiting: &mut dyn FnMut()) -> Result<Result<response::Kind>> {
        self.mid_frame = true;
        // One read brings the header and, for most responses, the whole
        // payload: only one response is ever in flight, so nothing after
        // it can be in the socket yet.
        let mut first = [0u8; FIRST_READ];
        let mut got = 0;
        while got < 4 {
            got += self.read_some(&mut first[got..], while_waiting)?;
        }
        let header: [u8; 4] = first[..4].try_into().expect("four bytes");
        let len = frame_len(header).map_err(ClientError::Protocol)?;
        let early = got - 4;
        if early > len {
            return Err(ClientError::Protocol("bytes after a response frame".into()));
        }
        // The payload becomes a `Bytes` that scanned pairs slice into, so
        // each response gets its own buffer.
        let mut payload = vec![0u8; len];
        payload[..early].copy_from_slice(&first[4..got]);
        self.read_exact(&mut payload[early..], while_waiting)?;
        self.mid_frame = false;
        let response =
            Response::decode(bytes::Bytes::from(payload)).map_err(|e| ClientError::Protocol(e.to_string()))?;
        Ok(match response.kind {
            Some(response::Kind::Error(e)) => Err(ClientError::Node {
                code: ErrorCode::try_from(e.code).unwrap_or(ErrorCode::Io),
                message: e.message,
            }),
            Some(kind) => Ok(kind),
            None => Err(ClientError::Protocol("empty response".into())),
        })
    }

    /// The value of `key` at `read_ts` (none: now), and the timestamp read at.
    pub fn get(&mut self, key: Vec<u8>, read_ts: Option<Ts>, w: &mut dyn FnMut()) -> Result<protocol::Value> {
        match self.call(request::Kind::Get(protocol::Get { key, read_ts }), w)? {
            response::Kind::Value(v) => Ok(v),
            other => Err(unexpected(other)),
        }
    }

    /// A fresh read timestamp, pinned for this connection.
    pub fn fresh_read_ts(&mut self, w: &mut dyn FnMut()) -> Result<Option<Ts>> {
        match self.call(request::Kind::FreshReadTs(protocol::FreshReadTs {}), w)? {
            response::Kind::Value(v) => Ok(v.read_ts),
            other => Err(unexpected(other)),
        }
    }

    /// Reads the unique index entries `entries` and the rows of `table`
    /// they name, at one timestamp, in one round trip.
    pub fn get_entries(&mut self, get: protocol::GetEntries, w: &mut dyn FnMut()) -> Result<protocol::Entries> {
        match self.call(request::Kind::GetEntries(get), w)? {
            response::Kind::Entries(e) => Ok(e),
            other => Err(unexpected(other)),
        }
    }

    /// One page of `[start, end)`; `more` is true when more may follow.
    pub fn scan(&mut self, scan: protocol::Scan, w: &mut dyn FnMut()) -> Result<Scanned> {
        let ticket = self.send(request::Kind::Scan(scan), w)?;
        self.receive_scan(ticket, w)
    }

    /// The page a [`send`](Self::send) of a `Scan` asked for.
    pub fn receive_scan(&mut self, ticket: Ticket, w: &mut dyn FnMut()) -> Result<Scanned> {
        match self.receive(ticket, w)? {
            response::Kind::Scanned(mut s) => {
                s.unpack().map_err(ClientError::Protocol)?;
                Ok(s)
            }
            other => Err(unexpected(other)),
        }
    }

    /// Locks a row for this connection's transaction, waiting as the
    /// request says; `while_waiting` runs every 100 ms of the wait. `Err`
    /// of the inner result: a `NoWait` request met these holders.
    pub fn lock_row(
        &mut self,
        lock: protocol::LockRow,
        w: &mut dyn FnMut(),
    ) -> Result<std::result::Result<protocol::RowLocked, Vec<u64>>> {
        match self.call(request::Kind::LockRow(lock), w)? {
            response::Kind::RowLocked(locked) => Ok(Ok(locked)),
            response::Kind::RowBusy(busy) => Ok(Err(busy.holders)),
            other => Err(unexpected(other)),
        }
    }

    /// Several row locks in one round trip, none waiting ([`protocol::LockRows`]):
    /// per lock, in order, its answer or the holders that keep it. An error
    /// answering any of them is the call's.
    pub fn lock_rows(
        &mut self,
        rows: Vec<protocol::LockRow>,
        w: &mut dyn FnMut(),
    ) -> Result<Vec<std::result::Result<protocol::RowLocked, Vec<u64>>>> {
        let count = rows.len();
        let response::Kind::RowsLocked(locked) = self.call(request::Kind::LockRows(protocol::LockRows { rows }), w)? else {
            return Err(ClientError::Protocol("a LockRows answered otherwise".into()));
        };
        if locked.answers.len() != count {
            return Err(ClientError::Protocol(format!("{count} locks asked, {} answered", locked.answers.len())));
        }
        locked
            .answers
            .into_iter()
            .map(|answer| match answer.kind {
                Some(response::Kind::RowLocked(locked)) => Ok(Ok(locked)),
                Some(response::Kind::RowBusy(busy)) => Ok(Err(busy.holders)),
                Some(response::Kind::Error(e)) => Err(ClientError::Node {
                    code: ErrorCode::try_from(e.code).unwrap_or(ErrorCode::Io),
                    message: e.message,
                }),
                Some(other) => Err(unexpected(other)),
                None => Err(ClientError::Protocol("empty response".into())),
            })
            .collect()
    }

    /// Ends this connection's transaction without a commit (its locks go).
    pub fn end_txn(&mut self, w: &mut dyn FnMut()) -> Result<()> {
        self.done(request::Kind::EndTxn(protocol::EndTxn { quiet: false }), w)
    }

    /// Undoes the row locks subtransaction `subxact` (rolled back) and
    /// those inside it took, and waits for the node to say so.
    pub fn release_locks(&mut self, subxact: u32, w: &mut dyn FnMut()) -> Result<()> {
        self.done(request::Kind::ReleaseLocks(protocol::ReleaseLocks { subxact }), w)
    }

    pub fn allocate_table_id(&mut self, w: &mut dyn FnMut()) -> Result<u64> {
        self.id(request::Kind::AllocateTableId(protocol::AllocateTableId {}), w)
    }

    pub fn allocate_row_ids(&mut self, table: u64, count: u64, w: &mut dyn FnMut()) -> Result<u64> {
        self.id(request::Kind::AllocateRowIds(protocol::AllocateRowIds { table, count }), w)
    }

    pub fn row_id_high_water(&mut self, table: u64, w: &mut dyn FnMut()) -> Result<u64> {
        self.id(request::Kind::RowIdHighWater(protocol::RowIdHighWater { table }), w)
    }

    pub fn stage(&mut self, ops: Vec<Op>, w: &mut dyn FnMut()) -> Result<()> {
        self.done(request::Kind::StageWrites(protocol::StageWrites { ops }), w)
    }

    /// Commits the staged writes plus `commit.ops`; returns the commit
    /// timestamp.
    pub fn commit(&mut self, commit: protocol::Commit, w: &mut dyn FnMut()) -> Result<Ts> {
        match self.call(request::Kind::Commit(commit), w)? {
            response::Kind::Committed(c) => c.commit_ts.ok_or_else(|| ClientError::Protocol("commit without a timestamp".into())),
            other => Err(unexpected(other)),
        }
    }

    /// The node's view of its cluster (admin functions).
    pub fn cluster_status(&mut self, w: &mut dyn FnMut()) -> Result<protocol::ClusterInfo> {
        match self.call(request::Kind::ClusterStatus(protocol::ClusterStatus {}), w)? {
            response::Kind::Cluster(info) => Ok(info),
            other => Err(unexpected(other)),
        }
    }

    /// Moves `range`'s lease to node `to`; returns once this node sees it there.
    pub fn transfer_lease(&mut self, range: u64, to: u64, w: &mut dyn FnMut()) -> Result<()> {
        self.done(request::Kind::TransferLease(protocol::TransferLease { range, to }), w)
    }

    /// Adds and removes voters of `range`.
    pub fn change_replicas(&mut self, range: u64, add: Vec<u64>, remove: Vec<u64>, w: &mut dyn FnMut()) -> Result<()> {
        self.done(request::Kind::ChangeReplicas(protocol::ChangeReplicas { range, add, remove }), w)
    }

    /// Splits `range` at `key`; the new range's id.
    pub fn split_range(&mut self, range: u64, key: Vec<u8>, w: &mut dyn FnMut()) -> Result<u64> {
        self.id(request::Kind::SplitRange(protocol::SplitRange { range, key }), w)
    }

    /// Decommissions `node`.
    pub fn decommission(&mut self, node: u64, w: &mut dyn FnMut()) -> Result<()> {
        self.done(request::Kind::Decommission(protocol::Decommission { node }), w)
    }

    /// Adds the node waiting at `address` to the cluster; its new id.
    pub fn add_node(&mut self, address: String, w: &mut dyn FnMut()) -> Result<u64> {
        self.id(request::Kind::AddNode(protocol::AddNode { address }), w)
    }

    pub fn discard_staged(&mut self, w: &mut dyn FnMut()) -> Result<()> {
        self.done(request::Kind::DiscardStaged(protocol::DiscardStaged {}), w)
    }

    fn id(&mut self, kind: request::Kind, w: &mut dyn FnMut()) -> Result<u64> {
        match self.call(kind, w)? {
            response::Kind::Id(id) => Ok(id.id),
            other => Err(unexpected(other)),
        }
    }

    fn done(&mut self, kind: request::Kind, w: &mut dyn FnMut()) -> Result<()> {
        match self.call(kind, w)? {
            response::Kind::Done(_) => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    fn write_all(&mut self, mut buf: &[u8], while_waiting: &mut dyn FnMut()) -> Result<()> {
        while !buf.is_empty() {
            match self.stream.write(buf) {
                Ok(0) => return Err(ClientError::Disconnected(ErrorKind::WriteZero.into())),
                Ok(n) => buf = &buf[n..],
                Err(e) if is_timeout(&e) => while_waiting(),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(ClientError::Disconnected(e)),
            }
        }
        Ok(())
    }

    fn read_exact(&mut self, mut buf: &mut [u8], while_waiting: &mut dyn FnMut()) -> Result<()> {
        while !buf.is_empty() {
            let n = self.read_some(buf, while_waiting)?;
            buf = &mut buf[n..];
        }
        Ok(())
    }

    /// Reads at least one byte into `buf` (not empty), running
    /// `while_waiting` at each poll interval without data.
    ///
    /// Waits in `poll` for readability, not in a blocking `recv`: a
    /// process asleep in `recv` on a Unix socket is woken by every event
    /// on it, including the node reading the request just sent (which
    /// frees the sender's buffer space and wakes its writers), so each
    /// round trip would cost the backend a spurious wake-up and the node
    /// the cross-CPU call that delivers it. `poll` for `POLLIN` is woken
    /// only by data, a hang-up or an error.
    fn read_some(&mut self, buf: &mut [u8], while_waiting: &mut dyn FnMut()) -> Result<usize> {
        let fd = self.stream.as_raw_fd();
        loop {
            // SAFETY: `buf` is valid for `buf.len()` bytes; `fd` is our open socket.
            let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
            if n > 0 {
                return Ok(n as usize);
            }
            if n == 0 {
                return Err(ClientError::Disconnected(ErrorKind::UnexpectedEof.into()));
            }
            let e = std::io::Error::last_os_error();
            match e.kind() {
                ErrorKind::WouldBlock => {}
                ErrorKind::Interrupted => continue,
                _ => return Err(ClientError::Disconnected(e)),
            }
            let mut ready = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd.
            match unsafe { libc::poll(&mut ready, 1, POLL.as_millis() as libc::c_int) } {
                n if n > 0 => {}
                // The interval passed, or a signal came (a cancel, say).
                0 => while_waiting(),
                _ => {
                    let e = std::io::Error::last_os_error();
                    if e.kind() != ErrorKind::Interrupted {
                        return Err(ClientError::Disconnected(e));
                    }
                    while_waiting();
                }
            }
        }
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

fn unexpected(kind: response::Kind) -> ClientError {
    ClientError::Protocol(format!("unexpected response {kind:?}"))
}
