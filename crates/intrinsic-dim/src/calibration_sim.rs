//! Simulated calibration of the default estimator: the nearest-neighbour distances of one point of an n-point
//! uniform sample of the reference shape, drawn without drawing the other n − 1 points.
//!
//! The calibration statistics (TwoNN-ML, Levina–Bickel MLE) are functions of the empirical distribution over the
//! sample's points of each point's first k neighbour distances. That distribution is the law of the k nearest
//! distances from one uniform point x of the shape to n − 1 other independent uniform points, which this module
//! samples directly:
//!
//! * x is drawn uniformly in the shape (unit d-ball or unit d-cube);
//! * the other points are replaced by a Poisson process of intensity (n − 1)/V on the shape (V its volume):
//!   the same mean count everywhere, and the law of the k nearest distances differs from the binomial sample's by
//!   O(k/n) (Poissonisation), below the calibration's noise at the sizes this path is used for;
//! * that process is a Poisson process of intensity (n − 1)/V on the whole space thinned to the shape. The whole
//!   space's process, seen from x, has distances r_j with (n − 1) · vol(B(x, r_j))/V = Γ_j (arrival times of a
//!   unit-rate Poisson process: sums of independent Exp(1)) and independent uniform directions; so the candidates
//!   are generated in order of distance, each kept if its point lies in the shape, until k are kept. Those are
//!   exactly the k nearest points of the thinned process: no search radius, no bias.
//!
//! For the ball only the distance r matters for the thinning: a candidate lies in the ball with probability a(r),
//! the fraction of the sphere of radius r around x inside the ball (a regularised incomplete beta function of the
//! cosine bound), which decreases with r; adaptive thinning (next candidate at the rate a(r) of the last one, kept
//! with probability a(r')/a(r)) then needs about k + O(1) candidates per query, whatever n and d. Measured: both
//! statistics' values at one level (120 000 points, n = 60 000) in under 1 s from d = 1 to d = 70 on the loaded
//! 2-core machine, 1.4 s at n = 10⁶, d = 70. For the cube a candidate needs its direction (d normal draws) and is
//! rejected when outside, so the cost per query is k over the fraction of the k-th neighbour's ball inside the
//! cube, which falls fast with d: the same measurement took 0.7 s at d = 10, 3.8 s at d = 15, 16 s at d = 20 and
//! 129 s at d = 25 (`reference = cube` with many points and a high dimension: `calibration = exact` is then
//! cheaper). A candidate closer than x's distance to the boundary is kept without any test.
//!
//! Queries are independent, so the statistics' standard errors follow from the per-query values. Queries come in
//! blocks of [`BLOCK`], each from its own seeded stream: the result does not depend on the thread count.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp1, StandardNormal};
use rayon::prelude::*;

use crate::corrected::Reference;
use crate::estimators::mle::Mle;
use crate::{special, stats, Comb};

/// Queries per seeded stream (the unit of parallel work).
pub(crate) const BLOCK: usize = 1024;

/// Sorted distances r_1 ≤ … ≤ r_k of `queries` simulated points, row-major (`queries × k`), in an n-point uniform
/// sample of the unit d-dimensional `reference` shape (ball of radius 1, or cube [0, 1]^d).
pub(crate) fn neighbour_distances(
    reference: Reference,
    n: usize,
    d: usize,
    k: usize,
    queries: usize,
    seed: u64,
) -> Vec<f64> {
    assert!(n > k && d >= 1 && k >= 1, "simulation needs n > k ≥ 1 and d ≥ 1");
    let sim = Simulator::new(reference, n, d, k);
    let blocks: Vec<Vec<f64>> = (0..queries.div_ceil(BLOCK))
        .into_par_iter()
        .map(|b| {
            let mut rng = stats::rng(seed, b as u64);
            let m = BLOCK.min(queries - b * BLOCK);
            let mut out = Vec::with_capacity(m * k);
            for _ in 0..m {
                sim.query(&mut rng, &mut out);
            }
            out
        })
        .collect();
    blocks.concat()
}

struct Simulator {
    reference: Reference,
    d: usize,
    k: usize,
    /// r = (v · scale)^(1/d) for the candidate whose expected count within r (whole space) is v.
    scale: f64,
    inv_d: f64,
    /// ln B((d − 1)/2, (d − 1)/2) for the ball's cosines (d ≥ 2).
    ln_beta: f64,
}

