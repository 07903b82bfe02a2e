//! Certified (IBP) training: the differentiable IBP bounds are sound and exact at ε = 0, certified training
//! certifies more boxes than plain training, options are validated and recorded.

use classifier::ibp::{certified, margin_lower_bounds};
use classifier::synthetic::{patterns, LabelledImages};
use classifier::{certified_schedule, train, Architecture, CertifiedTraining, Classifier, TrainOptions};
use rand::{Rng, SeedableRng};

fn tiny_options(seed: u64) -> TrainOptions {
    TrainOptions {
        epochs: 20,
        seed,
        validation_fraction: 0.0,
        architecture: Architecture::from_channels(&[8, 8], 16),
        ..TrainOptions::default()
    }
}

fn tiny_data(seed: u64) -> LabelledImages {
    classifier::single_threaded_elementwise();
    patterns(80, 8, 1, seed)
}

fn logits(model: &Classifier, rows: &ndarray::Array2<f32>) -> ndarray::Array2<f32> {
    classifier::model::forward_reference(model, rows.view()).unwrap()
}

/// At ε = 0 the box is the image: the bounds are its margins. Over ε > 0, no vertex or random point of the box
/// has a margin below the bound.
#[test]
fn ibp_bounds_are_exact_at_zero_and_sound() {
    let d = tiny_data(1);
    for (pool, eps_train) in
        [(classifier::model::Pooling::Flatten, 0.0), (classifier::model::Pooling::Global, 2.0 / 255.0)]
    {
        let mut opts = tiny_options(2);
        opts.epochs = 2;
        opts.architecture.pool = pool;
        opts.certified_eps = eps_train;
        let (m, _) = train(d.data.view(), d.shape, &d.labels, &d.classes, &opts, |_| ()).unwrap();
        let x = d.data.slice(ndarray::s![0..12, ..]).to_owned();
        let y = &d.labels[..12];
        let z = logits(&m, &x);
        let at_zero = margin_lower_bounds(&m, x.view(), y, 0.0).unwrap();
        for i in 0..12 {
            for j in 0..m.n_classes() {
                if j == y[i] {
                    assert_eq!(at_zero[[i, j]], f32::INFINITY);
                    continue;
                }
                let margin = z[[i, y[i]]] - z[[i, j]];
                assert!((at_zero[[i, j]] - margin).abs() <= 1e-4 * margin.abs().max(1.0), "{pool}: row {i} class {j}");
            }
        }
        let eps = 0.05f32;
        let bounds = margin_lower_bounds(&m, x.view(), y, eps as f64).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for i in 0..12 {
            let mut points = ndarray::Array2::<f32>::zeros((200, x.ncols()));
            for (p, mut row) in points.rows_mut().into_iter().enumerate() {
                for (k, v) in row.iter_mut().enumerate() {
                    let off = if p < 100 {
                        if rng.random_bool(0.5) {
                            eps
                        } else {
                            -eps
                        }
                    } else {
                        rng.random_range(-eps..eps)
                    };
                    *v = (x[[i, k]] + off).clamp(0.0, 1.0);
                }
            }
            let zp = logits(&m, &points);
            for row in zp.rows() {
                for j in (0..m.n_classes()).filter(|&j| j != y[i]) {
                    let margin = row[y[i]] - row[j];
                    assert!(
                        margin >= bounds[[i, j]] - 1e-4 * margin.abs().max(1.0),
                        "{pool}: {margin} < bound {}",
                        bounds[[i, j]]
                    );
                }
            }
        }
    }
}

