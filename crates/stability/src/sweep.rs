//! The stability measurement across image sizes: render the same labelled scene parameters at every size, train
//! the same resolution-independent network (global average pooling before the hidden layer) at each, measure the
//! correctly classified test images, and fit `log P(stable)` against the number of input values `n = H·W·C`.
//!
//! With `certified_eps > 0` every network is trained with certified (IBP) training at that radius
//! (`classifier::TrainOptions::certified_eps`, the other certified-training settings at their defaults), so that
//! the verifier's lower end of the bracket is informative.
//!
//! Everything is in memory (renders are put on the 8-bit grid, as `imanifold render` PNGs load) and deterministic
//! by seed: parameters are drawn with [`seeds::sub_seed`] streams, training and the measurement are deterministic
//! at any thread count. [`run`] validates and measures; [`write`] is the one writer of the folder.

use std::path::Path;
use std::time::Instant;

use classifier::model::Pooling;
use classifier::{Architecture, TrainOptions};
use ndarray::Array2;
use pixels::ImageShape;
use scene_render::{render_set, sample_parameters, RenderOptions, Sampling, Scene};
use serde::Serialize;

use crate::error::{invalid, Result, StabilityError};
use crate::net::Net;
use crate::run::{analyse, EpsSummary, StabilityOptions};

pub const DEFAULT_SCENE: &str = "shapes10";
pub const DEFAULT_SIZES_TEXT: &str = "8,12,16,24,32";
pub const DEFAULT_N_TRAIN: usize = 3000;
pub const DEFAULT_N_TEST: usize = 24;
pub const DEFAULT_EPOCHS: usize = 6;
pub const QUICK_N_TRAIN: usize = 2000;
pub const QUICK_N_TEST: usize = 12;
pub const QUICK_EPOCHS: usize = 6;
pub const MIN_SIZE: usize = 4;
pub const MAX_SIZE: usize = 64;
pub const MAX_SIZES: usize = 16;
pub const MAX_N_TRAIN: usize = 200_000;
pub const MAX_N_TEST: usize = 10_000;
pub const MAX_EPOCHS: usize = 1_000;

const TAG_TRAIN: u64 = 0x5357_4545_0001;
const TAG_TEST: u64 = 0x5357_4545_0002;

/// What to sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepOptions {
    /// A built-in scene with classes (every parameter of the scene varies).
    pub scene: String,
    /// Square image sizes, each rendered from the same parameters.
    pub sizes: Vec<usize>,
    pub n_train: usize,
    /// Test renders per size (the correctly classified ones are measured).
    pub n_test: usize,
    pub epochs: usize,
    /// The network (its `pool` is always [`Pooling::Global`]).
    pub architecture: Architecture,
    /// The measurement at every size (its seed is the sweep's).
    pub stability: StabilityOptions,
    pub seed: u64,
    /// Certified (IBP) training radius of every network; 0: plain training.
    pub certified_eps: f64,
}

impl SweepOptions {
    /// The full sweep's defaults with `seed`.
    pub fn full(seed: u64) -> Self {
        SweepOptions {
            scene: DEFAULT_SCENE.into(),
            sizes: vec![8, 12, 16, 24, 32],
            n_train: DEFAULT_N_TRAIN,
            n_test: DEFAULT_N_TEST,
            epochs: DEFAULT_EPOCHS,
            architecture: Architecture { pool: Pooling::Global, ..Architecture::default() },
            stability: StabilityOptions {
                random_trials: 50,
                pair_images: 2,
                pairs_per_image: 25,
                overlays: 0,
                seed,
                ..StabilityOptions::default()
            },
            seed,
            certified_eps: classifier::DEFAULT_CERTIFIED_EPS,
        }
    }

    /// Fewer renders, epochs, test images and attack effort (the same sizes and budgets).
    pub fn quick(seed: u64) -> Self {
        let mut o = SweepOptions::full(seed);
        o.n_train = QUICK_N_TRAIN;
        o.n_test = QUICK_N_TEST;
        o.epochs = QUICK_EPOCHS;
        o.architecture = Architecture { pool: Pooling::Global, ..Architecture::from_channels(&[8, 16, 16], 32) };
        o.stability.random_trials = 20;
        o.stability.pgd_restarts = 2;
        o.stability.pgd_steps = 20;
        o.stability.pair_images = 1;
        o.stability.pairs_per_image = 10;
        o
    }

