//! The convnet: configuration, forward pass, input gradients, saving and loading.
//!
//! A model is a folder `MODEL/` holding `model.safetensors` (f32 weights) and `config.json` ([`ModelConfig`]).
//! Inputs are rows of `height·width·channels` values in [0, 1], pixels row-major `(y, x, channel)`, the layout of
//! `dataset::Dataset::data`; the per-channel normalisation is part of the network, so gradients are with respect
//! to these [0, 1] pixel values.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor, Var, D};
use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::error::{invalid, ClassifierError, Result};
use crate::ImageShape;

/// File names inside a model folder.
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const CONFIG_FILE: &str = "config.json";
/// `format` value of a config this version reads and writes.
pub const FORMAT: &str = "imanifold-classifier/v1";

/// Rows per forward pass when evaluating many images (bounds memory; results do not depend on it).
pub(crate) const EVAL_BATCH: usize = 256;

/// One convolution layer: `channels` output maps, square `kernel` (odd), `stride`, zero padding `kernel / 2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvSpec {
    pub channels: usize,
    pub kernel: usize,
    pub stride: usize,
}

/// Network shape: convolutions (each followed by ReLU), then a ReLU hidden layer, then the class logits.
/// Downsampling is by strided convolution (no max-pooling: candle 0.11's max_pool2d backward is wrong).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Architecture {
    pub conv: Vec<ConvSpec>,
    pub hidden: usize,
    /// How the last convolution's maps reach the hidden layer (absent in older config files: flatten).
    #[serde(default)]
    pub pool: Pooling,
}

/// Flatten every position of the last maps into the hidden layer, or average each map over its positions first
/// (global average pooling: the same parameters fit every input size).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    #[default]
    Flatten,
    Global,
}

impl std::fmt::Display for Pooling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Pooling::Flatten => "flatten",
            Pooling::Global => "global",
        })
    }
}

impl std::str::FromStr for Pooling {
    type Err = ClassifierError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "flatten" => Ok(Pooling::Flatten),
            "global" => Ok(Pooling::Global),
            _ => Err(invalid("pooling", format!("`{s}` (use flatten or global)"))),
        }
    }
}

/// Convolution channels of the default architecture.
pub const DEFAULT_CHANNELS: [usize; 3] = [16, 32, 32];
/// Width of the default hidden layer.
pub const DEFAULT_HIDDEN: usize = 64;

impl Default for Architecture {
    fn default() -> Self {
        Architecture::from_channels(&DEFAULT_CHANNELS, DEFAULT_HIDDEN)
    }
}

impl Architecture {
    /// 3×3 convolutions with the given output channels, the first with stride 1 and the others with stride 2,
    /// then a hidden layer of width `hidden` (checked by [`crate::TrainOptions::validate`] and by training).
    pub fn from_channels(channels: &[usize], hidden: usize) -> Self {
        let conv = channels
            .iter()
            .enumerate()
            .map(|(i, &c)| ConvSpec { channels: c, kernel: 3, stride: if i == 0 { 1 } else { 2 } })
            .collect();
        Architecture { conv, hidden, pool: Pooling::Flatten }
    }
}

/// Per-channel normalisation applied inside the network: `(x - mean) / std`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

/// How the model was trained (written by `train`, informative only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    pub seed: u64,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub n_train: usize,
    pub n_validation: usize,
    pub train_accuracy: f64,
    /// Accuracy on the held-out validation split (`null` when there was none).
    pub validation_accuracy: Option<f64>,
    pub seconds: f64,
    /// Certified (IBP) training settings; absent for plain training and in older config files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certified: Option<CertifiedTraining>,
}

/// Settings of certified (IBP) training, as recorded in a model's config (see [`crate::TrainOptions`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CertifiedTraining {
    /// Final L∞ radius of the training boxes, in [0, 1] pixel units.
    pub eps: f64,
    /// Final weight κ of the clean cross-entropy (the bound's gets 1 − κ).
    pub kappa: f64,
    /// Share of the training steps with plain training before the ramp.
    pub warmup: f64,
    /// Share of the training steps over which ε rises from 0 and κ falls from 1 to their final values.
    pub ramp: f64,
}

