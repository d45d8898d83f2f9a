//! Persistence of a materialized shape (issue #5), as pure logic over a small byte store.
//!
//! - [`storage`] — the [`Storage`] trait every backend implements (memory here; IndexedDB, OPFS
//!   and a JS object in `web`): a meta blob plus numbered page blobs, changed in one atomic
//!   commit. Backends know nothing about rows, offsets or shapes.
//!
//! Checkpointing (which pages a commit writes), the page format, compaction and restore build on
//! it; none of them owns I/O: the caller awaits the backend.

pub mod storage;

pub use storage::{Commit, MemoryStorage, PageId, Storage, StorageError};
