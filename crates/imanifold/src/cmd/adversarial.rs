//! `imanifold adversarial --model MODEL --data DIR --method fgsm|pgd|lbfgs [--norm l2|linf] [--eps E] --out DIR`:
//! adversarial perturbations of correctly classified images (Szegedy et al. 2014) and the random flip rate.
//!
//! Writes `clean/NNNNN.png` and `perturbed/NNNNN.png` for every attacked image, `clean.npy` / `perturbed.npy`
//! (float32, same rows), `pairs.csv` (clean, perturbed; PNG paths relative to DIR, one row per image whose label
//! flipped), `adversarial.csv` (per image: ids, classes, confidences, L2/L∞ norms, random flip rates) and
//! `results.json` (`flip_rate`, `random_flip_rate_l2`, `random_flip_rate_linf`, norms). Perturbed images lie on the
//! 8-bit grid, so the PNGs hold exactly the `perturbed.npy` values and every pair in `pairs.csv` flips as written.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args as ClapArgs, ValueEnum};
use classifier::adversarial::{attack, Attack, AttackOptions, Norm};
use classifier::Classifier;

use super::classifier::{check_fits, image_shape, label_indices, label_strings};
use super::common::{prepare_out, print_json, InputArgs};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MethodArg {
    Fgsm,
    Pgd,
    Lbfgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum NormArg {
    L2,
    Linf,
}

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Model folder written by `classifier train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Labelled images to perturb (only the correctly classified ones are attacked).
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long, default_value = "label")]
    pub label_column: String,
    #[arg(long, value_enum)]
    pub method: MethodArg,
    #[arg(long, value_enum, default_value_t = NormArg::Linf)]
    pub norm: NormArg,
    /// Budget in [0, 1] pixel units (a number or a fraction such as 8/255); ignored by lbfgs.
    #[arg(long, default_value = "8/255", value_parser = parse_eps)]
    pub eps: f32,
    /// PGD steps, or L-BFGS iterations per value of c.
    #[arg(long, default_value_t = 40)]
    pub steps: usize,
    /// L-BFGS: values of the penalty c tried by the bisection.
    #[arg(long, default_value_t = 10)]
    pub search_rounds: usize,
    /// Random perturbations per image (each of the L2 and L∞ kinds) for the random flip rates.
    #[arg(long, default_value_t = 100)]
    pub random_trials: usize,
    #[command(flatten)]
    pub input_args: InputArgs,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Also print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `0.03`, `8/255`.
pub fn parse_eps(s: &str) -> Result<f32, String> {
    let v = match s.split_once('/') {
        Some((a, b)) => {
            let a: f32 = a.trim().parse().map_err(|_| format!("`{s}` is not a number or fraction"))?;
            let b: f32 = b.trim().parse().map_err(|_| format!("`{s}` is not a number or fraction"))?;
            a / b
        }
        None => s.trim().parse().map_err(|_| format!("`{s}` is not a number or fraction"))?,
    };
    if !(v.is_finite() && v > 0.0) {
        return Err(format!("`{s}`: the budget must be positive"));
    }
    Ok(v)
}

pub fn run(a: Args) -> anyhow::Result<()> {
    classifier::single_threaded_elementwise();
    let model = Classifier::load(&a.model)?;
    let mut results = output::Results::new("adversarial");
    results.seed(a.input_args.seed);
    let ds = results.timed("load", || a.input_args.load(&a.data))?;
    check_fits(&model, &ds, &a.data)?;
    let shape = image_shape(&ds)?;
    let labels = label_strings(&ds, &a.label_column)?;
    let y = label_indices(&model, &labels, &a.data)?;
    if y.is_empty() {
        bail!("{} holds no images", a.data.display());
    }
    // Work on the 8-bit grid (identity for PNG/JPEG inputs); report how much that changed float inputs.
    let mut x = ds.data.clone();
    let mut grid_change = 0f32;
    x.iter_mut().for_each(|v| {
        let q = classifier::images::to_u8(*v) as f32 / 255.0;
        grid_change = grid_change.max((q - *v).abs());
        *v = q;
    });
    let opts = AttackOptions {
        attack: match a.method {
            MethodArg::Fgsm => Attack::Fgsm,
            MethodArg::Pgd => Attack::Pgd,
            MethodArg::Lbfgs => Attack::Lbfgs,
        },
        norm: match a.norm {
            NormArg::L2 => Norm::L2,
            NormArg::Linf => Norm::Linf,
        },
        eps: a.eps,
        steps: a.steps,
        search_rounds: a.search_rounds,
        quantize: true,
        random_trials: a.random_trials,
        seed: a.input_args.seed,
    };
    if a.out.exists() && !a.out.is_dir() {
        bail!("--out {} exists and is not a folder", a.out.display());
    }
    let report = results.timed("attack", || attack(&model, x.view(), &y, &opts)).context("attacking")?;
    // Created only now, so that bad input leaves nothing behind.
    let out = prepare_out(&a.out)?;
    let classes = model.classes();
    let n = report.results.len();
    // PNGs are written in parallel (thousands of small files).
    let pb = output::progress(n as u64, "writing");
    results.timed("write_images", || {
        classifier::adversarial::write_attack_files(
            &out,
            x.view(),
            &report,
            classes,
            shape,
            &|row| ds.ids[row].clone(),
            &|| pb.inc(1),
        )
    })?;
    pb.finish_and_clear();
    classifier::adversarial::set_attack_results(&mut results, &report, &opts);
    results
        .set("model", a.model.display().to_string())
        .set("data", a.data.display().to_string())
        .set("input_grid_max_change", grid_change);
    let v = results.write(&out)?;
    print_json(a.json, &v)?;
    if !a.json {
        eprintln!(
            "{}: {}/{} correctly classified images flipped (flip rate {:.3}); random flip rate at the same L2 norm {}, \
             in the same L∞ ball {}; median L2 {}, median L∞ {}; {}",
            opts.attack.name(),
            report.n_flipped,
            report.n_attacked,
            report.flip_rate,
            fmt_opt(report.random_flip_rate_l2),
            fmt_opt(report.random_flip_rate_linf),
            fmt_opt(report.median_l2),
            fmt_opt(report.median_linf),
            out.display()
        );
    }
    Ok(())
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.4}")).unwrap_or_else(|| "n/a".into())
}
