//! Query scan kernels: the hot loops of funnels, retention, paths, trends aggregates and
//! calendar bucketing.
//!
//! Every kernel takes plain columnar slices (one entry per event row) that the caller has
//! already filtered, ordered and resolved to dense `person` ids (identity stitching done).
//! The kernels do one pass over the rows where possible, allocate nothing per row and index
//! `Vec`s by dense codes instead of hashing in the hot loop. Each module states the rules it
//! implements (README "Semantics" summarises them).

pub mod aggregate;
pub mod bitsets;
pub mod funnel;
pub mod paths;
pub mod retention;
pub mod timebucket;

pub use aggregate::{aggregate, Measure};
pub use funnel::{funnel, FunnelInput, FunnelParams, NO_GROUP};
pub use paths::{paths, Direction, PathInput};
pub use retention::{retention, retention_by_person, RetentionInput};
pub use timebucket::{
    bucket_start, bucket_starts, parse_tz, period_index, period_indices, period_start, Unit,
};

/// The hasher of the engine's maps: keys are its own dense dictionary codes and short code
/// slices, never attacker-chosen strings, so a fast non-cryptographic hash (rustc-hash's FxHash,
/// made for hashbrown's use of the high bits) is enough.
pub(crate) type FxBuild = rustc_hash::FxBuildHasher;
pub(crate) type FxHashMap<K, V> = std::collections::HashMap<K, V, FxBuild>;

/// End (exclusive) of the run of equal values starting at `i` in a sorted column.
#[inline]
pub(crate) fn run_end<T: PartialEq + Copy>(col: &[T], i: usize) -> usize {
    let v = col[i];
    let mut j = i + 1;
    while j < col.len() && col[j] == v {
        j += 1;
    }
    j
}

#[cfg(test)]
pub(crate) mod testutil {
    /// xorshift64*: deterministic pseudo-random inputs for the brute-force comparisons.
    pub struct Rng(u64);

    impl Rng {
        pub fn new(seed: u64) -> Rng {
            Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
        }
        pub fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        /// Uniform-ish in `0..n` (n > 0).
        pub fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        pub fn range(&mut self, lo: i64, hi_incl: i64) -> i64 {
            lo + (self.next() % ((hi_incl - lo + 1) as u64)) as i64
        }
        pub fn chance(&mut self, num: u64, den: u64) -> bool {
            self.below(den) < num
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn fx_hash_distinguishes_slices_and_spreads_low_bits() {
        let b = FxBuild::default();
        let h = |s: &[u32]| b.hash_one(s);
        assert_ne!(h(&[1, 2]), h(&[2, 1]));
        assert_ne!(h(&[1]), h(&[1, 0]));
        assert_ne!(h(&[]), h(&[0]));
        // Keys differing only in high bits still land in different low buckets.
        let mut low = std::collections::HashSet::new();
        for k in 0..64u64 {
            low.insert(b.hash_one(k << 32) & 63);
        }
        assert!(low.len() > 32);
    }

    #[test]
    fn run_end_finds_runs() {
        let c = [1, 1, 2, 3, 3, 3];
        assert_eq!(run_end(&c, 0), 2);
        assert_eq!(run_end(&c, 2), 3);
        assert_eq!(run_end(&c, 3), 6);
    }
}
