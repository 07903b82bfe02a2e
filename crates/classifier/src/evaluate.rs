//! Accuracy of a model on labelled images: overall, per class and the confusion matrix, and the folder
//! `imanifold classifier eval --out` writes (`confusion.csv`, `predictions.csv`, `results.json`).

use std::path::Path;

use dataset::Dataset;
use ndarray::ArrayView2;
use serde::Serialize;

use crate::error::{invalid, ClassifierError, Result};
use crate::labels::{check_fits, model_labels};
use crate::model::Classifier;

/// Counts of (true class, predicted class) over a set of images.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Confusion {
    /// Class names, the order of both matrix axes.
    pub classes: Vec<String>,
    /// `matrix[true][predicted]`: number of images.
    pub matrix: Vec<Vec<usize>>,
}

impl Confusion {
    /// Tallies class indices `truth` against `predicted` (same length, indices into `classes`).
    pub fn new(classes: &[String], truth: &[usize], predicted: &[usize]) -> Result<Self> {
        let k = classes.len();
        if truth.len() != predicted.len() {
            return Err(invalid("labels", format!("{} labels but {} predictions", truth.len(), predicted.len())));
        }
        if let Some(&c) = truth.iter().chain(predicted).find(|&&c| c >= k) {
            return Err(ClassifierError::ClassIndex { index: c, n_classes: k });
        }
        let mut matrix = vec![vec![0usize; k]; k];
        for (&t, &p) in truth.iter().zip(predicted) {
            matrix[t][p] += 1;
        }
        Ok(Confusion { classes: classes.to_vec(), matrix })
    }

    /// Images counted.
    pub fn n(&self) -> usize {
        self.matrix.iter().flatten().sum()
    }

    /// Images predicted as their true class.
    pub fn correct(&self) -> usize {
        (0..self.classes.len()).map(|c| self.matrix[c][c]).sum()
    }

    /// Fraction of images predicted as their true class (NaN for none).
    pub fn accuracy(&self) -> f64 {
        self.correct() as f64 / self.n() as f64
    }

    /// Images whose true class is `class`.
    pub fn class_count(&self, class: usize) -> usize {
        self.matrix[class].iter().sum()
    }

    /// Per class, the fraction of its images predicted correctly (`None` for a class without images).
    pub fn per_class_accuracy(&self) -> Vec<Option<f64>> {
        (0..self.classes.len())
            .map(|c| {
                let n = self.class_count(c);
                (n > 0).then(|| self.matrix[c][c] as f64 / n as f64)
            })
            .collect()
    }
}

/// The model's answer for one image.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Prediction {
    /// True class index.
    pub label: usize,
    pub predicted: usize,
    /// Probability of the predicted class.
    pub confidence: f32,
}

/// Outcome of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// Per image: an identifier (file name for a loaded collection, `row N` otherwise).
    pub ids: Vec<String>,
    pub predictions: Vec<Prediction>,
    pub confusion: Confusion,
}

impl Evaluation {
    /// Overall accuracy.
    pub fn accuracy(&self) -> f64 {
        self.confusion.accuracy()
    }

    /// Sets the summary fields of `results.json` (`classifier-eval`): `n_images`, `accuracy` and `per_class`
    /// (`class`, `n`, `accuracy`, null for a class without images). The caller adds `model`, `data` and the seed.
    pub fn set_results(&self, results: &mut output::Results) {
        let c = &self.confusion;
        let per_class: Vec<serde_json::Value> = c
            .classes
            .iter()
            .zip(c.per_class_accuracy())
            .enumerate()
            .map(|(k, (name, acc))| {
                serde_json::json!({
                    "class": name,
                    "n": c.class_count(k),
                    "accuracy": acc.map(output::json_f64).unwrap_or(serde_json::Value::Null),
                })
            })
            .collect();
        results.set("n_images", c.n()).set("accuracy", self.accuracy()).set("per_class", per_class);
    }
}

/// Predicts every row of `x` (one image per row, values in [0, 1]) and compares with the class indices `labels`.
pub fn evaluate(model: &Classifier, x: ArrayView2<f32>, labels: &[usize]) -> Result<Evaluation> {
    if x.nrows() != labels.len() {
        return Err(invalid("labels", format!("{} rows but {} labels", x.nrows(), labels.len())));
    }
    if labels.is_empty() {
        return Err(invalid("evaluation data", "no rows"));
    }
    for &l in labels {
        model.check_class(l)?;
    }
    let pred = model.predict(x)?;
    let predicted: Vec<usize> = pred.iter().map(|&(p, _)| p).collect();
    let confusion = Confusion::new(model.classes(), labels, &predicted)?;
    let predictions =
        labels.iter().zip(pred).map(|(&label, (predicted, confidence))| Prediction { label, predicted, confidence });
    Ok(Evaluation {
        ids: (0..labels.len()).map(|i| format!("row {i}")).collect(),
        predictions: predictions.collect(),
        confusion,
    })
}

/// [`evaluate`] on a loaded collection: its images must have the model's input shape, its `label_column` names
/// classes of the model (see [`crate::labels`]).
pub fn evaluate_dataset(model: &Classifier, ds: &Dataset, label_column: &str) -> Result<Evaluation> {
    check_fits(model, ds)?;
    let labels = model_labels(model, ds, label_column)?;
    if labels.is_empty() {
        return Err(ClassifierError::NoImages { path: ds.source.clone() });
    }
    let mut eval = evaluate(model, ds.data.view(), &labels)?;
    eval.ids = ds.ids.clone();
    Ok(eval)
}

/// Writes the folder of `classifier eval`: `confusion.csv` (`true`, then `pred_<class>` per class), `predictions.csv`
/// (`file`, `label`, `predicted`, `confidence`) and `results.json` (`results` with [`Evaluation::set_results`]).
/// Returns the JSON written.
pub fn write_eval_dir(dir: &Path, eval: &Evaluation, mut results: output::Results) -> Result<serde_json::Value> {
    output::create_dir(dir)?;
    let classes = &eval.confusion.classes;
    let mut header = vec!["true".to_string()];
    header.extend(classes.iter().map(|c| format!("pred_{c}")));
    let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
    let rows = eval.confusion.matrix.iter().zip(classes).map(|(counts, name)| {
        let mut r = vec![name.clone()];
        r.extend(counts.iter().map(|n| n.to_string()));
        r
    });
    output::write_csv(&dir.join("confusion.csv"), &header_refs, rows)?;
    let rows = eval.ids.iter().zip(&eval.predictions).map(|(id, p)| {
        vec![id.clone(), classes[p.label].clone(), classes[p.predicted].clone(), output::fmt_f64(p.confidence as f64)]
    });
    output::write_csv(&dir.join("predictions.csv"), &["file", "label", "predicted", "confidence"], rows)?;
    eval.set_results(&mut results);
    Ok(results.write(dir)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusion_counts_and_accuracies() {
        let classes: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let c = Confusion::new(&classes, &[0, 0, 1, 1, 1], &[0, 1, 1, 1, 0]).unwrap();
        assert_eq!(c.matrix, vec![vec![1, 1, 0], vec![1, 2, 0], vec![0, 0, 0]]);
        assert_eq!((c.n(), c.correct()), (5, 3));
        assert_eq!(c.accuracy(), 0.6);
        assert_eq!(c.per_class_accuracy(), vec![Some(0.5), Some(2.0 / 3.0), None]);
        assert!(Confusion::new(&classes, &[3], &[0]).is_err());
        assert!(Confusion::new(&classes, &[0, 1], &[0]).is_err());
    }
}
