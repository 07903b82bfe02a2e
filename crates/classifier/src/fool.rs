//! Fooling images (Nguyen, Yosinski & Clune 2015, "Deep neural networks are easily fooled"): images that the
//! network assigns to a class with high confidence although they look like nothing.
//!
//! * [`Method::EvolveDirect`]: MAP-Elites over raw pixels. The archive keeps, per class, the image with the highest
//!   probability of that class seen so far. The first generation is uniform noise; every later one mutates elites of
//!   the classes not yet at the target: each pixel mutates with a probability that starts at
//!   `mutation_rate` and halves every `mutation_half_life` generations (never below one pixel per image on average),
//!   by Deb's polynomial mutation with distribution index `polynomial_eta`.
//! * [`Method::EvolveCppn`]: the same MAP-Elites over [`Cppn`] genomes rendered at the model's input size.
//! * Both encodings mutate, per class, a lineage that starts at the class's elite; a lineage that has not improved
//!   for `restart_after` generations is restarted from random genomes (the archive keeps the best image ever seen),
//!   so one deceptive class does not hold a run at its budget.
//! * [`Method::GradientAscent`]: from uniform noise, normalised gradient steps on `log p(class | x)`, clipped to
//!   [0, 1].
//!
//! A class stops (its elite is final) once its confidence reaches `confidence`; the run stops when every requested
//! class has, or after `generations` generations (iterations for gradient ascent). Offspring `i` of generation `g`
//! draws from its own RNG seeded from `(seed, g, i)` and the archive is updated in offspring order, so results do
//! not depend on the thread count.
//!
//! With `quantize` (the default) every candidate is judged on the 8-bit grid (multiples of 1/255), so the reported
//! confidence is exactly the model's confidence for the image as written to PNG.

use rand::Rng;
use rayon::prelude::*;
use serde::Serialize;

use crate::cppn::{Cppn, CppnMutation};
use crate::error::{invalid, Result};
use crate::model::Classifier;
use crate::util::{item_rng, stream};

/// How fooling images are searched for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    EvolveDirect,
    EvolveCppn,
    GradientAscent,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::EvolveDirect => "evolve-direct",
            Method::EvolveCppn => "evolve-cppn",
            Method::GradientAscent => "gradient-ascent",
        }
    }
}

impl std::str::FromStr for Method {
    type Err = crate::ClassifierError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "evolve-direct" => Ok(Method::EvolveDirect),
            "evolve-cppn" => Ok(Method::EvolveCppn),
            "gradient-ascent" => Ok(Method::GradientAscent),
            other => {
                Err(invalid("fooling method", format!("{other:?} (use evolve-direct, evolve-cppn or gradient-ascent)")))
            }
        }
    }
}

/// Search settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FoolOptions {
    pub method: Method,
    /// Class indices to fool (empty: all classes).
    pub classes: Vec<usize>,
    /// Target probability of the class.
    pub confidence: f32,
    /// Budget: generations (EA) or gradient steps.
    pub generations: usize,
    /// Offspring per generation (EA only).
    pub population: usize,
    pub seed: u64,
    /// Direct encoding: initial per-pixel mutation probability.
    pub mutation_rate: f64,
    /// Direct encoding: generations after which the mutation probability halves.
    pub mutation_half_life: f64,
    /// Direct encoding: polynomial mutation distribution index (larger = smaller changes).
    pub polynomial_eta: f64,
    pub cppn: CppnMutation,
    /// Gradient ascent: root-mean-square pixel change per step.
    pub step_size: f32,
    /// Evolution: restart a class's lineage from random genomes after this many generations without improvement
    /// (0: never). The archive keeps the best image found.
    pub restart_after: usize,
    /// Judge (and return) images on the 8-bit grid, so that the confidence is exactly that of the image written
    /// as PNG. Gradient ascent keeps its iterate in floats and judges its quantised copy.
    pub quantize: bool,
}

