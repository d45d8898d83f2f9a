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
    /// The column names of the last row read on this thread, in order.
    static LAST_COLUMNS: RefCell<Vec<Column>> = const { RefCell::new(Vec::new()) };
}

/// Value text of a typical row; the buffer grows past it when needed.
const TYPICAL_ROW_BYTES: usize = 96;

pub(super) struct RowVisitor;

impl<'de> Visitor<'de> for RowVisitor {
    type Value = Row;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of column name to text value or null")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Row, A::Error> {
        let mut last = LAST_COLUMNS.with(|l| std::mem::take(&mut *l.borrow_mut()));
        let mut row = Row::with_capacity(map.size_hint().unwrap_or(last.len().max(4)), TYPICAL_ROW_BYTES);
        let mut i = 0;
        let mut same_order = true;
        while let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let column = match last.get(i) {
                Some(c) if same_order && **c == *name => c.clone(),
                _ => {
                    same_order = false;
                    intern(&name)
                }
            };
            let span = map.next_value_seed(Append { text: &mut row.text })?;
            row.put_span(column, span);
            i += 1;
        }
        if !same_order || last.len() != row.cols.len() {
            last.clear();
            last.extend(row.cols.iter().map(|(c, _)| c.clone()));
        }
        LAST_COLUMNS.with(|l| *l.borrow_mut() = last);
        Ok(row)
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
