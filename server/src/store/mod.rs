//! The embedded store: SQLite (rusqlite, bundled) holding the user tables, a global change log
//! and the shapes' snapshots.
//!
//! - User tables are created from the schema file with every column `TEXT` holding the
//!   canonical Postgres text of its value ([`crate::types::to_text`]), so PK, UNIQUE and FK
//!   checks compare canonical text. Foreign keys are `DEFERRABLE INITIALLY DEFERRED`: a
//!   transaction may insert a child before its parent, and is checked at commit.
//! - `_eddy_log(lsn, op, txid, tbl, kind, old, new)`: one row per write operation, full old and
//!   new rows as JSON. Every `POST /v1/tx` is one SQLite transaction with one LSN (monotonic
//!   u64, persisted in `_eddy_meta`, starting just above 2^53 so clients must keep LSNs exact);
//!   ops are numbered from 0 inside it (a PK-changing update takes two positions).
//! - `_eddy_shapes` / `_eddy_snapshot`: each handle's definition, snapshot LSN and the encoded
//!   snapshot chunks, so a restarted server serves exactly the same snapshot for a handle.
//!
//! All access goes through one mutex-guarded connection; callers on the async side use
//! `spawn_blocking`. Holding the mutex makes "read the snapshot + note the head LSN" atomic
//! with respect to writes.

mod read;
mod write;

use std::sync::{Arc, Mutex, MutexGuard};

use eddy::protocol::Row;
use rusqlite::{params, Connection, OptionalExtension};

pub use read::{msg_offset, LogRead, SnapshotInfo, StoredShape};
pub use write::{parse_tx, Commit, TxError, TxOp, TxOpKind};

use crate::ident::quote_ident;
use crate::schema::{Catalog, Table};

/// The first LSN a fresh store assigns (just above 2^53).
pub const FIRST_LSN: u64 = 9_007_199_254_741_000;
/// The first transaction id.
pub const FIRST_TXID: u64 = 1000;

/// Store failures that are not the client's fault.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("storage error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The data file belongs to another schema.
    #[error("the data file was created with a different schema file (fingerprint {found}, expected {expected}); use a new data file")]
    SchemaMismatch {
        /// Fingerprint in the data file.
        found: String,
        /// Fingerprint of the schema file.
        expected: String,
    },
    /// A stored value could not be decoded.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

impl eddy::ErrorCode for StoreError {
    fn code(&self) -> &'static str {
        match self {
            StoreError::Sqlite(_) => "EDDY_SERVER_STORE_SQLITE",
            StoreError::SchemaMismatch { .. } => "EDDY_SERVER_STORE_SCHEMA_MISMATCH",
            StoreError::Corrupt(_) => "EDDY_SERVER_STORE_CORRUPT",
        }
    }
    fn family(&self) -> &'static str {
        "ServerError"
    }
}

/// What a log row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// Row inserted.
    Insert,
    /// Row updated (possibly its key).
    Update,
    /// Row deleted.
    Delete,
    /// Table truncated: every shape on it must be refetched.
    Truncate,
}

impl EntryKind {
    fn as_str(self) -> &'static str {
        match self {
            EntryKind::Insert => "insert",
            EntryKind::Update => "update",
            EntryKind::Delete => "delete",
            EntryKind::Truncate => "truncate",
        }
    }
    fn parse(s: &str) -> Option<EntryKind> {
        Some(match s {
            "insert" => EntryKind::Insert,
            "update" => EntryKind::Update,
            "delete" => EntryKind::Delete,
            "truncate" => EntryKind::Truncate,
            _ => return None,
        })
    }
}

/// One logged operation.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// Commit LSN of its transaction.
    pub lsn: u64,
    /// First position inside the transaction.
    pub op: u64,
    /// Transaction id.
    pub txid: u64,
    /// Table name.
    pub table: String,
    /// Operation.
    pub kind: EntryKind,
    /// Full row before (update, delete).
    pub old: Option<Row>,
    /// Full row after (insert, update).
    pub new: Option<Row>,
}

/// The SQLite store.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
    catalog: Arc<Catalog>,
}

