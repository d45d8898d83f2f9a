//! The rule engine shared by the materializer and the compactor: a keyed row map and the
//! application of one change or move event to it (ref §3.1, §3.4, §6.2).
//!
//! Rules (the public docs on [`super::Materializer`] repeat them for users):
//! - insert: set the row (an existing key is overwritten in place: idempotent re-delivery).
//! - update: merge the changed columns into the row; for a missing key, create the row from the
//!   value in [`Mode::Full`], ignore it in [`Mode::ChangesOnly`] (the TS `Shape` semantics).
//! - delete: remove (missing key: no-op).
//! - PK change (delete with `key_change_to`, then insert with `key_change_from`): the deleted
//!   row is carried over, and the insert's row is that row merged with the insert's value, so a
//!   partial value cannot lose columns. If the new key already holds a row (a re-delivered PK
//!   change), the value is merged into that row instead, which keeps re-delivery idempotent.

use std::sync::Arc;

use indexmap::IndexMap;

use crate::fxhash::FxBuildHasher;

use super::changeset::Tracker;
use super::materialize::Mode;
use super::tags::{MoveOutcome, TagState};
use crate::protocol::{ChangeMessage, Column, EventMessage, Key, MoveKind, Operation, Row};

/// A row's `[schema, table]`, shared: the rows of one shape (almost) always have the same one,
/// so a [`RowMap`] hands out one allocation for all of them (8 bytes per row instead of 32).
pub(crate) type Relation = Arc<[Column; 2]>;

/// One committed row and what is stored alongside it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    /// The materialized row.
    pub(crate) row: Row,
    /// `[schema, table]` from the last message that carried one.
    pub(crate) relation: Option<Relation>,
    /// Subquery tag state, when the shape has tags.
    pub(crate) tags: Option<Box<TagState>>,
}

/// Keyed rows plus the half-applied PK change, if any.
#[derive(Debug, Clone, Default)]
pub(crate) struct RowMap {
    entries: IndexMap<Key, Entry, FxBuildHasher>,
    /// The row removed by a `delete` with `key_change_to`, waiting for its `insert`.
    carry: Option<(Key, Entry)>,
    /// Set once any row had tag state, so move events on ordinary shapes cost nothing.
    any_tags: bool,
    /// The relation handed out last, reused while messages carry the same one.
    relation: Option<Relation>,
}

