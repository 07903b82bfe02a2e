//! `imanifold score --features`: off-manifold scores in the classifier's feature space, the library entry point the
//! command line, the Python package and the demo share ([`score_in_features`]).
//!
//! The scores themselves are `off_manifold::features::score_features` on the activations this crate computes. The
//! part that needs the network is here: the activations ([`crate::feature_matrices`]) and Lee et al.'s (2018)
//! input pre-processing for the Mahalanobis score ([`preprocess`]).
//!
//! **Pre-processing.** At each layer the class Gaussians are fitted on the reference's activations as given. Each
//! calibration reference image and each query image x then moves by one signed-gradient step towards its nearest
//! class at that layer, x̂ = clip(x − ε·sign(∇ₓ d²(x)), 0, 1) with d the Mahalanobis distance of the layer's
//! (position-averaged) activations to that class, and is scored at x̂. The gradient is the network's transposed
//! Jacobian applied to Σ⁻¹(f(x) − μ) ([`crate::Classifier::layer_input_gradient`]). Lee et al.'s argument: a
//! natural image's distance falls more under such a step than an off-distribution one's, so the gap widens.

use std::time::Instant;

use dataset::limits::Bytes;
use ndarray::{concatenate, s, Array2, ArrayView2, Axis};
use off_manifold::features::{
    calibration_rows, pool, score_features, validate_options, ClassGaussians, FeatureOptions, FeatureReport,
};
use off_manifold::{Method, ScoreError};

use crate::error::{ClassifierError, Result};
use crate::features::{feature_matrices, FeatureMatrices, Layer};
use crate::Classifier;

fn score_error(e: ScoreError) -> ClassifierError {
    ClassifierError::Score(Box::new(e))
}

/// Whether `opts` asks for the Mahalanobis pre-processing.
fn preprocessing(opts: &FeatureOptions) -> bool {
    opts.mahalanobis_noise > 0.0 && opts.methods.contains(&Method::Mahalanobis)
}

/// Bytes a [`score_in_features`] run needs at least: the activations of every layer for the reference and the
/// queries, the scores' own working memory, and with pre-processing the moved inputs (three input-sized matrices
/// of the calibration and query rows) and their activations at every layer.
pub fn memory_needed(
    model: &Classifier,
    layers: &[Layer],
    n_reference: usize,
    n_query: usize,
    opts: &FeatureOptions,
) -> u128 {
    let dims: Vec<usize> = layers.iter().map(|&l| model.layer_shape(l).len()).collect();
    let mut bytes = off_manifold::features::memory_needed(n_reference, n_query, &dims, opts.k, opts.calibration);
    // The logits of every row ride along with the layers.
    bytes += 4 * (n_reference + n_query) as u128 * model.n_classes() as u128;
    if preprocessing(opts) {
        let rows = (opts.calibration.min(n_reference) + n_query) as u128;
        let largest = dims.iter().copied().max().unwrap_or(0) as u128;
        bytes += 4 * rows * (dims.iter().sum::<usize>() as u128 + 3 * model.input_len() as u128 + largest);
    }
    bytes
}

