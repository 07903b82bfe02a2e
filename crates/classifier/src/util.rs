//! Small shared helpers: seeded per-item RNGs and 8-bit quantisation.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seeds::splitmix64 as mix;

/// An RNG for item `(a, b)` of a computation seeded with `seed`: independent of which thread runs it.
pub(crate) fn item_rng(seed: u64, stream: u64, a: u64, b: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix(mix(mix(seed) ^ stream) ^ a.wrapping_mul(0xA24B_AED4_963E_E407)) ^ b)
}

/// Stream tags so that different uses of one seed never share random numbers.
pub(crate) mod stream {
    pub const INIT: u64 = 1;
    pub const SPLIT: u64 = 2;
    pub const SHUFFLE: u64 = 3;
    pub const DIRECT: u64 = 4;
    pub const CPPN: u64 = 5;
    pub const GRADIENT: u64 = 6;
    pub const RANDOM_L2: u64 = 8;
    pub const RANDOM_LINF: u64 = 9;
}
