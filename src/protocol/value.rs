//! Typed values: Postgres text output → [`Value`] through the schema (ref §5).
//!
//! The default rules are the TypeScript client's: `int2`/`int4` → [`Value::Int`], `int8` →
//! [`Value::BigInt`] (full 64-bit range), `float4`/`float8` → [`Value::Float`] (`NaN`,
//! `Infinity`, `-Infinity` included), `bool` → true iff the text is `t` or `true` (anything
//! else is false, as in the TS client), `json`/`jsonb` → parsed JSON; every other type (numeric,
//! timestamps, uuid, bytea, enums, domains, composites, unknown types) stays [`Value::Text`].
//! Array columns (`dims > 0`) are parsed with [`crate::protocol::array`] and each element with
//! its type's rule. Unlike the TS client, malformed numbers and JSON are typed errors rather than
//! `NaN`s or exceptions, and a scalar `"NULL"` string stays the text `NULL` (only an array's
//! unquoted `NULL` is SQL NULL).
//!
//! [`Parsers`] lets users override the rule of a type (also for that type's array elements) or
//! keep it as text so the JS layer can run a JS function on it later.

use std::num::IntErrorKind;

use serde::ser::SerializeSeq;

use super::array::{delimiter_for, parse_with, ArraySink, SinkFail};
use super::row::{Column, Row};
use super::schema::{ColumnInfo, Schema};

mod error;
mod json;
mod parsers;

pub use error::ValueError;
pub use json::{write_json_str, write_json_value, write_value as write_json_typed, JsonFlags};
use parsers::Kind;
pub use parsers::{ParseFn, Parsers};

/// A typed column value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// `bool`.
    Bool(bool),
    /// `int2`, `int4`.
    Int(i32),
    /// `int8`.
    BigInt(i64),
    /// `float4`, `float8` (may be NaN or ±infinity).
    Float(f64),
    /// Every type without a typed rule, in Postgres text output.
    Text(String),
    /// `json`, `jsonb`.
    Json(serde_json::Value),
    /// An array column: elements (or nested arrays) parsed by the element type's rule.
    Array(Vec<Value>),
}

impl Value {
    /// True for SQL NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
    /// The text of a [`Value::Text`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
    /// The number of an [`Value::Int`] or [`Value::BigInt`].
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(i64::from(*n)),
            Value::BigInt(n) => Some(*n),
            _ => None,
        }
    }
}

impl serde::Serialize for Value {
    /// Plain JSON: null, booleans, numbers, strings, the JSON document itself, arrays.
    ///
    /// `int8` is written as a JSON **number** with all its digits; `JSON.parse` in JS rounds
    /// values beyond ±2^53, so the JS layer converts these to `BigInt` itself (through the
    /// schema). Non-finite floats, which JSON cannot express, are written as the strings `"NaN"`,
    /// `"Infinity"` and `"-Infinity"` (`Number(s)` reads them back in JS).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(n) => s.serialize_i32(*n),
            Value::BigInt(n) => s.serialize_i64(*n),
            Value::Float(f) if f.is_nan() => s.serialize_str("NaN"),
            Value::Float(f) if f.is_infinite() => {
                s.serialize_str(if *f > 0.0 { "Infinity" } else { "-Infinity" })
            }
            Value::Float(f) => s.serialize_f64(*f),
            Value::Text(t) => s.serialize_str(t),
            Value::Json(j) => serde::Serialize::serialize(j, s),
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
        }
    }
}

/// At most 64 characters of `s`, for error messages.
fn snippet(s: &str) -> String {
    match s.char_indices().nth(64) {
        Some((i, _)) => format!("{}…", s.get(..i).unwrap_or("")),
        None => s.to_owned(),
    }
}

fn parse_int(s: &str, type_name: &'static str, min: i64, max: i64) -> Result<i64, ValueError> {
    match s.trim().parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        Ok(_) => Err(ValueError::IntOutOfRange {
            column: None,
            type_name,
            text: snippet(s),
        }),
        Err(e) if matches!(e.kind(), IntErrorKind::PosOverflow | IntErrorKind::NegOverflow) => {
            Err(ValueError::IntOutOfRange {
                column: None,
                type_name,
                text: snippet(s),
            })
        }
        Err(_) => Err(ValueError::BadInt {
            column: None,
            type_name,
            text: snippet(s),
        }),
    }
}

