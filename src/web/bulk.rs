//! Bulk reads: many typed rows cross into JS as **one** JSON string that JS turns into objects
//! with the native `JSON.parse`, instead of one boundary call per cell. JSON cannot carry a
//! `BigInt` or a non-finite float, so those cells are written as strings and their columns are
//! listed; JS converts just those columns (`BigInt(s)`, `Number(s)`), deeply for arrays.
//! The result equals what [`super::convert::row_to_js`] builds, cell for cell (checked in
//! `tests/e2e/facade.test.mjs` against the per-cell path, across every value kind).

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::protocol::{parse_row, Column, Parsers, Row, Schema, Value, ValueError};

/// Rows as one JSON document plus the columns that need converting after `JSON.parse`.
#[derive(Debug, Default)]
pub struct BulkRows {
    /// `[[key, row], ...]` (with keys) or `[row, ...]`.
    pub json: String,
    /// Columns holding an int8 (or int8 array) value, written as decimal strings.
    pub bigint_columns: BTreeSet<Column>,
    /// Columns holding a non-finite float, written as `"NaN"`, `"Infinity"` or `"-Infinity"`.
    pub float_columns: BTreeSet<Column>,
}

impl BulkRows {
    /// Start a document.
    pub fn new() -> Self {
        BulkRows {
            json: String::from("["),
            ..BulkRows::default()
        }
    }

    /// Append one row (as `[key, row]` when `key` is given).
    pub fn push(
        &mut self,
        key: Option<&str>,
        schema: &Schema,
        row: &Row,
        parsers: &Parsers,
    ) -> Result<(), ValueError> {
        let cells = parse_row(schema, row, parsers)?;
        if self.json.len() > 1 {
            self.json.push(',');
        }
        if let Some(k) = key {
            self.json.push('[');
            write_str(&mut self.json, k);
            self.json.push(',');
        }
        self.json.push('{');
        for (i, (column, value)) in cells.iter().enumerate() {
            if i > 0 {
                self.json.push(',');
            }
            write_str(&mut self.json, column);
            self.json.push(':');
            let mut flags = Flags::default();
            write_value(&mut self.json, value, &mut flags);
            if flags.bigint {
                self.bigint_columns.insert(column.clone());
            }
            if flags.non_finite {
                self.float_columns.insert(column.clone());
            }
        }
        self.json.push('}');
        if key.is_some() {
            self.json.push(']');
        }
        Ok(())
    }

    /// Close the document.
    pub fn finish(mut self) -> Self {
        self.json.push(']');
        self
    }
}

#[derive(Default)]
struct Flags {
    bigint: bool,
    non_finite: bool,
}

fn write_value(out: &mut String, v: &Value, flags: &mut Flags) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::BigInt(i) => {
            flags.bigint = true;
            let _ = write!(out, "\"{i}\"");
        }
        Value::Float(f) if f.is_finite() => {
            // `{:?}` prints the shortest string that reads back as the same f64.
            let _ = write!(out, "{f:?}");
        }
        Value::Float(f) => {
            flags.non_finite = true;
            out.push_str(if f.is_nan() {
                "\"NaN\""
            } else if *f > 0.0 {
                "\"Infinity\""
            } else {
                "\"-Infinity\""
            });
        }
        Value::Text(s) => write_str(out, s),
        Value::Json(j) => out.push_str(&j.to_string()),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item, flags);
            }
            out.push(']');
        }
    }
}

/// A JSON string literal: quote and backslash escaped, control characters as `\n`, `\r`,
/// `\t` or `\u00XX`; everything else (all of Unicode) is copied as is.
fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        if b == b'"' || b == b'\\' || b < 0x20 {
            out.push_str(s.get(start..i).unwrap_or_default());
            match b {
                b'"' => out.push_str("\\\""),
                b'\\' => out.push_str("\\\\"),
                b'\n' => out.push_str("\\n"),
                b'\r' => out.push_str("\\r"),
                b'\t' => out.push_str("\\t"),
                _ => {
                    let _ = write!(out, "\\u{b:04x}");
                }
            }
            start = i + 1;
        }
    }
    out.push_str(s.get(start..).unwrap_or_default());
    out.push('"');
}

/// The bulk document as a JS object `{json, bigint, float}` for the facade's `fromBulk`.
pub fn to_js(b: &BulkRows) -> wasm_bindgen::JsValue {
    use js_sys::{Array, Object};
    use wasm_bindgen::JsValue;
    let names = |s: &BTreeSet<Column>| -> Array { s.iter().map(|c| JsValue::from_str(c)).collect() };
    let o = Object::new();
    super::error::set(&o, "json", &JsValue::from_str(&b.json));
    super::error::set(&o, "bigint", &names(&b.bigint_columns));
    super::error::set(&o, "float", &names(&b.float_columns));
    o.into()
}
