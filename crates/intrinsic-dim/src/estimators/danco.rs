//! DANCo (Ceruti et al. 2014) and MiND_ML (Rozza et al. 2012), skdim 0.5 conventions.
//!
//! * MiND_MLi: argmax over d = 1..D of the log-likelihood of ρ = r1 / r_{k+1}; MiND_MLk: its continuous maximiser on
//!   [0, D] (the log-likelihood is concave in d, so the maximiser is found by bisection on the derivative).
//! * DANCo: statistics (MiND_MLk estimate, mean von Mises location and concentration of the neighbour angles) of the
//!   data are compared, by a KL divergence, with the same statistics of uniform d-ball samples of the same size for
//!   d = 1..D; the estimate is the minimiser (`fractal = true`: of the cubic not-a-knot spline through the KL values,
//!   as skdim's `interp1d` + `minimize`). The calibration samples are generated here from `random_state` (one
//!   ChaCha8 stream per dimension, so the calibration does not depend on the thread count) and cached per
//!   (N, k, d, seed) for the process, so bootstrap replicates reuse them.
//! * Deviation (documented): the calibration stops 10 dimensions past the running KL minimum instead of always
//!   running to D = ambient dimension (skdim spends minutes calibrating d = 1..1024 on 1024-feature data); pass
//!   `D` to bound it explicitly. `ver = "DANCoFit"` averages the calibration statistics of 10 independent ball
//!   samples per dimension (skdim loads a table of 100-sample means); it is less noisy, not faster.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use ndarray::ArrayView2;
use rayon::prelude::*;
use serde_json::{json, Value};

use super::Params;
use crate::special::{digamma, i0e, i1e};
use crate::{stats, DimError, Estimate, Estimator, FitContext};

/// ρ_i = r_1 / r_{k+1} from the first k + 1 neighbour distances.
pub fn rhos(d: ArrayView2<f32>, k: usize) -> Vec<f64> {
    (0..d.nrows()).map(|i| d[[i, 0]] as f64 / d[[i, k]] as f64).collect()
}

/// MiND log-likelihood of dimension `dd` (skdim `_lld`, with k the neighbourhood parameter).
pub fn lld(dd: f64, rhos: &[f64], k: usize) -> f64 {
    if dd == 0.0 {
        return -1e30;
    }
    let n = rhos.len() as f64;
    let km1 = k as f64 - 1.0;
    n * (k as f64 * dd).ln() + rhos.iter().map(|&r| (dd - 1.0) * r.ln() + km1 * (1.0 - r.powf(dd)).ln()).sum::<f64>()
}

fn lld_grad(dd: f64, rhos: &[f64], k: usize) -> f64 {
    let km1 = k as f64 - 1.0;
    rhos.len() as f64 / dd
        + rhos
            .iter()
            .map(|&r| {
                let l = r.ln();
                let rd = r.powf(dd);
                l - km1 * rd * l / (1.0 - rd)
            })
            .sum::<f64>()
}

/// MiND_MLi: integer maximiser over 1..=D.
pub fn mind_mli(rhos: &[f64], k: usize, max_d: usize) -> usize {
    let mut best = (f64::NEG_INFINITY, 1usize);
    for dd in 1..=max_d {
        let l = lld(dd as f64, rhos, k);
        if l > best.0 {
            best = (l, dd);
        }
    }
    best.1
}

