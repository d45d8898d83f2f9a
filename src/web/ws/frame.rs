//! The frames of eddy-server's `/v1/ws` (server/PROTOCOL-WS.md) and their translation into the
//! [`Input`] the same answer over HTTP would have given: a `batch` is a long-poll `200` (its
//! handle, offset, schema and up-to-date as a [`ShapeMeta`], its messages as the parsed body),
//! `must-refetch` is a `409`, `error` is its HTTP status run through the same classifier.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::protocol::message::{parse_body, Message, MessageError};
use crate::protocol::offset::Offset;
use crate::protocol::response::{classify, RequestKind, ResponseClass, ResponseError, ShapeMeta};
use crate::protocol::schema::Schema;
use crate::stream::{Input, RequestId};

#[derive(Deserialize)]
struct RawFrame<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    handle: Option<String>,
    #[serde(default)]
    offset: Option<String>,
    #[serde(default)]
    up_to_date: bool,
    #[serde(default, borrow)]
    schema: Option<&'a RawValue>,
    #[serde(default, borrow)]
    messages: Option<&'a RawValue>,
    #[serde(default)]
    status: Option<u16>,
}

/// One server frame, parsed as far as the shell needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// One `200` of the subscription.
    Batch {
        /// Subscription id.
        id: String,
        /// The batch's shape meta, or why it is invalid (as a header error would be).
        meta: Result<ShapeMeta, ResponseError>,
        /// The parsed messages.
        messages: Result<Vec<Message>, MessageError>,
    },
    /// The `409` of the subscription; it has ended.
    MustRefetch {
        /// Subscription id.
        id: String,
        /// The new handle (informational).
        handle: Option<String>,
    },
    /// A `4xx`/`5xx` of the subscription (or of the socket when `id` is `None`); it has ended.
    Error {
        /// Subscription id.
        id: Option<String>,
        /// HTTP status.
        status: u16,
        /// The frame text, read by the classifier as the HTTP error body.
        body: String,
    },
    /// `pong`, `unsubscribed` and unknown kinds: only prove the socket is alive.
    Other,
}

impl Frame {
    /// The subscription the frame belongs to.
    pub fn id(&self) -> Option<&str> {
        match self {
            Frame::Batch { id, .. } | Frame::MustRefetch { id, .. } => Some(id),
            Frame::Error { id, .. } => id.as_deref(),
            Frame::Other => None,
        }
    }

    /// The frame ends its subscription.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Frame::MustRefetch { .. } | Frame::Error { .. })
    }

    /// Where the subscription continues after this batch (`None` for other frames).
    pub fn next_position(&self) -> Option<(Option<String>, Offset)> {
        match self {
            Frame::Batch { meta: Ok(m), .. } => Some((Some(m.handle.clone()), m.offset)),
            _ => None,
        }
    }
}

/// Parse a text frame; `None` when it is not a JSON frame object.
pub fn parse(text: &str) -> Option<Frame> {
    let raw: RawFrame<'_> = serde_json::from_str(text).ok()?;
    Some(match raw.kind {
        "batch" => {
            let id = raw.id?;
            let meta = batch_meta(raw.handle, raw.offset.as_deref(), raw.schema, raw.up_to_date);
            let messages = match raw.messages {
                Some(m) => parse_body(m.get().as_bytes()),
                None => Ok(Vec::new()),
            };
            Frame::Batch { id, meta, messages }
        }
        "must-refetch" => Frame::MustRefetch {
            id: raw.id?,
            handle: raw.handle.filter(|h| !h.is_empty()),
        },
        "error" => Frame::Error {
            id: raw.id,
            status: raw.status.unwrap_or(500),
            body: text.to_owned(),
        },
        _ => Frame::Other,
    })
}

fn batch_meta(
    handle: Option<String>,
    offset: Option<&str>,
    schema: Option<&RawValue>,
    up_to_date: bool,
) -> Result<ShapeMeta, ResponseError> {
    let mut missing = Vec::new();
    if handle.as_deref().is_none_or(str::is_empty) {
        missing.push("electric-handle");
    }
    if offset.is_none() {
        missing.push("electric-offset");
    }
    if !missing.is_empty() {
        return Err(ResponseError::MissingHeaders { missing });
    }
    let offset = Offset::parse(offset.unwrap_or("").trim()).map_err(|e| ResponseError::InvalidHeader {
        name: "electric-offset",
        reason: e.to_string(),
    })?;
    let schema = schema
        .map(|s| Schema::from_header(s.get()))
        .transpose()
        .map_err(|e| ResponseError::InvalidHeader {
            name: "electric-schema",
            reason: e.to_string(),
        })?;
    Ok(ShapeMeta {
        handle: handle.unwrap_or_default(),
        offset,
        schema,
        // The cursor only busts HTTP caches; a socket has none.
        cursor: None,
        up_to_date,
    })
}

