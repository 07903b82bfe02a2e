//! Variational refinement of a dense flow field (the last stage of DIS, Kroeger et al. 2016, in the form popularised
//! by OpenCV's `VariationalRefinement`).
//!
//! Energy, linearised around the current flow `w = (u, v)` and minimised for an increment `dw = (du, dv)`:
//!
//! ```text
//! E(dw) = Σ_x  δ Ψ(ρ_I(dw)) + γ Ψ(ρ_G(dw))  +  α Σ_edges Ψ(|∇(w + dw)|²)
//! ρ_I = (I_z + I_x du + I_y dv)² / (|∇I|² + ζ²)                          (normalised brightness constancy)
//! ρ_G = (I_xz + I_xx du + I_xy dv)² / (I_xx² + I_xy² + ζ²)
//!     + (I_yz + I_xy du + I_yy dv)² / (I_yy² + I_xy² + ζ²)              (normalised gradient constancy)
//! Ψ(s²) = sqrt(s² + ε²)                                                  (robust Charbonnier penalty)
//! ```
//!
//! The derivatives are taken on the average of `I0` and the warped `I1` (`I_z = I1(x + w) − I0(x)`). The robust
//! weights are frozen in each of `outer_iters` fixed-point iterations, and the resulting sparse linear system is
//! solved approximately by `sor_iters` red–black successive over-relaxation sweeps.

use crate::plane::Plane;

/// Parameters of the variational refinement (defaults: OpenCV's `VariationalRefinement`, for intensities 0–255).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VariationalParams {
    /// Smoothness weight α.
    pub alpha: f32,
    /// Brightness-constancy weight δ.
    pub delta: f32,
    /// Gradient-constancy weight γ.
    pub gamma: f32,
    /// Fixed-point (outer) iterations; 0 disables the refinement.
    pub outer_iters: usize,
    /// Red–black SOR sweeps per fixed-point iteration.
    pub sor_iters: usize,
    /// SOR relaxation factor (1 = Gauss–Seidel).
    pub omega: f32,
    /// ε of the robust penalty Ψ(s²) = sqrt(s² + ε²) in the smoothness term (flow-gradient units, px/px). Small
    /// values make nearly constant flow very stiff, which suits refinement of a good initial flow (DIS) but slows
    /// a from-scratch solution down.
    pub smooth_epsilon: f32,
}

impl Default for VariationalParams {
    fn default() -> Self {
        VariationalParams {
            alpha: 20.0,
            delta: 5.0,
            gamma: 10.0,
            outer_iters: 5,
            sor_iters: 5,
            omega: 1.6,
            smooth_epsilon: 0.001,
        }
    }
}

const ZETA2: f32 = 0.1 * 0.1;
const EPS2: f32 = 0.001 * 0.001;

