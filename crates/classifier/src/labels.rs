//! Labelled image collections: the image shape of a loaded [`Dataset`], its label column as class names, and the
//! class list a model is trained on.
//!
//! For a render folder (`render.json` with `scene.classes`), the numeric `label` column holds indices into the
//! scene's class list; they are turned into the class names (`cube`, …), so models trained on renders carry
//! readable class names and the classes keep the scene's order. Any other label column is read as text (integral
//! numbers as `3`, not `3.0`) and its distinct values, sorted, are the classes (numerically when all are numbers).

use dataset::{Column, Dataset};

use crate::error::{ClassifierError, Result};
use crate::model::Classifier;
use crate::ImageShape;

/// Manifest column that holds the class of each image unless told otherwise.
pub const DEFAULT_LABEL_COLUMN: &str = "label";

/// The file of a render folder that lists the scene's classes.
pub const RENDER_FILE: &str = "render.json";

/// The image shape of a loaded collection; an error when its rows are not images.
pub fn image_shape(ds: &Dataset) -> Result<ImageShape> {
    match ds.shape {
        Some(s) => Ok(ImageShape::new(s.height, s.width, s.channels)),
        None => Err(ClassifierError::NotImages { path: ds.source.clone() }),
    }
}

/// Checks that the images of `ds` have the model's input shape ([`ClassifierError::ShapeMismatch`] otherwise).
pub fn check_fits(model: &Classifier, ds: &Dataset) -> Result<()> {
    model.check_shape(image_shape(ds)?)
}

/// The label column as class names, one per row (see the module docs). A render label outside the scene's class
/// list is an error.
pub fn label_names(ds: &Dataset, column: &str) -> Result<Vec<String>> {
    let col = ds.column(column).ok_or_else(|| {
        let names: Vec<&str> = ds.columns.iter().map(|(n, _)| n.as_str()).collect();
        ClassifierError::NoLabelColumn {
            path: ds.source.clone(),
            column: column.to_string(),
            columns: if names.is_empty() { "none: is there a manifest.csv?".to_string() } else { names.join(", ") },
        }
    })?;
    if let (Some(names), Column::Numeric(v)) = (render_class_names(ds, column), col) {
        return v
            .iter()
            .enumerate()
            .map(|(i, &l)| {
                let k = l as usize;
                if l.fract() != 0.0 || l < 0.0 || k >= names.len() {
                    return Err(ClassifierError::LabelOutOfRange {
                        path: ds.source.clone(),
                        row: i,
                        id: ds.ids.get(i).cloned().unwrap_or_else(|| "?".into()),
                        column: column.to_string(),
                        value: l,
                        n_classes: names.len(),
                        last: names.len() - 1,
                    });
                }
                Ok(names[k].clone())
            })
            .collect();
    }
    Ok((0..col.len())
        .map(|i| match col {
            // Integral numbers as "3", not "3.0".
            Column::Numeric(v) if v[i].fract() == 0.0 && v[i].abs() < 1e15 => format!("{}", v[i] as i64),
            _ => col.text(i),
        })
        .collect())
}

/// Class names listed by the `render.json` of a render folder, when `column` is the render's `label` column.
pub fn render_class_names(ds: &Dataset, column: &str) -> Option<Vec<String>> {
    if column != DEFAULT_LABEL_COLUMN {
        return None;
    }
    let text = std::fs::read_to_string(ds.source.join(RENDER_FILE)).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let names: Vec<String> =
        v["scene"]["classes"].as_array()?.iter().map(|c| c.as_str().map(str::to_string)).collect::<Option<_>>()?;
    (!names.is_empty()).then_some(names)
}

/// Sorted distinct names (numerically when all are numbers).
fn sorted_distinct(labels: &[String]) -> Vec<String> {
    let mut names: Vec<String> = labels.to_vec();
    names.sort();
    names.dedup();
    if names.iter().all(|n| n.parse::<f64>().is_ok()) {
        names.sort_by(|a, b| a.parse::<f64>().unwrap_or(0.0).total_cmp(&b.parse::<f64>().unwrap_or(0.0)));
    }
    names
}

