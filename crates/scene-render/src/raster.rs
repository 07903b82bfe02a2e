//! The rasterizer.
//!
//! Hand-written rather than a GPU or general-purpose renderer: the goal (≥ 1000 anti-aliased 64×64 images per
//! second on two CPU cores, bit-identical at any thread count) needs a tight, allocation-free, single-threaded inner
//! loop per image, with rayon running whole images in parallel.
//!
//! Per image:
//! 1. *Prepare*: every visible object's vertices go to camera space; the signed Lambert term n·l of every vertex
//!    (world normal, light direction) is computed once.
//! 2. *Coverage pass* at S×S samples per pixel (`ssaa` = S): triangles are clipped against the near plane (and a
//!    guard band), snapped to 1/256 sample, and scan-converted with exact integer edge functions and a
//!    top-left-style tie rule, so that adjacent triangles neither overlap nor leave cracks. A z-buffer keeps, per
//!    sample, 1/z and the index of the nearest triangle (deferred shading: nothing is shaded yet).
//! 3. *Resolve*: per output pixel, the S² samples are grouped by triangle; each visible triangle is shaded once, at
//!    the centroid of its samples, with perspective-correct texture coordinates and Gouraud lighting, and the
//!    texture's mip level chosen from the footprint of one output pixel; the pixel is the coverage-weighted mean of
//!    those colours and the background. Geometry edges are therefore anti-aliased by S² coverage samples and
//!    textures by trilinear mip filtering (what MSAA does on a GPU; shading every sample would cost S² texture
//!    lookups per pixel for the same average).
//! 4. Optional Gaussian blur, optional conversion to grey.
//!
//! Depth (and the per-pixel triangle used by ground-truth flow) comes from a second coverage pass with one sample
//! at each pixel centre, so depth is exact at pixel centres rather than averaged across edges.

use nalgebra::{Matrix3, Rotation3, Vector3};

use crate::camera::{light_direction, Camera};
use crate::scene::{Params, Scene};

/// Fixed-point subpixel precision of snapped vertex coordinates (8 bits).
const SUB: f64 = 256.0;

/// An attribute that varies linearly over the sample raster: value = c + dx·x + dy·y.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Plane {
    pub c: f32,
    pub dx: f32,
    pub dy: f32,
}

impl Plane {
    #[inline]
    pub fn at(&self, x: f32, y: f32) -> f32 {
        self.c + self.dx * x + self.dy * y
    }
}

/// A rasterized triangle: screen-space planes of 1/z and of attribute/z (perspective-correct interpolation).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Tri {
    pub zi: Plane,
    pub uz: Plane,
    pub vz: Plane,
    pub sz: Plane,
    pub material: u32,
    /// Index into `Prepared::objs`.
    pub pobj: u32,
    /// Index of the source triangle in its object's mesh.
    pub src: u32,
}

/// An object prepared for one image.
#[derive(Debug, Clone)]
pub(crate) struct PrepObj {
    /// Index into `Scene::objects`.
    pub object: usize,
    /// First vertex in `Prepared::cam_pos` / `ndotl`.
    pub start: usize,
    pub tint: Option<Matrix3<f32>>,
}

/// Per-image geometry in camera space.
#[derive(Debug, Default)]
pub(crate) struct Prepared {
    pub objs: Vec<PrepObj>,
    pub cam_pos: Vec<[f32; 3]>,
    pub ndotl: Vec<f32>,
}

/// Buffers of one coverage pass.
#[derive(Debug, Default)]
pub(crate) struct Pass {
    pub w: usize,
    pub h: usize,
    pub zi: Vec<f32>,
    pub id: Vec<u32>,
    pub tris: Vec<Tri>,
}

pub(crate) const NO_TRI: u32 = u32::MAX;

/// Reusable per-thread buffers.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    pub prep: Prepared,
    pub ss: Pass,
    pub centre: Pass,
}

/// Hue rotation by `deg` about the grey axis (keeps greys grey).
pub(crate) fn hue_matrix(deg: f64) -> Matrix3<f32> {
    let axis = nalgebra::Unit::new_normalize(Vector3::new(1.0, 1.0, 1.0));
    Rotation3::from_axis_angle(&axis, deg.to_radians()).matrix().cast::<f32>()
}

