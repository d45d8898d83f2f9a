//! Persistence of a materialized shape (issue #5), as pure logic over a small byte store.
//!
//! - [`storage`] — the [`Storage`] trait every backend implements (memory here; IndexedDB, OPFS
//!   and a JS object in `web`): a meta blob plus numbered page blobs, changed in one atomic
//!   commit. Backends know nothing about rows, offsets or shapes.
//! - [`page`] — the page format: many rows (key + wire text) per checksummed blob.
//! - [`meta`] — the meta blob: format, definition hash, position, live pages with live/dead
//!   byte counts and dead-record masks, next page id, row count, sequence.
//! - [`checkpoint`] — the [`Checkpointer`]: plans copy-on-write commits of what changed, with
//!   byte-driven compaction, and applies them only once stored.
//! - [`mod@restore`] — meta + pages back to rows, position and a primed checkpointer, or a typed
//!   [`Discard`].
//! - [`blockfile`] — a crash-safe single-file store over a sync [`BlockDevice`] (the OPFS
//!   backend runs it in a worker).
//! - [`mod@conformance`] — the storage contract as an executable script, for every backend.
//!
//! None of them owns I/O: the caller awaits the backend.

pub mod blockfile;
pub mod checkpoint;
mod codec;
pub mod conformance;
pub mod error;
pub mod meta;
pub mod page;
pub mod restore;
pub mod storage;

pub use blockfile::{BlockDevice, BlockFileStore, MemDevice};
pub use checkpoint::{CheckpointPolicy, Checkpointer, PersistStats, Plan, Receipt, RowSource};
pub use codec::{checksum64, fnv1a64};
pub use conformance::{conformance, ConformanceError};
pub use error::PersistError;
pub use meta::{definition_hash, Meta, PageMeta, Position};
pub use restore::{assemble, open_meta, restore, Assembler, Discard, MetaOutcome, Restored, RestoredShape};
pub use storage::{Commit, MemoryStorage, PageId, Storage, StorageError};
