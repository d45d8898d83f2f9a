//! Unit tests of Materializer (`src/log/materialize.rs`).

use super::*;
use crate::protocol::{ChangeHeaders, EventMessage, MoveKind, MovePattern, Operation};

fn row(pairs: &[(&str, Option<&str>)]) -> Row {
    Row::from_pairs(pairs.iter().copied())
}

fn change(op: Operation, key: &str, pairs: &[(&str, Option<&str>)]) -> Message {
    Message::Change(ChangeMessage {
        key: Key::from(key),
        operation: op,
        value: row(pairs),
        old_value: None,
        headers: ChangeHeaders::default(),
    })
}

fn ins(key: &str, pairs: &[(&str, Option<&str>)]) -> Message {
    change(Operation::Insert, key, pairs)
}
fn upd(key: &str, pairs: &[(&str, Option<&str>)]) -> Message {
    change(Operation::Update, key, pairs)
}
fn del(key: &str) -> Message {
    change(Operation::Delete, key, &[("id", Some(key))])
}
fn utd() -> Message {
    Message::up_to_date(None)
}
fn keys(v: &[Key]) -> Vec<&str> {
    v.iter().map(Key::as_str).collect()
}
fn k(s: &str) -> Key {
    Key::from(s)
}

fn with_tags(mut m: Message, tags: &[&str], active: &[bool]) -> Message {
    if let Message::Change(c) = &mut m {
        c.headers.tags = tags.iter().map(|t| t.to_string()).collect();
        c.headers.active_conditions = active.to_vec();
    }
    m
}

fn moved(kind: MoveKind, pos: u32, value: &str) -> Message {
    Message::Event(EventMessage {
        kind,
        patterns: vec![MovePattern {
            pos,
            value: value.into(),
        }],
        txids: vec![],
    })
}

#[test]
fn nothing_is_visible_before_up_to_date() {
    let mut m = Materializer::new();
    assert_eq!(m.ingest(vec![ins("a", &[("id", Some("a"))])]), None);
    assert_eq!((m.len(), m.pending_len()), (0, 1));
    let cs = m.ingest(vec![utd()]).unwrap();
    assert_eq!(keys(&cs.inserted), ["a"]);
    assert!(!cs.reset);
    assert_eq!((m.len(), m.pending_len()), (1, 0));
    // A bare up-to-date (live timeout) commits nothing but still reports Some(empty).
    assert_eq!(m.ingest(vec![utd()]), Some(ChangeSet::default()));
}

#[test]
fn insert_overwrites_update_merges_delete_removes() {
    let mut m = Materializer::new();
    m.ingest(vec![
        ins("a", &[("id", Some("a")), ("x", Some("1")), ("y", Some("2"))]),
        ins("b", &[("id", Some("b"))]),
        utd(),
    ]);
    let cs = m
        .ingest(vec![
            upd("a", &[("id", Some("a")), ("y", None)]),
            ins("b", &[("id", Some("b")), ("z", Some("new"))]),
            del("nope"),
            utd(),
        ])
        .unwrap();
    assert_eq!(keys(&cs.updated), ["a", "b"]);
    assert!(cs.inserted.is_empty() && cs.deleted.is_empty());
    assert_eq!(
        m.get(&k("a")),
        Some(&row(&[("id", Some("a")), ("x", Some("1")), ("y", None)]))
    );
    assert_eq!(
        m.get(&k("b")),
        Some(&row(&[("id", Some("b")), ("z", Some("new"))]))
    );
    let cs = m.ingest(vec![del("a"), utd()]).unwrap();
    assert_eq!(keys(&cs.deleted), ["a"]);
    assert_eq!(m.get(&k("a")), None);
    assert!(m.contains_key(&k("b")));
}

#[test]
fn change_sets_are_net_per_commit() {
    let mut m = Materializer::new();
    m.ingest(vec![ins("a", &[("id", Some("a")), ("x", Some("1"))]), utd()]);
    let cs = m
        .ingest(vec![
            ins("new", &[("id", Some("new"))]),
            del("new"),
            upd("a", &[("x", Some("2"))]),
            upd("a", &[("x", Some("1"))]),
            utd(),
        ])
        .unwrap();
    assert!(cs.is_empty(), "{cs:?}");
    // Delete then re-insert of an existing key with other content is an update.
    let cs = m
        .ingest(vec![del("a"), ins("a", &[("id", Some("a"))]), utd()])
        .unwrap();
    assert_eq!(keys(&cs.updated), ["a"]);
    // Two up-to-dates in one batch merge into one change set; trailing messages pend.
    let cs = m
        .ingest(vec![
            ins("b", &[]),
            utd(),
            del("b"),
            ins("c", &[]),
            utd(),
            ins("d", &[]),
        ])
        .unwrap();
    assert_eq!(keys(&cs.inserted), ["c"]);
    assert_eq!(m.pending_len(), 1);
}

