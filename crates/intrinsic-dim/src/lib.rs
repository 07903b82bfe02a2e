//! Intrinsic-dimension estimators with scikit-dimension 0.5's names, parameters, defaults and variants
//! (`skdim.id`), global and pointwise, each with a 95 % interval.
//!
//! # Design
//! * One trait, [`Estimator`]: checked parameters (built by [`build`] from a name and skdim-named parameters) →
//!   [`Estimator::fit`] → an [`Estimate`] (dimension, interval, per-point values for local estimators, extras).
//! * One kNN pass: a [`FitContext`] holds the data and ONE [`knn::Neighbors`] with the largest k any requested
//!   estimator needs; each kNN estimator reads its first k columns ([`FitContext::neighbors`]).
//! * Local estimators (skdim `LocalEstimator`: mle, mom, tle, mada, ess) compute one value per point from its
//!   neighbourhood and combine them (`comb`); global estimators fit the whole set, and their pointwise version fits
//!   the estimator inside each point's kNN neighbourhood (skdim `fit_pw`, 100 neighbours by default).
//! * Intervals: analytic where the likelihood gives one (mle, twonn, gride), otherwise a bootstrap: resampling the
//!   per-point values for local estimators, half-sampling refits (B random halves without replacement, so no
//!   duplicate rows are created; the spread of an estimator over halves approximates its spread at full size for
//!   √n-consistent estimators) for global ones. See [`run`].
//! * Data too large for one process: the kNN-distance estimators run from a neighbour table computed elsewhere
//!   ([`FitContext::from_neighbors`], [`Session::run_neighbors`]: the same values bit for bit), global PCA from
//!   block moments combined by a fixed tree ([`moments`], which the one-process spectrum also uses).
//! * Everything parallel with rayon; per-item seeded ChaCha8 streams and fixed-order reductions make every result
//!   independent of the thread count.

use std::time::Instant;

use ndarray::{Array2, ArrayView2, Axis};
use rand::seq::index::sample;
use rayon::prelude::*;
use serde::Serialize;
use serde_json::{json, Map, Value};

pub mod calibration_cache;
mod calibration_sim;
pub mod corrected;
pub mod estimators;
pub mod graph_test;
pub mod linalg;
pub mod local_pca;
pub mod moments;
mod ritz;
pub mod session;
pub mod special;
pub mod stats;

pub use estimators::names as estimator_names;
pub use session::{
    write_dim_dir, CurveKind, CurveSpec, DimOptions, DimReport, Duplicates, Scales, Session, SessionError, Source,
};

