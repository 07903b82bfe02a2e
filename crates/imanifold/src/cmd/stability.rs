//! `imanifold stability --model M --data D --eps 1/255,2/255,4/255,8/255 --out DIR`: how stable the labels of the
//! correctly classified images of D are inside their L∞ ε-boxes, and how well the independence argument
//! P(stable) ≈ (1 − q)^n predicts it.
//!
//! Per ε: exact per-pixel flips (q, n_eff, per-pixel maps), the independence prediction, the stable share bracketed
//! between IBP/CROWN certification and PGD/random/single-pixel flips found, random uniform and corner flip rates
//! next to the clean error, and joint flips of sampled pixel pairs. Writes `results.json`, `per_image.csv`,
//! `pixel_flips_<eps>.npy` and `overlay_<eps>.png` (see `stability::write`).

use clap::Args as ClapArgs;
use stability::run as lib;
use stability::LowerSlope;

use super::classifier::{fit_hint, LabelledArgs, ModelArgs};
use super::common::{InputArgs, OutArgs};

#[derive(Debug, ClapArgs)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Labelled images (only the correctly classified ones are measured; all count for the clean error).
    #[command(flatten)]
    pub labelled: LabelledArgs,
    /// Box half-widths in [0, 1] pixel units, comma-separated numbers or fractions (each in (0, 1]).
    #[arg(long, default_value = lib::DEFAULT_EPS_TEXT, value_delimiter = ',',
          value_parser = classifier::adversarial::parse_eps_f64)]
    pub eps: Vec<f64>,
    /// PGD steps per restart.
    #[arg(long, default_value_t = lib::DEFAULT_PGD_STEPS)]
    pub pgd_steps: usize,
    /// PGD restarts (the first from the image, the others from uniform points of the box).
    #[arg(long, default_value_t = lib::DEFAULT_PGD_RESTARTS)]
    pub pgd_restarts: usize,
    /// Uniform points and random corners tried per image and ε.
    #[arg(long, default_value_t = lib::DEFAULT_RANDOM_TRIALS)]
    pub random_trials: usize,
    /// Images whose pixel pairs are examined (drawn with --seed).
    #[arg(long, default_value_t = lib::DEFAULT_PAIR_IMAGES)]
    pub pair_images: usize,
    /// Pixel pairs per examined image.
    #[arg(long, default_value_t = lib::DEFAULT_PAIRS_PER_IMAGE)]
    pub pairs_per_image: usize,
    /// Segments per direction of a pair's square decided exactly.
    #[arg(long, default_value_t = lib::DEFAULT_PAIR_LINES)]
    pub pair_lines: usize,
    /// CROWN's lower bound of an unstable ReLU: adaptive (DeepPoly) or zero.
    #[arg(long, default_value_t = stability::verify::DEFAULT_LOWER_SLOPE)]
    pub lower_slope: LowerSlope,
    /// Images drawn in each overlay_<eps>.png.
    #[arg(long, default_value_t = lib::DEFAULT_OVERLAYS)]
    pub overlays: usize,
    #[command(flatten)]
    pub input_args: InputArgs,
    #[command(flatten)]
    pub out: OutArgs,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    classifier::single_threaded_elementwise();
    let opts = lib::StabilityOptions {
        eps: a.eps.clone(),
        pgd_steps: a.pgd_steps,
        pgd_restarts: a.pgd_restarts,
        random_trials: a.random_trials,
        pair_images: a.pair_images,
        pairs_per_image: a.pairs_per_image,
        pair_lines: a.pair_lines,
        lower_slope: a.lower_slope,
        overlays: a.overlays,
        seed: a.input_args.seed,
    };
    opts.validate()?;
    let LabelledArgs { data, label_column } = &a.labelled;
    a.out.check_inputs(&[&a.model.model, data])?;
    let model = a.model.load()?;
    let mut results = output::Results::new("stability");
    results.seed(a.input_args.seed);
    let ds = results.timed("load", || a.input_args.load(data))?;
    let pb = output::progress((ds.data.nrows() * opts.eps.len()) as u64, "measuring");
    let s = results.timed("measure", || stability::measure(&model, &ds, label_column, &opts, &|| pb.inc(1))).map_err(
        |e| match e {
            stability::StabilityError::Classifier(c) => fit_hint(&model, data)(c),
            other => anyhow::Error::from(other),
        },
    )?;
    pb.finish_and_clear();
    results.set("model", a.model.model.display().to_string()).set("data", data.display().to_string());
    let v = a.out.write(|dir| Ok(stability::write_stability_dir(dir, &s, results)?))?;
    a.out.print(&v)?;
    if !a.out.json {
        let r = &s.report;
        eprintln!(
            "{} of {} images correctly classified (clean error {:.4}); {}",
            r.n_correct,
            r.n_inputs,
            r.clean_error,
            a.out.out.display()
        );
        for e in &r.summaries {
            eprintln!(
                "eps {:.5}: stable in [{:.3}, {:.3}] (width {:.3}); q {} over n_eff {:.1} -> (1-q)^n {}; PGD {:.3}, uniform {}, corner {}",
                e.eps,
                e.stable_lower,
                e.stable_upper,
                e.bracket_width,
                fmt_opt(e.q_mean),
                e.n_eff_mean,
                fmt_opt(e.prediction),
                e.pgd_flip_rate,
                fmt_opt(e.random_uniform_flip_rate),
                fmt_opt(e.random_corner_flip_rate),
            );
        }
    }
    Ok(())
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.4}")).unwrap_or_else(|| "n/a".into())
}
