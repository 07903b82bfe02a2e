//! PCA-spectrum estimators (skdim `lPCA`): versions FO (Fukunaga–Olsen), Fan, maxgap, ratio, participation_ratio,
//! Kaiser, broken_stick.
//!
//! `pca` and `lpca` share the rules. Their global fit is skdim's `lPCA().fit(X)`: PCA of the whole data set. `lpca`
//! adds the pointwise version (skdim `lPCA().fit_pw`): local PCA of each point's `n_neighbors` nearest neighbours,
//! computed through the k × k Gram matrix of the neighbourhood (k ≪ d), in parallel.

use ndarray::Axis;
use rayon::prelude::*;
use serde_json::{json, Value};

use super::Params;
use crate::{linalg, DimError, Estimate, Estimator, FitContext};

const VERSIONS: [&str; 7] = ["FO", "Fan", "maxgap", "ratio", "participation_ratio", "Kaiser", "broken_stick"];
const RANK_VERSIONS: [&str; 7] = ["MP", "GD", "KN", "Minka", "parallel", "denoised", "scRMT"];

#[derive(Debug, Clone)]
pub struct Pca {
    pub local: bool,
    pub ver: String,
    pub alpha_ratio: f64,
    pub alpha_fo: f64,
    pub alpha_fan: f64,
    pub beta_fan: f64,
    pub p_fan: f64,
    pub center: bool,
}

impl Pca {
    pub(crate) fn from_params(p: &Params, local: bool) -> Result<Self, DimError> {
        let ver = p.string("ver", "FO")?;
        if RANK_VERSIONS.contains(&ver.as_str()) {
            return Err(p.invalid("ver", &ver, "signal-rank versions of skdim lPCA are not implemented in imanifold"));
        }
        if !VERSIONS.contains(&ver.as_str()) {
            return Err(p.invalid("ver", &ver, format!("ver must be one of {VERSIONS:?}")));
        }
        let _verbose = p.bool("verbose", true)?;
        if p.bool("fit_explained_variance", false)? {
            return Err(p.invalid("fit_explained_variance", true, "imanifold dim always fits data"));
        }
        let est = Pca {
            local,
            ver,
            alpha_ratio: p.f64("alphaRatio", 0.05)?,
            alpha_fo: p.f64("alphaFO", 0.05)?,
            alpha_fan: p.f64("alphaFan", 10.0)?,
            beta_fan: p.f64("betaFan", 0.8)?,
            p_fan: p.f64("PFan", 0.95)?,
            center: p.bool("center", true)?,
        };
        for (name, v) in
            [("alphaRatio", est.alpha_ratio), ("alphaFO", est.alpha_fo), ("PFan", est.p_fan), ("betaFan", est.beta_fan)]
        {
            // Written so that NaN is rejected too.
            let ok = if name == "PFan" { v > 0.0 && v <= 1.0 } else { v > 0.0 && v < 1.0 };
            if !ok {
                return Err(p.invalid(name, v, if name == "PFan" { "must be in (0, 1]" } else { "must be in (0, 1)" }));
            }
        }
        Ok(est)
    }

    fn check_columns(&self, d: usize) -> Result<(), DimError> {
        if d < 2 {
            return Err(DimError::InvalidParameter {
                estimator: self.name(),
                param: "data".into(),
                value: format!("{d} column(s)"),
                reason: "PCA estimators need at least 2 features".into(),
            });
        }
        Ok(())
    }

    /// The estimate from a spectrum (the dimension, and the leading explained variances as `extra`).
    fn estimate(&self, ev: &[f64]) -> Estimate {
        let shown: Vec<f64> = ev.iter().take(50).copied().collect();
        Estimate::new(self.from_spectrum(ev)).with_extra(json!({"explained_variance_head": shown}))
    }

