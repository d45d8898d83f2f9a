//! `GET /v1/ws`: many shapes multiplexed over one WebSocket (framing in `server/PROTOCOL-WS.md`).
//!
//! Each subscription runs the same offset state machine as long-poll ([`crate::engine`]):
//! snapshot chunks, then log batches, then live batches as commits arrive. Every batch carries
//! the offset to resume from, so a client that reconnects (over WebSocket or plain HTTP) with
//! `(handle, offset)` of the last batch it fully processed loses nothing. A socket holds one
//! live slot (`--max-live`) however many shapes it carries.
//!
//! With `--faults <seed>:<rate>`, every subscribe and every batch about to be sent draws from
//! the same kind of seeded sequence as `GET /v1/shape` ([`crate::faults`]), so clients' socket
//! recovery can be tested: `unavailable`/`internal` end the subscription with a 503/500 error
//! frame, `abort` cuts the socket before the batch and `truncate` right after it, `delay` holds
//! the batch (and the ones after it), `rotate` drops the shape's handle (a `must-refetch`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::Response;
use eddy::protocol::Offset;
use serde_json::{json, Value as Json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::encode;
use crate::engine::{self, Step};
use crate::faults::{self, Fault};
use crate::ident::quote_ident;
use crate::shape::{DefParams, Shape};
use crate::state::{AppState, LiveGuard, Resolved};

/// Subscriptions one socket may hold.
pub const MAX_SUBSCRIPTIONS: usize = 64;
/// Largest client frame accepted.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// What a subscription task hands to its socket.
enum Out {
    /// A text frame.
    Frame(String),
    /// An injected fault: drop the connection with no close frame.
    Cut,
}

/// Subscribe and batch steps seen by the fault layer (`--faults`).
static FAULT_STEPS: AtomicU64 = AtomicU64::new(0);

/// The injected fault for the next step, if faults are on.
fn fault(app: &AppState) -> Option<Fault> {
    let spec = app.config.faults?;
    faults::decide(spec, FAULT_STEPS.fetch_add(1, Ordering::Relaxed))
}

/// The error frame of an injected `unavailable`/`internal` fault.
fn fault_frame(id: &str, fault: Fault) -> Option<String> {
    let (status, message) = match fault {
        Fault::Unavailable => (503, "Injected fault: unavailable"),
        Fault::Internal => (500, "Injected fault: internal error"),
        _ => return None,
    };
    Some(error_frame(Some(id), status, "fault", message))
}

/// Upgrade to a WebSocket session (503 when the live limit is reached).
pub async fn upgrade(State(app): State<Arc<AppState>>, ws: WebSocketUpgrade) -> Response<Body> {
    let Some(guard) = app.try_live() else {
        return encode::unavailable(
            5,
            "concurrent_request_limit_exceeded",
            "Too many concurrent live connections",
        );
    };
    ws.max_message_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| session(app, socket, guard))
}

fn error_frame(id: Option<&str>, status: u16, field: &str, message: impl Into<String>) -> String {
    let mut body = encode::error_json(
        if status == 400 { "Invalid request" } else { "Error" },
        &[(field, message.into())],
    );
    if let Some(o) = body.as_object_mut() {
        o.insert("type".into(), json!("error"));
        o.insert("id".into(), json!(id));
        o.insert("status".into(), json!(status));
    }
    body.to_string()
}

async fn session(app: Arc<AppState>, mut socket: WebSocket, _guard: LiveGuard) {
    let (out_tx, mut out_rx) = mpsc::channel::<Out>(256);
    let mut subs: HashMap<String, JoinHandle<()>> = HashMap::new();
    loop {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(WsMessage::Text(text))) => {
                    subs.retain(|_, h| !h.is_finished());
                    if let Some(reply) = handle_frame(&app, text.as_str(), &out_tx, &mut subs) {
                        if socket.send(WsMessage::Text(reply.into())).await.is_err() {
                            break;
                        }
                    }
                }
                Some(Ok(WsMessage::Binary(_))) => {
                    let f = error_frame(None, 400, "frame", "binary frames are not supported; send JSON text");
                    if socket.send(WsMessage::Text(f.into())).await.is_err() {
                        break;
                    }
                }
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            Some(out) = out_rx.recv() => match out {
                Out::Frame(text) => {
                    if socket.send(WsMessage::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Out::Cut => break,
            }
        }
    }
    for (_, h) in subs {
        h.abort();
    }
}

