//! The orbit camera and the pinhole projection.
//!
//! World: right-handed, y up. The camera orbits `target`: at yaw = pitch = 0 it sits on the +z side of the target
//! looking towards −z; positive yaw moves it towards +x (counter-clockwise seen from above), positive pitch raises
//! it (it looks down). Roll turns the camera about its optical axis (positive roll turns the image content
//! counter-clockwise). shift_x / shift_y translate the camera along its own right / up axes (after roll), keeping
//! its orientation. Camera coordinates follow OpenCV: x right, y down, z forward; pixel centres sit at integer
//! coordinates, (0, 0) being the centre of the top-left pixel.

use nalgebra::{Matrix3, Point3, Rotation3, Vector3};

use crate::scene::{Params, Scene, DISTANCE, LIGHT_AZIMUTH, LIGHT_ELEVATION, PITCH, ROLL, SHIFT_X, SHIFT_Y, YAW};

#[derive(Debug, Clone)]
pub struct Camera {
    /// World → camera rotation (rows: right, down, forward).
    pub rot: Matrix3<f64>,
    /// Camera centre in world coordinates.
    pub eye: Vector3<f64>,
    pub fx: f64,
    pub fy: f64,
    pub cx: f64,
    pub cy: f64,
    pub width: usize,
    pub height: usize,
    pub near: f64,
}

impl Camera {
    /// The camera of `params` for a `width` × `height` image (vertical field of view from the scene).
    pub fn new(scene: &Scene, params: &Params, width: usize, height: usize) -> Camera {
        let v = &params.values;
        let (yaw, pitch, roll) = (v[YAW].to_radians(), v[PITCH].to_radians(), v[ROLL].to_radians());
        let offset = Vector3::new(pitch.cos() * yaw.sin(), pitch.sin(), pitch.cos() * yaw.cos()) * v[DISTANCE];
        let eye0 = scene.target + offset;
        let fwd = (-offset).normalize();
        let right = fwd.cross(&Vector3::y()).normalize();
        let down = fwd.cross(&right);
        // Roll: rotate right/down about the forward axis.
        let r = Rotation3::from_axis_angle(&nalgebra::Unit::new_unchecked(fwd), roll);
        let (right, down) = (r * right, r * down);
        let eye = eye0 + right * v[SHIFT_X] - down * v[SHIFT_Y];
        let rot = Matrix3::from_rows(&[right.transpose(), down.transpose(), fwd.transpose()]);
        let fy = 0.5 * height as f64 / (0.5 * scene.fov_deg.to_radians()).tan();
        Camera {
            rot,
            eye,
            fx: fy,
            fy,
            cx: (width as f64 - 1.0) / 2.0,
            cy: (height as f64 - 1.0) / 2.0,
            width,
            height,
            near: scene.near,
        }
    }

    /// World point → camera coordinates.
    pub fn to_camera(&self, p: &Vector3<f64>) -> Vector3<f64> {
        self.rot * (p - self.eye)
    }

    /// Camera coordinates → world point.
    pub fn to_world(&self, c: &Vector3<f64>) -> Vector3<f64> {
        self.rot.transpose() * c + self.eye
    }

    /// World point → (pixel x, pixel y, depth z).
    pub fn project(&self, p: &Point3<f64>) -> (f64, f64, f64) {
        let c = self.to_camera(&p.coords);
        (self.fx * c.x / c.z + self.cx, self.fy * c.y / c.z + self.cy, c.z)
    }

    /// Camera-space point seen at pixel (x, y) with depth z.
    pub fn unproject(&self, x: f64, y: f64, z: f64) -> Vector3<f64> {
        Vector3::new((x - self.cx) / self.fx * z, (y - self.cy) / self.fy * z, z)
    }
}

/// Unit vector pointing towards the light (same azimuth/elevation convention as the camera's yaw/pitch).
pub fn light_direction(params: &Params) -> Vector3<f64> {
    let (az, el) = (params.values[LIGHT_AZIMUTH].to_radians(), params.values[LIGHT_ELEVATION].to_radians());
    Vector3::new(el.cos() * az.sin(), el.sin(), el.cos() * az.cos())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scene() -> Scene {
        Scene::from_toml_str("[camera]\ntarget = [0, 1, 0]\nfov_deg = 90\n[[objects]]\nname='a'\nshape='cube'\n")
            .unwrap()
    }

    fn params(s: &Scene, vals: &[(&str, f64)]) -> Params {
        let mut p = s.default_params();
        for (n, v) in vals {
            p.values[s.param_index(n).unwrap()] = *v;
        }
        p
    }

    #[test]
    fn orbit_conventions() {
        let s = scene();
        // yaw 0, pitch 0: camera on +z looking at the target; the target projects to the image centre.
        let c = Camera::new(&s, &params(&s, &[("pitch", 0.0), ("distance", 4.0)]), 65, 65);
        assert!((c.eye - Vector3::new(0.0, 1.0, 4.0)).norm() < 1e-12);
        let (x, y, z) = c.project(&Point3::new(0.0, 1.0, 0.0));
        assert!((x - 32.0).abs() < 1e-9 && (y - 32.0).abs() < 1e-9 && (z - 4.0).abs() < 1e-12);
        // +x appears to the right, +y up (smaller row index); 90° fov: a point at 45° lands on the border.
        let (x, _, _) = c.project(&Point3::new(1.0, 1.0, 3.0));
        assert!((x - 64.5).abs() < 1e-9, "{x}");
        let (_, y, _) = c.project(&Point3::new(0.0, 2.0, 3.0));
        assert!((y + 0.5).abs() < 1e-9, "{y}");
        // yaw 90: camera on +x.
        let c = Camera::new(&s, &params(&s, &[("pitch", 0.0), ("yaw", 90.0)]), 32, 32);
        assert!((c.eye - Vector3::new(4.0, 1.0, 0.0)).norm() < 1e-9);
        // pitch 30: camera above, looking down.
        let c = Camera::new(&s, &params(&s, &[("pitch", 30.0), ("yaw", 0.0)]), 32, 32);
        assert!((c.eye.y - 1.0 - 2.0).abs() < 1e-9);
        // roll 90: a point to the right of the target moves up (content rotates counter-clockwise).
        let c = Camera::new(&s, &params(&s, &[("pitch", 0.0), ("roll", 90.0)]), 65, 65);
        let (x, y, _) = c.project(&Point3::new(1.0, 1.0, 0.0));
        assert!((x - 32.0).abs() < 1e-9 && y < 32.0 - 1.0, "{x} {y}");
        // shift_x: camera moves right, the target moves left in the image.
        let c = Camera::new(&s, &params(&s, &[("pitch", 0.0), ("shift_x", 0.5)]), 65, 65);
        let (x, _, _) = c.project(&Point3::new(0.0, 1.0, 0.0));
        assert!(x < 32.0);
        let c = Camera::new(&s, &params(&s, &[("pitch", 0.0), ("shift_y", 0.5)]), 65, 65);
        let (_, y, _) = c.project(&Point3::new(0.0, 1.0, 0.0));
        assert!(y > 32.0);
        // unproject inverts project.
        let p = Point3::new(0.3, 0.2, -0.7);
        let (x, y, z) = c.project(&p);
        assert!((c.to_world(&c.unproject(x, y, z)) - p.coords).norm() < 1e-12);
    }
}
