mod common;

use classifier::train::accuracy;
use classifier::{Classifier, ClassifierError};
use ndarray::Array2;

#[test]
fn trains_to_high_held_out_accuracy() {
    let m = common::model();
    let t = common::test_data();
    let acc = accuracy(m, t.data.view(), &t.labels).unwrap();
    assert!(acc >= 0.95, "held-out accuracy {acc}");
    let info = m.config().training.as_ref().unwrap();
    assert!(info.validation_accuracy.unwrap() >= 0.9, "{info:?}");
}

/// Central differences of log p(class | x) against the autograd input gradient (checks the strided convolutions'
/// backward pass, which is what attacks rely on).
#[test]
fn input_gradient_matches_finite_differences() {
    let m = common::model();
    let t = common::test_data();
    let x = t.data.slice(ndarray::s![0..4, ..]).to_owned();
    // Not the predicted class: a gradient that is not saturated.
    let classes: Vec<usize> = (0..4).map(|i| (t.labels[i] + 1) % m.n_classes()).collect();
    let (_, grad, _) = m.log_prob_grad(x.view(), &classes).unwrap();
    let h = 5e-4f32;
    let (mut checked, mut agree) = (0, 0);
    for i in 0..4 {
        for j in (0..x.ncols()).step_by(13) {
            let mut xp = x.row(i).to_owned().insert_axis(ndarray::Axis(0));
            let mut xm = xp.clone();
            xp[[0, j]] += h;
            xm[[0, j]] -= h;
            let (lp, _, _) = m.log_prob_grad(xp.view(), &classes[i..i + 1]).unwrap();
            let (lm, _, _) = m.log_prob_grad(xm.view(), &classes[i..i + 1]).unwrap();
            let fd = (lp[0] as f64 - lm[0] as f64) / (2.0 * h as f64);
            let g = grad[[i, j]] as f64;
            checked += 1;
            // A ReLU kink within ±h makes a single coordinate differ; those are rare.
            if (fd - g).abs() <= 0.03 * fd.abs().max(g.abs()) + 3e-3 {
                agree += 1;
            }
        }
        // Directional derivative along the normalised gradient equals the gradient norm.
        let gi = grad.row(i).to_owned();
        let gn = gi.dot(&gi).sqrt();
        let step = 1e-3f32;
        let xp = (&x.row(i) + &(&gi * (step / gn))).insert_axis(ndarray::Axis(0));
        let xm = (&x.row(i) - &(&gi * (step / gn))).insert_axis(ndarray::Axis(0));
        let (lp, _, _) = m.log_prob_grad(xp.view(), &classes[i..i + 1]).unwrap();
        let (lm, _, _) = m.log_prob_grad(xm.view(), &classes[i..i + 1]).unwrap();
        let dd = (lp[0] - lm[0]) / (2.0 * step);
        assert!((dd - gn).abs() <= 0.05 * gn, "row {i}: directional derivative {dd} vs gradient norm {gn}");
    }
    assert!(agree as f64 >= 0.9 * checked as f64, "only {agree} of {checked} pixels agree with finite differences");
    // The gradient must not be (nearly) zero: a 16× too small backward would still pass a sign check.
    let norm: f32 = grad.iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!(norm > 1e-2, "gradient norm {norm}");
}

#[test]
fn save_load_round_trip_and_bad_files() {
    let m = common::model();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model");
    m.save(&path).unwrap();
    let back = Classifier::load(&path).unwrap();
    assert_eq!(back.config(), m.config());
    let x = common::test_data().data.slice(ndarray::s![0..10, ..]).to_owned();
    assert_eq!(back.predict_proba(x.view()).unwrap(), m.predict_proba(x.view()).unwrap());
    // Loading via the config file path works too.
    Classifier::load(&path.join("config.json")).unwrap();

    // Corrupt weights file.
    let weights = path.join("model.safetensors");
    let good = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &good[..good.len() / 2]).unwrap();
    let err = Classifier::load(&path).unwrap_err();
    assert!(matches!(err, ClassifierError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("model.safetensors"), "{err}");
    std::fs::write(&weights, &good).unwrap();

    // Config that no longer matches the weights (size mismatch).
    let cfg_path = path.join("config.json");
    let mut cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    cfg["architecture"]["hidden"] = serde_json::json!(33);
    std::fs::write(&cfg_path, serde_json::to_string(&cfg).unwrap()).unwrap();
    let err = Classifier::load(&path).unwrap_err();
    assert!(matches!(err, ClassifierError::WeightsMismatch { .. }), "{err}");
    assert!(err.to_string().contains("fc0.weight"), "{err}");

    // Garbage config.
    std::fs::write(&cfg_path, "{not json").unwrap();
    let err = Classifier::load(&path).unwrap_err();
    assert!(matches!(err, ClassifierError::Corrupt { .. }) && err.to_string().contains("config.json"), "{err}");

    // Missing model.
    let err = Classifier::load(&dir.path().join("nope")).unwrap_err();
    assert!(matches!(err, ClassifierError::Io { .. }), "{err}");
}

