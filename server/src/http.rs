//! HTTP routes (axum): `GET|POST|DELETE|OPTIONS /v1/shape`, `POST /v1/tx`, `GET /v1/health`,
//! `GET /v1/ws` ([`crate::ws`]), static files ([`crate::www`]) as the fallback; CORS, the
//! `--secret` check and request logging in one middleware.
//!
//! The offset rules live in [`crate::engine`]; this file maps its steps to HTTP: headers of
//! ref §2.1 (handle, offset, schema on non-live, cursor on live, up-to-date, has-data,
//! cache-control, etag + `If-None-Match` → 304) and the status codes of §2.2.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, RawQuery, Request, State};
use axum::http::{HeaderMap, Method, Response, StatusCode};
use axum::middleware::Next;
use axum::routing::{get, post};
use axum::Router;
use eddy::protocol::Offset;
use eddy::ErrorCode;
use serde_json::json;
use tokio::time::Instant;

use crate::encode::{self, names, set};
use crate::engine::{self, Step};
use crate::request::{parse_shape_request, QueryParams, ShapeRequest};
use crate::state::{AppState, Resolved, ShapeEntry};
use crate::store::parse_tx;
use crate::subset::{Subset, SubsetParams};

/// Build the router.
pub fn router(app: Arc<AppState>) -> Router {
    let limit = app.config.max_body_bytes;
    Router::new()
        .route(
            "/v1/shape",
            get(get_shape)
                .post(post_shape)
                .delete(delete_shape)
                .options(preflight)
                .route_layer(axum::middleware::from_fn_with_state(
                    app.clone(),
                    crate::faults::layer,
                )),
        )
        .route("/v1/tx", post(post_tx).options(preflight))
        .route("/v1/health", get(health))
        .route("/v1/ws", get(crate::ws::upgrade))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(app.clone(), decorate))
        .with_state(app)
}

async fn decorate(State(app): State<Arc<AppState>>, req: Request, next: Next) -> Response<Body> {
    let origin = req.headers().get("origin").cloned();
    let log = app
        .config
        .log_requests
        .then(|| (req.method().clone(), req.uri().clone(), Instant::now()));
    let mut resp = if authorized(&app, &req) {
        next.run(req).await
    } else {
        encode::error(StatusCode::UNAUTHORIZED, "Unauthorized - Invalid API secret", &[])
    };
    encode::decorate(resp.headers_mut(), origin.as_ref());
    if let Some((method, uri, start)) = log {
        eprintln!(
            "eddy-server: {method} {uri} {} {}ms",
            resp.status().as_u16(),
            start.elapsed().as_millis()
        );
    }
    resp
}

/// With `--secret`, every `/v1/` request except health and preflights must carry it as
/// `secret` (or the deprecated `api_secret`), as with Electric's `ELECTRIC_SECRET`.
fn authorized(app: &AppState, req: &Request) -> bool {
    let Some(secret) = &app.config.secret else {
        return true;
    };
    let path = req.uri().path();
    if !path.starts_with("/v1/") || path == "/v1/health" || req.method() == Method::OPTIONS {
        return true;
    }
    let q = QueryParams::parse(req.uri().query());
    q.get("secret").or_else(|| q.get("api_secret")) == Some(secret.as_str())
}

/// A CORS preflight: Electric's allowed headers plus whatever the browser asks for (a dev
/// server; an app's `authorization` or tracing headers must get through).
async fn preflight(headers: HeaderMap) -> Response<Body> {
    let mut r = encode::response(StatusCode::NO_CONTENT, "text/plain", Body::empty());
    let mut allow: Vec<String> = encode::ALLOW_HEADERS.split(',').map(str::to_owned).collect();
    let asked = headers
        .get("access-control-request-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    for h in asked.split(',').map(|h| h.trim().to_ascii_lowercase()) {
        if !h.is_empty() && !allow.contains(&h) {
            allow.push(h);
        }
    }
    set(r.headers_mut(), "access-control-allow-headers", &allow.join(","));
    set(r.headers_mut(), "access-control-max-age", "86400");
    r
}

async fn health() -> Response<Body> {
    encode::json_response(
        StatusCode::OK,
        r#"{"status":"active"}"#.into(),
        encode::CC_NO_CACHE,
    )
}

