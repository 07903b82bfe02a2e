//! Dense optical flow for imanifold.
//!
//! # Convention
//! A flow field is an `ndarray::Array3<f32>` of shape `(height, width, 2)`: channel 0 is the horizontal component
//! `u` (pixels, positive to the right), channel 1 the vertical component `v` (pixels, positive downwards), and
//!
//! ```text
//! frame2(x + u(x, y), y + v(x, y)) ≈ frame1(x, y)
//! ```
//!
//! which is OpenCV's convention (`calcOpticalFlowFarneback`, `DISOpticalFlow::calc(frame1, frame2)`) and the
//! renderer's. So if the content of `frame2` is the content of `frame1` moved 3 px to the right, the flow is
//! `u ≈ +3, v ≈ 0`, and [`warp`]`(frame2, flow) ≈ frame1`.
//!
//! # Input
//! Frames are grey images as `ArrayView2<f32>` (rows = y) with intensities in `[0, 1]` (the regularisation weights
//! are tuned for that range; internally the solvers work on a 0–255 scale as OpenCV does). Colour images are
//! converted with [`to_gray`] (ITU-R BT.601 luma, the weights of OpenCV's `cvtColor(..., COLOR_RGB2GRAY)`) before
//! flow estimation; [`read_image`] and [`read_gray`] load image files.
//!
//! # Methods
//! * [`FlowMethod::Dis`] (default, name `dis`): pure-Rust Dense Inverse Search — coarse-to-fine patch inverse
//!   search with spatial propagation, densification, variational refinement. `dis-medium` and `dis-fast` use the
//!   parameters of OpenCV's MEDIUM and FAST presets; the default `dis` is MEDIUM with a softer smoothness penalty
//!   ([`DisParams::default`]); `dis-fine` ([`DisParams::fine`]) solves down to full resolution (more accurate,
//!   about 4× slower); `dis-global` ([`DisParams::global`]) is `dis-fine` whose patch search also starts from the
//!   pair's global translation (exhaustive search on a coarse level), for shifts of a sizeable fraction of a small
//!   frame.
//! * [`FlowMethod::Variational`]: pure coarse-to-fine variational flow (the refinement energy alone, no patch
//!   search); smoother, slower, weaker on large motions.
//! * With the cargo feature `opencv`: OpenCV's DIS (presets MEDIUM and FAST) and Farneback, as references.
//!
//! # Many pairs
//! [`FlowEstimator::prepare`] builds a frame's pyramid once; [`FlowEstimator::flow`] then only does the per-pair
//! work, so a graph over `n` images with `k` neighbours costs `n` preparations and `n·k` flows.
//! [`FlowEstimator::flow_pairs`] runs many pairs in parallel (rayon). Everything is deterministic: the result does
//! not depend on the number of threads, and there is no global state.

use ndarray::{Array3, ArrayView2};
use rayon::prelude::*;

pub mod batch;
mod dis;
mod global;
pub mod interpolate;
mod io;
mod metrics;
#[cfg(feature = "opencv")]
mod opencv_backend;
mod plane;
pub mod synthetic;
mod variational;
mod viz;

pub use batch::{
    batch, check_same_size, flow_pair, read_pairs, read_true_flow, write_flow_dir, write_flow_pair, BatchPair,
    BatchReport, PairReport, PairRow,
};
pub use dis::DisParams;
pub use interpolate::{
    cross_fade, interpolate_files, write_interpolate_dir, InterpolateOptions, InterpolateReport, Morph, MorphParams,
};
pub use io::{read_gray, read_image, to_gray};
pub use metrics::{
    check_flow, endpoint_error, endpoint_error_map, forward_backward_error, occlusion_mask, photometric_residual,
    rms_magnitude, warp, warp_channels, EpeStats,
};
pub use variational::VariationalParams;
pub use viz::{flow_to_rgb, middlebury_color};

use plane::Plane;

/// A dense flow field, shape `(height, width, 2)`, `u` then `v` (see the crate docs for the convention).
pub type Flow = Array3<f32>;

