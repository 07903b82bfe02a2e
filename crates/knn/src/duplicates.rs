//! Rows that exactly repeat an earlier row.

use std::collections::HashMap;

use ndarray::ArrayView2;
use rayon::prelude::*;

/// Rows that exactly duplicate an earlier row (ascending). `-0.0` equals `0.0`.
pub fn duplicate_rows(data: ArrayView2<f32>) -> Vec<usize> {
    duplicate_sources(data).into_iter().map(|(i, _)| i).collect()
}

/// Each row that exactly duplicates an earlier row, with the first row of its values: (duplicate, source), by
/// ascending duplicate. `-0.0` equals `0.0`. Memory O(n) whatever the row length (rows are found by a hash of
/// their values, then compared).
pub fn duplicate_sources(data: ArrayView2<f32>) -> Vec<(usize, usize)> {
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
        match bucket.iter().find(|&&j| data.row(j) == data.row(i)) {
            Some(&j) => dups.push((i, j)),
            None => bucket.push(i),
        }
    }
    dups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_name_the_first_row_of_the_same_values() {
        let data =
            ndarray::arr2(&[[1.0f32, 2.0], [3.0, 4.0], [1.0, 2.0], [-0.0, 5.0], [3.0, 4.0], [0.0, 5.0], [1.0, 2.0]]);
        assert_eq!(duplicate_sources(data.view()), vec![(2, 0), (4, 1), (5, 3), (6, 0)]);
        assert_eq!(duplicate_rows(data.view()), vec![2, 4, 5, 6]);
    }
}
