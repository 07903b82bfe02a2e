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
//!
//! # Planning (how many coordinates, and whether pruning pays at all)
//! The thread time of the search is `n_q · n_ref · (a·m + c)` for the bounds plus `n_q · C(m) · (e·d + f)` for the
//! exact refinements, where `C(m)` is the mean number of candidates the bound with m coordinates cannot exclude.
//! More coordinates make the bound tighter (fewer candidates) and its GEMM larger. [`plan`] measures `C(m)` for
//! m ∈ {4, 8, 12, 16, 24, 32, 48} on [`PLAN_QUERIES`] evenly spaced queries (their exact k-th distance comes from
//! the pruned search itself; it stops after 16 queries when not even 48 coordinates prune), and compares the
//! cheapest prediction with brute force's `n_q · n_ref · (b·d + s)`. The unit costs are CPU times fitted on a
//! 2-core x86-64 machine (faer's AVX-512 kernels, the crate's own loops compiled for baseline x86-64 with an AVX2
//! refinement kernel); they only steer the choice — every strategy returns the same answer.

use std::borrow::Cow;

use faer::{Accum, Mat, MatMut, MatRef, Par, Side};
use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use crate::{column_mean, contiguous, exact_d2, finish, Cand, KnnOptions, TopK};

/// Largest number of principal coordinates used for the bound.
pub(crate) const MAX_DIMS: usize = 48;
/// Coordinate counts the planner considers.
const CANDIDATE_DIMS: [usize; 7] = [4, 8, 12, 16, 24, 32, 48];
/// Queries the planner measures.
pub(crate) const PLAN_QUERIES: usize = 128;
/// Rows of the subsample used to estimate the principal directions.
const SUBSAMPLE: usize = 1024;
/// Most reference rows per bound GEMM (fewer when [`KnnOptions::reference_block`] is smaller): the f64 bound
/// block of a query block then stays in the L2 cache, and each query's threshold tightens after every 256 rows.
/// On Fashion-MNIST train (60 000 × 784, k = 20, 48 coordinates) the search took 0.75× the CPU time with 256 rows
/// as with 2048 (on its first 15 000 rows 0.6–0.7×; 128 rows no better, 512 in between).
pub(crate) const REFERENCE_BLOCK: usize = 256;
/// Relative slack on the lower bound, in units of (‖q‖² + ‖r‖²) of the centred rows.
const SLACK: f64 = 1e-6;

// Unit costs (ns of one thread) of the cost model, fitted to CPU times of brute and pruned searches on 10 000 rows
// (8-D subspace and power-law spectra in R^1024, isotropic noise in R^64 and R^1024), k = 10.
/// Brute force: f32 GEMM, per pair and dimension.
const BRUTE_PER_PAIR_DIM: f64 = 0.022;
/// Brute force: distance assembly and top-k admission test, per pair.
const BRUTE_PER_PAIR: f64 = 3.3;
/// Pruned: f64 GEMM of the bound, per pair and coordinate.
const BOUND_PER_PAIR_DIM: f64 = 0.02;
/// Pruned: bound assembly and filtering, per pair.
const BOUND_PER_PAIR: f64 = 5.0;
/// Pruned: exact refinement, per candidate and dimension …
const REFINE_PER_DIM: f64 = 0.17;
/// … and per candidate (ordering, bookkeeping).
const REFINE_PER_CANDIDATE: f64 = 30.0;
/// The blockwise search refines more candidates than the final bound admits (its early thresholds are looser).
const REFINE_EXCESS: f64 = 1.5;

/// Reference and query rows in principal coordinates (up to [`MAX_DIMS`] of them).
pub(crate) struct Prepared<'a> {
    d: usize,
    self_mode: bool,
    ref_raw: Cow<'a, [f32]>,
    q_raw: Cow<'a, [f32]>,
    m_max: usize,
    ref_p: Vec<f64>,
    ref_n2: Vec<f64>,
    /// Empty in self mode (the reference arrays serve).
    q_p: Vec<f64>,
    q_n2: Vec<f64>,
}

