//! FGSM and PGD: gradient steps of the true label's cross-entropy, projected onto the ε-ball and the [0, 1] box.

use super::quantize::quantize_toward;
use super::{AttackOptions, Norm};
use crate::error::Result;
use crate::model::{argmax, Classifier};

/// Gradient of the loss `-log p(y | x)` (ascent direction) and the current predictions.
pub(super) fn loss_grad(
    model: &Classifier,
    x: &ndarray::Array2<f32>,
    y: &[usize],
) -> Result<(ndarray::Array2<f32>, Vec<usize>)> {
    let (_, g, p) = model.log_prob_grad(x.view(), y)?;
    let pred = p.rows().into_iter().map(|r| argmax(&r.to_vec()).0).collect();
    Ok((-g, pred))
}

/// The step direction for the norm: sign (L∞) or unit L2 vector.
fn direction(g: ndarray::ArrayView1<f32>, norm: Norm) -> Vec<f32> {
    match norm {
        Norm::Linf => g
            .iter()
            .map(|v| {
                if *v > 0.0 {
                    1.0
                } else if *v < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            })
            .collect(),
        Norm::L2 => {
            let n = g.dot(&g).sqrt();
            if n > 0.0 && n.is_finite() {
                g.iter().map(|v| v / n).collect()
            } else {
                vec![0.0; g.len()]
            }
        }
    }
}

/// Projects `adv` onto the ε-ball around `clean` and the [0, 1] box.
fn project(clean: ndarray::ArrayView1<f32>, adv: &mut [f32], norm: Norm, eps: f32) {
    match norm {
        Norm::Linf => {
            for (a, c) in adv.iter_mut().zip(clean) {
                *a = a.clamp(c - eps, c + eps).clamp(0.0, 1.0);
            }
        }
        Norm::L2 => {
            let n: f32 = adv.iter().zip(clean).map(|(a, c)| (a - c) * (a - c)).sum::<f32>().sqrt();
            let s = if n > eps { eps / n } else { 1.0 };
            for (a, c) in adv.iter_mut().zip(clean) {
                // Clipping to the box after scaling only shrinks the perturbation, so it stays in the ball.
                *a = (c + (*a - c) * s).clamp(0.0, 1.0);
            }
        }
    }
}

pub(super) fn fgsm(
    model: &Classifier,
    clean: &ndarray::Array2<f32>,
    y: &[usize],
    opts: &AttackOptions,
) -> Result<ndarray::Array2<f32>> {
    let (g, _) = loss_grad(model, clean, y)?;
    let mut adv = clean.clone();
    for (k, mut row) in adv.rows_mut().into_iter().enumerate() {
        let dir = direction(g.row(k), opts.norm);
        row.iter_mut().zip(dir).for_each(|(a, d)| *a = (*a + opts.eps * d).clamp(0.0, 1.0));
    }
    Ok(adv)
}

pub(super) fn pgd(
    model: &Classifier,
    clean: &ndarray::Array2<f32>,
    y: &[usize],
    opts: &AttackOptions,
) -> Result<ndarray::Array2<f32>> {
    let alpha = 2.5 * opts.eps / opts.steps as f32;
    let mut adv = clean.clone();
    let mut done = vec![false; y.len()];
    for _ in 0..opts.steps {
        let active: Vec<usize> = (0..y.len()).filter(|&k| !done[k]).collect();
        if active.is_empty() {
            break;
        }
        let xa = adv.select(ndarray::Axis(0), &active);
        let ya: Vec<usize> = active.iter().map(|&k| y[k]).collect();
        let (g, _) = loss_grad(model, &xa, &ya)?;
        for (j, &k) in active.iter().enumerate() {
            let dir = direction(g.row(j), opts.norm);
            let mut row = adv.row(k).to_vec();
            row.iter_mut().zip(dir).for_each(|(a, d)| *a += alpha * d);
            project(clean.row(k), &mut row, opts.norm, opts.eps);
            adv.row_mut(k).assign(&ndarray::ArrayView1::from(&row));
        }
        // Stop an image once its (quantised, if asked) version changes label (with the target confidence, once
        // the wrong class is that sure).
        let check = adv.select(ndarray::Axis(0), &active);
        let check = if opts.quantize {
            let mut q = check.clone();
            for (j, &k) in active.iter().enumerate() {
                let row = quantize_toward(clean.row(k), check.row(j));
                q.row_mut(j).assign(&ndarray::ArrayView1::from(&row));
            }
            q
        } else {
            check
        };
        let p = model.predict_proba(check.view())?;
        for (j, &k) in active.iter().enumerate() {
            let (class, prob) = argmax(&p.row(j).to_vec());
            if class != y[k] && opts.confidence.is_none_or(|c| prob >= c) {
                done[k] = true;
            }
        }
    }
    Ok(adv)
}
