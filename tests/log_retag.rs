//! The materializer's per-row metadata: `ChangeSet::retagged` (keys whose row values stayed the
//! same while their subquery tag state or `relation` changed) and `Materializer::relation`.
//!
//! The property: over random histories of tagged inserts / updates (incl. tag-only and
//! relation-only updates), deletes, move-in / move-out events and must-refetch resets, every
//! commit's `ChangeSet` equals the diff of the full committed state (values, tag state,
//! relation) before and after it; `retagged` never overlaps the visible lists and never makes
//! `is_empty()` false. Plus hand-written wire bodies for the cases that matter to subscribers.
//!
//! Case count: `EDDY_FUZZ_CASES` (default 1000).

mod fuzz_support;

use std::collections::BTreeMap;

use eddy::log::{ChangeSet, Materializer, MaterializerOptions, TagState};
use eddy::protocol::row::intern;
use eddy::protocol::{
    parse_body, ChangeHeaders, ChangeMessage, ControlMessage, EventMessage, Key, Message, MoveKind,
    MovePattern, Operation, Row,
};
use proptest::prelude::*;

/// Everything the materializer keeps for a key, in comparable form.
#[derive(Debug, Clone, PartialEq)]
struct Full {
    values: BTreeMap<String, Option<String>>,
    tags: Option<TagState>,
    relation: Option<[String; 2]>,
}

fn state(m: &Materializer) -> BTreeMap<Key, Full> {
    m.rows()
        .map(|(k, r)| {
            let full = Full {
                values: r
                    .iter()
                    .map(|(c, v)| (c.to_string(), v.map(str::to_string)))
                    .collect(),
                tags: m.tag_state(k).cloned(),
                relation: m.relation(k).map(|[s, t]| [s.to_string(), t.to_string()]),
            };
            (k.clone(), full)
        })
        .collect()
}

/// The change set a commit from `a` to `b` must report (lists sorted).
fn expected(a: &BTreeMap<Key, Full>, b: &BTreeMap<Key, Full>) -> [Vec<Key>; 4] {
    let mut out: [Vec<Key>; 4] = Default::default();
    for (k, after) in b {
        match a.get(k) {
            None => out[0].push(k.clone()),
            Some(before) if before.values != after.values => out[1].push(k.clone()),
            Some(before) if before != after => out[3].push(k.clone()),
            Some(_) => {}
        }
    }
    out[2] = a.keys().filter(|k| !b.contains_key(*k)).cloned().collect();
    out
}

fn sorted(cs: &ChangeSet) -> [Vec<Key>; 4] {
    let mut out = [
        cs.inserted.clone(),
        cs.updated.clone(),
        cs.deleted.clone(),
        cs.retagged.clone(),
    ];
    for l in &mut out {
        l.sort();
    }
    out
}

#[derive(Debug, Clone)]
enum Op {
    /// key, value, tags (indexes into TAGS), with active_conditions, relation schema
    Insert(u8, u8, Vec<usize>, bool, u8),
    /// key, value (None: only the id, i.e. values unchanged), tags in, tags out, active
    /// conditions (empty: not carried), relation schema (0: not carried)
    Update(u8, Option<u8>, Vec<usize>, Vec<usize>, Vec<bool>, u8),
    Delete(u8),
    /// move-in when true, else move-out; position; tag value
    Move(bool, u32, u8),
}

const TAGS: [&str; 5] = ["a/", "/b", "a/b", "c/", "/d"];

fn op() -> impl Strategy<Value = Op> {
    let key = 0u8..8;
    let tags = prop::collection::vec(0..TAGS.len(), 0..3);
    prop_oneof![
        3 => (key.clone(), 0u8..3, tags.clone(), any::<bool>(), 0u8..3)
            .prop_map(|(k, v, t, ac, r)| Op::Insert(k, v, t, ac, r)),
        4 => (
            key.clone(),
            prop::option::of(0u8..3),
            tags.clone(),
            tags,
            prop::collection::vec(any::<bool>(), 0..3),
            0u8..3,
        )
            .prop_map(|(k, v, i, o, ac, r)| Op::Update(k, v, i, o, ac, r)),
        1 => key.prop_map(Op::Delete),
        2 => (any::<bool>(), 0u32..2, 0u8..4).prop_map(|(i, p, v)| Op::Move(i, p, v)),
    ]
}

fn schema(r: u8) -> Option<[eddy::protocol::Column; 2]> {
    match r {
        0 => None,
        1 => Some([intern("public"), intern("t")]),
        _ => Some([intern("archive"), intern("t")]),
    }
}

