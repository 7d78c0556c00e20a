//! The `Admin` gRPC service: membership changes and leadership transfers
//! on a running cluster, and fault injection for tests.

use std::collections::BTreeMap;
use std::sync::{mpsc, Arc};

use tonic::{Request, Response, Status};

use super::driver::{Changed, Input};
use super::kv::LoopHandle;
use super::peer_proto::admin_server::Admin;
use super::peer_proto::{
    ChangeMembersRequest, ChangeMembersResponse, IsolateRequest, IsolateResponse, TransferLeaderRequest,
    TransferLeaderResponse,
};
use super::transport::Faults;

pub struct AdminService {
    handle: LoopHandle,
    faults: Arc<Faults>,
}

impl AdminService {
    pub fn new(peers: BTreeMap<u64, String>, inputs: mpsc::Sender<Input>, faults: Arc<Faults>) -> AdminService {
        AdminService { handle: LoopHandle { peers, inputs }, faults }
    }
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn change_members(&self, request: Request<ChangeMembersRequest>) -> Result<Response<ChangeMembersResponse>, Status> {
        let ChangeMembersRequest { range, add, remove } = request.into_inner();
        if let Some(unknown) = add.iter().find(|id| !self.handle.peers.contains_key(id)) {
            return Err(Status::invalid_argument(format!("node {unknown} has no address on this node (--peer)")));
        }
        match self.handle.ask(|reply| Input::ChangeMembers { range, add, remove, reply }).await? {
            Changed::Voters(voters) => Ok(Response::new(ChangeMembersResponse { voters, not_leader: None })),
            Changed::NotLeader { leader } => {
                Ok(Response::new(ChangeMembersResponse { voters: Vec::new(), not_leader: Some(self.handle.not_leader(leader)) }))
            }
            Changed::Failed(why) => Err(Status::aborted(why)),
        }
    }

    async fn transfer_leader(&self, request: Request<TransferLeaderRequest>) -> Result<Response<TransferLeaderResponse>, Status> {
        let TransferLeaderRequest { range, to } = request.into_inner();
        match self.handle.ask(|reply| Input::TransferLeader { range, to, reply }).await? {
            Ok(()) => Ok(Response::new(TransferLeaderResponse { not_leader: None })),
            Err(leader) => Ok(Response::new(TransferLeaderResponse { not_leader: Some(self.handle.not_leader(leader)) })),
        }
    }

    async fn isolate(&self, request: Request<IsolateRequest>) -> Result<Response<IsolateResponse>, Status> {
        self.faults.set(request.into_inner().peers);
        Ok(Response::new(IsolateResponse {}))
    }
}
