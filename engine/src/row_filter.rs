//! Row filters the node applies while it scans (a scan's pushed-down
//! `WHERE`): conditions on single columns of a row in the row codec's
//! layout ([`crate::row`]), all of which must hold.
//!
//! A column's bytes are Postgres's datum form (`pg_ext/src/datum.rs`); a
//! condition says how to read them:
//!
//! ```text
//!   Int    1/2/4/8 bytes, little-endian, signed   int2/4/8, date, time, timestamp(tz)
//!   Float  4 or 8 bytes, little-endian IEEE       float4/8: NaN equals NaN, above all
//!   Bytes  the payload, compared bytewise         text/varchar under C order, bytea
//!   Bool   1 byte                                 bool
//! ```
//!
//! A filter only ever *drops* rows the backend would drop too: the backend
//! evaluates its whole `WHERE` again on every row it receives. So wherever
//! a row cannot be judged — it does not decode, a column is missing (a row
//! older than `ADD COLUMN`, whose default only the backend knows), a value
//! has an unexpected width — the row is kept. A comparison with a NULL
//! column is not true, so such a row is dropped, as `WHERE` drops it.

use std::cmp::Ordering;

use crate::row::RowView;

/// How a column's bytes are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Int,
    Float,
    Bytes,
    Bool,
}

/// What a condition asks of a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Test {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    IsNull,
    IsNotNull,
}

/// One condition: `column test value`, the value in the column's form
/// (an Int or Float constant as 8 bytes little-endian, i64 or f64).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    pub column: usize,
    pub kind: Kind,
    pub test: Test,
    pub value: Vec<u8>,
}

/// Whether the encoded `row` may satisfy every condition (see the module
/// documentation for when a row is kept unjudged).
pub fn keeps(row: &[u8], conditions: &[Condition]) -> bool {
    let Ok(view) = RowView::decode(row) else {
        return true;
    };
    conditions.iter().all(|c| holds(&view, c))
}

fn holds(row: &RowView<'_>, c: &Condition) -> bool {
    if c.column >= row.len() {
        return true;
    }
    let value = row.column(c.column);
    match (c.test, value) {
        (Test::IsNull, v) => v.is_none(),
        (Test::IsNotNull, v) => v.is_some(),
        (_, None) => false,
        (test, Some(bytes)) => match compare(c.kind, bytes, &c.value) {
            Some(order) => match test {
                Test::Eq => order == Ordering::Equal,
                Test::Ne => order != Ordering::Equal,
                Test::Lt => order == Ordering::Less,
                Test::Le => order != Ordering::Greater,
                Test::Gt => order == Ordering::Greater,
                Test::Ge => order != Ordering::Less,
                Test::IsNull | Test::IsNotNull => unreachable!("handled above"),
            },
            None => true,
        },
    }
}

/// The order of a column's bytes against a constant; `None` if either
/// does not read as `kind`.
fn compare(kind: Kind, column: &[u8], constant: &[u8]) -> Option<Ordering> {
    match kind {
        Kind::Int => Some(int(column)?.cmp(&int(constant)?)),
        Kind::Float => Some(pg_float_cmp(float(column)?, float(constant)?)),
        Kind::Bytes => Some(column.cmp(constant)),
        Kind::Bool => match (column, constant) {
            ([a], [b]) if *a <= 1 && *b <= 1 => Some(a.cmp(b)),
            _ => None,
        },
    }
}

fn int(bytes: &[u8]) -> Option<i64> {
    Some(match bytes.len() {
        1 => i8::from_le_bytes(bytes.try_into().ok()?) as i64,
        2 => i16::from_le_bytes(bytes.try_into().ok()?) as i64,
        4 => i32::from_le_bytes(bytes.try_into().ok()?) as i64,
        8 => i64::from_le_bytes(bytes.try_into().ok()?),
        _ => return None,
    })
}

fn float(bytes: &[u8]) -> Option<f64> {
    Some(match bytes.len() {
        4 => f32::from_le_bytes(bytes.try_into().ok()?) as f64,
        8 => f64::from_le_bytes(bytes.try_into().ok()?),
        _ => return None,
    })
}