/// Errors of the flow crate. Messages name the offending frame, shape or value.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("frame sizes differ: {first} is {w1}×{h1} but {second} is {w2}×{h2} (width×height)")]
    SizeMismatch { first: String, w1: usize, h1: usize, second: String, w2: usize, h2: usize },
    #[error("{what} is {width}×{height}; method {method} needs at least {min}×{min} pixels")]
    TooSmall { what: String, width: usize, height: usize, min: usize, method: String },
    #[error("{what} has a non-finite value at row {row}, column {col}")]
    NonFinite { what: String, row: usize, col: usize },
    #[error("{what} has shape {shape:?}; expected {expected}")]
    BadShape { what: String, shape: Vec<usize>, expected: String },
    #[error("invalid parameter {name} = {value}: {reason}")]
    InvalidParam { name: &'static str, value: String, reason: String },
    #[error("unknown flow method {name:?}; available: {available}")]
    UnknownMethod { name: String, available: String },
    #[error("cannot read image {path}: {message}")]
    ReadImage { path: std::path::PathBuf, message: String },
    #[error("OpenCV failed: {0}")]
    Opencv(String),
    #[error("cannot read flow {path}")]
    ReadFlow {
        path: std::path::PathBuf,
        #[source]
        source: ndarray_npy::ReadNpyError,
    },
    #[error("pairs file {path}: {message}")]
    Pairs { path: std::path::PathBuf, message: String },
    #[error("invalid option: {0}")]
    Option(String),
    #[error(transparent)]
    Output(#[from] output::OutputError),
    #[error(transparent)]
    Pixels(#[from] pixels::PixelsError),
}

/// Name of the default method ([`FlowParams::default`]).
pub const DEFAULT_METHOD: &str = "dis";

/// How the flow is computed.
#[derive(Clone, Debug, PartialEq)]
pub enum FlowMethod {
    /// Pure-Rust Dense Inverse Search with variational refinement.
    Dis(DisParams),
    /// Pure-Rust coarse-to-fine variational flow.
    Variational(CoarseToFineParams),
    /// OpenCV's `DISOpticalFlow` with a preset.
    #[cfg(feature = "opencv")]
    OpencvDis(OpencvDisPreset),
    /// OpenCV's `calcOpticalFlowFarneback` (pyr_scale 0.5, 5 levels, window 15, 3 iterations, poly_n 5,
    /// poly_sigma 1.2 — the parameters of the reference script `peer_flow.py`).
    #[cfg(feature = "opencv")]
    OpencvFarneback,
}

/// OpenCV DIS presets.
#[cfg(feature = "opencv")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpencvDisPreset {
    Medium,
    Fast,
}

/// Parameters of [`FlowMethod::Variational`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CoarseToFineParams {
    /// The coarsest level is the deepest whose shorter side is still at least this many pixels.
    pub min_level_size: usize,
    /// Energy weights and iteration counts per level.
    pub variational: VariationalParams,
}

impl Default for CoarseToFineParams {
    fn default() -> Self {
        CoarseToFineParams {
            min_level_size: 16,
            variational: VariationalParams {
                outer_iters: 5,
                sor_iters: 10,
                smooth_epsilon: 0.1,
                ..VariationalParams::default()
            },
        }
    }
}

/// Method names accepted by [`FlowMethod::from_name`] in this build.
pub fn method_names() -> Vec<&'static str> {
    let mut v = vec!["dis", "dis-medium", "dis-fast", "dis-fine", "dis-global", "variational"];
    if cfg!(feature = "opencv") {
        v.extend(["opencv-dis-medium", "opencv-dis-fast", "opencv-farneback"]);
    }
    v
}

impl FlowMethod {
    /// Parses a method name (see [`method_names`]).
    pub fn from_name(name: &str) -> Result<FlowMethod, FlowError> {
        Ok(match name {
            "dis" => FlowMethod::Dis(DisParams::default()),
            "dis-medium" => FlowMethod::Dis(DisParams::medium()),
            "dis-fast" => FlowMethod::Dis(DisParams::fast()),
            "dis-fine" => FlowMethod::Dis(DisParams::fine()),
            "dis-global" => FlowMethod::Dis(DisParams::global()),
            "variational" => FlowMethod::Variational(CoarseToFineParams::default()),
            #[cfg(feature = "opencv")]
            "opencv-dis-medium" => FlowMethod::OpencvDis(OpencvDisPreset::Medium),
            #[cfg(feature = "opencv")]
            "opencv-dis-fast" => FlowMethod::OpencvDis(OpencvDisPreset::Fast),
            #[cfg(feature = "opencv")]
            "opencv-farneback" => FlowMethod::OpencvFarneback,
            _ => {
                let mut available = method_names().join(", ");
                if !cfg!(feature = "opencv") && name.starts_with("opencv") {
                    available.push_str(" (OpenCV methods need a build with the cargo feature `opencv`)");
                }
                return Err(FlowError::UnknownMethod { name: name.to_string(), available });
            }
        })
    }

