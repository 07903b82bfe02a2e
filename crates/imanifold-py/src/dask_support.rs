//! Kernels behind `imanifold.dask.dimension` (the Python half only schedules them): the run's plan (labels, which
//! specs are global PCA, neighbour columns needed), the estimators on a gathered neighbour table
//! ([`Session::run_neighbors`]), and global PCA from block moments combined by a tree
//! ([`intrinsic_dim::moments`]): both bit for bit what `imanifold.id.estimate` gives on the concatenated rows.
//! Kernels behind `imanifold.dask.score`: the pieces [`off_manifold::score`] is made of (its plan and checks, the
//! calibration table, the scores of a block of images from its neighbour lists and the rows they name, the
//! percentiles), so the sharded scores are those of `imanifold.score` by construction.

use std::collections::HashMap;
use std::str::FromStr;

use intrinsic_dim::moments::{self, ColumnSums, Scatter};
use intrinsic_dim::{DimOptions, Report, Scales, Session, Source};
use ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use off_manifold::{Block, CalibrationTable, DimChoice, Method, MethodList, ScoreOptions, TangentDim};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::{json, Value};

use crate::{compute, matrix, value_error};

fn options(
    estimators: Vec<String>,
    n_neighbors: Option<usize>,
    k_range: Option<(usize, usize)>,
    bootstrap: usize,
    seed: u64,
) -> PyResult<DimOptions> {
    let scales = match k_range {
        None => None,
        Some((a, b)) => {
            Some(Scales::from_str(&format!("{a}:{b}")).map_err(|e| PyValueError::new_err(format!("k_range: {e}")))?)
        }
    };
    Ok(DimOptions { estimators, k: n_neighbors, scales, bootstrap, seed, ..DimOptions::default() })
}

fn session(opts: &DimOptions) -> PyResult<Session> {
    Session::new(opts).map_err(|e| value_error(&e))
}

/// The run's plan as JSON: `labels` (as `imanifold.id.estimate`), `pca` (per spec: null, or `{"center": bool}` for
/// the global PCA estimators computed from moments), `k_needed` (neighbour columns the other specs read; 0 when
/// there are none) and `k_computed` (the whole run's, as reported by `imanifold.id.estimate`). Raises for the
/// options `imanifold.id.estimate` refuses.
#[pyfunction]
#[pyo3(signature = (estimators, n_neighbors=None, k_range=None))]
fn dimension_plan(
    estimators: Vec<String>,
    n_neighbors: Option<usize>,
    k_range: Option<(usize, usize)>,
) -> PyResult<String> {
    let all = session(&options(estimators.clone(), n_neighbors, k_range, 0, 0)?)?;
    let pca = estimators
        .iter()
        .map(|s| {
            let p = moments::pca_estimator(s).map_err(|e| value_error(&e))?;
            Ok(p.map_or(Value::Null, |p| json!({"center": p.center})))
        })
        .collect::<PyResult<Vec<Value>>>()?;
    let rest: Vec<String> = estimators.iter().zip(&pca).filter(|(_, p)| p.is_null()).map(|(s, _)| s.clone()).collect();
    let k_needed = if rest.is_empty() { 0 } else { session(&options(rest, n_neighbors, k_range, 0, 0)?)?.k_needed() };
    Ok(json!({"labels": all.labels(), "pca": pca, "k_needed": k_needed, "k_computed": all.k_needed()}).to_string())
}

/// The estimators (none of them global PCA) on a neighbour table of `d`-column data: `distances` float32 and
/// `indices` int64, n × k (self excluded, nearest first), as `imanifold.id.estimate` on the data. Returns its JSON
/// entries.
#[pyfunction]
#[pyo3(signature = (distances, indices, d, estimators, n_neighbors=None, k_range=None, bootstrap=0, seed=0,
                    threads=None))]
