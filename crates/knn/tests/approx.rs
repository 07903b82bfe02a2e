//! The approximate strategy: recall on a curved low-dimensional set, determinism across thread counts, exact
//! distances and the exact engine's order for every returned pair, option validation.

use knn::{knn_query_with, knn_self_with, recall, KnnError, KnnOptions, Neighbors, Strategy};
use ndarray::{Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `n` points on a smooth 6-dimensional manifold (sines of a random linear map) in 48 dimensions, plus noise.
fn manifold(n: usize, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (m, d) = (6, 48);
    let w: Vec<f32> = (0..m * d).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect();
    let mut x = Array2::zeros((n, d));
    for i in 0..n {
        let t: Vec<f32> = (0..m).map(|_| rng.random::<f32>() * 3.0).collect();
        for c in 0..d {
            let s: f32 = (0..m).map(|a| t[a] * w[a * d + c]).sum();
            x[(i, c)] = s.sin() + 0.01 * (rng.random::<f32>() - 0.5);
        }
    }
    x
}

fn approx() -> KnnOptions {
    KnnOptions { strategy: Strategy::Approx, seed: 11, ..KnnOptions::default() }
}

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(f)
}

/// Every returned distance is the exact one (f64 sum over the raw rows, rounded to f32) and each row is sorted by
/// (distance, index); self never appears in a self-search.
fn check_exact_pairs(reference: ArrayView2<f32>, query: ArrayView2<f32>, nb: &Neighbors, self_mode: bool) {
    for i in 0..nb.n() {
        let row: Vec<(f32, usize)> = (0..nb.k()).map(|t| (nb.distances[(i, t)], nb.indices[(i, t)])).collect();
        for (t, &(dist, j)) in row.iter().enumerate() {
            assert!(!(self_mode && j == i), "row {i} lists itself");
            let d2: f64 = query.row(i).iter().zip(reference.row(j)).map(|(a, b)| (*a as f64 - *b as f64).powi(2)).sum();
            assert_eq!(dist, d2.sqrt() as f32, "row {i} rank {t}: neighbour {j}");
            if t > 0 {
                assert!(row[t - 1] < (dist, j), "row {i} ranks {} and {t} out of (distance, index) order", t - 1);
            }
        }
    }
}

#[test]
fn recall_is_high_on_a_curved_manifold() {
    let x = manifold(5000, 1);
    let nb = knn_self_with(x.view(), 10, &approx()).unwrap();
    let r = recall(x.view(), None, &nb, 5000, 3).unwrap();
    eprintln!("full-coordinate graph recall {r:?}");
    // Measured: 0.9996 on all 5000 rows (ef_search 64).
    assert!(r.recall >= 0.99, "{r:?}");
    assert_eq!(r.sampled, 5000);
    check_exact_pairs(x.view(), x.view(), &nb, true);
    let exact = knn_self_with(x.view(), 10, &KnnOptions::default()).unwrap();
    let r_exact = recall(x.view(), None, &exact, 300, 3).unwrap();
    assert_eq!((r_exact.recall, r_exact.min_row_recall, r_exact.sampled), (1.0, 1.0, 300));
    // A sampled estimate agrees with the full measurement.
    let sampled = recall(x.view(), None, &nb, 500, 9).unwrap();
    assert!((sampled.recall - r.recall).abs() < 0.01, "{sampled:?} vs {r:?}");
}

#[test]
fn query_mode_recall_and_exact_pairs() {
    // Queries from the same manifold (same map), not in the reference.
    let all = manifold(3400, 2);
    let (x, q) = (all.slice(ndarray::s![..3000, ..]).to_owned(), all.slice(ndarray::s![3000.., ..]).to_owned());
    let nb = knn_query_with(x.view(), q.view(), 8, &approx()).unwrap();
    check_exact_pairs(x.view(), q.view(), &nb, false);
    let r = recall(x.view(), Some(q.view()), &nb, 400, 0).unwrap();
    eprintln!("query recall {r:?}");
    assert!(r.recall >= 0.95, "{r:?}");
}

#[test]
fn same_seed_same_neighbours_whatever_the_thread_count() {
    let x = manifold(3000, 4);
    let one = in_pool(1, || knn_self_with(x.view(), 7, &approx()).unwrap());
    let two = in_pool(2, || knn_self_with(x.view(), 7, &approx()).unwrap());
    let three = in_pool(3, || knn_self_with(x.view(), 7, &approx()).unwrap());
    assert_eq!(one, two);
    assert_eq!(one, three);
}

