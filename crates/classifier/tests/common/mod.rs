//! Shared fixture: one small model trained once per test binary.
#![allow(dead_code)]

use std::sync::OnceLock;

use classifier::synthetic::{patterns, LabelledImages};
use classifier::{train, Architecture, Classifier, ConvSpec, TrainOptions};

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
        },
        ..TrainOptions::default()
    }
}

pub fn train_data() -> &'static LabelledImages {
    static DATA: OnceLock<LabelledImages> = OnceLock::new();
    DATA.get_or_init(|| patterns(50, 16, 1, 1))
}

/// Held-out images from another seed.
pub fn test_data() -> &'static LabelledImages {
    static DATA: OnceLock<LabelledImages> = OnceLock::new();
    DATA.get_or_init(|| patterns(20, 16, 1, 2))
}

pub fn model() -> &'static Classifier {
    static MODEL: OnceLock<Classifier> = OnceLock::new();
    MODEL.get_or_init(|| {
        let d = train_data();
        let t = std::time::Instant::now();
        let (m, r) = train(d.data.view(), d.shape, &d.labels, &d.classes, &small_options(7), |_| ()).unwrap();
        eprintln!("trained in {:.2}s: {:?}", t.elapsed().as_secs_f64(), r.epochs.last());
        m
    })
}
