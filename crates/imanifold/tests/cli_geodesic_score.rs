//! `imanifold geodesic` and `imanifold score` through the binary: outputs, figures, and bad input (exit 2, no output).

mod common;

use std::path::Path;

use common::{ok as ok_json, run};

fn render(dir: &Path, scene: &str, n: &str, size: &str, seed: &str) -> String {
    let vary = if scene == "turntable" { "spin" } else { "yaw" };
    let name = format!("{scene}_{n}_{size}_{seed}");
    let (n, size, seed) = (n.parse().unwrap(), size.parse().unwrap(), seed.parse().unwrap());
    common::render(dir, &name, scene, vary, n, size, seed, &["--gray"]).to_str().unwrap().to_string()
}

#[test]
fn geodesic_and_score_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let reference = render(dir.path(), "turntable", "60", "32", "1");
    let held_out = render(dir.path(), "turntable", "12", "32", "2");
    let other = render(dir.path(), "object", "12", "32", "3");
    let small = render(dir.path(), "turntable", "5", "24", "4");

    // geodesic: files, sizes, and flow geodesics that follow the angle
    let geo = dir.path().join("geo");
    let v = ok_json(&[
        "geodesic",
        &reference,
        "--k",
        "6",
        "--truth",
        "spin",
        "--periodic",
        "spin=360",
        "--json",
        "--out",
        geo.to_str().unwrap(),
    ]);
    let g: ndarray::Array2<f32> = ndarray_npy::read_npy(geo.join("geodesic.npy")).unwrap();
    assert_eq!(g.dim(), (60, 60));
    assert!(geo.join("edges.csv").is_file() && geo.join("embedding.csv").is_file());
    assert_eq!(v["schema"], "imanifold/geodesic/v1");
    let flow = v["correlation"]["flow"]["spearman"].as_f64().unwrap();
    let pixel = v["correlation"]["pixel"]["spearman"].as_f64().unwrap();
    assert!(flow > 0.8 && flow > pixel, "flow {flow}, pixel {pixel}");
    // The graph's construction and diagnostics: the default graph, connected.
    assert_eq!(v["graph"]["kind"], geodesic::DEFAULT_GRAPH.to_string());
    assert_eq!((v["graph"]["components_before"].as_u64(), v["graph"]["components_after"].as_u64()), (Some(1), Some(1)));
    assert!(v["graph"]["diagnostics"]["eigenvalue_ratio"].as_f64().unwrap() > 0.0);

    // geodesic --path: the path between two images by file name, its frames and the parameter error
    let gp = dir.path().join("geo_path");
    let ids = csv::Reader::from_path(Path::new(&reference).join("manifest.csv"))
        .unwrap()
        .records()
        .map(|r| r.unwrap()[0].to_string())
        .collect::<Vec<_>>();
    let ends = format!("{},{}", ids[0], ids[7]);
    let w = ok_json(&[
        "geodesic",
        &reference,
        "--k",
        "6",
        "--truth",
        "spin",
        "--periodic",
        "spin=360",
        "--sources",
        "0",
        "--dims",
        "0",
        "--path",
        &ends,
        "--path-frames",
        "1",
        "--json",
        "--out",
        gp.to_str().unwrap(),
    ]);
    let p = &w["path"];
    let nodes: Vec<u64> = serde_json::from_value(p["nodes"].clone()).unwrap();
    assert_eq!((nodes[0], *nodes.last().unwrap()), (0, 7));
    assert_eq!(p["frames"].as_u64().unwrap() as usize, 2 * nodes.len() - 1);
    assert_eq!(p["parameter_error"][0]["column"], "spin");
    let frames = csv::Reader::from_path(gp.join("path/path.csv")).unwrap().records().count();
    assert_eq!(frames, 2 * nodes.len() - 1);
    assert!(gp.join("path/0000.png").is_file());

    // geodesic: unknown truth column, bad path endpoints → exit 2 naming the cause, nothing written
    let bad = dir.path().join("geo_bad");
    for (args, needle) in [
        (vec!["--truth", "nope"], "nope"),
        (vec!["--path", "0,nope.png"], "nope.png"),
        (vec!["--path", "0,60"], "out of range"),
        (vec!["--path", "3"], "I,J"),
        (vec!["--path-frames", "2"], "--path"),
        (vec!["--path", "0,1", "--path-frames", "101"], "path frames"),
    ] {
        let mut a = vec!["geodesic", reference.as_str(), "--out", bad.to_str().unwrap()];
        a.extend(args);
        let o = run(&a);
        assert_eq!(o.status.code(), Some(2), "{a:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains(needle), "{a:?}: {}", String::from_utf8_lossy(&o.stderr));
        assert!(!bad.exists(), "{a:?}");
    }

    // score: held-out renders look natural, another scene does not
    let score = |query: &str, out: &str| {
        ok_json(&[
            "score",
            "--reference",
            &reference,
            "--query",
            query,
            "--methods",
            "knn,tangent,lid",
            "--k",
            "8",
            "--json",
            "--out",
            dir.path().join(out).to_str().unwrap(),
        ])
    };
    score(&held_out, "s_nat");
    score(&other, "s_other");
    let pct = |out: &str| -> f64 {
        let p: ndarray::Array1<f64> = ndarray_npy::read_npy(dir.path().join(out).join("knn_kth_pct.npy"))
            .or_else(|_| {
                ndarray_npy::read_npy::<_, ndarray::Array1<f32>>(dir.path().join(out).join("knn_kth_pct.npy"))
                    .map(|a| a.mapv(f64::from))
            })
            .unwrap();
        let mut v = p.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    assert!(dir.path().join("s_nat/scores.csv").is_file());
    let (nat, oth) = (pct("s_nat"), pct("s_other"));
    assert!(nat < 0.9 && oth >= 0.99, "median knn percentile: held-out {nat}, other scene {oth}");

    // score: image size mismatch → exit 2, no scores
    let out = dir.path().join("s_bad");
    let o = run(&["score", "--reference", &reference, "--query", &small, "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!out.join("scores.csv").exists());
}
