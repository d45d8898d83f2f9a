//! Notes: what the driver tells JS after a dispatch, queued while the core is borrowed and
//! turned into plain JS objects only at flush time.

use js_sys::{Array, Object};
use wasm_bindgen::JsValue;

use super::super::error::{set, to_js_error};
use super::batch::{must_refetch_js, MessageBatch};
use super::LastResponse;
use crate::log::ChangeSet;
use crate::protocol::response::ResponseError;
use crate::protocol::Key;
use crate::stream::{Status, StreamError};

/// One notification.
#[derive(Debug)]
pub enum Note {
    /// A batch was delivered (and applied to the rows).
    Batch {
        /// The messages, when a stream subscriber wants them.
        batch: Option<MessageBatch>,
        /// Change messages in the batch (for progress).
        changes_received: usize,
        /// Response body bytes read since the previous batch (for progress).
        bytes: u64,
        /// List the changed keys.
        with_keys: bool,
        /// The batch ends at an up-to-date.
        up_to_date: bool,
        /// What became visible, when the batch committed.
        changes: Option<ChangeSet>,
    },
    /// A 409 (or a must-refetch in a body): subscribers get the synthetic control message.
    MustRefetch {
        /// The new handle, if the server named one.
        handle: Option<String>,
    },
    /// The connection status changed.
    Status(Status),
    /// An up-to-date was reached.
    UpToDate,
    /// The stream stopped with an error.
    Failed(StreamError, Option<LastResponse>),
    /// The shell itself failed (a JS error already built).
    Error(JsValue),
}

fn note(kind: &str) -> Object {
    let o = Object::new();
    set(&o, "type", &JsValue::from_str(kind));
    o
}

impl Note {
    /// The JS object for the listener.
    pub fn into_js(self) -> JsValue {
        match self {
            Note::Batch {
                batch,
                changes_received,
                bytes,
                with_keys,
                up_to_date,
                changes,
            } => {
                let o = note("batch");
                set(&o, "received", &JsValue::from_f64(changes_received as f64));
                set(&o, "bytes", &JsValue::from_f64(bytes as f64));
                if let Some(b) = batch {
                    set(&o, "batch", &JsValue::from(b));
                }
                set(&o, "upToDate", &JsValue::from_bool(up_to_date));
                if let Some(c) = changes {
                    set(&o, "committed", &JsValue::TRUE);
                    set(&o, "changed", &JsValue::from_bool(!c.is_empty()));
                    set(&o, "reset", &JsValue::from_bool(c.reset));
                    if with_keys {
                        set(&o, "inserted", &keys(&c.inserted));
                        set(&o, "updated", &keys(&c.updated));
                        set(&o, "deleted", &keys(&c.deleted));
                    }
                }
                o.into()
            }
            Note::MustRefetch { handle } => {
                let o = note("must-refetch");
                if let Some(h) = handle {
                    set(&o, "handle", &JsValue::from_str(&h));
                }
                set(&o, "message", &must_refetch_js());
                o.into()
            }
            Note::Status(s) => {
                let o = note("status");
                set(&o, "status", &JsValue::from_str(s.as_str()));
                o.into()
            }
            Note::UpToDate => note("up-to-date").into(),
            Note::Failed(err, last) => {
                let o = note("error");
                set(&o, "error", &stream_error_js(&err, last.as_ref()));
                o.into()
            }
            Note::Error(e) => {
                let o = note("error");
                set(&o, "error", &e);
                o.into()
            }
        }
    }
}

fn keys(keys: &[Key]) -> Array {
    keys.iter().map(|k| JsValue::from_str(k.as_str())).collect()
}

/// A stream error as a JS `Error` with `code`, plus `status`, `text`, `url` and `headers`
/// when it came from an HTTP answer.
fn stream_error_js(err: &StreamError, last: Option<&LastResponse>) -> JsValue {
    let e = to_js_error(err);
    if let StreamError::Response(r) = err {
        if let ResponseError::Http(fe) = r {
            set(&e, "status", &JsValue::from_f64(f64::from(fe.status)));
            set(&e, "text", &JsValue::from_str(&fe.body));
            if let Some(m) = &fe.message {
                set(&e, "serverMessage", &JsValue::from_str(m));
            }
        } else if let Some(l) = last {
            set(&e, "status", &JsValue::from_f64(f64::from(l.status)));
        }
        if let Some(l) = last {
            set(&e, "url", &JsValue::from_str(&l.url));
            let pairs = Array::new();
            if let Ok(Some(it)) = js_sys::try_iter(&l.headers) {
                for p in it.flatten() {
                    pairs.push(&p);
                }
            }
            set(&e, "headers", &pairs);
        }
    }
    e
}