#[allow(clippy::too_many_arguments)] // the table and `imanifold.id.estimate`'s options
fn estimate_from_neighbors(
    py: Python<'_>,
    distances: PyReadonlyArray2<'_, f32>,
    indices: PyReadonlyArray2<'_, i64>,
    d: usize,
    estimators: Vec<String>,
    n_neighbors: Option<usize>,
    k_range: Option<(usize, usize)>,
    bootstrap: usize,
    seed: u64,
    threads: Option<usize>,
) -> PyResult<String> {
    let s = session(&options(estimators, n_neighbors, k_range, bootstrap, seed)?)?;
    let ind = indices.as_array();
    if let Some(&bad) = ind.iter().find(|&&j| j < 0) {
        return Err(PyValueError::new_err(format!("indices: negative index {bad}")));
    }
    let nb = knn::Neighbors {
        indices: ind.mapv(|j| j as usize),
        distances: distances.as_array().to_owned(),
        duplicate_rows: 0,
    };
    let report = compute(py, threads, || s.run_neighbors(nb, d, Source::default()))?.map_err(|e| value_error(&e))?;
    Ok(Value::Array(crate::id::entries(&report)).to_string())
}

type Sums<'py> = (usize, Bound<'py, PyArray1<f64>>);
type Scat<'py> = (usize, Bound<'py, PyArray2<f64>>);

/// (rows, column sums) of one canonical block of rows.
#[pyfunction]
fn block_column_sums<'py>(py: Python<'py>, x: PyReadonlyArray2<'py, f32>) -> Sums<'py> {
    let s = moments::block_column_sums(matrix(&x));
    (s.rows, s.sums.into_pyarray(py))
}

/// Partial (rows, column sums) added left to right.
#[pyfunction]
fn combine_column_sums<'py>(py: Python<'py>, parts: Vec<(usize, PyReadonlyArray1<'py, f64>)>) -> PyResult<Sums<'py>> {
    let parts: Vec<ColumnSums> =
        parts.iter().map(|(rows, s)| ColumnSums { rows: *rows, sums: s.as_array().to_vec() }).collect();
    let s = moments::combine_sums(&parts).map_err(|e| value_error(&e))?;
    Ok((s.rows, s.sums.into_pyarray(py)))
}

/// Column means from the combined (rows, column sums).
#[pyfunction]
fn column_means<'py>(py: Python<'py>, rows: usize, sums: PyReadonlyArray1<'py, f64>) -> Bound<'py, PyArray1<f64>> {
    moments::mean(&ColumnSums { rows, sums: sums.as_array().to_vec() }).into_pyarray(py)
}

/// (rows, lower triangle of the scatter about `mean`) of one canonical block of rows.
#[pyfunction]
fn block_scatter<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f32>,
    mean: PyReadonlyArray1<'py, f64>,
) -> PyResult<Scat<'py>> {
    let mean = mean.as_array().to_vec();
    let x = matrix(&x);
    let s = py.detach(|| moments::block_scatter(x, &mean)).map_err(|e| value_error(&e))?;
    Ok((s.rows, s.lower.into_pyarray(py)))
}

/// Partial (rows, scatter) added left to right.
#[pyfunction]
fn combine_scatter<'py>(py: Python<'py>, parts: Vec<(usize, PyReadonlyArray2<'py, f64>)>) -> PyResult<Scat<'py>> {
    let parts: Vec<Scatter> =
        parts.iter().map(|(rows, m)| Scatter { rows: *rows, lower: m.as_array().to_owned() }).collect();
    let s = moments::combine_scatter(&parts).map_err(|e| value_error(&e))?;
    Ok((s.rows, s.lower.into_pyarray(py)))
}

/// The global fit of the `pca` / `lpca` spec from the combined scatter (about the column means when the spec
/// centres): its JSON entry as in `imanifold.id.estimate`, without the half-sampling interval (it needs the rows).
#[pyfunction]
fn pca_from_scatter(spec: &str, rows: usize, lower: PyReadonlyArray2<'_, f64>, bootstrap: usize) -> PyResult<String> {
    let est = moments::pca_estimator(spec)
        .map_err(|e| value_error(&e))?
        .ok_or_else(|| PyValueError::new_err(format!("{spec:?} is not a global PCA estimator (pca, lpca)")))?;
    let lower: Array2<f64> = lower.as_array().to_owned();
    let t = std::time::Instant::now();
    let mut estimate = est.fit_moments(&Scatter { rows, lower }).map_err(|e| value_error(&e))?;
    if bootstrap > 0 && estimate.ci95.is_none() {
        estimate.ci_method = "none: the half-sampling interval refits the estimator on halves of the rows, which \
                              partial sums do not hold"
            .into();
    }
    let report = Report {
        name: intrinsic_dim::Estimator::name(&est),
        params: intrinsic_dim::Estimator::params(&est),
        estimate,
        pointwise: None,
        pointwise_smooth: None,
        seconds: t.elapsed().as_secs_f64(),
    };
    Ok(report.to_json().to_string())
}

/// Score column names and the calibration rows (None: all).
type Plan<'py> = (Vec<String>, Option<Bound<'py, PyArray1<i64>>>);
/// The calibration table's distances, indices and the reference's MLE dimension.
type Calibration<'py> = (Bound<'py, PyArray2<f32>>, Bound<'py, PyArray2<i64>>, f64);

