//! Typed values written straight to JSON text, for handing many rows to JS in one
//! `JSON.parse` (the web layer's bulk read path).
//!
//! The result is what `serde_json` would print for [`parse_value`]'s [`Value`], with two
//! exceptions JSON cannot express, reported through [`JsonFlags`] so JS can convert just those
//! columns: an `int8` is written as a decimal *string* (JS turns it into a `BigInt`), and a
//! non-finite float as the string `"NaN"`, `"Infinity"` or `"-Infinity"`.
//!
//! The common cells take a fast path that copies the wire text when it is already the JSON
//! form: a Postgres integer or float literal is a JSON number as is (after validation), a
//! `json`/`jsonb` text is validated without building a tree and copied, `bool` is a word.
//! Anything unusual (arrays, custom rules, non-canonical numbers) goes through [`parse_value`].

use std::fmt::Write;

use serde::de::IgnoredAny;

use super::parsers::Kind;
use super::{parse_int, parse_value, Parsers, Value, ValueError};
use crate::protocol::schema::ColumnInfo;

/// What a written cell needs from JS after `JSON.parse`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JsonFlags {
    /// An int8 (or int8 array) written as decimal strings: convert with `BigInt`.
    pub bigint: bool,
    /// A non-finite float written as a string: convert with `Number`.
    pub non_finite: bool,
}

/// Append the JSON form of one wire value of a column (`info` `None`: a column the schema does
/// not name, which stays text). Errors are [`parse_value`]'s, without the column name.
pub fn write_json_value(
    out: &mut String,
    info: Option<&ColumnInfo>,
    text: Option<&str>,
    parsers: &Parsers,
) -> Result<JsonFlags, ValueError> {
    let mut flags = JsonFlags::default();
    let (Some(info), Some(s)) = (info, text) else {
        match (info, text) {
            (None, Some(s)) => write_json_str(out, s),
            (Some(info), None) if info.not_null => return Err(ValueError::NullInNotNull { column: None }),
            _ => out.push_str("null"),
        }
        return Ok(flags);
    };
    if info.dims == 0 {
        match parsers.kind(&info.type_name) {
            Kind::Bool => {
                out.push_str(if s == "t" || s == "true" { "true" } else { "false" });
                return Ok(flags);
            }
            Kind::Int2 if is_json_int(s) => {
                parse_int(s, "int2", i16::MIN.into(), i16::MAX.into())?;
                out.push_str(s);
                return Ok(flags);
            }
            Kind::Int4 if is_json_int(s) => {
                parse_int(s, "int4", i32::MIN.into(), i32::MAX.into())?;
                out.push_str(s);
                return Ok(flags);
            }
            Kind::Int8 if is_json_int(s) => {
                parse_int(s, "int8", i64::MIN, i64::MAX)?;
                out.push('"');
                out.push_str(s);
                out.push('"');
                flags.bigint = true;
                return Ok(flags);
            }
            Kind::Float if is_json_number(s) => {
                out.push_str(s);
                return Ok(flags);
            }
            Kind::Json => {
                // The body scanner's validator first (most documents); serde for the rest and
                // for the error.
                if !crate::protocol::body::is_json_value(s) {
                    serde_json::from_str::<IgnoredAny>(s).map_err(|e| ValueError::BadJson {
                        column: None,
                        reason: e.to_string(),
                    })?;
                }
                out.push_str(s);
                return Ok(flags);
            }
            Kind::Text => {
                write_json_str(out, s);
                return Ok(flags);
            }
            _ => {}
        }
    }
    let value = parse_value(info, Some(s), parsers)?;
    write_value(out, &value, &mut flags);
    Ok(flags)
}

/// `-?(0|[1-9][0-9]*)`: a JSON integer literal (so also what `i64::from_str` reads the same).
fn is_json_int(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s).as_bytes();
    match digits {
        [] => false,
        [b'0'] => s.len() == 1, // "-0" would read back as JS -0, not the integer 0
        [b'0', ..] => false,
        _ => digits.iter().all(u8::is_ascii_digit),
    }
}

/// A JSON number literal: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`. Postgres prints
/// finite floats in this form, and JS reads such a literal to the same double as `parseFloat`.
fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    let int_start = i;
    let n = digits(&mut i);
    if n == 0 || (n > 1 && b[int_start] == b'0') {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Append a typed value as JSON (int8 as a decimal string, non-finite floats as strings).
pub fn write_value(out: &mut String, v: &Value, flags: &mut JsonFlags) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::BigInt(i) => {
            flags.bigint = true;
            let _ = write!(out, "\"{i}\"");
        }
        Value::Float(f) if f.is_finite() => {
            // `{:?}` prints the shortest string that reads back as the same f64.
            let _ = write!(out, "{f:?}");
        }
        Value::Float(f) => {
            flags.non_finite = true;
            out.push_str(if f.is_nan() {
                "\"NaN\""
            } else if *f > 0.0 {
                "\"Infinity\""
            } else {
                "\"-Infinity\""
            });
        }
        Value::Text(s) => write_json_str(out, s),
        Value::Json(j) => out.push_str(&j.to_string()),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item, flags);
            }
            out.push(']');
        }
    }
}

