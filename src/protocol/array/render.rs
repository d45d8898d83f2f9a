//! Array trees back to Postgres array literals, quoting like `array_out`.

use super::{is_space, ArrayElem};

/// Render a tree as a Postgres array literal (quoting like `array_out`), the inverse of
/// [`super::parse_array`].
pub fn render_array(elems: &[ArrayElem], delim: char) -> String {
    let mut out = String::new();
    // (remaining siblings, ) stack; iterative so deep trees cannot overflow the stack.
    let mut stack: Vec<std::slice::Iter<'_, ArrayElem>> = vec![elems.iter()];
    out.push('{');
    let mut first = true;
    while let Some(top) = stack.last_mut() {
        match top.next() {
            None => {
                stack.pop();
                out.push('}');
                first = false;
            }
            Some(e) => {
                if !first {
                    out.push(delim);
                }
                first = false;
                match e {
                    ArrayElem::Null => out.push_str("NULL"),
                    ArrayElem::Text(s) => push_quoted(&mut out, s, delim),
                    ArrayElem::Array(children) => {
                        out.push('{');
                        first = true;
                        stack.push(children.iter());
                    }
                }
            }
        }
    }
    out
}

fn push_quoted(out: &mut String, s: &str, delim: char) {
    let needs = s.is_empty()
        || s.eq_ignore_ascii_case("NULL")
        || s.chars()
            .any(|c| matches!(c, '{' | '}' | '"' | '\\') || c == delim || is_space_char(c));
    if !needs {
        out.push_str(s);
        return;
    }
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

fn is_space_char(c: char) -> bool {
    u8::try_from(c).is_ok_and(is_space)
}

#[cfg(test)]
mod tests {
    use super::super::parse_array;
    use super::ArrayElem::{Array as A, Null as N};
    use super::*;

    fn t(s: &str) -> ArrayElem {
        ArrayElem::Text(s.into())
    }

    #[test]
    fn render_round_trips() {
        let tree = vec![
            A(vec![t(""), N, t("NULL"), t("a\"b\\c"), t(" sp "), t("x,y;z")]),
            A(vec![]),
            t("plain"),
        ];
        let lit = render_array(&tree, ',');
        assert_eq!(lit, r#"{{"",NULL,"NULL","a\"b\\c"," sp ","x,y;z"},{},plain}"#);
        assert_eq!(parse_array(&lit, ',').unwrap(), tree);
        let lit = render_array(&tree, ';');
        assert_eq!(parse_array(&lit, ';').unwrap(), tree);
        assert_eq!(render_array(&[], ','), "{}");
    }
}
