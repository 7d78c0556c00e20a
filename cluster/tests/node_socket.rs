//! The node and its blocking client, end to end over a real Unix socket.

use std::time::{Duration, Instant};

use lyra_cluster::protocol::{Op, Scan};
use lyra_cluster::{ClientError, NodeClient, NodeConfig, NodeHandle};

fn config(dir: &std::path::Path) -> NodeConfig {
    NodeConfig { dir: dir.join("lyra"), socket: dir.join("lyra/node.sock"), node_id: 1, worker_threads: 2 }
}

fn no_wait() -> impl FnMut() {
    || {}
}

#[test]
fn commit_is_durable_across_restart() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeHandle::start(config(dir.path())).unwrap();
    let mut client = NodeClient::connect(&config(dir.path()).socket).unwrap();
    client.stage(vec![Op::put(b"a".to_vec(), vec![7; 2 << 20])], &mut no_wait()).unwrap();
    client.commit(vec![Op::put(b"b".to_vec(), b"2".to_vec())], &mut no_wait()).unwrap();
    drop(client);
    node.shutdown();

    let node = NodeHandle::start(config(dir.path())).unwrap();
    let mut client = NodeClient::connect(&config(dir.path()).socket).unwrap();
    assert_eq!(client.get(b"a".to_vec(), &mut no_wait()).unwrap(), Some(vec![7; 2 << 20]));
    let (pairs, more) = client
        .scan(Scan { start: b"a".to_vec(), end: b"c".to_vec(), max_rows: 10, max_bytes: 8 << 20 }, &mut no_wait())
        .unwrap();
    assert!(!more);
    assert_eq!(pairs.iter().map(|p| &p.key[..]).collect::<Vec<_>>(), vec![&b"a"[..], &b"b"[..]]);
    node.shutdown();
}

#[test]
fn writes_staged_by_a_dropped_connection_are_lost() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeHandle::start(config(dir.path())).unwrap();
    let mut client = NodeClient::connect(&config(dir.path()).socket).unwrap();
    client.stage(vec![Op::put(b"a".to_vec(), b"1".to_vec())], &mut no_wait()).unwrap();
    drop(client);
    let mut other = NodeClient::connect(&config(dir.path()).socket).unwrap();
    other.commit(vec![], &mut no_wait()).unwrap();
    assert_eq!(other.get(b"a".to_vec(), &mut no_wait()).unwrap(), None);
    node.shutdown();
}

#[test]
fn a_stopped_node_is_a_clear_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeHandle::start(config(dir.path())).unwrap();
    let mut client = NodeClient::connect(&config(dir.path()).socket).unwrap();
    client.get(b"x".to_vec(), &mut no_wait()).unwrap();
    node.shutdown();
    let started = Instant::now();
    let err = client.get(b"x".to_vec(), &mut no_wait()).unwrap_err();
    assert!(matches!(err, ClientError::Disconnected(_)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let err = NodeClient::connect(&config(dir.path()).socket).err().expect("nobody listens");
    assert!(matches!(err, ClientError::Unreachable { .. }), "{err}");
}

#[test]
fn a_pipelined_response_waits_for_its_owner() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeHandle::start(config(dir.path())).unwrap();
    let mut client = NodeClient::connect(&config(dir.path()).socket).unwrap();
    // A page large enough that the node blocks writing it until it is read.
    let ops = (0..64u8).map(|i| Op::put(vec![b'k', i], vec![i; 64 << 10])).collect();
    client.commit(ops, &mut no_wait()).unwrap();
    let scan = || Scan { start: b"k".to_vec(), end: b"l".to_vec(), max_rows: 1000, max_bytes: 64 << 20 };
    let prefetch = client.send(lyra_cluster::protocol::request::Kind::Scan(scan()), &mut no_wait()).unwrap();
    // Another request in between: the prefetched page is parked, not lost.
    client.commit(vec![Op::put(b"z".to_vec(), vec![1; 8 << 20])], &mut no_wait()).unwrap();
    assert_eq!(client.get(b"z".to_vec(), &mut no_wait()).unwrap().map(|v| v.len()), Some(8 << 20));
    let (pairs, more) = client.receive_scan(prefetch, &mut no_wait()).unwrap();
    assert_eq!((pairs.len(), more), (64, false));
    assert!(pairs.iter().enumerate().all(|(i, p)| p.value[0] == i as u8));
    // A forgotten response is dropped when it arrives; the stream stays in step.
    let forgotten = client.send(lyra_cluster::protocol::request::Kind::Scan(scan()), &mut no_wait()).unwrap();
    client.forget(forgotten);
    assert_eq!(client.get(b"k\x05".to_vec(), &mut no_wait()).unwrap().map(|v| v[0]), Some(5));
    assert!(client.receive(forgotten, &mut no_wait()).is_err());
    node.shutdown();
}
