//! Endpoint error and speed of each flow method on a folder of pairs with true flow.
//!
//!   cargo run -p optical-flow --release --example eval_pairs -- DIR [METHOD ...]
//!
//! DIR/pairs.csv has columns a,b,truth (paths relative to DIR; e.g. written by tools/make_photo_pairs.py). Prints,
//! per method, the mean endpoint error over all pairs and the median time per pair (one thread; the best of 5 runs
//! per pair after a warm-up, as the reference script peer_flow.py does with its median).

use std::path::Path;

use ndarray::Array3;
use optical_flow::{endpoint_error, method_names, read_gray, FlowEstimator, FlowParams};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = Path::new(args.first().ok_or("usage: eval_pairs DIR [METHOD ...]")?);
    let methods: Vec<String> =
        if args.len() > 1 { args[1..].to_vec() } else { method_names().iter().map(|s| s.to_string()).collect() };
    let text = std::fs::read_to_string(dir.join("pairs.csv"))?;
    let mut pairs = Vec::new();
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.trim().split(',').collect();
        let a = read_gray(&dir.join(cols[0]))?;
        let b = read_gray(&dir.join(cols[1]))?;
        let t: Array3<f32> = ndarray_npy::read_npy(dir.join(cols[2]))?;
        pairs.push((cols[0].to_string(), a, b, t));
    }
    for m in methods {
        let est = FlowEstimator::new(FlowParams::from_name(&m)?)?;
        let (mut epes, mut times) = (Vec::new(), Vec::new());
        let verbose = std::env::var("EVAL_VERBOSE").is_ok();
        for (name, a, b, t) in &pairs {
            let run = || -> Result<_, optical_flow::FlowError> {
                let pa = est.prepare(a.view())?;
                let pb = est.prepare(b.view())?;
                est.flow(&pa, &pb)
            };
            let flow = run()?;
            let mut ts = Vec::new();
            for _ in 0..5 {
                let t0 = cpu_seconds();
                run()?;
                ts.push((cpu_seconds() - t0) * 1e3);
            }
            ts.sort_by(f64::total_cmp);
            let e = endpoint_error(flow.view(), t.view())?;
            if verbose {
                println!("  {name}: epe {:.3} ms {:.2}", e.mean, ts[2]);
            }
            epes.push(e.mean);
            times.push(ts[2]);
        }
        times.sort_by(f64::total_cmp);
        let mean = epes.iter().sum::<f64>() / epes.len() as f64;
        println!(
            "{m:>20}: mean EPE {mean:.4} px over {} pairs, median {:.2} ms per pair",
            epes.len(),
            times[times.len() / 2]
        );
    }
    Ok(())
}

/// CPU time of the calling thread in seconds (Linux `/proc/thread-self/schedstat`), so that the figures do not
/// depend on other processes sharing the cores; wall-clock time where that file is missing.
fn cpu_seconds() -> f64 {
    match std::fs::read_to_string("/proc/thread-self/schedstat") {
        Ok(s) => s.split_whitespace().next().and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0) * 1e-9,
        Err(_) => {
            use std::sync::OnceLock;
            static START: OnceLock<std::time::Instant> = OnceLock::new();
            START.get_or_init(std::time::Instant::now).elapsed().as_secs_f64()
        }
    }
}
