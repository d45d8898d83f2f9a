use super::*;
use crate::schema::parse_schema;
use crate::shape::{DefLimits, DefParams, Shape};
use eddy::protocol::LogOffset;

fn store() -> Store {
    let c = Arc::new(parse_schema(include_str!("../../examples/todo.sql")).unwrap());
    Store::open(":memory:", c).unwrap()
}

fn tx(s: &Store, body: &str) -> Result<Commit, TxError> {
    s.apply(&parse_tx(body.as_bytes(), 100)?)
}

fn todos(s: &Store, where_sql: Option<&str>) -> Shape {
    let p = DefParams {
        table: Some("todos"),
        where_sql,
        ..DefParams::default()
    };
    Shape::from_params(
        &p,
        s.catalog(),
        DefLimits {
            max_where_bytes: 1000,
        },
    )
    .unwrap()
}

#[test]
fn lsns_are_monotonic_and_ops_numbered() {
    let s = store();
    assert_eq!(s.head().unwrap(), FIRST_LSN - 1);
    let c1 = tx(
        &s,
        r#"{"ops":[{"op":"insert","table":"todos","row":{"id":1,"title":"a","done":false}}]}"#,
    )
    .unwrap();
    assert_eq!((c1.lsn, c1.txid), (FIRST_LSN, FIRST_TXID));
    let c2 = tx(
        &s,
        r#"{"ops":[{"op":"update","table":"todos","row":{"id":2,"title":"b"},"old_key":{"id":1}},
                  {"op":"insert","table":"todos","row":{"id":3,"title":"c","done":true}}]}"#,
    )
    .unwrap();
    assert_eq!(c2.lsn, FIRST_LSN + 1);
    let shape = todos(&s, None);
    let read = s
        .read_log(&shape, FIRST_LSN - 1, LogOffset::tx_end(0), usize::MAX)
        .unwrap();
    let offs: Vec<String> = read.msgs.iter().map(|m| msg_offset(m).to_string()).collect();
    // The PK-changing update takes positions 0 and 1; the insert is at 2.
    assert_eq!(
        offs,
        vec![
            format!("{FIRST_LSN}_0"),
            format!("{}_0", FIRST_LSN + 1),
            format!("{}_1", FIRST_LSN + 1),
            format!("{}_2", FIRST_LSN + 1)
        ]
    );
    assert!(read.complete);
    assert_eq!(read.head, FIRST_LSN + 1);
    // Resuming mid-transaction only returns later positions.
    let read = s
        .read_log(
            &shape,
            FIRST_LSN - 1,
            LogOffset::new(FIRST_LSN + 1, 0),
            usize::MAX,
        )
        .unwrap();
    assert_eq!(read.msgs.len(), 2);
}

