//! The whole geodesic pipeline as one call, shared by `imanifold geodesic` and the demo: validated
//! [`GeodesicOptions`] → [`run`] → a typed [`GeodesicReport`] → [`write_geodesic_dir`](crate::write_geodesic_dir).

use std::fmt;
use std::str::FromStr;
use std::time::Instant;

use ndarray::{Array2, ArrayView2, Axis};
use optical_flow::{FlowMethod, FlowParams};

use crate::graph::{GraphDecisions, GraphKind, VerifyOptions};
use crate::{agreement, Agreement, Edge, GeodesicError, Result};

/// Neighbours per image in the graph.
pub const DEFAULT_K: usize = 8;

/// Dimensions of the Isomap embedding.
pub const DEFAULT_DIMS: usize = 2;

/// Graph of the default run.
pub const DEFAULT_GRAPH: GraphKind = GraphKind::Relative;

/// Edge weight of the default run.
pub const DEFAULT_METRIC: Metric = Metric::Flow;

/// How the edges of the kNN graph are weighted (names `flow`, `euclidean`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// RMS optical-flow length plus the photometric residual term (see the crate docs).
    Flow,
    /// Pixel distance.
    Euclidean,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::Flow => "flow",
            Metric::Euclidean => "euclidean",
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Metric {
    type Err = GeodesicError;
    fn from_str(s: &str) -> Result<Metric> {
        match s {
            "flow" => Ok(Metric::Flow),
            "euclidean" => Ok(Metric::Euclidean),
            _ => Err(GeodesicError::Param(format!("unknown metric `{s}` (flow, euclidean)"))),
        }
    }
}

/// A periodic truth column: differences wrap around a circle of circumference `period` (`NAME=PERIOD`).
#[derive(Debug, Clone, PartialEq)]
pub struct Periodic {
    pub name: String,
    /// > 0; +∞ means plain differences.
    pub period: f64,
}

impl FromStr for Periodic {
    type Err = GeodesicError;
    fn from_str(s: &str) -> Result<Periodic> {
        let (name, v) =
            s.split_once('=').ok_or_else(|| GeodesicError::Param(format!("periodic `{s}` is not NAME=PERIOD")))?;
        let period = v
            .parse::<f64>()
            .ok()
            .filter(|v| *v > 0.0)
            .ok_or_else(|| GeodesicError::Param(format!("periodic `{s}`: bad period")))?;
        Ok(Periodic { name: name.to_string(), period })
    }
}

/// A truth column's unit: its differences are divided by `scale` before the columns are combined (`NAME=SCALE`),
/// so parameters in different units (degrees, scene units) weigh as the user says.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnScale {
    pub name: String,
    /// > 0 and finite.
    pub scale: f64,
}

impl FromStr for ColumnScale {
    type Err = GeodesicError;
    fn from_str(s: &str) -> Result<ColumnScale> {
        let (name, v) =
            s.split_once('=').ok_or_else(|| GeodesicError::Param(format!("truth scale `{s}` is not NAME=SCALE")))?;
        let scale = v
            .parse::<f64>()
            .ok()
            .filter(|v| *v > 0.0 && v.is_finite())
            .ok_or_else(|| GeodesicError::Param(format!("truth scale `{s}`: need a positive finite scale")))?;
        Ok(ColumnScale { name: name.to_string(), scale })
    }
}

/// |a − b| on a circle of circumference `period` (plain |a − b| for an infinite period).
pub fn periodic_distance(a: f64, b: f64, period: f64) -> f64 {
    let mut d = (a - b).abs();
    if period.is_finite() {
        d %= period;
        d = d.min(period - d);
    }
    d
}

/// Everything [`run`] needs besides the data.
#[derive(Debug, Clone)]
pub struct GeodesicOptions {
    /// Neighbours per image (the graph is the symmetrised kNN graph).
    pub k: usize,
    pub metric: Metric,
    /// Optical-flow method of [`Metric::Flow`].
    pub flow_method: FlowMethod,
    /// λ: pixels charged per unit of RMS photometric residual.
    pub photometric_weight: f64,
    /// Truth columns: correlations of the distances with the distance in truth space.
    pub truth: Vec<String>,
    /// Periodic truth columns.
    pub periodic: Vec<Periodic>,
    /// Units of truth columns (differences divided by the scale; 1 for columns not listed). The truth distance is
    /// √Σ (Δ_c / scale_c)².
    pub scales: Vec<ColumnScale>,
    /// Only distances from these rows (`None`: all rows → an n × n matrix and an embedding).
    pub sources: Option<Vec<usize>>,
    /// Dimensions of the Isomap embedding (0 = none).
    pub dims: usize,
    /// Graph construction; [`GraphKind::Relative`] and [`GraphKind::Verified`] need [`Metric::Flow`] (with the
    /// Euclidean metric the kNN graph is used and recorded).
    pub graph: GraphKind,
    /// Thresholds of the verified graph.
    pub verify: VerifyOptions,
    /// The shortest path between two images (taken by [`crate::run_dataset`], which knows the images' names).
    pub path: Option<crate::path::PathOptions>,
}

