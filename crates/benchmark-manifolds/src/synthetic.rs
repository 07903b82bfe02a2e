//! Synthetic f32 data for timing benchmarks (`imanifold bench`): a power-law spectrum, isotropic noise, points
//! near a low-dimensional subspace. Seeded and deterministic like every generator of this crate.

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `n` points in `d` dimensions with a power-law spectrum: column `j` is uniform in ±(j+1)^-`alpha` (image
/// collections decay steeply; `alpha` = 0 is [`isotropic_noise`]).
pub fn power_law_spectrum(n: usize, d: usize, alpha: f64, seed: u64) -> Array2<f32> {
    let scales: Vec<f32> = (0..d).map(|j| ((j + 1) as f64).powf(-alpha) as f32).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_fn((n, d), |(_, j)| (rng.random::<f32>() * 2.0 - 1.0) * scales[j])
}

/// `n` points uniform in the cube [-1, 1]^`d`: no structure at all.
pub fn isotropic_noise(n: usize, d: usize, seed: u64) -> Array2<f32> {
    power_law_spectrum(n, d, 0.0, seed)
}

/// `n` points uniform in a random `m`-dimensional linear subspace of R^`d` plus near-Gaussian noise of standard
/// deviation `noise`.
pub fn near_subspace(n: usize, d: usize, m: usize, noise: f32, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let basis = Array2::from_shape_fn((m, d), |_| rng.random::<f32>() - 0.5);
    let latent = Array2::from_shape_fn((n, m), |_| rng.random::<f32>());
    let mut x = latent.dot(&basis);
    // Sum of 4 uniforms: close to Gaussian, cheap.
    x.mapv_inplace(|v| v + noise * ((0..4).map(|_| rng.random::<f32>()).sum::<f32>() - 2.0) * 1.732);
    x
}

/// The synthetic data sets of a timing benchmark, by name (`decay`, `subspace`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchData {
    /// [`power_law_spectrum`] with the given exponent (0 = [`isotropic_noise`]).
    Decay,
    /// [`near_subspace`]: uniform in an 8-D subspace plus noise of standard deviation 0.01.
    Subspace,
}

/// Dimension of [`BenchData::Subspace`]'s subspace.
pub const SUBSPACE_DIM: usize = 8;
/// Noise of [`BenchData::Subspace`].
pub const SUBSPACE_NOISE: f32 = 0.01;

impl BenchData {
    /// `n` × `d` points of this kind; `alpha` is the spectrum's exponent (used by [`BenchData::Decay`] only).
    pub fn generate(self, n: usize, d: usize, alpha: f64, seed: u64) -> Array2<f32> {
        match self {
            BenchData::Decay => power_law_spectrum(n, d, alpha, seed),
            BenchData::Subspace => near_subspace(n, d, SUBSPACE_DIM, SUBSPACE_NOISE, seed),
        }
    }
}

impl std::fmt::Display for BenchData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BenchData::Decay => "decay",
            BenchData::Subspace => "subspace",
        })
    }
}

impl std::str::FromStr for BenchData {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "decay" => Ok(BenchData::Decay),
            "subspace" => Ok(BenchData::Subspace),
            _ => Err(format!("unknown data '{s}' (decay, subspace)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_law_columns_shrink_and_stay_in_their_bounds() {
        let x = power_law_spectrum(2000, 16, 1.0, 3);
        for j in 0..16 {
            let bound = 1.0 / (j + 1) as f32;
            assert!(x.column(j).iter().all(|v| v.abs() <= bound));
        }
        let spread = |j: usize| x.column(j).iter().map(|v| v.abs()).fold(0.0f32, f32::max);
        assert!(spread(0) > 0.9 && spread(15) < 0.07, "{} {}", spread(0), spread(15));
        assert_eq!(isotropic_noise(50, 4, 1), power_law_spectrum(50, 4, 0.0, 1));
        assert_eq!(power_law_spectrum(10, 3, 1.0, 5), power_law_spectrum(10, 3, 1.0, 5));
        for kind in [BenchData::Decay, BenchData::Subspace] {
            assert_eq!(kind.to_string().parse::<BenchData>(), Ok(kind));
        }
        assert!("noise".parse::<BenchData>().is_err());
    }

    #[test]
    fn near_subspace_lies_in_the_subspace_up_to_the_noise() {
        // m = 1 without noise: every row is a multiple of one direction.
        let x = near_subspace(500, 12, 1, 0.0, 2);
        for row in x.rows() {
            for j in 1..12 {
                let (a, b) = (row[j] * x[[0, 0]], row[0] * x[[0, j]]);
                assert!((a - b).abs() <= 1e-5 * (1.0 + a.abs()), "{a} {b}");
            }
        }
        // The noise is added on top of the same subspace points, with the standard deviation asked for.
        let clean = near_subspace(4000, 12, 3, 0.0, 7);
        let noisy = near_subspace(4000, 12, 3, 0.01, 7);
        let diff = &noisy - &clean;
        let sd = (diff.iter().map(|v| v * v).sum::<f32>() / diff.len() as f32).sqrt();
        assert!((sd - 0.01).abs() < 0.001, "{sd}");
    }
}
