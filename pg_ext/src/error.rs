//! Raising Postgres ERRORs from Rust with a SQLSTATE, as expressions that
//! diverge (`-> !`), so they fit in `match` arms.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;

/// Raises an ERROR with `code` and `message`; never returns.
pub fn raise(code: PgSqlErrorCode, message: impl Into<String>) -> ! {
    report(ErrorReport::new(code, message.into(), "lyra"))
}

/// Raises an ERROR with a DETAIL line.
pub fn raise_detail(code: PgSqlErrorCode, message: impl Into<String>, detail: impl Into<String>) -> ! {
    report(ErrorReport::new(code, message.into(), "lyra").set_detail(detail))
}

/// Raises an ERROR with DETAIL and HINT lines.
pub fn raise_detail_hint(
    code: PgSqlErrorCode,
    message: impl Into<String>,
    detail: impl Into<String>,
    hint: impl Into<String>,
) -> ! {
    report(ErrorReport::new(code, message.into(), "lyra").set_detail(detail).set_hint(hint))
}

fn report(report: ErrorReport) -> ! {
    report.report(PgLogLevel::ERROR);
    unreachable!("an ERROR does not return")
}
