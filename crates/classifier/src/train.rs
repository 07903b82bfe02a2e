//! Training: AdamW on the cross-entropy, cosine learning-rate decay, fixed initialisation and batch order.
//!
//! Certified training (`certified_eps > 0`, the interval bound propagation training of Gowal et al. 2018, "On the
//! effectiveness of interval bound propagation for training verifiably robust models"): the loss is
//! `κ · CE(logits) + (1 − κ) · CE(worst-case logits)`, the worst-case logits being minus IBP's lower bounds of the
//! margins `z_y − z_j` over the L∞ box `[x − ε, x + ε] ∩ [0, 1]` ([`crate::ibp`], last layer folded in). After a
//! warm-up share of the steps with plain training, ε rises linearly from 0 to `certified_eps` and κ falls from 1 to
//! `certified_kappa` over the ramp share of the steps, then both stay ([`certified_schedule`]). A network trained so
//! has few unstable ReLUs over such boxes, and IBP/CROWN can then certify most of them.
//!
//! Measured on 16×16 `shapes10` renders (2400 training images, the default architecture, release build, 2 shared
//! cores): plain training (6 epochs, 5 s) reaches test accuracy 1.0 but no verifier certifies a single ε-box even at
//! ε = 1/255; certified training at 2/255 (6 epochs, 18 s) keeps accuracy 1.0 and IBP certifies all 40 measured
//! test boxes at 1/255 and 2/255; at 8/255 (10 epochs, 88 s) all at up to 4/255 and 38 of 40 at 8/255, where PGD
//! flips every image of the plain model (`crates/stability/README.md` has the commands).
//!
//! Determinism: initial weights come from a ChaCha8 RNG seeded from the seed, the validation split and the batch
//! order of every epoch too, so the same seed and data give the same model. candle's CPU kernels (gemm, im2col
//! convolutions) split work across threads by output blocks, never by the summation index, so the result does not
//! depend on the thread count either; `tests/determinism.rs` checks this bit for bit with 1 and 2 threads.

use std::time::Instant;

use candle_core::{Device, Tensor, Var, D};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use ndarray::ArrayView2;
use rand::seq::SliceRandom;
use rand::Rng;
use serde::Serialize;

use crate::error::{invalid, Result};
use crate::model::CertifiedTraining;
use crate::model::{forward, validate_architecture, Architecture, Classifier, ModelConfig, Normalization, FORMAT};
use crate::util::{item_rng, stream};
use crate::{ImageShape, TrainingInfo};

/// Training hyper-parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOptions {
    pub epochs: usize,
    pub batch_size: usize,
    /// Peak AdamW learning rate (cosine decay to 0 over the run).
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub seed: u64,
    /// Fraction of the rows held out (chosen at random with the seed) to report validation accuracy.
    pub validation_fraction: f64,
    pub architecture: Architecture,
    /// Certified (IBP) training: final L∞ radius of the training boxes in [0, 1] pixel units; 0 turns it off.
    pub certified_eps: f64,
    /// Certified training: final weight κ in [0, 1] of the clean cross-entropy (the bound's gets 1 − κ).
    pub certified_kappa: f64,
    /// Certified training: share of the steps with plain training before the ramp, in [0, 1].
    pub certified_warmup: f64,
    /// Certified training: share of the steps over which ε rises from 0 and κ falls from 1, in [0, 1]
    /// (`certified_warmup + certified_ramp ≤ 1`).
    pub certified_ramp: f64,
}

/// Defaults of [`TrainOptions`] (and of `imanifold classifier train`).
pub const DEFAULT_EPOCHS: usize = 15;
pub const DEFAULT_BATCH_SIZE: usize = 32;
pub const DEFAULT_LEARNING_RATE: f64 = 2e-3;
pub const DEFAULT_WEIGHT_DECAY: f64 = 1e-4;
pub const DEFAULT_VALIDATION_FRACTION: f64 = 0.2;
/// Certified training is off by default.
pub const DEFAULT_CERTIFIED_EPS: f64 = 0.0;
/// Final κ (Gowal et al. 2018 end at 0.5).
pub const DEFAULT_CERTIFIED_KAPPA: f64 = 0.5;
pub const DEFAULT_CERTIFIED_WARMUP: f64 = 0.1;
pub const DEFAULT_CERTIFIED_RAMP: f64 = 0.5;

