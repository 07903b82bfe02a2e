//! Choosing parameter values for an image set.

use std::str::FromStr;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::error::{RenderError, Result};
use crate::scene::{Params, Scene};

/// How the varied parameters are sampled.
///
/// * `Random`: `n` images, each varied parameter uniform in its range, independently per image (image i uses a
///   ChaCha8 stream seeded by (seed, i), so any image can be reproduced alone, whatever the thread count).
/// * `Grid`: `n` points per varied parameter, `n^p` images for `p` varied parameters, the first varied parameter
///   changing slowest. Points include both ends of the range, except for full-turn angles (range spanning 360°)
///   where the last end is left out because it repeats the first pose.
/// * `Trajectory`: `n` images along a smooth closed Lissajous path through the box of ranges: parameter j
///   follows mid + half·sin(2π(j+1)·i/n + φ_j) (φ_j drawn from the seed); a full-turn angle instead turns
///   (j+1) full times, linearly. Consecutive images are close (steps ~ 2π(j+1)/n of the half-range), so
///   consecutive pairs suit optical flow.
///
/// For scenes with classes, the class label is drawn uniformly per image (from the image's stream) in `Random`
/// and `Grid` modes; a `Trajectory` keeps one class, drawn from the seed, so that all its pairs have flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Sampling {
    #[default]
    Random,
    Grid,
    Trajectory,
}

impl FromStr for Sampling {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "random" => Ok(Sampling::Random),
            "grid" => Ok(Sampling::Grid),
            "trajectory" => Ok(Sampling::Trajectory),
            _ => Err(format!("unknown sampling '{s}' (random, grid, trajectory)")),
        }
    }
}

/// Most images a grid may have.
pub const MAX_IMAGES: usize = 100_000_000;

/// Resolves `--vary` names to parameter indices: unknown names, empty ranges and repeats are errors that list
/// the parameters that can vary.
pub fn resolve_vary(scene: &Scene, vary: &[String]) -> Result<Vec<usize>> {
    let can_vary: Vec<&str> = scene.parameters().iter().filter(|p| p.can_vary()).map(|p| p.name.as_str()).collect();
    let mut out = Vec::new();
    for name in vary {
        let name = name.trim();
        let i = scene.param_index(name).map_err(|_| RenderError::UnknownParameter {
            name: name.to_string(),
            scene: scene.name().to_string(),
            valid: format!(
                "{} (of which can vary: {})",
                scene.parameters().iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", "),
                can_vary.join(", ")
            ),
        })?;
        let p = &scene.parameters()[i];
        if !p.can_vary() {
            return Err(RenderError::EmptyRange {
                name: name.to_string(),
                scene: scene.name().to_string(),
                min: p.min,
                max: p.max,
                valid: can_vary.join(", "),
            });
        }
        if out.contains(&i) {
            return Err(RenderError::Params(format!("parameter '{name}' is listed twice in --vary")));
        }
        out.push(i);
    }
    Ok(out)
}

use seeds::stream;

/// Draws the parameters of image i of a set on its own (what makes any index range renderable alone).
struct Sampler<'a> {
    scene: &'a Scene,
    idx: Vec<usize>,
    n: usize,
    sampling: Sampling,
    seed: u64,
    total: usize,
    base: Params,
    /// Grid: the points of each varied parameter.
    axes: Vec<Vec<f64>>,
    /// Trajectory: the phase of each varied parameter and the one class label.
    phases: Vec<f64>,
    label: Option<usize>,
}

impl<'a> Sampler<'a> {
    fn new(scene: &'a Scene, vary: &[String], n: usize, sampling: Sampling, seed: u64) -> Result<Self> {
        let idx = resolve_vary(scene, vary)?;
        if n == 0 {
            return Err(RenderError::Params("the number of images (n) must be at least 1".into()));
        }
        let specs = scene.parameters();
        let base = scene.default_params();
        let mut s = Sampler {
            scene,
            idx,
            n,
            sampling,
            seed,
            total: n,
            base,
            axes: Vec::new(),
            phases: Vec::new(),
            label: None,
        };
        match sampling {
            Sampling::Random | Sampling::Trajectory => {
                if n > MAX_IMAGES {
                    return Err(RenderError::Params(format!("n = {n} exceeds the limit of {MAX_IMAGES} images")));
                }
                if sampling == Sampling::Trajectory {
                    let mut rng = stream(seed, u64::MAX);
                    s.phases = s.idx.iter().map(|_| rng.random::<f64>()).collect();
                    s.label = s.draw_label(&mut rng);
                }
            }
            Sampling::Grid => {
                let total = (0..s.idx.len()).try_fold(1usize, |acc, _| acc.checked_mul(n).filter(|&t| t <= MAX_IMAGES));
                s.total = total.ok_or_else(|| {
                    RenderError::Params(format!(
                        "a grid of {n} points per parameter over {} parameters has more than {MAX_IMAGES} images \
                         (in grid mode n counts points per varied parameter)",
                        s.idx.len()
                    ))
                })?;
                s.axes = s
                    .idx
                    .iter()
                    .map(|&j| {
                        let p = &specs[j];
                        if n == 1 {
                            return vec![p.default];
                        }
                        let steps = if p.periodic { n } else { n - 1 };
                        (0..n).map(|t| p.min + (p.max - p.min) * t as f64 / steps as f64).collect()
                    })
                    .collect();
            }
        }
        Ok(s)
    }

