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
//! # Blocks of rows
//! [`Search`] prepares a search once (inputs checked, strategy chosen, its structures built) and answers any block
//! of query rows; a row's answer does not depend on the blocks, so [`knn_self_with`] / [`knn_query_with`] are one
//! block of every row and the `neighbors` command ([`command`]) writes each block of results as it is found,
//! holding one block instead of the n × k tables.
//!
//! # Scale
//! Every strategy is exact for finite f32 data of any magnitude (1e-45 … 3.4e38): the centred rows enter the f32
//! GEMM multiplied by a power of two that brings their largest magnitude near 1 (exact; ordinary data, largest
//! centred magnitude in [2^-20, 2^20], are not rescaled), and the exact distances are f64 sums of squared f32
//! differences (at most ~4.6e77 per term, far inside f64's range). Distances are returned in float32, in the data's
//! own units: a search whose neighbour distance exceeds float32's range (3.4e38) is refused with
//! [`KnnError::DistanceOverflow`] rather than answered with +inf.

use std::ops::Range;

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

mod approx;
pub mod bench;
mod blocks;
mod brute;
pub mod command;
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
    let search = Search::new(data, None, k, opts)?;
    search.rows(0..search.n_query())
}

/// [`knn_query`] with explicit options.
pub fn knn_query_with(
    reference: ArrayView2<f32>,
    query: ArrayView2<f32>,
    k: usize,
    opts: &KnnOptions,
) -> Result<Neighbors, KnnError> {
    let search = Search::new(reference, Some(query), k, opts)?;
    search.rows(0..search.n_query())
}

/// A search prepared once — inputs checked, the strategy chosen, its structures built (centring and norms, the
/// principal coordinates and blocks, the k-d tree or the approximate graph) — that answers any block of query rows
/// with [`Search::rows`]. Each row's answer does not depend on the blocks: searching the rows in consecutive blocks
/// gives, bit for bit, [`knn_self_with`] / [`knn_query_with`] (which are one block of every row), so a caller can
/// write each block's result as it comes and hold one block at a time instead of the whole n × k tables.
pub struct Search<'a> {
    k: usize,
    opts: KnnOptions,
    n_query: usize,
    what: &'static str,
    data: [Option<ArrayView2<'a, f32>>; 2],
    duplicate_rows: usize,
    engine: Engine<'a>,
}

