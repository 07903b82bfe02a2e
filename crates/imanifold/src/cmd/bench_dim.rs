//! `imanifold bench dim`: `dim` with its default intervals against scikit-dimension on the same data, in the same
//! run: imanifold in process (one kNN pass, every estimator, their 95 % intervals), scikit-dimension's fits in the
//! peers' Python (`crates/intrinsic-dim/scripts/skdim_dim.py`), each estimator as its users call it. Reports the
//! point estimates side by side with their largest relative difference, and wall and CPU ratios.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use benchmark_manifolds::synthetic::BenchData;
use clap::Args as ClapArgs;
use intrinsic_dim::session::{DimOptions, Session, Source};
use serde_json::{json, Value};

use knn::bench::locate_python;

use super::bench::best_of;
use super::common::OutArgs;

/// The scikit-dimension script of this source tree (run with the peers' Python).
const SKDIM_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../intrinsic-dim/scripts/skdim_dim.py");
/// Point estimates closer than this (relative) count as the same: scikit-dimension computes in float64 from the
/// float32 rows, imanifold's kNN distances are exact float32 distances.
const SAME_ESTIMATE: f64 = 1e-6;

#[derive(Debug, ClapArgs)]
pub struct DimArgs {
    /// Data (anything the loaders read); default: N × D points near an 8-D subspace (`--shape`).
    #[arg(long, value_name = "X.npy")]
    pub file: Option<PathBuf>,
    /// Synthetic data size as NxD (when no --file).
    #[arg(long, value_parser = super::bench::parse_nd, default_value = "10000x1024")]
    pub shape: (usize, usize),
    /// Estimators, scikit-dimension names (repeatable); each must exist in both tools.
    #[arg(long = "estimator", default_values = ["mle", "twonn", "lpca"])]
    pub estimators: Vec<String>,
    /// `n_neighbors` of the kNN-based estimators (mle, mom, tle, mada, ess), as `imanifold dim --k`.
    #[arg(long, default_value_t = 20)]
    pub k: usize,
    /// Best of this many imanifold runs (scikit-dimension runs once: it takes ten times longer).
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Python with scikit-dimension (default: $IMANIFOLD_PEERS_PY, then ~/.cache/imanifold-peers/bin/python); the
    /// comparison is skipped with a note when there is none.
    #[arg(long, value_name = "PYTHON")]
    pub peers_python: Option<PathBuf>,
    /// The scikit-dimension script (default: crates/intrinsic-dim/scripts/skdim_dim.py of this source tree).
    #[arg(long, value_name = "FILE")]
    pub skdim_script: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub out: OutArgs,
}

pub fn run(a: DimArgs) -> anyhow::Result<()> {
    a.out.check()?;
    if let Some(f) = &a.file {
        a.out.check_inputs(&[f])?;
    }
    if a.k == 0 {
        bail!("--k must be at least 1");
    }
    let opts = DimOptions {
        estimators: a.estimators.clone(),
        k: Some(a.k),
        seed: a.seed,
        knn: knn::KnnOptions { seed: a.seed, ..Default::default() },
        ..Default::default()
    };
    // Estimators and options are checked before any data is made or read.
    let session = Session::new(&opts)?;
    if a.file.is_none() {
        check_memory(a.shape.0, a.shape.1, a.k, "--shape")?;
    }
    let data = match &a.file {
        Some(f) => dataset::load(f, &dataset::LoadOptions::default())?.data.view().to_owned(),
        None => BenchData::Subspace.generate(a.shape.0, a.shape.1, 0.0, a.seed),
    };
    if let Some(f) = &a.file {
        check_memory(data.nrows(), data.ncols(), a.k, &f.display().to_string())?;
    }
    let scratch = tempfile::tempdir().context("creating a scratch folder")?;
    // The peer reads the same float32 rows from a scratch .npy, whatever the input's format.
    let path = scratch.path().join("rows.npy");
    output::write_npy(&path, &data)?;
    let name =
        a.file.as_ref().map_or_else(|| format!("subspace {}x{}", a.shape.0, a.shape.1), |f| f.display().to_string());
    let (n, d) = data.dim();
    println!("dim: {n} × {d}, estimators {}, k = {}", a.estimators.join(" "), a.k);
    let source = Source { name: name.clone(), image_shape: None };
    let ((secs, cpu), report) = best_of(a.repeat, || session.run(data.view(), source.clone()));
    let report = report?;
    let ours: Vec<Value> = report
        .estimates
        .iter()
        .map(|e| {
            let est = &e.report.estimate;
            json!({"estimator": e.label, "dimension": est.dimension, "ci95": est.ci95, "ci_method": est.ci_method,
                   "seconds": e.report.seconds})
        })
        .collect();
    println!("imanifold: {secs:.2} s, {cpu:.2} CPU s (kNN {:.2} s)", report.timings.knn);
    let mut results = output::Results::new("bench-dim");
    results.seed(a.seed).set("data", name).set("n", n).set("d", d).set("k", a.k);
    results.set("threads", rayon::current_num_threads());
    results.set(
        "imanifold",
        json!({"seconds": secs, "cpu_seconds": cpu, "knn_seconds": report.timings.knn,
                                    "estimates": ours}),
    );
    match run_skdim(&a, &path) {
        Ok(peer) => compare(&mut results, &ours, &peer, secs, cpu),
        Err(why) => {
            eprintln!("note: scikit-dimension comparison skipped: {why}");
            results.set("skdim_skipped", why);
        }
    }
    drop(scratch);
    let value = a.out.write(|dir| Ok(results.write(dir)?))?;
    a.out.print(&value)
}

