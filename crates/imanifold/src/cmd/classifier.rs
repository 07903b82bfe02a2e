//! `imanifold classifier train|eval`: the small convnet that fooling images and adversarial perturbations attack.
//!
//! A model is a folder: `model.safetensors` (f32 weights), `config.json` (input shape, class names, normalisation,
//! architecture, training settings and accuracy), `results.json` and `training.csv` (per-epoch loss/accuracy).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args as ClapArgs, Subcommand};
use classifier::{Architecture, Classifier, ConvSpec, ImageShape, TrainOptions};
use dataset::{Column, Dataset};
use serde_json::json;

use super::common::{prepare_out, print_json, InputArgs};

#[derive(Debug, ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, Subcommand)]
pub enum Action {
    /// Train a classifier on labelled images (manifest column --label-column).
    Train(TrainArgs),
    /// Accuracy (overall, per class, confusion matrix) of a model on labelled images.
    Eval(EvalArgs),
}

#[derive(Debug, ClapArgs)]
pub struct TrainArgs {
    /// Labelled images: a folder with manifest.csv (e.g. `imanifold render` output) or anything the loaders read.
    #[arg(long)]
    pub data: PathBuf,
    /// Manifest column holding the class of each image.
    #[arg(long, default_value = "label")]
    pub label_column: String,
    /// Model folder to write (model.safetensors, config.json, results.json, training.csv).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 15)]
    pub epochs: usize,
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Peak AdamW learning rate (cosine decay to 0).
    #[arg(long, default_value_t = 2e-3)]
    pub learning_rate: f64,
    #[arg(long, default_value_t = 1e-4)]
    pub weight_decay: f64,
    /// Fraction of the images held out for the validation accuracy.
    #[arg(long, default_value_t = 0.2)]
    pub validation: f64,
    /// Convolution channels; the first layer has stride 1, the others stride 2 (3×3 kernels).
    #[arg(long, value_delimiter = ',', default_value = "16,32,32")]
    pub channels: Vec<usize>,
    /// Width of the hidden fully connected layer.
    #[arg(long, default_value_t = 64)]
    pub hidden: usize,
    #[command(flatten)]
    pub input_args: InputArgs,
    /// Also print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, ClapArgs)]
pub struct EvalArgs {
    /// Model folder written by `classifier train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Labelled images (same kind of input as for training).
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long, default_value = "label")]
    pub label_column: String,
    /// Optional output folder: results.json, confusion.csv, predictions.csv.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub input_args: InputArgs,
    /// Print the summary (with `accuracy`) as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    classifier::single_threaded_elementwise();
    match a.action {
        Action::Train(t) => train(t),
        Action::Eval(e) => eval(e),
    }
}

/// The image shape of a loaded collection, or an error when its rows are not images.
pub fn image_shape(ds: &Dataset) -> anyhow::Result<ImageShape> {
    match ds.shape {
        Some(s) => Ok(ImageShape::new(s.height, s.width, s.channels)),
        None => bail!("{} holds vectors, not images: the classifier needs images", ds.source.display()),
    }
}

/// Checks that the data fit the model, with a hint on how to make them fit.
pub fn check_fits(model: &Classifier, ds: &Dataset, data_path: &Path) -> anyhow::Result<()> {
    let shape = image_shape(ds)?;
    let m = model.input_shape();
    model.check_shape(shape).with_context(|| {
        format!(
            "{} does not fit the model; load it with --resize {}x{} {}",
            data_path.display(),
            m.width,
            m.height,
            if m.channels == 1 { "--gray" } else { "--rgb" }
        )
    })?;
    Ok(())
}

