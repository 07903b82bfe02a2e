//! Search strategies, the engine's options and the planner that chooses between brute force, the PCA-pruned search
//! and the k-d tree.

use std::fmt;
use std::str::FromStr;

use ndarray::ArrayView2;

use crate::{approx, check_matrix, pruned, KnnError};

/// [`Strategy::Auto`] considers pruning from this many reference rows …
pub const AUTO_MIN_ROWS: usize = 4096;
/// … and this many columns, and prunes when the planner predicts it [`AUTO_MIN_GAIN`] times faster than brute force.
pub const AUTO_MIN_DIMS: usize = 64;
/// Required predicted speed-up of pruning over brute force under [`Strategy::Auto`].
pub const AUTO_MIN_GAIN: f64 = 1.25;
/// [`Strategy::Auto`] uses the k-d tree up to this many columns from [`AUTO_TREE_MIN_ROWS`] rows, and up to
/// [`AUTO_TREE_MAX_DIMS_LARGE`] columns from [`AUTO_TREE_LARGE_ROWS`] rows. Measured on uniform balls (the worst
/// case for a tree), k = 11: the tree is 3.0× / 2.4× / 0.84× brute force's speed at d = 2 / 4 / 6 with 2000 rows,
/// 18× / 6.4× / 1.7× / 0.68× at d = 2 / 4 / 6 / 8 with 20 000 rows.
pub const AUTO_TREE_MAX_DIMS: usize = 4;
/// See [`AUTO_TREE_MAX_DIMS`].
pub const AUTO_TREE_MIN_ROWS: usize = 256;
/// See [`AUTO_TREE_MAX_DIMS`].
pub const AUTO_TREE_MAX_DIMS_LARGE: usize = 6;
/// See [`AUTO_TREE_MAX_DIMS`].
pub const AUTO_TREE_LARGE_ROWS: usize = 8192;

/// [`Strategy::Auto`]'s first decision, by shape alone: the tree, brute force, or ask the planner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AutoPath {
    Tree,
    Brute,
    Planned,
}

pub(crate) fn auto_path(n: usize, d: usize) -> AutoPath {
    if (d <= AUTO_TREE_MAX_DIMS && n >= AUTO_TREE_MIN_ROWS)
        || (d <= AUTO_TREE_MAX_DIMS_LARGE && n >= AUTO_TREE_LARGE_ROWS)
    {
        AutoPath::Tree
    } else if n < AUTO_MIN_ROWS || d < AUTO_MIN_DIMS {
        AutoPath::Brute
    } else {
        AutoPath::Planned
    }
}

/// The planner's verdict for [`AutoPath::Planned`].
pub(crate) fn plan_prunes(p: &pruned::Plan) -> bool {
    p.pruned_cost * AUTO_MIN_GAIN < p.brute_cost
}

/// Search strategy. Every strategy but [`Strategy::Approx`] returns the same (exact) answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Brute force, unless the problem is large ([`AUTO_MIN_ROWS`], [`AUTO_MIN_DIMS`]) and the planner predicts
    /// pruning [`AUTO_MIN_GAIN`] times faster (see [`plan`]).
    #[default]
    Auto,
    /// Blocked GEMM over all pairs.
    Brute,
    /// Principal-coordinate lower bounds, exact refinement of the survivors.
    PcaPruned,
    /// k-d tree with bounding boxes (low-dimensional data).
    Tree,
    /// Approximate: HNSW graph candidates ([`KnnOptions::ef_search`], [`KnnOptions::ef_construction`],
    /// [`KnnOptions::seed`]) with exact distances and the exact tie rule; measure its recall with
    /// [`recall`](crate::recall).
    Approx,
}

/// Options of the engine (defaults are right for almost every use).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KnnOptions {
    pub strategy: Strategy,
    /// Query rows per task.
    pub query_block: usize,
    /// Reference rows per GEMM (the PCA-pruned search uses at most 256: its bound blocks then stay in cache).
    pub reference_block: usize,
    /// Number of principal coordinates used for the lower bound (PcaPruned); 0 = chosen by the planner.
    pub pruning_dims: usize,
    /// Candidates per query of the approximate search (more: higher recall, slower).
    pub ef_search: usize,
    /// Candidates per insertion while building the approximate search's graph.
    pub ef_construction: usize,
    /// Principal coordinates the approximate search's graph is built on (0 = all columns); candidates are always
    /// re-ranked with exact full-dimensional distances.
    pub approx_dims: usize,
    /// Seed of the approximate search's graph (same seed, same neighbours).
    pub seed: u64,
}

