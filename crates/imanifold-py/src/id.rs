//! Intrinsic dimension: `intrinsic_dim`'s estimators (built by name with skdim-named parameters) on one shared kNN
//! pass: [`estimate`] is one [`Session`] run (the library call behind `imanifold dim`); the single-estimator `fit` and
//! `fit_pw` of the estimator classes use [`FitContext`] + [`intrinsic_dim::run`] directly.

use std::str::FromStr;

use intrinsic_dim::session::{DEFAULT_BOOTSTRAP, DEFAULT_POINTWISE_NEIGHBORS};
use intrinsic_dim::{DimOptions, DimReport, Estimator, FitContext, Report, RunOptions, Scales, Session, Source};
use ndarray::{Array2, ArrayView2};
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use serde_json::{json, Map, Value};

use crate::{compute, matrix, value_error};

fn params_map(params_json: &str) -> PyResult<Map<String, Value>> {
    serde_json::from_str(params_json).map_err(|e| PyValueError::new_err(format!("estimator parameters: {e}")))
}

fn build(name: &str, params: &Map<String, Value>) -> PyResult<Box<dyn Estimator>> {
    intrinsic_dim::build(name, params).map_err(|e| value_error(&e))
}

/// The rows of `data` without exact repeats of earlier rows (`None` when there are none), as `dim --duplicates
/// drop`; the indices of the dropped rows.
fn without_duplicates(data: ArrayView2<f32>) -> (Option<Array2<f32>>, Vec<usize>) {
    if knn::duplicate_rows(data).is_empty() {
        return (None, Vec::new());
    }
    let (kept, dropped) = intrinsic_dim::drop_duplicates(data);
    (Some(kept), dropped)
}

/// The estimator's parameters in skdim's names with the defaults filled in (builds it: bad parameters raise).
#[pyfunction]
fn estimator_params(name: &str, params_json: &str) -> PyResult<String> {
    Ok(build(name, &params_map(params_json)?)?.params().to_string())
}

/// Every estimator name the library knows.
#[pyfunction]
fn estimator_names() -> Vec<&'static str> {
    intrinsic_dim::estimator_names()
}

/// One estimator on `x` (duplicate rows dropped first): the report as JSON, and the per-point values of a local
/// estimator (None for global ones, or when duplicate rows were dropped).
#[pyfunction]
#[pyo3(signature = (x, name, params_json, bootstrap, seed, threads=None))]
fn fit<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f32>,
    name: &str,
    params_json: &str,
    bootstrap: usize,
    seed: u64,
    threads: Option<usize>,
) -> PyResult<(String, Option<Bound<'py, PyArray1<f64>>>)> {
    let est = build(name, &params_map(params_json)?)?;
    let data = matrix(&x);
    let report = compute(py, threads, || {
        let (kept, dropped) = without_duplicates(data);
        let data = kept.as_ref().map_or(data, |k| k.view());
        let opts = RunOptions::default();
        let ests = [est];
        let mut ctx = FitContext::new(data, intrinsic_dim::max_k(&ests, &opts), seed)?;
        ctx.bootstrap = bootstrap;
        let mut reports = intrinsic_dim::run(&ctx, &ests, &opts)?;
        Ok::<_, intrinsic_dim::DimError>((reports.remove(0), dropped.len()))
    })?;
    let (report, dropped) = report.map_err(|e| value_error(&e))?;
    let mut entry = report.to_json();
    entry["duplicates_dropped"] = json!(dropped);
    let pointwise = report.estimate.pointwise.filter(|_| dropped == 0).map(|p| p.into_pyarray(py));
    Ok((entry.to_string(), pointwise))
}

/// Per-point values (skdim `fit_pw`): global estimators fitted inside each point's `n_neighbors` nearest
/// neighbours, local ones their own per-point values; `smooth`: averaged over the point and its neighbours.
#[pyfunction]
#[pyo3(signature = (x, name, params_json, n_neighbors, smooth, seed, threads=None))]
#[allow(clippy::too_many_arguments)] // the estimator, its data and the fit options, as skdim's fit_pw
fn fit_pw<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f32>,
    name: &str,
    params_json: &str,
    n_neighbors: usize,
    smooth: bool,
    seed: u64,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let est = build(name, &params_map(params_json)?)?;
    let data = matrix(&x);
    let report = compute(py, threads, || {
        let opts = RunOptions { pointwise: true, pointwise_neighbors: n_neighbors };
        let ests = [est];
        let ctx = FitContext::new(data, intrinsic_dim::max_k(&ests, &opts), seed)?;
        let mut reports = intrinsic_dim::run(&ctx, &ests, &opts)?;
        Ok::<Report, intrinsic_dim::DimError>(reports.remove(0))
    })?
    .map_err(|e| value_error(&e))?;
    let values = if smooth { report.pointwise_smooth } else { report.pointwise };
    let values = values.ok_or_else(|| PyValueError::new_err(format!("{name}: no per-point values")))?;
    Ok(values.into_pyarray(py))
}

