//! The pieces [`crate::score`] is made of, each usable on its own so that a sharded run (one task per query
//! block, the reference split over machines) computes the same values bit for bit:
//!
//! 1. [`check_methods`]: the option checks that need no data besides the reference's row count.
//! 2. [`calibration_sample`]: which reference rows are calibration images (all, or a seeded sample).
//! 3. [`CalibrationTable`]: their leave-one-out neighbour lists (from the reference's self-kNN table, or from the
//!    (k + 1)-neighbour table of the sampled rows, each row's own index dropped), the Levina–Bickel estimates and
//!    the reference's MLE dimension; [`TangentDim::resolve`] turns that dimension into the tangent d.
//! 4. [`score_block`]: the per-image scores of a block of images from their neighbour lists and the rows those
//!    lists name (the whole reference in one process; only the rows a block needs when they are gathered from
//!    shards). Calibration images and queries are both scored by it.
//! 5. [`sorted_calibration`] and [`percentiles`]: a query's percentile among the calibration values.
//!
//! The neighbour tables come from the shared [`knn`] engine; an exact sharded search reproduces them bit for bit.

use ndarray::{Array2, ArrayView1, ArrayView2};
use rayon::prelude::*;

use crate::{invalid, stats, tangent, DimChoice, Method, Result, ScoreError, ScoreOptions};

/// Stream of the seeded calibration sample (see [`calibration_sample`]).
const CALIBRATION_STREAM: u64 = 0xCA11;

/// The checks of [`crate::score`] on the methods, k, d and the calibration size (no data needed besides the reference's row count).
/// The flow score's own checks need the image shape and are made by [`crate::score`].
pub fn check_methods(opts: &ScoreOptions, n_reference: usize) -> Result<()> {
    if opts.methods.is_empty() {
        return Err(invalid("methods", "(none)", "no method given (knn, tangent, lid, flow)"));
    }
    if opts.k == 0 {
        return Err(invalid("k", 0, "at least one neighbour is needed"));
    }
    if opts.calibration < 2 {
        return Err(invalid("calibration", opts.calibration, "at least 2 calibration images are needed"));
    }
    crate::check_k_fits(opts.k, n_reference)?;
    let has = |m: Method| opts.methods.contains(&m);
    if has(Method::Mahalanobis) {
        return Err(invalid(
            "methods",
            "mahalanobis",
            "the mahalanobis score needs class-labelled features (--features)",
        ));
    }
    if has(Method::Softmax) {
        return Err(invalid("methods", "softmax", "the softmax score needs a classifier's logits (--features)"));
    }
    if (has(Method::Tangent) || has(Method::Lid)) && opts.k < 2 {
        return Err(invalid("k", opts.k, "the tangent and lid scores need at least 2 neighbours"));
    }
    if has(Method::Tangent) {
        opts.dim.check(opts.k)?;
    }
    Ok(())
}

/// The calibration images of a reference of `n` distinct rows: `None` when all of them are (`calibration ≥ n`:
/// their neighbours are the reference's self-kNN table), else the seeded sample of `calibration` rows, ascending
/// (their neighbours are a (k + 1)-neighbour query of those rows against the reference).
pub fn calibration_sample(n: usize, calibration: usize, seed: u64) -> Option<Vec<usize>> {
    (calibration < n).then(|| crate::sample_sorted(n, calibration, seed, CALIBRATION_STREAM))
}

/// The leave-one-out neighbour lists of the calibration images and what they give before any scoring.
#[derive(Debug, Clone)]
pub struct CalibrationTable {
    /// Calibration rows (indices into the reference), ascending.
    pub rows: Vec<usize>,
    /// rows × k neighbours (indices into the reference, nearest first, the row itself excluded) and distances.
    pub indices: Array2<usize>,
    pub distances: Array2<f32>,
    /// Levina–Bickel per-point estimates of the calibration rows, and their MacKay–Ghahramani combination: the
    /// reference's MLE intrinsic dimension.
    pub lb: Vec<f64>,
    pub dimension: f64,
}

impl CalibrationTable {
    /// Every reference row is a calibration image: `nb` is the reference's self-kNN table (self excluded).
    pub fn from_self(nb: knn::Neighbors) -> CalibrationTable {
        let rows = (0..nb.indices.nrows()).collect();
        CalibrationTable::with_lists(rows, nb.indices, nb.distances)
    }

