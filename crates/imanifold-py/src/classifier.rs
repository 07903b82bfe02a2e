//! Classifier: training into a model folder ([`classifier::train_dataset`] + [`classifier::write_model_dir`]),
//! evaluation ([`classifier::evaluate_dataset`]), fooling images ([`classifier::fool_run`]) and adversarial
//! perturbations ([`classifier::attack_dataset`]): the library calls of `imanifold classifier train|eval`, `fool`
//! and `adversarial`, on model and data folders loaded as the CLI loads them.

use std::path::{Path, PathBuf};

use classifier::adversarial::{self, AttackOptions};
use classifier::fool::{self, FoolOptions};
use classifier::{Architecture, Classifier, ClassifierError, TrainOptions};
use ndarray::Array2;
use numpy::IntoPyArray;
use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::load::InputOptions;
use crate::{chain, compute};

fn classifier_error(e: ClassifierError) -> PyErr {
    let msg = chain(&e);
    match &e {
        ClassifierError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            PyFileNotFoundError::new_err(msg)
        }
        ClassifierError::Io { .. }
        | ClassifierError::Corrupt { .. }
        | ClassifierError::WeightsMismatch { .. }
        | ClassifierError::Output(_) => PyOSError::new_err(msg),
        _ => PyValueError::new_err(msg),
    }
}

fn output_error(e: output::OutputError) -> PyErr {
    let msg = chain(&e);
    match e {
        output::OutputError::Destination { .. } => PyValueError::new_err(msg),
        _ => PyOSError::new_err(msg),
    }
}

fn load_model(path: &Path) -> PyResult<Classifier> {
    classifier::single_threaded_elementwise();
    Classifier::load(path).map_err(classifier_error)
}

fn json_string(v: &serde_json::Value) -> String {
    serde_json::to_string(v).expect("JSON values serialise")
}

/// Trains on the labelled images at `data` and writes the model folder `out` (as `imanifold classifier train`):
/// returns the folder's results.json as a JSON string. `certified_eps` is the CLI's `--certified-eps` text (a
/// number or a fraction such as `2/255`; `None`: plain training).
#[pyfunction]
#[pyo3(signature = (data, out, label_column, epochs, batch_size, learning_rate, weight_decay, validation, channels,
                    hidden, certified_eps, certified_kappa, certified_warmup, certified_ramp, input, threads=None))]
#[allow(clippy::too_many_arguments)] // the CLI's `classifier train` options
fn classifier_train(
    py: Python<'_>,
    data: PathBuf,
    out: PathBuf,
    label_column: &str,
    epochs: usize,
    batch_size: usize,
    learning_rate: f64,
    weight_decay: f64,
    validation: f64,
    channels: Vec<usize>,
    hidden: usize,
    certified_eps: Option<&str>,
    certified_kappa: f64,
    certified_warmup: f64,
    certified_ramp: f64,
    input: InputOptions,
    threads: Option<usize>,
) -> PyResult<String> {
    let certified_eps = match certified_eps {
        Some(text) => adversarial::parse_eps_f64(text)
            .map_err(|e| PyValueError::new_err(format!("certified_eps: {}", chain(&e))))?,
        None => classifier::DEFAULT_CERTIFIED_EPS,
    };
    let opts = TrainOptions {
        epochs,
        batch_size,
        learning_rate,
        weight_decay,
        seed: input.seed,
        validation_fraction: validation,
        architecture: Architecture::from_channels(&channels, hidden),
        certified_eps,
        certified_kappa,
        certified_warmup,
        certified_ramp,
    };
    opts.validate().map_err(classifier_error)?;
    if out == data {
        return Err(PyValueError::new_err(format!("out {} is the data folder", out.display())));
    }
    output::check_destination(&out).map_err(output_error)?;
    classifier::single_threaded_elementwise();
    let v = compute(py, threads, || {
        let mut results = output::Results::new("classifier-train");
        results.seed(input.seed);
        let ds = results.timed("load", || input.load(&data))?;
        let training = results
            .timed("train", || classifier::train_dataset(&ds, label_column, &opts, |_| {}))
            .map_err(classifier_error)?;
        results.set("data", data.display().to_string());
        output::write_dir(&out, |dir| classifier::write_model_dir(dir, &training, results)).map_err(classifier_error)
    })??;
    Ok(json_string(&v))
}

