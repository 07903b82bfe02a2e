//! Graph construction: the plain symmetrised kNN graph, the flow-verified graph, or the relatively verified graph.
//!
//! The **relative** graph ([`GraphKind::Relative`], see [`relative_graph`]) judges each edge against the edges
//! around it instead of against a fixed threshold. The residual ratio `ρ_ij / RMS(I_i − I_j)` (what the warp leaves
//! of the plain difference) depends on the scene and the image size — on a textureless turntable object even true
//! neighbours leave 0.9 of the difference, on a textured room true neighbours leave 0.3–0.5 and look-alike walls
//! 60°–180° apart 0.6–0.8 — but within one neighbourhood it separates a true neighbour from a look-alike:
//!
//! 1. **Candidates**: the kNN edges and every mutual pair among the `candidate_factor · k` nearest neighbours
//!    (both images among the other's nearest: a pair across a sampling gap faces each other); the flow of each is
//!    measured in both directions.
//! 2. **Relative test**: each image's *best ratio* is the smallest residual ratio of its kNN edges; a candidate's
//!    *margin* is its ratio minus the larger best ratio of its two ends. A kNN edge is kept when its ratio is at most
//!    `relative_floor` or its margin at most `relative_margin`; the others are dropped as shortcuts (measured on 26
//!    rendered full circles: this removes 99 % of the kNN edges joining views > 45° apart and 5 % of the others).
//! 3. **Bridges**: components are joined by the remaining candidates in order of margin (Kruskal): candidates that
//!    pass the test are verified bridges, the others unverified bridges (flagged).
//! 4. **Closures**: a candidate with margin ≤ `closure_margin` whose shortest path in the graph is more than
//!    `closure_detour` times its own flow weight crosses a sampling gap the kNN graph left open (a full circle
//!    sampled at random opens into a line); the cheapest such candidate is added, and the search repeats until none
//!    is left. The margin bound of a closure is stricter than that of a kept edge, because a look-alike shortcut has
//!    the same long detour; only a pair the flow explains as well as the ends' best edges closes a loop.
//! 5. **End candidates** (module `ends`; before the bridges, [`VerifyOptions::end_candidates`]): a gap that no
//!    candidate crosses (its two sides are 26–34 ranks apart in pixel distance on sparse room circles) leaves the
//!    circle an arc, or splits it into arcs, whose ends are the sides of the gaps. The ends of the largest components
//!    (double sweep of shortest paths), each with its k/2 nearest nodes by graph distance, give extra candidates:
//!    every pair between two end regions. Each is measured with the graph's flow and, with
//!    [`VerifyOptions::end_global_init`], also with DIS started from the pair's global translations (across a gap the
//!    views move by a sizeable fraction of the frame, which plain DIS underestimates by about half); the measurement
//!    with the smaller residual ratio is kept. End candidates bridge like the others and close a gap under the keep
//!    margin (`end_margin`, 0.2) with the same detour test: they join two ends, which a look-alike rarely is.
//!
//! The **verified** graph ([`GraphKind::Verified`]) takes candidate edges from the symmetrised kNN graph with
//! `candidate_factor · k` neighbours and measures the optical flow of each in both directions. A candidate is
//! *verified* when the flow explains it:
//!
//! - the photometric residual left after warping is small next to the pair's plain difference,
//!   `ρ_ij / RMS(I_i − I_j) ≤ max_residual_ratio` (a look-alike view far away differs in ways no smooth flow
//!   explains: the warp leaves most of the difference), and
//! - forward and backward flows agree: the symmetrised RMS of `|F_ij(x) + F_ji(x + F_ij(x))|` is at most
//!   `max_fb_error` pixels.
//!
//! The graph keeps the verified edges of the plain kNN graph and drops the others as shortcuts. When that leaves
//! several components, they are joined by the cheapest remaining candidates across components (Kruskal order by
//! flow weight): verified candidates first, then unverified ones, each such bridge flagged as
//! unverified. Every decision is kept in [`GraphDecisions`].

