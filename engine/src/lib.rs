//! Lyra's engine: everything below the cluster that can be reasoned about
//! without a network or a Postgres backend.
//!
//! A Lyra table lives as key-value pairs in a byte-ordered store. This
//! crate owns the three things that give those bytes their meaning, and
//! the store itself:
//!
//! * [`storage`] — the [`storage::Engine`] trait: a tiny, ordered byte
//!   key-value store with atomic write batches, implemented by
//!   [`storage::Memory`] (tests, simulation) and [`storage::RocksDb`]
//!   (real nodes). One conformance suite runs against both.
//! * [`keys`] — the keyspaces of DESIGN §3 as typed enums ([`keys::Key`],
//!   [`keys::KeyPrefix`]) with an order-preserving encoding, so a range
//!   scan over bytes is a range scan over rows.
//! * [`row`] — the row codec: schema version, null bitmap, then each
//!   column's bytes. Values are opaque here; `pg_ext` fills them with
//!   Postgres datums, and the engine never needs to know what a Datum is.
//! * [`catalog`] — cluster-wide ids kept in the store itself: table ids and
//!   per-table row ids, never Postgres OIDs.
//! * [`hlc`] — hybrid logical clocks: [`hlc::Timestamp`] and [`hlc::Hlc`].
//! * [`mvcc`] — versions at HLC timestamps over any engine, and
//!   Percolator transactions split into per-key actions and request-level
//!   commands ([`mvcc::Mvcc`], [`mvcc::Transaction`]).
//!
//! ```text
//!   pg_ext ──► cluster ──► engine ─┬─ keys, row      (pure codecs)
//!                                  ├─ hlc            (time, injected clock)
//!                                  ├─ mvcc           (versions, txns over any Engine)
//!                                  ├─ catalog        (ids over any Engine)
//!                                  └─ storage        (Memory | RocksDb)
//! ```
//!
//! The crate links no Postgres and no network code, and is tested with
//! plain `cargo test`.
//!
//! Not here yet: index keys, SERIALIZABLE read refresh, reverse scans,
//! pessimistic locks; the catalog and the node still write raw keys, not
//! through [`mvcc`] (see each module's "Not done yet").

pub mod catalog;
mod encoding;
pub mod error;
pub mod hlc;
pub mod keys;
pub mod mvcc;
pub mod row;
pub mod row_filter;
pub mod storage;

pub use error::{Error, Result, TxnError, TxnResult};
