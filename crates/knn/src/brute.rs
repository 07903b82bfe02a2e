//! The brute-force search (blocked GEMM, exact refinement, certificate and second pass).

use std::borrow::Cow;
use std::ops::Range;

use faer::{Accum, MatMut, MatRef, Par};
use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use crate::kernel::{
    approx_distances, column_mean, contiguous, exact_d2, gemm_abs_error, gemm_error_factor, max_centred, pow2,
    scale_exponent, Scratch,
};
use crate::topk::{assemble, finish, Cand, TopBuf};
use crate::KnnOptions;

/// One query's answer: neighbour indices and distances.
type Row = (Vec<usize>, Vec<f32>);

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

/// The data's rows centred about `mean` and scaled by `2^s` (`kernel::centred`'s values), produced a block at a time so
/// that the search never holds a centred copy of the whole matrix (the rows may be a memory-mapped file).
struct Centring<'a> {
    raw: &'a [f32],
    d: usize,
    mean: &'a [f64],
    scale: f64,
}

impl Centring<'_> {
    /// Rows `r0..r1`, centred and scaled, into `out` (row-major, `(r1 − r0)·d` values).
    fn rows_into(&self, r0: usize, r1: usize, out: &mut [f32]) {
        let d = self.d;
        for (o, r) in out.chunks_exact_mut(d).zip(self.raw[r0 * d..r1 * d].chunks_exact(d)) {
            for ((o, &x), &mu) in o.iter_mut().zip(r).zip(self.mean) {
                *o = ((x as f64 - mu) * self.scale) as f32;
            }
        }
    }
    /// Squared norms (f64) of every centred, scaled row, as `kernel::centred` computes them.
    fn norms(&self) -> Vec<f64> {
        self.raw
            .par_chunks(self.d)
            .map(|r| {
                r.iter().zip(self.mean).fold(0.0f64, |s, (&x, &mu)| {
                    let c = ((x as f64 - mu) * self.scale) as f32;
                    s + c as f64 * c as f64
                })
            })
            .collect()
    }
}

/// Walks the references in blocks of `br` rows: for each block, centred into `rows` (scratch of `br·d` values),
/// `buf[i·w .. (i+1)·w]` receives query `i`'s inner products with the block's `w` rows (one f32 GEMM, sequential:
/// the callers parallelise over query blocks), then `visit(r0, w, buf)` reads them.
#[allow(clippy::too_many_arguments)] // the GEMM's operands and scratch, each used once
fn for_each_reference_block(
    refs: &Centring<'_>,
    n_ref: usize,
    br: usize,
    qb: MatRef<'_, f32>,
    rows: &mut [f32],
    buf: &mut [f32],
    mut visit: impl FnMut(usize, usize, &[f32]),
) {
    let (m, d) = (qb.nrows(), refs.d);
    for r0 in (0..n_ref).step_by(br) {
        let r1 = (r0 + br).min(n_ref);
        let w = r1 - r0;
        refs.rows_into(r0, r1, &mut rows[..w * d]);
        let rb = MatRef::from_row_major_slice(&rows[..w * d], w, d);
        // G (w × m, column-major): column i holds query i's inner products with this reference block.
        let g = MatMut::from_column_major_slice_mut(&mut buf[..w * m], w, m);
        faer::linalg::matmul::matmul(g, Accum::Replace, rb, qb.transpose(), 1.0f32, Par::Seq);
        visit(r0, w, &buf[..w * m]);
    }
}

/// Everything brute force computes once for all query rows: the centring, the scale exponent, the rows' squared
/// norms. [`Brute::search_rows`] then answers any block of query rows (each row's answer is the exact one, whatever
/// the blocks).
pub(crate) struct Brute<'a> {
    d: usize,
    self_mode: bool,
    ref_raw: Cow<'a, [f32]>,
    /// Raw query rows (`None` in self mode: the reference rows, never a second copy).
    q_own: Option<Cow<'a, [f32]>>,
    mean: Vec<f64>,
    s: i32,
    ref_n2: Vec<f64>,
    q_n2: Option<Vec<f64>>,
    max_ref_norm: f64,
}

impl<'a> Brute<'a> {
    pub(crate) fn new(reference: ArrayView2<'a, f32>, query: Option<ArrayView2<'a, f32>>) -> Self {
        let d = reference.ncols();
        let ref_raw = contiguous(reference);
        let q_own = query.map(contiguous);
        let mean = column_mean(&ref_raw, d);
        // The centred rows enter the GEMM times 2^s (0 for ordinary data), so that the expansion neither overflows
        // nor underflows f32 at any finite scale; every approximate quantity below is in those units, and an exact
        // squared distance enters a comparison with them times `sq` = 4^s (exact: a power of two).
        let max_abs = match &q_own {
            None => max_centred(&ref_raw, d, &mean),
            Some(q) => max_centred(&ref_raw, d, &mean).max(max_centred(q, d, &mean)),
        };
        let s = scale_exponent(max_abs);
        // The references are centred a block at a time (memory beyond the input: O(n) norms plus per-task blocks);
        // the queries likewise, from the raw rows.
        let ref_n2 = Centring { raw: &ref_raw, d, mean: &mean, scale: pow2(s) }.norms();
        let q_n2 = q_own.as_deref().map(|q| Centring { raw: q, d, mean: &mean, scale: pow2(s) }.norms());
        let max_ref_norm = ref_n2.iter().fold(0.0f64, |a, &b| a.max(b)).sqrt();
        Brute { d, self_mode: q_own.is_none(), ref_raw, q_own, mean, s, ref_n2, q_n2, max_ref_norm }
    }

