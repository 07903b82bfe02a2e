//! Renders image sets of a fixed 3-D scene with ground truth: the free parameters of every image, per-pixel depth
//! and optical flow.
//!
//! ```no_run
//! use scene_render::{render, sample_parameters, true_flow, RenderOptions, Sampling, Scene};
//! let scene = Scene::builtin("object")?;
//! let params = sample_parameters(&scene, &["yaw".into(), "pitch".into()], 100, Sampling::Random, 7)?;
//! let opts = RenderOptions { depth: true, ..RenderOptions::square(64) };
//! let img = render(&scene, &params[0], &opts)?;            // img.image: 64×64×3 f32 in [0, 1]
//! let flow = true_flow(&scene, &params[0], &params[1], &opts)?; // flow.flow: 64×64×2, flow.valid: 64×64
//! # Ok::<(), scene_render::RenderError>(())
//! ```
//!
//! # Scenes
//! Scenes are TOML files. Four are built in (`Scene::builtin`), their sources in `datasets/scenes/`:
//! `object` (a textured crate on a checkered ground; the benchmark scene), `room` (several objects, one an OBJ
//! mesh, inside four walls), `turntable` (one OBJ vase on a plain background, spun by the `spin` parameter) and
//! `shapes10` (ten object classes, one per image, for classifiers; the class is the manifest's `label`).
//!
//! A scene file has `[camera]` (`target`, `fov_deg` (vertical), `near`, and the parameters `yaw`, `pitch`, `roll`,
//! `distance`, `shift_x`, `shift_y`), `[light]` (`ambient`, `intensity`, parameters `azimuth`, `elevation`),
//! optional `[tint]` (parameter `hue`: a hue rotation in degrees of the objects marked `tint = true`), optional
//! `background = [r, g, b]`, `[materials.NAME]` (`color`, optional `texture = { kind = "checker" | "stripes" |
//! "noise" | "image", … }`), optional `classes = [..]`, and `[[objects]]` with `name`, `shape` (`cube` `size`,
//! `sphere` `radius`, `cylinder` / `cone` `radius` `radius_top` `height` `smooth`, `torus` `major_radius`
//! `minor_radius`, `plane` `size`, `mesh` `path` (Wavefront OBJ)), `material` or `color`, `position`, `rotation`
//! (degrees about x, then y, then z), `scale`, `uv_scale`, `double_sided`, `class`, `tint`, and `rotate = { param,
//! axis, pivot, range, default }`, which makes a free rotation parameter (default name `rot_<object>`; objects
//! that share a `param` turn together). A parameter is written `name = value` (fixed) or `name = { range = [min,
//! max], default = value }`. Relative paths resolve against the scene file's folder. Unknown keys are errors.
//!
//! # Parameters
//! [`Scene::parameters`] lists them in a fixed order: `yaw pitch roll distance shift_x shift_y light_azimuth
//! light_elevation`, then `hue` (scenes with `[tint]`), then object rotations. Angles are in degrees. See
//! [`camera`] for the camera conventions.
//!
//! # Rendering
//! See [`raster`](crate::raster) for the pipeline: z-buffered triangle rasterization with S×S coverage samples per
//! pixel (`ssaa`), perspective-correct texture coordinates, trilinear mipmapped textures, Gouraud-interpolated
//! Lambertian shading (directional light + ambient), optional Gaussian blur, RGB or grey.
//!
//! # Output folder ([`render_to_dir`], [`write_render_dir`])
//! `images/000000.png …`, `manifest.csv` (`file` relative to the folder, one column per varied parameter, `label`
//! for scenes with classes), `render.json` (schema `imanifold/render/v1`, written under that name rather than
//! `results.json`), optionally `images.npy`, `depth/`, `flow/` + `flow.csv`. Every image depends only on the request
//! and its index ([`sample_parameters_range`]), so a set can also be rendered by index ranges, in any order and by
//! any process ([`render_range_to_dir`], then [`finish_range_dir`]): the same files, byte for byte (images, depth,
//! manifest).
//!
//! # Ground-truth flow
//! [`true_flow`]: float32 (h, w, 2), u right then v down, frame2(x + flow(x)) ≈ frame1(x), with a validity mask
//! (see [`flow`] for the exact definition).

pub mod camera;
mod dir;
mod error;
pub mod flow;
mod job;
mod mesh;
mod raster;
mod render;
mod sampling;
mod scene;
mod texture;

pub use camera::Camera;
pub use dir::{
    consecutive_pairs, image_file, read_flow_pairs, write_png, write_render_dir, write_render_images,
    write_render_metadata, RenderSet, WriteOptions,
};
pub use error::{RenderError, Result};
pub use flow::{true_flow, warp_back, FlowField};
pub use job::{
    apply_defaults, check_fixed_not_varied, finish_range_dir, render_count, render_range_to_dir, render_to_dir,
    RenderRequest, RenderSummary,
};
pub use render::{render, render_set, to_u8, ColorMode, RenderOptions, RenderedImage, DEFAULT_SIZE, DEFAULT_SSAA};
pub use sampling::{image_count, resolve_vary, sample_parameters, sample_parameters_range, Sampling, MAX_IMAGES};
pub use scene::{builtin_names, ParamSpec, Params, Scene, Unit};