    /// The sampled `rows` ([`calibration_sample`]) with `nb` their (k + 1)-neighbour table against the reference:
    /// each row's own index is dropped (the last entry when it is not listed).
    pub fn from_sample(rows: Vec<usize>, nb: knn::Neighbors, k: usize) -> Result<CalibrationTable> {
        if nb.indices.nrows() != rows.len() || nb.indices.ncols() != k + 1 || nb.distances.dim() != nb.indices.dim() {
            return Err(invalid(
                "calibration table",
                format!("{}×{}", nb.indices.nrows(), nb.indices.ncols()),
                format!("expected {} rows of k + 1 = {} neighbours", rows.len(), k + 1),
            ));
        }
        let (indices, distances) = drop_self(&rows, &nb, k);
        Ok(CalibrationTable::with_lists(rows, indices, distances))
    }

    fn with_lists(rows: Vec<usize>, indices: Array2<usize>, distances: Array2<f32>) -> CalibrationTable {
        let lb: Vec<f64> = (0..rows.len()).into_par_iter().map(|i| levina_bickel(distances.row(i))).collect();
        let finite: Vec<f64> = lb.iter().copied().filter(|v| v.is_finite() && *v > 0.0).collect();
        let dimension = if finite.is_empty() { f64::NAN } else { intrinsic_dim::Comb::Mle.apply(&finite) };
        CalibrationTable { rows, indices, distances, lb, dimension }
    }
}

/// Removes each row's own index from a (k + 1)-neighbour query of reference rows against the reference.
fn drop_self(rows: &[usize], nb: &knn::Neighbors, k: usize) -> (Array2<usize>, Array2<f32>) {
    let m = rows.len();
    let mut indices = Array2::<usize>::zeros((m, k));
    let mut distances = Array2::<f32>::zeros((m, k));
    for (i, &r) in rows.iter().enumerate() {
        let idx = nb.indices.row(i);
        let skip = idx.iter().position(|&j| j == r).unwrap_or(k);
        let mut c = 0;
        for t in 0..=k {
            if t != skip && c < k {
                indices[[i, c]] = idx[t];
                distances[[i, c]] = nb.distances[[i, t]];
                c += 1;
            }
        }
    }
    (indices, distances)
}

/// The tangent dimension rule resolved against the reference's MLE dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TangentDim {
    pub choice: DimChoice,
    /// d of [`DimChoice::Auto`] / [`DimChoice::Fixed`] (None for `Local`).
    pub global: Option<usize>,
    /// Whether the auto value had to be clamped to k − 1.
    pub clamped: bool,
    /// d used where a local estimate is undefined: the global d, else the auto value.
    pub fallback: usize,
}

impl TangentDim {
    pub fn resolve(choice: DimChoice, dimension: f64, k: usize) -> TangentDim {
        let (global, clamped) = global_dim(choice, dimension, k);
        let fallback = global.unwrap_or_else(|| global_dim(DimChoice::Auto, dimension, k).0.unwrap_or(1));
        TangentDim { choice, global, clamped, fallback }
    }
}

/// Global d for Auto/Fixed (None for Local) and whether Auto was clamped to 1..=k − 1.
pub(crate) fn global_dim(choice: DimChoice, dimension: f64, k: usize) -> (Option<usize>, bool) {
    match choice {
        DimChoice::Fixed(d) => (Some(d), false),
        DimChoice::Local => (None, false),
        DimChoice::Auto => {
            let raw = if dimension.is_finite() { dimension.round().max(1.0) as usize } else { 1 };
            let d = raw.clamp(1, k - 1);
            (Some(d), d != raw)
        }
    }
}

/// Levina–Bickel per-point MLE from sorted neighbour distances, zero distances left out (NaN if fewer than two
/// positive distances remain). The formula is the `intrinsic-dim` crate's.
pub(crate) fn levina_bickel(dists: ArrayView1<f32>) -> f64 {
    let pos: Vec<f64> = dists.iter().filter(|&&r| r > 0.0).map(|&r| r as f64).collect();
    if pos.len() < 2 {
        return f64::NAN;
    }
    let est = intrinsic_dim::estimators::mle::Mle::new(pos.len()).point(&pos);
    if est.is_finite() {
        est
    } else {
        // All positive distances equal: the likelihood has no maximum (infinite dimension).
        f64::INFINITY
    }
}

/// Ma et al. 2018's LID estimate: k/(k−1) times the Levina–Bickel estimate over the same k positive distances.
pub(crate) fn lid_ma(dists: ArrayView1<f32>) -> f64 {
    let m = dists.iter().filter(|&&r| r > 0.0).count();
    let lb = levina_bickel(dists);
    if m < 2 {
        return f64::NAN;
    }
    lb * m as f64 / (m as f64 - 1.0)
}

