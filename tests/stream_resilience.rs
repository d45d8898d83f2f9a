//! Failure handling of the stream (ref §4.3, §4.4, §6.3): backoff bounds through the machine,
//! the fast-loop guard, SSE buffering and fallback, pause/resume, the watchdog, onError retries.

mod stream_support;

use eddy::error::ErrorCode;
use eddy::protocol::offset::{LogOffset, Offset};
use eddy::protocol::response::ResponseClass;
use eddy::stream::{
    Effect, Input, StateKind, Status, StreamError, FAST_LOOP_MAX_DETECTIONS, MAX_ERROR_RETRIES,
};
use stream_support::*;

fn end_of_snapshot() -> Offset {
    Offset::Log(LogOffset::tx_end(0))
}

/// Answer `n` requests with 503 (optionally with retry-after); return the waits.
fn fail_n(d: &mut Driver, n: usize, retry_after_ms: Option<u64>) -> Vec<u64> {
    let mut out = Vec::new();
    for _ in 0..n {
        let fx = d.respond(Ok(retry(503, retry_after_ms)), None);
        let w = waits(&fx);
        assert_eq!(w.len(), 1, "{fx:?}");
        out.push(w[0]);
        d.fire_wait();
    }
    out
}

#[test]
fn backoff_waits_stay_within_their_ceilings_over_many_seeds() {
    let ceilings = [
        1000, 2000, 4000, 8000, 16_000, 32_000, 32_000, 32_000, 32_000, 32_000,
    ];
    let mut sum_first = 0;
    for seed in 0..100 {
        let mut d = Driver::seeded(config(), seed);
        d.fire(Input::Start);
        let waits = fail_n(&mut d, ceilings.len(), None);
        for (w, c) in waits.iter().zip(ceilings) {
            assert!(*w < c, "seed {seed}: wait {w} not under {c}");
        }
        sum_first += waits[0];
        // Still retrying the very first request.
        assert_eq!(d.params().offset, Offset::BeforeAll);
        assert_eq!(d.s.status(), Status::Connecting);
    }
    // Jitter is spread, not stuck at 0: the mean of U(0, 1000) is ~500.
    assert!(
        (300..700).contains(&(sum_first / 100)),
        "mean {}",
        sum_first / 100
    );
}

#[test]
fn retry_after_is_a_floor_and_success_resets_the_backoff() {
    for seed in 0..50 {
        let mut d = Driver::seeded(config(), seed);
        d.fire(Input::Start);
        for w in fail_n(&mut d, 6, Some(5000)) {
            assert!((5000..=32_000).contains(&w), "seed {seed}: {w}");
        }
        d.ok(meta(HANDLE, at(0, 0), false), vec![]);
        // After a success the ceiling is back at 1000.
        let w = fail_n(&mut d, 1, None)[0];
        assert!(w < 1000, "seed {seed}: {w}");
    }
}

#[test]
fn a_network_error_backs_off_and_recovers_at_the_same_offset() {
    let mut d = Driver::new(config());
    d.sync_to_live();
    let before = d.params();
    let rid = d.rid();
    let fx = d.fire(Input::NetworkError { request_id: rid });
    assert!(fx.contains(&Effect::StatusChanged(Status::Connecting)));
    d.fire_wait();
    assert_eq!(d.params(), before);
    let fx = d.ok(live_meta(end_of_snapshot(), "c2", true), vec![utd(None)]);
    assert!(fx.contains(&Effect::StatusChanged(Status::Live)));
}

#[test]
fn max_retries_gives_up_with_a_typed_error() {
    let mut cfg = config();
    cfg.backoff.max_retries = Some(3);
    let mut d = Driver::new(cfg);
    d.fire(Input::Start);
    fail_n(&mut d, 3, None);
    let fx = d.respond(Ok(retry(502, None)), None);
    let err = failed(&fx).expect("gave up");
    assert_eq!(
        err,
        StreamError::RetriesExhausted {
            retries: 3,
            last: "HTTP 502".into()
        }
    );
    assert_eq!(err.code(), "EDDY_STREAM_RETRIES_EXHAUSTED");
}

