//! Golden-script tests of MVCC and transactions, in the style of toyDB's
//! goldenscripts and CockroachDB's `mvcc_history`.
//!
//! Each `tests/mvcc/*.txt` file is a history: commands, one per line, each
//! followed by its recorded output (lines starting with `> `). After every
//! command that changed the store, the output ends with a dump of the raw
//! MVCC keyspace, one record per line. The runner strips the recorded
//! output, replays the commands on a fresh [`Memory`] engine and a fresh
//! [`RocksDb`] engine, requires the two to agree, and compares with the
//! file. `UPDATE_GOLDEN=1 cargo test --test mvcc_history` rewrites the
//! files instead; review the diff before accepting it.
//!
//! # Commands
//!
//! ```text
//! # comment                                 (kept as is; so are blank lines)
//! begin t=A ts=10 [ttl=N] [serializable]    client transaction A reading at 10
//! put t=A k=a v=1 | del t=A k=a             buffer a write
//! get t=A k=a | get k=a ts=15 [now=N]       read (with now=: resolve locks met)
//! scan [t=A | ts=15] [k=a] [end=z] [limit=N] [reverse]
//! commit t=A ts=20                          2PC: prewrite, (refresh,) primary, secondaries
//! prewrite t=A | commit_primary t=A ts=20 | commit_secondaries t=A ts=20
//! commit1pc t=A ts=20                       1PC fast path
//! refresh t=A ts=20                         SERIALIZABLE read refresh alone
//! rollback t=A                              roll back every key of A
//! lock t=A k=a mode=update ts=15            row lock (the node's lock table) at 15
//! commit_locked t=A ts=20                   checked 1PC: each locked key against
//!                                           its lock ts; then A's locks go
//! latest k=a                                newest committed version
//! crash t=A                                 the coordinator forgets A
//! prewrite k=b (v=2 | del | moved) primary=a start=10 [ttl=N]   one key, raw
//! commit k=b start=10 ts=20 | rollback k=b start=10     one key, raw
//! check_status primary=a start=10 now=50
//! resolve k=b now=50                        resolve the lock on b
//! gc ts=30 | dump
//! ```
//!
//! Timestamps are `wall` or `wall,logical`; keys and values are text with
//! `\xNN` escapes.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use lyra_engine::hlc::Timestamp;
use lyra_engine::mvcc::locks::{Acquire, LockMode, LockTable, Owner, Taker};
use lyra_engine::mvcc::{
    Latest, Lock, LockInfo, Mutation, Mvcc, MvccKey, Transaction, TxnStatus, Write, WriteKind,
};
use lyra_engine::storage::{Engine, KvPair, Memory, RocksDb, WriteBatch};
use lyra_engine::{TxnError, TxnResult};

/// A parsed command line: name, then `key=value` arguments or bare flags.
struct Command {
    name: String,
    args: HashMap<String, String>,
}

impl Command {
    fn parse(line: &str) -> Command {
        let mut words = line.split_whitespace();
        let name = words.next().unwrap_or_default().to_string();
        let args = words
            .map(|word| match word.split_once('=') {
                Some((key, value)) => (key.to_string(), value.to_string()),
                None => (word.to_string(), String::new()),
            })
            .collect();
        Command { name, args }
    }

    fn arg(&self, name: &str) -> &str {
        self.args
            .get(name)
            .unwrap_or_else(|| panic!("{}: missing argument {name}", self.name))
    }

    fn opt(&self, name: &str) -> Option<&str> {
        self.args.get(name).map(String::as_str)
    }

    fn bytes(&self, name: &str) -> Vec<u8> {
        unescape(self.arg(name))
    }

    fn ts(&self, name: &str) -> Timestamp {
        parse_ts(self.arg(name))
    }

    fn num(&self, name: &str) -> Option<u64> {
        self.opt(name).map(|n| n.parse().expect("a number"))
    }
}

