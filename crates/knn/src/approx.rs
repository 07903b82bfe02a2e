//! Approximate search ([`Strategy::Approx`](crate::Strategy::Approx)): a navigable proximity graph (HNSW's bottom
//! layer, M = 32, degree bound 64, our own in `graph.rs`) proposes the candidates; the engine returns them with
//! exact distances and the exact engine's order.
//!
//! * **Why our own graph.** `instant-distance` (HNSW) is deterministic only when built on one thread, and that build
//!   dominated the run (33 s against faiss HNSW32's 9.7 s on Fashion-MNIST train); `hnsw_rs` is deterministic only
//!   with its sequential insert and was no faster. The graph here is built in batches that each search the graph
//!   frozen at the batch start, in parallel, and then link in a fixed order (see `graph.rs`): the construction uses
//!   both cores and the graph is the same whatever the thread count. One layer suffices: a self-search starts at
//!   the row's own node, a query at the point nearest the centroid.
//! * **Determinism.** The insertion order is seeded ([`KnnOptions::seed`]); the principal basis is computed on one
//!   thread, the mean and projection in fixed blocks; every search is a pure function of the graph. Same seed →
//!   same neighbours whatever the thread count (tested with 1, 2 and 3 threads).
//! * **Principal coordinates.** With [`KnnOptions::approx_dims`] = m < d, the graph is built and searched on the
//!   rows' leading m principal coordinates (basis from a deterministic subsample, as the PCA-pruned search): image
//!   collections have steep spectra, so the projected distances rank candidates almost as the full ones at a
//!   fraction of the memory traffic; the candidates are then re-ranked with exact full-dimensional distances.
//! * **Exact distances.** Each query's pool holds `max(ef_search, k + 1)` candidates; they are evaluated exactly
//!   (f64 sums over the raw f32 rows, as in the exact engine) in the order of a lower bound of their distance
//!   (projected distance plus the squared difference of the residual norms), stopping once the bound passes the
//!   k-th exact distance; the best `k` are kept in (distance, index) order, ties to the smaller index. A query for
//!   which the graph returns too few candidates (tiny or degenerate inputs) is answered by an exact scan.
//! * **Cache order.** A self-search processes rows breadth first through the graph, so consecutive rows share
//!   candidates and the raw rows they read stay in cache (results do not depend on this order).
//! * **Memory.** Beyond the input: the n × m projected rows, n × 64 links (u32), n residual norms, the results (one
//!   block of them when searched a block at a time with [`Search`](crate::Search)).
//! * **Recall.** [`recall`] measures recall@k on a seeded sample of query rows against the exact engine.

use std::borrow::Cow;
use std::ops::Range;

use faer::{Accum, Mat, MatRef, Par};
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::seq::index::sample;
use rand::seq::SliceRandom;
use rayon::prelude::*;

use crate::graph::{self, Graph, Hit, Points};
use crate::pruned::principal_basis;
use crate::{assemble, contiguous, exact_d2, finish, Cand, KnnError, KnnOptions, Neighbors, Strategy, TopK};

/// Default candidate list size of a query ([`KnnOptions::ef_search`]).
pub const DEFAULT_EF_SEARCH: usize = 96;
/// Default candidate list size while building the graph ([`KnnOptions::ef_construction`]).
pub const DEFAULT_EF_CONSTRUCTION: usize = 40;
/// Largest accepted `ef_search` / `ef_construction`.
pub const MAX_EF: usize = 4096;
/// Default number of sampled query rows for [`recall`].
pub const DEFAULT_RECALL_SAMPLE: usize = 500;
/// Default number of principal coordinates the graph is built on ([`KnnOptions::approx_dims`]; 0 = all columns).
pub const DEFAULT_APPROX_DIMS: usize = 128;
/// Rows per projection GEMM (fixed, so that the projection does not depend on the thread count).
const PROJECT_BLOCK: usize = 1024;

