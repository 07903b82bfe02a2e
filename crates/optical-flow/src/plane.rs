//! A minimal row-major `f32` image plane used inside the flow solvers.
//!
//! The solvers work on flat `Vec<f32>` buffers rather than `ndarray` views: the inner loops index neighbours with
//! precomputed offsets (row stride ±1), which keeps them branch-free and lets the compiler vectorise them.

use ndarray::ArrayView2;

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Plane {
    pub w: usize,
    pub h: usize,
    pub data: Vec<f32>,
}

impl Plane {
    pub fn zeros(w: usize, h: usize) -> Plane {
        Plane { w, h, data: vec![0.0; w * h] }
    }

    /// Copies a 2-D view (rows = y), multiplying every value by `scale`.
    pub fn from_view(view: ArrayView2<f32>, scale: f32) -> Plane {
        let (h, w) = view.dim();
        let mut data = Vec::with_capacity(w * h);
        for row in view.rows() {
            data.extend(row.iter().map(|&x| x * scale));
        }
        Plane { w, h, data }
    }

    #[cfg(test)]
    pub fn at(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.w + x]
    }

    /// 2×2 box average (OpenCV's `INTER_AREA` for an exact factor of two); an odd last row/column is dropped, so the
    /// pixel `x` of the result is centred on `2x + 0.5` of the input.
    pub fn downsample2(&self) -> Plane {
        let (w2, h2) = (self.w / 2, self.h / 2);
        let mut out = Plane::zeros(w2, h2);
        for y in 0..h2 {
            let r0 = &self.data[(2 * y) * self.w..(2 * y) * self.w + self.w];
            let r1 = &self.data[(2 * y + 1) * self.w..(2 * y + 1) * self.w + self.w];
            let o = &mut out.data[y * w2..(y + 1) * w2];
            for (x, ov) in o.iter_mut().enumerate() {
                *ov = 0.25 * (r0[2 * x] + r0[2 * x + 1] + r1[2 * x] + r1[2 * x + 1]);
            }
        }
        out
    }

    /// Copy with a replicated border of `b` pixels on every side.
    pub fn padded(&self, b: usize) -> Plane {
        let pw = self.w + 2 * b;
        let ph = self.h + 2 * b;
        let mut out = Plane::zeros(pw, ph);
        for py in 0..ph {
            let y = py.saturating_sub(b).min(self.h - 1);
            let src = &self.data[y * self.w..(y + 1) * self.w];
            let dst = &mut out.data[py * pw..(py + 1) * pw];
            dst[..b].fill(src[0]);
            dst[b..b + self.w].copy_from_slice(src);
            dst[b + self.w..].fill(src[self.w - 1]);
        }
        out
    }

    /// Bilinear sample at (x, y) with replicated borders (coordinates outside the image are clamped).
    #[inline]
    pub fn sample(&self, x: f32, y: f32) -> f32 {
        let xm = (self.w - 1) as f32;
        let ym = (self.h - 1) as f32;
        let x = x.clamp(0.0, xm);
        let y = y.clamp(0.0, ym);
        // Truncation is floor for the non-negative clamped coordinates (and avoids a libm call on baseline x86-64).
        let x0 = x as usize;
        let y0 = y as usize;
        let fx = x - x0 as f32;
        let fy = y - y0 as f32;
        let x1 = (x0 + 1).min(self.w - 1);
        let y1 = (y0 + 1).min(self.h - 1);
        let r0 = y0 * self.w;
        let r1 = y1 * self.w;
        let a = self.data[r0 + x0] + fx * (self.data[r0 + x1] - self.data[r0 + x0]);
        let b = self.data[r1 + x0] + fx * (self.data[r1 + x1] - self.data[r1 + x0]);
        a + fy * (b - a)
    }

    /// Sobel derivatives divided by 8 (so that they estimate the true gradient), replicated borders.
    pub fn sobel(&self) -> (Plane, Plane) {
        let (w, h) = (self.w, self.h);
        let mut gx = Plane::zeros(w, h);
        let mut gy = Plane::zeros(w, h);
        for y in 0..h {
            let ym = y.saturating_sub(1);
            let yp = (y + 1).min(h - 1);
            let rm = &self.data[ym * w..(ym + 1) * w];
            let r0 = &self.data[y * w..(y + 1) * w];
            let rp = &self.data[yp * w..(yp + 1) * w];
            for x in 0..w {
                let xm = x.saturating_sub(1);
                let xp = (x + 1).min(w - 1);
                let dx = (rm[xp] - rm[xm]) + 2.0 * (r0[xp] - r0[xm]) + (rp[xp] - rp[xm]);
                let dy = (rp[xm] - rm[xm]) + 2.0 * (rp[x] - rm[x]) + (rp[xp] - rm[xp]);
                gx.data[y * w + x] = dx * 0.125;
                gy.data[y * w + x] = dy * 0.125;
            }
        }
        (gx, gy)
    }

    /// Central differences `(f(x+1) - f(x-1)) / 2` in x and y, replicated borders.
    pub fn central_diff(&self) -> (Plane, Plane) {
        let (w, h) = (self.w, self.h);
        let mut gx = Plane::zeros(w, h);
        let mut gy = Plane::zeros(w, h);
        for y in 0..h {
            let ym = y.saturating_sub(1);
            let yp = (y + 1).min(h - 1);
            let r0 = &self.data[y * w..(y + 1) * w];
            let rm = &self.data[ym * w..(ym + 1) * w];
            let rp = &self.data[yp * w..(yp + 1) * w];
            let ox = &mut gx.data[y * w..(y + 1) * w];
            if w > 1 {
                ox[0] = 0.5 * (r0[1] - r0[0]);
                ox[w - 1] = 0.5 * (r0[w - 1] - r0[w - 2]);
                for x in 1..w - 1 {
                    ox[x] = 0.5 * (r0[x + 1] - r0[x - 1]);
                }
            }
            let oy = &mut gy.data[y * w..(y + 1) * w];
            for x in 0..w {
                oy[x] = 0.5 * (rp[x] - rm[x]);
            }
        }
        (gx, gy)
    }

    /// Backward warp: `out(x) = self(x + u(x), y + v(x))`, bilinear, replicated borders.
    pub fn warp(&self, u: &Plane, v: &Plane) -> Plane {
        let mut out = Plane::zeros(self.w, self.h);
        for y in 0..self.h {
            for x in 0..self.w {
                let i = y * self.w + x;
                out.data[i] = self.sample(x as f32 + u.data[i], y as f32 + v.data[i]);
            }
        }
        out
    }
}

