//! `GET /v1/shape` over real sockets: offsets, chunks, headers, live long-poll, cursors, 409s.

mod common;

use std::collections::BTreeMap;

use common::{materialize, sync, Server};
use serde_json::json;

const T: (&str, &str) = ("table", "todos");

#[test]
fn empty_table_answers_empty_chunk_then_up_to_date_at_0_inf() {
    let s = Server::start(&[]);
    let r = s.shape(&[T, ("offset", "-1")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "[]");
    assert_eq!(r.h("electric-offset"), "0_0");
    assert!(r.header("electric-up-to-date").is_none());
    assert!(r.header("electric-cursor").is_none());
    assert_eq!(
        r.h("cache-control"),
        "public, max-age=604800, s-maxage=3600, stale-while-revalidate=2629746"
    );
    assert_eq!(r.h("content-type"), "application/json");
    let schema: serde_json::Value = serde_json::from_str(r.h("electric-schema")).unwrap();
    assert_eq!(schema["id"], json!({"type":"int8","not_null":true,"pk_index":0}));
    assert_eq!(schema["tags"], json!({"type":"int4","dims":1}));
    assert_eq!(schema["created_at"], json!({"type":"timestamptz"}));
    let handle = r.h("electric-handle").to_string();
    let (hash, ts) = handle.split_once('-').expect("hash-ts handle");
    assert!(hash.parse::<u64>().is_ok() && ts.parse::<u64>().unwrap() > 1_700_000_000_000_000);

    let r2 = s.shape(&[T, ("offset", "0_0"), ("handle", &handle)]);
    assert_eq!(r2.status, 200);
    assert_eq!(r2.h("electric-offset"), "0_inf");
    assert_eq!(r2.msgs().len(), 1);
    assert!(r2.ends_up_to_date());
    assert_eq!(r2.header("electric-up-to-date"), Some(""));
    assert_eq!(r2.h("electric-has-data"), "false");
    assert_eq!(
        r2.h("cache-control"),
        "public, max-age=60, stale-while-revalidate=300"
    );
    assert!(r2.header("electric-schema").is_some());
    let lsn = r2.msgs()[0]["headers"]["global_last_seen_lsn"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(lsn.parse::<u64>().is_ok());
}

#[test]
fn snapshot_then_changes_materialise_to_the_table() {
    let s = Server::start(&[]);
    s.insert_todo(1, "a", false);
    s.insert_todo(2, "b", true);
    let (handle, offset, msgs, _) = sync(&s, &[T]);
    assert_eq!(offset, "0_inf");
    assert_eq!(msgs.len(), 2);
    assert!(
        msgs.iter().all(|m| m["headers"].get("lsn").is_none()),
        "snapshot rows carry no lsn"
    );
    assert_eq!(msgs[0]["value"]["done"], "f");
    assert_eq!(msgs[0]["key"], "\"public\".\"todos\"/\"1\"");
    let mut map = BTreeMap::new();
    materialize(&mut map, &msgs);

    let lsn = s.write(json!({"ops":[
        {"op":"update","table":"todos","row":{"id":1,"title":"A"}},
        {"op":"delete","table":"todos","row":{"id":2}},
        {"op":"insert","table":"todos","row":{"id":3,"title":"c","done":false,"tags":[1,null],"meta":{"k":[true]},
         "created_at":"2024-05-06T07:08:09.5+02:00","score":1.25,"priority":7}}
    ]}));
    let r = s.shape(&[T, ("offset", &offset), ("handle", &handle)]);
    assert_eq!(r.status, 200);
    let ch = r.changes();
    assert_eq!(ch.len(), 3);
    assert_eq!(
        ch[0]["value"],
        json!({"id":"1","title":"A"}),
        "update carries PK + changed columns"
    );
    assert_eq!(ch[1]["value"], json!({"id":"2"}), "delete carries the PK");
    let v = &ch[2]["value"];
    assert_eq!(v["tags"], "{1,NULL}");
    assert_eq!(v["meta"], "{\"k\": [true]}");
    assert_eq!(v["created_at"], "2024-05-06 05:08:09.5+00");
    assert_eq!(v["score"], "1.25");
    assert_eq!(v["priority"], "7");
    for (i, m) in ch.iter().enumerate() {
        assert_eq!(m["headers"]["lsn"], lsn.as_str());
        assert_eq!(m["headers"]["op_position"], i as u64);
        assert_eq!(m["headers"]["relation"], json!(["public", "todos"]));
        assert_eq!(
            m["headers"].get("last").is_some(),
            i == 2,
            "last only on the final op"
        );
        assert!(m["headers"]["txids"][0].is_u64());
    }
    assert_eq!(r.h("electric-offset"), format!("{lsn}_2"));
    assert!(r.ends_up_to_date());
    assert_eq!(r.h("electric-has-data"), "true");
    materialize(&mut map, &ch);
    let ids: Vec<&String> = map.keys().collect();
    assert_eq!(
        ids,
        vec!["\"public\".\"todos\"/\"1\"", "\"public\".\"todos\"/\"3\""]
    );
    assert_eq!(map["\"public\".\"todos\"/\"1\""]["title"], "A");
    assert_eq!(map["\"public\".\"todos\"/\"1\""]["done"], "f");

    // Asking again at the new end: nothing new, same offset.
    let end = r.h("electric-offset").to_string();
    let r = s.shape(&[T, ("offset", &end), ("handle", &handle)]);
    assert_eq!(r.h("electric-offset"), end);
    assert_eq!(r.msgs().len(), 1);
}

#[test]
fn lsn_and_int8_values_beyond_2_pow_53_are_exact() {
    let s = Server::start(&[]);
    let lsn = s.write(json!({"ops":[{"op":"insert","table":"todos","row":{"id":9223372036854775807i64,"title":"max","done":true}}]}));
    assert!(lsn.parse::<u64>().unwrap() > (1u64 << 53));
    let (_, _, msgs, _) = sync(&s, &[T]);
    assert_eq!(msgs[0]["value"]["id"], "9223372036854775807");
}

#[test]
fn large_snapshots_are_chunked_and_boundaries_honoured() {
    let s = Server::start(&["--chunk-bytes", "2000"]);
    let ops: Vec<_> = (0..60)
        .map(|i| json!({"op":"insert","table":"todos","row":{"id":i,"title":format!("todo number {i}"),"done":i % 3 == 0}}))
        .collect();
    s.write(json!({ "ops": ops }));
    let r0 = s.shape(&[T, ("offset", "-1")]);
    assert_eq!(r0.h("electric-offset"), "0_0");
    let handle = r0.h("electric-handle").to_string();
    let r1 = s.shape(&[T, ("offset", "0_0"), ("handle", &handle)]);
    assert_eq!(r1.h("electric-offset"), "0_1");
    assert!(!r1.ends_up_to_date());
    assert!(!r1.changes().is_empty());
    let (_, offset, msgs, requests) = sync(&s, &[T]);
    assert_eq!(msgs.len(), 60);
    assert!(requests > 4, "several chunks: {requests}");
    assert_eq!(offset, "0_inf");
    let mut ids: Vec<i64> = msgs
        .iter()
        .map(|m| m["value"]["id"].as_str().unwrap().parse().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..60).collect::<Vec<_>>());
    // Beyond the last chunk is out of bounds.
    let r = s.shape(&[T, ("offset", "0_999"), ("handle", &handle)]);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["errors"]["offset"][0], "out of bounds for this shape");
}

