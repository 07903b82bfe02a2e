//! `.npy` input: memory-mapped when possible (ndarray-npy's view API), read otherwise.

use std::fs;
use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayD, ArrayViewD, Axis, IxDyn};
use ndarray_npy::{ReadNpyExt, ViewNpyExt};
use rayon::prelude::*;

use crate::{select_rows, ColorMode, Dataset, DatasetError, ImageShape, LoadOptions, Result};

/// A numeric array of one of the supported element types, borrowed from a memory map or owned.
enum Any<'a> {
    F32(ndarray::CowArray<'a, f32, IxDyn>),
    F64(ndarray::CowArray<'a, f64, IxDyn>),
    U8(ndarray::CowArray<'a, u8, IxDyn>),
    U16(ndarray::CowArray<'a, u16, IxDyn>),
}

impl Any<'_> {
    fn shape(&self) -> &[usize] {
        match self {
            Any::F32(a) => a.shape(),
            Any::F64(a) => a.shape(),
            Any::U8(a) => a.shape(),
            Any::U16(a) => a.shape(),
        }
    }
    /// Row `i` along the first axis, flattened, scaled to f32 ([0, 1] for integer types).
    fn row_into(&self, i: usize, out: &mut [f32]) {
        fn go<T: Copy>(a: &ndarray::CowArray<'_, T, IxDyn>, i: usize, out: &mut [f32], f: impl Fn(T) -> f32) {
            for (o, &x) in out.iter_mut().zip(a.index_axis(Axis(0), i).iter()) {
                *o = f(x);
            }
        }
        match self {
            Any::F32(a) => go(a, i, out, |x| x),
            Any::F64(a) => go(a, i, out, |x| x as f32),
            Any::U8(a) => go(a, i, out, |x| x as f32 / 255.0),
            Any::U16(a) => go(a, i, out, |x| x as f32 / 65535.0),
        }
    }
}

fn view_any(bytes: &[u8]) -> Option<Any<'_>> {
    if let Ok(v) = ArrayViewD::<f32>::view_npy(bytes) {
        return Some(Any::F32(v.into()));
    }
    if let Ok(v) = ArrayViewD::<f64>::view_npy(bytes) {
        return Some(Any::F64(v.into()));
    }
    if let Ok(v) = ArrayViewD::<u8>::view_npy(bytes) {
        return Some(Any::U8(v.into()));
    }
    if let Ok(v) = ArrayViewD::<u16>::view_npy(bytes) {
        return Some(Any::U16(v.into()));
    }
    None
}

fn read_any(path: &Path) -> Result<Any<'static>> {
    let open =
        || fs::File::open(path).map_err(|e| DatasetError::Io { path: path.to_path_buf(), message: e.to_string() });
    let last = match ArrayD::<f32>::read_npy(open()?) {
        Ok(a) => return Ok(Any::F32(a.into())),
        Err(e) => e.to_string(),
    };
    if let Ok(a) = ArrayD::<f64>::read_npy(open()?) {
        return Ok(Any::F64(a.into()));
    }
    if let Ok(a) = ArrayD::<u8>::read_npy(open()?) {
        return Ok(Any::U8(a.into()));
    }
    if let Ok(a) = ArrayD::<u16>::read_npy(open()?) {
        return Ok(Any::U16(a.into()));
    }
    Err(DatasetError::Format {
        path: path.to_path_buf(),
        message: format!("not a readable .npy of float32/float64/uint8/uint16 ({last})"),
    })
}

/// Image shape implied by an array shape (after the row axis), honouring the colour option.
fn stack_shape(path: &Path, shape: &[usize]) -> Result<(usize, Option<ImageShape>)> {
    let ferr = |m: String| DatasetError::Format { path: path.to_path_buf(), message: m };
    match shape.len() {
        1 => Ok((1, None)),
        2 => Ok((shape[1], None)),
        3 => Ok((shape[1] * shape[2], Some(ImageShape { height: shape[1], width: shape[2], channels: 1 }))),
        4 if matches!(shape[3], 1 | 3 | 4) => Ok((
            shape[1] * shape[2] * shape[3],
            Some(ImageShape { height: shape[1], width: shape[2], channels: shape[3] }),
        )),
        4 => Err(ferr(format!("image stack n×h×w×c needs c in {{1, 3, 4}}, got shape {shape:?}"))),
        _ => Err(ferr(format!("expected a 2-D matrix or an image stack (3-D/4-D), got shape {shape:?}"))),
    }
}

