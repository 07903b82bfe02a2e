//! One intrinsic-dimension run as a library call, shared by every front end (`imanifold dim`, the demo):
//! [`DimOptions`] → [`Session::new`] (estimators built and checked, labels, neighbour budget) → [`Session::run`] on
//! the data (duplicate rows, one kNN pass, every estimator, per-point values mapped back to the input rows, ID-vs-scale
//! curves) → a typed [`DimReport`] → [`write_dim_dir`] (results.json, `pointwise_<label>.npy`, `scale_<label>.csv`).

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Instant;

use ndarray::{Array1, ArrayView2};
use rand::Rng;
use serde_json::{json, Map, Value};

use crate::{stats, DimError, Estimate, Estimator, FitContext, Report, RunOptions};

/// Estimator of a run that names none.
pub const DEFAULT_ESTIMATOR: &str = "imanifold";
/// Bootstrap replicates of the intervals that are not analytic.
pub const DEFAULT_BOOTSTRAP: usize = 20;
/// Neighbourhood size of pointwise fits of global estimators (skdim `fit_pw`).
pub const DEFAULT_POINTWISE_NEIGHBORS: usize = 100;
/// Estimators whose `n_neighbors` the run's `k` sets (unless the spec sets it).
pub const LOCAL_ESTIMATORS: [&str; 6] = ["mle", "mom", "tle", "mada", "ess", "imanifold"];
/// Resamples of the percentile interval of a [`CurveKind::PointwiseMean`] curve.
const MEAN_BOOTSTRAP: usize = 200;

/// Errors of a dimension run. Messages name the option or estimator at fault; the caller adds the input's name.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("k must be at least 2 (got {0})")]
    KTooSmall(usize),
    #[error(
        "k {k}: none of the chosen estimators ({estimators}) uses neighbours (k sets n_neighbors of mle, mom, tle, \
         mada, ess, imanifold, and the neighbourhood of pointwise values)"
    )]
    KUnused { k: usize, estimators: String },
    #[error("estimator `{spec}`")]
    Estimator {
        spec: String,
        #[source]
        source: DimError,
    },
    #[error(
        "{count} row(s) exactly repeat an earlier row (rows {shown}); they make kNN estimators undefined (zero \
         distances). Use the duplicates policy `drop` to remove them"
    )]
    DuplicateRows { count: usize, shown: String },
    #[error("{estimator} needs at least {needed} points, the data has {n} (after dropping duplicates)")]
    TooFewPoints { estimator: &'static str, needed: usize, n: usize },
    #[error(
        "the requested estimators need {k} neighbours per point but there are only {n} points (lower k, the \
         k range or estimator parameters)"
    )]
    NeighborBudget { k: usize, n: usize },
    #[error(
        "the neighbour table has {available} column(s); the requested estimators need {needed} (none: they do not \
         run from a neighbour table)"
    )]
    TableTooNarrow { needed: usize, available: usize },
    #[error("invalid data")]
    Data(#[source] DimError),
    #[error("estimating the dimension")]
    Estimate(#[source] DimError),
    #[error("{label} at k = {k}")]
    Scale {
        label: String,
        k: usize,
        #[source]
        source: DimError,
    },
}

/// What to do with rows that exactly repeat an earlier row (they make kNN estimators undefined).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Duplicates {
    /// Remove them (reported in results.json; per-point values of a removed row are those of the row it repeats).
    #[default]
    Drop,
    /// Refuse the data.
    Error,
}

impl FromStr for Duplicates {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "drop" => Ok(Duplicates::Drop),
            "error" => Ok(Duplicates::Error),
            _ => Err(format!("`{s}` is not a duplicates policy (drop, error)")),
        }
    }
}

impl fmt::Display for Duplicates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Duplicates::Drop => "drop",
            Duplicates::Error => "error",
        })
    }
}

/// Neighbourhood sizes of the ID-vs-scale curves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scales {
    /// Every k in `lo..=hi` (written `A:B`).
    Range(usize, usize),
    /// These k.
    List(Vec<usize>),
}