#[test]
fn large_logs_are_chunked_on_transaction_boundaries() {
    let s = Server::start(&["--chunk-bytes", "1500"]);
    let (handle, mut offset, _, _) = sync(&s, &[T]);
    for i in 0..20 {
        s.write(json!({"ops":[
            {"op":"insert","table":"todos","row":{"id":i,"title":"x","done":false}},
            {"op":"update","table":"todos","row":{"id":i,"title":"y"}}
        ]}));
    }
    let mut total = 0;
    let mut responses = 0;
    loop {
        let r = s.shape(&[T, ("offset", &offset), ("handle", &handle)]);
        responses += 1;
        let ch = r.changes();
        assert_eq!(ch.len() % 2, 0, "whole transactions only");
        assert!(ch.last().is_none_or(|m| m["headers"]["last"] == true));
        total += ch.len();
        offset = r.h("electric-offset").to_string();
        if r.ends_up_to_date() {
            break;
        }
        assert!(responses < 100);
    }
    assert_eq!(total, 40);
    assert!(responses > 2, "the log was split: {responses}");
}

#[test]
fn live_long_poll_wakes_on_commit_and_times_out_with_a_new_cursor() {
    let s = Server::start(&[]);
    let (handle, offset, _, _) = sync(&s, &[T]);
    // Timeout: 200 [up-to-date], same offset, cursor present, no schema.
    let r = s.shape(&[
        T,
        ("offset", &offset),
        ("handle", &handle),
        ("live", "true"),
        ("cursor", ""),
    ]);
    assert_eq!(r.status, 200);
    assert_eq!(r.h("electric-offset"), offset);
    assert!(r.ends_up_to_date());
    assert_eq!(r.msgs().len(), 1);
    assert!(r.header("electric-schema").is_none());
    assert_eq!(
        r.h("cache-control"),
        "public, max-age=5, stale-while-revalidate=5"
    );
    assert_eq!(r.h("electric-has-data"), "false");
    let cursor = r.h("electric-cursor").to_string();
    assert!(cursor.parse::<u64>().is_ok());
    // Echoing the same cursor gets a different one (jitter when equal).
    let r2 = s.shape(&[
        T,
        ("offset", &offset),
        ("handle", &handle),
        ("live", "true"),
        ("cursor", &cursor),
    ]);
    assert_ne!(r2.h("electric-cursor"), cursor);

    // A write while a live request waits wakes it with the change.
    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            let s2 = &s;
            let mut got = Vec::new();
            let mut off = offset.clone();
            // Poll until the insert arrives (each poll may time out first).
            for _ in 0..50 {
                let r = s2.shape(&[
                    T,
                    ("offset", &off),
                    ("handle", &handle),
                    ("live", "true"),
                    ("cursor", "1"),
                ]);
                assert_eq!(r.status, 200);
                off = r.h("electric-offset").to_string();
                got.extend(r.changes());
                if !got.is_empty() {
                    break;
                }
            }
            got
        });
        s.insert_todo(5, "live", false);
        let got = waiter.join().unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0]["value"]["title"], "live");
    });
}

