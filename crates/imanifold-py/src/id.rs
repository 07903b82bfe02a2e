//! Intrinsic dimension: `intrinsic_dim`'s estimators (built by name with skdim-named parameters) on one shared kNN
//! pass ([`FitContext`] + [`intrinsic_dim::run`]), as `imanifold dim` runs them.

use std::collections::HashMap;

use intrinsic_dim::{Estimator, FitContext, Report, RunOptions};
use ndarray::{Array2, ArrayView2};
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use serde_json::{json, Map, Value};

use crate::{compute, matrix, value_error};

/// Bootstrap replicates for intervals that are not analytic (the CLI's `dim --bootstrap` default).
const DEFAULT_BOOTSTRAP: usize = 20;

/// Estimators whose `n_neighbors` the `n_neighbors=` of [`estimate`] sets (the CLI's `dim --k`).
const LOCAL: [&str; 6] = ["mle", "mom", "tle", "mada", "ess", "imanifold"];

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

/// File-name-style labels: the estimator name, suffixed `_2`, `_3`, … when it is requested again.
fn unique_labels(estimators: &[Box<dyn Estimator>]) -> Vec<String> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    estimators
        .iter()
        .map(|e| {
            let c = seen.entry(e.name()).or_insert(0);
            *c += 1;
            if *c == 1 {
                e.name().to_string()
            } else {
                format!("{}_{}", e.name(), c)
            }
        })
        .collect()
}

/// Parses the specs (`NAME` or `NAME:key=value,...`), `n_neighbors` applied to the local estimators that do not set it.
fn build_specs(specs: &[String], n_neighbors: Option<usize>) -> PyResult<Vec<Box<dyn Estimator>>> {
    if matches!(n_neighbors, Some(0 | 1)) {
        return Err(PyValueError::new_err("n_neighbors must be at least 2"));
    }
    let mut out = Vec::new();
    for spec in specs {
        let context =
            |e: intrinsic_dim::DimError| PyValueError::new_err(format!("estimator {spec}: {}", crate::chain(&e)));
        let (name, mut params) = intrinsic_dim::parse_spec(spec).map_err(context)?;
        if let (Some(k), Some(c)) = (n_neighbors, intrinsic_dim::estimators::canonical(&name)) {
            if LOCAL.contains(&c) && !params.contains_key("n_neighbors") {
                params.insert("n_neighbors".into(), json!(k));
            }
        }
        out.push(intrinsic_dim::build(&name, &params).map_err(context)?);
    }
    Ok(out)
}

type Scale = Vec<(usize, Vec<(usize, Box<dyn Estimator>)>)>;

/// Every estimator on one kNN pass, with `dim`'s semantics (duplicates dropped, `n_neighbors` for the local
/// estimators, bootstrap intervals, scale curves over `k_range`). Returns JSON: a list of entries with `label`.
#[pyfunction]
#[pyo3(signature = (x, estimators, n_neighbors=None, k_range=None, bootstrap=DEFAULT_BOOTSTRAP, seed=0,
                    threads=None))]
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
) -> PyResult<String> {
    if let Some((a, b)) = k_range {
        if a < 2 || a > b {
            return Err(PyValueError::new_err(format!("k_range = ({a}, {b}): need 2 <= A <= B")));
        }
    }
    let specs = if estimators.is_empty() { vec!["imanifold".to_string()] } else { estimators };
    let ests = build_specs(&specs, n_neighbors)?;
    let labels = unique_labels(&ests);
    let data = matrix(&x);
    let entries = compute(py, threads, || run_all(data, &ests, &labels, k_range, bootstrap, seed))?
        .map_err(|e| value_error(&e))?;
    Ok(Value::Array(entries).to_string())
}

/// The computation of [`estimate`] (without the GIL).
fn run_all(
    data: ArrayView2<f32>,
    ests: &[Box<dyn Estimator>],
    labels: &[String],
    k_range: Option<(usize, usize)>,
    bootstrap: usize,
    seed: u64,
) -> Result<Vec<Value>, intrinsic_dim::DimError> {
    let (kept, dropped) = without_duplicates(data);
    let data = kept.as_ref().map_or(data, |k| k.view());
    let opts = RunOptions::default();
    let mut k_needed = intrinsic_dim::max_k(ests, &opts);
    let scale: Scale = match k_range {
        None => Vec::new(),
        Some((lo, hi)) => ests
            .iter()
            .enumerate()
            .map(|(i, e)| (i, (lo..=hi).filter_map(|k| e.at_scale(k).map(|s| (k, s))).collect()))
            .collect(),
    };
    for (_, list) in &scale {
        for (_, e) in list {
            k_needed = k_needed.max(e.needs_k().unwrap_or(0));
        }
    }
    let mut ctx = FitContext::new(data, k_needed, seed)?;
    ctx.bootstrap = bootstrap;
    let reports = intrinsic_dim::run(&ctx, ests, &opts)?;
    let mut entries: Vec<Value> = reports
        .iter()
        .zip(labels)
        .map(|(r, label)| {
            let mut e = r.to_json();
            e["label"] = json!(label);
            e["duplicates_dropped"] = json!(dropped.len());
            e["k_neighbors_computed"] = json!(k_needed);
            e
        })
        .collect();
    for (i, list) in &scale {
        if list.is_empty() {
            entries[*i]["scale"] = Value::Null;
            continue;
        }
        // As `dim`: scale curves use analytic or per-point intervals; half-sampling refits would cost B fits per k.
        ctx.bootstrap = if ests[*i].comb().is_none() { 0 } else { bootstrap };
        let mut curve = json!({"k": [], "dimension": [], "ci_low": [], "ci_high": []});
        for (k, e) in list {
            let rep = intrinsic_dim::run(&ctx, std::slice::from_ref(e), &opts)?;
            let est = &rep[0].estimate;
            let (lo, hi) = est.ci95.unwrap_or((f64::NAN, f64::NAN));
            let f = |x: f64| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number);
            for (key, v) in [("k", json!(k)), ("dimension", f(est.dimension)), ("ci_low", f(lo)), ("ci_high", f(hi))] {
                curve[key].as_array_mut().expect("curve columns are arrays").push(v);
            }
        }
        entries[*i]["scale"] = curve;
    }
    Ok(entries)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("DEFAULT_BOOTSTRAP", DEFAULT_BOOTSTRAP)?;
    m.add("DEFAULT_PW_NEIGHBORS", RunOptions::default().pointwise_neighbors)?;
    m.add_function(wrap_pyfunction!(estimator_params, m)?)?;
    m.add_function(wrap_pyfunction!(estimator_names, m)?)?;
    m.add_function(wrap_pyfunction!(fit, m)?)?;
    m.add_function(wrap_pyfunction!(fit_pw, m)?)?;
    m.add_function(wrap_pyfunction!(estimate, m)?)?;
    Ok(())
}
