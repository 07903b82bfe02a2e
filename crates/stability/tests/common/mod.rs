//! Tiny random ReLU networks for the property tests.
#![allow(dead_code)]

use rand::Rng;
use stability::net::conv_layer;
use stability::{Layer, Net};

pub fn rng(seed: u64) -> seeds::ChaCha8Rng {
    seeds::stream(seed, 0)
}

fn uniform(r: &mut impl Rng, n: usize, scale: f64) -> Vec<f64> {
    (0..n).map(|_| r.random_range(-scale..scale)).collect()
}

/// An MLP `d → widths… → classes` with uniform weights scaled by 1/√fan-in and small biases.
pub fn mlp(d: usize, widths: &[usize], classes: usize, seed: u64) -> Net {
    let mut r = rng(seed);
    let mut layers = Vec::new();
    let mut n_in = d;
    for &w in widths.iter().chain(std::iter::once(&classes)) {
        let s = 2.0 / (n_in as f64).sqrt();
        layers.push(Layer::dense(n_in, &uniform(&mut r, w * n_in, s), uniform(&mut r, w, 0.3)).unwrap());
        n_in = w;
    }
    Net::new(layers, None).unwrap()
}

/// A convnet on `size`×`size`×`channels` images: conv 3×3 (4 maps, stride 1), conv 3×3 (4 maps, stride 2), a
/// hidden layer of 6, then `classes` logits.
pub fn convnet(size: usize, channels: usize, classes: usize, seed: u64) -> Net {
    let mut r = rng(seed);
    let (l0, h, w) =
        conv_layer(size, size, channels, 4, 3, 1, &uniform(&mut r, 4 * channels * 9, 0.6), &uniform(&mut r, 4, 0.2))
            .unwrap();
    let (l1, h2, w2) =
        conv_layer(h, w, 4, 4, 3, 2, &uniform(&mut r, 4 * 4 * 9, 0.4), &uniform(&mut r, 4, 0.2)).unwrap();
    let flat = h2 * w2 * 4;
    let l2 =
        Layer::dense(flat, &uniform(&mut r, 6 * flat, 2.0 / (flat as f64).sqrt()), uniform(&mut r, 6, 0.2)).unwrap();
    let l3 = Layer::dense(6, &uniform(&mut r, classes * 6, 0.8), uniform(&mut r, classes, 0.2)).unwrap();
    Net::new(vec![l0, l1, l2, l3], Some(pixels::ImageShape::new(size, size, channels))).unwrap()
}

pub fn point(d: usize, r: &mut impl Rng) -> Vec<f64> {
    (0..d).map(|_| r.random_range(0.0..1.0)).collect()
}

/// The predicted class (first on ties).
pub fn argmax(v: &[f64]) -> usize {
    let mut best = 0;
    for (j, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = j;
        }
    }
    best
}

/// A few networks of both kinds on 9 or 16 inputs.
pub fn nets() -> Vec<Net> {
    let mut v = Vec::new();
    for s in 0..4 {
        v.push(mlp(9, &[8, 6], 3, 100 + s));
        v.push(convnet(3, 1, 3, 200 + s));
        v.push(convnet(4, 1, 4, 300 + s));
    }
    v
}
