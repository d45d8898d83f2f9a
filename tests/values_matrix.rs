//! The ref §5 type table and the §8 item 11 interop type matrix, end to end: an
//! `electric-schema` header and a wire body as Electric sends them, typed with `parse_row`.

use eddy::protocol::{parse_body, parse_row, ColumnInfo, Message, Parsers, Row, Schema, Value};
use eddy::ErrorCode;
use serde_json::json;

const HEADER: &str = r#"{"id":{"type":"int8","not_null":true,"pk_index":0,"dims":0},
"i2":{"type":"int2"},"i4":{"type":"int4"},"i8":{"type":"int8"},
"f4":{"type":"float4"},"f8":{"type":"float8"},"f8b":{"type":"float8"},"f8c":{"type":"float8"},
"bt":{"type":"bool"},"bf":{"type":"bool"},"j":{"type":"json"},"jb":{"type":"jsonb"},
"num":{"type":"numeric","precision":10,"scale":2},"ts":{"type":"timestamptz","precision":6},
"u":{"type":"uuid"},"by":{"type":"bytea"},"mood":{"type":"mood"},"dom":{"type":"posint"},
"comp":{"type":"complex"},"iv":{"type":"interval","fields":"MINUTE TO SECOND"},
"ch":{"type":"bpchar","length":5},"future":{"type":"some_new_type","type_mod":7},
"grid":{"type":"int4","dims":2},"texts":{"type":"text","dims":1},"moods":{"type":"mood","dims":1},
"comps":{"type":"complex","dims":1},"boxes":{"type":"box","dims":1},"flags":{"type":"bool","dims":1},
"docs":{"type":"jsonb","dims":1},
"a,b":{"type":"text"},"say \"hi\"":{"type":"int4"},"with space":{"type":"float4"},
"nn":{"type":"text","not_null":true},"nn_arr":{"type":"int4","dims":1,"not_null":true}}"#;

fn body(value: serde_json::Value) -> Vec<u8> {
    json!([{"key":"\"public\".\"t\"/\"1\"","value":value,
            "headers":{"operation":"insert","relation":["public","t"]}}])
    .to_string()
    .into_bytes()
}

fn row_of(value: serde_json::Value) -> Row {
    match parse_body(&body(value)).unwrap().into_iter().next() {
        Some(Message::Change(c)) => c.value,
        other => panic!("not a change: {other:?}"),
    }
}

fn typed(value: serde_json::Value, parsers: &Parsers) -> Vec<(String, Value)> {
    let schema = Schema::from_header(HEADER).unwrap();
    parse_row(&schema, &row_of(value), parsers)
        .unwrap()
        .into_iter()
        .map(|(c, v)| (c.to_string(), v))
        .collect()
}

fn get<'a>(row: &'a [(String, Value)], col: &str) -> &'a Value {
    &row.iter()
        .find(|(c, _)| c == col)
        .unwrap_or_else(|| panic!("no {col}"))
        .1
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

fn wire_row() -> serde_json::Value {
    json!({
        "id": "9223372036854775807", "i2": "-32768", "i4": "2147483647", "i8": "-9223372036854775808",
        "f4": "NaN", "f8": "Infinity", "f8b": "-Infinity", "f8c": "1.5e-07",
        "bt": "t", "bf": "f", "j": "[1,\"x\",null]", "jb": "{\"a\": {\"b\": [true]}}",
        "num": "12.50", "ts": "2024-01-02 03:04:05.123456+00", "u": "0b6c3b8e-6a35-4a2c-9d3c-6e3a1e5f7b10",
        "by": "\\x0102ff", "mood": "happy", "dom": "42", "comp": "(1.5,\"x y\")", "iv": "PT1M30S",
        "ch": "ab   ", "future": "anything",
        "grid": "{{1,NULL},{3,-4}}",
        "texts": "{NULL,\"NULL\",null,\"a,b\",\"say \\\"hi\\\"\",\"\",\" pad \",back\\\\slash}",
        "moods": "{happy,NULL,\"so so\"}",
        "comps": "{\"(1,2)\",\"(3,\\\"x\\\")\"}",
        "boxes": "{(1,1),(0,0);(3,3),(2,2)}",
        "flags": "{t,f,NULL}",
        "docs": "{\"{\\\"k\\\": 1}\",NULL}",
        "a,b": "comma", "say \"hi\"": "7", "with space": "-0.5",
        "nn": "x", "nn_arr": "{1,2}",
        "not_in_schema": "5", "null_not_in_schema": null
    })
}