    /// A name for the method (the preset name when the parameters are a preset, else `dis-custom` etc.).
    pub fn name(&self) -> String {
        match self {
            FlowMethod::Dis(p) if *p == DisParams::default() => "dis".into(),
            FlowMethod::Dis(p) if *p == DisParams::medium() => "dis-medium".into(),
            FlowMethod::Dis(p) if *p == DisParams::fast() => "dis-fast".into(),
            FlowMethod::Dis(p) if *p == DisParams::fine() => "dis-fine".into(),
            FlowMethod::Dis(p) if *p == DisParams::global() => "dis-global".into(),
            FlowMethod::Dis(_) => "dis-custom".into(),
            FlowMethod::Variational(p) if *p == CoarseToFineParams::default() => "variational".into(),
            FlowMethod::Variational(_) => "variational-custom".into(),
            #[cfg(feature = "opencv")]
            FlowMethod::OpencvDis(OpencvDisPreset::Medium) => "opencv-dis-medium".into(),
            #[cfg(feature = "opencv")]
            FlowMethod::OpencvDis(OpencvDisPreset::Fast) => "opencv-dis-fast".into(),
            #[cfg(feature = "opencv")]
            FlowMethod::OpencvFarneback => "opencv-farneback".into(),
        }
    }

    /// Smallest width and height the method accepts.
    pub fn min_size(&self) -> usize {
        match self {
            FlowMethod::Dis(p) => p.patch_size,
            FlowMethod::Variational(_) => 4,
            #[cfg(feature = "opencv")]
            FlowMethod::OpencvDis(_) => 16,
            #[cfg(feature = "opencv")]
            FlowMethod::OpencvFarneback => 16,
        }
    }
}

impl std::str::FromStr for FlowMethod {
    type Err = FlowError;
    /// [`FlowMethod::from_name`].
    fn from_str(name: &str) -> Result<FlowMethod, FlowError> {
        FlowMethod::from_name(name)
    }
}

impl std::fmt::Display for FlowMethod {
    /// [`FlowMethod::name`].
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// Parameters of a flow computation.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowParams {
    pub method: FlowMethod,
}

impl Default for FlowParams {
    fn default() -> Self {
        FlowParams { method: FlowMethod::Dis(DisParams::default()) }
    }
}

impl FlowParams {
    pub fn new(method: FlowMethod) -> FlowParams {
        FlowParams { method }
    }

    /// Parameters for a named method (see [`method_names`]).
    pub fn from_name(name: &str) -> Result<FlowParams, FlowError> {
        Ok(FlowParams { method: FlowMethod::from_name(name)? })
    }

    /// Checks the parameter values.
    pub fn validate(&self) -> Result<(), FlowError> {
        fn bad(name: &'static str, value: impl std::fmt::Display, reason: &str) -> FlowError {
            FlowError::InvalidParam { name, value: value.to_string(), reason: reason.to_string() }
        }
        fn check_var(v: &VariationalParams) -> Result<(), FlowError> {
            if !(v.smooth_epsilon.is_finite() && v.smooth_epsilon > 0.0) {
                return Err(bad("smooth_epsilon", v.smooth_epsilon, "must be a finite number > 0"));
            }
            for (name, x) in [("alpha", v.alpha), ("delta", v.delta), ("gamma", v.gamma)] {
                if !(x.is_finite() && x >= 0.0) {
                    return Err(bad(name, x, "must be a finite number ≥ 0"));
                }
            }
            if v.alpha <= 0.0 {
                return Err(bad("alpha", v.alpha, "must be > 0 (the smoothness term keeps the system solvable)"));
            }
            if !(v.omega > 0.0 && v.omega < 2.0) {
                return Err(bad("omega", v.omega, "SOR converges only for 0 < omega < 2"));
            }
            if v.outer_iters > 1000 || v.sor_iters > 1000 {
                return Err(bad("iterations", v.outer_iters.max(v.sor_iters), "at most 1000"));
            }
            Ok(())
        }
        match &self.method {
            FlowMethod::Dis(p) => {
                if !(4..=dis::BORDER).contains(&p.patch_size) {
                    return Err(bad("patch_size", p.patch_size, &format!("must be between 4 and {}", dis::BORDER)));
                }
                if p.patch_stride == 0 || p.patch_stride > p.patch_size {
                    return Err(bad("patch_stride", p.patch_stride, "must be between 1 and patch_size"));
                }
                if p.grad_descent_iters == 0 || p.grad_descent_iters > 1000 {
                    return Err(bad("grad_descent_iters", p.grad_descent_iters, "must be between 1 and 1000"));
                }
                if p.finest_scale > 10 {
                    return Err(bad("finest_scale", p.finest_scale, "must be at most 10"));
                }
                check_var(&p.variational)
            }
            FlowMethod::Variational(p) => {
                if p.min_level_size < 4 {
                    return Err(bad("min_level_size", p.min_level_size, "must be at least 4"));
                }
                if p.variational.outer_iters == 0 {
                    return Err(bad("outer_iters", 0, "the variational method needs at least one iteration"));
                }
                check_var(&p.variational)
            }
            #[cfg(feature = "opencv")]
            _ => Ok(()),
        }
    }
}

