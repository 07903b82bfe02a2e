//! Errors and small helpers shared by the stages.

// With a stage compiled out (cargo features), some helpers have no caller.
#![cfg_attr(not(all(feature = "dimension", feature = "geodesic", feature = "off-manifold")), allow(dead_code))]

use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayD};

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

/// Reads a render folder's `images.npy` (n×h×w or n×h×w×c float32) as one row per image.
pub fn read_image_rows(path: &Path) -> Result<Array2<f32>> {
    let err = |source: BoxError| DemoError::Read { path: path.to_path_buf(), source };
    let a: ArrayD<f32> = ndarray_npy::read_npy(path).map_err(|e| err(e.into()))?;
    let n = a.shape().first().copied().ok_or_else(|| err("empty array".into()))?;
    let d: usize = a.shape()[1..].iter().product();
    let flat: Vec<f32> = a.iter().copied().collect();
    Array2::from_shape_vec((n, d), flat).map_err(|e| err(e.into()))
}

/// Rounds every value to the 8-bit grid (what writing a PNG and reading it back gives).
pub fn quantize(x: &mut Array2<f32>) {
    x.iter_mut().for_each(|v| *v = (v.clamp(0.0, 1.0) * 255.0).round() / 255.0);
}

/// Writes one image row (row-major (y, x, channel), values in [0, 1]) as an 8-bit PNG.
pub fn write_png_row(path: &Path, row: &[f32], height: usize, width: usize, channels: usize) -> Result<()> {
    let bytes: Vec<u8> = row.iter().map(|&v| (v.clamp(0.0, 1.0) * 255.0).round() as u8).collect();
    let bad = || DemoError::Step {
        context: format!("writing {}", path.display()),
        message: format!("{} values for a {height}×{width}×{channels} image", row.len()),
    };
    match channels {
        1 => output::write_png(path, &image::GrayImage::from_raw(width as u32, height as u32, bytes).ok_or_else(bad)?)?,
        3 => output::write_png(path, &image::RgbImage::from_raw(width as u32, height as u32, bytes).ok_or_else(bad)?)?,
        _ => return Err(bad()),
    }
    Ok(())
}

/// Lays out images in a grid (rows of `columns`), each scaled up by an integer `scale` (nearest neighbour), 2 px
/// white gaps; returns the PNG bytes.
pub fn gallery_png(
    images: &[Vec<f32>],
    height: usize,
    width: usize,
    channels: usize,
    columns: usize,
    scale: usize,
) -> Result<Vec<u8>> {
    let columns = columns.max(1);
    let rows = images.len().div_ceil(columns).max(1);
    let pad = 2;
    let (cw, ch) = (width * scale, height * scale);
    let (gw, gh) = (columns * (cw + pad) + pad, rows * (ch + pad) + pad);
    let mut img = image::RgbImage::from_pixel(gw as u32, gh as u32, image::Rgb([255, 255, 255]));
    let px = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    for (i, row) in images.iter().enumerate() {
        if row.len() != height * width * channels {
            return Err(DemoError::Step {
                context: "building an image gallery".into(),
                message: format!("image {i} has {} values, not {height}×{width}×{channels}", row.len()),
            });
        }
        let (ox, oy) = (pad + (i % columns) * (cw + pad), pad + (i / columns) * (ch + pad));
        for y in 0..ch {
            for x in 0..cw {
                let p = ((y / scale) * width + x / scale) * channels;
                let rgb = if channels == 3 { [px(row[p]), px(row[p + 1]), px(row[p + 2])] } else { [px(row[p]); 3] };
                img.put_pixel((ox + x) as u32, (oy + y) as u32, image::Rgb(rgb));
            }
        }
    }
    let mut bytes = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)
        .step(|| "encoding an image gallery".to_string())?;
    Ok(bytes)
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
    fn sub_seeds_differ_and_streams_are_reproducible() {
        use rand::Rng;
        assert_ne!(sub_seed(0, 1), sub_seed(0, 2));
        assert_ne!(sub_seed(0, 1), sub_seed(1, 1));
        let a: u64 = item_rng(5, 3).random();
        let b: u64 = item_rng(5, 3).random();
        let c: u64 = item_rng(5, 4).random();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn quantize_lands_on_the_8bit_grid() {
        let mut x = ndarray::arr2(&[[0.1f32, 0.5, 1.2, -0.1]]);
        quantize(&mut x);
        for v in x.iter() {
            let k = v * 255.0;
            assert!((k - k.round()).abs() < 1e-4 && (0.0..=1.0).contains(v), "{v}");
        }
        assert_eq!(x[[0, 2]], 1.0);
        assert_eq!(x[[0, 3]], 0.0);
    }

    #[test]
    fn gallery_has_the_expected_size_and_pixels() {
        let red = vec![1.0, 0.0, 0.0];
        let png = gallery_png(&[red.clone(), red.clone(), red], 1, 1, 3, 2, 4).unwrap();
        let img = image::load_from_memory(&png).unwrap().to_rgb8();
        // 2 columns × (4 + 2) + 2 = 14 wide, 2 rows × 6 + 2 = 14 high.
        assert_eq!(img.dimensions(), (14, 14));
        assert_eq!(img.get_pixel(3, 3).0, [255, 0, 0]);
        assert_eq!(img.get_pixel(0, 0).0, [255, 255, 255]);
        assert!(gallery_png(&[vec![0.5; 2]], 1, 1, 3, 1, 1).is_err());
    }

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
