//! `render`: image sets of a scene in memory ([`scene_render::sample_parameters`] + [`scene_render::render_set`]),
//! the same images `imanifold render` writes (its `images.npy`, unquantised); renders by index ranges into a folder
//! ([`scene_render::render_range_to_dir`]) for `imanifold.dask.render`.

use std::path::PathBuf;

use ndarray::{Array2, Array3, Array4};
use numpy::{IntoPyArray, PyArray2, PyArray3, PyArray4};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use rayon::prelude::*;
use scene_render::{ColorMode, RenderError, RenderOptions, RenderRequest, Sampling, Scene};

use crate::{chain, compute};

fn render_error(e: RenderError) -> PyErr {
    let msg = chain(&e);
    match e {
        RenderError::Output(_) => PyOSError::new_err(msg),
        _ => PyValueError::new_err(msg),
    }
}

/// The ground-truth flow between consecutive images: (n − 1, h, w, 2) float32 and its validity (n − 1, h, w).
type Flows<'py> = (Bound<'py, PyArray4<f32>>, Bound<'py, PyArray3<bool>>);

type Rendered<'py> = (
    Bound<'py, PyArray4<f32>>,
    Vec<String>,
    Bound<'py, PyArray2<f64>>,
    Option<Bound<'py, PyArray4<f32>>>,
    Option<Flows<'py>>,
);

/// Renders `n` images of `scene` (built-in name or .toml path) varying `vary`: images float32 (n, h, w, c) in
/// [0, 1], the varied parameter names, their values (n, p) float64, depth (n, h, w, 1) when asked, and with `flow`
/// the ground-truth flow from each image to the next ([`scene_render::true_flow`], trajectory sampling only, as
/// `imanifold render --flow`) with its validity mask.
#[pyfunction]
#[pyo3(signature = (scene, vary, n, width, height, sampling, seed, ssaa, blur, gray, depth, flow=false, threads=None))]
#[allow(clippy::too_many_arguments)] // the CLI's `render` options
fn render<'py>(
    py: Python<'py>,
    scene: &str,
    vary: Vec<String>,
    n: usize,
    width: usize,
    height: usize,
    sampling: &str,
    seed: u64,
    ssaa: usize,
    blur: f32,
    gray: bool,
    depth: bool,
    flow: bool,
    threads: Option<usize>,
) -> PyResult<Rendered<'py>> {
    let sampling: Sampling = sampling.parse().map_err(|e: String| PyValueError::new_err(e))?;
    if flow && sampling != Sampling::Trajectory {
        return Err(PyValueError::new_err(
            "flow between consecutive images needs trajectory sampling (sampling=\"trajectory\")",
        ));
    }
    let scene = Scene::load(scene).map_err(render_error)?;
    let vary: Vec<String> = vary.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    let color = if gray { ColorMode::Gray } else { ColorMode::Rgb };
    let opts = RenderOptions { width, height, ssaa, blur, color, depth };
    let idx = scene_render::resolve_vary(&scene, &vary).map_err(render_error)?;
    let names: Vec<String> = idx.iter().map(|&i| scene.parameters()[i].name.clone()).collect();
    let (params, images, flows) = compute(py, threads, || {
        let params = scene_render::sample_parameters(&scene, &vary, n, sampling, seed)?;
        let images = scene_render::render_set(&scene, &params, &opts)?;
        let flows = if flow {
            let pairs = scene_render::consecutive_pairs(params.len());
            let one = |&(a, b): &(usize, usize)| scene_render::true_flow(&scene, &params[a], &params[b], &opts);
            pairs.par_iter().map(one).collect::<Result<Vec<_>, _>>()?
        } else {
            Vec::new()
        };
        Ok::<_, RenderError>((params, images, flows))
    })?
    .map_err(render_error)?;
    let c = color.channels();
    let m = images.len();
    let mut out = Array4::<f32>::zeros((m, height, width, c));
    let mut depths = depth.then(|| Array4::<f32>::zeros((m, height, width, 1)));
    for (i, img) in images.iter().enumerate() {
        out.slice_mut(ndarray::s![i, .., .., ..]).assign(&img.image);
        if let (Some(d), Some(src)) = (depths.as_mut(), img.depth.as_ref()) {
            d.slice_mut(ndarray::s![i, .., .., 0]).assign(src);
        }
    }
    let values = Array2::from_shape_fn((m, idx.len()), |(i, j)| params[i].values[idx[j]]);
    let flows = flow.then(|| {
        let mut f = Array4::<f32>::zeros((flows.len(), height, width, 2));
        let mut valid = Array3::<bool>::from_elem((flows.len(), height, width), false);
        for (i, field) in flows.iter().enumerate() {
            f.slice_mut(ndarray::s![i, .., .., ..]).assign(&field.flow);
            valid.slice_mut(ndarray::s![i, .., ..]).assign(&field.valid);
        }
        (f.into_pyarray(py), valid.into_pyarray(py))
    });
    Ok((out.into_pyarray(py), names, values.into_pyarray(py), depths.map(|d| d.into_pyarray(py)), flows))
}

