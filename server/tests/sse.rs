//! Live SSE (`live_sse=true`): framing, catch-up, live changes, keep-alives and stream end.

mod common;

use std::io::BufRead;

use common::{sync, Server};
use serde_json::{json, Value as Json};

const T: (&str, &str) = ("table", "todos");

/// Read events until (and including) the next up-to-date; returns the messages and how many
/// keep-alive comments were seen.
fn until_up_to_date(r: &mut dyn BufRead) -> (Vec<Json>, usize) {
    let mut msgs = Vec::new();
    let mut pings = 0;
    let mut line = String::new();
    loop {
        line.clear();
        let n = r.read_line(&mut line).expect("read event");
        assert!(n > 0, "stream ended before up-to-date");
        let l = line.trim_end_matches('\n');
        if let Some(data) = l.strip_prefix("data: ") {
            let m: Json = serde_json::from_str(data).expect("one JSON object per event");
            assert!(
                eddy::protocol::parse_event(data.as_bytes()).is_ok(),
                "the eddy core parses {data}"
            );
            assert!(m.is_object());
            let done = m["headers"]["control"] == "up-to-date";
            msgs.push(m);
            if done {
                return (msgs, pings);
            }
        } else if l.starts_with(':') {
            pings += 1;
        } else {
            assert_eq!(l, "", "unexpected line {l:?}");
        }
    }
}

#[test]
fn sse_streams_changes_then_up_to_date() {
    let s = Server::start(&["--sse-keepalive-ms", "50", "--sse-timeout-ms", "3000"]);
    s.insert_todo(1, "a", false);
    let (handle, offset, _, _) = sync(&s, &[T]);
    let (head, mut stream) = s.sse(&[
        T,
        ("offset", &offset),
        ("handle", &handle),
        ("live", "true"),
        ("live_sse", "true"),
        ("experimental_live_sse", "true"),
        ("cursor", ""),
    ]);
    assert_eq!(head.status, 200);
    assert_eq!(head.h("content-type"), "text/event-stream");
    assert_eq!(head.h("cache-control"), "public, max-age=59");
    assert_eq!(head.h("electric-handle"), handle);
    assert!(head.h("electric-cursor").parse::<u64>().is_ok());
    assert!(head.header("electric-schema").is_none());
    // Caught up: an up-to-date right away.
    let (msgs, _) = until_up_to_date(&mut stream);
    assert_eq!(msgs.len(), 1);
    // A commit arrives as change events followed by up-to-date.
    let lsn = s.write(json!({"ops":[
        {"op":"insert","table":"todos","row":{"id":2,"title":"b","done":false}},
        {"op":"update","table":"todos","row":{"id":1,"done":true}}
    ]}));
    let (msgs, _) = until_up_to_date(&mut stream);
    assert_eq!(msgs.len(), 3);
    assert_eq!(msgs[0]["headers"]["operation"], "insert");
    assert_eq!(msgs[1]["value"], json!({"id":"1","done":"t"}));
    assert_eq!(msgs[1]["headers"]["last"], true);
    assert_eq!(msgs[2]["headers"]["global_last_seen_lsn"], lsn.as_str());
    // Idle: keep-alive comments, then the stream ends after the SSE timeout.
    let mut pings = 0;
    let mut line = String::new();
    loop {
        line.clear();
        if stream.read_line(&mut line).expect("read") == 0 {
            break;
        }
        if line.starts_with(": keep-alive") {
            pings += 1;
        }
    }
    assert!(pings >= 1, "keep-alives while idle");
}

#[test]
fn sse_resumes_from_the_ts_style_lsn_offset() {
    let s = Server::start(&["--sse-timeout-ms", "3000"]);
    let (handle, _, _, _) = sync(&s, &[T]);
    let lsn1 = s.insert_todo(1, "a", false);
    s.insert_todo(2, "b", false);
    // The TS client resumes SSE at `<global_last_seen_lsn>_0`.
    let off = format!("{lsn1}_0");
    let (head, mut stream) = s.sse(&[
        T,
        ("offset", &off),
        ("handle", &handle),
        ("live", "true"),
        ("live_sse", "true"),
    ]);
    assert_eq!(head.status, 200);
    let (msgs, _) = until_up_to_date(&mut stream);
    assert_eq!(msgs.len(), 2, "only the change after {off}");
    assert_eq!(msgs[0]["value"]["id"], "2");
}

#[test]
fn sse_errors_are_plain_responses() {
    let s = Server::start(&[]);
    let (handle, offset, _, _) = sync(&s, &[T]);
    let r = s.shape(&[T, ("offset", &offset), ("handle", &handle), ("live_sse", "true")]);
    assert_eq!(r.status, 400);
    let (r, _) = s.sse(&[
        T,
        ("offset", &offset),
        ("handle", "1-1"),
        ("live", "true"),
        ("live_sse", "true"),
    ]);
    assert_eq!(r.status, 409);
    let (r, _) = s.sse(&[
        T,
        ("offset", "99999999999999999_0"),
        ("handle", &handle),
        ("live", "true"),
        ("live_sse", "true"),
    ]);
    assert_eq!(r.status, 400);
}

#[test]
fn sse_stream_ends_when_the_shape_is_deleted() {
    let s = Server::start(&[]);
    let (handle, offset, _, _) = sync(&s, &[T]);
    let (_, mut stream) = s.sse(&[
        T,
        ("offset", &offset),
        ("handle", &handle),
        ("live", "true"),
        ("live_sse", "true"),
    ]);
    until_up_to_date(&mut stream);
    assert_eq!(s.delete_shape(&[T]).status, 202);
    let mut rest = String::new();
    let mut line = String::new();
    while stream.read_line(&mut line).expect("read") > 0 {
        rest.push_str(&line);
        line.clear();
    }
    assert!(!rest.contains("data:"), "no data after deletion: {rest:?}");
    let r = s.shape(&[T, ("offset", &offset), ("handle", &handle), ("live", "true")]);
    assert_eq!(r.status, 409);
}
