//! Spatially compact blocks of rows in principal coordinates, and lower bounds from a query to a whole block.
//!
//! The rows are ordered by a deterministic recursive split: each node's rows are cut at the median of their
//! projections on the node's own principal axis (a few power iterations in the m projected coordinates, started
//! from the coordinate of largest spread), into a left part of a whole number of blocks and the rest, until a node
//! holds one block. Each block keeps, in the projected space, its centroid and radius (a ball) and its box per
//! coordinate, plus the range of its rows' residual norms and their largest squared norm.
//!
//! For a query with projection q and residual norm ρ_q, and a reference row r of block B,
//! ‖x_q − x_r‖² ≥ ‖q − p_r‖² + (ρ_q − ρ_r)² (see `pruned.rs`) and
//! ‖q − p_r‖ ≥ max(0, ‖q − c_B‖ − R_B), ‖q − p_r‖² ≥ Σ_t dist(q_t, [lo_t, hi_t])², |ρ_q − ρ_r| ≥ dist(ρ_q, [ρ_lo, ρ_hi]),
//! so the larger of the two projected bounds plus the residual one bounds every squared distance of the block from
//! below, minus the same relative slack as the per-pair bound (taken at the block's largest norm, so it covers each
//! row's). A query skips a block whose bound exceeds its current k-th distance.

/// Nodes with fewer rows are split sequentially (larger ones split their two halves in parallel).
const PAR_ROWS: usize = 8192;
/// Power iterations for each node's principal axis (only the compactness of the blocks depends on it).
const POWER_STEPS: usize = 6;

/// Summaries of consecutive blocks of rows (see the module docs): block b holds rows `b·size .. min((b+1)·size, n)`,
/// compact when the rows are in [`compact_order`].
pub(crate) struct Blocks {
    m: usize,
    size: usize,
    n: usize,
    centre: Vec<f64>,
    radius: Vec<f64>,
    lo: Vec<f64>,
    hi: Vec<f64>,
    rho_lo: Vec<f64>,
    rho_hi: Vec<f64>,
    n2_max: Vec<f64>,
}

impl Blocks {
    /// Blocks of `size` consecutive rows of the row-major n × m coordinates `p`, with residual norms `rho` and
    /// squared norms `n2`.
    pub(crate) fn build(p: &[f64], m: usize, rho: &[f64], n2: &[f64], size: usize) -> Blocks {
        let n = rho.len();
        let size = size.max(1);
        let nb = n.div_ceil(size);
        let (mut centre, mut radius) = (vec![0.0f64; nb * m], vec![0.0f64; nb]);
        let (mut lo, mut hi) = (vec![f64::INFINITY; nb * m], vec![f64::NEG_INFINITY; nb * m]);
        let (mut rho_lo, mut rho_hi, mut n2_max) = (vec![f64::INFINITY; nb], vec![0.0f64; nb], vec![0.0f64; nb]);
        let all: Vec<usize> = (0..n).collect();
        for (b, rows) in all.chunks(size).enumerate() {
            let (c, l, h) = (&mut centre[b * m..(b + 1) * m], &mut lo[b * m..(b + 1) * m], &mut hi[b * m..(b + 1) * m]);
            for &i in rows {
                let x = &p[i * m..(i + 1) * m];
                for t in 0..m {
                    c[t] += x[t];
                    l[t] = l[t].min(x[t]);
                    h[t] = h[t].max(x[t]);
                }
                rho_lo[b] = rho_lo[b].min(rho[i]);
                rho_hi[b] = rho_hi[b].max(rho[i]);
                n2_max[b] = n2_max[b].max(n2[i]);
            }
            c.iter_mut().for_each(|v| *v /= rows.len() as f64);
            let r2 = rows
                .iter()
                .map(|&i| p[i * m..(i + 1) * m].iter().zip(c.iter()).map(|(x, c)| (x - c) * (x - c)).sum::<f64>())
                .fold(0.0f64, f64::max);
            // A hair larger than computed: the bound must not depend on the rounding of this sum.
            radius[b] = r2.sqrt() * (1.0 + 1e-12);
        }
        Blocks { m, size, n, centre, radius, lo, hi, rho_lo, rho_hi, n2_max }
    }

