//! On-manifold adversarial perturbations, after Stutz, Hein and Schiele (2019, "Disentangling adversarial robustness
//! and generalization"): projected gradient ascent restricted to the local tangent space of a reference collection
//! at each attacked image.
//!
//! **Tangent space.** At an image x it is spanned by the first `dim` principal directions of x's `k` nearest
//! reference images ([`intrinsic_dim::local_pca::local_basis`]); `dim` is the reference's intrinsic dimension
//! (Levina–Bickel MLE over `k` neighbours, MacKay–Ghahramani average, rounded, at least 1) unless given. Stutz et
//! al. learn the manifold with per-class VAE-GANs; local PCA of a reference collection is the model-free stand-in
//! (the same tangent estimate as the off-manifold `tangent` score).
//!
//! **Steps.** With U (m × D) the orthonormal directions, the perturbation is δ = Uᵀz. Each step moves z along the
//! normalised projected gradient U g of the loss (step `2.5 r / steps`, r the L2 radius of the budget: ε for L2,
//! ε√D for L∞), then shrinks z back into the budget (‖z‖₂ ≤ ε for L2; ‖Uᵀz‖∞ ≤ ε for L∞ — a rescaling, so δ stays in
//! the tangent space), and clips x + δ to [0, 1]. An image stops as soon as its label changes. Clipping to the box
//! and the 8-bit quantisation of the result move δ slightly out of the tangent space; the part outside is reported
//! per image (`off_tangent_fraction` = ‖δ − UᵀUδ‖₂ / ‖δ‖₂ of the final perturbation).

use ndarray::{Array2, ArrayView1, ArrayView2, Axis};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::{Map, Value};

use super::quantize::quantize_toward;
use super::{AttackOptions, Norm};
use crate::error::{invalid, ClassifierError, Result};
use crate::model::{argmax, Classifier};

/// Nearest reference images whose PCA spans the tangent space (the off-manifold scores' default k).
pub const DEFAULT_TANGENT_K: usize = 20;
/// Largest tangent neighbourhood accepted.
pub const MAX_TANGENT_K: usize = 10_000;

/// How the tangent spaces are estimated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TangentOptions {
    /// Nearest reference images per attacked image.
    pub k: usize,
    /// Tangent dimension; `None`: the reference's estimated intrinsic dimension.
    pub dim: Option<usize>,
}

impl Default for TangentOptions {
    fn default() -> Self {
        TangentOptions { k: DEFAULT_TANGENT_K, dim: None }
    }
}

impl TangentOptions {
    pub fn validate(&self) -> Result<()> {
        if !(2..=MAX_TANGENT_K).contains(&self.k) {
            return Err(invalid("tangent k", format!("{} (need 2 to {MAX_TANGENT_K})", self.k)));
        }
        match self.dim {
            Some(d) if d == 0 || d >= self.k => Err(invalid(
                "tangent dim",
                format!("{d} (need 1 to k − 1 = {}: k neighbours span at most k − 1)", self.k - 1),
            )),
            _ => Ok(()),
        }
    }
}

/// Tangent spaces of a reference collection at a set of images.
#[derive(Debug, Clone)]
pub struct TangentSpaces {
    pub k: usize,
    /// Directions asked for per image.
    pub dim: usize,
    /// The estimated intrinsic dimension of the reference (before rounding), when `dim` was not given.
    pub estimated_dim: Option<f64>,
    /// Per image: orthonormal directions as rows (m × D, m ≤ `dim`; fewer where the neighbours span fewer).
    pub bases: Vec<Array2<f32>>,
}

impl TangentSpaces {
    /// The settings and the estimate, for results.json.
    pub fn summary(&self) -> Value {
        let mut m = Map::new();
        m.insert("k".into(), self.k.into());
        m.insert("dim".into(), self.dim.into());
        m.insert("dim_source".into(), if self.estimated_dim.is_some() { "mle" } else { "given" }.into());
        m.insert("estimated_dim".into(), self.estimated_dim.into());
        m.insert(
            "estimate".into(),
            "per image, the first dim principal directions of its k nearest reference images (local PCA); dim from \
             the Levina–Bickel MLE of the reference over k neighbours unless given"
                .into(),
        );
        Value::Object(m)
    }
}

/// Bytes the tangent bases of `n` images of `d` values take.
pub fn tangent_memory(n: usize, dim: usize, d: usize) -> u128 {
    n as u128 * dim as u128 * d as u128 * 4
}

