//! Property "fuzz" tests for the schema header, the array-literal parser and value typing.
//!
//! Each property runs `EDDY_FUZZ_CASES` cases (default 2000), so CI stays in seconds; raise it
//! locally (`EDDY_FUZZ_CASES=200000 cargo test --release --test fuzz_values`) for a longer hunt.
//! Nothing may panic on any input; structured generators check exact round trips.

use eddy::protocol::array::{parse_array, render_array, ArrayElem};
use eddy::protocol::schema::{ColumnInfo, Schema};
use eddy::protocol::value::{parse_value, Parsers, Value};
use proptest::prelude::*;

mod fuzz_support;

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(fuzz_support::cases(2000))
}

/// Strings dense in array-literal syntax, so the parser's branches are hit often.
fn arrayish() -> impl Strategy<Value = String> {
    proptest::string::string_regex(r#"[ \[\]{}",;\\:=0-9a-cNUL\-é\t]{0,48}"#).unwrap()
}

/// Text that exercises quoting: specials, whitespace, NULL look-alikes, non-ASCII.
fn element_text() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::string::string_regex(r#"[a-z0-9 {}",;\\\t\n\[\]=:é€]{0,12}"#).unwrap(),
        Just("NULL".to_owned()),
        Just("null".to_owned()),
        Just(String::new()),
        any::<String>(),
    ]
}

/// A generated array element plus how to render it (so rendering varies independently of
/// content).
#[derive(Debug, Clone)]
enum Node {
    Null(u8),
    Text(String, u8),
    Arr(Vec<Node>, u8),
}

fn node() -> impl Strategy<Value = Node> {
    let leaf = prop_oneof![
        any::<u8>().prop_map(Node::Null),
        (element_text(), any::<u8>()).prop_map(|(s, st)| Node::Text(s, st)),
    ];
    leaf.prop_recursive(5, 48, 5, |inner| {
        (proptest::collection::vec(inner, 0..5), any::<u8>()).prop_map(|(v, st)| Node::Arr(v, st))
    })
}

fn expected(n: &Node) -> ArrayElem {
    match n {
        Node::Null(_) => ArrayElem::Null,
        Node::Text(s, _) => ArrayElem::Text(s.clone()),
        Node::Arr(v, _) => ArrayElem::Array(v.iter().map(expected).collect()),
    }
}

fn pad(out: &mut String, style: u8) {
    match style % 4 {
        0 => {}
        1 => out.push(' '),
        2 => out.push_str("\t\n"),
        _ => out.push_str("  "),
    }
}

/// Render with a per-node choice of quoting: quoted, unquoted with backslash escapes, or
/// minimal (`array_out` style); random whitespace around elements.
fn render_node(n: &Node, delim: char, out: &mut String) {
    match n {
        Node::Null(st) => {
            pad(out, st >> 4);
            out.push_str(["NULL", "null", "NuLl"][usize::from(st % 3)]);
            pad(out, st >> 6);
        }
        Node::Text(s, st) => {
            pad(out, st >> 4);
            let special = |c: char| {
                matches!(c, '{' | '}' | '"' | '\\') || c == delim || " \t\n\r\u{b}\u{c}".contains(c)
            };
            match st % 3 {
                1 if !s.is_empty() => {
                    // Unquoted: escape every special character; escape the first character too
                    // when the text spells NULL, so it stays text.
                    let force_first = s.eq_ignore_ascii_case("NULL");
                    for (i, c) in s.chars().enumerate() {
                        if special(c) || (i == 0 && force_first) || (st & 0x08 != 0 && c.is_alphanumeric()) {
                            out.push('\\');
                        }
                        out.push(c);
                    }
                }
                2 => {
                    out.push_str(render_array(&[ArrayElem::Text(s.clone())], delim).trim_matches(['{', '}']))
                }
                _ => {
                    out.push('"');
                    for c in s.chars() {
                        if c == '"' || c == '\\' || (st & 0x08 != 0 && c == 'a') {
                            out.push('\\');
                        }
                        out.push(c);
                    }
                    out.push('"');
                }
            }
            pad(out, st >> 6);
        }
        Node::Arr(v, st) => {
            pad(out, st >> 4);
            out.push('{');
            for (i, c) in v.iter().enumerate() {
                if i > 0 {
                    out.push(delim);
                }
                render_node(c, delim, out);
            }
            out.push('}');
            pad(out, st >> 6);
        }
    }
}

