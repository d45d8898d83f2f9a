//! `ShapeLog`: parse shape-log bodies inside the browser (one call per body).

use wasm_bindgen::prelude::*;

use super::error::to_js_error;
use crate::protocol::message::{parse_body, Message};

/// Parses shape-log response bodies and keeps the messages of the current batch.
#[wasm_bindgen]
#[derive(Debug, Default)]
pub struct ShapeLog {
    messages: Vec<Message>,
}

#[wasm_bindgen]
impl ShapeLog {
    /// An empty log.
    #[wasm_bindgen(constructor)]
    pub fn new() -> ShapeLog {
        ShapeLog::default()
    }

    /// Parse one long-poll body (the bytes of a JSON array of messages). Throws a
    /// `ProtocolError` with a `code` when the body is malformed; nothing is kept then.
    pub fn ingest(&mut self, body: &[u8]) -> Result<usize, JsValue> {
        let parsed = parse_body(body).map_err(|e| to_js_error(&e))?;
        let n = parsed.len();
        self.messages.extend(parsed);
        Ok(n)
    }

    /// Number of messages held.
    #[wasm_bindgen(getter)]
    pub fn size(&self) -> usize {
        self.messages.len()
    }

    /// The held messages in wire JSON form, in one crossing.
    #[wasm_bindgen(js_name = messagesJson)]
    pub fn messages_json(&self) -> String {
        serde_json::to_string(&self.messages).unwrap_or_else(|_| "[]".into())
    }
}
