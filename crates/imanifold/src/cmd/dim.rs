//! `imanifold dim INPUT [--estimator NAME]... [--k K] [--pointwise] [--k-range A:B] [--bootstrap B] [--seed S]
//! [--duplicates drop|error] --out DIR [--json]`: intrinsic dimension by every requested estimator from one kNN
//! pass, with 95 % intervals, optional per-point values and ID-vs-scale curves (`intrinsic_dim::session`).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args as ClapArgs;
use intrinsic_dim::session::{self, DimOptions, Duplicates, Scales, Session, Source};

use super::common::{InputArgs, OutArgs};

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Image collection or point cloud (anything the loaders read: image folder, render output, .npy, MNIST IDX).
    pub input: PathBuf,
    /// Estimator, repeatable: pca lpca mle twonn gride corrint danco mind-ml ess fishers mom tle mada knn imanifold,
    /// optionally with skdim-named parameters: `mle:comb=median,unbiased=true`, `lpca:ver=Fan`,
    /// `twonn:method=mle`. Default: `imanifold` (a local quadratic-graph test where it is conclusive, else the average
    /// of TwoNN-ML and MLE(k=5), each bias-corrected by calibration on uniform balls; `imanifold:graph_test=false`:
    /// the second stage alone).
    #[arg(long = "estimator", value_name = "NAME[:k=v,...]")]
    pub estimators: Vec<String>,
    /// Neighbours of the kNN-based local estimators (mle, mom, tle, mada, ess, imanifold; skdim `n_neighbors`)
    /// and neighbourhood size of pointwise fits of the global ones (default 100, as skdim `fit_pw`). Refused when
    /// none of the chosen estimators would use it.
    #[arg(long)]
    pub k: Option<usize>,
    /// Also write pointwise_<name>.npy (one value per input row) and pointwise_smooth_<name>.npy (mean over the
    /// point and its neighbours).
    #[arg(long)]
    pub pointwise: bool,
    /// ID-vs-scale curves: re-estimate at neighbourhood sizes A..=B and write scale_<name>.csv.
    #[arg(long, value_name = "A:B")]
    pub k_range: Option<Scales>,
    /// Bootstrap replicates for intervals that are not analytic (0: those intervals are omitted).
    #[arg(long, default_value_t = session::DEFAULT_BOOTSTRAP, value_name = "B")]
    pub bootstrap: usize,
    /// What to do with rows that exactly repeat an earlier row (they make kNN estimators undefined): drop (reported
    /// in results.json) or error.
    #[arg(long, default_value_t = Duplicates::Drop, value_name = "drop|error")]
    pub duplicates: Duplicates,
    /// kNN search strategy: auto, brute, pruned and tree are exact (same neighbours); approx (HNSW candidates,
    /// exact re-ranking) is for large collections — its recall@k on a sample is written to results.json `knn`.
    #[arg(long, default_value_t = knn::Strategy::Auto, value_name = "auto|brute|pruned|tree|approx")]
    pub knn_strategy: knn::Strategy,
    #[command(flatten)]
    pub input_args: InputArgs,
    // `--out DIR` (results.json, pointwise_<name>.npy, scale_<name>.csv) and `--json`.
    #[command(flatten)]
    pub out: OutArgs,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    a.out.check_inputs(&[&a.input])?;
    let seed = a.input_args.seed;
    let opts = DimOptions {
        estimators: a.estimators.clone(),
        k: a.k,
        pointwise: a.pointwise,
        scales: a.k_range.clone(),
        curves: None,
        bootstrap: a.bootstrap,
        duplicates: a.duplicates,
        seed,
        knn: knn::KnnOptions { strategy: a.knn_strategy, seed, ..Default::default() },
    };
    // Estimators and options are checked before any heavy work.
    let session = Session::new(&opts)?;
    let mut results = output::Results::new("dim");
    results.seed(seed);
    let ds = results.timed("load", || a.input_args.load(&a.input))?;
    let source = Source {
        name: a.input.display().to_string(),
        image_shape: ds.shape.as_ref().map(|s| [s.height, s.width, s.channels]),
    };
    let report = session.run(ds.data.view(), source).with_context(|| a.input.display().to_string())?;
    drop(ds);

    if !report.dropped.is_empty() {
        eprintln!(
            "note: dropped {} duplicate row(s) of {}; {} rows remain",
            report.dropped.len(),
            report.n_input,
            report.n
        );
    }
    for c in report.curves.iter().filter(|c| c.points.is_none()) {
        eprintln!("note: {} has no neighbourhood-size parameter; no scale curve", c.label);
    }
    if !a.out.json {
        for e in &report.estimates {
            let est = &e.report.estimate;
            let ci = est.ci95.map_or(String::new(), |(lo, hi)| format!("  95% [{lo:.3}, {hi:.3}]"));
            println!("{:>12}: {:.3}{ci}  ({:.2} s)", e.label, est.dimension, e.report.seconds);
        }
    }
    let v = a.out.write(|dir| Ok(session::write_dim_dir(dir, &report, results)?))?;
    a.out.print(&v)
}
