//! The write API's transactions: parse `{"ops":[...]}` and apply it as ONE SQLite transaction
//! that also appends every operation to the change log. Nothing is applied on any error.

use eddy::protocol::Row;
use rusqlite::{params, params_from_iter, Connection, ErrorCode as SqliteCode, OptionalExtension};
use serde_json::{Map, Value as Json};

use super::{head_lsn, meta_u64, row_from_sql, select_cols, EntryKind, LogEntry, Store, StoreError};
use crate::ident::quote_ident;
use crate::schema::{Catalog, Table};
use crate::types::{to_text, to_text_raw};

/// Column name → the JSON text of its value exactly as the request body wrote it.
pub type RawTexts = std::collections::HashMap<String, String>;

/// The request body again, keeping each row value's JSON text (for json, jsonb, numeric).
#[derive(serde::Deserialize)]
struct RawBody<'a> {
    #[serde(borrow)]
    ops: Vec<RawOp<'a>>,
}

#[derive(serde::Deserialize)]
struct RawOp<'a> {
    #[serde(borrow, default)]
    row: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow, default)]
    old_key: Option<&'a serde_json::value::RawValue>,
}

/// The raw text of each member of a JSON object (empty when it is not an object).
fn raw_members(raw: Option<&serde_json::value::RawValue>) -> RawTexts {
    raw.and_then(|r| {
        serde_json::from_str::<std::collections::HashMap<String, &serde_json::value::RawValue>>(r.get()).ok()
    })
    .map(|m| m.into_iter().map(|(k, v)| (k, v.get().to_string())).collect())
    .unwrap_or_default()
}

/// Why a transaction was refused (all are 400 except `Internal`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// The body is not `{"ops":[...]}` of well-formed ops.
    #[error("{field}: {message}")]
    Malformed {
        /// JSON path at fault.
        field: String,
        /// Reason.
        message: String,
    },
    /// No such table.
    #[error("{field}: unknown table {table:?}")]
    UnknownTable {
        /// JSON path.
        field: String,
        /// The name given.
        table: String,
    },
    /// No such column.
    #[error("{field}: unknown column {column:?} in table {table}")]
    UnknownColumn {
        /// JSON path.
        field: String,
        /// Table.
        table: String,
        /// The name given.
        column: String,
    },
    /// A value does not fit its column type.
    #[error("{field}: {message}")]
    TypeMismatch {
        /// JSON path.
        field: String,
        /// Reason.
        message: String,
    },
    /// A primary-key column is missing or null (for a table without a primary key: any
    /// column missing, as all of them identify the row).
    #[error("{field}: key column {column:?} is missing (or null in a primary key)")]
    MissingPk {
        /// JSON path.
        field: String,
        /// The missing column.
        column: String,
    },
    /// Update/delete of a row that does not exist.
    #[error("{field}: no row with this primary key in {table}")]
    MissingRow {
        /// JSON path.
        field: String,
        /// Table.
        table: String,
    },
    /// NOT NULL, PK/UNIQUE duplicate or FK violation.
    #[error("{field}: {message}")]
    Constraint {
        /// JSON path (`ops` when only the commit could tell).
        field: String,
        /// Reason.
        message: String,
    },
    /// Storage failure.
    #[error("internal error: {0}")]
    Internal(String),
}

impl eddy::ErrorCode for TxError {
    fn code(&self) -> &'static str {
        match self {
            TxError::Malformed { .. } => "EDDY_SERVER_TX_MALFORMED",
            TxError::UnknownTable { .. } => "EDDY_SERVER_TX_UNKNOWN_TABLE",
            TxError::UnknownColumn { .. } => "EDDY_SERVER_TX_UNKNOWN_COLUMN",
            TxError::TypeMismatch { .. } => "EDDY_SERVER_TX_TYPE_MISMATCH",
            TxError::MissingPk { .. } => "EDDY_SERVER_TX_MISSING_PK",
            TxError::MissingRow { .. } => "EDDY_SERVER_TX_MISSING_ROW",
            TxError::Constraint { .. } => "EDDY_SERVER_TX_CONSTRAINT",
            TxError::Internal(_) => "EDDY_SERVER_TX_INTERNAL",
        }
    }
    fn family(&self) -> &'static str {
        "ServerError"
    }
}

