//! `.npy` input: memory-mapped when possible (ndarray-npy's view API), read otherwise.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ndarray::{Array2, ArrayD, ArrayViewD, Axis, IxDyn};
use ndarray_npy::{ReadNpyExt, ViewNpyExt};
use rayon::prelude::*;

use crate::npy_header::{self, Dtype};
use crate::{kept_count, limits, select_rows, ColorMode, Dataset, DatasetError, ImageShape, LoadOptions, Result, Rows};

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
    /// Row `i` along the first axis, flattened, scaled to f32 ([0, 1] for integer types). Returns the first column
    /// whose finite float64 value overflows float32, with the value (the row is filled all the same).
    fn row_into(&self, i: usize, out: &mut [f32]) -> Option<(usize, f64)> {
        fn go<T: Copy>(a: &ndarray::CowArray<'_, T, IxDyn>, i: usize, out: &mut [f32], f: impl Fn(T) -> f32) {
            for (o, &x) in out.iter_mut().zip(a.index_axis(Axis(0), i).iter()) {
                *o = f(x);
            }
        }
        match self {
            Any::F32(a) => go(a, i, out, |x| x),
            Any::F64(a) => {
                go(a, i, out, |x| x as f32);
                return first_overflow(a.index_axis(Axis(0), i).iter().copied(), out);
            }
            Any::U8(a) => go(a, i, out, |x| x as f32 / 255.0),
            Any::U16(a) => go(a, i, out, |x| x as f32 / 65535.0),
        }
        None
    }
    /// All values, flattened in logical (C) order, into `out`; the first overflowing float64 as in `row_into`.
    fn flat_into(&self, out: &mut [f32]) -> Option<(usize, f64)> {
        fn go<T: Copy>(a: &ndarray::CowArray<'_, T, IxDyn>, out: &mut [f32], f: impl Fn(T) -> f32) {
            out.iter_mut().zip(a.iter()).for_each(|(o, &v)| *o = f(v));
        }
        match self {
            Any::F32(x) => go(x, out, |v| v),
            Any::F64(x) => {
                go(x, out, |v| v as f32);
                return first_overflow(x.iter().copied(), out);
            }
            Any::U8(x) => go(x, out, |v| v as f32 / 255.0),
            Any::U16(x) => go(x, out, |v| v as f32 / 65535.0),
        }
        None
    }
}

/// First position where a finite float64 became an infinite float32.
fn first_overflow(src: impl Iterator<Item = f64>, out: &[f32]) -> Option<(usize, f64)> {
    src.zip(out).enumerate().find(|(_, (x, o))| x.is_finite() && o.is_infinite()).map(|(c, (x, _))| (c, x))
}

fn view_typed(bytes: &[u8], dtype: Dtype) -> Option<Any<'_>> {
    match dtype {
        Dtype::F32 => ArrayViewD::<f32>::view_npy(bytes).ok().map(|v| Any::F32(v.into())),
        Dtype::F64 => ArrayViewD::<f64>::view_npy(bytes).ok().map(|v| Any::F64(v.into())),
        Dtype::U8 => ArrayViewD::<u8>::view_npy(bytes).ok().map(|v| Any::U8(v.into())),
        Dtype::U16 => ArrayViewD::<u16>::view_npy(bytes).ok().map(|v| Any::U16(v.into())),
    }
}

/// Reads a `.npy` whose header has been checked (so the allocation is the file's own size).
fn read_typed(path: &Path, dtype: Dtype) -> Result<Any<'static>> {
    let file =
        fs::File::open(path).map_err(|e| DatasetError::Io { path: path.to_path_buf(), message: e.to_string() })?;
    let file = std::io::BufReader::new(file);
    let read = match dtype {
        Dtype::F32 => ArrayD::<f32>::read_npy(file).map(|a| Any::F32(a.into())),
        Dtype::F64 => ArrayD::<f64>::read_npy(file).map(|a| Any::F64(a.into())),
        Dtype::U8 => ArrayD::<u8>::read_npy(file).map(|a| Any::U8(a.into())),
        Dtype::U16 => ArrayD::<u16>::read_npy(file).map(|a| Any::U16(a.into())),
    };
    read.map_err(|e| DatasetError::Format { path: path.to_path_buf(), message: format!("not a readable .npy ({e})") })
}

