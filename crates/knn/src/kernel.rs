//! The numerical kernels: the GEMM expansion of squared distances on centred rows (with its rigorous rounding
//! bound), exact squared distances, and [`PairwiseBlocks`], the blocked all-pairs pass other crates use for range
//! counts.

use faer::{Accum, MatMut, MatRef, Par};
use ndarray::ArrayView2;
use rayon::prelude::*;

thread_local! {
    /// Per-thread GEMM output buffer of the brute-force search, reused across blocks and calls: zeroing and
    /// page-faulting a fresh 2 MB buffer per block cost ~15 % of small searches (the dimension estimators run
    /// hundreds of 2000-row searches).
    static GEMM_SCRATCH: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// A buffer taken from the thread's scratch (or freshly allocated), given back on drop.
pub(crate) struct Scratch(Vec<f32>);
impl Scratch {
    pub(crate) fn take(len: usize) -> Self {
        let mut v = GEMM_SCRATCH.with(|c| c.take());
        if v.len() < len {
            v = vec![0.0; len];
        }
        Scratch(v)
    }
    pub(crate) fn as_mut_slice(&mut self) -> &mut [f32] {
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
pub(crate) fn approx_distances(out: &mut [f64], g: &[f32], ref_n2: &[f64], qn: f64) {
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

/// `lbs[j] = max(0, qpn + pn[j] − 2·g[j]) + (qρ − ρ[j])² − slack·(qn2 + n2[j])`: the pruned search's lower bounds of
/// one query against a reference block from the GEMM `g` of their coordinates (reference arrays `(pn, ρ, n2)`,
/// query values `(qpn, qρ, qn2)`). Compiled for AVX2 when the CPU has it (a bound: only its validity matters, the
/// rounding of either path is covered by the slack).
#[inline]
pub(crate) fn bound_pass(lbs: &mut [f64], g: &[f64], r: (&[f64], &[f64], &[f64]), q: (f64, f64, f64), slack: f64) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe { bound_pass_avx2(lbs, g, r, q, slack) };
        }
    }
    bound_pass_portable(lbs, g, r, q, slack)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn bound_pass_avx2(lbs: &mut [f64], g: &[f64], r: (&[f64], &[f64], &[f64]), q: (f64, f64, f64), slack: f64) {
    bound_pass_portable(lbs, g, r, q, slack)
}

#[inline(always)]
fn bound_pass_portable(lbs: &mut [f64], g: &[f64], r: (&[f64], &[f64], &[f64]), q: (f64, f64, f64), slack: f64) {
    let (rpn, rr, rn2) = r;
    let (qpn, qr, qn2) = q;
    let w = lbs.len();
    let (g, rpn, rr, rn2) = (&g[..w], &rpn[..w], &rr[..w], &rn2[..w]);
    for j in 0..w {
        let dr = qr - rr[j];
        lbs[j] = (qpn + rpn[j] - 2.0 * g[j]).max(0.0) + dr * dr - slack * (qn2 + rn2[j]);
    }
}

/// Σ (a_i − b_i)² in f32 (eight lanes, then a fixed reduction): the pruned search's second bound, whose slack covers
/// the rounding. Compiled for AVX2 when the CPU has it.
#[inline]
pub(crate) fn sq_dist_f32(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe { sq_dist_f32_avx2(a, b) };
        }
    }
    sq_dist_f32_portable(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn sq_dist_f32_avx2(a: &[f32], b: &[f32]) -> f32 {
    sq_dist_f32_portable(a, b)
}

#[inline(always)]
fn sq_dist_f32_portable(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let full = n / 8 * 8;
    let mut s = [0.0f32; 8];
    for (x, y) in a[..full].chunks_exact(8).zip(b[..full].chunks_exact(8)) {
        for l in 0..8 {
            let d = x[l] - y[l];
            s[l] += d * d;
        }
    }
    let mut total = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
    for (x, y) in a[full..n].iter().zip(&b[full..n]) {
        total += (x - y) * (x - y);
    }
    total
}

/// Centred rows whose largest magnitude lies in `[2^-UNSCALED_EXP, 2^UNSCALED_EXP]` enter the f32 GEMM as they are;
/// others are first multiplied by a power of two (see [`scale_exponent`]).
const UNSCALED_EXP: i32 = 20;

/// `2^s` as an f64 (exact; `s` within the normal exponent range).
pub(crate) fn pow2(s: i32) -> f64 {
    debug_assert!((-1022..=1023).contains(&s));
    f64::from_bits(((1023 + s as i64) as u64) << 52)
}

/// The exponent `s` of the power of two the centred rows are multiplied by before the f32 GEMM, from their largest
/// magnitude: 0 (no rescaling) when it lies in `[2^-20, 2^20]` or is zero, otherwise the `s` that brings it into
/// `[1, 2)`. Without it, inner products of data beyond ~1e19 overflow f32 and those of data below ~1e-19 underflow
/// to zero, and the GEMM expansion is meaningless. A power of two changes no significand, so the rescaled
/// expansion is the original one times `4^s` (up to the rounding of values pushed into f32's subnormal range, which
/// [`gemm_abs_error`] covers), and ordinary data take exactly the path they always took.
pub(crate) fn scale_exponent(max_abs: f64) -> i32 {
    if max_abs == 0.0 || !max_abs.is_finite() {
        return 0;
    }
    // max_abs is an f64 built from f32 values: always normal, so its biased exponent field is its binary exponent.
    let e = ((max_abs.to_bits() >> 52) & 0x7ff) as i32 - 1023;
    if (-UNSCALED_EXP..UNSCALED_EXP).contains(&e) {
        0
    } else {
        -e
    }
}

/// Largest magnitude of the centred values `x − mean` (f64) of row-major rows.
pub(crate) fn max_centred(m: &[f32], d: usize, mean: &[f64]) -> f64 {
    m.par_chunks(d * 1024)
        .map(|block| {
            let mut a = 0.0f64;
            for r in block.chunks_exact(d) {
                for (&x, &mu) in r.iter().zip(mean) {
                    a = a.max((x as f64 - mu).abs());
                }
            }
            a
        })
        .reduce(|| 0.0, f64::max)
}

/// Exact squared distance (f64 accumulation of exact f32 differences).
///
/// One summation order everywhere (eight interleaved accumulators, multiply then add, no FMA, a fixed reduction
/// tree, then the remainder in order), so the AVX2 kernel and the portable code return bit-identical values: the
/// dispatch only changes the speed. Public so that front ends merging partial results (sharded searches) can
/// order candidates by the same values as the engine.
#[inline]
pub fn exact_d2(a: &[f32], b: &[f32]) -> f64 {
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

/// [`exact_d2`] when its value may be at most `limit`, bit for bit; `None` only when it certainly exceeds `limit`.
/// The partial sums are checked every [`WITHIN_CHECK`] elements: each accumulator only grows (non-negative terms,
/// monotone rounding) and so does the fixed reduction, so a partial reduction above `limit` proves the total is.
#[inline]
pub(crate) fn exact_d2_within(a: &[f32], b: &[f32], limit: f64) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe { exact_d2_within_avx2(a, b, limit) };
        }
    }
    exact_d2_within_portable(a, b, limit)
}