/// The label column as text, one entry per row. For a render folder (`render.json` with `scene.classes`) the
/// numeric `label` column holds indices into that list; they are turned into the class names (`cube`, …), so models
/// trained on renders carry readable class names. A label outside the list is an error.
pub fn label_strings(ds: &Dataset, column: &str) -> anyhow::Result<Vec<String>> {
    let col = ds.column(column).with_context(|| {
        let names: Vec<&str> = ds.columns.iter().map(|(n, _)| n.as_str()).collect();
        format!(
            "{} has no label column {column:?} (columns: {})",
            ds.source.display(),
            if names.is_empty() { "none: is there a manifest.csv?".to_string() } else { names.join(", ") }
        )
    })?;
    if let (Some(names), Column::Numeric(v)) = (render_class_names(ds, column), col) {
        return v
            .iter()
            .enumerate()
            .map(|(i, &l)| {
                let k = l as usize;
                if l.fract() != 0.0 || l < 0.0 || k >= names.len() {
                    bail!(
                        "{}: row {i} ({}) has {column} {l}, but render.json lists {} classes (0..{})",
                        ds.source.display(),
                        ds.ids.get(i).map(String::as_str).unwrap_or("?"),
                        names.len(),
                        names.len() - 1
                    );
                }
                Ok(names[k].clone())
            })
            .collect();
    }
    Ok((0..col.len())
        .map(|i| match col {
            // Integral numbers as "3", not "3.0".
            Column::Numeric(v) if v[i].fract() == 0.0 && v[i].abs() < 1e15 => format!("{}", v[i] as i64),
            _ => col.text(i),
        })
        .collect())
}

