//! The default estimator on the Hein–Audibert benchmark suite (skdim's `BenchmarkManifolds`, 24 manifolds,
//! n = 2000): mean relative error at most 0.05 (skdim's best estimator, TwoNN, ≈ 0.10), and the graph test
//! improves on the distance-based estimate it falls back on. The `suite` example prints the table.

use intrinsic_dim::{build, parse_spec, FitContext};

#[test]
fn default_estimator_mean_relative_error_on_the_benchmark_suite() {
    let est = |s: &str| {
        let (name, p) = parse_spec(s).unwrap();
        build(&name, &p).unwrap()
    };
    let (default, distance) = (est("imanifold"), est("imanifold:graph_test=false"));
    let (mut err, mut err_distance, mut rows) = (0.0, 0.0, Vec::new());
    let suite = benchmark_manifolds::suite(2000, 1);
    for (spec, x) in &suite {
        let x = x.mapv(|v| v as f32);
        let (x, _) = intrinsic_dim::drop_duplicates(x.view());
        let ctx = FitContext::new(x.view(), 5, 1).unwrap();
        let d = default.fit(&ctx).unwrap().dimension;
        let dd = distance.fit(&ctx).unwrap().dimension;
        let t = spec.dimension as f64;
        err += (d - t).abs() / t / suite.len() as f64;
        err_distance += (dd - t).abs() / t / suite.len() as f64;
        rows.push(format!("{} {t} {d:.2} {dd:.2}", spec.name));
    }
    eprintln!("{}\nmean relative error: default {err:.4}, distance-based {err_distance:.4}", rows.join("\n"));
    assert!(err <= 0.05, "mean relative error {err:.4}");
    assert!(err < err_distance - 0.01, "graph test {err:.4} vs distance-based {err_distance:.4}");
}
