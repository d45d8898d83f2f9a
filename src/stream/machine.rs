//! The [`ShapeStream`] struct: its state, the input dispatcher, and the lifecycle inputs
//! (start, timers, visibility, connectivity, refresh, abort, retry after an error). What happens
//! with responses is in `respond.rs`.

use std::sync::Arc;

use super::backoff::{Backoff, BackoffOptions};
use super::config::{ConfigError, StreamConfig};
use super::error::StreamError;
use super::fast_loop::{FastLoopGuard, Verdict};
use super::rng::{cache_buster, jitter, RandomSource};
use super::sse::SseState;
use super::{Effect, Input, RequestId, Status, TimerId};
use crate::protocol::offset::Offset;
use crate::protocol::request::{RequestParams, ShapeDefinition};
use crate::protocol::response::RequestKind;
use crate::protocol::schema::Schema;

/// Consecutive malformed bodies at one offset before the stream fails.
pub const MAX_MALFORMED_BODIES: u32 = 5;
/// Stale cache hits (a response carrying the expired handle) retried with a fresh cache buster
/// before the stream fails.
pub const MAX_STALE_CACHE_RETRIES: u32 = 3;
/// Consecutive `RetryAfterError`s without a success before the stream refuses to go on.
pub const MAX_ERROR_RETRIES: u32 = 50;

/// The states of the diagram in the module docs, as seen from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateKind {
    /// Built, not started.
    Initial,
    /// A non-live request is in flight (initial sync or catch-up).
    Syncing,
    /// A live long-poll request is in flight.
    Live,
    /// A live SSE request is in flight (open or opening).
    LiveSse,
    /// Waiting on a timer before the next request (retry backoff, fast-loop or SSE pause).
    Backoff,
    /// Hidden or offline: nothing in flight.
    Paused,
    /// Stopped by an error; waiting for `RetryAfterError` or `Abort`.
    Error,
    /// Finished for good.
    Done,
}

impl StateKind {
    /// Every state, for exhaustive tests.
    pub const ALL: [StateKind; 8] = [
        StateKind::Initial,
        StateKind::Syncing,
        StateKind::Live,
        StateKind::LiveSse,
        StateKind::Backoff,
        StateKind::Paused,
        StateKind::Error,
        StateKind::Done,
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Initial,
    Running,
    Paused,
    Error,
    Done,
}

/// Which kind of request the next one is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Syncing,
    Live,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct InFlight {
    pub id: RequestId,
    pub live: bool,
    pub sse: bool,
    pub started_ms: u64,
    /// SSE only: the headers arrived and events may follow.
    pub opened: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pending {
    Idle,
    Request(InFlight),
    Waiting(TimerId),
}

/// One shape subscription's protocol state. See the module docs for the contract.
pub struct ShapeStream {
    pub(super) shape: ShapeDefinition,
    pub(super) live_enabled: bool,
    pub(super) prefer_sse: bool,
    pub(super) live_timeout_ms: Option<u64>,
    pub(super) rng: Box<dyn RandomSource>,
    pub(super) phase: Phase,
    pub(super) mode: Mode,
    pub(super) pending: Pending,
    pub(super) watchdog: Option<TimerId>,
    pub(super) offset: Offset,
    pub(super) handle: Option<String>,
    pub(super) cursor: Option<String>,
    pub(super) schema: Option<Arc<Schema>>,
    pub(super) cache_buster: Option<String>,
    pub(super) expired_handle: Option<String>,
    pub(super) up_to_date: bool,
    pub(super) connected: bool,
    pub(super) visible: bool,
    pub(super) online: bool,
    pub(super) backoff: Backoff,
    pub(super) error_backoff: Backoff,
    pub(super) malformed: u32,
    pub(super) stale_hits: u32,
    pub(super) fast_loop: FastLoopGuard,
    pub(super) sse: SseState,
    pub(super) last_error: Option<StreamError>,
    next_id: u64,
    reported: Status,
    pub(super) out: Vec<Effect>,
}

impl std::fmt::Debug for ShapeStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShapeStream")
            .field("state", &self.state_kind())
            .field("offset", &self.offset)
            .field("handle", &self.handle)
            .field("cursor", &self.cursor)
            .field("up_to_date", &self.up_to_date)
            .finish_non_exhaustive()
    }
}

