//! A Lyra table as the engine sees it: its cluster-wide table id and its
//! row ids.
//!
//! Postgres names a table's storage by its relfilenode, which is local to
//! this server and changes on TRUNCATE and table rewrites. The engine names
//! it by a table id from the cluster catalog (DESIGN §3). The link is a
//! catalog entry `RelfileMapping{node, spc, db, rel} → table id`, written in
//! the creating transaction's buffer — so it commits or vanishes with the
//! CREATE TABLE, and a TRUNCATE (new relfilenode → new, empty table id)
//! rolled back leaves the old data in place, exactly like heap's new files.
//!
//! An index's mapping also says how its keys are encoded ([`Mapping`]):
//! indexes made from extension 0.9.0 on key text under an ICU collation
//! by the collation's sort key; older ones by the text's bytes, which
//! they keep until rebuilt.
//!
//! When a relfilenode is dropped or replaced at commit, its table's rows and
//! row-id counter are range-deleted in the same commit.
//!
//! Row ids come from the node in blocks (first 64, doubling to 16384 per
//! request), cached per backend, so inserts need no round trip per row.
//! Ids are never reused; a rolled-back insert leaves a gap.

use std::cell::RefCell;
use std::collections::HashMap;

use lyra_engine::keys::{decode_u64_value, encode_u64_value, Key, KeyPrefix, RowId, TableId};
use pgrx::pg_sys;
use crate::error::{raise, raise_detail};
use pgrx::prelude::*;

use crate::{node_link, txn};

/// This server's node id (single node for now).
pub const NODE_ID: u64 = 1;

const FIRST_ROW_BLOCK: u64 = 64;
const MAX_ROW_BLOCK: u64 = 16384;

/// What the relcache keeps for a Lyra table (`rd_amcache`).
#[repr(C)]
struct CachedTableId {
    node: pg_sys::RelFileNode,
    mapping: Mapping,
}

/// What a relfilenode's mapping holds: the engine table (or index) id
/// and, for an index, how its keys are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Mapping {
    pub table: TableId,
    pub format: KeyFormat,
}

/// How an engine index encodes its keys (stored after the id; a table's
/// mapping and an index made before extension 0.9.0 have none: `Bytes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum KeyFormat {
    /// Text by its bytes, whatever its collation.
    Bytes = 0,
    /// Text under an ICU collation by the collation's sort key (then its
    /// bytes, under a deterministic one): entries in the collation's
    /// order, equal under a nondeterministic one exactly when the strings
    /// are (`index::entry::Collated`).
    Collated = 1,
}

impl Mapping {
    fn encode(self) -> Vec<u8> {
        let mut bytes = encode_u64_value(self.table);
        if self.format != KeyFormat::Bytes {
            bytes.push(self.format as u8);
        }
        bytes
    }

    fn decode(bytes: &[u8]) -> Mapping {
        let (id, format) = match bytes.len() {
            9 => (&bytes[..8], bytes[8]),
            _ => (bytes, KeyFormat::Bytes as u8),
        };
        let format = match format {
            0 => KeyFormat::Bytes,
            1 => KeyFormat::Collated,
            other => raise(
                PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
                format!("lyra table mapping: unknown key format {other} (made by a newer lyra?)"),
            ),
        };
        match decode_u64_value(id) {
            Ok(table) => Mapping { table, format },
            Err(e) => raise(PgSqlErrorCode::ERRCODE_DATA_CORRUPTED, format!("lyra table mapping: {e}")),
        }
    }
}

struct RowIdBlock {
    next: u64,
    end: u64,
    size: u64,
}

thread_local! {
    static ROW_IDS: RefCell<HashMap<TableId, RowIdBlock>> = RefCell::new(HashMap::new());
}

fn mapping_key(node: &pg_sys::RelFileNode) -> Vec<u8> {
    Key::RelfileMapping { node: NODE_ID, spc: node.spcNode.to_u32(), db: node.dbNode.to_u32(), rel: node.relNode.to_u32() }
        .encode()
}

/// The table id stored under `rel`'s current relfilenode.
pub fn table_id(rel: pg_sys::Relation) -> TableId {
    mapping_of(rel).table
}

/// How the index `rel` encodes its keys.
pub fn key_format(rel: pg_sys::Relation) -> KeyFormat {
    mapping_of(rel).format
}

