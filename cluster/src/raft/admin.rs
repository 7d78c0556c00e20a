//! The `Admin` gRPC service: joins, membership changes and leadership
//! transfers on a running cluster, the catalog of range descriptors, and
//! fault injection for tests.

use std::sync::{mpsc, Arc};

use lyra_engine::keys::Key;

use tonic::{Request, Response, Status};

use super::directory::Directory;
use super::driver::{Changed, Input, Split};
use super::kv::LoopHandle;
use super::peer_proto::admin_server::Admin;
use super::peer_proto::{
    CatalogRequest, CatalogResponse, ChangeMembersRequest, ChangeMembersResponse, DecommissionRequest,
    DecommissionResponse, DescribeResponse, IsolateRequest, IsolateResponse, JoinRequest, JoinResponse,
    MembersRequest, MembersResponse, RangeDescriptor, SplitRangeRequest, SplitRangeResponse, TransferLeaderRequest,
    TransferLeaderResponse,
};
use super::Command;
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
        if address.is_empty() {
            return Err(Status::invalid_argument("a joining node needs an address"));
        }
        if self.handle.directory.is_decommissioned(node) {
            return Err(Status::failed_precondition(format!("node {node} was decommissioned; give it another id")));
        }
        // A new id: the lowest above every known one that no node holds
        // when the write applies (range 1's replicas check), else the next.
        let mut candidate = (node == 0).then(|| self.handle.directory.next_node_id());
        let node = loop {
            let id = candidate.unwrap_or(node);
            let key = Key::NodeAddress { node: id }.encode();
            let mut command = Command::new(0);
            if candidate.is_some() {
                command = command.if_absent(key.clone());
            }
            match self.handle.write_catalog(command.put(key, address.clone().into_bytes())).await {
                Ok(Ok(())) => break id,
                Ok(Err(redirect)) => {
                    return Ok(Response::new(JoinResponse { nodes: Vec::new(), not_leader: Some(redirect), node: 0 }));
                }
                Err(status) if status.code() == tonic::Code::FailedPrecondition && candidate.is_some() => {
                    candidate = Some(id + 1);
                }
                Err(status) => return Err(status),
            }
        };
        self.handle.directory.learn(node, address);
        Ok(Response::new(JoinResponse { nodes: self.handle.directory.entries(), not_leader: None, node }))
    }

    async fn describe(&self, request: Request<RangeDescriptor>) -> Result<Response<DescribeResponse>, Status> {
        let recorded = self.handle.record_range(request.into_inner()).await?;
        Ok(Response::new(DescribeResponse { not_leader: recorded.err() }))
    }

    async fn catalog(&self, _: Request<CatalogRequest>) -> Result<Response<CatalogResponse>, Status> {
        Ok(Response::new(self.handle.directory.catalog()))
    }

    async fn members(&self, request: Request<MembersRequest>) -> Result<Response<MembersResponse>, Status> {
        let range = request.into_inner().range;
        let (ranges, _) = self.handle.ask(|reply| Input::Status { reply }).await?;
        match ranges.into_iter().find(|r| r.range == range) {
            Some(info) if info.is_leader => Ok(Response::new(MembersResponse { members: info.members, not_leader: None })),
            Some(info) => Ok(Response::new(MembersResponse { members: Vec::new(), not_leader: Some(self.handle.not_leader(info.leader)) })),
            None => Ok(Response::new(MembersResponse { members: Vec::new(), not_leader: Some(self.handle.not_leader(None)) })),
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
