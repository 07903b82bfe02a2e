//! Sound bounds on the margins `logit_c − logit_j` over an input box: interval bound propagation (IBP) and CROWN
//! (linear relaxation of every unstable ReLU, back-substituted to the input; Zhang et al. 2018, the DeepPoly
//! back-substitution of Singh et al. 2019).
//!
//! A ReLU whose pre-activation bounds `[l, u]` straddle 0 is bounded above by the chord `u (z − l) / (u − l)` and
//! below by `λ z` with `λ ∈ {0, 1}` ([`LowerSlope`]). Intermediate bounds of CROWN are intersected with the interval
//! bounds of the same layer computed from CROWN's previous layers (both sound). With [`LowerSlope::Zero`] CROWN's
//! bounds provably lie inside IBP's; with the adaptive DeepPoly choice they usually do, not always, so an image
//! counts as certified when either method proves every margin positive.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::error::{invalid, StabilityError};
use crate::net::{Layer, Net};

/// Lower linear bound of an unstable ReLU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LowerSlope {
    /// `relu(z) ≥ 0`.
    Zero,
    /// DeepPoly: `relu(z) ≥ z` when `u > −l`, else `≥ 0` (the smaller-area triangle).
    Adaptive,
}

pub const DEFAULT_LOWER_SLOPE: LowerSlope = LowerSlope::Adaptive;

impl fmt::Display for LowerSlope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LowerSlope::Zero => "zero",
            LowerSlope::Adaptive => "adaptive",
        })
    }
}

impl FromStr for LowerSlope {
    type Err = StabilityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "zero" => Ok(LowerSlope::Zero),
            "adaptive" => Ok(LowerSlope::Adaptive),
            _ => Err(invalid("lower slope", format!("`{s}` (use zero or adaptive)"))),
        }
    }
}

/// Bounds of every hidden pre-activation and lower bounds of the margins.
#[derive(Debug, Clone)]
pub struct Bounds {
    /// Per hidden layer (all but the last): lower and upper bounds of each pre-activation.
    pub hidden: Vec<(Vec<f64>, Vec<f64>)>,
    /// Per class `j`: a lower bound of `logit_c − logit_j` over the box (`+∞` at `j = c`).
    pub margins: Vec<f64>,
}

impl Bounds {
    /// Smallest margin lower bound: the box is certified iff this is > 0.
    pub fn min_margin(&self) -> f64 {
        self.margins.iter().copied().fold(f64::INFINITY, f64::min)
    }

    pub fn certified(&self) -> bool {
        self.min_margin() > 0.0
    }
}

/// Interval of `W h + b` for `h ∈ [lo, hi]`.
pub(crate) fn interval(layer: &Layer, lo: &[f64], hi: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let n = layer.n_out();
    let (mut l, mut u) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for o in 0..n {
        let (mut a, mut b) = (layer.bias()[o], layer.bias()[o]);
        for &(i, w) in layer.row(o) {
            let i = i as usize;
            if w > 0.0 {
                a += w * lo[i];
                b += w * hi[i];
            } else {
                a += w * hi[i];
                b += w * lo[i];
            }
        }
        l.push(a);
        u.push(b);
    }
    (l, u)
}

fn relu_box(b: &(Vec<f64>, Vec<f64>)) -> (Vec<f64>, Vec<f64>) {
    (b.0.iter().map(|v| v.max(0.0)).collect(), b.1.iter().map(|v| v.max(0.0)).collect())
}

/// The margin rows `W_c − W_j` (dense over the last layer's inputs) and biases.
pub(crate) fn margin_rows(last: &Layer, class: usize) -> Vec<(usize, Vec<f64>, f64)> {
    let n = last.n_in();
    let mut wc = vec![0.0; n];
    last.row(class).iter().for_each(|&(i, w)| wc[i as usize] += w);
    (0..last.n_out())
        .filter(|&j| j != class)
        .map(|j| {
            let mut r = wc.clone();
            last.row(j).iter().for_each(|&(i, w)| r[i as usize] -= w);
            (j, r, last.bias()[class] - last.bias()[j])
        })
        .collect()
}

/// Lower bound of `row · h + c` for `h` in a box.
pub(crate) fn concretize(row: &[f64], c: f64, lo: &[f64], hi: &[f64]) -> f64 {
    c + row.iter().zip(lo.iter().zip(hi)).map(|(&a, (&l, &u))| if a > 0.0 { a * l } else { a * u }).sum::<f64>()
}

