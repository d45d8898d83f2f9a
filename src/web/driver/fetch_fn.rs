//! The `fetch` a driver uses: the global one, or a function the facade sets (the user's
//! `fetchClient` for every request, or the package's worker fetch, which reads response bodies
//! off the main thread, for catch-up requests only: live answers are small and every hop would
//! add to their latency).
//! The function is called like `fetch(url, init)`; whatever it returns or throws becomes a
//! promise, so a misbehaving client is a network error, never a panic.

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use web_sys::RequestInit;

use super::env::global_fetch;
use super::{Inner, ShapeStreamDriver};
use crate::protocol::response::RequestKind;

/// Start `fetch(url, init)` with the driver's fetch function. Call with no borrow of the
/// driver's state held (the function is JS).
pub(super) fn start(inner: &Inner, url: &str, init: &RequestInit, kind: RequestKind) -> Promise {
    let f = {
        let core = inner.core.borrow();
        let catch_up = !kind.live && !kind.sse;
        core.fetch_fn
            .clone()
            .filter(|_| catch_up || !core.fetch_catch_up_only)
    };
    match f {
        None => global_fetch(url, init),
        Some(f) => match f.call2(&JsValue::NULL, &JsValue::from_str(url), init) {
            Ok(v) => Promise::resolve(&v),
            Err(e) => Promise::reject(&e),
        },
    }
}

#[wasm_bindgen]
impl ShapeStreamDriver {
    /// Use `fetch` (called as `fetch(url, init)`, returning a `Response` or a promise of one)
    /// for every HTTP request from now on, or with `catch_up_only` for the non-live long-polls
    /// only; `undefined` goes back to the global `fetch`.
    #[wasm_bindgen(js_name = setFetch)]
    pub fn set_fetch(&self, fetch: Option<Function>, catch_up_only: bool) {
        let mut core = self.inner.core.borrow_mut();
        core.fetch_fn = fetch;
        core.fetch_catch_up_only = catch_up_only;
    }
}
