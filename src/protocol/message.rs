//! Shape-log messages (ref §3): change, control and event messages, and the two framings
//! they arrive in — a JSON array (a long-poll body) or one JSON object per SSE `data:` event.
//!
//! Forward compatibility: unknown header fields are ignored, and so are messages whose control
//! or event kind this client does not know (they are dropped by [`parse_body`]). A change with
//! an unknown `operation` is an error instead: applying it wrongly or skipping it would both
//! lose data.

use std::borrow::Cow;
use std::fmt;

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};

use super::row::{intern, Column, Key, Row};
use crate::error::ErrorCode;

/// Why a body or message could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Not valid JSON (often a truncated body).
    #[error("malformed JSON in shape log at line {line}, column {column}: {reason}")]
    Json {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// serde_json's description.
        reason: String,
    },
    /// Valid JSON whose shape is not a message (or, for a body, not an array of them).
    #[error("malformed message at index {index}: {reason}")]
    Malformed {
        /// Position of the message in its body (0 for an SSE event).
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
}

impl ErrorCode for MessageError {
    fn code(&self) -> &'static str {
        match self {
            MessageError::Json { .. } => "EDDY_MESSAGE_JSON",
            MessageError::Malformed { .. } => "EDDY_MESSAGE_MALFORMED",
        }
    }
    fn family(&self) -> &'static str {
        "ProtocolError"
    }
}

/// The operation of a change message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    /// A new row (or a snapshot row).
    Insert,
    /// Changed columns of an existing row (full row with `replica=full`).
    Update,
    /// Removal (PK columns, or the full old row with `replica=full`).
    Delete,
}

impl Operation {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Insert => "insert",
            Operation::Update => "update",
            Operation::Delete => "delete",
        }
    }
}

/// Headers of a change message. Replication fields are absent on snapshot rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChangeHeaders {
    /// `[schema, table]`.
    pub relation: Option<[Column; 2]>,
    /// Commit LSN of the transaction (decimal on the wire).
    pub lsn: Option<u64>,
    /// Position inside the transaction.
    pub op_position: Option<u64>,
    /// Transaction ids (currently one).
    pub txids: Vec<u64>,
    /// True on the last operation of the transaction for this shape.
    pub last: bool,
    /// On the delete half of a PK change: the row's new key.
    pub key_change_to: Option<Key>,
    /// On the insert half of a PK change: the row's old key.
    pub key_change_from: Option<Key>,
    /// Subquery shapes: one tag per DNF disjunct.
    pub tags: Vec<String>,
    /// Subquery shapes: tags the row lost.
    pub removed_tags: Vec<String>,
    /// Subquery shapes: whether each position currently holds.
    pub active_conditions: Vec<bool>,
    /// Subquery shapes: the row arrived because it moved into the shape.
    pub is_move_in: bool,
    /// Subset snapshot rows: the snapshot they belong to.
    pub snapshot_mark: Option<u64>,
}

/// An insert, update or delete of one row.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeMessage {
    /// The row identity.
    pub key: Key,
    /// What happened.
    pub operation: Operation,
    /// Full row (insert), changed columns + PK (update), PK columns (delete).
    pub value: Row,
    /// `replica=full` updates: previous values of the changed columns.
    pub old_value: Option<Row>,
    /// Everything else the server said about it.
    pub headers: ChangeHeaders,
}

/// Metadata of an injected subset snapshot (64-bit xids as decimal strings on the wire).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotMeta {
    /// Lowest still-active xid.
    pub xmin: u64,
    /// First not-yet-assigned xid.
    pub xmax: u64,
    /// Xids in progress at snapshot time.
    pub xip_list: Vec<u64>,
    /// Identifies the snapshot.
    pub snapshot_mark: Option<u64>,
    /// LSN of the database at snapshot time.
    pub database_lsn: Option<u64>,
}

/// A control message (ref §3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlMessage {
    /// The client has everything the server knew at that moment.
    UpToDate {
        /// The server's global last seen LSN, when sent.
        global_last_seen_lsn: Option<u64>,
    },
    /// Throw away everything for this shape and resync.
    MustRefetch,
    /// End of an injected subset snapshot.
    SnapshotEnd(SnapshotMeta),
}

/// The kind of a move event (ref §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MoveKind {
    /// Rows matching the patterns entered the shape.
    MoveIn,
    /// Rows matching the patterns left the shape.
    MoveOut,
}

/// One `{pos, value}` pattern of a move event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MovePattern {
    /// Position in the tag.
    pub pos: u32,
    /// The tag slot value (md5 hex).
    pub value: String,
}

