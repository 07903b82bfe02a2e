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

pub mod adversarial;
pub mod cppn;
pub mod error;
pub mod fool;
pub mod images;
pub mod model;
pub mod synthetic;
pub mod train;
pub(crate) mod util;

pub use error::{ClassifierError, Result};
pub use model::{Architecture, Classifier, ConvSpec, ModelConfig, Normalization, TrainingInfo};
pub use train::{train, EpochStats, TrainOptions, TrainReport};

use serde::{Deserialize, Serialize};

/// Height × width × channels of the images a model takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ImageShape {
    pub height: usize,
    pub width: usize,
    pub channels: usize,
}

impl ImageShape {
    pub fn new(height: usize, width: usize, channels: usize) -> Self {
        ImageShape { height, width, channels }
    }

    /// Values per image.
    pub fn len(&self) -> usize {
        self.height * self.width * self.channels
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Display for ImageShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}×{}×{}", self.height, self.width, self.channels)
    }
}
