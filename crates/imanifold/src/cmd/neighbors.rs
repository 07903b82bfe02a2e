//! `imanifold neighbors INPUT --k K --out DIR [--query Q] [--strategy S]`: kNN with the shared engine (exact, or
//! approximate with its recall measured on sampled queries).

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args as ClapArgs;
use knn::{KnnOptions, Strategy};
use serde_json::json;

use super::common::{InputArgs, OutArgs};

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Reference collection (anything the loaders read).
    pub input: PathBuf,
    /// Number of neighbours.
    #[arg(long, default_value_t = 10)]
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
    if a.k == 0 {
        bail!("--k must be at least 1");
    }
    if a.recall_sample == 0 {
        bail!("--recall-sample must be at least 1");
    }
    for (name, v) in [("--ef-search", a.ef_search), ("--ef-construction", a.ef_construction)] {
        if v == 0 || v > knn::MAX_EF {
            bail!("{name} must be in 1..={} (got {v})", knn::MAX_EF);
        }
    }
    let query = a.query.as_deref().unwrap_or(&a.input);
    a.out.check_inputs(&[&a.input, query])?;
    let mut results = output::Results::new("neighbors");
    results.seed(a.input_args.seed);
    let reference = results.timed("load", || a.input_args.load(&a.input))?;
    let query = match &a.query {
        Some(q) => Some(results.timed("load_query", || a.input_args.load(q))?),
        None => None,
    };
    let opts = KnnOptions {
        strategy: a.strategy,
        ef_search: a.ef_search,
        ef_construction: a.ef_construction,
        approx_dims: a.approx_dims,
        seed: a.input_args.seed,
        ..Default::default()
    };
    let nb = results
        .timed("knn", || match &query {
            Some(q) => knn::knn_query_with(reference.data.view(), q.data.view(), a.k, &opts),
            None => knn::knn_self_with(reference.data.view(), a.k, &opts),
        })
        .with_context(|| format!("k nearest neighbours of {}", a.input.display()))?;
    if !a.strategy.is_exact() {
        let q = query.as_ref().map(|q| q.data.view());
        let r = results
            .timed("recall", || knn::recall(reference.data.view(), q, &nb, a.recall_sample, a.input_args.seed))
            .context("measuring the recall of the approximate search")?;
        results.set(
            "recall",
            json!({"recall_at_k": r.recall, "min_row_recall": r.min_row_recall, "sampled_queries": r.sampled,
                   "ef_search": a.ef_search, "ef_construction": opts.ef_construction,
                   "approx_dims": a.approx_dims}),
        );
    }
    let kth: Vec<f32> = nb.distances.column(a.k - 1).to_vec();
    let mean_kth = kth.iter().map(|&x| x as f64).sum::<f64>() / kth.len() as f64;
    results
        .set("mode", if query.is_some() { "query" } else { "self" })
        .set("n_reference", reference.n())
        .set("n_query", nb.n())
        .set("d", reference.d())
        .set("k", a.k)
        .set("strategy", a.strategy.to_string())
        .set("duplicate_rows", nb.duplicate_rows)
        .set("mean_kth_distance", mean_kth)
        .set("files", json!({"indices": "indices.npy", "distances": "distances.npy"}));
    if nb.duplicate_rows > 0 {
        eprintln!(
            "warning: {} reference row(s) duplicate an earlier row: some neighbour distances are zero",
            nb.duplicate_rows
        );
    }
    let v = a.out.write(|dir| {
        output::write_npy(&dir.join("indices.npy"), &nb.indices.mapv(|i| i as i64))?;
        output::write_npy(&dir.join("distances.npy"), &nb.distances)?;
        Ok(results.write(dir)?)
    })?;
    a.out.print(&v)
}
