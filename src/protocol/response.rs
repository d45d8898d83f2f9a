//! Classify a shape response from its status and headers (ref §2): ok, must-refetch, retryable,
//! fatal — before anyone reads the body as a log.
//!
//! [`classify`] implements the status table of ref §2.2 and the TS client's header checks:
//!
//! - 2xx other than 204 must carry `electric-handle` and `electric-offset`, plus
//!   `electric-cursor` on live requests (long-poll and SSE alike: the server sets all three on
//!   the SSE response before the stream starts) and `electric-schema` on non-live ones; a
//!   missing one is [`ResponseError::MissingHeaders`], never retried.
//! - 204 (legacy live timeout) is "caught up": [`ResponseClass::Ok`] with `up_to_date` when it
//!   still carries a handle and an offset, [`ResponseClass::NoContent`] otherwise.
//! - 304 → [`ResponseClass::NotModified`]; 409 → [`ResponseClass::MustRefetch`].
//! - 429 and 5xx → [`ResponseClass::Retry`] with `retry-after` (delta seconds — a decimal
//!   fraction is accepted and rounded up to the millisecond — or an HTTP-date relative to
//!   `now_ms`, past dates giving 0), capped at one hour; an unparsable value gives `None`.
//! - Anything else (other 4xx, 1xx, other 3xx, out-of-range codes) → [`ResponseError::Http`]
//!   with the server's JSON `message`/`errors` when the body has them.

mod fetch_error;
mod retry_after;

use std::collections::BTreeMap;

pub use fetch_error::MAX_ERROR_BODY_BYTES;
pub use retry_after::{parse_retry_after, MAX_RETRY_AFTER_MS};

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

const HANDLE: &str = "electric-handle";
const OFFSET: &str = "electric-offset";
const SCHEMA: &str = "electric-schema";
const CURSOR: &str = "electric-cursor";
const UP_TO_DATE: &str = "electric-up-to-date";

/// Decide how to proceed with a response; see the module docs for the rules. `body` is only
/// read for error statuses (to build a [`FetchError`]); `now_ms` (milliseconds since the Unix
/// epoch) only resolves an HTTP-date `retry-after`.
pub fn classify<H: HeaderLookup + ?Sized>(
    status: u16,
    headers: &H,
    body: &[u8],
    kind: RequestKind,
    now_ms: u64,
) -> Result<ResponseClass, ResponseError> {
    match status {
        204 => {
            if headers.header(HANDLE).is_some() && headers.header(OFFSET).is_some() {
                let mut meta = shape_meta(headers)?;
                meta.up_to_date = true;
                Ok(ResponseClass::Ok(meta))
            } else {
                Ok(ResponseClass::NoContent)
            }
        }
        200..=299 => {
            let mut missing = Vec::new();
            for name in [HANDLE, OFFSET] {
                if headers.header(name).is_none() {
                    missing.push(name);
                }
            }
            let by_kind = if kind.live { CURSOR } else { SCHEMA };
            if headers.header(by_kind).is_none() {
                missing.push(by_kind);
            }
            if !missing.is_empty() {
                return Err(ResponseError::MissingHeaders { missing });
            }
            shape_meta(headers).map(ResponseClass::Ok)
        }
        304 => Ok(ResponseClass::NotModified),
        409 => Ok(ResponseClass::MustRefetch {
            handle: headers
                .header(HANDLE)
                .filter(|h| !h.is_empty())
                .map(str::to_owned),
        }),
        429 | 500..=599 => Ok(ResponseClass::Retry {
            status: Some(status),
            retry_after_ms: headers
                .header("retry-after")
                .and_then(|v| parse_retry_after(v, now_ms)),
        }),
        _ => Err(ResponseError::Http(fetch_error::fetch_error(status, body))),
    }
}

/// The class of a request that failed before any response headers arrived (connection
/// refused, DNS, reset, timeout): retry like a 5xx.
pub fn network_failure() -> ResponseClass {
    ResponseClass::Retry {
        status: None,
        retry_after_ms: None,
    }
}

