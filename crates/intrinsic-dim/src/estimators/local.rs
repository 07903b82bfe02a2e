//! Local (per-point) estimators from the kNN distances: MOM, TLE (skdim's `idtlec` variant), MADA.

use rayon::prelude::*;
use serde_json::{json, Value};

use super::Params;
use crate::{Comb, DimError, Estimate, Estimator, FitContext};

fn finish_local(pw: Vec<f64>, comb: Comb) -> Estimate {
    Estimate::new(comb.apply(&pw)).with_pointwise(pw)
}

/// Method of moments (Amsaleg et al. 2018): ID = −m1 / (m1 − w), m1 the mean kNN distance, w the k-th.
#[derive(Debug, Clone)]
pub struct Mom {
    pub n_neighbors: usize,
    pub comb: Comb,
}

impl Mom {
    pub(crate) fn from_params(p: &Params) -> Result<Self, DimError> {
        Ok(Mom { n_neighbors: super::n_neighbors(p, 100)?, comb: super::comb(p, "mean")? })
    }
}

impl Estimator for Mom {
    fn name(&self) -> &'static str {
        "mom"
    }
    fn params(&self) -> Value {
        json!({"n_neighbors": self.n_neighbors, "comb": self.comb.as_str()})
    }
    fn needs_k(&self) -> Option<usize> {
        Some(self.n_neighbors)
    }
    fn comb(&self) -> Option<Comb> {
        Some(self.comb)
    }
    fn fit(&self, ctx: &FitContext) -> Result<Estimate, DimError> {
        let (_, d) = ctx.neighbors("mom", self.n_neighbors)?;
        let pw: Vec<f64> = (0..ctx.n())
            .into_par_iter()
            .map(|i| {
                let row = d.row(i);
                let w = row[row.len() - 1] as f64;
                let m1 = row.iter().map(|&x| x as f64).sum::<f64>() / row.len() as f64;
                -m1 / (m1 - w)
            })
            .collect();
        Ok(finish_local(pw, self.comb))
    }
    fn at_scale(&self, k: usize) -> Option<Box<dyn Estimator>> {
        (k >= 2).then(|| Box::new(Mom { n_neighbors: k, ..self.clone() }) as Box<dyn Estimator>)
    }
}

/// Manifold-adaptive dimension estimation (Farahmand et al. 2007): ln 2 / ln(r_k / r_⌊k/2⌋).
#[derive(Debug, Clone)]
pub struct Mada {
    pub n_neighbors: usize,
    pub comb: Comb,
}

impl Mada {
    pub(crate) fn from_params(p: &Params) -> Result<Self, DimError> {
        if p.bool("DM", false)? {
            return Err(p.invalid("DM", true, "precomputed distance matrices are not an input of imanifold dim"));
        }
        Ok(Mada { n_neighbors: super::n_neighbors(p, 20)?, comb: super::comb(p, "mean")? })
    }
}

impl Estimator for Mada {
    fn name(&self) -> &'static str {
        "mada"
    }
    fn params(&self) -> Value {
        json!({"n_neighbors": self.n_neighbors, "comb": self.comb.as_str(), "DM": false})
    }
    fn needs_k(&self) -> Option<usize> {
        Some(self.n_neighbors)
    }
    fn comb(&self) -> Option<Comb> {
        Some(self.comb)
    }
    fn fit(&self, ctx: &FitContext) -> Result<Estimate, DimError> {
        let k = self.n_neighbors;
        let (_, d) = ctx.neighbors("mada", k)?;
        let pw: Vec<f64> = (0..ctx.n())
            .into_par_iter()
            .map(|i| {
                let rk = d[[i, k - 1]] as f64;
                let rk2 = d[[i, k / 2 - 1]] as f64;
                std::f64::consts::LN_2 / (rk / rk2).ln()
            })
            .collect();
        Ok(finish_local(pw, self.comb))
    }
    fn at_scale(&self, k: usize) -> Option<Box<dyn Estimator>> {
        (k >= 2).then(|| Box::new(Mada { n_neighbors: k, ..self.clone() }) as Box<dyn Estimator>)
    }
}

/// Tight local ID estimator (Amsaleg et al. 2019), with central measurements and reflections (`idtlec`).
#[derive(Debug, Clone)]
pub struct Tle {
    pub n_neighbors: usize,
    pub epsilon: f64,
    pub comb: Comb,
}

impl Tle {
    pub(crate) fn from_params(p: &Params) -> Result<Self, DimError> {
        let epsilon = p.f64("epsilon", 1e-4)?;
        if epsilon < 0.0 {
            return Err(p.invalid("epsilon", epsilon, "must be non-negative"));
        }
        Ok(Tle { n_neighbors: super::n_neighbors(p, 20)?, epsilon, comb: super::comb(p, "mean")? })
    }