/// A move-in / move-out event of a subquery shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMessage {
    /// Which way rows moved.
    pub kind: MoveKind,
    /// Which tag slots moved.
    pub patterns: Vec<MovePattern>,
    /// Transaction ids of the change that caused it.
    pub txids: Vec<u64>,
}

/// Any message this client understands.
///
/// Not boxed: nearly every message of a log is a change, so boxing the big variant would add an
/// allocation per row to save a few bytes on the rare control message.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A row change.
    Change(ChangeMessage),
    /// A control message.
    Control(ControlMessage),
    /// A move event.
    Event(EventMessage),
}

impl Message {
    /// True for the `up-to-date` control message.
    pub fn is_up_to_date(&self) -> bool {
        matches!(self, Message::Control(ControlMessage::UpToDate { .. }))
    }

    /// Shorthand for building an up-to-date message.
    pub fn up_to_date(global_last_seen_lsn: Option<u64>) -> Message {
        Message::Control(ControlMessage::UpToDate { global_last_seen_lsn })
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing

/// Parse a long-poll body: a JSON array of messages. Unknown kinds are dropped.
///
/// The body scanner ([`BodyParser`](super::body::BodyParser)) in one piece.
pub fn parse_body(body: &[u8]) -> Result<Vec<Message>, MessageError> {
    let mut parser = super::body::BodyParser::new();
    parser.push(body)?;
    parser.finish()
}

/// The serde reading of a body: the reference the body scanner must agree with (tests compare
/// the two), not for production use.
#[doc(hidden)]
pub fn parse_body_serde(body: &[u8]) -> Result<Vec<Message>, MessageError> {
    let mut out = Vec::new();
    parse_body_into(body, 0, &mut out)?;
    Ok(out)
}

/// [`parse_body_serde`] for an array whose first element is element `first` of the real body
/// (the body scanner's fallback for what it declines; `Malformed` indexes count from `first`),
/// appending to `out` (garbage after an error).
pub(crate) fn parse_body_into(body: &[u8], first: usize, out: &mut Vec<Message>) -> Result<(), MessageError> {
    // Each element becomes a `Message` as soon as it is read (no array of raw messages), and
    // the first malformed one stops the read.
    let mut failed = None;
    let mut at = first;
    let mut de = serde_json::Deserializer::from_slice(body);
    let visitor = Messages {
        failed: &mut failed,
        at: &mut at,
        first,
        out,
    };
    let read = serde::Deserializer::deserialize_seq(&mut de, visitor);
    if let Some(e) = failed {
        return Err(e);
    }
    // A data error (a field of the wrong type, ...) is in the element being read.
    read.map_err(|e| match json_error(e) {
        MessageError::Malformed { reason, .. } => MessageError::Malformed { index: at, reason },
        other => other,
    })?;
    de.end().map_err(json_error)
}

/// Parse one SSE `data:` payload: a single JSON object. `Ok(None)` for an unknown kind.
pub fn parse_event(data: &[u8]) -> Result<Option<Message>, MessageError> {
    let raw: RawMessage<'_> = serde_json::from_slice(data).map_err(json_error)?;
    raw.into_message(0)
}

fn json_error(e: serde_json::Error) -> MessageError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data => MessageError::Malformed {
            index: 0,
            reason: e.to_string(),
        },
        _ => MessageError::Json {
            line: e.line(),
            column: e.column(),
            reason: e.to_string(),
        },
    }
}

/// The array of a response body, read element by element into messages.
struct Messages<'f> {
    failed: &'f mut Option<MessageError>,
    /// The index of the element being read.
    at: &'f mut usize,
    first: usize,
    out: &'f mut Vec<Message>,
}

impl<'de> serde::de::Visitor<'de> for Messages<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of messages")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = self.first;
        *self.at = index;
        while let Some(raw) = seq.next_element::<RawMessage<'de>>()? {
            match raw.into_message(index) {
                Ok(Some(m)) => self.out.push(m),
                Ok(None) => {}
                Err(e) => {
                    *self.failed = Some(e);
                    return Err(serde::de::Error::custom("malformed message"));
                }
            }
            index += 1;
            *self.at = index;
        }
        Ok(())
    }
}

/// Accepts a decimal string or a JSON number for a u64 field (servers differ).
#[derive(Debug)]
pub(crate) struct Decimal(pub(crate) u64);

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DecimalVisitor)
    }
}

struct DecimalVisitor;