/// The mapping of `rel`'s current relfilenode, kept in its relcache entry.
pub fn mapping_of(rel: pg_sys::Relation) -> Mapping {
    // SAFETY: `rel` is an open relation; rd_amcache is ours for table AMs and
    // is freed by the relcache when the entry is rebuilt or destroyed.
    unsafe {
        let node = (*rel).rd_node;
        let cached = (*rel).rd_amcache as *const CachedTableId;
        if !cached.is_null() && same_node(&(*cached).node, &node) {
            return (*cached).mapping;
        }
        let mapping = match lookup_mapping(&node) {
            Some(mapping) => mapping,
            None => raise_detail(PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
                format!("lyra table \"{}\" has no storage mapping", relation_name(rel)),
                format!("relfilenode {}/{}/{} is unknown to the lyra node", node.spcNode.to_u32(), node.dbNode.to_u32(), node.relNode.to_u32())
            ),
        };
        let entry = pg_sys::MemoryContextAlloc(pg_sys::CacheMemoryContext, std::mem::size_of::<CachedTableId>())
            as *mut CachedTableId;
        entry.write(CachedTableId { node, mapping });
        if !(*rel).rd_amcache.is_null() {
            pg_sys::pfree((*rel).rd_amcache);
        }
        (*rel).rd_amcache = entry.cast();
        mapping
    }
}

/// The table id mapped to `node`, if any (this transaction's writes first).
pub fn lookup(node: &pg_sys::RelFileNode) -> Option<TableId> {
    lookup_mapping(node).map(|m| m.table)
}

/// The mapping of `node`, if any (this transaction's writes first).
pub fn lookup_mapping(node: &pg_sys::RelFileNode) -> Option<Mapping> {
    let key = mapping_key(node);
    let bytes = match txn::lookup(&key, txn::SEE_ALL) {
        Some(buffered) => buffered,
        None => node_link::with_node(|c, w| c.get(key, None, w)).value,
    }?;
    Some(Mapping::decode(&bytes))
}

/// Rewrites the mapping of `rel`'s relfilenode and forgets what its
/// relcache entry kept: what tests use to make an index as an older
/// version of Lyra made it.
#[cfg(any(test, feature = "pg_test"))]
pub fn rewrite_mapping(rel: pg_sys::Relation, mapping: Mapping) {
    // SAFETY: `rel` is an open relation; rd_amcache is ours (see `mapping_of`).
    unsafe {
        txn::put(mapping_key(&(*rel).rd_node), mapping.encode(), current_cid());
        if !(*rel).rd_amcache.is_null() {
            pg_sys::pfree((*rel).rd_amcache);
            (*rel).rd_amcache = std::ptr::null_mut();
        }
    }
}

/// Gives `node` a fresh, empty table (or index, its keys encoded as `format` says).
pub fn create(node: &pg_sys::RelFileNode, format: KeyFormat) -> TableId {
    let table = node_link::with_node(|c, w| c.allocate_table_id(w));
    txn::put(mapping_key(node), Mapping { table, format }.encode(), current_cid());
    table
}

/// Points `to` at what `from` names, and forgets `from` (ALTER TABLE SET
/// TABLESPACE moves no data).
pub fn remap(from: &pg_sys::RelFileNode, to: &pg_sys::RelFileNode, mapping: Mapping) {
    let cid = current_cid();
    txn::put(mapping_key(to), mapping.encode(), cid);
    txn::delete(mapping_key(from), cid);
}

/// Drops the table behind `node` at commit: its rows, its row-id counter
/// and the mapping. Does nothing for a relfilenode that has no table.
pub fn drop(node: &pg_sys::RelFileNode) {
    let Some(table) = lookup(node) else { return };
    let cid = current_cid();
    let (start, end) = KeyPrefix::Table { table }.range();
    txn::delete_range(start, end, cid);
    txn::delete(Key::NextRowId { table }.encode(), cid);
    txn::delete(mapping_key(node), cid);
    ROW_IDS.with(|r| r.borrow_mut().remove(&table));
}

/// The storage mappings of database `db` on this server, read now,
/// outside the current transaction: (relfilenode, table or index id).
pub fn mappings_in_database(db: pg_sys::Oid) -> Vec<(pg_sys::RelFileNode, Mapping)> {
    let (mut from, end) = KeyPrefix::RelfileMappings { node: NODE_ID }.range();
    let mut found = Vec::new();
    loop {
        let scan = lyra_cluster::protocol::Scan { start: from, end: end.clone(), max_rows: 1024, ..Default::default() };
        let page = node_link::with_node(|c, w| c.scan(scan, w));
        for pair in &page.pairs {
            let Ok(Key::RelfileMapping { spc, db: in_db, rel, .. }) = Key::decode(&pair.key) else { continue };
            if in_db != db.to_u32() {
                continue;
            }
            let node = pg_sys::RelFileNode { spcNode: spc.into(), dbNode: db, relNode: rel.into() };
            found.push((node, Mapping::decode(&pair.value)));
        }
        match page.pairs.last() {
            Some(last) if page.more => {
                from = last.key.to_vec();
                from.push(0);
            }
            _ => return found,
        }
    }
}

/// Commits `ops` on the node at once, as a transaction of their own (not
/// the current one's): for what a statement that cannot be rolled back
/// (DROP DATABASE) leaves to clean up.
pub fn commit_now(ops: Vec<lyra_cluster::protocol::Op>) {
    if ops.is_empty() {
        return;
    }
    let commit = lyra_cluster::protocol::Commit { ops, ..Default::default() };
    node_link::with_node(|c, w| c.commit(commit, w));
}

