//! The IndexedDB backend of [`Storage`].
//!
//! **Binding choice: plain `web-sys` plus a 60-line promise shim** ([`super::jsutil`]), not
//! `indexed_db_futures` or `rexie`. The backend issues a handful of calls (open, one readwrite
//! transaction per commit, gets); both crates add a generic layer (serde bridges, cursor
//! streams, their own error enums) we would not use, and grow the wasm for it, while web-sys
//! only links the methods actually called. The cost is ~40 lines of `on<event>` handling.
//!
//! **Layout: one shared database `eddy-persist`** (version 1) for every namespace and shape,
//! with two object stores: `meta` (key: the store id, value: the meta bytes) and `pages`
//! (key: `[storeId, pageId]`, value: the page bytes). The store id is the namespace and the
//! canonical shape definition (see `super::store_id`). One database means one upgrade path and
//! one connection to watch; a whole store is one key range, so a clear is one `delete(range)`.
//! Clearing all persisted data of an origin stays possible with `indexedDB.deleteDatabase`.
//!
//! **Atomicity:** every [`Commit`] is one readwrite transaction over both object stores
//! (deletes, puts and the meta); IndexedDB applies it whole or not at all, also across a crash.
//!
//! **Errors:** a transaction aborted with `QuotaExceededError` is [`StorageError::Quota`]; the
//! database deleted or closed under us (`versionchange` / `close` events: another tab or the
//! user cleared site data) makes this store [`StorageError::Lost`] from then on.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{IdbDatabase, IdbFactory, IdbKeyRange, IdbOpenDbRequest, IdbTransaction, IdbTransactionMode};

use super::jsutil::{on_event, storage_error};
use crate::persist::{Commit, PageId, Storage, StorageError};

const DB_NAME: &str = "eddy-persist";
const DB_VERSION: u32 = 1;
const META: &str = "meta";
const PAGES: &str = "pages";

/// One store (namespace + shape) inside the shared IndexedDB database.
pub struct IdbStorage {
    db: IdbDatabase,
    id: JsValue,
    lost: Rc<RefCell<Option<String>>>,
    _watch: [Closure<dyn FnMut(JsValue)>; 2],
}

impl std::fmt::Debug for IdbStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdbStorage")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Drop for IdbStorage {
    fn drop(&mut self) {
        self.db.set_onversionchange(None);
        self.db.set_onclose(None);
        self.db.close();
    }
}

fn factory() -> Result<IdbFactory, StorageError> {
    let f = Reflect::get(&js_sys::global(), &JsValue::from_str("indexedDB"))
        .map_err(|e| storage_error(&e, "indexedDB"))?;
    if f.is_undefined() || f.is_null() {
        return Err(StorageError::Backend("IndexedDB is not available here".into()));
    }
    Ok(f.unchecked_into())
}