impl Scales {
    /// The neighbourhood sizes, in order.
    pub fn ks(&self) -> Vec<usize> {
        match self {
            Scales::Range(lo, hi) => (*lo..=*hi).collect(),
            Scales::List(v) => v.clone(),
        }
    }
    /// results.json's `k_range`: `[A, B]` for a range, the list otherwise.
    pub fn to_json(&self) -> Value {
        match self {
            Scales::Range(lo, hi) => json!([lo, hi]),
            Scales::List(v) => json!(v),
        }
    }
}

impl FromStr for Scales {
    type Err = String;
    /// `A:B` with 2 <= A <= B.
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, b) = s.split_once(':').ok_or_else(|| format!("`{s}` is not A:B (e.g. 5:40)"))?;
        let a: usize = a.trim().parse().map_err(|_| format!("`{s}`: `{a}` is not a whole number"))?;
        let b: usize = b.trim().parse().map_err(|_| format!("`{s}`: `{b}` is not a whole number"))?;
        if a < 2 || a > b {
            return Err(format!("`{s}`: need 2 <= A <= B"));
        }
        Ok(Scales::Range(a, b))
    }
}

impl fmt::Display for Scales {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scales::Range(lo, hi) => write!(f, "{lo}:{hi}"),
            Scales::List(v) => f.write_str(&v.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(",")),
        }
    }
}

/// How a curve turns an estimator into one value per neighbourhood size k.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CurveKind {
    /// The estimator at scale k ([`Estimator::at_scale`]), with its analytic or per-point interval.
    AtScale,
    /// The mean over points of the estimator's pointwise fits in k-neighbourhoods, with a percentile bootstrap
    /// interval of the mean (200 resamples).
    PointwiseMean,
}

/// An explicitly requested ID-vs-scale curve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurveSpec {
    /// Name in results.json; the file is `scale_<label>.csv` with every non-alphanumeric character as `_`.
    pub label: String,
    /// Estimator spec (`NAME[:key=value,...]`).
    pub estimator: String,
    pub kind: CurveKind,
}

/// Options of a dimension run.
#[derive(Debug, Clone, PartialEq)]
pub struct DimOptions {
    /// Estimator specs (`NAME[:key=value,...]`); empty: [`DEFAULT_ESTIMATOR`].
    pub estimators: Vec<String>,
    /// Neighbours of the kNN-based local estimators ([`LOCAL_ESTIMATORS`], skdim `n_neighbors`) and the
    /// neighbourhood size of pointwise fits of global ones (default [`DEFAULT_POINTWISE_NEIGHBORS`]).
    pub k: Option<usize>,
    /// Also compute per-point values (and their neighbourhood-smoothed version).
    pub pointwise: bool,
    /// Neighbourhood sizes of the ID-vs-scale curves (none: no curves).
    pub scales: Option<Scales>,
    /// Curves to draw at `scales`; `None`: every estimator at its own scale ([`CurveKind::AtScale`]).
    pub curves: Option<Vec<CurveSpec>>,
    /// Bootstrap replicates of the intervals that are not analytic (0: those intervals are omitted).
    pub bootstrap: usize,
    pub duplicates: Duplicates,
    /// Seed of every random choice.
    pub seed: u64,
    /// The kNN search (every strategy but `approx` is exact and gives the same neighbours; with `approx` the
    /// recall is measured on [`knn::DEFAULT_RECALL_SAMPLE`] rows and reported).
    pub knn: knn::KnnOptions,
}

impl Default for DimOptions {
    fn default() -> Self {
        DimOptions {
            estimators: Vec::new(),
            k: None,
            pointwise: false,
            scales: None,
            curves: None,
            bootstrap: DEFAULT_BOOTSTRAP,
            duplicates: Duplicates::Drop,
            seed: 0,
            knn: knn::KnnOptions::default(),
        }
    }
}

/// A curve ready to run.
enum CurvePlan {
    /// The estimator has no neighbourhood-size parameter: no curve.
    Unscaled,
    /// The estimator refitted at each scale; `local` estimators keep their bootstrap (per-point resampling is cheap),
    /// global ones use only analytic intervals (half-sampling refits would cost B fits per k).
    AtScale {
        local: bool,
        fits: Vec<(usize, Box<dyn Estimator>)>,
    },
    PointwiseMean {
        estimator: Box<dyn Estimator>,
        ks: Vec<usize>,
    },
}

struct PlannedCurve {
    label: String,
    file_stem: String,
    plan: CurvePlan,
}