pub(crate) fn check_options(o: &KnnOptions) -> Result<(), KnnError> {
    for (name, v) in [("ef_search", o.ef_search), ("ef_construction", o.ef_construction)] {
        if v == 0 || v > MAX_EF {
            return Err(KnnError::InvalidOption(format!("{name} must be in 1..={MAX_EF} (got {v})")));
        }
    }
    Ok(())
}

/// One query's neighbour indices and distances.
type Row = (Vec<usize>, Vec<f32>);

/// The approximate search's structures, built once: the graph on the reference rows' principal coordinates (or
/// centred columns) and their residual norms. [`Prepared::search_rows`] then answers any block of query rows,
/// projecting only that block's queries; each row's answer depends only on the graph, not on the blocks.
pub(crate) struct Prepared<'a> {
    d: usize,
    n: usize,
    self_mode: bool,
    r: Cow<'a, [f32]>,
    /// Raw query rows (`None` in self mode: the reference rows).
    q: Option<Cow<'a, [f32]>>,
    m: usize,
    mean: Vec<f64>,
    /// d × m principal basis (`None`: the graph works on all centred columns).
    basis: Option<Mat<f32>>,
    r_graph: Vec<f32>,
    rho: Vec<f32>,
    graph: Graph,
    /// Self mode: each row's rank in a breadth-first walk of the graph (the visiting order, see the module docs).
    rank: Vec<u32>,
    ef_search: usize,
}

impl<'a> Prepared<'a> {
    /// Builds the graph of `reference` (see the module docs); `query` is `None` for a self-search.
    pub(crate) fn new(
        reference: ArrayView2<'a, f32>,
        query: Option<ArrayView2<'a, f32>>,
        opts: &KnnOptions,
    ) -> Result<Self, KnnError> {
        let d = reference.ncols();
        let n = reference.nrows();
        if n > u32::MAX as usize {
            return Err(KnnError::InvalidOption(format!("the approximate search takes at most {} rows", u32::MAX)));
        }
        let self_mode = query.is_none();
        let r = contiguous(reference);
        let q = query.map(contiguous);
        let m_asked = if opts.approx_dims == 0 { d } else { opts.approx_dims.min(d) };
        // Coordinates the graph works in: the rows' leading principal coordinates about the mean (or all centred
        // columns). Data of lower rank than asked for get as many coordinates as the basis has directions.
        let mean = ordered_mean(&r, d);
        let (r_graph, basis, m) = if m_asked < d {
            // The basis on one thread: its parallel GEMMs could round differently with another thread count.
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .map_err(|e| KnnError::InvalidOption(format!("cannot start the basis thread: {e}")))?;
            let basis = pool.install(|| principal_basis(&r, d, &mean, m_asked));
            let m = basis.ncols();
            let basis = Mat::<f32>::from_fn(d, m, |i, j| basis[(i, j)] as f32);
            let rp = project(&r, d, &mean, basis.as_ref());
            (rp, Some(basis), m)
        } else {
            (centre(&r, d, &mean), None, d)
        };
        let pts = Points { x: &r_graph, m, n };
        let rho = residual_norms(&r, d, &mean, &r_graph, m);
        let order = insertion_order(pts, opts.seed);
        let graph = Graph::build(pts, &order, opts.ef_construction);
        drop(order);
        let mut rank = Vec::new();
        if self_mode {
            rank = vec![0u32; n];
            for (t, &i) in graph.breadth_first().iter().enumerate() {
                rank[i as usize] = t as u32;
            }
        }
        Ok(Prepared { d, n, self_mode, r, q, m, mean, basis, r_graph, rho, graph, rank, ef_search: opts.ef_search })
    }

