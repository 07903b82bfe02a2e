//! Adversarial perturbations (Szegedy et al. 2014, "Intriguing properties of neural networks") and the random
//! baseline that shows how special they are.
//!
//! Only images the model classifies correctly are attacked. Methods (all untargeted except the inner problem of
//! `lbfgs`; "loss" is the cross-entropy of the true label):
//! * [`Attack::Fgsm`]: one step of size ε along the sign of the loss gradient (L∞) or along the normalised
//!   gradient (L2) — Goodfellow et al.'s fast gradient (sign) method.
//! * [`Attack::Pgd`]: projected gradient ascent of the loss inside the ε-ball (L∞: sign steps; L2: normalised
//!   steps), step `2.5 ε / steps`, projected onto the ball and the [0, 1] box after each step, stopping for an
//!   image as soon as its label changes. Budgeted, not minimal.
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

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use serde::Serialize;

use crate::error::{invalid, Result};
use crate::model::{argmax, Classifier};
use crate::util::{item_rng, stream};

/// Attack method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Attack {
    Fgsm,
    Pgd,
    Lbfgs,
}

impl Attack {
    pub fn name(self) -> &'static str {
        match self {
            Attack::Fgsm => "fgsm",
            Attack::Pgd => "pgd",
            Attack::Lbfgs => "lbfgs",
        }
    }
}

impl std::str::FromStr for Attack {
    type Err = crate::ClassifierError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "fgsm" => Ok(Attack::Fgsm),
            "pgd" => Ok(Attack::Pgd),
            "lbfgs" => Ok(Attack::Lbfgs),
            other => Err(invalid("attack method", format!("{other:?} (use fgsm, pgd or lbfgs)"))),
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
}

impl Default for AttackOptions {
    fn default() -> Self {
        AttackOptions {
            attack: Attack::Pgd,
            norm: Norm::Linf,
            eps: 8.0 / 255.0,
            steps: 40,
            search_rounds: 10,
            quantize: true,
            random_trials: 100,
            seed: 0,
        }
    }
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
    if opts.attack != Attack::Lbfgs && !(opts.eps > 0.0 && opts.eps.is_finite()) {
        return Err(invalid("eps", format!("{} (need a positive budget)", opts.eps)));
    }
    if opts.attack != Attack::Fgsm && opts.steps == 0 {
        return Err(invalid("steps", "must be at least 1"));
    }
    if opts.attack == Attack::Lbfgs && opts.search_rounds == 0 {
        return Err(invalid("search rounds", "must be at least 1"));
    }
    Ok(())
}

