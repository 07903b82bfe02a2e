//! Image primitives shared by every imanifold crate, so that one image is the same array whichever command reads
//! or writes it:
//!
//! * [`ImageShape`]: height × width × channels of the images behind a row of values, pixels row-major
//!   `(y, x, channel)`.
//! * [`luma`]: the one RGB → grey conversion, ITU-R BT.601 (`0.299 R + 0.587 G + 0.114 B`, as OpenCV's
//!   `COLOR_RGB2GRAY` and PIL's `convert("L")`).
//! * [`to_u8`] / [`quantize`]: the 8-bit grid (what writing a PNG and reading it back gives).
//! * [`write_png`] / [`gallery`] / [`write_gallery`] / [`gallery_png`]: image rows as 8-bit PNGs (written
//!   atomically through the `output` crate) and grids of them.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Errors of the image primitives.
#[derive(Debug, thiserror::Error)]
pub enum PixelsError {
    #[error("{what}: {len} values for an image of {shape}")]
    Length { what: &'static str, len: usize, shape: ImageShape },
    #[error("{what}: {channels} channels (need 1 or 3)")]
    Channels { what: &'static str, channels: usize },
    #[error("gallery: no images")]
    EmptyGallery,
    #[error("cannot encode {path} as PNG")]
    Encode {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },
    #[error(transparent)]
    Output(#[from] output::OutputError),
}

pub type Result<T> = std::result::Result<T, PixelsError>;

/// Height, width and channels of the images behind a row of values (pixels row-major `(y, x, channel)`).
/// Printed as `H×W×C`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ImageShape {
    pub height: usize,
    pub width: usize,
    pub channels: usize,
}

impl ImageShape {
    pub fn new(height: usize, width: usize, channels: usize) -> Self {
        ImageShape { height, width, channels }
    }

    /// Values per image.
    pub fn len(&self) -> usize {
        self.height * self.width * self.channels
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Display for ImageShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}×{}×{}", self.height, self.width, self.channels)
    }
}

/// Grey value of an RGB pixel: ITU-R BT.601 luma, `0.299 R + 0.587 G + 0.114 B` (OpenCV's and PIL's weights).
/// Every grey conversion of the toolkit goes through this function.
#[inline]
pub fn luma(r: f32, g: f32, b: f32) -> f32 {
    0.299 * r + 0.587 * g + 0.114 * b
}

/// 8-bit value of a pixel in [0, 1] (rounded to nearest; values outside are clamped).
#[inline]
pub fn to_u8(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// The value `v` takes after an 8-bit round trip: `to_u8(v) / 255`.
#[inline]
pub fn on_8bit_grid(v: f32) -> f32 {
    to_u8(v) as f32 / 255.0
}

/// Rounds every value to the 8-bit grid in place (what a PNG round trip gives).
pub fn quantize<'a>(values: impl IntoIterator<Item = &'a mut f32>) {
    values.into_iter().for_each(|v| *v = on_8bit_grid(*v));
}

fn check(what: &'static str, row: &[f32], shape: ImageShape) -> Result<()> {
    if row.len() != shape.len() {
        return Err(PixelsError::Length { what, len: row.len(), shape });
    }
    if shape.channels != 1 && shape.channels != 3 {
        return Err(PixelsError::Channels { what, channels: shape.channels });
    }
    Ok(())
}

/// Writes one image row (values in [0, 1]) as an 8-bit gray (1 channel) or RGB (3 channels) PNG, atomically.
pub fn write_png(path: &Path, row: &[f32], shape: ImageShape) -> Result<()> {
    check("image", row, shape)?;
    let bytes: Vec<u8> = row.iter().map(|&v| to_u8(v)).collect();
    let (w, h) = (shape.width as u32, shape.height as u32);
    let short = || PixelsError::Length { what: "image", len: row.len(), shape };
    if shape.channels == 1 {
        output::write_png(path, &image::GrayImage::from_raw(w, h, bytes).ok_or_else(short)?)?;
    } else {
        output::write_png(path, &image::RgbImage::from_raw(w, h, bytes).ok_or_else(short)?)?;
    }
    Ok(())
}

/// Lays images out in a grid, `columns` per row, each scaled up by the integer `scale` (nearest neighbour), with
/// 2 white pixels around and between them. Always RGB (grey images are repeated over the three channels). The grid
/// is `columns` images wide even when there are fewer images.
pub fn gallery(rows: &[Vec<f32>], shape: ImageShape, columns: usize, scale: usize) -> Result<image::RgbImage> {
    if rows.is_empty() {
        return Err(PixelsError::EmptyGallery);
    }
    let (columns, scale) = (columns.max(1), scale.max(1));
    let pad = 2;
    let (cw, ch) = (shape.width * scale, shape.height * scale);
    let n_rows = rows.len().div_ceil(columns);
    let (gw, gh) = (columns * (cw + pad) + pad, n_rows * (ch + pad) + pad);
    let mut img = image::RgbImage::from_pixel(gw as u32, gh as u32, image::Rgb([255, 255, 255]));
    for row in rows {
        check("gallery", row, shape)?;
    }
    for (i, row) in rows.iter().enumerate() {
        let (ox, oy) = (pad + (i % columns) * (cw + pad), pad + (i / columns) * (ch + pad));
        for y in 0..ch {
            for x in 0..cw {
                let p = ((y / scale) * shape.width + x / scale) * shape.channels;
                let px = if shape.channels == 3 {
                    [to_u8(row[p]), to_u8(row[p + 1]), to_u8(row[p + 2])]
                } else {
                    [to_u8(row[p]); 3]
                };
                img.put_pixel((ox + x) as u32, (oy + y) as u32, image::Rgb(px));
            }
        }
    }
    Ok(img)
}

/// [`gallery`] encoded as PNG bytes (for embedding in a report).
pub fn gallery_png(rows: &[Vec<f32>], shape: ImageShape, columns: usize, scale: usize) -> Result<Vec<u8>> {
    let img = gallery(rows, shape, columns, scale)?;
    let mut bytes = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)
        .map_err(|source| PixelsError::Encode { path: PathBuf::from("<gallery>"), source })?;
    Ok(bytes)
}

