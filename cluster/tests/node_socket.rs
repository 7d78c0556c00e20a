//! The node and its blocking client, end to end over a real Unix socket.

mod common;

use std::time::{Duration, Instant};

use common::{config, connect, lock, no_wait, row, start_node};
use lyra_cluster::protocol::{Commit, ErrorCode, LockRow, Op, Scan, WaitPolicy};
use lyra_cluster::{ClientError, NodeClient};
use lyra_engine::keys::{Key, KeyPrefix, RowId};

fn commit(ops: Vec<Op>) -> Commit {
    Commit { ops, ..Default::default() }
}

fn get(client: &mut NodeClient, key: Vec<u8>) -> Option<Vec<u8>> {
    client.get(key, None, &mut no_wait()).unwrap().value
}

fn rows_scan(max_rows: u32, max_bytes: u32) -> Scan {
    let (start, end) = KeyPrefix::Rows { table: 1 }.range();
    Scan { start, end, max_rows, max_bytes, read_ts: None, reverse: false, rows_of_table: None, filter: Vec::new(), columns: Vec::new(), only_keys: Vec::new() }
}

#[test]
fn commit_is_durable_across_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (node, socket) = start_node(dir.path());
    let mut client = connect(&socket);
    client.stage(vec![Op::put(row(1), vec![7; 2 << 20])], &mut no_wait()).unwrap();
    client.commit(commit(vec![Op::put(row(2), b"2".to_vec())]), &mut no_wait()).unwrap();
    drop(client);
    node.shutdown();

    let (node, socket) = start_node(dir.path());
    let mut client = connect(&socket);
    assert_eq!(get(&mut client, row(1)), Some(vec![7; 2 << 20]));
    let page = client.scan(rows_scan(10, 8 << 20), &mut no_wait()).unwrap();
    assert!(!page.more);
    assert_eq!(page.pairs.iter().map(|p| p.key.to_vec()).collect::<Vec<_>>(), vec![row(1), row(2)]);
    node.shutdown();
}

#[test]
fn writes_staged_by_a_dropped_connection_are_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (node, socket) = start_node(dir.path());
    let mut client = connect(&socket);
    client.stage(vec![Op::put(row(1), b"1".to_vec())], &mut no_wait()).unwrap();
    drop(client);
    let mut other = connect(&socket);
    other.commit(commit(vec![]), &mut no_wait()).unwrap();
    assert_eq!(get(&mut other, row(1)), None);
    node.shutdown();
}

