//! The row codec (DESIGN §3): how one table row becomes the value of a
//! [`Key::Row`](crate::keys::Key::Row).
//!
//! Column values are opaque bytes here. `pg_ext` fills them with
//! Postgres's own binary datum form (detoasted), so the engine can store,
//! ship and compare rows without knowing what a Datum is.
//!
//! # Layout
//!
//! ```text
//!   format  schema_version  ncols    null bitmap          values
//!   0x01    varint          varint   ceil(ncols/8) bytes  (varint len, bytes) per non-NULL column
//!
//!   (7, [Some("ab"), None, Some("")]):
//!   01 | 07 | 03 | 02 (0b010: column 1 is NULL) | 02 'a' 'b' | 00
//! ```
//!
//! Bit `i % 8` of bitmap byte `i / 8` is set when column `i` is NULL. A NULL
//! column has no bytes at all; an empty value is a zero length. Varints are
//! LEB128 in shortest form (see `encoding`).
//!
//! # Invariants
//!
//! * `RowView::decode(&encode_row(v, cols))` gives back `v` and `cols`.
//! * Decoding validates everything in one pass — format byte, varints,
//!   lengths, unused bitmap bits (must be 0), no trailing bytes — and
//!   returns `Err(Corrupt)` for anything else, never panicking. Any bytes
//!   that decode re-encode to themselves.
//! * Decoding is zero-copy: a [`RowView`] borrows the stored bytes.
//!
//! # Cost
//!
//! `decode` makes one pass and one allocation (a slice per column), after
//! which [`RowView::column`] is O(1). [`RowView::columns`] walks the
//! already-validated bytes again, O(ncols), without touching that vector.
//!
//! # Not done yet
//!
//! Decoding the common scalar types for filter and aggregate pushdown;
//! TOAST-like out-of-line storage for very large values; reading rows
//! written under an older schema version (the version is stored so that
//! this can be added without rewriting data).

use crate::encoding::{put_varint, varint_len, Reader};
use crate::error::Result;

/// The first byte of every row; a new layout gets a new number.
const FORMAT_V1: u8 = 1;

/// Encodes a row into a new buffer.
pub fn encode_row(schema_version: u32, columns: &[Option<&[u8]>]) -> Vec<u8> {
    let mut buf = Vec::new();
    encode_row_into(&mut buf, schema_version, columns);
    buf
}

/// Encodes a row into `buf`, clearing it first, so that a caller writing
/// many rows can reuse one allocation.
pub fn encode_row_into(buf: &mut Vec<u8>, schema_version: u32, columns: &[Option<&[u8]>]) {
    buf.clear();
    buf.reserve(encoded_len(schema_version, columns));
    buf.push(FORMAT_V1);
    put_varint(buf, u64::from(schema_version));
    put_varint(buf, columns.len() as u64);
    let bitmap_start = buf.len();
    buf.resize(bitmap_start + columns.len().div_ceil(8), 0);
    for (i, column) in columns.iter().enumerate() {
        match column {
            None => buf[bitmap_start + i / 8] |= 1 << (i % 8),
            Some(value) => {
                put_varint(buf, value.len() as u64);
                buf.extend_from_slice(value);
            }
        }
    }
}

/// The row `row` with only the columns `keep` (sorted column numbers):
/// every other column becomes NULL, and the row keeps its length and
/// schema version. A scan that needs a few columns of wide rows has the
/// node send this (projection pushed down). A row that does not decode is
/// returned unchanged: its reader reports it.
pub fn project(row: &[u8], keep: &[usize]) -> Vec<u8> {
    let Ok(view) = RowView::decode(row) else {
        return row.to_vec();
    };
    let columns: Vec<Option<&[u8]>> = view
        .columns()
        .enumerate()
        .map(|(i, value)| if keep.binary_search(&i).is_ok() { value } else { None })
        .collect();
    encode_row(view.schema_version(), &columns)
}

/// The exact size of the encoding, so encoding allocates once.
fn encoded_len(schema_version: u32, columns: &[Option<&[u8]>]) -> usize {
    let header = 1 + varint_len(u64::from(schema_version)) + varint_len(columns.len() as u64);
    let values: usize = columns
        .iter()
        .flatten()
        .map(|value| varint_len(value.len() as u64) + value.len())
        .sum();
    header + columns.len().div_ceil(8) + values
}

