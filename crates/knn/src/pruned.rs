//! Exact kNN with principal-coordinate lower bounds, skipping whole reference blocks.
//!
//! Let V (d × m) be an orthonormal basis of the leading principal directions (estimated on a deterministic subsample:
//! any orthonormal basis keeps the bound valid, a good one makes it tight). For centred rows x, y with projections
//! p = Vᵀx and residual norms ρ = ‖x − Vp‖:
//!
//! ‖x − y‖² = ‖p_x − p_y‖² + ‖(x − Vp_x) − (y − Vp_y)‖² ≥ ‖p_x − p_y‖² + (ρ_x − ρ_y)²  =: LB(x, y).
//!
//! The reference rows are ordered into spatially compact blocks of [`REFERENCE_BLOCK`] rows (a recursive split along
//! principal axes, see `blocks.rs`), and in self mode the query blocks are those same blocks. For each query block:
//! 1. a ball/box bound of each query against each whole reference block (over [`MAX_DIMS`] coordinates); reference
//!    blocks are visited in increasing order of their smallest bound over the query block, and a query skips a
//!    block whose bound exceeds its current k-th distance (the visit stops when every query skips);
//! 2. for the queries that visit a block, LB over the first m coordinates of every (query, row) pair by one small f64
//!    GEMM;
//! 3. for each candidate LB admits, a second, tighter bound over [`SECOND_DIMS`] coordinates (f32 coordinates and
//!    sums, f64 sums for data beyond f32's safe range), and the candidates it admits wait, per query, for their
//!    exact distance;
//! 4. the waiting candidates are refined exactly (the same f64 evaluation brute force uses, so the answers are
//!    bit-identical), smallest second bound first, until the next bound exceeds the k-th exact distance.
//!
//! A bound only excludes a row when it strictly exceeds the current k-th distance, which never increases, so every
//! row of the answer (ties to the smaller index included) is refined whatever the visit order: the answer is that of
//! brute force. A small relative slack absorbs the rounding of the projections, residual norms and sums. Query blocks
//! run in parallel and each is searched sequentially, so nothing depends on the thread count.
//!
//! # Planning (how many coordinates, and whether pruning pays at all)
//! The thread time of the search is modelled as `n_q · nb · M · z` for the block bounds (nb blocks, M = [`MAX_DIMS`]),
//! `n_q · n_ref · V · (a·m + c)` for the pair bounds (V: fraction of (query, block) pairs visited),
//! `n_q · C1(m) · (e2·m2 + f2)` for the second bounds and `n_q · C2 · (e·d + f)` for the exact refinements, where C1 and
//! C2 are the mean numbers of candidates the first and second bounds cannot exclude. [`plan`] measures V, C1(m) for
//! m ∈ {4, 8, 12, 16, 24, 32, 48} and C2 on [`PLAN_QUERIES`] queries (16 groups of 8 neighbouring rows; their exact
//! k-th distances from the search itself, V, C1 and C2 at those distances, times fitted excess factors for the looser
//! thresholds of the search), and compares the cheapest prediction with brute force's `n_q · n_ref · (b·d + s)`. The
//! unit costs are CPU times fitted on a 2-core x86-64 machine (faer's AVX-512 kernels, the crate's own loops compiled
//! for baseline x86-64 with AVX2 kernels); they only steer the choice — every strategy returns the same answer.

use std::borrow::Cow;
use std::ops::Range;

use faer::{Accum, MatMut, MatRef, Par};
use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use crate::blocks::{compact_order, Blocks};
use crate::kernel::{bound_pass, exact_d2_within, sq_dist_f32};
pub(crate) use crate::principal::principal_basis;
use crate::principal::{project, Projected};
use crate::{column_mean, contiguous, exact_d2, finish, Cand, KnnOptions, TopK};

