//! Carrying out one `IssueRequest`: fetch with an `AbortController`, classify the answer, parse
//! a long-poll body, or read an SSE body chunk by chunk through the core's `SseDecoder`. Every
//! outcome goes back to the machine as an [`Input`]; nothing here decides what happens next.

use std::rc::Weak;

use js_sys::{Array, Function, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, Headers, ReadableStreamDefaultReader, RequestInit, Response};

use super::env::{self, now_ms};
use super::options::parse_shape;
use super::{dispatch, Inner, LastResponse};
use crate::protocol::message::parse_event;
use crate::protocol::request::{build_url, RequestParams};
use crate::protocol::response::{classify, is_event_stream, RequestKind, ResponseClass};
use crate::protocol::sse::{SseDecoder, StreamEnd};
use crate::stream::{Input, RequestId};
use crate::web::error::to_js_error;

/// The headers the classifier and the SSE check read.
const READ_HEADERS: [&str; 7] = [
    "electric-handle",
    "electric-offset",
    "electric-schema",
    "electric-cursor",
    "electric-up-to-date",
    "retry-after",
    "content-type",
];

fn collect_headers(h: &Headers) -> Vec<(String, String)> {
    READ_HEADERS
        .iter()
        .filter_map(|name| h.get(name).ok().flatten().map(|v| ((*name).to_owned(), v)))
        .collect()
}

/// Where a request's headers come from.
#[derive(Debug)]
pub enum HeaderSource {
    /// Fixed pairs.
    Static(Vec<(String, String)>),
    /// A JS function returning (a promise of) `[name, value]` pairs, called per request.
    Provider(Function),
}

/// Where a request's URL comes from.
#[derive(Debug)]
pub enum UrlSource {
    /// Built already.
    Ready(String),
    /// Built after `provider()` resolved the shape definition (`params` with functions).
    Deferred {
        /// Returns (a promise of) the definition's JSON document.
        provider: Function,
        /// The shape endpoint.
        base: String,
        /// The machine's part of the URL.
        params: RequestParams,
    },
}

/// One request to carry out.
#[derive(Debug)]
pub struct Request {
    /// The machine's id for it.
    pub id: RequestId,
    /// The full URL, or how to build it.
    pub url: UrlSource,
    /// Its headers.
    pub headers: HeaderSource,
    /// The signal of its `AbortController` (kept by the driver for `CancelRequest`).
    pub signal: AbortSignal,
    /// What the classifier checks the answer against.
    pub kind: RequestKind,
    /// The fetch already started for exactly this request (see `prefetch`).
    pub prefetched: Option<Promise>,
}

async fn resolve_headers(source: HeaderSource) -> Result<Vec<(String, String)>, JsValue> {
    match source {
        HeaderSource::Static(h) => Ok(h),
        HeaderSource::Provider(f) => {
            let v = f.call0(&JsValue::UNDEFINED)?;
            let v = JsFuture::from(Promise::resolve(&v)).await?;
            let mut out = Vec::new();
            for pair in Array::from(&v).iter() {
                let pair = Array::from(&pair);
                if let (Some(k), Some(val)) = (pair.get(0).as_string(), pair.get(1).as_string()) {
                    out.push((k, val));
                }
            }
            Ok(out)
        }
    }
}

/// Resolve the URL; a deferred one records the resolved definition as the driver's current.
async fn resolve_url(weak: &Weak<Inner>, source: UrlSource) -> Result<String, JsValue> {
    match source {
        UrlSource::Ready(u) => Ok(u),
        UrlSource::Deferred {
            provider,
            base,
            params,
        } => {
            let v = provider.call0(&JsValue::UNDEFINED)?;
            let v = JsFuture::from(Promise::resolve(&v)).await?;
            let json = v
                .as_string()
                .ok_or_else(|| JsValue::from_str("the params provider did not resolve to a string"))?;
            let shape = parse_shape(&json, &base).map_err(|e| to_js_error(&e))?;
            let url = build_url(&base, &shape, &params).map_err(|e| to_js_error(&e))?;
            if let Some(inner) = weak.upgrade() {
                inner.core.borrow_mut().shape = shape;
            }
            Ok(url)
        }
    }
}