    pub(crate) fn len(&self) -> usize {
        self.radius.len()
    }

    /// Block b's rows.
    pub(crate) fn span(&self, b: usize) -> std::ops::Range<usize> {
        b * self.size..((b + 1) * self.size).min(self.n)
    }

    /// `out[b]`: a lower bound of the squared distance from the query (projection `q`, residual norm `q_rho`,
    /// squared norm `q_n2`) to every row of block b, the slack `slack · (q_n2 + largest n2)` already subtracted.
    pub(crate) fn lower_bounds(&self, q: &[f64], q_rho: f64, q_n2: f64, slack: f64, out: &mut [f64]) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2 (checked just above).
                return unsafe { self.lower_bounds_avx2(q, q_rho, q_n2, slack, out) };
            }
        }
        self.lower_bounds_portable(q, q_rho, q_n2, slack, out)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn lower_bounds_avx2(&self, q: &[f64], q_rho: f64, q_n2: f64, slack: f64, out: &mut [f64]) {
        self.lower_bounds_portable(q, q_rho, q_n2, slack, out)
    }

    #[inline(always)]
    fn lower_bounds_portable(&self, q: &[f64], q_rho: f64, q_n2: f64, slack: f64, out: &mut [f64]) {
        let m = self.m;
        let q = &q[..m];
        for (b, o) in out.iter_mut().enumerate().take(self.len()) {
            let (c, l, h) =
                (&self.centre[b * m..(b + 1) * m], &self.lo[b * m..(b + 1) * m], &self.hi[b * m..(b + 1) * m]);
            let (mut dc, mut bx) = ([0.0f64; 4], [0.0f64; 4]);
            // Four partial sums (vectorises; the order of the sum does not matter for a bound with slack).
            let full = m / 4 * 4;
            for (((qs, cs), ls), hs) in
                q[..full].chunks_exact(4).zip(c.chunks_exact(4)).zip(l.chunks_exact(4)).zip(h.chunks_exact(4))
            {
                for t in 0..4 {
                    let x = qs[t];
                    let d = x - cs[t];
                    dc[t] += d * d;
                    let e = (ls[t] - x).max(x - hs[t]).max(0.0);
                    bx[t] += e * e;
                }
            }
            for t in full..m {
                let x = q[t];
                let d = x - c[t];
                dc[0] += d * d;
                let e = (l[t] - x).max(x - h[t]).max(0.0);
                bx[0] += e * e;
            }
            let (dc, bx) = ((dc[0] + dc[1]) + (dc[2] + dc[3]), (bx[0] + bx[1]) + (bx[2] + bx[3]));
            let ball = (dc.sqrt() - self.radius[b]).max(0.0);
            let dr = (self.rho_lo[b] - q_rho).max(q_rho - self.rho_hi[b]).max(0.0);
            *o = (ball * ball).max(bx) + dr * dr - slack * (q_n2 + self.n2_max[b]);
        }
    }
}

/// The rows 0..n in block order (see the module docs); deterministic, whatever the thread count.
pub(crate) fn compact_order(p: &[f64], m: usize, n: usize, size: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    split(&mut idx, p, m, size.max(1));
    idx
}

