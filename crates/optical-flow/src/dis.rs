//! Dense Inverse Search (Kroeger, Timofte, Dai, Van Gool, ECCV 2016), written from the paper: per pyramid level,
//! (1) inverse-compositional Lucas–Kanade search of a sparse grid of patches, initialised from the coarser level and
//! from already-solved neighbours (spatial propagation), (2) densification by a photometric-error-weighted average
//! of all patches covering a pixel, (3) variational refinement.

use crate::plane::{upscale_flow, Plane};
use crate::variational::{self, VariationalParams};

/// Parameters of the DIS-style method. Intensities are handled internally on a 0–255 scale.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DisParams {
    /// Finest pyramid level that is solved (0 = full resolution; 1 = half resolution, then upsampled).
    pub finest_scale: usize,
    /// Side of the square patches (pixels).
    pub patch_size: usize,
    /// Distance between neighbouring patches (pixels); must not exceed `patch_size`.
    pub patch_stride: usize,
    /// Gauss–Newton iterations per patch, split between the forward and the backward propagation pass.
    pub grad_descent_iters: usize,
    /// Subtract the patch mean before comparing (robust to local brightness changes).
    pub mean_normalization: bool,
    /// Try the neighbours' solutions as starting points (two passes: forward, then backward).
    pub spatial_propagation: bool,
    /// Variational refinement run at each level after densification.
    pub variational: VariationalParams,
    /// Finest level at which the variational refinement runs (≤ `finest_scale`): the levels below `finest_scale`
    /// down to this one get the upsampled flow refined variationally, without patch search.
    pub variational_finest_scale: usize,
    /// Start the patch search of the coarsest level also from a global translation found by exhaustive search on
    /// a coarser level (module `global`): each patch starts from whichever of its initial vector and the global
    /// one fits it better. Follows motions beyond the reach of the pyramid (a sizeable fraction of a small frame).
    pub global_init: bool,
}

impl DisParams {
    /// The default solved down to full resolution (patch search and refinement at level 0): about 2.5× more
    /// accurate than the default on smooth warps of photographs, and about 4× slower.
    pub fn fine() -> DisParams {
        DisParams { finest_scale: 0, variational_finest_scale: 0, ..DisParams::default() }
    }

    /// [`DisParams::fine`] with [`DisParams::global_init`]: the patch search also starts from the global
    /// translation of the pair, so shifts of a quarter to a third of a 32–64 px frame are followed (`dis-fine` stops
    /// near one patch, 5–10 px, whatever the true shift).
    pub fn global() -> DisParams {
        DisParams { global_init: true, ..DisParams::fine() }
    }

    /// The parameters of OpenCV's `DISOPTICAL_FLOW_PRESET_MEDIUM`.
    pub fn medium() -> DisParams {
        DisParams {
            finest_scale: 1,
            patch_size: 8,
            patch_stride: 3,
            grad_descent_iters: 25,
            mean_normalization: true,
            spatial_propagation: true,
            variational: VariationalParams::default(),
            variational_finest_scale: 1,
            global_init: false,
        }
    }

    /// The parameters of OpenCV's `DISOPTICAL_FLOW_PRESET_FAST` (with the default's softer smoothness penalty).
    pub fn fast() -> DisParams {
        DisParams {
            finest_scale: 2,
            patch_stride: 4,
            grad_descent_iters: 16,
            variational_finest_scale: 2,
            ..DisParams::default()
        }
    }
}

/// The default: [`DisParams::medium`] with a softer smoothness penalty in the refinement (`smooth_epsilon` 0.1
/// instead of OpenCV's 0.001), which measured slightly more accurate at the same cost (see the crate README).
impl Default for DisParams {
    fn default() -> Self {
        let mut p = DisParams::medium();
        p.variational.smooth_epsilon = 0.1;
        p
    }
}