#[test]
fn a_write_to_another_table_does_not_answer_a_live_request_with_data() {
    let s = Server::start(&[]);
    let (handle, offset, _, _) = sync(&s, &[T]);
    s.write(json!({"ops":[{"op":"insert","table":"labels","row":{"id":1,"name":"x"}}]}));
    let r = s.shape(&[T, ("offset", &offset), ("handle", &handle), ("live", "true")]);
    assert_eq!(r.changes().len(), 0);
    assert_eq!(r.h("electric-offset"), offset);
}

#[test]
fn offset_now_skips_history() {
    let s = Server::start(&[]);
    s.insert_todo(1, "old", false);
    let r = s.shape(&[T, ("offset", "now"), ("log", "changes_only")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.msgs().len(), 1);
    assert!(r.ends_up_to_date());
    assert_eq!(r.h("electric-has-data"), "false");
    let handle = r.h("electric-handle").to_string();
    let offset = r.h("electric-offset").to_string();
    let lsn = s.insert_todo(2, "new", false);
    let r = s.shape(&[
        T,
        ("offset", &offset),
        ("handle", &handle),
        ("log", "changes_only"),
    ]);
    let ch = r.changes();
    assert_eq!(ch.len(), 1);
    assert_eq!(ch[0]["value"]["title"], "new");
    assert_eq!(r.h("electric-offset"), format!("{lsn}_0"));
    // changes_only has an empty snapshot.
    let r = s.shape(&[T, ("offset", "-1"), ("log", "changes_only")]);
    assert_eq!(r.body, "[]");
    // offset=now on a full shape after a change reports the shape's log end.
    let (h2, _, _, _) = sync(&s, &[T]);
    let lsn3 = s.insert_todo(3, "third", true);
    let r = s.shape(&[T, ("offset", "now")]);
    assert_eq!(r.h("electric-handle"), h2);
    assert_eq!(r.h("electric-offset"), format!("{lsn3}_0"));
}

#[test]
fn where_columns_and_replica_shape_the_log() {
    let s = Server::start(&[]);
    s.insert_todo(1, "a", false);
    s.insert_todo(2, "b", true);
    let def = [
        T,
        ("where", "done = $1"),
        ("params[1]", "false"),
        ("columns", "id,title"),
        ("replica", "full"),
    ];
    let (handle, offset, msgs, _) = sync(&s, &def);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["value"], json!({"id":"1","title":"a"}));
    s.write(json!({"ops":[
        {"op":"update","table":"todos","row":{"id":1,"title":"a2"}},
        {"op":"update","table":"todos","row":{"id":2,"done":false}},
        {"op":"update","table":"todos","row":{"id":1,"done":true}}
    ]}));
    let mut pairs = def.to_vec();
    pairs.push(("offset", &offset));
    pairs.push(("handle", &handle));
    let r = s.shape(&pairs);
    let ch = r.changes();
    assert_eq!(ch.len(), 3, "{ch:?}");
    assert_eq!(ch[0]["headers"]["operation"], "update");
    assert_eq!(ch[0]["value"], json!({"id":"1","title":"a2"}));
    assert_eq!(ch[0]["old_value"], json!({"title":"a"}));
    assert_eq!(ch[1]["headers"]["operation"], "insert", "row 2 entered the shape");
    assert_eq!(ch[1]["value"], json!({"id":"2","title":"b"}));
    assert_eq!(ch[2]["headers"]["operation"], "delete", "row 1 left the shape");
    assert_eq!(
        ch[2]["value"],
        json!({"id":"1","title":"a2"}),
        "full replica deletes carry the row"
    );
    // Different definitions get different handles.
    let (h_default, _, _, _) = sync(
        &s,
        &[
            T,
            ("where", "done = $1"),
            ("params[1]", "false"),
            ("columns", "id,title"),
        ],
    );
    assert_ne!(h_default, handle);
}

