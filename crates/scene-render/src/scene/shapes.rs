//! Textures and meshes of a scene file's materials and objects.

use super::builtin::AssetSource;
use super::file::{ObjectFile, TextureFile};
use super::parse::{check_color, invalid};
use crate::error::{RenderError, Result};
use crate::mesh::{self, Mesh};
use crate::texture::{self, Texture};

pub(super) fn make_texture(origin: &str, what: &str, t: &TextureFile, assets: &AssetSource) -> Result<Texture> {
    let colors = |c: &[[f32; 3]; 2]| -> Result<[[f32; 3]; 2]> {
        Ok([check_color(origin, what, c[0])?, check_color(origin, what, c[1])?])
    };
    let count = |n: u32, field: &str| -> Result<u32> {
        if (1..=256).contains(&n) {
            Ok(n)
        } else {
            Err(invalid(origin, format!("{what}: texture {field} = {n} must lie in 1..=256")))
        }
    };
    Ok(match t {
        TextureFile::Checker { colors: c, checks } => texture::checker(colors(c)?, count(*checks, "checks")?),
        TextureFile::Stripes { colors: c, count: n } => texture::stripes(colors(c)?, count(*n, "count")?),
        TextureFile::Noise { colors: c, scale, octaves, seed } => {
            let oct = octaves.unwrap_or(3);
            if !(1..=8).contains(&oct) {
                return Err(invalid(origin, format!("{what}: noise octaves = {oct} must lie in 1..=8")));
            }
            texture::noise(colors(c)?, count(*scale, "scale")?, oct, seed.unwrap_or(0))
        }
        TextureFile::Image { path } => {
            let (shown, bytes) = assets.read(path).map_err(|message| RenderError::Texture {
                origin: origin.to_string(),
                path: path.clone(),
                message,
            })?;
            let img = image::load_from_memory(&bytes).map_err(|e| RenderError::Texture {
                origin: origin.to_string(),
                path: shown.clone(),
                message: e.to_string(),
            })?;
            texture::from_image(&img).map_err(|message| RenderError::Texture {
                origin: origin.to_string(),
                path: shown,
                message,
            })?
        }
    })
}

/// Builds an object's mesh in its local frame; the flag says whether the surface is closed (back faces culled).
pub(super) fn make_mesh(origin: &str, what: &str, o: &ObjectFile, assets: &AssetSource) -> Result<(Mesh, bool)> {
    let pos = |field: &str, v: Option<f64>, default: Option<f64>| -> Result<f32> {
        match v.or(default) {
            Some(x) if x.is_finite() && x > 0.0 => Ok(x as f32),
            Some(x) => Err(invalid(origin, format!("{what}: {field} = {x} must be positive"))),
            None => Err(invalid(origin, format!("{what}: shape '{}' needs `{field}`", o.shape))),
        }
    };
    let segs = |field: &str, v: Option<u32>, default: u32, min: u32| -> Result<u32> {
        let n = v.unwrap_or(default);
        if (min..=1024).contains(&n) {
            Ok(n)
        } else {
            Err(invalid(origin, format!("{what}: {field} = {n} must lie in {min}..=1024")))
        }
    };
    // Reject fields that mean nothing for this shape (catches typos such as `radius` on a cube).
    let allowed: &[&str] = match o.shape.as_str() {
        "cube" => &["size"],
        "sphere" => &["radius", "segments", "rings"],
        "cylinder" | "cone" => &["radius", "radius_top", "height", "segments", "smooth"],
        "torus" => &["major_radius", "minor_radius", "segments", "rings"],
        "plane" => &["size"],
        "mesh" => &["path"],
        other => {
            return Err(invalid(
                origin,
                format!("{what}: unknown shape '{other}' (shapes: cube, sphere, cylinder, cone, torus, plane, mesh)"),
            ));
        }
    };
    let given = [
        ("size", o.size.is_some()),
        ("radius", o.radius.is_some()),
        ("radius_top", o.radius_top.is_some()),
        ("height", o.height.is_some()),
        ("major_radius", o.major_radius.is_some()),
        ("minor_radius", o.minor_radius.is_some()),
        ("segments", o.segments.is_some()),
        ("rings", o.rings.is_some()),
        ("smooth", o.smooth.is_some()),
        ("path", o.path.is_some()),
    ];
    for (field, present) in given {
        if present && !allowed.contains(&field) {
            return Err(invalid(origin, format!("{what}: `{field}` does not apply to shape '{}'", o.shape)));
        }
    }
    let size = |n: usize, default: f64| -> Result<Vec<f32>> {
        let v = o.size.clone().unwrap_or_else(|| vec![default; n]);
        if v.len() != n || v.iter().any(|x| !x.is_finite() || *x <= 0.0) {
            return Err(invalid(origin, format!("{what}: size must be {n} positive numbers, got {v:?}")));
        }
        Ok(v.into_iter().map(|x| x as f32).collect())
    };
    Ok(match o.shape.as_str() {
        "cube" => {
            let s = size(3, 1.0)?;
            (mesh::cube([s[0], s[1], s[2]]), true)
        }
        "sphere" => (
            mesh::sphere(
                pos("radius", o.radius, Some(0.5))?,
                segs("segments", o.segments, 32, 3)?,
                segs("rings", o.rings, 16, 2)?,
            ),
            true,
        ),
        "cylinder" | "cone" => {
            let r0 = pos("radius", o.radius, Some(0.5))?;
            let r1 = match (o.shape.as_str(), o.radius_top) {
                ("cone", None) => 0.0,
                (_, None) => r0,
                (_, Some(r)) if r.is_finite() && r >= 0.0 => r as f32,
                (_, Some(r)) => return Err(invalid(origin, format!("{what}: radius_top = {r} must be ≥ 0"))),
            };
            let h = pos("height", o.height, Some(1.0))?;
            (mesh::cylinder(r0, r1, h, segs("segments", o.segments, 32, 3)?, o.smooth.unwrap_or(true)), true)
        }
        "torus" => {
            let big = pos("major_radius", o.major_radius, Some(0.5))?;
            let small = pos("minor_radius", o.minor_radius, Some(0.2))?;
            (mesh::torus(big, small, segs("segments", o.segments, 32, 3)?, segs("rings", o.rings, 16, 3)?), true)
        }
        "plane" => {
            let s = size(2, 10.0)?;
            (mesh::plane([s[0], s[1]]), false)
        }
        "mesh" => {
            let rel = o.path.as_ref().ok_or_else(|| invalid(origin, format!("{what}: shape 'mesh' needs `path`")))?;
            let mesh_err =
                |path: String, message: String| RenderError::Mesh { origin: origin.to_string(), path, message };
            let (shown, bytes) = assets.read(rel).map_err(|m| mesh_err(rel.clone(), m))?;
            let m = mesh::load_obj(&mut std::io::Cursor::new(bytes)).map_err(|m| mesh_err(shown, m))?;
            (m, false)
        }
        _ => unreachable!("shape checked above"),
    })
}
