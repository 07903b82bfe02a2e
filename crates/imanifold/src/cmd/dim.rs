//! `imanifold dim INPUT [--estimator NAME]... [--k K] [--pointwise] [--k-range A:B] [--bootstrap B] [--seed S]
//! [--duplicates drop|error] --out DIR [--json]`: intrinsic dimension by every requested estimator from one kNN
//! pass, with 95 % intervals, optional per-point values and ID-vs-scale curves.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Args as ClapArgs, ValueEnum};
use intrinsic_dim::{Estimator, FitContext, RunOptions};
use ndarray::{Array1, ArrayView2};
use serde_json::{json, Map, Value};

use super::common::{prepare_out, print_json, InputArgs};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Duplicates {
    /// Remove rows that repeat an earlier row (reported in results.json).
    Drop,
    /// Refuse data with repeated rows.
    Error,
}

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
    /// and neighbourhood size of pointwise fits of the global ones (default 100, as skdim `fit_pw`).
    #[arg(long)]
    pub k: Option<usize>,
    /// Also write pointwise_<name>.npy (one value per input row) and pointwise_smooth_<name>.npy (mean over the
    /// point and its neighbours).
    #[arg(long)]
    pub pointwise: bool,
    /// ID-vs-scale curves: re-estimate at neighbourhood sizes A..=B and write scale_<name>.csv.
    #[arg(long, value_name = "A:B", value_parser = parse_range)]
    pub k_range: Option<(usize, usize)>,
    /// Bootstrap replicates for intervals that are not analytic (0: those intervals are omitted).
    #[arg(long, default_value_t = 20, value_name = "B")]
    pub bootstrap: usize,
    /// What to do with rows that exactly repeat an earlier row (they make kNN estimators undefined).
    #[arg(long, value_enum, default_value_t = Duplicates::Drop)]
    pub duplicates: Duplicates,
    #[command(flatten)]
    pub input_args: InputArgs,
    /// Output folder: results.json, pointwise_<name>.npy, scale_<name>.csv.
    #[arg(long)]
    pub out: PathBuf,
    /// Also print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_range(s: &str) -> Result<(usize, usize), String> {
    let (a, b) = s.split_once(':').ok_or_else(|| format!("`{s}` is not A:B (e.g. 5:40)"))?;
    let a: usize = a.trim().parse().map_err(|_| format!("`{s}`: `{a}` is not a whole number"))?;
    let b: usize = b.trim().parse().map_err(|_| format!("`{s}`: `{b}` is not a whole number"))?;
    if a < 2 || a > b {
        return Err(format!("`{s}`: need 2 <= A <= B"));
    }
    Ok((a, b))
}

/// Estimators whose `n_neighbors` `--k` sets.
const LOCAL: [&str; 6] = ["mle", "mom", "tle", "mada", "ess", "imanifold"];

/// For each dropped duplicate row, the kept row it repeats (by exact bit pattern, −0 = +0).
fn duplicate_sources(data: ArrayView2<f32>, dups: &[usize]) -> HashMap<usize, usize> {
    let key = |i: usize| data.row(i).iter().map(|&x| (x + 0.0).to_bits()).collect::<Vec<u32>>();
    let is_dup: std::collections::HashSet<usize> = dups.iter().copied().collect();
    let mut first: HashMap<Vec<u32>, usize> = HashMap::new();
    for i in 0..data.nrows() {
        if !is_dup.contains(&i) {
            first.entry(key(i)).or_insert(i);
        }
    }
    dups.iter().filter_map(|&i| first.get(&key(i)).map(|&j| (i, j))).collect()
}

