//! `imanifold score --reference REF --query Q --out DIR`: off-manifold scores of every query image against a
//! reference collection (kNN distance, tangent residual, LID, flow residual), calibrated as percentiles of the
//! reference's own leave-one-out scores; `--groups COLUMN` adds per-group distributions and AUROCs.
//!
//! `imanifold score --reference REF --pairs PAIRS.csv --out DIR`: for (clean, perturbed) image pairs, the fraction of
//! each perturbation's energy in the clean image's local tangent space, with a random direction as baseline.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args as ClapArgs;
use dataset::{ColorMode, Dataset, LoadOptions};
use knn::{KnnOptions, Strategy};
use ndarray::{Array1, Array2};
use off_manifold::{DimChoice, Method, PairEntry, PairsOptions, ScoreOptions};

use super::common::{prepare_out, print_json, InputArgs};
use super::neighbors::StrategyArg;

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Reference collection of natural images (anything the loaders read).
    #[arg(long, value_name = "REF")]
    pub reference: PathBuf,
    /// Images to score (same image size as the reference).
    #[arg(long, value_name = "Q", required_unless_present = "pairs", conflicts_with = "pairs")]
    pub query: Option<PathBuf>,
    /// Perturbation mode: CSV with columns `clean,perturbed`; each cell an image path relative to the CSV's folder,
    /// a `.npy` holding one image, or `file.npy#ROW` for one row of a `.npy` stack.
    #[arg(long, value_name = "FILE")]
    pub pairs: Option<PathBuf>,
    /// Scores to compute, comma-separated, from knn, tangent, lid, flow (default: all four for images; knn,
    /// tangent, lid for rows that are not images).
    #[arg(long, value_name = "LIST")]
    pub methods: Option<String>,
    /// Neighbours per image.
    #[arg(long, default_value_t = 20)]
    pub k: usize,
    /// Tangent dimension: `auto` (rounded MLE intrinsic dimension of the reference), `local` (each image's own
    /// Levina–Bickel estimate) or a number; at most k − 1.
    #[arg(long, default_value = "auto", value_name = "D")]
    pub dim: String,
    /// Manifest column of the query that splits it into groups (AUROC against `natural`, else the first group).
    #[arg(long, value_name = "COLUMN")]
    pub groups: Option<String>,
    /// Reference images used for the leave-one-out calibration (a seeded sample when the reference is larger).
    #[arg(long, default_value_t = 2000, value_name = "N")]
    pub calibration: usize,
    /// Nearest reference images tried by the flow score.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub flow_neighbors: usize,
    /// Calibration images of the flow score (a seeded sub-sample of the calibration images).
    #[arg(long, default_value_t = 200, value_name = "N")]
    pub flow_calibration: usize,
    /// Optical-flow method of the flow score (dis, dis-medium, dis-fast, variational).
    #[arg(long, default_value = "dis", value_name = "NAME")]
    pub flow_method: String,
    /// kNN search strategy (all exact; `pruned` wins on collections with a steep spectrum).
    #[arg(long, value_enum, default_value_t = StrategyArg::Auto)]
    pub knn_strategy: StrategyArg,
    #[command(flatten)]
    pub input_args: InputArgs,
    /// Output folder: scores.csv, <score>.npy, <score>_pct.npy, calibration_<score>.npy, results.json
    /// (pairs mode: perturbations.csv, tangent_fraction.npy, random_tangent_fraction.npy, results.json).
    #[arg(long)]
    pub out: PathBuf,
    /// Also print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

fn knn_options(a: &Args) -> KnnOptions {
    KnnOptions {
        strategy: match a.knn_strategy {
            StrategyArg::Auto => Strategy::Auto,
            StrategyArg::Brute => Strategy::Brute,
            StrategyArg::Pruned => Strategy::PcaPruned,
            StrategyArg::Tree => Strategy::Tree,
        },
        ..Default::default()
    }
}

fn describe(ds: &Dataset) -> String {
    match ds.shape {
        Some(s) => format!("{}x{} images with {} channel(s)", s.width, s.height, s.channels),
        None => format!("rows of {} values", ds.d()),
    }
}

/// Load options for the images compared with the reference: same colour mode as the reference unless the user
/// chose one.
fn matching_options(a: &Args, reference: &Dataset) -> LoadOptions {
    let mut o = a.input_args.options();
    if o.color == ColorMode::Auto {
        if let Some(s) = reference.shape {
            o.color = if s.channels == 1 { ColorMode::Gray } else { ColorMode::Rgb };
        }
    }
    o
}

fn check_same_size(reference: &Dataset, ref_path: &Path, other: &Dataset, other_path: &Path) -> anyhow::Result<()> {
    if other.d() != reference.d()
        || (reference.shape.is_some() && other.shape.is_some() && reference.shape != other.shape)
    {
        bail!(
            "size mismatch: {} holds {} but the reference {} holds {} (use --resize WxH, --gray or --rgb)",
            other_path.display(),
            describe(other),
            ref_path.display(),
            describe(reference)
        );
    }
    Ok(())
}