impl<'a> Prepared<'a> {
    pub(crate) fn new(
        reference: ArrayView2<'a, f32>,
        query: ArrayView2<'a, f32>,
        self_mode: bool,
        m_max: usize,
    ) -> Self {
        let d = reference.ncols();
        let ref_raw = contiguous(reference);
        let q_raw = if self_mode { ref_raw.clone() } else { contiguous(query) };
        let mean = column_mean(&ref_raw, d);
        let basis = principal_basis(&ref_raw, d, &mean, m_max.clamp(1, d));
        let m_max = basis.ncols();
        let (ref_p, ref_n2) = project(&ref_raw, d, &mean, basis.as_ref());
        let (q_p, q_n2) = if self_mode { (Vec::new(), Vec::new()) } else { project(&q_raw, d, &mean, basis.as_ref()) };
        Prepared { d, self_mode, ref_raw, q_raw, m_max, ref_p, ref_n2, q_p, q_n2 }
    }

    fn n_ref(&self) -> usize {
        self.ref_n2.len()
    }
    fn n_q(&self) -> usize {
        if self.self_mode {
            self.n_ref()
        } else {
            self.q_n2.len()
        }
    }
    fn query_coords(&self) -> (&[f64], &[f64]) {
        if self.self_mode {
            (&self.ref_p, &self.ref_n2)
        } else {
            (&self.q_p, &self.q_n2)
        }
    }
}

/// Rows cut to their first m principal coordinates.
struct Truncated {
    m: usize,
    /// Row-major n × m.
    p: Vec<f64>,
    /// ‖p‖² over the m coordinates.
    pn: Vec<f64>,
    /// Residual norm outside the m coordinates.
    rho: Vec<f64>,
    /// Squared norm of the centred row.
    n2: Vec<f64>,
}

fn truncate(p: &[f64], n2: &[f64], m_max: usize, m: usize) -> Truncated {
    let n = n2.len();
    let mut out = Vec::with_capacity(n * m);
    let mut pn = Vec::with_capacity(n);
    let mut rho = Vec::with_capacity(n);
    for (row, &x2) in p.chunks_exact(m_max).zip(n2) {
        let s: f64 = row[..m].iter().map(|x| x * x).sum();
        out.extend_from_slice(&row[..m]);
        pn.push(s);
        rho.push((x2 - s).max(0.0).sqrt());
    }
    Truncated { m, p: out, pn, rho, n2: n2.to_vec() }
}

/// Exact top-k lists of the query rows `rows`, by bounds over `q`/`r`'s coordinates.
fn search_rows(prep: &Prepared, q: &Truncated, r: &Truncated, rows: &[usize], k: usize, br: usize) -> Vec<TopK> {
    let (d, m, n_ref) = (prep.d, q.m, prep.n_ref());
    let w_q = rows.len();
    let mut q_rows = Vec::with_capacity(w_q * m);
    for &qi in rows {
        q_rows.extend_from_slice(&q.p[qi * m..(qi + 1) * m]);
    }
    let qb = MatRef::from_row_major_slice(&q_rows, w_q, m);
    let mut tops: Vec<TopK> = (0..w_q).map(|_| TopK::new(k)).collect();
    let mut buf = vec![0.0f64; br * w_q];
    let mut order: Vec<(f64, usize)> = Vec::with_capacity(br);
    let mut lbs = vec![0.0f64; br];
    for r0 in (0..n_ref).step_by(br) {
        let r1 = (r0 + br).min(n_ref);
        let w = r1 - r0;
        let rb = MatRef::from_row_major_slice(&r.p[r0 * m..r1 * m], w, m);
        let g = MatMut::from_column_major_slice_mut(&mut buf[..w * w_q], w, w_q);
        faer::linalg::matmul::matmul(g, Accum::Replace, rb, qb.transpose(), 1.0f64, Par::Seq);
        for ((i, top), &qi) in tops.iter_mut().enumerate().zip(rows) {
            let col = &buf[i * w..(i + 1) * w];
            let qv = &prep.q_raw[qi * d..(qi + 1) * d];
            let thr = top.threshold();
            order.clear();
            // Branch-free pass (vectorises), then a filtering pass.
            let (qpn, qr, qn2) = (q.pn[qi], q.rho[qi], q.n2[qi]);
            let (rpn, rr, rn2) = (&r.pn[r0..r1], &r.rho[r0..r1], &r.n2[r0..r1]);
            for ((((lb, &g), &p), &rh), &n2) in lbs[..w].iter_mut().zip(col).zip(rpn).zip(rr).zip(rn2) {
                let dr = qr - rh;
                *lb = (qpn + p - 2.0 * g).max(0.0) + dr * dr - SLACK * (qn2 + n2);
            }
            if prep.self_mode && (r0..r1).contains(&qi) {
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
                    top.push(Cand { d2: exact_d2(qv, &prep.ref_raw[j * d..(j + 1) * d]), j });
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
                top.push(Cand { d2: exact_d2(qv, &prep.ref_raw[j * d..(j + 1) * d]), j });
            }
        }
    }
    tops
}