#[test]
fn primary_key_changes_are_delete_plus_insert() {
    let s = Server::start(&[]);
    s.insert_todo(1, "a", false);
    let (handle, offset, _, _) = sync(&s, &[T]);
    let lsn = s.write(json!({"ops":[{"op":"update","table":"todos","old_key":{"id":1},"row":{"id":10}}]}));
    let r = s.shape(&[T, ("offset", &offset), ("handle", &handle)]);
    let ch = r.changes();
    assert_eq!(ch.len(), 2);
    assert_eq!(ch[0]["headers"]["operation"], "delete");
    assert_eq!(ch[0]["headers"]["key_change_to"], "\"public\".\"todos\"/\"10\"");
    assert_eq!(ch[1]["headers"]["operation"], "insert");
    assert_eq!(ch[1]["headers"]["key_change_from"], "\"public\".\"todos\"/\"1\"");
    assert_eq!(ch[1]["value"]["title"], "a");
    assert_eq!(r.h("electric-offset"), format!("{lsn}_1"));
}

#[test]
fn handles_409() {
    let s = Server::start(&[]);
    let (handle, offset, _, _) = sync(&s, &[T]);
    // Unknown handle.
    let r = s.shape(&[T, ("offset", "0_inf"), ("handle", "123-456")]);
    assert_eq!(r.status, 409);
    assert_eq!(r.json(), json!([{"headers":{"control":"must-refetch"}}]));
    assert_eq!(
        r.h("electric-handle"),
        handle,
        "the current handle of the definition"
    );
    assert_eq!(r.h("cache-control"), "public, max-age=60, must-revalidate");
    // A handle used with another definition.
    let r = s.shape(&[T, ("where", "done"), ("offset", &offset), ("handle", &handle)]);
    assert_eq!(r.status, 409);
    assert_ne!(r.h("electric-handle"), handle);
    // DELETE rotates: 202, then the old handle is 409 with a new one.
    let d = s.delete_shape(&[T]);
    assert_eq!(d.status, 202);
    let r = s.shape(&[T, ("offset", &offset), ("handle", &handle)]);
    assert_eq!(r.status, 409);
    let new_handle = r.h("electric-handle").to_string();
    assert_ne!(new_handle, handle);
    let r = s.shape(&[T, ("offset", "-1")]);
    assert_eq!(r.h("electric-handle"), new_handle);
    // DELETE by handle; unknown handle is 404.
    assert_eq!(s.delete_shape(&[T, ("handle", &new_handle)]).status, 202);
    assert_eq!(s.delete_shape(&[T, ("handle", &new_handle)]).status, 404);
    assert_eq!(s.delete_shape(&[("table", "nope")]).status, 400);
}