use std::fmt;
use std::str::FromStr;

use ndarray::{Array2, ArrayView2, ArrayView3};
use optical_flow::{FlowEstimator, FlowParams, PreparedFrame};
use rayon::prelude::*;

use crate::ends::{best_ratio, end_pairs, end_regions, measure_end_pairs, END_COMPONENTS};
use crate::{Edge, GeodesicError, Result};

/// How the graph is built (names `relative`, `verified`, `knn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphKind {
    /// kNN edges kept when their residual ratio is not much worse than their ends' best edges, components bridged,
    /// sampling gaps closed (see the module docs).
    Relative,
    /// Candidates from a larger k, kept when the flow explains them, components bridged (see the module docs).
    Verified,
    /// The symmetrised kNN graph.
    Knn,
}

impl GraphKind {
    pub fn name(self) -> &'static str {
        match self {
            GraphKind::Relative => "relative",
            GraphKind::Verified => "verified",
            GraphKind::Knn => "knn",
        }
    }
}

impl fmt::Display for GraphKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for GraphKind {
    type Err = GeodesicError;
    fn from_str(s: &str) -> Result<GraphKind> {
        match s {
            "relative" => Ok(GraphKind::Relative),
            "verified" => Ok(GraphKind::Verified),
            "knn" => Ok(GraphKind::Knn),
            _ => Err(GeodesicError::Param(format!("unknown graph `{s}` (relative, verified, knn)"))),
        }
    }
}

/// Candidate neighbours of the verified graph, as a multiple of k.
pub const DEFAULT_CANDIDATE_FACTOR: usize = 3;

/// Largest residual-after-warping / plain-difference ratio of a verified edge.
pub const DEFAULT_MAX_RESIDUAL_RATIO: f64 = 0.9;

/// Largest symmetrised RMS forward–backward error (pixels) of a verified edge.
pub const DEFAULT_MAX_FB_ERROR: f64 = 2.0;

/// Largest margin (residual ratio over the ends' best ratio) of a kept kNN edge of the relative graph.
pub const DEFAULT_RELATIVE_MARGIN: f64 = 0.2;

/// Residual ratio up to which the relative graph keeps a kNN edge whatever its margin.
pub const DEFAULT_RELATIVE_FLOOR: f64 = 0.5;

/// Largest margin of a loop-closing candidate of the relative graph.
pub const DEFAULT_CLOSURE_MARGIN: f64 = 0.1;

/// Largest margin of an end candidate (between the ends of the components) that closes a gap.
pub const DEFAULT_END_MARGIN: f64 = 0.2;

/// Graph detour / flow weight above which a candidate of the relative graph closes a gap.
pub const DEFAULT_CLOSURE_DETOUR: f64 = 5.0;

/// Thresholds of the verified graphs (`candidate_factor` for both; the ratio and forward–backward bounds for
/// [`GraphKind::Verified`]; margins, floor, detour and end candidates for [`GraphKind::Relative`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VerifyOptions {
    pub candidate_factor: usize,
    pub max_residual_ratio: f64,
    pub max_fb_error: f64,
    pub relative_margin: f64,
    pub relative_floor: f64,
    pub closure_margin: f64,
    pub closure_detour: f64,
    /// Relative graph: measure extra candidates between the ends of the components (see the module docs).
    pub end_candidates: bool,
    /// Measure the end candidates also with the DIS flow started from the pair's global translations
    /// ([`optical_flow::DisParams::global_init`]) and keep, per pair, the measurement with the smaller residual ratio
    /// (other flow methods measure them once, as they are).
    pub end_global_init: bool,
    /// Largest margin of an end candidate that closes a gap.
    pub end_margin: f64,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            candidate_factor: DEFAULT_CANDIDATE_FACTOR,
            max_residual_ratio: DEFAULT_MAX_RESIDUAL_RATIO,
            max_fb_error: DEFAULT_MAX_FB_ERROR,
            relative_margin: DEFAULT_RELATIVE_MARGIN,
            relative_floor: DEFAULT_RELATIVE_FLOOR,
            closure_margin: DEFAULT_CLOSURE_MARGIN,
            closure_detour: DEFAULT_CLOSURE_DETOUR,
            end_candidates: true,
            end_global_init: true,
            end_margin: DEFAULT_END_MARGIN,
        }
    }
}