/// Pyramid levels used for a `w`×`h` image: (finest, coarsest). The coarsest level is chosen as in the DIS paper
/// (so that the largest expected motion, about a quarter of the image, is a patch size there), and never so coarse
/// that the image gets smaller than a patch.
pub(crate) fn dis_scales(w: usize, h: usize, p: &DisParams) -> (usize, usize) {
    let ps = p.patch_size as f64;
    let a = ((w.max(h) as f64 / (4.0 * ps)).log2() + 0.5).floor();
    let b = (w.min(h) as f64 / ps).log2().floor();
    let coarsest = a.min(b).max(0.0) as usize;
    (p.finest_scale.min(coarsest), coarsest)
}

/// Last (coarsest) pyramid level a frame must provide: the coarsest of the patch search, or the level of the
/// global translation search when [`DisParams::global_init`] is on.
pub(crate) fn last_level(w: usize, h: usize, p: &DisParams) -> usize {
    let coarsest = dis_scales(w, h, p).1;
    if p.global_init {
        coarsest.max(crate::global::search_level(w, h))
    } else {
        coarsest
    }
}

/// First pyramid level a frame must provide: the finer of the patch-search and refinement levels.
pub(crate) fn first_level(w: usize, h: usize, p: &DisParams) -> usize {
    dis_scales(w, h, p).0.min(p.variational_finest_scale)
}

/// One pyramid level of a prepared frame: intensities (0–255), Sobel gradients, and a border-replicated copy used
/// for patch look-ups that leave the image.
#[derive(Clone, Debug)]
pub(crate) struct Level {
    pub img: Plane,
    pub gx: Plane,
    pub gy: Plane,
    pub padded: Plane,
}

/// Border of the padded copy; patches are clamped so that they overlap the image by at least one pixel.
pub(crate) const BORDER: usize = 16;

impl Level {
    pub fn new(img: Plane) -> Level {
        let (gx, gy) = img.sobel();
        let padded = img.padded(BORDER);
        Level { img, gx, gy, padded }
    }
}

/// Patch positions along one axis: every `stride` pixels, plus one flush with the far border so every pixel is
/// covered.
fn grid_positions(len: usize, ps: usize, stride: usize) -> Vec<usize> {
    let mut pos: Vec<usize> = (0..=(len - ps)).step_by(stride).collect();
    if *pos.last().unwrap_or(&0) != len - ps {
        pos.push(len - ps);
    }
    pos
}

struct PatchSearch<'a, const PS: usize> {
    i0: &'a Level,
    i1: &'a Level,
    mean_norm: bool,
    /// Clamping range of the patch origin in padded coordinates.
    lo_x: f32,
    hi_x: f32,
    lo_y: f32,
    hi_y: f32,
}

/// Bilinear weights and the top-left index in the padded I1 of a patch at (px, py) displaced by (fu, fv); the
/// displaced patch is clamped to overlap the image by at least one pixel.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn patch_origin(
    px: usize,
    py: usize,
    fu: f32,
    fv: f32,
    lo_x: f32,
    hi_x: f32,
    lo_y: f32,
    hi_y: f32,
    pw: usize,
) -> ([f32; 4], usize) {
    let b = BORDER as f32;
    let x1 = (px as f32 + fu + b).clamp(lo_x, hi_x);
    let y1 = (py as f32 + fv + b).clamp(lo_y, hi_y);
    // The clamped coordinates are positive, so truncation is floor (without a libm call on baseline x86-64).
    let x0f = (x1 as usize) as f32;
    let y0f = (y1 as usize) as f32;
    let ax = x1 - x0f;
    let ay = y1 - y0f;
    ([(1.0 - ax) * (1.0 - ay), ax * (1.0 - ay), (1.0 - ax) * ay, ax * ay], y0f as usize * pw + x0f as usize)
}