/// Largest number of principal coordinates used for the pair bound (and the number the block bounds use).
pub(crate) const MAX_DIMS: usize = 48;
/// Coordinate counts the planner considers.
const CANDIDATE_DIMS: [usize; 7] = [4, 8, 12, 16, 24, 32, 48];
/// Queries the planner measures, in groups of [`PLAN_GROUP`] neighbouring rows.
pub(crate) const PLAN_QUERIES: usize = 128;
const PLAN_GROUP: usize = 8;
/// Reference rows per block (fewer when [`KnnOptions::reference_block`] is smaller): the f64 bound block of a query
/// block stays in the L2 cache, each query's threshold tightens after every block, and a block bound can skip it.
/// On Fashion-MNIST train (60 000 × 784, k = 20, 48 coordinates, before the block bounds) 256 rows took 0.75× the
/// CPU time of 2048 (128 no better, 512 in between).
pub(crate) const REFERENCE_BLOCK: usize = 256;
/// Relative slack on the lower bounds, in units of (‖q‖² + ‖r‖²) of the centred rows.
const SLACK: f64 = 1e-6;
/// Principal coordinates of the second bound, evaluated for each candidate the first one admits before its exact
/// distance: ‖x_q − x_r‖² ≥ Σ_{t < SECOND_DIMS} (p_qt − p_rt)² + (ρ'_q − ρ'_r)² with ρ' the residual norms outside
/// these coordinates. On Fashion-MNIST it cut the exact distances per query from 1485 to 344 (48 coordinates first).
const SECOND_DIMS: usize = 192;
/// Slack of the second bound: [`SLACK`] plus the rounding of its coordinates to f32 (each off by at most 2^-24 of
/// its magnitude, so the sum of squared differences by at most ≈ 4·2^-24·(‖q‖² + ‖r‖²)).
const SLACK2: f64 = SLACK + 8.0 / (1u64 << 24) as f64;
/// Slack of the second bound when its sum runs in f32 ([`sq_dist_f32`]): on top of [`SLACK2`], each of the eight
/// lanes adds SECOND_DIMS / 8 terms, each term and the final reduction err by a few units of 2^-24, relative to the
/// sum of squared differences, itself at most 2·(‖q‖² + ‖r‖²).
const SLACK2_F32: f64 = SLACK2 + 2.0 * (SECOND_DIMS / 8 + 8) as f64 / (1u64 << 24) as f64;
/// Absolute slack of the f32 sum (values in f32's subnormal range round absolutely, by at most 2^-150 each).
const ABS_SLACK_F32: f64 = 1e-36;
/// The f32 sum serves when every centred squared norm is at most this (no overflow of squares and sums).
const F32_MAX_NORM2: f64 = 1e30;
/// Waiting candidates of a query that trigger their exact refinement before the block visit ends.
const PENDING: usize = 32;

// Unit costs (ns of one thread) of the cost model. Brute force: fitted to CPU times of brute and pruned searches on
// 10 000 rows (8-D subspace and power-law spectra in R^1024, isotropic noise in R^64 and R^1024), k = 10. The
// blockwise terms: fitted to Fashion-MNIST train (60 000 × 784, k = 20) and its first 15 000 rows.
/// Brute force: f32 GEMM, per pair and dimension.
const BRUTE_PER_PAIR_DIM: f64 = 0.022;
/// Brute force: distance assembly and top-k admission test, per pair.
const BRUTE_PER_PAIR: f64 = 3.3;
/// Block bounds, per (query, block) pair and coordinate.
const BLOCK_PER_DIM: f64 = 0.5;
/// Pruned: f64 GEMM of the pair bound, per visited pair and coordinate.
const BOUND_PER_PAIR_DIM: f64 = 0.04;
/// Pruned: bound assembly and filtering, per visited pair.
const BOUND_PER_PAIR: f64 = 2.5;
/// Second bound, per candidate and coordinate …
const SECOND_PER_DIM: f64 = 0.2;
/// … and per candidate.
const SECOND_PER_CANDIDATE: f64 = 20.0;
/// Pruned: exact refinement, per candidate and dimension …
const REFINE_PER_DIM: f64 = 0.2;
/// … and per candidate (ordering, bookkeeping).
const REFINE_PER_CANDIDATE: f64 = 30.0;
/// The search visits more blocks and meets more candidates than the final thresholds admit (its early thresholds
/// are looser): visited (query, block) pairs, first-bound and second-bound candidates over their counts at the final
/// thresholds.
const VISIT_EXCESS: f64 = 1.5;
const FIRST_EXCESS: f64 = 1.5;
const SECOND_EXCESS: f64 = 1.5;

