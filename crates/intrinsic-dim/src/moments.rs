//! Global PCA from partial sums that a tree reduction combines, so that the spectrum of data split over shards
//! (several processes or machines) is computed without gathering the rows.
//!
//! Two passes over canonical row blocks (global rows `[j·B, (j+1)·B)`, B = [`MOMENT_BLOCK`], whatever the shards):
//! 1. per block [`block_column_sums`] (row count, Σx), combined by [`tree_reduce`] into the column means;
//! 2. per block [`block_scatter`] Σ(x − mean)(x − mean)ᵀ (lower triangle), combined the same way, then
//!    [`spectrum_from_scatter`].
//!
//! The tree is fixed by the number of blocks and [`MOMENT_FANIN`]: level 1 combines groups of `MOMENT_FANIN`
//! consecutive blocks, level 2 groups of those, …; a group of one passes through unchanged; a combination adds its
//! parts left to right ([`combine_sums`], [`combine_scatter`]). The single-process spectrum (`linalg::spectrum`
//! with n ≥ d, behind `pca` and `lpca`'s global fit) runs exactly these functions over exactly this tree, so a
//! distributed run that computes the same blocks (each block's rows in one task, even where a block straddles two
//! shards) and reduces them by the same tree gets the same spectrum BIT FOR BIT: every float operation is the same
//! operation on the same operands in the same order. (The block scatter is one sequential faer rank-k update, which
//! is deterministic on a given CPU; machines with different SIMD instruction sets may round differently.)
//!
//! The two-pass form (centre first, then scatter) keeps the numerics of the previous single-process covariance; a
//! one-pass Σxxᵀ − n·μμᵀ would lose precision on data far from the origin. With fewer rows than columns the
//! single-process spectrum uses the n × n Gram matrix instead; the moments path refuses that case.

use faer::Mat;
use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use crate::estimators::pca::Pca;
use crate::linalg::{add_lower_gram, sym_eigen};
use crate::DimError;

/// Rows of a canonical block (the leaves of the reduction tree).
pub const MOMENT_BLOCK: usize = 2048;
/// Parts combined by one node of the reduction tree.
pub const MOMENT_FANIN: usize = 8;

/// Row count and column sums (f64) of some rows.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSums {
    pub rows: usize,
    pub sums: Vec<f64>,
}

/// Row count and the lower triangle (diagonal included; the upper triangle is zero) of Σ(x − mean)(x − mean)ᵀ of
/// some rows, d × d.
#[derive(Debug, Clone, PartialEq)]
pub struct Scatter {
    pub rows: usize,
    pub lower: Array2<f64>,
}

impl Scatter {
    /// The whole symmetric d × d matrix (the lower triangle mirrored).
    pub fn full(&self) -> Mat<f64> {
        let l = &self.lower;
        Mat::from_fn(l.nrows(), l.ncols(), |i, j| if i >= j { l[[i, j]] } else { l[[j, i]] })
    }
}

/// The canonical blocks `[start, end)` of `n` rows.
pub fn blocks(n: usize) -> Vec<(usize, usize)> {
    (0..n).step_by(MOMENT_BLOCK).map(|s| (s, (s + MOMENT_BLOCK).min(n))).collect()
}

/// Column sums of one block, row by row in order.
pub fn block_column_sums(x: ArrayView2<f32>) -> ColumnSums {
    let mut sums = vec![0.0f64; x.ncols()];
    for r in x.rows() {
        sums.iter_mut().zip(r).for_each(|(s, &v)| *s += v as f64);
    }
    ColumnSums { rows: x.nrows(), sums }
}

/// Scatter of one block about `mean` (all zeros: uncentred): one sequential rank-k update of the centred rows.
pub fn block_scatter(x: ArrayView2<f32>, mean: &[f64]) -> Result<Scatter, DimError> {
    let (k, d) = x.dim();
    if mean.len() != d {
        return Err(DimError::Numerical {
            estimator: "pca",
            message: format!("a block of {d} columns centred with a mean of {} columns", mean.len()),
        });
    }
    let mut centred = Vec::with_capacity(k * d);
    for r in x.rows() {
        centred.extend(r.iter().zip(mean).map(|(&v, &m)| v as f64 - m));
    }
    let mut lower = Array2::<f64>::zeros((d, d));
    let buf = lower.as_slice_mut().expect("a new array is contiguous");
    add_lower_gram(
        faer::MatMut::from_row_major_slice_mut(buf, d, d),
        faer::MatRef::from_row_major_slice(&centred, k, d),
    );
    Ok(Scatter { rows: k, lower })
}

fn mismatch(what: &str, a: usize, b: usize) -> DimError {
    DimError::Numerical { estimator: "pca", message: format!("partial {what} of {a} and {b} columns combined") }
}