pub fn run(a: Args) -> anyhow::Result<()> {
    // The folder is created only once there is something to write into it.
    if a.out.exists() && !a.out.is_dir() {
        bail!("--out {} exists and is not a folder", a.out.display());
    }
    let mut results = output::Results::new("score");
    results.seed(a.input_args.seed);
    let reference = results.timed("load_reference", || a.input_args.load(&a.reference))?;
    let dim = DimChoice::parse(&a.dim)?;
    if let Some(pairs) = &a.pairs {
        return run_pairs(&a, pairs, &reference, dim, results);
    }
    let q_path = a.query.as_ref().context("--query or --pairs is required")?;
    let q_opts = matching_options(&a, &reference);
    let query = results
        .timed("load_query", || dataset::load(q_path, &q_opts))
        .with_context(|| format!("loading {}", q_path.display()))?;
    check_same_size(&reference, &a.reference, &query, q_path)?;
    let shape = reference.shape;
    let methods = match &a.methods {
        Some(m) => Method::parse_list(m)?,
        None if shape.is_some() => Method::ALL.to_vec(),
        None => vec![Method::Knn, Method::Tangent, Method::Lid],
    };
    let groups: Option<Vec<String>> = match &a.groups {
        None => None,
        Some(col) => {
            let c = query.column(col).with_context(|| {
                let have: Vec<&str> = query.columns.iter().map(|(n, _)| n.as_str()).collect();
                format!(
                    "--groups {col}: the query {} has no such manifest column (columns: {})",
                    q_path.display(),
                    if have.is_empty() { "none".to_string() } else { have.join(", ") }
                )
            })?;
            Some((0..query.n()).map(|i| c.text(i)).collect())
        }
    };
    let opts = ScoreOptions {
        methods,
        k: a.k,
        dim,
        calibration: a.calibration,
        flow_neighbors: a.flow_neighbors,
        flow_calibration: a.flow_calibration,
        flow: off_manifold::FlowParams::from_name(&a.flow_method)?,
        seed: a.input_args.seed,
        knn: knn_options(&a),
    };
    let report = results
        .timed("score", || off_manifold::score(reference.data.view(), query.data.view(), shape, &opts))
        .with_context(|| format!("scoring {} against {}", q_path.display(), a.reference.display()))?;

    let out = prepare_out(&a.out)?;
    let files =
        off_manifold::write_score_files(&out, &report, &query.ids, groups.as_deref(), &|j| reference.ids[j].clone())?;
    off_manifold::set_score_results(&mut results, &report, &opts);
    results
        .set("reference", a.reference.display().to_string())
        .set("query", q_path.display().to_string())
        .set("n_query", query.n())
        .set("d", reference.d())
        .set(
            "image_shape",
            shape.map(|s| serde_json::json!({"height": s.height, "width": s.width, "channels": s.channels})),
        )
        .set("files", &files);
    if let Some(g) = &groups {
        let gr = off_manifold::group_report(&report.columns, g);
        results.set("groups_column", a.groups.clone()).set("groups", gr);
    }
    if report.dim_clamped {
        eprintln!(
            "warning: the reference's MLE dimension {:.1} exceeds k − 1 = {}: the tangent space was clamped to {} \
             dimensions (raise --k)",
            report.reference_dimension,
            a.k - 1,
            a.k - 1
        );
    }
    if !report.duplicates_dropped.is_empty() {
        eprintln!(
            "note: {} reference row(s) duplicate an earlier row and were left out",
            report.duplicates_dropped.len()
        );
    }
    let v = results.write(&out)?;
    print_json(a.json, &v)
}

