//! Browser tests: run inside headless Chromium by wasm-bindgen-test-runner
//! (`cargo test --target wasm32-unknown-unknown --test browser`).
#![cfg(target_arch = "wasm32")]

use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const BODY: &str = r#"[{"key":"\"public\".\"issues\"/\"42\"","value":{"id":"42","title":"x","n":null},"headers":{"operation":"insert","relation":["public","issues"],"lsn":"27344208","op_position":0,"txids":[1021],"last":true}},{"headers":{"control":"up-to-date","global_last_seen_lsn":"27344208"}}]"#;

#[wasm_bindgen_test]
fn parses_a_shape_log_body_in_the_browser() {
    assert!(web_sys_window_exists(), "must run in a browser page");
    let mut log = eddy::web::ShapeLog::new();
    assert_eq!(log.ingest(BODY.as_bytes()).unwrap(), 2);
    assert_eq!(log.size(), 2);
}

#[wasm_bindgen_test]
fn malformed_body_is_a_js_error_with_a_code() {
    let mut log = eddy::web::ShapeLog::new();
    let err = log.ingest(&BODY.as_bytes()[..50]).unwrap_err();
    let err: js_sys::Error = err.into();
    assert_eq!(String::from(err.name()), "ProtocolError");
    let code = js_sys::Reflect::get(&err, &JsValue::from_str("code")).unwrap();
    assert_eq!(code.as_string().as_deref(), Some("EDDY_MESSAGE_JSON"));
    assert_eq!(log.size(), 0);
}

fn web_sys_window_exists() -> bool {
    js_sys::Reflect::has(&js_sys::global(), &JsValue::from_str("document")).unwrap_or(false)
}
