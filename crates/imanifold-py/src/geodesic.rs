//! `geodesic`: geodesic distances on the kNN graph of a collection ([`geodesic::run`], the library call behind
//! `imanifold geodesic`), from a path (loaded as the CLI loads it) or from an in-memory matrix with truth columns.

use std::path::PathBuf;

use dataset::{Column, Dataset, ImageShape};
use geodesic::{GeodesicDirOptions, GeodesicError, GeodesicOptions, Metric, Periodic};
use ndarray::Array2;
use numpy::{IntoPyArray, PyReadonlyArray2};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::load::InputOptions;
use crate::{chain, compute, dataset_error, matrix};

fn geodesic_error(e: GeodesicError) -> PyErr {
    let msg = chain(&e);
    match e {
        GeodesicError::Output(_) => PyOSError::new_err(msg),
        _ => PyValueError::new_err(msg),
    }
}

/// The options of one run, as the CLI's flags (strings parsed by the library types).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct Opts {
    k: usize,
    metric: String,
    flow_method: String,
    photometric_weight: f64,
    truth: Vec<String>,
    periodic: Vec<String>,
    sources: Option<Vec<usize>>,
    dims: usize,
    graph: String,
    scales: Vec<String>,
    path: Option<String>,
    path_frames: usize,
}

impl Opts {
    fn options(&self) -> PyResult<GeodesicOptions> {
        let metric: Metric = self.metric.parse().map_err(geodesic_error)?;
        let flow_method = self
            .flow_method
            .parse()
            .map_err(|e: optical_flow::FlowError| PyValueError::new_err(format!("flow_method: {}", chain(&e))))?;
        let periodic = self.periodic.iter().map(|p| p.parse::<Periodic>()).collect::<Result<Vec<_>, _>>();
        let path = match &self.path {
            None => None,
            Some(p) => {
                let (from, to) = geodesic::PathOptions::parse_ends(p).map_err(geodesic_error)?;
                Some(geodesic::PathOptions { from, to, frames: self.path_frames })
            }
        };
        let options = GeodesicOptions {
            k: self.k,
            metric,
            flow_method,
            photometric_weight: self.photometric_weight,
            truth: self.truth.clone(),
            periodic: periodic.map_err(geodesic_error)?,
            sources: self.sources.clone(),
            dims: self.dims,
            graph: self.graph.parse().map_err(geodesic_error)?,
            scales: self.scales.iter().map(|c| c.parse()).collect::<Result<Vec<_>, _>>().map_err(geodesic_error)?,
            path,
            ..GeodesicOptions::default()
        };
        options.validate().map_err(geodesic_error)?;
        Ok(options)
    }
}

/// Runs the pipeline on `ds` (without the GIL) and builds the Python dict.
fn run<'py>(
    py: Python<'py>,
    ds: Dataset,
    options: &GeodesicOptions,
    mut results: output::Results,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let outcome = compute(py, threads, || geodesic::run_dataset(&ds, options, &()).map_err(geodesic_error))??;
    let row_name = |i: usize| ds.ids[i].clone();
    let dir_options =
        GeodesicDirOptions { row_name: &row_name, input: None, record_periodic: false, comparison_arrays: false };
    geodesic::set_geodesic_results(&mut results, &outcome, &dir_options);
    let out = PyDict::new(py);
    out.set_item("report", serde_json::to_string(&results.to_value()).expect("JSON values serialise"))?;
    out.set_item("distances", outcome.distances.into_pyarray(py))?;
    if let Some(e) = outcome.embedding {
        let nodes: Vec<i64> = e.nodes.iter().map(|&i| i as i64).collect();
        out.set_item("embedding", e.coords.into_pyarray(py))?;
        out.set_item("embedding_nodes", nodes.into_pyarray(py))?;
    }
    let labels: Vec<i64> = outcome.labels.iter().map(|&l| l as i64).collect();
    out.set_item("component_labels", labels.into_pyarray(py))?;
    let edges = PyDict::new(py);
    let col = |f: &dyn Fn(&geodesic::Edge) -> f64| outcome.edges.iter().map(f).collect::<Vec<f64>>();
    let ends: Vec<[i64; 2]> = outcome.edges.iter().map(|e| [e.i as i64, e.j as i64]).collect();
    edges.set_item("pairs", Array2::from(ends).into_pyarray(py))?;
    edges.set_item("euclidean", col(&|e| e.euclidean).into_pyarray(py))?;
    edges.set_item("weight", col(&|e| e.weight).into_pyarray(py))?;
    if outcome.metric == Metric::Flow {
        edges.set_item("flow_rms", col(&|e| e.flow_rms.unwrap_or(f64::NAN)).into_pyarray(py))?;
        edges.set_item("residual", col(&|e| e.residual.unwrap_or(f64::NAN)).into_pyarray(py))?;
    }
    out.set_item("edges", edges)?;
    if let Some(p) = outcome.path {
        let d = PyDict::new(py);
        d.set_item("nodes", p.nodes.iter().map(|&r| r as i64).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("steps", p.steps.clone().into_pyarray(py))?;
        d.set_item(
            "frame_rows",
            p.frames.iter().map(|f| f.row.map_or(-1, |r| r as i64)).collect::<Vec<_>>().into_pyarray(py),
        )?;
        d.set_item("frame_positions", p.frames.iter().map(|f| f.position).collect::<Vec<_>>().into_pyarray(py))?;
        if let Some(f0) = p.frames.first() {
            let (h, w, c) = f0.image.dim();
            let mut frames = ndarray::Array4::<f32>::zeros((p.frames.len(), h, w, c));
            for (mut dst, f) in frames.outer_iter_mut().zip(&p.frames) {
                dst.assign(&f.image);
            }
            d.set_item("frames", frames.into_pyarray(py))?;
        }
        out.set_item("path", d)?;
    }
    Ok(out)
}