/// [`gallery`] written atomically to `path`.
pub fn write_gallery(path: &Path, rows: &[Vec<f32>], shape: ImageShape, columns: usize, scale: usize) -> Result<()> {
    output::write_png(path, &gallery(rows, shape, columns, scale)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luma_weights_are_bt601_and_sum_to_one() {
        assert!((luma(1.0, 0.0, 0.0) - 0.299).abs() < 1e-7);
        assert!((luma(0.0, 1.0, 0.0) - 0.587).abs() < 1e-7);
        assert!((luma(0.0, 0.0, 1.0) - 0.114).abs() < 1e-7);
        assert!((luma(1.0, 1.0, 1.0) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn quantize_lands_on_the_8bit_grid() {
        let mut x = [0.1f32, 0.5, 1.2, -0.1, 0.502];
        quantize(x.iter_mut());
        for v in x {
            let k = v * 255.0;
            assert!((k - k.round()).abs() < 1e-4 && (0.0..=1.0).contains(&v), "{v}");
        }
        assert_eq!(x[2], 1.0);
        assert_eq!(x[3], 0.0);
        assert_eq!(to_u8(0.5), 128);
    }

    #[test]
    fn gallery_has_the_expected_size_and_pixels() {
        let red = vec![1.0, 0.0, 0.0];
        let shape = ImageShape::new(1, 1, 3);
        let img = gallery(&[red.clone(), red.clone(), red], shape, 2, 4).unwrap();
        // 2 columns × (4 + 2) + 2 = 14 wide, 2 rows × 6 + 2 = 14 high.
        assert_eq!(img.dimensions(), (14, 14));
        assert_eq!(img.get_pixel(3, 3).0, [255, 0, 0]);
        assert_eq!(img.get_pixel(0, 0).0, [255, 255, 255]);
        assert!(gallery(&[vec![0.5; 2]], shape, 1, 1).is_err());
        assert!(gallery(&[], shape, 1, 1).is_err());
    }

    #[test]
    fn png_round_trip_keeps_8bit_values() {
        let dir = std::env::temp_dir().join(format!("pixels-test-{}", std::process::id()));
        let path = dir.join("a.png");
        let row = [0.0f32, 0.25, 1.0, 0.5, 0.75, 0.1];
        write_png(&path, &row, ImageShape::new(2, 3, 1)).unwrap();
        let back = image::open(&path).unwrap().to_luma8();
        assert_eq!(back.dimensions(), (3, 2));
        let values: Vec<u8> = back.into_raw();
        assert_eq!(values, row.iter().map(|&v| to_u8(v)).collect::<Vec<_>>());
        assert!(write_png(&path, &row, ImageShape::new(2, 2, 1)).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