impl VerifyOptions {
    pub fn validate(&self) -> Result<()> {
        if self.candidate_factor == 0 {
            return Err(GeodesicError::Param("candidate factor must be at least 1".into()));
        }
        for (name, v) in [
            ("max residual ratio", self.max_residual_ratio),
            ("max forward–backward error", self.max_fb_error),
            ("closure detour", self.closure_detour),
        ] {
            if !(v > 0.0 && v.is_finite()) {
                return Err(GeodesicError::Param(format!("{name} must be > 0, got {v}")));
            }
        }
        for (name, v) in [
            ("relative margin", self.relative_margin),
            ("relative floor", self.relative_floor),
            ("closure margin", self.closure_margin),
            ("end margin", self.end_margin),
        ] {
            if !(v >= 0.0 && v.is_finite()) {
                return Err(GeodesicError::Param(format!("{name} must be ≥ 0, got {v}")));
            }
        }
        Ok(())
    }
}

/// The flow measurements of one candidate edge (symmetrised over both directions).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlowMeasure {
    /// RMS flow displacement (pixels).
    pub rms: f64,
    /// RMS photometric residual after warping.
    pub residual: f64,
    /// RMS of the plain difference of the two images.
    pub plain: f64,
    /// RMS forward–backward error (pixels).
    pub fb_error: f64,
}

impl FlowMeasure {
    /// Residual after warping over the plain difference (0 for identical images).
    pub fn residual_ratio(&self) -> f64 {
        if self.plain > 0.0 {
            self.residual / self.plain
        } else {
            0.0
        }
    }
}

/// One candidate edge and what was decided about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub i: usize,
    pub j: usize,
    pub measure: FlowMeasure,
    /// Flow weight `rms + λ · residual`.
    pub weight: f64,
    pub verified: bool,
    /// An edge of the plain kNN graph.
    pub knn: bool,
    /// Residual ratio minus the larger best ratio of the two ends, an end's best ratio being the smallest residual
    /// ratio of its kNN edges.
    pub margin: f64,
}

/// What the graph construction decided (the verified graph; the kNN graph records only its components).
#[derive(Debug, Clone, PartialEq)]
pub struct GraphDecisions {
    pub kind: GraphKind,
    /// Neighbours per image of the candidate graph (k for the kNN graph).
    pub candidate_k: usize,
    /// Candidate edges whose flow was measured (verified graph).
    pub candidates: Vec<Candidate>,
    /// Candidates dropped as shortcuts (not verified, not used as bridges): (i, j).
    pub dropped: Vec<(usize, usize)>,
    /// Unverified candidates added to connect components: (i, j).
    pub bridges: Vec<(usize, usize)>,
    /// Verified candidates beyond the k cheapest of both ends, added to connect components: (i, j).
    pub verified_bridges: Vec<(usize, usize)>,
    /// Components of the verified edges alone, before bridging.
    pub components_before: usize,
    /// Components of the final graph.
    pub components_after: usize,
    /// Candidates added to close a sampling gap (relative graph): (i, j).
    pub closures: Vec<(usize, usize)>,
    /// Extra candidates measured between the ends of the components (relative graph, see the module docs): (i, j).
    pub end_candidates: Vec<(usize, usize)>,
    /// For each end candidate, the flow method whose measurement was kept.
    pub end_flow: Vec<String>,
    /// The thresholds used (`None` for the kNN graph).
    pub thresholds: Option<VerifyOptions>,
}

