//! Postgres array literals (`{1,{2,NULL},"a\"b"}`), parsed without recursion.
//!
//! Follows Postgres `array_in`: elements are separated by the type's delimiter (`,` for every
//! type except `box`, which uses `;`); an unquoted, unescaped `NULL` (any case) is SQL NULL while
//! `"NULL"` is the text; backslash escapes work inside and outside quotes; whitespace around
//! elements is dropped (unless escaped); an optional `[lb:ub]...=` decoration gives the bounds,
//! which must match the contents. Nesting is capped at [`MAX_DEPTH`]. Unlike Postgres we accept
//! non-rectangular nesting (`{1,{2}}`): the result is a tree.
//!
//! The core is generic over an `ArraySink` so value parsing can type each element straight
//! from the input slice, without building strings first.

use crate::error::ErrorCode;

mod render;

pub use render::render_array;

/// Deepest nesting accepted (Postgres itself stops at 6 dimensions).
pub const MAX_DEPTH: usize = 64;

/// One element of a parsed array literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArrayElem {
    /// SQL NULL (unquoted `NULL`).
    Null,
    /// An element's text, unescaped.
    Text(String),
    /// A nested array.
    Array(Vec<ArrayElem>),
}

/// Why an array literal was rejected; `pos` is a byte offset into the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArrayError {
    /// A character that cannot appear here.
    #[error("malformed array literal: unexpected {found:?} at byte {pos}")]
    Unexpected {
        /// Byte offset.
        pos: usize,
        /// The character found.
        found: char,
    },
    /// The input ended inside the literal.
    #[error("malformed array literal: unexpected end at byte {pos}")]
    UnexpectedEnd {
        /// Byte offset (the input length).
        pos: usize,
    },
    /// Deeper than [`MAX_DEPTH`].
    #[error("malformed array literal: nesting deeper than {max} at byte {pos}")]
    TooDeep {
        /// Byte offset.
        pos: usize,
        /// The limit.
        max: usize,
    },
    /// The `[lb:ub]=` decoration is malformed or does not match the contents.
    #[error("malformed array literal: array dimensions do not match at byte {pos}")]
    Dimensions {
        /// Byte offset.
        pos: usize,
    },
    /// The delimiter passed in is not a usable ASCII punctuation character.
    #[error("invalid array delimiter {delim:?}")]
    BadDelimiter {
        /// The delimiter.
        delim: char,
    },
}

impl ArrayError {
    /// Byte offset of the problem in the input (0 for a bad delimiter).
    pub fn pos(&self) -> usize {
        match self {
            ArrayError::Unexpected { pos, .. }
            | ArrayError::UnexpectedEnd { pos }
            | ArrayError::TooDeep { pos, .. }
            | ArrayError::Dimensions { pos } => *pos,
            ArrayError::BadDelimiter { .. } => 0,
        }
    }
}

impl ErrorCode for ArrayError {
    fn code(&self) -> &'static str {
        match self {
            ArrayError::Unexpected { .. } | ArrayError::UnexpectedEnd { .. } => "EDDY_ARRAY_SYNTAX",
            ArrayError::TooDeep { .. } => "EDDY_ARRAY_TOO_DEEP",
            ArrayError::Dimensions { .. } => "EDDY_ARRAY_DIMENSIONS",
            ArrayError::BadDelimiter { .. } => "EDDY_ARRAY_BAD_DELIMITER",
        }
    }
    fn family(&self) -> &'static str {
        "ParserError"
    }
}

/// The element delimiter of a Postgres type: `;` for `box`, `,` for everything else.
pub fn delimiter_for(type_name: &str) -> char {
    if type_name == "box" {
        ';'
    } else {
        ','
    }
}

/// Parse an array literal into a tree; the outer `{...}` becomes the returned list.
///
/// ```
/// use eddy::protocol::array::{parse_array, ArrayElem::*};
/// let a = parse_array(r#"{{1,NULL},{"NULL",""}}"#, ',').unwrap();
/// assert_eq!(a, vec![
///     Array(vec![Text("1".into()), Null]),
///     Array(vec![Text("NULL".into()), Text("".into())]),
/// ]);
/// ```
pub fn parse_array(input: &str, delim: char) -> Result<Vec<ArrayElem>, ArrayError> {
    parse_with(input, delim, &mut TreeSink).map_err(|e| match e {
        SinkFail::Syntax(e) => e,
        SinkFail::Element(never) => match never {},
    })
}