    fn draw_label(&self, rng: &mut ChaCha8Rng) -> Option<usize> {
        let k = self.scene.classes().len();
        if k > 0 {
            Some(rng.random_range(0..k))
        } else {
            None
        }
    }

    /// The parameters of image `i` (< `total`).
    fn at(&self, i: usize) -> Params {
        let specs = self.scene.parameters();
        let mut p = self.base.clone();
        match self.sampling {
            Sampling::Random => {
                let mut rng = stream(self.seed, i as u64);
                for &j in &self.idx {
                    let s = &specs[j];
                    p.values[j] = s.min + (s.max - s.min) * rng.random::<f64>();
                }
                p.label = self.draw_label(&mut rng);
            }
            Sampling::Grid => {
                let mut rest = i;
                for (a, &j) in self.idx.iter().enumerate().rev() {
                    p.values[j] = self.axes[a][rest % self.n];
                    rest /= self.n;
                }
                p.label = self.draw_label(&mut stream(self.seed, i as u64));
            }
            Sampling::Trajectory => {
                let t = i as f64 / self.n as f64;
                for (a, &j) in self.idx.iter().enumerate() {
                    let s = &specs[j];
                    let f = (a + 1) as f64;
                    p.values[j] = if s.periodic {
                        s.min + (s.max - s.min) * (f * t + self.phases[a]).fract()
                    } else {
                        let (mid, half) = (0.5 * (s.min + s.max), 0.5 * (s.max - s.min));
                        mid + half * (std::f64::consts::TAU * (f * t + self.phases[a])).sin()
                    };
                }
                p.label = self.label;
            }
        }
        p
    }
}

/// Parameter values for an image set (see [`Sampling`]); parameters not in `vary` keep their defaults.
pub fn sample_parameters(
    scene: &Scene,
    vary: &[String],
    n: usize,
    sampling: Sampling,
    seed: u64,
) -> Result<Vec<Params>> {
    let s = Sampler::new(scene, vary, n, sampling, seed)?;
    Ok((0..s.total).map(|i| s.at(i)).collect())
}

/// How many images [`sample_parameters`] gives (`n`, or `n^p` for a grid of `p` varied parameters); refuses what
/// it refuses.
pub fn image_count(scene: &Scene, vary: &[String], n: usize, sampling: Sampling, seed: u64) -> Result<usize> {
    Ok(Sampler::new(scene, vary, n, sampling, seed)?.total)
}

