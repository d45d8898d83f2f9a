//! `--faults` on `GET /v1/ws` (server/PROTOCOL-WS.md, "Fault injection"): with rate 1 every
//! draw faults, so a single client walking subscriptions one at a time sees exactly the seeded
//! sequence (`eddy_server::faults::decide`): one draw per subscribe and per batch.

mod common;

use std::collections::BTreeSet;

use common::ws::{connect, recv, Ws};
use common::Server;
use eddy_server::faults::{decide, Fault, FaultSpec};
use serde_json::json;
use tungstenite::Message;

/// The server dropped the socket (no further text frame).
fn assert_cut(ws: &mut Ws) {
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => panic!("expected a cut socket, got {t}"),
            Ok(Message::Close(_)) | Err(_) => return,
            Ok(_) => continue,
        }
    }
}

fn kind(f: Fault) -> &'static str {
    match f {
        Fault::Unavailable => "unavailable",
        Fault::Internal => "internal",
        Fault::Truncate => "truncate",
        Fault::Abort => "abort",
        Fault::Delay(_) => "delay",
        Fault::Rotate => "rotate",
    }
}

#[test]
fn socket_faults_follow_the_seeded_sequence() {
    let spec = FaultSpec { seed: 9, rate: 1.0 };
    let s = Server::start(&["--faults", "9:1"]);
    s.insert_todo(1, "a", false);
    let mut draw = 0u64;
    let mut next = || {
        let f = decide(spec, draw).expect("rate 1 always faults");
        draw += 1;
        f
    };
    let mut seen = BTreeSet::new();
    let mut writes = 1;
    for attempt in 0..40 {
        if seen.len() == 6 {
            break;
        }
        let mut ws = connect(&s);
        let id = format!("s{attempt}");
        ws.send(Message::text(
            json!({"type":"subscribe","id":id,"table":"todos"}).to_string(),
        ))
        .expect("send");
        let mut at_subscribe = true;
        loop {
            let f = next();
            seen.insert(kind(f));
            match f {
                Fault::Unavailable | Fault::Internal => {
                    let e = recv(&mut ws);
                    let status = if f == Fault::Unavailable { 503 } else { 500 };
                    assert_eq!(
                        (e["type"].as_str(), e["status"].as_u64()),
                        (Some("error"), Some(status)),
                        "{e}"
                    );
                    assert_eq!(e["id"], id.as_str());
                    assert!(e["errors"]["fault"][0]
                        .as_str()
                        .unwrap()
                        .starts_with("Injected fault"));
                    break;
                }
                Fault::Abort => {
                    assert_cut(&mut ws);
                    break;
                }
                Fault::Truncate => {
                    if !at_subscribe {
                        assert_eq!(recv(&mut ws)["type"], "batch", "the batch, then the cut");
                    }
                    assert_cut(&mut ws);
                    break;
                }
                Fault::Rotate if at_subscribe => {} // no handle to drop at offset -1
                Fault::Rotate => {
                    let r = recv(&mut ws);
                    assert_eq!(
                        (r["type"].as_str(), r["id"].as_str()),
                        (Some("must-refetch"), Some(id.as_str())),
                        "{r}"
                    );
                    break;
                }
                Fault::Delay(_) if at_subscribe => {}
                Fault::Delay(_) => {
                    let b = recv(&mut ws);
                    assert_eq!(b["type"], "batch", "{b}");
                    if b["up_to_date"] == true {
                        // Live and idle: only a commit makes the next batch (and draw).
                        writes += 1;
                        s.insert_todo(writes, "w", false);
                    }
                }
            }
            at_subscribe = false;
        }
    }
    assert_eq!(seen.len(), 6, "every kind of fault occurred: {seen:?}");
}
