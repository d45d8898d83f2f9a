//! `MessageBatch`: one delivered batch, handed to JS as a handle. Its messages become JS objects
//! (the official client's shape: `{key, value, old_value?, headers}` with typed values, control
//! messages `{headers: {control}}`) only if JS asks, in one call.

use std::sync::Arc;

use js_sys::{Array, Object};
use wasm_bindgen::prelude::*;

use super::super::convert::{row_to_js_cached, KeyCache};
use super::super::error::{set, to_js_error};
use crate::protocol::{ChangeMessage, ControlMessage, EventMessage, Message, MoveKind, Parsers, Schema};

/// The messages of one batch, typed through the shape's schema on demand.
#[wasm_bindgen]
#[derive(Debug)]
pub struct MessageBatch {
    messages: Vec<Message>,
    schema: Option<Arc<Schema>>,
    parsers: Parsers,
}

impl MessageBatch {
    /// Wrap the messages of a delivered batch (typed with the driver's `parsers`).
    pub fn new(messages: Vec<Message>, schema: Option<Arc<Schema>>, parsers: Parsers) -> Self {
        MessageBatch {
            messages,
            schema,
            parsers,
        }
    }
}

#[wasm_bindgen]
impl MessageBatch {
    /// Number of messages.
    #[wasm_bindgen(getter)]
    pub fn length(&self) -> usize {
        self.messages.len()
    }

    /// All messages as JS objects. Throws a `ParserError` (with `code`) when a value does not
    /// match the schema.
    pub fn messages(&self) -> Result<Array, JsValue> {
        let empty = Schema::default();
        let schema = self.schema.as_deref().unwrap_or(&empty);
        let keys = KeyCache::default();
        self.messages
            .iter()
            .map(|m| message_to_js(m, schema, &self.parsers, &keys))
            .collect()
    }
}

/// One message in the official client's JS shape.
pub fn message_to_js(
    m: &Message,
    schema: &Schema,
    parsers: &Parsers,
    keys: &KeyCache,
) -> Result<JsValue, JsValue> {
    match m {
        Message::Change(c) => change_to_js(c, schema, parsers, keys),
        Message::Control(c) => Ok(control_to_js(c)),
        Message::Event(e) => Ok(event_to_js(e)),
    }
}

/// The synthetic `{headers: {control: "must-refetch"}}` message.
pub fn must_refetch_js() -> JsValue {
    control_to_js(&ControlMessage::MustRefetch)
}

fn change_to_js(
    c: &ChangeMessage,
    schema: &Schema,
    parsers: &Parsers,
    keys: &KeyCache,
) -> Result<JsValue, JsValue> {
    let o = Object::new();
    set(&o, "key", &JsValue::from_str(c.key.as_str()));
    let value = row_to_js_cached(schema, &c.value, parsers, keys).map_err(|e| to_js_error(&e))?;
    set(&o, "value", &value);
    if let Some(old) = &c.old_value {
        let old = row_to_js_cached(schema, old, parsers, keys).map_err(|e| to_js_error(&e))?;
        set(&o, "old_value", &old);
    }
    let h = Object::new();
    let hd = &c.headers;
    set(&h, "operation", &JsValue::from_str(c.operation.as_str()));
    if let Some([s, t]) = &hd.relation {
        let rel: Array = [s, t].iter().map(|x| JsValue::from_str(x.as_ref())).collect();
        set(&h, "relation", &rel);
    }
    if let Some(lsn) = hd.lsn {
        set(&h, "lsn", &JsValue::from_str(&lsn.to_string()));
    }
    if let Some(op) = hd.op_position {
        set(&h, "op_position", &JsValue::from_f64(op as f64));
    }
    if !hd.txids.is_empty() {
        let t: Array = hd.txids.iter().map(|x| JsValue::from_f64(*x as f64)).collect();
        set(&h, "txids", &t);
    }
    if hd.last {
        set(&h, "last", &JsValue::TRUE);
    }
    if let Some(k) = &hd.key_change_to {
        set(&h, "key_change_to", &JsValue::from_str(k.as_str()));
    }
    if let Some(k) = &hd.key_change_from {
        set(&h, "key_change_from", &JsValue::from_str(k.as_str()));
    }
    if !hd.tags.is_empty() {
        set(&h, "tags", &strings(&hd.tags));
    }
    if !hd.removed_tags.is_empty() {
        set(&h, "removed_tags", &strings(&hd.removed_tags));
    }
    if let Some(mark) = hd.snapshot_mark {
        set(&h, "snapshot_mark", &JsValue::from_f64(mark as f64));
    }
    set(&o, "headers", &h);
    Ok(o.into())
}

fn control_to_js(c: &ControlMessage) -> JsValue {
    let h = Object::new();
    let name = match c {
        ControlMessage::UpToDate { global_last_seen_lsn } => {
            if let Some(lsn) = global_last_seen_lsn {
                set(&h, "global_last_seen_lsn", &JsValue::from_str(&lsn.to_string()));
            }
            "up-to-date"
        }
        ControlMessage::MustRefetch => "must-refetch",
        ControlMessage::SnapshotEnd(meta) => {
            set(&h, "xmin", &JsValue::from_str(&meta.xmin.to_string()));
            set(&h, "xmax", &JsValue::from_str(&meta.xmax.to_string()));
            let xip: Array = meta
                .xip_list
                .iter()
                .map(|x| JsValue::from_str(&x.to_string()))
                .collect();
            set(&h, "xip_list", &xip);
            "snapshot-end"
        }
    };
    set(&h, "control", &JsValue::from_str(name));
    let o = Object::new();
    set(&o, "headers", &h);
    o.into()
}

fn event_to_js(e: &EventMessage) -> JsValue {
    let h = Object::new();
    let kind = match e.kind {
        MoveKind::MoveIn => "move-in",
        MoveKind::MoveOut => "move-out",
    };
    set(&h, "event", &JsValue::from_str(kind));
    let patterns: Array = e
        .patterns
        .iter()
        .map(|p| {
            let o = Object::new();
            set(&o, "pos", &JsValue::from_f64(f64::from(p.pos)));
            set(&o, "value", &JsValue::from_str(&p.value));
            JsValue::from(o)
        })
        .collect();
    set(&h, "patterns", &patterns);
    let o = Object::new();
    set(&o, "headers", &h);
    o.into()
}

fn strings(items: &[String]) -> Array {
    items.iter().map(|s| JsValue::from_str(s)).collect()
}
