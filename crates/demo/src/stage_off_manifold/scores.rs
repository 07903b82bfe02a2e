//! The query collection of stage 3, its scores in pixel and in feature space, and the stage's summary.

use std::path::Path;

use classifier::Classifier;
use ndarray::{Array2, Array3, ArrayView1};
use off_manifold::features::{FeatureOptions, FeatureReport};
use off_manifold::{Column, Dataset, Method, QueryReport, ScoreOptions};
use optical_flow::{FlowEstimator, FlowParams, Morph, MorphParams};
use rand::Rng;
use rayon::prelude::*;
use scene_render::{Params, RenderOptions, Sampling, Scene};
use serde_json::{json, Map, Value};

use super::attacks::{adversarial_json, Adversarial};
use super::{rows_of, Naturals, Queries, Trained, GROUPS};
use crate::config::Config;
use crate::data::{Auroc, FlipRates, FoolingImage, OffManifoldData, ScoreColumn, SideBySide};
use crate::util::{item_rng, sub_seed, Result, Step};

/// The reports of every step, as [`collect`] reads them.
pub(super) struct Steps<'a> {
    pub naturals: &'a Naturals,
    pub trained: &'a Trained,
    pub adv: &'a [Adversarial],
    pub pixel: &'a QueryReport,
    pub features: &'a FeatureReport,
}