async fn not_found(
    State(app): State<Arc<AppState>>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response<Body> {
    if method == Method::OPTIONS {
        return preflight(headers).await;
    }
    if let Some(root) = &app.config.www {
        if (method == Method::GET || method == Method::HEAD) && !uri.path().starts_with("/v1/") {
            return crate::www::serve(root, uri.path()).await;
        }
    }
    encode::error(StatusCode::NOT_FOUND, "Not found", &[])
}

fn internal(e: impl std::fmt::Display) -> Response<Body> {
    eprintln!("eddy-server: internal error: {e}");
    encode::error(
        StatusCode::INTERNAL_SERVER_ERROR,
        &format!("Internal error: {e}"),
        &[],
    )
}

/// Run blocking store work off the async threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Response<Body>> {
    tokio::task::spawn_blocking(f).await.map_err(internal)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn post_shape(
    State(app): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Response<Body> {
    let body = match body {
        Ok(b) => b,
        Err(e) => return encode::error(e.status(), "Invalid request body", &[("body", e.body_text())]),
    };
    let q = QueryParams::parse(q.as_deref());
    let req = match parse_shape_request(&q, app.store.catalog(), app.def_limits()) {
        Ok(r) => r,
        Err((field, msg)) => return encode::bad_request(field, msg),
    };
    match SubsetParams::from_body(&body) {
        Ok(sp) => subset_response(&app, req, sp).await,
        Err((field, msg)) => encode::bad_request(field, msg),
    }
}

/// Answer a subset snapshot request (ref §3.5).
async fn subset_response(app: &Arc<AppState>, req: ShapeRequest, sp: SubsetParams) -> Response<Body> {
    let subset = match Subset::compile(&sp, &req.shape, app.config.max_where_bytes) {
        Ok(s) => s,
        Err((field, msg)) => return encode::bad_request(field, msg),
    };
    let (a, r) = (app.clone(), req.clone());
    let entry = match blocking(move || resolve(&a, &r)).await {
        Ok(Ok(Resolved::Entry(e))) => e,
        Ok(Ok(Resolved::Conflict(h))) => return encode::must_refetch(Some(&h)),
        Ok(Err(e)) => return internal(e),
        Err(resp) => return resp,
    };
    let (a, e) = (app.clone(), entry.clone());
    let (rows, head, next_txid) = match blocking(move || a.store.table_rows(&e.shape.table)).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return internal(e),
        Err(resp) => return resp,
    };
    let rows = subset.select(&entry.shape, rows);
    let mark = app
        .snapshot_mark
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        + 1;
    let body = crate::subset::body(&entry.shape, &rows, mark, next_txid, head);
    let mut r = encode::json_response(StatusCode::OK, body, encode::CC_NO_CACHE);
    let h = r.headers_mut();
    set(h, names::HANDLE, &entry.handle);
    set(h, names::OFFSET, &req.offset_text);
    set(h, names::SCHEMA, &entry.shape.schema_header());
    set(h, "electric-snapshot", "true");
    r
}

/// Find (or create) the shape for a request.
fn resolve(app: &AppState, req: &ShapeRequest) -> Result<Resolved, crate::store::StoreError> {
    app.resolve(&req.shape, req.handle.as_deref())
}

async fn get_shape(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response<Body> {
    let q = QueryParams::parse(q.as_deref());
    let req = match parse_shape_request(&q, app.store.catalog(), app.def_limits()) {
        Ok(r) => r,
        Err((field, msg)) => return encode::bad_request(field, msg),
    };
    match SubsetParams::from_query(&q) {
        Ok(Some(sp)) => return subset_response(&app, req, sp).await,
        Ok(None) => {}
        Err((field, msg)) => return encode::bad_request(field, msg),
    }
    let guard = if req.live {
        match app.try_live() {
            Some(g) => Some(g),
            None => {
                return encode::unavailable(
                    5,
                    "concurrent_request_limit_exceeded",
                    "Too many concurrent live requests",
                )
            }
        }
    } else {
        None
    };
    let (a, r) = (app.clone(), req.clone());
    let entry = match blocking(move || resolve(&a, &r)).await {
        Ok(Ok(Resolved::Entry(e))) => e,
        Ok(Ok(Resolved::Conflict(h))) => return encode::must_refetch(Some(&h)),
        Ok(Err(e)) => return internal(e),
        Err(resp) => return resp,
    };
    if req.sse {
        if let Some(g) = guard {
            return crate::sse::stream(app, req, entry, g).await;
        }
    }
    serve(&app, &req, &entry, &headers).await
}

async fn serve(
    app: &Arc<AppState>,
    req: &ShapeRequest,
    entry: &Arc<ShapeEntry>,
    headers: &HeaderMap,
) -> Response<Body> {
    let deadline = Instant::now() + Duration::from_millis(app.config.long_poll_ms);
    match engine::next(app, entry, req.offset, req.live, deadline).await {
        Step::Batch {
            body,
            end,
            up_to_date,
            has_data,
        } => {
            let cc = if req.offset == Offset::BeforeAll {
                encode::CC_INITIAL
            } else if req.live {
                encode::CC_LIVE
            } else {
                encode::CC_NON_LIVE
            };
            reply(app, req, entry, headers, body, &end, up_to_date, has_data, cc)
        }
        Step::Refetch(h) => encode::must_refetch(Some(&h)),
        Step::OutOfBounds => out_of_bounds(app).await,
        Step::Internal(e) => internal(e),
    }
}

async fn out_of_bounds(app: &AppState) -> Response<Body> {
    if app.config.oob_wait_ms > 0 {
        tokio::time::sleep(Duration::from_millis(app.config.oob_wait_ms)).await;
    }
    encode::bad_request("offset", "out of bounds for this shape")
}

#[allow(clippy::too_many_arguments)]
fn reply(
    app: &AppState,
    req: &ShapeRequest,
    entry: &ShapeEntry,
    headers: &HeaderMap,
    body: String,
    resp_offset: &str,
    up_to_date: bool,
    has_data: bool,
    cache_control: &str,
) -> Response<Body> {
    let seq = (!has_data).then(|| app.etag_seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1);
    let etag = encode::etag(&entry.handle, &req.offset_text, resp_offset, seq);
    let not_modified = encode::if_none_match(headers, &etag);
    let mut r = if not_modified {
        encode::response(StatusCode::NOT_MODIFIED, "application/json", Body::empty())
    } else {
        encode::response(StatusCode::OK, "application/json", body)
    };
    let h = r.headers_mut();
    set(h, names::HANDLE, &entry.handle);
    set(h, names::OFFSET, resp_offset);
    if req.live {
        let interval = app.config.long_poll_ms.div_ceil(1000);
        let c = encode::cursor(now_secs(), interval, req.cursor.as_deref(), app.random(3600));
        set(h, names::CURSOR, &c);
    } else {
        set(h, names::SCHEMA, &entry.shape.schema_header());
    }
    if up_to_date {
        set(h, names::UP_TO_DATE, "");
    }
    set(h, names::HAS_DATA, if has_data { "true" } else { "false" });
    set(h, "etag", &etag);
    set(h, "cache-control", cache_control);
    r
}

async fn delete_shape(State(app): State<Arc<AppState>>, RawQuery(q): RawQuery) -> Response<Body> {
    let q = QueryParams::parse(q.as_deref());
    let def = match q.def_params() {
        Ok(d) => d,
        Err(e) => return encode::bad_request(e.field, e.message),
    };
    let shape = match crate::shape::Shape::from_params(&def, app.store.catalog(), app.def_limits()) {
        Ok(s) => s,
        Err(e) => return encode::bad_request(e.field, e.message),
    };
    let handle = q.get("handle").filter(|h| !h.is_empty()).map(String::from);
    let a = app.clone();
    let r = blocking(move || {
        let target = {
            let reg = a.registry();
            match &handle {
                Some(h) => reg.get(h).map(|e| e.handle.clone()),
                None => reg.current(&shape.def).map(|e| e.handle.clone()),
            }
        };
        match target {
            Some(h) => a.drop_handles(&[h]).map(|_| true),
            None => Ok(false),
        }
    })
    .await;
    match r {
        Ok(Ok(true)) => {
            let mut resp = encode::response(StatusCode::ACCEPTED, "application/json", Body::empty());
            set(resp.headers_mut(), "cache-control", encode::CC_NO_CACHE);
            resp
        }
        Ok(Ok(false)) => encode::error(
            StatusCode::NOT_FOUND,
            "Shape not found",
            &[("handle", "no such shape".into())],
        ),
        Ok(Err(e)) => internal(e),
        Err(resp) => resp,
    }
}

async fn post_tx(State(app): State<Arc<AppState>>, body: Result<Bytes, BytesRejection>) -> Response<Body> {
    let body = match body {
        Ok(b) => b,
        Err(e) => return encode::error(e.status(), "Invalid request body", &[("body", e.body_text())]),
    };
    let ops = match parse_tx(&body, app.config.max_ops) {
        Ok(o) => o,
        Err(e) => return tx_error(&e),
    };
    let a = app.clone();
    let r = blocking(move || -> Result<_, crate::store::TxError> {
        let commit = a.store.apply(&ops)?;
        for t in &commit.truncated {
            let handles = a.registry().handles_of_table(t);
            a.drop_handles(&handles)?;
        }
        Ok(commit)
    })
    .await;
    app.notify();
    match r {
        Ok(Ok(c)) => encode::json_response(
            StatusCode::OK,
            json!({"lsn": c.lsn.to_string(), "txid": c.txid}).to_string(),
            encode::CC_NO_CACHE,
        ),
        Ok(Err(e)) => tx_error(&e),
        Err(resp) => resp,
    }
}

fn tx_error(e: &crate::store::TxError) -> Response<Body> {
    let status = match e {
        crate::store::TxError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut body = encode::error_json(&e.to_string(), &[(e.field(), e.to_string())]);
    if let Some(o) = body.as_object_mut() {
        o.insert("code".into(), json!(e.code()));
    }
    let mut r = encode::json_response(status, body.to_string(), encode::CC_ERROR);
    set(r.headers_mut(), "surrogate-control", "no-store");
    r
}
