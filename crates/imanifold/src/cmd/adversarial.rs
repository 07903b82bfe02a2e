//! `imanifold adversarial --model MODEL --data DIR --method fgsm|pgd|lbfgs|on-manifold [--norm l2|linf] [--eps E]
//! [--reference DIR --tangent-k K --tangent-dim D] --out DIR`: adversarial perturbations of correctly classified
//! images (Szegedy et al. 2014) and the random flip rate; `on-manifold` restricts PGD to the tangent spaces of a
//! reference collection (Stutz et al. 2019) and reports plain PGD's flip rate at the same budget beside it.
//!
//! Writes `clean/NNNNN.png` and `perturbed/NNNNN.png` for every attacked image, `clean.npy` / `perturbed.npy`
//! (float32, same rows), `pairs.csv` (clean, perturbed; PNG paths relative to DIR, one row per image whose label
//! flipped), `adversarial.csv` (per image: ids, classes, confidences, L2/L∞ norms, random flip rates) and
//! `results.json` (`flip_rate`, `random_flip_rate_l2`, `random_flip_rate_linf`, norms). Perturbed images lie on the
//! 8-bit grid, so the PNGs hold exactly the `perturbed.npy` values and every pair in `pairs.csv` flips as written.

use clap::Args as ClapArgs;
use std::path::PathBuf;

use classifier::adversarial::{self, Attack, AttackOptions, Norm, TangentOptions};

use super::classifier::{fit_hint, LabelledArgs, ModelArgs};
use super::common::{InputArgs, OutArgs};

#[derive(Debug, ClapArgs)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Labelled images to perturb (only the correctly classified ones are attacked).
    #[command(flatten)]
    pub labelled: LabelledArgs,
    /// fgsm, pgd, lbfgs or on-manifold.
    #[arg(long)]
    pub method: Attack,
    /// on-manifold: the reference collection whose local tangent spaces bound the perturbation (e.g. the training
    /// images; same image shape as the model).
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// on-manifold: nearest reference images per tangent space.
    #[arg(long, default_value_t = adversarial::on_manifold::DEFAULT_TANGENT_K)]
    pub tangent_k: usize,
    /// on-manifold: tangent dimension (default: the reference's estimated intrinsic dimension).
    #[arg(long)]
    pub tangent_dim: Option<usize>,
    /// l2 or linf.
    #[arg(long, default_value_t = Norm::Linf)]
    pub norm: Norm,
    /// Budget in [0, 1] pixel units (a number or a fraction such as 8/255); ignored by lbfgs.
    #[arg(long, default_value = adversarial::DEFAULT_EPS_TEXT, value_parser = adversarial::parse_eps)]
    pub eps: f32,
    /// PGD steps, or L-BFGS iterations per value of c.
    #[arg(long, default_value_t = adversarial::DEFAULT_STEPS)]
    pub steps: usize,
    /// L-BFGS: values of the penalty c tried by the bisection.
    #[arg(long, default_value_t = adversarial::DEFAULT_SEARCH_ROUNDS)]
    pub search_rounds: usize,
    /// Random perturbations per image (each of the L2 and L∞ kinds) for the random flip rates.
    #[arg(long, default_value_t = adversarial::DEFAULT_RANDOM_TRIALS)]
    pub random_trials: usize,
    /// pgd: keep going after the label changes until the wrong class's softmax probability reaches P (e.g. 0.99;
    /// a high-confidence attack) or the steps run out. Default: stop at the first change.
    #[arg(long, value_name = "P")]
    pub confidence: Option<f32>,
    #[command(flatten)]
    pub input_args: InputArgs,
    #[command(flatten)]
    pub out: OutArgs,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    classifier::single_threaded_elementwise();
    let opts = AttackOptions {
        attack: a.method,
        norm: a.norm,
        eps: a.eps,
        steps: a.steps,
        search_rounds: a.search_rounds,
        quantize: true,
        random_trials: a.random_trials,
        seed: a.input_args.seed,
        confidence: a.confidence,
    };
    opts.validate()?;
    let tangent = TangentOptions { k: a.tangent_k, dim: a.tangent_dim };
    let on_manifold = a.method == Attack::OnManifold;
    match (&a.reference, on_manifold) {
        (None, true) => anyhow::bail!(
            "--method on-manifold needs --reference DIR (the collection whose tangent spaces bound the perturbation)"
        ),
        (Some(_), false) => {
            anyhow::bail!("--reference is used only by --method on-manifold (got --method {})", a.method)
        }
        _ => {}
    }
    if !on_manifold && (a.tangent_dim.is_some() || a.tangent_k != adversarial::on_manifold::DEFAULT_TANGENT_K) {
        anyhow::bail!("--tangent-k and --tangent-dim are used only by --method on-manifold");
    }
    if on_manifold {
        tangent.validate()?;
    }
    let LabelledArgs { data, label_column } = &a.labelled;
    let mut inputs: Vec<&std::path::Path> = vec![&a.model.model, data];
    inputs.extend(a.reference.as_deref());
    a.out.check_inputs(&inputs)?;
    let model = a.model.load()?;
    let mut results = output::Results::new("adversarial");
    results.seed(a.input_args.seed);
    let ds = results.timed("load", || a.input_args.load(data))?;
    let adv = match &a.reference {
        None => results
            .timed("attack", || adversarial::attack_dataset(&model, &ds, label_column, &opts))
            .map_err(fit_hint(&model, data))?,
        Some(r) => {
            let reference = results.timed("load_reference", || a.input_args.load(r))?;
            classifier::labels::check_fits(&model, &reference).map_err(fit_hint(&model, r))?;
            results
                .timed("attack", || {
                    adversarial::attack_dataset_on_manifold(&model, &ds, label_column, &opts, &reference, &tangent)
                })
                .map_err(fit_hint(&model, data))?
        }
    };
    results.set("model", a.model.model.display().to_string()).set("data", data.display().to_string());
    if let Some(r) = &a.reference {
        results.set("reference", r.display().to_string());
    }
    // PNGs are written in parallel (thousands of small files).
    let pb = output::progress(adv.report.results.len() as u64, "writing");
    let v = a.out.write(|dir| Ok(adversarial::write_adversarial_dir(dir, &adv, results, &|| pb.inc(1))?))?;
    pb.finish_and_clear();
    a.out.print(&v)?;
    if !a.out.json {
        let report = &adv.report;
        eprintln!(
            "{}: {}/{} correctly classified images flipped (flip rate {:.3}); random flip rate at the same L2 norm {}, \
             in the same L∞ ball {}; median L2 {}, median L∞ {}; {}",
            opts.attack,
            report.n_flipped,
            report.n_attacked,
            report.flip_rate,
            fmt_opt(report.random_flip_rate_l2),
            fmt_opt(report.random_flip_rate_linf),
            fmt_opt(report.median_l2),
            fmt_opt(report.median_linf),
            a.out.out.display()
        );
        if let Some(p) = report.pgd_flip_rate {
            eprintln!(
                "plain PGD at the same budget flips {p:.3}; the on-manifold perturbations leave their tangent spaces by \
                 {} (mean ‖δ − UᵀUδ‖/‖δ‖, from clipping and 8-bit rounding)",
                fmt_opt(report.mean_off_tangent_fraction)
            );
        }
    }
    Ok(())
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.4}")).unwrap_or_else(|| "n/a".into())
}
