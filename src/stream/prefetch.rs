//! Prefetch: which request will follow a catch-up answer, known from its headers alone.
//!
//! During the initial sync every answer that is not up to date is followed by a non-live
//! request at the answer's `electric-offset` and `electric-handle`. The shell can start that
//! request as soon as the headers arrive, so the next chunk downloads while this one's body is
//! read, parsed and materialized (the official client prefetches the same way). The machine
//! stays the only place that decides: the shell uses a prefetched answer only when the request
//! the machine then issues has exactly the predicted URL, and drops it otherwise. Non-live
//! answers for one offset and handle are immutable, so an early one is as good as a late one.

use super::machine::{Mode, Pending, Phase, ShapeStream};
use crate::protocol::request::RequestParams;
use crate::protocol::response::ShapeMeta;

impl ShapeStream {
    /// The params of the request that follows a `200` with `meta` to the current in-flight
    /// request, when that request is a non-live catch-up and `meta` is not up to date; `None`
    /// when nothing can be predicted (live, SSE, up to date, a stale handle, an unusable offset).
    pub fn prefetch_params(&self, meta: &ShapeMeta) -> Option<RequestParams> {
        let catching_up = self.phase == Phase::Running
            && self.mode == Mode::Syncing
            && matches!(self.pending, Pending::Request(r) if !r.live && !r.sse);
        let usable = !meta.up_to_date
            && !meta.offset.is_initial()
            && self.expired_handle.as_deref() != Some(meta.handle.as_str());
        (catching_up && usable).then(|| RequestParams {
            offset: meta.offset,
            handle: Some(meta.handle.clone()),
            live: false,
            sse: false,
            cursor: None,
            cache_buster: None,
            expired_handle: self.expired_handle.clone(),
        })
    }
}