impl ShapeStream {
    /// Build a stream; nothing happens until [`Input::Start`].
    pub fn new(config: StreamConfig, rng: Box<dyn RandomSource>) -> Result<Self, ConfigError> {
        config.validate()?;
        let error_timings = BackoffOptions {
            max_retries: Some(MAX_ERROR_RETRIES),
            ..config.backoff
        };
        Ok(ShapeStream {
            shape: config.shape,
            live_enabled: config.live,
            prefer_sse: config.prefer_sse,
            live_timeout_ms: config.live_request_timeout_ms,
            rng,
            phase: Phase::Initial,
            mode: Mode::Syncing,
            pending: Pending::Idle,
            watchdog: None,
            offset: config.offset,
            handle: config.handle,
            cursor: None,
            schema: None,
            cache_buster: None,
            expired_handle: config.expired_handle,
            up_to_date: false,
            connected: false,
            visible: true,
            online: true,
            backoff: Backoff::new(config.backoff),
            error_backoff: Backoff::new(error_timings),
            malformed: 0,
            stale_hits: 0,
            fast_loop: FastLoopGuard::default(),
            sse: SseState::default(),
            last_error: None,
            next_id: 1,
            reported: Status::Connecting,
            out: Vec::new(),
        })
    }

    /// Feed one input at time `now_ms` (any monotonic millisecond clock); returns the effects
    /// to carry out, in order. After `Abort` (or a finished `live = false` stream) it always
    /// returns nothing.
    pub fn handle(&mut self, now_ms: u64, input: Input) -> Vec<Effect> {
        if self.phase == Phase::Done {
            return Vec::new();
        }
        match input {
            Input::Start => self.on_start(now_ms),
            Input::ResponseReceived {
                request_id,
                class,
                body,
            } => self.on_response(now_ms, request_id, class, body),
            Input::SseEvent { request_id, message } => self.on_sse_event(now_ms, request_id, message),
            Input::SseClosed { request_id, clean } => self.on_sse_closed(now_ms, request_id, clean),
            Input::NetworkError { request_id } => self.on_network_error(now_ms, request_id),
            Input::TimerFired { timer_id } => self.on_timer(now_ms, timer_id),
            Input::VisibilityChanged { visible } => {
                self.visible = visible;
                self.update_pause(now_ms);
            }
            Input::Online => {
                self.online = true;
                self.update_pause(now_ms);
            }
            Input::Offline => {
                self.online = false;
                self.update_pause(now_ms);
            }
            Input::ForceRefresh => self.on_force_refresh(now_ms),
            Input::Abort => self.stop(),
            Input::RetryAfterError => self.on_retry_after_error(),
        }
        let status = self.status();
        if status != self.reported {
            self.reported = status;
            self.out.push(Effect::StatusChanged(status));
        }
        std::mem::take(&mut self.out)
    }

    // -----------------------------------------------------------------------------------------
    // Lifecycle inputs

    fn on_start(&mut self, now_ms: u64) {
        if self.phase != Phase::Initial {
            return;
        }
        self.phase = Phase::Running;
        self.mode = Mode::Syncing;
        if self.should_pause() {
            self.phase = Phase::Paused;
        } else {
            self.issue(now_ms);
        }
    }

    fn on_timer(&mut self, now_ms: u64, timer_id: TimerId) {
        if self.watchdog == Some(timer_id) {
            self.watchdog = None;
            if let Pending::Request(r) = self.pending {
                // A hung live request: drop it and ask again (no backoff: nothing failed).
                self.out.push(Effect::CancelRequest { request_id: r.id });
                self.pending = Pending::Idle;
                self.issue(now_ms);
            }
        } else if self.pending == Pending::Waiting(timer_id) {
            self.pending = Pending::Idle;
            self.issue(now_ms);
        }
    }

    fn should_pause(&self) -> bool {
        !self.visible || !self.online
    }

    fn update_pause(&mut self, now_ms: u64) {
        match self.phase {
            Phase::Running if self.should_pause() => {
                self.cancel_all();
                self.phase = Phase::Paused;
            }
            Phase::Paused if !self.should_pause() => {
                self.phase = Phase::Running;
                self.mode = Mode::Syncing;
                self.issue(now_ms);
            }
            _ => {}
        }
    }

