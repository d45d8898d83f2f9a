//! The page format: many rows per blob, so storage cost is per page, not per row.
//!
//! A page is written once and never changed (copy-on-write, see [`super::checkpoint`]).
//! Layout (format [`PAGE_FORMAT`], integers little-endian):
//!
//! ```text
//! 0   4  magic "EDYP"
//! 4   2  format version (1)
//! 6   2  reserved (0)
//! 8   8  page id (guards against a backend returning the wrong blob)
//! 16  4  record count
//! 20  .. records, each: varint key length, key bytes, varint text length, text bytes
//! end 8  FNV-1a 64 of every byte before it
//! ```
//!
//! A record's text is the row as a compacted insert in the exact wire form
//! (`{"key":..,"value":{..},"headers":{"operation":"insert",..}}`, with `relation` and the
//! subquery tag state when present), so decoding goes through the protocol's own parser and
//! loses nothing. A record's *size* ([`record_size`]) is what live/dead byte accounting counts.

use super::codec::{put_varint, unseal, varint_len, Reader, Writer};
use super::error::PersistError;
use super::storage::PageId;
use crate::protocol::{parse_event, ChangeMessage, Key, Message, Operation};

/// Version of the page layout written by this build.
pub const PAGE_FORMAT: u16 = 1;

const MAGIC: &[u8; 4] = b"EDYP";
const HEADER: usize = 20;
const TRAILER: usize = 8;

/// Bytes a page adds around its records (header + checksum).
pub const PAGE_OVERHEAD: usize = HEADER + TRAILER;

/// The wire text of a row stored as a compacted insert. The message's operation is written as
/// `insert` whatever it was.
pub fn record_text(row: &ChangeMessage) -> String {
    let mut m = row.clone();
    m.operation = Operation::Insert;
    m.old_value = None;
    record_text_owned(m)
}

/// Like [`record_text`], consuming the message (no clone).
pub fn record_text_owned(mut row: ChangeMessage) -> String {
    row.operation = Operation::Insert;
    row.old_value = None;
    // Serializing keys, strings and integers into a String cannot fail.
    serde_json::to_string(&Message::Change(row)).unwrap_or_default()
}

/// Encoded size of a record with this key and text (what live/dead accounting counts).
pub fn record_size(key: &str, text: &str) -> usize {
    varint_len(key.len() as u64) + key.len() + varint_len(text.len() as u64) + text.len()
}

/// Builds one page from records.
#[derive(Debug)]
pub struct PageWriter {
    id: PageId,
    buf: Vec<u8>,
    count: u32,
}

impl PageWriter {
    /// Start page `id`, reserving `capacity` bytes.
    pub fn new(id: PageId, capacity: usize) -> Self {
        let mut w = Writer::with_capacity(capacity.max(HEADER) + TRAILER);
        w.bytes(MAGIC);
        w.u16(PAGE_FORMAT);
        w.u16(0);
        w.u64(id);
        w.u32(0);
        PageWriter {
            id,
            buf: w.buf,
            count: 0,
        }
    }

    /// The page id.
    pub fn id(&self) -> PageId {
        self.id
    }

    /// Append a record; returns its [`record_size`].
    pub fn push(&mut self, key: &str, text: &str) -> usize {
        let before = self.buf.len();
        put_varint(&mut self.buf, key.len() as u64);
        self.buf.extend_from_slice(key.as_bytes());
        put_varint(&mut self.buf, text.len() as u64);
        self.buf.extend_from_slice(text.as_bytes());
        self.count += 1;
        self.buf.len() - before
    }

    /// Records so far.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Encoded bytes so far; the finished page is 8 bytes (the checksum) longer.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when no record was pushed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The finished page bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf[16..20].copy_from_slice(&self.count.to_le_bytes());
        Writer { buf: self.buf }.seal()
    }
}

/// One record of a decoded page, borrowing the page bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// The row key.
    pub key: &'a str,
    /// The row's wire text (a compacted insert).
    pub text: &'a str,
    /// The record's encoded size ([`record_size`]).
    pub size: usize,
}