/// Flow measurements of `pairs` between the gray `frames`, in the order of `pairs` (parallel; deterministic).
pub fn measure_pairs(
    pairs: &[(usize, usize)],
    frames: &[Array2<f32>],
    params: &FlowParams,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Vec<FlowMeasure>> {
    let est = FlowEstimator::new(params.clone())?;
    let prepared = prepare_all(&est, frames)?;
    measure_prepared(pairs, frames, &est, &prepared, progress)
}

pub(crate) fn prepare_all(est: &FlowEstimator, frames: &[Array2<f32>]) -> Result<Vec<PreparedFrame>> {
    frames
        .par_iter()
        .enumerate()
        .map(|(i, f)| est.prepare_named(f.view(), &format!("image {i}")))
        .collect::<std::result::Result<_, _>>()
        .map_err(GeodesicError::FlowParams)
}

/// [`measure_pairs`] on frames already prepared by `est`.
pub(crate) fn measure_prepared(
    pairs: &[(usize, usize)],
    frames: &[Array2<f32>],
    est: &FlowEstimator,
    prepared: &[PreparedFrame],
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Vec<FlowMeasure>> {
    pairs
        .par_iter()
        .map(|&(i, j)| {
            let err = |source| GeodesicError::Flow { i, j, source };
            let fwd = est.flow(&prepared[i], &prepared[j]).map_err(err)?;
            let bwd = est.flow(&prepared[j], &prepared[i]).map_err(err)?;
            let (a, b) = (frames[i].view(), frames[j].view());
            let res = 0.5
                * (crate::residual(a, b, fwd.view()).map_err(err)? + crate::residual(b, a, bwd.view()).map_err(err)?);
            let fb =
                0.5 * (fb_rms(fwd.view(), bwd.view()).map_err(err)? + fb_rms(bwd.view(), fwd.view()).map_err(err)?);
            let n = a.len().max(1) as f64;
            let plain = (a.iter().zip(b.iter()).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum::<f64>() / n).sqrt();
            progress(1);
            Ok(FlowMeasure { rms: 0.5 * (rms(fwd.view()) + rms(bwd.view())), residual: res, plain, fb_error: fb })
        })
        .collect()
}

fn rms(flow: ArrayView3<f32>) -> f64 {
    let n = (flow.len() / 2).max(1) as f64;
    (flow.iter().map(|&x| x as f64 * x as f64).sum::<f64>() / n).sqrt()
}

fn fb_rms(fwd: ArrayView3<f32>, bwd: ArrayView3<f32>) -> std::result::Result<f64, optical_flow::FlowError> {
    let e = optical_flow::forward_backward_error(fwd, bwd)?;
    let n = e.len().max(1) as f64;
    Ok((e.iter().map(|&x| x as f64 * x as f64).sum::<f64>() / n).sqrt())
}

/// The verified graph of `data` (rows) / `frames` (the same images, gray) with k neighbours (see the module docs):
/// the edges used, flow-weighted with λ = `photometric_weight`, sorted by (i, j), and the decisions.
pub fn verified_graph(
    data: ArrayView2<f32>,
    frames: &[Array2<f32>],
    k: usize,
    params: &FlowParams,
    photometric_weight: f64,
    verify: &VerifyOptions,
    progress: &dyn crate::Progress,
) -> Result<(Vec<Edge>, GraphDecisions)> {
    verify.validate()?;
    let n = data.nrows();
    let candidate_k = (k * verify.candidate_factor).min(n.saturating_sub(1)).max(k);
    let cand_edges = crate::knn_edges(data, candidate_k)?;
    let pairs: Vec<(usize, usize)> = cand_edges.iter().map(|e| (e.i, e.j)).collect();
    progress.start(pairs.len() as u64);
    let measures = measure_pairs(&pairs, frames, params, &|d| progress.inc(d))?;
    let candidates: Vec<Candidate> = pairs
        .iter()
        .zip(&measures)
        .map(|(&(i, j), m)| Candidate {
            i,
            j,
            measure: *m,
            weight: m.rms + photometric_weight * m.residual,
            verified: m.residual_ratio() <= verify.max_residual_ratio && m.fb_error <= verify.max_fb_error,
            knn: false,
            margin: 0.0,
        })
        .collect();
    // Selection: the verified edges of the plain kNN graph.
    let base: std::collections::HashSet<(usize, usize)> =
        crate::knn_edges(data, k)?.iter().map(|e| (e.i, e.j)).collect();
    let mut candidates = candidates;
    for c in candidates.iter_mut() {
        c.knn = base.contains(&(c.i, c.j));
    }
    set_margins(n, &mut candidates);
    let mut used: Vec<bool> = candidates.iter().map(|c| c.verified && c.knn).collect();
    let mut uf = petgraph::unionfind::UnionFind::<usize>::new(n);
    for (c, u) in candidates.iter().zip(&used) {
        if *u {
            uf.union(c.i, c.j);
        }
    }
    let count = |uf: &petgraph::unionfind::UnionFind<usize>| (0..n).filter(|&v| uf.find(v) == v).count();
    let components_before = count(&uf);
    // Bridges: the cheapest remaining candidates that join two components (Kruskal), verified ones first.
    let mut order: Vec<usize> = (0..candidates.len()).filter(|&c| !used[c]).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&candidates[a], &candidates[b]);
        y.verified.cmp(&x.verified).then(x.weight.total_cmp(&y.weight)).then((x.i, x.j).cmp(&(y.i, y.j)))
    });
    let (bridges, verified_bridges) = bridge(&candidates, &order, &mut used, &mut uf);
    let components_after = count(&uf);
    let dropped = candidates.iter().zip(&used).filter(|(c, u)| !**u && !c.verified).map(|(c, _)| (c.i, c.j)).collect();
    let edges = candidates
        .iter()
        .zip(&cand_edges)
        .zip(&used)
        .filter(|(_, u)| **u)
        .map(|((c, e), _)| Edge {
            i: c.i,
            j: c.j,
            euclidean: e.euclidean,
            flow_rms: Some(c.measure.rms),
            residual: Some(c.measure.residual),
            weight: c.weight,
        })
        .collect();
    let decisions = GraphDecisions {
        kind: GraphKind::Verified,
        candidate_k,
        candidates,
        dropped,
        bridges,
        verified_bridges,
        components_before,
        components_after,
        closures: Vec::new(),
        end_candidates: Vec::new(),
        end_flow: Vec::new(),
        thresholds: Some(*verify),
    };
    Ok((edges, decisions))
}

