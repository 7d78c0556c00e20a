//! The Lyra tuple slot: a row's encoded bytes, decoded column by column only
//! when the executor asks for them.
//!
//! Heap's `count(*)` never deforms a tuple; a virtual slot would make Lyra
//! decode every column of every row. A Lyra slot instead stores the row
//! bytes (copied into the slot's own memory context) and implements
//! `getsomeattrs`, so a scan that needs the first two columns decodes two,
//! and `count(*)` decodes none.
//!
//! A slot is in one of two modes:
//!
//! | mode | how it got its tuple | `row` | values |
//! |---|---|---|---|
//! | row | [`store`] (Lyra scans and fetches) | the encoded row, in `cx` | decoded lazily into `cx` |
//! | values | `ExecStoreVirtualTuple`, `copyslot`, … by executor code | null | filled by the caller; `materialize` copies by-reference ones into `cx` |
//!
//! Everything the tuple owns lives in `cx`, a small memory context reset
//! when the slot is cleared, so a tuple is valid exactly as long as it stays
//! in its slot — the contract of every slot type.

use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::datum::{decode_columns, decode_row};
use crate::error::raise;

#[repr(C)]
struct LyraSlot {
    base: pg_sys::TupleTableSlot,
    /// Memory the current tuple owns; reset on clear.
    cx: pg_sys::MemoryContext,
    /// The encoded row (row mode), in `cx`; null in values mode.
    row: *const u8,
    row_len: usize,
}

pub static LYRA_SLOT_OPS: pg_sys::TupleTableSlotOps = pg_sys::TupleTableSlotOps {
    base_slot_size: std::mem::size_of::<LyraSlot>(),
    init: Some(init),
    release: Some(release),
    clear: Some(clear),
    getsomeattrs: Some(getsomeattrs),
    getsysattr: Some(getsysattr),
    materialize: Some(materialize),
    copyslot: Some(copyslot),
    get_heap_tuple: None,
    get_minimal_tuple: None,
    copy_heap_tuple: Some(copy_heap_tuple),
    copy_minimal_tuple: Some(copy_minimal_tuple),
};

pub unsafe fn is_lyra_slot(slot: *mut pg_sys::TupleTableSlot) -> bool {
    std::ptr::eq((*slot).tts_ops, &LYRA_SLOT_OPS)
}

/// Stores an encoded row in a Lyra slot (row mode); nothing is decoded yet.
///
/// # Safety
/// `slot` must be a Lyra slot whose descriptor is the row's table's.
pub unsafe fn store(slot: *mut pg_sys::TupleTableSlot, bytes: &[u8]) {
    clear(slot);
    let s = slot as *mut LyraSlot;
    let copy = pg_sys::MemoryContextAlloc((*s).cx, bytes.len().max(1)) as *mut u8;
    std::ptr::copy_nonoverlapping(bytes.as_ptr(), copy, bytes.len());
    (*s).row = copy;
    (*s).row_len = bytes.len();
    (*slot).tts_flags &= !(pg_sys::TTS_FLAG_EMPTY as u16);
    (*slot).tts_nvalid = 0;
}

/// The encoded row a Lyra slot holds, if it holds one in row mode.
///
/// # Safety
/// `slot` is a valid slot; the bytes live as long as its tuple.
pub unsafe fn row_bytes<'a>(slot: *mut pg_sys::TupleTableSlot) -> Option<&'a [u8]> {
    if !is_lyra_slot(slot) || (*slot).tts_flags & pg_sys::TTS_FLAG_EMPTY as u16 != 0 {
        return None;
    }
    let s = slot as *mut LyraSlot;
    (!(*s).row.is_null()).then(|| std::slice::from_raw_parts((*s).row, (*s).row_len))
}

unsafe fn natts(slot: *mut pg_sys::TupleTableSlot) -> usize {
    (*(*slot).tts_tupleDescriptor).natts as usize
}

#[pg_guard]
unsafe extern "C-unwind" fn init(slot: *mut pg_sys::TupleTableSlot) {
    let s = slot as *mut LyraSlot;
    (*s).cx = pg_sys::AllocSetContextCreateInternal((*slot).tts_mcxt, c"lyra tuple".as_ptr(), 0, 1024, 8 << 20);
    (*s).row = std::ptr::null();
    (*s).row_len = 0;
}

#[pg_guard]
unsafe extern "C-unwind" fn release(slot: *mut pg_sys::TupleTableSlot) {
    pg_sys::MemoryContextDelete((*(slot as *mut LyraSlot)).cx);
}

#[pg_guard]
unsafe extern "C-unwind" fn clear(slot: *mut pg_sys::TupleTableSlot) {
    let s = slot as *mut LyraSlot;
    pg_sys::MemoryContextReset((*s).cx);
    (*s).row = std::ptr::null();
    (*s).row_len = 0;
    (*slot).tts_nvalid = 0;
    (*slot).tts_flags |= pg_sys::TTS_FLAG_EMPTY as u16;
    (*slot).tts_flags &= !(pg_sys::TTS_FLAG_SHOULDFREE as u16);
    pgrx::itemptr::item_pointer_set_all(&mut (*slot).tts_tid, pg_sys::InvalidBlockNumber, 0);
}

