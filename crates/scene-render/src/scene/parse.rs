//! Validation of a scene file into a [`Scene`].

use std::collections::HashMap;
use std::sync::Arc;

use nalgebra::{Matrix4, Rotation3, Unit as NUnit, Vector3};

use super::builtin::AssetSource;
use super::file::{ObjectFile, ParamFile, RangeFile, ScaleFile, SceneFile, SpinFile};
use super::shapes::{make_mesh, make_texture};
use super::{Material, Object, ParamSpec, Scene, Spin, Unit, DISTANCE, PITCH};
use crate::error::{RenderError, Result};

/// Largest object scale a scene file may give (each axis in (0, MAX_SCALE]).
const MAX_SCALE: f64 = 1e6;

/// Values a camera or light parameter can never take (whatever the scene says).
pub(super) fn check_param_value(scene: &Scene, i: usize, v: f64) -> Result<()> {
    match i {
        PITCH if v.abs() >= 89.9 => Err(RenderError::Params(format!(
            "pitch {v}° is outside (-89.9°, 89.9°): the orbit camera is undefined looking straight up or down"
        ))),
        DISTANCE if v <= scene.near => {
            Err(RenderError::Params(format!("distance {v} must exceed the camera's near plane ({})", scene.near)))
        }
        _ => Ok(()),
    }
}

pub(super) fn invalid(origin: &str, message: impl Into<String>) -> RenderError {
    RenderError::InvalidScene { origin: origin.to_string(), message: message.into() }
}

fn resolve_param(origin: &str, name: &str, unit: Unit, f: Option<&ParamFile>, default: f64) -> Result<ParamSpec> {
    let (min, max, def) = match f {
        None => (default, default, default),
        Some(ParamFile::Fixed(v)) => (*v, *v, *v),
        Some(ParamFile::Range(r)) => {
            let [a, b] = r.range;
            (a, b, r.default.unwrap_or(0.5 * (a + b)))
        }
    };
    if !(min.is_finite() && max.is_finite() && def.is_finite()) {
        return Err(invalid(origin, format!("parameter '{name}': range and default must be finite numbers")));
    }
    if min > max {
        return Err(invalid(origin, format!("parameter '{name}': range [{min}, {max}] has min > max")));
    }
    if def < min || def > max {
        return Err(invalid(
            origin,
            format!("parameter '{name}': default {def} lies outside its range [{min}, {max}]"),
        ));
    }
    Ok(ParamSpec {
        name: name.to_string(),
        min,
        max,
        default: def,
        unit,
        periodic: unit == Unit::Degrees && max - min >= 360.0 - 1e-9,
    })
}

pub(super) fn check_color(origin: &str, what: &str, c: [f32; 3]) -> Result<[f32; 3]> {
    if c.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)) {
        Ok(c)
    } else {
        Err(invalid(origin, format!("{what}: colour {c:?} must have components in [0, 1]")))
    }
}

/// A TOML error on one line: the line and column, then the parser's message (without its source excerpt).
fn toml_message(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end().replace('\n', "; ");
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("TOML parse error at line {line}, column {column}: {message}")
        }
        None => format!("TOML parse error: {message}"),
    }
}

pub(super) fn parse(text: &str, origin: &str, fallback_name: &str, assets: AssetSource) -> Result<Scene> {
    let file: SceneFile = toml::from_str(text).map_err(|e| invalid(origin, toml_message(text, &e)))?;
    let name = file.name.clone().unwrap_or_else(|| fallback_name.to_string());
    let View { fov_deg, near, ambient, intensity, mut params, hue, background } = camera_and_light(origin, &file)?;
    let (mut materials, material_index) = materials(origin, &file, &assets)?;
    let classes = classes(origin, &file)?;
    let cx = ObjectContext { origin, assets: &assets, material_index: &material_index, classes: &classes, hue };
    let mut objects = Vec::new();
    let mut names = std::collections::HashSet::new();
    for o in &file.objects {
        if !names.insert(o.name.clone()) {
            return Err(invalid(origin, format!("two objects are named '{}'", o.name)));
        }
        objects.push(object(&cx, o, &mut materials, &mut params)?);
    }
    if objects.is_empty() {
        return Err(invalid(origin, "the scene has no objects"));
    }
    if objects.iter().any(|o| o.tint) && hue.is_none() {
        return Err(invalid(origin, "objects have `tint = true` but the scene has no [tint] section"));
    }
    Ok(Scene {
        name,
        description: file.description.clone(),
        origin: origin.to_string(),
        source: text.to_string(),
        background,
        target: Vector3::from(file.camera.target),
        fov_deg,
        near,
        ambient,
        intensity,
        params,
        hue,
        materials,
        objects,
        classes,
    })
}

/// The camera, the light, the standard parameters (and `hue`) and the background of a scene file.
struct View {
    fov_deg: f64,
    near: f64,
    ambient: f32,
    intensity: f32,
    params: Vec<ParamSpec>,
    hue: Option<usize>,
    background: [f32; 3],
}

