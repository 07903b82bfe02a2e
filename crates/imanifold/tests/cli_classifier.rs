//! End to end through the real binary: render shapes10 → classifier train → eval → fool → adversarial, the files
//! and JSON fields each step promises, and bad input (exit code 2, a message naming the cause, nothing written).

mod common;

use std::path::{Path, PathBuf};

use common::{ok, read_json, refused, s};

fn csv_rows(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r.records().map(|rec| rec.unwrap().iter().map(str::to_string).collect()).collect();
    (header, rows)
}

/// A labelled shapes10 set with yaw, pitch and light free.
fn render(dir: &Path, name: &str, n: usize, size: usize, seed: u64) -> PathBuf {
    common::render(dir, name, "shapes10", "yaw,pitch,light_azimuth", n, size, seed, &[])
}

#[test]
fn render_train_eval_fool_attack() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let train = render(dir, "train", 400, 16, 1);
    let test = render(dir, "test", 100, 16, 2);

    // Train: model folder, class names from the render's scene (not the numeric label column).
    let model = dir.join("model");
    let v = ok(&["classifier", "train", "--data", s(&train), "--out", s(&model), "--epochs", "4", "--json"]);
    for f in ["model.safetensors", "config.json", "results.json", "training.csv"] {
        assert!(model.join(f).is_file(), "{f} missing");
    }
    let classes: Vec<String> = serde_json::from_value(v["classes"].clone()).unwrap();
    assert_eq!(classes.len(), 10, "{classes:?}");
    assert_eq!(classes[0], "cube");
    assert_eq!(read_json(&model.join("config.json"))["format"], "imanifold-classifier/v1");
    assert_eq!(v["n_train"].as_u64().unwrap() + v["n_validation"].as_u64().unwrap(), 400);
    let (header, rows) = csv_rows(&model.join("training.csv"));
    assert_eq!(header, ["epoch", "loss", "train_accuracy", "validation_accuracy", "seconds"]);
    assert_eq!(rows.len(), 4);

    // Eval on held-out renders: `accuracy` in the printed JSON and in results.json.
    let eval_out = dir.join("eval");
    let v = ok(&["classifier", "eval", "--model", s(&model), "--data", s(&test), "--out", s(&eval_out), "--json"]);
    let accuracy = v["accuracy"].as_f64().unwrap();
    assert!(accuracy >= 0.8, "held-out accuracy {accuracy} after 4 epochs on 320 renders");
    assert_eq!(read_json(&eval_out.join("results.json"))["accuracy"], v["accuracy"]);
    let (_, confusion) = csv_rows(&eval_out.join("confusion.csv"));
    assert_eq!(confusion.len(), 10);
    let (_, predictions) = csv_rows(&eval_out.join("predictions.csv"));
    assert_eq!(predictions.len(), 100);

    // Fooling images, both evolutionary encodings: one PNG per class, a manifest the loaders read, a gallery.
    for method in ["evolve-direct", "evolve-cppn"] {
        let out = dir.join(method);
        let v =
            ok(&["fool", "--model", s(&model), "--method", method, "--generations", "300", "--out", s(&out), "--json"]);
        assert_eq!(v["n_classes"], 10);
        assert_eq!(v["all_reached"], true, "{method}: {v}");
        assert!(v["min_confidence"].as_f64().unwrap() >= 0.99);
        assert!(out.join("gallery.png").is_file() && out.join("fooling.npy").is_file());
        let (header, rows) = csv_rows(&out.join("manifest.csv"));
        assert_eq!(&header[..5], ["file", "class", "confidence", "method", "generation"]);
        assert_eq!(rows.len(), 10);
        for row in &rows {
            assert!(out.join(&row[0]).is_file(), "{}", row[0]);
            assert_eq!(row[3], method);
        }
        // The confidences refer to the PNGs as written (up to float rounding between batch sizes).
        for c in v["per_class"].as_array().unwrap() {
            let (a, b) = (c["confidence"].as_f64().unwrap(), c["confidence_png"].as_f64().unwrap());
            assert!((a - b).abs() < 1e-5, "{c}");
        }
    }

    // PGD at the default budget, with the random baseline.
    let adv = dir.join("adv");
    let v =
        ok(&["adversarial", "--model", s(&model), "--data", s(&test), "--method", "pgd", "--out", s(&adv), "--json"]);
    let flip = v["flip_rate"].as_f64().unwrap();
    let (rl2, rlinf) = (v["random_flip_rate_l2"].as_f64().unwrap(), v["random_flip_rate_linf"].as_f64().unwrap());
    assert!(flip >= 0.9, "PGD flip rate {flip}");
    assert!(rl2 < 0.1 * flip && rlinf < 0.1 * flip, "random {rl2} / {rlinf} vs {flip}");
    assert!(v["median_linf"].as_f64().unwrap() <= 8.0 / 255.0 + 1e-6);
    assert_eq!(read_json(&adv.join("results.json"))["flip_rate"], v["flip_rate"]);
    let (header, pairs) = csv_rows(&adv.join("pairs.csv"));
    assert_eq!(header, ["clean", "perturbed"]);
    assert_eq!(pairs.len() as u64, v["n_flipped"].as_u64().unwrap());
    for p in &pairs {
        assert!(adv.join(&p[0]).is_file() && adv.join(&p[1]).is_file());
    }
    let (_, per_image) = csv_rows(&adv.join("adversarial.csv"));
    assert_eq!(per_image.len() as u64, v["n_correct"].as_u64().unwrap());

    // On-manifold PGD in the training renders' tangent spaces: plain PGD's rate beside it is the run above.
    let om = dir.join("om");
    let w = ok(&[
        "adversarial",
        "--model",
        s(&model),
        "--data",
        s(&test),
        "--method",
        "on-manifold",
        "--reference",
        s(&train),
        "--out",
        s(&om),
        "--json",
    ]);
    assert_eq!(w["method"], "on-manifold");
    assert_eq!(w["pgd_flip_rate"], v["flip_rate"], "plain PGD on the same images at the same budget");
    let t = &w["tangent"];
    let (k, d) = (t["k"].as_u64().unwrap(), t["dim"].as_u64().unwrap());
    assert!(k == 20 && (1..k).contains(&d), "{t}");
    assert_eq!(t["dim"].as_f64().unwrap(), t["estimated_dim"].as_f64().unwrap().round().max(1.0));
    let on = w["flip_rate"].as_f64().unwrap();
    assert!(w["median_linf"].is_null() || w["median_linf"].as_f64().unwrap() <= 8.0 / 255.0 + 1e-6);
    let (header, per_image) = csv_rows(&om.join("adversarial.csv"));
    let col = header.iter().position(|h| h == "off_tangent_fraction").unwrap();
    for row in per_image.iter().filter(|r| r[7] == "true") {
        let f: f64 = row[col].parse().unwrap();
        assert!((0.0..=1.0).contains(&f), "{row:?}");
    }
    eprintln!("on-manifold flip rate {on} vs PGD {flip}");
}

