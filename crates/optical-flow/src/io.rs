//! Reading frames and converting colour to grey.

use std::path::Path;

use ndarray::{Array2, Array3, ArrayView3, Axis};

use crate::FlowError;

/// Reads an image file (PNG, JPEG, BMP, TIFF) as `(height, width, channels)` with values in `[0, 1]`: one channel
/// for grey images, three (RGB) for colour ones; an alpha channel is dropped. 16-bit images keep their precision.
pub fn read_image(path: &Path) -> Result<Array3<f32>, FlowError> {
    let err = |message: String| FlowError::ReadImage { path: path.to_path_buf(), message };
    let img = image::ImageReader::open(path)
        .map_err(|e| err(e.to_string()))?
        .with_guessed_format()
        .map_err(|e| err(e.to_string()))?
        .decode()
        .map_err(|e| err(e.to_string()))?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w == 0 || h == 0 {
        return Err(err("image is empty".into()));
    }
    let gray = !img.color().has_color();
    if gray {
        let buf = img.to_luma32f();
        Array3::from_shape_vec((h, w, 1), buf.into_raw()).map_err(|e| err(e.to_string()))
    } else {
        let buf = img.to_rgb32f();
        Array3::from_shape_vec((h, w, 3), buf.into_raw()).map_err(|e| err(e.to_string()))
    }
}

/// Reads an image file as grey `(height, width)` in `[0, 1]` (colour converted with [`to_gray`]).
pub fn read_gray(path: &Path) -> Result<Array2<f32>, FlowError> {
    let img = read_image(path)?;
    to_gray(img.view()).map_err(|e| match e {
        FlowError::BadShape { shape, expected, .. } => {
            FlowError::BadShape { what: path.display().to_string(), shape, expected }
        }
        e => e,
    })
}

/// Grey version of a `(height, width, channels)` image: one channel is copied; three or four channels (RGB, RGBA)
/// give the ITU-R BT.601 luma ([`pixels::luma`]: `0.299 R + 0.587 G + 0.114 B`, as OpenCV's
/// `cvtColor(..., COLOR_RGB2GRAY)`).
pub fn to_gray(image: ArrayView3<f32>) -> Result<Array2<f32>, FlowError> {
    match image.dim().2 {
        1 => Ok(image.index_axis(Axis(2), 0).to_owned()),
        3 | 4 => {
            let (h, w, _) = image.dim();
            Ok(Array2::from_shape_fn((h, w), |(y, x)| {
                pixels::luma(image[[y, x, 0]], image[[y, x, 1]], image[[y, x, 2]])
            }))
        }
        _ => Err(FlowError::BadShape {
            what: "image".into(),
            shape: image.shape().to_vec(),
            expected: "(height, width, 1, 3 or 4 channels)".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luma_weights_and_channel_checks() {
        let mut img = Array3::<f32>::zeros((2, 2, 3));
        img[[0, 0, 0]] = 1.0;
        img[[0, 1, 1]] = 1.0;
        img[[1, 0, 2]] = 1.0;
        img.slice_mut(ndarray::s![1, 1, ..]).fill(0.5);
        let g = to_gray(img.view()).unwrap();
        assert!((g[[0, 0]] - 0.299).abs() < 1e-6);
        assert!((g[[0, 1]] - 0.587).abs() < 1e-6);
        assert!((g[[1, 0]] - 0.114).abs() < 1e-6);
        assert!((g[[1, 1]] - 0.5).abs() < 1e-6);
        assert!(to_gray(Array3::<f32>::zeros((2, 2, 2)).view()).is_err());
    }
}
