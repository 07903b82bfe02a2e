//! End candidates of the relative graph: pairs between the ends of its components, where a sampling gap leaves a
//! circle open (see the module docs of [`crate::graph`]), and their flow measurement.

use ndarray::Array2;
use optical_flow::{FlowEstimator, FlowParams, PreparedFrame};

use crate::graph::{measure_prepared, prepare_all, Candidate, FlowMeasure, VerifyOptions};
use crate::{GeodesicError, Result};

/// Flow measurements of the end pairs: with the graph's flow (`same`: estimator and prepared frames) and, when
/// [`VerifyOptions::end_global_init`] gives another method, also with the globally initialised flow; each pair keeps
/// the measurement with the smaller residual ratio (the flow that explains it better), with its method's name.
pub(crate) fn measure_end_pairs(
    pairs: &[(usize, usize)],
    frames: &[Array2<f32>],
    same: (&FlowEstimator, &[PreparedFrame]),
    verify: &VerifyOptions,
    progress: &dyn crate::Progress,
) -> Result<Vec<(FlowMeasure, String)>> {
    let method = &same.0.params().method;
    let global = end_flow_method(method, verify);
    let twice = global != *method;
    progress.start(pairs.len() as u64 * if twice { 2 } else { 1 });
    let plain = measure_prepared(pairs, frames, same.0, same.1, &|d| progress.inc(d))?;
    if !twice {
        return Ok(plain.into_iter().map(|m| (m, method.name())).collect());
    }
    // Only the frames at an end are prepared again.
    let mut nodes: Vec<usize> = pairs.iter().flat_map(|&(i, j)| [i, j]).collect();
    nodes.sort_unstable();
    nodes.dedup();
    let local = |v: usize| nodes.binary_search(&v).expect("a node of the pairs");
    let sub: Vec<Array2<f32>> = nodes.iter().map(|&v| frames[v].clone()).collect();
    let sub_pairs: Vec<(usize, usize)> = pairs.iter().map(|&(i, j)| (local(i), local(j))).collect();
    let est = FlowEstimator::new(FlowParams::new(global.clone()))?;
    let prepared = prepare_all(&est, &sub)?;
    let moved = measure_prepared(&sub_pairs, &sub, &est, &prepared, &|d| progress.inc(d)).map_err(|e| match e {
        GeodesicError::Flow { i, j, source } => GeodesicError::Flow { i: nodes[i], j: nodes[j], source },
        e => e,
    })?;
    Ok(plain
        .into_iter()
        .zip(moved)
        .map(|(p, g)| if g.residual_ratio() < p.residual_ratio() { (g, global.name()) } else { (p, method.name()) })
        .collect())
}

/// The flow method of the end candidates: `method` with the global initialisation when `verify` asks for it and the
/// method is DIS.
pub(crate) fn end_flow_method(method: &optical_flow::FlowMethod, verify: &VerifyOptions) -> optical_flow::FlowMethod {
    match method {
        optical_flow::FlowMethod::Dis(p) if verify.end_global_init => {
            optical_flow::FlowMethod::Dis(optical_flow::DisParams { global_init: true, ..*p })
        }
        m => m.clone(),
    }
}

/// The smallest residual ratio of the kNN candidates at node `v` (∞ without one).
pub(crate) fn best_ratio(candidates: &[Candidate], v: usize) -> f64 {
    candidates
        .iter()
        .filter(|c| c.knn && (c.i == v || c.j == v))
        .map(|c| c.measure.residual_ratio())
        .fold(f64::INFINITY, f64::min)
}

/// Components whose ends get end candidates: the largest this many.
pub(crate) const END_COMPONENTS: usize = 4;

/// Shortest-path distances from `s` over `adj` (+∞ where unreachable).
fn distances_from(adj: &[Vec<(usize, f64)>], s: usize) -> Vec<f64> {
    use std::cmp::Reverse;
    let mut dist = vec![f64::INFINITY; adj.len()];
    dist[s] = 0.0;
    // Non-negative finite f64 order like their bit patterns.
    let mut heap = std::collections::BinaryHeap::from([Reverse((0.0f64.to_bits(), s))]);
    while let Some(Reverse((bits, v))) = heap.pop() {
        let d = f64::from_bits(bits);
        if d > dist[v] {
            continue;
        }
        for &(u, w) in &adj[v] {
            let nd = d + w;
            if nd < dist[u] {
                dist[u] = nd;
                heap.push(Reverse((nd.to_bits(), u)));
            }
        }
    }
    dist
}

