//! The one exact k-nearest-neighbour engine of imanifold (Euclidean).
//!
//! Every other crate (dimension estimators, geodesic graphs, off-manifold scores) calls this crate; there is no other
//! neighbour search in the project.
//!
//! # Algorithm
//! * **Brute force on a GEMM.** Rows are centred on the reference mean (distances are translation invariant and the
//!   smaller norms shrink the rounding error), squared distances are evaluated as ‖q‖² + ‖r‖² − 2 q·r with faer's f32
//!   GEMM, one query block × reference block at a time (memory O(block), never n × n), and each query keeps its best
//!   `k + margin` candidates. Query blocks run in parallel on rayon; each GEMM runs sequentially inside its task, so
//!   the blocking and hence the result do not depend on the thread count.
//! * **Exact refinement.** The selected candidates' distances are recomputed exactly (f64 accumulation over the
//!   original, uncentred f32 values) and sorted by (distance, index), so ties are broken by the smaller index. A
//!   rigorous floating-point error bound of the GEMM expansion certifies that no excluded row can beat the k-th
//!   refined distance; the queries whose certificate fails (near-duplicate clusters, huge norms, very large d) get a
//!   second GEMM pass that keeps every row within the error bound of their k-th refined distance, refined exactly.
//!   The result is therefore exactly the naive O(n²d) answer.
//! * **PCA-pruned search** ([`Strategy::PcaPruned`]): image collections have steeply decaying spectra. Rows are
//!   rotated into principal coordinates (an orthogonal change of basis: distances unchanged); the leading `m`
//!   coordinates give, by one small GEMM, a lower bound on every squared distance (the trailing coordinates can only
//!   add). Only candidates whose lower bound beats the current k-th exact distance are refined exactly. Results are
//!   identical to brute force; see the crate benchmark for when it wins.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use faer::{Accum, MatMut, MatRef, Par};
use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

mod pruned;

/// Errors of the kNN engine.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum KnnError {
    #[error("k must be at least 1")]
    ZeroK,
    #[error("k = {k} needs more points: there are only {available} candidate neighbours (n = {n})")]
    TooFewPoints { k: usize, n: usize, available: usize },
    #[error("{what} has no rows")]
    Empty { what: &'static str },
    #[error("{what} has zero columns")]
    NoColumns { what: &'static str },
    #[error("{what} row {row} column {col} is not finite ({value})")]
    NonFinite { what: &'static str, row: usize, col: usize, value: f32 },
    #[error("query has {query} columns but the reference has {reference}")]
    DimensionMismatch { query: usize, reference: usize },
    #[error("invalid option: {0}")]
    InvalidOption(String),
}

/// The k nearest neighbours of every query row.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbors {
    /// n_query × k reference row indices, nearest first (ties: smaller index first).
    pub indices: Array2<usize>,
    /// n_query × k exact Euclidean distances (not squared), ascending.
    pub distances: Array2<f32>,
    /// Number of reference rows that exactly duplicate an earlier reference row (zero distances: MLE/TwoNN need to
    /// know).
    pub duplicate_rows: usize,
}

impl Neighbors {
    pub fn k(&self) -> usize {
        self.indices.ncols()
    }
    pub fn n(&self) -> usize {
        self.indices.nrows()
    }
}

/// [`Strategy::Auto`] considers pruning from this many reference rows …
pub const AUTO_MIN_ROWS: usize = 4096;
/// … and this many columns …
pub const AUTO_MIN_DIMS: usize = 64;
/// … when the leading principal coordinates leave less than this fraction of the variance outside.
pub const AUTO_MAX_RESIDUAL: f64 = 0.002;

/// Search strategy. Every strategy returns the same (exact) answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Brute force, unless the data are large and their spectrum so steep that pruning wins (see
    /// [`AUTO_MAX_RESIDUAL`]).
    #[default]
    Auto,
    /// Blocked GEMM over all pairs.
    Brute,
    /// Principal-coordinate lower bounds, exact refinement of the survivors.
    PcaPruned,
}

/// Options of the engine (defaults are right for almost every use).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KnnOptions {
    pub strategy: Strategy,
    /// Query rows per task.
    pub query_block: usize,
    /// Reference rows per GEMM.
    pub reference_block: usize,
    /// Number of principal coordinates used for the lower bound (PcaPruned); 0 = choose automatically.
    pub pruning_dims: usize,
}

