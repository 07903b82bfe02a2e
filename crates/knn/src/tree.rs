//! Exact kNN by a k-d tree, for low-dimensional data (point clouds, the calibration samples of the dimension
//! estimators), where a brute-force GEMM spends its time on selection rather than arithmetic.
//!
//! The tree splits at the median of the widest coordinate down to leaves of [`LEAF`] rows and keeps each node's
//! bounding box. A query visits nodes nearest box first and skips a node only when the squared distance to its box
//! exceeds the current k-th exact distance by more than the rounding allowance (ties are visited), so, with the same
//! exact distance function and the same (distance, index) order as brute force, the answer is identical.

use rayon::prelude::*;

use crate::{exact_d2, finish, Cand, TopK};

/// Rows per leaf.
const LEAF: usize = 16;

struct Node {
    /// Rows `order[start..end]` belong to this node.
    start: usize,
    end: usize,
    /// Children (node indices), `None` for a leaf.
    children: Option<(usize, usize)>,
    /// Bounding box, `2·d` values: lower corner then upper corner.
    bbox: Vec<f32>,
}

pub(crate) struct Tree {
    d: usize,
    /// Row indices in tree order.
    order: Vec<usize>,
    /// The rows copied in tree order (leaf scans read contiguous memory).
    rows: Vec<f32>,
    nodes: Vec<Node>,
}

impl Tree {
    pub(crate) fn build(raw: &[f32], d: usize) -> Self {
        let n = raw.len() / d;
        let mut order: Vec<usize> = (0..n).collect();
        let mut nodes = Vec::with_capacity(2 * n / LEAF + 1);
        let mut stack = vec![(0usize, n, usize::MAX, false)];
        // Iterative construction; each node records its children after they are created.
        while let Some((start, end, parent, is_right)) = stack.pop() {
            let mut bbox = vec![f32::INFINITY; d];
            bbox.extend(std::iter::repeat_n(f32::NEG_INFINITY, d));
            for &i in &order[start..end] {
                for (c, &x) in raw[i * d..(i + 1) * d].iter().enumerate() {
                    bbox[c] = bbox[c].min(x);
                    bbox[d + c] = bbox[d + c].max(x);
                }
            }
            let id = nodes.len();
            let (widest, spread) =
                (0..d)
                    .map(|c| (c, bbox[d + c] - bbox[c]))
                    .fold((0, f32::NEG_INFINITY), |a, b| if b.1 > a.1 { b } else { a });
            nodes.push(Node { start, end, children: None, bbox });
            if parent != usize::MAX {
                let (l, r) = nodes[parent].children.get_or_insert((usize::MAX, usize::MAX));
                if is_right {
                    *r = id;
                } else {
                    *l = id;
                }
            }
            if end - start > LEAF && spread > 0.0 {
                let mid = start + (end - start) / 2;
                order[start..end].select_nth_unstable_by(mid - start, |&a, &b| {
                    raw[a * d + widest].total_cmp(&raw[b * d + widest]).then(a.cmp(&b))
                });
                nodes[id].children = Some((usize::MAX, usize::MAX));
                stack.push((mid, end, id, true));
                stack.push((start, mid, id, false));
            }
        }
        let mut rows = Vec::with_capacity(n * d);
        for &i in &order {
            rows.extend_from_slice(&raw[i * d..(i + 1) * d]);
        }
        Tree { d, order, rows, nodes }
    }

    /// Squared distance from `q` to a node's box, a lower bound of every exact distance to its rows.
    #[inline]
    fn box_d2(&self, q: &[f32], node: &Node) -> f64 {
        let (lower, upper) = node.bbox.split_at(self.d);
        let mut s = 0.0f64;
        for ((&x, &lo), &hi) in q.iter().zip(lower).zip(upper) {
            let (x, lo, hi) = (x as f64, lo as f64, hi as f64);
            let g = if x < lo {
                lo - x
            } else if x > hi {
                x - hi
            } else {
                0.0
            };
            s += g * g;
        }
        s
    }

    /// Exact k nearest rows of `q` (excluding row `skip`, if any), as a top-k list.
    fn query_one(&self, q: &[f32], k: usize, skip: Option<usize>, stack: &mut Vec<(f64, usize)>) -> TopK {
        let d = self.d;
        // Both the bound and the exact distances are rounded sums of d squares (relative error < d·2⁻⁵²): a node is
        // skipped only when its bound beats the threshold by more than that.
        let allowance = 1.0 - 4.0 * (d as f64 + 2.0) * f64::EPSILON;
        let mut top = TopK::new(k);
        stack.clear();
        stack.push((0.0, 0));
        while let Some((lb, id)) = stack.pop() {
            if lb * allowance > top.threshold() {
                continue;
            }
            let node = &self.nodes[id];
            match node.children {
                None => {
                    for t in node.start..node.end {
                        let j = self.order[t];
                        if Some(j) == skip {
                            continue;
                        }
                        let d2 = exact_d2(q, &self.rows[t * d..(t + 1) * d]);
                        if d2 <= top.threshold() {
                            top.push(Cand { d2, j });
                        }
                    }
                }
                Some((l, r)) => {
                    let (bl, br) = (self.box_d2(q, &self.nodes[l]), self.box_d2(q, &self.nodes[r]));
                    // Nearer child last, so it is popped first.
                    if bl <= br {
                        stack.push((br, r));
                        stack.push((bl, l));
                    } else {
                        stack.push((bl, l));
                        stack.push((br, r));
                    }
                }
            }
        }
        top
    }

    /// Exact k nearest reference rows of every query row (self excluded in self mode, where `query` holds the rows
    /// from reference row `first` on).
    pub(crate) fn search(&self, query: &[f32], k: usize, self_mode: bool, first: usize) -> Vec<(Vec<usize>, Vec<f32>)> {
        let d = self.d;
        query
            .par_chunks(d * 64)
            .enumerate()
            .flat_map_iter(|(b, block)| {
                let mut stack = Vec::with_capacity(64);
                block
                    .chunks_exact(d)
                    .enumerate()
                    .map(|(i, q)| {
                        let qi = first + b * 64 + i;
                        let top = self.query_one(q, k, self_mode.then_some(qi), &mut stack);
                        finish(top.into_sorted(), k)
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}
