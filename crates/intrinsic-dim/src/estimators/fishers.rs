//! Fisher separability (Albergante et al. 2019; skdim `FisherS`): after PCA (components with eigenvalue above the
//! largest / `conditional_number`), whitening and projection onto the unit sphere, the mean fraction of points that
//! are not Fisher-separable from each point at margin α is matched with its value for a uniform n-sphere,
//! p(α, n) = (1 − α²)^((n−1)/2) / (α √(2πn)), solved for n with the Lambert W function.
//!
//! The n × n inner products are computed blockwise by faer GEMM (memory O(block × n)), in parallel.

use faer::{Accum, Mat, MatRef, Par};
use rayon::prelude::*;
use serde_json::{json, Value};

use super::Params;
use crate::special::lambert_w0;
use crate::{linalg, DimError, Estimate, Estimator, FitContext};

#[derive(Debug, Clone)]
pub struct FisherS {
    pub conditional_number: f64,
    pub project_on_sphere: bool,
    pub alphas: Vec<f64>,
    pub limit_maxdim: bool,
}

/// `np.arange(0.6, 1, 0.02)` bit for bit (NumPy fills start + i·(second − start)).
fn default_alphas() -> Vec<f64> {
    let (start, step, stop) = (0.6f64, 0.02f64, 1.0f64);
    let len = ((stop - start) / step).ceil() as usize;
    let delta = (start + step) - start;
    (0..len)
        .map(|i| {
            if i == 0 {
                start
            } else if i == 1 {
                start + step
            } else {
                start + i as f64 * delta
            }
        })
        .collect()
}

impl FisherS {
    pub(crate) fn from_params(p: &Params) -> Result<Self, DimError> {
        let conditional_number = p.f64("conditional_number", 10.0)?;
        if conditional_number <= 0.0 {
            return Err(p.invalid("conditional_number", conditional_number, "must be positive"));
        }
        let alphas = match p.opt_string("alphas") {
            None => default_alphas(),
            Some(s) => {
                let v: Vec<f64> =
                    serde_json::from_str(&s).map_err(|_| p.invalid("alphas", &s, "expected a JSON list of numbers"))?;
                if v.is_empty() || v.iter().any(|&a| !(a > 0.0 && a < 1.0)) || v.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(p.invalid("alphas", &s, "values must increase within (0, 1)"));
                }
                v
            }
        };
        if p.bool("produce_plots", false)? {
            return Err(p.invalid("produce_plots", true, "plots are not produced by imanifold dim"));
        }
        let _verbose = p.bool("verbose", false)?;
        Ok(FisherS {
            conditional_number,
            project_on_sphere: p.bool("project_on_sphere", true)?,
            alphas,
            limit_maxdim: p.bool("limit_maxdim", false)?,
        })
    }

    /// Preprocessed data (n × r): centred, PCA-reduced, whitened, optionally projected on the sphere.
    fn preprocess(&self, ctx: &FitContext) -> Result<ndarray::Array2<f64>, DimError> {
        let cn = self.conditional_number;
        let (_vals, mut scores) =
            linalg::pca_scores(ctx.data("fishers")?, |ev| ev.iter().filter(|&&v| v / ev[0] > 1.0 / cn).count())?;
        let n = scores.nrows() as f64;
        for mut c in scores.columns_mut() {
            let m = c.sum() / n;
            let sd = (c.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (n - 1.0)).sqrt();
            c.mapv_inplace(|v| v / sd);
        }
        if self.project_on_sphere {
            for mut r in scores.rows_mut() {
                let norm = r.dot(&r).sqrt();
                r.mapv_inplace(|v| v / norm);
            }
        }
        Ok(scores.as_standard_layout().into_owned())
    }
}

