//! Injected randomness: the [`RandomSource`] trait the machine draws from (backoff jitter,
//! cache busters) and [`SplitMix64`], a small seeded deterministic implementation.
//!
//! The core never asks the OS for randomness. The browser shell seeds a [`SplitMix64`] from
//! `crypto.getRandomValues` (or passes its own source); tests seed it with a constant so every
//! run draws the same sequence.

/// A source of uniform random numbers.
pub trait RandomSource {
    /// A uniform value in `[0, 1)`. Values outside that range (or NaN) are tolerated by the
    /// machine: they are clamped into it.
    fn next_f64(&mut self) -> f64;
}

/// SplitMix64 (Steele, Lea, Flood 2014): a 64-bit state, full period, good enough for jitter
/// and cache busters. Not cryptographic.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator seeded with `seed` (any value, including 0).
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl RandomSource for SplitMix64 {
    fn next_f64(&mut self) -> f64 {
        // The top 53 bits give every representable multiple of 2^-53 in [0, 1).
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A draw clamped into `[0, 1)` whatever the source returned.
pub(crate) fn unit(rng: &mut dyn RandomSource) -> f64 {
    let r = rng.next_f64();
    if r.is_finite() && r > 0.0 {
        r.min(1.0 - f64::EPSILON)
    } else {
        0.0
    }
}

/// Full jitter: a uniform whole number of milliseconds in `[0, cap_ms)` (0 when `cap_ms` is 0).
pub(crate) fn jitter(rng: &mut dyn RandomSource, cap_ms: u64) -> u64 {
    let wait = (unit(rng) * cap_ms as f64).floor() as u64;
    wait.min(cap_ms.saturating_sub(1))
}

/// A fresh `cache-buster` value: 13 lowercase hex digits (52 random bits).
pub(crate) fn cache_buster(rng: &mut dyn RandomSource) -> String {
    let bits = (unit(rng) * (1u64 << 52) as f64) as u64;
    format!("{bits:013x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(f64);
    impl RandomSource for Fixed {
        fn next_f64(&mut self) -> f64 {
            self.0
        }
    }

    #[test]
    fn splitmix_is_deterministic_and_in_range() {
        let mut a = SplitMix64::new(42);
        let mut b = SplitMix64::new(42);
        for _ in 0..10_000 {
            let x = a.next_f64();
            assert_eq!(x, b.next_f64());
            assert!((0.0..1.0).contains(&x), "{x}");
        }
        let mut c = SplitMix64::new(43);
        assert_ne!(SplitMix64::new(42).next_u64(), c.next_u64());
    }

    #[test]
    fn splitmix_known_first_value() {
        // Reference output of SplitMix64 seeded with 0.
        assert_eq!(SplitMix64::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn jitter_stays_below_cap_even_for_bad_sources() {
        for r in [0.0, 0.5, 0.999_999, 1.0, 7.0, -3.0, f64::NAN, f64::INFINITY] {
            let w = jitter(&mut Fixed(r), 1000);
            assert!(w < 1000, "{r} -> {w}");
        }
        assert_eq!(jitter(&mut Fixed(0.5), 1000), 500);
        assert_eq!(jitter(&mut Fixed(0.5), 0), 0);
    }

    #[test]
    fn cache_busters_differ_and_are_hex() {
        let mut rng = SplitMix64::new(7);
        let a = cache_buster(&mut rng);
        let b = cache_buster(&mut rng);
        assert_ne!(a, b);
        assert_eq!(a.len(), 13);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
