//! Response encoding: header names and values (ref §2.1), cache-control policy, etags, the
//! live cursor (§4.3 + §0), CORS, and the JSON error bodies (`{"message":..,"errors":{..}}`).

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use serde_json::{json, Map, Value as Json};

/// Headers a browser may read (ref §1 CORS).
pub const EXPOSE_HEADERS: &str = "electric-cursor,electric-handle,electric-has-data,electric-offset,electric-schema,electric-up-to-date,electric-internal-known-error,retry-after";
/// Request headers allowed by the preflight (`content-type` for the write API).
pub const ALLOW_HEADERS: &str = "if-none-match,traceparent,content-type";
/// Methods allowed by the preflight.
pub const ALLOW_METHODS: &str = "GET, POST, HEAD, DELETE, OPTIONS";
/// `electric-server` value.
pub const SERVER: &str = concat!("eddy-server/", env!("CARGO_PKG_VERSION"));

/// `offset=-1` responses.
pub const CC_INITIAL: &str = "public, max-age=604800, s-maxage=3600, stale-while-revalidate=2629746";
/// Other non-live responses.
pub const CC_NON_LIVE: &str = "public, max-age=60, stale-while-revalidate=300";
/// Live long-poll responses.
pub const CC_LIVE: &str = "public, max-age=5, stale-while-revalidate=5";
/// Live SSE responses.
pub const CC_SSE: &str = "public, max-age=59";
/// 409 with a handle.
pub const CC_409: &str = "public, max-age=60, must-revalidate";
/// 409 without a handle.
pub const CC_409_NO_HANDLE: &str = "max-age=1";
/// Errors.
pub const CC_ERROR: &str = "no-store";
/// Non-GET and write responses.
pub const CC_NO_CACHE: &str = "no-cache";

/// `electric-*` header names.
pub mod names {
    /// Shape handle.
    pub const HANDLE: &str = "electric-handle";
    /// Response end offset.
    pub const OFFSET: &str = "electric-offset";
    /// Column types.
    pub const SCHEMA: &str = "electric-schema";
    /// Live cursor.
    pub const CURSOR: &str = "electric-cursor";
    /// Body ends with up-to-date.
    pub const UP_TO_DATE: &str = "electric-up-to-date";
    /// Body has change messages.
    pub const HAS_DATA: &str = "electric-has-data";
    /// Expected overload.
    pub const KNOWN_ERROR: &str = "electric-internal-known-error";
    /// Server id.
    pub const SERVER: &str = "electric-server";
}

/// Set a header from text, skipping values that are not valid header text.
pub fn set(h: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(HeaderName::from_static(name), v);
    }
}

/// A response with a body and content type.
pub fn response(status: StatusCode, content_type: &str, body: impl Into<Body>) -> Response<Body> {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    set(r.headers_mut(), "content-type", content_type);
    r
}

/// A JSON response.
pub fn json_response(status: StatusCode, body: String, cache_control: &str) -> Response<Body> {
    let mut r = response(status, "application/json", body);
    set(r.headers_mut(), "cache-control", cache_control);
    r
}

/// `{"message": .., "errors": {field: [msg]}}`.
pub fn error_json(message: &str, errors: &[(&str, String)]) -> Json {
    let mut map = Map::new();
    for (field, msg) in errors {
        let entry = map
            .entry(field.to_string())
            .or_insert_with(|| Json::Array(Vec::new()));
        if let Json::Array(a) = entry {
            a.push(Json::String(msg.clone()));
        }
    }
    json!({"message": message, "errors": map})
}

/// A 4xx/5xx error response with the Electric error body and `no-store` caching.
pub fn error(status: StatusCode, message: &str, errors: &[(&str, String)]) -> Response<Body> {
    let mut r = json_response(status, error_json(message, errors).to_string(), CC_ERROR);
    set(r.headers_mut(), "surrogate-control", "no-store");
    r
}

/// 400 `Invalid request` with one field error.
pub fn bad_request(field: &str, message: impl Into<String>) -> Response<Body> {
    error(
        StatusCode::BAD_REQUEST,
        "Invalid request",
        &[(field, message.into())],
    )
}

