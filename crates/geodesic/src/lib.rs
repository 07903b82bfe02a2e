//! Geodesic distances on the image manifold of a collection.
//!
//! 1. **Graph.** The symmetrised k-nearest-neighbour graph of the images (the shared `knn` engine): i–j is an edge
//!    when j is among i's k nearest or i among j's. With the flow metric the default ([`GraphKind::Relative`],
//!    module [`graph`]) then drops kNN edges the flow explains much worse than their ends' best edges (shortcuts
//!    between look-alike views), bridges components and closes sampling gaps with verified candidates from a
//!    larger k and from the ends of its components (measured also with a globally initialised flow);
//!    [`GraphKind::Knn`] keeps the plain kNN graph.
//! 2. **Edge weights.** [`EdgeMetric::Euclidean`]: the pixel distance. [`EdgeMetric::Flow`]: the length of the camera
//!    motion that maps one image onto the other, measured by dense optical flow (the `optical-flow` crate):
//!
//!    `w(i, j) = ½ (rms(F_ij) + rms(F_ji)) + λ · ½ (ρ_ij + ρ_ji)`
//!
//!    where `F_ij` is the flow from image i to image j, `rms` its root-mean-square displacement in pixels, and
//!    `ρ_ij = RMS(warp(I_j, F_ij) − I_i)` the photometric residual the flow leaves (intensities in [0, 1]). The
//!    residual term charges what a camera motion cannot explain (lighting changes, occlusions, flow failures); `λ`
//!    converts intensity into pixels (default [`DEFAULT_PHOTOMETRIC_WEIGHT`]: an RMS residual of 0.1 counts like
//!    1 px of motion).
//!
//!    The flow is solved at full resolution by default ([`DEFAULT_FLOW_METHOD`] = `dis-fine`: patch search and
//!    variational refinement down to pyramid level 0). The kNN neighbours of a rendered set of 48–64 px images move
//!    by fractions of a pixel to a few pixels; the optical-flow crate's default (`dis`) stops at half resolution
//!    and upsamples, which underestimates these motions more (per-edge RMS over the renderer's true flow: median
//!    0.36–0.39 against 0.48–0.55 for `dis-fine` on the README's, the demo's and the test's sets), by a factor that
//!    depends on how much texture a view shows, so edges of the same true length get different weights. Measured with
//!    `cargo run --release -p geodesic --example turntable_sweep -- grid method=NAME` (48 rendered `turntable`
//!    spin sets: full circles with n 40/60/90, 48/64 px, k 6/8, three seeds, and 120° segments): on the 30 sets
//!    whose kNN graph has no shortcut edge (none joins views more than 45° apart), flow geodesics reach Spearman
//!    ≥ 0.95 above Euclidean-graph geodesics and pixel distance on 23 with `dis-fine` against 6 with `dis`, at
//!    about 2–4× the flow time. In the same sweep λ = 30 or 100, a forward–backward occlusion charge and the
//!    forward–backward inconsistency as an extra term did not do better over all sets. Where the graph itself is
//!    wrong (edges between look-alike views far apart, or no edge across a sampling gap of the circle) no edge
//!    weight reaches 0.95.
//! 3. **Shortest paths** by Dijkstra (`petgraph`) from every node or from chosen sources (parallel over sources).
//!    Unreachable pairs get +∞ and the number of connected components is reported.
//! 4. **Embedding**: classical MDS of the geodesic distances (Isomap) on the largest component, by faer's symmetric
//!    eigendecomposition.
//! 5. **Truth**: Pearson and Spearman correlation between any distance matrix and distances in ground-truth parameter
//!    space, over all pairs with finite distance.
//!
//! [`run`] does all of it from validated [`GeodesicOptions`] and returns a [`GeodesicReport`];
//! [`write_geodesic_dir`] writes the output folder of `imanifold geodesic` (the demo's geodesic stage writes the
//! same files through the same two calls).