impl Default for KnnOptions {
    fn default() -> Self {
        KnnOptions { strategy: Strategy::Auto, query_block: 256, reference_block: 2048, pruning_dims: 0 }
    }
}

impl KnnOptions {
    fn check(&self) -> Result<(), KnnError> {
        if self.query_block == 0 || self.reference_block == 0 {
            return Err(KnnError::InvalidOption("block sizes must be positive".into()));
        }
        Ok(())
    }
}

/// Exact k nearest neighbours of every row among the other rows (self excluded).
pub fn knn_self(data: ArrayView2<f32>, k: usize) -> Result<Neighbors, KnnError> {
    knn_self_with(data, k, &KnnOptions::default())
}

/// Exact k nearest reference rows of every query row.
pub fn knn_query(reference: ArrayView2<f32>, query: ArrayView2<f32>, k: usize) -> Result<Neighbors, KnnError> {
    knn_query_with(reference, query, k, &KnnOptions::default())
}

/// [`knn_self`] with explicit options.
pub fn knn_self_with(data: ArrayView2<f32>, k: usize, opts: &KnnOptions) -> Result<Neighbors, KnnError> {
    opts.check()?;
    check_matrix(data, "data")?;
    let n = data.nrows();
    if k == 0 {
        return Err(KnnError::ZeroK);
    }
    if k >= n {
        return Err(KnnError::TooFewPoints { k, n, available: n - 1 });
    }
    let duplicate_rows = duplicate_rows(data).len();
    let (indices, distances) = search(data, data, k, true, opts);
    Ok(Neighbors { indices, distances, duplicate_rows })
}

/// [`knn_query`] with explicit options.
pub fn knn_query_with(
    reference: ArrayView2<f32>,
    query: ArrayView2<f32>,
    k: usize,
    opts: &KnnOptions,
) -> Result<Neighbors, KnnError> {
    opts.check()?;
    check_matrix(reference, "reference")?;
    check_matrix(query, "query")?;
    if query.ncols() != reference.ncols() {
        return Err(KnnError::DimensionMismatch { query: query.ncols(), reference: reference.ncols() });
    }
    if k == 0 {
        return Err(KnnError::ZeroK);
    }
    if k > reference.nrows() {
        return Err(KnnError::TooFewPoints { k, n: reference.nrows(), available: reference.nrows() });
    }
    let duplicate_rows = duplicate_rows(reference).len();
    let (indices, distances) = search(reference, query, k, false, opts);
    Ok(Neighbors { indices, distances, duplicate_rows })
}

/// Rows that exactly duplicate an earlier row (ascending). `-0.0` equals `0.0`.
pub fn duplicate_rows(data: ArrayView2<f32>) -> Vec<usize> {
    let hashes: Vec<u64> = (0..data.nrows())
        .into_par_iter()
        .map(|i| {
            // FNV-1a over the normalised bit patterns.
            let mut h: u64 = 0xcbf29ce484222325;
            for &x in data.row(i).iter() {
                let bits = (x + 0.0).to_bits() as u64;
                h ^= bits;
                h = h.wrapping_mul(0x100000001b3);
            }
            h
        })
        .collect();
    let mut first_with_hash: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut dups = Vec::new();
    for (i, h) in hashes.into_iter().enumerate() {
        let bucket = first_with_hash.entry(h).or_default();
        if bucket.iter().any(|&j| data.row(j) == data.row(i)) {
            dups.push(i);
        } else {
            bucket.push(i);
        }
    }
    dups
}

fn check_matrix(m: ArrayView2<f32>, what: &'static str) -> Result<(), KnnError> {
    if m.nrows() == 0 {
        return Err(KnnError::Empty { what });
    }
    if m.ncols() == 0 {
        return Err(KnnError::NoColumns { what });
    }
    let bad = m.axis_iter(Axis(0)).into_par_iter().enumerate().find_first(|(_, r)| r.iter().any(|x| !x.is_finite()));
    if let Some((row, r)) = bad {
        let (col, &value) = r.iter().enumerate().find(|(_, x)| !x.is_finite()).expect("a non-finite value exists");
        return Err(KnnError::NonFinite { what, row, col, value });
    }
    Ok(())
}

