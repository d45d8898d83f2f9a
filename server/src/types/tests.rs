use super::*;
use serde_json::json;

fn t(base: PgType, v: Json) -> Result<Option<String>, ValueError> {
    to_text(&ColType::scalar(base), &v)
}

#[test]
fn integers_are_exact_and_range_checked() {
    assert_eq!(
        t(PgType::Int8, json!(9007199254740993u64)).unwrap().unwrap(),
        "9007199254740993"
    );
    assert_eq!(
        t(PgType::Int8, json!("-9223372036854775808")).unwrap().unwrap(),
        "-9223372036854775808"
    );
    assert!(t(PgType::Int8, json!("9223372036854775808")).is_err());
    assert!(t(PgType::Int4, json!(2147483648u64)).is_err());
    assert!(t(PgType::Int2, json!(1.5)).is_err());
    assert!(t(PgType::Int4, json!(true)).is_err());
    assert_eq!(t(PgType::Int4, json!(null)).unwrap(), None);
}

#[test]
fn floats_bools_and_json() {
    assert_eq!(t(PgType::Float8, json!(1.5)).unwrap().unwrap(), "1.5");
    assert_eq!(t(PgType::Float8, json!(1)).unwrap().unwrap(), "1");
    assert_eq!(t(PgType::Float8, json!("NaN")).unwrap().unwrap(), "NaN");
    assert_eq!(
        t(PgType::Float8, json!("-Infinity")).unwrap().unwrap(),
        "-Infinity"
    );
    assert_eq!(t(PgType::Float8, json!(1e21)).unwrap().unwrap(), "1e+21");
    assert_eq!(t(PgType::Float8, json!(0.00001)).unwrap().unwrap(), "1e-05");
    assert_eq!(t(PgType::Bool, json!(true)).unwrap().unwrap(), "t");
    assert_eq!(t(PgType::Bool, json!("false")).unwrap().unwrap(), "f");
    assert_eq!(
        t(
            PgType::Jsonb,
            json!({"bb": [1, {"z": null, "a": true}], "a": "x"})
        )
        .unwrap()
        .unwrap(),
        r#"{"a": "x", "bb": [1, {"a": true, "z": null}]}"#
    );
    // json keeps the compact text (keys in serde_json's map order).
    assert_eq!(
        t(PgType::Json, json!({"b":1,"a":[2]})).unwrap().unwrap(),
        r#"{"a":[2],"b":1}"#
    );
}

#[test]
fn text_types() {
    let vc = ColType {
        base: PgType::Varchar,
        dims: 0,
        max_len: Some(3),
        numeric: None,
    };
    assert!(to_text(&vc, &json!("abcd")).is_err());
    assert_eq!(to_text(&vc, &json!("abc")).unwrap().unwrap(), "abc");
    assert!(t(PgType::Text, json!(5)).is_err());
    assert!(t(PgType::Text, json!("a\u{0}b")).is_err());
    assert_eq!(
        t(PgType::Uuid, json!("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"))
            .unwrap()
            .unwrap(),
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    );
    assert!(t(PgType::Uuid, json!("a0eebc99-9c0b")).is_err());
    assert!(t(PgType::Numeric, json!("1.50")).unwrap().unwrap() == "1.50");
    assert!(t(PgType::Numeric, json!("1.5.0")).is_err());
}

#[test]
fn arrays_are_postgres_literals() {
    let arr = ColType {
        base: PgType::Int4,
        dims: 1,
        max_len: None,
        numeric: None,
    };
    assert_eq!(
        to_text(&arr, &json!([1, null, 3])).unwrap().unwrap(),
        "{1,NULL,3}"
    );
    assert_eq!(to_text(&arr, &json!([])).unwrap().unwrap(), "{}");
    assert!(to_text(&arr, &json!([[1]])).is_err());
    assert!(to_text(&arr, &json!(["x"])).is_err());
    let txt2 = ColType {
        base: PgType::Text,
        dims: 2,
        max_len: None,
        numeric: None,
    };
    assert_eq!(
        to_text(&txt2, &json!([["a", "NULL"], ["b c", "q\"\\"]]))
            .unwrap()
            .unwrap(),
        r#"{{a,"NULL"},{"b c","q\"\\"}}"#
    );
    assert!(to_text(&txt2, &json!([["a"], ["b", "c"]])).is_err());
}