/// Ranges checked by [`TrainOptions::validate`]: epochs and batch size from 1, convolution channels and hidden
/// width from 1 to these bounds, at most [`MAX_CONV_LAYERS`] convolutions; training also refuses an architecture
/// whose parameters and activations need more memory than is available.
pub const MAX_EPOCHS: usize = 100_000;
pub const MAX_BATCH_SIZE: usize = 65_536;
pub const MAX_CHANNELS: usize = 4_096;
pub const MAX_HIDDEN: usize = 65_536;
pub const MAX_CONV_LAYERS: usize = 16;

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            epochs: DEFAULT_EPOCHS,
            batch_size: DEFAULT_BATCH_SIZE,
            learning_rate: DEFAULT_LEARNING_RATE,
            weight_decay: DEFAULT_WEIGHT_DECAY,
            seed: 0,
            validation_fraction: DEFAULT_VALIDATION_FRACTION,
            architecture: Architecture::default(),
            certified_eps: DEFAULT_CERTIFIED_EPS,
            certified_kappa: DEFAULT_CERTIFIED_KAPPA,
            certified_warmup: DEFAULT_CERTIFIED_WARMUP,
            certified_ramp: DEFAULT_CERTIFIED_RAMP,
        }
    }
}

impl TrainOptions {
    /// Checks the settings that do not depend on the data (cheap; [`train`] checks them too, with the data).
    pub fn validate(&self) -> Result<()> {
        if !(1..=MAX_EPOCHS).contains(&self.epochs) {
            return Err(invalid("epochs", format!("{} (need 1 to {MAX_EPOCHS})", self.epochs)));
        }
        if !(1..=MAX_BATCH_SIZE).contains(&self.batch_size) {
            return Err(invalid("batch size", format!("{} (need 1 to {MAX_BATCH_SIZE})", self.batch_size)));
        }
        // Written so that NaN fails every check.
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite() && self.weight_decay >= 0.0) {
            return Err(invalid("training options", "learning rate must be > 0 and weight decay ≥ 0"));
        }
        if !(0.0..1.0).contains(&self.validation_fraction) {
            return Err(invalid("validation fraction", format!("{} (need 0 ≤ f < 1)", self.validation_fraction)));
        }
        let a = &self.architecture;
        if a.conv.is_empty() || a.hidden == 0 || a.conv.iter().any(|c| c.channels == 0) {
            return Err(invalid(
                "architecture",
                "need at least one convolution, positive channel counts and hidden width",
            ));
        }
        if a.conv.len() > MAX_CONV_LAYERS {
            return Err(invalid("channels", format!("{} convolutions (need 1 to {MAX_CONV_LAYERS})", a.conv.len())));
        }
        if let Some(c) = a.conv.iter().find(|c| c.channels > MAX_CHANNELS) {
            return Err(invalid("channels", format!("{} (need 1 to {MAX_CHANNELS} per convolution)", c.channels)));
        }
        if a.hidden > MAX_HIDDEN {
            return Err(invalid("hidden width", format!("{} (need 1 to {MAX_HIDDEN})", a.hidden)));
        }
        // Written so that NaN fails every check.
        for (what, v) in [
            ("certified eps", self.certified_eps),
            ("certified kappa", self.certified_kappa),
            ("certified warmup", self.certified_warmup),
            ("certified ramp", self.certified_ramp),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(invalid(what, format!("{v} (need 0 ≤ value ≤ 1)")));
            }
        }
        if self.certified_warmup + self.certified_ramp > 1.0 {
            return Err(invalid(
                "certified ramp",
                format!(
                    "warm-up {} + ramp {} exceed the whole run (need a sum ≤ 1)",
                    self.certified_warmup, self.certified_ramp
                ),
            ));
        }
        Ok(())
    }

    /// The certified-training settings (`None` when `certified_eps` is 0).
    pub fn certified(&self) -> Option<CertifiedTraining> {
        (self.certified_eps > 0.0).then_some(CertifiedTraining {
            eps: self.certified_eps,
            kappa: self.certified_kappa,
            warmup: self.certified_warmup,
            ramp: self.certified_ramp,
        })
    }
}

