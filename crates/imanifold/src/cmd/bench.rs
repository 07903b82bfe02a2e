//! `imanifold bench knn`: the kNN engine against the plain f32 GEMM of the same shape (the physical limit of a
//! brute-force search) and, when the reference Python venv is available, scikit-learn's brute-force NearestNeighbors,
//! all in the same run. Timings are wall-clock, best of `--repeat`; quote ratios, not absolute figures.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Args as ClapArgs, Subcommand};
use faer::{Accum, Mat, MatRef, Par};
use knn::{KnnOptions, Strategy};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::common::prepare_out;

#[derive(Debug, ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    pub what: What,
}

#[derive(Debug, Subcommand)]
pub enum What {
    /// Exact kNN: GEMM bound, brute force, PCA-pruned, scikit-learn.
    Knn(KnnArgs),
}

#[derive(Debug, ClapArgs)]
pub struct KnnArgs {
    /// Problem sizes as NxD (repeatable).
    #[arg(long = "shape", value_parser = parse_nd, default_values = ["10000x1024", "20000x4096"])]
    pub shapes: Vec<(usize, usize)>,
    #[arg(long, default_value_t = 20)]
    pub k: usize,
    /// Spectrum decay exponent α of the synthetic data (column j has scale (j+1)^-α; 0 = isotropic noise).
    #[arg(long, default_value_t = 1.0)]
    pub decay: f64,
    /// Synthetic data: `decay` (power-law spectrum, see --decay) or `subspace` (uniform in an 8-D subspace plus
    /// isotropic noise of standard deviation 0.01).
    #[arg(long, default_value = "decay", value_parser = ["decay", "subspace"])]
    pub data: String,
    /// Best of this many runs.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Python with scikit-learn for the side-by-side (default: $IMANIFOLD_PEERS_PY, then
    /// ~/.cache/imanifold-peers/bin/python); skipped when absent.
    #[arg(long)]
    pub peers_python: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long)]
    pub out: PathBuf,
}

fn parse_nd(s: &str) -> Result<(usize, usize), String> {
    let (n, d) = s.split_once('x').ok_or_else(|| format!("`{s}` is not NxD"))?;
    let n = n.parse().map_err(|_| format!("`{s}`: bad N"))?;
    let d = d.parse().map_err(|_| format!("`{s}`: bad D"))?;
    if n < 2 || d < 1 {
        return Err(format!("`{s}`: need N ≥ 2 and D ≥ 1"));
    }
    Ok((n, d))
}

pub fn run(a: Args) -> anyhow::Result<()> {
    match a.what {
        What::Knn(k) => bench_knn(k),
    }
}

/// Synthetic data with a power-law spectrum (image collections decay steeply), seeded.
pub fn decaying(n: usize, d: usize, alpha: f64, seed: u64) -> Array2<f32> {
    let scales: Vec<f32> = (0..d).map(|j| ((j + 1) as f64).powf(-alpha) as f32).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_fn((n, d), |(_, j)| (rng.random::<f32>() * 2.0 - 1.0) * scales[j])
}

/// Points uniform in a random `m`-dimensional linear subspace plus Gaussian-like noise, seeded.
pub fn near_subspace(n: usize, d: usize, m: usize, noise: f32, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let basis = Array2::from_shape_fn((m, d), |_| rng.random::<f32>() - 0.5);
    let latent = Array2::from_shape_fn((n, m), |_| rng.random::<f32>());
    let mut x = latent.dot(&basis);
    // Sum of 4 uniforms: close to Gaussian, cheap.
    x.mapv_inplace(|v| v + noise * ((0..4).map(|_| rng.random::<f32>()).sum::<f32>() - 2.0) * 1.732);
    x
}

fn best_of<T>(repeat: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed().as_secs_f64());
        out = Some(v);
    }
    (best, out.expect("at least one run"))
}

/// X·Xᵀ for all n² pairs in column panels (never n × n in memory), faer's parallel f32 GEMM.
fn gemm_all_pairs(x: &Array2<f32>) -> f32 {
    let (n, d) = x.dim();
    let xs = x.as_slice().expect("standard layout");
    let xr = MatRef::from_row_major_slice(xs, n, d);
    let panel = 2048.min(n);
    let mut c = Mat::<f32>::zeros(n, panel);
    let mut checksum = 0.0f32;
    for r0 in (0..n).step_by(panel) {
        let r1 = (r0 + panel).min(n);
        let rb = MatRef::from_row_major_slice(&xs[r0 * d..r1 * d], r1 - r0, d);
        let cm = c.as_mut().subcols_mut(0, r1 - r0);
        faer::linalg::matmul::matmul(cm, Accum::Replace, xr, rb.transpose(), 1.0f32, Par::rayon(0));
        checksum += c[(0, 0)];
    }
    checksum
}

fn peers_python(arg: &Option<PathBuf>) -> Option<PathBuf> {
    if let Some(p) = arg {
        return Some(p.clone());
    }
    if let Ok(p) = std::env::var("IMANIFOLD_PEERS_PY") {
        return Some(PathBuf::from(p));
    }
    let home = std::env::var("HOME").ok()?;
    let p = PathBuf::from(home).join(".cache/imanifold-peers/bin/python");
    p.is_file().then_some(p)
}

