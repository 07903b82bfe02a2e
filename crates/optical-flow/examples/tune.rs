//! Parameter exploration for the DIS-style method on a folder of pairs (see eval_pairs.rs).
//!   cargo run -p optical-flow --release --example tune -- DIR
use std::path::Path;

use ndarray::Array3;
use optical_flow::{endpoint_error, read_gray, DisParams, FlowEstimator, FlowMethod, FlowParams};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).ok_or("usage: tune DIR")?;
    let dir = Path::new(&dir);
    let text = std::fs::read_to_string(dir.join("pairs.csv"))?;
    let mut pairs = Vec::new();
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let c: Vec<&str> = line.trim().split(',').collect();
        let t: Array3<f32> = ndarray_npy::read_npy(dir.join(c[2]))?;
        pairs.push((read_gray(&dir.join(c[0]))?, read_gray(&dir.join(c[1]))?, t));
    }
    let m = DisParams::medium();
    let mut variants: Vec<(String, DisParams)> = vec![("medium".into(), m)];
    for (fs, vf, eps, vi) in [(1, 1, 0.01, 5), (1, 1, 0.05, 5), (1, 1, 0.1, 5), (1, 0, 0.1, 3), (0, 0, 0.1, 5)] {
        let mut p = DisParams { finest_scale: fs, variational_finest_scale: vf, ..m };
        p.variational.outer_iters = vi;
        p.variational.smooth_epsilon = eps;
        variants.push((format!("fs{fs} vf{vf} eps{eps} vr{vi}"), p));
    }
    for (name, p) in variants {
        let est = FlowEstimator::new(FlowParams::new(FlowMethod::Dis(p)))?;
        let (mut epe, mut times) = (0.0, Vec::new());
        for (a, b, t) in &pairs {
            let run = || -> Result<_, optical_flow::FlowError> {
                let (pa, pb) = (est.prepare(a.view())?, est.prepare(b.view())?);
                est.flow(&pa, &pb)
            };
            let f = run()?;
            let t0 = cpu_seconds();
            for _ in 0..3 {
                run()?;
            }
            times.push((cpu_seconds() - t0) * 1e3 / 3.0);
            epe += endpoint_error(f.view(), t.view())?.mean / pairs.len() as f64;
        }
        times.sort_by(f64::total_cmp);
        println!("{name:>28}: EPE {epe:.4}  {:.2} ms", times[times.len() / 2]);
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
