//! Test harness: spawn the real `eddy-server` binary on 127.0.0.1 with an ephemeral port, read
//! its startup line, and talk to it over real sockets with a small blocking HTTP client.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value as Json;

pub mod ws;

/// A running server, killed on drop.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    agent: ureq::Agent,
}

/// The example schema shipped with the server.
pub fn todo_schema() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/todo.sql")
}

/// A fresh temporary path (not created).
pub fn temp_path(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::env::temp_dir().join(format!("eddy-server-test-{}-{nanos}-{name}", std::process::id()))
}

/// A plain HTTP response.
#[derive(Debug)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Headers (lower-case names).
    pub headers: Vec<(String, String)>,
    /// Body text.
    pub body: String,
}

impl Resp {
    /// A header value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    /// A header that must be present.
    pub fn h(&self, name: &str) -> &str {
        self.header(name)
            .unwrap_or_else(|| panic!("missing header {name} in {self:?}"))
    }
    /// The body as JSON.
    pub fn json(&self) -> Json {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }
    /// The body as a message array (also checked to parse with the eddy core's parser).
    pub fn msgs(&self) -> Vec<Json> {
        let parsed = eddy::protocol::parse_body(self.body.as_bytes())
            .unwrap_or_else(|e| panic!("the eddy core cannot parse {:?}: {e}", self.body));
        match self.json() {
            Json::Array(a) if a.len() == parsed.len() => a,
            Json::Array(a) => a,
            other => panic!("expected an array, got {other}"),
        }
    }
    /// Does the body end with up-to-date?
    pub fn ends_up_to_date(&self) -> bool {
        self.msgs()
            .last()
            .is_some_and(|m| m["headers"]["control"] == "up-to-date")
    }
    /// Change messages only.
    pub fn changes(&self) -> Vec<Json> {
        self.msgs()
            .into_iter()
            .filter(|m| m.get("key").is_some())
            .collect()
    }
}

/// Build a query string from pairs (percent-encoded).
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

