//! Estimators against ground truth on reference manifolds, the conformance checks every estimator must pass, and
//! bad input.

use intrinsic_dim::{build, max_k, parse_spec, run, DimError, Estimator, FitContext, RunOptions};
use ndarray::Array2;
use serde_json::Map;

fn est(spec: &str) -> Box<dyn Estimator> {
    let (name, params) = parse_spec(spec).unwrap();
    build(&name, &params).unwrap()
}

fn fit_all(x: &Array2<f32>, specs: &[&str], seed: u64) -> Vec<f64> {
    let ests: Vec<_> = specs.iter().map(|s| est(s)).collect();
    let opts = RunOptions::default();
    let ctx = FitContext::new(x.view(), max_k(&ests, &opts), seed).unwrap();
    run(&ctx, &ests, &opts).unwrap().iter().map(|r| r.estimate.dimension).collect()
}

fn f32(x: Array2<f64>) -> Array2<f32> {
    x.mapv(|v| v as f32)
}

/// (estimator, relative tolerance) on a uniform 4-ball linearly embedded in R^10, n = 1000.
const TOLERANCES: &[(&str, f64)] = &[
    ("imanifold", 0.08),
    ("mle", 0.12),
    ("twonn", 0.12),
    ("twonn:method=mle", 0.12),
    ("gride", 0.12),
    ("corrint", 0.15),
    ("mind-ml", 0.12),
    ("danco", 0.12),
    ("ess", 0.15),
    ("fishers", 0.2),
    ("mom", 0.2),
    ("tle", 0.12),
    ("mada", 0.15),
    ("lpca", 0.0),
    ("pca:ver=Kaiser", 0.0),
];

#[test]
fn estimators_recover_a_linearly_embedded_ball() {
    let x = f32(benchmark_manifolds::embed_linear(&benchmark_manifolds::hyperball(1000, 4, 1), 10, 2).unwrap());
    let specs: Vec<&str> = TOLERANCES.iter().map(|t| t.0).collect();
    let got = fit_all(&x, &specs, 0);
    for ((name, tol), d) in TOLERANCES.iter().zip(got) {
        if name.starts_with("pca") || name.starts_with("lpca") {
            // A linear 4-dimensional subspace: PCA counts exactly 4 (FO) / at most 4 (Kaiser).
            assert!(d == 4.0 || (name.contains("Kaiser") && (1.0..=4.0).contains(&d)), "{name}: {d}");
        } else {
            assert!((d - 4.0).abs() <= tol * 4.0, "{name}: {d} not within {tol} of 4");
        }
    }
}

#[test]
fn curves_and_surfaces() {
    let helix = f32(benchmark_manifolds::helix(1500, 3));
    let roll = f32(benchmark_manifolds::swiss_roll(1500, 4));
    let sphere = f32(benchmark_manifolds::hypersphere(1500, 3, 5));
    for (x, truth) in [(&helix, 1.0), (&roll, 2.0), (&sphere, 3.0)] {
        for (name, d) in ["imanifold", "mle", "twonn", "gride", "tle"].iter().zip(fit_all(
            x,
            &["imanifold", "mle", "twonn", "gride", "tle"],
            0,
        )) {
            assert!((d - truth).abs() <= 0.15 * truth, "{name} on a {truth}-manifold: {d}");
        }
    }
}

#[test]
fn default_estimator_corrects_high_dimensional_bias() {
    // A 20-dimensional cube with only 1500 points: kNN estimators fall well short, the calibrated one does not.
    let x = f32(benchmark_manifolds::hypercube(1500, 20, 9));
    let got = fit_all(&x, &["imanifold", "mle", "twonn"], 0);
    assert!(got[1] < 17.0 && got[2] < 18.0, "uncorrected estimators: {got:?}");
    assert!((got[0] - 20.0).abs() <= 2.0, "imanifold on a 20-cube: {}", got[0]);
}

