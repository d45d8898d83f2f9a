//! Core errors → real JS `Error` objects.
//!
//! Every error crossing into JS is a `js_sys::Error` whose `name` is the error family (the JS
//! subclass the TypeScript facade maps it to, e.g. `FetchError`) and which carries the stable
//! `code` from [`ErrorCode`] plus any structured details as own properties. Never a string.

use std::fmt::Display;

use wasm_bindgen::JsValue;

use crate::error::ErrorCode;

/// Build the JS error for a core error.
pub fn to_js_error<E: ErrorCode + Display + ?Sized>(err: &E) -> JsValue {
    let js = js_sys::Error::new(&err.to_string());
    js.set_name(err.family());
    set(&js, "code", &JsValue::from_str(err.code()));
    js.into()
}

/// Set an own property on a JS object; setting on a fresh `Error` cannot fail.
pub(crate) fn set(target: &JsValue, key: &str, value: &JsValue) {
    let _ = js_sys::Reflect::set(target, &JsValue::from_str(key), value);
}