impl Default for FoolOptions {
    fn default() -> Self {
        FoolOptions {
            method: Method::EvolveDirect,
            classes: Vec::new(),
            confidence: 0.99,
            generations: 500,
            population: 64,
            seed: 0,
            mutation_rate: 0.1,
            mutation_half_life: 100.0,
            polynomial_eta: 15.0,
            cppn: CppnMutation::default(),
            step_size: 0.02,
            restart_after: 100,
            quantize: true,
        }
    }
}

/// The best image found for one class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FoolingImage {
    pub class: usize,
    /// Pixel values in [0, 1], row-major (y, x, channel).
    pub image: Vec<f32>,
    /// Probability the model assigns to `class`.
    pub confidence: f32,
    /// Generation (or gradient step) at which this image was found.
    pub generation: usize,
    /// Whether `confidence` reached the target.
    pub reached: bool,
}

/// Outcome of a fooling run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FoolReport {
    pub method: Method,
    /// One entry per requested class, in the order requested.
    pub images: Vec<FoolingImage>,
    /// Generations (or gradient steps) actually run.
    pub generations: usize,
    /// Images evaluated by the model.
    pub evaluations: usize,
}

fn check(model: &Classifier, opts: &FoolOptions) -> Result<Vec<usize>> {
    if !(opts.confidence > 0.0 && opts.confidence <= 1.0) {
        return Err(invalid("confidence", format!("{} (need 0 < c ≤ 1)", opts.confidence)));
    }
    if opts.method != Method::GradientAscent && opts.population == 0 {
        return Err(invalid("population", "must be at least 1"));
    }
    // Written so that NaN fails every check.
    if !(opts.mutation_rate > 0.0 && opts.mutation_rate <= 1.0 && opts.mutation_half_life > 0.0) {
        return Err(invalid("mutation rate", "need 0 < rate ≤ 1 and half-life > 0"));
    }
    if !(opts.polynomial_eta >= 0.0 && opts.step_size > 0.0 && opts.step_size.is_finite()) {
        return Err(invalid("mutation strength", "need eta ≥ 0 and step size > 0"));
    }
    let classes: Vec<usize> =
        if opts.classes.is_empty() { (0..model.n_classes()).collect() } else { opts.classes.clone() };
    for &c in &classes {
        model.check_class(c)?;
    }
    let mut sorted = classes.clone();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != classes.len() {
        return Err(invalid("classes", "a class is listed twice"));
    }
    Ok(classes)
}

/// Runs the search. `on_generation(g, best)` is called after each generation with the current best confidence per
/// requested class (progress reporting).
pub fn fool(
    model: &Classifier,
    opts: &FoolOptions,
    mut on_generation: impl FnMut(usize, &[f32]),
) -> Result<FoolReport> {
    let classes = check(model, opts)?;
    match opts.method {
        Method::EvolveDirect => {
            let d = model.input_len();
            let eta = opts.polynomial_eta;
            map_elites(
                model,
                opts,
                &classes,
                |rng| (0..d).map(|_| rng.random::<f32>()).collect::<Vec<f32>>(),
                |parent, g, rng| {
                    let rate =
                        (opts.mutation_rate * 0.5f64.powf(g as f64 / opts.mutation_half_life)).max(1.0 / d as f64);
                    mutate_direct(parent, rate, eta, rng)
                },
                |g| g.clone(),
                &mut on_generation,
            )
        }
        Method::EvolveCppn => {
            let shape = model.input_shape();
            map_elites(
                model,
                opts,
                &classes,
                |rng| Cppn::random(shape.channels, rng),
                |parent, _, rng| parent.mutate(&opts.cppn, rng),
                |g| g.render(shape),
                &mut on_generation,
            )
        }
        Method::GradientAscent => gradient_ascent(model, opts, &classes, &mut on_generation),
    }
}

