//! `imanifold`: a thin command-line layer. Each subcommand lives in `cmd/<name>.rs` and does
//! raw clap arguments → validated configuration → calls into the library crates → files in `--out`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

#[derive(Debug, Parser)]
#[command(name = "imanifold", version, about = "Measure the manifold of natural images: render, intrinsic dimension, \
optical-flow geodesics, off-manifold scores", propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// No progress bars.
    #[arg(long, global = true)]
    quiet: bool,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, global = true, value_name = "N")]
    threads: Option<usize>,
    /// On error, print the whole chain of causes.
    #[arg(short, long, global = true)]
    verbose: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Describe a collection: n, d, image shape, value range, duplicate rows, manifest columns.
    Info(cmd::info::Args),
    /// Exact k nearest neighbours (all points, or queries against a reference).
    Neighbors(cmd::neighbors::Args),
    /// Benchmarks against named baselines in the same run (e.g. `bench knn`).
    Bench(cmd::bench::Args),
}

fn run(cli: Cli) -> anyhow::Result<()> {
    output::set_quiet(cli.quiet);
    if let Some(n) = cli.threads {
        anyhow::ensure!(n >= 1, "--threads must be at least 1");
        rayon::ThreadPoolBuilder::new().num_threads(n).build_global()?;
    }
    match cli.command {
        Command::Info(a) => cmd::info::run(a),
        Command::Neighbors(a) => cmd::neighbors::run(a),
        Command::Bench(a) => cmd::bench::run(a),
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