#[test]
fn bad_input_exits_2_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let train = render(dir, "train", 60, 8, 1);
    let model = dir.join("model");
    ok(&["classifier", "train", "--data", s(&train), "--out", s(&model), "--epochs", "1", "--channels", "4,4"]);
    let other = render(dir, "other", 5, 12, 3);

    let check = refused;
    // Certified training: impossible budgets and schedules are refused before anything is written; a valid one
    // records its settings and the certified accuracies.
    let out = dir.join("cert");
    for (flag, value, msg) in [
        ("--certified-eps", "nan", "certified"),
        ("--certified-eps", "2", "certified"),
        ("--certified-kappa", "1.5", "certified kappa"),
        ("--certified-warmup", "0.8", "certified"),
    ] {
        let mut args = vec!["classifier", "train", "--data", s(&train), "--out", s(&out), "--epochs", "1"];
        if flag != "--certified-eps" {
            args.extend(["--certified-eps", "2/255"]);
        }
        args.extend([flag, value]);
        // Exit 2, one message line (clap's usage errors add a "For more information" hint), nothing written.
        let o = common::run(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        let lines = err.lines().filter(|l| !l.trim().is_empty() && !l.starts_with("For more information")).count();
        assert_eq!((o.status.code(), lines), (Some(2), 1), "{args:?}: {err}");
        assert!(err.contains(msg) && !err.contains("panicked"), "{args:?}: {err}");
        assert!(!out.exists(), "{args:?} left {}", out.display());
    }
    let v = ok(&[
        "classifier",
        "train",
        "--data",
        s(&train),
        "--out",
        s(&out),
        "--epochs",
        "2",
        "--channels",
        "4,4",
        "--certified-eps",
        "2/255",
        "--json",
    ]);
    assert!((v["certified_training"]["eps"].as_f64().unwrap() - 2.0 / 255.0).abs() < 1e-12, "{v}");
    let (header, _) = csv_rows(&out.join("training.csv"));
    assert!(header.iter().any(|h| h.starts_with("certified")), "{header:?}");
    // Images of another size than the model's: the message says how to make them fit.
    let out = dir.join("adv");
    check(
        &["adversarial", "--model", s(&model), "--data", s(&other), "--method", "pgd", "--out", s(&out)],
        &out,
        "--resize 8x8",
    );
    // The on-manifold attack needs a reference of the model's shape, and only it takes one.
    let out = dir.join("om");
    let base = ["adversarial", "--model", s(&model), "--data", s(&train), "--out", s(&out)];
    let with = |extra: &[&'static str]| -> Vec<String> {
        base.iter().map(|a| a.to_string()).chain(extra.iter().map(|a| a.to_string())).collect()
    };
    let t = s(&train).to_string();
    let o = s(&other).to_string();
    for (args, msg) in [
        (with(&["--method", "on-manifold"]), "--reference"),
        (
            with(&["--method", "pgd", "--reference"]).into_iter().chain([t.clone()]).collect(),
            "only by --method on-manifold",
        ),
        (with(&["--method", "pgd", "--tangent-dim", "3"]), "--tangent-k and --tangent-dim"),
        (
            with(&["--method", "on-manifold", "--tangent-dim", "20", "--reference"])
                .into_iter()
                .chain([t.clone()])
                .collect(),
            "tangent dim",
        ),
        (with(&["--method", "on-manifold", "--reference"]).into_iter().chain([o.clone()]).collect(), "--resize 8x8"),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        check(&args, &out, msg);
    }
    // Unknown class for fooling.
    let out = dir.join("fool");
    check(
        &["fool", "--model", s(&model), "--method", "evolve-direct", "--classes", "giraffe", "--out", s(&out)],
        &out,
        "giraffe",
    );
    // Corrupt weights file.
    let broken = dir.join("broken");
    std::fs::create_dir(&broken).unwrap();
    std::fs::copy(model.join("config.json"), broken.join("config.json")).unwrap();
    std::fs::write(broken.join("model.safetensors"), b"not a safetensors file").unwrap();
    let out = dir.join("eval");
    check(
        &["classifier", "eval", "--model", s(&broken), "--data", s(&train), "--out", s(&out)],
        &out,
        "model.safetensors",
    );
    // Training data without labels.
    let out = dir.join("model2");
    check(&["classifier", "train", "--data", s(&train), "--label-column", "colour", "--out", s(&out)], &out, "colour");
}
