//! Request URLs for a shape (ref §1): the shape definition plus the per-request position.
//!
//! [`build_url`] turns a [`ShapeDefinition`] and one request's [`RequestParams`] into the URL
//! to fetch. The query is built like the official TypeScript client builds it, so that eddy and
//! TS clients of the same shape share CDN cache entries:
//!
//! - query params already in the base URL are kept (a definition param of the same name
//!   replaces them, like `URLSearchParams.set`);
//! - `table`, `where` (omitted when empty), `params[n]`, `columns` (every name double-quoted,
//!   `"` doubled, joined by `,`), `replica` (sent only for [`Replica::Full`]: the server default
//!   needs no param, matching the TS client when `replica` is unset), `log` (always sent, as the
//!   TS client does), then the `extra` params;
//! - `offset` (always), `handle` (only for `<tx>_<op>` offsets: with `-1`/`now` the server
//!   ignores it), `live=true`, `live_sse=true` + `experimental_live_sse=true` (SSE), `cursor`
//!   (always on live requests, empty before the first `electric-cursor` as the TS client does;
//!   on non-live requests only when set), `cache-buster` and `expired_handle`;
//! - all params sorted by name, stably, comparing UTF-16 code units (`URLSearchParams.sort`;
//!   this differs from byte order only for names mixing characters above U+FFFF with ones in
//!   U+E000..U+FFFF), and encoded as `application/x-www-form-urlencoded` (`URLSearchParams`:
//!   space as `+`). A `#fragment` on the base is dropped (it is never sent anyway).
//!
//! Requests the server would reject with 400 fail early with a typed [`RequestError`]: empty
//! table (unless the base URL carries `table`), empty `columns` list, a reserved name in `extra`
//! or a per-request name in the base URL, SSE without live, live at `-1`/`now`, and a
//! `<tx>_<op>` offset without a handle.

use std::collections::BTreeMap;

use super::offset::Offset;
use crate::error::ErrorCode;

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

impl RequestParams {
    /// The first request of a shape: offset `-1`, no handle, not live.
    pub fn initial() -> Self {
        RequestParams {
            offset: Offset::BeforeAll,
            handle: None,
            live: false,
            sse: false,
            cursor: None,
            cache_buster: None,
            expired_handle: None,
        }
    }
}

impl ShapeDefinition {
    /// A stable canonical string naming the shape, for persistence keys and the expired-handle
    /// cache: the sorted, form-encoded definition params exactly as [`build_url`] sends them
    /// (e.g. `columns=%22id%22&log=full&table=items`), without the base URL and without any
    /// per-request param. Equal definitions give equal identities; the base URL is not part of
    /// it, so callers that talk to several endpoints should key on `(base, identity)`.
    pub fn identity(&self) -> String {
        let mut params = Vec::new();
        self.push_params(&mut params);
        serialize(params)
    }

    /// The definition's own params (not yet sorted).
    fn push_params(&self, out: &mut Vec<(String, String)>) {
        if !self.table.is_empty() {
            set(out, "table", self.table.clone());
        }
        if let Some(w) = self.where_clause.as_deref().filter(|w| !w.is_empty()) {
            set(out, "where", w.to_owned());
        }
        for (n, v) in &self.params {
            set(out, &format!("params[{n}]"), v.clone());
        }
        if let Some(cols) = &self.columns {
            set(out, "columns", quote_columns(cols));
        }
        if self.replica == Replica::Full {
            set(out, "replica", "full".to_owned());
        }
        let log = match self.log {
            LogMode::Full => "full",
            LogMode::ChangesOnly => "changes_only",
        };
        set(out, "log", log.to_owned());
        for (k, v) in &self.extra {
            set(out, k, v.clone());
        }
    }
}

