//! Properties of checkpointing: random materializer histories (inserts, updates, deletes,
//! must-refetch resets, tag state incl. tag-only changes and move-outs, relation)
//! checkpointed through MemoryStorage with random commit
//! failures and random reloads. After every step:
//! - restoring yields exactly the materializer's rows at the last successful checkpoint, with
//!   that handle and offset (never rows from after it, none missing), one row per key;
//! - the storage holds exactly the pages the meta names (nothing leaked, nothing missing);
//! - compaction keeps every page's dead bytes within the threshold, so total dead bytes never
//!   exceed `dead_percent / (100 - dead_percent)` of the live bytes, and small pages stay few.
//!
//! Case count: `EDDY_FUZZ_CASES` (default 300).

mod fuzz_support;
mod persist_support;

use std::collections::BTreeMap;

use eddy::log::Materializer;
use eddy::persist::{
    restore, CheckpointPolicy, Checkpointer, MemoryStorage, Position, Restored, RowSource, StorageError,
};
use eddy::protocol::row::intern;
use eddy::protocol::{
    ChangeHeaders, ChangeMessage, ControlMessage, EventMessage, Key, Message, MoveKind, MovePattern, Offset,
    Operation, Row, ShapeDefinition,
};
use persist_support::now;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Insert(u8, String),
    Update(u8, String),
    Delete(u8),
    /// An update that changes only the tag state (and, for tag 3, only the relation) of a key:
    /// the row's values stay the same, so it is a `retagged` key in the change set.
    Retag(u8, u8),
    /// A move-out of tag `r{n}`: rows left with other tags are retagged, rows without are gone.
    MoveOut(u8),
}

#[derive(Debug, Clone)]
enum Step {
    /// One materializer commit (the ops then `up-to-date`).
    Batch(Vec<Op>),
    /// `must-refetch` then a new snapshot of these ops (then `up-to-date`).
    Refetch(Vec<Op>),
    /// Plan and commit; the commit fails when `fail`.
    Checkpoint { fail: bool },
    /// A 409 wipe commit.
    Wipe,
    /// Reload from storage: the materializer and checkpointer become the restored ones.
    Reload,
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0u8..24;
    let val = "[a-z0-9 ]{0,40}";
    prop_oneof![
        4 => (key.clone(), val).prop_map(|(k, v)| Op::Insert(k, v)),
        3 => (key.clone(), "[a-z]{0,60}").prop_map(|(k, v)| Op::Update(k, v)),
        2 => key.clone().prop_map(Op::Delete),
        2 => (key, 0u8..4).prop_map(|(k, t)| Op::Retag(k, t)),
        1 => (0u8..4).prop_map(Op::MoveOut),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => prop::collection::vec(op(), 0..12).prop_map(Step::Batch),
        1 => prop::collection::vec(op(), 0..10).prop_map(Step::Refetch),
        6 => any::<u8>().prop_map(|b| Step::Checkpoint { fail: b % 4 == 0 }),
        1 => Just(Step::Wipe),
        2 => Just(Step::Reload),
    ]
}

fn message(o: &Op) -> Message {
    let (key, op, value, tags) = match o {
        // Odd keys are inserted as subquery-tagged rows; Retag adds/replaces `r{n}` tags.
        Op::Insert(k, v) => (*k, Operation::Insert, Some(v.as_str()), k % 2 == 1),
        Op::Update(k, v) => (*k, Operation::Update, Some(v.as_str()), false),
        Op::Delete(k) => (*k, Operation::Delete, None, false),
        Op::Retag(k, t) => return retag(*k, *t),
        Op::MoveOut(t) => {
            return Message::Event(EventMessage {
                kind: MoveKind::MoveOut,
                patterns: vec![MovePattern {
                    pos: 0,
                    value: format!("r{t}"),
                }],
                txids: vec![],
            })
        }
    };
    let id = format!("{key}");
    let mut pairs = vec![("id", Some(id.as_str()))];
    if let Some(v) = value {
        pairs.push(if op == Operation::Update {
            ("u", Some(v))
        } else {
            ("v", Some(v))
        });
    }
    let mut headers = ChangeHeaders {
        relation: Some([intern("public"), intern("t")]),
        ..ChangeHeaders::default()
    };
    if tags {
        headers.tags = vec![format!("tag{key}")];
    }
    Message::Change(ChangeMessage {
        key: Key::new(format!("\"public\".\"t\"/\"{key}\"")),
        operation: op,
        value: Row::from_pairs(pairs),
        old_value: None,
        headers,
    })
}

