//! Restore: from a stored meta + pages back to rows, the resume position and a primed
//! [`Checkpointer`] — or a typed reason to discard the store.
//!
//! Sans-IO in two steps ([`open_meta`], then [`assemble`] with the pages it names), plus the
//! convenience [`restore`] that drives a [`Storage`]. A store written for another shape
//! definition or another format version, or one that fails to decode, is never used: the
//! outcome is [`Restored::Discard`], and the caller starts from scratch with
//! [`Checkpointer::new`] (whose first commit is `clear_first`, replacing the old store).

use super::checkpoint::{CheckpointPolicy, Checkpointer};
use super::error::PersistError;
use super::meta::{definition_hash, Meta, PageMeta, Position, META_FORMAT};
use super::page::decode_page;
use super::storage::{PageId, Storage, StorageError};
use crate::protocol::{ChangeMessage, Key, ShapeDefinition};

/// Why a stored state is not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discard {
    /// Written by a build with another store format.
    Format {
        /// The stored format version.
        found: u16,
    },
    /// Written for another shape definition (hash of its identity).
    Definition {
        /// Hash in the store.
        stored: u64,
        /// Hash of the shape being opened.
        expected: u64,
    },
    /// The stored bytes do not decode or are inconsistent.
    Corrupt(PersistError),
}

/// The result of reading the meta blob.
#[derive(Debug)]
pub enum MetaOutcome {
    /// Nothing stored (or a cleared store).
    Empty,
    /// Do not use the store.
    Discard(Discard),
    /// Load these pages ([`Meta::pages`] ids), then [`assemble`].
    Load(Box<Meta>),
}

/// A usable stored state.
#[derive(Debug)]
pub struct RestoredShape {
    /// The stored rows as inserts, for [`crate::log::Materializer::from_snapshot`].
    pub rows: Vec<ChangeMessage>,
    /// Handle, offset and schema to resume from.
    pub position: Position,
    /// A checkpointer primed with the stored page map (its next plan is incremental).
    pub checkpointer: Checkpointer,
}

/// What [`restore`] found.
#[derive(Debug)]
pub enum Restored {
    /// Nothing stored.
    Empty,
    /// A store that must not be used (clear it, or let the first commit replace it).
    Discard(Discard),
    /// The stored state.
    Loaded(Box<RestoredShape>),
}

/// Step 1: check the meta blob against the expected definition hash.
pub fn open_meta(meta: Option<&[u8]>, expected_hash: u64) -> MetaOutcome {
    let Some(bytes) = meta.filter(|b| !b.is_empty()) else {
        return MetaOutcome::Empty;
    };
    let meta = match Meta::decode(bytes) {
        Ok(m) => m,
        Err(e) => return MetaOutcome::Discard(Discard::Corrupt(e)),
    };
    if meta.format != META_FORMAT {
        return MetaOutcome::Discard(Discard::Format { found: meta.format });
    }
    if meta.definition_hash != expected_hash {
        return MetaOutcome::Discard(Discard::Definition {
            stored: meta.definition_hash,
            expected: expected_hash,
        });
    }
    if meta.handle.is_none() {
        return MetaOutcome::Empty;
    }
    MetaOutcome::Load(Box::new(meta))
}

/// Step 2: decode the pages (`pages[i]` is page `meta.pages[i].id`) into rows, checking that
/// they agree with the meta and hold one live row per key.
pub fn assemble(
    meta: Meta,
    meta_bytes: u64,
    pages: &[Vec<u8>],
    policy: CheckpointPolicy,
) -> Result<RestoredShape, Discard> {
    let mut a = Assembler::new(meta, meta_bytes, policy)?;
    if pages.len() != a.meta.pages.len() {
        return Err(Discard::Corrupt(PersistError::corrupt(
            "store",
            &format!("{} pages for {} in meta", pages.len(), a.meta.pages.len()),
        )));
    }
    let rows = a.add_pages(pages)?;
    let (position, checkpointer) = a.finish()?;
    Ok(RestoredShape {
        rows,
        position,
        checkpointer,
    })
}