impl Default for GeodesicOptions {
    fn default() -> Self {
        GeodesicOptions {
            k: DEFAULT_K,
            metric: DEFAULT_METRIC,
            flow_method: crate::default_flow_params().method,
            photometric_weight: crate::DEFAULT_PHOTOMETRIC_WEIGHT,
            truth: Vec::new(),
            periodic: Vec::new(),
            scales: Vec::new(),
            sources: None,
            dims: DEFAULT_DIMS,
            graph: DEFAULT_GRAPH,
            verify: VerifyOptions::default(),
            path: None,
        }
    }
}

impl GeodesicOptions {
    /// Checks what can be checked without the data.
    pub fn validate(&self) -> Result<()> {
        if self.k == 0 {
            return Err(GeodesicError::Param("k must be at least 1".into()));
        }
        if !(self.photometric_weight >= 0.0 && self.photometric_weight.is_finite()) {
            return Err(GeodesicError::Param(format!(
                "photometric weight must be ≥ 0, got {}",
                self.photometric_weight
            )));
        }
        FlowParams::new(self.flow_method.clone()).validate()?;
        self.verify.validate()?;
        if let Some(p) = &self.path {
            p.validate()?;
        }
        if let Some(c) = self.scales.iter().find(|c| !self.truth.contains(&c.name)) {
            return Err(GeodesicError::Param(format!("truth scale for `{}`, which is not a --truth column", c.name)));
        }
        Ok(())
    }

    /// Checks the options against a collection of `n` rows.
    fn validate_for(&self, n: usize) -> Result<()> {
        self.validate()?;
        if self.k >= n {
            return Err(GeodesicError::Param(format!("k = {} needs more than {n} images", self.k)));
        }
        if let Some(&s) = self.sources.iter().flatten().find(|&&s| s >= n) {
            return Err(GeodesicError::Param(format!("source row {s} is out of range (n = {n})")));
        }
        Ok(())
    }
}

/// A named column of the collection (a manifest column), offered to [`run`] for the truth.
#[derive(Debug, Clone, Copy)]
pub struct NamedColumn<'a> {
    pub name: &'a str,
    /// `None` for a column that is not numeric.
    pub values: Option<&'a [f64]>,
}

/// The data of one run.
#[derive(Debug, Clone, Copy)]
pub struct GeodesicInput<'a> {
    /// One row per image (pixels), the space of the kNN graph and of the pixel distances.
    pub data: ArrayView2<'a, f32>,
    /// The grey frame (h × w) of every row; needed by [`Metric::Flow`] only (`None` for a plain matrix).
    pub frames: Option<&'a [Array2<f32>]>,
    /// The columns the truth names are looked up in.
    pub columns: &'a [NamedColumn<'a>],
}

/// Isomap embedding of the largest component.
#[derive(Debug, Clone)]
pub struct Embedding {
    /// The embedded rows (the largest connected component), ascending.
    pub nodes: Vec<usize>,
    /// `nodes.len()` × dims coordinates.
    pub coords: Array2<f64>,
    pub eigenvalues: Vec<f64>,
}

/// Agreement of the distances with the truth.
#[derive(Debug, Clone)]
pub struct TruthReport {
    pub columns: Vec<String>,
    /// Correlations per distance: the graph metric's name, then `euclidean_graph` (flow metric only), then `pixel`.
    pub correlations: Vec<(String, Agreement)>,
    /// Euclidean-graph geodesics from the sources (flow metric only).
    pub euclidean_graph: Option<Array2<f32>>,
    /// Pixel distances from the sources.
    pub pixel: Array2<f32>,
}