impl TxError {
    /// The JSON path the error is about.
    pub fn field(&self) -> &str {
        match self {
            TxError::Malformed { field, .. }
            | TxError::UnknownTable { field, .. }
            | TxError::UnknownColumn { field, .. }
            | TxError::TypeMismatch { field, .. }
            | TxError::MissingPk { field, .. }
            | TxError::MissingRow { field, .. }
            | TxError::Constraint { field, .. } => field,
            TxError::Internal(_) => "ops",
        }
    }
}

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> Self {
        TxError::Internal(e.to_string())
    }
}

/// Operation kind in a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxOpKind {
    /// Insert a row.
    Insert,
    /// Update the row with the row's PK (or `old_key`'s).
    Update,
    /// Delete the row with the row's PK.
    Delete,
    /// Delete every row of the table (shapes on it must refetch).
    Truncate,
}

/// One parsed operation.
#[derive(Debug, Clone, PartialEq)]
pub struct TxOp {
    /// What to do.
    pub kind: TxOpKind,
    /// Table name (exact).
    pub table: String,
    /// Column values (JSON, converted against the column types when applied).
    pub row: Map<String, Json>,
    /// For an update that changes the primary key: the old key's columns.
    pub old_key: Option<Map<String, Json>>,
    /// The JSON text of each `row` value as written.
    pub row_raw: RawTexts,
    /// The JSON text of each `old_key` value as written.
    pub old_key_raw: RawTexts,
}

/// The outcome of a committed transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    /// Its LSN.
    pub lsn: u64,
    /// Its transaction id.
    pub txid: u64,
    /// Tables it truncated.
    pub truncated: Vec<String>,
    /// Tables it touched.
    pub tables: Vec<String>,
}

fn malformed(field: impl Into<String>, message: impl Into<String>) -> TxError {
    TxError::Malformed {
        field: field.into(),
        message: message.into(),
    }
}