pub(crate) fn load_npy(path: &Path, opts: &LoadOptions) -> Result<Dataset> {
    let file =
        fs::File::open(path).map_err(|e| DatasetError::Io { path: path.to_path_buf(), message: e.to_string() })?;
    // SAFETY: the map is read-only and lives for this function; a concurrent truncation by another process is the
    // usual mmap caveat (it would raise SIGBUS), accepted for input files.
    let map = unsafe { memmap2::Mmap::map(&file) }
        .map_err(|e| DatasetError::Io { path: path.to_path_buf(), message: e.to_string() })?;
    let owned;
    let arr: &Any<'_> = match view_any(&map[..]) {
        Some(a) => {
            owned = a;
            &owned
        }
        None => {
            let read = read_any(path)?;
            return finish_npy(path, opts, &read);
        }
    };
    finish_npy(path, opts, arr)
}

fn finish_npy(path: &Path, opts: &LoadOptions, arr: &Any<'_>) -> Result<Dataset> {
    let shape = arr.shape().to_vec();
    if shape.is_empty() || shape[0] == 0 {
        return Err(DatasetError::Format { path: path.to_path_buf(), message: format!("no rows (shape {shape:?})") });
    }
    let (d, img) = stack_shape(path, &shape)?;
    if d == 0 {
        return Err(DatasetError::Format {
            path: path.to_path_buf(),
            message: format!("rows are empty (shape {shape:?})"),
        });
    }
    let keep = select_rows(shape[0], opts);
    let mut data = Array2::<f32>::zeros((keep.len(), d));
    data.axis_iter_mut(Axis(0)).into_par_iter().zip(keep.par_iter()).for_each(|(mut row, &i)| {
        arr.row_into(i, row.as_slice_mut().expect("fresh rows are contiguous"));
    });
    let (data, shape) = adapt_images(data, img, opts, path)?;
    let ids = keep.iter().map(|i| format!("row {i}")).collect();
    Ok(Dataset { data, shape, ids, columns: Vec::new(), source: path.to_path_buf() })
}

/// Applies colour conversion and resizing to image rows (no-op for plain matrices, where they are refused).
fn adapt_images(
    mut data: Array2<f32>,
    img: Option<ImageShape>,
    opts: &LoadOptions,
    path: &Path,
) -> Result<(Array2<f32>, Option<ImageShape>)> {
    let Some(mut s) = img else {
        if opts.resize.is_some() {
            return Err(DatasetError::Option(format!(
                "--resize needs images, but {} holds a plain matrix",
                path.display()
            )));
        }
        return Ok((data, None));
    };
    let want = match (opts.color, s.channels) {
        (ColorMode::Gray, _) => 1,
        (ColorMode::Rgb, _) => 3,
        (ColorMode::Auto, 4) => 3,
        (ColorMode::Auto, c) => c,
    };
    if want != s.channels {
        data = convert_channels(&data, s.channels, want);
        s.channels = want;
    }
    if let Some((w, h)) = opts.resize {
        data = resize_rows(&data, s, w as usize, h as usize);
        s.width = w as usize;
        s.height = h as usize;
    }
    Ok((data, Some(s)))
}

