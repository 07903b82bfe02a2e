//! Triangle meshes: tessellated primitives and Wavefront OBJ files (via `tobj`).
//!
//! Conventions: right-handed, y up; triangles wind counter-clockwise seen from outside (their geometric normal
//! (v1 − v0) × (v2 − v0) points out); vertex normals are unit length; texture coordinates are (u, v) with v = 0 at
//! the first image row.

use std::f32::consts::PI;

use nalgebra::{Matrix3, Matrix4, Point3, Vector3};

#[derive(Debug, Clone, Default)]
pub struct Mesh {
    pub pos: Vec<[f32; 3]>,
    pub nrm: Vec<[f32; 3]>,
    pub uv: Vec<[f32; 2]>,
    pub tris: Vec<[u32; 3]>,
}

impl Mesh {
    fn vertex(&mut self, p: [f32; 3], n: [f32; 3], uv: [f32; 2]) -> u32 {
        self.pos.push(p);
        self.nrm.push(n);
        self.uv.push(uv);
        (self.pos.len() - 1) as u32
    }

    /// Adds a triangle, skipping degenerate ones (zero area, e.g. at the poles of a sphere).
    fn tri(&mut self, a: u32, b: u32, c: u32) {
        let (pa, pb, pc) = (v3(self.pos[a as usize]), v3(self.pos[b as usize]), v3(self.pos[c as usize]));
        if (pb - pa).cross(&(pc - pa)).norm_squared() > 1e-14 {
            self.tris.push([a, b, c]);
        }
    }

    fn append(&mut self, other: Mesh) {
        let off = self.pos.len() as u32;
        self.pos.extend(other.pos);
        self.nrm.extend(other.nrm);
        self.uv.extend(other.uv);
        self.tris.extend(other.tris.into_iter().map(|[a, b, c]| [a + off, b + off, c + off]));
    }

    /// Makes every triangle wind so that its geometric normal agrees with its vertex normals (used for the
    /// primitives, whose vertex normals are exact, so winding mistakes cannot creep in).
    fn orient_by_normals(&mut self) {
        for t in &mut self.tris {
            let [a, b, c] = *t;
            let (pa, pb, pc) = (v3(self.pos[a as usize]), v3(self.pos[b as usize]), v3(self.pos[c as usize]));
            let g = (pb - pa).cross(&(pc - pa));
            let n = v3(self.nrm[a as usize]) + v3(self.nrm[b as usize]) + v3(self.nrm[c as usize]);
            if g.dot(&n) < 0.0 {
                *t = [a, c, b];
            }
        }
    }

    /// Applies an affine transform to positions (normals with the inverse transpose) and scales texture
    /// coordinates.
    pub fn transform(&mut self, m: &Matrix4<f64>, uv_scale: [f32; 2]) {
        let lin: Matrix3<f64> = m.fixed_view::<3, 3>(0, 0).into_owned();
        let nmat = lin.try_inverse().map(|i| i.transpose()).unwrap_or(lin);
        let flips = lin.determinant() < 0.0;
        for p in &mut self.pos {
            let q = m.transform_point(&Point3::new(p[0] as f64, p[1] as f64, p[2] as f64));
            *p = [q.x as f32, q.y as f32, q.z as f32];
        }
        for n in &mut self.nrm {
            let q = nmat * Vector3::new(n[0] as f64, n[1] as f64, n[2] as f64);
            let q = q.try_normalize(1e-12).unwrap_or(Vector3::y());
            *n = [q.x as f32, q.y as f32, q.z as f32];
        }
        for t in &mut self.uv {
            t[0] *= uv_scale[0];
            t[1] *= uv_scale[1];
        }
        if flips {
            // A mirroring transform reverses the winding; restore counter-clockwise-from-outside.
            for t in &mut self.tris {
                t.swap(1, 2);
            }
        }
    }

