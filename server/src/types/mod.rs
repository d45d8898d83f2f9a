//! Postgres column types supported by the embedded store, and their text form.
//!
//! Every value is stored and sent as Postgres text output (ref §3.1): `t`/`f` for bool, numbers as
//! their decimal text (numeric with its typmod applied), json as written, jsonb re-serialised the
//! way Postgres prints it, arrays as array literals, timestamptz normalised to UTC with a `+00`
//! suffix. [`to_text`] turns a JSON value from the
//! write API into that canonical text (validating it against the column type), so that equal
//! values always have equal text — SQLite compares PKs and FKs as text.

use std::fmt::Write as _;

use serde_json::Value as Json;

use crate::time::{parse_date, parse_timestamp};

mod json_text;
mod numeric;
pub use json_text::{json_compact, jsonb_from_raw};
pub use numeric::{is_decimal, numeric_input, numeric_text};

/// A scalar Postgres type (the element type for array columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PgType {
    /// `int2` / `smallint`.
    Int2,
    /// `int4` / `integer`.
    Int4,
    /// `int8` / `bigint`.
    Int8,
    /// `float4` / `real`.
    Float4,
    /// `float8` / `double precision`.
    Float8,
    /// `numeric` / `decimal`.
    Numeric,
    /// `text`.
    Text,
    /// `varchar(n)`.
    Varchar,
    /// `bpchar(n)` / `char(n)`.
    Bpchar,
    /// `bool`.
    Bool,
    /// `json` (the JSON text as written, whitespace dropped; see [`to_text_raw`]).
    Json,
    /// `jsonb` (Postgres jsonb output form).
    Jsonb,
    /// `timestamptz`.
    Timestamptz,
    /// `timestamp` (without time zone).
    Timestamp,
    /// `date`.
    Date,
    /// `uuid`.
    Uuid,
    /// `bytea` (hex output, `\x...`).
    Bytea,
    /// A user-defined enum (its name and labels live on the column).
    Enum,
}

/// How values of a type compare in a `where` clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// Integers (compared as i64).
    Int,
    /// Floats and numerics (compared as f64).
    Float,
    /// Text-like values compared bytewise (text, varchar, uuid, canonical timestamps, dates).
    Text,
    /// Booleans.
    Bool,
    /// Values with equality only (json, jsonb, bytea).
    Opaque,
}

impl PgType {
    /// Parse a type name as written in DDL or a cast (`bigint`, `INT8`, `character varying`...).
    pub fn from_sql_name(name: &str) -> Option<PgType> {
        let n = name.trim().to_ascii_lowercase();
        let n = n.split_whitespace().collect::<Vec<_>>().join(" ");
        Some(match n.as_str() {
            "int2" | "smallint" => PgType::Int2,
            "int4" | "int" | "integer" | "serial" | "serial4" => PgType::Int4,
            "int8" | "bigint" | "bigserial" | "serial8" => PgType::Int8,
            "float4" | "real" => PgType::Float4,
            "float8" | "double precision" | "float" => PgType::Float8,
            "numeric" | "decimal" => PgType::Numeric,
            "text" => PgType::Text,
            "varchar" | "character varying" => PgType::Varchar,
            "bpchar" | "char" | "character" => PgType::Bpchar,
            "bool" | "boolean" => PgType::Bool,
            "json" => PgType::Json,
            "jsonb" => PgType::Jsonb,
            "timestamptz" | "timestamp with time zone" => PgType::Timestamptz,
            "timestamp" | "timestamp without time zone" => PgType::Timestamp,
            "date" => PgType::Date,
            "uuid" => PgType::Uuid,
            "bytea" => PgType::Bytea,
            _ => return None,
        })
    }

