//! The sync loop end to end (ref §4.2, §6.3, §6.4): initial sync, going live, cursor echo,
//! commits only after a parsed body, schema per handle, 409s, resume, subscribe=false, abort.

mod stream_support;

use std::sync::Arc;

use eddy::error::ErrorCode;
use eddy::protocol::offset::{LogOffset, Offset};
use eddy::protocol::response::ResponseClass;
use eddy::stream::{
    ConfigError, Effect, Input, ShapeStream, SplitMix64, StateKind, Status, StreamError, MAX_MALFORMED_BODIES,
};
use stream_support::*;

fn end_of_snapshot() -> Offset {
    Offset::Log(LogOffset::tx_end(0))
}

#[test]
fn initial_sync_follows_offsets_then_goes_live_echoing_the_cursor() {
    let mut d = Driver::new(config());
    let fx = d.fire(Input::Start);
    let (p, k) = issued(&fx).remove(0);
    assert_eq!(
        (p.offset, p.handle.clone(), p.live, k.live),
        (Offset::BeforeAll, None, false, false)
    );
    assert_eq!(d.s.status(), Status::Connecting);

    d.advance(50);
    let fx = d.ok(meta(HANDLE, at(0, 0), false), vec![change("a", None, None)]);
    let b = batches(&fx);
    assert_eq!(b.len(), 1);
    assert_eq!(
        (b[0].offset, b[0].handle.as_str(), b[0].up_to_date),
        (at(0, 0), HANDLE, false)
    );
    assert!(b[0].schema.is_some());
    let p = d.params();
    assert_eq!(
        (p.offset, p.handle.as_deref(), p.live),
        (at(0, 0), Some(HANDLE), false)
    );
    assert_eq!(d.s.status(), Status::Syncing);
    assert!(!d.s.is_up_to_date());

    d.advance(50);
    let fx = d.ok(meta(HANDLE, end_of_snapshot(), true), vec![utd(Some(5))]);
    assert!(fx.contains(&Effect::UpToDate));
    assert!(batches(&fx)[0].up_to_date);
    let p = d.params();
    assert_eq!(
        (p.offset, p.live, p.cursor.clone()),
        (end_of_snapshot(), true, None)
    );
    assert!(d.kind().live && !d.kind().sse);
    assert_eq!(d.s.status(), Status::Live);
    assert!(d.s.is_up_to_date());

    // Live timeout: same offset, new cursor, echoed next time.
    d.advance(20_000);
    let fx = d.ok(live_meta(end_of_snapshot(), "1234", true), vec![utd(Some(9))]);
    assert_eq!(batches(&fx)[0].messages, vec![utd(Some(9))]);
    let p = d.params();
    assert_eq!(
        (p.offset, p.cursor.as_deref(), p.live),
        (end_of_snapshot(), Some("1234"), true)
    );

    // Live changes advance the offset; a chunk boundary without up-to-date stays live.
    let fx = d.ok(
        live_meta(at(7, 0), "1235", false),
        vec![change("b", Some(7), Some(0))],
    );
    assert!(!fx.contains(&Effect::UpToDate));
    let p = d.params();
    assert_eq!(
        (p.offset, p.cursor.as_deref(), p.live),
        (at(7, 0), Some("1235"), true)
    );
    assert_eq!(d.statuses(), vec![Status::Syncing, Status::Live]);
}

#[test]
fn an_empty_first_chunk_is_not_delivered_but_advances() {
    let mut d = Driver::new(config());
    d.fire(Input::Start);
    let fx = d.ok(meta(HANDLE, at(0, 0), false), vec![]);
    assert!(batches(&fx).is_empty());
    assert_eq!(d.params().offset, at(0, 0));
}

#[test]
fn a_malformed_body_commits_nothing_and_retries_the_same_request() {
    let mut d = Driver::new(config());
    d.fire(Input::Start);
    d.ok(meta(HANDLE, at(0, 0), false), vec![]);
    let before = d.params();
    for attempt in 1..MAX_MALFORMED_BODIES {
        let fx = d.respond(
            Ok(ResponseClass::Ok(meta("h-other", at(9, 9), true))),
            Some(Err(bad_json())),
        );
        assert!(batches(&fx).is_empty(), "attempt {attempt}");
        assert_eq!(d.s.state_kind(), StateKind::Backoff);
        assert_eq!(d.s.offset(), at(0, 0));
        assert_eq!(d.s.shape_handle(), Some(HANDLE));
        d.fire_wait();
        assert_eq!(
            d.params(),
            before,
            "attempt {attempt} must re-request the same position"
        );
    }
    let fx = d.respond(
        Ok(ResponseClass::Ok(meta(HANDLE, at(1, 0), false))),
        Some(Err(bad_json())),
    );
    let err = failed(&fx).expect("fails after the limit");
    assert_eq!(err.code(), "EDDY_STREAM_MALFORMED_BODY");
    assert!(matches!(err, StreamError::MalformedBody { attempts: 5, ref offset, .. } if offset == "0_0"));
    assert_eq!(d.s.state_kind(), StateKind::Error);
    assert_eq!(d.s.status(), Status::Error);
}

