//! Where an `IssueRequest` goes over HTTP (`fetch`, long-poll or SSE), and the driver as a
//! client of the shared WebSocket manager (`web::ws`): its inputs, and its HTTP fallback.

use std::rc::Rc;

use web_sys::AbortController;

use super::{dispatch, flush, io, prefetch, Inner, Note};
use crate::protocol::request::{build_url, RequestParams};
use crate::protocol::response::RequestKind;
use crate::stream::{Input, RequestId};
use crate::web::error::to_js_error;
use crate::web::ws;

/// Carry out one request with `fetch` (long-poll or SSE).
pub(super) fn issue(inner: &Rc<Inner>, request_id: RequestId, params: RequestParams, kind: RequestKind) {
    let (url, headers) = {
        let core = inner.core.borrow();
        let url = match &core.shape_provider {
            Some(f) => Ok(io::UrlSource::Deferred {
                provider: f.clone(),
                base: core.base_url.clone(),
                params,
            }),
            None => build_url(&core.base_url, &core.shape, &params).map(io::UrlSource::Ready),
        };
        let headers = match &core.headers_provider {
            Some(f) => io::HeaderSource::Provider(f.clone()),
            None => io::HeaderSource::Static(core.headers.clone()),
        };
        (url, headers)
    };
    let url = match url {
        Ok(u) => u,
        Err(e) => return inner.notes.borrow_mut().push(Note::Error(to_js_error(&e))),
    };
    let prefetched = match &url {
        io::UrlSource::Ready(u) if !kind.live && !kind.sse => prefetch::take(inner, u),
        _ => None,
    };
    let (controller, prefetched) = match prefetched {
        Some((c, response)) => (c, Some(response)),
        None => match AbortController::new() {
            Ok(c) => (c, None),
            Err(e) => return inner.notes.borrow_mut().push(Note::Error(e)),
        },
    };
    let signal = controller.signal();
    {
        let mut core = inner.core.borrow_mut();
        core.requests.insert(request_id, controller);
        if kind.sse {
            core.sse_requests.insert(request_id);
        }
    }
    let req = io::Request {
        id: request_id,
        url,
        headers,
        signal,
        kind,
        prefetched,
    };
    wasm_bindgen_futures::spawn_local(io::run(Rc::downgrade(inner), req));
}

impl ws::Client for Inner {
    fn inputs(self: Rc<Self>, inputs: Vec<Input>) {
        dispatch(&self, inputs);
    }

    fn fallback(self: Rc<Self>, request_id: RequestId, params: RequestParams, kind: RequestKind) {
        issue(&self, request_id, params, kind);
        let _ = flush(&self);
    }
}