fn peer_script() -> Option<PathBuf> {
    let candidates = [PathBuf::from("../shared/tools/peer_knn.py"), PathBuf::from("../../shared/tools/peer_knn.py")];
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/tools/peer_knn.py");
    candidates.into_iter().chain([manifest]).find(|p| p.is_file())
}

fn bench_knn(a: KnnArgs) -> anyhow::Result<()> {
    if a.k == 0 {
        bail!("--k must be at least 1");
    }
    let out = prepare_out(&a.out)?;
    let mut results = output::Results::new("bench-knn");
    results.seed(a.seed);
    let py = peers_python(&a.peers_python);
    let script = peer_script();
    let mut rows = Vec::new();
    println!(
        "{:>12} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>14} {:>9}",
        "shape", "gemm s", "GFLOP/s", "brute s", "GFLOP/s", "%peak", "pruned s", "auto s", "auto plan", "sklearn s"
    );
    for &(n, d) in &a.shapes {
        if a.k >= n {
            bail!("--k {} needs more than {n} points", a.k);
        }
        let x =
            if a.data == "subspace" { near_subspace(n, d, 8, 0.01, a.seed) } else { decaying(n, d, a.decay, a.seed) };
        let flops = 2.0 * (n as f64) * (n as f64) * (d as f64);
        let (t_gemm, _) = best_of(a.repeat, || gemm_all_pairs(&x));
        let brute = KnnOptions { strategy: Strategy::Brute, ..Default::default() };
        let pruned = KnnOptions { strategy: Strategy::PcaPruned, ..Default::default() };
        let (t_brute, nb_b) = best_of(a.repeat, || knn::knn_self_with(x.view(), a.k, &brute));
        let (t_pruned, nb_p) = best_of(a.repeat, || knn::knn_self_with(x.view(), a.k, &pruned));
        let (t_auto, nb_a) = best_of(a.repeat, || knn::knn_self(x.view(), a.k));
        let plan = knn::plan(x.view(), a.k, &KnnOptions::default())?;
        let plan_text = match plan.strategy {
            Strategy::PcaPruned => format!("pruned m={}", plan.pruning_dims),
            _ => "brute".to_string(),
        };
        let (nb_b, nb_p, nb_a) = (nb_b?, nb_p?, nb_a?);
        let identical = nb_b == nb_p && nb_b == nb_a;
        let mut t_sklearn = None;
        if let (Some(py), Some(script)) = (&py, &script) {
            let tmp = out.join(format!(".bench_{n}x{d}.npy"));
            output::write_npy(&tmp, &x)?;
            let o = Command::new(py)
                .arg(script)
                .arg(&tmp)
                .args(["--k", &a.k.to_string(), "--repeat", &a.repeat.to_string()])
                .output()
                .with_context(|| format!("running {}", py.display()))?;
            let _ = std::fs::remove_file(&tmp);
            if o.status.success() {
                let v: serde_json::Value = serde_json::from_slice(&o.stdout).context("parsing peer_knn.py output")?;
                t_sklearn = v["seconds"].as_f64();
            } else {
                eprintln!("warning: scikit-learn run failed: {}", String::from_utf8_lossy(&o.stderr).trim());
            }
        }
        let g_gemm = flops / t_gemm / 1e9;
        let g_brute = flops / t_brute / 1e9;
        println!(
            "{:>12} {:>9.3} {:>9.1} {:>9.3} {:>9.1} {:>8.0}% {:>9.3} {:>9.3} {:>14} {:>9}",
            format!("{n}x{d}"),
            t_gemm,
            g_gemm,
            t_brute,
            g_brute,
            100.0 * g_brute / g_gemm,
            t_pruned,
            t_auto,
            plan_text,
            t_sklearn.map_or("-".to_string(), |t| format!("{t:.3}"))
        );
        rows.push(json!({
            "n": n, "d": d, "k": a.k, "data": a.data, "decay": a.decay,
            "gemm_seconds": t_gemm, "gemm_gflops": g_gemm,
            "brute_seconds": t_brute, "brute_gflops": g_brute, "brute_fraction_of_gemm": g_brute / g_gemm,
            "pruned_seconds": t_pruned, "pruned_speedup_over_brute": t_brute / t_pruned,
            "pruned_identical_to_brute": identical,
            "auto_seconds": t_auto,
            "auto_plan": {"strategy": plan_text, "pruning_dims": plan.pruning_dims,
                          "predicted_pruned_cpu_seconds": plan.predicted_pruned_seconds,
                          "predicted_brute_cpu_seconds": plan.predicted_brute_seconds},
            "sklearn_seconds": t_sklearn,
            "speedup_over_sklearn": t_sklearn.map(|s| s / t_auto),
        }));
        if !identical {
            bail!("pruned, auto and brute-force results differ at {n}x{d}: this is a bug, please report it");
        }
    }
    if py.is_none() || script.is_none() {
        eprintln!("note: scikit-learn comparison skipped (no peers venv: see ../shared/tools/README.md)");
    }
    results.set("threads", rayon::current_num_threads()).set("runs", rows);
    results.write(&out)?;
    Ok(())
}