/// Candidate pairs of the relative graph, sorted by (i, j): the kNN edges (j among i's k nearest or i among j's)
/// and the mutual pairs among the `ck` nearest, as (i, j, Euclidean distance, kNN edge).
fn relative_candidates(data: ArrayView2<f32>, k: usize, ck: usize) -> Result<Vec<(usize, usize, f64, bool)>> {
    let nb = knn::knn_self(data, ck)?;
    let n = nb.n();
    let mut rank = std::collections::HashMap::with_capacity(n * ck);
    for i in 0..n {
        for r in 0..ck {
            rank.insert((i, nb.indices[[i, r]]), r);
        }
    }
    let mut out = std::collections::BTreeMap::new();
    for i in 0..n {
        for r in 0..ck {
            let j = nb.indices[[i, r]];
            let back = rank.get(&(j, i)).copied();
            let knn = r < k || back.is_some_and(|b| b < k);
            if knn || back.is_some() {
                let e = out.entry((i.min(j), i.max(j))).or_insert((nb.distances[[i, r]] as f64, false));
                e.1 |= knn;
            }
        }
    }
    Ok(out.into_iter().map(|((i, j), (d, knn))| (i, j, d, knn)).collect())
}

/// Sets each candidate's margin: its residual ratio minus the larger best ratio of its ends (an image's best ratio is
/// the smallest over its kNN edges; every image has one).
fn set_margins(n: usize, candidates: &mut [Candidate]) {
    let mut best = vec![f64::INFINITY; n];
    for c in candidates.iter().filter(|c| c.knn) {
        for v in [c.i, c.j] {
            best[v] = best[v].min(c.measure.residual_ratio());
        }
    }
    for c in candidates.iter_mut() {
        c.margin = c.measure.residual_ratio() - best[c.i].max(best[c.j]);
    }
}

