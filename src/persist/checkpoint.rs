//! The [`Checkpointer`]: turns what changed in the materialized rows into one atomic
//! [`Commit`] of pages + meta, copy-on-write, and folds compaction into the same commit.
//!
//! **Flow** (sans-IO; the caller owns the storage and awaits it):
//! 1. after each materializer commit, [`Checkpointer::record`] the [`ChangeSet`] (cheap: it
//!    remembers keys);
//! 2. at an up-to-date point, [`Checkpointer::plan`] reads the current rows of the dirty keys
//!    from a [`RowSource`] (e.g. the [`Materializer`]) and returns a [`Plan`]: the [`Commit`] to
//!    hand to [`super::Storage::commit`] and a [`Receipt`];
//! 3. only if the commit succeeded, [`Checkpointer::apply`] the receipt. If it failed, drop the
//!    receipt: nothing changed, and the next plan again covers everything since the last
//!    success (plus whatever was recorded meanwhile).
//!
//! Plans are made and committed one at a time: make the next plan only after the previous
//! commit finished (applied or dropped). Recording while a commit is in flight is fine.
//!
//! **Copy-on-write.** A plan never overwrites a page the stored meta references: changed rows
//! go into new pages with fresh ids, their old records are marked dead in the meta, and pages
//! left without live rows are deleted in the same commit. A torn commit loses the whole commit.
//!
//! **Compaction** (byte-driven, [`CheckpointPolicy`]): a page whose dead bytes would exceed
//! `dead_percent` of its record bytes is rewritten in the same commit (its live rows, read from
//! the source, move into the new pages); and once `max_small_pages` pages below
//! `small_page_bytes` exist, they are merged. So after every commit each page satisfies
//! `dead * 100 <= dead_percent * (live + dead)`.
//!
//! **Reset.** A `must-refetch` replacement ([`ChangeSet::reset`]), [`Checkpointer::record_reset`]
//! or a fresh checkpointer makes the next plan a `clear_first` commit that rewrites every row.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use indexmap::IndexMap;

use super::error::PersistError;
use super::meta::{definition_hash, Meta, PageMeta, Position, META_FORMAT};
use super::page::PageWriter;
use super::storage::{Commit, PageId};
use crate::fxhash::FxBuildHasher;
use crate::log::{ChangeSet, Materializer};
use crate::protocol::{ChangeHeaders, ChangeMessage, Key, Offset, Operation, ShapeDefinition};

/// Tuning of page size and compaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointPolicy {
    /// New pages are filled up to about this many bytes (a single larger row gets its own page).
    pub page_target_bytes: usize,
    /// A page is rewritten when its dead record bytes exceed this percentage of its record
    /// bytes (1..=99).
    pub dead_percent: u8,
    /// Pages smaller than this are "small".
    pub small_page_bytes: usize,
    /// When at least this many small pages exist, a plan merges them all.
    pub max_small_pages: usize,
}

impl Default for CheckpointPolicy {
    /// 256 KiB pages, 50 % dead threshold, pages under 16 KiB merged once 8 of them exist.
    ///
    /// Why 256 KiB: Chromium keeps IndexedDB values up to 64 KiB inline in its LevelDB and
    /// larger ones as separate blob files, and reads the latter about four times faster
    /// (15 MB of pages on this project's machines: ~200 ms at 60 KiB a value, ~50 ms at 70 KiB
    /// to 4 MiB). Bigger pages also mean fewer records per checkpoint; the cost is a rewrite of
    /// up to one page's live rows when compaction picks a page.
    fn default() -> Self {
        CheckpointPolicy {
            page_target_bytes: 256 * 1024,
            dead_percent: 50,
            small_page_bytes: 16 * 1024,
            max_small_pages: 8,
        }
    }
}

impl PersistStats {
    /// Bytes the stored state occupies (pages + meta); a backend may hold more (file holes).
    pub fn stored_bytes(&self) -> u64 {
        self.page_bytes + self.meta_bytes
    }
}

