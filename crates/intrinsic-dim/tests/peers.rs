//! Agreement with scikit-dimension 0.5 (the Python reference) on the same data: every deterministic estimator
//! within 1 %, the randomised DANCo within 10 %.
//!
//! Needs a Python with scikit-dimension 0.5 and the reference script `peer_id.py`: the python is taken from
//! `IMANIFOLD_PEERS_PY` or `~/.cache/imanifold-peers/bin/python`, the script from `IMANIFOLD_PEER_ID` or
//! `$IMANIFOLD_PEERS/peer_id.py` (the folder of reference scripts, as for `imanifold bench --peers-dir`). Without
//! them the test prints why and passes without checking anything.

use std::path::{Path, PathBuf};
use std::process::Command;

use intrinsic_dim::{build, max_k, run, FitContext, RunOptions};
use ndarray::Array2;
use serde_json::{Map, Value};

fn peers() -> Option<(PathBuf, PathBuf)> {
    let py = std::env::var_os("IMANIFOLD_PEERS_PY")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/imanifold-peers/bin/python")))?;
    let script = std::env::var_os("IMANIFOLD_PEER_ID")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("IMANIFOLD_PEERS").map(|d| Path::new(&d).join("peer_id.py")))?;
    if !py.exists() || !script.exists() {
        return None;
    }
    let ok = Command::new(&py).args(["-c", "import skdim"]).output().map(|o| o.status.success()).unwrap_or(false);
    ok.then_some((py, script))
}

fn skdim(py: &Path, script: &Path, npy: &Path, names: &[&str]) -> Vec<(String, f64)> {
    let mut cmd = Command::new(py);
    cmd.arg(script).arg(npy);
    for n in names {
        cmd.args(["--estimator", n]);
    }
    let out = cmd.output().expect("run peer_id.py");
    assert!(out.status.success(), "peer_id.py failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| (v["estimator"].as_str().unwrap_or("").to_string(), v["dimension"].as_f64().unwrap_or(f64::NAN)))
        .collect()
}

fn ours(x: &Array2<f32>, names: &[&str]) -> Vec<f64> {
    let ests: Vec<_> = names.iter().map(|n| build(n, &Map::new()).unwrap()).collect();
    let opts = RunOptions::default();
    let ctx = FitContext::new(x.view(), max_k(&ests, &opts), 0).unwrap();
    run(&ctx, &ests, &opts).unwrap().iter().map(|r| r.estimate.dimension).collect()
}

fn datasets() -> Vec<(&'static str, Array2<f32>)> {
    let ball = benchmark_manifolds::embed_linear(&benchmark_manifolds::hyperball(500, 5, 11), 12, 3).unwrap();
    vec![
        ("ball5_in_12", ball.mapv(|v| v as f32)),
        ("swiss_roll", benchmark_manifolds::swiss_roll(500, 4).mapv(|v| v as f32)),
        ("cube10_faces", benchmark_manifolds::generate("M10a_Cubic", 500, 5).unwrap().mapv(|v| v as f32)),
        ("paraboloid6", benchmark_manifolds::generate("Mp2_Paraboloid", 500, 6).unwrap().mapv(|v| v as f32)),
    ]
}

#[test]
fn deterministic_estimators_agree_with_skdim_within_one_percent() {
    let Some((py, script)) = peers() else {
        eprintln!("SKIPPED: scikit-dimension peers venv not found (set IMANIFOLD_PEERS_PY / run setup-peers.sh)");
        return;
    };
    let names = ["lpca", "mle", "twonn", "gride", "corrint", "mind-ml", "fishers", "mom", "tle", "mada"];
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (label, x) in datasets() {
        let path = dir.path().join(format!("{label}.npy"));
        ndarray_npy::write_npy(&path, &x).unwrap();
        let theirs = skdim(&py, &script, &path, &names);
        let mine = ours(&x, &names);
        for ((name, t), m) in theirs.iter().zip(&mine) {
            let rel = (m - t).abs() / t.abs().max(1e-12);
            eprintln!("{label:>14} {name:>8}: imanifold {m:.4}  skdim {t:.4}  rel {rel:.2e}");
            // skdim's MiND_MLk starts L-BFGS-B at the integer MiND_MLi and sometimes stops there without moving
            // (e.g. "relative reduction of F" after one rejected step); imanifold returns the true maximiser of the
            // concave likelihood, which lies within half a unit of the integer one. Documented deviation.
            if name == "mind-ml" && t.fract() == 0.0 && (m - t).abs() < 0.5 {
                eprintln!(
                    "{label:>14} {name:>8}: skdim stopped at its integer start {t}; imanifold {m:.4} (documented)"
                );
                continue;
            }
            if rel.is_nan() || rel > 0.01 {
                failures.push(format!("{label} {name}: {m} vs {t}"));
            }
        }
    }
    assert!(failures.is_empty(), "disagreements with skdim: {failures:?}");
}

#[test]
fn ess_and_danco_agree_with_skdim() {
    let Some((py, script)) = peers() else {
        eprintln!("SKIPPED: scikit-dimension peers venv not found");
        return;
    };
    // ESS with k = 100 uses all C(100, 2) = 4950 groups: deterministic, 1 %. DANCo calibrates on random balls:
    // 10 %.
    let x = benchmark_manifolds::embed_linear(&benchmark_manifolds::hyperball(300, 4, 21), 8, 2)
        .unwrap()
        .mapv(|v| v as f32);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ball4.npy");
    ndarray_npy::write_npy(&path, &x).unwrap();
    let theirs = skdim(&py, &script, &path, &["ess", "danco"]);
    let mine = ours(&x, &["ess", "danco"]);
    for (((name, t), m), tol) in theirs.iter().zip(&mine).zip([0.01, 0.10]) {
        let rel = (m - t).abs() / t.abs();
        eprintln!("{name}: imanifold {m:.4} skdim {t:.4} rel {rel:.2e}");
        assert!(rel <= tol, "{name}: {m} vs skdim {t}");
    }
}
