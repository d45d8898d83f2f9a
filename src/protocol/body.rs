//! Incremental reading of a long-poll body (a JSON array of messages) as it arrives in pieces.
//!
//! The array punctuation between elements is read here, byte by byte. Each element that is an
//! object goes to the hand-written scanner of `body::element`, which reads the common message shape
//! straight into [`Row`](super::Row)s; whatever that scanner does not handle (non-string row
//! values, escaped field names, move patterns, anything malformed) it declines, and that one
//! element is read by the serde reader instead (`message::parse_body_into`, on a copy of the
//! element wrapped in `[` `]`, which serde reads exactly as inside the body). An element that
//! is not an object, or a body that is not an array, hands the rest of the body to serde at
//! [`BodyParser::finish`]. So the result is always the serde reader's (messages, or an error of
//! the same variant and index), only faster; `tests/body_parser.rs` holds it to that.
//!
//! Memory: only the incomplete tail of the body is kept between pieces (an element cut by a
//! piece boundary), except after the scanner gave up on the array itself (a broken body), when
//! the rest is kept for serde.

mod element;

pub(crate) use element::is_json_value;

use super::message::{self, Message, MessageError};
use super::row::Column;

/// Reads a body pushed in pieces (any split, even inside a UTF-8 sequence or an escape).
///
/// ```
/// use eddy::protocol::body::BodyParser;
/// let mut p = BodyParser::new();
/// p.push(br#"[{"headers":{"control":"up-"#).unwrap();
/// p.push(br#"to-date"}}]"#).unwrap();
/// assert!(p.finish().unwrap()[0].is_up_to_date());
/// ```
#[derive(Debug, Default)]
pub struct BodyParser {
    /// The kept bytes: an element begun but not complete (`State::InElement`), or the rest of
    /// the body for serde (`State::Tail`, `State::Whole`). Empty otherwise.
    buf: Vec<u8>,
    state: State,
    out: Vec<Message>,
    /// Position in the body's array of the next element.
    index: usize,
    /// The first error; final.
    error: Option<MessageError>,
    /// The last relation the scanner read, interned.
    relation: Option<[Column; 2]>,
    /// Elements (or rests of the body) handed to serde.
    declined: usize,
    /// Where the consumed bytes ended: for the position of the errors found here.
    line: usize,
    column: usize,
    /// Bytes pushed so far (to estimate how many messages the next piece holds).
    pushed: usize,
    /// The whole body's size, when known (`Content-Length`).
    size_hint: Option<usize>,
}

/// How much of a piece is read at a time.
const WINDOW: usize = 64 * 1024;

#[derive(Debug, Default, Clone, Copy)]
enum State {
    /// Before the opening `[`.
    #[default]
    Start,
    /// After `[`: an element or `]`.
    First,
    /// After an element: `,` or `]`.
    AfterElement,
    /// After `,`: an element.
    Next,
    /// In an object element that starts at `buf[0]`, scanned (structurally) to the end of `buf`.
    InElement(Skip),
    /// After the closing `]`: only whitespace may follow.
    End,
    /// An element this reader does not scan (not an object): serde reads the rest (`buf`) at
    /// the end, as the array from element `index` on.
    Tail,
    /// Not an array: serde reads the whole body (`buf`) at the end.
    Whole,
}

impl BodyParser {
    /// A reader at the start of a body.
    pub fn new() -> Self {
        BodyParser {
            line: 1,
            column: 1,
            ..BodyParser::default()
        }
    }

    /// A reader for a body of about `bytes` bytes (its `Content-Length`): once the first piece
    /// shows the bytes per message, the output is sized for the whole body at once.
    pub fn with_size_hint(bytes: usize) -> Self {
        BodyParser {
            size_hint: Some(bytes),
            ..BodyParser::new()
        }
    }

