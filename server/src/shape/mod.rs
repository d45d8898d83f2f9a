//! Shape definitions (ref §1: table, where, params, columns, replica, log), handles, row keys,
//! and turning stored changes into the shape's log messages.
//!
//! A change enters, stays in or leaves a shape according to its `where` predicate evaluated on
//! the old and the new row: old∈/new∉ → `delete`, old∉/new∈ → `insert` of the full (projected)
//! row, both ∈ → `update` (PK + changed columns with `replica=default`; full row + `old_value`
//! with `replica=full`). An update that changes the primary key becomes a `delete` carrying
//! `key_change_to` at the op's offset and an `insert` carrying `key_change_from` at the next one
//! (the store reserves two positions for such updates).

use std::collections::BTreeMap;
use std::sync::Arc;

use eddy::protocol::{ChangeHeaders, ChangeMessage, Key, Operation, Row};
use serde_json::json;

use crate::ident::{parse_ident_list, quote_ident};
use crate::schema::{Catalog, Table};
use crate::store::{EntryKind, LogEntry};
use crate::where_::{Predicate, WhereError};

/// `replica` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Replica {
    /// Updates carry PK + changed columns; deletes carry the PK.
    Default,
    /// Full rows plus `old_value` on updates.
    Full,
}

/// `log` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogMode {
    /// Snapshot + changes.
    Full,
    /// Changes only (the snapshot is empty).
    ChangesOnly,
}

/// A request-level problem with the definition: the field and the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct DefError {
    /// Query parameter at fault.
    pub field: &'static str,
    /// Reason.
    pub message: String,
}

impl eddy::ErrorCode for DefError {
    fn code(&self) -> &'static str {
        "EDDY_SERVER_INVALID_SHAPE"
    }
    fn family(&self) -> &'static str {
        "ServerError"
    }
}

impl From<WhereError> for DefError {
    fn from(e: WhereError) -> Self {
        DefError {
            field: e.field,
            message: e.message,
        }
    }
}

fn def_err(field: &'static str, message: impl Into<String>) -> DefError {
    DefError {
        field,
        message: message.into(),
    }
}

/// The identity of a shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShapeDef {
    /// Table name (schema `public`).
    pub table: String,
    /// `where` text as given (trimmed), if any.
    pub where_sql: Option<String>,
    /// `$n` parameters.
    pub params: BTreeMap<u32, String>,
    /// Selected columns in table order; `None` = all.
    pub columns: Option<Vec<String>>,
    /// Replica mode.
    pub replica: Replica,
    /// Log mode.
    pub log: LogMode,
}

impl ShapeDef {
    /// A canonical JSON text of the definition (persisted, hashed into handles).
    pub fn canonical(&self) -> String {
        json!({
            "table": self.table,
            "where": self.where_sql,
            "params": self.params.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<BTreeMap<_, _>>(),
            "columns": self.columns,
            "replica": matches!(self.replica, Replica::Full),
            "changes_only": matches!(self.log, LogMode::ChangesOnly),
        })
        .to_string()
    }

    /// Parse the canonical text back (for shapes persisted by an earlier run).
    pub fn from_canonical(s: &str) -> Option<ShapeDef> {
        let v: serde_json::Value = serde_json::from_str(s).ok()?;
        let mut params = BTreeMap::new();
        for (k, val) in v.get("params")?.as_object()? {
            params.insert(k.parse().ok()?, val.as_str()?.to_string());
        }
        let columns = match v.get("columns")? {
            serde_json::Value::Null => None,
            c => Some(
                c.as_array()?
                    .iter()
                    .map(|x| x.as_str().map(String::from))
                    .collect::<Option<Vec<_>>>()?,
            ),
        };
        Some(ShapeDef {
            table: v.get("table")?.as_str()?.to_string(),
            where_sql: v.get("where")?.as_str().map(String::from),
            params,
            columns,
            replica: if v.get("replica")?.as_bool()? {
                Replica::Full
            } else {
                Replica::Default
            },
            log: if v.get("changes_only")?.as_bool()? {
                LogMode::ChangesOnly
            } else {
                LogMode::Full
            },
        })
    }

    /// The hash part of handles for this definition (8 decimal digits).
    pub fn hash(&self) -> u64 {
        crate::hash::fnv64(self.canonical().as_bytes()) % 100_000_000
    }
}

/// Query parameters that make up a definition, as received.
#[derive(Debug, Clone, Default)]
pub struct DefParams<'a> {
    /// `table`.
    pub table: Option<&'a str>,
    /// `where`.
    pub where_sql: Option<&'a str>,
    /// `params[n]`.
    pub params: BTreeMap<u32, String>,
    /// `columns`.
    pub columns: Option<&'a str>,
    /// `replica`.
    pub replica: Option<&'a str>,
    /// `log`.
    pub log: Option<&'a str>,
}

