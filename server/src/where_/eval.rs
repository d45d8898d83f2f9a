//! Evaluating a compiled `where` predicate against a row (Postgres three-valued logic).
//!
//! Rows are wire rows (column → Postgres text). Each column value is interpreted through the
//! type the predicate compiled it as; a value that does not parse as that type behaves as NULL
//! (it cannot happen for rows the store validated).

use std::cmp::Ordering;

use eddy::protocol::Row;

use super::{CmpOp, Node, Operand, Val};
use crate::types::{parse_float_text, PgType};

/// The value of a column's text as `ty`.
pub fn val_of(ty: PgType, text: &str) -> Option<Val> {
    Some(match ty {
        PgType::Int2 | PgType::Int4 | PgType::Int8 => Val::Int(text.trim().parse().ok()?),
        PgType::Float4 | PgType::Float8 | PgType::Numeric => Val::Float(parse_float_text(text)?),
        PgType::Bool => match text {
            "t" => Val::Bool(true),
            "f" => Val::Bool(false),
            _ => return None,
        },
        // bpchar compares without its trailing padding, as in Postgres.
        PgType::Bpchar => Val::Text(text.trim_end_matches(' ').to_string()),
        _ => Val::Text(text.to_string()),
    })
}

fn float_cmp(a: f64, b: f64) -> Ordering {
    // Postgres orders NaN above every other value and equal to itself.
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// Compare two non-null values of compatible types.
pub fn compare(a: &Val, b: &Val) -> Option<Ordering> {
    Some(match (a, b) {
        (Val::Int(x), Val::Int(y)) => x.cmp(y),
        (Val::Int(x), Val::Float(y)) => float_cmp(*x as f64, *y),
        (Val::Float(x), Val::Int(y)) => float_cmp(*x, *y as f64),
        (Val::Float(x), Val::Float(y)) => float_cmp(*x, *y),
        (Val::Text(x), Val::Text(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Val::Bool(x), Val::Bool(y)) => x.cmp(y),
        _ => return None,
    })
}

fn operand(o: &Operand, row: &Row) -> Option<Val> {
    match o {
        Operand::Lit(v) => match v {
            Val::Null => None,
            v => Some(v.clone()),
        },
        Operand::Col { name, ty } => row.get(name).flatten().and_then(|t| val_of(*ty, t)),
    }
}

fn cmp_op(op: CmpOp, ord: Ordering) -> bool {
    match op {
        CmpOp::Eq => ord == Ordering::Equal,
        CmpOp::NotEq => ord != Ordering::Equal,
        CmpOp::Lt => ord == Ordering::Less,
        CmpOp::LtEq => ord != Ordering::Greater,
        CmpOp::Gt => ord == Ordering::Greater,
        CmpOp::GtEq => ord != Ordering::Less,
    }
}

/// SQL LIKE: `%` any run, `_` any one character, `\` escapes the next character.
pub fn like(text: &str, pattern: &str, case_insensitive: bool) -> bool {
    let fold = |s: &str| {
        if case_insensitive {
            s.to_lowercase()
        } else {
            s.to_string()
        }
    };
    let t: Vec<char> = fold(text).chars().collect();
    let p: Vec<char> = fold(pattern).chars().collect();
    // Iterative matcher with backtracking to the last `%` (linear memory, no recursion).
    let (mut ti, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('%') => {
                pi += 1;
                star = Some((pi, ti));
                continue;
            }
            Some('\\') if p.get(pi + 1) == t.get(ti) && pi + 1 < p.len() => {
                pi += 2;
                ti += 1;
                continue;
            }
            Some('_') => {
                pi += 1;
                ti += 1;
                continue;
            }
            Some(c) if *c != '\\' && Some(c) == t.get(ti) => {
                pi += 1;
                ti += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sp, st)) => {
                pi = sp;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    while p.get(pi) == Some(&'%') {
        pi += 1;
    }
    pi == p.len()
}

/// Evaluate `node` against `row`: `Some(true)`, `Some(false)` or `None` (SQL NULL).
pub fn eval(node: &Node, row: &Row) -> Option<bool> {
    match node {
        Node::Const(b) => *b,
        Node::Truth(o) => match operand(o, row)? {
            Val::Bool(b) => Some(b),
            _ => None,
        },
        Node::Cmp(op, a, b) => {
            let (a, b) = (operand(a, row)?, operand(b, row)?);
            compare(&a, &b).map(|o| cmp_op(*op, o))
        }
        Node::And(a, b) => match (eval(a, row), eval(b, row)) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        Node::Or(a, b) => match (eval(a, row), eval(b, row)) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        Node::Not(a) => eval(a, row).map(|b| !b),
        Node::IsNull(o, negated) => Some(operand(o, row).is_none() != *negated),
        Node::In(o, list, negated) => {
            let v = operand(o, row)?;
            let mut saw_null = false;
            for item in list {
                match operand(item, row) {
                    None => saw_null = true,
                    Some(x) => {
                        if compare(&v, &x) == Some(Ordering::Equal) {
                            return Some(!*negated);
                        }
                    }
                }
            }
            if saw_null {
                None
            } else {
                Some(*negated)
            }
        }
        Node::Like {
            operand: o,
            pattern,
            negated,
            case_insensitive,
        } => match operand(o, row)? {
            Val::Text(t) => Some(like(&t, pattern, *case_insensitive) != *negated),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns() {
        assert!(like("hello", "h%o", false));
        assert!(like("hello", "%", false));
        assert!(like("", "%", false));
        assert!(!like("hello", "h_o", false));
        assert!(like("hello", "h___o", false));
        assert!(like("HeLLo", "hello", true));
        assert!(!like("HeLLo", "hello", false));
        assert!(like("50%", "50\\%", false));
        assert!(!like("500", "50\\%", false));
        assert!(like("a%b%c", "a%c", false));
        assert!(like("mississippi", "%iss%ppi", false));
        assert!(!like("abc", "abcd", false));
    }

    #[test]
    fn nan_orders_last() {
        assert_eq!(
            compare(&Val::Float(f64::NAN), &Val::Float(1e308)),
            Some(Ordering::Greater)
        );
        assert_eq!(
            compare(&Val::Float(f64::NAN), &Val::Float(f64::NAN)),
            Some(Ordering::Equal)
        );
        assert_eq!(compare(&Val::Int(2), &Val::Float(1.5)), Some(Ordering::Greater));
        assert_eq!(compare(&Val::Int(2), &Val::Text("2".into())), None);
    }
}
