//! `imanifold dim` and the demo's stage 1 write their `dim` folders through the same library writer: a results.json
//! of the CLI and one of the demo's `setP/dim` folders have the same keys, recursively (values differ).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use demo::{Config, Stage};
use serde_json::Value;

/// Objects whose keys are named by the run (estimator labels, estimator parameters, estimator-specific extras):
/// only their presence belongs to the schema.
const NAMED_BY_THE_RUN: [&str; 3] = ["files", "params", "extra"];

/// Every key path of `v` (`a.b`, array elements as `a[]`, their keys merged).
fn schema(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let path = format!("{prefix}.{k}");
                out.insert(path.clone());
                if !NAMED_BY_THE_RUN.contains(&k.as_str()) {
                    schema(x, &path, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| schema(x, &format!("{prefix}[]"), out)),
        _ => {}
    }
}

fn keys(path: &Path) -> BTreeSet<String> {
    let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut out = BTreeSet::new();
    schema(&v, "", &mut out);
    out
}

#[test]
fn cli_and_demo_dim_folders_share_one_schema() {
    let dir = tempfile::tempdir().unwrap();
    // The demo's stage 1 alone, on small sets.
    let cfg = Config {
        stages: vec![Stage::Dimension],
        dim_n: 60,
        dim_size: 12,
        dim_bootstrap: 2,
        dim_curve_k: vec![5, 8],
        ..Config::quick(1)
    };
    output::set_quiet(true);
    let demo_out = dir.path().join("demo");
    demo::run(&cfg, &demo_out).unwrap();
    let set = demo_out.join(Stage::Dimension.folder()).join("set2");
    let demo_keys = keys(&set.join("dim/results.json"));

    // The CLI on the demo's own render of that set, with the demo's estimators and a scale range.
    let out = dir.path().join("cli");
    let o = Command::new(env!("CARGO_BIN_EXE_imanifold"))
        .args(["--quiet", "dim"])
        .arg(set.join("render"))
        .args(["--estimator", "mle", "--estimator", "twonn", "--estimator", "lpca", "--estimator", "imanifold"])
        .args(["--k-range", "5:8", "--bootstrap", "2", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cli_keys = keys(&out.join("results.json"));

    assert!(cli_keys.contains(".estimates[].label") && cli_keys.contains(".timings_seconds.knn"), "{cli_keys:?}");
    let only_cli: Vec<_> = cli_keys.difference(&demo_keys).collect();
    let only_demo: Vec<_> = demo_keys.difference(&cli_keys).collect();
    assert!(
        only_cli.is_empty() && only_demo.is_empty(),
        "only in the CLI's: {only_cli:?}; only in the demo's: {only_demo:?}"
    );
}