fn message(o: &Op) -> Message {
    let change = |k: u8, operation, v: Option<u8>, headers| {
        let id = k.to_string();
        let v = v.map(|v| v.to_string());
        let mut pairs = vec![("id", Some(id.as_str()))];
        if let Some(v) = &v {
            pairs.push(("v", Some(v.as_str())));
        }
        Message::Change(ChangeMessage {
            key: Key::new(format!("k{k}")),
            operation,
            value: Row::from_pairs(pairs),
            old_value: None,
            headers,
        })
    };
    let names = |ix: &[usize]| ix.iter().map(|&i| TAGS[i].to_string()).collect::<Vec<_>>();
    match o {
        Op::Insert(k, v, tags, ac, r) => {
            let headers = ChangeHeaders {
                relation: schema(*r),
                tags: names(tags),
                active_conditions: if *ac && !tags.is_empty() {
                    vec![true, true]
                } else {
                    vec![]
                },
                ..ChangeHeaders::default()
            };
            change(*k, Operation::Insert, Some(*v), headers)
        }
        Op::Update(k, v, tin, tout, ac, r) => {
            let headers = ChangeHeaders {
                relation: schema(*r),
                tags: names(tin),
                removed_tags: names(tout),
                active_conditions: ac.clone(),
                ..ChangeHeaders::default()
            };
            change(*k, Operation::Update, *v, headers)
        }
        Op::Delete(k) => change(*k, Operation::Delete, None, ChangeHeaders::default()),
        Op::Move(move_in, pos, v) => Message::Event(EventMessage {
            kind: if *move_in {
                MoveKind::MoveIn
            } else {
                MoveKind::MoveOut
            },
            patterns: vec![MovePattern {
                pos: *pos,
                value: ["a", "b", "c", "d"][*v as usize].to_string(),
            }],
            txids: vec![],
        }),
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: fuzz_support::cases(1000),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn change_set_is_the_full_state_diff(
        steps in prop::collection::vec((prop::collection::vec(op(), 0..8), prop::bool::weighted(0.1)), 1..30)
    ) {
        let mut m = Materializer::with_options(MaterializerOptions::default());
        for (ops, refetch) in steps {
            let before = state(&m);
            let mut batch = Vec::new();
            if refetch {
                batch.push(Message::Control(ControlMessage::MustRefetch));
            }
            batch.extend(ops.iter().map(message));
            batch.push(Message::up_to_date(None));
            let cs = m.ingest(batch).expect("an up-to-date commits");
            let after = state(&m);
            prop_assert_eq!(cs.reset, refetch);
            prop_assert_eq!(sorted(&cs), expected(&before, &after), "{:?}", cs);
            let visible = cs.inserted.len() + cs.updated.len() + cs.deleted.len();
            prop_assert_eq!(cs.len(), visible);
            prop_assert_eq!(cs.is_empty(), visible == 0);
            // Restoring from a snapshot keeps the whole state, relation included.
            let restored = Materializer::from_snapshot(MaterializerOptions::default(), m.snapshot());
            prop_assert_eq!(state(&restored), after);
        }
    }
}

fn ingest(m: &mut Materializer, body: &str) -> ChangeSet {
    let mut msgs = parse_body(body.as_bytes()).unwrap();
    msgs.push(Message::up_to_date(None));
    m.ingest(msgs).unwrap()
}

fn keys(v: &[Key]) -> Vec<&str> {
    v.iter().map(Key::as_str).collect()
}

#[test]
fn tag_only_changes_are_retagged_not_visible() {
    let mut m = Materializer::new();
    ingest(
        &mut m,
        r#"[{"key":"a","value":{"id":"a","n":"1"},"headers":{"operation":"insert","tags":["h1/","/h2"],"active_conditions":[true,true]}},
            {"key":"b","value":{"id":"b"},"headers":{"operation":"insert","tags":["x"]}}]"#,
    );
    // An update that only moves tags: same values, new tag state.
    let cs = ingest(
        &mut m,
        r#"[{"key":"b","value":{"id":"b"},"headers":{"operation":"update","tags":["y"],"removed_tags":["x"]}}]"#,
    );
    assert_eq!(keys(&cs.retagged), ["b"]);
    assert!(cs.is_empty(), "{cs:?}");
    assert_eq!(cs.len(), 0);
    assert_eq!(m.tag_state(&Key::from("b")).unwrap().tags, ["y"]);
    // A move-out the row survives (through position 1), then the move-in.
    let cs = ingest(
        &mut m,
        r#"[{"headers":{"event":"move-out","patterns":[{"pos":0,"value":"h1"}]}}]"#,
    );
    assert_eq!((keys(&cs.retagged), cs.is_empty()), (vec!["a"], true));
    let cs = ingest(
        &mut m,
        r#"[{"headers":{"event":"move-in","patterns":[{"pos":0,"value":"h1"}]}}]"#,
    );
    assert_eq!(keys(&cs.retagged), ["a"]);
    // A move-in of an already active position changes nothing: not reported.
    let cs = ingest(
        &mut m,
        r#"[{"headers":{"event":"move-in","patterns":[{"pos":0,"value":"h1"}]}}]"#,
    );
    assert_eq!(cs, ChangeSet::default());
    // Values and tags changing together: an update, not also a retag.
    let cs = ingest(
        &mut m,
        r#"[{"key":"a","value":{"n":"2"},"headers":{"operation":"update","active_conditions":[false,true]}}]"#,
    );
    assert_eq!((keys(&cs.updated), cs.retagged.len()), (vec!["a"], 0));
    // A tag change undone within the same commit is no change.
    let cs = ingest(
        &mut m,
        r#"[{"key":"b","value":{"id":"b"},"headers":{"operation":"update","tags":["z"]}},
            {"key":"b","value":{"id":"b"},"headers":{"operation":"update","removed_tags":["z"]}}]"#,
    );
    assert_eq!(cs, ChangeSet::default());
}