/// Why a request URL could not be built. All of these are client bugs or bad options, never
/// server conditions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The base URL is empty.
    #[error("the shape URL is empty")]
    EmptyUrl,
    /// `table` is empty and the base URL does not carry a `table` param either.
    #[error("the shape has no table")]
    EmptyTable,
    /// `columns` is `Some` but lists no column.
    #[error("columns is an empty list; use None to select every column")]
    EmptyColumns,
    /// An `extra` param uses a name the protocol or the definition owns.
    #[error("extra param {name:?} is reserved by the shape protocol")]
    ReservedParam {
        /// The offending name.
        name: String,
    },
    /// The base URL carries a per-request protocol param (`offset`, `live`, ...), which would
    /// contradict the request being built.
    #[error("the shape URL carries the per-request param {name:?}; remove it")]
    ReservedUrlParam {
        /// The offending name.
        name: String,
    },
    /// `sse` without `live`: the server answers 400.
    #[error("an SSE request must also be live")]
    SseWithoutLive,
    /// `live` with offset `-1` or `now`: the server answers 400.
    #[error("a live request needs a log offset, not {offset}")]
    LiveWithInitialOffset {
        /// The offending offset.
        offset: Offset,
    },
    /// A `<tx>_<op>` offset without a handle: the server answers 400.
    #[error("offset {offset} needs a shape handle")]
    MissingShapeHandle {
        /// The offset that needs a handle.
        offset: Offset,
    },
}

impl ErrorCode for RequestError {
    fn code(&self) -> &'static str {
        match self {
            RequestError::EmptyUrl => "EDDY_REQUEST_EMPTY_URL",
            RequestError::EmptyTable => "EDDY_REQUEST_EMPTY_TABLE",
            RequestError::EmptyColumns => "EDDY_REQUEST_EMPTY_COLUMNS",
            RequestError::ReservedParam { .. } => "EDDY_REQUEST_RESERVED_PARAM",
            RequestError::ReservedUrlParam { .. } => "EDDY_REQUEST_RESERVED_URL_PARAM",
            RequestError::SseWithoutLive => "EDDY_REQUEST_SSE_WITHOUT_LIVE",
            RequestError::LiveWithInitialOffset { .. } => "EDDY_REQUEST_LIVE_INITIAL_OFFSET",
            RequestError::MissingShapeHandle { .. } => "EDDY_REQUEST_MISSING_HANDLE",
        }
    }
    fn family(&self) -> &'static str {
        match self {
            RequestError::EmptyUrl => "MissingShapeUrlError",
            RequestError::ReservedParam { .. } | RequestError::ReservedUrlParam { .. } => {
                "ReservedParamError"
            }
            RequestError::MissingShapeHandle { .. } => "MissingShapeHandleError",
            _ => "InvalidShapeOptionsError",
        }
    }
}

/// Names set per request; never allowed in `extra` or in the base URL.
const PER_REQUEST_PARAMS: [&str; 8] = [
    "offset",
    "handle",
    "live",
    "live_sse",
    "experimental_live_sse",
    "cursor",
    "cache-buster",
    "expired_handle",
];

/// Names the definition itself sets; never allowed in `extra` (the base URL may carry them).
const DEFINITION_PARAMS: [&str; 6] = ["table", "where", "params", "columns", "replica", "log"];

/// True for the per-request protocol names, including every `subset__*` param.
fn is_per_request(name: &str) -> bool {
    PER_REQUEST_PARAMS.contains(&name) || name.starts_with("subset__")
}

/// True for every name an `extra` param may not use.
pub fn is_reserved_param(name: &str) -> bool {
    is_per_request(name) || DEFINITION_PARAMS.contains(&name) || name.starts_with("params[")
}