    /// Centre and radius of a sphere enclosing all vertices.
    pub fn bounding_sphere(&self) -> (Vector3<f64>, f64) {
        if self.pos.is_empty() {
            return (Vector3::zeros(), 0.0);
        }
        let mut lo = Vector3::repeat(f64::INFINITY);
        let mut hi = Vector3::repeat(f64::NEG_INFINITY);
        for p in &self.pos {
            let p = Vector3::new(p[0] as f64, p[1] as f64, p[2] as f64);
            lo = lo.inf(&p);
            hi = hi.sup(&p);
        }
        let c = (lo + hi) * 0.5;
        let r = self
            .pos
            .iter()
            .map(|p| (Vector3::new(p[0] as f64, p[1] as f64, p[2] as f64) - c).norm())
            .fold(0.0, f64::max);
        (c, r * (1.0 + 1e-6) + 1e-9)
    }

    /// Signed volume (positive for a closed mesh wound counter-clockwise from outside).
    #[cfg(test)]
    pub fn signed_volume(&self) -> f64 {
        self.tris
            .iter()
            .map(|t| {
                let [a, b, c] = t.map(|i| {
                    let p = self.pos[i as usize];
                    Vector3::new(p[0] as f64, p[1] as f64, p[2] as f64)
                });
                a.dot(&b.cross(&c)) / 6.0
            })
            .sum()
    }
}

fn v3(p: [f32; 3]) -> Vector3<f32> {
    Vector3::new(p[0], p[1], p[2])
}

/// Axis-aligned box centred at the origin; each face maps the whole texture.
pub fn cube(size: [f32; 3]) -> Mesh {
    let h = [size[0] / 2.0, size[1] / 2.0, size[2] / 2.0];
    let mut m = Mesh::default();
    // (normal, u axis, v axis): u runs along +u_axis, v along −v_axis (v = 0 is the top image row).
    let faces: [([f32; 3], [f32; 3], [f32; 3]); 6] = [
        ([1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]),
        ([-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]),
        ([0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]),
        ([0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]),
        ([0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]),
        ([0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]),
    ];
    for (n, a, b) in faces {
        let corner = |su: f32, sv: f32| -> [f32; 3] { [0, 1, 2].map(|k| (n[k] + a[k] * su + b[k] * sv) * h[k]) };
        let i0 = m.vertex(corner(-1.0, -1.0), n, [0.0, 1.0]);
        let i1 = m.vertex(corner(1.0, -1.0), n, [1.0, 1.0]);
        let i2 = m.vertex(corner(1.0, 1.0), n, [1.0, 0.0]);
        let i3 = m.vertex(corner(-1.0, 1.0), n, [0.0, 0.0]);
        m.tri(i0, i1, i2);
        m.tri(i0, i2, i3);
    }
    m.orient_by_normals();
    m
}

/// UV sphere centred at the origin: `segments` around the y axis, `rings` from pole to pole.
pub fn sphere(radius: f32, segments: u32, rings: u32) -> Mesh {
    let mut m = Mesh::default();
    let (s, r) = (segments as usize, rings as usize);
    for i in 0..=r {
        let theta = PI * i as f32 / r as f32;
        for j in 0..=s {
            let phi = 2.0 * PI * j as f32 / s as f32;
            let n = [theta.sin() * phi.cos(), theta.cos(), -theta.sin() * phi.sin()];
            m.vertex(n.map(|c| c * radius), n, [j as f32 / s as f32, i as f32 / r as f32]);
        }
    }
    let idx = |i: usize, j: usize| (i * (s + 1) + j) as u32;
    for i in 0..r {
        for j in 0..s {
            m.tri(idx(i, j), idx(i + 1, j), idx(i + 1, j + 1));
            m.tri(idx(i, j), idx(i + 1, j + 1), idx(i, j + 1));
        }
    }
    m.orient_by_normals();
    m
}

