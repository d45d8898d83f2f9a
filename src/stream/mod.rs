//! The ShapeStream state machine, sans-IO (ref §4, §6.3, §6.4): every protocol decision of a
//! shape subscription, with no sockets, timers or clock of its own.
//!
//! The browser shell owns `fetch`, `EventSource`-like streaming, `setTimeout` and the page
//! lifecycle. It feeds [`Input`]s to [`ShapeStream::handle`] together with the current time, and
//! carries out the [`Effect`]s it gets back, **in order**. Responses arrive already classified
//! (`protocol::response::classify`) and parsed (`protocol::message::parse_body` /
//! `parse_event`). The shell may await the consumers of a [`Effect::Deliver`] before executing the
//! `IssueRequest` that follows it (natural backpressure, as the official client does).
//!
//! ```text
//!  +---------+  Start   +---------+   200 + up-to-date    +----------------+
//!  | Initial | -------> | Syncing | --------------------> | Live / LiveSse |
//!  +---------+          +---------+ <-------------------- +----------------+
//!                        |     ^  ^   409, ForceRefresh    |            ^
//!                        +-----+  |   (non-live catch-up)  +------------+
//!           200 without up-to-date|                         live 200, SSE up-to-date,
//!           (next chunk; a 409    | visible and online      SSE reconnect, watchdog
//!            restarts at -1)      | (catch-up)              re-issue
//!                            +--------+
//!   Syncing, Live, LiveSse,  | Paused | <-- Start while hidden or offline
//!   Backoff -- hidden or --> +--------+
//!              offline (cancels everything in flight)
//!
//!  Syncing, Live, LiveSse --5xx / 429 / network / malformed body / SSE drop or short close--> Backoff
//!  Syncing --fast-loop guard, 2nd to 4th detection--> Backoff
//!  Backoff --timer--> the same mode's request (Syncing, Live or LiveSse); ForceRefresh --> Syncing
//!  Syncing, Live, LiveSse --fatal 4xx / missing headers / retries used up / 5th fast loop--> Error
//!  Error --RetryAfterError (at most 50 in a row)--> Backoff
//!  Syncing --up-to-date with live = false--> Done;   any --Abort--> Done (silent for ever)
//! ```
//!
//! [`StateKind`] names these states; `tests/stream_table.rs` holds the full transition table,
//! one cell per (state, event), checked exhaustively by the compiler and at run time.
//!
//! Offsets are committed only after a whole body parsed (ref §0): a truncated or corrupt body
//! leaves offset, handle, cursor and schema untouched and the same request is retried with
//! backoff; five in a row fail the stream.
//!
//! Identifiers: every request and timer gets a fresh [`RequestId`] / [`TimerId`]. Inputs naming
//! an id that is no longer current (cancelled, answered, from before a 409 or an abort) are
//! ignored, so the shell never has to filter late callbacks itself.

mod backoff;
mod config;
mod error;
mod fast_loop;
mod getters;
mod machine;
mod prefetch;
mod respond;
mod rng;
mod sse;

pub use backoff::{Backoff, BackoffOptions};
pub use config::{ConfigError, StreamConfig, DEFAULT_LIVE_REQUEST_TIMEOUT_MS};
pub use error::StreamError;
pub use fast_loop::{FAST_LOOP_MAX_DETECTIONS, FAST_LOOP_REQUESTS, FAST_LOOP_WINDOW_MS};
pub use machine::{ShapeStream, StateKind, MAX_ERROR_RETRIES, MAX_MALFORMED_BODIES, MAX_STALE_CACHE_RETRIES};
pub use rng::{RandomSource, SplitMix64};
pub use sse::{batch_offset, SSE_MAX_SHORT_CONNECTIONS, SSE_SHORT_CONNECTION_MS};

use std::sync::Arc;

use crate::protocol::message::{Message, MessageError};
use crate::protocol::offset::Offset;
use crate::protocol::request::RequestParams;
use crate::protocol::response::{RequestKind, ResponseClass, ResponseError};
use crate::protocol::schema::Schema;

/// Names one request the machine asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// Names one timer the machine asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId(pub u64);

