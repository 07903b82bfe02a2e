//! `imanifold interpolate A B --steps N --out DIR`: a flow-based morph from A to B and the plain cross-fade, as two
//! image sequences that `imanifold score` (or any command reading a collection) can load from DIR.
//!
//! Writes `DIR/morph/000.png …` and `DIR/crossfade/000.png …` (N frames each, t = i / (N − 1), so frame 0 is A and
//! frame N − 1 is B), `DIR/manifest.csv` (columns `file` (path relative to DIR), `method` = morph | crossfade, `t`),
//! the two flows `DIR/flow_ab.npy` (A → B) and `DIR/flow_ba.npy` (B → A) in the `imanifold flow` convention, and
//! `DIR/results.json`. The morph warps both images part-way along the estimated flows and blends them, taking
//! content that one image occludes from the other one (forward–backward check); see `optical_flow::Morph`.

use std::path::PathBuf;

use anyhow::bail;
use clap::Args as ClapArgs;
use ndarray::{Array3, Axis};
use optical_flow::{FlowEstimator, FlowParams, Morph, MorphParams};
use rayon::prelude::*;

use super::common::{prepare_out, print_json};

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// First image (t = 0).
    pub a: PathBuf,
    /// Second image (t = 1), same size as A.
    pub b: PathBuf,
    /// Number of frames per sequence, both ends included (at least 2).
    #[arg(long, default_value_t = 9)]
    pub steps: usize,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Flow method (see `imanifold flow --help`).
    #[arg(long, default_value = "dis")]
    pub method: String,
    /// Blend by time only, without the occlusion test.
    #[arg(long)]
    pub no_occlusion: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

fn to_png(img: &Array3<f32>) -> anyhow::Result<PngImage> {
    let (h, w, c) = img.dim();
    let px = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    Ok(match c {
        1 => PngImage::Gray(image::GrayImage::from_fn(w as u32, h as u32, |x, y| {
            image::Luma([px(img[[y as usize, x as usize, 0]])])
        })),
        3 => PngImage::Rgb(image::RgbImage::from_fn(w as u32, h as u32, |x, y| {
            let (x, y) = (x as usize, y as usize);
            image::Rgb([px(img[[y, x, 0]]), px(img[[y, x, 1]]), px(img[[y, x, 2]])])
        })),
        _ => bail!("cannot write a {c}-channel image"),
    })
}

enum PngImage {
    Gray(image::GrayImage),
    Rgb(image::RgbImage),
}

impl PngImage {
    fn write(&self, path: &std::path::Path) -> anyhow::Result<()> {
        match self {
            PngImage::Gray(g) => output::write_png(path, g)?,
            PngImage::Rgb(g) => output::write_png(path, g)?,
        }
        Ok(())
    }
}

/// A grey image repeated into three channels (when the other image is colour).
fn to_rgb(img: Array3<f32>) -> Array3<f32> {
    if img.dim().2 == 3 {
        return img;
    }
    let g = img.index_axis(Axis(2), 0).to_owned();
    ndarray::stack(Axis(2), &[g.view(), g.view(), g.view()]).expect("same shapes")
}

pub fn run(a: Args) -> anyhow::Result<()> {
    if a.steps < 2 {
        bail!("--steps must be at least 2 (got {}): the sequences include both A and B", a.steps);
    }
    if a.steps > 100_000 {
        bail!("--steps {} is unreasonably large (at most 100000)", a.steps);
    }
    let est = FlowEstimator::new(FlowParams::from_name(&a.method)?)?;
    let mut img_a = optical_flow::read_image(&a.a)?;
    let mut img_b = optical_flow::read_image(&a.b)?;
    let ((ha, wa, _), (hb, wb, _)) = (img_a.dim(), img_b.dim());
    super::flow::check_same_size(&a.a, (ha, wa), &a.b, (hb, wb))?;
    if img_a.dim().2 != img_b.dim().2 {
        img_a = to_rgb(img_a);
        img_b = to_rgb(img_b);
    }
    let out = prepare_out(&a.out)?;
    let mut results = output::Results::new("interpolate");
    let params = MorphParams { occlusion_aware: !a.no_occlusion, ..MorphParams::default() };
    let morph = results.timed("flow", || Morph::new(img_a.view(), img_b.view(), &est, params))?;
    let n = a.steps;
    let digits = (n - 1).to_string().len().max(3);
    let ts: Vec<f32> = (0..n).map(|i| i as f32 / (n - 1) as f32).collect();
    // Render everything before writing anything, so that an error leaves no partial sequence behind.
    let frames: Vec<(PngImage, PngImage)> = results.timed("render", || {
        ts.par_iter()
            .map(|&t| {
                let m = to_png(&morph.frame(t)?)?;
                let c = to_png(&optical_flow::cross_fade(img_a.view(), img_b.view(), t)?)?;
                Ok((m, c))
            })
            .collect::<anyhow::Result<Vec<_>>>()
    })?;
    let mut manifest = Vec::with_capacity(2 * n);
    for (method, pick) in [("morph", 0usize), ("crossfade", 1)] {
        for (i, (pair, t)) in frames.iter().zip(&ts).enumerate() {
            let rel = format!("{method}/{i:0digits$}.png");
            let img = if pick == 0 { &pair.0 } else { &pair.1 };
            img.write(&out.join(&rel))?;
            manifest.push(vec![rel, method.to_string(), output::fmt_f64(*t as f64)]);
        }
    }
    output::write_npy(&out.join("flow_ab.npy"), morph.forward_flow())?;
    output::write_npy(&out.join("flow_ba.npy"), morph.backward_flow())?;
    output::write_csv(&out.join("manifest.csv"), &["file", "method", "t"], manifest)?;
    let occluded = |f: &Array3<f32>, g: &Array3<f32>| -> anyhow::Result<f64> {
        let m = optical_flow::occlusion_mask(f.view(), g.view())?;
        Ok(m.iter().filter(|&&o| o).count() as f64 / m.len().max(1) as f64)
    };
    results
        .set("method", est.params().method.name())
        .set("steps", n)
        .set("width", wa)
        .set("height", ha)
        .set("channels", img_a.dim().2)
        .set("occlusion_aware", !a.no_occlusion)
        .set("rms_flow_px", optical_flow::rms_magnitude(morph.forward_flow().view())?)
        .set("occluded_fraction_a", occluded(morph.forward_flow(), morph.backward_flow())?)
        .set("occluded_fraction_b", occluded(morph.backward_flow(), morph.forward_flow())?)
        .set("a", a.a.display().to_string())
        .set("b", a.b.display().to_string());
    let v = results.write(&out)?;
    print_json(a.json, &v)?;
    Ok(())
}
