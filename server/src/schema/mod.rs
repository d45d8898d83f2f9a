//! The schema file: `CREATE TABLE` statements (Postgres dialect) → tables the store creates and
//! shapes describe in their `electric-schema` header.
//!
//! Supported: column types of [`crate::types::PgType`] (and arrays of them), enum types
//! declared with `CREATE TYPE name AS ENUM (...)` before their use, `NOT NULL`,
//! `PRIMARY KEY` (column or table constraint; without one, all columns identify a row), `UNIQUE`, `DEFAULT`
//! (constants, `now()`, `CURRENT_TIMESTAMP`, `CURRENT_DATE`), and
//! `REFERENCES` / `FOREIGN KEY` without cascading actions (a cascade would change rows without
//! a logged operation). `CREATE INDEX` is accepted and ignored. Anything else is an error naming
//! the statement, so a schema never silently means something else here than in Postgres.
//! Unquoted identifiers are lower-cased; everything lives in schema `public`; names starting
//! with `_eddy` are reserved for the store's own tables.

use serde_json::{json, Map, Value as Json};
use sqlparser::ast::{
    ColumnOption, CreateTable, Expr, ForeignKeyConstraint, Ident, IndexColumn, ObjectName, ObjectNamePart,
    ReferentialAction, Statement, TableConstraint, UserDefinedTypeRepresentation,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use crate::types::{ColType, PgType};

/// Why the schema file was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// Not parseable SQL.
    #[error("schema file is not valid SQL: {0}")]
    Syntax(String),
    /// Valid SQL this server does not support.
    #[error("unsupported in schema file: {0}")]
    Unsupported(String),
    /// Inconsistent definitions (unknown column, duplicate table, ...).
    #[error("invalid schema: {0}")]
    Invalid(String),
}

impl eddy::ErrorCode for SchemaError {
    fn code(&self) -> &'static str {
        match self {
            SchemaError::Syntax(_) => "EDDY_SERVER_SCHEMA_SYNTAX",
            SchemaError::Unsupported(_) => "EDDY_SERVER_SCHEMA_UNSUPPORTED",
            SchemaError::Invalid(_) => "EDDY_SERVER_SCHEMA_INVALID",
        }
    }
    fn family(&self) -> &'static str {
        "ServerError"
    }
}

/// One column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Name (case preserved when quoted in the schema file).
    pub name: String,
    /// Type.
    pub ty: ColType,
    /// `NOT NULL` (implied by `PRIMARY KEY`).
    pub not_null: bool,
    /// Position in the primary key.
    pub pk_index: Option<usize>,
    /// Type modifiers for the schema header (`precision`, `scale`, `max_length`, `length`).
    pub modifiers: Vec<(&'static str, u32)>,
    /// The user-defined type name (enums), sent as the header's `type`.
    pub udt: Option<String>,
    /// The enum's labels, in declaration order (empty for other types).
    pub labels: Vec<String>,
    /// `DEFAULT`, applied when an insert omits the column.
    pub default: Option<DefaultValue>,
}

/// A column default: a constant, or the transaction's time.
#[derive(Debug, Clone, PartialEq)]
pub enum DefaultValue {
    /// A literal, as the JSON value the write API would have received.
    Literal(Json),
    /// `now()` / `CURRENT_TIMESTAMP` (timestamp columns).
    Now,
    /// `CURRENT_DATE` (date columns).
    CurrentDate,
}

