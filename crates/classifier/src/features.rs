//! The network's activations at named layers, for scores computed in feature space.
//!
//! Layers are named `conv1`, …, `convN` (the output of each convolution's ReLU, flattened in `(y, x, channel)`
//! order), `hidden` (the hidden layer's ReLU) and `logits`. [`Classifier::activations`] computes any of them with
//! the same forward pass as [`Classifier::predict_proba`], [`crate::model`]'s `EVAL_BATCH` rows at a time.
//! A feature specification on the command line is `MODEL[:LAYER,…]` ([`FeatureSpec`]).

use std::path::PathBuf;

use ndarray::{s, Array2, ArrayView2};

use crate::error::{ClassifierError, Result};
use crate::model::{rows_tensor, Classifier, EVAL_BATCH};

/// One layer whose output can be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    /// The output of convolution `i` (0-based; named `conv{i+1}`) after its ReLU.
    Conv(usize),
    /// The hidden layer after its ReLU.
    Hidden,
    /// The class logits (before the softmax).
    Logits,
}

impl std::fmt::Display for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Layer::Conv(i) => write!(f, "conv{}", i + 1),
            Layer::Hidden => f.write_str("hidden"),
            Layer::Logits => f.write_str("logits"),
        }
    }
}

/// Shape of one layer's output for one image: `height × width × channels` (1 × 1 × width for `hidden`/`logits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerShape {
    pub height: usize,
    pub width: usize,
    pub channels: usize,
}