/// The spin (rotation matrix about the pivot) of a scene object for `params`.
pub(crate) fn object_spin(scene: &Scene, object: usize, params: &Params) -> (Matrix3<f64>, Vector3<f64>) {
    match &scene.objects[object].spin {
        None => (Matrix3::identity(), Vector3::zeros()),
        Some(s) => {
            let r = Rotation3::from_axis_angle(&s.axis, params.values[s.param].to_radians());
            (*r.matrix(), s.pivot)
        }
    }
}

/// Is a scene object drawn for this class label?
pub(crate) fn object_visible(scene: &Scene, object: usize, params: &Params) -> bool {
    match scene.objects[object].class {
        None => true,
        Some(c) => params.label == Some(c),
    }
}

/// Step 1: camera-space vertices and per-vertex Lambert terms of every visible object.
pub(crate) fn prepare(scene: &Scene, params: &Params, cam: &Camera, prep: &mut Prepared) {
    prep.objs.clear();
    prep.cam_pos.clear();
    prep.ndotl.clear();
    let light = light_direction(params);
    let tint = scene.hue.map(|h| hue_matrix(params.values[h]));
    for (k, obj) in scene.objects.iter().enumerate() {
        if !object_visible(scene, k, params) {
            continue;
        }
        let (spin, pivot) = object_spin(scene, k, params);
        // world = spin·(p − pivot) + pivot; camera = rot·(world − eye) = A·p + b.
        let a = cam.rot * spin;
        let b = cam.rot * (pivot - spin * pivot - cam.eye);
        // Whole object behind the near plane: skip.
        let (bc, br) = obj.bound;
        let centre_cam = a * bc + b;
        if centre_cam.z + br < cam.near {
            continue;
        }
        let af: Matrix3<f32> = a.cast();
        let bf: Vector3<f32> = b.cast();
        // n_world·l = (spin·n)·l = n·(spinᵀ·l).
        let l_local: Vector3<f32> = (spin.transpose() * light).cast();
        let start = prep.cam_pos.len();
        let mesh = &obj.mesh;
        prep.cam_pos.extend(mesh.pos.iter().map(|p| {
            let c = af * Vector3::new(p[0], p[1], p[2]) + bf;
            [c.x, c.y, c.z]
        }));
        prep.ndotl.extend(mesh.nrm.iter().map(|n| n[0] * l_local.x + n[1] * l_local.y + n[2] * l_local.z));
        prep.objs.push(PrepObj { object: k, start, tint: if obj.tint { tint } else { None } });
    }
}

/// A vertex in camera space with its attributes (texture u, v and Gouraud shade).
#[derive(Debug, Clone, Copy, Default)]
struct CV {
    p: [f32; 3],
    u: f32,
    v: f32,
    s: f32,
}

fn lerp_cv(a: &CV, b: &CV, t: f32) -> CV {
    CV {
        p: [a.p[0] + (b.p[0] - a.p[0]) * t, a.p[1] + (b.p[1] - a.p[1]) * t, a.p[2] + (b.p[2] - a.p[2]) * t],
        u: a.u + (b.u - a.u) * t,
        v: a.v + (b.v - a.v) * t,
        s: a.s + (b.s - a.s) * t,
    }
}

/// Clip planes in camera space (a·p + d ≥ 0 inside): near plane and a guard band one screen wide around the sample
/// raster, which keeps snapped coordinates small enough for exact 64-bit edge functions.
struct ClipPlanes {
    planes: [[f32; 4]; 5],
}

impl ClipPlanes {
    fn new(near: f32, fx: f32, fy: f32, cx: f32, cy: f32, w: f32, h: f32) -> ClipPlanes {
        let (gx, gy) = (w + 16.0, h + 16.0);
        ClipPlanes {
            planes: [
                [0.0, 0.0, 1.0, -near],
                [fx, 0.0, cx + gx, 0.0],
                [-fx, 0.0, w - 1.0 + gx - cx, 0.0],
                [0.0, fy, cy + gy, 0.0],
                [0.0, -fy, h - 1.0 + gy - cy, 0.0],
            ],
        }
    }

