//! `PersisterCore`: the wasm class behind `js/src/persister.ts`. It restores a store into a
//! driver that has not started, and turns the driver's committed change sets (its
//! [`Tap`](crate::web::driver::persist_hook::Tap)) into checkpoints through the core's
//! [`Checkpointer`] — plan, commit, and only on success apply — one commit at a time.
//!
//! Scheduling (once per animation frame at most, only at up-to-date points) is the facade's
//! job; this class refuses to plan while a commit is in flight and never plans at a position
//! that is not a clean up-to-date (the tap's `position` is `None` then).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Object, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::idb::IdbStorage;
use super::js_storage::JsStorage;
use super::{store_id, AnyStorage};
use crate::log::ChangeSet;
use crate::persist::checkpoint::{CheckpointPolicy, Checkpointer};
use crate::persist::meta::definition_hash;
use crate::persist::meta::Position;
use crate::persist::restore::{open_meta, Assembler, Discard, MetaOutcome};
use crate::persist::{MemoryStorage, PageId, PersistError, Storage, StorageError};
use crate::protocol::request::ShapeDefinition;
use crate::protocol::ChangeMessage;
use crate::web::driver::persist_hook::TapRef;
use crate::web::driver::ShapeStreamDriver;
use crate::web::error::{set, to_js_error};

struct State {
    driver: ShapeStreamDriver,
    tap: TapRef,
    store_id: String,
    definition: ShapeDefinition,
    storage: RefCell<Option<Rc<AnyStorage>>>,
    cp: RefCell<Checkpointer>,
    /// A restore read in parts, between its first pages and the rest.
    rest: RefCell<Option<Assembler>>,
    busy: Cell<bool>,
}

/// The persistence engine of one `ShapeStreamPersister` (see the module docs).
#[wasm_bindgen]
pub struct PersisterCore {
    state: Rc<State>,
}

impl std::fmt::Debug for PersisterCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersisterCore")
            .field("store_id", &self.state.store_id)
            .finish_non_exhaustive()
    }
}

/// A restore is read in two parts (the first `head_rows`, then the rest) only when the store
/// holds at least this many times `head_rows`: a small store is read at once.
const PARTS_MIN_FACTOR: u64 = 8;

/// Load pages `ids` and add them to `a`: the outer error is the backend's, the inner one
/// means the store must not be used (a page reported missing counts as corrupt).
async fn load_and_add(
    storage: &AnyStorage,
    a: &mut Assembler,
    ids: &[PageId],
) -> Result<Result<Vec<ChangeMessage>, Discard>, JsValue> {
    let pages = match storage.load_pages(ids).await {
        Ok(p) => p,
        Err(StorageError::Corrupt(r)) => {
            return Ok(Err(Discard::Corrupt(PersistError::corrupt("store", &r))))
        }
        Err(e) => return Err(to_js_error(&e)),
    };
    Ok(a.add_pages(&pages))
}

fn obj(pairs: &[(&str, JsValue)]) -> JsValue {
    let o: JsValue = Object::new().into();
    for (k, v) in pairs {
        set(&o, k, v);
    }
    o
}

fn opt_str(s: Option<String>) -> JsValue {
    s.map_or(JsValue::UNDEFINED, |s| JsValue::from_str(&s))
}

impl State {
    fn storage(&self) -> Result<Rc<AnyStorage>, JsValue> {
        self.storage.borrow().clone().ok_or_else(|| {
            to_js_error(&StorageError::Backend(
                "the storage is not open (restore first)".into(),
            ))
        })
    }

