//! The measurement on a loaded collection and the one writer of its output folder.
//!
//! Folder: `results.json` (every figure per ε, under `eps`), `per_image.csv` (one row per image and ε),
//! `pixel_flips_<eps>.npy` (int8, images × height × width × channels: −1 not effective, 0 no flip, 1 the pixel's
//! segment flips the label; images in `per_image.csv` row order), `bounds_<eps>.npy` (f64, images × 3 × classes:
//! the IBP, CROWN and α-CROWN lower bounds of every margin `logit_label − logit_j`, `+∞` at `j = label`),
//! `logits.npy` (f64, rows × classes: the f64 network's logits of every input row) and `overlay_<eps>.png` (image |
//! flip map for the first images: red = flips, grey = effective, black = not effective).

use std::path::Path;

use classifier::labels::{check_fits, image_shape, model_labels};
use classifier::Classifier;
use dataset::Dataset;
use ndarray::{Array2, Array3, Array4};
use pixels::ImageShape;

use crate::error::{invalid, Result, StabilityError};
use crate::net::Net;
use crate::run::{analyse, StabilityOptions, StabilityReport};

/// A measurement on a collection: the report and what the writer needs to name and draw its rows.
#[derive(Debug, Clone)]
pub struct Stability {
    pub report: StabilityReport,
    pub ids: Vec<String>,
    pub shape: ImageShape,
    pub classes: Vec<String>,
    /// The images measured, in [0, 1] (rows of the collection).
    pub rows: Vec<Vec<f64>>,
    /// The f64 network's logits of every row.
    pub logits: Vec<Vec<f64>>,
}

/// Measures the correctly classified images of `ds` (labels from `label_column`) with `model`'s network in f64.
pub fn measure(
    model: &Classifier,
    ds: &Dataset,
    label_column: &str,
    opts: &StabilityOptions,
    on_image: &(dyn Fn() + Sync),
) -> Result<Stability> {
    opts.validate()?;
    check_fits(model, ds)?;
    let shape = image_shape(ds)?;
    let labels = model_labels(model, ds, label_column)?;
    let need = opts.memory_estimate(ds.data.nrows(), ds.data.ncols());
    if need > crate::run::MAX_MEMORY_BYTES {
        return Err(invalid(
            "images",
            format!(
                "{} images × {} values × {} budgets need {need} bytes (limit {}); use --limit",
                ds.data.nrows(),
                ds.data.ncols(),
                opts.eps.len(),
                crate::run::MAX_MEMORY_BYTES
            ),
        ));
    }
    let net = Net::from_classifier(model)?;
    let rows: Vec<Vec<f64>> = ds.data.view().outer_iter().map(|r| r.iter().map(|&v| f64::from(v)).collect()).collect();
    let report = analyse(&net, &rows, &labels, opts, on_image)?;
    let logits = rows.iter().map(|x| net.logits(x)).collect();
    if report.n_correct == 0 {
        return Err(StabilityError::NoImages { path: ds.source.clone() });
    }
    Ok(Stability { report, ids: ds.ids.clone(), shape, classes: model.classes().to_vec(), rows, logits })
}

/// A file-name form of a budget: `1_255` for 1/255, else the decimal with `p` for the point.
pub fn eps_name(eps: f64) -> String {
    let n = eps * 255.0;
    if (n - n.round()).abs() < 1e-9 && n.round() >= 1.0 {
        format!("{}_255", n.round() as u64)
    } else {
        format!("{eps}").replace('.', "p")
    }
}

/// An image as RGB rows and its flip map: red = some channel of the pixel flips, grey (the image's luma, dimmed) =
/// effective without flip, black = not effective.
fn overlay(x: &[f64], flips: &[i8], sh: ImageShape) -> (Vec<f32>, Vec<f32>) {
    let mut img = Vec::with_capacity(sh.height * sh.width * 3);
    let mut map = Vec::with_capacity(sh.height * sh.width * 3);
    for p in 0..sh.height * sh.width {
        let px = &x[p * sh.channels..(p + 1) * sh.channels];
        let fl = &flips[p * sh.channels..(p + 1) * sh.channels];
        let grey = if sh.channels == 3 { pixels::luma(px[0] as f32, px[1] as f32, px[2] as f32) } else { px[0] as f32 };
        for c in 0..3 {
            img.push(px[c.min(sh.channels - 1)] as f32);
        }
        let rgb = if fl.contains(&1) {
            [1.0, 0.0, 0.0]
        } else if fl.contains(&0) {
            [0.25 + 0.5 * grey; 3]
        } else {
            [0.0; 3]
        };
        map.extend_from_slice(&rgb);
    }
    (img, map)
}

fn opt(v: Option<f64>) -> String {
    v.map(output::fmt_f64).unwrap_or_default()
}

