//! imanifold's default estimator: a kNN estimator with its finite-sample bias removed by calibration on uniform
//! reference samples of the same size (the DANCo idea applied to a low-variance statistic).
//!
//! kNN estimators underestimate high dimensions: with N points in d dimensions the neighbourhoods are not small
//! and reach the boundary, so e.g. Levina–Bickel MLE gives ≈ 35 on N = 2000 points of a 70-dimensional cube. The
//! bias depends on (N, k, d) and only weakly on the manifold. So: compute the base statistic t on the data (TwoNN
//! maximum likelihood by default: the smallest scale, hence the least curvature bias; `base = "mle"` for
//! Levina–Bickel with k = `n_neighbors`); compute
//! the same statistic c(d) on uniform samples of N points in the d-dimensional reference shape (ball by
//! default, or hypercube) for d = 1, 2, … until c(d) ≥ t; the estimate is the d where the calibration curve crosses t, linearly
//! interpolated. The calibration samples are drawn from seeded streams (one per d and replicate), averaged over
//! `replicates` samples and cached per process; the interval is the base statistic's interval mapped through the
//! same (monotone) calibration curve.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use serde_json::{json, Value};

use crate::estimators::mle::Mle;
use crate::estimators::twonn::TwoNn;
use crate::estimators::Params;
use crate::{stats, DimError, Estimate, Estimator, FitContext};

/// Base statistic of the corrected estimator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Base {
    TwoNn,
    Mle,
}

type Key = (Base, usize, usize, usize, u64, Reference, usize);

fn cache() -> &'static Mutex<HashMap<Key, f64>> {
    static CACHE: OnceLock<Mutex<HashMap<Key, f64>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Forgets the cached calibration values (benchmarks measure cold runs with it).
pub fn clear_cache() {
    if let Ok(mut c) = cache().lock() {
        c.clear();
    }
}

/// Reference shape of the calibration samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reference {
    Cube,
    Ball,
}

#[derive(Debug, Clone)]
pub struct Corrected {
    /// Base statistic: `"twonn"` (TwoNN maximum likelihood, censored at 10 %) or `"mle"` (Levina–Bickel, k =
    /// `n_neighbors`).
    pub base: Base,
    /// Neighbours of the base MLE statistic.
    pub n_neighbors: usize,
    pub reference: Reference,
    pub replicates: usize,
    pub random_state: Option<u64>,
    /// Largest dimension calibrated (default: the ambient dimension).
    pub max_d: Option<usize>,
}

impl Default for Corrected {
    fn default() -> Self {
        Corrected {
            base: Base::TwoNn,
            n_neighbors: 20,
            reference: Reference::Ball,
            replicates: 2,
            random_state: None,
            max_d: None,
        }
    }
}

impl Corrected {
    pub(crate) fn from_params(p: &Params) -> Result<Self, DimError> {
        let d = Corrected::default();
        let reference = match p.string("reference", "ball")?.as_str() {
            "cube" => Reference::Cube,
            "ball" => Reference::Ball,
            other => return Err(p.invalid("reference", other, "must be 'cube' or 'ball'")),
        };
        let replicates = p.usize("replicates", d.replicates)?;
        if replicates == 0 {
            return Err(p.invalid("replicates", 0, "must be at least 1"));
        }
        let base = match p.string("base", "twonn")?.as_str() {
            "twonn" => Base::TwoNn,
            "mle" => Base::Mle,
            other => return Err(p.invalid("base", other, "must be 'twonn' or 'mle'")),
        };
        Ok(Corrected {
            base,
            n_neighbors: crate::estimators::n_neighbors(p, d.n_neighbors)?,
            reference,
            replicates,
            random_state: p.opt_usize("random_state")?.map(|s| s as u64),
            max_d: p.opt_usize("D")?,
        })
    }

    fn base(&self) -> Box<dyn Estimator> {
        match self.base {
            Base::Mle => Box::new(Mle::new(self.n_neighbors)),
            Base::TwoNn => Box::new(TwoNn { discard_fraction: 0.1, mle: true }),
        }
    }

