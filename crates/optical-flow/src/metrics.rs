//! Warping and flow measurements: endpoint error, RMS magnitude, photometric residual, forward–backward
//! consistency and occlusion masks. All follow the crate convention `frame2(x + flow(x)) ≈ frame1(x)`.

use ndarray::{Array2, Array3, ArrayView2, ArrayView3, Axis, Zip};

use crate::plane::Plane;
use crate::FlowError;

/// Checks that `flow` has shape `(height, width, 2)` and finite values; `what` names it in the error.
pub fn check_flow(flow: ArrayView3<f32>, height: usize, width: usize, what: &str) -> Result<(), FlowError> {
    if flow.dim() != (height, width, 2) {
        return Err(FlowError::BadShape {
            what: what.into(),
            shape: flow.shape().to_vec(),
            expected: format!("({height}, {width}, 2)"),
        });
    }
    if let Some(((row, col, _), _)) = flow.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(FlowError::NonFinite { what: what.into(), row, col });
    }
    Ok(())
}

/// Bilinear backward warp of a grey image: `out(x) = image(x + flow(x))`, with replicated borders. With the flow
/// from `frame1` to `frame2`, `warp(frame2, flow) ≈ frame1`.
pub fn warp(image: ArrayView2<f32>, flow: ArrayView3<f32>) -> Result<Array2<f32>, FlowError> {
    let (h, w) = image.dim();
    check_flow(flow, h, w, "flow")?;
    let p = Plane::from_view(image, 1.0);
    Ok(Array2::from_shape_fn((h, w), |(y, x)| p.sample(x as f32 + flow[[y, x, 0]], y as f32 + flow[[y, x, 1]])))
}

/// [`warp`] for a `(height, width, channels)` image, every channel with the same flow.
pub fn warp_channels(image: ArrayView3<f32>, flow: ArrayView3<f32>) -> Result<Array3<f32>, FlowError> {
    let (h, w, c) = image.dim();
    check_flow(flow, h, w, "flow")?;
    let mut out = Array3::<f32>::zeros((h, w, c));
    for ch in 0..c {
        let p = Plane::from_view(image.index_axis(Axis(2), ch), 1.0);
        for y in 0..h {
            for x in 0..w {
                out[[y, x, ch]] = p.sample(x as f32 + flow[[y, x, 0]], y as f32 + flow[[y, x, 1]]);
            }
        }
    }
    Ok(out)
}

/// Per-pixel endpoint error `|flow − truth|` (Euclidean norm of the difference vector).
pub fn endpoint_error_map(flow: ArrayView3<f32>, truth: ArrayView3<f32>) -> Result<Array2<f32>, FlowError> {
    let (h, w, _) = truth.dim();
    check_flow(truth, h, w, "true flow")?;
    check_flow(flow, h, w, "flow")?;
    Ok(Array2::from_shape_fn((h, w), |(y, x)| {
        let du = flow[[y, x, 0]] - truth[[y, x, 0]];
        let dv = flow[[y, x, 1]] - truth[[y, x, 1]];
        (du * du + dv * dv).sqrt()
    }))
}

/// Summary of the endpoint error over all pixels (pixels).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpeStats {
    pub mean: f64,
    pub median: f64,
    pub rms: f64,
    pub max: f64,
    /// Fraction of pixels with an error above 1 px.
    pub above_1px: f64,
}

/// Endpoint error statistics of `flow` against `truth` (both `(height, width, 2)`).
pub fn endpoint_error(flow: ArrayView3<f32>, truth: ArrayView3<f32>) -> Result<EpeStats, FlowError> {
    let e = endpoint_error_map(flow, truth)?;
    let n = e.len().max(1) as f64;
    let mut v: Vec<f32> = e.iter().copied().collect();
    v.sort_by(|a, b| a.total_cmp(b));
    let median = if v.is_empty() {
        0.0
    } else if v.len() % 2 == 1 {
        v[v.len() / 2] as f64
    } else {
        0.5 * (v[v.len() / 2 - 1] as f64 + v[v.len() / 2] as f64)
    };
    Ok(EpeStats {
        mean: v.iter().map(|&x| x as f64).sum::<f64>() / n,
        median,
        rms: (v.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>() / n).sqrt(),
        max: v.last().copied().unwrap_or(0.0) as f64,
        above_1px: v.iter().filter(|&&x| x > 1.0).count() as f64 / n,
    })
}

