//! Errors and small helpers shared by the stages.

// With a stage compiled out (cargo features), some helpers have no caller.
#![cfg_attr(
    not(all(feature = "dimension", feature = "geodesic", feature = "off-manifold", feature = "stability")),
    allow(dead_code, unused_imports)
)]

use std::path::{Path, PathBuf};

use ndarray::Array2;

/// Errors of the demo. Every variant names the step, file or folder at fault.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A step failed on its own check (no underlying error).
    #[error("{context}: {message}")]
    Step { context: String, message: String },
    /// A step failed because a library call did ([`Step::step`]); the cause is the source.
    #[error("{context}")]
    StepFailed {
        context: String,
        #[source]
        source: BoxError,
    },
    #[error("output folder {path}: {message}")]
    OutputDir {
        path: PathBuf,
        message: String,
        #[source]
        source: Option<std::io::Error>,
    },
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: BoxError,
    },
    #[error("{count} stage(s) failed: {list} (the report and results.json say why)")]
    StagesFailed { count: usize, list: String },
    #[error(transparent)]
    Output(#[from] output::OutputError),
    #[error(transparent)]
    Report(#[from] report::ReportError),
    #[error(transparent)]
    Render(#[from] scene_render::RenderError),
    #[error(transparent)]
    Pixels(#[from] pixels::PixelsError),
}

pub type Result<T> = std::result::Result<T, DemoError>;

/// Any error kept as the cause of a [`DemoError`] (library errors, or a plain message).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Adds the step being performed to any library error (kept as the source: `{:#}` prints each cause once).
pub trait Step<T> {
    fn step(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Into<BoxError>> Step<T> for std::result::Result<T, E> {
    fn step(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| DemoError::StepFailed { context: context(), source: e.into() })
    }
}

/// An error and its causes, outermost first, joined by `: ` (for results.json and the report).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// A ChaCha8 stream for item `i` of a computation seeded with `seed`, and a seed for one use (`tag`) of the demo
/// seed.
pub use seeds::{stream as item_rng, sub_seed};

/// Reads a render folder's `images.npy` (n×h×w or n×h×w×c float32) as one row per image ([`dataset::load`]).
pub fn read_image_rows(path: &Path) -> Result<Array2<f32>> {
    let ds = dataset::load(path, &dataset::LoadOptions::default())
        .map_err(|e| DemoError::Read { path: path.to_path_buf(), source: e.into() })?;
    Ok(ds.data.into_owned())
}

/// `Some(x)` as a JSON number, non-finite and `None` as null.
pub fn json_opt(x: Option<f64>) -> serde_json::Value {
    x.map(output::json_f64).unwrap_or(serde_json::Value::Null)
}

/// A CSV cell of an optional number (empty when absent).
pub fn fmt_opt(x: Option<f64>) -> String {
    x.map(output::fmt_f64).unwrap_or_default()
}

/// Three decimals, `n/a` for non-finite values (report text).
pub fn fmt3(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.3}")
    } else {
        "n/a".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_keeps_its_cause_once() {
        let io: std::result::Result<(), std::io::Error> = Err(std::io::Error::other("disk full"));
        let e = io.step(|| "writing x.csv".into()).unwrap_err();
        assert_eq!(e.to_string(), "writing x.csv");
        assert_eq!(std::error::Error::source(&e).unwrap().to_string(), "disk full");
        assert_eq!(error_chain(&e), "writing x.csv: disk full");
        let plain: std::result::Result<(), String> = Err("no pairs".into());
        assert_eq!(error_chain(&plain.step(|| "pairs".into()).unwrap_err()), "pairs: no pairs");
        let e = read_image_rows(Path::new("/nonexistent/images.npy")).unwrap_err();
        assert_eq!(e.to_string(), "cannot read /nonexistent/images.npy");
        assert!(error_chain(&e).len() > e.to_string().len());
    }
}
