//! `imanifold stability --model M --data D --eps 1/255,2/255,4/255,8/255 --out DIR`: how stable the labels of the
//! correctly classified images of D are inside their L∞ ε-boxes, and how well the independence argument
//! P(stable) ≈ (1 − q)^n predicts it.
//!
//! Per ε: exact per-pixel flips (q, n_eff, per-pixel maps), the independence prediction, the stable share bracketed
//! between IBP/CROWN certification and PGD/random/single-pixel flips found, random uniform and corner flip rates
//! next to the clean error, and joint flips of sampled pixel pairs. Writes `results.json`, `per_image.csv`,
//! `pixel_flips_<eps>.npy` and `overlay_<eps>.png` (see `stability::write`).
//!
//! `imanifold stability sweep --scene shapes10 --sizes 8,12,16,24,32 --eps ... --out DIR [--quick]`: the same
//! measurement across image sizes with a fit of log P(stable) against n (see `stability::sweep`).

use clap::{ArgMatches, Args as ClapArgs, Command, FromArgMatches};
use stability::run as lib;
use stability::sweep as sw;
use stability::LowerSlope;

use super::classifier::{fit_hint, LabelledArgs, ModelArgs};
use super::common::{InputArgs, OutArgs};

/// `stability` with its options, or `stability sweep` with its own (clap cannot derive a subcommand next to
/// required options, so the two are joined by hand: the options of the plain command conflict with `sweep`).
#[derive(Debug)]
pub enum Args {
    Measure(Box<MeasureArgs>),
    Sweep(Box<SweepArgs>),
}

const SWEEP: &str = "sweep";

