//! `imanifold flow A.png B.png --out flow.npy [--method NAME] [--viz flow.png]` and the batch form
//! `imanifold flow --pairs PAIRS.csv --out DIR`: dense optical flow.
//!
//! Flow files are float32 `(height, width, 2)`, u then v, with `B(x + flow(x)) ≈ A(x)` (OpenCV's convention).
//! Colour images are converted to grey (BT.601 luma) first.
//!
//! Batch mode: PAIRS.csv has a header and columns `a,b` (image paths, relative to the CSV's folder unless absolute)
//! and optionally `truth` (a true-flow .npy, same convention). Writes `DIR/flows/<row>.npy` (row = 0-based CSV data
//! row, six digits), `DIR/pairs.csv` (row, a, b, flow file, RMS magnitude, photometric residual, EPE when a truth is
//! given), `DIR/results.json`, and with `--png` a colour-wheel `DIR/flows/<row>.png` per pair.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args as ClapArgs;
use ndarray::Array3;
use optical_flow::{FlowEstimator, FlowParams, PreparedFrame};
use rayon::prelude::*;
use serde_json::json;

use super::common::{prepare_out, print_json};

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// First frame A (the flow goes from A to B).
    #[arg(required_unless_present = "pairs", conflicts_with = "pairs")]
    pub a: Option<PathBuf>,
    /// Second frame B.
    #[arg(required_unless_present = "pairs", conflicts_with = "pairs")]
    pub b: Option<PathBuf>,
    /// Batch mode: CSV with columns a,b[,truth] (paths relative to the CSV's folder).
    #[arg(long, value_name = "PAIRS.csv")]
    pub pairs: Option<PathBuf>,
    /// Output: the flow .npy for one pair, the output folder in batch mode.
    #[arg(long)]
    pub out: PathBuf,
    /// Method: dis (default: DIS with OpenCV's MEDIUM parameters), dis-fast, dis-fine, variational, and with the
    /// `opencv` build feature opencv-dis-medium, opencv-dis-fast, opencv-farneback.
    #[arg(long, default_value = "dis")]
    pub method: String,
    /// Middlebury colour-wheel PNG of the flow (one pair).
    #[arg(long, value_name = "PNG")]
    pub viz: Option<PathBuf>,
    /// Batch mode: also write a colour-wheel PNG next to each flow.
    #[arg(long)]
    pub png: bool,
    /// True flow .npy for one pair: report the endpoint error.
    #[arg(long, value_name = "NPY")]
    pub truth: Option<PathBuf>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Reads a frame as grey, naming the file in errors.
pub fn read_frame(path: &Path) -> anyhow::Result<ndarray::Array2<f32>> {
    Ok(optical_flow::read_gray(path)?)
}

/// Fails unless both frames have the same size, naming both files.
pub fn check_same_size(a: &Path, fa: (usize, usize), b: &Path, fb: (usize, usize)) -> anyhow::Result<()> {
    if fa != fb {
        bail!(
            "frame sizes differ: {} is {}×{} but {} is {}×{} (width×height)",
            a.display(),
            fa.1,
            fa.0,
            b.display(),
            fb.1,
            fb.0
        );
    }
    Ok(())
}

fn read_truth(path: &Path, h: usize, w: usize) -> anyhow::Result<Array3<f32>> {
    let t: Array3<f32> =
        ndarray_npy::read_npy(path).with_context(|| format!("cannot read true flow {}", path.display()))?;
    optical_flow::check_flow(t.view(), h, w, &path.display().to_string())?;
    Ok(t)
}

fn estimator(method: &str) -> anyhow::Result<FlowEstimator> {
    Ok(FlowEstimator::new(FlowParams::from_name(method)?)?)
}

pub fn run(a: Args) -> anyhow::Result<()> {
    match (&a.pairs, &a.a, &a.b) {
        (Some(p), _, _) => {
            if a.viz.is_some() || a.truth.is_some() {
                bail!("--viz and --truth are for one pair; in batch mode use --png and a `truth` column");
            }
            run_batch(&a, p)
        }
        (None, Some(fa), Some(fb)) => run_single(&a, fa, fb),
        _ => bail!("give two frames A B, or --pairs PAIRS.csv"),
    }
}

