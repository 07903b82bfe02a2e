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
//!   identical to brute force; a cost model measured on sampled queries decides when it wins (see `pruned.rs`).
//! * **k-d tree** ([`Strategy::Tree`]) for low-dimensional data, where brute force spends its time selecting rather
//!   than multiplying: exact box bounds with a rounding allowance, the same exact distances, the same answer.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use faer::{Accum, MatMut, MatRef, Par};
use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

pub mod bench;
mod pruned;
mod tree;

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
/// … and this many columns, and prunes when the planner predicts it [`AUTO_MIN_GAIN`] times faster than brute force.
pub const AUTO_MIN_DIMS: usize = 64;
/// Required predicted speed-up of pruning over brute force under [`Strategy::Auto`].
pub const AUTO_MIN_GAIN: f64 = 1.25;
/// [`Strategy::Auto`] uses the k-d tree up to this many columns from [`AUTO_TREE_MIN_ROWS`] rows, and up to
/// [`AUTO_TREE_MAX_DIMS_LARGE`] columns from [`AUTO_TREE_LARGE_ROWS`] rows. Measured on uniform balls (the worst
/// case for a tree), k = 11: the tree is 3.0× / 2.4× / 0.84× brute force's speed at d = 2 / 4 / 6 with 2000 rows,
/// 18× / 6.4× / 1.7× / 0.68× at d = 2 / 4 / 6 / 8 with 20 000 rows.
pub const AUTO_TREE_MAX_DIMS: usize = 4;
/// See [`AUTO_TREE_MAX_DIMS`].
pub const AUTO_TREE_MIN_ROWS: usize = 256;
/// See [`AUTO_TREE_MAX_DIMS`].
pub const AUTO_TREE_MAX_DIMS_LARGE: usize = 6;
/// See [`AUTO_TREE_MAX_DIMS`].
pub const AUTO_TREE_LARGE_ROWS: usize = 8192;

/// [`Strategy::Auto`]'s first decision, by shape alone: the tree, brute force, or ask the planner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AutoPath {
    Tree,
    Brute,
    Planned,
}

fn auto_path(n: usize, d: usize) -> AutoPath {
    if (d <= AUTO_TREE_MAX_DIMS && n >= AUTO_TREE_MIN_ROWS)
        || (d <= AUTO_TREE_MAX_DIMS_LARGE && n >= AUTO_TREE_LARGE_ROWS)
    {
        AutoPath::Tree
    } else if n < AUTO_MIN_ROWS || d < AUTO_MIN_DIMS {
        AutoPath::Brute
    } else {
        AutoPath::Planned
    }
}

/// The planner's verdict for [`AutoPath::Planned`].
fn plan_prunes(p: &pruned::Plan) -> bool {
    p.pruned_cost * AUTO_MIN_GAIN < p.brute_cost
}

/// Search strategy. Every strategy returns the same (exact) answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Brute force, unless the problem is large ([`AUTO_MIN_ROWS`], [`AUTO_MIN_DIMS`]) and the planner predicts
    /// pruning [`AUTO_MIN_GAIN`] times faster (see [`plan`]).
    #[default]
    Auto,
    /// Blocked GEMM over all pairs.
    Brute,
    /// Principal-coordinate lower bounds, exact refinement of the survivors.
    PcaPruned,
    /// k-d tree with bounding boxes (low-dimensional data).
    Tree,
}

/// Options of the engine (defaults are right for almost every use).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KnnOptions {
    pub strategy: Strategy,
    /// Query rows per task.
    pub query_block: usize,
    /// Reference rows per GEMM.
    pub reference_block: usize,
    /// Number of principal coordinates used for the lower bound (PcaPruned); 0 = chosen by the planner.
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