fn column_info() -> impl Strategy<Value = ColumnInfo> {
    let ty = prop_oneof![
        Just("int2".to_owned()),
        Just("int4".to_owned()),
        Just("int8".to_owned()),
        Just("float4".to_owned()),
        Just("float8".to_owned()),
        Just("bool".to_owned()),
        Just("json".to_owned()),
        Just("jsonb".to_owned()),
        Just("box".to_owned()),
        Just("text".to_owned()),
        any::<String>(),
    ];
    (ty, 0u32..4, any::<bool>()).prop_map(|(t, dims, nn)| ColumnInfo {
        not_null: nn,
        ..ColumnInfo::array(&t, dims)
    })
}

fn full_column_info() -> impl Strategy<Value = ColumnInfo> {
    let opt = || proptest::option::of(any::<i32>());
    (
        (
            any::<String>(),
            any::<u32>(),
            any::<bool>(),
            proptest::option::of(any::<u32>()),
        ),
        (opt(), opt(), opt(), opt(), opt()),
        proptest::option::of(any::<String>()),
    )
        .prop_map(
            |(
                (type_name, dims, not_null, pk_index),
                (max_length, length, precision, scale, type_mod),
                fields,
            )| {
                ColumnInfo {
                    type_name,
                    dims,
                    not_null,
                    pk_index,
                    max_length,
                    length,
                    precision,
                    scale,
                    fields,
                    type_mod,
                }
            },
        )
}

