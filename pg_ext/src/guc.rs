//! Lyra's settings (`lyra.*`), registered in `_PG_init`.
//!
//! | setting | default | meaning |
//! |---|---|---|
//! | `lyra.log_level` | `warn` | the node's log filter (`error`, `warn`, `info`, `debug`, `trace`, or a `tracing` env-filter directive); read when the node starts |
//! | `lyra.enable_lyrascan` | `on` | read Lyra tables through the LyraScan custom scan |
//! | `lyra.node_id` | `0` | this node's id in its cluster (unique per node); 0: the id its data directory keeps, else 1 for a node that starts a cluster, else one the cluster gives it when it joins |
//! | `lyra.listen_addr` | `''` | `host:port` other nodes reach this node's gRPC server at; empty: a node alone, no server |
//! | `lyra.join` | `''` | comma-separated addresses of nodes already in the cluster; empty (with a listen address): start a new cluster; `wait`: wait to be added by `lyra.add_node` on a node of a cluster |
//! | `lyra.replication_factor` | `3` | voters per range, capped by the number of nodes |
//! | `lyra.range_max_bytes` | `0` | a range larger than this splits in two; 0 never (the default until writes across ranges exist) |
//!
//! The cluster settings are read when the node starts (server start).

use std::ffi::CString;

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};

pub static LOG_LEVEL: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"warn"));

pub static ENABLE_LYRASCAN: GucSetting<bool> = GucSetting::<bool>::new(true);

pub static NODE_ID: GucSetting<i32> = GucSetting::<i32>::new(0);
pub static LISTEN_ADDR: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub static JOIN: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub static REPLICATION_FACTOR: GucSetting<i32> = GucSetting::<i32>::new(3);
/// 0 by default: a split would put one transaction's rows and index
/// entries in two ranges, and writes across ranges (two-phase commit) do
/// not exist yet.
pub static RANGE_MAX_BYTES: GucSetting<i32> = GucSetting::<i32>::new(0);

pub fn register() {
    GucRegistry::define_bool_guc(
        c"lyra.enable_lyrascan",
        c"Reads Lyra tables through their indexes with the LyraScan custom scan.",
        c"Off: Postgres's own index scans over the same indexes.",
        &ENABLE_LYRASCAN,
        GucContext::Userset,
        GucFlags::default(),
    );
    // Postgres refuses server-start settings defined after startup (a
    // library loaded without shared_preload_libraries runs no node anyway).
    // SAFETY: a flag Postgres sets while loading shared_preload_libraries.
    if unsafe { pgrx::pg_sys::process_shared_preload_libraries_in_progress } {
        register_cluster_settings();
    }
    GucRegistry::define_string_guc(
        c"lyra.log_level",
        c"Log filter of the Lyra node (error, warn, info, debug, trace).",
        c"Output goes to the server log. Takes effect when the node starts.",
        &LOG_LEVEL,
        GucContext::Sighup,
        GucFlags::default(),
    );
}

fn register_cluster_settings() {
    GucRegistry::define_int_guc(
        c"lyra.node_id",
        c"This node's id in its Lyra cluster.",
        c"Unique per node; 0: kept in the node's directory, given by the cluster when the node joins. Read when the node starts.",
        &NODE_ID,
        0,
        i32::MAX,
        GucContext::Postmaster,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"lyra.listen_addr",
        c"host:port other Lyra nodes reach this node at (gRPC).",
        c"Empty: the node is alone and runs no server.",
        &LISTEN_ADDR,
        GucContext::Postmaster,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"lyra.join",
        c"Comma-separated addresses of Lyra nodes already in the cluster.",
        c"Empty (with lyra.listen_addr set): this node starts a new cluster.",
        &JOIN,
        GucContext::Postmaster,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"lyra.replication_factor",
        c"Voters of each range, capped by the number of nodes.",
        c"Read when the node starts.",
        &REPLICATION_FACTOR,
        1,
        7,
        GucContext::Postmaster,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"lyra.range_max_bytes",
        c"A range whose data grows past this splits in two (0: never).",
        c"Read when the node starts. Transactions whose writes span two ranges fail until two-phase commit exists.",
        &RANGE_MAX_BYTES,
        0,
        i32::MAX,
        GucContext::Postmaster,
        GucFlags::UNIT_BYTE,
    );
}

fn string(setting: &GucSetting<Option<CString>>) -> String {
    setting.get().and_then(|s| s.into_string().ok()).unwrap_or_default().trim().to_string()
}

pub fn node_id() -> u64 {
    NODE_ID.get() as u64
}

/// `None`: a node alone.
pub fn listen_addr() -> Option<String> {
    Some(string(&LISTEN_ADDR)).filter(|s| !s.is_empty())
}

/// `lyra.join = 'wait'`: wait to be added with `lyra.add_node`.
pub const JOIN_WAIT: &str = "wait";

pub fn join() -> Vec<String> {
    string(&JOIN).split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

pub fn replication_factor() -> usize {
    REPLICATION_FACTOR.get() as usize
}

pub fn range_max_bytes() -> u64 {
    RANGE_MAX_BYTES.get() as u64
}

pub fn log_level() -> String {
    LOG_LEVEL.get().and_then(|s| s.into_string().ok()).unwrap_or_else(|| "warn".into())
}

pub fn enable_lyrascan() -> bool {
    ENABLE_LYRASCAN.get()
}