/// True when `content-type` is `text/event-stream` (parameters such as `charset` ignored): the
/// body is an SSE stream rather than a JSON array.
pub fn is_event_stream<H: HeaderLookup + ?Sized>(headers: &H) -> bool {
    headers.header("content-type").is_some_and(|ct| {
        let media = ct.split(';').next().unwrap_or("");
        media.trim().eq_ignore_ascii_case("text/event-stream")
    })
}

/// Read the shape headers that are present (presence of the required ones is checked by the
/// caller).
fn shape_meta<H: HeaderLookup + ?Sized>(headers: &H) -> Result<ShapeMeta, ResponseError> {
    let handle = headers.header(HANDLE).unwrap_or("");
    if handle.is_empty() {
        return Err(invalid(HANDLE, "empty value".to_owned()));
    }
    let offset = Offset::parse(headers.header(OFFSET).unwrap_or("").trim())
        .map_err(|e| invalid(OFFSET, e.to_string()))?;
    let schema = headers
        .header(SCHEMA)
        .map(Schema::from_header)
        .transpose()
        .map_err(|e| invalid(SCHEMA, e.to_string()))?;
    Ok(ShapeMeta {
        handle: handle.to_owned(),
        offset,
        schema,
        cursor: headers.header(CURSOR).map(str::to_owned),
        up_to_date: headers.header(UP_TO_DATE).is_some(),
    })
}

