//! Typed core values → JS values, built in Rust so a row crosses the boundary in one call.
//!
//! `int2`/`int4`/`float*` become numbers, `int8` a `BigInt` (full 64-bit range), `bool` a
//! boolean, `json`/`jsonb` plain JS objects and arrays, arrays JS arrays, everything else a
//! string, SQL NULL `null`.

use js_sys::{Array, Object};
use wasm_bindgen::JsValue;

use super::error::set;
use crate::protocol::{parse_row, Parsers, Row, Schema, Value, ValueError};

/// One typed value as a JS value.
pub fn value_to_js(v: &Value) -> JsValue {
    match v {
        Value::Null => JsValue::NULL,
        Value::Bool(b) => JsValue::from_bool(*b),
        Value::Int(i) => JsValue::from_f64(f64::from(*i)),
        Value::BigInt(i) => js_sys::BigInt::from(*i).into(),
        Value::Float(f) => JsValue::from_f64(*f),
        Value::Text(s) => JsValue::from_str(s),
        Value::Json(j) => json_to_js(j),
        Value::Array(items) => items.iter().map(value_to_js).collect::<Array>().into(),
    }
}

/// A JSON document as plain JS data (what `JSON.parse` would give, numbers as doubles).
pub fn json_to_js(j: &serde_json::Value) -> JsValue {
    match j {
        serde_json::Value::Null => JsValue::NULL,
        serde_json::Value::Bool(b) => JsValue::from_bool(*b),
        serde_json::Value::Number(n) => JsValue::from_f64(n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(s) => JsValue::from_str(s),
        serde_json::Value::Array(a) => a.iter().map(json_to_js).collect::<Array>().into(),
        serde_json::Value::Object(m) => {
            let o = Object::new();
            for (k, v) in m {
                set(&o, k, &json_to_js(v));
            }
            o.into()
        }
    }
}

/// A wire row typed through the schema, as a plain JS object.
pub fn row_to_js(schema: &Schema, row: &Row, parsers: &Parsers) -> Result<JsValue, ValueError> {
    let o = Object::new();
    for (column, value) in parse_row(schema, row, parsers)? {
        set(&o, &column, &value_to_js(&value));
    }
    Ok(o.into())
}
