//! The pipeline of `imanifold interpolate A B --steps N --out DIR`: a flow-based morph from image file A to image
//! file B and the plain cross-fade, as two image sequences that any command reading a collection can load.
//!
//! [`write_interpolate_dir`] writes `DIR/morph/000.png …` and `DIR/crossfade/000.png …` (N frames each,
//! t = i / (N − 1), so frame 0 is A and frame N − 1 is B), `DIR/manifest.csv` (columns `file` (path relative to
//! DIR), `method` = morph | crossfade, `t`), the two flows `DIR/flow_ab.npy` (A → B) and `DIR/flow_ba.npy` (B → A)
//! in the crate's convention, and `DIR/results.json`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::{Array3, Axis};
use rayon::prelude::*;
use serde_json::Value;

use super::{cross_fade, Morph, MorphParams};
use crate::{Flow, FlowError, FlowEstimator, FlowMethod, FlowParams};

/// Frames per sequence, both ends included.
pub const DEFAULT_STEPS: usize = 9;

/// Largest accepted number of frames per sequence.
pub const MAX_STEPS: usize = 100_000;

/// Options of [`interpolate_files`].
#[derive(Debug, Clone)]
pub struct InterpolateOptions {
    /// Frames per sequence, both ends included (2 ..= [`MAX_STEPS`]).
    pub steps: usize,
    pub method: FlowMethod,
    /// Take occluded content from the one image that shows it (else blend by time only).
    pub occlusion_aware: bool,
}

impl Default for InterpolateOptions {
    fn default() -> Self {
        InterpolateOptions {
            steps: DEFAULT_STEPS,
            method: FlowParams::default().method,
            occlusion_aware: MorphParams::default().occlusion_aware,
        }
    }
}

impl InterpolateOptions {
    pub fn validate(&self) -> Result<(), FlowError> {
        if self.steps < 2 {
            return Err(FlowError::Option(format!(
                "steps must be at least 2 (got {}): the sequences include both A and B",
                self.steps
            )));
        }
        if self.steps > MAX_STEPS {
            return Err(FlowError::Option(format!("steps {} is unreasonably large (at most {MAX_STEPS})", self.steps)));
        }
        FlowParams::new(self.method.clone()).validate()
    }
}

