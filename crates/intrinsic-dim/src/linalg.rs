//! Dense linear algebra on faer: covariance / Gram matrices (blocked, parallel, deterministic whatever the thread
//! count: fixed blocks, sequential GEMM inside each task, fixed-order sums) and symmetric eigenproblems.

use faer::diag::Diag;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::{self, ComputeEigenvectors};
use faer::{Accum, Mat, MatRef, Par};
use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use crate::DimError;

/// Rows per task of the column means and of the Gram matrix's output.
const ROW_BLOCK: usize = 512;

/// Column means (f64), reduced over fixed row blocks in block order (thread-count independent).
pub fn column_means(x: ArrayView2<f32>) -> Vec<f64> {
    let (n, d) = x.dim();
    if n == 0 {
        return vec![0.0; d];
    }
    let blocks: Vec<(usize, usize)> = (0..n).step_by(ROW_BLOCK).map(|s| (s, (s + ROW_BLOCK).min(n))).collect();
    let partial: Vec<Vec<f64>> = blocks
        .par_iter()
        .map(|&(a, b)| {
            let mut s = vec![0.0f64; d];
            for r in x.slice(ndarray::s![a..b, ..]).rows() {
                s.iter_mut().zip(r).for_each(|(s, &v)| *s += v as f64);
            }
            s
        })
        .collect();
    let mut m = vec![0.0f64; d];
    for p in partial {
        m.iter_mut().zip(p).for_each(|(m, v)| *m += v);
    }
    m.iter_mut().for_each(|m| *m /= n as f64);
    m
}

/// Rows `a..b` of `x` minus `mean`, as a row-major f64 block.
fn centred_block(x: ArrayView2<f32>, mean: &[f64], a: usize, b: usize) -> Vec<f64> {
    let d = x.ncols();
    let mut out = Vec::with_capacity((b - a) * d);
    for r in x.slice(ndarray::s![a..b, ..]).rows() {
        out.extend(r.iter().zip(mean).map(|(&v, &m)| v as f64 - m));
    }
    out
}

/// (X − 1·meanᵀ)ᵀ(X − 1·meanᵀ) (d × d) without an f64 copy of X: rows are converted and centred in blocks of
/// [`XTX_BLOCK`], each block adds its lower-triangular rank-k update (half a GEMM) to one of [`XTX_PARTS`] partial
/// sums (a fixed split of the rows, so the result does not depend on the thread count, and memory stays at
/// `XTX_PARTS` d × d matrices whatever n), and the partials are summed in order and mirrored.
pub fn covariance_blocked(x: ArrayView2<f32>, mean: &[f64]) -> Mat<f64> {
    let (n, d) = x.dim();
    let per_part = n.div_ceil(XTX_PARTS).max(1);
    let parts: Vec<(usize, usize)> = (0..n).step_by(per_part).map(|s| (s, (s + per_part).min(n))).collect();
    let partial: Vec<Mat<f64>> = parts
        .par_iter()
        .map(|&(a, b)| {
            let mut c = Mat::<f64>::zeros(d, d);
            for s in (a..b).step_by(XTX_BLOCK) {
                let e = (s + XTX_BLOCK).min(b);
                let block = centred_block(x, mean, s, e);
                let xb = MatRef::from_row_major_slice(&block, e - s, d);
                add_lower_gram(c.as_mut(), xb);
            }
            c
        })
        .collect();
    let mut acc = Mat::<f64>::zeros(d, d);
    for p in partial {
        for j in 0..d {
            for i in j..d {
                acc[(i, j)] += p[(i, j)];
            }
        }
    }
    mirror_lower(&mut acc);
    acc
}

/// Adds the lower triangle of xbᵀ·xb (a rank-k update, half a GEMM, sequential) to `c`.
pub(crate) fn add_lower_gram(c: faer::MatMut<'_, f64>, xb: MatRef<'_, f64>) {
    use faer::linalg::matmul::triangular::{self, BlockStructure};
    triangular::matmul(
        c,
        BlockStructure::TriangularLower,
        Accum::Add,
        xb.transpose(),
        BlockStructure::Rectangular,
        xb,
        BlockStructure::Rectangular,
        1.0,
        Par::Seq,
    );
}

