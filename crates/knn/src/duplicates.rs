//! Rows that exactly repeat an earlier row.

use std::collections::HashMap;

use ndarray::ArrayView2;
use rayon::prelude::*;

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
