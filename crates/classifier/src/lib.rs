//! `classifier`: a small CPU convnet (candle) trained on rendered images, plus the two kinds of images that the
//! seed discusses:
//!
//! * **fooling images** (Nguyen, Yosinski & Clune 2015): images unrecognisable to people that the network labels
//!   with ≥ 99 % confidence, by MAP-Elites over a direct pixel encoding or over CPPN genomes, or by gradient ascent
//!   from noise ([`fool`]);
//! * **adversarial perturbations** (Szegedy et al. 2014): small changes of correctly classified images that flip
//!   the label (FGSM, PGD in L∞ or L2, a box-constrained minimal perturbation in the spirit of the paper's
//!   L-BFGS search), with the **random flip rate** baseline: how often a random perturbation of the same size
//!   changes the label ([`adversarial`]).
//!
//! Data are in memory: an `ndarray` matrix with one image per row (pixels row-major `(y, x, channel)`, values in
//! [0, 1]) plus an [`ImageShape`] and class indices. Everything is deterministic for a given seed; see
//! [`train::train`] for what that means across thread counts.
//!
//! # In-process pipeline: render → train → fool → attack
//!
//! What `imanifold render`, `classifier train`, `fool` and `adversarial` do, without files (this example runs as a
//! test, at a toy size; `scene-render` is the renderer crate):
//!
//! ```
//! use classifier::adversarial::{attack, AttackOptions};
//! use classifier::fool::{fool, FoolOptions, Method};
//! use classifier::{images, train, TrainOptions};
//! use scene_render::{render_set, sample_parameters, RenderOptions, Sampling, Scene};
//!
//! classifier::single_threaded_elementwise(); // once, before any model work (see its docs)
//! let scene = Scene::builtin("shapes10")?;
//! let vary: Vec<String> = ["yaw", "pitch", "light_azimuth"].map(String::from).to_vec();
//! let render = |n, seed| -> Result<_, Box<dyn std::error::Error>> {
//!     let params = sample_parameters(&scene, &vary, n, Sampling::Random, seed)?;
//!     let rendered = render_set(&scene, &params, &RenderOptions::square(16))?;
//!     let (x, shape) = images::stack(rendered.iter().map(|r| r.image.view()), true)?; // 8-bit, like PNGs
//!     let labels: Vec<usize> = params.iter().map(|p| p.label.unwrap_or(0)).collect();
//!     Ok((x, shape, labels))
//! };
//! let (x, shape, y) = render(400, 1)?;
//! let (x_test, _, y_test) = render(100, 2)?;
//!
//! let opts = TrainOptions { epochs: 3, seed: 1, ..TrainOptions::default() };
//! let (model, report) = train(x.view(), shape, &y, scene.classes(), &opts, |_epoch| {})?;
//! let accuracy = classifier::train::accuracy(&model, x_test.view(), &y_test)?;
//! let dir = tempfile::tempdir()?;
//! model.save(&dir.path().join("model"))?; // optional: the folder `imanifold fool/adversarial --model` read
//!
//! let fooled = fool(&model, &FoolOptions { method: Method::EvolveCppn, seed: 1, ..FoolOptions::default() }, |_, _| {})?;
//! let attacked = attack(&model, x_test.view(), &y_test, &AttackOptions::default())?; // PGD L∞, ε = 8/255
//! println!(
//!     "accuracy {accuracy:.3} after {:.1}s; fooling: {} of {} classes at ≥ 0.99; PGD flip rate {:.3}, random {:?}",
//!     report.seconds,
//!     fooled.images.iter().filter(|i| i.reached).count(),
//!     fooled.images.len(),
//!     attacked.flip_rate,
//!     attacked.random_flip_rate_l2,
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Measured on `shapes10` (2 shared cores, release build, `CANDLE_NUM_THREADS=1`)
//!
//! With only `yaw,pitch,light_azimuth` varying the scene is easy: 16×16, 3000 renders, a 12k-parameter net and
//! 3 epochs give 99.9 % held-out accuracy in about 1 s of training. Varying all nine parameters (camera pose,
//! distance, shift, roll, light, hue) is the meaningful task: 16×16, 5000 renders, the default architecture
//! (48k parameters), 8 epochs: 97.4–98.1 % held-out accuracy over 6 runs (3 seeds × 2 render seeds), about 5.5 s
//! of CPU, 10 s wall on busy cores. Against such a model both evolutionary encodings reach 0.99 for all ten classes
//! within the default budget (1000 generations, population 64; 17 generations on this model, up to 474 on the five
//! models of `tests/fool_every_class.rs`), and PGD-L∞ at ε = 8/255 flips 99.9 % of correctly classified renders
//! while random perturbations of the same size flip ≤ 0.1 %.

