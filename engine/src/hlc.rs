//! Hybrid logical clocks (DESIGN §4): the timestamps every MVCC version and
//! every transaction carries.
//!
//! A [`Timestamp`] is `(wall, logical)`: `wall` is microseconds since the
//! Unix epoch as read from a physical clock, `logical` a counter that
//! orders events which happen within one tick of it. Timestamps compare
//! as that tuple and print as `wall,logical` (CockroachDB's notation).
//!
//! An [`Hlc`] hands out timestamps that never go backwards, whatever its
//! physical clock does, and that stay close to physical time:
//!
//! ```text
//!   now():           last = max(last.next(), (physical, 0))
//!   update(remote):  refuse if remote.wall > physical + max_offset
//!                    last = max(last.next(), remote.next(), (physical, 0))
//!
//!   physical  100  100  100   90 (clock stepped back)   130
//!   now()    100,0 100,1 100,2 100,3                    130,0
//!   update(120,5) at physical 100 (max_offset 50) → 120,6
//! ```
//!
//! Invariants, each kept by a test:
//!
//! * Every timestamp an `Hlc` returns is strictly greater than every
//!   timestamp it returned before, and than any remote timestamp it
//!   accepted — under arbitrary jumps of the physical clock.
//! * `update` refuses (with [`TxnError::ClockOffset`]) a remote timestamp
//!   whose wall time is more than `max_offset` ahead of the local physical
//!   clock, and then leaves the clock untouched: one node with a runaway
//!   clock must not drag the cluster's clocks into the future.
//! * [`Timestamp::encode`] is 12 bytes (wall u64 BE, logical u32 BE), and
//!   byte order equals timestamp order, so timestamps can sit inside keys.
//!
//! The physical clock is injected (a boxed `Fn() -> u64`), so tests control
//! time; [`Hlc::system`] reads the real clock.
//!
//! # Not done yet
//!
//! Persisting an upper bound of handed-out wall time across restarts (a
//! node whose clock steps back while it is down could reissue timestamps;
//! CockroachDB persists such a bound), and the cluster-level check that
//! refuses to serve when a node's clock is off from its peers by more than
//! `lyra.max_clock_offset` — that is the cluster's job, fed by `update`.

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::encoding::Reader;
use crate::error::{Result, TxnError, TxnResult};

/// A hybrid logical timestamp: physical microseconds plus a logical counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    /// Microseconds since the Unix epoch.
    pub wall: u64,
    /// Orders events within one `wall` tick.
    pub logical: u32,
}

impl Timestamp {
    /// The smallest timestamp.
    pub const ZERO: Timestamp = Timestamp {
        wall: 0,
        logical: 0,
    };
    /// The largest timestamp.
    pub const MAX: Timestamp = Timestamp {
        wall: u64::MAX,
        logical: u32::MAX,
    };
    /// The length of [`Timestamp::encode`]'s output.
    pub const ENCODED_LEN: usize = 12;

    /// A timestamp at `wall` microseconds, logical 0.
    pub const fn from_wall(wall: u64) -> Timestamp {
        Timestamp { wall, logical: 0 }
    }

    /// The smallest timestamp greater than `self` (saturating at
    /// [`Timestamp::MAX`]). A full logical counter carries into `wall`.
    pub fn next(self) -> Timestamp {
        match self.logical.checked_add(1) {
            Some(logical) => Timestamp { logical, ..self },
            None if self.wall == u64::MAX => self,
            None => Timestamp::from_wall(self.wall + 1),
        }
    }

    /// The largest timestamp smaller than `self` (saturating at
    /// [`Timestamp::ZERO`]).
    pub fn prev(self) -> Timestamp {
        match self.logical.checked_sub(1) {
            Some(logical) => Timestamp { logical, ..self },
            None if self.wall == 0 => self,
            None => Timestamp {
                wall: self.wall - 1,
                logical: u32::MAX,
            },
        }
    }