/// Parse a write body.
pub fn parse_tx(body: &[u8], max_ops: usize) -> Result<Vec<TxOp>, TxError> {
    let v: Json =
        serde_json::from_slice(body).map_err(|e| malformed("body", format!("invalid JSON: {e}")))?;
    let ops = v
        .get("ops")
        .and_then(Json::as_array)
        .ok_or_else(|| malformed("ops", "expected {\"ops\": [...]}"))?;
    if ops.is_empty() {
        return Err(malformed("ops", "must contain at least one operation"));
    }
    if ops.len() > max_ops {
        return Err(malformed(
            "ops",
            format!("at most {max_ops} operations per transaction"),
        ));
    }
    let raw_ops = std::str::from_utf8(body)
        .ok()
        .and_then(|b| serde_json::from_str::<RawBody<'_>>(b).ok())
        .map(|b| b.ops)
        .unwrap_or_default();
    ops.iter()
        .enumerate()
        .map(|(i, op)| {
            let at = |f: &str| format!("ops[{i}].{f}");
            let kind = match op.get("op").and_then(Json::as_str) {
                Some("insert") => TxOpKind::Insert,
                Some("update") => TxOpKind::Update,
                Some("delete") => TxOpKind::Delete,
                Some("truncate") => TxOpKind::Truncate,
                _ => return Err(malformed(at("op"), "must be insert, update, delete or truncate")),
            };
            let table = op
                .get("table")
                .and_then(Json::as_str)
                .ok_or_else(|| malformed(at("table"), "must be a string"))?
                .to_string();
            let row = match (kind, op.get("row")) {
                (TxOpKind::Truncate, None) => Map::new(),
                (_, Some(Json::Object(m))) => m.clone(),
                _ => return Err(malformed(at("row"), "must be an object")),
            };
            let old_key = match op.get("old_key") {
                None | Some(Json::Null) => None,
                Some(Json::Object(m)) if kind == TxOpKind::Update => Some(m.clone()),
                Some(_) => return Err(malformed(at("old_key"), "must be an object, and only on updates")),
            };
            let raw = raw_ops.get(i);
            Ok(TxOp {
                kind,
                table,
                row,
                old_key,
                row_raw: raw_members(raw.and_then(|r| r.row)),
                old_key_raw: raw_members(raw.and_then(|r| r.old_key)),
            })
        })
        .collect()
}

/// Convert given JSON values to canonical text, checking names and types.
fn convert(
    t: &Table,
    values: &Map<String, Json>,
    raw: &RawTexts,
    at: &str,
) -> Result<Vec<(usize, Option<String>)>, TxError> {
    let mut out = Vec::with_capacity(values.len());
    for (name, v) in values {
        let i = t.column_index(name).ok_or_else(|| TxError::UnknownColumn {
            field: format!("{at}.{name}"),
            table: t.name.clone(),
            column: name.clone(),
        })?;
        let c = t
            .columns
            .get(i)
            .ok_or_else(|| TxError::Internal("column index".into()))?;
        let text =
            to_text_raw(&c.ty, v, raw.get(name).map(String::as_str)).map_err(|e| TxError::TypeMismatch {
                field: format!("{at}.{name}"),
                message: e.to_string(),
            })?;
        if !c.labels.is_empty() && !labels_ok(v, &c.labels) {
            return Err(TxError::TypeMismatch {
                field: format!("{at}.{name}"),
                message: format!(
                    "invalid input value for enum {}: expected one of {:?}",
                    c.udt.as_deref().unwrap_or("enum"),
                    c.labels
                ),
            });
        }
        out.push((i, text));
    }
    Ok(out)
}

/// What every op of one transaction shares.
struct TxCtx {
    lsn: u64,
    txid: u64,
    /// The transaction's time (`DEFAULT now()`).
    now: String,
}

/// Add the `DEFAULT` of every column an insert omitted (`now` is the transaction's time).
fn apply_defaults(t: &Table, vals: &mut Vec<(usize, Option<String>)>, now: &str) -> Result<(), TxError> {
    use crate::schema::DefaultValue;
    for (i, c) in t.columns.iter().enumerate() {
        let Some(d) = &c.default else { continue };
        if vals.iter().any(|(j, _)| *j == i) {
            continue;
        }
        let v = match d {
            DefaultValue::Literal(v) => v.clone(),
            DefaultValue::Now => Json::String(now.to_string()),
            DefaultValue::CurrentDate => Json::String(now.get(..10).unwrap_or(now).to_string()),
        };
        let text =
            to_text(&c.ty, &v).map_err(|e| TxError::Internal(format!("default of {}: {e}", c.name)))?;
        vals.push((i, text));
    }
    Ok(())
}

/// Every string in `v` (a label or a nested array of them) is one of `labels`.
fn labels_ok(v: &Json, labels: &[String]) -> bool {
    match v {
        Json::String(s) => labels.iter().any(|l| l == s),
        Json::Array(items) => items.iter().all(|i| labels_ok(i, labels)),
        Json::Null => true,
        _ => false,
    }
}

/// The columns that identify a row: the primary key, or every column of a table without one.
fn identity(t: &Table) -> Vec<usize> {
    if t.pk.is_empty() {
        (0..t.columns.len()).collect()
    } else {
        t.pk.clone()
    }
}

/// Identity values (canonical text) from converted values. Primary-key values must be
/// non-null; a table without a primary key is identified by all its columns (nulls allowed).
fn pk_of(t: &Table, vals: &[(usize, Option<String>)], at: &str) -> Result<Vec<Option<String>>, TxError> {
    identity(t)
        .iter()
        .map(|&p| {
            let name = t.columns.get(p).map(|c| c.name.clone()).unwrap_or_default();
            match vals.iter().find(|(i, _)| *i == p) {
                Some((_, Some(v))) => Ok(Some(v.clone())),
                Some((_, None)) if t.pk.is_empty() => Ok(None),
                _ => Err(TxError::MissingPk {
                    field: format!("{at}.{name}"),
                    column: name,
                }),
            }
        })
        .collect()
}

/// `rowid = (the first row whose identity columns are ?first, ?first+1, ...)`.
fn ident_cond(t: &Table, first: usize) -> String {
    let conds = identity(t)
        .iter()
        .enumerate()
        .filter_map(|(n, &i)| {
            t.columns
                .get(i)
                .map(|c| format!("{} IS ?{}", quote_ident(&c.name), first + n))
        })
        .collect::<Vec<_>>()
        .join(" AND ");
    format!(
        "rowid = (SELECT rowid FROM {} WHERE {conds} LIMIT 1)",
        quote_ident(&t.name)
    )
}

fn fetch(conn: &Connection, t: &Table, pk: &[Option<String>]) -> Result<Option<Row>, TxError> {
    let sql = format!(
        "SELECT {} FROM {} WHERE {}",
        select_cols(t),
        quote_ident(&t.name),
        ident_cond(t, 1)
    );
    conn.query_row(&sql, params_from_iter(pk.iter()), |r| row_from_sql(t, r))
        .optional()
        .map_err(|e| TxError::Internal(e.to_string()))
}

fn not_null_check(t: &Table, row: &Row, at: &str) -> Result<(), TxError> {
    for c in &t.columns {
        if c.not_null && row.get(&c.name).flatten().is_none() {
            return Err(TxError::Constraint {
                field: format!("{at}.{}", c.name),
                message: format!(
                    "null value in column {:?} of relation {:?} violates not-null constraint",
                    c.name, t.name
                ),
            });
        }
    }
    Ok(())
}

fn sql_err(e: rusqlite::Error, field: &str) -> TxError {
    match e.sqlite_error_code() {
        Some(SqliteCode::ConstraintViolation) => TxError::Constraint {
            field: field.to_string(),
            message: format!("constraint violation: {e}"),
        },
        _ => TxError::Internal(e.to_string()),
    }
}

fn write_row(
    conn: &Connection,
    t: &Table,
    row: &Row,
    replace: Option<&[Option<String>]>,
    at: &str,
) -> Result<(), TxError> {
    let mut all: Vec<Option<String>> = t
        .columns
        .iter()
        .map(|c| row.get(&c.name).flatten().map(String::from))
        .collect();
    let n = all.len();
    let cols = select_cols(t);
    let sql = match replace {
        None => {
            let ph = (1..=n).map(|k| format!("?{k}")).collect::<Vec<_>>().join(", ");
            format!("INSERT INTO {} ({cols}) VALUES ({ph})", quote_ident(&t.name))
        }
        Some(key) => {
            let sets = t
                .columns
                .iter()
                .enumerate()
                .map(|(k, c)| format!("{} = ?{}", quote_ident(&c.name), k + 1))
                .collect::<Vec<_>>()
                .join(", ");
            all.extend(key.iter().cloned());
            format!(
                "UPDATE {} SET {sets} WHERE {}",
                quote_ident(&t.name),
                ident_cond(t, n + 1)
            )
        }
    };
    conn.execute(&sql, params_from_iter(all.iter()))
        .map_err(|e| sql_err(e, at))?;
    Ok(())
}

fn log(conn: &Connection, e: &LogEntry) -> Result<(), TxError> {
    let json = |r: &Option<Row>| r.as_ref().map(|r| serde_json::to_string(r).unwrap_or_default());
    conn.execute(
        "INSERT INTO _eddy_log (lsn, op, txid, tbl, kind, old, new) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            e.lsn as i64,
            e.op as i64,
            e.txid as i64,
            e.table,
            e.kind.as_str(),
            json(&e.old),
            json(&e.new)
        ],
    )
    .map_err(|e| TxError::Internal(e.to_string()))?;
    Ok(())
}

