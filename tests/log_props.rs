//! Properties of the `log` module (materializer and compaction), checked against an
//! independent reference model over random message sequences, plus hand-written wire bodies
//! from the protocol reference materialized end to end.
//!
//! Case count: `EDDY_FUZZ_CASES` (default 1000).

use std::collections::BTreeMap;

use eddy::log::{compact, ChangeSet, Compactor, Materializer, MaterializerOptions, Mode};
use eddy::protocol::row::intern;
use eddy::protocol::{
    parse_body, ChangeHeaders, ChangeMessage, ControlMessage, Key, Message, Operation, Row,
};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Reference model: the documented rules, written naively over ordered maps.

type MRow = BTreeMap<String, Option<String>>;
type MRows = BTreeMap<String, MRow>;

fn mrow(r: &Row) -> MRow {
    r.iter()
        .map(|(c, v)| (c.to_string(), v.map(String::from)))
        .collect()
}

fn overlay(base: &mut MRow, patch: &Row) {
    for (c, v) in patch.iter() {
        base.insert(c.to_string(), v.map(String::from));
    }
}

#[derive(Debug, Clone, Default)]
struct Model {
    rows: MRows,
    carry: Option<(String, MRow)>,
    pending: Vec<ChangeMessage>,
    refetching: bool,
    changes_only: bool,
}

impl Model {
    fn apply(rows: &mut MRows, carry: &mut Option<(String, MRow)>, c: &ChangeMessage, changes_only: bool) {
        let key = c.key.as_str().to_string();
        match c.operation {
            Operation::Insert => {
                if let Some(from) = &c.headers.key_change_from {
                    let carried = match carry.take() {
                        Some((k, r)) if k == from.as_str() => Some(r),
                        other => {
                            *carry = other;
                            None
                        }
                    };
                    if let Some(existing) = rows.get_mut(&key) {
                        overlay(existing, &c.value);
                        return;
                    }
                    if let Some(mut r) = carried {
                        overlay(&mut r, &c.value);
                        rows.insert(key, r);
                        return;
                    }
                }
                rows.insert(key, mrow(&c.value));
            }
            Operation::Update => match rows.get_mut(&key) {
                Some(r) => overlay(r, &c.value),
                None if !changes_only => {
                    rows.insert(key, mrow(&c.value));
                }
                None => {}
            },
            Operation::Delete => {
                let removed = rows.remove(&key);
                if c.headers.key_change_to.is_some() {
                    *carry = removed.map(|r| (key, r));
                }
            }
        }
    }

    /// Feed one message; true if it was an up-to-date (a commit).
    fn feed(&mut self, m: &Message) -> bool {
        match m {
            Message::Change(c) => self.pending.push(c.clone()),
            Message::Control(ControlMessage::MustRefetch) => {
                self.pending.clear();
                self.refetching = true;
            }
            Message::Control(ControlMessage::UpToDate { .. }) => {
                let pending = std::mem::take(&mut self.pending);
                if std::mem::take(&mut self.refetching) {
                    self.rows.clear();
                    self.carry = None;
                }
                for c in &pending {
                    Model::apply(&mut self.rows, &mut self.carry, c, self.changes_only);
                }
                return true;
            }
            _ => {}
        }
        false
    }
}

fn content(m: &Materializer) -> MRows {
    m.rows().map(|(k, r)| (k.as_str().to_string(), mrow(r))).collect()
}

fn ordered(m: &Materializer) -> Vec<(Key, Row)> {
    m.rows().map(|(k, r)| (k.clone(), r.clone())).collect()
}

/// The change set the model expects between two committed states (each list sorted).
fn diff(before: &MRows, after: &MRows) -> (Vec<String>, Vec<String>, Vec<String>) {
    let inserted = after
        .keys()
        .filter(|k| !before.contains_key(*k))
        .cloned()
        .collect();
    let deleted = before
        .keys()
        .filter(|k| !after.contains_key(*k))
        .cloned()
        .collect();
    let updated = after
        .iter()
        .filter(|(k, r)| before.get(*k).is_some_and(|b| b != *r))
        .map(|(k, _)| k.clone())
        .collect();
    (inserted, updated, deleted)
}