pub mod diagnostics;
mod dir;
mod ends;
mod from_dataset;
pub mod graph;
pub mod path;
mod pipeline;
pub mod render_truth;

pub use diagnostics::{graph_json, Diagnostics, Warning, WarningKind};
pub use dir::{correlation_json, set_geodesic_results, write_geodesic_dir, GeodesicDirOptions};
pub use from_dataset::{check_memory, gray_frames, run_dataset};
pub use graph::{GraphDecisions, GraphKind, VerifyOptions};
pub use path::{Endpoint, PathOptions, PathReport};
pub use pipeline::{
    memory_needed, periodic_distance, run, ColumnScale, Embedding, GeodesicInput, GeodesicOptions, GeodesicReport,
    Metric, NamedColumn, Periodic, Progress, TruthReport, DEFAULT_DIMS, DEFAULT_GRAPH, DEFAULT_K, DEFAULT_METRIC,
};
pub use render_truth::{render_true_path, RenderSource, RenderedTruth};

use ndarray::{Array2, ArrayView2, ArrayView3};
use optical_flow::{FlowEstimator, FlowParams};
use petgraph::graph::{NodeIndex, UnGraph};
use rayon::prelude::*;

/// λ of the photometric term, in pixels per unit of RMS intensity residual.
pub const DEFAULT_PHOTOMETRIC_WEIGHT: f64 = 10.0;

/// Optical-flow method of the flow metric (a name of [`optical_flow::method_names`]): DIS solved at full resolution
/// (see the crate docs for why and what was measured).
pub const DEFAULT_FLOW_METHOD: &str = "dis-fine";

/// The flow parameters of [`DEFAULT_FLOW_METHOD`].
pub fn default_flow_params() -> FlowParams {
    FlowParams::from_name(DEFAULT_FLOW_METHOD).expect("DEFAULT_FLOW_METHOD is a built-in method name")
}

