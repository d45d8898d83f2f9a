//! Random input sequences (proptest): the machine never panics, and the shell-visible
//! invariants hold after every step — one request at a time, live requests only from a real
//! offset with a handle, bounded timers, no repeated status, silence after Done.

mod stream_support;

use eddy::protocol::offset::{LogOffset, Offset};
use eddy::protocol::response::ResponseClass;
use eddy::stream::{Effect, Input, RequestId, StateKind, TimerId};
use proptest::prelude::*;
use stream_support::*;

#[derive(Debug, Clone)]
enum Step {
    Ok { tx: u64, up_to_date: bool, changes: u8 },
    NoContent,
    MustRefetch(bool),
    Retry(Option<u64>),
    Fatal,
    Malformed,
    NetworkError,
    SseChange(u64, u64),
    SseUpToDate(Option<u64>),
    SseClosed(bool),
    FireTimer,
    StaleTimer,
    StaleResponse,
    Visibility(bool),
    Online(bool),
    ForceRefresh,
    RetryAfterError,
    Abort,
    Advance(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0u64..50, any::<bool>(), 0u8..3)
            .prop_map(|(tx, up_to_date, changes)| Step::Ok { tx, up_to_date, changes }),
        1 => Just(Step::NoContent),
        1 => any::<bool>().prop_map(Step::MustRefetch),
        2 => proptest::option::of(0u64..10_000).prop_map(Step::Retry),
        1 => Just(Step::Fatal),
        1 => Just(Step::Malformed),
        1 => Just(Step::NetworkError),
        2 => (0u64..100, 0u64..5).prop_map(|(l, o)| Step::SseChange(l, o)),
        2 => proptest::option::of(0u64..100).prop_map(Step::SseUpToDate),
        1 => any::<bool>().prop_map(Step::SseClosed),
        3 => Just(Step::FireTimer),
        1 => Just(Step::StaleTimer),
        1 => Just(Step::StaleResponse),
        1 => any::<bool>().prop_map(Step::Visibility),
        1 => any::<bool>().prop_map(Step::Online),
        1 => Just(Step::ForceRefresh),
        1 => Just(Step::RetryAfterError),
        3 => (0u64..3000).prop_map(Step::Advance),
    ]
}

/// Apply one step as a well-behaved shell would; `opened` is the SSE request whose headers
/// were delivered (a shell sends no second response for it).
fn apply(d: &mut Driver, s: &Step, opened: &mut Option<RequestId>) -> Vec<Effect> {
    let rid = d.req.as_ref().map(|r| r.0).unwrap_or(RequestId(u64::MAX));
    let sse = d.req.as_ref().is_some_and(|r| r.2.sse);
    let is_open = *opened == Some(rid) && d.req.is_some();
    let mut respond = |d: &mut Driver, class: Result<ResponseClass, _>, body| {
        if is_open {
            return Vec::new();
        }
        if sse && matches!(class, Ok(ResponseClass::Ok(_))) {
            // The opening headers of an SSE stream (any body is ignored): still in flight.
            *opened = Some(rid);
        } else {
            d.req = None;
        }
        d.fire(Input::ResponseReceived {
            request_id: rid,
            class,
            body,
        })
    };
    match s.clone() {
        Step::Ok {
            tx,
            up_to_date,
            changes,
        } => {
            let offset = Offset::Log(LogOffset::new(tx, 0));
            let mut body: Vec<_> = (0..changes)
                .map(|i| change("k", Some(tx), Some(u64::from(i))))
                .collect();
            if up_to_date {
                body.push(utd(Some(tx)));
            }
            let mut m = live_meta(offset, "c", up_to_date);
            m.schema = None;
            respond(d, Ok(ResponseClass::Ok(m)), Some(Ok(body)))
        }
        Step::NoContent => respond(d, Ok(ResponseClass::NoContent), None),
        Step::MustRefetch(with) => respond(
            d,
            Ok(ResponseClass::MustRefetch {
                handle: with.then(|| "h-new".to_string()),
            }),
            None,
        ),
        Step::Retry(ra) => respond(d, Ok(retry(503, ra)), None),
        Step::Fatal => respond(d, Err(http_400()), None),
        Step::Malformed => respond(
            d,
            Ok(ResponseClass::Ok(meta(
                HANDLE,
                Offset::Log(LogOffset::new(1, 0)),
                false,
            ))),
            Some(Err(bad_json())),
        ),
        Step::NetworkError => {
            d.req = None;
            d.fire(Input::NetworkError { request_id: rid })
        }
        Step::SseChange(l, o) => d.fire(Input::SseEvent {
            request_id: rid,
            message: Ok(change("s", Some(l), Some(o))),
        }),
        Step::SseUpToDate(l) => d.fire(Input::SseEvent {
            request_id: rid,
            message: Ok(utd(l)),
        }),
        Step::SseClosed(clean) => {
            if sse {
                d.req = None;
            }
            d.fire(Input::SseClosed {
                request_id: rid,
                clean,
            })
        }
        Step::FireTimer => match d.timers.first().copied() {
            Some((timer_id, delay)) => {
                d.advance(delay);
                d.fire(Input::TimerFired { timer_id })
            }
            None => Vec::new(),
        },
        Step::StaleTimer => d.fire(Input::TimerFired {
            timer_id: d
                .last_timer
                .map(|t| TimerId(t.0.wrapping_sub(1)))
                .unwrap_or(TimerId(0)),
        }),
        Step::StaleResponse => d.fire(Input::ResponseReceived {
            request_id: RequestId(rid.0.wrapping_sub(1)),
            class: Ok(ResponseClass::NoContent),
            body: None,
        }),
        Step::Visibility(visible) => d.fire(Input::VisibilityChanged { visible }),
        Step::Online(true) => d.fire(Input::Online),
        Step::Online(false) => d.fire(Input::Offline),
        Step::ForceRefresh => d.fire(Input::ForceRefresh),
        Step::RetryAfterError => d.fire(Input::RetryAfterError),
        Step::Abort => d.fire(Input::Abort),
        Step::Advance(ms) => {
            d.advance(ms);
            Vec::new()
        }
    }
}

