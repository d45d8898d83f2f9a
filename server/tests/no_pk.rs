//! Tables without a primary key (ref §3.1): keys use every column sorted by name, updates are
//! key changes, deletes carry the whole row, writes identify rows by all their columns.

mod common;

use common::{sync, temp_path, Server};
use serde_json::json;

#[test]
fn rows_are_identified_by_all_columns() {
    let schema = temp_path("nopk.sql");
    std::fs::write(&schema, "CREATE TABLE events (name text, n int4, tag text);").unwrap();
    let s = Server::start_args(&[
        "--schema".into(),
        schema.to_string_lossy().into_owned(),
        "--listen".into(),
        "127.0.0.1:0".into(),
    ]);
    s.write(json!({"ops":[
        {"op":"insert","table":"events","row":{"name":"a/b","n":1}},
        {"op":"insert","table":"events","row":{"name":"c","n":2,"tag":"x"}}
    ]}));
    let (handle, offset, msgs, _) = sync(&s, &[("table", "events")]);
    assert_eq!(msgs.len(), 2);
    // Columns sorted by name: n, name, tag; NULL as `_`; `/` doubled.
    assert_eq!(msgs[0]["key"], "\"public\".\"events\"/\"1\"/\"a//b\"/_");
    let r = s.schema_header(&[("table", "events"), ("offset", "-1")]);
    assert_eq!(r["n"], json!({"type":"int4"}));
    // Update: identified by the whole old row; the key changes, so delete + insert.
    s.write(json!({"ops":[{"op":"update","table":"events","old_key":{"name":"c","n":2,"tag":"x"},"row":{"n":3}}]}));
    // Delete by the whole row (nulls included).
    s.write(json!({"ops":[{"op":"delete","table":"events","row":{"name":"a/b","n":1,"tag":null}}]}));
    let r = s.shape(&[("table", "events"), ("offset", &offset), ("handle", &handle)]);
    let ch = r.changes();
    let ops: Vec<&str> = ch
        .iter()
        .map(|m| m["headers"]["operation"].as_str().unwrap())
        .collect();
    assert_eq!(ops, vec!["delete", "insert", "delete"]);
    assert_eq!(
        ch[0]["headers"]["key_change_to"],
        "\"public\".\"events\"/\"3\"/\"c\"/\"x\""
    );
    assert_eq!(
        ch[2]["value"],
        json!({"name":"a/b","n":"1","tag":null}),
        "deletes carry every column"
    );
    // A row that is not there, or a partial identity, is refused.
    let r = s.tx(&json!({"ops":[{"op":"delete","table":"events","row":{"name":"zz","n":1,"tag":null}}]}));
    assert_eq!(r.json()["code"], "EDDY_SERVER_TX_MISSING_ROW");
    let r = s.tx(&json!({"ops":[{"op":"delete","table":"events","row":{"name":"c"}}]}));
    assert_eq!(r.json()["code"], "EDDY_SERVER_TX_MISSING_PK");
    let _ = std::fs::remove_file(schema);
}