    /// The next piece of the body: reads every element it completes and keeps only the
    /// incomplete tail. An error is final: `finish` would return the same one.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), MessageError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        // Room for the messages this piece likely holds, at the body's bytes per message so
        // far: the output does not re-copy itself at every doubling (a 10 MB body is ~12 MB of
        // messages).
        if let Some(per_message) = self.pushed.checked_div(self.out.len()) {
            // A hint is only a hint: at most 64 MiB ahead is trusted.
            let coming = match self.size_hint {
                Some(total) => total.saturating_sub(self.pushed).min(64 << 20).max(bytes.len()),
                None => bytes.len(),
            };
            self.out.reserve(coming / per_message.max(1) + 1);
        }
        self.pushed += bytes.len();
        // A large piece is read in windows: each is checked for UTF-8 and then scanned while
        // it is still in cache (only the element on a window's edge is copied).
        for window in bytes.chunks(WINDOW) {
            self.push_window(window)?;
        }
        Ok(())
    }

    fn push_window(&mut self, mut bytes: &[u8]) -> Result<(), MessageError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if let State::InElement(mut skip) = self.state {
            // Complete the element begun in an earlier piece, copying only its rest.
            let Some(n) = skip.feed(bytes) else {
                self.buf.extend_from_slice(bytes);
                self.state = State::InElement(skip);
                return Ok(());
            };
            self.buf.extend_from_slice(&bytes[..n]);
            let element = std::mem::take(&mut self.buf);
            self.complete_element(&element, true);
            self.advance(&element);
            self.buf = element;
            self.buf.clear();
            self.state = State::AfterElement;
            bytes = &bytes[n..];
        }
        match self.state {
            State::Tail | State::Whole => self.buf.extend_from_slice(bytes),
            _ if self.error.is_none() => {
                // The kept tail is empty here: read straight from the piece.
                let n = self.run(bytes);
                self.advance(&bytes[..n]);
                self.buf.extend_from_slice(&bytes[n..]);
            }
            _ => {}
        }
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// The body ended: its messages, or why it is not a valid body (`MessageError::Json` for
    /// one cut short).
    pub fn finish(mut self) -> Result<Vec<Message>, MessageError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        match self.state {
            State::End => Ok(self.out),
            State::Whole | State::Start => message::parse_body_serde(&self.buf),
            State::Tail | State::InElement(_) => {
                // Serde reads the rest as the array it continues (the same error for a
                // truncated element, whichever serde meets first).
                let mut rest = Vec::with_capacity(self.buf.len() + 1);
                rest.push(b'[');
                rest.extend_from_slice(&self.buf);
                message::parse_body_into(&rest, self.index, &mut self.out)?;
                Ok(self.out)
            }
            State::First | State::AfterElement => Err(self.json_error("EOF while parsing a list")),
            State::Next => Err(self.json_error("EOF while parsing a value")),
        }
    }

    /// How many elements (or rests of the body) the scanner has handed to serde so far: 0 for
    /// a plain Electric body (for tests).
    #[doc(hidden)]
    pub fn declined(&self) -> usize {
        self.declined + usize::from(matches!(self.state, State::Tail | State::Whole))
    }

    /// Read as much of `input` as possible; returns how many bytes were consumed (the rest is
    /// an incomplete element, or all of it in `Tail`/`Whole` state). Sets `error` on failure.
    fn run(&mut self, input: &[u8]) -> usize {
        // UTF-8 checked once for the piece (its valid prefix: an element reaching past it is
        // declined by the scanner and checked on its own).
        let text = match std::str::from_utf8(input) {
            Ok(text) => text,
            Err(e) => std::str::from_utf8(&input[..e.valid_up_to()]).unwrap_or_default(),
        };
        let mut i = 0;
        loop {
            while let Some(b' ' | b'\n' | b'\t' | b'\r') = input.get(i) {
                i += 1;
            }
            let Some(&b) = input.get(i) else {
                return i;
            };
            match (self.state, b) {
                (State::Start, b'[') => self.state = State::First,
                (State::Start, _) => {
                    self.state = State::Whole;
                    return i;
                }
                (State::First | State::AfterElement, b']') => self.state = State::End,
                (State::AfterElement, b',') => self.state = State::Next,
                (State::First | State::Next, b'{') if self.mostly_declined() => {
                    // Not the shape the scanner is for (a server sending objects as values,
                    // say): trying first would only cost, so serde reads the rest.
                    self.state = State::Tail;
                    return i;
                }
                (State::First | State::Next, b'{') => {
                    let element = &input[i..];
                    let n = match element::read(
                        text.get(i..).unwrap_or_default(),
                        self.index,
                        &mut self.relation,
                    ) {
                        Some((message, n)) => {
                            self.accept(message);
                            n
                        }
                        None => {
                            let mut skip = Skip::default();
                            let Some(n) = skip.feed(element) else {
                                self.state = State::InElement(skip);
                                return i;
                            };
                            // The scanner declined it with all of it at hand (valid UTF-8): no
                            // second try, serde reads it.
                            let seen_whole = text.len() >= i + n;
                            self.complete_element(&element[..n], !seen_whole);
                            n
                        }
                    };
                    self.state = State::AfterElement;
                    i += n;
                    if self.error.is_some() {
                        return i;
                    }
                    continue;
                }
                (State::Next, b']') | (State::AfterElement | State::End, _) => {
                    let reason = match self.state {
                        State::AfterElement => "expected `,` or `]`",
                        State::Next => "trailing comma",
                        _ => "trailing characters",
                    };
                    self.advance(&input[..i]);
                    self.error = Some(self.json_error(reason));
                    return input.len();
                }
                (State::First | State::Next, _) => {
                    self.state = State::Tail;
                    return i;
                }
                (State::InElement(_) | State::Tail | State::Whole, _) => unreachable!("kept states"),
            }
            i += 1;
        }
    }

    /// After a few elements, whether the scanner declined more than a quarter of them.
    fn mostly_declined(&self) -> bool {
        self.index >= 16 && self.declined * 4 > self.index
    }

    /// A complete object element (`{` to its matching `}`): the scanner's reading (if `scan`),
    /// or serde's when the scanner declines.
    fn complete_element(&mut self, element: &[u8], scan: bool) {
        let fast = std::str::from_utf8(element)
            .ok()
            .filter(|_| scan)
            .and_then(|text| element::read(text, self.index, &mut self.relation));
        match fast {
            Some((message, n)) if n == element.len() => self.accept(message),
            _ => {
                self.declined += 1;
                let mut array = Vec::with_capacity(element.len() + 2);
                array.push(b'[');
                array.extend_from_slice(element);
                array.push(b']');
                match message::parse_body_into(&array, self.index, &mut self.out) {
                    Ok(()) => self.index += 1,
                    Err(e) => self.error = Some(e),
                }
            }
        }
    }

    fn accept(&mut self, message: element::MessageResult) {
        match message {
            Ok(Some(m)) => self.out.push(m),
            Ok(None) => {}
            Err(e) => self.error = Some(e),
        }
        self.index += 1;
    }

    /// Account for consumed bytes (line and column of the errors found here).
    fn advance(&mut self, consumed: &[u8]) {
        // (Counting in byte lanes vectorizes; searching for the last newline does not, so it
        // runs only when there is one.)
        let newlines: usize = consumed
            .chunks(255)
            .map(|c| usize::from(c.iter().fold(0u8, |n, &b| n + u8::from(b == b'\n'))))
            .sum();
        if newlines == 0 {
            self.column += consumed.len();
        } else {
            let last = consumed.iter().rposition(|&b| b == b'\n').unwrap_or_default();
            self.line += newlines;
            self.column = consumed.len() - last;
        }
    }

    fn json_error(&self, reason: &str) -> MessageError {
        MessageError::Json {
            line: self.line,
            column: self.column,
            reason: format!("{reason} at line {} column {}", self.line, self.column),
        }
    }
}

/// Finds the end of an object element by its brackets and strings alone (no validation: serde
/// reads the elements found this way, and meets any error inside them as it would in the array).
#[derive(Debug, Default, Clone, Copy)]
struct Skip {
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl Skip {
    /// Scan on through `bytes`; `Some(n)` when the element ends with `bytes[n - 1]`.
    fn feed(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < bytes.len() {
            if self.in_string && !self.escaped {
                // Over the string's plain bytes eight at a time (it stops early on control
                // characters too, which are just bytes here).
                i = element::plain_run(bytes, i);
                let Some(&b) = bytes.get(i) else {
                    break;
                };
                match b {
                    b'\\' => self.escaped = true,
                    b'"' => self.in_string = false,
                    _ => {}
                }
            } else if self.in_string {
                self.escaped = false;
            } else {
                match bytes[i] {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' => {
                        self.depth -= 1;
                        if self.depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
            }
            i += 1;
        }
        None
    }
}
