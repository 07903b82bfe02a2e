//! The classifier as plain f64 affine layers with ReLU between them.
//!
//! A [`Net`] is `z_0 = W_0 x + b_0`, `z_k = W_k relu(z_{k-1}) + b_k`, the last `z` being the logits. Every layer is
//! stored sparsely (a convolution is an affine map with a few non-zeros per row), by rows (fan-in) and by columns
//! (fan-out). [`Net::from_classifier`] folds the classifier's per-channel input normalisation into the first layer
//! and lays every convolution out as such a map, activations in `(y, x, channel)` order; global average pooling is
//! folded into the hidden layer.

use classifier::Classifier;
use pixels::ImageShape;

use crate::error::{invalid, Result, StabilityError};

/// One affine map `z = W h + b`, stored by rows and by columns.
#[derive(Debug, Clone)]
pub struct Layer {
    n_in: usize,
    /// Row `o`: the `(input, weight)` pairs of output `o`.
    rows: Vec<Vec<(u32, f64)>>,
    /// Column `i`: the `(output, weight)` pairs fed by input `i`.
    cols: Vec<Vec<(u32, f64)>>,
    bias: Vec<f64>,
}

impl Layer {
    /// A layer from its rows (`(input, weight)` pairs, inputs < `n_in`) and bias (one per row).
    pub fn from_rows(n_in: usize, rows: Vec<Vec<(u32, f64)>>, bias: Vec<f64>) -> Result<Self> {
        if rows.len() != bias.len() || rows.is_empty() || n_in == 0 {
            return Err(StabilityError::Network {
                message: format!("{} rows, {} biases, {n_in} inputs", rows.len(), bias.len()),
            });
        }
        let mut cols = vec![Vec::new(); n_in];
        for (o, row) in rows.iter().enumerate() {
            for &(i, w) in row {
                if i as usize >= n_in || !w.is_finite() {
                    return Err(StabilityError::Network { message: format!("row {o}: input {i}, weight {w}") });
                }
                cols[i as usize].push((o as u32, w));
            }
        }
        Ok(Layer { n_in, rows, cols, bias })
    }

    /// A dense layer from a row-major `n_out × n_in` matrix (zeros are dropped).
    pub fn dense(n_in: usize, weights: &[f64], bias: Vec<f64>) -> Result<Self> {
        if n_in == 0 || weights.len() != n_in * bias.len() {
            return Err(StabilityError::Network {
                message: format!("{} weights for {} outputs × {n_in} inputs", weights.len(), bias.len()),
            });
        }
        let rows = weights
            .chunks(n_in)
            .map(|r| r.iter().enumerate().filter(|(_, w)| **w != 0.0).map(|(i, &w)| (i as u32, w)).collect())
            .collect();
        Layer::from_rows(n_in, rows, bias)
    }

    pub fn n_in(&self) -> usize {
        self.n_in
    }

    pub fn n_out(&self) -> usize {
        self.bias.len()
    }

    pub fn row(&self, o: usize) -> &[(u32, f64)] {
        &self.rows[o]
    }

    pub fn col(&self, i: usize) -> &[(u32, f64)] {
        &self.cols[i]
    }

    pub fn bias(&self) -> &[f64] {
        &self.bias
    }

    /// `W h + b`.
    pub fn apply(&self, h: &[f64]) -> Vec<f64> {
        self.rows
            .iter()
            .zip(&self.bias)
            .map(|(row, b)| b + row.iter().map(|&(i, w)| w * h[i as usize]).sum::<f64>())
            .collect()
    }

    /// `Wᵀ g`.
    pub fn apply_t(&self, g: &[f64]) -> Vec<f64> {
        self.cols.iter().map(|col| col.iter().map(|&(o, w)| w * g[o as usize]).sum()).collect()
    }

    /// Number of stored weights.
    pub fn nnz(&self) -> usize {
        self.rows.iter().map(Vec::len).sum()
    }
}

/// A ReLU network: affine layers with ReLU after every one but the last.
#[derive(Debug, Clone)]
pub struct Net {
    layers: Vec<Layer>,
    /// Shape of the input image, when the input is one.
    shape: Option<ImageShape>,
}