/// Root-mean-square displacement `sqrt(mean(u² + v²))` in pixels.
pub fn rms_magnitude(flow: ArrayView3<f32>) -> Result<f64, FlowError> {
    let (h, w, _) = flow.dim();
    check_flow(flow, h, w, "flow")?;
    let n = (h * w).max(1) as f64;
    let s: f64 = flow.iter().map(|&x| (x as f64) * (x as f64)).sum();
    Ok((s / n).sqrt())
}

/// Mean absolute photometric residual `|frame2(x + flow(x)) − frame1(x)|` (in the frames' intensity units) over the
/// pixels whose target `x + flow(x)` lies inside the frame; `NaN` when no pixel does.
pub fn photometric_residual(
    frame1: ArrayView2<f32>,
    frame2: ArrayView2<f32>,
    flow: ArrayView3<f32>,
) -> Result<f64, FlowError> {
    let (h, w) = frame1.dim();
    if frame2.dim() != (h, w) {
        let (h2, w2) = frame2.dim();
        return Err(FlowError::SizeMismatch { first: "frame1".into(), w1: w, h1: h, second: "frame2".into(), w2, h2 });
    }
    check_flow(flow, h, w, "flow")?;
    let p = Plane::from_view(frame2, 1.0);
    let (mut sum, mut count) = (0.0f64, 0usize);
    for y in 0..h {
        for x in 0..w {
            let tx = x as f32 + flow[[y, x, 0]];
            let ty = y as f32 + flow[[y, x, 1]];
            if tx >= 0.0 && ty >= 0.0 && tx <= (w - 1) as f32 && ty <= (h - 1) as f32 {
                sum += (p.sample(tx, ty) - frame1[[y, x]]).abs() as f64;
                count += 1;
            }
        }
    }
    Ok(if count == 0 { f64::NAN } else { sum / count as f64 })
}

/// Forward–backward error `|fwd(x) + bwd(x + fwd(x))|` per pixel, where `fwd` is the flow frame1 → frame2 and
/// `bwd` the flow frame2 → frame1 (`bwd` sampled bilinearly). Zero for a consistent pair.
pub fn forward_backward_error(fwd: ArrayView3<f32>, bwd: ArrayView3<f32>) -> Result<Array2<f32>, FlowError> {
    let (h, w, _) = fwd.dim();
    check_flow(fwd, h, w, "forward flow")?;
    check_flow(bwd, h, w, "backward flow")?;
    let bu = Plane::from_view(bwd.index_axis(Axis(2), 0), 1.0);
    let bv = Plane::from_view(bwd.index_axis(Axis(2), 1), 1.0);
    Ok(Array2::from_shape_fn((h, w), |(y, x)| {
        let (fu, fv) = (fwd[[y, x, 0]], fwd[[y, x, 1]]);
        let (tx, ty) = (x as f32 + fu, y as f32 + fv);
        let du = fu + bu.sample(tx, ty);
        let dv = fv + bv.sample(tx, ty);
        (du * du + dv * dv).sqrt()
    }))
}