/// 409 must-refetch, with the replacement handle when known.
pub fn must_refetch(handle: Option<&str>) -> Response<Body> {
    let cc = if handle.is_some() {
        CC_409
    } else {
        CC_409_NO_HANDLE
    };
    let mut r = json_response(
        StatusCode::CONFLICT,
        r#"[{"headers":{"control":"must-refetch"}}]"#.into(),
        cc,
    );
    if let Some(h) = handle {
        set(r.headers_mut(), names::HANDLE, h);
    }
    r
}

/// 503 with `retry-after` and `electric-internal-known-error: true`.
pub fn unavailable(retry_after_secs: u64, code: &str, message: &str) -> Response<Body> {
    let body = json!({"message": message, "code": code}).to_string();
    let mut r = json_response(StatusCode::SERVICE_UNAVAILABLE, body, CC_ERROR);
    set(r.headers_mut(), "retry-after", &retry_after_secs.to_string());
    set(r.headers_mut(), names::KNOWN_ERROR, "true");
    r
}

/// CORS and server headers added to every response.
pub fn decorate(h: &mut HeaderMap, origin: Option<&HeaderValue>) {
    match origin {
        Some(o) => {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o.clone());
            h.append(header::VARY, HeaderValue::from_static("origin"));
        }
        None => {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        }
    }
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSE_HEADERS),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOW_METHODS),
    );
    set(h, names::SERVER, SERVER);
}

/// The etag of a shape response; empty responses get a unique suffix so they never revalidate.
pub fn etag(handle: &str, req_offset: &str, resp_offset: &str, empty_seq: Option<u64>) -> String {
    match empty_seq {
        Some(n) => format!("\"{handle}:{req_offset}:{resp_offset}:{n}\""),
        None => format!("\"{handle}:{req_offset}:{resp_offset}\""),
    }
}

/// Does `If-None-Match` match the etag?
pub fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t = t.trim();
            t == "*" || t == etag || t.strip_prefix("W/") == Some(etag)
        })
}

/// Seconds since 2024-10-09T00:00:00Z, the cursor epoch.
pub const CURSOR_EPOCH_SECS: u64 = 1_728_432_000;

/// The live cursor (§4.3): now rounded up to the next long-poll interval since the epoch; if
/// that is not greater than the client's cursor, add `jitter` (1..3600) so the URL changes.
pub fn cursor(now_secs: u64, interval_secs: u64, client: Option<&str>, jitter: u64) -> String {
    let interval = interval_secs.max(1);
    let elapsed = now_secs.saturating_sub(CURSOR_EPOCH_SECS);
    let next = elapsed.div_ceil(interval) * interval;
    let prev = client.and_then(|c| c.trim().parse::<u64>().ok());
    // Ref §4.3: jitter whenever the computed cursor is not greater than the client's. (Electric
    // itself jitters only on equality, ref §0; then two polls inside one interval alternate A→B→A
    // and a browser replays the cached answer of the earlier A for up to the live max-age.)
    if prev.is_some_and(|p| p >= next) {
        (next + jitter).to_string()
    } else {
        next.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_rounds_up_and_jitters_only_on_repeat() {
        let now = CURSOR_EPOCH_SECS + 41;
        assert_eq!(cursor(now, 20, None, 7), "60");
        assert_eq!(cursor(now, 20, Some(""), 7), "60");
        assert_eq!(cursor(now, 20, Some("40"), 7), "60");
        assert_eq!(cursor(now, 20, Some("60"), 7), "67");
        assert_eq!(
            cursor(now, 20, Some("67"), 9),
            "69",
            "a jittered cursor never comes back"
        );
        assert_eq!(cursor(CURSOR_EPOCH_SECS + 40, 20, None, 7), "40");
    }

    #[test]
    fn error_bodies_and_etags() {
        let e = error_json(
            "Invalid request",
            &[("where", "a".into()), ("where", "b".into()), ("x", "c".into())],
        );
        assert_eq!(
            e,
            json!({"message":"Invalid request","errors":{"where":["a","b"],"x":["c"]}})
        );
        assert_eq!(etag("h", "-1", "0_0", None), "\"h:-1:0_0\"");
        assert_eq!(etag("h", "0_0", "0_inf", Some(3)), "\"h:0_0:0_inf:3\"");
        let mut h = HeaderMap::new();
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"x\", \"h:-1:0_0\""),
        );
        assert!(if_none_match(&h, "\"h:-1:0_0\""));
        assert!(!if_none_match(&h, "\"h:-1:0_1\""));
    }
}
