//! The engine must equal a naive O(n²d) reference exactly: indices (ties broken by smaller index) and distances.

use knn::{knn_query_with, knn_self_with, KnnError, KnnOptions, Strategy};
use ndarray::{Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn naive(
    reference: ArrayView2<f32>,
    query: ArrayView2<f32>,
    k: usize,
    self_mode: bool,
) -> (Vec<Vec<usize>>, Vec<Vec<f32>>) {
    let mut idx = Vec::new();
    let mut dist = Vec::new();
    for (i, q) in query.rows().into_iter().enumerate() {
        let mut all: Vec<(f64, usize)> = reference
            .rows()
            .into_iter()
            .enumerate()
            .filter(|(j, _)| !(self_mode && *j == i))
            .map(|(j, r)| (q.iter().zip(r).map(|(a, b)| (*a as f64 - *b as f64).powi(2)).sum::<f64>(), j))
            .collect();
        all.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap().then(a.1.cmp(&b.1)));
        idx.push(all[..k].iter().map(|x| x.1).collect());
        dist.push(all[..k].iter().map(|x| x.0.sqrt() as f32).collect());
    }
    (idx, dist)
}

/// Random data with exact duplicates and many exact ties (small integer grid), plus a continuous part.
fn tricky(n: usize, d: usize, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut a = Array2::from_shape_fn((n, d), |(i, _)| {
        if i % 3 == 0 {
            rng.random_range(0..3) as f32
        } else {
            rng.random::<f32>() * 10.0 + 100.0
        }
    });
    for i in (5..n).step_by(7) {
        let src = a.row(i - 5).to_owned();
        a.row_mut(i).assign(&src);
    }
    a
}

fn strategies() -> Vec<KnnOptions> {
    let small = KnnOptions { query_block: 7, reference_block: 13, ..Default::default() };
    vec![
        KnnOptions::default(),
        small,
        KnnOptions { strategy: Strategy::PcaPruned, ..Default::default() },
        KnnOptions { strategy: Strategy::PcaPruned, pruning_dims: 3, ..small },
        KnnOptions { strategy: Strategy::Tree, ..Default::default() },
    ]
}

fn check(got: &knn::Neighbors, want: &(Vec<Vec<usize>>, Vec<Vec<f32>>)) {
    for (i, (wi, wd)) in want.0.iter().zip(&want.1).enumerate() {
        assert_eq!(got.indices.row(i).to_vec(), *wi, "indices of row {i}");
        assert_eq!(got.distances.row(i).to_vec(), *wd, "distances of row {i}");
    }
}

#[test]
fn self_mode_equals_naive_with_ties_and_duplicates() {
    for (n, d, k) in [(120, 5, 6), (97, 33, 10), (40, 1, 3)] {
        let data = tricky(n, d, n as u64);
        let want = naive(data.view(), data.view(), k, true);
        for opts in strategies() {
            let got = knn_self_with(data.view(), k, &opts).unwrap();
            check(&got, &want);
            assert_eq!(got.duplicate_rows, knn::duplicate_rows(data.view()).len());
            assert!(got.duplicate_rows >= (n - 5) / 7, "planted duplicates found");
        }
    }
}

#[test]
fn query_mode_equals_naive() {
    let reference = tricky(150, 17, 1);
    let mut query = tricky(45, 17, 2);
    query.row_mut(3).assign(&reference.row(10)); // a query that is a reference row: distance 0
    let want = naive(reference.view(), query.view(), 9, false);
    for opts in strategies() {
        let got = knn_query_with(reference.view(), query.view(), 9, &opts).unwrap();
        check(&got, &want);
        assert_eq!(got.distances[[3, 0]], 0.0);
    }
}

#[test]
fn tiny_distances_are_accurate_far_from_the_origin() {
    // Points 1e-3 apart at norm ~1e4: the GEMM expansion alone would lose them entirely in f32.
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let data =
        Array2::from_shape_fn((60, 8), |(i, j)| 1.0e4 + (j as f32) + (i as f32) * 1e-3 + rng.random::<f32>() * 1e-4);
    let want = naive(data.view(), data.view(), 4, true);
    for opts in strategies() {
        check(&knn_self_with(data.view(), 4, &opts).unwrap(), &want);
    }
}

#[test]
fn result_does_not_depend_on_thread_count() {
    let data = tricky(300, 20, 9);
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    for opts in strategies() {
        let a = one.install(|| knn_self_with(data.view(), 5, &opts).unwrap());
        let b = two.install(|| knn_self_with(data.view(), 5, &opts).unwrap());
        assert_eq!(a, b);
    }
}

