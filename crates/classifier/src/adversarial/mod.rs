//! Adversarial perturbations (Szegedy et al. 2014, "Intriguing properties of neural networks") and the random
//! baseline that shows how special they are.
//!
//! Only images the model classifies correctly are attacked. Methods (all untargeted except the inner problem of
//! `lbfgs`; "loss" is the cross-entropy of the true label):
//! * [`Attack::Fgsm`]: one step of size ε along the sign of the loss gradient (L∞) or along the normalised
//!   gradient (L2) — Goodfellow et al.'s fast gradient (sign) method.
//! * [`Attack::Pgd`]: projected gradient ascent of the loss inside the ε-ball (L∞: sign steps; L2: normalised
//!   steps), step `2.5 ε / steps`, projected onto the ball and the [0, 1] box after each step, stopping for an
//!   image as soon as its label changes — or, with a target `confidence`, once the wrong class's softmax
//!   probability reaches it (a high-confidence attack, whose images do not sit next to a decision boundary).
//!   Budgeted, not minimal.
//! * [`Attack::OnManifold`]: the same projected gradient ascent restricted to the local tangent space of a
//!   reference collection at each image ([`on_manifold`]); reported next to plain PGD's flip rate at the same budget
//!   on the same images.
//! * [`Attack::Lbfgs`]: Szegedy et al.'s box-constrained problem: minimise `c ‖r‖₂² + CE(x + r, l)` subject to
//!   `x + r ∈ [0, 1]^d`, with `l` the runner-up class of the clean image, and a geometric bisection for the largest
//!   `c` whose minimiser still changes the label (keeping the smallest such `r`). The inner problem is solved by a
//!   projected L-BFGS: the two-loop recursion on the variables not held at a bound, then a projected Armijo
//!   backtracking line search. This is a simplification of L-BFGS-B (no generalised Cauchy point), not the exact
//!   algorithm the paper used. ε is ignored.
//!
//! **8-bit images.** With `quantize` (the default) the returned perturbed image lies on the 8-bit grid
//! (multiples of 1/255), so writing it as PNG loses nothing and the label change holds for the written file. The
//! perturbation is quantised toward the clean image first (norms do not grow), then to the nearest level, then away
//! from the clean image, keeping the first that still changes the label and respects the budget; the reported
//! norms are those of the quantised perturbation. Clean images should themselves be on the grid (images loaded
//! from PNG are).
//!
//! **Random flip rate.** For each successful perturbation δ, `random_trials` random perturbations are drawn with the
//! same L2 norm (a Gaussian direction rescaled to ‖δ‖₂) and `random_trials` uniformly in the same L∞ ball
//! (`[-‖δ‖∞, ‖δ‖∞]^d`); the rates are the fractions that change the label. They are neither clipped to [0, 1]
//! nor quantised, so they have exactly the stated size (clipping could only shrink them).

mod gradient;
mod lbfgs;
pub mod on_manifold;
mod quantize;
mod random;
mod run;
mod write;

pub use on_manifold::{tangent_spaces, TangentOptions, TangentSpaces};
pub use run::{attack_dataset, attack_dataset_on_manifold, write_adversarial_dir, Adversarial};
pub use write::{set_attack_results, write_attack_files};

use rayon::prelude::*;
use serde::Serialize;

use crate::error::{invalid, Result};
use crate::model::{argmax, Classifier};
use gradient::{fgsm, pgd};
use lbfgs::lbfgs;
use quantize::finalize;
use random::random_flip_rates;

/// Attack method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Attack {
    Fgsm,
    Pgd,
    Lbfgs,
    #[serde(rename = "on-manifold")]
    OnManifold,
}

impl Attack {
    pub fn name(self) -> &'static str {
        match self {
            Attack::Fgsm => "fgsm",
            Attack::Pgd => "pgd",
            Attack::Lbfgs => "lbfgs",
            Attack::OnManifold => "on-manifold",
        }
    }
}

