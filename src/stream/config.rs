//! What a [`ShapeStream`](super::ShapeStream) is built from: the shape, where to start, how to
//! run, and the checks made at construction (ref §6.1).

use super::backoff::BackoffOptions;
use crate::error::ErrorCode;
use crate::protocol::offset::Offset;
use crate::protocol::request::ShapeDefinition;

/// Default live-request watchdog, in ms (the official client's `liveRequestTimeoutMs`).
pub const DEFAULT_LIVE_REQUEST_TIMEOUT_MS: u64 = 45_000;

/// Options of one stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamConfig {
    /// The shape to sync.
    pub shape: ShapeDefinition,
    /// Where to start: `-1` (default), `now`, or a stored offset (then `handle` is required).
    pub offset: Offset,
    /// The stored handle to resume with.
    pub handle: Option<String>,
    /// A handle already known to be expired for this shape (persisted from an earlier session's
    /// 409). It is sent as `expired_handle`, and a response still carrying it is treated as a
    /// stale cache hit (ref §4.3). A 409 during this stream replaces it.
    pub expired_handle: Option<String>,
    /// `true` (default): keep following changes after the first up-to-date. `false`: stop there
    /// (the official client's `subscribe: false`).
    pub live: bool,
    /// Use Server-Sent Events for live updates (falls back to long-polling by itself when a
    /// proxy buffers the stream).
    pub prefer_sse: bool,
    /// Retry timings for 5xx, 429, network failures and malformed bodies.
    pub backoff: BackoffOptions,
    /// Watchdog for one live long-poll request, in ms; `None` disables it. Default 45 s, well
    /// above the server's 20 s hold.
    pub live_request_timeout_ms: Option<u64>,
}

impl StreamConfig {
    /// Defaults for `shape`: from `-1`, live, long-polling, default backoff, 45 s watchdog.
    pub fn new(shape: ShapeDefinition) -> Self {
        StreamConfig {
            shape,
            offset: Offset::BeforeAll,
            handle: None,
            expired_handle: None,
            live: true,
            prefer_sse: false,
            backoff: BackoffOptions::default(),
            live_request_timeout_ms: Some(DEFAULT_LIVE_REQUEST_TIMEOUT_MS),
        }
    }

    /// Resume from a stored position.
    pub fn resume(mut self, handle: impl Into<String>, offset: Offset) -> Self {
        self.handle = Some(handle.into());
        self.offset = offset;
        self
    }

    /// Check the options; [`ShapeStream::new`](super::ShapeStream::new) calls this.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.offset.is_initial() && self.handle.is_none() {
            return Err(ConfigError::MissingHandle {
                offset: self.offset.to_string(),
            });
        }
        if self.handle.as_deref() == Some("") {
            return Err(ConfigError::EmptyHandle);
        }
        let b = &self.backoff;
        if !(b.multiplier.is_finite() && b.multiplier >= 1.0) {
            return Err(ConfigError::InvalidBackoff {
                reason: "multiplier must be a finite number >= 1",
            });
        }
        if b.initial_delay_ms > b.max_delay_ms {
            return Err(ConfigError::InvalidBackoff {
                reason: "initial delay must not exceed the maximum delay",
            });
        }
        if self.live_request_timeout_ms == Some(0) {
            return Err(ConfigError::InvalidLiveTimeout);
        }
        Ok(())
    }
}

/// Why a stream could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A stored offset was given without the handle it belongs to.
    #[error("offset {offset} needs the shape handle it came from")]
    MissingHandle {
        /// The offset given.
        offset: String,
    },
    /// The handle is the empty string.
    #[error("the shape handle must not be empty")]
    EmptyHandle,
    /// Backoff options that cannot work.
    #[error("invalid backoff options: {reason}")]
    InvalidBackoff {
        /// What is wrong.
        reason: &'static str,
    },
    /// A live-request timeout of 0 ms (use `None` to disable the watchdog).
    #[error("the live request timeout must be positive (or disabled)")]
    InvalidLiveTimeout,
}

impl ErrorCode for ConfigError {
    fn code(&self) -> &'static str {
        match self {
            ConfigError::MissingHandle { .. } => "EDDY_STREAM_MISSING_HANDLE",
            ConfigError::EmptyHandle => "EDDY_STREAM_EMPTY_HANDLE",
            ConfigError::InvalidBackoff { .. } => "EDDY_STREAM_INVALID_BACKOFF",
            ConfigError::InvalidLiveTimeout => "EDDY_STREAM_INVALID_LIVE_TIMEOUT",
        }
    }
    fn family(&self) -> &'static str {
        match self {
            ConfigError::MissingHandle { .. } => "MissingShapeHandleError",
            _ => "InvalidShapeOptionsError",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::offset::LogOffset;

    fn cfg() -> StreamConfig {
        StreamConfig::new(ShapeDefinition {
            table: "items".into(),
            ..ShapeDefinition::default()
        })
    }

    #[test]
    fn defaults() {
        let c = cfg();
        assert_eq!(c.offset, Offset::BeforeAll);
        assert!(c.live && !c.prefer_sse);
        assert_eq!(c.live_request_timeout_ms, Some(45_000));
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn a_stored_offset_needs_a_handle() {
        let mut c = cfg();
        c.offset = Offset::Log(LogOffset::new(3, 1));
        let err = c.validate().unwrap_err();
        assert_eq!(err.code(), "EDDY_STREAM_MISSING_HANDLE");
        assert_eq!(err.family(), "MissingShapeHandleError");
        assert_eq!(err.to_string(), "offset 3_1 needs the shape handle it came from");
        assert_eq!(c.clone().resume("h-1", c.offset).validate(), Ok(()));
        let mut now = cfg();
        now.offset = Offset::Now;
        assert_eq!(now.validate(), Ok(()));
    }

    #[test]
    fn bad_options_are_rejected() {
        let mut c = cfg();
        c.backoff.multiplier = 0.5;
        assert_eq!(
            c.validate().map_err(|e| e.code()),
            Err("EDDY_STREAM_INVALID_BACKOFF")
        );
        let mut c = cfg();
        c.backoff.initial_delay_ms = 40_000;
        assert!(c.validate().is_err());
        let mut c = cfg();
        c.live_request_timeout_ms = Some(0);
        assert_eq!(c.validate(), Err(ConfigError::InvalidLiveTimeout));
        assert_eq!(
            cfg().resume("", Offset::BeforeAll).validate(),
            Err(ConfigError::EmptyHandle)
        );
    }
}