impl<const PS: usize> PatchSearch<'_, PS> {
    /// Mean-normalised (or plain) SSD between the I0 patch at (px, py) and the I1 patch displaced by (fu, fv), and
    /// the Gauss–Newton right-hand side Σ ∇I0 · diff.
    ///
    /// The sums are accumulated per patch column (`[f32; PS]` lanes) and reduced at the end: a single running
    /// float sum is a serial dependency the compiler may not reorder, which kept this loop scalar; per-column
    /// lanes vectorise (about 2–3× faster here).
    #[inline]
    fn eval(&self, px: usize, py: usize, fu: f32, fv: f32, sgx: f32, sgy: f32) -> (f32, f32, f32) {
        let pw = self.i1.padded.w;
        let w = self.i0.img.w;
        let ([w00, w01, w10, w11], base1) =
            patch_origin(px, py, fu, fv, self.lo_x, self.hi_x, self.lo_y, self.hi_y, pw);
        let (mut s, mut s2, mut sx, mut sy) = ([0.0f32; PS], [0.0f32; PS], [0.0f32; PS], [0.0f32; PS]);
        let pad = &self.i1.padded.data;
        for r in 0..PS {
            let o1 = base1 + r * pw;
            let o0 = (py + r) * w + px;
            let a0 = lanes::<PS>(&pad[o1..]);
            let b0 = lanes::<PS>(&pad[o1 + 1..]);
            let a1 = lanes::<PS>(&pad[o1 + pw..]);
            let b1 = lanes::<PS>(&pad[o1 + pw + 1..]);
            let t = lanes::<PS>(&self.i0.img.data[o0..]);
            let gx = lanes::<PS>(&self.i0.gx.data[o0..]);
            let gy = lanes::<PS>(&self.i0.gy.data[o0..]);
            for c in 0..PS {
                let d = w00 * a0[c] + w01 * b0[c] + w10 * a1[c] + w11 * b1[c] - t[c];
                s[c] += d;
                s2[c] += d * d;
                sx[c] += d * gx[c];
                sy[c] += d * gy[c];
            }
        }
        let (s, s2, sx, sy) =
            (s.iter().sum::<f32>(), s2.iter().sum::<f32>(), sx.iter().sum::<f32>(), sy.iter().sum::<f32>());
        if self.mean_norm {
            let n = (PS * PS) as f32;
            (s2 - s * s / n, sx - s * sgx / n, sy - s * sgy / n)
        } else {
            (s2, sx, sy)
        }
    }
}

/// The first `N` values of a slice as an array reference. Callers index inside the padded image, so the slice is
/// always long enough (a shorter one is an internal bug and panics).
#[inline(always)]
fn lanes<const N: usize>(s: &[f32]) -> &[f32; N] {
    s.first_chunk::<N>().expect("patch row inside the padded image")
}

/// Per-patch precomputation: gradient sums and the inverse of the (mean-normalised) structure tensor.
#[derive(Clone, Copy, Default)]
struct PatchInfo {
    sgx: f32,
    sgy: f32,
    inv11: f32,
    inv12: f32,
    inv22: f32,
    /// false for (nearly) textureless patches, which keep their initial vector.
    solvable: bool,
}

fn patch_info<const PS: usize>(i0: &Level, px: usize, py: usize, mean_norm: bool) -> PatchInfo {
    let w = i0.img.w;
    let (mut sgx, mut sgy, mut xx, mut xy, mut yy) =
        ([0.0f32; PS], [0.0f32; PS], [0.0f32; PS], [0.0f32; PS], [0.0f32; PS]);
    for r in 0..PS {
        let o = (py + r) * w + px;
        let gx = lanes::<PS>(&i0.gx.data[o..]);
        let gy = lanes::<PS>(&i0.gy.data[o..]);
        for c in 0..PS {
            sgx[c] += gx[c];
            sgy[c] += gy[c];
            xx[c] += gx[c] * gx[c];
            xy[c] += gx[c] * gy[c];
            yy[c] += gy[c] * gy[c];
        }
    }
    let sum = |a: [f32; PS]| a.iter().sum::<f32>();
    let (sgx, sgy, mut xx, mut xy, mut yy) = (sum(sgx), sum(sgy), sum(xx), sum(xy), sum(yy));
    if mean_norm {
        let n = (PS * PS) as f32;
        xx -= sgx * sgx / n;
        xy -= sgx * sgy / n;
        yy -= sgy * sgy / n;
    }
    // A tiny Tikhonov term keeps edge-like (rank-one) patches solvable along their gradient.
    let tr = xx + yy;
    let reg = 1e-3 * tr + 1e-6;
    let (xx, yy) = (xx + reg, yy + reg);
    let det = xx * yy - xy * xy;
    let solvable = tr > 1e-2 * (PS * PS) as f32 && det > 0.0;
    if !solvable {
        return PatchInfo { sgx, sgy, solvable, ..Default::default() };
    }
    PatchInfo { sgx, sgy, inv11: yy / det, inv12: -xy / det, inv22: xx / det, solvable }
}