/// Refines `(u, v)` in place so that `i1(x + w(x)) ≈ i0(x)`.
// One solver (outer warps, inner fixed-point iterations over shared planes) kept in one function (~150 lines).
pub(crate) fn refine(i0: &Plane, i1: &Plane, u: &mut Plane, v: &mut Plane, p: &VariationalParams) {
    if p.outer_iters == 0 {
        return;
    }
    let (w, h) = (i0.w, i0.h);
    let n = w * h;
    let i1w = i1.warp(u, v);
    let mut avg = Plane::zeros(w, h);
    let mut iz = Plane::zeros(w, h);
    for k in 0..n {
        avg.data[k] = 0.5 * (i0.data[k] + i1w.data[k]);
        iz.data[k] = i1w.data[k] - i0.data[k];
    }
    let (ix, iy) = avg.central_diff();
    let (ixz, iyz) = iz.central_diff();
    let (ixx, ixy) = ix.central_diff();
    let (_, iyy) = iy.central_diff();

    // All per-pixel arrays use a padded layout: one extra row/column on each side, so that the loops below run over
    // contiguous row segments (vectorisable) and the SOR sweep reads its four neighbours without branches. The
    // smoothness weights on the padding are zero, which removes those edges (Neumann boundary).
    let pw = w + 2;
    let ph = h + 2;
    let np = pw * ph;
    let row = |y: usize| (y + 1) * pw + 1..(y + 1) * pw + 1 + w;
    let pad = |src: &Plane| {
        let mut out = vec![0.0f32; np];
        for y in 0..h {
            out[row(y)].copy_from_slice(&src.data[y * w..(y + 1) * w]);
        }
        out
    };
    // Terms of the data energy that do not depend on the increment, precomputed once per call.
    let (gx, gy, gz) = (pad(&ix), pad(&iy), pad(&iz));
    let mut inv_n = vec![0.0f32; np];
    let mut p11 = vec![0.0f32; np];
    let mut p12 = vec![0.0f32; np];
    let mut p22 = vec![0.0f32; np];
    let mut q1 = vec![0.0f32; np];
    let mut q2 = vec![0.0f32; np];
    // Gradient-constancy residuals are (gxz, gyz) + M (du, dv) with M = [[gxx, gxy], [gxy, gyy]]; each is divided by
    // its own normaliser n1, n2. Stored: M entries, constants and 1/n1, 1/n2.
    let (gxx, gxy, gyy, gxz, gyz) = (pad(&ixx), pad(&ixy), pad(&iyy), pad(&ixz), pad(&iyz));
    let mut inv_n1 = vec![0.0f32; np];
    let mut inv_n2 = vec![0.0f32; np];
    for y in 0..h {
        for q in row(y) {
            inv_n[q] = 1.0 / (gx[q] * gx[q] + gy[q] * gy[q] + ZETA2);
            let a = 1.0 / (gxx[q] * gxx[q] + gxy[q] * gxy[q] + ZETA2);
            let b = 1.0 / (gyy[q] * gyy[q] + gxy[q] * gxy[q] + ZETA2);
            inv_n1[q] = a;
            inv_n2[q] = b;
            p11[q] = gxx[q] * gxx[q] * a + gxy[q] * gxy[q] * b;
            p12[q] = gxx[q] * gxy[q] * a + gxy[q] * gyy[q] * b;
            p22[q] = gxy[q] * gxy[q] * a + gyy[q] * gyy[q] * b;
            q1[q] = gxx[q] * gxz[q] * a + gxy[q] * gyz[q] * b;
            q2[q] = gxy[q] * gxz[q] * a + gyy[q] * gyz[q] * b;
        }
    }

    let up = pad(u);
    let vp = pad(v);
    let mut du = vec![0.0f32; np];
    let mut dv = vec![0.0f32; np];
    // wr: weight of the edge to the right neighbour, wd: to the neighbour below (zero where there is none).
    let mut wr = vec![0.0f32; np];
    let mut wd = vec![0.0f32; np];
    // Inverse diagonal of the system (1 on the padding, never used), off-diagonal a12, right-hand side b.
    let mut inv_a11 = vec![1.0f32; np];
    let mut inv_a22 = vec![1.0f32; np];
    let mut a12 = vec![0.0f32; np];
    let mut b1 = vec![0.0f32; np];
    let mut b2 = vec![0.0f32; np];
    let mut a11 = vec![0.0f32; np];
    let mut a22 = vec![0.0f32; np];
    let mut rb = RedBlack::new(w, h);
    let half_alpha = 0.5 * p.alpha;
    let half_delta = 0.5 * p.delta;
    let half_gamma = 0.5 * p.gamma;
    let seps2 = p.smooth_epsilon * p.smooth_epsilon;

    for _ in 0..p.outer_iters {
        // Data term with the robust weights frozen at the current increment.
        for y in 0..h {
            for q in row(y) {
                let (d_u, d_v) = (du[q], dv[q]);
                let r = gz[q] + gx[q] * d_u + gy[q] * d_v;
                let wi = half_delta * inv_n[q] / (r * r * inv_n[q] + EPS2).sqrt();
                let rx = gxz[q] + gxx[q] * d_u + gxy[q] * d_v;
                let ry = gyz[q] + gxy[q] * d_u + gyy[q] * d_v;
                let wg = half_gamma / (rx * rx * inv_n1[q] + ry * ry * inv_n2[q] + EPS2).sqrt();
                a11[q] = wi * gx[q] * gx[q] + ZETA2 + wg * p11[q];
                a12[q] = wi * gx[q] * gy[q] + wg * p12[q];
                a22[q] = wi * gy[q] * gy[q] + ZETA2 + wg * p22[q];
                b1[q] = -wi * gz[q] * gx[q] - wg * q1[q];
                b2[q] = -wi * gz[q] * gy[q] - wg * q2[q];
            }
        }
        // Smoothness weights from forward differences of the current flow w + dw (one weight per pixel, shared by
        // its right and lower edges; the differences across the image border are zero).
        for y in 0..h {
            let r = row(y);
            let last_row = y + 1 == h;
            for q in r.start..r.end - 1 {
                let cu = up[q] + du[q];
                let cv = vp[q] + dv[q];
                let ux = up[q + 1] + du[q + 1] - cu;
                let vx = vp[q + 1] + dv[q + 1] - cv;
                let (uy, vy) =
                    if last_row { (0.0, 0.0) } else { (up[q + pw] + du[q + pw] - cu, vp[q + pw] + dv[q + pw] - cv) };
                let ws = half_alpha / (ux * ux + vx * vx + uy * uy + vy * vy + seps2).sqrt();
                wr[q] = ws;
                wd[q] = if last_row { 0.0 } else { ws };
            }
            let q = r.end - 1;
            let (uy, vy) = if last_row {
                (0.0, 0.0)
            } else {
                (up[q + pw] + du[q + pw] - up[q] - du[q], vp[q + pw] + dv[q + pw] - vp[q] - dv[q])
            };
            let ws = half_alpha / (uy * uy + vy * vy + seps2).sqrt();
            wr[q] = 0.0;
            wd[q] = if last_row { 0.0 } else { ws };
        }
        // Smoothness part of the right-hand side and of the diagonal; then invert the diagonal once.
        for y in 0..h {
            for q in row(y) {
                let (e_r, e_l, e_d, e_u) = (wr[q], wr[q - 1], wd[q], wd[q - pw]);
                let sum = e_r + e_l + e_d + e_u;
                b1[q] += e_r * (up[q + 1] - up[q])
                    + e_l * (up[q - 1] - up[q])
                    + e_d * (up[q + pw] - up[q])
                    + e_u * (up[q - pw] - up[q]);
                b2[q] += e_r * (vp[q + 1] - vp[q])
                    + e_l * (vp[q - 1] - vp[q])
                    + e_d * (vp[q + pw] - vp[q])
                    + e_u * (vp[q - pw] - vp[q]);
                inv_a11[q] = 1.0 / (a11[q] + sum);
                inv_a22[q] = 1.0 / (a22[q] + sum);
            }
        }
        // Red–black SOR on the linear system, in the split layout (see `RedBlack`).
        rb.scatter(&inv_a11, &inv_a22, &a12, &b1, &b2, &wr, &wd, &du, &dv);
        rb.sor(p.sor_iters, p.omega);
        rb.gather(&mut du, &mut dv);
    }
    for y in 0..h {
        let r = row(y);
        for (x, q) in r.enumerate() {
            u.data[y * w + x] += du[q];
            v.data[y * w + x] += dv[q];
        }
    }
}