/// Interval bound propagation over the box `[lo, hi]`; margins with the last layer folded in (`(W_c − W_j) h`).
pub fn ibp(net: &Net, lo: &[f64], hi: &[f64], class: usize) -> Bounds {
    let layers = net.layers();
    let last = layers.len() - 1;
    let mut hidden = Vec::with_capacity(last);
    let (mut hl, mut hh) = (lo.to_vec(), hi.to_vec());
    for layer in &layers[..last] {
        let b = interval(layer, &hl, &hh);
        (hl, hh) = relu_box(&b);
        hidden.push(b);
    }
    let mut margins = vec![f64::INFINITY; net.n_classes()];
    for (j, row, c) in margin_rows(&layers[last], class) {
        margins[j] = concretize(&row, c, &hl, &hh);
    }
    Bounds { hidden, margins }
}

/// Lower bound of `row · relu(z_m) + c` over the input box by back-substitution through layers `m, m−1, …, 0`.
fn back_substitute(
    net: &Net,
    hidden: &[(Vec<f64>, Vec<f64>)],
    m: usize,
    mut row: Vec<f64>,
    mut c: f64,
    lo: &[f64],
    hi: &[f64],
    slope: LowerSlope,
) -> f64 {
    let layers = net.layers();
    for k in (0..=m).rev() {
        let (l, u) = &hidden[k];
        let layer = &layers[k];
        let mut next = vec![0.0; layer.n_in()];
        for (n, &a) in row.iter().enumerate() {
            if a == 0.0 {
                continue;
            }
            let (ln, un) = (l[n], u[n]);
            let coef = if ln >= 0.0 {
                a
            } else if un <= 0.0 {
                continue;
            } else if a > 0.0 {
                match slope {
                    LowerSlope::Adaptive if un > -ln => a,
                    _ => continue,
                }
            } else {
                let s = un / (un - ln);
                c -= a * s * ln;
                a * s
            };
            c += coef * layer.bias()[n];
            for &(i, w) in layer.row(n) {
                next[i as usize] += coef * w;
            }
        }
        row = next;
        if k == 0 {
            return concretize(&row, c, lo, hi);
        }
        // `row` is now over relu(z_{k-1}).
    }
    unreachable!("back-substitution ends at the input layer")
}

/// CROWN over the box `[lo, hi]` (see the module docs); intermediate bounds are refined only for neurons whose
/// interval bounds straddle 0 (the relaxation of the others does not depend on their bounds).
pub fn crown(net: &Net, lo: &[f64], hi: &[f64], class: usize, slope: LowerSlope) -> Bounds {
    let layers = net.layers();
    let last = layers.len() - 1;
    if last == 0 {
        // One affine map: interval arithmetic on the margin rows is already exact.
        return ibp(net, lo, hi, class);
    }
    let mut hidden: Vec<(Vec<f64>, Vec<f64>)> = Vec::with_capacity(last);
    hidden.push(interval(&layers[0], lo, hi));
    for k in 1..last {
        let (mut l, mut u) = interval(&layers[k], &relu_box(&hidden[k - 1]).0, &relu_box(&hidden[k - 1]).1);
        for o in 0..layers[k].n_out() {
            if !(l[o] < 0.0 && u[o] > 0.0) {
                continue;
            }
            let mut row = vec![0.0; layers[k].n_in()];
            layers[k].row(o).iter().for_each(|&(i, w)| row[i as usize] = w);
            let b = layers[k].bias()[o];
            let lower = back_substitute(net, &hidden, k - 1, row.clone(), b, lo, hi, slope);
            let neg: Vec<f64> = row.iter().map(|v| -v).collect();
            let upper = -back_substitute(net, &hidden, k - 1, neg, -b, lo, hi, slope);
            l[o] = l[o].max(lower);
            u[o] = u[o].min(upper);
        }
        hidden.push((l, u));
    }
    let mut margins = vec![f64::INFINITY; net.n_classes()];
    for (j, row, c) in margin_rows(&layers[last], class) {
        margins[j] = back_substitute(net, &hidden, last - 1, row, c, lo, hi, slope);
    }
    Bounds { hidden, margins }
}

/// The box `[x − eps, x + eps] ∩ [0, 1]`.
pub fn eps_box(x: &[f64], eps: f64) -> (Vec<f64>, Vec<f64>) {
    (x.iter().map(|v| (v - eps).max(0.0)).collect(), x.iter().map(|v| (v + eps).min(1.0)).collect())
}
