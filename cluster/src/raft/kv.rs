//! The key-value face of a Raft node: the `Kv` gRPC service, and
//! [`KvClient`], which tools, tests and the benchmark use.
//!
//! Keys live under the `w` prefix (`KV_PREFIX`), above the catalog and
//! SQL's keyspaces: this is the test keyspace of a KV-level cluster, not
//! where SQL tables go.
//!
//! Writes go to the range's leader. A node that does not lead answers with
//! the leader it knows; the client follows that answer, or, when no leader
//! is known (an election), waits a little and asks the next node — a
//! request is redirected or retried, never silently dropped. A write is
//! acknowledged once the leader has applied it. When the leader loses its
//! leadership mid-way the write's outcome is unknown and the client says so
//! rather than retrying (a retry could apply it twice).

use std::collections::BTreeMap;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use lyra_engine::keys::RangeId;
use tokio::sync::oneshot;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};

use super::driver::{Input, Proposed, NO_RANGE, PATIENCE};
use super::peer_proto::admin_client::AdminClient;
use super::peer_proto::kv_client::KvClient as GrpcKvClient;
use super::peer_proto::{
    ChangeMembersRequest, DecommissionRequest, IsolateRequest, JoinRequest, NodeEntry, SplitRangeRequest,
    TransferLeaderRequest,
};
use super::peer_proto::kv_server::Kv;
use super::peer_proto::{ChangeMembersResponse, GetRequest, GetResponse, KvPair, NotLeader, PutRequest, PutResponse, RangeStatus, StatusRequest, StatusResponse};
use super::command::{CONDITION_FAILED, OUTSIDE_RANGE};
use super::peer_proto::invitation_client::InvitationClient;
use super::peer_proto::{CatalogRequest, CatalogResponse, InviteRequest, MembersRequest, RangeDescriptor};
use lyra_engine::keys::Key;
use prost::Message as _;
use super::directory::Directory;
use super::Command;

/// The range the KV service writes to.
pub const KV_RANGE: RangeId = 1;
/// What the service puts before each user key.
pub const KV_PREFIX: &[u8] = b"w";
/// Range 1's span, which a cluster starts with: every replicated key (above the
/// 0x01 keyspace of replica-local state).
pub const KV_SPAN: (&[u8], &[u8]) = (b"\x02", b"\xff");

fn stored_key(key: &[u8]) -> Vec<u8> {
    [KV_PREFIX, key].concat()
}

/// What a gRPC service of the node needs of the Raft loop: a way to ask
/// it something and wait, and the peers' addresses for redirects.
pub(super) struct LoopHandle {
    pub directory: Arc<Directory>,
    pub inputs: mpsc::Sender<Input>,
}

impl LoopHandle {
    /// Sends the loop an input carrying a reply channel and waits for the
    /// answer. No answer in time (the loop gave up on it, see
    /// `driver::PATIENCE`) is `DEADLINE_EXCEEDED`: for a write, an unknown
    /// outcome.
    pub async fn ask<T>(&self, input: impl FnOnce(oneshot::Sender<T>) -> Input) -> Result<T, Status> {
        let (reply, answer) = oneshot::channel();
        self.inputs.send(input(reply)).map_err(|_| Status::unavailable("the node is stopping"))?;
        match tokio::time::timeout(PATIENCE + Duration::from_secs(1), answer).await {
            Ok(Ok(value)) => Ok(value),
            _ => Err(Status::deadline_exceeded("no answer in time; the outcome is unknown")),
        }
    }

    /// Writes `key` = `value` through the leader of the range holding it
    /// (a cluster catalog key: range 1); `Err` inside: ask this leader.
    pub async fn put_catalog(&self, key: Vec<u8>, value: Vec<u8>) -> Result<Result<(), NotLeader>, Status> {
        self.write_catalog(Command::new(0).put(key, value)).await
    }

