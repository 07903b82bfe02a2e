//! The library entry point of `score --features`: the input gradient behind Lee et al.'s pre-processing, the
//! pre-processing itself, and the refusals before any forward pass.
mod common;

use classifier::feature_scores::{memory_needed, score_in_features};
use classifier::{ClassifierError, Layer};
use ndarray::{Array2, Axis};
use off_manifold::features::{calibration_rows, pool, ClassGaussians, FeatureOptions};
use off_manifold::Method;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// ⟨w, a(x)⟩ at one layer, row by row.
fn weighted(m: &classifier::Classifier, x: &Array2<f32>, layer: Layer, w: &Array2<f32>) -> Vec<f64> {
    let a = m.activations(x.view(), &[layer]).unwrap().remove(0);
    a.rows().into_iter().zip(w.rows()).map(|(a, w)| a.iter().zip(w).map(|(p, q)| *p as f64 * *q as f64).sum()).collect()
}

/// The pulled-back gradient equals central differences of ⟨w, a(x)⟩ (single pixels, and the directional derivative
/// along the gradient), at a convolution and at the hidden layer.
#[test]
fn layer_input_gradient_matches_finite_differences() {
    let m = common::model();
    let x = common::test_data().data.slice(ndarray::s![0..3, ..]).to_owned();
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    for layer in [Layer::Conv(1), Layer::Hidden] {
        let len = m.layer_shape(layer).len();
        let w = Array2::from_shape_fn((3, len), |_| rng.random::<f32>() - 0.5);
        let grad = m.layer_input_gradient(x.view(), layer, w.view()).unwrap();
        let h = 5e-4f32;
        let (mut checked, mut agree) = (0, 0);
        for i in 0..3 {
            let row = |dx: &dyn Fn(&mut Array2<f32>)| {
                let mut r = x.row(i).to_owned().insert_axis(Axis(0));
                dx(&mut r);
                weighted(m, &r, layer, &w.row(i).to_owned().insert_axis(Axis(0)))[0]
            };
            for j in (0..x.ncols()).step_by(17) {
                let fd = (row(&|r| r[[0, j]] += h) - row(&|r| r[[0, j]] -= h)) / (2.0 * h as f64);
                let g = grad[[i, j]] as f64;
                checked += 1;
                if (fd - g).abs() <= 0.03 * fd.abs().max(g.abs()) + 3e-3 {
                    agree += 1;
                }
            }
            let gi = grad.row(i).to_owned();
            let gn = gi.dot(&gi).sqrt() as f64;
            assert!(gn > 1e-2, "{layer} row {i}: gradient norm {gn}");
            let step = 1e-3 / gn as f32;
            let dd = (row(&|r| r.row_mut(0).scaled_add(step, &gi)) - row(&|r| r.row_mut(0).scaled_add(-step, &gi)))
                / (2.0 * 1e-3);
            assert!((dd - gn).abs() <= 0.05 * gn, "{layer} row {i}: directional derivative {dd} vs norm {gn}");
        }
        assert!(agree as f64 >= 0.9 * checked as f64, "{layer}: {agree} of {checked} pixels agree");
    }
    let wrong = Array2::<f32>::zeros((2, 5));
    assert!(m.layer_input_gradient(x.view(), Layer::Hidden, wrong.view()).is_err());
}