impl Net {
    /// Chains `layers` (each layer's inputs = the previous layer's outputs; at least one layer, ≥ 2 outputs).
    pub fn new(layers: Vec<Layer>, shape: Option<ImageShape>) -> Result<Self> {
        if layers.is_empty() || layers.last().map(Layer::n_out).unwrap_or(0) < 2 {
            return Err(StabilityError::Network { message: "need at least one layer and two classes".into() });
        }
        for (k, pair) in layers.windows(2).enumerate() {
            if pair[0].n_out() != pair[1].n_in() {
                return Err(StabilityError::Network {
                    message: format!(
                        "layer {k} has {} outputs, layer {} {} inputs",
                        pair[0].n_out(),
                        k + 1,
                        pair[1].n_in()
                    ),
                });
            }
        }
        if let Some(s) = shape {
            if s.len() != layers[0].n_in() {
                return Err(StabilityError::Network { message: format!("shape {s} for {} inputs", layers[0].n_in()) });
            }
        }
        Ok(Net { layers, shape })
    }

    /// The classifier's network in f64 (see the module docs).
    pub fn from_classifier(model: &Classifier) -> Result<Self> {
        let config = model.config();
        let s = config.input;
        let params = model.parameters()?;
        let as_f64 = |k: usize| -> Vec<f64> { params[k].1.iter().map(|&v| f64::from(v)).collect() };
        let mean: Vec<f64> = config.normalization.mean.iter().map(|&v| f64::from(v)).collect();
        let inv_std: Vec<f64> = config.normalization.std.iter().map(|&v| 1.0 / f64::from(v)).collect();
        let (mut h, mut w, mut c) = (s.height, s.width, s.channels);
        let mut layers = Vec::new();
        let mut k = 0;
        for spec in &config.architecture.conv {
            let (layer, ho, wo) =
                conv_layer(h, w, c, spec.channels, spec.kernel, spec.stride, &as_f64(k), &as_f64(k + 1))?;
            layers.push(layer);
            (h, w, c) = (ho, wo, spec.channels);
            k += 2;
        }
        // fc0's columns are in (channel, y, x) order; the activations are (y, x, channel). Global average pooling
        // is affine, so it is folded into fc0: every position of channel `ch` gets `w0[o, ch] / (h·w)`.
        let hidden = config.architecture.hidden;
        let w0 = as_f64(k);
        let flat = h * w * c;
        let pooled = config.architecture.pool == classifier::model::Pooling::Global;
        let mut rows = vec![Vec::with_capacity(flat); hidden];
        for (o, row) in rows.iter_mut().enumerate() {
            for y in 0..h {
                for x in 0..w {
                    for ch in 0..c {
                        let v =
                            if pooled { w0[o * c + ch] / (h * w) as f64 } else { w0[o * flat + (ch * h + y) * w + x] };
                        if v != 0.0 {
                            row.push((((y * w + x) * c + ch) as u32, v));
                        }
                    }
                }
            }
        }
        layers.push(Layer::from_rows(flat, rows, as_f64(k + 1))?);
        layers.push(Layer::dense(hidden, &as_f64(k + 2), as_f64(k + 3))?);
        fold_normalization(&mut layers[0], &mean, &inv_std);
        Net::new(layers, Some(s))
    }

    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    pub fn shape(&self) -> Option<ImageShape> {
        self.shape
    }

    pub fn n_inputs(&self) -> usize {
        self.layers[0].n_in()
    }

    pub fn n_classes(&self) -> usize {
        self.layers.last().map(Layer::n_out).unwrap_or(0)
    }

    /// Pre-activations of every layer (the last entry holds the logits).
    pub fn pre_activations(&self, x: &[f64]) -> Vec<Vec<f64>> {
        let mut out: Vec<Vec<f64>> = Vec::with_capacity(self.layers.len());
        for (k, layer) in self.layers.iter().enumerate() {
            let z = if k == 0 { layer.apply(x) } else { layer.apply(&relu(&out[k - 1])) };
            out.push(z);
        }
        out
    }

    pub fn logits(&self, x: &[f64]) -> Vec<f64> {
        self.pre_activations(x).pop().unwrap_or_default()
    }

    /// `min_{j≠class} (logit_class − logit_j)` at `x`: positive iff `class` is the strict argmax.
    pub fn margin(&self, x: &[f64], class: usize) -> f64 {
        margin_of(&self.logits(x), class).0
    }

    /// Gradient of every logit with respect to `x` (rows per class; ReLU'(0) = 0).
    pub fn jacobian(&self, x: &[f64]) -> Vec<Vec<f64>> {
        let z = self.pre_activations(x);
        (0..self.n_classes())
            .map(|c| {
                let mut g = vec![0.0; self.n_classes()];
                g[c] = 1.0;
                self.backward(&z, g)
            })
            .collect()
    }