/// Writes the folder (see the module docs); `results` gets every figure and is written last. Returns the JSON.
pub fn write_stability_dir(dir: &Path, s: &Stability, mut results: output::Results) -> Result<serde_json::Value> {
    output::create_dir(dir)?;
    let r = &s.report;
    let sh = s.shape;
    let mut files = Vec::new();
    let k = s.classes.len();
    for (e, summary) in r.summaries.iter().enumerate() {
        let name = eps_name(summary.eps);
        let images = &r.per_image[e];
        let mut maps = Array4::<i8>::zeros((images.len(), sh.height, sh.width, sh.channels));
        for (k, im) in images.iter().enumerate() {
            maps.index_axis_mut(ndarray::Axis(0), k)
                .as_slice_mut()
                .ok_or_else(|| invalid("maps", "non-contiguous array"))?
                .copy_from_slice(&im.flips);
        }
        let npy = format!("pixel_flips_{name}.npy");
        output::write_npy(&dir.join(&npy), &maps)?;
        let mut bounds = Array3::<f64>::zeros((images.len(), 3, k));
        for (i, im) in images.iter().enumerate() {
            for (m, margins) in im.margin_bounds.iter().enumerate() {
                for (j, &v) in margins.iter().enumerate().take(k) {
                    bounds[[i, m, j]] = v;
                }
            }
        }
        let bounds_npy = format!("bounds_{name}.npy");
        output::write_npy(&dir.join(&bounds_npy), &bounds)?;
        let mut gallery = Vec::new();
        for im in images.iter().take(r.options.overlays) {
            let (img, map) = overlay(&s.rows[im.row], &im.flips, sh);
            gallery.push(img);
            gallery.push(map);
        }
        let png = (!gallery.is_empty()).then(|| format!("overlay_{name}.png"));
        if let Some(png) = &png {
            pixels::write_gallery(&dir.join(png), &gallery, ImageShape::new(sh.height, sh.width, 3), 8, 4)?;
        }
        files.push(serde_json::json!({"eps": summary.eps, "pixel_flips": npy, "bounds": bounds_npy, "overlay": png}));
    }
    let k = s.classes.len();
    let mut logits = Array2::<f64>::zeros((s.logits.len(), k));
    for (i, l) in s.logits.iter().enumerate() {
        l.iter().enumerate().take(k).for_each(|(j, &v)| logits[[i, j]] = v);
    }
    output::write_npy(&dir.join("logits.npy"), &logits)?;
    let header = [
        "id",
        "row",
        "class",
        "eps",
        "n_eff",
        "n_flip",
        "q",
        "independence_prediction",
        "certified_ibp",
        "certified_crown",
        "certified_alpha",
        "ibp_margin",
        "crown_margin",
        "alpha_margin",
        "pgd_margin",
        "pgd_flipped",
        "random_uniform_flips",
        "random_corner_flips",
        "pieces",
    ];
    let rows = r.summaries.iter().zip(&r.per_image).flat_map(|(summary, images)| {
        images.iter().map(move |im| {
            vec![
                s.ids[im.row].clone(),
                im.row.to_string(),
                s.classes[im.label].clone(),
                output::fmt_f64(summary.eps),
                im.n_eff.to_string(),
                im.n_flip.to_string(),
                opt(im.q()),
                output::fmt_f64(im.independence_prediction()),
                im.certified_ibp.to_string(),
                im.certified_crown.to_string(),
                im.certified_alpha.to_string(),
                output::fmt_f64(im.ibp_margin),
                output::fmt_f64(im.crown_margin),
                opt(im.alpha_margin),
                opt(im.pgd_margin),
                im.pgd_flipped.to_string(),
                im.random_uniform_flips.to_string(),
                im.random_corner_flips.to_string(),
                im.pieces.to_string(),
            ]
        })
    });
    output::write_csv(&dir.join("per_image.csv"), &header, rows)?;
    results
        .set("options", &r.options)
        .set("classes", &s.classes)
        .set("n_images", r.n_inputs)
        .set("n_correct", r.n_correct)
        .set("clean_error", r.clean_error)
        .set("eps", &r.summaries)
        .set("files", files)
        .set(
            "definitions",
            serde_json::json!({
                "pixel": "one input value (y, x, channel)",
                "effective": "the logits are not constant on the pixel's segment [x_i - eps, x_i + eps] ∩ [0, 1] (exact: some linear piece along the segment has a logit with non-zero slope)",
                "flip": "some point of the segment, other pixels fixed, where another class strictly beats the label (exact walk over the linear pieces, f64)",
                "pixel_flips": "int8 images × height × width × channels in per_image.csv order: -1 not effective, 0 effective without flip, 1 flip",
                "logits": "logits.npy: float64 rows × classes, the f64 network's logits of every input row (per_image.csv's row column)",
                "bounds": "float64 images × 3 × classes in per_image.csv order: lower bounds of logit_label - logit_j over the box by IBP, CROWN and alpha-CROWN (inf at j = label; alpha-CROWN's equal CROWN's where it did not run)",
                "prediction": "(1 - q_mean)^n_eff_mean",
                "stable_lower": "certified by IBP, CROWN or alpha-CROWN (slopes optimised per margin, intermediate bounds from CROWN)",
                "stable_upper": "1 - share of images with a flip found by PGD, random points or a single pixel",
                "pairs": "joint flip of a pixel pair: the 2-D square decided on the axes through x plus pair_lines segments per direction, each exactly along its length (a lower bound of the square's flip)",
            }),
        );
    Ok(results.write(dir)?)
}