/// Class names listed by the `render.json` of a render folder, when `column` is the render's `label` column.
fn render_class_names(ds: &Dataset, column: &str) -> Option<Vec<String>> {
    if column != "label" {
        return None;
    }
    let text = std::fs::read_to_string(ds.source.join("render.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let names: Vec<String> =
        v["scene"]["classes"].as_array()?.iter().map(|c| c.as_str().map(str::to_string)).collect::<Option<_>>()?;
    (!names.is_empty()).then_some(names)
}

/// Class indices of the labels under the model's class names (unknown names are an error).
pub fn label_indices(model: &Classifier, labels: &[String], data_path: &Path) -> anyhow::Result<Vec<usize>> {
    labels
        .iter()
        .map(|l| model.class_index(l))
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("labels of {}", data_path.display()))
}

/// Sorted distinct class names (numerically when all labels are numbers).
fn class_names(labels: &[String]) -> Vec<String> {
    let mut names: Vec<String> = labels.to_vec();
    names.sort();
    names.dedup();
    if names.iter().all(|n| n.parse::<f64>().is_ok()) {
        names.sort_by(|a, b| a.parse::<f64>().unwrap_or(0.0).total_cmp(&b.parse::<f64>().unwrap_or(0.0)));
    }
    names
}

fn train(a: TrainArgs) -> anyhow::Result<()> {
    if a.channels.is_empty() || a.channels.contains(&0) {
        bail!("--channels needs positive numbers, e.g. 16,32,32");
    }
    if a.out.exists() && !a.out.is_dir() {
        bail!("--out {} exists and is not a folder", a.out.display());
    }
    let mut results = output::Results::new("classifier-train");
    results.seed(a.input_args.seed);
    let ds = results.timed("load", || a.input_args.load(&a.data))?;
    let shape = image_shape(&ds)?;
    let labels = label_strings(&ds, &a.label_column)?;
    // Render folders: the scene's class order (those present); otherwise sorted names.
    let classes = match render_class_names(&ds, &a.label_column) {
        Some(order) => order.into_iter().filter(|c| labels.contains(c)).collect(),
        None => class_names(&labels),
    };
    if classes.len() < 2 {
        bail!(
            "{} has {} distinct label(s) in {:?}; a classifier needs at least 2",
            a.data.display(),
            classes.len(),
            a.label_column
        );
    }
    let y: Vec<usize> = labels.iter().map(|l| classes.iter().position(|c| c == l).unwrap_or(0)).collect();
    let conv = a
        .channels
        .iter()
        .enumerate()
        .map(|(i, &c)| ConvSpec { channels: c, kernel: 3, stride: if i == 0 { 1 } else { 2 } })
        .collect();
    let opts = TrainOptions {
        epochs: a.epochs,
        batch_size: a.batch_size,
        learning_rate: a.learning_rate,
        weight_decay: a.weight_decay,
        seed: a.input_args.seed,
        validation_fraction: a.validation,
        architecture: Architecture { conv, hidden: a.hidden },
    };
    let pb = output::progress(a.epochs as u64, "training");
    let (model, report) = results
        .timed("train", || {
            classifier::train(ds.data.view(), shape, &y, &classes, &opts, |s| {
                pb.set_message(format!("val {:.3}", s.validation_accuracy.unwrap_or(f64::NAN)));
                pb.inc(1);
            })
        })
        .with_context(|| format!("training on {}", a.data.display()))?;
    pb.finish_and_clear();
    // Created only now, so that bad input leaves nothing behind.
    let out = prepare_out(&a.out)?;
    model.save(&out)?;
    classifier::train::write_training_csv(&out.join("training.csv"), &report)?;
    let counts: Vec<serde_json::Value> = classes
        .iter()
        .enumerate()
        .map(|(k, c)| json!({"class": c, "n": y.iter().filter(|&&v| v == k).count()}))
        .collect();
    classifier::train::set_train_results(&mut results, &model, &report);
    results
        .set("data", a.data.display().to_string())
        .set("n_images", ds.n())
        .set("class_counts", counts)
        .set("epochs", a.epochs)
        .set("threads", rayon::current_num_threads());
    let v = results.write(&out)?;
    print_json(a.json, &v)?;
    if !a.json {
        eprintln!(
            "trained on {} images ({} classes) in {:.1}s: train accuracy {:.4}, validation accuracy {}; model in {}",
            report.n_train,
            classes.len(),
            report.seconds,
            report.train_accuracy,
            report.validation_accuracy.map(|v| format!("{v:.4}")).unwrap_or_else(|| "n/a".into()),
            out.display()
        );
    }
    Ok(())
}

fn eval(a: EvalArgs) -> anyhow::Result<()> {
    let model = Classifier::load(&a.model)?;
    let mut results = output::Results::new("classifier-eval");
    results.seed(a.input_args.seed);
    let ds = results.timed("load", || a.input_args.load(&a.data))?;
    check_fits(&model, &ds, &a.data)?;
    let labels = label_strings(&ds, &a.label_column)?;
    let y = label_indices(&model, &labels, &a.data)?;
    let pred = results.timed("predict", || model.predict(ds.data.view()))?;
    let k = model.n_classes();
    let mut confusion = vec![vec![0usize; k]; k];
    for (&t, &(p, _)) in y.iter().zip(&pred) {
        confusion[t][p] += 1;
    }
    let correct: usize = (0..k).map(|c| confusion[c][c]).sum();
    if y.is_empty() {
        bail!("{} holds no images", a.data.display());
    }
    let accuracy = correct as f64 / y.len() as f64;
    let per_class: Vec<serde_json::Value> = model
        .classes()
        .iter()
        .enumerate()
        .map(|(c, name)| {
            let n: usize = confusion[c].iter().sum();
            json!({"class": name, "n": n, "accuracy": if n > 0 { output::json_f64(confusion[c][c] as f64 / n as f64) } else { serde_json::Value::Null }})
        })
        .collect();
    results
        .set("model", a.model.display().to_string())
        .set("data", a.data.display().to_string())
        .set("n_images", y.len())
        .set("accuracy", accuracy)
        .set("per_class", per_class);
    let v = results.to_value();
    if let Some(out) = &a.out {
        let out = prepare_out(out)?;
        let mut header = vec!["true".to_string()];
        header.extend(model.classes().iter().map(|c| format!("pred_{c}")));
        let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
        let rows = (0..k).map(|t| {
            let mut r = vec![model.classes()[t].clone()];
            r.extend(confusion[t].iter().map(|n| n.to_string()));
            r
        });
        output::write_csv(&out.join("confusion.csv"), &header_refs, rows)?;
        let rows = (0..y.len()).map(|i| {
            vec![
                ds.ids[i].clone(),
                model.classes()[y[i]].clone(),
                model.classes()[pred[i].0].clone(),
                output::fmt_f64(pred[i].1 as f64),
            ]
        });
        output::write_csv(&out.join("predictions.csv"), &["file", "label", "predicted", "confidence"], rows)?;
        results.write(&out)?;
    }
    print_json(a.json, &v)?;
    if !a.json {
        eprintln!("accuracy {accuracy:.4} ({correct}/{} images of {})", y.len(), a.data.display());
    }
    Ok(())
}
