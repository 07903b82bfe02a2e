//! Stage 2: the `turntable` scene with only `spin` free (the full circle), the symmetrised kNN graph weighted by
//! optical flow, shortest paths, and their agreement with the true angle difference, next to the same graph with
//! pixel-distance weights and to plain pixel distances. The vase is a surface of revolution, so only its texture
//! tells the angle; the true distance is the angle difference on the circle of `spin`'s range (360°: the scene's
//! texture wraps once around the vase).
//!
//! Writes `render/` (the image set, as `imanifold render`) and `geodesic/` (geodesic.npy, edges.csv,
//! embedding.csv, results.json as `imanifold geodesic --truth spin --periodic spin=360`), plus
//! geodesic_euclidean.npy and pixel_distances.npy for the comparison.

use std::path::Path;

use geodesic::{agreement, Agreement, Edge};
use indicatif::ProgressBar;
use ndarray::{Array2, Axis};
use scene_render::{ColorMode, RenderOptions, RenderSet, Sampling, Scene, WriteOptions};
use serde_json::{json, Value};

use crate::config::Config;
use crate::data::{Correlation, GeodesicData};
use crate::util::{read_image_rows, sub_seed, Result, Step};

/// |a − b| on a circle of circumference `period` (plain |a − b| for an infinite period).
fn periodic_distance(a: f64, b: f64, period: f64) -> f64 {
    if !period.is_finite() {
        return (a - b).abs();
    }
    let d = (a - b).abs() % period;
    d.min(period - d)
}

fn corr_json(a: &Agreement) -> Value {
    json!({"spearman": output::json_f64(a.spearman), "pearson": output::json_f64(a.pearson), "pairs": a.pairs})
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

    let what = || format!("geodesics of {}", render_dir.display());
    let euclid_edges = geodesic::knn_edges(data.view(), cfg.geo_k).step(what)?;
    let mut edges: Vec<Edge> = euclid_edges.clone();
    let flow_params = geodesic::default_flow_params();
    pb.set_length(edges.len() as u64);
    let t = std::time::Instant::now();
    geodesic::weight_by_flow(&mut edges, &frames, &flow_params, geodesic::DEFAULT_PHOTOMETRIC_WEIGHT, &|d| pb.inc(d))
        .step(what)?;
    let flow_seconds = t.elapsed().as_secs_f64();
    let (parts, labels) = geodesic::components(n, &edges);
    let sources: Vec<usize> = (0..n).collect();
    let flow = geodesic::shortest_paths(n, &edges, &sources).step(what)?;
    let euclidean_graph = geodesic::shortest_paths(n, &euclid_edges, &sources).step(what)?;
    let pixel = geodesic::pixel_distances(data.view()).step(what)?;
    let true_dist = |i: usize, j: usize| periodic_distance(truth[i], truth[j], period);
    let correlations: Vec<(String, Agreement)> = vec![
        ("flow".into(), agreement(flow.view(), &sources, &true_dist)),
        ("euclidean_graph".into(), agreement(euclidean_graph.view(), &sources, &true_dist)),
        ("pixel".into(), agreement(pixel.view(), &sources, &true_dist)),
    ];

    // Isomap embedding of the largest component (as `imanifold geodesic`).
    let mut count = vec![0usize; parts];
    labels.iter().for_each(|&l| count[l] += 1);
    let big = (0..parts).max_by_key(|&l| (count[l], std::cmp::Reverse(l))).unwrap_or(0);
    let nodes: Vec<usize> = (0..n).filter(|&i| labels[i] == big).collect();
    let (coords, eig) = geodesic::classical_mds(flow.view(), &nodes, 2.min(nodes.len())).step(what)?;

    // geodesic/ in the format of `imanifold geodesic`.
    let out = dir.join("geodesic");
    let mut results = output::Results::new("geodesic");
    results.seed(cfg.seed);
    output::write_npy(&out.join("geodesic.npy"), &flow)?;
    output::write_npy(&out.join("geodesic_euclidean.npy"), &euclidean_graph)?;
    output::write_npy(&out.join("pixel_distances.npy"), &pixel)?;
    geodesic::write_edges_csv(&out.join("edges.csv"), &edges).step(what)?;
    geodesic::write_embedding_csv(&out.join("embedding.csv"), &nodes, coords.view(), &scene_render::image_file)
        .step(what)?;
    let corr: serde_json::Map<String, Value> = correlations.iter().map(|(k, a)| (k.clone(), corr_json(a))).collect();
    results
        .set("input", render_dir.display().to_string())
        .set("n", n)
        .set("k", cfg.geo_k)
        .set("metric", "flow")
        .set("edges", edges.len())
        .set("components", parts)
        .set("sources", "all")
        .set("photometric_weight", geodesic::DEFAULT_PHOTOMETRIC_WEIGHT)
        .set("flow_method", flow_params.method.name())
        .set("embedding", json!({"dims": coords.ncols(), "nodes": nodes.len(), "eigenvalues": eig}))
        .set("truth_columns", ["spin"])
        .set("periodic", json!({"spin": output::json_f64(period)}))
        .set("correlation", &corr)
        .set(
            "files",
            json!({"geodesic": "geodesic.npy", "geodesic_euclidean": "geodesic_euclidean.npy",
                   "pixel_distances": "pixel_distances.npy", "edges": "edges.csv", "embedding": "embedding.csv"}),
        )
        .timing("flow", flow_seconds);
    results.write(&out)?;

    let summary = json!({
        "scene": "turntable",
        "parameter": "spin",
        "period_degrees": output::json_f64(period),
        "n": n,
        "k": cfg.geo_k,
        "image": {"width": side, "height": side, "channels": 1},
        "edges": edges.len(),
        "components": parts,
        "flow_method": flow_params.method.name(),
        "photometric_weight": geodesic::DEFAULT_PHOTOMETRIC_WEIGHT,
        "correlation": corr,
        "folder": crate::config::Stage::Geodesic.folder(),
    });
    Ok(GeodesicData {
        truth,
        period,
        flow,
        euclidean_graph,
        pixel,
        correlations: correlations
            .into_iter()
            .map(|(name, a)| Correlation { name, spearman: a.spearman, pearson: a.pearson, pairs: a.pairs })
            .collect(),
        embedding: Some((nodes, coords)),
        summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periodic_distance_wraps() {
        assert_eq!(periodic_distance(10.0, 20.0, 180.0), 10.0);
        assert_eq!(periodic_distance(-170.0, 170.0, 180.0), 20.0);
        assert_eq!(periodic_distance(0.0, 180.0, 180.0), 0.0);
        assert_eq!(periodic_distance(0.0, 90.0, 180.0), 90.0);
        assert_eq!(periodic_distance(-170.0, 170.0, f64::INFINITY), 340.0);
    }
}
