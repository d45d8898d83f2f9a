//! Exponential backoff with full jitter (ref §6.3), as the official client does it.
//!
//! Each retry waits `max(retry_after, random(0, delay) capped at max_delay)`, then the delay grows
//! to `min(delay * multiplier, max_delay)`. A `retry-after` above `max_delay` still wins: the server
//! knows best (the classifier already caps it at one hour). A success resets the delay.

use super::rng::{jitter, RandomSource};

/// Backoff timings (defaults match `BackoffDefaults` of the official client).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffOptions {
    /// First jitter ceiling, in ms (default 1000).
    pub initial_delay_ms: u64,
    /// Largest jitter ceiling, in ms (default 32000).
    pub max_delay_ms: u64,
    /// Growth factor of the ceiling after each retry (default 2, must be finite and >= 1).
    pub multiplier: f64,
    /// Retries before giving up; `None` = never give up (default).
    pub max_retries: Option<u32>,
}

impl Default for BackoffOptions {
    fn default() -> Self {
        BackoffOptions {
            initial_delay_ms: 1000,
            max_delay_ms: 32_000,
            multiplier: 2.0,
            max_retries: None,
        }
    }
}

/// The state of one backoff sequence: the current ceiling and how many retries it has served.
#[derive(Debug, Clone)]
pub struct Backoff {
    opts: BackoffOptions,
    delay_ms: u64,
    retries: u32,
}

impl Backoff {
    /// A fresh sequence (ceiling = `initial_delay_ms`).
    pub fn new(opts: BackoffOptions) -> Self {
        Backoff {
            delay_ms: opts.initial_delay_ms.min(opts.max_delay_ms),
            opts,
            retries: 0,
        }
    }

    /// The wait before the next retry, or `None` when `max_retries` are used up. Advances the
    /// sequence (the ceiling grows, the retry count goes up).
    pub fn next_wait(&mut self, retry_after_ms: Option<u64>, rng: &mut dyn RandomSource) -> Option<u64> {
        if self.opts.max_retries.is_some_and(|max| self.retries >= max) {
            return None;
        }
        self.retries = self.retries.saturating_add(1);
        let jittered = jitter(rng, self.delay_ms).min(self.opts.max_delay_ms);
        let wait = jittered.max(retry_after_ms.unwrap_or(0));
        let grown = self.delay_ms as f64 * self.opts.multiplier;
        self.delay_ms = if grown.is_finite() && grown < self.opts.max_delay_ms as f64 {
            (grown as u64).max(self.delay_ms)
        } else {
            self.opts.max_delay_ms
        };
        Some(wait)
    }

    /// Back to the first ceiling with no retries counted (after a success).
    pub fn reset(&mut self) {
        *self = Backoff::new(self.opts);
    }

    /// The jitter ceiling the next retry will draw under.
    pub fn current_delay_ms(&self) -> u64 {
        self.delay_ms
    }

    /// Retries served since the last reset.
    pub fn retries(&self) -> u32 {
        self.retries
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::rng::SplitMix64;

    #[test]
    fn ceiling_doubles_then_caps() {
        let mut b = Backoff::new(BackoffOptions::default());
        let mut rng = SplitMix64::new(1);
        let mut seen = vec![b.current_delay_ms()];
        for _ in 0..8 {
            b.next_wait(None, &mut rng);
            seen.push(b.current_delay_ms());
        }
        assert_eq!(seen, [1000, 2000, 4000, 8000, 16000, 32000, 32000, 32000, 32000]);
        assert_eq!(b.retries(), 8);
        b.reset();
        assert_eq!((b.current_delay_ms(), b.retries()), (1000, 0));
    }

    #[test]
    fn waits_stay_under_the_current_ceiling() {
        for seed in 0..200 {
            let mut rng = SplitMix64::new(seed);
            let mut b = Backoff::new(BackoffOptions::default());
            for _ in 0..12 {
                let ceiling = b.current_delay_ms();
                let w = b.next_wait(None, &mut rng).unwrap_or(u64::MAX);
                assert!(w < ceiling && w <= 32_000, "seed {seed}: {w} >= {ceiling}");
            }
        }
    }

    #[test]
    fn retry_after_is_a_floor_even_above_max() {
        let mut rng = SplitMix64::new(3);
        let mut b = Backoff::new(BackoffOptions::default());
        for _ in 0..50 {
            let w = b.next_wait(Some(5000), &mut rng).unwrap_or(0);
            assert!((5000..=32_000).contains(&w), "{w}");
        }
        assert_eq!(b.next_wait(Some(3_600_000), &mut rng), Some(3_600_000));
    }

    #[test]
    fn max_retries_ends_the_sequence() {
        let opts = BackoffOptions {
            max_retries: Some(2),
            ..BackoffOptions::default()
        };
        let mut b = Backoff::new(opts);
        let mut rng = SplitMix64::new(9);
        assert!(b.next_wait(None, &mut rng).is_some());
        assert!(b.next_wait(None, &mut rng).is_some());
        assert_eq!(b.next_wait(None, &mut rng), None);
        b.reset();
        assert!(b.next_wait(None, &mut rng).is_some());
    }

    #[test]
    fn odd_multipliers_never_shrink_or_overflow() {
        let opts = BackoffOptions {
            initial_delay_ms: 10,
            max_delay_ms: u64::MAX,
            multiplier: 1e300,
            max_retries: None,
        };
        let mut b = Backoff::new(opts);
        let mut rng = SplitMix64::new(0);
        b.next_wait(None, &mut rng);
        assert_eq!(b.current_delay_ms(), u64::MAX);
        b.next_wait(None, &mut rng);
        assert_eq!(b.current_delay_ms(), u64::MAX);
    }
}