impl Estimator for FisherS {
    fn name(&self) -> &'static str {
        "fishers"
    }
    fn params(&self) -> Value {
        json!({"conditional_number": self.conditional_number, "project_on_sphere": self.project_on_sphere,
               "alphas": self.alphas, "limit_maxdim": self.limit_maxdim})
    }
    fn needs_k(&self) -> Option<usize> {
        None
    }
    fn fit(&self, ctx: &FitContext) -> Result<Estimate, DimError> {
        let xp = self.preprocess(ctx)?;
        let (n, r) = xp.dim();
        let mut thresholds = self.alphas.clone();
        if thresholds.last().is_some_and(|&a| a < 1.0) {
            thresholds.push(1.0);
        }
        let xs = xp.as_slice().expect("standard layout");
        let all = MatRef::from_row_major_slice(xs, n, r);
        let bq = 256usize;
        let blocks: Vec<(usize, usize)> = (0..n).step_by(bq).map(|s| (s, (s + bq).min(n))).collect();
        // counts[i][m]: number of j ≠ i with <x_i, x_j> / <x_i, x_i> ≥ thresholds[m].
        let counts: Vec<Vec<u32>> = blocks
            .par_iter()
            .flat_map_iter(|&(a, b)| {
                let xb = MatRef::from_row_major_slice(&xs[a * r..b * r], b - a, r);
                let mut g = Mat::<f64>::zeros(b - a, n);
                faer::linalg::matmul::matmul(g.as_mut(), Accum::Replace, xb, all.transpose(), 1.0, Par::Seq);
                let thresholds = &thresholds;
                (0..b - a)
                    .map(move |i| {
                        let leng = g[(i, a + i)];
                        let mut hist = vec![0u32; thresholds.len()];
                        for j in 0..n {
                            if j == a + i {
                                continue;
                            }
                            let v = g[(i, j)] / leng;
                            let c = thresholds.partition_point(|&t| t <= v);
                            if c > 0 {
                                hist[c - 1] += 1;
                            }
                        }
                        // cumulative from the top: number of values ≥ thresholds[m]
                        for m in (0..hist.len() - 1).rev() {
                            hist[m] += hist[m + 1];
                        }
                        hist
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let na = self.alphas.len();
        let py_mean: Vec<f64> =
            (0..na).map(|m| counts.iter().map(|c| c[m] as f64 / (n as f64 - 1.0)).sum::<f64>() / n as f64).collect();
        let n_alpha: Vec<f64> = (0..na)
            .map(|m| {
                let p = py_mean[m];
                if p == 0.0 {
                    return f64::NAN;
                }
                let a2 = self.alphas[m] * self.alphas[m];
                let w = (1.0 - a2).ln();
                let v = lambert_w0(-(w / (2.0 * std::f64::consts::PI * p * p * a2 * (1.0 - a2)))) / -w;
                if v.is_infinite() {
                    f64::NAN
                } else {
                    v
                }
            })
            .collect();
        let inds: Vec<usize> = (0..na).filter(|&m| !n_alpha[m].is_nan()).collect();
        if inds.is_empty() {
            return Ok(
                Estimate::new(f64::NAN).with_extra(json!({"reason": "all points are fully separable for every alpha"}))
            );
        }
        let alpha_max = inds.iter().map(|&m| self.alphas[m]).fold(f64::NEG_INFINITY, f64::max);
        let alpha_ref = alpha_max * 0.9;
        let best = self.alphas.iter().map(|a| (a - alpha_ref).abs()).fold(f64::INFINITY, f64::min);
        let chosen: Vec<usize> = inds.iter().copied().filter(|&m| (self.alphas[m] - alpha_ref).abs() == best).collect();
        if chosen.is_empty() {
            return Err(DimError::Numerical {
                estimator: "fishers",
                message: format!("the alpha closest to {alpha_ref} is fully separable; choose other alphas"),
            });
        }
        let mut dim = chosen.iter().map(|&m| n_alpha[m]).fold(f64::NEG_INFINITY, f64::max);
        if self.limit_maxdim {
            dim = dim.min(ctx.ncols() as f64);
        }
        let f = |x: f64| serde_json::Number::from_f64(x).map(Value::Number).unwrap_or(Value::Null);
        Ok(Estimate::new(dim).with_extra(json!({
            "alpha": self.alphas[chosen[0]], "retained_components": r,
            "n_alpha": n_alpha.iter().map(|&x| f(x)).collect::<Vec<_>>(),
        })))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn numpy_arange_alphas() {
        let a = super::default_alphas();
        assert_eq!(a.len(), 20);
        assert_eq!(a[0], 0.6);
        assert_eq!(a[19], 0.980_000_000_000_000_3);
    }
}
