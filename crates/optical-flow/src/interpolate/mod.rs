//! Flow-based interpolation between two images (a morph along the estimated motion) and the plain cross-fade it is
//! compared with.
//!
//! Let `F` be the flow A → B (`B(x + F(x)) ≈ A(x)`) and `G` the flow B → A (`A(x + G(x)) ≈ B(x)`). Under linear
//! motion, the point at `p` in A is at `p + t F(p)` at time `t ∈ [0, 1]`, and the point at `q` in B is at
//! `q + (1 − t) G(q)`. For each output pixel `x` the morph inverts both motions by fixed-point iteration
//! (`p ← x − t F(p)`, `q ← x − (1 − t) G(q)`, starting at `x`), samples `A(p)` and `B(q)` bilinearly, and blends
//! them with weights `(1 − t)·visA(p)` and `t·visB(q)`. `visA(p)` is 0 where A's pixel has no counterpart in B
//! (forward–backward occlusion test, [`crate::occlusion_mask`]) and 1 elsewhere, so occluded content is taken from
//! the one image that shows it; where both are 0 the plain time weights are used. At `t = 0` the morph is A, at
//! `t = 1` it is B.

mod sequence;

pub use sequence::{
    interpolate_files, write_interpolate_dir, InterpolateOptions, InterpolateReport, DEFAULT_STEPS, MAX_STEPS,
};

use ndarray::{Array2, Array3, ArrayView3, Axis};

use crate::io::to_gray;
use crate::metrics::{check_flow, occlusion_mask};
use crate::plane::Plane;
use crate::{Flow, FlowError, FlowEstimator};

/// Options of [`Morph`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MorphParams {
    /// Fixed-point iterations used to invert the motion at each pixel.
    pub inversion_iters: usize,
    /// Use the forward–backward occlusion test to take occluded content from one image only.
    pub occlusion_aware: bool,
}

impl Default for MorphParams {
    fn default() -> Self {
        MorphParams { inversion_iters: 6, occlusion_aware: true }
    }
}

fn check_pair(a: &ArrayView3<f32>, b: &ArrayView3<f32>) -> Result<(), FlowError> {
    let (h1, w1, c1) = a.dim();
    let (h2, w2, c2) = b.dim();
    if (h1, w1) != (h2, w2) {
        return Err(FlowError::SizeMismatch { first: "image A".into(), w1, h1, second: "image B".into(), w2, h2 });
    }
    if c1 != c2 || c1 == 0 {
        return Err(FlowError::BadShape {
            what: "image B".into(),
            shape: b.shape().to_vec(),
            expected: format!("the same channels as image A ({c1})"),
        });
    }
    Ok(())
}

/// Linear cross-fade `(1 − t) A + t B` of two `(height, width, channels)` images.
pub fn cross_fade(a: ArrayView3<f32>, b: ArrayView3<f32>, t: f32) -> Result<Array3<f32>, FlowError> {
    check_pair(&a, &b)?;
    check_t(t)?;
    Ok(&a * (1.0 - t) + &b * t)
}

fn check_t(t: f32) -> Result<(), FlowError> {
    if (0.0..=1.0).contains(&t) {
        Ok(())
    } else {
        Err(FlowError::InvalidParam { name: "t", value: t.to_string(), reason: "must lie in [0, 1]".into() })
    }
}

/// A flow-based morph between two images (see the module docs).
#[derive(Clone, Debug)]
pub struct Morph {
    a: Vec<Plane>,
    b: Vec<Plane>,
    fwd: Flow,
    bwd: Flow,
    fu: Plane,
    fv: Plane,
    gu: Plane,
    gv: Plane,
    vis_a: Plane,
    vis_b: Plane,
    params: MorphParams,
}

fn channels(img: ArrayView3<f32>) -> Vec<Plane> {
    img.axis_iter(Axis(2)).map(|c| Plane::from_view(c, 1.0)).collect()
}

impl Morph {
    /// Estimates both flows (on the grey versions of the images, in parallel) and prepares the morph.
    pub fn new(
        a: ArrayView3<f32>,
        b: ArrayView3<f32>,
        estimator: &FlowEstimator,
        params: MorphParams,
    ) -> Result<Morph, FlowError> {
        check_pair(&a, &b)?;
        let ga = to_gray(a)?;
        let gb = to_gray(b)?;
        let pa = estimator.prepare_named(ga.view(), "image A")?;
        let pb = estimator.prepare_named(gb.view(), "image B")?;
        let (fwd, bwd) = rayon::join(|| estimator.flow(&pa, &pb), || estimator.flow(&pb, &pa));
        Morph::from_flows(a, b, fwd?, bwd?, params)
    }

