//! Training on a loaded, labelled collection and the model folder `imanifold classifier train` writes:
//! `model.safetensors` + `config.json` (the model), `training.csv` (per epoch) and `results.json`.

use std::path::Path;

use dataset::Dataset;

use crate::error::Result;
use crate::labels::{image_shape, resolve_classes};
use crate::model::Classifier;
use crate::train::{set_train_results, train, write_training_csv, EpochStats, TrainOptions, TrainReport};

/// A model trained on a collection, with what the model folder reports about the data.
#[derive(Debug, Clone)]
pub struct Training {
    pub model: Classifier,
    pub report: TrainReport,
    /// Images per class, in the model's class order.
    pub class_counts: Vec<usize>,
    /// Images in the collection (training + validation).
    pub n_images: usize,
    pub epochs: usize,
}

impl Training {
    /// Sets the summary fields of the model folder's `results.json` (`classifier-train`): those of
    /// [`set_train_results`] plus `n_images`, `class_counts` (`class`, `n`), `epochs` and `threads`. The caller adds
    /// `data` and the seed.
    pub fn set_results(&self, results: &mut output::Results) {
        set_train_results(results, &self.model, &self.report);
        let counts: Vec<serde_json::Value> = self
            .model
            .classes()
            .iter()
            .zip(&self.class_counts)
            .map(|(c, n)| serde_json::json!({"class": c, "n": n}))
            .collect();
        results
            .set("n_images", self.n_images)
            .set("class_counts", counts)
            .set("epochs", self.epochs)
            .set("threads", rayon::current_num_threads());
    }
}

/// Trains on the images of `ds` with the classes named by its `label_column` (see [`crate::labels`]: render folders
/// keep the scene's class names and order). `on_epoch` is called after every epoch (progress).
pub fn train_dataset(
    ds: &Dataset,
    label_column: &str,
    opts: &TrainOptions,
    on_epoch: impl FnMut(&EpochStats),
) -> Result<Training> {
    opts.validate()?;
    let shape = image_shape(ds)?;
    let labels = resolve_classes(ds, label_column)?;
    let (model, report) = train(ds.data.view(), shape, &labels.labels, &labels.classes, opts, on_epoch)?;
    Ok(Training { model, report, class_counts: labels.counts(), n_images: ds.n(), epochs: opts.epochs })
}

/// Writes a model folder: the model ([`Classifier::save`]), `training.csv` ([`write_training_csv`]) and
/// `results.json` (`results` with [`Training::set_results`]). Returns the JSON written.
pub fn write_model_dir(dir: &Path, training: &Training, mut results: output::Results) -> Result<serde_json::Value> {
    training.model.save(dir)?;
    write_training_csv(&dir.join("training.csv"), &training.report)?;
    training.set_results(&mut results);
    Ok(results.write(dir)?)
}
