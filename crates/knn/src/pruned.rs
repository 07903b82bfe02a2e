//! Exact kNN with principal-coordinate lower bounds.
//!
//! Let V (d × m) be an orthonormal basis of the leading principal directions (estimated on a deterministic subsample:
//! any orthonormal basis keeps the bound valid, a good one makes it tight). For centred rows x, y with projections
//! p = Vᵀx and residual norms ρ = ‖x − Vp‖:
//!
//! ‖x − y‖² = ‖p_x − p_y‖² + ‖(x − Vp_x) − (y − Vp_y)‖² ≥ ‖p_x − p_y‖² + (ρ_x − ρ_y)²  =: LB(x, y).
//!
//! LB for a query block against a reference block is one small f64 GEMM over m coordinates. Per query, candidates are
//! visited in increasing LB order and refined exactly (the same f64 evaluation brute force uses, so the answers are
//! bit-identical) until the next LB exceeds the current k-th exact distance. A small relative slack absorbs the f64
//! rounding of the projection and of the residual norms.

use faer::{Accum, Mat, MatMut, MatRef, Par, Side};
use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use crate::{column_mean, contiguous, exact_d2, finish, Cand, KnnOptions, TopK};

/// Principal coordinates used for the bound.
pub(crate) fn pruning_dims(opts: &KnnOptions, d: usize) -> usize {
    if opts.pruning_dims == 0 {
        d.min(48)
    } else {
        opts.pruning_dims.min(d)
    }
}

/// Rows of the subsample used to estimate the principal directions.
const SUBSAMPLE: usize = 1024;
/// Relative slack on the lower bound, in units of (‖q‖² + ‖r‖²) of the centred rows.
const SLACK: f64 = 1e-6;