#[test]
fn update_of_unknown_key_depends_on_mode() {
    let mut full = Materializer::new();
    full.ingest(vec![upd("u", &[("id", Some("u")), ("x", Some("1"))]), utd()]);
    assert_eq!(
        full.get(&k("u")),
        Some(&row(&[("id", Some("u")), ("x", Some("1"))]))
    );
    let mut co = Materializer::with_options(MaterializerOptions {
        mode: Mode::ChangesOnly,
    });
    assert_eq!(co.options().mode, Mode::ChangesOnly);
    let cs = co
        .ingest(vec![upd("u", &[("id", Some("u"))]), del("v"), utd()])
        .unwrap();
    assert!(cs.is_empty() && co.is_empty());
    co.ingest(vec![
        ins("u", &[("id", Some("u"))]),
        upd("u", &[("x", Some("2"))]),
        utd(),
    ]);
    assert_eq!(
        co.get(&k("u")),
        Some(&row(&[("id", Some("u")), ("x", Some("2"))]))
    );
}

#[test]
fn pk_change_carries_the_old_row() {
    let mut m = Materializer::new();
    m.ingest(vec![
        ins("old", &[("id", Some("1")), ("t", Some("keep")), ("n", Some("5"))]),
        utd(),
    ]);
    let Message::Change(mut d) = del("old") else {
        unreachable!()
    };
    d.headers.key_change_to = Some(k("new"));
    let Message::Change(mut i) = ins("new", &[("id", Some("2")), ("n", Some("6"))]) else {
        unreachable!()
    };
    i.headers.key_change_from = Some(k("old"));
    let tx = vec![Message::Change(d), Message::Change(i), utd()];
    let cs = m.ingest(tx.clone()).unwrap();
    assert_eq!(
        (keys(&cs.inserted), keys(&cs.deleted)),
        (vec!["new"], vec!["old"])
    );
    let want = row(&[("id", Some("2")), ("t", Some("keep")), ("n", Some("6"))]);
    assert_eq!(m.get(&k("new")), Some(&want));
    assert_eq!(m.len(), 1);
    // Re-delivery of the PK change changes nothing.
    assert_eq!(m.ingest(tx), Some(ChangeSet::default()));
    assert_eq!(m.get(&k("new")), Some(&want));
}

#[test]
fn must_refetch_keeps_old_rows_until_the_new_up_to_date_replaces_them() {
    let mut m = Materializer::new();
    m.ingest(vec![
        ins("a", &[("id", Some("a"))]),
        ins("b", &[("id", Some("b")), ("v", Some("1"))]),
        ins("c", &[("id", Some("c"))]),
        utd(),
    ]);
    // Pending changes before the 409 are dropped.
    m.ingest(vec![del("a")]);
    assert_eq!(
        m.ingest(vec![Message::Control(ControlMessage::MustRefetch)]),
        None
    );
    assert!(m.is_refetching());
    assert_eq!((m.len(), m.pending_len()), (3, 0));
    // New handle's first chunk: still the old rows.
    assert_eq!(
        m.ingest(vec![ins("b", &[("id", Some("b")), ("v", Some("2"))])]),
        None
    );
    assert_eq!(m.len(), 3);
    let cs = m
        .ingest(vec![
            ins("c", &[("id", Some("c"))]),
            ins("d", &[("id", Some("d"))]),
            utd(),
        ])
        .unwrap();
    assert!(cs.reset && !m.is_refetching());
    assert_eq!(keys(&cs.inserted), ["d"]);
    assert_eq!(keys(&cs.updated), ["b"]);
    assert_eq!(keys(&cs.deleted), ["a"]);
    let now: Vec<&str> = m.rows().map(|(k, _)| k.as_str()).collect();
    assert_eq!(now, ["b", "c", "d"]);
    // The replacement applies the rules from scratch: an update of a key absent from the
    // new log creates it (full mode) rather than merging into the stale row.
    m.must_refetch();
    let cs = m.ingest(vec![upd("b", &[("id", Some("b"))]), utd()]).unwrap();
    assert_eq!(m.get(&k("b")), Some(&row(&[("id", Some("b"))])));
    assert_eq!(
        (keys(&cs.updated), keys(&cs.deleted)),
        (vec!["b"], vec!["c", "d"])
    );
}

