//! [`Replica`]: this node's member of one range's Raft group — raft-rs's
//! `RawNode` over the replica's [`LogStore`], and the state machine that
//! applies the range's [`Command`]s.
//!
//! A ready round follows raft-rs's documented order, split in two around
//! the one write the [`Store`](super::Store) makes for all its replicas:
//!
//! ```text
//!  begin_ready:   1. messages (a leader's appends go out before its own
//!                    write: they do not depend on it)
//!                 2. snapshot → batch
//!                 3. committed entries → applied into the batch
//!                 4. new entries + hard state → batch
//!  ── the store writes the batch (fsync if any replica must sync) ──
//!  finish_ready:  5. persisted messages (votes, append responses: only
//!                    once what they promise is on disk)
//!                 6. advance → light ready: its messages, its committed
//!                    entries applied, log truncated if long; advance_apply
//! ```
//!
//! Election timeouts: raft-rs draws them from the thread's random
//! generator; the replica redraws each one from its own seeded generator
//! whenever raft-rs restarts the election timer, so a simulation replays
//! exactly from its seed.

use lyra_engine::hlc::Timestamp;
use lyra_engine::keys::RangeId;
use lyra_engine::storage::WriteBatch;
use protobuf::Message as _;
use raft::eraftpb::{ConfChange, ConfChangeV2, ConfState, Entry, EntryType, Message};
use raft::{RawNode, Ready, StateRole};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::command::Command;
use super::log_store::LogStore;
use super::logger::replica_logger;
use super::{Envelope, Event, ProposeError, RaftConfig};

/// One ready round's output, shared by every replica of the store.
#[derive(Default)]
pub(super) struct Round {
    pub batch: WriteBatch,
    pub sync: bool,
    pub messages: Vec<Envelope>,
    pub events: Vec<Event>,
    /// Ranges split off in this round, for the store to create.
    pub splits: Vec<NewRange>,
    /// The latest proposer clock among the commands applied ([`Command::clock`]).
    pub clock: Timestamp,
}

/// A range a split created: the store creates this node's replica of it.
#[derive(Debug, Clone)]
pub(super) struct NewRange {
    pub range: RangeId,
    pub voters: Vec<u64>,
    pub start: Vec<u8>,
    pub end: Vec<u8>,
    /// The parent's leader applied the split here: its replica of the new
    /// range campaigns at once instead of waiting out an election timeout
    /// (during which the new range's keys would take no writes).
    pub campaign: bool,
}

pub struct Replica {
    node: u64,
    raw: RawNode<LogStore>,
    rng: StdRng,
    /// raft-rs's election timeout bounds: `[election_tick, 2 × election_tick)`.
    election: std::ops::Range<usize>,
    compact_after: u64,
    /// Removed from its range: the store drops it after this round.
    removed: bool,
    /// Bytes written to the range since its size was last measured (an
    /// estimate: overwrites and deletes are not subtracted).
    pub(super) grown: u64,
    /// The range's size when last measured (0: not yet).
    pub(super) measured: u64,
    /// The tick count when this replica (as leader) last proposed a split.
    pub(super) split_proposed_at: Option<u64>,
    /// The tick at which this replica campaigns (a range just split off
    /// on its parent's leader).
    pub(super) campaign_at: Option<u64>,
    /// Leader lease: reads may be served here at the commit index
    /// without a heartbeat round ([`Lease`]).
    lease: Option<Lease>,
    /// How long a lease lasts past the heartbeat round that earned it.
    lease_ticks: u64,
}

/// A leader's lease: in `term`, from the heartbeat round sent at store
/// tick `sent` until tick `until` (= `sent` + the lease's length). `index`
/// is the commit index the round confirmed, which covers every entry of
/// earlier terms (raft-rs answers a leader's ReadIndex only once it has
/// committed an entry of its own term): once the replica has applied it,
/// its data holds everything any earlier leader acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub term: u64,
    pub sent: u64,
    pub until: u64,
    pub index: u64,
}

/// The context of a lease renewal's ReadIndex: `L`, term, tick sent.
const LEASE_RENEWAL: u8 = b'L';

/// Ticks a lease ends before the earliest moment another leader could be
/// elected: room for the nodes' tick rates to differ.
pub const LEASE_MARGIN_TICKS: usize = 2;