/// Keeps the `cap` smallest candidates of a stream with amortised O(1) pushes: admitted candidates are buffered
/// and, when the buffer holds `2·cap`, cut back to the `cap` smallest by selection (brute force admits hundreds
/// of candidates per query on low-dimensional data, where a heap's pop + push dominated the search).
/// [`threshold`](TopBuf::threshold) is the `cap`-th smallest distance at the last cut: an upper bound of the current
/// one, so testing `d2 < threshold` never rejects a candidate that belongs to the result.
pub(crate) struct TopBuf {
    cap: usize,
    buf: Vec<Cand>,
    thr: f64,
}
impl TopBuf {
    pub fn new(cap: usize) -> Self {
        TopBuf { cap, buf: Vec::with_capacity(2 * cap.max(1)), thr: f64::INFINITY }
    }
    #[inline]
    pub fn threshold(&self) -> f64 {
        self.thr
    }
    #[inline]
    pub fn push(&mut self, c: Cand) {
        self.buf.push(c);
        if self.buf.len() >= 2 * self.cap.max(1) {
            self.cut();
        }
    }
    /// Lowers the threshold to `bound`, which must exceed the `cap`-th smallest distance of candidates that will
    /// be pushed (e.g. the next float above the `cap`-th smallest of a subset of them).
    #[inline]
    pub fn seed(&mut self, bound: f64) {
        self.thr = self.thr.min(bound);
    }
    fn cut(&mut self) {
        if self.cap == 0 {
            self.buf.clear();
            return;
        }
        self.buf.select_nth_unstable(self.cap - 1);
        self.buf.truncate(self.cap);
        self.thr = self.buf[self.cap - 1].d2;
    }
    /// The kept candidates (the `cap` smallest, or all if fewer), in no particular order.
    pub fn into_vec(mut self) -> Vec<Cand> {
        if self.buf.len() > self.cap {
            self.cut();
        }
        self.buf
    }
}

thread_local! {
    /// Per-thread GEMM output buffer of the brute-force search, reused across blocks and calls: zeroing and
    /// page-faulting a fresh 2 MB buffer per block cost ~15 % of small searches (the dimension estimators run
    /// hundreds of 2000-row searches).
    static GEMM_SCRATCH: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// A buffer taken from the thread's scratch (or freshly allocated), given back on drop.
struct Scratch(Vec<f32>);
impl Scratch {
    fn take(len: usize) -> Self {
        let mut v = GEMM_SCRATCH.with(|c| c.take());
        if v.len() < len {
            v = vec![0.0; len];
        }
        Scratch(v)
    }
    fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.0
    }
}
impl Drop for Scratch {
    fn drop(&mut self) {
        let v = std::mem::take(&mut self.0);
        GEMM_SCRATCH.with(|c| {
            let old = c.take();
            c.set(if old.len() > v.len() { old } else { v });
        });
    }
}

/// `out[j] = qn + ref_n2[j] − 2·g[j]`: the GEMM expansion of the squared distances of one query to a reference block.
/// Element-wise with the same operations on every path (no FMA), so the AVX2 build gives bit-identical values.
#[inline]
fn approx_distances(out: &mut [f64], g: &[f32], ref_n2: &[f64], qn: f64) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe { approx_distances_avx2(out, g, ref_n2, qn) };
        }
    }
    approx_distances_portable(out, g, ref_n2, qn)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn approx_distances_avx2(out: &mut [f64], g: &[f32], ref_n2: &[f64], qn: f64) {
    approx_distances_portable(out, g, ref_n2, qn)
}

#[inline(always)]
fn approx_distances_portable(out: &mut [f64], g: &[f32], ref_n2: &[f64], qn: f64) {
    for ((a, &g), &rn) in out.iter_mut().zip(g).zip(ref_n2) {
        *a = qn + rn - 2.0 * g as f64;
    }
}

/// Pushes the rows of a block whose approximate distance is below the buffer's threshold (row `r0 + i` for
/// `approx[i]`, except `skip`). Chunks of 8 get one vectorised "any below?" test, single rows only where it says yes.
#[inline]
fn admit(approx: &[f64], r0: usize, top: &mut TopBuf, skip: Option<usize>) {
    let mut thr = top.threshold();
    for (c, chunk) in approx.chunks(8).enumerate() {
        if !chunk.iter().fold(false, |any, &d2| any | (d2 < thr)) {
            continue;
        }
        for (o, &d2) in chunk.iter().enumerate() {
            let j = r0 + c * 8 + o;
            if d2 < thr && Some(j) != skip {
                top.push(Cand { d2, j });
                thr = top.threshold();
            }
        }
    }
}

