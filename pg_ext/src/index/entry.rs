//! Index entries: Postgres datums of an index's key columns → engine keys
//! in the memcomparable encoding of [`lyra_engine::keys::memcmp`].
//!
//! ```text
//!   unique index, no NULL key column   /t/{table}/i/{index}/{cols}          → row id (8 bytes)
//!   any other entry                    /t/{table}/i/{index}/{cols}{row id}  → (empty)
//! ```
//!
//! A unique entry's key *is* the constraint: two rows with the same key
//! columns would write the same engine key, so inserting one locks that key
//! on the node first and fails with 23505 if a live entry for another row
//! is there.

use lyra_engine::keys::memcmp;
use lyra_engine::keys::{Key, KeyPrefix, RowId, TableId};
use pgrx::pg_sys;
use pgrx::prelude::*;

use super::collated::Collated;
use crate::error::raise;
use crate::table::KeyFormat;

/// What encoding an index needs to know about it.
pub struct IndexShape {
    pub table: TableId,
    pub index: TableId,
    /// Key columns: the type the operator class takes, and the collation.
    pub columns: Vec<(pg_sys::Oid, pg_sys::Oid)>,
    /// For each key column, whether it is text keyed by its ICU
    /// collation's sort key ([`Collated`]).
    collated: Vec<Option<Collated>>,
    /// Entries are keyed by their columns alone, the key being the
    /// constraint (a unique index checked immediately).
    pub unique: bool,
    pub nulls_not_distinct: bool,
}

impl IndexShape {
    /// The shape of `index` on `heap`.
    ///
    /// # Safety
    /// Both are open relations; `index` is a `lyra_index` on `heap`.
    pub unsafe fn of(index: pg_sys::Relation, heap: pg_sys::Relation) -> IndexShape {
        let form = (*index).rd_index;
        let nkeys = (*form).indnkeyatts as usize;
        let columns: Vec<_> = (0..nkeys)
            .map(|i| (*(*index).rd_opcintype.add(i), *(*index).rd_indcollation.add(i)))
            .collect();
        let format = crate::table::key_format(index);
        let collated = (0..nkeys)
            .map(|i| Collated::for_column(format, *(*index).rd_opfamily.add(i), columns[i].0, columns[i].1))
            .collect();
        IndexShape {
            collated,
            table: crate::table::table_id(heap),
            index: crate::table::table_id(index),
            columns,
            // A DEFERRABLE unique index may hold duplicates until its
            // check: its entries are laid out as a non-unique index's.
            unique: (*form).indisunique && (*form).indimmediate,
            nulls_not_distinct: (*form).indnullsnotdistinct,
        }
    }

    /// The key prefix of every entry.
    pub fn prefix(&self) -> Vec<u8> {
        KeyPrefix::Index { table: self.table, index: self.index }.encode()
    }

    /// The entry of a row with key columns `values`/`isnull`: its key, its
    /// value, and whether the key is the unique constraint (no row id in it).
    ///
    /// # Safety
    /// `values` and `isnull` hold one datum per key column, of its type.
    pub unsafe fn entry(&self, values: &[pg_sys::Datum], isnull: &[bool], row: RowId) -> (Vec<u8>, Vec<u8>, bool) {
        let mut cols = Vec::with_capacity(16 * self.columns.len());
        for (i, &(typ, _)) in self.columns.iter().enumerate() {
            if isnull[i] {
                memcmp::put_null(&mut cols);
            } else {
                self.encode_value(&mut cols, i, typ, values[i]);
            }
        }
        let has_null = isnull[..self.columns.len()].iter().any(|n| *n);
        let constrained = self.unique && (!has_null || self.nulls_not_distinct);
        if constrained {
            let key = Key::IndexEntry { table: self.table, index: self.index, entry: cols }.encode();
            (key, row.0.to_be_bytes().to_vec(), true)
        } else {
            memcmp::put_row_id(&mut cols, row);
            let key = Key::IndexEntry { table: self.table, index: self.index, entry: cols }.encode();
            (key, Vec::new(), false)
        }
    }

