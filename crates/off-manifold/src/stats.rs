//! Percentiles against a calibration distribution, AUROC, distribution summaries.

use serde::Serialize;

/// Finite values of `x`, sorted ascending.
pub fn sorted_finite(x: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = x.iter().copied().filter(|v| !v.is_nan()).collect();
    v.sort_by(f64::total_cmp);
    v
}

/// Mid-rank percentile of `x` in the sorted calibration values: (#below + ½ #equal) / n. 0.5 is a typical value,
/// 1.0 lies above every calibration value. NaN when `x` is NaN or the calibration is empty.
pub fn percentile_of(sorted: &[f64], x: f64) -> f64 {
    if x.is_nan() || sorted.is_empty() {
        return f64::NAN;
    }
    let below = sorted.partition_point(|&c| c < x);
    let not_above = sorted.partition_point(|&c| c <= x);
    (below as f64 + 0.5 * (not_above - below) as f64) / sorted.len() as f64
}

/// Area under the ROC curve of a score that should be larger for `positives` than for `negatives`:
/// P(pos > neg) + ½ P(pos = neg) (Mann–Whitney U / (n₊ n₋)). NaN values are ignored; `None` if a side is empty.
pub fn auroc(positives: &[f64], negatives: &[f64]) -> Option<f64> {
    let neg = sorted_finite(negatives);
    let pos: Vec<f64> = positives.iter().copied().filter(|v| !v.is_nan()).collect();
    if neg.is_empty() || pos.is_empty() {
        return None;
    }
    let sum: f64 = pos.iter().map(|&p| percentile_of(&neg, p)).sum();
    Some(sum / pos.len() as f64)
}

/// Summary of a distribution (NaN values are counted separately and left out).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Distribution {
    /// Number of non-NaN values.
    pub n: usize,
    pub n_nan: usize,
    pub median: f64,
    pub q25: f64,
    pub q75: f64,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
}

impl Distribution {
    pub fn of(x: &[f64]) -> Distribution {
        let v = sorted_finite(x);
        let q = |p: f64| intrinsic_dim::stats::quantile(&v, p);
        Distribution {
            n: v.len(),
            n_nan: x.len() - v.len(),
            median: q(0.5),
            q25: q(0.25),
            q75: q(0.75),
            mean: intrinsic_dim::stats::mean(&v),
            min: v.first().copied().unwrap_or(f64::NAN),
            max: v.last().copied().unwrap_or(f64::NAN),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_mid_rank() {
        let cal = sorted_finite(&[3.0, 1.0, 2.0, 4.0, f64::NAN]);
        assert_eq!(cal, vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(percentile_of(&cal, 0.5), 0.0);
        assert_eq!(percentile_of(&cal, 10.0), 1.0);
        assert_eq!(percentile_of(&cal, 2.5), 0.5);
        assert_eq!(percentile_of(&cal, 2.0), 0.375);
        assert!(percentile_of(&cal, f64::NAN).is_nan());
        assert!(percentile_of(&[], 1.0).is_nan());
    }

    #[test]
    fn auroc_known_values() {
        assert_eq!(auroc(&[3.0, 4.0], &[1.0, 2.0]), Some(1.0));
        assert_eq!(auroc(&[1.0, 2.0], &[3.0, 4.0]), Some(0.0));
        assert_eq!(auroc(&[1.0, 2.0], &[1.0, 2.0]), Some(0.5));
        // pos {1, 3} vs neg {2}: one pair above, one below.
        assert_eq!(auroc(&[1.0, 3.0], &[2.0]), Some(0.5));
        assert_eq!(auroc(&[], &[1.0]), None);
        // Brute-force check against the definition on a mixed sample with ties.
        let pos = [0.3, 0.9, 0.5, 0.5, 1.2, f64::NAN];
        let neg = [0.1, 0.5, 0.4, 0.8];
        let mut s = 0.0;
        for &p in &pos[..5] {
            for &n in &neg {
                s += if p > n {
                    1.0
                } else if p == n {
                    0.5
                } else {
                    0.0
                };
            }
        }
        assert!((auroc(&pos, &neg).unwrap() - s / 20.0).abs() < 1e-15);
    }

    #[test]
    fn distribution_summary() {
        let d = Distribution::of(&[4.0, 1.0, 3.0, 2.0, f64::NAN]);
        assert_eq!((d.n, d.n_nan), (4, 1));
        assert_eq!(d.median, 2.5);
        assert_eq!(d.q25, 1.75);
        assert_eq!((d.min, d.max, d.mean), (1.0, 4.0, 2.5));
    }
}
