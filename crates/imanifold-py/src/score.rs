//! `score`: off-manifold scores of query images against a reference set ([`off_manifold::score`], the call
//! [`off_manifold::score_query`] makes).

use dataset::ImageShape;
use numpy::{IntoPyArray, PyReadonlyArray2};
use off_manifold::{DimChoice, MethodList, ScoreOptions};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::{compute, matrix, value_error};

/// The kNN options of `score` (the CLI's `--knn-strategy`, seeded by the run's seed).
fn knn_options(strategy: &str, seed: u64) -> PyResult<knn::KnnOptions> {
    let strategy: knn::Strategy = strategy.parse().map_err(PyValueError::new_err)?;
    Ok(knn::KnnOptions { strategy, seed, ..Default::default() })
}

/// Scores every row of `query` against `reference` (rows are images of `image_shape` (h, w, c) when given, which
/// the `tangent` and `flow` scores need): a dict score name → float64 values, `<name>_pct` → percentiles among the
/// reference's leave-one-out values, `nearest` (int64 reference row) and `nearest_distance`.
#[pyfunction]
#[pyo3(signature = (reference, query, methods, k, dim, calibration, flow_method, seed, image_shape=None,
                    threads=None, flow_neighbors=off_manifold::DEFAULT_FLOW_NEIGHBORS,
                    flow_calibration=off_manifold::DEFAULT_FLOW_CALIBRATION, knn_strategy="auto"))]
#[allow(clippy::too_many_arguments)] // the CLI's `score` options
fn score<'py>(
    py: Python<'py>,
    reference: PyReadonlyArray2<'py, f32>,
    query: PyReadonlyArray2<'py, f32>,
    methods: &str,
    k: usize,
    dim: &str,
    calibration: usize,
    flow_method: &str,
    seed: u64,
    image_shape: Option<(usize, usize, usize)>,
    threads: Option<usize>,
    flow_neighbors: usize,
    flow_calibration: usize,
    knn_strategy: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let methods: MethodList = methods.parse().map_err(|e| value_error(&e))?;
    let dim: DimChoice = dim.parse().map_err(|e| value_error(&e))?;
    let flow = optical_flow::FlowParams::from_name(flow_method).map_err(|e| value_error(&e))?;
    let opts = ScoreOptions {
        methods: methods.0,
        k,
        dim,
        calibration,
        flow,
        flow_neighbors,
        flow_calibration,
        seed,
        knn: knn_options(knn_strategy, seed)?,
    };
    let shape = image_shape.map(|(height, width, channels)| ImageShape { height, width, channels });
    // The arrays are read in place (no copy for C-contiguous float32): the library's scoring call on views, the
    // one `score_query` makes after attaching ids and groups, which a dict of arrays does not carry.
    let (reference, query) = (matrix(&reference), matrix(&query));
    let scores =
        compute(py, threads, || off_manifold::score(reference, query, shape, &opts).map_err(|e| crate::chain(&e)))?
            .map_err(PyValueError::new_err)?;
    let out = PyDict::new(py);
    for c in scores.columns {
        out.set_item(format!("{}_pct", c.name), c.percentiles.into_pyarray(py))?;
        out.set_item(c.name, c.values.into_pyarray(py))?;
    }
    let nearest: Vec<i64> = scores.nearest.iter().map(|&i| i as i64).collect();
    out.set_item("nearest", nearest.into_pyarray(py))?;
    out.set_item("nearest_distance", scores.nearest_distance.into_pyarray(py))?;
    Ok(out)
}

/// Feature-space scores (`imanifold score --features MODEL[:LAYER,…]`): the activations of `reference` and `query`
/// at each layer of the model, then [`off_manifold::features::score_features`]. Returns a dict `LAYER.SCORE` →
/// float64 values, `LAYER.SCORE_pct` → percentiles, and `report` (JSON text: layers, methods, the groups' AUROCs and
/// the combination when `groups` is given).
#[pyfunction]
#[pyo3(signature = (reference, query, features, methods, k, dim, calibration, seed, groups=None, threads=None,
                    mahalanobis_noise=0.0, knn_strategy="auto"))]
#[allow(clippy::too_many_arguments)] // the CLI's `score --features` options
fn score_features<'py>(
    py: Python<'py>,
    reference: PyReadonlyArray2<'py, f32>,
    query: PyReadonlyArray2<'py, f32>,
    features: &str,
    methods: Option<&str>,
    k: usize,
    dim: &str,
    calibration: usize,
    seed: u64,
    groups: Option<Vec<String>>,
    threads: Option<usize>,
    mahalanobis_noise: f64,
    knn_strategy: &str,
) -> PyResult<Bound<'py, PyDict>> {
    use off_manifold::features::FeatureOptions;
    let spec: classifier::FeatureSpec = features.parse().map_err(|e| value_error(&e))?;
    let model = classifier::Classifier::load(&spec.model).map_err(|e| value_error(&e))?;
    let layers = spec.layers_of(&model).map_err(|e| value_error(&e))?;
    let methods = match methods {
        Some(m) => m.parse::<MethodList>().map_err(|e| value_error(&e))?.0,
        None => off_manifold::Method::FEATURES.to_vec(),
    };
    let dim: DimChoice = dim.parse().map_err(|e| value_error(&e))?;
    let knn = knn_options(knn_strategy, seed)?;
    let opts =
        FeatureOptions { methods, k, dim, calibration, seed, mahalanobis_noise, knn, ..FeatureOptions::default() };
    let (reference, query) = (matrix(&reference), matrix(&query));
    let n_query = query.nrows();
    let run = || -> Result<off_manifold::features::FeatureReport, String> {
        let ids = (0..n_query).map(|i| format!("row {i}")).collect();
        classifier::score_in_features(
            &model,
            &layers,
            reference,
            query,
            ids,
            groups.map(|g| ("groups".to_string(), g)),
            &opts,
            dataset::limits::available_memory(),
        )
        .map_err(|e| crate::chain(&e))
    };
    let report = compute(py, threads, run)?.map_err(PyValueError::new_err)?;
    let json = serde_json::json!({
        "layers": report.layers,
        "methods": report.options.methods.iter().map(|m| m.name()).collect::<Vec<_>>(),
        "labels": report.labels_source,
        "mahalanobis_noise": report.options.mahalanobis_noise,
        "groups": report.groups.as_ref().map(|g| &g.report),
        "combination": report.combination,
    });
    let out = PyDict::new(py);
    for c in report.columns {
        out.set_item(format!("{}_pct", c.name), c.percentiles.into_pyarray(py))?;
        out.set_item(c.name, c.values.into_pyarray(py))?;
    }
    out.set_item("report", json.to_string())?;
    Ok(out)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("SCORE_DEFAULT_K", off_manifold::DEFAULT_K)?;
    m.add("SCORE_DEFAULT_CALIBRATION", off_manifold::DEFAULT_CALIBRATION)?;
    m.add("SCORE_DEFAULT_FLOW_METHOD", off_manifold::DEFAULT_FLOW_METHOD)?;
    m.add("SCORE_DEFAULT_FLOW_NEIGHBORS", off_manifold::DEFAULT_FLOW_NEIGHBORS)?;
    m.add("SCORE_DEFAULT_FLOW_CALIBRATION", off_manifold::DEFAULT_FLOW_CALIBRATION)?;
    m.add_function(wrap_pyfunction!(score_features, m)?)?;
    m.add_function(wrap_pyfunction!(score, m)?)
}
