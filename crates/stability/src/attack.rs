//! Searches for a label change inside the box: PGD with restarts on the margin, and random points (uniform in the
//! box, or random corners `x ± eps` on every pixel).

use rand::Rng;

use crate::net::Net;
use crate::verify::eps_box;

/// Outcome of PGD on one image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PgdOutcome {
    /// Smallest margin reached (< 0: the label changed).
    pub margin: f64,
    /// Restarts run (the search stops at the first flip).
    pub restarts: usize,
}

/// Step sizes of PGD, as fractions of ε: the first step and the last of a cosine decay.
const STEP_FIRST: f64 = 0.5;
const STEP_LAST: f64 = 0.02;

/// PGD in the L∞ box `[x ± eps] ∩ [0, 1]` minimising the margin `min_j (logit_c − logit_j)`: `steps`
/// signed-gradient steps whose size decays from `eps / 2` to `eps / 50` (cosine schedule: large steps reach the
/// box's corners, small ones settle near the minimum); restart 0 starts at `x`, the others at random corners of the
/// box (`x ± eps` per pixel, clipped). The smallest margin met at any step counts.
pub fn pgd(
    net: &Net,
    x: &[f64],
    class: usize,
    eps: f64,
    steps: usize,
    restarts: usize,
    rng: &mut impl Rng,
) -> PgdOutcome {
    let (lo, hi) = eps_box(x, eps);
    let mut best = net.margin(x, class);
    for r in 0..restarts {
        let mut p: Vec<f64> = if r == 0 {
            x.to_vec()
        } else {
            lo.iter().zip(&hi).map(|(&l, &h)| if rng.random_bool(0.5) { l } else { h }).collect()
        };
        for t in 0..steps {
            let (m, g) = net.margin_grad(&p, class);
            best = best.min(m);
            if m < 0.0 {
                return PgdOutcome { margin: best, restarts: r + 1 };
            }
            let phase = std::f64::consts::PI * t as f64 / steps.max(2).saturating_sub(1) as f64;
            let alpha = eps * (STEP_LAST + (STEP_FIRST - STEP_LAST) * 0.5 * (1.0 + phase.cos()));
            for (i, v) in p.iter_mut().enumerate() {
                let step = if g[i] > 0.0 {
                    -alpha
                } else if g[i] < 0.0 {
                    alpha
                } else {
                    0.0
                };
                *v = (*v + step).clamp(lo[i], hi[i]);
            }
        }
        best = best.min(net.margin(&p, class));
        if best < 0.0 {
            return PgdOutcome { margin: best, restarts: r + 1 };
        }
    }
    PgdOutcome { margin: best, restarts }
}

/// Label changes among `trials` uniform points of the box and among `trials` random corners (each pixel at
/// `x_i − eps` or `x_i + eps`, clipped to [0, 1]).
pub fn random_flips(net: &Net, x: &[f64], class: usize, eps: f64, trials: usize, rng: &mut impl Rng) -> (usize, usize) {
    let (lo, hi) = eps_box(x, eps);
    let mut uniform = 0;
    let mut corner = 0;
    let mut p = vec![0.0; x.len()];
    for _ in 0..trials {
        p.iter_mut().enumerate().for_each(|(i, v)| *v = rng.random_range(lo[i]..=hi[i]));
        uniform += usize::from(net.margin(&p, class) < 0.0);
        p.iter_mut().enumerate().for_each(|(i, v)| *v = if rng.random_bool(0.5) { lo[i] } else { hi[i] });
        corner += usize::from(net.margin(&p, class) < 0.0);
    }
    (uniform, corner)
}
