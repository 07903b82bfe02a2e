//! Sizes of every stage, for the full demo and for `--quick`. All of them are recorded in `results.json`.

use serde::Serialize;

/// The camera and light parameters freed one after another in stage 1 (six camera degrees of freedom, then the
/// light), with the half-width of the window they vary in around the `object` scene's default pose.
///
/// Why windows and not the scene's full ranges: kNN estimators measure the dimension at the scale of the sample's
/// nearest-neighbour distances. With yaw over the whole circle, 1500 images leave neighbours tens of degrees apart,
/// where the image manifold is strongly curved (occlusions, texture aliasing) and the estimates inflate. A window
/// around one pose is a patch of the same manifold that n = 1500 samples cover densely enough.
pub const DIMENSION_PARAMETERS: [(&str, f64); 7] = [
    ("yaw", 30.0),
    ("pitch", 10.0),
    ("roll", 10.0),
    ("distance", 0.5),
    ("shift_x", 0.15),
    ("shift_y", 0.15),
    ("light_azimuth", 30.0),
];

/// Which stages exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Dimension,
    Geodesic,
    OffManifold,
    Stability,
}

impl Stage {
    pub const ALL: [Stage; 4] = [Stage::Dimension, Stage::Geodesic, Stage::OffManifold, Stage::Stability];

    pub fn key(self) -> &'static str {
        match self {
            Stage::Dimension => "dimension",
            Stage::Geodesic => "geodesic",
            Stage::OffManifold => "off_manifold",
            Stage::Stability => "stability",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Stage::Dimension => "1. Intrinsic dimension of a rendered scene",
            Stage::Geodesic => "2. Optical-flow geodesics on a turntable",
            Stage::OffManifold => "3. Off the manifold: fooling and adversarial images",
            Stage::Stability => "4. Stable labels against the number of pixels",
        }
    }

    /// Folder of the stage's own outputs inside the demo folder.
    pub fn folder(self) -> &'static str {
        match self {
            Stage::Dimension => "stage1_dimension",
            Stage::Geodesic => "stage2_geodesic",
            Stage::OffManifold => "stage3_off_manifold",
            Stage::Stability => "stage4_stability",
        }
    }

    /// The library crates the stage needs (named in the report when the stage is not built).
    pub fn crates(self) -> &'static str {
        match self {
            Stage::Dimension => "intrinsic-dim (cargo feature `dimension` of the demo crate)",
            Stage::Geodesic => "geodesic, optical-flow (cargo feature `geodesic` of the demo crate)",
            Stage::OffManifold => {
                "classifier, off-manifold, optical-flow (cargo feature `off-manifold` of the demo crate)"
            }
            Stage::Stability => "stability (cargo feature `stability` of the demo crate)",
        }
    }

    /// Whether this build contains the stage.
    pub fn built(self) -> bool {
        match self {
            Stage::Dimension => cfg!(feature = "dimension"),
            Stage::Geodesic => cfg!(feature = "geodesic"),
            Stage::OffManifold => cfg!(feature = "off-manifold"),
            Stage::Stability => cfg!(feature = "stability"),
        }
    }
}

/// Everything the demo does, with its sizes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    pub quick: bool,
    pub seed: u64,
    pub stages: Vec<Stage>,

    /// Stage 1: images per set, image side (grey), Gaussian blur σ in pixels (a camera's point-spread: without it,
    /// aliasing of the checkered ground at 32×32 adds spurious dimensions), bootstrap replicates for the intervals
    /// that are not analytic, neighbourhood sizes of the ID-vs-k curves.
    pub dim_n: usize,
    pub dim_size: usize,
    pub dim_blur: f32,
    pub dim_bootstrap: usize,
    pub dim_curve_k: Vec<usize>,

    /// Stage 2: turntable images (spin over the full circle), side (grey), kNN graph degree.
    pub geo_n: usize,
    pub geo_size: usize,
    pub geo_k: usize,

    /// Stage 3: classifier input side (RGB), training renders, epochs, held-out renders (natural queries; the
    /// first `n_attack` of them are attacked), PGD steps, random perturbations per attacked image, fooling budgets,
    /// other query groups, calibration sizes of the scores.
    pub cls_size: usize,
    pub n_train: usize,
    pub epochs: usize,
    /// Stride of the classifier's first convolution (1: the library's default architecture; 2: a quarter of its
    /// convolution cost at the same depth and widths).
    pub cls_first_stride: usize,
    /// Peak learning rate of the classifier (`None`: the library's default).
    pub cls_learning_rate: Option<f64>,
    pub n_heldout: usize,
    pub n_attack: usize,
    pub pgd_steps: usize,
    pub random_trials: usize,
    pub direct_generations: usize,
    pub cppn_generations: usize,
    pub population: usize,
    pub n_noise: usize,
    pub n_other_scene: usize,
    pub n_pairs: usize,
    pub score_k: usize,
    pub score_calibration: usize,
    /// Lee et al.'s input pre-processing step for the feature-space Mahalanobis score (0: none).
    pub mahalanobis_noise: f64,
    pub flow_calibration: usize,
    /// Yaw step (degrees) between the two renders of an interpolation pair.
    pub pair_yaw_step: f64,

    /// Stage 4 (`stability::sweep` on shapes10, global-pooling network): image sides, training renders, test
    /// renders (the correctly classified ones are measured), epochs, box half-widths, PGD steps and restarts,
    /// random uniform points and corners per image and ε. The full demo starts from the sweep's full options, the
    /// quick one from its quick options (a narrower network); these fields replace theirs.
    pub stability_sizes: Vec<usize>,
    pub stability_n_train: usize,
    pub stability_n_test: usize,
    pub stability_epochs: usize,
    pub stability_eps: Vec<f64>,
    pub stability_pgd_steps: usize,
    pub stability_pgd_restarts: usize,
    pub stability_random_trials: usize,
}

