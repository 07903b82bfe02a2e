//! Off-manifold scores in a network's feature space: the pixel-space scores (`knn`, `tangent`, `lid`) computed on
//! the activations of reference and query images at each chosen layer, the class-conditional Mahalanobis score
//! (Lee et al. 2018) and a logistic-regression combination of the per-layer scores (Ma et al. 2018).
//!
//! The crate takes feature matrices, not a network: the front ends compute the activations (the `classifier`
//! crate's `Classifier::activations`) and pass one [`LayerFeatures`] per layer, plus the reference's class labels.
//!
//! # Scores per layer (column `LAYER.SCORE`, e.g. `hidden.lid`)
//! * `knn_kth`, `knn_mean`, `tangent`, `lid`: exactly [`crate::score`] on the layer's activation rows (reference
//!   rows against the reference, leave-one-out calibration, tangent dimension per layer).
//! * `mahalanobis`: per-class means and one shared covariance (the within-class scatter divided by the number of
//!   reference rows, plus a ridge of 10⁻⁶ × its mean diagonal) of the reference's activations grouped by the given
//!   labels; a query's score is the smallest Mahalanobis distance to a class mean. Convolution outputs are first
//!   averaged over positions, one value per channel, as Lee et al. do. Calibration: the same score of the
//!   calibration reference images, which took part in the fit (in-sample). Optional input pre-processing (Lee et
//!   al.'s, [`FeatureOptions::mahalanobis_noise`] = ε > 0): at each layer, each calibration and query image x is
//!   scored at clip(x − ε·sign(∇ₓ d²(x)), 0, 1), d its distance to the nearest class at that layer; natural images
//!   move closer to their class than off-manifold ones. The network's gradient is the front end's part
//!   (`classifier::feature_scores`), which passes the moved images' activations as [`PreprocessedRows`].
//!
//! # The classifier's own confidence (column `logits.softmax`)
//! * `softmax`: −ln of the largest softmax probability of the classifier's logits, i.e. the cross-entropy of its
//!   predicted class: the maximum-softmax-probability baseline of Hendrycks & Gimpel (2017), in a form that does not
//!   round to 0 for confident images (monotone in 1 − max p). Computed from [`Logits`], whatever layers are scored.
//!   An attack that stops as soon as the label changes leaves its images next to a decision boundary, where this
//!   score is high; an attack that keeps going until the wrong class is confident is not caught by it.
//!
//! # Combination (with groups)
//! For every query group other than the reference group, a logistic regression over all per-layer score columns
//! (standardised on its training rows, L2 penalty λ/2 ‖w‖² with λ chosen by cross-validation on the training half,
//! Newton's method) separates that group from the reference
//! group. Split: the reference group's rows are shuffled once (seeded) and the group's rows are shuffled (seeded by
//! its position); the first ⌈n/2⌉ of each are the training half, the others the test half. The reported AUROC is on
//! the test halves only.

use std::time::Instant;

use ndarray::{ArrayView2, Axis};
use serde::Serialize;

use crate::{
    group_report, invalid, DimChoice, Method, QueryGroups, Result, ScoreColumn, ScoreError, ScoreOptions,
    DEFAULT_CALIBRATION, DEFAULT_K,
};

mod combine;
mod mahalanobis;
mod write;

pub use combine::{combine, Combination, GroupCombination, LogisticModel};
pub use mahalanobis::{pool, ClassGaussians};
pub use write::write_feature_dir;

/// One layer's activations: rows of `height·width·channels` values in `(y, x, channel)` order (`channels` = the
/// row length for a layer without positions).
#[derive(Debug, Clone)]
pub struct LayerFeatures<'a> {
    pub name: String,
    pub channels: usize,
    pub reference: ArrayView2<'a, f32>,
    pub query: ArrayView2<'a, f32>,
    /// The same layer's activations of the pre-processed inputs (needed when
    /// [`FeatureOptions::mahalanobis_noise`] is above 0, ignored otherwise).
    pub preprocessed: Option<PreprocessedRows<'a>>,
}

/// Activations at one layer of inputs moved by Lee et al.'s pre-processing step against that layer's Gaussians:
/// the calibration reference rows ([`calibration_rows`], in that order) and every query row.
#[derive(Debug, Clone)]
pub struct PreprocessedRows<'a> {
    pub calibration: ArrayView2<'a, f32>,
    pub query: ArrayView2<'a, f32>,
}

/// Largest pre-processing step, in pixel units of inputs in [0, 1].
pub const MAX_MAHALANOBIS_NOISE: f64 = 0.5;

