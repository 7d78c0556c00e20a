//! `lyra`, the Postgres extension: tables `USING lyra` stored in the Lyra
//! engine instead of heap files.
//!
//! This crate is a translator (DESIGN §6, STYLE 5): Postgres calls the
//! table access method, the transaction callbacks and the planner hooks; each
//! callback turns Postgres values into engine keys and rows and back, and
//! the node (the `lyra node` background worker, [`worker`]) does the storage.
//!
//! ```text
//!  executor ──► tam (table AM callbacks) ──► txn (write buffer, savepoints, row locks)
//!     │ snapshot (Postgres snapshot → read timestamp)
//!                  │        │                      │  commit at PRE_COMMIT
//!                  │     datum (slot ⇄ row bytes)  ▼
//!                  └──► table (relfilenode → table id, row ids) ──► node_link ──► node
//! ```
//!
//! Rules kept here: only the backend's main thread touches `pg_sys`; no
//! tokio and no threads in backends (the blocking client is in
//! `lyra-cluster`); every `extern "C"` callback is `#[pg_guard]`.

use pgrx::prelude::*;

mod admin;
mod cost;
mod database;
mod datum;
mod error;
mod guc;
mod hooks;
mod index;
mod lyrascan;
mod node_link;
mod pushdown;
mod slot;
mod snapshot;
mod table;
mod tam;
mod txn;
mod worker;

pgrx::pg_module_magic!();

extension_sql_file!("../../sql/lyra_am.sql", name = "lyra_am", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    guc::register();
    // SAFETY: a flag Postgres sets while loading shared_preload_libraries.
    if unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        worker::register();
    }
    hooks::install();
    lyrascan::register();
    txn::register_callbacks();
}

#[cfg(any(test, feature = "pg_test"))]
mod tests;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec!["shared_preload_libraries = 'lyra'"]
    }
}
