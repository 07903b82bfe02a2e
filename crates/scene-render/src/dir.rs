//! Writing a render folder (what `imanifold render` produces and the loaders read back).

use std::path::{Path, PathBuf};

use ndarray::{Array3, ArrayView3, ArrayView4};
use rayon::prelude::*;
use serde::Serialize;

use crate::error::{RenderError, Result};
use crate::flow::true_flow;
use crate::raster::Scratch;
use crate::render::{render_with, ColorMode, RenderOptions, RenderedImage};
use crate::sampling::Sampling;
use crate::scene::{Params, Scene};

/// The image set to write: parameter values per image and how they were chosen (recorded in `render.json`).
#[derive(Debug, Clone)]
pub struct RenderSet {
    pub params: Vec<Params>,
    /// Names of the varied parameters (the manifest's parameter columns, in this order).
    pub vary: Vec<String>,
    pub sampling: Sampling,
    pub seed: u64,
}

/// What to write besides the images and the manifest.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WriteOptions {
    /// `images.npy`: n×h×w (grey) or n×h×w×3 float32, unquantised.
    pub npy: bool,
    /// `depth/NNNNNN.npy` per image.
    pub depth: bool,
    /// Ground-truth flow for these (frame 1, frame 2) index pairs.
    pub flow_pairs: Vec<(usize, usize)>,
    /// Replace an existing render in the folder (its images/, depth/, flow/, manifest.csv, render.json,
    /// images.npy, flow.csv are removed first; nothing else is touched).
    pub force: bool,
}

/// Name of image i (relative to the folder).
pub fn image_file(i: usize) -> String {
    format!("images/{i:06}.png")
}

/// Consecutive pairs (0, 1), (1, 2), … for trajectory flow.
pub fn consecutive_pairs(n: usize) -> Vec<(usize, usize)> {
    (1..n).map(|i| (i - 1, i)).collect()
}

/// Reads a CSV of index pairs: two integer columns per row, an optional header row (e.g. `frame1,frame2`).
pub fn read_flow_pairs(path: &Path) -> Result<Vec<(usize, usize)>> {
    let err = |message: String| RenderError::FlowPairs { path: path.to_path_buf(), message };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .flexible(true)
        .from_path(path)
        .map_err(|e| err(e.to_string()))?;
    let mut pairs = Vec::new();
    for (line, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| err(e.to_string()))?;
        if rec.len() != 2 {
            return Err(err(format!("row {} has {} columns, expected 2 (frame1,frame2)", line + 1, rec.len())));
        }
        let parse = |s: &str| s.parse::<usize>();
        match (parse(&rec[0]), parse(&rec[1])) {
            (Ok(a), Ok(b)) => pairs.push((a, b)),
            _ if line == 0 => {} // header
            _ => {
                return Err(err(format!(
                    "row {}: '{}', '{}' are not non-negative integer indices",
                    line + 1,
                    &rec[0],
                    &rec[1]
                )))
            }
        }
    }
    if pairs.is_empty() {
        return Err(err("no index pairs found".into()));
    }
    Ok(pairs)
}

const OWN_DIRS: [&str; 3] = ["images", "depth", "flow"];
const OWN_FILES: [&str; 4] = ["manifest.csv", "render.json", "images.npy", "flow.csv"];

fn prepare_dir(dir: &Path, force: bool) -> Result<()> {
    let existing: Vec<String> =
        OWN_DIRS.iter().chain(OWN_FILES.iter()).filter(|n| dir.join(n).exists()).map(|n| n.to_string()).collect();
    if existing.is_empty() {
        return Ok(());
    }
    if !force {
        return Err(RenderError::OutputExists { path: dir.to_path_buf(), what: existing.join(", ") });
    }
    let io = |p: PathBuf, e: std::io::Error| RenderError::Output(output::OutputError::Io { path: p, source: e });
    for n in OWN_DIRS {
        let p = dir.join(n);
        if p.is_dir() {
            std::fs::remove_dir_all(&p).map_err(|e| io(p.clone(), e))?;
        }
    }
    for n in OWN_FILES {
        let p = dir.join(n);
        if p.is_file() {
            std::fs::remove_file(&p).map_err(|e| io(p.clone(), e))?;
        }
    }
    Ok(())
}

