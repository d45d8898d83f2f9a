//! Core errors → real JS `Error` objects.
//!
//! Every error crossing into JS is a `js_sys::Error` whose `name` is the error family (the JS
//! subclass the TypeScript facade maps it to, e.g. `FetchError`) and which carries the stable
//! `code` from [`ErrorCode`] plus any structured details as own properties. Never a string.

use std::fmt::Display;

use wasm_bindgen::{JsCast, JsValue};

use crate::error::ErrorCode;

/// Build the JS error for a core error.
pub fn to_js_error<E: ErrorCode + Display + ?Sized>(err: &E) -> JsValue {
    let js = js_sys::Error::new(&err.to_string());
    js.set_name(err.family());
    set(&js, "code", &JsValue::from_str(err.code()));
    js.into()
}

/// Set an own property on a JS object; setting on a fresh object cannot fail. A column named
/// `__proto__` becomes an own data property instead of replacing the object's prototype.
pub(crate) fn set(target: &JsValue, key: &str, value: &JsValue) {
    if key == "__proto__" {
        let desc = js_sys::Object::new();
        for (k, v) in [
            ("value", value.clone()),
            ("writable", JsValue::TRUE),
            ("enumerable", JsValue::TRUE),
            ("configurable", JsValue::TRUE),
        ] {
            let _ = js_sys::Reflect::set(&desc, &JsValue::from_str(k), &v);
        }
        if let Some(obj) = target.dyn_ref::<js_sys::Object>() {
            let _ = js_sys::Reflect::define_property(obj, &JsValue::from_str(key), &desc);
        }
        return;
    }
    let _ = js_sys::Reflect::set(target, &JsValue::from_str(key), value);
}