#[test]
fn type_table_and_interop_matrix() {
    let row = typed(wire_row(), &Parsers::default());
    // Integers at their limits; int8 keeps the full 64-bit range.
    assert_eq!(get(&row, "id"), &Value::BigInt(i64::MAX));
    assert_eq!(get(&row, "i2"), &Value::Int(-32768));
    assert_eq!(get(&row, "i4"), &Value::Int(i32::MAX));
    assert_eq!(get(&row, "i8"), &Value::BigInt(i64::MIN));
    // Floats with Postgres' special tokens.
    assert!(matches!(get(&row, "f4"), Value::Float(f) if f.is_nan()));
    assert_eq!(get(&row, "f8"), &Value::Float(f64::INFINITY));
    assert_eq!(get(&row, "f8b"), &Value::Float(f64::NEG_INFINITY));
    assert_eq!(get(&row, "f8c"), &Value::Float(1.5e-7));
    // bool t/f, json and jsonb parsed.
    assert_eq!(get(&row, "bt"), &Value::Bool(true));
    assert_eq!(get(&row, "bf"), &Value::Bool(false));
    assert_eq!(get(&row, "j"), &Value::Json(json!([1, "x", null])));
    assert_eq!(get(&row, "jb"), &Value::Json(json!({"a": {"b": [true]}})));
    // Everything else stays text, exactly as sent (bpchar padding included).
    for (col, want) in [
        ("num", "12.50"),
        ("ts", "2024-01-02 03:04:05.123456+00"),
        ("u", "0b6c3b8e-6a35-4a2c-9d3c-6e3a1e5f7b10"),
        ("by", "\\x0102ff"),
        ("mood", "happy"),
        ("dom", "42"),
        ("comp", "(1.5,\"x y\")"),
        ("iv", "PT1M30S"),
        ("ch", "ab   "),
        ("future", "anything"),
        ("a,b", "comma"),
        ("nn", "x"),
        ("not_in_schema", "5"),
    ] {
        assert_eq!(get(&row, col), &text(want), "{col}");
    }
    assert_eq!(get(&row, "null_not_in_schema"), &Value::Null);
    // Columns with comma / quote / space in their names are typed by their schema entry.
    assert_eq!(get(&row, "say \"hi\""), &Value::Int(7));
    assert_eq!(get(&row, "with space"), &Value::Float(-0.5));
    // Nested arrays: unquoted NULL is null, quoted "NULL" is the text.
    assert_eq!(
        get(&row, "grid"),
        &Value::Array(vec![
            Value::Array(vec![Value::Int(1), Value::Null]),
            Value::Array(vec![Value::Int(3), Value::Int(-4)]),
        ])
    );
    assert_eq!(
        get(&row, "texts"),
        &Value::Array(vec![
            Value::Null,
            text("NULL"),
            Value::Null,
            text("a,b"),
            text("say \"hi\""),
            text(""),
            text(" pad "),
            text("back\\slash"),
        ])
    );
    // Enum arrays and composite arrays stay arrays of strings; box arrays split on ';'.
    assert_eq!(
        get(&row, "moods"),
        &Value::Array(vec![text("happy"), Value::Null, text("so so")])
    );
    assert_eq!(
        get(&row, "comps"),
        &Value::Array(vec![text("(1,2)"), text("(3,\"x\")")])
    );
    assert_eq!(
        get(&row, "boxes"),
        &Value::Array(vec![text("(1,1),(0,0)"), text("(3,3),(2,2)")])
    );
    assert_eq!(
        get(&row, "flags"),
        &Value::Array(vec![Value::Bool(true), Value::Bool(false), Value::Null])
    );
    assert_eq!(
        get(&row, "docs"),
        &Value::Array(vec![Value::Json(json!({"k": 1})), Value::Null])
    );
    assert_eq!(
        get(&row, "nn_arr"),
        &Value::Array(vec![Value::Int(1), Value::Int(2)])
    );
    // Row (wire) order is kept.
    let wire = wire_row();
    let wire_order: Vec<&str> = wire.as_object().unwrap().keys().map(String::as_str).collect();
    let typed_order: Vec<&str> = row.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(typed_order, wire_order);
}