fn run_single(a: &Args, pa: &Path, pb: &Path) -> anyhow::Result<()> {
    if a.png {
        bail!("--png is for batch mode; use --viz PNG for one pair");
    }
    if a.out.is_dir() {
        bail!("--out {} is a folder; give the .npy file to write", a.out.display());
    }
    let est = estimator(&a.method)?;
    let fa = read_frame(pa)?;
    let fb = read_frame(pb)?;
    check_same_size(pa, fa.dim(), pb, fb.dim())?;
    let truth = a.truth.as_ref().map(|t| read_truth(t, fa.dim().0, fa.dim().1)).transpose()?;
    let t0 = std::time::Instant::now();
    let prep_a = est.prepare_named(fa.view(), &pa.display().to_string())?;
    let prep_b = est.prepare_named(fb.view(), &pb.display().to_string())?;
    let flow = est.flow(&prep_a, &prep_b)?;
    let seconds = t0.elapsed().as_secs_f64();
    let viz = a.viz.as_ref().map(|_| optical_flow::flow_to_rgb(flow.view(), None)).transpose()?;
    output::write_npy(&a.out, &flow)?;
    if let (Some(path), Some(img)) = (&a.viz, &viz) {
        output::write_png(path, img)?;
    }
    let mut summary = json!({
        "method": est.params().method.name(),
        "width": fa.dim().1,
        "height": fa.dim().0,
        "rms_magnitude_px": optical_flow::rms_magnitude(flow.view())?,
        "photometric_residual": output::json_f64(optical_flow::photometric_residual(fa.view(), fb.view(), flow.view())?),
        "seconds": seconds,
        "out": a.out.display().to_string(),
    });
    if let Some(t) = &truth {
        let e = optical_flow::endpoint_error(flow.view(), t.view())?;
        summary["mean_epe_px"] = json!(e.mean);
        summary["median_epe_px"] = json!(e.median);
    }
    print_json(a.json, &summary)?;
    if !a.json {
        eprintln!(
            "flow {}×{} ({}): RMS {:.3} px, {:.1} ms → {}",
            fa.dim().1,
            fa.dim().0,
            est.params().method.name(),
            summary["rms_magnitude_px"].as_f64().unwrap_or(f64::NAN),
            seconds * 1e3,
            a.out.display()
        );
    }
    Ok(())
}

struct PairRow {
    a: PathBuf,
    b: PathBuf,
    truth: Option<PathBuf>,
}

fn read_pairs(csv_path: &Path) -> anyhow::Result<Vec<PairRow>> {
    let base = csv_path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(csv_path)
        .with_context(|| format!("cannot read pairs file {}", csv_path.display()))?;
    let headers = rdr.headers().with_context(|| format!("{}: no header row", csv_path.display()))?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (ia, ib) = match (col("a"), col("b")) {
        (Some(ia), Some(ib)) => (ia, ib),
        _ => bail!(
            "{}: needs columns `a` and `b` (found: {})",
            csv_path.display(),
            headers.iter().collect::<Vec<_>>().join(",")
        ),
    };
    let it = col("truth");
    let resolve = |s: &str| {
        let p = PathBuf::from(s);
        if p.is_absolute() {
            p
        } else {
            base.join(p)
        }
    };
    let mut rows = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: data row {i}", csv_path.display()))?;
        let get = |k: usize| rec.get(k).filter(|s| !s.is_empty());
        let (Some(pa), Some(pb)) = (get(ia), get(ib)) else {
            bail!("{}: data row {i} has an empty `a` or `b`", csv_path.display());
        };
        rows.push(PairRow { a: resolve(pa), b: resolve(pb), truth: it.and_then(get).map(resolve) });
    }
    if rows.is_empty() {
        bail!("{}: no pairs listed", csv_path.display());
    }
    Ok(rows)
}

