//! `imanifold score --reference REF --query Q --out DIR`: off-manifold scores of every query image against a
//! reference collection (kNN distance, tangent residual, LID, flow residual), calibrated as percentiles of the
//! reference's own leave-one-out scores; `--groups COLUMN` adds per-group distributions and AUROCs. Writes
//! scores.csv, <score>.npy, <score>_pct.npy, calibration_<score>.npy and results.json.
//!
//! `imanifold score --reference REF --query Q --features MODEL[:LAYER,…] --out DIR`: the same scores (knn, tangent,
//! lid) on the classifier's activations at each layer (default: every hidden layer), the class-conditional
//! Mahalanobis score (classes: the model's predictions on the reference) and, with `--groups`, a logistic-regression
//! combination per group trained on half of the rows; scores.csv has one column per layer × score.
//!
//! `imanifold score --reference REF --pairs PAIRS.csv --out DIR`: for (clean, perturbed) image pairs, the fraction of
//! each perturbation's energy in the clean image's local tangent space, with a random direction as baseline. Writes
//! perturbations.csv, tangent_fraction.npy, random_tangent_fraction.npy and results.json.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args as ClapArgs;
use classifier::{Classifier, FeatureSpec};
use dataset::limits::Bytes;
use dataset::Dataset;
use knn::{KnnOptions, Strategy};
use off_manifold::features::FeatureOptions;
use off_manifold::{DimChoice, FlowParams, Method, MethodList, PairsOptions, ScoreOptions};

use super::common::{InputArgs, OutArgs};

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Reference collection of natural images (anything the loaders read).
    #[arg(long, value_name = "REF")]
    pub reference: PathBuf,
    /// Images to score (same image size as the reference).
    #[arg(long, value_name = "Q", required_unless_present = "pairs", conflicts_with = "pairs")]
    pub query: Option<PathBuf>,
    /// Perturbation mode: CSV with columns `clean,perturbed`; each cell an image path relative to the CSV's folder,
    /// a `.npy` holding one image, or `file.npy#ROW` for one row of a `.npy` stack.
    #[arg(long, value_name = "FILE")]
    pub pairs: Option<PathBuf>,
    /// Feature space: a classifier model folder and, after `:`, comma-separated layers (conv1, conv2, …, hidden,
    /// logits; default: every hidden layer). The scores are computed on the activations at each layer.
    #[arg(long, value_name = "MODEL[:LAYER,...]", conflicts_with = "pairs")]
    pub features: Option<FeatureSpec>,
    /// Scores to compute, comma-separated, from knn, tangent, lid, flow (default: all four for images; knn,
    /// tangent, lid for rows that are not images); with --features from knn, tangent, lid, mahalanobis, softmax
    /// (default: all five).
    #[arg(long, value_name = "LIST")]
    pub methods: Option<MethodList>,
    /// Neighbours per image.
    #[arg(long, default_value_t = off_manifold::DEFAULT_K)]
    pub k: usize,
    /// Tangent dimension: `auto` (rounded MLE intrinsic dimension of the reference), `local` (each image's own
    /// Levina–Bickel estimate) or a number; at most k − 1.
    #[arg(long, default_value_t = DimChoice::Auto, value_name = "D")]
    pub dim: DimChoice,
    /// Manifest column of the query that splits it into groups (AUROC against `natural`, else the first group).
    #[arg(long, value_name = "COLUMN")]
    pub groups: Option<String>,
    /// Reference images used for the leave-one-out calibration (a seeded sample when the reference is larger).
    #[arg(long, default_value_t = off_manifold::DEFAULT_CALIBRATION, value_name = "N")]
    pub calibration: usize,
    /// Nearest reference images tried by the flow score.
    #[arg(long, default_value_t = off_manifold::DEFAULT_FLOW_NEIGHBORS, value_name = "N")]
    pub flow_neighbors: usize,
    /// Calibration images of the flow score (a seeded sub-sample of the calibration images).
    #[arg(long, default_value_t = off_manifold::DEFAULT_FLOW_CALIBRATION, value_name = "N")]
    pub flow_calibration: usize,
    /// Optical-flow method of the flow score (dis, dis-medium, dis-fast, variational).
    #[arg(long, default_value = off_manifold::DEFAULT_FLOW_METHOD, value_name = "NAME")]
    pub flow_method: String,
    /// With --features: Lee et al.'s input pre-processing for the mahalanobis score, the step (pixel units, images
    /// in [0, 1]) each calibration and query image takes towards its nearest class at each layer before it is
    /// scored; 0 scores the images as given.
    #[arg(long, default_value_t = 0.0, value_name = "EPS", requires = "features")]
    pub mahalanobis_noise: f64,
    /// kNN search strategy (all but `approx` exact; `pruned` wins on collections with a steep spectrum; `approx`:
    /// HNSW candidates with exact distances, for large references).
    #[arg(long, default_value_t = Strategy::Auto, value_name = "auto|brute|pruned|tree|approx")]
    pub knn_strategy: Strategy,
    #[command(flatten)]
    pub input_args: InputArgs,
    #[command(flatten)]
    pub out: OutArgs,
}

