//! The [`Materializer`]: a keyed row map fed with shape-log batches, committing only at
//! `up-to-date` (ref §3.1) and hiding a `must-refetch` until the re-synced state is complete
//! (ref §6.2).

use super::changeset::{ChangeSet, Tracker};
use super::compact::snapshot_of;
use super::pending::{Pending, SegmentRange};
use super::table::RowMap;
use super::tags::TagState;
use crate::protocol::{ChangeMessage, Column, ControlMessage, Key, Message, Row};

/// The shape's `log` mode (ref §1), which decides how updates of unknown keys are treated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `log=full`: initial snapshot then changes. An update of an unknown key creates the row
    /// from the update's value (what the TS `Shape` does: `{...undefined, ...value}`).
    #[default]
    Full,
    /// `log=changes_only`: no snapshot. Updates of keys never seen as inserts are ignored (the
    /// TS `Shape`'s rule); deletes of unknown keys are no-ops in both modes.
    ChangesOnly,
}

/// How a [`Materializer`] applies messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct MaterializerOptions {
    /// The shape's log mode.
    pub mode: Mode,
}

/// Materializes a shape log into one row per key.
///
/// **Commit points.** [`Materializer::ingest`] buffers change and move messages; only an
/// `up-to-date` applies the buffer, atomically, and returns the [`ChangeSet`]. Until then the
/// readers ([`Materializer::rows`], [`Materializer::get`], ...) see the last committed state.
///
/// **Rules** (ref §3.1, §6.2):
/// - insert: set the row; an insert of an existing key overwrites it in place (idempotent
///   re-delivery, ref §0).
/// - update: merge the value's columns into the row. With `replica=full` the value is the full
///   new row, so this is a replacement; `old_value` is ignored. An update of an unknown key
///   creates the row from its value in [`Mode::Full`] and is ignored in [`Mode::ChangesOnly`].
/// - delete: remove the row; an unknown key is a no-op.
/// - PK change (a `delete` with `key_change_to`, then an `insert` with `key_change_from`): the
///   new row is the old row merged with the insert's value, so a partial value cannot lose
///   columns. If the new key already has a row (the PK change is being re-delivered), the value
///   is merged into that row instead.
/// - move-out / move-in events (subquery shapes, ref §3.4): tags and `active_conditions` from
///   the change headers are stored per row ([`Materializer::tag_state`]); a move-out sets the
///   matching positions inactive and removes rows with no fully active disjunct (without
///   `active_conditions`: drops matching tags, removes rows left with none); a move-in sets
///   matching positions active.
/// - `snapshot-end` (end of an injected subset snapshot, ref §3.2, §3.5) commits like an
///   `up-to-date` when everything pending is subset rows (`headers.snapshot_mark` set) and no
///   refetch is in progress: a snapshot is consistent on its own, and an on-demand caller should
///   not wait for the next live `up-to-date` to see it. Otherwise it is ignored and the rows wait
///   for the next `up-to-date`, so a half-received live transaction is never exposed.
///
/// **Must-refetch.** A `must-refetch` control message (or [`Materializer::must_refetch`])
/// drops the pending buffer, but the last committed rows stay visible: the first `up-to-date`
/// after it builds the new state from scratch and *replaces* the map, and its change set is the
/// diff old → new with `reset: true`. Readers never see an empty flash (ref §6.2, §8 case 8).
///
/// ```
/// use eddy::log::Materializer;
/// use eddy::protocol::parse_body;
/// let mut m = Materializer::new();
/// let chunk = br#"[{"key":"k1","value":{"id":"1","n":"a"},"headers":{"operation":"insert"}}]"#;
/// assert!(m.ingest(parse_body(chunk).unwrap()).is_none());
/// assert!(m.is_empty(), "nothing is visible before up-to-date");
/// let done = m.ingest(parse_body(br#"[{"headers":{"control":"up-to-date"}}]"#).unwrap()).unwrap();
/// assert_eq!(done.inserted.len(), 1);
/// assert_eq!(m.get(&"k1".into()).unwrap().get("n"), Some(Some("a")));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Materializer {
    options: MaterializerOptions,
    committed: RowMap,
    /// Messages waiting for a commit point, one segment per batch.
    pending: Pending,
    refetching: bool,
    /// What the last commit was, when it was a [`PlainCommit`].
    plain_commit: Option<PlainCommit>,
}