impl std::fmt::Display for Attack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Attack {
    type Err = crate::ClassifierError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "fgsm" => Ok(Attack::Fgsm),
            "pgd" => Ok(Attack::Pgd),
            "lbfgs" => Ok(Attack::Lbfgs),
            "on-manifold" => Ok(Attack::OnManifold),
            other => Err(invalid("attack method", format!("{other:?} (use fgsm, pgd, lbfgs or on-manifold)"))),
        }
    }
}

/// Norm of the perturbation budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Norm {
    L2,
    Linf,
}

impl Norm {
    pub fn name(self) -> &'static str {
        match self {
            Norm::L2 => "l2",
            Norm::Linf => "linf",
        }
    }
}

impl std::fmt::Display for Norm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Norm {
    type Err = crate::ClassifierError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "l2" => Ok(Norm::L2),
            "linf" => Ok(Norm::Linf),
            other => Err(invalid("norm", format!("{other:?} (use l2 or linf)"))),
        }
    }
}

/// Attack settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttackOptions {
    pub attack: Attack,
    pub norm: Norm,
    /// Budget (radius of the ball) for fgsm and pgd, in [0, 1] pixel units.
    pub eps: f32,
    /// PGD steps, or L-BFGS iterations per value of c.
    pub steps: usize,
    /// L-BFGS: values of c tried (bisection rounds).
    pub search_rounds: usize,
    /// Put perturbed images on the 8-bit grid (see the module docs).
    pub quantize: bool,
    /// Random perturbations per image and per kind for the random flip rates (0: skip).
    pub random_trials: usize,
    pub seed: u64,
    /// PGD only: keep going after the label changes until the wrong class's softmax probability reaches this level
    /// (or the steps run out), as a high-confidence attack does; `None` (the default): stop at the first change.
    pub confidence: Option<f32>,
}

/// Defaults of [`AttackOptions`] (and of `imanifold adversarial`).
pub const DEFAULT_EPS: f32 = 8.0 / 255.0;
/// [`DEFAULT_EPS`] as written on a command line ([`parse_eps`] reads it as exactly [`DEFAULT_EPS`]).
pub const DEFAULT_EPS_TEXT: &str = "8/255";
pub const DEFAULT_STEPS: usize = 40;
pub const DEFAULT_SEARCH_ROUNDS: usize = 10;
pub const DEFAULT_RANDOM_TRIALS: usize = 100;
/// Largest `random_trials` accepted (0 to this many per image and per kind).
pub const MAX_RANDOM_TRIALS: usize = 100_000;

impl Default for AttackOptions {
    fn default() -> Self {
        AttackOptions {
            attack: Attack::Pgd,
            norm: Norm::Linf,
            eps: DEFAULT_EPS,
            steps: DEFAULT_STEPS,
            search_rounds: DEFAULT_SEARCH_ROUNDS,
            quantize: true,
            random_trials: DEFAULT_RANDOM_TRIALS,
            seed: 0,
            confidence: None,
        }
    }
}

impl AttackOptions {
    /// Checks the settings that do not depend on the model or the images (cheap; [`attack`] checks them too).
    pub fn validate(&self) -> Result<()> {
        if self.attack != Attack::Lbfgs && !(self.eps > 0.0 && self.eps.is_finite()) {
            return Err(invalid("eps", format!("{} (need a positive budget)", self.eps)));
        }
        if self.attack != Attack::Lbfgs && self.norm == Norm::Linf && self.eps > 1.0 {
            return Err(invalid("eps", format!("{} (an L∞ budget in pixel units needs 0 < eps ≤ 1)", self.eps)));
        }
        if self.random_trials > MAX_RANDOM_TRIALS {
            return Err(invalid("random trials", format!("{} (need 0 to {MAX_RANDOM_TRIALS})", self.random_trials)));
        }
        if self.attack != Attack::Fgsm && self.steps == 0 {
            return Err(invalid("steps", "must be at least 1"));
        }
        if self.attack == Attack::Lbfgs && self.search_rounds == 0 {
            return Err(invalid("search rounds", "must be at least 1"));
        }
        if let Some(c) = self.confidence {
            if self.attack != Attack::Pgd {
                return Err(invalid("confidence", format!("{c} (only the pgd attack takes a target confidence)")));
            }
            if !(c > 0.0 && c < 1.0) {
                return Err(invalid("confidence", format!("{c} (need a probability strictly between 0 and 1)")));
            }
        }
        Ok(())
    }
}

