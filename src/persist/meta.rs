//! The meta blob: everything a store needs besides the pages, written last in every commit.
//!
//! It names the live pages, so a page that no meta references is garbage and a torn commit
//! can only lose the whole commit. Layout (format [`META_FORMAT`], integers little-endian,
//! `varint` = LEB128, `str` = varint length + UTF-8, `opt` = 0 | 1 + value):
//!
//! ```text
//! magic "EDYM" | u16 format | u16 reserved | u64 definition hash | u64 sequence
//! | u64 next page id | u64 row count | opt str handle | opt str offset | opt str schema header
//! | varint page count | per page: varint id, varint page bytes, varint records,
//!   varint live rows, varint live bytes, varint dead bytes, varint mask length, mask bytes
//! | u64 checksum64 of all the above
//! ```
//!
//! Pages are immutable, so a row that was updated or deleted after its page was written is
//! marked dead in the page's **dead mask** here (bit `i` of byte `i / 8`, LSB first, set =
//! record `i` is dead; empty while nothing in the page is dead). The meta therefore costs about
//! one bit per record of the pages that have dead records, and compaction (which rewrites pages
//! past the dead-byte threshold) bounds that too.
//!
//! The definition hash is [`definition_hash`]: FNV-1a 64 of the UTF-8 bytes of
//! [`ShapeDefinition::identity`] (the canonical, sorted, form-encoded definition params). A
//! store whose hash differs from the shape being opened is discarded, never reused.

use super::codec::{fnv1a64, unseal, Reader, Writer};
use super::error::PersistError;
use super::storage::PageId;
use crate::protocol::{Offset, Schema, ShapeDefinition};

/// Version of the meta (and, together with [`super::page::PAGE_FORMAT`], the store) layout.
pub const META_FORMAT: u16 = 1;

const MAGIC: &[u8; 4] = b"EDYM";

/// Stable 64-bit hash of a shape definition: FNV-1a 64 of `definition.identity()`.
pub fn definition_hash(definition: &ShapeDefinition) -> u64 {
    fnv1a64(definition.identity().as_bytes())
}

/// Where the stored rows stand in the shape log: exactly the state after the `up-to-date` the
/// checkpoint was taken at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The shape handle (`electric-handle`).
    pub handle: String,
    /// The offset of the `up-to-date` whose state the rows are (resume from here).
    pub offset: Offset,
    /// The shape's schema (`electric-schema`), if known.
    pub schema: Option<Schema>,
}

/// Bookkeeping of one live page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PageMeta {
    /// The page id.
    pub id: PageId,
    /// Encoded page length in bytes (records, column table, header and checksum).
    pub bytes: u64,
    /// Records written in the page (live and dead).
    pub records: u64,
    /// Number of live rows in the page.
    pub rows: u64,
    /// Record bytes of rows that still live in this page.
    pub live: u64,
    /// Record bytes of rows superseded or deleted since the page was written.
    pub dead: u64,
    /// Dead records: bit `i % 8` of byte `i / 8` set = record `i` is dead. Empty when none is.
    pub dead_mask: Vec<u8>,
}

impl PageMeta {
    /// True when record `index` is marked dead.
    pub fn is_dead(&self, index: u32) -> bool {
        let i = index as usize;
        self.dead_mask.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0)
    }

    /// Mark record `index` dead (growing the mask to cover every record on first use).
    pub fn mark_dead(&mut self, index: u32) {
        if self.dead_mask.is_empty() {
            self.dead_mask = vec![0; (self.records as usize).div_ceil(8)];
        }
        let i = index as usize;
        if let Some(b) = self.dead_mask.get_mut(i / 8) {
            *b |= 1 << (i % 8);
        }
    }
}

/// The decoded meta blob.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Meta {
    /// Layout version ([`META_FORMAT`] when written by this build).
    pub format: u16,
    /// [`definition_hash`] of the stored shape.
    pub definition_hash: u64,
    /// Checkpoint sequence: 1 for the first commit, +1 per commit.
    pub seq: u64,
    /// The next unused page id (page ids are never reused within a store).
    pub next_page_id: PageId,
    /// Number of stored rows (sum of the pages' `rows`).
    pub row_count: u64,
    /// Handle of the stored state (`None` only for a cleared store's meta).
    pub handle: Option<String>,
    /// Offset of the stored state, wire form.
    pub offset: Option<String>,
    /// Schema header of the stored state.
    pub schema: Option<String>,
    /// The live pages, ascending by id.
    pub pages: Vec<PageMeta>,
}

