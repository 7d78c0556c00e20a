//! A lock wait must sleep, not spin: measured as this process's CPU time,
//! so this test has a binary (a process) of its own.

mod common;

use std::time::{Duration, Instant};

use common::{connect, lock, no_wait, row, start_node};

/// CPU time this process has used (the node runs in it).
fn process_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[test]
fn a_lock_wait_sleeps_until_the_lock_is_released() {
    // The node once spun through a wait: the readiness left over from
    // reading the request made every `readable()` return at once.
    let dir = tempfile::tempdir().unwrap();
    let (node, socket) = start_node(dir.path());
    let mut holder = connect(&socket);
    holder.lock_row(lock(row(1), 0), &mut no_wait()).unwrap().expect("granted");
    let waiter = std::thread::spawn(move || {
        let mut waiter = connect(&socket);
        waiter.lock_row(lock(row(1), 0), &mut no_wait()).unwrap().expect("granted after the holder ends");
    });
    std::thread::sleep(Duration::from_millis(100));
    let (cpu, wall) = (process_cpu(), Instant::now());
    std::thread::sleep(Duration::from_millis(600));
    let (used, waited) = (process_cpu() - cpu, wall.elapsed());
    // Retries every 100 ms cost microseconds; a spinning wait costs a core
    // (and may starve the holder's own requests: checked before them).
    assert!(used < waited / 4, "the wait used {used:?} of CPU in {waited:?}");
    holder.end_txn(&mut no_wait()).unwrap();
    waiter.join().unwrap();
    node.shutdown();
}