impl Default for KnnOptions {
    fn default() -> Self {
        KnnOptions {
            strategy: Strategy::Auto,
            query_block: 256,
            reference_block: 2048,
            pruning_dims: 0,
            ef_search: approx::DEFAULT_EF_SEARCH,
            ef_construction: approx::DEFAULT_EF_CONSTRUCTION,
            approx_dims: approx::DEFAULT_APPROX_DIMS,
            seed: 0,
        }
    }
}

impl KnnOptions {
    pub(crate) fn check(&self) -> Result<(), KnnError> {
        if self.query_block == 0 || self.reference_block == 0 {
            return Err(KnnError::InvalidOption("block sizes must be positive".into()));
        }
        approx::check_options(self)
    }
}

/// The planner's view of a self-search: which strategy [`Strategy::Auto`] takes, with how many principal coordinates,
/// and the predicted thread-seconds of pruning and brute force (for `bench knn` and diagnostics; the tree is chosen
/// by dimension alone).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlanReport {
    pub strategy: Strategy,
    pub pruning_dims: usize,
    pub predicted_pruned_seconds: f64,
    pub predicted_brute_seconds: f64,
}

/// What [`Strategy::Auto`] would do for `knn_self(data, k)`.
pub fn plan(data: ArrayView2<f32>, k: usize, opts: &KnnOptions) -> Result<PlanReport, KnnError> {
    opts.check()?;
    check_matrix(data, "data")?;
    if k == 0 {
        return Err(KnnError::ZeroK);
    }
    if k >= data.nrows() {
        return Err(KnnError::TooFewPoints { k, n: data.nrows(), available: data.nrows() - 1 });
    }
    let prep = pruned::Prepared::new(data, data, true, pruned::MAX_DIMS);
    let p = pruned::plan(&prep, k, opts);
    let strategy = match auto_path(data.nrows(), data.ncols()) {
        AutoPath::Tree => Strategy::Tree,
        AutoPath::Planned if plan_prunes(&p) => Strategy::PcaPruned,
        _ => Strategy::Brute,
    };
    Ok(PlanReport {
        strategy,
        pruning_dims: p.dims,
        predicted_pruned_seconds: p.pruned_cost,
        predicted_brute_seconds: p.brute_cost,
    })
}

impl Strategy {
    /// Every strategy, in the order of its names.
    pub const ALL: [Strategy; 5] =
        [Strategy::Auto, Strategy::Brute, Strategy::PcaPruned, Strategy::Tree, Strategy::Approx];
    /// The exact strategies (identical answers).
    pub const EXACT: [Strategy; 4] = [Strategy::Auto, Strategy::Brute, Strategy::PcaPruned, Strategy::Tree];

    /// Whether the strategy returns the exact answer (all but [`Strategy::Approx`]).
    pub fn is_exact(&self) -> bool {
        *self != Strategy::Approx
    }

    /// The strategy's name: `auto`, `brute`, `pruned` (PCA-pruned), `tree` or `approx`.
    pub fn name(&self) -> &'static str {
        match self {
            Strategy::Auto => "auto",
            Strategy::Brute => "brute",
            Strategy::PcaPruned => "pruned",
            Strategy::Tree => "tree",
            Strategy::Approx => "approx",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Strategy {
    type Err = String;
    /// A name of [`Strategy::name`] (any case).
    fn from_str(s: &str) -> Result<Self, String> {
        let lower = s.trim().to_ascii_lowercase();
        Strategy::ALL.into_iter().find(|x| x.name() == lower).ok_or_else(|| {
            let names: Vec<&str> = Strategy::ALL.iter().map(Strategy::name).collect();
            format!("`{s}` is not a search strategy ({})", names.join(", "))
        })
    }
}