#[test]
fn a_move_out_removes_a_row_that_was_already_invisible() {
    let mut m = Materializer::new();
    ingest(
        &mut m,
        r#"[{"key":"a","value":{"id":"a"},"headers":{"operation":"insert","tags":["h1/"],"active_conditions":[false]}}]"#,
    );
    assert_eq!(m.len(), 1);
    let cs = ingest(
        &mut m,
        r#"[{"headers":{"event":"move-out","patterns":[{"pos":0,"value":"h1"}]}}]"#,
    );
    assert_eq!((keys(&cs.deleted), cs.retagged.len()), (vec!["a"], 0));
    assert!(m.is_empty());
}

#[test]
fn a_reset_to_the_same_values_with_other_tags_is_retagged() {
    let mut m = Materializer::new();
    ingest(
        &mut m,
        r#"[{"key":"a","value":{"id":"a"},"headers":{"operation":"insert","tags":["t1"]}}]"#,
    );
    m.must_refetch();
    let cs = ingest(
        &mut m,
        r#"[{"key":"a","value":{"id":"a"},"headers":{"operation":"insert","tags":["t2"]}}]"#,
    );
    assert!(cs.reset && cs.is_empty());
    assert_eq!(keys(&cs.retagged), ["a"]);
}

#[test]
fn relation_is_kept_per_row_shared_and_snapshotted() {
    let mut m = Materializer::new();
    let cs = ingest(
        &mut m,
        r#"[{"key":"a","value":{"id":"a"},"headers":{"operation":"insert","relation":["public","items"]}},
            {"key":"b","value":{"id":"b"},"headers":{"operation":"insert","relation":["public","items"]}},
            {"key":"c","value":{"id":"c"},"headers":{"operation":"insert"}}]"#,
    );
    assert_eq!(cs.inserted.len(), 3);
    let rel = |m: &Materializer, k: &str| m.relation(&Key::from(k)).map(|[s, t]| format!("{s}.{t}"));
    assert_eq!(rel(&m, "a").as_deref(), Some("public.items"));
    assert_eq!(rel(&m, "c"), None);
    // One shared allocation for equal relations.
    let (a, b) = (
        m.relation(&Key::from("a")).unwrap(),
        m.relation(&Key::from("b")).unwrap(),
    );
    assert!(std::ptr::eq(a, b));
    // An update without a relation keeps it; one with another relation (same values) is a retag.
    ingest(
        &mut m,
        r#"[{"key":"a","value":{"id":"a","n":"1"},"headers":{"operation":"update"}}]"#,
    );
    assert_eq!(rel(&m, "a").as_deref(), Some("public.items"));
    let cs = ingest(
        &mut m,
        r#"[{"key":"b","value":{"id":"b"},"headers":{"operation":"update","relation":["archive","items"]}}]"#,
    );
    assert_eq!((keys(&cs.retagged), cs.is_empty()), (vec!["b"], true));
    assert_eq!(rel(&m, "b").as_deref(), Some("archive.items"));
    // Snapshot and restore carry it.
    let r = Materializer::from_snapshot(MaterializerOptions::default(), m.snapshot());
    for k in ["a", "b", "c"] {
        assert_eq!(rel(&r, k), rel(&m, k), "{k}");
    }
    // A PK change keeps the old row's relation when the insert carries none.
    let body = r#"[{"key":"a","value":{"id":"a"},"headers":{"operation":"delete","key_change_to":"a2"}},
        {"key":"a2","value":{"id":"a2"},"headers":{"operation":"insert","key_change_from":"a"}}]"#;
    ingest(&mut m, body);
    assert_eq!(rel(&m, "a2").as_deref(), Some("public.items"));
}
