//! Command-line configuration.
//!
//! ```text
//! eddy-server --schema <file.sql> [--data <file | :memory:>] [--listen 127.0.0.1:3000]
//!             [--chunk-bytes N] [--long-poll-ms N] [--sse-timeout-ms N] [--sse-keepalive-ms N]
//!             [--max-body-bytes N] [--max-where-bytes N] [--max-live N] [--max-ops N] [--max-shapes N]
//!             [--oob-wait-ms N] [--www <dir>] [--faults <seed>:<rate>] [--log-requests]
//!             [--secret <s>] [--seed <file.json>]
//! ```
//! Flags take `--flag value` or `--flag=value`. The server binds 127.0.0.1 unless told otherwise;
//! port 0 picks an ephemeral port (the startup line says which).

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the command line was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `--help` was asked for.
    #[error("{USAGE}")]
    Help,
    /// A flag this server does not know.
    #[error("unknown flag {0} (see --help)")]
    UnknownFlag(String),
    /// A flag without its value.
    #[error("flag {0} needs a value")]
    MissingValue(String),
    /// A value that does not parse.
    #[error("invalid value {value:?} for {flag}: {reason}")]
    InvalidValue {
        /// The flag.
        flag: String,
        /// The value given.
        value: String,
        /// What was expected.
        reason: &'static str,
    },
    /// `--schema` is required.
    #[error("--schema <file.sql> is required (see --help)")]
    MissingSchema,
}

impl eddy::ErrorCode for ConfigError {
    fn code(&self) -> &'static str {
        match self {
            ConfigError::Help => "EDDY_SERVER_CONFIG_HELP",
            ConfigError::UnknownFlag(_) => "EDDY_SERVER_CONFIG_UNKNOWN_FLAG",
            ConfigError::MissingValue(_) => "EDDY_SERVER_CONFIG_MISSING_VALUE",
            ConfigError::InvalidValue { .. } => "EDDY_SERVER_CONFIG_INVALID_VALUE",
            ConfigError::MissingSchema => "EDDY_SERVER_CONFIG_MISSING_SCHEMA",
        }
    }
    fn family(&self) -> &'static str {
        "ServerError"
    }
}

/// Usage text.
pub const USAGE: &str =
    "usage: eddy-server --schema <file.sql> [--data <file | :memory:>] [--listen 127.0.0.1:3000]
  --chunk-bytes N       snapshot/log chunk size in bytes (default 10485760)
  --long-poll-ms N      live long-poll timeout (default 20000)
  --sse-timeout-ms N    SSE stream lifetime (default 60000)
  --sse-keepalive-ms N  SSE keep-alive comment interval (default 21000)
  --max-body-bytes N    request body limit (default 4194304)
  --max-where-bytes N   where clause limit (default 8192)
  --max-live N          concurrent live requests before 503 (default 1000)
  --max-ops N           operations per POST /v1/tx (default 10000)
  --max-shapes N        shapes kept before the oldest is evicted (default 1000)
  --oob-wait-ms N       wait before answering an out-of-bounds offset (default 0)
  --www <dir>           serve static files from <dir> for paths outside /v1/
  --faults <seed>:<rate> inject faults into that fraction of GET /v1/shape (off by default)
  --log-requests        log one line per request to stderr
  --secret <s>          require ?secret=<s> (or api_secret) on /v1/ requests except health
  --seed <file.json>    apply this {\"ops\":[...]} transaction once when the store is empty";

/// Server settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Schema file.
    pub schema: PathBuf,
    /// SQLite data file, or `:memory:`.
    pub data: String,
    /// Listen address.
    pub listen: SocketAddr,
    /// Chunk size in bytes.
    pub chunk_bytes: usize,
    /// Long-poll timeout.
    pub long_poll_ms: u64,
    /// SSE stream lifetime.
    pub sse_timeout_ms: u64,
    /// SSE keep-alive interval.
    pub sse_keepalive_ms: u64,
    /// Body limit.
    pub max_body_bytes: usize,
    /// `where` limit.
    pub max_where_bytes: usize,
    /// Concurrent live requests.
    pub max_live: usize,
    /// Ops per transaction.
    pub max_ops: usize,
    /// Materialised shapes before the oldest is evicted.
    pub max_shapes: usize,
    /// Delay before an out-of-bounds 400.
    pub oob_wait_ms: u64,
    /// Static file directory.
    pub www: Option<PathBuf>,
    /// Fault injection.
    pub faults: Option<crate::faults::FaultSpec>,
    /// Log one line per request to stderr.
    pub log_requests: bool,
    /// Shared secret required as `secret` (or `api_secret`) on `/v1/` requests.
    pub secret: Option<String>,
    /// A `{"ops":[...]}` file applied once to an empty store at startup.
    pub seed: Option<PathBuf>,
}

impl Config {
    /// Defaults for a schema file.
    pub fn new(schema: PathBuf) -> Config {
        Config {
            schema,
            data: ":memory:".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            chunk_bytes: 10 * 1024 * 1024,
            long_poll_ms: 20_000,
            sse_timeout_ms: 60_000,
            sse_keepalive_ms: 21_000,
            max_body_bytes: 4 * 1024 * 1024,
            max_where_bytes: 8192,
            max_live: 1000,
            max_ops: 10_000,
            max_shapes: 1000,
            oob_wait_ms: 0,
            www: None,
            faults: None,
            log_requests: false,
            secret: None,
            seed: None,
        }
    }