/// Cylinder or truncated cone along y, centred at the origin: bottom radius `r0`, top radius `r1` (0 gives a cone),
/// with caps. `smooth` interpolates the side normals; otherwise each side facet is flat (e.g. a pyramid with
/// `segments = 4`).
pub fn cylinder(r0: f32, r1: f32, height: f32, segments: u32, smooth: bool) -> Mesh {
    let mut m = Mesh::default();
    let s = segments as usize;
    let (y0, y1) = (-height / 2.0, height / 2.0);
    let ang = |j: usize| 2.0 * PI * j as f32 / s as f32;
    let side_normal = |a: f32| {
        let n = Vector3::new(a.cos() * height, r0 - r1, -a.sin() * height).normalize();
        [n.x, n.y, n.z]
    };
    if smooth {
        let base = m.pos.len() as u32;
        for j in 0..=s {
            let a = ang(j);
            let n = side_normal(a);
            let u = j as f32 / s as f32;
            m.vertex([r0 * a.cos(), y0, -r0 * a.sin()], n, [u, 1.0]);
            m.vertex([r1 * a.cos(), y1, -r1 * a.sin()], n, [u, 0.0]);
        }
        for j in 0..s as u32 {
            let (b0, t0, b1, t1) = (base + 2 * j, base + 2 * j + 1, base + 2 * j + 2, base + 2 * j + 3);
            m.tri(b0, b1, t1);
            m.tri(b0, t1, t0);
        }
    } else {
        for j in 0..s {
            let (a0, a1) = (ang(j), ang(j + 1));
            let n = side_normal(0.5 * (a0 + a1));
            let (u0, u1) = (j as f32 / s as f32, (j + 1) as f32 / s as f32);
            let b0 = m.vertex([r0 * a0.cos(), y0, -r0 * a0.sin()], n, [u0, 1.0]);
            let b1 = m.vertex([r0 * a1.cos(), y0, -r0 * a1.sin()], n, [u1, 1.0]);
            let t1 = m.vertex([r1 * a1.cos(), y1, -r1 * a1.sin()], n, [u1, 0.0]);
            let t0 = m.vertex([r1 * a0.cos(), y1, -r1 * a0.sin()], n, [u0, 0.0]);
            m.tri(b0, b1, t1);
            m.tri(b0, t1, t0);
        }
    }
    for (r, y, ny) in [(r0, y0, -1.0f32), (r1, y1, 1.0)] {
        if r <= 0.0 {
            continue;
        }
        let n = [0.0, ny, 0.0];
        let c = m.vertex([0.0, y, 0.0], n, [0.5, 0.5]);
        let first = m.pos.len() as u32;
        for j in 0..=s {
            let a = ang(j);
            m.vertex([r * a.cos(), y, -r * a.sin()], n, [0.5 + 0.5 * a.cos(), 0.5 + 0.5 * a.sin()]);
        }
        for j in 0..s as u32 {
            m.tri(c, first + j, first + j + 1);
        }
    }
    m.orient_by_normals();
    m
}

/// Torus around the y axis: ring radius `major`, tube radius `minor`.
pub fn torus(major: f32, minor: f32, segments: u32, rings: u32) -> Mesh {
    let mut m = Mesh::default();
    let (s, r) = (segments as usize, rings as usize);
    for i in 0..=s {
        let u = 2.0 * PI * i as f32 / s as f32;
        for j in 0..=r {
            let v = 2.0 * PI * j as f32 / r as f32;
            let n = [v.cos() * u.cos(), v.sin(), -v.cos() * u.sin()];
            let p = [(major + minor * v.cos()) * u.cos(), minor * v.sin(), -(major + minor * v.cos()) * u.sin()];
            m.vertex(p, n, [i as f32 / s as f32, j as f32 / r as f32]);
        }
    }
    let idx = |i: usize, j: usize| (i * (r + 1) + j) as u32;
    for i in 0..s {
        for j in 0..r {
            m.tri(idx(i, j), idx(i + 1, j), idx(i + 1, j + 1));
            m.tri(idx(i, j), idx(i + 1, j + 1), idx(i, j + 1));
        }
    }
    m.orient_by_normals();
    m
}

/// Horizontal rectangle in the xz plane (y = 0) facing +y, `size` = [x extent, z extent]; the texture spans it
/// once (scale it with the object's `uv_scale`).
pub fn plane(size: [f32; 2]) -> Mesh {
    let (a, b) = (size[0] / 2.0, size[1] / 2.0);
    let n = [0.0, 1.0, 0.0];
    let mut m = Mesh::default();
    let i0 = m.vertex([-a, 0.0, -b], n, [0.0, 0.0]);
    let i1 = m.vertex([-a, 0.0, b], n, [0.0, 1.0]);
    let i2 = m.vertex([a, 0.0, b], n, [1.0, 1.0]);
    let i3 = m.vertex([a, 0.0, -b], n, [1.0, 0.0]);
    m.tri(i0, i1, i2);
    m.tri(i0, i2, i3);
    m.orient_by_normals();
    m
}