#[test]
fn conformance_over_all_estimators() {
    let x = f32(benchmark_manifolds::embed_linear(&benchmark_manifolds::hyperball(400, 3, 3), 6, 4).unwrap());
    for name in intrinsic_dim::estimator_names() {
        let e = build(name, &Map::new()).unwrap();
        assert_eq!(e.name(), name);
        // Unknown parameters are refused.
        let mut bad = Map::new();
        bad.insert("no_such_parameter".into(), serde_json::json!(1));
        assert!(matches!(build(name, &bad), Err(DimError::UnknownParameter { .. })), "{name} accepted a bogus key");
        // Determinism: same seed, same answer (the thread count does not enter: per-item streams).
        let opts = RunOptions::default();
        let k = max_k(std::slice::from_ref(&e), &opts);
        let mut c1 = FitContext::new(x.view(), k, 7).unwrap();
        c1.bootstrap = 5;
        let r1 = run(&c1, std::slice::from_ref(&e), &opts).unwrap();
        let r2 = run(&c1, std::slice::from_ref(&e), &opts).unwrap();
        assert_eq!(r1[0].estimate.dimension.to_bits(), r2[0].estimate.dimension.to_bits(), "{name}");
        assert_eq!(r1[0].estimate.ci95, r2[0].estimate.ci95, "{name}");
        let d = r1[0].estimate.dimension;
        assert!(d.is_finite() && d > 0.0, "{name}: {d}");
        if let Some((lo, hi)) = r1[0].estimate.ci95 {
            assert!(lo <= hi && lo.is_finite() && hi.is_finite(), "{name}: [{lo}, {hi}]");
        } else {
            panic!("{name} has no interval with bootstrap = 5");
        }
        // Local estimators: the global value is the combination of the per-point values.
        if let (Some(comb), Some(pw)) = (e.comb(), &r1[0].estimate.pointwise) {
            assert_eq!(pw.len(), x.nrows());
            let m = comb.apply(pw);
            assert!((m - d).abs() <= 1e-9 * d.abs().max(1.0), "{name}: comb(pointwise) {m} vs {d}");
        }
        // Too few points for the neighbourhood: a clear error, no panic.
        if let Some(k) = e.needs_k() {
            let small = x.slice(ndarray::s![..k.min(x.nrows() - 1), ..]).to_owned();
            let err = FitContext::new(small.view(), k, 0).err();
            assert!(matches!(err, Some(DimError::Knn(_))), "{name}: n <= k gave {err:?}");
        }
    }
}

#[test]
fn pointwise_fits_of_global_estimators() {
    let x = f32(benchmark_manifolds::embed_linear(&benchmark_manifolds::hyperball(600, 2, 3), 5, 1).unwrap());
    let e = est("twonn");
    let opts = RunOptions { pointwise: true, pointwise_neighbors: 60 };
    let ctx = FitContext::new(x.view(), max_k(std::slice::from_ref(&e), &opts), 0).unwrap();
    let r = run(&ctx, std::slice::from_ref(&e), &opts).unwrap();
    let pw = r[0].pointwise.as_ref().unwrap();
    let mean = pw.iter().sum::<f64>() / pw.len() as f64;
    assert!((mean - 2.0).abs() < 0.3, "pointwise twonn mean {mean}");
    let sm = r[0].pointwise_smooth.as_ref().unwrap();
    assert_eq!(sm.len(), 600);
    let lp = est("lpca");
    let ctx = FitContext::new(x.view(), 60, 0).unwrap();
    let pw = lp.fit_pointwise(&ctx, 60).unwrap();
    assert!(pw.iter().all(|&d| d == 2.0), "local PCA of a flat 2-disc");
    assert!(est("pca").fit_pointwise(&ctx, 60).is_err());
}

#[test]
fn bad_input_fails_clearly() {
    let constant = Array2::<f32>::from_elem((50, 4), 1.5);
    assert!(matches!(FitContext::new(constant.view(), 5, 0), Err(DimError::ConstantData { n: 50 })));
    let mut nan = f32(benchmark_manifolds::hypercube(50, 3, 1));
    nan[[7, 2]] = f32::NAN;
    let err = FitContext::new(nan.view(), 5, 0).err().unwrap();
    assert!(matches!(err, DimError::NonFinite { row: 7, col: 2, .. }), "{err}");
    assert!(err.to_string().contains("row 7"));
    let tiny = f32(benchmark_manifolds::hypercube(10, 3, 1));
    assert!(FitContext::new(tiny.view(), 20, 0).is_err());
    let mut dup = f32(benchmark_manifolds::hypercube(100, 3, 1));
    let r = dup.row(3).to_owned();
    dup.row_mut(40).assign(&r);
    let err = FitContext::new(dup.view(), 5, 0).err().unwrap();
    assert!(matches!(err, DimError::DuplicateRows { count: 1, first: 40 }), "{err}");
    let (clean, dropped) = intrinsic_dim::drop_duplicates(dup.view());
    assert_eq!((clean.nrows(), dropped), (99, vec![40]));
    assert!(FitContext::new(clean.view(), 5, 0).is_ok());
    // Bad parameters.
    for spec in [
        "mle:n_neighbors=1",
        "mle:comb=mode",
        "twonn:discard_fraction=1.5",
        "lpca:ver=XYZ",
        "gride:n1=3,n2=2",
        "nonsense",
    ] {
        let (name, params) = parse_spec(spec).unwrap();
        assert!(build(&name, &params).is_err(), "{spec} accepted");
    }
}
