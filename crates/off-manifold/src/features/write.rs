//! The score folder of a feature-space run (`imanifold score --features`).

use std::path::Path;

use ndarray::Array1;
use serde_json::{json, Map, Value};

use super::FeatureReport;
use crate::{Distribution, Result};

/// Writes a feature-space score folder:
///
/// * `scores.csv`: one row per query: `file`, `group` (empty without groups), one column per layer × score
///   (`LAYER.SCORE`, e.g. `hidden.lid`), then `LAYER.SCORE_pct` for each (calibrated percentile);
/// * per column `LAYER.SCORE.npy`, `LAYER.SCORE_pct.npy`, `calibration_LAYER.SCORE.npy` (float64 vectors);
/// * with the combination, `combination.csv`: `file`, `group`, then per combined group `combined_GROUP` (the
///   logistic regression's probability) and `split_GROUP` (`train`, `test`, or empty for rows of other groups);
/// * `results.json`: `mode` = `features`, `features` (the model and layers as given), `reference`, `query`,
///   `n_reference`, `n_query`, `layers` (per layer: `name`, `d`, `channels`, tangent dimension, MLE dimension,
///   duplicates, Mahalanobis classes), `methods`, `k`, `dim_rule`, `calibration`, `mahalanobis`,
///   `mahalanobis_noise` and `mahalanobis_preprocessing` (the input pre-processing step, 0 = none), `labels`,
///   `summary`, `groups_column`/`groups` (per-group distributions and AUROCs), `combination` (split, candidate penalties, per
///   group AUROC on the test halves, best single column, weights), `files`, seed and timings.
///
/// `record` is the caller's `output::Results::new("score")`. Returns the JSON written.
pub fn write_feature_dir(
    dir: &Path,
    report: &FeatureReport,
    features: &str,
    reference: &str,
    query: &str,
    mut record: output::Results,
) -> Result<Value> {
    output::create_dir(dir)?;
    let mut header: Vec<String> = vec!["file".into(), "group".into()];
    header.extend(report.columns.iter().map(|c| c.name.clone()));
    header.extend(report.columns.iter().map(|c| format!("{}_pct", c.name)));
    let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
    let group_of = |i: usize| report.groups.as_ref().map_or(String::new(), |g| g.labels[i].clone());
    let rows = report.query_ids.iter().enumerate().map(|(i, id)| {
        let mut row = vec![id.clone(), group_of(i)];
        row.extend(report.columns.iter().map(|c| output::fmt_f64(c.values[i])));
        row.extend(report.columns.iter().map(|c| output::fmt_f64(c.percentiles[i])));
        row
    });
    output::write_csv(&dir.join("scores.csv"), &header_refs, rows)?;
    let mut files = vec!["scores.csv".to_string()];
    let mut summary = Map::new();
    for c in &report.columns {
        for (name, v) in [
            (format!("{}.npy", c.name), &c.values),
            (format!("{}_pct.npy", c.name), &c.percentiles),
            (format!("calibration_{}.npy", c.name), &c.calibration),
        ] {
            output::write_npy(&dir.join(&name), &Array1::from(v.clone()))?;
            files.push(name);
        }
        let above = c.percentiles.iter().filter(|&&p| p >= 0.99).count() as f64 / c.percentiles.len() as f64;
        summary.insert(
            c.name.clone(),
            json!({
                "values": Distribution::of(&c.values),
                "percentiles": Distribution::of(&c.percentiles),
                "fraction_at_or_above_0.99": output::json_f64(above),
                "calibration": Distribution::of(&c.calibration),
            }),
        );
    }
    if let Some(comb) = &report.combination {
        let mut header: Vec<String> = vec!["file".into(), "group".into()];
        for g in &comb.groups {
            header.extend([format!("combined_{}", g.group), format!("split_{}", g.group)]);
        }
        let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
        let rows = report.query_ids.iter().enumerate().map(|(i, id)| {
            let mut row = vec![id.clone(), group_of(i)];
            for g in &comb.groups {
                let split = if g.rows[0].contains(&i) {
                    "train"
                } else if g.rows[1].contains(&i) {
                    "test"
                } else {
                    ""
                };
                row.extend([output::fmt_f64(g.values[i]), split.to_string()]);
            }
            row
        });
        output::write_csv(&dir.join("combination.csv"), &header_refs, rows)?;
        files.push("combination.csv".into());
    }
    let o = &report.options;
    record
        .seed(o.seed)
        .set("mode", "features")
        .set("features", features)
        .set("reference", reference)
        .set("query", query)
        .set("n_reference", report.n_reference)
        .set("n_query", report.query_ids.len())
        .set("layers", &report.layers)
        .set("methods", o.methods.iter().map(|m| m.name()).collect::<Vec<_>>())
        .set("k", o.k)
        .set("dim_rule", o.dim.describe())
        .set(
            "calibration",
            format!(
                "knn, tangent, lid: percentiles rank each query score among the leave-one-out scores of up to {} \
                 reference images (a seeded sample when the reference is larger), per layer; mahalanobis: among \
                 the scores of the same images, which took part in the fit",
                o.calibration
            ),
        )
        .set(
            "mahalanobis",
            "smallest Mahalanobis distance to a class mean; per-class means and one shared covariance of the \
             reference activations (convolution outputs averaged over positions per channel), ridge 1e-6 × mean \
             diagonal",
        )
        .set("mahalanobis_noise", o.mahalanobis_noise)
        .set(
            "mahalanobis_preprocessing",
            if o.mahalanobis_noise > 0.0 {
                format!(
                    "Lee et al. 2018: per layer, each calibration and query image x is scored at clip(x − {} · \
                     sign(∇ₓ d²(x)), 0, 1), d the distance to its nearest class at that layer; the Gaussians are \
                     fitted on the reference as given",
                    o.mahalanobis_noise
                )
            } else {
                "none: the inputs are scored as given".to_string()
            },
        )
        .set("labels", &report.labels_source)
        .set("summary", Value::Object(summary));
    if let Some(g) = &report.groups {
        record.set("groups_column", &g.column).set("groups", &g.report);
    }
    record.set("combination", &report.combination).set("files", &files);
    for (stage, s) in &report.timings {
        record.timing(stage, *s);
    }
    Ok(record.write(dir)?)
}