#[test]
fn abort_interrupts_a_backoff_sleep_immediately() {
    let mut d = Driver::new(config());
    d.fire(Input::Start);
    let fx = d.respond(Ok(retry(503, Some(60_000))), None);
    assert_eq!(waits(&fx), vec![60_000]);
    let fx = d.fire(Input::Abort);
    assert!(matches!(fx[0], Effect::CancelTimer { .. }));
    assert_eq!(d.s.state_kind(), StateKind::Done);
    let timer_id = d.last_timer.expect("the backoff timer");
    assert!(d.fire(Input::TimerFired { timer_id }).is_empty());
}

/// A server that answers every non-live request with the same offset and no up-to-date (with
/// a new handle after the guard's reset, so it is not mistaken for a stale cache hit).
fn stuck_server(d: &mut Driver) -> Vec<Effect> {
    d.advance(10);
    let handle = if d.s.expired_handle() == Some("h-2") {
        "h-3"
    } else {
        "h-2"
    };
    d.ok(meta(handle, at(0, 0), false), vec![])
}

#[test]
fn fast_loop_guard_resets_then_pauses_then_fails() {
    let mut d = Driver::new(config());
    d.fire(Input::Start);
    let mut resets = 0;
    let mut pauses = Vec::new();
    let mut err = None;
    for _ in 0..200 {
        let fx = stuck_server(&mut d);
        if fx.contains(&Effect::MustRefetch { handle: None }) {
            resets += 1;
            let p = d.params();
            assert_eq!((p.offset, p.handle.clone()), (Offset::BeforeAll, None));
            assert!(p.cache_buster.is_some());
        }
        if let Some(e) = failed(&fx) {
            err = Some(e);
            break;
        }
        if d.s.state_kind() == StateKind::Backoff {
            pauses.push(waits(&fx)[0]);
            d.fire_wait();
        }
    }
    assert_eq!(resets, 1, "only the first detection resets");
    assert_eq!(pauses.len(), (FAST_LOOP_MAX_DETECTIONS - 2) as usize);
    for (w, cap) in pauses.iter().zip([200, 400, 800]) {
        assert!(*w < cap, "{w} >= {cap}");
    }
    let err = err.expect("the fifth detection fails");
    assert_eq!(err.code(), "EDDY_STREAM_FAST_LOOP");
    assert_eq!(err.family(), "FetchError");
}

#[test]
fn slow_repeats_and_up_to_date_do_not_trip_the_guard() {
    let mut d = Driver::new(config());
    d.fire(Input::Start);
    for _ in 0..20 {
        d.advance(200);
        d.ok(meta(HANDLE, at(0, 0), false), vec![]);
    }
    assert_eq!(d.s.fast_loop_detections(), 0);
    assert_eq!(d.s.state_kind(), StateKind::Syncing);
}

fn sse_config() -> eddy::stream::StreamConfig {
    let mut cfg = config();
    cfg.prefer_sse = true;
    cfg
}

/// Live over SSE with the stream open (headers received, cursor `c1`).
fn open_sse(d: &mut Driver) {
    d.sync_to_live();
    assert!(d.kind().sse && d.kind().live);
    assert_eq!(d.params().offset, end_of_snapshot());
    d.ok(live_meta(end_of_snapshot(), "c1", false), vec![]);
    assert_eq!(d.s.state_kind(), StateKind::LiveSse);
}

#[test]
fn sse_buffers_to_up_to_date_and_advances_to_the_maximum_offset() {
    let mut d = Driver::new(sse_config());
    d.sync_to_live();
    // SSE is used only once live; sync requests were plain.
    assert!(
        d.log
            .iter()
            .filter(|e| matches!(e, Effect::IssueRequest { .. }))
            .count()
            == 3
    );
    d.ok(live_meta(end_of_snapshot(), "c1", false), vec![]);
    assert!(d.sse_event(change("a", Some(300), Some(0))).is_empty());
    assert!(d.sse_event(change("b", Some(300), Some(2))).is_empty());
    assert_eq!(d.s.sse_buffered(), 2);
    let fx = d.sse_event(utd(Some(300)));
    let b = batches(&fx);
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].messages.len(), 3);
    assert_eq!((b[0].offset, b[0].up_to_date), (at(300, 2), true));
    assert!(fx.contains(&Effect::UpToDate));
    assert!(issued(&fx).is_empty(), "the stream stays open");
    // An up-to-date alone moves to <global_last_seen_lsn>_0.
    let fx = d.sse_event(utd(Some(400)));
    assert_eq!(batches(&fx)[0].offset, at(400, 0));
    // The server's 60 s close: reconnect from there with the cursor.
    d.advance(60_000);
    let fx = d.sse_close(true);
    let (p, k) = issued(&fx).remove(0);
    assert_eq!(
        (p.offset, p.cursor.as_deref(), k.sse),
        (at(400, 0), Some("c1"), true)
    );
}

