//! MAP-Elites over a genome (raw pixels or CPPNs) and the direct encoding's polynomial mutation.

use rand::Rng;
use rayon::prelude::*;

use super::{FoolOptions, FoolReport, FoolingImage, Method};
use crate::error::Result;
use crate::model::Classifier;
use crate::util::{item_rng, stream};

/// Deb & Agrawal's polynomial mutation of each pixel with probability `rate`, bounds [0, 1].
pub(super) fn mutate_direct<R: Rng>(parent: &[f32], rate: f64, eta: f64, rng: &mut R) -> Vec<f32> {
    let mut child = parent.to_vec();
    let mut changed = false;
    for v in child.iter_mut() {
        if rng.random_bool(rate) {
            *v = polynomial(*v, eta, rng);
            changed = true;
        }
    }
    if !changed {
        let i = rng.random_range(0..child.len());
        child[i] = polynomial(child[i], eta, rng);
    }
    child
}

fn polynomial<R: Rng>(v: f32, eta: f64, rng: &mut R) -> f32 {
    let u: f64 = rng.random();
    let p = 1.0 / (eta + 1.0);
    let delta = if u < 0.5 { (2.0 * u).powf(p) - 1.0 } else { 1.0 - (2.0 * (1.0 - u)).powf(p) };
    (v as f64 + delta).clamp(0.0, 1.0) as f32
}

struct Elite {
    image: Vec<f32>,
    confidence: f32,
    generation: usize,
}

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
    Init: Fn(&mut rand_chacha::ChaCha8Rng) -> G + Sync,
    Mutate: Fn(&G, usize, &mut rand_chacha::ChaCha8Rng) -> G + Sync,
    Render: Fn(&G) -> Vec<f32> + Sync,
{
    let tag = if opts.method == Method::EvolveCppn { stream::CPPN } else { stream::DIRECT };
    let d = model.input_len();
    let mut archive: Vec<Option<Elite>> = (0..classes.len()).map(|_| None).collect();
    // Per class, the lineage being mutated: starts as the archive elite; after `restart_after` generations without
    // improvement it is dropped, the class's next offspring are fresh random genomes and the best of them starts
    // a new lineage (the archive keeps the best image ever seen).
    let mut lineage: Vec<Option<(G, f32)>> = (0..classes.len()).map(|_| None).collect();
    let mut last_improved = vec![0usize; classes.len()];
    let mut evaluations = 0;
    let mut generation = 0;
    loop {
        let open: Vec<usize> = (0..classes.len())
            .filter(|&c| archive[c].as_ref().map(|e| e.confidence < opts.confidence).unwrap_or(true))
            .collect();
        if open.is_empty() || generation > opts.generations {
            break;
        }
        if opts.restart_after > 0 {
            for &slot in &open {
                if generation - last_improved[slot] > opts.restart_after {
                    lineage[slot] = None;
                    last_improved[slot] = generation;
                }
            }
        }
        let offspring: Vec<(G, Vec<f32>)> = (0..opts.population)
            .into_par_iter()
            .map(|i| {
                let mut rng = item_rng(opts.seed, tag, generation as u64, i as u64);
                let parent =
                    if generation == 0 { None } else { lineage[open[rng.random_range(0..open.len())]].as_ref() };
                let genome = match parent {
                    Some((g, _)) => mutate(g, generation, &mut rng),
                    None => init(&mut rng),
                };
                let mut image = render(&genome);
                if opts.quantize {
                    pixels::quantize(image.iter_mut());
                }
                (genome, image)
            })
            .collect();
        let mut batch = ndarray::Array2::<f32>::zeros((offspring.len(), d));
        for (i, (_, img)) in offspring.iter().enumerate() {
            batch.row_mut(i).assign(&ndarray::ArrayView1::from(img));
        }
        let probs = model.predict_proba(batch.view())?;
        evaluations += offspring.len();
        for (i, (genome, image)) in offspring.iter().enumerate() {
            for (slot, &class) in classes.iter().enumerate() {
                let p = probs[[i, class]];
                let better = match &archive[slot] {
                    None => true,
                    Some(e) => e.confidence < opts.confidence && p > e.confidence,
                };
                if better {
                    archive[slot] = Some(Elite { image: image.clone(), confidence: p, generation });
                }
                if lineage[slot].as_ref().map(|(_, c)| p > *c).unwrap_or(true) {
                    lineage[slot] = Some((genome.clone(), p));
                    last_improved[slot] = generation;
                }
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
