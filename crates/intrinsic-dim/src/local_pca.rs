//! Principal directions of a small set of rows (k ≪ D) by the Gram trick: with the rows centred on their mean
//! (C, k × D), the eigenpairs (λ_j, v_j) of the k × k Gram matrix C Cᵀ give the unit principal directions
//! u_j = Cᵀ v_j / √λ_j, so the D × D covariance is never formed. This is the local tangent-space estimate of
//! local PCA (the `lpca` estimator's building block) as explicit directions.

use faer::{Accum, Mat, MatRef, Par};
use ndarray::{Array2, ArrayView2};

use crate::linalg::sym_eigen;
use crate::DimError;

/// Relative size below which a Gram eigenvalue counts as zero: the rows span fewer directions than asked for.
pub const EIGEN_TOL: f64 = 1e-10;

/// The leading principal directions of a set of rows.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalBasis {
    /// Mean of the rows (length D).
    pub mean: Vec<f64>,
    /// Orthonormal principal directions as rows (m × D, m ≤ the number asked for), by decreasing variance.
    pub directions: Array2<f64>,
    /// Sum of squares of the centred rows along each direction (the Gram eigenvalues), decreasing.
    pub variances: Vec<f64>,
}

/// The first `d` principal directions of `rows` (k × D). Fewer come back when the centred rows span fewer than `d`
/// directions (eigenvalues below [`EIGEN_TOL`] of the largest); none when all rows are equal.
pub fn local_basis(rows: ArrayView2<f32>, d: usize) -> Result<LocalBasis, DimError> {
    let (k, dim) = rows.dim();
    if k == 0 {
        return Err(DimError::Empty("rows"));
    }
    let mut mean = vec![0.0f64; dim];
    for r in rows.rows() {
        mean.iter_mut().zip(r).for_each(|(m, &x)| *m += x as f64);
    }
    mean.iter_mut().for_each(|m| *m /= k as f64);
    let mut centred = vec![0.0f64; k * dim];
    for (c, r) in centred.chunks_exact_mut(dim).zip(rows.rows()) {
        c.iter_mut().zip(r).zip(&mean).for_each(|((c, &x), &m)| *c = x as f64 - m);
    }
    let cm = MatRef::from_row_major_slice(&centred, k, dim);
    let mut gram = Mat::<f64>::zeros(k, k);
    faer::linalg::matmul::matmul(gram.as_mut(), Accum::Replace, cm, cm.transpose(), 1.0, Par::Seq);
    let (vals, vecs) = sym_eigen(gram.as_ref(), true)?;
    let vecs = vecs.ok_or(DimError::Numerical { estimator: "local PCA", message: "no eigenvectors".into() })?;
    let top = vals.first().copied().unwrap_or(0.0);
    let m = if top > 0.0 { vals.iter().take(d).take_while(|&&l| l > top * EIGEN_TOL).count() } else { 0 };
    let mut directions = Array2::<f64>::zeros((m, dim));
    for j in 0..m {
        let s = 1.0 / vals[j].sqrt();
        let mut u = directions.row_mut(j);
        for (i, c) in centred.chunks_exact(dim).enumerate() {
            let w = vecs[(i, j)] * s;
            u.iter_mut().zip(c).for_each(|(u, &c)| *u += w * c);
        }
    }
    Ok(LocalBasis { mean, directions, variances: vals[..m].to_vec() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Points on a random 3-plane in R^40 (plus a tiny off-plane noise): the basis is orthonormal and spans it.
    #[test]
    fn recovers_a_plane() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let (dim, k, d) = (40, 25, 3);
        let plane: Vec<Vec<f64>> = (0..d).map(|_| (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect()).collect();
        let mut rows = Array2::<f32>::zeros((k, dim));
        for mut r in rows.rows_mut() {
            let c: Vec<f64> = (0..d).map(|_| rng.random_range(-1.0..1.0)).collect();
            for (j, v) in r.iter_mut().enumerate() {
                *v = (0.5 + (0..d).map(|i| c[i] * plane[i][j]).sum::<f64>()) as f32;
            }
        }
        let b = local_basis(rows.view(), 5).unwrap();
        // Float32 rounding of the rows may leave tiny extra directions; the first three carry the variance.
        assert!(b.directions.nrows() >= 3);
        assert!(b.variances.iter().skip(3).all(|&v| v < 1e-8 * b.variances[0]), "{:?}", b.variances);
        let g = b.directions.dot(&b.directions.t());
        for i in 0..g.nrows() {
            for j in 0..g.ncols() {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((g[[i, j]] - want).abs() < 1e-9, "{i} {j} {}", g[[i, j]]);
            }
        }
        // Each plane vector lies in the span of the first three directions.
        for p in &plane {
            let p = ndarray::Array1::from(p.clone());
            let coef = b.directions.slice(ndarray::s![..3, ..]).dot(&p);
            let resid = &p - &b.directions.slice(ndarray::s![..3, ..]).t().dot(&coef);
            assert!(resid.dot(&resid).sqrt() < 1e-5 * p.dot(&p).sqrt());
        }
    }

    #[test]
    fn equal_rows_have_no_direction() {
        let rows = Array2::<f32>::from_elem((4, 6), 0.25);
        let b = local_basis(rows.view(), 3).unwrap();
        assert_eq!(b.directions.nrows(), 0);
        assert!(b.mean.iter().all(|&m| (m - 0.25).abs() < 1e-12));
    }
}
