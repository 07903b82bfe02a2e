//! Timing the kNN engine against the plain f32 GEMM of the same shape (the physical limit of a brute-force
//! search) and, optionally, a peer implementation run as a script (scikit-learn's brute-force NearestNeighbors),
//! all in the same run. Timings are wall-clock, best of `repeat`; quote ratios, not absolute figures.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use faer::{Accum, Mat, MatRef, Par};
use ndarray::Array2;
use serde_json::{json, Value};

use crate::{knn_self, knn_self_with, plan, KnnError, KnnOptions, PlanReport, Strategy};

/// File name of the peer script inside its folder.
pub const PEER_SCRIPT: &str = "peer_knn.py";

/// Errors of a benchmark run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("k = {k} needs more than {n} points")]
    TooFewPoints { k: usize, n: usize },
    #[error(transparent)]
    Knn(#[from] KnnError),
    #[error("cannot write the peer's input")]
    PeerInput(#[source] output::OutputError),
    #[error("running {}", python.display())]
    PeerRun { python: PathBuf, source: std::io::Error },
    #[error("cannot parse the output of {}", script.display())]
    PeerOutput { script: PathBuf, source: serde_json::Error },
}

/// The peer to time beside the engine: a Python interpreter and the script it runs (called as `python
/// script DATA.npy --k K --repeat R`, printing `{"seconds": …}`).
#[derive(Debug, Clone)]
pub struct Peer {
    pub python: PathBuf,
    pub script: PathBuf,
}

/// Environment variable naming the peer's Python (used when none is given).
pub const PEERS_PYTHON_ENV: &str = "IMANIFOLD_PEERS_PY";
/// Environment variable naming the folder holding [`PEER_SCRIPT`] (used when none is given).
pub const PEERS_DIR_ENV: &str = "IMANIFOLD_PEERS";

impl Peer {
    /// Finds the peer: the Python given, else `$IMANIFOLD_PEERS_PY`, else `~/.cache/imanifold-peers/bin/python`
    /// when it exists; the script [`PEER_SCRIPT`] in the folder given, else in `$IMANIFOLD_PEERS`. The error
    /// says what is missing and how to provide it.
    pub fn locate(python: Option<&Path>, dir: Option<&Path>) -> Result<Peer, String> {
        let python = locate_python(python)?;
        let dir = dir.map(Path::to_path_buf).or_else(|| std::env::var_os(PEERS_DIR_ENV).map(PathBuf::from));
        let dir =
            dir.ok_or_else(|| format!("no folder holding {PEER_SCRIPT} (give --peers-dir or set {PEERS_DIR_ENV})"))?;
        let script = dir.join(PEER_SCRIPT);
        if !script.is_file() {
            return Err(format!("{} does not exist", script.display()));
        }
        Ok(Peer { python, script })
    }
}

/// The peers' Python: the one given, else `$IMANIFOLD_PEERS_PY`, else `~/.cache/imanifold-peers/bin/python` when it
/// exists; the error says how to provide one.
pub fn locate_python(python: Option<&Path>) -> Result<PathBuf, String> {
    let python = match python {
        Some(p) => Some(p.to_path_buf()),
        None => std::env::var_os(PEERS_PYTHON_ENV).map(PathBuf::from).or_else(|| {
            let p = PathBuf::from(std::env::var_os("HOME")?).join(".cache/imanifold-peers/bin/python");
            p.is_file().then_some(p)
        }),
    };
    python.ok_or_else(|| format!("no peers' Python (give --peers-python or set {PEERS_PYTHON_ENV})"))
}

/// What to time.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub k: usize,
    /// Best of this many runs.
    pub repeat: usize,
    pub peer: Option<Peer>,
}

/// Timings of one data set.
#[derive(Debug, Clone)]
pub struct BenchRow {
    pub n: usize,
    pub d: usize,
    pub k: usize,
    pub gemm_seconds: f64,
    pub brute_seconds: f64,
    pub pruned_seconds: f64,
    pub auto_seconds: f64,
    /// The plan the automatic strategy chose.
    pub plan: PlanReport,
    /// Pruned, automatic and brute-force neighbours are the same.
    pub identical: bool,
    /// The peer's time, when a peer ran and succeeded.
    pub peer_seconds: Option<f64>,
    /// Why the peer's run failed (its standard error), when it did.
    pub peer_failure: Option<String>,
}

