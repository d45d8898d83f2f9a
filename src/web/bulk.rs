//! Bulk reads: many typed rows cross into JS as **one** JSON string that JS turns into objects
//! with the native `JSON.parse`, instead of one boundary call per cell. JSON cannot carry a
//! `BigInt` or a non-finite float, so those cells are written as strings and their columns are
//! listed; JS converts just those columns (`BigInt(s)`, `Number(s)`), deeply for arrays.
//! The cell rendering is the core's [`crate::protocol::value::write_json_value`]; the result
//! equals what [`super::convert::row_to_js`] builds, cell for cell (checked in
//! `tests/e2e/facade.test.mjs` against the per-cell path, across every value kind).

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::protocol::value::{write_json_str, write_json_value};
use crate::protocol::{Column, ColumnInfo, Parsers, Row, Schema, ValueError};

/// Rows as one JSON document plus the columns that need converting after `JSON.parse`.
#[derive(Debug, Default)]
pub struct BulkRows {
    /// `[row, ...]`.
    pub json: String,
    /// `[key, ...]` in row order, when keys were asked for.
    pub keys: Option<String>,
    /// Columns holding an int8 (or int8 array) value, written as decimal strings.
    pub bigint_columns: BTreeSet<Column>,
    /// Columns holding a non-finite float, written as `"NaN"`, `"Infinity"` or `"-Infinity"`.
    pub float_columns: BTreeSet<Column>,
    /// Per column seen: its `"name":` text and schema entry, worked out once.
    plans: Vec<ColumnPlan>,
}

#[derive(Debug)]
struct ColumnPlan {
    column: Column,
    prefix: String,
    info: Option<ColumnInfo>,
    /// Already listed in `bigint_columns` / `float_columns` (no set lookup per cell).
    bigint: bool,
    non_finite: bool,
}

/// Bytes the JSON of `rows` takes at most, give or take: names, quotes and punctuation
/// around each value (so the buffer is allocated once, not doubled at the end).
pub fn estimate_bytes<'r>(rows: impl Iterator<Item = &'r Row>) -> usize {
    rows.map(|r| 2 + r.iter().map(|(c, _)| c.len() + 6).sum::<usize>() + r.value_bytes())
        .sum::<usize>()
        + 2
}

impl BulkRows {
    /// Start a document, with room for about `bytes` of JSON.
    pub fn with_capacity(bytes: usize) -> Self {
        let mut json = String::with_capacity(bytes.max(2));
        json.push('[');
        BulkRows {
            json,
            ..BulkRows::default()
        }
    }

    /// Also collect the keys (as a second document, `keys`).
    pub fn with_keys(mut self) -> Self {
        self.keys = Some(String::from("["));
        self
    }

    /// Append one row (and its key to `keys`, when collecting keys). On error the documents
    /// are left as they were before the call.
    pub fn push(
        &mut self,
        key: Option<&str>,
        schema: &Schema,
        row: &Row,
        parsers: &Parsers,
    ) -> Result<(), ValueError> {
        let mark = self.json.len();
        let result = self.push_inner(schema, row, parsers);
        match (&result, &mut self.keys, key) {
            (Err(_), _, _) => self.json.truncate(mark),
            (Ok(()), Some(keys), Some(k)) => {
                if keys.len() > 1 {
                    keys.push(',');
                }
                write_json_str(keys, k);
            }
            _ => {}
        }
        result
    }

    fn push_inner(&mut self, schema: &Schema, row: &Row, parsers: &Parsers) -> Result<(), ValueError> {
        if self.json.len() > 1 {
            self.json.push(',');
        }
        self.json.push('{');
        for (i, (column, text)) in row.iter().enumerate() {
            if i > 0 {
                self.json.push(',');
            }
            let plan = self.plan(i, column, schema);
            let ColumnPlan { prefix, info, .. } = &self.plans[plan];
            self.json.push_str(prefix);
            let flags = write_json_value(&mut self.json, info.as_ref(), text, parsers)
                .map_err(|e| e.with_column(column.clone()))?;
            let plan = &mut self.plans[plan];
            if flags.bigint && !plan.bigint {
                plan.bigint = true;
                self.bigint_columns.insert(column.clone());
            }
            if flags.non_finite && !plan.non_finite {
                plan.non_finite = true;
                self.float_columns.insert(column.clone());
            }
        }
        self.json.push('}');
        Ok(())
    }

    /// The plan of `column`, found at `hint` (its position in the row) when rows keep their
    /// column order, as they do.
    fn plan(&mut self, hint: usize, column: &Column, schema: &Schema) -> usize {
        if self
            .plans
            .get(hint)
            .is_some_and(|p| Arc::ptr_eq(&p.column, column))
        {
            return hint;
        }
        if let Some(i) = self.plans.iter().position(|p| Arc::ptr_eq(&p.column, column)) {
            return i;
        }
        let mut prefix = String::with_capacity(column.len() + 3);
        write_json_str(&mut prefix, column);
        prefix.push(':');
        self.plans.push(ColumnPlan {
            column: column.clone(),
            prefix,
            info: schema.column(column).cloned(),
            bigint: false,
            non_finite: false,
        });
        self.plans.len() - 1
    }

    /// Close the documents.
    pub fn finish(mut self) -> Self {
        self.json.push(']');
        if let Some(keys) = &mut self.keys {
            keys.push(']');
        }
        self
    }
}

/// The bulk documents as a JS object `{json, keys?, bigint, float}` for the facade's
/// `rowsFromBulk` / `mapFromBulk`.
pub fn to_js(b: &BulkRows) -> wasm_bindgen::JsValue {
    use js_sys::{Array, Object};
    use wasm_bindgen::JsValue;
    let names = |s: &BTreeSet<Column>| -> Array { s.iter().map(|c| JsValue::from_str(c)).collect() };
    let o = Object::new();
    super::error::set(&o, "json", &JsValue::from_str(&b.json));
    if let Some(keys) = &b.keys {
        super::error::set(&o, "keys", &JsValue::from_str(keys));
    }
    super::error::set(&o, "bigint", &names(&b.bigint_columns));
    super::error::set(&o, "float", &names(&b.float_columns));
    o.into()
}