/// Whether the shortest s–t path over `adj` is at most `limit` (Dijkstra that stops beyond `limit`).
fn within(adj: &[Vec<(usize, f64)>], s: usize, t: usize, limit: f64) -> bool {
    use std::cmp::Reverse;
    // Non-negative finite f64 order like their bit patterns.
    let mut dist = std::collections::HashMap::from([(s, 0.0f64)]);
    let mut heap = std::collections::BinaryHeap::from([Reverse((0.0f64.to_bits(), s))]);
    while let Some(Reverse((bits, v))) = heap.pop() {
        let d = f64::from_bits(bits);
        if v == t {
            return true;
        }
        if d > dist[&v] {
            continue;
        }
        for &(u, w) in &adj[v] {
            let nd = d + w;
            if nd <= limit && dist.get(&u).is_none_or(|&old| nd < old) {
                dist.insert(u, nd);
                heap.push(Reverse((nd.to_bits(), u)));
            }
        }
    }
    false
}

/// The relative graph of `data` (rows) / `frames` (the same images, gray) with k neighbours (see the module docs):
/// the edges used, flow-weighted with λ = `photometric_weight`, sorted by (i, j), and the decisions.
// Over 120 lines: the stages (test, end candidates, bridges, closures) share the candidate list and its flags.
pub fn relative_graph(
    data: ArrayView2<f32>,
    frames: &[Array2<f32>],
    k: usize,
    params: &FlowParams,
    photometric_weight: f64,
    verify: &VerifyOptions,
    progress: &dyn crate::Progress,
) -> Result<(Vec<Edge>, GraphDecisions)> {
    verify.validate()?;
    let n = data.nrows();
    let candidate_k = (k * verify.candidate_factor).min(n.saturating_sub(1)).max(k);
    let mut info = relative_candidates(data, k, candidate_k)?;
    let pairs: Vec<(usize, usize)> = info.iter().map(|c| (c.0, c.1)).collect();
    progress.start(pairs.len() as u64);
    let est = FlowEstimator::new(params.clone())?;
    let prepared = prepare_all(&est, frames)?;
    let measures = measure_prepared(&pairs, frames, &est, &prepared, &|d| progress.inc(d))?;
    let candidate = |(i, j, knn): (usize, usize, bool), m: &FlowMeasure| Candidate {
        i,
        j,
        measure: *m,
        weight: m.rms + photometric_weight * m.residual,
        verified: false,
        knn,
        margin: 0.0,
    };
    let mut candidates: Vec<Candidate> =
        info.iter().zip(&measures).map(|(&(i, j, _, knn), m)| candidate((i, j, knn), m)).collect();
    set_margins(n, &mut candidates);
    let test =
        |c: &Candidate| c.measure.residual_ratio() <= verify.relative_floor || c.margin <= verify.relative_margin;
    for c in candidates.iter_mut() {
        c.verified = test(c);
    }
    let mut used: Vec<bool> = candidates.iter().map(|c| c.knn && c.verified).collect();
    let mut uf = petgraph::unionfind::UnionFind::<usize>::new(n);
    for (c, _) in candidates.iter().zip(&used).filter(|(_, u)| **u) {
        uf.union(c.i, c.j);
    }
    let count = |uf: &petgraph::unionfind::UnionFind<usize>| (0..n).filter(|&v| uf.find(v) == v).count();
    let components_before = count(&uf);
    // End candidates: pairs between the ends of the components, where a sampling gap leaves them open.
    let (mut end_candidates, mut end_flow) = (Vec::new(), Vec::new());
    if verify.end_candidates {
        let mut adj: Vec<Vec<(usize, f64)>> = vec![Vec::new(); n];
        for (c, _) in candidates.iter().zip(&used).filter(|(_, u)| **u) {
            adj[c.i].push((c.j, c.weight));
            adj[c.j].push((c.i, c.weight));
        }
        let known: std::collections::HashSet<(usize, usize)> = pairs.iter().copied().collect();
        let extra = end_pairs(&end_regions(&adj, (k / 2).max(2), END_COMPONENTS), &known);
        let measured = measure_end_pairs(&extra, frames, (&est, &prepared), verify, progress)?;
        for (&(i, j), (m, method)) in extra.iter().zip(measured) {
            let d = data.row(i).iter().zip(data.row(j)).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>().sqrt();
            info.push((i, j, d, false));
            let mut c = candidate((i, j, false), &m);
            c.margin = c.measure.residual_ratio() - best_ratio(&candidates, i).max(best_ratio(&candidates, j));
            c.verified = test(&c);
            candidates.push(c);
            used.push(false);
            end_flow.push(method);
        }
        end_candidates = extra;
    }
    let is_end: Vec<bool> = (0..candidates.len()).map(|c| c >= pairs.len()).collect();
    // Bridges (Kruskal): candidates that pass the test first, then by margin.
    let mut order: Vec<usize> = (0..candidates.len()).filter(|&c| !used[c]).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&candidates[a], &candidates[b]);
        y.verified
            .cmp(&x.verified)
            .then(x.margin.total_cmp(&y.margin))
            .then(x.weight.total_cmp(&y.weight))
            .then((x.i, x.j).cmp(&(y.i, y.j)))
    });
    let (bridges, verified_bridges) = bridge(&candidates, &order, &mut used, &mut uf);
    let components_after = count(&uf);
    // Closures, cheapest first. Adding edges only shortens paths, so a candidate whose detour is already short stays
    // short: one pass in weight order finds them all.
    let mut adj: Vec<Vec<(usize, f64)>> = vec![Vec::new(); n];
    for (c, _) in candidates.iter().zip(&used).filter(|(_, u)| **u) {
        adj[c.i].push((c.j, c.weight));
        adj[c.j].push((c.i, c.weight));
    }
    // An end candidate closes with the margin of a kept edge: it joins two ends, which a look-alike rarely does.
    let mut eligible: Vec<usize> = (0..candidates.len())
        .filter(|&c| {
            let bound = if is_end[c] { verify.end_margin } else { verify.closure_margin };
            !used[c] && candidates[c].margin <= bound
        })
        .collect();
    eligible.sort_by(|&a, &b| {
        let (x, y) = (&candidates[a], &candidates[b]);
        x.weight.total_cmp(&y.weight).then((x.i, x.j).cmp(&(y.i, y.j)))
    });
    let mut closures = Vec::new();
    for c in eligible {
        let x = &candidates[c];
        if !within(&adj, x.i, x.j, verify.closure_detour * x.weight) {
            used[c] = true;
            adj[x.i].push((x.j, x.weight));
            adj[x.j].push((x.i, x.weight));
            closures.push((x.i, x.j));
        }
    }
    let dropped = candidates.iter().zip(&used).filter(|(c, u)| c.knn && !**u).map(|(c, _)| (c.i, c.j)).collect();
    let edges = candidates
        .iter()
        .zip(&info)
        .zip(&used)
        .filter(|(_, u)| **u)
        .map(|((c, e), _)| Edge {
            i: c.i,
            j: c.j,
            euclidean: e.2,
            flow_rms: Some(c.measure.rms),
            residual: Some(c.measure.residual),
            weight: c.weight,
        })
        .collect();
    let decisions = GraphDecisions {
        kind: GraphKind::Relative,
        candidate_k,
        candidates,
        dropped,
        bridges,
        verified_bridges,
        components_before,
        components_after,
        closures,
        end_candidates,
        end_flow,
        thresholds: Some(*verify),
    };
    Ok((edges, decisions))
}

