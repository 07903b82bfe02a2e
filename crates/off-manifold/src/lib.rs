//! Off-manifold scores: how far does an image lie from the manifold of a reference collection of natural images,
//! and how unusual is that distance for a natural image?
//!
//! # Scores (per query; all neighbour searches go through the shared [`knn`] engine)
//! * `knn_kth`, `knn_mean`: distance to the k-th nearest reference image, mean distance to the k nearest.
//! * `tangent`: distance from the query to the affine local tangent space: mean + span of the first d principal
//!   directions of its k nearest reference images (Stutz et al. 2019's distance to the manifold, with local PCA as
//!   the manifold model). Computed by the Gram trick (k × k eigenproblem, never D × D).
//! * `lid`: local intrinsic dimensionality of the query w.r.t. the reference, the maximum-likelihood estimator of
//!   Ma et al. 2018, LID = −(1/k Σᵢ log(rᵢ/r_k))⁻¹ over the k nearest reference distances. This is k/(k−1) times the
//!   Levina–Bickel per-point MLE of the `intrinsic-dim` crate, which is called (one copy of the formula). Zero
//!   distances (a query identical to a reference image) are left out; fewer than two positive distances give NaN.
//! * `flow`: flow-compensated residual. For each of the `flow_neighbors` nearest reference images, the dense flow
//!   query → reference is estimated (the `optical-flow` crate, on grey images), the reference is warped onto the
//!   query, and the mean absolute difference over all pixels and channels is taken; the score is the smallest.
//!   An image the camera could have taken of the scene scores near zero even when its pixel distance is large.
//!
//! # Calibration
//! Each score is also reported as a percentile of the same score computed for reference images against the rest of
//! the reference (leave-one-out: a reference image is never its own neighbour): 0.5 = a typical natural image,
//! ≥ 0.99 = off the manifold. The calibration uses all reference images up to [`ScoreOptions::calibration`], else a
//! seeded sample of that many (their neighbours are still searched in the whole reference). The flow score, which
//! costs one flow per neighbour, is calibrated on a seeded sub-sample of [`ScoreOptions::flow_calibration`] of those.
//! Reference rows that exactly duplicate an earlier row are dropped first (they would be each other's neighbours at
//! distance zero); their count is reported.
//!
//! # Tangent dimension d
//! [`DimChoice::Auto`] (default): d = the rounded MLE intrinsic dimension of the reference, i.e. the
//! MacKay–Ghahramani combination (harmonic mean) of the Levina–Bickel per-point estimates over the calibration
//! images (skdim's `MLE` with `comb="mle"`). [`DimChoice::Local`]: each image's own rounded Levina–Bickel estimate
//! from its k neighbour distances. [`DimChoice::Fixed`]: given. Always clamped to 1..=k−1 (k points span at most
//! k − 1 dimensions).
//!
//! # Determinism
//! Every per-image computation is independent and collected in order; the calibration samples come from seeded
//! ChaCha8 streams; so the output does not depend on the number of threads.
//!
//! # Pieces
//! [`score`] is assembled from public pieces ([`check_methods`], [`calibration_sample`], [`CalibrationTable`],
//! [`TangentDim`], [`score_block`], [`sorted_calibration`], [`percentiles`]) that a sharded run calls one at a time
//! on neighbour tables and gathered rows: the same code, hence the same values bit for bit.

use std::borrow::Cow;
use std::time::Instant;

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

mod blocks;
pub mod features;
mod files;
mod flow_score;
mod groups;
pub mod memory;
mod method;
mod pairs;
pub mod pairs_file;
mod query;
pub mod stats;
mod tangent;

#[cfg(test)]
use blocks::lid_ma;
pub use blocks::{
    calibration_sample, check_methods, percentiles, score_block, sorted_calibration, Block, BlockScores,
    CalibrationTable, TangentDim,
};
pub(crate) use blocks::{levina_bickel, local_dim};
pub use dataset::{Column, Dataset, LoadOptions};
pub use files::{set_score_results, write_pairs_dir, write_score_dir, write_score_files};
pub use groups::{group_report, GroupReport, GroupStats};
pub use method::{Method, MethodList};
pub use optical_flow::FlowParams;
pub use pairs::{perturbation_energy, score_pairs, PairResult, PairsOptions, PairsReport, PairsRun, PairsSummary};
pub use pairs_file::{read_pairs, read_pairs_csv, PairEntry, PairLine, Pairs};
pub use query::{check_same_size, group_labels, matching_load_options, score_query, QueryGroups, QueryReport};