/// A checked run: estimators built, labels chosen, curves planned. Build it before loading heavy data.
pub struct Session {
    opts: DimOptions,
    estimators: Vec<Box<dyn Estimator>>,
    labels: Vec<String>,
    curves: Vec<PlannedCurve>,
    run_opts: RunOptions,
    k_needed: usize,
}

/// Where the data came from (recorded in results.json).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Source {
    /// The input as given (path or name).
    pub name: String,
    /// (height, width, channels) when the rows are images.
    pub image_shape: Option<[usize; 3]>,
}

/// One estimator's result in a [`DimReport`].
#[derive(Debug, Clone)]
pub struct EstimateEntry {
    /// File-name label: the estimator name, `_2`, `_3`, … for repeats.
    pub label: String,
    /// The estimator's report; its `pointwise` and `pointwise_smooth` hold one value per INPUT row (a dropped
    /// duplicate takes the value of the row it repeats).
    pub report: Report,
    /// Mean of the finite per-point values and the number of non-finite ones (over the rows kept), with pointwise.
    pub pointwise_summary: Option<(f64, usize)>,
}

/// One point of an ID-vs-scale curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScalePoint {
    pub k: usize,
    pub dimension: f64,
    pub ci95: Option<(f64, f64)>,
}

/// One ID-vs-scale curve.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleCurve {
    pub label: String,
    /// The curve's file is `scale_<file_stem>.csv`.
    pub file_stem: String,
    /// `None`: the estimator has no neighbourhood-size parameter.
    pub points: Option<Vec<ScalePoint>>,
}

/// Seconds spent per stage of [`Session::run`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DimTimings {
    pub knn: f64,
    pub estimators: f64,
    /// With curves.
    pub scale: Option<f64>,
}

/// The result of [`Session::run`].
#[derive(Debug, Clone)]
pub struct DimReport {
    pub source: Source,
    /// Rows given, rows kept (after dropping duplicates), columns.
    pub n_input: usize,
    pub n: usize,
    pub d: usize,
    pub duplicates: Duplicates,
    /// Input rows dropped as duplicates (ascending).
    pub dropped: Vec<usize>,
    /// Neighbour columns computed (the largest any estimator or curve reads).
    pub k_computed: usize,
    pub bootstrap: usize,
    pub scales: Option<Scales>,
    pub seed: u64,
    pub estimates: Vec<EstimateEntry>,
    pub curves: Vec<ScaleCurve>,
    pub timings: DimTimings,
    /// The kNN search used.
    pub knn: knn::KnnOptions,
    /// Recall@k of an approximate search on a sample of rows (`None` for the exact strategies).
    pub knn_recall: Option<knn::Recall>,
}

/// Builds an estimator from a spec, with the run's `k` as `n_neighbors` of the local estimators; also says whether
/// that `k` was used (a local estimator whose spec does not set `n_neighbors` itself).
fn build_spec(spec: &str, k: Option<usize>) -> Result<(Box<dyn Estimator>, bool), SessionError> {
    let err = |source| SessionError::Estimator { spec: spec.to_string(), source };
    let (name, mut params) = crate::parse_spec(spec).map_err(err)?;
    let mut used = false;
    if let (Some(k), Some(c)) = (k, crate::estimators::canonical(&name)) {
        if LOCAL_ESTIMATORS.contains(&c) && !params.contains_key("n_neighbors") {
            params.insert("n_neighbors".into(), json!(k));
            used = true;
        }
    }
    Ok((crate::build(&name, &params).map_err(err)?, used))
}

/// File-name labels: the estimator name, suffixed `_2`, `_3`, … when the same estimator is requested again.
pub fn unique_labels(estimators: &[Box<dyn Estimator>]) -> Vec<String> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    estimators
        .iter()
        .map(|e| {
            let c = seen.entry(e.name()).or_insert(0);
            *c += 1;
            if *c == 1 {
                e.name().to_string()
            } else {
                format!("{}_{}", e.name(), c)
            }
        })
        .collect()
}

fn slug(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect()
}

