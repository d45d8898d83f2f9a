//! Shared by the persist suites: drive the core's storage futures (they never pend on the
//! in-memory backends) and build shape-log messages.
#![allow(dead_code)]

pub mod crash;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use eddy::protocol::{ChangeHeaders, ChangeMessage, Key, Message, Operation, Row};

fn noop_raw() -> RawWaker {
    fn clone(_: *const ()) -> RawWaker {
        noop_raw()
    }
    fn noop(_: *const ()) {}
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
    RawWaker::new(std::ptr::null(), &VTABLE)
}

/// Poll `f` once; the in-memory backends complete synchronously.
pub fn now<F: Future>(f: F) -> F::Output {
    // SAFETY: the vtable functions ignore the data pointer and do nothing.
    let waker = unsafe { Waker::from_raw(noop_raw()) };
    let mut cx = Context::from_waker(&waker);
    match pin!(f).as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("an in-memory storage future pended"),
    }
}

/// A change message.
pub fn change(op: Operation, key: &str, pairs: &[(&str, Option<&str>)]) -> Message {
    Message::Change(ChangeMessage {
        key: Key::from(key),
        operation: op,
        value: Row::from_pairs(pairs.iter().copied()),
        old_value: None,
        headers: ChangeHeaders::default(),
    })
}

/// An insert of `{id: key, v: value}`.
pub fn ins(key: &str, v: &str) -> Message {
    change(Operation::Insert, key, &[("id", Some(key)), ("v", Some(v))])
}

/// An update of `v`.
pub fn upd(key: &str, v: &str) -> Message {
    change(Operation::Update, key, &[("id", Some(key)), ("v", Some(v))])
}

/// A delete.
pub fn del(key: &str) -> Message {
    change(Operation::Delete, key, &[("id", Some(key))])
}

/// `up-to-date`.
pub fn utd() -> Message {
    Message::up_to_date(None)
}
