//! Static files (`--www`) and fault injection (`--faults`).

mod common;

use std::collections::BTreeMap;

use common::{materialize, query, temp_path, Server};
use serde_json::json;

#[test]
fn static_files_are_served_from_the_www_directory_only() {
    let dir = temp_path("www");
    std::fs::create_dir_all(dir.join("pkg")).unwrap();
    std::fs::write(dir.join("index.html"), "<h1>demo</h1>").unwrap();
    std::fs::write(dir.join("pkg/eddy_bg.wasm"), b"\0asm").unwrap();
    let s = Server::start(&["--www", &dir.to_string_lossy()]);
    let r = s.get("/");
    assert_eq!((r.status, r.body.as_str()), (200, "<h1>demo</h1>"));
    assert!(r.h("content-type").starts_with("text/html"));
    let r = s.get("/pkg/eddy_bg.wasm");
    assert_eq!(r.h("content-type"), "application/wasm");
    assert_eq!(s.get("/nope.js").status, 404);
    assert_eq!(s.get("/%2e%2e/%2e%2e/etc/passwd").status, 404);
    assert_eq!(s.get("/pkg%2f..%2f..%2fx").status, 404);
    // The API is not shadowed.
    assert_eq!(s.get("/v1/health").json(), json!({"status":"active"}));
    assert_eq!(s.get("/v1/unknown").status, 404);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_www_unknown_paths_are_404() {
    let s = Server::start(&[]);
    assert_eq!(s.get("/index.html").status, 404);
}

#[test]
fn faults_are_injected_and_a_retrying_client_still_converges() {
    let s = Server::start(&["--faults", "7:0.4", "--chunk-bytes", "400"]);
    let ops: Vec<_> = (0..30)
        .map(|i| json!({"op":"insert","table":"todos","row":{"id":i,"title":format!("t{i}"),"done":false}}))
        .collect();
    s.write(json!({ "ops": ops }));
    let mut kinds = BTreeMap::new();
    let mut rows = BTreeMap::new();
    let (mut handle, mut offset) = (String::new(), "-1".to_string());
    let mut attempts = 0;
    loop {
        attempts += 1;
        assert!(attempts < 2000, "no convergence");
        let mut pairs = vec![("table", "todos"), ("offset", offset.as_str())];
        if offset != "-1" {
            pairs.push(("handle", handle.as_str()));
        }
        let r = match s.try_get(&format!("/v1/shape?{}", query(&pairs))) {
            Ok(r) => r,
            Err(_) => {
                *kinds.entry("transport").or_insert(0) += 1;
                continue;
            }
        };
        match r.status {
            200 => {}
            503 => {
                assert_eq!(r.h("retry-after"), "1");
                *kinds.entry("503").or_insert(0) += 1;
                continue;
            }
            500 => {
                *kinds.entry("500").or_insert(0) += 1;
                continue;
            }
            409 => {
                // A rotated handle: drop everything and restart (ref §2.2).
                *kinds.entry("409").or_insert(0) += 1;
                rows.clear();
                offset = "-1".to_string();
                continue;
            }
            other => panic!("unexpected status {other}: {}", r.body),
        }
        // Commit the new offset only once the whole body parsed (ref §0).
        let Ok(msgs) = serde_json::from_str::<Vec<serde_json::Value>>(&r.body) else {
            *kinds.entry("bad body").or_insert(0) += 1;
            continue;
        };
        let changes: Vec<_> = msgs.iter().filter(|m| m.get("key").is_some()).cloned().collect();
        materialize(&mut rows, &changes);
        handle = r.h("electric-handle").to_string();
        offset = r.h("electric-offset").to_string();
        if msgs
            .last()
            .is_some_and(|m| m["headers"]["control"] == "up-to-date")
        {
            break;
        }
    }
    assert_eq!(rows.len(), 30, "every row exactly once despite faults");
    assert!(
        kinds.contains_key("503") && kinds.contains_key("500"),
        "{kinds:?}"
    );
    assert!(kinds.contains_key("transport"), "{kinds:?}");
    assert!(kinds.contains_key("409"), "handle rotation happened: {kinds:?}");
    // Health and writes are never faulted.
    for _ in 0..20 {
        assert_eq!(s.get("/v1/health").status, 200);
    }
}

#[test]
fn secret_is_required_on_the_api_but_not_on_health_or_preflight() {
    let s = Server::start(&["--secret", "s3cret"]);
    let r = s.shape(&[("table", "todos"), ("offset", "-1")]);
    assert_eq!(r.status, 401);
    assert!(r.json()["message"].is_string());
    assert_eq!(
        s.shape(&[("table", "todos"), ("offset", "-1"), ("secret", "wrong")])
            .status,
        401
    );
    assert_eq!(
        s.shape(&[("table", "todos"), ("offset", "-1"), ("secret", "s3cret")])
            .status,
        200
    );
    assert_eq!(
        s.shape(&[("table", "todos"), ("offset", "-1"), ("api_secret", "s3cret")])
            .status,
        200
    );
    assert_eq!(
        s.tx(&json!({"ops":[{"op":"truncate","table":"todos"}]})).status,
        401
    );
    let r = s.post_raw(
        "/v1/tx?secret=s3cret",
        br#"{"ops":[{"op":"truncate","table":"todos"}]}"#.to_vec(),
    );
    assert_eq!(r.status, 200);
    assert_eq!(s.get("/v1/health").status, 200);
    assert_eq!(s.options("/v1/shape", &[]).status, 204);
}

#[test]
fn seed_file_is_applied_once_to_an_empty_store() {
    let seed = temp_path("seed.json");
    std::fs::write(
        &seed,
        r#"{"ops":[{"op":"insert","table":"labels","row":{"id":1,"name":"seeded"}}]}"#,
    )
    .unwrap();
    let data = temp_path("seed.db");
    let data_s = data.to_string_lossy().into_owned();
    let args = |extra: &[&str]| {
        let mut a: Vec<String> = vec![
            "--schema".into(),
            common::todo_schema().to_string_lossy().into_owned(),
            "--data".into(),
            data_s.clone(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--seed".into(),
            seed.to_string_lossy().into_owned(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    {
        let s = Server::start_args(&args(&[]));
        let (_, _, msgs, _) = common::sync(&s, &[("table", "labels")]);
        assert_eq!(msgs.len(), 1);
    }
    // Restarting on the same (no longer empty) data file does not apply it again.
    let s = Server::start_args(&args(&[]));
    let (_, _, msgs, _) = common::sync(&s, &[("table", "labels")]);
    assert_eq!(msgs.len(), 1);
    drop(s);
    for p in [
        seed.to_string_lossy().into_owned(),
        data_s.clone(),
        format!("{data_s}-wal"),
        format!("{data_s}-shm"),
    ] {
        let _ = std::fs::remove_file(p);
    }
}