fn knn_options(a: &Args) -> KnnOptions {
    KnnOptions { strategy: a.knn_strategy, seed: a.input_args.seed, ..Default::default() }
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let second = a.query.as_deref().or(a.pairs.as_deref()).unwrap_or(&a.reference);
    match &a.features {
        Some(f) => a.out.check_inputs(&[&a.reference, second, &f.model])?,
        None => a.out.check_inputs(&[&a.reference, second])?,
    }
    let flow = FlowParams::from_name(&a.flow_method)?;
    // The model and its layers are checked before any image is loaded.
    let features = match &a.features {
        Some(spec) => {
            let model = Classifier::load(&spec.model)?;
            let layers = spec.layers_of(&model).with_context(|| format!("--features {spec}"))?;
            Some((spec, model, layers))
        }
        None => None,
    };
    let mut record = output::Results::new("score");
    let reference = record.timed("load_reference", || a.input_args.load(&a.reference))?;
    if let Some(pairs) = &a.pairs {
        return run_pairs(&a, pairs, &reference, record);
    }
    let q_path = a.query.as_ref().context("--query or --pairs is required")?;
    let q_opts = off_manifold::matching_load_options(&reference, a.input_args.options());
    let query = record
        .timed("load_query", || dataset::load(q_path, &q_opts))
        .with_context(|| format!("loading {}", q_path.display()))?;
    if let Some((spec, model, layers)) = features {
        return run_features(&a, spec, &model, &layers, &reference, &query, q_path, record);
    }
    check_memory(&reference, query.n(), a.k, a.calibration)?;
    let opts = ScoreOptions {
        methods: a.methods.clone().map_or_else(|| Method::defaults_for(reference.shape), |m| m.0),
        k: a.k,
        dim: a.dim,
        calibration: a.calibration,
        flow_neighbors: a.flow_neighbors,
        flow_calibration: a.flow_calibration,
        flow,
        seed: a.input_args.seed,
        knn: knn_options(&a),
    };
    let report = off_manifold::score_query(&reference, &query, a.groups.as_deref(), &opts)
        .with_context(|| format!("scoring {} against {}", q_path.display(), a.reference.display()))?;
    for w in report.warnings() {
        eprintln!("{w}");
    }
    let (r, q) = (a.reference.display().to_string(), q_path.display().to_string());
    let v = a.out.write(|dir| Ok(off_manifold::write_score_dir(dir, &report, &r, &q, record)?))?;
    a.out.print(&v)
}

/// Refuses a run whose copies and neighbour lists cannot fit in the memory available, before the neighbour search.
fn check_memory(reference: &Dataset, n_query: usize, k: usize, calibration: usize) -> anyhow::Result<()> {
    let needed = off_manifold::memory::memory_needed(reference.n(), n_query, reference.d(), k, calibration);
    let available = dataset::limits::available_memory();
    if needed > available as u128 {
        let (needed, available) = (Bytes(needed), Bytes(available as u128));
        bail!(
            "score needs {needed} for {} reference and {n_query} query rows with --k {k} and --calibration \
             {calibration}, {available} available; lower --k or --calibration or use fewer rows (--limit, --sample)",
            reference.n()
        );
    }
    Ok(())
}

fn run_pairs(a: &Args, pairs_path: &Path, reference: &Dataset, mut record: output::Results) -> anyhow::Result<()> {
    if a.methods.is_some() || a.groups.is_some() {
        bail!("--methods and --groups apply to --query mode, not to --pairs");
    }
    check_memory(reference, 0, a.k, a.calibration)?;
    let pairs =
        record.timed("load_pairs", || off_manifold::read_pairs(pairs_path, reference, &a.input_args.options()))?;
    let opts =
        PairsOptions { k: a.k, dim: a.dim, calibration: a.calibration, seed: a.input_args.seed, knn: knn_options(a) };
    let run = off_manifold::score_pairs(reference, &pairs, &opts)
        .with_context(|| format!("tangent energy of the pairs in {}", pairs_path.display()))?;
    let (r, p) = (a.reference.display().to_string(), pairs_path.display().to_string());
    let v = a.out.write(|dir| Ok(off_manifold::write_pairs_dir(dir, &run, &r, &p, record)?))?;
    a.out.print(&v)
}

/// `--features`: the library's feature-space scoring (`classifier::score_in_features`) on the loaded images. The
/// model, its layers, the image shapes, the options, the groups column and the memory are checked before any
/// forward pass.
#[allow(clippy::too_many_arguments)] // the parsed command line and what run() already loaded
fn run_features(
    a: &Args,
    spec: &FeatureSpec,
    model: &Classifier,
    layers: &[classifier::Layer],
    reference: &Dataset,
    query: &Dataset,
    q_path: &Path,
    record: output::Results,
) -> anyhow::Result<()> {
    off_manifold::check_same_size(reference, query)?;
    let shape = reference.shape.with_context(|| {
        format!("--features needs images: {} holds rows that are not images", a.reference.display())
    })?;
    model.check_shape(shape).with_context(|| format!("--features {}", spec.model.display()))?;
    let groups = off_manifold::group_labels(query, a.groups.as_deref())?;
    let opts = FeatureOptions {
        methods: a.methods.clone().map_or_else(|| off_manifold::Method::FEATURES.to_vec(), |m| m.0),
        k: a.k,
        dim: a.dim,
        calibration: a.calibration,
        seed: a.input_args.seed,
        knn: knn_options(a),
        combine: true,
        mahalanobis_noise: a.mahalanobis_noise,
    };
    let report = classifier::score_in_features(
        model,
        layers,
        reference.data.view(),
        query.data.view(),
        query.ids.clone(),
        groups,
        &opts,
        dataset::limits::available_memory(),
    )
    .with_context(|| {
        format!("scoring {} against {} in the features of {spec}", q_path.display(), a.reference.display())
    })?;
    let (r, q, f) = (a.reference.display().to_string(), q_path.display().to_string(), spec.to_string());
    let v = a.out.write(|dir| Ok(off_manifold::features::write_feature_dir(dir, &report, &f, &r, &q, record)?))?;
    a.out.print(&v)
}