    /// Appends the key of `value` (of type `typ`: the column's, or a scan
    /// key's of the same encoding) for key column `column`.
    ///
    /// # Safety
    /// `value` is a non-NULL datum of type `typ`.
    pub unsafe fn encode_value(&self, buf: &mut Vec<u8>, column: usize, typ: pg_sys::Oid, value: pg_sys::Datum) {
        match &self.collated[column] {
            Some(collated) => collated.encode(buf, typ, value),
            None => encode_datum(buf, typ, value),
        }
    }

    /// Whether key column `column`'s entries are in Postgres's order of
    /// its values, and equal exactly when the values are.
    ///
    /// # Safety
    /// Looks the collation up.
    pub unsafe fn semantics(&self, column: usize) -> (bool, bool) {
        match self.collated[column] {
            Some(_) => (true, true),
            None => byte_semantics(self.columns[column].0, self.columns[column].1),
        }
    }
}

/// Whether an index of key format `format` keeps the entries of a key
/// column of type `typ` (operator family `family`) under `collation` in
/// Postgres's order of its values, and equal exactly when the values are:
/// [`byte_semantics`], unless the column is keyed by sort key.
///
/// # Safety
/// Looks the collation up.
pub unsafe fn key_semantics(format: KeyFormat, family: pg_sys::Oid, typ: pg_sys::Oid, collation: pg_sys::Oid) -> (bool, bool) {
    match Collated::for_column(format, family, typ, collation) {
        Some(_) => (true, true),
        None => byte_semantics(typ, collation),
    }
}

/// The types [`encode_datum`] encodes (operator classes' input types;
/// `anyarray` and `record` take any array and composite value).
const ENCODED: [pg_sys::Oid; 37] = {
    use pg_sys::*;
    [
        INT2OID, INT4OID, INT8OID, OIDOID, DATEOID, TIMEOID, TIMESTAMPOID, TIMESTAMPTZOID, BOOLOID, FLOAT4OID,
        FLOAT8OID, TEXTOID, VARCHAROID, BPCHAROID, NAMEOID, BYTEAOID, UUIDOID, NUMERICOID, INETOID, CIDROID,
        MACADDROID, MACADDR8OID, INTERVALOID, XID8OID, PG_LSNOID, MONEYOID, CHAROID, TIMETZOID, TIDOID, ANYENUMOID,
        ANYARRAYOID, RECORDOID, JSONBOID, ANYRANGEOID, ANYMULTIRANGEOID, BITOID, VARBITOID,
    ]
};

/// The types of [`ENCODED`] made of parts of other types (arrays,
/// composites, ranges, multiranges): which parts the index's column type
/// holds decides whether its keys can be encoded ([`cannot_key`]).
pub const WITH_PARTS: [pg_sys::Oid; 4] =
    [pg_sys::ANYARRAYOID, pg_sys::RECORDOID, pg_sys::ANYRANGEOID, pg_sys::ANYMULTIRANGEOID];

/// Whether lyra_index can encode values of `typ` (an operator class's
/// input type).
pub fn supported(typ: pg_sys::Oid) -> bool {
    ENCODED.contains(&typ)
}

/// The type of [`ENCODED`] a value of the column type `typ` is encoded
/// as: itself, a domain's base type's, `anyenum` for an enum, `anyarray`
/// for an array, `record` for a composite type; `None` if none.
///
/// # Safety
/// Looks types up in the catalog.
pub unsafe fn encoded_as(typ: pg_sys::Oid) -> Option<pg_sys::Oid> {
    use pg_sys::*;
    if supported(typ) {
        return Some(typ);
    }
    match pg_sys::get_typtype(typ) as u8 {
        b'd' => encoded_as(pg_sys::getBaseType(typ)),
        b'e' => Some(ANYENUMOID),
        b'c' => Some(RECORDOID),
        b'r' => Some(ANYRANGEOID),
        b'm' => Some(ANYMULTIRANGEOID),
        _ if pg_sys::get_element_type(typ) != InvalidOid => Some(ANYARRAYOID),
        _ => None,
    }
}