/// Sparse patch flow on one level, initialised from the dense flow `(u, v)` of that level.
fn search_level<const PS: usize>(
    i0: &Level,
    i1: &Level,
    u: &Plane,
    v: &Plane,
    p: &DisParams,
    extra: &[[f32; 2]],
) -> (Vec<usize>, Vec<usize>, Vec<[f32; 2]>) {
    let (w, h) = (i0.img.w, i0.img.h);
    let ps = PS;
    let xs = grid_positions(w, ps, p.patch_stride);
    let ys = grid_positions(h, ps, p.patch_stride);
    let (nx, ny) = (xs.len(), ys.len());
    let b = BORDER as f32;
    let search = PatchSearch::<PS> {
        i0,
        i1,
        mean_norm: p.mean_normalization,
        lo_x: b - ps as f32 + 1.0,
        hi_x: b + w as f32 - 1.0,
        lo_y: b - ps as f32 + 1.0,
        hi_y: b + h as f32 - 1.0,
    };
    let info: Vec<PatchInfo> = ys
        .iter()
        .flat_map(|&py| xs.iter().map(move |&px| (px, py)))
        .map(|(px, py)| patch_info::<PS>(i0, px, py, p.mean_normalization))
        .collect();
    let half = ps / 2;
    let mut s: Vec<[f32; 2]> = Vec::with_capacity(nx * ny);
    for &py in &ys {
        for &px in &xs {
            let k = (py + half) * w + px + half;
            s.push([u.data[k], v.data[k]]);
        }
    }
    let passes = if p.spatial_propagation { 2 } else { 1 };
    let iters = (p.grad_descent_iters / passes).max(1);
    let max_move2 = (ps * ps) as f32;
    for pass in 0..passes {
        let forward = pass % 2 == 0;
        for step_j in 0..ny {
            let j = if forward { step_j } else { ny - 1 - step_j };
            for step_i in 0..nx {
                let i = if forward { step_i } else { nx - 1 - step_i };
                let k = j * nx + i;
                let (px, py) = (xs[i], ys[j]);
                let pi = info[k];
                let mut start = s[k];
                let mut start_ssd = None;
                if pass == 0 && !extra.is_empty() {
                    let mut best = search.eval(px, py, start[0], start[1], pi.sgx, pi.sgy).0;
                    for g in extra {
                        let c = search.eval(px, py, g[0], g[1], pi.sgx, pi.sgy).0;
                        if c < best {
                            best = c;
                            start = *g;
                        }
                    }
                    start_ssd = Some(best);
                }
                if p.spatial_propagation {
                    let mut best_ssd =
                        start_ssd.unwrap_or_else(|| search.eval(px, py, start[0], start[1], pi.sgx, pi.sgy).0);
                    let (ni, nj) = if forward {
                        (i.checked_sub(1), j.checked_sub(1))
                    } else {
                        ((i + 1 < nx).then_some(i + 1), (j + 1 < ny).then_some(j + 1))
                    };
                    for cand in [ni.map(|ni| s[j * nx + ni]), nj.map(|nj| s[nj * nx + i])].into_iter().flatten() {
                        let c = search.eval(px, py, cand[0], cand[1], pi.sgx, pi.sgy).0;
                        if c < best_ssd {
                            best_ssd = c;
                            start = cand;
                        }
                    }
                }
                if !pi.solvable {
                    s[k] = start;
                    continue;
                }
                // Inverse-compositional Gauss–Newton: the Hessian comes from the template (I0) patch only, so it
                // is fixed; each step keeps the best vector seen and stops as soon as the SSD rises.
                let mut cur = start;
                let mut best = start;
                let mut best_val = f32::INFINITY;
                for t in 0..=iters {
                    let (ssd, bx, by) = search.eval(px, py, cur[0], cur[1], pi.sgx, pi.sgy);
                    if ssd < best_val {
                        best_val = ssd;
                        best = cur;
                    } else {
                        break;
                    }
                    if t == iters {
                        break;
                    }
                    cur[0] -= pi.inv11 * bx + pi.inv12 * by;
                    cur[1] -= pi.inv12 * bx + pi.inv22 * by;
                }
                let (dx, dy) = (best[0] - start[0], best[1] - start[1]);
                s[k] = if dx * dx + dy * dy <= max_move2 { best } else { start };
            }
        }
    }
    (xs, ys, s)
}