/// Build the URL of one shape request; see the module docs for what is sent and why.
pub fn build_url(base: &str, shape: &ShapeDefinition, req: &RequestParams) -> Result<String, RequestError> {
    if base.is_empty() {
        return Err(RequestError::EmptyUrl);
    }
    let base = base.split_once('#').map_or(base, |(b, _)| b);
    let (path, query) = base.split_once('?').unwrap_or((base, ""));
    let mut params: Vec<(String, String)> = Vec::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if is_per_request(&k) {
            return Err(RequestError::ReservedUrlParam { name: k.into_owned() });
        }
        params.push((k.into_owned(), v.into_owned()));
    }
    let base_has_table = params.iter().any(|(k, v)| k == "table" && !v.is_empty());
    if shape.table.is_empty() && !base_has_table {
        return Err(RequestError::EmptyTable);
    }
    if shape.columns.as_ref().is_some_and(|c| c.is_empty()) {
        return Err(RequestError::EmptyColumns);
    }
    if let Some(name) = shape.extra.keys().find(|k| is_reserved_param(k)) {
        return Err(RequestError::ReservedParam { name: name.clone() });
    }
    if req.sse && !req.live {
        return Err(RequestError::SseWithoutLive);
    }
    if req.live && req.offset.is_initial() {
        return Err(RequestError::LiveWithInitialOffset { offset: req.offset });
    }
    let handle = req.handle.as_deref().filter(|h| !h.is_empty());
    if !req.offset.is_initial() && handle.is_none() {
        return Err(RequestError::MissingShapeHandle { offset: req.offset });
    }

    shape.push_params(&mut params);
    set(&mut params, "offset", req.offset.to_string());
    if let (false, Some(h)) = (req.offset.is_initial(), handle) {
        set(&mut params, "handle", h.to_owned());
    }
    if req.live {
        set(&mut params, "live", "true".to_owned());
        set(&mut params, "cursor", req.cursor.clone().unwrap_or_default());
    } else if let Some(c) = &req.cursor {
        set(&mut params, "cursor", c.clone());
    }
    if req.sse {
        set(&mut params, "live_sse", "true".to_owned());
        set(&mut params, "experimental_live_sse", "true".to_owned());
    }
    if let Some(cb) = &req.cache_buster {
        set(&mut params, "cache-buster", cb.clone());
    }
    if let Some(eh) = &req.expired_handle {
        set(&mut params, "expired_handle", eh.clone());
    }
    Ok(format!("{path}?{}", serialize(params)))
}

/// `URLSearchParams.set`: replace the first value of `name` and drop its other values, or
/// append.
fn set(params: &mut Vec<(String, String)>, name: &str, value: String) {
    let mut value = Some(value);
    params.retain_mut(|(k, v)| {
        if k != name {
            return true;
        }
        match value.take() {
            Some(new) => {
                *v = new;
                true
            }
            None => false,
        }
    });
    if let Some(value) = value {
        params.push((name.to_owned(), value));
    }
}

/// `URLSearchParams.sort()` then `toString()`.
fn serialize(mut params: Vec<(String, String)>) -> String {
    params.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &params {
        out.append_pair(k, v);
    }
    out.finish()
}

