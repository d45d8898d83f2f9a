//! The body scanner (`BodyParser`) against the serde reader it replaces (`parse_body_serde`):
//! randomized bodies (seeded, reproducible) with every kind of message, row value, escape and
//! whitespace, pushed in random pieces down to single bytes, plus corrupted bodies (every
//! truncation, flipped and inserted bytes, invalid UTF-8, bad escapes, trailing garbage, not an
//! array). Contract: the same messages, or an error of the same variant (and the same index for
//! `Malformed`); an error from `push` is the one `finish` gives.
//!
//! `EDDY_FUZZ_CASES` scales the number of bodies (default 2000).

use eddy::protocol::body::BodyParser;
use eddy::protocol::message::{parse_body, parse_body_serde};
use eddy::protocol::{Message, MessageError};

mod body_support;
mod fuzz_support;

use body_support::{generator, Rng};

/// What must agree: the messages, or the error variant (and index for `Malformed`).
#[derive(Debug, PartialEq)]
enum Outcome {
    Ok(Vec<Message>),
    Json,
    Malformed(usize),
}

fn outcome(r: Result<Vec<Message>, MessageError>) -> Outcome {
    match r {
        Ok(m) => Outcome::Ok(m),
        Err(MessageError::Json { .. }) => Outcome::Json,
        Err(MessageError::Malformed { index, .. }) => Outcome::Malformed(index),
    }
}

/// BodyParser over `body` cut at `cuts` (sorted positions). The size hint varies with the
/// number of cuts: none, exact, too small, too large (it may only change allocation).
fn pieces(body: &[u8], cuts: &[usize]) -> Result<Vec<Message>, MessageError> {
    let mut p = match cuts.len() % 4 {
        0 => BodyParser::new(),
        1 => BodyParser::with_size_hint(body.len()),
        2 => BodyParser::with_size_hint(body.len() / 3),
        _ => BodyParser::with_size_hint(body.len() * 10 + 100),
    };
    let mut from = 0;
    let mut pushed_error = None;
    for &to in cuts.iter().chain([body.len()].iter()) {
        if let Err(e) = p.push(&body[from..to]) {
            pushed_error.get_or_insert(e);
        }
        from = to;
    }
    let end = p.finish();
    if let Some(e) = pushed_error {
        assert_eq!(end.as_ref().err(), Some(&e), "push error differs from finish's");
    }
    end
}