/// Image shape implied by an array shape (after the row axis), honouring the colour option.
fn stack_shape(path: &Path, shape: &[usize]) -> Result<(usize, Option<ImageShape>)> {
    let ferr = |m: String| DatasetError::Format { path: path.to_path_buf(), message: m };
    match shape.len() {
        0 => Err(ferr("a single number (shape ()), not a matrix".into())),
        1 => Err(ferr(format!(
            "a 1-D array of {n} values, not a matrix: reshape it to {n} × 1 ({n} points of one coordinate, \
             numpy `a.reshape(-1, 1)`) or 1 × {n} (one point, `a.reshape(1, -1)`) and save it again",
            n = shape[0]
        ))),
        2 => Ok((shape[1], None)),
        // Products checked: a header with 0 rows may declare any other sizes.
        3 => Ok((
            values_per_row(path, &shape[1..])?,
            Some(ImageShape { height: shape[1], width: shape[2], channels: 1 }),
        )),
        4 if matches!(shape[3], 1 | 3 | 4) => Ok((
            values_per_row(path, &shape[1..])?,
            Some(ImageShape { height: shape[1], width: shape[2], channels: shape[3] }),
        )),
        4 => Err(ferr(format!("image stack n×h×w×c needs c in {{1, 3, 4}}, got shape {shape:?}"))),
        _ => Err(ferr(format!("expected a 2-D matrix or an image stack (3-D/4-D), got shape {shape:?}"))),
    }
}

/// Product of `dims`, refused when it overflows.
fn values_per_row(path: &Path, dims: &[usize]) -> Result<usize> {
    dims.iter().try_fold(1usize, |a, &x| a.checked_mul(x)).ok_or_else(|| DatasetError::Format {
        path: path.to_path_buf(),
        message: format!("rows of shape {dims:?} hold more values than can be addressed"),
    })
}

/// Bytes needed for the kept rows (plus colour conversion and resizing of image rows), and their description.
fn rows_needed(n: usize, d: usize, img: Option<ImageShape>, opts: &LoadOptions) -> (u128, usize) {
    let mut needed = limits::f32_matrix(n, d) + limits::ROW_OVERHEAD * n as u128;
    let mut d_out = d;
    if let Some(s) = img {
        let want = target_channels(opts.color, s.channels);
        if want != s.channels {
            d_out = s.height * s.width * want;
            needed += limits::f32_matrix(n, d_out);
        }
        if let Some((w, h)) = opts.resize {
            d_out = w as usize * h as usize * want;
            needed += limits::f32_matrix(n, d_out);
        }
    }
    (needed, d_out)
}

pub(crate) fn load_npy(path: &Path, opts: &LoadOptions) -> Result<Dataset> {
    let header = npy_header::read_header(path)?;
    let shape = &header.shape;
    if shape.len() >= 2 && shape[0] == 0 {
        return Err(DatasetError::Format { path: path.to_path_buf(), message: format!("no rows (shape {shape:?})") });
    }
    let (d, img) = stack_shape(path, shape)?;
    if d == 0 {
        return Err(DatasetError::Format {
            path: path.to_path_buf(),
            message: format!("rows are empty (shape {shape:?})"),
        });
    }
    let n_keep = kept_count(shape[0], opts);
    let (needed, d_out) = rows_needed(n_keep, d, img, opts);
    let file =
        fs::File::open(path).map_err(|e| DatasetError::Io { path: path.to_path_buf(), message: e.to_string() })?;
    // SAFETY: the map is read-only and is kept by the dataset when its rows are borrowed from it; a concurrent
    // truncation by another process is the usual mmap caveat (it would raise SIGBUS), accepted for input files.
    let map = unsafe { memmap2::Mmap::map(&file) }
        .map_err(|e| DatasetError::Io { path: path.to_path_buf(), message: e.to_string() })?;
    let map = Arc::new(map);
    if let Some(ds) = borrow_rows(path, opts, &map, header.dtype, shape[0], d, img) {
        // Only the per-row names are allocated.
        limits::check(path, limits::ROW_OVERHEAD * n_keep as u128, || limits::values(n_keep, d_out), "")?;
        return Ok(ds);
    }
    limits::check(path, needed, || limits::values(n_keep, d_out), &resize_hint(opts))?;
    if let Some(view) = view_typed(&map[..], header.dtype) {
        return finish_npy(path, opts, &view);
    }
    // Fortran order, big-endian or misaligned data: read into memory (the file's size on top of the rows).
    limits::check(path, needed + header.data_bytes, || limits::values(n_keep, d_out), &resize_hint(opts))?;
    let read = read_typed(path, header.dtype)?;
    finish_npy(path, opts, &read)
}

/// The dataset over the mapped file itself, when its rows can be used as they are stored: float32, little-endian,
/// C order, aligned, the kept rows a prefix (no `sample`), and image rows that need no colour conversion or resizing.
fn borrow_rows(
    path: &Path,
    opts: &LoadOptions,
    map: &Arc<memmap2::Mmap>,
    dtype: Dtype,
    n_total: usize,
    d: usize,
    img: Option<ImageShape>,
) -> Option<Dataset> {
    // `sample` keeps a scattered subset unless it asks for at least every row `limit` leaves ([`select_rows`]).
    let n_lim = opts.limit.map_or(n_total, |l| l.min(n_total));
    if dtype != Dtype::F32 || opts.sample.is_some_and(|s| s < n_lim) {
        return None;
    }
    debug_assert_eq!(n_lim, kept_count(n_total, opts));
    match img {
        Some(s) if opts.resize.is_some() || target_channels(opts.color, s.channels) != s.channels => return None,
        None if opts.resize.is_some() => return None,
        _ => {}
    }
    let view = ArrayViewD::<f32>::view_npy(&map[..]).ok()?;
    if !view.is_standard_layout() {
        return None;
    }
    let offset = (view.as_ptr() as usize).checked_sub(map.as_ptr() as usize)?;
    let data = Rows::mapped(map.clone(), offset, n_lim, d)?;
    let ids = (0..n_lim).map(|i| format!("row {i}")).collect();
    Some(Dataset { data, shape: img, ids, columns: Vec::new(), source: path.to_path_buf() })
}