/// The classes of a labelled collection and each row's class index into them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassLabels {
    /// Class names in model order: the render scene's order (classes present only), otherwise sorted.
    pub classes: Vec<String>,
    /// Per row, the index of its class in `classes`.
    pub labels: Vec<usize>,
}

impl ClassLabels {
    /// Rows per class, in class order.
    pub fn counts(&self) -> Vec<usize> {
        let mut n = vec![0usize; self.classes.len()];
        self.labels.iter().for_each(|&l| n[l] += 1);
        n
    }
}

/// Resolves the classes of `ds` for training: class names from its `column` (see the module docs), at least two
/// distinct classes.
pub fn resolve_classes(ds: &Dataset, column: &str) -> Result<ClassLabels> {
    let names = label_names(ds, column)?;
    let classes: Vec<String> = match render_class_names(ds, column) {
        Some(order) => order.into_iter().filter(|c| names.contains(c)).collect(),
        None => sorted_distinct(&names),
    };
    if classes.len() < 2 {
        return Err(ClassifierError::TooFewClasses {
            path: ds.source.clone(),
            n: classes.len(),
            column: column.to_string(),
        });
    }
    let labels = names.iter().map(|l| classes.iter().position(|c| c == l).unwrap_or(0)).collect();
    Ok(ClassLabels { classes, labels })
}

/// Class indices of the rows of `ds` under the model's class names (a name the model does not know is an error).
pub fn model_labels(model: &Classifier, ds: &Dataset, column: &str) -> Result<Vec<usize>> {
    label_names(ds, column)?
        .iter()
        .map(|l| model.class_index(l))
        .collect::<Result<Vec<_>>>()
        .map_err(|e| ClassifierError::Labels { path: ds.source.clone(), source: Box::new(e) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dataset(dir: &std::path::Path, column: Column) -> Dataset {
        let mut ds = Dataset::from_array(ndarray::Array2::zeros((column.len(), 4)), None).unwrap();
        ds.columns = vec![(DEFAULT_LABEL_COLUMN.to_string(), column)];
        ds.source = dir.to_path_buf();
        ds
    }

    #[test]
    fn render_labels_become_scene_class_names_in_scene_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(RENDER_FILE), r#"{"scene": {"classes": ["cube", "ball", "cone"]}}"#).unwrap();
        let ds = dataset(dir.path(), Column::Numeric(vec![2.0, 0.0, 2.0]));
        assert_eq!(label_names(&ds, "label").unwrap(), ["cone", "cube", "cone"]);
        // Only the classes present, in the scene's order (not sorted).
        let c = resolve_classes(&ds, "label").unwrap();
        assert_eq!(c.classes, ["cube", "cone"]);
        assert_eq!(c.labels, [1, 0, 1]);
        assert_eq!(c.counts(), [1, 2]);
        let bad = dataset(dir.path(), Column::Numeric(vec![0.0, 3.0]));
        assert!(matches!(label_names(&bad, "label"), Err(ClassifierError::LabelOutOfRange { row: 1, .. })));
    }

    #[test]
    fn plain_labels_sort_numerically_and_need_two_classes() {
        let dir = tempfile::tempdir().unwrap();
        let ds = dataset(dir.path(), Column::Numeric(vec![10.0, 9.0, 10.0]));
        let c = resolve_classes(&ds, "label").unwrap();
        assert_eq!(c.classes, ["9", "10"]);
        assert_eq!(c.labels, [1, 0, 1]);
        let one = dataset(dir.path(), Column::Text(vec!["a".into(), "a".into()]));
        assert!(matches!(resolve_classes(&one, "label"), Err(ClassifierError::TooFewClasses { n: 1, .. })));
        assert!(matches!(label_names(&ds, "colour"), Err(ClassifierError::NoLabelColumn { .. })));
    }
}
