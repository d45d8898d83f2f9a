//! What the machine does with answers: classified responses, SSE events and closes, network
//! errors (ref §2.2, §4.2, §4.4, §6.3).
//!
//! A `200` is committed only once its body parsed: then handle (a new handle drops the old
//! schema), schema (first one per handle wins), offset and cursor are taken from the headers,
//! the cache buster is dropped (the offset moved, so the URL differs anyway) and the backoff
//! resets. A body that fails to parse commits nothing and is retried with backoff. A
//! `must-refetch` control message inside a 2xx body or SSE stream is treated like a 409
//! without a handle. A `200` still carrying the expired handle is a stale cache hit: it is
//! dropped and asked again with a fresh cache buster (3 times, then the stream fails).
//!
//! A legacy `204` means caught up at the same offset (an empty up-to-date batch). A `304` is
//! retried with backoff: the machine never asks for revalidation, so a `304` can only come
//! from a confused cache, and there is no body to use.

use super::error::StreamError;
use super::machine::{InFlight, Mode, Pending, ShapeStream, MAX_MALFORMED_BODIES, MAX_STALE_CACHE_RETRIES};
use super::rng::cache_buster;
use super::sse::{batch_offset, CloseVerdict};
use super::{Batch, Effect, RequestId};
use crate::protocol::message::{ControlMessage, Message, MessageError};
use crate::protocol::response::{ResponseClass, ResponseError, ShapeMeta};

fn is_must_refetch(m: &Message) -> bool {
    matches!(m, Message::Control(ControlMessage::MustRefetch))
}

impl ShapeStream {
    /// The in-flight request named `id`, if it is the current one.
    fn current(&self, id: RequestId) -> Option<InFlight> {
        match self.pending {
            Pending::Request(r) if r.id == id => Some(r),
            _ => None,
        }
    }

    pub(super) fn on_response(
        &mut self,
        now_ms: u64,
        id: RequestId,
        class: Result<ResponseClass, ResponseError>,
        body: Option<Result<Vec<Message>, MessageError>>,
    ) {
        let Some(req) = self.current(id) else { return };
        if req.opened {
            return; // an open SSE stream already had its headers
        }
        self.cancel_watchdog();
        let class = match class {
            Ok(class) => class,
            Err(e) => {
                self.pending = Pending::Idle;
                return self.fail(StreamError::Response(e));
            }
        };
        if let (ResponseClass::Ok(meta), true) = (&class, req.sse) {
            self.open_sse(req, meta);
            return;
        }
        self.pending = Pending::Idle;
        match class {
            ResponseClass::Ok(meta) => self.on_ok(now_ms, meta, body),
            ResponseClass::NoContent => self.on_no_content(now_ms),
            ResponseClass::NotModified => self.retry("HTTP 304 without a cached body", None),
            ResponseClass::MustRefetch { handle } => {
                self.reset_position(handle);
                self.loop_back(now_ms);
            }
            ResponseClass::Retry {
                status,
                retry_after_ms,
            } => {
                let last = match status {
                    Some(s) => format!("HTTP {s}"),
                    None => "network error".to_string(),
                };
                self.retry(&last, retry_after_ms);
            }
        }
    }

    fn on_ok(&mut self, now_ms: u64, meta: ShapeMeta, body: Option<Result<Vec<Message>, MessageError>>) {
        let messages = match body {
            None => Vec::new(),
            Some(Ok(messages)) => messages,
            Some(Err(e)) => return self.malformed(e),
        };
        if self.expired_handle.as_deref() == Some(meta.handle.as_str()) {
            return self.stale_cache_hit(now_ms, meta.handle);
        }
        if messages.iter().any(is_must_refetch) {
            self.reset_position(None);
            return self.loop_back(now_ms);
        }
        if meta.offset.is_initial() {
            return self.fail(StreamError::UnusableOffset {
                offset: meta.offset.to_string(),
            });
        }
        if self.handle.as_deref() != Some(meta.handle.as_str()) {
            self.handle = Some(meta.handle);
            self.schema = None;
        }
        if self.schema.is_none() {
            self.schema = meta.schema.map(std::sync::Arc::new);
        }
        if meta.cursor.is_some() {
            self.cursor = meta.cursor;
        }
        self.offset = meta.offset;
        self.cache_buster = None;
        self.succeeded();
        let up_to_date = meta.up_to_date || messages.last().is_some_and(Message::is_up_to_date);
        if self.deliver(messages, up_to_date) {
            self.loop_back(now_ms);
        }
    }

