//! [`RowId`]: a row's id within its table, which is also its Postgres TID.
//!
//! Postgres code above a table access method — bitmap scans, index AMs,
//! `ctid` — speaks in TIDs `(block, offset)`. Lyra makes the row id *be*
//! the TID rather than keep a mapping:
//!
//! ```text
//!   block  = id / 291
//!   offset = id % 291 + 1            (1-based, 1..=291)
//!
//!   id:     0      1   …  290     291    292  …
//!   tid:  (0,1)  (0,2) … (0,291) (1,1)  (1,2) …
//! ```
//!
//! 291 is MaxHeapTuplesPerPage for 8 kB pages, the offset bound that bitmap
//! and index code assume. Block 0xFFFFFFFF is InvalidBlockNumber, so the
//! last usable id is [`RowId::MAX`] (≈ 1.25·10¹², under DESIGN's 48 bits).
//! Row ids are stable across UPDATE, so a TID keeps naming the same row.

/// A row's id within its table; stable across UPDATE and equal to its TID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RowId(pub u64);

impl RowId {
    /// MaxHeapTuplesPerPage for 8 kB pages: offsets run 1..=291.
    pub const TUPLES_PER_BLOCK: u64 = 291;

    /// The largest row id whose TID is valid: the last offset of block
    /// 0xFFFFFFFE (0xFFFFFFFF is InvalidBlockNumber).
    pub const MAX: RowId = RowId((u32::MAX as u64) * Self::TUPLES_PER_BLOCK - 1);

    /// The TID `(block, offset)` of this row; offsets are 1-based.
    ///
    /// Ids above [`RowId::MAX`] have no TID; for them the block saturates to
    /// 0xFFFFFFFF (InvalidBlockNumber), which Postgres rejects, rather than
    /// wrapping onto some other row.
    pub fn to_tid(self) -> (u32, u16) {
        let block = u32::try_from(self.0 / Self::TUPLES_PER_BLOCK).unwrap_or(u32::MAX);
        let offset = (self.0 % Self::TUPLES_PER_BLOCK) as u16 + 1;
        (block, offset)
    }

    /// The row id of TID `(block, offset)`, or None if no row id maps there:
    /// offset 0, offset above 291, or block 0xFFFFFFFF.
    pub fn from_tid(block: u32, offset: u16) -> Option<RowId> {
        let offset = u64::from(offset);
        if offset == 0 || offset > Self::TUPLES_PER_BLOCK || block == u32::MAX {
            return None;
        }
        Some(RowId(
            u64::from(block) * Self::TUPLES_PER_BLOCK + offset - 1,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn row_ids_map_to_valid_tids() {
        assert_eq!(RowId(0).to_tid(), (0, 1));
        assert_eq!(RowId(290).to_tid(), (0, 291));
        assert_eq!(RowId(291).to_tid(), (1, 1));
        assert_eq!(RowId::MAX.to_tid(), (u32::MAX - 1, 291));
        assert_eq!(RowId(RowId::MAX.0 + 1).to_tid().0, u32::MAX);
        assert_eq!(RowId(u64::MAX).to_tid().0, u32::MAX);
        assert_eq!(RowId::from_tid(0, 0), None);
        assert_eq!(RowId::from_tid(0, 292), None);
        assert_eq!(RowId::from_tid(u32::MAX, 1), None);
        assert_eq!(RowId::from_tid(u32::MAX - 1, 291), Some(RowId::MAX));
    }

    proptest! {
        #[test]
        fn tids_round_trip(id in 0..=RowId::MAX.0) {
            let (block, offset) = RowId(id).to_tid();
            prop_assert!((1..=291).contains(&offset) && block < u32::MAX);
            prop_assert_eq!(RowId::from_tid(block, offset), Some(RowId(id)));
        }

        #[test]
        fn tid_order_is_row_id_order(a in 0..=RowId::MAX.0, b in 0..=RowId::MAX.0) {
            prop_assert_eq!(RowId(a).to_tid().cmp(&RowId(b).to_tid()), a.cmp(&b));
        }
    }
}
