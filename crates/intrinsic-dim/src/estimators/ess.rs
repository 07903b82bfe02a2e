//! Expected simplex skewness (Johnsson et al. 2015; skdim `ESS`), a local estimator: in each point's neighbourhood
//! (centred on its mean) the ratio of total simplex volume to the product of edge lengths over groups of d + 1
//! vectors is compared with its closed-form expectation for isotropic data in n dimensions, and n is interpolated.
//!
//! Per neighbourhood the k × k Gram matrix of the centred vectors is formed once; every group's volume and weight
//! come from its (d+1) × (d+1) principal minor. All C(k, d+1) groups are used when there are at most 5000 of them
//! (skdim's rule, e.g. k = 100, d = 1: 4950 groups, so ESS is deterministic there); otherwise 5000 groups are
//! sampled without replacement from a seeded per-point stream.

use ndarray::{Array2, Axis};
use rand::seq::index::sample;
use rayon::prelude::*;
use serde_json::{json, Value};

use super::Params;
use crate::special::ln_gamma;
use crate::{linalg, stats, Comb, DimError, Estimate, Estimator, FitContext};

const MAX_GROUPS: usize = 5000;

#[derive(Debug, Clone)]
pub struct Ess {
    pub n_neighbors: usize,
    pub ver_b: bool,
    pub d: usize,
    pub random_state: Option<u64>,
    pub comb: Comb,
}

impl Ess {
    pub(crate) fn from_params(p: &Params) -> Result<Self, DimError> {
        let ver = p.string("ver", "a")?;
        let ver_b = match ver.as_str() {
            "a" => false,
            "b" => true,
            _ => return Err(p.invalid("ver", ver, "Not a valid version: 'a' or 'b'")),
        };
        let d = p.usize("d", 1)?;
        if d < 1 || (ver_b && d != 1) {
            return Err(p.invalid("d", d, "d >= 1; for ver = 'b' only d = 1 is supported"));
        }
        Ok(Ess {
            n_neighbors: super::n_neighbors(p, 100)?,
            ver_b,
            d,
            random_state: p.opt_usize("random_state")?.map(|s| s as u64),
            comb: super::comb(p, "mean")?,
        })
    }

    /// Reference value ESS(n) for isotropic data in n dimensions (skdim `_essReference`).
    pub fn reference(&self, n: usize) -> f64 {
        let nf = n as f64;
        if self.ver_b {
            // Γ((n+2)/2) / Γ((n+1)/2) · 2 / (√π n)
            (ln_gamma((nf + 2.0) / 2.0) - ln_gamma((nf + 1.0) / 2.0)).exp() * 2.0 / (std::f64::consts::PI.sqrt() * nf)
        } else {
            let d = self.d as f64;
            if n <= self.d {
                return 0.0;
            }
            // (Γ(n/2)/Γ((n+1)/2))^d · Γ(n/2)/Γ((n−d)/2)
            let f1 = ln_gamma(nf / 2.0) - ln_gamma((nf + 1.0) / 2.0);
            let f2 = ln_gamma(nf / 2.0) - ln_gamma((nf - d) / 2.0);
            (d * f1 + f2).exp()
        }
    }

    /// Reference curve for n = 1..=4096 (monotone in n: increasing for 'a', decreasing for 'b').
    fn references(&self) -> Vec<f64> {
        (1..=4096).map(|n| self.reference(n)).collect()
    }

    /// Dimension from an ESS value by linear interpolation of the reference curve.
    pub fn invert(&self, essval: f64, refs: &[f64]) -> f64 {
        if essval.is_nan() {
            return f64::NAN;
        }
        // de_int = the largest n with ref(n) ≤ ess ('a', increasing) or ref(n) > ess ('b', decreasing).
        let count =
            if self.ver_b { refs.partition_point(|&r| r > essval) } else { refs.partition_point(|&r| r <= essval) };
        if count == 0 || count >= refs.len() {
            return f64::NAN;
        }
        let de_int = count; // 1-based n
        let (lo, hi) = (refs[de_int - 1], refs[de_int]);
        de_int as f64 + (essval - lo) / (hi - lo)
    }

    /// ESS value of one neighbourhood (rows: the neighbours).
    pub fn ess_value(&self, nb: &Array2<f64>, seed: u64) -> Result<f64, DimError> {
        let p = self.d + 1;
        let (k, dim) = nb.dim();
        if p > dim {
            return Ok(if self.ver_b { 1.0 } else { 0.0 });
        }
        let mut c = nb.clone();
        let mean = c.mean_axis(Axis(0)).expect("non-empty neighbourhood");
        c.rows_mut().into_iter().for_each(|mut r| r -= &mean);
        let c = c.as_standard_layout().into_owned();
        let cm = faer::MatRef::from_row_major_slice(c.as_slice().expect("standard"), k, dim);
        let g = linalg::abt_seq(cm, cm);
        let lens: Vec<f64> = (0..k).map(|i| g[(i, i)].max(0.0).sqrt()).collect();
        let (mut num, mut den) = (0.0f64, 0.0f64);
        let mut visit = |group: &[usize]| {
            den += group.iter().map(|&i| lens[i]).product::<f64>();
            if self.ver_b {
                num += g[(group[0], group[1])].abs();
            } else {
                let mut m = vec![0.0; p * p];
                for (a, &i) in group.iter().enumerate() {
                    for (b, &j) in group.iter().enumerate() {
                        m[a * p + b] = g[(i, j)];
                    }
                }
                num += det(&mut m, p).abs().sqrt();
            }
        };
        let total = binom(k, p);
        if total <= MAX_GROUPS as f64 {
            let mut group: Vec<usize> = (0..p).collect();
            loop {
                visit(&group);
                // next combination in lexicographic order
                let mut i = p;
                loop {
                    if i == 0 {
                        return Ok(num / den);
                    }
                    i -= 1;
                    if group[i] < k - p + i {
                        break;
                    }
                }
                group[i] += 1;
                for j in i + 1..p {
                    group[j] = group[j - 1] + 1;
                }
            }
        }
        // Sample MAX_GROUPS distinct combinations (ranks) without replacement.
        let mut rng = stats::rng(seed, 0);
        let ranks = sample(&mut rng, total.min(u32::MAX as f64) as usize, MAX_GROUPS).into_vec();
        for r in ranks {
            visit(&unrank(r, k, p));
        }
        Ok(num / den)
    }
}

