//! The crate's error type.

use std::path::PathBuf;

use crate::ImageShape;

/// Everything that can go wrong in this crate. Variants name the offending file or value.
#[derive(Debug, thiserror::Error)]
pub enum ClassifierError {
    #[error(
        "input rows have {got} values but the model expects {expected} (an image of {shape}, height×width×channels)"
    )]
    InputSize { got: usize, expected: usize, shape: ImageShape },
    #[error(
        "the data are {data} images but the model takes {model} (height×width×channels); resize or convert the data"
    )]
    ShapeMismatch { data: ImageShape, model: ImageShape },
    #[error("unknown class {name:?}; the model knows: {known}")]
    UnknownClass { name: String, known: String },
    #[error("class index {index} is out of range: the model has {n_classes} classes")]
    ClassIndex { index: usize, n_classes: usize },
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a valid model file: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("model weights {path} do not match the model config: {message}")]
    WeightsMismatch { path: PathBuf, message: String },
    #[error("invalid {what}: {message}")]
    Invalid { what: &'static str, message: String },
    #[error(transparent)]
    Output(#[from] output::OutputError),
    #[error("tensor computation failed: {0}")]
    Tensor(#[from] candle_core::Error),
}

pub type Result<T> = std::result::Result<T, ClassifierError>;

pub(crate) fn invalid(what: &'static str, message: impl Into<String>) -> ClassifierError {
    ClassifierError::Invalid { what, message: message.into() }
}
