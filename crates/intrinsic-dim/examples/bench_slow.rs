//! Slow-estimator benchmark: DANCo and ESS on 2000 points of benchmark manifolds (cold calibration
//! caches, best of 3), next to scikit-dimension on the same files:
//!
//!     cargo run -p intrinsic-dim --release --example bench_slow [-- --manifolds M1_Sphere,M9_Affine --estimators danco]
//!     $PEERS_PY $IMANIFOLD_PEERS/peer_id.py /tmp/imanifold_slow_M1_Sphere.npy --estimator danco --time

use std::time::Instant;

use intrinsic_dim::{build, max_k, run, FitContext, RunOptions};
use serde_json::Map;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let get = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let manifolds = get("--manifolds").unwrap_or_else(|| "M1_Sphere,M9_Affine,M10b_Cubic,Mn1_Nonlinear".into());
    let names = get("--estimators").unwrap_or_else(|| "danco,ess".into());
    for m in manifolds.split(',') {
        let x = benchmark_manifolds::generate(m, 2000, 1)?.mapv(|v| v as f32);
        let (x, _) = intrinsic_dim::drop_duplicates(x.view());
        let path = format!("/tmp/imanifold_slow_{m}.npy");
        ndarray_npy::write_npy(&path, &x)?;
        for name in names.split(',') {
            let est = build(name, &Map::new())?;
            let opts = RunOptions::default();
            let mut best = f64::INFINITY;
            let mut dim = f64::NAN;
            for _ in 0..3 {
                intrinsic_dim::clear_calibration_caches();
                let t = Instant::now();
                let ctx = FitContext::new(x.view(), max_k(std::slice::from_ref(&est), &opts), 0)?;
                let r = run(&ctx, std::slice::from_ref(&est), &opts)?;
                best = best.min(t.elapsed().as_secs_f64());
                dim = r[0].estimate.dimension;
            }
            println!("{m:>14} {name:>6}: dimension {dim:.3}, best of 3 {best:.3} s  ({path})");
        }
    }
    Ok(())
}