/// Images `range` of the set [`sample_parameters`] gives, computed alone: the same values as that slice of it.
pub fn sample_parameters_range(
    scene: &Scene,
    vary: &[String],
    n: usize,
    sampling: Sampling,
    seed: u64,
    range: std::ops::Range<usize>,
) -> Result<Vec<Params>> {
    let s = Sampler::new(scene, vary, n, sampling, seed)?;
    if range.start > range.end || range.end > s.total {
        return Err(RenderError::Params(format!(
            "image range {}..{} is not within the set's {} images",
            range.start, range.end, s.total
        )));
    }
    Ok(range.map(|i| s.at(i)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn random_samples_stay_in_range_and_are_reproducible() {
        let s = Scene::builtin("object").unwrap();
        let a = sample_parameters(&s, &names(&["yaw", "distance"]), 200, Sampling::Random, 3).unwrap();
        let b = sample_parameters(&s, &names(&["yaw", "distance"]), 200, Sampling::Random, 3).unwrap();
        assert_eq!(a, b);
        let c = sample_parameters(&s, &names(&["yaw", "distance"]), 200, Sampling::Random, 4).unwrap();
        assert_ne!(a, c);
        let (iy, id, ip) = (s.param_index("yaw").unwrap(), s.param_index("distance").unwrap(), 1);
        let spec = &s.parameters()[iy];
        assert!(a.iter().all(|p| p.values[iy] >= spec.min && p.values[iy] <= spec.max));
        assert!(a.iter().all(|p| p.values[ip] == s.parameters()[ip].default));
        let mean_d: f64 = a.iter().map(|p| p.values[id]).sum::<f64>() / 200.0;
        let sd = &s.parameters()[id];
        assert!((mean_d - 0.5 * (sd.min + sd.max)).abs() < 0.1 * (sd.max - sd.min));
        // Image 7 alone is reproducible: prefix of a longer run.
        let long = sample_parameters(&s, &names(&["yaw", "distance"]), 300, Sampling::Random, 3).unwrap();
        assert_eq!(long[7], a[7]);
    }

    #[test]
    fn grid_counts_and_periodic_ends() {
        let s = Scene::builtin("object").unwrap();
        let g = sample_parameters(&s, &names(&["yaw", "pitch"]), 4, Sampling::Grid, 0).unwrap();
        assert_eq!(g.len(), 16);
        let (iy, ip) = (s.param_index("yaw").unwrap(), s.param_index("pitch").unwrap());
        let yaw = &s.parameters()[iy];
        assert!(yaw.periodic);
        let yaws: Vec<f64> = g.iter().step_by(4).map(|p| p.values[iy]).collect();
        assert_eq!(yaws, vec![-180.0, -90.0, 0.0, 90.0]);
        let pitch = &s.parameters()[ip];
        assert_eq!(g[0].values[ip], pitch.min);
        assert_eq!(g[3].values[ip], pitch.max);
        let e = sample_parameters(&s, &names(&["yaw", "pitch", "distance"]), 1000, Sampling::Grid, 0).unwrap_err();
        assert!(e.to_string().contains("points per"), "{e}");
    }

    #[test]
    fn trajectory_is_smooth() {
        let s = Scene::builtin("object").unwrap();
        let n = 400;
        let t = sample_parameters(&s, &names(&["pitch", "distance"]), n, Sampling::Trajectory, 1).unwrap();
        for j in [1usize, 3] {
            let spec = &s.parameters()[j];
            let max_step = t.windows(2).map(|w| (w[1].values[j] - w[0].values[j]).abs()).fold(0.0, f64::max);
            assert!(max_step <= 2.0 * std::f64::consts::PI * 2.0 / n as f64 * 0.5 * (spec.max - spec.min) + 1e-9);
            let lo = t.iter().map(|p| p.values[j]).fold(f64::INFINITY, f64::min);
            assert!(lo >= spec.min - 1e-9);
        }
    }

    #[test]
    fn ranges_are_slices_of_the_whole_set() {
        for (scene, sampling, vary) in [
            ("object", Sampling::Random, vec!["yaw", "distance"]),
            ("shapes10", Sampling::Grid, vec!["yaw", "pitch"]),
            ("shapes10", Sampling::Trajectory, vec!["yaw", "pitch"]),
            ("shapes10", Sampling::Random, vec!["yaw"]),
        ] {
            let s = Scene::builtin(scene).unwrap();
            let all = sample_parameters(&s, &names(&vary), 7, sampling, 5).unwrap();
            assert_eq!(image_count(&s, &names(&vary), 7, sampling, 5).unwrap(), all.len());
            for (a, b) in [(0, 3), (3, all.len()), (2, 2), (5, 6)] {
                let part = sample_parameters_range(&s, &names(&vary), 7, sampling, 5, a..b).unwrap();
                assert_eq!(part, all[a..b], "{scene} {sampling:?} {a}..{b}");
            }
            let e = sample_parameters_range(&s, &names(&vary), 7, sampling, 5, 0..all.len() + 1).unwrap_err();
            assert!(e.to_string().contains("not within"), "{e}");
        }
    }

    #[test]
    fn bad_vary_lists_valid_names() {
        let s = Scene::builtin("turntable").unwrap();
        let e = sample_parameters(&s, &names(&["yaw", "zoom"]), 10, Sampling::Random, 0).unwrap_err().to_string();
        assert!(e.contains("'zoom'") && e.contains("yaw, pitch"), "{e}");
        let e = sample_parameters(&s, &names(&["shift_y"]), 10, Sampling::Random, 0).unwrap_err().to_string();
        assert!(e.contains("'shift_y'") && e.contains("empty"), "{e}");
        let e = sample_parameters(&s, &names(&["yaw", "yaw"]), 10, Sampling::Random, 0).unwrap_err().to_string();
        assert!(e.contains("twice"), "{e}");
        assert!(sample_parameters(&s, &names(&["yaw"]), 0, Sampling::Random, 0).is_err());
    }
}
