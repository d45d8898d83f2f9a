//! The storage contract (`eddy::persist::conformance`, the script every backend must pass) run
//! against the real browser backends inside headless Chromium, in a dedicated worker (sync
//! access handles exist only there): IndexedDB ([`IdbStorage`], as the page uses it) and OPFS
//! (the [`BlockFileStore`] over a `FileSystemSyncAccessHandle`, as the OPFS worker runs it).
//! Natively the same script runs against memory and the block file over a memory device
//! (`tests/persist_conformance.rs`).
//!
//!   CHROMEDRIVER=/usr/bin/chromedriver cargo test --target wasm32-unknown-unknown --test browser_storage
#![cfg(target_arch = "wasm32")]

use eddy::persist::{conformance, BlockFileStore, Storage};
use eddy::web::persist::idb::IdbStorage;
use eddy::web::persist::opfs::SyncHandleDevice;
use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

fn get(o: &JsValue, k: &str) -> JsValue {
    Reflect::get(o, &JsValue::from_str(k)).unwrap()
}

/// `await o[method](...args)`.
async fn call(o: &JsValue, method: &str, args: &[JsValue]) -> JsValue {
    let f: Function = get(o, method).unchecked_into();
    let r = f.apply(o, &args.iter().collect()).unwrap();
    JsFuture::from(Promise::resolve(&r)).await.unwrap()
}

/// A sync access handle on OPFS file `name` (created if missing).
async fn opfs_handle(name: &str) -> web_sys::FileSystemSyncAccessHandle {
    let storage = get(&get(&js_sys::global(), "navigator"), "storage");
    let dir = call(&storage, "getDirectory", &[]).await;
    let opts = js_sys::Object::new();
    Reflect::set(&opts, &"create".into(), &JsValue::TRUE).unwrap();
    let file = call(&dir, "getFileHandle", &[name.into(), opts.into()]).await;
    call(&file, "createSyncAccessHandle", &[]).await.unchecked_into()
}

async fn passes<S: Storage>(name: &str, s: &S) {
    if let Err(e) = conformance(s).await {
        panic!("{name}: {e}");
    }
}

#[wasm_bindgen_test]
async fn indexeddb_passes_the_storage_contract() {
    let s = IdbStorage::open("conformance/a").await.unwrap();
    passes("IndexedDB", &s).await;
    // A second store in the same database is independent of the first.
    let other = IdbStorage::open("conformance/b").await.unwrap();
    passes("IndexedDB, second store", &other).await;
}

#[wasm_bindgen_test]
async fn opfs_block_file_passes_the_storage_contract() {
    let store = BlockFileStore::open(SyncHandleDevice::new(opfs_handle("conformance.eddy").await)).unwrap();
    passes("OPFS", &store).await;
    // Reopened on the same file (what a reload does): the contract holds again.
    store.into_device().close();
    let store = BlockFileStore::open(SyncHandleDevice::new(opfs_handle("conformance.eddy").await)).unwrap();
    passes("OPFS, reopened", &store).await;
    store.into_device().close();
}