/// Deb & Agrawal's polynomial mutation of each pixel with probability `rate`, bounds [0, 1].
fn mutate_direct<R: Rng>(parent: &[f32], rate: f64, eta: f64, rng: &mut R) -> Vec<f32> {
    let mut child = parent.to_vec();
    let mut changed = false;
    for v in child.iter_mut() {
        if rng.random_bool(rate) {
            *v = polynomial(*v, eta, rng);
            changed = true;
        }
    }
    if !changed {
        let i = rng.random_range(0..child.len());
        child[i] = polynomial(child[i], eta, rng);
    }
    child
}

fn polynomial<R: Rng>(v: f32, eta: f64, rng: &mut R) -> f32 {
    let u: f64 = rng.random();
    let p = 1.0 / (eta + 1.0);
    let delta = if u < 0.5 { (2.0 * u).powf(p) - 1.0 } else { 1.0 - (2.0 * (1.0 - u)).powf(p) };
    (v as f64 + delta).clamp(0.0, 1.0) as f32
}

struct Elite {
    image: Vec<f32>,
    confidence: f32,
    generation: usize,
}

#[allow(clippy::too_many_arguments)]
fn map_elites<G, Init, Mutate, Render>(
    model: &Classifier,
    opts: &FoolOptions,
    classes: &[usize],
    init: Init,
    mutate: Mutate,
    render: Render,
    on_generation: &mut dyn FnMut(usize, &[f32]),
) -> Result<FoolReport>
where
    G: Clone + Send + Sync,
    Init: Fn(&mut rand_chacha::ChaCha8Rng) -> G + Sync,
    Mutate: Fn(&G, usize, &mut rand_chacha::ChaCha8Rng) -> G + Sync,
    Render: Fn(&G) -> Vec<f32> + Sync,
{
    let tag = if opts.method == Method::EvolveCppn { stream::CPPN } else { stream::DIRECT };
    let d = model.input_len();
    let mut archive: Vec<Option<Elite>> = (0..classes.len()).map(|_| None).collect();
    // Per class, the lineage being mutated: starts as the archive elite; after `restart_after` generations without
    // improvement it is dropped, the class's next offspring are fresh random genomes and the best of them starts
    // a new lineage (the archive keeps the best image ever seen).
    let mut lineage: Vec<Option<(G, f32)>> = (0..classes.len()).map(|_| None).collect();
    let mut last_improved = vec![0usize; classes.len()];
    let mut evaluations = 0;
    let mut generation = 0;
    loop {
        let open: Vec<usize> = (0..classes.len())
            .filter(|&c| archive[c].as_ref().map(|e| e.confidence < opts.confidence).unwrap_or(true))
            .collect();
        if open.is_empty() || generation > opts.generations {
            break;
        }
        if opts.restart_after > 0 {
            for &slot in &open {
                if generation - last_improved[slot] > opts.restart_after {
                    lineage[slot] = None;
                    last_improved[slot] = generation;
                }
            }
        }
        let offspring: Vec<(G, Vec<f32>)> = (0..opts.population)
            .into_par_iter()
            .map(|i| {
                let mut rng = item_rng(opts.seed, tag, generation as u64, i as u64);
                let parent =
                    if generation == 0 { None } else { lineage[open[rng.random_range(0..open.len())]].as_ref() };
                let genome = match parent {
                    Some((g, _)) => mutate(g, generation, &mut rng),
                    None => init(&mut rng),
                };
                let mut image = render(&genome);
                if opts.quantize {
                    crate::images::quantize_8bit(&mut image);
                }
                (genome, image)
            })
            .collect();
        let mut batch = ndarray::Array2::<f32>::zeros((offspring.len(), d));
        for (i, (_, img)) in offspring.iter().enumerate() {
            batch.row_mut(i).assign(&ndarray::ArrayView1::from(img));
        }
        let probs = model.predict_proba(batch.view())?;
        evaluations += offspring.len();
        for (i, (genome, image)) in offspring.iter().enumerate() {
            for (slot, &class) in classes.iter().enumerate() {
                let p = probs[[i, class]];
                let better = match &archive[slot] {
                    None => true,
                    Some(e) => e.confidence < opts.confidence && p > e.confidence,
                };
                if better {
                    archive[slot] = Some(Elite { image: image.clone(), confidence: p, generation });
                }
                if lineage[slot].as_ref().map(|(_, c)| p > *c).unwrap_or(true) {
                    lineage[slot] = Some((genome.clone(), p));
                    last_improved[slot] = generation;
                }
            }
        }
        let best: Vec<f32> = archive.iter().map(|e| e.as_ref().map(|e| e.confidence).unwrap_or(0.0)).collect();
        on_generation(generation, &best);
        generation += 1;
    }
    let images = classes
        .iter()
        .zip(archive)
        .map(|(&class, e)| {
            let e = e.expect("archive filled after generation 0");
            FoolingImage {
                class,
                reached: e.confidence >= opts.confidence,
                image: e.image,
                confidence: e.confidence,
                generation: e.generation,
            }
        })
        .collect();
    Ok(FoolReport { method: opts.method, images, generations: generation.saturating_sub(1), evaluations })
}