/// Renders `set` and writes the folder:
///
/// * `images/000000.png` … (8-bit; RGB or grey),
/// * `manifest.csv`: `file` (relative to `dir`), one column per varied parameter (true values; degrees for
///   angles, scene units for lengths), then `label` (class index into `render.json`'s `scene.classes`) when the
///   scene defines classes,
/// * `render.json`: the standard results schema (`imanifold/render/v1`) with the resolved scene (its TOML text,
///   every parameter's range and default), seed, sampling, options, free and fixed parameters, files, timings,
/// * optionally `images.npy`, `depth/000000.npy` (float32 h×w camera-space z, +inf on background) and
///   `flow/AAAAAA_BBBBBB.npy` (float32 h×w×2) with `flow/AAAAAA_BBBBBB_valid.png` (255 valid, 0 not) listed in
///   `flow.csv` (`frame1,frame2,flow,valid`).
///
/// Everything is checked before the first file is written; each file is written atomically, and the manifest
/// and `render.json` come last, so an interrupted run leaves no manifest. Returns the `render.json` value.
pub fn write_render_dir(
    dir: &Path,
    scene: &Scene,
    set: &RenderSet,
    opts: &RenderOptions,
    wopts: &WriteOptions,
) -> Result<serde_json::Value> {
    let mut results = output::Results::new("render");
    let vary_idx = check_set(scene, set, opts, wopts)?;
    let n = set.params.len();
    let (h, w, c) = (opts.height, opts.width, opts.color.channels());
    let mut npy: Vec<f32> = Vec::new();
    if wopts.npy {
        let len =
            n.checked_mul(h * w * c).ok_or_else(|| RenderError::Options("images.npy would be too large".into()))?;
        npy.try_reserve_exact(len).map_err(|_| {
            RenderError::Options(format!("cannot allocate images.npy ({} MB) in memory", len * 4 / 1_000_000))
        })?;
        npy.resize(len, 0.0);
    }
    output::create_dir(dir)?;
    prepare_dir(dir, wopts.force)?;

    let t0 = std::time::Instant::now();
    let ropts = RenderOptions { depth: wopts.depth, ..opts.clone() };
    render_images(dir, scene, &set.params, 0, &ropts, wopts.npy, &mut npy)?;
    results.timing("render_and_write_images", t0.elapsed().as_secs_f64());

    // Each pair once (two writers of one file would race on its temporary file).
    let mut seen = std::collections::HashSet::new();
    let flow_pairs: Vec<(usize, usize)> = wopts.flow_pairs.iter().copied().filter(|p| seen.insert(*p)).collect();
    if !flow_pairs.is_empty() {
        let t = std::time::Instant::now();
        write_flows(dir, scene, set, opts, &flow_pairs)?;
        results.timing("flow", t.elapsed().as_secs_f64());
    }

    if wopts.npy {
        let t = std::time::Instant::now();
        let path = dir.join("images.npy");
        match opts.color {
            ColorMode::Gray => output::write_npy(&path, &ArrayView3::from_shape((n, h, w), &npy).expect("n·h·w"))?,
            ColorMode::Rgb => output::write_npy(&path, &ArrayView4::from_shape((n, h, w, 3), &npy).expect("n·h·w·3"))?,
        }
        results.timing("write_npy", t.elapsed().as_secs_f64());
    }

    write_manifest(dir, scene, set, &vary_idx)?;
    describe_render(&mut results, scene, set, opts, wopts, &vary_idx, flow_pairs.len());
    let value = results.to_value();
    output::write_json(&dir.join("render.json"), &value)?;
    Ok(value)
}

/// Renders images `first .. first + params.len()` of a set (`params`: their parameters) and writes the files
/// [`write_render_dir`] writes for them: `images/NNNNNN.png` and, with `depth`, `depth/NNNNNN.npy`. Ranges of one
/// set rendered this way, in any order and by any process, then [`write_render_metadata`], give the folder
/// [`write_render_dir`] gives (without `images.npy` and flow).
pub fn write_render_images(
    dir: &Path,
    scene: &Scene,
    params: &[Params],
    first: usize,
    opts: &RenderOptions,
    depth: bool,
) -> Result<()> {
    opts.validate()?;
    for p in params {
        scene.check_params(p)?;
    }
    render_images(dir, scene, params, first, &RenderOptions { depth, ..opts.clone() }, false, &mut [])
}

