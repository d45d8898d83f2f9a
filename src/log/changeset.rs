//! What one commit changed: the [`ChangeSet`] a [`super::Materializer`] reports, and the
//! tracker that builds it by remembering each touched key's entry (row, relation, tag state)
//! as it was before the commit.
//!
//! A change set is a *net* diff between two committed states, never a replay of operations, so
//! it is deduplicated by construction (rules on [`ChangeSet`]).

use indexmap::IndexMap;

use crate::fxhash::FxBuildHasher;

use super::table::{Entry, Relation, RowMap};
use super::tags::TagState;
use crate::protocol::{Key, Row};

/// The keys whose visible rows changed between two committed states.
///
/// Classification compares each touched key's row before and after (column order ignored):
/// - absent before, present after: **inserted** (so an insert then a delete of a new key within
///   one commit cancels out and is not reported at all);
/// - present before, absent after: **deleted**;
/// - present before and after with different content: **updated** (this includes a delete then
///   re-insert of the same key, and a PK change's target key if it already existed);
/// - same content before and after, but a different subquery tag state (`tags`,
///   `active_conditions`: an update that only moved tags, a move-in / move-out the row
///   survived) or `relation`: **retagged**. Not a visible change: [`ChangeSet::is_empty`] and
///   [`ChangeSet::len`] ignore it, so subscribers are not notified; it exists for whoever
///   stores the whole entry (persistence: [`crate::persist::Checkpointer::record`]);
/// - same content, tag state and relation before and after (a re-delivered transaction, an
///   update that restores the old values): **not reported**.
///
/// Each list is in the order the keys were first touched during the commit (after a
/// must-refetch replacement: old rows' order for updated/deleted/retagged, new rows' order for
/// inserted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeSet {
    /// Keys that became visible.
    pub inserted: Vec<Key>,
    /// Keys whose row content changed.
    pub updated: Vec<Key>,
    /// Keys that disappeared.
    pub deleted: Vec<Key>,
    /// Keys whose row content is unchanged but whose tag state or relation changed (not a
    /// visible change; see the type docs).
    pub retagged: Vec<Key>,
    /// True when this commit replaced the whole row map after a `must-refetch`.
    pub reset: bool,
}

impl ChangeSet {
    /// True when no visible row changed (a bare `up-to-date`, e.g. a live long-poll timeout,
    /// or a commit that only [retagged](ChangeSet::retagged) rows). A reset that ended with the
    /// same rows is empty too.
    pub fn is_empty(&self) -> bool {
        self.inserted.is_empty() && self.updated.is_empty() && self.deleted.is_empty()
    }

    /// Every key whose stored entry (row, tag state or relation) changed: inserted, updated,
    /// deleted, then retagged. What a persister must rewrite (unlike [`ChangeSet::is_empty`],
    /// which is about what subscribers see).
    pub fn dirty_keys(&self) -> impl Iterator<Item = &Key> + '_ {
        self.inserted
            .iter()
            .chain(&self.updated)
            .chain(&self.deleted)
            .chain(&self.retagged)
    }

    /// Number of keys whose visible row changed (inserted + updated + deleted; not
    /// [`ChangeSet::retagged`]).
    pub fn len(&self) -> usize {
        self.inserted.len() + self.updated.len() + self.deleted.len()
    }
}

/// True when both rows hold the same columns with the same values, in any order.
pub(crate) fn same_content(a: &Row, b: &Row) -> bool {
    a.len() == b.len() && a.iter().all(|(c, v)| b.get(c) == Some(v))
}

/// Remembers, for each key touched since it was created, the entry as it was before the first
/// touch. Disabled trackers (compaction, building a replacement map) record nothing.
#[derive(Debug)]
pub(crate) struct Tracker {
    enabled: bool,
    touched: IndexMap<Key, Option<Entry>, FxBuildHasher>,
    reset: bool,
    /// The map was empty when this tracker started and nothing was touched before: every key
    /// in the final map is an insert, whatever happened in between (the initial sync).
    from_empty: bool,
}

impl Tracker {
    /// A tracker that records.
    pub(crate) fn new() -> Self {
        Tracker {
            enabled: true,
            touched: IndexMap::default(),
            reset: false,
            from_empty: false,
        }
    }