/// The linear system of one fixed-point iteration in a red–black split layout, for the SOR sweeps.
///
/// Pixel (x, y) has colour `(x + y) % 2` and index `j = x / 2` in its colour's buffers, which hold rows of
/// `w2 = ceil(w / 2)` entries with one padding entry on each side and one padding row above and below. All four
/// neighbours of a pixel have the other colour: up and down at the same `j` in the rows above and below, left and
/// right at `j − 1, j` (pixel x even) or `j, j + 1` (x odd). A half-sweep over one colour then reads the other
/// colour only and runs over contiguous memory, which the compiler vectorises; in the plain layout the stride-2
/// access kept it scalar and the sweeps took about three quarters of the refinement time.
struct RedBlack {
    w: usize,
    h: usize,
    stride: usize,
    /// Per colour: 1/A11, 1/A22, A12, b1, b2, right-edge weight, down-edge weight, du, dv.
    c: [[Vec<f32>; 9]; 2],
}

const INV11: usize = 0;
const INV22: usize = 1;
const WR: usize = 5;
const WD: usize = 6;
const DU: usize = 7;
const DV: usize = 8;

impl RedBlack {
    fn new(w: usize, h: usize) -> RedBlack {
        let stride = w.div_ceil(2) + 2;
        let n = stride * (h + 2);
        let make = || std::array::from_fn(|k| vec![if k == INV11 || k == INV22 { 1.0 } else { 0.0 }; n]);
        RedBlack { w, h, stride, c: [make(), make()] }
    }

