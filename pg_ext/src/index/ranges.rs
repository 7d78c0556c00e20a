//! From an index scan's keys to the key ranges of index entries it reads.
//!
//! ```text
//!   keys on columns 1..k-1 all `=`, column k `>`/`>=` and/or `<`/`<=`:
//!   start = prefix · enc(=1) … enc(=k-1) · enc(lower) (· successor if `>`)
//!   end   = prefix · enc(=1) … enc(=k-1) · enc(upper) (· successor if `<=`)
//! ```
//!
//! Keys the encoding cannot bound by (text under a libc collation whose
//! order is not byte order, or an older index's text under an ICU one —
//! see `collated` — non-deterministic collations there, a key of another type
//! of the column's btree family that encodes differently, such as a date
//! against a timestamp column) just do not narrow the range. The executor
//! rechecks every tuple, so the range only has to cover the matches —
//! unless every scan key is an equality that became part of the prefix:
//! then the range is exact and says so.
//!
//! An `= ANY(array)` key (`IN (…)`) stands for one key per element: the
//! scan reads one range per combination of elements, in index order, with
//! overlapping ranges merged so that no entry is read twice. An empty
//! array matches nothing; past [`MAX_RANGES`] combinations the scan reads
//! one range bounded by the other keys and the executor rechecks the lists.

use lyra_engine::keys::memcmp;
use pgrx::pg_sys;

use super::entry::{encodes_like, IndexShape};

/// Most ranges the element lists of `= ANY` keys expand to.
const MAX_RANGES: usize = 10_000;

/// A key range of a scan's keys.
pub struct KeyRange {
    pub start: Vec<u8>,
    pub end: Vec<u8>,
    /// The range holds exactly the entries that match the scan keys (all
    /// of them equalities the encoding decides): no recheck needed. The
    /// unique check of a NULLS NOT DISTINCT index counts on it, since a
    /// recheck never matches NULL.
    pub exact: bool,
    /// Every key column has an equality (or `IS NULL`), in `start`.
    whole_key: bool,
    /// One of those is `IS NULL`.
    null_key: bool,
}

impl KeyRange {
    /// The range is the one entry of a unique index: a point lookup.
    pub fn is_point(&self, shape: &IndexShape) -> bool {
        let unique_entry = shape.unique && (!self.null_key || shape.nulls_not_distinct);
        unique_entry && self.exact && self.whole_key
    }
}

/// The key range holding every entry that can satisfy `keys`; `None` if
/// none can (a key compares with NULL).
unsafe fn key_range(shape: &IndexShape, keys: &[pg_sys::ScanKeyData]) -> Option<KeyRange> {
    let is_null = |k: &pg_sys::ScanKeyData| k.sk_flags & pg_sys::SK_ISNULL as i32 != 0;
    let searches_null = |k: &pg_sys::ScanKeyData| k.sk_flags & pg_sys::SK_SEARCHNULL as i32 != 0;
    // A comparison with NULL matches nothing; `IS NULL` (only the unique
    // check of a NULLS NOT DISTINCT index asks it) matches NULL entries.
    if keys.iter().any(|k| is_null(k) && !searches_null(k)) {
        return None;
    }
    let mut prefix = shape.prefix();
    // Keys that became part of the equality prefix: if that is all of
    // them, the range holds exactly the matches.
    let mut used = 0;
    let mut null_key = false;
    for (col, &(typ, _)) in shape.columns.iter().enumerate() {
        let on_col = |strategies: &[u16]| {
            keys.iter().find(|k| {
                let arg_type = if k.sk_subtype == pg_sys::InvalidOid { typ } else { k.sk_subtype };
                k.sk_attno as usize == col + 1 && strategies.contains(&k.sk_strategy) && encodes_like(arg_type, typ)
            })
        };
        let (ordered, equal) = shape.semantics(col);
        let encode = |key: &pg_sys::ScanKeyData| {
            let arg_type = if key.sk_subtype == pg_sys::InvalidOid { typ } else { key.sk_subtype };
            let mut bound = prefix.clone();
            shape.encode_value(&mut bound, col, arg_type, key.sk_argument);
            bound
        };
        if keys.iter().any(|k| k.sk_attno as usize == col + 1 && searches_null(k)) {
            memcmp::put_null(&mut prefix);
            used += 1;
            null_key = true;
            continue;
        }
        if equal {
            if let Some(key) = on_col(&[pg_sys::BTEqualStrategyNumber as u16]) {
                prefix = encode(key);
                used += 1;
                continue;
            }
        }
        if !ordered {
            let end = memcmp::prefix_end(&prefix);
            return Some(KeyRange { start: prefix, end, exact: false, whole_key: false, null_key });
        }
        let lower = on_col(&[pg_sys::BTGreaterStrategyNumber as u16, pg_sys::BTGreaterEqualStrategyNumber as u16]);
        let upper = on_col(&[pg_sys::BTLessStrategyNumber as u16, pg_sys::BTLessEqualStrategyNumber as u16]);
        if lower.is_none() && upper.is_none() {
            let end = memcmp::prefix_end(&prefix);
            return Some(KeyRange { start: prefix, end, exact: used == keys.len(), whole_key: false, null_key });
        }
        // A comparison is never true for NULL: the range holds values only.
        let start = match lower {
            Some(k) if k.sk_strategy == pg_sys::BTGreaterStrategyNumber as u16 => memcmp::prefix_end(&encode(k)),
            Some(k) => encode(k),
            None => [prefix.as_slice(), &[memcmp::VALUE]].concat(),
        };
        let end = match upper {
            Some(k) if k.sk_strategy == pg_sys::BTLessEqualStrategyNumber as u16 => memcmp::prefix_end(&encode(k)),
            Some(k) => encode(k),
            None => [prefix.as_slice(), &[memcmp::NULL]].concat(),
        };
        return Some(KeyRange { start, end, exact: false, whole_key: false, null_key });
    }
    let end = memcmp::prefix_end(&prefix);
    Some(KeyRange { start: prefix, end, exact: used == keys.len(), whole_key: true, null_key })
}


