//! The Checkpointer against MemoryStorage, case by case: copy-on-write commits, failures that
//! lose nothing, compaction, resets and wipes, restore and its discard outcomes.

mod persist_support;

use eddy::log::Materializer;
use eddy::persist::{
    restore, CheckpointPolicy, Checkpointer, Discard, MemoryStorage, PersistError, Position, Restored,
    Storage, StorageError,
};
use eddy::protocol::{Message, Offset, ShapeDefinition};
use persist_support::{del, ins, now, upd, utd};

fn shape(table: &str) -> ShapeDefinition {
    ShapeDefinition {
        table: table.into(),
        ..ShapeDefinition::default()
    }
}

fn pos(handle: &str, tx: u64) -> Position {
    Position {
        handle: handle.into(),
        offset: Offset::parse(&format!("{tx}_0")).unwrap(),
        schema: None,
    }
}

fn small() -> CheckpointPolicy {
    CheckpointPolicy {
        page_target_bytes: 100,
        dead_percent: 50,
        small_page_bytes: 40,
        max_small_pages: 4,
    }
}

struct Rig {
    m: Materializer,
    cp: Checkpointer,
    s: MemoryStorage,
}

impl Rig {
    fn new(policy: CheckpointPolicy) -> Self {
        Rig {
            m: Materializer::new(),
            cp: Checkpointer::new(&shape("items"), policy),
            s: MemoryStorage::new(),
        }
    }
    fn feed(&mut self, mut batch: Vec<Message>) {
        batch.push(utd());
        if let Some(cs) = self.m.ingest(batch) {
            self.cp.record(&cs);
        }
    }
    /// Plan, commit, apply; returns the commit's (puts, deletes, clear_first).
    fn checkpoint(&mut self, p: &Position) -> Result<(Vec<u64>, Vec<u64>, bool), PersistError> {
        let stored_before = self.s.page_ids();
        let plan = self.cp.plan(&self.m, p)?.expect("something to write");
        let puts: Vec<u64> = plan.commit.puts.iter().map(|(id, _)| *id).collect();
        let dels = plan.commit.deletes.clone();
        let clear = plan.commit.clear_first;
        for id in &puts {
            assert!(!stored_before.contains(id), "page {id} overwritten in place");
        }
        now(self.s.commit(plan.commit))?;
        self.cp.apply(plan.receipt)?;
        let mut ids: Vec<u64> = self.cp.pages().map(|p| p.id).collect();
        ids.sort_unstable();
        assert_eq!(self.s.page_ids(), ids, "storage holds exactly the live pages");
        Ok((puts, dels, clear))
    }
    fn restored(&self, def: &ShapeDefinition) -> Restored {
        now(restore(&self.s, def, *self.cp.policy())).unwrap()
    }
}

fn loaded_rows(r: Restored) -> (Vec<(String, String)>, Position, Checkpointer) {
    let Restored::Loaded(r) = r else {
        panic!("not loaded: {r:?}")
    };
    let mut rows: Vec<(String, String)> = r
        .rows
        .iter()
        .map(|c| {
            (
                c.key.to_string(),
                c.value.get("v").flatten().unwrap_or("").to_owned(),
            )
        })
        .collect();
    rows.sort();
    (rows, r.position, r.checkpointer)
}

fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn first_commit_is_clear_first_then_incremental_copy_on_write() {
    let mut r = Rig::new(small());
    r.feed(vec![ins("a", "1"), ins("b", "2"), ins("c", "3")]);
    let (puts, dels, clear) = r.checkpoint(&pos("h", 1)).unwrap();
    assert!(clear && dels.is_empty() && !puts.is_empty());
    r.feed(vec![upd("a", "1b"), del("c")]);
    let (puts2, _, clear) = r.checkpoint(&pos("h", 2)).unwrap();
    assert!(!clear);
    assert!(
        puts2.iter().all(|id| id > puts.iter().max().unwrap()),
        "new ids only"
    );
    let (rows, p, _) = loaded_rows(r.restored(&shape("items")));
    assert_eq!(rows, kv(&[("a", "1b"), ("b", "2")]));
    assert_eq!(p, pos("h", 2));
    assert_eq!(r.cp.stats().rows, 2);
    assert_eq!(r.cp.stats().offset, Some(pos("h", 2).offset));
}

