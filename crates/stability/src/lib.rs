//! `stability`: how stable a ReLU classifier's labels are inside L∞ boxes around its inputs, measured so that the
//! independence argument — P(stable) ≈ (1 − q)^n with `q` the share of effective pixels whose own ε-interval already
//! flips the label and `n` their number — can be checked on a real model.
//!
//! * [`net`]: the classifier's network in f64 (sparse affine layers, normalisation folded in);
//! * [`line`]: exact per-pixel (and 2-pixel line) flip decisions by walking the linear pieces of a segment;
//! * [`verify`]: sound certification of the whole box (IBP and CROWN), [`alpha`]: CROWN with optimised slopes;
//! * [`attack`]: PGD with restarts and random points in the box (the other end of the bracket);
//! * [`run`]: everything per image and ε, with summaries; [`write`]: the output folder;
//! * [`sweep`]: the same measurement across image sizes, with the fit of log P(stable) against n.

pub mod alpha;
pub mod attack;
pub mod error;
pub mod line;
pub mod net;
pub mod run;
pub mod sweep;
pub mod verify;
pub mod write;

pub use error::{Result, StabilityError};
pub use net::{Layer, Net};
pub use run::{analyse, EpsSummary, ImageResult, PairStats, StabilityOptions, StabilityReport};
pub use verify::{crown, ibp, Bounds, LowerSlope};
pub use write::{eps_name, measure, write_stability_dir, Stability};
