//! The `electric-schema` header: column → type info (ref §5).
//!
//! The header is a JSON object `{"<column>": {"type": "int4", "dims": 1, "not_null": true, ...}}`
//! naming the *selected* columns. We keep the columns in header order, ignore unknown fields,
//! treat `dims: 0` (what servers and the OpenAPI example send for scalars) like an absent `dims`,
//! and reject wrong field types with a typed [`SchemaError`]. [`Schema::to_header`] writes the
//! same shape back, so a dev server can emit it and a client can persist it.

use std::fmt;

use indexmap::IndexMap;

use crate::fxhash::FxBuildHasher;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde_json::Value as Json;

use super::row::{intern, Column};
use crate::error::ErrorCode;

/// Why a schema header was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// The header is not valid JSON.
    #[error("invalid electric-schema header: {reason}")]
    Invalid {
        /// What is wrong.
        reason: String,
    },
    /// The header is JSON but not an object of column → type info.
    #[error("electric-schema header is not a JSON object")]
    NotAnObject,
    /// A column's type info is not a JSON object.
    #[error("electric-schema: type info of column {column:?} is not an object")]
    ColumnNotAnObject {
        /// The column.
        column: String,
    },
    /// A column has no `type`.
    #[error("electric-schema: column {column:?} has no \"type\"")]
    MissingType {
        /// The column.
        column: String,
    },
    /// A known field has the wrong JSON type or an out-of-range number.
    #[error("electric-schema: field {field:?} of column {column:?} must be {expected}")]
    BadField {
        /// The column.
        column: String,
        /// The field (`dims`, `pk_index`, ...).
        field: &'static str,
        /// What the field must be.
        expected: &'static str,
    },
}

impl ErrorCode for SchemaError {
    fn code(&self) -> &'static str {
        match self {
            SchemaError::Invalid { .. } => "EDDY_SCHEMA_INVALID",
            SchemaError::NotAnObject => "EDDY_SCHEMA_NOT_OBJECT",
            SchemaError::ColumnNotAnObject { .. } => "EDDY_SCHEMA_COLUMN_NOT_OBJECT",
            SchemaError::MissingType { .. } => "EDDY_SCHEMA_MISSING_TYPE",
            SchemaError::BadField { .. } => "EDDY_SCHEMA_BAD_FIELD",
        }
    }
    fn family(&self) -> &'static str {
        "ProtocolError"
    }
}

/// Type information of one column.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnInfo {
    /// Postgres type name (`int4`, `text`, an enum or domain name, ...); for arrays, the
    /// element type.
    pub type_name: String,
    /// Array dimensions (0 for scalars; `dims: 0` and an absent `dims` both mean scalar).
    pub dims: u32,
    /// Column is NOT NULL.
    pub not_null: bool,
    /// 0-based position in the primary key.
    pub pk_index: Option<u32>,
    /// `varchar(n)` / `text` length limit.
    pub max_length: Option<i32>,
    /// `bpchar(n)`, `bit(n)`, `varbit(n)` length (servers send -1 for an unbounded `varbit`).
    pub length: Option<i32>,
    /// Precision of time types, intervals and `numeric`.
    pub precision: Option<i32>,
    /// Scale of `numeric` (may be negative).
    pub scale: Option<i32>,
    /// Interval fields, e.g. `MINUTE TO SECOND`.
    pub fields: Option<String>,
    /// Raw type modifier of non-built-in types.
    pub type_mod: Option<i32>,
}

impl ColumnInfo {
    /// A nullable scalar column of `type_name`.
    pub fn scalar(type_name: &str) -> Self {
        ColumnInfo {
            type_name: type_name.to_owned(),
            ..ColumnInfo::default()
        }
    }

    /// A nullable array column of `dims` dimensions whose elements are `type_name`.
    pub fn array(type_name: &str, dims: u32) -> Self {
        ColumnInfo {
            type_name: type_name.to_owned(),
            dims,
            ..ColumnInfo::default()
        }
    }

    /// The same column, NOT NULL.
    pub fn not_null(mut self) -> Self {
        self.not_null = true;
        self
    }

    /// True for array columns (`dims > 0`).
    pub fn is_array(&self) -> bool {
        self.dims > 0
    }