/// Elements between two checks of [`exact_d2_within`] (a multiple of 8).
const WITHIN_CHECK: usize = 128;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn exact_d2_within_avx2(a: &[f32], b: &[f32], limit: f64) -> Option<f64> {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let full = n / 8 * 8;
    let mut lo = _mm256_setzero_pd();
    let mut hi = _mm256_setzero_pd();
    let mut s = [0.0f64; 8];
    let mut i = 0;
    while i < full {
        let stop = (i + WITHIN_CHECK).min(full);
        while i < stop {
            // SAFETY: i + 8 ≤ n, unaligned loads.
            let (xa, xb) = unsafe { (_mm256_loadu_ps(a.as_ptr().add(i)), _mm256_loadu_ps(b.as_ptr().add(i))) };
            let d_lo =
                _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(xa)), _mm256_cvtps_pd(_mm256_castps256_ps128(xb)));
            let d_hi = _mm256_sub_pd(
                _mm256_cvtps_pd(_mm256_extractf128_ps(xa, 1)),
                _mm256_cvtps_pd(_mm256_extractf128_ps(xb, 1)),
            );
            lo = _mm256_add_pd(lo, _mm256_mul_pd(d_lo, d_lo));
            hi = _mm256_add_pd(hi, _mm256_mul_pd(d_hi, d_hi));
            i += 8;
        }
        // SAFETY: s has room for two vectors of four.
        unsafe {
            _mm256_storeu_pd(s.as_mut_ptr(), lo);
            _mm256_storeu_pd(s.as_mut_ptr().add(4), hi);
        }
        if i < full && reduce8(&s, &[], &[]) > limit {
            return None;
        }
    }
    Some(reduce8(&s, &a[full..n], &b[full..n]))
}

