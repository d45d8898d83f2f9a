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

use serde::de::{MapAccess, Visitor};
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
/// handful-to-dozens of columns a table has.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Row {
    cols: Vec<(Column, Option<Box<str>>)>,
}

impl Row {
    /// An empty row.
    pub fn new() -> Self {
        Row::default()
    }

    /// Build from `(column, value)` pairs; a later duplicate column overwrites an earlier one.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> Self {
        let mut r = Row::new();
        for (c, v) in pairs {
            r.set(intern(c), v.map(Into::into));
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

    /// `Some(None)` for a present NULL, `None` for an absent column.
    pub fn get(&self, column: &str) -> Option<Option<&str>> {
        self.cols
            .iter()
            .find(|(c, _)| &**c == column)
            .map(|(_, v)| v.as_deref())
    }

    /// True if the column is present (possibly NULL).
    pub fn contains(&self, column: &str) -> bool {
        self.cols.iter().any(|(c, _)| &**c == column)
    }

    /// Set a column, keeping its position if it was present.
    pub fn set(&mut self, column: Column, value: Option<Box<str>>) {
        match self.cols.iter_mut().find(|(c, _)| *c == column) {
            Some(slot) => slot.1 = value,
            None => self.cols.push((column, value)),
        }
    }

    /// Remove a column; returns whether it was present.
    pub fn remove(&mut self, column: &str) -> bool {
        let before = self.cols.len();
        self.cols.retain(|(c, _)| &**c != column);
        before != self.cols.len()
    }

    /// Overlay every column of `patch` onto this row (an update's merge, ref §3.1).
    pub fn merge(&mut self, patch: &Row) {
        for (c, v) in &patch.cols {
            self.set(c.clone(), v.clone());
        }
    }

    /// Like [`Row::merge`], consuming the patch (no clones of its values).
    pub fn merge_owned(&mut self, patch: Row) {
        for (c, v) in patch.cols {
            self.set(c, v);
        }
    }

    /// Columns and values in order.
    pub fn iter(&self) -> impl Iterator<Item = (&Column, Option<&str>)> {
        self.cols.iter().map(|(c, v)| (c, v.as_deref()))
    }

    /// Approximate heap bytes held by the values (for progress and compaction accounting).
    pub fn value_bytes(&self) -> usize {
        self.cols
            .iter()
            .map(|(_, v)| v.as_ref().map_or(0, |s| s.len()))
            .sum()
    }
}

impl fmt::Debug for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.cols.iter().map(|(c, v)| (&**c, v.as_deref())))
            .finish()
    }
}

impl serde::Serialize for Row {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.cols.len()))?;
        for (c, v) in &self.cols {
            m.serialize_entry(&**c, &v.as_deref())?;
        }
        m.end()
    }
}

impl<'de> serde::Deserialize<'de> for Row {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RowVisitor)
    }
}

struct RowVisitor;

impl<'de> Visitor<'de> for RowVisitor {
    type Value = Row;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of column name to text value or null")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Row, A::Error> {
        let mut row = Row {
            cols: Vec::with_capacity(map.size_hint().unwrap_or(8)),
        };
        while let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let value = map.next_value::<WireText>()?.0;
            row.set(intern(&name), value);
        }
        Ok(row)
    }
}

/// A wire value: a string or null. Other JSON scalars (from servers that are not Electric) are
/// accepted as their JSON text; objects and arrays as their compact JSON, so nothing is lost.
struct WireText(Option<Box<str>>);

impl<'de> serde::Deserialize<'de> for WireText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(WireTextVisitor)
    }
}

struct WireTextVisitor;

impl<'de> Visitor<'de> for WireTextVisitor {
    type Value = WireText;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a text value or null")
    }
    fn visit_str<E>(self, v: &str) -> Result<WireText, E> {
        Ok(WireText(Some(v.into())))
    }
    fn visit_string<E>(self, v: String) -> Result<WireText, E> {
        Ok(WireText(Some(v.into_boxed_str())))
    }
    fn visit_unit<E>(self) -> Result<WireText, E> {
        Ok(WireText(None))
    }
    fn visit_none<E>(self) -> Result<WireText, E> {
        Ok(WireText(None))
    }
    fn visit_bool<E>(self, v: bool) -> Result<WireText, E> {
        Ok(WireText(Some(if v { "true" } else { "false" }.into())))
    }
    fn visit_i64<E>(self, v: i64) -> Result<WireText, E> {
        Ok(WireText(Some(v.to_string().into())))
    }
    fn visit_u64<E>(self, v: u64) -> Result<WireText, E> {
        Ok(WireText(Some(v.to_string().into())))
    }
    fn visit_f64<E>(self, v: f64) -> Result<WireText, E> {
        Ok(WireText(Some(
            serde_json::Number::from_f64(v)
                .map_or_else(|| v.to_string(), |n| n.to_string())
                .into(),
        )))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<WireText, A::Error> {
        let v = serde_json::Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        Ok(WireText(Some(v.to_string().into())))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<WireText, A::Error> {
        let v = serde_json::Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
        Ok(WireText(Some(v.to_string().into())))
    }
}

use serde::Deserialize as _;

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
}
