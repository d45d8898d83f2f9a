//! Persistence in the browser (issue #5): the storage backends of the core's [`Storage`]
//! trait and the `ShapeStreamPersister` binding that checkpoints a driver's committed rows.
//!
//! - [`idb`] — IndexedDB (one shared database, one transaction per commit).
//! - [`opfs`] — OPFS: the core's block file over a `FileSystemSyncAccessHandle`, run in a
//!   dedicated worker (`js/src/opfs-worker.ts`); the page reaches it through a JS object.
//! - [`js_storage`] — any JS object with `loadMeta/loadPages/commit/clear/bytes` (custom
//!   storages, and the page side of OPFS).
//! - [`binding`] — the wasm class `PersisterCore` used by `js/src/persister.ts`.
//!
//! [`AnyStorage`] dispatches over them (the `Storage` trait has `async fn`s, so no `dyn`).

pub mod binding;
pub mod idb;
pub mod js_storage;
mod jsutil;
pub mod opfs;

pub use binding::PersisterCore;

use crate::persist::{Commit, MemoryStorage, PageId, Storage, StorageError};

/// One of the browser backends.
#[derive(Debug)]
pub enum AnyStorage {
    /// In memory (`storage: 'memory'`): lost on reload; for tests and as a fallback.
    Memory(MemoryStorage),
    /// IndexedDB.
    Idb(idb::IdbStorage),
    /// A JS object (custom storage, or the OPFS worker proxy).
    Js(js_storage::JsStorage),
}

/// The key of one persisted store: the user's namespace and the canonical shape definition
/// (never a header or token value). NUL cannot occur in either part's meaningful text.
pub fn store_id(namespace: &str, identity: &str) -> String {
    format!("{namespace}\u{0}{identity}")
}

impl Storage for AnyStorage {
    async fn load_meta(&self) -> Result<Option<Vec<u8>>, StorageError> {
        match self {
            AnyStorage::Memory(s) => s.load_meta().await,
            AnyStorage::Idb(s) => s.load_meta().await,
            AnyStorage::Js(s) => s.load_meta().await,
        }
    }
    async fn load_pages(&self, ids: &[PageId]) -> Result<Vec<Vec<u8>>, StorageError> {
        match self {
            AnyStorage::Memory(s) => s.load_pages(ids).await,
            AnyStorage::Idb(s) => s.load_pages(ids).await,
            AnyStorage::Js(s) => s.load_pages(ids).await,
        }
    }
    async fn commit(&self, commit: Commit) -> Result<(), StorageError> {
        match self {
            AnyStorage::Memory(s) => s.commit(commit).await,
            AnyStorage::Idb(s) => s.commit(commit).await,
            AnyStorage::Js(s) => s.commit(commit).await,
        }
    }
    async fn clear(&self) -> Result<(), StorageError> {
        match self {
            AnyStorage::Memory(s) => s.clear().await,
            AnyStorage::Idb(s) => s.clear().await,
            AnyStorage::Js(s) => s.clear().await,
        }
    }
    async fn bytes(&self) -> Result<u64, StorageError> {
        match self {
            AnyStorage::Memory(s) => s.bytes().await,
            AnyStorage::Idb(s) => s.bytes().await,
            AnyStorage::Js(s) => s.bytes().await,
        }
    }
}
