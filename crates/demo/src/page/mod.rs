//! The report: `report.html` and the data of every plot in `plots/` (CSV, the SVG itself, the gallery PNGs).

use std::path::Path;

mod dimension;
mod geodesic;
mod off_manifold;
mod stability;

use report::{Document, Figure};
use serde_json::{json, Value};

use crate::config::{Config, Stage};
use crate::data::{DimensionData, GeodesicData, OffManifoldData, StabilityData};
use crate::util::Result;

/// How a stage ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Done,
    /// Not compiled into this binary (its crates are missing from the build).
    NotBuilt,
    Failed(String),
}

impl Status {
    pub fn key(&self) -> &'static str {
        match self {
            Status::Done => "done",
            Status::NotBuilt => "not_built",
            Status::Failed(_) => "failed",
        }
    }
}

/// One stage's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct StageRecord {
    pub stage: Stage,
    pub status: Status,
    pub seconds: f64,
}

/// What the stages produced.
#[derive(Debug, Default)]
pub struct Collected {
    pub dimension: Option<DimensionData>,
    pub geodesic: Option<GeodesicData>,
    pub off_manifold: Option<OffManifoldData>,
    pub stability: Option<StabilityData>,
}

/// Writes plots/* and report.html; returns the list of placed figures for results.json.
pub fn write(out: &Path, cfg: &Config, records: &[StageRecord], c: &Collected, total_seconds: f64) -> Result<Value> {
    let mut doc = Document::new("imanifold demo");
    let mut page = Page { out, doc: &mut doc };
    page.doc.heading(1, "imanifold demo: the manifold of natural images, measured", None);
    page.doc.paragraph(&format!(
        "Mode {} (seed {}); {} stages; total {:.1} s on {} worker threads. Every number below is in results.json; \
         every plot's data is linked under it (CSV beside this file), and each stage folder holds the outputs in the \
         formats of the individual imanifold commands.",
        cfg.mode(),
        cfg.seed,
        records.len(),
        total_seconds,
        rayon::current_num_threads()
    ));
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            vec![
                r.stage.title().to_string(),
                match &r.status {
                    Status::Done => "done".into(),
                    Status::NotBuilt => "left out: not built".into(),
                    Status::Failed(_) => "FAILED".into(),
                },
                format!("{:.1}", r.seconds),
                r.stage.folder().to_string(),
            ]
        })
        .collect();
    page.doc.table(
        "stages",
        "Stages and their wall-clock time",
        &["stage", "status", "seconds", "folder"],
        &rows,
        vec![],
    );

    for r in records {
        page.doc.heading(2, r.stage.title(), Some(r.stage.key()));
        match &r.status {
            Status::NotBuilt => {
                page.doc.note(&format!(
                    "This stage is left out: this build of imanifold does not contain it (needs {}). No numbers are \
                     shown for it.",
                    r.stage.crates()
                ));
                continue;
            }
            Status::Failed(msg) => {
                page.doc.failure(&format!("This stage failed and is left out of the report: {msg}"));
                continue;
            }
            Status::Done => {}
        }
        match r.stage {
            Stage::Dimension => {
                if let Some(d) = &c.dimension {
                    page.dimension(cfg, d)?;
                }
            }
            Stage::Geodesic => {
                if let Some(g) = &c.geodesic {
                    page.geodesic(cfg, g)?;
                }
            }
            Stage::OffManifold => {
                if let Some(o) = &c.off_manifold {
                    page.off_manifold(cfg, o)?;
                }
            }
            Stage::Stability => {
                if let Some(s) = &c.stability {
                    page.stability(cfg, s)?;
                }
            }
        }
    }
    doc.write(&out.join("report.html"))?;
    let list: Vec<Value> =
        doc.figure_list().iter().map(|f| json!({"id": f.id, "kind": f.kind, "files": f.files})).collect();
    Ok(json!({"report": "report.html", "figures": list, "linked_files": doc.linked_files()}))
}

struct Page<'a> {
    out: &'a Path,
    doc: &'a mut Document,
}

fn cells(v: &[String]) -> Vec<String> {
    v.to_vec()
}

fn ci_text(d: f64, ci: Option<(f64, f64)>) -> String {
    match ci {
        Some((lo, hi)) => format!("{d:.2} [{lo:.2}, {hi:.2}]"),
        None => format!("{d:.2}"),
    }
}

impl Page<'_> {
    /// Writes `plots/<id>.svg` and returns the figure with its data files and SVG file linked.
    fn figure(&self, id: &str, svg: String, caption: &str, data: &[&str]) -> Result<Figure> {
        let svg_file = format!("plots/{id}.svg");
        output::write_bytes(&self.out.join(&svg_file), svg.as_bytes())?;
        let mut files: Vec<String> = data.iter().map(|s| s.to_string()).collect();
        files.push(svg_file);
        Ok(Figure { id: id.to_string(), svg, caption: caption.to_string(), files })
    }

    fn csv(&self, name: &str, header: &[&str], rows: Vec<Vec<String>>) -> Result<String> {
        let rel = format!("plots/{name}");
        output::write_csv(&self.out.join(&rel), header, rows)?;
        Ok(rel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_left_out_or_failed_are_said_so_and_show_no_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let records = vec![
            StageRecord { stage: Stage::Dimension, status: Status::NotBuilt, seconds: 0.0 },
            StageRecord { stage: Stage::Geodesic, status: Status::Failed("flow exploded".into()), seconds: 1.0 },
        ];
        let v = write(dir.path(), &Config::quick(0), &records, &Collected::default(), 1.0).unwrap();
        let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
        assert!(html.contains("left out") && html.contains(Stage::Dimension.crates()), "{html}");
        assert!(html.contains("failed") && html.contains("flow exploded"), "{html}");
        assert!(!html.contains("<svg"), "no plots for stages without data");
        assert_eq!(v["figures"].as_array().unwrap().len(), 1, "only the stage table: {v}");
    }

    #[test]
    fn ci_text_formats_intervals() {
        assert_eq!(ci_text(4.256, Some((4.1, 4.4))), "4.26 [4.10, 4.40]");
        assert_eq!(ci_text(2.0, None), "2.00");
    }
}
