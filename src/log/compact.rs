//! Compaction: reduce a sequence of change messages to one `insert` per live key (ref §3.1,
//! §7), for persisting a shape log and replaying it on restore.
//!
//! Compaction runs the materializer's own rule engine, so applying the compacted messages to an
//! empty [`super::Materializer`] gives exactly the rows (and row order) that applying the
//! original sequence would. Output order: the order a materializer holds the rows in — first
//! insertion, with a deleted key's slot taken by the last key (`IndexMap::swap_remove`). It is a
//! deterministic function of the input.
//!
//! Headers that survive, like the server's compaction: `operation` (always `insert`) and
//! `relation`. `lsn`, `op_position`, `txids`, `last`, `key_change_*`, `is_move_in`,
//! `snapshot_mark` and `old_value` are dropped: they describe a log position, not a row. One
//! addition: the row's subquery tag state (`tags`, `active_conditions`) is kept, because later
//! move-out events need it to remove the row.

use super::changeset::Tracker;
use super::materialize::Mode;
use super::table::{Entry, RowMap};
use crate::protocol::{ChangeHeaders, ChangeMessage, Key, Operation};

/// Compact any sequence of change messages into one `insert` per live key, with the full
/// merged row, dropping deleted keys. Uses [`Mode::Full`] rules (an update of an unknown key
/// creates the row); see [`Compactor::with_mode`] for `changes_only` logs.
///
/// ```
/// use eddy::log::compact;
/// use eddy::protocol::{ChangeHeaders, ChangeMessage, Key, Operation, Row};
/// let msg = |op, k: &str, v: &[(&str, &str)]| ChangeMessage {
///     key: Key::from(k),
///     operation: op,
///     value: Row::from_pairs(v.iter().map(|(c, x)| (*c, Some(*x)))),
///     old_value: None,
///     headers: ChangeHeaders::default(),
/// };
/// let out = compact([
///     msg(Operation::Insert, "a", &[("id", "a"), ("n", "1")]),
///     msg(Operation::Insert, "b", &[("id", "b")]),
///     msg(Operation::Update, "a", &[("id", "a"), ("n", "2")]),
///     msg(Operation::Delete, "b", &[("id", "b")]),
/// ]);
/// assert_eq!(out.len(), 1);
/// assert_eq!(out[0].operation, Operation::Insert);
/// assert_eq!(out[0].value.get("n"), Some(Some("2")));
/// ```
pub fn compact(messages: impl IntoIterator<Item = ChangeMessage>) -> Vec<ChangeMessage> {
    let mut c = Compactor::new();
    c.extend(messages);
    c.finish()
}

/// Incremental compaction: push change messages as they arrive, take the compacted inserts
/// whenever needed. Memory is one row per live key.
///
/// A PK change whose `delete` half was pushed but whose `insert` half was not yet is held
/// internally; [`Compactor::snapshot`] / [`Compactor::finish`] at that point omit the moving
/// row (as the log itself would, read up to there).
#[derive(Debug, Clone, Default)]
pub struct Compactor {
    map: RowMap,
    mode: Mode,
}

impl Compactor {
    /// A compactor with [`Mode::Full`] rules.
    pub fn new() -> Self {
        Compactor::default()
    }

    /// A compactor with the given log mode's rules (in [`Mode::ChangesOnly`], updates of keys
    /// never inserted are ignored, as the materializer does).
    pub fn with_mode(mode: Mode) -> Self {
        Compactor {
            map: RowMap::default(),
            mode,
        }
    }

    /// The log mode whose rules apply.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Fold one change message in.
    pub fn push(&mut self, message: ChangeMessage) {
        self.map.apply(message, self.mode, &mut Tracker::disabled());
    }

    /// Number of live keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no key is live.
    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
    }

    /// The compacted inserts so far (clones the rows; the compactor keeps going).
    pub fn snapshot(&self) -> Vec<ChangeMessage> {
        snapshot_of(&self.map)
    }

    /// The compacted inserts, consuming the compactor (no clones).
    pub fn finish(self) -> Vec<ChangeMessage> {
        self.map
            .into_entries()
            .map(|(key, e)| insert_of(key, e))
            .collect()
    }
}

impl Extend<ChangeMessage> for Compactor {
    fn extend<I: IntoIterator<Item = ChangeMessage>>(&mut self, iter: I) {
        let mut t = Tracker::disabled();
        for m in iter {
            self.map.apply(m, self.mode, &mut t);
        }
    }
}

