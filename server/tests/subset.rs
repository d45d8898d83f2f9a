//! Subset snapshots (ref §3.5): `subset__*` on GET and the JSON body of POST /v1/shape.

mod common;

use common::{query, Server};
use serde_json::json;

fn seed(s: &Server) -> String {
    let ops: Vec<_> = (1..=10)
        .map(|i| json!({"op":"insert","table":"todos","row":{"id":i,"title":format!("t{i}"),"done":i % 2 == 0,"priority":i % 4}}))
        .collect();
    s.write(json!({ "ops": ops }))
}

#[test]
fn get_subset_filters_orders_and_pages() {
    let s = Server::start(&[]);
    let lsn = seed(&s);
    let r = s.shape(&[
        ("table", "todos"),
        ("where", "done"),
        ("offset", "-1"),
        ("log", "changes_only"),
        ("subset__where", "priority >= $1"),
        ("subset__params", "{\"1\":\"1\"}"),
        ("subset__order_by", "priority DESC, id"),
        ("subset__limit", "3"),
        ("subset__offset", "1"),
    ]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.h("electric-snapshot"), "true");
    assert_eq!(r.h("cache-control"), "no-cache");
    assert!(r.header("electric-schema").is_some());
    let j = r.json();
    // done rows: 2,4,6,8,10 with priority 2,0,2,0,2 → priority >= 1: 2,6,10 (all priority 2),
    // ordered by priority DESC then id: 2,6,10; offset 1, limit 3 → 6,10.
    let ids: Vec<&str> = j["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["6", "10"]);
    let m = &j["metadata"];
    assert_eq!(m["database_lsn"], lsn.as_str());
    assert_eq!(m["xmin"], m["xmax"]);
    assert_eq!(m["xip_list"], json!([]));
    let mark = m["snapshot_mark"].as_u64().unwrap();
    assert!(j["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["headers"]["snapshot_mark"] == mark));
    assert!(j["data"][0]["headers"].get("lsn").is_none());
    // A later change has a txid at or above xmax (so a client does not skip it).
    let xmax: u64 = m["xmax"].as_str().unwrap().parse().unwrap();
    let handle = r.h("electric-handle").to_string();
    let now = s.shape(&[
        ("table", "todos"),
        ("where", "done"),
        ("log", "changes_only"),
        ("offset", "now"),
    ]);
    assert_eq!(now.h("electric-handle"), handle);
    s.insert_todo(12, "new", true);
    let off = now.h("electric-offset").to_string();
    let r = s.shape(&[
        ("table", "todos"),
        ("where", "done"),
        ("log", "changes_only"),
        ("offset", &off),
        ("handle", &handle),
    ]);
    let ch = r.changes();
    assert_eq!(ch.len(), 1);
    assert!(ch[0]["headers"]["txids"][0].as_u64().unwrap() >= xmax);
}

#[test]
fn post_subset_and_errors() {
    let s = Server::start(&[]);
    seed(&s);
    let q = query(&[("table", "todos"), ("offset", "-1")]);
    let r = s.post_raw(
        &format!("/v1/shape?{q}"),
        br#"{"where":"id <= 3","order_by":"id DESC","limit":2}"#.to_vec(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let ids: Vec<String> = r.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"]["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, vec!["3", "2"]);
    // Marks increase.
    let r2 = s.post_raw(&format!("/v1/shape?{q}"), b"{}".to_vec());
    assert_eq!(r2.json()["data"].as_array().unwrap().len(), 10);
    assert!(r2.json()["metadata"]["snapshot_mark"].as_u64() > r.json()["metadata"]["snapshot_mark"].as_u64());
    for (body, field) in [
        (&b"[1]"[..], "body"),
        (b"not json", "body"),
        (br#"{"limit":2}"#, "subset__order_by"),
        (br#"{"order_by":"nope"}"#, "subset__order_by"),
        (br#"{"order_by":"id; DROP TABLE todos"}"#, "subset__order_by"),
        (br#"{"where":"lower(title) = 'x'"}"#, "subset__where"),
        (br#"{"where":"id = $1"}"#, "subset__params"),
        (br#"{"offset":-1,"order_by":"id"}"#, "subset__offset"),
    ] {
        let r = s.post_raw(&format!("/v1/shape?{q}"), body.to_vec());
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(body));
        assert!(
            r.json()["errors"][field][0].is_string(),
            "{} → {}",
            String::from_utf8_lossy(body),
            r.body
        );
    }
    // A stale handle is a 409 for subsets too.
    let q = query(&[("table", "todos"), ("offset", "0_0"), ("handle", "1-1")]);
    assert_eq!(s.post_raw(&format!("/v1/shape?{q}"), b"{}".to_vec()).status, 409);
}