/// The reference rows every score's calibration uses (a seeded sample of `opts.calibration` rows when the
/// reference is larger), sorted.
pub fn calibration_rows(n_reference: usize, opts: &FeatureOptions) -> Vec<usize> {
    crate::sample_sorted(n_reference, opts.calibration, opts.seed, 0xCA11)
}

/// A classifier's logits for the reference and the query rows: the `softmax` score's input.
#[derive(Debug, Clone)]
pub struct Logits<'a> {
    pub reference: ArrayView2<'a, f32>,
    pub query: ArrayView2<'a, f32>,
}

/// Options of [`score_features`].
#[derive(Debug, Clone)]
pub struct FeatureOptions {
    /// From knn, tangent, lid, mahalanobis, softmax (flow needs images).
    pub methods: Vec<Method>,
    pub k: usize,
    pub dim: DimChoice,
    pub calibration: usize,
    /// Seed of the calibration samples and of the combination's split.
    pub seed: u64,
    pub knn: knn::KnnOptions,
    /// Fit the logistic-regression combination (needs groups).
    pub combine: bool,
    /// Lee et al.'s input pre-processing for the `mahalanobis` score: the step ε (pixel units) by which each input
    /// moves along −sign(∇ₓ distance²) before it is scored; 0 scores the inputs as given. The front end computes
    /// the moved inputs' activations ([`LayerFeatures::preprocessed`]).
    pub mahalanobis_noise: f64,
}

impl Default for FeatureOptions {
    fn default() -> Self {
        FeatureOptions {
            methods: Method::FEATURES.to_vec(),
            k: DEFAULT_K,
            dim: DimChoice::Auto,
            calibration: DEFAULT_CALIBRATION,
            seed: 0,
            knn: knn::KnnOptions::default(),
            combine: true,
            mahalanobis_noise: 0.0,
        }
    }
}

/// The reference's class labels (for the Mahalanobis score) and where they come from, in words.
#[derive(Debug, Clone)]
pub struct ReferenceLabels {
    pub labels: Vec<usize>,
    pub n_classes: usize,
    pub source: String,
}

/// What one layer's scores were computed on.
#[derive(Debug, Clone, Serialize)]
pub struct LayerReport {
    pub name: String,
    /// Values per image, and per image after averaging over positions (the Mahalanobis score's input).
    pub d: usize,
    pub channels: usize,
    pub tangent_dim: Option<usize>,
    pub tangent_dim_clamped_to_k_minus_1: bool,
    pub reference_dimension_mle: Option<f64>,
    pub duplicate_reference_rows_dropped: usize,
    /// Classes with at least one reference row (the Mahalanobis score's Gaussians).
    pub mahalanobis_classes: Option<usize>,
}

/// Everything [`score_features`] computes.
#[derive(Debug, Clone)]
pub struct FeatureReport {
    /// Every layer's columns, layer by layer, named `LAYER.SCORE`.
    pub columns: Vec<ScoreColumn>,
    pub layers: Vec<LayerReport>,
    pub options: FeatureOptions,
    pub labels_source: String,
    pub n_reference: usize,
    pub query_ids: Vec<String>,
    pub groups: Option<QueryGroups>,
    pub combination: Option<Combination>,
    pub timings: Vec<(String, f64)>,
}