fn check(d: &Driver, fx: &[Effect], was_done: bool) -> Result<(), TestCaseError> {
    if was_done {
        prop_assert!(fx.is_empty(), "effects after Done: {fx:?}");
    }
    prop_assert!(d.violations.is_empty(), "{:?}", d.violations);
    for e in fx {
        if let Effect::IssueRequest { params, kind, .. } = e {
            prop_assert_eq!(params.live, kind.live);
            prop_assert_eq!(params.sse, kind.sse);
            if params.live {
                prop_assert!(
                    matches!(params.offset, Offset::Log(_)),
                    "live from {}",
                    params.offset
                );
            }
            if matches!(params.offset, Offset::Log(_)) {
                prop_assert!(params.handle.is_some());
            }
        }
    }
    let statuses: Vec<_> = fx
        .iter()
        .filter(|e| matches!(e, Effect::StatusChanged(_)))
        .collect();
    prop_assert!(statuses.len() <= 1);
    prop_assert!(d.timers.len() <= 2, "timers: {:?}", d.timers);
    match d.s.state_kind() {
        StateKind::Syncing | StateKind::Live | StateKind::LiveSse => {
            prop_assert!(d.req.is_some(), "{:?} without a request", d.s.state_kind())
        }
        StateKind::Backoff => {
            prop_assert!(d.req.is_none());
            prop_assert!(!d.timers.is_empty());
        }
        StateKind::Initial | StateKind::Paused | StateKind::Error | StateKind::Done => {
            prop_assert!(d.req.is_none(), "{:?} with a request", d.s.state_kind());
            prop_assert!(
                d.timers.is_empty(),
                "{:?} with timers {:?}",
                d.s.state_kind(),
                d.timers
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_inputs_keep_the_invariants(
        sse in any::<bool>(),
        seed in any::<u64>(),
        mut steps in proptest::collection::vec(step(), 0..60),
        abort_at in proptest::option::of(0usize..80),
    ) {
        if let Some(i) = abort_at {
            steps.insert(i.min(steps.len()), Step::Abort);
        }
        let mut cfg = config();
        cfg.prefer_sse = sse;
        let mut d = Driver::seeded(cfg, seed);
        let fx = d.fire(Input::Start);
        check(&d, &fx, false)?;
        let mut opened = None;
        for s in &steps {
            let was_done = d.s.state_kind() == StateKind::Done;
            let fx = apply(&mut d, s, &mut opened);
            check(&d, &fx, was_done)?;
        }
    }
}
