//! `render`: image sets of a scene in memory ([`scene_render::sample_parameters`] + [`scene_render::render_set`]),
//! the same images `imanifold render` writes (its `images.npy`, unquantised).

use ndarray::{Array2, Array3, Array4};
use numpy::{IntoPyArray, PyArray2, PyArray3, PyArray4};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use rayon::prelude::*;
use scene_render::{ColorMode, RenderError, RenderOptions, Sampling, Scene};

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

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(render, m)?)
}