/// An update of `key` whose value is only its unchanged `id`: tag `r{t}` in, the other `r*`
/// tags out (t = 3: no tag change, the relation moves to another schema). Carries a relation
/// either way (an unknown key's update creates the row).
fn retag(key: u8, t: u8) -> Message {
    let id = format!("{key}");
    let mut headers = ChangeHeaders {
        relation: Some([intern("public"), intern("t")]),
        ..ChangeHeaders::default()
    };
    if t == 3 {
        headers.relation = Some([intern("archive"), intern("t")]);
    } else {
        headers.tags = vec![format!("r{t}")];
        headers.removed_tags = (0..3).filter(|&o| o != t).map(|o| format!("r{o}")).collect();
    }
    Message::Change(ChangeMessage {
        key: Key::new(format!("\"public\".\"t\"/\"{key}\"")),
        operation: Operation::Update,
        value: Row::from_pairs([("id", Some(id.as_str()))]),
        old_value: None,
        headers,
    })
}

type Snapshot = BTreeMap<Key, ChangeMessage>;

fn snapshot(m: &Materializer) -> Snapshot {
    m.keys()
        .into_iter()
        .map(|k| (k.clone(), m.row(&k).unwrap()))
        .collect()
}

fn position(handle: u32, tx: u64) -> Position {
    Position {
        handle: format!("h{handle}"),
        offset: Offset::parse(&format!("{tx}_0")).unwrap(),
        schema: None,
    }
}

fn def() -> ShapeDefinition {
    ShapeDefinition {
        table: "t".into(),
        ..ShapeDefinition::default()
    }
}

fn check_invariants(cp: &Checkpointer, s: &MemoryStorage) -> Result<(), TestCaseError> {
    let pct = u64::from(cp.policy().dead_percent);
    for p in cp.pages() {
        prop_assert!(
            p.dead * 100 <= pct * (p.live + p.dead),
            "page over threshold: {:?}",
            p
        );
        prop_assert!(p.rows > 0, "empty page kept: {:?}", p);
    }
    let st = cp.stats();
    prop_assert!(st.dead_bytes * (100 - pct) <= st.live_bytes * pct, "{:?}", st);
    let small = cp
        .pages()
        .filter(|p| (p.bytes as usize) < cp.policy().small_page_bytes)
        .count();
    prop_assert!(small <= cp.policy().max_small_pages + 1, "{} small pages", small);
    let mut ids: Vec<u64> = cp.pages().map(|p| p.id).collect();
    ids.sort_unstable();
    prop_assert_eq!(s.page_ids(), ids);
    Ok(())
}

fn run(steps: Vec<Step>, policy: CheckpointPolicy) -> Result<(), TestCaseError> {
    let s = MemoryStorage::new();
    let mut m = Materializer::new();
    let mut cp = Checkpointer::new(&def(), policy);
    let (mut handle, mut tx) = (0u32, 0u64);
    // What storage must hold: rows + position of the last successful checkpoint.
    let mut truth: Option<(Snapshot, Position)> = None;
    for st in steps {
        match st {
            Step::Batch(ops) => {
                let mut batch: Vec<Message> = ops.iter().map(message).collect();
                batch.push(Message::up_to_date(None));
                tx += 1;
                if let Some(cs) = m.ingest(batch) {
                    cp.record(&cs);
                }
            }
            Step::Refetch(ops) => {
                let mut batch = vec![Message::Control(ControlMessage::MustRefetch)];
                batch.extend(ops.iter().filter(|o| matches!(o, Op::Insert(..))).map(message));
                batch.push(Message::up_to_date(None));
                handle += 1;
                tx += 1;
                let cs = m.ingest(batch).expect("commits");
                prop_assert!(cs.reset);
                cp.record(&cs);
            }
            Step::Checkpoint { fail } => {
                let p = position(handle, tx);
                let Some(plan) = cp.plan(&m, &p).map_err(|e| TestCaseError::fail(e.to_string()))? else {
                    prop_assert_eq!(cp.position(), Some(&p));
                    continue;
                };
                if fail {
                    s.fail_next(StorageError::Quota("full".into()));
                    prop_assert!(now(eddy::persist::Storage::commit(&s, plan.commit)).is_err());
                } else {
                    now(eddy::persist::Storage::commit(&s, plan.commit)).unwrap();
                    cp.apply(plan.receipt).unwrap();
                    truth = Some((snapshot(&m), p));
                    check_invariants(&cp, &s)?;
                }
            }
            Step::Wipe => {
                let plan = cp.plan_clear();
                now(eddy::persist::Storage::commit(&s, plan.commit)).unwrap();
                cp.apply(plan.receipt).unwrap();
                truth = None;
            }
            Step::Reload => match now(restore(&s, &def(), policy)).unwrap() {
                Restored::Loaded(r) => {
                    m = Materializer::from_snapshot(Default::default(), r.rows);
                    cp = r.checkpointer;
                    handle = r.position.handle[1..].parse().unwrap();
                    tx = r.position.offset.as_log().unwrap().tx;
                }
                Restored::Empty => {
                    m = Materializer::new();
                    cp = Checkpointer::new(&def(), policy);
                }
                Restored::Discard(d) => prop_assert!(false, "discarded: {:?}", d),
            },
        }
        // Whatever happened, the store restores to exactly the last successful checkpoint.
        match (now(restore(&s, &def(), policy)).unwrap(), &truth) {
            (Restored::Empty, None) => {}
            (Restored::Loaded(r), Some((rows, p))) => {
                prop_assert_eq!(&r.position, p);
                let got: Snapshot = r.rows.iter().map(|c| (c.key.clone(), c.clone())).collect();
                prop_assert_eq!(got.len(), r.rows.len(), "one row per key");
                // Every message carries a relation, so every stored row must have one.
                prop_assert!(
                    r.rows.iter().all(|c| c.headers.relation.is_some()),
                    "relation lost"
                );
                prop_assert_eq!(&got, rows);
                prop_assert_eq!(r.checkpointer.stats().rows, rows.len() as u64);
            }
            (got, want) => prop_assert!(false, "restored {:?}, expected {:?}", got, want),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(fuzz_support::cases(300)))]

    #[test]
    fn restore_equals_the_last_successful_checkpoint_tiny_pages(
        steps in prop::collection::vec(step(), 1..60)
    ) {
        run(steps, CheckpointPolicy {
            page_target_bytes: 200,
            dead_percent: 50,
            small_page_bytes: 80,
            max_small_pages: 3,
        })?;
    }

    #[test]
    fn restore_equals_the_last_successful_checkpoint_other_policies(
        steps in prop::collection::vec(step(), 1..60),
        target in 64usize..4096,
        pct in 10u8..90,
    ) {
        run(steps, CheckpointPolicy {
            page_target_bytes: target,
            dead_percent: pct,
            small_page_bytes: target / 4,
            max_small_pages: 2,
        })?;
    }
}