    /// Parse arguments (without the program name).
    pub fn from_args<I: IntoIterator<Item = String>>(args: I) -> Result<Config, ConfigError> {
        let mut cfg = Config::new(PathBuf::new());
        let mut schema = None;
        let mut it = args.into_iter();
        while let Some(arg) = it.next() {
            if arg == "--help" || arg == "-h" {
                return Err(ConfigError::Help);
            }
            if arg == "--log-requests" {
                cfg.log_requests = true;
                continue;
            }
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            let known = [
                "--schema",
                "--data",
                "--listen",
                "--chunk-bytes",
                "--long-poll-ms",
                "--sse-timeout-ms",
                "--sse-keepalive-ms",
                "--max-body-bytes",
                "--max-where-bytes",
                "--max-live",
                "--max-ops",
                "--max-shapes",
                "--oob-wait-ms",
                "--www",
                "--faults",
                "--secret",
                "--seed",
            ];
            if !known.contains(&flag.as_str()) {
                return Err(ConfigError::UnknownFlag(flag));
            }
            let value = match inline {
                Some(v) => v,
                None => it.next().ok_or_else(|| ConfigError::MissingValue(flag.clone()))?,
            };
            let num = |reason| {
                value
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(ConfigError::InvalidValue {
                        flag: flag.clone(),
                        value: value.clone(),
                        reason,
                    })
            };
            match flag.as_str() {
                "--schema" => schema = Some(PathBuf::from(&value)),
                "--data" => cfg.data = value.clone(),
                "--www" => cfg.www = Some(PathBuf::from(&value)),
                "--seed" => cfg.seed = Some(PathBuf::from(&value)),
                "--secret" => {
                    if value.is_empty() {
                        return Err(ConfigError::InvalidValue {
                            flag: flag.clone(),
                            value: value.clone(),
                            reason: "must not be empty",
                        });
                    }
                    cfg.secret = Some(value.clone())
                }
                "--faults" => {
                    cfg.faults = Some(crate::faults::FaultSpec::parse(&value).ok_or(
                        ConfigError::InvalidValue {
                            flag: flag.clone(),
                            value: value.clone(),
                            reason: "expected <seed>:<rate> with 0 <= rate <= 1",
                        },
                    )?)
                }
                "--listen" => {
                    cfg.listen = value.parse().map_err(|_| ConfigError::InvalidValue {
                        flag: flag.clone(),
                        value: value.clone(),
                        reason: "expected ip:port, e.g. 127.0.0.1:3000",
                    })?
                }
                "--chunk-bytes" => cfg.chunk_bytes = num("expected a positive integer")? as usize,
                "--long-poll-ms" => cfg.long_poll_ms = num("expected a positive integer")?,
                "--sse-timeout-ms" => cfg.sse_timeout_ms = num("expected a positive integer")?,
                "--sse-keepalive-ms" => cfg.sse_keepalive_ms = num("expected a positive integer")?,
                "--max-body-bytes" => cfg.max_body_bytes = num("expected a positive integer")? as usize,
                "--max-where-bytes" => cfg.max_where_bytes = num("expected a positive integer")? as usize,
                "--max-live" => cfg.max_live = num("expected a positive integer")? as usize,
                "--max-ops" => cfg.max_ops = num("expected a positive integer")? as usize,
                "--max-shapes" => cfg.max_shapes = num("expected a positive integer")? as usize,
                "--oob-wait-ms" => {
                    cfg.oob_wait_ms = value.parse().map_err(|_| ConfigError::InvalidValue {
                        flag: flag.clone(),
                        value: value.clone(),
                        reason: "expected a non-negative integer",
                    })?
                }
                _ => return Err(ConfigError::UnknownFlag(flag)),
            }
        }
        cfg.schema = schema.ok_or(ConfigError::MissingSchema)?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eddy::ErrorCode;

    fn parse(args: &[&str]) -> Result<Config, ConfigError> {
        Config::from_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults_and_flags() {
        let c = parse(&["--schema", "s.sql"]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(c.data, ":memory:");
        assert_eq!(c.chunk_bytes, 10 * 1024 * 1024);
        let c = parse(&[
            "--schema=s.sql",
            "--listen",
            "127.0.0.1:0",
            "--chunk-bytes=100",
            "--long-poll-ms",
            "500",
        ])
        .unwrap();
        assert_eq!(c.listen.port(), 0);
        assert_eq!((c.chunk_bytes, c.long_poll_ms), (100, 500));
        assert!(!c.log_requests);
        assert!(parse(&["--log-requests", "--schema", "s"]).unwrap().log_requests);
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse(&[]).unwrap_err().code(),
            "EDDY_SERVER_CONFIG_MISSING_SCHEMA"
        );
        assert_eq!(
            parse(&["--nope"]).unwrap_err().code(),
            "EDDY_SERVER_CONFIG_UNKNOWN_FLAG"
        );
        assert_eq!(
            parse(&["--schema"]).unwrap_err().code(),
            "EDDY_SERVER_CONFIG_MISSING_VALUE"
        );
        assert_eq!(
            parse(&["--schema", "s", "--listen", "x"]).unwrap_err().code(),
            "EDDY_SERVER_CONFIG_INVALID_VALUE"
        );
        assert_eq!(
            parse(&["--schema", "s", "--chunk-bytes", "0"])
                .unwrap_err()
                .code(),
            "EDDY_SERVER_CONFIG_INVALID_VALUE"
        );
        assert_eq!(parse(&["--help"]).unwrap_err(), ConfigError::Help);
    }
}