    /// `g` (a gradient with respect to the logits) pulled back to the input through the pattern of `z`.
    fn backward(&self, z: &[Vec<f64>], mut g: Vec<f64>) -> Vec<f64> {
        for k in (0..self.layers.len()).rev() {
            if k + 1 < self.layers.len() {
                g.iter_mut().zip(&z[k]).for_each(|(g, &z)| {
                    if z <= 0.0 {
                        *g = 0.0
                    }
                });
            }
            g = self.layers[k].apply_t(&g);
        }
        g
    }

    /// The margin and its gradient with respect to `x` (for the runner-up class at `x`; ReLU'(0) = 0).
    pub fn margin_grad(&self, x: &[f64], class: usize) -> (f64, Vec<f64>) {
        let z = self.pre_activations(x);
        let (m, j) = margin_of(&z[z.len() - 1], class);
        let mut g = vec![0.0; self.n_classes()];
        g[class] = 1.0;
        g[j] -= 1.0;
        for k in (0..self.layers.len()).rev() {
            if k + 1 < self.layers.len() {
                g.iter_mut().zip(&z[k]).for_each(|(g, &z)| {
                    if z <= 0.0 {
                        *g = 0.0
                    }
                });
            }
            g = self.layers[k].apply_t(&g);
        }
        (m, g)
    }
}

/// `(min_{j≠class} (logits[class] − logits[j]), the minimising j)`.
pub fn margin_of(logits: &[f64], class: usize) -> (f64, usize) {
    let mut best = (f64::INFINITY, usize::from(class == 0));
    for (j, &l) in logits.iter().enumerate() {
        if j != class && logits[class] - l < best.0 {
            best = (logits[class] - l, j);
        }
    }
    best
}

pub(crate) fn relu(z: &[f64]) -> Vec<f64> {
    z.iter().map(|&v| v.max(0.0)).collect()
}

/// `(x − mean_c) · inv_std_c` folded into the first layer's weights and bias (inputs are `(y, x, channel)`).
fn fold_normalization(layer: &mut Layer, mean: &[f64], inv_std: &[f64]) {
    let c = mean.len();
    for (row, b) in layer.rows.iter_mut().zip(layer.bias.iter_mut()) {
        for (i, w) in row.iter_mut() {
            let ch = *i as usize % c;
            *b -= *w * mean[ch] * inv_std[ch];
            *w *= inv_std[ch];
        }
    }
    for col in layer.cols.iter_mut().enumerate() {
        let ch = col.0 % c;
        col.1.iter_mut().for_each(|(_, w)| *w *= inv_std[ch]);
    }
}

/// A convolution (kernel `(c_out, c_in, k, k)`, zero padding `k / 2`, `stride`) on `(y, x, channel)` activations as
/// an affine layer. Returns the layer and the output height and width.
pub fn conv_layer(
    h: usize,
    w: usize,
    c_in: usize,
    c_out: usize,
    k: usize,
    stride: usize,
    kernel: &[f64],
    bias: &[f64],
) -> Result<(Layer, usize, usize)> {
    if kernel.len() != c_out * c_in * k * k || bias.len() != c_out || stride == 0 || k.is_multiple_of(2) {
        return Err(invalid(
            "convolution",
            format!("{} weights, {} biases for {c_out}×{c_in}×{k}×{k}", kernel.len(), bias.len()),
        ));
    }
    let pad = k / 2;
    if h + 2 * pad < k || w + 2 * pad < k {
        return Err(invalid("convolution", format!("kernel {k} larger than its {h}×{w} input")));
    }
    let (ho, wo) = ((h + 2 * pad - k) / stride + 1, (w + 2 * pad - k) / stride + 1);
    let mut rows = Vec::with_capacity(ho * wo * c_out);
    let mut biases = Vec::with_capacity(ho * wo * c_out);
    for oy in 0..ho {
        for ox in 0..wo {
            for co in 0..c_out {
                let mut row = Vec::new();
                for ky in 0..k {
                    for kx in 0..k {
                        let (Some(iy), Some(ix)) =
                            ((oy * stride + ky).checked_sub(pad), (ox * stride + kx).checked_sub(pad))
                        else {
                            continue;
                        };
                        if iy >= h || ix >= w {
                            continue;
                        }
                        for ci in 0..c_in {
                            let v = kernel[((co * c_in + ci) * k + ky) * k + kx];
                            if v != 0.0 {
                                row.push((((iy * w + ix) * c_in + ci) as u32, v));
                            }
                        }
                    }
                }
                rows.push(row);
                biases.push(bias[co]);
            }
        }
    }
    Ok((Layer::from_rows(h * w * c_in, rows, biases)?, ho, wo))
}
