//! Typed core values → JS values, built in Rust so a row crosses the boundary in one call.
//!
//! `int2`/`int4`/`float*` become numbers, `int8` a `BigInt` (full 64-bit range), `bool` a
//! boolean, `json`/`jsonb` plain JS objects and arrays, arrays JS arrays, everything else a
//! string, SQL NULL `null`.

use js_sys::{Array, Object};
use wasm_bindgen::JsValue;

use super::error::set;
use std::cell::RefCell;
use std::sync::Arc;

use crate::protocol::{parse_row, Column, Parsers, Row, Schema, Value, ValueError};

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
    row_to_js_cached(schema, row, parsers, &KeyCache::default())
}

/// [`row_to_js`] with column-name JS strings made once per column instead of once per cell
/// (decoding a string into JS costs far more than the property set).
pub fn row_to_js_cached(
    schema: &Schema,
    row: &Row,
    parsers: &Parsers,
    keys: &KeyCache,
) -> Result<JsValue, ValueError> {
    let o = Object::new();
    for (column, value) in parse_row(schema, row, parsers)? {
        let value = value_to_js(&value);
        match keys.key(&column) {
            Some(key) => {
                let _ = js_sys::Reflect::set(&o, &key, &value);
            }
            None => set(&o, &column, &value),
        }
    }
    Ok(o.into())
}

/// JS strings of column names, made on first use. Columns are interned `Arc<str>`s, so a
/// pointer comparison nearly always finds them; rows have few columns, so a list is enough.
#[derive(Debug, Default)]
pub struct KeyCache {
    keys: RefCell<Vec<(Column, JsValue)>>,
}

impl KeyCache {
    /// The cached JS string for `column`; `None` for `__proto__`, which must be defined, not set.
    fn key(&self, column: &Column) -> Option<JsValue> {
        if &**column == "__proto__" {
            return None;
        }
        let mut keys = self.keys.borrow_mut();
        let hit = keys
            .iter()
            .find(|(c, _)| Arc::ptr_eq(c, column) || **c == **column)
            .map(|(_, k)| k.clone());
        Some(hit.unwrap_or_else(|| {
            let k = JsValue::from_str(column);
            keys.push((column.clone(), k.clone()));
            k
        }))
    }
}