/// A perturbation budget in [0, 1] pixel units written as a number (`0.03`) or a fraction (`8/255`); it must be
/// positive.
pub fn parse_eps(s: &str) -> Result<f32> {
    parse_budget(s, |v: f32| v.is_finite() && v > 0.0)
}

/// [`parse_eps`] in f64 (the fraction divided in f64, so `1/255` is the f64 nearest to 1/255).
pub fn parse_eps_f64(s: &str) -> Result<f64> {
    parse_budget(s, |v: f64| v.is_finite() && v > 0.0)
}

fn parse_budget<T>(s: &str, positive: impl Fn(T) -> bool) -> Result<T>
where
    T: std::str::FromStr + std::ops::Div<Output = T> + Copy,
{
    let bad = || invalid("eps", format!("`{s}` is not a number or fraction"));
    let v = match s.split_once('/') {
        Some((a, b)) => {
            let a: T = a.trim().parse().map_err(|_| bad())?;
            let b: T = b.trim().parse().map_err(|_| bad())?;
            a / b
        }
        None => s.trim().parse().map_err(|_| bad())?,
    };
    if !positive(v) {
        return Err(invalid("eps", format!("`{s}`: the budget must be positive")));
    }
    Ok(v)
}

/// Outcome for one attacked image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttackResult {
    /// Row of the input matrix.
    pub row: usize,
    /// True label = clean prediction (only correctly classified images are attacked).
    pub original: usize,
    pub original_confidence: f32,
    /// Prediction on the perturbed image.
    pub adversarial: usize,
    pub adversarial_confidence: f32,
    pub flipped: bool,
    pub l2: f32,
    pub linf: f32,
    /// Fractions of random perturbations of the same L2 norm / inside the same L∞ ball that change the label
    /// (`None` when the attack failed or no trials were asked for).
    pub random_flip_rate_l2: Option<f64>,
    pub random_flip_rate_linf: Option<f64>,
    /// On-manifold attack: the part of the final perturbation outside the image's tangent space,
    /// ‖δ − UᵀUδ‖₂ / ‖δ‖₂ (from box clipping and 8-bit quantisation).
    pub off_tangent_fraction: Option<f64>,
    /// The perturbed image (row-major (y, x, channel), values in [0, 1]).
    #[serde(skip)]
    pub perturbed: Vec<f32>,
}

/// Summary over all attacked images.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttackReport {
    pub attack: Attack,
    pub norm: Norm,
    pub eps: f32,
    pub n_images: usize,
    /// Images attacked (correctly classified).
    pub n_attacked: usize,
    pub n_flipped: usize,
    /// Fraction of attacked images whose label changed.
    pub flip_rate: f64,
    /// Over all successful perturbations and their random trials.
    pub random_flip_rate_l2: Option<f64>,
    pub random_flip_rate_linf: Option<f64>,
    /// Norms of the successful perturbations.
    pub mean_l2: Option<f64>,
    pub median_l2: Option<f64>,
    pub mean_linf: Option<f64>,
    pub median_linf: Option<f64>,
    /// On-manifold attack: plain PGD's flip rate at the same norm and budget on the same images.
    pub pgd_flip_rate: Option<f64>,
    /// On-manifold attack: mean [`AttackResult::off_tangent_fraction`] over the flipped images.
    pub mean_off_tangent_fraction: Option<f64>,
    /// On-manifold attack: the tangent-space settings and estimate ([`TangentSpaces::summary`]).
    pub tangent: Option<serde_json::Value>,
    pub results: Vec<AttackResult>,
}

fn check(model: &Classifier, x: &ndarray::ArrayView2<f32>, labels: &[usize], opts: &AttackOptions) -> Result<()> {
    if x.ncols() != model.input_len() {
        return Err(crate::ClassifierError::InputSize {
            got: x.ncols(),
            expected: model.input_len(),
            shape: model.input_shape(),
        });
    }
    if x.nrows() != labels.len() {
        return Err(invalid("labels", format!("{} rows but {} labels", x.nrows(), labels.len())));
    }
    for &l in labels {
        model.check_class(l)?;
    }
    if let Some(((i, _), v)) = x.indexed_iter().find(|(_, v)| !(v.is_finite() && (0.0..=1.0).contains(*v))) {
        return Err(invalid("images", format!("row {i} holds {v}, outside [0, 1]")));
    }
    opts.validate()
}

