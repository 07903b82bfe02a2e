//! Class-conditional Gaussians with one shared covariance (Lee et al. 2018) and the Mahalanobis score.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use rayon::prelude::*;

/// Averages rows of `(position, channel)` values over positions: one value per channel.
pub fn pool(x: ArrayView2<f32>, channels: usize) -> Array2<f64> {
    let positions = x.ncols() / channels;
    let mut out = Array2::<f64>::zeros((x.nrows(), channels));
    for (mut o, r) in out.rows_mut().into_iter().zip(x.rows()) {
        for (j, &v) in r.iter().enumerate() {
            o[j % channels] += v as f64;
        }
        o.mapv_inplace(|v| v / positions as f64);
    }
    out
}

/// Per-class means and the Cholesky factor of the shared covariance.
#[derive(Debug, Clone)]
pub struct ClassGaussians {
    /// Means of the classes that have reference rows.
    means: Vec<Array1<f64>>,
    /// Lower-triangular L with L Lᵀ = Σ + ridge·I.
    chol: Array2<f64>,
}

/// Relative ridge added to the covariance's diagonal (times its mean diagonal): keeps dead units (zero variance
/// after a ReLU) from making Σ singular.
pub const RIDGE: f64 = 1e-6;

impl ClassGaussians {
    /// Fits the class means and the shared covariance Σ = (1/N) Σᵢ (xᵢ − μ_yᵢ)(xᵢ − μ_yᵢ)ᵀ.
    pub fn fit(x: ArrayView2<f64>, labels: &[usize], n_classes: usize) -> Result<ClassGaussians, String> {
        let (n, d) = x.dim();
        let mut sums = vec![Array1::<f64>::zeros(d); n_classes];
        let mut counts = vec![0usize; n_classes];
        for (r, &c) in x.rows().into_iter().zip(labels) {
            sums[c] += &r;
            counts[c] += 1;
        }
        let mut mean_of = vec![None; n_classes];
        let mut means = Vec::new();
        for c in 0..n_classes {
            if counts[c] > 0 {
                mean_of[c] = Some(means.len());
                means.push(&sums[c] / counts[c] as f64);
            }
        }
        if means.is_empty() {
            return Err("no labelled reference rows".into());
        }
        let mut centred = x.to_owned();
        for (mut r, &c) in centred.rows_mut().into_iter().zip(labels) {
            r -= &means[mean_of[c].expect("counted")];
        }
        let mut cov = centred.t().dot(&centred) / n as f64;
        let mean_diag = (0..d).map(|i| cov[[i, i]]).sum::<f64>() / d as f64;
        let ridge = RIDGE * mean_diag.max(f64::MIN_POSITIVE) + 1e-12;
        for i in 0..d {
            cov[[i, i]] += ridge;
        }
        let chol = cholesky(cov).ok_or("the shared covariance is not positive definite")?;
        Ok(ClassGaussians { means, chol })
    }

    pub fn n_classes(&self) -> usize {
        self.means.len()
    }

    /// Smallest Mahalanobis distance of each row to a class mean.
    pub fn scores(&self, x: ArrayView2<f64>) -> Vec<f64> {
        (0..x.nrows()).into_par_iter().map(|i| self.score(x.row(i))).collect()
    }

    /// For each row, Σ⁻¹ (x − μ_c) for its nearest class c: half the gradient of the squared distance that
    /// [`ClassGaussians::scores`] takes the root of. Lee et al.'s input pre-processing steps the input against
    /// the sign of this direction pulled back through the network. Rows with a non-finite value get zeros.
    pub fn descent_directions(&self, x: ArrayView2<f64>) -> Array2<f64> {
        let d = x.ncols();
        let rows: Vec<Vec<f64>> = (0..x.nrows())
            .into_par_iter()
            .map(|i| {
                let r = x.row(i);
                match self.nearest(r) {
                    Some(c) => {
                        let diff: Vec<f64> = r.iter().zip(&self.means[c]).map(|(a, m)| a - m).collect();
                        cholesky_solve(&self.chol, &diff)
                    }
                    None => vec![0.0; d],
                }
            })
            .collect();
        Array2::from_shape_vec((x.nrows(), d), rows.concat()).expect("rows of d values")
    }

    /// Index (into `means`) of the class nearest to `x`, None for a non-finite row.
    fn nearest(&self, x: ArrayView1<f64>) -> Option<usize> {
        if x.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let mut best = (f64::INFINITY, 0);
        for c in 0..self.means.len() {
            let sq = self.squared(x, c);
            if sq < best.0 {
                best = (sq, c);
            }
        }
        Some(best.1)
    }

    /// Squared Mahalanobis distance of `x` to the mean of class `c` (forward substitution L z = x − μ, ‖z‖²).
    fn squared(&self, x: ArrayView1<f64>, c: usize) -> f64 {
        let (d, m) = (x.len(), &self.means[c]);
        let mut z = vec![0.0; d];
        let mut sq = 0.0;
        for i in 0..d {
            let mut s = x[i] - m[i];
            for (j, zj) in z.iter().enumerate().take(i) {
                s -= self.chol[[i, j]] * zj;
            }
            z[i] = s / self.chol[[i, i]];
            sq += z[i] * z[i];
        }
        sq
    }

    fn score(&self, x: ArrayView1<f64>) -> f64 {
        if x.iter().any(|v| !v.is_finite()) {
            return f64::NAN;
        }
        (0..self.means.len()).map(|c| self.squared(x, c)).fold(f64::INFINITY, f64::min).sqrt()
    }
}

/// Cholesky factor of a symmetric positive definite matrix (None if it is not).
pub(crate) fn cholesky(a: Array2<f64>) -> Option<Array2<f64>> {
    let d = a.nrows();
    let mut l = Array2::<f64>::zeros((d, d));
    for i in 0..d {
        for j in 0..=i {
            let mut s = a[[i, j]];
            for k in 0..j {
                s -= l[[i, k]] * l[[j, k]];
            }
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return None;
                }
                l[[i, i]] = s.sqrt();
            } else {
                l[[i, j]] = s / l[[j, j]];
            }
        }
    }
    Some(l)
}

/// Solves (L Lᵀ) x = b for the Cholesky factor L.
pub(crate) fn cholesky_solve(l: &Array2<f64>, b: &[f64]) -> Vec<f64> {
    let d = b.len();
    let mut y = vec![0.0; d];
    for i in 0..d {
        let s: f64 = (0..i).map(|j| l[[i, j]] * y[j]).sum();
        y[i] = (b[i] - s) / l[[i, i]];
    }
    let mut x = vec![0.0; d];
    for i in (0..d).rev() {
        let s: f64 = (i + 1..d).map(|j| l[[j, i]] * x[j]).sum();
        x[i] = (y[i] - s) / l[[i, i]];
    }
    x
}
