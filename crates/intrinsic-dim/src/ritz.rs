//! Certified counts of the eigenvalues of a symmetric positive semi-definite matrix above α·λ_max, without a full
//! eigendecomposition (the Fukunaga–Olsen rule of the PCA estimators, applied to many half-sample covariances).
//!
//! Rayleigh–Ritz on a p-dimensional subspace: with Q (d × p, orthonormal), A = QᵀCQ and the residual R = CQ − QA,
//! C in the basis [Q, Q⊥] is blockdiag(A, D) plus a perturbation of norm ‖R‖₂ ≤ ρ = ‖R‖_F, so (Weyl) every sorted
//! eigenvalue of C is within ρ of the same-rank eigenvalue of blockdiag(A, D). The eigenvalues of A (Ritz values θ)
//! are computed; those of D (PSD) are all ≤ trace(D) = trace(C) − trace(A) =: δ. When θ₁ > δ, λ_max(C) lies in
//! [θ₁ − ρ, θ₁ + ρ], so the threshold t = α·λ_max lies in [t_lo, t_hi]; if every θ is either above t_hi + ρ or below
//! t_lo − ρ, and δ + ρ < t_lo, the count of eigenvalues of C above t equals the count of θ above t_hi + ρ — exactly,
//! whatever the accuracy of the subspace. Otherwise the answer is "undecided" and the caller computes the spectrum.
//! A rounding slack (a few hundred ulps of trace(C)) widens every margin.

use faer::{Accum, Mat, MatRef, Par};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

use crate::{linalg, DimError};