/// `(ε, κ)` of certified training at `progress` ∈ [0, 1] (share of the steps done): `(0, 1)` during the warm-up,
/// then linear to `(eps, kappa)` over the ramp, then constant.
pub fn certified_schedule(c: &CertifiedTraining, progress: f64) -> (f64, f64) {
    if progress < c.warmup {
        return (0.0, 1.0);
    }
    let s = if c.ramp > 0.0 { ((progress - c.warmup) / c.ramp).clamp(0.0, 1.0) } else { 1.0 };
    (s * c.eps, 1.0 - s * (1.0 - c.kappa))
}

/// Figures for one epoch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EpochStats {
    pub epoch: usize,
    /// Mean training cross-entropy over the epoch's batches.
    pub loss: f64,
    /// Accuracy on the training batches as they were seen (weights changing during the epoch).
    pub train_accuracy: f64,
    pub validation_accuracy: Option<f64>,
    pub seconds: f64,
    /// Certified training: ε of the epoch's last step (0 for plain training).
    pub certified_eps: f64,
    /// Certified training: share of the epoch's training rows whose box at the step's ε was certified by IBP as
    /// they were seen (at ε = 0: classified correctly); `None` for plain training.
    pub certified_accuracy: Option<f64>,
}

/// What training did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainReport {
    pub epochs: Vec<EpochStats>,
    pub n_train: usize,
    pub n_validation: usize,
    /// Row indices of the held-out validation split.
    pub validation_rows: Vec<usize>,
    /// Accuracy of the final model on the training split.
    pub train_accuracy: f64,
    pub validation_accuracy: Option<f64>,
    /// Certified training: share of the training split whose `certified_eps`-box the final model certifies by IBP.
    pub certified_train_accuracy: Option<f64>,
    /// The same on the validation split (`None` without one or for plain training).
    pub certified_validation_accuracy: Option<f64>,
    pub seconds: f64,
}

fn check_inputs(
    x: &ArrayView2<f32>,
    shape: ImageShape,
    labels: &[usize],
    classes: &[String],
    opts: &TrainOptions,
) -> Result<()> {
    if shape.is_empty() || !(shape.channels == 1 || shape.channels == 3) {
        return Err(invalid("image shape", format!("{shape} (need height, width > 0 and 1 or 3 channels)")));
    }
    if x.ncols() != shape.len() {
        return Err(invalid(
            "training data",
            format!("rows have {} values, images of {shape} have {}", x.ncols(), shape.len()),
        ));
    }
    if x.nrows() != labels.len() {
        return Err(invalid("training data", format!("{} rows but {} labels", x.nrows(), labels.len())));
    }
    if classes.len() < 2 {
        return Err(invalid("classes", format!("{} class(es); a classifier needs at least 2", classes.len())));
    }
    let mut sorted: Vec<&String> = classes.iter().collect();
    sorted.sort();
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        return Err(invalid("classes", format!("class {:?} listed twice", w[0])));
    }
    if let Some((i, &l)) = labels.iter().enumerate().find(|(_, &l)| l >= classes.len()) {
        return Err(invalid("labels", format!("row {i} has label {l}, but there are {} classes", classes.len())));
    }
    if let Some(((i, _), v)) = x.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(invalid("training data", format!("row {i} holds a non-finite value {v}")));
    }
    opts.validate()?;
    validate_architecture(&opts.architecture, shape)?;
    check_training_memory(opts, shape)
}

