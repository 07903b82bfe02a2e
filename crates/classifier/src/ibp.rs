//! Interval bound propagation (IBP) through the network in candle, so that gradients flow to the weights: the bound
//! that certified training ([`crate::train`] with `certified_eps > 0`) minimises, and a cheap certificate.
//!
//! Over the input box `[x − ε, x + ε] ∩ [0, 1]` every layer's values are kept as a centre `c` and a radius `r`
//! (the interval `[c − r, c + r]`): the normalisation `(x − mean)/std` maps them to `((c − mean)/std, r/std)`; an
//! affine layer `W h + b` (convolution or matrix product) to `(W c + b, |W| r)`; a ReLU to the centre and radius of
//! `[relu(c − r), relu(c + r)]`; global average pooling and flattening are linear with non-negative weights and
//! act on both alike. The last layer is folded into the margins (the specification-matrix form of Gowal et al.
//! 2018): the lower bound of `z_y − z_j` is `(w_y − w_j)·c − |w_y − w_j|·r + b_y − b_j`, tighter than subtracting
//! the logits' own intervals. These are the same bounds as `stability::ibp` computes in f64 (tested there).

use candle_core::{Device, Tensor, D};
use ndarray::{Array2, ArrayView2};

use crate::error::{invalid, Result};
use crate::model::{rows_tensor, Classifier, ModelConfig, Pooling, EVAL_BATCH};

/// Lower bounds of the margins `z_y − z_j` (`(n, classes)`, 0 at `j = y`) over the L∞ boxes of radius `eps` around
/// the rows of `x` (`(n, h·w·c)` in [0, 1]) clipped to [0, 1]; `labels` is an `(n,)` u32 tensor. Differentiable in
/// `params` (the forward pass's parameter list).
pub(crate) fn margin_lower_bounds_t(
    config: &ModelConfig,
    params: &[Tensor],
    mean: &Tensor,
    inv_std: &Tensor,
    x: &Tensor,
    labels: &Tensor,
    eps: f64,
) -> Result<Tensor> {
    let s = config.input;
    let n = x.dim(0)?;
    let lo = (x - eps)?.clamp(0f32, 1f32)?;
    let hi = (x + eps)?.clamp(0f32, 1f32)?;
    let centre = ((&lo + &hi)? * 0.5)?;
    let radius = ((hi - lo)? * 0.5)?;
    let normalise = |t: Tensor, shift: bool| -> Result<Tensor> {
        let t = t.reshape((n * s.height * s.width, s.channels))?;
        let t = if shift { t.broadcast_sub(mean)? } else { t };
        Ok(t.broadcast_mul(inv_std)?.reshape((n, s.height, s.width, s.channels))?)
    };
    let (mut c, mut r) = (normalise(centre, true)?, normalise(radius, false)?);
    let mut k = 0;
    for spec in &config.architecture.conv {
        let (w, b) = (&params[k], &params[k + 1]);
        let zero = Tensor::zeros(b.dims(), b.dtype(), &Device::Cpu)?;
        let cz = crate::conv::conv2d_nhwc(&c, w, b, spec.stride)?;
        let rz = crate::conv::conv2d_nhwc(&r, &w.abs()?, &zero, spec.stride)?;
        (c, r) = relu_interval(&cz, &rz)?;
        k += 2;
    }
    if config.architecture.pool == Pooling::Global {
        c = c.mean_keepdim((1, 2))?;
        r = r.mean_keepdim((1, 2))?;
    }
    let (_, ho, wo, c_last) = c.dims4()?;
    let c = c.reshape((n, ho * wo * c_last))?;
    let r = r.reshape((n, ho * wo * c_last))?;
    // fc0's columns are in (c, y, x) order; reorder them to the (y, x, c) order of the activations (as `forward`).
    let hidden = config.architecture.hidden;
    let w0 = params[k].reshape((hidden, c_last, ho, wo))?.permute((0, 2, 3, 1))?.reshape((hidden, ho * wo * c_last))?;
    let cz = c.matmul(&w0.t()?)?.broadcast_add(&params[k + 1])?;
    let rz = r.matmul(&w0.abs()?.t()?)?;
    let (c, r) = relu_interval(&cz, &rz)?;
    // Margin rows w_y − w_j: (n, classes, hidden).
    let (w1, b1) = (&params[k + 2], &params[k + 3]);
    let diff = w1.index_select(labels, 0)?.unsqueeze(1)?.broadcast_sub(&w1.unsqueeze(0)?)?;
    let centre_part = diff.broadcast_mul(&c.unsqueeze(1)?)?.sum(D::Minus1)?;
    let radius_part = diff.abs()?.broadcast_mul(&r.unsqueeze(1)?)?.sum(D::Minus1)?;
    let bias = b1.index_select(labels, 0)?.unsqueeze(1)?.broadcast_sub(&b1.unsqueeze(0)?)?;
    Ok((centre_part - radius_part)?.add(&bias)?)
}