/// Receives the parts of an array literal as the parser finds them.
pub(crate) trait ArraySink {
    /// What one element (or sub-array) becomes.
    type Item;
    /// Why an element was refused.
    type Error;
    /// An unquoted `NULL`.
    fn null(&mut self) -> Result<Self::Item, Self::Error>;
    /// An element's unescaped text.
    fn text(&mut self, s: &str) -> Result<Self::Item, Self::Error>;
    /// A finished sub-array.
    fn array(&mut self, items: Vec<Self::Item>) -> Self::Item;
}

/// A syntax error, or an error from the sink.
#[derive(Debug)]
pub(crate) enum SinkFail<E> {
    Syntax(ArrayError),
    Element(E),
}

struct TreeSink;

impl ArraySink for TreeSink {
    type Item = ArrayElem;
    type Error = std::convert::Infallible;
    fn null(&mut self) -> Result<ArrayElem, Self::Error> {
        Ok(ArrayElem::Null)
    }
    fn text(&mut self, s: &str) -> Result<ArrayElem, Self::Error> {
        Ok(ArrayElem::Text(s.to_owned()))
    }
    fn array(&mut self, items: Vec<ArrayElem>) -> ArrayElem {
        ArrayElem::Array(items)
    }
}

/// Postgres `array_isspace`.
pub(crate) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn skip_space(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(|&c| is_space(c)) {
        i += 1;
    }
    i
}

fn char_at(input: &str, i: usize) -> char {
    input
        .get(i..)
        .and_then(|s| s.chars().next())
        .unwrap_or('\u{fffd}')
}

fn unexpected<E>(input: &str, i: usize) -> SinkFail<E> {
    if i >= input.len() {
        SinkFail::Syntax(ArrayError::UnexpectedEnd { pos: input.len() })
    } else {
        SinkFail::Syntax(ArrayError::Unexpected {
            pos: i,
            found: char_at(input, i),
        })
    }
}

/// Where the parser is inside the current `{...}`.
#[derive(Clone, Copy, PartialEq)]
enum State {
    /// Just after `{`: an element or `}`.
    Open,
    /// After a delimiter: an element.
    Need,
    /// After an element: a delimiter or `}`.
    After,
}