/// Where the current rows come from when a plan is made.
pub trait RowSource {
    /// The committed row of `key` as an insert (value, relation, tag state), `None` if absent.
    fn row(&self, key: &Key) -> Option<ChangeMessage>;
    /// Every key that has a row (used by `clear_first` plans).
    fn keys(&self) -> Vec<Key>;
}

impl RowSource for Materializer {
    fn row(&self, key: &Key) -> Option<ChangeMessage> {
        let value = self.get(key)?.clone();
        let mut headers = ChangeHeaders {
            relation: self.relation(key).cloned(),
            ..ChangeHeaders::default()
        };
        if let Some(t) = self.tag_state(key) {
            headers.tags = t.tags.clone();
            headers.active_conditions = t.active_conditions.clone();
        }
        Some(ChangeMessage {
            key: key.clone(),
            operation: Operation::Insert,
            value,
            old_value: None,
            headers,
        })
    }
    fn keys(&self) -> Vec<Key> {
        self.rows().map(|(k, _)| k.clone()).collect()
    }
}

/// Numbers about the stored state (as of the last successful commit).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersistStats {
    /// Stored rows.
    pub rows: u64,
    /// Live pages.
    pub pages: u64,
    /// Encoded bytes of the live pages.
    pub page_bytes: u64,
    /// Bytes of the meta blob.
    pub meta_bytes: u64,
    /// Record bytes of live rows.
    pub live_bytes: u64,
    /// Record bytes of dead records still held in live pages.
    pub dead_bytes: u64,
    /// Sequence of the last successful commit (0: nothing committed by/into this checkpointer).
    pub seq: u64,
    /// Offset of the last successful checkpoint.
    pub offset: Option<Offset>,
    /// Keys changed since the last successful commit.
    pub dirty_keys: u64,
    /// True when the next plan is a `clear_first` full rewrite.
    pub full_rewrite_pending: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    page: PageId,
    index: u32,
    size: u32,
}

#[derive(Debug, Clone)]
struct PageState {
    meta: PageMeta,
    /// Keys in record order (index = record index).
    keys: Vec<Key>,
}

/// A planned commit: hand [`Plan::commit`] to the storage, keep [`Plan::receipt`].
#[derive(Debug)]
pub struct Plan {
    /// The atomic change to write.
    pub commit: Commit,
    /// What to [`Checkpointer::apply`] once the commit succeeded.
    pub receipt: Receipt,
}

/// The in-memory effect of a planned commit, applied only after it is stored.
#[derive(Debug)]
pub struct Receipt {
    base_seq: u64,
    gen: u64,
    full: bool,
    deleted: Vec<PageId>,
    updated: Vec<PageMeta>,
    added: Vec<PageState>,
    slots: Vec<(Key, Option<Slot>)>,
    position: Option<Position>,
    next_page_id: PageId,
    meta_bytes: u64,
}

impl Receipt {
    /// Sequence number the commit will have once applied.
    pub fn seq(&self) -> u64 {
        self.base_seq + 1
    }
    /// Offset the commit checkpoints (`None` for a wipe).
    pub fn offset(&self) -> Option<Offset> {
        self.position.as_ref().map(|p| p.offset)
    }
}

/// Owns the stored page map of one shape and plans copy-on-write commits (module docs).
#[derive(Debug, Clone)]
pub struct Checkpointer {
    definition_hash: u64,
    policy: CheckpointPolicy,
    seq: u64,
    next_page_id: PageId,
    pages: BTreeMap<PageId, PageState>,
    slots: HashMap<Key, Slot, FxBuildHasher>,
    position: Option<Position>,
    meta_bytes: u64,
    dirty: IndexMap<Key, u64>,
    reset_gen: Option<u64>,
    gen: u64,
}

impl Checkpointer {
    /// A checkpointer for a store with nothing usable in it: its first plan is a `clear_first`
    /// commit of every row (so it also replaces a discarded store).
    pub fn new(definition: &ShapeDefinition, policy: CheckpointPolicy) -> Self {
        Checkpointer::with_hash(definition_hash(definition), policy)
    }

