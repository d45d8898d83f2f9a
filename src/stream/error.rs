//! Why a running stream stopped ([`Effect::Failed`](super::Effect::Failed)). The stream then sits
//! in the error state until the shell sends `RetryAfterError` (the user's `onError` asked to go
//! on) or `Abort`.

use crate::error::ErrorCode;
use crate::protocol::message::MessageError;
use crate::protocol::response::ResponseError;

/// A failure that stopped the stream.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StreamError {
    /// The server (or a proxy) gave an answer that cannot be retried as is: a 4xx other than
    /// 409/429, or a 2xx without the protocol's headers.
    #[error(transparent)]
    Response(#[from] ResponseError),
    /// Bodies at one offset kept failing to parse (truncated or corrupt); the offset was never
    /// advanced past them.
    #[error("{attempts} consecutive malformed responses at offset {offset}: {source}")]
    MalformedBody {
        /// The offset the requests were made at.
        offset: String,
        /// How many bodies failed in a row.
        attempts: u32,
        /// The last parse error.
        source: MessageError,
    },
    /// Retryable failures (5xx, 429, network) outlasted `max_retries`.
    #[error("gave up after {retries} retries; last failure: {last}")]
    RetriesExhausted {
        /// Retries made.
        retries: u32,
        /// The last failure, e.g. `HTTP 503` or `network error`.
        last: String,
    },
    /// The fast-loop guard saw the stream re-requesting one offset too often (ref §4.3); a
    /// cache or proxy is probably replaying a stale answer.
    #[error("requests kept looping at offset {offset} (stale cache or proxy?)")]
    FastLoop {
        /// The offset of the loop.
        offset: String,
    },
    /// Responses kept carrying a handle already known to be expired, even with fresh cache
    /// busters: an HTTP cache or proxy is replaying stale answers (ref §4.3).
    #[error("responses keep carrying expired shape handle {handle} (stale cache?)")]
    StaleCache {
        /// The expired handle.
        handle: String,
    },
    /// The user's `onError` asked to continue more than 50 times in a row without a success.
    #[error("stopped after {retries} consecutive retries requested by onError")]
    ErrorRetriesExhausted {
        /// Retries made.
        retries: u32,
    },
    /// A 2xx response gave an offset a client cannot continue from (`-1` or `now`).
    #[error("the server answered with unusable offset {offset}")]
    UnusableOffset {
        /// The offset received.
        offset: String,
    },
}

impl ErrorCode for StreamError {
    fn code(&self) -> &'static str {
        match self {
            StreamError::Response(e) => e.code(),
            StreamError::MalformedBody { .. } => "EDDY_STREAM_MALFORMED_BODY",
            StreamError::RetriesExhausted { .. } => "EDDY_STREAM_RETRIES_EXHAUSTED",
            StreamError::FastLoop { .. } => "EDDY_STREAM_FAST_LOOP",
            StreamError::StaleCache { .. } => "EDDY_STREAM_STALE_CACHE",
            StreamError::ErrorRetriesExhausted { .. } => "EDDY_STREAM_ERROR_RETRIES_EXHAUSTED",
            StreamError::UnusableOffset { .. } => "EDDY_STREAM_UNUSABLE_OFFSET",
        }
    }
    fn family(&self) -> &'static str {
        match self {
            StreamError::Response(e) => e.family(),
            StreamError::MalformedBody { .. } | StreamError::UnusableOffset { .. } => "ProtocolError",
            StreamError::RetriesExhausted { .. }
            | StreamError::FastLoop { .. }
            | StreamError::StaleCache { .. }
            | StreamError::ErrorRetriesExhausted { .. } => "FetchError",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::response::FetchError;

    #[test]
    fn codes_and_families() {
        let http = StreamError::from(ResponseError::Http(FetchError {
            status: 400,
            message: Some("Invalid request".into()),
            ..FetchError::default()
        }));
        assert_eq!((http.code(), http.family()), ("EDDY_FETCH_HTTP", "FetchError"));
        assert_eq!(http.to_string(), "HTTP 400: Invalid request");
        let fl = StreamError::FastLoop { offset: "0_0".into() };
        assert_eq!((fl.code(), fl.family()), ("EDDY_STREAM_FAST_LOOP", "FetchError"));
        let mb = StreamError::MalformedBody {
            offset: "1_2".into(),
            attempts: 5,
            source: MessageError::Json {
                line: 1,
                column: 9,
                reason: "EOF".into(),
            },
        };
        assert_eq!(mb.code(), "EDDY_STREAM_MALFORMED_BODY");
        assert!(mb
            .to_string()
            .starts_with("5 consecutive malformed responses at offset 1_2"));
    }
}
