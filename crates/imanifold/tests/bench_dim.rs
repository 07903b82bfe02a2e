//! `imanifold bench dim`: imanifold's estimates on points near an 8-D subspace, and, when the peers' Python with
//! scikit-dimension is installed, the same point estimates from scikit-dimension in the same run.

mod common;

use common::{imanifold, read_json, s};

fn run(out: &std::path::Path, python: Option<&str>) -> serde_json::Value {
    let mut cmd = imanifold();
    cmd.args([
        "--quiet",
        "bench",
        "dim",
        "--shape",
        "500x40",
        "--estimator",
        "mle",
        "--estimator",
        "lpca",
        "--k",
        "10",
    ]);
    if let Some(p) = python {
        cmd.args(["--peers-python", p]);
    }
    let o = cmd.args(["--out", s(out)]).output().expect("the binary runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    read_json(&out.join("results.json"))
}

#[test]
fn bench_dim_reports_both_tools_or_says_why_not() {
    let tmp = tempfile::tempdir().unwrap();
    let v = run(&tmp.path().join("none"), Some("/nonexistent/python"));
    let est = v["imanifold"]["estimates"].as_array().unwrap();
    assert_eq!(est.len(), 2);
    assert_eq!(est[1]["estimator"], "lpca");
    assert_eq!(est[1]["dimension"].as_f64(), Some(8.0), "lpca finds the 8-D subspace");
    let mle = est[0]["dimension"].as_f64().unwrap();
    assert!((5.0..9.0).contains(&mle), "mle {mle}");
    assert!(v["imanifold"]["seconds"].as_f64().unwrap() > 0.0);
    let why = v["skdim_skipped"].as_str().expect("the comparison is skipped without a peer");
    assert!(why.contains("/nonexistent/python"), "{why}");

    // With the peers' Python (optional locally, absent in CI): the same point estimates.
    let home = std::env::var("HOME").unwrap_or_default();
    let peer =
        std::env::var("IMANIFOLD_PEERS_PY").unwrap_or_else(|_| format!("{home}/.cache/imanifold-peers/bin/python"));
    if std::path::Path::new(&peer).is_file() {
        let v = run(&tmp.path().join("peer"), Some(&peer));
        if v.get("skdim_skipped").is_none() {
            assert_eq!(v["ratio"]["same_point_estimates"], true, "{}", v["ratio"]);
            assert_eq!(v["skdim"]["estimates"][1]["dimension"].as_f64(), Some(8.0));
        }
    }
}
