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

use crate::blocks::{compact_order, Blocks};
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
/// Principal coordinates of the second bound, evaluated for each candidate the first one admits before its exact
/// distance: ‖x_q − x_r‖² ≥ Σ_{t < SECOND_DIMS} (p_qt − p_rt)² + (ρ'_q − ρ'_r)² with ρ' the residual norms outside
/// these coordinates, at a quarter of the exact distance's cost on 784 columns.
const SECOND_DIMS: usize = 192;
/// Slack of the second bound: [`SLACK`] plus the rounding of its coordinates to f32 (each off by at most 2^-24 of
/// its magnitude, so the sum of squared differences by at most ≈ 4·2^-24·(‖q‖² + ‖r‖²)).
const SLACK2: f64 = SLACK + 8.0 / (1u64 << 24) as f64;

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

/// Reference and query rows in principal coordinates (up to [`MAX_DIMS`] of them in f64 for the bound GEMM, and
/// up to [`SECOND_DIMS`] in f32 for the second bound of the candidates).
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
    /// Coordinates of the second bound (0: none, the first bound already uses every coordinate there is).
    m2: usize,
    ref_x: Vec<f32>,
    ref_rho2: Vec<f64>,
    /// Empty in self mode.
    q_x: Vec<f32>,
    q_rho2: Vec<f64>,
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
        let m_max = m_max.clamp(1, d);
        let basis = principal_basis(&ref_raw, d, &mean, m_max.max(SECOND_DIMS).min(d));
        let m_max = m_max.min(basis.ncols());
        let m2 = if basis.ncols() > m_max { basis.ncols() } else { 0 };
        let r = project(&ref_raw, d, &mean, basis.as_ref(), m_max, m2);
        let q = if self_mode { Projected::default() } else { project(&q_raw, d, &mean, basis.as_ref(), m_max, m2) };
        Prepared {
            d,
            self_mode,
            ref_raw,
            q_raw,
            m_max,
            ref_p: r.p,
            ref_n2: r.n2,
            q_p: q.p,
            q_n2: q.n2,
            m2,
            ref_x: r.x,
            ref_rho2: r.rho2,
            q_x: q.x,
            q_rho2: q.rho2,
        }
    }

    /// The query's second-bound coordinates and residual norm.
    fn query_second(&self, qi: usize) -> (&[f32], f64) {
        let (x, rho) = if self.self_mode { (&self.ref_x, &self.ref_rho2) } else { (&self.q_x, &self.q_rho2) };
        (&x[qi * self.m2..(qi + 1) * self.m2], rho[qi])
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

impl Truncated {
    /// The rows in the order `order`.
    fn permuted(&self, order: &[usize]) -> Truncated {
        let m = self.m;
        let mut p = Vec::with_capacity(self.p.len());
        for &i in order {
            p.extend_from_slice(&self.p[i * m..(i + 1) * m]);
        }
        let pick = |v: &[f64]| order.iter().map(|&i| v[i]).collect::<Vec<f64>>();
        Truncated { m, p, pn: pick(&self.pn), rho: pick(&self.rho), n2: pick(&self.n2) }
    }
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

/// Reference rows in block order, with their coordinates permuted to match.
struct Reference {
    blocks: Blocks,
    /// Coordinates of `blocks.order[pos]` at position `pos`.
    r: Truncated,
}

impl Reference {
    fn new(r: &Truncated, size: usize) -> Reference {
        let blocks = Blocks::build(&r.p, r.m, &r.rho, &r.n2, size);
        Reference { r: r.permuted(&blocks.order), blocks }
    }
}

/// Exact top-k lists of the query rows `rows` (best when they are close to each other), by block bounds, then
/// per-pair bounds over `q`'s coordinates against the reference blocks, nearest blocks first.
fn search_rows(
    prep: &Prepared,
    q: &Truncated,
    refs: &Reference,
    rows: &[usize],
    k: usize,
    stats: &mut PrunedStats,
) -> Vec<TopK> {
    let (d, m, m2) = (prep.d, q.m, prep.m2);
    let (blocks, r) = (&refs.blocks, &refs.r);
    let (w_q, nb) = (rows.len(), blocks.len());
    // Block bounds of every query, and the blocks ordered by their smallest bound over the queries.
    let mut lbb = vec![0.0f64; w_q * nb];
    for (out, &qi) in lbb.chunks_exact_mut(nb.max(1)).zip(rows) {
        blocks.lower_bounds(&q.p[qi * m..(qi + 1) * m], q.rho[qi], q.n2[qi], SLACK, out);
    }
    let mut visit: Vec<(f64, usize)> =
        (0..nb).map(|b| ((0..w_q).map(|i| lbb[i * nb + b]).fold(f64::INFINITY, f64::min), b)).collect();
    visit.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    stats.block_pairs += (w_q * nb) as u64;
    stats.group_pairs += nb as u64;
    let mut tops: Vec<TopK> = (0..w_q).map(|_| TopK::new(k)).collect();
    let mut active: Vec<usize> = Vec::with_capacity(w_q);
    let mut q_rows = Vec::with_capacity(w_q * m);
    let br = blocks.span(0).len();
    let mut buf = vec![0.0f64; br * w_q];
    let mut order: Vec<(f64, usize)> = Vec::with_capacity(br);
    let mut lbs = vec![0.0f64; br];
    // Candidates waiting for their exact distance, per query: (second bound, row).
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
            let col = &buf[a * w..(a + 1) * w];
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
            for (&lb, &j) in lbs[..w].iter().zip(&blocks.order[r0..r1]) {
                if lb <= thr && !(prep.self_mode && j == qi) {
                    order.push((lb, j));
                }
            }
            if top.len() < k {
                // No bound yet: refine the k best lower bounds (partial selection, no full sort); the others wait.
                if order.len() > k {
                    order.select_nth_unstable_by(k - 1, by_lb);
                }
                let take = order.len().min(k);
                for &(_, j) in &order[..take] {
                    refine_exact(prep, qv, top, j, stats);
                }
                order.drain(..take);
                if top.len() < k {
                    continue;
                }
            }
            // Second bound now, exact distances later (best first, when the query's threshold is tighter).
            let thr = top.threshold();
            let pend = &mut pending[i];
            for &(lb, j) in &order {
                if lb > thr {
                    continue;
                }
                let lb2 = if m2 > 0 { second_bound(prep, qi, j) } else { lb };
                if lb2 <= thr {
                    pend.push((lb2, j));
                } else {
                    stats.second_excluded += 1;
                }
            }
            if pend.len() >= pending_max() {
                flush(prep, qv, top, pend, stats);
            }
        }
    }
    for ((top, pend), &qi) in tops.iter_mut().zip(&mut pending).zip(rows) {
        flush(prep, &prep.q_raw[qi * d..(qi + 1) * d], top, pend, stats);
    }
    tops
}

