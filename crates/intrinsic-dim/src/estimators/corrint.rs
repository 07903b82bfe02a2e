//! Correlation dimension (Grassberger–Procaccia; skdim `CorrInt`): slope of log C(r) between r1 = median k1-NN
//! distance and r2 = median k2-NN distance, C(r) the fraction of ordered pairs closer than r.
//!
//! The pair count is a range count, not a neighbour search: every pair is visited once by the kNN engine's blocked
//! f32 GEMM (‖q‖² + ‖r‖² − 2 q·r on centred rows) and pairs whose approximate squared distance lies within the rigorous
//! rounding bound of a threshold are recomputed exactly, so the counts equal the exact O(n²d) counts.

use ndarray::ArrayView2;
use serde_json::{json, Value};

use super::Params;
use crate::{stats, DimError, Estimate, Estimator, FitContext};

#[derive(Debug, Clone)]
pub struct CorrInt {
    pub k1: usize,
    pub k2: usize,
}

impl CorrInt {
    pub(crate) fn from_params(p: &Params) -> Result<Self, DimError> {
        let k1 = p.usize("k1", 10)?;
        let k2 = p.usize("k2", 20)?;
        if p.bool("DM", false)? {
            return Err(p.invalid("DM", true, "precomputed distance matrices are not an input of imanifold dim"));
        }
        if !(1 <= k1 && k1 < k2) {
            return Err(p.invalid("k1/k2", format!("{k1}/{k2}"), "need 1 <= k1 < k2"));
        }
        Ok(CorrInt { k1, k2 })
    }
}

impl Estimator for CorrInt {
    fn name(&self) -> &'static str {
        "corrint"
    }
    fn params(&self) -> Value {
        json!({"k1": self.k1, "k2": self.k2, "DM": false})
    }
    fn needs_k(&self) -> Option<usize> {
        Some(self.k2)
    }
    fn fit(&self, ctx: &FitContext) -> Result<Estimate, DimError> {
        let (_, d) = ctx.neighbors("corrint", self.k2)?;
        let col = |k: usize| d.column(k - 1).iter().map(|&x| x as f64).collect::<Vec<_>>();
        let r1 = stats::median(&col(self.k1));
        let r2 = stats::median(&col(self.k2));
        let counts = count_pairs_below(ctx.data("corrint")?, &[r1, r2]);
        let n2 = (ctx.n() as f64).powi(2);
        let (c1, c2) = (counts[0] as f64 / n2, counts[1] as f64 / n2);
        let dim = (c2.ln() - c1.ln()) / (r2 / r1).ln();
        Ok(Estimate::new(dim)
            .with_extra(json!({"r1": r1, "r2": r2, "pairs_below_r1": counts[0], "pairs_below_r2": counts[1]})))
    }
    fn at_scale(&self, k: usize) -> Option<Box<dyn Estimator>> {
        (k >= 2).then(|| Box::new(CorrInt { k1: k.div_ceil(2).max(1), k2: k }) as Box<dyn Estimator>)
    }
}

/// Number of ordered pairs (i, j), i ≠ j, with Euclidean distance strictly below each radius. Exact: the kNN
/// engine's blocked pairwise pass ([`knn::PairwiseBlocks`]) gives every squared distance up to a rigorous rounding
/// bound, and pairs within that bound of a threshold are recomputed exactly.
pub fn count_pairs_below(data: ArrayView2<f32>, radii: &[f64]) -> Vec<u64> {
    let pairs = knn::PairwiseBlocks::new(data);
    let r2: Vec<f64> = radii.iter().map(|r| r * r).collect();
    let per_block = pairs.fold(
        || vec![0u64; r2.len()],
        |counts, qi, r0, approx| {
            for (jj, &a) in approx.iter().enumerate() {
                let j = r0 + jj;
                if j == qi {
                    continue;
                }
                let err = pairs.error_bound(qi, j);
                let mut exact: Option<f64> = None;
                for (c, &t) in counts.iter_mut().zip(&r2) {
                    let below = if a < t - err {
                        true
                    } else if a >= t + err {
                        false
                    } else {
                        exact.get_or_insert_with(|| pairs.exact_d2(qi, j)).sqrt() < t.sqrt()
                    };
                    *c += below as u64;
                }
            }
        },
    );
    let mut total = vec![0u64; radii.len()];
    for c in per_block {
        total.iter_mut().zip(c).for_each(|(a, b)| *a += b);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_counts_are_exact() {
        let x = benchmark_manifolds::hypercube(300, 5, 3).mapv(|v| v as f32);
        let radii = [0.3, 0.5, 0.8];
        let got = count_pairs_below(x.view(), &radii);
        let mut want = vec![0u64; 3];
        for i in 0..300 {
            for j in 0..300 {
                if i != j {
                    let (a, b) = (x.row(i), x.row(j));
                    let dd = a.iter().zip(&b).map(|(&p, &q)| (p as f64 - q as f64).powi(2)).sum::<f64>().sqrt();
                    for (w, r) in want.iter_mut().zip(radii) {
                        *w += (dd < r) as u64;
                    }
                }
            }
        }
        assert_eq!(got, want);
    }
}
