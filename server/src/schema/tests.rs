use super::*;

const TODO: &str = include_str!("../../examples/todo.sql");

#[test]
fn parses_the_example_schema() {
    let c = parse_schema(TODO).unwrap();
    let todos = c.table("todos").unwrap();
    assert_eq!(todos.pk, vec![0]);
    let id = &todos.columns[0];
    assert_eq!(
        (id.name.as_str(), id.ty.base, id.not_null, id.pk_index),
        ("id", PgType::Int8, true, Some(0))
    );
    let tags = todos.columns.iter().find(|c| c.name == "tags").unwrap();
    assert_eq!((tags.ty.base, tags.ty.dims), (PgType::Int4, 1));
    let header: Json = serde_json::from_str(&todos.schema_header(&[0, 1])).unwrap();
    assert_eq!(header["id"], json!({"type":"int8","not_null":true,"pk_index":0}));
    let join = c.table("todo_labels").unwrap();
    assert_eq!(join.pk.len(), 2);
    assert_eq!(join.fks.len(), 2);
    assert_eq!(join.fks[0].ref_table, "todos");
}

#[test]
fn types_and_modifiers() {
    let (t, m) = parse_type("CHARACTER VARYING(20)").unwrap();
    assert_eq!((t.base, t.max_len), (PgType::Varchar, Some(20)));
    assert_eq!(m, vec![("max_length", 20)]);
    let (t, m) = parse_type("NUMERIC(10,2)").unwrap();
    assert_eq!(t.base, PgType::Numeric);
    assert_eq!(m, vec![("precision", 10), ("scale", 2)]);
    assert_eq!(parse_type("TEXT[][]").unwrap().0.dims, 2);
    assert_eq!(
        parse_type("TIMESTAMP WITH TIME ZONE").unwrap().0.base,
        PgType::Timestamptz
    );
    assert!(parse_type("GEOMETRY").is_none());
    assert!(parse_type("INT(").is_none());
}

#[test]
fn rejections_are_explicit() {
    for (sql, code) in [
        ("CREATE TABLE t (a int PRIMARY KEY, b int); CREATE TABLE u (a int PRIMARY KEY, x int REFERENCES t (b))", "EDDY_SERVER_SCHEMA_INVALID"),
        ("CREATE TABLE t (a int); CREATE TABLE u (a int PRIMARY KEY, x int REFERENCES t)", "EDDY_SERVER_SCHEMA_INVALID"),
        ("CREATE TABLE t (a geometry PRIMARY KEY)", "EDDY_SERVER_SCHEMA_UNSUPPORTED"),
        ("CREATE TABLE t (a int PRIMARY KEY, b int DEFAULT random())", "EDDY_SERVER_SCHEMA_UNSUPPORTED"),
        ("CREATE TABLE t (a int PRIMARY KEY, b int DEFAULT 'x')", "EDDY_SERVER_SCHEMA_UNSUPPORTED"),
        ("CREATE TABLE t (a int PRIMARY KEY, b int DEFAULT now())", "EDDY_SERVER_SCHEMA_INVALID"),
        ("CREATE TABLE t (a int PRIMARY KEY); CREATE TABLE u (a int PRIMARY KEY REFERENCES t ON DELETE CASCADE)", "EDDY_SERVER_SCHEMA_UNSUPPORTED"),
        ("CREATE TABLE t (a int PRIMARY KEY, b int REFERENCES nope(x))", "EDDY_SERVER_SCHEMA_INVALID"),
        ("CREATE TABLE _eddy_log (a int PRIMARY KEY)", "EDDY_SERVER_SCHEMA_INVALID"),
        ("CREATE TABLE t (a int PRIMARY KEY); CREATE TABLE T (b int PRIMARY KEY)", "EDDY_SERVER_SCHEMA_INVALID"),
        ("DROP TABLE t", "EDDY_SERVER_SCHEMA_UNSUPPORTED"),
        ("CREATE TABLE other.t (a int PRIMARY KEY)", "EDDY_SERVER_SCHEMA_UNSUPPORTED"),
        ("CREATE TABLE t (a int PRIMARY KEY", "EDDY_SERVER_SCHEMA_SYNTAX"),
        ("", "EDDY_SERVER_SCHEMA_INVALID"),
    ] {
        use eddy::ErrorCode;
        assert_eq!(parse_schema(sql).unwrap_err().code(), code, "{sql}");
    }
}

#[test]
fn quoted_names_keep_case() {
    let c = parse_schema(r#"CREATE TABLE "Mixed" ("Id" int8 PRIMARY KEY, "a,b" text, Plain text)"#).unwrap();
    let t = c.table("Mixed").unwrap();
    let names: Vec<_> = t.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, vec!["Id", "a,b", "plain"]);
}

