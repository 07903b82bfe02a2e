//! The geodesic between two images as a path: the shortest path of the graph (the images it visits, with the edge
//! weights), optionally flow-morph in-betweens along each edge, and — when truth columns are given — the parameter
//! error along it; on a render folder [`crate::run_dataset`] adds the renderer's true path at every frame
//! ([`crate::render_truth`]).
//!
//! **Parameter error.** On a rendered collection the true geodesic between the endpoints' parameters p_a and p_b is
//! the straight segment in parameter space (per column; a periodic column goes the short way round). At a node at
//! fraction t = (graph length so far) / (total length) of the path, the expected parameter is p_a + t (p_b − p_a);
//! the error is |p − expected| (wrapped for periodic columns). A path that visits the right images in the right
//! order at an even pace has errors near zero; a shortcut through a look-alike view shows as a large jump.

use std::str::FromStr;

use ndarray::Array3;
use optical_flow::{FlowEstimator, FlowParams, Morph, MorphParams};
use petgraph::graph::{NodeIndex, UnGraph};
use rayon::prelude::*;
use serde_json::{json, Value};

use crate::{Edge, GeodesicError, Result};

/// Flow-morph in-between frames per edge of a path unless told otherwise.
pub const DEFAULT_PATH_FRAMES: usize = 3;
/// Most in-between frames per edge.
pub const MAX_PATH_FRAMES: usize = 100;

/// One end of a path: a row index or an image identifier (file name) of the collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Row(usize),
    Name(String),
}

impl FromStr for Endpoint {
    type Err = GeodesicError;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        if s.is_empty() {
            return Err(GeodesicError::Param("a path endpoint is empty (give a row index or a file name)".into()));
        }
        Ok(s.parse::<usize>().map(Endpoint::Row).unwrap_or_else(|_| Endpoint::Name(s.to_string())))
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Row(r) => write!(f, "{r}"),
            Endpoint::Name(n) => f.write_str(n),
        }
    }
}

/// `--path I,J`: the endpoints and the flow-morph frames between consecutive images.
#[derive(Debug, Clone, PartialEq)]
pub struct PathOptions {
    pub from: Endpoint,
    pub to: Endpoint,
    /// In-between frames per edge (0: the graph's images only).
    pub frames: usize,
}

impl PathOptions {
    pub fn validate(&self) -> Result<()> {
        if self.frames > MAX_PATH_FRAMES {
            return Err(GeodesicError::Param(format!(
                "path frames {} (need 0 to {MAX_PATH_FRAMES} per edge)",
                self.frames
            )));
        }
        Ok(())
    }

    /// Parses `I,J` (row indices or file names).
    pub fn parse_ends(s: &str) -> Result<(Endpoint, Endpoint)> {
        let (a, b) =
            s.split_once(',').ok_or_else(|| GeodesicError::Param(format!("path `{s}`: give two endpoints as I,J")))?;
        Ok((a.parse()?, b.parse()?))
    }
}

/// Row of an endpoint among `ids` (the collection's identifiers).
pub fn resolve(end: &Endpoint, ids: &[String]) -> Result<usize> {
    match end {
        Endpoint::Row(r) if *r < ids.len() => Ok(*r),
        Endpoint::Row(r) => {
            Err(GeodesicError::Param(format!("path endpoint row {r} is out of range (n = {})", ids.len())))
        }
        Endpoint::Name(n) => ids.iter().position(|i| i == n).ok_or_else(|| {
            GeodesicError::Param(format!("path endpoint `{n}` is neither a row index nor an image of the collection"))
        }),
    }
}