/// A render by index ranges, as `imanifold.dask.render` passes it: the CLI's `render` options in one dict (keys
/// `scene`, `vary`, `n`, `width`, `height`, `sampling`, `seed`, `ssaa`, `blur`, `gray`, `depth`, `set`).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct RangeRequest {
    scene: String,
    vary: Vec<String>,
    n: usize,
    width: usize,
    height: usize,
    sampling: String,
    seed: u64,
    ssaa: usize,
    blur: f32,
    gray: bool,
    depth: bool,
    set: Vec<String>,
}

impl RangeRequest {
    /// The scene (its defaults set by `set`, `NAME=VALUE` as `imanifold render --set`) and the library's request
    /// (images and, with `depth`, depth maps; no images.npy, no flow).
    fn resolve(self) -> PyResult<(Scene, RenderRequest)> {
        let sampling: Sampling = self.sampling.parse().map_err(|e: String| PyValueError::new_err(e))?;
        let mut scene = Scene::load(&self.scene).map_err(render_error)?;
        scene_render::check_fixed_not_varied(&self.set, &self.vary).map_err(render_error)?;
        scene_render::apply_defaults(&mut scene, &self.set).map_err(render_error)?;
        let color = if self.gray { ColorMode::Gray } else { ColorMode::Rgb };
        let options = RenderOptions {
            width: self.width,
            height: self.height,
            ssaa: self.ssaa,
            blur: self.blur,
            color,
            depth: false,
        };
        let request = RenderRequest {
            vary: self.vary,
            n: self.n,
            sampling,
            seed: self.seed,
            options,
            consecutive_flow: false,
            flow_pairs: Vec::new(),
            npy: false,
            depth: self.depth,
            force: false,
        };
        Ok((scene, request))
    }
}

/// Number of images of a render request ([`scene_render::render_count`]; raises for what `imanifold render`
/// refuses).
#[pyfunction]
fn render_count(request: RangeRequest) -> PyResult<usize> {
    let (scene, request) = request.resolve()?;
    scene_render::render_count(&scene, &request).map_err(render_error)
}

/// Renders images `start..end` of a request into the folder `dir` ([`scene_render::render_range_to_dir`]): the
/// files `imanifold render` writes for them. Returns the seconds spent.
#[pyfunction]
#[pyo3(signature = (dir, request, start, end, threads=None))]
fn render_range(
    py: Python<'_>,
    dir: PathBuf,
    request: RangeRequest,
    start: usize,
    end: usize,
    threads: Option<usize>,
) -> PyResult<f64> {
    let (scene, request) = request.resolve()?;
    compute(py, threads, || scene_render::render_range_to_dir(&dir, &scene, &request, start..end))?
        .map_err(render_error)
}

/// Completes a folder rendered by `render_range` ([`scene_render::finish_range_dir`]: every image present,
/// `manifest.csv`, `render.json`). Returns the `render.json` text.
#[pyfunction]
fn render_finish(py: Python<'_>, dir: PathBuf, request: RangeRequest, render_seconds: f64) -> PyResult<String> {
    let (scene, request) = request.resolve()?;
    let summary = py.detach(|| scene_render::finish_range_dir(&dir, &scene, &request, render_seconds));
    Ok(summary.map_err(render_error)?.results.to_string())
}

/// An output folder written as a whole ([`output::StagedDir`]): files go to `path` (a hidden sibling of the
/// target) until `commit()` renames it into place; `discard()` (or garbage collection before `commit()`) removes
/// it. The target must not exist, or be an empty folder.
#[pyclass(module = "imanifold._imanifold")]
struct StagedDir {
    inner: Option<output::StagedDir>,
}

fn output_error(e: output::OutputError) -> PyErr {
    let msg = chain(&e);
    match e {
        output::OutputError::Destination { .. } => PyValueError::new_err(msg),
        _ => PyOSError::new_err(msg),
    }
}

#[pymethods]
impl StagedDir {
    #[new]
    fn new(target: PathBuf) -> PyResult<Self> {
        Ok(StagedDir { inner: Some(output::StagedDir::new(&target).map_err(output_error)?) })
    }

    /// The staging folder.
    #[getter]
    fn path(&self) -> PyResult<PathBuf> {
        match &self.inner {
            Some(s) => Ok(s.path().to_path_buf()),
            None => Err(PyValueError::new_err("the staged folder was already committed or discarded")),
        }
    }

    /// Renames the staging folder into place.
    fn commit(&mut self) -> PyResult<()> {
        match self.inner.take() {
            Some(s) => s.commit().map_err(output_error),
            None => Err(PyValueError::new_err("the staged folder was already committed or discarded")),
        }
    }

    /// Removes the staging folder (nothing is left behind).
    fn discard(&mut self) {
        self.inner = None;
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(render_count, m)?)?;
    m.add_function(wrap_pyfunction!(render_range, m)?)?;
    m.add_function(wrap_pyfunction!(render_finish, m)?)?;
    m.add_class::<StagedDir>()?;
    m.add_function(wrap_pyfunction!(render, m)?)
}
