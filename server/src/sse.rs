//! Live SSE (`live=true&live_sse=true`, ref §3.6/§4.4): one `data: <message JSON>\n\n` event per
//! message, an `up-to-date` control event whenever the stream has caught up, a `: keep-alive`
//! comment every `--sse-keepalive-ms`, and the end of the stream after `--sse-timeout-ms` or
//! when the handle is dropped (the client reconnects and then gets its 409). Errors (400, 409,
//! 503) are ordinary JSON responses sent before the stream starts.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{Response, StatusCode};
use eddy::protocol::{LogOffset, Message, Offset, OpOffset};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::encode::{self, names, set};
use crate::http::blocking;
use crate::request::ShapeRequest;
use crate::state::{AppState, LiveGuard, ShapeEntry};

fn event(json: &str) -> Bytes {
    Bytes::from(format!("data: {json}\n\n"))
}

/// Answer a live SSE request.
pub async fn stream(
    app: Arc<AppState>,
    req: ShapeRequest,
    entry: Arc<ShapeEntry>,
    guard: LiveGuard,
) -> Response<Body> {
    let Offset::Log(off) = req.offset else {
        return encode::bad_request("live", "can't be true when offset is -1 or now");
    };
    let a = app.clone();
    let head = match blocking(move || a.store.head()).await {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => return encode::error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string(), &[]),
        Err(r) => return r,
    };
    let (pending, after) = if off.tx == 0 {
        match off.op {
            OpOffset::At(k) if k >= entry.info.chunks => {
                return encode::bad_request("offset", "out of bounds for this shape")
            }
            OpOffset::At(k) => ((k + 1)..entry.info.chunks, LogOffset::tx_end(0)),
            OpOffset::Inf => (0..0, LogOffset::tx_end(0)),
        }
    } else if off.tx > head {
        return encode::bad_request("offset", "out of bounds for this shape");
    } else {
        (0..0, off)
    };
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    tokio::spawn(run(app.clone(), entry.clone(), pending, after, tx, guard));
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

async fn run(
    app: Arc<AppState>,
    entry: Arc<ShapeEntry>,
    pending: std::ops::Range<u64>,
    mut after: LogOffset,
    tx: mpsc::Sender<Bytes>,
    _guard: LiveGuard,
) {
    let deadline = Instant::now() + Duration::from_millis(app.config.sse_timeout_ms);
    let keepalive = Duration::from_millis(app.config.sse_keepalive_ms);
    let mut changes = app.changes.subscribe();
    for i in pending {
        let (a, h) = (app.clone(), entry.handle.clone());
        let Ok(Ok(Some(body))) = blocking(move || a.store.chunk(&h, i)).await else {
            return;
        };
        let Ok(items) = serde_json::from_str::<Vec<serde_json::Value>>(&body) else {
            return;
        };
        for item in items {
            if tx.send(event(&item.to_string())).await.is_err() {
                return;
            }
        }
    }
    let mut first = true;
    loop {
        changes.borrow_and_update();
        if app.registry().get(&entry.handle).is_none() {
            return;
        }
        let (a, e) = (app.clone(), entry.clone());
        let max = app.config.chunk_bytes;
        let Ok(Ok(read)) =
            blocking(move || a.store.read_log(&e.shape, e.info.snapshot_lsn, after, max)).await
        else {
            return;
        };
        if read.truncated {
            return;
        }
        let had = !read.msgs.is_empty();
        for m in read.msgs {
            after = crate::store::msg_offset(&m);
            let text = serde_json::to_string(&Message::Change(m)).unwrap_or_default();
            if tx.send(event(&text)).await.is_err() {
                return;
            }
        }
        if !read.complete {
            continue;
        }
        if had || first {
            let text = serde_json::to_string(&Message::up_to_date(Some(read.head))).unwrap_or_default();
            if tx.send(event(&text)).await.is_err() {
                return;
            }
        }
        first = false;
        let mut next_ping = Instant::now() + keepalive;
        loop {
            if Instant::now() >= deadline {
                return;
            }
            tokio::select! {
                r = changes.changed() => {
                    if r.is_err() { return; }
                    break;
                }
                _ = tokio::time::sleep_until(next_ping.min(deadline)) => {
                    if Instant::now() >= deadline { return; }
                    if tx.send(Bytes::from_static(b": keep-alive\n\n")).await.is_err() { return; }
                    next_ping = Instant::now() + keepalive;
                }
                _ = tx.closed() => return,
            }
        }
    }
}
