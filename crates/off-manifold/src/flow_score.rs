//! Flow-compensated residual: the smallest photometric residual after warping a few nearest reference images onto
//! the image with dense optical flow.

use std::collections::HashMap;

use ndarray::{Array3, ArrayView1, ArrayView2};
use optical_flow::{FlowEstimator, PreparedFrame};
use rayon::prelude::*;

use crate::{ImageShape, Result, ScoreError};

fn image(row: ArrayView1<f32>, s: ImageShape) -> Array3<f32> {
    Array3::from_shape_vec((s.height, s.width, s.channels), row.iter().copied().collect())
        .expect("row length checked against the shape")
}

fn flow_err(what: String) -> impl FnOnce(optical_flow::FlowError) -> ScoreError {
    move |source| ScoreError::Flow { what, source }
}

/// Mean absolute difference over all pixels and channels between `target` and `source` warped onto it with the
/// flow target → source.
///
/// Written here rather than calling `optical_flow::photometric_residual` on purpose: that residual averages only
/// over pixels whose flow target stays inside the frame, so a flow that pushes content out of the frame would make
/// unexplained content free. Here every pixel counts (the warp replicates the border), and colour channels count.
fn warped_residual(
    est: &FlowEstimator,
    target: &PreparedFrame,
    target_img: &Array3<f32>,
    source: &PreparedFrame,
    source_img: &Array3<f32>,
    what: &str,
) -> Result<f64> {
    let flow = est.flow(target, source).map_err(flow_err(what.to_string()))?;
    let warped = optical_flow::warp_channels(source_img.view(), flow.view()).map_err(flow_err(what.to_string()))?;
    let n = target_img.len().max(1) as f64;
    Ok(warped.iter().zip(target_img.iter()).map(|(&a, &b)| (a - b).abs() as f64).sum::<f64>() / n)
}

/// For each of `n` images (`point(i)`), the smallest warped residual over the reference rows `neighbours(i)`.
pub(crate) fn min_residuals<'q>(
    est: &FlowEstimator,
    reference: ArrayView2<f32>,
    shape: ImageShape,
    point: &(dyn Fn(usize) -> ArrayView1<'q, f32> + Sync),
    n: usize,
    neighbours: &(dyn Fn(usize) -> Vec<usize> + Sync),
    what: &str,
) -> Result<Vec<f64>> {
    // Prepare every needed reference frame once (pyramids), in parallel.
    let mut needed: Vec<usize> = (0..n).flat_map(neighbours).collect();
    needed.sort_unstable();
    needed.dedup();
    let prepared: Vec<(usize, (PreparedFrame, Array3<f32>))> = needed
        .par_iter()
        .map(|&j| {
            let img = image(reference.row(j), shape);
            let gray = optical_flow::to_gray(img.view()).map_err(flow_err(format!("reference row {j}")))?;
            let p = est
                .prepare_named(gray.view(), &format!("reference row {j}"))
                .map_err(flow_err(format!("reference row {j}")))?;
            Ok((j, (p, img)))
        })
        .collect::<Result<_>>()?;
    let refs: HashMap<usize, (PreparedFrame, Array3<f32>)> = prepared.into_iter().collect();
    (0..n)
        .into_par_iter()
        .map(|i| {
            let name = format!("{what} {i}");
            let img = image(point(i), shape);
            let gray = optical_flow::to_gray(img.view()).map_err(flow_err(name.clone()))?;
            let p = est.prepare_named(gray.view(), &name).map_err(flow_err(name.clone()))?;
            let mut best = f64::INFINITY;
            for j in neighbours(i) {
                let (pr, rimg) = &refs[&j];
                let r = warped_residual(est, &p, &img, pr, rimg, &name)?;
                if r < best {
                    best = r;
                }
            }
            Ok(best)
        })
        .collect()
}
