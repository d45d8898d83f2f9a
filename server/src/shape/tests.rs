use super::*;
use crate::schema::parse_schema;

fn catalog() -> Catalog {
    parse_schema(include_str!("../../examples/todo.sql")).unwrap()
}

fn shape(q: &[(&str, &str)]) -> Result<Shape, DefError> {
    let get = |k: &str| q.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
    let p = DefParams {
        table: get("table"),
        where_sql: get("where"),
        params: BTreeMap::new(),
        columns: get("columns"),
        replica: get("replica"),
        log: get("log"),
    };
    Shape::from_params(&p, &catalog(), DefLimits { max_where_bytes: 100 })
}

fn row(id: &str, title: &str, done: &str) -> Row {
    Row::from_pairs([
        ("id", Some(id)),
        ("title", Some(title)),
        ("done", Some(done)),
        ("priority", None),
    ])
}

fn entry(kind: EntryKind, old: Option<Row>, new: Option<Row>) -> LogEntry {
    LogEntry {
        lsn: 7,
        op: 2,
        txid: 9,
        table: "todos".into(),
        kind,
        old,
        new,
    }
}

#[test]
fn definition_validation() {
    assert_eq!(shape(&[]).unwrap_err().field, "table");
    assert_eq!(shape(&[("table", "nope")]).unwrap_err().field, "table");
    assert_eq!(shape(&[("table", "other.todos")]).unwrap_err().field, "table");
    assert!(shape(&[("table", "public.todos")]).is_ok());
    assert!(shape(&[("table", "TODOS")]).is_ok());
    assert!(shape(&[("table", "\"TODOS\"")]).is_err());
    assert_eq!(
        shape(&[("table", "todos"), ("replica", "x")]).unwrap_err().field,
        "replica"
    );
    assert_eq!(
        shape(&[("table", "todos"), ("log", "x")]).unwrap_err().field,
        "log"
    );
    assert_eq!(
        shape(&[("table", "todos"), ("columns", "title")])
            .unwrap_err()
            .field,
        "columns"
    );
    assert_eq!(
        shape(&[("table", "todos"), ("columns", "id,nope")])
            .unwrap_err()
            .field,
        "columns"
    );
    let long = "id = 1 AND ".repeat(20) + "true";
    assert_eq!(
        shape(&[("table", "todos"), ("where", &long)]).unwrap_err().field,
        "where"
    );
    let s = shape(&[("table", "todos"), ("columns", "title,\"id\",title")]).unwrap();
    assert_eq!(s.def.columns, Some(vec!["id".to_string(), "title".to_string()]));
}

#[test]
fn identity_and_canonical_round_trip() {
    let a = shape(&[("table", "todos"), ("where", " done ")]).unwrap();
    let b = shape(&[("table", "public.todos"), ("where", "done")]).unwrap();
    assert_eq!(a.def, b.def);
    assert_eq!(a.def.hash(), b.def.hash());
    let c = shape(&[("table", "todos"), ("where", "done"), ("replica", "full")]).unwrap();
    assert_ne!(a.def.canonical(), c.def.canonical());
    assert_eq!(ShapeDef::from_canonical(&c.def.canonical()).unwrap(), c.def);
    assert!(a.def.hash() < 100_000_000);
}

#[test]
fn keys_escape_slashes_and_quote_names() {
    let s = shape(&[("table", "todos")]).unwrap();
    assert_eq!(
        s.key(&row("4/2", "x", "f")).as_str(),
        "\"public\".\"todos\"/\"4//2\""
    );
}