    /// [`Self::put_catalog`] of a command; a condition that failed is
    /// `FAILED_PRECONDITION`.
    pub async fn write_catalog(&self, command: Command) -> Result<Result<(), NotLeader>, Status> {
        match self.ask(|reply| Input::Propose { range: None, term: None, command, reply }).await? {
            Proposed::Applied { .. } => Ok(Ok(())),
            Proposed::NotLeader { leader } => Ok(Err(self.not_leader(leader))),
            Proposed::Failed(why) if why.starts_with(CONDITION_FAILED) => Err(Status::failed_precondition(why)),
            Proposed::Failed(why) => Err(Status::unavailable(why)),
        }
    }

    /// Records `descriptor` in range 1 through this node's replica
    /// (unless the catalog has a newer one); `Err` inside: ask this
    /// leader.
    pub async fn record_range(&self, descriptor: RangeDescriptor) -> Result<Result<(), NotLeader>, Status> {
        if self.directory.range(descriptor.range).is_some_and(|known| known.index > descriptor.index) {
            return Ok(Ok(()));
        }
        let key = Key::RangeDescriptor { range: descriptor.range }.encode();
        let put = self.put_catalog(key, descriptor.encode_to_vec()).await?;
        if put.is_ok() {
            self.directory.note_range(descriptor);
        }
        Ok(put)
    }

    /// [`Self::record_range`] here if this node leads range 1, else
    /// through its leader over gRPC.
    pub async fn describe(&self, descriptor: RangeDescriptor) -> Result<(), String> {
        let put = self.record_range(descriptor.clone()).await.map_err(|s| s.message().to_string())?;
        if let Err(redirect) = put {
            // The leader first, then every other node.
            let nodes = self.directory.all();
            let first = nodes.get(&redirect.leader_id).cloned();
            let rest = nodes.into_iter().filter(|&(id, _)| id != redirect.leader_id).map(|(_, address)| address);
            let mut client = KvClient::new(first.into_iter().chain(rest).collect());
            client.deadline = Duration::from_secs(3);
            client.describe(descriptor.clone()).await.map_err(|e| e.to_string())?;
        }
        self.directory.note_range(descriptor);
        Ok(())
    }

    /// The redirect to `leader` (0 and no address: none known).
    pub fn not_leader(&self, leader: Option<u64>) -> NotLeader {
        let leader_id = leader.unwrap_or(0);
        NotLeader { leader_id, leader_addr: self.directory.get(leader_id).unwrap_or_default() }
    }
}

pub struct KvService {
    node: u64,
    handle: LoopHandle,
    /// Connections to the nodes reads are forwarded to, made once.
    forward_to: std::sync::Mutex<BTreeMap<String, Channel>>,
}

impl KvService {
    pub fn new(node: u64, directory: Arc<Directory>, inputs: mpsc::Sender<Input>) -> KvService {
        KvService { node, handle: LoopHandle { directory, inputs }, forward_to: Default::default() }
    }

    /// The connection to `addr` reads are forwarded through.
    async fn forward_channel(&self, addr: &str) -> Result<Channel, String> {
        let known = self.forward_to.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(addr).cloned();
        if let Some(channel) = known {
            return Ok(channel);
        }
        let channel = connect(addr).await?;
        self.forward_to.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(addr.to_string(), channel.clone());
        Ok(channel)
    }
}

#[tonic::async_trait]
impl Kv for KvService {
    async fn put(&self, request: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        let mut command = Command::new(0);
        for KvPair { key, value } in request.into_inner().pairs {
            command = command.put(stored_key(&key), value);
        }
        let first_key = command.ops.first().map(|op| op.key.clone()).unwrap_or_default();
        let proposed = self.handle.ask(|reply| Input::Propose { range: None, term: None, command, reply }).await?;
        match proposed {
            Proposed::Applied { index } => Ok(Response::new(PutResponse { index, not_leader: None })),
            Proposed::NotLeader { leader } => {
                // No replica here: the catalog knows the range's leader.
                let leader = match leader {
                    Some(leader) => Some(leader),
                    None => self.handle.directory.locate_fresh(&first_key).await.map(|d| d.leader),
                };
                Ok(Response::new(PutResponse { index: 0, not_leader: Some(self.handle.not_leader(leader)) }))
            }
            Proposed::Failed(why) if why.starts_with(OUTSIDE_RANGE) => Err(Status::out_of_range(why)),
            Proposed::Failed(why) => Err(Status::failed_precondition(why)),
        }
    }

