//! The stream options as the TypeScript facade sends them (one JSON document, already
//! normalised: `params` keyed by position, custom params as strings), turned into a
//! [`StreamConfig`] plus what only the shell needs (base URL, headers, transport).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::ErrorCode;
use crate::protocol::offset::{Offset, OffsetError};
use crate::protocol::request::{build_url, LogMode, Replica, RequestError, RequestParams, ShapeDefinition};
use crate::stream::{BackoffOptions, ConfigError, StreamConfig};

/// The JSON document the facade passes to the driver's constructor.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DriverOptions {
    /// The shape endpoint (`http://host/v1/shape` or a proxy).
    pub url: String,
    /// The shape definition (the same document a params provider resolves to).
    pub shape: ShapeJson,
    /// Request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Resume offset (`-1`, `now` or a stored one).
    #[serde(default)]
    pub offset: Option<String>,
    /// Resume handle.
    #[serde(default)]
    pub handle: Option<String>,
    /// Keep following changes after the first up-to-date (the official `subscribe`).
    #[serde(default = "yes")]
    pub live: bool,
    /// `"long-poll"`, `"sse"`, `"websocket"` or `"auto"`.
    #[serde(default)]
    pub transport: Option<String>,
    /// Retry timings.
    #[serde(default)]
    pub backoff: Option<BackoffJson>,
    /// Live watchdog in ms; `0` disables it (the official `false`).
    #[serde(default)]
    pub live_request_timeout_ms: Option<u64>,
    /// Type names that have a JS `parser` function: their cells stay text for JS to parse.
    #[serde(default)]
    pub parsers: Vec<String>,
}

/// A shape definition alone, as the facade sends it per request when `params` holds
/// (async) functions, or after `onError` returned `{params}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShapeJson {
    /// Root table.
    #[serde(default)]
    pub table: String,
    /// `where` clause.
    #[serde(default, rename = "where")]
    pub where_clause: Option<String>,
    /// Positional params, 1-based.
    #[serde(default)]
    pub params: BTreeMap<u32, String>,
    /// Projection.
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// `"default"` or `"full"`.
    #[serde(default)]
    pub replica: Option<String>,
    /// `"full"` or `"changes_only"`.
    #[serde(default)]
    pub log: Option<String>,
    /// Custom query params (for proxies).
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

/// `backoffOptions` of the official client.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackoffJson {
    initial_delay: Option<u64>,
    max_delay: Option<u64>,
    multiplier: Option<f64>,
    max_retries: Option<u32>,
}

/// Why the options were refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OptionsError {
    /// The options document is not what the facade should send.
    #[error("invalid stream options: {0}")]
    Json(String),
    /// A value is not one of the accepted names.
    #[error("invalid {name}: {value:?}")]
    BadValue {
        /// The option.
        name: &'static str,
        /// What was given.
        value: String,
    },
    /// `offset` does not parse.
    #[error(transparent)]
    Offset(#[from] OffsetError),
    /// The stream configuration is inconsistent.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The request URL cannot be built (reserved params, empty table, ...).
    #[error(transparent)]
    Request(#[from] RequestError),
}

impl ErrorCode for OptionsError {
    fn code(&self) -> &'static str {
        match self {
            OptionsError::Json(_) => "EDDY_WEB_INVALID_OPTIONS",
            OptionsError::BadValue { .. } => "EDDY_WEB_INVALID_OPTION_VALUE",
            OptionsError::Offset(e) => e.code(),
            OptionsError::Config(e) => e.code(),
            OptionsError::Request(e) => e.code(),
        }
    }
    fn family(&self) -> &'static str {
        match self {
            OptionsError::Offset(_) | OptionsError::Json(_) | OptionsError::BadValue { .. } => {
                "InvalidShapeOptionsError"
            }
            OptionsError::Config(e) => e.family(),
            OptionsError::Request(e) => e.family(),
        }
    }
}

/// The live transport asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// HTTP long-polling.
    LongPoll,
    /// Server-Sent Events read from a streaming fetch body.
    Sse,
    /// One shared WebSocket per `/v1/ws` URL (falls back to long-polling when it cannot open).
    WebSocket,
    /// SSE, falling back to long-polling when connections keep closing early.
    Auto,
}