impl Server {
    /// Start with the example schema, an in-memory store and short timeouts, plus `extra` flags.
    pub fn start(extra: &[&str]) -> Server {
        let schema = todo_schema();
        let mut args: Vec<String> = vec![
            "--schema".into(),
            schema.to_string_lossy().into_owned(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--long-poll-ms".into(),
            "400".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        Server::start_args(&args)
    }

    /// Start with exactly these arguments.
    pub fn start_args(args: &[String]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_eddy-server"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn eddy-server");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("startup line");
        let base = line
            .trim()
            .strip_prefix("eddy-server listening on ")
            .unwrap_or_else(|| panic!("unexpected startup line {line:?}"))
            .to_string();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Server { child, base, agent }
    }

    fn finish(resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Resp {
        let mut resp = resp.expect("request failed");
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let body = resp.body_mut().read_to_string().unwrap_or_default();
        Resp {
            status,
            headers,
            body,
        }
    }

    /// GET `path?query`, returning transport failures (including a body cut mid-way) as `Err`.
    pub fn try_get(&self, path_and_query: &str) -> Result<Resp, String> {
        let mut resp = self
            .agent
            .get(format!("{}{path_and_query}", self.base))
            .call()
            .map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let body = resp.body_mut().read_to_string().map_err(|e| e.to_string())?;
        Ok(Resp {
            status,
            headers,
            body,
        })
    }

    /// GET `path?query`.
    pub fn get(&self, path_and_query: &str) -> Resp {
        Self::finish(self.agent.get(format!("{}{path_and_query}", self.base)).call())
    }

    /// GET with extra headers.
    pub fn get_with(&self, path_and_query: &str, headers: &[(&str, &str)]) -> Resp {
        let mut req = self.agent.get(format!("{}{path_and_query}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Self::finish(req.call())
    }

    /// OPTIONS (CORS preflight) with extra headers.
    pub fn options(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        let mut req = self.agent.options(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Self::finish(req.call())
    }

    /// HEAD a path.
    pub fn head(&self, path_and_query: &str) -> Resp {
        Self::finish(self.agent.head(format!("{}{path_and_query}", self.base)).call())
    }

    /// GET /v1/shape with query pairs.
    pub fn shape(&self, pairs: &[(&str, &str)]) -> Resp {
        self.get(&format!("/v1/shape?{}", query(pairs)))
    }

    /// The parsed `electric-schema` header of a shape request.
    pub fn schema_header(&self, pairs: &[(&str, &str)]) -> Json {
        let r = self.shape(pairs);
        serde_json::from_str(r.h("electric-schema")).expect("schema header is JSON")
    }

    /// DELETE /v1/shape with query pairs.
    pub fn delete_shape(&self, pairs: &[(&str, &str)]) -> Resp {
        Self::finish(
            self.agent
                .delete(format!("{}/v1/shape?{}", self.base, query(pairs)))
                .call(),
        )
    }

    /// POST /v1/tx with a JSON body.
    pub fn tx(&self, body: &Json) -> Resp {
        Self::finish(
            self.agent
                .post(format!("{}/v1/tx", self.base))
                .header("content-type", "application/json")
                .send(body.to_string()),
        )
    }

    /// POST raw bytes to a path.
    pub fn post_raw(&self, path: &str, body: Vec<u8>) -> Resp {
        Self::finish(self.agent.post(format!("{}{path}", self.base)).send(&body[..]))
    }

    /// POST a transaction that must succeed; returns its LSN.
    pub fn write(&self, body: Json) -> String {
        let r = self.tx(&body);
        assert_eq!(r.status, 200, "tx failed: {}", r.body);
        r.json()["lsn"].as_str().expect("lsn").to_string()
    }

    /// Insert one todo.
    pub fn insert_todo(&self, id: i64, title: &str, done: bool) -> String {
        self.write(serde_json::json!({"ops":[{"op":"insert","table":"todos","row":{"id":id,"title":title,"done":done}}]}))
    }

    /// Open an SSE stream; returns a line reader over the body.
    pub fn sse(&self, pairs: &[(&str, &str)]) -> (Resp, Box<dyn BufRead + Send>) {
        let resp = self
            .agent
            .get(format!("{}/v1/shape?{}", self.base, query(pairs)))
            .header("accept", "text/event-stream")
            .call()
            .expect("sse request");
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let reader: Box<dyn Read + Send> = Box::new(resp.into_body().into_reader());
        (
            Resp {
                status,
                headers,
                body: String::new(),
            },
            Box::new(BufReader::new(reader)),
        )
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait for the process to exit; its exit code.
    pub fn wait(&mut self) -> Option<i32> {
        self.child.wait().ok().and_then(|s| s.code())
    }

    /// Kill the process now.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Follow a shape from `offset=-1` until up-to-date; returns (handle, offset, all change
/// messages, number of requests).
pub fn sync(s: &Server, def: &[(&str, &str)]) -> (String, String, Vec<Json>, usize) {
    let mut pairs: Vec<(&str, &str)> = def.to_vec();
    pairs.push(("offset", "-1"));
    let first = s.shape(&pairs);
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(!first.ends_up_to_date(), "offset=-1 must never be up-to-date");
    let mut handle = first.h("electric-handle").to_string();
    let mut offset = first.h("electric-offset").to_string();
    let mut all = first.changes();
    let mut n = 1;
    loop {
        let mut pairs: Vec<(&str, &str)> = def.to_vec();
        pairs.push(("offset", &offset));
        pairs.push(("handle", &handle));
        let r = s.shape(&pairs);
        assert_eq!(r.status, 200, "{}", r.body);
        n += 1;
        all.extend(r.changes());
        handle = r.h("electric-handle").to_string();
        offset = r.h("electric-offset").to_string();
        if r.ends_up_to_date() {
            assert!(r.header("electric-up-to-date").is_some());
            return (handle, offset, all, n);
        }
        assert!(n < 10_000, "never reached up-to-date");
    }
}

/// Apply change messages to a key → row map (the materialisation rule, ref §3.1).
pub fn materialize(map: &mut std::collections::BTreeMap<String, Json>, msgs: &[Json]) {
    for m in msgs {
        let key = m["key"].as_str().expect("key").to_string();
        match m["headers"]["operation"].as_str() {
            Some("insert") => {
                map.insert(key, m["value"].clone());
            }
            Some("update") => {
                let row = map.entry(key).or_insert_with(|| serde_json::json!({}));
                if let (Some(row), Some(patch)) = (row.as_object_mut(), m["value"].as_object()) {
                    for (k, v) in patch {
                        row.insert(k.clone(), v.clone());
                    }
                }
            }
            Some("delete") => {
                map.remove(&key);
            }
            other => panic!("unexpected operation {other:?}"),
        }
    }
}
