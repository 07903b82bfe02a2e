//! The approximate search's proximity graph: a single-layer navigable graph (HNSW's bottom layer, built with the
//! HNSW/NSG neighbour-selection heuristic) over row-major f32 points, built in deterministic parallel batches.
//!
//! * **Batch-parallel construction, independent of the thread count.** Points are inserted in a seeded order, in
//!   batches whose sizes depend only on the number of points already inserted. Within a batch every new point
//!   searches the graph *frozen at the batch start* (in parallel; each search is a pure function of the frozen
//!   graph) and selects its out-neighbours; then the reverse links are grouped per target node, and each target's
//!   merged (and, when over the degree bound, re-pruned) list is computed from the frozen graph alone (in parallel,
//!   one task per node) and written afterwards. No step reads what another task of the same phase writes, so the
//!   graph — and every search on it — is the same with 1, 2 or 64 threads.
//! * **Search.** Best-first beam search with a sorted pool of `ef` entries (the NSG/DiskANN "search list"),
//!   visited marks in a per-thread stamped array, ties broken by the smaller index.
//! * **Distances** are squared Euclidean on f32 with 32 fixed lanes (an AVX2 path and a portable path that add in the
//!   same order, so both give the same bits).
//! * **Memory**: `n × 2M` u32 links plus one stamp array per thread: O(n·M).

use std::cell::RefCell;

use rayon::prelude::*;

/// Out-degree a new point selects (HNSW's M).
pub(crate) const M: usize = 32;
/// Degree bound of a node (HNSW's bottom-layer bound 2M).
pub(crate) const MAX_DEGREE: usize = 2 * M;
/// Largest batch of points inserted against the same frozen graph.
const MAX_BATCH: usize = 1024;
/// A batch holds at most this fraction (1/BATCH_DIVISOR) of the points already inserted, so early points, which
/// see a small graph, come in small batches.
const BATCH_DIVISOR: usize = 8;

/// Row-major points of `m` coordinates.
#[derive(Clone, Copy)]
pub(crate) struct Points<'a> {
    pub x: &'a [f32],
    pub m: usize,
    /// Number of points (explicit: `m` may be 0 for constant data).
    pub n: usize,
}

impl Points<'_> {
    #[inline]
    pub fn row(&self, i: usize) -> &[f32] {
        &self.x[i * self.m..(i + 1) * self.m]
    }
    pub fn len(&self) -> usize {
        self.n
    }
    #[inline]
    fn d2(&self, i: usize, j: usize) -> f32 {
        d2(self.row(i), self.row(j))
    }
}

/// Squared Euclidean distance, 32 lanes accumulated in a fixed order (same bits on every path).
#[inline]
pub(crate) fn d2(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe { d2_avx2(a, b) };
        }
    }
    d2_portable(a, b)
}

fn d2_portable(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let full = n / 32 * 32;
    let mut acc = [0.0f32; 32];
    for (x, y) in a[..full].chunks_exact(32).zip(b[..full].chunks_exact(32)) {
        for t in 0..32 {
            let e = x[t] - y[t];
            acc[t] += e * e;
        }
    }
    reduce(&acc, &a[full..n], &b[full..n])
}

