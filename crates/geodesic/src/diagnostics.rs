//! Signs that the graph has a gap or a shortcut, for a warning the user can act on.
//!
//! - **Shortcut**: an edge i–j whose *detour* — the shortest i–j path once the edge is removed — is more than
//!   [`SHORTCUT_DETOUR`] times the edge's own weight. On a densely sampled manifold every edge has a short detour
//!   through common neighbours; an edge between look-alike views far apart is the only short way between two distant
//!   stretches. (An edge with no detour at all, a bridge of the graph, is not counted.)
//! - **Gap**: the Isomap embedding of the geodesics is nearly one-dimensional (second eigenvalue below
//!   [`GAP_EIGENVALUE_RATIO`] of the first). Expected for a segment; for a collection that should close into a loop
//!   (a full turn) it means that no edge crosses some sampling gap.
//! - **Poor embedding**: the residual variance of the embedding (1 − r² of embedded against geodesic distances)
//!   is above [`POOR_RESIDUAL_VARIANCE`].
//! - **Disconnected**, and **unverified bridges** (the verified graph had to join components by edges the flow does
//!   not explain).

use std::fmt;

use ndarray::ArrayView2;
use petgraph::graph::{NodeIndex, UnGraph};
use rayon::prelude::*;

use crate::graph::GraphDecisions;
use crate::{Edge, Embedding};

/// Detour / weight ratio above which an edge counts as a possible shortcut.
pub const SHORTCUT_DETOUR: f64 = 20.0;

/// λ2 / λ1 of the embedding below which it counts as one-dimensional.
pub const GAP_EIGENVALUE_RATIO: f64 = 0.01;

/// Residual variance of the embedding above which it counts as poor.
pub const POOR_RESIDUAL_VARIANCE: f64 = 0.3;

/// What a warning is about (names `disconnected`, `unverified_bridges`, `shortcut`, `gap`, `poor_embedding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarningKind {
    Disconnected,
    UnverifiedBridges,
    Shortcut,
    Gap,
    PoorEmbedding,
}

impl fmt::Display for WarningKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WarningKind::Disconnected => "disconnected",
            WarningKind::UnverifiedBridges => "unverified_bridges",
            WarningKind::Shortcut => "shortcut",
            WarningKind::Gap => "gap",
            WarningKind::PoorEmbedding => "poor_embedding",
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Warning {
    pub kind: WarningKind,
    pub message: String,
}

/// An edge with a long detour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detour {
    pub i: usize,
    pub j: usize,
    pub weight: f64,
    /// Shortest i–j path length without the edge.
    pub detour: f64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Diagnostics {
    /// λ2 / λ1 of the embedding (embeddings of ≥ 2 dimensions).
    pub eigenvalue_ratio: Option<f64>,
    /// 1 − r² between embedded and geodesic distances.
    pub residual_variance: Option<f64>,
    /// Edges whose detour exceeds [`SHORTCUT_DETOUR`] × weight, longest ratio first.
    pub shortcuts: Vec<Detour>,
    pub warnings: Vec<Warning>,
}

/// Shortest i–j path without edge number `skip` (+∞ when none).
fn detour(g: &UnGraph<(), f64>, e: &Edge, skip: usize) -> f64 {
    let dist = petgraph::algo::dijkstra(
        &g.filter_map(|_, _| Some(()), |ix, w| (ix.index() != skip).then_some(*w)),
        NodeIndex::new(e.i),
        Some(NodeIndex::new(e.j)),
        |x| *x.weight(),
    );
    dist.get(&NodeIndex::new(e.j)).copied().unwrap_or(f64::INFINITY)
}

/// The edges of `edges` (a graph on `n` nodes) whose detour is more than [`SHORTCUT_DETOUR`] times their weight.
pub fn shortcut_edges(n: usize, edges: &[Edge]) -> Vec<Detour> {
    let mut g = UnGraph::<(), f64>::with_capacity(n, edges.len());
    for _ in 0..n {
        g.add_node(());
    }
    for e in edges {
        g.add_edge(NodeIndex::new(e.i), NodeIndex::new(e.j), e.weight);
    }
    let mut out: Vec<Detour> = edges
        .par_iter()
        .enumerate()
        .filter_map(|(s, e)| {
            let d = detour(&g, e, s);
            (d.is_finite() && d > SHORTCUT_DETOUR * e.weight).then_some(Detour {
                i: e.i,
                j: e.j,
                weight: e.weight,
                detour: d,
            })
        })
        .collect();
    out.sort_by(|a, b| (b.detour / b.weight).total_cmp(&(a.detour / a.weight)).then((a.i, a.j).cmp(&(b.i, b.j))));
    out
}

/// 1 − r² between the pairwise distances of the embedded coordinates and the geodesic distances of its nodes.
pub fn residual_variance(distances: ArrayView2<f32>, embedding: &Embedding) -> f64 {
    let nodes = &embedding.nodes;
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for a in 0..nodes.len() {
        for b in a + 1..nodes.len() {
            let d = distances[[nodes[a], nodes[b]]] as f64;
            let c =
                embedding.coords.row(a).iter().zip(embedding.coords.row(b)).map(|(p, q)| (p - q).powi(2)).sum::<f64>();
            x.push(d);
            y.push(c.sqrt());
        }
    }
    let r = crate::pearson(&x, &y);
    if r.is_finite() {
        1.0 - r * r
    } else {
        0.0
    }
}