fn convert_channels(data: &Array2<f32>, from: usize, to: usize) -> Array2<f32> {
    let px = data.ncols() / from;
    let mut out = Array2::<f32>::zeros((data.nrows(), px * to));
    out.axis_iter_mut(Axis(0)).into_par_iter().zip(data.axis_iter(Axis(0))).for_each(|(mut o, r)| {
        for p in 0..px {
            let src = &r.as_slice().expect("contiguous")[p * from..(p + 1) * from];
            let (rr, g, b) = if from >= 3 { (src[0], src[1], src[2]) } else { (src[0], src[0], src[0]) };
            if to == 1 {
                // The toolkit's one grey conversion (BT.601 luma); grey (+ alpha) input keeps its grey value.
                o[p] = if from >= 3 { pixels::luma(rr, g, b) } else { rr };
            } else {
                o[p * 3] = rr;
                o[p * 3 + 1] = g;
                o[p * 3 + 2] = b;
            }
        }
    });
    out
}

pub(crate) fn gray_to_rgb(data: &Array2<f32>) -> Array2<f32> {
    convert_channels(data, 1, 3)
}

/// Resizes image rows (bilinear "triangle" filter, the same as for image files).
pub(crate) fn resize_rows(data: &Array2<f32>, s: ImageShape, w: usize, h: usize) -> Array2<f32> {
    use image::imageops::{resize, FilterType};
    let mut out = Array2::<f32>::zeros((data.nrows(), w * h * s.channels));
    out.axis_iter_mut(Axis(0)).into_par_iter().zip(data.axis_iter(Axis(0))).for_each(|(mut o, r)| {
        let raw = r.to_vec();
        let o = o.as_slice_mut().expect("contiguous");
        let (sw, sh) = (s.width as u32, s.height as u32);
        match s.channels {
            1 => {
                let img = image::ImageBuffer::<image::Luma<f32>, _>::from_raw(sw, sh, raw).expect("size matches");
                o.copy_from_slice(resize(&img, w as u32, h as u32, FilterType::Triangle).as_raw());
            }
            3 => {
                let img = image::ImageBuffer::<image::Rgb<f32>, _>::from_raw(sw, sh, raw).expect("size matches");
                o.copy_from_slice(resize(&img, w as u32, h as u32, FilterType::Triangle).as_raw());
            }
            _ => {
                let img = image::ImageBuffer::<image::Rgba<f32>, _>::from_raw(sw, sh, raw).expect("size matches");
                o.copy_from_slice(resize(&img, w as u32, h as u32, FilterType::Triangle).as_raw());
            }
        }
    });
    out
}

/// Manifest rows that are `.npy` files, one array (h×w[×c] or flat) per row; all must share a shape.
pub(crate) fn decode_npy_rows(paths: &[PathBuf]) -> Result<(Array2<f32>, Option<ImageShape>)> {
    let arrays: Vec<Any<'static>> = paths.par_iter().map(|p| read_any(p)).collect::<Result<_>>()?;
    let s0 = arrays[0].shape().to_vec();
    for (a, p) in arrays.iter().zip(paths) {
        if a.shape() != s0.as_slice() {
            return Err(DatasetError::MixedSizes {
                first: paths[0].clone(),
                first_size: format!("{s0:?}"),
                other: p.clone(),
                other_size: format!("{:?}", a.shape()),
            });
        }
    }
    let d: usize = s0.iter().product();
    let shape = match s0.len() {
        2 => Some(ImageShape { height: s0[0], width: s0[1], channels: 1 }),
        3 => Some(ImageShape { height: s0[0], width: s0[1], channels: s0[2] }),
        _ => None,
    };
    let mut data = Array2::<f32>::zeros((paths.len(), d));
    for (mut row, a) in data.axis_iter_mut(Axis(0)).zip(&arrays) {
        let flat: Vec<f32> = match a {
            Any::F32(x) => x.iter().copied().collect(),
            Any::F64(x) => x.iter().map(|&v| v as f32).collect(),
            Any::U8(x) => x.iter().map(|&v| v as f32 / 255.0).collect(),
            Any::U16(x) => x.iter().map(|&v| v as f32 / 65535.0).collect(),
        };
        row.iter_mut().zip(flat).for_each(|(o, v)| *o = v);
    }
    Ok((data, shape))
}
