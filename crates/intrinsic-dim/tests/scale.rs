//! Dimension estimates do not depend on the data's scale, however extreme (the kNN engine is exact at any finite
//! magnitude): scaling by a power of two gives the same estimates to rounding, scaling by a power of ten (which
//! rounds every value to f32) the same to the f32 perturbation.

use intrinsic_dim::{DimOptions, Session, Source};
use ndarray::Array2;

fn estimates(data: &Array2<f32>) -> Vec<(String, f64)> {
    let opts = DimOptions {
        estimators: vec!["mle".into(), "twonn".into(), "corrint".into()],
        bootstrap: 0,
        ..DimOptions::default()
    };
    let session = Session::new(&opts).expect("valid options");
    let report = session.run(data.view(), Source::default()).expect("the run succeeds");
    report.estimates.iter().map(|e| (e.label.clone(), e.report.estimate.dimension)).collect()
}

#[test]
fn estimates_are_scale_invariant() {
    // A 3-cube linearly embedded in R^8.
    let cube = benchmark_manifolds::hypercube(400, 3, 11);
    let frame = benchmark_manifolds::random_frame(3, 8, 5).expect("a frame");
    let x = cube.dot(&frame).mapv(|v| v as f32);
    let base = estimates(&x);
    assert!(base.iter().all(|(_, d)| d.is_finite() && *d > 1.0), "{base:?}");
    let cases: [(f32, f64); 6] =
        [(2f32.powi(66), 1e-9), (2f32.powi(-66), 1e-9), (1e20, 1e-4), (1e-20, 1e-4), (1e30, 1e-4), (1e-30, 1e-4)];
    for (factor, tol) in cases {
        let got = estimates(&x.mapv(|v| v * factor));
        for ((name, a), (_, b)) in base.iter().zip(&got) {
            assert!((a - b).abs() <= tol * a.abs(), "×{factor:e} {name}: {b} vs {a}");
        }
    }
}
