//! The CLI and the demo write each stage's output folder with the same library writer, so their results.json files
//! have the same schema (the same key paths; values differ with the data). One test per stage that both front ends
//! run: dimension, geodesics, off-manifold scores, the stability sweep. Each runs the demo's stage alone on small sets, then the CLI on
//! the same kind of input.

mod common;

use std::collections::BTreeSet;

use common::{imanifold, ok, read_json, schema_keys};

/// Objects whose keys are named by the run (estimator labels, estimator parameters, estimator-specific extras):
/// only their presence belongs to the schema.
const NAMED_BY_THE_RUN: [&str; 3] = ["files", "params", "extra"];

/// What the demo's geodesic/results.json records beyond the CLI's: the rendered input folder, the periods of the
/// truth column and the two comparison distance files it writes for its plots (`GeodesicDirOptions` with `input`,
/// `record_periodic` and `comparison_arrays`, which the CLI leaves off so that its output stays as it was).
const DEMO_ONLY: [&str; 5] =
    ["/input", "/periodic", "/periodic/spin", "/files/geodesic_euclidean", "/files/pixel_distances"];

#[test]
fn cli_and_demo_dim_folders_share_one_schema() {
    let dir = tempfile::tempdir().unwrap();
    // The demo's stage 1 alone, on small sets.
    let cfg = demo::Config {
        stages: vec![demo::Stage::Dimension],
        dim_n: 60,
        dim_size: 12,
        dim_bootstrap: 2,
        dim_curve_k: vec![5, 8],
        ..demo::Config::quick(1)
    };
    output::set_quiet(true);
    let demo_out = dir.path().join("demo");
    demo::run(&cfg, &demo_out).unwrap();
    let set = demo_out.join(demo::Stage::Dimension.folder()).join("set2");
    let demo_keys = schema_keys(&read_json(&set.join("dim/results.json")), &NAMED_BY_THE_RUN);

    // The CLI on the demo's own render of that set, with the demo's estimators and a scale range.
    let out = dir.path().join("cli");
    let o = imanifold()
        .args(["--quiet", "dim"])
        .arg(set.join("render"))
        .args(["--estimator", "mle", "--estimator", "twonn", "--estimator", "lpca", "--estimator", "imanifold"])
        .args(["--k-range", "5:8", "--bootstrap", "2", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cli_keys = schema_keys(&read_json(&out.join("results.json")), &NAMED_BY_THE_RUN);

    assert!(cli_keys.contains("/estimates[]/label") && cli_keys.contains("/timings_seconds/knn"), "{cli_keys:?}");
    let only_cli: Vec<_> = cli_keys.difference(&demo_keys).collect();
    let only_demo: Vec<_> = demo_keys.difference(&cli_keys).collect();
    assert!(
        only_cli.is_empty() && only_demo.is_empty(),
        "only in the CLI's: {only_cli:?}; only in the demo's: {only_demo:?}"
    );
}

#[test]
fn cli_and_demo_geodesic_results_share_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let p = |s: &str| dir.path().join(s).to_str().unwrap().to_string();

    // The CLI on a small turntable set, as the demo runs it (--truth spin --periodic spin=360).
    ok(&["render", "--scene", "turntable", "--vary", "spin", "--n", "16", "--size", "32", "--gray", "--out", &p("tt")]);
    ok(&["geodesic", &p("tt"), "--k", "4", "--truth", "spin", "--periodic", "spin=360", "--out", &p("geo")]);

    // The demo's geodesic stage alone, on a set of the same size.
    let mut cfg = demo::Config::quick(0);
    cfg.stages = vec![demo::Stage::Geodesic];
    (cfg.geo_n, cfg.geo_size, cfg.geo_k) = (16, 32, 4);
    demo::run(&cfg, &dir.path().join("demo")).unwrap();
    let demo_geo = dir.path().join("demo").join(demo::Stage::Geodesic.folder()).join("geodesic");

    let cli = schema_keys(&read_json(&dir.path().join("geo").join("results.json")), &["timings_seconds"]);
    let demo = schema_keys(&read_json(&demo_geo.join("results.json")), &["timings_seconds"]);
    assert!(cli.contains("/correlation/euclidean_graph/spearman") && cli.contains("/embedding/eigenvalues"));
    let missing: Vec<_> = cli.difference(&demo).collect();
    assert!(missing.is_empty(), "keys of the CLI's results.json missing in the demo's: {missing:?}");
    let extra: BTreeSet<&str> = demo.difference(&cli).map(String::as_str).collect();
    assert_eq!(extra, BTreeSet::from(DEMO_ONLY), "the demo's additions");
    for f in ["geodesic.npy", "edges.csv", "embedding.csv"] {
        assert!(dir.path().join("geo").join(f).is_file() && demo_geo.join(f).is_file(), "{f}");
    }
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
    let o = imanifold()
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

    let (a, b) = (schema_keys(&cli_json, &["timings_seconds"]), schema_keys(&demo_json, &["timings_seconds"]));
    assert!(a.contains("/groups/groups[]/auroc") && a.contains("/summary/flow/percentiles"), "{a:?}");
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

#[test]
fn cli_and_demo_stability_sweeps_agree() {
    output::set_quiet(true);
    let dir = tempfile::tempdir().unwrap();
    // A small stage 4 (two sizes, one budget, a short training).
    let cfg = demo::Config {
        stages: vec![demo::Stage::Stability],
        stability_sizes: vec![8, 12],
        stability_n_train: 300,
        stability_n_test: 8,
        stability_epochs: 2,
        stability_eps: vec![2.0 / 255.0],
        stability_pgd_steps: 5,
        stability_pgd_restarts: 1,
        stability_random_trials: 4,
        ..demo::Config::quick(5)
    };
    let out = dir.path().join("demo");
    demo::run(&cfg, &out).expect("demo stage 4");
    let stage = out.join(demo::Stage::Stability.folder());
    let demo_json = read_json(&stage.join("results.json"));

    // The CLI with the options and the seed the demo recorded writes the same figures and files.
    let cli_out = dir.path().join("cli");
    let seed = demo_json["seed"].as_u64().expect("seed").to_string();
    let o = imanifold()
        .args(["--quiet", "stability", "sweep", "--quick", "--sizes", "8,12", "--n-train", "300", "--n-test", "8"])
        .args(["--epochs", "2", "--eps", "2/255", "--pgd-steps", "5", "--pgd-restarts", "1", "--random-trials", "4"])
        .args(["--seed", &seed, "--out"])
        .arg(&cli_out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cli_json = read_json(&cli_out.join("results.json"));
    let (a, b) = (schema_keys(&cli_json, &["timings_seconds"]), schema_keys(&demo_json, &["timings_seconds"]));
    assert!(a.contains("/fits[]/slope") && a.contains("/sizes[]/eps[]/stable_lower"), "{a:?}");
    assert_eq!(a, b, "the same schema");
    for k in ["options", "sizes", "fits", "files", "classes"] {
        assert_eq!(cli_json[k], demo_json[k], "{k}");
    }
    let csv = |d: &std::path::Path| std::fs::read_to_string(d.join("per_size.csv")).unwrap();
    assert_eq!(csv(&cli_out), csv(&stage));
}