impl IdbStorage {
    /// Open (creating on first use) the shared database and address the store `store_id`.
    pub async fn open(store_id: &str) -> Result<IdbStorage, StorageError> {
        let req: IdbOpenDbRequest = factory()?
            .open_with_u32(DB_NAME, DB_VERSION)
            .map_err(|e| storage_error(&e, "open"))?;
        let upgrade = Closure::<dyn FnMut(JsValue)>::new({
            let req = req.clone();
            move |_ev: JsValue| {
                if let Ok(db) = req.result() {
                    let db: IdbDatabase = db.unchecked_into();
                    // Version 1 is the only version: an upgrade always starts from nothing.
                    for name in [META, PAGES] {
                        let _ = db.create_object_store(name);
                    }
                }
            }
        });
        req.set_onupgradeneeded(Some(upgrade.as_ref().unchecked_ref()));
        let (r1, r2) = (req.clone(), req.clone());
        let opened = on_event(
            &req,
            "success",
            &["error", "blocked"],
            move || r1.result().unwrap_or(JsValue::UNDEFINED),
            move || {
                r2.error()
                    .ok()
                    .flatten()
                    .map(JsValue::from)
                    .unwrap_or(JsValue::NULL)
            },
        )
        .await;
        req.set_onupgradeneeded(None);
        drop(upgrade);
        let db: IdbDatabase = opened.map_err(|e| storage_error(&e, "open"))?.unchecked_into();
        let lost = Rc::new(RefCell::new(None));
        let watch = |why: &'static str| {
            let lost = lost.clone();
            let db = db.clone();
            Closure::<dyn FnMut(JsValue)>::new(move |_ev: JsValue| {
                *lost.borrow_mut() = Some(why.to_owned());
                db.close();
            })
        };
        let watch = [
            watch("the database is being deleted or upgraded elsewhere"),
            watch("the browser closed the database"),
        ];
        db.set_onversionchange(Some(watch[0].as_ref().unchecked_ref()));
        db.set_onclose(Some(watch[1].as_ref().unchecked_ref()));
        Ok(IdbStorage {
            db,
            id: JsValue::from_str(store_id),
            lost,
            _watch: watch,
        })
    }

    fn check(&self) -> Result<(), StorageError> {
        match &*self.lost.borrow() {
            Some(why) => Err(StorageError::Lost(why.clone())),
            None => Ok(()),
        }
    }

    fn tx(&self, stores: &[&str], mode: IdbTransactionMode) -> Result<IdbTransaction, StorageError> {
        self.check()?;
        let names: Array = stores.iter().map(|s| JsValue::from_str(s)).collect();
        self.db
            .transaction_with_str_sequence_and_mode(&names, mode)
            .map_err(|e| storage_error(&e, "transaction"))
    }

    fn page_key(&self, id: PageId) -> JsValue {
        Array::of2(&self.id, &JsValue::from_f64(id as f64)).into()
    }

    /// Every page key of this store: `[id]` < `[id, n]` < `[id, []]` (arrays sort after numbers).
    fn range(&self) -> Result<JsValue, JsValue> {
        IdbKeyRange::bound(&Array::of1(&self.id), &Array::of2(&self.id, &Array::new())).map(JsValue::from)
    }

    /// Await the transaction; an abort rejects with its error (e.g. `QuotaExceededError`).
    async fn done(&self, tx: &IdbTransaction, what: &str) -> Result<(), StorageError> {
        let t = tx.clone();
        let r = on_event(
            tx,
            "complete",
            &["abort"],
            || JsValue::UNDEFINED,
            move || {
                t.error()
                    .map(JsValue::from)
                    .unwrap_or_else(|| js_sys::Error::new("transaction aborted").into())
            },
        )
        .await;
        r.map(|_| ())
            .map_err(|e| self.check().err().unwrap_or_else(|| storage_error(&e, what)))
    }
}

fn bytes_of(v: &JsValue) -> Option<Vec<u8>> {
    if v.is_undefined() || v.is_null() {
        return None;
    }
    v.dyn_ref::<Uint8Array>().map(Uint8Array::to_vec).or_else(|| {
        v.dyn_ref::<js_sys::ArrayBuffer>()
            .map(|b| Uint8Array::new(b).to_vec())
    })
}

fn len_of(v: &JsValue) -> u64 {
    v.dyn_ref::<Uint8Array>().map_or(0, |a| a.byte_length() as u64)
}

impl IdbStorage {
    /// Ascending `ids` (a restore loads every page of the meta, in id order): one `getAll` and
    /// one `getAllKeys` over the key range from the first to the last id instead of a `get` per
    /// page (each request costs a round trip to the storage process). Keys in the range that
    /// were not asked for are skipped.
    async fn load_page_span(&self, ids: &[PageId]) -> Result<Vec<Vec<u8>>, StorageError> {
        let (first, last) = (ids[0], ids[ids.len() - 1]);
        let tx = self.tx(&[PAGES], IdbTransactionMode::Readonly)?;
        let issue = || -> Result<_, JsValue> {
            let range = IdbKeyRange::bound(&self.page_key(first), &self.page_key(last))?;
            let store = tx.object_store(PAGES)?;
            Ok((
                store.get_all_keys_with_key(&range)?,
                store.get_all_with_key(&range)?,
            ))
        };
        let (keys, values) = issue().map_err(|e| storage_error(&e, "pages"))?;
        self.done(&tx, "load pages").await?;
        let keys = Array::from(&keys.result().map_err(|e| storage_error(&e, "pages"))?);
        let values = Array::from(&values.result().map_err(|e| storage_error(&e, "pages"))?);
        let mut out = Vec::with_capacity(ids.len());
        let mut want = ids.iter().copied().peekable();
        for (key, value) in keys.iter().zip(values.iter()) {
            let Some(&id) = want.peek() else { break };
            let got = Reflect::get_u32(&key, 1).ok().and_then(|v| v.as_f64());
            if got == Some(id as f64) {
                let bytes = bytes_of(&value)
                    .ok_or_else(|| StorageError::Corrupt(format!("page {id} is not bytes")))?;
                out.push(bytes);
                want.next();
            }
        }
        match want.next() {
            Some(id) => Err(StorageError::Corrupt(format!("page {id} is missing"))),
            None => Ok(out),
        }
    }
}

