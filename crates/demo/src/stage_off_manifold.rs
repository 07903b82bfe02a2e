//! Stage 3: a classifier trained on `shapes10` renders; fooling images (MAP-Elites over pixels and over CPPNs) and
//! PGD adversarial perturbations of held-out renders with the random-perturbation flip rate; off-manifold scores of
//! every kind of image against a reference of natural renders (the training renders), with AUROCs per group.
//!
//! Query groups, all at the classifier's input size (RGB): `natural` (held-out renders, the reference group of the
//! AUROCs), `noise` (uniform pixels), `other_scene` (the `room` scene), `fooling_direct`, `fooling_cppn`,
//! `adversarial_pgd` (perturbed held-out renders whose label flipped), `flow_morph` and `cross_fade` (the midpoint,
//! t = ½, between two renders of one object whose camera yaw differs by `pair_yaw_step`: along the estimated optical
//! flow, or a plain pixel blend). Every image is on the 8-bit grid, as it would be read from a PNG.
//!
//! Folders (formats of the individual commands): `train/` and `heldout/` (renders), `model/` (`classifier
//! train`), `fool_evolve-direct/`, `fool_evolve-cppn/` (`fool`), `adversarial_pgd/` (`adversarial`),
//! `queries/` (every query image as PNG with manifest.csv columns file, group: the input of `imanifold score
//! --reference train --query queries --groups group`) and `score/` (`score`).

use std::path::Path;

use classifier::adversarial::{attack, Attack, AttackOptions, Norm};
use classifier::fool::{fool, FoolOptions, Method as FoolMethod};
use classifier::{Architecture, Classifier, ImageShape, TrainOptions};
use indicatif::ProgressBar;
use ndarray::{Array2, Array3, ArrayView1};
use off_manifold::{Column, Dataset, Method, Pairs, PairsOptions, QueryReport, ScoreOptions};
use optical_flow::{FlowEstimator, FlowParams, Morph, MorphParams};
use rand::Rng;
use rayon::prelude::*;
use scene_render::{ColorMode, Params, RenderOptions, RenderSet, Sampling, Scene, WriteOptions};
use serde_json::{json, Map, Value};

use crate::config::Config;
use crate::data::{Auroc, FlipRates, FoolingImage, OffManifoldData, ScoreColumn};
use crate::util::{item_rng, read_image_rows, sub_seed, Result, Step};