/// All diagnostics of a finished run; `distances` is the full n × n matrix when there is an embedding.
pub fn diagnose(
    n: usize,
    edges: &[Edge],
    graph: &GraphDecisions,
    components: usize,
    distances: ArrayView2<f32>,
    embedding: Option<&Embedding>,
) -> Diagnostics {
    let mut d = Diagnostics { shortcuts: shortcut_edges(n, edges), ..Diagnostics::default() };
    let mut warn = |kind, message: String| d.warnings.push(Warning { kind, message });
    if components > 1 {
        warn(
            WarningKind::Disconnected,
            format!(
                "the graph has {components} connected components: some geodesic distances are infinite (raise --k)"
            ),
        );
    }
    if !graph.bridges.is_empty() {
        warn(
            WarningKind::UnverifiedBridges,
            format!(
                "{} edge(s) the flow does not explain were added to connect the graph: distances across them are unreliable",
                graph.bridges.len()
            ),
        );
    }
    if !d.shortcuts.is_empty() {
        let s = d.shortcuts[0];
        warn(
            WarningKind::Shortcut,
            format!(
                "{} edge(s) join images whose other path is over {SHORTCUT_DETOUR}× longer (worst {}–{}: {:.1}×): possible shortcuts between look-alike views",
                d.shortcuts.len(),
                s.i,
                s.j,
                s.detour / s.weight
            ),
        );
    }
    if let Some(e) = embedding {
        if e.eigenvalues.len() >= 2 && e.eigenvalues[0] > 0.0 {
            let ratio = e.eigenvalues[1].max(0.0) / e.eigenvalues[0];
            d.eigenvalue_ratio = Some(ratio);
            if ratio < GAP_EIGENVALUE_RATIO {
                warn(
                    WarningKind::Gap,
                    format!("the embedding is nearly one-dimensional (λ2/λ1 = {ratio:.4}): if the images should close into a loop (a full turn), no edge crosses a sampling gap (raise --k or sample the gap)"),
                );
            }
        }
        let rv = residual_variance(distances, e);
        d.residual_variance = Some(rv);
        if rv > POOR_RESIDUAL_VARIANCE {
            warn(
                WarningKind::PoorEmbedding,
                format!(
                    "the {}-D embedding leaves {rv:.2} of the geodesic distances' variance unexplained",
                    e.coords.ncols()
                ),
            );
        }
    }
    d
}

/// The `graph` object of results.json: the construction, its decisions and the diagnostics (`long_detour_edges`:
/// [i, j, weight, detour] rows; `warnings`: [kind, message] rows; pairs as [i, j]).
pub fn graph_json(report: &crate::GeodesicReport) -> serde_json::Value {
    use serde_json::json;
    let g = &report.graph;
    let d = &report.diagnostics;
    let pairs = |v: &[(usize, usize)]| v.iter().map(|&(i, j)| json!([i, j])).collect::<Vec<_>>();
    let verified = g.candidates.iter().filter(|c| c.verified).count();
    json!({
        "kind": g.kind.name(),
        "candidate_k": g.candidate_k,
        "candidates": g.candidates.len(),
        "verified": verified,
        "dropped_shortcuts": pairs(&g.dropped),
        "unverified_bridges": pairs(&g.bridges),
        "verified_bridges": pairs(&g.verified_bridges),
        "components_before": g.components_before,
        "components_after": g.components_after,
        "knn_edges": g.candidates.iter().filter(|c| c.knn).count(),
        "closures": pairs(&g.closures),
        "end_candidates": g
            .end_candidates
            .iter()
            .zip(&g.end_flow)
            .map(|(&(i, j), m)| json!([i, j, m]))
            .collect::<Vec<_>>(),
        "thresholds": g.thresholds.map(|t| json!({
            "candidate_factor": t.candidate_factor,
            "max_residual_ratio": output::json_f64(t.max_residual_ratio),
            "max_fb_error": output::json_f64(t.max_fb_error),
            "relative_margin": output::json_f64(t.relative_margin),
            "relative_floor": output::json_f64(t.relative_floor),
            "closure_margin": output::json_f64(t.closure_margin),
            "closure_detour": output::json_f64(t.closure_detour),
            "end_candidates": t.end_candidates,
            "end_global_init": t.end_global_init,
            "end_margin": output::json_f64(t.end_margin),
        })),
        "diagnostics": {
            "eigenvalue_ratio": d.eigenvalue_ratio.map(output::json_f64),
            "residual_variance": d.residual_variance.map(output::json_f64),
            "long_detour_edges": d
                .shortcuts
                .iter()
                .map(|s| json!([s.i, s.j, output::json_f64(s.weight), output::json_f64(s.detour)]))
                .collect::<Vec<_>>(),
            "warnings": d.warnings.iter().map(|w| json!([w.kind.to_string(), w.message])).collect::<Vec<_>>(),
        },
    })
}
