//! Raft messages between nodes over gRPC (tonic, `proto/peer.proto`).
//!
//! Outbound, [`Transport`] keeps one bounded queue and one task per peer,
//! started the first time the Raft loop sends to it (its address from the
//! [`Directory`]; a peer with none yet is unreachable).
//! The task holds one client-streaming `Peer.Raft` call open and sends each
//! batch the Raft loop routed to that peer, merging batches that queued up
//! meanwhile (messages to one peer coalesced across groups). A peer that
//! cannot be reached is retried with exponential backoff (50 ms to 2 s);
//! what queued for it meanwhile is dropped — Raft resends what matters —
//! and a full queue refuses new batches, so a slow or dead peer holds at
//! most [`QUEUE_BATCHES`] batches of memory. Every snapshot taken from the
//! queue is reported to the Raft loop, sent or not: a leader waits for
//! that word before it sends the follower anything more.
//!
//! Inbound, [`PeerService`] turns each received batch into one
//! [`Input::Raft`] for the loop.
//!
//! [`Faults`] is fault injection for tests: peers it blocks get nothing
//! from this node and are not heard from (an asymmetric cut needs only one
//! side told).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{mpsc, Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use protobuf::Message as _;
use raft::eraftpb::{Message, MessageType};
use tokio::sync::mpsc as tokio_mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Endpoint;
use tonic::{Request, Response, Status, Streaming};

use super::directory::Directory;
use super::driver::{Input, Outbox};
use super::peer_proto::peer_client::PeerClient;
use super::peer_proto::peer_server::Peer;
use super::peer_proto::{RaftBatch, RaftDone, RaftEnvelope};
use super::Envelope;

/// Batches queued for one peer before new ones are refused.
pub const QUEUE_BATCHES: usize = 1024;
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Envelopes merged into one gRPC message at most.
const MAX_MERGED: usize = 4096;

/// Peers this node cuts itself off from (tests' network partitions).
#[derive(Debug, Default)]
pub struct Faults {
    blocked: RwLock<BTreeSet<u64>>,
}

impl Faults {
    pub fn blocks(&self, peer: u64) -> bool {
        self.blocked.read().expect("faults lock").contains(&peer)
    }

    /// Blocks exactly `peers` from now on (empty: heals).
    pub fn set(&self, peers: impl IntoIterator<Item = u64>) {
        *self.blocked.write().expect("faults lock") = peers.into_iter().collect();
    }
}

/// The outbound side: a queue and a task per peer.
pub struct Transport {
    node: u64,
    runtime: tokio::runtime::Handle,
    directory: Arc<Directory>,
    inputs: mpsc::Sender<Input>,
    queues: Mutex<BTreeMap<u64, tokio_mpsc::Sender<Vec<Envelope>>>>,
    faults: Arc<Faults>,
}

impl Transport {
    /// A transport of `node` whose sending tasks run on `runtime`.
    pub fn start(
        runtime: &tokio::runtime::Handle,
        node: u64,
        directory: Arc<Directory>,
        inputs: mpsc::Sender<Input>,
        faults: Arc<Faults>,
    ) -> Transport {
        Transport { node, runtime: runtime.clone(), directory, inputs, queues: Mutex::new(BTreeMap::new()), faults }
    }
}

impl Outbox for Transport {
    fn send(&self, to: u64, batch: Vec<Envelope>) -> bool {
        if self.faults.blocks(to) || to == self.node {
            return false;
        }
        let mut queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
        if !queues.contains_key(&to) {
            let Some(addr) = self.directory.get(to) else { return false };
            let (sender, receiver) = tokio_mpsc::channel(QUEUE_BATCHES);
            self.runtime.spawn(send_to_peer(self.node, to, addr, receiver, self.inputs.clone()));
            queues.insert(to, sender);
        }
        queues.get(&to).is_some_and(|queue| queue.try_send(batch).is_ok())
    }
}