/// Why values of the column type `typ` under `collation` cannot be keys
/// whose bytes are equal exactly when the values are (an array's or a
/// composite's parts included), or `None` if they can. An anonymous
/// `record`'s fields are known only from its values: they are checked as
/// they are encoded.
///
/// # Safety
/// Looks types up in the catalog.
pub unsafe fn cannot_key(typ: pg_sys::Oid, collation: pg_sys::Oid) -> Option<String> {
    use pg_sys::*;
    let Some(encoded) = encoded_as(typ) else {
        return Some(format!("values of type {}", type_name(typ)));
    };
    let text = [TEXTOID, VARCHAROID, BPCHAROID, NAMEOID].contains(&encoded);
    if text && collation != InvalidOid && !pg_sys::get_collation_isdeterministic(collation) {
        return Some(format!("{} under a nondeterministic collation inside an array or composite key", type_name(typ)));
    }
    parts_of(typ, collation).into_iter().find_map(|(part, collation)| cannot_key(part, collation))
}

/// Whether values of the column type `typ` hold values of the composite
/// type `target`: it, a domain over it, an array or range of it, or a
/// composite with such a field.
///
/// # Safety
/// Looks types up in the catalog.
pub unsafe fn holds(typ: pg_sys::Oid, target: pg_sys::Oid) -> bool {
    typ == target
        || pg_sys::getBaseType(typ) == target
        || parts_of(typ, pg_sys::InvalidOid).into_iter().any(|(part, _)| holds(part, target))
}

/// The types of the parts a value of the column type `typ` (under
/// `collation`) is made of, each with the collation it compares under: an
/// array's elements, a range's bounds (under the range type's own
/// collation), a multirange's ranges, a composite's fields; none for
/// other types, and for an anonymous record (its fields come with each
/// value).
///
/// # Safety
/// Looks types up in the catalog.
unsafe fn parts_of(typ: pg_sys::Oid, collation: pg_sys::Oid) -> Vec<(pg_sys::Oid, pg_sys::Oid)> {
    use pg_sys::*;
    let base = pg_sys::getBaseType(typ);
    match encoded_as(typ) {
        Some(ANYARRAYOID) => vec![(pg_sys::get_element_type(base), collation)],
        Some(ANYRANGEOID) => vec![(pg_sys::get_range_subtype(base), pg_sys::get_range_collation(base))],
        Some(ANYMULTIRANGEOID) => vec![(pg_sys::get_multirange_range(base), collation)],
        Some(RECORDOID) if base != RECORDOID => fields_of(base, -1).into_iter().flatten().collect(),
        _ => Vec::new(),
    }
}

/// The fields of the composite type `typ` (`typmod`: which anonymous
/// record), in order: each one's type and collation, `None` for a dropped
/// column.
///
/// # Safety
/// `typ` is a composite type (or `record` with a registered `typmod`).
unsafe fn fields_of(typ: pg_sys::Oid, typmod: i32) -> Vec<Option<(pg_sys::Oid, pg_sys::Oid)>> {
    let desc = pg_sys::lookup_rowtype_tupdesc(typ, typmod);
    let fields = (0..(*desc).natts as usize)
        .map(|i| &*(*desc).attrs.as_ptr().add(i))
        .map(|a| (!a.attisdropped).then_some((a.atttypid, a.attcollation)))
        .collect();
    pg_sys::DecrTupleDescRefCount(desc);
    fields
}

unsafe fn type_name(typ: pg_sys::Oid) -> String {
    let name = pg_sys::format_type_be(typ);
    std::ffi::CStr::from_ptr(name).to_string_lossy().into_owned()
}

/// Whether a value of type `arg` encodes in the order and equality of a
/// column of type `column`, so that a scan key of type `arg` on that
/// column can bound a range of its entries. btree's families relate more
/// types than that (date with timestamp, timestamp with timestamptz):
/// those keys do not narrow the range; the executor's recheck applies them.
pub fn encodes_like(arg: pg_sys::Oid, column: pg_sys::Oid) -> bool {
    use pg_sys::*;
    const FAMILIES: [&[Oid]; 4] =
        [&[INT2OID, INT4OID, INT8OID], &[FLOAT4OID, FLOAT8OID], &[TEXTOID, VARCHAROID, NAMEOID], &[INETOID, CIDROID]];
    arg == column || FAMILIES.iter().any(|f| f.contains(&arg) && f.contains(&column))
}

