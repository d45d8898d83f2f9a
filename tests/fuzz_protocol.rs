//! Property "fuzz" tests for the offset parser and the message parsers (long-poll bodies and SSE
//! events). `EDDY_FUZZ_CASES` cases per property (default 2000). Nothing may panic on any input;
//! generated offsets and messages must round-trip exactly through their wire forms.

use eddy::protocol::{
    parse_body, parse_event, ChangeHeaders, ChangeMessage, ControlMessage, Key, LogOffset, Message, Offset,
    OpOffset, Operation, Row,
};
use eddy::ErrorCode;
use proptest::prelude::*;

mod fuzz_support;

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(fuzz_support::cases(2000))
}

fn offsetish() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::string::string_regex("[-0-9_infow+ ]{0,24}").unwrap(),
        proptest::string::string_regex("[0-9]{1,22}_([0-9]{1,22}|inf)").unwrap(),
        any::<String>(),
    ]
}

fn log_offset() -> impl Strategy<Value = LogOffset> {
    (
        any::<u64>(),
        prop_oneof![any::<u64>().prop_map(OpOffset::At), Just(OpOffset::Inf)],
    )
        .prop_map(|(tx, op)| LogOffset { tx, op })
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::string::string_regex(r#"[a-z0-9 "\\/{},é]{0,10}"#).unwrap(),
        any::<String>()
    ]
}

fn row() -> impl Strategy<Value = Row> {
    proptest::collection::vec(
        (
            proptest::string::string_regex("[a-z_ \"]{1,6}").unwrap(),
            proptest::option::of(text()),
        ),
        0..5,
    )
    .prop_map(|cols| Row::from_pairs(cols.iter().map(|(c, v)| (c.as_str(), v.as_deref()))))
}

fn change() -> impl Strategy<Value = Message> {
    (
        text(),
        prop_oneof![
            Just(Operation::Insert),
            Just(Operation::Update),
            Just(Operation::Delete)
        ],
        row(),
        proptest::option::of(row()),
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<u64>()),
        proptest::collection::vec(any::<u64>(), 0..2),
        any::<bool>(),
        proptest::option::of(text()),
        proptest::collection::vec(text(), 0..2),
    )
        .prop_map(
            |(key, operation, value, old_value, lsn, op_position, txids, last, kc, tags)| {
                Message::Change(ChangeMessage {
                    key: Key::new(key.as_str()),
                    operation,
                    value,
                    old_value,
                    headers: ChangeHeaders {
                        relation: None,
                        lsn,
                        op_position,
                        txids,
                        last,
                        key_change_to: kc.map(|k| Key::new(k.as_str())),
                        tags,
                        ..ChangeHeaders::default()
                    },
                })
            },
        )
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        4 => change(),
        1 => proptest::option::of(any::<u64>()).prop_map(Message::up_to_date),
        1 => Just(Message::Control(ControlMessage::MustRefetch)),
    ]
}

/// JSON-ish bytes: brackets, quotes and header words, so the parser goes deep before failing.
fn jsonish() -> impl Strategy<Value = Vec<u8>> {
    let tokens = prop_oneof![
        Just("[".to_string()),
        Just("]".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just(",".to_string()),
        Just(":".to_string()),
        Just("\"headers\"".to_string()),
        Just("\"key\"".to_string()),
        Just("\"value\"".to_string()),
        Just("\"operation\"".to_string()),
        Just("\"insert\"".to_string()),
        Just("\"control\"".to_string()),
        Just("\"up-to-date\"".to_string()),
        Just("\"lsn\"".to_string()),
        Just("null".to_string()),
        Just("1".to_string()),
        Just("\"x\"".to_string()),
        Just("true".to_string()),
        Just("-1e999".to_string()),
        Just("\"\\ud800\"".to_string()),
    ];
    proptest::collection::vec(tokens, 0..40).prop_map(|t| t.concat().into_bytes())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn offset_parser_never_panics_and_errors_are_typed(s in offsetish()) {
        match Offset::parse(&s) {
            Ok(o) => {
                // Whatever parses formats to a canonical form that parses to the same offset.
                prop_assert_eq!(Offset::parse(&o.to_string()).unwrap(), o);
            }
            Err(e) => prop_assert!(e.code().starts_with("EDDY_OFFSET_")),
        }
    }

    #[test]
    fn log_offsets_round_trip_and_order_like_their_parts(a in log_offset(), b in log_offset()) {
        let (pa, pb) = (Offset::parse(&a.to_string()).unwrap(), Offset::parse(&b.to_string()).unwrap());
        prop_assert_eq!(pa, Offset::Log(a));
        prop_assert_eq!(pa.partial_cmp(&pb), Some(a.cmp(&b)));
        prop_assert!(Offset::BeforeAll < pa);
        prop_assert_eq!(Offset::Now.partial_cmp(&pa), None);
    }

    #[test]
    fn body_parser_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Err(e) = parse_body(&bytes) { prop_assert!(e.code().starts_with("EDDY_MESSAGE_")) }
        if let Err(e) = parse_event(&bytes) { prop_assert!(e.code().starts_with("EDDY_MESSAGE_")) }
    }

    #[test]
    fn body_parser_never_panics_on_jsonish_input(bytes in jsonish()) {
        let _ = parse_body(&bytes);
        let _ = parse_event(&bytes);
    }

    #[test]
    fn generated_messages_round_trip_through_the_wire(msgs in proptest::collection::vec(message(), 0..8)) {
        let body = serde_json::to_vec(&msgs).unwrap();
        prop_assert_eq!(&parse_body(&body).unwrap(), &msgs);
        for m in &msgs {
            let one = serde_json::to_vec(m).unwrap();
            let back = parse_event(&one).unwrap();
            prop_assert_eq!(back.as_ref(), Some(m));
        }
    }

    #[test]
    fn truncated_bodies_are_errors_not_partial_batches(msgs in proptest::collection::vec(message(), 1..6), cut in any::<proptest::sample::Index>()) {
        let body = serde_json::to_vec(&msgs).unwrap();
        let at = cut.index(body.len());
        // Any strict prefix of a JSON array is invalid JSON: never a shorter, "valid" batch.
        prop_assert!(parse_body(&body[..at]).is_err());
    }
}