/// Geodesic distances of the collection at `path`, loaded with the CLI's input options (`imanifold geodesic PATH`).
#[pyfunction]
#[pyo3(signature = (path, opts, input, threads=None))]
fn geodesic_path<'py>(
    py: Python<'py>,
    path: PathBuf,
    opts: Opts,
    input: InputOptions,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let options = opts.options()?;
    let load = input.options()?;
    let mut results = output::Results::new("geodesic");
    results.seed(input.seed);
    let ds = compute(py, threads, || results.timed("load", || dataset::load(&path, &load)))?.map_err(dataset_error)?;
    run(py, ds, &options, results, threads)
}

/// Geodesic distances of the rows of `x` (images of `image_shape` (h, w, c) when given, which the flow metric
/// needs), with numeric truth `columns` (name, values per row).
#[pyfunction]
#[pyo3(signature = (x, opts, image_shape=None, columns=Vec::new(), threads=None))]
fn geodesic_arrays<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f32>,
    opts: Opts,
    image_shape: Option<(usize, usize, usize)>,
    columns: Vec<(String, Vec<f64>)>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let options = opts.options()?;
    let shape = image_shape.map(|(height, width, channels)| ImageShape { height, width, channels });
    let mut ds = Dataset::from_array(matrix(&x).to_owned(), shape).map_err(dataset_error)?;
    for (name, values) in columns {
        if values.len() != ds.n() {
            return Err(PyValueError::new_err(format!(
                "truth column `{name}` has {} values but there are {} rows",
                values.len(),
                ds.n()
            )));
        }
        ds.columns.push((name, Column::Numeric(values)));
    }
    run(py, ds, &options, output::Results::new("geodesic"), threads)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("GEODESIC_DEFAULT_K", geodesic::DEFAULT_K)?;
    m.add("GEODESIC_DEFAULT_DIMS", geodesic::DEFAULT_DIMS)?;
    m.add("GEODESIC_DEFAULT_METRIC", geodesic::DEFAULT_METRIC.name())?;
    m.add("GEODESIC_DEFAULT_FLOW_METHOD", geodesic::DEFAULT_FLOW_METHOD)?;
    m.add("GEODESIC_DEFAULT_PHOTOMETRIC_WEIGHT", geodesic::DEFAULT_PHOTOMETRIC_WEIGHT)?;
    m.add("GEODESIC_DEFAULT_GRAPH", geodesic::DEFAULT_GRAPH.to_string())?;
    m.add("GEODESIC_DEFAULT_PATH_FRAMES", geodesic::path::DEFAULT_PATH_FRAMES)?;
    m.add_function(wrap_pyfunction!(geodesic_path, m)?)?;
    m.add_function(wrap_pyfunction!(geodesic_arrays, m)?)
}