/// Dense flow from the patch flows: each pixel averages the vectors of all patches covering it, weighted by
/// 1 / max(1, |I1(x + s) − I0(x)|) so that patches that do not explain the pixel count less.
fn densify<const PS: usize>(i0: &Level, i1: &Level, xs: &[usize], ys: &[usize], s: &[[f32; 2]]) -> (Plane, Plane) {
    let (w, h) = (i0.img.w, i0.img.h);
    let mut acc_u = vec![0.0f32; w * h];
    let mut acc_v = vec![0.0f32; w * h];
    let mut acc_w = vec![0.0f32; w * h];
    let b = BORDER as f32;
    let (lo_x, hi_x, lo_y, hi_y) = (b - PS as f32 + 1.0, b + w as f32 - 1.0, b - PS as f32 + 1.0, b + h as f32 - 1.0);
    let pw = i1.padded.w;
    let pad = &i1.padded.data;
    let nx = xs.len();
    for (j, &py) in ys.iter().enumerate() {
        for (i, &px) in xs.iter().enumerate() {
            let [fu, fv] = s[j * nx + i];
            let ([w00, w01, w10, w11], base1) = patch_origin(px, py, fu, fv, lo_x, hi_x, lo_y, hi_y, pw);
            for r in 0..PS {
                let o1 = base1 + r * pw;
                let o0 = (py + r) * w + px;
                let a0 = lanes::<PS>(&pad[o1..]);
                let b0 = lanes::<PS>(&pad[o1 + 1..]);
                let a1 = lanes::<PS>(&pad[o1 + pw..]);
                let b1 = lanes::<PS>(&pad[o1 + pw + 1..]);
                let t = lanes::<PS>(&i0.img.data[o0..]);
                let au = &mut acc_u[o0..o0 + PS];
                let av = &mut acc_v[o0..o0 + PS];
                let aw = &mut acc_w[o0..o0 + PS];
                for c in 0..PS {
                    let val = w00 * a0[c] + w01 * b0[c] + w10 * a1[c] + w11 * b1[c];
                    let wt = 1.0 / (val - t[c]).abs().max(1.0);
                    au[c] += wt * fu;
                    av[c] += wt * fv;
                    aw[c] += wt;
                }
            }
        }
    }
    let mut u = Plane::zeros(w, h);
    let mut v = Plane::zeros(w, h);
    for k in 0..w * h {
        // Every pixel is covered by at least one patch (see `grid_positions`), so acc_w is positive.
        let inv = 1.0 / acc_w[k];
        u.data[k] = acc_u[k] * inv;
        v.data[k] = acc_v[k] * inv;
    }
    (u, v)
}

