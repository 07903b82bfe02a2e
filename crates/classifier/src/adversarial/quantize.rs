//! Putting perturbed images on the 8-bit grid without losing the label change or leaving the budget.

use super::Norm;
use crate::error::Result;
use crate::model::{argmax, Classifier};

/// Quantises `adv - clean` toward zero on the 8-bit grid (norms never grow).
pub(super) fn quantize_toward(clean: ndarray::ArrayView1<f32>, adv: ndarray::ArrayView1<f32>) -> Vec<f32> {
    adv.iter()
        .zip(clean)
        .map(|(a, c)| {
            let d = ((a - c) * 255.0 + 1e-3 * (a - c).signum()).trunc() / 255.0;
            (c + d).clamp(0.0, 1.0)
        })
        .collect()
}

fn quantize_nearest(adv: ndarray::ArrayView1<f32>) -> Vec<f32> {
    adv.iter().map(|&a| pixels::on_8bit_grid(a)).collect()
}

fn quantize_away(clean: ndarray::ArrayView1<f32>, adv: ndarray::ArrayView1<f32>) -> Vec<f32> {
    adv.iter()
        .zip(clean)
        .map(|(a, c)| {
            let d = a - c;
            let q = (d.abs() * 255.0 - 1e-3).max(0.0).ceil() / 255.0;
            (c + q * d.signum()).clamp(0.0, 1.0)
        })
        .collect()
}

/// Puts perturbed images on the 8-bit grid (when asked), keeping a version that still flips and fits the budget.
pub(super) fn finalize(
    model: &Classifier,
    clean: &ndarray::Array2<f32>,
    adv: &ndarray::Array2<f32>,
    y: &[usize],
    budget: Option<(Norm, f32)>,
    quantize: bool,
) -> Result<ndarray::Array2<f32>> {
    if !quantize || y.is_empty() {
        return Ok(adv.clone());
    }
    let (n, d) = adv.dim();
    let mut cands = ndarray::Array2::<f32>::zeros((3 * n, d));
    for k in 0..n {
        let rows = [
            quantize_toward(clean.row(k), adv.row(k)),
            quantize_nearest(adv.row(k)),
            quantize_away(clean.row(k), adv.row(k)),
        ];
        for (j, r) in rows.iter().enumerate() {
            cands.row_mut(3 * k + j).assign(&ndarray::ArrayView1::from(r));
        }
    }
    let p = model.predict_proba(cands.view())?;
    let mut out = ndarray::Array2::<f32>::zeros((n, d));
    for (k, &label) in y.iter().enumerate() {
        let mut chosen = 3 * k;
        for j in 0..3 {
            let row = cands.row(3 * k + j);
            let fits = match budget {
                None => true,
                Some((norm, eps)) => {
                    let delta = row.iter().zip(clean.row(k)).map(|(a, c)| a - c);
                    let size = match norm {
                        Norm::L2 => delta.map(|v| v * v).sum::<f32>().sqrt(),
                        Norm::Linf => delta.fold(0f32, |m, v| m.max(v.abs())),
                    };
                    size <= eps * (1.0 + 1e-5) + 1e-6
                }
            };
            if fits && argmax(&p.row(3 * k + j).to_vec()).0 != label {
                chosen = 3 * k + j;
                break;
            }
        }
        out.row_mut(k).assign(&cands.row(chosen));
    }
    Ok(out)
}
