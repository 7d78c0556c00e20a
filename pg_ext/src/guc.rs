//! Lyra's settings (`lyra.*`), registered in `_PG_init`.
//!
//! | setting | default | meaning |
//! |---|---|---|
//! | `lyra.log_level` | `warn` | the node's log filter (`error`, `warn`, `info`, `debug`, `trace`, or a `tracing` env-filter directive); read when the node starts |

use std::ffi::CString;

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};

pub static LOG_LEVEL: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"warn"));

pub static ENABLE_LYRASCAN: GucSetting<bool> = GucSetting::<bool>::new(true);

pub fn register() {
    GucRegistry::define_bool_guc(
        c"lyra.enable_lyrascan",
        c"Reads Lyra tables through their indexes with the LyraScan custom scan.",
        c"Off: Postgres's own index scans over the same indexes.",
        &ENABLE_LYRASCAN,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"lyra.log_level",
        c"Log filter of the Lyra node (error, warn, info, debug, trace).",
        c"Output goes to the server log. Takes effect when the node starts.",
        &LOG_LEVEL,
        GucContext::Sighup,
        GucFlags::default(),
    );
}

pub fn log_level() -> String {
    LOG_LEVEL.get().and_then(|s| s.into_string().ok()).unwrap_or_else(|| "warn".into())
}

pub fn enable_lyrascan() -> bool {
    ENABLE_LYRASCAN.get()
}
