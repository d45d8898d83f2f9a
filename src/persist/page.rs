//! The page format: many rows per blob, so storage cost is per page, not per row.
//!
//! A page is written once and never changed (copy-on-write, see [`super::checkpoint`]).
//! Layout (format [`PAGE_FORMAT`], integers little-endian, `varint` = LEB128, `str` = varint
//! length + UTF-8):
//!
//! ```text
//! 0   4  magic "EDYP"
//! 4   2  format version (1)
//! 6   2  reserved (0)
//! 8   8  page id (guards against a backend returning the wrong blob)
//! 16  4  record count
//! 20  4  byte position of the column table
//! 24  .. records, each: str key, varint body length, body
//! ..  .. column table: varint count, str names (each column name stored once per page)
//! end 8  checksum64 (see `codec`) of every byte before it
//! ```
//!
//! A record body is the row as a compacted insert, values in exact wire text (Postgres text
//! output, never re-typed): `varint column count`, per column `varint column index, u8 0 (NULL)
//! | 1 + str value`; then `u8 0 | 1 + varint schema index + varint table index` (relation);
//! `varint tag count, str tags`; `varint active condition count, u8 each`. Binary rather than
//! JSON because decoding JSON text per row cost ~4× more (restore of 100k rows is on the path
//! to first rows offline). A record's *size* (key + body with their length prefixes) is what
//! live/dead byte accounting counts.

use super::codec::{put_varint, unseal, varint_len, Reader, Writer};
use super::error::PersistError;
use super::storage::PageId;
use crate::protocol::row::intern;
use crate::protocol::{ChangeHeaders, ChangeMessage, Column, Key, Operation, Row};

/// Version of the page layout written by this build.
pub const PAGE_FORMAT: u16 = 1;

const MAGIC: &[u8; 4] = b"EDYP";
const HEADER: usize = 24;
const TRAILER: usize = 8;

/// Builds one page from rows.
#[derive(Debug)]
pub struct PageWriter {
    id: PageId,
    buf: Vec<u8>,
    count: u32,
    columns: Vec<Column>,
    table_bytes: usize,
    body: Vec<u8>,
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
        w.u32(0);
        PageWriter {
            id,
            buf: w.buf,
            count: 0,
            columns: Vec::new(),
            table_bytes: 1,
            body: Vec::new(),
        }
    }

    /// The page id.
    pub fn id(&self) -> PageId {
        self.id
    }

    /// Records so far.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Size the finished page would have now.
    pub fn len(&self) -> usize {
        self.buf.len() + self.table_bytes + TRAILER
    }

    /// True when no record was pushed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Append `row` (stored as an insert: operation, `old_value` and replication headers are
    /// not kept); returns the record's size.
    pub fn push(&mut self, row: &ChangeMessage) -> usize {
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        put_varint(&mut body, row.value.len() as u64);
        let mut hint = 0;
        for (col, v) in row.value.iter() {
            let i = self.column_index(col, hint);
            hint = i + 1;
            put_varint(&mut body, i as u64);
            match v {
                None => body.push(0),
                Some(s) => {
                    body.push(1);
                    put_str(&mut body, s);
                }
            }
        }
        match &row.headers.relation {
            None => body.push(0),
            Some([schema, table]) => {
                body.push(1);
                let s = self.column_index(schema, 0);
                let t = self.column_index(table, 0);
                put_varint(&mut body, s as u64);
                put_varint(&mut body, t as u64);
            }
        }
        put_varint(&mut body, row.headers.tags.len() as u64);
        for t in &row.headers.tags {
            put_str(&mut body, t);
        }
        put_varint(&mut body, row.headers.active_conditions.len() as u64);
        body.extend(row.headers.active_conditions.iter().map(|&b| u8::from(b)));

        let before = self.buf.len();
        put_str(&mut self.buf, row.key.as_str());
        put_varint(&mut self.buf, body.len() as u64);
        self.buf.extend_from_slice(&body);
        self.body = body;
        self.count += 1;
        self.buf.len() - before
    }

    /// Index of `col` in the page's column table (added if new). `hint` is tried first: rows
    /// of one shape list their columns in the same order.
    fn column_index(&mut self, col: &Column, hint: usize) -> usize {
        let same = |c: &Column| std::sync::Arc::ptr_eq(c, col) || **c == **col;
        if self.columns.get(hint).is_some_and(same) {
            return hint;
        }
        if let Some(i) = self.columns.iter().position(same) {
            return i;
        }
        self.columns.push(col.clone());
        self.table_bytes += varint_len(col.len() as u64) + col.len();
        self.table_bytes += varint_len(self.columns.len() as u64) - varint_len(self.columns.len() as u64 - 1);
        self.columns.len() - 1
    }

    /// The finished page bytes.
    pub fn finish(mut self) -> Vec<u8> {
        let table_at = self.buf.len() as u32;
        self.buf[16..20].copy_from_slice(&self.count.to_le_bytes());
        self.buf[20..24].copy_from_slice(&table_at.to_le_bytes());
        put_varint(&mut self.buf, self.columns.len() as u64);
        for c in &self.columns {
            put_str(&mut self.buf, c);
        }
        Writer { buf: self.buf }.seal()
    }
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_varint(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

/// One record of a decoded page, borrowing the page bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// The row key.
    pub key: &'a str,
    /// The encoded row (module docs).
    pub body: &'a [u8],
    /// The record's encoded size.
    pub size: usize,
}

