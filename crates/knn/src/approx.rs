//! Approximate search ([`Strategy::Approx`](crate::Strategy::Approx)): a hierarchical navigable small-world graph
//! (HNSW, M = 32, from the `instant-distance` crate) proposes the candidates; the engine returns them with exact
//! distances and the exact engine's order.
//!
//! * **Determinism.** The graph's layers come from a seeded generator ([`KnnOptions::seed`]) and the graph is built
//!   inside a one-thread pool (the crate inserts points in parallel within a layer, which would make the graph depend
//!   on the thread count); the queries then run in parallel, each a pure function of the graph. Same seed → same
//!   neighbours whatever the thread count.
//! * **Principal coordinates.** With [`KnnOptions::approx_dims`] = m < d, the graph is built and searched on the
//!   rows' leading m principal coordinates (basis from a deterministic subsample, as the PCA-pruned search): image
//!   collections have steep spectra, so the projected distances rank candidates almost as the full ones at a
//!   fraction of the cost; the candidates are then re-ranked with exact full-dimensional distances.
//! * **Exact distances.** Each query asks the graph for `max(ef_search, k + 1)` candidates; their distances are
//!   recomputed exactly (f64 sums over the raw f32 rows, as in the exact engine) and the best `k` are kept in
//!   (distance, index) order, ties to the smaller index. A query for which the graph returns too few candidates
//!   (tiny or degenerate inputs) is answered by an exact scan.
//! * **Recall.** [`recall`] measures recall@k on a seeded sample of query rows against the exact engine.

use std::borrow::Cow;

use faer::{Accum, Mat, MatRef, Par};
use instant_distance::{Builder, Point, Search};
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::seq::index::sample;
use rayon::prelude::*;

use crate::pruned::principal_basis;
use crate::{
    assemble, column_mean, contiguous, exact_d2, finish, Cand, KnnError, KnnOptions, Neighbors, Strategy, TopK,
};

/// Default candidate list size of a query ([`KnnOptions::ef_search`]).
pub const DEFAULT_EF_SEARCH: usize = 64;
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

/// One row as a point of the graph: squared Euclidean distance on the raw f32 values.
#[derive(Clone, Copy)]
struct Row<'a>(&'a [f32]);

impl Point for Row<'_> {
    fn distance(&self, other: &Self) -> f32 {
        // Four independent accumulators let the compiler vectorise the loop.
        let mut acc = [0.0f32; 8];
        let (a, b) = (self.0.chunks_exact(8), other.0.chunks_exact(8));
        let (ra, rb) = (a.remainder(), b.remainder());
        for (x, y) in a.zip(b) {
            for t in 0..8 {
                let e = x[t] - y[t];
                acc[t] += e * e;
            }
        }
        let tail: f32 = ra.iter().zip(rb).map(|(x, y)| (x - y) * (x - y)).sum();
        acc.iter().sum::<f32>() + tail
    }
}

pub(crate) fn check_options(o: &KnnOptions) -> Result<(), KnnError> {
    for (name, v) in [("ef_search", o.ef_search), ("ef_construction", o.ef_construction)] {
        if v == 0 || v > MAX_EF {
            return Err(KnnError::InvalidOption(format!("{name} must be in 1..={MAX_EF} (got {v})")));
        }
    }
    Ok(())
}

