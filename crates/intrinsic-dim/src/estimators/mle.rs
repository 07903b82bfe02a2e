//! Levina–Bickel maximum-likelihood estimator (skdim `MLE`), with MacKay–Ghahramani combination (`comb="mle"`,
//! skdim's default), the `unbiased` (k − 2) variant, the non-neighbourhood variant and Levina–Bickel's averaging
//! over k = k1..k2.

use rayon::prelude::*;
use serde_json::{json, Value};

use super::Params;
use crate::special::Z975;
use crate::{stats, Comb, DimError, Estimate, Estimator, FitContext};

#[derive(Debug, Clone)]
pub struct Mle {
    pub n_neighbors: usize,
    pub comb: Comb,
    pub unbiased: bool,
    pub neighborhood_based: bool,
    /// Neighbours per point for `neighborhood_based = false`.
    pub big_k: usize,
    pub sigma: f64,
    pub integral_approximation: String,
    /// Levina–Bickel averaging over k = k1..=k2 (imanifold extension; both or neither).
    pub k_range: Option<(usize, usize)>,
}

impl Mle {
    pub fn new(n_neighbors: usize) -> Self {
        Mle {
            n_neighbors,
            comb: Comb::Mle,
            unbiased: false,
            neighborhood_based: true,
            big_k: 5,
            sigma: 0.0,
            integral_approximation: "Haro".into(),
            k_range: None,
        }
    }

    pub(crate) fn from_params(p: &Params) -> Result<Self, DimError> {
        let mut m = Mle::new(super::n_neighbors(p, 20)?);
        m.comb = super::comb(p, "mle")?;
        m.unbiased = p.bool("unbiased", false)?;
        m.neighborhood_based = p.bool("neighborhood_based", true)?;
        m.big_k = p.usize("K", 5)?;
        m.sigma = p.f64("sigma", 0.0)?;
        m.integral_approximation = p.string("integral_approximation", "Haro")?;
        if !["Haro", "guaranteed.convergence", "iteration"].contains(&m.integral_approximation.as_str()) {
            return Err(p.invalid(
                "integral_approximation",
                &m.integral_approximation,
                "Unknown integral_approximation parameter",
            ));
        }
        if m.integral_approximation == "iteration" {
            return Err(p.invalid("integral_approximation", "iteration", "not implemented (skdim raises too)"));
        }
        if let Some(dn) = p.opt_string("dnoise") {
            return Err(p.invalid(
                "dnoise",
                dn,
                "noise models (skdim's 'dnoiseGaussH' with numerical integrals) are not supported: documented deviation",
            ));
        }
        if p.opt_usize("n")?.is_some() {
            return Err(p.invalid("n", "set", "only used with dnoise, which is not supported"));
        }
        if m.big_k < 1 {
            return Err(p.invalid("K", m.big_k, "must be at least 1"));
        }
        match (p.opt_usize("k1")?, p.opt_usize("k2")?) {
            (None, None) => {}
            (Some(a), Some(b)) if 2 <= a && a <= b => {
                m.k_range = Some((a, b));
                m.n_neighbors = b;
            }
            (a, b) => return Err(p.invalid("k1/k2", format!("{a:?}/{b:?}"), "need both, with 2 <= k1 <= k2")),
        }
        if m.unbiased && m.k_range.map_or(m.n_neighbors, |r| r.0) < 3 {
            return Err(p.invalid("n_neighbors", m.n_neighbors, "unbiased needs at least 3 neighbours"));
        }
        Ok(m)
    }

    fn kfac(&self, k: usize) -> f64 {
        if self.unbiased {
            k as f64 - 2.0
        } else {
            k as f64 - 1.0
        }
    }

    /// Per-point estimate from the sorted distances to the first k neighbours.
    pub fn point(&self, dists: &[f64]) -> f64 {
        let k = dists.len();
        let rk = dists[k - 1];
        let s: f64 = dists.iter().map(|&r| (rk / r).ln()).sum();
        self.kfac(k) / s
    }
}

