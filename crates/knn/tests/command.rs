//! The `neighbors` command's library entry point: the streamed `.npy` files are bit for bit the in-memory search,
//! for every strategy, block size and thread count; a failed run leaves no output folder.

use std::path::Path;

use knn::command::{write_neighbors_dir, NeighborsError, NeighborsOptions, NeighborsRun};
use knn::{KnnError, KnnOptions, Neighbors, Strategy};
use ndarray::{Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Rows near a 6-dimensional subspace of R^24 with a decaying spectrum (what the pruned and approximate searches
/// are made for), a few exact duplicates included.
fn data(n: usize, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let basis: Vec<f32> = (0..6 * 24).map(|_| rng.random_range(-1.0..1.0)).collect();
    let mut x = Array2::<f32>::zeros((n, 24));
    for i in 0..n {
        let z: Vec<f32> = (0..6).map(|t| rng.random_range(-1.0..1.0f32) / (1.0 + t as f32)).collect();
        for j in 0..24 {
            let s: f32 = (0..6).map(|t| z[t] * basis[t * 24 + j]).sum();
            x[(i, j)] = s + 0.01 * rng.random_range(-1.0..1.0f32);
        }
    }
    for i in (0..n).step_by(97).skip(1) {
        let src = x.row(i - 5).to_owned();
        x.row_mut(i).assign(&src);
    }
    x
}

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(f)
}

fn opts(k: usize, strategy: Strategy, block_rows: usize) -> NeighborsOptions {
    NeighborsOptions { k, strategy, block_rows, approx_dims: 8, recall_sample: 40, seed: 3, ..Default::default() }
}

fn in_memory(r: ArrayView2<f32>, q: Option<ArrayView2<f32>>, o: &NeighborsOptions) -> Neighbors {
    let ko = o.knn_options();
    match q {
        None => knn::knn_self_with(r, o.k, &ko).unwrap(),
        Some(q) => knn::knn_query_with(r, q, o.k, &ko).unwrap(),
    }
}

fn read(dir: &Path) -> (Array2<i64>, Array2<f32>) {
    (ndarray_npy::read_npy(dir.join("indices.npy")).unwrap(), ndarray_npy::read_npy(dir.join("distances.npy")).unwrap())
}

#[test]
fn streamed_files_equal_the_in_memory_search_bit_for_bit() {
    let reference = data(600, 1);
    let query = data(230, 2);
    let k = 7;
    let tmp = tempfile::tempdir().unwrap();
    let mut case = 0;
    for strategy in [Strategy::Brute, Strategy::PcaPruned, Strategy::Approx, Strategy::Tree, Strategy::Auto] {
        for q in [None, Some(query.view())] {
            let want = in_memory(reference.view(), q, &opts(k, strategy, 0));
            let n_q = want.n();
            // Block sizes that divide the rows (self: 600 = 6 × 100; query: 230 = 10 × 23) and that do not, one
            // row, and one block of everything.
            let sizes = if q.is_none() { [100, 97, 1, 0] } else { [23, 64, 1, 0] };
            for block_rows in sizes {
                for threads in [1, 2] {
                    let o = opts(k, strategy, block_rows);
                    let out = tmp.path().join(format!("case{case}"));
                    case += 1;
                    let (report, v) = in_pool(threads, || {
                        output::write_dir(&out, |dir| {
                            let run = NeighborsRun::new(reference.view(), q, &o)?;
                            write_neighbors_dir(dir, run, output::Results::new("neighbors"))
                        })
                    })
                    .unwrap();
                    let (idx, dist) = read(&out);
                    let label = format!("{strategy} query={} block {block_rows} threads {threads}", q.is_some());
                    assert_eq!(idx.dim(), (n_q, k), "{label}");
                    assert_eq!(idx.mapv(|i| i as usize), want.indices, "{label}");
                    assert_eq!(dist.mapv(f32::to_bits), want.distances.mapv(f32::to_bits), "{label}");
                    let mean_kth = want.distances.column(k - 1).iter().map(|&x| x as f64).sum::<f64>() / n_q as f64;
                    assert_eq!(report.mean_kth_distance, mean_kth, "{label}");
                    assert_eq!(report.duplicate_rows, want.duplicate_rows, "{label}");
                    assert_eq!(report.n_query, n_q);
                    assert_eq!(v["mode"], if q.is_some() { "query" } else { "self" });
                    assert_eq!(v["strategy"], strategy.to_string());
                    assert_eq!(v["k"], k);
                    if strategy == Strategy::Approx {
                        let r = knn::recall(reference.view(), q, &want, 40, 3).unwrap();
                        assert_eq!(report.recall.unwrap().recall, r, "{label}");
                        assert_eq!(v["recall"]["recall_at_k"], r.recall);
                        assert_eq!(v["recall"]["approx_dims"], 8);
                    } else {
                        assert!(report.recall.is_none() && v.get("recall").is_none(), "{label}");
                    }
                    std::fs::remove_dir_all(&out).unwrap();
                }
            }
        }
    }
    assert_eq!(duplicates_seen(&reference), 6, "the data's duplicates");
}

fn duplicates_seen(x: &Array2<f32>) -> usize {
    knn::duplicate_rows(x.view()).len()
}

#[test]
fn blocks_reach_the_sink_in_order_and_a_failing_sink_stops_the_run() {
    let reference = data(300, 4);
    let mut seen = Vec::new();
    let report = knn::command::run(reference.view(), None, &opts(5, Strategy::Brute, 64), |b| {
        assert_eq!(b.indices.dim(), b.distances.dim());
        seen.push((b.first_row, b.indices.nrows()));
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, vec![(0, 64), (64, 64), (128, 64), (192, 64), (256, 44)]);
    assert_eq!(report.n_query, 300);
    let mut calls = 0;
    let err = knn::command::run(reference.view(), None, &opts(5, Strategy::Brute, 64), |_| {
        calls += 1;
        if calls == 3 {
            return Err(NeighborsError::Knn(KnnError::InvalidOption("sink full".into())));
        }
        Ok(())
    })
    .unwrap_err();
    assert!(err.to_string().contains("sink full"), "{err}");
    assert_eq!(calls, 3, "the run went on after the sink failed");
}

/// A run that fails — on an option, on the data, or late, after several blocks were written — leaves neither the
/// output folder nor its staging folder.
#[test]
fn failing_runs_leave_no_output_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let reference = data(200, 5);
    // The last query row is so far out that its distances exceed float32's range: found in the last block only.
    let mut query = data(150, 6);
    query.row_mut(149).fill(3.0e38);
    let mut nan_query = data(150, 7);
    nan_query[(149, 3)] = f32::NAN;
    let cases: Vec<(ArrayView2<f32>, NeighborsOptions, &str)> = vec![
        (query.view(), opts(4, Strategy::Brute, 16), "query row 149"),
        (query.view(), opts(4, Strategy::Approx, 16), "query row 149"),
        (nan_query.view(), opts(4, Strategy::Brute, 16), "row 149 column 3"),
        (query.view(), NeighborsOptions { k: 0, ..opts(4, Strategy::Brute, 16) }, "--k"),
        (query.view(), NeighborsOptions { ef_search: 0, ..opts(4, Strategy::Approx, 16) }, "--ef-search"),
        (query.view(), NeighborsOptions { recall_sample: 0, ..opts(4, Strategy::Approx, 16) }, "--recall-sample"),
        (query.view(), opts(201, Strategy::Brute, 16), "k = 201"),
    ];
    for (q, o, needle) in cases {
        let out = tmp.path().join("sub/out");
        let mut blocks_written = 0;
        let r = output::write_dir(&out, |dir| {
            let run = NeighborsRun::new(reference.view(), Some(q), &o)?;
            // Count the blocks that reached the files before the failure.
            let report = knn::command::run(reference.view(), Some(q), &o, |_| {
                blocks_written += 1;
                Ok(())
            });
            report?;
            write_neighbors_dir(dir, run, output::Results::new("neighbors"))
        });
        let err = r.unwrap_err();
        let chain = format!("{err}");
        assert!(chain.contains(needle), "{needle}: {chain}");
        if needle == "query row 149" {
            assert_eq!(blocks_written, 9, "the overflow was not found in the last of 10 blocks");
            assert!(matches!(err, NeighborsError::Knn(KnnError::DistanceOverflow { row: 149, .. })), "{err:?}");
        }
        assert!(!out.exists(), "{needle}: output folder left");
        let left: Vec<_> = std::fs::read_dir(tmp.path().join("sub")).unwrap().collect();
        assert!(left.is_empty(), "{needle}: staging left: {left:?}");
    }
    // The same failure through the writer alone: the streamed files had rows in them when it struck.
    let out = tmp.path().join("late");
    let o = opts(4, Strategy::Brute, 16);
    let err = output::write_dir(&out, |dir| {
        write_neighbors_dir(
            dir,
            NeighborsRun::new(reference.view(), Some(query.view()), &o)?,
            output::Results::new("x"),
        )
    })
    .unwrap_err();
    assert!(matches!(err, NeighborsError::Knn(KnnError::DistanceOverflow { row: 149, .. })), "{err:?}");
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().filter_map(Result::ok).filter(|e| e.file_name() != "sub").count(),
        0
    );
}