/// The key ranges holding every entry that can satisfy `keys`, in key
/// order and disjoint; none if nothing can.
///
/// # Safety
/// `keys` are valid scan keys of an index of `shape`.
pub unsafe fn key_ranges(shape: &IndexShape, keys: &[pg_sys::ScanKeyData]) -> Vec<KeyRange> {
    let is_array = |k: &pg_sys::ScanKeyData| k.sk_flags & pg_sys::SK_SEARCHARRAY as i32 != 0;
    let arrays: Vec<(usize, Vec<pg_sys::Datum>)> =
        keys.iter().enumerate().filter(|(_, k)| is_array(k)).map(|(i, k)| (i, array_elements(k))).collect();
    if arrays.is_empty() {
        return key_range(shape, keys).into_iter().collect();
    }
    if arrays.iter().any(|(_, elements)| elements.is_empty()) {
        return Vec::new();
    }
    let combinations = arrays.iter().try_fold(1usize, |n, (_, elements)| n.checked_mul(elements.len()));
    let Some(combinations) = combinations.filter(|&n| n <= MAX_RANGES) else {
        let others: Vec<_> = keys.iter().filter(|k| !is_array(k)).copied().collect();
        return key_range(shape, &others).map(|range| KeyRange { exact: false, ..range }).into_iter().collect();
    };
    let mut chosen = keys.to_vec();
    let mut ranges = Vec::with_capacity(combinations);
    for n in 0..combinations {
        let mut rest = n;
        for (i, elements) in &arrays {
            chosen[*i].sk_argument = elements[rest % elements.len()];
            chosen[*i].sk_flags &= !(pg_sys::SK_SEARCHARRAY as i32);
            rest /= elements.len();
        }
        ranges.extend(key_range(shape, &chosen));
    }
    merge(ranges)
}

/// The non-NULL elements of an `= ANY` key's array (NULL never matches).
unsafe fn array_elements(key: &pg_sys::ScanKeyData) -> Vec<pg_sys::Datum> {
    if key.sk_flags & pg_sys::SK_ISNULL as i32 != 0 {
        return Vec::new();
    }
    let array = pg_sys::pg_detoast_datum(key.sk_argument.cast_mut_ptr()) as *mut pg_sys::ArrayType;
    let element_type = (*array).elemtype;
    let (mut len, mut byval, mut align) = (0i16, false, 0 as std::ffi::c_char);
    pg_sys::get_typlenbyvalalign(element_type, &mut len, &mut byval, &mut align);
    let (mut values, mut nulls, mut n) = (std::ptr::null_mut(), std::ptr::null_mut(), 0);
    pg_sys::deconstruct_array(array, element_type, len.into(), byval, align, &mut values, &mut nulls, &mut n);
    (0..n as usize).filter(|&i| !*nulls.add(i)).map(|i| *values.add(i)).collect()
}

/// `ranges` sorted by start, overlapping ones merged (duplicate elements,
/// or keys that did not narrow their ranges). A union of ranges that each
/// hold only matches holds only matches.
fn merge(mut ranges: Vec<KeyRange>) -> Vec<KeyRange> {
    ranges.sort_by(|a, b| a.start.cmp(&b.start));
    let mut merged: Vec<KeyRange> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(last) if last.end.is_empty() || range.start < last.end => {
                if !last.end.is_empty() && (range.end.is_empty() || range.end > last.end) {
                    last.end = range.end;
                }
                last.exact &= range.exact;
                last.whole_key &= range.whole_key && last.start == range.start;
                last.null_key |= range.null_key;
            }
            _ => merged.push(range),
        }
    }
    merged
}

/// What a scan with `keys` reads, for `EXPLAIN VERBOSE`: entries (point
/// lookups) or ranges of entries, as the bytes of their keys past the
/// index's prefix, in hex.
///
/// # Safety
/// `index` is a `lyra_index` on `heap`; `keys` are its scan keys.
pub unsafe fn describe(index: pg_sys::Relation, heap: pg_sys::Relation, keys: &[pg_sys::ScanKeyData]) -> String {
    let shape = IndexShape::of(index, heap);
    let prefix = shape.prefix();
    let ranges = key_ranges(&shape, keys);
    let hex = |key: &[u8], whole: &str| match key.strip_prefix(prefix.as_slice()) {
        Some([]) | None => whole.to_string(),
        Some(rest) => format!("0x{}", rest.iter().map(|b| format!("{b:02x}")).collect::<String>()),
    };
    let points = ranges.iter().all(|r| r.is_point(&shape));
    let shown: Vec<String> = ranges
        .iter()
        .take(3)
        .map(|r| match points {
            true => hex(&r.start, "?"),
            false => format!("[{}, {})", hex(&r.start, "index start"), hex(&r.end, "index end")),
        })
        .collect();
    let more = if ranges.len() > shown.len() { ", …" } else { "" };
    match (ranges.len(), points) {
        (0, _) => "none (no key can match)".into(),
        (1, true) => format!("point {}", shown[0]),
        (1, false) => shown[0].clone(),
        (n, true) => format!("{n} points: {}{more}", shown.join(", ")),
        (n, false) => format!("{n} ranges: {}{more}", shown.join(", ")),
    }
}
