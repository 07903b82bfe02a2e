//! `imanifold bench knn`: the kNN engine against the plain f32 GEMM of the same shape (the physical limit of a
//! brute-force search) and, when a peer Python is available, scikit-learn's brute-force NearestNeighbors, all in
//! the same run (see `knn::bench`). Timings are wall-clock, best of `--repeat`; quote ratios, not absolute figures.

use std::path::PathBuf;

use anyhow::bail;
use benchmark_manifolds::synthetic::BenchData;
use clap::{Args as ClapArgs, Subcommand};
use knn::bench::{bench_knn, BenchOptions, Peer};

use super::common::OutArgs;

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
    #[arg(long, default_value = "decay")]
    pub data: BenchData,
    /// Best of this many runs.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Python with scikit-learn for the side-by-side (default: $IMANIFOLD_PEERS_PY, then
    /// ~/.cache/imanifold-peers/bin/python); the scikit-learn column is skipped when there is none.
    #[arg(long, value_name = "PYTHON")]
    pub peers_python: Option<PathBuf>,
    /// Folder holding the peer script peer_knn.py (default: $IMANIFOLD_PEERS); the scikit-learn column is
    /// skipped when there is none.
    #[arg(long, value_name = "DIR")]
    pub peers_dir: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub out: OutArgs,
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
        What::Knn(k) => run_knn(k),
    }
}

fn run_knn(a: KnnArgs) -> anyhow::Result<()> {
    a.out.check()?;
    if a.k == 0 {
        bail!("--k must be at least 1");
    }
    if let Some(&(n, _)) = a.shapes.iter().find(|&&(n, _)| a.k >= n) {
        bail!("--k {} needs more than {n} points", a.k);
    }
    let available = dataset::limits::available_memory();
    for &(n, d) in &a.shapes {
        let needed = knn::bench::memory_needed(n, d, a.k);
        if needed > available as u128 {
            let (needed, available) = (dataset::limits::Bytes(needed), dataset::limits::Bytes(available as u128));
            bail!("--shape {n}x{d} needs {needed}, {available} available");
        }
    }
    let peer = Peer::locate(a.peers_python.as_deref(), a.peers_dir.as_deref());
    let opts = BenchOptions { k: a.k, repeat: a.repeat, peer: peer.as_ref().ok().cloned() };
    let mut results = output::Results::new("bench-knn");
    results.seed(a.seed);
    let mut rows = Vec::new();
    println!(
        "{:>12} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>14} {:>9}",
        "shape", "gemm s", "GFLOP/s", "brute s", "GFLOP/s", "%peak", "pruned s", "auto s", "auto plan", "sklearn s"
    );
    for &(n, d) in &a.shapes {
        let x = a.data.generate(n, d, a.decay, a.seed);
        let row = bench_knn(&x, &opts, &std::env::temp_dir())?;
        if let Some(why) = &row.peer_failure {
            eprintln!("warning: scikit-learn run failed: {why}");
        }
        let (g_gemm, g_brute) = (row.gflops(row.gemm_seconds), row.gflops(row.brute_seconds));
        println!(
            "{:>12} {:>9.3} {:>9.1} {:>9.3} {:>9.1} {:>8.0}% {:>9.3} {:>9.3} {:>14} {:>9}",
            format!("{n}x{d}"),
            row.gemm_seconds,
            g_gemm,
            row.brute_seconds,
            g_brute,
            100.0 * g_brute / g_gemm,
            row.pruned_seconds,
            row.auto_seconds,
            row.plan_text(),
            row.peer_seconds.map_or("-".to_string(), |t| format!("{t:.3}"))
        );
        let mut v = row.to_json();
        v["data"] = a.data.to_string().into();
        v["decay"] = a.decay.into();
        rows.push(v);
        if !row.identical {
            bail!("pruned, auto and brute-force results differ at {n}x{d}: this is a bug, please report it");
        }
    }
    if let Err(why) = &peer {
        eprintln!("note: scikit-learn comparison skipped: {why}");
    }
    results.set("threads", rayon::current_num_threads()).set("runs", rows);
    let value = a.out.write(|dir| Ok(results.write(dir)?))?;
    a.out.print(&value)
}