/// Appends `value` of type `typ` in memcomparable form.
///
/// # Safety
/// `value` is a valid datum of `typ`.
pub unsafe fn encode_datum(buf: &mut Vec<u8>, typ: pg_sys::Oid, value: pg_sys::Datum) {
    use pg_sys::*;
    let raw = value.value() as u64;
    match typ {
        INT2OID => memcmp::put_int(buf, raw as i16 as i64),
        INT4OID | DATEOID => memcmp::put_int(buf, raw as i32 as i64),
        BOOLOID => memcmp::put_bool(buf, raw & 0xff != 0),
        FLOAT4OID => memcmp::put_float(buf, f32::from_bits(raw as u32) as f64),
        FLOAT8OID => memcmp::put_float(buf, f64::from_bits(raw)),
        INT8OID | TIMEOID | TIMESTAMPOID | TIMESTAMPTZOID | MONEYOID => memcmp::put_int(buf, raw as i64),
        OIDOID | ANYENUMOID => memcmp::put_int(buf, raw as u32 as i64),
        XID8OID | PG_LSNOID => memcmp::put_uint(buf, raw),
        CHAROID => memcmp::put_fixed(buf, &[raw as u8]),
        UUIDOID => memcmp::put_fixed(buf, by_ref(value, 16)),
        MACADDROID => memcmp::put_fixed(buf, by_ref(value, 6)),
        MACADDR8OID => memcmp::put_fixed(buf, by_ref(value, 8)),
        TIDOID => {
            // ItemPointerData: block number as two 16-bit halves, then the offset.
            let tid = &*value.cast_mut_ptr::<pg_sys::ItemPointerData>();
            let block = (u32::from(tid.ip_blkid.bi_hi) << 16) | u32::from(tid.ip_blkid.bi_lo);
            memcmp::put_fixed(buf, &[block.to_be_bytes().as_slice(), &tid.ip_posid.to_be_bytes()].concat());
        }
        TIMETZOID => {
            // timetz_cmp: the UTC instant, then the zone (seconds west of UTC).
            let t = &*value.cast_mut_ptr::<pg_sys::TimeTzADT>();
            let instant = t.time + i64::from(t.zone) * 1_000_000;
            let mut bytes = ((instant as u64) ^ (1 << 63)).to_be_bytes().to_vec();
            bytes.extend_from_slice(&((t.zone as u32) ^ (1 << 31)).to_be_bytes());
            memcmp::put_fixed(buf, &bytes);
        }
        INTERVALOID => {
            // interval_cmp_value: months count 30 days; equal spans are equal intervals.
            let i = &*value.cast_mut_ptr::<pg_sys::Interval>();
            let day_count = i64::from(i.month) * 30 + i64::from(i.day);
            memcmp::put_i128(buf, i128::from(i.time) + i128::from(day_count) * 86_400_000_000);
        }
        NUMERICOID => {
            let text = pg_sys::OidOutputFunctionCall(pg_sys::Oid::from(pg_sys::F_NUMERIC_OUT), value);
            let printed = std::ffi::CStr::from_ptr(text).to_str().unwrap_or_default().to_owned();
            pg_sys::pfree(text.cast());
            if let Err(e) = memcmp::put_decimal(buf, &printed) {
                raise(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, e);
            }
        }
        INETOID | CIDROID => put_inet(buf, value),
        ANYARRAYOID => put_array(buf, value),
        RECORDOID => put_record(buf, value),
        JSONBOID => put_jsonb(buf, value),
        ANYRANGEOID => put_range(buf, value),
        ANYMULTIRANGEOID => put_multirange(buf, value),
        NAMEOID => memcmp::put_bytes(buf, std::ffi::CStr::from_ptr(value.cast_mut_ptr()).to_bytes()),
        BITOID | VARBITOID => {
            // VarBit: the 4-byte varlena header, the length in bits, the bits.
            let original = value.cast_mut_ptr::<pg_sys::varlena>();
            let plain = pg_sys::pg_detoast_datum(original);
            let data = pgrx::varlena::vardata_any(plain) as *const u8;
            let bits = std::ptr::read_unaligned(data.cast::<i32>()) as u32;
            let bytes = std::slice::from_raw_parts(data.add(4), bits.div_ceil(8) as usize);
            memcmp::put_bits(buf, bytes, bits);
            if plain != original {
                pg_sys::pfree(plain.cast());
            }
        }
        TEXTOID | VARCHAROID | BYTEAOID | BPCHAROID => {
            let original = value.cast_mut_ptr::<pg_sys::varlena>();
            let plain = pg_sys::pg_detoast_datum_packed(original);
            let len = pgrx::varlena::varsize_any_exhdr(plain);
            let mut bytes = std::slice::from_raw_parts(pgrx::varlena::vardata_any(plain) as *const u8, len);
            if typ == BPCHAROID {
                // char(n) compares without its trailing blanks.
                while let [rest @ .., b' '] = bytes {
                    bytes = rest;
                }
            }
            memcmp::put_bytes(buf, bytes);
            if plain != original {
                pg_sys::pfree(plain.cast());
            }
        }
        other => raise(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("lyra_index cannot encode values of type {}", other.to_u32()),
        ),
    }
}

