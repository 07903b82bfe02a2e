//! The files of a score folder, the format `imanifold score` (query mode) and the demo's `score/` share, and of a
//! perturbation folder (`imanifold score --pairs`).

use std::collections::HashMap;
use std::path::Path;

use ndarray::Array1;
use serde_json::{json, Map, Value};

use crate::{Distribution, Method, PairsRun, QueryReport, Result, ScoreOptions, ScoreReport};

/// Writes a whole score folder for [`crate::score_query`]'s report: the files of [`write_score_files`] and
/// `results.json` ([`set_score_results`] plus `reference` and `query` as given here, `n_query`, `d`,
/// `image_shape`, `files`, the seed and, with groups, `groups_column` and `groups`). `record` is the
/// `output::Results::new("score")` the caller started when the run began (its clock gives the total time), with
/// any timings of the caller's own (loading). Returns the JSON written.
pub fn write_score_dir(
    dir: &Path,
    report: &QueryReport,
    reference: &str,
    query: &str,
    mut record: output::Results,
) -> Result<Value> {
    output::create_dir(dir)?;
    let names: HashMap<usize, &String> = report.scores.nearest.iter().copied().zip(&report.nearest_reference).collect();
    let files = write_score_files(
        dir,
        &report.scores,
        &report.query_ids,
        report.groups.as_ref().map(|g| g.labels.as_slice()),
        &|j| names[&j].clone(),
    )?;
    set_score_results(&mut record, &report.scores, &report.options);
    record
        .seed(report.options.seed)
        .set("reference", reference)
        .set("query", query)
        .set("n_query", report.query_ids.len())
        .set("d", report.d)
        .set("image_shape", report.shape.map(|s| json!({"height": s.height, "width": s.width, "channels": s.channels})))
        .set("files", &files);
    if let Some(g) = &report.groups {
        record.set("groups_column", &g.column).set("groups", &g.report);
    }
    Ok(record.write(dir)?)
}

/// Writes a perturbation folder for [`crate::score_pairs`]'s report: `perturbations.csv` (one row per pair:
/// `clean`, `perturbed` as the pairs file names them, `l2`, `linf`, `tangent_dim`, `tangent_fraction`,
/// `normal_fraction`, `random_tangent_fraction`, `clean_nearest_distance`), `tangent_fraction.npy`,
/// `random_tangent_fraction.npy` (float64 vectors) and `results.json` (`mode` = `pairs`, `reference` and `pairs`
/// as given here, the sizes, the tangent dimension and its rule, the summary). `record` as in [`write_score_dir`].
/// Returns the JSON written.
pub fn write_pairs_dir(
    dir: &Path,
    run: &PairsRun,
    reference: &str,
    pairs: &str,
    mut record: output::Results,
) -> Result<Value> {
    output::create_dir(dir)?;
    let header = [
        "clean",
        "perturbed",
        "l2",
        "linf",
        "tangent_dim",
        "tangent_fraction",
        "normal_fraction",
        "random_tangent_fraction",
        "clean_nearest_distance",
    ];
    let report = &run.energy;
    let rows = report.pairs.iter().enumerate().map(|(i, p)| {
        vec![
            run.clean_ids[i].clone(),
            run.perturbed_ids[i].clone(),
            output::fmt_f64(p.l2),
            output::fmt_f64(p.linf),
            p.d.to_string(),
            output::fmt_f64(p.tangent_fraction),
            output::fmt_f64(p.normal_fraction),
            output::fmt_f64(p.random_tangent_fraction),
            output::fmt_f64(p.clean_nearest_distance),
        ]
    });
    output::write_csv(&dir.join("perturbations.csv"), &header, rows)?;
    let tf: Vec<f64> = report.pairs.iter().map(|p| p.tangent_fraction).collect();
    let rf: Vec<f64> = report.pairs.iter().map(|p| p.random_tangent_fraction).collect();
    output::write_npy(&dir.join("tangent_fraction.npy"), &Array1::from(tf))?;
    output::write_npy(&dir.join("random_tangent_fraction.npy"), &Array1::from(rf))?;
    record
        .seed(run.options.seed)
        .set("mode", "pairs")
        .set("reference", reference)
        .set("pairs", pairs)
        .set("n_reference", report.n_reference)
        .set("n_pairs", report.summary.n_pairs)
        .set("d", run.d)
        .set("k", report.k)
        .set("dim_rule", run.options.dim.describe())
        .set("tangent_dim", report.dim_global)
        .set("tangent_dim_clamped_to_k_minus_1", report.dim_clamped)
        .set("reference_dimension_mle", output::json_f64(report.reference_dimension))
        .set("duplicate_reference_rows_dropped", report.duplicates_dropped)
        .set("summary", &report.summary)
        .set("files", ["perturbations.csv", "tangent_fraction.npy", "random_tangent_fraction.npy"]);
    for (stage, s) in &run.timings {
        record.timing(stage, *s);
    }
    Ok(record.write(dir)?)
}

