//! json and jsonb text from the JSON text a client wrote (not from a parsed `serde_json::Value`).
//!
//! Postgres `json` keeps its input text: [`json_compact`] keeps key order, duplicate keys,
//! number spelling and string escapes exactly as written, dropping only insignificant
//! whitespace. Postgres `jsonb` prints its own form: [`jsonb_from_raw`] sorts keys (shorter
//! first, then bytewise), keeps the last of duplicate keys, prints numbers as `numeric`
//! (`1e3` → `1000`, `1.50` stays `1.50`) and separates with `", "` / `": "`.

use serde_json::Value as Json;

use super::numeric_text;

/// The JSON text with whitespace outside strings removed (the input must be valid JSON).
pub fn json_compact(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut in_str = false;
    let mut escaped = false;
    for c in raw.chars() {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
        } else if c == '"' {
            in_str = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            out.push(c);
        }
    }
    out
}

/// A JSON value whose numbers keep their written text.
enum Node {
    Scalar(String),
    Num(String),
    Arr(Vec<Node>),
    Obj(Vec<(String, Node)>),
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

/// Deeper than this is refused (serde_json's own limit is 128).
const MAX_DEPTH: usize = 256;

impl Parser<'_> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.as_bytes().get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        self.ws();
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// A string token, decoded.
    fn string(&mut self) -> Option<String> {
        self.ws();
        let start = self.pos;
        if self.peek() != Some(b'"') {
            return None;
        }
        self.pos += 1;
        loop {
            match self.peek()? {
                b'\\' => self.pos += 2,
                b'"' => break,
                _ => self.pos += 1,
            }
        }
        self.pos += 1;
        serde_json::from_str(self.s.get(start..self.pos)?).ok()
    }

    fn value(&mut self, depth: usize) -> Option<Node> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        match self.peek()? {
            b'{' => {
                self.pos += 1;
                let mut fields: Vec<(String, Node)> = Vec::new();
                if self.eat(b'}') {
                    return Some(Node::Obj(fields));
                }
                loop {
                    let k = self.string()?;
                    if !self.eat(b':') {
                        return None;
                    }
                    let v = self.value(depth + 1)?;
                    // jsonb keeps the last value of a duplicated key.
                    fields.retain(|(f, _)| *f != k);
                    fields.push((k, v));
                    if self.eat(b'}') {
                        return Some(Node::Obj(fields));
                    }
                    if !self.eat(b',') {
                        return None;
                    }
                }
            }
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                if self.eat(b']') {
                    return Some(Node::Arr(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    if self.eat(b']') {
                        return Some(Node::Arr(items));
                    }
                    if !self.eat(b',') {
                        return None;
                    }
                }
            }
            b'"' => {
                let s = self.string()?;
                Some(Node::Scalar(Json::String(s).to_string()))
            }
            b'-' | b'0'..=b'9' => {
                let start = self.pos;
                while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.peek() {
                    self.pos += 1;
                }
                Some(Node::Num(self.s.get(start..self.pos)?.to_string()))
            }
            _ => {
                for word in ["true", "false", "null"] {
                    if self.s.get(self.pos..)?.starts_with(word) {
                        self.pos += word.len();
                        return Some(Node::Scalar(word.to_string()));
                    }
                }
                None
            }
        }
    }
}

fn print(n: &Node, out: &mut String) -> Result<(), String> {
    match n {
        Node::Scalar(s) => out.push_str(s),
        Node::Num(t) => out.push_str(&numeric_text(t).ok_or_else(|| format!("number {t} is out of range"))?),
        Node::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                print(item, out)?;
            }
            out.push(']');
        }
        Node::Obj(fields) => {
            let mut fields: Vec<&(String, Node)> = fields.iter().collect();
            fields
                .sort_by(|(a, _), (b, _)| a.len().cmp(&b.len()).then_with(|| a.as_bytes().cmp(b.as_bytes())));
            out.push('{');
            for (i, (k, v)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&Json::String(k.clone()).to_string());
                out.push_str(": ");
                print(v, out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// Postgres jsonb output of a JSON text (`Err` with a reason for invalid JSON or a number
/// `numeric` cannot hold).
pub fn jsonb_from_raw(raw: &str) -> Result<String, String> {
    let mut p = Parser { s: raw, pos: 0 };
    let node = p.value(0).ok_or_else(|| "invalid JSON".to_string())?;
    p.ws();
    if p.pos != raw.len() {
        return Err("invalid JSON".into());
    }
    let mut out = String::new();
    print(&node, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keeps_order_duplicates_and_spelling() {
        assert_eq!(
            json_compact("{ \"b\" : 1.50 ,\n \"a\": [2, {\"z\":0,\"y\":1}], \"b\": \"x \\\" y\" }"),
            "{\"b\":1.50,\"a\":[2,{\"z\":0,\"y\":1}],\"b\":\"x \\\" y\"}"
        );
        assert_eq!(json_compact(" \"a b\" "), "\"a b\"");
    }

    #[test]
    fn jsonb_is_printed_like_postgres() {
        assert_eq!(
            jsonb_from_raw(
                r#"{"bb":[1e3, 1.50, -0, 123456789012345680000], "a":{"c":true,"b":null}, "bb":2}"#
            )
            .unwrap(),
            r#"{"a": {"b": null, "c": true}, "bb": 2}"#
        );
        assert_eq!(
            jsonb_from_raw(r#"[1e3, 1.50, -0, 9.705605544149876e-11, "\u00e9\n"]"#).unwrap(),
            "[1000, 1.50, 0, 0.00000000009705605544149876, \"é\\n\"]"
        );
        assert!(jsonb_from_raw("[1,").is_err());
        assert!(jsonb_from_raw("1 2").is_err());
        assert!(jsonb_from_raw("1e5000").is_err());
    }
}
