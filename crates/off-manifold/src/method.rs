//! The score families and their lists as options name them.

use serde::Serialize;

use crate::{invalid, ImageShape, Result, ScoreError};

/// One family of scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Knn,
    Tangent,
    Lid,
    Flow,
    /// Class-conditional Mahalanobis distance (feature space only: [`crate::features`]).
    Mahalanobis,
    /// −ln of the largest softmax probability of a classifier's logits (feature space only: [`crate::features`]).
    Softmax,
}

impl Method {
    /// Every score of pixel space ([`crate::score`]).
    pub const ALL: [Method; 4] = [Method::Knn, Method::Tangent, Method::Lid, Method::Flow];
    /// Every score of feature space ([`crate::features::score_features`]), its default.
    pub const FEATURES: [Method; 5] = [Method::Knn, Method::Tangent, Method::Lid, Method::Mahalanobis, Method::Softmax];

    pub fn name(self) -> &'static str {
        match self {
            Method::Knn => "knn",
            Method::Tangent => "tangent",
            Method::Lid => "lid",
            Method::Flow => "flow",
            Method::Mahalanobis => "mahalanobis",
            Method::Softmax => "softmax",
        }
    }

    pub fn parse(s: &str) -> Result<Method> {
        match s.trim().to_ascii_lowercase().as_str() {
            "knn" => Ok(Method::Knn),
            "tangent" => Ok(Method::Tangent),
            "lid" => Ok(Method::Lid),
            "flow" => Ok(Method::Flow),
            "mahalanobis" => Ok(Method::Mahalanobis),
            "softmax" => Ok(Method::Softmax),
            other => Err(invalid("method", other, "known methods: knn, tangent, lid, flow, mahalanobis, softmax")),
        }
    }

    /// The scores computed when none are named: all four for images, knn, tangent and lid for rows that are not
    /// images (the flow score needs an image shape).
    pub fn defaults_for(shape: Option<ImageShape>) -> Vec<Method> {
        match shape {
            Some(_) => Method::ALL.to_vec(),
            None => vec![Method::Knn, Method::Tangent, Method::Lid],
        }
    }

    /// Parses a comma-separated list (`knn,tangent`); repeats are errors.
    pub fn parse_list(s: &str) -> Result<Vec<Method>> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let m = Method::parse(part)?;
            if out.contains(&m) {
                return Err(invalid("methods", s, format!("{} is listed twice", m.name())));
            }
            out.push(m);
        }
        if out.is_empty() {
            return Err(invalid("methods", s, "no method given (knn, tangent, lid, flow, mahalanobis, softmax)"));
        }
        Ok(out)
    }

    /// Score columns this method produces.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Method::Knn => &["knn_kth", "knn_mean"],
            Method::Tangent => &["tangent"],
            Method::Lid => &["lid"],
            Method::Flow => &["flow"],
            Method::Mahalanobis => &["mahalanobis"],
            Method::Softmax => &["softmax"],
        }
    }
}

impl std::str::FromStr for Method {
    type Err = ScoreError;
    fn from_str(s: &str) -> Result<Method> {
        Method::parse(s)
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A comma-separated list of scores (`knn,tangent`), as the command line gives it: no repeats, at least one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodList(pub Vec<Method>);

impl std::str::FromStr for MethodList {
    type Err = ScoreError;
    fn from_str(s: &str) -> Result<MethodList> {
        Method::parse_list(s).map(MethodList)
    }
}

impl std::fmt::Display for MethodList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|m| m.name()).collect();
        f.write_str(&names.join(","))
    }
}