/// Ends the parts of an array, composite, multirange or jsonb container:
/// before any part's tag (`VALUE`, NULL, a jsonb token), so a shorter
/// list whose parts start a longer one's sorts first and never equals it.
const END_OF_PARTS: u8 = 0x00;

/// The type of [`ENCODED`] the parts of type `typ` of an array or
/// composite value are encoded as; an error if none.
unsafe fn part_encoding(typ: pg_sys::Oid) -> pg_sys::Oid {
    match encoded_as(typ) {
        Some(encoded) => encoded,
        None => raise(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("lyra_index cannot encode values of type {}", type_name(typ)),
        ),
    }
}

/// Appends a part of an array or composite value, `encoded` as that type
/// of [`ENCODED`].
unsafe fn put_part(buf: &mut Vec<u8>, encoded: pg_sys::Oid, value: pg_sys::Datum, isnull: bool) {
    if isnull {
        memcmp::put_null(buf);
    } else {
        encode_datum(buf, encoded, value);
    }
}

/// An array in `array_cmp`'s order: the elements in storage order (a NULL
/// after any value, two NULLs equal), a shorter list first, then the
/// number of dimensions, the dimensions and their lower bounds.
unsafe fn put_array(buf: &mut Vec<u8>, value: pg_sys::Datum) {
    let original = value.cast_mut_ptr::<pg_sys::varlena>();
    let array = pg_sys::pg_detoast_datum(original) as *mut pg_sys::ArrayType;
    let elem = (*array).elemtype;
    let ndim = (*array).ndim as usize;
    // ARR_DIMS and ARR_LBOUND: two int arrays right after the header.
    let dims = (array as *const u8).add(std::mem::size_of::<pg_sys::ArrayType>()) as *const i32;
    let shape: Vec<i32> = std::slice::from_raw_parts(dims, 2 * ndim).to_vec();
    let (mut len, mut byval, mut align) = (0i16, false, 0 as std::ffi::c_char);
    pg_sys::get_typlenbyvalalign(elem, &mut len, &mut byval, &mut align);
    let mut elems: *mut pg_sys::Datum = std::ptr::null_mut();
    let mut nulls: *mut bool = std::ptr::null_mut();
    let mut n = 0;
    pg_sys::deconstruct_array(array, elem, len.into(), byval, align, &mut elems, &mut nulls, &mut n);
    let encoded = part_encoding(elem);
    buf.push(memcmp::VALUE);
    for i in 0..n as usize {
        put_part(buf, encoded, *elems.add(i), *nulls.add(i));
    }
    buf.push(END_OF_PARTS);
    memcmp::put_int(buf, ndim as i64);
    for d in shape {
        memcmp::put_int(buf, i64::from(d));
    }
    if !elems.is_null() {
        pg_sys::pfree(elems.cast());
    }
    if !nulls.is_null() {
        pg_sys::pfree(nulls.cast());
    }
    if array as *mut pg_sys::varlena != original {
        pg_sys::pfree(array.cast());
    }
}

