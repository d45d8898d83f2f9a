//! A [`Storage`] implemented by a JS object: the custom storage of
//! `new ShapeStreamPersister(stream, { storage: customObject })`, and the main-thread side of the
//! OPFS backend (a small object in `js/src/persister.ts` that posts each call to the OPFS worker).
//!
//! The object has five methods, each returning a value or a Promise:
//! - `loadMeta()` → `Uint8Array | null | undefined`
//! - `loadPages(ids: number[])` → `Uint8Array[]` (same order)
//! - `commit({ clearFirst, puts: [id, Uint8Array][], deletes: number[], meta: Uint8Array })` —
//!   applied atomically (all or nothing); the byte arrays are fresh copies it may keep or transfer
//! - `clear()` (optional: defaults to a `clearFirst` commit with an empty meta)
//! - `bytes()` → number (optional: 0)
//!
//! A rejection whose `name` is `QuotaExceededError` (or whose `code` is `EDDY_STORAGE_QUOTA`)
//! becomes [`StorageError::Quota`]; see [`super::jsutil::storage_error`] for the rest.

use js_sys::{Array, Function, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::jsutil::{settle, storage_error};
use crate::persist::{Commit, PageId, Storage, StorageError};

/// A store backed by a JS object with the methods above.
#[derive(Debug, Clone)]
pub struct JsStorage {
    obj: JsValue,
}

impl JsStorage {
    /// Wrap `obj`; it must at least have `loadMeta`, `loadPages` and `commit`.
    pub fn new(obj: JsValue) -> Result<JsStorage, StorageError> {
        for m in ["loadMeta", "loadPages", "commit"] {
            let f = Reflect::get(&obj, &JsValue::from_str(m)).unwrap_or(JsValue::UNDEFINED);
            if !f.is_function() {
                return Err(StorageError::Backend(format!(
                    "custom storage has no {m}() method"
                )));
            }
        }
        Ok(JsStorage { obj })
    }

    /// Call `obj[name](...args)` and await it; `Ok(None)` when the optional method is missing.
    async fn call(&self, name: &str, args: &Array) -> Result<Option<JsValue>, StorageError> {
        let f = Reflect::get(&self.obj, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED);
        let Some(f) = f.dyn_ref::<Function>() else {
            return Ok(None);
        };
        let r = f.apply(&self.obj, args).map_err(|e| storage_error(&e, name))?;
        settle(r).await.map(Some).map_err(|e| storage_error(&e, name))
    }
}

fn to_bytes(v: &JsValue, what: &str) -> Result<Vec<u8>, StorageError> {
    if let Some(a) = v.dyn_ref::<Uint8Array>() {
        return Ok(a.to_vec());
    }
    if let Some(b) = v.dyn_ref::<js_sys::ArrayBuffer>() {
        return Ok(Uint8Array::new(b).to_vec());
    }
    Err(StorageError::Corrupt(format!("{what} is not a Uint8Array")))
}

/// The JS form of a commit (see the module docs).
pub(crate) fn commit_to_js(commit: &Commit) -> JsValue {
    let o = Object::new();
    let set = |k: &str, v: &JsValue| {
        let _ = Reflect::set(&o, &JsValue::from_str(k), v);
    };
    set("clearFirst", &JsValue::from_bool(commit.clear_first));
    let puts: Array = commit
        .puts
        .iter()
        .map(|(id, b)| {
            JsValue::from(Array::of2(
                &JsValue::from_f64(*id as f64),
                &Uint8Array::from(b.as_slice()),
            ))
        })
        .collect();
    set("puts", &puts);
    let deletes: Array = commit
        .deletes
        .iter()
        .map(|id| JsValue::from_f64(*id as f64))
        .collect();
    set("deletes", &deletes);
    set("meta", &Uint8Array::from(commit.meta.as_slice()));
    o.into()
}

/// The Rust form of a commit sent by [`commit_to_js`] (the OPFS worker's side).
pub(crate) fn commit_from_js(v: &JsValue) -> Result<Commit, StorageError> {
    let get = |k: &str| Reflect::get(v, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED);
    let mut puts = Vec::new();
    for p in Array::from(&get("puts")).iter() {
        let p = Array::from(&p);
        let id = p
            .get(0)
            .as_f64()
            .ok_or_else(|| StorageError::Corrupt("page id".into()))? as PageId;
        puts.push((id, to_bytes(&p.get(1), "page")?));
    }
    let deletes = Array::from(&get("deletes"))
        .iter()
        .filter_map(|d| d.as_f64().map(|d| d as PageId))
        .collect();
    Ok(Commit {
        clear_first: get("clearFirst").is_truthy(),
        puts,
        deletes,
        meta: to_bytes(&get("meta"), "meta").unwrap_or_default(),
    })
}

impl Storage for JsStorage {
    async fn load_meta(&self) -> Result<Option<Vec<u8>>, StorageError> {
        match self.call("loadMeta", &Array::new()).await? {
            Some(v) if !v.is_null() && !v.is_undefined() => to_bytes(&v, "meta").map(Some),
            _ => Ok(None),
        }
    }

    async fn load_pages(&self, ids: &[PageId]) -> Result<Vec<Vec<u8>>, StorageError> {
        let js_ids: Array = ids.iter().map(|id| JsValue::from_f64(*id as f64)).collect();
        let r = self
            .call("loadPages", &Array::of1(&js_ids))
            .await?
            .unwrap_or(JsValue::UNDEFINED);
        let pages = Array::from(&r);
        if pages.length() as usize != ids.len() {
            return Err(StorageError::Corrupt(format!(
                "loadPages returned {} pages for {} ids",
                pages.length(),
                ids.len()
            )));
        }
        ids.iter()
            .zip(pages.iter())
            .map(|(id, p)| to_bytes(&p, &format!("page {id}")))
            .collect()
    }

    async fn commit(&self, commit: Commit) -> Result<(), StorageError> {
        self.call("commit", &Array::of1(&commit_to_js(&commit))).await?;
        Ok(())
    }

    async fn clear(&self) -> Result<(), StorageError> {
        if self.call("clear", &Array::new()).await?.is_none() {
            self.commit(Commit {
                clear_first: true,
                ..Commit::default()
            })
            .await?;
        }
        Ok(())
    }

    async fn bytes(&self) -> Result<u64, StorageError> {
        Ok(self
            .call("bytes", &Array::new())
            .await?
            .and_then(|v| v.as_f64())
            .unwrap_or(0.0) as u64)
    }
}
