//! The Electric shape protocol on the wire (`../shared/reference/electric-shape-protocol.md`).
//!
//! Pure functions and types: parse offsets, messages, the schema header and typed values; build
//! request URLs; classify responses. No I/O, no clock (time is passed in where a rule needs it).

pub mod array;
pub mod body;
pub mod message;
pub mod offset;
pub mod request;
pub mod response;
pub mod row;
pub mod schema;
pub mod sse;
pub mod value;

pub use array::{parse_array, render_array, ArrayElem, ArrayError};
pub use body::BodyParser;
pub use message::{
    parse_body, parse_event, ChangeHeaders, ChangeMessage, ControlMessage, EventMessage, Message,
    MessageError, MoveKind, MovePattern, Operation, SnapshotMeta,
};
pub use offset::{LogOffset, Offset, OffsetError, OpOffset};
pub use request::{build_url, LogMode, Replica, RequestError, RequestParams, ShapeDefinition};
pub use response::{
    classify, is_event_stream, network_failure, FetchError, HeaderLookup, RequestKind, ResponseClass,
    ResponseError, ShapeMeta,
};
pub use row::{Column, Key, Row};
pub use schema::{ColumnInfo, Schema, SchemaError};
pub use sse::{SseDecoder, SseError, SseEvent, StreamEnd};
pub use value::{parse_row, parse_value, ParseFn, Parsers, Value, ValueError};