/// Everything the driver is built from.
#[derive(Debug)]
pub struct Parsed {
    /// For the state machine.
    pub config: StreamConfig,
    /// The shape endpoint.
    pub base_url: String,
    /// Request headers.
    pub headers: Vec<(String, String)>,
    /// The transport.
    pub transport: Transport,
    /// Type names left as text for JS parser functions.
    pub parsers: Vec<String>,
}

/// Turn a definition document into a [`ShapeDefinition`] (names checked, URL not yet built).
fn definition(o: ShapeJson) -> Result<ShapeDefinition, OptionsError> {
    let replica = match o.replica.as_deref() {
        None | Some("default") => Replica::Default,
        Some("full") => Replica::Full,
        Some(other) => return Err(bad("replica", other)),
    };
    let log = match o.log.as_deref() {
        None | Some("full") => LogMode::Full,
        Some("changes_only") => LogMode::ChangesOnly,
        Some(other) => return Err(bad("log", other)),
    };
    Ok(ShapeDefinition {
        table: o.table,
        where_clause: o.where_clause,
        params: o.params,
        columns: o.columns,
        replica,
        log,
        extra: o.extra,
    })
}

/// Parse a definition document (what a params provider resolves to) and check that it makes
/// a valid URL against `base` (reserved params, empty table, ...).
pub fn parse_shape(json: &str, base: &str) -> Result<ShapeDefinition, OptionsError> {
    let o: ShapeJson = serde_json::from_str(json).map_err(|e| OptionsError::Json(e.to_string()))?;
    let shape = definition(o)?;
    build_url(base, &shape, &RequestParams::initial())?;
    Ok(shape)
}

/// Parse and check the options document.
pub fn parse(json: &str) -> Result<Parsed, OptionsError> {
    let o: DriverOptions = serde_json::from_str(json).map_err(|e| OptionsError::Json(e.to_string()))?;
    let transport = match o.transport.as_deref() {
        None | Some("long-poll") => Transport::LongPoll,
        Some("sse") => Transport::Sse,
        Some("websocket") => Transport::WebSocket,
        Some("auto") => Transport::Auto,
        Some(other) => return Err(bad("transport", other)),
    };
    let shape = definition(o.shape)?;
    let mut config = StreamConfig::new(shape);
    if let Some(off) = o.offset.as_deref() {
        config.offset = Offset::parse(off)?;
    }
    config.handle = o.handle;
    config.live = o.live;
    // WebSocket answers requests as long-polls (its fallback is long-polling too).
    config.prefer_sse = !matches!(transport, Transport::LongPoll | Transport::WebSocket);
    if let Some(b) = o.backoff {
        let d = BackoffOptions::default();
        config.backoff = BackoffOptions {
            initial_delay_ms: b.initial_delay.unwrap_or(d.initial_delay_ms),
            max_delay_ms: b.max_delay.unwrap_or(d.max_delay_ms),
            multiplier: b.multiplier.unwrap_or(d.multiplier),
            max_retries: b.max_retries.or(d.max_retries),
        };
    }
    match o.live_request_timeout_ms {
        Some(0) => config.live_request_timeout_ms = None,
        Some(ms) => config.live_request_timeout_ms = Some(ms),
        None => {}
    }
    config.validate()?;
    // Build the first URL once so bad definitions fail at construction, not in the loop.
    let first = RequestParams {
        offset: config.offset,
        handle: config.handle.clone(),
        live: false,
        sse: false,
        cursor: None,
        cache_buster: None,
        expired_handle: None,
    };
    build_url(&o.url, &config.shape, &first)?;
    Ok(Parsed {
        config,
        base_url: o.url,
        headers: o.headers.into_iter().collect(),
        transport,
        parsers: o.parsers,
    })
}

fn bad(name: &'static str, value: &str) -> OptionsError {
    OptionsError::BadValue {
        name,
        value: value.to_owned(),
    }
}
