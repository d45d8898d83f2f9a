//! The ShapeStream transition table: one cell per (state, event), written as an exhaustive
//! `match` with no wildcard arm, so adding a state or an event does not compile until every new
//! cell is written. The test drives a fresh machine into each state, fires each event, and
//! compares the resulting state and the kinds of effects (in order) with the table.

mod stream_support;

use eddy::protocol::offset::Offset;
use eddy::protocol::response::ResponseClass;
use eddy::stream::{Effect, Input, RequestId, StateKind, Status, TimerId};
use stream_support::*;

/// Events of the table (inputs, refined where the input's content changes the transition).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ev {
    Start,
    /// 200 without up-to-date.
    OkChunk,
    /// 200 ending in up-to-date.
    OkUpToDate,
    /// Legacy 204.
    NoContent,
    /// 409 with a new handle.
    MustRefetch,
    /// 503.
    Retry,
    /// 400.
    Fatal,
    /// 200 whose body failed to parse.
    Malformed,
    NetworkError,
    /// An SSE change event.
    SseChange,
    /// An SSE up-to-date event.
    SseUpToDate,
    /// The SSE stream closed within 1 s of its request.
    SseClosedShort,
    /// The SSE stream closed cleanly after 5 s.
    SseClosedLong,
    /// The most recent live timer fires (stale id when there is none).
    TimerFired,
    Hide,
    Show,
    Offline,
    Online,
    ForceRefresh,
    Abort,
    RetryAfterError,
}

impl Ev {
    const ALL: [Ev; 21] = [
        Ev::Start,
        Ev::OkChunk,
        Ev::OkUpToDate,
        Ev::NoContent,
        Ev::MustRefetch,
        Ev::Retry,
        Ev::Fatal,
        Ev::Malformed,
        Ev::NetworkError,
        Ev::SseChange,
        Ev::SseUpToDate,
        Ev::SseClosedShort,
        Ev::SseClosedLong,
        Ev::TimerFired,
        Ev::Hide,
        Ev::Show,
        Ev::Offline,
        Ev::Online,
        Ev::ForceRefresh,
        Ev::Abort,
        Ev::RetryAfterError,
    ];
}

/// Effect kinds, in the order emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fx {
    /// IssueRequest, non-live.
    Req,
    /// IssueRequest, live long-poll.
    ReqLive,
    /// IssueRequest, live SSE.
    ReqSse,
    CancelReq,
    Timer,
    CancelTimer,
    Deliver,
    MustRefetch,
    UpToDate,
    Failed,
    St(Status),
}

fn kinds(fx: &[Effect]) -> Vec<Fx> {
    fx.iter()
        .map(|e| match e {
            Effect::IssueRequest { kind, .. } if kind.sse => Fx::ReqSse,
            Effect::IssueRequest { kind, .. } if kind.live => Fx::ReqLive,
            Effect::IssueRequest { .. } => Fx::Req,
            Effect::CancelRequest { .. } => Fx::CancelReq,
            Effect::StartTimer { .. } => Fx::Timer,
            Effect::CancelTimer { .. } => Fx::CancelTimer,
            Effect::Deliver(_) => Fx::Deliver,
            Effect::MustRefetch { .. } => Fx::MustRefetch,
            Effect::UpToDate => Fx::UpToDate,
            Effect::Failed(_) => Fx::Failed,
            Effect::StatusChanged(s) => Fx::St(*s),
        })
        .collect()
}

