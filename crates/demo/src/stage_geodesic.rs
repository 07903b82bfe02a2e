//! Stage 2: the `turntable` scene with only `spin` free (the full circle), the geodesic crate's default graph (the
//! symmetrised kNN graph judged by the flow, `relative`) weighted by optical flow, shortest paths, and their agreement with the true angle difference, next to the same graph with
//! pixel-distance weights and to plain pixel distances. The vase is a surface of revolution, so only its texture
//! tells the angle; the true distance is the angle difference on the circle of `spin`'s range (360°: the scene's
//! texture wraps once around the vase).
//!
//! Writes `render/` (the image set, as `imanifold render`) and `geodesic/` (geodesic.npy, edges.csv,
//! embedding.csv, results.json as `imanifold geodesic --truth spin --periodic spin=360`), plus
//! geodesic_euclidean.npy and pixel_distances.npy for the comparison.

use std::path::Path;

use geodesic::{GeodesicDirOptions, GeodesicInput, GeodesicOptions, Metric, NamedColumn, Periodic};
use indicatif::ProgressBar;
use ndarray::{Array2, Axis};
use scene_render::{ColorMode, RenderOptions, RenderSet, Sampling, Scene, WriteOptions};
use serde_json::json;

use crate::config::Config;
use crate::data::{Correlation, GeodesicData};
use crate::util::{read_image_rows, sub_seed, Result, Step};

/// A library error with its causes, for the stage's message.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(&format!(": {c}"));
        cause = c.source();
    }
    s
}

/// Stage 2. `pb` counts flow edges.
pub fn run(cfg: &Config, dir: &Path, pb: &ProgressBar) -> Result<GeodesicData> {
    let scene = Scene::builtin("turntable")?;
    let opts = RenderOptions { color: ColorMode::Gray, ..RenderOptions::square(cfg.geo_size) };
    let vary = vec!["spin".to_string()];
    let seed = sub_seed(cfg.seed, 200);
    let params = scene_render::sample_parameters(&scene, &vary, cfg.geo_n, Sampling::Random, seed)?;
    let spin = scene.param_index("spin")?;
    let spec = &scene.parameters()[spin];
    // A full-turn angle: differences wrap around its range; otherwise plain differences.
    let period = if spec.periodic { spec.max - spec.min } else { f64::INFINITY };
    let truth: Vec<f64> = params.iter().map(|p| p.values[spin]).collect();
    let render_dir = dir.join("render");
    scene_render::write_render_dir(
        &render_dir,
        &scene,
        &RenderSet { params, vary, sampling: Sampling::Random, seed },
        &opts,
        &WriteOptions { npy: true, force: true, ..Default::default() },
    )?;
    let data = read_image_rows(&render_dir.join("images.npy"))?;
    let (n, side) = (data.nrows(), cfg.geo_size);
    let frames: Vec<Array2<f32>> = data
        .axis_iter(Axis(0))
        .map(|r| r.to_owned().into_shape_with_order((side, side)).expect("rows are side × side grey images"))
        .collect();

    // The pipeline and the folder of `imanifold geodesic --truth spin --periodic spin=360`, plus the comparison
    // distances (geodesic_euclidean.npy, pixel_distances.npy).
    let what = || format!("geodesics of {}", render_dir.display());
    let options = GeodesicOptions {
        k: cfg.geo_k,
        metric: Metric::Flow,
        truth: vec!["spin".into()],
        periodic: vec![Periodic { name: "spin".into(), period }],
        ..GeodesicOptions::default()
    };
    let columns = [NamedColumn { name: "spin", values: Some(&truth) }];
    let input = GeodesicInput { data: data.view(), frames: Some(&frames), columns: &columns };
    let report = geodesic::run(input, &options, pb).map_err(|e| chain(&e)).step(what)?;
    let out = dir.join("geodesic");
    let mut results = output::Results::new("geodesic");
    results.seed(cfg.seed);
    let dir_options = GeodesicDirOptions {
        row_name: &scene_render::image_file,
        input: Some(render_dir.display().to_string()),
        record_periodic: true,
        comparison_arrays: true,
    };
    geodesic::write_geodesic_dir(&out, &report, results, &dir_options).map_err(|e| chain(&e)).step(what)?;

    let t = report.truth.expect("the options name a truth column");
    let euclidean_graph = t.euclidean_graph.expect("the flow metric measures Euclidean-graph geodesics");
    let summary = json!({
        "scene": "turntable",
        "parameter": "spin",
        "period_degrees": output::json_f64(period),
        "n": n,
        "k": cfg.geo_k,
        "image": {"width": side, "height": side, "channels": 1},
        "edges": report.edges.len(),
        "components": report.components,
        "flow_method": report.flow_method.name(),
        "photometric_weight": report.photometric_weight,
        "correlation": geodesic::correlation_json(&t.correlations),
        "folder": crate::config::Stage::Geodesic.folder(),
    });
    Ok(GeodesicData {
        truth,
        period,
        flow: report.distances,
        euclidean_graph,
        pixel: t.pixel,
        correlations: t
            .correlations
            .into_iter()
            .map(|(name, a)| Correlation { name, spearman: a.spearman, pearson: a.pearson, pairs: a.pairs })
            .collect(),
        embedding: report.embedding.map(|e| (e.nodes, e.coords)),
        summary,
    })
}