/// Handle one client frame; returns an immediate reply, if any.
fn handle_frame(
    app: &Arc<AppState>,
    text: &str,
    out: &mpsc::Sender<Out>,
    subs: &mut HashMap<String, JoinHandle<()>>,
) -> Option<String> {
    let Ok(frame) = serde_json::from_str::<Json>(text) else {
        return Some(error_frame(None, 400, "frame", "not a JSON object"));
    };
    let id = frame.get("id").and_then(Json::as_str);
    match frame.get("type").and_then(Json::as_str) {
        Some("ping") => Some(json!({"type": "pong"}).to_string()),
        Some("unsubscribe") => {
            let id = id?;
            if let Some(h) = subs.remove(id) {
                h.abort();
            }
            Some(json!({"type": "unsubscribed", "id": id}).to_string())
        }
        Some("subscribe") => {
            let Some(id) = id.filter(|i| !i.is_empty() && i.len() <= 128) else {
                return Some(error_frame(
                    None,
                    400,
                    "id",
                    "subscribe needs an id (1-128 characters)",
                ));
            };
            if subs.contains_key(id) {
                return Some(error_frame(
                    Some(id),
                    400,
                    "id",
                    "already subscribed with this id",
                ));
            }
            if subs.len() >= MAX_SUBSCRIPTIONS {
                return Some(error_frame(
                    Some(id),
                    400,
                    "id",
                    format!("at most {MAX_SUBSCRIPTIONS} subscriptions per socket"),
                ));
            }
            match parse_subscribe(app, &frame) {
                Ok((shape, offset, handle)) => {
                    let task = tokio::spawn(run(
                        app.clone(),
                        id.to_string(),
                        shape,
                        offset,
                        handle,
                        out.clone(),
                    ));
                    subs.insert(id.to_string(), task);
                    None
                }
                Err((field, msg)) => Some(error_frame(Some(id), 400, field, msg)),
            }
        }
        _ => Some(error_frame(
            id,
            400,
            "type",
            "must be subscribe, unsubscribe or ping",
        )),
    }
}

