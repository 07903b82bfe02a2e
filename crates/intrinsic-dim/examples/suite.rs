//! Accuracy on the Hein–Audibert benchmark suite (skdim's `BenchmarkManifolds`, 24 manifolds, n = 2000):
//! estimate of every estimator on every manifold and the mean relative error |d̂ − d| / d per estimator.
//!
//!     cargo run -p intrinsic-dim --release --example suite [-- --n 2000 --seed 0 --estimators mle,twonn,imanifold
//!         --save DIR]
//!     cargo run -p intrinsic-dim --release --example suite -- --seeds 0,3,4,5,6 [--quiet] --estimators imanifold
//!
//! `--seeds` runs several draws of the suite (each seed also seeds the estimators) and ends with a table of the
//! mean relative error per seed and its mean over the seeds; `--quiet` prints only that table. Estimators are
//! separated by `,` or, when a spec has parameters, by `;` (e.g. `imanifold;imanifold:base=mle`).
//! `--save DIR` also writes each manifold as DIR/<name>.npy (float32) for a side-by-side run of skdim.

use std::time::Instant;

use intrinsic_dim::{build, max_k, parse_spec, run, FitContext, RunOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let get = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let n: usize = get("--n").map_or(Ok(2000), |s| s.parse())?;
    let seeds: Vec<u64> = match get("--seeds") {
        Some(s) => s.split(',').map(|x| x.trim().parse()).collect::<Result<_, _>>()?,
        None => vec![get("--seed").map_or(Ok(0), |s| s.parse())?],
    };
    let quiet = args.iter().any(|a| a == "--quiet");
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
    // per_seed[s][j]: mean relative error of estimator j on seed s.
    let mut per_seed: Vec<Vec<f64>> = Vec::new();
    let mut seconds = vec![0.0f64; specs.len()];
    for &seed in &seeds {
        let mut rel_err: Vec<Vec<f64>> = vec![Vec::new(); specs.len()];
        let mut secs = vec![0.0f64; specs.len()];
        if !quiet {
            if seeds.len() > 1 {
                println!("\nseed {seed}\n");
            }
            print!("| manifold | d |");
            for s in &specs {
                print!(" {s} |");
            }
            println!();
            println!("|---|---|{}", "---|".repeat(specs.len()));
        }
        for (spec, x) in benchmark_manifolds::suite(n, seed) {
            let x = x.mapv(|v| v as f32);
            if let Some(dir) = &save {
                std::fs::create_dir_all(dir)?;
                ndarray_npy::write_npy(format!("{dir}/{}.npy", spec.name), &x)?;
            }
            let (x, _) = intrinsic_dim::drop_duplicates(x.view());
            let ctx = FitContext::new(x.view(), k, seed)?;
            if !quiet {
                print!("| {} | {} |", spec.name, spec.dimension);
            }
            for (j, est) in estimators.iter().enumerate() {
                let t = Instant::now();
                let r = run(&ctx, std::slice::from_ref(est), &opts);
                secs[j] += t.elapsed().as_secs_f64();
                let cell = match r {
                    Ok(r) => {
                        let d = r[0].estimate.dimension;
                        rel_err[j].push((d - spec.dimension as f64).abs() / spec.dimension as f64);
                        format!("{d:.2}")
                    }
                    Err(e) => {
                        rel_err[j].push(f64::NAN);
                        format!("err: {e}")
                    }
                };
                if !quiet {
                    print!(" {cell} |");
                }
            }
            if !quiet {
                println!();
            }
        }
        let means: Vec<f64> = rel_err.iter().map(|e| e.iter().sum::<f64>() / e.len() as f64).collect();
        if !quiet {
            print!("| **mean relative error** | |");
            for m in &means {
                print!(" **{m:.3}** |");
            }
            println!();
            print!("| seconds (24 manifolds) | |");
            for s in &secs {
                print!(" {s:.2} |");
            }
            println!();
        }
        seconds.iter_mut().zip(&secs).for_each(|(a, b)| *a += b);
        per_seed.push(means);
    }
    if seeds.len() > 1 || quiet {
        println!("\nmean relative error per seed\n");
        print!("| seed |");
        for s in &specs {
            print!(" {s} |");
        }
        println!();
        println!("|---|{}", "---|".repeat(specs.len()));
        for (seed, means) in seeds.iter().zip(&per_seed) {
            print!("| {seed} |");
            for m in means {
                print!(" {m:.3} |");
            }
            println!();
        }
        print!("| **mean** |");
        for j in 0..specs.len() {
            print!(" **{:.3}** |", per_seed.iter().map(|m| m[j]).sum::<f64>() / per_seed.len() as f64);
        }
        println!();
        print!("| seconds per draw |");
        for s in &seconds {
            print!(" {:.2} |", s / seeds.len() as f64);
        }
        println!();
    }
    Ok(())
}
