//! The attack folder: PNGs, `.npy` matrices, `pairs.csv`, `adversarial.csv` and the `results.json` summary.

use rayon::prelude::*;

use super::{Attack, AttackOptions, AttackReport};
use crate::error::Result;

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
            opt(r.off_tangent_fraction),
        ]);
    }
    (0..n).into_par_iter().try_for_each(|k| -> Result<()> {
        let (cf, pf) = file_names(k);
        pixels::write_png(&out.join(&cf), &clean.row(k).to_vec(), shape)?;
        pixels::write_png(&out.join(&pf), &report.results[k].perturbed, shape)?;
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
            "off_tangent_fraction",
        ],
        per_image,
    )?;
    Ok(())
}

/// Sets the summary fields of an attack folder's `results.json` (`adversarial`) that the CLI and the demo share:
/// `method`, `norm` (`l2` for L-BFGS), `eps` (null for L-BFGS, which has no budget), `steps`, `random_trials`,
/// `n_images`, `n_correct` (= attacked), `clean_accuracy`, `n_flipped`, `flip_rate`, `random_flip_rate_l2`,
/// `random_flip_rate_linf`, `mean_l2`, `median_l2`, `mean_linf`, `median_linf`, `pairs_refer_to`, and for the
/// on-manifold attack `pgd_flip_rate` (plain PGD at the same budget on the same images), `mean_off_tangent_fraction`
/// and `tangent` (settings and dimension estimate; null for other methods). The caller
/// adds `model`, `data` and the seed.
pub fn set_attack_results(results: &mut output::Results, report: &AttackReport, opts: &AttackOptions) {
    let lbfgs = opts.attack == Attack::Lbfgs;
    results
        .set("method", opts.attack.name())
        .set("norm", if lbfgs { "l2" } else { opts.norm.name() })
        .set("eps", if lbfgs { None } else { Some(opts.eps) })
        .set("steps", opts.steps)
        .set("confidence", opts.confidence)
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
        .set("pgd_flip_rate", report.pgd_flip_rate)
        .set("mean_off_tangent_fraction", report.mean_off_tangent_fraction)
        .set("tangent", report.tangent.clone())
        .set(
            "pairs_refer_to",
            if opts.quantize {
                "PNG files (8-bit; identical to perturbed.npy values)"
            } else {
                "PNG files (8-bit, rounded; perturbed.npy holds the exact values the flips refer to)"
            },
        );
}
