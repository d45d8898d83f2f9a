//! Browser tests: run inside headless Chromium by wasm-bindgen-test-runner
//! (`cargo test --target wasm32-unknown-unknown --test browser`). The captured session of
//! `tests/fixtures` is parsed, materialized and typed inside the page, through the same
//! `ShapeLog` binding JS uses.
#![cfg(target_arch = "wasm32")]

use eddy::web::ShapeLog;
use js_sys::Reflect;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const BODIES: [&str; 4] = [
    include_str!("fixtures/session.0.json"),
    include_str!("fixtures/session.1.json"),
    include_str!("fixtures/session.2.json"),
    include_str!("fixtures/session.3.json"),
];
const SCHEMA: &str = include_str!("fixtures/session.schema.json");

fn prop(o: &JsValue, k: &str) -> JsValue {
    Reflect::get(o, &JsValue::from_str(k)).unwrap()
}

fn in_a_page() -> bool {
    Reflect::has(&js_sys::global(), &JsValue::from_str("document")).unwrap_or(false)
}

#[wasm_bindgen_test]
fn session_round_trips_inside_chromium() {
    assert!(in_a_page(), "must run in a browser page");
    let mut log = ShapeLog::new();
    log.set_schema(SCHEMA.trim()).unwrap();
    assert!(!log.ingest(BODIES[0].as_bytes()).unwrap(), "no up-to-date yet");
    assert_eq!(log.size(), 0, "nothing exposed before up-to-date");
    assert!(log.ingest(BODIES[1].as_bytes()).unwrap());
    assert_eq!(log.size(), 3);

    let big = log.get(r#""public"."todos"/"9223372036854775807""#).unwrap();
    let id = prop(&big, "id");
    assert!(id.is_bigint(), "int8 arrives as BigInt");
    assert_eq!(id, JsValue::from(js_sys::BigInt::from(i64::MAX)));
    assert_eq!(prop(&big, "score").as_f64(), Some(f64::NEG_INFINITY));

    assert!(log.ingest(BODIES[2].as_bytes()).unwrap());
    assert!(log.ingest(BODIES[3].as_bytes()).unwrap());
    assert_eq!(log.size(), 3);
    assert!(log.get(r#""public"."todos"/"2""#).unwrap().is_undefined());

    let one = log.get(r#""public"."todos"/"1""#).unwrap();
    assert_eq!(prop(&one, "done"), JsValue::TRUE);
    assert_eq!(prop(&one, "n").as_f64(), Some(3.0));
    assert_eq!(prop(&prop(&one, "meta"), "prio").as_f64(), Some(1.0));
    let tags: js_sys::Array = prop(&one, "tags").dyn_into().unwrap();
    assert_eq!(tags.length(), 3);
    assert_eq!(tags.get(0).as_string().as_deref(), Some("home"));
    assert_eq!(
        tags.get(1).as_string().as_deref(),
        Some("NULL"),
        "quoted \"NULL\" is text"
    );
    assert!(tags.get(2).is_null(), "unquoted NULL is null");

    let thirty = log.get(r#""public"."todos"/"30""#).unwrap();
    assert_eq!(
        prop(&thirty, "title").as_string().as_deref(),
        Some("big id"),
        "PK change keeps columns"
    );
    let rows = log.rows().unwrap();
    assert_eq!(rows.length(), 3);
}

#[wasm_bindgen_test]
fn malformed_body_is_a_js_error_with_a_code_and_applies_nothing() {
    let mut log = ShapeLog::new();
    let err = log.ingest(&BODIES[2].as_bytes()[..50]).unwrap_err();
    let err: js_sys::Error = err.into();
    assert_eq!(String::from(err.name()), "ProtocolError");
    assert_eq!(
        prop(&err, "code").as_string().as_deref(),
        Some("EDDY_MESSAGE_JSON")
    );
    assert_eq!(log.size(), 0);
}

#[wasm_bindgen_test]
fn not_null_violation_is_a_parser_null_value_error() {
    let mut log = ShapeLog::new();
    log.set_schema(SCHEMA.trim()).unwrap();
    let body = r#"[{"key":"k","value":{"id":"1","title":null,"done":"t"},"headers":{"operation":"insert"}},{"headers":{"control":"up-to-date"}}]"#;
    assert!(log.ingest(body.as_bytes()).unwrap());
    let err: js_sys::Error = log.rows().unwrap_err().into();
    assert_eq!(String::from(err.name()), "ParserNullValueError");
    assert_eq!(
        prop(&err, "code").as_string().as_deref(),
        Some("EDDY_VALUE_NULL_IN_NOT_NULL")
    );
    let bad_schema: js_sys::Error = log.set_schema("[1]").unwrap_err().into();
    assert!(prop(&bad_schema, "code")
        .as_string()
        .unwrap()
        .starts_with("EDDY_SCHEMA_"));
}
