//! Crash safety of the block file: a device that loses or tears every write not yet flushed
//! (each pending write is dropped, applied, or cut at a random byte) when it "crashes" at a
//! random write/flush/truncate. Reopening must yield exactly the last completed commit or the
//! one in flight — meta and every page it names, byte for byte — never a mix; and the
//! reopened store keeps working.
//!
//! Case count: `EDDY_FUZZ_CASES` (default 500).

mod fuzz_support;
mod persist_support;

use std::collections::BTreeMap;

use eddy::persist::{BlockDevice, BlockFileStore, Commit, MemDevice, PageId, StorageError};
use persist_support::crash::CrashDevice;
use proptest::prelude::*;

/// The logical content of a store after a commit.
#[derive(Debug, Clone, Default, PartialEq)]
struct State {
    meta: Option<Vec<u8>>,
    pages: BTreeMap<PageId, Vec<u8>>,
}

#[derive(Debug, Clone)]
struct Spec {
    clear: bool,
    puts: Vec<(u16, u8)>,
    deletes: u8,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        any::<u8>().prop_map(|b| b % 10 == 0),
        prop::collection::vec((1u16..3000, any::<u8>()), 0..5),
        any::<u8>(),
    )
        .prop_map(|(clear, puts, deletes)| Spec { clear, puts, deletes })
}

/// Turn specs into concrete commits and the state after each.
fn plan(specs: &[Spec]) -> Vec<(Commit, State)> {
    let mut state = State::default();
    let mut next_id: PageId = 1;
    let mut out = Vec::new();
    for (n, s) in specs.iter().enumerate() {
        let mut c = Commit {
            clear_first: s.clear,
            meta: format!("meta of commit {n}").into_bytes(),
            ..Commit::default()
        };
        if s.clear {
            state.pages.clear();
        }
        let live: Vec<PageId> = state.pages.keys().copied().collect();
        for (i, id) in live.iter().enumerate() {
            if s.deletes & (1 << (i % 8)) != 0 && i < 8 {
                c.deletes.push(*id);
                state.pages.remove(id);
            }
        }
        for (len, fill) in &s.puts {
            let bytes: Vec<u8> = (0..*len).map(|i| fill.wrapping_add(i as u8)).collect();
            c.puts.push((next_id, bytes.clone()));
            state.pages.insert(next_id, bytes);
            next_id += 1;
        }
        state.meta = Some(c.meta.clone());
        out.push((c, state.clone()));
    }
    out
}

fn read_back<D: BlockDevice>(s: &BlockFileStore<D>, ids: &[PageId]) -> State {
    State {
        meta: s.load_meta_sync().unwrap(),
        pages: ids.iter().copied().zip(s.load_pages_sync(ids).unwrap()).collect(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(fuzz_support::cases(500)))]

    #[test]
    fn a_crash_anywhere_yields_the_last_or_the_in_flight_commit(
        specs in prop::collection::vec(spec(), 1..12),
        crash_frac in 0.0f64..1.1,
        seed in any::<u64>(),
    ) {
        let commits = plan(&specs);
        // Count the device operations of the whole run to pick a crash point inside it.
        let total = {
            let s = BlockFileStore::open(CrashDevice::new(Vec::new(), u64::MAX, 1)).unwrap();
            for (c, _) in &commits {
                s.commit_sync(c.clone()).unwrap();
            }
            s.into_device().ops
        };
        let crash_at = 1 + (total as f64 * crash_frac) as u64;
        let s = BlockFileStore::open(CrashDevice::new(Vec::new(), crash_at, seed)).unwrap();
        let mut done = 0;
        for (c, _) in &commits {
            if s.commit_sync(c.clone()).is_err() {
                break;
            }
            done += 1;
        }
        let image = s.into_device().image();
        let reopened = BlockFileStore::open(MemDevice { data: image }).unwrap();
        let meta = reopened.load_meta_sync().unwrap();
        let last = if done == 0 { State::default() } else { commits[done - 1].1.clone() };
        let candidates: Vec<&State> = [Some(&last), commits.get(done).map(|(_, s)| s)]
            .into_iter()
            .flatten()
            .collect();
        let Some(want) = candidates.iter().find(|st| st.meta == meta) else {
            return Err(TestCaseError::fail(format!("meta {meta:?} is neither commit {done} nor {}", done + 1)));
        };
        let ids: Vec<PageId> = want.pages.keys().copied().collect();
        prop_assert_eq!(&read_back(&reopened, &ids), *want);
        // The recovered store keeps working.
        let mut next = (*want).clone();
        let extra = Commit {
            puts: vec![(10_000, vec![9; 777])],
            deletes: ids.iter().take(1).copied().collect(),
            meta: b"after recovery".to_vec(),
            ..Commit::default()
        };
        for id in &extra.deletes {
            next.pages.remove(id);
        }
        next.pages.insert(10_000, vec![9; 777]);
        next.meta = Some(extra.meta.clone());
        reopened.commit_sync(extra).unwrap();
        let again = BlockFileStore::open(reopened.into_device()).unwrap();
        let ids: Vec<PageId> = next.pages.keys().copied().collect();
        prop_assert_eq!(read_back(&again, &ids), next);
    }
}

#[test]
fn a_failed_slot_write_that_landed_is_found_before_the_next_commit() {
    // Crash right at the slot write: the slot is fully written but reported as failed.
    struct LyingDevice(MemDevice, u32);
    impl BlockDevice for LyingDevice {
        fn read_at(&mut self, o: u64, b: &mut [u8]) -> Result<usize, StorageError> {
            self.0.read_at(o, b)
        }
        fn write_at(&mut self, o: u64, d: &[u8]) -> Result<(), StorageError> {
            self.0.write_at(o, d)?;
            if o < 8192 && self.1 == 0 {
                self.1 = 1;
                return Err(StorageError::Backend("reported failure".into()));
            }
            Ok(())
        }
        fn flush(&mut self) -> Result<(), StorageError> {
            Ok(())
        }
        fn size(&mut self) -> Result<u64, StorageError> {
            self.0.size()
        }
        fn truncate(&mut self, l: u64) -> Result<(), StorageError> {
            self.0.truncate(l)
        }
    }
    let s = BlockFileStore::open(LyingDevice(MemDevice::default(), 0)).unwrap();
    let c1 = Commit {
        puts: vec![(1, vec![1; 100])],
        meta: b"one".to_vec(),
        ..Commit::default()
    };
    assert!(s.commit_sync(c1).is_err());
    // The write landed: the store now reports commit one and builds on it.
    assert_eq!(s.load_meta_sync().unwrap(), Some(b"one".to_vec()));
    let c2 = Commit {
        puts: vec![(2, vec![2; 100])],
        meta: b"two".to_vec(),
        ..Commit::default()
    };
    s.commit_sync(c2).unwrap();
    let again = BlockFileStore::open(s.into_device()).unwrap();
    assert_eq!(
        again.load_pages_sync(&[1, 2]).unwrap(),
        vec![vec![1; 100], vec![2; 100]]
    );
}
