//! `GET /v1/ws` over a real socket: the two cases the browser suite had as known defects
//! (ref §8.1 empty shape, §8.8 live 409 after TRUNCATE / shape deletion plus writes). The
//! server side is checked here on its own: every subscription reaches up-to-date, and after
//! `must-refetch` a new subscription at `-1` materialises exactly what plain HTTP does.

mod common;

use std::collections::BTreeMap;

use common::ws::{self, connect, send, Ws};
use common::{materialize, sync, Server};
use serde_json::{json, Value as Json};

/// The next JSON frame that is not an `unsubscribed` acknowledgement.
fn recv(ws: &mut Ws) -> Json {
    loop {
        let f = ws::recv(ws);
        if f["type"] != "unsubscribed" {
            return f;
        }
    }
}

/// Batches of `id` up to and including the first up-to-date one.
fn until_up_to_date(ws: &mut Ws, id: &str) -> Vec<Json> {
    let mut out = Vec::new();
    loop {
        let f = recv(ws);
        assert_eq!(f["id"], id, "{f}");
        assert_eq!(f["type"], "batch", "{f}");
        let done = f["up_to_date"] == true;
        out.push(f);
        if done {
            return out;
        }
    }
}

/// The change messages of these batches, materialised.
fn rows(batches: &[Json]) -> BTreeMap<String, Json> {
    let mut map = BTreeMap::new();
    for b in batches {
        let changes: Vec<Json> = b["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .filter(|m| m.get("key").is_some())
            .cloned()
            .collect();
        materialize(&mut map, &changes);
    }
    map
}

/// What plain HTTP materialises for the whole `todos` table.
fn http_rows(s: &Server) -> BTreeMap<String, Json> {
    let (_, _, msgs, _) = sync(s, &[("table", "todos")]);
    let mut map = BTreeMap::new();
    materialize(&mut map, &msgs);
    map
}

#[test]
fn empty_table_reaches_up_to_date_then_goes_live() {
    let s = Server::start(&[]);
    let mut ws = connect(&s);
    send(&mut ws, json!({"type":"subscribe","id":"e","table":"todos"}));
    let batches = until_up_to_date(&mut ws, "e");
    // Chunk 0 (empty, never up-to-date, with the schema), then the empty log with up-to-date.
    assert_eq!(batches.len(), 2, "{batches:?}");
    assert_eq!(batches[0]["offset"], "0_0");
    assert_eq!(batches[0]["up_to_date"], false);
    assert_eq!(batches[0]["messages"], json!([]));
    assert_eq!(batches[0]["schema"]["id"]["pk_index"], 0);
    assert_eq!(batches[1]["handle"], batches[0]["handle"]);
    assert_eq!(batches[1]["offset"], "0_inf");
    let msgs = batches[1]["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["headers"]["control"], "up-to-date");
    let lsn = s.insert_todo(1, "first", false);
    let f = recv(&mut ws);
    assert_eq!((f["type"].as_str(), f["id"].as_str()), (Some("batch"), Some("e")));
    assert_eq!(f["offset"], format!("{lsn}_0"));
    assert_eq!(rows(&[f]), http_rows(&s));
}

/// Live subscription, then `cause` (writes included); expects one `must-refetch` with a new
/// handle, and a resubscription at `-1` that equals HTTP and keeps receiving live writes.
fn live_refetch_converges(cause: impl FnOnce(&Server)) {
    let s = Server::start(&[]);
    s.insert_todo(1, "a", false);
    s.insert_todo(2, "b", false);
    let mut ws = connect(&s);
    send(&mut ws, json!({"type":"subscribe","id":"a","table":"todos"}));
    let first = until_up_to_date(&mut ws, "a");
    let old = first[0]["handle"].as_str().unwrap().to_string();
    assert_eq!(rows(&first).len(), 2);
    cause(&s);
    let f = recv(&mut ws);
    assert_eq!(f["type"], "must-refetch", "{f}");
    assert_eq!(f["id"], "a");
    let new = f["handle"].as_str().expect("new handle").to_string();
    assert_ne!(new, old);
    // The client's part: unsubscribe the ended id, subscribe again from scratch.
    send(&mut ws, json!({"type":"unsubscribe","id":"a"}));
    send(
        &mut ws,
        json!({"type":"subscribe","id":"b","table":"todos","offset":"-1"}),
    );
    let again = until_up_to_date(&mut ws, "b");
    assert!(again.iter().all(|b| b["handle"] == new.as_str()), "{again:?}");
    let mut got = rows(&again);
    assert_eq!(got, http_rows(&s));
    // Still live on the new subscription.
    s.insert_todo(100, "after", false);
    let live = recv(&mut ws);
    assert_eq!(
        (live["type"].as_str(), live["id"].as_str()),
        (Some("batch"), Some("b"))
    );
    for (k, v) in rows(&[live]) {
        got.insert(k, v);
    }
    assert_eq!(got, http_rows(&s));
}

#[test]
fn live_truncate_with_writes_must_refetch_then_converges() {
    live_refetch_converges(|s| {
        s.write(json!({"ops":[
            {"op":"truncate","table":"todos"},
            {"op":"insert","table":"todos","row":{"id":5,"title":"e","done":false}},
            {"op":"insert","table":"todos","row":{"id":6,"title":"f","done":true}}
        ]}));
    });
}

#[test]
fn live_shape_deletion_then_writes_must_refetch_then_converges() {
    live_refetch_converges(|s| {
        assert_eq!(s.delete_shape(&[("table", "todos")]).status, 202);
        s.insert_todo(3, "c", false);
        s.write(json!({"ops":[{"op":"delete","table":"todos","row":{"id":1}}]}));
    });
}