/// Lanes summed pairwise in a fixed tree, then the tail.
#[inline]
fn reduce(acc: &[f32; 32], ta: &[f32], tb: &[f32]) -> f32 {
    let mut s = [0.0f32; 8];
    for (t, v) in s.iter_mut().enumerate() {
        *v = (acc[t] + acc[t + 8]) + (acc[t + 16] + acc[t + 24]);
    }
    let total = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
    let mut tail = 0.0f32;
    for (x, y) in ta.iter().zip(tb) {
        let e = x - y;
        tail += e * e;
    }
    total + tail
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn d2_avx2(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let full = n / 32 * 32;
    let mut r = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i < full {
        for (t, acc) in r.iter_mut().enumerate() {
            // SAFETY: i + 8t + 8 ≤ full ≤ n; unaligned loads.
            let (x, y) =
                unsafe { (_mm256_loadu_ps(a.as_ptr().add(i + 8 * t)), _mm256_loadu_ps(b.as_ptr().add(i + 8 * t))) };
            let e = _mm256_sub_ps(x, y);
            *acc = _mm256_add_ps(*acc, _mm256_mul_ps(e, e));
        }
        i += 32;
    }
    let mut acc = [0.0f32; 32];
    for (t, v) in r.iter().enumerate() {
        // SAFETY: 8 floats written into acc[8t..8t + 8].
        unsafe { _mm256_storeu_ps(acc.as_mut_ptr().add(8 * t), *v) };
    }
    reduce(&acc, &a[full..n], &b[full..n])
}

/// Asks the CPU to start loading `row` into cache (a hint; no effect on results).
#[inline]
pub(crate) fn prefetch(row: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        for off in (0..row.len()).step_by(16) {
            // SAFETY: prefetching is a hint on an in-bounds address; it never faults.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(row.as_ptr().add(off) as *const i8) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = row;
}

/// A pool entry: (squared distance, node), ordered by distance then node.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hit {
    pub d2: f32,
    pub id: u32,
}

#[inline]
fn less(a: &Hit, b: &Hit) -> bool {
    a.d2 < b.d2 || (a.d2 == b.d2 && a.id < b.id)
}

/// Per-thread visited marks (stamped, so clearing is O(1)).
struct Visited {
    stamp: Vec<u32>,
    epoch: u32,
}

impl Visited {
    fn reset(&mut self, n: usize) {
        if self.stamp.len() < n {
            self.stamp = vec![0; n];
            self.epoch = 0;
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.stamp.iter_mut().for_each(|s| *s = 0);
            self.epoch = 1;
        }
    }
    /// Marks `i`; true when it was not marked yet.
    #[inline]
    fn insert(&mut self, i: u32) -> bool {
        let s = &mut self.stamp[i as usize];
        if *s == self.epoch {
            false
        } else {
            *s = self.epoch;
            true
        }
    }
}

thread_local! {
    static VISITED: RefCell<Visited> = const { RefCell::new(Visited { stamp: Vec::new(), epoch: 0 }) };
}

/// The graph: fixed-size link slots per node.
pub(crate) struct Graph {
    links: Vec<u32>,
    degree: Vec<u32>,
    /// Entry node of every search (the point nearest the centroid).
    pub entry: u32,
}

impl Graph {
    #[inline]
    fn neighbours(&self, i: u32) -> &[u32] {
        let s = i as usize * MAX_DEGREE;
        &self.links[s..s + self.degree[i as usize] as usize]
    }

    /// Builds the graph on `pts`, inserting the points in the order `order` (a permutation of 0..n whose first
    /// element becomes the entry node), each new point searching with a pool of `ef_construction`.
    pub fn build(pts: Points, order: &[u32], ef_construction: usize) -> Graph {
        let n = pts.len();
        let mut g = Graph { links: vec![0; n * MAX_DEGREE], degree: vec![0; n], entry: order[0] };
        let ef = ef_construction.max(M);
        let mut done = 1usize;
        while done < n {
            let size = (done / BATCH_DIVISOR).clamp(1, MAX_BATCH).min(n - done);
            let batch = &order[done..done + size];
            // Phase 1 (parallel, reads the frozen graph): each new point's out-links.
            let chosen: Vec<Vec<Hit>> = batch
                .par_iter()
                .map(|&p| {
                    let pool = g.search(pts, pts.row(p as usize), &[g.entry], ef, None);
                    select(pts, p, &pool, M)
                })
                .collect();
            // Phase 2: reverse links grouped per existing node, merged (re-pruned over the bound) in parallel from
            // the frozen graph, then written.
            let mut back: Vec<(u32, Hit)> = Vec::with_capacity(size * M);
            for (&p, hits) in batch.iter().zip(&chosen) {
                back.extend(hits.iter().map(|h| (h.id, Hit { d2: h.d2, id: p })));
            }
            back.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.id.cmp(&b.1.id)));
            let groups: Vec<&[(u32, Hit)]> = back.chunk_by(|a, b| a.0 == b.0).collect();
            let merged: Vec<(u32, Vec<u32>)> = groups.par_iter().map(|grp| g.merge(pts, grp)).collect();
            for (&p, hits) in batch.iter().zip(&chosen) {
                g.set(p, hits.iter().map(|h| h.id));
            }
            for (q, list) in merged {
                g.set(q, list.into_iter());
            }
            done += size;
        }
        g
    }

    /// Every node once, breadth first from the entry (neighbours in link order), then the unreached ones in index
    /// order: consecutive nodes are near one another, so processing rows in this order keeps their candidates in
    /// cache.
    pub fn breadth_first(&self) -> Vec<u32> {
        let n = self.degree.len();
        let mut seen = vec![false; n];
        let mut out = Vec::with_capacity(n);
        let mut head = 0;
        for start in std::iter::once(self.entry).chain(0..n as u32) {
            if seen[start as usize] {
                continue;
            }
            seen[start as usize] = true;
            out.push(start);
            while head < out.len() {
                let cur = out[head];
                head += 1;
                for &nb in self.neighbours(cur) {
                    if !seen[nb as usize] {
                        seen[nb as usize] = true;
                        out.push(nb);
                    }
                }
            }
        }
        out
    }

    fn set(&mut self, i: u32, list: impl Iterator<Item = u32>) {
        let s = i as usize * MAX_DEGREE;
        let mut c = 0;
        for (slot, v) in self.links[s..s + MAX_DEGREE].iter_mut().zip(list) {
            *slot = v;
            c += 1;
        }
        self.degree[i as usize] = c as u32;
    }

    /// Node `grp[0].0`'s links plus the new incoming ones; pruned with the selection heuristic when over the bound.
    fn merge(&self, pts: Points, grp: &[(u32, Hit)]) -> (u32, Vec<u32>) {
        let q = grp[0].0;
        let old = self.neighbours(q);
        if old.len() + grp.len() <= MAX_DEGREE {
            return (q, old.iter().copied().chain(grp.iter().map(|(_, h)| h.id)).collect());
        }
        let mut cands: Vec<Hit> = old.iter().map(|&j| Hit { d2: pts.d2(q as usize, j as usize), id: j }).collect();
        cands.extend(grp.iter().map(|(_, h)| *h));
        cands.sort_unstable_by(|a, b| a.d2.total_cmp(&b.d2).then(a.id.cmp(&b.id)));
        (q, select(pts, q, &cands, MAX_DEGREE).into_iter().map(|h| h.id).collect())
    }

    /// Best-first search for `x` from `entries` with a sorted pool of `ef`: the pool, nearest first. `skip` is
    /// expanded but not returned (the query row itself in a self-search).
    pub fn search(&self, pts: Points, x: &[f32], entries: &[u32], ef: usize, skip: Option<u32>) -> Vec<Hit> {
        VISITED.with(|v| {
            let mut vis = v.borrow_mut();
            vis.reset(pts.len());
            let mut pool: Vec<(Hit, bool)> = Vec::with_capacity(ef + 1);
            for &e in entries {
                if vis.insert(e) {
                    insert(&mut pool, Hit { d2: d2(x, pts.row(e as usize)), id: e }, ef);
                }
            }
            let mut next = 0;
            while next < pool.len() {
                pool[next].1 = true;
                let cur = pool[next].0.id;
                let mut lowest = pool.len();
                let mut fresh = [0u32; MAX_DEGREE];
                let mut nf = 0;
                for &nb in self.neighbours(cur) {
                    if vis.insert(nb) {
                        prefetch(pts.row(nb as usize));
                        fresh[nf] = nb;
                        nf += 1;
                    }
                }
                for &nb in &fresh[..nf] {
                    let h = Hit { d2: d2(x, pts.row(nb as usize)), id: nb };
                    if pool.len() == ef && !less(&h, &pool[ef - 1].0) {
                        continue;
                    }
                    lowest = lowest.min(insert(&mut pool, h, ef));
                }
                next = if lowest <= next { lowest } else { next + 1 };
                while next < pool.len() && pool[next].1 {
                    next += 1;
                }
            }
            pool.into_iter().map(|(h, _)| h).filter(|h| Some(h.id) != skip).collect()
        })
    }
}

