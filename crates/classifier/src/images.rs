//! Writing image rows as 8-bit PNGs and galleries (atomically, through the `output` crate).

use std::path::Path;

use crate::error::{invalid, Result};
use crate::ImageShape;

/// 8-bit value of a pixel in [0, 1] (rounded; values outside are clamped).
pub fn to_u8(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// Rounds every value to the 8-bit grid (what a PNG round trip gives).
pub fn quantize_8bit(row: &mut [f32]) {
    row.iter_mut().for_each(|v| *v = to_u8(*v) as f32 / 255.0);
}

/// Stacks `(height, width, channels)` images (e.g. `scene_render::RenderedImage::image`) into the row matrix the
/// model takes, pixels row-major `(y, x, channel)`. With `quantize` the values are put on the 8-bit grid, as if
/// written to PNG and read back (what `imanifold render` + loading gives). Images must share one shape with 1 or 3
/// channels and hold finite values.
pub fn stack<'a>(
    images: impl IntoIterator<Item = ndarray::ArrayView3<'a, f32>>,
    quantize: bool,
) -> Result<(ndarray::Array2<f32>, ImageShape)> {
    let mut shape: Option<ImageShape> = None;
    let mut values = Vec::new();
    let mut n = 0;
    for (i, img) in images.into_iter().enumerate() {
        let (h, w, c) = img.dim();
        let this = ImageShape::new(h, w, c);
        match shape {
            None if this.is_empty() || !(c == 1 || c == 3) => {
                return Err(invalid(
                    "images",
                    format!("image 0 is {this} (need a non-empty image with 1 or 3 channels)"),
                ))
            }
            None => shape = Some(this),
            Some(s) if s != this => return Err(invalid("images", format!("image {i} is {this}, image 0 is {s}"))),
            Some(_) => {}
        }
        if let Some(v) = img.iter().find(|v| !v.is_finite()) {
            return Err(invalid("images", format!("image {i} holds a non-finite value {v}")));
        }
        values.extend(img.iter().map(|&v| if quantize { to_u8(v) as f32 / 255.0 } else { v }));
        n += 1;
    }
    let shape = shape.ok_or_else(|| invalid("images", "no images"))?;
    let data =
        ndarray::Array2::from_shape_vec((n, shape.len()), values).map_err(|e| invalid("images", e.to_string()))?;
    Ok((data, shape))
}

/// Writes one image row (row-major (y, x, channel), values in [0, 1]) as an 8-bit gray or RGB PNG.
pub fn write_png(path: &Path, row: &[f32], shape: ImageShape) -> Result<()> {
    if row.len() != shape.len() {
        return Err(invalid("image", format!("{} values for an image of {shape}", row.len())));
    }
    let bytes: Vec<u8> = row.iter().map(|&v| to_u8(v)).collect();
    let (w, h) = (shape.width as u32, shape.height as u32);
    match shape.channels {
        1 => {
            let img = image::GrayImage::from_raw(w, h, bytes).ok_or_else(|| invalid("image", "buffer size"))?;
            output::write_png(path, &img)?;
        }
        3 => {
            let img = image::RgbImage::from_raw(w, h, bytes).ok_or_else(|| invalid("image", "buffer size"))?;
            output::write_png(path, &img)?;
        }
        c => return Err(invalid("image", format!("{c} channels (need 1 or 3)"))),
    }
    Ok(())
}

/// Writes a grid of images (row by row, `columns` per row), each scaled up by an integer factor (nearest
/// neighbour) to at least 64 pixels high, separated by 2 white pixels. Always RGB.
pub fn write_gallery(path: &Path, rows: &[Vec<f32>], shape: ImageShape, columns: usize) -> Result<()> {
    if rows.is_empty() || columns == 0 {
        return Err(invalid("gallery", "no images"));
    }
    let scale = 64usize.div_ceil(shape.height).max(1);
    let (cw, ch) = (shape.width * scale, shape.height * scale);
    let pad = 2;
    let n_rows = rows.len().div_ceil(columns);
    let cols = columns.min(rows.len());
    let (gw, gh) = (cols * (cw + pad) + pad, n_rows * (ch + pad) + pad);
    let mut img = image::RgbImage::from_pixel(gw as u32, gh as u32, image::Rgb([255, 255, 255]));
    for (i, row) in rows.iter().enumerate() {
        if row.len() != shape.len() {
            return Err(invalid("gallery", format!("image {i} has {} values for {shape}", row.len())));
        }
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
    output::write_png(path, &img)?;
    Ok(())
}