#[test]
fn enter_stay_leave_default_replica() {
    let s = shape(&[("table", "todos"), ("where", "done = false")]).unwrap();
    let open = row("1", "a", "f");
    let closed = row("1", "a", "t");
    let renamed = row("1", "b", "f");
    // insert in / out
    assert_eq!(
        s.messages_for(&entry(EntryKind::Insert, None, Some(open.clone())))[0].operation,
        Operation::Insert
    );
    assert!(s
        .messages_for(&entry(EntryKind::Insert, None, Some(closed.clone())))
        .is_empty());
    // leave: update moving out is a delete with the PK only
    let m = s.messages_for(&entry(
        EntryKind::Update,
        Some(open.clone()),
        Some(closed.clone()),
    ));
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].operation, Operation::Delete);
    assert_eq!(m[0].value, Row::from_pairs([("id", Some("1"))]));
    // enter: full row insert
    let m = s.messages_for(&entry(
        EntryKind::Update,
        Some(closed.clone()),
        Some(open.clone()),
    ));
    assert_eq!(m[0].operation, Operation::Insert);
    assert_eq!(m[0].value.get("title"), Some(Some("a")));
    assert_eq!(m[0].value.len(), 8);
    // stay: PK + changed columns
    let m = s.messages_for(&entry(
        EntryKind::Update,
        Some(open.clone()),
        Some(renamed.clone()),
    ));
    assert_eq!(m[0].operation, Operation::Update);
    assert_eq!(
        m[0].value,
        Row::from_pairs([("id", Some("1")), ("title", Some("b"))])
    );
    assert_eq!(m[0].old_value, None);
    assert_eq!(
        (
            m[0].headers.lsn,
            m[0].headers.op_position,
            m[0].headers.txids.clone()
        ),
        (Some(7), Some(2), vec![9])
    );
    // both outside: nothing
    assert!(s
        .messages_for(&entry(EntryKind::Update, Some(closed.clone()), Some(closed)))
        .is_empty());
    // no-op update: nothing
    assert!(s
        .messages_for(&entry(EntryKind::Update, Some(open.clone()), Some(open.clone())))
        .is_empty());
    let m = s.messages_for(&entry(EntryKind::Delete, Some(open), None));
    assert_eq!(m[0].value, Row::from_pairs([("id", Some("1"))]));
}

#[test]
fn full_replica_and_key_change() {
    let s = shape(&[("table", "todos"), ("replica", "full"), ("columns", "id,title")]).unwrap();
    let m = s.messages_for(&entry(
        EntryKind::Update,
        Some(row("1", "a", "f")),
        Some(row("1", "b", "t")),
    ));
    assert_eq!(
        m[0].value,
        Row::from_pairs([("id", Some("1")), ("title", Some("b"))])
    );
    assert_eq!(m[0].old_value, Some(Row::from_pairs([("title", Some("a"))])));
    let m = s.messages_for(&entry(EntryKind::Delete, Some(row("1", "a", "f")), None));
    assert_eq!(
        m[0].value,
        Row::from_pairs([("id", Some("1")), ("title", Some("a"))])
    );
    let m = s.messages_for(&entry(
        EntryKind::Update,
        Some(row("1", "a", "f")),
        Some(row("5", "a", "f")),
    ));
    assert_eq!(m.len(), 2);
    assert_eq!(
        (m[0].operation, m[0].headers.op_position),
        (Operation::Delete, Some(2))
    );
    assert_eq!(
        m[0].headers.key_change_to.as_ref().map(Key::as_str),
        Some("\"public\".\"todos\"/\"5\"")
    );
    assert_eq!(
        (m[1].operation, m[1].headers.op_position),
        (Operation::Insert, Some(3))
    );
    assert_eq!(
        m[1].headers.key_change_from.as_ref().map(Key::as_str),
        Some("\"public\".\"todos\"/\"1\"")
    );
}

#[test]
fn last_marks_the_end_of_each_transaction() {
    let s = shape(&[("table", "todos")]).unwrap();
    let mut msgs = Vec::new();
    for (lsn, op) in [(1, 0), (1, 1), (2, 0)] {
        let mut e = entry(EntryKind::Insert, None, Some(row("1", "a", "f")));
        e.lsn = lsn;
        e.op = op;
        msgs.extend(s.messages_for(&e));
    }
    mark_last(&mut msgs);
    assert_eq!(
        msgs.iter().map(|m| m.headers.last).collect::<Vec<_>>(),
        vec![false, true, true]
    );
}