#[test]
fn a_good_body_resets_the_malformed_count() {
    let mut d = Driver::new(config());
    d.fire(Input::Start);
    for i in 0..3 {
        for _ in 0..(MAX_MALFORMED_BODIES - 1) {
            d.respond(
                Ok(ResponseClass::Ok(meta(HANDLE, at(0, i), false))),
                Some(Err(bad_json())),
            );
            d.fire_wait();
        }
        d.ok(meta(HANDLE, at(0, i), false), vec![]);
    }
    assert_eq!(d.s.state_kind(), StateKind::Syncing);
    assert_eq!(d.s.offset(), at(0, 2));
}

#[test]
fn schema_is_first_write_wins_per_handle() {
    let mut d = Driver::new(config());
    d.fire(Input::Start);
    let mut first = meta(HANDLE, at(0, 0), false);
    first.schema = None;
    let fx = d.ok(first, vec![change("a", None, None)]);
    assert_eq!(batches(&fx)[0].schema, None);
    let fx = d.ok(meta(HANDLE, at(0, 1), false), vec![change("b", None, None)]);
    let s1 = batches(&fx)[0].schema.clone().expect("schema taken");
    let fx = d.ok(meta(HANDLE, end_of_snapshot(), true), vec![utd(None)]);
    let s2 = batches(&fx)[0].schema.clone().expect("schema kept");
    assert!(
        Arc::ptr_eq(&s1, &s2),
        "a later schema header must not replace the first"
    );
    // A new handle (after a 409) starts over.
    d.respond(Ok(ResponseClass::MustRefetch { handle: None }), None);
    assert!(d.s.schema().is_none());
    let fx = d.ok(meta("h-2", at(0, 0), false), vec![change("a", None, None)]);
    let s3 = batches(&fx)[0].schema.clone().expect("new schema");
    assert!(!Arc::ptr_eq(&s1, &s3));
}

#[test]
fn must_refetch_during_initial_sync_with_a_new_handle() {
    let mut d = Driver::new(config());
    d.fire(Input::Start);
    d.ok(meta(HANDLE, at(0, 0), false), vec![change("a", None, None)]);
    let fx = d.respond(
        Ok(ResponseClass::MustRefetch {
            handle: Some("h-2".into()),
        }),
        None,
    );
    assert_eq!(
        fx.iter().find(|e| matches!(e, Effect::MustRefetch { .. })),
        Some(&Effect::MustRefetch {
            handle: Some("h-2".into())
        })
    );
    assert!(
        batches(&fx).is_empty(),
        "must-refetch is its own signal, not a data batch"
    );
    let p = d.params();
    assert_eq!(p.offset, Offset::BeforeAll);
    assert_eq!(p.handle.as_deref(), Some("h-2"));
    assert_eq!(p.expired_handle.as_deref(), Some(HANDLE));
    assert!(!p.live);
    let buster = p.cache_buster.clone().expect("cache buster after 409");
    assert_eq!(d.s.state_kind(), StateKind::Syncing);

    // The next 200 commits and drops the buster (the offset moved); expired_handle stays.
    d.ok(meta("h-2", at(0, 0), false), vec![]);
    let p = d.params();
    assert_eq!((p.cache_buster.clone(), p.handle.as_deref()), (None, Some("h-2")));
    assert_eq!(p.expired_handle.as_deref(), Some(HANDLE));

    // A second 409 draws a different buster and expires h-2.
    d.respond(Ok(ResponseClass::MustRefetch { handle: None }), None);
    let p = d.params();
    assert_ne!(p.cache_buster, Some(buster));
    assert_eq!(p.expired_handle.as_deref(), Some("h-2"));
    assert_eq!(p.handle, None);
}

