//! Local PCA of a query's nearest reference images by the Gram trick.
//!
//! With the k neighbours as rows of X (k × D, k ≪ D), mean μ and centred rows C = X − 1μᵀ, the principal directions
//! are u_j = Cᵀ v_j / √λ_j where (λ_j, v_j) are the eigenpairs of the k × k Gram matrix G = C Cᵀ. The squared length
//! of the projection of any vector r onto the span of the first d directions is Σ_j (v_jᵀ C r)² / λ_j, so neither
//! the D × D covariance nor the D-dimensional directions are ever formed: one k × D product per vector.

use faer::{Accum, Mat, MatRef, Par};
use ndarray::{ArrayView1, ArrayView2};

use crate::ScoreError;

/// Relative size below which an eigenvalue of the Gram matrix counts as zero (the neighbours span fewer
/// dimensions than asked for; that direction is left out).
const EIGEN_TOL: f64 = 1e-10;

/// Principal axes of a small set of reference rows.
pub(crate) struct LocalPca {
    mean: Vec<f64>,
    /// Centred rows, row-major k × D.
    centred: Vec<f64>,
    k: usize,
    dim: usize,
    /// Eigenvalues of the Gram matrix, descending (squared singular values of C).
    vals: Vec<f64>,
    /// Eigenvectors (columns, same order), k × k.
    vecs: Mat<f64>,
}

