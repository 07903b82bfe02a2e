//! Errors of the stability measurements.

use std::path::PathBuf;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum StabilityError {
    /// A bad option value (`what` names the option).
    #[error("invalid {what}: {message}")]
    Invalid { what: &'static str, message: String },
    #[error("the network layers do not fit: {message}")]
    Network { message: String },
    #[error("reading the model or the labels failed")]
    Classifier(#[from] classifier::ClassifierError),
    #[error("no correctly classified image in {path}")]
    NoImages { path: PathBuf },
    #[error("writing the results failed")]
    Output(#[from] output::OutputError),
    #[error("writing an image failed")]
    Pixels(#[from] pixels::PixelsError),
}

pub type Result<T> = std::result::Result<T, StabilityError>;

pub(crate) fn invalid(what: &'static str, message: impl Into<String>) -> StabilityError {
    StabilityError::Invalid { what, message: message.into() }
}