    /// 12 bytes whose byte order is the timestamps' order.
    pub fn encode(self) -> [u8; Self::ENCODED_LEN] {
        let mut buf = [0; Self::ENCODED_LEN];
        buf[..8].copy_from_slice(&self.wall.to_be_bytes());
        buf[8..].copy_from_slice(&self.logical.to_be_bytes());
        buf
    }

    /// Parses [`Timestamp::encode`]'s output; anything else is
    /// `Err(Corrupt)`.
    pub fn decode(bytes: &[u8]) -> Result<Timestamp> {
        let mut reader = Reader::new(bytes, "timestamp");
        let ts = Self::read(&mut reader)?;
        reader.finish()?;
        Ok(ts)
    }

    /// Reads an encoded timestamp from the middle of a key or value.
    pub(crate) fn read(reader: &mut Reader) -> Result<Timestamp> {
        Ok(Timestamp {
            wall: reader.u64_be()?,
            logical: reader.u32_be()?,
        })
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.wall, self.logical)
    }
}

/// A physical clock: microseconds since the Unix epoch.
pub type PhysicalClock = Box<dyn Fn() -> u64 + Send + Sync>;

/// A hybrid logical clock over an injected physical clock.
pub struct Hlc {
    physical: PhysicalClock,
    /// The largest remote wall time, relative to the local physical clock,
    /// that `update` accepts, in microseconds.
    max_offset: u64,
    /// The last timestamp handed out or accepted.
    last: Mutex<Timestamp>,
}

impl fmt::Debug for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hlc")
            .field("max_offset", &self.max_offset)
            .field("last", &self.last())
            .finish()
    }
}

impl Hlc {
    /// A clock reading time from `physical`, refusing remote clocks more
    /// than `max_offset` µs ahead.
    pub fn new(physical: PhysicalClock, max_offset: u64) -> Hlc {
        Hlc {
            physical,
            max_offset,
            last: Mutex::new(Timestamp::ZERO),
        }
    }

    /// A clock over the system's real-time clock.
    pub fn system(max_offset: u64) -> Hlc {
        Hlc::new(Box::new(system_micros), max_offset)
    }

    /// The configured maximum offset, in microseconds.
    pub fn max_offset(&self) -> u64 {
        self.max_offset
    }

    /// The last timestamp handed out or accepted, without advancing.
    pub fn last(&self) -> Timestamp {
        *self.last.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A timestamp greater than every one handed out or accepted before.
    pub fn now(&self) -> Timestamp {
        let physical = Timestamp::from_wall((self.physical)());
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        *last = physical.max(last.next());
        *last
    }

    /// Takes in a timestamp received from another node: the clock moves past
    /// it and the new (greater) timestamp is returned. A remote wall time
    /// more than `max_offset` ahead of the local physical clock is refused
    /// with [`TxnError::ClockOffset`] and changes nothing.
    pub fn update(&self, remote: Timestamp) -> TxnResult<Timestamp> {
        let wall = (self.physical)();
        if remote.wall > wall.saturating_add(self.max_offset) {
            tracing::warn!(%remote, physical = wall, max_offset = self.max_offset,
                "refused a remote clock beyond the maximum offset");
            return Err(TxnError::ClockOffset {
                remote,
                physical: wall,
                max_offset: self.max_offset,
            });
        }
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        *last = Timestamp::from_wall(wall)
            .max(last.next())
            .max(remote.next());
        Ok(*last)
    }
}

/// Microseconds since the Unix epoch (0 if the clock is before it).
fn system_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    fn manual_clock(max_offset: u64) -> (Hlc, Arc<AtomicU64>) {
        let time = Arc::new(AtomicU64::new(100));
        let reader = Arc::clone(&time);
        let hlc = Hlc::new(Box::new(move || reader.load(Ordering::SeqCst)), max_offset);
        (hlc, time)
    }

    fn ts(wall: u64, logical: u32) -> Timestamp {
        Timestamp { wall, logical }
    }

