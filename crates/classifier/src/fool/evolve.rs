//! MAP-Elites over a genome (raw pixels or CPPNs) and the direct encoding's polynomial mutation.
//!
//! Each class keeps a lineage (the genome being mutated), ranked by the log-probability of the class (which, unlike
//! the probability, does not underflow far from the class), with its own mutation strength adapted by Rechenberg's
//! 1/5th success rule: after every generation the strength grows when more than a fifth of the lineage's offspring
//! improved on it and shrinks otherwise (large steps explore, small steps refine an elite near the target). Every
//! `restart_after` generations each open lineage's progress in log-odds `ln(p / (1 − p))` is checked
//! ([`CPPN_STALL`], [`DIRECT_STALL`]); a stalled lineage restarts from fresh random genomes (the archive keeps the
//! best image ever seen), each restart of a class drawing larger genomes (the `restarts` argument of `init`).

use rand::Rng;
use rayon::prelude::*;

use super::scorer::Scorer;
use super::{FoolOptions, FoolReport, FoolingImage, Method};
use crate::error::Result;
use crate::model::Classifier;
use crate::util::{item_rng, stream};

/// Stall test of a lineage, per encoding: `(horizon, floor)`. Every `restart_after` generations a lineage must gain
/// at least `floor` log-odds of its class and at least the remaining distance to the target divided by `horizon`
/// (on track to reach it within `horizon` more windows), or it restarts. Direct lineages have no horizon and a low
/// floor (every pixel is free, so a slow direct lineage still converges; restarting it loses that progress), while a
/// CPPN lineage can be trapped in one family of patterns, which only a restart leaves.
const CPPN_STALL: (f64, f64) = (4.0, 0.25);
/// Direct lineages restart only when flat.
const DIRECT_STALL: (f64, f64) = (f64::INFINITY, 1e-9);
/// Bounds of the adapted mutation strength (a factor on the configured one). The lower bound keeps offspring
/// distinct on the 8-bit grid the candidates are judged on.
const MIN_STRENGTH: f64 = 0.2;
const MAX_STRENGTH: f64 = 4.0;
/// ln(1e-12): the smallest `ln(1 − p)` used in log-odds.
const LN_TINY: f64 = -27.631_021_115_928_547;

/// Deb & Agrawal's polynomial mutation of each pixel with probability `rate`, bounds [0, 1]; the change is scaled
/// by `strength` (1: the plain operator).
pub(super) fn mutate_direct<R: Rng>(parent: &[f32], rate: f64, eta: f64, strength: f64, rng: &mut R) -> Vec<f32> {
    let mut child = parent.to_vec();
    let mut changed = false;
    for v in child.iter_mut() {
        if rng.random_bool(rate) {
            *v = polynomial(*v, eta, strength, rng);
            changed = true;
        }
    }
    if !changed {
        let i = rng.random_range(0..child.len());
        child[i] = polynomial(child[i], eta, strength, rng);
    }
    child
}

fn polynomial<R: Rng>(v: f32, eta: f64, strength: f64, rng: &mut R) -> f32 {
    let u: f64 = rng.random();
    let p = 1.0 / (eta + 1.0);
    let delta = if u < 0.5 { (2.0 * u).powf(p) - 1.0 } else { 1.0 - (2.0 * (1.0 - u)).powf(p) };
    (v as f64 + strength * delta).clamp(0.0, 1.0) as f32
}

/// `ln(p / (1 − p))` from `ln p`.
fn log_odds(log_p: f32) -> f64 {
    let lp = (log_p as f64).min(0.0);
    // ln(1 − p), bounded so that p = 1 in f32 gives a finite value.
    lp - (-lp.exp()).ln_1p().max(LN_TINY)
}

struct Elite {
    image: Vec<f32>,
    confidence: f32,
    generation: usize,
}

/// The genome a class's offspring descend from, with its search state.
struct Lineage<G> {
    /// Best genome of the lineage and its log-probability of the class (`None` right after a restart).
    best: Option<(G, f32)>,
    /// Factor on the configured mutation strength (1/5th rule).
    strength: f64,
    /// Restarts so far (later restarts draw larger genomes).
    restarts: usize,
    /// Start of the current progress window: generation and log-odds then.
    window: (usize, f64),
}