/// A composite value in `record_cmp`'s order: its fields left to right,
/// dropped columns skipped (a NULL after any value, two NULLs equal).
unsafe fn put_record(buf: &mut Vec<u8>, value: pg_sys::Datum) {
    let original = value.cast_mut_ptr::<pg_sys::varlena>();
    let header = pg_sys::pg_detoast_datum(original) as pg_sys::HeapTupleHeader;
    let datum = (*header).t_choice.t_datum;
    let desc = pg_sys::lookup_rowtype_tupdesc(datum.datum_typeid, datum.datum_typmod);
    let mut tuple: pg_sys::HeapTupleData = std::mem::zeroed();
    tuple.t_len = pgrx::varlena::varsize(header as *const pg_sys::varlena) as u32;
    tuple.t_data = header;
    let natts = (*desc).natts as usize;
    let mut values = vec![pg_sys::Datum::from(0); natts];
    let mut nulls = vec![false; natts];
    pg_sys::heap_deform_tuple(&mut tuple, desc, values.as_mut_ptr(), nulls.as_mut_ptr());
    pg_sys::DecrTupleDescRefCount(desc);
    // A named composite type's fields were checked when the index was
    // made (and cannot change under it); an anonymous record's are known now.
    let anonymous = datum.datum_typeid == pg_sys::RECORDOID;
    buf.push(memcmp::VALUE);
    for (i, field) in fields_of(datum.datum_typeid, datum.datum_typmod).into_iter().enumerate() {
        let Some((typ, collation)) = field else { continue };
        if anonymous {
            if let Some(why) = cannot_key(typ, collation) {
                raise(PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED, format!("lyra_index cannot encode {why}"));
            }
        }
        put_part(buf, part_encoding(typ), values[i], nulls[i]);
    }
    buf.push(END_OF_PARTS);
    if header as *mut pg_sys::varlena != original {
        pg_sys::pfree(header.cast());
    }
}

/// A range as `range_eq` compares ranges: empty, or its two bounds, each
/// infinite or a value and whether it is included. Discrete ranges are
/// stored canonical (`[1,3)`, never `[1,2]`), so equal ones are equal here.
unsafe fn put_range(buf: &mut Vec<u8>, value: pg_sys::Datum) {
    let original = value.cast_mut_ptr::<pg_sys::varlena>();
    let range = pg_sys::pg_detoast_datum(original) as *mut pg_sys::RangeType;
    let typcache = pg_sys::lookup_type_cache((*range).rangetypid, pg_sys::TYPECACHE_RANGE_INFO as i32);
    buf.push(memcmp::VALUE);
    put_range_parts(buf, typcache, range);
    if range as *mut pg_sys::varlena != original {
        pg_sys::pfree(range.cast());
    }
}

/// A range's parts, after its tag: see [`put_range`].
unsafe fn put_range_parts(buf: &mut Vec<u8>, typcache: *mut pg_sys::TypeCacheEntry, range: *const pg_sys::RangeType) {
    let mut lower: pg_sys::RangeBound = std::mem::zeroed();
    let mut upper: pg_sys::RangeBound = std::mem::zeroed();
    let mut empty = false;
    pg_sys::range_deserialize(typcache, range, &mut lower, &mut upper, &mut empty);
    if empty {
        buf.push(0x00);
        return;
    }
    buf.push(0x01);
    let bound = part_encoding((*(*typcache).rngelemtype).type_id);
    for b in [lower, upper] {
        if b.infinite {
            buf.push(0x00);
        } else {
            buf.push(0x01);
            encode_datum(buf, bound, b.val);
            buf.push(u8::from(b.inclusive));
        }
    }
}

/// What a multirange is stored as: its header (`MultirangeType`).
#[repr(C)]
struct MultirangeHeader {
    vl_len: i32,
    multirangetypid: pg_sys::Oid,
}

extern "C-unwind" {
    /// multirangetypes.h: the ranges of a multirange, in order.
    fn multirange_deserialize(
        rangetyp: *mut pg_sys::TypeCacheEntry,
        multirange: *const MultirangeHeader,
        range_count: *mut i32,
        ranges: *mut *mut *mut pg_sys::RangeType,
    );
}

/// A multirange as `multirange_eq` compares them: its ranges in order
/// (stored sorted and merged), then the end of the list.
unsafe fn put_multirange(buf: &mut Vec<u8>, value: pg_sys::Datum) {
    let original = value.cast_mut_ptr::<pg_sys::varlena>();
    let multirange = pg_sys::pg_detoast_datum(original) as *mut MultirangeHeader;
    let typcache = pg_sys::lookup_type_cache((*multirange).multirangetypid, pg_sys::TYPECACHE_MULTIRANGE_INFO as i32);
    let range_cache = (*typcache).rngtype;
    let mut count = 0;
    let mut ranges: *mut *mut pg_sys::RangeType = std::ptr::null_mut();
    multirange_deserialize(range_cache, multirange, &mut count, &mut ranges);
    buf.push(memcmp::VALUE);
    for i in 0..count as usize {
        buf.push(memcmp::VALUE);
        put_range_parts(buf, range_cache, *ranges.add(i));
        // Each range was built for the call (an index build encodes many).
        pg_sys::pfree((*ranges.add(i)).cast());
    }
    buf.push(END_OF_PARTS);
    if !ranges.is_null() {
        pg_sys::pfree(ranges.cast());
    }
    if multirange as *mut pg_sys::varlena != original {
        pg_sys::pfree(multirange.cast());
    }
}