pub(crate) fn local_dim(lb: f64, global_fallback: usize, k: usize) -> usize {
    if lb.is_finite() {
        (lb.round().max(1.0) as usize).clamp(1, k - 1)
    } else if lb == f64::INFINITY {
        k - 1
    } else {
        global_fallback
    }
}

/// A block of images with their neighbour lists.
#[derive(Debug, Clone, Copy)]
pub struct Block<'a> {
    /// The block's own rows (read by the tangent score only).
    pub points: ArrayView2<'a, f32>,
    /// n × k neighbour distances, nearest first.
    pub distances: ArrayView2<'a, f32>,
    /// n × k indices into `rows`, in the order of `distances`.
    pub indices: ArrayView2<'a, usize>,
    /// The rows the lists name: the whole reference, or only the rows the block's lists name, gathered (read by
    /// the tangent score only).
    pub rows: ArrayView2<'a, f32>,
}

/// Per-image scores of a block; `tangent` is NaN when it was not asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BlockScores {
    pub kth: Vec<f64>,
    pub mean: Vec<f64>,
    pub lid: Vec<f64>,
    pub tangent: Vec<f64>,
    /// Tangent dimension of every image.
    pub dims: Vec<usize>,
}

impl BlockScores {
    /// The values of a score column ([`Method::columns`]: `knn_kth`, `knn_mean`, `lid`, `tangent`).
    pub fn column(&self, name: &str) -> Option<&[f64]> {
        match name {
            "knn_kth" => Some(&self.kth),
            "knn_mean" => Some(&self.mean),
            "lid" => Some(&self.lid),
            "tangent" => Some(&self.tangent),
            _ => None,
        }
    }
}

/// Scores every image of `block` from its k neighbours (see the crate docs); the tangent score when
/// `with_tangent`, with the dimension of `dim`.
pub fn score_block(block: &Block, with_tangent: bool, dim: &TangentDim, k: usize) -> Result<BlockScores> {
    let n = block.distances.nrows();
    if k == 0 || block.distances.ncols() != k || block.indices.dim() != block.distances.dim() {
        return Err(invalid(
            "neighbour table",
            format!(
                "{}×{} distances, {}×{} indices",
                n,
                block.distances.ncols(),
                block.indices.nrows(),
                block.indices.ncols()
            ),
            format!("expected two tables of k = {k} columns and the same rows"),
        ));
    }
    if with_tangent {
        if block.points.nrows() != n || block.points.ncols() != block.rows.ncols() {
            return Err(invalid(
                "points",
                format!("{}×{}", block.points.nrows(), block.points.ncols()),
                format!(
                    "expected {n} rows of {} values (one per neighbour list, as the neighbour rows)",
                    block.rows.ncols()
                ),
            ));
        }
        if let Some(&bad) = block.indices.iter().find(|&&j| j >= block.rows.nrows()) {
            return Err(invalid("indices", bad, format!("out of range for {} neighbour rows", block.rows.nrows())));
        }
    }
    let per_row: Vec<(f64, f64, f64, f64, usize)> = (0..n)
        .into_par_iter()
        .map(|i| {
            let dist = block.distances.row(i);
            let kth = dist[k - 1] as f64;
            let mean = dist.iter().map(|&x| x as f64).sum::<f64>() / k as f64;
            let lid = lid_ma(dist);
            let d = match dim.choice {
                DimChoice::Local => local_dim(levina_bickel(dist), dim.fallback, k),
                _ => dim.fallback,
            };
            let tangent = if with_tangent {
                let rows: Vec<usize> = block.indices.row(i).to_vec();
                tangent::LocalPca::new(block.rows, &rows)?.residual(block.points.row(i), d)
            } else {
                f64::NAN
            };
            Ok::<_, ScoreError>((kth, mean, lid, tangent, d))
        })
        .collect::<Result<_>>()?;
    let mut out = BlockScores::default();
    for (kth, mean, lid, tangent, d) in per_row {
        out.kth.push(kth);
        out.mean.push(mean);
        out.lid.push(lid);
        out.tangent.push(tangent);
        out.dims.push(d);
    }
    Ok(out)
}

/// The calibration values a percentile is taken among: the non-NaN values, sorted.
pub fn sorted_calibration(values: &[f64]) -> Vec<f64> {
    stats::sorted_finite(values)
}