    #[inline]
    fn dist(pl: &[f32; 4], p: &[f32; 3]) -> f32 {
        pl[0] * p[0] + pl[1] * p[1] + pl[2] * p[2] + pl[3]
    }

    /// Bit k set when the point is outside plane k.
    #[inline]
    fn outcode(&self, p: &[f32; 3]) -> u32 {
        let mut code = 0;
        for (k, pl) in self.planes.iter().enumerate() {
            if Self::dist(pl, p) < 0.0 {
                code |= 1 << k;
            }
        }
        code
    }
}

/// Sutherland–Hodgman clipping of a triangle against the planes in `mask`; returns the polygon's vertex count.
fn clip_polygon(planes: &ClipPlanes, mask: u32, tri: [CV; 3], out: &mut [CV; 12]) -> usize {
    let mut a = [CV::default(); 12];
    a[..3].copy_from_slice(&tri);
    let mut n = 3;
    let mut b = [CV::default(); 12];
    for (k, pl) in planes.planes.iter().enumerate() {
        if mask & (1 << k) == 0 {
            continue;
        }
        let mut m = 0;
        for i in 0..n {
            let (p, q) = (&a[i], &a[(i + 1) % n]);
            let (dp, dq) = (ClipPlanes::dist(pl, &p.p), ClipPlanes::dist(pl, &q.p));
            if dp >= 0.0 {
                b[m] = *p;
                m += 1;
            }
            if (dp >= 0.0) != (dq >= 0.0) && m < 12 {
                b[m] = lerp_cv(p, q, dp / (dp - dq));
                m += 1;
            }
        }
        n = m.min(12);
        a = b;
        if n < 3 {
            return 0;
        }
    }
    out[..n].copy_from_slice(&a[..n]);
    n
}

/// Step 2: coverage pass with `s`×`s` samples per pixel over a `width`×`height` image.
pub(crate) fn coverage(scene: &Scene, prep: &Prepared, cam: &Camera, s: usize, pass: &mut Pass) {
    let (w, h) = (cam.width * s, cam.height * s);
    pass.w = w;
    pass.h = h;
    pass.zi.clear();
    pass.zi.resize(w * h, 0.0);
    pass.id.clear();
    pass.id.resize(w * h, NO_TRI);
    pass.tris.clear();
    let sf = s as f64;
    let fx = (cam.fx * sf) as f32;
    let fy = (cam.fy * sf) as f32;
    let cx = ((cam.cx + 0.5) * sf - 0.5) as f32;
    let cy = ((cam.cy + 0.5) * sf - 0.5) as f32;
    let planes = ClipPlanes::new(cam.near as f32, fx, fy, cx, cy, w as f32, h as f32);
    let (amb, inten) = (scene.ambient, scene.intensity);
    let mut poly = [CV::default(); 12];
    for (pi, po) in prep.objs.iter().enumerate() {
        let obj = &scene.objects[po.object];
        let mesh = &obj.mesh;
        let pos = &prep.cam_pos[po.start..po.start + mesh.pos.len()];
        let ndl = &prep.ndotl[po.start..po.start + mesh.pos.len()];
        for (ti, t) in mesh.tris.iter().enumerate() {
            let [i0, i1, i2] = [t[0] as usize, t[1] as usize, t[2] as usize];
            let (p0, p1, p2) = (pos[i0], pos[i1], pos[i2]);
            let codes = [planes.outcode(&p0), planes.outcode(&p1), planes.outcode(&p2)];
            if codes[0] & codes[1] & codes[2] != 0 {
                continue; // entirely outside one plane
            }
            // Facing from the geometric normal in camera space (camera at the origin).
            let e1 = [p1[0] - p0[0], p1[1] - p0[1], p1[2] - p0[2]];
            let e2 = [p2[0] - p0[0], p2[1] - p0[1], p2[2] - p0[2]];
            let n = [e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2], e1[0] * e2[1] - e1[1] * e2[0]];
            let facing = n[0] * p0[0] + n[1] * p0[1] + n[2] * p0[2];
            let front = facing < 0.0;
            if obj.cull && !front {
                continue;
            }
            let sign = if front { 1.0 } else { -1.0 };
            let cv = |i: usize, p: [f32; 3]| {
                let uv = mesh.uv[i];
                CV { p, u: uv[0], v: uv[1], s: amb + inten * (sign * ndl[i]).max(0.0) }
            };
            let tri = [cv(i0, p0), cv(i1, p1), cv(i2, p2)];
            let mask = codes[0] | codes[1] | codes[2];
            let ids = (obj.material as u32, pi as u32, ti as u32);
            if mask == 0 {
                raster_tri(&tri, fx, fy, cx, cy, ids, pass);
            } else {
                let n = clip_polygon(&planes, mask, tri, &mut poly);
                for k in 1..n.saturating_sub(1) {
                    raster_tri(&[poly[0], poly[k], poly[k + 1]], fx, fy, cx, cy, ids, pass);
                }
            }
        }
    }
}

