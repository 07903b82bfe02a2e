//! The one exact k-nearest-neighbour engine of imanifold (Euclidean).
//!
//! Every other crate (dimension estimators, geodesic graphs, off-manifold scores) calls this crate; there is no other
//! neighbour search in the project.
//!
//! # Algorithm
//! * **Brute force on a GEMM.** Rows are centred on the reference mean (distances are translation invariant and the
//!   smaller norms shrink the rounding error), squared distances are evaluated as ‖q‖² + ‖r‖² − 2 q·r with faer's f32
//!   GEMM, one query block × reference block at a time (memory O(block), never n × n), and each query keeps its best
//!   `k + margin` candidates. Query blocks run in parallel on rayon; each GEMM runs sequentially inside its task, so
//!   the blocking and hence the result do not depend on the thread count.
//! * **Exact refinement.** The selected candidates' distances are recomputed exactly (f64 accumulation over the
//!   original, uncentred f32 values) and sorted by (distance, index), so ties are broken by the smaller index. A
//!   rigorous floating-point error bound of the GEMM expansion certifies that no excluded row can beat the k-th
//!   refined distance; the queries whose certificate fails (near-duplicate clusters, huge norms, very large d) get a
//!   second GEMM pass that keeps every row within the error bound of their k-th refined distance, refined exactly.
//!   The result is therefore exactly the naive O(n²d) answer.
//! * **PCA-pruned search** ([`Strategy::PcaPruned`]): image collections have steeply decaying spectra. Rows are
//!   rotated into principal coordinates (an orthogonal change of basis: distances unchanged); the leading `m`
//!   coordinates give, by one small GEMM, a lower bound on every squared distance (the trailing coordinates can only
//!   add). Only candidates whose lower bound beats the current k-th exact distance are refined exactly. Results are
//!   identical to brute force; a cost model measured on sampled queries decides when it wins (see `pruned.rs`).
//! * **Approximate search** ([`Strategy::Approx`]) for large collections: HNSW graph candidates, exact distances and
//!   order, deterministic for a seed; [`recall`] measures its recall on sampled queries (see `approx.rs`).
//! * **k-d tree** ([`Strategy::Tree`]) for low-dimensional data, where brute force spends its time selecting rather
//!   than multiplying: exact box bounds with a rounding allowance, the same exact distances, the same answer.
//!
//! # Scale
//! Every strategy is exact for finite f32 data of any magnitude (1e-45 … 3.4e38): the centred rows enter the f32
//! GEMM multiplied by a power of two that brings their largest magnitude near 1 (exact; ordinary data, largest
//! centred magnitude in [2^-20, 2^20], are not rescaled), and the exact distances are f64 sums of squared f32
//! differences (at most ~4.6e77 per term, far inside f64's range). Distances are returned in float32, in the data's
//! own units: a search whose neighbour distance exceeds float32's range (3.4e38) is refused with
//! [`KnnError::DistanceOverflow`] rather than answered with +inf.

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

mod approx;
pub mod bench;
mod blocks;
mod brute;
mod duplicates;
mod graph;
mod kernel;
mod principal;
mod pruned;
mod strategy;
mod topk;
mod tree;

pub use approx::{
    recall, Recall, DEFAULT_APPROX_DIMS, DEFAULT_EF_CONSTRUCTION, DEFAULT_EF_SEARCH, DEFAULT_RECALL_SAMPLE, MAX_EF,
};
pub use duplicates::{duplicate_rows, duplicate_sources};
pub use kernel::{exact_d2, PairwiseBlocks};
pub use strategy::{
    plan, KnnOptions, PlanReport, Strategy, AUTO_MIN_DIMS, AUTO_MIN_GAIN, AUTO_MIN_ROWS, AUTO_TREE_LARGE_ROWS,
    AUTO_TREE_MAX_DIMS, AUTO_TREE_MAX_DIMS_LARGE, AUTO_TREE_MIN_ROWS,
};

pub(crate) use kernel::{column_mean, contiguous};
pub(crate) use topk::{assemble, finish, Cand, TopK};

/// Errors of the kNN engine.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum KnnError {
    #[error("k must be at least 1")]
    ZeroK,
    #[error("k = {k} needs more points: there are only {available} candidate neighbours (n = {n})")]
    TooFewPoints { k: usize, n: usize, available: usize },
    #[error("{what} has no rows")]
    Empty { what: &'static str },
    #[error("{what} has zero columns")]
    NoColumns { what: &'static str },
    #[error("{what} row {row} column {col} is not finite ({value})")]
    NonFinite { what: &'static str, row: usize, col: usize, value: f32 },
    #[error("query has {query} columns but the reference has {reference}")]
    DimensionMismatch { query: usize, reference: usize },
    #[error("invalid option: {0}")]
    InvalidOption(String),
    #[error(
        "the distance from {what} row {row} to its neighbour {neighbor} is beyond float32's range (3.4e38): the data's \
         largest magnitude is {max_abs:e}; rescale the data"
    )]
    DistanceOverflow { what: &'static str, row: usize, neighbor: usize, max_abs: f32 },
}

/// The k nearest neighbours of every query row.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbors {
    /// n_query × k reference row indices, nearest first (ties: smaller index first).
    pub indices: Array2<usize>,
    /// n_query × k exact Euclidean distances (not squared), ascending.
    pub distances: Array2<f32>,
    /// Number of reference rows that exactly duplicate an earlier reference row (zero distances: MLE/TwoNN need to
    /// know).
    pub duplicate_rows: usize,
}