impl RecordRef<'_> {
    /// Parse the text into the insert message; its key must equal the record key.
    pub fn message(&self) -> Result<ChangeMessage, PersistError> {
        let m = parse_event(self.text.as_bytes())
            .map_err(|e| PersistError::corrupt("page record", &e.to_string()))?;
        match m {
            Some(Message::Change(c)) if c.key.as_str() == self.key => Ok(c),
            Some(Message::Change(_)) => Err(PersistError::corrupt("page record", "key mismatch")),
            _ => Err(PersistError::corrupt("page record", "not a change message")),
        }
    }

    /// The key as an owned [`Key`].
    pub fn owned_key(&self) -> Key {
        Key::from(self.key)
    }
}

/// Decode and verify a page: magic, format, checksum, that it is page `expected_id`, and that
/// every record is well formed. The text of each record is not parsed here (see
/// [`RecordRef::message`]).
pub fn decode_page(bytes: &[u8], expected_id: PageId) -> Result<Vec<RecordRef<'_>>, PersistError> {
    let body = unseal(bytes, "page")?;
    let mut r = Reader::new(body, "page");
    if r.take(4)? != MAGIC {
        return Err(r.err("bad magic"));
    }
    let format = r.u16()?;
    if format != PAGE_FORMAT {
        return Err(r.err(&format!("unsupported page format {format}")));
    }
    r.u16()?;
    let id = r.u64()?;
    if id != expected_id {
        return Err(PersistError::corrupt(
            "page",
            &format!("holds page {id}, expected {expected_id}"),
        ));
    }
    let count = r.u32()? as usize;
    let mut out = Vec::with_capacity(count.min(body.len() / 2));
    for _ in 0..count {
        let start = r.pos();
        let key = r.str()?;
        let text = r.str()?;
        out.push(RecordRef {
            key,
            text,
            size: r.pos() - start,
        });
    }
    if !r.is_empty() {
        return Err(r.err("trailing bytes after the last record"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ChangeHeaders, Row};

    fn row(key: &str, v: Option<&str>) -> ChangeMessage {
        ChangeMessage {
            key: Key::from(key),
            operation: Operation::Update,
            value: Row::from_pairs([("id", Some(key)), ("v", v)]),
            old_value: Some(Row::from_pairs([("v", Some("old"))])),
            headers: ChangeHeaders {
                tags: vec!["t1".into()],
                active_conditions: vec![true],
                lsn: Some(9),
                ..ChangeHeaders::default()
            },
        }
    }

    #[test]
    fn records_round_trip_as_inserts_with_tag_state() {
        let rows = [row("a", Some("x")), row("b\"ü", None), row("", Some(""))];
        let mut w = PageWriter::new(7, 1024);
        let mut sizes = Vec::new();
        for r in &rows {
            let t = record_text(r);
            sizes.push(w.push(r.key.as_str(), &t));
            assert_eq!(*sizes.last().unwrap(), record_size(r.key.as_str(), &t));
        }
        assert_eq!(w.count(), 3);
        let bytes = w.finish();
        let recs = decode_page(&bytes, 7).unwrap();
        assert_eq!(recs.len(), 3);
        for ((rec, r), size) in recs.iter().zip(&rows).zip(&sizes) {
            assert_eq!(rec.size, *size);
            let m = rec.message().unwrap();
            assert_eq!(m.operation, Operation::Insert);
            assert_eq!(m.value, r.value);
            assert_eq!(m.old_value, None);
            assert_eq!(m.headers.tags, r.headers.tags);
            assert_eq!(m.headers.active_conditions, r.headers.active_conditions);
        }
        assert_eq!(bytes.len(), PAGE_OVERHEAD + sizes.iter().sum::<usize>());
    }

    #[test]
    fn every_damage_is_a_typed_corrupt_error() {
        let mut w = PageWriter::new(1, 64);
        w.push("k", &record_text(&row("k", Some("v"))));
        let bytes = w.finish();
        assert!(matches!(
            decode_page(&bytes, 2),
            Err(PersistError::Corrupt { .. })
        ));
        for cut in 0..bytes.len() {
            assert!(decode_page(&bytes[..cut], 1).is_err(), "truncated at {cut}");
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x40;
            assert!(decode_page(&b, 1).is_err(), "flipped byte {i}");
        }
        let empty = PageWriter::new(3, 0).finish();
        assert_eq!(decode_page(&empty, 3).unwrap(), vec![]);
    }
}