#[inline]
fn div_floor(a: i64, b: i64) -> i64 {
    a.div_euclid(b)
}

#[inline]
fn div_ceil(a: i64, b: i64) -> i64 {
    -(-a).div_euclid(b)
}

/// Projects, snaps and scan-converts one (clipped) triangle into the pass buffers; `ids` = (material, index
/// into `Prepared::objs`, source triangle index).
fn raster_tri(t: &[CV; 3], fx: f32, fy: f32, cx: f32, cy: f32, ids: (u32, u32, u32), pass: &mut Pass) {
    let (material, pobj, src) = ids;
    // Projection (f64 for the setup; the per-sample work below is integer and f32).
    let mut xs = [0i64; 3];
    let mut ys = [0i64; 3];
    let mut zi = [0f64; 3];
    for k in 0..3 {
        let z = t[k].p[2] as f64;
        let inv = 1.0 / z;
        let x = fx as f64 * t[k].p[0] as f64 * inv + cx as f64;
        let y = fy as f64 * t[k].p[1] as f64 * inv + cy as f64;
        if !(x.is_finite() && y.is_finite() && inv.is_finite() && inv > 0.0) {
            return;
        }
        xs[k] = (x * SUB).round() as i64;
        ys[k] = (y * SUB).round() as i64;
        zi[k] = inv;
    }
    let mut idx = [0usize, 1, 2];
    let mut area = (xs[1] - xs[0]) * (ys[2] - ys[0]) - (ys[1] - ys[0]) * (xs[2] - xs[0]);
    if area == 0 {
        return;
    }
    if area < 0 {
        idx.swap(1, 2);
        area = -area;
    }
    let (w, h) = (pass.w as i64, pass.h as i64);
    let (x0, y0) = (xs[idx[0]], ys[idx[0]]);
    let (x1, y1) = (xs[idx[1]], ys[idx[1]]);
    let (x2, y2) = (xs[idx[2]], ys[idx[2]]);
    let sub = SUB as i64;
    let kx0 = div_ceil(x0.min(x1).min(x2), sub).max(0);
    let kx1 = div_floor(x0.max(x1).max(x2), sub).min(w - 1);
    let ky0 = div_ceil(y0.min(y1).min(y2), sub).max(0);
    let ky1 = div_floor(y0.max(y1).max(y2), sub).min(h - 1);
    if kx0 > kx1 || ky0 > ky1 {
        return;
    }

    // Attribute planes from the snapped positions (in sample units).
    let px = [x0 as f64 / SUB, x1 as f64 / SUB, x2 as f64 / SUB];
    let py = [y0 as f64 / SUB, y1 as f64 / SUB, y2 as f64 / SUB];
    let det = (px[1] - px[0]) * (py[2] - py[0]) - (px[2] - px[0]) * (py[1] - py[0]);
    let plane = |a: [f64; 3]| -> Plane {
        let dx = ((a[1] - a[0]) * (py[2] - py[0]) - (a[2] - a[0]) * (py[1] - py[0])) / det;
        let dy = ((a[2] - a[0]) * (px[1] - px[0]) - (a[1] - a[0]) * (px[2] - px[0])) / det;
        Plane { c: (a[0] - dx * px[0] - dy * py[0]) as f32, dx: dx as f32, dy: dy as f32 }
    };
    let zv = [zi[idx[0]], zi[idx[1]], zi[idx[2]]];
    let attr = |f: fn(&CV) -> f32| -> Plane {
        plane([f(&t[idx[0]]) as f64 * zv[0], f(&t[idx[1]]) as f64 * zv[1], f(&t[idx[2]]) as f64 * zv[2]])
    };
    let zplane = plane(zv);
    let tri = Tri { zi: zplane, uz: attr(|c| c.u), vz: attr(|c| c.v), sz: attr(|c| c.s), material, pobj, src };
    let tri_index = pass.tris.len() as u32;

    // Edge functions E_k(P) = (Xj − Xi)(Py − Yi) − (Yj − Yi)(Px − Xi) for the edge opposite vertex k; all three are
    // ≥ 0 inside. A sample exactly on an edge belongs to the triangle only when the edge "owns" it (dy > 0, or
    // dy = 0 and dx < 0): the reversed edge of the neighbouring triangle does not, so shared edges are drawn once.
    let verts = [(x0, y0), (x1, y1), (x2, y2)];
    let mut e_row = [0i64; 3];
    let mut step_x = [0i64; 3];
    let mut step_y = [0i64; 3];
    for k in 0..3 {
        let (xi, yi) = verts[(k + 1) % 3];
        let (xj, yj) = verts[(k + 2) % 3];
        let (dx, dy) = (xj - xi, yj - yi);
        let owns = dy > 0 || (dy == 0 && dx < 0);
        let bias = if owns { 0 } else { -1 };
        e_row[k] = dx * (ky0 * sub - yi) - dy * (kx0 * sub - xi) + bias;
        step_x[k] = -dy * sub;
        step_y[k] = dx * sub;
    }
    let _ = area;
    let mut covered = false;
    let w_us = pass.w;
    for ky in ky0..=ky1 {
        // The span of kx where all three edge functions are ≥ 0 (each is linear in kx).
        let mut lo = kx0;
        let mut hi = kx1;
        for k in 0..3 {
            let (e, a) = (e_row[k], step_x[k]);
            if a == 0 {
                if e < 0 {
                    hi = lo - 1;
                }
            } else if a > 0 {
                if e < 0 {
                    lo = lo.max(kx0 + div_ceil(-e, a));
                }
            } else if e < 0 {
                hi = lo - 1;
            } else {
                hi = hi.min(kx0 + div_floor(e, -a));
            }
        }
        if lo <= hi {
            let row = ky as usize * w_us;
            let zrow = zplane.c + zplane.dy * ky as f32;
            let zbuf = &mut pass.zi[row + lo as usize..=row + hi as usize];
            let ibuf = &mut pass.id[row + lo as usize..=row + hi as usize];
            let mut x = lo as f32;
            for (zb, ib) in zbuf.iter_mut().zip(ibuf.iter_mut()) {
                let z = zrow + zplane.dx * x;
                if z > *zb {
                    *zb = z;
                    *ib = tri_index;
                }
                x += 1.0;
            }
            covered = true;
        }
        for k in 0..3 {
            e_row[k] += step_y[k];
        }
    }
    if covered {
        pass.tris.push(tri);
    }
}