    async fn restore(
        self: Rc<Self>,
        kind: String,
        custom: JsValue,
        head_rows: u32,
    ) -> Result<JsValue, JsValue> {
        let storage = match kind.as_str() {
            "memory" => AnyStorage::Memory(MemoryStorage::new()),
            "indexeddb" => AnyStorage::Idb(
                IdbStorage::open(&self.store_id)
                    .await
                    .map_err(|e| to_js_error(&e))?,
            ),
            "js" => AnyStorage::Js(JsStorage::new(custom).map_err(|e| to_js_error(&e))?),
            other => {
                return Err(to_js_error(&StorageError::Backend(format!(
                    "unknown storage kind {other:?}"
                ))))
            }
        };
        let storage = Rc::new(storage);
        *self.storage.borrow_mut() = Some(storage.clone());
        let not_restored = |reason: &str| {
            obj(&[
                ("restored", JsValue::FALSE),
                ("rows", JsValue::from_f64(0.0)),
                ("reason", JsValue::from_str(reason)),
            ])
        };
        let meta_bytes = storage.load_meta().await.map_err(|e| to_js_error(&e))?;
        let meta_len = meta_bytes.as_ref().map_or(0, |b| b.len() as u64);
        let meta = match open_meta(meta_bytes.as_deref(), definition_hash(&self.definition)) {
            MetaOutcome::Empty => return Ok(not_restored("empty")),
            MetaOutcome::Discard(_) => return Ok(not_restored("discarded")),
            MetaOutcome::Load(m) => *m,
        };
        let Ok(mut a) = Assembler::new(meta, meta_len, CheckpointPolicy::default()) else {
            return Ok(not_restored("discarded"));
        };
        let total = a.row_count();
        let head = u64::from(head_rows);
        let pages = if head > 0 && total >= head * PARTS_MIN_FACTOR {
            a.pages_for(head)
        } else {
            usize::MAX
        };
        let mut ids = a.remaining();
        ids.truncate(pages);
        let rows = match load_and_add(&storage, &mut a, &ids).await? {
            Ok(rows) => rows,
            Err(_) => return Ok(not_restored("discarded")),
        };
        let partial = !a.remaining().is_empty();
        let Position {
            handle,
            offset,
            schema,
        } = a.position().clone();
        let (finished, rest) = if partial {
            (None, Some(a))
        } else {
            match a.finish() {
                Ok((_, cp)) => (Some(cp), None),
                Err(_) => return Ok(not_restored("discarded")),
            }
        };
        let n = rows.len();
        if self
            .driver
            .persist_restore(handle.clone(), offset, schema, rows)
            .is_err()
        {
            // The stream was already running: keep its state and rewrite the store from it.
            return Ok(not_restored("started"));
        }
        if let Some(cp) = finished {
            *self.cp.borrow_mut() = cp;
        }
        *self.rest.borrow_mut() = rest;
        Ok(obj(&[
            ("restored", JsValue::TRUE),
            ("partial", JsValue::from_bool(partial)),
            ("rows", JsValue::from_f64(n as f64)),
            ("total", JsValue::from_f64(total as f64)),
            ("offset", JsValue::from_str(&offset.to_string())),
            ("handle", JsValue::from_str(&handle)),
            ("reason", JsValue::from_str("loaded")),
        ]))
    }

    /// The pages a partial restore left: into the driver, or (a page gone or corrupt) the
    /// restore is undone and the stream starts from scratch.
    async fn restore_rest(self: Rc<Self>) -> Result<JsValue, JsValue> {
        let Some(mut a) = self.rest.borrow_mut().take() else {
            return Ok(obj(&[
                ("restored", JsValue::FALSE),
                ("reason", JsValue::from_str("none")),
            ]));
        };
        let storage = self.storage()?;
        let ids = a.remaining();
        let loaded = match load_and_add(&storage, &mut a, &ids).await {
            Ok(Ok(rows)) => a.finish().map(|(_, cp)| (rows, cp)),
            Ok(Err(d)) => Err(d),
            Err(e) => {
                let _ = self.driver.persist_discard();
                return Err(e);
            }
        };
        let Ok((rows, cp)) = loaded else {
            let _ = self.driver.persist_discard();
            return Ok(obj(&[
                ("restored", JsValue::FALSE),
                ("reason", JsValue::from_str("discarded")),
            ]));
        };
        let n = rows.len();
        if self.driver.persist_extend(rows).is_err() {
            // Cannot happen (the facade holds the stream until the restore ends); if it does,
            // the running stream's rows are the truth and the next checkpoint rewrites the store.
            return Ok(obj(&[
                ("restored", JsValue::FALSE),
                ("reason", JsValue::from_str("started")),
            ]));
        }
        *self.cp.borrow_mut() = cp;
        Ok(obj(&[
            ("restored", JsValue::TRUE),
            ("rows", JsValue::from_f64(n as f64)),
            ("reason", JsValue::from_str("loaded")),
        ]))
    }

    /// Move what the tap recorded into the checkpointer; returns (wipe now, position).
    fn take_tap(&self) -> (bool, Option<Position>) {
        let mut tap = self.tap.borrow_mut();
        let mut cp = self.cp.borrow_mut();
        let wipe = std::mem::take(&mut tap.wipe);
        if std::mem::take(&mut tap.full) {
            cp.record_reset();
        }
        if !tap.dirty.is_empty() {
            let keys = tap.dirty.drain().collect();
            cp.record(&ChangeSet {
                inserted: keys,
                ..ChangeSet::default()
            });
        }
        let position = tap.position.clone().map(|(handle, offset)| Position {
            handle,
            offset,
            schema: None,
        });
        (wipe, position)
    }

    async fn checkpoint(self: Rc<Self>) -> Result<bool, JsValue> {
        if self.busy.replace(true) {
            return Ok(false);
        }
        let r = self.checkpoint_inner().await;
        self.busy.set(false);
        r.map_err(|e| to_js_error(&e))
    }

    async fn checkpoint_inner(&self) -> Result<bool, StorageError> {
        let storage = self.storage.borrow().clone();
        let Some(storage) = storage else { return Ok(false) };
        let (wipe, position) = self.take_tap();
        let mut wrote = false;
        // A 409 and no re-synced state yet: empty the store now, so a reload never shows
        // the old rows. (With the new state already there, its clear_first commit does it.)
        if wipe && position.is_none() {
            let plan = self.cp.borrow().plan_clear();
            if let Err(e) = storage.commit(plan.commit).await {
                self.tap.borrow_mut().wipe = true;
                return Err(e);
            }
            let _ = self.cp.borrow_mut().apply(plan.receipt);
            wrote = true;
        }
        let Some(mut position) = position else {
            return Ok(wrote);
        };
        let plan = self.driver.persist_read(|rows, schema| {
            position.schema = schema.cloned();
            self.cp.borrow().plan(rows, &position)
        });
        let plan = match plan {
            Ok(Some(p)) => p,
            Ok(None) => return Ok(wrote),
            Err(e) => {
                // The stored page map and the rows disagree: rewrite everything next time.
                self.cp.borrow_mut().record_reset();
                return Err(StorageError::Corrupt(e.to_string()));
            }
        };
        storage.commit(plan.commit).await?;
        if let Err(e) = self.cp.borrow_mut().apply(plan.receipt) {
            self.cp.borrow_mut().record_reset();
            return Err(StorageError::Corrupt(e.to_string()));
        }
        Ok(true)
    }