impl Simulator {
    fn new(reference: Reference, n: usize, d: usize, k: usize) -> Self {
        let df = d as f64;
        // Expected count within r: (n − 1) r^d for the unit ball (its volume cancels), (n − 1) ω_d r^d for the
        // unit cube, with ω_d = π^(d/2) / Γ(d/2 + 1) the unit ball's volume.
        let scale = match reference {
            Reference::Ball => 1.0 / (n - 1) as f64,
            Reference::Cube => {
                let ln_omega = 0.5 * df * std::f64::consts::PI.ln() - special::ln_gamma(0.5 * df + 1.0);
                (-ln_omega).exp() / (n - 1) as f64
            }
        };
        let alpha = 0.5 * (df - 1.0).max(1.0);
        let ln_beta = 2.0 * special::ln_gamma(alpha) - special::ln_gamma(2.0 * alpha);
        Simulator { reference, d, k, scale, inv_d: 1.0 / df, ln_beta }
    }

    /// Appends one query's k nearest distances (sorted).
    fn query(&self, rng: &mut ChaCha8Rng, out: &mut Vec<f64>) {
        match self.reference {
            Reference::Ball => self.ball_query(rng, out),
            Reference::Cube => self.cube_query(rng, out),
        }
    }

    /// The ball: a candidate at distance r from x (|x| = ρ) lies in the ball with probability a(r), the fraction
    /// of the sphere of radius r around x inside the unit ball, which decreases with r. So the kept points are
    /// drawn by adaptive thinning: after a candidate at r, the next comes from a process of rate a(r) (a bound on
    /// the rate from there on) and is kept with probability a(r') / a(r). About k + O(1) candidates per query.
    fn ball_query(&self, rng: &mut ChaCha8Rng, out: &mut Vec<f64>) {
        let rho = rng.random::<f64>().powf(self.inv_d);
        let (inner, outer) = (1.0 - rho, 1.0 + rho);
        let (mut v, mut bound, mut kept) = (0.0f64, 1.0f64, 0);
        while kept < self.k {
            let e: f64 = Exp1.sample(rng);
            v += e / bound;
            let r = (v * self.scale).powf(self.inv_d);
            if r.is_nan() || r > outer {
                // The process has fewer than k points in the ball (probability of order e^(−n)): repeat the
                // farthest kept distance, or the diameter.
                let fill = out.last().copied().filter(|_| kept > 0).unwrap_or(outer);
                out.extend(std::iter::repeat_n(fill, self.k - kept));
                return;
            }
            let a = if r <= inner { 1.0 } else { self.ball_fraction(rho, r) };
            if a >= bound || rng.random::<f64>() * bound < a {
                out.push(r);
                kept += 1;
            }
            bound = a;
        }
    }

    /// Fraction of the sphere of radius r around a point at distance ρ from the unit ball's centre that lies in
    /// the ball: P(t ≤ τ) with τ = (1 − ρ² − r²) / (2ρr) and t the cosine between a uniform direction and the
    /// point's position, (1 + t)/2 ~ Beta((d − 1)/2, (d − 1)/2).
    fn ball_fraction(&self, rho: f64, r: f64) -> f64 {
        let tau = (1.0 - rho * rho - r * r) / (2.0 * rho * r);
        if tau >= 1.0 {
            1.0
        } else if tau <= -1.0 {
            0.0
        } else if self.d == 1 {
            0.5
        } else {
            let alpha = 0.5 * (self.d as f64 - 1.0);
            beta_reg(alpha, self.ln_beta, 0.5 * (1.0 + tau))
        }
    }

    fn cube_query(&self, rng: &mut ChaCha8Rng, out: &mut Vec<f64>) {
        let x: Vec<f64> = (0..self.d).map(|_| rng.random::<f64>()).collect();
        let inner = x.iter().map(|&c| c.min(1.0 - c)).fold(f64::INFINITY, f64::min);
        let outer = (self.d as f64).sqrt();
        let mut u = vec![0.0f64; self.d];
        let (mut v, mut kept) = (0.0f64, 0);
        while kept < self.k {
            let e: f64 = Exp1.sample(rng);
            v += e;
            let r = (v * self.scale).powf(self.inv_d);
            if r > outer {
                let fill = out.last().copied().filter(|_| kept > 0).unwrap_or(outer);
                out.extend(std::iter::repeat_n(fill, self.k - kept));
                return;
            }
            let inside = r <= inner || {
                let mut ss = 0.0;
                for c in u.iter_mut() {
                    *c = StandardNormal.sample(rng);
                    ss += *c * *c;
                }
                let f = r / ss.sqrt().max(f64::MIN_POSITIVE);
                x.iter().zip(&u).all(|(&c, &w)| (0.0..=1.0).contains(&(c + f * w)))
            };
            if inside {
                out.push(r);
                kept += 1;
            }
        }
    }
}