    fn train_options(&self) -> TrainOptions {
        TrainOptions {
            epochs: self.epochs,
            seed: self.seed,
            validation_fraction: 0.0,
            architecture: Architecture { pool: Pooling::Global, ..self.architecture.clone() },
            certified_eps: self.certified_eps,
            ..TrainOptions::default()
        }
    }

    /// Checks every option (the scene is looked up too).
    pub fn validate(&self) -> Result<()> {
        if self.sizes.is_empty() || self.sizes.len() > MAX_SIZES {
            return Err(invalid("sizes", format!("{} sizes (need 1 to {MAX_SIZES})", self.sizes.len())));
        }
        for (k, &s) in self.sizes.iter().enumerate() {
            if !(MIN_SIZE..=MAX_SIZE).contains(&s) {
                return Err(invalid("sizes", format!("{s} (each size must be {MIN_SIZE} to {MAX_SIZE})")));
            }
            if self.sizes[..k].contains(&s) {
                return Err(invalid("sizes", format!("{s} listed twice")));
            }
        }
        let range = |what, v: usize, lo: usize, hi: usize| {
            if v < lo || v > hi {
                return Err(invalid(what, format!("{v} (need {lo} to {hi})")));
            }
            Ok(())
        };
        range("n-train", self.n_train, 20, MAX_N_TRAIN)?;
        range("n-test", self.n_test, 1, MAX_N_TEST)?;
        range("epochs", self.epochs, 1, MAX_EPOCHS)?;
        self.stability.validate()?;
        self.train_options().validate()?;
        let scene = self.load_scene()?;
        if scene.classes().len() < 2 {
            return Err(invalid("scene", format!("`{}` has no classes to learn", self.scene)));
        }
        Ok(())
    }

    fn load_scene(&self) -> Result<Scene> {
        Scene::builtin(&self.scene).map_err(|e| invalid("scene", format!("`{}`: {e}", self.scene)))
    }
}

/// One image size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SizeResult {
    pub size: usize,
    /// Input values `H·W·C`.
    pub n: usize,
    /// Test error of the trained model on all test renders (f64 network).
    pub clean_error: f64,
    pub train_accuracy: f64,
    pub n_correct: usize,
    /// Every figure per ε (q, n_eff, the prediction, the bracket, random flip rates, pairs).
    pub eps: Vec<EpsSummary>,
    /// Wall seconds (written under `timings`, not with the figures, so that results.json is deterministic).
    #[serde(skip)]
    pub train_seconds: f64,
    #[serde(skip)]
    pub measure_seconds: f64,
}

/// Least-squares line `ln P = intercept + slope · n` over the sizes where `P > 0`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fit {
    pub eps: f64,
    /// Which P: `stable_upper` (1 − share with a flip found), `stable_lower` (certified share) or `prediction`
    /// (the independence prediction `(1 − q_mean)^n_eff_mean`).
    pub p: &'static str,
    /// Sizes used (P > 0) out of all sizes.
    pub points: usize,
    pub slope: Option<f64>,
    pub intercept: Option<f64>,
    pub r2: Option<f64>,
}

/// The sweep's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepReport {
    pub options: SweepOptions,
    pub classes: Vec<String>,
    pub sizes: Vec<SizeResult>,
    pub fits: Vec<Fit>,
}