fn score_options(methods: &str, k: usize, dim: &str, calibration: usize, seed: u64) -> PyResult<ScoreOptions> {
    let methods: MethodList = methods.parse().map_err(|e| value_error(&e))?;
    let dim: DimChoice = dim.parse().map_err(|e| value_error(&e))?;
    Ok(ScoreOptions { methods: methods.0, k, dim, calibration, seed, ..ScoreOptions::default() })
}

fn usize_indices(a: ndarray::ArrayView2<'_, i64>, what: &str) -> PyResult<Array2<usize>> {
    if let Some(&bad) = a.iter().find(|&&j| j < 0) {
        return Err(PyValueError::new_err(format!("{what}: negative index {bad}")));
    }
    Ok(a.mapv(|j| j as usize))
}

/// The plan of a sharded `imanifold.score` run over a reference of `n_reference` distinct rows, after the checks
/// `imanifold.score` makes on the options: (score column names in output order, the calibration rows as int64, or
/// None when every reference row is a calibration image).
#[pyfunction]
fn score_plan<'py>(
    py: Python<'py>,
    n_reference: usize,
    methods: &str,
    k: usize,
    dim: &str,
    calibration: usize,
    seed: u64,
) -> PyResult<Plan<'py>> {
    let opts = score_options(methods, k, dim, calibration, seed)?;
    off_manifold::check_methods(&opts, n_reference).map_err(|e| value_error(&e))?;
    let columns = opts.methods.iter().flat_map(|m| m.columns().iter().map(|c| c.to_string())).collect();
    let rows = off_manifold::calibration_sample(n_reference, calibration, seed)
        .map(|r| r.into_iter().map(|i| i as i64).collect::<Vec<_>>().into_pyarray(py));
    Ok((columns, rows))
}

/// The calibration table from the calibration images' neighbours: `rows` None: the reference's self-kNN table
/// (n × k); else the sampled rows and their (k + 1)-neighbour table against the reference. Returns (distances
/// float32, indices int64, k columns, self excluded; the reference's MLE dimension).
#[pyfunction]
#[pyo3(signature = (distances, indices, rows, k))]
fn score_calibration<'py>(
    py: Python<'py>,
    distances: PyReadonlyArray2<'py, f32>,
    indices: PyReadonlyArray2<'py, i64>,
    rows: Option<PyReadonlyArray1<'py, i64>>,
    k: usize,
) -> PyResult<Calibration<'py>> {
    let nb = knn::Neighbors {
        indices: usize_indices(indices.as_array(), "indices")?,
        distances: distances.as_array().to_owned(),
        duplicate_rows: 0,
    };
    let table = match rows {
        None => CalibrationTable::from_self(nb),
        Some(r) => {
            let r = r.as_array();
            if let Some(&bad) = r.iter().find(|&&j| j < 0) {
                return Err(PyValueError::new_err(format!("rows: negative index {bad}")));
            }
            CalibrationTable::from_sample(r.iter().map(|&j| j as usize).collect(), nb, k)
                .map_err(|e| value_error(&e))?
        }
    };
    let ind = table.indices.mapv(|j| j as i64);
    Ok((table.distances.into_pyarray(py), ind.into_pyarray(py), table.dimension))
}