fn invalid(name: &'static str, reason: String) -> ResponseError {
    ResponseError::InvalidHeader { name, reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::offset::LogOffset;

    const NOW: u64 = 1_700_000_000_000; // 2023-11-14T22:13:20Z

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const NON_LIVE: RequestKind = RequestKind {
        live: false,
        sse: false,
    };
    const LIVE: RequestKind = RequestKind {
        live: true,
        sse: false,
    };
    const SSE: RequestKind = RequestKind {
        live: true,
        sse: true,
    };

    fn run(status: u16, headers: &[(&str, &str)], kind: RequestKind) -> Result<ResponseClass, ResponseError> {
        classify(status, &h(headers), b"", kind, NOW)
    }

    fn meta(class: Result<ResponseClass, ResponseError>) -> ShapeMeta {
        match class {
            Ok(ResponseClass::Ok(m)) => m,
            other => panic!("expected Ok(meta), got {other:?}"),
        }
    }

    #[test]
    fn ok_non_live() {
        let m = meta(run(
            200,
            &[
                ("Electric-Handle", "h-1"),
                ("electric-offset", "0_0"),
                ("electric-schema", "{}"),
            ],
            NON_LIVE,
        ));
        assert_eq!(m.handle, "h-1");
        assert_eq!(m.offset, Offset::Log(LogOffset::new(0, 0)));
        assert_eq!(m.schema, Some(Schema::default()));
        assert_eq!(m.cursor, None);
        assert!(!m.up_to_date);
    }

    #[test]
    fn ok_live_and_sse() {
        for kind in [LIVE, SSE] {
            let m = meta(run(
                200,
                &[
                    ("electric-handle", "h"),
                    ("electric-offset", "26800584_4"),
                    ("electric-cursor", "1234"),
                    ("electric-up-to-date", ""),
                    ("content-type", "text/event-stream"),
                ],
                kind,
            ));
            assert_eq!(m.offset, Offset::Log(LogOffset::new(26800584, 4)));
            assert_eq!(m.cursor.as_deref(), Some("1234"));
            assert_eq!(m.schema, None);
            assert!(m.up_to_date);
        }
    }

    #[test]
    fn other_2xx_treated_as_200() {
        let m = meta(run(
            206,
            &[
                ("electric-handle", "h"),
                ("electric-offset", "0_inf"),
                ("electric-schema", "{}"),
            ],
            NON_LIVE,
        ));
        assert_eq!(m.offset, Offset::Log(LogOffset::tx_end(0)));
    }

    #[test]
    fn missing_header_combinations() {
        let all = [
            ("electric-handle", "h"),
            ("electric-offset", "0_0"),
            ("electric-schema", "{}"),
            ("electric-cursor", "1"),
        ];
        for kind in [NON_LIVE, LIVE, SSE] {
            let required: Vec<&str> = if kind.live {
                vec!["electric-handle", "electric-offset", "electric-cursor"]
            } else {
                vec!["electric-handle", "electric-offset", "electric-schema"]
            };
            // Every subset of the four headers.
            for mask in 0u32..16 {
                let present: Vec<(&str, &str)> = all
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << i) != 0)
                    .map(|(_, p)| *p)
                    .collect();
                let missing: Vec<&str> = required
                    .iter()
                    .copied()
                    .filter(|r| !present.iter().any(|(k, _)| k == r))
                    .collect();
                let got = run(200, &present, kind);
                if missing.is_empty() {
                    assert!(
                        matches!(got, Ok(ResponseClass::Ok(_))),
                        "{mask} {kind:?}: {got:?}"
                    );
                } else {
                    assert_eq!(
                        got,
                        Err(ResponseError::MissingHeaders { missing }),
                        "{mask} {kind:?}"
                    );
                }
            }
        }
        let err = run(200, &[], LIVE).unwrap_err();
        assert_eq!(err.code(), "EDDY_FETCH_MISSING_HEADERS");
        assert_eq!(err.family(), "MissingHeadersError");
        assert_eq!(
            err.to_string(),
            "response is missing required headers: electric-handle, electric-offset, electric-cursor"
        );
    }

    #[test]
    fn invalid_headers() {
        let base = [("electric-handle", "h"), ("electric-schema", "{}")];
        for bad in ["", "abc", "1_", "_1", "99999999999999999999_0"] {
            let mut hs = base.to_vec();
            hs.push(("electric-offset", bad));
            let err = run(200, &hs, NON_LIVE).unwrap_err();
            assert!(
                matches!(
                    err,
                    ResponseError::InvalidHeader {
                        name: "electric-offset",
                        ..
                    }
                ),
                "{bad}: {err:?}"
            );
            assert_eq!(err.code(), "EDDY_FETCH_INVALID_HEADER");
        }
        let err = run(
            200,
            &[
                ("electric-handle", ""),
                ("electric-offset", "0_0"),
                ("electric-schema", "{}"),
            ],
            NON_LIVE,
        );
        assert!(matches!(
            err,
            Err(ResponseError::InvalidHeader {
                name: "electric-handle",
                ..
            })
        ));
    }

    #[test]
    fn legacy_204() {
        let m = meta(run(
            204,
            &[("electric-handle", "h"), ("electric-offset", "5_2")],
            LIVE,
        ));
        assert!(m.up_to_date);
        assert_eq!(m.offset, Offset::Log(LogOffset::new(5, 2)));
        assert_eq!(run(204, &[], LIVE), Ok(ResponseClass::NoContent));
        assert_eq!(
            run(204, &[("electric-handle", "h")], LIVE),
            Ok(ResponseClass::NoContent)
        );
        assert_eq!(
            run(204, &[("electric-offset", "5_2")], LIVE),
            Ok(ResponseClass::NoContent)
        );
    }

    #[test]
    fn not_modified_and_must_refetch() {
        assert_eq!(run(304, &[], NON_LIVE), Ok(ResponseClass::NotModified));
        assert_eq!(
            run(409, &[("electric-handle", "new-h")], NON_LIVE),
            Ok(ResponseClass::MustRefetch {
                handle: Some("new-h".into())
            })
        );
        assert_eq!(
            run(409, &[], LIVE),
            Ok(ResponseClass::MustRefetch { handle: None })
        );
        assert_eq!(
            run(409, &[("electric-handle", "")], LIVE),
            Ok(ResponseClass::MustRefetch { handle: None })
        );
    }

    fn retry_after(status: u16, value: Option<&str>) -> Option<u64> {
        let hs = value.map(|v| vec![("Retry-After", v)]).unwrap_or_default();
        match run(status, &hs, NON_LIVE) {
            Ok(ResponseClass::Retry {
                status: s,
                retry_after_ms,
            }) => {
                assert_eq!(s, Some(status));
                retry_after_ms
            }
            other => panic!("{status}: {other:?}"),
        }
    }

    #[test]
    fn retryable_statuses_carry_retry_after() {
        for status in [429, 500, 502, 503, 504, 599] {
            assert_eq!(retry_after(status, None), None);
            assert_eq!(retry_after(status, Some("5")), Some(5_000));
        }
        assert_eq!(
            retry_after(503, Some("Tue, 14 Nov 2023 22:13:50 GMT")),
            Some(30_000)
        );
        assert_eq!(retry_after(429, Some("7200")), Some(MAX_RETRY_AFTER_MS));
        assert_eq!(retry_after(503, Some("soon")), None);
    }

    #[test]
    fn network_failure_is_retry_without_status() {
        assert_eq!(
            network_failure(),
            ResponseClass::Retry {
                status: None,
                retry_after_ms: None
            }
        );
    }

    fn http_error(status: u16, body: &[u8]) -> FetchError {
        match classify(status, &h(&[]), body, NON_LIVE, NOW) {
            Err(ResponseError::Http(e)) => e,
            other => panic!("{status}: {other:?}"),
        }
    }

    #[test]
    fn client_errors_carry_the_server_explanation() {
        let body = br#"{"message":"Invalid request","errors":{"offset":["out of bounds for this shape"],"where":"bad","n":[1,{"a":2}],"x":7}}"#;
        let e = http_error(400, body);
        assert_eq!(e.status, 400);
        assert_eq!(e.message.as_deref(), Some("Invalid request"));
        assert_eq!(e.errors["offset"], vec!["out of bounds for this shape"]);
        assert_eq!(e.errors["where"], vec!["bad"]);
        assert_eq!(e.errors["n"], vec!["1", r#"{"a":2}"#]);
        assert_eq!(e.errors["x"], vec!["7"]);
        assert_eq!(e.body.as_bytes(), body);
        let err = ResponseError::Http(e);
        assert_eq!(err.code(), "EDDY_FETCH_HTTP");
        assert_eq!(err.to_string(), "HTTP 400: Invalid request");
    }

    #[test]
    fn other_statuses_are_http_errors() {
        for status in [
            0, 100, 101, 301, 302, 307, 400, 401, 403, 404, 405, 410, 413, 414, 600, 999,
        ] {
            let e = http_error(status, b"<html>nope</html>");
            assert_eq!(e.status, status);
            assert_eq!(e.message, None);
            assert!(e.errors.is_empty());
            assert_eq!(e.body, "<html>nope</html>");
        }
        let e = http_error(404, b"");
        assert_eq!(ResponseError::Http(e).to_string(), "HTTP 404: ");
        let e = http_error(400, br#"{"errors":["not","a","map"]}"#);
        assert!(e.errors.is_empty() && e.message.is_none());
        let e = http_error(400, br#"["array"]"#);
        assert!(e.errors.is_empty() && e.message.is_none());
    }

    #[test]
    fn event_stream_content_type() {
        assert!(is_event_stream(&h(&[("Content-Type", "text/event-stream")])));
        assert!(is_event_stream(&h(&[(
            "content-type",
            " Text/Event-Stream ; charset=utf-8"
        )])));
        assert!(!is_event_stream(&h(&[("content-type", "application/json")])));
        assert!(!is_event_stream(&h(&[])));
    }

    #[test]
    fn works_through_dyn_header_lookup() {
        let hs = h(&[
            ("electric-handle", "h"),
            ("electric-offset", "1_1"),
            ("electric-cursor", "2"),
        ]);
        let dynh: &dyn HeaderLookup = &hs;
        assert!(matches!(
            classify(200, dynh, b"", LIVE, 0),
            Ok(ResponseClass::Ok(_))
        ));
    }
}
