//! Flow of one pair of image files or of a list of pairs, with their output files: the pipelines of
//! `imanifold flow A B --out FLOW.npy` ([`flow_pair`] + [`write_flow_pair`]) and `imanifold flow --pairs PAIRS.csv
//! --out DIR` ([`batch`] + [`write_flow_dir`]).
//!
//! Batch mode: PAIRS.csv has a header and columns `a,b` (image paths, relative to the CSV's folder unless absolute)
//! and optionally `truth` (a true-flow .npy, same convention). [`write_flow_dir`] writes `DIR/flows/<row>.npy` (row =
//! 0-based CSV data row, six digits), `DIR/pairs.csv` (row, a, b, flow file, RMS magnitude, photometric residual,
//! EPE when a truth is given), `DIR/results.json`, and optionally a colour-wheel `DIR/flows/<row>.png` per pair.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::{Array2, Array3};
use rayon::prelude::*;
use serde_json::{json, Value};

use crate::{EpeStats, Flow, FlowError, FlowEstimator, FlowParams, PreparedFrame};

/// Fails unless both frames have the same size (`(height, width)`), naming both files.
pub fn check_same_size(a: &Path, fa: (usize, usize), b: &Path, fb: (usize, usize)) -> Result<(), FlowError> {
    if fa != fb {
        return Err(FlowError::SizeMismatch {
            first: a.display().to_string(),
            w1: fa.1,
            h1: fa.0,
            second: b.display().to_string(),
            w2: fb.1,
            h2: fb.0,
        });
    }
    Ok(())
}

/// Reads a true flow `.npy` and checks it is `height × width × 2`.
pub fn read_true_flow(path: &Path, height: usize, width: usize) -> Result<Flow, FlowError> {
    let t: Array3<f32> =
        ndarray_npy::read_npy(path).map_err(|source| FlowError::ReadFlow { path: path.to_path_buf(), source })?;
    crate::check_flow(t.view(), height, width, &path.display().to_string())?;
    Ok(t)
}

/// The flow of one pair of image files and its measures.
#[derive(Debug, Clone)]
pub struct PairReport {
    /// Name of the method.
    pub method: String,
    pub width: usize,
    pub height: usize,
    pub flow: Flow,
    pub rms_magnitude_px: f64,
    pub photometric_residual: f64,
    /// Time of the flow (preparation of both frames and the solve).
    pub seconds: f64,
    /// Endpoint error against the true flow, when one was given.
    pub epe: Option<EpeStats>,
}

/// Flow from image file `a` to image file `b` (grey, BT.601), with the endpoint error against `truth` (a true-flow
/// `.npy`) when given.
pub fn flow_pair(a: &Path, b: &Path, truth: Option<&Path>, params: &FlowParams) -> Result<PairReport, FlowError> {
    let est = FlowEstimator::new(params.clone())?;
    let fa = crate::read_gray(a)?;
    let fb = crate::read_gray(b)?;
    check_same_size(a, fa.dim(), b, fb.dim())?;
    let (height, width) = fa.dim();
    let truth = truth.map(|t| read_true_flow(t, height, width)).transpose()?;
    let t0 = Instant::now();
    let prep_a = est.prepare_named(fa.view(), &a.display().to_string())?;
    let prep_b = est.prepare_named(fb.view(), &b.display().to_string())?;
    let flow = est.flow(&prep_a, &prep_b)?;
    let seconds = t0.elapsed().as_secs_f64();
    Ok(PairReport {
        method: est.params().method.name(),
        width,
        height,
        rms_magnitude_px: crate::rms_magnitude(flow.view())?,
        photometric_residual: crate::photometric_residual(fa.view(), fb.view(), flow.view())?,
        epe: truth.map(|t| crate::endpoint_error(flow.view(), t.view())).transpose()?,
        seconds,
        flow,
    })
}

/// Writes the flow of `report` to `out` (`.npy`) and, with `viz`, its colour-wheel PNG; returns the summary
/// (method, size, RMS, residual, seconds, out, EPE).
pub fn write_flow_pair(out: &Path, viz: Option<&Path>, report: &PairReport) -> Result<Value, FlowError> {
    let img = viz.map(|_| crate::flow_to_rgb(report.flow.view(), None)).transpose()?;
    output::write_npy(out, &report.flow)?;
    if let (Some(path), Some(img)) = (viz, &img) {
        output::write_png(path, img)?;
    }
    let mut summary = json!({
        "method": report.method,
        "width": report.width,
        "height": report.height,
        "rms_magnitude_px": report.rms_magnitude_px,
        "photometric_residual": output::json_f64(report.photometric_residual),
        "seconds": report.seconds,
        "out": out.display().to_string(),
    });
    if let Some(e) = &report.epe {
        summary["mean_epe_px"] = json!(e.mean);
        summary["median_epe_px"] = json!(e.median);
    }
    Ok(summary)
}

/// One row of a pairs file.
#[derive(Debug, Clone, PartialEq)]
pub struct PairRow {
    pub a: PathBuf,
    pub b: PathBuf,
    pub truth: Option<PathBuf>,
}