#[derive(Debug, thiserror::Error)]
pub enum GeodesicError {
    #[error(transparent)]
    Knn(#[from] knn::KnnError),
    #[error("optical flow on edge {i}–{j}")]
    Flow {
        i: usize,
        j: usize,
        #[source]
        source: optical_flow::FlowError,
    },
    #[error(transparent)]
    FlowParams(#[from] optical_flow::FlowError),
    #[error("invalid parameter: {0}")]
    Param(String),
    #[error("the flow metric needs images (rows with an image shape); this collection is a plain matrix")]
    NotImages,
    #[error("eigendecomposition failed for the embedding")]
    Eigen,
    #[error(transparent)]
    Output(#[from] output::OutputError),
    #[error(transparent)]
    Pixels(#[from] pixels::PixelsError),
    #[error(
        "geodesic on {n} rows needs {needed} for the {what} distance matrices, {available} available; use --sources, \
         fewer rows (--limit, --sample) or --dims 0"
    )]
    Memory { n: usize, needed: dataset::limits::Bytes, what: &'static str, available: dataset::limits::Bytes },
    #[error("converting {id} to gray")]
    Gray {
        id: String,
        #[source]
        source: optical_flow::FlowError,
    },
}

pub type Result<T> = std::result::Result<T, GeodesicError>;

/// How an edge is weighted.
#[derive(Debug, Clone)]
pub enum EdgeMetric {
    Euclidean,
    Flow { params: FlowParams, photometric_weight: f64 },
}

/// One undirected edge of the kNN graph (i < j).
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    pub i: usize,
    pub j: usize,
    /// Pixel-space Euclidean distance.
    pub euclidean: f64,
    /// Symmetrised RMS flow displacement (pixels), flow metric only.
    pub flow_rms: Option<f64>,
    /// Symmetrised RMS photometric residual after warping, flow metric only.
    pub residual: Option<f64>,
    /// The weight used for shortest paths.
    pub weight: f64,
}

/// The symmetrised kNN graph of `data` with Euclidean weights, edges sorted by (i, j).
pub fn knn_edges(data: ArrayView2<f32>, k: usize) -> Result<Vec<Edge>> {
    let nb = knn::knn_self(data, k)?;
    let mut pairs: Vec<(usize, usize, f64)> = Vec::with_capacity(nb.n() * k);
    for i in 0..nb.n() {
        for c in 0..k {
            let j = nb.indices[[i, c]];
            let (a, b) = if i < j { (i, j) } else { (j, i) };
            pairs.push((a, b, nb.distances[[i, c]] as f64));
        }
    }
    pairs.sort_by_key(|&(a, b, _)| (a, b));
    pairs.dedup_by(|x, y| x.0 == y.0 && x.1 == y.1);
    Ok(pairs
        .into_iter()
        .map(|(i, j, e)| Edge { i, j, euclidean: e, flow_rms: None, residual: None, weight: e })
        .collect())
}

/// Re-weights `edges` by optical flow between the gray `frames` (see the crate docs for the formula).
pub fn weight_by_flow(
    edges: &mut [Edge],
    frames: &[Array2<f32>],
    params: &FlowParams,
    photometric_weight: f64,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<()> {
    if !(photometric_weight >= 0.0 && photometric_weight.is_finite()) {
        return Err(GeodesicError::Param(format!("photometric weight must be ≥ 0, got {photometric_weight}")));
    }
    // Not an edge yet: the parameters, then each image (the error names it).
    let est = FlowEstimator::new(params.clone())?;
    let prepared: Vec<_> = frames
        .par_iter()
        .enumerate()
        .map(|(i, f)| est.prepare_named(f.view(), &format!("image {i}")))
        .collect::<std::result::Result<_, _>>()
        .map_err(GeodesicError::FlowParams)?;
    let measured: Vec<Result<(f64, f64)>> = edges
        .par_iter()
        .map(|e| {
            let err = |source| GeodesicError::Flow { i: e.i, j: e.j, source };
            let fwd = est.flow(&prepared[e.i], &prepared[e.j]).map_err(err)?;
            let bwd = est.flow(&prepared[e.j], &prepared[e.i]).map_err(err)?;
            let rms = 0.5 * (rms(fwd.view()) + rms(bwd.view()));
            let res = 0.5
                * (residual(frames[e.i].view(), frames[e.j].view(), fwd.view()).map_err(err)?
                    + residual(frames[e.j].view(), frames[e.i].view(), bwd.view()).map_err(err)?);
            progress(1);
            Ok((rms, res))
        })
        .collect();
    for (e, m) in edges.iter_mut().zip(measured) {
        let (rms, res) = m?;
        e.flow_rms = Some(rms);
        e.residual = Some(res);
        e.weight = rms + photometric_weight * res;
    }
    Ok(())
}

fn rms(flow: ArrayView3<f32>) -> f64 {
    let n = (flow.len() / 2).max(1) as f64;
    (flow.iter().map(|&x| x as f64 * x as f64).sum::<f64>() / n).sqrt()
}

/// RMS of warp(b, flow_ab) − a.
fn residual(
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    flow_ab: ArrayView3<f32>,
) -> std::result::Result<f64, optical_flow::FlowError> {
    let w = optical_flow::warp(b, flow_ab)?;
    let n = a.len().max(1) as f64;
    Ok((w.iter().zip(a.iter()).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum::<f64>() / n).sqrt())
}

/// Connected components: (count, label per node; labels numbered by smallest member).
pub fn components(n: usize, edges: &[Edge]) -> (usize, Vec<usize>) {
    let mut uf = petgraph::unionfind::UnionFind::<usize>::new(n);
    for e in edges {
        uf.union(e.i, e.j);
    }
    let mut label = vec![usize::MAX; n];
    let mut root_label = std::collections::HashMap::new();
    for (v, l) in label.iter_mut().enumerate() {
        let r = uf.find(v);
        let next = root_label.len();
        *l = *root_label.entry(r).or_insert(next);
    }
    (root_label.len(), label)
}

/// Shortest-path distances from each of `sources` to every node (rows = sources), +∞ when unreachable.
pub fn shortest_paths(n: usize, edges: &[Edge], sources: &[usize]) -> Result<Array2<f32>> {
    if let Some(&s) = sources.iter().find(|&&s| s >= n) {
        return Err(GeodesicError::Param(format!("source {s} is out of range (n = {n})")));
    }
    if let Some(e) = edges.iter().find(|e| !(e.weight >= 0.0 && e.weight.is_finite())) {
        return Err(GeodesicError::Param(format!("edge {}–{} has weight {}", e.i, e.j, e.weight)));
    }
    let mut g = UnGraph::<(), f64>::with_capacity(n, edges.len());
    for _ in 0..n {
        g.add_node(());
    }
    for e in edges {
        g.add_edge(NodeIndex::new(e.i), NodeIndex::new(e.j), e.weight);
    }
    let rows: Vec<Vec<f32>> = sources
        .par_iter()
        .map(|&s| {
            let dist = petgraph::algo::dijkstra(&g, NodeIndex::new(s), None, |e| *e.weight());
            let mut row = vec![f32::INFINITY; n];
            for (node, d) in dist {
                row[node.index()] = d as f32;
            }
            row
        })
        .collect();
    let mut out = Array2::<f32>::from_elem((sources.len(), n), f32::INFINITY);
    for (mut r, v) in out.rows_mut().into_iter().zip(rows) {
        r.iter_mut().zip(v).for_each(|(a, b)| *a = b);
    }
    Ok(out)
}

/// Classical MDS (Isomap's last step) of a full symmetric distance matrix restricted to `nodes`: `dims` coordinates
/// per node and the eigenvalues used (descending).
pub fn classical_mds(dist: ArrayView2<f32>, nodes: &[usize], dims: usize) -> Result<(Array2<f64>, Vec<f64>)> {
    let m = nodes.len();
    if dims == 0 || dims > m {
        return Err(GeodesicError::Param(format!("embedding dimension {dims} needs 1..={m}")));
    }
    // B = −½ J D² J
    let d2 = faer::Mat::<f64>::from_fn(m, m, |a, b| (dist[[nodes[a], nodes[b]]] as f64).powi(2));
    let row_mean: Vec<f64> = (0..m).map(|a| (0..m).map(|b| d2[(a, b)]).sum::<f64>() / m as f64).collect();
    let total = row_mean.iter().sum::<f64>() / m as f64;
    let b = faer::Mat::<f64>::from_fn(m, m, |a, c| -0.5 * (d2[(a, c)] - row_mean[a] - row_mean[c] + total));
    let eig = b.self_adjoint_eigen(faer::Side::Lower).map_err(|_| GeodesicError::Eigen)?;
    let vals = eig.S().column_vector();
    let vecs = eig.U();
    let mut coords = Array2::<f64>::zeros((m, dims));
    let mut used = Vec::with_capacity(dims);
    for t in 0..dims {
        let idx = m - 1 - t; // ascending order from faer
        let lam = vals[idx].max(0.0);
        used.push(vals[idx]);
        // Fix the sign so that the largest-magnitude coordinate is positive (deterministic output).
        let col: Vec<f64> = (0..m).map(|a| vecs[(a, idx)]).collect();
        let pivot = col.iter().copied().fold(0.0f64, |acc, x| if x.abs() > acc.abs() { x } else { acc });
        let sign = if pivot < 0.0 { -1.0 } else { 1.0 };
        for a in 0..m {
            coords[[a, t]] = sign * col[a] * lam.sqrt();
        }
    }
    Ok((coords, used))
}

/// Pearson correlation of two equally long samples (NaN when either is constant).
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    if x.len() != y.len() || x.len() < 2 {
        return f64::NAN;
    }
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    sxy / (sxx * syy).sqrt()
}

/// Ranks with ties averaged (1-based).
pub fn ranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]).then(a.cmp(&b)));
    let mut r = vec![0.0; x.len()];
    let mut s = 0;
    while s < order.len() {
        let mut e = s;
        while e + 1 < order.len() && x[order[e + 1]] == x[order[s]] {
            e += 1;
        }
        let avg = (s + e) as f64 / 2.0 + 1.0;
        for &o in &order[s..=e] {
            r[o] = avg;
        }
        s = e + 1;
    }
    r
}

