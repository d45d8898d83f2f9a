//! The body scanner's fast path: one message object read by hand into the same
//! [`RawMessage`] the serde reader builds, so both share `into_message`.
//!
//! It reads the shape a shape log actually has — the fields `key`, `value`, `old_value`,
//! `headers` in any order, rows of text or null (or other scalars), the known header fields
//! with their usual types, unknown fields stepped over as serde ignores them — and returns
//! `None` (declines) on anything else: duplicate fields, escaped field names (column names may
//! be escaped), objects or arrays as row values, move patterns, numbers that are not plain
//! unsigned integers where a decimal is expected, invalid UTF-8 or escapes, any syntax error,
//! running out of bytes. A declined element is read by serde, which gives the exact result (or
//! error) for it. Reading here must never give a result serde would
//! not: anything doubtful declines.

use std::borrow::Cow;
use std::fmt::Write;

use crate::protocol::message::{Decimal, Message, MessageError, RawHeaders, RawMessage};
use crate::protocol::row::{intern, Column, Key, Row, RowWriter};

/// Read the object at the start of `text` as element `index` of its body: the message (as
/// `RawMessage::into_message` makes it) and the length of its text, or `None` (declined).
/// (The caller validated UTF-8 once for a whole piece: serde checks it string by string, and
/// outside strings this reader accepts only ASCII, so the two agree.)
/// `relation` is the last `[schema, table]` read, interned (kept by the caller from element
/// to element: nearly every message of a body names the same one).
pub(super) fn read(
    text: &str,
    index: usize,
    relation: &mut Option<[Column; 2]>,
) -> Option<(MessageResult, usize)> {
    let mut c = Cursor {
        s: text,
        b: text.as_bytes(),
        i: 0,
        relation: relation.take(),
    };
    let message = c.message();
    *relation = c.relation.take();
    Some((message?.into_message(index), c.i))
}

/// True when `text` is one JSON value (whitespace around it allowed) as far as this scanner can
/// tell; `false` means "not known" (invalid, or beyond what it follows, e.g. nesting deeper than
/// it steps or a number at the very end): the caller asks serde. Never true where serde would
/// reject the text.
pub(crate) fn is_json_value(text: &str) -> bool {
    let mut c = Cursor {
        s: text,
        b: text.as_bytes(),
        i: 0,
        relation: None,
    };
    let ws = |c: &mut Cursor<'_>| {
        while matches!(c.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            c.i += 1;
        }
    };
    ws(&mut c);
    if c.skip(SKIP_DEPTH).is_none() {
        return false;
    }
    ws(&mut c);
    c.i == c.b.len()
}

/// What `RawMessage::into_message` gives.
pub(super) type MessageResult = Result<Option<Message>, MessageError>;

/// How deep inside an unknown field's value the scanner follows (deeper: serde reads it).
const SKIP_DEPTH: u8 = 16;

struct Cursor<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    relation: Option<[Column; 2]>,
}

