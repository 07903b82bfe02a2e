//! Shared fixture: one small model trained once per test binary.
#![allow(dead_code)]

use std::sync::OnceLock;

use classifier::synthetic::{patterns, LabelledImages};
use classifier::{train, Architecture, Classifier, ConvSpec, ImageShape, TrainOptions};

/// A 16×16 gray, 6-class model: a few seconds of training in release.
pub fn small_options(seed: u64) -> TrainOptions {
    TrainOptions {
        epochs: 15,
        batch_size: 32,
        seed,
        architecture: Architecture {
            conv: vec![
                ConvSpec { channels: 8, kernel: 3, stride: 1 },
                ConvSpec { channels: 16, kernel: 3, stride: 2 },
                ConvSpec { channels: 16, kernel: 3, stride: 2 },
            ],
            hidden: 32,
            pool: Default::default(),
        },
        ..TrainOptions::default()
    }
}

pub fn train_data() -> &'static LabelledImages {
    classifier::single_threaded_elementwise();
    static DATA: OnceLock<LabelledImages> = OnceLock::new();
    DATA.get_or_init(|| patterns(50, 16, 1, 1))
}

/// Held-out images from another seed.
pub fn test_data() -> &'static LabelledImages {
    static DATA: OnceLock<LabelledImages> = OnceLock::new();
    DATA.get_or_init(|| patterns(20, 16, 1, 2))
}

pub fn model() -> &'static Classifier {
    classifier::single_threaded_elementwise();
    static MODEL: OnceLock<Classifier> = OnceLock::new();
    MODEL.get_or_init(|| {
        let d = train_data();
        let t = std::time::Instant::now();
        let (m, r) = train(d.data.view(), d.shape, &d.labels, &d.classes, &small_options(7), |_| ()).unwrap();
        eprintln!("trained in {:.2}s: {:?}", t.elapsed().as_secs_f64(), r.epochs.last());
        m
    })
}

/// A model trained on real renders of the `shapes10` scene (the collection the classifier is meant for), with held-out renders.
pub struct Shapes10 {
    pub model: Classifier,
    /// Held-out renders on the 8-bit grid (as loaded from the PNGs `imanifold render` writes).
    pub test_x: ndarray::Array2<f32>,
    pub test_y: Vec<usize>,
    pub train_seconds: f64,
}

/// `n` renders of shapes10 at 16×16 RGB, camera yaw/pitch and light azimuth varying, values on the 8-bit grid.
pub fn shapes10_renders(n: usize, seed: u64) -> (ndarray::Array2<f32>, Vec<usize>) {
    use scene_render::{render_set, sample_parameters, RenderOptions, Sampling, Scene};
    let scene = Scene::builtin("shapes10").unwrap();
    let vary: Vec<String> = ["yaw", "pitch", "light_azimuth"].iter().map(|s| s.to_string()).collect();
    let params = sample_parameters(&scene, &vary, n, Sampling::Random, seed).unwrap();
    let images = render_set(&scene, &params, &RenderOptions::square(16)).unwrap();
    let (x, shape) = classifier::images::stack(images.iter().map(|i| i.image.view()), true).unwrap();
    assert_eq!(shape, ImageShape::new(16, 16, 3));
    (x, params.iter().map(|p| p.label.unwrap()).collect())
}

/// Trained once per test binary: 1000 renders, 4 epochs of the default architecture (48k parameters, about 1.5 s).
pub fn shapes10() -> &'static Shapes10 {
    static FIXTURE: OnceLock<Shapes10> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        classifier::single_threaded_elementwise();
        let classes = scene_render::Scene::builtin("shapes10").unwrap().classes().to_vec();
        let (x, y) = shapes10_renders(1000, 1);
        let opts = TrainOptions {
            epochs: 4,
            validation_fraction: 0.0,
            architecture: Architecture::default(),
            ..small_options(1)
        };
        let t = std::time::Instant::now();
        let (model, _) = train(x.view(), ImageShape::new(16, 16, 3), &y, &classes, &opts, |_| ()).unwrap();
        let train_seconds = t.elapsed().as_secs_f64();
        let (test_x, test_y) = shapes10_renders(300, 2);
        Shapes10 { model, test_x, test_y, train_seconds }
    })
}
