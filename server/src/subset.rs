//! Subset snapshots (ref §1 "subset__*", §3.5): a one-off page of the shape's current rows,
//! requested with `subset__*` query parameters on `GET /v1/shape` or a JSON body on
//! `POST /v1/shape` (`{"where","params","limit","offset","order_by"}`).
//!
//! The response is an object, not a log: `{"metadata":{"xmin","xmax","xip_list",
//! "snapshot_mark","database_lsn"},"data":[inserts with headers.snapshot_mark]}`. The store
//! commits serially, so the snapshot's `xmin = xmax =` the next transaction id and `xip_list`
//! is empty: a later change is already contained in the subset iff its txid is below `xmax`.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use eddy::protocol::{Message, Row};
use serde_json::{json, Value as Json};
use sqlparser::ast::{Expr, OrderBySort};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

use crate::request::{Invalid, QueryParams};
use crate::schema::{ident_name, Table};
use crate::shape::Shape;
use crate::types::PgType;
use crate::where_::{compare, val_of, Predicate};

/// A subset request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubsetParams {
    /// Extra filter (ANDed with the shape's `where`).
    pub where_sql: Option<String>,
    /// `$n` values of that filter.
    pub params: BTreeMap<u32, String>,
    /// Maximum rows.
    pub limit: Option<u64>,
    /// Rows to skip.
    pub offset: Option<u64>,
    /// `col [ASC|DESC] [NULLS FIRST|LAST], ...`.
    pub order_by: Option<String>,
}

fn params_from_json(v: &Json) -> Result<BTreeMap<u32, String>, Invalid> {
    let mut out = BTreeMap::new();
    let bad = || {
        (
            "subset__params",
            "must be an object like {\"1\": \"value\"}".to_string(),
        )
    };
    match v {
        Json::Null => {}
        Json::Object(m) => {
            for (k, v) in m {
                let n = k
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(bad)?;
                let text = match v {
                    Json::String(s) => s.clone(),
                    Json::Number(n) => n.to_string(),
                    Json::Bool(b) => b.to_string(),
                    _ => return Err(bad()),
                };
                out.insert(n, text);
            }
        }
        Json::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                out.insert(i as u32 + 1, v.as_str().ok_or_else(bad)?.to_string());
            }
        }
        _ => return Err(bad()),
    }
    Ok(out)
}

fn number(v: Option<&Json>, field: &'static str, min: u64) -> Result<Option<u64>, Invalid> {
    match v {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Number(n)) => n
            .as_u64()
            .filter(|n| *n >= min)
            .map(Some)
            .ok_or((field, format!("must be an integer >= {min}"))),
        Some(Json::String(s)) => s
            .parse::<u64>()
            .ok()
            .filter(|n| *n >= min)
            .map(Some)
            .ok_or((field, format!("must be an integer >= {min}"))),
        Some(_) => Err((field, format!("must be an integer >= {min}"))),
    }
}

impl SubsetParams {
    fn check(self) -> Result<SubsetParams, Invalid> {
        if (self.limit.is_some() || self.offset.is_some()) && self.order_by.is_none() {
            return Err((
                "subset__order_by",
                "is required when limit or offset is given".into(),
            ));
        }
        Ok(self)
    }

    /// From `subset__*` query parameters; `None` when there are none.
    pub fn from_query(q: &QueryParams) -> Result<Option<SubsetParams>, Invalid> {
        let names = [
            "subset__where",
            "subset__params",
            "subset__limit",
            "subset__offset",
            "subset__order_by",
        ];
        if names.iter().all(|n| q.get(n).is_none()) {
            return Ok(None);
        }
        let params = match q.get("subset__params") {
            None => BTreeMap::new(),
            Some(text) => params_from_json(
                &serde_json::from_str(text)
                    .map_err(|_| ("subset__params", "must be a JSON object".to_string()))?,
            )?,
        };
        let num =
            |name: &'static str, min| number(q.get(name).map(|s| Json::String(s.into())).as_ref(), name, min);
        SubsetParams {
            where_sql: q.get("subset__where").map(String::from),
            params,
            limit: num("subset__limit", 1)?,
            offset: num("subset__offset", 0)?,
            order_by: q.get("subset__order_by").map(String::from),
        }
        .check()
        .map(Some)
    }