#[test]
fn a_dropped_sse_stream_discards_its_partial_batch() {
    let mut d = Driver::new(sse_config());
    open_sse(&mut d);
    d.sse_event(change("a", Some(300), Some(0)));
    d.advance(5_000);
    let fx = d.sse_close(false);
    assert!(batches(&fx).is_empty());
    assert_eq!(d.s.sse_buffered(), 0);
    assert_eq!(d.s.state_kind(), StateKind::Backoff);
    d.fire_wait();
    let p = d.params();
    assert_eq!((p.offset, d.kind().sse), (end_of_snapshot(), true));
    // The re-delivered transaction arrives whole.
    d.ok(live_meta(end_of_snapshot(), "c2", false), vec![]);
    d.sse_event(change("a", Some(300), Some(0)));
    let fx = d.sse_event(utd(Some(300)));
    assert_eq!(batches(&fx)[0].messages.len(), 2);
}

#[test]
fn a_malformed_sse_event_retries_from_the_committed_offset() {
    let mut d = Driver::new(sse_config());
    open_sse(&mut d);
    d.sse_event(change("a", Some(300), Some(0)));
    let rid = d.rid();
    let fx = d.fire(Input::SseEvent {
        request_id: rid,
        message: Err(bad_json()),
    });
    assert!(matches!(fx[0], Effect::CancelRequest { .. }));
    assert_eq!(d.s.state_kind(), StateKind::Backoff);
    d.fire_wait();
    assert_eq!(d.params().offset, end_of_snapshot());
}

#[test]
fn three_short_sse_connections_fall_back_to_long_polling_for_good() {
    for seed in 0..30 {
        let mut d = Driver::seeded(sse_config(), seed);
        open_sse(&mut d);
        for cap in [200, 400] {
            d.advance(100);
            let fx = d.sse_close(true);
            let w = waits(&fx);
            assert!(w.len() == 1 && w[0] < cap, "seed {seed}: {w:?} vs {cap}");
            d.fire_wait();
            assert!(d.kind().sse);
            d.ok(live_meta(end_of_snapshot(), "c1", false), vec![]);
        }
        d.advance(100);
        let fx = d.sse_close(true);
        let (p, k) = issued(&fx).remove(0);
        assert!(k.live && !k.sse && p.live && !p.sse, "seed {seed}");
        assert!(d.s.sse_fell_back());
        assert_eq!(d.s.state_kind(), StateKind::Live);
        d.ok(live_meta(end_of_snapshot(), "c3", true), vec![utd(None)]);
        assert!(!d.kind().sse, "the fallback is permanent");
    }
}

#[test]
fn a_long_connection_resets_the_short_count() {
    let mut d = Driver::new(sse_config());
    open_sse(&mut d);
    for _ in 0..5 {
        for _ in 0..2 {
            d.advance(100);
            d.sse_close(true);
            d.fire_wait();
            d.ok(live_meta(end_of_snapshot(), "c", false), vec![]);
        }
        d.advance(30_000);
        d.sse_close(true);
        d.ok(live_meta(end_of_snapshot(), "c", false), vec![]);
    }
    assert!(!d.s.sse_fell_back());
}

#[test]
fn hidden_pauses_and_visible_catches_up_non_live_first() {
    let mut d = Driver::new(config());
    d.sync_to_live();
    d.ok(
        live_meta(at(5, 0), "c1", true),
        vec![change("a", Some(5), Some(0)), utd(Some(5))],
    );
    let live_req = d.rid();
    let fx = d.fire(Input::VisibilityChanged { visible: false });
    assert!(fx.contains(&Effect::CancelRequest { request_id: live_req }));
    assert_eq!(d.s.status(), Status::Paused);
    // The cancelled request's late answer is ignored.
    let late = d.fire(Input::ResponseReceived {
        request_id: live_req,
        class: Ok(ResponseClass::Ok(live_meta(at(6, 0), "c2", true))),
        body: Some(Ok(vec![utd(None)])),
    });
    assert!(late.is_empty());
    assert_eq!(d.s.offset(), at(5, 0));
    let fx = d.fire(Input::VisibilityChanged { visible: true });
    let (p, _) = issued(&fx).remove(0);
    assert_eq!(
        (p.offset, p.live, p.handle.as_deref()),
        (at(5, 0), false, Some(HANDLE))
    );
    assert!(fx.contains(&Effect::StatusChanged(Status::Syncing)));
    d.ok(meta(HANDLE, at(6, 0), true), vec![utd(Some(6))]);
    assert!(d.params().live);
    assert_eq!(d.s.status(), Status::Live);
}

