//! Property tests for the wire layer: SSE framing, request URLs and response classification.
//!
//! `EDDY_FUZZ_CASES` sets the number of cases per property (default 2000).

use eddy::protocol::offset::{LogOffset, Offset, OpOffset};
use eddy::protocol::request::{build_url, LogMode, Replica, RequestError, RequestParams, ShapeDefinition};
use eddy::protocol::response::{
    classify, parse_retry_after, RequestKind, ResponseClass, ResponseError, MAX_ERROR_BODY_BYTES,
    MAX_RETRY_AFTER_MS,
};
use eddy::protocol::sse::{SseDecoder, SseEvent, StreamEnd};
use proptest::prelude::*;

mod fuzz_support;

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(fuzz_support::cases(2000))
}

// ---------------------------------------------------------------------------------------------
// SSE

/// Stream fragments that exercise every rule: line endings, fields, comments, BOMs, multibyte
/// characters (split by the chunking), invalid UTF-8 and NULs.
fn fragment() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"data: ".to_vec()),
        Just(b"data:".to_vec()),
        Just(b"data".to_vec()),
        Just(b"event: ".to_vec()),
        Just(b"id: ".to_vec()),
        Just(b"id".to_vec()),
        Just(b"retry: ".to_vec()),
        Just(b": keep-alive".to_vec()),
        Just(b":".to_vec()),
        Just(b" ".to_vec()),
        Just(vec![0xEF, 0xBB, 0xBF]),
        Just(vec![0xEF, 0xBB]),
        Just("é😀".as_bytes().to_vec()),
        Just(vec![0xF0, 0x9F]),
        Just(vec![0xFF]),
        Just(vec![0]),
        "[a-z0-9{}\":,]{0,8}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..4),
    ]
}

fn stream() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(fragment(), 0..40).prop_map(|f| f.concat())
}

/// Feed `stream` cut at `cuts` (positions taken modulo the length + 1).
fn decode_split(stream: &[u8], cuts: &[usize], max: usize) -> (Vec<SseEvent>, Option<StreamEnd>, bool) {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    points.sort_unstable();
    let mut d = SseDecoder::with_max_event_bytes(max);
    let mut events = Vec::new();
    let mut prev = 0;
    for p in points.into_iter().chain([stream.len()]) {
        match d.push(&stream[prev..p]) {
            Ok(e) => events.extend(e),
            Err(_) => return (events, None, true),
        }
        prev = p;
    }
    (events, Some(d.finish()), false)
}

/// A deliberately simple, non-incremental reading of the HTML event-stream rules.
fn reference(stream: &[u8]) -> (Vec<SseEvent>, StreamEnd) {
    let body = stream.strip_prefix(&[0xEF, 0xBB, 0xBF][..]).unwrap_or(stream);
    let text = String::from_utf8_lossy(body);
    let mut lines = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                lines.push(std::mem::take(&mut current));
            }
            '\n' => lines.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    let (mut data, mut event, mut id) = (String::new(), String::new(), String::new());
    let mut events = Vec::new();
    for line in lines {
        if line.is_empty() {
            if !data.is_empty() {
                data.pop();
                events.push(SseEvent {
                    event: (!event.is_empty()).then(|| event.clone()),
                    data: std::mem::take(&mut data),
                    id: (!id.is_empty()).then(|| id.clone()),
                });
            }
            event.clear();
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_str(), ""),
        };
        match field {
            "data" => {
                data.push_str(value);
                data.push('\n');
            }
            "event" => event = value.to_owned(),
            "id" if !value.contains('\0') => id = value.to_owned(),
            _ => {}
        }
    }
    let clean = current.is_empty() && data.is_empty() && event.is_empty();
    (
        events,
        if clean {
            StreamEnd::Clean
        } else {
            StreamEnd::Truncated
        },
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sse_split_anywhere_gives_the_reference_events(
        stream in stream(),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let whole = decode_split(&stream, &[], usize::MAX);
        let split = decode_split(&stream, &cuts, usize::MAX);
        prop_assert_eq!(&split, &whole);
        let (events, end) = reference(&stream);
        prop_assert_eq!(whole, (events, Some(end), false));
    }

    #[test]
    fn sse_arbitrary_bytes_never_panic_and_bound_is_split_independent(
        stream in proptest::collection::vec(any::<u8>(), 0..300),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
        max in 0usize..64,
    ) {
        let whole = decode_split(&stream, &[], max);
        let split = decode_split(&stream, &cuts, max);
        // Whether the bound trips does not depend on chunking, nor do the events before it
        // when it does not.
        prop_assert_eq!(whole.2, split.2);
        if !whole.2 {
            prop_assert_eq!(whole, split);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Request URLs

const BASE: &str = "http://localhost:3000/v1/shape";
const PROXY: &str = "proxy-token";

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_]{0,6}",
        "\\PC{0,8}",
        any::<String>().prop_map(|s| s.chars().take(8).collect()),
        Just("a b&c=d+e%f#g?h".to_owned()),
    ]
}

