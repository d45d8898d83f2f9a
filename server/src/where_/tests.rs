use super::*;
use crate::schema::parse_schema;
use eddy::protocol::Row;

fn table() -> Table {
    let c = parse_schema(include_str!("../../examples/todo.sql")).unwrap();
    c.table("todos").unwrap().clone()
}

fn compile(sql: &str) -> Result<Predicate, WhereError> {
    Predicate::compile(sql, &table(), &HashMap::new())
}

fn row() -> Row {
    Row::from_pairs([
        ("id", Some("42")),
        ("title", Some("Buy Milk")),
        ("done", Some("f")),
        ("created_at", Some("2024-01-02 03:04:05+00")),
        ("meta", Some(r#"{"a": 1}"#)),
        ("tags", Some("{1,2}")),
        ("priority", None),
        ("score", Some("NaN")),
    ])
}

fn check(sql: &str) -> bool {
    compile(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .matches(&row())
}

#[test]
fn comparisons_and_logic() {
    for (sql, want) in [
        ("id = 42", true),
        ("id = '42'", true),
        ("id <> 42", false),
        ("id != 41", true),
        ("id > 41 AND id < 43", true),
        ("id >= 43 OR title = 'Buy Milk'", true),
        ("NOT done", true),
        ("done", false),
        ("done = false", true),
        ("done = 'f'", true),
        ("\"title\" = 'Buy Milk'", true),
        ("todos.id = 42", true),
        ("ID = 42", true),
        ("priority IS NULL", true),
        ("priority IS NOT NULL", false),
        ("priority = 1", false),
        ("NOT (priority = 1)", false),
        ("priority = 1 OR id = 42", true),
        ("id IN (1, 2, 42)", true),
        ("id NOT IN (1, 2)", true),
        ("id NOT IN (1, NULL)", false),
        ("id BETWEEN 40 AND 50", true),
        ("id NOT BETWEEN 40 AND 50", false),
        ("title LIKE 'Buy%'", true),
        ("title LIKE 'buy%'", false),
        ("title ILIKE 'buy%'", true),
        ("title NOT ILIKE '%MILK'", false),
        ("created_at > '2024-01-01T00:00:00Z'", true),
        ("created_at < timestamptz '2024-01-02 04:00:00+01:00'", false),
        ("created_at = '2024-01-02T05:04:05+02:00'", true),
        ("score > 1e300", true),
        ("id = 42.0", true),
        ("id::text = '42'", true),
        ("CAST(id AS int4) = 42", true),
        ("meta = '{\"a\":1}'", true),
        ("id = -1", false),
        ("true", true),
        ("NULL", false),
        ("(id = 42)", true),
    ] {
        assert_eq!(check(sql), want, "{sql}");
    }
}

#[test]
fn params() {
    let mut p = HashMap::new();
    p.insert(1, "42".to_string());
    p.insert(2, "Buy%".to_string());
    let pred = Predicate::compile("id = $1 AND title LIKE $2", &table(), &p).unwrap();
    assert!(pred.matches(&row()));
    let e = Predicate::compile("id = $3", &table(), &p).unwrap_err();
    assert_eq!(e.field, "params");
    p.insert(1, "x".to_string());
    assert_eq!(
        Predicate::compile("id = $1", &table(), &p).unwrap_err().field,
        "where"
    );
}

#[test]
fn rejections() {
    for sql in [
        "",
        "id",
        "id = ",
        "nope = 1",
        "title = 5",
        "id = 'abc'",
        "lower(title) = 'x'",
        "id = (SELECT 1)",
        "id IN (SELECT id FROM todos)",
        "EXISTS (SELECT 1)",
        "id = 1; DROP TABLE todos",
        "tags = '{1}'",
        "meta > '{}'",
        "id + 1 = 2",
        "title || 'x' = 'y'",
        "title ~ 'x'",
        "other.id = 1",
        "id = 1 id = 2",
        "done = 2",
        "title LIKE 'x' ESCAPE '!'",
        "id::geometry = 1",
        "CASE WHEN true THEN true END",
        "id = ANY('{1}')",
        "pg_sleep(1) IS NULL",
        "title COLLATE \"C\" = 'x'",
        "-title = 'x'",
    ] {
        assert!(compile(sql).is_err(), "{sql:?} should be rejected");
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let sql = format!("{}id = 1{}", "(".repeat(500), ")".repeat(500));
    assert!(compile(&sql).is_err());
    let chain = vec!["id = 1"; 400].join(" OR ");
    assert!(compile(&chain).is_err());
    let ok = vec!["id = 1"; 50].join(" OR ");
    assert!(compile(&ok).is_ok());
}