    /// A cached answer from before a 409: ask again past the cache, a few times.
    fn stale_cache_hit(&mut self, now_ms: u64, handle: String) {
        self.stale_hits = self.stale_hits.saturating_add(1);
        if self.stale_hits > MAX_STALE_CACHE_RETRIES {
            return self.fail(StreamError::StaleCache { handle });
        }
        self.cache_buster = Some(cache_buster(self.rng.as_mut()));
        self.loop_back(now_ms);
    }

    /// Legacy `204`: caught up at the same offset.
    fn on_no_content(&mut self, now_ms: u64) {
        if self.offset.is_initial() || self.handle.is_none() {
            // Nothing to continue from: a 204 cannot answer an initial request.
            return self.retry("HTTP 204 to an initial request", None);
        }
        self.succeeded();
        if self.deliver(Vec::new(), true) {
            self.loop_back(now_ms);
        }
    }

    /// Emit a batch (skipped when empty and not up-to-date) and, at an up-to-date, go live or
    /// finish. Returns whether the stream goes on.
    fn deliver(&mut self, messages: Vec<Message>, up_to_date: bool) -> bool {
        if up_to_date || !messages.is_empty() {
            self.out.push(Effect::Deliver(Batch {
                messages,
                offset: self.offset,
                handle: self.handle.clone().unwrap_or_default(),
                schema: self.schema.clone(),
                up_to_date,
            }));
        }
        if up_to_date {
            self.up_to_date = true;
            self.fast_loop.clear_detections();
            self.out.push(Effect::UpToDate);
            if !self.live_enabled {
                self.stop();
                return false;
            }
            self.mode = Mode::Live;
        }
        true
    }

    fn succeeded(&mut self) {
        self.backoff.reset();
        self.error_backoff.reset();
        self.malformed = 0;
        self.stale_hits = 0;
        self.connected = true;
    }

    /// Back off and re-issue the current mode's request, or fail when retries are used up.
    fn retry(&mut self, last: &str, retry_after_ms: Option<u64>) {
        self.connected = false;
        match self.backoff.next_wait(retry_after_ms, self.rng.as_mut()) {
            Some(wait) => self.wait(wait),
            None => self.fail(StreamError::RetriesExhausted {
                retries: self.backoff.retries(),
                last: last.to_string(),
            }),
        }
    }

    /// A body (or SSE event) that did not parse: retry the same offset, fail after too many.
    fn malformed(&mut self, source: MessageError) {
        self.malformed = self.malformed.saturating_add(1);
        if self.malformed >= MAX_MALFORMED_BODIES {
            return self.fail(StreamError::MalformedBody {
                offset: self.offset.to_string(),
                attempts: self.malformed,
                source,
            });
        }
        self.retry("malformed body", None);
    }

    // -----------------------------------------------------------------------------------------
    // SSE

    fn open_sse(&mut self, req: InFlight, meta: &ShapeMeta) {
        if self.handle.as_deref() != Some(meta.handle.as_str()) {
            self.handle = Some(meta.handle.clone());
            self.schema = None;
        }
        if meta.cursor.is_some() {
            self.cursor = meta.cursor.clone();
        }
        self.connected = true;
        self.pending = Pending::Request(InFlight { opened: true, ..req });
    }