    /// The `typname` sent in the `electric-schema` header.
    pub fn name(self) -> &'static str {
        match self {
            PgType::Int2 => "int2",
            PgType::Int4 => "int4",
            PgType::Int8 => "int8",
            PgType::Float4 => "float4",
            PgType::Float8 => "float8",
            PgType::Numeric => "numeric",
            PgType::Text => "text",
            PgType::Varchar => "varchar",
            PgType::Bpchar => "bpchar",
            PgType::Bool => "bool",
            PgType::Json => "json",
            PgType::Jsonb => "jsonb",
            PgType::Timestamptz => "timestamptz",
            PgType::Timestamp => "timestamp",
            PgType::Date => "date",
            PgType::Uuid => "uuid",
            PgType::Bytea => "bytea",
            PgType::Enum => "enum",
        }
    }

    /// The comparison category.
    pub fn category(self) -> Category {
        match self {
            PgType::Int2 | PgType::Int4 | PgType::Int8 => Category::Int,
            PgType::Float4 | PgType::Float8 | PgType::Numeric => Category::Float,
            PgType::Text
            | PgType::Varchar
            | PgType::Bpchar
            | PgType::Uuid
            | PgType::Timestamptz
            | PgType::Timestamp
            | PgType::Date => Category::Text,
            PgType::Bool => Category::Bool,
            // Enums compare by declaration order in Postgres; only equality is offered here.
            PgType::Json | PgType::Jsonb | PgType::Bytea | PgType::Enum => Category::Opaque,
        }
    }
}

/// A column's full type: element type, array dimensions and length modifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ColType {
    /// The scalar (or element) type.
    pub base: PgType,
    /// Array dimensions; 0 for scalars.
    pub dims: u32,
    /// `varchar(n)` / `char(n)` length, if given.
    pub max_len: Option<u32>,
    /// `numeric(precision, scale)` (`numeric(p)` has scale 0), if given.
    pub numeric: Option<(u32, u32)>,
}

impl ColType {
    /// A scalar column of `base`.
    pub const fn scalar(base: PgType) -> Self {
        ColType {
            base,
            dims: 0,
            max_len: None,
            numeric: None,
        }
    }
}

/// Why a value does not fit its column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid input for type {type_name}: {reason}")]
pub struct ValueError {
    /// The Postgres type name.
    pub type_name: &'static str,
    /// What is wrong.
    pub reason: String,
}

fn bad(t: PgType, reason: impl Into<String>) -> ValueError {
    ValueError {
        type_name: t.name(),
        reason: reason.into(),
    }
}

/// Convert a write-API JSON value to the canonical Postgres text of `ty` (`None` = SQL NULL).
pub fn to_text(ty: &ColType, v: &Json) -> Result<Option<String>, ValueError> {
    if v.is_null() {
        return Ok(None);
    }
    if ty.dims > 0 {
        let mut out = String::new();
        array_literal(ty, v, ty.dims, &mut out)?;
        return Ok(Some(out));
    }
    scalar_text(ty, v).map(Some)
}

/// Like [`to_text`], with the value's JSON text as the client wrote it (`raw`, when known):
/// `json` keeps that text (key order, duplicates, number spelling; whitespace dropped), `jsonb`
/// and `numeric` take their numbers from it exactly (no round trip through `f64`).
pub fn to_text_raw(ty: &ColType, v: &Json, raw: Option<&str>) -> Result<Option<String>, ValueError> {
    match (raw, ty.dims, ty.base, v) {
        (_, _, _, Json::Null) => Ok(None),
        (Some(raw), 0, PgType::Json, _) => Ok(Some(json_compact(raw.trim()))),
        (Some(raw), 0, PgType::Jsonb, _) => jsonb_from_raw(raw).map(Some).map_err(|e| bad(ty.base, e)),
        (Some(raw), 0, PgType::Numeric, Json::Number(_)) => numeric_input(raw.trim(), ty.numeric)
            .map(Some)
            .map_err(|e| bad(ty.base, e)),
        _ => to_text(ty, v),
    }
}

fn array_literal(ty: &ColType, v: &Json, depth: u32, out: &mut String) -> Result<(), ValueError> {
    let Json::Array(items) = v else {
        return Err(bad(
            ty.base,
            format!("expected a JSON array for a {}-dimensional array", ty.dims),
        ));
    };
    out.push('{');
    let mut inner_len: Option<usize> = None;
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if depth > 1 {
            let len = item.as_array().map(Vec::len);
            match (inner_len, len) {
                (_, None) => return Err(bad(ty.base, "nested arrays must all be arrays")),
                (Some(a), Some(b)) if a != b => {
                    return Err(bad(ty.base, "multidimensional arrays must have matching extents"))
                }
                _ => inner_len = len,
            }
            array_literal(ty, item, depth - 1, out)?;
        } else if item.is_null() {
            out.push_str("NULL");
        } else if item.is_array() {
            return Err(bad(ty.base, "too many array dimensions"));
        } else {
            let text = scalar_text(ty, item)?;
            push_array_element(&text, out);
        }
    }
    out.push('}');
    Ok(())
}

