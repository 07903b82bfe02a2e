//! Benchmark: 10 000 × 1024 points near an 8-D linear subspace (uniform in [-1, 1]^8, rotated, plus
//! Gaussian noise σ = 0.01), mle + twonn + lpca in one run (one kNN pass), best of 3. Writes the data to
//! /tmp/imanifold_bench_10000x1024.npy for the side-by-side run of
//! `peer_id.py /tmp/imanifold_bench_10000x1024.npy --estimator mle --estimator twonn --estimator lpca --time`.
//!
//!     cargo run -p intrinsic-dim --release --example bench_subspace [-- --n 10000 --d 1024 --estimators a,b --pruned]

use std::time::Instant;

use intrinsic_dim::{build, max_k, parse_spec, run, FitContext, RunOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let get = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let n: usize = get("--n").map_or(Ok(10_000), |s| s.parse())?;
    let d: usize = get("--d").map_or(Ok(1024), |s| s.parse())?;
    let names = get("--estimators").unwrap_or_else(|| "mle,twonn,lpca".into());
    let x = benchmark_manifolds::linear_subspace(n, 8, d, 0.01, 42)?.mapv(|v| v as f32);
    let path = format!("/tmp/imanifold_bench_{n}x{d}.npy");
    ndarray_npy::write_npy(&path, &x)?;
    let ests =
        names.split(',').map(|s| parse_spec(s).and_then(|(n, p)| build(&n, &p))).collect::<Result<Vec<_>, _>>()?;
    let opts = RunOptions::default();
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let t = Instant::now();
        let knn_opts = knn::KnnOptions {
            strategy: if args.iter().any(|a| a == "--pruned") { knn::Strategy::PcaPruned } else { knn::Strategy::Auto },
            ..Default::default()
        };
        let ctx = FitContext::new_with(x.view(), max_k(&ests, &opts), 0, &knn_opts)?;
        let tk = t.elapsed().as_secs_f64();
        let reports = run(&ctx, &ests, &opts)?;
        let total = t.elapsed().as_secs_f64();
        best = best.min(total);
        let dims: Vec<String> =
            reports.iter().map(|r| format!("{} {:.4} ({:.3} s)", r.name, r.estimate.dimension, r.seconds)).collect();
        println!("knn {tk:.3} s; {}; total {total:.3} s", dims.join("; "));
    }
    println!("best total: {best:.3} s  (threads: {}, data: {path})", rayon::current_num_threads());
    Ok(())
}
