//! kNN graph-length estimator (Carter et al. 2010, without block bootstrap; skdim `KNN`): the total length L(p) of
//! the k-NN graph (edge weights raised to `gamma`) of random samples of p points grows like p^((m − γ)/m); m is
//! the dimension whose power law fits L best (least squares over m = 1..D, D the ambient dimension).
//!
//! Samples are drawn with replacement (as skdim's `randint`) from seeded per-(size, replicate) streams; the graph
//! lengths use the shared kNN engine on each sample.

use ndarray::Axis;
use rand::Rng;
use serde_json::{json, Value};

use super::Params;
use crate::{stats, DimError, Estimate, Estimator, FitContext};

#[derive(Debug, Clone)]
pub struct CarterKnn {
    pub k: usize,
    pub ps: Option<Vec<usize>>,
    pub m: usize,
    pub gamma: f64,
    pub random_state: Option<u64>,
}

impl CarterKnn {
    pub(crate) fn from_params(p: &Params) -> Result<Self, DimError> {
        let k = p.usize("k", 2)?;
        if k < 1 {
            return Err(p.invalid("k", k, "must be at least 1"));
        }
        let ps = match p.opt_string("ps") {
            None => None,
            Some(s) => Some(
                serde_json::from_str::<Vec<usize>>(&s)
                    .map_err(|_| p.invalid("ps", &s, "expected a JSON list of integers"))?,
            ),
        };
        let m = p.usize("M", 1)?;
        if m < 1 {
            return Err(p.invalid("M", m, "must be at least 1"));
        }
        Ok(CarterKnn {
            k,
            ps,
            m,
            gamma: p.f64("gamma", 2.0)?,
            random_state: p.opt_usize("random_state")?.map(|s| s as u64),
        })
    }

    fn sizes(&self) -> Vec<usize> {
        self.ps.clone().unwrap_or_else(|| (self.k + 1..self.k + 5).collect())
    }
}

impl Estimator for CarterKnn {
    fn name(&self) -> &'static str {
        "knn"
    }
    fn params(&self) -> Value {
        json!({"k": self.k, "ps": self.sizes(), "M": self.m, "gamma": self.gamma, "random_state": self.random_state})
    }
    fn needs_k(&self) -> Option<usize> {
        None
    }
    fn min_points(&self) -> usize {
        self.k + 1
    }
    fn fit(&self, ctx: &FitContext) -> Result<Estimate, DimError> {
        let ps = self.sizes();
        let n = ctx.n();
        if ps.is_empty() || ps.iter().any(|&p| p <= self.k || p > n) {
            return Err(DimError::InvalidParameter {
                estimator: "knn",
                param: "ps".into(),
                value: format!("{ps:?}"),
                reason: format!("ps must satisfy k < ps <= n (k = {}, n = {n})", self.k),
            });
        }
        let seed = self.random_state.unwrap_or(ctx.seed);
        let data = ctx.data("knn")?;
        let mut l = vec![vec![0.0f64; self.m]; ps.len()];
        for (i, &p) in ps.iter().enumerate() {
            for (j, lij) in l[i].iter_mut().enumerate() {
                let mut rng = stats::rng(seed, (i * self.m + j) as u64);
                let samp: Vec<usize> = (0..p).map(|_| rng.random_range(0..n)).collect();
                let x = data.select(Axis(0), &samp);
                let nb = knn::knn_query(x.view(), x.view(), self.k + 1)?;
                // Column 0 is the point itself (or an identical draw) at distance 0.
                *lij = nb
                    .distances
                    .iter()
                    .enumerate()
                    .filter(|(c, _)| c % (self.k + 1) != 0)
                    .map(|(_, &d)| (d as f64).powf(self.gamma))
                    .sum();
            }
        }
        let big_d = ctx.ncols();
        let row_sums: Vec<f64> = l.iter().map(|r| r.iter().sum()).collect();
        let mut eps = Vec::with_capacity(big_d);
        for m in 1..=big_d {
            let alpha = (m as f64 - self.gamma) / m as f64;
            let pa: Vec<f64> = ps.iter().map(|&p| (p as f64).powf(alpha)).collect();
            let hat_c = pa.iter().zip(&row_sums).map(|(a, s)| a * s).sum::<f64>()
                / (pa.iter().map(|a| a * a).sum::<f64>() * self.m as f64);
            let e: f64 =
                l.iter().zip(&pa).map(|(row, a)| row.iter().map(|v| (v - hat_c * a).powi(2)).sum::<f64>()).sum();
            eps.push(e);
        }
        let mut best = (f64::INFINITY, 0usize);
        for (i, &e) in eps.iter().enumerate() {
            if e < best.0 {
                best = (e, i);
            }
        }
        Ok(Estimate::new((best.1 + 1) as f64).with_extra(json!({"residual": best.0})))
    }
}
