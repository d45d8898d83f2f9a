//! Why a wire value could not be typed ([`ValueError`]), with the column when known.

use std::fmt;

use crate::error::ErrorCode;
use crate::protocol::array::ArrayError;
use crate::protocol::row::Column;

/// Why a value could not be typed. `column` is filled in by [`super::parse_row`] (and is `None` from
/// a bare [`super::parse_value`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValueError {
    /// NULL (or a NULL array element) in a NOT NULL column: the schema and the data disagree.
    #[error("{}NULL value in a NOT NULL column", At(.column))]
    NullInNotNull {
        /// The column.
        column: Option<Column>,
    },
    /// Not an integer.
    #[error("{}{text:?} is not a valid {type_name}", At(.column))]
    BadInt {
        /// The column.
        column: Option<Column>,
        /// `int2`, `int4` or `int8`.
        type_name: &'static str,
        /// The text (cut to 64 characters).
        text: String,
    },
    /// An integer outside the type's range.
    #[error("{}{text:?} is out of range for {type_name}", At(.column))]
    IntOutOfRange {
        /// The column.
        column: Option<Column>,
        /// `int2`, `int4` or `int8`.
        type_name: &'static str,
        /// The text (cut to 64 characters).
        text: String,
    },
    /// Not a floating-point number.
    #[error("{}{text:?} is not a valid float", At(.column))]
    BadFloat {
        /// The column.
        column: Option<Column>,
        /// The text (cut to 64 characters).
        text: String,
    },
    /// Invalid `json`/`jsonb` text.
    #[error("{}invalid JSON: {reason}", At(.column))]
    BadJson {
        /// The column.
        column: Option<Column>,
        /// The JSON parser's message.
        reason: String,
    },
    /// A malformed array literal.
    #[error("{}{source}", At(.column))]
    BadArray {
        /// The column.
        column: Option<Column>,
        /// What is wrong with the literal.
        source: ArrayError,
    },
    /// A user-registered parser refused the text.
    #[error("{}parser for {type_name} failed: {message}", At(.column))]
    Custom {
        /// The column.
        column: Option<Column>,
        /// The type whose parser failed.
        type_name: String,
        /// The parser's message.
        message: String,
    },
}

impl ValueError {
    /// The column the error is about, when known.
    pub fn column(&self) -> Option<&str> {
        self.column_slot_ref().as_deref()
    }

    /// The same error, naming `column`.
    pub fn with_column(mut self, column: Column) -> Self {
        *self.column_slot() = Some(column);
        self
    }

    fn column_slot(&mut self) -> &mut Option<Column> {
        match self {
            ValueError::NullInNotNull { column }
            | ValueError::BadInt { column, .. }
            | ValueError::IntOutOfRange { column, .. }
            | ValueError::BadFloat { column, .. }
            | ValueError::BadJson { column, .. }
            | ValueError::BadArray { column, .. }
            | ValueError::Custom { column, .. } => column,
        }
    }

    fn column_slot_ref(&self) -> &Option<Column> {
        match self {
            ValueError::NullInNotNull { column }
            | ValueError::BadInt { column, .. }
            | ValueError::IntOutOfRange { column, .. }
            | ValueError::BadFloat { column, .. }
            | ValueError::BadJson { column, .. }
            | ValueError::BadArray { column, .. }
            | ValueError::Custom { column, .. } => column,
        }
    }
}

impl ErrorCode for ValueError {
    fn code(&self) -> &'static str {
        match self {
            ValueError::NullInNotNull { .. } => "EDDY_VALUE_NULL_IN_NOT_NULL",
            ValueError::BadInt { .. } => "EDDY_VALUE_BAD_INT",
            ValueError::IntOutOfRange { .. } => "EDDY_VALUE_INT_OUT_OF_RANGE",
            ValueError::BadFloat { .. } => "EDDY_VALUE_BAD_FLOAT",
            ValueError::BadJson { .. } => "EDDY_VALUE_BAD_JSON",
            ValueError::BadArray { .. } => "EDDY_VALUE_BAD_ARRAY",
            ValueError::Custom { .. } => "EDDY_VALUE_CUSTOM_PARSER",
        }
    }
    fn family(&self) -> &'static str {
        match self {
            ValueError::NullInNotNull { .. } => "ParserNullValueError",
            _ => "ParserError",
        }
    }
}

/// Displays `column "x": ` when the column is known.
struct At<'a>(&'a Option<Column>);

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(c) => write!(f, "column {:?}: ", &**c),
            None => Ok(()),
        }
    }
}