/// A candidate: (squared distance, reference index), ordered by distance then index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Cand {
    pub d2: f64,
    pub j: usize,
}
impl Eq for Cand {}
impl PartialOrd for Cand {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Cand {
    fn cmp(&self, other: &Self) -> Ordering {
        self.d2.total_cmp(&other.d2).then(self.j.cmp(&other.j))
    }
}

/// Bounded max-heap keeping the `cap` smallest candidates.
pub(crate) struct TopK {
    cap: usize,
    heap: BinaryHeap<Cand>,
}
impl TopK {
    pub fn new(cap: usize) -> Self {
        TopK { cap, heap: BinaryHeap::with_capacity(cap + 1) }
    }
    /// Current admission threshold (the worst kept squared distance, +inf while not full).
    #[inline]
    pub fn threshold(&self) -> f64 {
        if self.heap.len() < self.cap {
            f64::INFINITY
        } else {
            self.heap.peek().map_or(f64::INFINITY, |c| c.d2)
        }
    }
    #[inline]
    pub fn push(&mut self, c: Cand) {
        if self.heap.len() < self.cap {
            self.heap.push(c);
        } else if let Some(top) = self.heap.peek() {
            if c < *top {
                self.heap.pop();
                self.heap.push(c);
            }
        }
    }
    pub fn len(&self) -> usize {
        self.heap.len()
    }
    pub fn into_sorted(self) -> Vec<Cand> {
        self.heap.into_sorted_vec()
    }
}

/// Exact squared distance (f64 accumulation of exact f32 differences).
#[inline]
pub(crate) fn exact_d2(a: &[f32], b: &[f32]) -> f64 {
    let mut s0 = 0.0f64;
    let mut s1 = 0.0f64;
    let mut s2 = 0.0f64;
    let mut s3 = 0.0f64;
    let mut ca = a.chunks_exact(4);
    let mut cb = b.chunks_exact(4);
    for (x, y) in (&mut ca).zip(&mut cb) {
        let d0 = x[0] as f64 - y[0] as f64;
        let d1 = x[1] as f64 - y[1] as f64;
        let d2 = x[2] as f64 - y[2] as f64;
        let d3 = x[3] as f64 - y[3] as f64;
        s0 += d0 * d0;
        s1 += d1 * d1;
        s2 += d2 * d2;
        s3 += d3 * d3;
    }
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        let d = *x as f64 - *y as f64;
        s0 += d * d;
    }
    (s0 + s1) + (s2 + s3)
}

/// Standard-layout (row-major, contiguous) copy or borrow.
pub(crate) fn contiguous<'a>(m: ArrayView2<'a, f32>) -> std::borrow::Cow<'a, [f32]> {
    match m.to_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(m.iter().copied().collect()),
    }
}

/// Centred copy of `m` (row-major) about `mean`, plus squared norms (f64) of the centred rows.
pub(crate) fn centred(m: &[f32], d: usize, mean: &[f64]) -> (Vec<f32>, Vec<f64>) {
    let mut out = vec![0.0f32; m.len()];
    let norms: Vec<f64> = out
        .par_chunks_mut(d)
        .zip(m.par_chunks(d))
        .map(|(o, r)| {
            let mut s = 0.0f64;
            for ((o, &x), &mu) in o.iter_mut().zip(r).zip(mean) {
                let c = (x as f64 - mu) as f32;
                *o = c;
                s += c as f64 * c as f64;
            }
            s
        })
        .collect();
    (out, norms)
}

pub(crate) fn column_mean(m: &[f32], d: usize) -> Vec<f64> {
    let n = m.len() / d;
    let mut mean = m
        .par_chunks(d * 1024)
        .map(|block| {
            let mut s = vec![0.0f64; d];
            for r in block.chunks_exact(d) {
                for (s, &x) in s.iter_mut().zip(r) {
                    *s += x as f64;
                }
            }
            s
        })
        .reduce(
            || vec![0.0f64; d],
            |mut a, b| {
                for (a, b) in a.iter_mut().zip(b) {
                    *a += b;
                }
                a
            },
        );
    for m in &mut mean {
        *m /= n as f64;
    }
    mean
}

/// Worst-case absolute error of the GEMM expansion of a squared distance, per unit of (‖q‖ + ‖r‖)²: an inner
/// product of length d in f32 errs by at most γ_d‖q‖‖r‖ with γ_d ≈ d·u; the norms and the two additions add a few u.
/// (f32::EPSILON = 2u, so this is a factor two on top.)
pub(crate) fn gemm_error_factor(d: usize) -> f64 {
    (d as f64 + 8.0) * f32::EPSILON as f64
}