    fn on_force_refresh(&mut self, now_ms: u64) {
        if self.phase != Phase::Running {
            return;
        }
        match self.pending {
            Pending::Request(r) if !r.live => {}
            _ => {
                self.cancel_all();
                self.mode = Mode::Syncing;
                self.issue(now_ms);
            }
        }
    }

    fn on_retry_after_error(&mut self) {
        if self.phase != Phase::Error {
            return;
        }
        let Some(wait) = self.error_backoff.next_wait(None, self.rng.as_mut()) else {
            let err = StreamError::ErrorRetriesExhausted {
                retries: self.error_backoff.retries(),
            };
            self.last_error = Some(err.clone());
            self.out.push(Effect::Failed(err));
            return;
        };
        // The user chose to go on: the per-request guards start over (only the onError count
        // above carries across).
        self.last_error = None;
        self.backoff.reset();
        self.malformed = 0;
        self.stale_hits = 0;
        self.fast_loop.clear_detections();
        self.phase = Phase::Running;
        if self.should_pause() {
            self.phase = Phase::Paused;
        } else {
            self.wait(wait);
        }
    }

    /// Abort, or the natural end of a `live = false` stream.
    pub(super) fn stop(&mut self) {
        self.cancel_all();
        self.phase = Phase::Done;
    }

    // -----------------------------------------------------------------------------------------
    // Helpers shared with respond.rs

    /// Issue the next request after an answer (a 200, 204 or 409): the loop-back path the
    /// fast-loop guard watches. A non-live request at an offset already requested 4 times in
    /// the last 500 ms is a detection (see `fast_loop.rs`). Retries after a backoff, resumes,
    /// refreshes and watchdog re-issues are not loop-backs and go straight to [`Self::issue`].
    pub(super) fn loop_back(&mut self, now_ms: u64) {
        if self.mode == Mode::Syncing {
            match self.fast_loop.record(now_ms, self.offset) {
                Verdict::Proceed => {}
                Verdict::Reset => self.reset_position(None),
                Verdict::Pause(ceiling) => {
                    let wait = jitter(self.rng.as_mut(), ceiling);
                    return self.wait(wait);
                }
                Verdict::Fail => {
                    let offset = self.offset.to_string();
                    return self.fail(StreamError::FastLoop { offset });
                }
            }
        }
        self.issue(now_ms);
    }

    /// Issue the current mode's request: non-live while syncing, live (SSE when preferred and
    /// not fallen back) once up to date.
    pub(super) fn issue(&mut self, now_ms: u64) {
        let live = self.mode == Mode::Live;
        let sse = live && self.prefer_sse && !self.sse.fell_back();
        let request_id = RequestId(self.fresh_id());
        let timeout_ms = if live && !sse { self.live_timeout_ms } else { None };
        let params = RequestParams {
            offset: self.offset,
            handle: self.handle.clone(),
            live,
            sse,
            cursor: if live { self.cursor.clone() } else { None },
            cache_buster: self.cache_buster.clone(),
            expired_handle: self.expired_handle.clone(),
        };
        self.pending = Pending::Request(InFlight {
            id: request_id,
            live,
            sse,
            started_ms: now_ms,
            opened: false,
        });
        self.out.push(Effect::IssueRequest {
            request_id,
            params,
            kind: RequestKind { live, sse },
            timeout_ms,
        });
        if let Some(delay_ms) = timeout_ms {
            let timer_id = TimerId(self.fresh_id());
            self.watchdog = Some(timer_id);
            self.out.push(Effect::StartTimer { timer_id, delay_ms });
        }
    }

    /// Sleep `delay_ms`, then issue the current mode's request.
    pub(super) fn wait(&mut self, delay_ms: u64) {
        let timer_id = TimerId(self.fresh_id());
        self.pending = Pending::Waiting(timer_id);
        self.out.push(Effect::StartTimer { timer_id, delay_ms });
    }

