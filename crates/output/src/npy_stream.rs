//! `.npy` files written a block of rows at a time: the header with the final shape first, then the rows as they are
//! produced (C order, little-endian), so a command never holds the whole array in memory.
//!
//! Like every file of this crate the result appears atomically: the rows go to a temporary file next to the
//! destination, renamed onto it by [`NpyWriter::finish`] once every announced row was written; a writer dropped
//! before that (an error, a panic) removes its temporary file.

use std::fs;
use std::io::{BufWriter, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use ndarray::{ArrayBase, Data, Dimension};

use crate::{OutputError, Result};

/// Element types [`NpyWriter`] writes: their numpy type string and little-endian bytes.
pub trait NpyElement: Copy {
    /// numpy's `descr` of the type (`<f4`, `<i8`, …).
    const DESCR: &'static str;
    /// Appends the value's little-endian bytes to `out`.
    fn put_le(self, out: &mut Vec<u8>);
}

macro_rules! npy_element {
    ($($t:ty => $descr:literal),* $(,)?) => {$(
        impl NpyElement for $t {
            const DESCR: &'static str = $descr;
            #[inline]
            fn put_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}
npy_element!(f32 => "<f4", f64 => "<f8", i64 => "<i8", i32 => "<i4", u32 => "<u4", u64 => "<u8", u8 => "|u1");

/// The header of a version 1.0 `.npy` file holding a C-order array of `shape` with element type `descr`, padded
/// with spaces to a multiple of 64 bytes and ending in a newline (numpy's layout; the dictionary spelled as
/// ndarray-npy spells it, so a streamed file is byte for byte the one [`write_npy`](crate::write_npy) writes).
pub fn npy_header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dims = match shape {
        [n] => format!("({n},)"),
        _ => format!("({})", shape.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")),
    };
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {dims}}}");
    // magic (6) + version (2) + header length (2) + dict + padding + '\n'.
    let unpadded = 10 + dict.len() + 1;
    let total = unpadded.div_ceil(64) * 64;
    let len = (total - 10) as u16;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.resize(total - 1, b' ');
    out.push(b'\n');
    out
}

/// An `.npy` file of a known shape, filled row by row (see the module docs).
#[derive(Debug)]
pub struct NpyWriter<T: NpyElement> {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<BufWriter<fs::File>>,
    /// Values per row (the product of the shape after its first axis).
    row_len: usize,
    rows: usize,
    written: usize,
    bytes: Vec<u8>,
    _t: PhantomData<T>,
}

impl<T: NpyElement> NpyWriter<T> {
    /// Starts `path`, an array of `shape` (first axis: rows), by writing its header to a temporary file.
    pub fn create(path: &Path, shape: &[usize]) -> Result<Self> {
        if shape.is_empty() {
            return Err(OutputError::Encode { path: path.to_path_buf(), message: "an array needs a shape".into() });
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        crate::create_dir(&dir)?;
        let name = path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
        let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
        let io = |source| OutputError::Io { path: path.to_path_buf(), source };
        let mut file = BufWriter::with_capacity(1 << 20, fs::File::create(&tmp).map_err(io)?);
        let row_len: usize = shape[1..].iter().product();
        let mut w = NpyWriter {
            path: path.to_path_buf(),
            tmp,
            file: None,
            row_len,
            rows: shape[0],
            written: if row_len == 0 { shape[0] } else { 0 },
            bytes: Vec::new(),
            _t: PhantomData,
        };
        // From here on a failure drops `w`, which removes the temporary file.
        file.write_all(&npy_header(T::DESCR, shape)).map_err(io)?;
        w.file = Some(file);
        Ok(w)
    }

    /// Rows written so far.
    pub fn rows_written(&self) -> usize {
        self.written
    }

    /// Appends whole rows given as a flat C-order slice (a multiple of the row length).
    pub fn append(&mut self, values: &[T]) -> Result<()> {
        self.append_iter(values.len(), values.iter().copied())
    }

    /// Appends the rows of an array whose trailing axes match the shape (its values in logical, C order).
    pub fn append_array<S, D>(&mut self, rows: &ArrayBase<S, D>) -> Result<()>
    where
        S: Data<Elem = T>,
        D: Dimension,
    {
        self.append_iter(rows.len(), rows.iter().copied())
    }

    fn append_iter(&mut self, count: usize, values: impl Iterator<Item = T>) -> Result<()> {
        let encode = |message: String| OutputError::Encode { path: self.path.clone(), message };
        if self.row_len == 0 {
            // Rows of no values: the header says everything (every row counts as written from the start).
            return if count == 0 { Ok(()) } else { Err(encode(format!("{count} values for rows of no values"))) };
        }
        if !count.is_multiple_of(self.row_len) {
            return Err(encode(format!("{count} values are not whole rows of {} values", self.row_len)));
        }
        let new_rows = count / self.row_len;
        if self.written + new_rows > self.rows {
            return Err(encode(format!("{} rows written to an array of {} rows", self.written + new_rows, self.rows)));
        }
        self.bytes.clear();
        values.for_each(|v| v.put_le(&mut self.bytes));
        let file = self.file.as_mut().ok_or_else(|| encode("the writer has failed before".into()))?;
        if let Err(source) = file.write_all(&self.bytes) {
            self.file = None;
            return Err(OutputError::Io { path: self.path.clone(), source });
        }
        self.written += new_rows;
        Ok(())
    }

    /// Checks that every announced row was written, flushes and renames the file into place.
    pub fn finish(mut self) -> Result<()> {
        if self.written != self.rows {
            return Err(OutputError::Encode {
                path: self.path.clone(),
                message: format!("{} of {} rows written", self.written, self.rows),
            });
        }
        let io = |source| OutputError::Io { path: self.path.clone(), source };
        let file = self.file.take().ok_or_else(|| OutputError::Encode {
            path: self.path.clone(),
            message: "the writer has failed before".into(),
        })?;
        let file = file.into_inner().map_err(|e| io(e.into_error()))?;
        drop(file);
        fs::rename(&self.tmp, &self.path).map_err(io)?;
        self.rows = usize::MAX; // committed: nothing to clean up
        Ok(())
    }
}

impl<T: NpyElement> Drop for NpyWriter<T> {
    fn drop(&mut self) {
        if self.rows != usize::MAX {
            self.file = None;
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array2, Array3};

    #[test]
    fn streamed_files_equal_ndarray_npy_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let a = Array2::from_shape_fn((37, 5), |(i, j)| (i * 5 + j) as i64 - 40);
        let p = dir.path().join("a.npy");
        let mut w = NpyWriter::<i64>::create(&p, &[37, 5]).unwrap();
        for chunk in a.axis_chunks_iter(ndarray::Axis(0), 8) {
            w.append_array(&chunk).unwrap();
        }
        w.finish().unwrap();
        let back: Array2<i64> = ndarray_npy::read_npy(&p).unwrap();
        assert_eq!(back, a);
        // Byte for byte what ndarray-npy writes.
        let q = dir.path().join("ref.npy");
        crate::write_npy(&q, &a).unwrap();
        assert!(fs::read(&p).unwrap() == fs::read(&q).unwrap(), "the streamed file differs from ndarray-npy's");

        let f = Array2::from_shape_fn((3, 4), |(i, j)| i as f32 / (j as f32 + 1.0)).reversed_axes();
        let p = dir.path().join("f.npy");
        let mut w = NpyWriter::<f32>::create(&p, &[4, 3]).unwrap();
        w.append_array(&f).unwrap(); // a transposed view: written in logical order
        w.finish().unwrap();
        assert_eq!(ndarray_npy::read_npy::<_, Array2<f32>>(&p).unwrap(), f);

        let v = Array1::from(vec![1.5f64, -2.0, 3.25]);
        let p = dir.path().join("v.npy");
        let mut w = NpyWriter::<f64>::create(&p, &[3]).unwrap();
        w.append(&[1.5]).unwrap();
        w.append(&[-2.0, 3.25]).unwrap();
        w.finish().unwrap();
        assert_eq!(ndarray_npy::read_npy::<_, Array1<f64>>(&p).unwrap(), v);

        let c = Array3::from_shape_fn((2, 3, 2), |(i, j, k)| (i * 100 + j * 10 + k) as u8);
        let p = dir.path().join("c.npy");
        let mut w = NpyWriter::<u8>::create(&p, &[2, 3, 2]).unwrap();
        w.append_array(&c).unwrap();
        w.finish().unwrap();
        assert_eq!(ndarray_npy::read_npy::<_, Array3<u8>>(&p).unwrap(), c);
    }

    #[test]
    fn headers_are_aligned_and_partial_files_vanish() {
        for shape in [&[0usize][..], &[7], &[400_000, 20], &[1, 2, 3, 4, 5, 6]] {
            let h = npy_header("<f4", shape);
            assert_eq!(h.len() % 64, 0);
            assert_eq!(*h.last().unwrap(), b'\n');
            assert_eq!(u16::from_le_bytes([h[8], h[9]]) as usize, h.len() - 10);
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.npy");
        let mut w = NpyWriter::<f32>::create(&p, &[4, 2]).unwrap();
        w.append(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert!(w.append(&[1.0]).is_err(), "half a row accepted");
        assert!(w.append(&[0.0; 6]).is_err(), "more rows than announced accepted");
        assert_eq!(w.rows_written(), 2);
        let err = w.finish().unwrap_err().to_string();
        assert!(err.contains("x.npy"), "{err}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0, "a partial file was left behind");
        let w = NpyWriter::<i64>::create(&p, &[3, 1]).unwrap();
        drop(w);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0, "a dropped writer left its file");
        // Rows of no values: complete from the start.
        let mut w = NpyWriter::<f32>::create(&p, &[5, 0]).unwrap();
        w.append(&[]).unwrap();
        assert!(w.append(&[1.0]).is_err());
        w.finish().unwrap();
        assert_eq!(ndarray_npy::read_npy::<_, Array2<f32>>(&p).unwrap().dim(), (5, 0));
    }
}
