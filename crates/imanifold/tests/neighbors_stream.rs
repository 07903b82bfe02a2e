//! `neighbors` writes its results block by block: several blocks give the engine's answer bit for bit, and a run
//! that fails in its last block (after earlier blocks reached the files) leaves no output folder.

mod common;

use common::run;
use ndarray::Array2;

fn points(n: usize, d: usize, salt: usize) -> Array2<f32> {
    Array2::from_shape_fn((n, d), |(i, j)| ((i * 7919 + j * 104_729 + salt * 31) % 1013) as f32 / 1013.0)
}

#[test]
fn several_blocks_equal_the_engine_and_a_late_failure_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let reference = points(3000, 4, 1);
    let mut query = points(2500, 4, 2);
    ndarray_npy::write_npy(p("ref.npy"), &reference).unwrap();
    ndarray_npy::write_npy(p("q.npy"), &query).unwrap();
    // k = 1000: blocks of 2^20 / 1000 = 1048 rows, three of them for 2500 queries.
    let o = run(&[
        "neighbors",
        &p("ref.npy"),
        "--query",
        &p("q.npy"),
        "--k",
        "1000",
        "--strategy",
        "brute",
        "--out",
        &p("ok"),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let idx: Array2<i64> = ndarray_npy::read_npy(p("ok/indices.npy")).unwrap();
    let dist: Array2<f32> = ndarray_npy::read_npy(p("ok/distances.npy")).unwrap();
    let want = knn::knn_query_with(
        reference.view(),
        query.view(),
        1000,
        &knn::KnnOptions { strategy: knn::Strategy::Brute, ..Default::default() },
    )
    .unwrap();
    assert_eq!(idx.mapv(|i| i as usize), want.indices);
    assert_eq!(dist.mapv(f32::to_bits), want.distances.mapv(f32::to_bits));

    // The last query row's distances exceed float32's range: only its block fails, after two were written.
    query.row_mut(2499).fill(3.0e38);
    ndarray_npy::write_npy(p("far.npy"), &query).unwrap();
    let out = dir.path().join("sub/out");
    let o = run(&[
        "neighbors",
        &p("ref.npy"),
        "--query",
        &p("far.npy"),
        "--k",
        "1000",
        "--strategy",
        "brute",
        "--out",
        &out.to_string_lossy(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("query row 2499") && err.contains("ref.npy"), "{err}");
    assert!(!out.exists(), "an output folder was left");
    let left: Vec<_> = std::fs::read_dir(dir.path().join("sub")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "staging left behind: {left:?}");
}
