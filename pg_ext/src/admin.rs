//! Schema `lyra`'s admin functions (DESIGN §6): what this node knows of
//! its cluster, moving leases, and what a backend asked its node. Declared in `sql/lyra_am.sql` (their
//! SQL types are spelled there), answered by the node (`NodeAdmin` in the
//! cluster crate).
//!
//! | function | who | returns |
//! |---|---|---|
//! | `lyra.nodes()` | anyone | node id, gRPC address (empty: a node alone), whether it is this node |
//! | `lyra.ranges()` | anyone | every range of the cluster: id, span, voters, leader, lease here, and for a replica on this node its term, applied and commit index and size in bytes (the others from range 1's descriptors) |
//! | `lyra.transfer_lease(range, node)` | superuser or `lyra_admin` | returns once this node sees `node` lead the range |
//! | `lyra.add_replica(range, node)`, `lyra.remove_replica(range, node)` | superuser or `lyra_admin` | return once the range's leader applied the change (a leader being removed hands leadership over first) |
//! | `lyra.split_range(range, key)`, `lyra.split_range(key)` | superuser or `lyra_admin` | the new range's id, once the split applied here (the second finds the range holding the key) |
//! | `lyra.add_node(address)` | superuser or `lyra_admin` | the new node's id: the node waiting at `address` (`lyra.join = 'wait'`) joined through this node's cluster |
//! | `lyra.decommission_node(node)` | superuser or `lyra_admin` | returns once recorded; the node's replicas then move to other nodes |
//! | `lyra.node_requests()` | anyone | the requests this backend has sent to its node since it started (each a round trip) |

use pgrx::prelude::*;

use crate::error::raise;
use crate::node_link::with_node;

type NodeRow = (i64, String, bool, bool);

/// The requests this backend has sent to its node since it started, each
/// a round trip (pipelined or not): read before and after a statement, what
/// it cost beyond Postgres.
#[pg_extern(sql = false)]
fn lyra_node_requests() -> i64 {
    i64::try_from(lyra_cluster::client::requests_sent()).unwrap_or(i64::MAX)
}

#[pg_extern(sql = false)]
fn lyra_nodes() -> TableIterator<
    'static,
    (name!(node_id, i64), name!(address, String), name!(is_local, bool), name!(decommissioned, bool)),
> {
    let info = with_node(|client, w| client.cluster_status(w));
    let rows: Vec<NodeRow> = info
        .nodes
        .into_iter()
        .map(|n| (n.node_id as i64, n.address, n.node_id == info.node_id, n.decommissioned))
        .collect();
    TableIterator::new(rows)
}

#[pg_extern(sql = false)]
#[allow(clippy::type_complexity)]
fn lyra_ranges() -> TableIterator<
    'static,
    (
        name!(range_id, i64),
        name!(start_key, Vec<u8>),
        name!(end_key, Option<Vec<u8>>),
        name!(voters, Vec<i64>),
        name!(leader, Option<i64>),
        name!(lease_here, bool),
        name!(term, Option<i64>),
        name!(applied_index, Option<i64>),
        name!(commit_index, Option<i64>),
        name!(replica_here, bool),
        name!(size_bytes, Option<i64>),
    ),
> {
    let info = with_node(|client, w| client.cluster_status(w));
    let rows: Vec<_> = info
        .ranges
        .into_iter()
        .map(|r| {
            let here = |value: u64| r.replica_here.then_some(value as i64);
            (
                r.range as i64,
                r.start.clone(),
                Some(r.end.clone()).filter(|end| !end.is_empty()),
                r.voters.iter().map(|&v| v as i64).collect(),
                Some(r.leader as i64).filter(|&leader| leader != 0),
                r.lease_here,
                here(r.term),
                here(r.applied),
                here(r.commit),
                r.replica_here,
                here(r.size),
            )
        })
        .collect();
    TableIterator::new(rows)
}

#[pg_extern(sql = false)]
fn lyra_transfer_lease(range_id: i64, node_id: i64) {
    require_admin("lyra.transfer_lease");
    let (range, node) = ids(range_id, node_id);
    with_node(|client, w| client.transfer_lease(range, node, w));
}

#[pg_extern(sql = false)]
fn lyra_add_replica(range_id: i64, node_id: i64) {
    require_admin("lyra.add_replica");
    let (range, node) = ids(range_id, node_id);
    with_node(|client, w| client.change_replicas(range, vec![node], Vec::new(), w));
}

#[pg_extern(sql = false)]
fn lyra_remove_replica(range_id: i64, node_id: i64) {
    require_admin("lyra.remove_replica");
    let (range, node) = ids(range_id, node_id);
    with_node(|client, w| client.change_replicas(range, Vec::new(), vec![node], w));
}

#[pg_extern(sql = false)]
fn lyra_split_range(range_id: i64, key: &[u8]) -> i64 {
    require_admin("lyra.split_range");
    let (range, _) = ids(range_id, 1);
    with_node(|client, w| client.split_range(range, key.to_vec(), w)) as i64
}

#[pg_extern(sql = false)]
fn lyra_split_range_at(key: &[u8]) -> i64 {
    require_admin("lyra.split_range");
    // Range 0: the range holding the key.
    with_node(|client, w| client.split_range(0, key.to_vec(), w)) as i64
}

#[pg_extern(sql = false)]
fn lyra_add_node(address: &str) -> i64 {
    require_admin("lyra.add_node");
    with_node(|client, w| client.add_node(address.to_string(), w)) as i64
}

#[pg_extern(sql = false)]
fn lyra_decommission_node(node_id: i64) {
    require_admin("lyra.decommission_node");
    let (_, node) = ids(1, node_id);
    with_node(|client, w| client.decommission(node, w));
}

fn ids(range_id: i64, node_id: i64) -> (u64, u64) {
    if range_id <= 0 || node_id <= 0 {
        raise(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, "range and node ids are positive");
    }
    (range_id as u64, node_id as u64)
}

/// Refuses callers that are neither superusers nor members of `lyra_admin`.
fn require_admin(function: &str) {
    // SAFETY: plain catalog lookups on the backend's main thread, inside a
    // transaction (a function call).
    let allowed = unsafe {
        let user = pg_sys::GetUserId();
        pg_sys::superuser() || {
            let admin = pg_sys::get_role_oid(c"lyra_admin".as_ptr(), true);
            admin != pg_sys::InvalidOid && pg_sys::has_privs_of_role(user, admin)
        }
    };
    if !allowed {
        raise(
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            format!("permission denied for function {function}: superuser or lyra_admin only"),
        );
    }
}
