//! The n × d values of a [`crate::Dataset`]: owned, or borrowed from a memory-mapped `.npy` file.
//!
//! A little-endian, C-order float32 `.npy` (2-D, or an image stack that needs no colour conversion or resizing),
//! loaded whole or with `limit` (a prefix of its rows), is not copied: [`Rows`] keeps the read-only map and hands
//! out views into it, so the rows cost no memory beyond the page cache of the mapped file (the operating system
//! can drop and re-read those pages under pressure). Everything else — other types, `sample`, conversions, images,
//! IDX files — is owned. Readers see one type either way: [`Rows::view`], [`Rows::row`], indexing by `[i, j]`;
//! a writer takes [`Rows::make_mut`], which copies a mapped matrix once.

use std::fmt;
use std::ops::Index;
use std::sync::Arc;

use ndarray::{Array2, ArrayView1, ArrayView2, Axis};

/// The rows of a dataset (see the module documentation).
#[derive(Clone)]
pub struct Rows {
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    Owned(Array2<f32>),
    /// `n × d` float32 values at byte `offset` of `map`, row-major; the offset is a multiple of 4 and the values
    /// lie inside the map (checked by [`Rows::mapped`]).
    Mapped {
        map: Arc<memmap2::Mmap>,
        offset: usize,
        n: usize,
        d: usize,
    },
}

impl Rows {
    /// Rows over `n × d` float32 values stored at byte `offset` of `map`; `None` when they are misaligned or do not
    /// fit in the map (the caller then copies).
    pub(crate) fn mapped(map: Arc<memmap2::Mmap>, offset: usize, n: usize, d: usize) -> Option<Rows> {
        let bytes = n.checked_mul(d)?.checked_mul(std::mem::size_of::<f32>())?;
        let end = offset.checked_add(bytes)?;
        let aligned = (map.as_ptr() as usize + offset).is_multiple_of(std::mem::align_of::<f32>());
        (aligned && end <= map.len()).then_some(Rows { repr: Repr::Mapped { map, offset, n, d } })
    }
    /// A view of all rows.
    pub fn view(&self) -> ArrayView2<'_, f32> {
        match &self.repr {
            Repr::Owned(a) => a.view(),
            Repr::Mapped { map, offset, n, d } => {
                // SAFETY: `mapped` checked alignment and bounds; the map is read-only, owned by `self` (through the
                // Arc) and outlives the returned borrow; f32 has no invalid bit patterns.
                unsafe { ArrayView2::from_shape_ptr((*n, *d), map.as_ptr().add(*offset) as *const f32) }
            }
        }
    }
    /// Whether the rows are borrowed from a memory-mapped file rather than held in memory.
    pub fn is_mapped(&self) -> bool {
        matches!(self.repr, Repr::Mapped { .. })
    }
    /// The owned matrix, copied from the map once when the rows are mapped; for writers.
    pub fn make_mut(&mut self) -> &mut Array2<f32> {
        if let Repr::Mapped { .. } = self.repr {
            self.repr = Repr::Owned(self.view().to_owned());
        }
        match &mut self.repr {
            Repr::Owned(a) => a,
            Repr::Mapped { .. } => unreachable!("converted above"),
        }
    }
    /// The values as an owned matrix (a copy when mapped).
    pub fn into_owned(self) -> Array2<f32> {
        match self.repr {
            Repr::Owned(a) => a,
            Repr::Mapped { .. } => self.view().to_owned(),
        }
    }
    /// A copy of the values.
    pub fn to_owned(&self) -> Array2<f32> {
        self.view().to_owned()
    }
    pub fn nrows(&self) -> usize {
        self.dim().0
    }
    pub fn ncols(&self) -> usize {
        self.dim().1
    }
    /// (rows, columns).
    pub fn dim(&self) -> (usize, usize) {
        match &self.repr {
            Repr::Owned(a) => a.dim(),
            Repr::Mapped { n, d, .. } => (*n, *d),
        }
    }
    /// Row `i`.
    pub fn row(&self, i: usize) -> ArrayView1<'_, f32> {
        self.view().index_axis_move(Axis(0), i)
    }
    /// The given rows, in that order, as an owned matrix.
    pub fn select(&self, axis: Axis, indices: &[usize]) -> Array2<f32> {
        self.view().select(axis, indices)
    }
    /// A slice of the rows (as [`ndarray::ArrayBase::slice`]).
    pub fn slice<I: ndarray::SliceArg<ndarray::Ix2>>(&self, info: I) -> ndarray::ArrayView<'_, f32, I::OutDim> {
        self.view().slice_move(info)
    }
    /// All values in row-major order.
    pub fn iter(&self) -> ndarray::iter::Iter<'_, f32, ndarray::Ix2> {
        self.view().into_iter()
    }
}