/// MiND_MLk: continuous maximiser on [0, D] (concave likelihood: the root of its derivative by safeguarded Newton
/// steps inside a shrinking bracket, with ln ρ computed once; bisection where a step leaves the bracket).
pub fn mind_mlk(rhos: &[f64], k: usize, max_d: usize) -> f64 {
    let max_d = max_d as f64;
    if lld_grad(max_d, rhos, k) >= 0.0 {
        return max_d;
    }
    let logs: Vec<f64> = rhos.iter().map(|r| r.ln()).collect();
    let km1 = k as f64 - 1.0;
    let n = rhos.len() as f64;
    // Derivative and second derivative of the log-likelihood at dd.
    let derivs = |dd: f64| -> (f64, f64) {
        let (mut g, mut h) = (n / dd, -n / (dd * dd));
        for &l in &logs {
            let e = (dd * l).exp();
            let q = 1.0 - e;
            g += l - km1 * e * l / q;
            h -= km1 * l * l * e / (q * q);
        }
        (g, h)
    };
    let (mut lo, mut hi) = (0.0f64, max_d);
    let mut x = 0.5 * max_d;
    for _ in 0..200 {
        let (g, h) = derivs(x);
        if g > 0.0 {
            lo = x;
        } else {
            hi = x;
        }
        if hi - lo <= 1e-12 * hi {
            break;
        }
        let newton = x - g / h;
        let next = if newton.is_finite() && newton > lo && newton < hi { newton } else { 0.5 * (lo + hi) };
        if (next - x).abs() <= 1e-13 * x.abs() {
            x = next;
            break;
        }
        x = next;
    }
    x
}

/// skdim's approximation of the inverse of A(τ) = I1(τ)/I0(τ).
fn a_inv(eta: f64) -> f64 {
    if eta < 0.53 {
        2.0 * eta + eta.powi(3) + 5.0 * eta.powi(5) / 6.0
    } else if eta < 0.85 {
        -0.4 + 1.39 * eta + 0.43 / (1.0 - eta)
    } else {
        1.0 / (eta.powi(3) - 4.0 * eta.powi(2) + 3.0 * eta)
    }
}

/// DANCo statistics of one data set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub dhat: f64,
    pub mu_nu: f64,
    pub mu_tau: f64,
}

/// Statistics of `data` given its kNN (≥ k + 1 columns): MiND_MLk over 1..max_d and the angle concentration.
pub fn statistics(
    data: ArrayView2<f32>,
    idx: ArrayView2<usize>,
    dist: ArrayView2<f32>,
    k: usize,
    max_d: usize,
) -> Stats {
    let r = rhos(dist, k);
    let dhat = mind_mlk(&r, k, max_d);
    let dim = data.ncols();
    let per_point: Vec<(f64, f64)> = (0..data.nrows())
        .into_par_iter()
        .map(|i| {
            let centre = data.row(i);
            // k difference vectors, row-major in one buffer.
            let mut vecs = vec![0.0f64; k * dim];
            for (v, &j) in vecs.chunks_exact_mut(dim.max(1)).zip(idx.row(i).iter().take(k)) {
                v.iter_mut()
                    .zip(data.row(j).iter().zip(centre.iter()))
                    .for_each(|(v, (&a, &c))| *v = a as f64 - c as f64);
            }
            let lens: Vec<f64> =
                vecs.chunks_exact(dim.max(1)).map(|v| v.iter().map(|x| x * x).sum::<f64>().sqrt()).collect();
            let (mut ssin, mut scos, mut cnt) = (0.0f64, 0.0f64, 0usize);
            for a in 0..k {
                let va = &vecs[a * dim..(a + 1) * dim];
                for b in a + 1..k {
                    let dot: f64 = va.iter().zip(&vecs[b * dim..(b + 1) * dim]).map(|(x, y)| x * y).sum();
                    // θ = acos(c) ∈ [0, π]: sin θ = √(1 − c²), cos θ = c (skdim evaluates the trigonometry).
                    let c = (dot / (lens[a] * lens[b])).clamp(-1.0, 1.0);
                    ssin += (1.0 - c * c).max(0.0).sqrt();
                    scos += c;
                    cnt += 1;
                }
            }
            let nu = (ssin / scos).atan();
            let eta = ((scos / cnt as f64).powi(2) + (ssin / cnt as f64).powi(2)).sqrt();
            (nu, a_inv(eta))
        })
        .collect();
    let mu_nu = stats::mean(&per_point.iter().map(|p| p.0).collect::<Vec<_>>());
    let mut mu_tau = stats::mean(&per_point.iter().map(|p| p.1).collect::<Vec<_>>());
    if dim == 1 {
        mu_tau = 1.0;
    }
    Stats { dhat, mu_nu, mu_tau }
}

