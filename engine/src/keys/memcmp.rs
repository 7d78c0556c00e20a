//! The memcomparable encoding of index columns (DESIGN §3): bytes whose
//! order is Postgres's order of the values, so an index range scan is a
//! byte-range scan of the store.
//!
//! Each column starts with a tag, then its value:
//!
//! ```text
//!   NULL            02                (after every value: NULLS LAST)
//!   integer         01 (i64 ^ sign bit):8 BE      int2/4/8, oid, date, time, timestamp(tz)
//!   float           01 f64 bits, sign-flipped:8   float4/8; -0 = 0; one NaN, above +inf
//!   bool            01 00|01
//!   bytes           01 escaped bytes 00 01        text (C order), bytea; 00 → 00 FF
//!   fixed           01 bytes                      uuid (16)
//! ```
//!
//! Every column's encoding is prefix-free (fixed width, or terminated), so
//! a tuple of columns sorts as the tuple of values and an encoded prefix of
//! columns bounds every entry starting with those values. Integers of any
//! width share one form, so an `int4` column compares with an `int8` key;
//! `float4` widens to `float8` the way Postgres compares them.

use crate::keys::RowId;

/// Tag of a non-NULL value.
pub const VALUE: u8 = 0x01;
/// Tag of NULL, sorting after every value.
pub const NULL: u8 = 0x02;

const ESCAPE: u8 = 0xff;
const TERMINATOR: u8 = 0x01;

/// Appends a NULL column.
pub fn put_null(buf: &mut Vec<u8>) {
    buf.push(NULL);
}

/// Appends an integer column (any width; dates and times as their integer
/// count).
pub fn put_int(buf: &mut Vec<u8>, value: i64) {
    buf.push(VALUE);
    buf.extend_from_slice(&((value as u64) ^ (1 << 63)).to_be_bytes());
}

/// Appends a float column in Postgres's order: -inf < … < -0 = 0 < … < +inf < NaN.
pub fn put_float(buf: &mut Vec<u8>, value: f64) {
    let value = if value == 0.0 { 0.0 } else if value.is_nan() { f64::NAN } else { value };
    let bits = value.to_bits();
    let ordered = if bits >> 63 == 1 { !bits } else { bits ^ (1 << 63) };
    buf.push(VALUE);
    buf.extend_from_slice(&ordered.to_be_bytes());
}

/// Appends a boolean column (false < true).
pub fn put_bool(buf: &mut Vec<u8>, value: bool) {
    buf.push(VALUE);
    buf.push(value as u8);
}

/// Appends a variable-length byte string column in byte order.
pub fn put_bytes(buf: &mut Vec<u8>, value: &[u8]) {
    buf.push(VALUE);
    for &byte in value {
        buf.push(byte);
        if byte == 0 {
            buf.push(ESCAPE);
        }
    }
    buf.extend_from_slice(&[0, TERMINATOR]);
}

/// Appends a fixed-width column (every value of the type has the same length).
pub fn put_fixed(buf: &mut Vec<u8>, value: &[u8]) {
    buf.push(VALUE);
    buf.extend_from_slice(value);
}

/// Appends the row id that makes a non-unique entry unique.
pub fn put_row_id(buf: &mut Vec<u8>, row: RowId) {
    buf.extend_from_slice(&row.0.to_be_bytes());
}

/// The row an index entry points at: its 8-byte value (a unique entry), or
/// else the entry's last 8 bytes. `None` if neither holds one.
pub fn entry_row_id(entry: &[u8], value: &[u8]) -> Option<RowId> {
    let bytes = if value.len() == 8 { value } else { entry.get(entry.len().checked_sub(8)?..)? };
    Some(RowId(u64::from_be_bytes(bytes.try_into().ok()?)))
}

/// The first byte string after every string starting with `prefix`, or
/// empty (unbounded) if there is none (`prefix` all 0xFF).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while end.last() == Some(&0xff) {
        end.pop();
    }
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn int(v: i64) -> Vec<u8> {
        let mut buf = Vec::new();
        put_int(&mut buf, v);
        buf
    }

    fn float(v: f64) -> Vec<u8> {
        let mut buf = Vec::new();
        put_float(&mut buf, v);
        buf
    }

    fn bytes(v: &[u8]) -> Vec<u8> {
        let mut buf = Vec::new();
        put_bytes(&mut buf, v);
        buf
    }

    fn null() -> Vec<u8> {
        let mut buf = Vec::new();
        put_null(&mut buf);
        buf
    }

    /// Postgres's float order: NaN equals NaN and sorts above everything.
    fn pg_float_cmp(a: f64, b: f64) -> std::cmp::Ordering {
        match (a.is_nan(), b.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            _ => a.partial_cmp(&b).expect("no NaN left"),
        }
    }

    #[test]
    fn floats_follow_postgres() {
        let order = [f64::NEG_INFINITY, -1e300, -1.0, -1e-300, 0.0, 1e-300, 1.0, f64::INFINITY, f64::NAN];
        for pair in order.windows(2) {
            assert!(float(pair[0]) < float(pair[1]), "{pair:?}");
        }
        assert_eq!(float(-0.0), float(0.0));
        assert_eq!(float(-f64::NAN), float(f64::NAN));
    }

    #[test]
    fn null_sorts_after_values_and_row_ids_are_found() {
        assert!(int(i64::MAX) < null());
        assert!(bytes(&[0xff; 8]) < null());
        let mut entry = int(5);
        put_row_id(&mut entry, RowId(77));
        assert_eq!(entry_row_id(&entry, &[]), Some(RowId(77)));
        assert_eq!(entry_row_id(&int(5), &77u64.to_be_bytes()), Some(RowId(77)));
        assert_eq!(entry_row_id(&[1, 2], &[]), None);
        assert_eq!(prefix_end(&[1, 0xff]), vec![2]);
        assert_eq!(prefix_end(&[0xff]), Vec::<u8>::new());
    }

    proptest! {
        #[test]
        fn ints_sort_as_numbers(a: i64, b: i64) {
            prop_assert_eq!(int(a).cmp(&int(b)), a.cmp(&b));
        }

        #[test]
        fn floats_sort_as_postgres_floats(a: f64, b: f64) {
            prop_assert_eq!(float(a).cmp(&float(b)), pg_float_cmp(a, b));
        }

        #[test]
        fn byte_strings_sort_as_bytes(a: Vec<u8>, b: Vec<u8>) {
            prop_assert_eq!(bytes(&a).cmp(&bytes(&b)), a.cmp(&b));
        }

        #[test]
        fn tuples_sort_as_tuples(a: (Vec<u8>, i64), b: (Vec<u8>, i64)) {
            let encode = |(s, n): &(Vec<u8>, i64)| [bytes(s), int(*n)].concat();
            prop_assert_eq!(encode(&a).cmp(&encode(&b)), a.cmp(&b));
        }

        #[test]
        fn an_encoded_prefix_bounds_its_tuples(a: Vec<u8>, n: i64, m: i64) {
            let prefix = bytes(&a);
            let full = [prefix.clone(), int(n)].concat();
            prop_assert!(full >= prefix && full < prefix_end(&prefix));
            prop_assert!(!int(m).starts_with(&int(n)) || m == n);
        }
    }
}
