//! # eddy-server — an Electric-compatible shape sync server with an embedded SQLite store
//!
//! Speaks the Electric HTTP shape protocol (`GET /v1/shape`, see
//! `shared/reference/electric-shape-protocol.md`, §0 corrections first) so that the official
//! client and eddy's own SDK can sync from it in tests and demos. Data lives in SQLite; writes
//! arrive through `POST /v1/tx`; every committed write reaches every matching live shape once.
//!
//! Module map (one concept per file):
//! - [`config`] — the command line.
//! - [`schema`] — the SQL schema file → tables, columns (Postgres type names), PKs, FKs.
//! - [`types`], [`time`] — canonical Postgres text for values.
//! - [`store`] — SQLite: user tables, the change log, persisted snapshots; the write API.
//! - [`where_`] — `where` → allow-listed AST → predicate evaluated in Rust.
//! - [`shape`] — definitions, keys, messages, enter/stay/leave; [`subset`] — subset snapshots.
//! - [`state`] — handles registry, change signal, limits.
//! - [`engine`] — the offset state machine shared by long-poll and WebSocket; [`logcache`] —
//!   one log read per commit for all requests waiting on the same shape and offset.
//! - [`request`], [`http`], [`sse`], [`ws`], [`encode`] — the HTTP and WebSocket surface.
//! - [`faults`] — optional fault injection; [`www`] — optional static files.

#![deny(missing_docs, missing_debug_implementations)]

pub mod config;
pub mod encode;
pub mod engine;
pub mod faults;
#[cfg(test)]
mod fuzz;
pub mod hash;
pub mod http;
pub mod ident;
pub mod logcache;
pub mod request;
pub mod schema;
pub mod shape;
pub mod sse;
pub mod state;
pub mod store;
pub mod subset;
pub mod time;
pub mod types;
pub mod where_;
pub mod ws;
pub mod www;

use std::io::Write as _;
use std::sync::Arc;

pub use config::Config;

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Reading the schema file or binding the socket failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The schema file is invalid.
    #[error(transparent)]
    Schema(#[from] schema::SchemaError),
    /// The data file could not be opened.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The `--seed` transaction was refused.
    #[error("seed file: {0}")]
    Seed(store::TxError),
}

impl eddy::ErrorCode for ServerError {
    fn code(&self) -> &'static str {
        match self {
            ServerError::Io { .. } => "EDDY_SERVER_IO",
            ServerError::Schema(e) => e.code(),
            ServerError::Store(e) => e.code(),
            ServerError::Seed(e) => e.code(),
        }
    }
    fn family(&self) -> &'static str {
        "ServerError"
    }
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServerError {
    let context = context.into();
    move |source| ServerError::Io { context, source }
}

/// Load the schema and data file, bind, print `eddy-server listening on http://<addr>` and
/// serve until Ctrl-C or SIGTERM.
pub async fn run(config: Config) -> Result<(), ServerError> {
    let sql = std::fs::read_to_string(&config.schema)
        .map_err(io(format!("reading {}", config.schema.display())))?;
    let catalog = Arc::new(schema::parse_schema(&sql)?);
    let store = store::Store::open(&config.data, catalog)?;
    if let Some(seed) = &config.seed {
        if store.head()? == store::FIRST_LSN - 1 {
            let body = std::fs::read(seed).map_err(io(format!("reading {}", seed.display())))?;
            let ops = store::parse_tx(&body, usize::MAX).map_err(ServerError::Seed)?;
            store.apply(&ops).map_err(ServerError::Seed)?;
        }
    }
    let state = Arc::new(state::AppState::new(config.clone(), store)?);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(io(format!("binding {}", config.listen)))?;
    let addr = listener.local_addr().map_err(io("reading the bound address"))?;
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "eddy-server listening on http://{addr}");
        let _ = out.flush();
    }
    // Live requests and SSE streams may be held for a minute, so a signal stops the server at
    // once instead of draining them; SQLite commits are atomic, so nothing is lost.
    tokio::select! {
        r = axum::serve(listener, http::router(state)) => r.map_err(io("serving")),
        _ = shutdown_signal() => Ok(()),
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