/// Patch search and densification on one level, monomorphised for the patch size (the inner loops then have a
/// fixed trip count and vectorise).
fn search_and_densify(
    i0: &Level,
    i1: &Level,
    u: &Plane,
    v: &Plane,
    p: &DisParams,
    extra: &[[f32; 2]],
) -> (Plane, Plane) {
    macro_rules! run {
        ($($n:literal)*) => {
            match p.patch_size {
                $($n => {
                    let (xs, ys, s) = search_level::<$n>(i0, i1, u, v, p, extra);
                    densify::<$n>(i0, i1, &xs, &ys, &s)
                })*
                other => unreachable!("patch size {other} is rejected by FlowParams::validate"),
            }
        };
    }
    run!(4 5 6 7 8 9 10 11 12 13 14 15 16)
}

/// Runs DIS on prepared pyramids. `levels0[l - first]`/`levels1[l - first]` hold level `l`; returns the flow at
/// full resolution (`full_w`×`full_h`).
pub(crate) fn dis_flow(
    levels0: &[Level],
    levels1: &[Level],
    first: usize,
    finest: usize,
    coarsest: usize,
    p: &DisParams,
    full_w: usize,
    full_h: usize,
) -> (Plane, Plane) {
    let top = &levels0[coarsest - first];
    let mut u = Plane::zeros(top.img.w, top.img.h);
    let mut v = Plane::zeros(top.img.w, top.img.h);
    // The global translation, searched on the levels from the coarsest prepared one down to `coarsest`.
    let global = if p.global_init {
        let a: Vec<&Plane> = levels0[coarsest - first..].iter().map(|l| &l.img).collect();
        let b: Vec<&Plane> = levels1[coarsest - first..].iter().map(|l| &l.img).collect();
        crate::global::global_shifts(&a, &b)
    } else {
        Vec::new()
    };
    for l in (finest..=coarsest).rev() {
        let i0 = &levels0[l - first];
        let i1 = &levels1[l - first];
        if u.w != i0.img.w || u.h != i0.img.h {
            u = upscale_flow(&u, i0.img.w, i0.img.h, 2.0);
            v = upscale_flow(&v, i0.img.w, i0.img.h, 2.0);
        }
        let (du, dv) = search_and_densify(i0, i1, &u, &v, p, if l == coarsest { &global } else { &[] });
        u = du;
        v = dv;
        variational::refine(&i0.img, &i1.img, &mut u, &mut v, &p.variational);
    }
    let mut level = finest;
    if p.variational.outer_iters > 0 {
        for l in (p.variational_finest_scale.min(finest)..finest).rev() {
            level = l;
            let i0 = &levels0[l - first];
            let i1 = &levels1[l - first];
            u = upscale_flow(&u, i0.img.w, i0.img.h, 2.0);
            v = upscale_flow(&v, i0.img.w, i0.img.h, 2.0);
            variational::refine(&i0.img, &i1.img, &mut u, &mut v, &p.variational);
        }
    }
    if u.w != full_w || u.h != full_h {
        let f = (1usize << level) as f32;
        u = upscale_flow(&u, full_w, full_h, f);
        v = upscale_flow(&v, full_w, full_h, f);
    }
    (u, v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_covers_every_pixel() {
        for len in [8usize, 9, 10, 31, 32, 33, 128, 255] {
            for stride in 1..=8 {
                let g = grid_positions(len, 8, stride);
                let mut covered = vec![false; len];
                for &p in &g {
                    covered[p..p + 8].iter_mut().for_each(|c| *c = true);
                }
                assert!(covered.iter().all(|&c| c), "len {len} stride {stride}");
                assert!(g.windows(2).all(|w| w[1] > w[0] && w[1] - w[0] <= stride));
            }
        }
    }

    #[test]
    fn scales_match_the_dis_rule() {
        let p = DisParams::medium();
        assert_eq!(dis_scales(256, 256, &p), (1, 3));
        assert_eq!(dis_scales(1024, 436, &p), (1, 5));
        assert_eq!(dis_scales(32, 32, &p), (0, 0));
        assert_eq!(dis_scales(8, 8, &p), (0, 0));
    }
}
