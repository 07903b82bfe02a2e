//! `imanifold score --features MODEL[:LAYER,…]` through the binary: the columns per layer × score, the groups'
//! AUROCs and the combination in results.json, and refusals (unknown layer, image size ≠ the model's input).

mod common;

use std::path::{Path, PathBuf};

use common::{ok, read_json, refused, s};

fn render(dir: &Path, name: &str, n: usize, size: usize, seed: u64) -> PathBuf {
    common::render(dir, name, "shapes10", "yaw,pitch,light_azimuth", n, size, seed, &[])
}

/// A query folder: the first `n_natural` renders of `natural` (group `natural`) and `n_noise` uniform-noise images
/// (group `noise`), with a `file,group` manifest.
fn queries(dir: &Path, natural: &Path, n_natural: usize, n_noise: usize, size: u32) -> PathBuf {
    let q = dir.join("queries");
    std::fs::create_dir_all(q.join("natural")).unwrap();
    std::fs::create_dir_all(q.join("noise")).unwrap();
    let mut manifest = String::from("file,group\n");
    for i in 0..n_natural {
        let f = format!("natural/{i:04}.png");
        std::fs::copy(natural.join(format!("images/{i:06}.png")), q.join(&f)).unwrap();
        manifest += &format!("{f},natural\n");
    }
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for i in 0..n_noise {
        let img = image::RgbImage::from_fn(size, size, |_, _| {
            let mut px = [0u8; 3];
            for p in &mut px {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *p = (state >> 56) as u8;
            }
            image::Rgb(px)
        });
        let f = format!("noise/{i:04}.png");
        img.save(q.join(&f)).unwrap();
        manifest += &format!("{f},noise\n");
    }
    std::fs::write(q.join("manifest.csv"), manifest).unwrap();
    q
}

#[test]
fn feature_scores_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let train = render(dir, "train", 300, 16, 1);
    let held = render(dir, "held", 40, 16, 2);
    let model = dir.join("model");
    ok(&["classifier", "train", "--data", s(&train), "--out", s(&model), "--epochs", "4"]);
    let q = queries(dir, &held, 40, 30, 16);

    let out = dir.join("feat");
    let v = ok(&[
        "score",
        "--reference",
        s(&train),
        "--query",
        s(&q),
        "--features",
        s(&model),
        "--groups",
        "group",
        "--k",
        "10",
        "--json",
        "--out",
        s(&out),
    ]);
    assert_eq!(v["mode"], "features");
    let layers: Vec<&str> = v["layers"].as_array().unwrap().iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(layers, ["conv1", "conv2", "conv3", "hidden"], "default: every hidden layer");
    assert_eq!(v["layers"][3]["d"], 64);
    assert_eq!(v["methods"], serde_json::json!(["knn", "tangent", "lid", "mahalanobis", "softmax"]));
    let csv = std::fs::read_to_string(out.join("scores.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    assert_eq!(header.len(), 2 + 2 * (4 * 5 + 1), "{header:?}");
    assert_eq!(header[2 + 4 * 5], "logits.softmax");
    // The softmax score is −ln of the confidence `classifier eval` reports for the same renders.
    let eval = dir.join("eval");
    ok(&["classifier", "eval", "--model", s(&model), "--data", s(&held), "--out", s(&eval)]);
    let soft: ndarray::Array1<f64> = ndarray_npy::read_npy(out.join("logits.softmax.npy")).unwrap();
    let predictions = std::fs::read_to_string(eval.join("predictions.csv")).unwrap();
    for (i, line) in predictions.lines().skip(1).take(40).enumerate() {
        let confidence: f64 = line.rsplit(',').next().unwrap().parse().unwrap();
        assert!((soft[i] + confidence.ln()).abs() < 1e-5, "row {i}: softmax {} vs confidence {confidence}", soft[i]);
    }
    assert!(soft.iter().all(|&v| (0.0..=10f64.ln() + 1e-9).contains(&v)), "−ln max p lies in [0, ln 10]");
    assert_eq!(
        &header[..7],
        ["file", "group", "conv1.knn_kth", "conv1.knn_mean", "conv1.tangent", "conv1.lid", "conv1.mahalanobis"]
    );
    assert_eq!(csv.lines().count(), 71);
    let hidden_kth: ndarray::Array1<f64> = ndarray_npy::read_npy(out.join("hidden.knn_kth.npy")).unwrap();
    assert_eq!(hidden_kth.len(), 70);
    let noise = &v["groups"]["groups"][1];
    assert_eq!(noise["name"], "noise");
    for col in ["hidden.mahalanobis", "conv1.knn_kth", "hidden.knn_kth"] {
        let a = noise["auroc"][col].as_f64().unwrap();
        assert!(a >= 0.95, "{col}: noise AUROC {a}");
    }
    // Natural held-out renders are typical: median percentile of the hidden kNN distance well below 0.99.
    let nat = v["groups"]["groups"][0]["percentiles"]["hidden.knn_kth"]["median"].as_f64().unwrap();
    assert!(nat < 0.9, "natural median percentile {nat}");
    let comb = &v["combination"]["groups"][0];
    assert_eq!(comb["group"], "noise");
    assert_eq!(comb["n_train"], serde_json::json!([15, 20]));
    assert!(comb["auroc_test"].as_f64().unwrap() >= 0.95, "{comb}");
    assert!(out.join("combination.csv").is_file());
    assert_eq!(read_json(&out.join("results.json"))["features"], s(&model));

    // One layer, one method.
    let out2 = dir.join("feat_hidden");
    let spec = format!("{}:hidden", s(&model));
    let v = ok(&[
        "score",
        "--reference",
        s(&train),
        "--query",
        s(&q),
        "--features",
        &spec,
        "--methods",
        "mahalanobis",
        "--k",
        "10",
        "--json",
        "--out",
        s(&out2),
    ]);
    assert_eq!(v["layers"].as_array().unwrap().len(), 1);
    let m2: ndarray::Array1<f64> = ndarray_npy::read_npy(out2.join("hidden.mahalanobis.npy")).unwrap();
    let m1: ndarray::Array1<f64> = ndarray_npy::read_npy(out.join("hidden.mahalanobis.npy")).unwrap();
    assert_eq!(m1, m2, "a layer's scores do not depend on the other layers");

    // Refusals: exit 2, one line naming the cause, nothing written.
    let bad = dir.join("bad");
    let spec = format!("{}:conv2,conv7", s(&model));
    refused(
        &["score", "--reference", s(&train), "--query", s(&q), "--features", &spec, "--out", s(&bad)],
        &bad,
        "conv7",
    );
    let small = render(dir, "small", 20, 12, 3);
    refused(
        &["score", "--reference", s(&small), "--query", s(&small), "--features", s(&model), "--out", s(&bad)],
        &bad,
        "12",
    );
    refused(
        &[
            "score",
            "--reference",
            s(&train),
            "--query",
            s(&q),
            "--features",
            s(&model),
            "--methods",
            "flow",
            "--out",
            s(&bad),
        ],
        &bad,
        "flow",
    );
    for (noise, methods, word) in [("nan", "mahalanobis", "mahalanobis noise"), ("0.01", "knn", "mahalanobis")] {
        refused(
            &[
                "score",
                "--reference",
                s(&train),
                "--query",
                s(&q),
                "--features",
                s(&model),
                "--methods",
                methods,
                "--mahalanobis-noise",
                noise,
                "--out",
                s(&bad),
            ],
            &bad,
            word,
        );
    }
}