fn gradient_ascent(
    model: &Classifier,
    opts: &FoolOptions,
    classes: &[usize],
    on_generation: &mut dyn FnMut(usize, &[f32]),
) -> Result<FoolReport> {
    let d = model.input_len();
    let mut x = ndarray::Array2::<f32>::zeros((classes.len(), d));
    for (i, mut row) in x.rows_mut().into_iter().enumerate() {
        let mut rng = item_rng(opts.seed, stream::GRADIENT, classes[i] as u64, 0);
        row.iter_mut().for_each(|v| *v = rng.random());
    }
    let mut conf = vec![0f32; classes.len()];
    let mut found_at = vec![0usize; classes.len()];
    let mut done = vec![false; classes.len()];
    let mut evaluations = 0;
    let mut step = 0;
    loop {
        let active: Vec<usize> = (0..classes.len()).filter(|&i| !done[i]).collect();
        if active.is_empty() {
            break;
        }
        let xa = x.select(ndarray::Axis(0), &active);
        let ca: Vec<usize> = active.iter().map(|&i| classes[i]).collect();
        let (_, grad, probs) = model.log_prob_grad(xa.view(), &ca)?;
        let probs = if opts.quantize {
            let mut q = xa.clone();
            q.rows_mut()
                .into_iter()
                .for_each(|mut r| r.iter_mut().for_each(|v| *v = crate::images::to_u8(*v) as f32 / 255.0));
            model.predict_proba(q.view())?
        } else {
            probs
        };
        evaluations += active.len();
        for (k, &i) in active.iter().enumerate() {
            conf[i] = probs[[k, classes[i]]];
            found_at[i] = step;
            if conf[i] >= opts.confidence || step >= opts.generations {
                done[i] = true;
                continue;
            }
            let g = grad.row(k);
            let rms = (g.dot(&g) / d as f32).sqrt();
            if rms > 0.0 && rms.is_finite() {
                let scale = opts.step_size / rms;
                x.row_mut(i).zip_mut_with(&g, |v, &gv| *v = (*v + scale * gv).clamp(0.0, 1.0));
            }
        }
        on_generation(step, &conf);
        step += 1;
    }
    let images = (0..classes.len())
        .map(|i| FoolingImage {
            class: classes[i],
            image: {
                let mut img = x.row(i).to_vec();
                if opts.quantize {
                    crate::images::quantize_8bit(&mut img);
                }
                img
            },
            confidence: conf[i],
            generation: found_at[i],
            reached: conf[i] >= opts.confidence,
        })
        .collect();
    Ok(FoolReport { method: Method::GradientAscent, images, generations: step.saturating_sub(1), evaluations })
}

/// A file-name-safe version of a class name: ASCII letters, digits, `-` and `_` kept, anything else `_`; `class`
/// for an empty name.
pub fn slug(name: &str) -> String {
    let s: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    if s.is_empty() {
        "class".into()
    } else {
        s
    }
}