enum Engine<'a> {
    Brute(brute::Brute<'a>),
    Tree { tree: tree::Tree, queries: std::borrow::Cow<'a, [f32]> },
    Pruned { prep: Box<pruned::Prepared<'a>>, setup: Box<pruned::Setup> },
    Approx(Box<approx::Prepared<'a>>),
}

impl<'a> Search<'a> {
    /// Checks the inputs and prepares the search of the `k` nearest `reference` rows of every `query` row, or, with
    /// `query` = `None`, of every reference row among the others (self excluded).
    pub fn new(
        reference: ArrayView2<'a, f32>,
        query: Option<ArrayView2<'a, f32>>,
        k: usize,
        opts: &KnnOptions,
    ) -> Result<Self, KnnError> {
        opts.check()?;
        let self_mode = query.is_none();
        check_matrix(reference, if self_mode { "data" } else { "reference" })?;
        let n = reference.nrows();
        if let Some(q) = query {
            check_matrix(q, "query")?;
            if q.ncols() != reference.ncols() {
                return Err(KnnError::DimensionMismatch { query: q.ncols(), reference: reference.ncols() });
            }
        }
        if k == 0 {
            return Err(KnnError::ZeroK);
        }
        let available = if self_mode { n - 1 } else { n };
        if k > available {
            return Err(KnnError::TooFewPoints { k, n, available });
        }
        let duplicate_rows = duplicate_rows(reference).len();
        let engine = Engine::new(reference, query, k, opts)?;
        Ok(Search {
            k,
            opts: *opts,
            n_query: query.map_or(n, |q| q.nrows()),
            what: if self_mode { "data" } else { "query" },
            data: [Some(reference), query],
            duplicate_rows,
            engine,
        })
    }

    /// Number of query rows (the reference rows in a self-search).
    pub fn n_query(&self) -> usize {
        self.n_query
    }

    /// Number of neighbours per row.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Reference rows that exactly duplicate an earlier reference row.
    pub fn duplicate_rows(&self) -> usize {
        self.duplicate_rows
    }

    /// The neighbours of the query rows `rows` (row `t` of the result: query row `rows.start + t`). Fails with
    /// [`KnnError::DistanceOverflow`] (naming the query row) when a distance exceeds float32's range, and with
    /// [`KnnError::InvalidOption`] for rows beyond [`Search::n_query`].
    pub fn rows(&self, rows: Range<usize>) -> Result<Neighbors, KnnError> {
        if rows.start > rows.end || rows.end > self.n_query {
            return Err(KnnError::InvalidOption(format!(
                "rows {}..{} of a query of {} rows",
                rows.start, rows.end, self.n_query
            )));
        }
        let (k, opts) = (self.k, &self.opts);
        let (indices, distances) = match &self.engine {
            Engine::Brute(b) => b.search_rows(rows.clone(), k, opts),
            Engine::Tree { tree, queries } => {
                let d = self.data[0].map_or(1, |r| r.ncols());
                let found = tree.search(&queries[rows.start * d..rows.end * d], k, self.data[1].is_none(), rows.start);
                assemble(found, rows.len(), k)
            }
            Engine::Pruned { prep, setup } => pruned::search_range(prep, setup, rows.clone(), opts),
            Engine::Approx(a) => a.search_rows(rows.clone(), k),
        };
        let data: Vec<ArrayView2<f32>> = self.data.iter().flatten().copied().collect();
        check_distances(&indices, &distances, self.what, rows.start, &data)?;
        Ok(Neighbors { indices, distances, duplicate_rows: self.duplicate_rows })
    }
}

impl<'a> Engine<'a> {
    fn new(
        reference: ArrayView2<'a, f32>,
        query: Option<ArrayView2<'a, f32>>,
        k: usize,
        opts: &KnnOptions,
    ) -> Result<Self, KnnError> {
        let self_mode = query.is_none();
        let q_view = query.unwrap_or(reference);
        let tree = || {
            let queries = contiguous(q_view);
            let tree = match query {
                None => tree::Tree::build(&queries, reference.ncols()),
                Some(_) => tree::Tree::build(&contiguous(reference), reference.ncols()),
            };
            Engine::Tree { tree, queries }
        };
        let pruned = |prep: pruned::Prepared<'a>, m: usize| {
            let setup = pruned::setup(&prep, k, m, opts);
            Engine::Pruned { prep: Box::new(prep), setup: Box::new(setup) }
        };
        Ok(match opts.strategy {
            Strategy::Approx => Engine::Approx(Box::new(approx::Prepared::new(reference, query, opts)?)),
            Strategy::Brute => Engine::Brute(brute::Brute::new(reference, query)),
            Strategy::Tree => tree(),
            Strategy::PcaPruned => {
                let m_max = if opts.pruning_dims == 0 { pruned::MAX_DIMS } else { opts.pruning_dims };
                let prep = pruned::Prepared::new(reference, q_view, self_mode, m_max);
                let m = if opts.pruning_dims == 0 { pruned::plan(&prep, k, opts).dims } else { opts.pruning_dims };
                pruned(prep, m)
            }
            Strategy::Auto => match strategy::auto_path(reference.nrows(), reference.ncols()) {
                strategy::AutoPath::Tree => tree(),
                strategy::AutoPath::Brute => Engine::Brute(brute::Brute::new(reference, query)),
                strategy::AutoPath::Planned => {
                    let prep = pruned::Prepared::new(reference, q_view, self_mode, pruned::MAX_DIMS);
                    let plan = pruned::plan(&prep, k, opts);
                    if strategy::plan_prunes(&plan) {
                        pruned(prep, plan.dims)
                    } else {
                        drop(prep);
                        Engine::Brute(brute::Brute::new(reference, query))
                    }
                }
            },
        })
    }
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
/// would mislead every consumer. `first` is the query row of the result's first row.
fn check_distances(
    indices: &Array2<usize>,
    distances: &Array2<f32>,
    what: &'static str,
    first: usize,
    data: &[ArrayView2<f32>],
) -> Result<(), KnnError> {
    let Some(pos) = distances.iter().position(|x| x.is_infinite()) else { return Ok(()) };
    let (row, col) = (pos / distances.ncols(), pos % distances.ncols());
    let max_abs = data.iter().flat_map(|m| m.iter()).fold(0.0f32, |a, &x| a.max(x.abs()));
    Err(KnnError::DistanceOverflow { what, row: first + row, neighbor: indices[(row, col)], max_abs })
}