/// A key whose tag state changed while its values did not is reported as `retagged` in the
/// `ChangeSet`, and the checkpointer rewrites it: the restore has the new tags.
#[test]
fn a_tag_state_only_change_is_persisted() {
    let s = MemoryStorage::new();
    let mut m = Materializer::new();
    let mut cp = Checkpointer::new(&def(), CheckpointPolicy::default());
    let tagged = |tags: Vec<String>| {
        let mut msg = message(&Op::Insert(2, "x".into()));
        if let Message::Change(c) = &mut msg {
            c.headers.tags = tags;
        }
        vec![msg, Message::up_to_date(None)]
    };
    for (tx, tags) in [(1, vec!["a".to_string()]), (2, vec!["b".to_string()])] {
        if let Some(cs) = m.ingest(tagged(tags)) {
            cp.record(&cs);
        }
        if let Some(plan) = cp.plan(&m, &position(0, tx)).unwrap() {
            now(eddy::persist::Storage::commit(&s, plan.commit)).unwrap();
            cp.apply(plan.receipt).unwrap();
        }
    }
    let Restored::Loaded(r) = now(restore(&s, &def(), CheckpointPolicy::default())).unwrap() else {
        panic!()
    };
    assert_eq!(r.rows[0].headers.tags, vec!["b".to_string()]);
}

/// The row's `relation` goes into the checkpoint and comes back from restore, including a
/// change of the relation alone (a retagged key).
#[test]
fn relation_is_persisted_and_restored() {
    let s = MemoryStorage::new();
    let mut m = Materializer::new();
    let mut cp = Checkpointer::new(&def(), CheckpointPolicy::default());
    let steps = [
        vec![
            message(&Op::Insert(1, "x".into())),
            message(&Op::Insert(2, "y".into())),
        ],
        vec![retag(2, 3)],
    ];
    let mut want = Vec::new();
    for (tx, mut batch) in steps.into_iter().enumerate() {
        batch.push(Message::up_to_date(None));
        let cs = m.ingest(batch).unwrap();
        cp.record(&cs);
        let plan = cp.plan(&m, &position(0, tx as u64 + 1)).unwrap().unwrap();
        now(eddy::persist::Storage::commit(&s, plan.commit)).unwrap();
        cp.apply(plan.receipt).unwrap();
        let Restored::Loaded(r) = now(restore(&s, &def(), CheckpointPolicy::default())).unwrap() else {
            panic!()
        };
        let mut got: Vec<(String, String)> = r
            .rows
            .iter()
            .map(|c| {
                let [schema, table] = c.headers.relation.as_ref().expect("relation stored");
                (c.key.as_str().to_string(), format!("{schema}.{table}"))
            })
            .collect();
        got.sort();
        want = got;
        // What restore returns is what the materializer holds.
        let back = Materializer::from_snapshot(Default::default(), r.rows);
        for (k, _) in m.rows() {
            assert_eq!(back.relation(k), m.relation(k));
        }
    }
    assert_eq!(
        want,
        [
            (r#""public"."t"/"1""#.to_string(), "public.t".to_string()),
            (r#""public"."t"/"2""#.to_string(), "archive.t".to_string()),
        ]
    );
}
