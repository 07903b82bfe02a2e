//! `kneighbors`: the `knn` engine, exact Euclidean distances.

use knn::{KnnOptions, Strategy};
use ndarray::{Array2, Axis};
use numpy::{IntoPyArray, PyArray2, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use rayon::prelude::*;

use crate::{compute, matrix, value_error};

type Pair<'py> = (Bound<'py, PyArray2<f32>>, Bound<'py, PyArray2<i64>>);

/// The `k` nearest rows of `reference` for every row of `query` (`query=None`: every reference row among the
/// others, itself excluded). Returns (distances float32, indices int64), nearest first, ties by smaller index.
/// `ef_search`, `ef_construction`, `approx_dims` and `seed` steer `strategy="approx"` (the `neighbors` command's
/// `--ef-search`, `--ef-construction`, `--approx-dims`, `--seed`; same values, same neighbours).
#[pyfunction]
#[pyo3(signature = (reference, query, k, strategy="auto", threads=None, ef_search=knn::DEFAULT_EF_SEARCH,
                    ef_construction=knn::DEFAULT_EF_CONSTRUCTION, approx_dims=knn::DEFAULT_APPROX_DIMS, seed=0))]
#[allow(clippy::too_many_arguments)] // the Python signature
fn kneighbors<'py>(
    py: Python<'py>,
    reference: PyReadonlyArray2<'py, f32>,
    query: Option<PyReadonlyArray2<'py, f32>>,
    k: usize,
    strategy: &str,
    threads: Option<usize>,
    ef_search: usize,
    ef_construction: usize,
    approx_dims: usize,
    seed: u64,
) -> PyResult<Pair<'py>> {
    let opts = KnnOptions {
        strategy: strategy.parse::<Strategy>().map_err(PyValueError::new_err)?,
        ef_search,
        ef_construction,
        approx_dims,
        seed,
        ..KnnOptions::default()
    };
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

/// The engine's exact squared distances (f64, the values it orders candidates by) of `query` row i to `reference`
/// row `indices[i, c]` (`query=None`: the reference rows themselves). Merging partial top-k lists by (this value,
/// index) reproduces the engine's order bit for bit, where the float32 distances alone can tie.
#[pyfunction]
#[pyo3(signature = (reference, query, indices, threads=None))]
fn exact_sq_distances<'py>(
    py: Python<'py>,
    reference: PyReadonlyArray2<'py, f32>,
    query: Option<PyReadonlyArray2<'py, f32>>,
    indices: PyReadonlyArray2<'py, i64>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let r = matrix(&reference);
    let q = query.as_ref().map(matrix).unwrap_or(r);
    let ind = indices.as_array();
    if ind.nrows() != q.nrows() {
        return Err(PyValueError::new_err(format!("indices has {} rows but the query has {}", ind.nrows(), q.nrows())));
    }
    if q.ncols() != r.ncols() {
        return Err(PyValueError::new_err(format!(
            "query has {} columns but the reference has {}",
            q.ncols(),
            r.ncols()
        )));
    }
    if let Some(&bad) = ind.iter().find(|&&j| j < 0 || j as usize >= r.nrows()) {
        return Err(PyValueError::new_err(format!(
            "index {bad} is out of range for a reference of {} rows",
            r.nrows()
        )));
    }
    let out = compute(py, threads, || {
        let (r, q) = (r.as_standard_layout(), q.as_standard_layout());
        let mut out = Array2::<f64>::zeros(ind.raw_dim());
        out.axis_iter_mut(Axis(0)).into_par_iter().enumerate().for_each(|(i, mut row)| {
            let qi = q.row(i);
            let qi = qi.as_slice().expect("standard layout");
            for (o, &j) in row.iter_mut().zip(ind.row(i)) {
                *o = knn::exact_d2(qi, r.row(j as usize).as_slice().expect("standard layout"));
            }
        });
        out
    })?;
    Ok(out.into_pyarray(py))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("KNN_DEFAULT_EF_SEARCH", knn::DEFAULT_EF_SEARCH)?;
    m.add("KNN_DEFAULT_EF_CONSTRUCTION", knn::DEFAULT_EF_CONSTRUCTION)?;
    m.add("KNN_DEFAULT_APPROX_DIMS", knn::DEFAULT_APPROX_DIMS)?;
    m.add_function(wrap_pyfunction!(kneighbors, m)?)?;
    m.add_function(wrap_pyfunction!(exact_sq_distances, m)?)
}