/// Writes the per-query files of a score folder (atomically, through the `output` crate):
///
/// * `scores.csv`: one row per query, columns `file` (`ids[i]`), `group` (`groups[i]`; empty without groups), one
///   column per score in the report's order (`knn_kth`, `knn_mean`, `tangent`, `lid`, `flow` as computed), then
///   `<score>_pct` (calibrated percentile) for each, `tangent_dim` (only when the report has per-query tangent
///   dimensions), `nearest_reference` (`reference_name(row)` of the nearest reference row) and `nearest_distance`;
/// * per score, `<score>.npy`, `<score>_pct.npy` and `calibration_<score>.npy` (float64 vectors: query values,
///   query percentiles, leave-one-out values of the calibration images).
///
/// Returns the names of the files written, `scores.csv` first (the `files` entry of `results.json`, which
/// [`set_score_results`] fills and the caller writes).
pub fn write_score_files(
    out: &Path,
    report: &ScoreReport,
    ids: &[String],
    groups: Option<&[String]>,
    reference_name: &dyn Fn(usize) -> String,
) -> Result<Vec<String>> {
    let mut header: Vec<String> = vec!["file".into(), "group".into()];
    header.extend(report.columns.iter().map(|c| c.name.to_string()));
    header.extend(report.columns.iter().map(|c| format!("{}_pct", c.name)));
    if report.tangent_dims.is_some() {
        header.push("tangent_dim".into());
    }
    header.extend(["nearest_reference".into(), "nearest_distance".into()]);
    let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
    let rows = ids.iter().enumerate().map(|(i, id)| {
        let mut row = vec![id.clone(), groups.map_or(String::new(), |g| g[i].clone())];
        row.extend(report.columns.iter().map(|c| output::fmt_f64(c.values[i])));
        row.extend(report.columns.iter().map(|c| output::fmt_f64(c.percentiles[i])));
        if let Some(d) = &report.tangent_dims {
            row.push(d[i].to_string());
        }
        row.push(reference_name(report.nearest[i]));
        row.push(output::fmt_f64(report.nearest_distance[i]));
        row
    });
    output::write_csv(&out.join("scores.csv"), &header_refs, rows)?;
    let mut files = vec!["scores.csv".to_string()];
    for c in &report.columns {
        for (name, v) in [
            (format!("{}.npy", c.name), &c.values),
            (format!("{}_pct.npy", c.name), &c.percentiles),
            (format!("calibration_{}.npy", c.name), &c.calibration),
        ] {
            output::write_npy(&out.join(&name), &Array1::from(v.clone()))?;
            files.push(name);
        }
    }
    Ok(files)
}