/// Default neighbours per image.
pub const DEFAULT_K: usize = 20;
/// Default number of reference images of the leave-one-out calibration.
pub const DEFAULT_CALIBRATION: usize = 2000;
/// Default number of nearest reference images tried by the flow score.
pub const DEFAULT_FLOW_NEIGHBORS: usize = 3;
/// Default number of calibration images of the flow score.
pub const DEFAULT_FLOW_CALIBRATION: usize = 200;
/// Default optical-flow method of the flow score (a name of `optical_flow::FlowMethod::from_name`).
pub const DEFAULT_FLOW_METHOD: &str = "dis";
pub use stats::{auroc, percentile_of, Distribution};

/// Errors of the off-manifold scores. Messages name the offending value, row or option.
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    #[error("the query collection is empty: nothing to score")]
    EmptyQuery,
    #[error("the reference collection is empty")]
    EmptyReference,
    #[error("query images have {query} values each but reference images have {reference}{detail}")]
    SizeMismatch { query: usize, reference: usize, detail: String },
    #[error(
        "k = {k} is too large for the reference: it has {n} distinct images{dups}, and every reference image needs k \
         neighbours besides itself for the calibration (use k < {n})"
    )]
    KTooLarge { k: usize, n: usize, dups: String },
    #[error("invalid option {name} = {value}: {reason}")]
    InvalidOption { name: &'static str, value: String, reason: String },
    #[error("the flow score needs images: the rows have no image shape (height, width, channels)")]
    NoShape,
    #[error("image shape {height}x{width}x{channels} has {expected} values but rows have {got}")]
    BadShape { height: usize, width: usize, channels: usize, expected: usize, got: usize },
    #[error("nearest neighbours of the {what}")]
    Knn {
        what: &'static str,
        #[source]
        source: knn::KnnError,
    },
    #[error("flow score of {what}")]
    Flow {
        what: String,
        #[source]
        source: optical_flow::FlowError,
    },
    #[error("pairs file {path}: {message}")]
    PairsFile { path: std::path::PathBuf, message: String },
    #[error("{what}")]
    Load {
        what: String,
        #[source]
        source: dataset::DatasetError,
    },
    #[error("size mismatch: {other} holds {other_holds} but the reference {reference} holds {reference_holds} (load both at one size and colour mode: --resize WxH, --gray or --rgb)")]
    ImageSizeMismatch { other: String, other_holds: String, reference: String, reference_holds: String },
    #[error("--groups {column}: the query {query} has no such manifest column (columns: {have})")]
    NoGroupColumn { column: String, query: String, have: String },
    #[error("numerical problem: {0}")]
    Numerical(String),
    #[error(transparent)]
    Output(#[from] output::OutputError),
}

pub type Result<T> = std::result::Result<T, ScoreError>;

pub(crate) fn invalid(name: &'static str, value: impl std::fmt::Display, reason: impl Into<String>) -> ScoreError {
    ScoreError::InvalidOption { name, value: value.to_string(), reason: reason.into() }
}

/// Height, width, channels of the images behind the rows (pixels row-major (y, x, channel)): the loaders' type.
pub use dataset::ImageShape;

/// How the tangent dimension d is chosen (see the crate docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DimChoice {
    #[default]
    Auto,
    Local,
    Fixed(usize),
}

impl DimChoice {
    /// `auto`, `local` or a whole number.
    pub fn parse(s: &str) -> Result<DimChoice> {
        match s.trim() {
            "auto" => Ok(DimChoice::Auto),
            "local" => Ok(DimChoice::Local),
            t => t
                .parse::<usize>()
                .map(DimChoice::Fixed)
                .map_err(|_| invalid("dim", s, "expected auto, local or a whole number ≥ 1")),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            DimChoice::Auto => "auto: rounded MLE intrinsic dimension of the reference (calibration images)".into(),
            DimChoice::Local => "local: each image's rounded Levina–Bickel estimate from its k neighbours".into(),
            DimChoice::Fixed(d) => format!("fixed: {d}"),
        }
    }

