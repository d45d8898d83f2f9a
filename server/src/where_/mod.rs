//! Shape `where` clauses: parse with sqlparser (Postgres dialect), check the AST against an
//! allow-list, compile to a typed predicate and evaluate it in Rust. SQL text from a request is
//! never executed anywhere.
//!
//! Allowed: comparisons (`= <> != < <= > >=`), `AND`/`OR`/`NOT`, `[NOT] IN (literals)`,
//! `[NOT] BETWEEN`, `IS [NOT] NULL`, `[NOT] LIKE`/`ILIKE`, `$n` parameters, literals (strings,
//! numbers, booleans, NULL, `type 'text'`), casts (`::type`, `CAST(.. AS type)`) to known scalar
//! types, parentheses, and column names (quoted or not, optionally `table.column`) of the
//! shape's table. Untyped literals take the type of the column they are compared with, as in
//! Postgres (`id = '5'` works on an int8 column, `title = 5` is a type error). Everything else
//! is a 400 with a field error.
//!
//! The same predicate decides whether a changed row enters, stays in or leaves a shape.

mod eval;

use std::collections::HashMap;

use serde_json::Value as Json;
use sqlparser::ast::{BinaryOperator, CastKind, Expr, InTarget, UnaryOperator, Value};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

pub use eval::{compare, eval, like, val_of};

use crate::schema::{ident_name, parse_type, Table};
use crate::types::{to_text_raw, Category, ColType, PgType};

/// Maximum nesting of the compiled expression.
const MAX_DEPTH: usize = 128;

/// Why a `where` clause was rejected; `field` is `where` or `params`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct WhereError {
    /// The query parameter at fault.
    pub field: &'static str,
    /// Human-readable reason.
    pub message: String,
}

impl eddy::ErrorCode for WhereError {
    fn code(&self) -> &'static str {
        "EDDY_SERVER_INVALID_WHERE"
    }
    fn family(&self) -> &'static str {
        "ServerError"
    }
}

fn err(message: impl Into<String>) -> WhereError {
    WhereError {
        field: "where",
        message: message.into(),
    }
}

/// A typed constant.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// SQL NULL.
    Null,
    /// Any integer type.
    Int(i64),
    /// Floats and numerics.
    Float(f64),
    /// Text-like values (canonical text).
    Text(String),
    /// Booleans.
    Bool(bool),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `<>` / `!=`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
}

/// A value inside a predicate: a column read as some type, or a constant.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// The row's value of `name`, interpreted as `ty`.
    Col {
        /// Column name.
        name: String,
        /// Type to read the text as.
        ty: PgType,
    },
    /// A constant.
    Lit(Val),
}

/// A compiled predicate.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A constant truth value (`None` = NULL).
    Const(Option<bool>),
    /// A bool-valued operand used as a predicate.
    Truth(Operand),
    /// A comparison.
    Cmp(CmpOp, Operand, Operand),
    /// Conjunction.
    And(Box<Node>, Box<Node>),
    /// Disjunction.
    Or(Box<Node>, Box<Node>),
    /// Negation.
    Not(Box<Node>),
    /// `IS NULL` (`true` = `IS NOT NULL`).
    IsNull(Operand, bool),
    /// `IN (...)` (`true` = `NOT IN`).
    In(Operand, Vec<Operand>, bool),
    /// `LIKE` / `ILIKE`.
    Like {
        /// The text tested.
        operand: Operand,
        /// The pattern.
        pattern: String,
        /// `NOT LIKE`.
        negated: bool,
        /// `ILIKE`.
        case_insensitive: bool,
    },
}

/// A `where` clause compiled for one table.
#[derive(Debug, Clone, PartialEq)]
pub struct Predicate {
    root: Node,
}