/// Sets the fields of a score folder's `results.json` (`score`, query mode) that the CLI and the demo share:
/// `mode` (`query`), `n_reference`, `k`, `methods`, `dim_rule`, `tangent_dim`, `tangent_dim_clamped_to_k_minus_1`,
/// `reference_dimension_mle`, `calibration` (what the percentiles rank against, in words), `n_calibration`,
/// `n_flow_calibration`, `flow_method` (null without the flow score), `duplicate_reference_rows_dropped`,
/// `summary` (per score: `values`, `percentiles` and `calibration` distributions and
/// `fraction_at_or_above_0.99`) and the stage timings. The caller adds `reference`, `query`, `n_query`, `d`,
/// `image_shape`, `files`, the groups and the seed.
pub fn set_score_results(results: &mut output::Results, report: &ScoreReport, opts: &ScoreOptions) {
    let mut summary = Map::new();
    for c in &report.columns {
        let above = c.percentiles.iter().filter(|&&p| p >= 0.99).count() as f64 / c.percentiles.len() as f64;
        summary.insert(
            c.name.to_string(),
            json!({
                "values": Distribution::of(&c.values),
                "percentiles": Distribution::of(&c.percentiles),
                "fraction_at_or_above_0.99": output::json_f64(above),
                "calibration": Distribution::of(&c.calibration),
            }),
        );
    }
    let calibration = format!(
        "percentiles rank each query score among the leave-one-out scores of {} reference images ({}){}",
        report.calibration_rows.len(),
        if report.calibration_rows.len() + report.duplicates_dropped.len() < report.n_reference {
            format!("a seeded sample of the {} reference images", report.n_reference)
        } else {
            "all of the reference".to_string()
        },
        if report.flow_calibration_rows.is_empty() {
            String::new()
        } else {
            format!(
                "; the flow score's among those of a seeded sub-sample of {} of them",
                report.flow_calibration_rows.len()
            )
        }
    );
    results
        .set("mode", "query")
        .set("n_reference", report.n_reference)
        .set("k", report.k)
        .set("methods", opts.methods.iter().map(|m| m.name()).collect::<Vec<_>>())
        .set("dim_rule", opts.dim.describe())
        .set("tangent_dim", report.dim_global)
        .set("tangent_dim_clamped_to_k_minus_1", report.dim_clamped)
        .set("reference_dimension_mle", output::json_f64(report.reference_dimension))
        .set("calibration", calibration)
        .set("n_calibration", report.calibration_rows.len())
        .set("n_flow_calibration", report.flow_calibration_rows.len())
        .set("flow_method", opts.methods.contains(&Method::Flow).then(|| opts.flow.method.name()))
        .set("duplicate_reference_rows_dropped", report.duplicates_dropped.len())
        .set("summary", Value::Object(summary));
    for (stage, s) in &report.timings {
        results.timing(stage, *s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScoreColumn;

    fn report(tangent_dims: Option<Vec<usize>>) -> ScoreReport {
        ScoreReport {
            columns: vec![ScoreColumn {
                name: "knn_kth".into(),
                method: Method::Knn,
                values: vec![1.5, 2.0],
                percentiles: vec![0.5, 1.0],
                calibration: vec![1.0, 1.25, 1.5],
            }],
            k: 2,
            n_reference: 3,
            duplicates_dropped: vec![],
            calibration_rows: vec![0, 1, 2],
            flow_calibration_rows: vec![],
            reference_dimension: 1.0,
            tangent_dims,
            dim_global: None,
            dim_clamped: false,
            nearest: vec![2, 0],
            nearest_distance: vec![0.25, 0.5],
            timings: vec![("knn", 0.125)],
        }
    }

    /// The columns, file names and keys notebooks and tests read.
    #[test]
    fn score_folder_format() {
        let dir = tempfile::tempdir().unwrap();
        let ids = ["a.png".to_string(), "b.png".to_string()];
        let groups = ["natural".to_string(), "noise".to_string()];
        let name = |j: usize| format!("ref{j}");
        let files = write_score_files(dir.path(), &report(Some(vec![1, 2])), &ids, Some(&groups), &name).unwrap();
        assert_eq!(files, ["scores.csv", "knn_kth.npy", "knn_kth_pct.npy", "calibration_knn_kth.npy"]);
        for f in &files {
            assert!(dir.path().join(f).is_file(), "{f}");
        }
        let csv = std::fs::read_to_string(dir.path().join("scores.csv")).unwrap();
        assert_eq!(
            csv,
            "file,group,knn_kth,knn_kth_pct,tangent_dim,nearest_reference,nearest_distance\n\
             a.png,natural,1.5,0.5,1,ref2,0.25\nb.png,noise,2,1,2,ref0,0.5\n"
        );
        // Without groups and per-query dimensions: an empty group column and no tangent_dim column.
        write_score_files(dir.path(), &report(None), &ids, None, &name).unwrap();
        let csv = std::fs::read_to_string(dir.path().join("scores.csv")).unwrap();
        assert_eq!(csv.lines().next(), Some("file,group,knn_kth,knn_kth_pct,nearest_reference,nearest_distance"));
        assert_eq!(csv.lines().nth(1), Some("a.png,,1.5,0.5,ref2,0.25"));

        let mut results = output::Results::new("score");
        set_score_results(&mut results, &report(None), &ScoreOptions::default());
        let v = results.to_value();
        for key in [
            "mode",
            "n_reference",
            "k",
            "methods",
            "dim_rule",
            "tangent_dim",
            "tangent_dim_clamped_to_k_minus_1",
            "reference_dimension_mle",
            "calibration",
            "n_calibration",
            "n_flow_calibration",
            "flow_method",
            "duplicate_reference_rows_dropped",
        ] {
            assert!(v.get(key).is_some(), "{key}");
        }
        assert_eq!(v["flow_method"], Value::Null, "no flow score, no flow method");
        assert_eq!(v["summary"]["knn_kth"]["fraction_at_or_above_0.99"], 0.5);
        assert_eq!(v["timings_seconds"]["knn"], 0.125);
    }
}
