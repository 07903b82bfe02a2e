//! The scenes built into the library and where a scene's relative asset paths resolve.

use std::path::{Path, PathBuf};

/// The scenes built into the binary: (name, TOML text).
pub(super) const BUILTIN: &[(&str, &str)] = &[
    ("object", include_str!("../../../../datasets/scenes/object.toml")),
    ("room", include_str!("../../../../datasets/scenes/room.toml")),
    ("turntable", include_str!("../../../../datasets/scenes/turntable.toml")),
    ("shapes10", include_str!("../../../../datasets/scenes/shapes10.toml")),
];

/// Files the built-in scenes refer to (meshes, image textures), embedded too; a scene file on disk refers to the
/// same names relative to its own folder (they live beside the TOML files in `datasets/scenes/`).
const BUILTIN_ASSETS: &[(&str, &[u8])] = &[
    ("vase.obj", include_bytes!("../../../../datasets/scenes/vase.obj")),
    ("crate.png", include_bytes!("../../../../datasets/scenes/crate.png")),
];

/// Names of the built-in scenes.
pub fn builtin_names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(n, _)| *n).collect()
}

/// Where a scene's relative paths resolve.
pub(super) enum AssetSource<'a> {
    Builtin,
    Dir(&'a Path),
    /// A scene given as a string with no folder: relative paths resolve against the working directory.
    Cwd,
}

impl AssetSource<'_> {
    pub(super) fn read(&self, rel: &str) -> std::result::Result<(String, Vec<u8>), String> {
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
