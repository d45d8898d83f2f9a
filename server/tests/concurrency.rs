//! Every committed write appears in every matching live shape exactly once: concurrent
//! writers, several live followers with different definitions, then each follower's state
//! must equal a fresh sync of the same shape.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;

use common::{materialize, sync, Server};
use serde_json::{json, Value as Json};

fn follow(
    s: &Server,
    def: &[(&str, &str)],
    stop: &AtomicBool,
    ready: &Barrier,
) -> (BTreeMap<String, Json>, usize) {
    let (mut handle, mut offset, msgs, _) = sync(s, def);
    ready.wait();
    let mut rows = BTreeMap::new();
    materialize(&mut rows, &msgs);
    let mut seen_offsets = std::collections::BTreeSet::new();
    let mut changes = 0;
    let mut idle_after_stop = 0;
    loop {
        let mut pairs = def.to_vec();
        pairs.push(("offset", &offset));
        pairs.push(("handle", &handle));
        pairs.push(("live", "true"));
        let r = s.shape(&pairs);
        assert_eq!(r.status, 200, "{}", r.body);
        let ch = r.changes();
        for m in &ch {
            let off = format!(
                "{}_{}",
                m["headers"]["lsn"].as_str().unwrap(),
                m["headers"]["op_position"]
            );
            assert!(seen_offsets.insert(off.clone()), "offset {off} delivered twice");
        }
        changes += ch.len();
        materialize(&mut rows, &ch);
        handle = r.h("electric-handle").to_string();
        offset = r.h("electric-offset").to_string();
        if stop.load(Ordering::SeqCst) {
            if ch.is_empty() && r.ends_up_to_date() {
                idle_after_stop += 1;
                if idle_after_stop >= 2 {
                    return (rows, changes);
                }
            } else {
                idle_after_stop = 0;
            }
        }
    }
}

#[test]
fn concurrent_writers_and_live_followers_agree() {
    let s = Server::start(&["--long-poll-ms", "150", "--chunk-bytes", "3000"]);
    for i in 0..20 {
        s.insert_todo(i, &format!("seed {i}"), i % 2 == 0);
    }
    let defs: Vec<Vec<(&str, &str)>> = vec![
        vec![("table", "todos")],
        vec![("table", "todos"), ("where", "done")],
        vec![
            ("table", "todos"),
            ("where", "priority > 5 OR title LIKE 'w1%'"),
            ("columns", "id,title,priority"),
        ],
        vec![("table", "todos"), ("replica", "full")],
    ];
    let stop = AtomicBool::new(false);
    // Writers start once every follower has its snapshot, so all of them see live changes.
    let ready = Barrier::new(defs.len() + 3);
    let results = std::thread::scope(|scope| {
        let followers: Vec<_> = defs
            .iter()
            .map(|d| scope.spawn(|| follow(&s, d, &stop, &ready)))
            .collect();
        let writers: Vec<_> = (0..3)
            .map(|w| {
                let (s, ready) = (&s, &ready);
                scope.spawn(move || {
                    ready.wait();
                    for n in 0..40i64 {
                        let id = 1000 + w * 100 + n;
                        let target = (n * 7 + w) % 20;
                        s.write(json!({"ops":[
                            {"op":"insert","table":"todos","row":{"id":id,"title":format!("w{w} {n}"),"done":n % 3 == 0,"priority":n % 10}},
                            {"op":"update","table":"todos","row":{"id":target,"done":n % 2 == 0,"priority":n % 9}}
                        ]}));
                        if n % 5 == 4 {
                            s.write(json!({"ops":[{"op":"delete","table":"todos","row":{"id":id}}]}));
                        }
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        stop.store(true, Ordering::SeqCst);
        followers
            .into_iter()
            .map(|f| f.join().unwrap())
            .collect::<Vec<_>>()
    });
    for (def, (rows, changes)) in defs.iter().zip(results) {
        let (_, _, fresh, _) = sync(&s, def);
        let mut expected = BTreeMap::new();
        materialize(&mut expected, &fresh);
        // A fresh sync of the same definition reuses the handle, so compare with a rotated one.
        assert_eq!(s.delete_shape(def).status, 202);
        let (_, _, rotated, _) = sync(&s, def);
        let mut truth = BTreeMap::new();
        materialize(&mut truth, &rotated);
        assert_eq!(rows, truth, "follower of {def:?} diverged");
        assert_eq!(expected, truth);
        assert!(changes > 0, "{def:?} saw live changes");
    }
}