    #[test]
    fn the_documented_example() {
        let (hlc, time) = manual_clock(50);
        assert_eq!(hlc.now(), ts(100, 0));
        assert_eq!(hlc.now(), ts(100, 1));
        assert_eq!(hlc.now(), ts(100, 2));
        time.store(90, Ordering::SeqCst);
        assert_eq!(hlc.now(), ts(100, 3));
        time.store(130, Ordering::SeqCst);
        assert_eq!(hlc.now(), ts(130, 0));
        assert_eq!(hlc.update(ts(120, 5)).ok(), Some(ts(130, 1)));
        time.store(100, Ordering::SeqCst);
        assert_eq!(hlc.update(ts(150, 5)).ok(), Some(ts(150, 6)));
        assert_eq!(hlc.now(), ts(150, 7));
    }

    #[test]
    fn refuses_a_remote_clock_beyond_max_offset_and_stays_put() {
        let (hlc, _time) = manual_clock(50);
        let before = hlc.now();
        let err = hlc.update(ts(151, 0)).unwrap_err();
        assert!(matches!(
            err,
            TxnError::ClockOffset {
                physical: 100,
                max_offset: 50,
                ..
            }
        ));
        assert_eq!(
            err.to_string(),
            "remote clock 151,0 is more than 50µs ahead of local physical time 100"
        );
        assert_eq!(hlc.last(), before);
        assert_eq!(hlc.update(ts(150, 9)).ok(), Some(ts(150, 10)));
    }

    #[test]
    fn display_and_layout() {
        assert_eq!(ts(10, 2).to_string(), "10,2");
        assert_eq!(ts(1, 2).encode(), [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2]);
        assert_eq!(ts(7, u32::MAX).next(), ts(8, 0));
        assert_eq!(ts(8, 0).prev(), ts(7, u32::MAX));
        assert_eq!(Timestamp::MAX.next(), Timestamp::MAX);
        assert_eq!(Timestamp::ZERO.prev(), Timestamp::ZERO);
        assert!(Timestamp::decode(&[0; 11]).is_err());
        assert!(Timestamp::decode(&[0; 13]).is_err());
    }

    #[derive(Debug, Clone)]
    enum Step {
        SetClock(u64),
        Now,
        Update(Timestamp),
    }

    fn any_ts() -> impl Strategy<Value = Timestamp> {
        (0u64..1_000, any::<u32>()).prop_map(|(wall, logical)| ts(wall, logical))
    }

    fn any_step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0u64..1_000).prop_map(Step::SetClock),
            Just(Step::Now),
            any_ts().prop_map(Step::Update),
        ]
    }

    proptest! {
        #[test]
        fn encoding_preserves_order(a in any::<(u64, u32)>(), b in any::<(u64, u32)>()) {
            let (a, b) = (ts(a.0, a.1), ts(b.0, b.1));
            prop_assert_eq!(a.encode().cmp(&b.encode()), a.cmp(&b));
            prop_assert_eq!(Timestamp::decode(&a.encode())?, a);
        }

        #[test]
        fn monotonic_under_arbitrary_clock_jumps(steps in prop::collection::vec(any_step(), 1..60)) {
            let (hlc, time) = manual_clock(100);
            let mut last = Timestamp::ZERO;
            for step in steps {
                match step {
                    Step::SetClock(wall) => time.store(wall, Ordering::SeqCst),
                    Step::Now => {
                        let now = hlc.now();
                        prop_assert!(now > last);
                        prop_assert!(now.wall >= time.load(Ordering::SeqCst));
                        last = now;
                    }
                    Step::Update(remote) => match hlc.update(remote) {
                        Ok(now) => {
                            prop_assert!(now > last && now > remote);
                            last = now;
                        }
                        Err(_) => {
                            prop_assert!(remote.wall > time.load(Ordering::SeqCst) + 100);
                            prop_assert_eq!(hlc.last(), last);
                        }
                    },
                }
            }
        }
    }
}
