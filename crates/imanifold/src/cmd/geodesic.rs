//! `imanifold geodesic INPUT --k K [--metric flow|euclidean] [--truth yaw,pitch] --out DIR`: geodesic distances on
//! the kNN graph of a collection, weighted by optical flow or pixel distance; Isomap embedding; agreement with truth.
//! The pipeline is `geodesic::run`, the folder `geodesic::write_geodesic_dir`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args as ClapArgs;
use dataset::limits::Bytes;
use dataset::{Column, Dataset};
use geodesic::{GeodesicDirOptions, GeodesicInput, GeodesicOptions, GraphKind, Metric, NamedColumn, Periodic};
use ndarray::{Array2, Axis};
use optical_flow::FlowMethod;

use super::common::{InputArgs, OutArgs};

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// The collection (images for --metric flow).
    pub input: PathBuf,
    /// Neighbours per image in the graph (the graph is the symmetrised kNN graph).
    #[arg(long, default_value_t = geodesic::DEFAULT_K)]
    pub k: usize,
    /// Edge weight: flow (RMS optical-flow length + photometric residual term) or euclidean (pixel distance).
    #[arg(long, default_value_t = geodesic::DEFAULT_METRIC)]
    pub metric: Metric,
    /// Optical-flow method for --metric flow (see `imanifold flow --help`); default: DIS solved at full resolution.
    #[arg(long, default_value = geodesic::DEFAULT_FLOW_METHOD)]
    pub flow_method: FlowMethod,
    /// λ: pixels charged per unit of RMS photometric residual left after warping.
    #[arg(long, default_value_t = geodesic::DEFAULT_PHOTOMETRIC_WEIGHT)]
    pub photometric_weight: f64,
    /// Manifest columns with the true parameters: correlations of geodesic vs true parameter distance.
    #[arg(long, value_delimiter = ',')]
    pub truth: Vec<String>,
    /// Periodic truth columns as NAME=PERIOD (e.g. yaw=360): differences wrap around.
    #[arg(long, value_delimiter = ',')]
    pub periodic: Vec<Periodic>,
    /// Only distances from these row indices (default: all rows → n×n matrix and an embedding).
    #[arg(long, value_delimiter = ',')]
    pub sources: Vec<usize>,
    /// Dimensions of the Isomap embedding (0 = none).
    #[arg(long, default_value_t = geodesic::DEFAULT_DIMS)]
    pub dims: usize,
    /// Graph: knn (symmetrised kNN graph) or verified (candidates from a larger k kept when the optical flow explains
    /// them, components bridged; needs --metric flow). Decisions and diagnostics go to results.json `graph`.
    #[arg(long, default_value_t = geodesic::DEFAULT_GRAPH)]
    pub graph: GraphKind,
    #[command(flatten)]
    pub input_args: InputArgs,
    #[command(flatten)]
    pub out: OutArgs,
}

impl Args {
    fn options(&self) -> GeodesicOptions {
        GeodesicOptions {
            k: self.k,
            metric: self.metric,
            flow_method: self.flow_method.clone(),
            photometric_weight: self.photometric_weight,
            truth: self.truth.clone(),
            periodic: self.periodic.clone(),
            sources: (!self.sources.is_empty()).then(|| self.sources.clone()),
            dims: self.dims,
            graph: self.graph,
            ..GeodesicOptions::default()
        }
    }
}

/// Gray frames (h × w) of every row; `None` for a plain matrix.
fn gray_frames(ds: &Dataset) -> anyhow::Result<Option<Vec<Array2<f32>>>> {
    let Some(shape) = ds.shape else { return Ok(None) };
    (0..ds.n())
        .map(|i| {
            let img = ds.image(i).expect("rows are images");
            if shape.channels == 1 {
                Ok(img.index_axis(Axis(2), 0).to_owned())
            } else {
                optical_flow::to_gray(img).with_context(|| format!("converting {} to gray", ds.ids[i]))
            }
        })
        .collect::<anyhow::Result<Vec<_>>>()
        .map(Some)
}

/// Refuses a run whose matrices cannot fit in the memory available, before allocating them.
fn check_memory(n: usize, options: &GeodesicOptions) -> anyhow::Result<()> {
    let needed = geodesic::memory_needed(n, options);
    let available = dataset::limits::available_memory();
    if needed > available as u128 {
        let (needed, available) = (Bytes(needed), Bytes(available as u128));
        let what = if options.sources.is_none() { "n × n" } else { "sources × n" };
        anyhow::bail!(
            "geodesic on {n} rows needs {needed} for the {what} distance matrices, {available} available; use \
             --sources, fewer rows (--limit, --sample) or --dims 0"
        );
    }
    Ok(())
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let options = a.options();
    options.validate()?;
    a.out.check_inputs(&[&a.input])?;
    let mut results = output::Results::new("geodesic");
    results.seed(a.input_args.seed);
    let ds = results.timed("load", || a.input_args.load(&a.input))?;
    check_memory(ds.n(), &options)?;
    let frames = if options.metric == Metric::Flow { gray_frames(&ds)? } else { None };
    let columns: Vec<NamedColumn> = ds
        .columns
        .iter()
        .map(|(name, col)| NamedColumn {
            name,
            values: match col {
                Column::Numeric(v) => Some(v.as_slice()),
                Column::Text(_) => None,
            },
        })
        .collect();
    let input = GeodesicInput { data: ds.data.view(), frames: frames.as_deref(), columns: &columns };
    let pb = output::progress(0, "flow edges");
    let report = geodesic::run(input, &options, &pb);
    pb.finish_and_clear();
    let report = report?;
    for w in &report.diagnostics.warnings {
        eprintln!("warning: {}", w.message);
    }
    let row_name = |i: usize| ds.ids[i].clone();
    let dir_options =
        GeodesicDirOptions { row_name: &row_name, input: None, record_periodic: false, comparison_arrays: false };
    let v = a.out.write(|dir| Ok(geodesic::write_geodesic_dir(dir, &report, results, &dir_options)?))?;
    a.out.print(&v)
}
