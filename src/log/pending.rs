//! The buffer of messages waiting for a commit point, in per-batch segments (a long initial
//! sync never re-copies what is pending).
//!
//! Segments are numbered, and ids are never reused (not even across a must-refetch). The
//! buffer also knows whether everything in it is a *plain insert* (an `insert` without
//! `key_change_from`). Together they let a reader render an initial sync's rows batch by batch
//! while the rest downloads ([`super::Materializer::pending_inserts`]) and check, after the
//! commit, that the commit made exactly those rows in that order
//! ([`super::Materializer::plain_commit`]).

use crate::protocol::{ChangeMessage, Message, Operation};

/// Ids of a run of segments, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentRange {
    /// The first segment's id.
    pub first: u64,
    /// The last segment's id.
    pub last: u64,
}

/// Pending messages in segments; `segments[i]` has id `first_id + i`.
#[derive(Debug, Clone)]
pub(super) struct Pending {
    segments: Vec<Vec<Message>>,
    first_id: u64,
    plain: bool,
    /// The last segment belongs to the batch being staged (only then may it grow: a segment
    /// of an earlier batch may have been read through [`Pending::inserts_after`]).
    open: bool,
}

impl Default for Pending {
    fn default() -> Self {
        Pending {
            segments: Vec::new(),
            first_id: 0,
            plain: true,
            open: false,
        }
    }
}

fn is_plain_insert(m: &Message) -> bool {
    matches!(m, Message::Change(c) if c.operation == Operation::Insert && c.headers.key_change_from.is_none())
}

impl Pending {
    /// A new batch starts: what it stages goes into segments of its own.
    pub(super) fn begin_batch(&mut self) {
        self.open = false;
    }

    /// Add a message; `more` messages of this batch may follow (sizes a new segment).
    pub(super) fn stage(&mut self, m: Message, more: usize) {
        self.plain &= is_plain_insert(&m);
        match self.segments.last_mut() {
            Some(segment) if self.open && segment.len() < segment.capacity() => segment.push(m),
            _ => {
                let mut segment = Vec::with_capacity(more + 1);
                segment.push(m);
                self.segments.push(segment);
                self.open = true;
            }
        }
    }

    /// Add a batch of change and move messages as a segment of its own (nothing if empty).
    pub(super) fn stage_segment(&mut self, segment: Vec<Message>) {
        if segment.is_empty() {
            return;
        }
        self.plain &= segment.iter().all(is_plain_insert);
        self.segments.push(segment);
        self.open = false;
    }

    /// Drop everything (the dropped ids are not reused).
    pub(super) fn clear(&mut self) {
        self.take();
    }

    /// Take every segment, with the range of their ids (`None` when there were none).
    pub(super) fn take(&mut self) -> (Vec<Vec<Message>>, Option<SegmentRange>) {
        let segments = std::mem::take(&mut self.segments);
        let range = (!segments.is_empty()).then(|| SegmentRange {
            first: self.first_id,
            last: self.first_id + segments.len() as u64 - 1,
        });
        self.first_id += segments.len() as u64;
        self.plain = true;
        self.open = false;
        (segments, range)
    }

    /// Number of pending messages.
    pub(super) fn len(&self) -> usize {
        self.segments.iter().map(Vec::len).sum()
    }

    /// Every pending message, in order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Message> + '_ {
        self.segments.iter().flatten()
    }

    /// True when every pending message is a plain insert (also when nothing is pending).
    pub(super) fn is_plain(&self) -> bool {
        self.plain
    }

    /// The segments after id `after` (all of them for `None`): their id range and their
    /// messages as inserts. `None` when there is no such segment or something pending is not a
    /// plain insert.
    pub(super) fn inserts_after(&self, after: Option<u64>) -> Option<(SegmentRange, Vec<&ChangeMessage>)> {
        if !self.plain {
            return None;
        }
        let skip = after.map_or(0, |a| (a + 1).saturating_sub(self.first_id) as usize);
        let segments = self.segments.get(skip..).filter(|s| !s.is_empty())?;
        let range = SegmentRange {
            first: self.first_id + skip as u64,
            last: self.first_id + (self.segments.len() - 1) as u64,
        };
        let rows = segments
            .iter()
            .flatten()
            .filter_map(|m| match m {
                Message::Change(c) => Some(c),
                _ => None,
            })
            .collect();
        Some((range, rows))
    }
}
