//! MNIST / Fashion-MNIST IDX files (raw or gzip): header checked (sizes, memory) before the data is read, and only
//! as many bytes as the header declares are ever decompressed.

use std::fs;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use ndarray::{Array2, Axis};

use crate::{kept_count, limits, npy, select_rows, ColorMode, Column, Dataset, DatasetError, ImageShape};
use crate::{LoadOptions, Result};

/// An IDX file's dimensions and its payload (exactly the declared number of bytes).
struct Idx {
    dims: Vec<usize>,
    payload: Vec<u8>,
}

fn ferr(path: &Path, message: String) -> DatasetError {
    DatasetError::Format { path: path.to_path_buf(), message }
}

/// Opens `path` as a byte stream, decompressing gzip (detected by its magic bytes).
fn open_stream(path: &Path) -> Result<(Box<dyn Read>, Option<u64>)> {
    let io = |e: std::io::Error| DatasetError::Io { path: path.to_path_buf(), message: e.to_string() };
    let mut f = fs::File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    let mut magic = Vec::with_capacity(2);
    (&mut f).take(2).read_to_end(&mut magic).map_err(io)?;
    let head = std::io::Cursor::new(magic.clone()).chain(BufReader::new(f));
    if magic == [0x1f, 0x8b] {
        Ok((Box::new(flate2::read::GzDecoder::new(head)), None))
    } else {
        Ok((Box::new(head), Some(len)))
    }
}

/// Reads up to `n` bytes (fewer at the end of the stream), growing the buffer only as data arrives.
fn read_up_to(path: &Path, r: &mut dyn Read, n: u64) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    r.take(n).read_to_end(&mut v).map_err(|e| DatasetError::Io { path: path.to_path_buf(), message: e.to_string() })?;
    Ok(v)
}

/// Reads an IDX file of unsigned bytes. `row_cost(dims)` is the memory the caller will need besides the payload.
fn read_idx(path: &Path, row_cost: impl Fn(&[usize]) -> (u128, String)) -> Result<Idx> {
    let (mut r, file_len) = open_stream(path)?;
    let pre = read_up_to(path, &mut r, 4)?;
    if pre.len() < 4 || pre[0] != 0 || pre[1] != 0 {
        return Err(ferr(path, "not an IDX file (bad magic number)".into()));
    }
    let (ty, ndim) = (pre[2], pre[3] as usize);
    let raw_dims = read_up_to(path, &mut r, 4 * ndim as u64)?;
    if raw_dims.len() < 4 * ndim {
        return Err(ferr(path, "truncated IDX header".into()));
    }
    let dims: Vec<usize> =
        raw_dims.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize).collect();
    if ty != 0x08 {
        return Err(ferr(path, format!("IDX element type 0x{ty:02x} is not supported (only unsigned bytes, 0x08)")));
    }
    let expected = dims.iter().try_fold(1u128, |a, &d| a.checked_mul(d as u128)).unwrap_or(u128::MAX);
    let off = 4 + 4 * ndim as u64;
    if let Some(len) = file_len {
        let held = len.saturating_sub(off) as u128;
        if held < expected {
            return Err(ferr(path, format!("truncated: header promises {expected} bytes of data, file holds {held}")));
        }
    }
    let (cost, what) = row_cost(&dims);
    let truncated =
        |held: u64| ferr(path, format!("truncated: header promises {expected} bytes of data, file holds {held}"));
    let available = limits::available_memory();
    if expected + cost > available as u128 {
        // Too large to hold, but a compressed file may also be truncated: count its bytes (without keeping them)
        // so that the message says which.
        if file_len.is_none() {
            let held = std::io::copy(&mut r.take(expected.min(u64::MAX as u128) as u64), &mut std::io::sink())
                .map_err(|e| DatasetError::Io { path: path.to_path_buf(), message: e.to_string() })?;
            if (held as u128) < expected {
                return Err(truncated(held));
            }
        }
        return Err(limits::refusal(path, expected + cost, available, what, ""));
    }
    let payload = read_up_to(path, &mut r, expected as u64)?;
    if (payload.len() as u128) < expected {
        return Err(truncated(payload.len() as u64));
    }
    Ok(Idx { dims, payload })
}