/// Accuracy of the model folder `model` on the labelled images at `data` (as `imanifold classifier eval`): the
/// summary as JSON, the confusion matrix (int64, rows = true class), and per image the true and predicted class
/// (int64), the confidence (float32) and its id.
#[pyfunction]
#[pyo3(signature = (model, data, label_column, input, threads=None))]
fn classifier_evaluate<'py>(
    py: Python<'py>,
    model: PathBuf,
    data: PathBuf,
    label_column: &str,
    input: InputOptions,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let net = load_model(&model)?;
    let (evaluation, v) = compute(py, threads, || {
        let mut results = output::Results::new("classifier-eval");
        results.seed(input.seed);
        let ds = results.timed("load", || input.load(&data))?;
        let evaluation = results
            .timed("predict", || classifier::evaluate_dataset(&net, &ds, label_column))
            .map_err(classifier_error)?;
        results.set("model", model.display().to_string()).set("data", data.display().to_string());
        evaluation.set_results(&mut results);
        Ok::<_, PyErr>((evaluation, results.to_value()))
    })??;
    let c = &evaluation.confusion;
    let k = c.classes.len();
    let confusion = Array2::from_shape_fn((k, k), |(i, j)| c.matrix[i][j] as i64);
    let p = &evaluation.predictions;
    let out = PyDict::new(py);
    out.set_item("report", json_string(&v))?;
    out.set_item("classes", c.classes.clone())?;
    out.set_item("confusion", confusion.into_pyarray(py))?;
    out.set_item("labels", p.iter().map(|p| p.label as i64).collect::<Vec<_>>().into_pyarray(py))?;
    out.set_item("predicted", p.iter().map(|p| p.predicted as i64).collect::<Vec<_>>().into_pyarray(py))?;
    out.set_item("confidence", p.iter().map(|p| p.confidence).collect::<Vec<_>>().into_pyarray(py))?;
    out.set_item("ids", evaluation.ids.clone())?;
    Ok(out)
}

/// Fooling images of the model folder `model` (as `imanifold fool`): the report as JSON (without the pixels),
/// the images float32 (n, h, w, c) in [0, 1] and the class index of each.
#[pyfunction]
#[pyo3(signature = (model, method, classes, confidence, generations, population, mutation_rate, mutation_half_life,
                    step_size, seed, threads=None))]
#[allow(clippy::too_many_arguments)] // the CLI's `fool` options
fn classifier_fool<'py>(
    py: Python<'py>,
    model: PathBuf,
    method: &str,
    classes: &str,
    confidence: f32,
    generations: usize,
    population: usize,
    mutation_rate: f64,
    mutation_half_life: f64,
    step_size: f32,
    seed: u64,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let net = load_model(&model)?;
    let opts = FoolOptions {
        method: method.parse().map_err(classifier_error)?,
        classes: fool::parse_classes(&net, classes).map_err(classifier_error)?,
        confidence,
        generations,
        population,
        seed,
        mutation_rate,
        mutation_half_life,
        step_size,
        ..FoolOptions::default()
    };
    opts.validate(&net).map_err(classifier_error)?;
    let fooling = compute(py, threads, || fool::fool_run(&net, &opts, |_, _| {}))?.map_err(classifier_error)?;
    let s = net.input_shape();
    let imgs = &fooling.report.images;
    let mut images = ndarray::Array4::<f32>::zeros((imgs.len(), s.height, s.width, s.channels));
    for (row, img) in images.outer_iter_mut().zip(imgs) {
        let mut row = row;
        row.as_slice_mut().expect("fresh array").copy_from_slice(&img.image);
    }
    let mut report = serde_json::to_value(&fooling.report).expect("the report serialises");
    for (entry, png) in report["images"].as_array_mut().into_iter().flatten().zip(&fooling.png_confidences) {
        entry.as_object_mut().map(|o| o.remove("image"));
        entry["png_confidence"] = serde_json::json!(png);
    }
    let out = PyDict::new(py);
    out.set_item("report", json_string(&report))?;
    out.set_item("images", images.into_pyarray(py))?;
    out.set_item("classes", imgs.iter().map(|i| i.class as i64).collect::<Vec<_>>().into_pyarray(py))?;
    out.set_item("class_names", net.classes().to_vec())?;
    Ok(out)
}

/// Adversarial perturbations of the correctly classified images at `data` (as `imanifold adversarial`): the report
/// as JSON (per image without the pixels), and the clean and perturbed images float32 (m, h, w, c) of the attacked
/// rows (`rows`, int64, rows of the collection). `reference` (on-manifold only): the collection whose tangent
/// spaces bound the perturbation, loaded with the same `input` options.
#[pyfunction]
#[pyo3(signature = (model, data, label_column, method, norm, eps, steps, search_rounds, random_trials, input,
                    reference=None, tangent_k=adversarial::on_manifold::DEFAULT_TANGENT_K, tangent_dim=None,
                    confidence=None, threads=None))]