pub fn run(a: Args) -> anyhow::Result<()> {
    if a.k == Some(0) || a.k == Some(1) {
        bail!("--k must be at least 2");
    }
    let mut results = output::Results::new("dim");
    let seed = a.input_args.seed;
    results.seed(seed);

    // Estimators (checked before any heavy work).
    let specs: Vec<String> = if a.estimators.is_empty() { vec!["imanifold".into()] } else { a.estimators.clone() };
    let mut estimators: Vec<Box<dyn Estimator>> = Vec::new();
    for spec in &specs {
        let (name, mut params) = intrinsic_dim::parse_spec(spec).with_context(|| format!("--estimator {spec}"))?;
        let canon = intrinsic_dim::estimators::canonical(&name);
        if let (Some(k), Some(c)) = (a.k, canon) {
            if LOCAL.contains(&c) && !params.contains_key("n_neighbors") {
                params.insert("n_neighbors".into(), json!(k));
            }
        }
        estimators.push(intrinsic_dim::build(&name, &params).with_context(|| format!("--estimator {spec}"))?);
    }
    let labels = unique_labels(&estimators);
    let out = prepare_out(&a.out)?;

    let ds = results.timed("load", || a.input_args.load(&a.input))?;
    let n_input = ds.n();
    let dups = knn::duplicate_rows(ds.data.view());
    if !dups.is_empty() && a.duplicates == Duplicates::Error {
        let shown: Vec<String> = dups.iter().take(5).map(|i| i.to_string()).collect();
        bail!(
            "{}: {} row(s) exactly repeat an earlier row (rows {}{}); they make kNN estimators undefined \
             (zero distances). Use --duplicates drop to remove them",
            a.input.display(),
            dups.len(),
            shown.join(", "),
            if dups.len() > 5 { ", ..." } else { "" }
        );
    }
    let sources = duplicate_sources(ds.data.view(), &dups);
    let (data, dropped) = intrinsic_dim::drop_duplicates(ds.data.view());
    if !dropped.is_empty() {
        eprintln!("note: dropped {} duplicate row(s) of {}; {} rows remain", dropped.len(), n_input, data.nrows());
    }
    intrinsic_dim::validate(data.view()).with_context(|| format!("{}", a.input.display()))?;
    let n = data.nrows();

    let opts = RunOptions { pointwise: a.pointwise, pointwise_neighbors: a.k.unwrap_or(100) };
    let mut k_needed = intrinsic_dim::max_k(&estimators, &opts);
    let scale_estimators: Vec<(usize, Vec<(usize, Box<dyn Estimator>)>)> = match a.k_range {
        None => Vec::new(),
        Some((lo, hi)) => estimators
            .iter()
            .enumerate()
            .map(|(i, e)| (i, (lo..=hi).filter_map(|k| e.at_scale(k).map(|s| (k, s))).collect::<Vec<_>>()))
            .collect(),
    };
    for (_, list) in &scale_estimators {
        for (_, e) in list {
            k_needed = k_needed.max(e.needs_k().unwrap_or(0));
        }
    }
    for e in &estimators {
        if n < e.min_points() {
            bail!(
                "{}: {} needs at least {} points, the data has {n} (after dropping duplicates)",
                a.input.display(),
                e.name(),
                e.min_points()
            );
        }
    }
    if k_needed >= n {
        bail!(
            "{}: the requested estimators need {k_needed} neighbours per point but there are only {n} points \
             (lower --k / --k-range / estimator parameters)",
            a.input.display()
        );
    }

    let t = Instant::now();
    let mut ctx = FitContext::new(data.view(), k_needed, seed).with_context(|| format!("{}", a.input.display()))?;
    results.timing("knn", t.elapsed().as_secs_f64());
    ctx.bootstrap = a.bootstrap;

    let t = Instant::now();
    let reports = intrinsic_dim::run(&ctx, &estimators, &opts)
        .with_context(|| format!("estimating the dimension of {}", a.input.display()))?;
    results.timing("estimators", t.elapsed().as_secs_f64());

    let mut files = Map::new();
    let mut entries = Vec::new();
    for (r, label) in reports.iter().zip(&labels) {
        let mut entry = r.to_json();
        entry["label"] = json!(label);
        if let Some(pw) = &r.pointwise {
            let expand = |v: &[f64]| -> Array1<f64> {
                // Back to input rows: kept rows in order, dropped duplicates take the value of the row they repeat.
                let mut full = vec![f64::NAN; n_input];
                let mut is_dup = vec![false; n_input];
                dropped.iter().for_each(|&i| is_dup[i] = true);
                let kept: Vec<usize> = (0..n_input).filter(|&i| !is_dup[i]).collect();
                kept.iter().zip(v).for_each(|(&i, &x)| full[i] = x);
                for (&d, &s) in &sources {
                    full[d] = full[s];
                }
                Array1::from(full)
            };
            let f = format!("pointwise_{label}.npy");
            output::write_npy(&out.join(&f), &expand(pw))?;
            files.insert(format!("pointwise_{label}"), json!(f));
            if let Some(sm) = &r.pointwise_smooth {
                let f = format!("pointwise_smooth_{label}.npy");
                output::write_npy(&out.join(&f), &expand(sm))?;
                files.insert(format!("pointwise_smooth_{label}"), json!(f));
            }
            let finite: Vec<f64> = pw.iter().copied().filter(|x| x.is_finite()).collect();
            entry["pointwise_mean"] = output::json_f64(finite.iter().sum::<f64>() / finite.len().max(1) as f64);
            entry["pointwise_nonfinite"] = json!(pw.len() - finite.len());
        }
        entries.push(entry);
        if !a.json {
            let ci = r.estimate.ci95.map_or(String::new(), |(lo, hi)| format!("  95% [{lo:.3}, {hi:.3}]"));
            println!("{label:>12}: {:.3}{ci}  ({:.2} s)", r.estimate.dimension, r.seconds);
        }
    }

    if !scale_estimators.is_empty() {
        let t = Instant::now();
        for (i, list) in &scale_estimators {
            let label = &labels[*i];
            if list.is_empty() {
                files.insert(format!("scale_{label}"), json!(null));
                eprintln!("note: {label} has no neighbourhood-size parameter; no scale curve");
                continue;
            }
            // Scale curves use the analytic or per-point intervals; half-sampling refits would cost B fits per k.
            let global = estimators[*i].comb().is_none();
            ctx.bootstrap = if global { 0 } else { a.bootstrap };
            let mut rows = Vec::new();
            for (k, e) in list {
                let rep =
                    intrinsic_dim::run(&ctx, std::slice::from_ref(e), &RunOptions { pointwise: false, ..opts.clone() })
                        .with_context(|| format!("{label} at k = {k}"))?;
                let est = &rep[0].estimate;
                let (lo, hi) = est.ci95.unwrap_or((f64::NAN, f64::NAN));
                rows.push(vec![
                    k.to_string(),
                    output::fmt_f64(est.dimension),
                    output::fmt_f64(lo),
                    output::fmt_f64(hi),
                ]);
            }
            let f = format!("scale_{label}.csv");
            output::write_csv(&out.join(&f), &["k", "dimension", "ci_low", "ci_high"], rows)?;
            files.insert(format!("scale_{label}"), json!(f));
        }
        ctx.bootstrap = a.bootstrap;
        results.timing("scale", t.elapsed().as_secs_f64());
    }

    results
        .set("input", a.input.display().to_string())
        .set("n_input", n_input)
        .set("n", n)
        .set("d", data.ncols())
        .set("duplicates", json!({"policy": format!("{:?}", a.duplicates).to_lowercase(), "dropped": dropped.len()}))
        .set("k_neighbors_computed", k_needed)
        .set("bootstrap", a.bootstrap)
        .set("k_range", a.k_range.map(|(x, y)| json!([x, y])).unwrap_or(Value::Null))
        .set("estimates", entries)
        .set("files", files);
    if let Some(shape) = &ds.shape {
        results.set("image_shape", json!([shape.height, shape.width, shape.channels]));
    }
    let v = results.write(&out)?;
    print_json(a.json, &v)
}

/// File-name labels: the estimator name, suffixed `_2`, `_3`, … when the same estimator is requested again.
fn unique_labels(estimators: &[Box<dyn Estimator>]) -> Vec<String> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    estimators
        .iter()
        .map(|e| {
            let c = seen.entry(e.name()).or_insert(0);
            *c += 1;
            if *c == 1 {
                e.name().to_string()
            } else {
                format!("{}_{}", e.name(), c)
            }
        })
        .collect()
}
