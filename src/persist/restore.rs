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
use super::meta::{definition_hash, Meta, Position, META_FORMAT};
use super::page::decode_page;
use super::storage::{PageId, Storage, StorageError};
use crate::protocol::{ChangeMessage, ShapeDefinition};

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
    assemble_inner(meta, meta_bytes, pages, policy).map_err(Discard::Corrupt)
}

fn assemble_inner(
    meta: Meta,
    meta_bytes: u64,
    pages: &[Vec<u8>],
    policy: CheckpointPolicy,
) -> Result<RestoredShape, PersistError> {
    let corrupt = |r: String| PersistError::corrupt("store", &r);
    if pages.len() != meta.pages.len() {
        return Err(corrupt(format!(
            "{} pages for {} in meta",
            pages.len(),
            meta.pages.len()
        )));
    }
    let position = meta.position()?.ok_or_else(|| corrupt("no position".into()))?;
    let mut rows = Vec::with_capacity(meta.row_count.min(1 << 24) as usize);
    let mut primed = Vec::with_capacity(pages.len());
    for (pm, bytes) in meta.pages.iter().zip(pages) {
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
        primed.push((pm.clone(), keys));
    }
    if rows.len() as u64 != meta.row_count {
        return Err(corrupt("row count disagrees".into()));
    }
    let checkpointer = Checkpointer::primed(&meta, meta_bytes, position.clone(), primed, policy)
        .map_err(|key| corrupt(format!("key {key} is live twice")))?;
    Ok(RestoredShape {
        rows,
        position,
        checkpointer,
    })
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
