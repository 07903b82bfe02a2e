//! `imanifold flow A.png B.png --out flow.npy [--method NAME] [--viz flow.png]` and the batch form
//! `imanifold flow --pairs PAIRS.csv --out DIR`: dense optical flow.
//!
//! Flow files are float32 `(height, width, 2)`, u then v, with `B(x + flow(x)) ≈ A(x)` (OpenCV's convention).
//! Colour images are converted to grey (BT.601 luma) first. The pipelines are `optical_flow::flow_pair` +
//! `write_flow_pair` (one pair) and `optical_flow::batch` + `write_flow_dir` (see `optical_flow::batch` for the
//! batch folder's files).

use std::path::PathBuf;

use anyhow::bail;
use clap::Args as ClapArgs;
use optical_flow::{FlowMethod, FlowParams};

use super::common::{print_json, OutArgs};

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// First frame A (the flow goes from A to B).
    #[arg(required_unless_present = "pairs", conflicts_with = "pairs")]
    pub a: Option<PathBuf>,
    /// Second frame B.
    #[arg(required_unless_present = "pairs", conflicts_with = "pairs")]
    pub b: Option<PathBuf>,
    /// Batch mode: CSV with columns a,b[,truth] (paths relative to the CSV's folder).
    #[arg(long, value_name = "PAIRS.csv")]
    pub pairs: Option<PathBuf>,
    /// Output: the flow .npy for one pair (written once the flow is computed), the output folder in batch mode.
    #[arg(long)]
    pub out: PathBuf,
    /// Method: dis (default: DIS with OpenCV's MEDIUM parameters), dis-fast, dis-fine, dis-global (dis-fine also
    /// started from the pair's global translations, for large motions), variational, and with the `opencv` build
    /// feature opencv-dis-medium, opencv-dis-fast, opencv-farneback.
    #[arg(long, default_value = optical_flow::DEFAULT_METHOD)]
    pub method: FlowMethod,
    /// Middlebury colour-wheel PNG of the flow (one pair).
    #[arg(long, value_name = "PNG")]
    pub viz: Option<PathBuf>,
    /// Batch mode: also write a colour-wheel PNG next to each flow.
    #[arg(long)]
    pub png: bool,
    /// True flow .npy for one pair: report the endpoint error.
    #[arg(long, value_name = "NPY")]
    pub truth: Option<PathBuf>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let params = FlowParams::new(a.method.clone());
    params.validate()?;
    match (&a.pairs, &a.a, &a.b) {
        (Some(p), _, _) => {
            if a.viz.is_some() || a.truth.is_some() {
                bail!("--viz and --truth are for one pair; in batch mode use --png and a `truth` column");
            }
            let out = OutArgs { out: a.out.clone(), json: a.json };
            out.check_inputs(&[p])?;
            let results = output::Results::new("flow");
            let rows = optical_flow::read_pairs(p)?;
            let pb = output::progress(rows.len() as u64, "flow");
            let report = optical_flow::batch(rows, &params, &|d| pb.inc(d));
            pb.finish_and_clear();
            let report = report?;
            let v = out.write(|dir| Ok(optical_flow::write_flow_dir(dir, &report, a.png, results)?))?;
            out.print(&v)
        }
        (None, Some(fa), Some(fb)) => {
            if a.png {
                bail!("--png is for batch mode; use --viz PNG for one pair");
            }
            if a.out.is_dir() {
                bail!("--out {} is a folder; give the .npy file to write", a.out.display());
            }
            let report = optical_flow::flow_pair(fa, fb, a.truth.as_deref(), &params)?;
            let summary = optical_flow::write_flow_pair(&a.out, a.viz.as_deref(), &report)?;
            print_json(a.json, &summary)?;
            if !a.json {
                eprintln!(
                    "flow {}×{} ({}): RMS {:.3} px, {:.1} ms → {}",
                    report.width,
                    report.height,
                    report.method,
                    report.rms_magnitude_px,
                    report.seconds * 1e3,
                    a.out.display()
                );
            }
            Ok(())
        }
        _ => bail!("give two frames A B, or --pairs PAIRS.csv"),
    }
}