/// Reads the pairs file and returns (clean labels, perturbed labels, clean rows, perturbed rows).
fn read_pairs(
    csv_path: &Path,
    opts: &LoadOptions,
    reference: &Dataset,
    ref_path: &Path,
) -> anyhow::Result<(Vec<String>, Vec<String>, Array2<f32>, Array2<f32>)> {
    let lines = off_manifold::read_pairs_csv(csv_path)?;
    // Decode every image file once (in parallel), load every .npy once.
    let mut images: Vec<PathBuf> = Vec::new();
    let mut npys: Vec<PathBuf> = Vec::new();
    for e in lines.iter().flat_map(|l| [&l.clean, &l.perturbed]) {
        match e {
            PairEntry::Image(p) if !images.contains(p) => images.push(p.clone()),
            PairEntry::Npy { path, .. } if !npys.contains(path) => npys.push(path.clone()),
            _ => {}
        }
    }
    let d = reference.d();
    let mut image_rows: HashMap<PathBuf, usize> = HashMap::new();
    let mut decoded = Array2::<f32>::zeros((0, d));
    if !images.is_empty() {
        let (data, shape) = dataset::decode_images(&images, opts)
            .with_context(|| format!("decoding the images named in {}", csv_path.display()))?;
        let ds = Dataset { data, shape: Some(shape), ids: vec![], columns: vec![], source: csv_path.to_path_buf() };
        check_same_size(reference, ref_path, &ds, csv_path)?;
        decoded = ds.data;
        image_rows = images.iter().cloned().enumerate().map(|(i, p)| (p, i)).collect();
    }
    let mut npy_data: HashMap<PathBuf, Dataset> = HashMap::new();
    let npy_opts = LoadOptions { limit: None, sample: None, ..opts.clone() };
    for p in npys {
        let ds = dataset::load(&p, &npy_opts).with_context(|| format!("loading {}", p.display()))?;
        check_same_size(reference, ref_path, &ds, &p)?;
        npy_data.insert(p, ds);
    }
    let row_of = |e: &PairEntry, line: usize| -> anyhow::Result<ndarray::Array1<f32>> {
        match e {
            PairEntry::Image(p) => Ok(decoded.row(image_rows[p]).to_owned()),
            PairEntry::Npy { path, row } => {
                let ds = &npy_data[path];
                let r = match row {
                    Some(r) => *r,
                    None if ds.n() == 1 => 0,
                    None => bail!(
                        "{} line {line}: {} holds {} images: name one as FILE.npy#ROW",
                        csv_path.display(),
                        path.display(),
                        ds.n()
                    ),
                };
                if r >= ds.n() {
                    bail!(
                        "{} line {line}: {}#{r} does not exist ({} rows)",
                        csv_path.display(),
                        path.display(),
                        ds.n()
                    );
                }
                Ok(ds.data.row(r).to_owned())
            }
        }
    };
    let n = lines.len();
    let mut clean = Array2::<f32>::zeros((n, d));
    let mut perturbed = Array2::<f32>::zeros((n, d));
    for (i, l) in lines.iter().enumerate() {
        clean.row_mut(i).assign(&row_of(&l.clean, l.line)?);
        perturbed.row_mut(i).assign(&row_of(&l.perturbed, l.line)?);
    }
    let clean_ids = lines.iter().map(|l| l.clean_text.clone()).collect();
    let pert_ids = lines.iter().map(|l| l.perturbed_text.clone()).collect();
    Ok((clean_ids, pert_ids, clean, perturbed))
}

fn run_pairs(
    a: &Args,
    pairs_path: &Path,
    reference: &Dataset,
    dim: DimChoice,
    mut results: output::Results,
) -> anyhow::Result<()> {
    if a.methods.is_some() || a.groups.is_some() {
        bail!("--methods and --groups apply to --query mode, not to --pairs");
    }
    let opts = matching_options(a, reference);
    let (clean_ids, pert_ids, clean, perturbed) =
        results.timed("load_pairs", || read_pairs(pairs_path, &opts, reference, &a.reference))?;
    let popts = PairsOptions { k: a.k, dim, calibration: a.calibration, seed: a.input_args.seed, knn: knn_options(a) };
    let report = results
        .timed("perturbation_energy", || {
            off_manifold::perturbation_energy(reference.data.view(), clean.view(), perturbed.view(), &popts)
        })
        .with_context(|| format!("tangent energy of the pairs in {}", pairs_path.display()))?;
    let header = [
        "clean",
        "perturbed",
        "l2",
        "linf",
        "tangent_dim",
        "tangent_fraction",
        "normal_fraction",
        "random_tangent_fraction",
        "clean_nearest_distance",
    ];
    let rows: Vec<Vec<String>> = report
        .pairs
        .iter()
        .enumerate()
        .map(|(i, p)| {
            vec![
                clean_ids[i].clone(),
                pert_ids[i].clone(),
                output::fmt_f64(p.l2),
                output::fmt_f64(p.linf),
                p.d.to_string(),
                output::fmt_f64(p.tangent_fraction),
                output::fmt_f64(p.normal_fraction),
                output::fmt_f64(p.random_tangent_fraction),
                output::fmt_f64(p.clean_nearest_distance),
            ]
        })
        .collect();
    let out = prepare_out(&a.out)?;
    output::write_csv(&out.join("perturbations.csv"), &header, rows)?;
    let tf: Vec<f64> = report.pairs.iter().map(|p| p.tangent_fraction).collect();
    let rf: Vec<f64> = report.pairs.iter().map(|p| p.random_tangent_fraction).collect();
    output::write_npy(&out.join("tangent_fraction.npy"), &Array1::from(tf))?;
    output::write_npy(&out.join("random_tangent_fraction.npy"), &Array1::from(rf))?;
    results
        .set("mode", "pairs")
        .set("reference", a.reference.display().to_string())
        .set("pairs", pairs_path.display().to_string())
        .set("n_reference", report.n_reference)
        .set("n_pairs", report.summary.n_pairs)
        .set("d", reference.d())
        .set("k", report.k)
        .set("dim_rule", dim.describe())
        .set("tangent_dim", report.dim_global)
        .set("tangent_dim_clamped_to_k_minus_1", report.dim_clamped)
        .set("reference_dimension_mle", output::json_f64(report.reference_dimension))
        .set("duplicate_reference_rows_dropped", report.duplicates_dropped)
        .set("summary", &report.summary)
        .set("files", ["perturbations.csv", "tangent_fraction.npy", "random_tangent_fraction.npy"]);
    let v = results.write(&out)?;
    print_json(a.json, &v)
}
