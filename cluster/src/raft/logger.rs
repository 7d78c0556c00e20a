//! raft-rs logs through `slog`; Lyra logs through `tracing`. This drain
//! forwards each record, with its key-value pairs as text, at a level one
//! step quieter than raft-rs's own (it reports every election at INFO, which
//! for thousands of ranges is noise).

use std::fmt::{self, Write};

use slog::{Drain, Level, Never, OwnedKVList, Record, KV};

/// The logger for one replica's raft-rs instance.
pub fn replica_logger(node: u64, range: u64) -> slog::Logger {
    slog::Logger::root(TracingDrain, slog::o!("node" => node, "range" => range))
}

struct TracingDrain;

impl Drain for TracingDrain {
    type Ok = ();
    type Err = Never;

    fn log(&self, record: &Record, values: &OwnedKVList) -> Result<(), Never> {
        let mut text = Text(String::new());
        let _ = record.kv().serialize(record, &mut text);
        let _ = values.serialize(record, &mut text);
        let message = record.msg();
        let fields = text.0;
        match record.level() {
            Level::Critical | Level::Error => tracing::error!(target: "raft", "{message}{fields}"),
            Level::Warning => tracing::warn!(target: "raft", "{message}{fields}"),
            Level::Info => tracing::debug!(target: "raft", "{message}{fields}"),
            Level::Debug | Level::Trace => tracing::trace!(target: "raft", "{message}{fields}"),
        }
        Ok(())
    }
}

struct Text(String);

impl slog::Serializer for Text {
    fn emit_arguments(&mut self, key: slog::Key, value: &fmt::Arguments) -> slog::Result {
        let _ = write!(self.0, " {key}={value}");
        Ok(())
    }
}