fn parse_ts(text: &str) -> Timestamp {
    let (wall, logical) = text.split_once(',').unwrap_or((text, "0"));
    Timestamp {
        wall: wall.parse().expect("wall time"),
        logical: logical.parse().expect("logical time"),
    }
}

fn unescape(text: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut rest = text.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'\\' && tail.len() >= 3 && tail[0] == b'x' {
            let hex = std::str::from_utf8(&tail[1..3]).expect("hex escape");
            bytes.push(u8::from_str_radix(hex, 16).expect("hex escape"));
            rest = &tail[3..];
        } else {
            bytes.push(byte);
            rest = tail;
        }
    }
    bytes
}

fn show(bytes: &[u8]) -> String {
    format!("\"{}\"", bytes.escape_ascii())
}

/// Replays a history against one engine.
struct Runner<E: Engine> {
    mvcc: Mvcc<E>,
    txns: HashMap<String, Transaction>,
    /// The row lock table, owners numbered in order of `begin`.
    locks: LockTable,
    owners: Vec<String>,
    /// Per transaction, the keys it locked and at which timestamp.
    locked_at: HashMap<String, HashMap<Vec<u8>, Timestamp>>,
}

impl<E: Engine> Runner<E> {
    fn new(engine: E) -> Self {
        Runner {
            mvcc: Mvcc::new(Arc::new(engine)),
            txns: HashMap::new(),
            locks: LockTable::new(),
            owners: Vec::new(),
            locked_at: HashMap::new(),
        }
    }

    fn raw_state(&self) -> Vec<KvPair> {
        self.mvcc
            .engine()
            .scan(b"", b"", usize::MAX, usize::MAX)
            .expect("scan the raw store")
    }

    /// Runs one command; returns its output lines.
    fn run(&mut self, line: &str) -> Vec<String> {
        let command = Command::parse(line);
        let before = self.raw_state();
        let mut out = match self.execute(&command) {
            Ok(lines) => lines,
            Err(err) => vec![format!("error: {err}")],
        };
        if command.name == "dump" || self.raw_state() != before {
            out.extend(self.dump());
        }
        out
    }

    fn txn(&self, command: &Command) -> &Transaction {
        let name = command.arg("t");
        self.txns
            .get(name)
            .unwrap_or_else(|| panic!("no transaction {name}"))
    }

    fn txn_mut(&mut self, command: &Command) -> &mut Transaction {
        let name = command.arg("t");
        self.txns
            .get_mut(name)
            .unwrap_or_else(|| panic!("no transaction {name}"))
    }

    /// Transaction `name`'s writes, each with the timestamp it locked the
    /// key at (taken: the locks go with the commit), and its start.
    fn checked(&mut self, name: &str) -> (Vec<(Mutation, Option<Timestamp>)>, Timestamp) {
        let locked = self.locked_at.remove(name).unwrap_or_default();
        let txn = self.txns.get(name).unwrap_or_else(|| panic!("no transaction {name}"));
        let checked = txn
            .mutations()
            .into_iter()
            .map(|m| {
                let seen = locked.get(m.key()).copied();
                (m, seen)
            })
            .collect();
        (checked, txn.start_ts())
    }

    fn owner(&self, name: &str) -> Owner {
        let index = self.owners.iter().position(|n| n == name);
        index.unwrap_or_else(|| panic!("no transaction {name}")) as Owner
    }

    /// The newest committed version of `key`, shown.
    fn show_latest(&self, key: &[u8]) -> TxnResult<String> {
        Ok(match self.mvcc.latest(key)? {
            None => format!("{} has no version", show(key)),
            Some(Latest { commit_ts, moved: true, .. }) => format!("{}@{commit_ts} moved", show(key)),
            Some(Latest { commit_ts, value: None, .. }) => format!("{}@{commit_ts} deleted", show(key)),
            Some(Latest { commit_ts, value: Some(value), .. }) => format!("{}@{commit_ts} = {}", show(key), show(&value)),
        })
    }