fn subset_row(key: &str) -> Message {
    let mut m = ins(key, &[("id", Some(key))]);
    if let Message::Change(c) = &mut m {
        c.headers.snapshot_mark = Some(7);
    }
    m
}

#[test]
fn snapshot_end_commits_only_a_pure_subset_snapshot() {
    let end = || Message::Control(ControlMessage::SnapshotEnd(Default::default()));
    let mut m = Materializer::with_options(MaterializerOptions {
        mode: Mode::ChangesOnly,
    });
    let cs = m.ingest(vec![subset_row("s1"), subset_row("s2"), end()]).unwrap();
    assert_eq!(keys(&cs.inserted), ["s1", "s2"]);
    assert_eq!(m.len(), 2);
    // A live change pending (chunk boundary mid-transaction): the snapshot waits.
    assert_eq!(m.ingest(vec![del("s1"), subset_row("s3"), end()]), None);
    assert_eq!((m.len(), m.pending_len()), (2, 2));
    let cs = m.ingest(vec![utd()]).unwrap();
    assert_eq!((keys(&cs.inserted), keys(&cs.deleted)), (vec!["s3"], vec!["s1"]));
    // Never during a refetch: the replacement needs the whole new log.
    m.must_refetch();
    assert_eq!(m.ingest(vec![subset_row("s9"), end()]), None);
    assert_eq!(m.len(), 2);
}

#[test]
fn move_out_with_active_conditions_removes_rows_without_an_active_disjunct() {
    let mut m = Materializer::new();
    m.ingest(vec![
        with_tags(ins("a", &[("id", Some("a"))]), &["h1/", "/h2"], &[true, true]),
        with_tags(ins("b", &[("id", Some("b"))]), &["h1/"], &[true, false]),
        ins("plain", &[("id", Some("p"))]),
        utd(),
    ]);
    let cs = m.ingest(vec![moved(MoveKind::MoveOut, 0, "h1"), utd()]).unwrap();
    assert_eq!(keys(&cs.deleted), ["b"]);
    assert!(cs.updated.is_empty(), "tag-state changes are not row updates");
    assert_eq!(m.tag_state(&k("a")).unwrap().active_conditions, vec![false, true]);
    assert_eq!(m.tag_state(&k("plain")), None);
    m.ingest(vec![moved(MoveKind::MoveIn, 0, "h1"), utd()]);
    assert_eq!(m.tag_state(&k("a")).unwrap().active_conditions, vec![true, true]);
    let cs = m.ingest(vec![moved(MoveKind::MoveOut, 1, "h2"), utd()]).unwrap();
    assert!(cs.is_empty(), "still visible through position 0");
    m.ingest(vec![moved(MoveKind::MoveOut, 0, "h1"), utd()]);
    assert_eq!(m.len(), 1);
    assert!(m.contains_key(&k("plain")));
}

#[test]
fn move_out_without_active_conditions_drops_tags() {
    let mut m = Materializer::new();
    m.ingest(vec![with_tags(ins("a", &[]), &["x", "y"], &[]), utd()]);
    m.ingest(vec![moved(MoveKind::MoveOut, 0, "x"), utd()]);
    assert_eq!(m.tag_state(&k("a")).unwrap().tags, vec!["y"]);
    // A move-out is buffered like a change: invisible until up-to-date.
    assert_eq!(m.ingest(vec![moved(MoveKind::MoveOut, 0, "y")]), None);
    assert_eq!(m.len(), 1);
    let cs = m.ingest(vec![utd()]).unwrap();
    assert_eq!(keys(&cs.deleted), ["a"]);
}

#[test]
fn snapshot_restores_rows_order_and_tags() {
    let mut m = Materializer::new();
    m.ingest(vec![
        ins("a", &[("id", Some("a"))]),
        with_tags(ins("b", &[("id", Some("b"))]), &["t/1"], &[true, true]),
        ins("c", &[("id", Some("c")), ("n", None)]),
        del("a"),
        utd(),
    ]);
    let snap = m.snapshot();
    assert!(snap.iter().all(|c| c.operation == Operation::Insert));
    let r = Materializer::from_snapshot(MaterializerOptions::default(), snap.clone());
    let a: Vec<_> = m.rows().collect();
    let b: Vec<_> = r.rows().collect();
    assert_eq!(a, b);
    assert_eq!(r.tag_state(&k("b")), m.tag_state(&k("b")));
    let mut via_ingest = Materializer::new();
    let mut msgs: Vec<Message> = snap.into_iter().map(Message::Change).collect();
    msgs.push(utd());
    via_ingest.ingest(msgs);
    assert_eq!(via_ingest.rows().collect::<Vec<_>>(), a);
}
