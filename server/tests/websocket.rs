//! `GET /v1/ws`: multiplexed subscriptions over one socket (see server/PROTOCOL-WS.md).

mod common;

use common::ws::{connect, recv, send, Ws};
use common::Server;
use serde_json::{json, Value as Json};
use tungstenite::Message;

/// Frames for `id` until a batch with up_to_date (skipping other subscriptions' frames into `other`).
fn until_up_to_date(ws: &mut Ws, id: &str, other: &mut Vec<Json>) -> Vec<Json> {
    let mut out = Vec::new();
    loop {
        let f = recv(ws);
        if f["id"] != id {
            other.push(f);
            continue;
        }
        let done = f["type"] != "batch" || f["up_to_date"] == true;
        out.push(f);
        if done {
            return out;
        }
    }
}

#[test]
fn two_shapes_on_one_socket_sync_and_go_live() {
    let s = Server::start(&[]);
    s.insert_todo(1, "a", false);
    s.insert_todo(2, "b", true);
    let mut ws = connect(&s);
    send(
        &mut ws,
        json!({"type":"subscribe","id":"open","table":"todos","where":"done = $1","params":["false"],"columns":["id","title"]}),
    );
    send(
        &mut ws,
        json!({"type":"subscribe","id":"labels","table":"labels"}),
    );
    let mut others = Vec::new();
    let open = until_up_to_date(&mut ws, "open", &mut others);
    // Chunk 0 first (never up-to-date), then the up-to-date batch.
    assert_eq!(open[0]["type"], "batch");
    assert_eq!(open[0]["offset"], "0_0");
    assert_eq!(open[0]["up_to_date"], false);
    assert_eq!(open[0]["schema"]["id"]["pk_index"], 0);
    assert_eq!(open[0]["messages"][0]["value"], json!({"id":"1","title":"a"}));
    let last = open.last().unwrap();
    assert_eq!(last["offset"], "0_inf");
    assert_eq!(
        last["messages"].as_array().unwrap().last().unwrap()["headers"]["control"],
        "up-to-date"
    );
    assert!(last.get("schema").is_none());
    let handle = open[0]["handle"].as_str().unwrap().to_string();
    // The labels subscription also reached up-to-date (its frames may have interleaved).
    let mut label_frames: Vec<Json> = others.drain(..).filter(|f| f["id"] == "labels").collect();
    if !label_frames.iter().any(|f| f["up_to_date"] == true) {
        label_frames.extend(until_up_to_date(&mut ws, "labels", &mut others));
    }
    assert!(label_frames.iter().all(|f| f["type"] == "batch"));

    // Live: a commit touching both tables arrives on both subscriptions.
    let lsn = s.write(json!({"ops":[
        {"op":"insert","table":"todos","row":{"id":3,"title":"c","done":false}},
        {"op":"insert","table":"labels","row":{"id":1,"name":"home"}}
    ]}));
    let mut got = std::collections::BTreeMap::new();
    while got.len() < 2 {
        let f = recv(&mut ws);
        assert_eq!(f["type"], "batch", "{f}");
        assert_eq!(f["up_to_date"], true);
        got.insert(f["id"].as_str().unwrap().to_string(), f);
    }
    let todo = &got["open"];
    assert_eq!(todo["offset"], format!("{lsn}_0"));
    assert_eq!(todo["messages"][0]["value"], json!({"id":"3","title":"c"}));
    assert_eq!(todo["messages"][0]["headers"]["last"], true);
    assert_eq!(got["labels"]["offset"], format!("{lsn}_1"));

    // The batch offsets resume over plain HTTP without gaps.
    let r = s.shape(&[
        ("table", "todos"),
        ("where", "done = $1"),
        ("params[1]", "false"),
        ("columns", "id,title"),
        ("offset", "0_inf"),
        ("handle", &handle),
    ]);
    assert_eq!(r.status, 200);
    assert_eq!(r.changes().len(), 1);
    assert_eq!(r.h("electric-offset"), format!("{lsn}_0"));

    // Unsubscribe, ping.
    send(&mut ws, json!({"type":"unsubscribe","id":"labels"}));
    assert_eq!(recv(&mut ws), json!({"type":"unsubscribed","id":"labels"}));
    send(&mut ws, json!({"type":"ping"}));
    assert_eq!(recv(&mut ws), json!({"type":"pong"}));
}

#[test]
fn errors_and_must_refetch_frames() {
    let s = Server::start(&[]);
    let mut ws = connect(&s);
    send(
        &mut ws,
        json!({"type":"subscribe","id":"bad","table":"todos","where":"nope = 1"}),
    );
    let f = recv(&mut ws);
    assert_eq!(
        (f["type"].as_str(), f["status"].as_u64()),
        (Some("error"), Some(400))
    );
    assert!(f["errors"]["where"][0].is_string());
    send(
        &mut ws,
        json!({"type":"subscribe","id":"x","table":"todos","offset":"0_0","handle":"1-1"}),
    );
    let f = recv(&mut ws);
    assert_eq!(f["type"], "must-refetch");
    assert!(f["handle"].is_string());
    send(&mut ws, json!({"type":"subscribe","table":"todos"}));
    assert!(recv(&mut ws)["errors"]["id"][0].is_string());
    ws.send(Message::text("not json")).unwrap();
    assert_eq!(recv(&mut ws)["type"], "error");
    send(&mut ws, json!({"type":"dance"}));
    assert!(recv(&mut ws)["errors"]["type"][0].is_string());

    // A live subscription gets must-refetch when its shape is deleted.
    send(&mut ws, json!({"type":"subscribe","id":"live","table":"todos"}));
    let mut others = Vec::new();
    until_up_to_date(&mut ws, "live", &mut others);
    assert_eq!(s.delete_shape(&[("table", "todos")]).status, 202);
    let f = recv(&mut ws);
    assert_eq!(
        (f["type"].as_str(), f["id"].as_str()),
        (Some("must-refetch"), Some("live"))
    );
}