/// The search with the first `m` principal coordinates.
pub(crate) fn search(prep: &Prepared, k: usize, m: usize, opts: &KnnOptions) -> (Array2<usize>, Array2<f32>) {
    let m = m.clamp(1, prep.m_max);
    let r = truncate(&prep.ref_p, &prep.ref_n2, prep.m_max, m);
    let (qp, qn2) = prep.query_coords();
    let q_own;
    let q = if prep.self_mode {
        &r
    } else {
        q_own = truncate(qp, qn2, prep.m_max, m);
        &q_own
    };
    let n_q = prep.n_q();
    let bq = opts.query_block;
    let br = opts.reference_block.min(REFERENCE_BLOCK).min(prep.n_ref());
    let blocks: Vec<Vec<usize>> = (0..n_q).step_by(bq).map(|s| (s..(s + bq).min(n_q)).collect()).collect();
    let per_block: Vec<Vec<(Vec<usize>, Vec<f32>)>> = blocks
        .par_iter()
        .map(|rows| search_rows(prep, q, &r, rows, k, br).into_iter().map(|t| finish(t.into_sorted(), k)).collect())
        .collect();
    crate::assemble(per_block.into_iter().flatten(), n_q, k)
}

/// What the planner decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Plan {
    /// Principal coordinates of the cheapest pruned search.
    pub dims: usize,
    /// Predicted seconds of thread time: pruned (with `dims`) and brute force.
    pub pruned_cost: f64,
    pub brute_cost: f64,
}