/// What removes the storage of `table` (behind relfilenode `node`): its
/// rows and entries, its row-id counter, the mapping.
pub fn drop_ops(node: &pg_sys::RelFileNode, table: TableId) -> Vec<lyra_cluster::protocol::Op> {
    use lyra_cluster::protocol::Op;
    let (start, end) = KeyPrefix::Table { table }.range();
    vec![Op::delete_range(start, end), Op::delete(Key::NextRowId { table }.encode()), Op::delete(mapping_key(node))]
}

/// What points relfilenode `to` at `table` instead of `from`.
pub fn remap_ops(from: &pg_sys::RelFileNode, to: &pg_sys::RelFileNode, mapping: Mapping) -> Vec<lyra_cluster::protocol::Op> {
    use lyra_cluster::protocol::Op;
    vec![Op::put(mapping_key(to), mapping.encode()), Op::delete(mapping_key(from))]
}

/// Forgets the mapping of `node` at commit (a dropped index's; its entries
/// are range-deleted by the caller).
pub fn forget_mapping(node: &pg_sys::RelFileNode) {
    txn::delete(mapping_key(node), current_cid());
}

/// Hides every row of `table` from now on and removes them at commit.
pub fn delete_all_rows(table: TableId) {
    let (start, end) = KeyPrefix::Rows { table }.range();
    txn::delete_range(start, end, current_cid());
}

/// The next row id for a new row of `table`.
pub fn next_row_id(table: TableId) -> RowId {
    ROW_IDS.with(|r| {
        let mut blocks = r.borrow_mut();
        let block = blocks.entry(table).or_insert(RowIdBlock { next: 0, end: 0, size: FIRST_ROW_BLOCK / 2 });
        if block.next == block.end {
            let size = (block.size * 2).min(MAX_ROW_BLOCK);
            let first = node_link::with_node(|c, w| c.allocate_row_ids(table, size, w));
            *block = RowIdBlock { next: first, end: first + size, size };
        }
        let id = block.next;
        block.next += 1;
        RowId(id)
    })
}

/// One past the highest row id ever handed out for `table`.
pub fn row_id_high_water(table: TableId) -> u64 {
    node_link::with_node(|c, w| c.row_id_high_water(table, w))
}

/// How long a backend plans with a high-water mark it asked for.
const ESTIMATE_TTL: std::time::Duration = std::time::Duration::from_secs(1);

thread_local! {
    /// High-water marks for planning, per table: (mark, when asked).
    static ESTIMATED: RefCell<HashMap<TableId, (u64, std::time::Instant)>> = RefCell::new(HashMap::new());
}

/// [`row_id_high_water`] for the planner's size estimates: asked of the
/// node at most once a second per table and backend, so planning a query
/// costs no round trip (heap's estimate is an `lseek`). Row ids this
/// backend allocated since count at once.
pub fn row_id_high_water_estimate(table: TableId) -> u64 {
    let now = std::time::Instant::now();
    let cached = ESTIMATED.with(|e| e.borrow().get(&table).copied());
    let mark = match cached {
        Some((mark, asked)) if now.duration_since(asked) < ESTIMATE_TTL => mark,
        _ => {
            let mark = row_id_high_water(table);
            ESTIMATED.with(|e| e.borrow_mut().insert(table, (mark, now)));
            mark
        }
    };
    let local = ROW_IDS.with(|r| r.borrow().get(&table).map_or(0, |block| block.next));
    mark.max(local)
}

/// Reserves row ids of `table` below `high_water`, so that rows copied in
/// with those ids never collide with new ones.
pub fn reserve_row_ids_below(table: TableId, high_water: u64) {
    let current = row_id_high_water(table);
    if high_water > current {
        node_link::with_node(|c, w| c.allocate_row_ids(table, high_water - current, w));
    }
    ROW_IDS.with(|r| r.borrow_mut().remove(&table));
}

pub fn row_key(table: TableId, row: RowId) -> Vec<u8> {
    Key::Row { table, row }.encode()
}

pub fn current_cid() -> pg_sys::CommandId {
    // SAFETY: plain read of the current transaction's command counter.
    unsafe { pg_sys::GetCurrentCommandId(true) }
}

/// Whether two relfilenodes are the same storage.
pub fn same_node(a: &pg_sys::RelFileNode, b: &pg_sys::RelFileNode) -> bool {
    a.spcNode == b.spcNode && a.dbNode == b.dbNode && a.relNode == b.relNode
}

pub fn relation_name(rel: pg_sys::Relation) -> String {
    // SAFETY: rd_rel of an open relation is valid; relname is a NameData.
    unsafe {
        let name = &(*(*rel).rd_rel).relname;
        std::ffi::CStr::from_ptr(name.data.as_ptr()).to_string_lossy().into_owned()
    }
}