/// Postgres's float order: NaN equals NaN and sorts above everything;
/// -0 equals 0.
fn pg_float_cmp(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.partial_cmp(&b).expect("no NaN left"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::encode_row;
    use proptest::prelude::*;

    fn cond(column: usize, kind: Kind, test: Test, value: &[u8]) -> Condition {
        Condition { column, kind, test, value: value.to_vec() }
    }

    fn int_row(values: &[Option<i32>]) -> Vec<u8> {
        let bytes: Vec<Option<[u8; 4]>> = values.iter().map(|v| v.map(i32::to_le_bytes)).collect();
        let cols: Vec<Option<&[u8]>> = bytes.iter().map(|b| b.as_ref().map(|b| b.as_slice())).collect();
        encode_row(0, &cols)
    }

    fn test_of(order: Ordering, test: Test) -> bool {
        match test {
            Test::Eq => order.is_eq(),
            Test::Ne => order.is_ne(),
            Test::Lt => order.is_lt(),
            Test::Le => order.is_le(),
            Test::Gt => order.is_gt(),
            Test::Ge => order.is_ge(),
            Test::IsNull | Test::IsNotNull => unreachable!(),
        }
    }

    const TESTS: [Test; 6] = [Test::Eq, Test::Ne, Test::Lt, Test::Le, Test::Gt, Test::Ge];

    #[test]
    fn nulls_missing_columns_and_bad_rows() {
        let row = int_row(&[Some(5), None]);
        let five = 5i64.to_le_bytes();
        assert!(keeps(&row, &[cond(0, Kind::Int, Test::Eq, &five)]));
        assert!(!keeps(&row, &[cond(0, Kind::Int, Test::Ne, &five)]));
        // a comparison with NULL is not true; IS NULL is
        assert!(!keeps(&row, &[cond(1, Kind::Int, Test::Eq, &five)]));
        assert!(!keeps(&row, &[cond(1, Kind::Int, Test::Ne, &five)]));
        assert!(keeps(&row, &[cond(1, Kind::Int, Test::IsNull, &[])]));
        assert!(!keeps(&row, &[cond(0, Kind::Int, Test::IsNull, &[])]));
        assert!(keeps(&row, &[cond(0, Kind::Int, Test::IsNotNull, &[])]));
        // a column past the row's end (added later): kept, the backend decides
        assert!(keeps(&row, &[cond(7, Kind::Int, Test::Eq, &five)]));
        // bytes that do not read as the kind: kept
        assert!(keeps(&row, &[cond(0, Kind::Float, Test::Lt, &[1, 2, 3])]));
        assert!(keeps(b"not a row", &[cond(0, Kind::Int, Test::Eq, &five)]));
        // every condition must hold
        let six = 6i64.to_le_bytes();
        assert!(!keeps(&row, &[cond(0, Kind::Int, Test::Ge, &five), cond(0, Kind::Int, Test::Ge, &six)]));
    }

    #[test]
    fn floats_bytes_and_bools_compare_as_postgres() {
        let f = |v: f64| encode_row(0, &[Some(&v.to_le_bytes()[..])]);
        let nan = f64::NAN.to_le_bytes();
        assert!(keeps(&f(f64::NAN), &[cond(0, Kind::Float, Test::Eq, &nan)]));
        assert!(keeps(&f(f64::NAN), &[cond(0, Kind::Float, Test::Gt, &f64::INFINITY.to_le_bytes())]));
        assert!(keeps(&f(-0.0), &[cond(0, Kind::Float, Test::Eq, &0f64.to_le_bytes())]));
        let f4 = encode_row(0, &[Some(&1.5f32.to_le_bytes()[..])]);
        assert!(keeps(&f4, &[cond(0, Kind::Float, Test::Eq, &1.5f64.to_le_bytes())]));
        let text = encode_row(0, &[Some(&b"abc"[..])]);
        assert!(keeps(&text, &[cond(0, Kind::Bytes, Test::Lt, b"abd")]));
        assert!(!keeps(&text, &[cond(0, Kind::Bytes, Test::Lt, b"ab")]));
        let t = encode_row(0, &[Some(&[1u8][..])]);
        assert!(keeps(&t, &[cond(0, Kind::Bool, Test::Eq, &[1])]));
        assert!(!keeps(&t, &[cond(0, Kind::Bool, Test::Eq, &[0])]));
    }

    proptest! {
        #[test]
        fn ints_of_every_width_compare_as_numbers(a: i16, b: i64, t in 0usize..6) {
            let row = encode_row(0, &[Some(&a.to_le_bytes()[..])]);
            let kept = keeps(&row, &[cond(0, Kind::Int, TESTS[t], &b.to_le_bytes())]);
            prop_assert_eq!(kept, test_of((a as i64).cmp(&b), TESTS[t]));
        }

        #[test]
        fn floats_compare_as_postgres_floats(a: f64, b: f64, t in 0usize..6) {
            let row = encode_row(0, &[Some(&a.to_le_bytes()[..])]);
            let kept = keeps(&row, &[cond(0, Kind::Float, TESTS[t], &b.to_le_bytes())]);
            prop_assert_eq!(kept, test_of(pg_float_cmp(a, b), TESTS[t]));
        }
    }
}