/// The approximate k nearest reference rows of every query row (self excluded when `self_mode`), exact distances.
pub(crate) fn search(
    reference: ArrayView2<f32>,
    query: ArrayView2<f32>,
    k: usize,
    self_mode: bool,
    opts: &KnnOptions,
) -> Result<(Array2<usize>, Array2<f32>), KnnError> {
    let d = reference.ncols();
    let r = contiguous(reference);
    let q = contiguous(query);
    let r_rows: Vec<&[f32]> = r.chunks_exact(d).collect();
    let want = k + usize::from(self_mode);
    let ef = opts.ef_search.max(want);
    let builder = Builder::default().ef_construction(opts.ef_construction).ef_search(ef).seed(opts.seed);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(|e| KnnError::InvalidOption(format!("cannot start the graph-building thread: {e}")))?;
    let m_asked = if opts.approx_dims == 0 { d } else { opts.approx_dims.min(d) };
    // Coordinates the graph works in: the raw rows, or their leading principal coordinates (computed on one
    // thread: the basis's GEMMs would otherwise depend on the thread count). Data of lower rank than asked for
    // get fewer coordinates (as many as the basis has directions).
    let (r_graph, q_graph, m): (Cow<[f32]>, Cow<[f32]>, usize) = if m_asked < d {
        pool.install(|| {
            let mean = column_mean(&r, d);
            let basis = principal_basis(&r, d, &mean, m_asked);
            let m = basis.ncols();
            let basis = Mat::<f32>::from_fn(d, m, |i, j| basis[(i, j)] as f32);
            let rp = project(&r, d, &mean, basis.as_ref());
            let qp = if self_mode { rp.clone() } else { project(&q, d, &mean, basis.as_ref()) };
            (Cow::Owned(rp), Cow::Owned(qp), m)
        })
    } else {
        (Cow::Borrowed(&r[..]), Cow::Borrowed(&q[..]), d)
    };
    let points: Vec<Row> = r_graph.chunks_exact(m).map(Row).collect();
    let (graph, ids) = pool.install(|| builder.build_hnsw(points));
    // The graph numbers points in its own (shuffled) order; map back to row indices.
    let mut row_of = vec![0usize; ids.len()];
    for (row, pid) in ids.iter().enumerate() {
        row_of[pid.into_inner() as usize] = row;
    }
    let q_rows: Vec<&[f32]> = q.chunks_exact(d).collect();
    let rows: Vec<(Vec<usize>, Vec<f32>)> = q_graph
        .par_chunks_exact(m)
        .enumerate()
        .map_init(Search::default, |s, (i, g)| {
            let skip = if self_mode { Some(i) } else { None };
            let x = q_rows[i];
            let mut c: Vec<Cand> = graph
                .search(&Row(g), s)
                .map(|it| row_of[it.pid.into_inner() as usize])
                .filter(|&j| Some(j) != skip)
                .map(|j| Cand { d2: exact_d2(x, r_rows[j]), j })
                .collect();
            if c.len() < k {
                c = scan(x, &r_rows, k, skip);
            }
            finish(c, k)
        })
        .collect();
    Ok(assemble(rows, query.nrows(), k))
}

/// Row-major n × m principal coordinates of the rows of `x` (n × d, row-major) about `mean`.
fn project(x: &[f32], d: usize, mean: &[f64], basis: MatRef<f32>) -> Vec<f32> {
    let m = basis.ncols();
    let mut out = vec![0.0f32; x.len() / d * m];
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
    let k = found.k();
    let n_q = q_all.nrows();
    let mut rows: Vec<usize> = if sample_size >= n_q {
        (0..n_q).collect()
    } else {
        let mut rng = seeds::stream(seeds::sub_seed(seed, 0x7265_6361_6c6c), 0);
        sample(&mut rng, n_q, sample_size).into_vec()
    };
    rows.sort_unstable();
    let sub = q_all.select(Axis(0), &rows);
    let exact_opts = KnnOptions { strategy: Strategy::Auto, ..KnnOptions::default() };
    let self_mode = query.is_none();
    let extra = usize::from(self_mode && k < reference.nrows());
    let exact = crate::knn_query_with(reference, sub.view(), k + extra, &exact_opts)?;
    let per_row: Array1<f64> = rows
        .iter()
        .enumerate()
        .map(|(t, &i)| {
            let truth: Vec<usize> =
                exact.indices.row(t).iter().copied().filter(|&j| !(self_mode && j == i)).take(k).collect();
            let got = found.indices.row(i);
            truth.iter().filter(|j| got.iter().any(|g| g == *j)).count() as f64 / truth.len().max(1) as f64
        })
        .collect();
    Ok(Recall {
        recall: per_row.mean().unwrap_or(1.0),
        min_row_recall: per_row.iter().copied().fold(1.0, f64::min),
        sampled: rows.len(),
    })
}