type Pairs = Vec<(usize, usize)>;

/// Kruskal over `order`: each candidate that joins two components of `uf` is marked used and returned, as an
/// unverified or a verified bridge.
fn bridge(
    candidates: &[Candidate],
    order: &[usize],
    used: &mut [bool],
    uf: &mut petgraph::unionfind::UnionFind<usize>,
) -> (Pairs, Pairs) {
    let (mut bridges, mut verified_bridges) = (Vec::new(), Vec::new());
    for &c in order {
        let (i, j) = (candidates[c].i, candidates[c].j);
        if uf.union(i, j) {
            used[c] = true;
            if candidates[c].verified {
                verified_bridges.push((i, j));
            } else {
                bridges.push((i, j));
            }
        }
    }
    (bridges, verified_bridges)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_kind_parses_and_prints() {
        for g in [GraphKind::Relative, GraphKind::Verified, GraphKind::Knn] {
            assert_eq!(g.to_string().parse::<GraphKind>().unwrap(), g);
        }
        assert!("mutual".parse::<GraphKind>().is_err());
        assert!(VerifyOptions::default().validate().is_ok());
        assert!(VerifyOptions { candidate_factor: 0, ..VerifyOptions::default() }.validate().is_err());
        assert!(VerifyOptions { max_fb_error: f64::NAN, ..VerifyOptions::default() }.validate().is_err());
    }

    #[test]
    fn residual_ratio_of_identical_images_is_zero() {
        let m = FlowMeasure { rms: 0.0, residual: 0.0, plain: 0.0, fb_error: 0.0 };
        assert_eq!(m.residual_ratio(), 0.0);
        let m = FlowMeasure { rms: 1.0, residual: 0.02, plain: 0.08, fb_error: 0.1 };
        assert_eq!(m.residual_ratio(), 0.25);
    }

    /// A path 0–1–2–3 with unit weights and a heavy direct 0–3 edge: the bounded search finds 0–3 at 3, not below.
    #[test]
    fn bounded_search_stops_at_the_limit() {
        let mut adj = vec![Vec::new(); 5];
        for (a, b, w) in [(0, 1, 1.0), (1, 2, 1.0), (2, 3, 1.0), (0, 3, 10.0)] {
            adj[a].push((b, w));
            adj[b].push((a, w));
        }
        assert!(within(&adj, 0, 3, 3.0));
        assert!(!within(&adj, 0, 3, 2.9));
        assert!(within(&adj, 3, 3, 0.0));
        assert!(!within(&adj, 0, 4, 100.0), "node 4 is not connected");
    }

    /// The candidates hold every kNN edge (flagged), and the extra pairs are mutual among the larger neighbourhoods.
    #[test]
    fn relative_candidates_are_the_knn_edges_and_mutual_pairs() {
        let data = Array2::from_shape_fn((30, 3), |(i, c)| ((i * 7 + c * 13) % 17) as f32 + 0.01 * i as f32);
        let (k, ck) = (3, 9);
        let cand = relative_candidates(data.view(), k, ck).unwrap();
        let knn: Vec<(usize, usize)> = crate::knn_edges(data.view(), k).unwrap().iter().map(|e| (e.i, e.j)).collect();
        let flagged: Vec<(usize, usize)> = cand.iter().filter(|c| c.3).map(|c| (c.0, c.1)).collect();
        assert_eq!(flagged, knn);
        let nb = knn::knn_self(data.view(), ck).unwrap();
        let near = |i: usize, j: usize| nb.indices.row(i).iter().any(|&x| x == j);
        for &(i, j, _, is_knn) in &cand {
            assert!(i < j);
            assert!(is_knn || (near(i, j) && near(j, i)), "{i}–{j}");
        }
        assert!(cand.len() > knn.len());
        assert!(cand.windows(2).all(|w| (w[0].0, w[0].1) < (w[1].0, w[1].1)));
    }
}
