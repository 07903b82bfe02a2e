//! The output folder of a geodesic run: `geodesic.npy`, `edges.csv`, `embedding.csv` and `results.json`.

use std::path::Path;

use serde_json::{json, Map, Value};

use crate::{Agreement, GeodesicReport, Result};

/// What [`write_geodesic_dir`] adds beyond the report.
pub struct GeodesicDirOptions<'a> {
    /// The `file` column of `embedding.csv` for row i.
    pub row_name: &'a dyn Fn(usize) -> String,
    /// Recorded as `input` in results.json when given.
    pub input: Option<String>,
    /// Records the periodic truth columns as `periodic` ({name: period}, null for an infinite period).
    pub record_periodic: bool,
    /// Also writes the comparison distances of the truth report: `geodesic_euclidean.npy` (flow metric) and
    /// `pixel_distances.npy`, listed under `files`.
    pub comparison_arrays: bool,
}

fn agreement_json(a: &Agreement) -> Value {
    json!({"spearman": output::json_f64(a.spearman), "pearson": output::json_f64(a.pearson), "pairs": a.pairs,
           "stress": output::json_f64(a.stress)})
}

/// The `correlation` object of results.json: {distance name: {spearman, pearson, pairs}}.
pub fn correlation_json(correlations: &[(String, Agreement)]) -> Map<String, Value> {
    correlations.iter().map(|(k, a)| (k.clone(), agreement_json(a))).collect()
}

/// Writes the files of `report` into `dir` (created if needed) and `results.json` through `results` (which the
/// caller started, with its seed and any earlier timings); returns the JSON written.
pub fn write_geodesic_dir(
    dir: &Path,
    report: &GeodesicReport,
    mut results: output::Results,
    options: &GeodesicDirOptions,
) -> Result<Value> {
    let mut files = json!({"geodesic": "geodesic.npy", "edges": "edges.csv", "embedding": "embedding.csv"});
    output::write_npy(&dir.join("geodesic.npy"), &report.distances)?;
    if let (true, Some(truth)) = (options.comparison_arrays, &report.truth) {
        if let Some(e) = &truth.euclidean_graph {
            output::write_npy(&dir.join("geodesic_euclidean.npy"), e)?;
            files["geodesic_euclidean"] = json!("geodesic_euclidean.npy");
        }
        output::write_npy(&dir.join("pixel_distances.npy"), &truth.pixel)?;
        files["pixel_distances"] = json!("pixel_distances.npy");
    }
    crate::write_edges_csv(&dir.join("edges.csv"), &report.edges)?;
    if let Some(e) = &report.embedding {
        crate::write_embedding_csv(&dir.join("embedding.csv"), &e.nodes, e.coords.view(), options.row_name)?;
    }
    if let Some(p) = &report.path {
        write_path(&dir.join("path"), p, options.row_name)?;
        files["path"] = json!("path/path.csv");
    }

    set_geodesic_results(&mut results, report, options);
    results.set("files", files);
    Ok(results.write(dir)?)
}

