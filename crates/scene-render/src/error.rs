use std::path::PathBuf;

/// Everything that can go wrong while loading a scene, rendering or writing a render folder.
/// Every variant names the offending file, scene, parameter or value.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("unknown built-in scene '{name}'; built-in scenes: {available} (or give a path to a .toml scene file)")]
    UnknownScene { name: String, available: String },
    #[error("cannot read scene file {path}")]
    ReadScene { path: PathBuf, source: std::io::Error },
    #[error("invalid scene {origin}: {message}")]
    InvalidScene { origin: String, message: String },
    #[error("cannot load mesh {path} (scene {origin}): {message}")]
    Mesh { origin: String, path: String, message: String },
    #[error("cannot load texture {path} (scene {origin}): {message}")]
    Texture { origin: String, path: String, message: String },
    #[error("unknown parameter '{name}' for scene '{scene}'; valid parameters: {valid}")]
    UnknownParameter { name: String, scene: String, valid: String },
    #[error(
        "parameter '{name}' of scene '{scene}' cannot vary: its range [{min}, {max}] is empty; parameters that can \
         vary: {valid}"
    )]
    EmptyRange { name: String, scene: String, min: f64, max: f64, valid: String },
    #[error("invalid render options: {0}")]
    Options(String),
    #[error("invalid parameters: {0}")]
    Params(String),
    #[error("invalid flow pairs file {path}: {message}")]
    FlowPairs { path: PathBuf, message: String },
    #[error("output folder {path} already holds a render ({what}); choose another folder or replace it (--force)")]
    OutputExists { path: PathBuf, what: String },
    #[error(transparent)]
    Output(#[from] output::OutputError),
    #[error(transparent)]
    Pixels(#[from] pixels::PixelsError),
}

pub type Result<T> = std::result::Result<T, RenderError>;
