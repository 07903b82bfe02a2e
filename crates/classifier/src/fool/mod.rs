//! Fooling images (Nguyen, Yosinski & Clune 2015, "Deep neural networks are easily fooled"): images that the
//! network assigns to a class with high confidence although they look like nothing.
//!
//! * [`Method::EvolveDirect`]: MAP-Elites over raw pixels. The archive keeps, per class, the image with the highest
//!   probability of that class seen so far. The first generation is uniform noise; every later one mutates elites of
//!   the classes not yet at the target: each pixel mutates with a probability that starts at
//!   `mutation_rate` and halves every `mutation_half_life` generations (never below one pixel per image on average),
//!   by Deb's polynomial mutation with distribution index `polynomial_eta`.
//! * [`Method::EvolveCppn`]: the same MAP-Elites over [`Cppn`] genomes rendered at the model's input size.
//! * Both encodings mutate, per class, a lineage ranked by the log-probability of the class, with a mutation
//!   strength adapted per lineage by the 1/5th success rule (CPPN: the weight perturbation's standard deviation;
//!   direct: the size of the polynomial step). A lineage that does not progress fast enough (checked every
//!   `restart_after` generations, in log-odds) restarts from random genomes, larger CPPNs at every restart (the
//!   archive keeps the best image ever seen), so one deceptive class does not hold a run at its budget.
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

mod evolve;
mod gradient;
mod scorer;
mod write;

pub use write::{min_confidence, png_confidences, set_fool_results, slug, write_fool_dir, write_fool_files};

use rand::Rng;
use serde::Serialize;

use crate::cppn::{Cppn, CppnMutation};
use crate::error::{invalid, Result};
use crate::model::Classifier;
use evolve::{map_elites, mutate_direct};
use gradient::gradient_ascent;

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

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
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
    /// Evolution: generations between two progress checks of a class's lineage; a stalled lineage restarts from
    /// random genomes (0: never). The archive keeps the best image found.
    pub restart_after: usize,
    /// Judge (and return) images on the 8-bit grid, so that the confidence is exactly that of the image written
    /// as PNG. Gradient ascent keeps its iterate in floats and judges its quantised copy.
    pub quantize: bool,
}

/// Defaults of [`FoolOptions`] (and of `imanifold fool`, whose budget default is [`DEFAULT_CLI_GENERATIONS`]).
pub const DEFAULT_CONFIDENCE: f32 = 0.99;
pub const DEFAULT_GENERATIONS: usize = 500;
pub const DEFAULT_POPULATION: usize = 64;
/// Largest `population` accepted (evolution); the images of one generation must also fit in memory.
pub const MAX_POPULATION: usize = 100_000;
pub const DEFAULT_MUTATION_RATE: f64 = 0.1;
pub const DEFAULT_MUTATION_HALF_LIFE: f64 = 100.0;
pub const DEFAULT_STEP_SIZE: f32 = 0.02;
/// Generations between two progress checks of a lineage (see [`FoolOptions::restart_after`]).
pub const DEFAULT_RESTART_AFTER: usize = 50;
/// The generation budget of `imanifold fool` (larger than the library's, for a command run on its own).
pub const DEFAULT_CLI_GENERATIONS: usize = 1000;
/// Hidden nodes added to the random CPPNs of a class's lineage at each of its restarts.
pub const CPPN_GROWTH: usize = 2;
/// `classes` text meaning every class of the model (see [`parse_classes`]).
pub const ALL_CLASSES: &str = "all";

impl Default for FoolOptions {
    fn default() -> Self {
        FoolOptions {
            method: Method::EvolveDirect,
            classes: Vec::new(),
            confidence: DEFAULT_CONFIDENCE,
            generations: DEFAULT_GENERATIONS,
            population: DEFAULT_POPULATION,
            seed: 0,
            mutation_rate: DEFAULT_MUTATION_RATE,
            mutation_half_life: DEFAULT_MUTATION_HALF_LIFE,
            polynomial_eta: 15.0,
            cppn: CppnMutation::default(),
            step_size: DEFAULT_STEP_SIZE,
            restart_after: DEFAULT_RESTART_AFTER,
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

impl FoolOptions {
    /// Checks the settings against the model (cheap; [`fool`] checks them too).
    pub fn validate(&self, model: &Classifier) -> Result<()> {
        check(model, self).map(|_| ())
    }
}

/// Class indices named by `spec`: [`ALL_CLASSES`] (an empty list: every class) or class names of the model separated
/// by commas.
pub fn parse_classes(model: &Classifier, spec: &str) -> Result<Vec<usize>> {
    if spec.trim() == ALL_CLASSES {
        return Ok(Vec::new());
    }
    spec.split(',').map(|c| model.class_index(c.trim())).collect()
}

/// A fooling run: the search's report, the options it ran with, and per image the model's confidence for the
/// 8-bit PNG as written ([`png_confidences`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fooling {
    pub report: FoolReport,
    pub options: FoolOptions,
    pub png_confidences: Vec<f32>,
}

/// [`fool`], then the confidences of the images as 8-bit PNGs: what `imanifold fool` reports and
/// [`write_fool_dir`] writes.
pub fn fool_run(model: &Classifier, opts: &FoolOptions, on_generation: impl FnMut(usize, &[f32])) -> Result<Fooling> {
    let report = fool(model, opts, on_generation)?;
    let png_confidences = png_confidences(model, &report)?;
    Ok(Fooling { report, options: opts.clone(), png_confidences })
}

fn check(model: &Classifier, opts: &FoolOptions) -> Result<Vec<usize>> {
    if !(opts.confidence > 0.0 && opts.confidence <= 1.0) {
        return Err(invalid("confidence", format!("{} (need 0 < c ≤ 1)", opts.confidence)));
    }
    if opts.method != Method::GradientAscent && !(1..=MAX_POPULATION).contains(&opts.population) {
        return Err(invalid("population", format!("{} (need 1 to {MAX_POPULATION})", opts.population)));
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
    // One generation: `population` offspring per class, each image held as float32 (twice: genome and pixels).
    let s = model.input_shape();
    let needed = 8 * (opts.population as u128 + 1) * classes.len() as u128 * (s.height * s.width * s.channels) as u128;
    let available = dataset::limits::available_memory();
    if needed > available as u128 {
        let (needed, available) = (dataset::limits::Bytes(needed), dataset::limits::Bytes(available as u128));
        return Err(invalid("population", format!("{} needs {needed}, {available} available", opts.population)));
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
                |_, rng| (0..d).map(|_| rng.random::<f32>()).collect::<Vec<f32>>(),
                |parent, g, strength, rng| {
                    let rate =
                        (opts.mutation_rate * 0.5f64.powf(g as f64 / opts.mutation_half_life)).max(1.0 / d as f64);
                    mutate_direct(parent, rate, eta, strength, rng)
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
                |restarts, rng| Cppn::random_grown(shape.channels, restarts * CPPN_GROWTH, rng),
                |parent, _, strength, rng| parent.mutate(&opts.cppn.scaled(strength), rng),
                |g| g.render(shape),
                &mut on_generation,
            )
        }
        Method::GradientAscent => gradient_ascent(model, opts, &classes, &mut on_generation),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_round_trip() {
        for m in [Method::EvolveDirect, Method::EvolveCppn, Method::GradientAscent] {
            assert_eq!(m.to_string().parse::<Method>().unwrap(), m);
        }
        assert!("evolve".parse::<Method>().is_err());
    }
}