impl serde::de::Visitor<'_> for DecimalVisitor {
    type Value = Decimal;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a decimal integer (number or string)")
    }
    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Decimal, E> {
        Ok(Decimal(n))
    }
    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Decimal, E> {
        u64::try_from(n)
            .map(Decimal)
            .map_err(|_| E::custom(format!("expected a decimal integer, got {n}")))
    }
    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Decimal, E> {
        s.parse::<u64>()
            .map(Decimal)
            .map_err(|_| E::custom(format!("expected a decimal integer, got {s:?}")))
    }
}

fn decimals(v: Option<Vec<Decimal>>) -> Vec<u64> {
    v.map(|v| v.into_iter().map(|d| d.0).collect())
        .unwrap_or_default()
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawHeaders<'a> {
    #[serde(borrow)]
    pub(crate) operation: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) control: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) event: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) relation: Option<Vec<Cow<'a, str>>>,
    pub(crate) lsn: Option<Decimal>,
    pub(crate) op_position: Option<Decimal>,
    pub(crate) txids: Option<Vec<Decimal>>,
    pub(crate) last: Option<bool>,
    pub(crate) key_change_to: Option<Key>,
    pub(crate) key_change_from: Option<Key>,
    pub(crate) tags: Option<Vec<String>>,
    pub(crate) removed_tags: Option<Vec<String>>,
    pub(crate) active_conditions: Option<Vec<bool>>,
    pub(crate) is_move_in: Option<bool>,
    pub(crate) snapshot_mark: Option<Decimal>,
    pub(crate) global_last_seen_lsn: Option<Decimal>,
    pub(crate) xmin: Option<Decimal>,
    pub(crate) xmax: Option<Decimal>,
    pub(crate) xip_list: Option<Vec<Decimal>>,
    pub(crate) database_lsn: Option<Decimal>,
    pub(crate) patterns: Option<Vec<MovePattern>>,
    /// A `[schema, table]` relation the body scanner already interned (instead of `relation`).
    #[serde(skip)]
    pub(crate) relation_interned: Option<[Column; 2]>,
}

#[derive(Deserialize)]
pub(crate) struct RawMessage<'a> {
    #[serde(borrow)]
    pub(crate) headers: RawHeaders<'a>,
    #[serde(default)]
    pub(crate) key: Option<Key>,
    #[serde(default)]
    pub(crate) value: Option<Row>,
    #[serde(default)]
    pub(crate) old_value: Option<Row>,
}

impl RawMessage<'_> {
    pub(crate) fn into_message(self, index: usize) -> Result<Option<Message>, MessageError> {
        let h = self.headers;
        let bad = |reason: &str| MessageError::Malformed {
            index,
            reason: reason.to_string(),
        };
        if let Some(control) = h.control.as_deref() {
            return Ok(match control {
                "up-to-date" => Some(Message::up_to_date(h.global_last_seen_lsn.map(|d| d.0))),
                "must-refetch" => Some(Message::Control(ControlMessage::MustRefetch)),
                "snapshot-end" => Some(Message::Control(ControlMessage::SnapshotEnd(SnapshotMeta {
                    xmin: h.xmin.map_or(0, |d| d.0),
                    xmax: h.xmax.map_or(0, |d| d.0),
                    xip_list: decimals(h.xip_list),
                    snapshot_mark: h.snapshot_mark.map(|d| d.0),
                    database_lsn: h.database_lsn.map(|d| d.0),
                }))),
                _ => None,
            });
        }
        if let Some(event) = h.event.as_deref() {
            let kind = match event {
                "move-in" => MoveKind::MoveIn,
                "move-out" => MoveKind::MoveOut,
                _ => return Ok(None),
            };
            return Ok(Some(Message::Event(EventMessage {
                kind,
                patterns: h.patterns.unwrap_or_default(),
                txids: decimals(h.txids),
            })));
        }
        let Some(op) = h.operation.as_deref() else {
            return Ok(None);
        };
        let operation = match op {
            "insert" => Operation::Insert,
            "update" => Operation::Update,
            "delete" => Operation::Delete,
            other => return Err(bad(&format!("unknown operation {other:?}"))),
        };
        let key = self.key.ok_or_else(|| bad("change message without a key"))?;
        let relation = match (h.relation_interned, h.relation) {
            (Some(r), _) => Some(r),
            (None, None) => None,
            (None, Some(r)) if r.len() == 2 => Some([intern(&r[0]), intern(&r[1])]),
            (None, Some(_)) => return Err(bad("relation must be [schema, table]")),
        };
        Ok(Some(Message::Change(ChangeMessage {
            key,
            operation,
            value: self.value.unwrap_or_default(),
            old_value: self.old_value,
            headers: ChangeHeaders {
                relation,
                lsn: h.lsn.map(|d| d.0),
                op_position: h.op_position.map(|d| d.0),
                txids: decimals(h.txids),
                last: h.last.unwrap_or(false),
                key_change_to: h.key_change_to,
                key_change_from: h.key_change_from,
                tags: h.tags.unwrap_or_default(),
                removed_tags: h.removed_tags.unwrap_or_default(),
                active_conditions: h.active_conditions.unwrap_or_default(),
                is_move_in: h.is_move_in.unwrap_or(false),
                snapshot_mark: h.snapshot_mark.map(|d| d.0),
            },
        })))
    }
}