/// One generation loop (about 135 lines: the restart check, breeding, scoring and the archive/lineage/strength
/// updates share the per-generation state and read best in order).
#[allow(clippy::too_many_arguments)]
pub(super) fn map_elites<G, Init, Mutate, Render>(
    model: &Classifier,
    opts: &FoolOptions,
    classes: &[usize],
    init: Init,
    mutate: Mutate,
    render: Render,
    on_generation: &mut dyn FnMut(usize, &[f32]),
) -> Result<FoolReport>
where
    G: Clone + Send + Sync,
    Init: Fn(usize, &mut rand_chacha::ChaCha8Rng) -> G + Sync,
    Mutate: Fn(&G, usize, f64, &mut rand_chacha::ChaCha8Rng) -> G + Sync,
    Render: Fn(&G) -> Vec<f32> + Sync,
{
    let tag = if opts.method == Method::EvolveCppn { stream::CPPN } else { stream::DIRECT };
    let d = model.input_len();
    let mut archive: Vec<Option<Elite>> = (0..classes.len()).map(|_| None).collect();
    let mut lineage: Vec<Lineage<G>> = (0..classes.len())
        .map(|_| Lineage { best: None, strength: 1.0, restarts: 0, window: (0, f64::NEG_INFINITY) })
        .collect();
    let target = log_odds(opts.confidence.ln());
    let scorer = Scorer::new(model)?;
    let (horizon, floor) = if opts.method == Method::EvolveCppn { CPPN_STALL } else { DIRECT_STALL };
    let mut evaluations = 0;
    let mut generation = 0;
    loop {
        let open: Vec<usize> = (0..classes.len())
            .filter(|&c| archive[c].as_ref().map(|e| e.confidence < opts.confidence).unwrap_or(true))
            .collect();
        if open.is_empty() || generation > opts.generations {
            break;
        }
        if opts.restart_after > 0 && generation > 0 {
            for &slot in &open {
                let l = &mut lineage[slot];
                if generation - l.window.0 < opts.restart_after {
                    continue;
                }
                let now = l.best.as_ref().map(|(_, p)| log_odds(*p)).unwrap_or(f64::NEG_INFINITY);
                // On track: at this pace the target is at most `horizon` windows away.
                let needed = ((target - now) / horizon).max(floor);
                // NaN (no genome at either end of the window) counts as a stall.
                let gain = now - l.window.1;
                if gain.is_nan() || gain < needed {
                    *l = Lineage {
                        best: None,
                        strength: 1.0,
                        restarts: l.restarts + 1,
                        window: (generation, f64::NEG_INFINITY),
                    };
                } else {
                    l.window = (generation, now);
                }
            }
        }
        // Offspring i: (parent slot, genome, image).
        let offspring: Vec<(Option<usize>, G, Vec<f32>)> = (0..opts.population)
            .into_par_iter()
            .map(|i| {
                let mut rng = item_rng(opts.seed, tag, generation as u64, i as u64);
                let slot = if generation == 0 { None } else { Some(open[rng.random_range(0..open.len())]) };
                let (parent, genome) = match slot.map(|s| (s, &lineage[s])) {
                    Some((s, Lineage { best: Some((g, _)), strength, .. })) => {
                        (Some(s), mutate(g, generation, *strength, &mut rng))
                    }
                    Some((_, l)) => (None, init(l.restarts, &mut rng)),
                    None => (None, init(0, &mut rng)),
                };
                let mut image = render(&genome);
                if opts.quantize {
                    pixels::quantize(image.iter_mut());
                }
                (parent, genome, image)
            })
            .collect();
        let mut batch = ndarray::Array2::<f32>::zeros((offspring.len(), d));
        for (i, (_, _, img)) in offspring.iter().enumerate() {
            batch.row_mut(i).assign(&ndarray::ArrayView1::from(img));
        }
        let (probs, log_probs) = scorer.score(batch.view())?;
        evaluations += offspring.len();
        // Successes of each lineage's offspring against the parent they were mutated from.
        let parent_conf: Vec<Option<f32>> = lineage.iter().map(|l| l.best.as_ref().map(|(_, p)| *p)).collect();
        let mut children = vec![0usize; classes.len()];
        let mut successes = vec![0usize; classes.len()];
        for (i, (parent, genome, image)) in offspring.iter().enumerate() {
            if let Some(s) = *parent {
                children[s] += 1;
                if parent_conf[s].is_some_and(|c| log_probs[[i, classes[s]]] > c) {
                    successes[s] += 1;
                }
            }
            for (slot, &class) in classes.iter().enumerate() {
                let p = probs[[i, class]];
                let better = match &archive[slot] {
                    None => true,
                    Some(e) => e.confidence < opts.confidence && p > e.confidence,
                };
                if better {
                    archive[slot] = Some(Elite { image: image.clone(), confidence: p, generation });
                }
                let (l, lp) = (&mut lineage[slot], log_probs[[i, class]]);
                if l.best.as_ref().map(|(_, c)| lp > *c).unwrap_or(true) {
                    l.best = Some((genome.clone(), lp));
                }
            }
        }
        for (l, (&n, &s)) in lineage.iter_mut().zip(children.iter().zip(&successes)) {
            if l.window.1 == f64::NEG_INFINITY {
                // A new lineage's first window starts at its first genome.
                l.window.1 = l.best.as_ref().map(|(_, p)| log_odds(*p)).unwrap_or(f64::NEG_INFINITY);
            }
            if n > 0 {
                let rate = s as f64 / n as f64;
                l.strength = (l.strength * ((rate - 0.2) / 0.8).exp()).clamp(MIN_STRENGTH, MAX_STRENGTH);
            }
        }
        let best: Vec<f32> = archive.iter().map(|e| e.as_ref().map(|e| e.confidence).unwrap_or(0.0)).collect();
        on_generation(generation, &best);
        generation += 1;
    }
    let images = classes
        .iter()
        .zip(archive)
        .map(|(&class, e)| {
            let e = e.expect("archive filled after generation 0");
            FoolingImage {
                class,
                reached: e.confidence >= opts.confidence,
                image: e.image,
                confidence: e.confidence,
                generation: e.generation,
            }
        })
        .collect();
    Ok(FoolReport { method: opts.method, images, generations: generation.saturating_sub(1), evaluations })
}