#[test]
fn bad_inputs_give_clear_errors() {
    let m = common::model();
    let err = m.predict_proba(Array2::<f32>::zeros((2, 100)).view()).unwrap_err();
    assert!(err.to_string().contains("256"), "{err}");
    let err = m.check_shape(classifier::ImageShape::new(32, 32, 3)).unwrap_err();
    assert!(matches!(err, ClassifierError::ShapeMismatch { .. }), "{err}");
    let err = m.class_index("giraffe").unwrap_err();
    assert!(err.to_string().contains("giraffe") && err.to_string().contains("checker"), "{err}");
    let err = m.log_prob_grad(Array2::<f32>::zeros((1, 256)).view(), &[99]).unwrap_err();
    assert!(matches!(err, ClassifierError::ClassIndex { index: 99, .. }), "{err}");

    let d = common::train_data();
    let opts = common::small_options(1);
    let err = classifier::train(d.data.view(), d.shape, &d.labels[1..], &d.classes, &opts, |_| ()).unwrap_err();
    assert!(err.to_string().contains("labels"), "{err}");
    let mut bad = d.labels.clone();
    bad[3] = 17;
    let err = classifier::train(d.data.view(), d.shape, &bad, &d.classes, &opts, |_| ()).unwrap_err();
    assert!(err.to_string().contains("row 3"), "{err}");
    let mut nan = d.data.clone();
    nan[[5, 0]] = f32::NAN;
    let err = classifier::train(nan.view(), d.shape, &d.labels, &d.classes, &opts, |_| ()).unwrap_err();
    assert!(err.to_string().contains("row 5"), "{err}");
}

#[test]
fn training_is_deterministic() {
    let d = common::train_data();
    let mut opts = common::small_options(3);
    opts.epochs = 1;
    let sub = d.data.slice(ndarray::s![0..120, ..]);
    let (a, _) = classifier::train(sub, d.shape, &d.labels[..120], &d.classes, &opts, |_| ()).unwrap();
    let (b, _) = classifier::train(sub, d.shape, &d.labels[..120], &d.classes, &opts, |_| ()).unwrap();
    assert_eq!(a.parameters().unwrap(), b.parameters().unwrap());
    opts.seed = 4;
    let (c, _) = classifier::train(sub, d.shape, &d.labels[..120], &d.classes, &opts, |_| ()).unwrap();
    assert_ne!(a.parameters().unwrap(), c.parameters().unwrap());
}

/// The channel-last im2col forward pass is the same function as candle's channel-first conv2d network, with the
/// flattened maps and with global average pooling.
#[test]
fn forward_matches_candle_conv2d_reference() {
    let d = common::train_data();
    let mut opts = common::small_options(7);
    opts.epochs = 1;
    opts.architecture.pool = classifier::model::Pooling::Global;
    let sub = d.data.slice(ndarray::s![0..60, ..]);
    let (pooled, _) = classifier::train(sub, d.shape, &d.labels[..60], &d.classes, &opts, |_| ()).unwrap();
    assert_eq!(pooled.config().architecture.pool, classifier::model::Pooling::Global);
    // fc0 sees one value per channel of the last convolution.
    let fc0 = &pooled.parameters().unwrap()[6];
    assert_eq!((fc0.0.as_str(), fc0.1.len()), ("fc0.weight", 32 * 16));
    for m in [common::model(), &pooled] {
        check_against_reference(m);
    }
}