// ---------------------------------------------------------------------------------------------
// Serializing (the exact wire form; used by eddy-server and by persistence)

struct DecStr(u64);

impl Serialize for DecStr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

struct Headers<'a>(&'a Message);

impl Serialize for Headers<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        match self.0 {
            Message::Change(c) => {
                let h = &c.headers;
                m.serialize_entry("operation", c.operation.as_str())?;
                if let Some([schema, table]) = &h.relation {
                    m.serialize_entry("relation", &[&**schema, &**table])?;
                }
                if let Some(lsn) = h.lsn {
                    m.serialize_entry("lsn", &DecStr(lsn))?;
                }
                if let Some(p) = h.op_position {
                    m.serialize_entry("op_position", &p)?;
                }
                if !h.txids.is_empty() {
                    m.serialize_entry("txids", &h.txids)?;
                }
                if h.last {
                    m.serialize_entry("last", &true)?;
                }
                if let Some(k) = &h.key_change_to {
                    m.serialize_entry("key_change_to", k)?;
                }
                if let Some(k) = &h.key_change_from {
                    m.serialize_entry("key_change_from", k)?;
                }
                if !h.tags.is_empty() {
                    m.serialize_entry("tags", &h.tags)?;
                }
                if !h.removed_tags.is_empty() {
                    m.serialize_entry("removed_tags", &h.removed_tags)?;
                }
                if !h.active_conditions.is_empty() {
                    m.serialize_entry("active_conditions", &h.active_conditions)?;
                }
                if h.is_move_in {
                    m.serialize_entry("is_move_in", &true)?;
                }
                if let Some(s) = h.snapshot_mark {
                    m.serialize_entry("snapshot_mark", &s)?;
                }
            }
            Message::Control(ControlMessage::UpToDate { global_last_seen_lsn }) => {
                m.serialize_entry("control", "up-to-date")?;
                if let Some(l) = global_last_seen_lsn {
                    m.serialize_entry("global_last_seen_lsn", &DecStr(*l))?;
                }
            }
            Message::Control(ControlMessage::MustRefetch) => m.serialize_entry("control", "must-refetch")?,
            Message::Control(ControlMessage::SnapshotEnd(s)) => {
                m.serialize_entry("control", "snapshot-end")?;
                m.serialize_entry("xmin", &DecStr(s.xmin))?;
                m.serialize_entry("xmax", &DecStr(s.xmax))?;
                let xip: Vec<DecStr> = s.xip_list.iter().map(|x| DecStr(*x)).collect();
                m.serialize_entry("xip_list", &xip)?;
                if let Some(mark) = s.snapshot_mark {
                    m.serialize_entry("snapshot_mark", &mark)?;
                }
                if let Some(l) = s.database_lsn {
                    m.serialize_entry("database_lsn", &DecStr(l))?;
                }
            }
            Message::Event(e) => {
                let kind = match e.kind {
                    MoveKind::MoveIn => "move-in",
                    MoveKind::MoveOut => "move-out",
                };
                m.serialize_entry("event", kind)?;
                m.serialize_entry("patterns", &e.patterns)?;
                if !e.txids.is_empty() {
                    m.serialize_entry("txids", &e.txids)?;
                }
            }
        }
        m.end()
    }
}

impl Serialize for Message {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if let Message::Change(c) = self {
            m.serialize_entry("key", &c.key)?;
            m.serialize_entry("value", &c.value)?;
            if let Some(old) = &c.old_value {
                m.serialize_entry("old_value", old)?;
            }
        }
        m.serialize_entry("headers", &Headers(self))?;
        m.end()
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&serde_json::to_string(self).map_err(|_| fmt::Error)?)
    }
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