/// JSON values shaped like (possibly broken) schema headers.
fn headerish() -> impl Strategy<Value = String> {
    let scalar = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        "[a-z_]{0,6}".prop_map(serde_json::Value::from),
    ];
    let field = prop_oneof![
        Just("type"),
        Just("dims"),
        Just("not_null"),
        Just("pk_index"),
        Just("max_length"),
        Just("length"),
        Just("precision"),
        Just("scale"),
        Just("fields"),
        Just("type_mod"),
        Just("other"),
    ];
    let info = proptest::collection::vec((field, scalar.clone()), 0..6)
        .prop_map(|kv| serde_json::Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()));
    let col = prop_oneof![4 => info, 1 => scalar];
    proptest::collection::vec((any::<String>(), col), 0..5).prop_map(|cols| {
        let body: Vec<String> = cols
            .iter()
            .map(|(k, v)| format!("{}:{}", serde_json::Value::from(k.as_str()), v))
            .collect();
        format!("{{{}}}", body.join(","))
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn schema_header_never_panics(s in any::<String>(), bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = Schema::from_header(&s);
        let _ = Schema::from_header(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn schema_headerish_parses_or_errors_and_round_trips(h in headerish()) {
        if let Ok(s) = Schema::from_header(&h) {
            prop_assert_eq!(Schema::from_header(&s.to_header()), Ok(s));
        }
    }

    #[test]
    fn schema_to_header_round_trips(cols in proptest::collection::vec((any::<String>(), full_column_info()), 0..6)) {
        let mut schema = Schema::new();
        for (name, info) in cols {
            schema.insert(&name, info);
        }
        let header = schema.to_header();
        let back = Schema::from_header(&header);
        let order = |s: &Schema| s.columns().map(|(c, _)| c.to_string()).collect::<Vec<_>>();
        prop_assert_eq!(back.as_ref().map(order), Ok(order(&schema)));
        prop_assert_eq!(back, Ok(schema));
    }

    #[test]
    fn array_parser_never_panics(
        s in any::<String>(),
        a in arrayish(),
        bytes in proptest::collection::vec(any::<u8>(), 0..64),
        semi in any::<bool>(),
    ) {
        let delim = if semi { ';' } else { ',' };
        let _ = parse_array(&s, delim);
        let _ = parse_array(&a, delim);
        let _ = parse_array(&String::from_utf8_lossy(&bytes), delim);
    }

    #[test]
    fn rendered_trees_parse_back_equal(children in proptest::collection::vec(node(), 0..6), semi in any::<bool>(), st in any::<u8>()) {
        let delim = if semi { ';' } else { ',' };
        let root = Node::Arr(children, st);
        let mut lit = String::new();
        render_node(&root, delim, &mut lit);
        let ArrayElem::Array(want) = expected(&root) else { unreachable!() };
        prop_assert_eq!(parse_array(&lit, delim), Ok(want.clone()), "literal {}", lit);
        prop_assert_eq!(parse_array(&render_array(&want, delim), delim), Ok(want));
    }

    #[test]
    fn parse_value_never_panics(info in column_info(), s in any::<String>(), a in arrayish(), text_only in any::<bool>()) {
        let parsers = if text_only { Parsers::text_only() } else { Parsers::default() };
        let _ = parse_value(&info, Some(&s), &parsers);
        let _ = parse_value(&info, Some(&a), &parsers);
        let _ = parse_value(&info, None, &parsers);
    }

    #[test]
    fn integers_round_trip(a in any::<i16>(), b in any::<i32>(), c in any::<i64>()) {
        let p = Parsers::default();
        prop_assert_eq!(parse_value(&ColumnInfo::scalar("int2"), Some(&a.to_string()), &p), Ok(Value::Int(a.into())));
        prop_assert_eq!(parse_value(&ColumnInfo::scalar("int4"), Some(&b.to_string()), &p), Ok(Value::Int(b)));
        prop_assert_eq!(parse_value(&ColumnInfo::scalar("int8"), Some(&c.to_string()), &p), Ok(Value::BigInt(c)));
        let wide = i64::from(b) * 70_000;
        let r = parse_value(&ColumnInfo::scalar("int2"), Some(&wide.to_string()), &p);
        prop_assert_eq!(r.is_ok(), i16::try_from(wide).is_ok());
    }

    #[test]
    fn floats_round_trip(f in any::<f64>()) {
        // Postgres spells the specials NaN / Infinity / -Infinity.
        let text = if f.is_nan() { "NaN".to_owned() } else if f.is_infinite() {
            if f > 0.0 { "Infinity".to_owned() } else { "-Infinity".to_owned() }
        } else { format!("{f:e}") };
        match parse_value(&ColumnInfo::scalar("float8"), Some(&text), &Parsers::default()) {
            Ok(Value::Float(g)) => prop_assert!(g == f || (g.is_nan() && f.is_nan()), "{} -> {}", text, g),
            other => prop_assert!(false, "{} -> {:?}", text, other),
        }
    }

    #[test]
    fn typed_int8_arrays_round_trip(rows in proptest::collection::vec(proptest::collection::vec(proptest::option::of(any::<i64>()), 3), 0..4)) {
        let tree: Vec<ArrayElem> = rows.iter().map(|r| ArrayElem::Array(r.iter().map(|v| match v {
            Some(n) => ArrayElem::Text(n.to_string()),
            None => ArrayElem::Null,
        }).collect())).collect();
        let want = Value::Array(rows.iter().map(|r| Value::Array(r.iter().map(|v| match v {
            Some(n) => Value::BigInt(*n),
            None => Value::Null,
        }).collect())).collect());
        let lit = render_array(&tree, ',');
        prop_assert_eq!(parse_value(&ColumnInfo::array("int8", 2), Some(&lit), &Parsers::default()), Ok(want));
    }

    #[test]
    fn json_round_trips(keys in proptest::collection::vec(any::<String>(), 0..4), n in any::<i64>()) {
        let doc = serde_json::json!({ "keys": keys, "n": n, "nested": [{"k": keys.first()}] });
        let v = parse_value(&ColumnInfo::scalar("jsonb"), Some(&doc.to_string()), &Parsers::default());
        prop_assert_eq!(v, Ok(Value::Json(doc)));
    }
}
