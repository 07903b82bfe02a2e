//! Stage 4: how the share of images whose whole L∞ ε-box keeps the label falls with the number of pixels. Runs
//! `stability::sweep` (shapes10 rendered at each of `stability_sizes` from the same parameters, the same
//! global-average-pooling network trained at each size, the per-pixel flips q, the independence prediction
//! (1 − q)^n_eff, the certified share and 1 − the attacked share, random uniform and corner flip rates, the clean
//! test error) and writes the folder of `imanifold stability sweep` (results.json, per_size.csv, curve.svg) into
//! the stage folder.

use std::path::Path;

use indicatif::ProgressBar;
use serde_json::json;
use stability::sweep::{self, SweepOptions, SweepReport};

use crate::config::{Config, Stage};
use crate::data::{StabilityData, StabilityFit, StabilityPoint};
use crate::util::{sub_seed, Result, Step};

/// Seed tag of the stage (the sweep's seed is `sub_seed(demo seed, TAG)`).
const TAG: u64 = 400;

/// The sweep's options for this demo: the sweep's full (or, with `--quick`, quick) options with the stage's sizes
/// from [`Config`].
pub fn options(cfg: &Config) -> SweepOptions {
    let seed = sub_seed(cfg.seed, TAG);
    let mut o = if cfg.quick { SweepOptions::quick(seed) } else { SweepOptions::full(seed) };
    o.sizes = cfg.stability_sizes.clone();
    o.n_train = cfg.stability_n_train;
    o.n_test = cfg.stability_n_test;
    o.epochs = cfg.stability_epochs;
    o.stability.eps = cfg.stability_eps.clone();
    o.stability.pgd_steps = cfg.stability_pgd_steps;
    o.stability.pgd_restarts = cfg.stability_pgd_restarts;
    o.stability.random_trials = cfg.stability_random_trials;
    o
}

/// Stage 4. `pb` counts sizes.
pub fn run(cfg: &Config, dir: &Path, pb: &ProgressBar) -> Result<StabilityData> {
    let opts = options(cfg);
    let what = || "stability sweep".to_string();
    let r = sweep::run(&opts, &|_| pb.inc(1)).step(what)?;
    let mut results = output::Results::new("stability-sweep");
    results.seed(opts.seed);
    sweep::write(dir, &r, results).step(|| format!("writing {}", dir.display()))?;
    Ok(data(&r))
}

/// The report's numbers and the demo's results.json summary of a sweep.
fn data(r: &SweepReport) -> StabilityData {
    let mut points = Vec::new();
    for s in &r.sizes {
        for e in &s.eps {
            points.push(StabilityPoint {
                size: s.size,
                n: s.n,
                eps: e.eps,
                n_images: e.n_images,
                q_mean: e.q_mean,
                n_eff_mean: e.n_eff_mean,
                prediction: e.prediction,
                stable_lower: e.stable_lower,
                stable_upper: e.stable_upper,
                bracket_width: e.bracket_width,
                pgd_flip_rate: e.pgd_flip_rate,
                random_uniform_flip_rate: e.random_uniform_flip_rate,
                random_corner_flip_rate: e.random_corner_flip_rate,
                clean_error: s.clean_error,
            });
        }
    }
    let fits: Vec<StabilityFit> = r
        .fits
        .iter()
        .map(|f| StabilityFit {
            eps: f.eps,
            p: f.p.to_string(),
            points: f.points,
            slope: f.slope,
            intercept: f.intercept,
            r2: f.r2,
        })
        .collect();
    let summary = json!({
        "folder": Stage::Stability.folder(),
        "files": {"results": "results.json", "per_size": "per_size.csv", "curve": "curve.svg"},
        "options": r.options,
        "sizes": r.sizes,
        "fits": r.fits,
    });
    StabilityData { eps: r.options.stability.eps.clone(), points, fits, summary }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_take_the_stage_sizes_from_the_config() {
        for cfg in [Config::quick(3), Config::full(3)] {
            let o = options(&cfg);
            o.validate().unwrap();
            assert_eq!(o.sizes, cfg.stability_sizes);
            assert_eq!(o.stability.eps, cfg.stability_eps);
            assert_eq!(
                (o.n_train, o.n_test, o.epochs),
                (cfg.stability_n_train, cfg.stability_n_test, cfg.stability_epochs)
            );
            assert_eq!(o.seed, sub_seed(3, TAG));
        }
        assert_ne!(options(&Config::quick(3)).architecture, options(&Config::full(3)).architecture);
    }
}
