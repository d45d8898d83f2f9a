//! The storage contract script against the native backends, and proof that it catches a
//! backend that breaks a rule.

mod persist_support;

use std::cell::RefCell;

use eddy::persist::{
    conformance, BlockFileStore, Commit, MemDevice, MemoryStorage, PageId, Storage, StorageError,
};
use persist_support::now;

#[test]
fn memory_and_block_file_backends_conform() {
    now(conformance(&MemoryStorage::new())).unwrap();
    let bf = BlockFileStore::open(MemDevice::default()).unwrap();
    now(conformance(&bf)).unwrap();
    // Twice on the same store, and after a reopen.
    now(conformance(&bf)).unwrap();
    let bf = BlockFileStore::open(bf.into_device()).unwrap();
    now(conformance(&bf)).unwrap();
}

/// MemoryStorage with one rule broken.
struct Broken {
    inner: MemoryStorage,
    drop_puts: bool,
    keep_meta_on_wipe: RefCell<bool>,
}

impl Storage for Broken {
    async fn load_meta(&self) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.load_meta().await
    }
    async fn load_pages(&self, ids: &[PageId]) -> Result<Vec<Vec<u8>>, StorageError> {
        self.inner.load_pages(ids).await
    }
    async fn commit(&self, mut c: Commit) -> Result<(), StorageError> {
        if self.drop_puts {
            let ids: Vec<PageId> = c.puts.iter().map(|(id, _)| *id).collect();
            c.deletes.extend(ids);
            c.puts.clear();
        }
        if *self.keep_meta_on_wipe.borrow() && c.clear_first && c.meta.is_empty() {
            c.meta = b"stale".to_vec();
        }
        self.inner.commit(c).await
    }
    async fn bytes(&self) -> Result<u64, StorageError> {
        self.inner.bytes().await
    }
}

#[test]
fn a_backend_that_breaks_a_rule_is_reported_with_the_step() {
    let b = Broken {
        inner: MemoryStorage::new(),
        drop_puts: true,
        keep_meta_on_wipe: RefCell::new(false),
    };
    let e = now(conformance(&b)).unwrap_err();
    assert_eq!(e.step, "pages in request order", "{e}");
    let b = Broken {
        inner: MemoryStorage::new(),
        drop_puts: false,
        keep_meta_on_wipe: RefCell::new(true),
    };
    let e = now(conformance(&b)).unwrap_err();
    assert_eq!(e.step, "empty store", "{e}");
    assert_eq!(eddy::ErrorCode::code(&e), "EDDY_PERSIST_CONFORMANCE");
}