#[pg_guard]
unsafe extern "C-unwind" fn getsomeattrs(slot: *mut pg_sys::TupleTableSlot, natts: std::ffi::c_int) {
    let s = slot as *mut LyraSlot;
    if (*s).row.is_null() {
        raise(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, "lyra slot asked to decode a tuple it does not hold");
    }
    let row = decode_row(std::slice::from_raw_parts((*s).row, (*s).row_len));
    let from = (*slot).tts_nvalid as usize;
    let to = natts as usize;
    decode_columns((*slot).tts_tupleDescriptor, &row, from, to, (*slot).tts_values, (*slot).tts_isnull, (*s).cx);
    (*slot).tts_nvalid = natts as i16;
}

#[pg_guard]
unsafe extern "C-unwind" fn getsysattr(
    slot: *mut pg_sys::TupleTableSlot,
    attnum: std::ffi::c_int,
    isnull: *mut bool,
) -> pg_sys::Datum {
    if attnum == pg_sys::MinTransactionIdAttributeNumber as std::ffi::c_int {
        *isnull = false;
        return pg_sys::Datum::from(crate::tam::inserting_xid(slot).into_inner());
    }
    if attnum == pg_sys::MaxTransactionIdAttributeNumber as std::ffi::c_int {
        *isnull = false;
        return pg_sys::Datum::from(crate::tam::locking_xid(slot).into_inner());
    }
    raise(
        PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
        format!("lyra rows have no system column {attnum} (only ctid, tableoid, xmin and xmax)"),
    )
}

/// Makes the tuple independent of memory outside the slot: in values mode,
/// copies by-reference values (detoasted and flattened) into `cx`.
#[pg_guard]
unsafe extern "C-unwind" fn materialize(slot: *mut pg_sys::TupleTableSlot) {
    let s = slot as *mut LyraSlot;
    if (*slot).tts_flags & pg_sys::TTS_FLAG_SHOULDFREE as u16 != 0 {
        return;
    }
    if (*s).row.is_null() {
        let tupdesc = (*slot).tts_tupleDescriptor;
        for i in 0..(*slot).tts_nvalid as usize {
            let attr = &*(*tupdesc).attrs.as_ptr().add(i);
            if !*(*slot).tts_isnull.add(i) && !attr.attbyval {
                *(*slot).tts_values.add(i) = copy_datum(*(*slot).tts_values.add(i), attr, (*s).cx);
            }
        }
    }
    (*slot).tts_flags |= pg_sys::TTS_FLAG_SHOULDFREE as u16;
}

unsafe fn copy_datum(value: pg_sys::Datum, attr: &pg_sys::FormData_pg_attribute, cx: pg_sys::MemoryContext) -> pg_sys::Datum {
    let (src, len, temp) = match attr.attlen {
        len if len > 0 => (value.cast_mut_ptr::<u8>(), len as usize, None),
        -1 => {
            let original = value.cast_mut_ptr::<pg_sys::varlena>();
            let plain = pg_sys::pg_detoast_datum_packed(original);
            let temp = (plain != original).then_some(plain);
            (plain as *mut u8, pgrx::varlena::varsize_any(plain), temp)
        }
        _ => {
            let ptr = value.cast_mut_ptr::<u8>();
            (ptr, std::ffi::CStr::from_ptr(ptr as *const std::ffi::c_char).to_bytes_with_nul().len(), None)
        }
    };
    let dest = pg_sys::MemoryContextAlloc(cx, len) as *mut u8;
    std::ptr::copy_nonoverlapping(src, dest, len);
    if let Some(temp) = temp {
        pg_sys::pfree(temp.cast());
    }
    pg_sys::Datum::from(dest)
}

unsafe fn deform_all(slot: *mut pg_sys::TupleTableSlot) {
    let n = natts(slot);
    if ((*slot).tts_nvalid as usize) < n {
        pg_sys::slot_getsomeattrs_int(slot, n as i32);
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn copyslot(dst: *mut pg_sys::TupleTableSlot, src: *mut pg_sys::TupleTableSlot) {
    clear(dst);
    deform_all(src);
    let n = natts(src);
    std::ptr::copy_nonoverlapping((*src).tts_values, (*dst).tts_values, n);
    std::ptr::copy_nonoverlapping((*src).tts_isnull, (*dst).tts_isnull, n);
    (*dst).tts_nvalid = n as i16;
    (*dst).tts_flags &= !(pg_sys::TTS_FLAG_EMPTY as u16);
    materialize(dst);
}

#[pg_guard]
unsafe extern "C-unwind" fn copy_heap_tuple(slot: *mut pg_sys::TupleTableSlot) -> pg_sys::HeapTuple {
    deform_all(slot);
    pg_sys::heap_form_tuple((*slot).tts_tupleDescriptor, (*slot).tts_values, (*slot).tts_isnull)
}

#[pg_guard]
unsafe extern "C-unwind" fn copy_minimal_tuple(slot: *mut pg_sys::TupleTableSlot) -> pg_sys::MinimalTuple {
    deform_all(slot);
    pg_sys::heap_form_minimal_tuple((*slot).tts_tupleDescriptor, (*slot).tts_values, (*slot).tts_isnull)
}
