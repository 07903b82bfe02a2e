//! `imanifold geodesic` and the demo's geodesic stage write results.json through the same library writer
//! (`geodesic::write_geodesic_dir`): their schemas (key sets, recursively) must agree, up to the demo's declared
//! additions.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// What the demo's geodesic/results.json records beyond the CLI's: the rendered input folder, the periods of the
/// truth column and the two comparison distance files it writes for its plots (`GeodesicDirOptions` with `input`,
/// `record_periodic` and `comparison_arrays`, which the CLI leaves off so that its output stays as it was).
const DEMO_ONLY: [&str; 5] =
    ["/input", "/periodic", "/periodic/spin", "/files/geodesic_euclidean", "/files/pixel_distances"];

/// Every key path of `v` (array elements as `[]`), without the stages under `timings_seconds` (which differ by
/// what each front end times).
fn key_paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{prefix}/{k}");
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

fn keys(path: &Path) -> BTreeSet<String> {
    let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut out = BTreeSet::new();
    key_paths(&v, "", &mut out);
    out
}

fn imanifold(args: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_imanifold")).arg("--quiet").args(args).output().unwrap();
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn cli_and_demo_geodesic_results_share_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let p = |s: &str| dir.path().join(s).to_str().unwrap().to_string();

    // The CLI on a small turntable set, as the demo runs it (--truth spin --periodic spin=360).
    imanifold(&[
        "render",
        "--scene",
        "turntable",
        "--vary",
        "spin",
        "--n",
        "16",
        "--size",
        "32",
        "--gray",
        "--out",
        &p("tt"),
    ]);
    imanifold(&["geodesic", &p("tt"), "--k", "4", "--truth", "spin", "--periodic", "spin=360", "--out", &p("geo")]);

    // The demo's geodesic stage alone, on a set of the same size.
    let mut cfg = demo::Config::quick(0);
    cfg.stages = vec![demo::Stage::Geodesic];
    (cfg.geo_n, cfg.geo_size, cfg.geo_k) = (16, 32, 4);
    demo::run(&cfg, &dir.path().join("demo")).unwrap();
    let demo_geo = dir.path().join("demo").join(demo::Stage::Geodesic.folder()).join("geodesic");

    let cli = keys(&dir.path().join("geo").join("results.json"));
    let demo = keys(&demo_geo.join("results.json"));
    assert!(cli.contains("/correlation/euclidean_graph/spearman") && cli.contains("/embedding/eigenvalues"));
    let missing: Vec<_> = cli.difference(&demo).collect();
    assert!(missing.is_empty(), "keys of the CLI's results.json missing in the demo's: {missing:?}");
    let extra: BTreeSet<&str> = demo.difference(&cli).map(String::as_str).collect();
    assert_eq!(extra, BTreeSet::from(DEMO_ONLY), "the demo's additions");
    for f in ["geodesic.npy", "edges.csv", "embedding.csv"] {
        assert!(dir.path().join("geo").join(f).is_file() && demo_geo.join(f).is_file(), "{f}");
    }
}