    pub(crate) fn check(&self, k: usize) -> Result<()> {
        if let DimChoice::Fixed(d) = *self {
            if d == 0 {
                return Err(invalid("dim", d, "the tangent space needs at least one dimension"));
            }
            if d >= k {
                return Err(invalid("dim", d, format!("k = {k} neighbours span at most k − 1 = {} dimensions", k - 1)));
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for DimChoice {
    type Err = ScoreError;
    fn from_str(s: &str) -> Result<DimChoice> {
        DimChoice::parse(s)
    }
}

impl std::fmt::Display for DimChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DimChoice::Auto => f.write_str("auto"),
            DimChoice::Local => f.write_str("local"),
            DimChoice::Fixed(d) => write!(f, "{d}"),
        }
    }
}

/// Options of [`score`].
#[derive(Debug, Clone)]
pub struct ScoreOptions {
    pub methods: Vec<Method>,
    /// Neighbours per image.
    pub k: usize,
    pub dim: DimChoice,
    /// Reference images used for the calibration (all of them when the reference is not larger).
    pub calibration: usize,
    /// Nearest reference images tried by the flow score.
    pub flow_neighbors: usize,
    /// Calibration images of the flow score (a seeded sub-sample of the calibration images).
    pub flow_calibration: usize,
    pub flow: FlowParams,
    /// Seed of the calibration samples.
    pub seed: u64,
    pub knn: knn::KnnOptions,
}

impl Default for ScoreOptions {
    fn default() -> Self {
        ScoreOptions {
            methods: vec![Method::Knn, Method::Tangent, Method::Lid],
            k: DEFAULT_K,
            dim: DimChoice::Auto,
            calibration: DEFAULT_CALIBRATION,
            flow_neighbors: DEFAULT_FLOW_NEIGHBORS,
            flow_calibration: DEFAULT_FLOW_CALIBRATION,
            flow: FlowParams::default(),
            seed: 0,
            knn: knn::KnnOptions::default(),
        }
    }
}

/// One score column: the query values, their percentiles and the calibration values they were ranked in.
#[derive(Debug, Clone)]
pub struct ScoreColumn {
    pub name: String,
    pub method: Method,
    pub values: Vec<f64>,
    pub percentiles: Vec<f64>,
    /// Leave-one-out values of the calibration images (row order of [`ScoreReport::calibration_rows`], or of
    /// [`ScoreReport::flow_calibration_rows`] for `flow`).
    pub calibration: Vec<f64>,
}

/// Everything [`score`] computes.
#[derive(Debug, Clone)]
pub struct ScoreReport {
    pub columns: Vec<ScoreColumn>,
    pub k: usize,
    /// Rows of the reference given, and the rows dropped as exact duplicates of earlier rows.
    pub n_reference: usize,
    pub duplicates_dropped: Vec<usize>,
    /// Reference rows (original indices) used for the calibration, ascending.
    pub calibration_rows: Vec<usize>,
    /// Reference rows (original indices) used for the flow calibration, ascending (empty without `flow`).
    pub flow_calibration_rows: Vec<usize>,
    /// MLE intrinsic dimension of the reference (MacKay–Ghahramani combination over the calibration images).
    pub reference_dimension: f64,
    /// Tangent dimension of every query (with `tangent`).
    pub tangent_dims: Option<Vec<usize>>,
    /// d of [`DimChoice::Auto`]/[`DimChoice::Fixed`] (None for `Local`), and whether the auto value had to be
    /// clamped to k − 1.
    pub dim_global: Option<usize>,
    pub dim_clamped: bool,
    /// Nearest reference image (original index) of every query and its distance.
    pub nearest: Vec<usize>,
    pub nearest_distance: Vec<f64>,
    /// Seconds per stage.
    pub timings: Vec<(&'static str, f64)>,
}

impl ScoreReport {
    pub fn column(&self, name: &str) -> Option<&ScoreColumn> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// Neighbour lists of a set of images (n × k, nearest first; indices into the de-duplicated reference).
pub(crate) struct NeighborLists {
    pub indices: Array2<usize>,
    pub distances: Array2<f32>,
}

/// The reference with duplicates dropped, plus its leave-one-out calibration neighbours.
pub(crate) struct Reference<'a> {
    pub data: Cow<'a, Array2<f32>>,
    view: Option<ArrayView2<'a, f32>>,
    /// Original index of every kept row.
    pub kept: Vec<usize>,
    pub duplicates: Vec<usize>,
    /// Calibration rows (indices into the kept rows) and their leave-one-out neighbours.
    pub calib_rows: Vec<usize>,
    pub calib: NeighborLists,
    /// Levina–Bickel per-point estimates of the calibration rows, and their MacKay–Ghahramani combination.
    pub calib_lb: Vec<f64>,
    pub dimension: f64,
}

impl<'a> Reference<'a> {
    pub fn view(&self) -> ArrayView2<'_, f32> {
        match &self.view {
            Some(v) => v.view(),
            None => self.data.view(),
        }
    }