#[test]
fn offline_and_hidden_both_have_to_clear() {
    let mut d = Driver::new(config());
    d.sync_to_live();
    d.fire(Input::Offline);
    assert_eq!(d.s.status(), Status::Offline);
    d.fire(Input::VisibilityChanged { visible: false });
    let fx = d.fire(Input::Online);
    assert_eq!(fx, vec![Effect::StatusChanged(Status::Paused)]);
    let fx = d.fire(Input::VisibilityChanged { visible: true });
    assert_eq!(issued(&fx).len(), 1);
    assert_eq!(d.s.state_kind(), StateKind::Syncing);
}

#[test]
fn starting_hidden_waits_for_visibility() {
    let mut d = Driver::new(config());
    d.fire(Input::VisibilityChanged { visible: false });
    let fx = d.fire(Input::Start);
    assert_eq!(fx, vec![Effect::StatusChanged(Status::Paused)]);
    let fx = d.fire(Input::VisibilityChanged { visible: true });
    assert_eq!(issued(&fx)[0].0.offset, Offset::BeforeAll);
}

#[test]
fn the_watchdog_reissues_a_hung_live_request() {
    let mut d = Driver::new(config());
    d.fire(Input::Start);
    d.ok(meta(HANDLE, end_of_snapshot(), true), vec![utd(None)]);
    let fx: Vec<Effect> = d.log.clone();
    let Some(Effect::IssueRequest { timeout_ms, .. }) =
        fx.iter().rev().find(|e| matches!(e, Effect::IssueRequest { .. }))
    else {
        panic!("no live request")
    };
    assert_eq!(*timeout_ms, Some(45_000));
    assert_eq!(d.timers.len(), 1);
    assert_eq!(d.timers[0].1, 45_000);
    let hung = d.rid();
    let before = d.params();
    let fx = d.fire_wait();
    assert_eq!(fx[0], Effect::CancelRequest { request_id: hung });
    assert_eq!(d.params(), before);
    assert_ne!(d.rid(), hung);
    // Its late answer is ignored.
    let late = d.fire(Input::NetworkError { request_id: hung });
    assert!(late.is_empty());
}

#[test]
fn force_refresh_drops_the_live_request_and_catches_up() {
    let mut d = Driver::new(config());
    d.sync_to_live();
    let fx = d.fire(Input::ForceRefresh);
    assert!(matches!(fx[0], Effect::CancelRequest { .. }));
    assert_eq!((d.params().live, d.params().offset), (false, end_of_snapshot()));
}

#[test]
fn on_error_retries_resume_from_the_offset_at_most_fifty_times_in_a_row() {
    let mut d = Driver::new(config());
    d.fire(Input::Start);
    d.ok(meta(HANDLE, at(0, 0), false), vec![]);
    for i in 0..MAX_ERROR_RETRIES {
        d.respond(Err(http_400()), None);
        assert_eq!(d.s.state_kind(), StateKind::Error, "round {i}");
        let fx = d.fire(Input::RetryAfterError);
        assert_eq!(waits(&fx).len(), 1, "round {i}");
        assert!(waits(&fx)[0] <= 32_000);
        d.fire_wait();
        assert_eq!(d.params().offset, at(0, 0));
    }
    d.respond(Err(http_400()), None);
    let fx = d.fire(Input::RetryAfterError);
    assert_eq!(
        failed(&fx).map(|e| e.code()),
        Some("EDDY_STREAM_ERROR_RETRIES_EXHAUSTED")
    );
    assert_eq!(d.s.state_kind(), StateKind::Error);

    // A success resets the count.
    let mut d = Driver::new(config());
    d.fire(Input::Start);
    for _ in 0..3 {
        for _ in 0..MAX_ERROR_RETRIES {
            d.respond(Err(http_400()), None);
            d.fire(Input::RetryAfterError);
            d.fire_wait();
        }
        d.ok(meta(HANDLE, at(0, 0), false), vec![]);
    }
    assert_eq!(d.s.state_kind(), StateKind::Syncing);
}