    /// The global fit from partial sums combined over shards ([`crate::moments`]): the scatter about the column
    /// means when `center` (the default), else about zero. Bit for bit the `fit` of the same rows in one process
    /// when they have at least as many rows as columns (without the half-sampling interval, which needs the rows).
    pub fn fit_moments(&self, scatter: &crate::moments::Scatter) -> Result<Estimate, DimError> {
        self.check_columns(scatter.lower.ncols())?;
        if scatter.rows < self.min_points() {
            return Err(DimError::TooFewPoints { estimator: self.name(), n: scatter.rows, needed: self.min_points() });
        }
        Ok(self.estimate(&crate::moments::spectrum_from_scatter(scatter, self.center)?))
    }

    /// The dimension from a descending spectrum.
    pub fn from_spectrum(&self, ev: &[f64]) -> f64 {
        let n = ev.len();
        if n == 0 {
            return f64::NAN;
        }
        let total: f64 = ev.iter().sum();
        match self.ver.as_str() {
            "FO" => ev.iter().filter(|&&v| v > self.alpha_fo * ev[0]).count() as f64,
            "maxgap" => {
                // argmax of ev[i] / ev[i+1], NaN ignored (np.nanargmax), + 1.
                let mut best = (f64::NEG_INFINITY, 0usize);
                for i in 0..n.saturating_sub(1) {
                    let g = ev[i] / ev[i + 1];
                    if !g.is_nan() && g > best.0 {
                        best = (g, i);
                    }
                }
                (best.1 + 1) as f64
            }
            "ratio" => {
                let mut cum = 0.0;
                let mut count = 0;
                for &v in ev {
                    cum += v;
                    if cum / total < self.alpha_ratio {
                        count += 1;
                    }
                }
                (count + 1) as f64
            }
            "participation_ratio" => total * total / ev.iter().map(|v| v * v).sum::<f64>(),
            "Kaiser" => {
                let m = total / n as f64;
                ev.iter().filter(|&&v| v > m).count() as f64
            }
            "broken_stick" => {
                // bs[i] = (1/n) Σ_{j ≥ i} 1/(j+1); first i where bs[i] exceeds the normalised eigenvalue.
                let mut tail = vec![0.0; n + 1];
                for i in (0..n).rev() {
                    tail[i] = tail[i + 1] + 1.0 / (i + 1) as f64;
                }
                (0..n).find(|&i| tail[i] / n as f64 > ev[i] / total).unwrap_or(0) as f64
            }
            "Fan" => {
                let mut cum = 0.0;
                let r = ev
                    .iter()
                    .position(|&v| {
                        cum += v;
                        cum / total > self.p_fan
                    })
                    .unwrap_or(n - 1);
                let sigma = ev[r..].iter().sum::<f64>() / (n - r) as f64;
                let ev2: Vec<f64> = ev.iter().map(|v| v - sigma).collect();
                let total2: f64 = ev2.iter().sum();
                let gap_idx = (0..n.saturating_sub(1)).find(|&i| ev2[i] / ev2[i + 1] > self.alpha_fan);
                let mut cum2 = 0.0;
                let var_idx = ev2.iter().position(|&v| {
                    cum2 += v;
                    cum2 / total2 > self.beta_fan
                });
                match (gap_idx, var_idx) {
                    (Some(a), Some(b)) => (1 + a.min(b)) as f64,
                    (Some(a), None) | (None, Some(a)) => (1 + a) as f64,
                    (None, None) => f64::NAN,
                }
            }
            _ => f64::NAN,
        }
    }
}

