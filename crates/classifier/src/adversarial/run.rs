//! The attack pipeline of `imanifold adversarial` on a loaded collection, and its output folder.

use std::path::Path;

use dataset::Dataset;
use ndarray::Array2;

use super::{attack, set_attack_results, write_attack_files, AttackOptions, AttackReport};
use crate::error::{ClassifierError, Result};
use crate::labels::{check_fits, image_shape, model_labels};
use crate::model::Classifier;
use crate::ImageShape;

/// An attack on a collection: the report, the options, and the attacked images as the report's rows refer to them.
#[derive(Debug, Clone)]
pub struct Adversarial {
    pub report: AttackReport,
    pub options: AttackOptions,
    /// The collection's images on the 8-bit grid (the rows [`AttackResult::row`](super::AttackResult) indexes).
    pub x: Array2<f32>,
    /// Per row of `x`, its identifier in the collection (file name).
    pub ids: Vec<String>,
    pub shape: ImageShape,
    /// The model's class names.
    pub classes: Vec<String>,
    /// Largest change of a pixel value when the inputs were put on the 8-bit grid (0 for PNG/JPEG inputs).
    pub input_grid_max_change: f32,
}

/// Attacks the correctly classified images of `ds` (labels from `label_column`, see [`crate::labels`]). The images
/// are first put on the 8-bit grid (an identity for PNG/JPEG inputs), so perturbed images written as PNG hold
/// exactly the values the flips refer to.
pub fn attack_dataset(
    model: &Classifier,
    ds: &Dataset,
    label_column: &str,
    opts: &AttackOptions,
) -> Result<Adversarial> {
    opts.validate()?;
    check_fits(model, ds)?;
    let shape = image_shape(ds)?;
    let y = model_labels(model, ds, label_column)?;
    if y.is_empty() {
        return Err(ClassifierError::NoImages { path: ds.source.clone() });
    }
    let mut x = ds.data.clone();
    let mut grid_change = 0f32;
    x.iter_mut().for_each(|v| {
        let q = pixels::on_8bit_grid(*v);
        grid_change = grid_change.max((q - *v).abs());
        *v = q;
    });
    let report = attack(model, x.view(), &y, opts)?;
    Ok(Adversarial {
        report,
        options: opts.clone(),
        x,
        ids: ds.ids.clone(),
        shape,
        classes: model.classes().to_vec(),
        input_grid_max_change: grid_change,
    })
}

/// Writes the folder of `imanifold adversarial`: the files of [`write_attack_files`] (timed as `write_images`;
/// `on_image` is called once per image pair written) and `results.json` (`results` with [`set_attack_results`]
/// and `input_grid_max_change`). The caller adds `model`, `data` and the seed. Returns the JSON written.
pub fn write_adversarial_dir(
    dir: &Path,
    adv: &Adversarial,
    mut results: output::Results,
    on_image: &(dyn Fn() + Sync),
) -> Result<serde_json::Value> {
    output::create_dir(dir)?;
    results.timed("write_images", || {
        write_attack_files(
            dir,
            adv.x.view(),
            &adv.report,
            &adv.classes,
            adv.shape,
            &|row| adv.ids[row].clone(),
            on_image,
        )
    })?;
    set_attack_results(&mut results, &adv.report, &adv.options);
    results.set("input_grid_max_change", adv.input_grid_max_change);
    Ok(results.write(dir)?)
}
