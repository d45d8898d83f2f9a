//! `Materializer::pending_inserts` and `plain_commit`: an initial sync's rows can be rendered
//! batch by batch before the commit, and the commit tells whether it made exactly those rows.

use eddy::log::{Materializer, PlainCommit, SegmentRange};
use eddy::protocol::parse_body;

fn ins(id: u32) -> String {
    format!(r#"{{"key":"k{id}","value":{{"id":"{id}"}},"headers":{{"operation":"insert"}}}}"#)
}
fn upd(id: u32) -> String {
    format!(r#"{{"key":"k{id}","value":{{"id":"{id}","n":"x"}},"headers":{{"operation":"update"}}}}"#)
}
const UTD: &str = r#"{"headers":{"control":"up-to-date"}}"#;
const REFETCH: &str = r#"{"headers":{"control":"must-refetch"}}"#;

fn batch(m: &mut Materializer, items: &[String]) {
    let body = format!("[{}]", items.join(","));
    m.ingest(parse_body(body.as_bytes()).unwrap());
}
fn keys(rows: &[&eddy::protocol::ChangeMessage]) -> Vec<String> {
    rows.iter().map(|c| c.key.as_str().to_owned()).collect()
}
fn pending(m: &Materializer, after: Option<u64>) -> Option<(SegmentRange, Vec<String>)> {
    m.pending_inserts(after).map(|(r, rows)| (r, keys(&rows)))
}
fn range(first: u64, last: u64) -> SegmentRange {
    SegmentRange { first, last }
}

#[test]
fn an_initial_sync_is_rendered_batch_by_batch_and_its_commit_is_plain() {
    let mut m = Materializer::new();
    assert_eq!(pending(&m, None), None, "nothing pending");
    batch(&mut m, &[ins(1), ins(2)]);
    assert_eq!(
        pending(&m, None),
        Some((range(0, 0), vec!["k1".into(), "k2".into()]))
    );
    batch(&mut m, &[ins(3)]);
    assert_eq!(pending(&m, Some(0)), Some((range(1, 1), vec!["k3".into()])));
    assert_eq!(pending(&m, None).unwrap().0, range(0, 1));
    assert_eq!(pending(&m, Some(1)), None, "nothing after the last segment");
    // The last batch carries rows and the up-to-date: committed in the same call.
    batch(&mut m, &[ins(4), UTD.into()]);
    assert_eq!(
        m.plain_commit(),
        Some(PlainCommit {
            segments: range(0, 2),
            rows: 4
        })
    );
    let order: Vec<&str> = m.rows().map(|(k, _)| k.as_str()).collect();
    assert_eq!(order, ["k1", "k2", "k3", "k4"], "map order is segment order");
    assert_eq!(pending(&m, None), None, "something is committed now");
    // The next (live) commit is not plain, even if it only inserts.
    batch(&mut m, &[ins(5), UTD.into()]);
    assert_eq!(m.plain_commit(), None);
}

#[test]
fn anything_but_distinct_plain_inserts_makes_the_commit_not_plain() {
    // A key twice: fewer rows than inserts.
    let mut m = Materializer::new();
    batch(&mut m, &[ins(1), ins(2)]);
    batch(&mut m, &[ins(2), UTD.into()]);
    assert_eq!(m.plain_commit(), None);
    assert_eq!(m.len(), 2);
    // An update pending: no early rendering, and the commit is not plain.
    let mut m = Materializer::new();
    batch(&mut m, &[ins(1)]);
    assert!(pending(&m, None).is_some());
    batch(&mut m, &[upd(1)]);
    assert_eq!(pending(&m, None), None);
    assert_eq!(pending(&m, Some(0)), None);
    batch(&mut m, &[UTD.into()]);
    assert_eq!(m.plain_commit(), None);
    // A PK change's insert half is not plain either.
    let mut m = Materializer::new();
    batch(
        &mut m,
        &[
            r#"{"key":"k9","value":{"id":"9"},"headers":{"operation":"insert","key_change_from":"k8"}}"#
                .into(),
        ],
    );
    assert_eq!(pending(&m, None), None);
}

#[test]
fn a_must_refetch_retires_the_segment_ids_and_the_refetch_commit_is_not_plain() {
    let mut m = Materializer::new();
    batch(&mut m, &[ins(1), ins(2)]);
    batch(&mut m, &[REFETCH.into()]);
    assert_eq!(pending(&m, None), None, "refetching");
    batch(&mut m, &[ins(3)]);
    assert_eq!(pending(&m, None), None, "still refetching until the commit");
    batch(&mut m, &[UTD.into()]);
    assert_eq!(m.plain_commit(), None);
    // A fresh materializer after a refetch commit of an empty shape: ids never come back.
    let mut m = Materializer::new();
    batch(&mut m, &[ins(1)]);
    let (before, _) = m.pending_inserts(None).unwrap();
    batch(&mut m, &[REFETCH.into(), UTD.into()]);
    batch(&mut m, &[ins(2)]);
    let (after, _) = m.pending_inserts(None).unwrap();
    assert!(after.first > before.last, "{after:?} reuses an id of {before:?}");
}

#[test]
fn a_restored_map_has_no_early_rows() {
    let mut m = Materializer::new();
    batch(&mut m, &[ins(1), UTD.into()]);
    let mut r = Materializer::from_snapshot(*m.options(), m.snapshot());
    batch(&mut r, &[ins(2)]);
    assert_eq!(pending(&r, None), None);
    assert_eq!(r.plain_commit(), None);
}

#[test]
fn a_segment_read_early_never_grows_and_mixed_batches_keep_map_order() {
    const END: &str = r#"{"headers":{"control":"snapshot-end","xmin":"1","xmax":"2","xip_list":[]}}"#;
    let mut m = Materializer::new();
    // A plain batch: its messages become a segment as they are (spare capacity included).
    batch(&mut m, &[ins(1), ins(2)]);
    assert_eq!(
        pending(&m, None),
        Some((range(0, 0), vec!["k1".into(), "k2".into()]))
    );
    // A batch with a control message inside (a snapshot-end that commits nothing): staged one
    // by one, into segments of its own, never into the segment already read.
    batch(&mut m, &[ins(3), END.into(), ins(4)]);
    batch(&mut m, &[ins(5)]);
    let (r, keys) = pending(&m, Some(0)).unwrap();
    assert_eq!(keys, ["k3", "k4", "k5"]);
    assert_eq!(r.first, 1);
    assert_eq!(pending(&m, None).unwrap().1, ["k1", "k2", "k3", "k4", "k5"]);
    batch(&mut m, &[UTD.into()]);
    assert_eq!(
        m.plain_commit(),
        Some(PlainCommit {
            segments: range(0, r.last),
            rows: 5
        })
    );
    let order: Vec<&str> = m.rows().map(|(k, _)| k.as_str()).collect();
    assert_eq!(order, ["k1", "k2", "k3", "k4", "k5"]);
}