/// The shortest path from `from` to `to` on the graph: the rows visited (both ends included) and the weight of
/// each step; `None` when they are in different components.
pub fn shortest_path(n: usize, edges: &[Edge], from: usize, to: usize) -> Result<Option<(Vec<usize>, Vec<f64>)>> {
    if from >= n || to >= n {
        return Err(GeodesicError::Param(format!("path endpoint out of range (n = {n})")));
    }
    let mut g = UnGraph::<(), f64>::with_capacity(n, edges.len());
    for _ in 0..n {
        g.add_node(());
    }
    for e in edges {
        g.add_edge(NodeIndex::new(e.i), NodeIndex::new(e.j), e.weight);
    }
    let found = petgraph::algo::astar(&g, NodeIndex::new(from), |v| v.index() == to, |e| *e.weight(), |_| 0.0);
    let Some((_, nodes)) = found else { return Ok(None) };
    let nodes: Vec<usize> = nodes.into_iter().map(|v| v.index()).collect();
    let steps = nodes
        .windows(2)
        .map(|w| {
            // The lightest edge between consecutive nodes (the one the search used).
            g.edges_connecting(NodeIndex::new(w[0]), NodeIndex::new(w[1]))
                .map(|e| *e.weight())
                .fold(f64::INFINITY, f64::min)
        })
        .collect();
    Ok(Some((nodes, steps)))
}

/// The parameter error along a path for one truth column.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnError {
    pub name: String,
    /// Period of the column (∞ when not periodic).
    pub period: f64,
    /// Per path node: the true value and the value expected on the straight segment.
    pub actual: Vec<f64>,
    pub expected: Vec<f64>,
    pub mean_abs_error: f64,
    pub max_abs_error: f64,
    /// |p_b − p_a| (the short way round for a periodic column): the scale the errors compare with.
    pub span: f64,
}

/// `d` wrapped into (−period/2, period/2] (unchanged for an infinite period): the short way round.
pub(crate) fn wrap(d: f64, period: f64) -> f64 {
    if period.is_finite() {
        d - period * (d / period).round()
    } else {
        d
    }
}

/// The fraction t of a path's graph length at `position` in edge units (node i at i, a point of edge i at i + s:
/// the length up to node i plus s times edge i's weight, over the total; by hops when the total is 0). 0 for a path
/// without steps.
pub fn fraction_at(steps: &[f64], position: f64) -> f64 {
    if steps.is_empty() {
        return 0.0;
    }
    let position = position.clamp(0.0, steps.len() as f64);
    let i = (position.floor() as usize).min(steps.len() - 1);
    let s = position - i as f64;
    let total: f64 = steps.iter().sum();
    if total > 0.0 {
        (steps[..i].iter().sum::<f64>() + s * steps[i]) / total
    } else {
        position / steps.len() as f64
    }
}

/// Parameter errors of a path (`nodes`, `steps` as [`shortest_path`] returns) for columns of (name, values, period).
pub fn column_errors(nodes: &[usize], steps: &[f64], columns: &[(String, &[f64], f64)]) -> Vec<ColumnError> {
    let t: Vec<f64> = (0..nodes.len()).map(|i| fraction_at(steps, i as f64)).collect();
    let (a, b) = (nodes[0], nodes[nodes.len() - 1]);
    columns
        .iter()
        .map(|(name, values, period)| {
            let delta = wrap(values[b] - values[a], *period);
            let actual: Vec<f64> = nodes.iter().map(|&r| values[r]).collect();
            let expected: Vec<f64> = t.iter().map(|&t| values[a] + t * delta).collect();
            let errors: Vec<f64> = actual.iter().zip(&expected).map(|(x, e)| wrap(x - e, *period).abs()).collect();
            ColumnError {
                name: name.clone(),
                period: *period,
                mean_abs_error: errors.iter().sum::<f64>() / errors.len() as f64,
                max_abs_error: errors.iter().copied().fold(0.0, f64::max),
                actual,
                expected,
                span: delta.abs(),
            }
        })
        .collect()
}

