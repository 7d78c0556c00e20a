//! The `Admin` gRPC service: membership changes and leadership transfers
//! on a running cluster, and fault injection for tests.

use std::collections::BTreeMap;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use tokio::sync::oneshot;
use tonic::{Request, Response, Status};

use super::driver::{Changed, Input, PATIENCE};
use super::peer_proto::admin_server::Admin;
use super::peer_proto::{
    ChangeMembersRequest, ChangeMembersResponse, IsolateRequest, IsolateResponse, NotLeader, TransferLeaderRequest,
    TransferLeaderResponse,
};
use super::transport::Faults;

pub struct AdminService {
    peers: BTreeMap<u64, String>,
    inputs: mpsc::Sender<Input>,
    faults: Arc<Faults>,
}

impl AdminService {
    pub fn new(peers: BTreeMap<u64, String>, inputs: mpsc::Sender<Input>, faults: Arc<Faults>) -> AdminService {
        AdminService { peers, inputs, faults }
    }

    fn not_leader(&self, leader: Option<u64>) -> NotLeader {
        let leader_id = leader.unwrap_or(0);
        NotLeader { leader_id, leader_addr: self.peers.get(&leader_id).cloned().unwrap_or_default() }
    }

    async fn ask<T>(&self, input: impl FnOnce(oneshot::Sender<T>) -> Input) -> Result<T, Status> {
        let (reply, answer) = oneshot::channel();
        self.inputs.send(input(reply)).map_err(|_| Status::unavailable("the node is stopping"))?;
        match tokio::time::timeout(PATIENCE + Duration::from_secs(1), answer).await {
            Ok(Ok(value)) => Ok(value),
            _ => Err(Status::deadline_exceeded("no answer in time")),
        }
    }
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn change_members(&self, request: Request<ChangeMembersRequest>) -> Result<Response<ChangeMembersResponse>, Status> {
        let ChangeMembersRequest { range, add, remove } = request.into_inner();
        if let Some(unknown) = add.iter().find(|id| !self.peers.contains_key(id)) {
            return Err(Status::invalid_argument(format!("node {unknown} has no address on this node (--peer)")));
        }
        match self.ask(|reply| Input::ChangeMembers { range, add, remove, reply }).await? {
            Changed::Voters(voters) => Ok(Response::new(ChangeMembersResponse { voters, not_leader: None })),
            Changed::NotLeader { leader } => {
                Ok(Response::new(ChangeMembersResponse { voters: Vec::new(), not_leader: Some(self.not_leader(leader)) }))
            }
            Changed::Failed(why) => Err(Status::aborted(why)),
        }
    }

    async fn transfer_leader(&self, request: Request<TransferLeaderRequest>) -> Result<Response<TransferLeaderResponse>, Status> {
        let TransferLeaderRequest { range, to } = request.into_inner();
        match self.ask(|reply| Input::TransferLeader { range, to, reply }).await? {
            Ok(()) => Ok(Response::new(TransferLeaderResponse { not_leader: None })),
            Err(leader) => Ok(Response::new(TransferLeaderResponse { not_leader: Some(self.not_leader(leader)) })),
        }
    }

    async fn isolate(&self, request: Request<IsolateRequest>) -> Result<Response<IsolateResponse>, Status> {
        self.faults.set(request.into_inner().peers);
        Ok(Response::new(IsolateResponse {}))
    }
}