/// Parse `input`, handing each element to `sink`; returns the top-level items.
pub(crate) fn parse_with<S: ArraySink>(
    input: &str,
    delim: char,
    sink: &mut S,
) -> Result<Vec<S::Item>, SinkFail<S::Error>> {
    let d = match u8::try_from(delim) {
        Ok(d) if d.is_ascii_punctuation() && !matches!(d, b'{' | b'}' | b'"' | b'\\') => d,
        _ => return Err(SinkFail::Syntax(ArrayError::BadDelimiter { delim })),
    };
    let b = input.as_bytes();
    let mut i = skip_space(b, 0);
    let dims = if b.get(i) == Some(&b'[') {
        let (dims, next) = parse_dimensions(b, i)?;
        i = next;
        Some(dims)
    } else {
        None
    };
    if b.get(i) != Some(&b'{') {
        return Err(unexpected(input, i));
    }
    i += 1;
    let mut stack: Vec<Vec<S::Item>> = vec![Vec::new()];
    let mut state = State::Open;
    let mut scratch = String::new();
    loop {
        i = skip_space(b, i);
        let Some(&c) = b.get(i) else {
            return Err(unexpected(input, i));
        };
        let depth = stack.len();
        if c == b'}' && state != State::Need {
            let items = stack.pop().unwrap_or_default();
            if let Some(dims) = &dims {
                if dims.get(depth - 1) != Some(&items.len()) {
                    return Err(SinkFail::Syntax(ArrayError::Dimensions { pos: i }));
                }
            }
            i += 1;
            match stack.last_mut() {
                None => {
                    let end = skip_space(b, i);
                    return if end == b.len() {
                        Ok(items)
                    } else {
                        Err(unexpected(input, end))
                    };
                }
                Some(parent) => parent.push(sink.array(items)),
            }
            state = State::After;
            continue;
        }
        if state == State::After {
            if c == d {
                state = State::Need;
                i += 1;
                continue;
            }
            return Err(unexpected(input, i));
        }
        // An element is due.
        if c == b'{' {
            if depth >= MAX_DEPTH {
                return Err(SinkFail::Syntax(ArrayError::TooDeep {
                    pos: i,
                    max: MAX_DEPTH,
                }));
            }
            if dims.as_ref().is_some_and(|dims| depth >= dims.len()) {
                return Err(SinkFail::Syntax(ArrayError::Dimensions { pos: i }));
            }
            stack.push(Vec::new());
            state = State::Open;
            i += 1;
            continue;
        }
        if c == d || c == b'}' {
            return Err(unexpected(input, i));
        }
        if dims.as_ref().is_some_and(|dims| depth != dims.len()) {
            return Err(SinkFail::Syntax(ArrayError::Dimensions { pos: i }));
        }
        let item = if c == b'"' {
            let (text, next) = read_quoted(input, i + 1, &mut scratch)?;
            i = next;
            sink.text(text).map_err(SinkFail::Element)?
        } else {
            let (text, is_null, next) = read_unquoted(input, i, d, &mut scratch)?;
            i = next;
            if is_null {
                sink.null().map_err(SinkFail::Element)?
            } else {
                sink.text(text).map_err(SinkFail::Element)?
            }
        };
        if let Some(top) = stack.last_mut() {
            top.push(item);
        }
        state = State::After;
    }
}

/// Read a quoted element whose opening quote is just before `start`; returns the text and the
/// index after the closing quote.
fn read_quoted<'a, E>(
    input: &'a str,
    start: usize,
    scratch: &'a mut String,
) -> Result<(&'a str, usize), SinkFail<E>> {
    let b = input.as_bytes();
    let mut i = start;
    let mut escaped = false;
    scratch.clear();
    loop {
        match b.get(i) {
            None => return Err(unexpected(input, i)),
            Some(b'"') => {
                let text = if escaped {
                    scratch.as_str()
                } else {
                    input.get(start..i).unwrap_or("")
                };
                return Ok((text, i + 1));
            }
            Some(b'\\') => {
                if !escaped {
                    scratch.push_str(input.get(start..i).unwrap_or(""));
                    escaped = true;
                }
                let Some(ch) = input.get(i + 1..).and_then(|s| s.chars().next()) else {
                    return Err(unexpected(input, i + 1));
                };
                scratch.push(ch);
                i += 1 + ch.len_utf8();
            }
            Some(_) => {
                // Copy whole characters so every index stays on a char boundary.
                let ch = char_at(input, i);
                if escaped {
                    scratch.push(ch);
                }
                i += ch.len_utf8();
            }
        }
    }
}

/// Read an unquoted element starting at `start` (not whitespace); returns the text (trailing
/// unescaped whitespace trimmed), whether it is SQL NULL, and the index after it.
fn read_unquoted<'a, E>(
    input: &'a str,
    start: usize,
    d: u8,
    scratch: &'a mut String,
) -> Result<(&'a str, bool, usize), SinkFail<E>> {
    let b = input.as_bytes();
    let mut i = start;
    let mut escaped = false;
    // End of the text that must be kept (after the last non-space or escaped character).
    let mut keep = start;
    let mut keep_scratch = 0;
    scratch.clear();
    loop {
        match b.get(i) {
            None => return Err(unexpected(input, i)),
            Some(&c) if c == d || c == b'}' => break,
            Some(b'{') | Some(b'"') => return Err(unexpected(input, i)),
            Some(b'\\') => {
                if !escaped {
                    scratch.push_str(input.get(start..i).unwrap_or(""));
                    escaped = true;
                }
                let Some(ch) = input.get(i + 1..).and_then(|s| s.chars().next()) else {
                    return Err(unexpected(input, i + 1));
                };
                scratch.push(ch);
                keep_scratch = scratch.len();
                i += 1 + ch.len_utf8();
            }
            Some(&c) => {
                let ch = char_at(input, i);
                if escaped {
                    scratch.push(ch);
                }
                i += ch.len_utf8();
                if !is_space(c) {
                    keep = i;
                    keep_scratch = scratch.len();
                }
            }
        }
    }
    if escaped {
        scratch.truncate(keep_scratch);
        Ok((scratch.as_str(), false, i))
    } else {
        let text = input.get(start..keep).unwrap_or("");
        Ok((text, text.eq_ignore_ascii_case("NULL"), i))
    }
}