/// With a step ε, the Mahalanobis column scores x̂ = clip(x − ε·sign(∇ d²), 0, 1) (recomputed here from the
/// public pieces), most held-out images move closer to their class, the other columns do not change, and ε = 0 is
/// the plain score.
#[test]
fn preprocessing_scores_the_moved_images() {
    let m = common::model();
    let (r, q) = (&common::train_data().data, &common::test_data().data);
    let ids: Vec<String> = (0..q.nrows()).map(|i| format!("q{i}")).collect();
    let layers = [Layer::Hidden];
    let plain = FeatureOptions { methods: vec![Method::Knn, Method::Mahalanobis], k: 5, ..FeatureOptions::default() };
    let eps = 0.01;
    let noisy = FeatureOptions { mahalanobis_noise: eps, ..plain.clone() };
    let a = score_in_features(m, &layers, r.view(), q.view(), ids.clone(), None, &plain, u64::MAX).unwrap();
    let b = score_in_features(m, &layers, r.view(), q.view(), ids.clone(), None, &noisy, u64::MAX).unwrap();
    assert_eq!(a.timings[0].0, "activations");
    assert_eq!(b.timings[1].0, "preprocessing");
    assert_eq!(a.column("hidden.knn_kth").unwrap().values, b.column("hidden.knn_kth").unwrap().values);

    // The same numbers from the public pieces.
    let act = |x: &Array2<f32>| m.activations(x.view(), &[Layer::Hidden]).unwrap().remove(0);
    let predicted: Vec<usize> = m.predict(r.view()).unwrap().iter().map(|p| p.0).collect();
    let g = ClassGaussians::fit(pool(act(r).view(), 32).view(), &predicted, m.n_classes()).unwrap();
    let plain_q = g.scores(pool(act(q).view(), 32).view());
    assert_eq!(a.column("hidden.mahalanobis").unwrap().values, plain_q);
    let dirs = g.descent_directions(pool(act(q).view(), 32).view()).mapv(|v| v as f32);
    let grad = m.layer_input_gradient(q.view(), Layer::Hidden, dirs.view()).unwrap();
    let mut moved = q.clone();
    moved.zip_mut_with(&grad, |x, &d| {
        *x = (*x
            - eps as f32
                * if d > 0.0 {
                    1.0
                } else if d < 0.0 {
                    -1.0
                } else {
                    0.0
                })
        .clamp(0.0, 1.0)
    });
    let moved_q = g.scores(pool(act(&moved).view(), 32).view());
    let got = &b.column("hidden.mahalanobis").unwrap().values;
    for (i, (x, y)) in got.iter().zip(&moved_q).enumerate() {
        assert!((x - y).abs() <= 1e-4 * y.abs().max(1.0), "row {i}: {x} vs {y}");
    }
    let closer = got.iter().zip(&plain_q).filter(|(p, q)| p < q).count();
    assert!(closer as f64 >= 0.9 * got.len() as f64, "only {closer} of {} moved closer", got.len());
    assert_eq!(b.column("hidden.mahalanobis").unwrap().calibration.len(), calibration_rows(r.nrows(), &noisy).len());
}

/// Impossible options and a run larger than the memory are refused before any forward pass, naming the figure.
#[test]
fn refusals_before_any_work() {
    let m = common::model();
    let (r, q) = (&common::train_data().data, &common::test_data().data);
    let ids: Vec<String> = (0..q.nrows()).map(|i| format!("q{i}")).collect();
    let layers = m.hidden_layers();
    let opts = FeatureOptions { k: 5, ..FeatureOptions::default() };
    let needed = memory_needed(m, &layers, r.nrows(), q.nrows(), &opts);
    let e =
        score_in_features(m, &layers, r.view(), q.view(), ids.clone(), None, &opts, (needed - 1) as u64).unwrap_err();
    assert!(matches!(e, ClassifierError::Memory { .. }), "{e}");
    assert!(e.to_string().contains("available"), "{e}");
    let noisy = FeatureOptions { mahalanobis_noise: 0.01, ..opts.clone() };
    assert!(memory_needed(m, &layers, r.nrows(), q.nrows(), &noisy) > needed);
    let knn_only = FeatureOptions { methods: vec![Method::Knn], ..noisy.clone() };
    let e = score_in_features(m, &layers, r.view(), q.view(), ids.clone(), None, &knn_only, u64::MAX).unwrap_err();
    assert!(anyhow_chain(&e).contains("mahalanobis"), "{e}");
    let bad = FeatureOptions { mahalanobis_noise: f64::NAN, ..opts.clone() };
    assert!(score_in_features(m, &layers, r.view(), q.view(), ids.clone(), None, &bad, u64::MAX).is_err());
    let short = q.slice(ndarray::s![.., ..10]).to_owned();
    let e = score_in_features(m, &layers, r.view(), short.view(), ids, None, &opts, u64::MAX).unwrap_err();
    assert!(matches!(e, ClassifierError::InputSize { got: 10, .. }), "{e}");
}

/// The error and its causes, one per line.
fn anyhow_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut c = e.source();
    while let Some(x) = c {
        s.push_str(&format!(": {x}"));
        c = x.source();
    }
    s
}