    pub(super) fn on_sse_event(
        &mut self,
        now_ms: u64,
        id: RequestId,
        message: Result<Message, MessageError>,
    ) {
        let Some(req) = self.current(id) else { return };
        if !(req.sse && req.opened) {
            return;
        }
        let msg = match message {
            Ok(msg) => msg,
            Err(e) => {
                self.cancel_all();
                return self.malformed(e);
            }
        };
        if is_must_refetch(&msg) {
            self.cancel_all();
            self.reset_position(None);
            return self.loop_back(now_ms);
        }
        if let Some(batch) = self.sse.push(msg) {
            self.offset = batch_offset(self.offset, &batch);
            self.succeeded();
            // The stream stays open: no request to issue (live = false never reaches SSE).
            self.deliver(batch, true);
        }
    }

    pub(super) fn on_sse_closed(&mut self, now_ms: u64, id: RequestId, clean: bool) {
        let Some(req) = self.current(id) else { return };
        if !req.sse {
            return;
        }
        self.pending = Pending::Idle;
        if !req.opened {
            // Closed before any headers: a plain network failure.
            self.sse.discard();
            return self.retry("network error", None);
        }
        match self.sse.closed(now_ms.saturating_sub(req.started_ms)) {
            CloseVerdict::FallBack => self.issue(now_ms),
            CloseVerdict::Pause(ceiling) => {
                let wait = super::rng::jitter(self.rng.as_mut(), ceiling);
                self.wait(wait);
            }
            CloseVerdict::Reconnect if clean => self.issue(now_ms),
            CloseVerdict::Reconnect => self.retry("SSE connection dropped", None),
        }
    }

    pub(super) fn on_network_error(&mut self, now_ms: u64, id: RequestId) {
        let Some(req) = self.current(id) else { return };
        if req.opened {
            return self.on_sse_closed(now_ms, id, false);
        }
        self.cancel_watchdog();
        self.pending = Pending::Idle;
        self.retry("network error", None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::offset::{LogOffset, Offset};
    use crate::protocol::request::ShapeDefinition;
    use crate::stream::{Input, SplitMix64, StreamConfig};

    fn started() -> (ShapeStream, RequestId) {
        let cfg = StreamConfig::new(ShapeDefinition::default());
        let mut s = ShapeStream::new(cfg, Box::new(SplitMix64::new(1))).expect("valid");
        s.handle(0, Input::Start);
        let Pending::Request(r) = s.pending else {
            panic!("no request")
        };
        (s, r.id)
    }

    fn meta(offset: Offset, up_to_date: bool) -> ShapeMeta {
        ShapeMeta {
            handle: "h".into(),
            offset,
            schema: None,
            cursor: None,
            up_to_date,
        }
    }

    #[test]
    fn the_header_flag_alone_marks_up_to_date() {
        let (mut s, id) = started();
        let fx = s.handle(
            1,
            Input::ResponseReceived {
                request_id: id,
                class: Ok(ResponseClass::Ok(meta(Offset::Log(LogOffset::new(0, 0)), true))),
                body: Some(Ok(vec![])),
            },
        );
        assert!(fx.contains(&Effect::UpToDate));
        assert!(s.is_up_to_date());
    }

    #[test]
    fn a_parse_failure_leaves_the_position_alone() {
        let (mut s, id) = started();
        let err = MessageError::Malformed {
            index: 3,
            reason: "x".into(),
        };
        s.handle(
            1,
            Input::ResponseReceived {
                request_id: id,
                class: Ok(ResponseClass::Ok(meta(Offset::Log(LogOffset::new(9, 9)), true))),
                body: Some(Err(err)),
            },
        );
        assert_eq!(
            (s.offset, s.handle.as_deref(), s.malformed),
            (Offset::BeforeAll, None, 1)
        );
        assert!(matches!(s.pending, Pending::Waiting(_)));
    }
}
