//! End-to-end checks of the foundation commands through the real binary: outputs, exit codes, no partial files.

mod common;

use std::path::Path;

use common::imanifold;

fn write_points(path: &Path, n: usize, d: usize) -> ndarray::Array2<f32> {
    let a = ndarray::Array2::from_shape_fn((n, d), |(i, j)| ((i * 7 + j * 13) % 17) as f32 / 17.0 + i as f32 * 1e-3);
    ndarray_npy::write_npy(path, &a).unwrap();
    a
}

#[test]
fn neighbors_writes_indices_distances_and_results() {
    let dir = tempfile::tempdir().unwrap();
    let x = write_points(&dir.path().join("x.npy"), 50, 6);
    let out = dir.path().join("nn");
    let o = imanifold()
        .args(["--quiet", "neighbors"])
        .arg(dir.path().join("x.npy"))
        .args(["--k", "4", "--json", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let idx: ndarray::Array2<i64> = ndarray_npy::read_npy(out.join("indices.npy")).unwrap();
    let dist: ndarray::Array2<f32> = ndarray_npy::read_npy(out.join("distances.npy")).unwrap();
    assert_eq!(idx.dim(), (50, 4));
    let want = knn::knn_self(x.view(), 4).unwrap();
    assert_eq!(idx.mapv(|i| i as usize), want.indices);
    assert_eq!(dist, want.distances);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(v["schema"], "imanifold/neighbors/v1");
    assert_eq!(v["k"], 4);
    let printed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(printed["n_query"], 50);
}

#[test]
fn bad_input_exits_2_with_the_cause_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut bad = ndarray::Array2::<f32>::zeros((5, 2));
    bad[[3, 0]] = f32::NAN;
    ndarray_npy::write_npy(dir.path().join("nan.npy"), &bad).unwrap();
    write_points(&dir.path().join("small.npy"), 5, 2);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["nan.npy".into(), "--k".into(), "2".into()], "row 3"),
        (vec!["small.npy".into(), "--k".into(), "5".into()], "k = 5"),
        (vec!["missing.npy".into(), "--k".into(), "2".into()], "missing.npy"),
        (vec!["small.npy".into(), "--k".into(), "0".into()], "--k"),
    ];
    for (args, needle) in cases {
        let out = dir.path().join("out");
        let o =
            imanifold().current_dir(dir.path()).arg("neighbors").args(&args).arg("--out").arg(&out).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(!out.join("indices.npy").exists() && !out.join("results.json").exists(), "partial output for {args:?}");
    }
}

#[test]
fn info_describes_an_image_folder() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..3u8 {
        image::GrayImage::from_pixel(4, 2, image::Luma([i * 100])).save(dir.path().join(format!("{i}.png"))).unwrap();
    }
    std::fs::copy(dir.path().join("0.png"), dir.path().join("3.png")).unwrap();
    let o = imanifold().arg("info").arg(dir.path()).arg("--json").output().unwrap();
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["n"], 4);
    assert_eq!(v["d"], 8);
    assert_eq!(v["duplicate_rows"], 1);
    assert_eq!(v["image_shape"]["width"], 4);
}

#[test]
fn same_seed_same_output_whatever_the_thread_count() {
    // Estimates with bootstrap intervals and pointwise values, and neighbour files, from 1 and 2 worker threads.
    let dir = tempfile::tempdir().unwrap();
    let x = ndarray::Array2::from_shape_fn((400, 12), |(i, j)| {
        ((i * 31 + j * 17) % 97) as f32 / 97.0 + (i as f32).sin() * 0.1
    });
    ndarray_npy::write_npy(dir.path().join("x.npy"), &x).unwrap();
    let run = |threads: &str| {
        let out = dir.path().join(format!("dim{threads}"));
        let o = imanifold()
            .args(["--quiet", "--threads", threads, "dim"])
            .arg(dir.path().join("x.npy"))
            .args(["--estimator", "mle", "--estimator", "twonn", "--estimator", "lpca", "--bootstrap", "10"])
            .args(["--pointwise", "--seed", "3", "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
        let estimates: Vec<(serde_json::Value, serde_json::Value)> =
            v["estimates"].as_array().unwrap().iter().map(|e| (e["dimension"].clone(), e["ci95"].clone())).collect();
        let pointwise: ndarray::Array1<f64> = ndarray_npy::read_npy(out.join("pointwise_mle.npy"))
            .or_else(|_| {
                ndarray_npy::read_npy::<_, ndarray::Array1<f32>>(out.join("pointwise_mle.npy"))
                    .map(|a| a.mapv(f64::from))
            })
            .unwrap();
        (estimates, pointwise)
    };
    let (e1, p1) = run("1");
    let (e2, p2) = run("2");
    assert_eq!(e1.len(), 3);
    assert_eq!(e1, e2);
    assert_eq!(p1, p2);
}
