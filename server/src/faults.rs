//! Fault injection (`--faults <seed>:<rate>`, off by default) for testing clients' recovery.
//!
//! A deterministic sequence (splitmix64 of the seed and a request counter) picks, for a
//! `rate` fraction of `GET /v1/shape` requests, one fault:
//! - `unavailable`: 503 with `retry-after: 1` and `electric-internal-known-error: true`
//!   (nothing was done);
//! - `internal`: 500 (nothing was done);
//! - `truncate`: the real response's headers and the first half of its body, then the
//!   connection is cut (the case ref §0 says a client must retry at the same offset);
//! - `abort`: the connection is cut before the body (usually before the headers);
//! - `delay`: the request is held 50–800 ms, then answered normally;
//! - `rotate`: the handle the request names is dropped first (as `DELETE /v1/shape` would), so
//!   the request answers 409 with the replacement handle (requests without a handle pass).
//!
//! SSE streams are never truncated or aborted (only 503/500 before they start). Responses
//! with an injected status carry `x-eddy-fault: <kind>`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{Response, StatusCode};
use axum::middleware::Next;

use crate::encode::{self, set};
use crate::state::AppState;

/// `<seed>:<rate>` with `0 <= rate <= 1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultSpec {
    /// Seed of the fault sequence.
    pub seed: u64,
    /// Fraction of requests that fail.
    pub rate: f64,
}

impl FaultSpec {
    /// Parse `<seed>:<rate>`.
    pub fn parse(s: &str) -> Option<FaultSpec> {
        let (seed, rate) = s.split_once(':')?;
        let rate: f64 = rate.parse().ok()?;
        if !(0.0..=1.0).contains(&rate) {
            return None;
        }
        Some(FaultSpec {
            seed: seed.parse().ok()?,
            rate,
        })
    }
}

/// The kinds of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 503 + retry-after.
    Unavailable,
    /// 500.
    Internal,
    /// Half a body, then a cut connection.
    Truncate,
    /// Cut before the body.
    Abort,
    /// Held this many milliseconds, then answered normally.
    Delay(u64),
    /// The named handle is rotated first: a 409.
    Rotate,
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The fault (if any) for request number `n`.
pub fn decide(spec: FaultSpec, n: u64) -> Option<Fault> {
    let x = splitmix(spec.seed ^ splitmix(n));
    let unit = (x >> 11) as f64 / (1u64 << 53) as f64;
    if unit >= spec.rate {
        return None;
    }
    let pick = splitmix(x);
    Some(match pick % 6 {
        0 => Fault::Unavailable,
        1 => Fault::Internal,
        2 => Fault::Truncate,
        3 => Fault::Abort,
        4 => Fault::Delay(50 + (pick >> 8) % 751),
        _ => Fault::Rotate,
    })
}

/// Counter of requests seen by the fault layer.
#[derive(Debug, Default)]
pub struct FaultCounter(AtomicU64);

fn cut() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "eddy-server fault injection",
    )
}

/// Middleware for `/v1/shape`.
pub async fn layer(State(app): State<Arc<AppState>>, req: Request, next: Next) -> Response<Body> {
    let Some(spec) = app
        .config
        .faults
        .filter(|_| req.method() == axum::http::Method::GET)
    else {
        return next.run(req).await;
    };
    let n = app.fault_counter.0.fetch_add(1, Ordering::Relaxed);
    let Some(fault) = decide(spec, n) else {
        return next.run(req).await;
    };
    let streaming = req.uri().query().is_some_and(|q| q.contains("live_sse=true"));
    let mut resp = match fault {
        Fault::Delay(ms) => {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            let mut resp = next.run(req).await;
            set(resp.headers_mut(), "x-eddy-fault", "delay");
            return resp;
        }
        Fault::Rotate => {
            let handle = req.uri().query().and_then(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "handle")
                    .map(|(_, v)| v.into_owned())
            });
            let rotated = match handle {
                Some(h) => app.drop_handles(&[h]).is_ok(),
                None => false,
            };
            let mut resp = next.run(req).await;
            if rotated {
                set(resp.headers_mut(), "x-eddy-fault", "rotate");
            }
            return resp;
        }
        Fault::Unavailable => encode::unavailable(1, "fault_injected", "Injected fault: unavailable"),
        Fault::Internal => encode::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Injected fault: internal error",
            &[],
        ),
        Fault::Truncate | Fault::Abort if streaming => return next.run(req).await,
        Fault::Truncate => {
            let resp = next.run(req).await;
            let (parts, body) = resp.into_parts();
            let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
                return Response::from_parts(parts, Body::empty());
            };
            let half = Bytes::copy_from_slice(bytes.get(..bytes.len() / 2).unwrap_or_default());
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![Ok(half), Err(cut())];
            return Response::from_parts(parts, Body::from_stream(futures_util::stream::iter(chunks)));
        }
        Fault::Abort => {
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![Err(cut())];
            return Response::new(Body::from_stream(futures_util::stream::iter(chunks)));
        }
    };
    let kind = if fault == Fault::Unavailable {
        "unavailable"
    } else {
        "internal"
    };
    set(resp.headers_mut(), "x-eddy-fault", kind);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_rate() {
        assert_eq!(
            FaultSpec::parse("7:0.25"),
            Some(FaultSpec { seed: 7, rate: 0.25 })
        );
        for bad in ["7", "x:0.1", "7:2", "7:-0.1", "7:x", ""] {
            assert_eq!(FaultSpec::parse(bad), None, "{bad}");
        }
        let spec = FaultSpec { seed: 42, rate: 0.3 };
        let faults: Vec<_> = (0..10_000).map(|n| decide(spec, n)).collect();
        let hit = faults.iter().filter(|f| f.is_some()).count();
        assert!((2500..3500).contains(&hit), "{hit}");
        for k in [
            Fault::Unavailable,
            Fault::Internal,
            Fault::Truncate,
            Fault::Abort,
            Fault::Rotate,
        ] {
            assert!(faults.contains(&Some(k)), "{k:?} occurs");
        }
        let delays: Vec<u64> = faults
            .iter()
            .filter_map(|f| match f {
                Some(Fault::Delay(ms)) => Some(*ms),
                _ => None,
            })
            .collect();
        assert!(!delays.is_empty() && delays.iter().all(|ms| (50..=800).contains(ms)));
        // Deterministic per seed, different across seeds.
        assert_eq!(faults, (0..10_000).map(|n| decide(spec, n)).collect::<Vec<_>>());
        let other: Vec<_> = (0..100)
            .map(|n| decide(FaultSpec { seed: 43, rate: 0.3 }, n))
            .collect();
        assert_ne!(&faults[..100], &other[..]);
        assert!((0..1000).all(|n| decide(FaultSpec { seed: 1, rate: 0.0 }, n).is_none()));
        assert!((0..1000).all(|n| decide(FaultSpec { seed: 1, rate: 1.0 }, n).is_some()));
    }
}
