//! `load`: `dataset::load` with the CLI's input options.

use std::path::PathBuf;

use dataset::{ColorMode, Column, LoadOptions};
use numpy::IntoPyArray;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::{compute, dataset_error};

/// The CLI's input options (`--gray`, `--rgb`, `--resize`, `--limit`, `--sample`, `--seed`, `--recursive`), passed
/// from Python as one dict (`imanifold._util.input_options`): every binding that reads a collection takes them so.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub(crate) struct InputOptions {
    gray: bool,
    rgb: bool,
    resize: Option<(u32, u32)>,
    limit: Option<usize>,
    sample: Option<usize>,
    pub(crate) seed: u64,
    recursive: bool,
}

impl InputOptions {
    /// The loaders' options.
    pub(crate) fn options(&self) -> PyResult<LoadOptions> {
        let color = ColorMode::from_switches(self.gray, self.rgb)
            .ok_or_else(|| PyValueError::new_err("gray and rgb exclude each other"))?;
        Ok(LoadOptions {
            color,
            resize: self.resize,
            limit: self.limit,
            sample: self.sample,
            seed: self.seed,
            recursive: self.recursive,
        })
    }

    /// Loads the collection at `path` with these options.
    pub(crate) fn load(&self, path: &std::path::Path) -> PyResult<dataset::Dataset> {
        dataset::load(path, &self.options()?).map_err(dataset_error)
    }
}

/// Manifest columns as a dict: numeric ones as float64 arrays, text ones as lists.
fn columns_dict(py: Python<'_>, columns: Vec<(String, Column)>) -> PyResult<Bound<'_, PyDict>> {
    let out = PyDict::new(py);
    for (name, col) in columns {
        match col {
            Column::Numeric(v) => out.set_item(name, v.into_pyarray(py))?,
            Column::Text(v) => out.set_item(name, PyList::new(py, v)?)?,
        }
    }
    Ok(out)
}

/// Reads an image folder, render output, .npy or MNIST IDX(.gz) file (`imanifold.load` wraps the dict in a
/// `Dataset`): keys `data` (n × d float32), `image_shape` ((h, w, c) or None), `ids`, `columns`, `source`.
#[pyfunction]
#[pyo3(signature = (path, input, threads=None))]
fn load<'py>(
    py: Python<'py>,
    path: PathBuf,
    input: InputOptions,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let opts = input.options()?;
    let ds = compute(py, threads, || dataset::load(&path, &opts))?.map_err(dataset_error)?;
    let out = PyDict::new(py);
    let shape = ds.shape.map(|s| (s.height, s.width, s.channels));
    out.set_item("image_shape", shape)?;
    out.set_item("ids", PyList::new(py, &ds.ids)?)?;
    out.set_item("columns", columns_dict(py, ds.columns)?)?;
    out.set_item("source", ds.source.display().to_string())?;
    out.set_item("data", ds.data.into_owned().into_pyarray(py))?;
    Ok(out)
}

/// The rows of an image folder, not decoded ([`dataset::list_image_rows`]) and how they decode
/// ([`dataset::DecodeSpec`] of the first image): keys `files` (absolute paths in load order), `ids`, `columns`,
/// `source`, `image_shape` (h, w, c) and `spec` (the arguments of `load_image_files` besides the files).
#[pyfunction]
#[pyo3(signature = (path, input))]
fn image_rows<'py>(py: Python<'py>, path: PathBuf, input: InputOptions) -> PyResult<Bound<'py, PyDict>> {
    let opts = input.options()?;
    let (rows, spec) = py
        .detach(|| {
            let rows = dataset::list_image_rows(&path, &opts)?;
            let spec = dataset::DecodeSpec::from_first(&rows.files[0], &opts)?;
            Ok::<_, dataset::DatasetError>((rows, spec))
        })
        .map_err(dataset_error)?;
    let out = PyDict::new(py);
    let abs = |p: &PathBuf| std::path::absolute(p).unwrap_or_else(|_| p.clone()).display().to_string();
    out.set_item("files", PyList::new(py, rows.files.iter().map(abs))?)?;
    out.set_item("ids", PyList::new(py, &rows.ids)?)?;
    out.set_item("columns", columns_dict(py, rows.columns)?)?;
    out.set_item("source", rows.source.display().to_string())?;
    let shape = spec.shape();
    out.set_item("image_shape", (shape.height, shape.width, shape.channels))?;
    let s = PyDict::new(py);
    s.set_item("first", abs(&spec.first))?;
    s.set_item("first_size", spec.first_size)?;
    s.set_item("first_bytes_per_pixel", spec.first_bytes_per_pixel)?;
    s.set_item("channels", spec.channels)?;
    s.set_item("resize", spec.resize)?;
    out.set_item("spec", s)?;
    Ok(out)
}

/// Decodes `files` (a range of `image_rows(...)["files"]`) with that folder's spec: the rows `load` gives for them,
/// n × d float32.
#[pyfunction]
#[pyo3(signature = (files, first, first_size, first_bytes_per_pixel, channels, resize=None, threads=None))]
#[allow(clippy::too_many_arguments)] // the fields of the decode spec
fn load_image_files<'py>(
    py: Python<'py>,
    files: Vec<PathBuf>,
    first: PathBuf,
    first_size: (u32, u32),
    first_bytes_per_pixel: u32,
    channels: usize,
    resize: Option<(u32, u32)>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, numpy::PyArray2<f32>>> {
    if channels != 1 && channels != 3 {
        return Err(PyValueError::new_err(format!("channels = {channels}: must be 1 or 3")));
    }
    if files.is_empty() {
        return Err(PyValueError::new_err("files: an empty range"));
    }
    let spec = dataset::DecodeSpec { first, first_size, first_bytes_per_pixel, channels, resize };
    let data = compute(py, threads, || dataset::decode_image_range(&files, &spec))?.map_err(dataset_error)?;
    Ok(data.into_pyarray(py))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(image_rows, m)?)?;
    m.add_function(wrap_pyfunction!(load_image_files, m)?)?;
    m.add_function(wrap_pyfunction!(load, m)?)
}