#[test]
fn not_null_violations_name_the_column() {
    let schema = Schema::from_header(HEADER).unwrap();
    let mut v = wire_row();
    v["nn"] = serde_json::Value::Null;
    let e = parse_row(&schema, &row_of(v), &Parsers::default()).unwrap_err();
    assert_eq!(e.code(), "EDDY_VALUE_NULL_IN_NOT_NULL");
    assert_eq!(e.family(), "ParserNullValueError");
    assert_eq!(e.column(), Some("nn"));

    let mut v = wire_row();
    v["nn_arr"] = json!("{{1,2},{NULL,3}}");
    let e = parse_row(&schema, &row_of(v), &Parsers::default()).unwrap_err();
    assert_eq!(
        (e.code(), e.column()),
        ("EDDY_VALUE_NULL_IN_NOT_NULL", Some("nn_arr"))
    );
}

#[test]
fn out_of_range_and_bad_values_are_typed_errors() {
    let schema = Schema::from_header(HEADER).unwrap();
    for (col, bad, code) in [
        ("i2", "32768", "EDDY_VALUE_INT_OUT_OF_RANGE"),
        ("i4", "-2147483649", "EDDY_VALUE_INT_OUT_OF_RANGE"),
        ("i8", "9223372036854775808", "EDDY_VALUE_INT_OUT_OF_RANGE"),
        ("i4", "12abc", "EDDY_VALUE_BAD_INT"),
        ("f8", "fast", "EDDY_VALUE_BAD_FLOAT"),
        ("jb", "{\"a\":", "EDDY_VALUE_BAD_JSON"),
        ("grid", "{{1,2}", "EDDY_VALUE_BAD_ARRAY"),
        ("grid", "{1,x}", "EDDY_VALUE_BAD_INT"),
    ] {
        let mut v = wire_row();
        v[col] = json!(bad);
        let e = parse_row(&schema, &row_of(v), &Parsers::default()).unwrap_err();
        assert_eq!((e.code(), e.column()), (code, Some(col)), "{col}={bad}");
        assert!(e.to_string().starts_with(&format!("column {col:?}: ")), "{e}");
    }
}

#[test]
fn user_parsers_override_defaults_and_reach_array_elements() {
    let mut p = Parsers::default();
    p.register("mood", |s| Ok(Value::Text(s.to_uppercase())))
        .register("timestamptz", |s| Ok(Value::Text(format!("Date({s})"))))
        .leave_as_text("int8");
    let row = typed(wire_row(), &p);
    assert_eq!(get(&row, "mood"), &text("HAPPY"));
    assert_eq!(
        get(&row, "moods"),
        &Value::Array(vec![text("HAPPY"), Value::Null, text("SO SO")])
    );
    assert_eq!(get(&row, "ts"), &text("Date(2024-01-02 03:04:05.123456+00)"));
    assert_eq!(get(&row, "id"), &text("9223372036854775807"));
    assert_eq!(get(&row, "i4"), &Value::Int(i32::MAX));
}

#[test]
fn typed_rows_serialize_to_plain_json() {
    let schema: Schema = [
        ("id", ColumnInfo::scalar("int8").not_null()),
        ("f", ColumnInfo::scalar("float8")),
        ("tags", ColumnInfo::array("text", 1)),
    ]
    .into_iter()
    .collect();
    let row = row_of(json!({"id": "9007199254740993", "f": "-Infinity", "tags": "{a,NULL}"}));
    let typed = parse_row(&schema, &row, &Parsers::default()).unwrap();
    let obj: serde_json::Map<String, serde_json::Value> = typed
        .iter()
        .map(|(c, v)| (c.to_string(), serde_json::to_value(v).unwrap()))
        .collect();
    assert_eq!(
        serde_json::Value::Object(obj).to_string(),
        r#"{"f":"-Infinity","id":9007199254740993,"tags":["a",null]}"#
    );
}