/// Reads a pairs CSV (columns `a`, `b`, optional `truth`; paths relative to the CSV's folder unless absolute), by
/// [`dataset::pairs::read_path_pairs`].
pub fn read_pairs(csv_path: &Path) -> Result<Vec<PairRow>, FlowError> {
    let rows = dataset::pairs::read_path_pairs(csv_path, &["a", "b"], &["truth"]).map_err(|e| match e {
        dataset::DatasetError::Pairs { path, message } => FlowError::Pairs { path, message },
        e => FlowError::Pairs { path: csv_path.to_path_buf(), message: e.to_string() },
    })?;
    let resolve = |cell: &str| dataset::pairs::resolve(csv_path, cell);
    Ok(rows
        .into_iter()
        .map(|r| PairRow {
            a: resolve(&r.cells[0]),
            b: resolve(&r.cells[1]),
            truth: r.optional[0].as_deref().map(resolve),
        })
        .collect())
}

/// The flow of one row of a batch.
#[derive(Debug, Clone)]
pub struct BatchPair {
    pub row: PairRow,
    pub flow: Flow,
    pub rms_magnitude_px: f64,
    pub photometric_residual: f64,
    /// Mean endpoint error against the row's true flow, when it has one.
    pub mean_epe_px: Option<f64>,
}