impl Estimator for Pca {
    fn name(&self) -> &'static str {
        if self.local {
            "lpca"
        } else {
            "pca"
        }
    }
    fn params(&self) -> Value {
        json!({"ver": self.ver, "alphaRatio": self.alpha_ratio, "alphaFO": self.alpha_fo, "alphaFan": self.alpha_fan,
               "betaFan": self.beta_fan, "PFan": self.p_fan, "center": self.center})
    }
    fn needs_k(&self) -> Option<usize> {
        None
    }
    fn min_points(&self) -> usize {
        2
    }
    fn fit(&self, ctx: &FitContext) -> Result<Estimate, DimError> {
        let data = ctx.data(self.name())?;
        self.check_columns(data.ncols())?;
        if data.nrows() >= data.ncols() {
            // The context's scatter: formed once, shared with the half-sampling interval below.
            let scatter = ctx.scatter(self.name(), self.center)?;
            return Ok(self.estimate(&crate::moments::spectrum_from_scatter(&scatter, self.center)?));
        }
        Ok(self.estimate(&linalg::spectrum(data, self.center)?))
    }
    fn fit_pointwise(&self, ctx: &FitContext, n_neighbors: usize) -> Result<Vec<f64>, DimError> {
        if !self.local {
            return Err(DimError::InvalidParameter {
                estimator: "pca",
                param: "pointwise".into(),
                value: "true".into(),
                reason: "pca is the global spectrum; use lpca for local PCA per point".into(),
            });
        }
        let (idx, _) = ctx.neighbors("lpca", n_neighbors)?;
        let data = ctx.data("lpca")?;
        (0..ctx.n())
            .into_par_iter()
            .map(|i| {
                let rows: Vec<usize> = idx.row(i).to_vec();
                let sub = data.select(Axis(0), &rows).mapv(|v| v as f64);
                let ev = linalg::local_spectrum(&sub, self.center)?;
                Ok(self.from_spectrum(&ev))
            })
            .collect()
    }
    fn pointwise_k(&self, n_neighbors: usize) -> usize {
        n_neighbors
    }
    fn half_sample_fits(
        &self,
        ctx: &FitContext,
        b: usize,
        seed: u64,
    ) -> Option<Result<(Vec<f64>, &'static str), DimError>> {
        let data = ctx.data(self.name()).ok()?;
        let (n, d) = data.dim();
        // Worth it (and exact) where a half takes the covariance path (n/2 ≥ d), the data have enough rows for
        // every group to matter, and the group sums fit in a modest budget.
        if n / 2 < d || n < 8 * HALF_GROUPS || HALF_GROUPS * d * d * 8 > HALF_GROUP_BYTES || d < 2 {
            return None;
        }
        Some(self.grouped_halves(ctx, b, seed))
    }
}

/// Groups of rows for [`Pca::grouped_halves`]; a half is the union of half of them (C(16, 8) = 12 870 halves).
const HALF_GROUPS: usize = 16;
/// Memory allowed for the groups' d × d scatter sums (d ≤ 2 896 with 16 groups).
const HALF_GROUP_BYTES: usize = 1 << 30;

