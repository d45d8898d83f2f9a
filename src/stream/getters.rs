//! Read-only views of a [`ShapeStream`]: its state, the JS status, the shape position and the
//! counters tests and devtools look at.

use std::sync::Arc;

use super::error::StreamError;
use super::machine::{Mode, Pending, Phase, ShapeStream, StateKind};
use super::Status;
use crate::protocol::offset::Offset;
use crate::protocol::request::ShapeDefinition;
use crate::protocol::schema::Schema;

impl ShapeStream {
    /// The current state (for tests, devtools and the JS getters).
    pub fn state_kind(&self) -> StateKind {
        match (self.phase, self.pending) {
            (Phase::Initial, _) => StateKind::Initial,
            (Phase::Paused, _) => StateKind::Paused,
            (Phase::Error, _) => StateKind::Error,
            (Phase::Done, _) => StateKind::Done,
            (Phase::Running, Pending::Waiting(_)) => StateKind::Backoff,
            (Phase::Running, Pending::Request(r)) if r.sse => StateKind::LiveSse,
            (Phase::Running, Pending::Request(r)) if r.live => StateKind::Live,
            (Phase::Running, _) => StateKind::Syncing,
        }
    }

    /// The status the JS API shows.
    pub fn status(&self) -> Status {
        match self.phase {
            Phase::Initial => Status::Connecting,
            Phase::Done => Status::Closed,
            Phase::Error => Status::Error,
            Phase::Paused if !self.online => Status::Offline,
            Phase::Paused => Status::Paused,
            Phase::Running if !self.connected => Status::Connecting,
            Phase::Running if self.mode == Mode::Live => Status::Live,
            Phase::Running => Status::Syncing,
        }
    }

    /// The shape being synced.
    pub fn shape(&self) -> &ShapeDefinition {
        &self.shape
    }

    /// The offset the next request starts from (committed: all data before it was delivered).
    pub fn offset(&self) -> Offset {
        self.offset
    }

    /// The current shape handle.
    pub fn shape_handle(&self) -> Option<&str> {
        self.handle.as_deref()
    }

    /// The last `electric-cursor`.
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    /// The schema of the current handle (first one seen).
    pub fn schema(&self) -> Option<&Arc<Schema>> {
        self.schema.as_ref()
    }

    /// An up-to-date was reached since the start or the last must-refetch.
    pub fn is_up_to_date(&self) -> bool {
        self.up_to_date
    }

    /// The error that stopped the stream, while in the error state.
    pub fn last_error(&self) -> Option<&StreamError> {
        self.last_error.as_ref()
    }

    /// The last handle invalidated by a 409 (sent as `expired_handle`).
    pub fn expired_handle(&self) -> Option<&str> {
        self.expired_handle.as_deref()
    }

    /// The cache buster the next request carries, if any.
    pub fn cache_buster(&self) -> Option<&str> {
        self.cache_buster.as_deref()
    }

    /// Fast-loop detections since the last up-to-date.
    pub fn fast_loop_detections(&self) -> u32 {
        self.fast_loop.detections()
    }

    /// SSE messages received and held back until the next up-to-date.
    pub fn sse_buffered(&self) -> usize {
        self.sse.buffered()
    }

    /// True once live updates use long-polling because SSE connections kept closing early.
    pub fn sse_fell_back(&self) -> bool {
        self.sse.fell_back()
    }
}