/// Attacks every correctly classified row of `x` (labels are class indices of `model`).
pub fn attack(
    model: &Classifier,
    x: ndarray::ArrayView2<f32>,
    labels: &[usize],
    opts: &AttackOptions,
) -> Result<AttackReport> {
    check(model, &x, labels, opts)?;
    let probs = model.predict_proba(x)?;
    let rows: Vec<usize> = (0..x.nrows()).filter(|&i| argmax(&probs.row(i).to_vec()).0 == labels[i]).collect();
    let clean = x.select(ndarray::Axis(0), &rows);
    let y: Vec<usize> = rows.iter().map(|&r| labels[r]).collect();
    let adv = match opts.attack {
        Attack::Fgsm => fgsm(model, &clean, &y, opts)?,
        Attack::Pgd => pgd(model, &clean, &y, opts)?,
        Attack::Lbfgs => lbfgs(model, &clean, &y, opts)?,
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

/// Gradient of the loss `-log p(y | x)` (ascent direction) and the current predictions.
fn loss_grad(model: &Classifier, x: &ndarray::Array2<f32>, y: &[usize]) -> Result<(ndarray::Array2<f32>, Vec<usize>)> {
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

fn fgsm(
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

fn pgd(
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
        // Stop an image once its (quantised, if asked) version changes label.
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
            if argmax(&p.row(j).to_vec()).0 != y[k] {
                done[k] = true;
            }
        }
    }
    Ok(adv)
}

/// Quantises `adv - clean` toward zero on the 8-bit grid (norms never grow).
fn quantize_toward(clean: ndarray::ArrayView1<f32>, adv: ndarray::ArrayView1<f32>) -> Vec<f32> {
    adv.iter()
        .zip(clean)
        .map(|(a, c)| {
            let d = ((a - c) * 255.0 + 1e-3 * (a - c).signum()).trunc() / 255.0;
            (c + d).clamp(0.0, 1.0)
        })
        .collect()
}

fn quantize_nearest(adv: ndarray::ArrayView1<f32>) -> Vec<f32> {
    adv.iter().map(|a| ((a * 255.0).round() / 255.0).clamp(0.0, 1.0)).collect()
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
fn finalize(
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
    for k in 0..n {
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
            if fits && argmax(&p.row(3 * k + j).to_vec()).0 != y[k] {
                chosen = 3 * k + j;
                break;
            }
        }
        out.row_mut(k).assign(&cands.row(chosen));
    }
    Ok(out)
}

/// Batched projected L-BFGS on `f(r) = c ‖r‖² − log p(target | x + r)`, `x + r ∈ [0, 1]`, for every row at once.
struct Lbfgs {
    memory: usize,
}

struct LbfgsState {
    r: Vec<f32>,
    f: f64,
    g: Vec<f32>,
    s: Vec<Vec<f32>>,
    y: Vec<Vec<f32>>,
    done: bool,
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (*x as f64) * (*y as f64)).sum()
}

impl Lbfgs {
    /// Objective and gradient for rows `x + r` with penalties `c`.
    fn eval(
        model: &Classifier,
        clean: &ndarray::Array2<f32>,
        rows: &[usize],
        rs: &[&[f32]],
        c: &[f64],
        target: &[usize],
    ) -> Result<Vec<(f64, Vec<f32>)>> {
        let d = clean.ncols();
        let mut x = ndarray::Array2::<f32>::zeros((rows.len(), d));
        for (j, &k) in rows.iter().enumerate() {
            x.row_mut(j).iter_mut().zip(clean.row(k)).zip(rs[j]).for_each(|((v, c0), r)| *v = c0 + r);
        }
        let t: Vec<usize> = rows.iter().map(|&k| target[k]).collect();
        let (logp, g, _) = model.log_prob_grad(x.view(), &t)?;
        Ok(rows
            .iter()
            .enumerate()
            .map(|(j, &k)| {
                let r = rs[j];
                let f = c[k] * dot(r, r) - logp[j] as f64;
                let grad = r.iter().zip(g.row(j)).map(|(ri, gi)| (2.0 * c[k]) as f32 * ri - gi).collect();
                (f, grad)
            })
            .collect())
    }

    /// Free-variable mask: a variable at a bound whose gradient pushes it outward is held.
    fn free(clean: ndarray::ArrayView1<f32>, r: &[f32], g: &[f32]) -> Vec<bool> {
        clean
            .iter()
            .zip(r)
            .zip(g)
            .map(|((c, ri), gi)| {
                let x = c + ri;
                !((x <= 0.0 && *gi > 0.0) || (x >= 1.0 && *gi < 0.0))
            })
            .collect()
    }

    fn direction(&self, st: &LbfgsState, free: &[bool]) -> Vec<f32> {
        let mut q: Vec<f64> = st.g.iter().zip(free).map(|(g, f)| if *f { *g as f64 } else { 0.0 }).collect();
        let m = st.s.len();
        let mut alpha = vec![0f64; m];
        let masked =
            |v: &[f32]| -> Vec<f64> { v.iter().zip(free).map(|(x, f)| if *f { *x as f64 } else { 0.0 }).collect() };
        let ss: Vec<Vec<f64>> = st.s.iter().map(|v| masked(v)).collect();
        let ys: Vec<Vec<f64>> = st.y.iter().map(|v| masked(v)).collect();
        let rho: Vec<f64> = (0..m).map(|i| 1.0 / ss[i].iter().zip(&ys[i]).map(|(a, b)| a * b).sum::<f64>()).collect();
        for i in (0..m).rev() {
            if !rho[i].is_finite() || rho[i] <= 0.0 {
                continue;
            }
            alpha[i] = rho[i] * ss[i].iter().zip(&q).map(|(a, b)| a * b).sum::<f64>();
            q.iter_mut().zip(&ys[i]).for_each(|(qv, yv)| *qv -= alpha[i] * yv);
        }
        if m > 0 {
            let yy: f64 = ys[m - 1].iter().map(|v| v * v).sum();
            let sy = 1.0 / rho[m - 1];
            if yy > 0.0 && sy > 0.0 && sy.is_finite() {
                q.iter_mut().for_each(|v| *v *= sy / yy);
            }
        }
        for i in 0..m {
            if !rho[i].is_finite() || rho[i] <= 0.0 {
                continue;
            }
            let beta = rho[i] * ys[i].iter().zip(&q).map(|(a, b)| a * b).sum::<f64>();
            q.iter_mut().zip(&ss[i]).for_each(|(qv, sv)| *qv += (alpha[i] - beta) * sv);
        }
        q.iter().map(|v| -*v as f32).collect()
    }

    /// Minimises for every row (warm start r = 0) with `iters` iterations at most.
    fn solve(
        &self,
        model: &Classifier,
        clean: &ndarray::Array2<f32>,
        c: &[f64],
        target: &[usize],
        iters: usize,
    ) -> Result<Vec<Vec<f32>>> {
        let (n, d) = clean.dim();
        let all: Vec<usize> = (0..n).collect();
        let zeros = vec![0f32; d];
        let init = Self::eval(model, clean, &all, &vec![zeros.as_slice(); n], c, target)?;
        let mut st: Vec<LbfgsState> = init
            .into_iter()
            .map(|(f, g)| LbfgsState { r: vec![0.0; d], f, g, s: Vec::new(), y: Vec::new(), done: false })
            .collect();
        for _ in 0..iters {
            let active: Vec<usize> = (0..n).filter(|&k| !st[k].done).collect();
            if active.is_empty() {
                break;
            }
            // Directions (descent is enforced by falling back to the projected gradient).
            let mut dirs: Vec<Vec<f32>> = Vec::with_capacity(active.len());
            for &k in &active {
                let free = Self::free(clean.row(k), &st[k].r, &st[k].g);
                let mut p = self.direction(&st[k], &free);
                if dot(&p, &st[k].g) >= 0.0 {
                    st[k].s.clear();
                    st[k].y.clear();
                    p = st[k].g.iter().zip(&free).map(|(g, f)| if *f { -g } else { 0.0 }).collect();
                }
                if st[k].s.is_empty() {
                    // First step (or after a reset): unit-length in L∞ units of one grey level.
                    let m = p.iter().fold(0f32, |a, v| a.max(v.abs()));
                    if m > 0.0 {
                        p.iter_mut().for_each(|v| *v *= (1.0 / 255.0) / m);
                    }
                }
                dirs.push(p);
            }
            // Projected Armijo backtracking, batched over the rows still searching.
            let mut t = vec![1f32; active.len()];
            let mut accepted: Vec<Option<(Vec<f32>, f64, Vec<f32>)>> = vec![None; active.len()];
            for _ in 0..20 {
                let pending: Vec<usize> = (0..active.len()).filter(|&j| accepted[j].is_none()).collect();
                if pending.is_empty() {
                    break;
                }
                let trials: Vec<Vec<f32>> = pending
                    .iter()
                    .map(|&j| {
                        let k = active[j];
                        st[k]
                            .r
                            .iter()
                            .zip(&dirs[j])
                            .zip(clean.row(k))
                            .map(|((r, p), c)| (c + r + t[j] * p).clamp(0.0, 1.0) - c)
                            .collect()
                    })
                    .collect();
                let rows: Vec<usize> = pending.iter().map(|&j| active[j]).collect();
                let refs: Vec<&[f32]> = trials.iter().map(|v| v.as_slice()).collect();
                let evals = Self::eval(model, clean, &rows, &refs, c, target)?;
                for ((&j, trial), (f, g)) in pending.iter().zip(trials).zip(evals) {
                    let k = active[j];
                    let step: Vec<f32> = trial.iter().zip(&st[k].r).map(|(a, b)| a - b).collect();
                    let decrease = dot(&st[k].g, &step);
                    if f <= st[k].f + 1e-4 * decrease || t[j] < 1e-6 {
                        accepted[j] = Some((trial, f, g));
                    } else {
                        t[j] *= 0.5;
                    }
                }
            }
            for (j, &k) in active.iter().enumerate() {
                let Some((r_new, f_new, g_new)) = accepted[j].take() else {
                    st[k].done = true;
                    continue;
                };
                let s: Vec<f32> = r_new.iter().zip(&st[k].r).map(|(a, b)| a - b).collect();
                let yv: Vec<f32> = g_new.iter().zip(&st[k].g).map(|(a, b)| a - b).collect();
                let improvement = st[k].f - f_new;
                if dot(&s, &yv) > 1e-12 {
                    st[k].s.push(s.clone());
                    st[k].y.push(yv);
                    if st[k].s.len() > self.memory {
                        st[k].s.remove(0);
                        st[k].y.remove(0);
                    }
                }
                let moved = s.iter().fold(0f32, |a, v| a.max(v.abs()));
                st[k].r = r_new;
                st[k].f = f_new;
                st[k].g = g_new;
                if moved < 1e-6 || improvement.abs() < 1e-9 * (1.0 + f_new.abs()) {
                    st[k].done = true;
                }
            }
        }
        Ok(st.into_iter().map(|s| s.r).collect())
    }
}

fn lbfgs(
    model: &Classifier,
    clean: &ndarray::Array2<f32>,
    y: &[usize],
    opts: &AttackOptions,
) -> Result<ndarray::Array2<f32>> {
    let (n, d) = clean.dim();
    if n == 0 {
        return Ok(clean.clone());
    }
    // Target: the runner-up class of the clean image.
    let probs = model.predict_proba(clean.view())?;
    let target: Vec<usize> = (0..n)
        .map(|k| {
            let mut row = probs.row(k).to_vec();
            row[y[k]] = f32::NEG_INFINITY;
            argmax(&row).0
        })
        .collect();
    let solver = Lbfgs { memory: 10 };
    let mut c = vec![1.0f64; n];
    let mut c_ok: Vec<Option<f64>> = vec![None; n];
    let mut c_fail: Vec<Option<f64>> = vec![None; n];
    let mut best: Vec<Option<(f32, Vec<f32>)>> = vec![None; n];
    for _ in 0..opts.search_rounds {
        let rs = solver.solve(model, clean, &c, &target, opts.steps)?;
        let mut x = clean.clone();
        for (k, r) in rs.iter().enumerate() {
            x.row_mut(k).iter_mut().zip(r).for_each(|(v, ri)| *v = (*v + ri).clamp(0.0, 1.0));
        }
        // Success is judged on what will be written (quantised when asked).
        let judged = finalize(model, clean, &x, y, None, opts.quantize)?;
        let p = model.predict_proba(judged.view())?;
        for k in 0..n {
            let flipped = argmax(&p.row(k).to_vec()).0 != y[k];
            if flipped {
                let norm = judged.row(k).iter().zip(clean.row(k)).map(|(a, b)| (a - b) * (a - b)).sum::<f32>().sqrt();
                if best[k].as_ref().map(|(b, _)| norm < *b).unwrap_or(true) {
                    best[k] = Some((norm, x.row(k).to_vec()));
                }
                c_ok[k] = Some(c_ok[k].map_or(c[k], |v: f64| v.max(c[k])));
            } else {
                c_fail[k] = Some(c_fail[k].map_or(c[k], |v: f64| v.min(c[k])));
            }
            c[k] = match (c_ok[k], c_fail[k]) {
                (Some(a), Some(b)) => (a * b).sqrt(),
                (Some(a), None) => a * 10.0,
                (None, Some(b)) => b / 10.0,
                (None, None) => c[k],
            };
        }
    }
    let mut out = ndarray::Array2::<f32>::zeros((n, d));
    for (k, b) in best.iter().enumerate() {
        match b {
            Some((_, row)) => out.row_mut(k).assign(&ndarray::ArrayView1::from(row)),
            None => out.row_mut(k).assign(&clean.row(k)),
        }
    }
    Ok(out)
}

/// Random flip rates for one successful perturbation (see the module docs).
fn random_flip_rates(
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

/// Writes the files of an attack folder, the format `imanifold adversarial` and the demo share: `clean/NNNNN.png`,
/// `perturbed/NNNNN.png` (PNGs in parallel), `clean.npy`, `perturbed.npy` (float32, one row per attacked image),
/// `pairs.csv` (clean,perturbed for the flipped images: the input of `imanifold score --pairs`) and `adversarial.csv`
/// (per image: source, files, classes, confidences, flip, norms, random flip rates). `x` holds the rows the report's
/// `row` indices refer to; `source(row)` names them. `on_image` is called once per image written (progress).
pub fn write_attack_files(
    out: &std::path::Path,
    x: ndarray::ArrayView2<f32>,
    report: &AttackReport,
    classes: &[String],
    shape: crate::ImageShape,
    source: &(dyn Fn(usize) -> String + Sync),
    on_image: &(dyn Fn() + Sync),
) -> Result<()> {
    let n = report.results.len();
    let d = x.ncols();
    let mut clean = ndarray::Array2::<f32>::zeros((n, d));
    let mut perturbed = ndarray::Array2::<f32>::zeros((n, d));
    let file_names = |k: usize| (format!("clean/{k:05}.png"), format!("perturbed/{k:05}.png"));
    let mut pairs = Vec::new();
    let mut per_image = Vec::new();
    let opt = |v: Option<f64>| v.map(output::fmt_f64).unwrap_or_default();
    for (k, r) in report.results.iter().enumerate() {
        clean.row_mut(k).assign(&x.row(r.row));
        perturbed.row_mut(k).assign(&ndarray::ArrayView1::from(&r.perturbed));
        let (cf, pf) = file_names(k);
        if r.flipped {
            pairs.push(vec![cf.clone(), pf.clone()]);
        }
        per_image.push(vec![
            source(r.row),
            cf,
            pf,
            classes[r.original].clone(),
            output::fmt_f64(r.original_confidence as f64),
            classes[r.adversarial].clone(),
            output::fmt_f64(r.adversarial_confidence as f64),
            r.flipped.to_string(),
            output::fmt_f64(r.l2 as f64),
            output::fmt_f64(r.linf as f64),
            opt(r.random_flip_rate_l2),
            opt(r.random_flip_rate_linf),
        ]);
    }
    (0..n).into_par_iter().try_for_each(|k| -> Result<()> {
        let (cf, pf) = file_names(k);
        crate::images::write_png(&out.join(&cf), &clean.row(k).to_vec(), shape)?;
        crate::images::write_png(&out.join(&pf), &report.results[k].perturbed, shape)?;
        on_image();
        Ok(())
    })?;
    output::write_npy(&out.join("clean.npy"), &clean)?;
    output::write_npy(&out.join("perturbed.npy"), &perturbed)?;
    output::write_csv(&out.join("pairs.csv"), &["clean", "perturbed"], pairs)?;
    output::write_csv(
        &out.join("adversarial.csv"),
        &[
            "source",
            "clean",
            "perturbed",
            "original_class",
            "original_confidence",
            "new_class",
            "new_confidence",
            "flipped",
            "l2",
            "linf",
            "random_flip_rate_l2",
            "random_flip_rate_linf",
        ],
        per_image,
    )?;
    Ok(())
}

/// Sets the summary fields of an attack folder's `results.json` (`adversarial`) that the CLI and the demo share:
/// `method`, `norm` (`l2` for L-BFGS), `eps` (null for L-BFGS, which has no budget), `steps`, `random_trials`,
/// `n_images`, `n_correct` (= attacked), `clean_accuracy`, `n_flipped`, `flip_rate`, `random_flip_rate_l2`,
/// `random_flip_rate_linf`, `mean_l2`, `median_l2`, `mean_linf`, `median_linf` and `pairs_refer_to`. The caller
/// adds `model`, `data` and the seed.
pub fn set_attack_results(results: &mut output::Results, report: &AttackReport, opts: &AttackOptions) {
    let lbfgs = opts.attack == Attack::Lbfgs;
    results
        .set("method", opts.attack.name())
        .set("norm", if lbfgs { "l2" } else { opts.norm.name() })
        .set("eps", if lbfgs { None } else { Some(opts.eps) })
        .set("steps", opts.steps)
        .set("random_trials", opts.random_trials)
        .set("n_images", report.n_images)
        .set("n_correct", report.n_attacked)
        .set("clean_accuracy", report.n_attacked as f64 / report.n_images.max(1) as f64)
        .set("n_flipped", report.n_flipped)
        .set("flip_rate", report.flip_rate)
        .set("random_flip_rate_l2", report.random_flip_rate_l2)
        .set("random_flip_rate_linf", report.random_flip_rate_linf)
        .set("mean_l2", report.mean_l2)
        .set("median_l2", report.median_l2)
        .set("mean_linf", report.mean_linf)
        .set("median_linf", report.median_linf)
        .set(
            "pairs_refer_to",
            if opts.quantize {
                "PNG files (8-bit; identical to perturbed.npy values)"
            } else {
                "PNG files (8-bit, rounded; perturbed.npy holds the exact values the flips refer to)"
            },
        );
}