/// A frame prepared for flow estimation (its image pyramid and gradients), reusable across many pairs.
#[derive(Clone, Debug)]
pub struct PreparedFrame {
    width: usize,
    height: usize,
    /// Pyramid levels `first..=first + levels.len() - 1`.
    levels: Vec<dis::Level>,
    first: usize,
    #[cfg(feature = "opencv")]
    bytes: Vec<u8>,
}

impl PreparedFrame {
    pub fn width(&self) -> usize {
        self.width
    }
    pub fn height(&self) -> usize {
        self.height
    }
}

/// Computes flows with fixed parameters; cheap to share between threads (`Sync`).
#[derive(Clone, Debug)]
pub struct FlowEstimator {
    params: FlowParams,
}

fn check_frame(what: &str, frame: &ArrayView2<f32>, min: usize, method: &str) -> Result<(), FlowError> {
    let (h, w) = frame.dim();
    if w < min || h < min {
        return Err(FlowError::TooSmall { what: what.into(), width: w, height: h, min, method: method.into() });
    }
    if let Some(((row, col), _)) = frame.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(FlowError::NonFinite { what: what.into(), row, col });
    }
    Ok(())
}

impl FlowEstimator {
    /// Validates the parameters.
    pub fn new(params: FlowParams) -> Result<FlowEstimator, FlowError> {
        params.validate()?;
        Ok(FlowEstimator { params })
    }

    pub fn params(&self) -> &FlowParams {
        &self.params
    }

    /// Builds the pyramid of a grey frame (values in [0, 1]; see the crate docs). `what` names the frame in errors.
    pub fn prepare_named(&self, frame: ArrayView2<f32>, what: &str) -> Result<PreparedFrame, FlowError> {
        let method = &self.params.method;
        check_frame(what, &frame, method.min_size(), &method.name())?;
        let (h, w) = frame.dim();
        let (first, last) = match method {
            FlowMethod::Dis(p) => (dis::first_level(w, h, p), dis::last_level(w, h, p)),
            FlowMethod::Variational(p) => (0, variational_coarsest(w, h, p)),
            #[cfg(feature = "opencv")]
            _ => (0, 0),
        };
        let mut levels = Vec::new();
        #[cfg(feature = "opencv")]
        let mut bytes = Vec::new();
        match method {
            #[cfg(feature = "opencv")]
            FlowMethod::OpencvDis(_) | FlowMethod::OpencvFarneback => {
                bytes = frame.iter().map(|&x| pixels::to_u8(x)).collect();
            }
            _ => {
                let mut cur = Plane::from_view(frame, 255.0);
                for l in 0..=last {
                    if l > 0 {
                        cur = cur.downsample2();
                    }
                    if l >= first {
                        levels.push(dis::Level::new(cur.clone()));
                    }
                }
            }
        }
        Ok(PreparedFrame {
            width: w,
            height: h,
            levels,
            first,
            #[cfg(feature = "opencv")]
            bytes,
        })
    }

    /// [`FlowEstimator::prepare_named`] with the name "frame".
    pub fn prepare(&self, frame: ArrayView2<f32>) -> Result<PreparedFrame, FlowError> {
        self.prepare_named(frame, "frame")
    }