impl RowMap {
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Make room for `additional` more rows.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.entries.reserve(additional);
    }

    pub(crate) fn get(&self, key: &Key) -> Option<&Entry> {
        self.entries.get(key)
    }

    pub(crate) fn row(&self, key: &Key) -> Option<&Row> {
        self.entries.get(key).map(|e| &e.row)
    }

    pub(crate) fn iter(&self) -> indexmap::map::Iter<'_, Key, Entry> {
        self.entries.iter()
    }

    pub(crate) fn keys(&self) -> indexmap::map::Keys<'_, Key, Entry> {
        self.entries.keys()
    }

    pub(crate) fn into_entries(self) -> indexmap::map::IntoIter<Key, Entry> {
        self.entries.into_iter()
    }

    /// The shared [`Relation`] for a message's `relation` header.
    fn share(&mut self, relation: Option<[Column; 2]>) -> Option<Relation> {
        let r = relation?;
        match &self.relation {
            Some(last) if **last == r => Some(last.clone()),
            _ => {
                let fresh = Arc::new(r);
                self.relation = Some(fresh.clone());
                Some(fresh)
            }
        }
    }

    fn put(&mut self, key: Key, entry: Entry) {
        self.any_tags |= entry.tags.is_some();
        self.entries.insert(key, entry);
    }

    /// Apply one change message (the rules in the module header).
    pub(crate) fn apply(&mut self, msg: ChangeMessage, mode: Mode, t: &mut Tracker) {
        let ChangeMessage {
            key,
            operation,
            value,
            mut headers,
            ..
        } = msg;
        let relation = match operation {
            Operation::Delete => None,
            _ => self.share(headers.relation.take()),
        };
        match operation {
            Operation::Insert => {
                t.touch_with(&key, || self.entries.get(&key));
                let tags = TagState::from_headers(&headers);
                if let Some(from) = &headers.key_change_from {
                    let carried = match self.carry.take() {
                        Some((k, e)) if &k == from => Some(e),
                        other => {
                            self.carry = other;
                            None
                        }
                    };
                    if let Some(e) = self.entries.get_mut(&key) {
                        e.row.merge_owned(value);
                        e.relation = relation.or(e.relation.take());
                        e.tags = tags;
                        self.any_tags |= e.tags.is_some();
                        return;
                    }
                    if let Some(mut old) = carried {
                        old.row.merge_owned(value);
                        let relation = relation.or(old.relation);
                        self.put(
                            key,
                            Entry {
                                row: old.row,
                                relation,
                                tags,
                            },
                        );
                        return;
                    }
                }
                self.put(
                    key,
                    Entry {
                        row: value,
                        relation,
                        tags,
                    },
                );
            }
            Operation::Update => match self.entries.get_mut(&key) {
                Some(e) => {
                    t.touch(&key, Some(e));
                    e.row.merge_owned(value);
                    TagState::update(&mut e.tags, &headers);
                    if relation.is_some() {
                        e.relation = relation;
                    }
                    self.any_tags |= e.tags.is_some();
                }
                None if mode == Mode::Full => {
                    t.touch(&key, None);
                    let tags = TagState::from_headers(&headers);
                    self.put(
                        key,
                        Entry {
                            row: value,
                            relation,
                            tags,
                        },
                    );
                }
                None => {}
            },
            Operation::Delete => {
                let removed = self.entries.swap_remove(&key);
                if let Some(e) = &removed {
                    t.touch(&key, Some(e));
                }
                if headers.key_change_to.is_some() {
                    self.carry = removed.map(|e| (key, e));
                }
            }
        }
    }

    /// Apply a move-in / move-out event to every tagged row. A row whose tag state changes is
    /// touched with its old state first (so a surviving row is reported as retagged).
    pub(crate) fn apply_event(&mut self, ev: &EventMessage, t: &mut Tracker) {
        if !self.any_tags {
            return;
        }
        match ev.kind {
            MoveKind::MoveIn => {
                for (k, e) in self.entries.iter_mut() {
                    let Entry { row, relation, tags } = e;
                    if let Some(s) = tags.as_mut() {
                        s.move_in(&ev.patterns, |old| t.touch_retag(k, row, relation, old));
                    }
                }
            }
            MoveKind::MoveOut => {
                let mut gone = Vec::new();
                for (k, e) in self.entries.iter_mut() {
                    let Entry { row, relation, tags } = e;
                    if let Some(s) = tags.as_mut() {
                        let outcome = s.move_out(&ev.patterns, |old| t.touch_retag(k, row, relation, old));
                        if outcome == MoveOutcome::Gone {
                            gone.push(k.clone());
                        }
                    }
                }
                for k in gone {
                    // Usually already touched by the hook; not when the row was invisible
                    // before and the move-out changed nothing (then its entry is the old one).
                    if let Some(e) = self.entries.swap_remove(&k) {
                        t.touch_owned(k, Some(e));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ChangeHeaders;

    fn change(op: Operation, key: &str, pairs: &[(&str, &str)]) -> ChangeMessage {
        ChangeMessage {
            key: Key::from(key),
            operation: op,
            value: Row::from_pairs(pairs.iter().map(|(c, v)| (*c, Some(*v)))),
            old_value: None,
            headers: ChangeHeaders::default(),
        }
    }

    #[test]
    fn carry_survives_only_until_a_matching_insert() {
        let mut m = RowMap::default();
        let mut t = Tracker::disabled();
        m.apply(
            change(Operation::Insert, "a", &[("id", "a"), ("x", "1")]),
            Mode::Full,
            &mut t,
        );
        let mut del = change(Operation::Delete, "a", &[("id", "a")]);
        del.headers.key_change_to = Some(Key::from("b"));
        m.apply(del, Mode::Full, &mut t);
        assert!(m.carry.is_some());
        // An insert for a different PK change leaves the carry alone.
        let mut other = change(Operation::Insert, "z", &[("id", "z")]);
        other.headers.key_change_from = Some(Key::from("y"));
        m.apply(other, Mode::Full, &mut t);
        assert!(m.carry.is_some());
        let mut ins = change(Operation::Insert, "b", &[("id", "b")]);
        ins.headers.key_change_from = Some(Key::from("a"));
        m.apply(ins, Mode::Full, &mut t);
        assert!(m.carry.is_none());
        assert_eq!(
            m.row(&Key::from("b")),
            Some(&Row::from_pairs([("id", Some("b")), ("x", Some("1"))]))
        );
    }

    #[test]
    fn relation_costs_one_pointer_per_row_and_is_shared() {
        assert_eq!(
            std::mem::size_of::<Option<Relation>>(),
            std::mem::size_of::<usize>()
        );
        let mut m = RowMap::default();
        let mut t = Tracker::disabled();
        for k in ["a", "b"] {
            let mut c = change(Operation::Insert, k, &[("id", k)]);
            c.headers.relation = Some([Column::from("public"), Column::from("t")]);
            m.apply(c, Mode::Full, &mut t);
        }
        let rel = |k: &str| m.get(&Key::from(k)).unwrap().relation.clone().unwrap();
        assert!(
            Arc::ptr_eq(&rel("a"), &rel("b")),
            "equal relations share one allocation"
        );
    }

    #[test]
    fn move_events_are_free_without_tags() {
        let mut m = RowMap::default();
        let mut t = Tracker::new();
        m.apply(change(Operation::Insert, "a", &[("id", "a")]), Mode::Full, &mut t);
        assert!(!m.any_tags);
        let ev = EventMessage {
            kind: MoveKind::MoveOut,
            patterns: vec![crate::protocol::MovePattern {
                pos: 0,
                value: "a".into(),
            }],
            txids: vec![],
        };
        m.apply_event(&ev, &mut t);
        assert_eq!(m.len(), 1);
    }
}
