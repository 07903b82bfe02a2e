//! The fooling-image folder: PNGs, `manifest.csv`, `fooling.npy`, `gallery.png` and the `results.json` summary.

use super::{FoolOptions, FoolReport, Fooling};
use crate::error::Result;
use crate::model::Classifier;

/// A file-name-safe version of a class name: ASCII letters, digits, `-` and `_` kept, anything else `_`; `class`
/// for an empty name.
pub fn slug(name: &str) -> String {
    let s: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    if s.is_empty() {
        "class".into()
    } else {
        s
    }
}

/// Writes the files of a fooling-image folder, the format `imanifold fool` and the demo share:
/// `images/NN_<class>.png` (8-bit, NN = class index with two digits, `<class>` = [`slug`] of its name),
/// `manifest.csv` (columns `file`, `class`, `confidence`, `method`, `generation`, `reached`: the loaders' manifest
/// format), `fooling.npy` (float32, one row per image, the exact values the confidences refer to) and `gallery.png`
/// (the images in report order, 10 per row). `results.json` is the caller's ([`set_fool_results`]).
///
/// Returns, per image of the report, the model's probability of its class for the 8-bit PNG as written (the
/// search may work in floats: see [`FoolOptions::quantize`]).
pub fn write_fool_files(out: &std::path::Path, model: &Classifier, report: &FoolReport) -> Result<Vec<f32>> {
    write_fool_images(out, model, report)?;
    png_confidences(model, report)
}

/// The files of [`write_fool_files`] without the confidences.
fn write_fool_images(out: &std::path::Path, model: &Classifier, report: &FoolReport) -> Result<()> {
    let shape = model.input_shape();
    let mut rows = Vec::with_capacity(report.images.len());
    for img in &report.images {
        let name = &model.classes()[img.class];
        let file = format!("images/{:02}_{}.png", img.class, slug(name));
        pixels::write_png(&out.join(&file), &img.image, shape)?;
        rows.push(vec![
            file,
            name.clone(),
            output::fmt_f64(img.confidence as f64),
            report.method.name().to_string(),
            img.generation.to_string(),
            img.reached.to_string(),
        ]);
    }
    output::write_npy(&out.join("fooling.npy"), &image_rows(model, report))?;
    output::write_csv(
        &out.join("manifest.csv"),
        &["file", "class", "confidence", "method", "generation", "reached"],
        rows,
    )?;
    let images: Vec<Vec<f32>> = report.images.iter().map(|i| i.image.clone()).collect();
    crate::images::write_gallery(&out.join("gallery.png"), &images, shape, images.len().min(10))?;
    Ok(())
}

/// The report's images, one per row.
fn image_rows(model: &Classifier, report: &FoolReport) -> ndarray::Array2<f32> {
    let mut data = ndarray::Array2::<f32>::zeros((report.images.len(), model.input_len()));
    for (i, img) in report.images.iter().enumerate() {
        data.row_mut(i).assign(&ndarray::ArrayView1::from(&img.image));
    }
    data
}

/// Per image of the report, the model's probability of its class for the image rounded to 8 bits, as a PNG holds
/// it (the search may work in floats: see [`FoolOptions::quantize`]).
pub fn png_confidences(model: &Classifier, report: &FoolReport) -> Result<Vec<f32>> {
    let mut data = image_rows(model, report);
    data.iter_mut().for_each(|v| *v = pixels::on_8bit_grid(*v));
    let probs = model.predict_proba(data.view())?;
    Ok(report.images.iter().enumerate().map(|(i, img)| probs[[i, img.class]]).collect())
}

/// Writes the folder of `imanifold fool`: the files of [`write_fool_files`] and `results.json` (`results` with
/// [`set_fool_results`]). The caller adds `model` and the seed to `results`. Returns the JSON written.
pub fn write_fool_dir(
    dir: &std::path::Path,
    model: &Classifier,
    fooling: &Fooling,
    mut results: output::Results,
) -> Result<serde_json::Value> {
    write_fool_images(dir, model, &fooling.report)?;
    set_fool_results(&mut results, model, &fooling.report, &fooling.options, &fooling.png_confidences);
    Ok(results.write(dir)?)
}

/// Sets the summary fields of a fooling folder's `results.json` (`fool`) that the CLI and the demo share:
/// `method`, `target_confidence`, `budget_generations`, `population`, `generations_run`, `evaluations`,
/// `n_classes`, `n_reached`, `all_reached`, `min_confidence` and `per_class` (per image: `class` name,
/// `confidence`, `confidence_png`, `generation`, `reached`). `png_confidences` is what [`write_fool_files`]
/// returned. The caller adds `model` and the seed.
pub fn set_fool_results(
    results: &mut output::Results,
    model: &Classifier,
    report: &FoolReport,
    opts: &FoolOptions,
    png_confidences: &[f32],
) {
    let per_class: Vec<serde_json::Value> = report
        .images
        .iter()
        .zip(png_confidences)
        .map(|(img, png)| {
            serde_json::json!({
                "class": model.classes()[img.class],
                "confidence": img.confidence,
                "confidence_png": png,
                "generation": img.generation,
                "reached": img.reached,
            })
        })
        .collect();
    let n_reached = report.images.iter().filter(|i| i.reached).count();
    results
        .set("method", report.method.name())
        .set("target_confidence", opts.confidence)
        .set("budget_generations", opts.generations)
        .set("population", opts.population)
        .set("generations_run", report.generations)
        .set("evaluations", report.evaluations)
        .set("n_classes", report.images.len())
        .set("n_reached", n_reached)
        .set("all_reached", n_reached == report.images.len())
        .set("min_confidence", min_confidence(report))
        .set("per_class", per_class);
}

/// The lowest confidence over the report's images (infinity for none).
pub fn min_confidence(report: &FoolReport) -> f32 {
    report.images.iter().map(|i| i.confidence).fold(f32::INFINITY, f32::min)
}
