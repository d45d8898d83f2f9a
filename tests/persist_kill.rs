//! The kill loop, natively: random materializer histories checkpointed through the Checkpointer
//! into a BlockFileStore whose device crashes at a random operation (unflushed writes lost or
//! torn). Reopening and restoring must give exactly the rows and offset of the last completed
//! checkpoint or of the one in flight — never rows from after the stored offset, none missing —
//! and a reopened store continues incrementally.
//!
//! Case count: `EDDY_FUZZ_CASES` (default 300).

mod fuzz_support;
mod persist_support;

use std::collections::BTreeMap;

use eddy::log::Materializer;
use eddy::persist::{
    restore, BlockFileStore, CheckpointPolicy, Checkpointer, MemDevice, Position, Restored, RowSource,
    Storage,
};
use eddy::protocol::{ChangeMessage, ControlMessage, Key, Message, Offset, ShapeDefinition};
use persist_support::crash::CrashDevice;
use persist_support::{del, ins, now, upd};
use proptest::prelude::*;

type Snapshot = BTreeMap<Key, ChangeMessage>;
/// Rows and position of one checkpoint.
type Truth = Option<(Snapshot, Position)>;

fn snapshot(m: &Materializer) -> Snapshot {
    m.keys()
        .into_iter()
        .map(|k| (k.clone(), m.row(&k).unwrap()))
        .collect()
}

fn def() -> ShapeDefinition {
    ShapeDefinition {
        table: "items".into(),
        ..ShapeDefinition::default()
    }
}

const POLICY: CheckpointPolicy = CheckpointPolicy {
    page_target_bytes: 512,
    dead_percent: 50,
    small_page_bytes: 128,
    max_small_pages: 3,
};

struct Rng(u64);
impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Run a seeded history against `store` until a commit fails. Returns the truth after the
/// last successful checkpoint and, if a commit failed, the truth it was writing.
fn drive<S: Storage>(store: &S, seed: u64, steps: usize) -> (Truth, Truth) {
    let mut rng = Rng(seed | 1);
    let mut m = Materializer::new();
    let mut cp = Checkpointer::new(&def(), POLICY);
    let mut last = None;
    let (mut handle, mut tx) = (0, 0u64);
    for _ in 0..steps {
        let mut batch = Vec::new();
        if rng.next(30) == 0 {
            batch.push(Message::Control(ControlMessage::MustRefetch));
            handle += 1;
        }
        for _ in 0..rng.next(40) {
            let k = format!("k{}", rng.next(60));
            let v = "x".repeat(rng.next(50) as usize);
            batch.push(match rng.next(4) {
                0 | 1 => ins(&k, &v),
                2 => upd(&k, &v),
                _ => del(&k),
            });
        }
        batch.push(Message::up_to_date(None));
        tx += 1;
        if let Some(cs) = m.ingest(batch) {
            cp.record(&cs);
        }
        let p = Position {
            handle: format!("h{handle}"),
            offset: Offset::parse(&format!("{tx}_0")).unwrap(),
            schema: None,
        };
        let Some(plan) = cp.plan(&m, &p).unwrap() else {
            continue;
        };
        match now(store.commit(plan.commit)) {
            Ok(()) => {
                cp.apply(plan.receipt).unwrap();
                last = Some((snapshot(&m), p));
            }
            Err(_) => return (last, Some((snapshot(&m), p))),
        }
    }
    (last, None)
}

fn restored(store: &impl Storage) -> Option<(Snapshot, Position, Checkpointer)> {
    match now(restore(store, &def(), POLICY)).unwrap() {
        Restored::Empty => None,
        Restored::Loaded(r) => {
            let rows: Snapshot = r.rows.iter().map(|c| (c.key.clone(), c.clone())).collect();
            assert_eq!(rows.len(), r.rows.len(), "one row per key");
            Some((rows, r.position, r.checkpointer))
        }
        Restored::Discard(d) => panic!("discarded after a crash: {d:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(fuzz_support::cases(300)))]

    #[test]
    fn a_killed_writer_reopens_at_the_last_or_the_in_flight_checkpoint(
        seed in any::<u64>(),
        steps in 1usize..25,
        crash_frac in 0.0f64..1.05,
        tear_seed in any::<u64>(),
    ) {
        let total = {
            let s = BlockFileStore::open(CrashDevice::new(Vec::new(), u64::MAX, 1)).unwrap();
            drive(&s, seed, steps);
            s.into_device().ops
        };
        let crash_at = 1 + (total as f64 * crash_frac) as u64;
        let s = BlockFileStore::open(CrashDevice::new(Vec::new(), crash_at, tear_seed)).unwrap();
        let (last, in_flight) = drive(&s, seed, steps);
        let reopened = BlockFileStore::open(MemDevice { data: s.into_device().image() }).unwrap();
        let got = restored(&reopened);
        let got_rp = got.as_ref().map(|(r, p, _)| (r.clone(), p.clone()));
        prop_assert!(
            got_rp == last || (in_flight.is_some() && got_rp == in_flight),
            "restored {:?}\nlast {:?}\nin flight {:?}", got_rp.as_ref().map(|x| &x.1),
            last.as_ref().map(|x| &x.1), in_flight.as_ref().map(|x| &x.1)
        );
        // Continue from the restored state: one more incremental checkpoint, then reopen.
        if let Some((rows, p, mut cp)) = got {
            let mut m = Materializer::from_snapshot(Default::default(), rows.into_values().collect());
            if let Some(cs) = m.ingest(vec![ins("new", "row"), del("k1"), Message::up_to_date(None)]) {
                cp.record(&cs);
            }
            let p2 = Position { offset: Offset::parse("999_0").unwrap(), ..p };
            let plan = cp.plan(&m, &p2).unwrap().unwrap();
            prop_assert!(!plan.commit.clear_first);
            now(reopened.commit(plan.commit)).unwrap();
            cp.apply(plan.receipt).unwrap();
            let again = BlockFileStore::open(reopened.into_device()).unwrap();
            let (rows2, p3, _) = restored(&again).unwrap();
            prop_assert_eq!(p3, p2);
            prop_assert_eq!(rows2, snapshot(&m));
        }
    }
}
