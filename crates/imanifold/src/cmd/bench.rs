//! `imanifold bench knn`: the kNN engine against the plain f32 GEMM of the same shape (the physical limit of a
//! brute-force search) and, when a peer Python is available, scikit-learn's brute-force NearestNeighbors, all in
//! the same run (see `knn::bench`). `imanifold bench fashion-mnist`: the same engine on a real image collection
//! (every strategy, faiss exact and HNSW, the approximate search's recall and effect on MLE and TwoNN, and the
//! default estimator's time against its kNN). `imanifold bench dim`: `dim` against scikit-dimension (`bench_dim`).
//! Timings are wall-clock, best of `--repeat`; quote ratios, not absolute
//! figures.

use std::path::PathBuf;

use anyhow::bail;
use benchmark_manifolds::synthetic::BenchData;
use clap::{Args as ClapArgs, Subcommand};
use knn::bench::{bench_knn, BenchOptions, Peer};
use serde_json::{json, Value};

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
    /// Fashion-MNIST train: every kNN strategy, faiss (exact and HNSW), the approximate search's recall and its
    /// effect on MLE and TwoNN, and the default estimator's time against its kNN (cold and warm calibration cache).
    FashionMnist(FashionArgs),
    /// `dim` with its default intervals against scikit-dimension on the same data (default: 10 000 × 1024 points
    /// near an 8-D subspace; mle, twonn, lpca, k = 20).
    Dim(super::bench_dim::DimArgs),
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

pub(super) fn parse_nd(s: &str) -> Result<(usize, usize), String> {
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
        What::FashionMnist(f) => run_fashion(f),
        What::Dim(d) => super::bench_dim::run(d),
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

/// Fashion-MNIST train where Debian's `dataset-fashion-mnist` package installs it.
pub const FASHION_MNIST: &str = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";
/// The faiss script of this source tree (run with the peers' Python).
const FAISS_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../knn/scripts/faiss_knn.py");

#[derive(Debug, ClapArgs)]
pub struct FashionArgs {
    /// Fashion-MNIST train images (IDX, optionally gzipped); the case is skipped with a note when it is absent.
    #[arg(long, default_value = FASHION_MNIST)]
    pub file: PathBuf,
    /// Use the first N rows only (0: all).
    #[arg(long, default_value_t = 0)]
    pub rows: usize,
    #[arg(long, default_value_t = 20)]
    pub k: usize,
    /// ef_search values of the approximate strategy (comma-separated); recall@k over all rows against the exact
    /// result.
    #[arg(long, value_delimiter = ',', default_values_t = [knn::DEFAULT_EF_SEARCH])]
    pub ef_search: Vec<usize>,
    /// efSearch values of faiss HNSW (M = 32; comma-separated, one graph searched with each).
    #[arg(long, default_value = "16,32,64,128")]
    pub faiss_ef: String,
    /// Also time the k-d tree (a linear scan with overhead at 784 columns: minutes).
    #[arg(long)]
    pub tree: bool,
    /// Skip the default estimator (`dim` with a cold and a warm calibration cache).
    #[arg(long)]
    pub no_dim: bool,
    /// Best of this many runs (kNN searches only).
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Python with faiss-cpu (default: $IMANIFOLD_PEERS_PY, then ~/.cache/imanifold-peers/bin/python); the faiss
    /// columns are skipped when there is none.
    #[arg(long, value_name = "PYTHON")]
    pub peers_python: Option<PathBuf>,
    /// The faiss script (default: crates/knn/scripts/faiss_knn.py of this source tree).
    #[arg(long, value_name = "FILE")]
    pub faiss_script: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub out: OutArgs,
}

/// Recall@k of `found` against `exact` over all rows (by index).
fn full_recall(exact: &knn::Neighbors, found: &knn::Neighbors) -> f64 {
    let hits: usize = exact
        .indices
        .outer_iter()
        .zip(found.indices.outer_iter())
        .map(|(e, f)| e.iter().filter(|j| f.iter().any(|g| g == *j)).count())
        .sum();
    hits as f64 / exact.indices.len() as f64
}

/// Runs the faiss script: its JSON output, or why there is none.
fn run_faiss(a: &FashionArgs) -> Result<serde_json::Value, String> {
    let python = knn::bench::locate_python(a.peers_python.as_deref())?;
    let script = a.faiss_script.clone().unwrap_or_else(|| PathBuf::from(FAISS_SCRIPT));
    if !script.is_file() {
        return Err(format!("{} does not exist (give --faiss-script)", script.display()));
    }
    let o = std::process::Command::new(&python)
        .arg(&script)
        .arg(&a.file)
        .args(["--k", &a.k.to_string(), "--ef", &a.faiss_ef, "--rows", &a.rows.to_string()])
        .output()
        .map_err(|e| format!("running {}: {e}", python.display()))?;
    if !o.status.success() {
        return Err(String::from_utf8_lossy(&o.stderr).trim().to_string());
    }
    serde_json::from_slice(&o.stdout).map_err(|e| format!("cannot parse the output of {}: {e}", script.display()))
}

/// CPU time (user + system) of this process so far, in seconds, from /proc/self/stat (Linux; 0 elsewhere). Less
/// sensitive to other load on a shared machine than wall time.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    // Fields after the command name (which may contain spaces) start at the state, field 3; utime and stime are
    // fields 14 and 15, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest.split_whitespace().skip(11).take(2).filter_map(|v| v.parse().ok()).collect();
    f.iter().sum::<f64>() / 100.0
}