/// What [`run`] measured.
#[derive(Debug, Clone)]
pub struct GeodesicReport {
    pub n: usize,
    pub k: usize,
    pub metric: Metric,
    pub flow_method: FlowMethod,
    pub photometric_weight: f64,
    /// The periodic truth columns of the options.
    pub periodic: Vec<Periodic>,
    /// The truth columns' scales of the options.
    pub scales: Vec<ColumnScale>,
    /// `None`: every row.
    pub sources: Option<Vec<usize>>,
    /// Edges of the graph with the weights used.
    pub edges: Vec<Edge>,
    /// How the graph was built and what was decided.
    pub graph: GraphDecisions,
    /// Signs of a gap or a shortcut, with the warnings to show.
    pub diagnostics: crate::diagnostics::Diagnostics,
    pub components: usize,
    /// Component label of every row.
    pub labels: Vec<usize>,
    /// Geodesic distances, rows = sources.
    pub distances: Array2<f32>,
    pub embedding: Option<Embedding>,
    pub truth: Option<TruthReport>,
    /// Seconds per stage (knn_graph, flow, dijkstra, embedding, path).
    pub timings: Vec<(&'static str, f64)>,
    /// The path of [`GeodesicOptions::path`] (set by [`crate::run_dataset`]).
    pub path: Option<crate::path::PathReport>,
}

fn timed<T>(timings: &mut Vec<(&'static str, f64)>, stage: &'static str, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = f();
    timings.push((stage, t.elapsed().as_secs_f64()));
    out
}

/// Looks up the truth columns (with their periods and scales) by name.
fn truth_columns<'a>(input: &GeodesicInput<'a>, options: &GeodesicOptions) -> Result<Vec<(&'a [f64], f64, f64)>> {
    options
        .truth
        .iter()
        .map(|name| {
            let col = input.columns.iter().find(|c| c.name == name).ok_or_else(|| {
                let have: Vec<&str> = input.columns.iter().map(|c| c.name).collect();
                GeodesicError::Param(format!(
                    "truth column `{name}` is not in the manifest (columns: {})",
                    have.join(", ")
                ))
            })?;
            let values =
                col.values.ok_or_else(|| GeodesicError::Param(format!("truth column `{name}` is not numeric")))?;
            if let Some(row) = values.iter().position(|v| !v.is_finite()) {
                // A correlation over pairs with a NaN truth distance would be meaningless.
                return Err(GeodesicError::Param(format!(
                    "truth column `{name}` holds the non-finite value {} at row {row}",
                    values[row]
                )));
            }
            let period = options.periodic.iter().rev().find(|p| &p.name == name).map_or(f64::INFINITY, |p| p.period);
            let scale = options.scales.iter().rev().find(|c| &c.name == name).map_or(1.0, |c| c.scale);
            Ok((values, period, scale))
        })
        .collect()
}

/// Isomap embedding of the largest component (ties: the smallest label).
fn embed(distances: ArrayView2<f32>, labels: &[usize], parts: usize, dims: usize) -> Result<Embedding> {
    let mut count = vec![0usize; parts];
    labels.iter().for_each(|&l| count[l] += 1);
    let big = (0..parts).max_by_key(|&l| (count[l], std::cmp::Reverse(l))).unwrap_or(0);
    let nodes: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == big).collect();
    let (coords, eigenvalues) = crate::classical_mds(distances, &nodes, dims.min(nodes.len()))?;
    Ok(Embedding { nodes, coords, eigenvalues })
}

/// Bytes a [`run`] on `n` rows with `options` needs at least, so callers can refuse before allocating: the
/// sources × n distance matrix, the Isomap embedding's double-centred n × n matrix and its eigendecomposition (float64,
/// about three copies), and with truth columns the all-pairs pixel distances (kNN with k = n − 1: indices and
/// distances, then the n × n matrix), the Euclidean-graph distances of the flow metric and the float64 pairs of the
/// agreement. The kNN graph and the edges (n × k) are small beside these.
pub fn memory_needed(n: usize, options: &GeodesicOptions) -> u128 {
    // Row counts of loaded data are far below 2^50, so these products fit in 128 bits.
    let n = n as u128;
    let s = options.sources.as_ref().map_or(n, |v| v.len() as u128);
    let mut bytes = 4 * s * n + n * options.k as u128 * 64;
    if options.sources.is_none() && options.dims > 0 {
        bytes = bytes.saturating_add(3 * 8 * n * n);
    }
    if !options.truth.is_empty() {
        let flow_graph = if options.metric == Metric::Flow { 4 * s * n } else { 0 };
        bytes = bytes.saturating_add(12 * n * n.saturating_sub(1) + 4 * n * n + 4 * s * n + flow_graph + 16 * s * n);
    }
    bytes
}

