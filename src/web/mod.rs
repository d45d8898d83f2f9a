//! The browser layer (wasm32 only): the `#[wasm_bindgen]` surface over the pure core.
//!
//! [`ShapeStreamDriver`] runs a shape stream in the page (fetch long-poll and SSE, or the
//! page-wide shared WebSocket of [`ws`]); [`persist`] keeps its committed rows in IndexedDB,
//! OPFS or a JS object. Rules for everything here: no protocol logic (it lives in the core),
//! one boundary crossing per batch rather than per row, and errors leave as JS `Error` objects
//! with a stable `code`.

pub mod bulk;
pub mod convert;
pub mod driver;
pub mod error;
pub mod persist;
mod shape_log;
pub mod ws;

pub use driver::{MessageBatch, ShapeStreamDriver};
pub use shape_log::ShapeLog;