/// SplitMix64 finaliser: a deterministic hash (seeded starting vectors, no RNG dependency).
pub(crate) fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z ^ (z >> 31)
}

/// Exact squared distance (f64 accumulation of exact f32 differences).
///
/// One summation order everywhere (eight interleaved accumulators, multiply then add, no FMA, a fixed reduction
/// tree, then the remainder in order), so the AVX2 kernel and the portable code return bit-identical values: the
/// dispatch only changes the speed.
#[inline]
pub(crate) fn exact_d2(a: &[f32], b: &[f32]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe { exact_d2_avx2(a, b) };
        }
    }
    exact_d2_portable(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn exact_d2_avx2(a: &[f32], b: &[f32]) -> f64 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let full = n / 8 * 8;
    let mut lo = _mm256_setzero_pd();
    let mut hi = _mm256_setzero_pd();
    let mut i = 0;
    while i < full {
        // SAFETY: i + 8 ≤ n, unaligned loads.
        let (xa, xb) = unsafe { (_mm256_loadu_ps(a.as_ptr().add(i)), _mm256_loadu_ps(b.as_ptr().add(i))) };
        let d_lo =
            _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(xa)), _mm256_cvtps_pd(_mm256_castps256_ps128(xb)));
        let d_hi =
            _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(xa, 1)), _mm256_cvtps_pd(_mm256_extractf128_ps(xb, 1)));
        lo = _mm256_add_pd(lo, _mm256_mul_pd(d_lo, d_lo));
        hi = _mm256_add_pd(hi, _mm256_mul_pd(d_hi, d_hi));
        i += 8;
    }
    let mut s = [0.0f64; 8];
    // SAFETY: s has room for two vectors of four.
    unsafe {
        _mm256_storeu_pd(s.as_mut_ptr(), lo);
        _mm256_storeu_pd(s.as_mut_ptr().add(4), hi);
    }
    reduce8(&s, &a[full..n], &b[full..n])
}

#[inline(always)]
fn exact_d2_portable(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len());
    let full = n / 8 * 8;
    let mut s = [0.0f64; 8];
    for (x, y) in a[..full].chunks_exact(8).zip(b[..full].chunks_exact(8)) {
        for l in 0..8 {
            let d = x[l] as f64 - y[l] as f64;
            s[l] += d * d;
        }
    }
    reduce8(&s, &a[full..n], &b[full..n])
}

/// The fixed reduction of the eight accumulators, then the remainder in order.
#[inline(always)]
fn reduce8(s: &[f64; 8], ra: &[f32], rb: &[f32]) -> f64 {
    let t = [s[0] + s[4], s[1] + s[5], s[2] + s[6], s[3] + s[7]];
    let mut total = (t[0] + t[1]) + (t[2] + t[3]);
    for (x, y) in ra.iter().zip(rb) {
        let d = *x as f64 - *y as f64;
        total += d * d;
    }
    total
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
        Strategy::Tree => tree_search(reference, query, k, self_mode),
        Strategy::PcaPruned => {
            let m_max = if opts.pruning_dims == 0 { pruned::MAX_DIMS } else { opts.pruning_dims };
            let prep = pruned::Prepared::new(reference, query, self_mode, m_max);
            let m = if opts.pruning_dims == 0 { pruned::plan(&prep, k, opts).dims } else { opts.pruning_dims };
            pruned::search(&prep, k, m, opts)
        }
        Strategy::Auto => match auto_path(reference.nrows(), reference.ncols()) {
            AutoPath::Tree => tree_search(reference, query, k, self_mode),
            AutoPath::Brute => brute(reference, query, k, self_mode, opts),
            AutoPath::Planned => {
                let prep = pruned::Prepared::new(reference, query, self_mode, pruned::MAX_DIMS);
                let plan = pruned::plan(&prep, k, opts);
                if plan_prunes(&plan) {
                    pruned::search(&prep, k, plan.dims, opts)
                } else {
                    brute(reference, query, k, self_mode, opts)
                }
            }
        },
    }
}

