//! The client side of the `/v1/ws` wire (server/PROTOCOL-WS.md): the socket URL next to a
//! shape URL, the `subscribe`/`unsubscribe` frames, and when a request's position continues a
//! subscription.

use std::collections::BTreeMap;

use crate::protocol::offset::Offset;
use crate::protocol::request::{LogMode, Replica, ShapeDefinition};

/// A position in a shape log: handle (if known) and offset.
pub type Pos = (Option<String>, Offset);

/// The `/v1/ws` URL next to a shape URL: `http(s)://host/p/v1/shape?q` → `ws(s)://host/p/v1/ws?q`
/// (a last path segment other than `shape` gets `/ws` appended). The shape URL's query (e.g. a
/// `secret`) and the stream's custom params (`extra`, for proxies) are kept on the socket URL,
/// so streams with different custom params get different sockets.
pub fn ws_url(shape_url: &str, extra: &BTreeMap<String, String>) -> String {
    let without_fragment = shape_url.split('#').next().unwrap_or("");
    let (base, query) = match without_fragment.split_once('?') {
        Some((b, q)) => (b, q),
        None => (without_fragment, ""),
    };
    let base = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        base.to_owned()
    };
    let trimmed = base.trim_end_matches('/');
    let mut url = match trimmed.strip_suffix("/shape") {
        Some(root) => format!("{root}/ws"),
        None => format!("{trimmed}/ws"),
    };
    let mut q = form_urlencoded::Serializer::new(query.to_owned());
    q.extend_pairs(extra);
    let q = q.finish();
    if !q.is_empty() {
        url.push('?');
        url.push_str(&q);
    }
    url
}

/// Equal positions; from-scratch offsets (`-1`, `now`) match whatever the handle.
pub fn same_pos(a: &Pos, b: &Pos) -> bool {
    if a.1.is_initial() || b.1.is_initial() {
        a.1 == b.1
    } else {
        a == b
    }
}

/// The `subscribe` frame of `shape` at `pos`.
pub fn subscribe_frame(id: &str, shape: &ShapeDefinition, pos: &Pos) -> String {
    let params: serde_json::Map<String, serde_json::Value> = shape
        .params
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.clone())))
        .collect();
    let mut f = serde_json::json!({
        "type": "subscribe",
        "id": id,
        "table": shape.table,
        "params": params,
        "replica": match shape.replica { Replica::Default => "default", Replica::Full => "full" },
        "log": match shape.log { LogMode::Full => "full", LogMode::ChangesOnly => "changes_only" },
        "offset": pos.1.to_string(),
        "handle": if pos.1.is_initial() { None } else { pos.0.clone() },
    });
    if let Some(w) = &shape.where_clause {
        f["where"] = serde_json::Value::String(w.clone());
    }
    if let Some(c) = &shape.columns {
        f["columns"] = serde_json::json!(c);
    }
    f.to_string()
}

/// An `unsubscribe` (or other id-only) frame.
pub fn control_frame(kind: &str, id: &str) -> String {
    serde_json::json!({ "type": kind, "id": id }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::offset::LogOffset;
    use std::collections::BTreeMap;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn ws_url_next_to_the_shape_url() {
        let none = BTreeMap::new();
        assert_eq!(ws_url("http://h:1/v1/shape", &none), "ws://h:1/v1/ws");
        assert_eq!(
            ws_url("https://h/p/v1/shape/?secret=s#x", &none),
            "wss://h/p/v1/ws?secret=s"
        );
        assert_eq!(ws_url("http://h/electric", &none), "ws://h/electric/ws");
        let extra = BTreeMap::from([("token".to_owned(), "a b".to_owned())]);
        assert_eq!(
            ws_url("http://h/v1/shape?secret=s", &extra),
            "ws://h/v1/ws?secret=s&token=a+b"
        );
    }

    #[wasm_bindgen_test]
    fn positions_match_by_handle_and_offset() {
        let at = |h: Option<&str>, o: Offset| (h.map(str::to_owned), o);
        let log = Offset::Log(LogOffset::new(3, 1));
        assert!(same_pos(&at(Some("h"), log), &at(Some("h"), log)));
        assert!(!same_pos(&at(Some("h"), log), &at(Some("g"), log)));
        assert!(!same_pos(
            &at(Some("h"), log),
            &at(Some("h"), Offset::Log(LogOffset::new(3, 2)))
        ));
        // The handle of a from-scratch request does not matter.
        assert!(same_pos(
            &at(None, Offset::BeforeAll),
            &at(Some("old"), Offset::BeforeAll)
        ));
        assert!(!same_pos(&at(None, Offset::BeforeAll), &at(None, log)));
    }

    #[wasm_bindgen_test]
    fn subscribe_frame_carries_the_definition() {
        let shape = ShapeDefinition {
            table: "todos".into(),
            where_clause: Some("done = $1".into()),
            params: BTreeMap::from([(1, "true".to_owned())]),
            columns: Some(vec!["id".into(), "Title".into()]),
            replica: Replica::Full,
            log: LogMode::ChangesOnly,
            extra: BTreeMap::new(),
        };
        let log = Offset::Log(LogOffset::new(7, 0));
        let f: serde_json::Value =
            serde_json::from_str(&subscribe_frame("s9", &shape, &(Some("h".into()), log))).unwrap();
        let want = serde_json::json!({
            "type": "subscribe", "id": "s9", "table": "todos", "where": "done = $1",
            "params": {"1": "true"}, "columns": ["id", "Title"], "replica": "full",
            "log": "changes_only", "offset": "7_0", "handle": "h",
        });
        assert_eq!(f, want);
        let f: serde_json::Value = serde_json::from_str(&subscribe_frame(
            "s1",
            &shape,
            &(Some("h".into()), Offset::BeforeAll),
        ))
        .unwrap();
        assert_eq!(f["offset"], "-1");
        assert_eq!(f["handle"], serde_json::Value::Null);
    }
}