/// Reference and query rows in principal coordinates: up to [`MAX_DIMS`] in f64 for the pair bound GEMM, up to
/// [`SECOND_DIMS`] in f32 for the second bound. The reference arrays are in block order (position `pos` holds row
/// `order[pos]`); in self mode the queries are the reference positions.
pub(crate) struct Prepared<'a> {
    d: usize,
    self_mode: bool,
    ref_raw: Cow<'a, [f32]>,
    /// Raw query rows (`None` in self mode: the reference rows).
    q_own: Option<Cow<'a, [f32]>>,
    m_max: usize,
    order: Vec<usize>,
    /// Self mode: the position of each row in `order` (empty in query mode).
    pos_of: Vec<usize>,
    /// Reference coordinates (f64, n × m_max), squared norms, residual norms outside the m_max coordinates.
    ref_p: Vec<f64>,
    ref_n2: Vec<f64>,
    ref_rho: Vec<f64>,
    /// Coordinates of the second bound (0: none, the first bound already uses every coordinate there is).
    m2: usize,
    ref_x: Vec<f32>,
    ref_rho2: Vec<f64>,
    /// The queries' arrays, in query order (empty in self mode).
    q: Projected,
    q_rho: Vec<f64>,
    /// The second bound sums in f32 (all norms small enough, see [`F32_MAX_NORM2`]).
    f32_sums: bool,
}

fn residuals(p: &[f64], n2: &[f64], m: usize) -> Vec<f64> {
    p.chunks_exact(m).zip(n2).map(|(row, &x2)| (x2 - row.iter().map(|x| x * x).sum::<f64>()).max(0.0).sqrt()).collect()
}