fn check_against_reference(m: &classifier::Classifier) {
    let x = common::test_data().data.slice(ndarray::s![0..50, ..]).to_owned();
    let logits = classifier::model::forward_reference(m, x.view()).unwrap();
    let probs = m.predict_proba(x.view()).unwrap();
    for (l, p) in logits.rows().into_iter().zip(probs.rows()) {
        let max = l.fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let z: f32 = l.iter().map(|v| (v - max).exp()).sum();
        for (lv, pv) in l.iter().zip(p) {
            assert!(((lv - max).exp() / z - pv).abs() < 1e-5, "{} vs {pv}", (lv - max).exp() / z);
        }
    }
}

/// The `logits` tap is exactly the logits behind `predict_proba`, every tap has its layer's shape, and a batch
/// larger than the evaluation batch gives the same rows as one row at a time.
#[test]
fn activations_match_the_forward_pass() {
    use classifier::Layer;
    let m = common::model();
    let t = common::test_data();
    let n = 300.min(t.data.nrows());
    let x = t.data.slice(ndarray::s![..n, ..]);
    let layers = m.layers();
    let names: Vec<String> = layers.iter().map(|l| l.to_string()).collect();
    assert_eq!(names, ["conv1", "conv2", "conv3", "hidden", "logits"]);
    assert_eq!(m.hidden_layers(), layers[..4]);
    let acts = m.activations(x, &layers).unwrap();
    // conv1: stride 1 keeps 16×16 with 8 channels; conv2, conv3: stride 2 halves; hidden 32; logits = classes.
    let dims: Vec<(usize, usize)> = acts.iter().map(|a| a.dim()).collect();
    assert_eq!(dims, [(n, 16 * 16 * 8), (n, 8 * 8 * 16), (n, 4 * 4 * 16), (n, 32), (n, m.n_classes())]);
    for (l, a) in layers.iter().zip(&acts) {
        assert_eq!(m.layer_shape(*l).len(), a.ncols(), "{l}");
        if *l != Layer::Logits {
            assert!(a.iter().all(|&v| v >= 0.0), "{l}: ReLU outputs are non-negative");
            assert!(a.iter().any(|&v| v > 0.0), "{l}: all zero");
        }
    }
    let probs = m.predict_proba(x).unwrap();
    let logits = &acts[4];
    for i in 0..n {
        let row = logits.row(i);
        let mx = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let z: f32 = row.iter().map(|v| (v - mx).exp()).sum();
        for j in 0..m.n_classes() {
            let p = (row[j] - mx).exp() / z;
            assert!((p - probs[[i, j]]).abs() < 1e-5, "row {i} class {j}: {p} vs {}", probs[[i, j]]);
        }
    }
    // Rows do not interact (up to the matrix product's rounding, which depends on the batch size); a subset of
    // layers gives the same matrices.
    let one = m.activations(x.slice(ndarray::s![7..8, ..]), &[Layer::Hidden, Layer::Conv(1)]).unwrap();
    for (a, b) in [(&one[0], &acts[3]), (&one[1], &acts[1])] {
        let diff = a.row(0).iter().zip(b.row(7)).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
        assert!(diff < 1e-4, "max difference {diff}");
    }
    // The reference forward pass agrees with the logits tap.
    let r = classifier::model::forward_reference(m, x.slice(ndarray::s![..5, ..])).unwrap();
    for (a, b) in r.iter().zip(logits.slice(ndarray::s![..5, ..]).iter()) {
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }
    // Unknown layer names are refused, naming them and the known layers.
    let e = m.parse_layers("conv2,conv9").unwrap_err().to_string();
    assert!(e.contains("conv9") && e.contains("hidden"), "{e}");
    assert!(m.parse_layers("hidden,hidden").is_err());
}

/// Model configs and results are JSON: every float must read back as the value written (serde_json's default
/// parser is off by one ulp on some values, which made save/load round trips fail at random training times).
#[test]
fn json_floats_read_back_exactly() {
    for v in [1.5175168270000001f64, 0.1 + 0.2, 1e-300, 123456.78901234567, 2.0f64.sqrt()] {
        let s = serde_json::to_string(&v).unwrap();
        assert_eq!(serde_json::from_str::<f64>(&s).unwrap().to_bits(), v.to_bits(), "{s}");
    }
}
