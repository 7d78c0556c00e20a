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
//!   bit string      01 escaped bytes 00 01 bits:4 BE   bit, varbit (see [`put_bits`])
//!   fixed           01 bytes                      uuid (16), macaddr(8), inet, tid, timetz
//!   unsigned        01 u64:8 BE                   xid8, pg_lsn
//!   wide integer    01 (i128 ^ sign bit):16 BE    interval (as its comparison span)
//!   decimal         01 class [exponent digits…]   numeric (see [`put_decimal`])
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

/// Appends a bit string column (`bit`, `varbit`) of `bits` bits held in
/// `bytes` (the last one's unused low bits zero, as Postgres keeps them) in
/// `bit_cmp`'s order: the bytes as a byte string, then the shorter first.
pub fn put_bits(buf: &mut Vec<u8>, bytes: &[u8], bits: u32) {
    put_bytes(buf, bytes);
    buf.extend_from_slice(&bits.to_be_bytes());
}

/// Appends a fixed-width column (every value of the type has the same length).
pub fn put_fixed(buf: &mut Vec<u8>, value: &[u8]) {
    buf.push(VALUE);
    buf.extend_from_slice(value);
}

/// Appends an unsigned 64-bit column.
pub fn put_uint(buf: &mut Vec<u8>, value: u64) {
    buf.push(VALUE);
    buf.extend_from_slice(&value.to_be_bytes());
}

/// Appends a 128-bit integer column.
pub fn put_i128(buf: &mut Vec<u8>, value: i128) {
    buf.push(VALUE);
    buf.extend_from_slice(&((value as u128) ^ (1 << 127)).to_be_bytes());
}

/// Classes of a decimal, in order; a finite nonzero value's class byte is
/// followed by its exponent and digits.
const DEC_NEG_INF: u8 = 0x01;
const DEC_NEG: u8 = 0x02;
const DEC_ZERO: u8 = 0x03;
const DEC_POS: u8 = 0x04;
const DEC_POS_INF: u8 = 0x05;
const DEC_NAN: u8 = 0x06;