pub(crate) fn load_idx(path: &Path, opts: &LoadOptions) -> Result<Dataset> {
    let estimate = |dims: &[usize]| match dims {
        [n, h, w] => {
            let n_keep = kept_count(*n, opts) as u128;
            let (rw, rh) = opts.resize.map_or((*w as u128, *h as u128), |(w, h)| (w as u128, h as u128));
            let c = if opts.color == ColorMode::Rgb { 3 } else { 1 };
            let mut cost = n_keep * (*h as u128 * *w as u128 * 4 + limits::ROW_OVERHEAD);
            cost += opts.resize.map_or(0, |_| n_keep * rw * rh * 4);
            cost += if c == 3 { n_keep * rw * rh * 12 } else { 0 };
            (cost, format!("{n_keep} × {} float32 values", rw * rh * c))
        }
        _ => (0, String::new()),
    };
    let Idx { dims, payload: bytes } = read_idx(path, estimate)?;
    if dims.len() != 3 {
        return Err(ferr(path, format!("an idx3 image file has 3 dimensions, this one has {}", dims.len())));
    }
    let (n, h, w) = (dims[0], dims[1], dims[2]);
    if n == 0 {
        return Err(ferr(path, format!("holds 0 images (header dimensions {n} × {h} × {w})")));
    }
    if h == 0 || w == 0 {
        return Err(ferr(path, format!("images of {h}×{w} pixels hold no values (header dimensions {n} × {h} × {w})")));
    }
    let keep = select_rows(n, opts);
    let pix = h * w;
    let mut data = Array2::<f32>::zeros((keep.len(), pix));
    for (mut row, &i) in data.axis_iter_mut(Axis(0)).zip(&keep) {
        let src = &bytes[i * pix..(i + 1) * pix];
        row.iter_mut().zip(src).for_each(|(o, &b)| *o = b as f32 / 255.0);
    }
    drop(bytes);
    let mut shape = ImageShape { height: h, width: w, channels: 1 };
    if let Some((rw, rh)) = opts.resize {
        data = npy::resize_rows(&data, shape, rw as usize, rh as usize);
        shape = ImageShape { height: rh as usize, width: rw as usize, channels: 1 };
    }
    if opts.color == ColorMode::Rgb {
        data = npy::gray_to_rgb(&data);
        shape.channels = 3;
    }
    let mut columns = Vec::new();
    if let Some(lp) = idx_labels_path(path) {
        let Idx { dims: ldims, payload: lb } = read_idx(&lp, |_| (0, "labels".into()))?;
        if ldims.len() != 1 || ldims[0] != n {
            return Err(ferr(&lp, format!("labels file has shape {ldims:?} but the image file has {n} images")));
        }
        columns.push(("label".to_string(), Column::Numeric(keep.iter().map(|&i| lb[i] as f64).collect())));
    }
    let ids = keep.iter().map(|i| format!("image {i}")).collect();
    Ok(Dataset { data: data.into(), shape: Some(shape), ids, columns, source: path.to_path_buf() })
}

/// `train-images-idx3-ubyte.gz` → `train-labels-idx1-ubyte.gz` (first existing spelling).
fn idx_labels_path(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_string_lossy().to_string();
    let dir = path.parent().unwrap_or(Path::new("."));
    let candidates = [
        name.replace("images-idx3", "labels-idx1"),
        name.replace("images.idx3", "labels.idx1"),
        name.replace("idx3", "idx1"),
    ];
    for c in candidates {
        for variant in [c.clone(), c.trim_end_matches(".gz").to_string(), format!("{}.gz", c.trim_end_matches(".gz"))] {
            let p = dir.join(&variant);
            // Only a labels file (idx1): `x-images-idx3-ubyte` beside `x-images-idx3-ubyte.gz` is not one.
            if variant != name && variant.contains("idx1") && p.is_file() {
                return Some(p);
            }
        }
    }
    None
}