impl Meta {
    /// Encode (always as [`META_FORMAT`], whatever `self.format` says).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(64 + self.pages.len() * 12);
        w.bytes(MAGIC);
        w.u16(META_FORMAT);
        w.u16(0);
        w.u64(self.definition_hash);
        w.u64(self.seq);
        w.u64(self.next_page_id);
        w.u64(self.row_count);
        w.opt_str(self.handle.as_deref());
        w.opt_str(self.offset.as_deref());
        w.opt_str(self.schema.as_deref());
        w.varint(self.pages.len() as u64);
        for p in &self.pages {
            w.varint(p.id);
            w.varint(p.bytes);
            w.varint(p.records);
            w.varint(p.rows);
            w.varint(p.live);
            w.varint(p.dead);
            w.varint(p.dead_mask.len() as u64);
            w.bytes(&p.dead_mask);
        }
        w.seal()
    }

    /// Decode and verify. A blob of another format version decodes as far as the version (so
    /// the caller can tell "other format" from "corrupt"): check [`Meta::format`].
    pub fn decode(bytes: &[u8]) -> Result<Meta, PersistError> {
        let body = unseal(bytes, "meta")?;
        let mut r = Reader::new(body, "meta");
        if r.take(4)? != MAGIC {
            return Err(r.err("bad magic"));
        }
        let format = r.u16()?;
        if format != META_FORMAT {
            return Ok(Meta {
                format,
                ..Meta::default()
            });
        }
        r.u16()?;
        let mut m = Meta {
            format,
            definition_hash: r.u64()?,
            seq: r.u64()?,
            next_page_id: r.u64()?,
            row_count: r.u64()?,
            handle: r.opt_str()?.map(str::to_owned),
            offset: r.opt_str()?.map(str::to_owned),
            schema: r.opt_str()?.map(str::to_owned),
            pages: Vec::new(),
        };
        let n = r.len()?;
        m.pages.reserve(n.min(body.len()));
        for _ in 0..n {
            let mut p = PageMeta {
                id: r.varint()?,
                bytes: r.varint()?,
                records: r.varint()?,
                rows: r.varint()?,
                live: r.varint()?,
                dead: r.varint()?,
                dead_mask: Vec::new(),
            };
            let n = r.len()?;
            p.dead_mask = r.take(n)?.to_vec();
            m.pages.push(p);
        }
        if !r.is_empty() {
            return Err(r.err("trailing bytes"));
        }
        Ok(m)
    }

    /// The stored position, if the meta has one (parsing offset and schema).
    pub fn position(&self) -> Result<Option<Position>, PersistError> {
        let (Some(handle), Some(offset)) = (&self.handle, &self.offset) else {
            return Ok(None);
        };
        let offset =
            Offset::parse(offset).map_err(|e| PersistError::corrupt("meta offset", &e.to_string()))?;
        let schema = match &self.schema {
            Some(h) => Some(
                Schema::from_header(h).map_err(|e| PersistError::corrupt("meta schema", &e.to_string()))?,
            ),
            None => None,
        };
        Ok(Some(Position {
            handle: handle.clone(),
            offset,
            schema,
        }))
    }

    /// Set handle, offset and schema from a position.
    pub fn set_position(&mut self, p: Option<&Position>) {
        self.handle = p.map(|p| p.handle.clone());
        self.offset = p.map(|p| p.offset.to_string());
        self.schema = p.and_then(|p| p.schema.as_ref().map(Schema::to_header));
    }

    /// Sum of live record bytes.
    pub fn live_bytes(&self) -> u64 {
        self.pages.iter().map(|p| p.live).sum()
    }

    /// Sum of dead record bytes.
    pub fn dead_bytes(&self) -> u64 {
        self.pages.iter().map(|p| p.dead).sum()
    }

    /// Sum of encoded page lengths.
    pub fn page_bytes(&self) -> u64 {
        self.pages.iter().map(|p| p.bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ColumnInfo;

    fn sample() -> Meta {
        let mut schema = Schema::new();
        schema.insert("id", ColumnInfo::scalar("int4").not_null());
        let mut m = Meta {
            format: META_FORMAT,
            definition_hash: 42,
            seq: 3,
            next_page_id: 9,
            row_count: 5,
            pages: vec![
                PageMeta {
                    id: 2,
                    bytes: 100,
                    records: 4,
                    rows: 3,
                    live: 50,
                    dead: 22,
                    dead_mask: vec![0b10],
                },
                PageMeta {
                    id: 8,
                    bytes: 300,
                    records: 2,
                    rows: 2,
                    live: 272,
                    dead: 0,
                    dead_mask: vec![],
                },
            ],
            ..Meta::default()
        };
        m.set_position(Some(&Position {
            handle: "h-1".into(),
            offset: Offset::parse("12_3").unwrap(),
            schema: Some(schema),
        }));
        m
    }

    #[test]
    fn meta_round_trips_with_its_position() {
        let m = sample();
        let d = Meta::decode(&m.encode()).unwrap();
        assert_eq!(d, m);
        let p = d.position().unwrap().unwrap();
        assert_eq!((p.handle.as_str(), p.offset.to_string()), ("h-1", "12_3".into()));
        assert!(p.schema.unwrap().column("id").is_some());
        assert_eq!((d.live_bytes(), d.dead_bytes(), d.page_bytes()), (322, 22, 400));
        assert!(d.pages[0].is_dead(1) && !d.pages[0].is_dead(0) && !d.pages[1].is_dead(1));
        let mut p = d.pages[1].clone();
        p.mark_dead(1);
        assert_eq!(p.dead_mask, vec![0b10]);
        assert!(p.is_dead(1) && !p.is_dead(0) && !p.is_dead(100));
        let cleared = Meta {
            format: META_FORMAT,
            ..Meta::default()
        };
        assert_eq!(Meta::decode(&cleared.encode()).unwrap().position().unwrap(), None);
    }

    #[test]
    fn damage_is_corrupt_and_other_formats_are_reported_not_parsed() {
        let bytes = sample().encode();
        for cut in 0..bytes.len() {
            assert!(Meta::decode(&bytes[..cut]).is_err());
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 1;
            assert!(Meta::decode(&b).is_err(), "flip {i}");
        }
        let mut other = Writer::default();
        other.bytes(MAGIC);
        other.u16(99);
        let d = Meta::decode(&other.seal()).unwrap();
        assert_eq!(d.format, 99);
    }

    #[test]
    fn definition_hash_is_fnv_of_the_identity() {
        let a = ShapeDefinition {
            table: "items".into(),
            ..ShapeDefinition::default()
        };
        let mut b = a.clone();
        assert_eq!(definition_hash(&a), fnv1a64(a.identity().as_bytes()));
        assert_eq!(definition_hash(&a), definition_hash(&b));
        b.where_clause = Some("x > 1".into());
        assert_ne!(definition_hash(&a), definition_hash(&b));
    }
}