/// A definition compiled against the catalog.
#[derive(Debug, Clone)]
pub struct Shape {
    /// The definition.
    pub def: ShapeDef,
    /// The table.
    pub table: Arc<Table>,
    /// Selected column indexes (table order).
    pub cols: Vec<usize>,
    /// The compiled `where`.
    pub pred: Option<Predicate>,
}

/// Limits applied while parsing a definition.
#[derive(Debug, Clone, Copy)]
pub struct DefLimits {
    /// Maximum `where` length in bytes.
    pub max_where_bytes: usize,
}

impl Shape {
    /// Validate request parameters into a compiled shape.
    pub fn from_params(p: &DefParams<'_>, catalog: &Catalog, limits: DefLimits) -> Result<Shape, DefError> {
        let table_param = p
            .table
            .filter(|t| !t.is_empty())
            .ok_or_else(|| def_err("table", "can't be blank"))?;
        let parts = parse_ident_list(table_param, '.').map_err(|m| def_err("table", m))?;
        let name = match parts.as_slice() {
            [t] => t.clone(),
            [s, t] if s == "public" => t.clone(),
            _ => return Err(def_err("table", format!("table {table_param:?} does not exist"))),
        };
        let table = catalog.table(&name).ok_or_else(|| {
            def_err(
                "table",
                format!("table \"public\".{} does not exist", quote_ident(&name)),
            )
        })?;
        let replica = match p.replica {
            None | Some("default") => Replica::Default,
            Some("full") => Replica::Full,
            Some(_) => return Err(def_err("replica", "must be one of default, full")),
        };
        let log = match p.log {
            None | Some("full") => LogMode::Full,
            Some("changes_only") => LogMode::ChangesOnly,
            Some(_) => return Err(def_err("log", "must be one of full, changes_only")),
        };
        let where_sql = p.where_sql.map(str::trim).filter(|w| !w.is_empty());
        if let Some(w) = where_sql {
            if w.len() > limits.max_where_bytes {
                return Err(def_err(
                    "where",
                    format!("is longer than {} bytes", limits.max_where_bytes),
                ));
            }
        }
        let cols: Vec<usize> = match p.columns {
            None => (0..table.columns.len()).collect(),
            Some(c) => {
                let names = parse_ident_list(c, ',').map_err(|m| def_err("columns", m))?;
                let mut idx = Vec::new();
                for n in &names {
                    let i = table
                        .column_index(n)
                        .ok_or_else(|| def_err("columns", format!("unknown column {}", quote_ident(n))))?;
                    if !idx.contains(&i) {
                        idx.push(i);
                    }
                }
                for pk in &table.pk {
                    if !idx.contains(pk) {
                        return Err(def_err("columns", "must include all primary key columns"));
                    }
                }
                idx.sort_unstable();
                idx
            }
        };
        let params_map = p.params.iter().map(|(k, v)| (*k, v.clone())).collect();
        let pred = where_sql
            .map(|w| Predicate::compile(w, table, &params_map))
            .transpose()?;
        let columns = p.columns.map(|_| {
            cols.iter()
                .filter_map(|&i| table.columns.get(i))
                .map(|c| c.name.clone())
                .collect()
        });
        Ok(Shape {
            def: ShapeDef {
                table: name.clone(),
                where_sql: where_sql.map(String::from),
                params: if where_sql.is_some() {
                    p.params.clone()
                } else {
                    BTreeMap::new()
                },
                columns,
                replica,
                log,
            },
            table: Arc::new(table.clone()),
            cols,
            pred,
        })
    }

    /// Does a full row belong to the shape?
    pub fn contains(&self, row: &Row) -> bool {
        self.pred.as_ref().is_none_or(|p| p.matches(row))
    }

    /// The `electric-schema` header.
    pub fn schema_header(&self) -> String {
        self.table.schema_header(&self.cols)
    }

    /// `["public", table]`.
    fn relation(&self) -> Option<[eddy::protocol::Column; 2]> {
        Some([Arc::from("public"), Arc::from(self.table.name.as_str())])
    }

    /// The row key: `"public"."table"/"pk1"/"pk2"` (`/` in values doubled, NULL as `_`); a
    /// table without a primary key uses all its columns, sorted by name.
    pub fn key(&self, row: &Row) -> Key {
        let mut k = format!("\"public\".{}", quote_ident(&self.table.name));
        let parts: Vec<usize> = if self.table.pk.is_empty() {
            let mut all: Vec<usize> = (0..self.table.columns.len()).collect();
            all.sort_by(|a, b| {
                let name = |i: &usize| self.table.columns.get(*i).map(|c| c.name.as_str()).unwrap_or("");
                name(a).cmp(name(b))
            });
            all
        } else {
            self.table.pk.clone()
        };
        for &i in &parts {
            k.push('/');
            let v = self.table.columns.get(i).and_then(|c| row.get(&c.name)).flatten();
            match v {
                Some(v) => {
                    k.push('"');
                    k.push_str(&v.replace('/', "//"));
                    k.push('"');
                }
                None => k.push('_'),
            }
        }
        Key::new(k)
    }