impl Neighbors {
    pub fn k(&self) -> usize {
        self.indices.ncols()
    }
    pub fn n(&self) -> usize {
        self.indices.nrows()
    }
}

/// Exact k nearest neighbours of every row among the other rows (self excluded).
pub fn knn_self(data: ArrayView2<f32>, k: usize) -> Result<Neighbors, KnnError> {
    knn_self_with(data, k, &KnnOptions::default())
}

/// Exact k nearest reference rows of every query row.
pub fn knn_query(reference: ArrayView2<f32>, query: ArrayView2<f32>, k: usize) -> Result<Neighbors, KnnError> {
    knn_query_with(reference, query, k, &KnnOptions::default())
}

/// [`knn_self`] with explicit options.
pub fn knn_self_with(data: ArrayView2<f32>, k: usize, opts: &KnnOptions) -> Result<Neighbors, KnnError> {
    opts.check()?;
    check_matrix(data, "data")?;
    let n = data.nrows();
    if k == 0 {
        return Err(KnnError::ZeroK);
    }
    if k >= n {
        return Err(KnnError::TooFewPoints { k, n, available: n - 1 });
    }
    let duplicate_rows = duplicate_rows(data).len();
    let (indices, distances) = search(data, data, k, true, opts)?;
    check_distances(&indices, &distances, "data", &[data])?;
    Ok(Neighbors { indices, distances, duplicate_rows })
}

/// [`knn_query`] with explicit options.
pub fn knn_query_with(
    reference: ArrayView2<f32>,
    query: ArrayView2<f32>,
    k: usize,
    opts: &KnnOptions,
) -> Result<Neighbors, KnnError> {
    opts.check()?;
    check_matrix(reference, "reference")?;
    check_matrix(query, "query")?;
    if query.ncols() != reference.ncols() {
        return Err(KnnError::DimensionMismatch { query: query.ncols(), reference: reference.ncols() });
    }
    if k == 0 {
        return Err(KnnError::ZeroK);
    }
    if k > reference.nrows() {
        return Err(KnnError::TooFewPoints { k, n: reference.nrows(), available: reference.nrows() });
    }
    let duplicate_rows = duplicate_rows(reference).len();
    let (indices, distances) = search(reference, query, k, false, opts)?;
    check_distances(&indices, &distances, "query", &[reference, query])?;
    Ok(Neighbors { indices, distances, duplicate_rows })
}

pub(crate) fn check_matrix(m: ArrayView2<f32>, what: &'static str) -> Result<(), KnnError> {
    if m.nrows() == 0 {
        return Err(KnnError::Empty { what });
    }
    if m.ncols() == 0 {
        return Err(KnnError::NoColumns { what });
    }
    let bad = m.axis_iter(Axis(0)).into_par_iter().enumerate().find_first(|(_, r)| r.iter().any(|x| !x.is_finite()));
    if let Some((row, r)) = bad {
        let (col, &value) = r.iter().enumerate().find(|(_, x)| !x.is_finite()).expect("a non-finite value exists");
        return Err(KnnError::NonFinite { what, row, col, value });
    }
    Ok(())
}

/// Refuses a result whose distances overflow float32 (possible only for data beyond ~1e38 / √d, where distances
/// cannot be returned as [`Neighbors::distances`]); indices and order are exact even then, but a distance of +inf
/// would mislead every consumer.
fn check_distances(
    indices: &Array2<usize>,
    distances: &Array2<f32>,
    what: &'static str,
    data: &[ArrayView2<f32>],
) -> Result<(), KnnError> {
    let Some(pos) = distances.iter().position(|x| x.is_infinite()) else { return Ok(()) };
    let (row, col) = (pos / distances.ncols(), pos % distances.ncols());
    let max_abs = data.iter().flat_map(|m| m.iter()).fold(0.0f32, |a, &x| a.max(x.abs()));
    Err(KnnError::DistanceOverflow { what, row, neighbor: indices[(row, col)], max_abs })
}

fn search(
    reference: ArrayView2<f32>,
    query: ArrayView2<f32>,
    k: usize,
    self_mode: bool,
    opts: &KnnOptions,
) -> Result<(Array2<usize>, Array2<f32>), KnnError> {
    if opts.strategy == Strategy::Approx {
        return approx::search(reference, query, k, self_mode, opts);
    }
    Ok(match opts.strategy {
        Strategy::Brute => brute::brute(reference, query, k, self_mode, opts),
        Strategy::Tree => brute::tree_search(reference, query, k, self_mode),
        Strategy::PcaPruned => {
            let m_max = if opts.pruning_dims == 0 { pruned::MAX_DIMS } else { opts.pruning_dims };
            let prep = pruned::Prepared::new(reference, query, self_mode, m_max);
            let m = if opts.pruning_dims == 0 { pruned::plan(&prep, k, opts).dims } else { opts.pruning_dims };
            pruned::search(&prep, k, m, opts)
        }
        Strategy::Auto => match strategy::auto_path(reference.nrows(), reference.ncols()) {
            strategy::AutoPath::Tree => brute::tree_search(reference, query, k, self_mode),
            strategy::AutoPath::Brute => brute::brute(reference, query, k, self_mode, opts),
            strategy::AutoPath::Planned => {
                let prep = pruned::Prepared::new(reference, query, self_mode, pruned::MAX_DIMS);
                let plan = pruned::plan(&prep, k, opts);
                if strategy::plan_prunes(&plan) {
                    pruned::search(&prep, k, plan.dims, opts)
                } else {
                    brute::brute(reference, query, k, self_mode, opts)
                }
            }
        },
        Strategy::Approx => unreachable!("handled above"),
    })
}