    fn execute(&mut self, c: &Command) -> TxnResult<Vec<String>> {
        let ok = || Ok(vec!["ok".to_string()]);
        let raw = c.opt("t").is_none();
        match c.name.as_str() {
            "begin" => {
                let mut txn = Transaction::begin(c.ts("ts"));
                if let Some(ttl) = c.num("ttl") {
                    txn = txn.with_ttl(ttl);
                }
                if c.opt("serializable").is_some() {
                    txn = txn.serializable();
                }
                let name = c.arg("t").to_string();
                if !self.owners.contains(&name) {
                    self.owners.push(name.clone());
                }
                self.txns.insert(name, txn);
                Ok(vec![])
            }
            "put" => {
                let (key, value) = (c.bytes("k"), c.bytes("v"));
                self.txn_mut(c).put(&key, &value);
                Ok(vec![])
            }
            "del" => {
                let key = c.bytes("k");
                self.txn_mut(c).delete(&key);
                Ok(vec![])
            }
            "get" => {
                let key = c.bytes("k");
                let value = if !raw {
                    let (txn, mvcc) = (self.txns.get_mut(c.arg("t")).expect("a transaction"), &self.mvcc);
                    txn.get(mvcc, &key)?
                } else if let Some(now) = c.opt("now") {
                    self.mvcc.get_resolving(&key, c.ts("ts"), parse_ts(now))?
                } else {
                    self.mvcc.get(&key, c.ts("ts"))?
                };
                Ok(vec![match value {
                    Some(value) => format!("{} = {}", show(&key), show(&value)),
                    None => format!("{} not found", show(&key)),
                }])
            }
            "scan" => {
                let start = c.opt("k").map(unescape).unwrap_or_default();
                let end = c.opt("end").map(unescape).unwrap_or_default();
                let limit = c.num("limit").map_or(usize::MAX, |n| n as usize);
                let reverse = c.opt("reverse").is_some();
                let pairs = match (raw, reverse) {
                    (true, false) => self.mvcc.scan(&start, &end, c.ts("ts"), limit)?,
                    (true, true) => self.mvcc.scan_reverse(&start, &end, c.ts("ts"), limit)?,
                    (false, _) => {
                        let (txn, mvcc) = (self.txns.get_mut(c.arg("t")).expect("a transaction"), &self.mvcc);
                        if reverse {
                            txn.scan_reverse(mvcc, &start, &end, limit)?
                        } else {
                            txn.scan(mvcc, &start, &end, limit)?
                        }
                    }
                };
                if pairs.is_empty() {
                    return Ok(vec!["(empty)".to_string()]);
                }
                Ok(pairs
                    .iter()
                    .map(|(key, value)| format!("{} = {}", show(key), show(value)))
                    .collect())
            }
            "prewrite" if raw => {
                let key = c.bytes("k");
                let mutation = match c.opt("v") {
                    Some(value) => Mutation::Put(key, unescape(value)),
                    None if c.opt("moved").is_some() => Mutation::Moved(key),
                    None => Mutation::Delete(key),
                };
                let ttl = c
                    .num("ttl")
                    .unwrap_or(lyra_engine::mvcc::txn::DEFAULT_LOCK_TTL);
                self.mvcc
                    .prewrite(&[mutation], &c.bytes("primary"), c.ts("start"), ttl)?;
                ok()
            }
            "prewrite" => {
                self.txn(c).prewrite(&self.mvcc)?;
                ok()
            }
            "commit" if raw => {
                self.mvcc
                    .commit(&[c.bytes("k")], c.ts("start"), c.ts("ts"))?;
                ok()
            }
            "commit" => {
                self.txn(c).commit(&self.mvcc, c.ts("ts"))?;
                ok()
            }
            "commit_primary" => {
                self.txn(c).commit_primary(&self.mvcc, c.ts("ts"))?;
                ok()
            }
            "commit_secondaries" => {
                self.txn(c).commit_secondaries(&self.mvcc, c.ts("ts"))?;
                ok()
            }
            "commit1pc" => {
                self.txn(c).commit_one_phase(&self.mvcc, c.ts("ts"))?;
                ok()
            }
            "refresh" => {
                self.txn(c).refresh(&self.mvcc, c.ts("ts"))?;
                ok()
            }
            "lock" => {
                let key = c.bytes("k");
                let mode = match c.arg("mode") {
                    "key_share" => LockMode::KeyShare,
                    "share" => LockMode::Share,
                    "no_key_update" => LockMode::NoKeyUpdate,
                    "update" => LockMode::Update,
                    other => panic!("unknown lock mode {other}"),
                };
                let name = c.arg("t").to_string();
                match self.locks.acquire(self.owner(&name), &key, mode, Taker::default()) {
                    Acquire::Granted => {
                        self.locked_at.entry(name).or_default().insert(key.clone(), c.ts("ts"));
                        Ok(vec![format!("granted; latest {}", self.show_latest(&key)?)])
                    }
                    Acquire::Blocked { holders } => {
                        let names: Vec<_> = holders.iter().map(|&o| self.owners[o as usize].as_str()).collect();
                        Ok(vec![format!("blocked by {}", names.join(", "))])
                    }
                    Acquire::Deadlock => Ok(vec!["deadlock".to_string()]),
                }
            }
            "commit_locked" => {
                let name = c.arg("t").to_string();
                let (checked, start_ts) = self.checked(&name);
                let result = self.mvcc.one_phase_commit_checked(WriteBatch::new(), &checked, start_ts, c.ts("ts"));
                self.locks.release_all(self.owner(&name));
                result?;
                ok()
            }
            "commit_group" => {
                // txns=A,B,…: each as commit_locked would commit it, all
                // at ts in one group; a member writing a key an earlier one
                // writes is left out (the node puts it in the next group).
                let names: Vec<String> = c.arg("txns").split(',').map(str::to_string).collect();
                let members: Vec<_> = names.iter().map(|name| self.checked(name)).collect();
                let mut group = self.mvcc.commit_group();
                let mut out = Vec::new();
                for (name, (checked, start_ts)) in names.iter().zip(members) {
                    if group.overlaps(&checked) {
                        out.push(format!("{name}: overlaps an earlier member, left for the next group"));
                        continue;
                    }
                    match group.add(WriteBatch::new(), &checked, start_ts, c.ts("ts")) {
                        Ok(()) => out.push(format!("{name}: added")),
                        Err(e) => out.push(format!("{name}: {e}")),
                    }
                    self.locks.release_all(self.owner(name));
                }
                group.write()?;
                Ok(out)
            }
            "latest" => Ok(vec![self.show_latest(&c.bytes("k"))?]),
            "rollback" if raw => {
                self.mvcc.rollback(&[c.bytes("k")], c.ts("start"))?;
                ok()
            }
            "rollback" => {
                self.txn(c).rollback(&self.mvcc)?;
                ok()
            }
            "crash" => {
                self.txns.remove(c.arg("t"));
                Ok(vec![])
            }
            "check_status" => {
                let status =
                    self.mvcc
                        .check_txn_status(&c.bytes("primary"), c.ts("start"), c.ts("now"))?;
                Ok(vec![show_status(&status)])
            }
            "resolve" => {
                let key = c.bytes("k");
                let reader = lyra_engine::mvcc::MvccReader::new(&**self.mvcc.engine());
                let Some(lock) = reader.load_lock(&key)? else {
                    return Ok(vec![format!("no lock on {}", show(&key))]);
                };
                let status = self
                    .mvcc
                    .resolve_lock(&LockInfo::new(&key, &lock), c.ts("now"))?;
                Ok(vec![show_status(&status)])
            }
            "gc" => {
                let removed = self.mvcc.gc(c.ts("ts"))?;
                Ok(vec![format!("removed {removed} versions")])
            }
            "dump" => Ok(vec![]),
            other => panic!("unknown command {other}"),
        }
    }