/// Spearman rank correlation (Pearson on tie-averaged ranks).
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&ranks(x), &ranks(y))
}

/// Correlations between a distance matrix (rows = `sources`) and the truth distance over all pairs (s, j), j ≠ s,
/// with finite distance (each unordered pair once when the sources are all nodes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Agreement {
    pub pearson: f64,
    pub spearman: f64,
    pub pairs: usize,
    /// Normalised stress after the best scale factor: √(Σ (t − s·d)² / Σ t²) with s = Σ t·d / Σ d², over the same
    /// pairs (0: the distances are the truth up to a scale; 1: no better than all zeros).
    pub stress: f64,
}

pub fn agreement(dist: ArrayView2<f32>, sources: &[usize], truth: &dyn Fn(usize, usize) -> f64) -> Agreement {
    let all_nodes = sources.len() == dist.ncols() && sources.iter().enumerate().all(|(a, &s)| a == s);
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for (row, &s) in sources.iter().enumerate() {
        for j in 0..dist.ncols() {
            if j == s || (all_nodes && j < s) {
                continue;
            }
            let d = dist[[row, j]];
            if d.is_finite() {
                xs.push(d as f64);
                ys.push(truth(s, j));
            }
        }
    }
    Agreement { pearson: pearson(&xs, &ys), spearman: spearman(&xs, &ys), pairs: xs.len(), stress: stress(&xs, &ys) }
}

