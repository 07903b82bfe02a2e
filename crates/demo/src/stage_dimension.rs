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
use intrinsic_dim::{Estimator, FitContext, RunOptions};
use ndarray::ArrayView2;
use rand::Rng;
use scene_render::{ColorMode, Params, RenderOptions, RenderSet, Sampling, Scene, WriteOptions};
use serde_json::{json, Map, Value};

use crate::config::{Config, DIMENSION_PARAMETERS};
use crate::data::{CurvePoint, DimensionData, DimensionSet, Estimate};
use crate::util::{fmt_opt, item_rng, read_image_rows, sub_seed, Result, Step};

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

fn slug(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect()
}

/// Percentile-bootstrap interval of the mean of `values` (NaN ignored), B = 200 seeded resamples.
fn mean_interval(values: &[f64], seed: u64) -> (f64, Option<(f64, f64)>) {
    let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return (f64::NAN, None);
    }
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let mut reps: Vec<f64> = (0..200u64)
        .map(|r| {
            let mut rng = item_rng(seed, r);
            (0..v.len()).map(|_| v[rng.random_range(0..v.len())]).sum::<f64>() / v.len() as f64
        })
        .collect();
    reps.sort_by(f64::total_cmp);
    (mean, Some((reps[4], reps[194])))
}

fn curve_point(estimator: &str, k: usize, est: &intrinsic_dim::Estimate) -> CurvePoint {
    CurvePoint { estimator: estimator.to_string(), k, dimension: est.dimension, ci95: est.ci95 }
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
    let no_params = Map::new();
    let estimators: Vec<Box<dyn Estimator>> = ESTIMATORS
        .iter()
        .map(|n| intrinsic_dim::build(n, &no_params))
        .collect::<std::result::Result<_, _>>()
        .step(|| "building the estimators".into())?;
    let mut mle_params = Map::new();
    mle_params.insert("base".into(), json!("mle"));
    let corrected_mle = intrinsic_dim::build("imanifold", &mle_params).step(|| "building imanifold:base=mle".into())?;
    let mle = intrinsic_dim::build("mle", &no_params).step(|| "building mle".into())?;
    let lpca = intrinsic_dim::build("lpca", &no_params).step(|| "building lpca".into())?;
    let k_max_curve = cfg.dim_curve_k.iter().copied().max().unwrap_or(2);

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
        let raw = read_image_rows(&render_dir.join("images.npy"))?;
        let (data, dropped) = intrinsic_dim::drop_duplicates(raw.view());
        let what = || format!("estimating the dimension of set {p} ({})", render_dir.display());
        let n = data.nrows();
        let run_opts = RunOptions::default();
        let k_needed = intrinsic_dim::max_k(&estimators, &run_opts).max(k_max_curve);
        if k_needed >= n {
            return Err(crate::util::DemoError::Step {
                context: what(),
                message: format!("{n} images cannot give {k_needed} neighbours each"),
            });
        }
        let t = Instant::now();
        let mut ctx = FitContext::new(data.view(), k_needed, seed).step(what)?;
        let knn_seconds = t.elapsed().as_secs_f64();
        ctx.bootstrap = cfg.dim_bootstrap;
        let reports = intrinsic_dim::run(&ctx, &estimators, &run_opts).step(what)?;
        let estimates: Vec<Estimate> = reports
            .iter()
            .map(|r| Estimate {
                estimator: r.name.to_string(),
                dimension: r.estimate.dimension,
                ci95: r.estimate.ci95,
                ci_method: r.estimate.ci_method.clone(),
                seconds: r.seconds,
            })
            .collect();

        // ID-vs-k curves (analytic or per-point intervals; no half-sampling refits per k).
        ctx.bootstrap = 0;
        let t = Instant::now();
        let mut curves = Vec::new();
        for &k in &cfg.dim_curve_k {
            for (label, base) in [("mle", &mle), ("imanifold:base=mle", &corrected_mle)] {
                let Some(e) = base.at_scale(k) else { continue };
                let r = intrinsic_dim::run(&ctx, std::slice::from_ref(&e), &run_opts)
                    .step(|| format!("{} at k = {k} ({})", label, what()))?;
                curves.push(curve_point(label, k, &r[0].estimate));
            }
            let pw = lpca.fit_pointwise(&ctx, k).step(|| format!("lpca-local at k = {k} ({})", what()))?;
            let (mean, ci) = mean_interval(&pw, sub_seed(seed, k as u64));
            curves.push(CurvePoint { estimator: "lpca-local".into(), k, dimension: mean, ci95: ci });
        }
        let curve_seconds = t.elapsed().as_secs_f64();

        write_dim_folder(
            &set_dir.join("dim"),
            &render_dir,
            &data.view(),
            raw.nrows(),
            dropped.len(),
            k_needed,
            cfg,
            &reports,
            &curves,
        )?;
        let set = DimensionSet { true_dimension: p, parameters: names.clone(), n, estimates, curves };
        set_json.push(json!({
            "true_dimension": p,
            "parameters": names,
            "windows": free.iter().map(|(n, h)| json!({"parameter": n, "half_width": h})).collect::<Vec<_>>(),
            "n": n,
            "duplicates_dropped": dropped.len(),
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

/// `setP/dim`: results.json and scale_<estimator>.csv in the formats of `imanifold dim`.
#[allow(clippy::too_many_arguments)]
fn write_dim_folder(
    out: &Path,
    input: &Path,
    data: &ArrayView2<f32>,
    n_input: usize,
    dropped: usize,
    k_needed: usize,
    cfg: &Config,
    reports: &[intrinsic_dim::Report],
    curves: &[CurvePoint],
) -> Result<()> {
    let mut results = output::Results::new("dim");
    results.seed(cfg.seed);
    let mut files = Map::new();
    for name in CURVE_ESTIMATORS {
        let f = format!("scale_{}.csv", slug(name));
        output::write_csv(
            &out.join(&f),
            &["k", "dimension", "ci_low", "ci_high"],
            curves.iter().filter(|c| c.estimator == name).map(|c| {
                vec![
                    c.k.to_string(),
                    output::fmt_f64(c.dimension),
                    fmt_opt(c.ci95.map(|x| x.0)),
                    fmt_opt(c.ci95.map(|x| x.1)),
                ]
            }),
        )?;
        files.insert(format!("scale_{}", slug(name)), json!(f));
    }
    let entries: Vec<Value> = reports
        .iter()
        .map(|r| {
            let mut e = r.to_json();
            e["label"] = json!(r.name);
            e
        })
        .collect();
    results
        .set("input", input.display().to_string())
        .set("n_input", n_input)
        .set("n", data.nrows())
        .set("d", data.ncols())
        .set("duplicates", json!({"policy": "drop", "dropped": dropped}))
        .set("k_neighbors_computed", k_needed)
        .set("bootstrap", cfg.dim_bootstrap)
        .set("k_range", json!(cfg.dim_curve_k))
        .set("estimates", entries)
        .set("files", files)
        .set("image_shape", json!([cfg.dim_size, cfg.dim_size, 1]));
    results.write(out)?;
    Ok(())
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

    #[test]
    fn bootstrap_interval_covers_the_mean() {
        let v: Vec<f64> = (0..100).map(|i| i as f64).collect();
        let (m, ci) = mean_interval(&v, 3);
        let (lo, hi) = ci.unwrap();
        assert_eq!(m, 49.5);
        assert!(lo < m && m < hi && hi - lo < 20.0 && hi - lo > 5.0, "{lo} {hi}");
        assert!(mean_interval(&[f64::NAN], 0).1.is_none());
    }
}
