//! `imanifold geodesic INPUT --k K [--metric flow|euclidean] [--truth yaw,pitch] --out DIR`: geodesic distances on
//! the kNN graph of a collection, weighted by optical flow or pixel distance; Isomap embedding; agreement with truth.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args as ClapArgs, ValueEnum};
use dataset::{Column, Dataset};
use geodesic::{agreement, Agreement, Edge};
use ndarray::{Array2, Axis};
use serde_json::{json, Value};

use super::common::{prepare_out, print_json, InputArgs};

#[derive(Debug, Clone, Copy, PartialEq, ValueEnum)]
pub enum MetricArg {
    Flow,
    Euclidean,
}

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// The collection (images for --metric flow).
    pub input: PathBuf,
    /// Neighbours per image in the graph (the graph is the symmetrised kNN graph).
    #[arg(long, default_value_t = 8)]
    pub k: usize,
    /// Edge weight: RMS optical-flow length (+ photometric residual term) or pixel distance.
    #[arg(long, value_enum, default_value_t = MetricArg::Flow)]
    pub metric: MetricArg,
    /// Optical-flow method for --metric flow (see `imanifold flow --help`); default: DIS solved at full resolution.
    #[arg(long, default_value = geodesic::DEFAULT_FLOW_METHOD)]
    pub flow_method: String,
    /// λ: pixels charged per unit of RMS photometric residual left after warping.
    #[arg(long, default_value_t = geodesic::DEFAULT_PHOTOMETRIC_WEIGHT)]
    pub photometric_weight: f64,
    /// Manifest columns with the true parameters: correlations of geodesic vs true parameter distance.
    #[arg(long, value_delimiter = ',')]
    pub truth: Vec<String>,
    /// Periodic truth columns as NAME=PERIOD (e.g. yaw=360): differences wrap around.
    #[arg(long, value_delimiter = ',')]
    pub periodic: Vec<String>,
    /// Only distances from these row indices (default: all rows → n×n matrix and an embedding).
    #[arg(long, value_delimiter = ',')]
    pub sources: Vec<usize>,
    /// Dimensions of the Isomap embedding (0 = none).
    #[arg(long, default_value_t = 2)]
    pub dims: usize,
    #[command(flatten)]
    pub input_args: InputArgs,
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub json: bool,
}

/// Gray frames (h × w) of every row.
fn gray_frames(ds: &Dataset) -> anyhow::Result<Vec<Array2<f32>>> {
    let shape =
        ds.shape.context("--metric flow needs images; this input is a plain matrix (use --metric euclidean)")?;
    (0..ds.n())
        .map(|i| {
            let img = ds.image(i).expect("rows are images");
            if shape.channels == 1 {
                Ok(img.index_axis(Axis(2), 0).to_owned())
            } else {
                optical_flow::to_gray(img).with_context(|| format!("converting {} to gray", ds.ids[i]))
            }
        })
        .collect()
}

fn truth_fn(
    ds: &Dataset,
    names: &[String],
    periodic: &[String],
) -> anyhow::Result<Option<Vec<(Vec<f64>, Option<f64>)>>> {
    if names.is_empty() {
        return Ok(None);
    }
    let mut periods = std::collections::HashMap::new();
    for p in periodic {
        let (n, v) = p.split_once('=').with_context(|| format!("--periodic `{p}` is not NAME=PERIOD"))?;
        let v: f64 =
            v.parse().ok().filter(|v: &f64| *v > 0.0).with_context(|| format!("--periodic `{p}`: bad period"))?;
        periods.insert(n.to_string(), v);
    }
    let mut cols = Vec::new();
    for name in names {
        match ds.column(name) {
            Some(Column::Numeric(v)) => cols.push((v.clone(), periods.get(name).copied())),
            Some(Column::Text(_)) => bail!("--truth column `{name}` is not numeric"),
            None => {
                let have: Vec<&str> = ds.columns.iter().map(|(n, _)| n.as_str()).collect();
                bail!("--truth column `{name}` is not in the manifest (columns: {})", have.join(", "))
            }
        }
    }
    Ok(Some(cols))
}

fn agreement_json(a: &Agreement) -> Value {
    json!({"spearman": output::json_f64(a.spearman), "pearson": output::json_f64(a.pearson), "pairs": a.pairs})
}

