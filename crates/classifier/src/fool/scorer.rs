//! Probabilities and log-probabilities of a batch of candidates from one forward pass. The search ranks candidates
//! by log-probability: far from its class an image's probability underflows to 0 in f32, which would make every
//! candidate look alike, while its log-probability still orders them.

use candle_core::{Device, Tensor};
use ndarray::{Array2, ArrayView2};

use crate::error::{invalid, Result};
use crate::model::{forward, rows_tensor, Classifier, EVAL_BATCH};

pub(super) struct Scorer<'a> {
    model: &'a Classifier,
    params: Vec<Tensor>,
}

impl<'a> Scorer<'a> {
    pub(super) fn new(model: &'a Classifier) -> Result<Self> {
        let shapes = Classifier::param_shapes_for(model.config());
        let params = model
            .parameters()?
            .into_iter()
            .zip(shapes)
            .map(|((_, v), (_, dims))| Ok(Tensor::from_vec(v, dims.as_slice(), &Device::Cpu)?))
            .collect::<Result<Vec<_>>>()?;
        Ok(Scorer { model, params })
    }

    /// `(probabilities, log-probabilities)`, one row per input row. The probabilities are the softmax that
    /// [`Classifier::predict_proba`] computes (max-shifted exponentials over their sum, in f32).
    pub(super) fn score(&self, x: ArrayView2<f32>) -> Result<(Array2<f32>, Array2<f32>)> {
        let k = self.model.n_classes();
        let (mut p, mut logp) = (Array2::<f32>::zeros((x.nrows(), k)), Array2::<f32>::zeros((x.nrows(), k)));
        let (mean, inv_std) = self.model.mean_inv_std();
        let mut start = 0;
        while start < x.nrows() {
            let end = (start + EVAL_BATCH).min(x.nrows());
            let t = rows_tensor(x.slice(ndarray::s![start..end, ..]))?;
            let logits = forward(self.model.config(), &self.params, mean, inv_std, &t, None)?;
            let v = logits.flatten_all()?.to_vec1::<f32>()?;
            if v.len() != (end - start) * k {
                return Err(invalid("model output", format!("{} logits for {} rows", v.len(), end - start)));
            }
            for (r, l) in v.chunks(k).enumerate() {
                let max = l.iter().fold(f32::NEG_INFINITY, |m, &a| m.max(a));
                let e: Vec<f32> = l.iter().map(|&a| (a - max).exp()).collect();
                let sum: f32 = e.iter().sum();
                let ln_sum = sum.ln();
                for j in 0..k {
                    p[[start + r, j]] = e[j] / sum;
                    logp[[start + r, j]] = l[j] - max - ln_sum;
                }
            }
            start = end;
        }
        Ok((p, logp))
    }
}