impl Config {
    /// The full demo (< 10 minutes on two cores).
    pub fn full(seed: u64) -> Self {
        Config {
            quick: false,
            seed,
            stages: Stage::ALL.to_vec(),
            dim_n: 2000,
            dim_size: 32,
            dim_blur: 1.0,
            dim_bootstrap: 20,
            dim_curve_k: vec![4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40],
            geo_n: 150,
            geo_size: 64,
            geo_k: 8,
            cls_size: 32,
            n_train: 2500,
            epochs: 8,
            cls_first_stride: 1,
            cls_learning_rate: None,
            n_heldout: 200,
            n_attack: 100,
            pgd_steps: 40,
            random_trials: 100,
            // The budgets of `imanifold fool`: a search stops once every class reaches 0.99, which the CPPN search
            // against a well-trained model may take a few hundred generations to do for its hardest class.
            direct_generations: 1000,
            cppn_generations: 1000,
            population: 64,
            n_noise: 50,
            n_other_scene: 50,
            n_pairs: 40,
            score_k: 20,
            score_calibration: 1000,
            mahalanobis_noise: 0.0,
            flow_calibration: 150,
            pair_yaw_step: 20.0,
            // The sweep's full options without its largest size (32) and with fewer test images: the sweep's
            // five sizes take about 5 minutes on two busy cores, these about 2.
            stability_sizes: vec![8, 12, 16, 24],
            stability_n_train: 3000,
            stability_n_test: 16,
            stability_epochs: 6,
            stability_eps: vec![1.0 / 255.0, 2.0 / 255.0, 4.0 / 255.0, 8.0 / 255.0],
            stability_pgd_steps: 40,
            stability_pgd_restarts: 3,
            stability_random_trials: 50,
        }
    }

    /// `--quick` (< 2 minutes): the same pipeline with fewer, cheaper samples.
    pub fn quick(seed: u64) -> Self {
        Config {
            quick: true,
            dim_n: 500,
            dim_bootstrap: 10,
            dim_curve_k: vec![5, 10, 15, 20, 30],
            geo_n: 60,
            geo_k: 6,
            // 3000 renders with every parameter free, 8 epochs: 0.985 held-out accuracy (800 renders and 4 epochs
            // of the default network gave 0.72); the strided first convolution (a quarter of the convolution cost)
            // and the higher learning rate keep the training near 20 s on two shared cores.
            n_train: 3000,
            epochs: 8,
            cls_first_stride: 2,
            cls_learning_rate: Some(4e-3),
            n_attack: 30,
            pgd_steps: 20,
            random_trials: 20,
            n_noise: 20,
            n_other_scene: 20,
            n_pairs: 15,
            score_calibration: 300,
            flow_calibration: 40,
            // The sweep's quick training (2000 renders, 6 epochs, a narrower network) at three sizes and two
            // budgets: about 5 s on two idle cores.
            stability_sizes: vec![8, 12, 16],
            stability_n_train: 2000,
            stability_n_test: 12,
            stability_epochs: 6,
            stability_eps: vec![1.0 / 255.0, 4.0 / 255.0],
            stability_pgd_steps: 20,
            stability_pgd_restarts: 2,
            stability_random_trials: 20,
            ..Config::full(seed)
        }
    }

    pub fn mode(&self) -> &'static str {
        if self.quick {
            "quick"
        } else {
            "full"
        }
    }
}