fn kl_d(dhat: f64, dcal: f64, k: usize) -> f64 {
    let hk: f64 = (1..=k).map(|i| 1.0 / i as f64).sum();
    let quo = dcal / dhat;
    let mut binom = 1.0f64;
    let mut a = 0.0;
    for i in 0..=k {
        if i > 0 {
            binom = binom * (k - i + 1) as f64 / i as f64;
        }
        let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
        a += sign * binom * digamma(1.0 + i as f64 / quo);
    }
    hk * quo - quo.ln() - (k as f64 - 1.0) * a
}

fn kl_nutau(nu1: f64, nu2: f64, tau1: f64, tau2: f64) -> f64 {
    // ln(I0(τ2) / I0(τ1)) + I1(τ1)/I0(τ1) (τ1 − τ2 cos(ν1 − ν2)), with exponentially scaled Bessel functions.
    let log_ratio = (tau2 + i0e(tau2).ln()) - (tau1 + i0e(tau1).ln());
    log_ratio + i1e(tau1) / i0e(tau1) * (tau1 - tau2 * (nu1 - nu2).cos())
}

/// KL divergence between the data's statistics and a calibration's (skdim `_KL`).
pub fn kl(data: &Stats, cal: &Stats, k: usize) -> f64 {
    kl_d(data.dhat, cal.dhat, k) + kl_nutau(data.mu_nu, cal.mu_nu, data.mu_tau, cal.mu_tau)
}

type CacheKey = (usize, usize, usize, u64, usize);

fn cache() -> &'static Mutex<HashMap<CacheKey, Stats>> {
    static C: OnceLock<Mutex<HashMap<CacheKey, Stats>>> = OnceLock::new();
    C.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Calibration statistics of a uniform `d`-ball sample of `n` points (mean over `replicates` samples), cached.
pub fn calibration(n: usize, k: usize, d: usize, seed: u64, replicates: usize) -> Result<Stats, DimError> {
    let key = (n, k, d, seed, replicates);
    if let Some(s) = cache().lock().map_err(|_| poisoned())?.get(&key) {
        return Ok(*s);
    }
    let mut acc = Stats { dhat: 0.0, mu_nu: 0.0, mu_tau: 0.0 };
    for r in 0..replicates {
        let ball =
            benchmark_manifolds::hyperball(n, d, stats::mix(seed, (d as u64) << 16 | r as u64)).mapv(|v| v as f32);
        let (ball, _) = crate::drop_duplicates(ball.view());
        let nb = knn::knn_self(ball.view(), k + 1)?;
        let s = statistics(ball.view(), nb.indices.view(), nb.distances.view(), k, 2 * d + 5);
        acc.dhat += s.dhat / replicates as f64;
        acc.mu_nu += s.mu_nu / replicates as f64;
        acc.mu_tau += s.mu_tau / replicates as f64;
    }
    cache().lock().map_err(|_| poisoned())?.insert(key, acc);
    Ok(acc)
}

/// Forgets the cached calibration statistics (benchmarks measure cold runs with it).
pub fn clear_cache() {
    if let Ok(mut c) = cache().lock() {
        c.clear();
    }
}

fn poisoned() -> DimError {
    DimError::Numerical { estimator: "danco", message: "calibration cache poisoned by an earlier panic".into() }
}

