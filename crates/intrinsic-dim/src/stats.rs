//! Small statistics helpers with NumPy's conventions, and the seeded RNG streams.

/// ChaCha8 stream `stream` of `seed`: independent per item, so results do not depend on the thread count (the
/// reference manifolds' generator streams, shared).
pub use benchmark_manifolds::rng;

/// Mixes a seed with an item index (SplitMix64 finaliser).
pub use seeds::sub_seed as mix;

/// Arithmetic mean (NaN propagates; NaN for an empty slice). Pairwise-free sequential sum: deterministic.
pub fn mean(x: &[f64]) -> f64 {
    if x.is_empty() {
        return f64::NAN;
    }
    x.iter().sum::<f64>() / x.len() as f64
}

/// Sample standard deviation (ddof = 1).
pub fn std(x: &[f64]) -> f64 {
    let m = mean(x);
    (x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (x.len() as f64 - 1.0)).sqrt()
}

/// Median as `np.median` (mean of the two middle values for even length; NaN if any value is NaN).
pub fn median(x: &[f64]) -> f64 {
    quantile(x, 0.5)
}

/// Quantile with NumPy's default linear interpolation (`np.quantile(x, q)`); NaN if any value is NaN.
pub fn quantile(x: &[f64], q: f64) -> f64 {
    if x.is_empty() || x.iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    let mut v = x.to_vec();
    v.sort_by(f64::total_cmp);
    let pos = q * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    if lo == hi {
        v[lo]
    } else {
        v[lo] + (v[hi] - v[lo]) * frac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_conventions() {
        assert_eq!(median(&[3.0, 1.0, 2.0, 10.0]), 2.5);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        // np.percentile([1, 2, 3, 4, 5], 95) = 4.8
        assert!((quantile(&[5.0, 1.0, 4.0, 2.0, 3.0], 0.95) - 4.8).abs() < 1e-12);
        assert!(median(&[1.0, f64::NAN]).is_nan());
        assert!((std(&[1.0, 2.0, 3.0, 4.0]) - 1.290_994_448_735_805_6).abs() < 1e-12);
        assert_ne!(mix(1, 2), mix(2, 1));
    }
}