/// Errors of the estimators.
#[derive(Debug, thiserror::Error)]
pub enum DimError {
    #[error("unknown estimator {0:?}; known: {known}", known = estimator_names().join(", "))]
    UnknownEstimator(String),
    #[error("{estimator}: invalid parameter {param} = {value}: {reason}")]
    InvalidParameter { estimator: &'static str, param: String, value: String, reason: String },
    #[error("{estimator}: unknown parameter {param:?} (known: {known})")]
    UnknownParameter { estimator: &'static str, param: String, known: String },
    #[error("{estimator} needs at least {needed} points, the data has {n}")]
    TooFewPoints { estimator: &'static str, n: usize, needed: usize },
    #[error("data row {row} column {col} is not finite ({value})")]
    NonFinite { row: usize, col: usize, value: f32 },
    #[error("the data has no {0}")]
    Empty(&'static str),
    #[error("all {n} points are identical: the dimension is undefined")]
    ConstantData { n: usize },
    #[error(
        "{count} rows exactly duplicate earlier rows (first: row {first}); zero neighbour distances make kNN \
         estimators undefined: drop them first (intrinsic_dim::drop_duplicates)"
    )]
    DuplicateRows { count: usize, first: usize },
    #[error("{estimator}: needs {needed} neighbours per point but the context holds {available}")]
    MissingNeighbors { estimator: &'static str, needed: usize, available: usize },
    #[error("{estimator}: {message}")]
    Numerical { estimator: &'static str, message: String },
    #[error("{estimator} needs the data rows, not only their neighbour table (estimators that run from a table: {table})", table = TABLE_ESTIMATORS.join(", "))]
    NeedsData { estimator: &'static str },
    #[error("invalid neighbour table: {message}")]
    BadTable { message: String },
    #[error("nearest neighbours: {0}")]
    Knn(#[from] knn::KnnError),
}

/// Estimators that run from a neighbour table alone ([`FitContext::from_neighbors`]); `imanifold` only with
/// `graph_test = false`. With a bootstrap, global estimators without an analytic interval (mind-ml, mle with
/// `neighborhood_based = false`) get no interval from a table (`ci_method` [`NO_TABLE_INTERVAL`]).
pub const TABLE_ESTIMATORS: [&str; 7] =
    ["mle", "twonn", "gride", "mom", "mada", "mind-ml", "imanifold (graph_test=false)"];

/// A fitted estimate.
#[derive(Debug, Clone, Serialize)]
pub struct Estimate {
    pub dimension: f64,
    /// 95 % interval, when one is available.
    pub ci95: Option<(f64, f64)>,
    /// How the interval was obtained.
    pub ci_method: String,
    /// Per-point estimates (local estimators; global ones through [`Estimator::fit_pointwise`]).
    #[serde(skip)]
    pub pointwise: Option<Vec<f64>>,
    /// Estimator-specific extras (e.g. gride's multiscale series, danco's KL divergence).
    pub extra: Value,
}

impl Estimate {
    pub fn new(dimension: f64) -> Self {
        Estimate { dimension, ci95: None, ci_method: "none".into(), pointwise: None, extra: Value::Null }
    }
    pub fn with_ci(mut self, lo: f64, hi: f64, method: &str) -> Self {
        self.ci95 = Some((lo, hi));
        self.ci_method = method.into();
        self
    }
    pub fn with_extra(mut self, extra: Value) -> Self {
        self.extra = extra;
        self
    }
    pub fn with_pointwise(mut self, pw: Vec<f64>) -> Self {
        self.pointwise = Some(pw);
        self
    }
}

/// How a local estimator combines its per-point values (skdim's `comb`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Comb {
    Mean,
    Median,
    /// MacKay–Ghahramani: harmonic mean 1 / mean(1 / d_i) (skdim MLE's default `comb="mle"`).
    Mle,
}

impl Comb {
    pub fn parse(estimator: &'static str, s: &str) -> Result<Self, DimError> {
        match s {
            "mean" => Ok(Comb::Mean),
            "median" => Ok(Comb::Median),
            "mle" => Ok(Comb::Mle),
            _ => Err(DimError::InvalidParameter {
                estimator,
                param: "comb".into(),
                value: s.into(),
                reason: "must be 'mean', 'median' or 'mle'".into(),
            }),
        }
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            Comb::Mean => "mean",
            Comb::Median => "median",
            Comb::Mle => "mle",
        }
    }
    /// Combines per-point values (NaN propagates, as in NumPy).
    pub fn apply(&self, pw: &[f64]) -> f64 {
        match self {
            Comb::Mean => stats::mean(pw),
            Comb::Median => stats::median(pw),
            Comb::Mle => 1.0 / stats::mean(&pw.iter().map(|d| 1.0 / d).collect::<Vec<_>>()),
        }
    }
}

/// The data and the one shared kNN result every estimator reads.
///
/// Two ways to build one, sharing everything after construction: from the data matrix ([`FitContext::new`]: the
/// kNN is computed here), or from a precomputed neighbour table without the data ([`FitContext::from_neighbors`],
/// e.g. a table computed over shards on several machines). Estimators that only read the neighbour distances
/// (mle, twonn, gride, mom, mada, and imanifold with `graph_test = false`) give the same values bit for bit either
/// way; the others ask for the rows through [`FitContext::data`] and fail with [`DimError::NeedsData`] without them.
pub struct FitContext<'a> {
    data: Option<ArrayView2<'a, f32>>,
    /// Rows and columns of the data (known without the data in the table path).
    n: usize,
    ncols: usize,
    neighbors: Option<knn::Neighbors>,
    /// Seed of every random choice (calibration samples, subsamples, bootstrap) unless an estimator's
    /// `random_state` is set.
    pub seed: u64,
    /// Bootstrap replicates for the intervals that need one (0 = no bootstrap interval; the default). Set it on
    /// the context before [`run`].
    pub bootstrap: usize,
    /// The rows' scatter about their column means ([0]) and about zero ([1]), computed on first use
    /// ([`FitContext::scatter`]) and shared by the PCA fits and their intervals.
    scatter: [std::sync::Mutex<Option<std::sync::Arc<moments::Scatter>>>; 2],
}

impl<'a> FitContext<'a> {
    /// Validates the data (finite, at least 2 rows, not constant, no duplicate rows) and computes the `k` nearest
    /// neighbours of every point once (`k = 0`: no kNN).
    pub fn new(data: ArrayView2<'a, f32>, k: usize, seed: u64) -> Result<Self, DimError> {
        Self::new_with(data, k, seed, &knn::KnnOptions::default())
    }

    /// [`FitContext::new`] with explicit kNN options (e.g. the PCA-pruned strategy for image data; every strategy
    /// returns the same exact neighbours).
    pub fn new_with(
        data: ArrayView2<'a, f32>,
        k: usize,
        seed: u64,
        knn_opts: &knn::KnnOptions,
    ) -> Result<Self, DimError> {
        validate(data)?;
        let neighbors = if k > 0 { Some(knn::knn_self_with(data, k, knn_opts)?) } else { None };
        if let Some(nb) = &neighbors {
            if nb.duplicate_rows > 0 {
                let dups = knn::duplicate_rows(data);
                return Err(DimError::DuplicateRows { count: dups.len(), first: dups.first().copied().unwrap_or(0) });
            }
        }
        Ok(Self::assemble(Some(data), data.nrows(), data.ncols(), neighbors, seed))
    }

    /// A context with precomputed neighbours (must be `knn_self` of `data`).
    pub fn with_neighbors(data: ArrayView2<'a, f32>, neighbors: knn::Neighbors, seed: u64) -> Result<Self, DimError> {
        validate(data)?;
        if neighbors.n() != data.nrows() {
            return Err(DimError::Numerical {
                estimator: "context",
                message: format!("neighbours for {} rows given for {} rows of data", neighbors.n(), data.nrows()),
            });
        }
        if neighbors.duplicate_rows > 0 {
            let dups = knn::duplicate_rows(data);
            return Err(DimError::DuplicateRows { count: dups.len(), first: dups.first().copied().unwrap_or(0) });
        }
        Ok(Self::assemble(Some(data), data.nrows(), data.ncols(), Some(neighbors), seed))
    }

    /// A context from a neighbour table alone (`knn_self` of data with `ncols` columns that this process does not
    /// hold): every row lists its nearest other rows, nearest first (ties by smaller index), with the exact
    /// Euclidean distances the kNN engine returns. Checked: the shapes agree, indices are in range and never the
    /// row itself, distances are finite, non-negative and ascending, and no row duplicates an earlier one (a zero
    /// first distance to a smaller index: [`DimError::DuplicateRows`], as the data path).
    pub fn from_neighbors(neighbors: knn::Neighbors, ncols: usize, seed: u64) -> Result<FitContext<'static>, DimError> {
        check_table(&neighbors, ncols)?;
        let n = neighbors.n();
        Ok(FitContext::assemble(None, n, ncols, Some(neighbors), seed))
    }

    fn assemble(
        data: Option<ArrayView2<'a, f32>>,
        n: usize,
        ncols: usize,
        neighbors: Option<knn::Neighbors>,
        seed: u64,
    ) -> Self {
        FitContext { data, n, ncols, neighbors, seed, bootstrap: 0, scatter: Default::default() }
    }

    /// The scatter of the data rows (Σ(x − mean)(x − mean)ᵀ, lower triangle) about their column means when
    /// `center`, else about zero, by [`moments`]' canonical blocks and tree (so bit for bit what a sharded run
    /// combines); computed once per context and shared by every estimator that asks (`estimator` names the one
    /// asking when the rows are absent).
    pub fn scatter(&self, estimator: &'static str, center: bool) -> Result<std::sync::Arc<moments::Scatter>, DimError> {
        let data = self.data(estimator)?;
        let mut slot = self.scatter[usize::from(!center)].lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = slot.as_ref() {
            return Ok(s.clone());
        }
        let mean = if center { moments::mean(&moments::column_sums(data)?) } else { vec![0.0; data.ncols()] };
        let s = std::sync::Arc::new(moments::scatter(data, &mean)?);
        *slot = Some(s.clone());
        Ok(s)
    }

    /// The data rows, for estimators that read them (`estimator` names the one asking when they are absent).
    pub fn data(&self, estimator: &'static str) -> Result<ArrayView2<'a, f32>, DimError> {
        self.data.ok_or(DimError::NeedsData { estimator })
    }

    /// Whether the data rows are held (false for a context built from a neighbour table).
    pub fn has_data(&self) -> bool {
        self.data.is_some()
    }

    pub fn n(&self) -> usize {
        self.n
    }

    /// Columns of the data.
    pub fn ncols(&self) -> usize {
        self.ncols
    }

    /// Number of neighbour columns available.
    pub fn k_available(&self) -> usize {
        self.neighbors.as_ref().map_or(0, |nb| nb.k())
    }

    /// The first `k` neighbour columns (indices, distances).
    pub fn neighbors(
        &self,
        estimator: &'static str,
        k: usize,
    ) -> Result<(ArrayView2<'_, usize>, ArrayView2<'_, f32>), DimError> {
        let available = self.k_available();
        if k > available || k == 0 {
            return Err(DimError::MissingNeighbors { estimator, needed: k, available });
        }
        let nb = self.neighbors.as_ref().expect("k_available > 0");
        Ok((nb.indices.slice(ndarray::s![.., ..k]), nb.distances.slice(ndarray::s![.., ..k])))
    }

    pub fn full_neighbors(&self) -> Option<&knn::Neighbors> {
        self.neighbors.as_ref()
    }
}

/// The checks of [`FitContext::from_neighbors`].
fn check_table(nb: &knn::Neighbors, ncols: usize) -> Result<(), DimError> {
    let (n, k) = nb.indices.dim();
    let bad = |message: String| DimError::BadTable { message };
    if n < 2 {
        return Err(DimError::Empty("rows (a neighbour table needs at least 2)"));
    }
    if ncols == 0 {
        return Err(DimError::Empty("columns"));
    }
    if k == 0 {
        return Err(bad("it has no neighbour columns".into()));
    }
    if nb.distances.dim() != (n, k) {
        return Err(bad(format!("indices are {n} × {k} but distances are {:?}", nb.distances.dim())));
    }
    let problem = (0..n).into_par_iter().find_map_first(|i| {
        let (idx, d) = (nb.indices.row(i), nb.distances.row(i));
        if let Some(&j) = idx.iter().find(|&&j| j >= n || j == i) {
            return Some(format!("row {i} lists index {j} (valid: 0..{n}, not the row itself)"));
        }
        if let Some(c) = (0..k).find(|&c| !(d[c].is_finite() && d[c] >= 0.0) || (c > 0 && d[c] < d[c - 1])) {
            return Some(format!("row {i} column {c}: distance {} is not finite, non-negative and ascending", d[c]));
        }
        None
    });
    if let Some(message) = problem {
        return Err(bad(message));
    }
    // Row i repeats an earlier row exactly when its nearest neighbour is at distance 0 with a smaller index (the
    // tie rule lists the smallest index of a group of equal rows first).
    let dups: Vec<usize> = (0..n).filter(|&i| nb.distances[[i, 0]] == 0.0 && nb.indices[[i, 0]] < i).collect();
    if let Some(&first) = dups.first() {
        return Err(DimError::DuplicateRows { count: dups.len(), first });
    }
    Ok(())
}

/// Checks for an empty, non-finite or constant data set.
pub fn validate(data: ArrayView2<f32>) -> Result<(), DimError> {
    if data.nrows() == 0 {
        return Err(DimError::Empty("rows"));
    }
    if data.ncols() == 0 {
        return Err(DimError::Empty("columns"));
    }
    let bad = data.axis_iter(Axis(0)).into_par_iter().enumerate().find_first(|(_, r)| r.iter().any(|x| !x.is_finite()));
    if let Some((row, r)) = bad {
        let (col, &value) = r.iter().enumerate().find(|(_, x)| !x.is_finite()).expect("non-finite value exists");
        return Err(DimError::NonFinite { row, col, value });
    }
    let first = data.row(0);
    if data.nrows() > 1 && data.axis_iter(Axis(0)).into_par_iter().all(|r| r == first) {
        return Err(DimError::ConstantData { n: data.nrows() });
    }
    Ok(())
}

/// Forgets every cached calibration (DANCo's and the imanifold estimator's); later fits recompute them.
pub fn clear_calibration_caches() {
    estimators::danco::clear_cache();
    corrected::clear_cache();
}

/// Removes rows that exactly duplicate an earlier row; returns the kept data and the removed row indices.
pub fn drop_duplicates(data: ArrayView2<f32>) -> (Array2<f32>, Vec<usize>) {
    let dups = knn::duplicate_rows(data);
    if dups.is_empty() {
        return (data.to_owned(), dups);
    }
    let mut is_dup = vec![false; data.nrows()];
    dups.iter().for_each(|&i| is_dup[i] = true);
    let keep: Vec<usize> = (0..data.nrows()).filter(|&i| !is_dup[i]).collect();
    (data.select(Axis(0), &keep), dups)
}

/// One intrinsic-dimension estimator with checked parameters.
pub trait Estimator: Send + Sync {
    /// imanifold name (`mle`, `twonn`, ...).
    fn name(&self) -> &'static str;
    /// Parameters in skdim's names (defaults filled in).
    fn params(&self) -> Value;
    /// kNN columns the global fit reads from the shared neighbours (`None`: no kNN).
    fn needs_k(&self) -> Option<usize>;
    /// Smallest number of points the estimator accepts.
    fn min_points(&self) -> usize {
        self.needs_k().map_or(3, |k| k + 1)
    }
    /// Fits the estimator on the whole data set. Local estimators also return their per-point values.
    fn fit(&self, ctx: &FitContext) -> Result<Estimate, DimError>;
    /// How per-point values combine into the global value (local estimators only).
    fn comb(&self) -> Option<Comb> {
        None
    }
    /// Per-point estimates. Local estimators: their own per-point values (same as `fit`). Global estimators
    /// (skdim `fit_pw`): the estimator fitted on each point's `n_neighbors` nearest neighbours (the point itself
    /// excluded); a neighbourhood where the fit fails gives NaN.
    fn fit_pointwise(&self, ctx: &FitContext, n_neighbors: usize) -> Result<Vec<f64>, DimError> {
        if self.comb().is_some() {
            return self
                .fit(ctx)?
                .pointwise
                .ok_or(DimError::Numerical { estimator: self.name(), message: "no per-point values".into() });
        }
        local_fits(self, ctx, n_neighbors)
    }
    /// Neighbour columns `fit_pointwise(ctx, n_neighbors)` reads.
    fn pointwise_k(&self, n_neighbors: usize) -> usize {
        if self.comb().is_some() {
            self.needs_k().unwrap_or(0)
        } else {
            n_neighbors
        }
    }
    /// The same estimator at neighbourhood scale `k` (for ID-vs-scale curves); `None` if it has no scale.
    fn at_scale(&self, _k: usize) -> Option<Box<dyn Estimator>> {
        None
    }
    /// The estimate on `b` random halves of the data computed more cheaply than `b` refits, with a description of
    /// how; `None` when the estimator has no such shortcut (the generic half-sampling refits are used).
    fn half_sample_fits(
        &self,
        _ctx: &FitContext,
        _b: usize,
        _seed: u64,
    ) -> Option<Result<(Vec<f64>, &'static str), DimError>> {
        None
    }
}

/// skdim's `fit_pw` for a global estimator: fit inside each point's neighbourhood, in parallel.
pub fn local_fits<E: Estimator + ?Sized>(est: &E, ctx: &FitContext, n_neighbors: usize) -> Result<Vec<f64>, DimError> {
    local_fits_where(est, ctx, n_neighbors, |_| true)
}

/// [`local_fits`] at the points where `wanted(i)` holds; NaN elsewhere.
pub fn local_fits_where<E: Estimator + ?Sized>(
    est: &E,
    ctx: &FitContext,
    n_neighbors: usize,
    wanted: impl Fn(usize) -> bool + Sync,
) -> Result<Vec<f64>, DimError> {
    let (idx, _) = ctx.neighbors(est.name(), n_neighbors)?;
    let data = ctx.data(est.name())?;
    let inner_k = est.needs_k().unwrap_or(0);
    if inner_k >= n_neighbors {
        return Err(DimError::InvalidParameter {
            estimator: est.name(),
            param: "n_neighbors".into(),
            value: n_neighbors.to_string(),
            reason: format!("pointwise fits need neighbourhoods larger than the estimator's k = {inner_k}"),
        });
    }
    let out: Vec<f64> = (0..ctx.n())
        .into_par_iter()
        .map(|i| {
            if !wanted(i) {
                return f64::NAN;
            }
            let rows: Vec<usize> = idx.row(i).to_vec();
            let sub = data.select(Axis(0), &rows);
            let seed = stats::mix(ctx.seed, i as u64);
            FitContext::new(sub.view(), inner_k, seed).and_then(|c| est.fit(&c)).map_or(f64::NAN, |e| e.dimension)
        })
        .collect();
    Ok(out)
}

/// Smoothed per-point values: the mean over the point and its `k` nearest neighbours (skdim `smooth=True`).
pub fn smooth_pointwise(pw: &[f64], indices: ArrayView2<usize>) -> Vec<f64> {
    (0..pw.len())
        .into_par_iter()
        .map(|i| {
            let row = indices.row(i);
            (pw[i] + row.iter().map(|&j| pw[j]).sum::<f64>()) / (row.len() + 1) as f64
        })
        .collect()
}

/// Builds an estimator by imanifold name (or skdim class name) with skdim-named parameters.
pub fn build(name: &str, params: &Map<String, Value>) -> Result<Box<dyn Estimator>, DimError> {
    estimators::build(name, params)
}

/// Parses `NAME` or `NAME:key=value,key=value` (values as JSON when they parse, else strings).
pub fn parse_spec(spec: &str) -> Result<(String, Map<String, Value>), DimError> {
    let (name, rest) = match spec.split_once(':') {
        Some((n, r)) => (n.trim(), r),
        None => (spec.trim(), ""),
    };
    let mut map = Map::new();
    for kv in rest.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').ok_or_else(|| DimError::InvalidParameter {
            estimator: "spec",
            param: kv.into(),
            value: spec.into(),
            reason: "parameters are written key=value".into(),
        })?;
        let v = v.trim();
        let value = serde_json::from_str::<Value>(v).unwrap_or_else(|_| Value::String(v.to_string()));
        map.insert(k.trim().to_string(), value);
    }
    Ok((name.to_string(), map))
}

