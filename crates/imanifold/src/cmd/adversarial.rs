//! `imanifold adversarial --model MODEL --data DIR --method fgsm|pgd|lbfgs [--norm l2|linf] [--eps E] --out DIR`:
//! adversarial perturbations of correctly classified images (Szegedy et al. 2014) and the random flip rate.
//!
//! Writes `clean/NNNNN.png` and `perturbed/NNNNN.png` for every attacked image, `clean.npy` / `perturbed.npy`
//! (float32, same rows), `pairs.csv` (clean, perturbed; PNG paths relative to DIR, one row per image whose label
//! flipped), `adversarial.csv` (per image: ids, classes, confidences, L2/L∞ norms, random flip rates) and
//! `results.json` (`flip_rate`, `random_flip_rate_l2`, `random_flip_rate_linf`, norms). Perturbed images lie on the
//! 8-bit grid, so the PNGs hold exactly the `perturbed.npy` values and every pair in `pairs.csv` flips as written.

use clap::Args as ClapArgs;
use classifier::adversarial::{self, Attack, AttackOptions, Norm};

use super::classifier::{fit_hint, LabelledArgs, ModelArgs};
use super::common::{InputArgs, OutArgs};

#[derive(Debug, ClapArgs)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Labelled images to perturb (only the correctly classified ones are attacked).
    #[command(flatten)]
    pub labelled: LabelledArgs,
    /// fgsm, pgd or lbfgs.
    #[arg(long)]
    pub method: Attack,
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
    };
    opts.validate()?;
    let LabelledArgs { data, label_column } = &a.labelled;
    a.out.check_inputs(&[&a.model.model, data])?;
    let model = a.model.load()?;
    let mut results = output::Results::new("adversarial");
    results.seed(a.input_args.seed);
    let ds = results.timed("load", || a.input_args.load(data))?;
    let adv = results
        .timed("attack", || adversarial::attack_dataset(&model, &ds, label_column, &opts))
        .map_err(fit_hint(&model, data))?;
    results.set("model", a.model.model.display().to_string()).set("data", data.display().to_string());
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
    }
    Ok(())
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.4}")).unwrap_or_else(|| "n/a".into())
}
