//! Shared driver for the stream tests: a machine plus a fake shell that remembers the current
//! request and timers, and helpers to build responses and messages.

#![allow(dead_code)]

use std::collections::BTreeMap;

use eddy::protocol::message::{ChangeHeaders, ChangeMessage, Message, MessageError, Operation};
use eddy::protocol::offset::{LogOffset, Offset};
use eddy::protocol::request::{RequestParams, ShapeDefinition};
use eddy::protocol::response::{FetchError, RequestKind, ResponseClass, ResponseError, ShapeMeta};
use eddy::protocol::row::{Key, Row};
use eddy::protocol::schema::Schema;
use eddy::stream::{Effect, Input, RequestId, ShapeStream, SplitMix64, Status, StreamConfig, TimerId};

pub const HANDLE: &str = "h-1";

pub fn config() -> StreamConfig {
    StreamConfig::new(ShapeDefinition {
        table: "items".into(),
        ..ShapeDefinition::default()
    })
}

pub fn at(tx: u64, op: u64) -> Offset {
    Offset::Log(LogOffset::new(tx, op))
}

pub fn meta(handle: &str, offset: Offset, up_to_date: bool) -> ShapeMeta {
    ShapeMeta {
        handle: handle.into(),
        offset,
        schema: Some(Schema::default()),
        cursor: None,
        up_to_date,
    }
}

pub fn live_meta(offset: Offset, cursor: &str, up_to_date: bool) -> ShapeMeta {
    ShapeMeta {
        schema: None,
        cursor: Some(cursor.into()),
        ..meta(HANDLE, offset, up_to_date)
    }
}

pub fn change(key: &str, lsn: Option<u64>, op: Option<u64>) -> Message {
    Message::Change(ChangeMessage {
        key: Key::new(key),
        operation: Operation::Insert,
        value: Row::new(),
        old_value: None,
        headers: ChangeHeaders {
            lsn,
            op_position: op,
            ..ChangeHeaders::default()
        },
    })
}

pub fn utd(lsn: Option<u64>) -> Message {
    Message::up_to_date(lsn)
}

pub fn bad_json() -> MessageError {
    MessageError::Json {
        line: 1,
        column: 7,
        reason: "EOF while parsing".into(),
    }
}

pub fn http_400() -> ResponseError {
    ResponseError::Http(FetchError {
        status: 400,
        message: Some("Invalid request".into()),
        errors: BTreeMap::new(),
        body: String::new(),
    })
}

pub fn retry(status: u16, retry_after_ms: Option<u64>) -> ResponseClass {
    ResponseClass::Retry {
        status: Some(status),
        retry_after_ms,
    }
}

/// A machine and what a shell would know about it.
pub struct Driver {
    pub s: ShapeStream,
    pub now: u64,
    /// The request in flight as the shell sees it: id, params, kind.
    pub req: Option<(RequestId, RequestParams, RequestKind)>,
    /// The last request issued, even if cancelled since.
    pub last_req: Option<RequestId>,
    /// Timers started and not cancelled or fired: id, delay.
    pub timers: Vec<(TimerId, u64)>,
    /// The last timer started, even if cancelled since.
    pub last_timer: Option<TimerId>,
    /// Every effect so far.
    pub log: Vec<Effect>,
    /// Shell-contract breaches seen so far (a request issued while another is in flight).
    pub violations: Vec<String>,
}

impl Driver {
    pub fn new(cfg: StreamConfig) -> Driver {
        Driver::seeded(cfg, 1)
    }

    pub fn seeded(cfg: StreamConfig, seed: u64) -> Driver {
        let s = ShapeStream::new(cfg, Box::new(SplitMix64::new(seed))).expect("valid config");
        Driver {
            s,
            now: 1_000_000,
            req: None,
            last_req: None,
            timers: Vec::new(),
            last_timer: None,
            log: Vec::new(),
            violations: Vec::new(),
        }
    }