/// The planner's view of a self-search: which strategy [`Strategy::Auto`] takes, with how many principal coordinates,
/// and the predicted thread-seconds of pruning and brute force (for `bench knn` and diagnostics; the tree is chosen
/// by dimension alone).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlanReport {
    pub strategy: Strategy,
    pub pruning_dims: usize,
    pub predicted_pruned_seconds: f64,
    pub predicted_brute_seconds: f64,
}

/// What [`Strategy::Auto`] would do for `knn_self(data, k)`.
pub fn plan(data: ArrayView2<f32>, k: usize, opts: &KnnOptions) -> Result<PlanReport, KnnError> {
    opts.check()?;
    check_matrix(data, "data")?;
    if k == 0 {
        return Err(KnnError::ZeroK);
    }
    if k >= data.nrows() {
        return Err(KnnError::TooFewPoints { k, n: data.nrows(), available: data.nrows() - 1 });
    }
    let prep = pruned::Prepared::new(data, data, true, pruned::MAX_DIMS);
    let p = pruned::plan(&prep, k, opts);
    let strategy = match auto_path(data.nrows(), data.ncols()) {
        AutoPath::Tree => Strategy::Tree,
        AutoPath::Planned if plan_prunes(&p) => Strategy::PcaPruned,
        _ => Strategy::Brute,
    };
    Ok(PlanReport {
        strategy,
        pruning_dims: p.dims,
        predicted_pruned_seconds: p.pruned_cost,
        predicted_brute_seconds: p.brute_cost,
    })
}