/// Normalised stress of distances `d` against truth `t` after the least-squares scale (see [`Agreement::stress`]);
/// NaN without pairs or with all-zero distances or truth.
pub fn stress(d: &[f64], t: &[f64]) -> f64 {
    let dd: f64 = d.iter().map(|x| x * x).sum();
    let tt: f64 = t.iter().map(|x| x * x).sum();
    if d.is_empty() || dd == 0.0 || tt == 0.0 {
        return f64::NAN;
    }
    let s = d.iter().zip(t).map(|(a, b)| a * b).sum::<f64>() / dd;
    (d.iter().zip(t).map(|(a, b)| (b - s * a).powi(2)).sum::<f64>() / tt).sqrt()
}

/// All-pairs pixel distances (n × n), through the kNN engine with k = n − 1 (exact, the one distance code path).
pub fn pixel_distances(data: ArrayView2<f32>) -> Result<Array2<f32>> {
    let n = data.nrows();
    let mut out = Array2::<f32>::zeros((n, n));
    if n < 2 {
        return Ok(out);
    }
    let nb = knn::knn_self(data, n - 1)?;
    for i in 0..n {
        for c in 0..n - 1 {
            out[[i, nb.indices[[i, c]]]] = nb.distances[[i, c]];
        }
    }
    Ok(out)
}

/// Writes `edges.csv` (i, j, euclidean, flow_rms, residual, weight; flow columns empty for Euclidean edges), the
/// format `imanifold geodesic` and the demo share.
pub fn write_edges_csv(path: &std::path::Path, edges: &[Edge]) -> Result<()> {
    let opt = |x: Option<f64>| x.map_or(String::new(), output::fmt_f64);
    output::write_csv(
        path,
        &["i", "j", "euclidean", "flow_rms", "residual", "weight"],
        edges.iter().map(|e| {
            vec![
                e.i.to_string(),
                e.j.to_string(),
                output::fmt_f64(e.euclidean),
                opt(e.flow_rms),
                opt(e.residual),
                output::fmt_f64(e.weight),
            ]
        }),
    )?;
    Ok(())
}

