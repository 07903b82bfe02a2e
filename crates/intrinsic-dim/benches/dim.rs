//! Criterion benchmarks: mle + twonn + lpca in one run (one kNN pass) on points near an 8-D subspace, and the
//! slow skdim estimators (DANCo, ESS) on 2000 points of a 10-sphere (skdim's M1_Sphere). The full-size
//! 10 000 × 1024 comparison with skdim is the `bench_subspace` example.

use criterion::{criterion_group, criterion_main, Criterion};
use intrinsic_dim::{build, max_k, run, FitContext, RunOptions};
use serde_json::Map;

fn fit(x: &ndarray::Array2<f32>, names: &[&str]) -> f64 {
    // Cold runs: calibrations are cached per process otherwise.
    intrinsic_dim::clear_calibration_caches();
    let ests: Vec<_> = names.iter().map(|n| build(n, &Map::new()).unwrap()).collect();
    let opts = RunOptions::default();
    let ctx = FitContext::new(x.view(), max_k(&ests, &opts), 0).unwrap();
    run(&ctx, &ests, &opts).unwrap().iter().map(|r| r.estimate.dimension).sum()
}

fn benches(c: &mut Criterion) {
    let sub = benchmark_manifolds::linear_subspace(2000, 8, 256, 0.01, 42).unwrap().mapv(|v| v as f32);
    let sphere = benchmark_manifolds::generate("M1_Sphere", 2000, 1).unwrap().mapv(|v| v as f32);
    let (sphere, _) = intrinsic_dim::drop_duplicates(sphere.view());
    let mut g = c.benchmark_group("dim");
    g.sample_size(10);
    g.bench_function("subspace_2000x256/mle+twonn+lpca", |b| b.iter(|| fit(&sub, &["mle", "twonn", "lpca"])));
    g.bench_function("sphere10_2000/danco", |b| b.iter(|| fit(&sphere, &["danco"])));
    g.bench_function("sphere10_2000/ess", |b| b.iter(|| fit(&sphere, &["ess"])));
    g.bench_function("sphere10_2000/imanifold", |b| b.iter(|| fit(&sphere, &["imanifold"])));
    g.finish();
}

criterion_group!(dim, benches);
criterion_main!(dim);