impl Session {
    /// Checks the options and builds every estimator (no data needed).
    pub fn new(opts: &DimOptions) -> Result<Session, SessionError> {
        if let Some(k @ (0 | 1)) = opts.k {
            return Err(SessionError::KTooSmall(k));
        }
        let specs: Vec<String> =
            if opts.estimators.is_empty() { vec![DEFAULT_ESTIMATOR.into()] } else { opts.estimators.clone() };
        let built = specs.iter().map(|s| build_spec(s, opts.k)).collect::<Result<Vec<_>, _>>()?;
        let mut k_used = built.iter().any(|(_, used)| *used);
        let estimators: Vec<Box<dyn Estimator>> = built.into_iter().map(|(e, _)| e).collect();
        // Pointwise fits of the global estimators use k as their neighbourhood size.
        k_used |= opts.pointwise && estimators.iter().any(|e| e.comb().is_none());
        let labels = unique_labels(&estimators);
        let run_opts = RunOptions {
            pointwise: opts.pointwise,
            pointwise_neighbors: opts.k.unwrap_or(DEFAULT_POINTWISE_NEIGHBORS),
        };
        let ks = opts.scales.as_ref().map(Scales::ks).unwrap_or_default();
        let at_scale = |e: &dyn Estimator| {
            let fits: Vec<(usize, Box<dyn Estimator>)> =
                ks.iter().filter_map(|&k| e.at_scale(k).map(|s| (k, s))).collect();
            if fits.is_empty() {
                CurvePlan::Unscaled
            } else {
                CurvePlan::AtScale { local: e.comb().is_some(), fits }
            }
        };
        let curves: Vec<PlannedCurve> = match (&opts.scales, &opts.curves) {
            (None, _) => Vec::new(),
            (Some(_), None) => estimators
                .iter()
                .zip(&labels)
                .map(|(e, l)| PlannedCurve { label: l.clone(), file_stem: l.clone(), plan: at_scale(e.as_ref()) })
                .collect(),
            (Some(_), Some(list)) => list
                .iter()
                .map(|c| {
                    let (e, used) = build_spec(&c.estimator, opts.k)?;
                    k_used |= used;
                    let plan = match c.kind {
                        CurveKind::AtScale => at_scale(e.as_ref()),
                        CurveKind::PointwiseMean => CurvePlan::PointwiseMean { estimator: e, ks: ks.clone() },
                    };
                    Ok(PlannedCurve { label: c.label.clone(), file_stem: slug(&c.label), plan })
                })
                .collect::<Result<_, SessionError>>()?,
        };
        if let (Some(k), false) = (opts.k, k_used) {
            return Err(SessionError::KUnused { k, estimators: specs.join(", ") });
        }
        let mut k_needed = crate::max_k(&estimators, &run_opts);
        for c in &curves {
            match &c.plan {
                CurvePlan::Unscaled => {}
                CurvePlan::AtScale { fits, .. } => {
                    fits.iter().for_each(|(_, e)| k_needed = k_needed.max(e.needs_k().unwrap_or(0)))
                }
                CurvePlan::PointwiseMean { estimator, ks } => {
                    ks.iter().for_each(|&k| k_needed = k_needed.max(estimator.pointwise_k(k)))
                }
            }
        }
        Ok(Session { opts: opts.clone(), estimators, labels, curves, run_opts, k_needed })
    }

    /// The estimators' labels (file names), in order.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Neighbour columns the run computes.
    pub fn k_needed(&self) -> usize {
        self.k_needed
    }

    /// Refuses `n` points (after dropping duplicates) that cannot serve every estimator and the neighbour budget.
    pub fn check_points(&self, n: usize) -> Result<(), SessionError> {
        if let Some(e) = self.estimators.iter().find(|e| n < e.min_points()) {
            return Err(SessionError::TooFewPoints { estimator: e.name(), needed: e.min_points(), n });
        }
        // A given `k` is used by some estimator (checked in `new`); it must fit the data.
        let k = self.k_needed.max(self.opts.k.unwrap_or(0));
        if k >= n {
            return Err(SessionError::NeighborBudget { k, n });
        }
        Ok(())
    }