/// Centre and radius of `[relu(c − r), relu(c + r)]`.
fn relu_interval(c: &Tensor, r: &Tensor) -> Result<(Tensor, Tensor)> {
    let lo = (c - r)?.relu()?;
    let hi = (c + r)?.relu()?;
    Ok((((&hi + &lo)? * 0.5)?, ((hi - lo)? * 0.5)?))
}

/// The IBP loss of certified training: the cross-entropy of the worst-case logits `−lower(z_y − z_j)` (0 at the
/// label), an upper bound of the cross-entropy anywhere in the boxes.
pub(crate) fn worst_case_cross_entropy(lower: &Tensor, labels: &Tensor) -> Result<Tensor> {
    Ok(candle_nn::loss::cross_entropy(&lower.neg()?, labels)?)
}

/// Lower bounds of the margins `logit_label − logit_j` by IBP over the L∞ boxes `[x − eps, x + eps] ∩ [0, 1]` around
/// the rows of `x` (values in [0, 1]): one row per input, `+∞` at the label (as `stability::Bounds::margins`). A
/// row is certified (no point of its box changes the label) when every entry is > 0; see [`certified`].
pub fn margin_lower_bounds(model: &Classifier, x: ArrayView2<f32>, labels: &[usize], eps: f64) -> Result<Array2<f32>> {
    if x.ncols() != model.input_len() {
        return Err(invalid(
            "IBP input",
            format!("rows of {} values, the model takes {}", x.ncols(), model.input_len()),
        ));
    }
    if labels.len() != x.nrows() {
        return Err(invalid("labels", format!("{} labels for {} rows", labels.len(), x.nrows())));
    }
    for &l in labels {
        model.check_class(l)?;
    }
    if !(eps.is_finite() && eps >= 0.0) {
        return Err(invalid("eps", format!("{eps} (need a finite value ≥ 0)")));
    }
    let k = model.n_classes();
    let (mean, inv_std) = model.mean_inv_std();
    let mut out = Array2::<f32>::zeros((x.nrows(), k));
    let mut start = 0;
    while start < x.nrows() {
        let end = (start + EVAL_BATCH).min(x.nrows());
        let t = rows_tensor(x.slice(ndarray::s![start..end, ..]))?;
        let y: Vec<u32> = labels[start..end].iter().map(|&l| l as u32).collect();
        let yt = Tensor::from_vec(y, end - start, &Device::Cpu)?;
        let lower = margin_lower_bounds_t(model.config(), model.params(), mean, inv_std, &t, &yt, eps)?;
        let v = lower.flatten_all()?.to_vec1::<f32>()?;
        for (i, row) in v.chunks(k).enumerate() {
            let mut dst = out.row_mut(start + i);
            dst.iter_mut().zip(row).for_each(|(d, s)| *d = *s);
            dst[labels[start + i]] = f32::INFINITY;
        }
        start = end;
    }
    Ok(out)
}

/// For each row: is its whole box `[x − eps, x + eps] ∩ [0, 1]` certified by IBP to keep `labels[i]`?
pub fn certified(model: &Classifier, x: ArrayView2<f32>, labels: &[usize], eps: f64) -> Result<Vec<bool>> {
    let lower = margin_lower_bounds(model, x, labels, eps)?;
    Ok(lower.rows().into_iter().map(|r| r.iter().all(|&v| v > 0.0)).collect())
}