/// The run with the best wall time of `repeat` (at least one): its wall and CPU seconds, and the last result.
pub(super) fn best_of<T>(repeat: usize, mut f: impl FnMut() -> T) -> ((f64, f64), T) {
    let mut best = (f64::INFINITY, 0.0);
    let mut out = None;
    for _ in 0..repeat.max(1) {
        let (t, v) = timed(&mut f);
        if t.0 < best.0 {
            best = t;
        }
        out = Some(v);
    }
    (best, out.expect("at least one run"))
}

/// Wall and CPU seconds of one call.
fn timed<T>(f: impl FnOnce() -> T) -> ((f64, f64), T) {
    let (t, c) = (std::time::Instant::now(), cpu_seconds());
    let v = f();
    ((t.elapsed().as_secs_f64(), cpu_seconds() - c), v)
}

/// The default estimator with an empty calibration cache in `cache`, then again with it filled (memory cache
/// cleared, so the values come from disk as in a second run of the CLI).
fn time_default_estimator(data: ndarray::ArrayView2<f32>, seed: u64, cache: &std::path::Path) -> anyhow::Result<Value> {
    use intrinsic_dim::session::{DimOptions, Session, Source};
    let session = Session::new(&DimOptions { seed, ..Default::default() })?;
    let _ = std::fs::remove_dir_all(cache);
    intrinsic_dim::calibration_cache::set_dir(Some(cache.to_path_buf()));
    let mut runs = serde_json::Map::new();
    for state in ["cold", "warm"] {
        intrinsic_dim::clear_calibration_caches();
        let source = Source { name: "fashion-mnist".into(), image_shape: None };
        let ((total, cpu), report) = timed(|| session.run(data, source));
        let report = report?;
        let est = &report.estimates[0].report.estimate;
        println!(
            "dim (default estimator), {state} calibration cache: {total:.2} s, of which kNN {:.2} s ({:.2}× the kNN); \
             estimate {:.3}",
            report.timings.knn,
            total / report.timings.knn,
            est.dimension
        );
        runs.insert(
            state.into(),
            json!({"seconds": total, "cpu_seconds": cpu, "knn_seconds": report.timings.knn, "total_over_knn": total / report.timings.knn,
                   "k": report.k_computed, "dimension": est.dimension, "ci95": est.ci95}),
        );
    }
    intrinsic_dim::calibration_cache::set_dir(None);
    let _ = std::fs::remove_dir_all(cache);
    Ok(Value::Object(runs))
}