fn tree_search(
    reference: ArrayView2<f32>,
    query: ArrayView2<f32>,
    k: usize,
    self_mode: bool,
) -> (Array2<usize>, Array2<f32>) {
    let d = reference.ncols();
    let ref_raw = contiguous(reference);
    let t = tree::Tree::build(&ref_raw, d);
    let q_raw = if self_mode { ref_raw.clone() } else { contiguous(query) };
    let rows = t.search(&q_raw, k, self_mode);
    let n_q = rows.len();
    assemble(rows, n_q, k)
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
    // In self mode the queries are the centred references (borrowed: no second copy of the data).
    let q_own = if self_mode { None } else { Some(centred(&q_raw, d, &mean)) };
    let (q_c, q_n2): (&[f32], &[f64]) = match &q_own {
        Some((c, n2)) => (c, n2),
        None => (&ref_c, &ref_n2),
    };
    let max_ref_norm = ref_n2.iter().fold(0.0f64, |a, &b| a.max(b)).sqrt();
    let available = if self_mode { n_ref - 1 } else { n_ref };
    // Candidates kept per query before refinement: k plus a margin that absorbs the f32 rounding of the GEMM (wider
    // in high dimension, where the rounding is larger; the certificate catches any shortfall).
    let cap = (k + (k / 2).max((d / 16).clamp(4, 16))).min(available);
    let err_factor = gemm_error_factor(d);
    let bq = opts.query_block;
    let br = opts.reference_block.min(n_ref);

    let blocks: Vec<(usize, usize)> = (0..n_q).step_by(bq).map(|s| (s, (s + bq).min(n_q))).collect();
    let per_block: Vec<Vec<Result<(Vec<usize>, Vec<f32>), f64>>> = blocks
        .par_iter()
        .map(|&(q0, q1)| {
            let m = q1 - q0;
            let qb = MatRef::from_row_major_slice(&q_c[q0 * d..q1 * d], m, d);
            let mut tops: Vec<TopBuf> = (0..m).map(|_| TopBuf::new(cap)).collect();
            let mut scratch = Scratch::take(br * m);
            let buf = scratch.as_mut_slice();
            let mut approx = vec![0.0f64; br];
            let mut sample: Vec<f64> = Vec::with_capacity(br / 4 + 1);
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
                    // Branch-free pass (vectorised), then the admission test.
                    approx_distances(&mut approx[..w], col, &ref_n2[r0..r1], qn);
                    if top.threshold() == f64::INFINITY && w >= 16 * cap {
                        // First block of this query: every 4th distance (self excluded) gives an upper bound of the
                        // cap-th smallest — far tighter than the first rows' — so few rows are ever admitted.
                        sample.clear();
                        sample.extend(approx[..w].iter().step_by(4).copied());
                        if self_mode && (r0..r1).contains(&qi) && (qi - r0) % 4 == 0 {
                            sample.swap_remove((qi - r0) / 4);
                        }
                        let (_, nth, _) = sample.select_nth_unstable_by(cap - 1, |a, b| a.total_cmp(b));
                        // Next float up: the cap sampled rows at or below the bound are all admitted.
                        top.seed(nth.next_up());
                    }
                    admit(&approx[..w], r0, top, self_mode.then_some(qi));
                }
            }
            tops.into_iter()
                .enumerate()
                .map(|(i, top)| {
                    let qi = q0 + i;
                    let q = &q_raw[qi * d..(qi + 1) * d];
                    let mut cands = top.into_vec();
                    let complete = cands.len() == available;
                    // Every excluded row had an approximate distance ≥ the worst kept one (see TopBuf).
                    let worst_kept = if cands.len() == cap {
                        cands.iter().fold(f64::NEG_INFINITY, |a, c| a.max(c.d2))
                    } else {
                        f64::INFINITY
                    };
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

    assemble(rows.into_iter().map(|r| r.expect("every query answered by one of the two passes")), n_q, k)
}

/// The n_q × k index and distance matrices from per-query (indices, distances) rows, in query order.
pub(crate) fn assemble(
    rows: impl IntoIterator<Item = (Vec<usize>, Vec<f32>)>,
    n_q: usize,
    k: usize,
) -> (Array2<usize>, Array2<f32>) {
    let mut indices = Array2::<usize>::zeros((n_q, k));
    let mut distances = Array2::<f32>::zeros((n_q, k));
    for (row, (idx, dist)) in rows.into_iter().enumerate() {
        indices.row_mut(row).iter_mut().zip(idx).for_each(|(a, b)| *a = b);
        distances.row_mut(row).iter_mut().zip(dist).for_each(|(a, b)| *a = b);
    }
    (indices, distances)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_distance_kernels_agree_bit_for_bit() {
        // Lengths around the 8-wide blocks, values of mixed magnitude (rounding differences would show).
        for len in [0usize, 1, 7, 8, 9, 15, 16, 17, 100, 1023, 1024, 1025] {
            let a: Vec<f32> = (0..len).map(|i| ((splitmix(i as u64) >> 40) as f32 / 1e4) * 1.37e-3 + 1e3).collect();
            let b: Vec<f32> = (0..len).map(|i| ((splitmix(i as u64 + 99) >> 40) as f32 / 1e4) * 0.91 - 7.0).collect();
            let portable = exact_d2_portable(&a, &b);
            assert_eq!(exact_d2(&a, &b).to_bits(), portable.to_bits(), "length {len}");
            let naive: f64 = a.iter().zip(&b).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum();
            let n2: Vec<f64> = b.iter().map(|&x| x as f64 * 0.37).collect();
            let (mut fast, mut slow) = (vec![0.0; len], vec![0.0; len]);
            approx_distances(&mut fast, &a, &n2, 12.5);
            approx_distances_portable(&mut slow, &a, &n2, 12.5);
            assert!(fast.iter().zip(&slow).all(|(x, y)| x.to_bits() == y.to_bits()), "length {len}");
            assert!((portable - naive).abs() <= 1e-12 * naive.max(1e-300), "length {len}: {portable} vs {naive}");
        }
    }
}
