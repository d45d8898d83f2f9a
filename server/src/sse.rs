//! Live SSE (`live=true&live_sse=true`, ref §3.6/§4.4): one `data: <message JSON>\n\n` event per
//! message, an `up-to-date` control event whenever the stream has caught up, a `: keep-alive`
//! comment every `--sse-keepalive-ms` while idle, and the end of the stream after
//! `--sse-timeout-ms` or when the handle is dropped (the client reconnects and then gets its
//! 409). The first batch is computed before the response starts, so errors (400, 409, 503) are
//! ordinary JSON responses. Batches come from [`crate::engine`], like long-poll's.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{Response, StatusCode};
use eddy::protocol::Offset;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::encode::{self, names, set};
use crate::engine::{self, Step};
use crate::request::ShapeRequest;
use crate::state::{AppState, LiveGuard, ShapeEntry};

/// Queue every message of a batch body as one event each; false if the client is gone.
async fn send_batch(tx: &mpsc::Sender<Bytes>, body: &str) -> bool {
    let Ok(items) = serde_json::from_str::<Vec<serde_json::Value>>(body) else {
        return false;
    };
    for item in items {
        if tx.send(Bytes::from(format!("data: {item}\n\n"))).await.is_err() {
            return false;
        }
    }
    true
}

/// Answer a live SSE request.
pub async fn stream(
    app: Arc<AppState>,
    req: ShapeRequest,
    entry: Arc<ShapeEntry>,
    guard: LiveGuard,
) -> Response<Body> {
    let deadline = Instant::now() + Duration::from_millis(app.config.sse_timeout_ms);
    // The first batch never waits, so an up-to-date arrives at once when caught up.
    let (body, end, up_to_date) = match engine::next(&app, &entry, req.offset, false, deadline).await {
        Step::Batch {
            body,
            end,
            up_to_date,
            ..
        } => (body, end, up_to_date),
        Step::Refetch(h) => return encode::must_refetch(Some(&h)),
        Step::OutOfBounds => return encode::bad_request("offset", "out of bounds for this shape"),
        Step::Internal(e) => return encode::error(StatusCode::INTERNAL_SERVER_ERROR, &e, &[]),
    };
    let Ok(next_offset) = Offset::parse(&end) else {
        return encode::error(StatusCode::INTERNAL_SERVER_ERROR, "internal offset error", &[]);
    };
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    tokio::spawn(run(
        app.clone(),
        entry.clone(),
        body,
        next_offset,
        up_to_date,
        deadline,
        tx,
        guard,
    ));
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    }));
    let mut r = encode::response(StatusCode::OK, "text/event-stream", body);
    let h = r.headers_mut();
    set(h, names::HANDLE, &entry.handle);
    set(h, names::OFFSET, &req.offset_text);
    let interval = app.config.long_poll_ms.div_ceil(1000);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    set(
        h,
        names::CURSOR,
        &encode::cursor(now, interval, req.cursor.as_deref(), app.random(3600)),
    );
    set(h, "cache-control", encode::CC_SSE);
    set(h, "x-accel-buffering", "no");
    r
}

#[allow(clippy::too_many_arguments)]
async fn run(
    app: Arc<AppState>,
    entry: Arc<ShapeEntry>,
    first: String,
    mut offset: Offset,
    mut caught_up: bool,
    deadline: Instant,
    tx: mpsc::Sender<Bytes>,
    _guard: LiveGuard,
) {
    if !send_batch(&tx, &first).await {
        return;
    }
    let keepalive = Duration::from_millis(app.config.sse_keepalive_ms);
    loop {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        // Once caught up, wait for a commit at most until the next keep-alive is due.
        let wait_until = (now + keepalive).min(deadline);
        match engine::next(&app, &entry, offset, caught_up, wait_until).await {
            Step::Batch {
                body,
                end,
                up_to_date,
                has_data,
            } => {
                let Ok(end) = Offset::parse(&end) else { return };
                if caught_up && !has_data && end == offset {
                    if Instant::now() >= deadline {
                        return;
                    }
                    if tx.send(Bytes::from_static(b": keep-alive\n\n")).await.is_err() {
                        return;
                    }
                    continue;
                }
                if !send_batch(&tx, &body).await {
                    return;
                }
                offset = end;
                caught_up = up_to_date;
            }
            // Rotated, truncated or failing: end the stream; the reconnect gets the error.
            _ => return,
        }
    }
}