#[test]
fn enums_are_declared_then_used() {
    let c = parse_schema(
        "CREATE TYPE mood AS ENUM ('sad', 'ok'); CREATE TABLE t (id int8 PRIMARY KEY, m mood NOT NULL, ms MOOD[]);",
    )
    .unwrap();
    let t = c.table("t").unwrap();
    assert_eq!(t.columns[1].udt.as_deref(), Some("mood"));
    assert_eq!(t.columns[1].labels, vec!["sad", "ok"]);
    assert_eq!((t.columns[2].ty.base, t.columns[2].ty.dims), (PgType::Enum, 1));
    let h: Json = serde_json::from_str(&t.schema_header(&[1, 2])).unwrap();
    assert_eq!(h["m"], json!({"type":"mood","not_null":true}));
    assert_eq!(h["ms"], json!({"type":"mood","dims":1}));
    // Use before declaration, and duplicates, are errors.
    assert!(
        parse_schema("CREATE TABLE t (id int8 PRIMARY KEY, m mood); CREATE TYPE mood AS ENUM ('a');")
            .is_err()
    );
    assert!(parse_schema(
        "CREATE TYPE m AS ENUM ('a'); CREATE TYPE m AS ENUM ('b'); CREATE TABLE t (id int8 PRIMARY KEY);"
    )
    .is_err());
}

#[test]
fn defaults() {
    let c = parse_schema(
        "CREATE TABLE t (id int8 PRIMARY KEY, n int4 DEFAULT -5, t text DEFAULT 'x', b bool DEFAULT false, \
         j jsonb DEFAULT '{}'::jsonb, a int4[] DEFAULT '[]', at timestamptz DEFAULT now(), \
         c timestamp DEFAULT CURRENT_TIMESTAMP, d date DEFAULT CURRENT_DATE, z text DEFAULT NULL)",
    )
    .unwrap();
    let t = c.table("t").unwrap();
    let d: Vec<_> = t.columns.iter().map(|c| c.default.clone()).collect();
    assert_eq!(d[0], None);
    assert_eq!(d[1], Some(DefaultValue::Literal(json!(-5))));
    assert_eq!(d[2], Some(DefaultValue::Literal(json!("x"))));
    assert_eq!(d[3], Some(DefaultValue::Literal(json!(false))));
    assert_eq!(d[4], Some(DefaultValue::Literal(json!({}))));
    assert_eq!(d[5], Some(DefaultValue::Literal(json!([]))));
    assert_eq!(d[6], Some(DefaultValue::Now));
    assert_eq!(d[7], Some(DefaultValue::Now));
    assert_eq!(d[8], Some(DefaultValue::CurrentDate));
    assert_eq!(d[9], Some(DefaultValue::Literal(Json::Null)));
}

#[test]
fn tables_without_a_primary_key_are_allowed() {
    let c = parse_schema("CREATE TABLE log (at timestamptz, msg text)").unwrap();
    let t = c.table("log").unwrap();
    assert!(t.pk.is_empty());
    assert!(t.columns.iter().all(|c| c.pk_index.is_none() && !c.not_null));
}

#[test]
fn numeric_typmods_and_defaults_keep_their_digits() {
    assert_eq!(parse_type("NUMERIC(10,2)").unwrap().0.numeric, Some((10, 2)));
    assert_eq!(parse_type("decimal(7)").unwrap().0.numeric, Some((7, 0)));
    assert_eq!(parse_type("numeric").unwrap().0.numeric, None);
    assert!(parse_type("numeric(0)").is_none());
    assert!(parse_type("numeric(3,4)").is_none());
    let c = parse_schema(
        "CREATE TABLE t (id int8 PRIMARY KEY, a numeric DEFAULT 12.50, b numeric(6,3) DEFAULT -1.5, \
         f float8 DEFAULT 0.1)",
    )
    .unwrap();
    let t = c.table("t").unwrap();
    let d: Vec<_> = t.columns.iter().map(|c| c.default.clone()).collect();
    assert_eq!(d[1], Some(DefaultValue::Literal(json!("12.50"))));
    assert_eq!(d[2], Some(DefaultValue::Literal(json!("-1.5"))));
    assert_eq!(d[3], Some(DefaultValue::Literal(json!(0.1))));
    let b = &t.columns[2];
    assert_eq!(
        crate::types::to_text(&b.ty, &json!("-1.5")).unwrap().unwrap(),
        "-1.500"
    );
    assert!(parse_schema("CREATE TABLE t (id int8 PRIMARY KEY, b numeric(3,2) DEFAULT 10)").is_err());
}
