//! The whole measurement on a set of labelled images: options, per-image results, per-ε summaries.

use rand::seq::SliceRandom;
use rand::Rng;
use rayon::prelude::*;
use serde::Serialize;

use crate::alpha::{alpha_crown, DEFAULT_ALPHA_STEPS, MAX_ALPHA_STEPS};
use crate::attack::{pgd, random_flips};
use crate::error::{invalid, Result};
use crate::line::{pair_flip, LineWalker};
use crate::net::{margin_of, Net};
use crate::verify::{crown, eps_box, ibp, LowerSlope, DEFAULT_LOWER_SLOPE};

pub const DEFAULT_EPS_TEXT: &str = "1/255,2/255,4/255,8/255";
pub const MAX_EPS_VALUES: usize = 32;
pub const DEFAULT_PGD_STEPS: usize = 40;
pub const MAX_PGD_STEPS: usize = 10_000;
pub const DEFAULT_PGD_RESTARTS: usize = 4;
pub const MAX_PGD_RESTARTS: usize = 1_000;
pub const DEFAULT_RANDOM_TRIALS: usize = 100;
pub const MAX_RANDOM_TRIALS: usize = 100_000;
pub const DEFAULT_PAIR_IMAGES: usize = 4;
pub const DEFAULT_PAIRS_PER_IMAGE: usize = 50;
pub const MAX_PAIRS_PER_IMAGE: usize = 100_000;
pub const DEFAULT_PAIR_LINES: usize = 3;
pub const MAX_PAIR_LINES: usize = 1_000;
pub const DEFAULT_OVERLAYS: usize = 8;
pub const MAX_OVERLAYS: usize = 1_000;
/// Largest memory the per-pixel maps and image copies may take.
pub const MAX_MEMORY_BYTES: u64 = 8 << 30;

/// What to measure and how hard to search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StabilityOptions {
    /// Box half-widths in [0, 1] pixel units, each in (0, 1].
    pub eps: Vec<f64>,
    pub pgd_steps: usize,
    pub pgd_restarts: usize,
    /// Uniform points and random corners per image and ε.
    pub random_trials: usize,
    /// Images (drawn by seed among the correctly classified) whose pixel pairs are examined.
    pub pair_images: usize,
    pub pairs_per_image: usize,
    /// Segments per direction of a pair's square decided exactly (plus the axes through the image).
    pub pair_lines: usize,
    pub lower_slope: LowerSlope,
    /// α-CROWN steps per margin on boxes IBP and CROWN leave open (0: off).
    pub alpha_steps: usize,
    /// Images shown in each overlay gallery.
    pub overlays: usize,
    pub seed: u64,
}

impl Default for StabilityOptions {
    fn default() -> Self {
        StabilityOptions {
            eps: vec![1.0 / 255.0, 2.0 / 255.0, 4.0 / 255.0, 8.0 / 255.0],
            pgd_steps: DEFAULT_PGD_STEPS,
            pgd_restarts: DEFAULT_PGD_RESTARTS,
            random_trials: DEFAULT_RANDOM_TRIALS,
            pair_images: DEFAULT_PAIR_IMAGES,
            pairs_per_image: DEFAULT_PAIRS_PER_IMAGE,
            pair_lines: DEFAULT_PAIR_LINES,
            lower_slope: DEFAULT_LOWER_SLOPE,
            alpha_steps: DEFAULT_ALPHA_STEPS,
            overlays: DEFAULT_OVERLAYS,
            seed: 0,
        }
    }
}

fn check_range(what: &'static str, v: usize, lo: usize, hi: usize) -> Result<()> {
    if v < lo || v > hi {
        return Err(invalid(what, format!("{v} (need {lo} to {hi})")));
    }
    Ok(())
}