/// Every estimator on one kNN pass: one [`Session`] run, as `imanifold dim` (duplicates dropped, `n_neighbors` as
/// `--k`, bootstrap intervals, scale curves over `k_range`). Returns JSON: a list of entries with `label`.
#[pyfunction]
#[pyo3(signature = (x, estimators, n_neighbors=None, k_range=None, bootstrap=DEFAULT_BOOTSTRAP, seed=0,
                    threads=None, knn_strategy="auto"))]
#[allow(clippy::too_many_arguments)] // the CLI's `dim` options
fn estimate(
    py: Python<'_>,
    x: PyReadonlyArray2<'_, f32>,
    estimators: Vec<String>,
    n_neighbors: Option<usize>,
    k_range: Option<(usize, usize)>,
    bootstrap: usize,
    seed: u64,
    threads: Option<usize>,
    knn_strategy: &str,
) -> PyResult<String> {
    let strategy: knn::Strategy = knn_strategy.parse().map_err(PyValueError::new_err)?;
    let scales = match k_range {
        None => None,
        Some((a, b)) => {
            Some(Scales::from_str(&format!("{a}:{b}")).map_err(|e| PyValueError::new_err(format!("k_range: {e}")))?)
        }
    };
    let knn = knn::KnnOptions { strategy, seed, ..Default::default() };
    let opts = DimOptions { estimators, k: n_neighbors, scales, bootstrap, seed, knn, ..DimOptions::default() };
    let session = Session::new(&opts).map_err(|e| value_error(&e))?;
    let data = matrix(&x);
    let report = compute(py, threads, || session.run(data, Source::default()))?.map_err(|e| value_error(&e))?;
    Ok(Value::Array(entries(&report)).to_string())
}

/// The report's estimator entries with the run's context (`duplicates_dropped`, `k_neighbors_computed`, `knn`) and, with
/// curves, each estimator's `scale` (columns `k`, `dimension`, `ci_low`, `ci_high`; null without a scale parameter).
pub(crate) fn entries(report: &DimReport) -> Vec<Value> {
    let mut entries = report.estimate_entries();
    for e in &mut entries {
        e["duplicates_dropped"] = json!(report.dropped.len());
        e["k_neighbors_computed"] = json!(report.k_computed);
        e["knn"] = report.knn_entry();
    }
    for (e, c) in entries.iter_mut().zip(&report.curves) {
        e["scale"] = match &c.points {
            None => Value::Null,
            Some(points) => {
                let (lo, hi): (Vec<f64>, Vec<f64>) =
                    points.iter().map(|p| p.ci95.unwrap_or((f64::NAN, f64::NAN))).unzip();
                json!({
                    "k": points.iter().map(|p| p.k).collect::<Vec<_>>(),
                    "dimension": points.iter().map(|p| output::json_f64(p.dimension)).collect::<Vec<_>>(),
                    "ci_low": lo.into_iter().map(output::json_f64).collect::<Vec<_>>(),
                    "ci_high": hi.into_iter().map(output::json_f64).collect::<Vec<_>>(),
                })
            }
        };
    }
    entries
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("DEFAULT_BOOTSTRAP", DEFAULT_BOOTSTRAP)?;
    m.add("DEFAULT_PW_NEIGHBORS", DEFAULT_POINTWISE_NEIGHBORS)?;
    m.add_function(wrap_pyfunction!(estimator_params, m)?)?;
    m.add_function(wrap_pyfunction!(estimator_names, m)?)?;
    m.add_function(wrap_pyfunction!(fit, m)?)?;
    m.add_function(wrap_pyfunction!(fit_pw, m)?)?;
    m.add_function(wrap_pyfunction!(estimate, m)?)?;
    Ok(())
}