/// Copies the lower triangle of a square matrix onto its upper triangle.
fn mirror_lower(c: &mut Mat<f64>) {
    let d = c.nrows();
    for j in 0..d {
        for i in j + 1..d {
            c[(j, i)] = c[(i, j)];
        }
    }
}

/// The rows `rows` of `x` minus `mean` in blocks of at most [`XTX_BLOCK`] rows, in order, each handed to `each` as a
/// row-major f64 matrix; returns Σ (x − mean) over the rows (summed row by row in order).
fn centred_blocks(x: ArrayView2<f32>, mean: &[f64], rows: &[usize], mut each: impl FnMut(MatRef<'_, f64>)) -> Vec<f64> {
    let d = x.ncols();
    let mut sum = vec![0.0f64; d];
    let mut block = Vec::with_capacity(XTX_BLOCK.min(rows.len()) * d);
    for chunk in rows.chunks(XTX_BLOCK) {
        block.clear();
        for &i in chunk {
            block.extend(x.row(i).iter().zip(mean).map(|(&v, &m)| v as f64 - m));
        }
        for y in block.chunks(d) {
            sum.iter_mut().zip(y).for_each(|(s, &v)| *s += v);
        }
        each(MatRef::from_row_major_slice(&block, chunk.len(), d));
    }
    sum
}

/// Scatter sums of row groups, for half-sampling without refitting: for each group (a list of row indices),
/// Σ y·yᵀ (d × d, full) and Σ y (d), with y = x − mean. A half made of whole groups then has the centred scatter
/// Σ_g Σy·yᵀ − n_h·ȳ·ȳᵀ (ȳ = Σ_g Σy / n_h) at the cost of a few d × d additions. Groups run in parallel, each
/// sequential in fixed row blocks, so the sums do not depend on the thread count.
pub fn group_scatter(x: ArrayView2<f32>, mean: &[f64], groups: &[Vec<usize>]) -> Vec<(Mat<f64>, Vec<f64>)> {
    let d = x.ncols();
    groups
        .par_iter()
        .map(|rows| {
            let mut c = Mat::<f64>::zeros(d, d);
            let sum = centred_blocks(x, mean, rows, |yb| add_lower_gram(c.as_mut(), yb));
            mirror_lower(&mut c);
            (c, sum)
        })
        .collect()
}

/// What the certified Fukunaga–Olsen count of a half made of whole groups needs, per group of rows (y = x − mean):
/// S·W (d × p, S = Σ y·yᵀ the group's scatter, W a fixed d × p basis), Σ y (d) and trace(S) = Σ ‖y‖². A half's
/// centred scatter C_h = Σ_g S_g − n_h·ȳ·ȳᵀ then has C_h·W and trace(C_h) from a few d × p additions
/// ([`projection_of_groups`]), and the groups cost two thin products (4·n·d·p flops in all) instead of a d × d
/// scatter each (n·d²). Groups run in parallel, each sequential in fixed row blocks (thread-count independent).
pub fn group_projections(
    x: ArrayView2<f32>,
    mean: &[f64],
    groups: &[Vec<usize>],
    w: MatRef<'_, f64>,
) -> Vec<GroupProjection> {
    let (d, p) = (x.ncols(), w.ncols());
    groups
        .par_iter()
        .map(|rows| {
            let mut sw = Mat::<f64>::zeros(d, p);
            let mut trace = 0.0f64;
            let sum = centred_blocks(x, mean, rows, |yb| {
                for r in 0..yb.nrows() {
                    trace += (0..d).map(|j| yb[(r, j)] * yb[(r, j)]).sum::<f64>();
                }
                let mut yw = Mat::<f64>::zeros(yb.nrows(), p);
                faer::linalg::matmul::matmul(yw.as_mut(), Accum::Replace, yb, w, 1.0, Par::Seq);
                faer::linalg::matmul::matmul(sw.as_mut(), Accum::Add, yb.transpose(), yw.as_ref(), 1.0, Par::Seq);
            });
            GroupProjection { sw, sum, trace }
        })
        .collect()
}

/// One group's part of [`group_projections`].
pub struct GroupProjection {
    /// S·W, d × p.
    pub sw: Mat<f64>,
    /// Σ y, d.
    pub sum: Vec<f64>,
    /// trace(S) = Σ ‖y‖².
    pub trace: f64,
}

/// C_h·W and trace(C_h) of the rows in the chosen groups (C_h about the half's own mean when `center`, as
/// [`scatter_of_groups`]), from their [`group_projections`], and the number of those rows.
pub fn projection_of_groups(
    parts: &[GroupProjection],
    sizes: &[usize],
    chosen: &[usize],
    w: MatRef<'_, f64>,
    center: bool,
) -> (Mat<f64>, f64, usize) {
    let (d, p) = (w.nrows(), w.ncols());
    let mut cw = Mat::<f64>::zeros(d, p);
    let mut sum = vec![0.0f64; d];
    let mut trace = 0.0f64;
    let mut n = 0usize;
    for &g in chosen {
        cw += &parts[g].sw;
        sum.iter_mut().zip(&parts[g].sum).for_each(|(s, &v)| *s += v);
        trace += parts[g].trace;
        n += sizes[g];
    }
    if center {
        // C_h·W = Σ S_g·W − n·ȳ·(ȳᵀW); trace(C_h) = Σ trace(S_g) − n·‖ȳ‖².
        let ybar: Vec<f64> = sum.iter().map(|s| s / n as f64).collect();
        for j in 0..p {
            let ybar_w: f64 = (0..d).map(|i| ybar[i] * w[(i, j)]).sum();
            for i in 0..d {
                cw[(i, j)] -= n as f64 * ybar[i] * ybar_w;
            }
        }
        trace -= n as f64 * ybar.iter().map(|v| v * v).sum::<f64>();
    }
    (cw, trace, n)
}

/// The centred scatter (d × d, not divided by n − 1, about the half's own mean when `center`) of the rows in the
/// chosen groups, from their [`group_scatter`] sums, and the number of those rows.
pub fn scatter_of_groups(
    scatter: &[(Mat<f64>, Vec<f64>)],
    sizes: &[usize],
    chosen: &[usize],
    center: bool,
) -> (Mat<f64>, usize) {
    let d = scatter[0].1.len();
    let mut c = Mat::<f64>::zeros(d, d);
    let mut sum = vec![0.0f64; d];
    let mut n = 0usize;
    for &g in chosen {
        c += &scatter[g].0;
        sum.iter_mut().zip(&scatter[g].1).for_each(|(s, &v)| *s += v);
        n += sizes[g];
    }
    if center {
        // Centre on the half's own mean: subtract n·ȳ·ȳᵀ.
        let ybar: Vec<f64> = sum.iter().map(|s| s / n as f64).collect();
        for j in 0..d {
            for i in 0..d {
                c[(i, j)] -= n as f64 * ybar[i] * ybar[j];
            }
        }
    }
    (c, n)
}

/// Spectrum (as [`spectrum`]) of the rows in the chosen groups, from their [`group_scatter`] sums.
pub fn spectrum_of_groups(
    scatter: &[(Mat<f64>, Vec<f64>)],
    sizes: &[usize],
    chosen: &[usize],
    center: bool,
) -> Result<Vec<f64>, DimError> {
    let (c, n) = scatter_of_groups(scatter, sizes, chosen, center);
    let d = c.nrows();
    let (mut vals, _) = sym_eigen(c.as_ref(), false)?;
    vals.truncate(n.min(d));
    let scale = if center { 1.0 / (n as f64 - 1.0).max(1.0) } else { 1.0 };
    Ok(vals.into_iter().map(|v| v.max(0.0) * scale).collect())
}

/// Rows per rank-k update of [`covariance_blocked`].
const XTX_BLOCK: usize = 2048;
/// Fixed number of partial sums of [`covariance_blocked`].
const XTX_PARTS: usize = 4;

fn as_mat(x: &Array2<f64>) -> MatRef<'_, f64> {
    MatRef::from_row_major_slice(x.as_slice().expect("standard layout"), x.nrows(), x.ncols())
}

