//! Deterministic no-panic fuzzing of every parser that sees request input: random strings
//! built from SQL-ish fragments, digits, quotes and multi-byte characters.

use std::collections::HashMap;

use serde_json::Value as Json;

use crate::ident::parse_ident_list;
use crate::schema::parse_schema;
use crate::time::{parse_date, parse_timestamp};
use crate::types::{to_text, ColType, PgType};
use crate::where_::Predicate;

const PIECES: &[&str] = &[
    "id",
    "title",
    "done",
    "tags",
    "meta",
    "\"",
    "'",
    "''",
    "(",
    ")",
    ",",
    ".",
    ";",
    "::",
    "=",
    "<",
    ">",
    "<>",
    "!",
    " ",
    "AND",
    "OR",
    "NOT",
    "IN",
    "LIKE",
    "ILIKE",
    "IS",
    "NULL",
    "TRUE",
    "$1",
    "$",
    "-",
    "+",
    "*",
    "/",
    "%",
    "_",
    "\\",
    "é",
    "２",
    "😀",
    "\0",
    "0",
    "9",
    "1e308",
    "2024-01-01",
    "T",
    "Z",
    ":",
    "+01:00",
    "int8",
    "text",
    "CAST",
    "AS",
    "SELECT",
    "--",
    "/*",
    "*/",
    "[",
    "]",
    "{",
    "}",
    "E'",
    "$$",
    "BETWEEN",
    "ESCAPE",
    "ANY",
    "ARRAY",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn string(&mut self) -> String {
        let n = self.next() % 12;
        (0..n)
            .map(|_| PIECES[(self.next() % PIECES.len() as u64) as usize])
            .collect()
    }
}

#[test]
fn request_parsers_never_panic() {
    let catalog = parse_schema(include_str!("../examples/todo.sql")).unwrap();
    let table = catalog.table("todos").unwrap();
    let mut params = HashMap::new();
    params.insert(1, "5".to_string());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let types = [
        PgType::Int8,
        PgType::Float8,
        PgType::Timestamptz,
        PgType::Date,
        PgType::Uuid,
        PgType::Jsonb,
        PgType::Bool,
    ];
    for _ in 0..20_000 {
        let s = rng.string();
        let _ = Predicate::compile(&s, table, &params);
        let _ = parse_ident_list(&s, ',');
        let _ = parse_ident_list(&s, '.');
        let _ = parse_timestamp(&s, true);
        let _ = parse_date(&s);
        let _ = parse_schema(&s);
        let _ = eddy::protocol::Offset::parse(&s);
        let _ = crate::subset::parse_order_by(&s, table);
        for t in types {
            let _ = to_text(&ColType::scalar(t), &Json::String(s.clone()));
        }
    }
}
