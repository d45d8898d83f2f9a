//! Prefetching the next chunk of an initial sync: as soon as the headers of a catch-up answer
//! arrive, the request the machine will issue next (`ShapeStream::prefetch_params`) is started,
//! so the next body downloads while this one is read, parsed and materialized.
//!
//! Nothing is decided here: [`take`] hands the prefetched fetch to the machine's next request
//! only when its URL is exactly the predicted one; any other request, an abort or the driver
//! going away aborts it. Only plain long-poll HTTP with static headers and params prefetches
//! (header and param functions must run per request; the WebSocket has its own flow).

use js_sys::Promise;
use web_sys::{AbortController, Headers, RequestInit};

use super::Inner;
use crate::protocol::request::build_url;
use crate::protocol::response::{RequestKind, ShapeMeta};

/// A request started ahead of the machine.
#[derive(Debug)]
pub(crate) struct Prefetch {
    url: String,
    controller: AbortController,
    response: Promise,
}

impl Prefetch {
    /// Stop it.
    pub(crate) fn abort(self) {
        self.controller.abort();
    }
}

/// After the headers of an answer to a non-live request (classified as `meta`): start the
/// predicted next request.
pub(super) fn start(inner: &Inner, status: u16, meta: &ShapeMeta, kind: RequestKind) {
    if kind.live || kind.sse || status != 200 {
        return;
    }
    let (url, request_headers) = {
        let core = inner.core.borrow();
        if core.headers_provider.is_some()
            || core.shape_provider.is_some()
            || core.ws.is_some()
            || core.closed
        {
            return;
        }
        let Some(params) = core.machine.prefetch_params(meta) else {
            return;
        };
        let Ok(url) = build_url(&core.base_url, &core.shape, &params) else {
            return;
        };
        (url, core.headers.clone())
    };
    let Some(p) = fetch(inner, url, &request_headers, kind) else {
        return;
    };
    let old = inner.core.borrow_mut().prefetch.replace(p);
    if let Some(old) = old {
        old.abort();
    }
}

fn fetch(inner: &Inner, url: String, headers: &[(String, String)], kind: RequestKind) -> Option<Prefetch> {
    let controller = AbortController::new().ok()?;
    let h = Headers::new().ok()?;
    for (k, v) in headers {
        h.set(k, v).ok()?;
    }
    let init = RequestInit::new();
    init.set_method("GET");
    init.set_headers(&h);
    init.set_signal(Some(&controller.signal()));
    let response = super::fetch_fn::start(inner, &url, &init, kind);
    Some(Prefetch {
        url,
        controller,
        response,
    })
}

/// The prefetched fetch for `url` (its controller and response promise), if that is what was
/// predicted. A prefetch for another URL is aborted (after the borrow ends).
pub(super) fn take(inner: &Inner, url: &str) -> Option<(AbortController, Promise)> {
    let p = inner.core.borrow_mut().prefetch.take()?;
    if p.url == url {
        Some((p.controller, p.response))
    } else {
        p.abort();
        None
    }
}
