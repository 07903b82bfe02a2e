//! Procedural test data with exactly known flow: smooth analytic textures and smooth motion fields.
//!
//! A [`Texture`] is a sum of random plane waves with a natural-image-like (decaying) spectrum, defined at every real
//! position, so a warped frame can be evaluated exactly instead of interpolated: [`warped_pair`] returns
//! `frame2 = T(x)` and `frame1 = T(x + f(x))`, which satisfies the crate convention `frame2(x + f(x)) = frame1(x)`
//! exactly for the true flow `f`.

use ndarray::{Array2, Array3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::Flow;

/// A smooth random texture with values in `[0, 1]`.
#[derive(Clone, Debug)]
pub struct Texture {
    /// (kx, ky, phase, amplitude) of each plane wave.
    waves: Vec<[f32; 4]>,
    scale: f32,
}

impl Texture {
    /// 48 plane waves with wavelengths log-uniform in [5, 96] px and amplitude ∝ wavelength^0.75 (more energy at
    /// low frequencies, like photographs); fully determined by `seed`.
    pub fn new(seed: u64) -> Texture {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut waves = Vec::with_capacity(48);
        for _ in 0..48 {
            let lambda = (5.0f32.ln() + rng.random::<f32>() * (96.0f32.ln() - 5.0f32.ln())).exp();
            let theta = rng.random::<f32>() * std::f32::consts::TAU;
            let k = std::f32::consts::TAU / lambda;
            let amp = lambda.powf(0.75);
            waves.push([k * theta.cos(), k * theta.sin(), rng.random::<f32>() * std::f32::consts::TAU, amp]);
        }
        // Sum of many random-phase waves is roughly Gaussian with std ≈ sqrt(Σa²/2); scale so ±3σ spans [0, 1].
        let sigma = (waves.iter().map(|w| w[3] * w[3]).sum::<f32>() / 2.0).sqrt();
        Texture { waves, scale: 1.0 / (6.0 * sigma) }
    }

    /// Value at a real position (x to the right, y down), clamped to [0, 1].
    pub fn at(&self, x: f32, y: f32) -> f32 {
        let s: f32 = self.waves.iter().map(|w| w[3] * (w[0] * x + w[1] * y + w[2]).sin()).sum();
        (0.5 + s * self.scale).clamp(0.0, 1.0)
    }

    /// The texture on the integer grid of a `width`×`height` image.
    pub fn render(&self, width: usize, height: usize) -> Array2<f32> {
        Array2::from_shape_fn((height, width), |(y, x)| self.at(x as f32, y as f32))
    }
}

/// Motion models for synthetic pairs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Motion {
    /// Constant flow (u, v).
    Translation { u: f32, v: f32 },
    /// Rotation of frame1's content about the image centre by `degrees` (counter-clockwise on screen for
    /// positive values, with y pointing down), optionally with a zoom factor.
    Rotation { degrees: f32, zoom: f32 },
    /// A smooth random field: a random translation plus four random plane waves of wavelength ≥ 96 px, scaled so
    /// that the largest displacement is `max_disp` pixels.
    Smooth { seed: u64, max_disp: f32 },
}

/// The true flow field of a motion on a `width`×`height` grid.
pub fn motion_field(motion: Motion, width: usize, height: usize) -> Flow {
    let mut f = Array3::<f32>::zeros((height, width, 2));
    let (cx, cy) = ((width as f32 - 1.0) / 2.0, (height as f32 - 1.0) / 2.0);
    match motion {
        Motion::Translation { u, v } => {
            f.index_axis_mut(ndarray::Axis(2), 0).fill(u);
            f.index_axis_mut(ndarray::Axis(2), 1).fill(v);
        }
        Motion::Rotation { degrees, zoom } => {
            let (s, c) = (-degrees.to_radians()).sin_cos();
            for y in 0..height {
                for x in 0..width {
                    let (dx, dy) = (x as f32 - cx, y as f32 - cy);
                    f[[y, x, 0]] = zoom * (c * dx - s * dy) + cx - x as f32;
                    f[[y, x, 1]] = zoom * (s * dx + c * dy) + cy - y as f32;
                }
            }
        }
        Motion::Smooth { seed, max_disp } => {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let t = [rng.random::<f32>() * 2.0 - 1.0, rng.random::<f32>() * 2.0 - 1.0];
            let waves: Vec<[f32; 6]> = (0..4)
                .map(|_| {
                    let lambda = 96.0 + rng.random::<f32>() * 160.0;
                    let theta = rng.random::<f32>() * std::f32::consts::TAU;
                    let k = std::f32::consts::TAU / lambda;
                    [
                        k * theta.cos(),
                        k * theta.sin(),
                        rng.random::<f32>() * std::f32::consts::TAU,
                        rng.random::<f32>() * 2.0 - 1.0,
                        rng.random::<f32>() * 2.0 - 1.0,
                        0.0,
                    ]
                })
                .collect();
            for y in 0..height {
                for x in 0..width {
                    let (mut u, mut v) = (t[0], t[1]);
                    for w in &waves {
                        let s = (w[0] * x as f32 + w[1] * y as f32 + w[2]).sin();
                        u += w[3] * s;
                        v += w[4] * s;
                    }
                    f[[y, x, 0]] = u;
                    f[[y, x, 1]] = v;
                }
            }
            let m = f
                .outer_iter()
                .flat_map(|r| r.outer_iter().map(|p| (p[0] * p[0] + p[1] * p[1]).sqrt()).collect::<Vec<_>>())
                .fold(0.0f32, f32::max)
                .max(1e-6);
            f.mapv_inplace(|x| x * max_disp / m);
        }
    }
    f
}

/// An exact synthetic pair for a texture and a true flow: `(frame1, frame2)` with `frame2(x) = T(x)` and
/// `frame1(x) = T(x + flow(x))`.
pub fn warped_pair(texture: &Texture, flow: &Flow) -> (Array2<f32>, Array2<f32>) {
    let (h, w, _) = flow.dim();
    let frame2 = texture.render(w, h);
    let frame1 =
        Array2::from_shape_fn((h, w), |(y, x)| texture.at(x as f32 + flow[[y, x, 0]], y as f32 + flow[[y, x, 1]]));
    (frame1, frame2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texture_is_deterministic_and_spans_the_range() {
        let a = Texture::new(3).render(64, 64);
        let b = Texture::new(3).render(64, 64);
        assert_eq!(a, b);
        let (lo, hi) = a.iter().fold((1.0f32, 0.0f32), |(l, h), &x| (l.min(x), h.max(x)));
        assert!(lo < 0.3 && hi > 0.7, "range {lo}..{hi}");
        assert_ne!(a, Texture::new(4).render(64, 64));
    }

    #[test]
    fn motion_fields_have_the_requested_geometry() {
        let f = motion_field(Motion::Smooth { seed: 1, max_disp: 5.0 }, 80, 60);
        let m = f.outer_iter().flat_map(|r| r.outer_iter().map(|p| p[0].hypot(p[1])).collect::<Vec<_>>());
        assert!((m.fold(0.0f32, f32::max) - 5.0).abs() < 1e-4);
        // 90° rotation of a 5×5 grid: the point right of the centre moves to the point above it.
        let r = motion_field(Motion::Rotation { degrees: 90.0, zoom: 1.0 }, 5, 5);
        assert!((r[[2, 3, 0]] - (-1.0)).abs() < 1e-5 && (r[[2, 3, 1]] - (-1.0)).abs() < 1e-5);
    }
}