/// Appends a decimal column, given as Postgres prints a `numeric`
/// (`-12.500`, `0`, `NaN`, `Infinity`, `-Infinity`), in numeric's order:
/// -Infinity < negatives < 0 < positives < Infinity < NaN, equal values
/// (`1.5` and `1.50`) encoded alike.
///
/// A finite nonzero value is 0.d₁d₂…dₙ × 10^e with d₁ ≠ 0 and dₙ ≠ 0:
/// its class, then e (i32, sign bit flipped, big-endian), then each digit
/// as d + 1, then 00. A larger exponent is a larger magnitude; at equal
/// exponents the digits compare left to right and a shorter list (its 00
/// ends first) is the smaller magnitude. A negative value's exponent and
/// digit bytes are inverted, so larger magnitudes sort first.
pub fn put_decimal(buf: &mut Vec<u8>, text: &str) -> Result<(), String> {
    buf.push(VALUE);
    let (negative, magnitude) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    match magnitude {
        "NaN" => {
            buf.push(DEC_NAN);
            return Ok(());
        }
        "Infinity" => {
            buf.push(if negative { DEC_NEG_INF } else { DEC_POS_INF });
            return Ok(());
        }
        _ => {}
    }
    let (whole, fraction) = magnitude.split_once('.').unwrap_or((magnitude, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit())
    {
        return Err(format!("not a decimal number: {text:?}"));
    }
    let digits: Vec<u8> = whole.bytes().chain(fraction.bytes()).map(|b| b - b'0').collect();
    let Some(first) = digits.iter().position(|&d| d != 0) else {
        buf.push(DEC_ZERO);
        return Ok(());
    };
    let last = digits.iter().rposition(|&d| d != 0).expect("a nonzero digit exists");
    let exponent = i32::try_from(whole.len() as i64 - first as i64).map_err(|_| format!("exponent out of range: {text:?}"))?;
    let invert = if negative { 0xff } else { 0x00 };
    buf.push(if negative { DEC_NEG } else { DEC_POS });
    buf.extend(((exponent as u32) ^ (1 << 31)).to_be_bytes().iter().map(|b| b ^ invert));
    buf.extend(digits[first..=last].iter().map(|d| (d + 1) ^ invert));
    buf.push(invert);
    Ok(())
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

    /// A bit string of the bits (true: 1) as Postgres stores it: the bits
    /// packed high bit first, unused low bits zero.
    fn bit_string(bits: &[bool]) -> (Vec<u8>, u32) {
        let mut bytes = vec![0u8; bits.len().div_ceil(8)];
        for (i, &bit) in bits.iter().enumerate() {
            bytes[i / 8] |= u8::from(bit) << (7 - i % 8);
        }
        (bytes, bits.len() as u32)
    }

    /// Postgres's `bit_cmp`: the common bytes, then the shorter first.
    fn pg_bit_cmp(a: &(Vec<u8>, u32), b: &(Vec<u8>, u32)) -> std::cmp::Ordering {
        let common = a.0.len().min(b.0.len());
        a.0[..common].cmp(&b.0[..common]).then(a.1.cmp(&b.1))
    }

    proptest! {
        #[test]
        fn bit_strings_sort_as_postgres_compares_them(
            a in prop::collection::vec(any::<bool>(), 0..20),
            b in prop::collection::vec(any::<bool>(), 0..20),
        ) {
            let (a, b) = (bit_string(&a), bit_string(&b));
            let (mut ea, mut eb) = (Vec::new(), Vec::new());
            put_bits(&mut ea, &a.0, a.1);
            put_bits(&mut eb, &b.0, b.1);
            prop_assert_eq!(ea.cmp(&eb), pg_bit_cmp(&a, &b));
        }
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

    fn decimal(text: &str) -> Vec<u8> {
        let mut buf = Vec::new();
        put_decimal(&mut buf, text).expect("a decimal");
        buf
    }

    /// `mantissa × 10^-scale` as Postgres prints a numeric of that scale.
    fn decimal_text(mantissa: i64, scale: u32) -> String {
        let digits = mantissa.unsigned_abs().to_string();
        let digits = format!("{digits:0>width$}", width = scale as usize + 1);
        let (whole, fraction) = digits.split_at(digits.len() - scale as usize);
        let sign = if mantissa < 0 { "-" } else { "" };
        if scale == 0 { format!("{sign}{whole}") } else { format!("{sign}{whole}.{fraction}") }
    }

    #[test]
    fn decimals_follow_numeric() {
        let order = [
            "-Infinity", "-1000", "-999.5", "-10", "-9.99", "-1.5", "-1", "-0.5", "-0.0001", "0", "0.0001", "0.00011",
            "0.5", "1", "1.05", "1.5", "9.99", "10", "999.5", "1000", "Infinity", "NaN",
        ];
        for pair in order.windows(2) {
            assert!(decimal(pair[0]) < decimal(pair[1]), "{pair:?}");
        }
        assert_eq!(decimal("1.50"), decimal("1.5"));
        assert_eq!(decimal("0.000"), decimal("0"));
        assert_eq!(decimal("-0"), decimal("0"));
        assert_eq!(decimal("0100"), decimal("100"));
        assert!(put_decimal(&mut Vec::new(), "1e5").is_err());
        assert!(put_decimal(&mut Vec::new(), "").is_err());
        // prefix-free: a decimal followed by another column still sorts by the decimal first
        assert!([decimal("1"), int(i64::MAX)].concat() < [decimal("1.5"), int(i64::MIN)].concat());
        assert!([decimal("-1.5"), int(i64::MAX)].concat() < [decimal("-1"), int(i64::MIN)].concat());
    }

    #[test]
    fn wide_and_unsigned_integers_sort_as_numbers() {
        let wide = |v: i128| { let mut b = Vec::new(); put_i128(&mut b, v); b };
        let uint = |v: u64| { let mut b = Vec::new(); put_uint(&mut b, v); b };
        assert!(wide(i128::MIN) < wide(-1) && wide(-1) < wide(0) && wide(0) < wide(i128::MAX));
        assert!(uint(0) < uint(1 << 63) && uint(1 << 63) < uint(u64::MAX));
    }

    proptest! {
        #[test]
        fn decimals_sort_as_numbers(a: i64, sa in 0u32..12, b: i64, sb in 0u32..12) {
            let value = |m: i64, s: u32| i128::from(m) * 10i128.pow(12 - s);
            let (ta, tb) = (decimal_text(a, sa), decimal_text(b, sb));
            prop_assert_eq!(decimal(&ta).cmp(&decimal(&tb)), value(a, sa).cmp(&value(b, sb)), "{} vs {}", ta, tb);
        }

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
