//! Incremental Server-Sent-Events framing decoder (ref §3.6), following the HTML standard's
//! event-stream interpretation rules.
//!
//! Feed the response body to [`SseDecoder::push`] in whatever chunks the network delivers
//! (a split may fall anywhere: inside a UTF-8 sequence, between `\r` and `\n`); it returns the
//! events completed so far. Lines end with `\n`, `\r\n` or `\r`; a UTF-8 BOM at the very start
//! is skipped; `data:` lines are joined with `\n`; comment lines (`: keep-alive`) are ignored;
//! `event:`, `id:` and `retry:` are recorded; a blank line dispatches the event unless it has
//! no data. Text is decoded as UTF-8 with invalid sequences replaced by U+FFFD, as browsers do.
//! At end of stream [`SseDecoder::finish`] discards an incomplete trailing event (per spec) and
//! says whether there was one. Memory is bounded: an event (its pending line plus its data)
//! larger than the configured maximum is a typed error.

use crate::error::ErrorCode;

/// Default bound on one event's size: 64 MiB.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 64 * 1024 * 1024;

const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` type, `None` when not set (the spec's default type `message`).
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The last event ID at dispatch time (it persists across events, per spec), `None` when
    /// never set or reset by an empty `id:`.
    pub id: Option<String>,
}

/// Why an event stream was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// One event grew past the configured maximum; the stream must be dropped.
    #[error("server-sent event exceeds {max} bytes")]
    EventTooLarge {
        /// The configured maximum, in bytes.
        max: usize,
    },
}

impl ErrorCode for SseError {
    fn code(&self) -> &'static str {
        match self {
            SseError::EventTooLarge { .. } => "EDDY_SSE_EVENT_TOO_LARGE",
        }
    }
    fn family(&self) -> &'static str {
        "ProtocolError"
    }
}

/// How an event stream ended, from [`SseDecoder::finish`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// Nothing was pending: the stream ended on an event boundary.
    Clean,
    /// An incomplete event (or line) was pending and has been discarded.
    Truncated,
}

/// The incremental decoder; one per response body.
#[derive(Debug, Clone)]
pub struct SseDecoder {
    max_event_bytes: usize,
    /// BOM bytes matched at the start of the stream; `None` once past the start.
    bom_matched: Option<usize>,
    /// The previous byte was `\r`, so a `\n` right after it ends nothing.
    after_cr: bool,
    /// Bytes of the current, unterminated line.
    line: Vec<u8>,
    data: String,
    event_type: String,
    last_event_id: String,
    retry_ms: Option<u64>,
    failed: bool,
}

impl Default for SseDecoder {
    fn default() -> Self {
        SseDecoder::new()
    }
}

impl SseDecoder {
    /// A decoder with the default 64 MiB event bound.
    pub fn new() -> Self {
        SseDecoder::with_max_event_bytes(DEFAULT_MAX_EVENT_BYTES)
    }

    /// A decoder that rejects events larger than `max` bytes (pending line plus data).
    pub fn with_max_event_bytes(max: usize) -> Self {
        SseDecoder {
            max_event_bytes: max,
            bom_matched: Some(0),
            after_cr: false,
            line: Vec::new(),
            data: String::new(),
            event_type: String::new(),
            last_event_id: String::new(),
            retry_ms: None,
            failed: false,
        }
    }

    /// The reconnection time last set by a `retry:` field, in milliseconds.
    pub fn retry_ms(&self) -> Option<u64> {
        self.retry_ms
    }

    /// Decode the next chunk of the stream; returns the events it completed, in order.
    /// After an error the decoder is unusable: every later call returns the same error.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        if self.failed {
            return Err(self.too_large());
        }
        let mut events = Vec::new();
        let mut rest = self.skip_bom(chunk);
        while !rest.is_empty() {
            if self.after_cr {
                self.after_cr = false;
                if let Some(tail) = rest.strip_prefix(b"\n") {
                    rest = tail;
                    continue;
                }
            }
            match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(end) => {
                    let (text, tail) = rest.split_at(end);
                    self.extend_line(text)?;
                    self.after_cr = tail.first() == Some(&b'\r');
                    rest = tail.get(1..).unwrap_or_default();
                    let line = std::mem::take(&mut self.line);
                    if let Some(event) = self.process_line(&line) {
                        events.push(event);
                    }
                    self.line = line;
                    self.line.clear();
                    self.check_size()?;
                }
                None => {
                    self.extend_line(rest)?;
                    rest = &[];
                }
            }
        }
        Ok(events)
    }

    /// End of stream: discard whatever incomplete event is pending (the spec never dispatches
    /// an event without its terminating blank line) and say whether there was one.
    pub fn finish(self) -> StreamEnd {
        let pending_bom = self.bom_matched.is_some_and(|n| n > 0);
        if self.line.is_empty() && self.data.is_empty() && self.event_type.is_empty() && !pending_bom {
            StreamEnd::Clean
        } else {
            StreamEnd::Truncated
        }
    }

    /// Drop a BOM at the very start of the stream, even when it arrives split across chunks.
    fn skip_bom<'a>(&mut self, chunk: &'a [u8]) -> &'a [u8] {
        let Some(mut matched) = self.bom_matched else {
            return chunk;
        };
        let mut rest = chunk;
        while let (Some(&b), Some(&want)) = (rest.first(), BOM.get(matched)) {
            if b != want {
                // Not a BOM after all: the bytes matched so far are ordinary text.
                self.bom_matched = None;
                self.line
                    .extend_from_slice(BOM.get(..matched).unwrap_or_default());
                return rest;
            }
            matched += 1;
            rest = rest.get(1..).unwrap_or_default();
        }
        self.bom_matched = if matched == BOM.len() || !rest.is_empty() {
            None
        } else {
            Some(matched)
        };
        rest
    }

    fn extend_line(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        self.line.extend_from_slice(bytes);
        self.check_size()
    }

    fn check_size(&mut self) -> Result<(), SseError> {
        if self.line.len().saturating_add(self.data.len()) > self.max_event_bytes {
            self.failed = true;
            self.line = Vec::new();
            self.data = String::new();
            return Err(self.too_large());
        }
        Ok(())
    }

    fn too_large(&self) -> SseError {
        SseError::EventTooLarge {
            max: self.max_event_bytes,
        }
    }

    /// Interpret one complete line; a blank line may dispatch an event.
    fn process_line(&mut self, line: &[u8]) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.first() == Some(&b':') {
            return None;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let (field, value) = line.split_at(colon);
                let value = value.get(1..).unwrap_or_default();
                (field, value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"event" => self.event_type = value.into_owned(),
            b"data" => {
                self.data.push_str(&value);
                self.data.push('\n');
            }
            b"id" if !value.contains('\0') => self.last_event_id = value.into_owned(),
            b"retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.retry_ms = Some(value.parse().unwrap_or(u64::MAX));
            }
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event_type = std::mem::take(&mut self.event_type);
        if self.data.is_empty() {
            return None;
        }
        let mut data = std::mem::take(&mut self.data);
        if data.ends_with('\n') {
            data.pop();
        }
        Some(SseEvent {
            event: (!event_type.is_empty()).then_some(event_type),
            data,
            id: (!self.last_event_id.is_empty()).then(|| self.last_event_id.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(data: &str) -> SseEvent {
        SseEvent {
            event: None,
            data: data.into(),
            id: None,
        }
    }

    fn decode(stream: &[u8]) -> (Vec<SseEvent>, StreamEnd) {
        let mut d = SseDecoder::new();
        let events = d.push(stream).unwrap();
        (events, d.finish())
    }

    /// Every split of `stream` into two and three chunks gives the one-shot result.
    fn assert_split_invariant(stream: &[u8]) {
        let whole = decode(stream);
        for i in 0..=stream.len() {
            for j in i..=stream.len() {
                let mut d = SseDecoder::new();
                let mut got = d.push(&stream[..i]).unwrap();
                got.extend(d.push(&stream[i..j]).unwrap());
                got.extend(d.push(&stream[j..]).unwrap());
                assert_eq!((got, d.finish()), whole, "split at {i}, {j}");
            }
        }
    }

    #[test]
    fn electric_stream() {
        let stream =
            b": keep-alive\n\ndata: {\"a\":1}\n\ndata: {\"headers\":{\"control\":\"up-to-date\"}}\n\n";
        let (events, end) = decode(stream);
        assert_eq!(
            events,
            vec![ev("{\"a\":1}"), ev("{\"headers\":{\"control\":\"up-to-date\"}}")]
        );
        assert_eq!(end, StreamEnd::Clean);
        assert_split_invariant(stream);
    }

    #[test]
    fn line_endings_and_multiline_data() {
        let stream = b"data: a\r\ndata:b\rdata:  c\n\r\ndata\n\n";
        let (events, _) = decode(stream);
        assert_eq!(events, vec![ev("a\nb\n c"), ev("")]);
        assert_split_invariant(stream);
    }

    #[test]
    fn fields_event_id_retry() {
        let stream = b"event: change\nid: 7\nretry: 2500\ndata: x\n\ndata: y\n\nid\ndata: z\n\nid: a\0b\nevent\ndata: w\n\n";
        let mut d = SseDecoder::new();
        let events = d.push(stream).unwrap();
        let expect = |event: Option<&str>, data: &str, id: Option<&str>| SseEvent {
            event: event.map(Into::into),
            data: data.into(),
            id: id.map(Into::into),
        };
        assert_eq!(
            events,
            vec![
                expect(Some("change"), "x", Some("7")),
                expect(None, "y", Some("7")),
                expect(None, "z", None),
                expect(None, "w", None),
            ]
        );
        assert_eq!(d.retry_ms(), Some(2500));
        d.push(b"retry: 1s\nretry:\n").unwrap();
        assert_eq!(d.retry_ms(), Some(2500));
        d.push(b"retry:99999999999999999999999\n").unwrap();
        assert_eq!(d.retry_ms(), Some(u64::MAX));
    }

    #[test]
    fn events_without_data_are_not_dispatched() {
        let (events, end) = decode(b"event: ping\n\nid: 3\n\n\n\n: c\n\nfoo: bar\n\n");
        assert!(events.is_empty());
        assert_eq!(end, StreamEnd::Clean);
        // The event type does not leak into the next event.
        let (events, _) = decode(b"event: ping\n\ndata: d\n\n");
        assert_eq!(events, vec![ev("d")]);
    }

    #[test]
    fn bom_skipped_once_even_split() {
        let stream = "\u{FEFF}data: a\n\n\u{FEFF}data: b\n\n".as_bytes();
        let (events, _) = decode(stream);
        // The second BOM is part of a field name, so that line is ignored.
        assert_eq!(events, vec![ev("a")]);
        assert_split_invariant(stream);
        // A partial BOM is text: the line's field name is not `data`.
        let (events, end) = decode(b"\xEF\xBBdata: x\n\ndata: y\n\n");
        assert_eq!(events, vec![ev("y")]);
        assert_eq!(end, StreamEnd::Clean);
        assert_split_invariant(b"\xEF\xBBdata: x\n\ndata: y\n\n");
        assert_eq!(SseDecoder::new().finish(), StreamEnd::Clean);
        let mut d = SseDecoder::new();
        d.push(b"\xEF").unwrap();
        assert_eq!(d.finish(), StreamEnd::Truncated);
    }

    #[test]
    fn utf8_split_and_invalid_bytes() {
        let stream = "data: é😀ü\n\n".as_bytes();
        assert_eq!(decode(stream).0, vec![ev("é😀ü")]);
        assert_split_invariant(stream);
        let (events, _) = decode(b"data: a\xFFb\xF0\x9F\n\n");
        assert_eq!(events, vec![ev("a\u{FFFD}b\u{FFFD}")]);
    }

    #[test]
    fn trailing_incomplete_event_discarded() {
        for tail in [&b"data: x"[..], b"data: x\n", b"event: e\n", b": partial comment"] {
            let mut stream = b"data: done\n\n".to_vec();
            stream.extend_from_slice(tail);
            let (events, end) = decode(&stream);
            assert_eq!(events, vec![ev("done")]);
            assert_eq!(end, StreamEnd::Truncated, "{tail:?}");
        }
        // A final `\r` already ends the blank line: the event is complete.
        let (events, end) = decode(b"data: x\r\r");
        assert_eq!(events, vec![ev("x")]);
        assert_eq!(end, StreamEnd::Clean);
    }

    #[test]
    fn event_size_is_bounded() {
        let mut d = SseDecoder::with_max_event_bytes(16);
        assert_eq!(d.push(b"data: 0123456789\n\n").unwrap(), vec![ev("0123456789")]);
        // Data accumulated over several lines.
        let err = d.push(b"data: 0123456789\ndata: 0123456789\n").unwrap_err();
        assert_eq!(err, SseError::EventTooLarge { max: 16 });
        assert_eq!(err.code(), "EDDY_SSE_EVENT_TOO_LARGE");
        assert_eq!(err.family(), "ProtocolError");
        assert_eq!(d.push(b"\n").unwrap_err(), err);
        // One long unterminated line, pushed a byte at a time.
        let mut d = SseDecoder::with_max_event_bytes(16);
        let mut failed = false;
        for b in [b'x'; 17] {
            failed |= d.push(&[b]).is_err();
        }
        assert!(failed);
        // Events are bounded one at a time, not the whole stream.
        let mut d = SseDecoder::with_max_event_bytes(16);
        for _ in 0..100 {
            assert_eq!(d.push(b"data: 0123456789\n\n").unwrap().len(), 1);
        }
    }
}