impl LayerShape {
    /// Values per image.
    pub fn len(&self) -> usize {
        self.height * self.width * self.channels
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Classifier {
    /// Every layer whose activations can be read, input to output: `conv1..convN`, `hidden`, `logits`.
    pub fn layers(&self) -> Vec<Layer> {
        let mut v: Vec<Layer> = (0..self.config().architecture.conv.len()).map(Layer::Conv).collect();
        v.extend([Layer::Hidden, Layer::Logits]);
        v
    }

    /// The hidden layers (every layer but the logits): the default of the feature-space scores.
    pub fn hidden_layers(&self) -> Vec<Layer> {
        let mut v = self.layers();
        v.pop();
        v
    }

    /// The layer called `name` (`conv1`, …, `hidden`, `logits`); unknown names give an error listing the known ones.
    pub fn layer(&self, name: &str) -> Result<Layer> {
        let name = name.trim();
        self.layers().into_iter().find(|l| l.to_string() == name).ok_or_else(|| ClassifierError::UnknownLayer {
            name: name.to_string(),
            known: self.layers().iter().map(Layer::to_string).collect::<Vec<_>>().join(", "),
        })
    }

    /// Parses a comma-separated list of layer names; repeats and unknown names are errors.
    pub fn parse_layers(&self, list: &str) -> Result<Vec<Layer>> {
        let mut out = Vec::new();
        for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let l = self.layer(part)?;
            if out.contains(&l) {
                return Err(crate::error::invalid("layers", format!("{l} is listed twice in {list:?}")));
            }
            out.push(l);
        }
        if out.is_empty() {
            return Err(crate::error::invalid("layers", format!("no layer named in {list:?}")));
        }
        Ok(out)
    }

    /// Output shape of `layer` for one image.
    pub fn layer_shape(&self, layer: Layer) -> LayerShape {
        let cfg = self.config();
        match layer {
            Layer::Conv(i) => {
                let (mut h, mut w) = (cfg.input.height, cfg.input.width);
                for c in &cfg.architecture.conv[..=i] {
                    let p = c.kernel / 2;
                    h = (h + 2 * p - c.kernel) / c.stride + 1;
                    w = (w + 2 * p - c.kernel) / c.stride + 1;
                }
                LayerShape { height: h, width: w, channels: cfg.architecture.conv[i].channels }
            }
            Layer::Hidden => LayerShape { height: 1, width: 1, channels: cfg.architecture.hidden },
            Layer::Logits => LayerShape { height: 1, width: 1, channels: self.n_classes() },
        }
    }

    /// Activations of every row of `x` at each of `layers` (one n × len matrix per layer, in the order given;
    /// convolution outputs flattened in `(y, x, channel)` order). One forward pass per batch of rows, the pass
    /// that [`Classifier::predict_proba`] makes, so the `logits` are exactly the logits behind its probabilities.
    pub fn activations(&self, x: ArrayView2<f32>, layers: &[Layer]) -> Result<Vec<Array2<f32>>> {
        if x.ncols() != self.input_len() {
            return Err(ClassifierError::InputSize {
                got: x.ncols(),
                expected: self.input_len(),
                shape: self.input_shape(),
            });
        }
        let all = self.layers();
        for l in layers {
            if !all.contains(l) {
                return Err(ClassifierError::UnknownLayer {
                    name: l.to_string(),
                    known: all.iter().map(Layer::to_string).collect::<Vec<_>>().join(", "),
                });
            }
        }
        let n = x.nrows();
        let mut out: Vec<Array2<f32>> = layers.iter().map(|&l| Array2::zeros((n, self.layer_shape(l).len()))).collect();
        let mut start = 0;
        while start < n {
            let end = (start + EVAL_BATCH).min(n);
            let t = rows_tensor(x.slice(s![start..end, ..]))?;
            let mut taps = Vec::with_capacity(all.len());
            let logits = self.forward_taps(&t, &mut taps)?;
            taps.push(logits);
            for (m, l) in out.iter_mut().zip(layers) {
                let idx = all.iter().position(|a| a == l).expect("checked above");
                let len = m.ncols();
                let v = taps[idx].flatten_all()?.to_vec1::<f32>()?;
                let view = ArrayView2::from_shape((end - start, len), &v)
                    .map_err(|e| crate::error::invalid("activations", e.to_string()))?;
                m.slice_mut(s![start..end, ..]).assign(&view);
            }
            start = end;
        }
        Ok(out)
    }

    /// For each row i, the gradient with respect to the input pixels of ⟨wᵢ, aᵢ⟩, aᵢ the row's activations at
    /// `layer` (flattened as [`Classifier::activations`] returns them): the network's Jacobian at xᵢ transposed,
    /// applied to wᵢ. Rows do not interact, so one backward pass per batch gives every row's own gradient.
    pub fn layer_input_gradient(&self, x: ArrayView2<f32>, layer: Layer, w: ArrayView2<f32>) -> Result<Array2<f32>> {
        let len = self.layer_shape(layer).len();
        if x.ncols() != self.input_len() {
            return Err(ClassifierError::InputSize {
                got: x.ncols(),
                expected: self.input_len(),
                shape: self.input_shape(),
            });
        }
        if w.dim() != (x.nrows(), len) {
            return Err(crate::error::invalid(
                "layer weights",
                format!("{:?} for {} rows of {len} values at {layer}", w.dim(), x.nrows()),
            ));
        }
        let all = self.layers();
        let idx = all.iter().position(|&a| a == layer).ok_or_else(|| ClassifierError::UnknownLayer {
            name: layer.to_string(),
            known: all.iter().map(Layer::to_string).collect::<Vec<_>>().join(", "),
        })?;
        let (n, d) = x.dim();
        let mut grad = Array2::<f32>::zeros((n, d));
        let mut start = 0;
        while start < n {
            let end = (start + EVAL_BATCH).min(n);
            let var = candle_core::Var::from_tensor(&rows_tensor(x.slice(s![start..end, ..]))?)?;
            let mut taps = Vec::with_capacity(all.len());
            let logits = self.forward_taps(var.as_tensor(), &mut taps)?;
            taps.push(logits);
            let a = taps.swap_remove(idx).reshape((end - start, len))?;
            let wt = rows_tensor(w.slice(s![start..end, ..]))?;
            let grads = (a * wt)?.sum_all()?.backward()?;
            let g = grads
                .get(var.as_tensor())
                .ok_or_else(|| crate::error::invalid("gradient", "input gradient missing"))?
                .flatten_all()?
                .to_vec1::<f32>()?;
            let view = ArrayView2::from_shape((end - start, d), &g)
                .map_err(|e| crate::error::invalid("gradient", e.to_string()))?;
            grad.slice_mut(s![start..end, ..]).assign(&view);
            start = end;
        }
        Ok(grad)
    }
}

/// Activations of a reference and a query collection at the same layers, with the reference's predicted classes:
/// what the feature-space scores take.
#[derive(Debug, Clone)]
pub struct FeatureMatrices {
    pub layers: Vec<Layer>,
    pub shapes: Vec<LayerShape>,
    pub reference: Vec<Array2<f32>>,
    pub query: Vec<Array2<f32>>,
    /// The logits of every reference and query row (the `softmax` score's input), whatever `layers` holds.
    pub reference_logits: Array2<f32>,
    pub query_logits: Array2<f32>,
    /// The model's predicted class of every reference row (argmax of the logits of the same forward pass).
    pub reference_predicted: Vec<usize>,
    pub n_classes: usize,
    /// Per layer (when Mahalanobis pre-processing ran, else empty): the activations of the pre-processed
    /// calibration reference rows and query rows ([`crate::feature_scores::preprocess`]).
    pub preprocessed: Vec<(Array2<f32>, Array2<f32>)>,
}

impl FeatureMatrices {
    /// Every layer as the feature-space scores take it (`off_manifold::features::score_features`).
    pub fn layer_features(&self) -> Vec<off_manifold::features::LayerFeatures<'_>> {
        (0..self.layers.len())
            .map(|i| off_manifold::features::LayerFeatures {
                name: self.layers[i].to_string(),
                channels: self.shapes[i].channels,
                reference: self.reference[i].view(),
                query: self.query[i].view(),
                preprocessed: self
                    .preprocessed
                    .get(i)
                    .map(|(c, q)| off_manifold::features::PreprocessedRows { calibration: c.view(), query: q.view() }),
            })
            .collect()
    }

