//! `imanifold fool --model MODEL --method evolve-direct|evolve-cppn|gradient-ascent --out DIR`: fooling images
//! (Nguyen et al. 2015). Writes `images/NN_<class>.png`, `manifest.csv` (file, class, confidence, method,
//! generation, reached; the loaders' format), `fooling.npy` (float32, one row per image, the exact values the
//! confidences refer to), `gallery.png` (one image per class, in class order) and `results.json`.

use anyhow::Context;
use clap::Args as ClapArgs;
use classifier::fool::{self, FoolOptions, Method};

use super::classifier::ModelArgs;
use super::common::OutArgs;

#[derive(Debug, ClapArgs)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
    /// evolve-direct, evolve-cppn or gradient-ascent.
    #[arg(long)]
    pub method: Method,
    /// `all`, or class names separated by commas.
    #[arg(long, default_value = fool::ALL_CLASSES)]
    pub classes: String,
    /// Target probability; a class stops once its best image reaches it.
    #[arg(long, default_value_t = fool::DEFAULT_CONFIDENCE)]
    pub confidence: f32,
    /// Budget: generations (evolution) or gradient steps.
    #[arg(long, default_value_t = fool::DEFAULT_CLI_GENERATIONS)]
    pub generations: usize,
    /// Offspring per generation (evolution).
    #[arg(long, default_value_t = fool::DEFAULT_POPULATION)]
    pub population: usize,
    /// Direct encoding: initial per-pixel mutation probability (halves every --mutation-half-life generations).
    #[arg(long, default_value_t = fool::DEFAULT_MUTATION_RATE)]
    pub mutation_rate: f64,
    #[arg(long, default_value_t = fool::DEFAULT_MUTATION_HALF_LIFE)]
    pub mutation_half_life: f64,
    /// Gradient ascent: root-mean-square pixel change per step.
    #[arg(long, default_value_t = fool::DEFAULT_STEP_SIZE)]
    pub step_size: f32,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub out: OutArgs,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    classifier::single_threaded_elementwise();
    a.out.check_inputs(&[&a.model.model])?;
    let model = a.model.load()?;
    let opts = FoolOptions {
        method: a.method,
        classes: fool::parse_classes(&model, &a.classes).context("--classes")?,
        confidence: a.confidence,
        generations: a.generations,
        population: a.population,
        seed: a.seed,
        mutation_rate: a.mutation_rate,
        mutation_half_life: a.mutation_half_life,
        step_size: a.step_size,
        ..FoolOptions::default()
    };
    opts.validate(&model)?;
    let mut results = output::Results::new("fool");
    results.seed(a.seed);
    let pb = output::progress(a.generations as u64 + 1, a.method.name());
    let fooling = results
        .timed("search", || {
            fool::fool_run(&model, &opts, |_, best| {
                let reached = best.iter().filter(|&&c| c >= a.confidence).count();
                pb.set_message(format!("{reached}/{} done", best.len()));
                pb.inc(1);
            })
        })
        .context("searching for fooling images")?;
    pb.finish_and_clear();
    results.set("model", a.model.model.display().to_string());
    let v = a.out.write(|dir| Ok(fool::write_fool_dir(dir, &model, &fooling, results)?))?;
    a.out.print(&v)?;
    if !a.out.json {
        let report = &fooling.report;
        let n_reached = report.images.iter().filter(|i| i.reached).count();
        eprintln!(
            "{}: {n_reached}/{} classes reached {} (lowest {:.4}) after {} generations, {} evaluations; {}",
            a.method,
            report.images.len(),
            a.confidence,
            fool::min_confidence(report),
            report.generations,
            report.evaluations,
            a.out.out.display()
        );
    }
    Ok(())
}
