//! Gradient ascent of `log p(class | x)` from uniform noise.

use rand::Rng;

use super::{FoolOptions, FoolReport, FoolingImage, Method};
use crate::error::Result;
use crate::model::Classifier;
use crate::util::{item_rng, stream};

pub(super) fn gradient_ascent(
    model: &Classifier,
    opts: &FoolOptions,
    classes: &[usize],
    on_generation: &mut dyn FnMut(usize, &[f32]),
) -> Result<FoolReport> {
    let d = model.input_len();
    let mut x = ndarray::Array2::<f32>::zeros((classes.len(), d));
    for (i, mut row) in x.rows_mut().into_iter().enumerate() {
        let mut rng = item_rng(opts.seed, stream::GRADIENT, classes[i] as u64, 0);
        row.iter_mut().for_each(|v| *v = rng.random());
    }
    let mut conf = vec![0f32; classes.len()];
    let mut found_at = vec![0usize; classes.len()];
    let mut done = vec![false; classes.len()];
    let mut evaluations = 0;
    let mut step = 0;
    loop {
        let active: Vec<usize> = (0..classes.len()).filter(|&i| !done[i]).collect();
        if active.is_empty() {
            break;
        }
        let xa = x.select(ndarray::Axis(0), &active);
        let ca: Vec<usize> = active.iter().map(|&i| classes[i]).collect();
        let (_, grad, probs) = model.log_prob_grad(xa.view(), &ca)?;
        let probs = if opts.quantize {
            let mut q = xa.clone();
            q.rows_mut().into_iter().for_each(|mut r| pixels::quantize(r.iter_mut()));
            model.predict_proba(q.view())?
        } else {
            probs
        };
        evaluations += active.len();
        for (k, &i) in active.iter().enumerate() {
            conf[i] = probs[[k, classes[i]]];
            found_at[i] = step;
            if conf[i] >= opts.confidence || step >= opts.generations {
                done[i] = true;
                continue;
            }
            let g = grad.row(k);
            let rms = (g.dot(&g) / d as f32).sqrt();
            if rms > 0.0 && rms.is_finite() {
                let scale = opts.step_size / rms;
                x.row_mut(i).zip_mut_with(&g, |v, &gv| *v = (*v + scale * gv).clamp(0.0, 1.0));
            }
        }
        on_generation(step, &conf);
        step += 1;
    }
    let images = (0..classes.len())
        .map(|i| FoolingImage {
            class: classes[i],
            image: {
                let mut img = x.row(i).to_vec();
                if opts.quantize {
                    pixels::quantize(img.iter_mut());
                }
                img
            },
            confidence: conf[i],
            generation: found_at[i],
            reached: conf[i] >= opts.confidence,
        })
        .collect();
    Ok(FoolReport { method: Method::GradientAscent, images, generations: step.saturating_sub(1), evaluations })
}