    /// The logits as the `softmax` score takes them.
    pub fn logits(&self) -> off_manifold::features::Logits<'_> {
        off_manifold::features::Logits { reference: self.reference_logits.view(), query: self.query_logits.view() }
    }

    /// The reference's predicted classes as the class labels of the Mahalanobis score.
    pub fn reference_labels(&self) -> off_manifold::features::ReferenceLabels {
        off_manifold::features::ReferenceLabels {
            labels: self.reference_predicted.clone(),
            n_classes: self.n_classes,
            source: "the model's predicted class of every reference image".into(),
        }
    }
}

/// Bytes the activations of `n` rows at `layers` take.
pub fn activation_bytes(model: &Classifier, layers: &[Layer], n: usize) -> u128 {
    layers.iter().map(|&l| model.layer_shape(l).len() as u128).sum::<u128>() * 4 * n as u128
}

/// Activations of `reference` and `query` at `layers`, their logits, and the reference's predicted classes.
pub fn feature_matrices(
    model: &Classifier,
    layers: &[Layer],
    reference: ArrayView2<f32>,
    query: ArrayView2<f32>,
) -> Result<FeatureMatrices> {
    let mut with_logits = layers.to_vec();
    let at = match with_logits.iter().position(|&l| l == Layer::Logits) {
        Some(i) => i,
        None => {
            with_logits.push(Layer::Logits);
            layers.len()
        }
    };
    let mut r = model.activations(reference, &with_logits)?;
    let mut q = model.activations(query, &with_logits)?;
    let reference_logits = r[at].clone();
    let query_logits = q[at].clone();
    let reference_predicted = reference_logits
        .rows()
        .into_iter()
        .map(|row| crate::model::argmax(&row.iter().copied().collect::<Vec<_>>()).0)
        .collect();
    r.truncate(layers.len());
    q.truncate(layers.len());
    Ok(FeatureMatrices {
        layers: layers.to_vec(),
        shapes: layers.iter().map(|&l| model.layer_shape(l)).collect(),
        reference: r,
        query: q,
        reference_logits,
        query_logits,
        reference_predicted,
        n_classes: model.n_classes(),
        preprocessed: Vec::new(),
    })
}

/// A `MODEL[:LAYER,…]` specification: a model folder and, optionally, the layers to read (default: every hidden
/// layer, [`Classifier::hidden_layers`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureSpec {
    pub model: PathBuf,
    /// Layer names as given (checked against the model by [`FeatureSpec::layers_of`]).
    pub layers: Option<Vec<String>>,
}

impl FeatureSpec {
    /// Parses `MODEL` or `MODEL:LAYER,…`. The text after the last `:` is a layer list when it holds no path
    /// separator (so `C:\models\m` and `dir:with/colon` stay paths).
    pub fn parse(s: &str) -> Result<FeatureSpec> {
        if s.trim().is_empty() {
            return Err(crate::error::invalid("features", "empty: expected MODEL[:LAYER,...]"));
        }
        if let Some((model, layers)) = s.rsplit_once(':') {
            if !model.is_empty() && !layers.contains('/') && !layers.contains('\\') {
                let names: Vec<String> =
                    layers.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect();
                if names.is_empty() {
                    return Err(crate::error::invalid("features", format!("{s:?} names no layer after ':'")));
                }
                return Ok(FeatureSpec { model: PathBuf::from(model), layers: Some(names) });
            }
        }
        Ok(FeatureSpec { model: PathBuf::from(s), layers: None })
    }

    /// The layers this specification names, checked against `model` (unknown names are errors naming them).
    pub fn layers_of(&self, model: &Classifier) -> Result<Vec<Layer>> {
        match &self.layers {
            None => Ok(model.hidden_layers()),
            Some(names) => model.parse_layers(&names.join(",")),
        }
    }
}

impl std::str::FromStr for FeatureSpec {
    type Err = ClassifierError;
    fn from_str(s: &str) -> Result<FeatureSpec> {
        FeatureSpec::parse(s)
    }
}

impl std::fmt::Display for FeatureSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.model.display())?;
        if let Some(l) = &self.layers {
            write!(f, ":{}", l.join(","))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_parsing() {
        let s = FeatureSpec::parse("out/model:conv2, hidden").unwrap();
        assert_eq!(s.model, PathBuf::from("out/model"));
        assert_eq!(s.layers, Some(vec!["conv2".to_string(), "hidden".to_string()]));
        assert_eq!(s.to_string(), "out/model:conv2,hidden");
        let s = FeatureSpec::parse("out/model").unwrap();
        assert_eq!((s.model, s.layers), (PathBuf::from("out/model"), None));
        // A colon inside the path is part of the path.
        let s = FeatureSpec::parse("a:b/model").unwrap();
        assert_eq!((s.model, s.layers), (PathBuf::from("a:b/model"), None));
        assert!(FeatureSpec::parse("m:").is_err());
        assert!(FeatureSpec::parse("").is_err());
    }
}