/// Everything needed to rebuild the network around its weights (`config.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub format: String,
    pub input: ImageShape,
    pub classes: Vec<String>,
    pub normalization: Normalization,
    pub architecture: Architecture,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<TrainingInfo>,
}

impl ModelConfig {
    /// Checks internal consistency; `path` names the file in errors.
    fn validate(&self, path: &Path) -> Result<()> {
        let bad = |message: String| ClassifierError::Corrupt { path: path.to_path_buf(), message };
        if self.format != FORMAT {
            return Err(bad(format!("format {:?}, expected {FORMAT:?}", self.format)));
        }
        let s = self.input;
        if s.height == 0 || s.width == 0 || !(s.channels == 1 || s.channels == 3) {
            return Err(bad(format!("input shape {s} (need height, width > 0 and 1 or 3 channels)")));
        }
        if self.classes.len() < 2 {
            return Err(bad(format!("{} classes (need at least 2)", self.classes.len())));
        }
        let mut names = self.classes.clone();
        names.sort();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(bad(format!("class {:?} listed twice", w[0])));
        }
        let n = &self.normalization;
        if n.mean.len() != s.channels || n.std.len() != s.channels {
            return Err(bad(format!(
                "normalisation has {}/{} values for {} channels",
                n.mean.len(),
                n.std.len(),
                s.channels
            )));
        }
        if n.std.iter().any(|v| !(v.is_finite() && *v > 0.0)) || n.mean.iter().any(|v| !v.is_finite()) {
            return Err(bad("normalisation std must be finite and > 0, mean finite".into()));
        }
        validate_architecture(&self.architecture, s).map_err(|e| bad(e.to_string()))
    }

    /// Shapes of the parameter tensors, in order, with their names in the weights file.
    fn param_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let mut out = Vec::new();
        let mut c_in = self.input.channels;
        for (i, c) in self.architecture.conv.iter().enumerate() {
            out.push((format!("conv{i}.weight"), vec![c.channels, c_in, c.kernel, c.kernel]));
            out.push((format!("conv{i}.bias"), vec![c.channels]));
            c_in = c.channels;
        }
        let (h, w) = match self.architecture.pool {
            Pooling::Flatten => conv_output_hw(&self.architecture, self.input),
            Pooling::Global => (1, 1),
        };
        let flat = c_in * h * w;
        out.push(("fc0.weight".into(), vec![self.architecture.hidden, flat]));
        out.push(("fc0.bias".into(), vec![self.architecture.hidden]));
        out.push(("fc1.weight".into(), vec![self.classes.len(), self.architecture.hidden]));
        out.push(("fc1.bias".into(), vec![self.classes.len()]));
        out
    }
}

/// Output height and width after all convolutions.
fn conv_output_hw(arch: &Architecture, input: ImageShape) -> (usize, usize) {
    let (mut h, mut w) = (input.height, input.width);
    for c in &arch.conv {
        let p = c.kernel / 2;
        h = (h + 2 * p - c.kernel) / c.stride + 1;
        w = (w + 2 * p - c.kernel) / c.stride + 1;
    }
    (h, w)
}

pub(crate) fn validate_architecture(arch: &Architecture, input: ImageShape) -> Result<()> {
    if arch.conv.is_empty() || arch.hidden == 0 {
        return Err(invalid("architecture", "need at least one convolution and a hidden layer of width > 0"));
    }
    let (mut h, mut w) = (input.height, input.width);
    for (i, c) in arch.conv.iter().enumerate() {
        if c.channels == 0 || c.kernel == 0 || c.kernel % 2 == 0 || c.stride == 0 {
            return Err(invalid(
                "architecture",
                format!("convolution {i}: {c:?} (need channels > 0, odd kernel, stride > 0)"),
            ));
        }
        let p = c.kernel / 2;
        if h + 2 * p < c.kernel || w + 2 * p < c.kernel {
            return Err(invalid("architecture", format!("convolution {i} is larger than its {h}×{w} input")));
        }
        h = (h + 2 * p - c.kernel) / c.stride + 1;
        w = (w + 2 * p - c.kernel) / c.stride + 1;
    }
    Ok(())
}