/// A `DEFAULT` expression as a [`DefaultValue`]: literals (optionally cast), `now()`,
/// `CURRENT_TIMESTAMP`, `CURRENT_DATE`.
fn default_value(e: &Expr, ty: &ColType) -> Option<DefaultValue> {
    use sqlparser::ast::{UnaryOperator, Value};
    let lit = match e {
        Expr::Value(v) => match &v.value {
            // A numeric default keeps its written digits and scale (no trip through f64).
            Value::Number(n, _) if ty.base == PgType::Numeric && ty.dims == 0 => Json::String(n.clone()),
            Value::Number(n, _) => serde_json::from_str::<Json>(n)
                .ok()
                .or_else(|| Some(Json::String(n.clone())))?,
            Value::SingleQuotedString(s) => {
                // A string default for a json/array column is that column's text, parsed.
                if ty.dims > 0 || matches!(ty.base, PgType::Json | PgType::Jsonb) {
                    serde_json::from_str(s).ok()?
                } else {
                    Json::String(s.clone())
                }
            }
            Value::Boolean(b) => Json::Bool(*b),
            Value::Null => Json::Null,
            _ => return None,
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match default_value(expr, ty)? {
            DefaultValue::Literal(Json::Number(n)) => serde_json::from_str(&format!("-{n}")).ok()?,
            DefaultValue::Literal(Json::String(n)) if ty.base == PgType::Numeric => {
                Json::String(format!("-{n}"))
            }
            _ => return None,
        },
        Expr::Cast { expr, .. } | Expr::Nested(expr) => return default_value(expr, ty),
        Expr::Function(f) => {
            return match f.name.to_string().to_lowercase().as_str() {
                "now" | "current_timestamp" | "transaction_timestamp" => Some(DefaultValue::Now),
                "current_date" => Some(DefaultValue::CurrentDate),
                _ => None,
            }
        }
        _ => return None,
    };
    crate::types::to_text(ty, &lit).ok()?;
    Some(DefaultValue::Literal(lit))
}

/// A foreign key: `columns` of this table reference `ref_columns` of `ref_table`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    /// Referencing columns (indexes into [`Table::columns`]).
    pub columns: Vec<usize>,
    /// Referenced table.
    pub ref_table: String,
    /// Referenced column names.
    pub ref_columns: Vec<String>,
}

/// One table of schema `public`.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Table name.
    pub name: String,
    /// Columns in declaration order.
    pub columns: Vec<Column>,
    /// Primary-key columns in key order (indexes into `columns`).
    pub pk: Vec<usize>,
    /// Unique constraints (column index lists).
    pub uniques: Vec<Vec<usize>>,
    /// Foreign keys.
    pub fks: Vec<ForeignKey>,
}

impl Table {
    /// Index of a column by exact name.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The `electric-schema` header value for the given column indexes.
    pub fn schema_header(&self, cols: &[usize]) -> String {
        let mut map = Map::new();
        for &i in cols {
            let Some(c) = self.columns.get(i) else { continue };
            let mut o = Map::new();
            o.insert("type".into(), json!(c.udt.as_deref().unwrap_or(c.ty.base.name())));
            if c.ty.dims > 0 {
                o.insert("dims".into(), json!(c.ty.dims));
            }
            if c.not_null {
                o.insert("not_null".into(), json!(true));
            }
            if let Some(p) = c.pk_index {
                o.insert("pk_index".into(), json!(p));
            }
            for (k, v) in &c.modifiers {
                o.insert((*k).into(), json!(v));
            }
            map.insert(c.name.clone(), Json::Object(o));
        }
        Json::Object(map).to_string()
    }
}

/// All tables of the schema file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Catalog {
    /// Tables in file order.
    pub tables: Vec<Table>,
}

impl Catalog {
    /// A table by name.
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// A stable description used to detect a data file created from a different schema.
    pub fn fingerprint(&self) -> String {
        let mut s = String::new();
        for t in &self.tables {
            s.push_str(&t.name);
            s.push('(');
            for c in &t.columns {
                s.push_str(&format!(
                    "{}:{}{:?}{:?}[{}]{:?}{},",
                    c.name,
                    c.ty.base.name(),
                    c.udt,
                    (&c.labels, &c.default),
                    c.ty.dims,
                    c.ty.max_len,
                    c.not_null
                ));
                // Only typed numerics add to it, so older data files keep their fingerprint.
                if let Some((p, sc)) = c.ty.numeric {
                    s.push_str(&format!("numeric({p},{sc}),"));
                }
            }
            s.push_str(&format!(")pk{:?}u{:?}fk{:?};", t.pk, t.uniques, t.fks));
        }
        format!("{:016x}", crate::hash::fnv64(s.as_bytes()))
    }
}

