//! Reading a long-poll body as it arrives: every piece the response's reader yields goes
//! straight into the core's incremental [`BodyParser`], so the messages are parsed while the
//! rest of the body is still downloading (and no whole-body copy is made on either side of the
//! boundary). The outcome is what `parse_body` of the whole body would give; a body that breaks
//! off is a JSON error, so the machine retries the same request without advancing.

use std::rc::Weak;

use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{ReadableStreamDefaultReader, Response};

use super::Inner;
use crate::protocol::body::BodyParser;
use crate::protocol::message::{Message, MessageError};

fn cut_off() -> MessageError {
    MessageError::Json {
        line: 0,
        column: 0,
        reason: "the response body was cut off".to_owned(),
    }
}

/// Read and parse the body of a 2xx long-poll answer. Body bytes are counted for progress as
/// they arrive.
pub(super) async fn read_messages(weak: &Weak<Inner>, resp: &Response) -> Result<Vec<Message>, MessageError> {
    let Some(body) = resp.body() else {
        // No body at all: what an empty body parses to.
        return BodyParser::new().finish();
    };
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let size = resp
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse().ok());
    let mut parser = size.map_or_else(BodyParser::new, BodyParser::with_size_hint);
    let mut piece = Vec::new();
    loop {
        let Ok(chunk) = JsFuture::from(reader.read()).await else {
            return Err(cut_off());
        };
        let done = Reflect::get(&chunk, &JsValue::from_str("done"))
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true);
        if done {
            return parser.finish();
        }
        let Some(bytes) = Reflect::get(&chunk, &JsValue::from_str("value"))
            .ok()
            .filter(|v| v.is_instance_of::<Uint8Array>())
            .map(JsCast::unchecked_into::<Uint8Array>)
        else {
            continue;
        };
        // One reusable buffer for the copy into wasm memory.
        piece.resize(bytes.length() as usize, 0);
        bytes.copy_to(&mut piece);
        if let Some(inner) = weak.upgrade() {
            inner.core.borrow_mut().bytes_pending += piece.len() as u64;
        }
        if let Err(e) = parser.push(&piece) {
            let _ = reader.cancel();
            return Err(e);
        }
    }
}