/// Writes `embedding.csv`: one row per embedded node (`row`, `file` = `name(row)`, `x0`, `x1`, …), `coords` holding
/// the rows of [`classical_mds`] for `nodes`.
pub fn write_embedding_csv(
    path: &std::path::Path,
    nodes: &[usize],
    coords: ndarray::ArrayView2<f64>,
    name: &dyn Fn(usize) -> String,
) -> Result<()> {
    let dims = coords.ncols();
    let mut header = vec!["row".to_string(), "file".to_string()];
    header.extend((0..dims).map(|t| format!("x{t}")));
    let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
    output::write_csv(
        path,
        &header_refs,
        nodes.iter().enumerate().map(|(r, &i)| {
            let mut row = vec![i.to_string(), name(i)];
            row.extend((0..dims).map(|t| output::fmt_f64(coords[[r, t]])));
            row
        }),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_edges(n: usize) -> Vec<Edge> {
        (0..n - 1).map(|i| Edge { i, j: i + 1, euclidean: 1.0, flow_rms: None, residual: None, weight: 1.0 }).collect()
    }

    #[test]
    fn dijkstra_on_a_path_and_disconnected_parts() {
        let mut e = line_edges(5);
        e.retain(|e| e.i != 2); // cut 2–3
        let d = shortest_paths(5, &e, &[0, 4]).unwrap();
        assert_eq!(d.row(0).to_vec(), vec![0.0, 1.0, 2.0, f32::INFINITY, f32::INFINITY]);
        assert_eq!(d.row(1).to_vec(), vec![f32::INFINITY, f32::INFINITY, f32::INFINITY, 1.0, 0.0]);
        assert_eq!(components(5, &e), (2, vec![0, 0, 0, 1, 1]));
        assert!(shortest_paths(5, &e, &[9]).is_err());
    }

    #[test]
    fn isomap_unrolls_a_semicircle() {
        // Points on a half circle: the geodesic (arc) distance embeds isometrically on a line.
        let n = 40;
        let pts = Array2::from_shape_fn((n, 2), |(i, c)| {
            let t = std::f32::consts::PI * i as f32 / (n - 1) as f32;
            if c == 0 {
                t.cos()
            } else {
                t.sin()
            }
        });
        let edges = knn_edges(pts.view(), 2).unwrap();
        let all: Vec<usize> = (0..n).collect();
        let g = shortest_paths(n, &edges, &all).unwrap();
        let (coords, eig) = classical_mds(g.view(), &all, 2).unwrap();
        assert!(eig[1].abs() < 1e-3 * eig[0], "one dominant direction: {eig:?}");
        let x: Vec<f64> = coords.column(0).to_vec();
        let truth: Vec<f64> = (0..n).map(|i| i as f64).collect();
        assert!(spearman(&x, &truth).abs() > 0.999);
        let a = agreement(g.view(), &all, &|i, j| (i as f64 - j as f64).abs());
        assert!(a.pearson > 0.999 && a.spearman > 0.999, "{a:?}");
        assert_eq!(a.pairs, n * (n - 1) / 2);
    }

    #[test]
    fn default_flow_method_is_full_resolution_dis() {
        let p = default_flow_params();
        assert_eq!(p.method.name(), DEFAULT_FLOW_METHOD);
        assert_eq!(p.method, optical_flow::FlowMethod::Dis(optical_flow::DisParams::fine()));
    }

    #[test]
    fn rank_statistics() {
        assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
        assert!((spearman(&[1.0, 2.0, 3.0, 4.0], &[10.0, 20.0, 25.0, 100.0]) - 1.0).abs() < 1e-12);
        assert!((pearson(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        assert!(pearson(&[1.0, 1.0], &[1.0, 2.0]).is_nan());
    }

    #[test]
    fn pixel_distances_are_symmetric_and_exact() {
        let x = ndarray::arr2(&[[0.0f32, 0.0], [3.0, 4.0], [6.0, 8.0]]);
        let d = pixel_distances(x.view()).unwrap();
        assert_eq!(d, ndarray::arr2(&[[0.0, 5.0, 10.0], [5.0, 0.0, 5.0], [10.0, 5.0, 0.0]]));
    }
}
