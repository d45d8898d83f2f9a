//! A fast, non-cryptographic hasher for the core's in-memory maps (rows by key, interned
//! column names, schema columns).
//!
//! The standard library's SipHash showed up as the biggest single cost of ingesting rows in
//! the browser profile. This is the multiply-rotate word hash of rustc's `FxHasher`, eight bytes
//! at a time. It is not resistant to deliberately colliding keys; the keys come from the sync
//! server the app chose to trust, which could as well exhaust the client by sending more rows.

use std::hash::{BuildHasherDefault, Hasher};

/// `IndexMap`/`HashMap`/`HashSet` hasher parameter.
pub type FxBuildHasher = BuildHasherDefault<FxHasher>;

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// The hasher state.
#[derive(Debug, Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    /// The word hash leaves the low bits depending only on the low bytes of each word, and
    /// hash tables index by the low bits: keys that differ late (`.../"12345"`) would collide.
    /// A murmur3 finalizer spreads every bit over the whole result.
    #[inline]
    fn finish(&self) -> u64 {
        let mut h = self.hash;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::{BuildHasher, Hash};

    use super::*;

    fn h<T: Hash>(t: T) -> u64 {
        FxBuildHasher::default().hash_one(t)
    }

    #[test]
    fn distinguishes_similar_keys() {
        let keys: Vec<String> = (0..10_000)
            .map(|i| format!("\"public\".\"todos\"/\"{i}\""))
            .collect();
        let hashes: HashSet<u64> = keys.iter().map(h).collect();
        assert_eq!(hashes.len(), keys.len());
        // Tables index by the low bits: they must spread as well as the whole hash.
        let low: HashSet<u64> = keys.iter().map(|k| h(k) & 0xffff).collect();
        assert!(low.len() > 8_000, "only {} distinct low 16-bit values", low.len());
        let high: HashSet<u64> = keys.iter().map(|k| h(k) >> 57).collect();
        assert_eq!(high.len(), 128);
        assert_ne!(h("a"), h("a\0"));
        assert_ne!(h(""), h("\0"));
        assert_eq!(h("same"), h("same"));
    }
}