/// Runs Lee et al.'s pre-processing (module docs) at every layer of `fm` and stores the activations of the moved
/// calibration and query rows in `fm.preprocessed`, layer by layer. `reference` and `query` are the inputs behind
/// `fm`; `opts.mahalanobis_noise` is the step.
pub fn preprocess(
    model: &Classifier,
    fm: &mut FeatureMatrices,
    reference: ArrayView2<f32>,
    query: ArrayView2<f32>,
    opts: &FeatureOptions,
) -> Result<()> {
    let calib = calibration_rows(reference.nrows(), opts);
    let n_calib = calib.len();
    let inputs = concatenate![Axis(0), reference.select(Axis(0), &calib), query];
    let eps = opts.mahalanobis_noise as f32;
    fm.preprocessed.clear();
    for (i, &layer) in fm.layers.iter().enumerate() {
        let channels = fm.shapes[i].channels;
        let len = fm.shapes[i].len();
        let positions = (len / channels) as f64;
        let gaussians =
            ClassGaussians::fit(pool(fm.reference[i].view(), channels).view(), &fm.reference_predicted, fm.n_classes)
                .map_err(|e| score_error(ScoreError::Numerical(format!("layer {layer}: {e}"))))?;
        let given = concatenate![Axis(0), fm.reference[i].select(Axis(0), &calib), fm.query[i].view()];
        let dirs = gaussians.descent_directions(pool(given.view(), channels).view());
        drop(given);
        // ∂ mean-over-positions / ∂ activation = 1 / positions at every position of the channel.
        let w = Array2::from_shape_fn((inputs.nrows(), len), |(r, j)| (dirs[[r, j % channels]] / positions) as f32);
        let grad = model.layer_input_gradient(inputs.view(), layer, w.view())?;
        drop(w);
        let mut moved = inputs.clone();
        moved.zip_mut_with(&grad, |x, &g| {
            let step = if g > 0.0 {
                eps
            } else if g < 0.0 {
                -eps
            } else {
                0.0
            };
            *x = (*x - step).clamp(0.0, 1.0);
        });
        drop(grad);
        let act = model.activations(moved.view(), &[layer])?.remove(0);
        fm.preprocessed.push((act.slice(s![..n_calib, ..]).to_owned(), act.slice(s![n_calib.., ..]).to_owned()));
    }
    Ok(())
}

/// `score --features`: the activations of `reference` and `query` at `layers`, the Mahalanobis pre-processing when
/// `opts.mahalanobis_noise` > 0, and every feature-space score (`off_manifold::features::score_features`; the
/// Mahalanobis classes are the model's predictions on the reference). Refuses, before any forward pass, options
/// that cannot run and a run whose memory estimate ([`memory_needed`]) exceeds `available` bytes. `query_ids` and
/// `groups` as in `score_features`. The report's timings start with `activations` (and `preprocessing`).
#[allow(clippy::too_many_arguments)] // the command's inputs and options, each used once
pub fn score_in_features(
    model: &Classifier,
    layers: &[Layer],
    reference: ArrayView2<f32>,
    query: ArrayView2<f32>,
    query_ids: Vec<String>,
    groups: Option<(String, Vec<String>)>,
    opts: &FeatureOptions,
    available: u64,
) -> Result<FeatureReport> {
    validate_options(opts).map_err(score_error)?;
    for x in [reference, query] {
        if x.ncols() != model.input_len() {
            return Err(ClassifierError::InputSize {
                got: x.ncols(),
                expected: model.input_len(),
                shape: model.input_shape(),
            });
        }
    }
    let needed = memory_needed(model, layers, reference.nrows(), query.nrows(), opts);
    if needed > available as u128 {
        let per_image: usize = layers.iter().map(|&l| model.layer_shape(l).len()).sum();
        return Err(ClassifierError::Memory {
            needed: Bytes(needed),
            available: Bytes(available as u128),
            detail: format!(
                "the activations of {} reference and {} query rows at {} layer(s) ({per_image} values per image{})",
                reference.nrows(),
                query.nrows(),
                layers.len(),
                if preprocessing(opts) { ", twice with pre-processing" } else { "" }
            ),
        });
    }
    let t = Instant::now();
    let mut fm = feature_matrices(model, layers, reference, query)?;
    let mut timings = vec![("activations".to_string(), t.elapsed().as_secs_f64())];
    if preprocessing(opts) {
        let t = Instant::now();
        preprocess(model, &mut fm, reference, query, opts)?;
        timings.push(("preprocessing".to_string(), t.elapsed().as_secs_f64()));
    }
    let mut report =
        score_features(&fm.layer_features(), &fm.reference_labels(), Some(&fm.logits()), query_ids, groups, opts)
            .map_err(score_error)?;
    timings.append(&mut report.timings);
    report.timings = timings;
    Ok(report)
}