/// Refuses an architecture whose training state (parameters with their gradients and two AdamW moments, and the
/// activations of one batch kept for the backward pass) needs more memory than is available.
fn check_training_memory(opts: &TrainOptions, shape: ImageShape) -> Result<()> {
    let (mut h, mut w, mut c_in) = (shape.height as u128, shape.width as u128, shape.channels as u128);
    let (mut params, mut activations) = (0u128, h * w * c_in);
    for c in &opts.architecture.conv {
        let (k, s, ch) = (c.kernel as u128, c.stride as u128, c.channels as u128);
        params += ch * c_in * k * k + ch;
        h = (h + 2 * (k / 2) - k) / s + 1;
        w = (w + 2 * (k / 2) - k) / s + 1;
        activations += 2 * h * w * ch;
        c_in = ch;
    }
    let hidden = opts.architecture.hidden as u128;
    params += h * w * c_in * hidden + hidden + hidden * 64 + 64;
    let needed = 4 * (4 * params + 3 * activations * opts.batch_size as u128);
    let available = dataset::limits::available_memory();
    if needed > available as u128 {
        let (needed, available) = (dataset::limits::Bytes(needed), dataset::limits::Bytes(available as u128));
        return Err(invalid(
            "architecture",
            format!("training needs {needed} ({params} parameters), {available} available; use fewer channels or a smaller hidden layer"),
        ));
    }
    Ok(())
}

/// Per-channel mean and standard deviation over the given rows.
fn channel_stats(x: &ArrayView2<f32>, rows: &[usize], channels: usize) -> Normalization {
    let mut sum = vec![0f64; channels];
    let mut sq = vec![0f64; channels];
    let mut count = 0f64;
    for &r in rows {
        for (j, &v) in x.row(r).iter().enumerate() {
            sum[j % channels] += v as f64;
            sq[j % channels] += (v as f64) * (v as f64);
        }
        count += (x.ncols() / channels) as f64;
    }
    let mean: Vec<f64> = sum.iter().map(|s| s / count.max(1.0)).collect();
    let std = sq.iter().zip(&mean).map(|(q, m)| ((q / count.max(1.0) - m * m).max(0.0).sqrt()).max(1e-3) as f32);
    Normalization { mean: mean.iter().map(|&m| m as f32).collect(), std: std.collect() }
}

/// He-uniform initial weights (zero biases) from a seeded RNG (candle's CPU RNG cannot be seeded).
fn init_vars(config: &ModelConfig, seed: u64) -> Result<Vec<Var>> {
    let shapes = Classifier::param_shapes_for(config);
    let mut vars = Vec::with_capacity(shapes.len());
    for (i, (name, dims)) in shapes.iter().enumerate() {
        let count: usize = dims.iter().product();
        let values: Vec<f32> = if name.ends_with(".bias") {
            vec![0.0; count]
        } else {
            let fan_in: usize = dims[1..].iter().product();
            let bound = (6.0 / fan_in as f64).sqrt() as f32;
            let mut rng = item_rng(seed, stream::INIT, i as u64, 0);
            (0..count).map(|_| rng.random_range(-bound..bound)).collect()
        };
        vars.push(Var::from_tensor(&Tensor::from_vec(values, dims.as_slice(), &Device::Cpu)?)?);
    }
    Ok(vars)
}