/// The score columns of a block of images from its neighbour lists: `points` the block's rows, `distances` n × k,
/// `indices` n × k into `rows` (the neighbour rows, gathered; `points` and `rows` are read by `tangent` only),
/// `dimension` the reference's MLE dimension (from `score_calibration`). Returns a dict column → float64 values,
/// and `<column>_pct` → percentiles when `calibration` (column → sorted calibration values) is given.
#[pyfunction]
#[pyo3(signature = (points, distances, indices, rows, methods, k, dim, dimension, calibration=None, threads=None))]
#[allow(clippy::too_many_arguments)] // the block and the score options
fn score_rows<'py>(
    py: Python<'py>,
    points: PyReadonlyArray2<'py, f32>,
    distances: PyReadonlyArray2<'py, f32>,
    indices: PyReadonlyArray2<'py, i64>,
    rows: PyReadonlyArray2<'py, f32>,
    methods: &str,
    k: usize,
    dim: &str,
    dimension: f64,
    calibration: Option<HashMap<String, PyReadonlyArray1<'py, f64>>>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let methods: MethodList = methods.parse().map_err(|e| value_error(&e))?;
    let dim: DimChoice = dim.parse().map_err(|e| value_error(&e))?;
    let tdim = TangentDim::resolve(dim, dimension, k);
    let with_tangent = methods.0.contains(&Method::Tangent);
    let ind = usize_indices(indices.as_array(), "indices")?;
    let block =
        Block { points: matrix(&points), distances: distances.as_array(), indices: ind.view(), rows: matrix(&rows) };
    let scores = compute(py, threads, || off_manifold::score_block(&block, with_tangent, &tdim, k))?
        .map_err(|e| value_error(&e))?;
    let out = PyDict::new(py);
    for name in methods.0.iter().flat_map(|m| m.columns()) {
        let values = scores.column(name).ok_or_else(|| {
            PyValueError::new_err(format!("the {name} score is not computed from neighbour lists (not on Dask)"))
        })?;
        if let Some(cal) = &calibration {
            let sorted = cal.get(*name).ok_or_else(|| PyValueError::new_err(format!("calibration: no {name}")))?;
            let pct = off_manifold::percentiles(sorted.as_slice()?, values);
            out.set_item(format!("{name}_pct"), pct.into_pyarray(py))?;
        }
        out.set_item(*name, values.to_vec().into_pyarray(py))?;
    }
    Ok(out)
}

/// The calibration values a percentile is taken among: the non-NaN values, sorted.
#[pyfunction]
fn score_sorted_calibration<'py>(
    py: Python<'py>,
    values: PyReadonlyArray1<'py, f64>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    Ok(off_manifold::sorted_calibration(values.as_slice()?).into_pyarray(py))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("MOMENT_BLOCK", moments::MOMENT_BLOCK)?;
    m.add("MOMENT_FANIN", moments::MOMENT_FANIN)?;
    m.add_function(wrap_pyfunction!(dimension_plan, m)?)?;
    m.add_function(wrap_pyfunction!(estimate_from_neighbors, m)?)?;
    m.add_function(wrap_pyfunction!(block_column_sums, m)?)?;
    m.add_function(wrap_pyfunction!(combine_column_sums, m)?)?;
    m.add_function(wrap_pyfunction!(column_means, m)?)?;
    m.add_function(wrap_pyfunction!(block_scatter, m)?)?;
    m.add_function(wrap_pyfunction!(combine_scatter, m)?)?;
    m.add_function(wrap_pyfunction!(pca_from_scatter, m)?)?;
    m.add_function(wrap_pyfunction!(score_plan, m)?)?;
    m.add_function(wrap_pyfunction!(score_calibration, m)?)?;
    m.add_function(wrap_pyfunction!(score_rows, m)?)?;
    m.add_function(wrap_pyfunction!(score_sorted_calibration, m)?)
}