/// (X − 1·meanᵀ)(X − 1·meanᵀ)ᵀ (n × n) without an f64 copy of X: columns are centred and converted in blocks of
/// [`GRAM_COLS`], and each block's product is added to the output's row blocks in parallel (every entry accumulates
/// the column blocks in order: the result does not depend on the thread count). Memory: the n × n result and one
/// n × `GRAM_COLS` block, whatever d.
pub fn gram_blocked(x: ArrayView2<f32>, mean: &[f64]) -> Array2<f64> {
    let (n, d) = x.dim();
    let mut g = vec![0.0f64; n * n];
    let mut block = vec![0.0f64; n * GRAM_COLS.min(d)];
    for c0 in (0..d).step_by(GRAM_COLS) {
        let w = (c0 + GRAM_COLS).min(d) - c0;
        let blk = &mut block[..n * w];
        blk.par_chunks_mut(w).enumerate().for_each(|(i, out)| {
            let row = x.row(i);
            for (j, o) in out.iter_mut().enumerate() {
                *o = row[c0 + j] as f64 - mean[c0 + j];
            }
        });
        let all = MatRef::from_row_major_slice(blk, n, w);
        g.par_chunks_mut(ROW_BLOCK * n).enumerate().for_each(|(bi, rows)| {
            let h = rows.len() / n;
            let dst = faer::MatMut::from_row_major_slice_mut(rows, h, n);
            faer::linalg::matmul::matmul(
                dst,
                Accum::Add,
                all.subrows(bi * ROW_BLOCK, h),
                all.transpose(),
                1.0,
                Par::Seq,
            );
        });
    }
    Array2::from_shape_vec((n, n), g).expect("n × n values")
}