fn binom(n: usize, k: usize) -> f64 {
    if k > n {
        return 0.0;
    }
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64).round()
}

/// The `r`-th k-combination of 0..n in lexicographic order.
fn unrank(mut r: usize, n: usize, k: usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(k);
    let mut start = 0;
    for slot in 0..k {
        for v in start..n {
            let c = binom(n - v - 1, k - slot - 1) as usize;
            if r < c {
                out.push(v);
                start = v + 1;
                break;
            }
            r -= c;
        }
    }
    out
}

/// Determinant by Gaussian elimination with partial pivoting (p ≤ a few).
fn det(m: &mut [f64], p: usize) -> f64 {
    let mut det = 1.0;
    for col in 0..p {
        let piv = (col..p).max_by(|&a, &b| m[a * p + col].abs().total_cmp(&m[b * p + col].abs())).unwrap_or(col);
        if m[piv * p + col] == 0.0 {
            return 0.0;
        }
        if piv != col {
            for j in 0..p {
                m.swap(piv * p + j, col * p + j);
            }
            det = -det;
        }
        let d = m[col * p + col];
        det *= d;
        for r in col + 1..p {
            let f = m[r * p + col] / d;
            for j in col..p {
                m[r * p + j] -= f * m[col * p + j];
            }
        }
    }
    det
}

impl Estimator for Ess {
    fn name(&self) -> &'static str {
        "ess"
    }
    fn params(&self) -> Value {
        json!({"n_neighbors": self.n_neighbors, "ver": if self.ver_b { "b" } else { "a" }, "d": self.d,
               "random_state": self.random_state, "comb": self.comb.as_str()})
    }
    fn needs_k(&self) -> Option<usize> {
        Some(self.n_neighbors)
    }
    fn comb(&self) -> Option<Comb> {
        Some(self.comb)
    }
    fn fit(&self, ctx: &FitContext) -> Result<Estimate, DimError> {
        let (idx, _) = ctx.neighbors("ess", self.n_neighbors)?;
        let refs = self.references();
        let seed = self.random_state.unwrap_or(ctx.seed);
        let data = ctx.data("ess")?;
        let vals: Result<Vec<(f64, f64)>, DimError> = (0..ctx.n())
            .into_par_iter()
            .map(|i| {
                let rows: Vec<usize> = idx.row(i).to_vec();
                let nb = data.select(Axis(0), &rows).mapv(|v| v as f64);
                let e = self.ess_value(&nb, stats::mix(seed, i as u64))?;
                Ok((self.invert(e, &refs), e))
            })
            .collect();
        let vals = vals?;
        let pw: Vec<f64> = vals.iter().map(|v| v.0).collect();
        let mean_ess = stats::mean(&vals.iter().map(|v| v.1).collect::<Vec<_>>());
        Ok(Estimate::new(self.comb.apply(&pw)).with_pointwise(pw).with_extra(json!({"mean_ess": mean_ess})))
    }
    fn at_scale(&self, k: usize) -> Option<Box<dyn Estimator>> {
        (k > self.d + 1).then(|| Box::new(Ess { n_neighbors: k, ..self.clone() }) as Box<dyn Estimator>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_match_skdim_closed_forms() {
        let a = Ess { n_neighbors: 100, ver_b: false, d: 1, random_state: None, comb: Comb::Mean };
        // ESS_a(n) for d = 1 is E|sin θ| of two isotropic vectors: 2/π in 2-D... skdim's curve: ref(2) = 2/π·... check
        // monotonicity and the closed values ref(1) = 0, ref(2) = Γ(1)/Γ(3/2) · Γ(1)/Γ(1/2) = 2/π.
        assert_eq!(a.reference(1), 0.0);
        assert!((a.reference(2) - 2.0 / std::f64::consts::PI).abs() < 1e-12);
        assert!((1..50).all(|n| a.reference(n) < a.reference(n + 1)));
        let b = Ess { ver_b: true, ..a.clone() };
        assert!((b.reference(1) - 1.0).abs() < 1e-12);
        assert!((b.reference(2) - 2.0 / std::f64::consts::PI).abs() < 1e-12);
        assert!((1..50).all(|n| b.reference(n) > b.reference(n + 1)));
        assert_eq!(unrank(0, 5, 2), vec![0, 1]);
        assert_eq!(unrank(9, 5, 2), vec![3, 4]);
        let mut m = vec![2.0, 1.0, 1.0, 3.0];
        assert!((det(&mut m, 2) - 5.0).abs() < 1e-12);
    }
}