#[test]
fn bad_input_is_refused() {
    let data = tricky(10, 3, 0);
    let o = KnnOptions::default();
    assert_eq!(knn_self_with(data.view(), 0, &o), Err(KnnError::ZeroK));
    assert!(matches!(knn_self_with(data.view(), 10, &o), Err(KnnError::TooFewPoints { k: 10, n: 10, .. })));
    let mut bad = data.clone();
    bad[[4, 1]] = f32::NAN;
    assert!(matches!(knn_self_with(bad.view(), 2, &o), Err(KnnError::NonFinite { row: 4, col: 1, .. })));
    let q = Array2::<f32>::zeros((2, 4));
    assert!(matches!(knn_query_with(data.view(), q.view(), 2, &o), Err(KnnError::DimensionMismatch { .. })));
    let empty = Array2::<f32>::zeros((0, 3));
    assert!(matches!(knn_query_with(data.view(), empty.view(), 2, &o), Err(KnnError::Empty { .. })));
    assert!(matches!(knn_query_with(data.view(), data.view(), 11, &o), Err(KnnError::TooFewPoints { .. })));
}

#[test]
fn auto_prunes_steep_spectra_and_still_equals_brute_force() {
    // 5000 points near a 4-D subspace of R^256: the planner predicts pruning cheaper, Auto takes it, and the
    // answer (with the planner's own choice of coordinates, and with a forced one) is brute force's.
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let basis = Array2::from_shape_fn((4, 256), |_| rng.random::<f32>() - 0.5);
    let latent = Array2::from_shape_fn((5000, 4), |_| rng.random::<f32>());
    let mut x = latent.dot(&basis);
    x.mapv_inplace(|v| v + (rng.random::<f32>() - 0.5) * 1e-3);
    let plan = knn::plan(x.view(), 7, &KnnOptions::default()).unwrap();
    assert_eq!(plan.strategy, Strategy::PcaPruned, "{plan:?}");
    assert!(plan.pruning_dims >= 4, "the bound needs the 4 signal coordinates: {plan:?}");
    assert!(plan.predicted_pruned_seconds < plan.predicted_brute_seconds, "{plan:?}");
    let auto = knn::knn_self(x.view(), 7).unwrap();
    let brute = knn_self_with(x.view(), 7, &KnnOptions { strategy: Strategy::Brute, ..Default::default() }).unwrap();
    assert_eq!(auto, brute);
    let forced = KnnOptions { strategy: Strategy::PcaPruned, pruning_dims: 2, ..Default::default() };
    assert_eq!(knn_self_with(x.view(), 7, &forced).unwrap(), brute);
}

#[test]
fn auto_takes_the_tree_for_low_dimensional_clouds() {
    // A noisy 2-D spiral in R^3 with exact duplicates: the tree's answer is brute force's.
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let mut x = Array2::from_shape_fn((3000, 3), |(i, j)| {
        let t = i as f32 * 0.01;
        match j {
            0 => t * t.cos(),
            1 => t * t.sin(),
            _ => rng.random::<f32>(),
        }
    });
    for i in (10..3000).step_by(97) {
        let src = x.row(i - 10).to_owned();
        x.row_mut(i).assign(&src);
    }
    assert_eq!(knn::plan(x.view(), 9, &KnnOptions::default()).unwrap().strategy, Strategy::Tree);
    let brute = knn_self_with(x.view(), 9, &KnnOptions { strategy: Strategy::Brute, ..Default::default() }).unwrap();
    assert_eq!(knn::knn_self(x.view(), 9).unwrap(), brute);
    let q = x.slice(ndarray::s![..500, ..]).mapv(|v| v + 1e-3);
    let tree = KnnOptions { strategy: Strategy::Tree, ..Default::default() };
    let brute_opts = KnnOptions { strategy: Strategy::Brute, ..Default::default() };
    assert_eq!(
        knn_query_with(x.view(), q.view(), 9, &tree).unwrap(),
        knn_query_with(x.view(), q.view(), 9, &brute_opts).unwrap()
    );
}

#[test]
fn auto_keeps_brute_force_for_isotropic_data() {
    // Full-rank noise in R^96: no coordinate subset bounds distances usefully, the planner says so.
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let x = Array2::from_shape_fn((4200, 96), |_| rng.random::<f32>());
    let plan = knn::plan(x.view(), 5, &KnnOptions::default()).unwrap();
    assert_eq!(plan.strategy, Strategy::Brute, "{plan:?}");
    assert!(plan.predicted_pruned_seconds > plan.predicted_brute_seconds, "{plan:?}");
}

#[test]
fn failed_certificates_take_the_second_pass_and_stay_exact() {
    // Two tight clusters (spread 1e-4) 2000 apart: the GEMM error bound (~8 in squared distance) dwarfs every
    // within-cluster distance, so no query can be certified from its first-pass candidates.
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let data = Array2::from_shape_fn((120, 8), |(i, j)| {
        let centre = if i % 2 == 0 { 1000.0 } else { -1000.0 };
        (if j == 0 { centre } else { 0.0 }) + rng.random::<f32>() * 1e-4
    });
    let want = naive(data.view(), data.view(), 5, true);
    for opts in strategies() {
        check(&knn_self_with(data.view(), 5, &opts).unwrap(), &want);
    }
    let q = data.slice(ndarray::s![..10, ..]).to_owned();
    let want = naive(data.view(), q.view(), 5, false);
    check(&knn_query_with(data.view(), q.view(), 5, &KnnOptions::default()).unwrap(), &want);
}