#[test]
fn principal_coordinate_graph_is_deterministic_and_exact() {
    // The graph on 12 of 48 principal coordinates: still deterministic, exact pairs, high recall on this set.
    let all = manifold(3300, 8);
    let (x, q) = (all.slice(ndarray::s![..3000, ..]).to_owned(), all.slice(ndarray::s![3000.., ..]).to_owned());
    let o = KnnOptions { approx_dims: 12, ..approx() };
    let one = in_pool(1, || knn_self_with(x.view(), 7, &o).unwrap());
    let two = in_pool(2, || knn_self_with(x.view(), 7, &o).unwrap());
    assert_eq!(one, two);
    check_exact_pairs(x.view(), x.view(), &one, true);
    let r = recall(x.view(), None, &one, 3000, 0).unwrap();
    eprintln!("projected graph recall {r:?}");
    assert!(r.recall >= 0.95, "{r:?}");
    let nq = knn_query_with(x.view(), q.view(), 7, &o).unwrap();
    check_exact_pairs(x.view(), q.view(), &nq, false);
}

#[test]
fn ties_and_duplicates_follow_the_exact_rule() {
    // Small integer grid: many exact ties and duplicate rows; every pair must still be exact and ordered.
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let x = Array2::from_shape_fn((600, 5), |_| rng.random_range(0..3) as f32);
    let nb = knn_self_with(x.view(), 6, &approx()).unwrap();
    check_exact_pairs(x.view(), x.view(), &nb, true);
    assert_eq!(nb.duplicate_rows, knn_self_with(x.view(), 6, &KnnOptions::default()).unwrap().duplicate_rows);
    // Tiny inputs (fewer points than the graph's candidate list) are answered exactly.
    let small = x.slice(ndarray::s![..20, ..]).to_owned();
    let a = knn_self_with(small.view(), 5, &approx()).unwrap();
    let e = knn_self_with(small.view(), 5, &KnnOptions { strategy: Strategy::Brute, ..Default::default() }).unwrap();
    assert_eq!(a, e);
}

#[test]
fn strategy_names_round_trip() {
    for s in Strategy::ALL {
        assert_eq!(s.to_string().parse::<Strategy>().unwrap(), s);
    }
    assert_eq!("APPROX".parse::<Strategy>().unwrap(), Strategy::Approx);
    assert!(!Strategy::Approx.is_exact());
    assert!(Strategy::EXACT.iter().all(Strategy::is_exact));
    assert!("hnsw".parse::<Strategy>().unwrap_err().contains("approx"));
}

#[test]
fn bad_parameters_are_refused() {
    let x = manifold(50, 6);
    for (ef_search, ef_construction) in [(0, 100), (knn::MAX_EF + 1, 100), (64, 0)] {
        let o = KnnOptions { ef_search, ef_construction, ..approx() };
        assert!(
            matches!(knn_self_with(x.view(), 3, &o), Err(KnnError::InvalidOption(_))),
            "{ef_search} {ef_construction}"
        );
    }
    let nb = knn_self_with(x.view(), 3, &approx()).unwrap();
    assert!(matches!(recall(x.view(), None, &nb, 0, 0), Err(KnnError::InvalidOption(_))));
    let other = manifold(40, 7);
    assert!(matches!(recall(other.view(), None, &nb, 10, 0), Err(KnnError::InvalidOption(_))));
}

/// Data of lower rank than the graph's coordinates (here rank 5 in 200 columns, graph on 32 principal
/// coordinates) get as many coordinates as they have directions: the search runs and finds the neighbours.
#[test]
fn low_rank_data_use_fewer_graph_coordinates() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let (n, r, d) = (1500, 5, 200);
    let w: Vec<f32> = (0..r * d).map(|_| rng.random::<f32>() - 0.5).collect();
    let x = Array2::from_shape_fn((n, d), |(i, c)| {
        (0..r).map(|a| ((i * (a + 3)) % 97) as f32 / 97.0 * w[a * d + c]).sum::<f32>()
    });
    let opts = KnnOptions { approx_dims: 32, ..approx() };
    let nb = knn_self_with(x.view(), 8, &opts).unwrap();
    let r = recall(x.view(), None, &nb, 300, 1).unwrap();
    assert!(r.recall >= 0.95, "{r:?}");
    check_exact_pairs(x.view(), x.view(), &nb, true);
}