/// Mid-rank percentile of every value among `sorted` calibration values ([`sorted_calibration`]).
pub fn percentiles(sorted: &[f64], values: &[f64]) -> Vec<f64> {
    values.iter().map(|&v| stats::percentile_of(sorted, v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Axis;

    fn data(n: usize, d: usize, salt: u64) -> Array2<f32> {
        use rand::Rng;
        let mut rng = seeds::stream(7, salt);
        Array2::from_shape_fn((n, d), |(_, j)| rng.random::<f32>() * (1.0 + j as f32 / 3.0))
    }

    /// The rows `ind` names, gathered once each (ascending), and `ind` re-expressed as indices into them: what a
    /// sharded run hands a block task.
    fn gather(reference: ArrayView2<f32>, ind: ArrayView2<usize>) -> (Array2<f32>, Array2<usize>) {
        let mut uniq: Vec<usize> = ind.iter().copied().collect();
        uniq.sort_unstable();
        uniq.dedup();
        let local = ind.mapv(|j| uniq.binary_search(&j).unwrap());
        (reference.select(Axis(0), &uniq), local)
    }

    /// The pieces run one at a time on gathered rows give `score` bit for bit (sampled and full calibration).
    #[test]
    fn pieces_on_gathered_rows_reproduce_score() {
        let (reference, query) = (data(90, 7, 1), data(13, 7, 2));
        for (calibration, dim) in [(30, DimChoice::Auto), (500, DimChoice::Local), (40, DimChoice::Fixed(3))] {
            let opts = ScoreOptions {
                methods: vec![Method::Lid, Method::Knn, Method::Tangent],
                k: 6,
                dim,
                calibration,
                seed: 3,
                ..ScoreOptions::default()
            };
            let want = crate::score(reference.view(), query.view(), None, &opts).unwrap();
            check_methods(&opts, reference.nrows()).unwrap();
            let k = opts.k;
            let table = match calibration_sample(reference.nrows(), calibration, opts.seed) {
                None => CalibrationTable::from_self(knn::knn_self_with(reference.view(), k, &opts.knn).unwrap()),
                Some(rows) => {
                    let sub = reference.select(Axis(0), &rows);
                    let nb = knn::knn_query_with(reference.view(), sub.view(), k + 1, &opts.knn).unwrap();
                    CalibrationTable::from_sample(rows, nb, k).unwrap()
                }
            };
            assert_eq!(table.rows, want.calibration_rows);
            assert_eq!(table.dimension.to_bits(), want.reference_dimension.to_bits());
            let tdim = TangentDim::resolve(dim, table.dimension, k);
            let (c_rows, c_local) = gather(reference.view(), table.indices.view());
            let c_points = reference.select(Axis(0), &table.rows);
            let c_block = Block {
                points: c_points.view(),
                distances: table.distances.view(),
                indices: c_local.view(),
                rows: c_rows.view(),
            };
            let c = score_block(&c_block, true, &tdim, k).unwrap();
            let nb = knn::knn_query_with(reference.view(), query.view(), k, &opts.knn).unwrap();
            let (q_rows, q_local) = gather(reference.view(), nb.indices.view());
            let q_block = Block {
                points: query.view(),
                distances: nb.distances.view(),
                indices: q_local.view(),
                rows: q_rows.view(),
            };
            let q = score_block(&q_block, true, &tdim, k).unwrap();
            assert_eq!(Some(q.dims.clone()), want.tangent_dims);
            for col in &want.columns {
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(c.column(&col.name).unwrap()), bits(&col.calibration), "{}", col.name);
                assert_eq!(bits(q.column(&col.name).unwrap()), bits(&col.values), "{}", col.name);
                let pct = percentiles(&sorted_calibration(c.column(&col.name).unwrap()), q.column(&col.name).unwrap());
                assert_eq!(bits(&pct), bits(&col.percentiles), "{}", col.name);
            }
            assert!(want.columns.iter().any(|c| c.name == "tangent" && c.values.iter().all(|v| v.is_finite())));
        }
    }

    #[test]
    fn from_sample_drops_each_rows_own_index_and_checks_the_shape() {
        let nb = knn::Neighbors {
            indices: ndarray::arr2(&[[4, 1, 2], [0, 3, 2]]),
            distances: ndarray::arr2(&[[0.0, 1.0, 2.0], [0.5, 1.5, 2.5]]),
            duplicate_rows: 0,
        };
        let t = CalibrationTable::from_sample(vec![4, 7], nb.clone(), 2).unwrap();
        assert_eq!(t.indices, ndarray::arr2(&[[1, 2], [0, 3]]), "own index dropped, else the last entry");
        assert_eq!(t.distances, ndarray::arr2(&[[1.0, 2.0], [0.5, 1.5]]));
        assert!(CalibrationTable::from_sample(vec![4, 7], nb, 3).is_err());
    }
}
