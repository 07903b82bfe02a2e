//! `imanifold`: a thin command-line layer. Each subcommand lives in `cmd/<name>.rs` and does
//! raw clap arguments → validated configuration → calls into the library crates → files in `--out`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

/// Upper bound of `--threads`: far above any core count this runs on, far below what exhausts the process's
/// thread limit.
const MAX_THREADS: i64 = 1024;

#[derive(Debug, Parser)]
#[command(
    name = "imanifold",
    version,
    about = "Measure the manifold of natural images: render, intrinsic dimension, \
optical-flow geodesics, off-manifold scores",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// No progress bars.
    #[arg(long, global = true)]
    quiet: bool,
    /// Worker threads (default: all cores; 1 to 1024). Results do not depend on it.
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=MAX_THREADS))]
    threads: Option<u16>,
    /// On error, print the whole chain of causes.
    #[arg(short, long, global = true)]
    verbose: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Render image sets of a 3-D scene with ground truth: parameters, depth, optical flow.
    Render(cmd::render::Args),
    /// Describe a collection: n, d, image shape, value range, duplicate rows, manifest columns.
    Info(cmd::info::Args),
    /// Exact k nearest neighbours (all points, or queries against a reference).
    Neighbors(cmd::neighbors::Args),
    /// Geodesic distances on the kNN graph, weighted by optical flow; Isomap embedding; agreement with truth.
    Geodesic(cmd::geodesic::Args),
    /// Benchmarks against named baselines in the same run (e.g. `bench knn`).
    Bench(cmd::bench::Args),
    /// Train or evaluate the small convnet classifier (`classifier train|eval`).
    Classifier(cmd::classifier::Args),
    /// Fooling images (Nguyen et al. 2015): evolve-direct, evolve-cppn or gradient ascent from noise.
    Fool(cmd::fool::Args),
    /// Adversarial perturbations (Szegedy et al. 2014) and the random flip-rate baseline.
    Adversarial(cmd::adversarial::Args),
    /// Label stability in L∞ boxes: exact per-pixel flips, (1 − q)^n prediction, IBP/CROWN-certified vs
    /// attacked share, random vs adversarial flips vs clean error, pixel-pair interactions.
    Stability(cmd::stability::Args),
    /// Dense optical flow between two images (or a list of pairs): float32 (h, w, 2), B(x + flow(x)) = A(x).
    Flow(cmd::flow::Args),
    /// Flow-based morph and plain cross-fade between two images, as image sequences with a manifest.
    Interpolate(cmd::interpolate::Args),
    /// Intrinsic dimension: every skdim estimator (one kNN pass), intervals, per-point values, scale curves.
    Dim(cmd::dim::Args),
    /// Off-manifold scores against a reference (knn, tangent, lid, flow) with calibrated percentiles; --pairs:
    /// perturbation energy in the local tangent space.
    Score(cmd::score::Args),
    /// The whole story in one run: scene dimension, flow geodesics, fooling/adversarial images off the manifold;
    /// writes report.html, plots/ and results.json (--quick: under 2 minutes).
    Demo(cmd::demo::Args),
}

fn run(cli: Cli) -> anyhow::Result<()> {
    output::set_quiet(cli.quiet);
    // The default estimator's calibration values are kept across runs under the user's cache folder
    // (IMANIFOLD_CACHE_DIR overrides it; empty turns the cache off).
    intrinsic_dim::calibration_cache::set_dir(intrinsic_dim::calibration_cache::default_dir());
    if let Some(n) = cli.threads {
        rayon::ThreadPoolBuilder::new().num_threads(usize::from(n)).build_global()?;
    }
    match cli.command {
        Command::Render(a) => cmd::render::run(a),
        Command::Info(a) => cmd::info::run(a),
        Command::Neighbors(a) => cmd::neighbors::run(a),
        Command::Bench(a) => cmd::bench::run(a),
        Command::Geodesic(a) => cmd::geodesic::run(a),
        Command::Classifier(a) => cmd::classifier::run(a),
        Command::Fool(a) => cmd::fool::run(a),
        Command::Adversarial(a) => cmd::adversarial::run(a),
        Command::Stability(a) => cmd::stability::run(a),
        Command::Flow(a) => cmd::flow::run(a),
        Command::Interpolate(a) => cmd::interpolate::run(a),
        Command::Dim(a) => cmd::dim::run(a),
        Command::Score(a) => cmd::score::run(a),
        Command::Demo(a) => cmd::demo::run(a),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let verbose = cli.verbose;
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if verbose {
                eprintln!("error: {err:?}");
            } else {
                eprintln!("error: {err:#}");
            }
            ExitCode::from(2)
        }
    }
}