    /// Runs every estimator and curve on `data` (one row per point).
    pub fn run(&self, data: ArrayView2<f32>, source: Source) -> Result<DimReport, SessionError> {
        let n_input = data.nrows();
        let pairs = knn::duplicate_sources(data);
        let dups: Vec<usize> = pairs.iter().map(|&(i, _)| i).collect();
        if !dups.is_empty() && self.opts.duplicates == Duplicates::Error {
            let shown: Vec<String> = dups.iter().take(5).map(|i| i.to_string()).collect();
            let more = if dups.len() > 5 { ", ..." } else { "" };
            return Err(SessionError::DuplicateRows {
                count: dups.len(),
                shown: format!("{}{more}", shown.join(", ")),
            });
        }
        let sources: HashMap<usize, usize> = pairs.into_iter().collect();
        // Without duplicates the data is used as given (no copy: it may be a memory-mapped file).
        let selected;
        let kept = if dups.is_empty() {
            data
        } else {
            let mut is_dup = vec![false; n_input];
            dups.iter().for_each(|&i| is_dup[i] = true);
            let keep: Vec<usize> = (0..n_input).filter(|&i| !is_dup[i]).collect();
            selected = data.select(ndarray::Axis(0), &keep);
            selected.view()
        };
        let dropped = dups;
        crate::validate(kept.view()).map_err(SessionError::Data)?;
        let n = kept.nrows();
        self.check_points(n)?;

        let t = Instant::now();
        let ctx = FitContext::new_with(kept.view(), self.k_needed, self.opts.seed, &self.opts.knn)
            .map_err(SessionError::Data)?;
        let knn_seconds = t.elapsed().as_secs_f64();
        let knn_recall = match (self.opts.knn.strategy.is_exact(), ctx.full_neighbors()) {
            (false, Some(nb)) => Some(
                knn::recall(kept.view(), None, nb, knn::DEFAULT_RECALL_SAMPLE, self.opts.seed)
                    .map_err(|e| SessionError::Data(e.into()))?,
            ),
            _ => None,
        };
        let timings = DimTimings { knn: knn_seconds, ..DimTimings::default() };
        let rows = RunRows { n_input, d: kept.ncols(), dropped, sources };
        self.finish(ctx, rows, timings, knn_recall, source)
    }

    /// Runs every estimator and curve from a neighbour table of data this process does not hold (`d` columns; e.g.
    /// a table computed over shards): as [`Session::run`] on that data, bit for bit, for the estimators that only
    /// read neighbour distances ([`crate::TABLE_ESTIMATORS`]); the others fail with [`DimError::NeedsData`]. The
    /// table must have at least [`Session::k_needed`] columns (extra columns are ignored) and no duplicate rows
    /// (they cannot be dropped without the data: [`DimError::DuplicateRows`]).
    pub fn run_neighbors(
        &self,
        neighbors: knn::Neighbors,
        d: usize,
        source: Source,
    ) -> Result<DimReport, SessionError> {
        let n = neighbors.n();
        self.check_points(n)?;
        if self.k_needed == 0 || neighbors.k() < self.k_needed {
            return Err(SessionError::TableTooNarrow { needed: self.k_needed, available: neighbors.k() });
        }
        let k = self.k_needed;
        let nb = knn::Neighbors {
            indices: neighbors.indices.slice(ndarray::s![.., ..k]).to_owned(),
            distances: neighbors.distances.slice(ndarray::s![.., ..k]).to_owned(),
            duplicate_rows: neighbors.duplicate_rows,
        };
        let ctx = FitContext::from_neighbors(nb, d, self.opts.seed).map_err(SessionError::Data)?;
        let rows = RunRows { n_input: n, d, dropped: Vec::new(), sources: HashMap::new() };
        self.finish(ctx, rows, DimTimings::default(), None, source)
    }