impl LocalPca {
    /// Local PCA of the rows `rows` of `reference`.
    pub fn new(reference: ArrayView2<f32>, rows: &[usize]) -> Result<Self, ScoreError> {
        let k = rows.len();
        let dim = reference.ncols();
        let mut mean = vec![0.0f64; dim];
        for &r in rows {
            for (m, &x) in mean.iter_mut().zip(reference.row(r)) {
                *m += x as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= k as f64);
        let mut centred = vec![0.0f64; k * dim];
        for (c, &r) in centred.chunks_exact_mut(dim).zip(rows) {
            for ((c, &x), &m) in c.iter_mut().zip(reference.row(r)).zip(&mean) {
                *c = x as f64 - m;
            }
        }
        let cm = MatRef::from_row_major_slice(&centred, k, dim);
        let mut gram = Mat::<f64>::zeros(k, k);
        faer::linalg::matmul::matmul(gram.as_mut(), Accum::Replace, cm, cm.transpose(), 1.0, Par::Seq);
        let (vals, vecs) = intrinsic_dim::linalg::sym_eigen(gram.as_ref(), true)
            .map_err(|e| ScoreError::Numerical(format!("local PCA of {k} neighbours: {e}")))?;
        let vecs = vecs.ok_or_else(|| ScoreError::Numerical("local PCA: no eigenvectors returned".into()))?;
        Ok(LocalPca { mean, centred, k, dim, vals, vecs })
    }

    /// Number of usable directions among the first `d` (nonzero variance).
    pub fn usable(&self, d: usize) -> usize {
        let top = self.vals.first().copied().unwrap_or(0.0);
        if top <= 0.0 {
            return 0;
        }
        self.vals.iter().take(d).take_while(|&&l| l > top * EIGEN_TOL).count()
    }

    /// Squared length of the projection of `v` (length D, already relative to whatever origin the caller wants)
    /// onto the span of the first `d` principal directions.
    pub fn projected_sq(&self, v: &[f64], d: usize) -> f64 {
        let m = self.usable(d);
        if m == 0 {
            return 0.0;
        }
        let cm = MatRef::from_row_major_slice(&self.centred, self.k, self.dim);
        let vm = MatRef::from_column_major_slice(v, self.dim, 1);
        let mut w = Mat::<f64>::zeros(self.k, 1);
        faer::linalg::matmul::matmul(w.as_mut(), Accum::Replace, cm, vm, 1.0, Par::Seq);
        (0..m)
            .map(|j| {
                let a: f64 = (0..self.k).map(|i| self.vecs[(i, j)] * w[(i, 0)]).sum();
                a * a / self.vals[j]
            })
            .sum()
    }

    /// Distance from `q` to the affine tangent space (mean + span of the first `d` directions).
    pub fn residual(&self, q: ArrayView1<f32>, d: usize) -> f64 {
        let r: Vec<f64> = q.iter().zip(&self.mean).map(|(&x, &m)| x as f64 - m).collect();
        let total: f64 = r.iter().map(|x| x * x).sum();
        // ‖r‖² − ‖P r‖² can lose a few ulps of ‖r‖² to cancellation; it is never negative in exact arithmetic.
        (total - self.projected_sq(&r, d)).max(0.0).sqrt()
    }

    /// Fraction of ‖v‖² that lies in the span of the first `d` directions (linear subspace, no mean: `v` is a
    /// displacement). NaN for a zero vector.
    pub fn tangent_fraction(&self, v: &[f64], d: usize) -> f64 {
        let total: f64 = v.iter().map(|x| x * x).sum();
        if total <= 0.0 {
            return f64::NAN;
        }
        (self.projected_sq(v, d) / total).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// Explicit projection for comparison: Gram–Schmidt of the centred rows (full span), d = k − 1.
    #[test]
    fn residual_matches_explicit_affine_projection() {
        let (k, dim) = (5, 12);
        let x =
            Array2::from_shape_fn((k, dim), |(i, j)| ((i * 31 + j * 17) % 13) as f32 / 13.0 + 0.01 * (i * j) as f32);
        let rows: Vec<usize> = (0..k).collect();
        let pca = LocalPca::new(x.view(), &rows).unwrap();
        let q = ndarray::Array1::from_shape_fn(dim, |j| ((j * 7) % 5) as f32 / 5.0);
        // Orthonormal basis of the centred rows.
        let mean: Vec<f64> = (0..dim).map(|j| (0..k).map(|i| x[[i, j]] as f64).sum::<f64>() / k as f64).collect();
        let mut basis: Vec<Vec<f64>> = Vec::new();
        for i in 0..k {
            let mut v: Vec<f64> = (0..dim).map(|j| x[[i, j]] as f64 - mean[j]).collect();
            for b in &basis {
                let p: f64 = v.iter().zip(b).map(|(a, b)| a * b).sum();
                v.iter_mut().zip(b).for_each(|(a, b)| *a -= p * b);
            }
            let n: f64 = v.iter().map(|a| a * a).sum::<f64>().sqrt();
            if n > 1e-9 {
                basis.push(v.iter().map(|a| a / n).collect());
            }
        }
        assert_eq!(basis.len(), k - 1, "k centred points span k − 1 dimensions");
        let mut r: Vec<f64> = (0..dim).map(|j| q[j] as f64 - mean[j]).collect();
        for b in &basis {
            let p: f64 = r.iter().zip(b).map(|(a, b)| a * b).sum();
            r.iter_mut().zip(b).for_each(|(a, b)| *a -= p * b);
        }
        let explicit = r.iter().map(|a| a * a).sum::<f64>().sqrt();
        let ours = pca.residual(q.view(), k - 1);
        assert!((ours - explicit).abs() < 1e-9, "{ours} vs {explicit}");
        // d = 0: distance to the mean.
        let to_mean: f64 = (0..dim).map(|j| (q[j] as f64 - mean[j]).powi(2)).sum::<f64>().sqrt();
        assert!((pca.residual(q.view(), 0) - to_mean).abs() < 1e-12);
        // A neighbour itself lies in the affine span.
        assert!(pca.residual(x.row(2), k - 1) < 1e-9);
    }

    #[test]
    fn points_on_a_plane_have_zero_residual_and_full_tangent_fraction() {
        // Points on a 2-D affine plane in R^6; a query on the plane has residual 0, a normal displacement has
        // tangent fraction 0, an in-plane displacement 1.
        let a = [1.0f32, 0.0, 2.0, 0.0, -1.0, 0.5];
        let b = [0.0f32, 1.0, 0.0, -1.0, 0.5, 0.0];
        let o = [0.3f32, 0.2, 0.1, 0.4, 0.5, 0.6];
        let coords = [(0.0, 0.0), (1.0, 0.2), (0.3, 1.0), (-0.5, 0.7), (0.9, -0.4), (0.1, -0.8)];
        let x = Array2::from_shape_fn((coords.len(), 6), |(i, j)| o[j] + coords[i].0 * a[j] + coords[i].1 * b[j]);
        let pca = LocalPca::new(x.view(), &(0..coords.len()).collect::<Vec<_>>()).unwrap();
        assert_eq!(pca.usable(5), 2, "only two nonzero directions");
        let q = ndarray::Array1::from_shape_fn(6, |j| o[j] + 2.5 * a[j] - 1.5 * b[j]);
        assert!(pca.residual(q.view(), 2) < 1e-5);
        let along: Vec<f64> = (0..6).map(|j| (0.3 * a[j] + 0.7 * b[j]) as f64).collect();
        assert!((pca.tangent_fraction(&along, 2) - 1.0).abs() < 1e-6);
        // A vector orthogonal to a and b.
        let mut n = vec![1.0f64, 1.0, 1.0, 1.0, 1.0, 1.0];
        let af: Vec<f64> = a.iter().map(|&v| v as f64).collect();
        let bf: Vec<f64> = b.iter().map(|&v| v as f64).collect();
        let dot = |u: &[f64], v: &[f64]| u.iter().zip(v).map(|(x, y)| x * y).sum::<f64>();
        let b_perp: Vec<f64> = {
            let c = dot(&bf, &af) / dot(&af, &af);
            bf.iter().zip(&af).map(|(x, y)| x - c * y).collect()
        };
        // Gram–Schmidt: remove the components along a and along b's part orthogonal to a.
        for basis in [&af, &b_perp] {
            let c = dot(&n, basis) / dot(basis, basis);
            n.iter_mut().zip(basis.iter()).for_each(|(x, y)| *x -= c * y);
        }
        assert!(pca.tangent_fraction(&n, 2) < 1e-10);
        assert!(pca.tangent_fraction(&[0.0; 6], 2).is_nan());
    }
}
