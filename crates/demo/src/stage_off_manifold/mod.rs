//! Stage 3: a classifier trained on `shapes10` renders; fooling images (MAP-Elites over pixels and over CPPNs) and
//! PGD adversarial perturbations of held-out renders at ε = 2, 4 and 8/255 with the random-perturbation flip rate;
//! off-manifold scores of every kind of image against a reference of natural renders (the training renders), in
//! pixel space and in the classifier's feature space, with AUROCs per group side by side.
//!
//! Query groups, all at the classifier's input size (RGB): `natural` (held-out renders, the reference group of the
//! AUROCs), `noise` (uniform pixels), `other_scene` (the `room` scene), `fooling_direct`, `fooling_cppn`,
//! `adversarial_pgd_2`, `adversarial_pgd_4`, `adversarial_pgd_8` (perturbed held-out renders whose label flipped, at
//! ε = 2, 4, 8/255 in L∞), `flow_morph` and `cross_fade` (the midpoint, t = ½, between two renders of one object
//! whose camera yaw differs by `pair_yaw_step`: along the estimated optical flow, or a plain pixel blend). Every image
//! is on the 8-bit grid, as it would be read from a PNG.
//!
//! Folders (formats of the individual commands): `train/` and `heldout/` (renders), `model/` (`classifier
//! train`), `fool_evolve-direct/`, `fool_evolve-cppn/` (`fool`), `adversarial_pgd_{2,4,8}/` (`adversarial`),
//! `queries/` (every query image as PNG with manifest.csv columns file, group: the input of `imanifold score
//! --reference train --query queries --groups group`), `score/` (`score`) and `score_features/` (`score
//! --features model --groups group`).

use std::path::Path;

use classifier::{Architecture, Classifier, ImageShape, TrainOptions};
use indicatif::ProgressBar;
use ndarray::{Array2, Array3};
use off_manifold::Dataset;
use scene_render::{ColorMode, RenderOptions, RenderSet, Sampling, Scene, WriteOptions};
use serde_json::{Map, Value};

use crate::config::Config;
use crate::data::OffManifoldData;
use crate::util::{read_image_rows, sub_seed, Result, Step};

mod attacks;
mod scores;

/// Query groups in display order (`natural` is the reference group of the AUROCs).
pub const GROUPS: [&str; 12] = [
    "natural",
    "flow_morph",
    "cross_fade",
    "adversarial_pgd_2",
    "adversarial_pgd_4",
    "adversarial_pgd_8",
    "adversarial_confident_8",
    "adversarial_onmanifold_8",
    "other_scene",
    "fooling_cppn",
    "fooling_direct",
    "noise",
];

/// Renders a shapes10-style set with every free parameter random; writes it as a render folder and returns the
/// quantised rows and the labels.
fn render_labelled(
    scene: &Scene,
    n: usize,
    seed: u64,
    opts: &RenderOptions,
    dir: &Path,
) -> Result<(Array2<f32>, Vec<usize>)> {
    let vary: Vec<String> = scene.parameters().iter().filter(|p| p.can_vary()).map(|p| p.name.clone()).collect();
    let params = scene_render::sample_parameters(scene, &vary, n, Sampling::Random, seed)?;
    let labels: Vec<usize> = params.iter().map(|p| p.label.unwrap_or(0)).collect();
    scene_render::write_render_dir(
        dir,
        scene,
        &RenderSet { params, vary, sampling: Sampling::Random, seed },
        opts,
        &WriteOptions { npy: true, force: true, ..Default::default() },
    )?;
    let mut x = read_image_rows(&dir.join("images.npy"))?;
    pixels::quantize(x.iter_mut());
    Ok((x, labels))
}

fn rows_of(images: &[Array3<f32>], d: usize) -> Array2<f32> {
    let mut x = Array2::<f32>::zeros((images.len(), d));
    for (mut r, img) in x.rows_mut().into_iter().zip(images) {
        r.iter_mut().zip(img.iter()).for_each(|(a, b)| *a = *b);
    }
    x
}

/// The natural images: training renders (the classifier's training set and the scores' reference) and held-out
/// renders.
struct Naturals {
    reference: Dataset,
    y_train: Vec<usize>,
    x_held: Array2<f32>,
    y_held: Vec<usize>,
}

/// The trained classifier and its accuracies.
struct Trained {
    model: Classifier,
    report: classifier::TrainReport,
    held_accuracy: f64,
}

/// The query collection written to `queries/`, with its `group` manifest column.
struct Queries {
    data: Dataset,
    groups: Vec<String>,
    counts: Map<String, Value>,
}