/// Options of [`run`].
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Also compute per-point values and their smoothed version.
    pub pointwise: bool,
    /// Neighbourhood size of pointwise fits of global estimators (skdim `fit_pw` default 100).
    pub pointwise_neighbors: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { pointwise: false, pointwise_neighbors: 100 }
    }
}

/// One estimator's result in a [`run`].
#[derive(Debug, Clone)]
pub struct Report {
    pub name: &'static str,
    pub params: Value,
    pub estimate: Estimate,
    /// Per-point values (with `pointwise`) and their neighbourhood-smoothed version.
    pub pointwise: Option<Vec<f64>>,
    pub pointwise_smooth: Option<Vec<f64>>,
    pub seconds: f64,
}

impl Report {
    /// The JSON entry of `results.json`.
    pub fn to_json(&self) -> Value {
        let f = |x: f64| serde_json::Number::from_f64(x).map(Value::Number).unwrap_or(Value::Null);
        json!({
            "estimator": self.name,
            "params": self.params,
            "dimension": f(self.estimate.dimension),
            "ci95": self.estimate.ci95.map(|(a, b)| json!([f(a), f(b)])).unwrap_or(Value::Null),
            "ci_method": self.estimate.ci_method,
            "seconds": f(self.seconds),
            "extra": self.estimate.extra,
        })
    }
}