    /// The approximate `k` nearest reference rows (self excluded in self mode) of the query rows `rows`, exact
    /// distances, in row order.
    pub(crate) fn search_rows(&self, rows: Range<usize>, k: usize) -> (Array2<usize>, Array2<f32>) {
        let (d, m, self_mode) = (self.d, self.m, self.self_mode);
        let r_rows: Vec<&[f32]> = self.r.chunks_exact(d).collect();
        let q_raw: &[f32] = self.q.as_deref().unwrap_or(&self.r);
        let pts = Points { x: &self.r_graph, m, n: self.n };
        // A query block's coordinates and residual norms, computed over the whole projection blocks that cover it
        // (each projection block is one fixed GEMM: the coordinates are those of a projection of every query).
        let (q0, q1) = if self_mode {
            (0, 0)
        } else {
            (rows.start / PROJECT_BLOCK * PROJECT_BLOCK, rows.end.div_ceil(PROJECT_BLOCK).saturating_mul(PROJECT_BLOCK))
        };
        let q1 = q1.min(q_raw.len() / d);
        let q_block = &q_raw[q0 * d..q1.max(q0) * d];
        let q_graph = match &self.basis {
            _ if self_mode => Vec::new(),
            Some(b) => project(q_block, d, &self.mean, b.as_ref()),
            None => centre(q_block, d, &self.mean),
        };
        let rho_block = if self_mode { Vec::new() } else { residual_norms(q_block, d, &self.mean, &q_graph, m) };
        let q_pts = Points { x: &q_graph, m, n: q_graph.len() / m.max(1) };
        let want = k + usize::from(self_mode);
        let ef = self.ef_search.max(want);
        // A self-search visits the rows breadth first through the graph (neighbouring rows share candidates, which
        // then stay in cache); each row's answer is independent of the order.
        let mut visit: Vec<u32> = (rows.start as u32..rows.end as u32).collect();
        if self_mode {
            visit.sort_unstable_by_key(|&i| self.rank[i as usize]);
        }
        let mut found: Vec<(u32, Row)> = visit
            .par_iter()
            .map(|&iu| {
                let i = iu as usize;
                let x = &q_raw[i * d..(i + 1) * d];
                let pool = if self_mode {
                    self.graph.search(pts, pts.row(i), &[iu], ef, Some(iu))
                } else {
                    self.graph.search(pts, q_pts.row(i - q0), &[self.graph.entry], ef, None)
                };
                let skip = if self_mode { Some(i) } else { None };
                let rho_x = if self_mode { self.rho[i] } else { rho_block[i - q0] };
                let c = if pool.len() < k {
                    scan(x, &r_rows, k, skip)
                } else {
                    rerank(x, rho_x, &r_rows, &self.rho, &pool, k)
                };
                (iu, finish(c, k))
            })
            .collect();
        found.sort_unstable_by_key(|(i, _)| *i);
        assemble(found.into_iter().map(|(_, r)| r), rows.len(), k)
    }
}

/// Relative allowance on the lower bounds of the re-ranking (f32 rounding of the projection and the residuals).
const BOUND_SLACK: f64 = 1e-3;

/// The `k` best of the graph's candidates by exact distance. Each candidate's squared distance has the lower bound
/// ‖P(x − y)‖² + (ρx − ρy)² (P the projection onto the principal coordinates, ρ the norm of a row's residual
/// outside them: Pythagoras plus the reverse triangle inequality on the residuals); candidates are evaluated in
/// the order of that bound and the evaluations stop once it exceeds the current k-th exact distance (with a
/// rounding allowance): no later candidate could enter.
fn rerank(x: &[f32], rho_x: f32, r_rows: &[&[f32]], rho: &[f32], pool: &[Hit], k: usize) -> Vec<Cand> {
    let mut order: Vec<(f64, usize)> = pool
        .iter()
        .map(|h| {
            let e = (rho_x - rho[h.id as usize]) as f64;
            (h.d2 as f64 + e * e, h.id as usize)
        })
        .collect();
    order.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut top = TopK::new(k);
    for (t, &(lb, j)) in order.iter().enumerate() {
        if let Some(&(_, next)) = order.get(t + 1) {
            graph::prefetch(r_rows[next]);
        }
        if lb > top.threshold() * (1.0 + BOUND_SLACK) {
            break;
        }
        top.push(Cand { d2: exact_d2(x, r_rows[j]), j });
    }
    top.into_sorted()
}