impl StabilityOptions {
    /// Checks every option that does not depend on the data.
    pub fn validate(&self) -> Result<()> {
        if self.eps.is_empty() || self.eps.len() > MAX_EPS_VALUES {
            return Err(invalid("eps", format!("{} values (need 1 to {MAX_EPS_VALUES})", self.eps.len())));
        }
        for (k, &e) in self.eps.iter().enumerate() {
            if !(e.is_finite() && e > 0.0 && e <= 1.0) {
                return Err(invalid("eps", format!("{e} (each budget must be in (0, 1])")));
            }
            if self.eps[..k].contains(&e) {
                return Err(invalid("eps", format!("{e} listed twice")));
            }
        }
        check_range("pgd steps", self.pgd_steps, 1, MAX_PGD_STEPS)?;
        check_range("pgd restarts", self.pgd_restarts, 1, MAX_PGD_RESTARTS)?;
        check_range("random trials", self.random_trials, 0, MAX_RANDOM_TRIALS)?;
        check_range("pair images", self.pair_images, 0, MAX_OVERLAYS)?;
        check_range("pairs per image", self.pairs_per_image, 0, MAX_PAIRS_PER_IMAGE)?;
        check_range("pair lines", self.pair_lines, 2, MAX_PAIR_LINES)?;
        check_range("alpha steps", self.alpha_steps, 0, MAX_ALPHA_STEPS)?;
        check_range("overlays", self.overlays, 0, MAX_OVERLAYS)
    }

    /// Bytes the per-pixel maps and the f64 image copies take for `n` images of `d` values.
    pub fn memory_estimate(&self, n: usize, d: usize) -> u64 {
        (n as u64) * (d as u64) * (self.eps.len() as u64 + 8)
    }
}

/// One correctly classified image at one ε.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageResult {
    /// Row in the input.
    pub row: usize,
    pub label: usize,
    /// Effective pixels (input values whose segment moves the logits) and those whose segment flips the label.
    pub n_eff: usize,
    pub n_flip: usize,
    /// Linear pieces walked over all segments.
    pub pieces: usize,
    pub ibp_margin: f64,
    /// Smallest CROWN margin bound.
    pub crown_margin: f64,
    /// Smallest α-CROWN margin bound (`None`: not run, IBP or CROWN certified the box or α-CROWN is off).
    pub alpha_margin: Option<f64>,
    pub certified_ibp: bool,
    pub certified_crown: bool,
    pub certified_alpha: bool,
    /// Smallest margin PGD reached (`None`: not run, the box is certified).
    pub pgd_margin: Option<f64>,
    pub pgd_flipped: bool,
    pub random_uniform_flips: usize,
    pub random_corner_flips: usize,
    /// Per class `j`: lower bounds of `logit_label − logit_j` over the box by IBP, CROWN and α-CROWN (`+∞` at
    /// `j = label`; α-CROWN's equal CROWN's where it did not run or did not try that margin).
    #[serde(skip)]
    pub margin_bounds: [Vec<f64>; 3],
    /// Per input value: −1 not effective, 0 effective without flip, 1 flips.
    #[serde(skip)]
    pub flips: Vec<i8>,
}

impl ImageResult {
    /// Flip share over effective pixels (`None` without effective pixels).
    pub fn q(&self) -> Option<f64> {
        (self.n_eff > 0).then(|| self.n_flip as f64 / self.n_eff as f64)
    }

    pub fn certified(&self) -> bool {
        self.certified_ibp || self.certified_crown || self.certified_alpha
    }

    /// Some flip was found inside the box (PGD, a random point or a single pixel).
    pub fn falsified(&self) -> bool {
        self.pgd_flipped || self.n_flip > 0 || self.random_uniform_flips > 0 || self.random_corner_flips > 0
    }

    /// `(1 − q)^n_eff` with this image's own `q`.
    pub fn independence_prediction(&self) -> f64 {
        self.q().map(|q| (1.0 - q).powi(self.n_eff as i32)).unwrap_or(1.0)
    }
}

/// Joint flips of sampled pixel pairs at one ε.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PairStats {
    pub images: usize,
    pub pairs: usize,
    /// Share of pairs whose square has a flip.
    pub joint_flip_rate: Option<f64>,
    /// Share of pairs where one of the two pixels flips alone: `1 − mean (1 − f_i)(1 − f_j)`.
    pub product_prediction: Option<f64>,
    /// Share of pairs where neither pixel flips alone but the square does.
    pub interaction_rate: Option<f64>,
    /// `1 − (1 − q)²` with `q` pooled over the pairs' pixels.
    pub independence_prediction: Option<f64>,
}