fn apply_op(
    conn: &Connection,
    catalog: &Catalog,
    op: &TxOp,
    i: usize,
    ctx: &TxCtx,
    pos: &mut u64,
) -> Result<(), TxError> {
    let (lsn, txid, now) = (ctx.lsn, ctx.txid, ctx.now.as_str());
    let t = catalog.table(&op.table).ok_or_else(|| TxError::UnknownTable {
        field: format!("ops[{i}].table"),
        table: op.table.clone(),
    })?;
    let at = format!("ops[{i}].row");
    let mut entry = LogEntry {
        lsn,
        op: *pos,
        txid,
        table: t.name.clone(),
        kind: EntryKind::Insert,
        old: None,
        new: None,
    };
    let mut width = 1;
    match op.kind {
        TxOpKind::Insert => {
            let mut vals = convert(t, &op.row, &op.row_raw, &at)?;
            apply_defaults(t, &mut vals, now)?;
            if !t.pk.is_empty() {
                pk_of(t, &vals, &at)?;
            }
            let row = full_row(t, &Row::new(), &vals);
            not_null_check(t, &row, &at)?;
            write_row(conn, t, &row, None, &at)?;
            entry.new = Some(row);
        }
        TxOpKind::Update => {
            let vals = convert(t, &op.row, &op.row_raw, &at)?;
            let key_vals = match &op.old_key {
                Some(k) => convert(t, k, &op.old_key_raw, &format!("ops[{i}].old_key"))?,
                None => vals.clone(),
            };
            let key_at = if op.old_key.is_some() {
                format!("ops[{i}].old_key")
            } else {
                at.clone()
            };
            let pk = pk_of(t, &key_vals, &key_at)?;
            let old = fetch(conn, t, &pk)?.ok_or_else(|| TxError::MissingRow {
                field: key_at,
                table: t.name.clone(),
            })?;
            let new = full_row(t, &old, &vals);
            not_null_check(t, &new, &at)?;
            write_row(conn, t, &new, Some(&pk), &at)?;
            let key_changed = identity(t)
                .iter()
                .filter_map(|&p| t.columns.get(p))
                .any(|c| old.get(&c.name) != new.get(&c.name));
            if key_changed {
                width = 2;
            }
            entry.kind = EntryKind::Update;
            entry.old = Some(old);
            entry.new = Some(new);
        }
        TxOpKind::Delete => {
            let vals = convert(t, &op.row, &op.row_raw, &at)?;
            let pk = pk_of(t, &vals, &at)?;
            let old = fetch(conn, t, &pk)?.ok_or_else(|| TxError::MissingRow {
                field: at.clone(),
                table: t.name.clone(),
            })?;
            let sql = format!("DELETE FROM {} WHERE {}", quote_ident(&t.name), ident_cond(t, 1));
            conn.execute(&sql, params_from_iter(pk.iter()))
                .map_err(|e| sql_err(e, &at))?;
            entry.kind = EntryKind::Delete;
            entry.old = Some(old);
        }
        TxOpKind::Truncate => {
            conn.execute(&format!("DELETE FROM {}", quote_ident(&t.name)), [])
                .map_err(|e| sql_err(e, &format!("ops[{i}]")))?;
            entry.kind = EntryKind::Truncate;
        }
    }
    log(conn, &entry)?;
    *pos += width;
    Ok(())
}

