//! `lyra-node`: a Lyra node without Postgres (DESIGN §2), for KV-level
//! clusters, their tests and benchmarks; and a small client of them.
//!
//! ```text
//! lyra-node serve --id N --data DIR --listen HOST:PORT --peer ID=HOST:PORT ... [--bootstrap | --bootstrap-voters 1,2,3]
//!                  [--tick-ms MS] [--compact-after ENTRIES] [--range-max-bytes BYTES]
//! lyra-node put    --cluster HOST:PORT,... KEY VALUE
//! lyra-node get    --cluster HOST:PORT,... KEY
//! lyra-node status --cluster HOST:PORT,...
//! lyra-node bench  --cluster HOST:PORT,... [--clients N] [--seconds S] [--value-bytes B] [--pairs P] [--reads 1]
//! ```
//!
//! `serve` runs until SIGTERM or SIGINT. `--peer` lists every node of the
//! cluster, this one included (and nodes that may join later);
//! `--bootstrap` on each first member creates range 1 with all peers as
//! voters, `--bootstrap-voters` with those only. A node started with
//! neither waits to be added (`Admin.ChangeMembers`) and gets a snapshot.
//! Logs: `LYRA_LOG` (e.g. `info`).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use lyra_cluster::raft::kv::{KvClient, KvError};
use lyra_cluster::raft::server::{RaftNode, RaftNodeConfig};
use lyra_cluster::raft::RaftConfig;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

struct Args {
    words: Vec<String>,
    options: BTreeMap<String, Vec<String>>,
    flags: Vec<String>,
}

/// `--name value` options (repeatable), `--flag`s, and the other words.
fn parse(args: impl Iterator<Item = String>) -> Args {
    const FLAGS: [&str; 1] = ["--bootstrap"];
    let mut parsed = Args { words: Vec::new(), options: BTreeMap::new(), flags: Vec::new() };
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        if FLAGS.contains(&arg.as_str()) {
            parsed.flags.push(arg);
        } else if let Some(name) = arg.strip_prefix("--") {
            let value = args.next().unwrap_or_default();
            parsed.options.entry(name.to_string()).or_default().push(value);
        } else {
            parsed.words.push(arg);
        }
    }
    parsed
}

impl Args {
    fn one(&self, name: &str) -> Result<&str, String> {
        self.options.get(name).and_then(|v| v.last()).map(String::as_str).ok_or(format!("--{name} is required"))
    }

    fn number(&self, name: &str, default: u64) -> Result<u64, String> {
        match self.options.get(name).and_then(|v| v.last()) {
            Some(v) => v.parse().map_err(|_| format!("--{name}: not a number: {v}")),
            None => Ok(default),
        }
    }

    fn cluster(&self) -> Result<Vec<String>, String> {
        Ok(self.one("cluster")?.split(',').map(str::to_string).collect())
    }
}

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LYRA_LOG").unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    // Die quietly when a reader closes the pipe (`lyra-node status | head`),
    // as Unix tools do, instead of panicking on the next print.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = parse(std::env::args().skip(1));
    let result = match args.words.first().map(String::as_str) {
        Some("serve") => serve(&args),
        Some(command @ ("put" | "get" | "status" | "bench")) => client(command, &args),
        _ => Err("usage: lyra-node serve|put|get|status|bench ... (see the source's header)".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lyra-node: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: &Args) -> Result<(), String> {
    let node: u64 = args.one("id")?.parse().map_err(|_| "--id: not a number")?;
    let mut peers = BTreeMap::new();
    for peer in args.options.get("peer").into_iter().flatten() {
        let (id, addr) = peer.split_once('=').ok_or(format!("--peer {peer}: expected ID=HOST:PORT"))?;
        peers.insert(id.parse::<u64>().map_err(|_| format!("--peer {peer}: bad id"))?, addr.to_string());
    }
    if !peers.contains_key(&node) {
        return Err(format!("--peer must list this node ({node}) too"));
    }
    let bootstrap: Vec<u64> = match (args.flags.iter().any(|f| f == "--bootstrap"), args.options.get("bootstrap-voters")) {
        (_, Some(voters)) => voters
            .iter()
            .flat_map(|v| v.split(','))
            .map(|id| id.parse::<u64>().map_err(|_| format!("--bootstrap-voters: bad id {id}")))
            .collect::<Result<_, _>>()?,
        (true, None) => peers.keys().copied().collect(),
        (false, None) => Vec::new(),
    };
    let config = RaftNodeConfig {
        node,
        dir: args.one("data")?.into(),
        listen: Some(args.one("listen")?.parse().map_err(|e| format!("--listen: {e}"))?),
        peers,
        bootstrap,
        tick: Duration::from_millis(args.number("tick-ms", 100)?),
        raft: RaftConfig {
            compact_after: args.number("compact-after", RaftConfig::default().compact_after)?,
            range_max_bytes: args.number("range-max-bytes", RaftConfig::default().range_max_bytes)?,
            ..RaftConfig::default()
        },
        threads: 2,
        join: None,
        replication_factor: 0,
        wait_to_be_added: false,
    };
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
    }
    let running = RaftNode::start(config)?;
    while !STOP.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
    }
    running.shutdown();
    Ok(())
}

