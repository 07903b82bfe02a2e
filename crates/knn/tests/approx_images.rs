//! The approximate strategy on image-like data: clustered 16 × 16 "images" (a few smooth prototypes, shifted,
//! rescaled in brightness, with pixel noise), more columns than the graph's principal coordinates, enough rows for
//! the graph to be built in many parallel batches.

use knn::{knn_query_with, knn_self_with, recall, KnnOptions, Strategy};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SIDE: usize = 16;

/// `n` images drawn from 12 prototypes (sums of three Gaussian blobs), each shifted by up to ±2 pixels, scaled in
/// brightness by 0.7–1.3, plus uniform noise of ±0.05.
fn images(n: usize, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let protos: Vec<Vec<(f32, f32, f32)>> = (0..12)
        .map(|_| {
            (0..3)
                .map(|_| (rng.random_range(3.0..13.0), rng.random_range(3.0..13.0), rng.random_range(1.5..4.0)))
                .collect()
        })
        .collect();
    let mut x = Array2::zeros((n, SIDE * SIDE));
    for i in 0..n {
        let p = &protos[rng.random_range(0..protos.len())];
        let (dx, dy) = (rng.random_range(-2.0f32..2.0), rng.random_range(-2.0f32..2.0));
        let gain = rng.random_range(0.7f32..1.3);
        for r in 0..SIDE {
            for c in 0..SIDE {
                let v: f32 = p
                    .iter()
                    .map(|&(cy, cx, s)| {
                        let (ey, ex) = (r as f32 - cy - dy, c as f32 - cx - dx);
                        (-(ey * ey + ex * ex) / (2.0 * s * s)).exp()
                    })
                    .sum();
                x[(i, r * SIDE + c)] = gain * v + rng.random_range(-0.05f32..0.05);
            }
        }
    }
    x
}

fn approx() -> KnnOptions {
    KnnOptions { strategy: Strategy::Approx, seed: 3, ..KnnOptions::default() }
}

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(f)
}

#[test]
fn recall_on_clustered_images() {
    let x = images(6000, 1);
    let nb = knn_self_with(x.view(), 15, &approx()).unwrap();
    let r = recall(x.view(), None, &nb, 1500, 2).unwrap();
    eprintln!("clustered images, self-search: {r:?}");
    assert!(r.recall >= 0.95, "{r:?}");
    // Query mode: new images of the same prototypes.
    let q = images(500, 9);
    let reference = images(6000, 1);
    let nq = knn_query_with(reference.view(), q.view(), 10, &approx()).unwrap();
    let rq = recall(reference.view(), Some(q.view()), &nq, 500, 0).unwrap();
    eprintln!("clustered images, queries: {rq:?}");
    assert!(rq.recall >= 0.95, "{rq:?}");
}

#[test]
fn same_seed_same_neighbours_with_one_two_and_three_threads() {
    let x = images(5000, 4);
    let q = images(300, 5);
    let o = approx();
    let run = |t| {
        in_pool(t, || (knn_self_with(x.view(), 10, &o).unwrap(), knn_query_with(x.view(), q.view(), 5, &o).unwrap()))
    };
    let one = run(1);
    assert_eq!(one, run(2));
    assert_eq!(one, run(3));
    // On all columns too (no projection).
    let all = KnnOptions { approx_dims: 0, ..o };
    let a1 = in_pool(1, || knn_self_with(x.view(), 10, &all).unwrap());
    let a2 = in_pool(2, || knn_self_with(x.view(), 10, &all).unwrap());
    assert_eq!(a1, a2);
}

#[test]
fn seeds_change_the_graph_not_the_quality() {
    let x = images(3000, 6);
    let a = knn_self_with(x.view(), 10, &approx()).unwrap();
    let b = knn_self_with(x.view(), 10, &KnnOptions { seed: 99, ..approx() }).unwrap();
    for nb in [&a, &b] {
        let r = recall(x.view(), None, nb, 3000, 0).unwrap();
        assert!(r.recall >= 0.95, "{r:?}");
    }
}

/// Identical rows (no principal direction at all): every distance is 0 and no row lists itself.
#[test]
fn constant_rows_have_zero_distances() {
    let x = Array2::from_elem((300, 40), 0.25f32);
    let nb = knn_self_with(x.view(), 4, &approx()).unwrap();
    assert!(nb.distances.iter().all(|&d| d == 0.0));
    for i in 0..300 {
        let row: Vec<usize> = nb.indices.row(i).to_vec();
        assert!(!row.contains(&i));
        let mut u = row.clone();
        u.sort_unstable();
        u.dedup();
        assert_eq!(u.len(), 4, "row {i}: {row:?}");
    }
    assert_eq!(nb.duplicate_rows, 299);
}