#[test]
fn retries_and_resumes_at_one_offset_are_not_a_fast_loop() {
    let mut d = Driver::new(config());
    d.fire(Input::Start);
    d.ok(meta(HANDLE, at(0, 0), false), vec![]);
    // Ten instant 503 retries at 0_0 (timers fired without time passing).
    for _ in 0..10 {
        d.respond(Ok(retry(503, None)), None);
        let (timer_id, _) = d.timers[0];
        d.fire(Input::TimerFired { timer_id });
    }
    // Ten instant hide/show cycles.
    for _ in 0..10 {
        d.fire(Input::VisibilityChanged { visible: false });
        d.fire(Input::VisibilityChanged { visible: true });
    }
    assert!(!d.log.iter().any(|e| matches!(e, Effect::MustRefetch { .. })));
    assert_eq!(d.s.fast_loop_detections(), 0);
    assert_eq!(d.params().offset, at(0, 0));
}

#[test]
fn a_stale_cached_answer_with_the_expired_handle_is_busted_then_fails() {
    let mut cfg = config();
    cfg.expired_handle = Some("h-dead".into());
    let mut d = Driver::new(cfg);
    let fx = d.fire(Input::Start);
    assert_eq!(issued(&fx)[0].0.expired_handle.as_deref(), Some("h-dead"));
    let mut busters = Vec::new();
    for _ in 0..eddy::stream::MAX_STALE_CACHE_RETRIES {
        d.advance(200);
        let fx = d.ok(meta("h-dead", at(0, 0), false), vec![change("stale", None, None)]);
        assert!(batches(&fx).is_empty(), "stale data is never delivered");
        let p = d.params();
        assert_eq!(p.offset, Offset::BeforeAll);
        busters.push(p.cache_buster.expect("fresh buster"));
    }
    busters.dedup();
    assert_eq!(busters.len(), 3);
    d.advance(200);
    let fx = d.ok(meta("h-dead", at(0, 0), false), vec![]);
    assert_eq!(failed(&fx).map(|e| e.code()), Some("EDDY_STREAM_STALE_CACHE"));

    // A fresh answer after a stale one is accepted.
    let mut cfg = config();
    cfg.expired_handle = Some("h-dead".into());
    let mut d = Driver::new(cfg);
    d.fire(Input::Start);
    d.ok(meta("h-dead", at(0, 0), false), vec![]);
    let fx = d.ok(meta("h-live", at(0, 0), false), vec![change("a", None, None)]);
    assert_eq!(batches(&fx)[0].handle, "h-live");
}

#[test]
fn an_endless_409_loop_is_bounded_by_the_guard() {
    let mut d = Driver::new(config());
    d.fire(Input::Start);
    let mut err = None;
    for _ in 0..500 {
        d.advance(5);
        let fx = d.respond(
            Ok(ResponseClass::MustRefetch {
                handle: Some("h-2".into()),
            }),
            None,
        );
        if let Some(e) = failed(&fx) {
            err = Some(e);
            break;
        }
        if d.s.state_kind() == StateKind::Backoff {
            d.fire_wait();
        }
        assert_eq!(d.params().offset, Offset::BeforeAll);
    }
    assert_eq!(err.map(|e| e.code()), Some("EDDY_STREAM_FAST_LOOP"));
}

#[test]
fn retry_after_error_gives_the_request_guards_a_fresh_start() {
    let mut cfg = config();
    cfg.backoff.max_retries = Some(1);
    let mut d = Driver::new(cfg);
    d.fire(Input::Start);
    fail_n(&mut d, 1, None);
    let fx = d.respond(Ok(retry(503, None)), None);
    assert!(matches!(failed(&fx), Some(StreamError::RetriesExhausted { .. })));
    d.fire(Input::RetryAfterError);
    d.fire_wait();
    // One more ordinary retry is allowed again before giving up.
    let fx = d.respond(Ok(retry(503, None)), None);
    assert_eq!(failed(&fx), None);
    assert_eq!(d.s.state_kind(), StateKind::Backoff);
}
