//! Scene files (TOML), their validation, and the resolved [`Scene`] with its free parameters.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nalgebra::{Matrix4, Rotation3, Unit as NUnit, Vector3};
use serde::{Deserialize, Serialize};

use crate::error::{RenderError, Result};
use crate::mesh::{self, Mesh};
use crate::texture::{self, Texture};

/// The scenes built into the binary: (name, TOML text).
const BUILTIN: &[(&str, &str)] = &[
    ("object", include_str!("../../../datasets/scenes/object.toml")),
    ("room", include_str!("../../../datasets/scenes/room.toml")),
    ("turntable", include_str!("../../../datasets/scenes/turntable.toml")),
    ("shapes10", include_str!("../../../datasets/scenes/shapes10.toml")),
];

/// Files the built-in scenes refer to (meshes, image textures), embedded too; a scene file on disk refers to the
/// same names relative to its own folder (they live beside the TOML files in `datasets/scenes/`).
const BUILTIN_ASSETS: &[(&str, &[u8])] = &[
    ("vase.obj", include_bytes!("../../../datasets/scenes/vase.obj")),
    ("crate.png", include_bytes!("../../../datasets/scenes/crate.png")),
];

/// Names of the built-in scenes.
pub fn builtin_names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(n, _)| *n).collect()
}

/// Unit of a parameter's values (angles are given and reported in degrees everywhere outside the renderer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    Degrees,
    /// Scene units (lengths).
    Length,
}

/// One free parameter of a scene: its range (for sampling) and its default (used when it does not vary).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamSpec {
    pub name: String,
    pub min: f64,
    pub max: f64,
    pub default: f64,
    pub unit: Unit,
    /// A full turn (an angle whose range spans 360°): the ends of the range are the same pose.
    pub periodic: bool,
}

impl ParamSpec {
    /// Can this parameter vary (non-empty range)?
    pub fn can_vary(&self) -> bool {
        self.max > self.min
    }
}

/// Values of all parameters of a scene (in the order of [`Scene::parameters`]; angles in degrees) and, for scenes
/// with classes, the class drawn.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Params {
    pub values: Vec<f64>,
    pub label: Option<usize>,
}

// Indices of the standard parameters, always present in this order.
pub(crate) const YAW: usize = 0;
pub(crate) const PITCH: usize = 1;
pub(crate) const ROLL: usize = 2;
pub(crate) const DISTANCE: usize = 3;
pub(crate) const SHIFT_X: usize = 4;
pub(crate) const SHIFT_Y: usize = 5;
pub(crate) const LIGHT_AZIMUTH: usize = 6;
pub(crate) const LIGHT_ELEVATION: usize = 7;

/// A material: a base colour, optionally multiplied by a mipmapped texture.
#[derive(Debug, Clone)]
pub(crate) struct Material {
    pub color: [f32; 3],
    pub texture: Option<Arc<Texture>>,
}

/// A free rotation of an object about an axis through a pivot, driven by a parameter (degrees).
#[derive(Debug, Clone)]
pub(crate) struct Spin {
    pub param: usize,
    pub axis: Unit3,
    pub pivot: Vector3<f64>,
}

pub(crate) type Unit3 = NUnit<Vector3<f64>>;

/// An object of the resolved scene: a mesh already in world coordinates at the parameter defaults (static
/// transform applied), plus what varies per image.
#[derive(Debug, Clone)]
pub(crate) struct Object {
    pub name: String,
    pub mesh: Arc<Mesh>,
    pub material: usize,
    pub spin: Option<Spin>,
    pub class: Option<usize>,
    pub tint: bool,
    /// Back faces are culled (closed surfaces); otherwise both sides are drawn and lit.
    pub cull: bool,
    /// Bounding sphere of the mesh (world coordinates before the spin).
    pub bound: (Vector3<f64>, f64),
}

