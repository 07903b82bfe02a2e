//! Query mode on loaded collections: the entry point shared by `imanifold score --query` and the demo. Checks the
//! collections and options, scores every query image ([`crate::score`]), names the nearest reference images and
//! splits the queries by a manifest column; [`crate::write_score_dir`] writes the result as a score folder.

use std::time::Instant;

use dataset::{ColorMode, Dataset, LoadOptions};

use crate::{group_report, GroupReport, ImageShape, Result, ScoreError, ScoreOptions, ScoreReport};

/// The queries split by a manifest column.
#[derive(Debug, Clone)]
pub struct QueryGroups {
    /// Name of the manifest column.
    pub column: String,
    /// Group of every query.
    pub labels: Vec<String>,
    /// Per-group distributions and AUROCs.
    pub report: GroupReport,
}

/// Everything [`score_query`] computes: the scores and what a score folder names.
#[derive(Debug, Clone)]
pub struct QueryReport {
    pub scores: ScoreReport,
    /// The options the scores were computed with.
    pub options: ScoreOptions,
    /// Identifier of every query (file path relative to its collection, or `row N`).
    pub query_ids: Vec<String>,
    /// Identifier of every query's nearest reference image.
    pub nearest_reference: Vec<String>,
    pub groups: Option<QueryGroups>,
    /// Values per image, and the image shape when the rows are images.
    pub d: usize,
    pub shape: Option<ImageShape>,
}

impl QueryReport {
    /// Conditions a user should hear about (the scores are still valid): a clamped tangent dimension, dropped
    /// duplicate reference rows.
    pub fn warnings(&self) -> Vec<String> {
        let s = &self.scores;
        let mut out = Vec::new();
        if s.dim_clamped {
            out.push(format!(
                "warning: the reference's MLE dimension {:.1} exceeds k − 1 = {}: the tangent space was clamped to {} \
                 dimensions (raise --k)",
                s.reference_dimension,
                s.k - 1,
                s.k - 1
            ));
        }
        if !s.duplicates_dropped.is_empty() {
            out.push(format!(
                "note: {} reference row(s) duplicate an earlier row and were left out",
                s.duplicates_dropped.len()
            ));
        }
        out
    }
}

fn describe(ds: &Dataset) -> String {
    match ds.shape {
        Some(s) => format!("{}x{} images with {} channel(s)", s.width, s.height, s.channels),
        None => format!("rows of {} values", ds.d()),
    }
}

/// Refuses a collection whose images differ in size (values per row, or image shape) from the reference's.
pub fn check_same_size(reference: &Dataset, other: &Dataset) -> Result<()> {
    if other.d() != reference.d()
        || (reference.shape.is_some() && other.shape.is_some() && reference.shape != other.shape)
    {
        return Err(ScoreError::ImageSizeMismatch {
            other: other.source.display().to_string(),
            other_holds: describe(other),
            reference: reference.source.display().to_string(),
            reference_holds: describe(reference),
        });
    }
    Ok(())
}

/// Load options for images compared with the reference: the reference's colour mode unless `opts` names one.
pub fn matching_load_options(reference: &Dataset, opts: LoadOptions) -> LoadOptions {
    let mut o = opts;
    if o.color == ColorMode::Auto {
        if let Some(s) = reference.shape {
            o.color = if s.channels == 1 { ColorMode::Gray } else { ColorMode::Rgb };
        }
    }
    o
}

/// The labels of the manifest column `column` of `query` (None without a column); a missing column is an error
/// naming the columns there are.
pub fn group_labels(query: &Dataset, column: Option<&str>) -> Result<Option<(String, Vec<String>)>> {
    Ok(match column {
        None => None,
        Some(col) => {
            let c = query.column(col).ok_or_else(|| {
                let have: Vec<&str> = query.columns.iter().map(|(n, _)| n.as_str()).collect();
                ScoreError::NoGroupColumn {
                    column: col.to_string(),
                    query: query.source.display().to_string(),
                    have: if have.is_empty() { "none".to_string() } else { have.join(", ") },
                }
            })?;
            Some((col.to_string(), (0..query.n()).map(|i| c.text(i)).collect::<Vec<String>>()))
        }
    })
}

/// Scores every image of `query` against `reference` (see the crate docs); `groups` names a manifest column of the
/// query that splits it into groups (AUROC against `natural`, else the first group). Sizes, the groups column and
/// the options are checked before any neighbour search.
pub fn score_query(
    reference: &Dataset,
    query: &Dataset,
    groups: Option<&str>,
    opts: &ScoreOptions,
) -> Result<QueryReport> {
    let t = Instant::now();
    check_same_size(reference, query)?;
    let labels = group_labels(query, groups)?;
    let mut scores = crate::score(reference.data.view(), query.data.view(), reference.shape, opts)?;
    scores.timings.push(("score", t.elapsed().as_secs_f64()));
    let groups = labels.map(|(column, labels)| {
        let report = group_report(&scores.columns, &labels);
        QueryGroups { column, labels, report }
    });
    Ok(QueryReport {
        nearest_reference: scores.nearest.iter().map(|&j| reference.ids[j].clone()).collect(),
        scores,
        options: opts.clone(),
        query_ids: query.ids.clone(),
        groups,
        d: reference.d(),
        shape: reference.shape,
    })
}