impl FeatureReport {
    pub fn column(&self, name: &str) -> Option<&ScoreColumn> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// Checks the options that do not depend on the matrices (cheap: front ends call it before any forward pass).
pub fn validate_options(opts: &FeatureOptions) -> Result<()> {
    if opts.methods.is_empty() {
        return Err(invalid("methods", "(none)", "no method given (knn, tangent, lid, mahalanobis, softmax)"));
    }
    if opts.methods.contains(&Method::Flow) {
        return Err(invalid(
            "methods",
            "flow",
            "the flow score needs images; feature space has knn, tangent, lid, mahalanobis, softmax",
        ));
    }
    let noise = opts.mahalanobis_noise;
    if !(0.0..=MAX_MAHALANOBIS_NOISE).contains(&noise) {
        return Err(invalid("mahalanobis noise", noise, format!("a step from 0 to {MAX_MAHALANOBIS_NOISE}")));
    }
    if noise > 0.0 && !opts.methods.contains(&Method::Mahalanobis) {
        return Err(invalid("mahalanobis noise", noise, "pre-processing applies to the mahalanobis method only"));
    }
    Ok(())
}

/// Checks the options and the matrices before any work.
fn check(
    layers: &[LayerFeatures],
    labels: &ReferenceLabels,
    logits: Option<&Logits>,
    query_ids: &[String],
    groups: Option<&(String, Vec<String>)>,
    opts: &FeatureOptions,
) -> Result<()> {
    if layers.is_empty() {
        return Err(invalid("layers", "(none)", "no layer to score"));
    }
    validate_options(opts)?;
    let (n, q) = (layers[0].reference.nrows(), layers[0].query.nrows());
    for l in layers {
        if l.reference.nrows() != n || l.query.nrows() != q {
            return Err(invalid(
                "layers",
                &l.name,
                format!(
                    "{} reference and {} query rows, the first layer has {n} and {q}",
                    l.reference.nrows(),
                    l.query.nrows()
                ),
            ));
        }
        if l.channels == 0 || l.reference.ncols() % l.channels != 0 || l.query.ncols() != l.reference.ncols() {
            return Err(ScoreError::SizeMismatch {
                query: l.query.ncols(),
                reference: l.reference.ncols(),
                detail: format!(" at layer {} ({} channels)", l.name, l.channels),
            });
        }
    }
    if q == 0 {
        return Err(ScoreError::EmptyQuery);
    }
    crate::check_k_fits(opts.k, n)?;
    if query_ids.len() != q {
        return Err(invalid("query ids", query_ids.len(), format!("{q} query rows")));
    }
    if let Some((col, g)) = groups {
        if g.len() != q {
            return Err(invalid("groups", col, format!("{} labels for {q} query rows", g.len())));
        }
    }
    if opts.methods.contains(&Method::Mahalanobis) {
        if labels.labels.len() != n {
            return Err(invalid("reference labels", labels.labels.len(), format!("{n} reference rows")));
        }
        if let Some(&bad) = labels.labels.iter().find(|&&c| c >= labels.n_classes) {
            return Err(invalid("reference labels", bad, format!("{} classes", labels.n_classes)));
        }
    }
    let with = |m: Method| opts.methods.contains(&m);
    let noise = opts.mahalanobis_noise;
    if noise > 0.0 {
        let calibration = calibration_rows(n, opts).len();
        for l in layers {
            let ok = l.preprocessed.as_ref().is_some_and(|p| {
                p.calibration.dim() == (calibration, l.reference.ncols()) && p.query.dim() == l.query.dim()
            });
            if !ok {
                return Err(invalid(
                    "layers",
                    &l.name,
                    format!(
                        "mahalanobis noise {noise} needs the activations of the pre-processed inputs \
                         ({calibration} calibration and {q} query rows)"
                    ),
                ));
            }
        }
    }
    if with(Method::Softmax) {
        let Some(lg) = logits else {
            return Err(invalid("methods", "softmax", "the softmax score needs the classifier's logits"));
        };
        if lg.reference.nrows() != n || lg.query.nrows() != q {
            return Err(invalid(
                "logits",
                format!("{} reference and {} query rows", lg.reference.nrows(), lg.query.nrows()),
                format!("the layers have {n} and {q}"),
            ));
        }
        if lg.reference.ncols() < 2 || lg.query.ncols() != lg.reference.ncols() {
            return Err(invalid(
                "logits",
                format!("{} and {} columns", lg.reference.ncols(), lg.query.ncols()),
                "the same number of classes (at least 2) for the reference and the queries",
            ));
        }
    }
    if (with(Method::Tangent) || with(Method::Lid)) && opts.k < 2 {
        return Err(invalid("k", opts.k, "the tangent and lid scores need at least 2 neighbours"));
    }
    if with(Method::Tangent) {
        opts.dim.check(opts.k)?;
    }
    Ok(())
}

/// Scores every query row at every layer (see the module docs). `logits`: the classifier's logits (needed by the
/// `softmax` score only). `groups`: a manifest column's name and one label per query (AUROCs against `natural`, else
/// the first group; the combination needs them).
pub fn score_features(
    layers: &[LayerFeatures],
    labels: &ReferenceLabels,
    logits: Option<&Logits>,
    query_ids: Vec<String>,
    groups: Option<(String, Vec<String>)>,
    opts: &FeatureOptions,
) -> Result<FeatureReport> {
    check(layers, labels, logits, &query_ids, groups.as_ref(), opts)?;
    let mut timings = Vec::new();
    let pixel_methods: Vec<Method> =
        opts.methods.iter().copied().filter(|&m| m != Method::Mahalanobis && m != Method::Softmax).collect();
    let mut columns = Vec::new();
    let mut reports = Vec::new();
    for l in layers {
        let t = Instant::now();
        let mut layer = LayerReport {
            name: l.name.clone(),
            d: l.reference.ncols(),
            channels: l.channels,
            tangent_dim: None,
            tangent_dim_clamped_to_k_minus_1: false,
            reference_dimension_mle: None,
            duplicate_reference_rows_dropped: 0,
            mahalanobis_classes: None,
        };
        for &m in &opts.methods {
            if m == Method::Mahalanobis {
                let pooled_ref = pool(l.reference, l.channels);
                let g = ClassGaussians::fit(pooled_ref.view(), &labels.labels, labels.n_classes)
                    .map_err(|e| ScoreError::Numerical(format!("layer {}: {e}", l.name)))?;
                // The Gaussians come from the inputs as given; with pre-processing the calibration rows and the
                // queries are scored after their step.
                let (calibration, values) = match (&l.preprocessed, opts.mahalanobis_noise > 0.0) {
                    (Some(p), true) => {
                        (g.scores(pool(p.calibration, l.channels).view()), g.scores(pool(p.query, l.channels).view()))
                    }
                    _ => {
                        let calib_rows = calibration_rows(l.reference.nrows(), opts);
                        (
                            g.scores(pooled_ref.select(Axis(0), &calib_rows).view()),
                            g.scores(pool(l.query, l.channels).view()),
                        )
                    }
                };
                let sorted = crate::stats::sorted_finite(&calibration);
                let percentiles = values.iter().map(|&v| crate::percentile_of(&sorted, v)).collect();
                layer.mahalanobis_classes = Some(g.n_classes());
                columns.push(ScoreColumn {
                    name: format!("{}.mahalanobis", l.name),
                    method: m,
                    values,
                    percentiles,
                    calibration,
                });
            } else if pixel_methods.first() == Some(&m) {
                // One call scores every neighbour-based method of this layer.
                let sopts = ScoreOptions {
                    methods: pixel_methods.clone(),
                    k: opts.k,
                    dim: opts.dim,
                    calibration: opts.calibration,
                    seed: opts.seed,
                    knn: opts.knn,
                    ..ScoreOptions::default()
                };
                let r = crate::score(l.reference, l.query, None, &sopts).map_err(|e| match e {
                    ScoreError::Knn { source, .. } => ScoreError::Knn { what: "feature rows", source },
                    other => other,
                })?;
                layer.tangent_dim = r.dim_global;
                layer.tangent_dim_clamped_to_k_minus_1 = r.dim_clamped;
                layer.reference_dimension_mle = Some(r.reference_dimension);
                layer.duplicate_reference_rows_dropped = r.duplicates_dropped.len();
                for mut c in r.columns {
                    c.name = format!("{}.{}", l.name, c.name);
                    columns.push(c);
                }
            }
        }
        timings.push((format!("layer_{}", l.name), t.elapsed().as_secs_f64()));
        reports.push(layer);
    }
    if let (true, Some(lg)) = (opts.methods.contains(&Method::Softmax), logits) {
        let calib_rows = calibration_rows(lg.reference.nrows(), opts);
        let calibration = softmax_scores(lg.reference.select(Axis(0), &calib_rows).view());
        let values = softmax_scores(lg.query);
        let sorted = crate::stats::sorted_finite(&calibration);
        let percentiles = values.iter().map(|&v| crate::percentile_of(&sorted, v)).collect();
        columns.push(ScoreColumn {
            name: "logits.softmax".into(),
            method: Method::Softmax,
            values,
            percentiles,
            calibration,
        });
    }
    let t = Instant::now();
    let groups = groups.map(|(column, labels)| {
        let report = group_report(&columns, &labels);
        QueryGroups { column, labels, report }
    });
    let combination = match (&groups, opts.combine) {
        (Some(g), true) => Some(combine(&columns, &g.labels, &g.report.reference_group, opts.seed)?),
        _ => None,
    };
    timings.push(("combination".to_string(), t.elapsed().as_secs_f64()));
    Ok(FeatureReport {
        columns,
        layers: reports,
        options: opts.clone(),
        labels_source: labels.source.clone(),
        n_reference: layers[0].reference.nrows(),
        query_ids,
        groups,
        combination,
        timings,
    })
}

/// −ln(max softmax probability) of every row of logits: logsumexp(z) − max z, in f64.
pub fn softmax_scores(logits: ArrayView2<f32>) -> Vec<f64> {
    logits
        .rows()
        .into_iter()
        .map(|row| {
            let top = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
            row.iter().map(|&v| (v as f64 - top).exp()).sum::<f64>().ln()
        })
        .collect()
}

/// Bytes a [`score_features`] run needs at least: the activation matrices of every layer (`dims`: values per image
/// at each layer) for the reference and the queries, plus the largest layer's [`crate::memory::memory_needed`].
pub fn memory_needed(n_reference: usize, n_query: usize, dims: &[usize], k: usize, calibration: usize) -> u128 {
    let total: u128 = dims.iter().map(|&d| d as u128).sum();
    let activations = 4 * (n_reference as u128 + n_query as u128) * total;
    let largest = dims.iter().copied().max().unwrap_or(0);
    activations + crate::memory::memory_needed(n_reference, n_query, largest, k, calibration)
}

#[cfg(test)]
mod tests;
