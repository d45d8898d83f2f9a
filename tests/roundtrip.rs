//! The captured session in `tests/fixtures/session.*` round-trips natively: each body parses,
//! the materializer exposes rows only at up-to-date, and after every step the rows equal the
//! hand-written expectation; the final rows then type through the schema header exactly as ref §5.

use eddy::log::Materializer;
use eddy::protocol::{parse_body, parse_row, Key, Parsers, Schema, Value};
use serde_json::Value as Json;

const BODIES: [&str; 4] = [
    include_str!("fixtures/session.0.json"),
    include_str!("fixtures/session.1.json"),
    include_str!("fixtures/session.2.json"),
    include_str!("fixtures/session.3.json"),
];
const SCHEMA: &str = include_str!("fixtures/session.schema.json");
const EXPECTED: &str = include_str!("fixtures/session.expected.json");

fn rows_as_json(m: &Materializer) -> Json {
    let mut out = serde_json::Map::new();
    for (k, row) in m.rows() {
        out.insert(k.as_str().to_string(), serde_json::to_value(row).unwrap());
    }
    Json::Object(out)
}

#[test]
fn session_materializes_to_the_expected_rows_after_every_step() {
    let expected: Json = serde_json::from_str(EXPECTED).unwrap();
    let mut m = Materializer::new();
    for (i, body) in BODIES.iter().enumerate() {
        let committed = m.ingest(parse_body(body.as_bytes()).unwrap());
        let want = &expected["after_step"][i.to_string()];
        if want.is_null() {
            assert!(
                committed.is_none(),
                "step {i} has no up-to-date: nothing may be exposed"
            );
            assert!(m.is_empty());
        } else {
            assert!(committed.is_some(), "step {i} ends in up-to-date");
            assert_eq!(rows_as_json(&m), *want, "rows after step {i}");
        }
    }
}

#[test]
fn final_rows_type_through_the_schema() {
    let schema = Schema::from_header(SCHEMA.trim()).unwrap();
    let mut m = Materializer::new();
    for body in BODIES {
        m.ingest(parse_body(body.as_bytes()).unwrap());
    }
    let parsers = Parsers::default();
    let typed = |key: &str| -> Vec<(String, Value)> {
        let row = m.get(&Key::from(key)).unwrap();
        parse_row(&schema, row, &parsers)
            .unwrap()
            .into_iter()
            .map(|(c, v)| (c.to_string(), v))
            .collect()
    };
    let get = |row: &[(String, Value)], col: &str| row.iter().find(|(c, _)| c == col).unwrap().1.clone();

    let one = typed(r#""public"."todos"/"1""#);
    assert_eq!(get(&one, "id"), Value::BigInt(1));
    assert_eq!(get(&one, "done"), Value::Bool(true));
    assert_eq!(get(&one, "n"), Value::Int(3));
    assert_eq!(get(&one, "score"), Value::Float(1.5));
    assert_eq!(get(&one, "meta"), Value::Json(serde_json::json!({"prio": 1})));
    assert_eq!(
        get(&one, "tags"),
        Value::Array(vec![
            Value::Text("home".into()),
            Value::Text("NULL".into()),
            Value::Null
        ])
    );
    assert_eq!(
        get(&one, "created_at"),
        Value::Text("2026-11-01 09:00:00+00".into())
    );

    let thirty = typed(r#""public"."todos"/"30""#);
    assert_eq!(get(&thirty, "id"), Value::BigInt(30));
    assert_eq!(get(&thirty, "n"), Value::Int(i32::MIN));
    assert_eq!(get(&thirty, "score"), Value::Float(f64::NEG_INFINITY));
    let nested = |a: &str, b: &str| Value::Array(vec![Value::Text(a.into()), Value::Text(b.into())]);
    assert_eq!(
        get(&thirty, "tags"),
        Value::Array(vec![nested("a", "b"), nested("c", "d")])
    );

    // The deleted row is gone, and the big-id row moved to its new key.
    assert!(m.get(&Key::from(r#""public"."todos"/"2""#)).is_none());
    assert!(m
        .get(&Key::from(r#""public"."todos"/"9223372036854775807""#))
        .is_none());
}

#[test]
fn the_max_int8_snapshot_row_types_exactly() {
    let schema = Schema::from_header(SCHEMA.trim()).unwrap();
    let mut m = Materializer::new();
    m.ingest(parse_body(BODIES[0].as_bytes()).unwrap());
    m.ingest(parse_body(BODIES[1].as_bytes()).unwrap());
    let row = m
        .get(&Key::from(r#""public"."todos"/"9223372036854775807""#))
        .unwrap();
    let typed = parse_row(&schema, row, &Parsers::default()).unwrap();
    assert_eq!(typed[0].1, Value::BigInt(i64::MAX));
    let two = m.get(&Key::from(r#""public"."todos"/"2""#)).unwrap();
    let typed = parse_row(&schema, two, &Parsers::default()).unwrap();
    assert!(matches!(typed[4].1, Value::Float(f) if f.is_nan()));
    assert_eq!(typed[3].1, Value::Null);
}
