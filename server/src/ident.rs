//! Identifier lists from query parameters: `table` (`name`, `schema.name`) and `columns`
//! (comma-separated). Postgres rules: unquoted names are lower-cased and limited to
//! letters, digits, `_` and `$` (not first); `"quoted"` names keep case and may contain anything
//! but NUL, with `""` standing for one quote.

/// Split `s` on `sep` outside double quotes and normalise each part as an identifier.
pub fn parse_ident_list(s: &str, sep: char) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        // Skip leading whitespace.
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut name = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(format!("unterminated quoted identifier in {s:?}")),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        name.push('"');
                    }
                    Some('"') => break,
                    Some('\0') => return Err("identifiers cannot contain NUL".into()),
                    Some(c) => name.push(c),
                }
            }
            if name.is_empty() {
                return Err("zero-length quoted identifier".into());
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == sep || c.is_whitespace() {
                    break;
                }
                let ok = c.is_ascii_alphabetic()
                    || c == '_'
                    || (!name.is_empty() && (c.is_ascii_digit() || c == '$'));
                if !ok {
                    return Err(format!("invalid character {c:?} in identifier (quote it)"));
                }
                name.push(c.to_ascii_lowercase());
                chars.next();
            }
            if name.is_empty() {
                return Err(format!("empty identifier in {s:?}"));
            }
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        out.push(name);
        match chars.next() {
            None => return Ok(out),
            Some(c) if c == sep => {}
            Some(c) => return Err(format!("unexpected {c:?} after identifier")),
        }
    }
}

/// Quote an identifier for SQL or for a row key (`"a""b"`).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists() {
        assert_eq!(parse_ident_list("id,Title", ',').unwrap(), vec!["id", "title"]);
        assert_eq!(
            parse_ident_list(" id , \"A,b\"\"c\" ", ',').unwrap(),
            vec!["id", "A,b\"c"]
        );
        assert_eq!(
            parse_ident_list("public.\"Todos\"", '.').unwrap(),
            vec!["public", "Todos"]
        );
        for bad in [
            "", "a,", ",a", "a b", "\"a", "\"\"", "a;b", "1a", "a-b", "a,,b", "\"a\"b", "é",
        ] {
            assert!(parse_ident_list(bad, ',').is_err(), "{bad:?}");
        }
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