/// A JSON string literal: quote and backslash escaped, control characters as `\n`, `\r`,
/// `\t` or `\u00XX`; everything else (all of Unicode) is copied as is.
pub fn write_json_str(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Eight bytes at a time while none of them needs escaping (most text).
        if let Some(word) = bytes.get(i..i + 8) {
            let w = u64::from_le_bytes(word.try_into().unwrap_or_default());
            if !may_need_escape(w) {
                i += 8;
                continue;
            }
        }
        let b = bytes[i];
        if b == b'"' || b == b'\\' || b < 0x20 {
            // `i` is at an ASCII byte: a char boundary, and so is `i + 1`.
            out.push_str(s.get(start..i).unwrap_or_default());
            match b {
                b'"' => out.push_str("\\\""),
                b'\\' => out.push_str("\\\\"),
                b'\n' => out.push_str("\\n"),
                b'\r' => out.push_str("\\r"),
                b'\t' => out.push_str("\\t"),
                _ => {
                    let _ = write!(out, "\\u{b:04x}");
                }
            }
            start = i + 1;
        }
        i += 1;
    }
    out.push_str(s.get(start..).unwrap_or_default());
    out.push('"');
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// True when a byte of `w` may be `"`, `\` or a control character (no false negatives; a false
/// positive only sends those bytes through the byte-wise path).
fn may_need_escape(w: u64) -> bool {
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGHS != 0;
    let zero = |x: u64| below(x, 1);
    below(w, 0x20) || zero(w ^ (ONES * u64::from(b'"'))) || zero(w ^ (ONES * u64::from(b'\\')))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scanner's JSON validator never vouches for text serde rejects, and vouches for the
    /// common documents.
    #[test]
    fn fast_json_validation_never_accepts_what_serde_rejects() {
        let cases = [
            "{}", "[]", " {} ", "{\"n\": 1, \"ok\": false, \"tag\": \"t1\"}", "[1,2,{\"b\":null}]",
            "{\"a\":[1.5e3,-0.25,true,\"x\\u00e9\\n\"]}", "\"s\"", "1", "-1", "null", "true",
            "01", "1.", "-", "1e", "1e+", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "\"\\x\"",
            "\"\u{1}\"", "tru", "nul", "[", "{", "]", "", " ", "{} {}", "[1] x", "\"\\ud800\"",
            "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":{\"i\":{\"j\":{\"k\":{\"l\":{\"m\":{\"n\":{\"o\":{\"p\":{\"q\":1}}}}}}}}}}}}}}}}}",
            "[-01]", "[1.e5]", "[.5]", "[+1]", "[1E5]", "[0.0e-0]", "{\"\":\"\"}", "[\"\\/\"]",
        ];
        for text in cases {
            let serde_ok = serde_json::from_str::<IgnoredAny>(text).is_ok();
            if crate::protocol::body::is_json_value(text) {
                assert!(serde_ok, "vouched for {text:?}, which serde rejects");
            }
        }
        for text in [
            "{}",
            "[1,2]",
            "{\"n\": 1, \"ok\": false, \"tag\": \"t1\"}",
            "\"s\"",
        ] {
            assert!(crate::protocol::body::is_json_value(text), "{text:?}");
        }
    }

    /// `write_json_str` (eight bytes at a time) writes what `serde_json` writes for every
    /// string: quotes, backslashes and control characters at every offset, next to multi-byte
    /// characters.
    #[test]
    fn string_escaping_matches_serde_at_every_offset() {
        let specials = [
            "\"",
            "\\",
            "\n",
            "\u{1}",
            "\u{1f}",
            "é",
            "\u{20ac}",
            "\u{1f600}",
            "\u{7f}",
            " ",
        ];
        for len in 0..20 {
            for (k, sp) in specials.iter().enumerate() {
                for at in 0..=len {
                    let mut text: String = (0..len)
                        .map(|j| char::from(b'a' + ((j + k) % 26) as u8))
                        .collect();
                    text.insert_str(at, sp);
                    let mut ours = String::new();
                    write_json_str(&mut ours, &text);
                    assert_eq!(ours, serde_json::to_string(&text).unwrap(), "{text:?}");
                    let twice = format!("{text}{sp}{text}");
                    let mut ours = String::new();
                    write_json_str(&mut ours, &twice);
                    assert_eq!(ours, serde_json::to_string(&twice).unwrap(), "{twice:?}");
                }
            }
        }
    }
    use crate::protocol::schema::ColumnInfo;

    /// The fast path must print what the general path (parse, then print the value) prints,
    /// as JSON values (so `1e+20` and `1e20` are the same number).
    fn same(ty: &str, dims: u32, text: Option<&str>) {
        let mut info = ColumnInfo::scalar(ty);
        info.dims = dims;
        let parsers = Parsers::default();
        let mut fast = String::new();
        let fast_flags = write_json_value(&mut fast, Some(&info), text, &parsers);
        let general = parse_value(&info, text, &parsers).map(|v| {
            let mut out = String::new();
            let mut flags = JsonFlags::default();
            write_value(&mut out, &v, &mut flags);
            (out, flags)
        });
        match (fast_flags, general) {
            (Ok(ff), Ok((g, gf))) => {
                let a: serde_json::Value = serde_json::from_str(&fast).unwrap();
                let b: serde_json::Value = serde_json::from_str(&g).unwrap();
                // serde_json reads `-0` as an integer; JS reads it as the float -0, like `-0.0`.
                let num = |v: &serde_json::Value| v.as_f64().map(|f| (f, f.is_sign_negative()));
                if ty.starts_with("float") && a.is_number() {
                    assert_eq!(num(&a), num(&b), "{ty} {text:?}: fast {fast} vs general {g}");
                    assert_eq!(ff, gf, "{ty} {text:?}: flags");
                    return;
                }
                assert_eq!(a, b, "{ty} {text:?}: fast {fast} vs general {g}");
                assert_eq!(ff, gf, "{ty} {text:?}: flags");
            }
            (Err(a), Err(b)) => assert_eq!(a, b, "{ty} {text:?}"),
            (a, b) => panic!("{ty} {text:?}: fast {a:?} ({fast}) vs general {b:?}"),
        }
    }

    #[test]
    fn fast_path_equals_general_path() {
        for (ty, texts) in [
            (
                "int2",
                &["0", "-1", "32767", "-32768", "32768", "007", "+1", " 1", "x", ""][..],
            ),
            (
                "int4",
                &["0", "2147483647", "-2147483648", "2147483648", "12a", "-0"][..],
            ),
            (
                "int8",
                &[
                    "0",
                    "9223372036854775807",
                    "-9223372036854775808",
                    "9223372036854775808",
                    "01",
                ][..],
            ),
            (
                "float8",
                &[
                    "0",
                    "-0",
                    "1.5",
                    "1e+20",
                    "1.5e-05",
                    "NaN",
                    "Infinity",
                    "-Infinity",
                    ".5",
                    "1.",
                    "1e",
                    "abc",
                ][..],
            ),
            ("float4", &["3.4028235e+38", "-1.17549435e-38", "00.1"][..]),
            ("bool", &["t", "f", "true", "false", "yes"][..]),
            (
                "jsonb",
                &[
                    r#"{"a":[1,2,{"b":null}]}"#,
                    "1",
                    "\"s\"",
                    "[1,",
                    "{} x",
                    "  [ ]  ",
                ][..],
            ),
            (
                "text",
                &["plain", "q\"uote\\back\nnew\u{1}ctl", "ünï", "NULL", ""][..],
            ),
            ("timestamptz", &["2026-01-01 00:00:00+00"][..]),
        ] {
            for t in texts {
                same(ty, 0, Some(t));
            }
            same(ty, 0, None);
            same(ty, 1, Some("{1,NULL,3}"));
        }
        same("int8", 1, Some("{1,-2}"));
        same("text", 2, Some("{{a,\"b c\"},{NULL,d}}"));
    }

    #[test]
    fn not_null_and_unknown_columns() {
        let mut info = ColumnInfo::scalar("text");
        info.not_null = true;
        let mut out = String::new();
        assert_eq!(
            write_json_value(&mut out, Some(&info), None, &Parsers::default()),
            Err(ValueError::NullInNotNull { column: None })
        );
        write_json_value(&mut out, None, Some("x\"y"), &Parsers::default()).unwrap();
        write_json_value(&mut out, None, None, &Parsers::default()).unwrap();
        assert_eq!(out, r#""x\"y"null"#);
    }

    #[test]
    fn leave_as_text_rule_is_respected() {
        let mut parsers = Parsers::default();
        parsers.leave_as_text("int8");
        let mut out = String::new();
        let flags =
            write_json_value(&mut out, Some(&ColumnInfo::scalar("int8")), Some("12"), &parsers).unwrap();
        assert_eq!((out.as_str(), flags.bigint), ("\"12\"", false));
    }
}