/// Shades triangle `t` at sample-raster position (x, y); `s` converts sample-raster derivatives to output pixels.
#[inline]
fn shade(scene: &Scene, prep: &Prepared, t: &Tri, x: f32, y: f32, s: f32) -> [f32; 3] {
    let inv = 1.0 / t.zi.at(x, y);
    let light = t.sz.at(x, y) * inv;
    let mat = &scene.materials[t.material as usize];
    let mut col = mat.color;
    if let Some(tex) = &mat.texture {
        let u = t.uz.at(x, y) * inv;
        let v = t.vz.at(x, y) * inv;
        let k = inv * s;
        let dudx = (t.uz.dx - u * t.zi.dx) * k;
        let dudy = (t.uz.dy - u * t.zi.dy) * k;
        let dvdx = (t.vz.dx - v * t.zi.dx) * k;
        let dvdy = (t.vz.dy - v * t.zi.dy) * k;
        let c = tex.sample(u, v, dudx, dvdx, dudy, dvdy);
        col = [col[0] * c[0], col[1] * c[1], col[2] * c[2]];
    }
    if let Some(m) = &prep.objs[t.pobj as usize].tint {
        let v = m * Vector3::new(col[0], col[1], col[2]);
        col = [v.x.clamp(0.0, 1.0), v.y.clamp(0.0, 1.0), v.z.clamp(0.0, 1.0)];
    }
    [col[0] * light, col[1] * light, col[2] * light]
}

