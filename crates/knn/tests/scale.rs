//! Every strategy equals a naive f64 search at any finite scale (1e-30 … 1e30, and rows or columns of mixed
//! magnitudes), and the pairwise pass keeps its error bound there too.

use knn::{knn_query_with, knn_self_with, KnnError, KnnOptions, PairwiseBlocks, Strategy as Search};
use ndarray::{Array2, ArrayView2};
use proptest::prelude::*;

/// Decimal exponents the data are scaled by.
const EXPONENTS: [i32; 9] = [-30, -25, -20, -10, 0, 10, 20, 25, 30];

fn naive_d2(a: ArrayView2<f32>, i: usize, b: ArrayView2<f32>, j: usize) -> f64 {
    a.row(i).iter().zip(b.row(j)).map(|(&x, &y)| (x as f64 - y as f64).powi(2)).sum()
}

/// Checks one search result against the naive (distance, index) order: the same index at every rank unless the
/// naive distances tie (to f64 rounding), and the distance to f32 rounding.
fn check(reference: ArrayView2<f32>, query: ArrayView2<f32>, self_mode: bool, got: &knn::Neighbors, label: &str) {
    let k = got.k();
    for qi in 0..query.nrows() {
        let mut want: Vec<(f64, usize)> = (0..reference.nrows())
            .filter(|&j| !(self_mode && j == qi))
            .map(|j| (naive_d2(query, qi, reference, j), j))
            .collect();
        want.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let row = got.indices.row(qi);
        let mut seen = row.to_vec();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), k, "{label}: query {qi} repeats a neighbour: {row:?}");
        for t in 0..k {
            let (wd2, wj) = want[t];
            let j = row[t];
            assert!(!(self_mode && j == qi), "{label}: query {qi} is its own neighbour");
            let gd2 = naive_d2(query, qi, reference, j);
            assert!(
                j == wj || (gd2 - wd2).abs() <= 1e-12 * wd2,
                "{label}: query {qi} rank {t}: got row {j} (d² {gd2:e}), want row {wj} (d² {wd2:e})"
            );
            let (gd, wd) = (got.distances[(qi, t)] as f64, wd2.sqrt());
            assert!((gd - wd).abs() <= 2.4e-7 * wd, "{label}: query {qi} rank {t}: distance {gd:e}, want {wd:e}");
        }
    }
}

fn options(strategy: Search, small_blocks: bool) -> KnnOptions {
    let mut o = KnnOptions { strategy, ..KnnOptions::default() };
    if small_blocks {
        o.query_block = 7;
        o.reference_block = 16;
    }
    o
}

/// Runs every strategy, self and query searches, and checks each against the naive search.
fn check_all(data: &Array2<f32>, queries: &Array2<f32>, k: usize, small_blocks: bool, label: &str) {
    for strategy in Search::EXACT {
        let o = options(strategy, small_blocks);
        let got = knn_self_with(data.view(), k, &o).unwrap_or_else(|e| panic!("{label} {strategy}: {e}"));
        check(data.view(), data.view(), true, &got, &format!("{label} self {strategy}"));
        let got = knn_query_with(data.view(), queries.view(), k, &o).unwrap_or_else(|e| panic!("{label}: {e}"));
        check(data.view(), queries.view(), false, &got, &format!("{label} query {strategy}"));
    }
}

/// An n × d matrix of unit-range values times 10^exponent(row, col), with some exact duplicate rows and values.
fn scaled(values: &[f64], n: usize, d: usize, exponent: impl Fn(usize, usize) -> i32) -> Array2<f32> {
    Array2::from_shape_fn((n, d), |(i, c)| {
        // Every fifth row repeats the row before it (exact ties and zero distances).
        let src = if i % 5 == 4 { i - 1 } else { i };
        (values[(src * d + c) % values.len()] * 10f64.powi(exponent(src, c))) as f32
    })
}