/// Trains a classifier on `x` (one image per row, values in [0, 1]) with class indices `labels` into `classes`.
/// `on_epoch` is called after every epoch (progress reporting).
pub fn train(
    x: ArrayView2<f32>,
    shape: ImageShape,
    labels: &[usize],
    classes: &[String],
    opts: &TrainOptions,
    mut on_epoch: impl FnMut(&EpochStats),
) -> Result<(Classifier, TrainReport)> {
    check_inputs(&x, shape, labels, classes, opts)?;
    let start = Instant::now();
    let n = x.nrows();
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut item_rng(opts.seed, stream::SPLIT, 0, 0));
    let n_val = ((n as f64) * opts.validation_fraction).round() as usize;
    let n_val = n_val.min(n.saturating_sub(1));
    let mut val_rows: Vec<usize> = order[..n_val].to_vec();
    let mut train_rows: Vec<usize> = order[n_val..].to_vec();
    val_rows.sort_unstable();
    train_rows.sort_unstable();

    let mut config = ModelConfig {
        format: FORMAT.into(),
        input: shape,
        classes: classes.to_vec(),
        normalization: channel_stats(&x, &train_rows, shape.channels),
        architecture: opts.architecture.clone(),
        training: None,
    };

    let vars = init_vars(&config, opts.seed)?;
    let probe = Classifier::from_parts(config.clone(), vars.iter().map(|v| v.as_tensor().clone()).collect())?;
    let (mean, inv_std) = probe.mean_inv_std();
    let (mean, inv_std) = (mean.clone(), inv_std.clone());

    let x_train = crate::model::rows_tensor(x.select(ndarray::Axis(0), &train_rows).view())?;
    let y_train: Vec<u32> = train_rows.iter().map(|&r| labels[r] as u32).collect();
    let mut opt = AdamW::new(
        vars.clone(),
        ParamsAdamW { lr: opts.learning_rate, weight_decay: opts.weight_decay, ..ParamsAdamW::default() },
    )?;
    let n_train = train_rows.len();
    let steps_per_epoch = n_train.div_ceil(opts.batch_size);
    let total_steps = (steps_per_epoch * opts.epochs).max(1);
    let mut step = 0usize;
    let mut history = Vec::with_capacity(opts.epochs);
    let x_val = x.select(ndarray::Axis(0), &val_rows);
    let certified = opts.certified();
    for epoch in 0..opts.epochs {
        let t_epoch = Instant::now();
        let mut perm: Vec<u32> = (0..n_train as u32).collect();
        perm.shuffle(&mut item_rng(opts.seed, stream::SHUFFLE, epoch as u64, 0));
        let (mut loss_sum, mut correct, mut n_certified, mut eps_now) = (0f64, 0usize, 0usize, 0f64);
        for batch in perm.chunks(opts.batch_size) {
            let progress = step as f64 / total_steps as f64;
            // Written as before certified training existed, so that plain training gives the same weights.
            let lr = opts.learning_rate * 0.5 * (1.0 + (std::f64::consts::PI * step as f64 / total_steps as f64).cos());
            opt.set_learning_rate(lr);
            step += 1;
            let idx = Tensor::from_slice(batch, batch.len(), &Device::Cpu)?;
            let xb = x_train.index_select(&idx, 0)?;
            let yb: Vec<u32> = batch.iter().map(|&i| y_train[i as usize]).collect();
            let yb_t = Tensor::from_slice(&yb, yb.len(), &Device::Cpu)?;
            let params: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
            let (eps, kappa) = certified.map(|c| certified_schedule(&c, progress)).unwrap_or((0.0, 1.0));
            eps_now = eps;
            let b = BatchLoss::compute(&config, &params, (&mean, &inv_std), &xb, &yb_t, eps, kappa)?;
            opt.backward_step(&b.loss)?;
            loss_sum += b.loss.to_scalar::<f32>()? as f64 * batch.len() as f64;
            correct += b.correct;
            n_certified += b.certified;
        }
        let validation_accuracy = if n_val > 0 {
            let model = Classifier::from_parts(config.clone(), vars.iter().map(|v| v.as_tensor().clone()).collect())?;
            Some(accuracy(&model, x_val.view(), &val_rows.iter().map(|&r| labels[r]).collect::<Vec<_>>())?)
        } else {
            None
        };
        let stats = EpochStats {
            epoch: epoch + 1,
            loss: loss_sum / n_train as f64,
            train_accuracy: correct as f64 / n_train as f64,
            validation_accuracy,
            seconds: t_epoch.elapsed().as_secs_f64(),
            certified_eps: eps_now,
            certified_accuracy: certified.map(|_| n_certified as f64 / n_train as f64),
        };
        on_epoch(&stats);
        history.push(stats);
    }
    let params: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let model = Classifier::from_parts(config.clone(), params.clone())?;
    let train_labels: Vec<usize> = train_rows.iter().map(|&r| labels[r]).collect();
    let x_train_rows = x.select(ndarray::Axis(0), &train_rows);
    let train_accuracy = accuracy(&model, x_train_rows.view(), &train_labels)?;
    let validation_accuracy = history.last().and_then(|s| s.validation_accuracy);
    let certified_share = |rows: ArrayView2<f32>, labels: &[usize], eps: f64| -> Result<f64> {
        let c = crate::ibp::certified(&model, rows, labels, eps)?;
        Ok(c.iter().filter(|&&b| b).count() as f64 / c.len().max(1) as f64)
    };
    let certified_train_accuracy =
        certified.map(|c| certified_share(x_train_rows.view(), &train_labels, c.eps)).transpose()?;
    let val_labels: Vec<usize> = val_rows.iter().map(|&r| labels[r]).collect();
    let certified_validation_accuracy = match certified {
        Some(c) if n_val > 0 => Some(certified_share(x_val.view(), &val_labels, c.eps)?),
        _ => None,
    };
    let seconds = start.elapsed().as_secs_f64();
    config.training = Some(TrainingInfo {
        seed: opts.seed,
        epochs: opts.epochs,
        batch_size: opts.batch_size,
        learning_rate: opts.learning_rate,
        weight_decay: opts.weight_decay,
        n_train,
        n_validation: n_val,
        train_accuracy,
        validation_accuracy,
        seconds,
        certified,
    });
    let model = Classifier::from_parts(config, params)?;
    let report = TrainReport {
        epochs: history,
        n_train,
        n_validation: n_val,
        validation_rows: val_rows,
        train_accuracy,
        validation_accuracy,
        certified_train_accuracy,
        certified_validation_accuracy,
        seconds,
    };
    Ok((model, report))
}