fn camera_and_light(origin: &str, file: &SceneFile) -> Result<View> {
    let cam = &file.camera;
    let fov_deg = cam.fov_deg.unwrap_or(40.0);
    if !(fov_deg > 1.0 && fov_deg < 170.0) {
        return Err(invalid(origin, format!("camera.fov_deg = {fov_deg} must lie in (1, 170)")));
    }
    let near = cam.near.unwrap_or(0.05);
    if !(near > 0.0 && near.is_finite()) {
        return Err(invalid(origin, format!("camera.near = {near} must be positive")));
    }
    if cam.target.iter().any(|v| !v.is_finite()) {
        return Err(invalid(origin, "camera.target must be finite"));
    }
    let ambient = file.light.ambient.unwrap_or(0.35);
    let intensity = file.light.intensity.unwrap_or(0.75);
    for (what, v) in [("light.ambient", ambient), ("light.intensity", intensity)] {
        if !(v.is_finite() && (0.0..=4.0).contains(&v)) {
            return Err(invalid(origin, format!("{what} = {v} must lie in [0, 4]")));
        }
    }

    use Unit::{Degrees, Length};
    let mut params = vec![
        resolve_param(origin, "yaw", Degrees, cam.yaw.as_ref(), 0.0)?,
        resolve_param(origin, "pitch", Degrees, cam.pitch.as_ref(), 20.0)?,
        resolve_param(origin, "roll", Degrees, cam.roll.as_ref(), 0.0)?,
        resolve_param(origin, "distance", Length, cam.distance.as_ref(), 4.0)?,
        resolve_param(origin, "shift_x", Length, cam.shift_x.as_ref(), 0.0)?,
        resolve_param(origin, "shift_y", Length, cam.shift_y.as_ref(), 0.0)?,
        resolve_param(origin, "light_azimuth", Degrees, file.light.azimuth.as_ref(), 45.0)?,
        resolve_param(origin, "light_elevation", Degrees, file.light.elevation.as_ref(), 50.0)?,
    ];
    let p = &params[PITCH];
    if p.min <= -89.9 || p.max >= 89.9 {
        return Err(invalid(
            origin,
            format!("camera.pitch range [{}, {}] must lie inside (-89.9, 89.9)", p.min, p.max),
        ));
    }
    if params[DISTANCE].min <= near {
        return Err(invalid(
            origin,
            format!("camera.distance range starts at {} which does not exceed near = {near}", params[DISTANCE].min),
        ));
    }
    let hue = match &file.tint {
        Some(t) => {
            params.push(resolve_param(origin, "hue", Degrees, Some(&t.hue), 0.0)?);
            Some(params.len() - 1)
        }
        None => None,
    };
    let background = check_color(origin, "background", file.background.unwrap_or([0.62, 0.70, 0.80]))?;
    Ok(View { fov_deg, near, ambient, intensity, params, hue, background })
}

/// Materials (textures baked / decoded once; shared between objects through Arc) and their indices by name.
fn materials(origin: &str, file: &SceneFile, assets: &AssetSource) -> Result<(Vec<Material>, HashMap<String, usize>)> {
    let mut materials = Vec::new();
    let mut material_index: HashMap<String, usize> = HashMap::new();
    for (mname, m) in &file.materials {
        let what = format!("material '{mname}'");
        let texture = match &m.texture {
            None => None,
            Some(t) => Some(Arc::new(make_texture(origin, &what, t, assets)?)),
        };
        let default_color = if texture.is_some() { [1.0; 3] } else { [0.8; 3] };
        let color = check_color(origin, &what, m.color.unwrap_or(default_color))?;
        material_index.insert(mname.clone(), materials.len());
        materials.push(Material { color, texture });
    }
    Ok((materials, material_index))
}

/// Classes: explicit order, or order of first appearance.
fn classes(origin: &str, file: &SceneFile) -> Result<Vec<String>> {
    let mut classes: Vec<String> = file.classes.clone().unwrap_or_default();
    if file.classes.is_some() {
        let mut seen = std::collections::HashSet::new();
        for c in &classes {
            if !seen.insert(c) {
                return Err(invalid(origin, format!("class '{c}' listed twice in `classes`")));
            }
        }
    }
    for o in &file.objects {
        if let Some(c) = &o.class {
            if !classes.contains(c) {
                if file.classes.is_some() {
                    return Err(invalid(
                        origin,
                        format!("object '{}': class '{c}' is not in `classes` ({})", o.name, classes.join(", ")),
                    ));
                }
                classes.push(c.clone());
            }
        }
    }
    for c in &classes {
        if !file.objects.iter().any(|o| o.class.as_deref() == Some(c.as_str())) {
            return Err(invalid(origin, format!("class '{c}' has no objects")));
        }
    }
    Ok(classes)
}

/// Everything an object needs besides the scene-wide state it extends (materials from `color`, rotation
/// parameters from `rotate`).
struct ObjectContext<'a> {
    origin: &'a str,
    assets: &'a AssetSource<'a>,
    material_index: &'a HashMap<String, usize>,
    classes: &'a [String],
    hue: Option<usize>,
}

