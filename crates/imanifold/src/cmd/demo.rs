//! `imanifold demo [--quick] [--seed S] --out DIR`: every claim measured end to end (scene dimension, flow
//! geodesics, fooling and adversarial images off the manifold), with `DIR/report.html`, `DIR/plots/` and
//! `DIR/results.json`. Embedded scenes and defaults; nothing is downloaded. See the `demo` crate for the stages.

use std::path::PathBuf;

use clap::Args as ClapArgs;

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Output folder: new, empty, or a previous demo output (replaced as a whole when the run ends).
    #[arg(long)]
    pub out: PathBuf,
    /// Smaller samples and budgets (under 2 minutes on two cores instead of under 10).
    #[arg(long)]
    pub quick: bool,
    /// Seed of every random choice (same seed, same numbers, whatever --threads).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also print results.json to stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let cfg = if a.quick { demo::Config::quick(a.seed) } else { demo::Config::full(a.seed) };
    let summary = demo::run(&cfg, &a.out)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&summary.results)?);
    } else {
        for line in demo::headline(&summary.results) {
            println!("{line}");
        }
        let total = summary.results["timings_seconds"]["total"].as_f64().unwrap_or(f64::NAN);
        println!("report: {} ({total:.1} s)", a.out.join("report.html").display());
    }
    Ok(())
}