/// Columns per block of [`gram_blocked`].
const GRAM_COLS: usize = 512;

/// Small dense product A·Bᵀ, sequential (used inside parallel per-point loops).
pub fn abt_seq(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Mat<f64> {
    let mut c = Mat::<f64>::zeros(a.nrows(), b.nrows());
    faer::linalg::matmul::matmul(c.as_mut(), Accum::Replace, a, b.transpose(), 1.0, Par::Seq);
    c
}

/// Eigenvalues (descending) and optionally eigenvectors (columns, same order) of a symmetric matrix; sequential.
pub fn sym_eigen(a: MatRef<'_, f64>, vectors: bool) -> Result<(Vec<f64>, Option<Mat<f64>>), DimError> {
    let n = a.nrows();
    let mut s = Diag::<f64>::zeros(n);
    let mut u = if vectors { Some(Mat::<f64>::zeros(n, n)) } else { None };
    let which = if vectors { ComputeEigenvectors::Yes } else { ComputeEigenvectors::No };
    let mut mem = MemBuffer::new(evd::self_adjoint_evd_scratch::<f64>(n, which, Par::Seq, Default::default()));
    evd::self_adjoint_evd(
        a,
        s.as_mut(),
        u.as_mut().map(|u| u.as_mut()),
        Par::Seq,
        MemStack::new(&mut mem),
        Default::default(),
    )
    .map_err(|e| DimError::Numerical { estimator: "eigen", message: format!("eigendecomposition failed: {e:?}") })?;
    let vals: Vec<f64> = s.column_vector().iter().rev().copied().collect();
    let vecs = u.map(|u| {
        let mut r = Mat::<f64>::zeros(n, n);
        for j in 0..n {
            r.col_mut(j).copy_from(u.col(n - 1 - j));
        }
        r
    });
    Ok((vals, vecs))
}

/// PCA spectrum as scikit-learn's `PCA().fit(X).explained_variance_` (centre = true: σ²/(n−1); min(n, d) values,
/// descending) or, without centring, the squared singular values of X (skdim lPCA `center=False`). With n ≥ d, the
/// d × d scatter by [`crate::moments`] (the partial sums a sharded run combines to the same bits); else the n × n
/// Gram matrix.
pub fn spectrum(x: ArrayView2<f32>, center: bool) -> Result<Vec<f64>, DimError> {
    let (n, d) = x.dim();
    if n >= d {
        return crate::moments::spectrum(x, center);
    }
    let mean = if center { column_means(x) } else { vec![0.0; d] };
    let (mut vals, _) = sym_eigen(as_mat(&gram_blocked(x, &mean)), false)?;
    vals.truncate(n.min(d));
    let scale = if center { 1.0 / (n as f64 - 1.0).max(1.0) } else { 1.0 };
    Ok(vals.into_iter().map(|v| v.max(0.0) * scale).collect())
}

/// Spectrum of a small neighbourhood (rows of a standard-layout f64 matrix), by the Gram trick when it has fewer
/// rows than columns: the k × k Gram matrix has the same nonzero eigenvalues as the d × d covariance.
pub fn local_spectrum(x: &Array2<f64>, center: bool) -> Result<Vec<f64>, DimError> {
    let (n, d) = x.dim();
    let mut xc = x.clone();
    if center {
        for j in 0..d {
            let m = xc.column(j).sum() / n as f64;
            xc.column_mut(j).mapv_inplace(|v| v - m);
        }
    }
    let xc = xc.as_standard_layout().into_owned();
    let xm = as_mat(&xc);
    let m = if n >= d { abt_seq(xm.transpose(), xm.transpose()) } else { abt_seq(xm, xm) };
    let (mut vals, _) = sym_eigen(m.as_ref(), false)?;
    vals.truncate(n.min(d));
    let scale = if center { 1.0 / (n as f64 - 1.0).max(1.0) } else { 1.0 };
    Ok(vals.into_iter().map(|v| v.max(0.0) * scale).collect())
}

/// Principal-component scores of the centred data for the leading components: returns (explained variances of
/// all min(n, d) components, n × r score matrix for the first `r` chosen by `choose(&variances)`).
pub fn pca_scores(x: ArrayView2<f32>, choose: impl Fn(&[f64]) -> usize) -> Result<(Vec<f64>, Array2<f64>), DimError> {
    let (n, d) = x.dim();
    let scale = 1.0 / (n as f64 - 1.0).max(1.0);
    if n >= d {
        let mean = column_means(x);
        let (vals, vecs) = sym_eigen(covariance_blocked(x, &mean).as_ref(), true)?;
        let vals: Vec<f64> = vals.into_iter().take(n.min(d)).map(|v| v.max(0.0) * scale).collect();
        let r = choose(&vals).min(vals.len());
        let v = vecs.expect("vectors requested");
        let v = v.as_ref().subcols(0, r);
        // Scores block by block (no f64 copy of the data).
        let mut scores = Array2::<f64>::zeros((n, r));
        scores.axis_chunks_iter_mut(ndarray::Axis(0), XTX_BLOCK).into_par_iter().enumerate().for_each(
            |(b, mut out)| {
                let a = b * XTX_BLOCK;
                let e = a + out.nrows();
                let block = centred_block(x, &mean, a, e);
                let xb = MatRef::from_row_major_slice(&block, e - a, d);
                let mut sb = Mat::<f64>::zeros(e - a, r);
                faer::linalg::matmul::matmul(sb.as_mut(), Accum::Replace, xb, v, 1.0, Par::Seq);
                out.indexed_iter_mut().for_each(|((i, j), o)| *o = sb[(i, j)]);
            },
        );
        Ok((vals, scores))
    } else {
        // Scores are U·S: the Gram matrix's eigenvectors scaled by the singular values.
        let g = gram_blocked(x, &column_means(x));
        let (vals, vecs) = sym_eigen(as_mat(&g), true)?;
        let sv: Vec<f64> = vals.iter().map(|v| v.max(0.0).sqrt()).collect();
        let vals: Vec<f64> = vals.into_iter().take(n.min(d)).map(|v| v.max(0.0) * scale).collect();
        let r = choose(&vals).min(vals.len());
        let u = vecs.expect("vectors requested");
        Ok((vals, Array2::from_shape_fn((n, r), |(i, j)| u[(i, j)] * sv[j])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Row-major f64 copy of the data, optionally centred (the direct products the blocked ones are checked against).
    fn centred_f64(x: ArrayView2<f32>, center: bool) -> Array2<f64> {
        let mean = if center { column_means(x) } else { vec![0.0; x.ncols()] };
        Array2::from_shape_vec(x.dim(), centred_block(x, &mean, 0, x.nrows())).unwrap()
    }

    #[test]
    fn blocked_covariance_equals_the_direct_product() {
        // Several blocks and parts (n = 9000 > 4 × 2048), centred about the column means.
        let x = Array2::from_shape_fn((9000, 7), |(i, j)| ((i * 31 + j * 17) % 101) as f32 * 0.01 + j as f32);
        let mean = column_means(x.view());
        let c = covariance_blocked(x.view(), &mean);
        let xc = centred_f64(x.view(), true);
        let direct = xc.t().dot(&xc);
        for i in 0..7 {
            for j in 0..7 {
                assert!((c[(i, j)] - direct[[i, j]]).abs() <= 1e-9 * direct[[i, i]].max(1.0), "({i}, {j})");
            }
        }
    }

    #[test]
    fn blocked_gram_equals_the_direct_product() {
        // More columns than one block (d = 1100 > 512), centred about the column means.
        let x = Array2::from_shape_fn((37, 1100), |(i, j)| ((i * 13 + j * 7) % 29) as f32 * 0.1 - 1.0);
        let g = gram_blocked(x.view(), &column_means(x.view()));
        let xc = centred_f64(x.view(), true);
        let direct = xc.dot(&xc.t());
        for ((i, j), v) in direct.indexed_iter() {
            assert!((g[[i, j]] - v).abs() <= 1e-9 * direct[[i, i]].max(1.0), "({i}, {j})");
        }
    }

    #[test]
    fn spectrum_matches_both_tricks() {
        // Tall and wide versions of the same data have the same nonzero spectrum.
        let x = Array2::from_shape_fn((6, 4), |(i, j)| ((i * 7 + j * 3) % 5) as f32 + 0.1 * (i * j) as f32);
        let s_tall = spectrum(x.view(), true).unwrap();
        assert_eq!(s_tall.len(), 4);
        let local = local_spectrum(&x.mapv(|v| v as f64), true).unwrap();
        for (a, b) in s_tall.iter().zip(&local) {
            assert!((a - b).abs() < 1e-10 * s_tall[0]);
        }
        let total: f64 = s_tall.iter().sum();
        let xc = centred_f64(x.view(), true);
        let var: f64 = xc.iter().map(|v| v * v).sum::<f64>() / 5.0;
        assert!((total - var).abs() < 1e-10 * var);
        let xt = x.t().to_owned();
        let wide = spectrum(xt.view(), false).unwrap();
        let tall = spectrum(x.view(), false).unwrap();
        for (a, b) in wide.iter().zip(&tall) {
            assert!((a - b).abs() < 1e-9 * tall[0]);
        }
        let (vals, scores) = pca_scores(x.view(), |_| 2).unwrap();
        assert_eq!(scores.dim(), (6, 2));
        let v0: f64 = scores.column(0).iter().map(|v| v * v).sum::<f64>() / 5.0;
        assert!((v0 - vals[0]).abs() < 1e-9 * vals[0]);
    }

    #[test]
    fn group_sums_give_the_spectrum_of_the_chosen_rows() {
        // Uneven groups (one spans several row blocks), centred and uncentred: the spectrum recombined from the
        // groups' scatter sums equals the spectrum of the selected rows computed directly.
        let x = Array2::from_shape_fn((5000, 9), |(i, j)| {
            ((i * 37 + j * 11) % 97) as f32 * 0.02 + (j as f32) * ((i % 7) as f32 - 3.0)
        });
        let groups: Vec<Vec<usize>> = vec![
            (0..5000).filter(|i| i % 3 == 0).collect(),
            (0..5000).filter(|i| i % 3 == 1).collect(),
            (0..5000).filter(|i| i % 3 == 2 && *i < 2500).collect(),
            (0..5000).filter(|i| i % 3 == 2 && *i >= 2500).collect(),
        ];
        let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
        for center in [true, false] {
            let mean = if center { column_means(x.view()) } else { vec![0.0; 9] };
            let scatter = group_scatter(x.view(), &mean, &groups);
            for chosen in [vec![0, 2], vec![1, 3], vec![0, 1, 2, 3]] {
                let mut rows: Vec<usize> = chosen.iter().flat_map(|&g| groups[g].iter().copied()).collect();
                rows.sort_unstable();
                let direct = spectrum(x.select(ndarray::Axis(0), &rows).view(), center).unwrap();
                let from_groups = spectrum_of_groups(&scatter, &sizes, &chosen, center).unwrap();
                assert_eq!(direct.len(), from_groups.len());
                for (a, b) in direct.iter().zip(&from_groups) {
                    assert!((a - b).abs() <= 1e-9 * direct[0], "center {center}, groups {chosen:?}: {a} vs {b}");
                }
            }
        }
    }
}
