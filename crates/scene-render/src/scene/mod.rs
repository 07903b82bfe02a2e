//! Scene files (TOML), their validation, and the resolved [`Scene`] with its free parameters.

mod builtin;
mod file;
mod parse;
mod shapes;

use std::path::Path;
use std::sync::Arc;

use nalgebra::{Unit as NUnit, Vector3};
use serde::Serialize;

use crate::error::{RenderError, Result};
use crate::mesh::Mesh;
use crate::texture::Texture;

pub use builtin::builtin_names;
use builtin::{AssetSource, BUILTIN};
use parse::{check_param_value, parse};

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
