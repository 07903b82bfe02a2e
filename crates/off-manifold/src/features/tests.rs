use ndarray::{array, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::combine::LogisticModel;
use super::mahalanobis::{pool, ClassGaussians};
use super::*;

/// Two classes in the plane with known within-class covariance diag(0.5, 2): the scores are the closed-form
/// Mahalanobis distances to the nearer mean.
#[test]
fn mahalanobis_known_values() {
    let x =
        array![[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0], [11.0, 0.0], [9.0, 0.0], [10.0, 2.0], [10.0, -2.0]];
    let labels = [0, 0, 0, 0, 2, 2, 2, 2];
    let g = ClassGaussians::fit(x.view(), &labels, 3).unwrap();
    assert_eq!(g.n_classes(), 2, "class 1 has no rows");
    let q = array![[0.0, 1.0], [3.0, 0.0], [10.0, 4.0], [f64::NAN, 0.0]];
    let s = g.scores(q.view());
    let want = [(1.0f64 / 2.0).sqrt(), 18f64.sqrt(), (16.0f64 / 2.0).sqrt()];
    for (got, want) in s.iter().zip(want) {
        assert!((got - want).abs() < 1e-5 * want, "{got} vs {want}");
    }
    assert!(s[3].is_nan());
}

#[test]
fn pooling_averages_positions_per_channel() {
    // Two positions × three channels.
    let x = array![[1.0f32, 2.0, 3.0, 3.0, 4.0, 5.0]];
    assert_eq!(pool(x.view(), 3), array![[2.0, 3.0, 4.0]]);
    assert_eq!(pool(x.view(), 6), x.mapv(|v| v as f64));
}

/// At the fitted weights the penalised log-likelihood's gradient vanishes, and a clear signal gets a large weight.
#[test]
fn logistic_regression_is_at_its_optimum() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let n = 200;
    let y: Vec<f64> = (0..n).map(|i| (i % 2) as f64).collect();
    let x = Array2::from_shape_fn((n, 3), |(i, j)| match j {
        0 => y[i] * 2.0 + rng.random::<f64>(),
        1 => rng.random::<f64>() * 10.0,
        _ => 5.0 - y[i] + 3.0 * rng.random::<f64>(),
    });
    let penalty = 2.5;
    let m = LogisticModel::fit(vec!["a".into(), "b".into(), "c".into()], &x, &y, penalty).unwrap();
    let z = |i: usize, j: usize| (x[[i, j]] - m.mean[j]) / m.std[j];
    let mut grad = [0.0; 4];
    for (i, &yi) in y.iter().enumerate() {
        let p = m.predict(x.row(i).as_slice().unwrap());
        for (j, g) in grad.iter_mut().enumerate().take(3) {
            *g += (p - yi) * z(i, j);
        }
        grad[3] += p - yi;
    }
    for (g, w) in grad.iter_mut().zip(&m.weights) {
        *g += penalty * w;
    }
    assert!(grad.iter().all(|g| g.abs() < 1e-6), "gradient {grad:?}");
    assert!(m.weights[0] > 2.0 && m.weights[0].abs() > 3.0 * m.weights[1].abs(), "{:?}", m.weights);
    assert!(m.weights[2] < 0.0, "{:?}", m.weights);
}

