//! Accuracy on the Hein–Audibert benchmark suite (skdim's `BenchmarkManifolds`, 24 manifolds, n = 2000):
//! estimate of every estimator on every manifold and the mean relative error |d̂ − d| / d per estimator.
//!
//!     cargo run -p intrinsic-dim --release --example suite [-- --n 2000 --seed 0 --estimators mle,twonn,imanifold
//!         --save DIR]
//!
//! `--save DIR` also writes each manifold as DIR/<name>.npy (float32) for a side-by-side run of skdim.

use std::time::Instant;

use intrinsic_dim::{build, max_k, parse_spec, run, FitContext, RunOptions};
use serde_json::Map;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let get = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let n: usize = get("--n").map_or(Ok(2000), |s| s.parse())?;
    let seed: u64 = get("--seed").map_or(Ok(0), |s| s.parse())?;
    let names = get("--estimators").unwrap_or_else(|| {
        "imanifold,mle,twonn,twonn:method=mle,gride,mom,tle,mada,corrint,mind-ml,danco,ess,fishers,lpca,knn".into()
    });
    let specs: Vec<String> = names.split(';').flat_map(|s| s.split('|')).map(String::from).collect();
    let specs: Vec<String> = if specs.len() == 1 { names.split(',').map(String::from).collect() } else { specs };
    let estimators = specs
        .iter()
        .map(|s| {
            let (name, params) = parse_spec(s)?;
            build(&name, &params)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let save = get("--save");
    let opts = RunOptions::default();
    let k = max_k(&estimators, &opts);
    let mut rel_err: Vec<Vec<f64>> = vec![Vec::new(); specs.len()];
    let mut seconds = vec![0.0f64; specs.len()];
    print!("| manifold | d |");
    for s in &specs {
        print!(" {s} |");
    }
    println!();
    println!("|---|---|{}", "---|".repeat(specs.len()));
    let _ = Map::<String, serde_json::Value>::new();
    for (spec, x) in benchmark_manifolds::suite(n, seed) {
        let x = x.mapv(|v| v as f32);
        if let Some(dir) = &save {
            std::fs::create_dir_all(dir)?;
            ndarray_npy::write_npy(format!("{dir}/{}.npy", spec.name), &x)?;
        }
        let (x, _) = intrinsic_dim::drop_duplicates(x.view());
        let ctx = FitContext::new(x.view(), k, seed)?;
        print!("| {} | {} |", spec.name, spec.dimension);
        for (j, est) in estimators.iter().enumerate() {
            let t = Instant::now();
            let r = run(&ctx, std::slice::from_ref(est), &opts);
            seconds[j] += t.elapsed().as_secs_f64();
            match r {
                Ok(r) => {
                    let d = r[0].estimate.dimension;
                    rel_err[j].push((d - spec.dimension as f64).abs() / spec.dimension as f64);
                    print!(" {d:.2} |");
                }
                Err(e) => {
                    rel_err[j].push(f64::NAN);
                    print!(" err: {e} |");
                }
            }
        }
        println!();
    }
    print!("| **mean relative error** | |");
    for e in &rel_err {
        print!(" **{:.3}** |", e.iter().sum::<f64>() / e.len() as f64);
    }
    println!();
    print!("| seconds (24 manifolds) | |");
    for s in &seconds {
        print!(" {s:.2} |");
    }
    println!();
    Ok(())
}
