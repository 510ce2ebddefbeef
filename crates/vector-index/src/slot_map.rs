//! The map from external id to slot, with a hash built for `u64` keys.
//!
//! std's default SipHash costs about as much as a short distance computation, and the exact scan
//! and filtered searches look up every allowed id. Ids are chosen by Trellis (chunk ids), not by
//! whoever sends a request, so a fast mixing function is enough; SplitMix64's finalizer spreads
//! every input bit over the whole word, which the hash table needs because it takes the bucket
//! from the low bits and a tag from the high bits.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

pub(crate) type SlotMap = HashMap<u64, u32, BuildHasherDefault<IdHasher>>;

/// A hasher for one `u64` key.
#[derive(Default)]
pub(crate) struct IdHasher {
    hash: u64,
}

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.hash
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached for keys other than `u64`; fold the bytes in and mix as for a `u64`.
        for byte in bytes {
            self.write_u64(self.hash.rotate_left(8) ^ u64::from(*byte));
        }
    }

    #[inline]
    fn write_u64(&mut self, value: u64) {
        let mut z = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        self.hash = z ^ (z >> 31);
    }
}

pub(crate) fn with_capacity(capacity: usize) -> SlotMap {
    SlotMap::with_capacity_and_hasher(capacity, BuildHasherDefault::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_ids_spread_over_low_and_high_bits() {
        let hash = |id: u64| {
            let mut hasher = IdHasher::default();
            hasher.write_u64(id);
            hasher.finish()
        };
        let low: std::collections::HashSet<u64> = (0..1024).map(|id| hash(id) & 1023).collect();
        let high: std::collections::HashSet<u64> = (0..1024).map(|id| hash(id) >> 57).collect();
        assert!(low.len() > 600, "low bits collide: {}", low.len());
        assert_eq!(high.len(), 128);
        let mut map = with_capacity(4);
        map.insert(7, 1);
        assert_eq!(map.get(&7), Some(&1));
    }
}
