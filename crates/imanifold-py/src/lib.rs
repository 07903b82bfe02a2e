//! `imanifold._imanifold`: the compiled half of the `imanifold` Python package. Glue only: numpy arrays are borrowed
//! (float32, C-contiguous: no copy; the Python half converts anything else once), the GIL is released and a rayon
//! pool of `threads` workers runs the library call, library errors become Python exceptions carrying the message
//! and its causes (each once), and a Rust panic becomes `RuntimeError` instead of aborting the interpreter.

use std::error::Error;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::ArrayView2;
use numpy::PyReadonlyArray2;
use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

mod classifier;
mod dask_support;
mod flow;
mod geodesic;
mod id;
mod load;
mod neighbors;
mod render;
mod score;

/// Largest `threads=` accepted (as the CLI's `--threads`).
const MAX_THREADS: usize = 1024;

/// Address of the last input matrix a compiled function read (see [`last_input_pointer`]).
static LAST_INPUT: AtomicUsize = AtomicUsize::new(0);

/// The message of an error followed by its causes, each once (a cause whose text the message already ends with is
/// not repeated).
pub(crate) fn chain(e: &(dyn Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !msg.ends_with(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        cause = c.source();
    }
    msg
}

pub(crate) fn value_error(e: &(dyn Error + 'static)) -> PyErr {
    PyValueError::new_err(chain(e))
}

pub(crate) fn dataset_error(e: dataset::DatasetError) -> PyErr {
    use dataset::DatasetError as E;
    let msg = chain(&e);
    match e {
        E::NotFound { .. } => PyFileNotFoundError::new_err(msg),
        E::Io { .. } | E::Decode { .. } | E::EmptyFolder { .. } | E::UnknownFormat { .. } => PyOSError::new_err(msg),
        _ => PyValueError::new_err(msg),
    }
}

/// Runs `f` without the GIL on a rayon pool of `threads` workers (`None`: all cores); a panic inside becomes
/// `RuntimeError`.
pub(crate) fn compute<T: Send>(py: Python<'_>, threads: Option<usize>, f: impl FnOnce() -> T + Send) -> PyResult<T> {
    if let Some(t) = threads {
        if !(1..=MAX_THREADS).contains(&t) {
            return Err(PyValueError::new_err(format!(
                "threads = {t}: must be between 1 and {MAX_THREADS} (None: all cores)"
            )));
        }
    }
    let outcome = py.detach(|| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.unwrap_or(0))
            .build()
            .map_err(|e| format!("cannot start {} worker threads: {e}", threads.unwrap_or(0)))?;
        catch_unwind(AssertUnwindSafe(|| pool.install(f))).map_err(|payload| {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic payload".into());
            format!("internal error in imanifold (a Rust panic): {what}")
        })
    });
    outcome.map_err(PyRuntimeError::new_err)
}

/// The matrix behind a float32 numpy array (no copy); remembers its address for [`last_input_pointer`].
pub(crate) fn matrix<'a>(x: &'a PyReadonlyArray2<'_, f32>) -> ArrayView2<'a, f32> {
    let view = x.as_array();
    LAST_INPUT.store(view.as_ptr() as usize, Ordering::Relaxed);
    view
}

/// Debug aid: address of the data of the last input matrix a compiled function read (compare with
/// `X.__array_interface__["data"][0]` to check that no copy was made).
#[pyfunction]
fn last_input_pointer() -> usize {
    LAST_INPUT.load(Ordering::Relaxed)
}

/// Debug aid: panics inside the compiled code (checks that a panic surfaces as `RuntimeError`).
#[pyfunction]
#[pyo3(signature = (threads=None))]
fn debug_panic(py: Python<'_>, threads: Option<usize>) -> PyResult<()> {
    compute(py, threads, || -> () { panic!("debug_panic was called") })
}

#[pymodule]
fn _imanifold(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(last_input_pointer, m)?)?;
    m.add_function(wrap_pyfunction!(debug_panic, m)?)?;
    load::register(m)?;
    neighbors::register(m)?;
    id::register(m)?;
    flow::register(m)?;
    score::register(m)?;
    render::register(m)?;
    geodesic::register(m)?;
    classifier::register(m)?;
    dask_support::register(m)?;
    Ok(())
}