/// The two sequences and their measures.
#[derive(Debug, Clone)]
pub struct InterpolateReport {
    /// Name of the flow method.
    pub method: String,
    pub a: PathBuf,
    pub b: PathBuf,
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    pub occlusion_aware: bool,
    /// t of every frame.
    pub t: Vec<f32>,
    pub morph: Vec<Array3<f32>>,
    pub crossfade: Vec<Array3<f32>>,
    /// A → B and B → A.
    pub forward_flow: Flow,
    pub backward_flow: Flow,
    pub rms_flow_px: f64,
    /// Fractions of A's (B's) pixels the forward–backward test finds occluded in the other image.
    pub occluded_fraction_a: f64,
    pub occluded_fraction_b: f64,
    /// Seconds per stage (flow, render).
    pub timings: Vec<(&'static str, f64)>,
}

/// A grey image repeated into three channels (when the other image is colour).
fn to_rgb(img: Array3<f32>) -> Array3<f32> {
    if img.dim().2 == 3 {
        return img;
    }
    let g = img.index_axis(Axis(2), 0).to_owned();
    ndarray::stack(Axis(2), &[g.view(), g.view(), g.view()]).expect("same shapes")
}

fn occluded_fraction(f: &Flow, g: &Flow) -> Result<f64, FlowError> {
    let m = crate::occlusion_mask(f.view(), g.view())?;
    Ok(m.iter().filter(|&&o| o).count() as f64 / m.len().max(1) as f64)
}

/// Morph and cross-fade sequences from image file `a` to image file `b` (same size; a grey image is repeated into
/// RGB when the other one is colour).
pub fn interpolate_files(a: &Path, b: &Path, options: &InterpolateOptions) -> Result<InterpolateReport, FlowError> {
    options.validate()?;
    let est = FlowEstimator::new(FlowParams::new(options.method.clone()))?;
    let mut img_a = crate::read_image(a)?;
    let mut img_b = crate::read_image(b)?;
    let ((ha, wa, _), (hb, wb, _)) = (img_a.dim(), img_b.dim());
    crate::check_same_size(a, (ha, wa), b, (hb, wb))?;
    if img_a.dim().2 != img_b.dim().2 {
        img_a = to_rgb(img_a);
        img_b = to_rgb(img_b);
    }
    let mut timings = Vec::new();
    let params = MorphParams { occlusion_aware: options.occlusion_aware, ..MorphParams::default() };
    let t0 = Instant::now();
    let morph = Morph::new(img_a.view(), img_b.view(), &est, params)?;
    timings.push(("flow", t0.elapsed().as_secs_f64()));
    let n = options.steps;
    let t: Vec<f32> = (0..n).map(|i| i as f32 / (n - 1) as f32).collect();
    let t0 = Instant::now();
    let frames: Vec<(Array3<f32>, Array3<f32>)> = t
        .par_iter()
        .map(|&t| Ok((morph.frame(t)?, cross_fade(img_a.view(), img_b.view(), t)?)))
        .collect::<Result<Vec<_>, FlowError>>()?;
    timings.push(("render", t0.elapsed().as_secs_f64()));
    let (morph_frames, crossfade) = frames.into_iter().unzip();
    let (fwd, bwd) = (morph.forward_flow(), morph.backward_flow());
    Ok(InterpolateReport {
        method: est.params().method.name(),
        a: a.to_path_buf(),
        b: b.to_path_buf(),
        width: wa,
        height: ha,
        channels: img_a.dim().2,
        occlusion_aware: options.occlusion_aware,
        t,
        morph: morph_frames,
        crossfade,
        rms_flow_px: crate::rms_magnitude(fwd.view())?,
        occluded_fraction_a: occluded_fraction(fwd, bwd)?,
        occluded_fraction_b: occluded_fraction(bwd, fwd)?,
        forward_flow: fwd.clone(),
        backward_flow: bwd.clone(),
        timings,
    })
}

/// Refuses a frame that cannot be written as PNG (needs `(height, width, 1 | 3)`).
fn check_frame(img: &Array3<f32>) -> Result<(), FlowError> {
    match img.dim().2 {
        1 | 3 => Ok(()),
        _ => Err(FlowError::BadShape {
            what: "frame".into(),
            shape: img.shape().to_vec(),
            expected: "1 or 3 channels".into(),
        }),
    }
}

/// Writes a `(height, width, 1 | 3)` frame in [0, 1] as an 8-bit PNG ([`pixels::write_png`]).
fn write_frame(path: &Path, img: &Array3<f32>) -> Result<(), FlowError> {
    let (h, w, c) = img.dim();
    let row = img.as_standard_layout();
    pixels::write_png(path, row.as_slice().expect("standard layout"), pixels::ImageShape::new(h, w, c))?;
    Ok(())
}

/// Writes the folder of `report` (see the module docs) into `dir`, `results.json` through `results` (started by
/// the caller). Returns the JSON written.
pub fn write_interpolate_dir(
    dir: &Path,
    report: &InterpolateReport,
    mut results: output::Results,
) -> Result<Value, FlowError> {
    // Check everything before writing anything, so that an error leaves no partial sequence behind.
    report.morph.iter().chain(&report.crossfade).try_for_each(check_frame)?;
    let frames: Vec<(&Array3<f32>, &Array3<f32>)> = report.morph.iter().zip(&report.crossfade).collect();
    let n = report.t.len();
    let digits = n.saturating_sub(1).to_string().len().max(3);
    let mut manifest = Vec::with_capacity(2 * n);
    for (method, pick) in [("morph", 0usize), ("crossfade", 1)] {
        for (i, (pair, t)) in frames.iter().zip(&report.t).enumerate() {
            let rel = format!("{method}/{i:0digits$}.png");
            let img = if pick == 0 { pair.0 } else { pair.1 };
            write_frame(&dir.join(&rel), img)?;
            manifest.push(vec![rel, method.to_string(), output::fmt_f64(*t as f64)]);
        }
    }
    output::write_npy(&dir.join("flow_ab.npy"), &report.forward_flow)?;
    output::write_npy(&dir.join("flow_ba.npy"), &report.backward_flow)?;
    output::write_csv(&dir.join("manifest.csv"), &["file", "method", "t"], manifest)?;
    for (stage, seconds) in &report.timings {
        results.timing(stage, *seconds);
    }
    results
        .set("method", &report.method)
        .set("steps", n)
        .set("width", report.width)
        .set("height", report.height)
        .set("channels", report.channels)
        .set("occlusion_aware", report.occlusion_aware)
        .set("rms_flow_px", report.rms_flow_px)
        .set("occluded_fraction_a", report.occluded_fraction_a)
        .set("occluded_fraction_b", report.occluded_fraction_b)
        .set("a", report.a.display().to_string())
        .set("b", report.b.display().to_string());
    Ok(results.write(dir)?)
}