    /// Like [`Checkpointer::new`], from a [`definition_hash`].
    pub fn with_hash(definition_hash: u64, policy: CheckpointPolicy) -> Self {
        Checkpointer {
            definition_hash,
            policy,
            seq: 0,
            next_page_id: 1,
            pages: BTreeMap::new(),
            slots: HashMap::default(),
            position: None,
            meta_bytes: 0,
            dirty: IndexMap::new(),
            reset_gen: Some(0),
            gen: 0,
        }
    }

    /// Primed with a stored state (restore): `pages` holds each live page's meta with its
    /// record keys in record order. Fails with the key if one is live in two records.
    pub(crate) fn primed(
        meta: &Meta,
        meta_bytes: u64,
        position: Position,
        pages: Vec<(PageMeta, Vec<(Key, u32)>)>,
        policy: CheckpointPolicy,
    ) -> Result<Self, Key> {
        let mut c = Checkpointer::with_hash(meta.definition_hash, policy);
        c.reset_gen = None;
        c.seq = meta.seq;
        c.next_page_id = meta.next_page_id;
        c.position = Some(position);
        c.meta_bytes = meta_bytes;
        c.slots.reserve(meta.row_count.min(1 << 24) as usize);
        for (pm, recs) in pages {
            let mut keys = Vec::with_capacity(recs.len());
            for (i, (k, size)) in recs.into_iter().enumerate() {
                if !pm.is_dead(i as u32) {
                    let slot = Slot {
                        page: pm.id,
                        index: i as u32,
                        size,
                    };
                    if c.slots.insert(k.clone(), slot).is_some() {
                        return Err(k);
                    }
                }
                keys.push(k);
            }
            c.pages.insert(pm.id, PageState { meta: pm, keys });
        }
        Ok(c)
    }

    /// The policy in use.
    pub fn policy(&self) -> &CheckpointPolicy {
        &self.policy
    }

    /// The definition hash written into every meta.
    pub fn definition_hash(&self) -> u64 {
        self.definition_hash
    }

    /// Remember the keys a materializer commit changed ([`ChangeSet::dirty_keys`], so
    /// including [retagged](ChangeSet::retagged) ones (stored tag state and relation must follow too); a
    /// `reset` change set schedules a full rewrite.
    pub fn record(&mut self, changes: &ChangeSet) {
        self.gen += 1;
        if changes.reset {
            self.reset_gen = Some(self.gen);
        }
        for k in changes.dirty_keys() {
            self.dirty.insert(k.clone(), self.gen);
        }
    }

    /// Make the next plan a `clear_first` rewrite of every row.
    pub fn record_reset(&mut self) {
        self.gen += 1;
        self.reset_gen = Some(self.gen);
    }

    /// True when rows changed since the last successful commit (or a full rewrite is due).
    pub fn has_row_changes(&self) -> bool {
        self.reset_gen.is_some() || !self.dirty.is_empty()
    }

    /// True when a plan for `position` would write something.
    pub fn needs_checkpoint(&self, position: &Position) -> bool {
        self.has_row_changes() || self.position.as_ref() != Some(position)
    }

    /// The position of the last successful commit.
    pub fn position(&self) -> Option<&Position> {
        self.position.as_ref()
    }

    /// Stored numbers (as of the last successful commit).
    pub fn stats(&self) -> PersistStats {
        let mut s = PersistStats {
            rows: self.slots.len() as u64,
            pages: self.pages.len() as u64,
            meta_bytes: self.meta_bytes,
            seq: self.seq,
            offset: self.position.as_ref().map(|p| p.offset),
            dirty_keys: self.dirty.len() as u64,
            full_rewrite_pending: self.reset_gen.is_some(),
            ..PersistStats::default()
        };
        for p in self.pages.values() {
            s.page_bytes += p.meta.bytes;
            s.live_bytes += p.meta.live;
            s.dead_bytes += p.meta.dead;
        }
        s
    }