    /// The exact `k` nearest reference rows of the query rows `rows` (self excluded in self mode), in row order.
    pub(crate) fn search_rows(&self, rows: Range<usize>, k: usize, opts: &KnnOptions) -> (Array2<usize>, Array2<f32>) {
        brute(self, rows, k, opts)
    }
}

// One function on purpose: the blocked pass, the certificate and the exact rescan share per-query candidate
// buffers and bounds that would otherwise travel through a state struct (~170 lines).
fn brute(p: &Brute<'_>, range: Range<usize>, k: usize, opts: &KnnOptions) -> (Array2<usize>, Array2<f32>) {
    let (d, self_mode, s) = (p.d, p.self_mode, p.s);
    let ref_raw: &[f32] = &p.ref_raw;
    let n_ref = ref_raw.len() / d;
    let q_raw: &[f32] = p.q_own.as_deref().unwrap_or(ref_raw);
    let sq = pow2(2 * s);
    let refs = Centring { raw: ref_raw, d, mean: &p.mean, scale: pow2(s) };
    let queries = Centring { raw: q_raw, d, mean: &p.mean, scale: pow2(s) };
    let ref_n2: &[f64] = &p.ref_n2;
    let q_n2: &[f64] = p.q_n2.as_deref().unwrap_or(ref_n2);
    let max_ref_norm = p.max_ref_norm;
    let available = if self_mode { n_ref - 1 } else { n_ref };
    // Candidates kept per query before refinement: k plus a margin that absorbs the f32 rounding of the GEMM (wider
    // in high dimension, where the rounding is larger; the certificate catches any shortfall).
    let cap = (k + (k / 2).max((d / 16).clamp(4, 16))).min(available);
    let err_factor = gemm_error_factor(d);
    let bq = opts.query_block;
    let br = opts.reference_block.min(n_ref);
    let (first, n_q) = (range.start, range.len());

    let blocks: Vec<(usize, usize)> = range.clone().step_by(bq).map(|s| (s, (s + bq).min(range.end))).collect();
    let per_block: Vec<Vec<Result<Row, f64>>> = blocks
        .par_iter()
        .map(|&(q0, q1)| {
            let m = q1 - q0;
            let mut q_rows = vec![0.0f32; m * d];
            queries.rows_into(q0, q1, &mut q_rows);
            let qb = MatRef::from_row_major_slice(&q_rows, m, d);
            let mut tops: Vec<TopBuf> = (0..m).map(|_| TopBuf::new(cap)).collect();
            let mut scratch = Scratch::take(br * m);
            let buf = scratch.as_mut_slice();
            let mut ref_rows = vec![0.0f32; br * d];
            let mut approx = vec![0.0f64; br];
            let mut sample: Vec<f64> = Vec::with_capacity(br / 4 + 1);
            for_each_reference_block(&refs, n_ref, br, qb, &mut ref_rows, buf, |r0, w, buf| {
                let r1 = r0 + w;
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
            });
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
                    let norms = q_n2[qi].sqrt() + max_ref_norm;
                    let err = err_factor * norms.powi(2) + gemm_abs_error(d, norms);
                    // (Fewer than k candidates cannot happen with finite approximations; should it, the second
                    // pass examines every row.)
                    let kth = cands.get(k - 1).map_or(f64::INFINITY, |c| c.d2 * sq);
                    let certified = complete || worst_kept - err > kth;
                    if certified {
                        Ok(finish(cands, k))
                    } else {
                        // Any row that beats the k-th refined distance has an approximate distance below this.
                        Err(kth + err)
                    }
                })
                .collect::<Vec<_>>()
        })
        .collect();

    // Second pass, only for queries whose certificate failed: one more blocked GEMM over the references for just
    // those queries, keeping every row whose approximate distance is within the error bound of the k-th refined one.
    let mut rows: Vec<Option<(Vec<usize>, Vec<f32>)>> = Vec::with_capacity(n_q);
    let mut failing: Vec<(usize, f64)> = Vec::new();
    for (t, r) in per_block.into_iter().flatten().enumerate() {
        match r {
            Ok(v) => rows.push(Some(v)),
            Err(tau) => {
                failing.push((first + t, tau));
                rows.push(None);
            }
        }
    }
    let redone: Vec<(usize, Row)> = failing
        .par_chunks(bq)
        .flat_map_iter(|chunk| {
            let m = chunk.len();
            let mut qb_rows = vec![0.0f32; m * d];
            for (o, &(qi, _)) in qb_rows.chunks_exact_mut(d).zip(chunk) {
                queries.rows_into(qi, qi + 1, o);
            }
            let qb = MatRef::from_row_major_slice(&qb_rows, m, d);
            let mut lists: Vec<Vec<usize>> = vec![Vec::new(); m];
            let mut buf = vec![0.0f32; br * m];
            let mut ref_rows = vec![0.0f32; br * d];
            for_each_reference_block(&refs, n_ref, br, qb, &mut ref_rows, &mut buf, |r0, w, buf| {
                for (i, &(qi, tau)) in chunk.iter().enumerate() {
                    let qn = q_n2[qi];
                    for (jj, &g) in buf[i * w..(i + 1) * w].iter().enumerate() {
                        let j = r0 + jj;
                        let a = qn + ref_n2[j] - 2.0 * g as f64;
                        if (a <= tau || a.is_nan()) && !(self_mode && j == qi) {
                            lists[i].push(j);
                        }
                    }
                }
            });
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
        rows[qi - first] = Some(v);
    }

    assemble(rows.into_iter().map(|r| r.expect("every query answered by one of the two passes")), n_q, k)
}