impl Predicate {
    /// Compile `sql` for `table` with `$n` parameters `params` (1-based).
    pub fn compile(sql: &str, table: &Table, params: &HashMap<u32, String>) -> Result<Predicate, WhereError> {
        let dialect = PostgreSqlDialect {};
        let mut parser = Parser::new(&dialect)
            .with_recursion_limit(64)
            .try_with_sql(sql)
            .map_err(|e| err(format!("invalid syntax: {e}")))?;
        let expr = parser
            .parse_expr()
            .map_err(|e| err(format!("invalid syntax: {e}")))?;
        if parser.peek_token().token != Token::EOF {
            return Err(err(format!(
                "unexpected {} after the expression",
                parser.peek_token().token
            )));
        }
        let c = Compiler { table, params };
        let root = match c.term(&expr, 0)? {
            Term::Pred(n) => n,
            Term::Bool(b) => Node::Const(Some(b)),
            Term::Null => Node::Const(None),
            Term::Col {
                name,
                ty: PgType::Bool,
                dims: 0,
            } => Node::Truth(Operand::Col {
                name,
                ty: PgType::Bool,
            }),
            Term::Typed(Val::Bool(b), _) => Node::Const(Some(b)),
            _ => return Err(err("the where clause must be a boolean expression")),
        };
        Ok(Predicate { root })
    }

    /// True if the row is in the shape (NULL counts as not).
    pub fn matches(&self, row: &eddy::protocol::Row) -> bool {
        eval(&self.root, row) == Some(true)
    }

    /// The compiled tree.
    pub fn root(&self) -> &Node {
        &self.root
    }
}

/// A compiled sub-expression before it is known how it is used.
enum Term {
    Col { name: String, ty: PgType, dims: u32 },
    Str(String),
    Num(String),
    Bool(bool),
    Null,
    Typed(Val, PgType),
    Pred(Node),
}

struct Compiler<'a> {
    table: &'a Table,
    params: &'a HashMap<u32, String>,
}

/// Coerce an untyped string to `ty` (Postgres `unknown` literal resolution).
fn coerce_str(ty: PgType, s: &str) -> Result<Val, WhereError> {
    let json = if matches!(ty, PgType::Jsonb | PgType::Json) {
        serde_json::from_str::<Json>(s)
            .map_err(|_| err(format!("invalid input syntax for type {}: {s:?}", ty.name())))?
    } else {
        Json::String(s.to_string())
    };
    // json/jsonb literals keep their written text (key order, exact numbers), as writes do.
    let raw = matches!(ty, PgType::Jsonb | PgType::Json).then_some(s);
    let text = to_text_raw(&ColType::scalar(ty), &json, raw)
        .map_err(|e| err(e.to_string()))?
        .unwrap_or_default();
    eval::val_of(ty, &text).ok_or_else(|| err(format!("invalid input syntax for type {}: {s:?}", ty.name())))
}

fn coerce_num(ty: Option<PgType>, n: &str) -> Result<Val, WhereError> {
    match ty.map(PgType::category) {
        None | Some(Category::Int) | Some(Category::Float) => {}
        Some(_) => {
            return Err(err(format!(
                "operator does not exist: {} compared with a number",
                ty.map_or("", PgType::name)
            )))
        }
    }
    if let Ok(i) = n.parse::<i64>() {
        return Ok(Val::Int(i));
    }
    n.parse::<f64>()
        .map(Val::Float)
        .map_err(|_| err(format!("invalid number {n}")))
}

fn compatible(a: PgType, b: PgType) -> bool {
    let (ca, cb) = (a.category(), b.category());
    match (ca, cb) {
        (Category::Int | Category::Float, Category::Int | Category::Float) => true,
        (Category::Opaque, _) | (_, Category::Opaque) => a == b && a != PgType::Json,
        _ => ca == cb && (ca != Category::Text || same_text_family(a, b)),
    }
}

fn same_text_family(a: PgType, b: PgType) -> bool {
    let fam = |t| match t {
        PgType::Text | PgType::Varchar | PgType::Bpchar => 0,
        other => other as u8 + 1,
    };
    fam(a) == fam(b)
}