/// The rows of `x` (n × d, row-major) centred about `mean`, in f32.
fn centre(x: &[f32], d: usize, mean: &[f64]) -> Vec<f32> {
    x.chunks_exact(d).flat_map(|row| row.iter().zip(mean).map(|(&v, &mu)| (v as f64 - mu) as f32)).collect()
}

/// Norm of each row's part outside the principal coordinates: √max(0, ‖x − μ‖² − ‖Px‖²).
fn residual_norms(x: &[f32], d: usize, mean: &[f64], proj: &[f32], m: usize) -> Vec<f32> {
    (0..x.len() / d)
        .into_par_iter()
        .map(|i| {
            let row = &x[i * d..(i + 1) * d];
            let full: f64 = row.iter().zip(mean).map(|(&v, &mu)| (v as f64 - mu) * (v as f64 - mu)).sum();
            let inside: f64 = proj[i * m..(i + 1) * m].iter().map(|&v| v as f64 * v as f64).sum();
            (full - inside).max(0.0).sqrt() as f32
        })
        .collect()
}

/// Column means of row-major `x` (n × d) summed in fixed blocks and a fixed order (thread-count independent).
fn ordered_mean(x: &[f32], d: usize) -> Vec<f64> {
    let n = x.len() / d;
    let parts: Vec<Vec<f64>> = x
        .par_chunks(d * PROJECT_BLOCK)
        .map(|block| {
            let mut s = vec![0.0f64; d];
            for row in block.chunks_exact(d) {
                s.iter_mut().zip(row).for_each(|(s, &v)| *s += v as f64);
            }
            s
        })
        .collect();
    let mut mean = vec![0.0f64; d];
    for p in parts {
        mean.iter_mut().zip(p).for_each(|(m, v)| *m += v);
    }
    mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
    mean
}

/// Insertion order of the graph: the point nearest the centroid first (the entry of every search; ties to the
/// smaller index), then the others in a seeded random order.
fn insertion_order(pts: Points, seed: u64) -> Vec<u32> {
    let n = pts.len();
    let zero = vec![0.0f32; pts.m];
    let norms: Vec<f32> = (0..n).into_par_iter().map(|i| graph::d2(pts.row(i), &zero)).collect();
    let first = (0..n).min_by(|&a, &b| norms[a].total_cmp(&norms[b]).then(a.cmp(&b))).unwrap_or(0);
    let mut rest: Vec<u32> = (0..n as u32).filter(|&i| i as usize != first).collect();
    let mut rng = seeds::stream(seeds::sub_seed(seed, 0x0067_7261_7068), 0);
    rest.shuffle(&mut rng);
    let mut order = Vec::with_capacity(n);
    order.push(first as u32);
    order.extend(rest);
    order
}

/// Row-major n × m principal coordinates of the rows of `x` (n × d, row-major) about `mean`.
fn project(x: &[f32], d: usize, mean: &[f64], basis: MatRef<f32>) -> Vec<f32> {
    let m = basis.ncols();
    let mut out = vec![0.0f32; x.len() / d * m];
    if m == 0 {
        return out;
    }
    out.par_chunks_mut(PROJECT_BLOCK * m).zip(x.par_chunks(PROJECT_BLOCK * d)).for_each(|(o, block)| {
        let rows = block.len() / d;
        let centred: Vec<f32> =
            block.chunks_exact(d).flat_map(|r| r.iter().zip(mean).map(|(&v, &mu)| (v as f64 - mu) as f32)).collect();
        let a = MatRef::from_row_major_slice(&centred, rows, d);
        let mut p = Mat::<f32>::zeros(rows, m);
        faer::linalg::matmul::matmul(p.as_mut(), Accum::Replace, a, basis, 1.0, Par::Seq);
        for (i, row) in o.chunks_exact_mut(m).enumerate() {
            row.iter_mut().enumerate().for_each(|(j, v)| *v = p[(i, j)]);
        }
    });
    out
}