/// A trained (or freshly initialised) classifier. Cheap to share across threads (`&self` everywhere).
#[derive(Debug, Clone)]
pub struct Classifier {
    config: ModelConfig,
    /// Parameters in `param_shapes` order, detached from any autograd graph.
    params: Vec<Tensor>,
    mean: Tensor,
    inv_std: Tensor,
}

/// The forward pass shared by training (params are `Var`s) and inference (plain tensors).
/// `x`: (n, h·w·c) in [0, 1], row-major (y, x, channel). Returns logits (n, classes). With `taps`, the activation
/// after each convolution's ReLU (n, h, w, c) and after the hidden ReLU (n, hidden) are pushed in that order
/// ([`crate::features`] reads them).
///
/// Activations stay channel-last, so the input rows need no transposition; convolutions go through
/// [`crate::conv::conv2d_nhwc`]. The weights keep the usual layouts (kernels `(c_out, c_in, k, k)`, `fc0` columns
/// in channel-first `(c, y, x)` flattening order), so the network is the same function as the channel-first
/// `Tensor::conv2d` formulation (`tests` check this against [`forward_reference`]).
pub(crate) fn forward(
    config: &ModelConfig,
    params: &[Tensor],
    mean: &Tensor,
    inv_std: &Tensor,
    x: &Tensor,
    mut taps: Option<&mut Vec<Tensor>>,
) -> Result<Tensor> {
    let s = config.input;
    let n = x.dim(0)?;
    let mut h = x
        .reshape((n * s.height * s.width, s.channels))?
        .broadcast_sub(mean)?
        .broadcast_mul(inv_std)?
        .reshape((n, s.height, s.width, s.channels))?;
    let mut k = 0;
    for c in &config.architecture.conv {
        h = crate::conv::conv2d_nhwc(&h, &params[k], &params[k + 1], c.stride)?.relu()?;
        if let Some(t) = taps.as_deref_mut() {
            t.push(h.clone());
        }
        k += 2;
    }
    if config.architecture.pool == Pooling::Global {
        h = h.mean_keepdim((1, 2))?;
    }
    let (_, ho, wo, c_last) = h.dims4()?;
    let h = h.reshape((n, ho * wo * c_last))?;
    // fc0's columns are in (c, y, x) order; reorder them to the (y, x, c) order of the activations.
    let hidden = config.architecture.hidden;
    let w0 = params[k].reshape((hidden, c_last, ho, wo))?.permute((0, 2, 3, 1))?.reshape((hidden, ho * wo * c_last))?;
    let h = h.matmul(&w0.t()?)?.broadcast_add(&params[k + 1])?.relu()?;
    if let Some(t) = taps {
        t.push(h.clone());
    }
    Ok(h.matmul(&params[k + 2].t()?)?.broadcast_add(&params[k + 3])?)
}

/// The same network written with candle's channel-first `conv2d` (slower backward); the reference that
/// [`forward`] is tested against.
#[doc(hidden)]
pub fn forward_reference(model: &Classifier, x: ArrayView2<f32>) -> Result<Array2<f32>> {
    let config = &model.config;
    let s = config.input;
    let t = rows_tensor(x)?;
    let n = t.dim(0)?;
    let c = s.channels;
    let mean = model.mean.reshape((1, c, 1, 1))?;
    let inv_std = model.inv_std.reshape((1, c, 1, 1))?;
    let mut h = t.reshape((n, s.height, s.width, c))?.permute((0, 3, 1, 2))?.contiguous()?;
    h = h.broadcast_sub(&mean)?.broadcast_mul(&inv_std)?;
    let params = &model.params;
    let mut k = 0;
    for cs in &config.architecture.conv {
        let (w, b) = (&params[k], &params[k + 1]);
        k += 2;
        h = h.conv2d(w, cs.kernel / 2, cs.stride, 1, 1)?.broadcast_add(&b.reshape((1, cs.channels, 1, 1))?)?.relu()?;
    }
    if config.architecture.pool == Pooling::Global {
        h = h.mean_keepdim((2, 3))?;
    }
    let h = h.flatten_from(1)?;
    let h = h.matmul(&params[k].t()?)?.broadcast_add(&params[k + 1])?.relu()?;
    let logits = h.matmul(&params[k + 2].t()?)?.broadcast_add(&params[k + 3])?;
    let v = logits.flatten_all()?.to_vec1::<f32>()?;
    Array2::from_shape_vec((n, model.n_classes()), v).map_err(|e| invalid("model output", e.to_string()))
}