impl RecordRef<'_> {
    /// The key as an owned [`Key`].
    pub fn owned_key(&self) -> Key {
        Key::from(self.key)
    }
}

/// A verified page: its records (bodies not yet decoded) and its column table.
#[derive(Debug)]
pub struct DecodedPage<'a> {
    /// Records in page order (record `i` is bit `i` of the page's dead mask).
    pub records: Vec<RecordRef<'a>>,
    columns: Vec<Column>,
}

impl DecodedPage<'_> {
    /// Decode a record's body into the insert message.
    pub fn message(&self, rec: &RecordRef<'_>) -> Result<ChangeMessage, PersistError> {
        self.message_for(rec, rec.owned_key())
    }

    /// Like [`DecodedPage::message`], with the record's key already built.
    pub fn message_for(&self, rec: &RecordRef<'_>, key: Key) -> Result<ChangeMessage, PersistError> {
        let mut r = Reader::new(rec.body, "page record");
        let col = |r: &mut Reader<'_>| -> Result<Column, PersistError> {
            let i = r.len()?;
            self.columns
                .get(i)
                .cloned()
                .ok_or_else(|| r.err("bad column index"))
        };
        let n = r.len()?;
        // One allocation for the columns and one for all value text (the body bounds both).
        let mut value = Row::with_capacity(n.min(rec.body.len()), rec.body.len());
        for _ in 0..n {
            let c = col(&mut r)?;
            let v = match r.u8()? {
                0 => None,
                1 => Some(r.str()?),
                _ => return Err(r.err("bad value tag")),
            };
            value.set_text(c, v);
        }
        let relation = match r.u8()? {
            0 => None,
            1 => Some([col(&mut r)?, col(&mut r)?]),
            _ => return Err(r.err("bad relation tag")),
        };
        let n = r.len()?;
        let mut tags = Vec::with_capacity(n.min(rec.body.len()));
        for _ in 0..n {
            tags.push(r.str()?.to_owned());
        }
        let n = r.len()?;
        let active_conditions = r.take(n)?.iter().map(|&b| b != 0).collect();
        if !r.is_empty() {
            return Err(r.err("trailing bytes"));
        }
        Ok(ChangeMessage {
            key,
            operation: Operation::Insert,
            value,
            old_value: None,
            headers: ChangeHeaders {
                relation,
                tags,
                active_conditions,
                ..ChangeHeaders::default()
            },
        })
    }
}