/// Parse `[lb:ub][ub]...=` starting at the first `[`; returns each dimension's length and the
/// index of the `{` that must follow.
fn parse_dimensions<E>(b: &[u8], mut i: usize) -> Result<(Vec<usize>, usize), SinkFail<E>> {
    let bad = |pos| SinkFail::Syntax(ArrayError::Dimensions { pos });
    let mut dims = Vec::new();
    while b.get(i) == Some(&b'[') {
        if dims.len() >= MAX_DEPTH {
            return Err(SinkFail::Syntax(ArrayError::TooDeep {
                pos: i,
                max: MAX_DEPTH,
            }));
        }
        let (first, next) = read_int(b, i + 1).ok_or(bad(i))?;
        i = skip_space(b, next);
        let (lb, ub) = if b.get(i) == Some(&b':') {
            let (ub, next) = read_int(b, i + 1).ok_or(bad(i))?;
            i = skip_space(b, next);
            (first, ub)
        } else {
            (1, first)
        };
        if b.get(i) != Some(&b']') || ub < lb - 1 {
            return Err(bad(i));
        }
        dims.push(usize::try_from(ub - lb + 1).map_err(|_| bad(i))?);
        i = skip_space(b, i + 1);
    }
    if b.get(i) != Some(&b'=') {
        return Err(bad(i));
    }
    Ok((dims, skip_space(b, i + 1)))
}

/// A 32-bit signed integer after optional whitespace.
fn read_int(b: &[u8], i: usize) -> Option<(i64, usize)> {
    let start = skip_space(b, i);
    let mut j = start;
    if matches!(b.get(j), Some(b'-') | Some(b'+')) {
        j += 1;
    }
    let digits = j;
    while b.get(j).is_some_and(u8::is_ascii_digit) {
        j += 1;
    }
    if j == digits {
        return None;
    }
    let n: i32 = std::str::from_utf8(b.get(start..j)?).ok()?.parse().ok()?;
    Some((i64::from(n), j))
}

#[cfg(test)]
mod tests {
    use super::ArrayElem::{Array as A, Null as N};
    use super::*;

    fn t(s: &str) -> ArrayElem {
        ArrayElem::Text(s.into())
    }
    fn p(s: &str) -> Vec<ArrayElem> {
        parse_array(s, ',').unwrap_or_else(|e| panic!("{s}: {e}"))
    }
    fn err(s: &str) -> ArrayError {
        parse_array(s, ',').unwrap_err()
    }

    #[test]
    fn flat_nested_and_empty() {
        assert_eq!(p("{1,2}"), [t("1"), t("2")]);
        assert_eq!(
            p("{{1,2},{3,4}}"),
            [A(vec![t("1"), t("2")]), A(vec![t("3"), t("4")])]
        );
        assert_eq!(p("{}"), []);
        assert_eq!(p("{{},{}}"), [A(vec![]), A(vec![])]);
        assert_eq!(p("{{{x}}}"), [A(vec![A(vec![t("x")])])]);
        assert_eq!(p("{1,{2}}"), [t("1"), A(vec![t("2")])]);
    }