impl Classifier {
    /// Builds a classifier from a config and parameter tensors (validated against the config's shapes).
    pub(crate) fn from_parts(config: ModelConfig, params: Vec<Tensor>) -> Result<Self> {
        let c = config.input.channels;
        let mean = Tensor::from_slice(&config.normalization.mean, (1, c), &Device::Cpu)?;
        let inv: Vec<f32> = config.normalization.std.iter().map(|s| 1.0 / s).collect();
        let inv_std = Tensor::from_slice(&inv, (1, c), &Device::Cpu)?;
        let params = params.iter().map(|p| p.detach()).collect();
        Ok(Classifier { config, params, mean, inv_std })
    }

    /// Parameters in file order (detached).
    pub(crate) fn params(&self) -> &[Tensor] {
        &self.params
    }

    pub(crate) fn mean_inv_std(&self) -> (&Tensor, &Tensor) {
        (&self.mean, &self.inv_std)
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    pub fn input_shape(&self) -> ImageShape {
        self.config.input
    }

    /// Values per input row (`height·width·channels`).
    pub fn input_len(&self) -> usize {
        self.config.input.len()
    }

    pub fn classes(&self) -> &[String] {
        &self.config.classes
    }

    pub fn n_classes(&self) -> usize {
        self.config.classes.len()
    }

    /// Number of trainable parameters.
    pub fn n_parameters(&self) -> usize {
        self.params.iter().map(|p| p.elem_count()).sum()
    }

    /// Index of a class by name; unknown names give an error listing the known classes.
    pub fn class_index(&self, name: &str) -> Result<usize> {
        self.config.classes.iter().position(|c| c == name).ok_or_else(|| ClassifierError::UnknownClass {
            name: name.to_string(),
            known: self.config.classes.join(", "),
        })
    }

    /// Checks that data of `shape` can be fed to the model.
    pub fn check_shape(&self, shape: ImageShape) -> Result<()> {
        if shape != self.config.input {
            return Err(ClassifierError::ShapeMismatch { data: shape, model: self.config.input });
        }
        Ok(())
    }

    fn check_rows(&self, x: &ArrayView2<f32>) -> Result<()> {
        if x.ncols() != self.input_len() {
            return Err(ClassifierError::InputSize {
                got: x.ncols(),
                expected: self.input_len(),
                shape: self.config.input,
            });
        }
        Ok(())
    }

    pub(crate) fn check_class(&self, class: usize) -> Result<()> {
        if class >= self.n_classes() {
            return Err(ClassifierError::ClassIndex { index: class, n_classes: self.n_classes() });
        }
        Ok(())
    }

    fn logits_tensor(&self, x: &Tensor) -> Result<Tensor> {
        forward(&self.config, &self.params, &self.mean, &self.inv_std, x, None)
    }

    /// Logits of a batch, pushing the hidden activations into `taps` (see [`forward`]).
    pub(crate) fn forward_taps(&self, x: &Tensor, taps: &mut Vec<Tensor>) -> Result<Tensor> {
        forward(&self.config, &self.params, &self.mean, &self.inv_std, x, Some(taps))
    }

    /// Class probabilities (softmax of the logits), one row per input row.
    pub fn predict_proba(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        self.check_rows(&x)?;
        let k = self.n_classes();
        let mut out = Array2::<f32>::zeros((x.nrows(), k));
        let mut start = 0;
        while start < x.nrows() {
            let end = (start + EVAL_BATCH).min(x.nrows());
            let t = rows_tensor(x.slice(ndarray::s![start..end, ..]))?;
            let p = candle_nn::ops::softmax(&self.logits_tensor(&t)?, D::Minus1)?;
            let v = p.flatten_all()?.to_vec1::<f32>()?;
            out.slice_mut(ndarray::s![start..end, ..]).assign(
                &ArrayView2::from_shape((end - start, k), &v).map_err(|e| invalid("model output", e.to_string()))?,
            );
            start = end;
        }
        Ok(out)
    }

    /// Predicted class and its probability for each row.
    pub fn predict(&self, x: ArrayView2<f32>) -> Result<Vec<(usize, f32)>> {
        Ok(self.predict_proba(x)?.rows().into_iter().map(|r| argmax(r.as_slice().unwrap_or(&r.to_vec()))).collect())
    }

    /// For each row i: `log p(classes[i] | x_i)`, its gradient with respect to the input pixels, and all class
    /// probabilities. Rows do not interact (no batch statistics), so each gradient is that of its own row.
    pub fn log_prob_grad(&self, x: ArrayView2<f32>, classes: &[usize]) -> Result<(Vec<f32>, Array2<f32>, Array2<f32>)> {
        self.check_rows(&x)?;
        if classes.len() != x.nrows() {
            return Err(invalid("classes", format!("{} classes for {} rows", classes.len(), x.nrows())));
        }
        for &c in classes {
            self.check_class(c)?;
        }
        let (n, d, k) = (x.nrows(), x.ncols(), self.n_classes());
        let mut logp = Vec::with_capacity(n);
        let mut grad = Array2::<f32>::zeros((n, d));
        let mut probs = Array2::<f32>::zeros((n, k));
        let mut start = 0;
        while start < n {
            let end = (start + EVAL_BATCH).min(n);
            let var = Var::from_tensor(&rows_tensor(x.slice(ndarray::s![start..end, ..]))?)?;
            let logits = self.logits_tensor(var.as_tensor())?;
            let lsm = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
            let idx: Vec<u32> = classes[start..end].iter().map(|&c| c as u32).collect();
            let idx = Tensor::from_vec(idx, (end - start, 1), &Device::Cpu)?;
            let picked = lsm.gather(&idx, 1)?;
            let grads = picked.sum_all()?.backward()?;
            let g = grads.get(var.as_tensor()).ok_or_else(|| invalid("gradient", "input gradient missing"))?;
            let gv = g.flatten_all()?.to_vec1::<f32>()?;
            grad.slice_mut(ndarray::s![start..end, ..]).assign(
                &ArrayView2::from_shape((end - start, d), &gv).map_err(|e| invalid("gradient", e.to_string()))?,
            );
            logp.extend(picked.flatten_all()?.to_vec1::<f32>()?);
            let pv = lsm.exp()?.flatten_all()?.to_vec1::<f32>()?;
            probs.slice_mut(ndarray::s![start..end, ..]).assign(
                &ArrayView2::from_shape((end - start, k), &pv).map_err(|e| invalid("model output", e.to_string()))?,
            );
            start = end;
        }
        Ok((logp, grad, probs))
    }

    /// Saves the model as `dir/model.safetensors` + `dir/config.json` (each written atomically).
    pub fn save(&self, dir: &Path) -> Result<()> {
        output::create_dir(dir)?;
        let names = self.config.param_shapes();
        let data: Vec<(String, &Tensor)> = names.into_iter().map(|(n, _)| n).zip(self.params.iter()).collect();
        let bytes = safetensors::serialize(data, None).map_err(|e| invalid("weights", e.to_string()))?;
        output::write_bytes(&dir.join(WEIGHTS_FILE), &bytes)?;
        output::write_json(&dir.join(CONFIG_FILE), &self.config)?;
        Ok(())
    }

    /// Loads a model folder (or the `config.json` / `model.safetensors` inside it). Corrupt files, weights that do
    /// not match the config, and unreadable files give errors naming the file.
    pub fn load(path: &Path) -> Result<Self> {
        let dir = model_dir(path);
        let config_path = dir.join(CONFIG_FILE);
        let weights_path = dir.join(WEIGHTS_FILE);
        let text = std::fs::read_to_string(&config_path)
            .map_err(|source| ClassifierError::Io { path: config_path.clone(), source })?;
        let config: ModelConfig = serde_json::from_str(&text)
            .map_err(|e| ClassifierError::Corrupt { path: config_path.clone(), message: e.to_string() })?;
        config.validate(&config_path)?;
        let bytes = std::fs::read(&weights_path)
            .map_err(|source| ClassifierError::Io { path: weights_path.clone(), source })?;
        let st = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| ClassifierError::Corrupt { path: weights_path.clone(), message: e.to_string() })?;
        let mismatch = |message: String| ClassifierError::WeightsMismatch { path: weights_path.clone(), message };
        let expected = config.param_shapes();
        if st.len() != expected.len() {
            return Err(mismatch(format!("{} tensors, the config needs {}", st.len(), expected.len())));
        }
        let mut params = Vec::with_capacity(expected.len());
        for (name, shape) in expected {
            let view = st.tensor(&name).map_err(|_| mismatch(format!("tensor {name:?} is missing")))?;
            if view.dtype() != safetensors::Dtype::F32 {
                return Err(mismatch(format!("tensor {name:?} is {:?}, expected F32", view.dtype())));
            }
            if view.shape() != shape.as_slice() {
                return Err(mismatch(format!(
                    "tensor {name:?} has shape {:?}, the config needs {shape:?}",
                    view.shape()
                )));
            }
            let values: Vec<f32> =
                view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            if values.iter().any(|v| !v.is_finite()) {
                return Err(ClassifierError::Corrupt {
                    path: weights_path.clone(),
                    message: format!("tensor {name:?} holds non-finite values"),
                });
            }
            params.push(Tensor::from_vec(values, shape, &Device::Cpu)?);
        }
        Classifier::from_parts(config, params)
    }