fn split(idx: &mut [usize], p: &[f64], m: usize, size: usize) {
    let c = idx.len();
    let leaves = c.div_ceil(size);
    if leaves <= 1 || m == 0 {
        return;
    }
    let left = (leaves / 2) * size;
    let axis = principal_axis(idx, p, m);
    let mut keyed: Vec<(f64, usize)> =
        idx.iter().map(|&i| (p[i * m..(i + 1) * m].iter().zip(&axis).map(|(x, a)| x * a).sum::<f64>(), i)).collect();
    keyed.select_nth_unstable_by(left, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    idx.iter_mut().zip(&keyed).for_each(|(o, &(_, i))| *o = i);
    let (l, r) = idx.split_at_mut(left);
    if c >= PAR_ROWS {
        rayon::join(|| split(l, p, m, size), || split(r, p, m, size));
    } else {
        split(l, p, m, size);
        split(r, p, m, size);
    }
}

/// Unit leading principal direction of the rows `idx` (power iterations from the coordinate of largest spread).
fn principal_axis(idx: &[usize], p: &[f64], m: usize) -> Vec<f64> {
    let inv = 1.0 / idx.len() as f64;
    let mut mean = vec![0.0f64; m];
    for &i in idx {
        mean.iter_mut().zip(&p[i * m..(i + 1) * m]).for_each(|(a, x)| *a += x);
    }
    mean.iter_mut().for_each(|a| *a *= inv);
    let mut var = vec![0.0f64; m];
    for &i in idx {
        for ((v, x), mu) in var.iter_mut().zip(&p[i * m..(i + 1) * m]).zip(&mean) {
            *v += (x - mu) * (x - mu);
        }
    }
    let start = (0..m).fold(0, |best, t| if var[t] > var[best] { t } else { best });
    let mut axis = vec![0.0f64; m];
    axis[start] = 1.0;
    let mut next = vec![0.0f64; m];
    for _ in 0..POWER_STEPS {
        next.iter_mut().for_each(|v| *v = 0.0);
        for &i in idx {
            let x = &p[i * m..(i + 1) * m];
            let s: f64 = x.iter().zip(&mean).zip(&axis).map(|((x, mu), a)| (x - mu) * a).sum();
            next.iter_mut().zip(x).zip(&mean).for_each(|((v, x), mu)| *v += (x - mu) * s);
        }
        let norm = next.iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm.is_nan() || norm <= 0.0 {
            break;
        }
        axis.iter_mut().zip(&next).for_each(|(a, v)| *a = v / norm);
    }
    axis
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_bounds_never_exceed_a_rows_bound() {
        // Random coordinates, residuals and norms: the block bound of each query must not exceed the per-row bound
        // ‖q − p_r‖² + (ρ_q − ρ_r)² of any row of the block (no slack).
        let (n, m, size) = (1000usize, 5usize, 64usize);
        let u = |s: u64| (seeds::splitmix64(s) >> 11) as f64 / (1u64 << 53) as f64;
        let p: Vec<f64> = (0..n * m).map(|i| (u(i as u64) - 0.5) * (1.0 + (i % m) as f64)).collect();
        let rho: Vec<f64> = (0..n).map(|i| u((i as u64) | 1 << 40)).collect();
        let n2: Vec<f64> =
            (0..n).map(|i| p[i * m..(i + 1) * m].iter().map(|x| x * x).sum::<f64>() + rho[i] * rho[i]).collect();
        let order = compact_order(&p, m, n, size);
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..n).collect::<Vec<_>>());
        let mut pp = Vec::new();
        order.iter().for_each(|&i| pp.extend_from_slice(&p[i * m..(i + 1) * m]));
        let pick = |v: &[f64]| order.iter().map(|&i| v[i]).collect::<Vec<_>>();
        let blocks = Blocks::build(&pp, m, &pick(&rho), &pick(&n2), size);
        let mut lb = vec![0.0; blocks.len()];
        let mut skipped_somewhere = false;
        for qi in (0..n).step_by(37) {
            let q = &p[qi * m..(qi + 1) * m];
            blocks.lower_bounds(q, rho[qi], n2[qi], 0.0, &mut lb);
            for b in 0..blocks.len() {
                let mut best = f64::INFINITY;
                for &j in &order[blocks.span(b)] {
                    let d: f64 = q.iter().zip(&p[j * m..(j + 1) * m]).map(|(a, c)| (a - c) * (a - c)).sum();
                    best = best.min(d + (rho[qi] - rho[j]).powi(2));
                }
                assert!(lb[b] <= best * (1.0 + 1e-12), "query {qi} block {b}: {} > {best}", lb[b]);
                skipped_somewhere |= lb[b] > 0.5 * best && lb[b] > 0.0;
            }
        }
        assert!(skipped_somewhere, "the bounds are never informative");
    }
}
