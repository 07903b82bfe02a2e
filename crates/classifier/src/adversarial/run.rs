//! The attack pipeline of `imanifold adversarial` on a loaded collection, and its output folder.

use std::path::Path;

use dataset::Dataset;
use ndarray::Array2;

use super::on_manifold::{tangent_memory, tangent_spaces, TangentOptions};
use super::{attack, attack_on_manifold, set_attack_results, write_attack_files, Attack, AttackOptions, AttackReport};
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
    attack_collection(model, ds, label_column, opts, None)
}

/// [`attack_dataset`] for [`Attack::OnManifold`]: the tangent spaces come from `reference` (a collection of the
/// model's input shape, e.g. the training images) as [`super::on_manifold`] describes. Their memory (images × dim ×
/// values, float32) is checked against what is available before they are computed.
pub fn attack_dataset_on_manifold(
    model: &Classifier,
    ds: &Dataset,
    label_column: &str,
    opts: &AttackOptions,
    reference: &Dataset,
    tangent: &TangentOptions,
) -> Result<Adversarial> {
    tangent.validate()?;
    check_fits(model, reference)?;
    attack_collection(model, ds, label_column, opts, Some((reference, tangent)))
}

fn attack_collection(
    model: &Classifier,
    ds: &Dataset,
    label_column: &str,
    opts: &AttackOptions,
    reference: Option<(&Dataset, &TangentOptions)>,
) -> Result<Adversarial> {
    opts.validate()?;
    if (opts.attack == Attack::OnManifold) != reference.is_some() {
        return Err(crate::error::invalid(
            "attack method",
            if reference.is_some() {
                format!("{} takes no reference collection (only on-manifold does)", opts.attack)
            } else {
                "on-manifold needs a reference collection (its tangent spaces)".to_string()
            },
        ));
    }
    check_fits(model, ds)?;
    let shape = image_shape(ds)?;
    let y = model_labels(model, ds, label_column)?;
    if y.is_empty() {
        return Err(ClassifierError::NoImages { path: ds.source.clone() });
    }
    let mut x = ds.data.to_owned();
    let mut grid_change = 0f32;
    x.iter_mut().for_each(|v| {
        let q = pixels::on_8bit_grid(*v);
        grid_change = grid_change.max((q - *v).abs());
        *v = q;
    });
    let report = match reference {
        None => attack(model, x.view(), &y, opts)?,
        Some((r, t)) => {
            let dim_bound = t.dim.unwrap_or(t.k - 1);
            let needed = tangent_memory(x.nrows(), dim_bound, x.ncols());
            let available = dataset::limits::available_memory();
            if needed > available as u128 {
                return Err(crate::error::invalid(
                    "tangent spaces",
                    format!(
                        "need up to {} for {} images × {dim_bound} directions × {} values, {} available (attack \
                         fewer images or give a smaller tangent dim)",
                        dataset::limits::Bytes(needed),
                        x.nrows(),
                        x.ncols(),
                        dataset::limits::Bytes(available as u128)
                    ),
                ));
            }
            let tangents = tangent_spaces(r.data.view(), x.view(), t, opts.seed)?;
            attack_on_manifold(model, x.view(), &y, opts, &tangents)?
        }
    };
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
