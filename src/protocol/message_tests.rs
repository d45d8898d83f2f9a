//! Unit tests of message parsing (`src/protocol/message.rs`).

use super::*;

const LIVE_INSERT: &str = r#"{"key":"\"public\".\"issues\"/\"42\"","value":{"id":"42","title":"x","n":null},"headers":{"operation":"insert","relation":["public","issues"],"lsn":"27344208","op_position":0,"txids":[1021],"last":true}}"#;

#[test]
fn parses_the_reference_live_insert() {
    let Some(Message::Change(c)) = parse_event(LIVE_INSERT.as_bytes()).unwrap() else {
        panic!()
    };
    assert_eq!(c.key.as_str(), r#""public"."issues"/"42""#);
    assert_eq!(c.operation, Operation::Insert);
    assert_eq!(c.value.get("n"), Some(None));
    assert_eq!(c.headers.lsn, Some(27344208));
    assert_eq!(c.headers.op_position, Some(0));
    assert_eq!(c.headers.txids, vec![1021]);
    assert!(c.headers.last);
    assert_eq!(
        c.headers.relation.as_ref().map(|r| (&*r[0], &*r[1])),
        Some(("public", "issues"))
    );
}

#[test]
fn serialize_round_trips() {
    let msg = parse_event(LIVE_INSERT.as_bytes()).unwrap().unwrap();
    let text = serde_json::to_string(&msg).unwrap();
    assert_eq!(parse_event(text.as_bytes()).unwrap().unwrap(), msg);
    let ctl = r#"[{"headers":{"control":"up-to-date","global_last_seen_lsn":"99"}},{"headers":{"control":"must-refetch"}},{"headers":{"control":"snapshot-end","xmin":"1","xmax":"5","xip_list":["2","3"],"snapshot_mark":7,"database_lsn":"100"}},{"headers":{"event":"move-out","patterns":[{"pos":0,"value":"abc"}],"txids":[4]}}]"#;
    let msgs = parse_body(ctl.as_bytes()).unwrap();
    assert_eq!(msgs.len(), 4);
    let again = serde_json::to_string(&msgs).unwrap();
    assert_eq!(parse_body(again.as_bytes()).unwrap(), msgs);
    assert_eq!(again, ctl);
}

#[test]
fn all_change_headers() {
    let body = r#"[
      {"key":"k1","value":{"id":"1"},"headers":{"operation":"delete","relation":["public","t"],"lsn":"5","op_position":0,"txids":[9],"key_change_to":"k2"}},
      {"key":"k2","value":{"id":"2","x":"y"},"headers":{"operation":"insert","relation":["public","t"],"lsn":"5","op_position":1,"txids":["9"],"last":true,"key_change_from":"k1"}},
      {"key":"k3","value":{"id":"3"},"old_value":{"x":"old"},"headers":{"operation":"update","tags":["a/1"],"removed_tags":["b/1"],"active_conditions":[true,false],"is_move_in":true,"snapshot_mark":3,"future_field":{"x":1}}}
    ]"#;
    let msgs = parse_body(body.as_bytes()).unwrap();
    let [Message::Change(a), Message::Change(b), Message::Change(c)] = &msgs[..] else {
        panic!()
    };
    assert_eq!(a.headers.key_change_to, Some(Key::from("k2")));
    assert_eq!(b.headers.key_change_from, Some(Key::from("k1")));
    assert_eq!(b.headers.txids, vec![9]);
    assert_eq!(c.old_value.as_ref().unwrap().get("x"), Some(Some("old")));
    assert_eq!(c.headers.tags, vec!["a/1"]);
    assert_eq!(c.headers.removed_tags, vec!["b/1"]);
    assert_eq!(c.headers.active_conditions, vec![true, false]);
    assert!(c.headers.is_move_in);
    assert_eq!(c.headers.snapshot_mark, Some(3));
    assert_eq!(c.headers.lsn, None);
}

#[test]
fn unknown_kinds_are_ignored_never_fatal() {
    let body = r#"[{"headers":{"control":"something-new","x":1}},{"headers":{"event":"teleport"}},{"headers":{"whatever":true}},{"headers":{"control":"up-to-date"}}]"#;
    assert_eq!(
        parse_body(body.as_bytes()).unwrap(),
        vec![Message::up_to_date(None)]
    );
    assert_eq!(parse_event(br#"{"headers":{"control":"new"}}"#).unwrap(), None);
}

#[test]
fn errors_are_typed() {
    let truncated = &LIVE_INSERT.as_bytes()[..40];
    assert_eq!(parse_event(truncated).unwrap_err().code(), "EDDY_MESSAGE_JSON");
    assert_eq!(parse_body(b"{}").unwrap_err().code(), "EDDY_MESSAGE_MALFORMED");
    assert_eq!(parse_body(b"[1]").unwrap_err().code(), "EDDY_MESSAGE_MALFORMED");
    let e = parse_body(
        br#"[{"headers":{"control":"up-to-date"}},{"key":"k","value":{},"headers":{"operation":"upsert"}}]"#,
    )
    .unwrap_err();
    assert_eq!(
        e,
        MessageError::Malformed {
            index: 1,
            reason: "unknown operation \"upsert\"".into()
        }
    );
    assert_eq!(
        parse_body(br#"[{"headers":{"operation":"insert"}}]"#)
            .unwrap_err()
            .code(),
        "EDDY_MESSAGE_MALFORMED"
    );
    assert_eq!(
        parse_body(br#"[{"key":"k","headers":{"operation":"insert","lsn":"x"}}]"#)
            .unwrap_err()
            .code(),
        "EDDY_MESSAGE_MALFORMED"
    );
    assert!(parse_body(b"").is_err());
    assert_eq!(parse_body(b"[]").unwrap(), vec![]);
}