/// A jsonb value as the tokens of its tree, equal exactly when `jsonb_eq`
/// says the values are: an object's keys are stored sorted and unique
/// (so in one order), numbers compare as numerics (`1.0` = `1`), strings
/// and keys byte by byte, and a top-level scalar differs from an array of
/// it. Not in `jsonb_cmp`'s order.
unsafe fn put_jsonb(buf: &mut Vec<u8>, value: pg_sys::Datum) {
    use pg_sys::jbvType;
    use pg_sys::JsonbIteratorToken::*;
    // Token tags; a container ends with END_OF_PARTS, before any tag, so
    // a prefix of another container's members never equals it.
    const ARRAY: u8 = 0x10;
    const RAW_SCALAR: u8 = 0x11;
    const OBJECT: u8 = 0x12;
    const KEY: u8 = 0x13;
    const MEMBER: u8 = 0x14;
    let original = value.cast_mut_ptr::<pg_sys::varlena>();
    let jsonb = pg_sys::pg_detoast_datum(original) as *mut pg_sys::Jsonb;
    let mut it = pg_sys::JsonbIteratorInit(&mut (*jsonb).root);
    let mut v: pg_sys::JsonbValue = std::mem::zeroed();
    buf.push(memcmp::VALUE);
    loop {
        match pg_sys::JsonbIteratorNext(&mut it, &mut v, false) {
            WJB_DONE => break,
            WJB_BEGIN_ARRAY => buf.push(if v.val.array.rawScalar { RAW_SCALAR } else { ARRAY }),
            WJB_BEGIN_OBJECT => buf.push(OBJECT),
            WJB_END_ARRAY | WJB_END_OBJECT => buf.push(END_OF_PARTS),
            token => {
                buf.push(if token == WJB_KEY { KEY } else { MEMBER });
                match v.type_ {
                    jbvType::jbvNull => buf.push(0),
                    jbvType::jbvBool => {
                        buf.push(1);
                        memcmp::put_bool(buf, v.val.boolean);
                    }
                    jbvType::jbvNumeric => {
                        buf.push(2);
                        encode_datum(buf, pg_sys::NUMERICOID, pg_sys::Datum::from(v.val.numeric));
                    }
                    jbvType::jbvString => {
                        buf.push(3);
                        let s = v.val.string;
                        memcmp::put_bytes(buf, std::slice::from_raw_parts(s.val as *const u8, s.len as usize));
                    }
                    other => raise(
                        PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                        format!("lyra_index: unexpected jsonb value kind {other}"),
                    ),
                }
            }
        }
    }
    if jsonb as *mut pg_sys::varlena != original {
        pg_sys::pfree(jsonb.cast());
    }
}

/// The `len` bytes a by-reference fixed-length datum points at.
unsafe fn by_ref<'a>(value: pg_sys::Datum, len: usize) -> &'a [u8] {
    std::slice::from_raw_parts(value.cast_mut_ptr::<u8>(), len)
}

/// An `inet`/`cidr` in `network_cmp`'s order: family, then the network
/// part (address masked to its prefix length), then the prefix length,
/// then the whole address. `network_cmp` compares the first min(bits)
/// address bits, then the lengths, then the addresses: where the shorter
/// prefix's bits agree, its masked address is the smaller or equal one,
/// so the masked address then the length give the same order.
unsafe fn put_inet(buf: &mut Vec<u8>, value: pg_sys::Datum) {
    let original = value.cast_mut_ptr::<pg_sys::varlena>();
    let plain = pg_sys::pg_detoast_datum_packed(original);
    let data = std::slice::from_raw_parts(pgrx::varlena::vardata_any(plain) as *const u8, pgrx::varlena::varsize_any_exhdr(plain));
    // inet_struct: family (PGSQL_AF_INET = 2 or PGSQL_AF_INET6 = 3), bits, address (4 or 16 bytes).
    let (family, bits) = (data[0], data[1] as usize);
    let address = &data[2..if family == 2 { 6 } else { 18 }];
    let mut bytes = vec![family];
    bytes.extend(address.iter().enumerate().map(|(i, &b)| {
        let kept = bits.saturating_sub(i * 8).min(8);
        if kept == 0 { 0 } else { b & (0xffu8 << (8 - kept)) }
    }));
    bytes.push(bits as u8);
    bytes.extend_from_slice(address);
    if plain != original {
        pg_sys::pfree(plain.cast());
    }
    memcmp::put_fixed(buf, &bytes);
}

