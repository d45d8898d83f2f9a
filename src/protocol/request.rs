//! Request URLs for a shape (ref §1): the shape definition plus the per-request position.

use std::collections::BTreeMap;

use super::offset::Offset;

/// `replica` mode (part of shape identity).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Replica {
    /// Updates carry PK + changed columns, deletes carry the PK.
    #[default]
    Default,
    /// Full rows and `old_value`.
    Full,
}

/// `log` mode (part of shape identity).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum LogMode {
    /// Initial snapshot plus changes.
    #[default]
    Full,
    /// Changes only (use with `offset=now`).
    ChangesOnly,
}

/// What a shape is: identical definitions give identical URLs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShapeDefinition {
    /// Root table, `name` or `schema.name`.
    pub table: String,
    /// Postgres boolean expression, may use `$1..$n`.
    pub where_clause: Option<String>,
    /// Values for `$n` placeholders, by position (1-based).
    pub params: BTreeMap<u32, String>,
    /// Projection; quoted on the wire. Must include the PK columns.
    pub columns: Option<Vec<String>>,
    /// Replica mode.
    pub replica: Replica,
    /// Log mode.
    pub log: LogMode,
    /// Other query params (for proxies); protocol names are rejected.
    pub extra: BTreeMap<String, String>,
}

/// Where one request reads from, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestParams {
    /// Offset to read from.
    pub offset: Offset,
    /// Shape handle (sent unless the offset is `-1`/`now`).
    pub handle: Option<String>,
    /// Long-poll (or SSE with `sse`).
    pub live: bool,
    /// Live over SSE.
    pub sse: bool,
    /// Last `electric-cursor` (live requests).
    pub cursor: Option<String>,
    /// Random value added after a 409 so caches cannot answer.
    pub cache_buster: Option<String>,
    /// The handle last seen 409'd for this shape (cache-key buster).
    pub expired_handle: Option<String>,
}
