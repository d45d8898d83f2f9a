//! Small JS glue shared by the browser storage backends: awaiting a promise, settling on one
//! of two events (IndexedDB requests and transactions), and mapping a thrown or rejected JS
//! value (usually a `DOMException`) to a [`StorageError`] by its `name`/`code`.

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::EventTarget;

use crate::persist::StorageError;

/// The string property `key` of `v`, if any.
pub(crate) fn prop_str(v: &JsValue, key: &str) -> Option<String> {
    Reflect::get(v, &JsValue::from_str(key))
        .ok()
        .and_then(|x| x.as_string())
}

/// Map a JS error to a storage error: `QuotaExceededError` (or a custom storage's
/// `EDDY_STORAGE_QUOTA` / `StorageQuotaError`) is [`StorageError::Quota`]; an access handle or
/// database taken from us (`NoModificationAllowedError`, `InvalidStateError`, `NotFoundError`,
/// `EDDY_STORAGE_LOST`) is [`StorageError::Lost`]; `EDDY_STORAGE_CORRUPT` is
/// [`StorageError::Corrupt`]; anything else [`StorageError::Backend`].
pub(crate) fn storage_error(e: &JsValue, what: &str) -> StorageError {
    let name = prop_str(e, "name").unwrap_or_default();
    let code = prop_str(e, "code").unwrap_or_default();
    let message = prop_str(e, "message")
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"));
    let text = format!("{what}: {name}: {message}");
    match (name.as_str(), code.as_str()) {
        ("QuotaExceededError" | "StorageQuotaError", _) | (_, "EDDY_STORAGE_QUOTA") => {
            StorageError::Quota(text)
        }
        ("NoModificationAllowedError" | "InvalidStateError" | "NotFoundError", _)
        | (_, "EDDY_STORAGE_LOST") => StorageError::Lost(text),
        (_, "EDDY_STORAGE_CORRUPT") => StorageError::Corrupt(text),
        _ => StorageError::Backend(text),
    }
}

/// Await a promise (or a plain value).
pub(crate) async fn settle(v: JsValue) -> Result<JsValue, JsValue> {
    let p = match v.dyn_into::<Promise>() {
        Ok(p) => p,
        Err(v) => Promise::resolve(&v),
    };
    JsFuture::from(p).await
}

/// Wait until `target` fires `ok` (resolves with `value()`) or one of `fail` (rejects with
/// `error()`). The handlers are plain `on<event>` properties, removed again before returning,
/// so nothing outlives the wait.
pub(crate) async fn on_event(
    target: &EventTarget,
    ok: &str,
    fail: &[&str],
    value: impl Fn() -> JsValue + 'static,
    error: impl Fn() -> JsValue + 'static,
) -> Result<JsValue, JsValue> {
    let (mut res, mut rej) = (None, None);
    let promise = Promise::new(&mut |a, b| {
        res = Some(a);
        rej = Some(b);
    });
    let (resolve, reject): (Function, Function) = (res.unwrap_throw(), rej.unwrap_throw());
    let on_ok = Closure::<dyn FnMut(JsValue)>::new(move |_ev: JsValue| {
        let _ = resolve.call1(&JsValue::UNDEFINED, &value());
    });
    let on_fail = Closure::<dyn FnMut(JsValue)>::new(move |_ev: JsValue| {
        let _ = reject.call1(&JsValue::UNDEFINED, &error());
    });
    let set = |event: &str, f: &JsValue| {
        let _ = Reflect::set(target, &JsValue::from_str(&format!("on{event}")), f);
    };
    set(ok, on_ok.as_ref());
    for e in fail {
        set(e, on_fail.as_ref());
    }
    let r = JsFuture::from(promise).await;
    set(ok, &JsValue::NULL);
    for e in fail {
        set(e, &JsValue::NULL);
    }
    drop((on_ok, on_fail));
    r
}
