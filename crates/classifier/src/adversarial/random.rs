//! The random-perturbation baseline: how often a random change of the same size flips the label.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use super::{AttackOptions, AttackResult};
use crate::error::Result;
use crate::model::{argmax, Classifier};
use crate::util::{item_rng, stream};

/// Random flip rates for one successful perturbation (see the module docs).
pub(super) fn random_flip_rates(
    model: &Classifier,
    clean: ndarray::ArrayView1<f32>,
    r: &AttackResult,
    opts: &AttackOptions,
) -> Result<(f64, f64)> {
    let d = clean.len();
    let m = opts.random_trials;
    let mut x = ndarray::Array2::<f32>::zeros((2 * m, d));
    let mut rng = item_rng(opts.seed, stream::RANDOM_L2, r.row as u64, 0);
    for t in 0..m {
        let g: Vec<f32> = (0..d).map(|_| StandardNormal.sample(&mut rng)).collect();
        let n = g.iter().map(|v| v * v).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
        x.row_mut(t).iter_mut().zip(clean).zip(&g).for_each(|((v, c), gi)| *v = c + r.l2 * gi / n);
    }
    let mut rng = item_rng(opts.seed, stream::RANDOM_LINF, r.row as u64, 0);
    for t in 0..m {
        x.row_mut(m + t).iter_mut().zip(clean).for_each(|(v, c)| *v = c + rng.random_range(-1.0f32..=1.0) * r.linf);
    }
    let p = model.predict_proba(x.view())?;
    let flips = |range: std::ops::Range<usize>| {
        range.filter(|&t| argmax(&p.row(t).to_vec()).0 != r.original).count() as f64 / m as f64
    };
    Ok((flips(0..m), flips(m..2 * m)))
}
