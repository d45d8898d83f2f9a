//! Static files (`--www <dir>`, e.g. the demo's `www/`), served for `GET`/`HEAD` paths outside
//! `/v1/`. Paths are percent-decoded and must consist of plain segments: `..`, `.`, empty
//! segments after decoding, backslashes and NUL are refused (404), so nothing outside the
//! directory can be named. A directory serves its `index.html`. `.wasm` is served as
//! `application/wasm` so browsers can stream-compile it.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{Response, StatusCode};

use crate::encode::{self, set};

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The file a URL path names under `root`, or `None` for a refused path.
pub fn resolve(root: &Path, url_path: &str) -> Option<PathBuf> {
    let mut p = root.to_path_buf();
    for raw in url_path.split('/').filter(|s| !s.is_empty()) {
        let seg = percent_decode(raw)?;
        if seg.is_empty() || seg == "." || seg == ".." || seg.contains(['/', '\\', '\0']) {
            return None;
        }
        p.push(seg);
    }
    Some(p)
}

fn content_type(p: &Path) -> &'static str {
    match p.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "ico" => "image/x-icon",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Serve `url_path` from `root`.
pub async fn serve(root: &Path, url_path: &str) -> Response<Body> {
    let not_found = || encode::error(StatusCode::NOT_FOUND, "Not found", &[]);
    let Some(mut file) = resolve(root, url_path) else {
        return not_found();
    };
    if tokio::fs::metadata(&file).await.is_ok_and(|m| m.is_dir()) {
        file.push("index.html");
    }
    match tokio::fs::read(&file).await {
        Ok(bytes) => {
            let mut r = encode::response(StatusCode::OK, content_type(&file), bytes);
            set(r.headers_mut(), "cache-control", "no-cache");
            r
        }
        Err(_) => not_found(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_root() {
        let root = Path::new("/srv/www");
        assert_eq!(resolve(root, "/"), Some(PathBuf::from("/srv/www")));
        assert_eq!(resolve(root, "/a/b.js"), Some(PathBuf::from("/srv/www/a/b.js")));
        assert_eq!(
            resolve(root, "/a%20b.html"),
            Some(PathBuf::from("/srv/www/a b.html"))
        );
        for bad in [
            "/../etc/passwd",
            "/a/../../x",
            "/%2e%2e/x",
            "/a%2fb",
            "/a%5cb",
            "/a%00",
            "/%zz",
            "/./a",
            "/%",
        ] {
            assert_eq!(resolve(root, bad), None, "{bad}");
        }
        assert_eq!(content_type(Path::new("x.wasm")), "application/wasm");
    }
}