    /// The estimators and curves on a ready context (the part [`Session::run`] and [`Session::run_neighbors`]
    /// share).
    fn finish(
        &self,
        mut ctx: FitContext,
        rows: RunRows,
        mut timings: DimTimings,
        knn_recall: Option<knn::Recall>,
        source: Source,
    ) -> Result<DimReport, SessionError> {
        let RunRows { n_input, d, dropped, sources } = rows;
        let n = ctx.n();
        ctx.bootstrap = self.opts.bootstrap;

        let t = Instant::now();
        let reports = crate::run(&ctx, &self.estimators, &self.run_opts).map_err(SessionError::Estimate)?;
        timings.estimators = t.elapsed().as_secs_f64();
        let expand = |v: &[f64]| expand_to_input(v, n_input, &dropped, &sources);
        let estimates = reports
            .into_iter()
            .zip(&self.labels)
            .map(|(mut report, label)| {
                let pointwise_summary = report.pointwise.as_ref().map(|pw| {
                    let finite: Vec<f64> = pw.iter().copied().filter(|x| x.is_finite()).collect();
                    (finite.iter().sum::<f64>() / finite.len().max(1) as f64, pw.len() - finite.len())
                });
                report.pointwise = report.pointwise.as_deref().map(expand);
                report.pointwise_smooth = report.pointwise_smooth.as_deref().map(expand);
                EstimateEntry { label: label.clone(), report, pointwise_summary }
            })
            .collect();

        let t = Instant::now();
        let curves = self.curves.iter().map(|c| self.run_curve(&mut ctx, c)).collect::<Result<Vec<_>, _>>()?;
        timings.scale = (!self.curves.is_empty()).then(|| t.elapsed().as_secs_f64());

        Ok(DimReport {
            source,
            n_input,
            n,
            d,
            duplicates: self.opts.duplicates,
            dropped,
            k_computed: self.k_needed,
            bootstrap: self.opts.bootstrap,
            scales: self.opts.scales.clone(),
            seed: self.opts.seed,
            estimates,
            curves,
            timings,
            knn: self.opts.knn,
            knn_recall,
        })
    }

    fn run_curve(&self, ctx: &mut FitContext, c: &PlannedCurve) -> Result<ScaleCurve, SessionError> {
        let err = |k: usize| move |source| SessionError::Scale { label: c.label.clone(), k, source };
        let at = |k: usize, est: &Estimate| ScalePoint { k, dimension: est.dimension, ci95: est.ci95 };
        let points = match &c.plan {
            CurvePlan::Unscaled => None,
            CurvePlan::AtScale { local, fits } => {
                ctx.bootstrap = if *local { self.opts.bootstrap } else { 0 };
                let opts = RunOptions { pointwise: false, ..self.run_opts.clone() };
                let mut points = Vec::with_capacity(fits.len());
                for (k, e) in fits {
                    let rep = crate::run(ctx, std::slice::from_ref(e), &opts).map_err(err(*k))?;
                    points.push(at(*k, &rep[0].estimate));
                }
                ctx.bootstrap = self.opts.bootstrap;
                Some(points)
            }
            CurvePlan::PointwiseMean { estimator, ks } => {
                let mut points = Vec::with_capacity(ks.len());
                for &k in ks {
                    let pw = estimator.fit_pointwise(ctx, k).map_err(err(k))?;
                    let (dimension, ci95) = mean_interval(&pw, stats::mix(ctx.seed, k as u64));
                    points.push(ScalePoint { k, dimension, ci95 });
                }
                Some(points)
            }
        };
        Ok(ScaleCurve { label: c.label.clone(), file_stem: c.file_stem.clone(), points })
    }
}

/// The rows of a run: given, columns, dropped duplicates and the kept row each repeats.
struct RunRows {
    n_input: usize,
    d: usize,
    dropped: Vec<usize>,
    sources: HashMap<usize, usize>,
}

/// For each dropped duplicate row, the kept row it repeats (by exact bit pattern, −0 = +0).
/// Per-point values of the kept rows back to input rows: kept rows in order, dropped duplicates take the value of
/// the row they repeat.
fn expand_to_input(v: &[f64], n_input: usize, dropped: &[usize], sources: &HashMap<usize, usize>) -> Vec<f64> {
    let mut full = vec![f64::NAN; n_input];
    let mut is_dup = vec![false; n_input];
    dropped.iter().for_each(|&i| is_dup[i] = true);
    let kept = (0..n_input).filter(|&i| !is_dup[i]);
    kept.zip(v).for_each(|(i, &x)| full[i] = x);
    for (&d, &s) in sources {
        full[d] = full[s];
    }
    full
}