#[test]
fn a_stopped_node_is_a_clear_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let (node, socket) = start_node(dir.path());
    let mut client = connect(&socket);
    get(&mut client, row(1));
    node.shutdown();
    let started = Instant::now();
    let err = client.get(row(1), None, &mut no_wait()).unwrap_err();
    assert!(matches!(err, ClientError::Disconnected(_)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let err = NodeClient::connect(&config(dir.path()).socket).err().expect("nobody listens");
    assert!(matches!(err, ClientError::Unreachable { .. }), "{err}");
}

#[test]
fn a_pipelined_response_waits_for_its_owner() {
    let dir = tempfile::tempdir().unwrap();
    let (node, socket) = start_node(dir.path());
    let mut client = connect(&socket);
    // A page large enough that the node blocks writing it until it is read.
    let ops = (0..64u8).map(|i| Op::put(row(i.into()), vec![i; 64 << 10])).collect();
    client.commit(commit(ops), &mut no_wait()).unwrap();
    let scan = || rows_scan(1000, 64 << 20);
    let prefetch = client.send(lyra_cluster::protocol::request::Kind::Scan(scan()), &mut no_wait()).unwrap();
    // Another request in between: the prefetched page is parked, not lost.
    let big = Key::Row { table: 2, row: RowId(0) }.encode();
    client.commit(commit(vec![Op::put(big.clone(), vec![1; 8 << 20])]), &mut no_wait()).unwrap();
    assert_eq!(get(&mut client, big).map(|v| v.len()), Some(8 << 20));
    let page = client.receive_scan(prefetch, &mut no_wait()).unwrap();
    assert_eq!((page.pairs.len(), page.more), (64, false));
    assert!(page.pairs.iter().enumerate().all(|(i, p)| p.value[0] == i as u8));
    // A forgotten response is dropped when it arrives; the stream stays in step.
    let forgotten = client.send(lyra_cluster::protocol::request::Kind::Scan(scan()), &mut no_wait()).unwrap();
    client.forget(forgotten);
    assert_eq!(get(&mut client, row(5)).map(|v| v[0]), Some(5));
    assert!(client.receive(forgotten, &mut no_wait()).is_err());
    node.shutdown();
}

#[test]
fn a_lock_wait_ends_when_the_holder_commits() {
    let dir = tempfile::tempdir().unwrap();
    let (node, socket) = start_node(dir.path());
    let mut holder = connect(&socket);
    holder.commit(commit(vec![Op::put(row(1), b"v1".to_vec())]), &mut no_wait()).unwrap();
    let held = holder.lock_row(lock(row(1), 0), &mut no_wait()).unwrap().unwrap();
    let waiter = std::thread::spawn(move || {
        let mut waiter = connect(&socket);
        let started = Instant::now();
        let locked = waiter.lock_row(lock(row(1), 0), &mut no_wait()).unwrap().unwrap();
        (locked, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));
    let ops = vec![Op::put(row(1), b"v2".to_vec()).seen_at(held.lock_ts)];
    holder.commit(commit(ops), &mut no_wait()).unwrap();
    let (locked, waited) = waiter.join().unwrap();
    assert!(waited >= Duration::from_millis(250), "waited only {waited:?}");
    assert_eq!(locked.value, Some(b"v2".to_vec()), "the waiter sees the holder's commit");
    node.shutdown();
}

#[test]
fn a_quiet_end_of_transaction_releases_locks_without_an_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (node, socket) = start_node(dir.path());
    let mut a = connect(&socket);
    a.commit(commit(vec![Op::put(row(1), b"v1".to_vec())]), &mut no_wait()).unwrap();
    a.lock_row(lock(row(1), 0), &mut no_wait()).unwrap().expect("granted");
    let end = lyra_cluster::protocol::EndTxn { quiet: true };
    a.send_quiet(lyra_cluster::protocol::request::Kind::EndTxn(end), &mut no_wait()).unwrap();
    // The connection's next request gets its own answer; the node serves a
    // connection's requests in order, so the quiet EndTxn is done by then ...
    assert_eq!(get(&mut a, row(1)), Some(b"v1".to_vec()));
    // ... and its lock is gone: another connection gets it at once. (Asked
    // before that answer, the lock may still be held: the quiet EndTxn can
    // still be on its way, and a no-wait request would race it.)
    let mut b = connect(&socket);
    let granted = b.lock_row(LockRow { wait: WaitPolicy::NoWait as i32, ..lock(row(1), 0) }, &mut no_wait()).unwrap();
    assert!(granted.is_ok(), "the quiet EndTxn released the lock: {granted:?}");
    node.shutdown();
}

#[test]
fn a_backend_that_hangs_up_releases_its_locks_and_its_wait() {
    let dir = tempfile::tempdir().unwrap();
    let (node, socket) = start_node(dir.path());
    let mut a = connect(&socket);
    a.lock_row(lock(row(1), 0), &mut no_wait()).unwrap().expect("granted");
    let b_socket = socket.clone();
    std::thread::spawn(move || {
        let mut b = connect(&b_socket);
        b.lock_row(lock(row(2), 0), &mut no_wait()).unwrap().expect("granted");
        // b waits for row 1; a cancel unwinds out of the wait (as a
        // Postgres ERROR does) and the connection is dropped.
        let mut polls = 0;
        let cancelled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            b.lock_row(lock(row(1), 0), &mut || {
                polls += 1;
                if polls == 3 {
                    panic!("query cancelled");
                }
            })
        }));
        assert!(cancelled.is_err());
    })
    .join()
    .unwrap();
    let no_wait_lock = |key| LockRow { wait: WaitPolicy::NoWait as i32, ..lock(key, 0) };
    let started = Instant::now();
    while let Err(holders) = a.lock_row(no_wait_lock(row(2)), &mut no_wait()).unwrap() {
        assert_eq!(holders, vec![7], "the holder is named by its tag");
        assert!(started.elapsed() < Duration::from_secs(2), "b's lock outlived its connection");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A wait with a timeout gives up with LockTimeout.
    let mut c = connect(&socket);
    let started = Instant::now();
    let err = c.lock_row(lock(row(1), 200), &mut no_wait()).unwrap_err();
    assert!(matches!(err, ClientError::Node { code: ErrorCode::LockTimeout, .. }), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(200));
    node.shutdown();
}
