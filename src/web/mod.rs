//! The browser layer (wasm32 only): the `#[wasm_bindgen]` surface and, in later issues, the
//! fetch/SSE/WebSocket transports and IndexedDB/OPFS storage.
