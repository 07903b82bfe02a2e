//! `imanifold stability` end to end: render a tiny labelled set, train a tiny model, measure, and check the
//! invariants of results.json, per_image.csv and the per-pixel maps; bad options exit 2 with one line and no folder.

mod common;

use std::path::Path;

use common::{ok, read_json, run, s};
use ndarray::Array4;
use ndarray_npy::ReadNpyExt;

/// Exit code 2, one line on stderr naming `needle` (clap's "For more information" hint not counted), and `out`
/// not created.
fn refused(args: &[&str], out: &Path, needle: &str) {
    let o = run(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: stderr does not name {needle:?}: {err}");
    let lines = err.lines().filter(|l| !l.trim().is_empty() && !l.starts_with("For more information")).count();
    assert_eq!(lines, 1, "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert!(!out.exists(), "{args:?} left {}", out.display());
}

fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn trained(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let data = common::render(dir, "data", "shapes10", "yaw,pitch,light_azimuth", 120, 8, 1, &[]);
    let model = dir.join("model");
    ok(&[
        "classifier",
        "train",
        "--data",
        s(&data),
        "--out",
        s(&model),
        "--epochs",
        "2",
        "--channels",
        "4,8",
        "--hidden",
        "16",
    ]);
    (data, model)
}

#[test]
fn stability_results_hold_their_invariants() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (data, model) = trained(dir);
    let out = dir.join("stab");
    let v = ok(&[
        "stability",
        "--model",
        s(&model),
        "--data",
        s(&data),
        "--limit",
        "12",
        "--eps",
        "1/255,0.02,8/255",
        "--random-trials",
        "10",
        "--pgd-steps",
        "10",
        "--pgd-restarts",
        "2",
        "--pair-images",
        "2",
        "--pairs-per-image",
        "20",
        "--out",
        s(&out),
        "--json",
    ]);
    assert_eq!(v, read_json(&out.join("results.json")));
    assert_eq!(v["schema"], "imanifold/stability/v1");
    let n_correct = v["n_correct"].as_u64().unwrap() as usize;
    assert!((1..=12).contains(&n_correct));
    let clean_error = f(&v["clean_error"]);
    assert!((clean_error - (1.0 - n_correct as f64 / 12.0)).abs() < 1e-12);
    let per_eps = v["eps"].as_array().unwrap();
    assert_eq!(per_eps.len(), 3);
    assert!((f(&per_eps[0]["eps"]) - 1.0 / 255.0).abs() < 1e-15, "1/255 is read in f64");
    let mut rows = csv::Reader::from_path(out.join("per_image.csv")).unwrap();
    assert_eq!(rows.records().count(), 3 * n_correct);
    for (e, name) in per_eps.iter().zip(["1_255", "0p02", "8_255"]) {
        let (lower, upper) = (f(&e["stable_lower"]), f(&e["stable_upper"]));
        assert!(lower <= upper + 1e-12, "certified {lower} > 1 - falsified {upper}");
        assert!(lower <= 1.0 - f(&e["pgd_flip_rate"]) + 1e-12);
        assert!((f(&e["bracket_width"]) - (upper - lower)).abs() < 1e-12);
        let q = f(&e["q_mean"]);
        assert!((0.0..=1.0).contains(&q), "q {q}");
        let pred = f(&e["prediction"]);
        assert!((pred - (1.0 - q).powf(f(&e["n_eff_mean"]))).abs() < 1e-9);
        assert!(f(&e["no_single_flip_share"]) >= upper - 1e-12, "a single-pixel flip is a flip");
        for key in ["random_uniform_flip_rate", "random_corner_flip_rate", "certified_ibp", "certified_crown"] {
            assert!((0.0..=1.0).contains(&f(&e[key])), "{key}");
        }
        let maps =
            Array4::<i8>::read_npy(std::fs::File::open(out.join(format!("pixel_flips_{name}.npy"))).unwrap()).unwrap();
        assert_eq!(maps.shape(), &[n_correct, 8, 8, 3]);
        assert!(maps.iter().all(|v| (-1..=1).contains(v)));
        let effective = maps.iter().filter(|&&v| v >= 0).count() as f64 / n_correct as f64;
        assert!((effective - f(&e["n_eff_mean"])).abs() < 1e-9);
        assert!(out.join(format!("overlay_{name}.png")).is_file());
    }
    // Larger boxes are never more certified.
    assert!(f(&per_eps[0]["stable_lower"]) >= f(&per_eps[2]["stable_lower"]));
}

#[test]
fn bad_options_are_refused_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (data, model) = trained(dir);
    let out = dir.join("never");
    let base = ["stability", "--model", s(&model), "--data", s(&data), "--out", s(&out)];
    for (extra, needle) in [
        (&["--eps", "0"][..], "eps"),
        (&["--eps", "2"][..], "eps"),
        (&["--eps", "1/255,abc"][..], "abc"),
        (&["--eps", "1/255,1/255"][..], "twice"),
        (&["--random-trials", "100001"][..], "random trials"),
        (&["--pgd-steps", "0"][..], "pgd steps"),
        (&["--pgd-restarts", "0"][..], "pgd restarts"),
        (&["--pair-lines", "1"][..], "pair lines"),
        (&["--lower-slope", "steep"][..], "steep"),
        (&["--label-column", "nope"][..], "nope"),
    ] {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        refused(&args, &out, needle);
    }
    refused(&["stability", "--model", s(&dir.join("missing")), "--data", s(&data), "--out", s(&out)], &out, "missing");
}