    /// Prepares a morph from given flows: `fwd` A → B and `bwd` B → A.
    pub fn from_flows(
        a: ArrayView3<f32>,
        b: ArrayView3<f32>,
        fwd: Flow,
        bwd: Flow,
        params: MorphParams,
    ) -> Result<Morph, FlowError> {
        check_pair(&a, &b)?;
        let (h, w, _) = a.dim();
        check_flow(fwd.view(), h, w, "forward flow")?;
        check_flow(bwd.view(), h, w, "backward flow")?;
        let vis = |m: Array2<bool>| {
            let mut p = Plane::zeros(w, h);
            for ((y, x), &occ) in m.indexed_iter() {
                p.data[y * w + x] = if occ { 0.0 } else { 1.0 };
            }
            p
        };
        let (vis_a, vis_b) = if params.occlusion_aware {
            (vis(occlusion_mask(fwd.view(), bwd.view())?), vis(occlusion_mask(bwd.view(), fwd.view())?))
        } else {
            let mut one = Plane::zeros(w, h);
            one.data.fill(1.0);
            (one.clone(), one)
        };
        Ok(Morph {
            a: channels(a),
            b: channels(b),
            fu: Plane::from_view(fwd.index_axis(Axis(2), 0), 1.0),
            fv: Plane::from_view(fwd.index_axis(Axis(2), 1), 1.0),
            gu: Plane::from_view(bwd.index_axis(Axis(2), 0), 1.0),
            gv: Plane::from_view(bwd.index_axis(Axis(2), 1), 1.0),
            fwd,
            bwd,
            vis_a,
            vis_b,
            params,
        })
    }

    /// Flow A → B.
    pub fn forward_flow(&self) -> &Flow {
        &self.fwd
    }

    /// Flow B → A.
    pub fn backward_flow(&self) -> &Flow {
        &self.bwd
    }

    /// The morph at time `t ∈ [0, 1]`, shape `(height, width, channels)`.
    pub fn frame(&self, t: f32) -> Result<Array3<f32>, FlowError> {
        check_t(t)?;
        let (w, h) = (self.a[0].w, self.a[0].h);
        let nc = self.a.len();
        let mut out = Array3::<f32>::zeros((h, w, nc));
        let s = 1.0 - t;
        for y in 0..h {
            for x in 0..w {
                let (xf, yf) = (x as f32, y as f32);
                // Where the content of x came from in A (p) and in B (q).
                let (mut px, mut py) = (xf, yf);
                let (mut qx, mut qy) = (xf, yf);
                for _ in 0..self.params.inversion_iters {
                    (px, py) = (xf - t * self.fu.sample(px, py), yf - t * self.fv.sample(px, py));
                    (qx, qy) = (xf - s * self.gu.sample(qx, qy), yf - s * self.gv.sample(qx, qy));
                }
                let mut wa = s * self.vis_a.sample(px, py);
                let mut wb = t * self.vis_b.sample(qx, qy);
                if wa + wb <= 1e-6 {
                    wa = s;
                    wb = t;
                }
                let norm = 1.0 / (wa + wb);
                for c in 0..nc {
                    let va = if wa > 0.0 { self.a[c].sample(px, py) } else { 0.0 };
                    let vb = if wb > 0.0 { self.b[c].sample(qx, qy) } else { 0.0 };
                    out[[y, x, c]] = (wa * va + wb * vb) * norm;
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic;

    #[test]
    fn morph_of_a_translation_is_the_intermediate_translation() {
        // A smooth texture translated by (6, −4) px: at t = 0.5 the morph must be the texture translated by (3, −2),
        // while the cross-fade is a double image.
        let (w, h) = (64, 48);
        let texture = synthetic::Texture::new(7);
        let tex =
            |dx: f32, dy: f32| Array3::from_shape_fn((h, w, 1), |(y, x, _)| texture.at(x as f32 - dx, y as f32 - dy));
        let (a, b, mid) = (tex(0.0, 0.0), tex(6.0, -4.0), tex(3.0, -2.0));
        let mut fwd = Array3::<f32>::zeros((h, w, 2));
        fwd.index_axis_mut(Axis(2), 0).fill(6.0);
        fwd.index_axis_mut(Axis(2), 1).fill(-4.0);
        let bwd = fwd.mapv(|x| -x);
        let m = Morph::from_flows(a.view(), b.view(), fwd, bwd, MorphParams::default()).unwrap();
        let f = m.frame(0.5).unwrap();
        let cf = cross_fade(a.view(), b.view(), 0.5).unwrap();
        let inner = ndarray::s![8..h - 8, 8..w - 8, ..];
        let err_morph = (&f.slice(inner) - &mid.slice(inner)).mapv(f32::abs).mean().unwrap();
        let err_fade = (&cf.slice(inner) - &mid.slice(inner)).mapv(f32::abs).mean().unwrap();
        assert!(err_morph < 0.01, "morph error {err_morph}");
        assert!(err_fade > 5.0 * err_morph, "cross-fade {err_fade} vs morph {err_morph}");
        assert_eq!(m.frame(0.0).unwrap(), a);
        assert!((&m.frame(1.0).unwrap() - &b).mapv(f32::abs).iter().all(|&e| e < 1e-5));
        assert!(m.frame(1.5).is_err());
    }
}