/// One batch's loss (plain, or certified with `eps > 0`), correct predictions and IBP-certified rows.
struct BatchLoss {
    loss: Tensor,
    correct: usize,
    certified: usize,
}

impl BatchLoss {
    fn compute(
        config: &ModelConfig,
        params: &[Tensor],
        (mean, inv_std): (&Tensor, &Tensor),
        x: &Tensor,
        y: &Tensor,
        eps: f64,
        kappa: f64,
    ) -> Result<Self> {
        let logits = forward(config, params, mean, inv_std, x, None)?;
        let clean = candle_nn::loss::cross_entropy(&logits, y)?;
        let yv = y.to_vec1::<u32>()?;
        let pred = logits.argmax(D::Minus1)?.to_vec1::<u32>()?;
        let correct = pred.iter().zip(&yv).filter(|(p, y)| p == y).count();
        if eps <= 0.0 {
            return Ok(BatchLoss { loss: clean, correct, certified: correct });
        }
        let lower = crate::ibp::margin_lower_bounds_t(config, params, mean, inv_std, x, y, eps)?;
        let robust = crate::ibp::worst_case_cross_entropy(&lower, y)?;
        let loss = ((clean * kappa)? + (robust * (1.0 - kappa))?)?;
        let k = lower.dim(1)?;
        let lv = lower.flatten_all()?.to_vec1::<f32>()?;
        let certified = lv
            .chunks(k)
            .zip(&yv)
            .filter(|(row, &y)| row.iter().enumerate().all(|(j, &v)| j == y as usize || v > 0.0))
            .count();
        Ok(BatchLoss { loss, correct, certified })
    }
}

/// Fraction of rows whose predicted class equals the label.
pub fn accuracy(model: &Classifier, x: ArrayView2<f32>, labels: &[usize]) -> Result<f64> {
    if x.nrows() != labels.len() {
        return Err(invalid("labels", format!("{} rows but {} labels", x.nrows(), labels.len())));
    }
    if labels.is_empty() {
        return Err(invalid("evaluation data", "no rows"));
    }
    let pred = model.predict(x)?;
    Ok(pred.iter().zip(labels).filter(|((p, _), &l)| *p == l).count() as f64 / labels.len() as f64)
}

