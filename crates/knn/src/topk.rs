//! Candidate lists: the (distance, index) order, the bounded heap and buffer that keep the best candidates, and the
//! assembly of per-query rows into the output matrices.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use ndarray::Array2;

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

/// Sorted exact results → output rows.
pub(crate) fn finish(mut c: Vec<Cand>, k: usize) -> (Vec<usize>, Vec<f32>) {
    c.sort_unstable();
    c.truncate(k);
    (c.iter().map(|c| c.j).collect(), c.iter().map(|c| c.d2.sqrt() as f32).collect())
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
