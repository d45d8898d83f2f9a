//! The type matrix (ref §8.11): values go in as JSON and come out as Postgres text, with the
//! schema header naming Postgres types, dims and modifiers.

mod common;

use common::{sync, temp_path, Server};
use serde_json::{json, Value as Json};

const SCHEMA: &str = r#"
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy days');
CREATE TABLE matrix (
    id        int8 PRIMARY KEY,
    i2        int2,
    i4        integer NOT NULL,
    i8        bigint,
    f4        real,
    f8        double precision,
    num       numeric(10, 2),
    t         text,
    vc        varchar(5),
    ch        char(3),
    b         boolean,
    j         json,
    jb        jsonb,
    ts        timestamp,
    tstz      timestamptz(3),
    d         date,
    u         uuid,
    by        bytea,
    ints      int4[],
    texts     text[][],
    "Quoted, Name" text,
    m         mood,
    ms        mood[],
    dn        int4 DEFAULT 7,
    dt        timestamptz DEFAULT now(),
    dd        date DEFAULT CURRENT_DATE
);
"#;

fn start() -> (Server, std::path::PathBuf) {
    let path = temp_path("matrix.sql");
    std::fs::write(&path, SCHEMA).unwrap();
    let s = Server::start_args(&[
        "--schema".into(),
        path.to_string_lossy().into_owned(),
        "--listen".into(),
        "127.0.0.1:0".into(),
    ]);
    (s, path)
}