fn shape() -> impl Strategy<Value = (usize, usize, usize, Vec<f64>, bool)> {
    (12usize..70, 1usize..12, 1usize..6, proptest::collection::vec(-1.0f64..1.0, 64..256), any::<bool>())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn every_strategy_is_exact_at_every_scale((n, d, k, values, small) in shape(), shift in -1.0f64..1.0) {
        for e in EXPONENTS {
            let data = scaled(&values, n, d, |_, _| e);
            // Queries: a shifted copy of part of the data (off the reference rows).
            let queries = data.slice(ndarray::s![..n / 2, ..]).mapv(|x| x + (shift * 10f64.powi(e) * 0.05) as f32);
            check_all(&data, &queries, k.min(n - 1), small, &format!("scale 1e{e}"));
        }
    }

    #[test]
    fn every_strategy_is_exact_on_mixed_scales((n, d, k, values, small) in shape(), seed in any::<u64>()) {
        let pick = |a: usize, b: usize| EXPONENTS[(seeds::splitmix64(seed ^ (a * 1000 + b) as u64) % 9) as usize];
        let by_row = scaled(&values, n, d, |i, _| pick(i, 0));
        check_all(&by_row, &by_row.slice(ndarray::s![..n / 3, ..]).to_owned(), k.min(n - 1), small, "rows mixed");
        let by_col = scaled(&values, n, d, |_, c| pick(0, c));
        check_all(&by_col, &by_col.slice(ndarray::s![..n / 3, ..]).to_owned(), k.min(n - 1), small, "columns mixed");
        let by_cell = scaled(&values, n, d, pick);
        check_all(&by_cell, &by_cell.slice(ndarray::s![..n / 3, ..]).to_owned(), k.min(n - 1), small, "cells mixed");
    }

    #[test]
    fn pairwise_blocks_keep_their_bound_at_every_scale((n, d, _k, values, _small) in shape()) {
        for e in EXPONENTS {
            let data = scaled(&values, n, d, |_, _| e);
            let pb = PairwiseBlocks::new(data.view());
            let seen = pb.fold(|| 0usize, |count, i, r0, approx| {
                for (jj, &a) in approx.iter().enumerate() {
                    let j = r0 + jj;
                    let exact = pb.exact_d2(i, j);
                    let naive = naive_d2(data.view(), i, data.view(), j);
                    assert!((exact - naive).abs() <= 1e-12 * naive, "1e{e} ({i}, {j}): {exact:e} vs {naive:e}");
                    assert!(
                        (a - exact).abs() <= pb.error_bound(i, j),
                        "1e{e} ({i}, {j}): approx {a:e}, exact {exact:e}, bound {:e}", pb.error_bound(i, j)
                    );
                    *count += 1;
                }
            });
            prop_assert_eq!(seen.iter().sum::<usize>(), n * n);
        }
    }
}

#[test]
fn scaling_by_a_power_of_two_scales_the_answer_exactly() {
    let values: Vec<f64> =
        (0..600).map(|i| ((seeds::splitmix64(i) >> 11) as f64 / (1u64 << 53) as f64) - 0.5).collect();
    let base = scaled(&values, 300, 6, |_, _| 0);
    for p in [-100i32, -66, 0, 66, 100] {
        let f = 2f32.powi(p);
        let x = base.mapv(|v| v * f);
        for strategy in Search::EXACT {
            let o = options(strategy, false);
            let (a, b) = (knn_self_with(base.view(), 7, &o).unwrap(), knn_self_with(x.view(), 7, &o).unwrap());
            assert_eq!(a.indices, b.indices, "2^{p} {strategy}");
            assert_eq!(a.distances.mapv(|v| v * f), b.distances, "2^{p} {strategy}");
        }
    }
}

#[test]
fn distances_beyond_float32_are_refused() {
    let data = Array2::from_shape_vec((3, 2), vec![3e38f32, 3e38, -3e38, -3e38, 2.9e38, 3e38]).unwrap();
    // Row 1's nearest neighbour is ~8.4e38 away.
    for strategy in Search::EXACT {
        let err = knn_self_with(data.view(), 1, &options(strategy, false)).unwrap_err();
        assert!(matches!(err, KnnError::DistanceOverflow { row: 1, max_abs, .. } if max_abs == 3e38), "{err:?}");
    }
    // Large values whose neighbour distances fit are answered.
    let near = Array2::from_shape_vec((3, 2), vec![3e38f32, 3e38, 2.9e38, 3e38, 2.8e38, 3e38]).unwrap();
    let got = knn_self_with(near.view(), 1, &KnnOptions::default()).unwrap();
    assert_eq!(got.indices.column(0).to_vec(), vec![1, 0, 1]);
}