impl<'a> Cursor<'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Skip whitespace; the next byte.
    #[inline]
    fn ws(&mut self) -> Option<u8> {
        loop {
            let c = self.peek()?;
            if !matches!(c, b' ' | b'\n' | b'\t' | b'\r') {
                return Some(c);
            }
            self.i += 1;
        }
    }

    /// After whitespace, `c`.
    #[inline]
    fn eat(&mut self, c: u8) -> Option<()> {
        (self.ws()? == c).then(|| self.i += 1)
    }

    /// After whitespace: `,` (true, whitespace skipped after it) or `close` (false).
    #[inline]
    fn more(&mut self, close: u8) -> Option<bool> {
        let c = self.ws()?;
        self.i += 1;
        if c == b',' {
            self.ws()?;
            Some(true)
        } else {
            (c == close).then_some(false)
        }
    }

    /// `{` then whitespace; false if the object is empty (`}` consumed).
    #[inline]
    fn open(&mut self, open: u8, close: u8) -> Option<bool> {
        self.eat(open)?;
        if self.ws()? == close {
            self.i += 1;
            return Some(false);
        }
        Some(true)
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i + word.len();
        (self.b.get(self.i..end)? == word).then(|| self.i = end)
    }

    /// A field name without escapes, and the `:` after it.
    #[inline]
    fn field(&mut self) -> Option<&'a str> {
        let (raw, escaped) = self.raw_string()?;
        if escaped {
            return None;
        }
        self.eat(b':')?;
        self.ws()?;
        Some(raw)
    }

    /// A string's text between its quotes (escapes undecoded), and whether it has escapes.
    /// Control characters decline (serde rejects them).
    #[inline]
    fn raw_string(&mut self) -> Option<(&'a str, bool)> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.i + 1;
        let mut i = start;
        let mut escaped = false;
        loop {
            i = plain_run(self.b, i);
            let b = *self.b.get(i)?;
            if b == b'"' {
                break;
            }
            if b == b'\\' {
                escaped = true;
                i += 1;
            } else if b < 0x20 {
                return None;
            }
            i += 1;
        }
        self.i = i + 1;
        Some((self.s.get(start..i)?, escaped))
    }

    /// A string value, borrowed when it has no escapes.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let (raw, escaped) = self.raw_string()?;
        if escaped {
            let mut s = String::with_capacity(raw.len());
            unescape(raw, &mut s)?;
            Some(Cow::Owned(s))
        } else {
            Some(Cow::Borrowed(raw))
        }
    }

    /// `null` (None) or whatever `read` reads.
    #[inline]
    fn nullable<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            return Some(None);
        }
        read(self).map(Some)
    }

    /// `[a, b, ...]` of what `read` reads.
    fn list<T>(&mut self, mut read: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        let mut out = Vec::new();
        if self.open(b'[', b']')? {
            loop {
                out.push(read(self)?);
                if !self.more(b']')? {
                    break;
                }
            }
        }
        Some(out)
    }

    fn boolean(&mut self) -> Option<bool> {
        match self.peek()? {
            b't' => self.literal(b"true").map(|()| true),
            b'f' => self.literal(b"false").map(|()| false),
            _ => None,
        }
    }

    /// An unsigned integer as a JSON number or a string of digits (what serde's `Decimal`
    /// reads; signs, fractions, exponents and overflow decline).
    fn decimal(&mut self) -> Option<Decimal> {
        if self.peek()? == b'"' {
            let text = self.string()?;
            return digits(text.as_bytes()).filter(|_| !text.is_empty()).map(Decimal);
        }
        let start = self.i;
        while self.peek()?.is_ascii_digit() {
            self.i += 1;
        }
        let raw = &self.b[start..self.i];
        let leading_zero = raw.len() > 1 && raw[0] == b'0';
        if raw.is_empty() || leading_zero || matches!(self.peek()?, b'.' | b'e' | b'E') {
            return None;
        }
        digits(raw).map(Decimal)
    }

    /// Step over a value of an unknown field (serde ignores it; validating it more strictly
    /// than serde, or declining deep ones, only sends the element to serde).
    fn skip(&mut self, depth: u8) -> Option<()> {
        match self.peek()? {
            b'"' => {
                self.string()?;
            }
            b'n' => self.literal(b"null")?,
            b't' => self.literal(b"true")?,
            b'f' => self.literal(b"false")?,
            b'-' | b'0'..=b'9' => self.number()?,
            b'{' if depth > 0 => {
                if self.open(b'{', b'}')? {
                    loop {
                        self.string()?;
                        self.eat(b':')?;
                        self.ws()?;
                        self.skip(depth - 1)?;
                        if !self.more(b'}')? {
                            break;
                        }
                    }
                }
            }
            b'[' if depth > 0 => {
                if self.open(b'[', b']')? {
                    loop {
                        self.skip(depth - 1)?;
                        if !self.more(b']')? {
                            break;
                        }
                    }
                }
            }
            _ => return None,
        }
        Some(())
    }

    /// A JSON number (its text is not needed), by the JSON grammar serde follows.
    fn number(&mut self) -> Option<()> {
        let digits = |c: &mut Self| -> Option<usize> {
            let start = c.i;
            while c.peek()?.is_ascii_digit() {
                c.i += 1;
            }
            Some(c.i - start)
        };
        if self.peek()? == b'-' {
            self.i += 1;
        }
        let int = digits(self)?;
        if int == 0 || int > 1 && self.b[self.i - int] == b'0' {
            return None;
        }
        if self.peek()? == b'.' {
            self.i += 1;
            if digits(self)? == 0 {
                return None;
            }
        }
        if matches!(self.peek()?, b'e' | b'E') {
            self.i += 1;
            if matches!(self.peek()?, b'+' | b'-') {
                self.i += 1;
            }
            if digits(self)? == 0 {
                return None;
            }
        }
        Some(())
    }

    fn message(&mut self) -> Option<RawMessage<'a>> {
        let mut message = RawMessage {
            headers: RawHeaders::default(),
            key: None,
            value: None,
            old_value: None,
        };
        let mut seen = 0u8;
        if !self.open(b'{', b'}')? {
            return None; // no headers: serde's "missing field"
        }
        loop {
            let bit = match self.field()? {
                "key" => 1,
                "value" => 2,
                "old_value" => 4,
                "headers" => 8,
                _ => 0,
            };
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
            match bit {
                0 => self.skip(SKIP_DEPTH)?, // an unknown field: ignored, as serde ignores it
                1 => message.key = self.nullable(|c| c.string().map(|s| Key::from(&*s)))?,
                2 => message.value = self.nullable(Self::row)?,
                4 => message.old_value = self.nullable(Self::row)?,
                _ => self.headers(&mut message.headers)?,
            }
            if !self.more(b'}')? {
                break;
            }
        }
        (seen & 8 != 0).then_some(message)
    }

    /// `{"column": "text" | null, ...}` into a packed [`Row`].
    fn row(&mut self) -> Option<Row> {
        let mut w = RowWriter::new(None);
        if self.open(b'{', b'}')? {
            loop {
                let (name, escaped) = self.raw_string()?;
                let column = if escaped {
                    let mut decoded = String::with_capacity(name.len());
                    unescape(name, &mut decoded)?;
                    w.column(&decoded)
                } else {
                    w.column(name)
                };
                self.eat(b':')?;
                match self.ws()? {
                    b'"' => {
                        let (raw, escaped) = self.raw_string()?;
                        let start = w.text().len();
                        if escaped {
                            unescape(raw, w.text())?;
                        } else {
                            w.text().push_str(raw);
                        }
                        w.put_text_from(column, start);
                    }
                    b'n' => {
                        self.literal(b"null")?;
                        w.put_null(column);
                    }
                    b't' | b'f' => {
                        // (servers other than Electric) kept as their JSON text, as wire.rs does
                        let word = if self.boolean()? { "true" } else { "false" };
                        let start = w.text().len();
                        w.text().push_str(word);
                        w.put_text_from(column, start);
                    }
                    b'-' | b'0'..=b'9' => {
                        // serde's number, written as wire.rs writes the u64, i64 or f64 it reads
                        let from = self.i;
                        self.number()?;
                        let n: serde_json::Number = serde_json::from_str(self.s.get(from..self.i)?).ok()?;
                        let start = w.text().len();
                        write!(w.text(), "{n}").ok()?;
                        w.put_text_from(column, start);
                    }
                    _ => return None,
                }
                if !self.more(b'}')? {
                    break;
                }
            }
        }
        Some(w.finish())
    }

    /// `relation`: the usual `["schema", "table"]` interned here (once per body, see [`read`]);
    /// anything else as serde reads it (`into_message` judges it).
    fn relation(&mut self, h: &mut RawHeaders<'a>) -> Option<()> {
        let start = self.i;
        if let Some((schema, table)) = self.pair() {
            let same = matches!(&self.relation, Some([s, t]) if **s == *schema && **t == *table);
            if !same {
                self.relation = Some([intern(&schema), intern(&table)]);
            }
            h.relation_interned.clone_from(&self.relation);
            return Some(());
        }
        self.i = start;
        h.relation = self.nullable(|c| c.list(Self::string))?;
        Some(())
    }

    /// `[string, string]`.
    fn pair(&mut self) -> Option<(Cow<'a, str>, Cow<'a, str>)> {
        self.eat(b'[')?;
        self.ws()?;
        let first = self.string()?;
        self.eat(b',')?;
        self.ws()?;
        let second = self.string()?;
        self.eat(b']')?;
        Some((first, second))
    }

    /// The headers object, into `h` (a fresh default; filled in place: it is large).
    fn headers(&mut self, h: &mut RawHeaders<'a>) -> Option<()> {
        let mut seen = 0u32;
        if !self.open(b'{', b'}')? {
            return Some(());
        }
        loop {
            let field = self.field()?;
            let bit: u32 = match field {
                "operation" => 0,
                "relation" => 1,
                "lsn" => 2,
                "op_position" => 3,
                "txids" => 4,
                "last" => 5,
                "control" => 6,
                "event" => 7,
                "key_change_to" => 8,
                "key_change_from" => 9,
                "tags" => 10,
                "removed_tags" => 11,
                "active_conditions" => 12,
                "is_move_in" => 13,
                "snapshot_mark" => 14,
                "global_last_seen_lsn" => 15,
                "xmin" => 16,
                "xmax" => 17,
                "xip_list" => 18,
                "database_lsn" => 19,
                "patterns" => return None, // serde reads move patterns
                _ => 20,
            };
            if bit == 20 {
                // An unknown field: ignored, as serde ignores it.
                self.skip(SKIP_DEPTH)?;
                if !self.more(b'}')? {
                    break;
                }
                continue;
            }
            if seen & (1 << bit) != 0 {
                return None;
            }
            seen |= 1 << bit;
            let key = |c: &mut Self| c.string().map(|s| Key::from(&*s));
            let text = |c: &mut Self| c.string().map(Cow::into_owned);
            match bit {
                0 => h.operation = self.nullable(Self::string)?,
                1 => self.relation(h)?,
                2 => h.lsn = self.nullable(Self::decimal)?,
                3 => h.op_position = self.nullable(Self::decimal)?,
                4 => h.txids = self.nullable(|c| c.list(Self::decimal))?,
                5 => h.last = self.nullable(Self::boolean)?,
                6 => h.control = self.nullable(Self::string)?,
                7 => h.event = self.nullable(Self::string)?,
                8 => h.key_change_to = self.nullable(key)?,
                9 => h.key_change_from = self.nullable(key)?,
                10 => h.tags = self.nullable(|c| c.list(text))?,
                11 => h.removed_tags = self.nullable(|c| c.list(text))?,
                12 => h.active_conditions = self.nullable(|c| c.list(Self::boolean))?,
                13 => h.is_move_in = self.nullable(Self::boolean)?,
                14 => h.snapshot_mark = self.nullable(Self::decimal)?,
                15 => h.global_last_seen_lsn = self.nullable(Self::decimal)?,
                16 => h.xmin = self.nullable(Self::decimal)?,
                17 => h.xmax = self.nullable(Self::decimal)?,
                18 => h.xip_list = self.nullable(|c| c.list(Self::decimal))?,
                _ => h.database_lsn = self.nullable(Self::decimal)?,
            }
            if !self.more(b'}')? {
                break;
            }
        }
        Some(())
    }
}