/// Step 3: resolves the S×S coverage pass into an RGB image (row-major, 3 floats per pixel, clamped to [0, 1]).
pub(crate) fn resolve(
    scene: &Scene,
    prep: &Prepared,
    pass: &Pass,
    width: usize,
    height: usize,
    s: usize,
    out: &mut [f32],
) {
    debug_assert_eq!(out.len(), width * height * 3);
    let bg = scene.background;
    let inv_n = 1.0 / (s * s) as f32;
    let half = 0.5 * (s as f32 - 1.0);
    // Distinct triangles of one pixel: (triangle, count, Σx, Σy); at most s² ≤ 64 entries.
    let mut groups = [(0u32, 0u32, 0u32, 0u32); 64];
    for py in 0..height {
        for px in 0..width {
            let mut ng = 0usize;
            let mut nbg = 0u32;
            for j in 0..s {
                let row = (py * s + j) * pass.w + px * s;
                for i in 0..s {
                    let id = pass.id[row + i];
                    if id == NO_TRI {
                        nbg += 1;
                        continue;
                    }
                    let mut g = 0;
                    while g < ng && groups[g].0 != id {
                        g += 1;
                    }
                    if g == ng {
                        groups[g] = (id, 0, 0, 0);
                        ng += 1;
                    }
                    groups[g].1 += 1;
                    groups[g].2 += i as u32;
                    groups[g].3 += j as u32;
                }
            }
            let mut acc = [bg[0] * nbg as f32, bg[1] * nbg as f32, bg[2] * nbg as f32];
            for &(id, n, sx, sy) in &groups[..ng] {
                let t = &pass.tris[id as usize];
                let nf = n as f32;
                let (x, y) = if n as usize == s * s {
                    ((px * s) as f32 + half, (py * s) as f32 + half)
                } else {
                    ((px * s) as f32 + sx as f32 / nf, (py * s) as f32 + sy as f32 / nf)
                };
                let c = shade(scene, prep, t, x, y, s as f32);
                acc[0] += c[0] * nf;
                acc[1] += c[1] * nf;
                acc[2] += c[2] * nf;
            }
            let o = (py * width + px) * 3;
            out[o] = (acc[0] * inv_n).clamp(0.0, 1.0);
            out[o + 1] = (acc[1] * inv_n).clamp(0.0, 1.0);
            out[o + 2] = (acc[2] * inv_n).clamp(0.0, 1.0);
        }
    }
}