impl From<Array2<f32>> for Rows {
    fn from(a: Array2<f32>) -> Self {
        Rows { repr: Repr::Owned(a) }
    }
}

impl Index<[usize; 2]> for Rows {
    type Output = f32;
    fn index(&self, [i, j]: [usize; 2]) -> &f32 {
        let (n, d) = self.dim();
        assert!(i < n && j < d, "index [{i}, {j}] out of bounds for {n} × {d} rows");
        match &self.repr {
            Repr::Owned(a) => &a[[i, j]],
            Repr::Mapped { map, offset, .. } => {
                // SAFETY: in bounds (asserted) and aligned (checked by `mapped`); borrowed from `self`'s map.
                unsafe { &*(map.as_ptr().add(*offset) as *const f32).add(i * d + j) }
            }
        }
    }
}

impl PartialEq for Rows {
    fn eq(&self, other: &Self) -> bool {
        self.view() == other.view()
    }
}

impl PartialEq<Array2<f32>> for Rows {
    fn eq(&self, other: &Array2<f32>) -> bool {
        self.view() == other.view()
    }
}

impl fmt::Debug for Rows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (n, d) = self.dim();
        let how = if self.is_mapped() { "mapped" } else { "owned" };
        write!(f, "Rows({n} × {d}, {how})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_rows_read_as_the_matrix() {
        let a = Array2::from_shape_fn((3, 4), |(i, j)| (i * 4 + j) as f32);
        let r = Rows::from(a.clone());
        assert_eq!(r.view(), a.view());
        assert_eq!(r[[2, 3]], 11.0);
        assert_eq!(r.row(1).to_vec(), vec![4.0, 5.0, 6.0, 7.0]);
        assert_eq!(r.select(Axis(0), &[2, 0]).row(0).to_vec(), vec![8.0, 9.0, 10.0, 11.0]);
        assert!(!r.is_mapped());
    }

    #[test]
    fn mapped_rows_read_the_file_and_copy_on_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.bin");
        let values: Vec<f32> = (0..24).map(|x| x as f32 * 0.5).collect();
        let mut bytes = vec![0u8; 16];
        for v in &values {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        std::fs::write(&path, &bytes).unwrap();
        let map = Arc::new(unsafe { memmap2::Mmap::map(&std::fs::File::open(&path).unwrap()) }.unwrap());
        assert!(Rows::mapped(map.clone(), 16, 5, 6).is_none(), "30 values do not fit in 24");
        assert!(Rows::mapped(map.clone(), 2, 4, 6).is_none(), "misaligned");
        let mut r = Rows::mapped(map, 16, 4, 6).expect("fits");
        assert!(r.is_mapped());
        assert_eq!(r.dim(), (4, 6));
        assert_eq!(r[[3, 5]], 11.5);
        assert_eq!(r.row(2)[1], 6.5);
        assert_eq!(r.to_owned(), Array2::from_shape_vec((4, 6), values.clone()).unwrap());
        r.make_mut()[[0, 0]] = -1.0;
        assert!(!r.is_mapped());
        assert_eq!(r[[0, 0]], -1.0);
        assert_eq!(r[[3, 5]], 11.5);
    }
}