/// Inserts `h` into the sorted pool (bounded to `ef`); returns its position.
#[inline]
fn insert(pool: &mut Vec<(Hit, bool)>, h: Hit, ef: usize) -> usize {
    let pos = pool.partition_point(|(p, _)| less(p, &h));
    pool.insert(pos, (h, false));
    pool.truncate(ef);
    pos
}

/// The neighbour-selection heuristic (HNSW's, NSG's edge rule): walking the candidates nearest first (sorted,
/// `p` itself excluded), keep a candidate unless an already kept neighbour is nearer to it than `p` is; at most
/// `max` kept.
fn select(pts: Points, p: u32, sorted: &[Hit], max: usize) -> Vec<Hit> {
    let mut kept: Vec<Hit> = Vec::with_capacity(max);
    for c in sorted {
        if kept.len() == max {
            break;
        }
        if c.id == p {
            continue;
        }
        let cr = pts.row(c.id as usize);
        if kept.iter().all(|s| d2(cr, pts.row(s.id as usize)) > c.d2) {
            kept.push(*c);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: u64, len: usize) -> Vec<f32> {
        let mut s = seed;
        (0..len)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 4.0
            })
            .collect()
    }

    /// The vector path adds in the portable path's order: same bits, and close to an f64 reference.
    #[test]
    fn distance_paths_agree_bitwise() {
        for len in [0, 1, 7, 31, 32, 33, 100, 128, 784] {
            let (a, b) = (lcg(len as u64, len), lcg(len as u64 + 99, len));
            let p = d2_portable(&a, &b);
            assert_eq!(d2(&a, &b).to_bits(), p.to_bits(), "length {len}");
            let exact: f64 = a.iter().zip(&b).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum();
            assert!((p as f64 - exact).abs() <= 1e-5 * exact.max(1e-30), "length {len}: {p} vs {exact}");
        }
    }

    /// On points of a line the graph links every point and a search returns the nearest points in order.
    #[test]
    fn search_on_a_line_finds_the_nearest_points() {
        let n = 3000;
        let x: Vec<f32> = (0..n).map(|i| ((i * 7919) % n) as f32).collect();
        let pts = Points { x: &x, m: 1, n };
        let order: Vec<u32> = (0..n as u32).collect();
        let g = Graph::build(pts, &order, 40);
        assert!(g.degree.iter().all(|&c| c >= 1 && c as usize <= MAX_DEGREE));
        assert_eq!(g.breadth_first().len(), n);
        let mut sorted = g.breadth_first();
        sorted.sort_unstable();
        assert!(sorted.iter().enumerate().all(|(i, &v)| v as usize == i));
        for target in [0.0f32, 1234.4, 2999.0] {
            let hits = g.search(pts, &[target], &[g.entry], 16, None);
            let mut want: Vec<(f32, u32)> = (0..n as u32).map(|j| ((x[j as usize] - target).powi(2), j)).collect();
            want.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let got: Vec<u32> = hits.iter().map(|h| h.id).collect();
            let expect: Vec<u32> = want[..16].iter().map(|w| w.1).collect();
            assert_eq!(got, expect, "target {target}");
        }
    }
}
