//! Stage 1: the `object` scene rendered with 1, 2, …, 7 free parameters (six camera degrees of freedom, then the
//! light azimuth), the dimension of each set estimated with mle, twonn, lpca and the imanifold default (95 %
//! intervals), and ID-vs-k curves.
//!
//! Each set is written as a render folder (`setP/render`: PNGs, manifest.csv with the true parameters,
//! render.json, images.npy) and a `dim` result folder (`setP/dim`: results.json and scale_<estimator>.csv in the
//! formats of `imanifold dim`), so `imanifold dim stage1_dimension/set3/render --estimator mle` repeats a number.

use std::path::Path;
use std::time::Instant;

use indicatif::ProgressBar;
use intrinsic_dim::session::{CurveKind, CurveSpec, DimOptions, DimReport, Duplicates, Scales, Session, Source};
use rand::Rng;
use scene_render::{ColorMode, Params, RenderOptions, RenderSet, Sampling, Scene, WriteOptions};
use serde_json::{json, Map, Value};

use crate::config::{Config, DIMENSION_PARAMETERS};
use crate::data::{CurvePoint, DimensionData, DimensionSet, Estimate};
use crate::util::{item_rng, read_image_rows, sub_seed, Result, Step};

/// Estimators of the dimension plot (skdim names, default parameters; `imanifold` is the toolkit's default).
pub const ESTIMATORS: [&str; 4] = ["mle", "twonn", "lpca", "imanifold"];
/// Estimators of the ID-vs-k curves: Levina–Bickel MLE, the imanifold estimator on the MLE statistic (its default
/// statistic, TwoNN, has no neighbourhood size), and local PCA (skdim lPCA fit_pw, FO rule) averaged over points.
pub const CURVE_ESTIMATORS: [&str; 3] = ["mle", "imanifold:base=mle", "lpca-local"];

/// Parameter values: the first `free.len()` parameters of [`DIMENSION_PARAMETERS`] uniform in their windows around
/// the scene's defaults (clamped to the scene's ranges), the others at their defaults. Image i draws from its own
/// seeded stream.
pub fn window_params(scene: &Scene, free: &[(&str, f64)], n: usize, seed: u64) -> Result<Vec<Params>> {
    let specs = scene.parameters();
    let idx: Vec<(usize, f64)> = free
        .iter()
        .map(|&(name, half)| scene.param_index(name).map(|i| (i, half)))
        .collect::<std::result::Result<_, _>>()?;
    let base = scene.default_params();
    Ok((0..n)
        .map(|i| {
            let mut rng = item_rng(seed, i as u64);
            let mut p = base.clone();
            for &(j, half) in &idx {
                let s = &specs[j];
                let v = s.default + half * (2.0 * rng.random::<f64>() - 1.0);
                p.values[j] = v.clamp(s.min, s.max);
            }
            p
        })
        .collect())
}

/// The curves of [`CURVE_ESTIMATORS`]: `lpca-local` is lpca's pointwise fits averaged over points, the others the
/// named estimator at each scale.
fn curve_specs() -> Vec<CurveSpec> {
    CURVE_ESTIMATORS
        .iter()
        .map(|&label| match label {
            "lpca-local" => CurveSpec { label: label.into(), estimator: "lpca".into(), kind: CurveKind::PointwiseMean },
            _ => CurveSpec { label: label.into(), estimator: label.into(), kind: CurveKind::AtScale },
        })
        .collect()
}