#[test]
fn numeric_is_canonical_like_postgres() {
    for (input, out) in [
        ("1.50", "1.50"),
        ("0012.30", "12.30"),
        ("1e2", "100"),
        ("1.5e1", "15"),
        ("1.50e1", "15.0"),
        ("1e-2", "0.01"),
        ("-0.0", "0.0"),
        ("-0", "0"),
        (".5", "0.5"),
        ("5.", "5"),
        ("+7", "7"),
        ("-12.5E-1", "-1.25"),
        ("123456789012345678901234567890", "123456789012345678901234567890"),
    ] {
        assert_eq!(numeric_text(input).as_deref(), Some(out), "{input}");
    }
    for bad in ["", ".", "e1", "1e", "1.2.3", "--1", "1e99999", "abc"] {
        assert_eq!(numeric_text(bad), None, "{bad:?}");
    }
    assert_eq!(t(PgType::Numeric, json!(2.5)).unwrap().unwrap(), "2.5");
    assert_eq!(
        t(PgType::Numeric, json!("Infinity")).unwrap().unwrap(),
        "Infinity"
    );
}

#[test]
fn numeric_typmod_rounds_half_away_from_zero_and_checks_precision() {
    let ok = |s: &str, p, sc| numeric_input(s, Some((p, sc))).unwrap();
    assert_eq!(ok("-1.5", 30, 9), "-1.500000000");
    assert_eq!(ok("2", 30, 9), "2.000000000");
    assert_eq!(ok("1.005", 5, 2), "1.01");
    assert_eq!(ok("-1.005", 5, 2), "-1.01");
    assert_eq!(ok("1.004", 5, 2), "1.00");
    assert_eq!(ok("99.995", 5, 2), "100.00");
    assert_eq!(ok("-0.004", 5, 2), "0.00");
    assert_eq!(ok("0.5", 3, 0), "1");
    assert_eq!(ok("-2.5", 3, 0), "-3");
    assert_eq!(ok("1e2", 3, 0), "100");
    assert_eq!(ok("0.001", 3, 3), "0.001");
    assert_eq!(ok("nan", 3, 1), "NaN");
    assert!(numeric_input("999.995", Some((5, 2))).is_err());
    assert!(numeric_input("1000", Some((3, 0))).is_err());
    assert!(numeric_input("1", Some((3, 3))).is_err());
    assert!(numeric_input("Infinity", Some((10, 2))).is_err());
    // Without a typmod: normalised, the written scale kept.
    assert_eq!(numeric_input("00012.50", None).unwrap(), "12.50");
    assert_eq!(numeric_input("-0.000", None).unwrap(), "0.000");
    assert_eq!(numeric_input("1e3", None).unwrap(), "1000");
    assert_eq!(numeric_input("-inf", None).unwrap(), "-Infinity");
    let n = ColType {
        numeric: Some((6, 2)),
        ..ColType::scalar(PgType::Numeric)
    };
    assert_eq!(to_text(&n, &json!(1.005)).unwrap().unwrap(), "1.01");
    assert!(to_text(&n, &json!(12345)).is_err());
}

#[test]
fn raw_text_keeps_json_and_exact_numbers() {
    let raw = |base, v: &str| to_text_raw(&ColType::scalar(base), &serde_json::from_str(v).unwrap(), Some(v));
    assert_eq!(
        raw(PgType::Json, r#"{"b": 1, "a": [2.50, {"z":0,"y":1}]}"#)
            .unwrap()
            .unwrap(),
        r#"{"b":1,"a":[2.50,{"z":0,"y":1}]}"#
    );
    assert_eq!(
        raw(PgType::Jsonb, r#"{"bb": 1e2, "a": 1.50}"#).unwrap().unwrap(),
        r#"{"a": 1.50, "bb": 100}"#
    );
    assert_eq!(
        raw(PgType::Numeric, "123456789012345678901234567890.10")
            .unwrap()
            .unwrap(),
        "123456789012345678901234567890.10"
    );
    assert_eq!(raw(PgType::Json, "null").unwrap(), None);
    assert_eq!(raw(PgType::Float8, "0.1").unwrap().unwrap(), "0.1");
}

#[test]
fn float8_json_numbers_round_trip_bit_for_bit() {
    for s in [
        "123456789012345680000",
        "9.705605544149876e-11",
        "-2016636133193.9697",
        "-4.638020992279053e-8",
    ] {
        let want: f64 = s.parse().unwrap();
        let v: Json = serde_json::from_str(s).unwrap();
        let text = t(PgType::Float8, v).unwrap().unwrap();
        assert_eq!(
            text.parse::<f64>().unwrap().to_bits(),
            want.to_bits(),
            "{s} -> {text}"
        );
    }
    assert_eq!(
        t(PgType::Float8, json!(123456789012345680000.0))
            .unwrap()
            .unwrap(),
        "1.2345678901234568e+20"
    );
}
