//! Classify a shape response from its status and headers (ref §2): ok, must-refetch, retryable,
//! fatal — before anyone reads the body as a log.

use std::collections::BTreeMap;

use super::offset::Offset;
use super::schema::Schema;
use crate::error::ErrorCode;

/// Case-insensitive header lookup, implemented by whatever the shell has (fetch `Headers`,
/// a `Vec` of pairs in tests).
pub trait HeaderLookup {
    /// The value of a header, if present (first one if repeated).
    fn header(&self, name: &str) -> Option<&str>;
}

impl HeaderLookup for [(String, String)] {
    fn header(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl HeaderLookup for Vec<(String, String)> {
    fn header(&self, name: &str) -> Option<&str> {
        self.as_slice().header(name)
    }
}

/// What the request was, which decides the headers a 2xx must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RequestKind {
    /// `live=true` was sent.
    pub live: bool,
    /// `live_sse=true` was sent.
    pub sse: bool,
}

/// Shape state carried by the headers of a 2xx log response.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapeMeta {
    /// `electric-handle`.
    pub handle: String,
    /// `electric-offset`: the next offset to request.
    pub offset: Offset,
    /// `electric-schema` (non-live responses).
    pub schema: Option<Schema>,
    /// `electric-cursor` (live responses).
    pub cursor: Option<String>,
    /// `electric-up-to-date` present.
    pub up_to_date: bool,
}

/// A 4xx (or otherwise non-retryable) answer, with the server's explanation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FetchError {
    /// HTTP status.
    pub status: u16,
    /// `message` of the JSON error body, if any.
    pub message: Option<String>,
    /// Field errors of the JSON error body: field → messages.
    pub errors: BTreeMap<String, Vec<String>>,
    /// The body as text (lossy UTF-8, at most 4 KiB).
    pub body: String,
}

/// How to proceed with a response.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseClass {
    /// 200 (or legacy 204: `up_to_date` set, no body to read): apply the headers, then the body.
    Ok(ShapeMeta),
    /// 204 legacy live timeout with no usable headers: caught up, nothing changed.
    NoContent,
    /// 304: revalidated; only meaningful with an HTTP cache.
    NotModified,
    /// 409: drop everything for this shape and restart at `-1` with this handle (if sent).
    MustRefetch {
        /// The replacement handle from `electric-handle`, when present.
        handle: Option<String>,
    },
    /// 5xx, 429 or a network failure: back off and retry the same request.
    Retry {
        /// The status, `None` for a network failure.
        status: Option<u16>,
        /// `retry-after` as a floor for the wait, capped at one hour.
        retry_after_ms: Option<u64>,
    },
}

/// A response that cannot be retried as is.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ResponseError {
    /// 4xx other than 409/429.
    #[error("HTTP {}: {}", .0.status, .0.message.as_deref().unwrap_or(&.0.body))]
    Http(FetchError),
    /// A 2xx lacks headers the protocol requires (usually a proxy or CORS misconfiguration).
    #[error("response is missing required headers: {}", .missing.join(", "))]
    MissingHeaders {
        /// The missing header names.
        missing: Vec<&'static str>,
    },
    /// A header is present but its value is invalid.
    #[error("invalid {name} header: {reason}")]
    InvalidHeader {
        /// Header name.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl ErrorCode for ResponseError {
    fn code(&self) -> &'static str {
        match self {
            ResponseError::Http(_) => "EDDY_FETCH_HTTP",
            ResponseError::MissingHeaders { .. } => "EDDY_FETCH_MISSING_HEADERS",
            ResponseError::InvalidHeader { .. } => "EDDY_FETCH_INVALID_HEADER",
        }
    }
    fn family(&self) -> &'static str {
        match self {
            ResponseError::Http(_) => "FetchError",
            ResponseError::MissingHeaders { .. } => "MissingHeadersError",
            ResponseError::InvalidHeader { .. } => "FetchError",
        }
    }
}