/// A commit that made the rows of an empty map from plain inserts (no update, delete, event or
/// PK change, no key twice): the committed rows are exactly the inserts of these segments, in
/// order (the first commit of an initial sync, normally).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlainCommit {
    /// The segments it took.
    pub segments: SegmentRange,
    /// The rows it made.
    pub rows: usize,
}

impl Materializer {
    /// An empty materializer for a `log=full` shape.
    pub fn new() -> Self {
        Materializer::default()
    }

    /// An empty materializer with the given options.
    pub fn with_options(options: MaterializerOptions) -> Self {
        Materializer {
            options,
            ..Materializer::default()
        }
    }

    /// A materializer whose committed rows are `snapshot` (e.g. the output of
    /// [`Materializer::snapshot`] or [`super::compact`] loaded from storage).
    pub fn from_snapshot(options: MaterializerOptions, snapshot: Vec<ChangeMessage>) -> Self {
        let mut m = Materializer::with_options(options);
        m.extend_snapshot(snapshot);
        m
    }

    /// Commit more stored rows (as inserts, untracked) into a materializer made by
    /// [`Materializer::from_snapshot`] that has not ingested anything since: a restore read
    /// in parts.
    pub fn extend_snapshot(&mut self, rows: Vec<ChangeMessage>) {
        let mut t = Tracker::disabled();
        self.committed.reserve(rows.len());
        for c in rows {
            self.committed.apply(c, self.options.mode, &mut t);
        }
    }

    /// The options this materializer applies.
    pub fn options(&self) -> &MaterializerOptions {
        &self.options
    }

    /// Feed one batch (a long-poll body or an SSE run, in order). Change and move messages are
    /// buffered; each `up-to-date` commits the buffer (so does a `snapshot-end` closing a
    /// subset snapshot, see the type docs). Returns `None` when nothing was committed (nothing
    /// became visible), otherwise the net change of the committed rows across the whole call
    /// (several commits in one batch give one merged change set). Messages after the last
    /// commit point stay pending.
    pub fn ingest(&mut self, mut messages: Vec<Message>) -> Option<ChangeSet> {
        self.pending.begin_batch();
        // The common batch (changes, then at most one control message at the end) becomes a
        // segment as it is: no message is moved one by one.
        let control = |m: &Message| matches!(m, Message::Control(_));
        let last_is_control = messages.last().is_some_and(control);
        let body = messages.len() - usize::from(last_is_control);
        if !messages[..body].iter().any(control) {
            let last = if last_is_control { messages.pop() } else { None };
            self.pending.stage_segment(messages);
            messages = last.into_iter().collect();
        }
        let mut tracker: Option<Tracker> = None;
        let mut left = messages.len();
        for m in messages {
            left -= 1;
            match m {
                Message::Change(_) | Message::Event(_) => self.stage(m, left),
                Message::Control(ControlMessage::UpToDate { .. }) => {
                    self.commit(tracker.get_or_insert_with(Tracker::new));
                }
                Message::Control(ControlMessage::MustRefetch) => self.must_refetch(),
                Message::Control(ControlMessage::SnapshotEnd(_)) => {
                    if self.only_subset_rows_pending() {
                        self.commit(tracker.get_or_insert_with(Tracker::new));
                    }
                }
            }
        }
        tracker.map(|t| t.finish(&self.committed))
    }

    /// Add a message to the pending buffer; `more` messages of this batch may follow.
    fn stage(&mut self, m: Message, more: usize) {
        self.pending.stage(m, more);
    }

    /// The shape must be re-synced from scratch (a 409): drop the pending buffer and mark the
    /// next commit as a full replacement. Committed rows stay visible until then.
    pub fn must_refetch(&mut self) {
        self.pending.clear();
        self.refetching = true;
    }

    /// True between a must-refetch and the next `up-to-date`.
    pub fn is_refetching(&self) -> bool {
        self.refetching
    }

