//! The [`FetchError`] of a non-retryable response: the server's JSON `message` and field
//! `errors` when the body has them, and the body as bounded text.

use super::FetchError;

/// At most this many bytes of an error body are kept in [`FetchError::body`].
pub const MAX_ERROR_BODY_BYTES: usize = 4096;

/// Build the [`FetchError`] of an error response.
pub(super) fn fetch_error(status: u16, body: &[u8]) -> FetchError {
    let mut err = FetchError {
        status,
        body: body_text(body),
        ..FetchError::default()
    };
    if let Ok(serde_json::Value::Object(json)) = serde_json::from_slice::<serde_json::Value>(body) {
        err.message = json.get("message").map(json_text);
        if let Some(serde_json::Value::Object(errors)) = json.get("errors") {
            for (field, msgs) in errors {
                let msgs = match msgs {
                    serde_json::Value::Array(list) => list.iter().map(json_text).collect(),
                    other => vec![json_text(other)],
                };
                err.errors.insert(field.clone(), msgs);
            }
        }
    }
    err
}

/// A JSON value as text: strings as is, anything else as compact JSON.
fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The body as lossy UTF-8, at most [`MAX_ERROR_BODY_BYTES`] bytes, never cutting a character.
fn body_text(body: &[u8]) -> String {
    let mut cut = body.len().min(MAX_ERROR_BODY_BYTES);
    if cut < body.len() {
        // Back off to a character start so a valid sequence is not turned into U+FFFD.
        let mut back = 0;
        while back < 3 && cut > 0 && body.get(cut).is_some_and(|b| b & 0xC0 == 0x80) {
            cut -= 1;
            back += 1;
        }
    }
    let mut text = String::from_utf8_lossy(body.get(..cut).unwrap_or(body)).into_owned();
    if text.len() > MAX_ERROR_BODY_BYTES {
        let mut end = MAX_ERROR_BODY_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_is_bounded_lossy_utf8() {
        // 4095 ASCII bytes then a 2-byte character straddling the 4 KiB limit.
        let mut body = vec![b'a'; 4095];
        body.extend_from_slice("é and more".as_bytes());
        let e = fetch_error(400, &body);
        assert_eq!(e.body, "a".repeat(4095));
        // Invalid bytes become U+FFFD but the text stays within 4 KiB.
        let e = fetch_error(400, &[0xFF; 5000]);
        assert!(e.body.len() <= MAX_ERROR_BODY_BYTES && e.body.chars().all(|c| c == '\u{FFFD}'));
        assert_eq!(e.body.chars().count(), MAX_ERROR_BODY_BYTES / 3);
        let e = fetch_error(400, b"ok \xF0\x9F\x98 x");
        assert_eq!(e.body, "ok \u{FFFD} x");
    }
}
