//! What one commit changed: the [`ChangeSet`] a [`super::Materializer`] reports, and the
//! tracker that builds it by remembering each touched key's row as it was before the commit.
//!
//! A change set is a *net* diff between two committed states, never a replay of operations, so
//! it is deduplicated by construction (rules on [`ChangeSet`]).

use indexmap::IndexMap;

use crate::fxhash::FxBuildHasher;

use super::table::RowMap;
use crate::protocol::{Key, Row};

/// The keys whose visible rows changed between two committed states.
///
/// Classification compares each touched key's row before and after (column order ignored):
/// - absent before, present after: **inserted** (so an insert then a delete of a new key within
///   one commit cancels out and is not reported at all);
/// - present before, absent after: **deleted**;
/// - present before and after with different content: **updated** (this includes a delete then
///   re-insert of the same key, and a PK change's target key if it already existed);
/// - same content before and after (a re-delivered transaction, an update that restores the old
///   values, a pure tag-state change): **not reported**.
///
/// Each list is in the order the keys were first touched during the commit (after a
/// must-refetch replacement: old rows' order for updated/deleted, new rows' order for inserted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeSet {
    /// Keys that became visible.
    pub inserted: Vec<Key>,
    /// Keys whose row content changed.
    pub updated: Vec<Key>,
    /// Keys that disappeared.
    pub deleted: Vec<Key>,
    /// True when this commit replaced the whole row map after a `must-refetch`.
    pub reset: bool,
}

impl ChangeSet {
    /// True when no key changed (a bare `up-to-date`, e.g. a live long-poll timeout). A reset
    /// that ended with the same rows is empty too.
    pub fn is_empty(&self) -> bool {
        self.inserted.is_empty() && self.updated.is_empty() && self.deleted.is_empty()
    }

    /// Number of changed keys.
    pub fn len(&self) -> usize {
        self.inserted.len() + self.updated.len() + self.deleted.len()
    }
}

/// True when both rows hold the same columns with the same values, in any order.
pub(crate) fn same_content(a: &Row, b: &Row) -> bool {
    a.len() == b.len() && a.iter().all(|(c, v)| b.get(c) == Some(v))
}

/// Remembers, for each key touched since it was created, the row as it was before the first
/// touch. Disabled trackers (compaction, building a replacement map) record nothing.
#[derive(Debug)]
pub(crate) struct Tracker {
    enabled: bool,
    touched: IndexMap<Key, Option<Row>, FxBuildHasher>,
    reset: bool,
}

impl Tracker {
    /// A tracker that records.
    pub(crate) fn new() -> Self {
        Tracker {
            enabled: true,
            touched: IndexMap::default(),
            reset: false,
        }
    }

    /// A tracker that records nothing.
    pub(crate) fn disabled() -> Self {
        Tracker {
            enabled: false,
            touched: IndexMap::default(),
            reset: false,
        }
    }

    /// Record `before` for `key` unless the key was already touched (first touch wins).
    pub(crate) fn touch(&mut self, key: &Key, before: Option<&Row>) {
        if self.enabled && !self.touched.contains_key(key) {
            self.touched.insert(key.clone(), before.cloned());
        }
    }

    /// Like [`Tracker::touch`], taking ownership (no clone).
    pub(crate) fn touch_owned(&mut self, key: Key, before: Option<Row>) {
        if self.enabled {
            self.touched.entry(key).or_insert(before);
        }
    }

    /// Mark that the map was replaced wholesale.
    pub(crate) fn mark_reset(&mut self) {
        self.reset = true;
    }

    /// Classify every touched key against the map's current state.
    pub(crate) fn finish(self, map: &RowMap) -> ChangeSet {
        let mut out = ChangeSet {
            reset: self.reset,
            ..ChangeSet::default()
        };
        for (key, before) in self.touched {
            match (before, map.row(&key)) {
                (None, Some(_)) => out.inserted.push(key),
                (Some(_), None) => out.deleted.push(key),
                (Some(b), Some(a)) if !same_content(&b, a) => out.updated.push(key),
                _ => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_content_ignores_column_order_but_not_values_or_columns() {
        let a = Row::from_pairs([("id", Some("1")), ("x", None)]);
        let b = Row::from_pairs([("x", None), ("id", Some("1"))]);
        let c = Row::from_pairs([("id", Some("1")), ("x", Some("v"))]);
        let d = Row::from_pairs([("id", Some("1"))]);
        assert!(same_content(&a, &b));
        assert!(!same_content(&a, &c));
        assert!(!same_content(&a, &d));
        assert!(!same_content(&d, &a));
    }

    #[test]
    fn disabled_tracker_records_nothing_and_first_touch_wins() {
        let k = Key::from("k");
        let mut off = Tracker::disabled();
        off.touch(&k, None);
        assert!(off.touched.is_empty());
        let mut on = Tracker::new();
        let r1 = Row::from_pairs([("a", Some("1"))]);
        on.touch(&k, Some(&r1));
        on.touch_owned(k.clone(), None);
        assert_eq!(on.touched.get(&k), Some(&Some(r1)));
    }

    #[test]
    fn empty_and_len() {
        let mut cs = ChangeSet::default();
        assert!(cs.is_empty());
        cs.deleted.push(Key::from("a"));
        cs.inserted.push(Key::from("b"));
        assert!(!cs.is_empty());
        assert_eq!(cs.len(), 2);
    }
}
