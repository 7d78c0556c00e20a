//! Which `WHERE` clauses the node can judge for itself, in its own terms
//! (`lyra_engine::row_filter`): a column of a pushable type compared with
//! a constant by one of its btree operators, or tested for NULL.
//!
//! ```text
//!   column type                     constant          operators
//!   int2/4/8                        int2/4/8          = <> < <= > >=
//!   date, time, timestamp(tz)       the same type     = <> < <= > >=
//!   float4/8                        float4/8          = <> < <= > >=  (NaN as Postgres orders it)
//!   text, varchar                   text, varchar     = <>  (deterministic collation)
//!                                                     < <= > >=  (C, POSIX, C.UTF-8)
//!   bytea                           bytea             = <> < <= > >=
//!   bool                            bool              = <>
//!   any                             —                 IS NULL, IS NOT NULL
//! ```
//!
//! The constant may also be a parameter of a prepared statement or a
//! PL/pgSQL variable (`$1` in a generic plan): the clause is pushed when
//! planned, and its value taken when the scan starts ([`Values::Run`]);
//! a NULL or missing value keeps that clause in the backend only.
//!
//! Anything else stays with the backend. Pushed clauses are evaluated by
//! the backend too (the node keeps what it cannot judge), so a clause the
//! node misjudged in the keeping direction costs only transfer; the
//! translation must never make the node drop a row the clause accepts.

use lyra_cluster::protocol::{RowCondition, ValueKind, ValueTest};
use pgrx::pg_sys;

use crate::index::entry::byte_semantics;

/// Where the values of parameters come from.
#[derive(Clone, Copy)]
pub enum Values {
    /// Planning: a parameter's value is not known; a clause with one is
    /// pushable, and its condition's value is left empty.
    Plan,
    /// A scan starting: the statement's parameters.
    Run(pg_sys::ParamListInfo),
}

/// The node's form of `clause` (a qual of relation `relid`), if it has one.
///
/// # Safety
/// `clause` is a valid expression node.
pub unsafe fn condition(clause: *mut pg_sys::Node, relid: pg_sys::Index, values: Values) -> Option<RowCondition> {
    if clause.is_null() {
        return None;
    }
    match (*clause).type_ {
        pg_sys::NodeTag::T_NullTest => {
            let test = clause as *mut pg_sys::NullTest;
            let column = column_of(strip((*test).arg.cast()), relid)?;
            if (*test).argisrow {
                return None;
            }
            let test = match (*test).nulltesttype {
                pg_sys::NullTestType::IS_NULL => ValueTest::IsNull,
                _ => ValueTest::IsNotNull,
            };
            Some(RowCondition { column: column.0, kind: ValueKind::Int as i32, test: test as i32, value: Vec::new() })
        }
        pg_sys::NodeTag::T_OpExpr => comparison(clause as *mut pg_sys::OpExpr, relid, values),
        _ => None,
    }
}