/// A resolved, validated scene, ready to render.
#[derive(Debug, Clone)]
pub struct Scene {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) origin: String,
    pub(crate) source: String,
    pub(crate) background: [f32; 3],
    pub(crate) target: Vector3<f64>,
    pub(crate) fov_deg: f64,
    pub(crate) near: f64,
    pub(crate) ambient: f32,
    pub(crate) intensity: f32,
    pub(crate) params: Vec<ParamSpec>,
    pub(crate) hue: Option<usize>,
    pub(crate) materials: Vec<Material>,
    pub(crate) objects: Vec<Object>,
    pub(crate) classes: Vec<String>,
}

// ---------------------------------------------------------------------------------------------------------------
// TOML schema

#[derive(Debug, Deserialize)]
#[serde(untagged, expecting = "a number (fixed value) or a table { range = [min, max], default = value }")]
enum ParamFile {
    Fixed(f64),
    Range(RangeFile),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeFile {
    range: [f64; 2],
    default: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SceneFile {
    name: Option<String>,
    #[serde(default)]
    description: String,
    background: Option<[f32; 3]>,
    classes: Option<Vec<String>>,
    camera: CameraFile,
    #[serde(default)]
    light: LightFile,
    tint: Option<TintFile>,
    #[serde(default)]
    materials: BTreeMap<String, MaterialFile>,
    #[serde(default)]
    objects: Vec<ObjectFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CameraFile {
    #[serde(default)]
    target: [f64; 3],
    fov_deg: Option<f64>,
    near: Option<f64>,
    yaw: Option<ParamFile>,
    pitch: Option<ParamFile>,
    roll: Option<ParamFile>,
    distance: Option<ParamFile>,
    shift_x: Option<ParamFile>,
    shift_y: Option<ParamFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LightFile {
    ambient: Option<f32>,
    intensity: Option<f32>,
    azimuth: Option<ParamFile>,
    elevation: Option<ParamFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TintFile {
    hue: ParamFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MaterialFile {
    color: Option<[f32; 3]>,
    texture: Option<TextureFile>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum TextureFile {
    Checker { colors: [[f32; 3]; 2], checks: u32 },
    Stripes { colors: [[f32; 3]; 2], count: u32 },
    Noise { colors: [[f32; 3]; 2], scale: u32, octaves: Option<u32>, seed: Option<u64> },
    Image { path: String },
}

#[derive(Debug, Deserialize)]
#[serde(untagged, expecting = "a number (uniform scale) or [x, y, z]")]
enum ScaleFile {
    Uniform(f64),
    Axes([f64; 3]),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpinFile {
    param: Option<String>,
    #[serde(default = "default_axis")]
    axis: [f64; 3],
    pivot: Option<[f64; 3]>,
    range: [f64; 2],
    default: Option<f64>,
}

fn default_axis() -> [f64; 3] {
    [0.0, 1.0, 0.0]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectFile {
    name: String,
    shape: String,
    material: Option<String>,
    color: Option<[f32; 3]>,
    #[serde(default)]
    position: [f64; 3],
    #[serde(default)]
    rotation: [f64; 3],
    scale: Option<ScaleFile>,
    size: Option<Vec<f64>>,
    radius: Option<f64>,
    radius_top: Option<f64>,
    height: Option<f64>,
    major_radius: Option<f64>,
    minor_radius: Option<f64>,
    segments: Option<u32>,
    rings: Option<u32>,
    smooth: Option<bool>,
    path: Option<String>,
    uv_scale: Option<[f32; 2]>,
    double_sided: Option<bool>,
    rotate: Option<SpinFile>,
    class: Option<String>,
    #[serde(default)]
    tint: bool,
}

/// Where a scene's relative paths resolve.
enum AssetSource<'a> {
    Builtin,
    Dir(&'a Path),
    /// A scene given as a string with no folder: relative paths resolve against the working directory.
    Cwd,
}

impl AssetSource<'_> {
    fn read(&self, rel: &str) -> std::result::Result<(String, Vec<u8>), String> {
        match self {
            AssetSource::Builtin => BUILTIN_ASSETS
                .iter()
                .find(|(n, _)| *n == rel)
                .map(|(n, b)| (format!("builtin:{n}"), b.to_vec()))
                .ok_or_else(|| {
                    let names: Vec<&str> = BUILTIN_ASSETS.iter().map(|(n, _)| *n).collect();
                    format!("no built-in asset named '{rel}' (built-in assets: {})", names.join(", "))
                }),
            AssetSource::Dir(dir) => {
                let p: PathBuf = dir.join(rel);
                std::fs::read(&p).map(|b| (p.display().to_string(), b)).map_err(|e| format!("{}: {e}", p.display()))
            }
            AssetSource::Cwd => std::fs::read(rel).map(|b| (rel.to_string(), b)).map_err(|e| format!("{rel}: {e}")),
        }
    }
}

impl Scene {
    /// A scene built into the binary (`object`, `room`, `turntable`, `shapes10`).
    pub fn builtin(name: &str) -> Result<Scene> {
        let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name).ok_or_else(|| RenderError::UnknownScene {
            name: name.to_string(),
            available: builtin_names().join(", "),
        })?;
        parse(text, &format!("builtin:{name}"), name, AssetSource::Builtin)
    }

    /// A scene file; meshes and image textures are looked up relative to its folder.
    pub fn from_toml_path(path: &Path) -> Result<Scene> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| RenderError::ReadScene { path: path.to_path_buf(), source })?;
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "scene".into());
        parse(&text, &path.display().to_string(), &stem, AssetSource::Dir(dir))
    }

    /// A scene from TOML text; relative paths resolve against the working directory.
    pub fn from_toml_str(text: &str) -> Result<Scene> {
        parse(text, "<string>", "scene", AssetSource::Cwd)
    }

    /// A scene file when the argument ends in `.toml` or contains a path separator, else a built-in scene.
    pub fn load(name_or_path: &str) -> Result<Scene> {
        if name_or_path.ends_with(".toml") || name_or_path.contains(['/', '\\']) {
            Scene::from_toml_path(Path::new(name_or_path))
        } else {
            Scene::builtin(name_or_path)
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    /// `builtin:NAME` or the path of the scene file.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The TOML text the scene was read from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// All free parameters: yaw, pitch, roll, distance, shift_x, shift_y, light_azimuth, light_elevation, then
    /// `hue` when the scene has a `[tint]`, then one rotation per distinct object `rotate.param`.
    pub fn parameters(&self) -> &[ParamSpec] {
        &self.params
    }

    /// Class names (empty when the scene defines none); the manifest's `label` is an index into this list.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// Index of a parameter, or an error listing the valid names.
    pub fn param_index(&self, name: &str) -> Result<usize> {
        self.params.iter().position(|p| p.name == name).ok_or_else(|| RenderError::UnknownParameter {
            name: name.to_string(),
            scene: self.name.clone(),
            valid: self.params.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", "),
        })
    }

    /// All parameters at their defaults (class 0 for scenes with classes).
    pub fn default_params(&self) -> Params {
        Params {
            values: self.params.iter().map(|p| p.default).collect(),
            label: if self.classes.is_empty() { None } else { Some(0) },
        }
    }

    /// Changes the default of a parameter (e.g. to hold `distance` at 5 while other parameters vary). The value
    /// must be finite; it may lie outside the range, which is then widened to include it.
    pub fn set_default(&mut self, name: &str, value: f64) -> Result<()> {
        let i = self.param_index(name)?;
        if !value.is_finite() {
            return Err(RenderError::Params(format!("value {value} for '{name}' is not finite")));
        }
        check_param_value(self, i, value)?;
        let p = &mut self.params[i];
        p.default = value;
        p.min = p.min.min(value);
        p.max = p.max.max(value);
        p.periodic = p.unit == Unit::Degrees && p.max - p.min >= 360.0 - 1e-9;
        Ok(())
    }

    /// Checks that `params` fits this scene: right number of finite values, a pose the camera can take, and a
    /// class label exactly when the scene has classes.
    pub fn check_params(&self, params: &Params) -> Result<()> {
        if params.values.len() != self.params.len() {
            return Err(RenderError::Params(format!(
                "scene '{}' has {} parameters, got {} values",
                self.name,
                self.params.len(),
                params.values.len()
            )));
        }
        for (i, &v) in params.values.iter().enumerate() {
            if !v.is_finite() {
                return Err(RenderError::Params(format!("value {v} for '{}' is not finite", self.params[i].name)));
            }
            check_param_value(self, i, v)?;
        }
        match (params.label, self.classes.len()) {
            (None, 0) => Ok(()),
            (Some(l), k) if l < k => Ok(()),
            (Some(l), 0) => {
                Err(RenderError::Params(format!("label {l} given but scene '{}' has no classes", self.name)))
            }
            (Some(l), k) => Err(RenderError::Params(format!(
                "label {l} out of range: scene '{}' has {k} classes ({})",
                self.name,
                self.classes.join(", ")
            ))),
            (None, _) => Err(RenderError::Params(format!(
                "scene '{}' has classes ({}); a label is needed",
                self.name,
                self.classes.join(", ")
            ))),
        }
    }

    /// A JSON description for `render.json`: name, origin, description, TOML source, parameters, classes.
    pub fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "origin": self.origin,
            "description": self.description,
            "parameters": self.params,
            "classes": self.classes,
            "objects": self.objects.iter().map(|o| serde_json::json!({
                "name": o.name,
                "triangles": o.mesh.tris.len(),
                "class": o.class.map(|c| self.classes[c].clone()),
            })).collect::<Vec<_>>(),
            "toml": self.source,
        })
    }
}

/// Values a camera or light parameter can never take (whatever the scene says).
fn check_param_value(scene: &Scene, i: usize, v: f64) -> Result<()> {
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

fn invalid(origin: &str, message: impl Into<String>) -> RenderError {
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

fn check_color(origin: &str, what: &str, c: [f32; 3]) -> Result<[f32; 3]> {
    if c.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)) {
        Ok(c)
    } else {
        Err(invalid(origin, format!("{what}: colour {c:?} must have components in [0, 1]")))
    }
}

fn parse(text: &str, origin: &str, fallback_name: &str, assets: AssetSource) -> Result<Scene> {
    let file: SceneFile = toml::from_str(text).map_err(|e| invalid(origin, e.to_string().trim_end().to_string()))?;
    let name = file.name.clone().unwrap_or_else(|| fallback_name.to_string());
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

    // Materials (textures baked / decoded once; shared between objects through Arc).
    let mut materials = Vec::new();
    let mut material_index: HashMap<String, usize> = HashMap::new();
    for (mname, m) in &file.materials {
        let what = format!("material '{mname}'");
        let texture = match &m.texture {
            None => None,
            Some(t) => Some(Arc::new(make_texture(origin, &what, t, &assets)?)),
        };
        let default_color = if texture.is_some() { [1.0; 3] } else { [0.8; 3] };
        let color = check_color(origin, &what, m.color.unwrap_or(default_color))?;
        material_index.insert(mname.clone(), materials.len());
        materials.push(Material { color, texture });
    }

    // Classes: explicit order, or order of first appearance.
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

    let mut objects = Vec::new();
    let mut names = std::collections::HashSet::new();
    for o in &file.objects {
        if !names.insert(o.name.clone()) {
            return Err(invalid(origin, format!("two objects are named '{}'", o.name)));
        }
        let what = format!("object '{}'", o.name);
        let (mesh, closed) = make_mesh(origin, &what, o, &assets)?;
        let mut mesh = mesh;
        // Static transform: scale, then rotation (x, then y, then z, degrees, about world axes), then translation.
        let s = match o.scale {
            None => [1.0; 3],
            Some(ScaleFile::Uniform(s)) => [s; 3],
            Some(ScaleFile::Axes(a)) => a,
        };
        if s.iter().any(|v| !v.is_finite() || *v == 0.0) {
            return Err(invalid(origin, format!("{what}: scale {s:?} must be finite and non-zero")));
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
            Some(sf) => {
                let pname = sf.param.clone().unwrap_or_else(|| format!("rot_{}", o.name));
                let rf = ParamFile::Range(RangeFile { range: sf.range, default: sf.default });
                let spec = resolve_param(origin, &pname, Degrees, Some(&rf), 0.0)?;
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
                Some(Spin { param: idx, axis, pivot })
            }
        };
        let class = o.class.as_ref().map(|c| classes.iter().position(|k| k == c).expect("class collected above"));
        let bound = mesh.bounding_sphere();
        objects.push(Object {
            name: o.name.clone(),
            mesh: Arc::new(mesh),
            material,
            spin,
            class,
            tint: o.tint,
            cull: !o.double_sided.unwrap_or(!closed),
            bound,
        });
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
        target: Vector3::from(cam.target),
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

fn make_texture(origin: &str, what: &str, t: &TextureFile, assets: &AssetSource) -> Result<Texture> {
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
fn make_mesh(origin: &str, what: &str, o: &ObjectFile, assets: &AssetSource) -> Result<(Mesh, bool)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_scenes_load_with_the_standard_parameters() {
        for name in builtin_names() {
            let s = Scene::builtin(name).unwrap();
            let names: Vec<&str> = s.parameters().iter().map(|p| p.name.as_str()).collect();
            assert_eq!(
                &names[..8],
                &["yaw", "pitch", "roll", "distance", "shift_x", "shift_y", "light_azimuth", "light_elevation"]
            );
            s.check_params(&s.default_params()).unwrap();
        }
        assert_eq!(Scene::builtin("shapes10").unwrap().classes().len(), 10);
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let e = Scene::builtin("nope").unwrap_err().to_string();
        assert!(e.contains("object") && e.contains("room") && e.contains("shapes10"), "{e}");
        let base = "[camera]\nyaw = { range = [-30, 30] }\n";
        let e = Scene::from_toml_str(&format!("{base}[[objects]]\nname = 'a'\nshape = 'cube'\nradius = 1\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`radius` does not apply") && e.contains("object 'a'"), "{e}");
        let e =
            Scene::from_toml_str(&format!("{base}[[objects]]\nname = 'a'\nshape = 'blob'\n")).unwrap_err().to_string();
        assert!(e.contains("unknown shape 'blob'"), "{e}");
        let e = Scene::from_toml_str(&format!("{base}[[objects]]\nname = 'a'\nshape = 'cube'\nmaterial = 'm'\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown material 'm'"), "{e}");
        let e = Scene::from_toml_str("[camera]\nyaw = { range = [30, -30] }\n[[objects]]\nname='a'\nshape='cube'\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("'yaw'") && e.contains("min > max"), "{e}");
        let e = Scene::from_toml_str("[camera]\npitch = { range = [0, 90] }\n[[objects]]\nname='a'\nshape='cube'\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("pitch"), "{e}");
        let e =
            Scene::from_toml_str("[camera]\nyaw = 'x'\n[[objects]]\nname='a'\nshape='cube'\n").unwrap_err().to_string();
        assert!(e.contains("range = [min, max]"), "{e}");
        let e =
            Scene::from_toml_str("[camera]\nzoom = 1\n[[objects]]\nname='a'\nshape='cube'\n").unwrap_err().to_string();
        assert!(e.contains("zoom"), "{e}");
        let e =
            Scene::from_toml_str(&format!("{base}[[objects]]\nname='m'\nshape='mesh'\npath='/nonexistent/x.obj'\n"))
                .unwrap_err()
                .to_string();
        assert!(e.contains("/nonexistent/x.obj"), "{e}");
        let s = Scene::builtin("object").unwrap();
        let e = s.param_index("yawn").unwrap_err().to_string();
        assert!(e.contains("'yawn'") && e.contains("yaw, pitch, roll"), "{e}");
    }

    #[test]
    fn shared_rotation_parameter_must_agree() {
        let t = "[camera]\n[[objects]]\nname='a'\nshape='cube'\nrotate={param='spin', range=[0, 90]}\n\
                 [[objects]]\nname='b'\nshape='cube'\nrotate={param='spin', range=[0, 45]}\n";
        let e = Scene::from_toml_str(t).unwrap_err().to_string();
        assert!(e.contains("'spin'") && e.contains("different range"), "{e}");
        let ok = t.replace("[0, 45]", "[0, 90]");
        let s = Scene::from_toml_str(&ok).unwrap();
        assert_eq!(s.parameters().iter().filter(|p| p.name == "spin").count(), 1);
    }
}