pub mod adversarial;
pub(crate) mod conv;
pub mod cppn;
pub mod error;
pub mod evaluate;
pub mod feature_scores;
pub mod features;
pub mod fool;
pub mod ibp;
pub mod images;
pub mod labels;
pub mod model;
pub mod synthetic;
pub mod train;
pub mod training;
pub(crate) mod util;

pub use adversarial::{attack_dataset, attack_dataset_on_manifold, write_adversarial_dir, Adversarial};
pub use error::{ClassifierError, Result};
pub use evaluate::{evaluate, evaluate_dataset, write_eval_dir, Confusion, Evaluation, Prediction};
pub use feature_scores::score_in_features;
pub use features::{feature_matrices, FeatureMatrices, FeatureSpec, Layer, LayerShape};
pub use fool::{fool_run, write_fool_dir, Fooling};
pub use labels::{resolve_classes, ClassLabels, DEFAULT_LABEL_COLUMN};
pub use model::{
    Architecture, CertifiedTraining, Classifier, ConvSpec, ModelConfig, Normalization, TrainingInfo, DEFAULT_CHANNELS,
    DEFAULT_HIDDEN,
};
pub use train::{
    certified_schedule, train, EpochStats, TrainOptions, TrainReport, DEFAULT_BATCH_SIZE, DEFAULT_CERTIFIED_EPS,
    DEFAULT_CERTIFIED_KAPPA, DEFAULT_CERTIFIED_RAMP, DEFAULT_CERTIFIED_WARMUP, DEFAULT_EPOCHS, DEFAULT_LEARNING_RATE,
    DEFAULT_VALIDATION_FRACTION, DEFAULT_WEIGHT_DECAY,
};
pub use training::{train_dataset, write_model_dir, Training};

/// Environment variable read once by candle 0.11 for the size of its element-wise thread pool.
pub const CANDLE_THREADS_VAR: &str = "CANDLE_NUM_THREADS";

/// Runs candle's element-wise kernels on the calling thread (sets `CANDLE_NUM_THREADS=1` unless it is already
/// set). Call it once, before any model work; returns the value in effect.
///
/// Why: candle 0.11 splits every element-wise op of ≥ 64 Ki values over its own pool of threads that spin on a
/// barrier. For this network's tensors those ops are memory-bound and tiny, so on two cores shared with other work
/// the spinning costs more than the split gains: training a 16×16 model ran 3× faster (0.7 s instead of 2.3 s
/// wall, 0.5 s instead of 2.3 s CPU) and this crate's test suite 3× faster. Matrix products (gemm) still use all
/// rayon threads. Results do not change (element-wise ops are exact per element).
pub fn single_threaded_elementwise() -> String {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os(CANDLE_THREADS_VAR).is_none() {
            // Edition 2021: `set_var` is safe; std serialises it with every other std::env access (candle reads
            // the variable through std::env).
            std::env::set_var(CANDLE_THREADS_VAR, "1");
        }
    });
    std::env::var(CANDLE_THREADS_VAR).unwrap_or_default()
}

/// Height × width × channels of the images a model takes.
pub use pixels::ImageShape;