/// Exact scan of every reference row (fallback when the graph yields fewer than `k` candidates).
fn scan(x: &[f32], r_rows: &[&[f32]], k: usize, skip: Option<usize>) -> Vec<Cand> {
    let mut top = TopK::new(k);
    for (j, r) in r_rows.iter().enumerate() {
        if Some(j) != skip {
            top.push(Cand { d2: exact_d2(x, r), j });
        }
    }
    top.into_sorted()
}

/// Recall@k of a search, measured on a seeded sample of its query rows against the exact engine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recall {
    /// Mean fraction of each sampled row's exact k nearest neighbours (by index, exact tie rule) that were returned.
    pub recall: f64,
    /// Smallest per-row recall among the sampled rows.
    pub min_row_recall: f64,
    /// Number of sampled query rows.
    pub sampled: usize,
}

/// Recall@k of `found` (the result of a search with query `query`, or of a self-search when `query` is `None`) on
/// `sample` query rows drawn with `seed` (all rows when there are fewer), against the exact engine's answer for
/// those rows. An exact result has recall 1.
pub fn recall(
    reference: ArrayView2<f32>,
    query: Option<ArrayView2<f32>>,
    found: &Neighbors,
    sample_size: usize,
    seed: u64,
) -> Result<Recall, KnnError> {
    let q_all = query.unwrap_or(reference);
    if found.n() != q_all.nrows() {
        return Err(KnnError::InvalidOption(format!(
            "the result has {} rows but the query has {}",
            found.n(),
            q_all.nrows()
        )));
    }
    if sample_size == 0 {
        return Err(KnnError::InvalidOption("the recall sample must have at least one row".into()));
    }
    let rows = recall_rows(q_all.nrows(), sample_size, seed);
    let got = found.indices.select(Axis(0), &rows);
    recall_of(reference, query, &rows, got.view())
}

/// The query rows [`recall`] samples (sorted): `sample_size` rows of `n_q` drawn with `seed`, or all of them.
pub(crate) fn recall_rows(n_q: usize, sample_size: usize, seed: u64) -> Vec<usize> {
    let mut rows: Vec<usize> = if sample_size >= n_q {
        (0..n_q).collect()
    } else {
        let mut rng = seeds::stream(seeds::sub_seed(seed, 0x7265_6361_6c6c), 0);
        sample(&mut rng, n_q, sample_size).into_vec()
    };
    rows.sort_unstable();
    rows
}

/// Recall@k of the neighbour lists `got` (row t: the search's answer for query row `rows[t]`) against the exact
/// engine.
pub(crate) fn recall_of(
    reference: ArrayView2<f32>,
    query: Option<ArrayView2<f32>>,
    rows: &[usize],
    got: ArrayView2<usize>,
) -> Result<Recall, KnnError> {
    let k = got.ncols();
    let q_all = query.unwrap_or(reference);
    let sub = q_all.select(Axis(0), rows);
    // Brute force for the sampled rows: exact like every exact strategy, and its memory stays O(block) however many
    // reference rows there are (a pruned plan would hold principal coordinates of every reference row).
    let exact_opts = KnnOptions { strategy: Strategy::Brute, ..KnnOptions::default() };
    let self_mode = query.is_none();
    let extra = usize::from(self_mode && k < reference.nrows());
    let exact = crate::knn_query_with(reference, sub.view(), k + extra, &exact_opts)?;
    let per_row: Array1<f64> = rows
        .iter()
        .enumerate()
        .map(|(t, &i)| {
            let truth: Vec<usize> =
                exact.indices.row(t).iter().copied().filter(|&j| !(self_mode && j == i)).take(k).collect();
            let got = got.row(t);
            truth.iter().filter(|j| got.iter().any(|g| g == *j)).count() as f64 / truth.len().max(1) as f64
        })
        .collect();
    Ok(Recall {
        recall: per_row.mean().unwrap_or(1.0),
        min_row_recall: per_row.iter().copied().fold(1.0, f64::min),
        sampled: rows.len(),
    })
}
