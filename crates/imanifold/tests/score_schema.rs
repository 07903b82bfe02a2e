//! The demo's stage-3 `score/results.json` and `imanifold score`'s results.json for the same inputs (the demo's
//! training renders as reference, its `queries/` folder with `--groups group`) have the same schema: the same keys,
//! recursively (the timings excepted: the CLI also times its loading).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Every key path of `v` (`a.b.c`; array elements share the path `a[]`), timings left out.
fn key_paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{prefix}.{k}");
                out.insert(p.clone());
                if k != "timings_seconds" {
                    key_paths(x, &p, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| key_paths(x, &format!("{prefix}[]"), out)),
        _ => {}
    }
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

#[test]
fn cli_and_demo_score_folders_share_one_schema() {
    output::set_quiet(true);
    let dir = tempfile::tempdir().unwrap();
    // A small stage 3 (the schema does not depend on the sizes).
    let cfg = demo::Config {
        stages: vec![demo::Stage::OffManifold],
        n_train: 120,
        epochs: 1,
        n_heldout: 16,
        n_attack: 6,
        pgd_steps: 3,
        random_trials: 2,
        direct_generations: 4,
        cppn_generations: 4,
        population: 8,
        n_noise: 4,
        n_other_scene: 4,
        n_pairs: 3,
        score_calibration: 60,
        flow_calibration: 8,
        ..demo::Config::quick(3)
    };
    let out = dir.path().join("demo");
    demo::run(&cfg, &out).expect("demo stage 3");
    let stage = out.join(demo::Stage::OffManifold.folder());
    let demo_json = read_json(&stage.join("score/results.json"));

    let cli_out = dir.path().join("cli");
    let o = Command::new(env!("CARGO_BIN_EXE_imanifold"))
        .args(["--quiet", "score", "--reference"])
        .arg(stage.join("train"))
        .arg("--query")
        .arg(stage.join("queries"))
        .args(["--groups", "group", "--k", &cfg.score_k.to_string(), "--calibration", "60", "--flow-calibration", "8"])
        .arg("--out")
        .arg(&cli_out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cli_json = read_json(&cli_out.join("results.json"));

    let (mut a, mut b) = (BTreeSet::new(), BTreeSet::new());
    key_paths(&cli_json, "", &mut a);
    key_paths(&demo_json, "", &mut b);
    assert!(a.contains(".groups.groups[].auroc") && a.contains(".summary.flow.percentiles"), "{a:?}");
    assert_eq!(
        a,
        b,
        "only in the CLI's: {:?}; only in the demo's: {:?}",
        a.difference(&b).collect::<Vec<_>>(),
        b.difference(&a).collect::<Vec<_>>()
    );
    // Same inputs and options, same files.
    assert_eq!(cli_json["files"], demo_json["files"]);
}