/// Tangent spaces of `reference` at every row of `x` (same width). Duplicate reference rows are dropped before the
/// dimension estimate.
pub fn tangent_spaces(
    reference: ArrayView2<f32>,
    x: ArrayView2<f32>,
    opts: &TangentOptions,
    seed: u64,
) -> Result<TangentSpaces> {
    opts.validate()?;
    if reference.ncols() != x.ncols() {
        return Err(invalid(
            "reference",
            format!("rows of {} values, but the images have {}", reference.ncols(), x.ncols()),
        ));
    }
    if reference.nrows() <= opts.k {
        return Err(invalid(
            "reference",
            format!("{} images; the tangent k of {} needs at least {}", reference.nrows(), opts.k, opts.k + 1),
        ));
    }
    let tangent = |e: intrinsic_dim::DimError| ClassifierError::Tangent(Box::new(e));
    let (dim, estimated_dim) = match opts.dim {
        Some(d) => (d, None),
        None => {
            let (unique, _) = intrinsic_dim::drop_duplicates(reference);
            let mut params = Map::new();
            params.insert("n_neighbors".into(), opts.k.into());
            let est = intrinsic_dim::build("mle", &params).map_err(tangent)?;
            let ctx = intrinsic_dim::FitContext::new(unique.view(), opts.k, seed).map_err(tangent)?;
            let d = est.fit(&ctx).map_err(tangent)?.dimension;
            if !d.is_finite() {
                return Err(invalid("reference", "its intrinsic dimension is undefined (MLE not finite)"));
            }
            ((d.round() as usize).clamp(1, opts.k - 1), Some(d))
        }
    };
    let nb = knn::knn_query(reference, x, opts.k).map_err(|e| ClassifierError::Tangent(Box::new(e.into())))?;
    let bases = (0..x.nrows())
        .into_par_iter()
        .map(|i| {
            let rows: Vec<usize> = nb.indices.row(i).to_vec();
            let b =
                intrinsic_dim::local_pca::local_basis(reference.select(Axis(0), &rows).view(), dim).map_err(tangent)?;
            Ok(b.directions.mapv(|v| v as f32))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(TangentSpaces { k: opts.k, dim, estimated_dim, bases })
}

/// ‖δ − UᵀUδ‖₂ / ‖δ‖₂ (0 for δ = 0).
pub fn off_tangent_fraction(basis: &Array2<f32>, delta: ArrayView1<f32>) -> f64 {
    let d: Vec<f64> = delta.iter().map(|&v| v as f64).collect();
    let total: f64 = d.iter().map(|v| v * v).sum();
    if total == 0.0 {
        return 0.0;
    }
    let along: f64 = basis
        .rows()
        .into_iter()
        .map(|u| {
            let c: f64 = u.iter().zip(&d).map(|(&u, v)| u as f64 * v).sum();
            c * c
        })
        .sum();
    ((total - along).max(0.0) / total).sqrt()
}

/// PGD inside each image's tangent space (see the module docs). `bases[i]` belongs to row `i` of `clean`.
pub(super) fn pgd_tangent(
    model: &Classifier,
    clean: &Array2<f32>,
    y: &[usize],
    bases: &[Array2<f32>],
    opts: &AttackOptions,
) -> Result<Array2<f32>> {
    let d = clean.ncols();
    let radius = match opts.norm {
        Norm::L2 => opts.eps,
        Norm::Linf => opts.eps * (d as f32).sqrt(),
    };
    let alpha = 2.5 * radius / opts.steps as f32;
    let mut z: Vec<Vec<f32>> = bases.iter().map(|b| vec![0.0; b.nrows()]).collect();
    let mut adv = clean.clone();
    let mut done: Vec<bool> = bases.iter().map(|b| b.nrows() == 0).collect();
    for _ in 0..opts.steps {
        let active: Vec<usize> = (0..y.len()).filter(|&k| !done[k]).collect();
        if active.is_empty() {
            break;
        }
        let xa = adv.select(Axis(0), &active);
        let ya: Vec<usize> = active.iter().map(|&k| y[k]).collect();
        let (g, _) = super::gradient::loss_grad(model, &xa, &ya)?;
        for (j, &k) in active.iter().enumerate() {
            let u = &bases[k];
            let gz = u.dot(&g.row(j));
            let n = gz.dot(&gz).sqrt();
            if !(n > 0.0 && n.is_finite()) {
                continue;
            }
            z[k].iter_mut().zip(gz.iter()).for_each(|(z, g)| *z += alpha * g / n);
            let zk = ndarray::ArrayView1::from(&z[k]);
            let delta = u.t().dot(&zk);
            let shrink = match opts.norm {
                Norm::L2 => {
                    let nz = zk.dot(&zk).sqrt();
                    if nz > opts.eps {
                        opts.eps / nz
                    } else {
                        1.0
                    }
                }
                Norm::Linf => {
                    let m = delta.iter().fold(0f32, |m, v| m.max(v.abs()));
                    if m > opts.eps {
                        opts.eps / m
                    } else {
                        1.0
                    }
                }
            };
            z[k].iter_mut().for_each(|v| *v *= shrink);
            let mut row = adv.row_mut(k);
            for ((a, &c), &dv) in row.iter_mut().zip(clean.row(k)).zip(delta.iter()) {
                *a = (c + dv * shrink).clamp(0.0, 1.0);
            }
        }
        let mut check = adv.select(Axis(0), &active);
        if opts.quantize {
            for (j, &k) in active.iter().enumerate() {
                let row = quantize_toward(clean.row(k), check.row(j));
                check.row_mut(j).assign(&ndarray::ArrayView1::from(&row));
            }
        }
        let p = model.predict_proba(check.view())?;
        for (j, &k) in active.iter().enumerate() {
            if argmax(&p.row(j).to_vec()).0 != y[k] {
                done[k] = true;
            }
        }
    }
    Ok(adv)
}
