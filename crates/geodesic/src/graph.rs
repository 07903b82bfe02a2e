//! Graph construction: the plain symmetrised kNN graph, or the flow-verified graph.
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
use optical_flow::{FlowEstimator, FlowParams};
use rayon::prelude::*;

use crate::{Edge, GeodesicError, Result};

/// How the graph is built (names `verified`, `knn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphKind {
    /// Candidates from a larger k, kept when the flow explains them, components bridged (see the module docs).
    Verified,
    /// The symmetrised kNN graph.
    Knn,
}

impl GraphKind {
    pub fn name(self) -> &'static str {
        match self {
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
            "verified" => Ok(GraphKind::Verified),
            "knn" => Ok(GraphKind::Knn),
            _ => Err(GeodesicError::Param(format!("unknown graph `{s}` (verified, knn)"))),
        }
    }
}

/// Candidate neighbours of the verified graph, as a multiple of k.
pub const DEFAULT_CANDIDATE_FACTOR: usize = 3;

/// Largest residual-after-warping / plain-difference ratio of a verified edge.
pub const DEFAULT_MAX_RESIDUAL_RATIO: f64 = 0.9;

/// Largest symmetrised RMS forward–backward error (pixels) of a verified edge.
pub const DEFAULT_MAX_FB_ERROR: f64 = 2.0;

/// Thresholds of the verified graph.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VerifyOptions {
    pub candidate_factor: usize,
    pub max_residual_ratio: f64,
    pub max_fb_error: f64,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            candidate_factor: DEFAULT_CANDIDATE_FACTOR,
            max_residual_ratio: DEFAULT_MAX_RESIDUAL_RATIO,
            max_fb_error: DEFAULT_MAX_FB_ERROR,
        }
    }
}

impl VerifyOptions {
    pub fn validate(&self) -> Result<()> {
        if self.candidate_factor == 0 {
            return Err(GeodesicError::Param("candidate factor must be at least 1".into()));
        }
        for (name, v) in
            [("max residual ratio", self.max_residual_ratio), ("max forward–backward error", self.max_fb_error)]
        {
            if !(v > 0.0 && v.is_finite()) {
                return Err(GeodesicError::Param(format!("{name} must be > 0, got {v}")));
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
}

/// Flow measurements of `pairs` between the gray `frames`, in the order of `pairs` (parallel; deterministic).
pub fn measure_pairs(
    pairs: &[(usize, usize)],
    frames: &[Array2<f32>],
    params: &FlowParams,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Vec<FlowMeasure>> {
    let est = FlowEstimator::new(params.clone())?;
    let prepared: Vec<_> = frames
        .par_iter()
        .enumerate()
        .map(|(i, f)| est.prepare_named(f.view(), &format!("image {i}")))
        .collect::<std::result::Result<_, _>>()
        .map_err(GeodesicError::FlowParams)?;
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
        })
        .collect();
    // Selection: the verified edges of the plain kNN graph.
    let base: std::collections::HashSet<(usize, usize)> =
        crate::knn_edges(data, k)?.iter().map(|e| (e.i, e.j)).collect();
    let mut used: Vec<bool> = candidates.iter().map(|c| c.verified && base.contains(&(c.i, c.j))).collect();
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
    let (mut bridges, mut verified_bridges) = (Vec::new(), Vec::new());
    for c in order {
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
    };
    Ok((edges, decisions))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_kind_parses_and_prints() {
        for g in [GraphKind::Verified, GraphKind::Knn] {
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
}