/// Sorted exact results → output rows.
pub(crate) fn finish(mut c: Vec<Cand>, k: usize) -> (Vec<usize>, Vec<f32>) {
    c.sort_unstable();
    c.truncate(k);
    (c.iter().map(|c| c.j).collect(), c.iter().map(|c| c.d2.sqrt() as f32).collect())
}

fn search(
    reference: ArrayView2<f32>,
    query: ArrayView2<f32>,
    k: usize,
    self_mode: bool,
    opts: &KnnOptions,
) -> (Array2<usize>, Array2<f32>) {
    match opts.strategy {
        Strategy::Brute => brute(reference, query, k, self_mode, opts),
        Strategy::PcaPruned => pruned::search(reference, query, k, self_mode, opts, None),
        Strategy::Auto => {
            // Pruning pays when the leading principal coordinates hold almost all the variance (measured: a
            // power-law spectrum leaving 1.3 % outside 48 coordinates is faster by brute force; points near an
            // 8-D subspace are ~1.5–2× faster pruned). Small problems always go brute force.
            let (n, d) = (reference.nrows(), reference.ncols());
            if n < AUTO_MIN_ROWS || d < AUTO_MIN_DIMS {
                return brute(reference, query, k, self_mode, opts);
            }
            let raw = contiguous(reference);
            let mean = column_mean(&raw, d);
            let (basis, residual) = pruned::principal_basis(&raw, d, &mean, pruned::pruning_dims(opts, d));
            if residual < AUTO_MAX_RESIDUAL {
                pruned::search(reference, query, k, self_mode, opts, Some(basis))
            } else {
                brute(reference, query, k, self_mode, opts)
            }
        }
    }
}