fn offset() -> impl Strategy<Value = Offset> {
    prop_oneof![
        Just(Offset::BeforeAll),
        Just(Offset::Now),
        (any::<u64>(), any::<u64>()).prop_map(|(tx, op)| Offset::Log(LogOffset::new(tx, op))),
        any::<u64>().prop_map(|tx| Offset::Log(LogOffset::tx_end(tx))),
    ]
}

prop_compose! {
    fn shape()(
        table in text(),
        where_clause in proptest::option::of(text()),
        params in proptest::collection::btree_map(0u32..20, text(), 0..4),
        columns in proptest::option::of(proptest::collection::vec(text(), 0..4)),
        full in any::<bool>(),
        changes_only in any::<bool>(),
        extra in proptest::collection::btree_map(text(), text(), 0..4),
    ) -> ShapeDefinition {
        ShapeDefinition {
            table,
            where_clause,
            params,
            columns,
            replica: if full { Replica::Full } else { Replica::Default },
            log: if changes_only { LogMode::ChangesOnly } else { LogMode::Full },
            extra,
        }
    }
}

prop_compose! {
    fn request()(
        offset in offset(),
        handle in proptest::option::of(text()),
        live in any::<bool>(),
        sse in any::<bool>(),
        cursor in proptest::option::of(text()),
        cache_buster in proptest::option::of(text()),
        expired_handle in proptest::option::of(text()),
    ) -> RequestParams {
        RequestParams { offset, handle, live, sse, cursor, cache_buster, expired_handle }
    }
}

/// The params `build_url` must send, independently of how it orders or encodes them.
fn expected_params(shape: &ShapeDefinition, req: &RequestParams) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: &str| out.push((k.to_owned(), v.to_owned()));
    if !shape.table.is_empty() {
        put("table", &shape.table);
    }
    if let Some(w) = shape.where_clause.as_deref().filter(|w| !w.is_empty()) {
        put("where", w);
    }
    for (n, v) in &shape.params {
        put(&format!("params[{n}]"), v);
    }
    if let Some(cols) = &shape.columns {
        let quoted: Vec<String> = cols
            .iter()
            .map(|c| format!("\"{}\"", c.replace('"', "\"\"")))
            .collect();
        put("columns", &quoted.join(","));
    }
    if shape.replica == Replica::Full {
        put("replica", "full");
    }
    put(
        "log",
        if shape.log == LogMode::Full {
            "full"
        } else {
            "changes_only"
        },
    );
    for (k, v) in &shape.extra {
        put(k, v);
    }
    put("offset", &req.offset.to_string());
    if !req.offset.is_initial() {
        put("handle", req.handle.as_deref().unwrap_or_default());
    }
    if req.live {
        put("live", "true");
        put("cursor", req.cursor.as_deref().unwrap_or_default());
    } else if let Some(c) = &req.cursor {
        put("cursor", c);
    }
    if req.sse {
        put("live_sse", "true");
        put("experimental_live_sse", "true");
    }
    if let Some(v) = &req.cache_buster {
        put("cache-buster", v);
    }
    if let Some(v) = &req.expired_handle {
        put("expired_handle", v);
    }
    out.sort();
    out
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn build_url_round_trips_through_form_decoding(
        shape in shape(),
        req in request(),
        proxy in proptest::option::of(text()),
    ) {
        let reserved = shape.extra.keys().any(|k| eddy::protocol::request::is_reserved_param(k));
        // A base URL that carries a proxy param of its own (form-encoded), and a fragment.
        let base = match &proxy {
            Some(v) => {
                let q: String = form_urlencoded::Serializer::new(String::new()).append_pair(PROXY, v).finish();
                format!("{BASE}?{q}#frag")
            }
            None => BASE.to_owned(),
        };
        let mut expected = expected_params(&shape, &req);
        if let (Some(v), false) = (&proxy, shape.extra.contains_key(PROXY)) {
            expected.push((PROXY.to_owned(), v.clone()));
            expected.sort();
        }
        match build_url(&base, &shape, &req) {
            Ok(url) => {
                prop_assert!(!reserved);
                let query = url.strip_prefix(BASE).and_then(|q| q.strip_prefix('?'));
                prop_assert!(query.is_some(), "{}", url);
                let query = query.unwrap_or_default();
                prop_assert!(!query.contains(['#', ' ']));
                let got: Vec<(String, String)> =
                    form_urlencoded::parse(query.as_bytes()).into_owned().collect();
                let names: Vec<Vec<u16>> = got.iter().map(|(k, _)| k.encode_utf16().collect()).collect();
                prop_assert!(names.windows(2).all(|w| w[0] <= w[1]), "not sorted: {}", url);
                let mut sorted = got.clone();
                sorted.sort();
                prop_assert_eq!(sorted, expected);
                prop_assert_eq!(build_url(&base, &shape, &req), Ok(url));
            }
            Err(RequestError::ReservedParam { name }) => {
                prop_assert!(reserved && shape.extra.contains_key(&name));
            }
            Err(RequestError::EmptyTable) => prop_assert!(shape.table.is_empty()),
            Err(RequestError::EmptyColumns) => prop_assert_eq!(shape.columns, Some(vec![])),
            Err(RequestError::SseWithoutLive) => prop_assert!(req.sse && !req.live),
            Err(RequestError::LiveWithInitialOffset { .. }) => {
                prop_assert!(req.live && req.offset.is_initial())
            }
            Err(RequestError::MissingShapeHandle { .. }) => {
                prop_assert!(req.handle.as_deref().unwrap_or_default().is_empty())
            }
            Err(other) => prop_assert!(false, "unexpected {:?}", other),
        }
    }

    #[test]
    fn identity_is_a_function_of_the_definition(a in shape(), b in shape()) {
        prop_assert_eq!(a.identity(), a.clone().identity());
        if a.identity() != b.identity() {
            prop_assert_ne!(a, b);
        }
    }

    #[test]
    fn build_url_never_panics_on_any_base(base in any::<String>(), shape in shape(), req in request()) {
        let _ = build_url(&base, &shape, &req);
    }
}

