//! The storage contract: a tiny, byte-level store that the checkpoint logic drives.
//!
//! One store holds the data of one persisted shape (the caller opens it for a namespace and a
//! shape identity): a **meta** blob and any number of **pages**, each a blob under a [`PageId`].
//! A [`Commit`] changes pages and meta together, atomically: after a crash a reader sees either
//! the whole commit or none of it. That single guarantee is what makes "never resume past rows
//! that were not stored" hold, because the offset lives in the meta blob of the same commit as
//! the rows it covers.
//!
//! The methods are `async` because browser storage is; the core never awaits anything itself
//! (no runtime, no timers), callers drive the futures. Backends are small (gloo `storage`
//! style): [`MemoryStorage`] here, for tests; IndexedDB, OPFS and JS objects in `web`.

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::error::ErrorCode;

/// The number of a page within one store.
pub type PageId = u64;

/// One atomic change to a store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Commit {
    /// Remove every page and the meta before applying the rest (a must-refetch reset).
    pub clear_first: bool,
    /// Pages written (created or replaced).
    pub puts: Vec<(PageId, Vec<u8>)>,
    /// Pages removed.
    pub deletes: Vec<PageId>,
    /// The new meta blob.
    pub meta: Vec<u8>,
}

/// Why a storage operation failed. Any failure leaves the store as it was before the call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// The quota is exhausted (IndexedDB/OPFS `QuotaExceededError`).
    #[error("storage quota exceeded: {0}")]
    Quota(String),
    /// The store vanished or was taken from us (database deleted, OPFS handle held elsewhere).
    #[error("storage lost: {0}")]
    Lost(String),
    /// The stored bytes are not a valid store of this format.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Any other backend failure.
    #[error("storage failed: {0}")]
    Backend(String),
}

impl ErrorCode for StorageError {
    fn code(&self) -> &'static str {
        match self {
            StorageError::Quota(_) => "EDDY_STORAGE_QUOTA",
            StorageError::Lost(_) => "EDDY_STORAGE_LOST",
            StorageError::Corrupt(_) => "EDDY_STORAGE_CORRUPT",
            StorageError::Backend(_) => "EDDY_STORAGE_BACKEND",
        }
    }
    fn family(&self) -> &'static str {
        match self {
            StorageError::Quota(_) => "StorageQuotaError",
            _ => "StorageError",
        }
    }
}

/// A byte store for one persisted shape.
#[allow(async_fn_in_trait)] // single-threaded (wasm): no Send bound wanted on the futures
pub trait Storage {
    /// The meta blob of the last commit, `None` for an empty store.
    async fn load_meta(&self) -> Result<Option<Vec<u8>>, StorageError>;
    /// The pages with these ids, in the same order. A missing page is [`StorageError::Corrupt`].
    async fn load_pages(&self, ids: &[PageId]) -> Result<Vec<Vec<u8>>, StorageError>;
    /// Apply a commit atomically.
    async fn commit(&self, commit: Commit) -> Result<(), StorageError>;
    /// Remove everything (meta and pages).
    async fn clear(&self) -> Result<(), StorageError> {
        self.commit(Commit {
            clear_first: true,
            ..Commit::default()
        })
        .await?;
        Ok(())
    }
    /// Bytes currently held (meta + pages), as far as the backend can tell cheaply.
    async fn bytes(&self) -> Result<u64, StorageError>;
}

/// An in-memory store (tests, and `storage: 'memory'`). `fail_next` makes the next commit
/// fail with the given error and change nothing, to exercise quota and loss paths.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    state: RefCell<MemoryState>,
}

#[derive(Debug, Default, Clone)]
struct MemoryState {
    meta: Option<Vec<u8>>,
    pages: BTreeMap<PageId, Vec<u8>>,
    fail_next: Option<StorageError>,
    commits: u64,
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStorage::default()
    }
    /// Fail the next commit with `error` (nothing is written).
    pub fn fail_next(&self, error: StorageError) {
        self.state.borrow_mut().fail_next = Some(error);
    }
    /// Commits applied so far.
    pub fn commits(&self) -> u64 {
        self.state.borrow().commits
    }
    /// Ids of the stored pages.
    pub fn page_ids(&self) -> Vec<PageId> {
        self.state.borrow().pages.keys().copied().collect()
    }
}

impl Storage for MemoryStorage {
    async fn load_meta(&self) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.state.borrow().meta.clone())
    }

    async fn load_pages(&self, ids: &[PageId]) -> Result<Vec<Vec<u8>>, StorageError> {
        let s = self.state.borrow();
        ids.iter()
            .map(|id| {
                s.pages
                    .get(id)
                    .cloned()
                    .ok_or_else(|| StorageError::Corrupt(format!("page {id} is missing")))
            })
            .collect()
    }

    async fn commit(&self, commit: Commit) -> Result<(), StorageError> {
        let mut s = self.state.borrow_mut();
        if let Some(e) = s.fail_next.take() {
            return Err(e);
        }
        if commit.clear_first {
            s.pages.clear();
            s.meta = None;
        }
        for id in &commit.deletes {
            s.pages.remove(id);
        }
        for (id, bytes) in commit.puts {
            s.pages.insert(id, bytes);
        }
        s.meta = if commit.meta.is_empty() && commit.clear_first {
            None
        } else {
            Some(commit.meta)
        };
        s.commits += 1;
        Ok(())
    }

    async fn bytes(&self) -> Result<u64, StorageError> {
        let s = self.state.borrow();
        let pages: usize = s.pages.values().map(Vec::len).sum();
        Ok((pages + s.meta.as_ref().map_or(0, Vec::len)) as u64)
    }
}
