//! Read validation for SERIALIZABLE: the keys written by recent commits.
//!
//! A serializable transaction reads at its snapshot `read_ts` and commits
//! at a later `commit_ts`. It may commit only if nothing it read changed in
//! between — then its reads are as valid at `commit_ts` as at `read_ts`,
//! every read-write transaction behaves as if it ran atomically at its
//! commit timestamp, and the history is serializable in commit order
//! (CockroachDB's read refresh; a read-only transaction is serializable at
//! its snapshot). Write skew fails here: each of the two transactions read
//! what the other wrote.
//!
//! The range remembers, in memory, the sorted keys of each commit after a
//! *horizon*. Validating spans read at `read_ts` looks only at commits
//! after `read_ts`, binary-searching each span in each. A `read_ts` at or
//! below the horizon (the log was trimmed, or the node restarted after the
//! read) cannot be decided here: the caller falls back to walking the
//! stored versions ([`super::Mvcc::refresh`]), slower but exact.

use std::collections::VecDeque;

use crate::hlc::Timestamp;

/// The keys of the commits after a horizon.
#[derive(Debug)]
pub struct RecentWrites {
    commits: VecDeque<(Timestamp, Vec<Vec<u8>>)>,
    horizon: Timestamp,
    keys: usize,
    max_keys: usize,
}

impl RecentWrites {
    /// An empty log: nothing committed after `horizon` yet. It keeps about
    /// `max_keys` keys, dropping the oldest commits beyond that.
    pub fn new(horizon: Timestamp, max_keys: usize) -> RecentWrites {
        RecentWrites { commits: VecDeque::new(), horizon, keys: 0, max_keys }
    }

    /// Records a commit at `commit_ts` (newer than every one recorded) of
    /// `keys`, sorted.
    pub fn record(&mut self, commit_ts: Timestamp, keys: Vec<Vec<u8>>) {
        debug_assert!(keys.windows(2).all(|w| w[0] <= w[1]), "keys must be sorted");
        self.keys += keys.len();
        self.commits.push_back((commit_ts, keys));
        while self.keys > self.max_keys && self.commits.len() > 1 {
            let (ts, keys) = self.commits.pop_front().expect("len checked");
            self.keys -= keys.len();
            self.horizon = ts;
        }
    }

    /// Whether a commit after `read_ts` wrote a key in one of `spans`
    /// (`[start, end)`, empty end unbounded); `None` when `read_ts` is not
    /// after the horizon, so the log cannot tell.
    pub fn conflicts(&self, read_ts: Timestamp, spans: &[(Vec<u8>, Vec<u8>)]) -> Option<bool> {
        if read_ts <= self.horizon {
            return None;
        }
        Some(
            self.commits
                .iter()
                .rev()
                .take_while(|(ts, _)| *ts > read_ts)
                .any(|(_, keys)| spans.iter().any(|(start, end)| touches(keys, start, end))),
        )
    }
}

/// Whether sorted `keys` has one in `[start, end)`.
fn touches(keys: &[Vec<u8>], start: &[u8], end: &[u8]) -> bool {
    let first = keys.partition_point(|k| k.as_slice() < start);
    keys.get(first).is_some_and(|k| end.is_empty() || k.as_slice() < end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(wall: u64) -> Timestamp {
        Timestamp::from_wall(wall)
    }

    fn span(a: &[u8], b: &[u8]) -> (Vec<u8>, Vec<u8>) {
        (a.to_vec(), b.to_vec())
    }

    #[test]
    fn only_commits_after_the_read_in_the_spans_conflict() {
        let mut log = RecentWrites::new(ts(1), 100);
        log.record(ts(10), vec![b"b".to_vec(), b"m".to_vec()]);
        log.record(ts(20), vec![b"x".to_vec()]);
        assert_eq!(Some(true), log.conflicts(ts(5), &[span(b"a", b"c")]));
        assert_eq!(Some(false), log.conflicts(ts(10), &[span(b"a", b"c")]));
        assert_eq!(Some(false), log.conflicts(ts(5), &[span(b"c", b"m")]));
        assert_eq!(Some(true), log.conflicts(ts(5), &[span(b"c", b"m\0")]));
        assert_eq!(Some(true), log.conflicts(ts(15), &[span(b"c", b"")]));
        assert_eq!(Some(false), log.conflicts(ts(20), &[span(b"", b"")]));
    }

    #[test]
    fn reads_older_than_the_horizon_are_undecided() {
        let mut log = RecentWrites::new(ts(1), 2);
        log.record(ts(10), vec![b"a".to_vec()]);
        log.record(ts(20), vec![b"b".to_vec()]);
        log.record(ts(30), vec![b"c".to_vec()]);
        assert_eq!(None, log.conflicts(ts(1), &[]));
        assert_eq!(None, log.conflicts(ts(5), &[span(b"z", b"")]), "the commit at 10 was trimmed");
        assert_eq!(Some(false), log.conflicts(ts(15), &[span(b"z", b"")]));
        assert_eq!(Some(false), log.conflicts(ts(25), &[span(b"z", b"")]));
    }
}