// ---------------------------------------------------------------------------------------------
// Response classification

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("electric-handle".to_owned()),
        Just("Electric-Offset".to_owned()),
        Just("electric-schema".to_owned()),
        Just("electric-cursor".to_owned()),
        Just("electric-up-to-date".to_owned()),
        Just("retry-after".to_owned()),
        Just("content-type".to_owned()),
        "[a-z-]{1,12}",
    ]
}

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0_0".to_owned()),
        Just("-1".to_owned()),
        Just("12_inf".to_owned()),
        Just("{}".to_owned()),
        Just("5".to_owned()),
        Just("Wed, 21 Oct 2015 07:28:00 GMT".to_owned()),
        "[0-9._]{0,25}",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn classify_never_panics_and_keeps_its_invariants(
        status in prop_oneof![any::<u16>(), 100u16..600],
        headers in proptest::collection::vec((header_name(), header_value()), 0..8),
        body in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..6000),
            "\\{\"message\":\"[a-z ]{0,10}\",\"errors\":\\{\"[a-z]{1,4}\":\\[\"[a-z]{0,5}\"\\]\\}\\}"
                .prop_map(String::into_bytes),
        ],
        live in any::<bool>(),
        sse in any::<bool>(),
        now_ms in any::<u64>(),
    ) {
        let kind = RequestKind { live, sse };
        match classify(status, &headers, &body, kind, now_ms) {
            Ok(ResponseClass::Ok(meta)) => {
                prop_assert!((200..300).contains(&status));
                prop_assert!(!meta.handle.is_empty());
            }
            Ok(ResponseClass::NoContent) => prop_assert_eq!(status, 204),
            Ok(ResponseClass::NotModified) => prop_assert_eq!(status, 304),
            Ok(ResponseClass::MustRefetch { .. }) => prop_assert_eq!(status, 409),
            Ok(ResponseClass::Retry { status: s, retry_after_ms }) => {
                prop_assert_eq!(s, Some(status));
                prop_assert!(status == 429 || (500..600).contains(&status));
                prop_assert!(retry_after_ms.unwrap_or(0) <= MAX_RETRY_AFTER_MS);
            }
            Err(ResponseError::Http(e)) => {
                prop_assert_eq!(e.status, status);
                prop_assert!(!(200..300).contains(&status) && ![304, 409, 429].contains(&status));
                prop_assert!(!(500..600).contains(&status));
                prop_assert!(e.body.len() <= MAX_ERROR_BODY_BYTES);
            }
            Err(ResponseError::MissingHeaders { missing }) => {
                prop_assert!((200..300).contains(&status) && status != 204 && !missing.is_empty());
            }
            Err(ResponseError::InvalidHeader { .. }) => prop_assert!((200..300).contains(&status)),
        }
    }

    #[test]
    fn retry_after_is_capped(value in header_value(), now_ms in any::<u64>()) {
        prop_assert!(parse_retry_after(&value, now_ms).unwrap_or(0) <= MAX_RETRY_AFTER_MS);
    }

    #[test]
    fn log_offsets_in_headers_parse_back(tx in any::<u64>(), op in proptest::option::of(any::<u64>())) {
        let offset = LogOffset { tx, op: op.map_or(OpOffset::Inf, OpOffset::At) };
        let headers = vec![
            ("electric-handle".to_owned(), "h".to_owned()),
            ("electric-offset".to_owned(), offset.to_string()),
            ("electric-cursor".to_owned(), "1".to_owned()),
        ];
        let kind = RequestKind { live: true, sse: false };
        match classify(200, &headers, b"", kind, 0) {
            Ok(ResponseClass::Ok(meta)) => prop_assert_eq!(meta.offset, Offset::Log(offset)),
            other => prop_assert!(false, "{:?}", other),
        }
    }
}
