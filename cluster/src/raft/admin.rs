//! The `Admin` gRPC service: joins, membership changes and leadership
//! transfers on a running cluster, and fault injection for tests.

use std::sync::{mpsc, Arc};

use lyra_engine::keys::Key;

use tonic::{Request, Response, Status};

use super::directory::Directory;
use super::driver::{Changed, Input, Split};
use super::kv::LoopHandle;
use super::peer_proto::admin_server::Admin;
use super::peer_proto::{
    ChangeMembersRequest, ChangeMembersResponse, DecommissionRequest, DecommissionResponse, IsolateRequest,
    IsolateResponse, JoinRequest, JoinResponse, SplitRangeRequest, SplitRangeResponse, TransferLeaderRequest,
    TransferLeaderResponse,
};
use super::transport::Faults;

pub struct AdminService {
    handle: LoopHandle,
    faults: Arc<Faults>,
}

impl AdminService {
    pub fn new(directory: Arc<Directory>, inputs: mpsc::Sender<Input>, faults: Arc<Faults>) -> AdminService {
        AdminService { handle: LoopHandle { directory, inputs }, faults }
    }
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn change_members(&self, request: Request<ChangeMembersRequest>) -> Result<Response<ChangeMembersResponse>, Status> {
        let ChangeMembersRequest { range, add, remove } = request.into_inner();
        if let Some(unknown) = add.iter().find(|&&id| self.handle.directory.get(id).is_none()) {
            return Err(Status::invalid_argument(format!("node {unknown} has no address on this node (not joined)")));
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

    async fn join(&self, request: Request<JoinRequest>) -> Result<Response<JoinResponse>, Status> {
        let JoinRequest { node, address } = request.into_inner();
        if node == 0 || address.is_empty() {
            return Err(Status::invalid_argument("a joining node needs an id above 0 and an address"));
        }
        if self.handle.directory.is_decommissioned(node) {
            return Err(Status::failed_precondition(format!("node {node} was decommissioned; give it another id")));
        }
        let key = Key::NodeAddress { node }.encode();
        match self.handle.put_catalog(key, address.clone().into_bytes()).await? {
            Ok(()) => {
                self.handle.directory.learn(node, address);
                Ok(Response::new(JoinResponse { nodes: self.handle.directory.entries(), not_leader: None }))
            }
            Err(redirect) => Ok(Response::new(JoinResponse { nodes: Vec::new(), not_leader: Some(redirect) })),
        }
    }

    async fn split_range(&self, request: Request<SplitRangeRequest>) -> Result<Response<SplitRangeResponse>, Status> {
        let SplitRangeRequest { range, key } = request.into_inner();
        match self.handle.ask(|reply| Input::Split { range, key, reply }).await? {
            Split::Done { new_range } => Ok(Response::new(SplitRangeResponse { new_range, not_leader: None })),
            Split::NotLeader { leader } => {
                Ok(Response::new(SplitRangeResponse { new_range: 0, not_leader: Some(self.handle.not_leader(leader)) }))
            }
            Split::Failed(why) => Err(Status::failed_precondition(why)),
        }
    }

    async fn decommission(&self, request: Request<DecommissionRequest>) -> Result<Response<DecommissionResponse>, Status> {
        let node = request.into_inner().node;
        let put = self.handle.put_catalog(Key::NodeDecommissioned { node }.encode(), Vec::new()).await?;
        Ok(Response::new(DecommissionResponse { not_leader: put.err() }))
    }

    async fn isolate(&self, request: Request<IsolateRequest>) -> Result<Response<IsolateResponse>, Status> {
        self.faults.set(request.into_inner().peers);
        Ok(Response::new(IsolateResponse {}))
    }
}