#[test]
fn values_are_postgres_text_and_the_schema_header_names_types() {
    let (s, path) = start();
    s.write(json!({"ops":[{"op":"insert","table":"matrix","row":{
        "id": 1, "i2": -32768, "i4": 2147483647, "i8": "-9223372036854775808",
        "f4": 1.5, "f8": "-Infinity", "num": "12.50", "t": "hé \"quoted\" \\ /", "vc": "abcde", "ch": "x",
        "b": true, "j": {"k": [1, 2]}, "jb": {"b": null, "a": [true, 1.5]},
        "ts": "2024-02-29T23:59:59.123456", "tstz": "2024-01-01T00:30:00+01:00", "d": "2024-12-31",
        "u": "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "by": "\\xDEADbeef",
        "ints": [1, null, -3], "texts": [["a", "NULL"], [null, "b,c"]], "Quoted, Name": "q",
        "m": "ok", "ms": ["happy days", null, "sad"], "dn": null
    }},{"op":"insert","table":"matrix","row":{"id": 2, "i4": 0, "f8": "NaN", "f4": "Infinity", "i8": 9223372036854775807i64}}]}));
    let (_, _, msgs, _) = sync(&s, &[("table", "matrix")]);
    let mut v = msgs[0]["value"].clone();
    // Defaults: an explicit null stays null; omitted columns get their DEFAULT.
    assert_eq!(v["dn"], Json::Null);
    let dt = v["dt"].as_str().expect("DEFAULT now()").to_string();
    assert!(dt.ends_with("+00") && dt.len() >= 22, "{dt}");
    assert_eq!(v["dd"].as_str().unwrap(), &dt[..10]);
    for k in ["dn", "dt", "dd"] {
        v.as_object_mut().unwrap().remove(k);
    }
    let v = &v;
    let expect = json!({
        "id": "1", "i2": "-32768", "i4": "2147483647", "i8": "-9223372036854775808",
        "f4": "1.5", "f8": "-Infinity", "num": "12.50", "t": "hé \"quoted\" \\ /", "vc": "abcde", "ch": "x  ",
        "b": "t", "j": "{\"k\":[1,2]}", "jb": "{\"a\": [true, 1.5], \"b\": null}",
        "ts": "2024-02-29 23:59:59.123456", "tstz": "2023-12-31 23:30:00+00", "d": "2024-12-31",
        "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "by": "\\xdeadbeef",
        "ints": "{1,NULL,-3}", "texts": "{{a,\"NULL\"},{NULL,\"b,c\"}}", "Quoted, Name": "q",
        "m": "ok", "ms": "{\"happy days\",NULL,sad}"
    });
    assert_eq!(v, &expect);
    let v2 = &msgs[1]["value"];
    assert_eq!(
        (v2["f8"].as_str(), v2["f4"].as_str(), v2["i8"].as_str()),
        (Some("NaN"), Some("Infinity"), Some("9223372036854775807"))
    );
    assert_eq!(v2["t"], Json::Null);
    assert_eq!(v2["dn"], "7");

    let r = s.shape(&[("table", "matrix"), ("offset", "-1")]);
    let schema: Json = serde_json::from_str(r.h("electric-schema")).unwrap();
    assert_eq!(schema["i4"], json!({"type":"int4","not_null":true}));
    assert_eq!(schema["f8"], json!({"type":"float8"}));
    assert_eq!(schema["num"], json!({"type":"numeric","precision":10,"scale":2}));
    assert_eq!(schema["vc"], json!({"type":"varchar","max_length":5}));
    assert_eq!(schema["ch"], json!({"type":"bpchar","length":3}));
    assert_eq!(schema["tstz"], json!({"type":"timestamptz","precision":3}));
    assert_eq!(schema["texts"], json!({"type":"text","dims":2}));
    assert_eq!(schema["Quoted, Name"], json!({"type":"text"}));
    assert_eq!(schema["m"], json!({"type":"mood"}));
    assert_eq!(schema["ms"], json!({"type":"mood","dims":1}));
    // Enums support equality and IN; ordering comparisons are refused.
    let r = s.shape(&[("table", "matrix"), ("offset", "-1"), ("where", "m < 'ok'")]);
    assert_eq!(r.status, 400);

    // Quoted column names with comma/quote/space work in `columns` and `where`.
    let (_, _, msgs, _) = sync(
        &s,
        &[
            ("table", "matrix"),
            ("columns", "id,\"Quoted, Name\""),
            ("where", "\"Quoted, Name\" = 'q'"),
        ],
    );
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["value"], json!({"id":"1","Quoted, Name":"q"}));
    // Typed comparisons.
    for (w, n) in [
        ("f8 < 0", 1),
        ("f8 > 1e308", 1),
        ("tstz < '2024-01-01T00:00:00Z'", 1),
        ("u = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", 1),
        ("jb = '{\"b\":null,\"a\":[true,1.5]}'", 1),
        ("i8 < -9000000000000000000", 1),
        ("i8 > 9000000000000000000", 1),
        ("d BETWEEN '2024-01-01' AND '2024-12-31'", 1),
        ("ch = 'x  '", 1),
        ("ch = 'x'", 1),
        ("b", 1),
        ("NOT b", 0),
        ("b IS NULL", 1),
        ("m = 'ok'", 1),
        ("m IN ('sad', 'happy days')", 0),
        ("m::text LIKE 'o%'", 1),
    ] {
        let (_, _, msgs, _) = sync(&s, &[("table", "matrix"), ("where", w)]);
        assert_eq!(msgs.len(), n, "{w}");
    }
    let _ = std::fs::remove_file(path);
}

#[test]
fn out_of_range_and_malformed_values_are_type_errors() {
    let (s, path) = start();
    for (col, val) in [
        ("i2", json!(32768)),
        ("i4", json!(2147483648u64)),
        ("i8", json!("9223372036854775808")),
        ("f8", json!("fast")),
        ("num", json!("1e")),
        ("vc", json!("abcdef")),
        ("ch", json!("abcd")),
        ("b", json!("maybe")),
        ("ts", json!("2024-02-30T00:00:00")),
        ("tstz", json!(12)),
        ("d", json!("2024-1-1")),
        ("u", json!("not-a-uuid")),
        ("by", json!("\\xABC")),
        ("ints", json!([1, [2]])),
        ("texts", json!(["a", "b"])),
        ("t", json!(["x"])),
        ("m", json!("meh")),
        ("m", json!(1)),
        ("ms", json!(["ok", "meh"])),
    ] {
        let mut row = json!({"id": 5, "i4": 1});
        row[col] = val.clone();
        let r = s.tx(&json!({"ops":[{"op":"insert","table":"matrix","row":row}]}));
        assert_eq!(r.status, 400, "{col} = {val}");
        assert_eq!(
            r.json()["code"],
            "EDDY_SERVER_TX_TYPE_MISMATCH",
            "{col} = {val}: {}",
            r.body
        );
    }
    let _ = std::fs::remove_file(path);
}