/// Quote an array element the way Postgres' array_out does.
fn push_array_element(text: &str, out: &mut String) {
    let needs_quotes = text.is_empty()
        || text.eq_ignore_ascii_case("null")
        || text
            .chars()
            .any(|c| matches!(c, '{' | '}' | ',' | '"' | '\\') || c.is_ascii_whitespace());
    if !needs_quotes {
        out.push_str(text);
        return;
    }
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

fn scalar_text(ty: &ColType, v: &Json) -> Result<String, ValueError> {
    let t = ty.base;
    match t {
        PgType::Int2 | PgType::Int4 | PgType::Int8 => {
            let n: i128 = match v {
                Json::Number(n) => {
                    if let Some(i) = n.as_i64() {
                        i128::from(i)
                    } else if let Some(u) = n.as_u64() {
                        i128::from(u)
                    } else {
                        return Err(bad(t, format!("{n} is not an integer")));
                    }
                }
                Json::String(s) => {
                    parse_int_text(s).ok_or_else(|| bad(t, format!("{s:?} is not an integer")))?
                }
                other => return Err(bad(t, format!("expected an integer, got {}", kind(other)))),
            };
            let (lo, hi) = match t {
                PgType::Int2 => (i128::from(i16::MIN), i128::from(i16::MAX)),
                PgType::Int4 => (i128::from(i32::MIN), i128::from(i32::MAX)),
                _ => (i128::from(i64::MIN), i128::from(i64::MAX)),
            };
            if n < lo || n > hi {
                return Err(bad(t, format!("value {n} is out of range")));
            }
            Ok(n.to_string())
        }
        PgType::Float4 | PgType::Float8 => {
            let f = match v {
                Json::Number(n) => n.as_f64().ok_or_else(|| bad(t, "not a number"))?,
                Json::String(s) => {
                    parse_float_text(s).ok_or_else(|| bad(t, format!("{s:?} is not a number")))?
                }
                other => return Err(bad(t, format!("expected a number, got {}", kind(other)))),
            };
            if t == PgType::Float4 {
                Ok(float_text(f64::from(f as f32), true))
            } else {
                Ok(float_text(f, false))
            }
        }
        PgType::Numeric => {
            let s = match v {
                Json::Number(n) => n.to_string(),
                Json::String(s) => s.trim().to_string(),
                other => return Err(bad(t, format!("expected a number, got {}", kind(other)))),
            };
            numeric_input(&s, ty.numeric).map_err(|reason| bad(t, reason))
        }
        PgType::Text | PgType::Varchar | PgType::Bpchar => {
            let Json::String(s) = v else {
                return Err(bad(t, format!("expected a string, got {}", kind(v))));
            };
            if s.contains('\0') {
                return Err(bad(t, "NUL characters are not allowed in text"));
            }
            let len = s.chars().count();
            match (t, ty.max_len) {
                (PgType::Varchar, Some(max)) if len > max as usize => Err(bad(
                    t,
                    format!("value too long for type character varying({max})"),
                )),
                (PgType::Bpchar, Some(n)) if len > n as usize => {
                    Err(bad(t, format!("value too long for type character({n})")))
                }
                (PgType::Bpchar, n) => {
                    let n = n.unwrap_or(1) as usize;
                    Ok(format!("{s}{}", " ".repeat(n.saturating_sub(len))))
                }
                _ => Ok(s.clone()),
            }
        }
        PgType::Bool => match v {
            Json::Bool(b) => Ok(if *b { "t" } else { "f" }.to_string()),
            Json::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "t" | "true" | "yes" | "on" | "1" => Ok("t".into()),
                "f" | "false" | "no" | "off" | "0" => Ok("f".into()),
                _ => Err(bad(t, format!("{s:?} is not a boolean"))),
            },
            other => Err(bad(t, format!("expected a boolean, got {}", kind(other)))),
        },
        PgType::Enum => match v {
            // Membership in the enum's labels is checked by the caller, which knows them.
            Json::String(s) if !s.contains('\0') => Ok(s.clone()),
            other => Err(bad(t, format!("expected a label string, got {}", kind(other)))),
        },
        PgType::Json => Ok(v.to_string()),
        PgType::Jsonb => {
            let mut out = String::new();
            jsonb_text(v, &mut out);
            Ok(out)
        }
        PgType::Timestamptz | PgType::Timestamp | PgType::Date => {
            let Json::String(s) = v else {
                return Err(bad(t, format!("expected a string, got {}", kind(v))));
            };
            let parsed = match t {
                PgType::Date => parse_date(s),
                _ => parse_timestamp(s, t == PgType::Timestamptz),
            };
            parsed.ok_or_else(|| bad(t, format!("{s:?} is not a valid {}", t.name())))
        }
        PgType::Uuid => {
            let Json::String(s) = v else {
                return Err(bad(t, format!("expected a string, got {}", kind(v))));
            };
            canonical_uuid(s).ok_or_else(|| bad(t, format!("{s:?} is not a uuid")))
        }
        PgType::Bytea => {
            let Json::String(s) = v else {
                return Err(bad(t, format!("expected a \\x hex string, got {}", kind(v))));
            };
            let hex = s
                .strip_prefix("\\x")
                .ok_or_else(|| bad(t, "expected \\x followed by hex digits"))?;
            if hex.len() % 2 != 0 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad(t, "expected \\x followed by an even number of hex digits"));
            }
            Ok(format!("\\x{}", hex.to_ascii_lowercase()))
        }
    }
}