fn request_init(headers: &[(String, String)], req: &Request) -> Result<RequestInit, JsValue> {
    let h = Headers::new()?;
    for (k, v) in headers {
        h.set(k, v)?;
    }
    if req.kind.sse {
        h.set("accept", "text/event-stream")?;
    }
    let init = RequestInit::new();
    init.set_method("GET");
    init.set_headers(&h);
    init.set_signal(Some(&req.signal));
    Ok(init)
}

/// Fetch and report the outcome to the driver behind `weak` (if it still exists).
pub async fn run(weak: Weak<Inner>, mut req: Request) {
    let (id, kind) = (req.id, req.kind);
    let source = std::mem::replace(&mut req.headers, HeaderSource::Static(Vec::new()));
    let url_source = std::mem::replace(&mut req.url, UrlSource::Ready(String::new()));
    let init = match resolve_url(&weak, url_source).await {
        Ok(url) => match resolve_headers(source).await {
            Ok(h) => request_init(&h, &req).map(|i| (url, i)),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let (url, init) = match init {
        Ok(i) => i,
        Err(e) => {
            env::warn_value(
                "eddy: building the request failed (params or headers provider?)",
                &e,
            );
            return send(&weak, vec![Input::NetworkError { request_id: id }]);
        }
    };
    if req.signal.aborted() {
        return;
    }
    let fetching = match req.prefetched.take() {
        Some(p) => p,
        None => match weak.upgrade() {
            Some(inner) => super::fetch_fn::start(&inner, &url, &init, kind),
            None => return,
        },
    };
    let resp = JsFuture::from(fetching).await;
    let resp: Response = match resp {
        Ok(v) => v.unchecked_into(),
        Err(_) => return send(&weak, vec![Input::NetworkError { request_id: id }]),
    };
    let status = resp.status();
    let js_headers = resp.headers();
    let headers = collect_headers(&js_headers);
    // A 2xx is classified by its headers alone (the body only explains errors): once, here,
    // for the prefetch, the SSE open and the long-poll answer alike.
    let ok_2xx = (200..300).contains(&status) && status != 204;
    let by_headers = ok_2xx.then(|| classify(status, &headers, &[], kind, now_ms()));
    if let Some(inner) = weak.upgrade() {
        if let Some(Ok(ResponseClass::Ok(meta))) = &by_headers {
            super::prefetch::start(&inner, status, meta, kind);
        }
        inner.core.borrow_mut().last_response = Some(LastResponse {
            url: url.clone(),
            status,
            headers: js_headers,
        });
    }
    if let (true, Some(class)) = (kind.sse, &by_headers) {
        let class = class.clone();
        let opened = matches!(class, Ok(ResponseClass::Ok(_)));
        send(
            &weak,
            vec![Input::ResponseReceived {
                request_id: id,
                class,
                body: None,
            }],
        );
        if opened {
            if is_event_stream(&headers) {
                read_sse(&weak, id, &resp).await;
            } else {
                // A 200 that is not an event stream (a proxy rewrote it): a short close, which
                // makes the machine fall back to long-polling after a few.
                send(
                    &weak,
                    vec![Input::SseClosed {
                        request_id: id,
                        clean: true,
                    }],
                );
            }
        }
        return;
    }
    if let Some(Ok(class @ ResponseClass::Ok(_))) = by_headers.as_ref().filter(|_| status != 204) {
        // A 2xx with messages: parsed while it downloads.
        let class = Ok(class.clone());
        let body = super::body_read::read_messages(&weak, &resp).await;
        return send(
            &weak,
            vec![Input::ResponseReceived {
                request_id: id,
                class,
                body: Some(body),
            }],
        );
    }
    // Anything else is classified with its (small) body: an error explains itself there.
    let bytes = match resp.array_buffer() {
        Ok(p) => JsFuture::from(p).await.map(|b| Uint8Array::new(&b).to_vec()),
        Err(e) => Err(e),
    };
    let now = now_ms();
    let input = Input::ResponseReceived {
        request_id: id,
        class: by_headers.unwrap_or_else(|| {
            let bytes = bytes.as_deref().unwrap_or_default();
            classify(status, &headers, bytes, kind, now)
        }),
        body: None,
    };
    send(&weak, vec![input]);
}

/// Read an SSE body until it ends, is cancelled, or the driver goes away.
async fn read_sse(weak: &Weak<Inner>, id: RequestId, resp: &Response) {
    let Some(body) = resp.body() else {
        return send(
            weak,
            vec![Input::SseClosed {
                request_id: id,
                clean: false,
            }],
        );
    };
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut decoder = SseDecoder::new();
    loop {
        let chunk = JsFuture::from(reader.read()).await;
        let current = weak
            .upgrade()
            .is_some_and(|inner| inner.core.borrow().requests.contains_key(&id));
        if !current {
            let _ = reader.cancel();
            return;
        }
        let chunk = match chunk {
            Ok(c) => c,
            Err(_) => {
                return send(
                    weak,
                    vec![Input::SseClosed {
                        request_id: id,
                        clean: false,
                    }],
                )
            }
        };
        let done = Reflect::get(&chunk, &JsValue::from_str("done"))
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true);
        if done {
            let clean = decoder.finish() == StreamEnd::Clean;
            return send(
                weak,
                vec![Input::SseClosed {
                    request_id: id,
                    clean,
                }],
            );
        }
        let bytes = Reflect::get(&chunk, &JsValue::from_str("value"))
            .ok()
            .filter(|v| v.is_instance_of::<Uint8Array>())
            .map(|v| v.unchecked_into::<Uint8Array>().to_vec())
            .unwrap_or_default();
        if let Some(inner) = weak.upgrade() {
            inner.core.borrow_mut().bytes_pending += bytes.len() as u64;
        }
        match decoder.push(&bytes) {
            Ok(events) => {
                let inputs: Vec<Input> = events
                    .iter()
                    .filter_map(|ev| match parse_event(ev.data.as_bytes()) {
                        Ok(Some(m)) => Some(Ok(m)),
                        Ok(None) => None,
                        Err(e) => Some(Err(e)),
                    })
                    .map(|message| Input::SseEvent {
                        request_id: id,
                        message,
                    })
                    .collect();
                if !inputs.is_empty() {
                    send(weak, inputs);
                }
            }
            Err(_) => {
                let _ = reader.cancel();
                return send(
                    weak,
                    vec![Input::SseClosed {
                        request_id: id,
                        clean: false,
                    }],
                );
            }
        }
    }
}

/// Hand inputs to the machine. A request whose answer is final (anything but an SSE stream
/// that just opened) is forgotten first, so its controller is dropped.
fn send(weak: &Weak<Inner>, inputs: Vec<Input>) {
    let Some(inner) = weak.upgrade() else { return };
    for input in &inputs {
        let done = match input {
            Input::NetworkError { request_id } | Input::SseClosed { request_id, .. } => Some(*request_id),
            Input::ResponseReceived {
                request_id,
                class: Ok(ResponseClass::Ok(_)),
                body: None,
            } if inner.core.borrow().sse_requests.contains(request_id) => None,
            Input::ResponseReceived { request_id, .. } => Some(*request_id),
            _ => None,
        };
        if let Some(id) = done {
            let mut core = inner.core.borrow_mut();
            core.requests.remove(&id);
            core.sse_requests.remove(&id);
        }
    }
    dispatch(&inner, inputs);
}