/// Pixels of frame1 that are not visible in frame2 (`true` = occluded), by the forward–backward test of Sundaram,
/// Brox & Keutzer (ECCV 2010): `|f + b̃|² > 0.01 (|f|² + |b̃|²) + 0.5`, with `b̃ = bwd(x + fwd(x))`; pixels whose
/// target leaves the frame are occluded too.
pub fn occlusion_mask(fwd: ArrayView3<f32>, bwd: ArrayView3<f32>) -> Result<Array2<bool>, FlowError> {
    let (h, w, _) = fwd.dim();
    check_flow(fwd, h, w, "forward flow")?;
    check_flow(bwd, h, w, "backward flow")?;
    let bu = Plane::from_view(bwd.index_axis(Axis(2), 0), 1.0);
    let bv = Plane::from_view(bwd.index_axis(Axis(2), 1), 1.0);
    let mut mask = Array2::from_elem((h, w), false);
    Zip::indexed(&mut mask).for_each(|(y, x), m| {
        let (fu, fv) = (fwd[[y, x, 0]], fwd[[y, x, 1]]);
        let (tx, ty) = (x as f32 + fu, y as f32 + fv);
        if tx < 0.0 || ty < 0.0 || tx > (w - 1) as f32 || ty > (h - 1) as f32 {
            *m = true;
            return;
        }
        let (b_u, b_v) = (bu.sample(tx, ty), bv.sample(tx, ty));
        let (du, dv) = (fu + b_u, fv + b_v);
        *m = du * du + dv * dv > 0.01 * (fu * fu + fv * fv + b_u * b_u + b_v * b_v) + 0.5;
    });
    Ok(mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warp_follows_the_convention() {
        // frame2 is frame1 moved 2 px to the right: flow u = +2, and warp(frame2, flow) = frame1 away from borders.
        let f1 = Array2::from_shape_fn((6, 10), |(y, x)| (x * x + 3 * y) as f32);
        let f2 = Array2::from_shape_fn((6, 10), |(y, x)| f1[[y, x.saturating_sub(2)]]);
        let mut flow = Array3::<f32>::zeros((6, 10, 2));
        flow.index_axis_mut(Axis(2), 0).fill(2.0);
        let back = warp(f2.view(), flow.view()).unwrap();
        for y in 0..6 {
            for x in 0..8 {
                assert_eq!(back[[y, x]], f1[[y, x]]);
            }
        }
        assert_eq!(photometric_residual(f1.view(), f2.view(), flow.view()).unwrap(), 0.0);
    }

    #[test]
    fn epe_rms_and_consistency() {
        let mut a = Array3::<f32>::zeros((4, 5, 2));
        a.index_axis_mut(Axis(2), 0).fill(3.0);
        a.index_axis_mut(Axis(2), 1).fill(4.0);
        let z = Array3::<f32>::zeros((4, 5, 2));
        let s = endpoint_error(a.view(), z.view()).unwrap();
        assert!((s.mean - 5.0).abs() < 1e-9 && (s.median - 5.0).abs() < 1e-9 && s.above_1px == 1.0);
        assert!((rms_magnitude(a.view()).unwrap() - 5.0).abs() < 1e-9);
        let b = a.mapv(|x| -x);
        let fb = forward_backward_error(a.view(), b.view()).unwrap();
        assert!(fb.iter().all(|&e| e < 1e-6));
        assert!(endpoint_error(a.view(), Array3::<f32>::zeros((4, 4, 2)).view()).is_err());
        let mut nan = z.clone();
        nan[[1, 2, 0]] = f32::NAN;
        match rms_magnitude(nan.view()) {
            Err(FlowError::NonFinite { row: 1, col: 2, .. }) => {}
            other => panic!("expected NonFinite, got {other:?}"),
        }
    }

    #[test]
    fn occlusion_flags_inconsistent_and_leaving_pixels() {
        let mut f = Array3::<f32>::zeros((8, 8, 2));
        let mut b = Array3::<f32>::zeros((8, 8, 2));
        f.index_axis_mut(Axis(2), 0).fill(1.0);
        b.index_axis_mut(Axis(2), 0).fill(-1.0);
        b[[3, 4, 0]] = 5.0; // inconsistent backward vector at the target of (3, 3)
        let m = occlusion_mask(f.view(), b.view()).unwrap();
        assert!(m[[3, 3]]);
        assert!(m[[0, 7]], "target leaves the frame");
        assert!(!m[[5, 2]]);
    }
}
