//! Real multi-process clusters: three `lyra-node serve` processes on
//! 127.0.0.1, killed with SIGKILL and restarted, while a client writes.
//! Each test checks that every acknowledged write is readable afterwards,
//! through every node (a linearizable read on a restarted node waits until
//! it has caught up, by log or by snapshot).

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lyra_cluster::raft::kv::{KvClient, KvError};
use lyra_cluster::raft::peer_proto::kv_client::KvClient as GrpcKv;
use lyra_cluster::raft::peer_proto::{KvPair, PutRequest};

struct Cluster {
    dir: tempfile::TempDir,
    addrs: Vec<String>,
    nodes: BTreeMap<u64, Child>,
    compact_after: u64,
    /// The nodes that create range 1; the others wait to be added.
    voters: Vec<u64>,
    range_max_bytes: u64,
}

/// A free port on 127.0.0.1 (the kernel's choice, far above 5450).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Cluster {
    fn start(size: u64, compact_after: u64) -> Cluster {
        Cluster::start_with(size, 0, compact_after, 64 << 20)
    }

    /// `size` voters, plus `spares` more nodes started empty (known to
    /// every node's `--peer` list, not members of anything yet).
    fn start_with(size: u64, spares: u64, compact_after: u64, range_max_bytes: u64) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let addrs = (0..size + spares).map(|_| format!("127.0.0.1:{}", free_port())).collect();
        let voters = (1..=size).collect();
        let mut cluster = Cluster { dir, addrs, nodes: BTreeMap::new(), compact_after, voters, range_max_bytes };
        for id in 1..=size + spares {
            cluster.start_node(id);
        }
        cluster
    }

    fn addr(&self, id: u64) -> String {
        self.addrs[id as usize - 1].clone()
    }

    fn data(&self, id: u64) -> PathBuf {
        self.dir.path().join(format!("n{id}"))
    }

    fn start_node(&mut self, id: u64) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_lyra-node"));
        command.args(["serve", "--id", &id.to_string(), "--listen", &self.addrs[id as usize - 1]]);
        if self.voters.contains(&id) {
            let voters: Vec<String> = self.voters.iter().map(u64::to_string).collect();
            command.args(["--bootstrap-voters", &voters.join(",")]);
        }
        command.args(["--tick-ms", "20", "--compact-after", &self.compact_after.to_string()]);
        command.args(["--range-max-bytes", &self.range_max_bytes.to_string()]);
        command.arg("--data").arg(self.data(id));
        for (i, addr) in self.addrs.iter().enumerate() {
            command.args(["--peer", &format!("{}={addr}", i + 1)]);
        }
        let log = std::fs::File::create(self.dir.path().join(format!("n{id}.log"))).unwrap();
        let child = command.stdout(Stdio::null()).stderr(log).spawn().expect("start lyra-node");
        self.nodes.insert(id, child);
    }

    fn kill(&mut self, id: u64) {
        let mut child = self.nodes.remove(&id).expect("running");
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }

    fn client(&self) -> KvClient {
        KvClient::new(self.addrs.clone())
    }

    /// The node that leads range 1, as the nodes report it.
    async fn leader(&self) -> u64 {
        let mut client = self.client();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            for addr in &self.addrs {
                if let Ok(status) = client.status(addr).await {
                    if status.ranges.iter().any(|r| r.is_leader) {
                        return status.node_id;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no leader within 20 s; logs in {}", self.dir.path().display());
    }

    fn logs(&self) -> String {
        let mut text = String::new();
        for id in 1..=self.addrs.len() {
            let path = self.dir.path().join(format!("n{id}.log"));
            text += &format!("--- node {id}:\n{}\n", std::fs::read_to_string(&path).unwrap_or_default());
        }
        text
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.nodes.values_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Writes `key{n}` = `v{n}` for n in `range`; the acknowledged ones.
async fn write(client: &mut KvClient, range: std::ops::Range<u64>, acked: &mut BTreeMap<String, String>) {
    for n in range {
        let (key, value) = (format!("key{n}"), format!("v{n}"));
        match client.put(vec![(key.clone().into_bytes(), value.clone().into_bytes())]).await {
            Ok(_) => {
                acked.insert(key, value);
            }
            Err(KvError::Unknown(_)) => {} // may or may not have applied
            Err(e) => panic!("write of {key} failed: {e}"),
        }
    }
}

/// Every acknowledged write, read through each node in turn.
async fn check_all(cluster: &Cluster, acked: &BTreeMap<String, String>) {
    let mut client = cluster.client();
    for addr in &cluster.addrs {
        for (key, value) in acked {
            let mut answer = client.get_from(addr, key.as_bytes()).await;
            let started = Instant::now();
            while answer.is_err() && started.elapsed() < Duration::from_secs(20) {
                tokio::time::sleep(Duration::from_millis(100)).await;
                answer = client.get_from(addr, key.as_bytes()).await;
            }
            let got = answer.unwrap_or_else(|e| panic!("{addr}: read of {key}: {e}\n{}", cluster.logs()));
            assert_eq!(got.as_deref(), Some(value.as_bytes()), "{addr}: {key}\n{}", cluster.logs());
        }
    }
}

/// One cluster at a time: three nodes on a 2-core machine with 20 ms
/// ticks already compete with the test for the cores; six clusters at once
/// would turn timing into elections.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs a test's body alone (see [`ONE_AT_A_TIME`]) on its own runtime.
fn run<F: std::future::Future<Output = ()>>(body: F) {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap().block_on(body);
}

#[test]
fn killing_the_leader_loses_no_acknowledged_write() {
    run(async {
        let mut cluster = Cluster::start(3, 10_000);
        let mut client = cluster.client();
        let mut acked = BTreeMap::new();
        write(&mut client, 0..100, &mut acked).await;
        let leader = cluster.leader().await;
        cluster.kill(leader);
        let started = Instant::now();
        write(&mut client, 100..101, &mut acked).await;
        let failover = started.elapsed();
        write(&mut client, 101..200, &mut acked).await;
        assert!(acked.len() >= 199, "only {} writes acknowledged", acked.len());
        assert!(failover < Duration::from_secs(10), "the first write after the kill took {failover:?}");
        assert_ne!(cluster.leader().await, leader);
        cluster.start_node(leader);
        check_all(&cluster, &acked).await;
    });
}

#[test]
fn a_follower_down_past_the_truncated_log_catches_up_by_snapshot() {
    run(async {
        let mut cluster = Cluster::start(3, 50);
        let mut client = cluster.client();
        let mut acked = BTreeMap::new();
        write(&mut client, 0..50, &mut acked).await;
        let leader = cluster.leader().await;
        let follower = (1..=3).find(|&id| id != leader).unwrap();
        cluster.kill(follower);
        write(&mut client, 50..300, &mut acked).await;
        cluster.start_node(follower);
        check_all(&cluster, &acked).await;
        let status = client.status(&cluster.addrs[follower as usize - 1]).await.unwrap();
        assert_eq!(status.ranges[0].snapshots_applied, 1, "the follower caught up by snapshot: {status:?}");
    });
}

#[test]
fn a_rolling_restart_under_writes_loses_nothing() {
    run(async {
        let mut cluster = Cluster::start(3, 100);
        let mut client = cluster.client();
        let mut acked = BTreeMap::new();
        let mut next = 0;
        for id in 1..=3 {
            write(&mut client, next..next + 60, &mut acked).await;
            next += 60;
            cluster.kill(id);
            write(&mut client, next..next + 60, &mut acked).await;
            next += 60;
            cluster.start_node(id);
        }
        write(&mut client, next..next + 30, &mut acked).await;
        assert!(acked.len() as u64 >= next + 30 - 3, "only {} of {} writes acknowledged", acked.len(), next + 30);
        check_all(&cluster, &acked).await;
    });
}

#[test]
fn a_partitioned_leader_steps_down_and_the_majority_goes_on() {
    run(async {
        let cluster = Cluster::start(3, 10_000);
        let mut client = cluster.client();
        let mut acked = BTreeMap::new();
        write(&mut client, 0..50, &mut acked).await;
        let leader = cluster.leader().await;
        let others: Vec<u64> = (1..=3).filter(|&id| id != leader).collect();
        client.isolate(&cluster.addr(leader), others.clone()).await.unwrap();
        for &id in &others {
            client.isolate(&cluster.addr(id), vec![leader]).await.unwrap();
        }
        // The majority elects a new leader and takes writes ...
        let mut majority = KvClient::new(others.iter().map(|&id| cluster.addr(id)).collect());
        write(&mut majority, 50..150, &mut acked).await;
        assert!(acked.len() >= 148, "only {} writes acknowledged", acked.len());
        // ... while the cut-off leader acknowledges nothing: it redirects
        // (to the leader the catalog names) or fails, never applies.
        let mut cut_off = GrpcKv::connect(format!("http://{}", cluster.addr(leader))).await.unwrap();
        let pair = KvPair { key: b"lost".to_vec(), value: b"x".to_vec() };
        let lost = cut_off.put(PutRequest { pairs: vec![pair] }).await;
        assert!(
            lost.as_ref().map_or(true, |answer| answer.get_ref().not_leader.is_some()),
            "the cut-off leader acknowledged a write: {lost:?}"
        );
        for id in 1..=3 {
            client.isolate(&cluster.addr(id), vec![]).await.unwrap();
        }
        check_all(&cluster, &acked).await;
    });
}

#[test]
fn members_are_added_and_removed_under_writes() {
    run(async {
        let mut cluster = Cluster::start_with(3, 1, 50, 64 << 20);
        let mut client = cluster.client();
        let mut acked = BTreeMap::new();
        write(&mut client, 0..50, &mut acked).await;
        // Writes go on while the configuration changes.
        let addrs = cluster.addrs.clone();
        let writer = tokio::spawn(async move {
            let mut client = KvClient::new(addrs);
            let mut acked = BTreeMap::new();
            write(&mut client, 50..400, &mut acked).await;
            acked
        });
        let voters = client.change_members(1, vec![4], vec![]).await.unwrap();
        assert_eq!(voters, vec![1, 2, 3, 4]);
        // Take node 1 out; its leadership goes first if it has it.
        if cluster.leader().await == 1 {
            client.transfer_leader(&cluster.addr(1), 1, 2).await.unwrap();
            let started = Instant::now();
            while cluster.leader().await == 1 && started.elapsed() < Duration::from_secs(10) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let voters = client.change_members(1, vec![], vec![1]).await.unwrap();
        assert_eq!(voters, vec![2, 3, 4]);
        acked.extend(writer.await.unwrap());
        assert!(acked.len() >= 390, "only {} writes acknowledged", acked.len());
        // Node 1 deleted its replica; the others hold everything.
        let started = Instant::now();
        loop {
            let status = client.status(&cluster.addr(1)).await.unwrap();
            if status.ranges.is_empty() {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "node 1 still holds {status:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        cluster.kill(1);
        cluster.addrs.remove(0); // check_all reads through the members
        check_all(&cluster, &acked).await;
    });
}

#[test]
fn ranges_split_under_writes_and_every_node_agrees() {
    run(async {
        let cluster = Cluster::start_with(3, 0, 10_000, 16 << 10);
        let mut client = cluster.client();
        let mut acked = BTreeMap::new();
        for n in 0..600u64 {
            let (key, value) = (format!("key{n:04}"), format!("{n:0>100}"));
            match client.put(vec![(key.clone().into_bytes(), value.clone().into_bytes())]).await {
                Ok(_) => {
                    acked.insert(key, value);
                }
                Err(KvError::Unknown(_)) => {}
                Err(e) => panic!("write of {key} failed: {e}"),
            }
        }
        assert!(acked.len() >= 595, "only {} writes acknowledged", acked.len());
        // Every node holds the same ranges, each with all three voters.
        let started = Instant::now();
        let ranges = loop {
            let mut seen = Vec::new();
            for addr in &cluster.addrs {
                let status = client.status(addr).await.unwrap();
                let mut ranges: Vec<(u64, Vec<u64>)> = status.ranges.iter().map(|r| (r.range, r.voters.clone())).collect();
                ranges.sort();
                seen.push(ranges);
            }
            if seen.windows(2).all(|w| w[0] == w[1]) || started.elapsed() > Duration::from_secs(10) {
                assert!(seen.windows(2).all(|w| w[0] == w[1]), "nodes disagree on their ranges: {seen:?}");
                break seen.remove(0);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(ranges.len() >= 3, "600 rows of 100 bytes in 16 KiB ranges made only {} ranges", ranges.len());
        assert!(ranges.iter().all(|(_, voters)| voters == &vec![1, 2, 3]), "{ranges:?}");
        check_all(&cluster, &acked).await;
    });
}

/// Node 4 holds no replica: from the catalog of range descriptors it
/// fetched, it points writes at the range's leader and sends reads on to
/// the range's members. A voter cut off while it is removed never hears
/// of its removal from the group; once it can talk again, the catalog and
/// the leader tell it, and it deletes its replica.
#[test]
fn any_node_routes_by_the_catalog_and_a_replica_removed_behind_its_back_is_deleted() {
    run(async {
        let cluster = Cluster::start_with(3, 1, 10_000, 64 << 20);
        let mut client = cluster.client();
        let mut acked = BTreeMap::new();
        write(&mut client, 0..20, &mut acked).await;
        let leader = cluster.leader().await;
        let node4 = cluster.addr(4);
        let started = Instant::now();
        while client.get_from(&node4, b"key0").await != Ok(Some(b"v0".to_vec())) {
            assert!(started.elapsed() < Duration::from_secs(10), "node 4 does not forward reads\n{}", cluster.logs());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut grpc = GrpcKv::connect(format!("http://{node4}")).await.unwrap();
        let pair = KvPair { key: b"key-x".to_vec(), value: b"x".to_vec() };
        let answer = grpc.put(PutRequest { pairs: vec![pair] }).await.unwrap().into_inner();
        let redirect = answer.not_leader.expect("node 4 leads nothing");
        assert_eq!((redirect.leader_id, redirect.leader_addr), (leader, cluster.addr(leader)));

        let zombie = (1..=3).find(|&id| id != leader).unwrap();
        let others: Vec<u64> = (1..=4).filter(|&id| id != zombie).collect();
        client.isolate(&cluster.addr(zombie), others).await.unwrap();
        let voters = client.change_members(1, vec![4], vec![zombie]).await.unwrap();
        assert!(!voters.contains(&zombie) && voters.contains(&4), "{voters:?}");
        write(&mut client, 20..40, &mut acked).await;
        assert!(!client.status(&cluster.addr(zombie)).await.unwrap().ranges.is_empty(), "cut off: still holds its replica");
        client.isolate(&cluster.addr(zombie), vec![]).await.unwrap();
        let started = Instant::now();
        while !client.status(&cluster.addr(zombie)).await.unwrap().ranges.is_empty() {
            assert!(started.elapsed() < Duration::from_secs(15), "the zombie replica stays\n{}", cluster.logs());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Every node serves every acknowledged write: the members from
        // their replicas, node {zombie} by sending reads on.
        check_all(&cluster, &acked).await;
    });
}