/// Parts added left to right (the first part is the starting value).
pub fn combine_sums(parts: &[ColumnSums]) -> Result<ColumnSums, DimError> {
    let (first, rest) = parts.split_first().ok_or(DimError::Empty("partial sums"))?;
    let mut acc = first.clone();
    for p in rest {
        if p.sums.len() != acc.sums.len() {
            return Err(mismatch("column sums", acc.sums.len(), p.sums.len()));
        }
        acc.rows += p.rows;
        acc.sums.iter_mut().zip(&p.sums).for_each(|(a, &v)| *a += v);
    }
    Ok(acc)
}

/// Parts added left to right (the first part is the starting value).
pub fn combine_scatter(parts: &[Scatter]) -> Result<Scatter, DimError> {
    let (first, rest) = parts.split_first().ok_or(DimError::Empty("partial scatters"))?;
    let mut acc = first.clone();
    for p in rest {
        if p.lower.dim() != acc.lower.dim() {
            return Err(mismatch("scatters", acc.lower.ncols(), p.lower.ncols()));
        }
        acc.rows += p.rows;
        acc.lower += &p.lower;
    }
    Ok(acc)
}

/// Column means from the combined sums.
pub fn mean(sums: &ColumnSums) -> Vec<f64> {
    sums.sums.iter().map(|s| s / sums.rows as f64).collect()
}

/// The reduction tree over `m ≥ 1` leaves (see the module documentation). The leaves of a level-1 node are
/// computed in parallel; higher nodes fold their children one at a time (a left fold of parts equals combining
/// them at once), so at most about `MOMENT_FANIN` + depth partial results are alive.
pub fn tree_reduce<P: Send>(
    m: usize,
    leaf: &(dyn Fn(usize) -> Result<P, DimError> + Sync),
    combine: &(dyn Fn(&[P]) -> Result<P, DimError> + Sync),
) -> Result<P, DimError> {
    if m == 0 {
        return Err(DimError::Empty("rows"));
    }
    // counts[l]: nodes at level l.
    let mut counts = vec![m];
    while *counts.last().expect("non-empty") > 1 {
        counts.push(counts.last().expect("non-empty").div_ceil(MOMENT_FANIN));
    }
    node(&counts, counts.len() - 1, 0, leaf, combine)
}

fn node<P: Send>(
    counts: &[usize],
    level: usize,
    j: usize,
    leaf: &(dyn Fn(usize) -> Result<P, DimError> + Sync),
    combine: &(dyn Fn(&[P]) -> Result<P, DimError> + Sync),
) -> Result<P, DimError> {
    if level == 0 {
        return leaf(j);
    }
    let kids = j * MOMENT_FANIN..((j + 1) * MOMENT_FANIN).min(counts[level - 1]);
    if kids.len() == 1 {
        return node(counts, level - 1, kids.start, leaf, combine);
    }
    if level == 1 {
        let parts = kids.into_par_iter().map(leaf).collect::<Result<Vec<P>, DimError>>()?;
        return combine(&parts);
    }
    let mut acc: Option<P> = None;
    for c in kids {
        let part = node(counts, level - 1, c, leaf, combine)?;
        acc = Some(match acc {
            None => part,
            Some(a) => combine(&[a, part])?,
        });
    }
    Ok(acc.expect("at least two children"))
}

/// Column sums of all rows of `x` over the canonical blocks and tree.
pub fn column_sums(x: ArrayView2<f32>) -> Result<ColumnSums, DimError> {
    let b = blocks(x.nrows());
    tree_reduce(b.len(), &|j| Ok(block_column_sums(x.slice(ndarray::s![b[j].0..b[j].1, ..]))), &|p: &[ColumnSums]| {
        combine_sums(p)
    })
}

/// Scatter of all rows of `x` about `mean` over the canonical blocks and tree.
pub fn scatter(x: ArrayView2<f32>, mean: &[f64]) -> Result<Scatter, DimError> {
    let b = blocks(x.nrows());
    tree_reduce(b.len(), &|j| block_scatter(x.slice(ndarray::s![b[j].0..b[j].1, ..]), mean), &|p: &[Scatter]| {
        combine_scatter(p)
    })
}

/// The PCA spectrum (as `linalg::spectrum`: descending; centred: σ² / (n − 1)) from a combined scatter (about the
/// column means when `center`). Needs at least as many rows as columns.
pub fn spectrum_from_scatter(s: &Scatter, center: bool) -> Result<Vec<f64>, DimError> {
    let (n, d) = (s.rows, s.lower.ncols());
    if n < d || s.lower.nrows() != d {
        return Err(DimError::Numerical {
            estimator: "pca",
            message: format!(
                "the spectrum from partial sums needs at least as many rows as columns (n = {n}, d = {d}); with \
                 fewer rows use the data path"
            ),
        });
    }
    let (mut vals, _) = sym_eigen(s.full().as_ref(), false)?;
    vals.truncate(n.min(d));
    let scale = if center { 1.0 / (n as f64 - 1.0).max(1.0) } else { 1.0 };
    Ok(vals.into_iter().map(|v| v.max(0.0) * scale).collect())
}

