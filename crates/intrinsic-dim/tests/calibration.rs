//! The default estimator's simulated calibration (independent query points' neighbour distances, drawn without the
//! n-point sample) agrees with the exact one (full uniform samples and their exact kNN) within the calibrations'
//! noise, where the finite-sample bias it removes is large; and the estimator's results do not depend on where the
//! calibration values come from (memory, disk or a fresh computation).

use intrinsic_dim::corrected::{Base, Calibration, Corrected, Reference};
use intrinsic_dim::{calibration_cache, clear_calibration_caches, Estimator, FitContext};

fn statistic(base: Base, k: usize, reference: Reference, calibration: Calibration, replicates: usize) -> Corrected {
    Corrected { base, n_neighbors: k, mix_k: None, reference, calibration, replicates, ..Corrected::default() }
}

#[test]
fn simulated_calibration_agrees_with_exact_samples() {
    // (reference, n, d): from a curve in a large sample to a 60-ball at n = 2000 (MLE(5) reads ≈ 35 there).
    let cases = [
        (Reference::Ball, 3000, 1),
        (Reference::Ball, 2000, 3),
        (Reference::Ball, 3000, 8),
        (Reference::Ball, 4000, 16),
        (Reference::Ball, 1000, 24),
        (Reference::Ball, 2000, 60),
        (Reference::Cube, 2000, 4),
        (Reference::Cube, 3000, 10),
    ];
    let mut biased = 0;
    for (reference, n, d) in cases {
        for (base, k) in [(Base::TwoNn, 2), (Base::Mle, 5)] {
            // Eight exact replicates against 20 000 simulated queries.
            let exact = statistic(base, k, reference, Calibration::Exact, 8).calibration(n, d, 11).unwrap();
            let sim =
                statistic(base, k, reference, Calibration::Simulated, 20_000 / n + 1).calibration(n, d, 11).unwrap();
            let se = exact.1.hypot(sim.1);
            let label = format!(
                "{reference:?} n = {n} d = {d} {base:?}: exact {:.4} ± {:.4}, simulated {:.4} ± {:.4}",
                exact.0, exact.1, sim.0, sim.1
            );
            eprintln!("{label}");
            // Neighbouring sample points share distances, so the exact path's own error is above its stated one
            // (1.2–1.4× over 40 samples at (4000, 16), (1000, 24), (2000, 60)): 4.5 combined standard errors.
            assert!((exact.0 - sim.0).abs() < 4.5 * se, "{label}");
            assert!(sim.1 > 0.0 && sim.1 < 0.02 * sim.0, "{label}");
            if (exact.0 - d as f64).abs() > 10.0 * se {
                biased += 1;
            }
        }
    }
    // The comparison is not empty: on most cases the calibration is far from d (the bias it removes).
    assert!(biased >= 6, "{biased} cases with a bias above 10 standard errors");
}

#[test]
fn cached_estimate_equals_the_uncached_one() {
    // A 7-ball in R^9 at n = 6000 (simulated calibration by default): the estimate from a cold run, from the memory
    // cache, and from the disk cache in a fresh process state are the same bits, interval included.
    let b = benchmark_manifolds::hyperball(6000, 7, 3);
    let x = benchmark_manifolds::embed_linear(&b, 9, 4).unwrap().mapv(|v| v as f32);
    let ctx = FitContext::new(x.view(), 5, 1).unwrap();
    let est = Corrected { graph_test: false, ..Corrected::default() };
    let dir = std::env::temp_dir().join(format!("imanifold-calibration-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    calibration_cache::set_dir(Some(dir.clone()));
    clear_calibration_caches();
    let cold = est.fit(&ctx).unwrap();
    let memory = est.fit(&ctx).unwrap();
    clear_calibration_caches();
    let disk = est.fit(&ctx).unwrap();
    calibration_cache::set_dir(None);
    clear_calibration_caches();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(cold.extra["twonn"]["extra"]["calibration"]["method"], "simulated", "{}", cold.extra);
    for e in [&memory, &disk] {
        assert_eq!(e.dimension.to_bits(), cold.dimension.to_bits());
        assert_eq!(e.ci95, cold.ci95);
        assert_eq!(e.extra, cold.extra);
    }
    let (lo, hi) = cold.ci95.unwrap();
    assert!(lo < 7.0 && 7.0 < hi, "{} [{lo}, {hi}]", cold.dimension);
}
