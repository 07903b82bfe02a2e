//! `kneighbors`: the `knn` engine, exact Euclidean distances.

use knn::{KnnOptions, Strategy};
use numpy::{IntoPyArray, PyArray2, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::{compute, matrix, value_error};

type Pair<'py> = (Bound<'py, PyArray2<f32>>, Bound<'py, PyArray2<i64>>);

/// The `k` nearest rows of `reference` for every row of `query` (`query=None`: every reference row among the
/// others, itself excluded). Returns (distances float32, indices int64), nearest first, ties by smaller index.
#[pyfunction]
#[pyo3(signature = (reference, query, k, strategy="auto", threads=None))]
fn kneighbors<'py>(
    py: Python<'py>,
    reference: PyReadonlyArray2<'py, f32>,
    query: Option<PyReadonlyArray2<'py, f32>>,
    k: usize,
    strategy: &str,
    threads: Option<usize>,
) -> PyResult<Pair<'py>> {
    let opts =
        KnnOptions { strategy: strategy.parse::<Strategy>().map_err(PyValueError::new_err)?, ..KnnOptions::default() };
    let r = matrix(&reference);
    let q = query.as_ref().map(matrix);
    let nb = compute(py, threads, || match q {
        None => knn::knn_self_with(r, k, &opts),
        Some(q) => knn::knn_query_with(r, q, k, &opts),
    })?
    .map_err(|e| value_error(&e))?;
    let indices = nb.indices.mapv(|i| i as i64);
    Ok((nb.distances.into_pyarray(py), indices.into_pyarray(py)))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(kneighbors, m)?)
}