/// The rows of a map as compacted inserts, in map order.
pub(crate) fn snapshot_of(map: &RowMap) -> Vec<ChangeMessage> {
    map.iter().map(|(k, e)| insert_of(k.clone(), e.clone())).collect()
}

/// One committed row as a compacted insert.
fn insert_of(key: Key, e: Entry) -> ChangeMessage {
    let (tags, active_conditions) = match e.tags {
        Some(s) => {
            let s = *s;
            (s.tags, s.active_conditions)
        }
        None => (Vec::new(), Vec::new()),
    };
    ChangeMessage {
        key,
        operation: Operation::Insert,
        value: e.row,
        old_value: None,
        headers: ChangeHeaders {
            relation: e.relation.map(|r| (*r).clone()),
            tags,
            active_conditions,
            ..ChangeHeaders::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::row::intern;
    use crate::protocol::Row;

    fn msg(op: Operation, key: &str, pairs: &[(&str, Option<&str>)]) -> ChangeMessage {
        ChangeMessage {
            key: Key::from(key),
            operation: op,
            value: Row::from_pairs(pairs.iter().copied()),
            old_value: None,
            headers: ChangeHeaders {
                relation: Some([intern("public"), intern("items")]),
                lsn: Some(10),
                op_position: Some(0),
                txids: vec![7],
                last: true,
                ..ChangeHeaders::default()
            },
        }
    }

    #[test]
    fn keeps_only_relation_and_tag_state() {
        let mut m = msg(Operation::Insert, "a", &[("id", Some("a"))]);
        m.headers.tags = vec!["h1".into()];
        m.headers.is_move_in = true;
        m.headers.snapshot_mark = Some(3);
        m.old_value = Some(Row::new());
        let out = compact([m]);
        assert_eq!(out.len(), 1);
        let h = &out[0].headers;
        assert_eq!(
            h,
            &ChangeHeaders {
                relation: Some([intern("public"), intern("items")]),
                tags: vec!["h1".into()],
                ..ChangeHeaders::default()
            }
        );
        assert_eq!(out[0].old_value, None);
    }

    #[test]
    fn merges_updates_and_drops_deleted_keys() {
        let out = compact([
            msg(
                Operation::Insert,
                "a",
                &[("id", Some("a")), ("x", Some("1")), ("y", None)],
            ),
            msg(Operation::Insert, "b", &[("id", Some("b"))]),
            msg(Operation::Update, "a", &[("id", Some("a")), ("y", Some("2"))]),
            msg(Operation::Delete, "b", &[("id", Some("b"))]),
            msg(Operation::Insert, "c", &[("id", Some("c"))]),
        ]);
        let keys: Vec<&str> = out.iter().map(|m| m.key.as_str()).collect();
        assert_eq!(keys, ["a", "c"]);
        assert_eq!(
            out[0].value,
            Row::from_pairs([("id", Some("a")), ("x", Some("1")), ("y", Some("2"))])
        );
        assert!(out.iter().all(|m| m.operation == Operation::Insert));
    }

    #[test]
    fn changes_only_mode_ignores_unknown_updates() {
        let upd = msg(Operation::Update, "z", &[("id", Some("z"))]);
        assert_eq!(compact([upd.clone()]).len(), 1);
        let mut c = Compactor::with_mode(Mode::ChangesOnly);
        assert_eq!(c.mode(), Mode::ChangesOnly);
        c.push(upd);
        assert!(c.is_empty());
        c.push(msg(Operation::Insert, "z", &[("id", Some("z"))]));
        assert_eq!(c.len(), 1);
        assert_eq!(c.snapshot(), c.clone().finish());
    }

    #[test]
    fn a_dangling_pk_delete_omits_the_row() {
        let mut d = msg(Operation::Delete, "a", &[("id", Some("a"))]);
        d.headers.key_change_to = Some(Key::from("b"));
        let mut c = Compactor::new();
        c.push(msg(
            Operation::Insert,
            "a",
            &[("id", Some("a")), ("x", Some("1"))],
        ));
        c.push(d);
        assert!(c.snapshot().is_empty());
        let mut i = msg(Operation::Insert, "b", &[("id", Some("b"))]);
        i.headers.key_change_from = Some(Key::from("a"));
        c.push(i);
        let out = c.finish();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].value.get("x"), Some(Some("1")));
    }
}