impl Estimator for Mle {
    fn name(&self) -> &'static str {
        "mle"
    }
    fn params(&self) -> Value {
        let mut v = json!({
            "n_neighbors": self.n_neighbors, "comb": self.comb.as_str(), "unbiased": self.unbiased,
            "neighborhood_based": self.neighborhood_based, "K": self.big_k, "sigma": self.sigma,
            "dnoise": null, "integral_approximation": self.integral_approximation,
        });
        if let Some((a, b)) = self.k_range {
            v["k1"] = json!(a);
            v["k2"] = json!(b);
        }
        v
    }
    fn needs_k(&self) -> Option<usize> {
        Some(if self.neighborhood_based { self.n_neighbors } else { self.big_k })
    }
    fn comb(&self) -> Option<Comb> {
        if self.neighborhood_based {
            Some(self.comb)
        } else {
            None
        }
    }
    fn fit(&self, ctx: &FitContext) -> Result<Estimate, DimError> {
        if !self.neighborhood_based {
            // Distances in the whole set: the n_neighbors smallest distinct K-NN distances.
            let (_, d) = ctx.neighbors("mle", self.big_k)?;
            let mut all: Vec<f64> = d.iter().map(|&x| x as f64).collect();
            all.sort_by(f64::total_cmp);
            all.dedup();
            all.truncate(self.n_neighbors);
            return Ok(Estimate::new(self.point(&all)));
        }
        let (_, d) = ctx.neighbors("mle", self.n_neighbors)?;
        let ks: Vec<usize> = match self.k_range {
            Some((a, b)) => (a..=b).collect(),
            None => vec![self.n_neighbors],
        };
        // per_k[j][i]: estimate of point i with k = ks[j].
        let per_k: Vec<Vec<f64>> = ks
            .iter()
            .map(|&k| {
                (0..ctx.n())
                    .into_par_iter()
                    .map(|i| {
                        let row: Vec<f64> = d.row(i).iter().take(k).map(|&x| x as f64).collect();
                        self.point(&row)
                    })
                    .collect()
            })
            .collect();
        let pw: Vec<f64> = (0..ctx.n()).map(|i| stats::mean(&per_k.iter().map(|v| v[i]).collect::<Vec<_>>())).collect();
        let dimension = stats::mean(&per_k.iter().map(|v| self.comb.apply(v)).collect::<Vec<_>>());
        let mut est = Estimate::new(dimension);
        // Analytic interval from the per-point spread (k fixed): the delta method on 1/d for comb = mle, on d for
        // comb = mean. (Neighbourhoods overlap, so this is a lower bound on the true spread when k is large.)
        if self.k_range.is_none() {
            let n = pw.len() as f64;
            match self.comb {
                Comb::Mle => {
                    let inv: Vec<f64> = pw.iter().map(|d| 1.0 / d).collect();
                    let (m, se) = (stats::mean(&inv), stats::std(&inv) / n.sqrt());
                    est = est.with_ci(
                        1.0 / (m + Z975 * se),
                        1.0 / (m - Z975 * se).max(f64::MIN_POSITIVE),
                        "analytic: delta method on mean(1/d_i)",
                    );
                }
                Comb::Mean => {
                    let se = stats::std(&pw) / n.sqrt();
                    est = est.with_ci(dimension - Z975 * se, dimension + Z975 * se, "analytic: mean ± 1.96 sd/sqrt(n)");
                }
                Comb::Median => {}
            }
        }
        Ok(est.with_pointwise(pw))
    }
    fn at_scale(&self, k: usize) -> Option<Box<dyn Estimator>> {
        if !self.neighborhood_based || self.k_range.is_some() || k < 2 {
            return None;
        }
        let mut m = self.clone();
        m.n_neighbors = k;
        Some(Box::new(m))
    }
}