    /// Parameters as f32 vectors in file order (for tests and determinism checks).
    pub fn parameters(&self) -> Result<Vec<(String, Vec<f32>)>> {
        self.config
            .param_shapes()
            .into_iter()
            .zip(&self.params)
            .map(|((n, _), t)| Ok((n, t.flatten_all()?.to_vec1::<f32>()?)))
            .collect()
    }

    /// Replaces one parameter tensor's values (same length). Used by gradient checks and tests.
    pub fn with_parameter(&self, index: usize, values: Vec<f32>) -> Result<Self> {
        let mut params = self.params.clone();
        let old = params.get(index).ok_or_else(|| invalid("parameter index", index.to_string()))?;
        if old.elem_count() != values.len() {
            return Err(invalid(
                "parameter values",
                format!("{} values for {} entries", values.len(), old.elem_count()),
            ));
        }
        params[index] = Tensor::from_vec(values, old.shape(), &Device::Cpu)?;
        Classifier::from_parts(self.config.clone(), params)
    }

    pub(crate) fn param_shapes_for(config: &ModelConfig) -> Vec<(String, Vec<usize>)> {
        config.param_shapes()
    }
}

/// The folder of a model given the folder itself or a file inside it.
pub fn model_dir(path: &Path) -> PathBuf {
    let is_member = path.file_name().map(|n| n == CONFIG_FILE || n == WEIGHTS_FILE).unwrap_or(false);
    if is_member && !path.is_dir() {
        path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."))
    } else {
        path.to_path_buf()
    }
}

/// (n, d) f32 tensor from ndarray rows.
pub(crate) fn rows_tensor(x: ArrayView2<f32>) -> Result<Tensor> {
    let (n, d) = x.dim();
    let v: Vec<f32> = match x.as_slice() {
        Some(s) => s.to_vec(),
        None => x.iter().copied().collect(),
    };
    Ok(Tensor::from_vec(v, (n, d), &Device::Cpu)?.to_dtype(DType::F32)?)
}

/// Index and value of the largest entry (first one on ties).
pub fn argmax(v: &[f32]) -> (usize, f32) {
    let mut best = (0, f32::NEG_INFINITY);
    for (i, &x) in v.iter().enumerate() {
        if x > best.1 {
            best = (i, x);
        }
    }
    best
}