/// `(slope, intercept, r²)` of the least-squares line through `(x, y)` (≥ 2 distinct x; r² is `None` when y is
/// constant).
pub fn least_squares(points: &[(f64, f64)]) -> Option<(f64, f64, Option<f64>)> {
    let m = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let (mx, my) = (points.iter().map(|p| p.0).sum::<f64>() / m, points.iter().map(|p| p.1).sum::<f64>() / m);
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let syy: f64 = points.iter().map(|p| (p.1 - my).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let r2 = (syy > 0.0).then(|| (sxy * sxy) / (sxx * syy));
    Some((slope, my - slope * mx, r2))
}

/// Reads one P from a summary.
type Pick = fn(&EpsSummary) -> Option<f64>;

fn fits(sizes: &[SizeResult], eps: &[f64]) -> Vec<Fit> {
    let mut out = Vec::new();
    for (e, &budget) in eps.iter().enumerate() {
        let pick: [(&'static str, Pick); 3] = [
            ("stable_upper", |s| Some(s.stable_upper)),
            ("stable_lower", |s| Some(s.stable_lower)),
            ("prediction", |s| s.prediction),
        ];
        for (name, f) in pick {
            let pts: Vec<(f64, f64)> =
                sizes.iter().filter_map(|s| f(&s.eps[e]).filter(|p| *p > 0.0).map(|p| (s.n as f64, p.ln()))).collect();
            let line = least_squares(&pts);
            out.push(Fit {
                eps: budget,
                p: name,
                points: pts.len(),
                slope: line.map(|l| l.0),
                intercept: line.map(|l| l.1),
                r2: line.and_then(|l| l.2),
            });
        }
    }
    out
}

/// Renders `params` at `size` on the 8-bit grid: rows of `size·size·3` values, `(y, x, channel)`.
fn render_rows(scene: &Scene, params: &[scene_render::Params], size: usize) -> Result<Array2<f32>> {
    let images = render_set(scene, params, &RenderOptions::square(size))
        .map_err(|e| invalid("render", format!("{size}×{size}: {e}")))?;
    let d = size * size * 3;
    let mut x = Array2::<f32>::zeros((images.len(), d));
    for (mut row, im) in x.rows_mut().into_iter().zip(&images) {
        row.iter_mut().zip(im.image.iter()).for_each(|(v, &p)| *v = f32::from(pixels::to_u8(p)) / 255.0);
    }
    Ok(x)
}

/// Runs the sweep (see the module docs). `on_size(size)` is called as each size starts.
pub fn run(opts: &SweepOptions, on_size: &dyn Fn(usize)) -> Result<SweepReport> {
    opts.validate()?;
    let scene = opts.load_scene()?;
    let vary: Vec<String> = scene.parameters().iter().map(|p| p.name.clone()).collect();
    let draw = |n, tag| {
        sample_parameters(&scene, &vary, n, Sampling::Random, seeds::sub_seed(opts.seed, tag))
            .map_err(|e| invalid("scene", e.to_string()))
    };
    let (train_params, test_params) = (draw(opts.n_train, TAG_TRAIN)?, draw(opts.n_test, TAG_TEST)?);
    let label = |p: &scene_render::Params| p.label.ok_or_else(|| invalid("scene", "a render without a label"));
    let train_labels = train_params.iter().map(label).collect::<Result<Vec<_>>>()?;
    let test_labels = test_params.iter().map(label).collect::<Result<Vec<_>>>()?;
    let classes = scene.classes().to_vec();
    let train_opts = opts.train_options();
    let stab = StabilityOptions { seed: opts.seed, ..opts.stability.clone() };
    let mut sizes = Vec::with_capacity(opts.sizes.len());
    for &size in &opts.sizes {
        on_size(size);
        let shape = ImageShape::new(size, size, 3);
        let start = Instant::now();
        let x = render_rows(&scene, &train_params, size)?;
        let (model, report) = classifier::train(x.view(), shape, &train_labels, &classes, &train_opts, |_| {})?;
        let train_seconds = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let test = render_rows(&scene, &test_params, size)?;
        let rows: Vec<Vec<f64>> = test.rows().into_iter().map(|r| r.iter().map(|&v| f64::from(v)).collect()).collect();
        let net = Net::from_classifier(&model)?;
        let r = analyse(&net, &rows, &test_labels, &stab, &|| {})?;
        if r.n_correct == 0 {
            return Err(StabilityError::Invalid {
                what: "n-test",
                message: format!("no test image correctly classified at {size}×{size}; train longer or on more"),
            });
        }
        sizes.push(SizeResult {
            size,
            n: shape.len(),
            clean_error: r.clean_error,
            train_accuracy: report.train_accuracy,
            n_correct: r.n_correct,
            eps: r.summaries,
            train_seconds,
            measure_seconds: start.elapsed().as_secs_f64(),
        });
    }
    let fits = fits(&sizes, &opts.stability.eps);
    Ok(SweepReport { options: opts.clone(), classes, sizes, fits })
}

fn opt(v: Option<f64>) -> String {
    v.map(output::fmt_f64).unwrap_or_default()
}

/// The curves: per ε the bracket (a marker at 1 − attacked, its bar down to the certified share) and the
/// independence prediction against `n`, log scale (zeros cannot be drawn on it and are left out; a bar whose
/// certified end is 0 goes down to 1/1000 of its top).
fn curve(r: &SweepReport) -> Result<String> {
    use report::{Axis, Legend, Point, Series, Style, XyChart};
    let mut chart = XyChart::new("P(stable) against n", Axis::linear("n = H·W·C"), Axis::log("P(stable)"))
        .size(820, 480)
        .legend(Legend::Right);
    for (e, &eps) in r.options.stability.eps.iter().enumerate() {
        let name = crate::write::eps_name(eps).replace('_', "/");
        let bracket: Vec<Point> = r
            .sizes
            .iter()
            .filter(|s| s.eps[e].stable_upper > 0.0)
            .map(|s| {
                let (lo, hi) = (s.eps[e].stable_lower, s.eps[e].stable_upper);
                Point::with_interval(s.n as f64, hi, if lo > 0.0 { lo } else { hi * 1e-3 }, hi)
            })
            .collect();
        let prediction: Vec<Point> = r
            .sizes
            .iter()
            .filter_map(|s| s.eps[e].prediction.filter(|p| *p > 0.0).map(|p| Point::new(s.n as f64, p)))
            .collect();
        chart = chart
            .series(Series::new(&format!("eps {name}: bracket"), bracket, Style::LineAndMarkers).color(e))
            .series(Series::new(&format!("eps {name}: (1-q)^n_eff"), prediction, Style::Dashed).color(e));
    }
    report::xy_chart(&chart).map_err(|e| invalid("curve", e.to_string()))
}

/// Writes `results.json` (options, per size every figure per ε, the fits, definitions), `per_size.csv` (one row
/// per size and ε) and `curve.svg` (the brackets and the predictions against n, log scale); per-size seconds go
/// under `timings`. Returns the JSON.
pub fn write(dir: &Path, r: &SweepReport, mut results: output::Results) -> Result<serde_json::Value> {
    output::create_dir(dir)?;
    let header = [
        "size",
        "n",
        "eps",
        "n_images",
        "n_eff_mean",
        "q_mean",
        "prediction",
        "prediction_per_image_mean",
        "certified",
        "stable_upper",
        "bracket_width",
        "pgd_flip_rate",
        "random_uniform_flip_rate",
        "random_corner_flip_rate",
        "clean_error",
    ];
    let rows = r.sizes.iter().flat_map(|s| {
        s.eps.iter().map(move |e| {
            vec![
                s.size.to_string(),
                s.n.to_string(),
                output::fmt_f64(e.eps),
                e.n_images.to_string(),
                output::fmt_f64(e.n_eff_mean),
                opt(e.q_mean),
                opt(e.prediction),
                output::fmt_f64(e.prediction_per_image_mean),
                output::fmt_f64(e.stable_lower),
                output::fmt_f64(e.stable_upper),
                output::fmt_f64(e.bracket_width),
                output::fmt_f64(e.pgd_flip_rate),
                opt(e.random_uniform_flip_rate),
                opt(e.random_corner_flip_rate),
                output::fmt_f64(s.clean_error),
            ]
        })
    });
    output::write_csv(&dir.join("per_size.csv"), &header, rows)?;
    output::write_bytes(&dir.join("curve.svg"), curve(r)?.as_bytes())?;
    for s in &r.sizes {
        results.timing(&format!("train_{}", s.size), s.train_seconds);
        results.timing(&format!("measure_{}", s.size), s.measure_seconds);
    }
    results
        .set("options", &r.options)
        .set("classes", &r.classes)
        .set("sizes", &r.sizes)
        .set("fits", &r.fits)
        .set("files", serde_json::json!({"per_size": "per_size.csv", "curve": "curve.svg"}))
        .set(
            "definitions",
            serde_json::json!({
                "n": "input values H·W·C of one image",
                "P": "share of the correctly classified test images whose whole L∞ eps-box keeps the label",
                "stable_upper": "1 - share of images with a flip found (PGD, random points, single pixels): an upper bound of P",
                "stable_lower": "share certified (IBP or CROWN): a lower bound of P",
                "prediction": "(1 - q_mean)^n_eff_mean, the independence prediction",
                "fits": "least squares ln P = intercept + slope · n over the sizes with P > 0 (points counts them)",
                "timings": "train_<size> includes rendering the training set, measure_<size> rendering the test set",
            }),
        );
    Ok(results.write(dir)?)
}