    /// Flow from `frame1` to `frame2`: `frame2(x + flow(x)) ≈ frame1(x)`. Both must have been prepared by an
    /// estimator with the same parameters.
    pub fn flow(&self, frame1: &PreparedFrame, frame2: &PreparedFrame) -> Result<Flow, FlowError> {
        if (frame1.width, frame1.height) != (frame2.width, frame2.height) {
            return Err(FlowError::SizeMismatch {
                first: "frame1".into(),
                w1: frame1.width,
                h1: frame1.height,
                second: "frame2".into(),
                w2: frame2.width,
                h2: frame2.height,
            });
        }
        let (w, h) = (frame1.width, frame1.height);
        let (u, v) = match &self.params.method {
            FlowMethod::Dis(p) => {
                let (finest, coarsest) = dis::dis_scales(w, h, p);
                let first = dis::first_level(w, h, p);
                let last = dis::last_level(w, h, p);
                check_prepared(frame1, first, last)?;
                check_prepared(frame2, first, last)?;
                dis::dis_flow(&frame1.levels, &frame2.levels, frame1.first, finest, coarsest, p, w, h)
            }
            FlowMethod::Variational(p) => {
                let coarsest = variational_coarsest(w, h, p);
                check_prepared(frame1, 0, coarsest)?;
                check_prepared(frame2, 0, coarsest)?;
                variational_flow(&frame1.levels, &frame2.levels, coarsest, &p.variational)
            }
            #[cfg(feature = "opencv")]
            m => return opencv_backend::flow(m, frame1, frame2),
        };
        Ok(planes_to_flow(&u, &v))
    }

    /// Flows for many `(i, j)` index pairs into `frames` (flow from `frames[i]` to `frames[j]`), in parallel.
    /// The output order matches `pairs`; results do not depend on the number of threads.
    pub fn flow_pairs(&self, frames: &[PreparedFrame], pairs: &[(usize, usize)]) -> Vec<Result<Flow, FlowError>> {
        pairs
            .par_iter()
            .map(|&(i, j)| {
                let (a, b) = match (frames.get(i), frames.get(j)) {
                    (Some(a), Some(b)) => (a, b),
                    _ => {
                        return Err(FlowError::InvalidParam {
                            name: "pair",
                            value: format!("({i}, {j})"),
                            reason: format!("index out of range for {} frames", frames.len()),
                        })
                    }
                };
                self.flow(a, b)
            })
            .collect()
    }
}

fn check_prepared(f: &PreparedFrame, finest: usize, coarsest: usize) -> Result<(), FlowError> {
    if f.first <= finest && f.first + f.levels.len() > coarsest {
        Ok(())
    } else {
        Err(FlowError::InvalidParam {
            name: "prepared frame",
            value: format!("levels {}..{}", f.first, f.first + f.levels.len()),
            reason: "was prepared by an estimator with different parameters".into(),
        })
    }
}

fn variational_coarsest(w: usize, h: usize, p: &CoarseToFineParams) -> usize {
    let mut l = 0;
    let mut m = w.min(h);
    while m / 2 >= p.min_level_size {
        m /= 2;
        l += 1;
    }
    l
}

fn variational_flow(l0: &[dis::Level], l1: &[dis::Level], coarsest: usize, vp: &VariationalParams) -> (Plane, Plane) {
    let top = &l0[coarsest];
    let mut u = Plane::zeros(top.img.w, top.img.h);
    let mut v = Plane::zeros(top.img.w, top.img.h);
    for l in (0..=coarsest).rev() {
        let (a, b) = (&l0[l].img, &l1[l].img);
        if u.w != a.w || u.h != a.h {
            u = plane::upscale_flow(&u, a.w, a.h, 2.0);
            v = plane::upscale_flow(&v, a.w, a.h, 2.0);
        }
        variational::refine(a, b, &mut u, &mut v, vp);
    }
    (u, v)
}

fn planes_to_flow(u: &Plane, v: &Plane) -> Flow {
    let mut f = Array3::<f32>::zeros((u.h, u.w, 2));
    for y in 0..u.h {
        for x in 0..u.w {
            f[[y, x, 0]] = u.data[y * u.w + x];
            f[[y, x, 1]] = v.data[y * u.w + x];
        }
    }
    f
}

/// Flow from `frame1` to `frame2` (grey, values in [0, 1]): `frame2(x + flow(x)) ≈ frame1(x)`.
pub fn compute_flow(frame1: ArrayView2<f32>, frame2: ArrayView2<f32>, params: &FlowParams) -> Result<Flow, FlowError> {
    let (h1, w1) = frame1.dim();
    let (h2, w2) = frame2.dim();
    if (h1, w1) != (h2, w2) {
        return Err(FlowError::SizeMismatch { first: "frame1".into(), w1, h1, second: "frame2".into(), w2, h2 });
    }
    let est = FlowEstimator::new(params.clone())?;
    let a = est.prepare_named(frame1, "frame1")?;
    let b = est.prepare_named(frame2, "frame2")?;
    est.flow(&a, &b)
}
