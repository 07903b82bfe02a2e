//! α-CROWN on the margins: CROWN whose lower ReLU slopes are optimised per margin by projected gradient ascent
//! (Xu et al. 2021).
//!
//! For an unstable ReLU (`l < 0 < u`) any `relu(z) ≥ α z` with `α ∈ [0, 1]` is a valid lower bound, so the margin
//! bound back-substituted with any such slopes is sound; [`crate::verify::crown`] uses the DeepPoly choice
//! (`α = 1` when `u > −l`, else 0), this module climbs from there. The intermediate pre-activation bounds are
//! CROWN's (kept fixed); only the slopes of the final back-substitution are optimised, one set per margin.
//!
//! Gradient: with the signs of the back-substituted rows fixed, the bound is the margin row applied to the relaxed
//! network evaluated at the box corner the concretisation picks (each ReLU replaced by its lower line `α ẑ` or its
//! upper chord, by the sign of its coefficient); so `∂ bound / ∂ α_n = a_n ẑ_n`, with `a_n` the coefficient of
//! `relu(z_n)` and `ẑ_n` its pre-activation in that evaluation.

use crate::net::Net;
use crate::verify::{concretize, margin_rows, Bounds};

/// Projected-gradient steps per margin by default (0 turns α-CROWN off).
pub const DEFAULT_ALPHA_STEPS: usize = 20;
pub const MAX_ALPHA_STEPS: usize = 10_000;

/// Size of the first signed-gradient step on every slope, and its decay per step.
const FIRST_STEP: f64 = 0.5;
const DECAY: f64 = 0.85;

/// The back-substituted bound of `row · relu(z_m) + c` with lower slopes `alpha`, and `∂ bound / ∂ alpha` in
/// `grad` (zero where the slope is not used).
#[allow(clippy::too_many_arguments)]
pub fn bound_with_slopes(
    net: &Net,
    hidden: &[(Vec<f64>, Vec<f64>)],
    row: &[f64],
    c: f64,
    lo: &[f64],
    hi: &[f64],
    alpha: &[Vec<f64>],
    grad: &mut [Vec<f64>],
) -> f64 {
    let layers = net.layers();
    let m = hidden.len() - 1;
    // a[k]: coefficients of relu(z_k); the input row last.
    let mut a: Vec<Vec<f64>> = vec![Vec::new(); m + 1];
    a[m] = row.to_vec();
    let mut c = c;
    let mut input = Vec::new();
    for k in (0..=m).rev() {
        let (l, u) = &hidden[k];
        let layer = &layers[k];
        let mut next = vec![0.0; layer.n_in()];
        for (n, &an) in a[k].iter().enumerate() {
            if an == 0.0 || u[n] <= 0.0 {
                continue;
            }
            let coef = if l[n] >= 0.0 {
                an
            } else if an > 0.0 {
                an * alpha[k][n]
            } else {
                let s = u[n] / (u[n] - l[n]);
                c -= an * s * l[n];
                an * s
            };
            if coef == 0.0 {
                continue;
            }
            c += coef * layer.bias()[n];
            for &(i, w) in layer.row(n) {
                next[i as usize] += coef * w;
            }
        }
        if k == 0 {
            input = next;
        } else {
            a[k - 1] = next;
        }
    }
    let bound = concretize(&input, c, lo, hi);
    // The relaxed network at the corner the concretisation picked.
    let mut g: Vec<f64> =
        input.iter().zip(lo.iter().zip(hi)).map(|(&r, (&l, &h))| if r > 0.0 { l } else { h }).collect();
    for k in 0..=m {
        let (l, u) = &hidden[k];
        let z = layers[k].apply(&g);
        grad[k].iter_mut().for_each(|v| *v = 0.0);
        g = z
            .iter()
            .enumerate()
            .map(|(n, &zn)| {
                if l[n] >= 0.0 {
                    zn
                } else if u[n] <= 0.0 {
                    0.0
                } else if a[k][n] > 0.0 {
                    grad[k][n] = a[k][n] * zn;
                    alpha[k][n] * zn
                } else if a[k][n] < 0.0 {
                    u[n] / (u[n] - l[n]) * (zn - l[n])
                } else {
                    0.0
                }
            })
            .collect();
    }
    bound
}

/// The DeepPoly slopes CROWN starts from: 1 where `u > −l`, else 0 (unused entries 0).
pub fn initial_slopes(hidden: &[(Vec<f64>, Vec<f64>)]) -> Vec<Vec<f64>> {
    hidden.iter().map(|(l, u)| l.iter().zip(u).map(|(&l, &u)| f64::from(u8::from(u > -l))).collect()).collect()
}

/// α-CROWN margins over the box `[lo, hi]` from CROWN's bounds `crown` (which fixes the intermediate bounds):
/// margins CROWN already proves positive are kept; the others get `steps` projected-gradient steps on their own
/// slopes, keeping the best bound met (never below CROWN's, which is the starting point). A margin stops as soon as
/// its bound is positive, and all stop once one margin cannot be proven (the box is then not certified anyway).
pub fn alpha_crown(net: &Net, crown: &Bounds, lo: &[f64], hi: &[f64], class: usize, steps: usize) -> Bounds {
    let layers = net.layers();
    let last = layers.len() - 1;
    let mut margins = crown.margins.clone();
    if last == 0 || steps == 0 {
        return Bounds { hidden: crown.hidden.clone(), margins };
    }
    let hidden = &crown.hidden;
    let mut grad: Vec<Vec<f64>> = hidden.iter().map(|(l, _)| vec![0.0; l.len()]).collect();
    let mut rows = margin_rows(&layers[last], class);
    // Hardest margins first: if one of them cannot be certified the rest need not be tried.
    rows.sort_by(|a, b| margins[a.0].total_cmp(&margins[b.0]));
    for (j, row, c) in rows {
        if margins[j] > 0.0 {
            continue;
        }
        let mut alpha = initial_slopes(hidden);
        let mut best = margins[j];
        let mut step = FIRST_STEP;
        for _ in 0..steps {
            let b = bound_with_slopes(net, hidden, &row, c, lo, hi, &alpha, &mut grad);
            best = best.max(b);
            if best > 0.0 {
                break;
            }
            let mut moved = false;
            for (ak, gk) in alpha.iter_mut().zip(&grad) {
                for (a, &g) in ak.iter_mut().zip(gk) {
                    if g != 0.0 {
                        let new = (*a + step * g.signum()).clamp(0.0, 1.0);
                        moved |= new != *a;
                        *a = new;
                    }
                }
            }
            if !moved {
                break;
            }
            step *= DECAY;
        }
        margins[j] = best;
        if best <= 0.0 {
            break;
        }
    }
    Bounds { hidden: crown.hidden.clone(), margins }
}
