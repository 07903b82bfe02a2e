//! Perturbation mode: for (clean, perturbed) pairs, the fraction of the perturbation's energy ‖δ‖² that lies in the
//! local tangent space of the clean image (local PCA of its k nearest reference images, d directions) versus the
//! normal space, with a random perturbation of the same norm as a baseline (whose expected fraction is d/D).

use std::time::Instant;

use dataset::Dataset;
use ndarray::ArrayView2;
use rand::Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde::Serialize;

use crate::stats::Distribution;
use crate::tangent::LocalPca;
use crate::{invalid, levina_bickel, local_dim, DimChoice, Reference, Result, ScoreError};

/// Options of [`perturbation_energy`].
#[derive(Debug, Clone)]
pub struct PairsOptions {
    pub k: usize,
    pub dim: DimChoice,
    /// Reference images used to estimate the reference's intrinsic dimension (for [`DimChoice::Auto`]).
    pub calibration: usize,
    /// Seed of the calibration sample and of the random baseline directions.
    pub seed: u64,
    pub knn: knn::KnnOptions,
}

impl Default for PairsOptions {
    fn default() -> Self {
        PairsOptions {
            k: crate::DEFAULT_K,
            dim: DimChoice::Auto,
            calibration: crate::DEFAULT_CALIBRATION,
            seed: 0,
            knn: knn::KnnOptions::default(),
        }
    }
}

/// One (clean, perturbed) pair.
#[derive(Debug, Clone, Serialize)]
pub struct PairResult {
    /// ‖δ‖₂ and ‖δ‖∞ of δ = perturbed − clean.
    pub l2: f64,
    pub linf: f64,
    /// Tangent dimension used.
    pub d: usize,
    /// ‖P_T δ‖² / ‖δ‖² (NaN for δ = 0) and its complement.
    pub tangent_fraction: f64,
    pub normal_fraction: f64,
    /// The same fraction for a random Gaussian direction (rescaled to ‖δ‖; the fraction does not depend on the norm).
    pub random_tangent_fraction: f64,
    /// Distance from the clean image to its nearest reference image.
    pub clean_nearest_distance: f64,
}

/// Summary over pairs.
#[derive(Debug, Clone, Serialize)]
pub struct PairsSummary {
    pub n_pairs: usize,
    /// Pairs with δ = 0 (fractions undefined).
    pub n_zero: usize,
    pub tangent_fraction: Distribution,
    pub random_tangent_fraction: Distribution,
    /// Mean of d / D: the expected tangent fraction of a random direction.
    pub expected_random_fraction: f64,
    /// Median tangent fraction divided by the median random fraction.
    pub median_ratio_to_random: f64,
}

/// Everything [`perturbation_energy`] computes.
#[derive(Debug, Clone, Serialize)]
pub struct PairsReport {
    pub pairs: Vec<PairResult>,
    pub summary: PairsSummary,
    pub k: usize,
    pub reference_dimension: f64,
    pub dim_global: Option<usize>,
    pub dim_clamped: bool,
    pub n_reference: usize,
    pub duplicates_dropped: usize,
}

