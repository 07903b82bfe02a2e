//! `imanifold neighbors INPUT --k K --out DIR [--query Q]`: exact kNN with the shared engine.

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
    /// Search strategy: auto, brute, pruned (PCA-pruned) or tree (k-d tree, low-dimensional data); all give
    /// identical, exact results.
    #[arg(long, default_value_t = Strategy::Auto, value_name = "auto|brute|pruned|tree")]
    pub strategy: Strategy,
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
    let query = a.query.as_deref().unwrap_or(&a.input);
    a.out.check_inputs(&[&a.input, query])?;
    let mut results = output::Results::new("neighbors");
    results.seed(a.input_args.seed);
    let reference = results.timed("load", || a.input_args.load(&a.input))?;
    let query = match &a.query {
        Some(q) => Some(results.timed("load_query", || a.input_args.load(q))?),
        None => None,
    };
    let opts = KnnOptions { strategy: a.strategy, ..Default::default() };
    let nb = results
        .timed("knn", || match &query {
            Some(q) => knn::knn_query_with(reference.data.view(), q.data.view(), a.k, &opts),
            None => knn::knn_self_with(reference.data.view(), a.k, &opts),
        })
        .with_context(|| format!("k nearest neighbours of {}", a.input.display()))?;
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