/// Regularised incomplete beta function I_x(α, α) (symmetric), `ln_beta` = ln B(α, α): the continued fraction
/// (modified Lentz) on the side where it converges fast.
fn beta_reg(alpha: f64, ln_beta: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front = (alpha * x.ln() + alpha * (1.0 - x).ln() - ln_beta).exp() / alpha;
    if x < 0.5 {
        front * beta_cf(alpha, x)
    } else {
        1.0 - front * beta_cf(alpha, 1.0 - x)
    }
}

/// The continued fraction of I_x(α, α) (Numerical Recipes' `betacf` with a = b = α).
fn beta_cf(alpha: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (a, b) = (alpha, alpha);
    let fix = |v: f64| if v.abs() < TINY { TINY } else { v };
    let mut c = 1.0;
    let mut d = 1.0 / fix(1.0 - (a + b) * x / (a + 1.0));
    let mut h = d;
    for m in 1..1000 {
        let m = m as f64;
        let aa = m * (b - m) * x / ((a - 1.0 + 2.0 * m) * (a + 2.0 * m));
        d = 1.0 / fix(1.0 + aa * d);
        c = fix(1.0 + aa / c);
        h *= d * c;
        let aa = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 1.0 + 2.0 * m));
        d = 1.0 / fix(1.0 + aa * d);
        c = fix(1.0 + aa / c);
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// TwoNN maximum likelihood censored at `discard` (as [`crate::estimators::twonn::TwoNn`] with `mle = true`) of
/// the rows' ratios r2/r1, with its standard error (the χ² pivot's: value / √n_keep). `stride` is the row length.
pub(crate) fn twonn(dists: &[f64], stride: usize, discard: f64) -> (f64, f64) {
    let mut mu: Vec<f64> = dists.chunks_exact(stride).map(|r| r[1] / r[0]).filter(|m| m.is_finite()).collect();
    let n = mu.len();
    let n_keep = (n as f64 * (1.0 - discard)) as usize;
    if n_keep < 2 {
        return (f64::NAN, f64::NAN);
    }
    mu.sort_by(f64::total_cmp);
    mu.truncate(n_keep);
    let log_mu: Vec<f64> = mu.into_iter().map(f64::ln).collect();
    let s = log_mu.iter().sum::<f64>() + (n - n_keep) as f64 * log_mu[n_keep - 1];
    let dim = (n_keep as f64 - 1.0) / s;
    (dim, dim / (n_keep as f64).sqrt())
}