/// One frame of the path's image sequence.
#[derive(Debug, Clone)]
pub struct PathFrame {
    /// The graph image this frame is (`Some`), or `None` for a flow-morph in-between.
    pub row: Option<usize>,
    /// Position along the path in edge units: node i is at i, an in-between of edge i at i + t.
    pub position: f64,
    pub image: Array3<f32>,
}

/// The image sequence of a path: every node's image, and `frames` flow-morph in-betweens on each edge (both flows
/// estimated with `flow`; edges in parallel, the result in path order).
pub fn path_frames(
    nodes: &[usize],
    image: &(dyn Fn(usize) -> Array3<f32> + Sync),
    frames: usize,
    flow: &FlowParams,
) -> Result<Vec<PathFrame>> {
    let est = FlowEstimator::new(flow.clone())?;
    let between: Vec<Vec<PathFrame>> = nodes
        .par_windows(2)
        .enumerate()
        .map(|(i, w)| {
            if frames == 0 {
                return Ok(Vec::new());
            }
            let (a, b) = (image(w[0]), image(w[1]));
            let m = Morph::new(a.view(), b.view(), &est, MorphParams::default())
                .map_err(|source| GeodesicError::Flow { i: w[0], j: w[1], source })?;
            (1..=frames)
                .map(|j| {
                    let t = j as f64 / (frames + 1) as f64;
                    let img = m.frame(t as f32).map_err(|source| GeodesicError::Flow { i: w[0], j: w[1], source })?;
                    Ok(PathFrame { row: None, position: i as f64 + t, image: img })
                })
                .collect()
        })
        .collect::<Result<_>>()?;
    let mut out = Vec::new();
    for (i, &r) in nodes.iter().enumerate() {
        out.push(PathFrame { row: Some(r), position: i as f64, image: image(r) });
        if let Some(b) = between.get(i) {
            out.extend(b.iter().cloned());
        }
    }
    Ok(out)
}

/// A geodesic path between two images.
#[derive(Debug, Clone)]
pub struct PathReport {
    pub from: usize,
    pub to: usize,
    /// Rows visited, both ends included.
    pub nodes: Vec<usize>,
    /// Graph weight of each step.
    pub steps: Vec<f64>,
    pub length: f64,
    /// Parameter error per truth column (empty without truth columns).
    pub errors: Vec<ColumnError>,
    /// The image sequence (empty for a plain matrix).
    pub frames: Vec<PathFrame>,
    /// The renderer's true path at every frame, when the collection is a render folder.
    pub rendered_truth: Option<(crate::render_truth::RenderSource, crate::render_truth::RenderedTruth)>,
    /// Why the true path was not rendered although the collection has a `render.json`.
    pub rendered_truth_skipped: Option<String>,
}

impl PathReport {
    /// The `path` entry of results.json.
    pub fn to_json(&self, row_name: &dyn Fn(usize) -> String) -> Value {
        let is_node: Vec<bool> = self.frames.iter().map(|f| f.row.is_some()).collect();
        let rendered = match (&self.rendered_truth, &self.rendered_truth_skipped) {
            (Some((source, truth)), _) => truth.to_json(source, &is_node),
            (None, Some(why)) => json!({"skipped": why}),
            (None, None) => Value::Null,
        };
        let errors: Vec<Value> = self
            .errors
            .iter()
            .map(|e| {
                json!({"column": e.name, "period": output::json_f64(e.period), "span": e.span,
                       "mean_abs_error": e.mean_abs_error, "max_abs_error": e.max_abs_error})
            })
            .collect();
        json!({
            "from": self.from, "to": self.to, "from_id": row_name(self.from), "to_id": row_name(self.to),
            "nodes": self.nodes, "steps": self.steps, "length": self.length, "hops": self.steps.len(),
            "frames": self.frames.len(),
            "parameter_error": errors,
            "rendered_truth": rendered,
            "parameter_error_definition": "per truth column: |value − (p_from + t·(p_to − p_from))| at each node, t = \
                graph length so far / total length; periodic columns wrap",
        })
    }
}