fn sorted(keys: &[Key]) -> Vec<String> {
    let mut v: Vec<String> = keys.iter().map(|k| k.as_str().to_string()).collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------------
// Generator: operations over 5 keys and 3 columns, turned into a message stream.

const KEYS: u8 = 5;
const COLS: [&str; 3] = ["a", "b", "c"];

#[derive(Debug, Clone)]
enum Op {
    Insert(u8, [Option<&'static str>; 3]),
    Update(u8, Vec<(usize, Option<&'static str>)>),
    Delete(u8),
    /// from, offset to the new key (1..KEYS), the insert's columns (partial or full).
    PkChange(u8, u8, Vec<(usize, Option<&'static str>)>),
    Commit,
    Redeliver,
    MustRefetch,
}

fn val() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        Just(None),
        prop::sample::select(vec!["x", "y", "z"]).prop_map(Some)
    ]
}

fn cols() -> impl Strategy<Value = Vec<(usize, Option<&'static str>)>> {
    prop::collection::vec((0usize..COLS.len(), val()), 0..=3)
}

/// Every column, as the server sends on the insert half of a PK change.
fn full_cols() -> impl Strategy<Value = Vec<(usize, Option<&'static str>)>> {
    [val(), val(), val()].prop_map(|v| v.into_iter().enumerate().collect())
}

fn op(refetch: bool) -> impl Strategy<Value = Op> {
    let key = 0..KEYS;
    prop_oneof![
        4 => (key.clone(), [val(), val(), val()]).prop_map(|(k, v)| Op::Insert(k, v)),
        4 => (key.clone(), cols()).prop_map(|(k, c)| Op::Update(k, c)),
        2 => key.clone().prop_map(Op::Delete),
        2 => (key, 1..KEYS, prop_oneof![cols(), full_cols()]).prop_map(|(f, d, c)| Op::PkChange(f, d, c)),
        3 => Just(Op::Commit),
        1 => Just(Op::Redeliver),
        (if refetch { 1 } else { 0 }) => Just(Op::MustRefetch),
    ]
}

fn key_of(i: u8) -> Key {
    Key::new(format!("\"public\".\"items\"/\"{i}\""))
}

fn change(op: Operation, key: u8, pairs: Vec<(&str, Option<&str>)>, lsn: u64, pos: u64) -> ChangeMessage {
    ChangeMessage {
        key: key_of(key),
        operation: op,
        value: Row::from_pairs(pairs),
        old_value: None,
        headers: ChangeHeaders {
            relation: Some([intern("public"), intern("items")]),
            lsn: Some(lsn),
            op_position: Some(pos),
            txids: vec![lsn],
            ..ChangeHeaders::default()
        },
    }
}

/// The message stream for `ops`, always ending with an up-to-date.
fn stream(ops: &[Op]) -> Vec<Message> {
    let mut out = Vec::new();
    let mut cur: Vec<Message> = Vec::new();
    let mut last: Vec<Message> = Vec::new();
    let mut lsn = 1u64;
    fn push(out: &mut Vec<Message>, cur: &mut Vec<Message>, c: ChangeMessage) {
        let m = Message::Change(c);
        out.push(m.clone());
        cur.push(m);
    }
    for op in ops {
        let pos = cur.len() as u64;
        match op {
            Op::Insert(k, v) => {
                let id = k.to_string();
                let mut pairs = vec![("id", Some(id.as_str()))];
                pairs.extend(COLS.iter().zip(v.iter()).map(|(c, v)| (*c, *v)));
                push(&mut out, &mut cur, change(Operation::Insert, *k, pairs, lsn, pos));
            }
            Op::Update(k, c) => {
                let id = k.to_string();
                let mut pairs = vec![("id", Some(id.as_str()))];
                pairs.extend(c.iter().map(|(i, v)| (COLS[*i], *v)));
                push(&mut out, &mut cur, change(Operation::Update, *k, pairs, lsn, pos));
            }
            Op::Delete(k) => {
                let id = k.to_string();
                let pairs = vec![("id", Some(id.as_str()))];
                push(&mut out, &mut cur, change(Operation::Delete, *k, pairs, lsn, pos));
            }
            Op::PkChange(from, d, c) => {
                let to = (from + d) % KEYS;
                let (fid, tid) = (from.to_string(), to.to_string());
                let mut del = change(
                    Operation::Delete,
                    *from,
                    vec![("id", Some(fid.as_str()))],
                    lsn,
                    pos,
                );
                del.headers.key_change_to = Some(key_of(to));
                let mut pairs = vec![("id", Some(tid.as_str()))];
                pairs.extend(c.iter().map(|(i, v)| (COLS[*i], *v)));
                let mut ins = change(Operation::Insert, to, pairs, lsn, pos + 1);
                ins.headers.key_change_from = Some(key_of(*from));
                push(&mut out, &mut cur, del);
                push(&mut out, &mut cur, ins);
            }
            Op::Commit => {
                out.push(Message::up_to_date(Some(lsn)));
                last = std::mem::take(&mut cur);
                lsn += 1;
            }
            Op::Redeliver => {
                out.extend(last.iter().cloned());
                cur.extend(last.iter().cloned());
            }
            Op::MustRefetch => {
                out.push(Message::Control(ControlMessage::MustRefetch));
                cur.clear();
            }
        }
    }
    out.push(Message::up_to_date(Some(lsn)));
    out
}

/// False for the insert half of a PK change whose value lacks some column.
fn full_pk_insert(m: &Message) -> bool {
    match m {
        Message::Change(c) if c.headers.key_change_from.is_some() => c.value.len() == COLS.len() + 1,
        _ => true,
    }
}

mod fuzz_support;

fn config() -> ProptestConfig {
    let cases = fuzz_support::cases(1000);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn opts(changes_only: bool) -> MaterializerOptions {
    MaterializerOptions {
        mode: if changes_only {
            Mode::ChangesOnly
        } else {
            Mode::Full
        },
    }
}

proptest! {
    #![proptest_config(config())]

    /// Fed in random batches, the materializer agrees with the model at every commit, exposes
    /// nothing between commits, reports the model's diff, restores from its own snapshot, and
    /// ignores a re-delivery of the last transaction.
    #[test]
    fn materializer_matches_model_and_is_atomic_and_idempotent(
        ops in prop::collection::vec(op(true), 0..60),
        sizes in prop::collection::vec(1usize..6, 1..20),
        changes_only in any::<bool>(),
    ) {
        let msgs = stream(&ops);
        let o = opts(changes_only);
        let mut m = Materializer::with_options(o);
        let mut model = Model { changes_only, ..Model::default() };
        let mut since: Vec<Message> = Vec::new();
        let mut last_tx: Vec<Message> = Vec::new();
        let mut rest = &msgs[..];
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes[i % sizes.len()].min(rest.len());
            i += 1;
            let (batch, tail) = rest.split_at(n);
            rest = tail;
            let before_rows = ordered(&m);
            let before_model = model.rows.clone();
            let mut committed = false;
            let mut reset = false;
            for msg in batch {
                match msg {
                    Message::Change(_) => since.push(msg.clone()),
                    Message::Control(ControlMessage::MustRefetch) => since.clear(),
                    _ => {}
                }
                reset |= model.refetching && msg.is_up_to_date();
                if model.feed(msg) {
                    committed = true;
                    last_tx = std::mem::take(&mut since);
                }
            }
            let got = m.ingest(batch.to_vec());
            prop_assert_eq!(m.pending_len(), model.pending.len());
            prop_assert_eq!(m.is_refetching(), model.refetching);
            let Some(cs) = got else {
                prop_assert!(!committed);
                prop_assert_eq!(ordered(&m), before_rows, "state changed without an up-to-date");
                continue;
            };
            prop_assert!(committed);
            prop_assert_eq!(content(&m), model.rows.clone());
            let (ins, upd, del) = diff(&before_model, &model.rows);
            prop_assert_eq!((sorted(&cs.inserted), sorted(&cs.updated), sorted(&cs.deleted)), (ins, upd, del));
            prop_assert_eq!(cs.reset, reset);

            let restored = Materializer::from_snapshot(o, m.snapshot());
            prop_assert_eq!(ordered(&restored), ordered(&m));

            // Re-delivery right after the commit (the restored copy has nothing pending). Only
            // for transactions the server can send: the insert half of a PK change carries the
            // full row (ref §3.1). With a partial one, a replay can meet the old row already
            // gone and nothing can rebuild the missing columns.
            if last_tx.iter().all(full_pk_insert) {
                let mut again = restored;
                let mut redo = last_tx.clone();
                redo.push(Message::up_to_date(None));
                let cs = again.ingest(redo);
                prop_assert_eq!(cs, Some(ChangeSet::default()), "re-delivery of {:?}", last_tx);
                prop_assert_eq!(content(&again), content(&m));
            }
        }
    }

    /// Compacting the log and applying the result gives the same rows, in the same order, as
    /// applying the log; compaction is idempotent and incremental compaction agrees.
    #[test]
    fn compact_then_apply_equals_apply_all(
        ops in prop::collection::vec(op(true), 0..60),
        snap_every in 1usize..8,
    ) {
        let msgs = stream(&ops);
        let mut all = Materializer::new();
        all.ingest(msgs.clone());
        // After a must-refetch only the later messages count.
        let start = msgs
            .iter()
            .rposition(|m| matches!(m, Message::Control(ControlMessage::MustRefetch)))
            .map_or(0, |i| i + 1);
        let changes: Vec<ChangeMessage> = msgs[start..]
            .iter()
            .filter_map(|m| match m { Message::Change(c) => Some(c.clone()), _ => None })
            .collect();
        let compacted = compact(changes.clone());
        prop_assert!(compacted.iter().all(|c| c.operation == Operation::Insert));
        prop_assert!(compacted.iter().all(|c| c.headers.lsn.is_none() && c.headers.txids.is_empty()));
        prop_assert_eq!(compacted.len(), all.len());
        let from_compact = Materializer::from_snapshot(MaterializerOptions::default(), compacted.clone());
        prop_assert_eq!(ordered(&from_compact), ordered(&all));
        prop_assert_eq!(compact(compacted.clone()), compacted.clone());
        prop_assert_eq!(all.snapshot(), compacted.clone());

        let mut inc = Compactor::new();
        for (i, c) in changes.into_iter().enumerate() {
            inc.push(c);
            if i % snap_every == 0 {
                let _ = inc.snapshot();
            }
        }
        prop_assert_eq!(inc.finish(), compacted);
    }

    /// Persist at a commit point (snapshot), restore, and continue with the rest of the log:
    /// the same rows as never having stopped.
    #[test]
    fn restore_from_snapshot_then_continue(
        ops in prop::collection::vec(op(false), 0..60),
        cut in any::<prop::sample::Index>(),
    ) {
        let msgs = stream(&ops);
        let commits: Vec<usize> = msgs.iter().enumerate().filter(|(_, m)| m.is_up_to_date()).map(|(i, _)| i).collect();
        let at = commits[cut.index(commits.len())] + 1;
        let mut first = Materializer::new();
        first.ingest(msgs[..at].to_vec());
        let mut resumed = Materializer::from_snapshot(MaterializerOptions::default(), first.snapshot());
        resumed.ingest(msgs[at..].to_vec());
        let mut straight = Materializer::new();
        straight.ingest(msgs);
        prop_assert_eq!(ordered(&resumed), ordered(&straight));
    }
}

// ---------------------------------------------------------------------------------------------
// Hand-written wire bodies (ref §3.1, §3.2, §4.2): parse, then materialize.

fn rows_of(m: &Materializer) -> Vec<(String, String)> {
    m.rows()
        .map(|(k, r)| (k.as_str().to_string(), serde_json::to_string(r).unwrap()))
        .collect()
}

fn ingest(m: &mut Materializer, body: &str) -> Option<ChangeSet> {
    m.ingest(parse_body(body.as_bytes()).unwrap())
}

const SNAPSHOT_CHUNK: &str = r#"[
 {"key":"\"public\".\"issues\"/\"1\"","value":{"id":"1","title":"first","n":"10","done":"f"},"headers":{"operation":"insert","relation":["public","issues"]}},
 {"key":"\"public\".\"issues\"/\"2\"","value":{"id":"2","title":"second","n":null,"done":"f"},"headers":{"operation":"insert","relation":["public","issues"]}},
 {"key":"\"public\".\"issues\"/\"3\"","value":{"id":"3","title":"third","n":"30","done":"t"},"headers":{"operation":"insert","relation":["public","issues"]}}
]"#;

const UP_TO_DATE: &str = r#"[{"headers":{"control":"up-to-date","global_last_seen_lsn":"27344100"}}]"#;

const LIVE: &str = r#"[
 {"key":"\"public\".\"issues\"/\"42\"","value":{"id":"42","title":"x","n":null,"done":"f"},"headers":{"operation":"insert","relation":["public","issues"],"lsn":"27344208","op_position":0,"txids":[1021],"last":true}},
 {"key":"\"public\".\"issues\"/\"1\"","value":{"id":"1","n":"11"},"headers":{"operation":"update","relation":["public","issues"],"lsn":"27344300","op_position":0,"txids":[1022]}},
 {"key":"\"public\".\"issues\"/\"2\"","value":{"id":"2"},"headers":{"operation":"delete","relation":["public","issues"],"lsn":"27344300","op_position":1,"txids":[1022],"last":true}},
 {"key":"\"public\".\"issues\"/\"3\"","value":{"id":"3"},"headers":{"operation":"delete","relation":["public","issues"],"lsn":"27344400","op_position":0,"txids":[1023],"key_change_to":"\"public\".\"issues\"/\"33\""}},
 {"key":"\"public\".\"issues\"/\"33\"","value":{"id":"33","title":"third","n":"30","done":"t"},"headers":{"operation":"insert","relation":["public","issues"],"lsn":"27344400","op_position":1,"txids":[1023],"last":true,"key_change_from":"\"public\".\"issues\"/\"3\""}},
 {"headers":{"control":"up-to-date","global_last_seen_lsn":"27344400"}}
]"#;

#[test]
fn realistic_session_materializes_exactly() {
    let mut m = Materializer::new();
    // offset=-1: the first chunk never carries up-to-date (ref §4.2).
    assert_eq!(ingest(&mut m, SNAPSHOT_CHUNK), None);
    assert!(m.is_empty());
    assert_eq!(m.pending_len(), 3);
    let cs = ingest(&mut m, UP_TO_DATE).unwrap();
    assert_eq!(cs.inserted.len(), 3);
    // A live long-poll timeout: up-to-date alone, nothing changes.
    assert!(ingest(&mut m, UP_TO_DATE).unwrap().is_empty());

    let cs = ingest(&mut m, LIVE).unwrap();
    assert_eq!(
        sorted(&cs.inserted),
        [r#""public"."issues"/"33""#, r#""public"."issues"/"42""#]
    );
    assert_eq!(sorted(&cs.updated), [r#""public"."issues"/"1""#]);
    assert_eq!(
        sorted(&cs.deleted),
        [r#""public"."issues"/"2""#, r#""public"."issues"/"3""#]
    );
    let want = vec![
        (
            r#""public"."issues"/"1""#.to_string(),
            r#"{"id":"1","title":"first","n":"11","done":"f"}"#.to_string(),
        ),
        (
            r#""public"."issues"/"33""#.to_string(),
            r#"{"id":"33","title":"third","n":"30","done":"t"}"#.to_string(),
        ),
        (
            r#""public"."issues"/"42""#.to_string(),
            r#"{"id":"42","title":"x","n":null,"done":"f"}"#.to_string(),
        ),
    ];
    let mut got = rows_of(&m);
    // Map order: a delete's slot is taken by the last row (swap_remove), inserts append.
    let order: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        order,
        [
            r#""public"."issues"/"1""#,
            r#""public"."issues"/"42""#,
            r#""public"."issues"/"33""#
        ]
    );
    got.sort();
    assert_eq!(got, want);

    // SSE resume at `<lsn>_0` re-delivers the last transaction's ops (ref §0, §4.4).
    let redelivered = r#"[
     {"key":"\"public\".\"issues\"/\"33\"","value":{"id":"33","title":"third","n":"30","done":"t"},"headers":{"operation":"insert","relation":["public","issues"],"lsn":"27344400","op_position":1,"txids":[1023],"last":true,"key_change_from":"\"public\".\"issues\"/\"3\""}},
     {"headers":{"control":"up-to-date","global_last_seen_lsn":"27344400"}}
    ]"#;
    assert!(ingest(&mut m, redelivered).unwrap().is_empty());
    let mut again = rows_of(&m);
    again.sort();
    assert_eq!(again, want);

    // Persist and restore.
    let restored = Materializer::from_snapshot(MaterializerOptions::default(), m.snapshot());
    assert_eq!(rows_of(&restored), rows_of(&m));
    let snap =
        serde_json::to_string(&m.snapshot().into_iter().map(Message::Change).collect::<Vec<_>>()).unwrap();
    assert!(snap.contains(r#""headers":{"operation":"insert","relation":["public","issues"]}"#));
    assert!(!snap.contains("lsn") && !snap.contains("txids") && !snap.contains("key_change"));
}

#[test]
fn must_refetch_body_then_resync_without_empty_flash() {
    let mut m = Materializer::new();
    ingest(&mut m, SNAPSHOT_CHUNK);
    ingest(&mut m, UP_TO_DATE);
    // A 409's body.
    assert_eq!(
        ingest(&mut m, r#"[{"headers":{"control":"must-refetch"}}]"#),
        None
    );
    assert_eq!(m.len(), 3, "old rows stay visible during the resync");
    let resync = r#"[
     {"key":"\"public\".\"issues\"/\"1\"","value":{"id":"1","title":"first","n":"10","done":"f"},"headers":{"operation":"insert","relation":["public","issues"]}},
     {"key":"\"public\".\"issues\"/\"9\"","value":{"id":"9","title":"ninth","n":null,"done":"f"},"headers":{"operation":"insert","relation":["public","issues"]}}
    ]"#;
    assert_eq!(ingest(&mut m, resync), None);
    assert_eq!(m.len(), 3);
    let cs = ingest(&mut m, UP_TO_DATE).unwrap();
    assert!(cs.reset);
    assert_eq!(sorted(&cs.inserted), [r#""public"."issues"/"9""#]);
    assert!(cs.updated.is_empty(), "row 1 is unchanged");
    assert_eq!(
        sorted(&cs.deleted),
        [r#""public"."issues"/"2""#, r#""public"."issues"/"3""#]
    );
    let keys: Vec<&str> = m.rows().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, [r#""public"."issues"/"1""#, r#""public"."issues"/"9""#]);
}

#[test]
fn replica_full_updates_replace_and_old_value_is_ignored() {
    let mut m = Materializer::new();
    ingest(
        &mut m,
        r#"[{"key":"k","value":{"id":"1","a":"x","b":"y"},"headers":{"operation":"insert"}},{"headers":{"control":"up-to-date"}}]"#,
    );
    let cs = ingest(
        &mut m,
        r#"[{"key":"k","value":{"id":"1","a":"x2","b":"y"},"old_value":{"a":"x"},"headers":{"operation":"update","lsn":"5","op_position":0,"txids":[3],"last":true}},
            {"headers":{"control":"up-to-date"}}]"#,
    )
    .unwrap();
    assert_eq!(sorted(&cs.updated), ["k"]);
    assert_eq!(
        rows_of(&m),
        [("k".to_string(), r#"{"id":"1","a":"x2","b":"y"}"#.to_string())]
    );
    // A full-row delete removes the row.
    ingest(
        &mut m,
        r#"[{"key":"k","value":{"id":"1","a":"x2","b":"y"},"headers":{"operation":"delete"}},{"headers":{"control":"up-to-date"}}]"#,
    );
    assert!(m.is_empty());
}

#[test]
fn subquery_move_out_body_removes_rows_without_deletes() {
    let mut m = Materializer::new();
    ingest(
        &mut m,
        r#"[
         {"key":"a","value":{"id":"a"},"headers":{"operation":"insert","tags":["0cc175b9/1"],"active_conditions":[true,true]}},
         {"key":"b","value":{"id":"b"},"headers":{"operation":"insert","tags":["92eb5ffe/1"],"active_conditions":[true,true]}},
         {"headers":{"control":"up-to-date"}}
        ]"#,
    );
    let cs = ingest(
        &mut m,
        r#"[{"headers":{"event":"move-out","patterns":[{"pos":0,"value":"0cc175b9"}],"txids":[77]}},{"headers":{"control":"up-to-date"}}]"#,
    )
    .unwrap();
    assert_eq!(sorted(&cs.deleted), ["a"]);
    let keys: Vec<&str> = m.rows().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["b"]);
    // The row moves back in as an insert flagged is_move_in.
    ingest(
        &mut m,
        r#"[{"headers":{"event":"move-in","patterns":[{"pos":0,"value":"0cc175b9"}]}},
            {"key":"a","value":{"id":"a"},"headers":{"operation":"insert","tags":["0cc175b9/1"],"active_conditions":[true,true],"is_move_in":true}},
            {"headers":{"control":"up-to-date"}}]"#,
    );
    assert_eq!(m.len(), 2);
    assert_eq!(
        m.tag_state(&Key::from("a")).unwrap().active_conditions,
        vec![true, true]
    );
}
