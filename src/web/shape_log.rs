//! `ShapeLog`: a shape's log materialized inside the browser. One call per response body in,
//! one call per read out; rows are typed (int8 as `BigInt`) only when JS asks for them.

use js_sys::Array;
use wasm_bindgen::prelude::*;

use super::bulk::{self, BulkRows};
use super::convert::row_to_js;
use super::error::to_js_error;
use crate::log::Materializer;
use crate::protocol::message::parse_body;
use crate::protocol::{Key, Parsers, Schema};

/// A materialized shape: feed it response bodies, read typed rows at up-to-date points.
#[wasm_bindgen]
#[derive(Debug, Default)]
pub struct ShapeLog {
    rows: Materializer,
    schema: Schema,
    parsers: Parsers,
}

#[wasm_bindgen]
impl ShapeLog {
    /// An empty shape.
    #[wasm_bindgen(constructor)]
    pub fn new() -> ShapeLog {
        ShapeLog::default()
    }

    /// Set the column types from an `electric-schema` header value. Throws a `ProtocolError`
    /// (`code` `EDDY_SCHEMA_*`) when the header is invalid; the previous schema stays.
    #[wasm_bindgen(js_name = setSchema)]
    pub fn set_schema(&mut self, header: &str) -> Result<(), JsValue> {
        self.schema = Schema::from_header(header).map_err(|e| to_js_error(&e))?;
        Ok(())
    }

    /// Parse one long-poll body (the bytes of a JSON array of messages) and apply it. Returns
    /// true when the body ended a consistent batch (up-to-date) and rows changed visibly.
    /// Throws a `ProtocolError` with a `code` when the body is malformed; nothing is applied.
    pub fn ingest(&mut self, body: &[u8]) -> Result<bool, JsValue> {
        let messages = parse_body(body).map_err(|e| to_js_error(&e))?;
        Ok(self.rows.ingest(messages).is_some_and(|c| !c.is_empty()))
    }

    /// Drop the shape's data at the next up-to-date (after a 409); rows stay visible until then.
    #[wasm_bindgen(js_name = mustRefetch)]
    pub fn must_refetch(&mut self) {
        self.rows.must_refetch();
    }

    /// Number of committed rows.
    #[wasm_bindgen(getter)]
    pub fn size(&self) -> usize {
        self.rows.len()
    }

    /// All committed rows as typed plain objects, in one crossing. Throws a `ParserError` or
    /// `ParserNullValueError` (with `code`) if a value does not match the schema.
    pub fn rows(&self) -> Result<Array, JsValue> {
        self.rows
            .rows()
            .map(|(_, row)| row_to_js(&self.schema, row, &self.parsers).map_err(|e| to_js_error(&e)))
            .collect()
    }

    /// All committed rows in one JSON document (`{json, keys?, bigint, float}`; see `web::bulk`), for
    /// `JSON.parse` on the JS side: the fast path for many rows.
    #[wasm_bindgen(js_name = rowsBulk)]
    pub fn rows_bulk(&self, with_keys: bool) -> Result<JsValue, JsValue> {
        let mut b = BulkRows::with_capacity(bulk::estimate_bytes(self.rows.rows().map(|(_, r)| r)));
        if with_keys {
            b = b.with_keys();
        }
        for (key, row) in self.rows.rows() {
            b.push(with_keys.then(|| key.as_str()), &self.schema, row, &self.parsers)
                .map_err(|e| to_js_error(&e))?;
        }
        Ok(bulk::to_js(&b.finish()))
    }

    /// One committed row by key, typed; `undefined` if absent.
    pub fn get(&self, key: &str) -> Result<JsValue, JsValue> {
        match self.rows.get(&Key::from(key)) {
            Some(row) => row_to_js(&self.schema, row, &self.parsers).map_err(|e| to_js_error(&e)),
            None => Ok(JsValue::UNDEFINED),
        }
    }
}