    /// Drops duplicate rows, checks k, draws the calibration rows and finds their neighbours.
    pub fn build(
        reference: ArrayView2<'a, f32>,
        k: usize,
        calibration: usize,
        seed: u64,
        opts: &knn::KnnOptions,
    ) -> Result<Reference<'a>> {
        if reference.nrows() == 0 {
            return Err(ScoreError::EmptyReference);
        }
        if k == 0 {
            return Err(invalid("k", 0, "at least one neighbour is needed"));
        }
        if calibration < 2 {
            return Err(invalid("calibration", calibration, "at least 2 calibration images are needed"));
        }
        let duplicates = knn::duplicate_rows(reference);
        let (view, data, kept) = if duplicates.is_empty() {
            (Some(reference), Cow::Owned(Array2::zeros((0, 0))), (0..reference.nrows()).collect::<Vec<_>>())
        } else {
            let mut is_dup = vec![false; reference.nrows()];
            duplicates.iter().for_each(|&i| is_dup[i] = true);
            let kept: Vec<usize> = (0..reference.nrows()).filter(|&i| !is_dup[i]).collect();
            (None, Cow::Owned(reference.select(Axis(0), &kept)), kept)
        };
        let n = kept.len();
        if k >= n {
            let dups = if duplicates.is_empty() {
                String::new()
            } else {
                format!(" ({} rows given, {} exact duplicates dropped)", reference.nrows(), duplicates.len())
            };
            return Err(ScoreError::KTooLarge { k, n, dups });
        }
        let mut r = Reference {
            data,
            view,
            kept,
            duplicates,
            calib_rows: Vec::new(),
            calib: NeighborLists { indices: Array2::zeros((0, k)), distances: Array2::zeros((0, k)) },
            calib_lb: Vec::new(),
            dimension: f64::NAN,
        };
        let data = r.view();
        let table = match calibration_sample(n, calibration, seed) {
            None => CalibrationTable::from_self(
                knn::knn_self_with(data, k, opts).map_err(|source| ScoreError::Knn { what: "reference", source })?,
            ),
            Some(rows) => {
                let sub = data.select(Axis(0), &rows);
                let nb = knn::knn_query_with(data, sub.view(), k + 1, opts)
                    .map_err(|source| ScoreError::Knn { what: "calibration images", source })?;
                CalibrationTable::from_sample(rows, nb, k)?
            }
        };
        r.calib = NeighborLists { indices: table.indices, distances: table.distances };
        r.calib_rows = table.rows;
        r.calib_lb = table.lb;
        r.dimension = table.dimension;
        Ok(r)
    }

    /// Global d for Auto/Fixed (None for Local) and whether Auto was clamped.
    pub fn global_dim(&self, choice: DimChoice, k: usize) -> (Option<usize>, bool) {
        blocks::global_dim(choice, self.dimension, k)
    }
}

/// `m` of `0..n` without replacement (seeded ChaCha8 stream), ascending.
pub(crate) fn sample_sorted(n: usize, m: usize, seed: u64, stream: u64) -> Vec<usize> {
    if m >= n {
        return (0..n).collect();
    }
    let mut rng = seeds::stream(seed, stream);
    let mut v = rand::seq::index::sample(&mut rng, n, m).into_vec();
    v.sort_unstable();
    v
}