/// What `--resize` allows, appended to a memory refusal when it is in use.
pub(crate) fn resize_hint(opts: &LoadOptions) -> String {
    match opts.resize {
        Some((w, h)) => format!(
            " (--resize {w}x{h}: each side may be 1..=16384 as long as the resized rows fit in memory; \
             use a smaller size or fewer rows with --limit/--sample)"
        ),
        None => String::new(),
    }
}

fn finish_npy(path: &Path, opts: &LoadOptions, arr: &Any<'_>) -> Result<Dataset> {
    let shape = arr.shape().to_vec();
    let (d, img) = stack_shape(path, &shape)?;
    let keep = select_rows(shape[0], opts);
    let mut data = Array2::<f32>::zeros((keep.len(), d));
    let overflow = data
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(keep.par_iter())
        .filter_map(|(mut row, &i)| {
            arr.row_into(i, row.as_slice_mut().expect("fresh rows are contiguous")).map(|(c, v)| (i, c, v))
        })
        .min_by_key(|&(i, c, _)| (i, c));
    if let Some((row, col, value)) = overflow {
        return Err(DatasetError::Overflow {
            path: path.to_path_buf(),
            place: format!("row {row}, column {col}"),
            value,
        });
    }
    let (data, shape) = adapt_images(data, img, opts, path)?;
    let ids = keep.iter().map(|i| format!("row {i}")).collect();
    Ok(Dataset { data: data.into(), shape, ids, columns: Vec::new(), source: path.to_path_buf() })
}

fn target_channels(color: ColorMode, channels: usize) -> usize {
    match (color, channels) {
        (ColorMode::Gray, _) => 1,
        (ColorMode::Rgb, _) => 3,
        (ColorMode::Auto, 4) => 3,
        (ColorMode::Auto, c) => c,
    }
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
    let want = target_channels(opts.color, s.channels);
    if want != s.channels {
        data = convert_channels(&data, s.channels, want);
        s.channels = want;
    }
    if let Some((w, h)) = opts.resize {
        if u32::try_from(s.width).is_err() || u32::try_from(s.height).is_err() {
            return Err(DatasetError::Format {
                path: path.to_path_buf(),
                message: format!("images of {}x{} pixels are too large to resize", s.width, s.height),
            });
        }
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

/// Manifest rows that are `.npy` files, one array (h×w[×c] or flat) per row; all must share a shape. Headers are
/// checked first (shapes, sizes, memory), then each file is read straight into its row.
pub(crate) fn decode_npy_rows(manifest: &Path, paths: &[PathBuf]) -> Result<(Array2<f32>, Option<ImageShape>)> {
    let headers: Vec<npy_header::Header> =
        paths.par_iter().map(|p| npy_header::read_header(p)).collect::<Result<_>>()?;
    let s0 = headers[0].shape.clone();
    for (h, p) in headers.iter().zip(paths) {
        if h.shape != s0 {
            return Err(DatasetError::MixedSizes {
                first: paths[0].clone(),
                first_size: format!("{s0:?}"),
                other: p.clone(),
                other_size: format!("{:?}", h.shape),
            });
        }
    }
    let d = values_per_row(&paths[0], &s0)?;
    if d == 0 {
        return Err(DatasetError::Format {
            path: paths[0].clone(),
            message: format!("holds no values (shape {s0:?})"),
        });
    }
    let shape = match s0.len() {
        2 => Some(ImageShape { height: s0[0], width: s0[1], channels: 1 }),
        3 => Some(ImageShape { height: s0[0], width: s0[1], channels: s0[2] }),
        _ => None,
    };
    let n = paths.len();
    let per_thread = headers[0].data_bytes * rayon::current_num_threads().min(n) as u128;
    let needed = limits::f32_matrix(n, d) + limits::ROW_OVERHEAD * n as u128 + per_thread;
    limits::check(manifest, needed, || limits::values(n, d), "")?;
    let mut data = Array2::<f32>::zeros((n, d));
    data.axis_iter_mut(Axis(0)).into_par_iter().zip(paths.par_iter().zip(&headers)).try_for_each(
        |(mut row, (p, h))| {
            let a = read_typed(p, h.dtype)?;
            if let Some((c, value)) = a.flat_into(row.as_slice_mut().expect("fresh rows are contiguous")) {
                return Err(DatasetError::Overflow { path: p.clone(), place: format!("value {c}"), value });
            }
            Ok(())
        },
    )?;
    Ok((data, shape))
}
