//! Postgres tuples ⇄ engine rows (DESIGN §3).
//!
//! A row holds each column in Postgres's own datum form, so decoding is a
//! copy, never a type-specific parse:
//!
//! | column kind | stored bytes |
//! |---|---|
//! | by value (`attbyval`, 1/2/4/8 bytes) | the datum's low `attlen` bytes, little-endian |
//! | fixed length by reference (`attlen > 0`: uuid, interval, name…) | the `attlen` bytes pointed to |
//! | varlena (`attlen = -1`: text, numeric, bytea, jsonb, arrays…) | the detoasted, decompressed payload, without its header |
//! | cstring (`attlen = -2`) | the bytes before the NUL |
//! | NULL, or a dropped column | NULL in the row's null bitmap |
//!
//! The engine's row codec frames these (schema version, null bitmap,
//! lengths). A row shorter than the tuple descriptor predates an `ALTER
//! TABLE ADD COLUMN`; its missing columns take the column's missing value
//! (`getmissingattr`), as heap does. Datums are machine-endian: all nodes of
//! a cluster share one architecture.
//!
//! Scans hand out Lyra slots ([`crate::slot`]) that keep the row's bytes
//! and decode a column only when the executor asks for it.

use lyra_engine::row::{encode_row_into, RowView};

/// A 4-byte varlena header.
const VARHDRSZ: usize = 4;
use pgrx::pg_sys;
use crate::error::raise;
use pgrx::prelude::*;

/// Encodes the tuple in `slot` as a row.
///
/// # Safety
/// `slot` must be a valid slot holding a tuple.
pub unsafe fn encode_slot(slot: *mut pg_sys::TupleTableSlot, out: &mut Vec<u8>) {
    let tupdesc = (*slot).tts_tupleDescriptor;
    let natts = (*tupdesc).natts as usize;
    if ((*slot).tts_nvalid as usize) < natts {
        pg_sys::slot_getsomeattrs_int(slot, natts as i32);
    }
    let values = std::slice::from_raw_parts((*slot).tts_values, natts);
    let isnull = std::slice::from_raw_parts((*slot).tts_isnull, natts);
    encode_values(tupdesc, values, isnull, out);
}

/// Encodes `values`/`isnull`, one per attribute of `tupdesc`, as a row.
///
/// # Safety
/// `values` and `isnull` hold one datum of each attribute's type.
pub unsafe fn encode_values(tupdesc: pg_sys::TupleDesc, values: &[pg_sys::Datum], isnull: &[bool], out: &mut Vec<u8>) {
    let natts = values.len();
    let mut byval = vec![[0u8; 8]; natts];
    let mut detoasted = Vec::new();
    let mut columns: Vec<Option<&[u8]>> = Vec::with_capacity(natts);
    for i in 0..natts {
        let attr = &*(*tupdesc).attrs.as_ptr().add(i);
        if isnull[i] || attr.attisdropped {
            columns.push(None);
        } else if attr.attbyval {
            let len = attr.attlen as usize;
            byval[i] = (values[i].value() as u64).to_le_bytes();
            columns.push(Some(std::slice::from_raw_parts(byval[i].as_ptr(), len)));
        } else {
            columns.push(Some(by_reference(attr, values[i], &mut detoasted)));
        }
    }
    encode_row_into(out, 0, &columns);
    for copy in detoasted {
        pg_sys::pfree(copy);
    }
}

/// The bytes of a by-reference datum; detoasted copies are remembered in
/// `detoasted` for the caller to free once the row is encoded.
unsafe fn by_reference<'a>(
    attr: &pg_sys::FormData_pg_attribute,
    value: pg_sys::Datum,
    detoasted: &mut Vec<*mut std::ffi::c_void>,
) -> &'a [u8] {
    let ptr = value.cast_mut_ptr::<u8>();
    match attr.attlen {
        len if len > 0 => std::slice::from_raw_parts(ptr, len as usize),
        -1 => {
            let original = ptr as *mut pg_sys::varlena;
            let plain = pg_sys::pg_detoast_datum_packed(original);
            if plain != original {
                detoasted.push(plain.cast());
            }
            let len = pgrx::varlena::varsize_any_exhdr(plain);
            std::slice::from_raw_parts(pgrx::varlena::vardata_any(plain) as *const u8, len)
        }
        -2 => std::ffi::CStr::from_ptr(ptr as *const std::ffi::c_char).to_bytes(),
        other => raise(PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("lyra cannot store a column with attlen {other}")
        ),
    }
}