fn run_batch(a: &Args, csv_path: &Path) -> anyhow::Result<()> {
    let est = estimator(&a.method)?;
    let rows = read_pairs(csv_path)?;
    let out = prepare_out(&a.out)?;
    let mut results = output::Results::new("flow");
    // Load and prepare every distinct image once (an image may appear in many pairs), in parallel.
    let mut files: Vec<PathBuf> = rows.iter().flat_map(|r| [r.a.clone(), r.b.clone()]).collect();
    files.sort();
    files.dedup();
    let frames: Vec<(ndarray::Array2<f32>, PreparedFrame)> = results.timed("load", || {
        files
            .par_iter()
            .map(|f| {
                let img = read_frame(f)?;
                let p = est.prepare_named(img.view(), &f.display().to_string())?;
                Ok((img, p))
            })
            .collect::<anyhow::Result<Vec<_>>>()
    })?;
    let index = |p: &Path| files.binary_search_by(|f| f.as_path().cmp(p)).unwrap_or(0);
    for r in &rows {
        let (ia, ib) = (index(&r.a), index(&r.b));
        check_same_size(&r.a, frames[ia].0.dim(), &r.b, frames[ib].0.dim())?;
    }
    let truths: Vec<Option<Array3<f32>>> = rows
        .iter()
        .map(|r| {
            let (h, w) = frames[index(&r.a)].0.dim();
            r.truth.as_ref().map(|t| read_truth(t, h, w)).transpose()
        })
        .collect::<anyhow::Result<_>>()?;
    let pb = output::progress(rows.len() as u64, "flow");
    let flows: Vec<Array3<f32>> = results.timed("flow", || {
        rows.par_iter()
            .map(|r| {
                let f = est.flow(&frames[index(&r.a)].1, &frames[index(&r.b)].1);
                pb.inc(1);
                f
            })
            .collect::<Result<Vec<_>, _>>()
    })?;
    pb.finish_and_clear();
    let flow_dir = out.join("flows");
    let mut table = Vec::with_capacity(rows.len());
    let mut epes = Vec::new();
    for (i, ((r, flow), truth)) in rows.iter().zip(&flows).zip(&truths).enumerate() {
        let name = format!("flows/{i:06}.npy");
        output::write_npy(&flow_dir.join(format!("{i:06}.npy")), flow)?;
        if a.png {
            output::write_png(&flow_dir.join(format!("{i:06}.png")), &optical_flow::flow_to_rgb(flow.view(), None)?)?;
        }
        let (fa, fb) = (&frames[index(&r.a)].0, &frames[index(&r.b)].0);
        let rms = optical_flow::rms_magnitude(flow.view())?;
        let res = optical_flow::photometric_residual(fa.view(), fb.view(), flow.view())?;
        let epe = match truth {
            Some(t) => {
                let e = optical_flow::endpoint_error(flow.view(), t.view())?.mean;
                epes.push(e);
                output::fmt_f64(e)
            }
            None => String::new(),
        };
        table.push(vec![
            i.to_string(),
            r.a.display().to_string(),
            r.b.display().to_string(),
            name,
            output::fmt_f64(rms),
            output::fmt_f64(res),
            epe,
        ]);
    }
    output::write_csv(
        &out.join("pairs.csv"),
        &["row", "a", "b", "flow", "rms_magnitude_px", "photometric_residual", "epe_px"],
        table,
    )?;
    results.set("method", est.params().method.name()).set("pairs", rows.len()).set("images", files.len());
    results.set("convention", "B(x + flow(x)) = A(x); flows/<row>.npy float32 (h, w, 2), u then v");
    if !epes.is_empty() {
        results.set("pairs_with_truth", epes.len()).set("mean_epe_px", epes.iter().sum::<f64>() / epes.len() as f64);
    }
    let v = results.write(&out)?;
    print_json(a.json, &v)?;
    Ok(())
}
