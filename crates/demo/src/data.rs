//! What each stage hands to the report: plain numbers, independent of the library crates (so the report code
//! compiles whichever stages are built).

use ndarray::Array2;

/// One estimate with its interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub estimator: String,
    pub dimension: f64,
    pub ci95: Option<(f64, f64)>,
    pub ci_method: String,
    pub seconds: f64,
}

/// One point of an ID-vs-k curve.
#[derive(Debug, Clone, PartialEq)]
pub struct CurvePoint {
    pub estimator: String,
    pub k: usize,
    pub dimension: f64,
    pub ci95: Option<(f64, f64)>,
}

/// One image set of stage 1: the first `true_dimension` parameters free.
#[derive(Debug, Clone, PartialEq)]
pub struct DimensionSet {
    pub true_dimension: usize,
    pub parameters: Vec<String>,
    pub n: usize,
    pub estimates: Vec<Estimate>,
    pub curves: Vec<CurvePoint>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DimensionData {
    pub sets: Vec<DimensionSet>,
    /// Estimators of the dimension plot and of the curves, in display order.
    pub estimators: Vec<String>,
    pub curve_estimators: Vec<String>,
    pub summary: serde_json::Value,
}

/// Correlation of one distance with the true one.
#[derive(Debug, Clone, PartialEq)]
pub struct Correlation {
    pub name: String,
    pub spearman: f64,
    pub pearson: f64,
    pub pairs: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GeodesicData {
    /// True parameter (spin, degrees) of every image.
    pub truth: Vec<f64>,
    pub period: f64,
    /// n × n distance matrices: flow-weighted graph geodesics, Euclidean-graph geodesics, pixel distances.
    pub flow: Array2<f32>,
    pub euclidean_graph: Array2<f32>,
    pub pixel: Array2<f32>,
    pub correlations: Vec<Correlation>,
    /// Isomap (classical MDS of the flow geodesics) coordinates of the embedded rows.
    pub embedding: Option<(Vec<usize>, Array2<f64>)>,
    pub summary: serde_json::Value,
}

/// One fooling image.
#[derive(Debug, Clone, PartialEq)]
pub struct FoolingImage {
    pub method: String,
    pub class: String,
    pub confidence: f64,
    /// Confidence of the 8-bit image as written to PNG (and scored).
    pub confidence_png: f64,
    pub reached: bool,
    pub generation: usize,
    pub image: Vec<f32>,
}

/// Adversarial attack summary (one row of the flip-rate table).
#[derive(Debug, Clone, PartialEq)]
pub struct FlipRates {
    pub attack: String,
    pub norm: String,
    pub eps: f64,
    pub n_attacked: usize,
    pub n_flipped: usize,
    pub flip_rate: f64,
    pub random_flip_rate_l2: Option<f64>,
    pub random_flip_rate_linf: Option<f64>,
    pub median_l2: Option<f64>,
    pub median_linf: Option<f64>,
    /// Median fraction of the perturbation's energy in the local tangent space, and the same for random directions.
    pub tangent_fraction: Option<f64>,
    pub random_tangent_fraction: Option<f64>,
}

/// One score column over all queries.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreColumn {
    pub name: String,
    pub values: Vec<f64>,
    pub percentiles: Vec<f64>,
}

/// AUROC of one score for one group against the natural held-out images.
#[derive(Debug, Clone, PartialEq)]
pub struct Auroc {
    pub group: String,
    pub score: String,
    pub auroc: Option<f64>,
}

/// One group's detection in pixel space and in the classifier's feature space.
#[derive(Debug, Clone, PartialEq)]
pub struct SideBySide {
    pub group: String,
    /// Best score and its AUROC (over all rows) in pixel space and in feature space.
    pub pixel_best: Option<(String, f64)>,
    pub feature_best: Option<(String, f64)>,
    /// The feature-space logistic-regression combination's AUROC on its held-out half.
    pub combined_test: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OffManifoldData {
    pub image_shape: (usize, usize, usize),
    /// Query ids (relative PNG paths in the stage's `queries/` folder) and their groups, in order.
    pub query_ids: Vec<String>,
    pub groups: Vec<String>,
    /// Group names in display order (the reference group `natural` first).
    pub group_order: Vec<String>,
    pub columns: Vec<ScoreColumn>,
    pub aurocs: Vec<Auroc>,
    /// AUROCs of the feature-space columns (`LAYER.SCORE`) and the side-by-side comparison per group.
    pub feature_aurocs: Vec<Auroc>,
    pub side_by_side: Vec<SideBySide>,
    pub fooling: Vec<FoolingImage>,
    pub flip_rates: Vec<FlipRates>,
    /// (clean, perturbed) image rows of a few flipped adversarial examples, with their labels.
    pub adversarial_examples: Vec<(Vec<f32>, Vec<f32>, String, String)>,
    pub accuracy: serde_json::Value,
    pub interpolation: serde_json::Value,
    pub summary: serde_json::Value,
}

/// One image size and budget of stage 4.
#[derive(Debug, Clone, PartialEq)]
pub struct StabilityPoint {
    pub size: usize,
    /// Input values `H·W·C`.
    pub n: usize,
    pub eps: f64,
    pub n_images: usize,
    pub q_mean: Option<f64>,
    pub n_eff_mean: f64,
    /// `(1 − q_mean)^n_eff_mean`.
    pub prediction: Option<f64>,
    /// Certified share (lower end) and 1 − share with a flip found (upper end) of the stable share.
    pub stable_lower: f64,
    pub stable_upper: f64,
    pub bracket_width: f64,
    pub pgd_flip_rate: f64,
    pub random_uniform_flip_rate: Option<f64>,
    pub random_corner_flip_rate: Option<f64>,
    /// Test error of the size's model on all its test renders.
    pub clean_error: f64,
}

/// A least-squares line `ln P = intercept + slope · n` of one P at one ε.
#[derive(Debug, Clone, PartialEq)]
pub struct StabilityFit {
    pub eps: f64,
    /// `stable_upper`, `stable_lower` or `prediction`.
    pub p: String,
    pub points: usize,
    pub slope: Option<f64>,
    pub intercept: Option<f64>,
    pub r2: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StabilityData {
    pub eps: Vec<f64>,
    /// One entry per size and ε, sizes in sweep order, ε in option order.
    pub points: Vec<StabilityPoint>,
    pub fits: Vec<StabilityFit>,
    pub summary: serde_json::Value,
}