pub(crate) fn search(
    reference: ArrayView2<f32>,
    query: ArrayView2<f32>,
    k: usize,
    self_mode: bool,
    opts: &KnnOptions,
    basis: Option<Mat<f64>>,
) -> (Array2<usize>, Array2<f32>) {
    let d = reference.ncols();
    let n_ref = reference.nrows();
    let n_q = query.nrows();
    let ref_raw = contiguous(reference);
    let q_raw = if self_mode { ref_raw.clone() } else { contiguous(query) };
    let mean = column_mean(&ref_raw, d);
    let basis = match basis {
        Some(b) => b,
        None => principal_basis(&ref_raw, d, &mean, pruning_dims(opts, d)).0,
    };
    let m = basis.ncols();
    let (ref_p, ref_rho, ref_n2) = project(&ref_raw, d, &mean, basis.as_ref());
    let (q_p, q_rho, q_n2) = if self_mode {
        (ref_p.clone(), ref_rho.clone(), ref_n2.clone())
    } else {
        project(&q_raw, d, &mean, basis.as_ref())
    };
    let ref_pn: Vec<f64> = ref_p.chunks_exact(m).map(|r| r.iter().map(|x| x * x).sum()).collect();
    let q_pn: Vec<f64> = q_p.chunks_exact(m).map(|r| r.iter().map(|x| x * x).sum()).collect();

    let bq = opts.query_block;
    let br = opts.reference_block.min(n_ref);
    let blocks: Vec<(usize, usize)> = (0..n_q).step_by(bq).map(|s| (s, (s + bq).min(n_q))).collect();
    let per_block: Vec<Vec<(Vec<usize>, Vec<f32>)>> = blocks
        .par_iter()
        .map(|&(q0, q1)| {
            let w_q = q1 - q0;
            let qb = MatRef::from_row_major_slice(&q_p[q0 * m..q1 * m], w_q, m);
            let mut tops: Vec<TopK> = (0..w_q).map(|_| TopK::new(k)).collect();
            let mut buf = vec![0.0f64; br * w_q];
            let mut order: Vec<(f64, usize)> = Vec::with_capacity(br);
            let mut lbs = vec![0.0f64; br];
            for r0 in (0..n_ref).step_by(br) {
                let r1 = (r0 + br).min(n_ref);
                let w = r1 - r0;
                let rb = MatRef::from_row_major_slice(&ref_p[r0 * m..r1 * m], w, m);
                let g = MatMut::from_column_major_slice_mut(&mut buf[..w * w_q], w, w_q);
                faer::linalg::matmul::matmul(g, Accum::Replace, rb, qb.transpose(), 1.0f64, Par::Seq);
                for (i, top) in tops.iter_mut().enumerate() {
                    let qi = q0 + i;
                    let col = &buf[i * w..(i + 1) * w];
                    let q = &q_raw[qi * d..(qi + 1) * d];
                    let thr = top.threshold();
                    order.clear();
                    // Branch-free pass (vectorises), then a filtering pass.
                    let (qpn, qr, qn2) = (q_pn[qi], q_rho[qi], q_n2[qi]);
                    let (rpn, rr, rn2) = (&ref_pn[r0..r1], &ref_rho[r0..r1], &ref_n2[r0..r1]);
                    for ((((lb, &g), &p), &r), &n2) in lbs[..w].iter_mut().zip(col).zip(rpn).zip(rr).zip(rn2) {
                        let dr = qr - r;
                        *lb = (qpn + p - 2.0 * g).max(0.0) + dr * dr - SLACK * (qn2 + n2);
                    }
                    if self_mode && (r0..r1).contains(&qi) {
                        lbs[qi - r0] = f64::INFINITY;
                    }
                    for (jj, &lb) in lbs[..w].iter().enumerate() {
                        if lb <= thr {
                            order.push((lb, r0 + jj));
                        }
                    }
                    let by_lb = |a: &(f64, usize), b: &(f64, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
                    if top.len() < k && order.len() > 4 * k {
                        // No bound yet: refine the k best lower bounds first (partial selection, no full sort),
                        // then keep only the candidates that can still beat the k-th exact distance.
                        order.select_nth_unstable_by(k - 1, by_lb);
                        for &(_, j) in &order[..k] {
                            top.push(Cand { d2: exact_d2(q, &ref_raw[j * d..(j + 1) * d]), j });
                        }
                        let tau = top.threshold();
                        order.drain(..k);
                        order.retain(|&(lb, _)| lb <= tau);
                    }
                    order.sort_unstable_by(by_lb);
                    for &(lb, j) in &order {
                        if lb > top.threshold() {
                            break;
                        }
                        let d2 = exact_d2(q, &ref_raw[j * d..(j + 1) * d]);
                        top.push(Cand { d2, j });
                    }
                }
            }
            tops.into_iter().map(|t| finish(t.into_sorted(), k)).collect()
        })
        .collect();

    let mut indices = Array2::<usize>::zeros((n_q, k));
    let mut distances = Array2::<f32>::zeros((n_q, k));
    for (row, (idx, dist)) in per_block.into_iter().flatten().enumerate() {
        indices.row_mut(row).iter_mut().zip(idx).for_each(|(a, b)| *a = b);
        distances.row_mut(row).iter_mut().zip(dist).for_each(|(a, b)| *a = b);
    }
    (indices, distances)
}

/// Orthonormal d × m basis of the leading principal directions of an evenly spaced subsample (f64).
/// Also returns the fraction of the subsample's variance left outside the basis.
pub(crate) fn principal_basis(raw: &[f32], d: usize, mean: &[f64], m: usize) -> (Mat<f64>, f64) {
    let n = raw.len() / d;
    let s = n.min(SUBSAMPLE);
    // s × d centred subsample, rows evenly spaced through the data (deterministic).
    let sample = Mat::<f64>::from_fn(s, d, |i, c| {
        let row = i * n / s;
        raw[row * d + c] as f64 - mean[c]
    });
    // Gram matrix (s × s) and its eigenvectors: V = Sᵀ U Λ^{-1/2} spans the top right singular vectors.
    let mut gram = Mat::<f64>::zeros(s, s);
    faer::linalg::matmul::matmul(
        gram.as_mut(),
        Accum::Replace,
        sample.as_ref(),
        sample.transpose(),
        1.0,
        Par::rayon(0),
    );
    let mut cols: Vec<Vec<f64>> = Vec::with_capacity(m);
    let total: f64 = (0..s).map(|i| gram[(i, i)]).sum();
    let mut captured = 0.0;
    if let Ok(eig) = gram.self_adjoint_eigen(Side::Lower) {
        let u = eig.U();
        let lambda = eig.S().column_vector();
        let top = lambda.nrows();
        let scale = lambda[top - 1].abs().max(f64::MIN_POSITIVE);
        for t in 0..m.min(top) {
            let idx = top - 1 - t;
            if lambda[idx] <= scale * 1e-12 {
                break;
            }
            captured += lambda[idx];
            let mut v = vec![0.0f64; d];
            for i in 0..s {
                let w = u[(i, idx)];
                if w != 0.0 {
                    for (vc, c) in v.iter_mut().zip(0..d) {
                        *vc += w * sample[(i, c)];
                    }
                }
            }
            cols.push(v);
        }
    }
    // Modified Gram–Schmidt, twice, so the basis is orthonormal to f64 precision (the bound relies on it).
    let mut basis: Vec<Vec<f64>> = Vec::with_capacity(cols.len());
    for mut v in cols {
        for _ in 0..2 {
            for b in &basis {
                let dot: f64 = v.iter().zip(b).map(|(x, y)| x * y).sum();
                v.iter_mut().zip(b).for_each(|(x, y)| *x -= dot * y);
            }
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 1e-8 {
            v.iter_mut().for_each(|x| *x /= norm);
            basis.push(v);
        }
    }
    if basis.is_empty() {
        // Constant data: any unit vector is a valid (if useless) basis.
        let mut e = vec![0.0; d];
        e[0] = 1.0;
        basis.push(e);
    }
    let residual = if total > 0.0 { ((total - captured) / total).max(0.0) } else { 0.0 };
    (Mat::from_fn(d, basis.len(), |r, c| basis[c][r]), residual)
}

/// Principal coordinates (row-major n × m), residual norms and squared norms of the centred rows (f64).
fn project(raw: &[f32], d: usize, mean: &[f64], basis: MatRef<f64>) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let n = raw.len() / d;
    let m = basis.ncols();
    const ROWS: usize = 512;
    let parts: Vec<(Vec<f64>, Vec<f64>, Vec<f64>)> = (0..n)
        .step_by(ROWS)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|r0| {
            let r1 = (r0 + ROWS).min(n);
            let h = r1 - r0;
            let x = Mat::<f64>::from_fn(h, d, |i, c| raw[(r0 + i) * d + c] as f64 - mean[c]);
            let mut p = Mat::<f64>::zeros(h, m);
            faer::linalg::matmul::matmul(p.as_mut(), Accum::Replace, x.as_ref(), basis, 1.0, Par::Seq);
            let mut coords = Vec::with_capacity(h * m);
            let mut rho = Vec::with_capacity(h);
            let mut n2 = Vec::with_capacity(h);
            for i in 0..h {
                let mut pn = 0.0;
                for c in 0..m {
                    coords.push(p[(i, c)]);
                    pn += p[(i, c)] * p[(i, c)];
                }
                let xn: f64 = (0..d).map(|c| x[(i, c)] * x[(i, c)]).sum();
                rho.push((xn - pn).max(0.0).sqrt());
                n2.push(xn);
            }
            (coords, rho, n2)
        })
        .collect();
    let mut coords = Vec::with_capacity(n * m);
    let mut rho = Vec::with_capacity(n);
    let mut n2 = Vec::with_capacity(n);
    for (c, r, q) in parts {
        coords.extend(c);
        rho.extend(r);
        n2.extend(q);
    }
    (coords, rho, n2)
}