/// Mean of `values` (NaN ignored) and its percentile-bootstrap 95 % interval ([`MEAN_BOOTSTRAP`] seeded resamples).
pub fn mean_interval(values: &[f64], seed: u64) -> (f64, Option<(f64, f64)>) {
    let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return (f64::NAN, None);
    }
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let mut reps: Vec<f64> = (0..MEAN_BOOTSTRAP as u64)
        .map(|r| {
            let mut rng = stats::rng(seed, r);
            (0..v.len()).map(|_| v[rng.random_range(0..v.len())]).sum::<f64>() / v.len() as f64
        })
        .collect();
    reps.sort_by(f64::total_cmp);
    // The 2.5 % and 97.5 % order statistics of 200 resamples.
    (mean, Some((reps[MEAN_BOOTSTRAP / 40 - 1], reps[MEAN_BOOTSTRAP - MEAN_BOOTSTRAP / 40 - 1])))
}

impl DimReport {
    /// The kNN search of the run: its strategy and, for `approx`, the recall measured against exact search
    /// (results.json `knn`; every Python entry's `knn`).
    pub fn knn_entry(&self) -> Value {
        let mut entry = json!({"strategy": self.knn.strategy.to_string()});
        if let Some(r) = &self.knn_recall {
            entry["recall_at_k"] = json!(r.recall);
            entry["min_row_recall"] = json!(r.min_row_recall);
            entry["sampled_queries"] = json!(r.sampled);
            entry["ef_search"] = json!(self.knn.ef_search);
        }
        entry
    }

    /// The results.json entry of every estimator.
    pub fn estimate_entries(&self) -> Vec<Value> {
        self.estimates
            .iter()
            .map(|e| {
                let mut v = e.report.to_json();
                v["label"] = json!(e.label);
                if let Some((mean, nonfinite)) = e.pointwise_summary {
                    v["pointwise_mean"] = output::json_f64(mean);
                    v["pointwise_nonfinite"] = json!(nonfinite);
                }
                v
            })
            .collect()
    }
}

/// Writes a run's output folder `dir` (which must exist): `pointwise_<label>.npy` and `pointwise_smooth_<label>.npy`
/// (one value per input row), `scale_<stem>.csv` (k, dimension, ci_low, ci_high) and results.json. `results` is
/// the record the caller started when the run began (its clock gives the total time; the caller may add its own
/// timings, e.g. loading, and a seed, which otherwise is the report's). Returns the JSON written.
pub fn write_dim_dir(dir: &Path, report: &DimReport, mut results: output::Results) -> output::Result<Value> {
    let mut files = Map::new();
    for e in &report.estimates {
        let label = &e.label;
        for (prefix, values) in [("pointwise", &e.report.pointwise), ("pointwise_smooth", &e.report.pointwise_smooth)] {
            if let Some(v) = values {
                let f = format!("{prefix}_{label}.npy");
                output::write_npy(&dir.join(&f), &Array1::from(v.clone()))?;
                files.insert(format!("{prefix}_{label}"), json!(f));
            }
        }
    }
    for c in &report.curves {
        let key = format!("scale_{}", c.file_stem);
        let Some(points) = &c.points else {
            files.insert(key, Value::Null);
            continue;
        };
        let rows = points.iter().map(|p| {
            let (lo, hi) = p.ci95.unwrap_or((f64::NAN, f64::NAN));
            vec![p.k.to_string(), output::fmt_f64(p.dimension), output::fmt_f64(lo), output::fmt_f64(hi)]
        });
        let f = format!("{key}.csv");
        output::write_csv(&dir.join(&f), &["k", "dimension", "ci_low", "ci_high"], rows)?;
        files.insert(key, json!(f));
    }
    if results.get("seed").is_none() {
        results.seed(report.seed);
    }
    results.timing("knn", report.timings.knn).timing("estimators", report.timings.estimators);
    if let Some(s) = report.timings.scale {
        results.timing("scale", s);
    }
    results.set("knn", report.knn_entry());
    results
        .set("input", &report.source.name)
        .set("n_input", report.n_input)
        .set("n", report.n)
        .set("d", report.d)
        .set("duplicates", json!({"policy": report.duplicates.to_string(), "dropped": report.dropped.len()}))
        .set("k_neighbors_computed", report.k_computed)
        .set("bootstrap", report.bootstrap)
        .set("k_range", report.scales.as_ref().map_or(Value::Null, Scales::to_json))
        .set("estimates", report.estimate_entries())
        .set("files", files);
    if let Some(shape) = report.source.image_shape {
        results.set("image_shape", json!(shape));
    }
    results.write(dir)
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
