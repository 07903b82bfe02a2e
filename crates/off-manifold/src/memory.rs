//! Memory a score run needs, estimated before anything is allocated.

/// Bytes a [`score`](crate::score) of `n_query` rows against `n_reference` rows of `d` values with `k` neighbours and
/// `calibration` calibration images needs at least, so callers can refuse before allocating: a copy of the reference
/// (when duplicates are dropped) and of the calibration rows, the neighbour lists (indices and distances, k + 1 per
/// calibration row and its self-free copy, k per query), one 2048-column distance panel of the kNN engine per
/// search, each thread's tangent fit (k × d, a few copies) and the per-row scores.
pub fn memory_needed(n_reference: usize, n_query: usize, d: usize, k: usize, calibration: usize) -> u128 {
    let (n, q, d, k) = (n_reference as u128, n_query as u128, d as u128, k as u128);
    let c = (calibration as u128).min(n);
    let threads = rayon::current_num_threads() as u128;
    let copies = 4 * n * d + 4 * c * d;
    let lists = 12 * (c * (k + 1) + c * k + q * k);
    let panels = 4 * (c + q).min(2048 * threads) * n.min(2048);
    let tangent = threads * 3 * 4 * (k + 1) * d;
    let scores = 16 * 8 * (c + q);
    copies + lists + panels + tangent + scores
}
