//! Hostile `where`, `columns` and `table` values: every one is a 400 with a field error, and
//! the server and its data are unharmed afterwards.

mod common;

use common::{sync, Server};

const WHERE_CORPUS: &[&str] = &[
    "1=1; DROP TABLE todos",
    "'; DROP TABLE todos; --",
    "id = 1; DELETE FROM todos",
    "id = 1 UNION SELECT * FROM todos",
    "id IN (SELECT id FROM todos)",
    "EXISTS (SELECT 1 FROM sqlite_master)",
    "id = (SELECT max(id) FROM todos)",
    "(SELECT 1) = 1",
    "pg_sleep(10) IS NULL",
    "sqlite_version() = '3'",
    "load_extension('x') IS NULL",
    "lower(title) = 'a'",
    "title = 'a' OR 1=1) --",
    "title = 'unterminated",
    "title = $$a$$",
    "title = E'\\x27'; DROP TABLE todos",
    "id = 1 /* unterminated",
    "id = 1 */",
    "title || 'x' = 'y'",
    "id + 1 = 2",
    "id * 2 > 3",
    "title ~ '.*'",
    "title SIMILAR TO 'a'",
    "title LIKE 'a' ESCAPE 'b'",
    "id = ANY(ARRAY[1,2])",
    "CASE WHEN id = 1 THEN true ELSE false END",
    "COALESCE(done, true)",
    "done IS TRUE",
    "id IS DISTINCT FROM 1",
    "title COLLATE \"C\" = 'a'",
    "nope = 1",
    "todos.nope = 1",
    "other.id = 1",
    "public.todos.id = 1",
    "_eddy_log.lsn = 1",
    "rowid = 1",
    "oid = 1",
    "title = 5",
    "id = 'not a number'",
    "done = 'maybe'",
    "created_at > 'yesterday'",
    "tags = '{1}'",
    "meta > '{}'",
    "id::regclass = 1",
    "id::text[] = '{}'",
    "CAST(id AS evil) = 1",
    "id = $0",
    "id = $99",
    "id = ?",
    "id = :id",
    "id = @id",
    "id",
    "title",
    "1",
    "'a'",
    "id = ",
    "= 1",
    "id = 1 AND",
    "((((id = 1)",
    "id = 1))",
    "id = 1 id = 2",
    "id = 1\u{0}",
    "id = 1 ORDER BY id",
    "id = 1 LIMIT 1",
    "id = 1 GROUP BY id",
    "* = 1",
    "todos.* IS NULL",
    "ROW(id) = ROW(1)",
    "(id, title) = (1, 'a')",
    "id = INTERVAL '1 day'",
    "NOT",
    "id BETWEEN 1",
    "title LIKE id",
    "title ILIKE 5",
    "-title = 'a'",
    "done = NOT done",
    "(id = 1) = true",
];

fn deep_nesting() -> String {
    format!("{}id = 1{}", "(".repeat(300), ")".repeat(300))
}

fn long_chain() -> String {
    vec!["id = 1"; 2000].join(" OR ")
}

const COLUMNS_CORPUS: &[&str] = &[
    "title",
    "id,nope",
    "*",
    "id,*",
    "id,title;--",
    "id,title FROM todos",
    "id,(select 1)",
    "id,\"unterminated",
    "id,\"\"",
    "id,,title",
    ",id",
    "id,",
    "id title",
    "id,title'",
    "id,\"title\"\"",
    "id,lower(title)",
    "id,rowid",
    "id,1",
    "id,\u{0}",
    "id,TITLE\"",
    "id,\"Title\"",
    "",
];

const TABLE_CORPUS: &[&str] = &[
    "",
    "nope",
    "todos; DROP TABLE todos",
    "todos--",
    "\"todos\"; --",
    "todos\"",
    "\"Todos\"",
    "sqlite_master",
    "sqlite_schema",
    "_eddy_log",
    "_eddy_meta",
    "public._eddy_shapes",
    "pg_catalog.pg_tables",
    "information_schema.tables",
    "other.todos",
    "public.todos.extra",
    "../etc/passwd",
    "todos/../labels",
    "todos\u{0}",
    "todos labels",
    "todos,labels",
    "(SELECT 1)",
    "todos WHERE 1=1",
    "*",
    ".todos",
    "todos.",
];

#[test]
fn every_hostile_input_is_a_400_and_nothing_is_harmed() {
    let s = Server::start(&["--max-where-bytes", "4096"]);
    s.insert_todo(1, "a", false);
    s.insert_todo(2, "b", true);
    let deep = deep_nesting();
    let chain = long_chain();
    let mut wheres: Vec<&str> = WHERE_CORPUS.to_vec();
    wheres.push(&deep);
    wheres.push(&chain);
    let mut total = 0;
    for w in &wheres {
        let r = s.shape(&[("table", "todos"), ("offset", "-1"), ("where", w)]);
        assert_eq!(r.status, 400, "where {w:?} → {} {}", r.status, r.body);
        let j = r.json();
        assert_eq!(j["message"], "Invalid request");
        let field = if j["errors"].get("params").is_some() {
            "params"
        } else {
            "where"
        };
        assert!(j["errors"][field][0].is_string(), "where {w:?} → {j}");
        total += 1;
    }
    for c in COLUMNS_CORPUS {
        let r = s.shape(&[("table", "todos"), ("offset", "-1"), ("columns", c)]);
        assert_eq!(r.status, 400, "columns {c:?} → {}", r.body);
        assert!(
            r.json()["errors"]["columns"][0].is_string(),
            "columns {c:?} → {}",
            r.body
        );
        total += 1;
    }
    for t in TABLE_CORPUS {
        let r = s.shape(&[("table", t), ("offset", "-1")]);
        assert_eq!(r.status, 400, "table {t:?} → {}", r.body);
        assert!(
            r.json()["errors"]["table"][0].is_string(),
            "table {t:?} → {}",
            r.body
        );
        total += 1;
    }
    assert!(total >= 50, "corpus size {total}");
    // Still healthy, data intact.
    assert_eq!(s.get("/v1/health").status, 200);
    let (_, _, msgs, _) = sync(&s, &[("table", "todos")]);
    assert_eq!(msgs.len(), 2);
    let (_, _, labels, _) = sync(&s, &[("table", "labels")]);
    assert!(labels.is_empty());
}

#[test]
fn hostile_values_inside_literals_are_just_data() {
    let s = Server::start(&[]);
    let evil = "x'); DROP TABLE todos; --";
    s.write(
        serde_json::json!({"ops":[{"op":"insert","table":"todos","row":{"id":1,"title":evil,"done":false}}]}),
    );
    let (_, _, msgs, _) = sync(
        &s,
        &[("table", "todos"), ("where", "title = $1"), ("params[1]", evil)],
    );
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["value"]["title"], evil);
    let quoted = format!("title = '{}'", evil.replace('\'', "''"));
    let (_, _, msgs, _) = sync(&s, &[("table", "todos"), ("where", &quoted)]);
    assert_eq!(msgs.len(), 1);
}

#[test]
fn oversized_where_is_rejected_before_parsing() {
    let s = Server::start(&["--max-where-bytes", "64"]);
    let w = format!("title = '{}'", "a".repeat(100));
    let r = s.shape(&[("table", "todos"), ("offset", "-1"), ("where", &w)]);
    assert_eq!(r.status, 400);
    assert!(r.json()["errors"]["where"][0].as_str().unwrap().contains("64"));
}