fn permute<T: Copy>(v: &[T], order: &[usize], w: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(v.len());
    for &i in order {
        out.extend_from_slice(&v[i * w..(i + 1) * w]);
    }
    out
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
        let q_own = if self_mode { None } else { Some(contiguous(query)) };
        let mean = column_mean(&ref_raw, d);
        let m_max = m_max.clamp(1, d);
        let basis = principal_basis(&ref_raw, d, &mean, m_max.max(SECOND_DIMS).min(d));
        let m_max = m_max.min(basis.ncols());
        let m2 = if basis.ncols() > m_max { basis.ncols() } else { 0 };
        let r = project(&ref_raw, d, &mean, basis.as_ref(), m_max, m2);
        let n = r.n2.len();
        let order = compact_order(&r.p, m_max, n, REFERENCE_BLOCK.min(n));
        let ref_p = permute(&r.p, &order, m_max);
        let ref_n2 = permute(&r.n2, &order, 1);
        let ref_rho = residuals(&ref_p, &ref_n2, m_max);
        let (ref_x, ref_rho2) = (permute(&r.x, &order, m2), permute(&r.rho2, &order, usize::from(m2 > 0)));
        drop(r);
        let q = match &q_own {
            None => Projected::default(),
            Some(q) => project(q, d, &mean, basis.as_ref(), m_max, m2),
        };
        let mut pos_of = Vec::new();
        if self_mode {
            pos_of = vec![0; n];
            order.iter().enumerate().for_each(|(pos, &i)| pos_of[i] = pos);
        }
        let q_rho = residuals(&q.p, &q.n2, m_max);
        let f32_sums = ref_n2.iter().chain(&q.n2).all(|&x| x <= F32_MAX_NORM2);
        Prepared {
            d,
            self_mode,
            ref_raw,
            q_own,
            m_max,
            order,
            pos_of,
            ref_p,
            ref_n2,
            ref_rho,
            m2,
            ref_x,
            ref_rho2,
            q,
            q_rho,
            f32_sums,
        }
    }

    fn n_ref(&self) -> usize {
        self.ref_n2.len()
    }
    fn n_q(&self) -> usize {
        if self.self_mode {
            self.n_ref()
        } else {
            self.q.n2.len()
        }
    }
    /// Query arrays: coordinates (m_max), squared norms, residual norms (self mode: the reference positions).
    fn query_coords(&self) -> (&[f64], &[f64], &[f64]) {
        if self.self_mode {
            (&self.ref_p, &self.ref_n2, &self.ref_rho)
        } else {
            (&self.q.p, &self.q.n2, &self.q_rho)
        }
    }
    /// The query's original index (the row of the answer).
    fn query_index(&self, row: usize) -> usize {
        if self.self_mode {
            self.order[row]
        } else {
            row
        }
    }
    fn query_raw(&self, row: usize) -> &[f32] {
        let (d, qi) = (self.d, self.query_index(row));
        let raw: &[f32] = self.q_own.as_deref().unwrap_or(&self.ref_raw);
        &raw[qi * d..(qi + 1) * d]
    }
    /// Rows of the query arrays in groups of at most `size` neighbouring rows.
    fn query_groups(&self, size: usize) -> Vec<Vec<usize>> {
        self.query_groups_in(0..self.n_q(), size)
    }
    /// Rows of the query arrays holding the queries `rows`, in groups of at most `size` neighbouring rows (self
    /// mode: their positions in block order; query mode: a compact order of their coordinates).
    fn query_groups_in(&self, rows: Range<usize>, size: usize) -> Vec<Vec<usize>> {
        let order: Vec<usize> = if self.self_mode {
            if rows.len() == self.n_q() {
                (0..self.n_q()).collect()
            } else {
                let mut pos: Vec<usize> = self.pos_of[rows].to_vec();
                pos.sort_unstable();
                pos
            }
        } else {
            let m = self.m_max;
            let p = &self.q.p[rows.start * m..rows.end * m];
            compact_order(p, m, rows.len(), size).into_iter().map(|i| rows.start + i).collect()
        };
        order.chunks(size.max(1)).map(<[usize]>::to_vec).collect()
    }
    /// The second bound of the squared distance of query row `row` and reference position `pos`
    /// (see [`SECOND_DIMS`]).
    #[inline]
    fn second_bound(&self, row: usize, pos: usize) -> f64 {
        let m2 = self.m2;
        let (x, rho, n2) = if self.self_mode {
            (&self.ref_x, &self.ref_rho2, &self.ref_n2)
        } else {
            (&self.q.x, &self.q.rho2, &self.q.n2)
        };
        let dr = rho[row] - self.ref_rho2[pos];
        let (a, b) = (&x[row * m2..(row + 1) * m2], &self.ref_x[pos * m2..(pos + 1) * m2]);
        if self.f32_sums {
            sq_dist_f32(a, b) as f64 + dr * dr - SLACK2_F32 * (n2[row] + self.ref_n2[pos]) - ABS_SLACK_F32
        } else {
            exact_d2(a, b) + dr * dr - SLACK2 * (n2[row] + self.ref_n2[pos])
        }
    }
    /// Exact squared distance of query row `row` (raw `qv`) and reference position `pos`, into `top` (abandoned as
    /// soon as its partial sums exceed the k-th distance: then it cannot enter).
    #[inline]
    fn refine(&self, qv: &[f32], pos: usize, top: &mut TopK, stats: &mut PrunedStats) {
        let (d, j) = (self.d, self.order[pos]);
        stats.refined += 1;
        if let Some(d2) = exact_d2_within(qv, &self.ref_raw[j * d..(j + 1) * d], top.threshold()) {
            top.push(Cand { d2, j });
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

/// Counts of one search (sums over query blocks: independent of the thread count).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrunedStats {
    /// (query, reference block) pairs, …
    pub block_pairs: u64,
    /// … of which the block bound did not exclude (their rows' bounds were evaluated).
    pub visited_block_pairs: u64,
    /// (query block, reference block) pairs, …
    pub group_pairs: u64,
    /// … of which at least one query visited the reference block (one bound GEMM each).
    pub visited_group_pairs: u64,
    /// Candidates of the first (per-pair) bound that the second bound excluded …
    pub second_excluded: u64,
    /// … and exact distances evaluated.
    pub refined: u64,
}

impl PrunedStats {
    fn add(&mut self, o: &PrunedStats) {
        self.block_pairs += o.block_pairs;
        self.visited_block_pairs += o.visited_block_pairs;
        self.group_pairs += o.group_pairs;
        self.visited_group_pairs += o.visited_group_pairs;
        self.second_excluded += o.second_excluded;
        self.refined += o.refined;
    }
}

/// Everything a search with m coordinates shares across query blocks.
pub(crate) struct Setup {
    k: usize,
    q: Truncated,
    /// `None` in self mode (`q` serves).
    r: Option<Truncated>,
    blocks: Blocks,
}

impl Setup {
    fn new(prep: &Prepared, k: usize, m: usize, br: usize) -> Self {
        let m = m.clamp(1, prep.m_max);
        let r = truncate(&prep.ref_p, &prep.ref_n2, prep.m_max, m);
        let blocks = Blocks::build(&prep.ref_p, prep.m_max, &prep.ref_rho, &prep.ref_n2, br.max(1));
        if prep.self_mode {
            Setup { k, q: r, r: None, blocks }
        } else {
            let (qp, qn2, _) = prep.query_coords();
            Setup { k, q: truncate(qp, qn2, prep.m_max, m), r: Some(r), blocks }
        }
    }
    fn r(&self) -> &Truncated {
        self.r.as_ref().unwrap_or(&self.q)
    }
}

/// Exact top-k lists of the query rows `rows` (best when they are close to each other); see the module docs.
fn search_rows(prep: &Prepared, s: &Setup, rows: &[usize], stats: &mut PrunedStats) -> Vec<TopK> {
    let (k, q, r, blocks) = (s.k, &s.q, s.r(), &s.blocks);
    let (m, m_max) = (q.m, prep.m_max);
    let (w_q, nb) = (rows.len(), blocks.len());
    // Block bounds of every query, and the blocks ordered by their smallest bound over the queries.
    let (qp, qn2, qrho) = prep.query_coords();
    let mut lbb = vec![0.0f64; w_q * nb];
    for (out, &qi) in lbb.chunks_exact_mut(nb.max(1)).zip(rows) {
        blocks.lower_bounds(&qp[qi * m_max..(qi + 1) * m_max], qrho[qi], qn2[qi], SLACK, out);
    }
    let mut visit: Vec<(f64, usize)> =
        (0..nb).map(|b| ((0..w_q).map(|i| lbb[i * nb + b]).fold(f64::INFINITY, f64::min), b)).collect();
    visit.sort_unstable_by(by_lb);
    stats.block_pairs += (w_q * nb) as u64;
    stats.group_pairs += nb as u64;
    let mut tops: Vec<TopK> = (0..w_q).map(|_| TopK::new(k)).collect();
    let mut active: Vec<usize> = Vec::with_capacity(w_q);
    let mut q_rows = Vec::with_capacity(w_q * m);
    let br = blocks.span(0).len();
    let mut buf = vec![0.0f64; br * w_q];
    let mut order: Vec<(f64, usize)> = Vec::with_capacity(br);
    let mut lbs = vec![0.0f64; br];
    // Candidates waiting for their exact distance, per query: (second bound, position).
    let mut pending: Vec<Vec<(f64, usize)>> = vec![Vec::new(); w_q];
    for &(key, b) in &visit {
        let worst = tops.iter().map(TopK::threshold).fold(f64::NEG_INFINITY, f64::max);
        if key > worst {
            break;
        }
        active.clear();
        active.extend((0..w_q).filter(|&i| lbb[i * nb + b] <= tops[i].threshold()));
        if active.is_empty() {
            continue;
        }
        stats.visited_group_pairs += 1;
        stats.visited_block_pairs += active.len() as u64;
        q_rows.clear();
        for &i in &active {
            q_rows.extend_from_slice(&q.p[rows[i] * m..(rows[i] + 1) * m]);
        }
        let qb = MatRef::from_row_major_slice(&q_rows, active.len(), m);
        let span = blocks.span(b);
        let (r0, r1) = (span.start, span.end);
        let w = r1 - r0;
        let rb = MatRef::from_row_major_slice(&r.p[r0 * m..r1 * m], w, m);
        let g = MatMut::from_column_major_slice_mut(&mut buf[..w * active.len()], w, active.len());
        faer::linalg::matmul::matmul(g, Accum::Replace, rb, qb.transpose(), 1.0f64, Par::Seq);
        for (a, &i) in active.iter().enumerate() {
            let (qi, top) = (rows[i], &mut tops[i]);
            let qv = prep.query_raw(qi);
            let thr = top.threshold();
            bound_pass(
                &mut lbs[..w],
                &buf[a * w..(a + 1) * w],
                (&r.pn[r0..r1], &r.rho[r0..r1], &r.n2[r0..r1]),
                (q.pn[qi], q.rho[qi], q.n2[qi]),
                SLACK,
            );
            order.clear();
            for (jj, &lb) in lbs[..w].iter().enumerate() {
                if lb <= thr {
                    order.push((lb, r0 + jj));
                }
            }
            if prep.self_mode {
                order.retain(|&(_, pos)| pos != qi);
            }
            if top.len() < k {
                // No bound yet: refine the k best lower bounds (partial selection, no full sort); the others wait.
                if order.len() > k {
                    order.select_nth_unstable_by(k - 1, by_lb);
                }
                let take = order.len().min(k);
                for &(_, pos) in &order[..take] {
                    prep.refine(qv, pos, top, stats);
                }
                order.drain(..take);
                if top.len() < k {
                    continue;
                }
            }
            // Second bound now, exact distances later (best first, when the query's threshold is tighter).
            let thr = top.threshold();
            let pend = &mut pending[i];
            for (c, &(lb, pos)) in order.iter().enumerate() {
                if lb > thr {
                    continue;
                }
                if let Some(&(_, next)) = order.get(c + 1) {
                    prefetch(&prep.ref_x[next * prep.m2..(next + 1) * prep.m2]);
                }
                let lb2 = if prep.m2 > 0 { prep.second_bound(qi, pos) } else { lb };
                if lb2 <= thr {
                    pend.push((lb2, pos));
                } else {
                    stats.second_excluded += 1;
                }
            }
            if pend.len() >= PENDING {
                flush(prep, qv, top, pend, stats);
            }
        }
    }
    for ((top, pend), &qi) in tops.iter_mut().zip(&mut pending).zip(rows) {
        flush(prep, prep.query_raw(qi), top, pend, stats);
    }
    tops
}

/// Asks the CPU to bring the start of a row into the cache (the rows of a candidate list are scattered; the hardware
/// prefetcher follows a row once it has started).
#[inline(always)]
fn prefetch<T>(row: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let bytes = std::mem::size_of_val(row);
        let p = row.as_ptr() as *const i8;
        for off in (0..bytes.min(256)).step_by(64) {
            // SAFETY: a prefetch is a hint, never a memory access that can fault; the address lies within `row`.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.add(off)) };
        }
    }
}