/// Minimiser of the interpolating spline through (1, y1), …, (m, ym) near the integer minimiser `de`.
fn spline_min(y: &[f64], de: usize, kind: usize) -> f64 {
    let m = y.len();
    if kind == 1 || m < 3 {
        return de as f64;
    }
    // Piecewise cubic (not-a-knot) or, for m == 3 / kind == 2, the interpolating parabola.
    let eval: Box<dyn Fn(f64) -> f64> = if kind == 2 || m == 3 {
        let (a, b, c) = if m == 3 {
            (y[0], y[1], y[2])
        } else {
            let i = de.clamp(2, m - 1);
            (y[i - 2], y[i - 1], y[i])
        };
        let x0 = if m == 3 { 1.0 } else { (de.clamp(2, m - 1) - 1) as f64 };
        Box::new(move |x: f64| {
            let t = x - x0;
            a * (t - 1.0) * (t - 2.0) / 2.0 - b * t * (t - 2.0) + c * t * (t - 1.0) / 2.0
        })
    } else {
        let mm = not_a_knot_second_derivatives(y);
        let y = y.to_vec();
        Box::new(move |x: f64| {
            let i = ((x.floor() as usize).clamp(1, m - 1)) - 1; // interval [i+1, i+2] in 1-based x
            let t = x - (i + 1) as f64;
            let (y0, y1, m0, m1) = (y[i], y[i + 1], mm[i], mm[i + 1]);
            (1.0 - t) * y0 + t * y1 + ((1.0 - t).powi(3) - (1.0 - t)) * m0 / 6.0 + (t.powi(3) - t) * m1 / 6.0
        })
    };
    // Golden-section search on [de − 1, de + 1] ∩ [1, m].
    let (mut a, mut b) = ((de as f64 - 1.0).max(1.0), (de as f64 + 1.0).min(m as f64));
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let mut c = b - g * (b - a);
    let mut d = a + g * (b - a);
    for _ in 0..100 {
        if eval(c) < eval(d) {
            b = d
        } else {
            a = c
        }
        c = b - g * (b - a);
        d = a + g * (b - a);
    }
    let x = 0.5 * (a + b);
    if eval(x) <= eval(de as f64) {
        x
    } else {
        de as f64
    }
}

/// Second derivatives of the not-a-knot cubic spline through unit-spaced points (m ≥ 4).
fn not_a_knot_second_derivatives(y: &[f64]) -> Vec<f64> {
    let m = y.len();
    let rhs: Vec<f64> =
        (0..m).map(|i| if i == 0 || i == m - 1 { 0.0 } else { 6.0 * (y[i - 1] - 2.0 * y[i] + y[i + 1]) }).collect();
    let mut mm = vec![0.0; m];
    // Not-a-knot: M0 = 2M1 − M2 and M_{m−1} = 2M_{m−2} − M_{m−3}, which turns the first and last interior equations
    // into 6 M1 = r1 and 6 M_{m−2} = r_{m−2}; the rest is tridiagonal (1, 4, 1).
    mm[1] = rhs[1] / 6.0;
    mm[m - 2] = rhs[m - 2] / 6.0;
    let inner: Vec<usize> = (2..m - 2).collect();
    if !inner.is_empty() {
        let len = inner.len();
        let mut cp = vec![0.0; len];
        let mut dp = vec![0.0; len];
        for (t, &i) in inner.iter().enumerate() {
            let mut r = rhs[i];
            if i == 2 {
                r -= mm[1];
            }
            if i == m - 3 {
                r -= mm[m - 2];
            }
            let (a, b, c) = (if t == 0 { 0.0 } else { 1.0 }, 4.0, if t + 1 == len { 0.0 } else { 1.0 });
            let den = b - a * if t == 0 { 0.0 } else { cp[t - 1] };
            cp[t] = c / den;
            dp[t] = (r - a * if t == 0 { 0.0 } else { dp[t - 1] }) / den;
        }
        for t in (0..len).rev() {
            mm[inner[t]] = dp[t] - cp[t] * if t + 1 < len { mm[inner[t + 1]] } else { 0.0 };
        }
    }
    mm[0] = 2.0 * mm[1] - mm[2];
    mm[m - 1] = 2.0 * mm[m - 2] - mm[m - 3];
    mm
}

#[derive(Debug, Clone)]
pub struct Danco {
    pub k: usize,
    pub max_d: Option<usize>,
    pub ver: String,
    pub fractal: bool,
    pub random_state: Option<u64>,
    /// Dimensions calibrated past the running KL minimum before stopping (imanifold; see the module docs).
    pub margin: usize,
}