/// Step 2 in parts, for a restore that shows its first rows before the last page is read:
/// the pages of [`Meta::pages`] are added in order, a few at a time, each checked against the
/// meta as it comes ([`Assembler::add_pages`] returns its live rows, which are final: a page's
/// live records are exactly the stored rows of their keys); [`Assembler::finish`] checks the
/// totals and primes the checkpointer. Any error means the whole store is discarded,
/// including rows already handed out.
#[derive(Debug)]
pub struct Assembler {
    meta: Meta,
    meta_bytes: u64,
    policy: CheckpointPolicy,
    position: Position,
    /// Pages added so far (a prefix of `meta.pages`).
    next: usize,
    rows: u64,
    primed: Vec<(PageMeta, Vec<(Key, u32)>)>,
}

impl Assembler {
    /// Check the meta's position and page ids.
    pub fn new(meta: Meta, meta_bytes: u64, policy: CheckpointPolicy) -> Result<Self, Discard> {
        let corrupt = |r: &str| Discard::Corrupt(PersistError::corrupt("store", r));
        let position = meta
            .position()
            .map_err(Discard::Corrupt)?
            .ok_or_else(|| corrupt("no position"))?;
        // Page ids ascend and stay below next_page_id, or a new page could replace a live one.
        let mut prev = None;
        for p in &meta.pages {
            if prev.is_some_and(|q| q >= p.id) || p.id >= meta.next_page_id {
                return Err(corrupt(&format!("page id {} out of order", p.id)));
            }
            prev = Some(p.id);
        }
        let primed = Vec::with_capacity(meta.pages.len());
        Ok(Assembler {
            meta,
            meta_bytes,
            policy,
            position,
            next: 0,
            rows: 0,
            primed,
        })
    }

    /// Where the stored rows resume from.
    pub fn position(&self) -> &Position {
        &self.position
    }

    /// Live rows in the whole store, as the meta counts them.
    pub fn row_count(&self) -> u64 {
        self.meta.row_count
    }

    /// The ids of the pages not added yet, in the order to add them.
    pub fn remaining(&self) -> Vec<PageId> {
        self.meta.pages[self.next..].iter().map(|p| p.id).collect()
    }

    /// How many of the remaining pages hold at least `rows` live rows (all of them when
    /// they hold fewer; at least one when any remain).
    pub fn pages_for(&self, rows: u64) -> usize {
        let mut n = 0u64;
        let rest = &self.meta.pages[self.next..];
        for (i, p) in rest.iter().enumerate() {
            n += p.rows;
            if n >= rows {
                return i + 1;
            }
        }
        rest.len()
    }

    /// Decode the next `pages.len()` pages (in meta order) and return their live rows as
    /// inserts.
    pub fn add_pages(&mut self, pages: &[Vec<u8>]) -> Result<Vec<ChangeMessage>, Discard> {
        self.add_inner(pages).map_err(Discard::Corrupt)
    }

    fn add_inner(&mut self, pages: &[Vec<u8>]) -> Result<Vec<ChangeMessage>, PersistError> {
        let corrupt = |r: String| PersistError::corrupt("store", &r);
        let metas = self
            .meta
            .pages
            .get(self.next..self.next + pages.len())
            .ok_or_else(|| corrupt(format!("{} more pages than the meta lists", pages.len())))?;
        let mut rows = Vec::with_capacity(metas.iter().map(|p| p.rows).sum::<u64>().min(1 << 24) as usize);
        for (pm, bytes) in metas.iter().zip(pages) {
            let page = decode_page(bytes, pm.id)?;
            let recs = &page.records;
            if recs.len() as u64 != pm.records || bytes.len() as u64 != pm.bytes {
                return Err(corrupt(format!("page {} disagrees with the meta", pm.id)));
            }
            let (mut live, mut dead, mut n) = (0u64, 0u64, 0u64);
            let mut keys = Vec::with_capacity(recs.len());
            for (i, r) in recs.iter().enumerate() {
                let key = r.owned_key();
                if pm.is_dead(i as u32) {
                    dead += r.size as u64;
                } else {
                    live += r.size as u64;
                    n += 1;
                    rows.push(page.message_for(r, key.clone())?);
                }
                keys.push((key, r.size as u32));
            }
            if (live, dead, n) != (pm.live, pm.dead, pm.rows) {
                return Err(corrupt(format!("page {} byte counts disagree", pm.id)));
            }
            self.primed.push((pm.clone(), keys));
        }
        self.next += pages.len();
        self.rows += rows.len() as u64;
        Ok(rows)
    }

