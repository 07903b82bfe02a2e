//! `imanifold interpolate A B --steps N --out DIR`: a flow-based morph from A to B and the plain cross-fade, as two
//! image sequences that `imanifold score` (or any command reading a collection) can load from DIR.
//!
//! The pipeline is `optical_flow::interpolate_files`, the folder (`morph/`, `crossfade/`, `manifest.csv`,
//! `flow_ab.npy`, `flow_ba.npy`, `results.json`) `optical_flow::write_interpolate_dir`. The morph warps both images
//! part-way along the estimated flows and blends them, taking content that one image occludes from the other one
//! (forward–backward check); see `optical_flow::Morph`.

use std::path::PathBuf;

use clap::Args as ClapArgs;
use optical_flow::{FlowMethod, InterpolateOptions};

use super::common::OutArgs;

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// First image (t = 0).
    pub a: PathBuf,
    /// Second image (t = 1), same size as A.
    pub b: PathBuf,
    /// Number of frames per sequence, both ends included (at least 2).
    #[arg(long, default_value_t = optical_flow::interpolate::DEFAULT_STEPS)]
    pub steps: usize,
    /// Flow method (see `imanifold flow --help`).
    #[arg(long, default_value = optical_flow::DEFAULT_METHOD)]
    pub method: FlowMethod,
    /// Blend by time only, without the occlusion test.
    #[arg(long)]
    pub no_occlusion: bool,
    #[command(flatten)]
    pub out: OutArgs,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let options = InterpolateOptions { steps: a.steps, method: a.method.clone(), occlusion_aware: !a.no_occlusion };
    options.validate()?;
    a.out.check_inputs(&[&a.a, &a.b])?;
    let results = output::Results::new("interpolate");
    let report = optical_flow::interpolate_files(&a.a, &a.b, &options)?;
    let v = a.out.write(|dir| Ok(optical_flow::write_interpolate_dir(dir, &report, results)?))?;
    a.out.print(&v)
}
