//! One call from a request to a render folder: sampling, flow pairs, writing ([`render_to_dir`]).

use std::ops::Range;
use std::path::Path;

use crate::dir::{
    consecutive_pairs, write_render_dir, write_render_images, write_render_metadata, RenderSet, WriteOptions,
};
use crate::error::{RenderError, Result};
use crate::render::RenderOptions;
use crate::sampling::{image_count, sample_parameters, sample_parameters_range, Sampling};
use crate::scene::{Params, Scene};

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

/// The parameters of images `range` of `request`'s set (all of them for `None`), after the checks
/// [`render_to_dir`] makes; `npy` and flow are refused (they are written by [`render_to_dir`] only).
fn range_params(
    scene: &Scene,
    request: &RenderRequest,
    range: Option<Range<usize>>,
) -> Result<(Vec<String>, Vec<Params>)> {
    if request.npy || request.consecutive_flow || !request.flow_pairs.is_empty() {
        return Err(RenderError::Options(
            "a render by index ranges writes images, depth, manifest.csv and render.json; images.npy and flow \
             are written by one-process renders only"
                .into(),
        ));
    }
    request.options.validate()?;
    let vary: Vec<String> = request.vary.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    let params = match range {
        Some(r) => sample_parameters_range(scene, &vary, request.n, request.sampling, request.seed, r)?,
        None => sample_parameters(scene, &vary, request.n, request.sampling, request.seed)?,
    };
    Ok((vary, params))
}

/// Number of images of `request`'s set, after the checks of a render by index ranges ([`render_range_to_dir`]).
pub fn render_count(scene: &Scene, request: &RenderRequest) -> Result<usize> {
    range_params(scene, request, Some(0..0))?;
    let vary: Vec<String> = request.vary.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    image_count(scene, &vary, request.n, request.sampling, request.seed)
}

/// Renders images `range` of `request`'s set into the existing folder `dir` ([`write_render_images`]): the image
/// (and depth) files [`render_to_dir`] writes for them, byte for byte. Once every range is rendered (any order, any
/// process), [`finish_range_dir`] writes the manifest and `render.json`. A missing `dir` is refused (not created):
/// a range started after its run was abandoned and its staging folder removed writes nothing. Returns the seconds
/// spent.
pub fn render_range_to_dir(dir: &Path, scene: &Scene, request: &RenderRequest, range: Range<usize>) -> Result<f64> {
    let t = std::time::Instant::now();
    if !dir.is_dir() {
        return Err(RenderError::Options(format!(
            "{} is not a folder: a render by ranges writes into its (staging) folder, which must exist",
            dir.display()
        )));
    }
    let first = range.start;
    let (_, params) = range_params(scene, request, Some(range))?;
    write_render_images(dir, scene, &params, first, &request.options, request.depth)?;
    Ok(t.elapsed().as_secs_f64())
}

/// Completes a folder rendered by [`render_range_to_dir`] ([`write_render_metadata`]: every image present,
/// `manifest.csv`, `render.json` with `render_seconds`): the folder [`render_to_dir`] writes, `render.json`'s
/// timings and command line aside.
pub fn finish_range_dir(
    dir: &Path,
    scene: &Scene,
    request: &RenderRequest,
    render_seconds: f64,
) -> Result<RenderSummary> {
    let (vary, params) = range_params(scene, request, None)?;
    let set = RenderSet { params, vary, sampling: request.sampling, seed: request.seed };
    let wopts = WriteOptions { npy: false, depth: request.depth, flow_pairs: Vec::new(), force: false };
    let results = write_render_metadata(dir, scene, &set, &request.options, &wopts, render_seconds)?;
    Ok(RenderSummary { n_images: set.params.len(), render_seconds, flow_fields: 0, results })
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
    fn ranges_rendered_apart_give_the_one_process_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let scene = Scene::builtin("shapes10").unwrap();
        let mut req = request(11, Sampling::Random, false);
        req.flow_pairs.clear();
        req.depth = true;
        let whole = tmp.path().join("whole");
        render_to_dir(&whole, &scene, &req).unwrap();
        let parts = tmp.path().join("parts");
        assert!(render_range_to_dir(&parts, &scene, &req, 0..3).unwrap_err().to_string().contains("must exist"));
        std::fs::create_dir(&parts).unwrap();
        assert_eq!(render_count(&scene, &req).unwrap(), 11);
        for r in [7..11, 0..3, 3..7] {
            render_range_to_dir(&parts, &scene, &req, r).unwrap();
        }
        // A writer killed mid-file leaves its temporary file; finishing removes it.
        std::fs::write(parts.join("images/.000004.png.tmp999"), b"half").unwrap();
        let s = finish_range_dir(&parts, &scene, &req, 0.0).unwrap();
        assert_eq!(s.n_images, 11);
        let mut files = Vec::new();
        for sub in ["images", "depth"] {
            for e in std::fs::read_dir(whole.join(sub)).unwrap() {
                files.push(format!("{sub}/{}", e.unwrap().file_name().to_string_lossy()));
            }
            assert_eq!(std::fs::read_dir(parts.join(sub)).unwrap().count(), 11, "{sub}");
        }
        files.push("manifest.csv".into());
        assert_eq!(files.len(), 23);
        for f in &files {
            assert_eq!(std::fs::read(whole.join(f)).unwrap(), std::fs::read(parts.join(f)).unwrap(), "{f}");
        }
        let json = |d: &Path| {
            let mut v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(d.join("render.json")).unwrap()).unwrap();
            v.as_object_mut().unwrap().remove("timings_seconds");
            v
        };
        assert_eq!(json(&whole), json(&parts));
        // A missing range is found before anything is written.
        let gap = tmp.path().join("gap");
        std::fs::create_dir(&gap).unwrap();
        render_range_to_dir(&gap, &scene, &req, 0..5).unwrap();
        let e = finish_range_dir(&gap, &scene, &req, 0.0).unwrap_err();
        assert!(e.to_string().contains("000005.png is missing"), "{e}");
        assert!(!gap.join("manifest.csv").exists());
        // Ranges beyond the set, and what only one-process renders write, are refused.
        assert!(render_range_to_dir(&gap, &scene, &req, 5..12).is_err());
        req.npy = true;
        assert!(render_count(&scene, &req).unwrap_err().to_string().contains("images.npy"));
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
