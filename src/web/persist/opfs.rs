//! The OPFS backend, worker side: the core's crash-safe [`BlockFileStore`] over a
//! `FileSystemSyncAccessHandle` ([`SyncHandleDevice`]), exported to JS as `OpfsStore`.
//!
//! Sync access handles exist only in dedicated workers, so `js/src/opfs-worker.ts` (a module
//! worker that loads this same wasm package) opens the handle and calls an `OpfsStore`; the page
//! reaches it through [`super::js_storage::JsStorage`] over a small message proxy
//! (`js/src/persister.ts`), with the commit's buffers transferred, not copied. One file per
//! store. A handle already held elsewhere (`NoModificationAllowedError`, another tab or worker)
//! or closed under us (`InvalidStateError`) is [`StorageError::Lost`]; `QuotaExceededError`
//! on a write is [`StorageError::Quota`].

use js_sys::{Array, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{FileSystemReadWriteOptions, FileSystemSyncAccessHandle};

use super::js_storage::commit_from_js;
use super::jsutil::storage_error;
use crate::persist::blockfile::{BlockDevice, BlockFileStore};
use crate::persist::{PageId, StorageError};
use crate::web::error::to_js_error;

/// A sync access handle as a [`BlockDevice`].
#[derive(Debug)]
pub struct SyncHandleDevice {
    handle: FileSystemSyncAccessHandle,
}

impl SyncHandleDevice {
    /// A device over an open sync access handle (a dedicated worker's).
    pub fn new(handle: FileSystemSyncAccessHandle) -> Self {
        SyncHandleDevice { handle }
    }

    /// Flush and release the handle.
    pub fn close(self) {
        let _ = self.handle.flush();
        self.handle.close();
    }
}

fn at(offset: u64) -> FileSystemReadWriteOptions {
    let o = FileSystemReadWriteOptions::new();
    o.set_at(offset as f64);
    o
}

impl BlockDevice for SyncHandleDevice {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<usize, StorageError> {
        let n = self
            .handle
            .read_with_u8_array_and_options(buf, &at(offset))
            .map_err(|e| storage_error(&e, "OPFS read"))?;
        Ok(n as usize)
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        let mut done = 0usize;
        while done < data.len() {
            let n = self
                .handle
                .write_with_u8_array_and_options(&data[done..], &at(offset + done as u64))
                .map_err(|e| storage_error(&e, "OPFS write"))? as usize;
            if n == 0 {
                return Err(StorageError::Backend("OPFS write made no progress".into()));
            }
            done += n;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StorageError> {
        self.handle.flush().map_err(|e| storage_error(&e, "OPFS flush"))
    }

    fn size(&mut self) -> Result<u64, StorageError> {
        Ok(self
            .handle
            .get_size()
            .map_err(|e| storage_error(&e, "OPFS size"))? as u64)
    }

    fn truncate(&mut self, len: u64) -> Result<(), StorageError> {
        self.handle
            .truncate_with_f64(len as f64)
            .map_err(|e| storage_error(&e, "OPFS truncate"))
    }
}

/// One OPFS store, driven synchronously by the worker (see the module docs).
#[wasm_bindgen]
#[derive(Debug)]
pub struct OpfsStore {
    store: Option<BlockFileStore<SyncHandleDevice>>,
}

impl OpfsStore {
    fn store(&self) -> Result<&BlockFileStore<SyncHandleDevice>, JsValue> {
        self.store
            .as_ref()
            .ok_or_else(|| to_js_error(&StorageError::Lost("the OPFS store was closed".into())))
    }
}

#[wasm_bindgen]
impl OpfsStore {
    /// Open the store on a `FileSystemSyncAccessHandle` (reads the newest valid commit).
    #[wasm_bindgen(constructor)]
    pub fn new(handle: JsValue) -> Result<OpfsStore, JsValue> {
        let handle: FileSystemSyncAccessHandle = handle.unchecked_into();
        let store = BlockFileStore::open(SyncHandleDevice::new(handle)).map_err(|e| to_js_error(&e))?;
        Ok(OpfsStore { store: Some(store) })
    }

    /// The meta blob, or `undefined`.
    #[wasm_bindgen(js_name = loadMeta)]
    pub fn load_meta(&self) -> Result<Option<Uint8Array>, JsValue> {
        let meta = self.store()?.load_meta_sync().map_err(|e| to_js_error(&e))?;
        Ok(meta.map(|m| Uint8Array::from(m.as_slice())))
    }

    /// The pages with these ids, in order.
    #[wasm_bindgen(js_name = loadPages)]
    pub fn load_pages(&self, ids: Vec<f64>) -> Result<Array, JsValue> {
        let ids: Vec<PageId> = ids.into_iter().map(|i| i as PageId).collect();
        let pages = self.store()?.load_pages_sync(&ids).map_err(|e| to_js_error(&e))?;
        Ok(pages
            .iter()
            .map(|p| JsValue::from(Uint8Array::from(p.as_slice())))
            .collect())
    }

    /// Apply a commit (`{clearFirst, puts, deletes, meta}`) atomically.
    pub fn commit(&self, commit: JsValue) -> Result<(), JsValue> {
        let commit = commit_from_js(&commit).map_err(|e| to_js_error(&e))?;
        self.store()?.commit_sync(commit).map_err(|e| to_js_error(&e))
    }

    /// Remove everything.
    pub fn clear(&self) -> Result<(), JsValue> {
        let commit = crate::persist::Commit {
            clear_first: true,
            ..Default::default()
        };
        self.store()?.commit_sync(commit).map_err(|e| to_js_error(&e))
    }

    /// Bytes held.
    pub fn bytes(&self) -> Result<f64, JsValue> {
        Ok(self.store()?.bytes_sync().map_err(|e| to_js_error(&e))? as f64)
    }

    /// Flush and release the access handle.
    pub fn close(&mut self) {
        if let Some(store) = self.store.take() {
            store.into_device().close();
        }
    }
}