/// Measures how many candidates survive the bound on a sample of queries and predicts the cost of the pruned search
/// for each coordinate count and of brute force (see the module docs).
pub(crate) fn plan(prep: &Prepared, k: usize, opts: &KnnOptions) -> Plan {
    let (n_q, n_ref, d, m_max) = (prep.n_q(), prep.n_ref(), prep.d, prep.m_max);
    let s = n_q.min(PLAN_QUERIES);
    let sample: Vec<usize> = (0..s).map(|i| i * n_q / s).collect();
    let r = truncate(&prep.ref_p, &prep.ref_n2, m_max, m_max);
    let (qp, qn2) = prep.query_coords();
    let q_own;
    let q = if prep.self_mode {
        &r
    } else {
        q_own = truncate(qp, qn2, m_max, m_max);
        &q_own
    };
    let br = opts.reference_block.min(REFERENCE_BLOCK).min(n_ref);
    let dims: Vec<usize> = CANDIDATE_DIMS.iter().copied().filter(|&m| m < m_max).chain([m_max]).collect();
    let pairs = n_q as f64 * n_ref as f64;
    let brute_cost = pairs * (BRUTE_PER_PAIR_DIM * d as f64 + BRUTE_PER_PAIR) * 1e-9;
    let refine_cost = REFINE_EXCESS * (REFINE_PER_DIM * d as f64 + REFINE_PER_CANDIDATE) * 1e-9;
    let bound_cost = |m: usize| pairs * (BOUND_PER_PAIR_DIM * m as f64 + BOUND_PER_PAIR) * 1e-9;
    // Residual norms outside each candidate coordinate count, per row.
    let residuals = |p: &[f64], n2: &[f64]| -> Vec<Vec<f64>> {
        p.chunks_exact(m_max)
            .zip(n2)
            .map(|(row, &x2)| {
                dims.iter().map(|&m| (x2 - row[..m].iter().map(|x| x * x).sum::<f64>()).max(0.0).sqrt()).collect()
            })
            .collect()
    };
    let r_rho = residuals(&prep.ref_p, &prep.ref_n2);
    // Candidates admitted by each bound, for one sample query (its exact k-th distance from the pruned search).
    let count = |qi: usize, tau: f64| -> Vec<usize> {
        let qrow = &qp[qi * m_max..(qi + 1) * m_max];
        let q_rho = &residuals(qrow, &qn2[qi..qi + 1])[0];
        let mut count = vec![0usize; dims.len()];
        for (j, rrow) in prep.ref_p.chunks_exact(m_max).enumerate() {
            if prep.self_mode && j == qi {
                continue;
            }
            let slack = SLACK * (qn2[qi] + prep.ref_n2[j]);
            let mut acc = 0.0;
            let mut c = 0;
            for (t, &m) in dims.iter().enumerate() {
                while c < m {
                    let diff = qrow[c] - rrow[c];
                    acc += diff * diff;
                    c += 1;
                }
                let dr = q_rho[t] - r_rho[j][t];
                if acc + dr * dr - slack > tau {
                    break;
                }
                count[t] += 1;
            }
        }
        count
    };
    let measure = |rows: &[usize]| -> Vec<Vec<usize>> {
        let chunks: Vec<&[usize]> = rows.chunks(8).collect();
        chunks
            .par_iter()
            .flat_map_iter(|rows| {
                let tops = search_rows(prep, q, &r, rows, k, br);
                rows.iter().zip(tops).map(|(&qi, t)| count(qi, t.threshold())).collect::<Vec<_>>()
            })
            .collect()
    };
    // Stage 1 on a few queries: when even all coordinates leave most rows as candidates (isotropic data), stop
    // here instead of paying for hopeless pruned searches of the whole sample.
    let first = s.min(16);
    let mut counts = measure(&sample[..first]);
    let mean_all = counts.iter().map(|c| c[dims.len() - 1] as f64).sum::<f64>() / first.max(1) as f64;
    if bound_cost(m_max) + n_q as f64 * mean_all * refine_cost >= brute_cost {
        return Plan { dims: m_max, pruned_cost: bound_cost(m_max) + n_q as f64 * mean_all * refine_cost, brute_cost };
    }
    counts.extend(measure(&sample[first..]));
    let mut best = Plan { dims: m_max, pruned_cost: f64::INFINITY, brute_cost };
    for (t, &m) in dims.iter().enumerate() {
        let mean_cands = counts.iter().map(|c| c[t] as f64).sum::<f64>() / s.max(1) as f64;
        let cost = bound_cost(m) + n_q as f64 * mean_cands * refine_cost;
        if cost < best.pruned_cost {
            best.dims = m;
            best.pruned_cost = cost;
        }
    }
    best
}

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

/// Orthonormal basis of the column space of `a` (modified Gram–Schmidt, twice, so it is orthonormal to f64
/// precision; dependent columns dropped).
fn orthonormal_columns(a: MatRef<f64>) -> Mat<f64> {
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

/// Principal coordinates (row-major n × m) and squared norms of the centred rows (f64).
fn project(raw: &[f32], d: usize, mean: &[f64], basis: MatRef<f64>) -> (Vec<f64>, Vec<f64>) {
    let n = raw.len() / d;
    let m = basis.ncols();
    const ROWS: usize = 512;
    let parts: Vec<(Vec<f64>, Vec<f64>)> = (0..n)
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
            (coords, n2)
        })
        .collect();
    let mut coords = Vec::with_capacity(n * m);
    let mut n2 = Vec::with_capacity(n);
    for (c, q) in parts {
        coords.extend(c);
        n2.extend(q);
    }
    (coords, n2)
}