/// A decoded row borrowing the stored bytes.
#[derive(Debug, Clone)]
pub struct RowView<'a> {
    schema_version: u32,
    /// Bitmap and values: what [`Columns`] walks.
    body: Body<'a>,
    /// Each column's value, None for NULL.
    columns: Vec<Option<&'a [u8]>>,
}

/// The part of a row after its header.
#[derive(Debug, Clone, Copy)]
struct Body<'a> {
    nulls: &'a [u8],
    values: &'a [u8],
    ncols: usize,
}

impl<'a> RowView<'a> {
    /// Decodes and fully validates a row; `Err(Corrupt)` if malformed.
    pub fn decode(bytes: &'a [u8]) -> Result<RowView<'a>> {
        let mut reader = Reader::new(bytes, "row");
        let format = reader.u8()?;
        if format != FORMAT_V1 {
            return Err(reader.corrupt(format!("unknown row format {format}")));
        }
        let schema_version = u32::try_from(reader.varint()?)
            .map_err(|_| reader.corrupt("schema version exceeds u32"))?;
        let ncols = reader.varint()?;
        let ncols =
            usize::try_from(ncols).map_err(|_| reader.corrupt(format!("{ncols} columns")))?;
        // The bitmap must be present, so ncols <= 8 * bytes.len(): a
        // corrupt count cannot make the allocation below unbounded.
        let nulls = reader.take(ncols.div_ceil(8))?;
        check_unused_bits(&reader, nulls, ncols)?;
        let values_start = reader.pos();
        let mut columns = Vec::with_capacity(ncols);
        for i in 0..ncols {
            columns.push(read_column(&mut reader, nulls, i)?);
        }
        reader.finish()?;
        let body = Body {
            nulls,
            values: &bytes[values_start..],
            ncols,
        };
        Ok(RowView {
            schema_version,
            body,
            columns,
        })
    }

    /// The schema version the row was written under.
    pub fn schema_version(&self) -> u32 {
        self.schema_version
    }

    /// The number of columns, NULL ones included.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Whether the row has no columns at all.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// Column `i`'s bytes; None if it is NULL or `i >= len()`.
    pub fn column(&self, i: usize) -> Option<&'a [u8]> {
        self.columns.get(i).copied().flatten()
    }

    /// Every column in order, None for NULL.
    pub fn columns(&self) -> impl Iterator<Item = Option<&'a [u8]>> + 'a {
        Columns {
            reader: Reader::new(self.body.values, "row values"),
            body: self.body,
            next: 0,
        }
    }
}

/// Bits past the last column must be clear, so each row has one encoding.
fn check_unused_bits(reader: &Reader, nulls: &[u8], ncols: usize) -> Result<()> {
    let used = ncols % 8;
    match nulls.last() {
        Some(last) if used != 0 && last >> used != 0 => {
            Err(reader.corrupt("null bitmap has bits set past the last column"))
        }
        _ => Ok(()),
    }
}

/// Reads column `i`: nothing if its null bit is set, else length + bytes.
fn read_column<'a>(reader: &mut Reader<'a>, nulls: &[u8], i: usize) -> Result<Option<&'a [u8]>> {
    if nulls[i / 8] & (1 << (i % 8)) != 0 {
        return Ok(None);
    }
    let len = reader.varint()?;
    let len = usize::try_from(len).map_err(|_| reader.corrupt(format!("value length {len}")))?;
    Ok(Some(reader.take(len)?))
}

/// Iterator behind [`RowView::columns`], over bytes `decode` validated.
struct Columns<'a> {
    reader: Reader<'a>,
    body: Body<'a>,
    next: usize,
}