/// Points near a line in R^6 (natural) and points off it (far): the per-layer columns are exactly `crate::score` on
/// the same matrices, the far group is separated, and the split is a partition, seeded.
#[test]
fn score_features_end_to_end() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut line = |n: usize, off: f64| {
        Array2::from_shape_fn((n, 6), |(_, j)| if j == 0 { rng.random::<f64>() } else { 0.0 }).mapv(|v| v as f32)
            + Array2::from_shape_fn((n, 6), |(_, j)| (off * (rng.random::<f64>() - 0.5) * (j > 0) as u8 as f64) as f32)
    };
    let reference = line(300, 0.01);
    let mut query = line(40, 0.01);
    let far = line(30, 0.5);
    query.append(ndarray::Axis(0), far.view()).unwrap();
    let labels: Vec<usize> = reference.column(0).iter().map(|&v| (v > 0.5) as usize).collect();
    let groups: Vec<String> = (0..70).map(|i| if i < 40 { "natural" } else { "far" }.to_string()).collect();
    let ids: Vec<String> = (0..70).map(|i| format!("q{i}")).collect();
    let layer = |name: &str, channels| LayerFeatures {
        name: name.into(),
        channels,
        reference: reference.view(),
        query: query.view(),
        preprocessed: None,
    };
    let layers = [layer("a", 6), layer("b", 3)];
    let rl = ReferenceLabels { labels, n_classes: 2, source: "x > 0.5".into() };
    // Two-class logits (4x, 4(1 - x)) of the first coordinate: −ln max softmax = ln(1 + e^−|z0 − z1|).
    let two_class =
        |m: &Array2<f32>| Array2::from_shape_fn((m.nrows(), 2), |(i, j)| 4.0 * (m[[i, 0]] - j as f32).abs());
    let (lr, lq) = (two_class(&reference), two_class(&query));
    let lg = Logits { reference: lr.view(), query: lq.view() };
    let opts = FeatureOptions { k: 10, ..FeatureOptions::default() };
    let r =
        score_features(&layers, &rl, Some(&lg), ids.clone(), Some(("group".into(), groups.clone())), &opts).unwrap();
    let names: Vec<&str> = r.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "a.knn_kth",
            "a.knn_mean",
            "a.tangent",
            "a.lid",
            "a.mahalanobis",
            "b.knn_kth",
            "b.knn_mean",
            "b.tangent",
            "b.lid",
            "b.mahalanobis",
            "logits.softmax"
        ]
    );
    let soft = r.column("logits.softmax").unwrap();
    for (i, &v) in soft.values.iter().enumerate() {
        let gap = (lq[[i, 0]] as f64 - lq[[i, 1]] as f64).abs();
        assert!((v - (-gap).exp().ln_1p()).abs() < 1e-12, "row {i}: {v} for a logit gap of {gap}");
    }
    assert_eq!(soft.calibration.len(), 300);
    let direct = crate::score(
        reference.view(),
        query.view(),
        None,
        &ScoreOptions { methods: vec![Method::Knn, Method::Tangent, Method::Lid], k: 10, ..ScoreOptions::default() },
    )
    .unwrap();
    for c in &direct.columns {
        assert_eq!(r.column(&format!("a.{}", c.name)).unwrap().values, c.values);
        assert_eq!(r.column(&format!("b.{}", c.name)).unwrap().percentiles, c.percentiles);
    }
    let g = &r.groups.as_ref().unwrap().report;
    let far = g.groups.iter().find(|s| s.name == "far").unwrap();
    for col in ["a.knn_kth", "a.tangent", "a.mahalanobis"] {
        assert!(far.auroc[col].unwrap() > 0.95, "{col}: {:?}", far.auroc[col]);
    }
    // Pooling over the two "positions" of layer b changes the Mahalanobis input, not the neighbour scores.
    assert_ne!(r.column("a.mahalanobis").unwrap().values, r.column("b.mahalanobis").unwrap().values);
    let comb = r.combination.as_ref().unwrap();
    assert_eq!(comb.groups.len(), 1);
    let c = &comb.groups[0];
    assert_eq!((c.n_train, c.n_test), ([15, 20], [15, 20]));
    let mut all: Vec<usize> = c.rows[0].iter().chain(&c.rows[1]).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..70).collect::<Vec<_>>(), "train and test halves partition the rows");
    assert!(c.auroc_test.unwrap() > 0.95, "{:?}", c.auroc_test);
    // Same seed, same split and model; another seed, another split.
    let again =
        score_features(&layers, &rl, Some(&lg), ids.clone(), Some(("group".into(), groups.clone())), &opts).unwrap();
    assert_eq!(again.combination.as_ref().unwrap().groups[0].rows, c.rows);
    let other = FeatureOptions { seed: 1, ..opts.clone() };
    let r1 =
        score_features(&layers, &rl, Some(&lg), ids.clone(), Some(("group".into(), groups.clone())), &other).unwrap();
    assert_ne!(r1.combination.as_ref().unwrap().groups[0].rows, c.rows);

    // The writer: scores.csv columns, combination.csv, results.json keys.
    let dir = tempfile::tempdir().unwrap();
    let v = write_feature_dir(dir.path(), &r, "m:a,b", "ref", "q", output::Results::new("score")).unwrap();
    let csv = std::fs::read_to_string(dir.path().join("scores.csv")).unwrap();
    assert!(csv.starts_with("file,group,a.knn_kth,a.knn_mean,a.tangent,a.lid,a.mahalanobis,b.knn_kth"), "{csv}");
    assert_eq!(csv.lines().count(), 71);
    let comb_csv = std::fs::read_to_string(dir.path().join("combination.csv")).unwrap();
    assert_eq!(comb_csv.lines().next(), Some("file,group,combined_far,split_far"));
    assert_eq!(v["mode"], "features");
    assert_eq!(v["layers"][1]["name"], "b");
    assert!(v["combination"]["groups"][0]["auroc_test"].as_f64().unwrap() > 0.95);
    assert!(v["groups"]["groups"][1]["auroc"]["b.lid"].is_number());

    // Refusals before any work.
    let bad = FeatureOptions { methods: vec![Method::Flow], ..opts.clone() };
    assert!(score_features(&layers, &rl, Some(&lg), ids.clone(), None, &bad).unwrap_err().to_string().contains("flow"));
    let short = ReferenceLabels { labels: vec![0; 5], ..rl.clone() };
    assert!(score_features(&layers, &short, Some(&lg), ids.clone(), None, &opts).is_err());
    let no_logits = score_features(&layers, &rl, None, ids.clone(), None, &opts).unwrap_err().to_string();
    assert!(no_logits.contains("softmax"), "{no_logits}");
    let few = Logits { reference: lr.slice(ndarray::s![..5, ..]), query: lq.view() };
    assert!(score_features(&layers, &rl, Some(&few), ids.clone(), None, &opts).is_err());

    // Pre-processing: the Mahalanobis columns score the given moved rows, the Gaussians stay those of the reference
    // as given, and every other column is unchanged.
    let calib = calibration_rows(300, &opts);
    let moved_ref = reference.select(ndarray::Axis(0), &calib).mapv(|v| v * 0.5);
    let moved_q = query.mapv(|v| v * 0.5);
    let pre = PreprocessedRows { calibration: moved_ref.view(), query: moved_q.view() };
    let with_pre = |name: &str, channels| LayerFeatures { preprocessed: Some(pre.clone()), ..layer(name, channels) };
    let pre_layers = [with_pre("a", 6), with_pre("b", 3)];
    let noisy = FeatureOptions { mahalanobis_noise: 0.01, ..opts.clone() };
    let p = score_features(&pre_layers, &rl, Some(&lg), ids.clone(), None, &noisy).unwrap();
    let g = ClassGaussians::fit(pool(reference.view(), 6).view(), &rl.labels, 2).unwrap();
    assert_eq!(p.column("a.mahalanobis").unwrap().values, g.scores(pool(moved_q.view(), 6).view()));
    assert_eq!(p.column("a.mahalanobis").unwrap().calibration, g.scores(pool(moved_ref.view(), 6).view()));
    assert_eq!(p.column("a.lid").unwrap().values, r.column("a.lid").unwrap().values);
    assert_ne!(p.column("a.mahalanobis").unwrap().values, r.column("a.mahalanobis").unwrap().values);
    // Refused: no moved rows, moved rows of the wrong size, a step without the method, a NaN or negative step.
    let refuse = |layers: &[LayerFeatures], o: &FeatureOptions, word: &str| {
        let e = score_features(layers, &rl, Some(&lg), ids.clone(), None, o).unwrap_err().to_string();
        assert!(e.contains(word), "{e}");
    };
    refuse(&layers, &noisy, "pre-processed");
    let short_pre = PreprocessedRows { calibration: moved_ref.slice(ndarray::s![..10, ..]), query: moved_q.view() };
    refuse(&[LayerFeatures { preprocessed: Some(short_pre), ..layer("a", 6) }], &noisy, "pre-processed");
    refuse(&pre_layers, &FeatureOptions { methods: vec![Method::Knn], ..noisy.clone() }, "mahalanobis method");
    refuse(&pre_layers, &FeatureOptions { mahalanobis_noise: f64::NAN, ..opts.clone() }, "mahalanobis noise");
    refuse(&pre_layers, &FeatureOptions { mahalanobis_noise: -0.1, ..opts.clone() }, "mahalanobis noise");
}

