//! `imanifold fool --model MODEL --method evolve-direct|evolve-cppn|gradient-ascent --out DIR`: fooling images
//! (Nguyen et al. 2015). Writes `images/NN_<class>.png`, `manifest.csv` (file, class, confidence, method,
//! generation, reached; the loaders' format), `fooling.npy` (float32, one row per image, the exact values the
//! confidences refer to), `gallery.png` (one image per class, in class order) and `results.json`.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args as ClapArgs, ValueEnum};
use classifier::fool::{fool, FoolOptions, Method};
use classifier::Classifier;

use super::common::{prepare_out, print_json};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MethodArg {
    EvolveDirect,
    EvolveCppn,
    GradientAscent,
}

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Model folder written by `classifier train`.
    #[arg(long)]
    pub model: PathBuf,
    #[arg(long, value_enum)]
    pub method: MethodArg,
    /// `all`, or class names separated by commas.
    #[arg(long, default_value = "all")]
    pub classes: String,
    /// Target probability; a class stops once its best image reaches it.
    #[arg(long, default_value_t = 0.99)]
    pub confidence: f32,
    /// Budget: generations (evolution) or gradient steps.
    #[arg(long, default_value_t = 1000)]
    pub generations: usize,
    /// Offspring per generation (evolution).
    #[arg(long, default_value_t = 64)]
    pub population: usize,
    /// Direct encoding: initial per-pixel mutation probability (halves every --mutation-half-life generations).
    #[arg(long, default_value_t = 0.1)]
    pub mutation_rate: f64,
    #[arg(long, default_value_t = 100.0)]
    pub mutation_half_life: f64,
    /// Gradient ascent: root-mean-square pixel change per step.
    #[arg(long, default_value_t = 0.02)]
    pub step_size: f32,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Also print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    classifier::single_threaded_elementwise();
    let model = Classifier::load(&a.model)?;
    let classes: Vec<usize> = if a.classes.trim() == "all" {
        Vec::new()
    } else {
        a.classes.split(',').map(|c| model.class_index(c.trim())).collect::<Result<_, _>>().context("--classes")?
    };
    if a.generations == 0 && !matches!(a.method, MethodArg::GradientAscent) && a.population == 0 {
        bail!("--population must be at least 1");
    }
    let method = match a.method {
        MethodArg::EvolveDirect => Method::EvolveDirect,
        MethodArg::EvolveCppn => Method::EvolveCppn,
        MethodArg::GradientAscent => Method::GradientAscent,
    };
    let opts = FoolOptions {
        method,
        classes,
        confidence: a.confidence,
        generations: a.generations,
        population: a.population,
        seed: a.seed,
        mutation_rate: a.mutation_rate,
        mutation_half_life: a.mutation_half_life,
        step_size: a.step_size,
        ..FoolOptions::default()
    };
    if a.out.exists() && !a.out.is_dir() {
        bail!("--out {} exists and is not a folder", a.out.display());
    }
    let mut results = output::Results::new("fool");
    results.seed(a.seed);
    let pb = output::progress(a.generations as u64 + 1, method.name());
    let report = results
        .timed("search", || {
            fool(&model, &opts, |_, best| {
                let reached = best.iter().filter(|&&c| c >= a.confidence).count();
                pb.set_message(format!("{reached}/{} done", best.len()));
                pb.inc(1);
            })
        })
        .context("searching for fooling images")?;
    pb.finish_and_clear();
    // Created only now, so that bad input leaves nothing behind.
    let out = prepare_out(&a.out)?;
    let png_confidences = classifier::fool::write_fool_files(&out, &model, &report)?;
    classifier::fool::set_fool_results(&mut results, &model, &report, &opts, &png_confidences);
    results.set("model", a.model.display().to_string());
    let v = results.write(&out)?;
    print_json(a.json, &v)?;
    if !a.json {
        let n_reached = report.images.iter().filter(|i| i.reached).count();
        let min_conf = classifier::fool::min_confidence(&report);
        eprintln!(
            "{}: {n_reached}/{} classes reached {} (lowest {min_conf:.4}) after {} generations, {} evaluations; {}",
            method.name(),
            report.images.len(),
            a.confidence,
            report.generations,
            report.evaluations,
            out.display()
        );
    }
    Ok(())
}
