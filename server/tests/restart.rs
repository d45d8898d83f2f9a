//! Persistence: a restarted server on the same data file resumes its handles (same snapshot,
//! log continues, LSNs keep increasing); an in-memory restart answers 409 instead.

mod common;

use common::{sync, temp_path, todo_schema, Server};

fn args(data: &str) -> Vec<String> {
    vec![
        "--schema".into(),
        todo_schema().to_string_lossy().into_owned(),
        "--data".into(),
        data.into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--long-poll-ms".into(),
        "300".into(),
    ]
}

#[test]
fn handles_survive_a_restart_on_a_data_file() {
    let path = temp_path("restart.db");
    let data = path.to_string_lossy().into_owned();
    let (handle, offset, first_lsn);
    {
        let mut s = Server::start_args(&args(&data));
        first_lsn = s.insert_todo(1, "a", false);
        let (h, o, msgs, _) = sync(&s, &[("table", "todos")]);
        assert_eq!(msgs.len(), 1);
        (handle, offset) = (h, o);
        s.insert_todo(2, "b", false);
        s.kill();
    }
    let s = Server::start_args(&args(&data));
    // The same snapshot is served for the old handle.
    let r = s.shape(&[("table", "todos"), ("offset", "-1")]);
    assert_eq!(r.h("electric-handle"), handle);
    assert_eq!(r.changes().len(), 1);
    // The log continues where the client left off.
    let r = s.shape(&[("table", "todos"), ("offset", &offset), ("handle", &handle)]);
    assert_eq!(r.status, 200);
    let ch = r.changes();
    assert_eq!(ch.len(), 1);
    assert_eq!(ch[0]["value"]["id"], "2");
    let lsn3 = s.insert_todo(3, "c", false);
    assert!(lsn3.parse::<u64>().unwrap() > first_lsn.parse::<u64>().unwrap() + 1);
    drop(s);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(format!("{data}-wal"));
    let _ = std::fs::remove_file(format!("{data}-shm"));
}

#[test]
fn an_in_memory_restart_answers_409() {
    let (handle, offset);
    {
        let s = Server::start(&[]);
        s.insert_todo(1, "a", false);
        (handle, offset, _, _) = sync(&s, &[("table", "todos")]);
    }
    let s = Server::start(&[]);
    let r = s.shape(&[("table", "todos"), ("offset", &offset), ("handle", &handle)]);
    assert_eq!(r.status, 409);
    assert_ne!(r.h("electric-handle"), handle);
}

#[test]
fn a_data_file_from_another_schema_is_refused() {
    let path = temp_path("mismatch.db");
    let data = path.to_string_lossy().into_owned();
    drop(Server::start_args(&args(&data)));
    let other = temp_path("other.sql");
    std::fs::write(&other, "CREATE TABLE t (id int8 PRIMARY KEY);").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_eddy-server"))
        .args([
            "--schema",
            &other.to_string_lossy(),
            "--data",
            &data,
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("EDDY_SERVER_STORE_SCHEMA_MISMATCH"), "{err}");
    let _ = std::fs::remove_file(&other);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{data}{suffix}"));
    }
}

#[test]
fn cli_errors_exit_2() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_eddy-server"))
        .args(["--bogus"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_eddy-server"))
        .args(["--help"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--schema"));
}

#[cfg(unix)]
#[test]
fn sigterm_stops_the_server_even_with_a_live_request_open() {
    let mut s = Server::start(&["--long-poll-ms", "60000"]);
    let (handle, offset, _, _) = sync(&s, &[("table", "todos")]);
    let (head, _stream) = s.sse(&[
        ("table", "todos"),
        ("offset", &offset),
        ("handle", &handle),
        ("live", "true"),
        ("live_sse", "true"),
    ]);
    assert_eq!(head.status, 200);
    let status = std::process::Command::new("kill")
        .args(["-TERM", &s.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let code = s.wait();
    assert_eq!(code, Some(0), "clean exit on SIGTERM");
}