impl BenchRow {
    /// GFLOP/s of the n² · d multiply-adds at the given time.
    pub fn gflops(&self, seconds: f64) -> f64 {
        2.0 * (self.n as f64) * (self.n as f64) * (self.d as f64) / seconds / 1e9
    }

    /// `brute` or `pruned m=M`.
    pub fn plan_text(&self) -> String {
        match self.plan.strategy {
            Strategy::PcaPruned => format!("pruned m={}", self.plan.pruning_dims),
            _ => "brute".to_string(),
        }
    }

    /// The row as written in `results.json` (`runs`).
    pub fn to_json(&self) -> Value {
        let (g_gemm, g_brute) = (self.gflops(self.gemm_seconds), self.gflops(self.brute_seconds));
        json!({
            "n": self.n, "d": self.d, "k": self.k,
            "gemm_seconds": self.gemm_seconds, "gemm_gflops": g_gemm,
            "brute_seconds": self.brute_seconds, "brute_gflops": g_brute, "brute_fraction_of_gemm": g_brute / g_gemm,
            "pruned_seconds": self.pruned_seconds, "pruned_speedup_over_brute": self.brute_seconds / self.pruned_seconds,
            "pruned_identical_to_brute": self.identical,
            "auto_seconds": self.auto_seconds,
            "auto_plan": {"strategy": self.plan_text(), "pruning_dims": self.plan.pruning_dims,
                          "predicted_pruned_cpu_seconds": self.plan.predicted_pruned_seconds,
                          "predicted_brute_cpu_seconds": self.plan.predicted_brute_seconds},
            "sklearn_seconds": self.peer_seconds,
            "speedup_over_sklearn": self.peer_seconds.map(|s| s / self.auto_seconds),
        })
    }
}