/// The global PCA estimator a spec (`NAME[:key=value,...]`) names: `Some` for `pca` and `lpca` (whose global fit is
/// [`Pca::fit_moments`]), `None` for any other estimator; bad parameters are an error.
pub fn pca_estimator(spec: &str) -> Result<Option<Pca>, DimError> {
    let (name, params) = crate::parse_spec(spec)?;
    let local = match crate::estimators::canonical(&name) {
        Some("pca") => false,
        Some("lpca") => true,
        _ => return Ok(None),
    };
    let p = crate::estimators::Params::new(if local { "lpca" } else { "pca" }, &params);
    let est = Pca::from_params(&p, local)?;
    p.finish()?;
    Ok(Some(est))
}

/// The spectrum of `x` (n ≥ d) by the two passes of this module in one process.
pub fn spectrum(x: ArrayView2<f32>, center: bool) -> Result<Vec<f64>, DimError> {
    let mean = if center { mean(&column_sums(x)?) } else { vec![0.0; x.ncols()] };
    spectrum_from_scatter(&scatter(x, &mean)?, center)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, d: usize) -> Array2<f32> {
        Array2::from_shape_fn((n, d), |(i, j)| ((i * 31 + j * 17) % 101) as f32 * 0.01 + 3.0 * j as f32)
    }

    /// The tree equals a bottom-up reduction in groups of MOMENT_FANIN consecutive parts (what a Dask tree
    /// reduction with split_every = MOMENT_FANIN does), on a count that leaves groups of one at several levels.
    #[test]
    fn tree_matches_bottom_up_grouping() {
        for m in [1, 2, 8, 9, 64, 65, 73, 577] {
            // A combination adds left to right: ((a + b) + c).
            let fold = |p: &[String]| p[1..].iter().fold(p[0].clone(), |a, x| format!("({a}+{x})"));
            let got = tree_reduce(m, &|j| Ok(format!("{j}")), &|p: &[String]| Ok(fold(p))).unwrap();
            let mut parts: Vec<String> = (0..m).map(|j| j.to_string()).collect();
            while parts.len() > 1 {
                parts = parts.chunks(MOMENT_FANIN).map(|c| if c.len() == 1 { c[0].clone() } else { fold(c) }).collect();
            }
            assert_eq!(got, parts[0], "m = {m}");
        }
    }

    /// Blocks combined by hand in the tree's order give the one-process spectrum bit for bit, and it agrees with
    /// the direct covariance to rounding.
    #[test]
    fn blocks_combined_by_hand_equal_the_one_process_spectrum() {
        let x = data(9 * MOMENT_BLOCK + 77, 6);
        let b = blocks(x.nrows());
        assert_eq!(b.len(), 10);
        let sums: Vec<ColumnSums> = b.iter().map(|&(s, e)| block_column_sums(x.slice(ndarray::s![s..e, ..]))).collect();
        let first = combine_sums(&sums[..8]).unwrap();
        let all = combine_sums(&[first, combine_sums(&sums[8..]).unwrap()]).unwrap();
        assert_eq!(all, column_sums(x.view()).unwrap());
        let m = mean(&all);
        let sc: Vec<Scatter> =
            b.iter().map(|&(s, e)| block_scatter(x.slice(ndarray::s![s..e, ..]), &m).unwrap()).collect();
        assert!(sc[0].lower.indexed_iter().all(|((i, j), &v)| j <= i || v == 0.0), "upper triangle is zero");
        let total = combine_scatter(&[combine_scatter(&sc[..8]).unwrap(), combine_scatter(&sc[8..]).unwrap()]).unwrap();
        let by_hand = spectrum_from_scatter(&total, true).unwrap();
        let one = crate::linalg::spectrum(x.view(), true).unwrap();
        assert_eq!(
            by_hand.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            one.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        let mean64 = crate::linalg::column_means(x.view());
        let direct = crate::linalg::covariance_blocked(x.view(), &mean64);
        let (vals, _) = sym_eigen(direct.as_ref(), false).unwrap();
        for (a, v) in one.iter().zip(vals) {
            let v = v / (x.nrows() - 1) as f64;
            assert!((a - v).abs() <= 1e-9 * one[0], "{a} vs {v}");
        }
    }

    #[test]
    fn fewer_rows_than_columns_is_refused() {
        let x = data(5, 9);
        let s = scatter(x.view(), &[0.0; 9]).unwrap();
        assert!(matches!(spectrum_from_scatter(&s, false), Err(DimError::Numerical { .. })));
    }
}
