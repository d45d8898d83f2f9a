//! `POST /v1/tx` over HTTP: one transaction, typed 400s, nothing applied on error, limits.

mod common;

use common::{sync, Server};
use serde_json::json;

#[test]
fn a_transaction_answers_its_lsn_and_txid() {
    let s = Server::start(&[]);
    let r = s.tx(&json!({"ops":[{"op":"insert","table":"labels","row":{"id":1,"name":"home"}}]}));
    assert_eq!(r.status, 200);
    let j = r.json();
    let lsn1: u64 = j["lsn"].as_str().unwrap().parse().unwrap();
    assert!(j["txid"].is_u64());
    let r = s.tx(&json!({"ops":[{"op":"insert","table":"labels","row":{"id":2,"name":"work"}}]}));
    let lsn2: u64 = r.json()["lsn"].as_str().unwrap().parse().unwrap();
    assert_eq!(lsn2, lsn1 + 1);
    assert_eq!(
        r.json()["txid"].as_u64().unwrap(),
        j["txid"].as_u64().unwrap() + 1
    );
}

#[test]
fn typed_errors_and_atomicity() {
    let s = Server::start(&[]);
    s.insert_todo(1, "a", false);
    let cases = [
        (
            json!({"ops":[{"op":"insert","table":"nope","row":{"id":1}}]}),
            "EDDY_SERVER_TX_UNKNOWN_TABLE",
            "ops[0].table",
        ),
        (
            json!({"ops":[{"op":"insert","table":"todos","row":{"id":2,"title":"x","done":true,"zz":1}}]}),
            "EDDY_SERVER_TX_UNKNOWN_COLUMN",
            "ops[0].row.zz",
        ),
        (
            json!({"ops":[{"op":"insert","table":"todos","row":{"id":2,"title":7,"done":true}}]}),
            "EDDY_SERVER_TX_TYPE_MISMATCH",
            "ops[0].row.title",
        ),
        (
            json!({"ops":[{"op":"insert","table":"todos","row":{"id":2,"title":"x","done":true,"tags":[1,"x"]}}]}),
            "EDDY_SERVER_TX_TYPE_MISMATCH",
            "ops[0].row.tags",
        ),
        (
            json!({"ops":[{"op":"insert","table":"todos","row":{"title":"x","done":true}}]}),
            "EDDY_SERVER_TX_MISSING_PK",
            "ops[0].row.id",
        ),
        (
            json!({"ops":[{"op":"delete","table":"todos","row":{"id":99}}]}),
            "EDDY_SERVER_TX_MISSING_ROW",
            "ops[0].row",
        ),
        (
            json!({"ops":[{"op":"insert","table":"todos","row":{"id":1,"title":"dup","done":true}}]}),
            "EDDY_SERVER_TX_CONSTRAINT",
            "ops[0].row",
        ),
        (
            json!({"ops":[{"op":"insert","table":"todos","row":{"id":2,"title":null,"done":true}}]}),
            "EDDY_SERVER_TX_CONSTRAINT",
            "ops[0].row.title",
        ),
        (
            json!({"ops":[{"op":"insert","table":"todo_labels","row":{"todo_id":1,"label_id":5}}]}),
            "EDDY_SERVER_TX_CONSTRAINT",
            "ops",
        ),
        (json!({"ops":[]}), "EDDY_SERVER_TX_MALFORMED", "ops"),
        (json!({"nope":1}), "EDDY_SERVER_TX_MALFORMED", "ops"),
        (
            json!({"ops":[{"op":"merge","table":"todos","row":{}}]}),
            "EDDY_SERVER_TX_MALFORMED",
            "ops[0].op",
        ),
    ];
    for (body, code, field) in cases {
        let r = s.tx(&body);
        assert_eq!(r.status, 400, "{body} → {}", r.body);
        let j = r.json();
        assert_eq!(j["code"], code, "{body} → {j}");
        assert!(j["errors"][field][0].is_string(), "{body} → {j}");
        assert!(j["message"].is_string());
    }
    // A valid op followed by a failing one: nothing applied.
    let r = s.tx(&json!({"ops":[
        {"op":"insert","table":"todos","row":{"id":3,"title":"c","done":true}},
        {"op":"update","table":"todos","row":{"id":4,"title":"missing"}}
    ]}));
    assert_eq!(r.status, 400);
    let (_, _, msgs, _) = sync(&s, &[("table", "todos")]);
    assert_eq!(msgs.len(), 1, "only the first insert ever committed");
    // Not JSON.
    let r = s.post_raw("/v1/tx", b"{not json".to_vec());
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["code"], "EDDY_SERVER_TX_MALFORMED");
}

#[test]
fn body_and_op_limits() {
    let s = Server::start(&["--max-body-bytes", "1000", "--max-ops", "3"]);
    let big =
        json!({"ops":[{"op":"insert","table":"todos","row":{"id":1,"title":"x".repeat(2000),"done":true}}]});
    let r = s.tx(&big);
    assert_eq!(r.status, 413);
    assert!(r.json()["message"].is_string());
    let ops: Vec<_> = (0..4)
        .map(|i| json!({"op":"insert","table":"labels","row":{"id":i,"name":format!("l{i}")}}))
        .collect();
    let r = s.tx(&json!({ "ops": ops }));
    assert_eq!(r.status, 400);
    assert!(r.json()["errors"]["ops"][0].as_str().unwrap().contains('3'));
}