fn object(
    cx: &ObjectContext,
    o: &ObjectFile,
    materials: &mut Vec<Material>,
    params: &mut Vec<ParamSpec>,
) -> Result<Object> {
    let ObjectContext { origin, assets, material_index, classes, hue } = *cx;
    let what = format!("object '{}'", o.name);
    let (mesh, closed) = make_mesh(origin, &what, o, assets)?;
    let mut mesh = mesh;
    // Static transform: scale, then rotation (x, then y, then z, degrees, about world axes), then translation.
    let s = match o.scale {
        None => [1.0; 3],
        Some(ScaleFile::Uniform(s)) => [s; 3],
        Some(ScaleFile::Axes(a)) => a,
    };
    // Mirroring (negative) scales turn a mesh inside out, and scales beyond MAX_SCALE put every vertex out of any
    // camera's reach: both render blank images.
    if s.iter().any(|v| !(v.is_finite() && *v > 0.0 && *v <= MAX_SCALE)) {
        return Err(invalid(origin, format!("{what}: scale {s:?} must be positive, at most {MAX_SCALE}")));
    }
    if o.position.iter().chain(o.rotation.iter()).any(|v| !v.is_finite()) {
        return Err(invalid(origin, format!("{what}: position and rotation must be finite")));
    }
    let r = o.rotation.map(f64::to_radians);
    let rot = Rotation3::from_axis_angle(&Vector3::z_axis(), r[2])
        * Rotation3::from_axis_angle(&Vector3::y_axis(), r[1])
        * Rotation3::from_axis_angle(&Vector3::x_axis(), r[0]);
    let m = Matrix4::new_translation(&Vector3::from(o.position))
        * rot.to_homogeneous()
        * Matrix4::new_nonuniform_scaling(&Vector3::from(s));
    let uv_scale = o.uv_scale.unwrap_or([1.0, 1.0]);
    if uv_scale.iter().any(|v| !v.is_finite() || *v == 0.0) {
        return Err(invalid(origin, format!("{what}: uv_scale must be finite and non-zero")));
    }
    mesh.transform(&m, uv_scale);

    let material = match (&o.material, o.color) {
        (Some(_), Some(_)) => {
            return Err(invalid(origin, format!("{what}: give either `material` or `color`, not both")));
        }
        (Some(mn), None) => *material_index.get(mn).ok_or_else(|| {
            let mut known: Vec<&str> = material_index.keys().map(|s| s.as_str()).collect();
            known.sort();
            invalid(origin, format!("{what}: unknown material '{mn}' (materials: {})", known.join(", ")))
        })?,
        (None, c) => {
            let color = check_color(origin, &what, c.unwrap_or([0.8; 3]))?;
            materials.push(Material { color, texture: None });
            materials.len() - 1
        }
    };

    let spin = match &o.rotate {
        None => None,
        Some(sf) => Some(resolve_spin(origin, &what, o, sf, params, hue)?),
    };
    let class = o.class.as_ref().map(|c| classes.iter().position(|k| k == c).expect("class collected above"));
    let bound = mesh.bounding_sphere();
    Ok(Object {
        name: o.name.clone(),
        mesh: Arc::new(mesh),
        material,
        spin,
        class,
        tint: o.tint,
        cull: !o.double_sided.unwrap_or(!closed),
        bound,
    })
}

/// The free rotation of an object: its parameter (new, or shared with objects declaring the same one), axis, pivot.
fn resolve_spin(
    origin: &str,
    what: &str,
    o: &ObjectFile,
    sf: &SpinFile,
    params: &mut Vec<ParamSpec>,
    hue: Option<usize>,
) -> Result<Spin> {
    let pname = sf.param.clone().unwrap_or_else(|| format!("rot_{}", o.name));
    let rf = ParamFile::Range(RangeFile { range: sf.range, default: sf.default });
    let spec = resolve_param(origin, &pname, Unit::Degrees, Some(&rf), 0.0)?;
    let idx = match params.iter().position(|p| p.name == pname) {
        Some(i) if i < 8 || Some(i) == hue => {
            return Err(invalid(origin, format!("{what}: rotate.param '{pname}' is a reserved name")));
        }
        Some(i) => {
            let p = &params[i];
            if (p.min, p.max, p.default) != (spec.min, spec.max, spec.default) {
                return Err(invalid(
                    origin,
                    format!("{what}: parameter '{pname}' is declared again with a different range/default"),
                ));
            }
            i
        }
        None => {
            params.push(spec);
            params.len() - 1
        }
    };
    let axis = NUnit::try_new(Vector3::from(sf.axis), 1e-12)
        .ok_or_else(|| invalid(origin, format!("{what}: rotate.axis must be a non-zero vector")))?;
    let pivot = Vector3::from(sf.pivot.unwrap_or(o.position));
    if pivot.iter().any(|v| !v.is_finite()) || axis.iter().any(|v| !v.is_finite()) {
        return Err(invalid(origin, format!("{what}: rotate.axis and rotate.pivot must be finite")));
    }
    Ok(Spin { param: idx, axis, pivot })
}