/// The checks of [`score`] that need no neighbour search (sizes, methods, k, d, flow parameters, finite queries);
/// returns the flow estimator when the flow score is asked for.
fn check_score_options(
    reference: ArrayView2<f32>,
    query: ArrayView2<f32>,
    shape: Option<ImageShape>,
    opts: &ScoreOptions,
) -> Result<Option<optical_flow::FlowEstimator>> {
    // Cheap checks first, before any neighbour search.
    if reference.nrows() == 0 {
        return Err(ScoreError::EmptyReference);
    }
    if query.nrows() == 0 {
        return Err(ScoreError::EmptyQuery);
    }
    if query.ncols() != reference.ncols() {
        return Err(ScoreError::SizeMismatch {
            query: query.ncols(),
            reference: reference.ncols(),
            detail: String::new(),
        });
    }
    if let Some(s) = shape {
        if s.len() != reference.ncols() {
            return Err(ScoreError::BadShape {
                height: s.height,
                width: s.width,
                channels: s.channels,
                expected: s.len(),
                got: reference.ncols(),
            });
        }
    }
    check_methods(opts, reference.nrows())?;
    let k = opts.k;
    let has = |m: Method| opts.methods.contains(&m);
    let flow_est = if has(Method::Flow) {
        let s = shape.ok_or(ScoreError::NoShape)?;
        if opts.flow_neighbors == 0 || opts.flow_neighbors > k {
            return Err(invalid("flow_neighbors", opts.flow_neighbors, format!("must lie in 1..=k = {k}")));
        }
        if opts.flow_calibration < 2 {
            return Err(invalid("flow_calibration", opts.flow_calibration, "at least 2 calibration images"));
        }
        let min = opts.flow.method.min_size();
        if s.width < min || s.height < min {
            return Err(invalid(
                "flow",
                format!("{}x{} images", s.width, s.height),
                format!("flow method {} needs at least {min}x{min} pixels", opts.flow.method.name()),
            ));
        }
        Some(
            optical_flow::FlowEstimator::new(opts.flow.clone())
                .map_err(|source| ScoreError::Flow { what: "the flow parameters".into(), source })?,
        )
    } else {
        None
    };
    // Non-finite query values are reported by the kNN engine, but check before the (expensive) calibration.
    if let Some((row, col, v)) = first_non_finite(query) {
        return Err(ScoreError::Knn {
            what: "queries",
            source: knn::KnnError::NonFinite { what: "query", row, col, value: v },
        });
    }

    Ok(flow_est)
}