/// The descent direction is half the gradient of the squared distance to the nearest class (central differences).
#[test]
fn descent_directions_are_half_the_gradient() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let x =
        Array2::from_shape_fn((60, 3), |(i, j)| rng.random::<f64>() + if j == 0 { (i % 3) as f64 * 4.0 } else { 0.0 });
    let labels: Vec<usize> = (0..60).map(|i| i % 3).collect();
    let g = ClassGaussians::fit(x.view(), &labels, 3).unwrap();
    let q = array![[0.3, 0.2, 0.9], [4.5, -1.0, 0.0], [9.0, 0.5, 0.5]];
    let dirs = g.descent_directions(q.view());
    let h = 1e-5;
    for i in 0..3 {
        for j in 0..3 {
            let (mut a, mut b) = (q.clone(), q.clone());
            a[[i, j]] += h;
            b[[i, j]] -= h;
            let sq = |m: &Array2<f64>| g.scores(m.row(i).insert_axis(ndarray::Axis(0))).remove(0).powi(2);
            let numeric = (sq(&a) - sq(&b)) / (2.0 * h) / 2.0;
            assert!(
                (dirs[[i, j]] - numeric).abs() < 1e-4 * (1.0 + numeric.abs()),
                "{i},{j}: {} vs {numeric}",
                dirs[[i, j]]
            );
        }
    }
    let bad = array![[f64::NAN, 0.0, 0.0]];
    assert_eq!(g.descent_directions(bad.view()), Array2::<f64>::zeros((1, 3)));
}
