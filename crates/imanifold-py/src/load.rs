//! `load`: `dataset::load` with the CLI's input options.

use std::path::PathBuf;

use dataset::{ColorMode, Column, LoadOptions};
use numpy::IntoPyArray;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::{compute, dataset_error};

/// The loaders' options from the CLI's input flags.
pub(crate) fn load_options(
    gray: bool,
    rgb: bool,
    resize: Option<(u32, u32)>,
    limit: Option<usize>,
    sample: Option<usize>,
    seed: u64,
    recursive: bool,
) -> PyResult<LoadOptions> {
    let color = match (gray, rgb) {
        (true, true) => return Err(PyValueError::new_err("gray and rgb exclude each other")),
        (true, false) => ColorMode::Gray,
        (false, true) => ColorMode::Rgb,
        (false, false) => ColorMode::Auto,
    };
    Ok(LoadOptions { color, resize, limit, sample, seed, recursive })
}

/// Reads an image folder, render output, .npy or MNIST IDX(.gz) file (`imanifold.load` wraps the dict in a
/// `Dataset`): keys `data` (n × d float32), `image_shape` ((h, w, c) or None), `ids`, `columns`, `source`.
#[pyfunction]
#[pyo3(signature = (path, gray=false, rgb=false, resize=None, limit=None, sample=None, seed=0, recursive=false,
                    threads=None))]
#[allow(clippy::too_many_arguments)] // one argument per CLI input option
fn load<'py>(
    py: Python<'py>,
    path: PathBuf,
    gray: bool,
    rgb: bool,
    resize: Option<(u32, u32)>,
    limit: Option<usize>,
    sample: Option<usize>,
    seed: u64,
    recursive: bool,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let opts = load_options(gray, rgb, resize, limit, sample, seed, recursive)?;
    let ds = compute(py, threads, || dataset::load(&path, &opts))?.map_err(dataset_error)?;
    let out = PyDict::new(py);
    let shape = ds.shape.map(|s| (s.height, s.width, s.channels));
    out.set_item("image_shape", shape)?;
    out.set_item("ids", PyList::new(py, &ds.ids)?)?;
    let columns = PyDict::new(py);
    for (name, col) in ds.columns {
        match col {
            Column::Numeric(v) => columns.set_item(name, v.into_pyarray(py))?,
            Column::Text(v) => columns.set_item(name, PyList::new(py, v)?)?,
        }
    }
    out.set_item("columns", columns)?;
    out.set_item("source", ds.source.display().to_string())?;
    out.set_item("data", ds.data.into_pyarray(py))?;
    Ok(out)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(load, m)?)
}