    /// The live pages' bookkeeping, ascending by id (tests, diagnostics).
    pub fn pages(&self) -> impl Iterator<Item = &PageMeta> + '_ {
        self.pages.values().map(|p| &p.meta)
    }

    /// Plan the commit that brings the store to `source`'s rows at `position`. `None` when
    /// nothing would change. `position` must be the handle and offset of the `up-to-date`
    /// whose state `source` shows: not a later response's offset with messages still pending,
    /// and never while a materializer is between a `must-refetch` and its next `up-to-date`
    /// (its rows are still the old handle's; plan again after the reset commit).
    pub fn plan(&self, source: &impl RowSource, position: &Position) -> Result<Option<Plan>, PersistError> {
        if !self.needs_checkpoint(position) {
            return Ok(None);
        }
        let full = self.reset_gen.is_some();
        let mut out = Packer::new(self.next_page_id, self.policy.page_target_bytes);
        let mut deleted = BTreeSet::new();
        let mut updated: BTreeMap<PageId, PageMeta> = BTreeMap::new();
        if full {
            for key in source.keys() {
                if let Some(row) = source.row(&key) {
                    out.push(key, row);
                }
            }
        } else {
            for key in self.dirty.keys() {
                if let Some(slot) = self.slots.get(key) {
                    let p = updated
                        .entry(slot.page)
                        .or_insert_with(|| self.pages[&slot.page].meta.clone());
                    p.live -= u64::from(slot.size);
                    p.dead += u64::from(slot.size);
                    p.rows -= 1;
                    p.mark_dead(slot.index);
                }
                match source.row(key) {
                    Some(row) => out.push(key.clone(), row),
                    None if self.slots.contains_key(key) => out.slots.push((key.clone(), None)),
                    None => {}
                }
            }
            let pct = u64::from(self.policy.dead_percent);
            let mut rewrite = BTreeSet::new();
            for (id, p) in &updated {
                if p.rows == 0 {
                    deleted.insert(*id);
                } else if p.dead * 100 > pct * (p.live + p.dead) {
                    rewrite.insert(*id);
                }
            }
            let small: Vec<PageId> = self
                .pages
                .values()
                .filter(|p| {
                    (p.meta.bytes as usize) < self.policy.small_page_bytes && !deleted.contains(&p.meta.id)
                })
                .map(|p| p.meta.id)
                .collect();
            if small.len() >= self.policy.max_small_pages.max(2) {
                rewrite.extend(small);
            }
            for id in rewrite {
                for key in &self.pages[&id].keys {
                    let here = self.slots.get(key).is_some_and(|s| s.page == id);
                    if here && !self.dirty.contains_key(key) {
                        let row = source
                            .row(key)
                            .ok_or_else(|| PersistError::SourceMismatch { key: key.clone() })?;
                        out.push(key.clone(), row);
                    }
                }
                deleted.insert(id);
            }
        }
        let (added, slots, next_page_id) = out.finish();

        let mut meta = Meta {
            format: META_FORMAT,
            definition_hash: self.definition_hash,
            seq: self.seq + 1,
            next_page_id,
            ..Meta::default()
        };
        meta.set_position(Some(position));
        if !full {
            for (id, p) in &self.pages {
                if deleted.contains(id) {
                    continue;
                }
                meta.pages.push(updated.get(id).unwrap_or(&p.meta).clone());
            }
        }
        meta.pages.extend(added.iter().map(|(s, _)| s.meta.clone()));
        meta.row_count = meta.pages.iter().map(|p| p.rows).sum();
        let meta = meta.encode();

        let mut puts = Vec::with_capacity(added.len());
        let mut states = Vec::with_capacity(added.len());
        for (s, b) in added {
            puts.push((s.meta.id, b));
            states.push(s);
        }
        let commit = Commit {
            clear_first: full,
            puts,
            deletes: if full {
                Vec::new()
            } else {
                deleted.iter().copied().collect()
            },
            meta,
        };
        let receipt = Receipt {
            base_seq: self.seq,
            gen: self.gen,
            full,
            deleted: deleted.into_iter().collect(),
            updated: updated.into_values().collect(),
            added: states,
            slots,
            position: Some(position.clone()),
            next_page_id,
            meta_bytes: commit.meta.len() as u64,
        };
        Ok(Some(Plan { commit, receipt }))
    }

    /// A plan that empties the store (a `409` wipe before new data lands). Once applied, the
    /// next plan rewrites every row.
    pub fn plan_clear(&self) -> Plan {
        Plan {
            commit: Commit {
                clear_first: true,
                ..Commit::default()
            },
            receipt: Receipt {
                base_seq: self.seq,
                gen: self.gen,
                full: true,
                deleted: Vec::new(),
                updated: Vec::new(),
                added: Vec::new(),
                slots: Vec::new(),
                position: None,
                next_page_id: self.next_page_id,
                meta_bytes: 0,
            },
        }
    }

    /// Apply a receipt whose commit the storage accepted.
    pub fn apply(&mut self, receipt: Receipt) -> Result<(), PersistError> {
        if receipt.base_seq != self.seq {
            return Err(PersistError::StalePlan {
                planned: receipt.base_seq,
                current: self.seq,
            });
        }
        if receipt.full {
            self.pages.clear();
            self.slots.clear();
        }
        for id in &receipt.deleted {
            self.pages.remove(id);
        }
        for m in receipt.updated {
            if let Some(p) = self.pages.get_mut(&m.id) {
                p.meta = m;
            }
        }
        for p in receipt.added {
            self.pages.insert(p.meta.id, p);
        }
        for (k, s) in receipt.slots {
            match s {
                Some(s) => self.slots.insert(k, s),
                None => self.slots.remove(&k),
            };
        }
        let g = receipt.gen;
        self.dirty.retain(|_, kg| *kg > g);
        if receipt.position.is_none() {
            // A wipe: every row must be written again.
            self.reset_gen = Some(g);
            self.dirty.clear();
        } else if self.reset_gen.is_some_and(|r| r <= g) {
            self.reset_gen = None;
        }
        self.position = receipt.position;
        self.next_page_id = receipt.next_page_id;
        self.meta_bytes = receipt.meta_bytes;
        self.seq += 1;
        Ok(())
    }
}