impl Storage for IdbStorage {
    async fn load_meta(&self) -> Result<Option<Vec<u8>>, StorageError> {
        let tx = self.tx(&[META], IdbTransactionMode::Readonly)?;
        let store = tx.object_store(META).map_err(|e| storage_error(&e, "meta"))?;
        let req = store.get(&self.id).map_err(|e| storage_error(&e, "meta"))?;
        self.done(&tx, "load meta").await?;
        Ok(req.result().ok().as_ref().and_then(bytes_of))
    }

    async fn load_pages(&self, ids: &[PageId]) -> Result<Vec<Vec<u8>>, StorageError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        if ids.windows(2).all(|w| w[0] < w[1]) {
            return self.load_page_span(ids).await;
        }
        let tx = self.tx(&[PAGES], IdbTransactionMode::Readonly)?;
        let store = tx.object_store(PAGES).map_err(|e| storage_error(&e, "pages"))?;
        let reqs = ids
            .iter()
            .map(|&id| {
                store
                    .get(&self.page_key(id))
                    .map_err(|e| storage_error(&e, "pages"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.done(&tx, "load pages").await?;
        ids.iter()
            .zip(reqs)
            .map(|(id, req)| {
                req.result()
                    .ok()
                    .as_ref()
                    .and_then(bytes_of)
                    .ok_or_else(|| StorageError::Corrupt(format!("page {id} is missing")))
            })
            .collect()
    }

    async fn commit(&self, commit: Commit) -> Result<(), StorageError> {
        let tx = self.tx(&[META, PAGES], IdbTransactionMode::Readwrite)?;
        let issue = || -> Result<(), JsValue> {
            let meta = tx.object_store(META)?;
            let pages = tx.object_store(PAGES)?;
            if commit.clear_first {
                pages.delete(&self.range()?)?;
                meta.delete(&self.id)?;
            }
            for &id in &commit.deletes {
                pages.delete(&self.page_key(id))?;
            }
            for (id, bytes) in &commit.puts {
                pages.put_with_key(&Uint8Array::from(bytes.as_slice()), &self.page_key(*id))?;
            }
            if !(commit.clear_first && commit.meta.is_empty()) {
                meta.put_with_key(&Uint8Array::from(commit.meta.as_slice()), &self.id)?;
            }
            Ok(())
        };
        if let Err(e) = issue() {
            let _ = tx.abort();
            return Err(storage_error(&e, "commit"));
        }
        self.done(&tx, "commit").await
    }

    async fn bytes(&self) -> Result<u64, StorageError> {
        // Stats only: reads the store's values once (IndexedDB keeps no cheap size per range).
        let tx = self.tx(&[META, PAGES], IdbTransactionMode::Readonly)?;
        let issue = || -> Result<_, JsValue> {
            let meta = tx.object_store(META)?.get(&self.id)?;
            let pages = tx.object_store(PAGES)?.get_all_with_key(&self.range()?)?;
            Ok((meta, pages))
        };
        let (meta, pages) = issue().map_err(|e| storage_error(&e, "bytes"))?;
        self.done(&tx, "bytes").await?;
        let mut total = meta.result().map_or(0, |v| len_of(&v));
        if let Ok(all) = pages.result() {
            total += Array::from(&all).iter().map(|v| len_of(&v)).sum::<u64>();
        }
        Ok(total)
    }
}