fn parse_scalar(kind: Kind<'_>, s: &str) -> Result<Value, ValueError> {
    Ok(match kind {
        Kind::Bool => Value::Bool(s == "t" || s == "true"),
        Kind::Int2 => Value::Int(parse_int(s, "int2", i16::MIN.into(), i16::MAX.into())? as i32),
        Kind::Int4 => Value::Int(parse_int(s, "int4", i32::MIN.into(), i32::MAX.into())? as i32),
        Kind::Int8 => Value::BigInt(parse_int(s, "int8", i64::MIN, i64::MAX)?),
        Kind::Float => Value::Float(s.trim().parse::<f64>().map_err(|_| ValueError::BadFloat {
            column: None,
            text: snippet(s),
        })?),
        Kind::Json => Value::Json(serde_json::from_str(s).map_err(|e| ValueError::BadJson {
            column: None,
            reason: e.to_string(),
        })?),
        Kind::Text => Value::Text(s.to_owned()),
        Kind::Custom(f, type_name) => f(s).map_err(|message| ValueError::Custom {
            column: None,
            type_name: type_name.to_owned(),
            message,
        })?,
    })
}

/// Types array elements as the parser finds them (no intermediate strings).
struct ValueSink<'a> {
    kind: Kind<'a>,
    not_null: bool,
}

impl ArraySink for ValueSink<'_> {
    type Item = Value;
    type Error = ValueError;
    fn null(&mut self) -> Result<Value, ValueError> {
        if self.not_null {
            Err(ValueError::NullInNotNull { column: None })
        } else {
            Ok(Value::Null)
        }
    }
    fn text(&mut self, s: &str) -> Result<Value, ValueError> {
        parse_scalar(self.kind, s)
    }
    fn array(&mut self, items: Vec<Value>) -> Value {
        Value::Array(items)
    }
}

/// Type one wire value (`None` = SQL NULL) of a column.
///
/// NULL in a `not_null` column — or a NULL element in a `not_null` array column, as the TS
/// client does — is [`ValueError::NullInNotNull`].
pub fn parse_value(info: &ColumnInfo, text: Option<&str>, parsers: &Parsers) -> Result<Value, ValueError> {
    let Some(s) = text else {
        return if info.not_null {
            Err(ValueError::NullInNotNull { column: None })
        } else {
            Ok(Value::Null)
        };
    };
    let kind = parsers.kind(&info.type_name);
    if info.dims == 0 {
        return parse_scalar(kind, s);
    }
    let mut sink = ValueSink {
        kind,
        not_null: info.not_null,
    };
    match parse_with(s, delimiter_for(&info.type_name), &mut sink) {
        Ok(items) => Ok(Value::Array(items)),
        Err(SinkFail::Element(e)) => Err(e),
        Err(SinkFail::Syntax(source)) => Err(ValueError::BadArray { column: None, source }),
    }
}