    /// From a `POST /v1/shape` JSON body.
    pub fn from_body(body: &[u8]) -> Result<SubsetParams, Invalid> {
        let v: Json =
            serde_json::from_slice(body).map_err(|_| ("body", "must be a JSON object".to_string()))?;
        let Json::Object(m) = v else {
            return Err(("body", "must be a JSON object".into()));
        };
        let text = |k: &str, field: &'static str| match m.get(k) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err((field, "must be a string".to_string())),
        };
        SubsetParams {
            where_sql: text("where", "subset__where")?,
            params: params_from_json(m.get("params").unwrap_or(&Json::Null))?,
            limit: number(m.get("limit"), "subset__limit", 1)?,
            offset: number(m.get("offset"), "subset__offset", 0)?,
            order_by: text("order_by", "subset__order_by")?,
        }
        .check()
    }
}

/// One sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderKey {
    /// Column.
    pub column: String,
    /// Its type.
    pub ty: PgType,
    /// `DESC`.
    pub desc: bool,
    /// `NULLS FIRST` (default: last for ASC, first for DESC, as in Postgres).
    pub nulls_first: bool,
}

/// Parse `order_by` against the table's columns.
pub fn parse_order_by(s: &str, table: &Table) -> Result<Vec<OrderKey>, Invalid> {
    let bad = |m: String| ("subset__order_by", m);
    let dialect = PostgreSqlDialect {};
    let mut p = Parser::new(&dialect)
        .with_recursion_limit(16)
        .try_with_sql(s)
        .map_err(|e| bad(format!("invalid syntax: {e}")))?;
    let items = p
        .parse_comma_separated(Parser::parse_order_by_expr)
        .map_err(|e| bad(format!("invalid syntax: {e}")))?;
    if p.peek_token().token != Token::EOF {
        return Err(bad("unexpected text after the order".into()));
    }
    items
        .into_iter()
        .map(|o| {
            let Expr::Identifier(i) = &o.expr else {
                return Err(bad(format!(
                    "only column names can be ordered by, not {}",
                    o.expr
                )));
            };
            let name = ident_name(i);
            let col = table
                .columns
                .iter()
                .find(|c| c.name == name)
                .ok_or_else(|| bad(format!("unknown column {name:?}")))?;
            if col.ty.dims > 0 {
                return Err(bad(format!("cannot order by array column {name:?}")));
            }
            let desc = match o.options.sort {
                None | Some(OrderBySort::Asc) => false,
                Some(OrderBySort::Desc) => true,
                Some(OrderBySort::Using(_)) => return Err(bad("ORDER BY USING is not supported".into())),
            };
            Ok(OrderKey {
                column: name,
                ty: col.ty.base,
                desc,
                nulls_first: o.options.nulls_first.unwrap_or(desc),
            })
        })
        .collect()
}

