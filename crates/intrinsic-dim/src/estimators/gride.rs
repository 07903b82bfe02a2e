//! GRIDE (Denti et al. 2022): maximum likelihood on the ratios μ = r_{n2} / r_{n1}, with the standard error from
//! the observed Fisher information, and the multiscale series n1 = 1, 2, 4, … (skdim 0.5 / DADApy conventions).

use serde_json::{json, Value};

use super::Params;
use crate::special::Z975;
use crate::{stats, DimError, Estimate, Estimator, FitContext};

#[derive(Debug, Clone)]
pub struct Gride {
    pub n1: usize,
    pub n2: usize,
    pub multiscale: bool,
    pub range_max: usize,
}

impl Gride {
    pub fn new(n1: usize, n2: usize) -> Self {
        Gride { n1, n2, multiscale: false, range_max: 64 }
    }

    pub(crate) fn from_params(p: &Params) -> Result<Self, DimError> {
        let n1 = p.usize("n1", 1)?;
        let n2 = p.opt_usize("n2")?.unwrap_or(2 * n1);
        if !(1 <= n1 && n1 < n2) {
            return Err(p.invalid("n1/n2", format!("{n1}/{n2}"), "n1 and n2 must be integers with 1 <= n1 < n2"));
        }
        let multiscale = p.bool("multiscale", false)?;
        let range_max = p.usize("range_max", 64)?;
        if multiscale && range_max < 2 {
            return Err(p.invalid("range_max", range_max, "range_max must be an integer >= 2"));
        }
        Ok(Gride { n1, n2, multiscale, range_max })
    }

    /// (d, standard error) at (n1, n2) from the neighbour distances.
    pub fn estimate(d: ndarray::ArrayView2<f32>, n1: usize, n2: usize) -> Result<(f64, f64), DimError> {
        let mut log_mu: Vec<f64> = (0..d.nrows())
            .map(|i| (d[[i, n2 - 1]] as f64 / d[[i, n1 - 1]] as f64).ln())
            .filter(|l| l.is_finite() && *l > 0.0)
            .collect();
        let mu: Vec<f64> = log_mu.iter().map(|l| l.exp()).collect();
        let (q95, q50) = (stats::quantile(&mu, 0.95), stats::quantile(&mu, 0.5));
        let cut = 20.0 * (q95 - q50) + q50;
        log_mu.retain(|l| l.exp() < cut);
        let n = log_mu.len() as f64;
        if log_mu.len() < 2 {
            return Err(DimError::Numerical {
                estimator: "gride",
                message: "fewer than 2 points left to estimate the dimension".into(),
            });
        }
        let a = (n2 - n1 - 1) as f64;
        let sum_log: f64 = log_mu.iter().sum();
        let score = |dd: f64| {
            (n - 1.0) / dd + a * log_mu.iter().map(|&l| l / -(-dd * l).exp_m1()).sum::<f64>()
                - (n2 as f64 - 1.0) * sum_log
        };
        // The score is decreasing in d with one root: bracket it, then bisect to machine precision.
        let mut hi = 1.0;
        while score(hi) > 0.0 {
            hi *= 2.0;
            if hi > 1e12 {
                return Err(DimError::Numerical { estimator: "gride", message: "likelihood has no maximum".into() });
            }
        }
        let mut lo = 1e-8;
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if score(mid) > 0.0 {
                lo = mid
            } else {
                hi = mid
            }
            if hi - lo <= 1e-13 * hi {
                break;
            }
        }
        let dd = 0.5 * (lo + hi);
        let info = n / (dd * dd) + a * log_mu.iter().map(|&l| (l / (2.0 * (dd * l / 2.0).sinh())).powi(2)).sum::<f64>();
        Ok((dd, 1.0 / info.sqrt()))
    }

    fn kmax(&self) -> usize {
        if self.multiscale {
            self.n2.max(self.range_max)
        } else {
            self.n2
        }
    }
}

impl Estimator for Gride {
    fn name(&self) -> &'static str {
        "gride"
    }
    fn params(&self) -> Value {
        json!({"n1": self.n1, "n2": self.n2, "multiscale": self.multiscale, "range_max": self.range_max})
    }
    fn needs_k(&self) -> Option<usize> {
        Some(self.kmax())
    }
    fn fit(&self, ctx: &FitContext) -> Result<Estimate, DimError> {
        let (_, d) = ctx.neighbors("gride", self.kmax())?;
        let (dim, se) = Self::estimate(d, self.n1, self.n2)?;
        let mut est =
            Estimate::new(dim).with_ci(dim - Z975 * se, dim + Z975 * se, "analytic: observed Fisher information");
        if self.multiscale {
            let range_max = self.range_max.min(ctx.n() - 1);
            let n_scales = (range_max as f64).log2().floor() as u32;
            let scales: Vec<usize> = (0..n_scales).map(|i| 1usize << i).collect();
            let mut dims = Vec::new();
            let mut errs = Vec::new();
            let mut radii = Vec::new();
            for &s in &scales {
                let (a, b) = Self::estimate(d, s, 2 * s)?;
                dims.push(a);
                errs.push(b);
                radii.push(stats::mean(&d.column(2 * s - 1).iter().map(|&x| x as f64).collect::<Vec<_>>()));
            }
            est = est.with_extra(
                json!({"scales": scales, "dimension_scales": dims, "error_scales": errs, "radius_scales": radii}),
            );
        }
        if !self.multiscale {
            est = est.with_extra(json!({"error": se}));
        }
        Ok(est)
    }
    fn at_scale(&self, k: usize) -> Option<Box<dyn Estimator>> {
        (k >= 1).then(|| Box::new(Gride::new(k, 2 * k)) as Box<dyn Estimator>)
    }
}