/// Loads every model of a Wavefront OBJ (text in `reader`) into one mesh. Faces are triangulated; MTL materials are
/// ignored (the scene file gives the material). Missing normals are computed (area-weighted vertex normals);
/// missing texture coordinates are zero.
pub fn load_obj(reader: &mut impl std::io::BufRead) -> Result<Mesh, String> {
    let opts = tobj::LoadOptions { triangulate: true, single_index: true, ..Default::default() };
    let (models, _materials) =
        tobj::load_obj_buf(reader, &opts, |_| Err(tobj::LoadError::OpenFileFailed)).map_err(|e| e.to_string())?;
    let mut out = Mesh::default();
    for model in models {
        let mesh = model.mesh;
        let nv = mesh.positions.len() / 3;
        if nv == 0 || mesh.indices.is_empty() {
            continue;
        }
        let mut part =
            Mesh { pos: mesh.positions.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect(), ..Default::default() };
        if part.pos.iter().flatten().any(|c| !c.is_finite()) {
            return Err(format!("model '{}' has a non-finite vertex coordinate", model.name));
        }
        part.uv = if mesh.texcoords.len() == 2 * nv {
            mesh.texcoords.chunks_exact(2).map(|t| [t[0], 1.0 - t[1]]).collect()
        } else {
            vec![[0.0, 0.0]; nv]
        };
        for t in mesh.indices.chunks_exact(3) {
            if t.iter().any(|&i| i as usize >= nv) {
                return Err(format!("model '{}' has a face index out of range", model.name));
            }
            part.tri(t[0], t[1], t[2]);
        }
        part.nrm = if mesh.normals.len() == 3 * nv {
            mesh.normals
                .chunks_exact(3)
                .map(|n| {
                    let v = Vector3::new(n[0], n[1], n[2]).try_normalize(1e-12).unwrap_or(Vector3::y());
                    [v.x, v.y, v.z]
                })
                .collect()
        } else {
            let mut acc = vec![Vector3::<f32>::zeros(); nv];
            for t in &part.tris {
                let [a, b, c] = t.map(|i| v3(part.pos[i as usize]));
                let g = (b - a).cross(&(c - a));
                for &i in t {
                    acc[i as usize] += g;
                }
            }
            acc.into_iter()
                .map(|n| {
                    let v = n.try_normalize(1e-20).unwrap_or(Vector3::y());
                    [v.x, v.y, v.z]
                })
                .collect()
        };
        out.append(part);
    }
    if out.tris.is_empty() {
        return Err("no triangles found".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_primitives_have_their_analytic_volume_and_outward_winding() {
        let pi = std::f64::consts::PI;
        let cases: Vec<(&str, Mesh, f64, f64)> = vec![
            ("cube", cube([1.0, 2.0, 3.0]), 6.0, 1e-6),
            ("sphere", sphere(1.0, 64, 32), 4.0 / 3.0 * pi, 0.01),
            ("cylinder", cylinder(1.0, 1.0, 2.0, 64, true), 2.0 * pi, 0.01),
            ("cone", cylinder(1.0, 0.0, 3.0, 64, true), pi, 0.01),
            ("pyramid", cylinder(1.0, 0.0, 3.0, 4, false), 2.0, 1e-5),
            ("torus", torus(2.0, 0.5, 64, 32), 2.0 * pi * pi * 2.0 * 0.25, 0.01),
        ];
        for (name, m, vol, tol) in cases {
            let v = m.signed_volume();
            assert!((v - vol).abs() / vol < tol, "{name}: volume {v}, expected {vol}");
            for n in &m.nrm {
                assert!((v3(*n).norm() - 1.0).abs() < 1e-5, "{name}: normal not unit");
            }
        }
    }

    #[test]
    fn obj_without_normals_gets_computed_ones() {
        let src = "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf 1 2 3 4\n";
        let m = load_obj(&mut std::io::Cursor::new(src)).unwrap();
        assert_eq!(m.tris.len(), 2);
        for n in &m.nrm {
            assert!((n[2] - 1.0).abs() < 1e-6, "{n:?}");
        }
        assert!(load_obj(&mut std::io::Cursor::new("v 0 0 0\n")).is_err());
        assert!(load_obj(&mut std::io::Cursor::new("v 0 0 0\nf 1 2 3\n")).is_err());
    }
}
