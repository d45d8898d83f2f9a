//! The `electric-schema` header: column → type info (ref §5). Filled in by issue #2 (schema).

use indexmap::IndexMap;

use super::row::Column;
use crate::error::ErrorCode;

/// Why a schema header was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// The header is not a JSON object of column → type info.
    #[error("invalid electric-schema header: {reason}")]
    Invalid {
        /// What is wrong.
        reason: String,
    },
}

impl ErrorCode for SchemaError {
    fn code(&self) -> &'static str {
        "EDDY_SCHEMA_INVALID"
    }
    fn family(&self) -> &'static str {
        "ProtocolError"
    }
}

/// Type information of one column.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnInfo {
    /// Postgres type name (`int4`, `text`, ...); for arrays, the element type.
    pub type_name: String,
    /// Array dimensions (0 for scalars).
    pub dims: u32,
    /// Column is NOT NULL.
    pub not_null: bool,
    /// Position in the primary key.
    pub pk_index: Option<u32>,
}

/// The schema of a shape: its selected columns in header order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    columns: IndexMap<Column, ColumnInfo>,
}

impl Schema {
    /// Parse the header value.
    pub fn from_header(_header: &str) -> Result<Schema, SchemaError> {
        Ok(Schema::default())
    }
    /// Type info of a column.
    pub fn column(&self, name: &str) -> Option<&ColumnInfo> {
        self.columns.get(name)
    }
}