#[test]
fn must_refetch_while_live_without_a_handle() {
    let mut d = Driver::new(config());
    d.sync_to_live();
    d.ok(live_meta(end_of_snapshot(), "c1", true), vec![utd(None)]);
    assert_eq!(d.s.cursor(), Some("c1"));
    let fx = d.respond(Ok(ResponseClass::MustRefetch { handle: None }), None);
    assert!(fx.contains(&Effect::MustRefetch { handle: None }));
    assert!(fx.contains(&Effect::StatusChanged(Status::Syncing)));
    assert!(!d.s.is_up_to_date());
    assert_eq!(
        (d.s.cursor(), d.s.shape_handle(), d.s.expired_handle()),
        (None, None, Some(HANDLE))
    );
    let p = d.params();
    assert_eq!(
        (p.offset, p.live, p.cursor.clone()),
        (Offset::BeforeAll, false, None)
    );
    assert!(p.cache_buster.is_some());
    // Re-sync and go live again with no stale cursor.
    d.ok(meta("h-3", at(0, 0), false), vec![]);
    d.ok(meta("h-3", end_of_snapshot(), true), vec![utd(None)]);
    let p = d.params();
    assert_eq!(
        (p.live, p.cursor.clone(), p.handle.as_deref()),
        (true, None, Some("h-3"))
    );
}

#[test]
fn a_must_refetch_message_inside_a_200_resets_too() {
    let mut d = Driver::new(config());
    d.sync_to_live();
    let fx = d.ok(
        live_meta(at(3, 0), "c", false),
        vec![eddy::protocol::message::Message::Control(
            eddy::protocol::message::ControlMessage::MustRefetch,
        )],
    );
    assert!(fx.contains(&Effect::MustRefetch { handle: None }));
    assert!(batches(&fx).is_empty());
    assert_eq!(d.params().offset, Offset::BeforeAll);
}

#[test]
fn resume_from_a_stored_handle_and_offset() {
    let mut d = Driver::new(config().resume("h-9", at(7, 3)));
    let fx = d.fire(Input::Start);
    let (p, k) = issued(&fx).remove(0);
    assert_eq!(
        (p.offset, p.handle.as_deref(), p.live, k.live),
        (at(7, 3), Some("h-9"), false, false)
    );
    // Catch-up then live.
    d.ok(
        meta("h-9", at(8, 0), true),
        vec![change("x", Some(8), Some(0)), utd(Some(8))],
    );
    assert_eq!((d.params().offset, d.params().live), (at(8, 0), true));

    // A since-invalidated handle: 409 wipes everything.
    let mut d = Driver::new(config().resume("h-old", at(7, 3)));
    d.fire(Input::Start);
    let fx = d.respond(
        Ok(ResponseClass::MustRefetch {
            handle: Some("h-new".into()),
        }),
        None,
    );
    assert!(fx.contains(&Effect::MustRefetch {
        handle: Some("h-new".into())
    }));
    assert_eq!(d.params().offset, Offset::BeforeAll);
    assert_eq!(d.params().expired_handle.as_deref(), Some("h-old"));
}

#[test]
fn offset_without_handle_is_rejected_at_construction() {
    let mut cfg = config();
    cfg.offset = at(1, 0);
    let err = ShapeStream::new(cfg, Box::new(SplitMix64::new(0)))
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(err, ConfigError::MissingHandle { .. }));
    assert_eq!(err.code(), "EDDY_STREAM_MISSING_HANDLE");
}

#[test]
fn offset_now_goes_live_after_one_request() {
    let mut cfg = config();
    cfg.offset = Offset::Now;
    let mut d = Driver::new(cfg);
    d.fire(Input::Start);
    assert_eq!(d.params().offset, Offset::Now);
    d.ok(meta(HANDLE, at(40, 0), true), vec![utd(Some(40))]);
    assert_eq!((d.params().offset, d.params().live), (at(40, 0), true));
}

#[test]
fn subscribe_false_stops_at_the_first_up_to_date() {
    let mut cfg = config();
    cfg.live = false;
    let mut d = Driver::new(cfg);
    d.fire(Input::Start);
    d.ok(meta(HANDLE, at(0, 0), false), vec![change("a", None, None)]);
    let fx = d.ok(meta(HANDLE, end_of_snapshot(), true), vec![utd(None)]);
    assert!(issued(&fx).is_empty(), "no live request");
    assert_eq!(batches(&fx).len(), 1);
    assert!(fx.contains(&Effect::UpToDate));
    assert_eq!(fx.last(), Some(&Effect::StatusChanged(Status::Closed)));
    assert_eq!(d.s.state_kind(), StateKind::Done);
    assert!(d.s.is_up_to_date());
    assert_eq!(d.fire(Input::ForceRefresh), vec![]);
    assert_eq!(d.fire(Input::VisibilityChanged { visible: false }), vec![]);
}