/// Everything [`score_pairs`] computes: the energies and what a perturbation folder names.
#[derive(Debug, Clone)]
pub struct PairsRun {
    pub energy: PairsReport,
    /// The options the energies were computed with.
    pub options: PairsOptions,
    /// The pairs' names as the pairs file gives them.
    pub clean_ids: Vec<String>,
    pub perturbed_ids: Vec<String>,
    /// Values per image.
    pub d: usize,
    /// Seconds per stage.
    pub timings: Vec<(&'static str, f64)>,
}

/// Perturbation mode on loaded pairs (the entry point shared by `imanifold score --pairs` and the demo): the
/// fraction of each perturbation's energy in the local tangent space of its clean image against `reference`
/// ([`perturbation_energy`]); [`crate::write_pairs_dir`] writes the result as a folder.
pub fn score_pairs(reference: &Dataset, pairs: &crate::Pairs, opts: &PairsOptions) -> Result<PairsRun> {
    let t = Instant::now();
    let energy = perturbation_energy(reference.data.view(), pairs.clean.view(), pairs.perturbed.view(), opts)?;
    Ok(PairsRun {
        energy,
        options: opts.clone(),
        clean_ids: pairs.clean_ids.clone(),
        perturbed_ids: pairs.perturbed_ids.clone(),
        d: reference.d(),
        timings: vec![("perturbation_energy", t.elapsed().as_secs_f64())],
    })
}

/// Fraction of each perturbation's energy in the local tangent space of its clean image (see the module docs).
pub fn perturbation_energy(
    reference: ArrayView2<f32>,
    clean: ArrayView2<f32>,
    perturbed: ArrayView2<f32>,
    opts: &PairsOptions,
) -> Result<PairsReport> {
    if clean.nrows() == 0 {
        return Err(ScoreError::EmptyQuery);
    }
    if clean.dim() != perturbed.dim() {
        return Err(ScoreError::SizeMismatch {
            query: perturbed.ncols(),
            reference: clean.ncols(),
            detail: format!(
                " (perturbed images: {} × {}, clean images: {} × {})",
                perturbed.nrows(),
                perturbed.ncols(),
                clean.nrows(),
                clean.ncols()
            ),
        });
    }
    if clean.ncols() != reference.ncols() {
        return Err(ScoreError::SizeMismatch {
            query: clean.ncols(),
            reference: reference.ncols(),
            detail: " (clean images vs reference)".into(),
        });
    }
    if opts.k < 2 {
        return Err(invalid("k", opts.k, "the tangent space needs at least 2 neighbours"));
    }
    opts.dim.check(opts.k)?;
    crate::check_k_fits(opts.k, reference.nrows())?;
    if let Some((row, col, value)) = crate::first_non_finite(perturbed) {
        return Err(ScoreError::Knn {
            what: "perturbed images",
            source: knn::KnnError::NonFinite { what: "perturbed", row, col, value },
        });
    }
    let k = opts.k;
    let r = Reference::build(reference, k, opts.calibration, opts.seed, &opts.knn)?;
    let refv = r.view();
    let nb = knn::knn_query_with(refv, clean, k, &opts.knn)
        .map_err(|source| ScoreError::Knn { what: "clean images", source })?;
    let (dim_global, dim_clamped) = r.global_dim(opts.dim, k);
    let fallback = dim_global.unwrap_or_else(|| r.global_dim(DimChoice::Auto, k).0.unwrap_or(1));
    let dcols = reference.ncols();
    let pairs: Vec<PairResult> = (0..clean.nrows())
        .into_par_iter()
        .map(|i| {
            let rows: Vec<usize> = nb.indices.row(i).to_vec();
            let pca = LocalPca::new(refv, &rows)?;
            let d = match opts.dim {
                DimChoice::Local => local_dim(levina_bickel(nb.distances.row(i)), fallback, k),
                _ => fallback,
            };
            let delta: Vec<f64> =
                perturbed.row(i).iter().zip(clean.row(i)).map(|(&p, &c)| p as f64 - c as f64).collect();
            let l2 = delta.iter().map(|x| x * x).sum::<f64>().sqrt();
            let linf = delta.iter().fold(0.0f64, |m, x| m.max(x.abs()));
            let tangent_fraction = pca.tangent_fraction(&delta, d);
            let mut rng = seeds::stream(opts.seed, 0x5EED_0000 + i as u64);
            let z: Vec<f64> = (0..dcols).map(|_| rng.sample::<f64, _>(StandardNormal)).collect();
            Ok(PairResult {
                l2,
                linf,
                d,
                tangent_fraction,
                normal_fraction: 1.0 - tangent_fraction,
                random_tangent_fraction: pca.tangent_fraction(&z, d),
                clean_nearest_distance: nb.distances[[i, 0]] as f64,
            })
        })
        .collect::<Result<_>>()?;
    let tf: Vec<f64> = pairs.iter().map(|p| p.tangent_fraction).collect();
    let rf: Vec<f64> = pairs.iter().filter(|p| p.l2 > 0.0).map(|p| p.random_tangent_fraction).collect();
    let tangent_fraction = Distribution::of(&tf);
    let random_tangent_fraction = Distribution::of(&rf);
    let summary = PairsSummary {
        n_pairs: pairs.len(),
        n_zero: pairs.iter().filter(|p| p.l2 == 0.0).count(),
        median_ratio_to_random: tangent_fraction.median / random_tangent_fraction.median,
        tangent_fraction,
        random_tangent_fraction,
        expected_random_fraction: pairs.iter().map(|p| p.d as f64 / dcols as f64).sum::<f64>() / pairs.len() as f64,
    };
    Ok(PairsReport {
        pairs,
        summary,
        k,
        reference_dimension: r.dimension,
        dim_global,
        dim_clamped,
        n_reference: reference.nrows(),
        duplicates_dropped: r.duplicates.len(),
    })
}