/// Stage 3. `pb` advances per epoch, per fooling generation, and per remaining step.
pub fn run(cfg: &Config, dir: &Path, pb: &ProgressBar) -> Result<OffManifoldData> {
    pb.set_length(
        (cfg.epochs + cfg.direct_generations + cfg.cppn_generations + attacks::PGD_EPS.len() + 3 + 5 + 5) as u64,
    );
    let scene = Scene::builtin("shapes10")?;
    let side = cfg.cls_size;
    let ropts = RenderOptions { color: ColorMode::Rgb, ..RenderOptions::square(side) };
    let classes: Vec<String> = scene.classes().to_vec();

    pb.set_message("render");
    let naturals = render_naturals(&scene, cfg, &ropts, dir)?;
    pb.set_message("train");
    let trained = train_classifier(cfg, dir, pb, &naturals, &classes)?;
    let (fooling, fool_json) = attacks::fooling_images(cfg, dir, pb, &trained.model)?;
    let mut adv = Vec::new();
    for &eps in &attacks::PGD_EPS {
        pb.set_message(format!("pgd {eps}/255"));
        adv.push(attacks::adversarial(cfg, dir, &trained.model, &naturals, eps, attacks::Kind::Pgd)?);
        pb.inc(1);
    }
    pb.set_message("confident pgd");
    let eps = attacks::CONFIDENT_EPS;
    adv.push(attacks::adversarial(cfg, dir, &trained.model, &naturals, eps, attacks::Kind::Confident)?);
    pb.inc(1);
    pb.set_message("on-manifold");
    let eps = attacks::ON_MANIFOLD_EPS;
    adv.push(attacks::adversarial(cfg, dir, &trained.model, &naturals, eps, attacks::Kind::OnManifold)?);
    pb.inc(1);

    pb.set_message("queries");
    let (interpolation, queries) = scores::build_queries(&scene, cfg, &ropts, dir, &naturals, &adv, &fooling)?;
    pb.inc(1);

    // Off-manifold scores against the training renders, in pixel space and in the classifier's feature space.
    pb.set_message("score");
    let pixel = scores::score_queries(cfg, dir, &naturals.reference, &queries.data)?;
    pb.inc(5);
    pb.set_message("score --features");
    let features = scores::score_features(cfg, dir, &trained.model, &naturals.reference, &queries.data)?;
    pb.inc(5);

    let steps = scores::Steps { naturals: &naturals, trained: &trained, adv: &adv, pixel: &pixel, features: &features };
    Ok(scores::collect(cfg, &classes, &steps, fooling, fool_json, interpolation, queries))
}

/// Renders the training and held-out sets; the training renders become the scores' reference collection.
fn render_naturals(scene: &Scene, cfg: &Config, ropts: &RenderOptions, dir: &Path) -> Result<Naturals> {
    let side = cfg.cls_size;
    let (x_train, y_train) = render_labelled(scene, cfg.n_train, sub_seed(cfg.seed, 300), ropts, &dir.join("train"))?;
    let (x_held, y_held) = render_labelled(scene, cfg.n_heldout, sub_seed(cfg.seed, 301), ropts, &dir.join("heldout"))?;
    let reference = Dataset {
        ids: (0..x_train.nrows()).map(scene_render::image_file).collect(),
        data: x_train.into(),
        shape: Some(off_manifold::ImageShape { height: side, width: side, channels: 3 }),
        columns: Vec::new(),
        source: dir.join("train"),
    };
    Ok(Naturals { reference, y_train, x_held, y_held })
}

/// Trains the classifier on the training renders, evaluates it on the held-out renders and writes `model/`.
fn train_classifier(
    cfg: &Config,
    dir: &Path,
    pb: &ProgressBar,
    naturals: &Naturals,
    classes: &[String],
) -> Result<Trained> {
    let shape = ImageShape::new(cfg.cls_size, cfg.cls_size, 3);
    let mut architecture = Architecture::default();
    architecture.conv[0].stride = cfg.cls_first_stride;
    let defaults = TrainOptions::default();
    let topts = TrainOptions {
        epochs: cfg.epochs,
        seed: sub_seed(cfg.seed, 302),
        learning_rate: cfg.cls_learning_rate.unwrap_or(defaults.learning_rate),
        architecture,
        ..defaults
    };
    let x_train = naturals.reference.data.view();
    let (model, report) = classifier::train(x_train, shape, &naturals.y_train, classes, &topts, |_| pb.inc(1))
        .step(|| format!("training the classifier on {}", dir.join("train").display()))?;
    let held_accuracy = classifier::train::accuracy(&model, naturals.x_held.view(), &naturals.y_held)
        .step(|| "evaluating the classifier on the held-out renders".into())?;
    write_model(&dir.join("model"), &model, &report, cfg, held_accuracy)?;
    Ok(Trained { model, report, held_accuracy })
}

/// `model/`: the model files, training.csv and results.json of `classifier train`.
fn write_model(
    out: &Path,
    model: &Classifier,
    report: &classifier::TrainReport,
    cfg: &Config,
    heldout_accuracy: f64,
) -> Result<()> {
    model.save(out).step(|| format!("saving the model to {}", out.display()))?;
    classifier::train::write_training_csv(&out.join("training.csv"), report)
        .step(|| format!("writing {}", out.join("training.csv").display()))?;
    let mut results = output::Results::new("classifier-train");
    classifier::train::set_train_results(&mut results, model, report);
    results
        .seed(sub_seed(cfg.seed, 302))
        .set("data", "../train")
        .set("n_images", report.n_train + report.n_validation)
        .set("epochs", cfg.epochs)
        .set("heldout_accuracy", heldout_accuracy);
    results.write(out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_unique_and_natural_first() {
        assert_eq!(GROUPS[0], "natural");
        let mut g = GROUPS.to_vec();
        g.sort();
        g.dedup();
        assert_eq!(g.len(), GROUPS.len());
    }

    #[test]
    fn rows_of_flattens_images_row_major() {
        let a = Array3::from_shape_fn((2, 2, 3), |(y, x, c)| (y * 6 + x * 3 + c) as f32);
        let r = rows_of(&[a.clone(), a], 12);
        assert_eq!(r.dim(), (2, 12));
        assert_eq!(r.row(1).to_vec(), (0..12).map(|v| v as f32).collect::<Vec<_>>());
    }
}