#[inline(always)]
fn exact_d2_within_portable(a: &[f32], b: &[f32], limit: f64) -> Option<f64> {
    let n = a.len().min(b.len());
    let full = n / 8 * 8;
    let mut s = [0.0f64; 8];
    for (c, (xc, yc)) in a[..full].chunks(WITHIN_CHECK).zip(b[..full].chunks(WITHIN_CHECK)).enumerate() {
        if c > 0 && reduce8(&s, &[], &[]) > limit {
            return None;
        }
        for (x, y) in xc.chunks_exact(8).zip(yc.chunks_exact(8)) {
            for l in 0..8 {
                let d = x[l] as f64 - y[l] as f64;
                s[l] += d * d;
            }
        }
    }
    Some(reduce8(&s, &a[full..n], &b[full..n]))
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

/// Centred copy of `m` (row-major) about `mean`, times `2^s`, plus squared norms (f64) of those rows.
pub(crate) fn centred(m: &[f32], d: usize, mean: &[f64], s: i32) -> (Vec<f32>, Vec<f64>) {
    let scale = pow2(s);
    let mut out = vec![0.0f32; m.len()];
    let norms: Vec<f64> = out
        .par_chunks_mut(d)
        .zip(m.par_chunks(d))
        .map(|(o, r)| {
            let mut s = 0.0f64;
            for ((o, &x), &mu) in o.iter_mut().zip(r).zip(mean) {
                let c = ((x as f64 - mu) * scale) as f32;
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

/// Absolute error allowance of the GEMM expansion for rows of norms summing to `norms` (in the units of the GEMM's
/// input), on top of [`gemm_error_factor`]: values and partial sums in f32's subnormal range round to a multiple of
/// 2^-149, not relatively (each of the ~2d operations and each of the 2d centred values errs by at most 2^-150).
#[inline]
pub(crate) fn gemm_abs_error(d: usize, norms: f64) -> f64 {
    (d as f64 + 2.0) * (1.0 + 4.0 * norms) * pow2(-146)
}

/// Blocked all-pairs squared distances of one data set, by the same GEMM expansion as the brute-force search:
/// rows centred on their mean, ‖q‖² + ‖r‖² − 2 q·r evaluated one query block × reference block at a time (memory
/// O(block)), query blocks in parallel. Each approximate value is within [`PairwiseBlocks::error_bound`] of the true
/// squared distance; [`PairwiseBlocks::exact_d2`] gives the exact one where that matters. Rows of any finite
/// magnitude are handled: they are rescaled by a power of two for the f32 GEMM (see [`scale_exponent`]), and the
/// approximate values and their bounds are given in the data's own units.
pub struct PairwiseBlocks<'a> {
    raw: std::borrow::Cow<'a, [f32]>,
    cen: Vec<f32>,
    norms: Vec<f64>,
    n: usize,
    d: usize,
    err_factor: f64,
    /// The centred rows are scaled by `2^s` (see [`scale_exponent`]); `unscale = 4^-s` turns their squared
    /// distances back into the data's.
    s: i32,
    unscale: f64,
}

impl<'a> PairwiseBlocks<'a> {
    /// Query rows per parallel task.
    pub const QUERY_BLOCK: usize = 256;
    /// Reference rows per GEMM.
    pub const REFERENCE_BLOCK: usize = 2048;

    /// Centres the rows of `data` (n × d, finite).
    pub fn new(data: ArrayView2<'a, f32>) -> Self {
        let (n, d) = data.dim();
        let raw = contiguous(data);
        let mean = column_mean(&raw, d.max(1));
        let s = scale_exponent(max_centred(&raw, d.max(1), &mean));
        let (cen, norms) = centred(&raw, d.max(1), &mean, s);
        PairwiseBlocks { raw, cen, norms, n, d, err_factor: gemm_error_factor(d), s, unscale: pow2(-2 * s) }
    }

    pub fn n(&self) -> usize {
        self.n
    }

    /// Worst-case absolute error of the approximate squared distance of rows `i` and `j`.
    #[inline]
    pub fn error_bound(&self, i: usize, j: usize) -> f64 {
        let norms = self.norms[i].sqrt() + self.norms[j].sqrt();
        (self.err_factor * norms * norms + gemm_abs_error(self.d, norms)) * self.unscale
    }

    /// Exact squared distance of rows `i` and `j` (f64 accumulation over the original values).
    #[inline]
    pub fn exact_d2(&self, i: usize, j: usize) -> f64 {
        let d = self.d;
        exact_d2(&self.raw[i * d..(i + 1) * d], &self.raw[j * d..(j + 1) * d])
    }

    /// Runs `visit(state, i, r0, approx)` for every row `i` and every reference block starting at row `r0`, with
    /// `approx[jj]` the approximate squared distance of rows `i` and `r0 + jj` (the pair (i, i) included). Each
    /// query block has its own `init()` state; the states are returned in block order, so a fixed-order reduction of
    /// them does not depend on the thread count.
    pub fn fold<S: Send>(
        &self,
        init: impl Fn() -> S + Sync,
        visit: impl Fn(&mut S, usize, usize, &[f64]) + Sync,
    ) -> Vec<S> {
        let (n, d) = (self.n, self.d);
        let (bq, br) = (Self::QUERY_BLOCK, Self::REFERENCE_BLOCK.min(n));
        let blocks: Vec<(usize, usize)> = (0..n).step_by(bq).map(|s| (s, (s + bq).min(n))).collect();
        blocks
            .par_iter()
            .map(|&(q0, q1)| {
                let m = q1 - q0;
                let mut state = init();
                let qb = MatRef::from_row_major_slice(&self.cen[q0 * d..q1 * d], m, d);
                let mut scratch = Scratch::take(br * m);
                let buf = scratch.as_mut_slice();
                let mut approx = vec![0.0f64; br];
                for r0 in (0..n).step_by(br) {
                    let r1 = (r0 + br).min(n);
                    let w = r1 - r0;
                    let rb = MatRef::from_row_major_slice(&self.cen[r0 * d..r1 * d], w, d);
                    // G (w × m, column-major): column i holds query i's inner products with this reference block.
                    let g = MatMut::from_column_major_slice_mut(&mut buf[..w * m], w, m);
                    faer::linalg::matmul::matmul(g, Accum::Replace, rb, qb.transpose(), 1.0f32, Par::Seq);
                    for i in 0..m {
                        let col = &buf[i * w..(i + 1) * w];
                        approx_distances(&mut approx[..w], col, &self.norms[r0..r1], self.norms[q0 + i]);
                        if self.s != 0 {
                            // Back to the data's units (exact: a power of two).
                            approx[..w].iter_mut().for_each(|a| *a *= self.unscale);
                        }
                        visit(&mut state, q0 + i, r0, &approx[..w]);
                    }
                }
                state
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_distance_kernels_agree_bit_for_bit() {
        // Lengths around the 8-wide blocks, values of mixed magnitude (rounding differences would show).
        for len in [0usize, 1, 7, 8, 9, 15, 16, 17, 100, 1023, 1024, 1025] {
            let a: Vec<f32> =
                (0..len).map(|i| ((seeds::splitmix64(i as u64) >> 40) as f32 / 1e4) * 1.37e-3 + 1e3).collect();
            let b: Vec<f32> =
                (0..len).map(|i| ((seeds::splitmix64(i as u64 + 99) >> 40) as f32 / 1e4) * 0.91 - 7.0).collect();
            let portable = exact_d2_portable(&a, &b);
            assert_eq!(exact_d2(&a, &b).to_bits(), portable.to_bits(), "length {len}");
            // The early-exit variant: the same bits when it answers, and it answers whenever the value is within the
            // limit; partial sums above the limit end it early.
            for limit in [f64::INFINITY, portable, portable * 0.999, portable * 0.1, 0.0] {
                for got in [exact_d2_within(&a, &b, limit), exact_d2_within_portable(&a, &b, limit)] {
                    match got {
                        Some(v) => assert_eq!(v.to_bits(), portable.to_bits(), "length {len} limit {limit}"),
                        None => assert!(portable > limit, "length {len} limit {limit}"),
                    }
                }
            }
            // The f32 sum is within its error allowance of the f64 one.
            let f = sq_dist_f32(&a, &b) as f64;
            let norms: f64 = a.iter().chain(&b).map(|&x| x as f64 * x as f64).sum();
            let allowance = 2.0 * (len / 8 + 8) as f64 * f32::EPSILON as f64 * norms;
            assert!((f - portable).abs() <= allowance, "length {len}: {f} vs {portable}");
            assert_eq!(f.to_bits(), (sq_dist_f32_portable(&a, &b) as f64).to_bits(), "length {len}");
            if len > 2 * WITHIN_CHECK && portable > 0.0 {
                assert_eq!(exact_d2_within(&a, &b, portable * 0.1), None, "length {len}");
            }
            let naive: f64 = a.iter().zip(&b).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum();
            let n2: Vec<f64> = b.iter().map(|&x| x as f64 * 0.37).collect();
            let (mut fast, mut slow) = (vec![0.0; len], vec![0.0; len]);
            approx_distances(&mut fast, &a, &n2, 12.5);
            approx_distances_portable(&mut slow, &a, &n2, 12.5);
            assert!(fast.iter().zip(&slow).all(|(x, y)| x.to_bits() == y.to_bits()), "length {len}");
            assert!((portable - naive).abs() <= 1e-12 * naive.max(1e-300), "length {len}: {portable} vs {naive}");
        }
    }

    #[test]
    fn pairwise_blocks_are_within_their_bound() {
        let (n, d) = (300usize, 7usize);
        let x: Vec<f32> = (0..n * d).map(|i| ((seeds::splitmix64(i as u64) >> 40) as f32 / 1e6) - 3.0).collect();
        let data = ndarray::ArrayView2::from_shape((n, d), &x).unwrap();
        let pb = PairwiseBlocks::new(data);
        let seen = pb.fold(
            || 0usize,
            |count, i, r0, approx| {
                for (jj, &a) in approx.iter().enumerate() {
                    let j = r0 + jj;
                    let exact = pb.exact_d2(i, j);
                    assert!((a - exact).abs() <= pb.error_bound(i, j), "({i}, {j}): {a} vs {exact}");
                    *count += 1;
                }
            },
        );
        assert_eq!(seen.iter().sum::<usize>(), n * n);
    }
}
