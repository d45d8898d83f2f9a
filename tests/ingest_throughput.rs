//! Native throughput of the ingest path (parse a response body, materialize it), printed, not
//! asserted: speed belongs to benchmarks. The bodies are the `bench/ingest` shape (six typed
//! columns, ~280 bytes a row) in four 25k-row chunks.
//!
//!   cargo test --release --test ingest_throughput -- --ignored --nocapture

use std::time::{Duration, Instant};

use eddy::log::Materializer;
use eddy::protocol::body::BodyParser;
use eddy::protocol::message::{parse_body, parse_body_serde};

fn chunk(from: u64, rows: u64) -> String {
    let mut body = String::from("[");
    for i in from..from + rows {
        if i > from {
            body.push(',');
        }
        body.push_str(&format!(
            r#"{{"key":"\"public\".\"todos\"/\"{i}\"","value":{{"id":"{i}","title":"todo number {i}","done":"t","score":"{}","meta":"{{\"n\": {i}, \"ok\": false, \"tag\": \"t{}\"}}","created_at":"2026-01-01 00:00:01+00"}},"headers":{{"operation":"insert","relation":["public","todos"]}}}}"#,
            i as f64 / 3.0,
            i % 10
        ));
    }
    body.push(']');
    body
}

#[test]
#[ignore = "prints figures; run with --ignored --nocapture"]
fn parse_and_materialize_100k_rows() {
    let chunks: Vec<String> = (0..4).map(|c| chunk(1 + c * 25_000, 25_000)).collect();
    let bytes: usize = chunks.iter().map(String::len).sum();
    for run in 0..5 {
        let t = Instant::now();
        let mut m = Materializer::new();
        let mut parse = Duration::ZERO;
        for body in &chunks {
            let t1 = Instant::now();
            let messages = parse_body(body.as_bytes()).expect("valid body");
            parse += t1.elapsed();
            m.ingest(messages);
        }
        m.ingest(parse_body(br#"[{"headers":{"control":"up-to-date"}}]"#).expect("valid"));
        assert_eq!(m.len(), 100_000);
        let total = t.elapsed();
        println!(
            "run {run}: {:.1} MB in {total:?} ({:.0} MB/s; parse {parse:?}, materialize {:?})",
            bytes as f64 / 1e6,
            bytes as f64 / 1e6 / total.as_secs_f64(),
            total - parse
        );
    }
}

/// Parse alone: the serde reader against the body scanner, whole and in 64 KB pieces (as the
/// browser's network reader delivers them). Best of five runs each.
#[test]
#[ignore = "prints figures; run with --ignored --nocapture"]
fn parse_serde_vs_scanner() {
    let chunks: Vec<String> = (0..4).map(|c| chunk(1 + c * 25_000, 25_000)).collect();
    let bytes: usize = chunks.iter().map(String::len).sum();
    let pieces = |body: &[u8]| {
        let mut p = BodyParser::new();
        for piece in body.chunks(64 * 1024) {
            p.push(piece).expect("valid body");
        }
        p.finish().expect("valid body")
    };
    type Reader<'a> = &'a dyn Fn(&[u8]) -> Vec<eddy::protocol::Message>;
    let readers: [(&str, Reader); 3] = [
        ("serde", &|b| parse_body_serde(b).expect("valid body")),
        ("scanner, whole body", &|b| parse_body(b).expect("valid body")),
        ("scanner, 64 KB pieces", &pieces),
    ];
    for (name, read) in readers {
        let mut best = Duration::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            let mut n = 0;
            for body in &chunks {
                n += read(body.as_bytes()).len();
            }
            best = best.min(t.elapsed());
            assert_eq!(n, 100_000);
        }
        println!(
            "{name}: {:.1} MB in {best:?} ({:.0} MB/s)",
            bytes as f64 / 1e6,
            bytes as f64 / 1e6 / best.as_secs_f64()
        );
    }
}