/// The same seed, data and architecture: certified training at ε certifies far more held-out ε-boxes than plain
/// training, at a small cost in clean accuracy.
#[test]
fn certified_training_certifies_more_boxes() {
    let d = tiny_data(1);
    let test = tiny_data(2);
    let eps = 2.0 / 255.0;
    let plain = tiny_options(5);
    let robust = TrainOptions { certified_eps: eps, ..tiny_options(5) };
    let share = |opts: &TrainOptions| {
        let (m, report) = train(d.data.view(), d.shape, &d.labels, &d.classes, opts, |_| ()).unwrap();
        let c = certified(&m, test.data.view(), &test.labels, eps).unwrap();
        let acc = classifier::train::accuracy(&m, test.data.view(), &test.labels).unwrap();
        (c.iter().filter(|&&b| b).count() as f64 / c.len() as f64, acc, report)
    };
    let (plain_share, plain_acc, plain_report) = share(&plain);
    let (robust_share, robust_acc, robust_report) = share(&robust);
    eprintln!("plain: certified {plain_share} accuracy {plain_acc}; certified training: {robust_share} {robust_acc}");
    assert!(plain_report.certified_train_accuracy.is_none());
    assert!(robust_report.certified_train_accuracy.is_some());
    assert!(robust_share >= plain_share + 0.3, "certified training {robust_share} vs plain {plain_share}");
    assert!(robust_acc >= 0.8, "clean accuracy after certified training {robust_acc}");
}

#[test]
fn schedule_warms_up_ramps_and_holds() {
    let c = CertifiedTraining { eps: 0.04, kappa: 0.5, warmup: 0.2, ramp: 0.4 };
    assert_eq!(certified_schedule(&c, 0.0), (0.0, 1.0));
    assert_eq!(certified_schedule(&c, 0.1), (0.0, 1.0));
    let (e, k) = certified_schedule(&c, 0.4);
    assert!((e - 0.02).abs() < 1e-12 && (k - 0.75).abs() < 1e-12, "{e} {k}");
    for (c, progress) in [(c, 0.6), (c, 0.95), (CertifiedTraining { ramp: 0.0, ..c }, 0.2)] {
        let (e, k) = certified_schedule(&c, progress);
        assert!((e - 0.04).abs() < 1e-12 && (k - 0.5).abs() < 1e-12, "{progress}: {e} {k}");
    }
}

#[test]
fn bad_certified_options_name_the_option() {
    for (field, value, name) in [
        (0, f64::NAN, "certified eps"),
        (0, -0.01, "certified eps"),
        (0, 1.5, "certified eps"),
        (1, f64::NAN, "certified kappa"),
        (1, 2.0, "certified kappa"),
        (2, -1.0, "certified warmup"),
        (3, f64::INFINITY, "certified ramp"),
        (3, 0.95, "certified ramp"),
    ] {
        let mut o = TrainOptions { certified_eps: 0.01, ..TrainOptions::default() };
        match field {
            0 => o.certified_eps = value,
            1 => o.certified_kappa = value,
            2 => o.certified_warmup = value,
            _ => o.certified_ramp = value,
        }
        let err = o.validate().unwrap_err().to_string();
        assert!(err.contains(name), "{name} = {value}: {err}");
    }
    assert!(TrainOptions { certified_eps: 1.0, ..TrainOptions::default() }.validate().is_ok());
}

/// The settings are saved in config.json and read back; a config without them (older files) still loads.
#[test]
fn settings_are_recorded_and_old_configs_load() {
    let d = tiny_data(1);
    let opts = TrainOptions { epochs: 1, certified_eps: 4.0 / 255.0, certified_kappa: 0.6, ..tiny_options(1) };
    let (m, _) = train(d.data.view(), d.shape, &d.labels, &d.classes, &opts, |_| ()).unwrap();
    let want =
        CertifiedTraining { eps: 4.0 / 255.0, kappa: 0.6, warmup: opts.certified_warmup, ramp: opts.certified_ramp };
    assert_eq!(m.config().training.as_ref().unwrap().certified, Some(want));
    let dir = tempfile::tempdir().unwrap();
    m.save(&dir.path().join("m")).unwrap();
    let back = Classifier::load(&dir.path().join("m")).unwrap();
    assert_eq!(back.config().training.as_ref().unwrap().certified, Some(want));

    let config = dir.path().join("m").join("config.json");
    let mut json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    json["training"].as_object_mut().unwrap().remove("certified");
    std::fs::write(&config, serde_json::to_string(&json).unwrap()).unwrap();
    let old = Classifier::load(&dir.path().join("m")).unwrap();
    assert_eq!(old.config().training.as_ref().unwrap().certified, None);
}