/// Scores every query row against the reference (see the crate docs). `shape` is needed by the `flow` score only.
pub fn score(
    reference: ArrayView2<f32>,
    query: ArrayView2<f32>,
    shape: Option<ImageShape>,
    opts: &ScoreOptions,
) -> Result<ScoreReport> {
    let mut timings = Vec::new();
    let t0 = Instant::now();
    let flow_est = check_score_options(reference, query, shape, opts)?;
    let k = opts.k;
    let has = |m: Method| opts.methods.contains(&m);

    let reference_model = Reference::build(reference, k, opts.calibration, opts.seed, &opts.knn)?;
    timings.push(("calibration_knn", t0.elapsed().as_secs_f64()));
    let refv = reference_model.view();

    let t = Instant::now();
    let nb =
        knn::knn_query_with(refv, query, k, &opts.knn).map_err(|source| ScoreError::Knn { what: "queries", source })?;
    let q_lists = NeighborLists { indices: nb.indices, distances: nb.distances };
    timings.push(("query_knn", t.elapsed().as_secs_f64()));

    let tdim = TangentDim::resolve(opts.dim, reference_model.dimension, k);
    let with_tangent = has(Method::Tangent);

    let t = Instant::now();
    let qpoint = |i: usize| query.row(i);
    let q_block =
        Block { points: query, distances: q_lists.distances.view(), indices: q_lists.indices.view(), rows: refv };
    let q_scores = score_block(&q_block, with_tangent, &tdim, k)?;
    let c_points = if with_tangent { refv.select(Axis(0), &reference_model.calib_rows) } else { Array2::zeros((0, 0)) };
    let c_block = Block {
        points: c_points.view(),
        distances: reference_model.calib.distances.view(),
        indices: reference_model.calib.indices.view(),
        rows: refv,
    };
    let c_scores = score_block(&c_block, with_tangent, &tdim, k)?;
    timings.push(("scores", t.elapsed().as_secs_f64()));

    let mut columns = Vec::new();
    let mut push = |name: &str, method: Method, values: Vec<f64>, calibration: Vec<f64>| {
        let percentiles = percentiles(&sorted_calibration(&calibration), &values);
        columns.push(ScoreColumn { name: name.to_string(), method, values, percentiles, calibration });
    };
    let mut flow_rows = Vec::new();
    for &m in &opts.methods {
        match m {
            Method::Knn | Method::Tangent | Method::Lid => {
                for &name in m.columns() {
                    let (q, c) = (q_scores.column(name), c_scores.column(name));
                    let (q, c) = q.zip(c).expect("knn, tangent and lid columns are block scores");
                    push(name, m, q.to_vec(), c.to_vec());
                }
            }
            Method::Flow => {
                let t = Instant::now();
                let est = flow_est.as_ref().expect("estimator built when flow is asked for");
                let s = shape.expect("checked with the estimator");
                let f = opts.flow_neighbors;
                let q_flow = flow_score::min_residuals(
                    est,
                    refv,
                    s,
                    &qpoint,
                    query.nrows(),
                    &|i| q_lists.indices.row(i).iter().take(f).copied().collect(),
                    "query",
                )?;
                let sub = sample_sorted(reference_model.calib_rows.len(), opts.flow_calibration, opts.seed, 0xF10);
                let c_flow = flow_score::min_residuals(
                    est,
                    refv,
                    s,
                    &|i| refv.row(reference_model.calib_rows[sub[i]]),
                    sub.len(),
                    &|i| reference_model.calib.indices.row(sub[i]).iter().take(f).copied().collect(),
                    "reference",
                )?;
                flow_rows = sub.iter().map(|&i| reference_model.kept[reference_model.calib_rows[i]]).collect();
                push("flow", m, q_flow, c_flow);
                timings.push(("flow", t.elapsed().as_secs_f64()));
            }
            Method::Mahalanobis | Method::Softmax => {} // refused by check_score_options
        }
    }
    let kept = &reference_model.kept;
    Ok(ScoreReport {
        columns,
        k,
        n_reference: reference.nrows(),
        duplicates_dropped: reference_model.duplicates.clone(),
        calibration_rows: reference_model.calib_rows.iter().map(|&i| kept[i]).collect(),
        flow_calibration_rows: flow_rows,
        reference_dimension: reference_model.dimension,
        tangent_dims: with_tangent.then(|| q_scores.dims.clone()),
        dim_global: if with_tangent { tdim.global } else { None },
        dim_clamped: with_tangent && tdim.clamped,
        nearest: q_lists.indices.column(0).iter().map(|&j| kept[j]).collect(),
        nearest_distance: q_lists.distances.column(0).iter().map(|&x| x as f64).collect(),
        timings,
    })
}

/// Refuses a k the reference cannot serve before any work: every calibration image needs k neighbours besides
/// itself. [`Reference::build`] checks again once exact duplicates are dropped.
pub(crate) fn check_k_fits(k: usize, n_reference: usize) -> Result<()> {
    if n_reference == 0 {
        return Err(ScoreError::EmptyReference);
    }
    if k >= n_reference {
        return Err(ScoreError::KTooLarge { k, n: n_reference, dups: " or fewer".into() });
    }
    Ok(())
}

fn first_non_finite(m: ArrayView2<f32>) -> Option<(usize, usize, f32)> {
    m.axis_iter(Axis(0))
        .into_par_iter()
        .enumerate()
        .find_first(|(_, r)| r.iter().any(|x| !x.is_finite()))
        .and_then(|(row, r)| r.iter().enumerate().find(|(_, x)| !x.is_finite()).map(|(col, &v)| (row, col, v)))
}

#[cfg(test)]
mod tests;