/// Every figure at one ε.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EpsSummary {
    pub eps: f64,
    pub n_images: usize,
    /// Flip share over effective pixels: pooled, mean of per-image shares, per class (pooled).
    pub q_pooled: Option<f64>,
    pub q_mean: Option<f64>,
    pub q_per_class: Vec<Option<f64>>,
    pub n_eff_mean: f64,
    pub n_eff_min: usize,
    pub n_eff_max: usize,
    /// `(1 − q_mean)^n_eff_mean`: the independence prediction of the share of stable images.
    pub prediction: Option<f64>,
    /// Mean over images of `(1 − q_i)^n_eff_i`.
    pub prediction_per_image_mean: f64,
    /// Mean over images of `Π_i (1 − flip_i)`: the share of images with no single-pixel flip.
    pub no_single_flip_share: f64,
    pub certified_ibp: f64,
    pub certified_crown: f64,
    /// Certified by α-CROWN (and not by IBP or CROWN).
    pub certified_alpha_only: f64,
    /// Certified by IBP, CROWN or α-CROWN: the lower end of the stable share.
    pub stable_lower: f64,
    pub pgd_flip_rate: f64,
    /// Images with any flip found (PGD, random points, single pixels).
    pub falsified: f64,
    /// `1 − falsified`: the upper end of the stable share.
    pub stable_upper: f64,
    pub bracket_width: f64,
    /// `1 − pgd_flip_rate`.
    pub stable_upper_pgd: f64,
    /// Images CROWN certified and IBP did not / IBP certified and CROWN did not.
    pub crown_only: usize,
    pub ibp_only: usize,
    pub random_uniform_flip_rate: Option<f64>,
    pub random_corner_flip_rate: Option<f64>,
    /// Measured stable share over the prediction, at both ends of the bracket.
    pub ratio_lower: Option<f64>,
    pub ratio_upper: Option<f64>,
    pub pairs: PairStats,
}

/// The report of one measurement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StabilityReport {
    pub options: StabilityOptions,
    pub n_inputs: usize,
    /// Images whose f64 logits have the label as strict argmax (the ones measured).
    pub n_correct: usize,
    pub clean_error: f64,
    pub summaries: Vec<EpsSummary>,
    /// `per_image[e]`: the correctly classified images at `options.eps[e]`, in row order.
    #[serde(skip)]
    pub per_image: Vec<Vec<ImageResult>>,
}

const TAG_ATTACK: u64 = 0x5354_4142_0001;
const TAG_PAIRS: u64 = 0x5354_4142_0002;

/// One image at every ε. Per ε: IBP, CROWN, α-CROWN when both leave the box open, the per-pixel walk (shared across
/// budgets, see [`LineWalker::pixel_maps`]), then PGD and random points only when the box is not certified — no
/// point of a certified box flips, so their counts there are 0 by soundness.
fn measure_image(net: &Net, x: &[f64], row: usize, label: usize, opts: &StabilityOptions) -> Vec<ImageResult> {
    let mut bounds: Vec<[Vec<f64>; 3]> = Vec::with_capacity(opts.eps.len());
    let boxes: Vec<(f64, f64, Option<f64>)> = opts
        .eps
        .iter()
        .map(|&eps| {
            let (lo, hi) = eps_box(x, eps);
            let i = ibp(net, &lo, &hi, label);
            let c = crown(net, &lo, &hi, label, opts.lower_slope);
            let (ibp_margin, crown_margin) = (i.min_margin(), c.min_margin());
            let open = ibp_margin <= 0.0 && crown_margin <= 0.0 && opts.alpha_steps > 0;
            let a = open.then(|| alpha_crown(net, &c, &lo, &hi, label, opts.alpha_steps));
            let alpha = a.as_ref().map(|a| a.min_margin());
            bounds.push([i.margins, c.margins.clone(), a.map(|a| a.margins).unwrap_or(c.margins)]);
            (ibp_margin, crown_margin, alpha)
        })
        .collect();
    let certified: Vec<bool> =
        boxes.iter().map(|&(i, c, a)| i > 0.0 || c > 0.0 || a.is_some_and(|a| a > 0.0)).collect();
    let mut bounds = bounds.into_iter();
    let mut walker = LineWalker::new(net, x, label);
    let (maps, pieces) = walker.pixel_maps(x, &opts.eps, &certified);
    opts.eps
        .iter()
        .zip(maps)
        .enumerate()
        .map(|(e, (&eps, flips))| {
            let (ibp_margin, crown_margin, alpha_margin) = boxes[e];
            let n_eff = flips.iter().filter(|&&f| f >= 0).count();
            let n_flip = flips.iter().filter(|&&f| f == 1).count();
            let mut rng = seeds::stream(seeds::sub_seed(opts.seed, TAG_ATTACK + e as u64), row as u64);
            let (pgd_margin, pgd_flipped, random) = if certified[e] {
                (None, false, (0, 0))
            } else {
                let o = pgd(net, x, label, eps, opts.pgd_steps, opts.pgd_restarts, &mut rng);
                (Some(o.margin), o.margin < 0.0, random_flips(net, x, label, eps, opts.random_trials, &mut rng))
            };
            ImageResult {
                row,
                label,
                n_eff,
                n_flip,
                pieces: pieces[e],
                ibp_margin,
                crown_margin,
                alpha_margin,
                certified_ibp: ibp_margin > 0.0,
                certified_crown: crown_margin > 0.0,
                certified_alpha: alpha_margin.is_some_and(|a| a > 0.0),
                pgd_margin,
                pgd_flipped,
                random_uniform_flips: random.0,
                random_corner_flips: random.1,
                margin_bounds: bounds.next().unwrap_or_default(),
                flips,
            }
        })
        .collect()
}