    async fn get(&self, request: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        let GetRequest { key: user_key, forwarded } = request.into_inner();
        let key = stored_key(&user_key);
        let read = match self.handle.ask(|reply| Input::Read { range: None, key: key.clone(), reply }).await? {
            Err(why) if why.starts_with(NO_RANGE) && !forwarded => return self.forward_get(&key, user_key).await,
            read => read.map_err(Status::unavailable)?,
        };
        Ok(Response::new(GetResponse { found: read.value.is_some(), value: read.value.unwrap_or_default(), read_index: read.read_index }))
    }

    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        let (ranges, stats) = self.handle.ask(|reply| Input::Status { reply }).await?;
        let ranges = ranges
            .into_iter()
            .map(|r| RangeStatus {
                range: r.range,
                leader_id: r.leader.unwrap_or(0),
                term: r.term,
                commit: r.commit,
                applied: r.applied,
                voters: r.voters,
                is_leader: r.is_leader,
                snapshots_applied: r.snapshots_applied,
            })
            .collect();
        Ok(Response::new(StatusResponse {
            node_id: self.node,
            ranges,
            rounds: stats.rounds,
            synced_writes: stats.synced_writes,
            synced_micros: stats.synced_micros,
            unsynced_writes: stats.unsynced_writes,
            unsynced_micros: stats.unsynced_micros,
            commands_applied: stats.commands_applied,
            messages_sent: stats.messages_sent,
            lease_reads: stats.lease_reads,
            read_index_reads: stats.read_index_reads,
        }))
    }
}

impl KvService {
    /// Sends a read on to the members of the range the catalog says holds
    /// `key` (its leader first): this node has no replica of it.
    async fn forward_get(&self, key: &[u8], user_key: Vec<u8>) -> Result<Response<GetResponse>, Status> {
        let Some(descriptor) = self.handle.directory.locate_fresh(key).await else {
            return Err(Status::unavailable(format!("{NO_RANGE}, and the catalog names none")));
        };
        let mut members = descriptor.voters.clone();
        members.sort_by_key(|&id| id != descriptor.leader);
        let addresses: Vec<String> = members.iter().filter_map(|&id| self.handle.directory.get(id)).collect();
        let mut last_error = format!("range {}: no member's address known", descriptor.range);
        for address in &addresses {
            let channel = match self.forward_channel(address).await {
                Ok(channel) => channel,
                Err(e) => {
                    last_error = format!("{address}: {e}");
                    continue;
                }
            };
            match GrpcKvClient::new(channel).get(GetRequest { key: user_key.clone(), forwarded: true }).await {
                Ok(response) => return Ok(response),
                Err(status) => {
                    self.forward_to.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(address);
                    last_error = format!("{address}: {}", status.message());
                }
            }
        }
        Err(Status::unavailable(last_error))
    }
}

/// A connection to the node at `addr`.
async fn connect(addr: &str) -> Result<Channel, String> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}")).map_err(|e| e.to_string())?;
    endpoint
        .connect_timeout(Duration::from_millis(500))
        .timeout(PATIENCE + Duration::from_secs(2))
        .tcp_nodelay(true)
        .connect()
        .await
        .map_err(|e| e.to_string())
}

#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error("no node answered within {0:?}: {1}")]
    Unavailable(Duration, String),
    #[error("the write's outcome is unknown: {0}")]
    Unknown(String),
    #[error("{0}")]
    Refused(String),
}