#[test]
fn a_failed_commit_changes_nothing_and_the_next_plan_covers_it() {
    let mut r = Rig::new(small());
    r.feed(vec![ins("a", "1")]);
    r.checkpoint(&pos("h", 1)).unwrap();
    r.feed(vec![ins("b", "2")]);
    let plan = r.cp.plan(&r.m, &pos("h", 2)).unwrap().unwrap();
    r.s.fail_next(StorageError::Quota("full".into()));
    let err = now(r.s.commit(plan.commit)).unwrap_err();
    assert!(matches!(err, StorageError::Quota(_)));
    drop(plan.receipt);
    assert_eq!(r.cp.stats().dirty_keys, 1);
    r.feed(vec![upd("a", "1b")]);
    r.checkpoint(&pos("h", 3)).unwrap();
    let (rows, p, _) = loaded_rows(r.restored(&shape("items")));
    assert_eq!((rows, p), (kv(&[("a", "1b"), ("b", "2")]), pos("h", 3)));
    assert_eq!(r.cp.stats().dirty_keys, 0);
}

#[test]
fn changes_recorded_while_a_commit_is_in_flight_stay_dirty() {
    let mut r = Rig::new(small());
    r.feed(vec![ins("a", "1")]);
    let plan = r.cp.plan(&r.m, &pos("h", 1)).unwrap().unwrap();
    r.feed(vec![upd("a", "2")]);
    now(r.s.commit(plan.commit)).unwrap();
    r.cp.apply(plan.receipt).unwrap();
    assert!(r.cp.has_row_changes());
    let (rows, _, _) = loaded_rows(r.restored(&shape("items")));
    assert_eq!(rows, kv(&[("a", "1")]), "the stored state is the planned one");
    r.checkpoint(&pos("h", 2)).unwrap();
    let (rows, _, _) = loaded_rows(r.restored(&shape("items")));
    assert_eq!(rows, kv(&[("a", "2")]));
}

#[test]
fn stale_plans_are_refused_and_unchanged_positions_plan_nothing() {
    let mut r = Rig::new(small());
    r.feed(vec![ins("a", "1")]);
    let p1 = r.cp.plan(&r.m, &pos("h", 1)).unwrap().unwrap();
    let p2 = r.cp.plan(&r.m, &pos("h", 1)).unwrap().unwrap();
    now(r.s.commit(p1.commit)).unwrap();
    r.cp.apply(p1.receipt).unwrap();
    let e = r.cp.apply(p2.receipt).unwrap_err();
    assert!(matches!(
        e,
        PersistError::StalePlan {
            planned: 0,
            current: 1
        }
    ));
    assert!(r.cp.plan(&r.m, &pos("h", 1)).unwrap().is_none());
    // Only the offset moved: a meta-only commit.
    let (puts, dels, clear) = r.checkpoint(&pos("h", 2)).unwrap();
    assert!(puts.is_empty() && dels.is_empty() && !clear);
}

#[test]
fn updates_mark_dead_bytes_and_compaction_rewrites_pages_past_the_threshold() {
    let mut r = Rig::new(small());
    let batch: Vec<Message> = (0..20).map(|i| ins(&format!("k{i:02}"), "x")).collect();
    r.feed(batch);
    r.checkpoint(&pos("h", 1)).unwrap();
    let pages0 = r.cp.stats().pages;
    assert!(pages0 > 3, "many small pages: {pages0}");
    for round in 0..30u64 {
        let k = format!("k{:02}", (round * 7) % 20);
        r.feed(vec![upd(&k, &format!("value-{round}"))]);
        r.checkpoint(&pos("h", 2 + round)).unwrap();
        for p in r.cp.pages() {
            assert!(
                p.dead * 100 <= 50 * (p.live + p.dead),
                "page {p:?} over threshold"
            );
        }
        let st = r.cp.stats();
        assert!(st.dead_bytes <= st.live_bytes, "{st:?}");
        let small_pages = r.cp.pages().filter(|p| p.bytes < 40).count();
        assert!(small_pages <= 4, "small pages merged: {small_pages}");
    }
    let (rows, _, _) = loaded_rows(r.restored(&shape("items")));
    assert_eq!(rows.len(), 20);
    assert_eq!(rows.iter().find(|(k, _)| k == "k03").unwrap().1, "value-29");
}

#[test]
fn deleting_every_row_of_a_page_deletes_the_page() {
    let mut r = Rig::new(small());
    r.feed(vec![ins("a", "1"), ins("b", "2")]);
    let (puts, _, _) = r.checkpoint(&pos("h", 1)).unwrap();
    r.feed(vec![del("a"), del("b")]);
    let (_, dels, _) = r.checkpoint(&pos("h", 2)).unwrap();
    assert_eq!(dels, puts);
    assert_eq!(r.cp.stats().pages, 0);
    assert_eq!(loaded_rows(r.restored(&shape("items"))).0, vec![]);
}