fn by_lb(a: &(f64, usize), b: &(f64, usize)) -> std::cmp::Ordering {
    a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
}

/// Exact distances of the waiting candidates, smallest bound first, until the bound exceeds the k-th distance.
fn flush(prep: &Prepared, qv: &[f32], top: &mut TopK, pend: &mut Vec<(f64, usize)>, stats: &mut PrunedStats) {
    pend.sort_unstable_by(by_lb);
    for (i, &(lb, pos)) in pend.iter().enumerate() {
        if lb > top.threshold() {
            break;
        }
        if let Some(&(_, next)) = pend.get(i + 1) {
            let j = prep.order[next];
            prefetch(&prep.ref_raw[j * prep.d..(j + 1) * prep.d]);
        }
        prep.refine(qv, pos, top, stats);
    }
    pend.clear();
}

/// The structures of a search with the first `m` principal coordinates, built once for every block of query rows.
pub(crate) fn setup(prep: &Prepared, k: usize, m: usize, opts: &KnnOptions) -> Setup {
    let br = opts.reference_block.min(REFERENCE_BLOCK).min(prep.n_ref());
    Setup::new(prep, k, m, br)
}

/// The search of the query rows `rows` (in row order; each row's answer is the exact one, whatever the blocks).
pub(crate) fn search_range(
    prep: &Prepared,
    setup: &Setup,
    rows: Range<usize>,
    opts: &KnnOptions,
) -> (Array2<usize>, Array2<f32>) {
    search_with_stats(prep, setup, rows, opts).0
}