    /// (colour, index) of pixel (x, y).
    #[inline]
    fn index(&self, x: usize, y: usize) -> (usize, usize) {
        ((x + y) % 2, (y + 1) * self.stride + x / 2 + 1)
    }

    /// Copies the system from the padded plain layout (row stride `w + 2`, one padding row/column).
    #[allow(clippy::too_many_arguments)]
    fn scatter(
        &mut self,
        inv11: &[f32],
        inv22: &[f32],
        a12: &[f32],
        b1: &[f32],
        b2: &[f32],
        wr: &[f32],
        wd: &[f32],
        du: &[f32],
        dv: &[f32],
    ) {
        let pw = self.w + 2;
        let srcs = [inv11, inv22, a12, b1, b2, wr, wd, du, dv];
        for y in 0..self.h {
            for x in 0..self.w {
                let q = (y + 1) * pw + x + 1;
                let (c, i) = self.index(x, y);
                for (k, src) in srcs.iter().enumerate() {
                    self.c[c][k][i] = src[q];
                }
            }
        }
    }

    fn gather(&self, du: &mut [f32], dv: &mut [f32]) {
        let pw = self.w + 2;
        for y in 0..self.h {
            for x in 0..self.w {
                let q = (y + 1) * pw + x + 1;
                let (c, i) = self.index(x, y);
                du[q] = self.c[c][DU][i];
                dv[q] = self.c[c][DV][i];
            }
        }
    }

    fn sor(&mut self, iters: usize, omega: f32) {
        let stride = self.stride;
        for _ in 0..iters {
            for color in 0..2 {
                let [red, black] = &mut self.c;
                let (cur, other) = if color == 0 { (red, &*black) } else { (black, &*red) };
                let [inv11, inv22, a12, b1, b2, wr, wd, du, dv] = cur;
                for y in 0..self.h {
                    // x parity of this colour's pixels in row y, and the number of them.
                    let s = (y + color) % 2;
                    let n = (self.w - s).div_ceil(2);
                    let base = (y + 1) * stride + 1;
                    // Index offsets of the left and right neighbours in the other colour's row.
                    let (l, r) = if s == 0 { (base - 1, base) } else { (base, base + 1) };
                    let (up, down) = (base - stride, base + stride);
                    let o_du = &other[DU];
                    let o_dv = &other[DV];
                    let (du_l, du_r, du_u, du_d) =
                        (&o_du[l..l + n], &o_du[r..r + n], &o_du[up..up + n], &o_du[down..down + n]);
                    let (dv_l, dv_r, dv_u, dv_d) =
                        (&o_dv[l..l + n], &o_dv[r..r + n], &o_dv[up..up + n], &o_dv[down..down + n]);
                    let e_l = &other[WR][l..l + n];
                    let e_u = &other[WD][up..up + n];
                    let e_r = &wr[base..base + n];
                    let e_d = &wd[base..base + n];
                    let (i11, i22, c12, r1, r2) = (
                        &inv11[base..base + n],
                        &inv22[base..base + n],
                        &a12[base..base + n],
                        &b1[base..base + n],
                        &b2[base..base + n],
                    );
                    let du = &mut du[base..base + n];
                    let dv = &mut dv[base..base + n];
                    for j in 0..n {
                        let nu = e_r[j] * du_r[j] + e_l[j] * du_l[j] + e_d[j] * du_d[j] + e_u[j] * du_u[j];
                        let nv = e_r[j] * dv_r[j] + e_l[j] * dv_l[j] + e_d[j] * dv_d[j] + e_u[j] * dv_u[j];
                        let new_u = (r1[j] + nu - c12[j] * dv[j]) * i11[j];
                        let cu = du[j] + omega * (new_u - du[j]);
                        du[j] = cu;
                        let new_v = (r2[j] + nv - c12[j] * cu) * i22[j];
                        dv[j] += omega * (new_v - dv[j]);
                    }
                }
            }
        }
    }
}
