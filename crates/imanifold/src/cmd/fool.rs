//! `imanifold fool --model MODEL --method evolve-direct|evolve-cppn|gradient-ascent --out DIR`: fooling images
//! (Nguyen et al. 2015). Writes `images/NN_<class>.png`, `manifest.csv` (file, class, confidence, method,
//! generation, reached; the loaders' format), `fooling.npy` (float32, one row per image, the exact values the
//! confidences refer to), `gallery.png` (one image per class, in class order) and `results.json`.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args as ClapArgs, ValueEnum};
use classifier::fool::{fool, FoolOptions, Method};
use classifier::Classifier;
use serde_json::json;

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

/// A file-name-safe version of a class name.
pub fn slug(name: &str) -> String {
    let s: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    if s.is_empty() {
        "class".into()
    } else {
        s
    }
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
    let shape = model.input_shape();
    let mut rows = Vec::new();
    let mut data = ndarray::Array2::<f32>::zeros((report.images.len(), model.input_len()));
    for (i, img) in report.images.iter().enumerate() {
        let name = &model.classes()[img.class];
        let file = format!("images/{:02}_{}.png", img.class, slug(name));
        classifier::images::write_png(&out.join(&file), &img.image, shape)?;
        data.row_mut(i).assign(&ndarray::ArrayView1::from(&img.image));
        rows.push(vec![
            file,
            name.clone(),
            output::fmt_f64(img.confidence as f64),
            method.name().to_string(),
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
    classifier::images::write_gallery(&out.join("gallery.png"), &images, shape, images.len().min(10))?;
    // Confidence of the 8-bit PNGs as written (the search works in floats).
    let mut png = data.clone();
    png.rows_mut()
        .into_iter()
        .for_each(|mut r| r.iter_mut().for_each(|v| *v = classifier::images::to_u8(*v) as f32 / 255.0));
    let png_probs = model.predict_proba(png.view())?;
    let per_class: Vec<serde_json::Value> = report
        .images
        .iter()
        .enumerate()
        .map(|(i, img)| {
            json!({
                "class": model.classes()[img.class],
                "confidence": img.confidence,
                "confidence_png": png_probs[[i, img.class]],
                "generation": img.generation,
                "reached": img.reached,
            })
        })
        .collect();
    let n_reached = report.images.iter().filter(|i| i.reached).count();
    let min_conf = report.images.iter().map(|i| i.confidence).fold(f32::INFINITY, f32::min);
    results
        .set("model", a.model.display().to_string())
        .set("method", method.name())
        .set("target_confidence", a.confidence)
        .set("budget_generations", a.generations)
        .set("population", a.population)
        .set("generations_run", report.generations)
        .set("evaluations", report.evaluations)
        .set("n_classes", report.images.len())
        .set("n_reached", n_reached)
        .set("all_reached", n_reached == report.images.len())
        .set("min_confidence", min_conf)
        .set("per_class", per_class);
    let v = results.write(&out)?;
    print_json(a.json, &v)?;
    if !a.json {
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