fn check(body: &[u8], rng: &mut Rng, splits: usize) {
    let reference = outcome(parse_body_serde(body));
    let whole = outcome(parse_body(body));
    assert_eq!(whole, reference, "whole body {:?}", String::from_utf8_lossy(body));
    let ones: Vec<usize> = (1..body.len()).collect();
    assert_eq!(
        outcome(pieces(body, &ones)),
        reference,
        "1-byte pieces {:?}",
        String::from_utf8_lossy(body)
    );
    for _ in 0..splits {
        let mut cuts: Vec<usize> = (0..rng.below(6)).map(|_| rng.below(body.len() + 1)).collect();
        cuts.sort_unstable();
        assert_eq!(
            outcome(pieces(body, &cuts)),
            reference,
            "cuts {cuts:?} of {:?}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn random_bodies_read_as_serde_reads_them() {
    let cases = fuzz_support::cases(2000) as u64;
    let mut rng = Rng(7);
    let (mut ok, mut err) = (0, 0);
    for seed in 0..cases {
        let odd = seed % 4 != 0;
        let mut g = generator(seed, [0, 3, 0, 12][seed as usize % 4], odd);
        let body = g.body();
        check(&body, &mut rng, 4);
        if !odd {
            // Plain Electric bodies never need serde.
            let mut p = BodyParser::new();
            p.push(&body).unwrap();
            assert_eq!(p.declined(), 0, "{}", String::from_utf8_lossy(&body));
            p.finish().unwrap();
        }
        match parse_body_serde(&body) {
            Ok(_) => ok += 1,
            Err(_) => err += 1,
        }
    }
    // The generator must mostly make valid bodies, and some invalid ones.
    assert!(ok > cases / 3 && err > 0, "ok {ok}, err {err}");
}

#[test]
fn corrupted_bodies_fail_alike() {
    let cases = fuzz_support::cases(2000) as u64;
    let mut rng = Rng(11);
    let garbage: &[&[u8]] = &[
        b"\xff",
        b"\xc3",
        b"\xe2\x82",
        b"\xed\xa0\x80",
        b"\xc0\xaf",
        b"\\",
        b"\\x",
        b"\\u12G4",
        b"\\ud800",
        b"\\udc00",
        b"\\ud800\\u0041",
        b"\\ud800x",
        b"\"",
        b",",
        b"]",
        b"}",
        b"{",
        b"[",
        b"\x01",
        b"x",
        b" ",
        b"nul",
        b"-",
        b"0",
        b"01",
        b"1.",
        b"1e",
        b":",
        b"\n",
    ];
    for seed in 0..cases {
        let mut g = generator(1_000_000 + seed, [0, 4][seed as usize % 2], seed % 3 != 0);
        let mut body = g.body();
        match rng.below(4) {
            0 => {
                let at = rng.below(body.len() + 1);
                body.splice(at..at, garbage[rng.below(garbage.len())].iter().copied());
            }
            1 => {
                let at = rng.below(body.len());
                body[at] = rng.next() as u8;
            }
            2 => body.extend_from_slice(garbage[rng.below(garbage.len())]),
            _ => {
                let at = rng.below(body.len());
                body.truncate(at);
            }
        }
        check(&body, &mut rng, 2);
    }
}

#[test]
fn every_truncation_fails_alike() {
    for seed in 0..40 {
        let mut g = generator(2_000_000 + seed, [0, 5][seed as usize % 2], seed % 3 != 0);
        let body = g.body();
        for at in 0..body.len() {
            let cut = &body[..at];
            let reference = outcome(parse_body_serde(cut));
            assert_eq!(
                outcome(parse_body(cut)),
                reference,
                "{:?}",
                String::from_utf8_lossy(cut)
            );
            let mid = at / 2;
            assert_eq!(
                outcome(pieces(cut, &[mid])),
                reference,
                "{:?}",
                String::from_utf8_lossy(cut)
            );
        }
    }
}

#[test]
fn fixed_edge_cases() {
    let cases: &[&[u8]] = &[
        b"", b" ", b"[", b"[]", b" [ ] ", b"[] x", b"[],", b"{}", b"null", b"1", b"\"x\"", b"[1]", b"[1x]", b"[1",
        b"[,]", b"[{},]", b"[{\"headers\":{}}]", b"[{\"headers\":{}},]", b"[{\"headers\":{}} {\"headers\":{}}]",
        br#"[{"headers":{"control":"up-to-date"}}"#,
        br#"[{"headers":{"lsn":"x"}"#,
        br#"[[{"control":"up-to-date"}]]"#,
        br#"[{"headers":{"operation":"insert"}}]"#,
        br#"[{"key":"k","headers":{"operation":"insert"},"value":{"a":"1","a":null,"b":"\u00e9\ud83d\ude00"}}]"#,
        br#"[{"key":"k","headers":{"operation":"insert","relation":["public","t"]},"value":{"n":1.50,"o":{"b":1,"a":[true,null]}}}]"#,
        br#"[{"key":"k","headers":{"operation":"update","lsn":"1","lsn":"2"}}]"#,
        br#"[{"key":"k","headers":{"operation":"delete","txids":[1,"2",-3]}}]"#,
        br#"[{"key":"k","headers":{"operation":"delete","op_position":01}}]"#,
        b"[{\"key\":\"k\xff\",\"headers\":{\"operation\":\"insert\"}}]",
        b"[{\"key\":\"k\",\"headers\":{\"x\":\"\xff\",\"operation\":\"insert\"}}]",
        b"\xef\xbb\xbf[]",
    ];
    let mut rng = Rng(3);
    for body in cases {
        check(body, &mut rng, 8);
    }
}

#[test]
fn deep_nesting_fails_alike() {
    for depth in [120, 124, 125, 126, 127, 128, 200] {
        let value = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let body = format!(r#"[{{"key":"k","value":{{"a":{value}}},"headers":{{"operation":"insert"}}}}]"#);
        check(body.as_bytes(), &mut Rng(depth as u64), 2);
    }
}

/// Bodies larger than the scanner's 64 KB reading window, whole and in random pieces, with
/// elements across window edges; plain and odd ones.
#[test]
fn large_bodies_read_as_serde_reads_them() {
    let mut rng = Rng(5);
    for seed in 0..6u64 {
        let mut g = generator(3_000_000 + seed, [0, 6][seed as usize % 2], seed >= 4);
        let mut body = b"[".to_vec();
        for i in 0..1500 {
            if i > 0 {
                body.push(b',');
            }
            g.out.clear();
            g.message();
            body.extend_from_slice(g.out.as_bytes());
        }
        body.push(b']');
        assert!(body.len() > 3 * 64 * 1024, "{}", body.len());
        let reference = outcome(parse_body_serde(&body));
        assert_eq!(outcome(parse_body(&body)), reference);
        for _ in 0..3 {
            let mut cuts: Vec<usize> = (0..rng.below(40)).map(|_| rng.below(body.len() + 1)).collect();
            cuts.sort_unstable();
            assert_eq!(outcome(pieces(&body, &cuts)), reference, "cuts {cuts:?}");
        }
        if seed < 4 {
            assert!(matches!(reference, Outcome::Ok(ref m) if m.len() > 1000));
        }
    }
}

/// A body the scanner mostly declines is handed to serde for the rest: same messages, same
/// error index after the switch.
#[test]
fn mostly_declined_bodies_read_as_serde_reads_them() {
    let row = |i: usize| {
        format!(
            r#"{{"key":"k{i}","value":{{"id":"{i}","meta":{{"n":{i}}}}},"headers":{{"operation":"insert"}}}}"#
        )
    };
    let plain =
        |i: usize| format!(r#"{{"key":"k{i}","value":{{"id":"{i}"}},"headers":{{"operation":"insert"}}}}"#);
    let mut rng = Rng(9);
    for bad_at in [None, Some(3), Some(30)] {
        let elements: Vec<String> = (0..40)
            .map(|i| match i {
                _ if Some(i) == bad_at => r#"{"key":"k","headers":{"operation":"upsert"}}"#.to_string(),
                _ if i % 3 == 0 => plain(i),
                _ => row(i),
            })
            .collect();
        let body = format!("[{}]", elements.join(","));
        check(body.as_bytes(), &mut rng, 6);
        let mut p = BodyParser::new();
        let _ = p.push(body.as_bytes());
        assert!(p.declined() > 0);
        let expected = bad_at.map_or(Outcome::Ok(vec![]), Outcome::Malformed);
        match (outcome(p.finish()), expected) {
            (Outcome::Ok(m), Outcome::Ok(_)) => assert_eq!(m.len(), 40),
            (got, want) => assert_eq!(got, want),
        }
    }
}

/// A data error inside element `i` (a field of the wrong type) names element `i`, in both
/// readers, whole or in pieces, whether the scanner or serde finds it.
#[test]
fn a_data_error_names_its_element() {
    let good = r#"{"key":"k","value":{"id":"1"},"headers":{"operation":"insert"}}"#;
    let bad = [
        r#"{"key":"k","value":{"id":"1"},"headers":{"operation":"insert","lsn":"x"}}"#,
        r#"{"key":"k","value":{"id":"1"},"headers":{"operation":"insert","txids":{"a":1}}}"#,
        r#"{"key":7,"value":{"id":"1"},"headers":{"operation":"insert"}}"#,
        r#"{"key":"k","value":{"id":"1"},"headers":{"operation":"upsert"}}"#,
    ];
    for b in bad {
        for at in [0usize, 1, 5, 40] {
            let elements: Vec<&str> = (0..at).map(|_| good).chain([b, good]).collect();
            let body = format!("[{}]", elements.join(","));
            assert_eq!(
                outcome(parse_body_serde(body.as_bytes())),
                Outcome::Malformed(at),
                "serde, {b} at {at}"
            );
            assert_eq!(
                outcome(parse_body(body.as_bytes())),
                Outcome::Malformed(at),
                "scanner, {b} at {at}"
            );
            let cuts: Vec<usize> = (1..body.len()).step_by(7).collect();
            assert_eq!(
                outcome(pieces(body.as_bytes(), &cuts)),
                Outcome::Malformed(at),
                "pieces, {b} at {at}"
            );
        }
    }
}