impl Pca {
    /// The spectrum estimate on `b` random halves without refitting the PCA: the rows are split once into
    /// [`HALF_GROUPS`] random groups of (nearly) equal size, and each half is a random choice of half the groups.
    /// Because the partition is uniformly random, every half is marginally a uniformly random half of the rows, as
    /// in plain half-sampling; halves share the partition (two halves overlap by whole groups), which leaves the
    /// expected overlap at n/4 as for independent halves.
    ///
    /// Fukunaga–Olsen (the default version): each group's product S_g·W with a basis W of the leading subspace of
    /// all rows' scatter (the one the point fit formed) is computed once (4·n·d·p flops in all, far below one
    /// scatter's n·d²), and a half's count comes from the Rayleigh–Ritz projection of its scatter on W
    /// ([`crate::ritz::count_in_subspace`]), which is exact whenever its residual bound decides. Halves it leaves
    /// undecided, and the other versions, get their full spectrum from the groups' d × d scatter sums (one pass over
    /// the data, formed only when needed).
    fn grouped_halves(&self, ctx: &FitContext, b: usize, seed: u64) -> Result<(Vec<f64>, &'static str), DimError> {
        let n = ctx.n();
        let mut order: Vec<usize> = (0..n).collect();
        rand::seq::SliceRandom::shuffle(order.as_mut_slice(), &mut crate::stats::rng(seed, u64::MAX));
        let mut groups: Vec<Vec<usize>> = (0..HALF_GROUPS).map(|_| Vec::with_capacity(n / HALF_GROUPS + 1)).collect();
        for (pos, &row) in order.iter().enumerate() {
            groups[pos % HALF_GROUPS].push(row);
        }
        groups.iter_mut().for_each(|g| g.sort_unstable());
        let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
        let halves: Vec<Vec<usize>> = (0..b)
            .map(|r| {
                let mut rng = crate::stats::rng(seed, r as u64);
                rand::seq::index::sample(&mut rng, HALF_GROUPS, HALF_GROUPS / 2).into_vec()
            })
            .collect();
        let data = ctx.data(self.name())?;
        let mean = if self.center { linalg::column_means(data) } else { vec![0.0; data.ncols()] };
        let basis =
            if self.ver == "FO" { self.fo_basis(&*ctx.scatter(self.name(), self.center)?, seed)? } else { None };
        let mut fits: Vec<Option<f64>> = vec![None; b];
        if let Some(w) = &basis {
            let parts = linalg::group_projections(data, &mean, &groups, w.as_ref());
            fits = halves
                .par_iter()
                .map(|chosen| {
                    let (cw, trace, half_n) =
                        linalg::projection_of_groups(&parts, &sizes, chosen, w.as_ref(), self.center);
                    if half_n < data.ncols() {
                        return Ok(None);
                    }
                    let count = crate::ritz::count_in_subspace(cw.as_ref(), w.as_ref(), trace, self.alpha_fo)?;
                    Ok(count.map(|c| c as f64))
                })
                .collect::<Result<Vec<Option<f64>>, DimError>>()?;
        }
        let undecided: Vec<usize> = (0..b).filter(|&r| fits[r].is_none()).collect();
        if !undecided.is_empty() {
            let scatter = linalg::group_scatter(data, &mean, &groups);
            let full = undecided
                .par_iter()
                .map(|&r| {
                    Ok(self.from_spectrum(&linalg::spectrum_of_groups(&scatter, &sizes, &halves[r], self.center)?))
                })
                .collect::<Result<Vec<f64>, DimError>>()?;
            for (&r, v) in undecided.iter().zip(full) {
                fits[r] = Some(v);
            }
        }
        let how = match (&basis, undecided.len()) {
            (Some(_), 0) => {
                "each half is 8 of 16 random row groups (no refit); its Fukunaga–Olsen count comes from the \
                 Rayleigh–Ritz projection of its scatter on the leading subspace of all rows, whose residual bound \
                 proved every count exact"
            }
            (Some(_), _) => {
                "each half is 8 of 16 random row groups (no refit); its Fukunaga–Olsen count comes from the \
                 Rayleigh–Ritz projection of its scatter on the leading subspace of all rows when the residual bound \
                 proves it exact, else from the half's full spectrum (from the groups' scatter sums)"
            }
            (None, _) => "each half is 8 of 16 random row groups whose scatter sums are computed once (no refit)",
        };
        Ok((fits.into_iter().map(|v| v.expect("every half is fitted")).collect(), how))
    }