impl Danco {
    pub(crate) fn from_params(p: &Params) -> Result<Self, DimError> {
        let k = p.usize("k", 10)?;
        if k < 2 {
            return Err(p.invalid("k", k, "must be at least 2"));
        }
        let max_d = p.opt_usize("D")?;
        if max_d == Some(0) {
            return Err(p.invalid("D", 0, "must be at least 1"));
        }
        let ver = p.string("ver", "DANCo")?;
        if !["DANCo", "DANCoFit", "MIND_MLi", "MIND_MLk"].contains(&ver.as_str()) {
            return Err(p.invalid("ver", &ver, "must be 'DANCo', 'DANCoFit', 'MIND_MLi' or 'MIND_MLk'"));
        }
        if p.opt_string("calibration_data").is_some() {
            return Err(p.invalid("calibration_data", "set", "calibration is computed (and cached) by imanifold"));
        }
        let _verbose = p.bool("verbose", false)?;
        Ok(Danco {
            k,
            max_d,
            ver,
            fractal: p.bool("fractal", true)?,
            random_state: p.opt_usize("random_state")?.map(|s| s as u64),
            margin: p.usize("margin", 10)?,
        })
    }
}

impl Estimator for Danco {
    fn name(&self) -> &'static str {
        "danco"
    }
    fn params(&self) -> Value {
        json!({"k": self.k, "D": self.max_d, "ver": self.ver, "fractal": self.fractal, "random_state": self.random_state,
               "margin": self.margin})
    }
    fn needs_k(&self) -> Option<usize> {
        Some(self.k + 1)
    }
    fn min_points(&self) -> usize {
        self.k + 2
    }
    fn fit(&self, ctx: &FitContext) -> Result<Estimate, DimError> {
        let k = self.k;
        let (idx, dist) = ctx.neighbors("danco", k + 1)?;
        let big_d = self.max_d.unwrap_or(ctx.ncols());
        if self.ver == "MIND_MLi" || self.ver == "MIND_MLk" {
            let r = rhos(dist, k);
            let di = mind_mli(&r, k, big_d);
            let v = if self.ver == "MIND_MLi" { di as f64 } else { mind_mlk(&r, k, big_d) };
            return Ok(Estimate::new(v));
        }
        let data_stats = statistics(ctx.data("danco")?, idx, dist, k, big_d);
        if !(data_stats.dhat.is_finite() && data_stats.mu_nu.is_finite() && data_stats.mu_tau.is_finite()) {
            return Ok(Estimate::new(f64::NAN).with_extra(json!({"reason": "non-finite statistics"})));
        }
        let seed = self.random_state.unwrap_or(ctx.seed);
        let replicates = if self.ver == "DANCoFit" { 10 } else { 1 };
        let n = ctx.n();
        // Calibrate in parallel batches; keep exactly the prefix the stopping rule selects (batch-size independent).
        let mut kl_vals: Vec<f64> = Vec::new();
        let batch = rayon::current_num_threads().max(1) * 2;
        let mut stop_at = big_d;
        'outer: while kl_vals.len() < big_d {
            let start = kl_vals.len() + 1;
            let end = (start + batch - 1).min(big_d);
            let cal: Result<Vec<Stats>, DimError> =
                (start..=end).into_par_iter().map(|d| calibration(n, k, d, seed, replicates)).collect();
            for c in cal? {
                kl_vals.push(kl(&data_stats, &c, k));
                let len = kl_vals.len();
                let argmin = argmin(&kl_vals) + 1;
                if len >= argmin + self.margin {
                    stop_at = len;
                    break 'outer;
                }
            }
        }
        kl_vals.truncate(stop_at);
        let de = argmin(&kl_vals) + 1;
        let kind = match ctx.ncols() {
            1 | 2 => 1,
            3 => 2,
            _ => 3,
        };
        let dim = if self.fractal { spline_min(&kl_vals, de, kind) } else { de as f64 };
        Ok(Estimate::new(dim).with_extra(json!({
            "kl_divergence": kl_vals[de - 1], "calibrated_dimensions": kl_vals.len(), "mind_mlk": data_stats.dhat,
            "mu_nu": data_stats.mu_nu, "mu_tau": data_stats.mu_tau,
        })))
    }
    fn at_scale(&self, k: usize) -> Option<Box<dyn Estimator>> {
        (k >= 2).then(|| Box::new(Danco { k, ..self.clone() }) as Box<dyn Estimator>)
    }
}

