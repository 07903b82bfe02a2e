//! `imanifold render`: image sets of a 3-D scene with ground truth (parameters, depth, optical flow).

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args as ClapArgs;
use scene_render::{
    apply_defaults, read_flow_pairs, render_to_dir, ColorMode, RenderOptions, RenderRequest, Sampling, Scene,
};

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Built-in scene (object, room, turntable, shapes10) or a scene .toml file.
    #[arg(long, value_name = "NAME|FILE.toml")]
    pub scene: String,
    /// Parameters to vary, comma-separated (e.g. yaw,pitch); the others stay at their defaults.
    /// `--list` shows them.
    #[arg(long, value_delimiter = ',', value_name = "P1,P2,...")]
    pub vary: Vec<String>,
    /// Number of images (random, trajectory), or points per varied parameter (grid: n^p images).
    #[arg(long, value_name = "N")]
    pub n: Option<usize>,
    /// random (uniform in the ranges), grid (n points per parameter), trajectory (smooth closed path).
    #[arg(long, default_value = "random", value_name = "MODE")]
    pub sampling: Sampling,
    /// Image size: N (square) or WxH.
    #[arg(long, default_value_t = Size::default(), value_name = "N|WxH")]
    pub size: Size,
    /// Supersampling: S×S coverage samples per pixel (1 = no anti-aliasing).
    #[arg(long, default_value_t = scene_render::DEFAULT_SSAA, value_name = "S")]
    pub ssaa: usize,
    /// Gaussian blur of the images, standard deviation in pixels (0 = none).
    #[arg(long, default_value_t = 0.0, value_name = "SIGMA")]
    pub blur: f32,
    /// One channel (BT.601 luma).
    #[arg(long, conflicts_with = "rgb")]
    pub gray: bool,
    /// Three channels (default).
    #[arg(long)]
    pub rgb: bool,
    /// Also write depth/NNNNNN.npy (float32 h×w camera-space z; +inf on background).
    #[arg(long)]
    pub depth: bool,
    /// Ground-truth flow between consecutive images (needs --sampling trajectory).
    #[arg(long)]
    pub flow: bool,
    /// Ground-truth flow for the index pairs in this CSV (two columns: frame1,frame2; optional header).
    #[arg(long, value_name = "FILE")]
    pub flow_pairs: Option<PathBuf>,
    /// Also write images.npy (n×h×w[×3] float32, unquantised).
    #[arg(long)]
    pub npy: bool,
    /// Override parameter defaults, e.g. --set distance=5,pitch=30 (applies to parameters that do not vary).
    #[arg(long, value_delimiter = ',', value_name = "P=V,...")]
    pub set: Vec<String>,
    /// Seed of the sampling (random parameters, class labels, trajectory phases).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace a render already in --out (only its own files: images/, depth/, flow/, manifest.csv, ...).
    #[arg(long)]
    pub force: bool,
    /// Print the scene's parameters (ranges, defaults) and classes, and exit.
    #[arg(long)]
    pub list: bool,
}

/// `--size`: width × height in pixels, parsed by [`super::common::parse_size`], default the library's.
#[derive(Debug, Clone, Copy)]
pub struct Size(pub u32, pub u32);

impl Default for Size {
    fn default() -> Self {
        Size(scene_render::DEFAULT_SIZE as u32, scene_render::DEFAULT_SIZE as u32)
    }
}

impl std::str::FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        super::common::parse_size(s).map(|(w, h)| Size(w, h))
    }
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 == self.1 {
            write!(f, "{}", self.0)
        } else {
            write!(f, "{}x{}", self.0, self.1)
        }
    }
}

fn list(scene: &Scene) {
    println!("scene {} ({}): {}", scene.name(), scene.origin(), scene.description());
    println!("{:<18} {:>10} {:>10} {:>10}  unit", "parameter", "min", "max", "default");
    for p in scene.parameters() {
        let unit = match p.unit {
            scene_render::Unit::Degrees => "degrees",
            scene_render::Unit::Length => "scene units",
        };
        let note = if p.can_vary() { "" } else { "  (fixed)" };
        println!("{:<18} {:>10} {:>10} {:>10}  {unit}{note}", p.name, p.min, p.max, p.default);
    }
    if !scene.classes().is_empty() {
        let classes: Vec<String> = scene.classes().iter().enumerate().map(|(i, c)| format!("{i}={c}")).collect();
        println!("classes (manifest column `label`): {}", classes.join(", "));
    }
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let mut scene = Scene::load(&a.scene)?;
    scene_render::check_fixed_not_varied(&a.set, &a.vary).context("--set and --vary")?;
    apply_defaults(&mut scene, &a.set).context("--set")?;
    if a.list {
        list(&scene);
        return Ok(());
    }
    let Some(out) = a.out else { bail!("--out DIR is required (or --list to show the scene's parameters)") };
    let Some(n) = a.n else { bail!("--n N is required: number of images (grid: points per varied parameter)") };
    let flow_pairs = match &a.flow_pairs {
        Some(f) => read_flow_pairs(f)?,
        None => Vec::new(),
    };
    let request = RenderRequest {
        vary: a.vary,
        n,
        sampling: a.sampling,
        seed: a.seed,
        options: RenderOptions {
            width: a.size.0 as usize,
            height: a.size.1 as usize,
            ssaa: a.ssaa,
            blur: a.blur,
            color: if a.gray { ColorMode::Gray } else { ColorMode::Rgb },
            depth: false,
        },
        consecutive_flow: a.flow,
        flow_pairs,
        npy: a.npy,
        depth: a.depth,
        force: a.force,
    };
    let s = render_to_dir(&out, &scene, &request)?;
    let o = &request.options;
    eprintln!(
        "rendered {} images of scene '{}' ({}×{}, ssaa {}) in {:.2} s ({:.0} images/s incl. PNG writing){} into {}",
        s.n_images,
        scene.name(),
        o.width,
        o.height,
        o.ssaa,
        s.render_seconds,
        s.n_images as f64 / s.render_seconds,
        if s.flow_fields > 0 { format!(", {} flow fields", s.flow_fields) } else { String::new() },
        out.display()
    );
    Ok(())
}
