//! Reading a wire row (`{"col": "text" | null, ...}`) straight into a [`Row`]'s packed buffer:
//! each value is appended where it lands in the JSON reader (no string per value), and column
//! names that come in the same order as in the previous row reuse its interned names without
//! hashing.
//!
//! Other JSON scalars (from servers that are not Electric) are accepted as their JSON text;
//! objects and arrays as their compact JSON, so nothing is lost.

use std::cell::RefCell;
use std::fmt;

use serde::de::{DeserializeSeed, MapAccess, Visitor};
use serde::Deserialize;

use super::{intern, Column, Row, Span};

thread_local! {
    /// The column names of the last row read on this thread, in order, and its bytes of text.
    static LAST_COLUMNS: RefCell<(Vec<Column>, usize)> = const { RefCell::new((Vec::new(), 0)) };
}

/// Value text of a typical row: a row's buffer starts with room for this or a bit more than the
/// previous row's text (rows of a table are alike), and grows past it when needed.
const TYPICAL_ROW_BYTES: usize = 96;

pub(super) struct RowVisitor;

impl<'de> Visitor<'de> for RowVisitor {
    type Value = Row;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of column name to text value or null")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Row, A::Error> {
        let mut w = RowWriter::new(map.size_hint());
        while let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let column = w.column(&name);
            let span = map.next_value_seed(Append {
                text: &mut w.row.text,
            })?;
            w.put(column, span);
        }
        Ok(w.finish())
    }
}

/// Builds one row column by column: the value text goes into the row's packed buffer, and the
/// column names are the previous row's (no hashing) as long as they come in the same order.
/// Shared by the serde reader above and the body scanner ([`crate::protocol::body`]).
pub(crate) struct RowWriter {
    last: Vec<Column>,
    last_bytes: usize,
    row: Row,
    i: usize,
    same_order: bool,
}

impl RowWriter {
    /// Start a row; `columns` is the number of columns when the reader knows it.
    pub(crate) fn new(columns: Option<usize>) -> Self {
        let (last, last_bytes) = LAST_COLUMNS.with(|l| std::mem::take(&mut *l.borrow_mut()));
        let bytes = TYPICAL_ROW_BYTES.max(last_bytes + last_bytes / 4);
        let row = Row::with_capacity(columns.unwrap_or(last.len().max(4)), bytes);
        RowWriter {
            last,
            last_bytes,
            row,
            i: 0,
            same_order: true,
        }
    }

    /// The interned name of the next column.
    pub(crate) fn column(&mut self, name: &str) -> Column {
        match self.last.get(self.i) {
            Some(c) if self.same_order && **c == *name => c.clone(),
            _ => {
                self.same_order = false;
                intern(name)
            }
        }
    }

    /// The row's value buffer: append a value's text, then [`RowWriter::put_text_from`].
    pub(crate) fn text(&mut self) -> &mut String {
        &mut self.row.text
    }

    /// The next column's value is the text appended to the buffer since `start`.
    pub(crate) fn put_text_from(&mut self, column: Column, start: usize) {
        let len = self.row.text.len() - start;
        self.put(column, Span { start, len });
    }

    /// The next column is SQL NULL.
    pub(crate) fn put_null(&mut self, column: Column) {
        self.put(
            column,
            Span {
                start: super::NULL,
                len: 0,
            },
        );
    }

    fn put(&mut self, column: Column, span: Span) {
        if self.same_order {
            // The previous row's i-th name, whose earlier names were all different from it
            // (a row's columns are distinct): new in this row, no search needed.
            self.row.cols.push((column, span));
        } else {
            self.row.put_span(column, span);
        }
        self.i += 1;
    }

    /// The row; remembers its column order for the next one.
    pub(crate) fn finish(mut self) -> Row {
        if !self.same_order || self.last.len() != self.row.cols.len() {
            self.last.clear();
            self.last.extend(self.row.cols.iter().map(|(c, _)| c.clone()));
        }
        let bytes = self.row.text.len();
        let last = std::mem::take(&mut self.last);
        LAST_COLUMNS.with(|l| *l.borrow_mut() = (last, bytes));
        std::mem::take(&mut self.row)
    }
}

/// A row given up half-read (the body scanner declined it, or the JSON is bad) leaves the
/// previous row's names for the next row (serde's reading of the same row, usually).
impl Drop for RowWriter {
    fn drop(&mut self) {
        if !self.last.is_empty() {
            let last = std::mem::take(&mut self.last);
            LAST_COLUMNS.with(|l| {
                let mut l = l.borrow_mut();
                if l.0.is_empty() {
                    *l = (last, self.last_bytes);
                }
            });
        }
    }
}

/// Appends one wire value to a row's text buffer and returns where it went.
struct Append<'a> {
    text: &'a mut String,
}

impl Append<'_> {
    fn push(self, v: &str) -> Span {
        let start = self.text.len();
        self.text.push_str(v);
        Span { start, len: v.len() }
    }
}

impl<'de> DeserializeSeed<'de> for Append<'_> {
    type Value = Span;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Span, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Append<'_> {
    type Value = Span;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a text value or null")
    }
    fn visit_str<E>(self, v: &str) -> Result<Span, E> {
        Ok(self.push(v))
    }
    fn visit_unit<E>(self) -> Result<Span, E> {
        Ok(Span {
            start: super::NULL,
            len: 0,
        })
    }
    fn visit_none<E>(self) -> Result<Span, E> {
        Ok(Span {
            start: super::NULL,
            len: 0,
        })
    }
    fn visit_bool<E>(self, v: bool) -> Result<Span, E> {
        Ok(self.push(if v { "true" } else { "false" }))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Span, E> {
        Ok(self.push(&v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Span, E> {
        Ok(self.push(&v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Span, E> {
        let text = serde_json::Number::from_f64(v).map_or_else(|| v.to_string(), |n| n.to_string());
        Ok(self.push(&text))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Span, A::Error> {
        let v = serde_json::Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        Ok(self.push(&v.to_string()))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Span, A::Error> {
        let v = serde_json::Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
        Ok(self.push(&v.to_string()))
    }
}