type Expected = (StateKind, &'static [Fx]);

/// The table. No wildcard: every (state, event) pair is named.
fn expected(state: StateKind, ev: Ev) -> Expected {
    use Ev::*;
    use Fx::{CancelReq, CancelTimer, Deliver, Failed, Req, ReqLive, ReqSse, Timer, UpToDate};
    use StateKind as S;
    const NONE: &[Fx] = &[];
    const LIVE_NEXT: &[Fx] = &[CancelTimer, Deliver, UpToDate, ReqLive, Timer];
    match (state, ev) {
        // Initial: only Start and Abort do anything; the rest is stale or just noted.
        (S::Initial, Start) => (S::Syncing, &[Req]),
        (S::Initial, Abort) => (S::Done, &[Fx::St(Status::Closed)]),
        (
            S::Initial,
            OkChunk | OkUpToDate | NoContent | MustRefetch | Retry | Fatal | Malformed | NetworkError
            | SseChange | SseUpToDate | SseClosedShort | SseClosedLong | TimerFired | Hide | Show | Offline
            | Online | ForceRefresh | RetryAfterError,
        ) => (S::Initial, NONE),

        // Syncing: a non-live request is in flight.
        (S::Syncing, OkChunk) => (S::Syncing, &[Deliver, Req]),
        (S::Syncing, OkUpToDate | NoContent) => (
            S::Live,
            &[Deliver, UpToDate, ReqLive, Timer, Fx::St(Status::Live)],
        ),
        (S::Syncing, MustRefetch) => (S::Syncing, &[Fx::MustRefetch, Req]),
        (S::Syncing, Retry | Malformed | NetworkError) => (S::Backoff, &[Timer, Fx::St(Status::Connecting)]),
        (S::Syncing, Fatal) => (S::Error, &[Failed, Fx::St(Status::Error)]),
        (S::Syncing, Hide) => (S::Paused, &[CancelReq, Fx::St(Status::Paused)]),
        (S::Syncing, Offline) => (S::Paused, &[CancelReq, Fx::St(Status::Offline)]),
        (S::Syncing, Abort) => (S::Done, &[CancelReq, Fx::St(Status::Closed)]),
        (
            S::Syncing,
            Start | SseChange | SseUpToDate | SseClosedShort | SseClosedLong | TimerFired | Show | Online
            | ForceRefresh | RetryAfterError,
        ) => (S::Syncing, NONE),

        // Live: a long-poll live request and its watchdog are in flight.
        (S::Live, OkChunk) => (S::Live, &[CancelTimer, Deliver, ReqLive, Timer]),
        (S::Live, OkUpToDate | NoContent) => (S::Live, LIVE_NEXT),
        (S::Live, MustRefetch) => (
            S::Syncing,
            &[CancelTimer, Fx::MustRefetch, Req, Fx::St(Status::Syncing)],
        ),
        (S::Live, Retry | Malformed | NetworkError) => {
            (S::Backoff, &[CancelTimer, Timer, Fx::St(Status::Connecting)])
        }
        (S::Live, Fatal) => (S::Error, &[CancelTimer, Failed, Fx::St(Status::Error)]),
        (S::Live, TimerFired) => (S::Live, &[CancelReq, ReqLive, Timer]),
        (S::Live, Hide) => (S::Paused, &[CancelReq, CancelTimer, Fx::St(Status::Paused)]),
        (S::Live, Offline) => (S::Paused, &[CancelReq, CancelTimer, Fx::St(Status::Offline)]),
        (S::Live, ForceRefresh) => (
            S::Syncing,
            &[CancelReq, CancelTimer, Req, Fx::St(Status::Syncing)],
        ),
        (S::Live, Abort) => (S::Done, &[CancelReq, CancelTimer, Fx::St(Status::Closed)]),
        (
            S::Live,
            Start | SseChange | SseUpToDate | SseClosedShort | SseClosedLong | Show | Online
            | RetryAfterError,
        ) => (S::Live, NONE),

        // LiveSse: an open SSE stream; its headers already arrived, so responses are stale.
        (S::LiveSse, SseUpToDate) => (S::LiveSse, &[Deliver, UpToDate]),
        (S::LiveSse, SseClosedShort | NetworkError) => (S::Backoff, &[Timer]),
        (S::LiveSse, SseClosedLong) => (S::LiveSse, &[ReqSse]),
        (S::LiveSse, Hide) => (S::Paused, &[CancelReq, Fx::St(Status::Paused)]),
        (S::LiveSse, Offline) => (S::Paused, &[CancelReq, Fx::St(Status::Offline)]),
        (S::LiveSse, ForceRefresh) => (S::Syncing, &[CancelReq, Req, Fx::St(Status::Syncing)]),
        (S::LiveSse, Abort) => (S::Done, &[CancelReq, Fx::St(Status::Closed)]),
        (
            S::LiveSse,
            Start | OkChunk | OkUpToDate | NoContent | MustRefetch | Retry | Fatal | Malformed | SseChange
            | TimerFired | Show | Online | RetryAfterError,
        ) => (S::LiveSse, NONE),

        // Backoff: only the wait timer is pending; every response id is stale.
        (S::Backoff, TimerFired) => (S::Syncing, &[Req]),
        (S::Backoff, ForceRefresh) => (S::Syncing, &[CancelTimer, Req]),
        (S::Backoff, Hide) => (S::Paused, &[CancelTimer, Fx::St(Status::Paused)]),
        (S::Backoff, Offline) => (S::Paused, &[CancelTimer, Fx::St(Status::Offline)]),
        (S::Backoff, Abort) => (S::Done, &[CancelTimer, Fx::St(Status::Closed)]),
        (
            S::Backoff,
            Start | OkChunk | OkUpToDate | NoContent | MustRefetch | Retry | Fatal | Malformed | NetworkError
            | SseChange | SseUpToDate | SseClosedShort | SseClosedLong | Show | Online | RetryAfterError,
        ) => (S::Backoff, NONE),

        // Paused (hidden): nothing in flight; showing the page catches up non-live.
        (S::Paused, Show) => (S::Syncing, &[Req, Fx::St(Status::Syncing)]),
        (S::Paused, Offline) => (S::Paused, &[Fx::St(Status::Offline)]),
        (S::Paused, Abort) => (S::Done, &[Fx::St(Status::Closed)]),
        (
            S::Paused,
            Start | OkChunk | OkUpToDate | NoContent | MustRefetch | Retry | Fatal | Malformed | NetworkError
            | SseChange | SseUpToDate | SseClosedShort | SseClosedLong | TimerFired | Hide | Online
            | ForceRefresh | RetryAfterError,
        ) => (S::Paused, NONE),

        // Error: waits for onError's verdict.
        (S::Error, RetryAfterError) => (S::Backoff, &[Timer, Fx::St(Status::Connecting)]),
        (S::Error, Abort) => (S::Done, &[Fx::St(Status::Closed)]),
        (
            S::Error,
            Start | OkChunk | OkUpToDate | NoContent | MustRefetch | Retry | Fatal | Malformed | NetworkError
            | SseChange | SseUpToDate | SseClosedShort | SseClosedLong | TimerFired | Hide | Show | Offline
            | Online | ForceRefresh,
        ) => (S::Error, NONE),

        // Done: terminal, silent.
        (
            S::Done,
            Start | OkChunk | OkUpToDate | NoContent | MustRefetch | Retry | Fatal | Malformed | NetworkError
            | SseChange | SseUpToDate | SseClosedShort | SseClosedLong | TimerFired | Hide | Show | Offline
            | Online | ForceRefresh | Abort | RetryAfterError,
        ) => (S::Done, NONE),
    }
}

/// A fresh machine in `state`.
fn drive_into(state: StateKind) -> Driver {
    let mut cfg = config();
    cfg.prefer_sse = state == StateKind::LiveSse;
    let mut d = Driver::new(cfg);
    let first_chunk = |d: &mut Driver| {
        d.fire(Input::Start);
        d.advance(10);
        d.ok(meta(HANDLE, at(0, 0), false), vec![change("a", None, None)]);
        d.advance(10);
    };
    match state {
        StateKind::Initial => {}
        StateKind::Syncing => first_chunk(&mut d),
        StateKind::Live => d.sync_to_live(),
        StateKind::LiveSse => {
            d.sync_to_live();
            d.ok(
                live_meta(
                    Offset::Log(eddy::protocol::offset::LogOffset::tx_end(0)),
                    "c1",
                    false,
                ),
                vec![],
            );
        }
        StateKind::Backoff => {
            first_chunk(&mut d);
            d.respond(Ok(retry(503, None)), None);
        }
        StateKind::Paused => {
            first_chunk(&mut d);
            d.fire(Input::VisibilityChanged { visible: false });
        }
        StateKind::Error => {
            first_chunk(&mut d);
            d.respond(Err(http_400()), None);
        }
        StateKind::Done => {
            d.fire(Input::Start);
            d.fire(Input::Abort);
        }
    }
    assert_eq!(d.s.state_kind(), state, "driver could not reach {state:?}");
    d
}

fn fire(d: &mut Driver, ev: Ev) -> Vec<Effect> {
    let rid = d
        .req
        .as_ref()
        .map(|r| r.0)
        .or(d.last_req)
        .unwrap_or(RequestId(9999));
    let respond = |d: &mut Driver, class, body| {
        d.req = None;
        d.fire(Input::ResponseReceived {
            request_id: rid,
            class,
            body,
        })
    };
    let next = meta(HANDLE, at(100, 0), false);
    match ev {
        Ev::Start => d.fire(Input::Start),
        Ev::OkChunk => respond(
            d,
            Ok(ResponseClass::Ok(next)),
            Some(Ok(vec![change("b", Some(100), Some(0))])),
        ),
        Ev::OkUpToDate => {
            let m = meta(HANDLE, at(100, 1), true);
            let body = vec![change("b", Some(100), Some(1)), utd(Some(100))];
            respond(d, Ok(ResponseClass::Ok(m)), Some(Ok(body)))
        }
        Ev::NoContent => respond(d, Ok(ResponseClass::NoContent), None),
        Ev::MustRefetch => respond(
            d,
            Ok(ResponseClass::MustRefetch {
                handle: Some("h-2".into()),
            }),
            None,
        ),
        Ev::Retry => respond(d, Ok(retry(503, None)), None),
        Ev::Fatal => respond(d, Err(http_400()), None),
        Ev::Malformed => respond(d, Ok(ResponseClass::Ok(next)), Some(Err(bad_json()))),
        Ev::NetworkError => d.fire(Input::NetworkError { request_id: rid }),
        Ev::SseChange | Ev::SseUpToDate => {
            let message = if ev == Ev::SseChange {
                change("c", Some(200), Some(0))
            } else {
                utd(Some(200))
            };
            d.fire(Input::SseEvent {
                request_id: rid,
                message: Ok(message),
            })
        }
        Ev::SseClosedShort | Ev::SseClosedLong => {
            if ev == Ev::SseClosedLong {
                d.advance(5000);
            }
            d.fire(Input::SseClosed {
                request_id: rid,
                clean: true,
            })
        }
        Ev::TimerFired => {
            let timer_id = d
                .timers
                .last()
                .map(|t| t.0)
                .or(d.last_timer)
                .unwrap_or(TimerId(9999));
            d.fire(Input::TimerFired { timer_id })
        }
        Ev::Hide => d.fire(Input::VisibilityChanged { visible: false }),
        Ev::Show => d.fire(Input::VisibilityChanged { visible: true }),
        Ev::Offline => d.fire(Input::Offline),
        Ev::Online => d.fire(Input::Online),
        Ev::ForceRefresh => d.fire(Input::ForceRefresh),
        Ev::Abort => d.fire(Input::Abort),
        Ev::RetryAfterError => d.fire(Input::RetryAfterError),
    }
}

#[test]
fn every_cell_of_the_transition_table_holds() {
    let mut failures = Vec::new();
    for state in StateKind::ALL {
        for ev in Ev::ALL {
            let mut d = drive_into(state);
            let fx = fire(&mut d, ev);
            let got = (d.s.state_kind(), kinds(&fx));
            let (want_state, want_fx) = expected(state, ev);
            if got.0 != want_state || got.1 != want_fx {
                failures.push(format!(
                    "({state:?}, {ev:?}): expected {want_state:?} {want_fx:?}, got {:?} {:?}",
                    got.0, got.1
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cells differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_event_list_is_complete_and_distinct() {
    // Exhaustive: a new event variant must be given a slot here, and so be added to ALL.
    fn slot(e: Ev) -> usize {
        match e {
            Ev::Start => 0,
            Ev::OkChunk => 1,
            Ev::OkUpToDate => 2,
            Ev::NoContent => 3,
            Ev::MustRefetch => 4,
            Ev::Retry => 5,
            Ev::Fatal => 6,
            Ev::Malformed => 7,
            Ev::NetworkError => 8,
            Ev::SseChange => 9,
            Ev::SseUpToDate => 10,
            Ev::SseClosedShort => 11,
            Ev::SseClosedLong => 12,
            Ev::TimerFired => 13,
            Ev::Hide => 14,
            Ev::Show => 15,
            Ev::Offline => 16,
            Ev::Online => 17,
            Ev::ForceRefresh => 18,
            Ev::Abort => 19,
            Ev::RetryAfterError => 20,
        }
    }
    let mut seen = [false; Ev::ALL.len()];
    for e in Ev::ALL {
        let i = slot(e);
        assert!(!seen[i], "{e:?} listed twice");
        seen[i] = true;
    }
    assert!(seen.iter().all(|s| *s));
    let states: std::collections::HashSet<_> = StateKind::ALL.iter().collect();
    assert_eq!(states.len(), 8);
}