impl Replica {
    pub(super) fn new(node: u64, log: LogStore, config: &RaftConfig, seed: u64) -> raft::Result<Replica> {
        let range = log.range();
        let raft_config = raft::Config {
            id: node,
            election_tick: config.election_tick,
            heartbeat_tick: config.heartbeat_tick,
            applied: log.applied(),
            max_size_per_msg: config.max_size_per_msg,
            max_inflight_msgs: config.max_inflight_msgs,
            // A leader cut off from a majority steps down, and a node that
            // comes back from a partition cannot depose a working leader:
            // both are needed for leader leases.
            check_quorum: true,
            pre_vote: true,
            ..Default::default()
        };
        raft_config.validate()?;
        let raw = RawNode::new(&raft_config, log, &replica_logger(node, range))?;
        let mut replica = Replica {
            node,
            raw,
            rng: StdRng::seed_from_u64(seed ^ range.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            election: raft_config.min_election_tick()..raft_config.max_election_tick(),
            compact_after: config.compact_after.max(1),
            removed: false,
            grown: 0,
            measured: 0,
            split_proposed_at: None,
            campaign_at: None,
            lease: None,
            lease_ticks: config.election_tick.saturating_sub(LEASE_MARGIN_TICKS) as u64,
        };
        replica.redraw_election_timeout();
        Ok(replica)
    }

    pub fn range(&self) -> RangeId {
        self.raw.store().range()
    }

    pub fn is_leader(&self) -> bool {
        self.raw.raft.state == StateRole::Leader
    }

    pub fn role(&self) -> StateRole {
        self.raw.raft.state
    }

    pub fn term(&self) -> u64 {
        self.raw.raft.term
    }

    /// The leader this replica knows of, if any.
    pub fn leader(&self) -> Option<u64> {
        Some(self.raw.raft.leader_id).filter(|&id| id != raft::INVALID_ID)
    }

    pub fn applied(&self) -> u64 {
        self.raw.store().applied()
    }

    /// The index of the last entry in this replica's log.
    pub fn last_index(&self) -> u64 {
        self.raw.raft.raft_log.last_index()
    }

    pub fn commit_index(&self) -> u64 {
        self.raw.raft.raft_log.committed
    }

    pub fn first_index(&self) -> u64 {
        self.raw.store().truncated_index() + 1
    }

    pub fn conf_state(&self) -> &ConfState {
        self.raw.store().conf_state()
    }

    pub fn span(&self) -> (&[u8], &[u8]) {
        self.raw.store().span()
    }

    pub fn is_initialized(&self) -> bool {
        self.raw.store().is_initialized()
    }

    pub(super) fn is_removed(&self) -> bool {
        self.removed
    }

    /// Marks the replica removed (its range dropped it without its
    /// knowing): the store deletes it after its next round.
    pub(super) fn mark_removed(&mut self) {
        self.removed = true;
    }

    /// Deletes a removed replica's data and state: the last thing the
    /// store writes of it, after its round.
    pub(super) fn destroy(&mut self, batch: &mut WriteBatch) {
        self.raw.mut_store().destroy(batch);
    }

    pub(super) fn tick(&mut self) {
        self.raw.tick();
        self.redraw_election_timeout();
    }

    pub(super) fn step(&mut self, message: Message) -> raft::Result<()> {
        let stepped = self.raw.step(message);
        self.redraw_election_timeout();
        stepped
    }

    pub(super) fn campaign(&mut self) -> raft::Result<()> {
        let campaigned = self.raw.campaign();
        self.redraw_election_timeout();
        campaigned
    }

    pub(super) fn report_snapshot(&mut self, to: u64, delivered: bool) {
        let status = if delivered { raft::SnapshotStatus::Finish } else { raft::SnapshotStatus::Failure };
        self.raw.report_snapshot(to, status);
    }

    pub(super) fn report_unreachable(&mut self, to: u64) {
        self.raw.report_unreachable(to);
    }

    /// Asks for a linearizable read point: an [`Event::ReadIndex`] comes
    /// back once the leader has confirmed, by a round of heartbeats, that
    /// it still leads; a read served after applying up to that index sees
    /// every write committed before the request. Silently dropped when no
    /// leader is known (the caller retries, as for a lost message).
    pub(super) fn read_index(&mut self, context: Vec<u8>) {
        self.raw.read_index(context);
    }

    /// Asks for a heartbeat round that, once a quorum answers, extends the
    /// lease to `now` + the lease's length. Why this is safe: every member
    /// that answers heard from this leader at or after `now`, and with
    /// `check_quorum` it will not vote for anyone else for an election
    /// timeout after that; any new leader needs one of their votes.
    pub(super) fn renew_lease(&mut self, now: u64) {
        if self.is_leader() && self.raw.raft.lead_transferee.is_none() {
            let mut context = vec![LEASE_RENEWAL];
            context.extend_from_slice(&self.term().to_be_bytes());
            context.extend_from_slice(&now.to_be_bytes());
            self.raw.read_index(context);
        }
    }

    /// Whether reads may be served here now, at the commit index, without
    /// asking the other members. Never while leadership is being handed
    /// over (the transferee campaigns at once, ignoring leases).
    pub(super) fn holds_lease(&self, now: u64) -> bool {
        self.is_leader()
            && self.raw.raft.lead_transferee.is_none()
            && self.lease.is_some_and(|lease| lease.term == self.term() && now < lease.until)
    }

    /// The lease, while it is held at store tick `now` (see
    /// [`Replica::holds_lease`]).
    pub fn lease(&self, now: u64) -> Option<Lease> {
        self.lease.filter(|_| self.holds_lease(now))
    }

    fn note_lease_renewal(&mut self, context: &[u8], index: u64) -> bool {
        if context.len() != 17 || context[0] != LEASE_RENEWAL {
            return false;
        }
        let term = u64::from_be_bytes(context[1..9].try_into().expect("8 bytes"));
        let sent = u64::from_be_bytes(context[9..17].try_into().expect("8 bytes"));
        if term == self.term() && self.is_leader() {
            let until = sent + self.lease_ticks;
            if self.lease.is_none_or(|lease| lease.term != term || lease.until < until) {
                self.lease = Some(Lease { term, sent, until, index });
            }
        }
        true
    }

    pub(super) fn transfer_leader(&mut self, to: u64) {
        self.lease = None;
        self.raw.transfer_leader(to);
    }

    pub(super) fn propose(&mut self, command: &Command) -> Result<(), ProposeError> {
        self.check_leader()?;
        let data = prost::Message::encode_to_vec(command);
        self.raw.propose(Vec::new(), data).map_err(|e| ProposeError::from_raft(self.range(), e, self.leader()))
    }

    pub(super) fn propose_conf_change(&mut self, change: ConfChangeV2) -> Result<(), ProposeError> {
        self.check_leader()?;
        self.raw.propose_conf_change(Vec::new(), change).map_err(|e| ProposeError::from_raft(self.range(), e, self.leader()))
    }

    fn check_leader(&self) -> Result<(), ProposeError> {
        match self.is_leader() {
            true => Ok(()),
            false => Err(ProposeError::NotLeader { range: self.range(), leader: self.leader() }),
        }
    }

    /// raft-rs restarts the election timer by zeroing the elapsed ticks
    /// (and drawing a new timeout, from the thread's generator); this draws
    /// it again from the replica's own.
    fn redraw_election_timeout(&mut self) {
        if self.raw.raft.election_elapsed == 0 {
            let timeout = self.rng.gen_range(self.election.clone());
            self.raw.raft.set_randomized_election_timeout(timeout);
        }
    }

    /// Steps 1–4 of the round (module docs); the ready to finish after the
    /// store's write, if there was one.
    pub(super) fn begin_ready(&mut self, round: &mut Round) -> raft::Result<Option<Ready>> {
        if !self.raw.has_ready() {
            return Ok(None);
        }
        let mut ready = self.raw.ready();
        self.send(ready.take_messages(), round);
        let range = self.range();
        for read in ready.take_read_states() {
            if !self.note_lease_renewal(&read.request_ctx, read.index) {
                round.events.push(Event::ReadIndex { range, index: read.index, context: read.request_ctx });
            }
        }
        if !ready.snapshot().is_empty() {
            self.raw.mut_store().apply_snapshot(ready.snapshot(), &mut round.batch)?;
            round.sync = true;
            round.events.push(Event::SnapshotApplied { range: self.range(), index: self.applied() });
        }
        self.apply(ready.take_committed_entries(), round)?;
        self.raw.mut_store().append(ready.entries(), &mut round.batch);
        if let Some(hard_state) = ready.hs() {
            self.raw.mut_store().set_hard_state(hard_state, &mut round.batch);
        }
        round.sync |= ready.must_sync();
        Ok(Some(ready))
    }

    /// Steps 5–6, once the round's write is done.
    pub(super) fn finish_ready(&mut self, mut ready: Ready, round: &mut Round) -> raft::Result<()> {
        self.send(ready.take_persisted_messages(), round);
        let mut light = self.raw.advance(ready);
        if let Some(commit) = light.commit_index() {
            let mut hard_state = self.raw.raft.hard_state();
            hard_state.commit = commit;
            self.raw.mut_store().set_hard_state(&hard_state, &mut round.batch);
        }
        self.send(light.take_messages(), round);
        self.apply(light.take_committed_entries(), round)?;
        self.raw.advance_apply();
        let log = self.raw.mut_store();
        if !self.removed && log.applied() - log.truncated_index() >= self.compact_after {
            let applied = log.applied();
            log.truncate_to(applied, &mut round.batch)?;
        }
        Ok(())
    }

    fn send(&self, messages: Vec<Message>, round: &mut Round) {
        let range = self.range();
        round.messages.extend(messages.into_iter().map(|message| Envelope { range, message }));
    }

    /// Applies committed entries into the round's batch, with the applied
    /// index (and configuration) they reach.
    fn apply(&mut self, entries: Vec<Entry>, round: &mut Round) -> raft::Result<()> {
        let Some(last) = entries.last().map(|e| e.index) else { return Ok(()) };
        let range = self.range();
        let mut conf_state = None;
        for entry in entries {
            if self.removed {
                break;
            }
            match entry.get_entry_type() {
                EntryType::EntryNormal if entry.data.is_empty() => {} // a new leader's first entry
                EntryType::EntryNormal => {
                    let (id, outcome) = match <Command as prost::Message>::decode(&entry.data[..]) {
                        Ok(Command { id, split: Some(split), .. }) => (id, self.split(&split, entry.index, round)),
                        Ok(command) => {
                            if let Ok(clock) = Timestamp::decode(&command.clock) {
                                round.clock = round.clock.max(clock);
                            }
                            let store = self.raw.store();
                            let (start, end) = store.span();
                            let unmet = command.unmet_condition(|key| store.has_value(key, &round.batch))?;
                            let written = match unmet {
                                Some(why) => Err(why),
                                None => command.write_into(start, end, &mut round.batch),
                            };
                            if written.is_ok() {
                                self.grown += command.size();
                            }
                            (command.id, written)
                        }
                        Err(e) => (0, Err(format!("undecodable command: {e}"))),
                    };
                    round.events.push(Event::Applied { range, index: entry.index, term: entry.term, id, outcome });
                }
                EntryType::EntryConfChange | EntryType::EntryConfChangeV2 => {
                    let applied = match entry.get_entry_type() {
                        EntryType::EntryConfChange => self.raw.apply_conf_change(&ConfChange::parse_from_bytes(&entry.data)?),
                        _ => self.raw.apply_conf_change(&ConfChangeV2::parse_from_bytes(&entry.data)?),
                    };
                    match applied {
                        Ok(state) => {
                            self.removed = !is_member(&state, self.node);
                            round.events.push(Event::ConfChanged { range, index: entry.index, conf_state: state.clone() });
                            conf_state = Some(state);
                        }
                        // Every replica refuses the same change alike.
                        Err(e) => tracing::warn!(range, index = entry.index, error = %e, "configuration change refused"),
                    }
                }
            }
        }
        self.raw.mut_store().set_applied(last, conf_state, &mut round.batch);
        if self.removed {
            round.events.push(Event::Removed { range });
        }
        Ok(())
    }
}

impl Replica {
    /// Applies a split: the range keeps `[start, key)`; the store creates
    /// the new range's replica after the round. Refused alike on every
    /// replica when the key is not strictly inside the span, or while the
    /// configuration is joint (the new range starts with plain voters).
    fn split(&mut self, split: &super::command::Split, index: u64, round: &mut Round) -> Result<(), String> {
        let (start, end) = self.span();
        if split.key.as_slice() <= start || split.key.as_slice() >= end {
            return Err(format!("split key {:?} is not inside the range", split.key));
        }
        let end = end.to_vec();
        let conf = self.conf_state();
        if !conf.voters_outgoing.is_empty() || !conf.learners.is_empty() {
            return Err("no split while the configuration changes".into());
        }
        let voters = conf.voters.clone();
        self.raw.mut_store().narrow_to(&split.key);
        self.grown = 0;
        self.measured = 0;
        self.split_proposed_at = None;
        let range = self.range();
        let campaign = self.is_leader();
        round.splits.push(NewRange { range: split.new_range, voters, start: split.key.clone(), end, campaign });
        round.events.push(Event::Split { range, index, new_range: split.new_range, key: split.key.clone() });
        Ok(())
    }
}

/// Whether `node` is in the configuration, in any role.
fn is_member(state: &ConfState, node: u64) -> bool {
    [&state.voters, &state.learners, &state.voters_outgoing, &state.learners_next].iter().any(|ids| ids.contains(&node))
}