/// Completes a folder whose images [`write_render_images`] wrote: checks that every image (and depth map) is there,
/// removes the temporary files of writers that were killed, writes `manifest.csv` and `render.json` (with
/// `render_seconds` as the time of rendering and writing the images). `wopts` must ask for neither `images.npy`
/// nor flow. Returns the `render.json` value.
pub fn write_render_metadata(
    dir: &Path,
    scene: &Scene,
    set: &RenderSet,
    opts: &RenderOptions,
    wopts: &WriteOptions,
    render_seconds: f64,
) -> Result<serde_json::Value> {
    if wopts.npy || !wopts.flow_pairs.is_empty() {
        return Err(RenderError::Options("images.npy and flow are written by write_render_dir only".into()));
    }
    let mut results = output::Results::new("render");
    let vary_idx = check_set(scene, set, opts, wopts)?;
    let io = |p: PathBuf, e: std::io::Error| RenderError::Output(output::OutputError::Io { path: p, source: e });
    let sub: &[&str] = if wopts.depth { &["images", "depth"] } else { &["images"] };
    for d in sub {
        let d = dir.join(d);
        if let Ok(entries) = std::fs::read_dir(&d) {
            for e in entries {
                let p = e.map_err(|e| io(d.clone(), e))?.path();
                let name = p.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                if name.starts_with('.') && name.contains(".tmp") {
                    std::fs::remove_file(&p).map_err(|e| io(p.clone(), e))?;
                }
            }
        }
    }
    for i in 0..set.params.len() {
        let mut files = vec![dir.join(image_file(i))];
        if wopts.depth {
            files.push(dir.join(format!("depth/{i:06}.npy")));
        }
        if let Some(f) = files.iter().find(|f| !f.is_file()) {
            return Err(RenderError::Options(format!("{} is missing: image {i} was not rendered", f.display())));
        }
    }
    results.timing("render_and_write_images", render_seconds);
    write_manifest(dir, scene, set, &vary_idx)?;
    describe_render(&mut results, scene, set, opts, wopts, &vary_idx, 0);
    let value = results.to_value();
    output::write_json(&dir.join("render.json"), &value)?;
    Ok(value)
}

/// Checks everything before the first file is written; returns the indices of the varied parameters.
fn check_set(scene: &Scene, set: &RenderSet, opts: &RenderOptions, wopts: &WriteOptions) -> Result<Vec<usize>> {
    opts.validate()?;
    let n = set.params.len();
    if n == 0 {
        return Err(RenderError::Params("no images to render".into()));
    }
    for p in &set.params {
        scene.check_params(p)?;
    }
    let vary_idx: Vec<usize> = set.vary.iter().map(|v| scene.param_index(v)).collect::<Result<_>>()?;
    for &(a, b) in &wopts.flow_pairs {
        if a >= n || b >= n {
            return Err(RenderError::Params(format!("flow pair ({a}, {b}) refers to an image ≥ n = {n}")));
        }
        if set.params[a].label != set.params[b].label {
            return Err(RenderError::Params(format!(
                "flow pair ({a}, {b}) joins images of different classes; flow needs the same objects in both"
            )));
        }
    }
    Ok(vary_idx)
}

/// Renders images `start ..` (their parameters `params`) and writes their PNGs (and depth); copies the images into
/// `npy` (rows from 0) when `keep_npy`.
fn render_images(
    dir: &Path,
    scene: &Scene,
    params: &[Params],
    start: usize,
    ropts: &RenderOptions,
    keep_npy: bool,
    npy: &mut [f32],
) -> Result<()> {
    let n = params.len();
    let stride = ropts.height * ropts.width * ropts.color.channels();
    let pb = output::progress(n as u64, "render");
    let write_chunk = |first: usize, imgs: &[RenderedImage]| -> Result<()> {
        imgs.par_iter().enumerate().try_for_each(|(k, img)| -> Result<()> {
            let i = start + first + k;
            write_png(&dir.join(image_file(i)), &img.image)?;
            if let Some(d) = &img.depth {
                output::write_npy(&dir.join(format!("depth/{i:06}.npy")), d)?;
            }
            Ok(())
        })?;
        pb.inc(imgs.len() as u64);
        Ok(())
    };
    // Chunks of images: chunk k + 1 renders while chunk k is written (writing waits on the file system).
    const CHUNK: usize = 256;
    let mut pending: Option<(usize, Vec<RenderedImage>)> = None;
    for first in (0..n).step_by(CHUNK).chain(std::iter::once(n)) {
        let end = (first + CHUNK).min(n);
        let (imgs, written) = rayon::join(
            || -> Vec<RenderedImage> {
                params[first..end]
                    .par_iter()
                    .map_init(Scratch::default, |s, p| render_with(s, scene, p, ropts))
                    .collect()
            },
            || match &pending {
                Some((f, imgs)) => write_chunk(*f, imgs),
                None => Ok(()),
            },
        );
        written?;
        if let Some((f, done)) = pending.take() {
            if keep_npy {
                for (k, img) in done.iter().enumerate() {
                    let dst = &mut npy[(f + k) * stride..(f + k + 1) * stride];
                    dst.iter_mut().zip(img.image.iter()).for_each(|(d, s)| *d = *s);
                }
            }
        }
        if first < n {
            pending = Some((first, imgs));
        }
    }
    pb.finish_and_clear();
    Ok(())
}

