//! The block-skipping PCA-pruned search must equal brute force exactly (indices with ties to the smaller index, and
//! distances), skip blocks on structured data, and not depend on the thread count.

use knn::bench::pruned_self_stats;
use knn::{knn_query_with, knn_self_with, KnnOptions, Neighbors, Strategy};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Tight clusters on an integer grid (many exactly equal distances) with exact duplicate rows.
fn clustered(n: usize, d: usize, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let centres: Vec<Vec<f32>> =
        (0..24).map(|_| (0..d).map(|_| rng.random_range(0..20) as f32 * 10.0).collect()).collect();
    let mut a = Array2::from_shape_fn((n, d), |_| 0.0f32);
    for i in 0..n {
        let c = &centres[(i * 7 + i / 50) % centres.len()];
        for (t, v) in a.row_mut(i).iter_mut().enumerate() {
            *v = c[t] + rng.random_range(-1..=1) as f32;
        }
    }
    for i in (11..n).step_by(9) {
        let src = a.row(i - 11).to_owned();
        a.row_mut(i).assign(&src);
    }
    a
}

/// Image-like rows: 16 × 16 pictures of a few smooth waves with power-law amplitudes (a steep spectrum), quantised
/// to integers 0..=255 like 8-bit pixels (ties), a few rows repeated.
fn image_like(n: usize, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let side = 16usize;
    let mut a = Array2::from_shape_fn((n, side * side), |_| 0.0f32);
    for i in 0..n {
        let waves: Vec<(f32, f32, f32, f32)> = (1..=12)
            .map(|f| {
                let amp = 90.0 / (f as f32).powf(1.5) * rng.random_range(0.3f32..1.0);
                (
                    amp,
                    f as f32 * rng.random_range(0.2f32..0.5),
                    f as f32 * rng.random_range(0.2f32..0.5),
                    rng.random_range(0.0f32..6.3),
                )
            })
            .collect();
        for (p, v) in a.row_mut(i).iter_mut().enumerate() {
            let (y, x) = ((p / side) as f32, (p % side) as f32);
            let s: f32 = waves.iter().map(|&(amp, fy, fx, ph)| amp * (fy * y + fx * x + ph).sin()).sum();
            *v = (128.0 + s).round().clamp(0.0, 255.0);
        }
    }
    for i in (13..n).step_by(31) {
        let src = a.row(i - 13).to_owned();
        a.row_mut(i).assign(&src);
    }
    a
}

fn brute(data: &Array2<f32>, k: usize) -> Neighbors {
    knn_self_with(data.view(), k, &KnnOptions { strategy: Strategy::Brute, ..Default::default() }).unwrap()
}

/// Pruned variants: planner's coordinates and fixed ones, default and small blocks (many reference blocks).
fn pruned_options() -> Vec<KnnOptions> {
    let p = KnnOptions { strategy: Strategy::PcaPruned, ..Default::default() };
    vec![
        p,
        KnnOptions { pruning_dims: 8, ..p },
        KnnOptions { pruning_dims: 48, query_block: 100, reference_block: 64, ..p },
        KnnOptions { pruning_dims: 3, query_block: 37, reference_block: 29, ..p },
    ]
}

fn check_equal_to_brute(data: &Array2<f32>, k: usize) {
    let want = brute(data, k);
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    for opts in pruned_options() {
        let a = one.install(|| knn_self_with(data.view(), k, &opts).unwrap());
        let b = two.install(|| knn_self_with(data.view(), k, &opts).unwrap());
        assert_eq!(a, want, "{opts:?}, 1 thread");
        assert_eq!(b, want, "{opts:?}, 2 threads");
    }
    // Query mode: every other row against the others.
    let (refs, qs): (Vec<usize>, Vec<usize>) = (0..data.nrows()).partition(|i| i % 2 == 0);
    let reference = data.select(ndarray::Axis(0), &refs);
    let query = data.select(ndarray::Axis(0), &qs);
    let want = knn_query_with(
        reference.view(),
        query.view(),
        k,
        &KnnOptions { strategy: Strategy::Brute, ..Default::default() },
    )
    .unwrap();
    for opts in pruned_options() {
        let a = one.install(|| knn_query_with(reference.view(), query.view(), k, &opts).unwrap());
        let b = two.install(|| knn_query_with(reference.view(), query.view(), k, &opts).unwrap());
        assert_eq!(a, want, "query mode {opts:?}, 1 thread");
        assert_eq!(b, want, "query mode {opts:?}, 2 threads");
    }
}

/// The search skipped a share of the (query, reference block) pairs and returned brute force's indices.
fn check_skips(data: &Array2<f32>, k: usize, opts: &KnnOptions) -> f64 {
    let (idx, stats) = pruned_self_stats(data.view(), k, opts).unwrap();
    assert_eq!(idx, brute(data, k).indices);
    assert!(stats.visited_block_pairs <= stats.block_pairs && stats.block_pairs > 0, "{stats:?}");
    1.0 - stats.visited_block_pairs as f64 / stats.block_pairs as f64
}

#[test]
fn clustered_data_with_ties_and_duplicates_equals_brute_force() {
    let data = clustered(2400, 40, 1);
    check_equal_to_brute(&data, 10);
    // Clusters far apart: most blocks are skipped.
    let opts =
        KnnOptions { strategy: Strategy::PcaPruned, pruning_dims: 16, reference_block: 64, ..Default::default() };
    let skipped = check_skips(&data, 10, &opts);
    assert!(skipped > 0.5, "skipped {skipped}");
}

#[test]
fn image_like_steep_spectrum_equals_brute_force() {
    let data = image_like(3000, 2);
    check_equal_to_brute(&data, 20);
    let opts = KnnOptions { strategy: Strategy::PcaPruned, pruning_dims: 48, ..Default::default() };
    let skipped = check_skips(&data, 20, &opts);
    assert!(skipped > 0.0, "skipped {skipped}");
}

#[test]
fn k_at_the_limit_and_tiny_blocks_equal_brute_force() {
    // k close to n (every block visited, thresholds infinite for long) and one-row blocks.
    let data = clustered(60, 12, 3);
    let want = brute(&data, 50);
    for opts in pruned_options().into_iter().chain([KnnOptions {
        strategy: Strategy::PcaPruned,
        pruning_dims: 4,
        query_block: 1,
        reference_block: 1,
        ..Default::default()
    }]) {
        assert_eq!(knn_self_with(data.view(), 50, &opts).unwrap(), want, "{opts:?}");
    }
}

#[test]
fn second_bound_holds_at_extreme_magnitudes() {
    // 256 columns: the second bound (192 coordinates) is active. Scales from tiny (squares in f32's subnormal range)
    // to huge (squared norms past the f32 sum's limit, where the f64 sum takes over).
    let base = image_like(700, 4);
    for scale in [2f32.powi(-100), 1e-20, 1e-3, 1e13, 1e17, 1e30] {
        let data = base.mapv(|v| v * scale);
        let want = brute(&data, 15);
        for opts in pruned_options() {
            assert_eq!(knn_self_with(data.view(), 15, &opts).unwrap(), want, "scale {scale:e} {opts:?}");
        }
    }
}
