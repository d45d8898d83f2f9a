use eddy::log::Materializer;
use eddy::protocol::message::parse_body;
use std::time::Instant;
#[test]
fn probe() {
    let mut body = String::from("[");
    for i in 1..=25_000 {
        if i > 1 {
            body.push(',');
        }
        body.push_str(&format!(r#"{{"key":"\"public\".\"todos\"/\"{i}\"","value":{{"id":"{i}","title":"todo number {i}","done":"t","score":"{}","meta":"{{\"n\": {i}, \"ok\": false, \"tag\": \"t{}\"}}","created_at":"2026-01-01 00:00:01+00"}},"headers":{{"operation":"insert","relation":["public","todos"]}}}}"#, i as f64 / 3.0, i % 10));
    }
    body.push(']');
    println!("body {} bytes", body.len());
    for _ in 0..3 {
        let t = Instant::now();
        let mut m = Materializer::new();
        let mut parse = std::time::Duration::ZERO;
        for _ in 0..4 {
            let t1 = Instant::now();
            let msgs = parse_body(body.as_bytes()).unwrap();
            parse += t1.elapsed();
            m.ingest(msgs);
        }
        println!("4 chunks: total {:?} parse {:?}", t.elapsed(), parse);
    }
}