/// Attacks every correctly classified row of `x` (labels are class indices of `model`). The on-manifold attack
/// needs tangent spaces: [`attack_on_manifold`].
pub fn attack(
    model: &Classifier,
    x: ndarray::ArrayView2<f32>,
    labels: &[usize],
    opts: &AttackOptions,
) -> Result<AttackReport> {
    attack_with(model, x, labels, opts, None)
}

/// [`attack`] with the tangent spaces of a reference at every row of `x` ([`tangent_spaces`]); `opts.attack` must
/// be [`Attack::OnManifold`].
pub fn attack_on_manifold(
    model: &Classifier,
    x: ndarray::ArrayView2<f32>,
    labels: &[usize],
    opts: &AttackOptions,
    tangents: &TangentSpaces,
) -> Result<AttackReport> {
    if opts.attack != Attack::OnManifold {
        return Err(invalid("attack method", format!("{} given tangent spaces (use on-manifold)", opts.attack)));
    }
    if tangents.bases.len() != x.nrows() {
        return Err(invalid("tangent spaces", format!("{} for {} images", tangents.bases.len(), x.nrows())));
    }
    attack_with(model, x, labels, opts, Some(tangents))
}

// One pipeline for every method: checks, correct rows, the attack, quantisation, per-image results, random rates.
#[allow(clippy::too_many_lines)]
fn attack_with(
    model: &Classifier,
    x: ndarray::ArrayView2<f32>,
    labels: &[usize],
    opts: &AttackOptions,
    tangents: Option<&TangentSpaces>,
) -> Result<AttackReport> {
    check(model, &x, labels, opts)?;
    let probs = model.predict_proba(x)?;
    let rows: Vec<usize> = (0..x.nrows()).filter(|&i| argmax(&probs.row(i).to_vec()).0 == labels[i]).collect();
    if rows.is_empty() {
        // A flip rate over no image would be 0/0: refuse rather than report a number.
        return Err(invalid(
            "images",
            format!("the model classifies none of the {} images correctly: nothing to attack", x.nrows()),
        ));
    }
    let clean = x.select(ndarray::Axis(0), &rows);
    let y: Vec<usize> = rows.iter().map(|&r| labels[r]).collect();
    let adv = match opts.attack {
        Attack::Fgsm => fgsm(model, &clean, &y, opts)?,
        Attack::Pgd => pgd(model, &clean, &y, opts)?,
        Attack::Lbfgs => lbfgs(model, &clean, &y, opts)?,
        Attack::OnManifold => {
            let t = tangents.ok_or_else(|| {
                invalid("attack method", "on-manifold needs a reference collection (its tangent spaces)")
            })?;
            let bases: Vec<ndarray::Array2<f32>> = rows.iter().map(|&r| t.bases[r].clone()).collect();
            on_manifold::pgd_tangent(model, &clean, &y, &bases, opts)?
        }
    };
    let budget = if opts.attack == Attack::Lbfgs { None } else { Some((opts.norm, opts.eps)) };
    let adv = finalize(model, &clean, &adv, &y, budget, opts.quantize)?;
    let adv_probs = model.predict_proba(adv.view())?;
    let mut results = Vec::with_capacity(rows.len());
    for (k, &row) in rows.iter().enumerate() {
        let (pred, conf) = argmax(&adv_probs.row(k).to_vec());
        let delta: Vec<f32> = adv.row(k).iter().zip(clean.row(k)).map(|(a, c)| a - c).collect();
        results.push(AttackResult {
            row,
            original: y[k],
            original_confidence: probs[[row, y[k]]],
            adversarial: pred,
            adversarial_confidence: conf,
            flipped: pred != y[k],
            l2: delta.iter().map(|d| d * d).sum::<f32>().sqrt(),
            linf: delta.iter().fold(0f32, |m, d| m.max(d.abs())),
            random_flip_rate_l2: None,
            random_flip_rate_linf: None,
            off_tangent_fraction: tangents
                .map(|t| on_manifold::off_tangent_fraction(&t.bases[row], ndarray::ArrayView1::from(&delta))),
            perturbed: adv.row(k).to_vec(),
        });
    }
    if opts.random_trials > 0 {
        let rates: Vec<Option<(f64, f64)>> = results
            .par_iter()
            .enumerate()
            .map(|(k, r)| {
                if !r.flipped {
                    return Ok(None);
                }
                random_flip_rates(model, clean.row(k), r, opts).map(Some)
            })
            .collect::<Result<_>>()?;
        for (r, rate) in results.iter_mut().zip(rates) {
            if let Some((l2, linf)) = rate {
                r.random_flip_rate_l2 = Some(l2);
                r.random_flip_rate_linf = Some(linf);
            }
        }
    }
    let flipped: Vec<&AttackResult> = results.iter().filter(|r| r.flipped).collect();
    let mean = |v: &[f64]| if v.is_empty() { None } else { Some(v.iter().sum::<f64>() / v.len() as f64) };
    let l2: Vec<f64> = flipped.iter().map(|r| r.l2 as f64).collect();
    let linf: Vec<f64> = flipped.iter().map(|r| r.linf as f64).collect();
    let rl2: Vec<f64> = flipped.iter().filter_map(|r| r.random_flip_rate_l2).collect();
    let rlinf: Vec<f64> = flipped.iter().filter_map(|r| r.random_flip_rate_linf).collect();
    let off: Vec<f64> = flipped.iter().filter_map(|r| r.off_tangent_fraction).collect();
    let pgd_flip_rate = match tangents {
        Some(_) => {
            let plain = AttackOptions { attack: Attack::Pgd, random_trials: 0, ..opts.clone() };
            let adv = pgd(model, &clean, &y, &plain)?;
            let adv = finalize(model, &clean, &adv, &y, Some((opts.norm, opts.eps)), opts.quantize)?;
            let p = model.predict_proba(adv.view())?;
            let n = (0..y.len()).filter(|&k| argmax(&p.row(k).to_vec()).0 != y[k]).count();
            Some(n as f64 / y.len() as f64)
        }
        None => None,
    };
    Ok(AttackReport {
        attack: opts.attack,
        norm: opts.norm,
        eps: opts.eps,
        n_images: x.nrows(),
        n_attacked: rows.len(),
        n_flipped: flipped.len(),
        flip_rate: if rows.is_empty() { 0.0 } else { flipped.len() as f64 / rows.len() as f64 },
        random_flip_rate_l2: mean(&rl2),
        random_flip_rate_linf: mean(&rlinf),
        mean_l2: mean(&l2),
        median_l2: median(&l2),
        mean_linf: mean(&linf),
        median_linf: median(&linf),
        pgd_flip_rate,
        mean_off_tangent_fraction: mean(&off),
        tangent: tangents.map(TangentSpaces::summary),
        results,
    })
}

fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    Some(if n % 2 == 1 { s[n / 2] } else { 0.5 * (s[n / 2 - 1] + s[n / 2]) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eps_parses_numbers_and_fractions() {
        assert_eq!(parse_eps(DEFAULT_EPS_TEXT).unwrap(), DEFAULT_EPS);
        assert_eq!(parse_eps(" 0.5 ").unwrap(), 0.5);
        assert_eq!(parse_eps("1 / 4").unwrap(), 0.25);
        for bad in ["", "x", "8/", "0", "-1/255", "1/0"] {
            assert!(parse_eps(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_round_trip() {
        for a in [Attack::Fgsm, Attack::Pgd, Attack::Lbfgs, Attack::OnManifold] {
            assert_eq!(a.to_string().parse::<Attack>().unwrap(), a);
        }
        for n in [Norm::L2, Norm::Linf] {
            assert_eq!(n.to_string().parse::<Norm>().unwrap(), n);
        }
        assert!("l1".parse::<Norm>().is_err());
    }
}