/// Decode and verify a page: magic, format, checksum, that it is page `expected_id`, the
/// column table and the framing of every record (bodies are decoded by
/// [`DecodedPage::message`]).
pub fn decode_page(bytes: &[u8], expected_id: PageId) -> Result<DecodedPage<'_>, PersistError> {
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
    let table_at = r.u32()? as usize;
    if table_at < HEADER || table_at > body.len() {
        return Err(r.err("bad column table position"));
    }
    let mut t = Reader::new(&body[table_at..], "page column table");
    let n = t.len()?;
    let mut columns = Vec::with_capacity(n.min(body.len()));
    for _ in 0..n {
        columns.push(intern(t.str()?));
    }
    if !t.is_empty() {
        return Err(t.err("trailing bytes"));
    }
    let mut r = Reader::new(&body[..table_at], "page");
    r.take(HEADER)?;
    let mut records = Vec::with_capacity(count.min(body.len() / 2));
    for _ in 0..count {
        let start = r.pos();
        let key = r.str()?;
        let n = r.len()?;
        let body = r.take(n)?;
        records.push(RecordRef {
            key,
            body,
            size: r.pos() - start,
        });
    }
    if !r.is_empty() {
        return Err(r.err("trailing bytes after the last record"));
    }
    Ok(DecodedPage { records, columns })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str, v: Option<&str>, rel: bool) -> ChangeMessage {
        ChangeMessage {
            key: Key::from(key),
            operation: Operation::Update,
            value: Row::from_pairs([("id", Some(key)), ("v", v), ("ü col", Some("ß"))]),
            old_value: Some(Row::from_pairs([("v", Some("old"))])),
            headers: ChangeHeaders {
                relation: rel.then(|| [intern("public"), intern("items")]),
                tags: vec!["t1".into(), "".into()],
                active_conditions: vec![true, false],
                lsn: Some(9),
                ..ChangeHeaders::default()
            },
        }
    }

    #[test]
    fn records_round_trip_as_inserts_with_relation_and_tag_state() {
        let rows = [
            row("a", Some("x"), true),
            row("b\"ü", None, false),
            row("", Some(""), true),
        ];
        let mut w = PageWriter::new(7, 1024);
        let mut sizes = Vec::new();
        for r in &rows {
            sizes.push(w.push(r));
        }
        // Columns of another order and a new one.
        let other = ChangeMessage {
            value: Row::from_pairs([("z", None), ("id", Some("c"))]),
            headers: ChangeHeaders::default(),
            ..row("c", None, false)
        };
        sizes.push(w.push(&other));
        assert_eq!(w.count(), 4);
        let predicted = w.len();
        let bytes = w.finish();
        assert_eq!(bytes.len(), predicted);
        let page = decode_page(&bytes, 7).unwrap();
        assert_eq!(page.records.len(), 4);
        for ((rec, r), size) in page.records.iter().zip(rows.iter().chain([&other])).zip(&sizes) {
            assert_eq!(rec.size, *size);
            let m = page.message(rec).unwrap();
            assert_eq!(m.key, r.key);
            assert_eq!(m.operation, Operation::Insert);
            assert_eq!(m.value, r.value);
            assert_eq!(m.old_value, None);
            assert_eq!(m.headers.relation, r.headers.relation);
            assert_eq!(m.headers.tags, r.headers.tags);
            assert_eq!(m.headers.active_conditions, r.headers.active_conditions);
            assert_eq!(m.headers.lsn, None);
        }
    }

    #[test]
    fn every_damage_is_a_typed_corrupt_error() {
        let mut w = PageWriter::new(1, 64);
        w.push(&row("k", Some("v"), true));
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
        assert!(decode_page(&empty, 3).unwrap().records.is_empty());
    }

    #[test]
    fn a_bad_body_behind_a_valid_checksum_is_corrupt_not_a_panic() {
        let page = DecodedPage {
            records: vec![],
            columns: vec![intern("id")],
        };
        for body in [
            &[1u8, 5, 0, 0, 0, 0][..],
            &[1, 0, 7],
            &[0, 2],
            &[0, 0, 1],
            &[0, 0, 0, 0, 9],
        ] {
            let rec = RecordRef {
                key: "k",
                body,
                size: 0,
            };
            assert!(
                matches!(page.message(&rec), Err(PersistError::Corrupt { .. })),
                "{body:?}"
            );
        }
    }
}