    /// The committed rows, in map order (first insertion; a deleted row's slot is taken by the
    /// last row).
    pub fn rows(&self) -> impl ExactSizeIterator<Item = (&Key, &Row)> + '_ {
        self.committed.iter().map(|(k, e)| (k, &e.row))
    }

    /// The committed row for `key`.
    pub fn get(&self, key: &Key) -> Option<&Row> {
        self.committed.row(key)
    }

    /// True if `key` has a committed row.
    pub fn contains_key(&self, key: &Key) -> bool {
        self.committed.get(key).is_some()
    }

    /// The subquery tag state of a committed row (`None` for ordinary shapes).
    pub fn tag_state(&self, key: &Key) -> Option<&TagState> {
        self.committed.get(key).and_then(|e| e.tags.as_deref())
    }

    /// The `relation` (`[schema, table]`) of a committed row, from the last change message of
    /// that row that carried one (`None` if none did). Rows with the same relation share one
    /// allocation.
    pub fn relation(&self, key: &Key) -> Option<&[Column; 2]> {
        self.committed.get(key).and_then(|e| e.relation.as_deref())
    }

    /// Number of committed rows.
    pub fn len(&self) -> usize {
        self.committed.len()
    }

    /// True when there is no committed row.
    pub fn is_empty(&self) -> bool {
        self.committed.len() == 0
    }

    /// Number of buffered change and move messages waiting for an `up-to-date`.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// During an initial sync (nothing committed, no refetch, and nothing pending but plain
    /// inserts): the pending inserts of the segments after id `after` (of all for `None`), with
    /// the segments' id range. If the commit that takes them is a [`PlainCommit`] of the same
    /// segments, they are the committed rows, in map order; so their JS objects can be built
    /// before the commit, while the rest of the sync downloads.
    pub fn pending_inserts(&self, after: Option<u64>) -> Option<(SegmentRange, Vec<&ChangeMessage>)> {
        if self.committed.len() != 0 || self.refetching {
            return None;
        }
        self.pending.inserts_after(after)
    }

    /// The last commit, if it was a [`PlainCommit`].
    pub fn plain_commit(&self) -> Option<PlainCommit> {
        self.plain_commit
    }

    /// The committed rows as compacted inserts (for persistence; restore with
    /// [`Materializer::from_snapshot`] or by ingesting them followed by an `up-to-date`). Same
    /// headers as [`super::compact`]: `relation` and the row's tag state only.
    pub fn snapshot(&self) -> Vec<ChangeMessage> {
        snapshot_of(&self.committed)
    }

    fn only_subset_rows_pending(&self) -> bool {
        !self.refetching
            && self
                .pending
                .iter()
                .all(|m| matches!(m, Message::Change(c) if c.headers.snapshot_mark.is_some()))
    }

    fn commit(&mut self, t: &mut Tracker) {
        let plain = self.pending.is_plain();
        let (pending, segments) = self.pending.take();
        let count = pending.iter().map(Vec::len).sum();
        let pending = pending.into_iter().flatten();
        let mode = self.options.mode;
        self.plain_commit = None;
        if self.refetching {
            self.refetching = false;
            let mut fresh = RowMap::default();
            let mut off = Tracker::disabled();
            for m in pending {
                apply_message(&mut fresh, m, mode, &mut off);
            }
            let old = std::mem::replace(&mut self.committed, fresh);
            t.mark_reset();
            for (k, e) in old.into_entries() {
                t.touch_owned(k, Some(e));
            }
            for k in self.committed.keys() {
                t.touch(k, None);
            }
        } else if self.committed.len() == 0 && t.is_fresh() {
            // The first commit into an empty map (an initial sync): every surviving key is an
            // insert, so tracking each touch would only rediscover that, at a hash per row.
            t.mark_from_empty();
            self.committed.reserve(count);
            for m in pending {
                apply_message(&mut self.committed, m, mode, t);
            }
            if let Some(segments) = segments.filter(|_| plain && self.committed.len() == count) {
                self.plain_commit = Some(PlainCommit {
                    segments,
                    rows: count,
                });
            }
        } else {
            for m in pending {
                apply_message(&mut self.committed, m, mode, t);
            }
        }
    }
}

fn apply_message(map: &mut RowMap, m: Message, mode: Mode, t: &mut Tracker) {
    match m {
        Message::Change(c) => map.apply(c, mode, t),
        Message::Event(e) => map.apply_event(&e, t),
        Message::Control(_) => {}
    }
}

#[cfg(test)]
#[path = "materialize_tests.rs"]
mod tests;