impl Compiler<'_> {
    fn column(&self, name: String) -> Result<Term, WhereError> {
        let idx = self
            .table
            .column_index(&name)
            .ok_or_else(|| err(format!("unknown column {name:?} in table {}", self.table.name)))?;
        let c = self
            .table
            .columns
            .get(idx)
            .ok_or_else(|| err("internal column index"))?;
        Ok(Term::Col {
            name,
            ty: c.ty.base,
            dims: c.ty.dims,
        })
    }

    fn param(&self, p: &str) -> Result<Term, WhereError> {
        let n: u32 = p
            .strip_prefix('$')
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| err(format!("unsupported placeholder {p}")))?;
        match self.params.get(&n) {
            Some(v) => Ok(Term::Str(v.clone())),
            None => Err(WhereError {
                field: "params",
                message: format!("parameter ${n} is not given"),
            }),
        }
    }

    fn literal(&self, v: &Value) -> Result<Term, WhereError> {
        Ok(match v {
            Value::Number(n, _) => Term::Num(n.to_string()),
            Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) => Term::Str(s.clone()),
            Value::Boolean(b) => Term::Bool(*b),
            Value::Null => Term::Null,
            Value::Placeholder(p) => self.param(p)?,
            other => return Err(err(format!("unsupported literal {other}"))),
        })
    }

    fn cast_type(&self, display: &str) -> Result<PgType, WhereError> {
        match parse_type(display) {
            Some((ty, _)) if ty.dims == 0 => Ok(ty.base),
            _ => Err(err(format!("cast to unsupported type {display}"))),
        }
    }

    fn cast(&self, t: Term, ty: PgType) -> Result<Term, WhereError> {
        Ok(match t {
            Term::Str(s) => Term::Typed(coerce_str(ty, &s)?, ty),
            Term::Num(n) => match ty.category() {
                Category::Int | Category::Float => Term::Typed(coerce_num(Some(ty), &n)?, ty),
                _ => Term::Typed(coerce_str(ty, &n)?, ty),
            },
            Term::Bool(b) if ty == PgType::Bool => Term::Bool(b),
            Term::Null => Term::Null,
            Term::Col {
                name,
                dims: 0,
                ty: from,
            } if from == ty || ty.category() == Category::Text || compatible(from, ty) => {
                Term::Col { name, ty, dims: 0 }
            }
            Term::Typed(v, from) if from == ty => Term::Typed(v, ty),
            _ => return Err(err(format!("cannot cast this expression to {}", ty.name()))),
        })
    }

    /// Turn two terms into comparable operands, resolving untyped literals.
    fn operands(&self, a: Term, b: Term, op: &str) -> Result<(Operand, Operand), WhereError> {
        let ty_of = |t: &Term| match t {
            Term::Col { ty, dims: 0, .. } | Term::Typed(_, ty) => Ok(Some(*ty)),
            Term::Col { .. } => Err(err(format!("operator {op} is not supported on array columns"))),
            Term::Bool(_) => Ok(Some(PgType::Bool)),
            Term::Pred(_) => Err(err(format!(
                "operator {op} is not supported on boolean expressions"
            ))),
            _ => Ok(None),
        };
        let (ta, tb) = (ty_of(&a)?, ty_of(&b)?);
        let target = match (ta, tb) {
            (Some(x), Some(y)) => {
                if !compatible(x, y) {
                    return Err(err(format!(
                        "operator does not exist: {} {op} {}",
                        x.name(),
                        y.name()
                    )));
                }
                Some(x)
            }
            (x, y) => x.or(y),
        };
        if let Some(t) = target {
            if t.category() == Category::Opaque && !matches!(op, "=" | "<>") {
                return Err(err(format!(
                    "operator {op} is not supported for type {}",
                    t.name()
                )));
            }
            if t == PgType::Json {
                return Err(err("operator does not exist: json = json (use jsonb)"));
            }
        }
        Ok((self.operand(a, target)?, self.operand(b, target)?))
    }

    fn operand(&self, t: Term, target: Option<PgType>) -> Result<Operand, WhereError> {
        Ok(match t {
            Term::Col { name, ty, .. } => Operand::Col { name, ty },
            Term::Typed(v, _) => Operand::Lit(v),
            Term::Null => Operand::Lit(Val::Null),
            Term::Bool(b) => Operand::Lit(Val::Bool(b)),
            Term::Num(n) => Operand::Lit(coerce_num(target, &n)?),
            Term::Str(s) => Operand::Lit(match target {
                Some(ty) => coerce_str(ty, &s)?,
                None => Val::Text(s),
            }),
            Term::Pred(_) => return Err(err("a boolean expression cannot be used as a value")),
        })
    }

    fn pred(&self, e: &Expr, depth: usize) -> Result<Node, WhereError> {
        match self.term(e, depth)? {
            Term::Pred(n) => Ok(n),
            Term::Bool(b) | Term::Typed(Val::Bool(b), _) => Ok(Node::Const(Some(b))),
            Term::Null => Ok(Node::Const(None)),
            Term::Col {
                name,
                ty: PgType::Bool,
                dims: 0,
            } => Ok(Node::Truth(Operand::Col {
                name,
                ty: PgType::Bool,
            })),
            _ => Err(err(format!(
                "argument of a boolean operator must be boolean: {e}"
            ))),
        }
    }

    fn value_operand(&self, e: &Expr, depth: usize) -> Result<Term, WhereError> {
        match self.term(e, depth)? {
            Term::Pred(_) => Err(err(format!("expected a value, got a boolean expression: {e}"))),
            t => Ok(t),
        }
    }

    fn term(&self, e: &Expr, depth: usize) -> Result<Term, WhereError> {
        if depth > MAX_DEPTH {
            return Err(err("expression is nested too deeply"));
        }
        let d = depth + 1;
        match e {
            Expr::Identifier(i) => self.column(ident_name(i)),
            Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                [t, c] if ident_name(t) == self.table.name => self.column(ident_name(c)),
                _ => Err(err(format!("unknown column reference {e}"))),
            },
            Expr::Value(v) => self.literal(&v.value),
            Expr::Nested(inner) => self.term(inner, d),
            Expr::UnaryOp {
                op: UnaryOperator::Not,
                expr,
            } => Ok(Term::Pred(Node::Not(Box::new(self.pred(expr, d)?)))),
            Expr::UnaryOp {
                op: op @ (UnaryOperator::Minus | UnaryOperator::Plus),
                expr,
            } => match self.term(expr, d)? {
                Term::Num(n) if !n.starts_with(['-', '+']) => Ok(Term::Num(if *op == UnaryOperator::Minus {
                    format!("-{n}")
                } else {
                    n
                })),
                _ => Err(err(format!("unary {op} is only supported on number literals"))),
            },
            Expr::BinaryOp { left, op, right } => {
                let cmp = match op {
                    BinaryOperator::And => {
                        return Ok(Term::Pred(Node::And(
                            Box::new(self.pred(left, d)?),
                            Box::new(self.pred(right, d)?),
                        )))
                    }
                    BinaryOperator::Or => {
                        return Ok(Term::Pred(Node::Or(
                            Box::new(self.pred(left, d)?),
                            Box::new(self.pred(right, d)?),
                        )))
                    }
                    BinaryOperator::Eq => (CmpOp::Eq, "="),
                    BinaryOperator::NotEq => (CmpOp::NotEq, "<>"),
                    BinaryOperator::Lt => (CmpOp::Lt, "<"),
                    BinaryOperator::LtEq => (CmpOp::LtEq, "<="),
                    BinaryOperator::Gt => (CmpOp::Gt, ">"),
                    BinaryOperator::GtEq => (CmpOp::GtEq, ">="),
                    other => return Err(err(format!("operator {other} is not supported"))),
                };
                let (a, b) = (self.value_operand(left, d)?, self.value_operand(right, d)?);
                let (a, b) = self.operands(a, b, cmp.1)?;
                Ok(Term::Pred(Node::Cmp(cmp.0, a, b)))
            }
            Expr::IsNull(inner) | Expr::IsNotNull(inner) => {
                let t = self.value_operand(inner, d)?;
                let o = match t {
                    Term::Col { name, ty, .. } => Operand::Col { name, ty },
                    other => self.operand(other, None)?,
                };
                Ok(Term::Pred(Node::IsNull(o, matches!(e, Expr::IsNotNull(_)))))
            }
            Expr::In {
                expr,
                target: InTarget::List(list),
                negated,
                ..
            } => self.in_list(expr, list, *negated, d),
            Expr::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let lo = self.operands(self.value_operand(expr, d)?, self.value_operand(low, d)?, ">=")?;
                let hi = self.operands(self.value_operand(expr, d)?, self.value_operand(high, d)?, "<=")?;
                let node = Node::And(
                    Box::new(Node::Cmp(CmpOp::GtEq, lo.0, lo.1)),
                    Box::new(Node::Cmp(CmpOp::LtEq, hi.0, hi.1)),
                );
                Ok(Term::Pred(if *negated {
                    Node::Not(Box::new(node))
                } else {
                    node
                }))
            }
            Expr::Like {
                negated,
                any: false,
                expr,
                pattern,
                escape_char: None,
            } => self.like(expr, pattern, *negated, false, d),
            Expr::ILike {
                negated,
                any: false,
                expr,
                pattern,
                escape_char: None,
            } => self.like(expr, pattern, *negated, true, d),
            Expr::Cast {
                kind: CastKind::Cast | CastKind::DoubleColon,
                expr,
                data_type,
                format: None,
            } => {
                let ty = self.cast_type(&data_type.to_string())?;
                let t = self.value_operand(expr, d)?;
                self.cast(t, ty)
            }
            Expr::TypedString(ts) => {
                let ty = self.cast_type(&ts.data_type.to_string())?;
                match self.literal(&ts.value.value)? {
                    t @ Term::Str(_) => self.cast(t, ty),
                    _ => Err(err(format!("unsupported typed literal {e}"))),
                }
            }
            other => {
                let text: String = other.to_string().chars().take(60).collect();
                Err(err(format!("unsupported expression: {text}")))
            }
        }
    }

    fn in_list(&self, expr: &Expr, list: &[Expr], negated: bool, d: usize) -> Result<Term, WhereError> {
        if list.is_empty() {
            return Err(err("IN list must not be empty"));
        }
        let mut items = Vec::with_capacity(list.len());
        let mut subject = None;
        for item in list {
            let (a, b) = self.operands(self.value_operand(expr, d)?, self.value_operand(item, d)?, "=")?;
            subject = Some(a);
            items.push(b);
        }
        let subject = subject.ok_or_else(|| err("IN list must not be empty"))?;
        Ok(Term::Pred(Node::In(subject, items, negated)))
    }

    fn like(
        &self,
        expr: &Expr,
        pattern: &Expr,
        negated: bool,
        ci: bool,
        d: usize,
    ) -> Result<Term, WhereError> {
        let subject = match self.value_operand(expr, d)? {
            Term::Col { name, ty, dims: 0 } if ty.category() == Category::Text => Operand::Col { name, ty },
            Term::Str(s) => Operand::Lit(Val::Text(s)),
            _ => return Err(err("LIKE/ILIKE needs a text operand")),
        };
        let pattern = match self.value_operand(pattern, d)? {
            Term::Str(s) => s,
            Term::Null => return Ok(Term::Pred(Node::Const(None))),
            _ => {
                return Err(err(
                    "the LIKE/ILIKE pattern must be a string literal or parameter",
                ))
            }
        };
        Ok(Term::Pred(Node::Like {
            operand: subject,
            pattern,
            negated,
            case_insensitive: ci,
        }))
    }
}

#[cfg(test)]
mod tests;
