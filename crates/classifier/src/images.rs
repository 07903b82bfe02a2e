//! Image rows for the model: stacking rendered images, and the gallery of a run (PNG writing is `pixels`').

use std::path::Path;

use crate::error::{invalid, Result};
use crate::ImageShape;

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
        values.extend(img.iter().map(|&v| if quantize { pixels::on_8bit_grid(v) } else { v }));
        n += 1;
    }
    let shape = shape.ok_or_else(|| invalid("images", "no images"))?;
    let data =
        ndarray::Array2::from_shape_vec((n, shape.len()), values).map_err(|e| invalid("images", e.to_string()))?;
    Ok((data, shape))
}

/// Writes the gallery of a run's images: a grid, `columns` per row, each scaled up by an integer factor (nearest
/// neighbour) to at least 64 pixels high, separated by 2 white pixels. Always RGB.
pub fn write_gallery(path: &Path, rows: &[Vec<f32>], shape: ImageShape, columns: usize) -> Result<()> {
    if columns == 0 {
        return Err(invalid("gallery", "no images"));
    }
    // The grid is never wider than the images it holds.
    pixels::write_gallery(path, rows, shape, columns.min(rows.len()), 64usize.div_ceil(shape.height).max(1))?;
    Ok(())
}