    /// Every page added: check the totals and prime a checkpointer with the stored page map.
    pub fn finish(self) -> Result<(Position, Checkpointer), Discard> {
        let corrupt = |r: String| Discard::Corrupt(PersistError::corrupt("store", &r));
        if self.next != self.meta.pages.len() {
            return Err(corrupt(format!(
                "{} pages for {} in meta",
                self.next,
                self.meta.pages.len()
            )));
        }
        if self.rows != self.meta.row_count {
            return Err(corrupt("row count disagrees".into()));
        }
        let checkpointer = Checkpointer::primed(
            &self.meta,
            self.meta_bytes,
            self.position.clone(),
            self.primed,
            self.policy,
        )
        .map_err(|key| corrupt(format!("key {key} is live twice")))?;
        Ok((self.position, checkpointer))
    }
}

/// Load and check everything from `storage` (one `load_meta`, one `load_pages`). A page the
/// backend reports missing ([`StorageError::Corrupt`]) is a discard, other backend errors are
/// returned.
pub async fn restore<S: Storage>(
    storage: &S,
    definition: &ShapeDefinition,
    policy: CheckpointPolicy,
) -> Result<Restored, StorageError> {
    let meta_bytes = storage.load_meta().await?;
    let meta = match open_meta(meta_bytes.as_deref(), definition_hash(definition)) {
        MetaOutcome::Empty => return Ok(Restored::Empty),
        MetaOutcome::Discard(d) => return Ok(Restored::Discard(d)),
        MetaOutcome::Load(m) => *m,
    };
    let ids: Vec<PageId> = meta.pages.iter().map(|p| p.id).collect();
    let pages = match storage.load_pages(&ids).await {
        Ok(p) => p,
        Err(StorageError::Corrupt(r)) => {
            return Ok(Restored::Discard(Discard::Corrupt(PersistError::corrupt(
                "store", &r,
            ))))
        }
        Err(e) => return Err(e),
    };
    let len = meta_bytes.map_or(0, |b| b.len() as u64);
    Ok(match assemble(meta, len, &pages, policy) {
        Ok(r) => Restored::Loaded(Box::new(r)),
        Err(d) => Restored::Discard(d),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Materializer;
    use crate::protocol::{parse_body, Offset};

    fn stored() -> (Meta, Vec<Vec<u8>>) {
        let mut m = Materializer::new();
        let rows: Vec<String> = (0..6)
            .map(|i| format!(r#"{{"key":"k{i}","value":{{"id":"{i}"}},"headers":{{"operation":"insert"}}}}"#))
            .collect();
        let body = format!(r#"[{},{{"headers":{{"control":"up-to-date"}}}}]"#, rows.join(","));
        m.ingest(parse_body(body.as_bytes()).unwrap());
        let policy = CheckpointPolicy {
            page_target_bytes: 40,
            ..CheckpointPolicy::default()
        };
        let cp = Checkpointer::with_hash(7, policy);
        let pos = Position {
            handle: "h".into(),
            offset: Offset::parse("3_1").unwrap(),
            schema: None,
        };
        let plan = cp.plan(&m, &pos).unwrap().unwrap();
        let meta = Meta::decode(&plan.commit.meta).unwrap();
        let pages = plan.commit.puts.into_iter().map(|(_, b)| b).collect();
        (meta, pages)
    }

    fn outcome(meta: Meta, pages: &[Vec<u8>]) -> Result<usize, Discard> {
        assemble(meta, 0, pages, CheckpointPolicy::default()).map(|r| r.rows.len())
    }

    #[test]
    fn a_consistent_store_assembles_and_every_inconsistency_is_a_corrupt_discard() {
        let (meta, pages) = stored();
        assert!(meta.pages.len() >= 3, "{}", meta.pages.len());
        assert_eq!(outcome(meta.clone(), &pages), Ok(6));
        type Damage = Box<dyn Fn(&mut Meta, &mut Vec<Vec<u8>>)>;
        let bad: Vec<Damage> = vec![
            Box::new(|m, _| m.pages.swap(0, 1)),
            Box::new(|m, _| m.next_page_id = m.pages.last().unwrap().id),
            Box::new(|m, _| m.row_count += 1),
            Box::new(|m, _| m.pages[0].live += 1),
            Box::new(|m, _| m.pages[0].records += 1),
            Box::new(|m, _| m.pages[1].mark_dead(0)),
            Box::new(|m, _| m.handle = None),
            Box::new(|m, _| m.offset = Some("nope".into())),
            Box::new(|_, p| {
                p.pop();
            }),
            Box::new(|_, p| p.swap(0, 1)),
        ];
        for (i, f) in bad.iter().enumerate() {
            let (mut m, mut p) = (meta.clone(), pages.clone());
            f(&mut m, &mut p);
            assert!(matches!(outcome(m, &p), Err(Discard::Corrupt(_))), "case {i}");
        }
    }

    #[test]
    fn assembling_page_by_page_gives_the_rows_of_assembling_at_once() {
        let (meta, pages) = stored();
        let whole = assemble(meta.clone(), 0, &pages, CheckpointPolicy::default()).unwrap();
        let mut a = Assembler::new(meta.clone(), 0, CheckpointPolicy::default()).unwrap();
        assert_eq!(a.row_count(), 6);
        assert_eq!(a.pages_for(0), 1);
        assert_eq!(a.pages_for(u64::MAX), pages.len());
        let head = a.pages_for(1);
        let mut rows = a.add_pages(&pages[..head]).unwrap();
        assert!(!rows.is_empty());
        assert_eq!(
            a.remaining(),
            meta.pages[head..].iter().map(|p| p.id).collect::<Vec<_>>()
        );
        // Finishing early is a corrupt store, never a short one.
        let early = Assembler::new(meta.clone(), 0, CheckpointPolicy::default()).unwrap();
        assert!(matches!(early.finish(), Err(Discard::Corrupt(_))));
        rows.extend(a.add_pages(&pages[head..]).unwrap());
        assert!(a.remaining().is_empty());
        assert!(
            a.add_pages(&pages[..1]).is_err(),
            "more pages than the meta lists"
        );
        let mut b = Assembler::new(meta, 0, CheckpointPolicy::default()).unwrap();
        b.add_pages(&pages).unwrap();
        let (position, _) = b.finish().unwrap();
        assert_eq!(position, whole.position);
        let keys = |r: &[ChangeMessage]| r.iter().map(|c| c.key.clone()).collect::<Vec<_>>();
        assert_eq!(keys(&rows), keys(&whole.rows));
    }

    #[test]
    fn open_meta_tells_empty_other_shape_other_format_and_garbage_apart() {
        let (meta, _) = stored();
        let bytes = meta.encode();
        assert!(matches!(open_meta(None, 7), MetaOutcome::Empty));
        assert!(matches!(open_meta(Some(&[]), 7), MetaOutcome::Empty));
        assert!(matches!(open_meta(Some(&bytes), 7), MetaOutcome::Load(_)));
        assert!(matches!(
            open_meta(Some(&bytes), 8),
            MetaOutcome::Discard(Discard::Definition {
                stored: 7,
                expected: 8
            })
        ));
        assert!(matches!(
            open_meta(Some(b"garbage!garbage!"), 7),
            MetaOutcome::Discard(Discard::Corrupt(_))
        ));
        let mut other = crate::persist::codec::Writer::default();
        other.bytes(b"EDYM");
        other.u16(META_FORMAT + 1);
        assert!(matches!(
            open_meta(Some(&other.seal()), 7),
            MetaOutcome::Discard(Discard::Format { found }) if found == META_FORMAT + 1
        ));
        let cleared = Meta {
            format: META_FORMAT,
            definition_hash: 7,
            ..Meta::default()
        };
        assert!(matches!(
            open_meta(Some(&cleared.encode()), 7),
            MetaOutcome::Empty
        ));
    }
}