/// `column op constant` or `constant op column`.
unsafe fn comparison(op: *mut pg_sys::OpExpr, relid: pg_sys::Index, values: Values) -> Option<RowCondition> {
    let args = (*op).args;
    if args.is_null() || (*args).length != 2 {
        return None;
    }
    let (left, right) = (strip(pg_sys::list_nth(args, 0).cast()), strip(pg_sys::list_nth(args, 1).cast()));
    let (var, constant, flipped) = match (column_of(left, relid), column_of(right, relid)) {
        (Some(var), None) => (var, right, false),
        (None, Some(var)) => (var, left, true),
        _ => return None,
    };
    // The constant's type, and its value (None: known only at run time).
    let (const_type, value) = match (*constant).type_ {
        pg_sys::NodeTag::T_Const => {
            let c = constant as *mut pg_sys::Const;
            if (*c).constisnull {
                return None;
            }
            ((*c).consttype, Some((*c).constvalue))
        }
        pg_sys::NodeTag::T_Param => {
            let p = constant as *mut pg_sys::Param;
            if (*p).paramkind != pg_sys::ParamKind::PARAM_EXTERN {
                return None;
            }
            let value = match values {
                Values::Plan => None,
                Values::Run(params) => Some(param_value(params, (*p).paramid, (*p).paramtype)?),
            };
            ((*p).paramtype, value)
        }
        _ => return None,
    };
    let (column, column_type) = var;
    let kind = kind_of(column_type, const_type)?;
    let mut test = test_of((*op).opno, column_type)?;
    if flipped {
        test = match test {
            ValueTest::Lt => ValueTest::Gt,
            ValueTest::Le => ValueTest::Ge,
            ValueTest::Gt => ValueTest::Lt,
            ValueTest::Ge => ValueTest::Le,
            other => other,
        };
    }
    let ordering = !matches!(test, ValueTest::Eq | ValueTest::Ne);
    match kind {
        ValueKind::Bool if ordering => return None,
        ValueKind::Bytes if column_type != pg_sys::BYTEAOID => {
            let (ordered, equal) = byte_semantics(pg_sys::TEXTOID, (*op).inputcollid);
            if !equal || ordering && !ordered {
                return None;
            }
        }
        _ => {}
    }
    let value = match value {
        Some(datum) => constant_bytes(kind, const_type, datum)?,
        None => Vec::new(),
    };
    Some(RowCondition { column, kind: kind as i32, test: test as i32, value })
}

/// The value of external parameter `id` of type `typ` (not NULL), if the
/// statement has it.
unsafe fn param_value(params: pg_sys::ParamListInfo, id: i32, typ: pg_sys::Oid) -> Option<pg_sys::Datum> {
    if params.is_null() || id <= 0 || id > (*params).numParams {
        return None;
    }
    let mut workspace = pg_sys::ParamExternData::default();
    let param = match (*params).paramFetch {
        Some(fetch) => fetch(params, id, false, &mut workspace),
        None => (*params).params.as_mut_ptr().add(id as usize - 1),
    };
    if param.is_null() || (*param).isnull || (*param).ptype != typ {
        return None;
    }
    Some((*param).value)
}

/// The expression under any binary-compatible relabelling (`varchar` as
/// `text`).
unsafe fn strip(mut node: *mut pg_sys::Node) -> *mut pg_sys::Node {
    while !node.is_null() && (*node).type_ == pg_sys::NodeTag::T_RelabelType {
        node = (*(node as *mut pg_sys::RelabelType)).arg.cast();
    }
    node
}

/// The row column (0-based) and type of a plain column of `relid`.
unsafe fn column_of(node: *mut pg_sys::Node, relid: pg_sys::Index) -> Option<(u32, pg_sys::Oid)> {
    if node.is_null() || (*node).type_ != pg_sys::NodeTag::T_Var {
        return None;
    }
    let var = node as *mut pg_sys::Var;
    if (*var).varno as pg_sys::Index != relid || (*var).varlevelsup != 0 || (*var).varattno <= 0 {
        return None;
    }
    Some(((*var).varattno as u32 - 1, (*var).vartype))
}

/// How the node reads a column of `column_type` compared with a constant
/// of `const_type`, if both read alike.
fn kind_of(column_type: pg_sys::Oid, const_type: pg_sys::Oid) -> Option<ValueKind> {
    use pg_sys::*;
    let ints = [INT2OID, INT4OID, INT8OID];
    let floats = [FLOAT4OID, FLOAT8OID];
    let texts = [TEXTOID, VARCHAROID];
    if ints.contains(&column_type) && ints.contains(&const_type) {
        Some(ValueKind::Int)
    } else if [DATEOID, TIMEOID, TIMESTAMPOID, TIMESTAMPTZOID].contains(&column_type) && column_type == const_type {
        Some(ValueKind::Int)
    } else if floats.contains(&column_type) && floats.contains(&const_type) {
        Some(ValueKind::Float)
    } else if texts.contains(&column_type) && texts.contains(&const_type) {
        Some(ValueKind::Bytes)
    } else if column_type == BYTEAOID && const_type == BYTEAOID {
        Some(ValueKind::Bytes)
    } else if column_type == BOOLOID && const_type == BOOLOID {
        Some(ValueKind::Bool)
    } else {
        None
    }
}

