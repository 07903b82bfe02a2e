//! `imanifold neighbors INPUT --k K --out DIR [--query Q] [--strategy S]`: kNN with the shared engine (exact, or
//! approximate with its recall measured on sampled queries), through `knn::command` (the results are written to the
//! output folder block by block as they are found).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args as ClapArgs;
use knn::command::{self, NeighborsOptions, NeighborsRun};
use knn::Strategy;

use super::common::{InputArgs, OutArgs};

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Reference collection (anything the loaders read).
    pub input: PathBuf,
    /// Number of neighbours.
    #[arg(long, default_value_t = command::DEFAULT_K)]
    pub k: usize,
    /// Query collection: find each query's k nearest INPUT rows (self is not excluded).
    #[arg(long)]
    pub query: Option<PathBuf>,
    /// Search strategy: auto, brute, pruned (PCA-pruned) or tree (k-d tree, low-dimensional data) give identical,
    /// exact results; approx (HNSW graph, large collections) returns exact distances of approximate neighbours and
    /// records its recall, measured on --recall-sample query rows, in results.json.
    #[arg(long, default_value_t = Strategy::Auto, value_name = "auto|brute|pruned|tree|approx")]
    pub strategy: Strategy,
    /// Candidates per query of `--strategy approx` (higher: better recall, slower).
    #[arg(long, default_value_t = knn::DEFAULT_EF_SEARCH, value_name = "N")]
    pub ef_search: usize,
    /// Candidates per insertion while building the graph of `--strategy approx`.
    #[arg(long, default_value_t = knn::DEFAULT_EF_CONSTRUCTION, value_name = "N")]
    pub ef_construction: usize,
    /// Leading principal coordinates the graph of `--strategy approx` is built on (0: all columns); candidates are
    /// re-ranked with exact distances.
    #[arg(long, default_value_t = knn::DEFAULT_APPROX_DIMS, value_name = "M")]
    pub approx_dims: usize,
    /// Query rows on which the recall of `--strategy approx` is measured against exact search.
    #[arg(long, default_value_t = knn::DEFAULT_RECALL_SAMPLE, value_name = "N")]
    pub recall_sample: usize,
    #[command(flatten)]
    pub input_args: InputArgs,
    // `--out DIR` (indices.npy n×k int64, distances.npy n×k float32, results.json) and `--json`.
    #[command(flatten)]
    pub out: OutArgs,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let opts = NeighborsOptions {
        k: a.k,
        strategy: a.strategy,
        ef_search: a.ef_search,
        ef_construction: a.ef_construction,
        approx_dims: a.approx_dims,
        recall_sample: a.recall_sample,
        seed: a.input_args.seed,
        block_rows: 0,
    };
    opts.validate()?;
    let query = a.query.as_deref().unwrap_or(&a.input);
    a.out.check_inputs(&[&a.input, query])?;
    let mut results = output::Results::new("neighbors");
    results.seed(a.input_args.seed);
    let reference = results.timed("load", || a.input_args.load(&a.input))?;
    let query = match &a.query {
        Some(q) => Some(results.timed("load_query", || a.input_args.load(q))?),
        None => None,
    };
    let context = || format!("k nearest neighbours of {}", a.input.display());
    let run =
        NeighborsRun::new(reference.data.view(), query.as_ref().map(|q| q.data.view()), &opts).with_context(context)?;
    let (report, v) = a.out.write(|dir| command::write_neighbors_dir(dir, run, results).with_context(context))?;
    if report.duplicate_rows > 0 {
        eprintln!(
            "warning: {} reference row(s) duplicate an earlier row: some neighbour distances are zero",
            report.duplicate_rows
        );
    }
    a.out.print(&v)
}
