//! Bulk reads of rows for JS, each one JSON document (see `web::bulk`) in one call: all
//! committed rows, the committed rows from an index on, and — during an initial sync — the
//! pending inserts of the batches received so far, so a `Shape` can build their JS objects
//! while the rest downloads and check at the commit that they are what was committed
//! (`Materializer::pending_inserts` / `plain_commit`).

use wasm_bindgen::prelude::*;

use super::super::bulk::{self, BulkRows};
use super::super::error::{set, to_js_error};
use super::ShapeStreamDriver;
use crate::protocol::{Parsers, Row, Schema};

/// Render the `(key, row)` pairs `rows()` yields (called twice: to size the buffer, then to
/// write) into one document, keys included if asked.
fn render<'r, I: Iterator<Item = (&'r str, &'r Row)>>(
    rows: impl Fn() -> I,
    with_keys: bool,
    schema: Option<&Schema>,
    parsers: &Parsers,
) -> Result<JsValue, JsValue> {
    let empty = Schema::default();
    let schema = schema.unwrap_or(&empty);
    let mut b = BulkRows::with_capacity(bulk::estimate_bytes(rows().map(|(_, r)| r)));
    if with_keys {
        b = b.with_keys();
    }
    for (key, row) in rows() {
        b.push(with_keys.then_some(key), schema, row, parsers)
            .map_err(|e| to_js_error(&e))?;
    }
    Ok(bulk::to_js(&b.finish()))
}

#[wasm_bindgen]
impl ShapeStreamDriver {
    /// All committed rows as one JSON document (`{json, keys?, bigint, float}`: `[row, ...]`
    /// and, with keys, `[key, ...]`; see `web::bulk`), for `JSON.parse` on the JS side: the
    /// fast path for many rows.
    #[wasm_bindgen(js_name = rowsBulk)]
    pub fn rows_bulk(&self, with_keys: bool) -> Result<JsValue, JsValue> {
        self.rows_bulk_from(0, with_keys)
    }

    /// Like `rowsBulk`, for the committed rows from position `start` (map order) on.
    #[wasm_bindgen(js_name = rowsBulkFrom)]
    pub fn rows_bulk_from(&self, start: usize, with_keys: bool) -> Result<JsValue, JsValue> {
        let core = self.inner.core.borrow();
        let rows = || core.rows.rows().skip(start).map(|(k, r)| (k.as_str(), r));
        render(rows, with_keys, core.schema.as_deref(), &core.parsers)
    }

    /// During an initial sync: the pending inserts of the batches after segment `after`
    /// (`undefined`: from the first), as `rowsBulk(true)` renders them, plus `first` and
    /// `last`, the segment ids they came from. `undefined` when there are none or when what is
    /// pending is not an initial sync of plain inserts.
    #[wasm_bindgen(js_name = pendingBulk)]
    pub fn pending_bulk(&self, after: Option<f64>) -> Result<JsValue, JsValue> {
        let core = self.inner.core.borrow();
        let Some((range, inserts)) = core.rows.pending_inserts(after.map(|a| a as u64)) else {
            return Ok(JsValue::UNDEFINED);
        };
        let rows = || inserts.iter().map(|c| (c.key.as_str(), &c.value));
        let out = render(rows, true, core.schema.as_deref(), &core.parsers)?;
        drop(core);
        let o = out.unchecked_ref();
        set(o, "first", &JsValue::from_f64(range.first as f64));
        set(o, "last", &JsValue::from_f64(range.last as f64));
        Ok(out)
    }

    /// The last commit, if it made an empty map's rows from plain inserts:
    /// `{first, last, rows}` (segment ids and row count), else `undefined`.
    #[wasm_bindgen(js_name = plainCommit)]
    pub fn plain_commit(&self) -> JsValue {
        let Some(c) = self.inner.core.borrow().rows.plain_commit() else {
            return JsValue::UNDEFINED;
        };
        let o = js_sys::Object::new();
        set(&o, "first", &JsValue::from_f64(c.segments.first as f64));
        set(&o, "last", &JsValue::from_f64(c.segments.last as f64));
        set(&o, "rows", &JsValue::from_f64(c.rows as f64));
        o.into()
    }
}
