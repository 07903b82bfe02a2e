//! TwoNN (Facco et al. 2017): the ratios μ = r2/r1 follow Pareto(1, d). `method = "linear"` fits the line through
//! (ln μ, −ln(1 − F_emp)) without intercept after discarding the largest `discard_fraction`; `method = "mle"` is
//! the unbiased maximum-likelihood estimate under Type-II censoring (skdim 0.5).

use rand::Rng;
use rayon::prelude::*;
use serde_json::{json, Value};

use super::Params;
use crate::special::chi2_quantile;
use crate::{stats, DimError, Estimate, Estimator, FitContext};

#[derive(Debug, Clone)]
pub struct TwoNn {
    pub discard_fraction: f64,
    pub mle: bool,
}

impl TwoNn {
    pub(crate) fn from_params(p: &Params) -> Result<Self, DimError> {
        let discard_fraction = p.f64("discard_fraction", 0.1)?;
        if !(0.0..1.0).contains(&discard_fraction) {
            return Err(p.invalid("discard_fraction", discard_fraction, "must be in [0, 1)"));
        }
        if p.bool("dist", false)? {
            return Err(p.invalid("dist", true, "precomputed (r1, r2) input is not supported by imanifold dim"));
        }
        let method = p.string("method", "linear")?;
        let mle = match method.as_str() {
            "linear" => false,
            "mle" => true,
            _ => return Err(p.invalid("method", method, "method must be 'linear' or 'mle'")),
        };
        Ok(TwoNn { discard_fraction, mle })
    }

    /// Sorted log-ratios ln(r2/r1) of the kept points, the total count N, and n_keep.
    fn log_mu(&self, d: ndarray::ArrayView2<f32>) -> Result<(Vec<f64>, usize), DimError> {
        let mut mu: Vec<f64> =
            (0..d.nrows()).map(|i| d[[i, 1]] as f64 / d[[i, 0]] as f64).filter(|m| m.is_finite()).collect();
        let n = mu.len();
        let n_keep = (n as f64 * (1.0 - self.discard_fraction)) as usize;
        if n_keep < 2 {
            return Err(DimError::Numerical {
                estimator: "twonn",
                message: "fewer than 2 points left to estimate the dimension".into(),
            });
        }
        mu.sort_by(f64::total_cmp);
        mu.truncate(n_keep);
        Ok((mu.into_iter().map(f64::ln).collect(), n))
    }

    fn linear_fit(log_mu: &[f64], n: usize) -> f64 {
        let (mut sxy, mut sxx) = (0.0, 0.0);
        for (i, &x) in log_mu.iter().enumerate() {
            let y = -(1.0 - (i + 1) as f64 / n as f64).ln();
            sxy += x * y;
            sxx += x * x;
        }
        sxy / sxx
    }
}

impl Estimator for TwoNn {
    fn name(&self) -> &'static str {
        "twonn"
    }
    fn params(&self) -> Value {
        json!({"discard_fraction": self.discard_fraction, "dist": false, "method": if self.mle { "mle" } else { "linear" }})
    }
    fn needs_k(&self) -> Option<usize> {
        Some(2)
    }
    fn fit(&self, ctx: &FitContext) -> Result<Estimate, DimError> {
        let (_, d) = ctx.neighbors("twonn", 2)?;
        let (log_mu, n) = self.log_mu(d)?;
        let n_keep = log_mu.len();
        if self.mle {
            // 2 d S ~ χ²(2 n_keep) with S the total time on test: exact interval.
            let s = log_mu.iter().sum::<f64>() + (n - n_keep) as f64 * log_mu[n_keep - 1];
            let dim = (n_keep as f64 - 1.0) / s;
            let dof = 2.0 * n_keep as f64;
            let (lo, hi) = (chi2_quantile(0.025, dof) / (2.0 * s), chi2_quantile(0.975, dof) / (2.0 * s));
            return Ok(Estimate::new(dim).with_ci(lo, hi, "exact: chi-square pivot of the censored Pareto likelihood"));
        }
        let dim = Self::linear_fit(&log_mu, n);
        let mut est = Estimate::new(dim);
        if ctx.bootstrap > 0 {
            // Resample the per-point ratios (all of them, before discarding) and refit the line.
            let all: Vec<f64> = (0..d.nrows()).map(|i| (d[[i, 1]] as f64 / d[[i, 0]] as f64).ln()).collect();
            let reps: Vec<f64> = (0..ctx.bootstrap)
                .into_par_iter()
                .map(|b| {
                    let mut rng = stats::rng(ctx.seed ^ 0x2440, b as u64);
                    let mut v: Vec<f64> = (0..all.len()).map(|_| all[rng.random_range(0..all.len())]).collect();
                    v.sort_by(f64::total_cmp);
                    v.truncate(n_keep);
                    Self::linear_fit(&v, n)
                })
                .collect();
            est = est.with_ci(
                stats::quantile(&reps, 0.025),
                stats::quantile(&reps, 0.975),
                &format!("bootstrap of the ratios r2/r1 (B = {}, percentile)", ctx.bootstrap),
            );
        }
        Ok(est)
    }
}