#[test]
fn must_refetch_rewrites_everything_in_one_clear_first_commit_and_wipes_work() {
    let mut r = Rig::new(small());
    r.feed(vec![ins("a", "1"), ins("b", "2")]);
    r.checkpoint(&pos("h1", 1)).unwrap();
    r.feed(vec![
        Message::Control(eddy::protocol::ControlMessage::MustRefetch),
        ins("c", "3"),
    ]);
    let (_, _, clear) = r.checkpoint(&pos("h2", 1)).unwrap();
    assert!(clear);
    let (rows, p, _) = loaded_rows(r.restored(&shape("items")));
    assert_eq!((rows, p.handle.as_str()), (kv(&[("c", "3")]), "h2"));
    // A 409 wipe before new data lands.
    let wipe = r.cp.plan_clear();
    now(r.s.commit(wipe.commit)).unwrap();
    r.cp.apply(wipe.receipt).unwrap();
    assert!(matches!(r.restored(&shape("items")), Restored::Empty));
    assert!(r.s.page_ids().is_empty());
    assert!(r.cp.stats().full_rewrite_pending);
    let (_, _, clear) = r.checkpoint(&pos("h3", 5)).unwrap();
    assert!(clear);
    assert_eq!(loaded_rows(r.restored(&shape("items"))).0, kv(&[("c", "3")]));
}

#[test]
fn restore_primes_a_checkpointer_that_continues_incrementally() {
    let mut r = Rig::new(small());
    let batch: Vec<Message> = (0..10).map(|i| ins(&format!("k{i}"), "x")).collect();
    r.feed(batch);
    r.checkpoint(&pos("h", 1)).unwrap();
    r.feed(vec![upd("k3", "y"), del("k4")]);
    r.checkpoint(&pos("h", 2)).unwrap();
    let Restored::Loaded(got) = r.restored(&shape("items")) else {
        panic!()
    };
    assert_eq!(got.checkpointer.stats(), r.cp.stats());
    let mut r2 = Rig {
        m: Materializer::from_snapshot(Default::default(), got.rows),
        cp: got.checkpointer,
        s: r.s,
    };
    r2.feed(vec![upd("k5", "z")]);
    let (_, _, clear) = r2.checkpoint(&pos("h", 3)).unwrap();
    assert!(!clear, "incremental after restore");
    let (rows, _, _) = loaded_rows(r2.restored(&shape("items")));
    assert_eq!(rows.len(), 9);
    assert!(rows.contains(&("k5".into(), "z".into())) && rows.contains(&("k3".into(), "y".into())));
}

#[test]
fn other_definitions_and_damaged_stores_are_discarded() {
    let mut r = Rig::new(small());
    r.feed(vec![ins("a", "1")]);
    r.checkpoint(&pos("h", 1)).unwrap();
    match r.restored(&shape("other")) {
        Restored::Discard(Discard::Definition { stored, expected }) => assert_ne!(stored, expected),
        o => panic!("{o:?}"),
    }
    // A page vanishes under us.
    let s = MemoryStorage::new();
    let meta = now(r.s.load_meta()).unwrap().unwrap();
    now(s.commit(eddy::persist::Commit {
        meta,
        ..Default::default()
    }))
    .unwrap();
    let got = now(restore(&s, &shape("items"), small())).unwrap();
    assert!(matches!(got, Restored::Discard(Discard::Corrupt(_))), "{got:?}");
    // Garbage meta.
    let s = MemoryStorage::new();
    now(s.commit(eddy::persist::Commit {
        meta: b"nope".to_vec(),
        ..Default::default()
    }))
    .unwrap();
    let got = now(restore(&s, &shape("items"), small())).unwrap();
    assert!(matches!(got, Restored::Discard(Discard::Corrupt(_))));
    // A fresh checkpointer replaces a discarded store with a clear_first commit.
    let mut fresh = Rig {
        m: r.m,
        cp: Checkpointer::new(&shape("items"), small()),
        s,
    };
    let (_, _, clear) = fresh.checkpoint(&pos("h", 9)).unwrap();
    assert!(clear);
    assert_eq!(loaded_rows(fresh.restored(&shape("items"))).0, kv(&[("a", "1")]));
}