/// Whether byte order of `typ` values under `collation` is Postgres's
/// order (`ordered`) and byte equality its equality (`equal`).
pub unsafe fn byte_semantics(typ: pg_sys::Oid, collation: pg_sys::Oid) -> (bool, bool) {
    use pg_sys::*;
    if WITH_PARTS.contains(&typ) || typ == JSONBOID {
        // Equal values, equal bytes ([`cannot_key`] refuses parts for which
        // that fails); but the parts' order may be a collation's, and the
        // index knows only `anyarray`/`record`/`anyrange`, not the parts —
        // and jsonb's order is its own (`jsonb_cmp`): entries are not taken
        // to be in Postgres's order.
        return (false, true);
    }
    if typ == ANYENUMOID {
        // An enum value is encoded as its label's OID: equal labels, equal
        // bytes, but the labels' order (pg_enum.enumsortorder) may be
        // renumbered by ALTER TYPE … ADD VALUE, so entries are not kept in it.
        return (false, true);
    }
    if ![TEXTOID, VARCHAROID, BPCHAROID, NAMEOID].contains(&typ) || collation == InvalidOid {
        return (true, true);
    }
    if collation == C_COLLATION_OID || collation == POSIX_COLLATION_OID {
        return (true, true);
    }
    let equal = get_collation_isdeterministic(collation);
    (equal && collation_is_bytewise(collation), equal)
}

extern "C-unwind" {
    fn lc_collate_is_c(collation: pg_sys::Oid) -> bool;
}

/// C, POSIX, and glibc's C.UTF-8 (code point order = UTF-8 byte order).
unsafe fn collation_is_bytewise(collation: pg_sys::Oid) -> bool {
    if lc_collate_is_c(collation) {
        return true;
    }
    let name = if collation == pg_sys::DEFAULT_COLLATION_OID {
        let db = pg_sys::SearchSysCache1(pg_sys::SysCacheIdentifier::DATABASEOID as i32, pg_sys::MyDatabaseId.into());
        if db.is_null() {
            return false;
        }
        let mut isnull = false;
        let datum = pg_sys::SysCacheGetAttr(
            pg_sys::SysCacheIdentifier::DATABASEOID as i32,
            db,
            pg_sys::Anum_pg_database_datcollate as i16,
            &mut isnull,
        );
        let name = if isnull { String::new() } else { text_datum(datum) };
        pg_sys::ReleaseSysCache(db);
        name
    } else {
        let coll = pg_sys::SearchSysCache1(pg_sys::SysCacheIdentifier::COLLOID as i32, collation.into());
        if coll.is_null() {
            return false;
        }
        let form = pg_sys::GETSTRUCT(coll) as *mut pg_sys::FormData_pg_collation;
        let libc = (*form).collprovider as u8 == b'c';
        let mut isnull = false;
        let datum = pg_sys::SysCacheGetAttr(
            pg_sys::SysCacheIdentifier::COLLOID as i32,
            coll,
            pg_sys::Anum_pg_collation_collcollate as i16,
            &mut isnull,
        );
        let name = if isnull || !libc { String::new() } else { text_datum(datum) };
        pg_sys::ReleaseSysCache(coll);
        name
    };
    matches!(name.as_str(), "C" | "POSIX" | "C.UTF-8" | "C.utf8")
}

unsafe fn text_datum(datum: pg_sys::Datum) -> String {
    let text = pg_sys::pg_detoast_datum_packed(datum.cast_mut_ptr());
    let len = pgrx::varlena::varsize_any_exhdr(text);
    let bytes = std::slice::from_raw_parts(pgrx::varlena::vardata_any(text) as *const u8, len);
    String::from_utf8_lossy(bytes).into_owned()
}
