//! The `fetch` a driver uses: the global one, or a function the facade sets (the user's
//! `fetchClient`, or the package's worker fetch that reads response bodies off the main thread).
//! The function is called like `fetch(url, init)`; whatever it returns or throws becomes a
//! promise, so a misbehaving client is a network error, never a panic.

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use web_sys::RequestInit;

use super::env::global_fetch;
use super::{Inner, ShapeStreamDriver};

/// Start `fetch(url, init)` with the driver's fetch function. Call with no borrow of the
/// driver's state held (the function is JS).
pub(super) fn start(inner: &Inner, url: &str, init: &RequestInit) -> Promise {
    let f = inner.core.borrow().fetch_fn.clone();
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
    /// for every HTTP request from now on; `undefined` goes back to the global `fetch`.
    #[wasm_bindgen(js_name = setFetch)]
    pub fn set_fetch(&self, fetch: Option<Function>) {
        self.inner.core.borrow_mut().fetch_fn = fetch;
    }
}