    #[test]
    fn null_versus_quoted_null() {
        assert_eq!(
            p(r#"{NULL,null,"NULL",NuLl,N\ULL,NULLx}"#),
            [N, N, t("NULL"), N, t("NULL"), t("NULLx")]
        );
        assert_eq!(p("{{1,NULL},{NULL,4}}"), [A(vec![t("1"), N]), A(vec![N, t("4")])]);
    }

    #[test]
    fn quoting_escapes_and_whitespace() {
        assert_eq!(
            p(r#"{"a\"b","c\\d","",  " x " , y z ,"{,}"}"#),
            [t("a\"b"), t("c\\d"), t(""), t(" x "), t("y z"), t("{,}")]
        );
        assert_eq!(p(r"{a\,b,c\ ,\ d,e\}}"), [t("a,b"), t("c "), t(" d"), t("e}")]);
        assert_eq!(p(" { 1 , { 2 } } \n"), [t("1"), A(vec![t("2")])]);
        assert_eq!(p("{\"é\\ü\",ñ\\ö}"), [t("éü"), t("ñö")]);
        assert_eq!(p("{a\tb\u{b}}"), [t("a\tb")]);
    }

    #[test]
    fn dimension_decoration() {
        assert_eq!(p("[1:2]={a,b}"), [t("a"), t("b")]);
        assert_eq!(
            p("[0:1][1:2]={{1,2},{3,4}}"),
            [A(vec![t("1"), t("2")]), A(vec![t("3"), t("4")])]
        );
        assert_eq!(
            p(" [ -1 : 0 ] [2] = {{1,2},{3,4}}"),
            [A(vec![t("1"), t("2")]), A(vec![t("3"), t("4")])]
        );
        for bad in [
            "[1:3]={a,b}",
            "[1:2]={{a},{b}}",
            "[1:2][1:1]={a,b}",
            "[1:2]{a,b}",
            "[2:0]={}",
            "[x]={}",
        ] {
            assert_eq!(err(bad).code(), "EDDY_ARRAY_DIMENSIONS", "{bad}");
        }
    }

    #[test]
    fn box_uses_semicolons() {
        assert_eq!(delimiter_for("box"), ';');
        assert_eq!(delimiter_for("point"), ',');
        assert_eq!(
            parse_array("{(1,1),(0,0);(2,2),(1,1)}", ';').unwrap(),
            [t("(1,1),(0,0)"), t("(2,2),(1,1)")]
        );
        assert_eq!(
            parse_array("{a;b}", 'é').unwrap_err().code(),
            "EDDY_ARRAY_BAD_DELIMITER"
        );
        assert_eq!(
            parse_array("{a;b}", '"').unwrap_err().code(),
            "EDDY_ARRAY_BAD_DELIMITER"
        );
    }

    #[test]
    fn syntax_errors_have_positions() {
        assert_eq!(err("{1,,2}"), ArrayError::Unexpected { pos: 3, found: ',' });
        assert_eq!(err("{1,2"), ArrayError::UnexpectedEnd { pos: 4 });
        assert_eq!(err("{1,2}x"), ArrayError::Unexpected { pos: 5, found: 'x' });
        assert_eq!(err("{a\"b\"}"), ArrayError::Unexpected { pos: 2, found: '"' });
        assert_eq!(err("{\"a\"b}"), ArrayError::Unexpected { pos: 4, found: 'b' });
        assert_eq!(err("{\"ab}"), ArrayError::UnexpectedEnd { pos: 5 });
        assert_eq!(err("{ab\\"), ArrayError::UnexpectedEnd { pos: 4 });
        assert_eq!(err("1,2"), ArrayError::Unexpected { pos: 0, found: '1' });
        assert_eq!(err(""), ArrayError::UnexpectedEnd { pos: 0 });
        assert_eq!(err("{,}").pos(), 1);
        assert_eq!(err("{a,}").pos(), 3);
        assert_eq!(err("{a{b}}").code(), "EDDY_ARRAY_SYNTAX");
        assert_eq!(err("{a,}").family(), "ParserError");
    }

    #[test]
    fn depth_is_capped_without_recursion() {
        let ok = format!("{}{}", "{".repeat(MAX_DEPTH), "}".repeat(MAX_DEPTH));
        assert!(parse_array(&ok, ',').is_ok());
        let deep = "{".repeat(100_000);
        assert_eq!(
            err(&deep),
            ArrayError::TooDeep {
                pos: MAX_DEPTH,
                max: MAX_DEPTH
            }
        );
    }
}