/// The query images of every group in group order, written to `queries/` as PNGs with a `file,group` manifest;
/// returns the interpolation summary and the queries.
pub(super) fn build_queries(
    scene: &Scene,
    cfg: &Config,
    ropts: &RenderOptions,
    dir: &Path,
    naturals: &Naturals,
    adv: &[Adversarial],
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
    // The attacks' 8-bit grid is computed their own way; snap to the grid the PNGs are read back on, so the scores
    // of these rows equal those of the written images bit for bit.
    let attacked: Vec<Array2<f32>> = adv
        .iter()
        .map(|a| {
            let mut x = a.flipped.perturbed.clone();
            pixels::quantize(x.iter_mut());
            x
        })
        .collect();
    let mut sets: Vec<(&str, &Array2<f32>)> =
        vec![("natural", &naturals.x_held), ("flow_morph", &morph), ("cross_fade", &fade)];
    sets.extend(adv.iter().zip(&attacked).map(|(a, x)| (a.group.as_str(), x)));
    sets.push(("other_scene", &other));
    for (group, x) in sets {
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
        data: query.into(),
        shape: Some(off_manifold::ImageShape { height: side, width: side, channels: 3 }),
        ids,
        columns: vec![("group".to_string(), Column::Text(groups.clone()))],
        source: qdir,
    };
    Ok((interpolation, Queries { data, groups, counts }))
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

/// Scores the queries against the training renders (`imanifold score --reference train --query queries --groups
/// group`) and writes `score/` with the same writer.
pub(super) fn score_queries(cfg: &Config, dir: &Path, reference: &Dataset, query: &Dataset) -> Result<QueryReport> {
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

/// Scores the queries in the classifier's feature space at every layer, logits included, as Ma et al. do
/// (`imanifold score --reference train --query queries --features model:conv1,conv2,conv3,hidden,logits --groups
/// group`: the Mahalanobis classes are the model's predictions on the training renders) and writes
/// `score_features/` with the same writer.
pub(super) fn score_features(
    cfg: &Config,
    dir: &Path,
    model: &Classifier,
    reference: &Dataset,
    query: &Dataset,
) -> Result<FeatureReport> {
    let layers = model.layers();
    let opts = FeatureOptions {
        k: cfg.score_k,
        calibration: cfg.score_calibration,
        seed: sub_seed(cfg.seed, 311),
        mahalanobis_noise: cfg.mahalanobis_noise,
        ..FeatureOptions::default()
    };
    let groups = off_manifold::group_labels(query, Some("group")).step(|| "the queries' group column".into())?;
    let report = classifier::score_in_features(
        model,
        &layers,
        reference.data.view(),
        query.data.view(),
        query.ids.clone(),
        groups,
        &opts,
        dataset::limits::available_memory(),
    )
    .step(|| format!("scoring {} in the classifier's feature space", query.source.display()))?;
    let out = dir.join("score_features");
    off_manifold::features::write_feature_dir(
        &out,
        &report,
        "../model",
        "../train",
        "../queries",
        output::Results::new("score"),
    )
    .step(|| format!("writing the feature-space scores to {}", out.display()))?;
    Ok(report)
}

/// Per group: the best pixel-space score, the best feature-space score (both by AUROC on all rows, so optimistic)
/// and the feature-space combination's AUROC on its held-out half.
fn side_by_side(pixel: &off_manifold::GroupReport, features: &FeatureReport) -> Vec<SideBySide> {
    let best = |aurocs: &std::collections::BTreeMap<String, Option<f64>>| {
        aurocs.iter().filter_map(|(k, v)| v.map(|a| (k.clone(), a))).max_by(|a, b| a.1.total_cmp(&b.1))
    };
    let fgroups = features.groups.as_ref().map(|g| &g.report);
    pixel
        .groups
        .iter()
        .filter(|g| g.name != pixel.reference_group)
        .map(|g| {
            let f = fgroups.and_then(|r| r.groups.iter().find(|x| x.name == g.name));
            let comb = features.combination.as_ref().and_then(|c| c.groups.iter().find(|x| x.group == g.name));
            SideBySide {
                group: g.name.clone(),
                pixel_best: best(&g.auroc),
                feature_best: f.and_then(|f| best(&f.auroc)),
                combined_test: comb.and_then(|c| c.auroc_test),
            }
        })
        .collect()
}

/// The `feature_scores` section of the stage's summary.
fn feature_json(features: &FeatureReport, sides: &[SideBySide]) -> Value {
    let greport = features.groups.as_ref().map(|g| &g.report);
    let auroc: Map<String, Value> = greport
        .map(|r| {
            r.groups
                .iter()
                .filter(|g| g.name != r.reference_group)
                .map(|g| {
                    let m: Map<String, Value> =
                        g.auroc.iter().map(|(k, v)| (k.clone(), crate::util::json_opt(*v))).collect();
                    (g.name.clone(), Value::Object(m))
                })
                .collect()
        })
        .unwrap_or_default();
    let pair = |p: &Option<(String, f64)>| p.as_ref().map(|(s, a)| json!({"score": s, "auroc": output::json_f64(*a)}));
    json!({
        "reference": "train renders",
        "model": "model/",
        "layers": features.layers,
        "methods": features.options.methods.iter().map(|m| m.name()).collect::<Vec<_>>(),
        "k": features.options.k,
        "labels": features.labels_source,
        "auroc": auroc,
        "combination": features.combination,
        "side_by_side": sides.iter().map(|s| (s.group.clone(), json!({
            "pixel_best": pair(&s.pixel_best),
            "feature_best": pair(&s.feature_best),
            "feature_combined_test_half": crate::util::json_opt(s.combined_test),
        }))).collect::<Map<String, Value>>(),
        "folder": "score_features/",
    })
}

fn flip_rates(a: &Adversarial) -> FlipRates {
    let r = &a.report;
    let tangent = a.tangent.as_ref().map(|t| &t.energy);
    FlipRates {
        attack: match a.opts.confidence {
            Some(c) => format!("{} to {c}", r.attack.name()),
            None => r.attack.name().into(),
        },
        norm: "linf".into(),
        eps: a.opts.eps as f64,
        n_attacked: r.n_attacked,
        n_flipped: r.n_flipped,
        flip_rate: r.flip_rate,
        random_flip_rate_l2: r.random_flip_rate_l2,
        random_flip_rate_linf: r.random_flip_rate_linf,
        median_l2: r.median_l2,
        median_linf: r.median_linf,
        tangent_fraction: tangent.map(|t| t.summary.tangent_fraction.median),
        random_tangent_fraction: tangent.map(|t| t.summary.random_tangent_fraction.median),
    }
}

fn auroc_rows(report: &off_manifold::GroupReport) -> Vec<Auroc> {
    let mut aurocs = Vec::new();
    for g in &report.groups {
        for (score, a) in &g.auroc {
            aurocs.push(Auroc { group: g.name.clone(), score: score.clone(), auroc: *a });
        }
    }
    aurocs
}

/// The stage's data for the page and its `results.json` section, from the reports of every step.
// Over 120 lines: the summary's JSON literal is spelled out in one place, field by field.
pub(super) fn collect(
    cfg: &Config,
    classes: &[String],
    steps: &Steps,
    fooling: Vec<FoolingImage>,
    fool_json: Map<String, Value>,
    interpolation: Value,
    queries: Queries,
) -> OffManifoldData {
    let (naturals, trained, scores) = (steps.naturals, steps.trained, steps.pixel);
    // The strongest PGD attack is the one the page shows and the summary's `adversarial` section describes.
    let adv = steps
        .adv
        .iter()
        .rev()
        .find(|a| a.opts.attack == classifier::adversarial::Attack::Pgd && a.opts.confidence.is_none())
        .expect("at least one PGD budget");
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
    let aurocs = auroc_rows(greport);
    let feature_aurocs = steps.features.groups.as_ref().map(|g| auroc_rows(&g.report)).unwrap_or_default();
    let sides = side_by_side(greport, steps.features);
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
    let summary = json!({
        "scene": "shapes10",
        "other_scene": "room",
        "image": {"width": side, "height": side, "channels": 3},
        "classes": classes,
        "classifier": accuracy,
        "fooling": fool_json,
        "adversarial": adversarial_json(cfg, adv),
        "adversarial_by_eps": steps.adv.iter().map(|a| (a.group.clone(), adversarial_json(cfg, a))).collect::<Map<String, Value>>(),
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
        "feature_scores": feature_json(steps.features, &sides),
        "folder": crate::config::Stage::OffManifold.folder(),
    });
    OffManifoldData {
        image_shape: (side, side, 3),
        query_ids: queries.data.ids,
        groups,
        group_order,
        columns,
        aurocs,
        feature_aurocs,
        side_by_side: sides,
        fooling,
        flip_rates: steps.adv.iter().map(flip_rates).collect(),
        adversarial_examples,
        accuracy,
        interpolation,
        summary,
    }
}