// One function on purpose: the case is a script of measurements printed as they come (~110 lines).
fn run_fashion(a: FashionArgs) -> anyhow::Result<()> {
    use knn::{KnnOptions, Strategy};
    a.out.check()?;
    if a.k == 0 || a.ef_search.contains(&0) {
        bail!("--k and --ef-search must be at least 1");
    }
    let mut results = output::Results::new("bench-fashion-mnist");
    results.seed(a.seed).set("file", a.file.display().to_string());
    if !a.file.is_file() {
        let why = format!("{} does not exist (Debian package dataset-fashion-mnist, or give --file)", a.file.display());
        eprintln!("note: Fashion-MNIST case skipped: {why}");
        results.set("skipped", why);
        let value = a.out.write(|dir| Ok(results.write(dir)?))?;
        return a.out.print(&value);
    }
    let limit = (a.rows > 0).then_some(a.rows);
    let ds = dataset::load(&a.file, &dataset::LoadOptions { limit, ..Default::default() })?;
    let (data, dropped) = intrinsic_dim::drop_duplicates(ds.data.view());
    drop(ds);
    let (n, d, k) = (data.nrows(), data.ncols(), a.k);
    if k >= n {
        bail!("--k {k} needs more than {n} rows");
    }
    println!("Fashion-MNIST: {n} rows × {d} (duplicates dropped: {}), k = {k}", dropped.len());
    results.set("n", n).set("d", d).set("k", k).set("duplicates_dropped", dropped.len());
    results.set("threads", rayon::current_num_threads());

    let faiss = run_faiss(&a);
    match &faiss {
        Ok(v) => println!("faiss: {v}"),
        Err(why) => eprintln!("note: faiss skipped: {why}"),
    }
    let faiss_flat = faiss.as_ref().ok().and_then(|v| v["flat_seconds"].as_f64());
    let faiss_flat_cpu = faiss.as_ref().ok().and_then(|v| v["flat_cpu_seconds"].as_f64());

    let mut strategies = vec![Strategy::Auto, Strategy::Brute, Strategy::PcaPruned];
    if a.tree {
        strategies.push(Strategy::Tree);
    }
    let mut exact_rows = Vec::new();
    let mut exact: Option<knn::Neighbors> = None;
    let mut identical = true;
    for s in strategies {
        let opts = KnnOptions { strategy: s, ..Default::default() };
        let ((secs, cpu), nb) = best_of(a.repeat, || knn::knn_self_with(data.view(), k, &opts));
        let nb = nb?;
        let vs_flat = faiss_flat.map(|f| f / secs);
        let cpu_vs_flat = faiss_flat_cpu.map(|f| f / cpu);
        println!(
            "exact {s:>7}: {secs:.2} s, CPU {cpu:.2} s{}",
            vs_flat.zip(cpu_vs_flat).map_or(String::new(), |(r, c)| format!(" ({r:.2}× faiss flat; CPU {c:.2}×)"))
        );
        exact_rows.push(json!({"strategy": s.name(), "seconds": secs, "cpu_seconds": cpu,
            "speedup_over_faiss_flat": vs_flat, "cpu_speedup_over_faiss_flat": cpu_vs_flat}));
        match &exact {
            None => exact = Some(nb),
            Some(e) => identical &= *e == nb,
        }
    }
    let exact = exact.expect("at least one exact strategy");
    if !identical {
        bail!("the exact strategies disagree on Fashion-MNIST: this is a bug, please report it");
    }
    let plan = knn::plan(data.view(), k, &KnnOptions::default())?;
    println!("auto plan: {:?} with {} coordinates", plan.strategy, plan.pruning_dims);
    results.set("exact", exact_rows).set("exact_identical", identical);
    results.set("auto_plan", json!({"strategy": plan.strategy.name(), "pruning_dims": plan.pruning_dims}));

    let dim_opts = intrinsic_dim::session::DimOptions {
        estimators: vec!["mle".into(), "twonn".into()],
        k: Some(k),
        bootstrap: 0,
        seed: a.seed,
        ..Default::default()
    };
    let session = intrinsic_dim::session::Session::new(&dim_opts)?;
    let estimates = |nb: &knn::Neighbors| -> anyhow::Result<Vec<f64>> {
        let source = intrinsic_dim::session::Source { name: "fashion-mnist".into(), image_shape: None };
        let r = session.run_neighbors(nb.clone(), d, source)?;
        Ok(r.estimates.iter().map(|e| e.report.estimate.dimension).collect())
    };
    let exact_est = estimates(&exact)?;
    let mut approx_rows = Vec::new();
    for &ef in &a.ef_search {
        let opts = KnnOptions { strategy: Strategy::Approx, ef_search: ef, seed: a.seed, ..Default::default() };
        let ((secs, cpu), nb) = best_of(a.repeat, || knn::knn_self_with(data.view(), k, &opts));
        let nb = nb?;
        let recall = full_recall(&exact, &nb);
        let est = estimates(&nb)?;
        let rel: Vec<f64> = est.iter().zip(&exact_est).map(|(a, e)| a / e - 1.0).collect();
        println!(
            "approx ef_search {ef}: {secs:.2} s, CPU {cpu:.2} s, recall@{k} {recall:.4}; mle {:.4} ({:+.2} %), twonn {:.4} ({:+.2} %)",
            est[0],
            100.0 * rel[0],
            est[1],
            100.0 * rel[1]
        );
        approx_rows.push(json!({"ef_search": ef, "ef_construction": opts.ef_construction,
            "approx_dims": opts.approx_dims, "seconds": secs, "cpu_seconds": cpu, "recall": recall,
            "mle": est[0], "twonn": est[1], "mle_relative_difference": rel[0], "twonn_relative_difference": rel[1]}));
    }
    println!("exact: mle {:.4}, twonn {:.4}", exact_est[0], exact_est[1]);
    results.set("exact_mle", exact_est[0]).set("exact_twonn", exact_est[1]).set("approx", approx_rows);
    match faiss {
        Ok(v) => results.set("faiss", v),
        Err(why) => results.set("faiss_skipped", why),
    };
    if !a.no_dim {
        let cache = std::env::temp_dir().join(format!(".bench_calibration_{}", std::process::id()));
        let dim = time_default_estimator(data.view(), a.seed, &cache)?;
        results.set("default_estimator", dim);
    }
    let value = a.out.write(|dir| Ok(results.write(dir)?))?;
    a.out.print(&value)
}
