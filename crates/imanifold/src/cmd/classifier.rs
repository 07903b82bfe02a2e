//! `imanifold classifier train|eval`: the small convnet that fooling images and adversarial perturbations attack.
//!
//! A model is a folder: `model.safetensors` (f32 weights), `config.json` (input shape, class names, normalisation,
//! architecture, training settings and accuracy), `results.json` and `training.csv` (per-epoch loss/accuracy).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args as ClapArgs, Subcommand};
use classifier::{Architecture, Classifier, ClassifierError, TrainOptions};

use super::common::{check_not_input, print_json, InputArgs, OutArgs};

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

/// `--data` and `--label-column`: the labelled images a command trains on, evaluates or attacks.
#[derive(Debug, Clone, ClapArgs)]
pub struct LabelledArgs {
    /// Labelled images: a folder with manifest.csv (e.g. `imanifold render` output) or anything the loaders read.
    #[arg(long)]
    pub data: PathBuf,
    /// Manifest column holding the class of each image.
    #[arg(long, default_value = classifier::DEFAULT_LABEL_COLUMN)]
    pub label_column: String,
}

/// `--model`: a model folder written by `classifier train`.
#[derive(Debug, Clone, ClapArgs)]
pub struct ModelArgs {
    /// Model folder written by `classifier train`.
    #[arg(long)]
    pub model: PathBuf,
}

impl ModelArgs {
    pub fn load(&self) -> Result<Classifier, ClassifierError> {
        Classifier::load(&self.model)
    }
}

#[derive(Debug, ClapArgs)]
pub struct TrainArgs {
    #[command(flatten)]
    pub labelled: LabelledArgs,
    #[arg(long, default_value_t = classifier::DEFAULT_EPOCHS)]
    pub epochs: usize,
    #[arg(long, default_value_t = classifier::DEFAULT_BATCH_SIZE)]
    pub batch_size: usize,
    /// Peak AdamW learning rate (cosine decay to 0).
    #[arg(long, default_value_t = classifier::DEFAULT_LEARNING_RATE)]
    pub learning_rate: f64,
    #[arg(long, default_value_t = classifier::DEFAULT_WEIGHT_DECAY)]
    pub weight_decay: f64,
    /// Fraction of the images held out for the validation accuracy.
    #[arg(long, default_value_t = classifier::DEFAULT_VALIDATION_FRACTION)]
    pub validation: f64,
    /// Convolution channels, comma-separated (e.g. 16,32,32); the first layer has stride 1, the others stride 2
    /// (3×3 kernels).
    #[arg(long, value_delimiter = ',', default_values_t = classifier::DEFAULT_CHANNELS)]
    pub channels: Vec<usize>,
    /// Width of the hidden fully connected layer.
    #[arg(long, default_value_t = classifier::DEFAULT_HIDDEN)]
    pub hidden: usize,
    /// How the last convolution's maps reach the hidden layer: flatten, or global (average pooling; the same
    /// parameters fit every image size).
    #[arg(long, default_value_t = classifier::model::Pooling::default())]
    pub pool: classifier::model::Pooling,
    #[command(flatten)]
    pub certified: CertifiedArgs,
    #[command(flatten)]
    pub input_args: InputArgs,
    /// Model folder to write (model.safetensors, config.json, results.json, training.csv) and `--json`.
    #[command(flatten)]
    pub out: OutArgs,
}

/// Certified (IBP) training: the loss mixes the clean cross-entropy with that of IBP's worst-case logits over the
/// L∞ box of radius `--certified-eps` (Gowal et al. 2018).
#[derive(Debug, Clone, ClapArgs)]
pub struct CertifiedArgs {
    /// Train for certified robustness in L∞ boxes of this radius ([0, 1] pixel units; a number or a fraction such
    /// as 2/255). Off when absent.
    #[arg(long, value_parser = classifier::adversarial::parse_eps_f64)]
    pub certified_eps: Option<f64>,
    /// Final weight of the clean cross-entropy (the bound's gets 1 − kappa), in [0, 1].
    #[arg(long, default_value_t = classifier::DEFAULT_CERTIFIED_KAPPA)]
    pub certified_kappa: f64,
    /// Share of the training steps with plain training before the ramp.
    #[arg(long, default_value_t = classifier::DEFAULT_CERTIFIED_WARMUP)]
    pub certified_warmup: f64,
    /// Share of the training steps over which the radius rises from 0 and kappa falls from 1.
    #[arg(long, default_value_t = classifier::DEFAULT_CERTIFIED_RAMP)]
    pub certified_ramp: f64,
}

