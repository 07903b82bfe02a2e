//! The renderer's true path beside a geodesic path, when the collection is a render folder (`render.json` beside
//! the manifest, as `imanifold render` writes it).
//!
//! The true geodesic between the endpoints' parameters p_a and p_b is the straight segment in parameter space over
//! every free parameter of the render (a periodic one — `--periodic`, else a parameter whose range is a full turn —
//! the short way round). Each frame of the path at fraction t of the graph length (as the parameter error uses:
//! [`crate::path::fraction_at`]) is compared with the scene rendered at p_a + t (p_b − p_a), with the render's
//! fixed parameters and options, at the collection's image size, quantised to 8 bits as the folder's PNGs and
//! converted to the collection's channels as the loader converts them. The comparison is the pixel RMSE over all
//! values (intensities in [0, 1]): zero at the endpoints of a PNG render (the same image), small along a path that
//! visits the true views in order at an even pace, large where the path jumps to a look-alike view or leaves the
//! segment.

use std::path::{Path, PathBuf};

use ndarray::Array3;
use rayon::prelude::*;
use scene_render::{ColorMode, Params, RenderOptions, Scene};
use serde_json::{json, Value};

use crate::path::{fraction_at, wrap};

/// The file a render folder holds beside its manifest.
pub const RENDER_FILE: &str = "render.json";

/// What is needed to render any point of a render folder's parameter space.
#[derive(Debug, Clone)]
pub struct RenderSource {
    /// The folder's `render.json`.
    pub file: PathBuf,
    pub scene: Scene,
    /// Every parameter at the render's fixed values (free ones at the scene defaults until set).
    pub base: Params,
    /// The free parameters: name and index into [`Scene::parameters`].
    pub free: Vec<(String, usize)>,
    pub options: RenderOptions,
}