    /// Forget the shape position (409, fast-loop reset): back to `-1` with a cache buster,
    /// remembering the old handle as expired. Emits `MustRefetch`.
    pub(super) fn reset_position(&mut self, new_handle: Option<String>) {
        if let Some(old) = self.handle.take() {
            self.expired_handle = Some(old);
        }
        self.handle = new_handle.clone();
        self.offset = Offset::BeforeAll;
        self.schema = None;
        self.cursor = None;
        self.cache_buster = Some(cache_buster(self.rng.as_mut()));
        self.up_to_date = false;
        self.mode = Mode::Syncing;
        self.sse.discard();
        self.out.push(Effect::MustRefetch { handle: new_handle });
    }

    /// Stop with an error.
    pub(super) fn fail(&mut self, err: StreamError) {
        self.cancel_all();
        self.phase = Phase::Error;
        self.connected = false;
        self.last_error = Some(err.clone());
        self.out.push(Effect::Failed(err));
    }

    /// Cancel whatever is in flight or pending, and the watchdog; drop a partial SSE batch.
    pub(super) fn cancel_all(&mut self) {
        match std::mem::replace(&mut self.pending, Pending::Idle) {
            Pending::Request(r) => self.out.push(Effect::CancelRequest { request_id: r.id }),
            Pending::Waiting(timer_id) => self.out.push(Effect::CancelTimer { timer_id }),
            Pending::Idle => {}
        }
        self.cancel_watchdog();
        self.sse.discard();
    }

    pub(super) fn cancel_watchdog(&mut self) {
        if let Some(timer_id) = self.watchdog.take() {
            self.out.push(Effect::CancelTimer { timer_id });
        }
    }

    fn fresh_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::SplitMix64;

    fn stream() -> ShapeStream {
        let shape = ShapeDefinition {
            table: "t".into(),
            ..ShapeDefinition::default()
        };
        ShapeStream::new(StreamConfig::new(shape), Box::new(SplitMix64::new(5))).expect("valid")
    }

    fn ids(fx: &[Effect]) -> Vec<u64> {
        fx.iter()
            .filter_map(|e| match e {
                Effect::IssueRequest { request_id, .. } => Some(request_id.0),
                Effect::StartTimer { timer_id, .. } => Some(timer_id.0),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn status_follows_phase_and_flags() {
        let mut s = stream();
        assert_eq!(
            (s.state_kind(), s.status()),
            (StateKind::Initial, Status::Connecting)
        );
        s.handle(0, Input::Offline);
        assert_eq!(s.status(), Status::Connecting, "not started: flags only");
        assert_eq!(
            s.handle(0, Input::Start),
            vec![Effect::StatusChanged(Status::Offline)]
        );
        assert_eq!(s.state_kind(), StateKind::Paused);
        s.handle(0, Input::VisibilityChanged { visible: false });
        assert_eq!(
            s.handle(0, Input::Online),
            vec![Effect::StatusChanged(Status::Paused)]
        );
        s.handle(0, Input::Abort);
        assert_eq!((s.state_kind(), s.status()), (StateKind::Done, Status::Closed));
    }

    #[test]
    fn ids_are_fresh_for_every_request_and_timer() {
        let mut s = stream();
        let mut all = ids(&s.handle(0, Input::Start));
        for i in 0..20 {
            s.handle(i, Input::VisibilityChanged { visible: false });
            all.extend(ids(&s.handle(i, Input::VisibilityChanged { visible: true })));
        }
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!((n, all.len()), (21, 21));
    }

    #[test]
    fn a_reset_keeps_only_the_expired_handle() {
        let mut s = stream();
        s.handle = Some("h".into());
        s.cursor = Some("c".into());
        s.offset = Offset::Log(crate::protocol::offset::LogOffset::new(4, 2));
        s.up_to_date = true;
        s.reset_position(Some("h2".into()));
        assert_eq!(
            s.out,
            vec![Effect::MustRefetch {
                handle: Some("h2".into())
            }]
        );
        assert_eq!((s.offset, s.cursor.as_deref()), (Offset::BeforeAll, None));
        assert_eq!(
            (s.handle.as_deref(), s.expired_handle.as_deref()),
            (Some("h2"), Some("h"))
        );
        assert!(s.cache_buster.is_some() && !s.up_to_date);
    }
}