    /// A basis for the halves' Fukunaga–Olsen counts ([`crate::ritz`]): the leading subspace of all rows' scatter,
    /// of twice the count it certifies there plus 8 dimensions; `None` when no basis of at most d/4 columns
    /// certifies the count of all rows (flat spectra: each half then takes its full spectrum).
    fn fo_basis(&self, scatter: &crate::moments::Scatter, seed: u64) -> Result<Option<faer::Mat<f64>>, DimError> {
        let d = scatter.lower.ncols();
        if scatter.rows < d {
            return Ok(None);
        }
        let c = scatter.full();
        let mut p = 16;
        while p <= d / 4 {
            let basis_seed = seed ^ 0x5249_545a_0000_0000 ^ p as u64;
            if let Some(w) = crate::ritz::leading_subspace(c.as_ref(), p, 6, basis_seed) {
                if let Some(count) = crate::ritz::count_above_relative(c.as_ref(), w.as_ref(), self.alpha_fo)? {
                    let want = (2 * count + 8).min(d / 2);
                    if want <= p {
                        return Ok(Some(w));
                    }
                    p = want;
                    continue;
                }
            }
            p *= 2;
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    fn fo(center: bool) -> Pca {
        Pca {
            local: false,
            ver: "FO".into(),
            alpha_ratio: 0.05,
            alpha_fo: 0.05,
            alpha_fan: 10.0,
            beta_fan: 0.8,
            p_fan: 0.95,
            center,
        }
    }

    #[test]
    fn ritz_counts_of_halves_equal_their_full_spectra() {
        // 2400 rows near a 6-D subspace of R^80 (one weak direction close to the 5 % threshold), plus noise: every
        // half the certified path decides must give the count of its full spectrum, and most must be decided.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let (n, d, g) = (2400, 80, 6);
        let z = Array2::<f64>::from_shape_fn((n, g), |_| StandardNormal.sample(&mut rng));
        let a = Array2::<f64>::from_shape_fn((g, d), |(i, _)| {
            let s: f64 = StandardNormal.sample(&mut rng);
            s * if i == g - 1 { 0.25 } else { 1.0 }
        });
        let noise = Array2::<f64>::from_shape_fn((n, d), |_| {
            let e: f64 = StandardNormal.sample(&mut rng);
            0.02 * e
        });
        let x = (z.dot(&a) + noise).mapv(|v| v as f32);
        let groups: Vec<Vec<usize>> = (0..HALF_GROUPS).map(|k| (k..n).step_by(HALF_GROUPS).collect()).collect();
        let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
        for center in [true, false] {
            let est = fo(center);
            let mean = if center { linalg::column_means(x.view()) } else { vec![0.0; d] };
            let all = crate::moments::scatter(x.view(), &mean).unwrap();
            let w = est.fo_basis(&all, 9).unwrap().expect("a steep spectrum has a certifying basis");
            let scatter = linalg::group_scatter(x.view(), &mean, &groups);
            let parts = linalg::group_projections(x.view(), &mean, &groups, w.as_ref());
            let mut decided = 0;
            for r in 0..40u64 {
                let mut rng = crate::stats::rng(11, r);
                let chosen = rand::seq::index::sample(&mut rng, HALF_GROUPS, HALF_GROUPS / 2).into_vec();
                let full = est.from_spectrum(&linalg::spectrum_of_groups(&scatter, &sizes, &chosen, center).unwrap());
                // The projection from the groups' thin products equals the half's scatter times W.
                let (c, half_n) = linalg::scatter_of_groups(&scatter, &sizes, &chosen, center);
                let (cw, trace, n_h) = linalg::projection_of_groups(&parts, &sizes, &chosen, w.as_ref(), center);
                assert_eq!(half_n, n_h);
                let direct = &c * &w;
                let scale = direct.norm_l2();
                assert!((&direct - &cw).norm_l2() <= 1e-10 * scale, "C_h·W from the groups, half {r}");
                let trace_c: f64 = (0..d).map(|i| c[(i, i)]).sum();
                assert!((trace - trace_c).abs() <= 1e-10 * trace_c.abs(), "trace from the groups, half {r}");
                if let Some(count) =
                    crate::ritz::count_in_subspace(cw.as_ref(), w.as_ref(), trace, est.alpha_fo).unwrap()
                {
                    assert_eq!(count as f64, full, "half {r}, center {center}");
                    decided += 1;
                }
            }
            assert!(decided >= 36, "only {decided} of 40 halves decided (center {center})");
        }
    }
}