/// Stores the row `bytes` in `slot`. A Lyra slot keeps the bytes and
/// decodes columns when they are asked for; any other slot gets every column
/// decoded now and copies the tuple into its own memory.
///
/// # Safety
/// `slot` must be a valid slot whose descriptor is the row's table's.
pub unsafe fn store_row(slot: *mut pg_sys::TupleTableSlot, bytes: &[u8]) {
    if crate::slot::is_lyra_slot(slot) {
        crate::slot::store(slot, bytes);
        return;
    }
    let row = decode_row(bytes);
    let tupdesc = (*slot).tts_tupleDescriptor;
    clear_slot(slot);
    let natts = (*tupdesc).natts as usize;
    decode_columns(tupdesc, &row, 0, natts, (*slot).tts_values, (*slot).tts_isnull, pg_sys::CurrentMemoryContext);
    pg_sys::ExecStoreVirtualTuple(slot);
    if let Some(materialize) = (*(*slot).tts_ops).materialize {
        materialize(slot);
    }
}

/// Parses a row's framing; an undecodable row is an ERROR.
pub fn decode_row(bytes: &[u8]) -> RowView<'_> {
    match RowView::decode(bytes) {
        Ok(row) => row,
        Err(e) => raise(PgSqlErrorCode::ERRCODE_DATA_CORRUPTED, format!("lyra row cannot be decoded: {e}")),
    }
}

/// Decodes columns `[from, to)` of `row` into `values`/`isnull`; by-reference
/// values are allocated in `cx`. Columns the row predates (ALTER TABLE ADD
/// COLUMN) take their missing value; dropped columns are NULL.
///
/// # Safety
/// `values` and `isnull` must have room for `to` entries of `tupdesc`.
pub unsafe fn decode_columns(
    tupdesc: pg_sys::TupleDesc,
    row: &RowView,
    from: usize,
    to: usize,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    cx: pg_sys::MemoryContext,
) {
    for i in from..to {
        let a = &*(*tupdesc).attrs.as_ptr().add(i);
        let (value, null) = match row.column(i) {
            _ if a.attisdropped => (pg_sys::Datum::from(0usize), true),
            Some(col) if a.attbyval => (byval_datum(a.attlen, col), false),
            Some(col) => {
                let dest = pg_sys::MemoryContextAlloc(cx, stored_size(a, col)) as *mut u8;
                write_by_reference(a, col, dest);
                (pg_sys::Datum::from(dest), false)
            }
            None if i < row.len() => (pg_sys::Datum::from(0usize), true),
            None => {
                let mut null = false;
                (pg_sys::getmissingattr(tupdesc, i as i32 + 1, &mut null), null)
            }
        };
        *values.add(i) = value;
        *isnull.add(i) = null;
    }
}

unsafe fn byval_datum(attlen: i16, col: &[u8]) -> pg_sys::Datum {
    let v: i64 = match (attlen, col.len()) {
        (1, 1) => col[0] as i8 as i64,
        (2, 2) => i16::from_le_bytes([col[0], col[1]]) as i64,
        (4, 4) => i32::from_le_bytes(col.try_into().expect("length matched")) as i64,
        (8, 8) => i64::from_le_bytes(col.try_into().expect("length matched")),
        _ => raise(PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
            format!("lyra row holds {} bytes for a {attlen}-byte column", col.len())
        ),
    };
    pg_sys::Datum::from(v as usize)
}

fn stored_size(attr: &pg_sys::FormData_pg_attribute, col: &[u8]) -> usize {
    match attr.attlen {
        len if len > 0 => len as usize,
        -1 => col.len() + VARHDRSZ,
        _ => col.len() + 1,
    }
}

/// Writes a by-reference value at `dest`; returns the bytes used.
unsafe fn write_by_reference(attr: &pg_sys::FormData_pg_attribute, col: &[u8], dest: *mut u8) -> usize {
    let size = stored_size(attr, col);
    match attr.attlen {
        len if len > 0 => {
            if col.len() != len as usize {
                raise(PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
                    format!("lyra row holds {} bytes for a {len}-byte column", col.len())
                );
            }
            std::ptr::copy_nonoverlapping(col.as_ptr(), dest, col.len());
        }
        -1 => {
            pgrx::varlena::set_varsize_4b(dest as *mut pg_sys::varlena, size as i32);
            std::ptr::copy_nonoverlapping(col.as_ptr(), dest.add(VARHDRSZ), col.len());
        }
        _ => {
            std::ptr::copy_nonoverlapping(col.as_ptr(), dest, col.len());
            *dest.add(col.len()) = 0;
        }
    }
    size
}

/// `ExecClearTuple`: a static inline in C.
pub unsafe fn clear_slot(slot: *mut pg_sys::TupleTableSlot) {
    if let Some(clear) = (*(*slot).tts_ops).clear {
        clear(slot);
    }
}