    /// The raw MVCC keyspace, one record per line.
    fn dump(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for (raw, value) in self.raw_state() {
            let line = match MvccKey::decode(&raw).expect("an MVCC key") {
                MvccKey::Data { key, start_ts } => {
                    format!("data  {}@{start_ts} = {}", show(&key), show(&value))
                }
                MvccKey::Lock { key } => {
                    let lock = Lock::decode(&value).expect("a lock");
                    format!(
                        "lock  {} start={} {} primary={} ttl={}",
                        show(&key),
                        lock.start_ts,
                        kind(lock.kind),
                        show(&lock.primary),
                        lock.ttl
                    )
                }
                MvccKey::Write { key, commit_ts } => {
                    let (write, inline) = Write::decode_record(&value).expect("a write record");
                    let inline = inline.map(|v| format!(" = {}", show(v))).unwrap_or_default();
                    format!(
                        "write {}@{commit_ts} {} start={}{inline}",
                        show(&key),
                        kind(write.kind),
                        write.start_ts
                    )
                }
            };
            lines.push(format!("  {line}"));
        }
        if lines.is_empty() {
            lines.push("  (store empty)".to_string());
        }
        lines
    }
}

fn kind(kind: WriteKind) -> &'static str {
    match kind {
        WriteKind::Put => "put",
        WriteKind::Delete => "delete",
        WriteKind::Moved => "moved",
        WriteKind::Rollback => "rollback",
    }
}