fn client(command: &str, args: &Args) -> Result<(), String> {
    let cluster = args.cluster()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let mut client = KvClient::new(cluster.clone());
        match command {
            "put" => {
                let [_, key, value] = &args.words[..] else { return Err("usage: put KEY VALUE".to_string()) };
                let index = client.put(vec![(key.clone().into_bytes(), value.clone().into_bytes())]).await.map_err(|e| e.to_string())?;
                println!("applied at index {index}");
            }
            "get" => {
                let [_, key] = &args.words[..] else { return Err("usage: get KEY".to_string()) };
                match client.get(key.as_bytes()).await.map_err(|e| e.to_string())? {
                    Some(value) => println!("{}", String::from_utf8_lossy(&value)),
                    None => println!("(not found)"),
                }
            }
            "status" => {
                for addr in &cluster {
                    match client.status(addr).await {
                        Ok(status) => {
                            for r in status.ranges {
                                println!(
                                    "node {} ({addr}) range {}: {} term {} leader {} commit {} applied {} voters {:?}",
                                    status.node_id,
                                    r.range,
                                    if r.is_leader { "leader" } else { "follower" },
                                    r.term,
                                    r.leader_id,
                                    r.commit,
                                    r.applied,
                                    r.voters
                                );
                            }
                        }
                        Err(e) => println!("{addr}: unreachable ({e})"),
                    }
                }
            }
            _ => bench(args, cluster).await?,
        }
        Ok(())
    })
}

/// Closed-loop writers: each client puts, waits for the answer, puts again.
async fn bench(args: &Args, cluster: Vec<String>) -> Result<(), String> {
    let clients = args.number("clients", 8)?;
    let seconds = args.number("seconds", 10)?;
    let value_bytes = args.number("value-bytes", 100)? as usize;
    let pairs = args.number("pairs", 1)?.max(1);
    let reads = args.number("reads", 0)? == 1;
    let before = node_stats(&cluster).await;
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let cluster = cluster.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = KvClient::new(cluster);
            let (mut latencies, mut errors, mut across) = (Vec::new(), 0u64, 0u64);
            let mut n = 0u64;
            while Instant::now() < until {
                let batch = (0..pairs)
                    .map(|p| (format!("bench-{c}-{n}-{p}").into_bytes(), vec![b'x'; value_bytes]))
                    .collect();
                n += 1;
                let started = Instant::now();
                if reads {
                    // Linearizable reads of keys the writes above made.
                    match client.get(format!("bench-{c}-{}-0", n % 1000).as_bytes()).await {
                        Ok(_) => latencies.push(started.elapsed()),
                        Err(_) => errors += 1,
                    }
                    continue;
                }
                match client.put(batch).await {
                    Ok(_) => latencies.push(started.elapsed()),
                    // A batch whose keys a split put in two ranges.
                    Err(KvError::Refused(why)) if why.contains("more than one range") => across += 1,
                    Err(_) => errors += 1,
                }
            }
            (latencies, errors, across)
        }));
    }
    let (mut latencies, mut errors, mut across) = (Vec::new(), 0, 0);
    for task in tasks {
        let (l, e, a) = task.await.map_err(|e| e.to_string())?;
        latencies.extend(l);
        errors += e;
        across += a;
    }
    latencies.sort();
    let at = |q: f64| latencies.get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1))).copied().unwrap_or_default();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "ops/s {:.0} rows/s {:.0} p50_ms {:.3} p99_ms {:.3} errors {errors} across_ranges {across}",
        latencies.len() as f64 / seconds as f64,
        (latencies.len() as u64 * pairs) as f64 / seconds as f64,
        ms(at(0.50)),
        ms(at(0.99))
    );
    // Where the nodes' Raft loops spent the run.
    let after = node_stats(&cluster).await;
    for (addr, (b, a)) in cluster.iter().zip(before.iter().zip(&after)) {
        let (Some(b), Some(a)) = (b, a) else { continue };
        let per = |micros: u64, n: u64| if n == 0 { 0.0 } else { micros as f64 / n as f64 };
        let synced = a.synced_writes - b.synced_writes;
        let applied = a.commands_applied - b.commands_applied;
        println!(
            "  {addr}: {synced} fsynced writes ({:.0} us each, {:.1} commands applied per fsync, {:.0}% of the run), {} unsynced ({:.0} us each), {} rounds, {} messages, {} lease reads, {} ReadIndex reads",
            per(a.synced_micros - b.synced_micros, synced),
            if synced == 0 { 0.0 } else { applied as f64 / synced as f64 },
            (a.synced_micros - b.synced_micros) as f64 / (seconds as f64 * 1e4),
            a.unsynced_writes - b.unsynced_writes,
            per(a.unsynced_micros - b.unsynced_micros, a.unsynced_writes - b.unsynced_writes),
            a.rounds - b.rounds,
            a.messages_sent - b.messages_sent,
            a.lease_reads - b.lease_reads,
            a.read_index_reads - b.read_index_reads,
        );
    }
    Ok(())
}

async fn node_stats(cluster: &[String]) -> Vec<Option<lyra_cluster::raft::peer_proto::StatusResponse>> {
    let mut client = KvClient::new(cluster.to_vec());
    let mut stats = Vec::new();
    for addr in cluster {
        stats.push(client.status(addr).await.ok());
    }
    stats
}