/// Exact camera-space depth at each pixel centre of a one-sample-per-pixel pass: the pixel ray intersected (in
/// f64) with the plane of the source triangle the z-buffer kept there (+inf on background). Exact where the
/// interpolated 1/z of the z-buffer (f32) loses precision, e.g. on surfaces seen at grazing angles.
pub(crate) fn centre_depth(scene: &Scene, prep: &Prepared, cam: &Camera, pass: &Pass) -> Vec<f64> {
    debug_assert_eq!((pass.w, pass.h), (cam.width, cam.height));
    let mut out = vec![f64::INFINITY; pass.w * pass.h];
    for (i, (&id, &zi)) in pass.id.iter().zip(&pass.zi).enumerate() {
        if id == NO_TRI {
            continue;
        }
        let t = &pass.tris[id as usize];
        let po = &prep.objs[t.pobj as usize];
        let tri = scene.objects[po.object].mesh.tris[t.src as usize];
        let [c0, c1, c2] = tri.map(|v| {
            let p = prep.cam_pos[po.start + v as usize];
            Vector3::new(p[0] as f64, p[1] as f64, p[2] as f64)
        });
        let n = (c1 - c0).cross(&(c2 - c0));
        let (x, y) = ((i % pass.w) as f64, (i / pass.w) as f64);
        let d = cam.unproject(x, y, 1.0);
        let z = n.dot(&c0) / n.dot(&d);
        // Fall back to the interpolated depth if the ray is (numerically) parallel to the plane.
        out[i] = if z.is_finite() && z > 0.0 { z } else { 1.0 / zi as f64 };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(w: usize, h: usize) -> Pass {
        Pass { w, h, zi: vec![0.0; w * h], id: vec![NO_TRI; w * h], tris: Vec::new() }
    }

    fn vert(x: f32, y: f32) -> CV {
        // Camera-space point at depth 1 that projects to (x, y) with fx = fy = 1, cx = cy = 0.
        CV { p: [x, y, 1.0], u: 0.0, v: 0.0, s: 1.0 }
    }

    /// Triangles sharing edges (a fan around a point on a sample centre, one edge running exactly along a row of
    /// samples, the others at arbitrary sub-sample positions) cover every sample of their union exactly once: no cracks, no double coverage.
    #[test]
    fn shared_edges_are_watertight() {
        let (w, h) = (40, 40);
        let centre = (17.0, 21.0); // exactly on a sample
        let ring: Vec<(f32, f32)> = (0..11)
            .map(|k| {
                let a = k as f32 / 11.0 * std::f32::consts::TAU;
                let r = if k % 2 == 0 { 15.0 } else { 13.37 };
                (centre.0 + r * a.cos(), centre.1 + r * a.sin())
            })
            .collect();
        let mut count = vec![0u32; w * h];
        let mut any = vec![false; w * h];
        let n = 11;
        for k in 0..n {
            let (a, b) = (ring[k], ring[(k + 1) % n]);
            let mut p = pass(w, h);
            let t = [vert(centre.0, centre.1), vert(a.0, a.1), vert(b.0, b.1)];
            raster_tri(&t, 1.0, 1.0, 0.0, 0.0, (0, 0, k as u32), &mut p);
            for (i, &id) in p.id.iter().enumerate() {
                if id != NO_TRI {
                    count[i] += 1;
                    any[i] = true;
                }
            }
        }
        // Every sample strictly inside the polygon (well away from its outer boundary) is covered exactly once.
        let inside = |x: f32, y: f32| ((x - centre.0).powi(2) + (y - centre.1).powi(2)).sqrt() < 11.0;
        let mut checked = 0;
        for y in 0..h {
            for x in 0..w {
                if inside(x as f32, y as f32) {
                    assert_eq!(count[y * w + x], 1, "sample ({x}, {y}) covered {} times", count[y * w + x]);
                    checked += 1;
                }
                assert!(count[y * w + x] <= 1, "sample ({x}, {y}) covered twice");
            }
        }
        assert!(checked > 300);
        // Total coverage ≈ polygon area (samples are unit spaced).
        let area: f32 = (0..n)
            .map(|k| {
                let (a, b) = (ring[k], ring[(k + 1) % n]);
                0.5 * ((a.0 - centre.0) * (b.1 - centre.1) - (a.1 - centre.1) * (b.0 - centre.0)).abs()
            })
            .sum();
        let covered = any.iter().filter(|&&c| c).count() as f32;
        assert!((covered - area).abs() < 0.05 * area, "covered {covered}, area {area}");
    }

    #[test]
    fn near_plane_clipping_keeps_the_visible_part() {
        // A triangle crossing the near plane (z = 0.5): the part in front is drawn, nothing behind.
        let planes = ClipPlanes::new(0.5, 10.0, 10.0, 20.0, 20.0, 40.0, 40.0);
        let t = [
            CV { p: [-1.0, -1.0, 2.0], u: 0.0, v: 0.0, s: 1.0 },
            CV { p: [1.0, -1.0, 2.0], u: 1.0, v: 0.0, s: 1.0 },
            CV { p: [0.0, 1.0, -1.0], u: 0.0, v: 1.0, s: 1.0 },
        ];
        let mask = planes.outcode(&t[0].p) | planes.outcode(&t[1].p) | planes.outcode(&t[2].p);
        let mut poly = [CV::default(); 12];
        let n = clip_polygon(&planes, mask, t, &mut poly);
        assert_eq!(n, 4);
        for v in &poly[..n] {
            assert!(v.p[2] >= 0.5 - 1e-6);
        }
        // Attributes are interpolated along the clipped edges: v grows towards the clipped vertex.
        assert!(poly[..n].iter().any(|v| v.v > 0.0 && v.v < 1.0));
    }
}
