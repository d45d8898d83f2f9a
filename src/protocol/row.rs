//! Rows and keys as they travel on the wire: column name → Postgres text value or NULL.
//!
//! Every value in a shape log is Postgres text output (ref §3.1); typing happens later, through
//! the schema ([`crate::protocol::schema`]). Keeping rows in wire form makes materializing,
//! compacting and persisting exact (nothing is lost to a float round trip) and defers the cost of
//! typing to the rows someone reads.
//!
//! Column names repeat in every row, so they are interned: each distinct name is one
//! `Arc<str>` shared by all rows parsed on this thread.

use std::cell::RefCell;
use std::collections::HashSet;

use crate::fxhash::FxBuildHasher;
use std::fmt;
use std::sync::Arc;

use serde::ser::SerializeMap;

/// A column name, shared between all rows that have the column.
pub type Column = Arc<str>;

/// The opaque identity of a row within a handle (`"public"."items"/"42"`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(Arc<str>);

impl Key {
    /// Wrap a wire key.
    pub fn new(s: impl Into<Arc<str>>) -> Self {
        Key(s.into())
    }
    /// The key text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Key {
    fn from(s: &str) -> Self {
        Key(s.into())
    }
}

impl serde::Serialize for Key {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(Key(Arc::from(&*s)))
    }
}

thread_local! {
    static COLUMNS: RefCell<HashSet<Arc<str>, FxBuildHasher>> = RefCell::new(HashSet::default());
}

/// Bound on the interner so hostile input with endless distinct names cannot grow it forever.
const INTERN_LIMIT: usize = 4096;

/// The shared `Arc<str>` for a column name.
pub fn intern(name: &str) -> Column {
    COLUMNS.with(|set| {
        let mut set = set.borrow_mut();
        if let Some(c) = set.get(name) {
            return c.clone();
        }
        let c: Column = Arc::from(name);
        if set.len() < INTERN_LIMIT {
            set.insert(c.clone());
        }
        c
    })
}

/// One row (or a partial row: the changed columns of an update) in wire form.
///
/// Columns keep their first-seen order. Lookups are linear, which beats hashing for the
/// handful-to-dozens of columns a table has. The values live packed in one text buffer (a row
/// is two allocations, not one per value, which made allocation the top cost of ingesting in
/// the browser); replacing a value leaves its old bytes behind until the buffer is more than
/// half garbage, then it is compacted.
#[derive(Clone, Default)]
pub struct Row {
    cols: Vec<(Column, Span)>,
    text: String,
}

/// Where a value sits in [`Row::text`]; `start == NULL` is SQL NULL.
#[derive(Clone, Copy, Debug)]
struct Span {
    start: usize,
    len: usize,
}

const NULL: usize = usize::MAX;

impl Row {
    /// An empty row.
    pub fn new() -> Self {
        Row::default()
    }

    /// An empty row with room for `columns` columns and `bytes` of value text.
    pub fn with_capacity(columns: usize, bytes: usize) -> Self {
        Row {
            cols: Vec::with_capacity(columns),
            text: String::with_capacity(bytes),
        }
    }

    /// Build from `(column, value)` pairs; a later duplicate column overwrites an earlier one.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> Self {
        let mut r = Row::new();
        for (c, v) in pairs {
            r.set_text(intern(c), v);
        }
        r
    }

    /// Number of columns present.
    pub fn len(&self) -> usize {
        self.cols.len()
    }

    /// True if no column is present.
    pub fn is_empty(&self) -> bool {
        self.cols.is_empty()
    }

    fn value(&self, span: Span) -> Option<&str> {
        if span.start == NULL {
            None
        } else {
            self.text.get(span.start..span.start + span.len)
        }
    }

    /// `Some(None)` for a present NULL, `None` for an absent column.
    pub fn get(&self, column: &str) -> Option<Option<&str>> {
        self.cols
            .iter()
            .find(|(c, _)| &**c == column)
            .map(|(_, span)| self.value(*span))
    }

    /// True if the column is present (possibly NULL).
    pub fn contains(&self, column: &str) -> bool {
        self.cols.iter().any(|(c, _)| &**c == column)
    }

    /// Set a column, keeping its position if it was present.
    pub fn set(&mut self, column: Column, value: Option<Box<str>>) {
        self.set_text(column, value.as_deref());
    }

    /// Set a column from borrowed text, keeping its position if it was present.
    pub fn set_text(&mut self, column: Column, value: Option<&str>) {
        let span = self.append(value);
        self.put_span(column, span);
    }

    fn append(&mut self, value: Option<&str>) -> Span {
        match value {
            None => Span { start: NULL, len: 0 },
            Some(v) => {
                let start = self.text.len();
                self.text.push_str(v);
                Span { start, len: v.len() }
            }
        }
    }

    fn put_span(&mut self, column: Column, span: Span) {
        match self.cols.iter_mut().find(|(c, _)| *c == column) {
            Some(slot) => {
                slot.1 = span;
                self.compact_if_sparse();
            }
            None => self.cols.push((column, span)),
        }
    }

    /// Rebuild the buffer once replaced values left more garbage than live text.
    fn compact_if_sparse(&mut self) {
        let live = self.value_bytes();
        if self.text.len() <= 2 * live + 64 {
            return;
        }
        let mut text = String::with_capacity(live);
        for (_, span) in &mut self.cols {
            if span.start != NULL {
                let start = text.len();
                text.push_str(
                    self.text
                        .get(span.start..span.start + span.len)
                        .unwrap_or_default(),
                );
                span.start = start;
            }
        }
        self.text = text;
    }

    /// Remove a column; returns whether it was present.
    pub fn remove(&mut self, column: &str) -> bool {
        let before = self.cols.len();
        self.cols.retain(|(c, _)| &**c != column);
        let removed = before != self.cols.len();
        if removed {
            self.compact_if_sparse();
        }
        removed
    }

    /// Overlay every column of `patch` onto this row (an update's merge, ref §3.1).
    pub fn merge(&mut self, patch: &Row) {
        for (c, v) in patch.iter() {
            self.set_text(c.clone(), v);
        }
    }

    /// Like [`Row::merge`], consuming the patch.
    pub fn merge_owned(&mut self, patch: Row) {
        self.merge(&patch);
    }

    /// Columns and values in order.
    pub fn iter(&self) -> impl Iterator<Item = (&Column, Option<&str>)> {
        self.cols.iter().map(|(c, span)| (c, self.value(*span)))
    }

    /// Bytes of value text (for progress and compaction accounting).
    pub fn value_bytes(&self) -> usize {
        self.cols
            .iter()
            .map(|(_, span)| if span.start == NULL { 0 } else { span.len })
            .sum()
    }
}