#[test]
fn legacy_204_is_caught_up_at_the_same_offset() {
    let mut d = Driver::new(config());
    d.sync_to_live();
    let fx = d.respond(Ok(ResponseClass::NoContent), None);
    let b = batches(&fx);
    assert_eq!((b.len(), b[0].messages.len(), b[0].up_to_date), (1, 0, true));
    assert_eq!(d.params().offset, end_of_snapshot());
    assert!(d.params().live);
}

#[test]
fn abort_stops_everything_and_silences_late_inputs() {
    let mut d = Driver::new(config());
    d.fire(Input::Start);
    d.ok(meta(HANDLE, at(0, 0), false), vec![]);
    let stale = d.rid();
    d.respond(Ok(retry(503, Some(10_000))), None);
    let (timer, delay) = d.timers[0];
    assert!(delay >= 10_000);
    let fx = d.fire(Input::Abort);
    assert_eq!(
        fx,
        vec![
            Effect::CancelTimer { timer_id: timer },
            Effect::StatusChanged(Status::Closed)
        ]
    );
    assert_eq!(d.fire(Input::TimerFired { timer_id: timer }), vec![]);
    assert_eq!(d.fire(Input::NetworkError { request_id: stale }), vec![]);
    assert_eq!(d.fire(Input::Start), vec![]);
    assert_eq!(d.fire(Input::RetryAfterError), vec![]);
}

#[test]
fn a_fatal_response_stops_with_its_typed_error() {
    let mut d = Driver::new(config());
    d.fire(Input::Start);
    let fx = d.respond(Err(http_400()), None);
    let err = failed(&fx).expect("failed");
    assert_eq!((err.code(), err.family()), ("EDDY_FETCH_HTTP", "FetchError"));
    assert_eq!(d.s.last_error(), Some(&err));
    let missing = eddy::protocol::response::ResponseError::MissingHeaders {
        missing: vec!["electric-offset"],
    };
    let mut d = Driver::new(config());
    d.fire(Input::Start);
    let fx = d.respond(Err(missing), None);
    assert_eq!(failed(&fx).map(|e| e.family()), Some("MissingHeadersError"));
}

#[test]
fn an_unusable_offset_in_a_200_fails() {
    let mut d = Driver::new(config());
    d.fire(Input::Start);
    let fx = d.ok(meta(HANDLE, Offset::BeforeAll, false), vec![]);
    assert_eq!(failed(&fx).map(|e| e.code()), Some("EDDY_STREAM_UNUSABLE_OFFSET"));
}

/// The shell may start the next catch-up request from the headers alone: the prediction must
/// be exactly the request the machine issues after the body (including after a 409 cache
/// buster and with an expired handle), and there is none once live or when up to date.
#[test]
fn prefetch_params_predict_the_next_catch_up_request_exactly() {
    let mut d = Driver::new(config());
    d.fire(Input::Start);
    let m = meta(HANDLE, at(0, 0), false);
    let predicted = d.s.prefetch_params(&m).expect("a catch-up answer is predictable");
    d.ok(m, vec![change("a", None, None)]);
    assert_eq!(d.params(), predicted);

    // Up to date (by header): nothing to prefetch; a stale handle after a 409 neither.
    assert_eq!(d.s.prefetch_params(&meta(HANDLE, at(1, 0), true)), None);
    let fx = d.respond(
        Ok(ResponseClass::MustRefetch {
            handle: Some("h2".into()),
        }),
        None,
    );
    assert!(!issued(&fx).is_empty());
    assert_eq!(
        d.s.prefetch_params(&meta(HANDLE, at(2, 0), false)),
        None,
        "expired handle"
    );
    let m = meta("h2", at(2, 0), false);
    let predicted = d.s.prefetch_params(&m).expect("the new handle's catch-up");
    d.ok(m, vec![change("b", None, None)]);
    assert_eq!(d.params(), predicted);

    d.ok(meta("h2", end_of_snapshot(), true), vec![utd(None)]);
    assert!(d.kind().live);
    assert_eq!(
        d.s.prefetch_params(&meta("h2", at(3, 0), false)),
        None,
        "live requests are not predicted"
    );
}
