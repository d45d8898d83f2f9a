//! # eddy — a client for the ElectricSQL shape protocol, in Rust, for the browser
//!
//! The crate is a **pure, sans-IO core** plus a thin browser layer:
//!
//! - [`protocol`] — the wire: offsets, messages, the `electric-schema` header and typed values,
//!   request URLs and response classification. Bytes in, typed values out.
//! - [`log`] — materializes a shape log into one row per key and compacts message sequences.
//! - [`stream`] — the ShapeStream state machine: inputs (classified responses, timer firings,
//!   visibility, abort) in, effects (issue a request, sleep, deliver a batch) out.
//! - [`persist`] — checkpoints of the materialized rows into a small atomic byte store.
//! - `store` — the reactive graph (a later issue).
//! - `web` — only on `wasm32`: fetch/SSE/WebSocket, storage backends and the `#[wasm_bindgen]`
//!   surface. The core never reaches browser APIs: web-sys and js-sys are in the wasm32-only
//!   dependency table, so native `cargo test` cannot compile a core module that uses them.
//!
//! Nothing in the core owns a socket, a timer or a clock: time arrives as a value (`now_ms`),
//! randomness through an injected source, and all I/O happens in the caller. That keeps every
//! protocol rule testable natively and deterministically.
//!
//! Every error is a `thiserror` enum per area with a stable [`ErrorCode::code`] string; the web
//! layer turns each into a JS `Error` subclass carrying the same `code`.

#![deny(missing_docs, missing_debug_implementations)]

pub mod error;
pub mod fxhash;
pub mod log;
pub mod persist;
pub mod protocol;
pub mod stream;

#[cfg(target_arch = "wasm32")]
pub mod web;

pub use error::ErrorCode;