/// The end of the run of bytes from `i` that need no attention inside a string (not `"`, `\\`
/// or a control character), eight at a time: a string is mostly such bytes.
#[inline]
pub(super) fn plain_run(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(word) = b.get(i..i + 8) {
        let w = u64::from_le_bytes(word.try_into().unwrap_or_default());
        // A high bit in each byte that is zero after the xor / below 0x20 (the lowest flagged
        // byte is always a true one).
        let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
        let hits = zero(w ^ (ONES * u64::from(b'"')))
            | zero(w ^ (ONES * u64::from(b'\\')))
            | (w.wrapping_sub(ONES * 0x20) & !w & HIGH);
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i
}

/// ASCII digits as a u64 (`None` on anything else or overflow).
fn digits(raw: &[u8]) -> Option<u64> {
    raw.iter().try_fold(0u64, |n, &d| {
        if !d.is_ascii_digit() {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// Decode a string's escaped text (between its quotes) onto `out`; `None` for anything serde
/// rejects (the caller declines; `out` is then garbage).
fn unescape(text: &str, out: &mut String) -> Option<()> {
    let raw = text.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        let run = raw[i..].iter().position(|&b| b == b'\\').unwrap_or(raw.len() - i);
        out.push_str(text.get(i..i + run)?);
        i += run;
        if i == raw.len() {
            break;
        }
        let c = match *raw.get(i + 1)? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = hex4(raw.get(i + 2..i + 6)?)?;
                i += 4;
                if (0xD800..0xDC00).contains(&hi) {
                    // A leading surrogate: only a trailing one may follow.
                    if raw.get(i + 2..i + 4)? != b"\\u" {
                        return None;
                    }
                    let lo = hex4(raw.get(i + 4..i + 8)?)?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return None;
                    }
                    i += 6;
                    char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))?
                } else {
                    char::from_u32(hi)?
                }
            }
            _ => return None,
        };
        out.push(c);
        i += 2;
    }
    Some(())
}

fn hex4(h: &[u8]) -> Option<u32> {
    h.iter()
        .try_fold(0u32, |n, &d| Some((n << 4) | char::from(d).to_digit(16)?))
}