/// Writes the files of a fooling-image folder, the format `imanifold fool` and the demo share:
/// `images/NN_<class>.png` (8-bit, NN = class index with two digits, `<class>` = [`slug`] of its name),
/// `manifest.csv` (columns `file`, `class`, `confidence`, `method`, `generation`, `reached`: the loaders' manifest
/// format), `fooling.npy` (float32, one row per image, the exact values the confidences refer to) and `gallery.png`
/// (the images in report order, 10 per row). `results.json` is the caller's ([`set_fool_results`]).
///
/// Returns, per image of the report, the model's probability of its class for the 8-bit PNG as written (the
/// search may work in floats: see [`FoolOptions::quantize`]).
pub fn write_fool_files(out: &std::path::Path, model: &Classifier, report: &FoolReport) -> Result<Vec<f32>> {
    let shape = model.input_shape();
    let mut data = ndarray::Array2::<f32>::zeros((report.images.len(), model.input_len()));
    let mut rows = Vec::with_capacity(report.images.len());
    for (i, img) in report.images.iter().enumerate() {
        let name = &model.classes()[img.class];
        let file = format!("images/{:02}_{}.png", img.class, slug(name));
        crate::images::write_png(&out.join(&file), &img.image, shape)?;
        data.row_mut(i).assign(&ndarray::ArrayView1::from(&img.image));
        rows.push(vec![
            file,
            name.clone(),
            output::fmt_f64(img.confidence as f64),
            report.method.name().to_string(),
            img.generation.to_string(),
            img.reached.to_string(),
        ]);
    }
    output::write_npy(&out.join("fooling.npy"), &data)?;
    output::write_csv(
        &out.join("manifest.csv"),
        &["file", "class", "confidence", "method", "generation", "reached"],
        rows,
    )?;
    let images: Vec<Vec<f32>> = report.images.iter().map(|i| i.image.clone()).collect();
    crate::images::write_gallery(&out.join("gallery.png"), &images, shape, images.len().min(10))?;
    // Confidence of the 8-bit PNGs as written.
    data.rows_mut()
        .into_iter()
        .for_each(|mut r| r.iter_mut().for_each(|v| *v = crate::images::to_u8(*v) as f32 / 255.0));
    let probs = model.predict_proba(data.view())?;
    Ok(report.images.iter().enumerate().map(|(i, img)| probs[[i, img.class]]).collect())
}

/// Sets the summary fields of a fooling folder's `results.json` (`fool`) that the CLI and the demo share:
/// `method`, `target_confidence`, `budget_generations`, `population`, `generations_run`, `evaluations`,
/// `n_classes`, `n_reached`, `all_reached`, `min_confidence` and `per_class` (per image: `class` name,
/// `confidence`, `confidence_png`, `generation`, `reached`). `png_confidences` is what [`write_fool_files`]
/// returned. The caller adds `model` and the seed.
pub fn set_fool_results(
    results: &mut output::Results,
    model: &Classifier,
    report: &FoolReport,
    opts: &FoolOptions,
    png_confidences: &[f32],
) {
    let per_class: Vec<serde_json::Value> = report
        .images
        .iter()
        .zip(png_confidences)
        .map(|(img, png)| {
            serde_json::json!({
                "class": model.classes()[img.class],
                "confidence": img.confidence,
                "confidence_png": png,
                "generation": img.generation,
                "reached": img.reached,
            })
        })
        .collect();
    let n_reached = report.images.iter().filter(|i| i.reached).count();
    results
        .set("method", report.method.name())
        .set("target_confidence", opts.confidence)
        .set("budget_generations", opts.generations)
        .set("population", opts.population)
        .set("generations_run", report.generations)
        .set("evaluations", report.evaluations)
        .set("n_classes", report.images.len())
        .set("n_reached", n_reached)
        .set("all_reached", n_reached == report.images.len())
        .set("min_confidence", min_confidence(report))
        .set("per_class", per_class);
}

/// The lowest confidence over the report's images (infinity for none).
pub fn min_confidence(report: &FoolReport) -> f32 {
    report.images.iter().map(|i| i.confidence).fold(f32::INFINITY, f32::min)
}