/// Pixel-pair statistics on `images` (indices into `results`).
fn pair_stats(
    net: &Net,
    rows: &[Vec<f64>],
    results: &[ImageResult],
    eps: f64,
    e: usize,
    opts: &StabilityOptions,
) -> PairStats {
    let mut order: Vec<usize> = (0..results.len()).collect();
    order.shuffle(&mut seeds::stream(seeds::sub_seed(opts.seed, TAG_PAIRS), 0));
    order.truncate(opts.pair_images);
    order.sort_unstable();
    // Per image: (pairs, joint flips, one flips alone, neither alone but joint, flips among pair pixels).
    let counts: Vec<[usize; 5]> = order
        .par_iter()
        .map(|&k| {
            let r = &results[k];
            let x = &rows[r.row];
            let eff: Vec<usize> = (0..x.len()).filter(|&i| r.flips[i] >= 0).collect();
            let mut c = [0usize; 5];
            if eff.len() < 2 {
                return c;
            }
            let mut rng = seeds::stream(seeds::sub_seed(opts.seed, TAG_PAIRS + 1 + e as u64), r.row as u64);
            let mut walker = LineWalker::new(net, x, r.label);
            for _ in 0..opts.pairs_per_image {
                let ia = rng.random_range(0..eff.len());
                let ib = rng.random_range(0..eff.len() - 1);
                let (a, b) = (eff[ia], eff[if ib >= ia { ib + 1 } else { ib }]);
                let (fa, fb) = (r.flips[a] == 1, r.flips[b] == 1);
                // A pair's square lies inside the box: in a certified box nothing flips.
                let joint = fa || fb || (!r.certified() && pair_flip(&mut walker, x, a, b, eps, opts.pair_lines));
                c[0] += 1;
                c[1] += usize::from(joint);
                c[2] += usize::from(fa || fb);
                c[3] += usize::from(joint && !(fa || fb));
                c[4] += usize::from(fa) + usize::from(fb);
            }
            c
        })
        .collect();
    let total = counts.iter().fold([0usize; 5], |mut t, c| {
        t.iter_mut().zip(c).for_each(|(t, c)| *t += c);
        t
    });
    let rate = |v: usize| (total[0] > 0).then(|| v as f64 / total[0] as f64);
    let q = (total[0] > 0).then(|| total[4] as f64 / (2 * total[0]) as f64);
    PairStats {
        images: order.len(),
        pairs: total[0],
        joint_flip_rate: rate(total[1]),
        product_prediction: rate(total[2]),
        interaction_rate: rate(total[3]),
        independence_prediction: q.map(|q| 1.0 - (1.0 - q) * (1.0 - q)),
    }
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| s / n as f64)
}

