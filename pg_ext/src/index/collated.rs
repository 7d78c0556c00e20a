//! Text keys in an ICU collation's order: a lyra_index column of text
//! (`text`, `varchar`, `char(n)`, `name`) under an ICU collation is keyed
//! by the collation's *sort key* (`ucol_getSortKey`), whose bytes compare
//! as the collation compares the strings (ICU's contract; Postgres trusts
//! it for its abbreviated keys too):
//!
//! ```text
//!   deterministic collation      sort key · the text's bytes
//!   nondeterministic collation   sort key
//! ```
//!
//! Under a deterministic collation Postgres breaks a tie between strings
//! the collation finds equal by their bytes (`varstr_cmp`), so the bytes
//! follow; under a nondeterministic one such strings *are* equal
//! (`'abc' = 'ABC'` case-insensitively), and so are their keys — which is
//! what lets a unique index there be enforced by the entry's key.
//!
//! So such an index serves `ORDER BY`, ranges and equality under the
//! collation. Only indexes whose storage mapping says so
//! ([`KeyFormat::Collated`], every lyra_index built from extension 0.9.0
//! on) are keyed this way; one built before keys text by its bytes until
//! it is rebuilt. Text under a libc collation other than C, POSIX or
//! C.UTF-8 keeps its bytes (glibc's `strxfrm` is not trusted to agree
//! with `strcoll`, as Postgres does not trust it), and so does a database
//! whose encoding is not UTF-8 (the key is computed from UTF-16, converted
//! here from UTF-8).

use std::ffi::{c_char, c_void, CString};
use std::sync::OnceLock;

use lyra_engine::keys::memcmp;
use pgrx::pg_sys;
use pgrx::prelude::*;

use super::entry;
use crate::error::raise;
use crate::table::KeyFormat;

/// The text types whose values a collation orders.
const TEXT_TYPES: [pg_sys::Oid; 4] = [pg_sys::TEXTOID, pg_sys::VARCHAROID, pg_sys::BPCHAROID, pg_sys::NAMEOID];

/// Postgres 15's `pg_locale_struct` (utils/pg_locale.h, built with ICU):
/// the provider, whether deterministic, then a union whose ICU member is
/// the locale name and the collator.
#[repr(C)]
struct PgLocale {
    provider: c_char,
    deterministic: bool,
    icu_locale: *const c_char,
    icu_collator: *const c_void,
}

extern "C-unwind" {
    fn pg_newlocale_from_collation(collation: pg_sys::Oid) -> *mut PgLocale;
}

/// `ucol_getSortKey(collator, utf16, length, result, capacity)`: the key's
/// length with its terminating zero byte (more than `capacity`: nothing
/// written whole).
type GetSortKey = unsafe extern "C" fn(*const c_void, *const u16, i32, *mut u8, i32) -> i32;

extern "C" {
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
}

/// ICU's `ucol_getSortKey`, found among the symbols of the ICU library
/// Postgres is linked with. ICU renames its symbols by major version
/// (`ucol_getSortKey_72`) unless built without renaming.
fn get_sort_key() -> Option<GetSortKey> {
    static FOUND: OnceLock<Option<usize>> = OnceLock::new();
    let found = FOUND.get_or_init(|| {
        let names = std::iter::once("ucol_getSortKey".to_string()).chain((40..=120).map(|v| format!("ucol_getSortKey_{v}")));
        names.into_iter().find_map(|name| {
            let name = CString::new(name).ok()?;
            // SAFETY: RTLD_DEFAULT (null) searches the process's global symbols.
            let symbol = unsafe { dlsym(std::ptr::null_mut(), name.as_ptr()) };
            (!symbol.is_null()).then_some(symbol as usize)
        })
    });
    // SAFETY: the symbol is ICU's ucol_getSortKey, of this signature.
    found.map(|address| unsafe { std::mem::transmute::<usize, GetSortKey>(address) })
}

/// A key column of text keyed by its ICU collation's sort key.
#[derive(Clone, Copy)]
pub struct Collated {
    collator: *const c_void,
    deterministic: bool,
}