/// Largest number of neighbour columns the estimators need under `opts`.
pub fn max_k(estimators: &[Box<dyn Estimator>], opts: &RunOptions) -> usize {
    estimators
        .iter()
        .map(|e| {
            let g = e.needs_k().unwrap_or(0);
            if opts.pointwise {
                g.max(e.pointwise_k(opts.pointwise_neighbors)).max(opts.pointwise_neighbors)
            } else {
                g
            }
        })
        .max()
        .unwrap_or(0)
}

/// Fits every estimator on `ctx` (whose neighbours must cover [`max_k`]) and fills in intervals.
pub fn run(ctx: &FitContext, estimators: &[Box<dyn Estimator>], opts: &RunOptions) -> Result<Vec<Report>, DimError> {
    let mut out = Vec::with_capacity(estimators.len());
    for est in estimators {
        let t = Instant::now();
        if ctx.n() < est.min_points() {
            return Err(DimError::TooFewPoints { estimator: est.name(), n: ctx.n(), needed: est.min_points() });
        }
        let mut estimate = est.fit(ctx)?;
        if estimate.ci95.is_none() && ctx.bootstrap > 0 {
            fill_bootstrap_interval(est.as_ref(), ctx, &mut estimate)?;
        }
        let (pointwise, pointwise_smooth) = if opts.pointwise {
            let pw = match (&estimate.pointwise, est.comb()) {
                (Some(pw), Some(_)) => pw.clone(),
                _ => est.fit_pointwise(ctx, opts.pointwise_neighbors)?,
            };
            let k_smooth = est.pointwise_k(opts.pointwise_neighbors).max(1).min(ctx.k_available());
            let smooth = match ctx.neighbors(est.name(), k_smooth) {
                Ok((idx, _)) => Some(smooth_pointwise(&pw, idx)),
                Err(_) => None,
            };
            (Some(pw), smooth)
        } else {
            (None, None)
        };
        out.push(Report {
            name: est.name(),
            params: est.params(),
            estimate,
            pointwise,
            pointwise_smooth,
            seconds: t.elapsed().as_secs_f64(),
        });
    }
    Ok(out)
}