/// [`search_range`], with its counts.
pub(crate) fn search_with_stats(
    prep: &Prepared,
    setup: &Setup,
    range: Range<usize>,
    opts: &KnnOptions,
) -> ((Array2<usize>, Array2<f32>), PrunedStats) {
    let (k, first, n_q) = (setup.k, range.start, range.len());
    let groups = prep.query_groups_in(range, opts.query_block);
    type Rows = Vec<(Vec<usize>, Vec<f32>)>;
    let per_block: Vec<(Rows, PrunedStats)> = groups
        .par_iter()
        .map(|rows| {
            let mut stats = PrunedStats::default();
            let tops = search_rows(prep, setup, rows, &mut stats);
            (tops.into_iter().map(|t| finish(t.into_sorted(), k)).collect(), stats)
        })
        .collect();
    let mut stats = PrunedStats::default();
    let mut out: Vec<(Vec<usize>, Vec<f32>)> = vec![(Vec::new(), Vec::new()); n_q];
    for (rows, (res, st)) in groups.iter().zip(per_block) {
        stats.add(&st);
        for (&row, res) in rows.iter().zip(res) {
            out[prep.query_index(row) - first] = res;
        }
    }
    (crate::assemble(out, n_q, k), stats)
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

/// What one sample query's final k-th distance admits: blocks, first-bound candidates per coordinate count, and
/// second-bound candidates.
struct Admitted {
    blocks: usize,
    first: Vec<usize>,
    second: usize,
}

/// Measures what the bounds admit on a sample of queries and predicts the cost of the pruned search for each
/// coordinate count and of brute force (see the module docs).
pub(crate) fn plan(prep: &Prepared, k: usize, opts: &KnnOptions) -> Plan {
    let (n_q, n_ref, d, m_max) = (prep.n_q(), prep.n_ref(), prep.d, prep.m_max);
    let br = opts.reference_block.min(REFERENCE_BLOCK).min(n_ref);
    let setup = Setup::new(prep, k, m_max, br);
    let nb = setup.blocks.len();
    let dims: Vec<usize> = CANDIDATE_DIMS.iter().copied().filter(|&m| m < m_max).chain([m_max]).collect();
    // 16 groups of neighbouring query rows, evenly spaced.
    let groups = prep.query_groups(PLAN_GROUP);
    let n_groups = PLAN_QUERIES.div_ceil(PLAN_GROUP).min(groups.len());
    let sample: Vec<&Vec<usize>> = (0..n_groups).map(|g| &groups[g * groups.len() / n_groups]).collect();
    let pairs = n_q as f64 * n_ref as f64;
    let brute_cost = pairs * (BRUTE_PER_PAIR_DIM * d as f64 + BRUTE_PER_PAIR) * 1e-9;
    let (qp, qn2, _) = prep.query_coords();
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
    let admitted = |qi: usize, tau: f64| -> Admitted {
        let qrow = &qp[qi * m_max..(qi + 1) * m_max];
        let q_rho = &residuals(qrow, &qn2[qi..qi + 1])[0];
        let (_, _, qrho) = prep.query_coords();
        let mut lbb = vec![0.0f64; nb];
        setup.blocks.lower_bounds(qrow, qrho[qi], qn2[qi], SLACK, &mut lbb);
        let mut out =
            Admitted { blocks: lbb.iter().filter(|&&lb| lb <= tau).count(), first: vec![0; dims.len()], second: 0 };
        for (pos, rrow) in prep.ref_p.chunks_exact(m_max).enumerate() {
            if prep.self_mode && pos == qi {
                continue;
            }
            let slack = SLACK * (qn2[qi] + prep.ref_n2[pos]);
            let mut acc = 0.0;
            let mut c = 0;
            for (t, &m) in dims.iter().enumerate() {
                while c < m {
                    let diff = qrow[c] - rrow[c];
                    acc += diff * diff;
                    c += 1;
                }
                let dr = q_rho[t] - r_rho[pos][t];
                if acc + dr * dr - slack > tau {
                    break;
                }
                out.first[t] += 1;
                if t + 1 == dims.len() && (prep.m2 == 0 || prep.second_bound(qi, pos) <= tau) {
                    out.second += 1;
                }
            }
        }
        out
    };
    let measure = |groups: &[&Vec<usize>]| -> Vec<Admitted> {
        groups
            .par_iter()
            .flat_map_iter(|rows| {
                let tops = search_rows(prep, &setup, rows, &mut PrunedStats::default());
                rows.iter().zip(tops).map(|(&qi, t)| admitted(qi, t.threshold())).collect::<Vec<_>>()
            })
            .collect()
    };
    let mean = |a: &[Admitted], f: &dyn Fn(&Admitted) -> usize| {
        a.iter().map(|x| f(x) as f64).sum::<f64>() / a.len().max(1) as f64
    };
    let cost = |a: &[Admitted], t: usize| -> f64 {
        let block = n_q as f64 * nb as f64 * m_max as f64 * BLOCK_PER_DIM;
        let visited = mean(a, &|x| x.blocks) / nb.max(1) as f64 * VISIT_EXCESS;
        let first = pairs * visited.min(1.0) * (BOUND_PER_PAIR_DIM * dims[t] as f64 + BOUND_PER_PAIR);
        let second = n_q as f64
            * mean(a, &|x| x.first[t])
            * FIRST_EXCESS
            * (SECOND_PER_DIM * prep.m2 as f64 + SECOND_PER_CANDIDATE);
        let exact =
            n_q as f64 * mean(a, &|x| x.second) * SECOND_EXCESS * (REFINE_PER_DIM * d as f64 + REFINE_PER_CANDIDATE);
        (block + first + second + exact) * 1e-9
    };
    // Stage 1 on two groups: when even all coordinates leave most rows as candidates (isotropic data), stop here
    // instead of paying for hopeless pruned searches of the whole sample.
    let first = sample.len().min(2);
    let mut counts = measure(&sample[..first]);
    let all = cost(&counts, dims.len() - 1);
    if all >= brute_cost {
        return Plan { dims: m_max, pruned_cost: all, brute_cost };
    }
    counts.extend(measure(&sample[first..]));
    let mut best = Plan { dims: m_max, pruned_cost: f64::INFINITY, brute_cost };
    for (t, &m) in dims.iter().enumerate() {
        let c = cost(&counts, t);
        if c < best.pruned_cost {
            best.dims = m;
            best.pruned_cost = c;
        }
    }
    best
}
