//! The few browser globals the driver touches, bound without `window` so the same code runs
//! in a page, a worker and Node: `fetch`, `setTimeout`/`clearTimeout`, the clock, page
//! visibility and `navigator.onLine`.

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{EventTarget, RequestInit};

#[wasm_bindgen]
extern "C" {
    /// The global `fetch`.
    #[wasm_bindgen(js_name = fetch)]
    pub fn global_fetch(input: &str, init: &RequestInit) -> Promise;
    /// `setTimeout(cb, ms, arg)`: the extra argument is handed to `cb`.
    #[wasm_bindgen(js_name = setTimeout)]
    pub fn set_timeout_with_arg(cb: &Function, ms: f64, arg: f64) -> JsValue;
    /// `clearTimeout(handle)`.
    #[wasm_bindgen(js_name = clearTimeout)]
    pub fn clear_timeout(handle: &JsValue);
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    js_sys::Date::now().max(0.0) as u64
}

/// A seed for the machine's jitter.
pub fn seed() -> u64 {
    let hi = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    let lo = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    (hi << 32) ^ lo ^ now_ms()
}

fn global_get(name: &str) -> Option<JsValue> {
    Reflect::get(&js_sys::global(), &JsValue::from_str(name))
        .ok()
        .filter(|v| v.is_object())
}

fn has_listeners(v: &JsValue) -> bool {
    Reflect::has(v, &JsValue::from_str("addEventListener")).unwrap_or(false)
}

/// `document`, when there is one that can take listeners.
pub fn document() -> Option<EventTarget> {
    global_get("document")
        .filter(has_listeners)
        .map(JsCast::unchecked_into)
}

/// The global object, when it can take listeners (window or worker scope, not Node).
pub fn global_target() -> Option<EventTarget> {
    let g = js_sys::global();
    has_listeners(&g).then(|| g.unchecked_into())
}

/// `document.visibilityState !== "hidden"` (true without a document).
pub fn page_visible() -> bool {
    global_get("document")
        .and_then(|d| Reflect::get(&d, &JsValue::from_str("visibilityState")).ok())
        .and_then(|s| s.as_string())
        .is_none_or(|s| s != "hidden")
}

/// `navigator.onLine` (true when unknown).
pub fn online() -> bool {
    global_get("navigator")
        .and_then(|n| Reflect::get(&n, &JsValue::from_str("onLine")).ok())
        .and_then(|v| v.as_bool())
        .unwrap_or(true)
}

/// `console.warn` one line.
pub fn warn(msg: &str) {
    web_sys::console::warn_1(&JsValue::from_str(msg));
}

/// `console.warn` a line and a value.
pub fn warn_value(msg: &str, value: &JsValue) {
    web_sys::console::warn_2(&JsValue::from_str(msg), value);
}