impl<'a> Iterator for Columns<'a> {
    type Item = Option<&'a [u8]>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.body.ncols {
            return None;
        }
        let i = self.next;
        self.next += 1;
        // The bytes were validated by decode, so this cannot fail; if it
        // somehow did, ending early is safer than panicking in a backend.
        read_column(&mut self.reader, self.body.nulls, i).ok()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.body.ncols - self.next;
        (0, Some(left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use proptest::prelude::*;

    #[test]
    fn a_projected_row_keeps_only_the_columns_asked_for() {
        let row = encode_row(3, &[Some(b"a"), None, Some(b"ccc"), Some(b"")]);
        let out = project(&row, &[0, 1, 3, 7]);
        let view = RowView::decode(&out).expect("a row");
        assert_eq!(view.schema_version(), 3);
        assert_eq!(view.columns().collect::<Vec<_>>(), vec![Some(&b"a"[..]), None, None, Some(&b""[..])]);
        assert_eq!(project(b"junk", &[0]), b"junk");
    }


    type OwnedColumns = Vec<Option<Vec<u8>>>;

    fn round_trip(schema_version: u32, columns: &OwnedColumns) -> Result<()> {
        let borrowed: Vec<Option<&[u8]>> = columns.iter().map(|c| c.as_deref()).collect();
        let bytes = encode_row(schema_version, &borrowed);
        let view = RowView::decode(&bytes)?;
        assert_eq!(view.schema_version(), schema_version);
        assert_eq!(view.len(), columns.len());
        assert_eq!(view.is_empty(), columns.is_empty());
        assert_eq!(view.columns().collect::<Vec<_>>(), borrowed);
        for (i, column) in borrowed.iter().enumerate() {
            assert_eq!(view.column(i), *column);
        }
        assert_eq!(view.column(columns.len()), None);
        Ok(())
    }

    fn any_columns(max_value: usize) -> impl Strategy<Value = OwnedColumns> {
        let value = prop::collection::vec(any::<u8>(), 0..max_value);
        prop::collection::vec(prop::option::of(value), 0..40)
    }

    #[test]
    fn layout_is_as_documented() {
        let bytes = encode_row(7, &[Some(b"ab"), None, Some(b"")]);
        assert_eq!(bytes, [1, 7, 3, 0b010, 2, b'a', b'b', 0]);
        assert_eq!(encode_row(0, &[]), [1, 0, 0]);
    }

    #[test]
    fn edge_rows_round_trip() -> Result<()> {
        round_trip(0, &vec![])?;
        round_trip(u32::MAX, &vec![None; 17])?;
        round_trip(1, &vec![Some(vec![]); 9])?;
        round_trip(
            2,
            &vec![Some(vec![0xab; 3 << 20]), None, Some(vec![1; 200])],
        )
    }

    #[test]
    fn encode_into_clears_and_reuses_the_buffer() {
        let mut buf = b"leftovers".to_vec();
        encode_row_into(&mut buf, 3, &[Some(b"x")]);
        assert_eq!(buf, encode_row(3, &[Some(b"x")]));
    }

    #[test]
    fn malformed_rows_are_corrupt() {
        let cases: &[&[u8]] = &[
            &[],
            &[2, 0, 0],                            // unknown format
            &[1, 0x80, 0x80, 0x80, 0x80, 0x10, 0], // schema version > u32
            &[1, 0, 1],                            // bitmap missing
            &[1, 0, 1, 0b10],                      // unused bitmap bit set
            &[1, 0, 1, 0, 5, b'a'],                // value shorter than its length
            &[1, 0, 1, 1, 0],                      // trailing byte after a NULL
            &[
                1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
        ];
        for bytes in cases {
            assert!(
                matches!(RowView::decode(bytes), Err(Error::Corrupt(_))),
                "{bytes:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn rows_round_trip(schema_version: u32, columns in any_columns(300)) {
            round_trip(schema_version, &columns)?;
        }

        #[test]
        fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            check_canonical(&bytes)?;
        }

        #[test]
        fn mangled_rows_never_panic(
            columns in any_columns(20),
            at in any::<prop::sample::Index>(),
            byte: u8,
        ) {
            let borrowed: Vec<Option<&[u8]>> = columns.iter().map(|c| c.as_deref()).collect();
            let mut bytes = encode_row(5, &borrowed);
            let at = at.index(bytes.len());
            bytes[at] = byte;
            check_canonical(&bytes)?;
            check_canonical(&bytes[..at])?;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]

        #[test]
        fn large_values_round_trip(
            lens in prop::collection::vec(prop::option::of(0usize..1_500_000), 1..4),
        ) {
            let columns: OwnedColumns = lens.into_iter().map(|len| len.map(|n| vec![7; n])).collect();
            round_trip(1, &columns)?;
        }
    }

    /// Decoding either fails with Corrupt or gives a row that re-encodes to
    /// the same bytes.
    fn check_canonical(bytes: &[u8]) -> std::result::Result<(), TestCaseError> {
        match RowView::decode(bytes) {
            Ok(view) => {
                let columns: Vec<_> = view.columns().collect();
                prop_assert_eq!(columns.len(), view.len());
                prop_assert_eq!(encode_row(view.schema_version(), &columns), bytes);
            }
            Err(e) => prop_assert!(matches!(e, Error::Corrupt(_))),
        }
        Ok(())
    }
}