fn brute(
    reference: ArrayView2<f32>,
    query: ArrayView2<f32>,
    k: usize,
    self_mode: bool,
    opts: &KnnOptions,
) -> (Array2<usize>, Array2<f32>) {
    let d = reference.ncols();
    let n_ref = reference.nrows();
    let n_q = query.nrows();
    let ref_raw = contiguous(reference);
    let q_raw = if self_mode { ref_raw.clone() } else { contiguous(query) };
    let mean = column_mean(&ref_raw, d);
    let (ref_c, ref_n2) = centred(&ref_raw, d, &mean);
    let (q_c, q_n2) = if self_mode { (ref_c.clone(), ref_n2.clone()) } else { centred(&q_raw, d, &mean) };
    let max_ref_norm = ref_n2.iter().fold(0.0f64, |a, &b| a.max(b)).sqrt();
    let available = if self_mode { n_ref - 1 } else { n_ref };
    let cap = (k + (k / 2).max(16)).min(available);
    let err_factor = gemm_error_factor(d);
    let bq = opts.query_block;
    let br = opts.reference_block.min(n_ref);

    let blocks: Vec<(usize, usize)> = (0..n_q).step_by(bq).map(|s| (s, (s + bq).min(n_q))).collect();
    let per_block: Vec<Vec<Result<(Vec<usize>, Vec<f32>), f64>>> = blocks
        .par_iter()
        .map(|&(q0, q1)| {
            let m = q1 - q0;
            let qb = MatRef::from_row_major_slice(&q_c[q0 * d..q1 * d], m, d);
            let mut tops: Vec<TopK> = (0..m).map(|_| TopK::new(cap)).collect();
            let mut buf = vec![0.0f32; br * m];
            for r0 in (0..n_ref).step_by(br) {
                let r1 = (r0 + br).min(n_ref);
                let w = r1 - r0;
                let rb = MatRef::from_row_major_slice(&ref_c[r0 * d..r1 * d], w, d);
                // G (w × m, column-major): column i holds query i's inner products with this reference block.
                let g = MatMut::from_column_major_slice_mut(&mut buf[..w * m], w, m);
                faer::linalg::matmul::matmul(g, Accum::Replace, rb, qb.transpose(), 1.0f32, Par::Seq);
                for (i, top) in tops.iter_mut().enumerate() {
                    let qi = q0 + i;
                    let col = &buf[i * w..(i + 1) * w];
                    let qn = q_n2[qi];
                    let mut thr = top.threshold();
                    for (jj, &g) in col.iter().enumerate() {
                        let j = r0 + jj;
                        let d2 = qn + ref_n2[j] - 2.0 * g as f64;
                        if d2 < thr {
                            if self_mode && j == qi {
                                continue;
                            }
                            top.push(Cand { d2, j });
                            thr = top.threshold();
                        }
                    }
                }
            }
            tops.into_iter()
                .enumerate()
                .map(|(i, top)| {
                    let qi = q0 + i;
                    let q = &q_raw[qi * d..(qi + 1) * d];
                    let complete = top.len() == available;
                    let worst_kept = top.threshold();
                    let mut cands = top.into_sorted();
                    for c in &mut cands {
                        c.d2 = exact_d2(q, &ref_raw[c.j * d..(c.j + 1) * d]);
                    }
                    cands.sort_unstable();
                    // Certificate: every excluded row had an approximate squared distance ≥ worst_kept, hence a true
                    // one ≥ worst_kept − err; if that beats the k-th exact distance, the refined top-k is exact.
                    let err = err_factor * (q_n2[qi].sqrt() + max_ref_norm).powi(2);
                    let certified = complete || worst_kept - err > cands[k - 1].d2;
                    if certified {
                        Ok(finish(cands, k))
                    } else {
                        // Any row that beats the k-th refined distance has an approximate distance below this.
                        Err(cands[k - 1].d2 + err)
                    }
                })
                .collect::<Vec<_>>()
        })
        .collect();

    // Second pass, only for queries whose certificate failed: one more blocked GEMM over the references for just
    // those queries, keeping every row whose approximate distance is within the error bound of the k-th refined one.
    let mut rows: Vec<Option<(Vec<usize>, Vec<f32>)>> = Vec::with_capacity(n_q);
    let mut failing: Vec<(usize, f64)> = Vec::new();
    for (qi, r) in per_block.into_iter().flatten().enumerate() {
        match r {
            Ok(v) => rows.push(Some(v)),
            Err(tau) => {
                failing.push((qi, tau));
                rows.push(None);
            }
        }
    }
    let redone: Vec<(usize, (Vec<usize>, Vec<f32>))> = failing
        .par_chunks(bq)
        .flat_map_iter(|chunk| {
            let m = chunk.len();
            let mut qb_rows = Vec::with_capacity(m * d);
            for &(qi, _) in chunk {
                qb_rows.extend_from_slice(&q_c[qi * d..(qi + 1) * d]);
            }
            let qb = MatRef::from_row_major_slice(&qb_rows, m, d);
            let mut lists: Vec<Vec<usize>> = vec![Vec::new(); m];
            let mut buf = vec![0.0f32; br * m];
            for r0 in (0..n_ref).step_by(br) {
                let r1 = (r0 + br).min(n_ref);
                let w = r1 - r0;
                let rb = MatRef::from_row_major_slice(&ref_c[r0 * d..r1 * d], w, d);
                let g = MatMut::from_column_major_slice_mut(&mut buf[..w * m], w, m);
                faer::linalg::matmul::matmul(g, Accum::Replace, rb, qb.transpose(), 1.0f32, Par::Seq);
                for (i, &(qi, tau)) in chunk.iter().enumerate() {
                    let qn = q_n2[qi];
                    for (jj, &g) in buf[i * w..(i + 1) * w].iter().enumerate() {
                        let j = r0 + jj;
                        if qn + ref_n2[j] - 2.0 * g as f64 <= tau && !(self_mode && j == qi) {
                            lists[i].push(j);
                        }
                    }
                }
            }
            chunk
                .iter()
                .zip(lists)
                .map(|(&(qi, _), list)| {
                    let q = &q_raw[qi * d..(qi + 1) * d];
                    let cands: Vec<Cand> =
                        list.into_iter().map(|j| Cand { d2: exact_d2(q, &ref_raw[j * d..(j + 1) * d]), j }).collect();
                    (qi, finish(cands, k))
                })
                .collect::<Vec<_>>()
        })
        .collect();
    for (qi, v) in redone {
        rows[qi] = Some(v);
    }

    let mut indices = Array2::<usize>::zeros((n_q, k));
    let mut distances = Array2::<f32>::zeros((n_q, k));
    for (row, r) in rows.into_iter().enumerate() {
        let (idx, dist) = r.expect("every query answered by one of the two passes");
        indices.row_mut(row).iter_mut().zip(idx).for_each(|(a, b)| *a = b);
        distances.row_mut(row).iter_mut().zip(dist).for_each(|(a, b)| *a = b);
    }
    (indices, distances)
}