#[test]
fn truncate_forces_409_including_a_waiting_live_request() {
    let s = Server::start(&["--long-poll-ms", "20000"]);
    s.insert_todo(1, "a", false);
    let (handle, offset, _, _) = sync(&s, &[T]);
    std::thread::scope(|scope| {
        let waiter =
            scope.spawn(|| s.shape(&[T, ("offset", &offset), ("handle", &handle), ("live", "true")]));
        // Whether the live request is already waiting or not, it must end in 409.
        s.write(json!({"ops":[{"op":"truncate","table":"todos"}]}));
        let r = waiter.join().unwrap();
        assert_eq!(r.status, 409, "{}", r.body);
        assert_ne!(r.h("electric-handle"), handle);
    });
    let (_, _, msgs, _) = sync(&s, &[T]);
    assert!(msgs.is_empty(), "the table is empty after truncate");
}

#[test]
fn a_live_request_ends_in_409_when_its_shape_is_deleted() {
    let s = Server::start(&["--long-poll-ms", "20000"]);
    let (handle, offset, _, _) = sync(&s, &[T]);
    std::thread::scope(|scope| {
        let waiter =
            scope.spawn(|| s.shape(&[T, ("offset", &offset), ("handle", &handle), ("live", "true")]));
        assert_eq!(s.delete_shape(&[T, ("handle", &handle)]).status, 202);
        assert_eq!(waiter.join().unwrap().status, 409);
    });
}

#[test]
fn etag_and_if_none_match() {
    let s = Server::start(&[]);
    s.insert_todo(1, "a", false);
    let r = s.shape(&[T, ("offset", "-1")]);
    let etag = r.h("etag").to_string();
    let handle = r.h("electric-handle");
    assert_eq!(etag, format!("\"{handle}:-1:0_0\""));
    let q = format!("/v1/shape?{}", common::query(&[T, ("offset", "-1")]));
    let r304 = s.get_with(&q, &[("if-none-match", &etag)]);
    assert_eq!(r304.status, 304);
    assert_eq!(r304.body, "");
    assert_eq!(r304.h("electric-handle"), handle);
    assert_eq!(s.get_with(&q, &[("if-none-match", "\"other\"")]).status, 200);
    // Empty responses get unique etags and never revalidate.
    let a = s.shape(&[T, ("offset", "0_0"), ("handle", handle)]);
    let b = s.shape(&[T, ("offset", "0_0"), ("handle", handle)]);
    assert_ne!(a.h("etag"), b.h("etag"));
}

#[test]
fn cors_health_and_unknown_routes() {
    let s = Server::start(&[]);
    let r = s.get_with("/v1/health", &[("origin", "http://example.test")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"status":"active"}));
    assert_eq!(r.h("access-control-allow-origin"), "http://example.test");
    let r = s.shape(&[T, ("offset", "-1")]);
    assert_eq!(r.h("access-control-allow-origin"), "*");
    assert_eq!(
        r.h("access-control-expose-headers"),
        "electric-cursor,electric-handle,electric-has-data,electric-offset,electric-schema,electric-up-to-date,electric-internal-known-error,retry-after"
    );
    let r = s.get("/nope");
    assert_eq!(r.status, 404);
    assert!(r.json()["message"].is_string());
    // Preflight.
    let r = s.options(
        "/v1/shape?table=todos&offset=-1",
        &[
            ("origin", "http://example.test"),
            ("access-control-request-method", "GET"),
        ],
    );
    assert_eq!(r.status, 204);
    assert_eq!(r.h("access-control-allow-origin"), "http://example.test");
    assert!(r.h("access-control-allow-headers").contains("if-none-match"));
    assert!(r.h("access-control-allow-methods").contains("GET"));
    // The headers a page asks for (an auth token, tracing) are allowed.
    let r = s.options(
        "/v1/shape?table=todos&offset=-1",
        &[
            ("origin", "http://example.test"),
            ("access-control-request-method", "GET"),
            ("access-control-request-headers", "authorization,x-trace"),
        ],
    );
    assert_eq!(r.status, 204);
    assert_eq!(
        r.h("access-control-allow-headers"),
        "if-none-match,traceparent,content-type,authorization,x-trace"
    );
    assert_eq!(s.options("/v1/tx", &[]).status, 204);
    // HEAD answers the GET headers without a body.
    let r = s.head(&format!("/v1/shape?{}", common::query(&[T, ("offset", "-1")])));
    assert_eq!(r.status, 200);
    assert_eq!(r.h("electric-offset"), "0_0");
    assert_eq!(r.body, "");
}

