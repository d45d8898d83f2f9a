//! The error convention shared by every area of the crate.
//!
//! Each area (offsets, messages, values, requests, responses, the stream) has its own
//! `thiserror` enum. Every variant maps to a stable, documented `code` string through
//! [`ErrorCode`]; codes never change once released, because JS code switches on them
//! (`err.code === "EDDY_OFFSET_INVALID"`). The web layer builds a JS `Error` whose `name` is
//! the error family and whose `code` is this string.

/// A stable, machine-readable code for an error value.
pub trait ErrorCode {
    /// The stable code, `EDDY_<AREA>_<WHAT>` in upper snake case.
    fn code(&self) -> &'static str;
    /// The JS class family this error belongs to (e.g. `"FetchError"`, `"ParserError"`).
    fn family(&self) -> &'static str;
}