/// Ground-truth flow of each pair: `flow/AAAAAA_BBBBBB.npy`, its validity PNG, and `flow.csv`.
fn write_flows(
    dir: &Path,
    scene: &Scene,
    set: &RenderSet,
    opts: &RenderOptions,
    flow_pairs: &[(usize, usize)],
) -> Result<()> {
    let (h, w) = (opts.height, opts.width);
    let pb = output::progress(flow_pairs.len() as u64, "flow");
    flow_pairs.par_iter().try_for_each(|&(a, b)| -> Result<()> {
        let f = true_flow(scene, &set.params[a], &set.params[b], opts)?;
        output::write_npy(&dir.join(format!("flow/{a:06}_{b:06}.npy")), &f.flow)?;
        let mask: Vec<u8> = f.valid.iter().map(|&v| if v { 255 } else { 0 }).collect();
        let mask = image::GrayImage::from_raw(w as u32, h as u32, mask).expect("h·w mask");
        output::write_png(&dir.join(format!("flow/{a:06}_{b:06}_valid.png")), &mask)?;
        pb.inc(1);
        Ok(())
    })?;
    pb.finish_and_clear();
    output::write_csv(
        &dir.join("flow.csv"),
        &["frame1", "frame2", "flow", "valid"],
        flow_pairs.iter().map(|&(a, b)| {
            vec![
                a.to_string(),
                b.to_string(),
                format!("flow/{a:06}_{b:06}.npy"),
                format!("flow/{a:06}_{b:06}_valid.png"),
            ]
        }),
    )?;
    Ok(())
}

/// `manifest.csv`: file, the varied parameters, and `label` for scenes with classes.
fn write_manifest(dir: &Path, scene: &Scene, set: &RenderSet, vary_idx: &[usize]) -> Result<()> {
    let has_label = !scene.classes().is_empty();
    let mut header: Vec<&str> = vec!["file"];
    header.extend(set.vary.iter().map(|s| s.as_str()));
    if has_label {
        header.push("label");
    }
    output::write_csv(
        &dir.join("manifest.csv"),
        &header,
        set.params.iter().enumerate().map(|(i, p)| {
            let mut row = vec![image_file(i)];
            row.extend(vary_idx.iter().map(|&j| output::fmt_f64(p.values[j])));
            if has_label {
                row.push(p.label.map(|l| l.to_string()).unwrap_or_default());
            }
            row
        }),
    )?;
    Ok(())
}

/// The fields of `render.json` besides the timings.
fn describe_render(
    results: &mut output::Results,
    scene: &Scene,
    set: &RenderSet,
    opts: &RenderOptions,
    wopts: &WriteOptions,
    vary_idx: &[usize],
    n_flow_pairs: usize,
) {
    let n = set.params.len();
    let (h, w, c) = (opts.height, opts.width, opts.color.channels());
    let fixed: serde_json::Map<String, serde_json::Value> = scene
        .parameters()
        .iter()
        .enumerate()
        .filter(|(j, _)| !vary_idx.contains(j))
        .map(|(j, s)| (s.name.clone(), output::json_f64(set.params[0].values[j])))
        .collect();
    results
        .seed(set.seed)
        .set("scene", scene.describe())
        .set("n_images", n)
        .set("sampling", set.sampling)
        .set("free_parameters", &set.vary)
        .set("fixed_parameters", fixed)
        .set("options", opts)
        .set("image_shape", if c == 1 { vec![h, w] } else { vec![h, w, c] })
        .set(
            "files",
            serde_json::json!({
                "images": "images/NNNNNN.png (8-bit)",
                "manifest": "manifest.csv",
                "npy": if wopts.npy { Some("images.npy") } else { None },
                "depth": if wopts.depth { Some("depth/NNNNNN.npy (float32 h×w camera-space z; +inf = background)") } else { None },
                "flow": if n_flow_pairs == 0 { None } else { Some("flow.csv") },
            }),
        )
        .set("flow_pairs", n_flow_pairs)
        .set(
            "conventions",
            serde_json::json!({
                "angles": "degrees",
                "pixel_centres": "integer coordinates, (0, 0) = centre of the top-left pixel",
                "flow": "float32 (h, w, 2), u right then v down, pixels; frame2(x + flow(x)) ≈ frame1(x)",
                "camera": "orbit camera around the scene target; OpenCV camera axes (x right, y down, z forward)",
            }),
        );
}

/// Writes an image (height × width × 1 or 3 channels) as an 8-bit PNG ([`pixels::write_png`]), e.g. for previews.
pub fn write_png(path: &Path, image: &Array3<f32>) -> Result<()> {
    let (h, w, c) = image.dim();
    let row = image.as_standard_layout();
    pixels::write_png(path, row.as_slice().expect("standard layout"), pixels::ImageShape::new(h, w, c))?;
    Ok(())
}
