//! Principal coordinates for the pruned search: an orthonormal basis of the leading principal directions of a
//! deterministic subsample, and the projection of rows onto it.

use faer::{Accum, Mat, MatMut, MatRef, Par, Side};
use rayon::prelude::*;

/// Rows of the subsample used to estimate the principal directions.
const SUBSAMPLE: usize = 1024;

/// Orthonormal d × m basis of the leading principal directions of an evenly spaced subsample (f64).
pub(crate) fn principal_basis(raw: &[f32], d: usize, mean: &[f64], m: usize) -> Mat<f64> {
    let n = raw.len() / d;
    let s = n.min(SUBSAMPLE);
    // s × d centred subsample, rows evenly spaced through the data (deterministic), row-major.
    let mut rows = vec![0.0f64; s * d];
    rows.par_chunks_mut(d).enumerate().for_each(|(i, out)| {
        let src = &raw[(i * n / s) * d..(i * n / s + 1) * d];
        out.iter_mut().zip(src).zip(mean).for_each(|((o, &x), &mu)| *o = x as f64 - mu);
    });
    let sample = MatRef::from_row_major_slice(&rows, s, d);
    // Gram matrix (s × s); its leading eigenvectors U give V = Sᵀ U, the top right singular vectors of the sample.
    let mut gram = Mat::<f64>::zeros(s, s);
    faer::linalg::matmul::matmul(gram.as_mut(), Accum::Replace, sample, sample.transpose(), 1.0, Par::rayon(0));
    // Leading eigenpairs by subspace iteration (block power method with `m + 8` vectors, Rayleigh–Ritz at the end):
    // a full eigendecomposition of the s × s Gram matrix would cost more than the search it prepares. Accuracy is
    // not critical (any orthonormal basis gives a valid bound), only tightness.
    let p = (m + 8).min(s);
    let mut q = Mat::<f64>::from_fn(s, p, |i, j| {
        let h = seeds::splitmix64((i * p + j) as u64);
        (h >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    });
    for _ in 0..4 {
        let mut y = Mat::<f64>::zeros(s, q.ncols());
        faer::linalg::matmul::matmul(y.as_mut(), Accum::Replace, gram.as_ref(), q.as_ref(), 1.0, Par::rayon(0));
        q = orthonormal_columns(y.as_ref());
    }
    let mut gq = Mat::<f64>::zeros(s, q.ncols());
    faer::linalg::matmul::matmul(gq.as_mut(), Accum::Replace, gram.as_ref(), q.as_ref(), 1.0, Par::rayon(0));
    let mut small = Mat::<f64>::zeros(q.ncols(), q.ncols());
    faer::linalg::matmul::matmul(small.as_mut(), Accum::Replace, q.transpose(), gq.as_ref(), 1.0, Par::Seq);
    let eig = if q.ncols() > 0 { small.self_adjoint_eigen(Side::Lower).ok() } else { None };
    let basis = match eig {
        Some(eig) => {
            let u = eig.U();
            let lambda = eig.S().column_vector();
            let top = lambda.nrows();
            let scale = lambda[top - 1].abs().max(f64::MIN_POSITIVE);
            let keep: Vec<usize> =
                (0..m.min(top)).map(|t| top - 1 - t).take_while(|&idx| lambda[idx] > scale * 1e-12).collect();
            // Ritz vectors Q·U_keep, then Sᵀ(Q U_keep) by GEMMs, orthonormalised to f64 precision (the bound
            // relies on it).
            let uk = Mat::<f64>::from_fn(q.ncols(), keep.len(), |i, c| u[(i, keep[c])]);
            let mut ritz = Mat::<f64>::zeros(s, keep.len());
            faer::linalg::matmul::matmul(ritz.as_mut(), Accum::Replace, q.as_ref(), uk.as_ref(), 1.0, Par::Seq);
            let mut v = Mat::<f64>::zeros(d, keep.len());
            faer::linalg::matmul::matmul(
                v.as_mut(),
                Accum::Replace,
                sample.transpose(),
                ritz.as_ref(),
                1.0,
                Par::rayon(0),
            );
            orthonormal_columns(v.as_ref())
        }
        None => Mat::zeros(d, 0),
    };
    if basis.ncols() == 0 {
        // Constant data: any unit vector is a valid (if useless) basis.
        return Mat::from_fn(d, 1, |r, _| if r == 0 { 1.0 } else { 0.0 });
    }
    basis
}

/// Orthonormal basis of the column space of `a`, orthonormal to f64 precision: the columns scaled to unit norm, then
/// Cholesky QR twice (two small GEMMs and triangular solves, all sequential: the same bits whatever the thread
/// count); when the columns are numerically dependent, modified Gram–Schmidt, which drops them. The Gram–Schmidt
/// loops alone took as long as the projections on 192 coordinates.
fn orthonormal_columns(a: MatRef<f64>) -> Mat<f64> {
    let n = a.nrows();
    let norms: Vec<f64> = (0..a.ncols()).map(|c| a.col(c).iter().map(|x| x * x).sum::<f64>().sqrt()).collect();
    if norms.iter().any(|&x| !(x > 0.0 && x.is_finite())) {
        return gram_schmidt(a);
    }
    let mut q = Mat::<f64>::from_fn(n, a.ncols(), |r, c| a[(r, c)] / norms[c]);
    for _ in 0..2 {
        let p = q.ncols();
        let mut g = Mat::<f64>::zeros(p, p);
        faer::linalg::matmul::matmul(g.as_mut(), Accum::Replace, q.transpose(), q.as_ref(), 1.0, Par::Seq);
        let Some(l) = cholesky(&g) else { return gram_schmidt(a) };
        // Q ← Q L⁻ᵀ, i.e. solve L Qᵀ_new = Qᵀ.
        let mut qt = q.transpose().to_owned();
        faer::linalg::triangular_solve::solve_lower_triangular_in_place(l.as_ref(), qt.as_mut(), Par::Seq);
        q = qt.transpose().to_owned();
    }
    q
}

/// Lower Cholesky factor of a symmetric matrix, `None` unless it is clearly positive definite (every pivot above
/// 1e-8 of the largest diagonal value: the columns behind it are far from dependent).
fn cholesky(g: &Mat<f64>) -> Option<Mat<f64>> {
    let p = g.nrows();
    let scale = (0..p).map(|i| g[(i, i)]).fold(0.0f64, f64::max);
    let mut l = Mat::<f64>::zeros(p, p);
    for j in 0..p {
        let mut djj = g[(j, j)];
        for t in 0..j {
            djj -= l[(j, t)] * l[(j, t)];
        }
        if djj.is_nan() || djj <= 1e-8 * scale {
            return None;
        }
        let ljj = djj.sqrt();
        l[(j, j)] = ljj;
        for i in j + 1..p {
            let mut v = g[(i, j)];
            for t in 0..j {
                v -= l[(i, t)] * l[(j, t)];
            }
            l[(i, j)] = v / ljj;
        }
    }
    Some(l)
}

/// Orthonormal basis of the column space of `a` (modified Gram–Schmidt, twice, so it is orthonormal to f64
/// precision; dependent columns dropped).
fn gram_schmidt(a: MatRef<f64>) -> Mat<f64> {
    let mut basis: Vec<Vec<f64>> = Vec::with_capacity(a.ncols());
    for c in 0..a.ncols() {
        let mut v: Vec<f64> = a.col(c).iter().copied().collect();
        let norm0 = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        for _ in 0..2 {
            for b in &basis {
                let dot: f64 = v.iter().zip(b).map(|(x, y)| x * y).sum();
                v.iter_mut().zip(b).for_each(|(x, y)| *x -= dot * y);
            }
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 1e-10 * norm0 && norm > 0.0 {
            v.iter_mut().for_each(|x| *x /= norm);
            basis.push(v);
        }
    }
    Mat::from_fn(a.nrows(), basis.len(), |r, c| basis[c][r])
}

/// Rows in principal coordinates.
#[derive(Default)]
pub(crate) struct Projected {
    /// Row-major n × m_max (f64).
    pub p: Vec<f64>,
    /// Squared norms of the centred rows.
    pub n2: Vec<f64>,
    /// Row-major n × m2 (f32; empty when m2 = 0) and the residual norms outside those m2 coordinates.
    pub x: Vec<f32>,
    pub rho2: Vec<f64>,
}

/// Principal coordinates (the first `m_max` in f64, all `m2` of the basis in f32 when m2 > 0) and squared norms of
/// the centred rows.
pub(crate) fn project(raw: &[f32], d: usize, mean: &[f64], basis: MatRef<f64>, m_max: usize, m2: usize) -> Projected {
    let n = raw.len() / d;
    let m = basis.ncols();
    const ROWS: usize = 512;
    let parts: Vec<Projected> = (0..n)
        .step_by(ROWS)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|r0| {
            let r1 = (r0 + ROWS).min(n);
            let h = r1 - r0;
            let mut x = vec![0.0f64; h * d];
            let mut n2 = Vec::with_capacity(h);
            for (out, src) in x.chunks_exact_mut(d).zip(raw[r0 * d..r1 * d].chunks_exact(d)) {
                let mut s = 0.0;
                for ((o, &v), &mu) in out.iter_mut().zip(src).zip(mean) {
                    *o = v as f64 - mu;
                    s += *o * *o;
                }
                n2.push(s);
            }
            let xm = MatRef::from_row_major_slice(&x, h, d);
            let mut coords = vec![0.0f64; h * m];
            let p = MatMut::from_row_major_slice_mut(&mut coords, h, m);
            faer::linalg::matmul::matmul(p, Accum::Replace, xm, basis, 1.0, Par::Seq);
            let mut out = Projected { n2, ..Default::default() };
            for (row, &x2) in coords.chunks_exact(m).zip(&out.n2) {
                out.p.extend_from_slice(&row[..m_max]);
                if m2 > 0 {
                    out.x.extend(row[..m2].iter().map(|&v| v as f32));
                    out.rho2.push((x2 - row[..m2].iter().map(|v| v * v).sum::<f64>()).max(0.0).sqrt());
                }
            }
            out
        })
        .collect();
    let mut all = Projected::default();
    for part in parts {
        all.p.extend(part.p);
        all.n2.extend(part.n2);
        all.x.extend(part.x);
        all.rho2.extend(part.rho2);
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orthonormal_columns_are_orthonormal_and_span_the_columns() {
        // Columns of very different norms (as Sᵀ·Ritz vectors have), and a dependent set.
        let (n, p) = (300usize, 40usize);
        let u = |s: u64| (seeds::splitmix64(s) >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
        let a = Mat::<f64>::from_fn(n, p, |r, c| u((r * p + c) as u64) * 10f64.powi(-(c as i32) / 6));
        for (m, want) in [(a.clone(), p), (Mat::from_fn(n, 3, |r, c| a[(r, 0)] * (c + 1) as f64), 1)] {
            let q = orthonormal_columns(m.as_ref());
            assert_eq!(q.ncols(), want);
            let mut g = Mat::<f64>::zeros(want, want);
            faer::linalg::matmul::matmul(g.as_mut(), Accum::Replace, q.transpose(), q.as_ref(), 1.0, Par::Seq);
            for i in 0..want {
                for j in 0..want {
                    let e = if i == j { 1.0 } else { 0.0 };
                    assert!((g[(i, j)] - e).abs() < 1e-13, "QᵀQ[{i},{j}] = {}", g[(i, j)]);
                }
            }
            // Each column of m lies in the span of q: m − Q Qᵀ m vanishes.
            let mut qtm = Mat::<f64>::zeros(want, m.ncols());
            faer::linalg::matmul::matmul(qtm.as_mut(), Accum::Replace, q.transpose(), m.as_ref(), 1.0, Par::Seq);
            let mut back = m.clone();
            faer::linalg::matmul::matmul(back.as_mut(), Accum::Add, q.as_ref(), qtm.as_ref(), -1.0, Par::Seq);
            let worst = (0..m.ncols())
                .map(|c| {
                    let r: f64 = back.col(c).iter().map(|x| x * x).sum::<f64>().sqrt();
                    r / m.col(c).iter().map(|x| x * x).sum::<f64>().sqrt()
                })
                .fold(0.0f64, f64::max);
            assert!(worst < 1e-12, "residual {worst}");
        }
    }
}
