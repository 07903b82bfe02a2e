//! `imanifold geodesic INPUT --k K [--metric flow|euclidean] [--truth yaw,pitch] --out DIR`: geodesic distances on
//! the kNN graph of a collection, weighted by optical flow or pixel distance; Isomap embedding; agreement with truth.
//! `--path I,J` adds the shortest path between two images (`path/`), on a render folder with the renderer's true
//! path. The pipeline is `geodesic::run_dataset`, the folder `geodesic::write_geodesic_dir`.

use std::path::PathBuf;

use clap::Args as ClapArgs;
use geodesic::{GeodesicDirOptions, GeodesicOptions, GraphKind, Metric, PathOptions, Periodic};
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
    /// Units of truth columns as NAME=SCALE (e.g. yaw=90,distance=0.5): differences are divided by the scale before
    /// the columns are combined into the truth distance √Σ(Δ/scale)².
    #[arg(long, value_delimiter = ',')]
    pub truth_scale: Vec<geodesic::ColumnScale>,
    /// Only distances from these row indices (default: all rows → n×n matrix and an embedding).
    #[arg(long, value_delimiter = ',')]
    pub sources: Vec<usize>,
    /// Dimensions of the Isomap embedding (0 = none).
    #[arg(long, default_value_t = geodesic::DEFAULT_DIMS)]
    pub dims: usize,
    /// Graph: relative (default: kNN edges kept unless the flow explains them much worse than their ends' best
    /// edges, components bridged and sampling gaps closed by verified candidates from a larger k), verified
    /// (candidates kept when the flow explains them in absolute terms) or knn (the symmetrised kNN graph). relative
    /// and verified need --metric flow (with euclidean the kNN graph is used). Decisions and diagnostics go to
    /// results.json `graph`.
    #[arg(long, default_value_t = geodesic::DEFAULT_GRAPH)]
    pub graph: GraphKind,
    /// The shortest path between two images, as I,J (row indices or file names): written to `path/` (the graph's
    /// images plus flow-morph in-betweens, path.csv) with the parameter error along it for the --truth columns. On a
    /// render folder (render.json) each frame is also compared with the scene rendered on the true straight path in
    /// parameter space (`truth_NNNN.png`, RMSE per frame and mean in path.csv and results.json).
    #[arg(long)]
    pub path: Option<String>,
    /// Flow-morph in-between frames per edge of --path.
    #[arg(long)]
    pub path_frames: Option<usize>,
    #[command(flatten)]
    pub input_args: InputArgs,
    #[command(flatten)]
    pub out: OutArgs,
}

impl Args {
    fn options(&self) -> anyhow::Result<GeodesicOptions> {
        let path = match (&self.path, self.path_frames) {
            (None, Some(_)) => anyhow::bail!("--path-frames needs --path I,J"),
            (None, None) => None,
            (Some(p), frames) => {
                let (from, to) = PathOptions::parse_ends(p)?;
                Some(PathOptions { from, to, frames: frames.unwrap_or(geodesic::path::DEFAULT_PATH_FRAMES) })
            }
        };
        Ok(GeodesicOptions {
            k: self.k,
            metric: self.metric,
            flow_method: self.flow_method.clone(),
            photometric_weight: self.photometric_weight,
            truth: self.truth.clone(),
            periodic: self.periodic.clone(),
            scales: self.truth_scale.clone(),
            sources: (!self.sources.is_empty()).then(|| self.sources.clone()),
            dims: self.dims,
            graph: self.graph,
            path,
            ..GeodesicOptions::default()
        })
    }
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let options = a.options()?;
    options.validate()?;
    a.out.check_inputs(&[&a.input])?;
    let mut results = output::Results::new("geodesic");
    results.seed(a.input_args.seed);
    let ds = results.timed("load", || a.input_args.load(&a.input))?;
    let pb = output::progress(0, "flow edges");
    let report = geodesic::run_dataset(&ds, &options, &pb);
    pb.finish_and_clear();
    let report = report?;
    for w in &report.diagnostics.warnings {
        eprintln!("warning: {}", w.message);
    }
    if let Some(why) = report.path.as_ref().and_then(|p| p.rendered_truth_skipped.as_ref()) {
        eprintln!("warning: the rendered true path is left out: {why}");
    }
    let row_name = |i: usize| ds.ids[i].clone();
    let dir_options =
        GeodesicDirOptions { row_name: &row_name, input: None, record_periodic: false, comparison_arrays: false };
    let v = a.out.write(|dir| Ok(geodesic::write_geodesic_dir(dir, &report, results, &dir_options)?))?;
    a.out.print(&v)
}