/// What [`batch`] measured.
#[derive(Debug, Clone)]
pub struct BatchReport {
    /// Name of the method.
    pub method: String,
    /// Distinct image files read.
    pub images: usize,
    pub pairs: Vec<BatchPair>,
    /// Seconds per stage (load, flow).
    pub timings: Vec<(&'static str, f64)>,
}

impl BatchReport {
    /// Mean of the endpoint errors over the pairs with a truth (`None` without any).
    pub fn mean_epe_px(&self) -> Option<f64> {
        let epes: Vec<f64> = self.pairs.iter().filter_map(|p| p.mean_epe_px).collect();
        (!epes.is_empty()).then(|| epes.iter().sum::<f64>() / epes.len() as f64)
    }
}

/// Flow of every pair of `rows` (in parallel; every distinct image is read and prepared once), with RMS
/// magnitude, photometric residual and, where a row has a true flow, the mean endpoint error. `progress` counts
/// pairs.
pub fn batch(
    rows: Vec<PairRow>,
    params: &FlowParams,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<BatchReport, FlowError> {
    let est = FlowEstimator::new(params.clone())?;
    let mut timings = Vec::new();
    let mut files: Vec<PathBuf> = rows.iter().flat_map(|r| [r.a.clone(), r.b.clone()]).collect();
    files.sort();
    files.dedup();
    let t = Instant::now();
    let frames: Vec<(Array2<f32>, PreparedFrame)> = files
        .par_iter()
        .map(|f| {
            let img = crate::read_gray(f)?;
            let p = est.prepare_named(img.view(), &f.display().to_string())?;
            Ok((img, p))
        })
        .collect::<Result<Vec<_>, FlowError>>()?;
    timings.push(("load", t.elapsed().as_secs_f64()));
    let index = |p: &Path| files.binary_search_by(|f| f.as_path().cmp(p)).unwrap_or(0);
    for r in &rows {
        let (ia, ib) = (index(&r.a), index(&r.b));
        check_same_size(&r.a, frames[ia].0.dim(), &r.b, frames[ib].0.dim())?;
    }
    let truths: Vec<Option<Flow>> = rows
        .iter()
        .map(|r| {
            let (h, w) = frames[index(&r.a)].0.dim();
            r.truth.as_ref().map(|t| read_true_flow(t, h, w)).transpose()
        })
        .collect::<Result<_, _>>()?;
    let t = Instant::now();
    let flows: Vec<Flow> = rows
        .par_iter()
        .map(|r| {
            let f = est.flow(&frames[index(&r.a)].1, &frames[index(&r.b)].1);
            progress(1);
            f
        })
        .collect::<Result<Vec<_>, _>>()?;
    timings.push(("flow", t.elapsed().as_secs_f64()));
    let pairs = rows
        .into_iter()
        .zip(flows)
        .zip(truths)
        .map(|((row, flow), truth)| {
            let (fa, fb) = (&frames[index(&row.a)].0, &frames[index(&row.b)].0);
            Ok(BatchPair {
                rms_magnitude_px: crate::rms_magnitude(flow.view())?,
                photometric_residual: crate::photometric_residual(fa.view(), fb.view(), flow.view())?,
                mean_epe_px: truth.map(|t| crate::endpoint_error(flow.view(), t.view())).transpose()?.map(|e| e.mean),
                row,
                flow,
            })
        })
        .collect::<Result<Vec<_>, FlowError>>()?;
    Ok(BatchReport { method: est.params().method.name(), images: files.len(), pairs, timings })
}

/// Writes the folder of a batch (see the module docs) into `dir`, `results.json` through `results` (started by the
/// caller); `png` adds a colour-wheel PNG per flow. Returns the JSON written.
pub fn write_flow_dir(
    dir: &Path,
    report: &BatchReport,
    png: bool,
    mut results: output::Results,
) -> Result<Value, FlowError> {
    let flow_dir = dir.join("flows");
    let mut table = Vec::with_capacity(report.pairs.len());
    for (i, p) in report.pairs.iter().enumerate() {
        output::write_npy(&flow_dir.join(format!("{i:06}.npy")), &p.flow)?;
        if png {
            output::write_png(&flow_dir.join(format!("{i:06}.png")), &crate::flow_to_rgb(p.flow.view(), None)?)?;
        }
        table.push(vec![
            i.to_string(),
            p.row.a.display().to_string(),
            p.row.b.display().to_string(),
            format!("flows/{i:06}.npy"),
            output::fmt_f64(p.rms_magnitude_px),
            output::fmt_f64(p.photometric_residual),
            p.mean_epe_px.map_or(String::new(), output::fmt_f64),
        ]);
    }
    output::write_csv(
        &dir.join("pairs.csv"),
        &["row", "a", "b", "flow", "rms_magnitude_px", "photometric_residual", "epe_px"],
        table,
    )?;
    for (stage, seconds) in &report.timings {
        results.timing(stage, *seconds);
    }
    results.set("method", &report.method).set("pairs", report.pairs.len()).set("images", report.images);
    results.set("convention", "B(x + flow(x)) = A(x); flows/<row>.npy float32 (h, w, 2), u then v");
    if let Some(mean) = report.mean_epe_px() {
        let with_truth = report.pairs.iter().filter(|p| p.mean_epe_px.is_some()).count();
        results.set("pairs_with_truth", with_truth).set("mean_epe_px", mean);
    }
    Ok(results.write(dir)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Axis;

    fn write_gray_png(path: &Path, img: &Array2<f32>) {
        let (h, w) = img.dim();
        let g = image::GrayImage::from_fn(w as u32, h as u32, |x, y| {
            image::Luma([pixels::to_u8(img[[y as usize, x as usize]])])
        });
        g.save(path).unwrap();
    }

    /// A texture translated by (2, 1) px: the batch recovers the motion (small EPE against the true flow), writes
    /// one flow per row, and refuses a pairs file without `b`; interpolation of the same pair starts at A.
    #[test]
    fn batch_and_interpolate_on_a_translated_texture() {
        let dir = tempfile::tempdir().unwrap();
        let (w, h) = (48, 40);
        let tex = crate::synthetic::Texture::new(3);
        let shifted = |dx: f32, dy: f32| Array2::from_shape_fn((h, w), |(y, x)| tex.at(x as f32 - dx, y as f32 - dy));
        write_gray_png(&dir.path().join("a.png"), &shifted(0.0, 0.0));
        write_gray_png(&dir.path().join("b.png"), &shifted(2.0, 1.0));
        let mut truth = Array3::<f32>::zeros((h, w, 2));
        truth.index_axis_mut(Axis(2), 0).fill(2.0);
        truth.index_axis_mut(Axis(2), 1).fill(1.0);
        output::write_npy(&dir.path().join("truth.npy"), &truth).unwrap();
        let csv = dir.path().join("pairs.csv");
        std::fs::write(&csv, "a,b,truth\na.png,b.png,truth.npy\nb.png,a.png,\n").unwrap();

        assert_eq!(crate::DEFAULT_METHOD.parse::<crate::FlowMethod>().unwrap(), FlowParams::default().method);
        let rows = read_pairs(&csv).unwrap();
        assert_eq!(rows[0].truth, Some(dir.path().join("truth.npy")));
        let report = batch(rows, &FlowParams::default(), &|_| ()).unwrap();
        assert_eq!((report.images, report.pairs.len()), (2, 2));
        assert!(report.pairs[0].mean_epe_px.unwrap() < 0.5, "{:?}", report.pairs[0].mean_epe_px);
        assert!(report.pairs[1].mean_epe_px.is_none() && report.pairs[1].rms_magnitude_px > 1.5);
        let out = dir.path().join("out");
        let v = write_flow_dir(&out, &report, true, output::Results::new("flow")).unwrap();
        assert_eq!(v["pairs_with_truth"], 1);
        assert!(out.join("flows/000001.npy").is_file() && out.join("flows/000001.png").is_file());

        std::fs::write(&csv, "a,c\na.png,b.png\n").unwrap();
        assert!(matches!(read_pairs(&csv), Err(FlowError::Pairs { .. })));

        let options = crate::InterpolateOptions { steps: 3, ..Default::default() };
        let r = crate::interpolate_files(&dir.path().join("a.png"), &dir.path().join("b.png"), &options).unwrap();
        assert_eq!((r.t.len(), r.morph.len(), r.channels), (3, 3, 1));
        assert_eq!(r.morph[0], crate::read_image(&dir.path().join("a.png")).unwrap());
        assert!(crate::InterpolateOptions { steps: 1, ..Default::default() }.validate().is_err());
    }
}