    /// The selected columns of a full row.
    pub fn project(&self, row: &Row) -> Row {
        let names = self
            .cols
            .iter()
            .filter_map(|&i| self.table.columns.get(i))
            .map(|c| c.name.as_str());
        Row::from_pairs(names.map(|n| (n, row.get(n).flatten())))
    }

    fn pk_only(&self, row: &Row) -> Row {
        if self.table.pk.is_empty() {
            // Without a primary key the whole row is the identity (ref §3.1).
            return self.project(row);
        }
        let names = self
            .table
            .pk
            .iter()
            .filter_map(|&i| self.table.columns.get(i))
            .map(|c| c.name.as_str());
        Row::from_pairs(names.map(|n| (n, row.get(n).flatten())))
    }

    /// A snapshot row (an insert without replication headers).
    pub fn snapshot_message(&self, row: &Row) -> ChangeMessage {
        ChangeMessage {
            key: self.key(row),
            operation: Operation::Insert,
            value: self.project(row),
            old_value: None,
            headers: ChangeHeaders {
                relation: self.relation(),
                ..ChangeHeaders::default()
            },
        }
    }

    fn change(&self, e: &LogEntry, op: Operation, pos: u64, key: Key, value: Row) -> ChangeMessage {
        ChangeMessage {
            key,
            operation: op,
            value,
            old_value: None,
            headers: ChangeHeaders {
                relation: self.relation(),
                lsn: Some(e.lsn),
                op_position: Some(pos),
                txids: vec![e.txid],
                ..ChangeHeaders::default()
            },
        }
    }

    fn delete_value(&self, old: &Row) -> Row {
        match self.def.replica {
            Replica::Default => self.pk_only(old),
            Replica::Full => self.project(old),
        }
    }

    /// The messages one logged operation contributes to this shape (`last` not yet set).
    pub fn messages_for(&self, e: &LogEntry) -> Vec<ChangeMessage> {
        let (old, new) = (e.old.as_ref(), e.new.as_ref());
        let old_in = old.is_some_and(|r| self.contains(r));
        let new_in = new.is_some_and(|r| self.contains(r));
        match (e.kind, old, new) {
            (EntryKind::Truncate, ..) => Vec::new(),
            (_, Some(o), Some(n)) if old_in && new_in => {
                let (ok, nk) = (self.key(o), self.key(n));
                if ok != nk {
                    let mut del = self.change(e, Operation::Delete, e.op, ok.clone(), self.delete_value(o));
                    del.headers.key_change_to = Some(nk.clone());
                    let mut ins = self.change(e, Operation::Insert, e.op + 1, nk, self.project(n));
                    ins.headers.key_change_from = Some(ok);
                    return vec![del, ins];
                }
                let (po, pn) = (self.project(o), self.project(n));
                let changed: Vec<&str> = self
                    .cols
                    .iter()
                    .filter_map(|&i| self.table.columns.get(i))
                    .map(|c| c.name.as_str())
                    .filter(|c| po.get(c) != pn.get(c))
                    .collect();
                if changed.is_empty() {
                    return Vec::new();
                }
                let mut msg = match self.def.replica {
                    Replica::Default => {
                        let mut v = self.pk_only(n);
                        for c in &changed {
                            v.set(
                                eddy::protocol::row::intern(c),
                                pn.get(c).flatten().map(Into::into),
                            );
                        }
                        self.change(e, Operation::Update, e.op, nk, v)
                    }
                    Replica::Full => self.change(e, Operation::Update, e.op, nk, pn),
                };
                if self.def.replica == Replica::Full {
                    msg.old_value = Some(Row::from_pairs(changed.iter().map(|c| (*c, po.get(c).flatten()))));
                }
                vec![msg]
            }
            (_, Some(o), _) if old_in => {
                vec![self.change(e, Operation::Delete, e.op, self.key(o), self.delete_value(o))]
            }
            (_, _, Some(n)) if new_in => {
                let pos = if old.is_some_and(|o| self.key(o) != self.key(n)) {
                    e.op + 1
                } else {
                    e.op
                };
                vec![self.change(e, Operation::Insert, pos, self.key(n), self.project(n))]
            }
            _ => Vec::new(),
        }
    }
}

/// Set `last: true` on the final message of each transaction in `msgs` (ordered by offset).
pub fn mark_last(msgs: &mut [ChangeMessage]) {
    let n = msgs.len();
    for i in 0..n {
        let next_lsn = msgs.get(i + 1).and_then(|m| m.headers.lsn);
        if let Some(m) = msgs.get_mut(i) {
            m.headers.last = next_lsn != m.headers.lsn || i + 1 == n;
        }
    }
}

#[cfg(test)]
mod tests;
