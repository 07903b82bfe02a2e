//! Correlation dimension (Grassberger–Procaccia; skdim `CorrInt`): slope of log C(r) between r1 = median k1-NN
//! distance and r2 = median k2-NN distance, C(r) the fraction of ordered pairs closer than r.
//!
//! The pair count is a range count, not a neighbour search: every pair is visited once by a blocked f32 GEMM
//! (‖q‖² + ‖r‖² − 2 q·r on centred rows) and pairs whose approximate squared distance lies within the rigorous
//! rounding bound of a threshold are recomputed exactly, so the counts equal the exact O(n²d) counts.

use faer::{Accum, MatMut, MatRef, Par};
use ndarray::ArrayView2;
use rayon::prelude::*;
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
        let counts = count_pairs_below(ctx.data, &[r1, r2]);
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

/// Number of ordered pairs (i, j), i ≠ j, with Euclidean distance strictly below each radius. Exact.
pub fn count_pairs_below(data: ArrayView2<f32>, radii: &[f64]) -> Vec<u64> {
    let (n, d) = data.dim();
    let raw: Vec<f32> = data.iter().copied().collect();
    let mut mean = vec![0.0f64; d];
    for r in raw.chunks_exact(d) {
        for (m, &x) in mean.iter_mut().zip(r) {
            *m += x as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut cen = vec![0.0f32; n * d];
    let mut norms = vec![0.0f64; n];
    for i in 0..n {
        let mut s = 0.0;
        for j in 0..d {
            let c = (raw[i * d + j] as f64 - mean[j]) as f32;
            cen[i * d + j] = c;
            s += c as f64 * c as f64;
        }
        norms[i] = s;
    }
    let r2: Vec<f64> = radii.iter().map(|r| r * r).collect();
    let err_factor = (d as f64 + 8.0) * f32::EPSILON as f64;
    let bq = 256usize;
    let br = 2048usize.min(n);
    let blocks: Vec<(usize, usize)> = (0..n).step_by(bq).map(|s| (s, (s + bq).min(n))).collect();
    let per_block: Vec<Vec<u64>> = blocks
        .par_iter()
        .map(|&(q0, q1)| {
            let m = q1 - q0;
            let qb = MatRef::from_row_major_slice(&cen[q0 * d..q1 * d], m, d);
            let mut buf = vec![0.0f32; br * m];
            let mut counts = vec![0u64; r2.len()];
            for r0 in (0..n).step_by(br) {
                let r1 = (r0 + br).min(n);
                let w = r1 - r0;
                let rb = MatRef::from_row_major_slice(&cen[r0 * d..r1 * d], w, d);
                let g = MatMut::from_column_major_slice_mut(&mut buf[..w * m], w, m);
                faer::linalg::matmul::matmul(g, Accum::Replace, rb, qb.transpose(), 1.0f32, Par::Seq);
                for i in 0..m {
                    let qi = q0 + i;
                    let qn = norms[qi];
                    let col = &buf[i * w..(i + 1) * w];
                    for (jj, &gv) in col.iter().enumerate() {
                        let j = r0 + jj;
                        if j == qi {
                            continue;
                        }
                        let approx = qn + norms[j] - 2.0 * gv as f64;
                        let err = err_factor * (qn.sqrt() + norms[j].sqrt()).powi(2);
                        let mut exact: Option<f64> = None;
                        for (c, &t) in counts.iter_mut().zip(&r2) {
                            let below = if approx < t - err {
                                true
                            } else if approx >= t + err {
                                false
                            } else {
                                let e = *exact.get_or_insert_with(|| {
                                    exact_d2(&raw[qi * d..(qi + 1) * d], &raw[j * d..(j + 1) * d])
                                });
                                e.sqrt() < t.sqrt()
                            };
                            *c += below as u64;
                        }
                    }
                }
            }
            counts
        })
        .collect();
    let mut total = vec![0u64; radii.len()];
    for c in per_block {
        total.iter_mut().zip(c).for_each(|(a, b)| *a += b);
    }
    total
}

fn exact_d2(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| (x as f64 - y as f64).powi(2)).sum()
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
                    let dd = exact_d2(x.row(i).as_slice().unwrap(), x.row(j).as_slice().unwrap()).sqrt();
                    for (w, r) in want.iter_mut().zip(radii) {
                        *w += (dd < r) as u64;
                    }
                }
            }
        }
        assert_eq!(got, want);
    }
}
