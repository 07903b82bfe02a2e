//! The TOML schema of a scene file (what serde reads before validation).

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(untagged, expecting = "a number (fixed value) or a table { range = [min, max], default = value }")]
pub(super) enum ParamFile {
    Fixed(f64),
    Range(RangeFile),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RangeFile {
    pub(super) range: [f64; 2],
    pub(super) default: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SceneFile {
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) description: String,
    pub(super) background: Option<[f32; 3]>,
    pub(super) classes: Option<Vec<String>>,
    pub(super) camera: CameraFile,
    #[serde(default)]
    pub(super) light: LightFile,
    pub(super) tint: Option<TintFile>,
    #[serde(default)]
    pub(super) materials: BTreeMap<String, MaterialFile>,
    #[serde(default)]
    pub(super) objects: Vec<ObjectFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CameraFile {
    #[serde(default)]
    pub(super) target: [f64; 3],
    pub(super) fov_deg: Option<f64>,
    pub(super) near: Option<f64>,
    pub(super) yaw: Option<ParamFile>,
    pub(super) pitch: Option<ParamFile>,
    pub(super) roll: Option<ParamFile>,
    pub(super) distance: Option<ParamFile>,
    pub(super) shift_x: Option<ParamFile>,
    pub(super) shift_y: Option<ParamFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LightFile {
    pub(super) ambient: Option<f32>,
    pub(super) intensity: Option<f32>,
    pub(super) azimuth: Option<ParamFile>,
    pub(super) elevation: Option<ParamFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TintFile {
    pub(super) hue: ParamFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MaterialFile {
    pub(super) color: Option<[f32; 3]>,
    pub(super) texture: Option<TextureFile>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(super) enum TextureFile {
    Checker { colors: [[f32; 3]; 2], checks: u32 },
    Stripes { colors: [[f32; 3]; 2], count: u32 },
    Noise { colors: [[f32; 3]; 2], scale: u32, octaves: Option<u32>, seed: Option<u64> },
    Image { path: String },
}

#[derive(Debug, Deserialize)]
#[serde(untagged, expecting = "a number (uniform scale) or [x, y, z]")]
pub(super) enum ScaleFile {
    Uniform(f64),
    Axes([f64; 3]),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SpinFile {
    pub(super) param: Option<String>,
    #[serde(default = "default_axis")]
    pub(super) axis: [f64; 3],
    pub(super) pivot: Option<[f64; 3]>,
    pub(super) range: [f64; 2],
    pub(super) default: Option<f64>,
}

pub(super) fn default_axis() -> [f64; 3] {
    [0.0, 1.0, 0.0]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ObjectFile {
    pub(super) name: String,
    pub(super) shape: String,
    pub(super) material: Option<String>,
    pub(super) color: Option<[f32; 3]>,
    #[serde(default)]
    pub(super) position: [f64; 3],
    #[serde(default)]
    pub(super) rotation: [f64; 3],
    pub(super) scale: Option<ScaleFile>,
    pub(super) size: Option<Vec<f64>>,
    pub(super) radius: Option<f64>,
    pub(super) radius_top: Option<f64>,
    pub(super) height: Option<f64>,
    pub(super) major_radius: Option<f64>,
    pub(super) minor_radius: Option<f64>,
    pub(super) segments: Option<u32>,
    pub(super) rings: Option<u32>,
    pub(super) smooth: Option<bool>,
    pub(super) path: Option<String>,
    pub(super) uv_scale: Option<[f32; 2]>,
    pub(super) double_sided: Option<bool>,
    pub(super) rotate: Option<SpinFile>,
    pub(super) class: Option<String>,
    #[serde(default)]
    pub(super) tint: bool,
}