type Invalid = (&'static str, String);

fn parse_subscribe(app: &AppState, f: &Json) -> Result<(Shape, Offset, Option<String>), Invalid> {
    let s = |k: &str| f.get(k).and_then(Json::as_str);
    let offset_text = s("offset").unwrap_or("-1");
    let offset = Offset::parse(offset_text).map_err(|_| ("offset", "has invalid format".to_string()))?;
    let handle = if offset.is_initial() {
        None
    } else {
        Some(
            s("handle")
                .filter(|h| !h.is_empty())
                .ok_or(("handle", "can't be blank when offset != -1".to_string()))?,
        )
    };
    let mut params = std::collections::BTreeMap::new();
    match f.get("params") {
        None | Some(Json::Null) => {}
        Some(Json::Object(m)) => {
            for (k, v) in m {
                let n = k.parse::<u32>().ok().filter(|n| (1..=1000).contains(n));
                match (n, v.as_str()) {
                    (Some(n), Some(v)) => {
                        params.insert(n, v.to_string());
                    }
                    _ => {
                        return Err((
                            "params",
                            format!("invalid parameter {k:?}: expected \"1\": \"text\""),
                        ))
                    }
                }
            }
        }
        Some(Json::Array(a)) => {
            for (i, v) in a.iter().enumerate() {
                let v = v
                    .as_str()
                    .ok_or(("params", "parameter values must be strings".to_string()))?;
                params.insert(i as u32 + 1, v.to_string());
            }
        }
        Some(_) => return Err(("params", "must be an object or an array of strings".into())),
    }
    let columns = match f.get("columns") {
        None | Some(Json::Null) => None,
        Some(Json::String(c)) => Some(c.clone()),
        Some(Json::Array(a)) => Some(
            a.iter()
                .map(|c| {
                    c.as_str()
                        .map(quote_ident)
                        .ok_or(("columns", "column names must be strings".to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?
                .join(","),
        ),
        Some(_) => return Err(("columns", "must be a string or an array of names".into())),
    };
    let def = DefParams {
        table: s("table"),
        where_sql: s("where"),
        params,
        columns: columns.as_deref(),
        replica: s("replica"),
        log: s("log"),
    };
    let shape =
        Shape::from_params(&def, app.store.catalog(), app.def_limits()).map_err(|e| (e.field, e.message))?;
    Ok((shape, offset, handle.map(String::from)))
}

fn refetch_frame(id: &str, handle: &str) -> String {
    json!({"type": "must-refetch", "id": id, "handle": handle}).to_string()
}

fn batch_frame(
    id: &str,
    handle: &str,
    end: &str,
    up_to_date: bool,
    schema: Option<&str>,
    body: &str,
) -> String {
    let schema = schema.map_or(String::new(), |s| format!(",\"schema\":{s}"));
    format!(
        "{{\"type\":\"batch\",\"id\":{},\"handle\":{},\"offset\":{},\"up_to_date\":{up_to_date}{schema},\"messages\":{body}}}",
        json!(id),
        json!(handle),
        json!(end)
    )
}

/// Drop `handle` as `DELETE /v1/shape` would (an injected `rotate`).
async fn rotate(app: &Arc<AppState>, handle: String) {
    let a = app.clone();
    let _ = crate::http::blocking(move || a.drop_handles(&[handle])).await;
}

/// Carry out an injected fault before a step; `false` when the subscription has ended.
async fn before_step(id: &str, fault: Fault, out: &mpsc::Sender<Out>) -> bool {
    match fault {
        Fault::Delay(ms) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            true
        }
        Fault::Abort => {
            let _ = out.send(Out::Cut).await;
            false
        }
        Fault::Unavailable | Fault::Internal => {
            if let Some(f) = fault_frame(id, fault) {
                let _ = out.send(Out::Frame(f)).await;
            }
            false
        }
        // Carried out by the caller (they need the step's frame or handle).
        Fault::Truncate | Fault::Rotate => true,
    }
}

async fn run(
    app: Arc<AppState>,
    id: String,
    shape: Shape,
    mut offset: Offset,
    handle: Option<String>,
    out: mpsc::Sender<Out>,
) {
    let injected = fault(&app);
    if let Some(f) = injected {
        if !before_step(&id, f, &out).await {
            return;
        }
        match (f, &handle) {
            (Fault::Rotate, Some(h)) => rotate(&app, h.clone()).await,
            (Fault::Truncate, _) => {
                let _ = out.send(Out::Cut).await;
                return;
            }
            _ => {}
        }
    }
    let a = app.clone();
    let resolved = crate::http::blocking(move || a.resolve(&shape, handle.as_deref())).await;
    let entry = match resolved {
        Ok(Ok(Resolved::Entry(e))) => e,
        Ok(Ok(Resolved::Conflict(h))) => {
            let _ = out.send(Out::Frame(refetch_frame(&id, &h))).await;
            return;
        }
        _ => {
            let f = error_frame(Some(&id), 500, "shape", "internal error");
            let _ = out.send(Out::Frame(f)).await;
            return;
        }
    };
    let mut live = false;
    let mut first = true;
    loop {
        let deadline = Instant::now() + Duration::from_millis(app.config.long_poll_ms);
        let frame = match engine::next(&app, &entry, offset, live, deadline).await {
            Step::Batch {
                body,
                end,
                up_to_date,
                has_data,
            } => {
                let same = Offset::parse(&end).ok() == Some(offset);
                if live && !has_data && same {
                    if out.is_closed() {
                        return;
                    }
                    continue;
                }
                let injected = fault(&app);
                if let Some(f) = injected {
                    if !before_step(&id, f, &out).await {
                        return;
                    }
                    if f == Fault::Rotate {
                        // Not sent: the next step finds the handle gone (a must-refetch).
                        rotate(&app, entry.handle.clone()).await;
                        continue;
                    }
                }
                let schema = first.then(|| entry.shape.schema_header());
                first = false;
                let f = batch_frame(&id, &entry.handle, &end, up_to_date, schema.as_deref(), &body);
                if injected == Some(Fault::Truncate) {
                    let _ = out.send(Out::Frame(f)).await;
                    let _ = out.send(Out::Cut).await;
                    return;
                }
                if let Ok(o) = Offset::parse(&end) {
                    offset = o;
                }
                live |= up_to_date;
                f
            }
            Step::Refetch(h) => {
                let _ = out.send(Out::Frame(refetch_frame(&id, &h))).await;
                return;
            }
            Step::OutOfBounds => {
                let f = error_frame(Some(&id), 400, "offset", "out of bounds for this shape");
                let _ = out.send(Out::Frame(f)).await;
                return;
            }
            Step::Internal(e) => {
                let _ = out
                    .send(Out::Frame(error_frame(Some(&id), 500, "shape", e)))
                    .await;
                return;
            }
        };
        if out.send(Out::Frame(frame)).await.is_err() {
            return;
        }
    }
}