/// Rows are equal when they have the same columns in the same order with the same values.
impl PartialEq for Row {
    fn eq(&self, other: &Row) -> bool {
        self.cols.len() == other.cols.len()
            && self
                .iter()
                .zip(other.iter())
                .all(|((ca, va), (cb, vb))| ca == cb && va == vb)
    }
}

impl Eq for Row {}

impl fmt::Debug for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(c, v)| (&**c, v)))
            .finish()
    }
}

impl serde::Serialize for Row {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.cols.len()))?;
        for (c, v) in self.iter() {
            m.serialize_entry(&**c, &v)?;
        }
        m.end()
    }
}

impl<'de> serde::Deserialize<'de> for Row {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(wire::RowVisitor)
    }
}

mod wire;
pub(crate) use wire::RowWriter;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_merge() {
        let mut r: Row = serde_json::from_str(r#"{"id":"1","title":"a","n":null}"#).unwrap();
        assert_eq!(r.get("title"), Some(Some("a")));
        assert_eq!(r.get("n"), Some(None));
        assert_eq!(r.get("zz"), None);
        let patch: Row = serde_json::from_str(r#"{"id":"1","n":"5","extra":"x"}"#).unwrap();
        r.merge(&patch);
        assert_eq!(r.get("n"), Some(Some("5")));
        assert_eq!(r.len(), 4);
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"id":"1","title":"a","n":"5","extra":"x"}"#
        );
    }

    #[test]
    fn non_string_scalars_are_kept_as_text() {
        let r: Row = serde_json::from_str(r#"{"a":1,"b":true,"c":1.5,"d":{"x":[1]},"e":[1,"2"]}"#).unwrap();
        assert_eq!(r.get("a"), Some(Some("1")));
        assert_eq!(r.get("b"), Some(Some("true")));
        assert_eq!(r.get("c"), Some(Some("1.5")));
        assert_eq!(r.get("d"), Some(Some(r#"{"x":[1]}"#)));
        assert_eq!(r.get("e"), Some(Some(r#"[1,"2"]"#)));
    }

    #[test]
    fn duplicate_column_last_wins_and_names_are_interned() {
        let r: Row = serde_json::from_str(r#"{"a":"1","a":"2"}"#).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r.get("a"), Some(Some("2")));
        assert!(Arc::ptr_eq(&intern("some_col"), &intern("some_col")));
    }

    #[test]
    fn remove_and_contains() {
        let mut r = Row::from_pairs([("a", Some("1")), ("b", None)]);
        assert!(r.contains("b"));
        assert!(r.remove("b"));
        assert!(!r.remove("b"));
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn replaced_values_are_compacted_and_do_not_affect_equality() {
        let mut r = Row::from_pairs([("a", Some("1")), ("b", Some("x"))]);
        for i in 0..1000 {
            r.set_text(intern("a"), Some(&format!("value number {i}")));
        }
        assert_eq!(r.get("a"), Some(Some("value number 999")));
        assert_eq!(r.get("b"), Some(Some("x")));
        assert!(
            r.text.len() <= 2 * r.value_bytes() + 64,
            "buffer {} for {} live",
            r.text.len(),
            r.value_bytes()
        );
        let fresh = Row::from_pairs([("a", Some("value number 999")), ("b", Some("x"))]);
        assert_eq!(r, fresh);
        r.set_text(intern("b"), None);
        assert_eq!(r.get("b"), Some(None));
        assert_ne!(r, fresh);
    }

    #[test]
    fn rows_with_changing_column_order_read_correctly() {
        // The reader reuses the previous row's names when the order repeats; it must notice
        // when it does not.
        let rows: Vec<Row> = serde_json::from_str(
            r#"[{"a":"1","b":"2"},{"a":"3","b":"4"},{"b":"5","a":"6"},{"a":"7"},{"a":"8","b":"9","c":null}]"#,
        )
        .unwrap();
        let seen: Vec<Vec<(String, Option<String>)>> = rows
            .iter()
            .map(|r| {
                r.iter()
                    .map(|(c, v)| (c.to_string(), v.map(str::to_owned)))
                    .collect()
            })
            .collect();
        let p = |c: &str, v: Option<&str>| (c.to_owned(), v.map(str::to_owned));
        assert_eq!(
            seen,
            vec![
                vec![p("a", Some("1")), p("b", Some("2"))],
                vec![p("a", Some("3")), p("b", Some("4"))],
                vec![p("b", Some("5")), p("a", Some("6"))],
                vec![p("a", Some("7"))],
                vec![p("a", Some("8")), p("b", Some("9")), p("c", None)],
            ]
        );
        assert!(Arc::ptr_eq(
            rows[0].iter().next().unwrap().0,
            rows[4].iter().next().unwrap().0
        ));
    }
}