fn by_lb(a: &(f64, usize), b: &(f64, usize)) -> std::cmp::Ordering {
    a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
}

fn pending_max() -> usize {
    std::env::var("PENDING").ok().and_then(|s| s.parse().ok()).unwrap_or(64)
}

#[inline]
fn refine_exact(prep: &Prepared, qv: &[f32], top: &mut TopK, j: usize, stats: &mut PrunedStats) {
    let d = prep.d;
    stats.refined += 1;
    top.push(Cand { d2: exact_d2(qv, &prep.ref_raw[j * d..(j + 1) * d]), j });
}

/// The second lower bound of the squared distance of query `qi` and reference row `j` (see [`SECOND_DIMS`]).
#[inline]
fn second_bound(prep: &Prepared, qi: usize, j: usize) -> f64 {
    let m2 = prep.m2;
    let (qx, qr2) = prep.query_second(qi);
    let qn2 = if prep.self_mode { prep.ref_n2[qi] } else { prep.q_n2[qi] };
    let dr = qr2 - prep.ref_rho2[j];
    exact_d2(qx, &prep.ref_x[j * m2..(j + 1) * m2]) + dr * dr - SLACK2 * (qn2 + prep.ref_n2[j])
}

/// Exact distances of the waiting candidates, smallest bound first, until the bound exceeds the k-th distance.
fn flush(prep: &Prepared, qv: &[f32], top: &mut TopK, pend: &mut Vec<(f64, usize)>, stats: &mut PrunedStats) {
    pend.sort_unstable_by(by_lb);
    for &(lb, j) in pend.iter() {
        if lb > top.threshold() {
            break;
        }
        refine_exact(prep, qv, top, j, stats);
    }
    pend.clear();
}

/// The search with the first `m` principal coordinates.
pub(crate) fn search(prep: &Prepared, k: usize, m: usize, opts: &KnnOptions) -> (Array2<usize>, Array2<f32>) {
    search_with_stats(prep, k, m, opts).0
}

/// [`search`], with its counts.
pub(crate) fn search_with_stats(
    prep: &Prepared,
    k: usize,
    m: usize,
    opts: &KnnOptions,
) -> ((Array2<usize>, Array2<f32>), PrunedStats) {
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
    let refs = Reference::new(&r, br);
    // Query blocks of nearby rows: the reference blocks themselves when they fit, else the queries' own split.
    let q_order = if prep.self_mode && bq == br { refs.blocks.order.clone() } else { compact_order(&q.p, m, n_q, bq) };
    let groups: Vec<&[usize]> = q_order.chunks(bq).collect();
    let per_block: Vec<(Vec<(Vec<usize>, Vec<f32>)>, PrunedStats)> = groups
        .par_iter()
        .map(|rows| {
            let mut stats = PrunedStats::default();
            let tops = search_rows(prep, q, &refs, rows, k, &mut stats);
            (tops.into_iter().map(|t| finish(t.into_sorted(), k)).collect(), stats)
        })
        .collect();
    let mut stats = PrunedStats::default();
    let mut out: Vec<(Vec<usize>, Vec<f32>)> = vec![(Vec::new(), Vec::new()); n_q];
    for (rows, (res, st)) in groups.iter().zip(per_block) {
        stats.add(&st);
        for (&qi, row) in rows.iter().zip(res) {
            out[qi] = row;
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
    let refs = Reference::new(&r, br);
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
                let tops = search_rows(prep, q, &refs, rows, k, &mut PrunedStats::default());
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

/// Rows in principal coordinates.
#[derive(Default)]
struct Projected {
    /// Row-major n × m_max (f64).
    p: Vec<f64>,
    /// Squared norms of the centred rows.
    n2: Vec<f64>,
    /// Row-major n × m2 (f32; empty when m2 = 0) and the residual norms outside those m2 coordinates.
    x: Vec<f32>,
    rho2: Vec<f64>,
}

/// Principal coordinates (the first `m_max` in f64, all `m2` of the basis in f32 when m2 > 0) and squared norms of
/// the centred rows.
fn project(raw: &[f32], d: usize, mean: &[f64], basis: MatRef<f64>, m_max: usize, m2: usize) -> Projected {
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