/// `a · b`, sequential (deterministic whatever the thread count).
fn mul(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Mat<f64> {
    let mut out = Mat::<f64>::zeros(a.nrows(), b.ncols());
    faer::linalg::matmul::matmul(out.as_mut(), Accum::Replace, a, b, 1.0, Par::Seq);
    out
}

/// Orthonormal columns spanning those of `z` (modified Gram–Schmidt, twice); `None` when a column is (numerically)
/// in the span of the earlier ones.
fn orthonormal(mut z: Mat<f64>) -> Option<Mat<f64>> {
    let p = z.ncols();
    for j in 0..p {
        let before = z.col(j).norm_l2();
        for _ in 0..2 {
            for i in 0..j {
                let dot: f64 = (0..z.nrows()).map(|r| z[(r, i)] * z[(r, j)]).sum();
                for r in 0..z.nrows() {
                    z[(r, j)] -= dot * z[(r, i)];
                }
            }
        }
        let norm = z.col(j).norm_l2();
        if !norm.is_finite() || norm <= 1e-10 * before {
            return None;
        }
        for r in 0..z.nrows() {
            z[(r, j)] /= norm;
        }
    }
    Some(z)
}

/// An orthonormal d × p basis close to the leading p-dimensional invariant subspace of `c`: `iters` steps of subspace
/// iteration from a seeded Gaussian start. Any basis keeps [`count_above_relative`] exact; a good one lets it decide.
pub(crate) fn leading_subspace(c: MatRef<'_, f64>, p: usize, iters: usize, seed: u64) -> Option<Mat<f64>> {
    let d = c.nrows();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut q = orthonormal(Mat::from_fn(d, p, |_, _| StandardNormal.sample(&mut rng)))?;
    for _ in 0..iters {
        q = orthonormal(mul(c, q.as_ref()))?;
    }
    Some(q)
}

/// The number of eigenvalues of `c` (symmetric PSD, d × d) strictly above `alpha`·λ_max(c), when the Rayleigh–Ritz
/// projection on one subspace-iteration step from `basis` decides it (see the module documentation); `None` otherwise.
pub(crate) fn count_above_relative(
    c: MatRef<'_, f64>,
    basis: MatRef<'_, f64>,
    alpha: f64,
) -> Result<Option<usize>, DimError> {
    let Some(q) = orthonormal(mul(c, basis)) else { return Ok(None) };
    let cq = mul(c, q.as_ref());
    let trace_c: f64 = (0..c.nrows()).map(|i| c[(i, i)]).sum();
    count_in_subspace(cq.as_ref(), q.as_ref(), trace_c, alpha)
}

/// [`count_above_relative`] from the product `cq` = C·Q on an orthonormal d × p basis `q` and trace(C) alone (no
/// iteration step): the count is exact whenever it is returned, whatever the basis; a basis far from C's leading
/// subspace only makes `None` (undecided) more likely.
pub(crate) fn count_in_subspace(
    cq: MatRef<'_, f64>,
    q: MatRef<'_, f64>,
    trace_c: f64,
    alpha: f64,
) -> Result<Option<usize>, DimError> {
    let mut a = mul(q.transpose(), cq);
    let p = a.nrows();
    for i in 0..p {
        for j in 0..i {
            let s = 0.5 * (a[(i, j)] + a[(j, i)]);
            a[(i, j)] = s;
            a[(j, i)] = s;
        }
    }
    let (theta, _) = linalg::sym_eigen(a.as_ref(), false)?;
    let residual = cq - mul(q, a.as_ref());
    let rho = residual.norm_l2();
    let trace_a: f64 = (0..p).map(|i| a[(i, i)]).sum();
    let slack = 512.0 * f64::EPSILON * trace_c.abs() * (cq.nrows() as f64).sqrt();
    let rho = rho + slack;
    let delta = (trace_c - trace_a).max(0.0) + slack;
    let Some(&theta1) = theta.first() else { return Ok(None) };
    if !rho.is_finite() || !delta.is_finite() || !theta1.is_finite() || theta1 <= delta {
        return Ok(None);
    }
    let (t_lo, t_hi) = (alpha * (theta1 - rho), alpha * (theta1 + rho));
    if delta + rho >= t_lo {
        return Ok(None);
    }
    let mut count = 0;
    for &th in &theta {
        if th > t_hi + rho {
            count += 1;
        } else if !th.is_finite() || th >= t_lo - rho {
            return Ok(None);
        }
    }
    Ok(Some(count))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Q·diag(ev)·Qᵀ for a seeded random orthogonal Q.
    fn with_spectrum(ev: &[f64], seed: u64) -> Mat<f64> {
        let d = ev.len();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let q = orthonormal(Mat::from_fn(d, d, |_, _| StandardNormal.sample(&mut rng))).unwrap();
        let scaled = Mat::from_fn(d, d, |i, j| q[(i, j)] * ev[j]);
        mul(scaled.as_ref(), q.transpose())
    }

    fn fo_count(ev: &[f64], alpha: f64) -> usize {
        let max = ev.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        ev.iter().filter(|&&v| v > alpha * max).count()
    }

    #[test]
    fn decided_counts_equal_the_full_spectrum_rule() {
        // Steep spectra (a few strong directions over weak noise) are decided and must equal the rule applied to the
        // full spectrum; a count is never wrong, whatever the subspace.
        let mut decided = 0;
        for (seed, strong) in [(1u64, 3usize), (2, 8), (3, 12)] {
            let d = 120;
            let ev: Vec<f64> = (0..d)
                .map(|i| if i < strong { 100.0 / (1.0 + i as f64) } else { 1e-3 * (1.0 + (i % 7) as f64) })
                .collect();
            let c = with_spectrum(&ev, seed);
            let w = leading_subspace(c.as_ref(), 2 * strong + 8, 4, seed).unwrap();
            let got = count_above_relative(c.as_ref(), w.as_ref(), 0.05).unwrap();
            assert_eq!(got, Some(fo_count(&ev, 0.05)), "strong {strong}");
            decided += 1;
            // A poor basis (random, no iteration) may leave it undecided but never gives another count.
            let rough = leading_subspace(c.as_ref(), strong + 1, 0, seed + 10).unwrap();
            if let Some(n) = count_above_relative(c.as_ref(), rough.as_ref(), 0.05).unwrap() {
                assert_eq!(n, fo_count(&ev, 0.05));
            }
        }
        assert_eq!(decided, 3);
    }

    #[test]
    fn an_eigenvalue_at_the_threshold_is_left_undecided() {
        // λ = 10, 5, 0.5 + tiny, noise: α = 0.05 puts the threshold at 0.5 — too close to call with any residual.
        let mut ev = vec![10.0, 5.0, 0.5 + 1e-15];
        ev.extend((0..40).map(|i| 1e-4 * (1 + i % 3) as f64));
        let c = with_spectrum(&ev, 7);
        let w = leading_subspace(c.as_ref(), 12, 3, 7).unwrap();
        assert_eq!(count_above_relative(c.as_ref(), w.as_ref(), 0.05).unwrap(), None);
        // A flat spectrum: the complement's trace bound cannot separate it.
        let flat = with_spectrum(&[1.0; 30], 8);
        let w = leading_subspace(flat.as_ref(), 6, 3, 8).unwrap();
        assert_eq!(count_above_relative(flat.as_ref(), w.as_ref(), 0.05).unwrap(), None);
    }
}