/// `base` overlaid with converted values, every column present (absent = NULL).
fn full_row(t: &Table, base: &Row, vals: &[(usize, Option<String>)]) -> Row {
    let mut pairs: Vec<(String, Option<String>)> = t
        .columns
        .iter()
        .map(|c| (c.name.clone(), base.get(&c.name).flatten().map(String::from)))
        .collect();
    for (i, v) in vals {
        if let Some(slot) = pairs.get_mut(*i) {
            slot.1 = v.clone();
        }
    }
    Row::from_pairs(pairs.iter().map(|(c, v)| (c.as_str(), v.as_deref())))
}

impl Store {
    /// Apply `ops` as one transaction; on success every op is in the change log at the
    /// returned LSN.
    pub fn apply(&self, ops: &[TxOp]) -> Result<Commit, TxError> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(|e| TxError::Internal(e.to_string()))?;
        let lsn = head_lsn(&tx)? + 1;
        let txid = meta_u64(&tx, "next_txid")?;
        let mut pos = 0u64;
        let ctx = TxCtx {
            lsn,
            txid,
            now: crate::time::now_iso(),
        };
        let mut tables: Vec<String> = Vec::new();
        let mut truncated = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            apply_op(&tx, &self.catalog, op, i, &ctx, &mut pos)?;
            if !tables.contains(&op.table) {
                tables.push(op.table.clone());
            }
            if op.kind == TxOpKind::Truncate && !truncated.contains(&op.table) {
                truncated.push(op.table.clone());
            }
        }
        let set = "UPDATE _eddy_meta SET value = ?2 WHERE key = ?1";
        tx.execute(set, params!["next_lsn", (lsn + 1).to_string()])
            .map_err(|e| TxError::Internal(e.to_string()))?;
        tx.execute(set, params!["next_txid", (txid + 1).to_string()])
            .map_err(|e| TxError::Internal(e.to_string()))?;
        tx.commit().map_err(|e| match e.sqlite_error_code() {
            Some(SqliteCode::ConstraintViolation) => TxError::Constraint {
                field: "ops".into(),
                message:
                    "foreign key violation: a referenced row does not exist, or a referencing row remains"
                        .into(),
            },
            _ => TxError::Internal(e.to_string()),
        })?;
        Ok(Commit {
            lsn,
            txid,
            truncated,
            tables,
        })
    }
}
