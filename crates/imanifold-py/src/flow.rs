//! `flow`: dense optical flow of `optical_flow` between two grey frames (arrays, or image files read as the CLI's
//! `imanifold flow A B` reads them).

use std::path::PathBuf;

use numpy::{IntoPyArray, PyArray3, PyReadonlyArray2};
use optical_flow::{FlowError, FlowParams};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;

use crate::{chain, compute};

fn flow_error(e: FlowError) -> PyErr {
    let msg = chain(&e);
    match e {
        FlowError::ReadImage { .. } | FlowError::ReadFlow { .. } | FlowError::Output(_) => PyOSError::new_err(msg),
        _ => PyValueError::new_err(msg),
    }
}

fn params(method: &str) -> PyResult<FlowParams> {
    FlowParams::from_name(method).map_err(flow_error)
}

/// Flow from `a` to `b` (grey h×w, values in [0, 1]): float32 (h, w, 2), u right then v down,
/// `b(x + flow(x)) ≈ a(x)`.
#[pyfunction]
#[pyo3(signature = (a, b, method, threads=None))]
fn flow_arrays<'py>(
    py: Python<'py>,
    a: PyReadonlyArray2<'py, f32>,
    b: PyReadonlyArray2<'py, f32>,
    method: &str,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray3<f32>>> {
    let params = params(method)?;
    let (a, b) = (a.as_array(), b.as_array());
    let flow = compute(py, threads, || optical_flow::compute_flow(a, b, &params))?.map_err(flow_error)?;
    Ok(flow.into_pyarray(py))
}

/// Flow between two image files, as `imanifold flow A B --method M` ([`optical_flow::flow_pair`]).
#[pyfunction]
#[pyo3(signature = (a, b, method, threads=None))]
fn flow_files<'py>(
    py: Python<'py>,
    a: PathBuf,
    b: PathBuf,
    method: &str,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray3<f32>>> {
    let params = params(method)?;
    let report = compute(py, threads, || optical_flow::flow_pair(&a, &b, None, &params))?.map_err(flow_error)?;
    Ok(report.flow.into_pyarray(py))
}

/// Every method name `flow` accepts.
#[pyfunction]
fn flow_methods() -> Vec<&'static str> {
    optical_flow::method_names()
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(flow_arrays, m)?)?;
    m.add_function(wrap_pyfunction!(flow_files, m)?)?;
    m.add_function(wrap_pyfunction!(flow_methods, m)?)
}