fn summarize(results: &[ImageResult], eps: f64, n_classes: usize, trials: usize, pairs: PairStats) -> EpsSummary {
    let n = results.len();
    let share = |f: &dyn Fn(&ImageResult) -> bool| results.iter().filter(|r| f(r)).count() as f64 / n.max(1) as f64;
    let pooled = |rs: &mut dyn Iterator<Item = &ImageResult>| {
        let (f, e) = rs.fold((0usize, 0usize), |(f, e), r| (f + r.n_flip, e + r.n_eff));
        (e > 0).then(|| f as f64 / e as f64)
    };
    let q_mean = mean(results.iter().filter_map(ImageResult::q));
    let n_eff_mean = mean(results.iter().map(|r| r.n_eff as f64)).unwrap_or(0.0);
    let prediction = q_mean.map(|q| (1.0 - q).powf(n_eff_mean));
    let stable_lower = share(&|r| r.certified());
    let falsified = share(&|r| r.falsified());
    let pgd_flip_rate = share(&|r| r.pgd_flipped);
    let random_rate = |f: &dyn Fn(&ImageResult) -> usize| {
        (trials > 0 && n > 0).then(|| results.iter().map(f).sum::<usize>() as f64 / (n * trials) as f64)
    };
    let ratio = |v: f64| prediction.filter(|p| *p > 0.0).map(|p| v / p);
    EpsSummary {
        eps,
        n_images: n,
        q_pooled: pooled(&mut results.iter()),
        q_mean,
        q_per_class: (0..n_classes).map(|c| pooled(&mut results.iter().filter(|r| r.label == c))).collect(),
        n_eff_mean,
        n_eff_min: results.iter().map(|r| r.n_eff).min().unwrap_or(0),
        n_eff_max: results.iter().map(|r| r.n_eff).max().unwrap_or(0),
        prediction,
        prediction_per_image_mean: mean(results.iter().map(ImageResult::independence_prediction)).unwrap_or(0.0),
        no_single_flip_share: share(&|r| r.n_flip == 0),
        certified_ibp: share(&|r| r.certified_ibp),
        certified_crown: share(&|r| r.certified_crown),
        certified_alpha_only: share(&|r| r.certified_alpha && !r.certified_ibp && !r.certified_crown),
        stable_lower,
        pgd_flip_rate,
        falsified,
        stable_upper: 1.0 - falsified,
        bracket_width: 1.0 - falsified - stable_lower,
        stable_upper_pgd: 1.0 - pgd_flip_rate,
        crown_only: results.iter().filter(|r| r.certified_crown && !r.certified_ibp).count(),
        ibp_only: results.iter().filter(|r| r.certified_ibp && !r.certified_crown).count(),
        random_uniform_flip_rate: random_rate(&|r| r.random_uniform_flips),
        random_corner_flip_rate: random_rate(&|r| r.random_corner_flips),
        ratio_lower: ratio(stable_lower),
        ratio_upper: ratio(1.0 - falsified),
        pairs,
    }
}

/// Measures the images `rows` (values in [0, 1]) with labels `labels` (class indices of `net`): clean error over
/// all rows, then every figure for the correctly classified ones at each ε. `on_image` is called once per image
/// and ε measured. Same seed → same report at any thread count.
pub fn analyse(
    net: &Net,
    rows: &[Vec<f64>],
    labels: &[usize],
    opts: &StabilityOptions,
    on_image: &(dyn Fn() + Sync),
) -> Result<StabilityReport> {
    opts.validate()?;
    if rows.len() != labels.len() {
        return Err(invalid("labels", format!("{} labels for {} images", labels.len(), rows.len())));
    }
    let k = net.n_classes();
    if let Some((r, &l)) = labels.iter().enumerate().find(|(_, &l)| l >= k) {
        return Err(invalid("labels", format!("row {r}: class {l} of a {k}-class network")));
    }
    if let Some(r) = rows.iter().position(|x| x.len() != net.n_inputs() || x.iter().any(|v| !(0.0..=1.0).contains(v))) {
        return Err(invalid("images", format!("row {r}: need {} values in [0, 1]", net.n_inputs())));
    }
    let correct: Vec<usize> =
        (0..rows.len()).into_par_iter().filter(|&r| margin_of(&net.logits(&rows[r]), labels[r]).0 > 0.0).collect();
    let clean_error = if rows.is_empty() { 0.0 } else { 1.0 - correct.len() as f64 / rows.len() as f64 };
    let mut by_image: Vec<std::vec::IntoIter<ImageResult>> = correct
        .par_iter()
        .map(|&r| {
            let out = measure_image(net, &rows[r], r, labels[r], opts);
            opts.eps.iter().for_each(|_| on_image());
            out.into_iter()
        })
        .collect();
    let mut summaries = Vec::with_capacity(opts.eps.len());
    let mut per_image = Vec::with_capacity(opts.eps.len());
    for (e, &eps) in opts.eps.iter().enumerate() {
        let results: Vec<ImageResult> = by_image.iter_mut().filter_map(Iterator::next).collect();
        let pairs = pair_stats(net, rows, &results, eps, e, opts);
        summaries.push(summarize(&results, eps, k, opts.random_trials, pairs));
        per_image.push(results);
    }
    Ok(StabilityReport {
        options: opts.clone(),
        n_inputs: rows.len(),
        n_correct: correct.len(),
        clean_error,
        summaries,
        per_image,
    })
}
