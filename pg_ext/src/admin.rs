//! Schema `lyra`'s admin functions (DESIGN §6): what this node knows of
//! its cluster, and moving leases. Declared in `sql/lyra_am.sql` (their
//! SQL types are spelled there), answered by the node (`NodeAdmin` in the
//! cluster crate).
//!
//! | function | who | returns |
//! |---|---|---|
//! | `lyra.nodes()` | anyone | node id, gRPC address (empty: a node alone), whether it is this node |
//! | `lyra.ranges()` | anyone | this node's replicas: range id, span, voters, leader, lease here, term, applied and commit index |
//! | `lyra.transfer_lease(range, node)` | superuser or `lyra_admin` | returns once this node sees `node` lead the range |

use pgrx::prelude::*;

use crate::error::raise;
use crate::node_link::with_node;

type NodeRow = (i64, String, bool);

#[pg_extern(sql = false)]
fn lyra_nodes() -> TableIterator<'static, (name!(node_id, i64), name!(address, String), name!(is_local, bool))> {
    let info = with_node(|client, w| client.cluster_status(w));
    let rows: Vec<NodeRow> =
        info.nodes.into_iter().map(|n| (n.node_id as i64, n.address, n.node_id == info.node_id)).collect();
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
        name!(term, i64),
        name!(applied_index, i64),
        name!(commit_index, i64),
    ),
> {
    let info = with_node(|client, w| client.cluster_status(w));
    let rows: Vec<_> = info
        .ranges
        .into_iter()
        .map(|r| {
            (
                r.range as i64,
                r.start,
                Some(r.end).filter(|end| !end.is_empty()),
                r.voters.into_iter().map(|v| v as i64).collect(),
                Some(r.leader as i64).filter(|&leader| leader != 0),
                r.lease_here,
                r.term as i64,
                r.applied as i64,
                r.commit as i64,
            )
        })
        .collect();
    TableIterator::new(rows)
}

#[pg_extern(sql = false)]
fn lyra_transfer_lease(range_id: i64, node_id: i64) {
    require_admin("lyra.transfer_lease");
    if range_id <= 0 || node_id <= 0 {
        raise(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, "range and node ids are positive");
    }
    with_node(|client, w| client.transfer_lease(range_id as u64, node_id as u64, w));
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