fn kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// Parse `[+-]digits` (surrounding spaces allowed, as Postgres does).
pub fn parse_int_text(s: &str) -> Option<i128> {
    let s = s.trim();
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i128>().ok()
}

/// Parse a float the way Postgres accepts it (`NaN`, `Infinity`, `-Infinity`, decimals).
pub fn parse_float_text(s: &str) -> Option<f64> {
    let s = s.trim();
    match s.to_ascii_lowercase().as_str() {
        "nan" => return Some(f64::NAN),
        "infinity" | "+infinity" | "inf" => return Some(f64::INFINITY),
        "-infinity" | "-inf" => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
    {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Postgres float output (shortest round-trip digits, `extra_float_digits=1`).
pub fn float_text(f: f64, single: bool) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let a = f.abs();
    let limit = if single { 1e6 } else { 1e15 };
    if (1e-4..limit).contains(&a) {
        if single {
            return format!("{}", f as f32);
        }
        return format!("{f}");
    }
    // Exponent form: mantissa digits then e+XX / e-XX (at least two exponent digits).
    let s = if single {
        format!("{:e}", f as f32)
    } else {
        format!("{f:e}")
    };
    match s.split_once('e') {
        Some((m, e)) => {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            let mut out = String::with_capacity(s.len() + 2);
            let _ = write!(out, "{m}e{sign}{digits:0>2}");
            out
        }
        None => s,
    }
}

/// Postgres jsonb text output: `{"a": 1, "bb": [1, 2]}`, keys ordered by length then bytes.
pub fn jsonb_text(v: &Json, out: &mut String) {
    match v {
        Json::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.as_bytes().cmp(b.as_bytes())));
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&Json::String((*k).clone()).to_string());
                out.push_str(": ");
                if let Some(val) = map.get(*k) {
                    jsonb_text(val, out);
                }
            }
            out.push('}');
        }
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                jsonb_text(item, out);
            }
            out.push(']');
        }
        // jsonb numbers are `numeric`: printed with the exponent applied.
        Json::Number(n) => {
            let t = n.to_string();
            out.push_str(numeric_text(&t).as_deref().unwrap_or(&t));
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Lower-case hyphenated uuid, or `None`. Accepts braces and missing hyphens like Postgres.
pub fn canonical_uuid(s: &str) -> Option<String> {
    let s = s.trim();
    let s = s.strip_prefix('{').and_then(|x| x.strip_suffix('}')).unwrap_or(s);
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let groups = s.split('-').map(str::len).collect::<Vec<_>>();
    if groups.len() != 1 && groups != [8, 4, 4, 4, 12] {
        return None;
    }
    let h = hex.to_ascii_lowercase();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

#[cfg(test)]
mod tests;
