//! The fast-loop guard (ref §4.3): notices when the machine keeps issuing non-live requests
//! at the same offset (a cache replaying a stale answer, a proxy stripping headers, a server
//! bug) and breaks the loop.
//!
//! Five non-live requests at one offset within 500 ms is a detection. The first detection asks
//! for a reset (restart at `-1` with a cache buster, like a 409 without a handle); the next ones
//! ask for a jittered pause under `min(5 s, 100 ms * 2^n)`; the fifth fails the stream. Reaching
//! up-to-date clears the detection count.

use std::collections::VecDeque;

use crate::protocol::offset::Offset;

/// Requests at one offset that make a loop.
pub const FAST_LOOP_REQUESTS: usize = 5;
/// The window those requests must fall in, in ms.
pub const FAST_LOOP_WINDOW_MS: u64 = 500;
/// The detection that fails the stream.
pub const FAST_LOOP_MAX_DETECTIONS: u32 = 5;
/// Ceiling of the pause after a repeated detection, in ms.
pub const FAST_LOOP_MAX_PAUSE_MS: u64 = 5000;

/// What to do about the request being issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No loop: issue it.
    Proceed,
    /// First detection: reset the shape position and restart at `-1` with a cache buster.
    Reset,
    /// Repeated detection: wait a jittered time under this ceiling (ms), then issue it.
    Pause(u64),
    /// Too many detections: fail the stream.
    Fail,
}

/// Timestamps of recent non-live requests at one offset, and the detection count.
#[derive(Debug, Clone, Default)]
pub struct FastLoopGuard {
    offset: Option<Offset>,
    times: VecDeque<u64>,
    detections: u32,
}

impl FastLoopGuard {
    /// Note a non-live request about to be issued at `offset`, and judge it.
    pub fn record(&mut self, now_ms: u64, offset: Offset) -> Verdict {
        if self.offset != Some(offset) {
            self.offset = Some(offset);
            self.times.clear();
        }
        self.times.push_back(now_ms);
        while self
            .times
            .front()
            .is_some_and(|&t| now_ms.saturating_sub(t) >= FAST_LOOP_WINDOW_MS)
        {
            self.times.pop_front();
        }
        if self.times.len() < FAST_LOOP_REQUESTS {
            return Verdict::Proceed;
        }
        self.times.clear();
        self.detections = self.detections.saturating_add(1);
        match self.detections {
            1 => Verdict::Reset,
            n if n >= FAST_LOOP_MAX_DETECTIONS => Verdict::Fail,
            n => Verdict::Pause(pause_ceiling(n - 1)),
        }
    }

    /// Forget past detections (the stream reached up-to-date).
    pub fn clear_detections(&mut self) {
        self.detections = 0;
    }

    /// Detections since the last up-to-date.
    pub fn detections(&self) -> u32 {
        self.detections
    }
}

/// `min(5 s, 100 ms * 2^n)`.
pub(crate) fn pause_ceiling(n: u32) -> u64 {
    100u64
        .checked_shl(n.min(32))
        .unwrap_or(u64::MAX)
        .min(FAST_LOOP_MAX_PAUSE_MS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::offset::LogOffset;

    const AT: Offset = Offset::Log(LogOffset::new(5, 0));

    fn burst(g: &mut FastLoopGuard, start: u64, offset: Offset) -> Vec<Verdict> {
        (0..5).map(|i| g.record(start + i * 10, offset)).collect()
    }

    #[test]
    fn five_requests_in_the_window_are_a_loop() {
        let mut g = FastLoopGuard::default();
        let v = burst(&mut g, 0, AT);
        assert_eq!(v[..4], [Verdict::Proceed; 4]);
        assert_eq!(v[4], Verdict::Reset);
        assert_eq!(g.detections(), 1);
    }

    #[test]
    fn spread_out_or_advancing_requests_are_not() {
        let mut g = FastLoopGuard::default();
        for i in 0..20 {
            assert_eq!(g.record(i * 200, AT), Verdict::Proceed);
        }
        for i in 0..20 {
            let at = Offset::Log(LogOffset::new(6, i));
            assert_eq!(g.record(10_000 + i, at), Verdict::Proceed);
        }
        assert_eq!(g.detections(), 0);
    }

    #[test]
    fn repeated_detections_pause_then_fail() {
        let mut g = FastLoopGuard::default();
        let verdicts: Vec<Verdict> = (0..5).map(|k| burst(&mut g, k * 10_000, AT)[4]).collect();
        assert_eq!(
            verdicts,
            [
                Verdict::Reset,
                Verdict::Pause(200),
                Verdict::Pause(400),
                Verdict::Pause(800),
                Verdict::Fail
            ]
        );
    }

    #[test]
    fn up_to_date_clears_detections() {
        let mut g = FastLoopGuard::default();
        assert_eq!(burst(&mut g, 0, AT)[4], Verdict::Reset);
        g.clear_detections();
        assert_eq!(burst(&mut g, 10_000, AT)[4], Verdict::Reset);
    }

    #[test]
    fn pause_ceiling_caps_at_five_seconds() {
        assert_eq!(pause_ceiling(0), 100);
        assert_eq!(pause_ceiling(5), 3200);
        assert_eq!(pause_ceiling(6), 5000);
        assert_eq!(pause_ceiling(200), 5000);
    }
}