/// Refuses, with the figures, a run whose rows, kNN search and PCA scatters (the context's, the 16 half-sampling
/// groups', a half's) would not fit in the available memory.
fn check_memory(n: usize, d: usize, k: usize, what: &str) -> anyhow::Result<()> {
    let (n128, d128) = (n as u128, d as u128);
    let needed = knn::bench::memory_needed(n, d, k) + 18 * d128 * d128 * 8 + n128 * d128 * 4;
    let available = dataset::limits::available_memory();
    if needed > available as u128 {
        let (needed, available) = (dataset::limits::Bytes(needed), dataset::limits::Bytes(available as u128));
        bail!("{what}: {n} × {d} rows need about {needed} for dim and its interval, {available} available");
    }
    Ok(())
}

/// Prints and records the side-by-side figures.
fn compare(results: &mut output::Results, ours: &[Value], peer: &Value, secs: f64, cpu: f64) {
    let (p_secs, p_cpu) =
        (peer["seconds"].as_f64().unwrap_or(f64::NAN), peer["cpu_seconds"].as_f64().unwrap_or(f64::NAN));
    let empty = Vec::new();
    let theirs = peer["estimates"].as_array().unwrap_or(&empty);
    let mut worst: f64 = 0.0;
    for (o, t) in ours.iter().zip(theirs) {
        let (a, b) = (o["dimension"].as_f64().unwrap_or(f64::NAN), t["dimension"].as_f64().unwrap_or(f64::NAN));
        let rel = (a - b).abs() / b.abs().max(f64::MIN_POSITIVE);
        worst = worst.max(if rel.is_nan() { f64::INFINITY } else { rel });
        println!(
            "{:>10}: imanifold {a:.6}, scikit-dimension {b:.6} (relative difference {rel:.1e})",
            o["estimator"].as_str().unwrap_or("?")
        );
    }
    let same = worst <= SAME_ESTIMATE && ours.len() == theirs.len();
    println!(
        "scikit-dimension: {p_secs:.2} s, {p_cpu:.2} CPU s (fits only) — imanifold {:.1}× faster (wall), {:.1}× (CPU); \
         point estimates {}",
        p_secs / secs,
        p_cpu / cpu,
        if same { "the same" } else { "DIFFER" }
    );
    results.set("skdim", peer.clone()).set(
        "ratio",
        json!({"wall": p_secs / secs, "cpu": p_cpu / cpu, "max_relative_difference": worst,
               "same_point_estimates": same, "same_within": SAME_ESTIMATE}),
    );
}

/// Runs the scikit-dimension script: its JSON output, or why there is none.
fn run_skdim(a: &DimArgs, data: &Path) -> Result<Value, String> {
    let python = locate_python(a.peers_python.as_deref())?;
    let script = a.skdim_script.clone().unwrap_or_else(|| PathBuf::from(SKDIM_SCRIPT));
    if !script.is_file() {
        return Err(format!("{} does not exist (give --skdim-script)", script.display()));
    }
    let mut cmd = std::process::Command::new(&python);
    cmd.arg(&script).arg(data).args(["--k", &a.k.to_string()]);
    for e in &a.estimators {
        cmd.args(["--estimator", e]);
    }
    let o = cmd.output().map_err(|e| format!("running {}: {e}", python.display()))?;
    if !o.status.success() {
        return Err(String::from_utf8_lossy(&o.stderr).trim().to_string());
    }
    serde_json::from_slice(&o.stdout).map_err(|e| format!("cannot parse the output of {}: {e}", script.display()))
}
