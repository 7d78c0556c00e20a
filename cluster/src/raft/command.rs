//! What a range's Raft log carries: [`Command`]s, each a batch of writes
//! the leader computed, applied in log order by every replica.
//!
//! Applying is deterministic: every replica checks the same things against
//! the same state and gets the same outcome. A command that writes outside
//! its range's span is refused on every replica alike (an outcome, not a
//! crash; DESIGN §5); a failure of the disk stops the node instead.

use lyra_engine::storage::WriteBatch;

/// The refusal of a command that writes outside its range's span, which
/// happens when a split applied between its proposal and its turn in the
/// log: nothing was written, and the caller may send it again (to the
/// range that holds the keys now).
pub const OUTSIDE_RANGE: &str = "writes outside the range";

/// A batch of writes to one range, with the proposer's id for it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Command {
    /// Chosen by the proposer, to recognise its command when applied.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(message, repeated, tag = "2")]
    pub ops: Vec<CommandOp>,
    /// Instead of writes: split the range at `split.key` (see
    /// [`Split`]).
    #[prost(message, optional, tag = "3")]
    pub split: Option<Split>,
    /// The proposer's hybrid clock when it proposed (an encoded
    /// `Timestamp`; empty: none): at or above every timestamp the writes
    /// carry. Every replica that applies the command moves its node's
    /// clock past it ([`super::Store::applied_clock`]).
    #[prost(bytes = "vec", tag = "4")]
    pub clock: Vec<u8>,
}

