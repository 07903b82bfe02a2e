//! Ground-truth optical flow between two parameter settings of a scene, from geometry (not from images).
//!
//! For each pixel centre x₁ of frame 1, the surface point seen there (depth from a one-sample-per-pixel coverage
//! pass) is moved with its object (objects may spin between the frames; the rest of the scene is rigid) and
//! projected into camera 2 at x₂. flow(x₁) = x₂ − x₁ (u right, v down, pixels), so frame2(x₁ + flow(x₁)) ≈
//! frame1(x₁), the OpenCV convention. A pixel is *valid* when its centre sees a surface (not the background), the
//! moved point lies in front of camera 2 and inside its image (−0.5 ≤ x₂ ≤ w − 0.5, same for y), and nothing in
//! frame 2 hides it: a ray cast from camera 2 towards the point hits no other surface first (exact visibility
//! against the scene's triangles, with back faces of closed objects ignored as the rasterizer does).
//! Invalid pixels still hold the geometric flow when the point is in front of camera 2, and 0 otherwise
//! (background, behind the camera).

use nalgebra::{Matrix3, Vector3};
use ndarray::{Array2, Array3};
use rayon::prelude::*;

use crate::camera::Camera;
use crate::error::{RenderError, Result};
use crate::raster::{self, object_spin, object_visible, Scratch, NO_TRI};
use crate::render::RenderOptions;
use crate::scene::{Params, Scene};

/// Ground-truth flow of one image pair.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowField {
    /// Height × width × 2 (u then v), pixels.
    pub flow: Array3<f32>,
    /// Height × width: the flow can be checked against the images at this pixel (see the module docs).
    pub valid: Array2<bool>,
}

/// Triangles of one object in world coordinates at frame 2, for occlusion rays.
struct Occluder {
    object: usize,
    centre: Vector3<f64>,
    radius: f64,
    cull: bool,
    /// (v0, e1 = v1 − v0, e2 = v2 − v0)
    tris: Vec<[Vector3<f64>; 3]>,
}

/// Relative margin before the target point along an occlusion ray: surfaces closer to the target than 0.01 % of
/// its distance do not hide it (the reconstructed point is ~1e-7 relative off its surface).
const RAY_EPS: f64 = 1e-4;

/// Does a surface hide `target` from `eye`? The target's own triangle `(object, triangle)` is skipped.
fn occluded(occ: &[Occluder], eye: &Vector3<f64>, target: &Vector3<f64>, own: (usize, usize)) -> bool {
    let d = target - eye;
    let dd = d.norm_squared();
    for o in occ {
        // Segment–sphere rejection.
        let t = ((o.centre - eye).dot(&d) / dd).clamp(0.0, 1.0);
        if (eye + d * t - o.centre).norm_squared() > o.radius * o.radius {
            continue;
        }
        for (ti, [v0, e1, e2]) in o.tris.iter().enumerate() {
            if (o.object, ti) == own {
                continue;
            }
            let s = eye - v0;
            if o.cull && e1.cross(e2).dot(&s) <= 0.0 {
                continue; // back face seen from camera 2: not drawn, cannot hide anything
            }
            // Möller–Trumbore.
            let h = d.cross(e2);
            let a = e1.dot(&h);
            if a.abs() < 1e-18 {
                continue;
            }
            let f = 1.0 / a;
            let u = f * s.dot(&h);
            if !(0.0..=1.0).contains(&u) {
                continue;
            }
            let q = s.cross(e1);
            let v = f * d.dot(&q);
            if v < 0.0 || u + v > 1.0 {
                continue;
            }
            let t = f * e2.dot(&q);
            if t > 1e-9 && t < 1.0 - RAY_EPS {
                return true;
            }
        }
    }
    false
}