/// Geodesic distances of `input` (see the crate docs): kNN graph, edge weights, shortest paths from the sources,
/// the Isomap embedding of the largest component (all sources and `dims > 0`), and the agreement with the truth
/// columns. `progress` is told the number of flow edges once, then counts them.
pub fn run(input: GeodesicInput, options: &GeodesicOptions, progress: &dyn Progress) -> Result<GeodesicReport> {
    let n = input.data.nrows();
    options.validate_for(n)?;
    let truth_cols = truth_columns(&input, options)?;
    let frames = match (options.metric, input.frames) {
        (Metric::Flow, None) => return Err(GeodesicError::NotImages),
        (_, frames) => frames,
    };
    let all: Vec<usize> = (0..n).collect();
    let sources: &[usize] = options.sources.as_deref().unwrap_or(&all);
    let mut timings = Vec::new();

    let euclid_edges = timed(&mut timings, "knn_graph", || crate::knn_edges(input.data, options.k))?;
    let mut edges = euclid_edges.clone();
    let mut graph = None;
    if let (Metric::Flow, Some(frames)) = (options.metric, frames) {
        let params = FlowParams::new(options.flow_method.clone());
        let inc = |d| progress.inc(d);
        if options.graph != GraphKind::Knn {
            let build = match options.graph {
                GraphKind::Relative => crate::graph::relative_graph,
                _ => crate::graph::verified_graph,
            };
            let (e, g) = timed(&mut timings, "flow", || {
                build(input.data, frames, options.k, &params, options.photometric_weight, &options.verify, progress)
            })?;
            (edges, graph) = (e, Some(g));
        } else {
            progress.start(edges.len() as u64);
            timed(&mut timings, "flow", || {
                crate::weight_by_flow(&mut edges, frames, &params, options.photometric_weight, &inc)
            })?;
        }
    }
    let (components, labels) = crate::components(n, &edges);
    let graph = graph.unwrap_or(GraphDecisions {
        kind: GraphKind::Knn,
        candidate_k: options.k,
        candidates: Vec::new(),
        dropped: Vec::new(),
        bridges: Vec::new(),
        verified_bridges: Vec::new(),
        components_before: components,
        components_after: components,
        closures: Vec::new(),
        end_candidates: Vec::new(),
        end_flow: Vec::new(),
        thresholds: None,
    });
    let distances = timed(&mut timings, "dijkstra", || crate::shortest_paths(n, &edges, sources))?;
    let embedding = if options.sources.is_none() && options.dims > 0 {
        Some(timed(&mut timings, "embedding", || embed(distances.view(), &labels, components, options.dims))?)
    } else {
        None
    };
    let diagnostics = timed(&mut timings, "diagnostics", || {
        crate::diagnostics::diagnose(n, &edges, &graph, components, distances.view(), embedding.as_ref())
    });
    let truth = if truth_cols.is_empty() {
        None
    } else {
        let true_dist = |i: usize, j: usize| -> f64 {
            truth_cols
                .iter()
                .map(|(v, p, scale)| {
                    let d = periodic_distance(v[i], v[j], *p) / scale;
                    d * d
                })
                .sum::<f64>()
                .sqrt()
        };
        let mut correlations =
            vec![(options.metric.name().to_string(), agreement(distances.view(), sources, &true_dist))];
        let euclidean_graph = if options.metric == Metric::Flow {
            let e = crate::shortest_paths(n, &euclid_edges, sources)?;
            correlations.push(("euclidean_graph".into(), agreement(e.view(), sources, &true_dist)));
            Some(e)
        } else {
            None
        };
        let pixel = crate::pixel_distances(input.data)?.select(Axis(0), sources);
        correlations.push(("pixel".into(), agreement(pixel.view(), sources, &true_dist)));
        Some(TruthReport { columns: options.truth.clone(), correlations, euclidean_graph, pixel })
    };
    Ok(GeodesicReport {
        n,
        k: options.k,
        metric: options.metric,
        flow_method: options.flow_method.clone(),
        photometric_weight: options.photometric_weight,
        periodic: options.periodic.clone(),
        scales: options.scales.clone(),
        sources: options.sources.clone(),
        edges,
        graph,
        diagnostics,
        components,
        labels,
        distances,
        embedding,
        truth,
        timings,
        path: None,
    })
}

/// Progress of the flow stage (the slow one): the number of edges once, then increments.
pub trait Progress: Sync {
    fn start(&self, _total: u64) {}
    fn inc(&self, _delta: u64) {}
}

/// No progress reporting.
impl Progress for () {}