impl Collated {
    /// How column values of type `typ` (an operator class's input type,
    /// of operator family `family`) under `collation` are keyed in an
    /// index of key format `format`: `Some` if by sort key.
    ///
    /// # Safety
    /// Looks the collation up.
    pub unsafe fn for_column(format: KeyFormat, family: pg_sys::Oid, typ: pg_sys::Oid, collation: pg_sys::Oid) -> Option<Collated> {
        if format != KeyFormat::Collated || !TEXT_TYPES.contains(&typ) {
            return None;
        }
        // The pattern classes compare bytes whatever the collation.
        if family == pg_sys::TEXT_PATTERN_BTREE_FAM_OID || family == pg_sys::BPCHAR_PATTERN_BTREE_FAM_OID {
            return None;
        }
        Collated::of(collation)
    }

    /// The ICU collator of `collation`, if it is an ICU collation in a
    /// UTF-8 database.
    ///
    /// # Safety
    /// Looks the collation up.
    pub unsafe fn of(collation: pg_sys::Oid) -> Option<Collated> {
        if collation == pg_sys::InvalidOid
            || collation == pg_sys::C_COLLATION_OID
            || collation == pg_sys::POSIX_COLLATION_OID
            || pg_sys::GetDatabaseEncoding() != pg_sys::pg_enc::PG_UTF8 as i32
        {
            return None;
        }
        // It may raise an error (a dropped collation): Postgres's longjmp
        // must not cross Rust frames unguarded.
        let locale = pg_sys::ffi::pg_guard_ffi_boundary(|| pg_newlocale_from_collation(collation));
        if locale.is_null() || (*locale).provider as u8 != b'i' || (*locale).icu_collator.is_null() {
            return None;
        }
        Some(Collated { collator: (*locale).icu_collator, deterministic: (*locale).deterministic })
    }

    /// Appends the key of `value`, of type `typ` (one of the text types).
    ///
    /// # Safety
    /// `value` is a non-NULL datum of type `typ`.
    pub unsafe fn encode(&self, buf: &mut Vec<u8>, typ: pg_sys::Oid, value: pg_sys::Datum) {
        let key = with_text(typ, value, |bytes| self.sort_key(bytes));
        memcmp::put_bytes(buf, &key);
        if self.deterministic {
            entry::encode_datum(buf, typ, value);
        }
    }

    /// The collation's sort key of the UTF-8 string `text`, without its
    /// terminating zero byte.
    fn sort_key(&self, text: &[u8]) -> Vec<u8> {
        let Some(get_sort_key) = get_sort_key() else {
            raise(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, "ICU's ucol_getSortKey was not found in this server");
        };
        let Ok(text) = std::str::from_utf8(text) else {
            raise(PgSqlErrorCode::ERRCODE_CHARACTER_NOT_IN_REPERTOIRE, "invalid UTF-8 in a text index key");
        };
        let utf16: Vec<u16> = text.encode_utf16().collect();
        let Ok(length) = i32::try_from(utf16.len()) else {
            raise(PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED, "text index key too long");
        };
        let mut key = vec![0u8; utf16.len() * 3 + 16];
        loop {
            let capacity = i32::try_from(key.len()).unwrap_or(i32::MAX);
            // SAFETY: the collator is Postgres's, alive for the backend;
            // the buffers are as long as said.
            let needed = unsafe { get_sort_key(self.collator, utf16.as_ptr(), length, key.as_mut_ptr(), capacity) };
            if needed <= 0 {
                raise(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, "ICU could not make a sort key");
            }
            if needed <= capacity {
                key.truncate(needed as usize - 1);
                return key;
            }
            key.resize(needed as usize, 0);
        }
    }
}

/// Calls `f` with the bytes of the text value `value` of type `typ` that
/// its comparisons see: `char(n)` without its trailing blanks, `name` up
/// to its terminating zero.
///
/// # Safety
/// `value` is a non-NULL datum of type `typ`.
unsafe fn with_text<T>(typ: pg_sys::Oid, value: pg_sys::Datum, f: impl FnOnce(&[u8]) -> T) -> T {
    if typ == pg_sys::NAMEOID {
        return f(std::ffi::CStr::from_ptr(value.cast_mut_ptr()).to_bytes());
    }
    let original = value.cast_mut_ptr::<pg_sys::varlena>();
    let plain = pg_sys::pg_detoast_datum_packed(original);
    let len = pgrx::varlena::varsize_any_exhdr(plain);
    let mut bytes = std::slice::from_raw_parts(pgrx::varlena::vardata_any(plain) as *const u8, len);
    if typ == pg_sys::BPCHAROID {
        while let [rest @ .., b' '] = bytes {
            bytes = rest;
        }
    }
    let result = f(bytes);
    if plain != original {
        pg_sys::pfree(plain.cast());
    }
    result
}