/// The input answering `request_id` with this frame.
pub fn to_input(frame: Frame, request_id: RequestId, kind: RequestKind, now_ms: u64) -> Input {
    match frame {
        Frame::Batch { meta, messages, .. } => match meta {
            Ok(meta) => Input::ResponseReceived {
                request_id,
                class: Ok(ResponseClass::Ok(meta)),
                body: Some(messages),
            },
            Err(e) => Input::ResponseReceived {
                request_id,
                class: Err(e),
                body: None,
            },
        },
        Frame::MustRefetch { handle, .. } => Input::ResponseReceived {
            request_id,
            class: Ok(ResponseClass::MustRefetch { handle }),
            body: None,
        },
        Frame::Error { status, body, .. } => Input::ResponseReceived {
            request_id,
            class: classify(status, &Vec::new(), body.as_bytes(), kind, now_ms),
            body: None,
        },
        Frame::Other => Input::NetworkError { request_id },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::offset::LogOffset;
    use wasm_bindgen_test::wasm_bindgen_test;

    const LIVE: RequestKind = RequestKind {
        live: true,
        sse: false,
    };

    #[wasm_bindgen_test]
    fn batch_becomes_a_200_with_meta_and_body() {
        let text = r#"{"type":"batch","id":"s1","handle":"h-1","offset":"5_2","up_to_date":true,
            "schema":{"id":{"type":"int8","pk_index":0}},
            "messages":[{"key":"k","value":{"id":"1"},"headers":{"operation":"insert"}},
                        {"headers":{"control":"up-to-date"}}]}"#;
        let f = parse(text).unwrap();
        assert_eq!(f.id(), Some("s1"));
        assert!(!f.is_terminal());
        assert_eq!(
            f.next_position(),
            Some((Some("h-1".into()), Offset::Log(LogOffset::new(5, 2))))
        );
        match to_input(f, RequestId(7), LIVE, 0) {
            Input::ResponseReceived {
                request_id,
                class: Ok(ResponseClass::Ok(meta)),
                body: Some(Ok(msgs)),
            } => {
                assert_eq!(request_id, RequestId(7));
                assert_eq!(meta.handle, "h-1");
                assert!(meta.up_to_date);
                assert_eq!(meta.cursor, None);
                assert_eq!(meta.schema.map(|s| s.len()), Some(1));
                assert_eq!(msgs.len(), 2);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[wasm_bindgen_test]
    fn batch_without_offset_is_missing_headers() {
        let f = parse(r#"{"type":"batch","id":"s1","handle":"h","messages":[]}"#).unwrap();
        match to_input(f, RequestId(1), LIVE, 0) {
            Input::ResponseReceived {
                class: Err(ResponseError::MissingHeaders { missing }),
                body: None,
                ..
            } => {
                assert_eq!(missing, vec!["electric-offset"]);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[wasm_bindgen_test]
    fn must_refetch_is_a_409() {
        let f = parse(r#"{"type":"must-refetch","id":"s2","handle":"new"}"#).unwrap();
        assert!(f.is_terminal());
        let input = to_input(f, RequestId(3), LIVE, 0);
        let want = Input::ResponseReceived {
            request_id: RequestId(3),
            class: Ok(ResponseClass::MustRefetch {
                handle: Some("new".into()),
            }),
            body: None,
        };
        assert_eq!(input, want);
    }

    #[wasm_bindgen_test]
    fn error_frames_classify_as_their_status() {
        let bad = r#"{"type":"error","id":"s1","status":400,"message":"Invalid request","errors":{"where":["unknown column"]}}"#;
        match to_input(parse(bad).unwrap(), RequestId(1), LIVE, 0) {
            Input::ResponseReceived {
                class: Err(ResponseError::Http(e)),
                ..
            } => {
                assert_eq!(e.status, 400);
                assert_eq!(e.message.as_deref(), Some("Invalid request"));
                assert_eq!(e.errors.get("where"), Some(&vec!["unknown column".to_owned()]));
            }
            other => panic!("unexpected {other:?}"),
        }
        let busy = r#"{"type":"error","id":"s1","status":503,"message":"busy"}"#;
        match to_input(parse(busy).unwrap(), RequestId(1), LIVE, 0) {
            Input::ResponseReceived {
                class: Ok(ResponseClass::Retry {
                    status: Some(503), ..
                }),
                ..
            } => {}
            other => panic!("unexpected {other:?}"),
        }
    }

    #[wasm_bindgen_test]
    fn other_frames_and_garbage() {
        assert_eq!(parse(r#"{"type":"pong"}"#), Some(Frame::Other));
        assert_eq!(parse("not json"), None);
        assert_eq!(parse(r#"{"type":"batch"}"#), None);
    }
}
