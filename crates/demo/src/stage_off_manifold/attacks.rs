//! Fooling images and PGD attacks of stage 3, each written as the folder its command writes.

use std::path::Path;

use classifier::adversarial::{
    attack, attack_on_manifold, tangent_spaces, Attack, AttackOptions, Norm, TangentOptions,
};
use classifier::fool::{fool, FoolOptions, Method as FoolMethod};
use classifier::Classifier;
use indicatif::ProgressBar;
use ndarray::{Array2, ArrayView1};
use off_manifold::{Pairs, PairsOptions};
use serde_json::{json, Map, Value};

use super::Naturals;
use crate::config::Config;
use crate::data::FoolingImage;
use crate::util::{sub_seed, Result, Step};

/// L∞ budgets of the PGD attacks, in 8-bit steps (ε = value / 255); each gives the group `adversarial_pgd_<value>`.
pub const PGD_EPS: [u32; 3] = [2, 4, 8];
/// L∞ budget of the on-manifold attack (PGD in the training renders' local tangent spaces), in 8-bit steps; group
/// `adversarial_onmanifold_<value>`.
pub const ON_MANIFOLD_EPS: u32 = 8;
/// L∞ budget (8-bit steps) and target confidence of the high-confidence PGD attack (it keeps going after the label
/// changes until the wrong class is this sure); group `adversarial_confident_<value>`.
pub const CONFIDENT_EPS: u32 = 8;
pub const CONFIDENT_TARGET: f32 = 0.99;

/// The attacks of the stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// PGD that stops at the first label change.
    Pgd,
    /// PGD to [`CONFIDENT_TARGET`].
    Confident,
    /// PGD in the training renders' local tangent spaces.
    OnManifold,
}

/// The PGD attack on held-out renders: the attacked rows, the report, the flipped pairs and their tangent energy.
pub(super) struct Adversarial {
    /// The query group of the flipped images.
    pub(super) group: String,
    pub(super) x_att: Array2<f32>,
    pub(super) report: classifier::adversarial::AttackReport,
    pub(super) opts: AttackOptions,
    /// (clean, perturbed) rows of the attacks that flipped the label, in attack order.
    pub(super) flipped: Pairs,
    /// Indices into `report.results` of the flipped attacks.
    pub(super) flipped_results: Vec<usize>,
    pub(super) tangent: Option<off_manifold::PairsRun>,
}

/// Fooling images by MAP-Elites over pixels and over CPPNs, each written as `fool_<method>/`; returns the images
/// and the `fooling` section of the summary.
pub(super) fn fooling_images(
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

/// PGD (L∞, ε = `eps_255`/255) perturbations of held-out renders with the random flip rate, written as
/// `adversarial_pgd_<eps_255>/` — or, by `kind`, PGD to a target confidence (`adversarial_confident_<eps_255>/`) or
/// PGD restricted to the local tangent spaces of the training renders (`adversarial_onmanifold_<eps_255>/`, with
/// plain PGD's flip rate on the same images beside it) — and where the flipping perturbations point: the fraction of
/// their energy in the local tangent space of the reference.
pub(super) fn adversarial(
    cfg: &Config,
    dir: &Path,
    model: &Classifier,
    naturals: &Naturals,
    eps_255: u32,
    kind: Kind,
) -> Result<Adversarial> {
    let on_manifold = kind == Kind::OnManifold;
    let name = match kind {
        Kind::Pgd => "pgd",
        Kind::Confident => "confident",
        Kind::OnManifold => "onmanifold",
    };
    let group = format!("adversarial_{name}_{eps_255}");
    let n_attack = cfg.n_attack.min(naturals.x_held.nrows());
    let x_att = naturals.x_held.slice(ndarray::s![..n_attack, ..]).to_owned();
    let opts = AttackOptions {
        attack: if on_manifold { Attack::OnManifold } else { Attack::Pgd },
        norm: Norm::Linf,
        eps: eps_255 as f32 / 255.0,
        steps: cfg.pgd_steps,
        quantize: true,
        random_trials: cfg.random_trials,
        seed: sub_seed(cfg.seed, 305),
        confidence: (kind == Kind::Confident).then_some(CONFIDENT_TARGET),
        ..AttackOptions::default()
    };
    let y = &naturals.y_held[..n_attack];
    let report = if on_manifold {
        let t = TangentOptions { k: cfg.score_k, dim: None };
        tangent_spaces(naturals.reference.data.view(), x_att.view(), &t, sub_seed(cfg.seed, 309))
            .and_then(|tangents| attack_on_manifold(model, x_att.view(), y, &opts, &tangents))
            .step(|| format!("on-manifold attack (ε = {eps_255}/255) on the held-out renders"))?
    } else {
        attack(model, x_att.view(), y, &opts)
            .step(|| format!("PGD attack (ε = {eps_255}/255) on the held-out renders"))?
    };
    write_adversarial(&dir.join(&group), model, &x_att, &report, &opts)?;
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
        flipped.perturbed_ids.push(format!("{group} row {}", r.row));
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
    Ok(Adversarial { group, x_att, report, opts, flipped, flipped_results, tangent })
}

/// The `adversarial` section of the stage's summary.
pub(super) fn adversarial_json(cfg: &Config, adv: &Adversarial) -> Value {
    let areport = &adv.report;
    let tangent = adv.tangent.as_ref().map(|t| &t.energy);
    json!({
        "attack": adv.opts.attack.name(), "norm": "linf", "eps": adv.opts.eps, "steps": cfg.pgd_steps,
        "target_confidence": adv.opts.confidence,
        "random_trials": cfg.random_trials,
        "pgd_flip_rate_same_images": crate::util::json_opt(areport.pgd_flip_rate),
        "mean_off_tangent_fraction": crate::util::json_opt(areport.mean_off_tangent_fraction),
        "tangent_space": areport.tangent.clone(),
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

/// `adversarial_pgd_<eps>/` as `imanifold adversarial` writes it.
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
