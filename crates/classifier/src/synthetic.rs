//! Procedurally generated labelled images (stripes, checkerboards, blobs, rings) for tests, benches and demos:
//! easy classes with known structure, no files needed.

use ndarray::Array2;
use rand::Rng;
use rand_distr::{Distribution, Normal};

use crate::util::item_rng;
use crate::ImageShape;

/// Class names, in label order.
pub const CLASSES: [&str; 6] = ["horizontal", "vertical", "diagonal", "checker", "blob", "ring"];

/// A labelled image set held in memory.
#[derive(Debug, Clone)]
pub struct LabelledImages {
    /// One image per row, pixels row-major (y, x, channel), values in [0, 1].
    pub data: Array2<f32>,
    pub shape: ImageShape,
    pub labels: Vec<usize>,
    pub classes: Vec<String>,
}

/// `n_per_class` images of each of the six [`CLASSES`] at `size`×`size`×`channels` (rows cycle through the
/// classes). Each image has a random frequency, phase, position, contrast, tint and pixel noise drawn from `seed`.
pub fn patterns(n_per_class: usize, size: usize, channels: usize, seed: u64) -> LabelledImages {
    let k = CLASSES.len();
    let n = n_per_class * k;
    let shape = ImageShape::new(size, size, channels);
    let mut data = Array2::<f32>::zeros((n, shape.len()));
    let mut labels = Vec::with_capacity(n);
    let s = size as f32;
    for i in 0..n {
        let class = i % k;
        labels.push(class);
        let mut rng = item_rng(seed, 0x5157, i as u64, 0);
        let cycles: f32 = rng.random_range(1.5..3.5);
        let freq = std::f32::consts::TAU * cycles / s;
        let phase: f32 = rng.random_range(0.0..std::f32::consts::TAU);
        let contrast: f32 = rng.random_range(0.6..1.0);
        let (cx, cy): (f32, f32) = (rng.random_range(0.3..0.7) * s, rng.random_range(0.3..0.7) * s);
        let radius: f32 = rng.random_range(0.15..0.3) * s;
        let tint: Vec<f32> = (0..channels).map(|_| rng.random_range(0.6..1.0)).collect();
        let noise = Normal::new(0.0f32, 0.05).expect("valid normal");
        let mut row = data.row_mut(i);
        for y in 0..size {
            for x in 0..size {
                let (xf, yf) = (x as f32, y as f32);
                let v = match class {
                    0 => (freq * yf + phase).sin(),
                    1 => (freq * xf + phase).sin(),
                    2 => (freq * (xf + yf) / std::f32::consts::SQRT_2 + phase).sin(),
                    3 => (freq * xf + phase).sin().signum() * (freq * yf + phase).sin().signum(),
                    4 => {
                        let r2 = (xf - cx).powi(2) + (yf - cy).powi(2);
                        2.0 * (-r2 / (2.0 * radius * radius)).exp() - 1.0
                    }
                    _ => {
                        let r = ((xf - cx).powi(2) + (yf - cy).powi(2)).sqrt();
                        2.0 * (-(r - 1.6 * radius).powi(2) / (0.5 * radius * radius)).exp() - 1.0
                    }
                };
                for (c, t) in tint.iter().enumerate() {
                    let p = 0.5 + 0.5 * contrast * v * t + noise.sample(&mut rng);
                    row[(y * size + x) * channels + c] = p.clamp(0.0, 1.0);
                }
            }
        }
    }
    LabelledImages { data, shape, labels, classes: CLASSES.iter().map(|c| c.to_string()).collect() }
}
