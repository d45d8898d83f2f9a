//! The browser layer (wasm32 only): the `#[wasm_bindgen]` surface over the pure core.
//!
//! Transports (fetch/SSE/WebSocket) and storage (IndexedDB/OPFS) arrive with later issues. Rules
//! for everything here: no protocol logic (it lives in the core), one boundary crossing per
//! batch rather than per row, and errors leave as JS `Error` objects with a stable `code`.

pub mod convert;
pub mod error;
mod shape_log;

pub use shape_log::ShapeLog;