#[test]
fn parameter_errors_are_400_with_field_errors() {
    let s = Server::start(&[]);
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[T], "offset"),
        (&[T, ("offset", "abc")], "offset"),
        (&[T, ("offset", "1_x")], "offset"),
        (&[T, ("offset", "0_0")], "handle"),
        (&[T, ("offset", "-1"), ("live", "true")], "live"),
        (&[T, ("offset", "now"), ("live", "yes")], "live"),
        (
            &[T, ("offset", "0_0"), ("handle", "h"), ("live_sse", "true")],
            "live_sse",
        ),
        (&[("offset", "-1")], "table"),
        (&[("table", "nope"), ("offset", "-1")], "table"),
        (&[T, ("offset", "-1"), ("where", "nope = 1")], "where"),
        (&[T, ("offset", "-1"), ("where", "id = $1")], "params"),
        (&[T, ("offset", "-1"), ("columns", "title")], "columns"),
        (&[T, ("offset", "-1"), ("replica", "half")], "replica"),
        (&[T, ("offset", "-1"), ("log", "some")], "log"),
    ];
    for (pairs, field) in cases {
        let r = s.shape(pairs);
        assert_eq!(r.status, 400, "{pairs:?}: {}", r.body);
        let j = r.json();
        assert_eq!(j["message"], "Invalid request", "{pairs:?}");
        assert!(j["errors"][field][0].is_string(), "{pairs:?} → {j}");
        assert_eq!(r.h("cache-control"), "no-store");
    }
    // Unknown parameters are ignored.
    let r = s.shape(&[
        T,
        ("offset", "-1"),
        ("cache-buster", "x"),
        ("expired_handle", "1-2"),
    ]);
    assert_eq!(r.status, 200);
    // An offset beyond the log head is out of bounds.
    let (handle, _, _, _) = sync(&s, &[T]);
    let r = s.shape(&[T, ("offset", "99999999999999999999_0"), ("handle", &handle)]);
    assert_eq!(r.status, 400);
    let r = s.shape(&[T, ("offset", "18446744073709551615_0"), ("handle", &handle)]);
    assert_eq!(r.json()["errors"]["offset"][0], "out of bounds for this shape");
}

#[test]
fn live_connection_limit_answers_503_with_retry_after() {
    let s = Server::start(&["--max-live", "1"]);
    let (handle, offset, _, _) = sync(&s, &[T]);
    // An open SSE stream holds the only live slot (its headers arrive once it holds it).
    let (head, _stream) = s.sse(&[
        T,
        ("offset", &offset),
        ("handle", &handle),
        ("live", "true"),
        ("live_sse", "true"),
    ]);
    assert_eq!(head.status, 200);
    let r = s.shape(&[T, ("offset", &offset), ("handle", &handle), ("live", "true")]);
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.h("retry-after").parse::<u64>().unwrap() >= 1);
    assert_eq!(r.h("electric-internal-known-error"), "true");
    assert_eq!(r.json()["code"], "concurrent_request_limit_exceeded");
    // Non-live requests are not limited.
    assert_eq!(
        s.shape(&[T, ("offset", &offset), ("handle", &handle)]).status,
        200
    );
}

#[test]
fn the_oldest_shape_is_evicted_beyond_max_shapes() {
    let s = Server::start(&["--max-shapes", "2"]);
    let (h1, o1, _, _) = sync(&s, &[T]);
    let (h2, o2, _, _) = sync(&s, &[T, ("where", "done")]);
    let (_h3, _, _, _) = sync(&s, &[T, ("where", "NOT done")]);
    let r = s.shape(&[T, ("offset", &o1), ("handle", &h1)]);
    assert_eq!(r.status, 409, "the oldest shape was evicted");
    // Re-creating the first evicted the second.
    let r = s.shape(&[T, ("where", "done"), ("offset", &o2), ("handle", &h2)]);
    assert_eq!(r.status, 409);
}