/// Something that happened, reported by the shell.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Begin syncing (the first subscriber arrived). Ignored after the first time.
    Start,
    /// The status and headers of a request arrived (for long-poll, with its whole body).
    ///
    /// `body` is the parsed body of a long-poll `200`; `None` when there is no body to read
    /// (legacy `204`, an SSE stream whose events follow as [`Input::SseEvent`], or any non-2xx
    /// class, whose body the classifier already read). For an SSE request whose class is
    /// `Ok(ResponseClass::Ok(_))` the shell then sends events and exactly one
    /// [`Input::SseClosed`]; for any other class the request is over.
    ResponseReceived {
        /// The request answered.
        request_id: RequestId,
        /// What the classifier made of status and headers.
        class: Result<ResponseClass, ResponseError>,
        /// The parsed body (see above).
        body: Option<Result<Vec<Message>, MessageError>>,
    },
    /// One `data:` event of an open SSE stream, parsed. Events of an unknown kind
    /// (`parse_event` gave `Ok(None)`) are not forwarded.
    SseEvent {
        /// The SSE request.
        request_id: RequestId,
        /// The parsed message, or why it failed to parse.
        message: Result<Message, MessageError>,
    },
    /// An SSE stream ended: `clean` when the server closed it, `false` on a network error.
    SseClosed {
        /// The SSE request.
        request_id: RequestId,
        /// Closed by the server rather than dropped.
        clean: bool,
    },
    /// The request failed before its response headers arrived (DNS, TCP, TLS, CORS, ...).
    NetworkError {
        /// The request that failed.
        request_id: RequestId,
    },
    /// A timer the machine started has fired.
    TimerFired {
        /// The timer.
        timer_id: TimerId,
    },
    /// The page became visible or hidden.
    VisibilityChanged {
        /// Visible now.
        visible: bool,
    },
    /// The browser went online.
    Online,
    /// The browser went offline.
    Offline,
    /// Drop the live request and catch up with a non-live one (`forceDisconnectAndRefresh`).
    ForceRefresh,
    /// Stop for good: cancel everything; no effect is emitted afterwards.
    Abort,
    /// After [`Effect::Failed`], the user's `onError` asked to go on: resume from the current
    /// offset after a backoff wait (at most [`MAX_ERROR_RETRIES`] in a row).
    RetryAfterError,
}

/// Messages to hand to subscribers at once.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The messages, in log order (an up-to-date batch normally ends with the `up-to-date`).
    pub messages: Vec<Message>,
    /// The offset to resume from once these messages are applied.
    pub offset: Offset,
    /// The shape handle the offset belongs to.
    pub handle: String,
    /// The schema of this handle (first one seen), if known.
    pub schema: Option<Arc<Schema>>,
    /// The batch ends at an up-to-date: the data is consistent, a good commit point.
    pub up_to_date: bool,
}

/// The connection status shown to JS (`stream.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Not started yet, or no request has succeeded since the last failure.
    Connecting,
    /// Fetching non-live: initial sync or a catch-up.
    Syncing,
    /// Up to date and following live changes.
    Live,
    /// Paused because the page is hidden.
    Paused,
    /// Paused because the browser is offline.
    Offline,
    /// Stopped by an error (see [`Effect::Failed`]).
    Error,
    /// Finished: aborted, or `live = false` and up to date. Final.
    Closed,
}

impl Status {
    /// The JS string: `"connecting"`, `"syncing"`, `"live"`, `"paused"`, `"offline"`,
    /// `"error"` or `"closed"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Connecting => "connecting",
            Status::Syncing => "syncing",
            Status::Live => "live",
            Status::Paused => "paused",
            Status::Offline => "offline",
            Status::Error => "error",
            Status::Closed => "closed",
        }
    }
}

/// Something the shell must do, in the order given.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Send a request for [`ShapeStream::shape`] at `params` (the URL builder of
    /// `protocol::request`); for `kind.sse` ask for `text/event-stream`.
    IssueRequest {
        /// Name it in the inputs about it.
        request_id: RequestId,
        /// Position and flags of the request.
        params: RequestParams,
        /// What the classifier must check the answer against.
        kind: RequestKind,
        /// For live long-polls: the watchdog the machine armed (its `StartTimer` follows). The
        /// shell does not have to enforce it; a fetch timeout reported as a network error is
        /// also handled.
        timeout_ms: Option<u64>,
    },
    /// Abort a request; any later input about it is ignored anyway.
    CancelRequest {
        /// The request.
        request_id: RequestId,
    },
    /// Start a one-shot timer and report it with [`Input::TimerFired`].
    StartTimer {
        /// The timer.
        timer_id: TimerId,
        /// Delay in ms.
        delay_ms: u64,
    },
    /// Clear a timer; a late firing is ignored anyway.
    CancelTimer {
        /// The timer.
        timer_id: TimerId,
    },
    /// Hand messages to the subscribers (one response, or one SSE run up to an up-to-date).
    Deliver(Batch),
    /// The shape must be refetched from scratch: publish the synthetic
    /// `[{"headers":{"control":"must-refetch"}}]` to subscribers as its own batch and drop all
    /// local data and persisted position for the shape.
    MustRefetch {
        /// The replacement handle, when the server named one.
        handle: Option<String>,
    },
    /// The status changed (emitted last in the effect list of the input that changed it).
    StatusChanged(Status),
    /// The stream stopped with this error; report it to `onError`.
    Failed(StreamError),
    /// An up-to-date was reached (after the `Deliver` of its batch): set `lastSyncedAt`.
    UpToDate,
}
