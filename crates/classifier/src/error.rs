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
    #[error("unknown layer {name:?}; the model has: {known}")]
    UnknownLayer { name: String, known: String },
    #[error("class index {index} is out of range: the model has {n_classes} classes")]
    ClassIndex { index: usize, n_classes: usize },
    #[error("cannot read {path}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a valid model file: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("model weights {path} do not match the model config: {message}")]
    WeightsMismatch { path: PathBuf, message: String },
    #[error("invalid {what}: {message}")]
    Invalid { what: &'static str, message: String },
    #[error("{path} holds vectors, not images: the classifier needs images")]
    NotImages { path: PathBuf },
    #[error("{path} holds no images")]
    NoImages { path: PathBuf },
    #[error("{path} has no label column {column:?} (columns: {columns})")]
    NoLabelColumn { path: PathBuf, column: String, columns: String },
    #[error("{path}: row {row} ({id}) has {column} {value}, but render.json lists {n_classes} classes (0..{last})")]
    LabelOutOfRange { path: PathBuf, row: usize, id: String, column: String, value: f64, n_classes: usize, last: usize },
    #[error("{path} has {n} distinct label(s) in {column:?}; a classifier needs at least 2")]
    TooFewClasses { path: PathBuf, n: usize, column: String },
    #[error("labels of {path}")]
    Labels {
        path: PathBuf,
        #[source]
        source: Box<ClassifierError>,
    },
    #[error(transparent)]
    Output(#[from] output::OutputError),
    #[error(transparent)]
    Pixels(#[from] pixels::PixelsError),
    #[error("tangent spaces of the reference")]
    Tangent(#[source] Box<intrinsic_dim::DimError>),
    #[error("feature-space scores")]
    Score(#[source] Box<off_manifold::ScoreError>),
    #[error(
        "scoring in feature space needs {needed} for {detail}, {available} available; choose fewer or smaller layers \
         (MODEL:hidden) or fewer rows (--limit, --sample)"
    )]
    Memory { needed: dataset::limits::Bytes, available: dataset::limits::Bytes, detail: String },
    #[error("tensor computation failed")]
    Tensor(#[from] candle_core::Error),
}

pub type Result<T> = std::result::Result<T, ClassifierError>;

pub(crate) fn invalid(what: &'static str, message: impl Into<String>) -> ClassifierError {
    ClassifierError::Invalid { what, message: message.into() }
}