    pub fn fire(&mut self, input: Input) -> Vec<Effect> {
        if let Input::TimerFired { timer_id } = &input {
            self.timers.retain(|(t, _)| t != timer_id);
        }
        let fx = self.s.handle(self.now, input);
        for e in &fx {
            match e {
                Effect::IssueRequest {
                    request_id,
                    params,
                    kind,
                    ..
                } => {
                    if let Some(old) = &self.req {
                        self.violations
                            .push(format!("{request_id:?} issued while {:?} is in flight", old.0));
                    }
                    self.req = Some((*request_id, params.clone(), *kind));
                    self.last_req = Some(*request_id);
                }
                Effect::CancelRequest { request_id }
                    if self.req.as_ref().is_some_and(|r| r.0 == *request_id) =>
                {
                    self.req = None;
                }
                Effect::StartTimer { timer_id, delay_ms } => {
                    self.timers.push((*timer_id, *delay_ms));
                    self.last_timer = Some(*timer_id);
                }
                Effect::CancelTimer { timer_id } => self.timers.retain(|(t, _)| t != timer_id),
                _ => {}
            }
        }
        self.log.extend(fx.iter().cloned());
        fx
    }

    pub fn advance(&mut self, ms: u64) {
        self.now += ms;
    }

    /// The id of the current request (panics in a test when there is none).
    pub fn rid(&self) -> RequestId {
        self.req.as_ref().map(|r| r.0).expect("a request in flight")
    }

    pub fn params(&self) -> RequestParams {
        self.req
            .as_ref()
            .map(|r| r.1.clone())
            .expect("a request in flight")
    }

    pub fn kind(&self) -> RequestKind {
        self.req.as_ref().map(|r| r.2).expect("a request in flight")
    }

    /// Answer the current request (a response "consumes" it for the shell).
    pub fn respond(
        &mut self,
        class: Result<ResponseClass, ResponseError>,
        body: Option<Result<Vec<Message>, MessageError>>,
    ) -> Vec<Effect> {
        let request_id = self.rid();
        let sse_open = self.kind().sse && matches!(class, Ok(ResponseClass::Ok(_)));
        if !sse_open {
            self.req = None;
        }
        self.fire(Input::ResponseReceived {
            request_id,
            class,
            body,
        })
    }

    pub fn ok(&mut self, meta: ShapeMeta, messages: Vec<Message>) -> Vec<Effect> {
        self.respond(Ok(ResponseClass::Ok(meta)), Some(Ok(messages)))
    }

    /// `-1` then one more non-live request ending in up-to-date at `0_inf`: the stream is live.
    pub fn sync_to_live(&mut self) {
        self.fire(Input::Start);
        self.advance(10);
        self.ok(meta(HANDLE, at(0, 0), false), vec![change("a", None, None)]);
        self.advance(10);
        self.ok(
            meta(HANDLE, Offset::Log(LogOffset::tx_end(0)), true),
            vec![utd(Some(5))],
        );
        self.advance(10);
    }

    /// Fire the only non-watchdog wait timer (the most recent one started).
    pub fn fire_wait(&mut self) -> Vec<Effect> {
        let (timer_id, delay) = *self.timers.last().expect("a timer");
        self.advance(delay);
        self.fire(Input::TimerFired { timer_id })
    }

    pub fn sse_event(&mut self, message: Message) -> Vec<Effect> {
        let request_id = self.rid();
        self.fire(Input::SseEvent {
            request_id,
            message: Ok(message),
        })
    }

    pub fn sse_close(&mut self, clean: bool) -> Vec<Effect> {
        let request_id = self.rid();
        self.req = None;
        self.fire(Input::SseClosed { request_id, clean })
    }

    pub fn statuses(&self) -> Vec<Status> {
        self.log
            .iter()
            .filter_map(|e| match e {
                Effect::StatusChanged(s) => Some(*s),
                _ => None,
            })
            .collect()
    }
}

pub fn issued(fx: &[Effect]) -> Vec<(RequestParams, RequestKind)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::IssueRequest { params, kind, .. } => Some((params.clone(), *kind)),
            _ => None,
        })
        .collect()
}

pub fn waits(fx: &[Effect]) -> Vec<u64> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::StartTimer { delay_ms, .. } => Some(*delay_ms),
            _ => None,
        })
        .collect()
}

pub fn batches(fx: &[Effect]) -> Vec<eddy::stream::Batch> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Deliver(b) => Some(b.clone()),
            _ => None,
        })
        .collect()
}

pub fn failed(fx: &[Effect]) -> Option<eddy::stream::StreamError> {
    fx.iter().find_map(|e| match e {
        Effect::Failed(err) => Some(err.clone()),
        _ => None,
    })
}