    fn from_json(column: &str, v: &Json) -> Result<ColumnInfo, SchemaError> {
        let obj = v.as_object().ok_or_else(|| SchemaError::ColumnNotAnObject {
            column: column.to_owned(),
        })?;
        let bad = |field: &'static str, expected: &'static str| SchemaError::BadField {
            column: column.to_owned(),
            field,
            expected,
        };
        let type_name = match obj.get("type") {
            None | Some(Json::Null) => {
                return Err(SchemaError::MissingType {
                    column: column.to_owned(),
                })
            }
            Some(Json::String(s)) => s.clone(),
            Some(_) => return Err(bad("type", "a string")),
        };
        let unsigned = |field: &'static str| -> Result<Option<u32>, SchemaError> {
            match obj.get(field) {
                None | Some(Json::Null) => Ok(None),
                Some(Json::Number(n)) => n
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .map(Some)
                    .ok_or_else(|| bad(field, "a non-negative integer")),
                Some(_) => Err(bad(field, "a non-negative integer")),
            }
        };
        // Modifiers: integers; a decimal string is accepted too (the server's typespec says
        // strings, its code sends numbers).
        let modifier = |field: &'static str| -> Result<Option<i32>, SchemaError> {
            let n = match obj.get(field) {
                None | Some(Json::Null) => return Ok(None),
                Some(Json::Number(n)) => n.as_i64(),
                Some(Json::String(s)) => s.trim().parse::<i64>().ok(),
                Some(_) => None,
            };
            n.and_then(|n| i32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| bad(field, "a 32-bit integer"))
        };
        let not_null = match obj.get("not_null") {
            None | Some(Json::Null) => false,
            Some(Json::Bool(b)) => *b,
            Some(_) => return Err(bad("not_null", "a boolean")),
        };
        let fields = match obj.get("fields") {
            None | Some(Json::Null) => None,
            Some(Json::String(s)) => Some(s.clone()),
            Some(_) => return Err(bad("fields", "a string")),
        };
        Ok(ColumnInfo {
            type_name,
            dims: unsigned("dims")?.unwrap_or(0),
            not_null,
            pk_index: unsigned("pk_index")?,
            max_length: modifier("max_length")?,
            length: modifier("length")?,
            precision: modifier("precision")?,
            scale: modifier("scale")?,
            fields,
            type_mod: modifier("type_mod")?,
        })
    }
}

impl serde::Serialize for ColumnInfo {
    /// The header form: `type` first, then only the fields that are set (`dims` only when > 0,
    /// `not_null` only when true).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("type", &self.type_name)?;
        if self.dims > 0 {
            m.serialize_entry("dims", &self.dims)?;
        }
        if self.not_null {
            m.serialize_entry("not_null", &true)?;
        }
        let ints = [
            ("pk_index", self.pk_index.map(i64::from)),
            ("max_length", self.max_length.map(i64::from)),
            ("length", self.length.map(i64::from)),
            ("precision", self.precision.map(i64::from)),
            ("scale", self.scale.map(i64::from)),
        ];
        for (k, v) in ints {
            if let Some(v) = v {
                m.serialize_entry(k, &v)?;
            }
        }
        if let Some(f) = &self.fields {
            m.serialize_entry("fields", f)?;
        }
        if let Some(t) = self.type_mod {
            m.serialize_entry("type_mod", &t)?;
        }
        m.end()
    }
}

/// The schema of a shape: its selected columns in header order.
///
/// Equality compares the columns and their type info, not their order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    columns: IndexMap<Column, ColumnInfo, FxBuildHasher>,
}

impl Schema {
    /// An empty schema (build one with [`Schema::insert`] or `collect()`).
    pub fn new() -> Self {
        Schema::default()
    }

    /// Parse the header value.
    ///
    /// A column repeated in the header keeps its first position and its last type info (what
    /// `JSON.parse` does).
    pub fn from_header(header: &str) -> Result<Schema, SchemaError> {
        let raw: RawSchema = serde_json::from_str(header).map_err(|e| {
            if e.is_data() {
                SchemaError::NotAnObject
            } else {
                SchemaError::Invalid {
                    reason: e.to_string(),
                }
            }
        })?;
        Schema::from_raw(raw)
    }

    fn from_raw(raw: RawSchema) -> Result<Schema, SchemaError> {
        let mut columns = IndexMap::with_capacity_and_hasher(raw.0.len(), FxBuildHasher::default());
        for (name, v) in raw.0 {
            let info = ColumnInfo::from_json(&name, &v)?;
            columns.insert(intern(&name), info);
        }
        Ok(Schema { columns })
    }