impl FromArgMatches for Args {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        Self::from_arg_matches_mut(&mut m.clone())
    }
    fn from_arg_matches_mut(m: &mut ArgMatches) -> Result<Self, clap::Error> {
        match m.remove_subcommand() {
            Some((name, mut sub)) if name == SWEEP => {
                Ok(Args::Sweep(Box::new(SweepArgs::from_arg_matches_mut(&mut sub)?)))
            }
            Some((name, _)) => {
                Err(clap::Error::raw(clap::error::ErrorKind::InvalidSubcommand, format!("unknown subcommand {name}\n")))
            }
            None => Ok(Args::Measure(Box::new(MeasureArgs::from_arg_matches_mut(m)?))),
        }
    }
    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl clap::Args for Args {
    fn augment_args(cmd: Command) -> Command {
        MeasureArgs::augment_args(cmd)
            .subcommand(SweepArgs::augment_args(Command::new(SWEEP).about(
                "The same measurement across image sizes: render, train (global average pooling) and measure at each \
                 size; fit log P(stable) against n",
            )))
            .args_conflicts_with_subcommands(true)
    }
    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

#[derive(Debug, ClapArgs)]
pub struct MeasureArgs {
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
    /// PGD restarts (the first from the image, the others from random corners of the box).
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
    /// α-CROWN steps per margin (optimised lower slopes) on boxes IBP and CROWN leave open; 0 turns it off.
    #[arg(long, default_value_t = stability::alpha::DEFAULT_ALPHA_STEPS)]
    pub alpha_steps: usize,
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
    match a {
        Args::Measure(m) => measure(*m),
        Args::Sweep(s) => sweep(*s),
    }
}

fn measure(a: MeasureArgs) -> anyhow::Result<()> {
    let opts = lib::StabilityOptions {
        eps: a.eps.clone(),
        pgd_steps: a.pgd_steps,
        pgd_restarts: a.pgd_restarts,
        random_trials: a.random_trials,
        pair_images: a.pair_images,
        pairs_per_image: a.pairs_per_image,
        pair_lines: a.pair_lines,
        lower_slope: a.lower_slope,
        alpha_steps: a.alpha_steps,
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

/// `stability sweep`: options left out take the full sweep's defaults, or the quick ones with `--quick`.
#[derive(Debug, ClapArgs)]
pub struct SweepArgs {
    /// A built-in scene with classes.
    #[arg(long, default_value = sw::DEFAULT_SCENE)]
    pub scene: String,
    /// Square image sizes, comma-separated.
    #[arg(long, default_value = sw::DEFAULT_SIZES_TEXT, value_delimiter = ',')]
    pub sizes: Vec<usize>,
    /// Box half-widths in [0, 1] pixel units, comma-separated numbers or fractions (each in (0, 1]).
    #[arg(long, default_value = lib::DEFAULT_EPS_TEXT, value_delimiter = ',',
          value_parser = classifier::adversarial::parse_eps_f64)]
    pub eps: Vec<f64>,
    /// Fewer renders, epochs, test images and attack effort: a run of about a minute.
    #[arg(long)]
    pub quick: bool,
    /// Training renders per size (default: 3000, quick 2000).
    #[arg(long)]
    pub n_train: Option<usize>,
    /// Test renders per size; the correctly classified ones are measured (default: 24, quick 12).
    #[arg(long)]
    pub n_test: Option<usize>,
    /// Training epochs per size (default: 6, quick 6).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// PGD steps per restart (default: 40, quick 20).
    #[arg(long)]
    pub pgd_steps: Option<usize>,
    /// PGD restarts (default: 4, quick 2).
    #[arg(long)]
    pub pgd_restarts: Option<usize>,
    /// Uniform points and random corners per image and ε (default: 50, quick 20).
    #[arg(long)]
    pub random_trials: Option<usize>,
    /// Train every network with certified (IBP) training in L∞ boxes of this radius (a number or a fraction such
    /// as 2/255; the other certified-training settings at `classifier train`'s defaults). Off when absent.
    #[arg(long, value_parser = classifier::adversarial::parse_eps_f64)]
    pub certified_eps: Option<f64>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub out: OutArgs,
}

fn sweep(a: SweepArgs) -> anyhow::Result<()> {
    let mut opts = if a.quick { sw::SweepOptions::quick(a.seed) } else { sw::SweepOptions::full(a.seed) };
    opts.scene = a.scene.clone();
    opts.sizes = a.sizes.clone();
    opts.stability.eps = a.eps.clone();
    let set = |v: Option<usize>, field: &mut usize| {
        if let Some(v) = v {
            *field = v;
        }
    };
    set(a.n_train, &mut opts.n_train);
    set(a.n_test, &mut opts.n_test);
    set(a.epochs, &mut opts.epochs);
    set(a.pgd_steps, &mut opts.stability.pgd_steps);
    set(a.pgd_restarts, &mut opts.stability.pgd_restarts);
    set(a.random_trials, &mut opts.stability.random_trials);
    if let Some(e) = a.certified_eps {
        opts.certified_eps = e;
    }
    opts.validate()?;
    a.out.check()?;
    let mut results = output::Results::new("stability-sweep");
    results.seed(a.seed);
    let pb = output::progress(opts.sizes.len() as u64, "sizes");
    let r = results.timed("sweep", || sw::run(&opts, &|_| pb.inc(1)))?;
    pb.finish_and_clear();
    let v = a.out.write(|dir| Ok(sw::write(dir, &r, results)?))?;
    a.out.print(&v)?;
    if !a.out.json {
        for s in &r.sizes {
            for e in &s.eps {
                eprintln!(
                    "{0}x{0} (n {1}), eps {2:.5}: stable in [{3:.3}, {4:.3}]; (1-q)^n {5}; uniform {6}; clean error {7:.3}",
                    s.size,
                    s.n,
                    e.eps,
                    e.stable_lower,
                    e.stable_upper,
                    fmt_opt(e.prediction),
                    fmt_opt(e.random_uniform_flip_rate),
                    s.clean_error
                );
            }
        }
        for f in r.fits.iter().filter(|f| f.slope.is_some()) {
            eprintln!(
                "eps {:.5}: ln {} = {} + {} n (R² {}, {} sizes)",
                f.eps,
                f.p,
                fmt_opt(f.intercept),
                fmt_opt(f.slope),
                fmt_opt(f.r2),
                f.points
            );
        }
        eprintln!("{}", a.out.out.display());
    }
    Ok(())
}