/// Query groups in display order (`natural` is the reference group of the AUROCs).
pub const GROUPS: [&str; 8] = [
    "natural",
    "flow_morph",
    "cross_fade",
    "adversarial_pgd",
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

/// The PGD attack on held-out renders: the attacked rows, the report, the flipped pairs and their tangent energy.
struct Adversarial {
    x_att: Array2<f32>,
    report: classifier::adversarial::AttackReport,
    opts: AttackOptions,
    /// (clean, perturbed) rows of the attacks that flipped the label, in attack order.
    flipped: Pairs,
    /// Indices into `report.results` of the flipped attacks.
    flipped_results: Vec<usize>,
    tangent: Option<off_manifold::PairsRun>,
}

/// The query collection written to `queries/`, with its `group` manifest column.
struct Queries {
    data: Dataset,
    groups: Vec<String>,
    counts: Map<String, Value>,
}

/// Stage 3. `pb` advances per epoch, per fooling generation, and per remaining step.
pub fn run(cfg: &Config, dir: &Path, pb: &ProgressBar) -> Result<OffManifoldData> {
    pb.set_length((cfg.epochs + cfg.direct_generations + cfg.cppn_generations + 2 + 5) as u64);
    let scene = Scene::builtin("shapes10")?;
    let side = cfg.cls_size;
    let ropts = RenderOptions { color: ColorMode::Rgb, ..RenderOptions::square(side) };
    let classes: Vec<String> = scene.classes().to_vec();

    pb.set_message("render");
    let naturals = render_naturals(&scene, cfg, &ropts, dir)?;
    pb.set_message("train");
    let trained = train_classifier(cfg, dir, pb, &naturals, &classes)?;
    let (fooling, fool_json) = fooling_images(cfg, dir, pb, &trained.model)?;
    pb.set_message("pgd");
    let adv = adversarial(cfg, dir, &trained.model, &naturals)?;
    pb.inc(1);

    pb.set_message("queries");
    let (interpolation, queries) = build_queries(&scene, cfg, &ropts, dir, &naturals, &adv, &fooling)?;
    pb.inc(1);

    // Off-manifold scores against the training renders.
    pb.set_message("score");
    let scores = score_queries(cfg, dir, &naturals.reference, &queries.data)?;
    pb.inc(5);

    Ok(collect(cfg, &classes, &naturals, &trained, fooling, fool_json, &adv, interpolation, queries, &scores))
}

/// Renders the training and held-out sets; the training renders become the scores' reference collection.
fn render_naturals(scene: &Scene, cfg: &Config, ropts: &RenderOptions, dir: &Path) -> Result<Naturals> {
    let side = cfg.cls_size;
    let (x_train, y_train) = render_labelled(scene, cfg.n_train, sub_seed(cfg.seed, 300), ropts, &dir.join("train"))?;
    let (x_held, y_held) = render_labelled(scene, cfg.n_heldout, sub_seed(cfg.seed, 301), ropts, &dir.join("heldout"))?;
    let reference = Dataset {
        ids: (0..x_train.nrows()).map(scene_render::image_file).collect(),
        data: x_train,
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

/// Fooling images by MAP-Elites over pixels and over CPPNs, each written as `fool_<method>/`; returns the images
/// and the `fooling` section of the summary.
fn fooling_images(
    cfg: &Config,
    dir: &Path,
    pb: &ProgressBar,
    model: &Classifier,
) -> Result<(Vec<FoolingImage>, Map<String, Value>)> {
    let mut fooling = Vec::new();
    let mut fool_json = Map::new();
    for (method, generations, tag) in [
        (FoolMethod::EvolveDirect, cfg.direct_generations, 303u64),
        (FoolMethod::EvolveCppn, cfg.cppn_generations, 304),
    ] {
        pb.set_message(method.name());
        let fopts = FoolOptions {
            method,
            generations,
            population: cfg.population,
            seed: sub_seed(cfg.seed, tag),
            ..FoolOptions::default()
        };
        let mut last = 0usize;
        let report = fool(model, &fopts, |g, _| {
            if g > last && g <= generations {
                pb.inc((g - last) as u64);
                last = g;
            }
        })
        .step(|| format!("searching for fooling images ({})", method.name()))?;
        pb.inc(generations.saturating_sub(last) as u64);
        let imgs = write_fooling(&dir.join(format!("fool_{}", method.name())), model, &report, &fopts)?;
        let reached = imgs.iter().filter(|i| i.reached).count();
        fool_json.insert(
            method.name().to_string(),
            json!({
                "generations_budget": generations,
                "generations_run": report.generations,
                "population": cfg.population,
                "evaluations": report.evaluations,
                "target_confidence": fopts.confidence,
                "n_reached": reached,
                "n_classes": imgs.len(),
                "min_confidence": output::json_f64(imgs.iter().map(|i| i.confidence).fold(f64::INFINITY, f64::min)),
                "mean_confidence": output::json_f64(imgs.iter().map(|i| i.confidence).sum::<f64>() / imgs.len().max(1) as f64),
                "per_class": imgs.iter().map(|i| json!({
                    "class": i.class, "confidence": output::json_f64(i.confidence),
                    "confidence_png": output::json_f64(i.confidence_png), "reached": i.reached, "generation": i.generation,
                })).collect::<Vec<_>>(),
            }),
        );
        fooling.extend(imgs);
    }
    Ok((fooling, fool_json))
}

/// PGD (L∞) perturbations of held-out renders with the random flip rate, written as `adversarial_pgd/`, and where
/// the flipping perturbations point: the fraction of their energy in the local tangent space of the reference.
fn adversarial(cfg: &Config, dir: &Path, model: &Classifier, naturals: &Naturals) -> Result<Adversarial> {
    let n_attack = cfg.n_attack.min(naturals.x_held.nrows());
    let x_att = naturals.x_held.slice(ndarray::s![..n_attack, ..]).to_owned();
    let opts = AttackOptions {
        attack: Attack::Pgd,
        norm: Norm::Linf,
        eps: 8.0 / 255.0,
        steps: cfg.pgd_steps,
        quantize: true,
        random_trials: cfg.random_trials,
        seed: sub_seed(cfg.seed, 305),
        ..AttackOptions::default()
    };
    let report = attack(model, x_att.view(), &naturals.y_held[..n_attack], &opts)
        .step(|| "PGD attack on the held-out renders".into())?;
    write_adversarial(&dir.join("adversarial_pgd"), model, &x_att, &report, &opts)?;
    let flipped_results: Vec<usize> = (0..report.results.len()).filter(|&i| report.results[i].flipped).collect();
    let d = x_att.ncols();
    let mut flipped = Pairs {
        clean_ids: Vec::new(),
        perturbed_ids: Vec::new(),
        clean: Array2::zeros((flipped_results.len(), d)),
        perturbed: Array2::zeros((flipped_results.len(), d)),
    };
    for (k, &i) in flipped_results.iter().enumerate() {
        let r = &report.results[i];
        flipped.clean.row_mut(k).assign(&x_att.row(r.row));
        flipped.perturbed.row_mut(k).assign(&ArrayView1::from(&r.perturbed));
        flipped.clean_ids.push(format!("heldout row {}", r.row));
        flipped.perturbed_ids.push(format!("adversarial_pgd row {}", r.row));
    }
    let tangent = if flipped_results.is_empty() {
        None
    } else {
        let popts = PairsOptions {
            k: cfg.score_k,
            calibration: cfg.score_calibration,
            seed: sub_seed(cfg.seed, 306),
            ..Default::default()
        };
        Some(
            off_manifold::score_pairs(&naturals.reference, &flipped, &popts)
                .step(|| "tangent-space energy of the adversarial perturbations".into())?,
        )
    };
    Ok(Adversarial { x_att, report, opts, flipped, flipped_results, tangent })
}

/// The query images of every group in group order, written to `queries/` as PNGs with a `file,group` manifest;
/// returns the interpolation summary and the queries.
fn build_queries(
    scene: &Scene,
    cfg: &Config,
    ropts: &RenderOptions,
    dir: &Path,
    naturals: &Naturals,
    adv: &Adversarial,
    fooling: &[FoolingImage],
) -> Result<(Value, Queries)> {
    let side = cfg.cls_size;
    let d = side * side * 3;
    let noise: Vec<Vec<f32>> = (0..cfg.n_noise)
        .map(|i| {
            let mut rng = item_rng(sub_seed(cfg.seed, 307), i as u64);
            (0..d).map(|_| pixels::on_8bit_grid(rng.random::<f32>())).collect()
        })
        .collect();
    let room = Scene::builtin("room")?;
    let room_vary: Vec<String> = room.parameters().iter().filter(|p| p.can_vary()).map(|p| p.name.clone()).collect();
    let room_params = scene_render::sample_parameters(
        &room,
        &room_vary,
        cfg.n_other_scene,
        Sampling::Random,
        sub_seed(cfg.seed, 308),
    )?;
    let mut other = rows_of(
        &scene_render::render_set(&room, &room_params, ropts)?.into_iter().map(|r| r.image).collect::<Vec<_>>(),
        d,
    );
    pixels::quantize(other.iter_mut());
    let (mut morph, mut fade, interpolation) = interpolation_pairs(scene, cfg, ropts, d)?;
    pixels::quantize(morph.iter_mut());
    pixels::quantize(fade.iter_mut());

    // Assemble the queries in group order and write them as an image folder with a manifest.
    let mut rows: Vec<(String, Vec<f32>)> = Vec::new();
    for (group, x) in [
        ("natural", &naturals.x_held),
        ("flow_morph", &morph),
        ("cross_fade", &fade),
        ("adversarial_pgd", &adv.flipped.perturbed),
        ("other_scene", &other),
    ] {
        rows.extend(x.rows().into_iter().map(|r| (group.to_string(), r.to_vec())));
    }
    for (name, method) in [("fooling_cppn", "evolve-cppn"), ("fooling_direct", "evolve-direct")] {
        for f in fooling.iter().filter(|f| f.method == method) {
            let mut img = f.image.clone();
            pixels::quantize(img.iter_mut());
            rows.push((name.into(), img));
        }
    }
    rows.extend(noise.into_iter().map(|r| ("noise".to_string(), r)));
    let mut query = Array2::<f32>::zeros((rows.len(), d));
    let mut ids = Vec::with_capacity(rows.len());
    let mut groups = Vec::with_capacity(rows.len());
    let mut counts: Map<String, Value> = Map::new();
    let qdir = dir.join("queries");
    for (i, (g, r)) in rows.iter().enumerate() {
        let k = counts.get(g).and_then(Value::as_u64).unwrap_or(0);
        counts.insert(g.clone(), json!(k + 1));
        let id = format!("{g}/{k:04}.png");
        pixels::write_png(&qdir.join(&id), r, pixels::ImageShape::new(side, side, 3))?;
        query.row_mut(i).assign(&ArrayView1::from(r));
        ids.push(id);
        groups.push(g.clone());
    }
    output::write_csv(
        &qdir.join("manifest.csv"),
        &["file", "group"],
        ids.iter().zip(&groups).map(|(f, g)| vec![f.clone(), g.clone()]),
    )?;
    let data = Dataset {
        data: query,
        shape: Some(off_manifold::ImageShape { height: side, width: side, channels: 3 }),
        ids,
        columns: vec![("group".to_string(), Column::Text(groups.clone()))],
        source: qdir,
    };
    Ok((interpolation, Queries { data, groups, counts }))
}

/// Scores the queries against the training renders (`imanifold score --reference train --query queries --groups
/// group`) and writes `score/` with the same writer.
fn score_queries(cfg: &Config, dir: &Path, reference: &Dataset, query: &Dataset) -> Result<QueryReport> {
    let opts = ScoreOptions {
        methods: Method::ALL.to_vec(),
        k: cfg.score_k,
        calibration: cfg.score_calibration,
        flow_calibration: cfg.flow_calibration,
        seed: sub_seed(cfg.seed, 309),
        ..ScoreOptions::default()
    };
    let report = off_manifold::score_query(reference, query, Some("group"), &opts)
        .step(|| format!("scoring {} against {}", query.source.display(), reference.source.display()))?;
    let out = dir.join("score");
    off_manifold::write_score_dir(&out, &report, "../train", "../queries", output::Results::new("score"))
        .step(|| format!("writing the scores to {}", out.display()))?;
    Ok(report)
}

/// The `adversarial` section of the stage's summary.
fn adversarial_json(cfg: &Config, adv: &Adversarial) -> Value {
    let areport = &adv.report;
    let tangent = adv.tangent.as_ref().map(|t| &t.energy);
    json!({
        "attack": "pgd", "norm": "linf", "eps": adv.opts.eps, "steps": cfg.pgd_steps, "random_trials": cfg.random_trials,
        "n_images": areport.n_images, "n_attacked": areport.n_attacked, "n_flipped": areport.n_flipped,
        "flip_rate": areport.flip_rate,
        "random_flip_rate_l2": crate::util::json_opt(areport.random_flip_rate_l2),
        "random_flip_rate_linf": crate::util::json_opt(areport.random_flip_rate_linf),
        "median_l2": crate::util::json_opt(areport.median_l2), "median_linf": crate::util::json_opt(areport.median_linf),
        "tangent_energy": tangent.map(|t| json!({
            "k": t.k, "tangent_dimension": t.dim_global, "n_pairs": t.summary.n_pairs,
            "median_tangent_fraction": output::json_f64(t.summary.tangent_fraction.median),
            "median_random_tangent_fraction": output::json_f64(t.summary.random_tangent_fraction.median),
            "expected_random_fraction": output::json_f64(t.summary.expected_random_fraction),
            "median_ratio_to_random": output::json_f64(t.summary.median_ratio_to_random),
        })),
    })
}

/// The stage's data for the page and its `results.json` section, from the reports of every step.
// Over 120 lines: the summary's JSON literal is spelled out in one place, field by field.
#[allow(clippy::too_many_arguments)]
fn collect(
    cfg: &Config,
    classes: &[String],
    naturals: &Naturals,
    trained: &Trained,
    fooling: Vec<FoolingImage>,
    fool_json: Map<String, Value>,
    adv: &Adversarial,
    interpolation: Value,
    queries: Queries,
    scores: &QueryReport,
) -> OffManifoldData {
    let side = cfg.cls_size;
    let sreport = &scores.scores;
    let greport = &scores.groups.as_ref().expect("the demo scores with groups").report;
    let groups = queries.groups;
    let group_order: Vec<String> =
        GROUPS.iter().filter(|g| groups.iter().any(|x| x == *g)).map(|g| g.to_string()).collect();
    let columns: Vec<ScoreColumn> = sreport
        .columns
        .iter()
        .map(|c| ScoreColumn { name: c.name.to_string(), values: c.values.clone(), percentiles: c.percentiles.clone() })
        .collect();
    let mut aurocs = Vec::new();
    for g in &greport.groups {
        for (score, a) in &g.auroc {
            aurocs.push(Auroc { group: g.name.clone(), score: score.clone(), auroc: *a });
        }
    }
    let adversarial_examples = adv
        .flipped_results
        .iter()
        .take(10)
        .map(|&i| {
            let r = &adv.report.results[i];
            (
                adv.x_att.row(r.row).to_vec(),
                r.perturbed.clone(),
                classes[r.original].clone(),
                classes[r.adversarial].clone(),
            )
        })
        .collect();
    let treport = &trained.report;
    let accuracy = json!({
        "train": treport.train_accuracy,
        "validation": treport.validation_accuracy,
        "heldout": trained.held_accuracy,
        "n_train": treport.n_train,
        "n_validation": treport.n_validation,
        "n_heldout": naturals.x_held.nrows(),
        "epochs": cfg.epochs,
        "train_seconds": treport.seconds,
        "per_epoch": treport.epochs,
    });
    let auroc_json: Map<String, Value> = greport
        .groups
        .iter()
        .filter(|g| g.name != greport.reference_group)
        .map(|g| {
            (
                g.name.clone(),
                json!(g
                    .auroc
                    .iter()
                    .map(|(k, v)| (k.clone(), crate::util::json_opt(*v)))
                    .collect::<Map<String, Value>>()),
            )
        })
        .collect();
    let tangent = adv.tangent.as_ref().map(|t| &t.energy);
    let areport = &adv.report;
    let summary = json!({
        "scene": "shapes10",
        "other_scene": "room",
        "image": {"width": side, "height": side, "channels": 3},
        "classes": classes,
        "classifier": accuracy,
        "fooling": fool_json,
        "adversarial": adversarial_json(cfg, adv),
        "interpolation": interpolation,
        "scores": {
            "reference": "train renders",
            "n_reference": sreport.n_reference,
            "k": sreport.k,
            "methods": scores.options.methods.iter().map(|m| m.name()).collect::<Vec<_>>(),
            "tangent_dimension": sreport.dim_global,
            "reference_dimension_mle": output::json_f64(sreport.reference_dimension),
            "group_counts": queries.counts,
            "reference_group": greport.reference_group,
            "auroc": auroc_json,
            "groups": greport,
        },
        "folder": crate::config::Stage::OffManifold.folder(),
    });
    let flip = FlipRates {
        attack: "pgd".into(),
        norm: "linf".into(),
        eps: adv.opts.eps as f64,
        n_attacked: areport.n_attacked,
        n_flipped: areport.n_flipped,
        flip_rate: areport.flip_rate,
        random_flip_rate_l2: areport.random_flip_rate_l2,
        random_flip_rate_linf: areport.random_flip_rate_linf,
        median_l2: areport.median_l2,
        median_linf: areport.median_linf,
        tangent_fraction: tangent.map(|t| t.summary.tangent_fraction.median),
        random_tangent_fraction: tangent.map(|t| t.summary.random_tangent_fraction.median),
    };
    OffManifoldData {
        image_shape: (side, side, 3),
        query_ids: queries.data.ids,
        groups,
        group_order,
        columns,
        aurocs,
        fooling,
        flip_rates: vec![flip],
        adversarial_examples,
        accuracy,
        interpolation,
        summary,
    }
}

/// Renders `n_pairs` pairs (A, B = A turned by `pair_yaw_step` degrees of yaw, same object and light) and their true
/// midpoint; returns the flow morphs and the cross-fades at t = ½ and how far each is from the true midpoint.
fn interpolation_pairs(
    scene: &Scene,
    cfg: &Config,
    ropts: &RenderOptions,
    d: usize,
) -> Result<(Array2<f32>, Array2<f32>, Value)> {
    let vary: Vec<String> = scene.parameters().iter().filter(|p| p.can_vary()).map(|p| p.name.clone()).collect();
    let a = scene_render::sample_parameters(scene, &vary, cfg.n_pairs, Sampling::Random, sub_seed(cfg.seed, 310))?;
    let yaw = scene.param_index("yaw")?;
    let spec = scene.parameters()[yaw].clone();
    let turned = |p: &Params, by: f64| {
        let mut q = p.clone();
        let span = spec.max - spec.min;
        let mut v = q.values[yaw] + by;
        if v > spec.max {
            v -= span;
        }
        q.values[yaw] = v;
        q
    };
    let b: Vec<Params> = a.iter().map(|p| turned(p, cfg.pair_yaw_step)).collect();
    let mid: Vec<Params> = a.iter().map(|p| turned(p, 0.5 * cfg.pair_yaw_step)).collect();
    let ia = scene_render::render_set(scene, &a, ropts)?;
    let ib = scene_render::render_set(scene, &b, ropts)?;
    let im = scene_render::render_set(scene, &mid, ropts)?;
    let est = FlowEstimator::new(FlowParams::default()).step(|| "flow estimator".into())?;
    let frames: Vec<(Array3<f32>, Array3<f32>)> = ia
        .par_iter()
        .zip(ib.par_iter())
        .enumerate()
        .map(|(i, (x, y))| {
            let m = Morph::new(x.image.view(), y.image.view(), &est, MorphParams::default())
                .and_then(|m| m.frame(0.5))
                .step(|| format!("flow morph of pair {i}"))?;
            let f = optical_flow::cross_fade(x.image.view(), y.image.view(), 0.5)
                .step(|| format!("cross-fade of pair {i}"))?;
            Ok((m, f))
        })
        .collect::<Result<_>>()?;
    let morph = rows_of(&frames.iter().map(|f| f.0.clone()).collect::<Vec<_>>(), d);
    let fade = rows_of(&frames.iter().map(|f| f.1.clone()).collect::<Vec<_>>(), d);
    let truth = rows_of(&im.into_iter().map(|r| r.image).collect::<Vec<_>>(), d);
    let rmse = |x: &Array2<f32>| -> Vec<f64> {
        x.rows()
            .into_iter()
            .zip(truth.rows())
            .map(|(r, t)| (r.iter().zip(t).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>() / d as f64).sqrt())
            .collect()
    };
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            f64::NAN
        } else if v.len() % 2 == 1 {
            v[v.len() / 2]
        } else {
            0.5 * (v[v.len() / 2 - 1] + v[v.len() / 2])
        }
    };
    let (rm, rf) = (rmse(&morph), rmse(&fade));
    let morph_better = rm.iter().zip(&rf).filter(|(m, f)| m < f).count();
    let summary = json!({
        "n_pairs": cfg.n_pairs,
        "yaw_step_degrees": cfg.pair_yaw_step,
        "t": 0.5,
        "flow_method": est.params().method.name(),
        "median_rmse_to_true_midpoint": {"flow_morph": output::json_f64(median(rm)), "cross_fade": output::json_f64(median(rf))},
        "pairs_where_morph_is_closer": morph_better,
    });
    Ok((morph, fade, summary))
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

/// `fool_<method>/` as `imanifold fool` writes it; returns the images with their 8-bit confidences.
fn write_fooling(
    out: &Path,
    model: &Classifier,
    report: &classifier::fool::FoolReport,
    opts: &FoolOptions,
) -> Result<Vec<FoolingImage>> {
    let png_confidences = classifier::fool::write_fool_files(out, model, report)
        .step(|| format!("writing the fooling images to {}", out.display()))?;
    let mut results = output::Results::new("fool");
    classifier::fool::set_fool_results(&mut results, model, report, opts, &png_confidences);
    results.seed(opts.seed).set("model", "../model");
    results.write(out)?;
    Ok(report
        .images
        .iter()
        .zip(&png_confidences)
        .map(|(img, &png)| FoolingImage {
            method: report.method.name().to_string(),
            class: model.classes()[img.class].clone(),
            confidence: img.confidence as f64,
            confidence_png: png as f64,
            reached: img.reached,
            generation: img.generation,
            image: img.image.clone(),
        })
        .collect())
}

/// `adversarial_pgd/` as `imanifold adversarial` writes it.
fn write_adversarial(
    out: &Path,
    model: &Classifier,
    x: &Array2<f32>,
    report: &classifier::adversarial::AttackReport,
    opts: &AttackOptions,
) -> Result<()> {
    classifier::adversarial::write_attack_files(
        out,
        x.view(),
        report,
        model.classes(),
        model.input_shape(),
        &scene_render::image_file,
        &|| {},
    )
    .step(|| format!("writing {}", out.display()))?;
    let mut results = output::Results::new("adversarial");
    classifier::adversarial::set_attack_results(&mut results, report, opts);
    results.seed(opts.seed).set("model", "../model").set("data", "../heldout");
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