/// `path/`: `path.csv` (one row per frame: frame, file, row (empty for an in-between), id, position in edge units,
/// graph length so far at the images, per truth column its true and expected value at the images, and for a render
/// folder the rendered true frame `truth_NNNN.png`, its RMSE against the frame and the parameters rendered) and the
/// frames as `NNNN.png`.
fn write_path(dir: &Path, p: &crate::path::PathReport, row_name: &dyn Fn(usize) -> String) -> Result<()> {
    output::create_dir(dir)?;
    let mut header: Vec<String> =
        ["frame", "file", "row", "id", "position", "length_so_far"].iter().map(|s| s.to_string()).collect();
    for e in &p.errors {
        header.push(format!("{}_true", e.name));
        header.push(format!("{}_expected", e.name));
    }
    let truth = p.rendered_truth.as_ref().map(|(_, t)| t);
    if let Some(t) = truth {
        header.push("truth_file".into());
        header.push("truth_rmse".into());
        header.extend(t.parameters.iter().map(|(n, _)| format!("{n}_rendered")));
    }
    let mut cumulative = vec![0.0f64; p.nodes.len()];
    for (i, s) in p.steps.iter().enumerate() {
        cumulative[i + 1] = cumulative[i] + s;
    }
    let mut rows = Vec::new();
    let n_rows = if p.frames.is_empty() { p.nodes.len() } else { p.frames.len() };
    for f in 0..n_rows {
        let (row, position) = match p.frames.get(f) {
            Some(fr) => (fr.row, fr.position),
            None => (Some(p.nodes[f]), f as f64),
        };
        let file = if p.frames.is_empty() { String::new() } else { format!("{f:04}.png") };
        if let Some(fr) = p.frames.get(f) {
            let (h, w, c) = fr.image.dim();
            let data: Vec<f32> = fr.image.iter().copied().collect();
            pixels::write_png(&dir.join(&file), &data, pixels::ImageShape::new(h, w, c))?;
        }
        let node = row.and_then(|_| (position.fract() == 0.0).then_some(position as usize));
        let mut r = vec![
            f.to_string(),
            file,
            row.map(|r| r.to_string()).unwrap_or_default(),
            row.map(row_name).unwrap_or_default(),
            output::fmt_f64(position),
            node.map(|i| output::fmt_f64(cumulative[i])).unwrap_or_default(),
        ];
        for e in &p.errors {
            r.push(node.map(|i| output::fmt_f64(e.actual[i])).unwrap_or_default());
            r.push(node.map(|i| output::fmt_f64(e.expected[i])).unwrap_or_default());
        }
        if let Some(t) = truth {
            let name = format!("truth_{f:04}.png");
            let img = &t.images[f];
            let (h, w, c) = img.dim();
            let data: Vec<f32> = img.iter().copied().collect();
            pixels::write_png(&dir.join(&name), &data, pixels::ImageShape::new(h, w, c))?;
            r.push(name);
            r.push(output::fmt_f64(t.rmse[f]));
            r.extend(t.values[f].iter().map(|&v| output::fmt_f64(v)));
        }
        rows.push(r);
    }
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    output::write_csv(&dir.join("path.csv"), &header, rows)?;
    Ok(())
}

/// Sets the summary fields of `results.json` from `report` (everything [`write_geodesic_dir`] writes but `files`):
/// `input` (when given), `n`, `k`, `metric`, `edges`, `components`, `sources`, `photometric_weight`,
/// `flow_method`, `embedding`, `truth_columns`, `periodic` (when recorded), `correlation` and the stage timings.
pub fn set_geodesic_results(results: &mut output::Results, report: &GeodesicReport, options: &GeodesicDirOptions) {
    if let Some(input) = &options.input {
        results.set("input", input);
    }
    let sources = match &report.sources {
        None => Value::String("all".into()),
        Some(s) => json!(s),
    };
    results
        .set("n", report.n)
        .set("k", report.k)
        .set("metric", report.metric.name())
        .set("edges", report.edges.len())
        .set("components", report.components)
        .set("sources", sources)
        .set("photometric_weight", report.photometric_weight)
        .set("flow_method", report.flow_method.name());
    results.set("graph", crate::graph_json(report));
    if let Some(e) = &report.embedding {
        results
            .set("embedding", json!({"dims": e.coords.ncols(), "nodes": e.nodes.len(), "eigenvalues": e.eigenvalues}));
    }
    if let Some(truth) = &report.truth {
        results.set("truth_columns", &truth.columns);
        if options.record_periodic {
            let periodic: Map<String, Value> =
                report.periodic.iter().map(|p| (p.name.clone(), output::json_f64(p.period))).collect();
            results.set("periodic", periodic);
        }
        if !report.scales.is_empty() {
            let scales: Map<String, Value> = report.scales.iter().map(|c| (c.name.clone(), json!(c.scale))).collect();
            results.set("truth_scales", scales);
        }
        results.set("correlation", correlation_json(&truth.correlations));
    }
    if let Some(p) = &report.path {
        results.set("path", p.to_json(options.row_name));
    }
    for (stage, seconds) in &report.timings {
        results.timing(stage, *seconds);
    }
}