    /// One neighbourhood: `nn` the k neighbours (row-major, k × dim), `dists` their distances to the centre.
    fn idtle(&self, nn: &[f64], dim: usize, dists: &[f64]) -> Result<f64, DimError> {
        let k = dists.len();
        let eps = self.epsilon;
        let r = dists[k - 1];
        if r == 0.0 {
            return Err(DimError::Numerical { estimator: "tle", message: "all k-NN distances are zero".into() });
        }
        let r2 = r * r;
        let (mut s1t, mut s1s) = (0.0f64, 0.0f64);
        let (mut n_tseps, mut n_v0) = (0usize, 0usize);
        for a in 0..k {
            let di = dists[a];
            let xa = &nn[a * dim..(a + 1) * dim];
            for b in 0..k {
                if a == b {
                    continue; // diagonal terms are zeroed
                }
                let dj = dists[b];
                let xb = &nn[b * dim..(b + 1) * dim];
                let v2: f64 = xa.iter().zip(xb).map(|(p, q)| (p - q) * (p - q)).sum();
                let v = v2.sqrt();
                let (di2, dj2) = (di * di, dj * dj);
                let z2 = 2.0 * di2 + 2.0 * dj2 - v2;
                let mut s;
                let mut t;
                if di == r {
                    // repeated k-NN distances
                    s = r * v2 / (r2 + v2 - dj2);
                    t = r * z2 / (r2 + z2 - dj2);
                } else {
                    let den = 2.0 * (r2 - di2);
                    let bs = di2 + v2 - dj2;
                    s = r * ((bs * bs + 4.0 * v2 * (r2 - di2)).sqrt() - bs) / den;
                    let bt = di2 + z2 - dj2;
                    t = r * ((bt * bt + 4.0 * z2 * (r2 - di2)).sqrt() - bt) / den;
                }
                if di == 0.0 {
                    s = dj;
                    t = dj;
                }
                if dj == 0.0 {
                    s = r * v / (r + v);
                    t = s;
                }
                if v == 0.0 {
                    s = r;
                    t = r;
                    n_v0 += 1;
                }
                if t < eps || s < eps || t.is_nan() || s.is_nan() {
                    n_tseps += 1;
                    s = r;
                    t = r;
                }
                s1t += (t / r).ln();
                s1s += (s / r).ln();
            }
        }
        let n_deps = dists.iter().filter(|&&x| x < eps).count();
        let s2: f64 = dists[n_deps..].iter().map(|&x| (x / r).ln()).sum();
        if s1t + s1s > -eps {
            return Ok(0.0);
        }
        let kk = (k * k) as f64;
        Ok(-2.0 * (kk - n_tseps as f64 - n_deps as f64 - n_v0 as f64) / (s1t + s1s + 2.0 * s2))
    }
}

impl Estimator for Tle {
    fn name(&self) -> &'static str {
        "tle"
    }
    fn params(&self) -> Value {
        json!({"n_neighbors": self.n_neighbors, "epsilon": self.epsilon, "comb": self.comb.as_str()})
    }
    fn needs_k(&self) -> Option<usize> {
        Some(self.n_neighbors)
    }
    fn comb(&self) -> Option<Comb> {
        Some(self.comb)
    }
    fn fit(&self, ctx: &FitContext) -> Result<Estimate, DimError> {
        let k = self.n_neighbors;
        let (idx, _) = ctx.neighbors("tle", k)?;
        let data = ctx.data("tle")?;
        let dim = data.ncols();
        let pw: Result<Vec<f64>, DimError> = (0..ctx.n())
            .into_par_iter()
            .map(|i| {
                // Distances recomputed in f64 so that they are consistent with the pairwise ones.
                let centre = data.row(i);
                let mut nn = Vec::with_capacity(k * dim);
                let mut dists = Vec::with_capacity(k);
                for &j in idx.row(i) {
                    let row = data.row(j);
                    let mut s = 0.0f64;
                    for (&a, &c) in row.iter().zip(centre.iter()) {
                        let (a, c) = (a as f64, c as f64);
                        nn.push(a);
                        s += (a - c) * (a - c);
                    }
                    dists.push(s.sqrt());
                }
                self.idtle(&nn, dim, &dists)
            })
            .collect();
        Ok(finish_local(pw?, self.comb))
    }
    fn at_scale(&self, k: usize) -> Option<Box<dyn Estimator>> {
        (k >= 2).then(|| Box::new(Tle { n_neighbors: k, ..self.clone() }) as Box<dyn Estimator>)
    }
}