/// Levina–Bickel MLE with k neighbours combined as MacKay–Ghahramani (1 / mean of 1/d_i, the default estimator's
/// MLE part), with its standard error (delta method over the independent queries). `stride` ≥ k is the row length.
pub(crate) fn mle(dists: &[f64], stride: usize, k: usize) -> (f64, f64) {
    let m = Mle::new(k);
    let pw: Vec<f64> = dists.chunks_exact(stride).map(|r| m.point(&r[..k])).collect();
    let dim = Comb::Mle.apply(&pw);
    let inv: Vec<f64> = pw.iter().map(|d| 1.0 / d).collect();
    let rel = stats::std(&inv) / stats::mean(&inv) / (inv.len() as f64).sqrt();
    (dim, dim * rel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interior_points_give_the_pareto_law_of_twonn() {
        // Far from the boundary (a large n in low d), r2/r1 is Pareto(1, d): TwoNN-ML recovers d within its error.
        for (reference, d) in [(Reference::Ball, 2usize), (Reference::Ball, 3), (Reference::Cube, 2)] {
            let x = neighbour_distances(reference, 10_000_000, d, 2, 40_000, 7);
            let (v, se) = twonn(&x, 2, 0.1);
            assert!((v - d as f64).abs() < 4.0 * se, "{reference:?} d = {d}: {v} ± {se}");
        }
    }

    #[test]
    fn symmetric_incomplete_beta_known_values() {
        // α = 1/2: the arcsine law (2/π) asin(√x); α = 1: x; α = 2: x²(3 − 2x); symmetric about 1/2.
        let lb = |a: f64| 2.0 * special::ln_gamma(a) - special::ln_gamma(2.0 * a);
        for x in [1e-6f64, 0.01, 0.2, 0.5, 0.77, 0.999] {
            let arcsine = 2.0 / std::f64::consts::PI * x.sqrt().asin();
            assert!((beta_reg(0.5, lb(0.5), x) - arcsine).abs() < 1e-12, "{x}");
            assert!((beta_reg(1.0, lb(1.0), x) - x).abs() < 1e-12, "{x}");
            assert!((beta_reg(2.0, lb(2.0), x) - x * x * (3.0 - 2.0 * x)).abs() < 1e-12, "{x}");
            let a = 17.5;
            assert!((beta_reg(a, lb(a), x) + beta_reg(a, lb(a), 1.0 - x) - 1.0).abs() < 1e-12, "{x}");
        }
    }

    #[test]
    fn ball_thinning_matches_rejection_of_explicit_points() {
        // The kept distances' law from adaptive thinning against a direct construction: candidates with explicit
        // uniform directions, rejected when outside the ball (n = 3000, d = 12: most neighbourhoods cross the
        // boundary). Means of r1 and r5 agree within their errors.
        let (n, d, k, q) = (3000usize, 12usize, 5usize, 20_000usize);
        let thinned = neighbour_distances(Reference::Ball, n, d, k, q, 5);
        let mut rng = stats::rng(99, 0);
        let mut direct = Vec::with_capacity(q * k);
        for _ in 0..q {
            let x: Vec<f64> = {
                let z: Vec<f64> = (0..d).map(|_| StandardNormal.sample(&mut rng)).collect();
                let norm = z.iter().map(|v| v * v).sum::<f64>().sqrt();
                let rho = rng.random::<f64>().powf(1.0 / d as f64);
                z.iter().map(|v| v / norm * rho).collect()
            };
            let (mut v, mut kept) = (0.0f64, 0);
            while kept < k {
                let e: f64 = Exp1.sample(&mut rng);
                v += e;
                let r = (v / (n - 1) as f64).powf(1.0 / d as f64);
                let z: Vec<f64> = (0..d).map(|_| StandardNormal.sample(&mut rng)).collect();
                let norm = z.iter().map(|v| v * v).sum::<f64>().sqrt();
                let y2: f64 = x.iter().zip(&z).map(|(a, b)| (a + r * b / norm).powi(2)).sum();
                if y2 <= 1.0 {
                    direct.push(r);
                    kept += 1;
                }
            }
        }
        for j in [0, k - 1] {
            let a: Vec<f64> = thinned.chunks_exact(k).map(|r| r[j]).collect();
            let b: Vec<f64> = direct.chunks_exact(k).map(|r| r[j]).collect();
            let se = (stats::std(&a).powi(2) / q as f64 + stats::std(&b).powi(2) / q as f64).sqrt();
            assert!(
                (stats::mean(&a) - stats::mean(&b)).abs() < 4.0 * se,
                "r{}: {} vs {}",
                j + 1,
                stats::mean(&a),
                stats::mean(&b)
            );
        }
        let (ta, tb) = (twonn(&thinned, k, 0.1), twonn(&direct, k, 0.1));
        assert!((ta.0 - tb.0).abs() < 4.0 * ta.1.hypot(tb.1), "{ta:?} {tb:?}");
    }

    #[test]
    fn same_result_whatever_the_thread_count() {
        let a = neighbour_distances(Reference::Ball, 5000, 6, 5, 3000, 1);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let b = pool.install(|| neighbour_distances(Reference::Ball, 5000, 6, 5, 3000, 1));
        assert_eq!(a, b);
        assert_eq!(a.len(), 3000 * 5);
        assert!(a.chunks_exact(5).all(|r| r.windows(2).all(|w| w[0] <= w[1]) && r[0] > 0.0));
    }

    #[test]
    fn first_neighbour_distance_has_the_poisson_law_inside() {
        // In the unit ball's interior the first distance satisfies P(r1 > r) = exp(−(n − 1) r^d): its mean is
        // Γ(1 + 1/d) (n − 1)^(−1/d). At n = 10^7, d = 2 the boundary's share is negligible.
        let (n, d) = (10_000_000usize, 2usize);
        let x = neighbour_distances(Reference::Ball, n, d, 1, 20_000, 3);
        let mean = stats::mean(&x);
        let want = special::ln_gamma(1.0 + 1.0 / d as f64).exp() * ((n - 1) as f64).powf(-1.0 / d as f64);
        let se = stats::std(&x) / (x.len() as f64).sqrt();
        assert!((mean - want).abs() < 4.0 * se, "{mean} vs {want} ± {se}");
    }
}