/// Resizes a flow component from `src` to a `w`×`h` grid whose pixels are `factor` times smaller (half-pixel centres
/// aligned as in [`Plane::downsample2`]), multiplying the values by `factor`.
pub(crate) fn upscale_flow(src: &Plane, w: usize, h: usize, factor: f32) -> Plane {
    let mut out = Plane::zeros(w, h);
    let inv = 1.0 / factor;
    let xs: Vec<f32> = (0..w).map(|x| (x as f32 + 0.5) * inv - 0.5).collect();
    for y in 0..h {
        let sy = (y as f32 + 0.5) * inv - 0.5;
        let row = &mut out.data[y * w..(y + 1) * w];
        for (x, o) in row.iter_mut().enumerate() {
            *o = factor * src.sample(xs[x], sy);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(w: usize, h: usize) -> Plane {
        let mut p = Plane::zeros(w, h);
        for y in 0..h {
            for x in 0..w {
                p.data[y * w + x] = 3.0 * x as f32 + 5.0 * y as f32;
            }
        }
        p
    }

    #[test]
    fn gradients_of_a_ramp_are_exact_inside() {
        let p = ramp(9, 7);
        let (gx, gy) = p.sobel();
        let (cx, cy) = p.central_diff();
        for y in 1..6 {
            for x in 1..8 {
                assert!((gx.at(x, y) - 3.0).abs() < 1e-5 && (gy.at(x, y) - 5.0).abs() < 1e-5);
                assert!((cx.at(x, y) - 3.0).abs() < 1e-5 && (cy.at(x, y) - 5.0).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn downsample_keeps_ramp_centres() {
        let p = ramp(10, 8);
        let d = p.downsample2();
        assert_eq!((d.w, d.h), (5, 4));
        // pixel (x, y) of the half-size image is centred on (2x + 0.5, 2y + 0.5)
        for y in 0..4 {
            for x in 0..5 {
                let want = 3.0 * (2.0 * x as f32 + 0.5) + 5.0 * (2.0 * y as f32 + 0.5);
                assert!((d.at(x, y) - want).abs() < 1e-4);
            }
        }
    }

    #[test]
    fn padded_replicates_and_sample_clamps() {
        let p = ramp(4, 3);
        let q = p.padded(2);
        assert_eq!((q.w, q.h), (8, 7));
        assert_eq!(q.at(0, 0), p.at(0, 0));
        assert_eq!(q.at(7, 6), p.at(3, 2));
        assert_eq!(q.at(3, 3), p.at(1, 1));
        assert!((p.sample(1.5, 0.25) - (3.0 * 1.5 + 5.0 * 0.25)).abs() < 1e-5);
        assert_eq!(p.sample(-4.0, 10.0), p.at(0, 2));
    }

    #[test]
    fn upscale_of_constant_flow_scales_values() {
        let mut c = Plane::zeros(4, 4);
        c.data.fill(1.5);
        let u = upscale_flow(&c, 9, 8, 2.0);
        assert!(u.data.iter().all(|&x| (x - 3.0).abs() < 1e-6));
    }
}