/// `ci_method` of a global estimator without an analytic interval fitted from a neighbour table.
pub const NO_TABLE_INTERVAL: &str =
    "none: the half-sampling interval refits the estimator on halves of the rows, which a neighbour table does not hold";

/// Bootstrap interval: per-point resampling for local estimators, half-sampling refits for global ones.
fn fill_bootstrap_interval(est: &dyn Estimator, ctx: &FitContext, estimate: &mut Estimate) -> Result<(), DimError> {
    let b = ctx.bootstrap;
    if let (Some(pw), Some(comb)) = (&estimate.pointwise, est.comb()) {
        let n = pw.len();
        let reps: Vec<f64> = (0..b)
            .into_par_iter()
            .map(|r| {
                let mut rng = stats::rng(ctx.seed ^ 0xB007, r as u64);
                let resampled: Vec<f64> = (0..n).map(|_| pw[rand::Rng::random_range(&mut rng, 0..n)]).collect();
                comb.apply(&resampled)
            })
            .collect();
        let (lo, hi) = (stats::quantile(&reps, 0.025), stats::quantile(&reps, 0.975));
        estimate.ci95 = Some((lo, hi));
        estimate.ci_method = format!("bootstrap of the per-point values (B = {b}, percentile)");
        return Ok(());
    }
    let n = ctx.n();
    let half = n / 2;
    if half < est.min_points() {
        return Ok(());
    }
    if !ctx.has_data() {
        estimate.ci_method = NO_TABLE_INTERVAL.into();
        return Ok(());
    }
    if let Some(fits) = est.half_sample_fits(ctx, b, ctx.seed ^ 0x4A1F) {
        let (fits, how) = fits?;
        let reps: Vec<f64> = fits.into_iter().filter(|d| d.is_finite()).collect();
        if reps.len() >= 2 {
            let sd = stats::std(&reps);
            estimate.ci95 = Some((estimate.dimension - special::Z975 * sd, estimate.dimension + special::Z975 * sd));
            estimate.ci_method =
                format!("half-sampling: ±1.96 sd of the estimate on {b} random halves ({} finite); {how}", reps.len());
        }
        return Ok(());
    }
    let k = est.needs_k().unwrap_or(0);
    let data = ctx.data(est.name())?;
    // Sequential over replicates (each fit is parallel inside); the seeds make the order irrelevant.
    let mut reps = Vec::with_capacity(b);
    for r in 0..b {
        let mut rng = stats::rng(ctx.seed ^ 0x4A1F, r as u64);
        let mut rows = sample(&mut rng, n, half).into_vec();
        rows.sort_unstable();
        let sub = data.select(Axis(0), &rows);
        let sub_ctx = FitContext::new(sub.view(), k, stats::mix(ctx.seed, r as u64 + 1))?;
        let d = est.fit(&sub_ctx)?.dimension;
        if d.is_finite() {
            reps.push(d);
        }
    }
    if reps.len() >= 2 {
        let sd = stats::std(&reps);
        estimate.ci95 = Some((estimate.dimension - special::Z975 * sd, estimate.dimension + special::Z975 * sd));
        estimate.ci_method = format!(
            "half-sampling: ±1.96 sd of refits on {} random halves without replacement ({} of {} finite)",
            b,
            reps.len(),
            b
        );
    }
    Ok(())
}