fn snapshots_of(envelopes: &[Envelope]) -> Vec<u64> {
    envelopes.iter().filter(|e| e.message.get_msg_type() == MessageType::MsgSnapshot).map(|e| e.range).collect()
}

fn report(inputs: &mpsc::Sender<Input>, to: u64, ranges: Vec<u64>, delivered: bool) {
    for range in ranges {
        let _ = inputs.send(Input::Snapshot { range, to, delivered });
    }
}

/// Drops whatever waits in the queue (the peer is unreachable).
fn discard_queued(queue: &mut tokio_mpsc::Receiver<Vec<Envelope>>, to: u64, inputs: &mpsc::Sender<Input>) {
    while let Ok(batch) = queue.try_recv() {
        report(inputs, to, snapshots_of(&batch), false);
    }
}

async fn send_to_peer(
    node: u64,
    to: u64,
    addr: String,
    mut queue: tokio_mpsc::Receiver<Vec<Envelope>>,
    inputs: mpsc::Sender<Input>,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let endpoint = match Endpoint::from_shared(format!("http://{addr}")) {
            Ok(endpoint) => endpoint.connect_timeout(Duration::from_secs(1)).tcp_nodelay(true),
            Err(e) => {
                tracing::error!(peer = to, addr, error = %e, "bad peer address; not sending to it");
                return;
            }
        };
        let channel = match endpoint.connect().await {
            Ok(channel) => channel,
            Err(e) => {
                tracing::debug!(peer = to, addr, error = %e, "peer unreachable; retrying");
                discard_queued(&mut queue, to, &inputs);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        backoff = MIN_BACKOFF;
        let (stream, stream_queue) = tokio_mpsc::channel::<RaftBatch>(8);
        let mut client = PeerClient::new(channel);
        let call = tokio::spawn(async move { client.raft(ReceiverStream::new(stream_queue)).await });
        loop {
            let Some(mut envelopes) = queue.recv().await else {
                return; // the transport was dropped: the node is stopping
            };
            while envelopes.len() < MAX_MERGED {
                match queue.try_recv() {
                    Ok(more) => envelopes.extend(more),
                    Err(_) => break,
                }
            }
            let snapshots = snapshots_of(&envelopes);
            let batch = RaftBatch {
                from: node,
                envelopes: envelopes
                    .iter()
                    .map(|e| RaftEnvelope { range: e.range, message: e.message.write_to_bytes().expect("encode a raft message") })
                    .collect(),
            };
            if call.is_finished() || stream.send(batch).await.is_err() {
                report(&inputs, to, snapshots, false);
                break; // the call ended: reconnect
            }
            report(&inputs, to, snapshots, true);
        }
        call.abort();
    }
}

/// The inbound side: `Peer.Raft` streams into the Raft loop.
pub struct PeerService {
    inputs: mpsc::Sender<Input>,
    faults: Arc<Faults>,
}

impl PeerService {
    pub fn new(inputs: mpsc::Sender<Input>, faults: Arc<Faults>) -> PeerService {
        PeerService { inputs, faults }
    }
}

#[tonic::async_trait]
impl Peer for PeerService {
    async fn raft(&self, request: Request<Streaming<RaftBatch>>) -> Result<Response<RaftDone>, Status> {
        let mut stream = request.into_inner();
        while let Some(batch) = stream.message().await? {
            if self.faults.blocks(batch.from) {
                continue;
            }
            let mut envelopes = Vec::with_capacity(batch.envelopes.len());
            for RaftEnvelope { range, message } in batch.envelopes {
                match Message::parse_from_bytes(&message) {
                    Ok(message) => envelopes.push(Envelope { range, message }),
                    Err(e) => return Err(Status::invalid_argument(format!("undecodable raft message from {}: {e}", batch.from))),
                }
            }
            self.inputs.send(Input::Raft(envelopes)).map_err(|_| Status::unavailable("the node is stopping"))?;
        }
        Ok(Response::new(RaftDone {}))
    }
}