impl CertifiedArgs {
    /// These settings on top of `opts`.
    pub fn apply(&self, opts: TrainOptions) -> TrainOptions {
        TrainOptions {
            certified_eps: self.certified_eps.unwrap_or(classifier::DEFAULT_CERTIFIED_EPS),
            certified_kappa: self.certified_kappa,
            certified_warmup: self.certified_warmup,
            certified_ramp: self.certified_ramp,
            ..opts
        }
    }
}

#[derive(Debug, ClapArgs)]
pub struct EvalArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub labelled: LabelledArgs,
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

/// Adds to a library error on data that do not fit the model how to load them so that they do.
pub fn fit_hint(model: &Classifier, data_path: &Path) -> impl FnOnce(ClassifierError) -> anyhow::Error {
    let m = model.input_shape();
    let hint = format!(
        "{} does not fit the model; load it with --resize {}x{} {}",
        data_path.display(),
        m.width,
        m.height,
        if m.channels == 1 { "--gray" } else { "--rgb" }
    );
    move |e| match e {
        e @ ClassifierError::ShapeMismatch { .. } => anyhow::Error::new(e).context(hint),
        e => e.into(),
    }
}

fn train(a: TrainArgs) -> anyhow::Result<()> {
    let opts = a.certified.apply(TrainOptions {
        epochs: a.epochs,
        batch_size: a.batch_size,
        learning_rate: a.learning_rate,
        weight_decay: a.weight_decay,
        seed: a.input_args.seed,
        validation_fraction: a.validation,
        architecture: Architecture { pool: a.pool, ..Architecture::from_channels(&a.channels, a.hidden) },
        ..TrainOptions::default()
    });
    opts.validate()?;
    let LabelledArgs { data, label_column } = &a.labelled;
    a.out.check_inputs(&[data])?;
    let mut results = output::Results::new("classifier-train");
    results.seed(a.input_args.seed);
    let ds = results.timed("load", || a.input_args.load(data))?;
    let pb = output::progress(a.epochs as u64, "training");
    let training = results
        .timed("train", || {
            classifier::train_dataset(&ds, label_column, &opts, |s| {
                let certified = s.certified_accuracy.map(|c| format!(", certified {c:.3} at {:.4}", s.certified_eps));
                pb.set_message(format!(
                    "val {:.3}{}",
                    s.validation_accuracy.unwrap_or(f64::NAN),
                    certified.unwrap_or_default()
                ));
                pb.inc(1);
            })
        })
        .with_context(|| format!("training on {}", data.display()))?;
    pb.finish_and_clear();
    results.set("data", data.display().to_string());
    let v = a.out.write(|dir| Ok(classifier::write_model_dir(dir, &training, results)?))?;
    a.out.print(&v)?;
    if !a.out.json {
        let report = &training.report;
        eprintln!(
            "trained on {} images ({} classes) in {:.1}s: train accuracy {:.4}, validation accuracy {}; model in {}",
            report.n_train,
            training.model.n_classes(),
            report.seconds,
            report.train_accuracy,
            report.validation_accuracy.map(|v| format!("{v:.4}")).unwrap_or_else(|| "n/a".into()),
            a.out.out.display()
        );
        if let (Some(c), Some(t)) = (opts.certified(), report.certified_train_accuracy) {
            eprintln!(
                "certified training at eps {:.5}: IBP certifies {:.4} of the training boxes, {} of the validation boxes",
                c.eps,
                t,
                report.certified_validation_accuracy.map(|v| format!("{v:.4}")).unwrap_or_else(|| "n/a".into())
            );
        }
    }
    Ok(())
}

fn eval(a: EvalArgs) -> anyhow::Result<()> {
    let LabelledArgs { data, label_column } = &a.labelled;
    if let Some(out) = &a.out {
        check_not_input(out, &[&a.model.model, data])?;
        output::check_destination(out)?;
    }
    let model = a.model.load()?;
    let mut results = output::Results::new("classifier-eval");
    results.seed(a.input_args.seed);
    let ds = results.timed("load", || a.input_args.load(data))?;
    let evaluation = results
        .timed("predict", || classifier::evaluate_dataset(&model, &ds, label_column))
        .map_err(fit_hint(&model, data))?;
    results.set("model", a.model.model.display().to_string()).set("data", data.display().to_string());
    let v = match &a.out {
        Some(out) => output::write_dir(out, |d| anyhow::Ok(classifier::write_eval_dir(d, &evaluation, results)?))?,
        None => {
            evaluation.set_results(&mut results);
            results.to_value()
        }
    };
    print_json(a.json, &v)?;
    if !a.json {
        let c = &evaluation.confusion;
        eprintln!("accuracy {:.4} ({}/{} images of {})", evaluation.accuracy(), c.correct(), c.n(), data.display());
    }
    Ok(())
}