/// What operator `opno` tests, as a member of the default btree family of
/// `column_type` (or the negator of its equality: `<>`).
unsafe fn test_of(opno: pg_sys::Oid, column_type: pg_sys::Oid) -> Option<ValueTest> {
    // The type cache has it (planning runs this for every comparison).
    let family = (*pg_sys::lookup_type_cache(column_type, pg_sys::TYPECACHE_BTREE_OPFAMILY as i32)).btree_opf;
    if family == pg_sys::InvalidOid {
        return None;
    }
    let strategy = pg_sys::get_op_opfamily_strategy(opno, family);
    Some(match strategy as u32 {
        pg_sys::BTLessStrategyNumber => ValueTest::Lt,
        pg_sys::BTLessEqualStrategyNumber => ValueTest::Le,
        pg_sys::BTEqualStrategyNumber => ValueTest::Eq,
        pg_sys::BTGreaterEqualStrategyNumber => ValueTest::Ge,
        pg_sys::BTGreaterStrategyNumber => ValueTest::Gt,
        _ => {
            let negator = pg_sys::get_negator(opno);
            let equal = pg_sys::BTEqualStrategyNumber as i32;
            if negator == pg_sys::InvalidOid || pg_sys::get_op_opfamily_strategy(negator, family) != equal {
                return None;
            }
            ValueTest::Ne
        }
    })
}

/// A constant in the node's form: Int and Float as 8 bytes little-endian
/// (i64, f64), Bytes as the payload, Bool as one byte.
unsafe fn constant_bytes(kind: ValueKind, typ: pg_sys::Oid, value: pg_sys::Datum) -> Option<Vec<u8>> {
    use pg_sys::*;
    let raw = value.value() as u64;
    Some(match kind {
        ValueKind::Int => {
            let v = match typ {
                INT2OID => raw as i16 as i64,
                INT4OID | DATEOID => raw as i32 as i64,
                _ => raw as i64,
            };
            v.to_le_bytes().to_vec()
        }
        ValueKind::Float => {
            let v = if typ == FLOAT4OID { f32::from_bits(raw as u32) as f64 } else { f64::from_bits(raw) };
            v.to_le_bytes().to_vec()
        }
        ValueKind::Bool => vec![(raw & 0xff != 0) as u8],
        ValueKind::Bytes => {
            let original = value.cast_mut_ptr::<pg_sys::varlena>();
            let plain = pg_sys::pg_detoast_datum_packed(original);
            let len = pgrx::varlena::varsize_any_exhdr(plain);
            let bytes = std::slice::from_raw_parts(pgrx::varlena::vardata_any(plain) as *const u8, len).to_vec();
            if plain != original {
                pg_sys::pfree(plain.cast());
            }
            bytes
        }
    })
}

/// The clauses of `clauses` (expressions, or RestrictInfos) the node can
/// judge, and their conditions (parameters' values from `values`).
///
/// # Safety
/// `clauses` is a valid List of expression nodes or RestrictInfos.
pub unsafe fn pushable(
    clauses: *mut pg_sys::List,
    relid: pg_sys::Index,
    values: Values,
) -> (*mut pg_sys::List, Vec<RowCondition>) {
    let mut pushed: *mut pg_sys::List = std::ptr::null_mut();
    let mut conditions = Vec::new();
    for clause in crate::hooks::list_nodes(clauses) {
        let expr = if (*clause).type_ == pg_sys::NodeTag::T_RestrictInfo {
            let info = clause as *mut pg_sys::RestrictInfo;
            if (*info).pseudoconstant {
                continue;
            }
            (*info).clause.cast()
        } else {
            clause
        };
        if let Some(condition) = condition(expr, relid, values) {
            pushed = pg_sys::lappend(pushed, expr.cast());
            conditions.push(condition);
        }
    }
    (pushed, conditions)
}