/// Every column double-quoted with `"` doubled, joined by `,` (TS `quoteIdentifier`).
fn quote_columns(cols: &[String]) -> String {
    let quoted: Vec<String> = cols
        .iter()
        .map(|c| format!("\"{}\"", c.replace('"', "\"\"")))
        .collect();
    quoted.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::offset::LogOffset;

    const BASE: &str = "http://localhost:3000/v1/shape";

    fn items() -> ShapeDefinition {
        ShapeDefinition {
            table: "items".into(),
            ..Default::default()
        }
    }

    fn at(tx: u64, op: u64, handle: &str) -> RequestParams {
        RequestParams {
            offset: Offset::Log(LogOffset::new(tx, op)),
            handle: Some(handle.into()),
            ..RequestParams::initial()
        }
    }

    fn url(shape: &ShapeDefinition, req: &RequestParams) -> String {
        build_url(BASE, shape, req).unwrap()
    }

    #[test]
    fn initial_request() {
        assert_eq!(
            url(&items(), &RequestParams::initial()),
            format!("{BASE}?log=full&offset=-1&table=items")
        );
    }

    #[test]
    fn full_definition_sorted_and_encoded() {
        let shape = ShapeDefinition {
            table: "public.items".into(),
            where_clause: Some("a = $1 AND b = $2 OR c = $10".into()),
            params: [(1, "x y".into()), (2, "é&=".into()), (10, "".into())].into(),
            columns: Some(vec!["id".into(), "Title".into(), "we\"ird,col".into()]),
            replica: Replica::Full,
            log: LogMode::ChangesOnly,
            extra: [("zz".into(), "1".into()), ("api_key".into(), "k".into())].into(),
        };
        let req = RequestParams {
            offset: Offset::Now,
            ..RequestParams::initial()
        };
        assert_eq!(
            url(&shape, &req),
            format!(
                "{BASE}?api_key=k&columns=%22id%22%2C%22Title%22%2C%22we%22%22ird%2Ccol%22&log=changes_only\
                 &offset=now&params%5B10%5D=&params%5B1%5D=x+y&params%5B2%5D=%C3%A9%26%3D&replica=full\
                 &table=public.items&where=a+%3D+%241+AND+b+%3D+%242+OR+c+%3D+%2410&zz=1"
            )
        );
    }

    #[test]
    fn live_sse_request_with_busters() {
        let req = RequestParams {
            live: true,
            sse: true,
            cursor: Some("1234".into()),
            cache_buster: Some("cb".into()),
            expired_handle: Some("old-1".into()),
            ..at(26800584, 4, "h-1")
        };
        assert_eq!(
            url(&items(), &req),
            format!(
                "{BASE}?cache-buster=cb&cursor=1234&experimental_live_sse=true&expired_handle=old-1\
                 &handle=h-1&live=true&live_sse=true&log=full&offset=26800584_4&table=items"
            )
        );
    }

    #[test]
    fn first_live_request_sends_empty_cursor() {
        let req = RequestParams {
            live: true,
            ..at(0, 3, "h")
        };
        assert_eq!(
            url(&items(), &req),
            format!("{BASE}?cursor=&handle=h&live=true&log=full&offset=0_3&table=items")
        );
    }

    #[test]
    fn cursor_on_non_live_only_when_set() {
        assert!(!url(&items(), &at(0, 0, "h")).contains("cursor"));
        let req = RequestParams {
            cursor: Some("9".into()),
            ..at(0, 0, "h")
        };
        assert_eq!(
            url(&items(), &req),
            format!("{BASE}?cursor=9&handle=h&log=full&offset=0_0&table=items")
        );
    }

    #[test]
    fn handle_omitted_for_initial_offsets() {
        for offset in [Offset::BeforeAll, Offset::Now] {
            let req = RequestParams {
                offset,
                handle: Some("new-handle".into()),
                ..RequestParams::initial()
            };
            assert!(!url(&items(), &req).contains("handle"), "{offset}");
        }
    }

    #[test]
    fn base_params_kept_and_sorted_fragment_dropped() {
        let got = build_url(
            "https://h/api/shape?z=1&b=%20x&table=ignored#frag",
            &items(),
            &RequestParams::initial(),
        )
        .unwrap();
        assert_eq!(got, "https://h/api/shape?b=+x&log=full&offset=-1&table=items&z=1");
    }

    #[test]
    fn base_table_allows_empty_definition_table() {
        let shape = ShapeDefinition::default();
        let got = build_url("https://h/shape?table=todos", &shape, &RequestParams::initial()).unwrap();
        assert_eq!(got, "https://h/shape?log=full&offset=-1&table=todos");
        assert_eq!(
            build_url(BASE, &shape, &RequestParams::initial()),
            Err(RequestError::EmptyTable)
        );
        let empty = build_url("https://h/shape?table=", &shape, &RequestParams::initial());
        assert_eq!(empty, Err(RequestError::EmptyTable));
    }

    #[test]
    fn extra_overrides_base_param() {
        let mut shape = items();
        shape.extra.insert("token".into(), "new".into());
        let got = build_url(
            "https://h/s?token=old&token=older",
            &shape,
            &RequestParams::initial(),
        )
        .unwrap();
        assert_eq!(got, "https://h/s?log=full&offset=-1&table=items&token=new");
    }

    #[test]
    fn reserved_extra_names_rejected() {
        for name in [
            "offset",
            "handle",
            "live",
            "live_sse",
            "experimental_live_sse",
            "cursor",
            "cache-buster",
            "expired_handle",
            "subset__where",
            "subset__anything",
            "table",
            "where",
            "params",
            "params[1]",
            "columns",
            "replica",
            "log",
        ] {
            let mut shape = items();
            shape.extra.insert(name.into(), "v".into());
            let err = build_url(BASE, &shape, &RequestParams::initial()).unwrap_err();
            assert_eq!(err, RequestError::ReservedParam { name: name.into() });
            assert_eq!(err.code(), "EDDY_REQUEST_RESERVED_PARAM");
            assert_eq!(err.family(), "ReservedParamError");
        }
        let mut shape = items();
        for ok in ["secret", "queryable_columns", "Offset", "subset_", "paramsx"] {
            shape.extra.insert(ok.into(), "v".into());
        }
        assert!(build_url(BASE, &shape, &RequestParams::initial()).is_ok());
    }

    #[test]
    fn per_request_names_rejected_in_base() {
        for q in [
            "offset=0_0",
            "live=true",
            "handle=x",
            "subset__limit=1",
            "cursor=1",
        ] {
            let err = build_url(&format!("{BASE}?{q}"), &items(), &RequestParams::initial()).unwrap_err();
            let name = q.split('=').next().unwrap();
            assert_eq!(err, RequestError::ReservedUrlParam { name: name.into() });
        }
    }

    #[test]
    fn invalid_requests() {
        assert_eq!(
            build_url("", &items(), &RequestParams::initial()),
            Err(RequestError::EmptyUrl)
        );
        let shape = ShapeDefinition {
            columns: Some(vec![]),
            ..items()
        };
        assert_eq!(
            build_url(BASE, &shape, &RequestParams::initial()),
            Err(RequestError::EmptyColumns)
        );
        let sse = RequestParams {
            sse: true,
            ..at(1, 1, "h")
        };
        assert_eq!(build_url(BASE, &items(), &sse), Err(RequestError::SseWithoutLive));
        for offset in [Offset::BeforeAll, Offset::Now] {
            let live = RequestParams {
                offset,
                live: true,
                ..RequestParams::initial()
            };
            let err = build_url(BASE, &items(), &live).unwrap_err();
            assert_eq!(err, RequestError::LiveWithInitialOffset { offset });
        }
        for handle in [None, Some(String::new())] {
            let req = RequestParams {
                handle,
                ..at(5, 0, "")
            };
            let err = build_url(BASE, &items(), &req).unwrap_err();
            assert_eq!(err.code(), "EDDY_REQUEST_MISSING_HANDLE");
            assert_eq!(err.family(), "MissingShapeHandleError");
            assert_eq!(err.to_string(), "offset 5_0 needs a shape handle");
        }
    }

    #[test]
    fn sort_uses_utf16_code_units() {
        // U+FF21 (one UTF-16 unit 0xFF21) sorts after U+1F600 (surrogates 0xD83D..) in UTF-16
        // order, although its UTF-8 bytes sort before.
        let mut shape = items();
        shape.extra.insert("\u{FF21}".into(), "a".into());
        shape.extra.insert("\u{1F600}".into(), "b".into());
        let got = url(&shape, &RequestParams::initial());
        let smile = got.find("%F0%9F%98%80").unwrap();
        let fullwidth = got.find("%EF%BC%A1").unwrap();
        assert!(smile < fullwidth, "{got}");
    }

    #[test]
    fn identity_is_canonical() {
        let a = ShapeDefinition {
            where_clause: Some("x > $1".into()),
            params: [(1, "5".into())].into(),
            ..items()
        };
        assert_eq!(
            a.identity(),
            "log=full&params%5B1%5D=5&table=items&where=x+%3E+%241"
        );
        let same = ShapeDefinition {
            where_clause: Some("x > $1".into()),
            params: [(1, "5".into())].into(),
            replica: Replica::Default,
            ..items()
        };
        assert_eq!(a.identity(), same.identity());
        let full = ShapeDefinition {
            replica: Replica::Full,
            ..a.clone()
        };
        assert_ne!(a.identity(), full.identity());
        let empty_where = ShapeDefinition {
            where_clause: Some(String::new()),
            ..items()
        };
        assert_eq!(empty_where.identity(), items().identity());
    }
}