/// Type every column of a row, in row order. Columns the schema does not name stay
/// [`Value::Text`] (or [`Value::Null`]), like the TS client; an error names its column.
pub fn parse_row(schema: &Schema, row: &Row, parsers: &Parsers) -> Result<Vec<(Column, Value)>, ValueError> {
    let mut out = Vec::with_capacity(row.len());
    for (column, text) in row.iter() {
        let value = match schema.column(column) {
            Some(info) => parse_value(info, text, parsers).map_err(|e| e.with_column(column.clone()))?,
            None => text.map_or(Value::Null, |s| Value::Text(s.to_owned())),
        };
        out.push((column.clone(), value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::protocol::array::ArrayError;
    use crate::protocol::row::intern;

    fn pv(info: &ColumnInfo, s: Option<&str>) -> Result<Value, ValueError> {
        parse_value(info, s, &Parsers::default())
    }
    fn scalar(ty: &str, s: &str) -> Result<Value, ValueError> {
        pv(&ColumnInfo::scalar(ty), Some(s))
    }

    #[test]
    fn integers_at_their_limits() {
        assert_eq!(scalar("int2", "32767"), Ok(Value::Int(32767)));
        assert_eq!(scalar("int2", "-32768"), Ok(Value::Int(-32768)));
        assert_eq!(
            scalar("int2", "32768").unwrap_err().code(),
            "EDDY_VALUE_INT_OUT_OF_RANGE"
        );
        assert_eq!(scalar("int4", "2147483647"), Ok(Value::Int(i32::MAX)));
        assert_eq!(scalar("int4", "-2147483648"), Ok(Value::Int(i32::MIN)));
        assert_eq!(
            scalar("int4", "-2147483649").unwrap_err().code(),
            "EDDY_VALUE_INT_OUT_OF_RANGE"
        );
        assert_eq!(scalar("int8", "9223372036854775807"), Ok(Value::BigInt(i64::MAX)));
        assert_eq!(
            scalar("int8", "-9223372036854775808"),
            Ok(Value::BigInt(i64::MIN))
        );
        assert_eq!(
            scalar("int8", "9223372036854775808"),
            Err(ValueError::IntOutOfRange {
                column: None,
                type_name: "int8",
                text: "9223372036854775808".into()
            })
        );
        for bad in ["", "1.0", "abc", "1e3", "--1", "0x10"] {
            assert_eq!(
                scalar("int4", bad).unwrap_err().code(),
                "EDDY_VALUE_BAD_INT",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn floats_bools_json_text() {
        assert!(matches!(scalar("float8", "NaN"), Ok(Value::Float(f)) if f.is_nan()));
        assert_eq!(scalar("float8", "Infinity"), Ok(Value::Float(f64::INFINITY)));
        assert_eq!(scalar("float4", "-Infinity"), Ok(Value::Float(f64::NEG_INFINITY)));
        assert_eq!(scalar("float4", "1.5e-10"), Ok(Value::Float(1.5e-10)));
        assert_eq!(
            scalar("float8", "nope").unwrap_err().code(),
            "EDDY_VALUE_BAD_FLOAT"
        );
        assert_eq!(scalar("bool", "t"), Ok(Value::Bool(true)));
        assert_eq!(scalar("bool", "true"), Ok(Value::Bool(true)));
        assert_eq!(scalar("bool", "f"), Ok(Value::Bool(false)));
        assert_eq!(
            scalar("bool", "yes"),
            Ok(Value::Bool(false)),
            "like the TS client"
        );
        assert_eq!(
            scalar("jsonb", r#"{"a":[1,null]}"#),
            Ok(Value::Json(serde_json::json!({"a":[1,null]})))
        );
        assert_eq!(scalar("json", "\"s\""), Ok(Value::Json(serde_json::json!("s"))));
        assert_eq!(scalar("json", "{bad").unwrap_err().code(), "EDDY_VALUE_BAD_JSON");
        assert_eq!(scalar("numeric", "1.50"), Ok(Value::Text("1.50".into())));
        assert_eq!(scalar("text", "NULL"), Ok(Value::Text("NULL".into())));
    }

    #[test]
    fn nulls_and_not_null() {
        assert_eq!(pv(&ColumnInfo::scalar("int4"), None), Ok(Value::Null));
        let nn = ColumnInfo::scalar("int4").not_null();
        let e = pv(&nn, None).unwrap_err();
        assert_eq!(
            (e.code(), e.family()),
            ("EDDY_VALUE_NULL_IN_NOT_NULL", "ParserNullValueError")
        );
        let arr = ColumnInfo::array("int4", 1).not_null();
        assert_eq!(
            pv(&arr, Some("{1,NULL}")).unwrap_err().code(),
            "EDDY_VALUE_NULL_IN_NOT_NULL"
        );
        assert_eq!(
            pv(&arr, Some("{1,2}")),
            Ok(Value::Array(vec![Value::Int(1), Value::Int(2)]))
        );
    }

    #[test]
    fn arrays_type_their_elements() {
        let v = pv(
            &ColumnInfo::array("int8", 2),
            Some("{{1,NULL},{-9223372036854775808,4}}"),
        )
        .unwrap();
        assert_eq!(
            v,
            Value::Array(vec![
                Value::Array(vec![Value::BigInt(1), Value::Null]),
                Value::Array(vec![Value::BigInt(i64::MIN), Value::BigInt(4)]),
            ])
        );
        let e = pv(&ColumnInfo::array("int2", 1), Some("{1,99999}")).unwrap_err();
        assert_eq!(e.code(), "EDDY_VALUE_INT_OUT_OF_RANGE");
        let e = pv(&ColumnInfo::array("int2", 1), Some("{1,")).unwrap_err();
        assert!(matches!(
            e,
            ValueError::BadArray {
                source: ArrayError::UnexpectedEnd { pos: 3 },
                ..
            }
        ));
        let boxes = pv(&ColumnInfo::array("box", 1), Some("{(1,1),(0,0);(3,3),(2,2)}")).unwrap();
        assert_eq!(
            boxes,
            Value::Array(vec![
                Value::Text("(1,1),(0,0)".into()),
                Value::Text("(3,3),(2,2)".into())
            ])
        );
    }

    #[test]
    fn registry_overrides_and_text() {
        let mut p = Parsers::new();
        p.register("int4", |s| Ok(Value::Text(format!("<{s}>"))))
            .register("mood", |s| {
                if s == "ok" {
                    Ok(Value::Bool(true))
                } else {
                    Err(format!("bad mood {s}"))
                }
            })
            .leave_as_text("bool");
        let int4 = ColumnInfo::scalar("int4");
        assert_eq!(parse_value(&int4, Some("7"), &p), Ok(Value::Text("<7>".into())));
        assert_eq!(
            parse_value(&ColumnInfo::scalar("bool"), Some("t"), &p),
            Ok(Value::Text("t".into()))
        );
        let moods = parse_value(&ColumnInfo::array("mood", 1), Some("{ok,NULL}"), &p).unwrap();
        assert_eq!(moods, Value::Array(vec![Value::Bool(true), Value::Null]));
        let e = parse_value(&ColumnInfo::scalar("mood"), Some("sad"), &p).unwrap_err();
        assert_eq!(e.code(), "EDDY_VALUE_CUSTOM_PARSER");
        assert!(e.to_string().contains("bad mood sad"), "{e}");
        p.reset("int4");
        assert_eq!(parse_value(&int4, Some("7"), &p), Ok(Value::Int(7)));
        let raw = Parsers::text_only();
        assert_eq!(parse_value(&int4, Some("7"), &raw), Ok(Value::Text("7".into())));
        let arr = parse_value(&ColumnInfo::array("int4", 1), Some("{7}"), &raw).unwrap();
        assert_eq!(arr, Value::Array(vec![Value::Text("7".into())]));
        assert!(format!("{p:?}").contains("(\"bool\", \"text\")"));
    }

    #[test]
    fn parse_row_names_the_column_and_keeps_unknown_columns() {
        let schema =
            Schema::from_header(r#"{"id":{"type":"int4","not_null":true},"n":{"type":"int2"}}"#).unwrap();
        let row = Row::from_pairs([
            ("id", Some("1")),
            ("extra", Some("5")),
            ("gone", None),
            ("n", None),
        ]);
        let out = parse_row(&schema, &row, &Parsers::default()).unwrap();
        assert_eq!(
            out,
            vec![
                (intern("id"), Value::Int(1)),
                (intern("extra"), Value::Text("5".into())),
                (intern("gone"), Value::Null),
                (intern("n"), Value::Null),
            ]
        );
        let bad = Row::from_pairs([("id", None)]);
        let e = parse_row(&schema, &bad, &Parsers::default()).unwrap_err();
        assert_eq!(e.column(), Some("id"));
        assert_eq!(e.to_string(), "column \"id\": NULL value in a NOT NULL column");
    }

    #[test]
    fn serializes_to_plain_json() {
        let v = Value::Array(vec![
            Value::Null,
            Value::Bool(true),
            Value::Int(-3),
            Value::BigInt(i64::MAX),
            Value::Float(0.5),
            Value::Float(f64::NAN),
            Value::Float(f64::INFINITY),
            Value::Float(f64::NEG_INFINITY),
            Value::Text("x".into()),
            Value::Json(serde_json::json!({"k":[1]})),
        ]);
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"[null,true,-3,9223372036854775807,0.5,"NaN","Infinity","-Infinity","x",{"k":[1]}]"#
        );
    }

    #[test]
    fn long_bad_text_is_cut_in_errors() {
        let long = "x".repeat(500);
        let ValueError::BadInt { text, .. } = scalar("int4", &long).unwrap_err() else {
            panic!()
        };
        assert_eq!(text.chars().count(), 65);
    }
}