#[test]
fn errors_apply_nothing() {
    let s = store();
    let cases = [
        (r#"{"ops":[]}"#, "EDDY_SERVER_TX_MALFORMED"),
        (r#"[1]"#, "EDDY_SERVER_TX_MALFORMED"),
        (
            r#"{"ops":[{"op":"upsert","table":"todos","row":{}}]}"#,
            "EDDY_SERVER_TX_MALFORMED",
        ),
        (
            r#"{"ops":[{"op":"insert","table":"nope","row":{}}]}"#,
            "EDDY_SERVER_TX_UNKNOWN_TABLE",
        ),
        (
            r#"{"ops":[{"op":"insert","table":"todos","row":{"id":1,"x":1}}]}"#,
            "EDDY_SERVER_TX_UNKNOWN_COLUMN",
        ),
        (
            r#"{"ops":[{"op":"insert","table":"todos","row":{"id":"x"}}]}"#,
            "EDDY_SERVER_TX_TYPE_MISMATCH",
        ),
        (
            r#"{"ops":[{"op":"insert","table":"todos","row":{"title":"x","done":true}}]}"#,
            "EDDY_SERVER_TX_MISSING_PK",
        ),
        (
            r#"{"ops":[{"op":"update","table":"todos","row":{"id":9,"title":"x"}}]}"#,
            "EDDY_SERVER_TX_MISSING_ROW",
        ),
        (
            r#"{"ops":[{"op":"insert","table":"todos","row":{"id":1,"done":true}}]}"#,
            "EDDY_SERVER_TX_CONSTRAINT",
        ),
        (
            r#"{"ops":[{"op":"insert","table":"todos","row":{"id":1,"title":"a","done":true}},{"op":"insert","table":"todos","row":{"id":1,"title":"a","done":true}}]}"#,
            "EDDY_SERVER_TX_CONSTRAINT",
        ),
        (
            r#"{"ops":[{"op":"insert","table":"todo_labels","row":{"todo_id":1,"label_id":1}}]}"#,
            "EDDY_SERVER_TX_CONSTRAINT",
        ),
    ];
    for (body, code) in cases {
        use eddy::ErrorCode;
        assert_eq!(tx(&s, body).unwrap_err().code(), code, "{body}");
    }
    assert_eq!(s.head().unwrap(), FIRST_LSN - 1, "no transaction committed");
    // FK satisfied within one transaction regardless of order (deferred).
    tx(
        &s,
        r#"{"ops":[{"op":"insert","table":"todo_labels","row":{"todo_id":1,"label_id":1}},
                  {"op":"insert","table":"todos","row":{"id":1,"title":"a","done":false}},
                  {"op":"insert","table":"labels","row":{"id":1,"name":"x"}}]}"#,
    )
    .unwrap();
    // Deleting a referenced row fails at commit and leaves everything as it was.
    assert_eq!(
        eddy::ErrorCode::code(
            &tx(&s, r#"{"ops":[{"op":"delete","table":"labels","row":{"id":1}}]}"#).unwrap_err()
        ),
        "EDDY_SERVER_TX_CONSTRAINT"
    );
    assert_eq!(s.head().unwrap(), FIRST_LSN);
}

#[test]
fn snapshots_chunk_filter_and_persist() {
    let s = store();
    for i in 0..10 {
        let done = i % 2 == 0;
        tx(&s, &format!(r#"{{"ops":[{{"op":"insert","table":"todos","row":{{"id":{i},"title":"t{i}","done":{done}}}}}]}}"#))
            .unwrap();
    }
    let shape = todos(&s, Some("done"));
    let info = s.create_snapshot(&shape, "h-1", 300).unwrap();
    assert_eq!(info.snapshot_lsn, FIRST_LSN + 9);
    assert!(info.chunks > 1, "small chunks split the snapshot");
    let mut ids = Vec::new();
    for i in 0..info.chunks {
        let body = s.chunk("h-1", i).unwrap().unwrap();
        let msgs = eddy::protocol::parse_body(body.as_bytes()).unwrap();
        assert!(!msgs.is_empty());
        for m in msgs {
            if let eddy::protocol::Message::Change(c) = m {
                assert_eq!(c.headers.lsn, None);
                ids.push(c.value.get("id").flatten().unwrap().to_string());
            }
        }
    }
    assert_eq!(ids, vec!["0", "2", "4", "6", "8"]);
    assert_eq!(s.chunk("h-1", info.chunks).unwrap(), None);
    assert_eq!(s.shapes().unwrap().len(), 1);
    s.drop_shape("h-1").unwrap();
    assert!(s.shapes().unwrap().is_empty());
}

#[test]
fn log_reads_stop_at_byte_limit_on_transaction_boundaries_and_see_truncates() {
    let s = store();
    for i in 0..5 {
        tx(&s, &format!(r#"{{"ops":[{{"op":"insert","table":"todos","row":{{"id":{i},"title":"t","done":true}}}},{{"op":"update","table":"todos","row":{{"id":{i},"title":"u"}}}}]}}"#))
            .unwrap();
    }
    let shape = todos(&s, None);
    let read = s
        .read_log(&shape, FIRST_LSN - 1, LogOffset::tx_end(0), 10)
        .unwrap();
    assert!(!read.complete);
    assert_eq!(read.msgs.len(), 2, "one whole transaction even over the limit");
    assert!(read.msgs[1].headers.last && !read.msgs[0].headers.last);
    tx(&s, r#"{"ops":[{"op":"truncate","table":"todos"}]}"#).unwrap();
    let read = s
        .read_log(&shape, FIRST_LSN - 1, LogOffset::tx_end(0), usize::MAX)
        .unwrap();
    assert!(read.truncated);
}

#[test]
fn log_end_scans_backwards_to_the_shapes_last_message() {
    let s = store();
    let shape = todos(&s, Some("done"));
    assert_eq!(
        s.log_end(&shape, FIRST_LSN - 1).unwrap(),
        (None, false, FIRST_LSN - 1)
    );
    tx(&s, r#"{"ops":[{"op":"insert","table":"todos","row":{"id":1,"title":"a","done":true}},{"op":"update","table":"todos","old_key":{"id":1},"row":{"id":2}}]}"#).unwrap();
    for i in 10..700 {
        // Many later entries that do not touch the shape (done = false), beyond one batch.
        tx(
            &s,
            &format!(
                r#"{{"ops":[{{"op":"insert","table":"todos","row":{{"id":{i},"title":"x","done":false}}}}]}}"#
            ),
        )
        .unwrap();
    }
    let (last, truncated, head) = s.log_end(&shape, FIRST_LSN - 1).unwrap();
    assert_eq!(
        last,
        Some(LogOffset::new(FIRST_LSN, 2)),
        "the insert half of the PK change"
    );
    assert!(!truncated);
    assert_eq!(head, FIRST_LSN + 690);
    // Same answer as reading the whole log forwards.
    let read = s
        .read_log(&shape, FIRST_LSN - 1, LogOffset::tx_end(0), usize::MAX)
        .unwrap();
    assert_eq!(read.msgs.last().map(msg_offset), last);
    tx(&s, r#"{"ops":[{"op":"truncate","table":"todos"}]}"#).unwrap();
    assert!(s.log_end(&shape, FIRST_LSN - 1).unwrap().1);
}