pub fn run(a: Args) -> anyhow::Result<()> {
    if a.k == 0 {
        bail!("--k must be at least 1");
    }
    let out = prepare_out(&a.out)?;
    let mut results = output::Results::new("geodesic");
    results.seed(a.input_args.seed);
    let ds = results.timed("load", || a.input_args.load(&a.input))?;
    let n = ds.n();
    if a.k >= n {
        bail!("--k {} needs more than {n} images", a.k);
    }
    let truth = truth_fn(&ds, &a.truth, &a.periodic)?;
    let sources: Vec<usize> = if a.sources.is_empty() { (0..n).collect() } else { a.sources.clone() };
    if let Some(&s) = sources.iter().find(|&&s| s >= n) {
        bail!("--sources: row {s} is out of range (n = {n})");
    }
    let all_sources = a.sources.is_empty();

    let euclid_edges = results.timed("knn_graph", || geodesic::knn_edges(ds.data.view(), a.k))?;
    let mut edges: Vec<Edge> = euclid_edges.clone();
    if a.metric == MetricArg::Flow {
        let frames = gray_frames(&ds)?;
        let params = optical_flow::FlowParams::from_name(&a.flow_method)?;
        let pb = output::progress(edges.len() as u64, "flow edges");
        results.timed("flow", || {
            geodesic::weight_by_flow(&mut edges, &frames, &params, a.photometric_weight, &|d| pb.inc(d))
        })?;
        pb.finish_and_clear();
    }
    let (parts, labels) = geodesic::components(n, &edges);
    if parts > 1 {
        eprintln!("warning: the {}-NN graph has {parts} connected components: some geodesic distances are infinite (raise --k)", a.k);
    }
    let dist = results.timed("dijkstra", || geodesic::shortest_paths(n, &edges, &sources))?;
    output::write_npy(&out.join("geodesic.npy"), &dist)?;
    geodesic::write_edges_csv(&out.join("edges.csv"), &edges)?;

    let mut summary = json!({
        "n": n, "k": a.k, "metric": format!("{:?}", a.metric).to_lowercase(), "edges": edges.len(),
        "components": parts, "sources": if all_sources { Value::String("all".into()) } else { json!(sources) },
        "photometric_weight": a.photometric_weight, "flow_method": a.flow_method,
    });

    if all_sources && a.dims > 0 {
        // Embed the largest component.
        let mut count = vec![0usize; parts];
        labels.iter().for_each(|&l| count[l] += 1);
        let big = (0..parts).max_by_key(|&l| (count[l], std::cmp::Reverse(l))).unwrap_or(0);
        let nodes: Vec<usize> = (0..n).filter(|&i| labels[i] == big).collect();
        let dims = a.dims.min(nodes.len());
        let (coords, eig) = results.timed("embedding", || geodesic::classical_mds(dist.view(), &nodes, dims))?;
        geodesic::write_embedding_csv(&out.join("embedding.csv"), &nodes, coords.view(), &|i| ds.ids[i].clone())?;
        summary["embedding"] = json!({"dims": dims, "nodes": nodes.len(), "eigenvalues": eig});
    }

    if let Some(cols) = truth {
        let true_dist = |i: usize, j: usize| -> f64 {
            cols.iter()
                .map(|(v, period)| {
                    let mut d = (v[i] - v[j]).abs();
                    if let Some(p) = period {
                        d %= p;
                        d = d.min(p - d);
                    }
                    d * d
                })
                .sum::<f64>()
                .sqrt()
        };
        let mut corr = serde_json::Map::new();
        corr.insert(
            summary["metric"].as_str().unwrap_or("graph").to_string(),
            agreement_json(&agreement(dist.view(), &sources, &true_dist)),
        );
        if a.metric == MetricArg::Flow {
            let e = geodesic::shortest_paths(n, &euclid_edges, &sources)?;
            corr.insert("euclidean_graph".into(), agreement_json(&agreement(e.view(), &sources, &true_dist)));
        }
        let pixel = geodesic::pixel_distances(ds.data.view())?;
        let pixel_rows = pixel.select(Axis(0), &sources);
        corr.insert("pixel".into(), agreement_json(&agreement(pixel_rows.view(), &sources, &true_dist)));
        summary["truth_columns"] = json!(a.truth);
        summary["correlation"] = Value::Object(corr);
    }
    for (k, v) in summary.as_object().expect("object").clone() {
        results.set(&k, v);
    }
    results.set("files", json!({"geodesic": "geodesic.npy", "edges": "edges.csv", "embedding": "embedding.csv"}));
    let v = results.write(&out)?;
    print_json(a.json, &v)
}