/// Stage 1. `pb` advances once per image set.
pub fn run(cfg: &Config, dir: &Path, pb: &ProgressBar) -> Result<DimensionData> {
    let scene = Scene::builtin("object")?;
    let opts = RenderOptions {
        width: cfg.dim_size,
        height: cfg.dim_size,
        ssaa: 4,
        blur: cfg.dim_blur,
        color: ColorMode::Gray,
        depth: false,
    };
    let mut sets = Vec::new();
    let mut set_json = Vec::new();
    for p in 1..=DIMENSION_PARAMETERS.len() {
        pb.set_message(format!("set {p}/7"));
        let free = &DIMENSION_PARAMETERS[..p];
        let names: Vec<String> = free.iter().map(|(n, _)| n.to_string()).collect();
        let seed = sub_seed(cfg.seed, 100 + p as u64);
        let params = window_params(&scene, free, cfg.dim_n, seed)?;
        let set_dir = dir.join(format!("set{p}"));
        let render_dir = set_dir.join("render");
        let t = Instant::now();
        scene_render::write_render_dir(
            &render_dir,
            &scene,
            &RenderSet { params, vary: names.clone(), sampling: Sampling::Random, seed },
            &opts,
            &WriteOptions { npy: true, force: true, ..Default::default() },
        )?;
        let render_seconds = t.elapsed().as_secs_f64();
        let mut results = output::Results::new("dim");
        results.seed(cfg.seed);
        let raw = results.timed("load", || read_image_rows(&render_dir.join("images.npy")))?;
        let what = || format!("estimating the dimension of set {p} ({})", render_dir.display());
        // The run of `imanifold dim` with the demo's estimators and curves, written to `setP/dim`.
        let opts = DimOptions {
            estimators: ESTIMATORS.iter().map(|s| s.to_string()).collect(),
            scales: Some(Scales::List(cfg.dim_curve_k.clone())),
            curves: Some(curve_specs()),
            bootstrap: cfg.dim_bootstrap,
            duplicates: Duplicates::Drop,
            seed,
            ..Default::default()
        };
        let session = Session::new(&opts).step(|| "building the estimators".into())?;
        let source =
            Source { name: render_dir.display().to_string(), image_shape: Some([cfg.dim_size, cfg.dim_size, 1]) };
        let report = session.run(raw.view(), source).step(what)?;
        let dim_dir = set_dir.join("dim");
        output::create_dir(&dim_dir)?;
        intrinsic_dim::write_dim_dir(&dim_dir, &report, results)?;
        let (estimates, curves) = demo_view(&report, &cfg.dim_curve_k);
        let (n, dropped) = (report.n, report.dropped.len());
        let (knn_seconds, curve_seconds) = (report.timings.knn, report.timings.scale.unwrap_or(0.0));
        let set = DimensionSet { true_dimension: p, parameters: names.clone(), n, estimates, curves };
        set_json.push(json!({
            "true_dimension": p,
            "parameters": names,
            "windows": free.iter().map(|(n, h)| json!({"parameter": n, "half_width": h})).collect::<Vec<_>>(),
            "n": n,
            "duplicates_dropped": dropped,
            "estimates": set.estimates.iter().map(|e| (e.estimator.clone(), json!({
                "dimension": output::json_f64(e.dimension),
                "ci95": e.ci95.map(|(a, b)| json!([output::json_f64(a), output::json_f64(b)])),
                "ci_method": e.ci_method,
                "seconds": output::json_f64(e.seconds),
            }))).collect::<Map<String, Value>>(),
            "id_vs_k": CURVE_ESTIMATORS.iter().map(|name| (name.to_string(), set.curves.iter().filter(|c| c.estimator == *name).map(|c| json!({
                "k": c.k,
                "dimension": output::json_f64(c.dimension),
                "ci95": c.ci95.map(|(a, b)| json!([output::json_f64(a), output::json_f64(b)])),
            })).collect::<Value>())).collect::<Map<String, Value>>(),
            "seconds": {"render": render_seconds, "knn": knn_seconds, "curves": curve_seconds},
            "folder": format!("{}/set{p}", crate::config::Stage::Dimension.folder()),
        }));
        sets.push(set);
        pb.inc(1);
    }
    let summary = json!({
        "scene": "object",
        "image": {"width": cfg.dim_size, "height": cfg.dim_size, "channels": 1, "ssaa": 4, "blur_sigma_px": cfg.dim_blur},
        "n_per_set": cfg.dim_n,
        "bootstrap": cfg.dim_bootstrap,
        "curve_k": cfg.dim_curve_k,
        "estimators": ESTIMATORS,
        "curve_estimators": CURVE_ESTIMATORS,
        "note": "parameters vary uniformly in windows (default ± half_width, clamped to the scene's ranges) around the object scene's default pose; lpca is skdim lPCA().fit (global PCA, FO rule), lpca-local its pointwise version averaged over points",
        "sets": set_json,
    });
    Ok(DimensionData {
        sets,
        estimators: ESTIMATORS.iter().map(|s| s.to_string()).collect(),
        curve_estimators: CURVE_ESTIMATORS.iter().map(|s| s.to_string()).collect(),
        summary,
    })
}

/// The demo's estimates and curve points (for each k, the curves in [`CURVE_ESTIMATORS`] order) from a run.
fn demo_view(report: &DimReport, ks: &[usize]) -> (Vec<Estimate>, Vec<CurvePoint>) {
    let estimates = report
        .estimates
        .iter()
        .map(|e| Estimate {
            estimator: e.report.name.to_string(),
            dimension: e.report.estimate.dimension,
            ci95: e.report.estimate.ci95,
            ci_method: e.report.estimate.ci_method.clone(),
            seconds: e.report.seconds,
        })
        .collect();
    let mut curves = Vec::new();
    for &k in ks {
        for c in &report.curves {
            if let Some(pt) = c.points.iter().flatten().find(|pt| pt.k == k) {
                curves.push(CurvePoint { estimator: c.label.clone(), k, dimension: pt.dimension, ci95: pt.ci95 });
            }
        }
    }
    (estimates, curves)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_vary_only_the_free_parameters_inside_their_windows() {
        let scene = Scene::builtin("object").unwrap();
        let free = &DIMENSION_PARAMETERS[..3];
        let p = window_params(&scene, free, 200, 1).unwrap();
        let specs = scene.parameters();
        let def = scene.default_params();
        for (j, s) in specs.iter().enumerate() {
            let vals: Vec<f64> = p.iter().map(|q| q.values[j]).collect();
            match free.iter().find(|(n, _)| *n == s.name) {
                Some(&(_, half)) => {
                    assert!(vals.iter().all(|v| (v - s.default).abs() <= half + 1e-9), "{}", s.name);
                    let spread = vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
                        - vals.iter().cloned().fold(f64::INFINITY, f64::min);
                    assert!(spread > 1.5 * half, "{}: spread {spread}", s.name);
                }
                None => assert!(vals.iter().all(|&v| v == def.values[j]), "{} must stay fixed", s.name),
            }
        }
        assert_eq!(p, window_params(&scene, free, 200, 1).unwrap());
        assert_ne!(p, window_params(&scene, free, 200, 2).unwrap());
    }
}