fn argmin(v: &[f64]) -> usize {
    let mut best = (f64::INFINITY, 0);
    for (i, &x) in v.iter().enumerate() {
        if x < best.0 {
            best = (x, i);
        }
    }
    best.1
}

/// MiND_ML (skdim `MiND_ML`): MLk (continuous) or MLi (integer) maximiser of the ρ likelihood over 1..D.
#[derive(Debug, Clone)]
pub struct MindMl {
    pub k: usize,
    pub max_d: usize,
    pub integer: bool,
}

impl MindMl {
    pub(crate) fn from_params(p: &Params) -> Result<Self, DimError> {
        let k = p.usize("k", 20)?;
        let max_d = p.usize("D", 10)?;
        if k < 2 || max_d < 1 {
            return Err(p.invalid("k/D", format!("{k}/{max_d}"), "need k >= 2 and D >= 1"));
        }
        let ver = p.string("ver", "MLk")?;
        let integer = match ver.as_str() {
            "MLk" => false,
            "MLi" => true,
            _ => return Err(p.invalid("ver", ver, "must be 'MLk' or 'MLi'")),
        };
        Ok(MindMl { k, max_d, integer })
    }
}

impl Estimator for MindMl {
    fn name(&self) -> &'static str {
        "mind-ml"
    }
    fn params(&self) -> Value {
        json!({"k": self.k, "D": self.max_d, "ver": if self.integer { "MLi" } else { "MLk" }})
    }
    fn needs_k(&self) -> Option<usize> {
        Some(self.k + 1)
    }
    fn fit(&self, ctx: &FitContext) -> Result<Estimate, DimError> {
        let (_, dist) = ctx.neighbors("mind-ml", self.k + 1)?;
        let r = rhos(dist, self.k);
        let v = if self.integer { mind_mli(&r, self.k, self.max_d) as f64 } else { mind_mlk(&r, self.k, self.max_d) };
        Ok(Estimate::new(v))
    }
    fn at_scale(&self, k: usize) -> Option<Box<dyn Estimator>> {
        (k >= 2).then(|| Box::new(MindMl { k, ..self.clone() }) as Box<dyn Estimator>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spline_reproduces_cubics_and_finds_minimum() {
        // A cubic is reproduced exactly by the not-a-knot spline.
        let f = |x: f64| 0.1 * x.powi(3) - 1.5 * x * x + 2.0 * x + 1.0;
        let y: Vec<f64> = (1..=9).map(|i| f(i as f64)).collect();
        let mm = not_a_knot_second_derivatives(&y);
        for (i, m) in mm.iter().enumerate() {
            let x = (i + 1) as f64;
            assert!((m - (0.6 * x - 3.0)).abs() < 1e-9, "{i}: {m}");
        }
        // f'(x) = 0.3x² − 3x + 2 = 0 → x = (3 + sqrt(9 − 2.4)) / 0.6 ≈ 9.28 (max side) / 0.72; use a parabola.
        let g = |x: f64| (x - 4.3).powi(2);
        let y: Vec<f64> = (1..=10).map(|i| g(i as f64)).collect();
        assert!((spline_min(&y, 4, 3) - 4.3).abs() < 1e-6);
        assert!((spline_min(&y[..3], 3, 2) - 3.0).abs() < 1e-9); // parabola through 3 points of g has min at 4.3 → clamped to [2, 3]
    }

    #[test]
    fn mind_likelihood_is_maximised() {
        let r: Vec<f64> = (1..200).map(|i| (i as f64 / 200.0).powf(0.2)).collect();
        let dk = mind_mlk(&r, 10, 30);
        let g = lld(dk, &r, 10);
        assert!(g >= lld(dk * 1.01, &r, 10) && g >= lld(dk * 0.99, &r, 10));
        let di = mind_mli(&r, 10, 30);
        assert!((di as f64 - dk).abs() <= 1.0);
    }
}