/// Compare two rows by the sort keys.
pub fn cmp_rows(a: &Row, b: &Row, keys: &[OrderKey]) -> Ordering {
    for k in keys {
        let va = a.get(&k.column).flatten().and_then(|t| val_of(k.ty, t));
        let vb = b.get(&k.column).flatten().and_then(|t| val_of(k.ty, t));
        let ord = match (va, vb) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => {
                if k.nulls_first {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            (Some(_), None) => {
                if k.nulls_first {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
            (Some(x), Some(y)) => {
                let o = compare(&x, &y).unwrap_or(Ordering::Equal);
                if k.desc {
                    o.reverse()
                } else {
                    o
                }
            }
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

/// A compiled subset request.
#[derive(Debug, Clone)]
pub struct Subset {
    /// Extra filter.
    pub pred: Option<Predicate>,
    /// Sort keys.
    pub order: Vec<OrderKey>,
    /// Maximum rows.
    pub limit: Option<u64>,
    /// Rows to skip.
    pub offset: u64,
}

impl Subset {
    /// Compile against the shape's table.
    pub fn compile(p: &SubsetParams, shape: &Shape, max_where_bytes: usize) -> Result<Subset, Invalid> {
        let pred = match p.where_sql.as_deref().map(str::trim).filter(|w| !w.is_empty()) {
            None => None,
            Some(w) if w.len() > max_where_bytes => {
                return Err(("subset__where", format!("is longer than {max_where_bytes} bytes")))
            }
            Some(w) => {
                let params = p.params.iter().map(|(k, v)| (*k, v.clone())).collect();
                Some(Predicate::compile(w, &shape.table, &params).map_err(|e| {
                    (
                        if e.field == "params" {
                            "subset__params"
                        } else {
                            "subset__where"
                        },
                        e.message,
                    )
                })?)
            }
        };
        let order = match &p.order_by {
            Some(o) => parse_order_by(o, &shape.table)?,
            None => Vec::new(),
        };
        Ok(Subset {
            pred,
            order,
            limit: p.limit,
            offset: p.offset.unwrap_or(0),
        })
    }

    /// Filter, sort and page `rows` (the table's current rows in storage order).
    pub fn select(&self, shape: &Shape, mut rows: Vec<Row>) -> Vec<Row> {
        rows.retain(|r| shape.contains(r) && self.pred.as_ref().is_none_or(|p| p.matches(r)));
        if !self.order.is_empty() {
            rows.sort_by(|a, b| cmp_rows(a, b, &self.order));
        }
        let skip = usize::try_from(self.offset).unwrap_or(usize::MAX);
        let take = self
            .limit
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        rows.into_iter().skip(skip).take(take).collect()
    }
}

/// The response body.
pub fn body(shape: &Shape, rows: &[Row], mark: u64, next_txid: u64, head: u64) -> String {
    let data: Vec<Message> = rows
        .iter()
        .map(|r| {
            let mut m = shape.snapshot_message(r);
            m.headers.snapshot_mark = Some(mark);
            Message::Change(m)
        })
        .collect();
    json!({
        "metadata": {
            "xmin": next_txid.to_string(),
            "xmax": next_txid.to_string(),
            "xip_list": [],
            "snapshot_mark": mark,
            "database_lsn": head.to_string(),
        },
        "data": data,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::parse_schema;

    fn table() -> Table {
        parse_schema(include_str!("../examples/todo.sql"))
            .unwrap()
            .table("todos")
            .unwrap()
            .clone()
    }

    #[test]
    fn order_by_parsing_and_sorting() {
        let keys = parse_order_by("priority DESC, \"title\" NULLS FIRST", &table()).unwrap();
        assert_eq!(keys.len(), 2);
        assert!(keys[0].desc && keys[0].nulls_first);
        assert!(!keys[1].desc && keys[1].nulls_first);
        for bad in [
            "nope",
            "lower(title)",
            "id; DROP",
            "tags",
            "id USING <",
            "",
            "id,",
        ] {
            assert!(parse_order_by(bad, &table()).is_err(), "{bad:?}");
        }
        let row = |id: &str, p: Option<&str>| Row::from_pairs([("id", Some(id)), ("priority", p)]);
        let keys = parse_order_by("priority", &table()).unwrap();
        let mut rows = [row("1", Some("10")), row("2", None), row("3", Some("9"))];
        rows.sort_by(|a, b| cmp_rows(a, b, &keys));
        let ids: Vec<_> = rows.iter().map(|r| r.get("id").flatten().unwrap()).collect();
        assert_eq!(ids, vec!["3", "1", "2"], "numeric order, NULLS LAST for ASC");
    }

    #[test]
    fn params_from_query_and_body() {
        let q = QueryParams::parse(Some("subset__where=id%3E%241&subset__params=%7B%221%22%3A%225%22%7D&subset__limit=2&subset__order_by=id"));
        let p = SubsetParams::from_query(&q).unwrap().unwrap();
        assert_eq!(p.params.get(&1).map(String::as_str), Some("5"));
        assert_eq!(p.limit, Some(2));
        assert!(SubsetParams::from_query(&QueryParams::parse(Some("table=x")))
            .unwrap()
            .is_none());
        let e = SubsetParams::from_query(&QueryParams::parse(Some("subset__limit=2"))).unwrap_err();
        assert_eq!(e.0, "subset__order_by");
        assert_eq!(
            SubsetParams::from_query(&QueryParams::parse(Some("subset__limit=0&subset__order_by=id")))
                .unwrap_err()
                .0,
            "subset__limit"
        );
        let p = SubsetParams::from_body(
            br#"{"where":"done","params":{"1":"x"},"limit":3,"offset":1,"order_by":"id"}"#,
        )
        .unwrap();
        assert_eq!((p.limit, p.offset), (Some(3), Some(1)));
        assert_eq!(SubsetParams::from_body(b"[1]").unwrap_err().0, "body");
        assert_eq!(
            SubsetParams::from_body(b"{\"limit\":-1,\"order_by\":\"id\"}")
                .unwrap_err()
                .0,
            "subset__limit"
        );
    }
}
