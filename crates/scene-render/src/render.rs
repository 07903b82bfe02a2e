//! Public rendering API: options, one image, many images.

use ndarray::{Array2, Array3};
use rayon::prelude::*;
use serde::Serialize;

use crate::camera::Camera;
use crate::error::{RenderError, Result};
use crate::raster::{self, Scratch};
use crate::scene::{Params, Scene};

/// Colour of the output images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ColorMode {
    /// Three channels.
    #[default]
    Rgb,
    /// One channel, luma Y = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601, as OpenCV's and PIL's grey conversion).
    Gray,
}

impl ColorMode {
    pub fn channels(self) -> usize {
        match self {
            ColorMode::Rgb => 3,
            ColorMode::Gray => 1,
        }
    }
}

/// How to render.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RenderOptions {
    pub width: usize,
    pub height: usize,
    /// Supersampling factor S: S×S coverage samples per pixel (1 = no anti-aliasing), 1..=8.
    pub ssaa: usize,
    /// Standard deviation in pixels of a Gaussian blur applied to the image (0 = none; kernel truncated at 2σ).
    pub blur: f32,
    pub color: ColorMode,
    /// Also compute per-pixel depth.
    pub depth: bool,
}

/// Default image side in pixels (square images).
pub const DEFAULT_SIZE: usize = 64;
/// Default supersampling factor (4×4 coverage samples per pixel).
pub const DEFAULT_SSAA: usize = 4;

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            width: DEFAULT_SIZE,
            height: DEFAULT_SIZE,
            ssaa: DEFAULT_SSAA,
            blur: 0.0,
            color: ColorMode::Rgb,
            depth: false,
        }
    }
}

impl RenderOptions {
    /// Square images of `size` pixels, other options at their defaults.
    pub fn square(size: usize) -> Self {
        RenderOptions { width: size, height: size, ..Default::default() }
    }

    pub fn validate(&self) -> Result<()> {
        if !(1..=4096).contains(&self.width) || !(1..=4096).contains(&self.height) {
            return Err(RenderError::Options(format!(
                "image size {}×{} must lie in 1..=4096 on each side",
                self.width, self.height
            )));
        }
        if !(1..=8).contains(&self.ssaa) {
            return Err(RenderError::Options(format!("ssaa = {} must lie in 1..=8", self.ssaa)));
        }
        if !(self.blur.is_finite() && (0.0..=100.0).contains(&self.blur)) {
            return Err(RenderError::Options(format!("blur sigma = {} must lie in [0, 100] pixels", self.blur)));
        }
        Ok(())
    }
}

/// One rendered image.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedImage {
    /// Height × width × channels, values in [0, 1] (not quantised).
    pub image: Array3<f32>,
    /// Height × width camera-space depth z at pixel centres (distance along the optical axis); +inf where the
    /// pixel centre sees the background. Present when `RenderOptions::depth` is set.
    pub depth: Option<Array2<f32>>,
}

/// Renders one image. Errors on parameters that do not fit the scene or invalid options.
pub fn render(scene: &Scene, params: &Params, opts: &RenderOptions) -> Result<RenderedImage> {
    opts.validate()?;
    scene.check_params(params)?;
    let mut scratch = Scratch::default();
    Ok(render_with(&mut scratch, scene, params, opts))
}

/// Renders many images in parallel (rayon; each image is computed by one thread alone, so the output does not
/// depend on the thread count).
pub fn render_set(scene: &Scene, params: &[Params], opts: &RenderOptions) -> Result<Vec<RenderedImage>> {
    opts.validate()?;
    for p in params {
        scene.check_params(p)?;
    }
    Ok(params.par_iter().map_init(Scratch::default, |s, p| render_with(s, scene, p, opts)).collect())
}

/// Renders with caller-provided scratch buffers (inputs already validated).
pub(crate) fn render_with(
    scratch: &mut Scratch,
    scene: &Scene,
    params: &Params,
    opts: &RenderOptions,
) -> RenderedImage {
    let (w, h, s) = (opts.width, opts.height, opts.ssaa);
    let cam = Camera::new(scene, params, w, h);
    raster::prepare(scene, params, &cam, &mut scratch.prep);
    raster::coverage(scene, &scratch.prep, &cam, s, &mut scratch.ss);
    let mut rgb = vec![0.0f32; w * h * 3];
    raster::resolve(scene, &scratch.prep, &scratch.ss, w, h, s, &mut rgb);
    let depth = if opts.depth {
        raster::coverage(scene, &scratch.prep, &cam, 1, &mut scratch.centre);
        let d: Vec<f32> =
            raster::centre_depth(scene, &scratch.prep, &cam, &scratch.centre).into_iter().map(|z| z as f32).collect();
        Some(Array2::from_shape_vec((h, w), d).expect("depth buffer has h·w entries"))
    } else {
        None
    };
    let rgb = if opts.blur > 0.0 { blur_rgb(rgb, w, h, opts.blur) } else { rgb };
    let image = match opts.color {
        ColorMode::Rgb => Array3::from_shape_vec((h, w, 3), rgb),
        ColorMode::Gray => {
            Array3::from_shape_vec((h, w, 1), rgb.chunks_exact(3).map(|p| pixels::luma(p[0], p[1], p[2])).collect())
        }
    }
    .expect("image buffer has h·w·c entries");
    RenderedImage { image, depth }
}

fn blur_rgb(rgb: Vec<f32>, w: usize, h: usize, sigma: f32) -> Vec<f32> {
    let img: image::ImageBuffer<image::Rgb<f32>, Vec<f32>> =
        image::ImageBuffer::from_raw(w as u32, h as u32, rgb).expect("buffer has w·h·3 entries");
    imageproc::filter::gaussian_blur_f32(&img, sigma).into_raw()
}

/// Quantises an image to 8 bits (round to nearest, [`pixels::to_u8`]), as written to PNG.
pub fn to_u8(image: &Array3<f32>) -> Vec<u8> {
    image.iter().map(|&v| pixels::to_u8(v)).collect()
}