/// Writes `training.csv` of a model folder, the format `imanifold classifier train` and the demo share: one row per
/// epoch with columns `epoch`, `loss`, `train_accuracy`, `validation_accuracy` (empty without a validation split),
/// `seconds`, and after certified training also `certified_eps` and `certified_accuracy` (see [`EpochStats`]).
pub fn write_training_csv(path: &std::path::Path, report: &TrainReport) -> Result<()> {
    let certified = report.epochs.iter().any(|e| e.certified_accuracy.is_some());
    let mut header = vec!["epoch", "loss", "train_accuracy", "validation_accuracy", "seconds"];
    if certified {
        header.extend(["certified_eps", "certified_accuracy"]);
    }
    output::write_csv(
        path,
        &header,
        report.epochs.iter().map(|e| {
            let mut row = vec![
                e.epoch.to_string(),
                output::fmt_f64(e.loss),
                output::fmt_f64(e.train_accuracy),
                e.validation_accuracy.map(output::fmt_f64).unwrap_or_default(),
                output::fmt_f64(e.seconds),
            ];
            if certified {
                row.push(output::fmt_f64(e.certified_eps));
                row.push(e.certified_accuracy.map(output::fmt_f64).unwrap_or_default());
            }
            row
        }),
    )?;
    Ok(())
}

/// Sets the training figures of a model folder's `results.json` (`classifier-train`) that the CLI and the demo
/// share: `input_shape`, `classes`, `n_parameters`, `n_train`, `n_validation`, `train_accuracy`,
/// `validation_accuracy` (null without a validation split), `train_seconds`, `certified_training` (the
/// [`CertifiedTraining`] settings, null for plain training), `certified_train_accuracy` and
/// `certified_validation_accuracy` (IBP-certified shares at the final ε, null when not measured). The caller adds
/// `data`, `n_images`, `epochs` and its own fields.
pub fn set_train_results(results: &mut output::Results, model: &Classifier, report: &TrainReport) {
    results
        .set("input_shape", model.input_shape())
        .set("classes", model.classes())
        .set("n_parameters", model.n_parameters())
        .set("n_train", report.n_train)
        .set("n_validation", report.n_validation)
        .set("train_accuracy", report.train_accuracy)
        .set("validation_accuracy", report.validation_accuracy)
        .set("train_seconds", report.seconds)
        .set("certified_training", model.config().training.as_ref().and_then(|t| t.certified))
        .set("certified_train_accuracy", report.certified_train_accuracy)
        .set("certified_validation_accuracy", report.certified_validation_accuracy);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_csv_format() {
        let epoch = |epoch, validation_accuracy| EpochStats {
            epoch,
            loss: 0.5,
            train_accuracy: 0.75,
            validation_accuracy,
            seconds: 1.25,
            certified_eps: 0.0,
            certified_accuracy: None,
        };
        let report = TrainReport {
            epochs: vec![epoch(1, Some(0.5)), epoch(2, None)],
            n_train: 4,
            n_validation: 0,
            validation_rows: vec![],
            train_accuracy: 0.75,
            validation_accuracy: None,
            certified_train_accuracy: None,
            certified_validation_accuracy: None,
            seconds: 2.5,
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("training.csv");
        write_training_csv(&path, &report).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "epoch,loss,train_accuracy,validation_accuracy,seconds\n1,0.5,0.75,0.5,1.25\n2,0.5,0.75,,1.25\n"
        );
        let mut certified = report.clone();
        certified.epochs[1].certified_eps = 0.25;
        certified.epochs[1].certified_accuracy = Some(0.5);
        write_training_csv(&path, &certified).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "epoch,loss,train_accuracy,validation_accuracy,seconds,certified_eps,certified_accuracy\n\
             1,0.5,0.75,0.5,1.25,0,\n2,0.5,0.75,,1.25,0.25,0.5\n"
        );
    }
}
