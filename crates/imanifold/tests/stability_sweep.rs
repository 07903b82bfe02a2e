//! `imanifold stability sweep` end to end on a tiny quick configuration: same seed → the same results.json at 1
//! and 2 threads, the files and their invariants, and bad options refused before any work.

mod common;

use std::path::Path;

use common::{ok, read_json, run, s};

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

const TINY: [&str; 12] = [
    "--quick",
    "--sizes",
    "8,10",
    "--n-train",
    "1200",
    "--n-test",
    "10",
    "--epochs",
    "5",
    "--eps",
    "2/255,8/255",
    "--json",
];

fn sweep(out: &Path, threads: &str, seed: &str) -> serde_json::Value {
    let mut args = vec!["--threads", threads, "stability", "sweep", "--seed", seed, "--out", s(out)];
    args.extend_from_slice(&TINY);
    ok(&args)
}

/// Everything but the wall times and the command line (which names the folder and the thread count).
fn figures(mut v: serde_json::Value) -> serde_json::Value {
    let m = v.as_object_mut().unwrap();
    m.remove("timings_seconds").expect("timings");
    m.remove("command_line").expect("command line");
    v
}

#[test]
fn sweep_is_deterministic_and_consistent() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (tmp.path().join("a"), tmp.path().join("b"), tmp.path().join("c"));
    let va = sweep(&a, "1", "3");
    let vb = sweep(&b, "2", "3");
    assert_eq!(va, read_json(&a.join("results.json")));
    assert_eq!(figures(va.clone()), figures(vb), "same seed, 1 and 2 threads");
    let vc = sweep(&c, "2", "4");
    assert_ne!(figures(va.clone()), figures(vc), "another seed, other renders and model");
    assert_eq!(va["schema"], "imanifold/stability-sweep/v1");
    let sizes = va["sizes"].as_array().unwrap();
    assert_eq!(sizes.len(), 2);
    for (r, size) in sizes.iter().zip([8u64, 10]) {
        assert_eq!(r["size"].as_u64(), Some(size));
        assert_eq!(r["n"].as_u64(), Some(size * size * 3));
        let n_correct = r["n_correct"].as_u64().unwrap() as f64;
        assert!((f(&r["clean_error"]) - (1.0 - n_correct / 10.0)).abs() < 1e-12);
        let eps = r["eps"].as_array().unwrap();
        assert_eq!(eps.len(), 2);
        for e in eps {
            assert!(f(&e["stable_lower"]) <= f(&e["stable_upper"]) + 1e-12);
            assert_eq!(f(&e["n_images"]), n_correct);
            let q = f(&e["q_mean"]);
            assert!((f(&e["prediction"]) - (1.0 - q).powf(f(&e["n_eff_mean"]))).abs() < 1e-9);
        }
        // Larger boxes are never more certified.
        assert!(f(&eps[0]["stable_lower"]) >= f(&eps[1]["stable_lower"]));
    }
    // Three fits per ε; a fit through two sizes with P > 0 passes through both points.
    let fits = va["fits"].as_array().unwrap();
    assert_eq!(fits.len(), 6);
    for fit in fits {
        let (e, which) = (f(&fit["eps"]), fit["p"].as_str().unwrap());
        let k = usize::from(e > 3.0 / 255.0);
        let pts: Vec<(f64, f64)> = sizes
            .iter()
            .filter_map(|r| r["eps"][k][which].as_f64().filter(|p| *p > 0.0).map(|p| (f(&r["n"]), p.ln())))
            .collect();
        assert_eq!(fit["points"].as_u64(), Some(pts.len() as u64), "{fit}");
        if pts.len() == 2 {
            for (n, lp) in pts {
                assert!((f(&fit["intercept"]) + f(&fit["slope"]) * n - lp).abs() < 1e-9, "{fit}");
            }
        }
    }
    let rows = csv::Reader::from_path(a.join("per_size.csv")).unwrap().records().count();
    assert_eq!(rows, 4);
    let svg = std::fs::read_to_string(a.join("curve.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("P(stable)"));
}

#[test]
fn bad_sweep_options_are_refused_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("never");
    for (extra, needle) in [
        (&["--sizes", "2"][..], "sizes"),
        (&["--sizes", "8,8"][..], "twice"),
        (&["--sizes", "65"][..], "sizes"),
        (&["--eps", "0"][..], "eps"),
        (&["--n-train", "5"][..], "n-train"),
        (&["--n-test", "0"][..], "n-test"),
        (&["--epochs", "0"][..], "epochs"),
        (&["--scene", "nope"][..], "nope"),
        (&["--pgd-restarts", "0"][..], "pgd restarts"),
    ] {
        let mut args = vec!["stability", "sweep", "--quick", "--out", s(&out)];
        args.extend_from_slice(extra);
        refused(&args, &out, needle);
    }
}