    fn base_k(&self) -> usize {
        match self.base {
            Base::Mle => self.n_neighbors,
            Base::TwoNn => 2,
        }
    }

    /// Base statistic on a calibration sample (cached).
    pub fn calibration(&self, n: usize, d: usize, seed: u64) -> Result<f64, DimError> {
        let cache = cache();
        let key = (self.base, n, self.n_neighbors, d, seed, self.reference, self.replicates);
        if let Some(v) = cache.lock().ok().and_then(|c| c.get(&key).copied()) {
            return Ok(v);
        }
        let mut acc = 0.0;
        for r in 0..self.replicates {
            let s = stats::mix(seed, ((d as u64) << 20) | r as u64);
            let x = match self.reference {
                Reference::Cube => benchmark_manifolds::hypercube(n, d, s),
                Reference::Ball => benchmark_manifolds::hyperball(n, d, s),
            }
            .mapv(|v| v as f32);
            // Low-dimensional samples rounded to f32 can repeat a point: drop repeats like the data path does.
            let (x, _) = crate::drop_duplicates(x.view());
            let ctx = FitContext::new(x.view(), self.base_k(), s)?;
            acc += self.base().fit(&ctx)?.dimension;
        }
        let v = acc / self.replicates as f64;
        if let Ok(mut c) = cache.lock() {
            c.insert(key, v);
        }
        Ok(v)
    }

    /// Maps a base-statistic value to a dimension through the calibration curve `curve[d-1] = c(d)`.
    fn invert(curve: &[f64], t: f64) -> f64 {
        if t <= curve[0] {
            return t / curve[0];
        }
        for d in 1..curve.len() {
            if curve[d] >= t {
                let (a, b) = (curve[d - 1], curve[d]);
                return d as f64 + (t - a) / (b - a);
            }
        }
        // Beyond the calibrated range (the curve stops at the largest allowed dimension): clamp.
        curve.len() as f64
    }
}

impl Estimator for Corrected {
    fn name(&self) -> &'static str {
        "imanifold"
    }
    fn params(&self) -> Value {
        json!({"base": match self.base { Base::Mle => "mle", Base::TwoNn => "twonn" }, "n_neighbors": self.n_neighbors,
               "reference": match self.reference { Reference::Cube => "cube", Reference::Ball => "ball" },
               "replicates": self.replicates, "random_state": self.random_state, "D": self.max_d})
    }
    fn needs_k(&self) -> Option<usize> {
        Some(self.base_k())
    }
    fn fit(&self, ctx: &FitContext) -> Result<Estimate, DimError> {
        let base = self.base().fit(ctx)?;
        let t = base.dimension;
        let (lo, hi) = base.ci95.unwrap_or((t, t));
        let target = hi.max(t);
        let max_d = self.max_d.unwrap_or(ctx.data.ncols()).max(1);
        let seed = self.random_state.unwrap_or(ctx.seed);
        let n = ctx.n();
        let mut curve: Vec<f64> = Vec::new();
        // Calibrate until the curve passes the upper end of the base interval (or the largest allowed dimension).
        while curve.len() < max_d && curve.last().is_none_or(|&c| c < target) {
            curve.push(self.calibration(n, curve.len() + 1, seed)?);
        }
        let dim = Self::invert(&curve, t);
        let (clo, chi) = (Self::invert(&curve, lo), Self::invert(&curve, hi));
        Ok(Estimate::new(dim).with_ci(clo, chi, "base interval mapped through the calibration curve").with_extra(
            json!({
                "base_value": t, "calibration_curve": curve,
            }),
        ))
    }
    fn at_scale(&self, k: usize) -> Option<Box<dyn Estimator>> {
        (k >= 2).then(|| Box::new(Corrected { n_neighbors: k, ..self.clone() }) as Box<dyn Estimator>)
    }
}