fn show_status(status: &TxnStatus) -> String {
    match status {
        TxnStatus::Committed(ts) => format!("committed at {ts}"),
        TxnStatus::RolledBack => "rolled back".to_string(),
        TxnStatus::Locked(lock) => format!("locked, alive (ttl {})", lock.ttl),
    }
}

/// Replays the commands of `script` (its recorded output ignored) and
/// returns the script with fresh output.
fn replay<E: Engine>(engine: E, script: &str) -> String {
    let mut runner = Runner::new(engine);
    let mut text = String::new();
    for line in script.lines().filter(|line| !line.starts_with('>')) {
        writeln!(text, "{line}").expect("write to a string");
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        for out in runner.run(trimmed) {
            writeln!(text, "> {out}").expect("write to a string");
        }
    }
    text
}

#[test]
fn mvcc_history() {
    // The directory cargo runs the test for, not the one it was compiled
    // in: a build shared between checkouts (one target directory for CI
    // and every clone) must read this checkout's scripts.
    let root = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    let dir = Path::new(&root).join("tests/mvcc");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/mvcc")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "txt"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no scripts in {}", dir.display());
    let mut failed = Vec::new();
    for path in &paths {
        let script = std::fs::read_to_string(path).expect("read script");
        let memory = replay(Memory::new(), &script);
        let rocks_dir = tempfile::tempdir().expect("temporary directory");
        let rocks = replay(
            RocksDb::open(rocks_dir.path()).expect("open RocksDB"),
            &script,
        );
        assert_eq!(
            memory,
            rocks,
            "{}: Memory and RocksDb disagree",
            path.display()
        );
        if update {
            std::fs::write(path, &memory).expect("write script");
        } else if memory != script {
            eprintln!(
                "--- {} expected\n{script}\n--- got\n{memory}",
                path.display()
            );
            failed.push(path.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "golden mismatch (UPDATE_GOLDEN=1 to regenerate): {failed:?}"
    );
}

#[test]
fn errors_are_typed() {
    // The runner prints errors; this pins the variants scripts rely on.
    let mut runner = Runner::new(Memory::new());
    runner.run("begin t=A ts=10");
    runner.run("put t=A k=a v=1");
    runner.run("prewrite t=A");
    let err = runner.mvcc.get(b"a", parse_ts("15")).unwrap_err();
    assert!(matches!(err, TxnError::KeyLocked(LockInfo { ref primary, .. }) if primary == b"a"));
    assert!(err.is_retryable());
}