impl Progress for indicatif::ProgressBar {
    fn start(&self, total: u64) {
        self.set_length(total);
    }
    fn inc(&self, delta: u64) {
        indicatif::ProgressBar::inc(self, delta);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periodic_distance_wraps() {
        assert_eq!(periodic_distance(10.0, 20.0, 180.0), 10.0);
        assert_eq!(periodic_distance(-170.0, 170.0, 180.0), 20.0);
        assert_eq!(periodic_distance(0.0, 180.0, 180.0), 0.0);
        assert_eq!(periodic_distance(0.0, 90.0, 180.0), 90.0);
        assert_eq!(periodic_distance(-170.0, 170.0, f64::INFINITY), 340.0);
    }

    #[test]
    fn options_parse_and_validate() {
        assert_eq!("euclidean".parse::<Metric>().unwrap(), Metric::Euclidean);
        assert_eq!(Metric::Flow.to_string().parse::<Metric>().unwrap(), Metric::Flow);
        assert!("pixels".parse::<Metric>().is_err());
        assert_eq!("yaw=360".parse::<Periodic>().unwrap(), Periodic { name: "yaw".into(), period: 360.0 });
        assert!("yaw".parse::<Periodic>().is_err());
        assert!("yaw=-1".parse::<Periodic>().is_err());
        assert!(GeodesicOptions::default().validate().is_ok());
        assert!(GeodesicOptions { k: 0, ..GeodesicOptions::default() }.validate().is_err());
        assert!(GeodesicOptions { photometric_weight: f64::NAN, ..GeodesicOptions::default() }.validate().is_err());
    }

    /// Points on a circle of 12 angles: the Euclidean-metric run finds one component, embeds all points, and its
    /// geodesics agree with the periodic angle difference; bad inputs are refused before any work.
    #[test]
    fn run_on_a_circle_with_periodic_truth() {
        let n = 12;
        let angle: Vec<f64> = (0..n).map(|i| 30.0 * i as f64).collect();
        let data = Array2::from_shape_fn((n, 2), |(i, c)| {
            let t = angle[i].to_radians() as f32;
            if c == 0 {
                t.cos()
            } else {
                t.sin()
            }
        });
        let columns = [NamedColumn { name: "angle", values: Some(&angle) }, NamedColumn { name: "tag", values: None }];
        let input = GeodesicInput { data: data.view(), frames: None, columns: &columns };
        let options = GeodesicOptions {
            k: 2,
            metric: Metric::Euclidean,
            truth: vec!["angle".into()],
            periodic: vec!["angle=360".parse().unwrap()],
            ..GeodesicOptions::default()
        };
        let r = run(input, &options, &()).unwrap();
        assert_eq!((r.n, r.components, r.distances.dim()), (n, 1, (n, n)));
        assert_eq!(r.embedding.as_ref().unwrap().nodes.len(), n);
        let t = r.truth.as_ref().unwrap();
        let names: Vec<&str> = t.correlations.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["euclidean", "pixel"]);
        assert!(t.correlations[0].1.pearson > 0.999, "{:?}", t.correlations);
        // Without the period the far side of the circle disagrees.
        let plain = GeodesicOptions { periodic: Vec::new(), ..options.clone() };
        let p = run(input, &plain, &()).unwrap();
        assert!(p.truth.unwrap().correlations[0].1.pearson < 0.9);
        for bad in [
            GeodesicOptions { k: n, ..options.clone() },
            GeodesicOptions { sources: Some(vec![n]), ..options.clone() },
            GeodesicOptions { truth: vec!["tag".into()], ..options.clone() },
            GeodesicOptions { truth: vec!["nope".into()], ..options.clone() },
            GeodesicOptions { metric: Metric::Flow, ..options.clone() },
        ] {
            assert!(run(input, &bad, &()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn memory_estimate_counts_the_n_by_n_matrices() {
        let o = GeodesicOptions { k: 8, metric: Metric::Euclidean, ..GeodesicOptions::default() };
        let n = 100_000u128;
        // Distances (f32) and the float64 embedding: 28 n² bytes and the graph's n × k.
        assert_eq!(memory_needed(100_000, &o), 4 * n * n + 24 * n * n + n * 8 * 64);
        // Fewer sources: no embedding, a sources × n matrix.
        let few = GeodesicOptions { sources: Some(vec![0, 1]), ..o.clone() };
        assert_eq!(memory_needed(100_000, &few), 4 * 2 * n + n * 8 * 64);
        // Truth columns add the all-pairs pixel distances.
        let truth = GeodesicOptions { truth: vec!["yaw".into()], ..o.clone() };
        assert!(memory_needed(100_000, &truth) > memory_needed(100_000, &o) + 16 * n * (n - 1));
        // Far beyond any machine at sizes a loader could still list.
        assert!(memory_needed(1 << 32, &truth) > u64::MAX as u128);
    }
}