#[allow(clippy::too_many_arguments)] // the CLI's `adversarial` options
fn classifier_attack<'py>(
    py: Python<'py>,
    model: PathBuf,
    data: PathBuf,
    label_column: &str,
    method: &str,
    norm: &str,
    eps: &str,
    steps: usize,
    search_rounds: usize,
    random_trials: usize,
    input: InputOptions,
    reference: Option<PathBuf>,
    tangent_k: usize,
    tangent_dim: Option<usize>,
    confidence: Option<f32>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let tangent = adversarial::TangentOptions { k: tangent_k, dim: tangent_dim };
    if reference.is_some() {
        tangent.validate().map_err(classifier_error)?;
    }
    let opts = AttackOptions {
        attack: method.parse().map_err(classifier_error)?,
        norm: norm.parse().map_err(classifier_error)?,
        eps: adversarial::parse_eps(eps).map_err(classifier_error)?,
        steps,
        search_rounds,
        quantize: true,
        random_trials,
        seed: input.seed,
        confidence,
    };
    opts.validate().map_err(classifier_error)?;
    let net = load_model(&model)?;
    let adv = compute(py, threads, || {
        let ds = input.load(&data)?;
        match &reference {
            None => adversarial::attack_dataset(&net, &ds, label_column, &opts),
            Some(r) => {
                let reference = input.load(r)?;
                adversarial::attack_dataset_on_manifold(&net, &ds, label_column, &opts, &reference, &tangent)
            }
        }
        .map_err(classifier_error)
    })??;
    let s = adv.shape;
    let res = &adv.report.results;
    let mut clean = ndarray::Array4::<f32>::zeros((res.len(), s.height, s.width, s.channels));
    let mut perturbed = clean.clone();
    for (i, r) in res.iter().enumerate() {
        clean
            .index_axis_mut(ndarray::Axis(0), i)
            .as_slice_mut()
            .expect("fresh array")
            .copy_from_slice(adv.x.row(r.row).as_slice().expect("standard layout"));
        perturbed
            .index_axis_mut(ndarray::Axis(0), i)
            .as_slice_mut()
            .expect("fresh array")
            .copy_from_slice(&r.perturbed);
    }
    let report = serde_json::to_value(&adv.report).expect("the report serialises");
    let out = PyDict::new(py);
    out.set_item("report", json_string(&report))?;
    out.set_item("rows", res.iter().map(|r| r.row as i64).collect::<Vec<_>>().into_pyarray(py))?;
    out.set_item("clean", clean.into_pyarray(py))?;
    out.set_item("perturbed", perturbed.into_pyarray(py))?;
    out.set_item("class_names", adv.classes.clone())?;
    Ok(out)
}

/// The CLI's defaults of the classifier commands (library constants).
fn defaults(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("label_column", classifier::DEFAULT_LABEL_COLUMN)?;
    d.set_item("epochs", classifier::DEFAULT_EPOCHS)?;
    d.set_item("batch_size", classifier::DEFAULT_BATCH_SIZE)?;
    d.set_item("learning_rate", classifier::DEFAULT_LEARNING_RATE)?;
    d.set_item("weight_decay", classifier::DEFAULT_WEIGHT_DECAY)?;
    d.set_item("validation", classifier::DEFAULT_VALIDATION_FRACTION)?;
    d.set_item("channels", classifier::DEFAULT_CHANNELS.to_vec())?;
    d.set_item("hidden", classifier::DEFAULT_HIDDEN)?;
    d.set_item("certified_kappa", classifier::DEFAULT_CERTIFIED_KAPPA)?;
    d.set_item("certified_warmup", classifier::DEFAULT_CERTIFIED_WARMUP)?;
    d.set_item("certified_ramp", classifier::DEFAULT_CERTIFIED_RAMP)?;
    d.set_item("fool_classes", fool::ALL_CLASSES)?;
    d.set_item("fool_confidence", fool::DEFAULT_CONFIDENCE)?;
    d.set_item("fool_generations", fool::DEFAULT_CLI_GENERATIONS)?;
    d.set_item("fool_population", fool::DEFAULT_POPULATION)?;
    d.set_item("fool_mutation_rate", fool::DEFAULT_MUTATION_RATE)?;
    d.set_item("fool_mutation_half_life", fool::DEFAULT_MUTATION_HALF_LIFE)?;
    d.set_item("fool_step_size", fool::DEFAULT_STEP_SIZE)?;
    d.set_item("attack_norm", adversarial::Norm::Linf.to_string())?;
    d.set_item("attack_eps", adversarial::DEFAULT_EPS_TEXT)?;
    d.set_item("attack_steps", adversarial::DEFAULT_STEPS)?;
    d.set_item("attack_search_rounds", adversarial::DEFAULT_SEARCH_ROUNDS)?;
    d.set_item("attack_random_trials", adversarial::DEFAULT_RANDOM_TRIALS)?;
    d.set_item("attack_tangent_k", adversarial::on_manifold::DEFAULT_TANGENT_K)?;
    Ok(d)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("CLASSIFIER_DEFAULTS", defaults(m.py())?)?;
    m.add_function(wrap_pyfunction!(classifier_train, m)?)?;
    m.add_function(wrap_pyfunction!(classifier_evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(classifier_fool, m)?)?;
    m.add_function(wrap_pyfunction!(classifier_attack, m)?)
}
