//! The default estimator's calibration values are cached on disk across runs: a second run reads them and gives the
//! same estimate and interval bit for bit; corrupt entries are recomputed; an empty IMANIFOLD_CACHE_DIR turns the
//! cache off.

mod common;

use std::fs;
use std::path::Path;

use common::{imanifold, read_json, s};

/// Points of a 4-dimensional ball-like cloud embedded in R^9 (deterministic, no duplicates).
fn write_data(path: &Path) {
    let n = 600;
    let x = ndarray::Array2::from_shape_fn((n, 9), |(i, j)| {
        let t = i as f64 + 1.0;
        let c = [(t * 0.7548).fract(), (t * 0.5698).fract(), (t * 0.3245).fract(), (t * 0.1619).fract()];
        (if j < 4 { c[j] } else { 0.5 * c[j % 4] * c[(j + 1) % 4] }) as f32
    });
    ndarray_npy::write_npy(path, &x).unwrap();
}

fn run_dim(data: &Path, out: &Path, cache: &str) -> serde_json::Value {
    let o = imanifold()
        .env("IMANIFOLD_CACHE_DIR", cache)
        .args(["--quiet", "dim", s(data), "--estimator", "imanifold:graph_test=false", "--out", s(out)])
        .output()
        .expect("the binary runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v = read_json(&out.join("results.json"));
    v["estimates"][0].clone()
}

fn entries(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.path().is_dir() {
                v.extend(entries(&e.path()));
            } else {
                v.push(e.path());
            }
        }
    }
    v.sort();
    v
}

#[test]
fn cached_calibration_gives_the_same_estimate() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("x.npy");
    write_data(&data);
    let cache = tmp.path().join("cache");

    let cold = run_dim(&data, &tmp.path().join("cold"), s(&cache));
    let files = entries(&cache);
    assert!(!files.is_empty(), "the first run stored its calibration values");
    assert!(files.iter().all(|f| f.extension().is_some_and(|e| e == "f64")), "{files:?}");

    // Warm: read from disk, same estimate, interval and calibration curve, bit for bit.
    let warm = run_dim(&data, &tmp.path().join("warm"), s(&cache));
    assert_eq!(cold["dimension"], warm["dimension"]);
    assert_eq!(cold["ci95"], warm["ci95"]);
    assert_eq!(cold["extra"], warm["extra"]);
    assert_eq!(entries(&cache), files, "a warm run adds nothing");

    // Corrupt entries are misses: recomputed, same result, and repaired.
    for f in &files {
        fs::write(f, "garbage").unwrap();
    }
    let repaired = run_dim(&data, &tmp.path().join("repaired"), s(&cache));
    assert_eq!(cold["dimension"], repaired["dimension"]);
    assert_eq!(cold["ci95"], repaired["ci95"]);
    assert!(files.iter().all(|f| fs::read_to_string(f).unwrap() != "garbage"));

    // Off: an empty IMANIFOLD_CACHE_DIR writes nothing and still gives the same estimate.
    let off = run_dim(&data, &tmp.path().join("off"), "");
    assert_eq!(cold["dimension"], off["dimension"]);
    assert_eq!(cold["ci95"], off["ci95"]);
}