/// The end regions of the `components` largest components of the graph `adj`: the two ends of an approximate
/// diameter (double sweep: the node farthest from the component's smallest node, then the node farthest from that
/// one), each with its nearest nodes by graph distance, `size` nodes in all; a one-node component is one region.
/// On a circle that a sampling gap opened into an arc, the ends of the arc are the two sides of the gap.
pub(crate) fn end_regions(adj: &[Vec<(usize, f64)>], size: usize, components: usize) -> Vec<Vec<usize>> {
    let n = adj.len();
    let mut seen = vec![false; n];
    let mut comps: Vec<Vec<usize>> = Vec::new();
    for s in 0..n {
        if seen[s] {
            continue;
        }
        let d = distances_from(adj, s);
        let members: Vec<usize> = (0..n).filter(|&v| d[v].is_finite()).collect();
        members.iter().for_each(|&v| seen[v] = true);
        comps.push(members);
    }
    // Largest first; ties by smallest member (the scan order).
    comps.sort_by_key(|c| std::cmp::Reverse(c.len()));
    comps.truncate(components);
    let farthest =
        |d: &[f64], members: &[usize]| members.iter().copied().fold(members[0], |b, v| if d[v] > d[b] { v } else { b });
    let mut regions = Vec::new();
    for members in comps {
        if members.len() == 1 {
            regions.push(members);
            continue;
        }
        let a = farthest(&distances_from(adj, members[0]), &members);
        let da = distances_from(adj, a);
        let b = farthest(&da, &members);
        for d in [da, distances_from(adj, b)] {
            let mut near = members.clone();
            near.sort_by(|&x, &y| d[x].total_cmp(&d[y]).then(x.cmp(&y)));
            near.truncate(size);
            regions.push(near);
        }
    }
    regions
}

/// Pairs (i < j) of nodes in two different end regions, sorted, without the `known` pairs.
pub(crate) fn end_pairs(
    regions: &[Vec<usize>],
    known: &std::collections::HashSet<(usize, usize)>,
) -> Vec<(usize, usize)> {
    let mut out = std::collections::BTreeSet::new();
    for (r, a) in regions.iter().enumerate() {
        for b in &regions[r + 1..] {
            for &x in a {
                for &y in b {
                    let p = (x.min(y), x.max(y));
                    if x != y && !known.contains(&p) {
                        out.insert(p);
                    }
                }
            }
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(adj: &mut [Vec<(usize, f64)>], nodes: std::ops::Range<usize>) {
        for v in nodes.start..nodes.end - 1 {
            adj[v].push((v + 1, 1.0));
            adj[v + 1].push((v, 1.0));
        }
    }

    /// Two arcs (0–9 and 10–14) and a lone node 15: each arc's regions are its two ends with their nearest nodes, the
    /// lone node is one region; pairs join different regions only, without the known pairs.
    #[test]
    fn ends_of_arcs_and_their_pairs() {
        let mut adj = vec![Vec::new(); 16];
        path(&mut adj, 0..10);
        path(&mut adj, 10..15);
        let regions = end_regions(&adj, 2, 4);
        assert_eq!(regions, vec![vec![9, 8], vec![0, 1], vec![14, 13], vec![10, 11], vec![15]]);
        assert_eq!(end_regions(&adj, 2, 1), vec![vec![9, 8], vec![0, 1]]);
        let known = std::collections::HashSet::from([(0, 9)]);
        let pairs = end_pairs(&regions[..2], &known);
        assert_eq!(pairs, vec![(0, 8), (1, 8), (1, 9)]);
        let all = end_pairs(&regions, &std::collections::HashSet::new());
        // Six pairs of two-node regions (4 pairs each) and the lone node with each of their 8 nodes.
        assert_eq!(all.len(), 6 * 4 + 8);
        assert!(all.iter().all(|&(i, j)| i < j));
    }
}
