//! Seeded random streams: the one place where imanifold turns a user's seed into random numbers.
//!
//! Every random choice in the toolkit comes from a ChaCha8 stream that depends only on the seed and on the item it
//! serves (an image index, a bootstrap replicate, a calibration level), never on the thread that runs it — which
//! is why results do not depend on `--threads`. Derived seeds for separate uses of one seed come from the
//! SplitMix64 finaliser (Steele, Lea and Flood 2014), which spreads nearby inputs over the whole 64-bit range.

use rand::SeedableRng;
pub use rand_chacha::ChaCha8Rng;

/// The SplitMix64 golden-ratio increment.
pub const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function (a bijection of u64 with full avalanche).
#[inline]
pub fn finalize(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One SplitMix64 step from state `x`: `finalize(x + GOLDEN)`.
#[inline]
pub fn splitmix64(x: u64) -> u64 {
    finalize(x.wrapping_add(GOLDEN))
}

/// A seed for one use (`tag`) of `seed`: different tags, or different seeds, give unrelated values.
#[inline]
pub fn sub_seed(seed: u64, tag: u64) -> u64 {
    finalize(seed ^ tag.wrapping_mul(GOLDEN).wrapping_add(0xD1B5_4A32_D192_ED03))
}

/// The ChaCha8 stream `stream` of `seed`: independent streams for independent items of one computation.
pub fn stream(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn splitmix_matches_the_reference_sequence() {
        // The first outputs of SplitMix64 seeded with 0 (Vigna's reference implementation): state advances by
        // GOLDEN, so output i is splitmix64(i * GOLDEN).
        assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
        assert_eq!(splitmix64(GOLDEN), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn sub_seeds_differ_and_streams_are_reproducible() {
        assert_ne!(sub_seed(0, 1), sub_seed(0, 2));
        assert_ne!(sub_seed(0, 1), sub_seed(1, 1));
        let a: u64 = stream(5, 3).random();
        let b: u64 = stream(5, 3).random();
        let c: u64 = stream(5, 4).random();
        let d: u64 = stream(6, 3).random();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }
}