    /// A tracker that records nothing.
    pub(crate) fn disabled() -> Self {
        Tracker {
            enabled: false,
            touched: IndexMap::default(),
            reset: false,
            from_empty: false,
        }
    }

    /// Record `before` for `key` unless the key was already touched (first touch wins).
    pub(crate) fn touch(&mut self, key: &Key, before: Option<&Entry>) {
        if self.enabled && !self.touched.contains_key(key) {
            self.touched.insert(key.clone(), before.cloned());
        }
    }

    /// Like [`Tracker::touch`], looking the entry up only when recording (a disabled tracker,
    /// e.g. during an initial sync's commit or a restore, costs no lookup per row).
    pub(crate) fn touch_with<'e>(&mut self, key: &Key, before: impl FnOnce() -> Option<&'e Entry>) {
        if self.enabled && !self.touched.contains_key(key) {
            self.touched.insert(key.clone(), before().cloned());
        }
    }

    /// Like [`Tracker::touch`], taking ownership (no clone).
    pub(crate) fn touch_owned(&mut self, key: Key, before: Option<Entry>) {
        if self.enabled {
            self.touched.entry(key).or_insert(before);
        }
    }

    /// Like [`Tracker::touch`] for an entry whose tag state is being changed in place: the old
    /// tag state comes separately (the entry's own is already borrowed for the change).
    pub(crate) fn touch_retag(&mut self, key: &Key, row: &Row, relation: &Option<Relation>, tags: &TagState) {
        if self.enabled && !self.touched.contains_key(key) {
            let before = Entry {
                row: row.clone(),
                relation: relation.clone(),
                tags: Some(Box::new(tags.clone())),
            };
            self.touched.insert(key.clone(), Some(before));
        }
    }

    /// True when nothing has been recorded yet.
    pub(crate) fn is_fresh(&self) -> bool {
        self.enabled && !self.reset && !self.from_empty && self.touched.is_empty()
    }

    /// The map was empty before the first change this tracker sees: report every key of the
    /// final map as inserted and stop recording touches (they cannot change that answer).
    pub(crate) fn mark_from_empty(&mut self) {
        self.from_empty = true;
        self.enabled = false;
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
        if self.from_empty {
            out.inserted = map.keys().cloned().collect();
            return out;
        }
        for (key, before) in self.touched {
            match (before, map.get(&key)) {
                (None, Some(_)) => out.inserted.push(key),
                (Some(_), None) => out.deleted.push(key),
                (Some(b), Some(a)) if !same_content(&b.row, &a.row) => out.updated.push(key),
                (Some(b), Some(a)) if b.tags != a.tags || b.relation != a.relation => out.retagged.push(key),
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
        let e1 = Entry {
            row: Row::from_pairs([("a", Some("1"))]),
            relation: None,
            tags: None,
        };
        on.touch(&k, Some(&e1));
        on.touch_owned(k.clone(), None);
        let tags = TagState::default();
        on.touch_retag(&k, &Row::new(), &None, &tags);
        assert_eq!(on.touched.get(&k), Some(&Some(e1)));
        let k2 = Key::from("k2");
        on.touch_retag(&k2, &Row::new(), &None, &tags);
        assert_eq!(on.touched[&k2].as_ref().unwrap().tags.as_deref(), Some(&tags));
    }

    #[test]
    fn empty_and_len() {
        let mut cs = ChangeSet::default();
        assert!(cs.is_empty());
        cs.deleted.push(Key::from("a"));
        cs.inserted.push(Key::from("b"));
        assert!(!cs.is_empty());
        assert_eq!(cs.len(), 2);
        let retag_only = ChangeSet {
            retagged: vec![Key::from("c")],
            ..ChangeSet::default()
        };
        assert!(
            retag_only.is_empty(),
            "a tag-state change is not a visible change"
        );
        assert_eq!(retag_only.len(), 0);
        assert_eq!(retag_only.dirty_keys().count(), 1);
        let all = ChangeSet {
            retagged: vec![Key::from("c")],
            ..cs
        };
        let dirty: Vec<&str> = all.dirty_keys().map(Key::as_str).collect();
        assert_eq!(dirty, ["b", "a", "c"]);
    }
}
