//! One call from a request to a render folder: sampling, flow pairs, writing ([`render_to_dir`]).

use std::path::Path;

use crate::dir::{consecutive_pairs, write_render_dir, RenderSet, WriteOptions};
use crate::error::{RenderError, Result};
use crate::render::RenderOptions;
use crate::sampling::{sample_parameters, Sampling};
use crate::scene::Scene;

/// A render folder to make: which parameters vary and how they are sampled, the images' options and the
/// ground truth to write besides the images.
#[derive(Debug, Clone)]
pub struct RenderRequest {
    /// Names of the parameters to vary (surrounding spaces and empty names are ignored); the others keep
    /// their defaults.
    pub vary: Vec<String>,
    /// Number of images (random, trajectory) or points per varied parameter (grid).
    pub n: usize,
    pub sampling: Sampling,
    pub seed: u64,
    pub options: RenderOptions,
    /// Ground-truth flow between consecutive images (trajectory sampling only).
    pub consecutive_flow: bool,
    /// Ground-truth flow for these (frame 1, frame 2) index pairs too (e.g. from [`crate::read_flow_pairs`]).
    pub flow_pairs: Vec<(usize, usize)>,
    /// Also write `images.npy`.
    pub npy: bool,
    /// Also write `depth/NNNNNN.npy`.
    pub depth: bool,
    /// Replace a render already in the folder.
    pub force: bool,
}

/// What [`render_to_dir`] wrote.
#[derive(Debug, Clone)]
pub struct RenderSummary {
    pub n_images: usize,
    /// Seconds spent rendering and writing the images.
    pub render_seconds: f64,
    /// Number of distinct flow fields written.
    pub flow_fields: usize,
    /// The `render.json` written.
    pub results: serde_json::Value,
}

/// Applies `NAME=VALUE` assignments to a scene's parameter defaults (see [`Scene::set_default`]).
pub fn apply_defaults(scene: &mut Scene, assignments: &[String]) -> Result<()> {
    for kv in assignments {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| RenderError::Params(format!("a default is set as NAME=VALUE, got '{kv}'")))?;
        let value: f64 =
            v.trim().parse().map_err(|_| RenderError::Params(format!("default {kv}: '{v}' is not a number")))?;
        scene.set_default(k.trim(), value)?;
    }
    Ok(())
}

/// Refuses a parameter both fixed by an assignment (`NAME=VALUE`, as for [`apply_defaults`]) and varied: a varied
/// parameter ignores its default.
pub fn check_fixed_not_varied(assignments: &[String], vary: &[String]) -> Result<()> {
    for kv in assignments {
        let name = kv.split_once('=').map_or(kv.as_str(), |(k, _)| k).trim();
        if vary.iter().any(|v| v.trim() == name) {
            return Err(RenderError::Params(format!(
                "parameter '{name}' cannot be both fixed ({kv}) and varied; drop it from the defaults or from the \
                 varied parameters"
            )));
        }
    }
    Ok(())
}

/// Samples the parameters of `request`, renders the images and writes the folder with [`write_render_dir`].
pub fn render_to_dir(dir: &Path, scene: &Scene, request: &RenderRequest) -> Result<RenderSummary> {
    if request.consecutive_flow && request.sampling != Sampling::Trajectory {
        return Err(RenderError::Options(
            "flow between consecutive images needs trajectory sampling (or give explicit flow pairs)".into(),
        ));
    }
    let vary: Vec<String> = request.vary.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    request.options.validate()?;
    let params = sample_parameters(scene, &vary, request.n, request.sampling, request.seed)?;
    let mut flow_pairs = Vec::new();
    if request.consecutive_flow {
        flow_pairs.extend(consecutive_pairs(params.len()));
    }
    flow_pairs.extend(request.flow_pairs.iter().copied());
    let set = RenderSet { params, vary, sampling: request.sampling, seed: request.seed };
    let wopts = WriteOptions { npy: request.npy, depth: request.depth, flow_pairs, force: request.force };
    let results = write_render_dir(dir, scene, &set, &request.options, &wopts)?;
    Ok(RenderSummary {
        n_images: set.params.len(),
        render_seconds: results["timings_seconds"]["render_and_write_images"].as_f64().unwrap_or(f64::NAN),
        flow_fields: results["flow_pairs"].as_u64().unwrap_or(0) as usize,
        results,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(n: usize, sampling: Sampling, consecutive_flow: bool) -> RenderRequest {
        RenderRequest {
            vary: vec![" yaw".into(), String::new()],
            n,
            sampling,
            seed: 1,
            options: RenderOptions { ssaa: 1, ..RenderOptions::square(8) },
            consecutive_flow,
            flow_pairs: vec![(0, 2), (0, 1)],
            npy: false,
            depth: false,
            force: false,
        }
    }

    #[test]
    fn consecutive_and_explicit_flow_pairs_are_written_once_each() {
        let tmp = tempfile::tempdir().unwrap();
        let scene = Scene::builtin("object").unwrap();
        let s = render_to_dir(tmp.path(), &scene, &request(4, Sampling::Trajectory, true)).unwrap();
        assert_eq!(s.n_images, 4);
        // (0,1) (1,2) (2,3) plus (0,2); the repeated (0,1) is written once.
        assert_eq!(s.flow_fields, 4);
        assert!(tmp.path().join("flow/000000_000002.npy").is_file());
        assert_eq!(s.results["free_parameters"], serde_json::json!(["yaw"]));
    }

    #[test]
    fn consecutive_flow_needs_a_trajectory_and_nothing_is_written() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        let scene = Scene::builtin("object").unwrap();
        let e = render_to_dir(&dir, &scene, &request(4, Sampling::Random, true)).unwrap_err();
        assert!(e.to_string().contains("trajectory"), "{e}");
        assert!(!dir.exists());
    }

    #[test]
    fn defaults_are_assigned_by_name() {
        let mut scene = Scene::builtin("object").unwrap();
        apply_defaults(&mut scene, &["distance = 5".into()]).unwrap();
        let i = scene.param_index("distance").unwrap();
        assert_eq!(scene.default_params().values[i], 5.0);
        assert!(apply_defaults(&mut scene, &["distance".into()]).unwrap_err().to_string().contains("NAME=VALUE"));
        assert!(apply_defaults(&mut scene, &["yaw=x".into()]).is_err());
    }
}