/// The folder a collection was loaded from (`source` itself, or its parent for a file such as `images.npy`); `None`
/// for data that did not come from a file (an in-memory matrix).
fn folder_of(source: &Path) -> Option<&Path> {
    if source.is_dir() {
        Some(source)
    } else if source.is_file() {
        Some(source.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")))
    } else {
        None
    }
}

impl RenderSource {
    /// The render behind a collection loaded from `source`: `Ok(None)` when its folder has no `render.json`, an
    /// error message when it has one that cannot be rebuilt into a scene.
    pub fn find(source: &Path) -> std::result::Result<Option<RenderSource>, String> {
        let Some(dir) = folder_of(source) else { return Ok(None) };
        let file = dir.join(RENDER_FILE);
        if !file.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
        let mut source = RenderSource::from_json(&v, dir).map_err(|e| format!("{}: {e}", file.display()))?;
        source.file = file;
        Ok(Some(source))
    }

    /// Rebuilds the render from its `render.json` value (`dir`: the folder, for scene files given relative to it).
    pub fn from_json(v: &Value, dir: &Path) -> std::result::Result<RenderSource, String> {
        let scene_v = &v["scene"];
        let origin = scene_v["origin"].as_str().ok_or("no scene.origin")?;
        let scene = if let Some(name) = origin.strip_prefix("builtin:") {
            Scene::builtin(name).map_err(|e| e.to_string())?
        } else {
            let path = Path::new(origin);
            let path = if path.is_absolute() || path.is_file() { path.to_path_buf() } else { dir.join(path) };
            if path.is_file() {
                Scene::from_toml_path(&path).map_err(|e| e.to_string())?
            } else {
                let toml = scene_v["toml"].as_str().ok_or("no scene.toml and the scene file is gone")?;
                Scene::from_toml_str(toml).map_err(|e| e.to_string())?
            }
        };
        let mut base = scene.default_params();
        if let Some(fixed) = v["fixed_parameters"].as_object() {
            for (name, value) in fixed {
                let i = scene.param_index(name).map_err(|e| e.to_string())?;
                base.values[i] = value.as_f64().ok_or_else(|| format!("fixed parameter {name} is not a number"))?;
            }
        }
        let free = v["free_parameters"]
            .as_array()
            .ok_or("no free_parameters")?
            .iter()
            .map(|n| {
                let name = n.as_str().ok_or("a free parameter name is not a string")?;
                Ok((name.to_string(), scene.param_index(name).map_err(|e| e.to_string())?))
            })
            .collect::<std::result::Result<Vec<_>, String>>()?;
        let o = &v["options"];
        let size = |k: &str| o[k].as_u64().map(|x| x as usize).ok_or_else(|| format!("no options.{k}"));
        let options = RenderOptions {
            width: size("width")?,
            height: size("height")?,
            ssaa: size("ssaa")?,
            blur: o["blur"].as_f64().unwrap_or(0.0) as f32,
            color: match o["color"].as_str() {
                Some("gray") => ColorMode::Gray,
                _ => ColorMode::Rgb,
            },
            depth: false,
        };
        options.validate().map_err(|e| e.to_string())?;
        Ok(RenderSource { file: PathBuf::new(), scene, base, free, options })
    }

    /// Period of free parameter `index`: from `periodic` when it names the parameter, else 360° for a parameter whose
    /// range is a full turn, else ∞.
    pub fn period(&self, name: &str, index: usize, periodic: &[crate::Periodic]) -> f64 {
        if let Some(p) = periodic.iter().rev().find(|p| p.name == name) {
            return p.period;
        }
        let spec = &self.scene.parameters()[index];
        if spec.periodic {
            360.0
        } else {
            f64::INFINITY
        }
    }
}

/// The rendered true path of one geodesic path.
#[derive(Debug, Clone)]
pub struct RenderedTruth {
    /// The free parameters rendered, with their periods.
    pub parameters: Vec<(String, f64)>,
    /// Per frame of the path: the parameter values rendered (in the order of `parameters`).
    pub values: Vec<Vec<f64>>,
    /// Per frame: the rendered image (the path frame's shape).
    pub images: Vec<Array3<f32>>,
    /// Per frame: RMSE between the path frame and the rendered image.
    pub rmse: Vec<f64>,
}

impl RenderedTruth {
    fn mean(x: impl Iterator<Item = f64>) -> f64 {
        let (s, n) = x.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
        if n == 0 {
            f64::NAN
        } else {
            s / n as f64
        }
    }

    pub fn mean_rmse(&self) -> f64 {
        Self::mean(self.rmse.iter().copied())
    }

    /// Mean RMSE over the frames that are graph images (`is_node[f]`) or over the in-betweens (`!is_node[f]`).
    pub fn mean_rmse_where(&self, is_node: &[bool], node: bool) -> f64 {
        Self::mean(self.rmse.iter().zip(is_node).filter(|(_, &k)| k == node).map(|(r, _)| *r))
    }

    pub fn max_rmse(&self) -> f64 {
        self.rmse.iter().copied().fold(0.0, f64::max)
    }

    /// The `rendered_truth` entry of results.json (`is_node`: which frames are graph images).
    pub fn to_json(&self, source: &RenderSource, is_node: &[bool]) -> Value {
        let periods: serde_json::Map<String, Value> =
            self.parameters.iter().map(|(n, p)| (n.clone(), output::json_f64(*p))).collect();
        json!({
            "render": source.file.display().to_string(), "scene": source.scene.name(), "periods": periods,
            "mean_rmse": output::json_f64(self.mean_rmse()),
            "mean_rmse_nodes": output::json_f64(self.mean_rmse_where(is_node, true)),
            "mean_rmse_between": output::json_f64(self.mean_rmse_where(is_node, false)),
            "max_rmse": output::json_f64(self.max_rmse()),
            "rmse": self.rmse.iter().map(|&r| output::json_f64(r)).collect::<Vec<_>>(),
            "definition": "per path frame: RMSE (intensities in [0, 1]) between the frame and the scene rendered at \
                p_from + t·(p_to − p_from) over every free parameter (periodic ones the short way round), t = graph \
                length so far / total length; rendered with the render's fixed parameters and options at the \
                collection's size, quantised to 8 bits",
        })
    }
}

/// Renders the true path at each frame (`positions` in edge units of a path with `steps`) and compares it with
/// `frames`. `columns[c]` = (free parameter c of `source` per row of the collection, its period) (`ends`: the
/// endpoint rows), `label` the class of scenes with classes.
pub fn render_true_path(
    source: &RenderSource,
    columns: &[(&[f64], f64)],
    label: Option<usize>,
    ends: (usize, usize),
    steps: &[f64],
    positions: &[f64],
    frames: &[&Array3<f32>],
) -> std::result::Result<RenderedTruth, String> {
    let (a, b) = ends;
    let params_at: Vec<Vec<f64>> = positions
        .iter()
        .map(|&pos| {
            let t = fraction_at(steps, pos);
            columns.iter().map(|&(v, p)| v[a] + t * wrap(v[b] - v[a], p)).collect()
        })
        .collect();
    let images: Vec<Array3<f32>> = params_at
        .par_iter()
        .zip(frames.par_iter())
        .map(|(vals, frame)| {
            let mut p = source.base.clone();
            p.label = label.or(p.label);
            for ((_, i), &x) in source.free.iter().zip(vals) {
                p.values[*i] = x;
            }
            let (h, w, c) = frame.dim();
            let opts = RenderOptions { width: w, height: h, ..source.options.clone() };
            let img = scene_render::render(&source.scene, &p, &opts).map_err(|e| e.to_string())?.image;
            Ok(as_loaded(img, c))
        })
        .collect::<std::result::Result<_, String>>()?;
    let rmse = images
        .iter()
        .zip(frames)
        .map(|(t, f)| {
            let n = t.len().max(1) as f64;
            (t.iter().zip(f.iter()).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum::<f64>() / n).sqrt()
        })
        .collect();
    let parameters = source.free.iter().zip(columns).map(|((n, _), &(_, p))| (n.clone(), p)).collect();
    Ok(RenderedTruth { parameters, values: params_at, images, rmse })
}

/// A rendered image as the loader reads the folder's PNG of it with `channels` channels: quantised to 8 bits per
/// channel, then BT.601 luma for one channel or grey repeated for three.
fn as_loaded(mut img: Array3<f32>, channels: usize) -> Array3<f32> {
    pixels::quantize(img.iter_mut());
    let (h, w, c) = img.dim();
    match (c, channels) {
        (3, 1) => {
            Array3::from_shape_fn((h, w, 1), |(y, x, _)| pixels::luma(img[[y, x, 0]], img[[y, x, 1]], img[[y, x, 2]]))
        }
        (1, 3) => Array3::from_shape_fn((h, w, 3), |(y, x, _)| img[[y, x, 0]]),
        _ => img,
    }
}