    /// The header value: a compact JSON object that [`Schema::from_header`] reads back equal.
    pub fn to_header(&self) -> String {
        // Serializing strings and integers into a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Type info of a column.
    pub fn column(&self, name: &str) -> Option<&ColumnInfo> {
        self.columns.get(name)
    }

    /// Add or replace a column (a replaced column keeps its position).
    pub fn insert(&mut self, name: &str, info: ColumnInfo) {
        self.columns.insert(intern(name), info);
    }

    /// Columns and their type info, in header order.
    pub fn columns(&self) -> impl Iterator<Item = (&Column, &ColumnInfo)> {
        self.columns.iter()
    }

    /// The primary-key columns ordered by `pk_index` (ties keep header order).
    pub fn primary_key(&self) -> Vec<Column> {
        let mut pk: Vec<(u32, &Column)> = self
            .columns
            .iter()
            .filter_map(|(c, i)| i.pk_index.map(|p| (p, c)))
            .collect();
        pk.sort_by_key(|(p, _)| *p);
        pk.into_iter().map(|(_, c)| c.clone()).collect()
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// True if the schema names no column.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }
}

impl<'a> FromIterator<(&'a str, ColumnInfo)> for Schema {
    fn from_iter<I: IntoIterator<Item = (&'a str, ColumnInfo)>>(iter: I) -> Self {
        let mut s = Schema::new();
        for (name, info) in iter {
            s.insert(name, info);
        }
        s
    }
}

impl serde::Serialize for Schema {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.columns.len()))?;
        for (c, info) in &self.columns {
            m.serialize_entry(&**c, info)?;
        }
        m.end()
    }
}

impl<'de> serde::Deserialize<'de> for Schema {
    /// The header form, with the same checks as [`Schema::from_header`].
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawSchema::deserialize(d)?;
        Schema::from_raw(raw).map_err(serde::de::Error::custom)
    }
}

/// Columns in document order, type info not yet checked.
struct RawSchema(IndexMap<String, Json>);