/// Normalise an identifier by Postgres rules (unquoted → lower case).
pub fn ident_name(i: &Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

/// The table name of a possibly schema-qualified object name (`public` only).
fn table_name(n: &ObjectName) -> Result<String, SchemaError> {
    let parts: Vec<&Ident> =
        n.0.iter()
            .map(|p| match p {
                ObjectNamePart::Identifier(i) => Ok(i),
                other => Err(SchemaError::Unsupported(format!("table name {other}"))),
            })
            .collect::<Result<_, _>>()?;
    match parts.as_slice() {
        [t] => Ok(ident_name(t)),
        [s, t] if ident_name(s) == "public" => Ok(ident_name(t)),
        _ => Err(SchemaError::Unsupported(format!(
            "table {n}: only schema public is supported"
        ))),
    }
}

/// Parse a type as displayed by sqlparser (`VARCHAR(20)`, `INT4[]`, `NUMERIC(10,2)`...).
pub fn parse_type(display: &str) -> Option<(ColType, Vec<(&'static str, u32)>)> {
    let mut s = display.trim().to_ascii_lowercase();
    let mut dims = 0;
    while let Some(open) = s.rfind('[') {
        if !s.ends_with(']') || !s[open + 1..s.len() - 1].bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.truncate(open);
        s = s.trim_end().to_string();
        dims += 1;
    }
    let mut args: Vec<u32> = Vec::new();
    if let Some(open) = s.find('(') {
        let close = s.find(')')?;
        if close < open {
            return None;
        }
        for a in s[open + 1..close].split(',') {
            args.push(a.trim().parse().ok()?);
        }
        s = format!("{}{}", &s[..open], &s[close + 1..]);
    }
    let base = PgType::from_sql_name(&s)?;
    let mut ty = ColType {
        base,
        dims,
        max_len: None,
        numeric: None,
    };
    let mut mods = Vec::new();
    match (base, args.as_slice()) {
        (_, []) => {}
        (PgType::Varchar, [n]) => {
            ty.max_len = Some(*n);
            mods.push(("max_length", *n));
        }
        (PgType::Bpchar, [n]) => {
            ty.max_len = Some(*n);
            mods.push(("length", *n));
        }
        (PgType::Numeric, [p]) if (1..=1000).contains(p) => {
            ty.numeric = Some((*p, 0));
            mods.push(("precision", *p));
        }
        (PgType::Numeric, [p, sc]) if (1..=1000).contains(p) && sc <= p => {
            ty.numeric = Some((*p, *sc));
            mods.push(("precision", *p));
            mods.push(("scale", *sc));
        }
        (PgType::Timestamptz | PgType::Timestamp, [p]) if *p <= 6 => mods.push(("precision", *p)),
        (PgType::Float8, [p]) if *p <= 53 => {
            if *p <= 24 {
                ty.base = PgType::Float4;
            }
        }
        _ => return None,
    }
    if base == PgType::Bpchar && ty.max_len.is_none() {
        ty.max_len = Some(1);
        mods.push(("length", 1));
    }
    Some((ty, mods))
}

fn index_columns(cols: &[IndexColumn], what: &str) -> Result<Vec<String>, SchemaError> {
    cols.iter()
        .map(|c| match &c.column.expr {
            Expr::Identifier(i) => Ok(ident_name(i)),
            other => Err(SchemaError::Unsupported(format!("{what} on expression {other}"))),
        })
        .collect()
}

struct PendingFk {
    columns: Vec<String>,
    fk: ForeignKeyConstraint,
}

fn check_actions(fk: &ForeignKeyConstraint) -> Result<(), SchemaError> {
    for a in [fk.on_delete, fk.on_update].into_iter().flatten() {
        if !matches!(a, ReferentialAction::NoAction | ReferentialAction::Restrict) {
            return Err(SchemaError::Unsupported(format!(
                "ON DELETE/UPDATE {a} in foreign key to {} (cascades would change rows without a logged operation)",
                fk.foreign_table
            )));
        }
    }
    Ok(())
}

/// An enum type: name and labels.
type EnumType = (String, Vec<String>);

/// A column type naming a declared enum (`mood`, `"Mood"`, `mood[]`).
fn enum_type(display: &str, enums: &[EnumType]) -> Option<(ColType, String, Vec<String>)> {
    let mut s = display.trim();
    let mut dims = 0;
    while let Some(rest) = s.strip_suffix("[]") {
        s = rest.trim_end();
        dims += 1;
    }
    let name = match s.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
        Some(q) => q.replace("\"\"", "\""),
        None => s.to_lowercase(),
    };
    let (n, labels) = enums.iter().find(|(n, _)| *n == name)?;
    Some((
        ColType {
            base: PgType::Enum,
            dims,
            max_len: None,
            numeric: None,
        },
        n.clone(),
        labels.clone(),
    ))
}

fn build_table(ct: &CreateTable, enums: &[EnumType]) -> Result<(Table, Vec<PendingFk>), SchemaError> {
    let name = table_name(&ct.name)?;
    if name.starts_with("_eddy") || name.is_empty() {
        return Err(SchemaError::Invalid(format!("table name {name:?} is reserved")));
    }
    let mut columns: Vec<Column> = Vec::new();
    let mut pk_names: Option<Vec<String>> = None;
    let mut unique_names: Vec<Vec<String>> = Vec::new();
    let mut fks: Vec<PendingFk> = Vec::new();
    for cd in &ct.columns {
        let cname = ident_name(&cd.name);
        if columns.iter().any(|c| c.name == cname) {
            return Err(SchemaError::Invalid(format!(
                "column {cname:?} of {name} declared twice"
            )));
        }
        let display = cd.data_type.to_string();
        let (ty, modifiers, udt, labels) = match (parse_type(&display), enum_type(&display, enums)) {
            (_, Some((ty, n, labels))) => (ty, Vec::new(), Some(n), labels),
            (Some((ty, m)), None) => (ty, m, None, Vec::new()),
            (None, None) => {
                return Err(SchemaError::Unsupported(format!(
                    "type {display} of column {name}.{cname}"
                )))
            }
        };
        let mut col = Column {
            name: cname.clone(),
            ty,
            not_null: false,
            pk_index: None,
            modifiers,
            udt,
            labels,
            default: None,
        };
        for opt in &cd.options {
            match &opt.option {
                ColumnOption::NotNull => col.not_null = true,
                ColumnOption::Null => {}
                ColumnOption::PrimaryKey(_) => {
                    if pk_names.replace(vec![cname.clone()]).is_some() {
                        return Err(SchemaError::Invalid(format!("table {name} has two primary keys")));
                    }
                }
                ColumnOption::Unique(_) => unique_names.push(vec![cname.clone()]),
                ColumnOption::Default(e) => {
                    let d = default_value(e, &col.ty).ok_or_else(|| {
                        SchemaError::Unsupported(format!(
                            "DEFAULT {e} on {name}.{cname} (constants, now(), CURRENT_TIMESTAMP and CURRENT_DATE are supported)"
                        ))
                    })?;
                    let fits = match d {
                        DefaultValue::Literal(_) => true,
                        DefaultValue::Now => {
                            matches!(col.ty.base, PgType::Timestamptz | PgType::Timestamp) && col.ty.dims == 0
                        }
                        DefaultValue::CurrentDate => col.ty.base == PgType::Date && col.ty.dims == 0,
                    };
                    if !fits {
                        return Err(SchemaError::Invalid(format!(
                            "DEFAULT {e} does not fit the type of {name}.{cname}"
                        )));
                    }
                    col.default = Some(d);
                }
                ColumnOption::ForeignKey(fk) => {
                    check_actions(fk)?;
                    fks.push(PendingFk {
                        columns: vec![cname.clone()],
                        fk: fk.clone(),
                    });
                }
                other => {
                    return Err(SchemaError::Unsupported(format!(
                        "column option {other} on {name}.{cname}"
                    )))
                }
            }
        }
        columns.push(col);
    }
    for c in &ct.constraints {
        match c {
            TableConstraint::PrimaryKey(pk) => {
                if pk_names
                    .replace(index_columns(&pk.columns, "PRIMARY KEY")?)
                    .is_some()
                {
                    return Err(SchemaError::Invalid(format!("table {name} has two primary keys")));
                }
            }
            TableConstraint::Unique(u) => unique_names.push(index_columns(&u.columns, "UNIQUE")?),
            TableConstraint::ForeignKey(fk) => {
                check_actions(fk)?;
                fks.push(PendingFk {
                    columns: fk.columns.iter().map(ident_name).collect(),
                    fk: fk.clone(),
                });
            }
            other => {
                return Err(SchemaError::Unsupported(format!(
                    "table constraint {other} on {name}"
                )))
            }
        }
    }
    // A table without a primary key is identified by all its columns (ref §3.1 keys).
    let pk_names = pk_names.unwrap_or_default();
    let find = |n: &String, cols: &[Column]| {
        cols.iter()
            .position(|c| &c.name == n)
            .ok_or_else(|| SchemaError::Invalid(format!("unknown column {n:?} in a constraint of {name}")))
    };
    let mut pk = Vec::new();
    for (i, n) in pk_names.iter().enumerate() {
        let idx = find(n, &columns)?;
        if pk.contains(&idx) {
            return Err(SchemaError::Invalid(format!(
                "column {n:?} repeated in the primary key of {name}"
            )));
        }
        if let Some(c) = columns.get_mut(idx) {
            c.pk_index = Some(i);
            c.not_null = true;
            if c.ty.dims > 0 || matches!(c.ty.base, PgType::Json | PgType::Jsonb) {
                return Err(SchemaError::Unsupported(format!(
                    "primary key column {name}.{n} of type {}",
                    c.ty.base.name()
                )));
            }
        }
        pk.push(idx);
    }
    let uniques = unique_names
        .iter()
        .map(|u| u.iter().map(|n| find(n, &columns)).collect::<Result<Vec<_>, _>>())
        .collect::<Result<Vec<_>, _>>()?;
    for f in &fks {
        for n in &f.columns {
            find(n, &columns)?;
        }
    }
    Ok((
        Table {
            name,
            columns,
            pk,
            uniques,
            fks: Vec::new(),
        },
        fks,
    ))
}

/// Parse a schema file.
pub fn parse_schema(sql: &str) -> Result<Catalog, SchemaError> {
    let stmts =
        Parser::parse_sql(&PostgreSqlDialect {}, sql).map_err(|e| SchemaError::Syntax(e.to_string()))?;
    let mut tables: Vec<Table> = Vec::new();
    let mut enums: Vec<EnumType> = Vec::new();
    let mut pending: Vec<(usize, Vec<PendingFk>)> = Vec::new();
    for st in &stmts {
        match st {
            Statement::CreateType {
                name,
                representation: Some(UserDefinedTypeRepresentation::Enum { labels }),
            } => {
                let n = table_name(name)?;
                let labels: Vec<String> = labels.iter().map(|l| l.value.clone()).collect();
                if enums.iter().any(|(e, _)| *e == n) || labels.is_empty() {
                    return Err(SchemaError::Invalid(format!(
                        "enum {n} declared twice or without labels"
                    )));
                }
                enums.push((n, labels));
            }
            Statement::CreateTable(ct) => {
                let (t, fks) = build_table(ct, &enums)?;
                if tables.iter().any(|x| x.name == t.name) {
                    return Err(SchemaError::Invalid(format!("table {} declared twice", t.name)));
                }
                pending.push((tables.len(), fks));
                tables.push(t);
            }
            Statement::CreateIndex(_) => {}
            other => {
                let text: String = other.to_string().chars().take(80).collect();
                return Err(SchemaError::Unsupported(format!("statement {text}")));
            }
        }
    }
    for (ti, fks) in pending {
        let mut resolved = Vec::new();
        for f in fks {
            let ref_table = table_name(&f.fk.foreign_table)?;
            let target = tables.iter().find(|t| t.name == ref_table).ok_or_else(|| {
                SchemaError::Invalid(format!("foreign key references unknown table {ref_table}"))
            })?;
            let ref_columns: Vec<String> = if f.fk.referred_columns.is_empty() {
                target
                    .pk
                    .iter()
                    .filter_map(|&i| target.columns.get(i))
                    .map(|c| c.name.clone())
                    .collect()
            } else {
                f.fk.referred_columns.iter().map(ident_name).collect()
            };
            let ref_idx: Vec<usize> = ref_columns
                .iter()
                .filter_map(|c| target.column_index(c))
                .collect();
            let mut sorted = ref_idx.clone();
            sorted.sort_unstable();
            let unique_target = !sorted.is_empty()
                && std::iter::once(&target.pk).chain(target.uniques.iter()).any(|u| {
                    let mut u = u.clone();
                    u.sort_unstable();
                    u == sorted
                });
            if !unique_target {
                return Err(SchemaError::Invalid(format!(
                    "foreign key to {ref_table} must reference its primary key or a UNIQUE column set"
                )));
            }
            if ref_columns.len() != f.columns.len()
                || ref_columns.iter().any(|c| target.column_index(c).is_none())
            {
                return Err(SchemaError::Invalid(format!(
                    "foreign key to {ref_table} names unknown or mismatched columns"
                )));
            }
            let table = tables
                .get(ti)
                .ok_or_else(|| SchemaError::Invalid("internal".into()))?;
            let columns = f.columns.iter().filter_map(|n| table.column_index(n)).collect();
            resolved.push(ForeignKey {
                columns,
                ref_table,
                ref_columns,
            });
        }
        if let Some(t) = tables.get_mut(ti) {
            t.fks = resolved;
        }
    }
    if tables.is_empty() {
        return Err(SchemaError::Invalid("the schema file declares no table".into()));
    }
    Ok(Catalog { tables })
}

#[cfg(test)]
mod tests;