/// Runs `f` `repeat` times (at least once); the best wall-clock time and the last result.
pub fn best_of<T>(repeat: usize, mut f: impl FnMut() -> T) -> (f64, T) {
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

/// X·Xᵀ for all n² pairs in column panels (never n × n in memory), faer's parallel f32 GEMM; returns a checksum
/// so that the work cannot be optimised away.
pub fn gemm_all_pairs(x: &Array2<f32>) -> f32 {
    let (n, d) = x.dim();
    let x = x.as_standard_layout();
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

/// Bytes a benchmark of an `n × d` data set with `k` neighbours needs at least: the data (generated in float64, kept
/// in float32, plus a copy per search), one 2048-column panel of the GEMM, and the neighbours of every row for each
/// of the three searches. Callers compare it with the memory available before generating the data.
pub fn memory_needed(n: usize, d: usize, k: usize) -> u128 {
    let (n, d, k) = (n as u128, d as u128, k as u128);
    n * d * (8 + 2 * 4) + n * n.min(2048) * 4 + 3 * n * k * 12
}

/// Times the GEMM bound, brute force, PCA-pruned and automatic search on `x` (and the peer, whose input is a
/// temporary `.npy` file in `scratch`); errors when the three searches disagree.
pub fn bench_knn(x: &Array2<f32>, opts: &BenchOptions, scratch: &Path) -> Result<BenchRow, BenchError> {
    let (n, d) = x.dim();
    let k = opts.k;
    if k >= n {
        return Err(BenchError::TooFewPoints { k, n });
    }
    let (gemm_seconds, _) = best_of(opts.repeat, || gemm_all_pairs(x));
    let brute = KnnOptions { strategy: Strategy::Brute, ..Default::default() };
    let pruned = KnnOptions { strategy: Strategy::PcaPruned, ..Default::default() };
    let (brute_seconds, nb_b) = best_of(opts.repeat, || knn_self_with(x.view(), k, &brute));
    let (pruned_seconds, nb_p) = best_of(opts.repeat, || knn_self_with(x.view(), k, &pruned));
    let (auto_seconds, nb_a) = best_of(opts.repeat, || knn_self(x.view(), k));
    let plan = plan(x.view(), k, &KnnOptions::default())?;
    let (nb_b, nb_p, nb_a) = (nb_b?, nb_p?, nb_a?);
    let identical = nb_b == nb_p && nb_b == nb_a;
    let (peer_seconds, peer_failure) = match &opts.peer {
        Some(peer) => run_peer(peer, x, k, opts.repeat, scratch)?,
        None => (None, None),
    };
    let row = BenchRow {
        n,
        d,
        k,
        gemm_seconds,
        brute_seconds,
        pruned_seconds,
        auto_seconds,
        plan,
        identical,
        peer_seconds,
        peer_failure,
    };
    Ok(row)
}

/// Runs the peer script on `x`: its time, or the reason it failed.
fn run_peer(
    peer: &Peer,
    x: &Array2<f32>,
    k: usize,
    repeat: usize,
    scratch: &Path,
) -> Result<(Option<f64>, Option<String>), BenchError> {
    let (n, d) = x.dim();
    let tmp = scratch.join(format!(".bench_{}_{n}x{d}.npy", std::process::id()));
    output::write_npy(&tmp, x).map_err(BenchError::PeerInput)?;
    let o = Command::new(&peer.python)
        .arg(&peer.script)
        .arg(&tmp)
        .args(["--k", &k.to_string(), "--repeat", &repeat.to_string()])
        .output();
    let _ = std::fs::remove_file(&tmp);
    let o = o.map_err(|source| BenchError::PeerRun { python: peer.python.clone(), source })?;
    if !o.status.success() {
        return Ok((None, Some(String::from_utf8_lossy(&o.stderr).trim().to_string())));
    }
    let v: Value = serde_json::from_slice(&o.stdout)
        .map_err(|source| BenchError::PeerOutput { script: peer.script.clone(), source })?;
    Ok((v["seconds"].as_f64(), None))
}

pub use crate::pruned::PrunedStats;

/// The PCA-pruned self-search (`opts.pruning_dims` principal coordinates, the planner's choice when 0) with its
/// counts: how many (query, reference block) pairs the block bounds skipped and how many distances were refined.
/// The neighbours are those of [`knn_self_with`] (for checking).
pub fn pruned_self_stats(
    data: ndarray::ArrayView2<f32>,
    k: usize,
    opts: &KnnOptions,
) -> Result<(Array2<usize>, PrunedStats), KnnError> {
    opts.check()?;
    crate::check_matrix(data, "data")?;
    if k == 0 {
        return Err(KnnError::ZeroK);
    }
    if k >= data.nrows() {
        return Err(KnnError::TooFewPoints { k, n: data.nrows(), available: data.nrows() - 1 });
    }
    let m_max = if opts.pruning_dims == 0 { crate::pruned::MAX_DIMS } else { opts.pruning_dims };
    let prep = crate::pruned::Prepared::new(data, data, true, m_max);
    let m = if opts.pruning_dims == 0 { crate::pruned::plan(&prep, k, opts).dims } else { opts.pruning_dims };
    let setup = crate::pruned::setup(&prep, k, m, opts);
    let ((indices, _), stats) = crate::pruned::search_with_stats(&prep, &setup, 0..data.nrows(), opts);
    Ok((indices, stats))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_checksum_is_the_first_rows_square_norm_per_panel() {
        let x = Array2::from_shape_fn((5, 3), |(i, j)| (i + 2 * j) as f32);
        // One panel: checksum = x_0 · x_0.
        let x0: f32 = x.row(0).iter().map(|v| v * v).sum();
        assert_eq!(gemm_all_pairs(&x), x0);
    }

    #[test]
    fn bench_agrees_and_reports_a_missing_peer_as_an_error() {
        let x = Array2::from_shape_fn((300, 8), |(i, j)| ((i * 7 + j * 13) % 17) as f32 + 0.01 * i as f32);
        let tmp = std::env::temp_dir();
        let row = bench_knn(&x, &BenchOptions { k: 5, repeat: 1, peer: None }, &tmp).unwrap();
        assert!(row.identical && row.peer_seconds.is_none());
        assert_eq!((row.n, row.d), (300, 8));
        assert!(matches!(
            bench_knn(&x, &BenchOptions { k: 300, repeat: 1, peer: None }, &tmp),
            Err(BenchError::TooFewPoints { .. })
        ));
        let peer = Peer { python: "/nonexistent/python".into(), script: PEER_SCRIPT.into() };
        let e = bench_knn(&x, &BenchOptions { k: 5, repeat: 1, peer: Some(peer) }, &tmp).unwrap_err();
        assert!(matches!(e, BenchError::PeerRun { .. }), "{e}");
        let missing = std::env::temp_dir().join("no-such-peers-folder");
        let e = Peer::locate(Some(Path::new("python3")), Some(&missing)).unwrap_err();
        assert!(e.contains(PEER_SCRIPT), "{e}");
    }
}