#[test]
fn the_search_answers_any_rows_and_refuses_others() {
    let x = data(120, 8);
    let o = KnnOptions { strategy: Strategy::Brute, ..KnnOptions::default() };
    let all = knn::knn_self_with(x.view(), 3, &o).unwrap();
    let s = knn::Search::new(x.view(), None, 3, &o).unwrap();
    assert_eq!((s.n_query(), s.k()), (120, 3));
    let part = s.rows(50..77).unwrap();
    assert_eq!(part.indices, all.indices.slice(ndarray::s![50..77, ..]));
    assert_eq!(part.distances, all.distances.slice(ndarray::s![50..77, ..]));
    assert_eq!(s.rows(5..5).unwrap().n(), 0);
    assert!(matches!(s.rows(100..121), Err(KnnError::InvalidOption(_))));
}

/// Query blocks that straddle the approximate search's projection blocks (1024 rows): each block projects only its
/// own queries, and the answers stay those of one projection of every query.
#[test]
fn approximate_query_blocks_across_projection_blocks_equal_the_whole_search() {
    let reference = data(500, 9);
    let query = data(2600, 10);
    for (approx_dims, block_rows) in [(8, 700), (8, 1024), (0, 333), (8, 1)] {
        let o = NeighborsOptions { approx_dims, ..opts(6, Strategy::Approx, block_rows) };
        let want = in_memory(reference.view(), Some(query.view()), &o);
        let mut indices = Array2::<usize>::zeros((0, 6));
        let mut distances = Array2::<f32>::zeros((0, 6));
        in_pool(2, || {
            knn::command::run(reference.view(), Some(query.view()), &o, |b| {
                assert_eq!(b.first_row, indices.nrows());
                indices.append(ndarray::Axis(0), b.indices.view()).unwrap();
                distances.append(ndarray::Axis(0), b.distances.view()).unwrap();
                Ok(())
            })
        })
        .unwrap();
        assert_eq!(indices, want.indices, "approx_dims {approx_dims}, block {block_rows}");
        assert_eq!(distances.mapv(f32::to_bits), want.distances.mapv(f32::to_bits));
    }
}