/// Splits a range in two at `key`: the range keeps `[start, key)`, and a
/// new range `new_range` — same members, its log starting fresh — takes
/// `[key, end)`. Its data stays where it is on every node.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Split {
    #[prost(uint64, tag = "1")]
    pub new_range: u64,
    #[prost(bytes = "vec", tag = "2")]
    pub key: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CommandOp {
    #[prost(enumeration = "CommandOpKind", tag = "1")]
    pub kind: i32,
    #[prost(bytes = "vec", tag = "2")]
    pub key: Vec<u8>,
    /// The value of a put; the end of a delete-range.
    #[prost(bytes = "vec", tag = "3")]
    pub value: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
pub enum CommandOpKind {
    Put = 0,
    Delete = 1,
    DeleteRange = 2,
    /// A condition, not a write: the command applies only if `key` has no
    /// value (checked by every replica against the same state).
    Absent = 3,
}

/// The refusal of a command whose condition did not hold.
pub const CONDITION_FAILED: &str = "condition failed";

impl Command {
    pub fn new(id: u64) -> Command {
        Command { id, ops: Vec::new(), split: None, clock: Vec::new() }
    }

    /// A split of the range at `key` into a new range `new_range`.
    pub fn split(id: u64, new_range: u64, key: Vec<u8>) -> Command {
        Command { id, ops: Vec::new(), split: Some(Split { new_range, key }), clock: Vec::new() }
    }

    /// The bytes of keys and values the command writes (a range's size
    /// grows by about this much).
    pub fn size(&self) -> u64 {
        self.ops.iter().filter(|op| op.kind == CommandOpKind::Put as i32).map(|op| (op.key.len() + op.value.len()) as u64).sum()
    }

    pub fn put(mut self, key: Vec<u8>, value: Vec<u8>) -> Command {
        self.ops.push(CommandOp { kind: CommandOpKind::Put as i32, key, value });
        self
    }

    pub fn delete(mut self, key: Vec<u8>) -> Command {
        self.ops.push(CommandOp { kind: CommandOpKind::Delete as i32, key, value: Vec::new() });
        self
    }

    /// Applies only if `key` has no value when the command's turn comes.
    pub fn if_absent(mut self, key: Vec<u8>) -> Command {
        self.ops.push(CommandOp { kind: CommandOpKind::Absent as i32, key, value: Vec::new() });
        self
    }

    /// Why the command must not apply, if a condition fails: `present`
    /// says whether a key has a value in the state the command applies to.
    pub fn unmet_condition<E>(&self, present: impl Fn(&[u8]) -> Result<bool, E>) -> Result<Option<String>, E> {
        for op in self.ops.iter().filter(|op| op.kind == CommandOpKind::Absent as i32) {
            if present(&op.key)? {
                return Ok(Some(format!("{CONDITION_FAILED}: {:?} has a value", op.key)));
            }
        }
        Ok(None)
    }

    pub fn delete_range(mut self, start: Vec<u8>, end: Vec<u8>) -> Command {
        self.ops.push(CommandOp { kind: CommandOpKind::DeleteRange as i32, key: start, value: end });
        self
    }

    /// Adds the command's writes to `batch` if every one lies in
    /// `[start, end)`; otherwise adds nothing and says why.
    pub fn write_into(&self, start: &[u8], end: &[u8], batch: &mut WriteBatch) -> Result<(), String> {
        let inside = |key: &[u8]| key >= start && key < end;
        for op in &self.ops {
            let fits = match CommandOpKind::try_from(op.kind) {
                Ok(CommandOpKind::Put | CommandOpKind::Delete | CommandOpKind::Absent) => inside(&op.key),
                Ok(CommandOpKind::DeleteRange) => inside(&op.key) && op.value.as_slice() <= end && op.key < op.value,
                Err(_) => return Err(format!("unknown write kind {}", op.kind)),
            };
            if !fits {
                return Err(format!("{OUTSIDE_RANGE}: {:?}", op.key));
            }
        }
        for op in &self.ops {
            match CommandOpKind::try_from(op.kind) {
                Ok(CommandOpKind::Put) => batch.put(op.key.clone(), op.value.clone()),
                Ok(CommandOpKind::Delete) => batch.delete(op.key.clone()),
                Ok(CommandOpKind::DeleteRange) => batch.delete_range(op.key.clone(), op.value.clone()),
                Ok(CommandOpKind::Absent) => {}
                Err(_) => unreachable!("checked above"),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lyra_engine::storage::WriteOp;

    #[test]
    fn writes_inside_the_span_go_into_the_batch() {
        let command = Command::new(1).put(b"b".to_vec(), b"1".to_vec()).delete(b"c".to_vec()).delete_range(b"d".to_vec(), b"m".to_vec());
        let decoded: Command = prost::Message::decode(&prost::Message::encode_to_vec(&command)[..]).unwrap();
        let mut batch = WriteBatch::new();
        decoded.write_into(b"a", b"m", &mut batch).unwrap();
        assert_eq!(
            batch.ops(),
            &[
                WriteOp::Put { key: b"b".to_vec(), value: b"1".to_vec() },
                WriteOp::Delete { key: b"c".to_vec() },
                WriteOp::DeleteRange { start: b"d".to_vec(), end: b"m".to_vec() },
            ]
        );
    }

    #[test]
    fn a_command_reaching_outside_its_range_writes_nothing() {
        for command in [
            Command::new(1).put(b"b".to_vec(), b"1".to_vec()).put(b"m".to_vec(), b"2".to_vec()),
            Command::new(2).delete(b"0".to_vec()),
            Command::new(3).delete_range(b"b".to_vec(), b"n".to_vec()),
            Command::new(4).delete_range(b"c".to_vec(), b"b".to_vec()),
            Command::new(5).if_absent(b"z".to_vec()).put(b"b".to_vec(), b"1".to_vec()),
        ] {
            let mut batch = WriteBatch::new();
            assert!(command.write_into(b"a", b"m", &mut batch).is_err(), "{command:?}");
            assert!(batch.is_empty(), "{command:?}");
        }
    }

    #[test]
    fn a_condition_is_checked_and_never_written() {
        let command = Command::new(1).if_absent(b"b".to_vec()).put(b"b".to_vec(), b"1".to_vec());
        assert_eq!(command.unmet_condition(|_| Ok::<_, ()>(false)), Ok(None));
        let unmet = command.unmet_condition(|key| Ok::<_, ()>(key == b"b")).unwrap().expect("b has a value");
        assert!(unmet.starts_with(CONDITION_FAILED), "{unmet}");
        let mut batch = WriteBatch::new();
        command.write_into(b"a", b"m", &mut batch).unwrap();
        assert_eq!(batch.ops(), &[WriteOp::Put { key: b"b".to_vec(), value: b"1".to_vec() }]);
    }
}