/// A client of a cluster's `Kv` service: follows leader redirects, retries
/// other nodes through elections and failures, within a deadline.
pub struct KvClient {
    addrs: Vec<String>,
    channels: BTreeMap<String, Channel>,
    /// The node that last took a write.
    leader: usize,
    pub deadline: Duration,
}

/// A node's answer to a request only a range's leader takes.
enum Led<T> {
    Done(T),
    /// Not the leader; the leader's address, if it knows one.
    NotLeader(String),
}

/// An answer that carries `not_leader` when the node did not lead.
fn led<T>(not_leader: Option<NotLeader>, done: T) -> Led<T> {
    match not_leader {
        None => Led::Done(done),
        Some(NotLeader { leader_addr, .. }) => Led::NotLeader(leader_addr),
    }
}

impl KvClient {
    pub fn new(addrs: Vec<String>) -> KvClient {
        KvClient { addrs, channels: BTreeMap::new(), leader: 0, deadline: Duration::from_secs(15) }
    }

    /// The connection to `addr` (made once, kept until it fails).
    async fn channel(&mut self, addr: &str) -> Result<Channel, String> {
        if let Some(channel) = self.channels.get(addr) {
            return Ok(channel.clone());
        }
        let channel = connect(addr).await?;
        self.channels.insert(addr.to_string(), channel.clone());
        Ok(channel)
    }