/// New pages with their bytes, the slot of every written or removed key, the next page id.
type Packed = (Vec<(PageState, Vec<u8>)>, Vec<(Key, Option<Slot>)>, PageId);

/// Packs records into new pages of about the target size.
struct Packer {
    next_id: PageId,
    target: usize,
    current: Option<(PageWriter, Vec<Key>, u64)>,
    done: Vec<(PageState, Vec<u8>)>,
    slots: Vec<(Key, Option<Slot>)>,
}

impl Packer {
    fn new(next_id: PageId, target: usize) -> Self {
        Packer {
            next_id,
            target,
            current: None,
            done: Vec::new(),
            slots: Vec::new(),
        }
    }

    fn push(&mut self, key: Key, row: ChangeMessage) {
        let full = self.current.as_ref().is_some_and(|(w, _, _)| {
            // Rough size of the record: its values plus per-column framing.
            let estimate = key.as_str().len() + row.value.value_bytes() + 3 * row.value.len() + 8;
            w.count() > 0 && w.len() + estimate > self.target
        });
        if full {
            self.seal();
        }
        let (w, keys, live) = self.current.get_or_insert_with(|| {
            let id = self.next_id;
            self.next_id += 1;
            (PageWriter::new(id, self.target), Vec::new(), 0)
        });
        let index = w.count();
        let size = w.push(&row);
        *live += size as u64;
        let slot = Slot {
            page: w.id(),
            index,
            size: size as u32,
        };
        keys.push(key.clone());
        self.slots.push((key, Some(slot)));
    }

    fn seal(&mut self) {
        if let Some((w, keys, live)) = self.current.take() {
            let id = w.id();
            let records = u64::from(w.count());
            let bytes = w.finish();
            let meta = PageMeta {
                id,
                bytes: bytes.len() as u64,
                records,
                rows: records,
                live,
                dead: 0,
                dead_mask: Vec::new(),
            };
            self.done.push((PageState { meta, keys }, bytes));
        }
    }

    fn finish(mut self) -> Packed {
        self.seal();
        (self.done, self.slots, self.next_id)
    }
}