/// Ground-truth flow from frame 1 (`a`) to frame 2 (`b`) at the size of `opts` (other options do not matter).
pub fn true_flow(scene: &Scene, a: &Params, b: &Params, opts: &RenderOptions) -> Result<FlowField> {
    opts.validate()?;
    scene.check_params(a)?;
    scene.check_params(b)?;
    if a.label != b.label {
        return Err(RenderError::Params(format!(
            "flow needs the same objects in both frames, but the class labels differ ({:?} vs {:?})",
            a.label, b.label
        )));
    }
    let (w, h) = (opts.width, opts.height);
    let cam_a = Camera::new(scene, a, w, h);
    let cam_b = Camera::new(scene, b, w, h);
    let mut scratch = Scratch::default();
    raster::prepare(scene, a, &cam_a, &mut scratch.prep);
    raster::coverage(scene, &scratch.prep, &cam_a, 1, &mut scratch.centre);

    // Per object: world(frame 1) → world(frame 2) = spin_b·spin_aᵀ·(p − pivot) + pivot.
    let moves: Vec<(Matrix3<f64>, Vector3<f64>)> = (0..scene.objects.len())
        .map(|k| {
            let (ra, pivot) = object_spin(scene, k, a);
            let (rb, _) = object_spin(scene, k, b);
            (rb * ra.transpose(), pivot)
        })
        .collect();
    let occluders: Vec<Occluder> = scene
        .objects
        .iter()
        .enumerate()
        .filter(|(k, _)| object_visible(scene, *k, b))
        .map(|(k, obj)| {
            let (r, pivot) = object_spin(scene, k, b);
            let to_world = |p: &[f32; 3]| r * (Vector3::new(p[0] as f64, p[1] as f64, p[2] as f64) - pivot) + pivot;
            let tris = obj
                .mesh
                .tris
                .iter()
                .map(|t| {
                    let [v0, v1, v2] = t.map(|i| to_world(&obj.mesh.pos[i as usize]));
                    [v0, v1 - v0, v2 - v0]
                })
                .collect();
            Occluder { object: k, centre: r * (obj.bound.0 - pivot) + pivot, radius: obj.bound.1, cull: obj.cull, tris }
        })
        .collect();

    let pass = &scratch.centre;
    let prep = &scratch.prep;
    let depth = raster::centre_depth(scene, prep, &cam_a, pass);
    let mut flow = vec![0.0f32; w * h * 2];
    let mut valid = vec![false; w * h];
    flow.par_chunks_mut(w * 2).zip(valid.par_chunks_mut(w)).enumerate().for_each(|(y, (frow, vrow))| {
        for x in 0..w {
            let i = y * w + x;
            let id = pass.id[i];
            if id == NO_TRI {
                continue;
            }
            let pw = cam_a.to_world(&cam_a.unproject(x as f64, y as f64, depth[i]));
            let tri = &pass.tris[id as usize];
            let object = prep.objs[tri.pobj as usize].object;
            let (m, pivot) = &moves[object];
            let pb = m * (pw - pivot) + pivot;
            let c = cam_b.to_camera(&pb);
            if c.z <= cam_b.near {
                continue;
            }
            let x2 = cam_b.fx * c.x / c.z + cam_b.cx;
            let y2 = cam_b.fy * c.y / c.z + cam_b.cy;
            frow[2 * x] = (x2 - x as f64) as f32;
            frow[2 * x + 1] = (y2 - y as f64) as f32;
            let inside = (-0.5..=w as f64 - 0.5).contains(&x2) && (-0.5..=h as f64 - 0.5).contains(&y2);
            vrow[x] = inside && !occluded(&occluders, &cam_b.eye, &pb, (object, tri.src as usize));
        }
    });
    Ok(FlowField {
        flow: Array3::from_shape_vec((h, w, 2), flow).expect("h·w·2 flow entries"),
        valid: Array2::from_shape_vec((h, w), valid).expect("h·w mask entries"),
    })
}

/// Samples an h×w×c image at a sub-pixel position with bilinear interpolation (clamped at the borders).
pub fn sample_bilinear(img: &Array3<f32>, x: f64, y: f64, out: &mut [f32]) {
    let (h, w, c) = img.dim();
    let x = x.clamp(0.0, (w - 1) as f64);
    let y = y.clamp(0.0, (h - 1) as f64);
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = ((x - x0 as f64) as f32, (y - y0 as f64) as f32);
    for k in 0..c {
        let top = img[[y0, x0, k]] + (img[[y0, x1, k]] - img[[y0, x0, k]]) * fx;
        let bot = img[[y1, x0, k]] + (img[[y1, x1, k]] - img[[y1, x0, k]]) * fx;
        out[k] = top + (bot - top) * fy;
    }
}

/// Warps frame 2 back to frame 1 with a flow field: out(x) = frame2(x + flow(x)) (bilinear).
pub fn warp_back(frame2: &Array3<f32>, flow: &Array3<f32>) -> Array3<f32> {
    let (h, w, c) = frame2.dim();
    let mut out = Array3::zeros((h, w, c));
    let mut px = vec![0.0f32; c];
    for y in 0..h {
        for x in 0..w {
            let (u, v) = (flow[[y, x, 0]] as f64, flow[[y, x, 1]] as f64);
            sample_bilinear(frame2, x as f64 + u, y as f64 + v, &mut px);
            for k in 0..c {
                out[[y, x, k]] = px[k];
            }
        }
    }
    out
}