impl<'de> serde::Deserialize<'de> for RawSchema {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = RawSchema;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of column name to type info")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawSchema, A::Error> {
        let mut cols = IndexMap::with_capacity(map.size_hint().unwrap_or(8).min(256));
        while let Some(name) = map.next_key::<String>()? {
            // A repeated column keeps its first position and takes the later value.
            cols.insert(name, map.next_value::<Json>()?);
        }
        Ok(RawSchema(cols))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_header_keeps_order_and_fields() {
        let s = Schema::from_header(
            r#"{"id":{"type":"uuid","not_null":true,"pk_index":0},"payload":{"type":"jsonb"},
                "tags":{"type":"text","dims":1},"amount":{"type":"numeric","precision":10,"scale":2},
                "d":{"type":"interval","fields":"MINUTE TO SECOND","precision":3,"future":[1]},
                "name":{"type":"varchar","max_length":20,"dims":0},"c":{"type":"bpchar","length":"3"},
                "g":{"type":"geometry","type_mod":1107460}}"#,
        )
        .unwrap();
        let names: Vec<&str> = s.columns().map(|(c, _)| &**c).collect();
        assert_eq!(names, ["id", "payload", "tags", "amount", "d", "name", "c", "g"]);
        let id = s.column("id").unwrap();
        assert_eq!(
            (id.type_name.as_str(), id.not_null, id.pk_index, id.dims),
            ("uuid", true, Some(0), 0)
        );
        assert_eq!(s.column("tags").unwrap().dims, 1);
        assert!(s.column("tags").unwrap().is_array());
        assert!(!s.column("name").unwrap().is_array());
        assert_eq!(s.column("name").unwrap().max_length, Some(20));
        assert_eq!(s.column("amount").unwrap().scale, Some(2));
        assert_eq!(s.column("d").unwrap().fields.as_deref(), Some("MINUTE TO SECOND"));
        assert_eq!(s.column("c").unwrap().length, Some(3));
        assert_eq!(s.column("g").unwrap().type_mod, Some(1107460));
        assert_eq!(s.len(), 8);
        assert!(s.column("missing").is_none());
    }

    #[test]
    fn primary_key_is_ordered_by_pk_index() {
        let s = Schema::from_header(
            r#"{"b":{"type":"int4","pk_index":1},"x":{"type":"text"},"a":{"type":"int4","pk_index":0}}"#,
        )
        .unwrap();
        let pk = s.primary_key();
        let pk: Vec<&str> = pk.iter().map(|c| &**c).collect();
        assert_eq!(pk, ["a", "b"]);
        assert!(Schema::new().primary_key().is_empty());
    }

    #[test]
    fn errors_are_typed() {
        let code = |h: &str| Schema::from_header(h).unwrap_err().code();
        assert_eq!(code("{"), "EDDY_SCHEMA_INVALID");
        assert_eq!(code(""), "EDDY_SCHEMA_INVALID");
        assert_eq!(code("[]"), "EDDY_SCHEMA_NOT_OBJECT");
        assert_eq!(code("null"), "EDDY_SCHEMA_NOT_OBJECT");
        assert_eq!(code(r#"{"a":"int4"}"#), "EDDY_SCHEMA_COLUMN_NOT_OBJECT");
        assert_eq!(code(r#"{"a":{}}"#), "EDDY_SCHEMA_MISSING_TYPE");
        assert_eq!(code(r#"{"a":{"type":4}}"#), "EDDY_SCHEMA_BAD_FIELD");
        assert_eq!(
            code(r#"{"a":{"type":"int4","dims":-1}}"#),
            "EDDY_SCHEMA_BAD_FIELD"
        );
        assert_eq!(
            code(r#"{"a":{"type":"int4","dims":"1"}}"#),
            "EDDY_SCHEMA_BAD_FIELD"
        );
        assert_eq!(
            code(r#"{"a":{"type":"int4","not_null":"yes"}}"#),
            "EDDY_SCHEMA_BAD_FIELD"
        );
        assert_eq!(
            code(r#"{"a":{"type":"int4","pk_index":1.5}}"#),
            "EDDY_SCHEMA_BAD_FIELD"
        );
        assert_eq!(
            code(r#"{"a":{"type":"numeric","scale":true}}"#),
            "EDDY_SCHEMA_BAD_FIELD"
        );
        assert_eq!(
            code(r#"{"a":{"type":"numeric","scale":9999999999}}"#),
            "EDDY_SCHEMA_BAD_FIELD"
        );
        assert_eq!(
            code(r#"{"a":{"type":"interval","fields":1}}"#),
            "EDDY_SCHEMA_BAD_FIELD"
        );
        let e = Schema::from_header(r#"{"my col":{"type":"int4","dims":"x"}}"#).unwrap_err();
        assert_eq!(
            e,
            SchemaError::BadField {
                column: "my col".into(),
                field: "dims",
                expected: "a non-negative integer"
            }
        );
        assert!(e.to_string().contains("my col"));
        assert_eq!(e.family(), "ProtocolError");
    }

    #[test]
    fn empty_object_and_nulls_are_tolerated() {
        assert!(Schema::from_header(" {} ").unwrap().is_empty());
        let s = Schema::from_header(r#"{"a":{"type":"int4","dims":null,"not_null":null}}"#).unwrap();
        assert_eq!(s.column("a"), Some(&ColumnInfo::scalar("int4")));
    }

    #[test]
    fn duplicate_column_keeps_first_position_last_info() {
        let s =
            Schema::from_header(r#"{"a":{"type":"int4"},"b":{"type":"text"},"a":{"type":"int8"}}"#).unwrap();
        let names: Vec<&str> = s.columns().map(|(c, _)| &**c).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(s.column("a").unwrap().type_name, "int8");
    }

    #[test]
    fn to_header_round_trips_odd_names() {
        let mut s = Schema::new();
        s.insert(
            "id",
            ColumnInfo {
                pk_index: Some(0),
                ..ColumnInfo::scalar("int8").not_null()
            },
        );
        s.insert("a,b", ColumnInfo::array("text", 2).not_null());
        s.insert("say \"hi\"", ColumnInfo::scalar("jsonb"));
        s.insert(
            "with space",
            ColumnInfo {
                precision: Some(10),
                scale: Some(-2),
                fields: Some("DAY TO SECOND".into()),
                type_mod: Some(-1),
                max_length: Some(3),
                length: Some(-1),
                ..ColumnInfo::scalar("numeric")
            },
        );
        let h = s.to_header();
        assert!(
            h.starts_with(r#"{"id":{"type":"int8","not_null":true,"pk_index":0},"a,b":"#),
            "{h}"
        );
        assert_eq!(Schema::from_header(&h).unwrap(), s);
        let collected: Schema = [("x", ColumnInfo::scalar("bool"))].into_iter().collect();
        assert_eq!(collected.to_header(), r#"{"x":{"type":"bool"}}"#);
        assert_eq!(Schema::new().to_header(), "{}");
        let via_serde: Schema = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        assert_eq!(via_serde, s);
        assert!(serde_json::from_str::<Schema>(r#"{"a":{}}"#).is_err());
    }
}