    async fn clear(self: Rc<Self>) -> Result<JsValue, JsValue> {
        let storage = self.storage()?;
        let plan = self.cp.borrow().plan_clear();
        storage.commit(plan.commit).await.map_err(|e| to_js_error(&e))?;
        let _ = self.cp.borrow_mut().apply(plan.receipt);
        Ok(JsValue::UNDEFINED)
    }

    async fn stats(self: Rc<Self>) -> Result<JsValue, JsValue> {
        let storage = self.storage()?;
        let bytes = storage.bytes().await.map_err(|e| to_js_error(&e))?;
        let s = self.cp.borrow().stats();
        let handle = self.cp.borrow().position().map(|p| p.handle.clone());
        Ok(obj(&[
            ("rows", JsValue::from_f64(s.rows as f64)),
            ("pages", JsValue::from_f64(s.pages as f64)),
            ("bytes", JsValue::from_f64(bytes as f64)),
            ("liveBytes", JsValue::from_f64(s.live_bytes as f64)),
            ("deadBytes", JsValue::from_f64(s.dead_bytes as f64)),
            ("offset", opt_str(s.offset.map(|o| o.to_string()))),
            ("handle", opt_str(handle)),
        ]))
    }
}

#[wasm_bindgen]
impl PersisterCore {
    /// Attach to `driver` (before it starts) for `namespace`. Nothing is read yet.
    #[wasm_bindgen(constructor)]
    pub fn new(driver: &ShapeStreamDriver, namespace: &str) -> PersisterCore {
        let definition = driver.persist_definition();
        let id = store_id(namespace, &definition.identity());
        let state = State {
            tap: driver.persist_tap(),
            driver: driver.persist_handle(),
            store_id: id,
            cp: RefCell::new(Checkpointer::new(&definition, CheckpointPolicy::default())),
            definition,
            storage: RefCell::new(None),
            rest: RefCell::new(None),
            busy: Cell::new(false),
        };
        PersisterCore {
            state: Rc::new(state),
        }
    }

    /// The store key: namespace + canonical shape definition.
    #[wasm_bindgen(getter, js_name = storeId)]
    pub fn store_id(&self) -> String {
        self.state.store_id.clone()
    }

    /// Open the storage (`"memory"`, `"indexeddb"`, or `"js"` with `custom`) and load what it
    /// holds into the driver. Resolves with `{restored, partial?, rows, total?, offset?, handle?,
    /// reason}`. With `head_rows > 0` and a store of many more rows, only the first pages (at
    /// least `head_rows` rows) are loaded and `partial` is true: call `restoreRest` next, before
    /// the stream starts.
    pub fn restore(&self, kind: String, custom: JsValue, head_rows: u32) -> Promise {
        let s = self.state.clone();
        future_to_promise(s.restore(kind, custom, head_rows))
    }

    /// The rest of a partial restore. Resolves with `{restored, rows, reason}`; `restored:
    /// false` means the store turned out unusable and the rows of the first part are gone
    /// from the driver (the stream will sync from scratch).
    #[wasm_bindgen(js_name = restoreRest)]
    pub fn restore_rest(&self) -> Promise {
        let s = self.state.clone();
        future_to_promise(s.restore_rest())
    }

    /// Write what changed since the last successful checkpoint, if the driver is at a clean
    /// up-to-date. Resolves with whether something was written; rejects with a storage error
    /// (nothing applied: the next checkpoint covers everything again).
    pub fn checkpoint(&self) -> Promise {
        let s = self.state.clone();
        future_to_promise(async move { s.checkpoint().await.map(JsValue::from_bool) })
    }

    /// Forget the stored page map: the next checkpoint rewrites every row (`clear_first`). For
    /// a tab that just became the writer of a store another tab wrote meanwhile.
    #[wasm_bindgen(js_name = resetCheckpointer)]
    pub fn reset_checkpointer(&self) {
        *self.state.cp.borrow_mut() = Checkpointer::new(&self.state.definition, CheckpointPolicy::default());
    }

    /// Empty the store (the next checkpoint rewrites every row).
    pub fn clear(&self) -> Promise {
        let s = self.state.clone();
        future_to_promise(s.clear())
    }

    /// `{rows, pages, bytes, liveBytes, deadBytes, offset, handle}` of the stored copy.
    pub fn stats(&self) -> Promise {
        let s = self.state.clone();
        future_to_promise(s.stats())
    }
}