fn create_table_sql(t: &Table) -> String {
    let mut parts: Vec<String> = t
        .columns
        .iter()
        .map(|c| {
            format!(
                "{} TEXT{}",
                quote_ident(&c.name),
                if c.not_null { " NOT NULL" } else { "" }
            )
        })
        .collect();
    let names = |idx: &[usize]| {
        idx.iter()
            .filter_map(|&i| t.columns.get(i))
            .map(|c| quote_ident(&c.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !t.pk.is_empty() {
        parts.push(format!("PRIMARY KEY ({})", names(&t.pk)));
    }
    for u in &t.uniques {
        parts.push(format!("UNIQUE ({})", names(u)));
    }
    for fk in &t.fks {
        let refs = fk
            .ref_columns
            .iter()
            .map(|c| quote_ident(c))
            .collect::<Vec<_>>()
            .join(", ");
        parts.push(format!(
            "FOREIGN KEY ({}) REFERENCES {} ({}) DEFERRABLE INITIALLY DEFERRED",
            names(&fk.columns),
            quote_ident(&fk.ref_table),
            refs
        ));
    }
    format!(
        "CREATE TABLE IF NOT EXISTS {} ({})",
        quote_ident(&t.name),
        parts.join(", ")
    )
}

const INTERNAL_DDL: &str = "
CREATE TABLE IF NOT EXISTS _eddy_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS _eddy_log (
    lsn INTEGER NOT NULL, op INTEGER NOT NULL, txid INTEGER NOT NULL, tbl TEXT NOT NULL,
    kind TEXT NOT NULL, old TEXT, new TEXT, PRIMARY KEY (lsn, op));
CREATE INDEX IF NOT EXISTS _eddy_log_tbl ON _eddy_log (tbl, lsn, op);
CREATE TABLE IF NOT EXISTS _eddy_shapes (
    handle TEXT PRIMARY KEY, def TEXT NOT NULL, tbl TEXT NOT NULL, snapshot_lsn INTEGER NOT NULL,
    chunks INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS _eddy_snapshot (
    handle TEXT NOT NULL, chunk INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (handle, chunk));
";

impl Store {
    /// Open (or create) the data file (`:memory:` for a throw-away store) for `catalog`.
    pub fn open(path: &str, catalog: Arc<Catalog>) -> Result<Store, StoreError> {
        let conn = if path == ":memory:" {
            Connection::open_in_memory()?
        } else {
            Connection::open(path)?
        };
        conn.execute_batch(
            "PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
        )?;
        conn.execute_batch(INTERNAL_DDL)?;
        let expected = catalog.fingerprint();
        let found: Option<String> = conn
            .query_row("SELECT value FROM _eddy_meta WHERE key = 'schema'", [], |r| {
                r.get(0)
            })
            .optional()?;
        match found {
            Some(f) if f != expected => return Err(StoreError::SchemaMismatch { found: f, expected }),
            Some(_) => {}
            None => {
                conn.execute(
                    "INSERT INTO _eddy_meta (key, value) VALUES ('schema', ?1)",
                    params![expected],
                )?;
                conn.execute(
                    "INSERT INTO _eddy_meta (key, value) VALUES ('next_lsn', ?1)",
                    params![FIRST_LSN.to_string()],
                )?;
                conn.execute(
                    "INSERT INTO _eddy_meta (key, value) VALUES ('next_txid', ?1)",
                    params![FIRST_TXID.to_string()],
                )?;
            }
        }
        for t in &catalog.tables {
            conn.execute_batch(&create_table_sql(t))?;
        }
        Ok(Store {
            conn: Mutex::new(conn),
            catalog,
        })
    }

    /// The catalog the store was opened with.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (transactions roll
        // back on drop), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The LSN of the last committed transaction (`FIRST_LSN - 1` before any).
    pub fn head(&self) -> Result<u64, StoreError> {
        head_lsn(&self.lock())
    }
}

fn meta_u64(conn: &Connection, key: &str) -> Result<u64, StoreError> {
    let v: String = conn.query_row("SELECT value FROM _eddy_meta WHERE key = ?1", params![key], |r| {
        r.get(0)
    })?;
    v.parse()
        .map_err(|_| StoreError::Corrupt(format!("meta {key} = {v:?}")))
}

fn head_lsn(conn: &Connection) -> Result<u64, StoreError> {
    Ok(meta_u64(conn, "next_lsn")?.saturating_sub(1))
}

/// Read a full row of `t` from a statement row whose columns are `t`'s in order.
fn row_from_sql(t: &Table, r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    let mut pairs: Vec<(String, Option<String>)> = Vec::with_capacity(t.columns.len());
    for (i, c) in t.columns.iter().enumerate() {
        pairs.push((c.name.clone(), r.get::<_, Option<String>>(i)?));
    }
    Ok(Row::from_pairs(
        pairs.iter().map(|(c, v)| (c.as_str(), v.as_deref())),
    ))
}

fn select_cols(t: &Table) -> String {
    t.columns
        .iter()
        .map(|c| quote_ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