    /// Sends a request only a leader takes: to the node that last took
    /// one, then wherever the answers redirect it; through elections (no
    /// leader known) and unreachable nodes it tries the next node shortly.
    /// `DEADLINE_EXCEEDED` is an unknown outcome (the leader may yet apply
    /// it); `FAILED_PRECONDITION` a refusal (nothing was done);
    /// `OUT_OF_RANGE` a write a split overtook, sent again.
    async fn to_leader<T, F>(&mut self, mut call: impl FnMut(Channel) -> F) -> Result<T, KvError>
    where
        F: std::future::Future<Output = Result<Led<T>, Status>>,
    {
        if self.addrs.is_empty() {
            return Err(KvError::Unavailable(Duration::ZERO, "no node to ask".into()));
        }
        let started = Instant::now();
        let mut last_error = String::from("no attempt");
        let mut at = self.leader;
        while started.elapsed() < self.deadline {
            let addr = self.addrs[at % self.addrs.len()].clone();
            let answer = match self.channel(&addr).await {
                Ok(channel) => call(channel).await,
                Err(e) => Err(Status::unavailable(e)),
            };
            match answer {
                Ok(Led::Done(value)) => {
                    self.leader = at % self.addrs.len();
                    return Ok(value);
                }
                Ok(Led::NotLeader(leader_addr)) => {
                    last_error = format!("{addr} does not lead");
                    // A leader this client was not told of is asked too.
                    if !leader_addr.is_empty() && !self.addrs.contains(&leader_addr) {
                        self.addrs.push(leader_addr.clone());
                    }
                    match self.addrs.iter().position(|a| *a == leader_addr) {
                        Some(leader) if leader != at % self.addrs.len() => at = leader,
                        _ => {
                            // An election is on: ask the next node shortly.
                            at += 1;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
                Err(status) if status.code() == tonic::Code::DeadlineExceeded => {
                    return Err(KvError::Unknown(status.message().to_string()));
                }
                Err(status) if status.code() == tonic::Code::FailedPrecondition => {
                    return Err(KvError::Refused(status.message().to_string()));
                }
                Err(status) if status.code() == tonic::Code::OutOfRange => {
                    last_error = format!("{addr}: {}", status.message());
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                // Unreachable, or not done (e.g. another membership change
                // was pending): nothing was done there; try the next node.
                Err(status) => {
                    self.channels.remove(&addr);
                    last_error = format!("{addr}: {}", status.message());
                    at += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        Err(KvError::Unavailable(self.deadline, last_error))
    }

    /// Writes `pairs` atomically; the index they were applied at.
    pub async fn put(&mut self, pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Result<u64, KvError> {
        let request = PutRequest { pairs: pairs.into_iter().map(|(key, value)| KvPair { key, value }).collect() };
        self.to_leader(|channel| {
            let request = request.clone();
            async move {
                Ok(match GrpcKvClient::new(channel).put(request).await?.into_inner() {
                    PutResponse { not_leader: None, index } => Led::Done(index),
                    PutResponse { not_leader: Some(NotLeader { leader_addr, .. }), .. } => Led::NotLeader(leader_addr),
                })
            }
        })
        .await
    }

    /// A linearizable read of `key`, from any node that answers.
    pub async fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        if self.addrs.is_empty() {
            return Err(KvError::Unavailable(Duration::ZERO, "no node to ask".into()));
        }
        let started = Instant::now();
        let mut last_error = String::from("no attempt");
        let mut at = self.leader;
        while started.elapsed() < self.deadline {
            let addr = self.addrs[at % self.addrs.len()].clone();
            match self.get_from(&addr, key).await {
                Ok(value) => return Ok(value),
                Err(e) => {
                    last_error = format!("{addr}: {e}");
                    at += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        Err(KvError::Unavailable(self.deadline, last_error))
    }

    /// A linearizable read served by the node at `addr` (a follower asks
    /// its leader for the read point, then reads its own copy).
    pub async fn get_from(&mut self, addr: &str, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        let mut client = GrpcKvClient::new(self.channel(addr).await?);
        let response = client.get(GetRequest { key: key.to_vec(), forwarded: false }).await;
        let response = self.answer_of(addr, response)?;
        Ok(response.found.then_some(response.value))
    }

    /// Adds and removes voters of `range`, through its leader (following
    /// redirects); the voters after the change.
    pub async fn change_members(&mut self, range: RangeId, add: Vec<u64>, remove: Vec<u64>) -> Result<Vec<u64>, KvError> {
        let request = ChangeMembersRequest { range, add, remove };
        self.to_leader(|channel| {
            let request = request.clone();
            async move {
                Ok(match AdminClient::new(channel).change_members(request).await?.into_inner() {
                    ChangeMembersResponse { not_leader: None, voters } => Led::Done(voters),
                    ChangeMembersResponse { not_leader: Some(NotLeader { leader_addr, .. }), .. } => Led::NotLeader(leader_addr),
                })
            }
        })
        .await
    }

    /// Hands `range`'s leadership to `to`, through its leader (following
    /// redirects): asked, not yet done (see [`Self::status`]).
    pub async fn move_leadership(&mut self, range: RangeId, to: u64) -> Result<(), KvError> {
        self.to_leader(|channel| async move {
            let reply = AdminClient::new(channel).transfer_leader(TransferLeaderRequest { range, to }).await?;
            Ok(led(reply.into_inner().not_leader, ()))
        })
        .await
    }

    /// Splits `range` at `key`, through its leader; the new range.
    pub async fn split_range(&mut self, range: RangeId, key: Vec<u8>) -> Result<u64, KvError> {
        self.to_leader(|channel| {
            let request = SplitRangeRequest { range, key: key.clone() };
            async move {
                let reply = AdminClient::new(channel).split_range(request).await?.into_inner();
                Ok(led(reply.not_leader, reply.new_range))
            }
        })
        .await
    }

    /// Decommissions `node`, through range 1's leader.
    pub async fn decommission(&mut self, node: u64) -> Result<(), KvError> {
        self.to_leader(|channel| async move {
            let reply = AdminClient::new(channel).decommission(DecommissionRequest { node }).await?;
            Ok(led(reply.into_inner().not_leader, ()))
        })
        .await
    }

    /// Joins node `node` (listening at `address`; 0: give it a new id) to
    /// the cluster, through range 1's leader; its id and every node's
    /// address.
    pub async fn join(&mut self, node: u64, address: &str) -> Result<(u64, Vec<NodeEntry>), KvError> {
        self.to_leader(|channel| {
            let request = JoinRequest { node, address: address.to_string() };
            async move {
                let reply = AdminClient::new(channel).join(request).await?.into_inner();
                Ok(led(reply.not_leader, (reply.node, reply.nodes)))
            }
        })
        .await
    }

    /// Records a range's descriptor in range 1, through its leader.
    pub async fn describe(&mut self, descriptor: RangeDescriptor) -> Result<(), KvError> {
        self.to_leader(|channel| {
            let descriptor = descriptor.clone();
            async move { Ok(led(AdminClient::new(channel).describe(descriptor).await?.into_inner().not_leader, ())) }
        })
        .await
    }

    /// Asks the node waiting at `addr` to join the cluster through `via`;
    /// its new id.
    pub async fn invite(&mut self, addr: &str, via: Vec<String>) -> Result<u64, String> {
        let channel = self.channel(addr).await.map_err(|e| format!("no node answers at {addr}: {e}"))?;
        match InvitationClient::new(channel).invite(InviteRequest { via }).await {
            Ok(response) => Ok(response.into_inner().node),
            Err(status) if status.code() == tonic::Code::Unimplemented => {
                Err(format!("the node at {addr} is not waiting to be added (start it with lyra.join = 'wait')"))
            }
            Err(status) => Err(format!("{addr}: {}", status.message())),
        }
    }

    /// What the node at `addr` knows of the cluster catalog.
    pub async fn catalog(&mut self, addr: &str) -> Result<CatalogResponse, String> {
        let response = self.admin(addr).await?.catalog(CatalogRequest {}).await;
        self.answer_of(addr, response)
    }

    /// The members of `range` if the node at `addr` leads it (`None`: it
    /// does not).
    pub async fn members(&mut self, addr: &str, range: RangeId) -> Result<Option<Vec<u64>>, String> {
        let response = self.admin(addr).await?.members(MembersRequest { range }).await;
        let response = self.answer_of(addr, response)?;
        Ok(response.not_leader.is_none().then_some(response.members))
    }

    /// Asks the node at `addr`, which must lead `range`, to hand its
    /// leadership to `to`. Whether it did: see [`Self::status`].
    pub async fn transfer_leader(&mut self, addr: &str, range: RangeId, to: u64) -> Result<(), String> {
        let mut admin = self.admin(addr).await?;
        let response = admin.transfer_leader(TransferLeaderRequest { range, to }).await.map_err(|s| s.message().to_string())?;
        match response.into_inner().not_leader {
            None => Ok(()),
            Some(not) => Err(format!("{addr} does not lead range {range} (leader: {})", not.leader_id)),
        }
    }

    /// Fault injection: the node at `addr` drops all Raft traffic to and
    /// from `peers` (empty: heals).
    pub async fn isolate(&mut self, addr: &str, peers: Vec<u64>) -> Result<(), String> {
        let mut admin = self.admin(addr).await?;
        admin.isolate(IsolateRequest { peers }).await.map_err(|s| s.message().to_string())?;
        Ok(())
    }

    async fn admin(&mut self, addr: &str) -> Result<AdminClient<Channel>, String> {
        Ok(AdminClient::new(self.channel(addr).await?))
    }

    /// What the node at `addr` knows of its ranges.
    pub async fn status(&mut self, addr: &str) -> Result<StatusResponse, String> {
        let response = GrpcKvClient::new(self.channel(addr).await?).status(StatusRequest {}).await;
        self.answer_of(addr, response)
    }

    /// The answer of the node at `addr`; on an error its connection is
    /// dropped (made again on the next request).
    fn answer_of<T>(&mut self, addr: &str, response: Result<Response<T>, Status>) -> Result<T, String> {
        response.map(Response::into_inner).map_err(|status| {
            self.channels.remove(addr);
            status.message().to_string()
        })
    }
}
