//! Unit tests on a synthetic manifold with known dimension (the rendered-scene tests live in tests/rendered.rs).

use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::*;

/// A smooth 2-D torus-like surface embedded in R^24 by a fixed random linear map of
/// (cos u, sin u, cos v, sin v, cos(u+v), sin(u+v), cos(u−v), sin(u−v)).
struct Torus {
    map: Array2<f64>,
}

impl Torus {
    fn new() -> Torus {
        let mut rng = ChaCha8Rng::seed_from_u64(99);
        Torus { map: Array2::from_shape_fn((8, 24), |_| rng.sample::<f64, _>(StandardNormal) / 8f64.sqrt()) }
    }
    fn point(&self, u: f64, v: f64) -> Array1<f32> {
        let f = [u.cos(), u.sin(), v.cos(), v.sin(), (u + v).cos(), (u + v).sin(), (u - v).cos(), (u - v).sin()];
        Array1::from_shape_fn(24, |j| (0..8).map(|i| f[i] * self.map[[i, j]]).sum::<f64>() as f32)
    }
    fn sample(&self, n: usize, seed: u64) -> Array2<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut out = Array2::zeros((n, 24));
        for mut row in out.rows_mut() {
            let (u, v) = (rng.random::<f64>() * std::f64::consts::TAU, rng.random::<f64>() * std::f64::consts::TAU);
            row.assign(&self.point(u, v));
        }
        out
    }
}

fn opts(methods: &[Method]) -> ScoreOptions {
    ScoreOptions { methods: methods.to_vec(), k: 15, ..Default::default() }
}

fn median(x: &[f64]) -> f64 {
    intrinsic_dim::stats::median(x)
}

#[test]
fn held_out_points_are_typical_and_displaced_points_are_not() {
    let t = Torus::new();
    let reference = t.sample(1500, 1);
    let held_out = t.sample(200, 2);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    // Displace held-out points by 3 (the 15th-neighbour distance is about 1) in a random direction (almost all of it normal to the 2-D surface).
    let off = Array2::from_shape_fn((200, 24), |(i, j)| {
        held_out[[i, j]] + 3.0 * rng.sample::<f32, _>(StandardNormal) / 24f32.sqrt()
    });
    let o = opts(&[Method::Knn, Method::Tangent, Method::Lid]);
    let r_in = score(reference.view(), held_out.view(), None, &o).unwrap();
    let r_off = score(reference.view(), off.view(), None, &o).unwrap();
    assert_eq!(r_in.dim_global, Some(2), "the surface is 2-D (reference MLE {})", r_in.reference_dimension);
    assert!((r_in.reference_dimension - 2.0).abs() < 0.5, "reference MLE {}", r_in.reference_dimension);
    for c in &r_in.columns {
        let m = median(&c.percentiles);
        assert!((0.35..=0.65).contains(&m), "held-out median percentile of {} is {m}", c.name);
        assert_eq!(c.calibration.len(), 1500);
    }
    for name in ["knn_kth", "knn_mean", "tangent"] {
        let m = median(&r_off.column(name).unwrap().percentiles);
        assert!(m >= 0.99, "displaced points: median percentile of {name} is {m}");
    }
    // Off the surface the neighbour distances flatten out: LID goes up.
    let lid_in = median(&r_in.column("lid").unwrap().values);
    let lid_off = median(&r_off.column("lid").unwrap().values);
    assert!((1.5..3.0).contains(&lid_in), "LID of held-out points {lid_in}");
    assert!(lid_off > 2.0 * lid_in, "LID off the surface {lid_off} vs on it {lid_in}");
    // Per-image d (`local`): mostly 2 on the surface, and held-out points stay typical.
    let o_local = ScoreOptions { dim: DimChoice::Local, ..opts(&[Method::Tangent]) };
    let r_local = score(reference.view(), held_out.view(), None, &o_local).unwrap();
    let dims: Vec<f64> = r_local.tangent_dims.as_ref().unwrap().iter().map(|&d| d as f64).collect();
    assert_eq!(median(&dims), 2.0);
    assert_eq!(r_local.dim_global, None);
    let m = median(&r_local.columns[0].percentiles);
    assert!((0.35..=0.65).contains(&m), "local d: held-out median percentile {m}");
    // The tangent residual of on-surface points is far below their kNN distance (the surface is locally flat).
    let tan_in = median(&r_in.column("tangent").unwrap().values);
    let knn_in = median(&r_in.column("knn_mean").unwrap().values);
    assert!(tan_in < 0.25 * knn_in, "tangent residual {tan_in} vs kNN distance {knn_in}");
}

#[test]
fn subsampled_calibration_equals_the_full_leave_one_out_values() {
    let t = Torus::new();
    let reference = t.sample(400, 5);
    let query = t.sample(10, 6);
    let full =
        score(reference.view(), query.view(), None, &opts(&[Method::Knn, Method::Tangent, Method::Lid])).unwrap();
    let o = ScoreOptions {
        calibration: 57,
        dim: DimChoice::Fixed(2),
        ..opts(&[Method::Knn, Method::Tangent, Method::Lid])
    };
    let sub = score(reference.view(), query.view(), None, &o).unwrap();
    assert_eq!(full.calibration_rows, (0..400).collect::<Vec<_>>());
    assert_eq!(sub.calibration_rows.len(), 57);
    assert!(sub.calibration_rows.windows(2).all(|w| w[0] < w[1]));
    for name in ["knn_kth", "knn_mean", "tangent", "lid"] {
        let (f, s) = (full.column(name).unwrap(), sub.column(name).unwrap());
        for (i, &row) in sub.calibration_rows.iter().enumerate() {
            let (a, b) = (f.calibration[row], s.calibration[i]);
            assert!((a - b).abs() <= 1e-9 * a.abs().max(1.0), "{name}, reference row {row}: {a} vs {b}");
        }
        // The query values do not depend on the calibration.
        assert_eq!(f.values, s.values, "{name}");
    }
}

#[test]
fn same_output_whatever_the_thread_count() {
    let t = Torus::new();
    let reference = t.sample(300, 7);
    let query = t.sample(40, 8);
    let o = ScoreOptions { calibration: 100, ..opts(&[Method::Knn, Method::Tangent, Method::Lid]) };
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| score(reference.view(), query.view(), None, &o).unwrap())
    };
    let (a, b) = (run(1), run(3));
    assert_eq!(a.calibration_rows, b.calibration_rows);
    for (x, y) in a.columns.iter().zip(&b.columns) {
        assert_eq!(x.values, y.values);
        assert_eq!(x.calibration, y.calibration);
        assert_eq!(x.percentiles, y.percentiles);
    }
}

#[test]
fn duplicates_are_dropped_and_exact_copies_score_zero() {
    let t = Torus::new();
    let mut reference = t.sample(200, 9);
    let copy = reference.row(3).to_owned();
    reference.row_mut(10).assign(&copy);
    let query = reference.select(Axis(0), &[3, 50]);
    let r = score(reference.view(), query.view(), None, &opts(&[Method::Knn, Method::Tangent, Method::Lid])).unwrap();
    assert_eq!(r.duplicates_dropped, vec![10]);
    assert_eq!(r.nearest, vec![3, 50]);
    assert_eq!(r.nearest_distance, vec![0.0, 0.0]);
    // With d = k − 1 the tangent space is the affine hull of the neighbours, which contains an exact copy.
    let o = ScoreOptions { dim: DimChoice::Fixed(14), ..opts(&[Method::Tangent]) };
    let full = score(reference.view(), query.view(), None, &o).unwrap();
    assert!(full.column("tangent").unwrap().values.iter().all(|&v| v < 1e-5), "{:?}", full.columns[0].values);
    // Calibration values are finite (no zero distances once the duplicate is gone).
    assert!(r.column("lid").unwrap().calibration.iter().all(|v| v.is_finite()));
    assert!(r.column("lid").unwrap().values.iter().all(|v| v.is_finite()));
}

#[test]
fn bad_input_gives_clear_errors() {
    let t = Torus::new();
    let reference = t.sample(50, 11);
    let query = t.sample(5, 12);
    let o = opts(&[Method::Knn, Method::Tangent]);
    // Size mismatch.
    let wide = Array2::<f32>::zeros((3, 25));
    let e = score(reference.view(), wide.view(), None, &o).unwrap_err();
    assert!(matches!(e, ScoreError::SizeMismatch { query: 25, reference: 24, .. }), "{e}");
    assert!(e.to_string().contains("25") && e.to_string().contains("24"), "{e}");
    // k ≥ reference size.
    let e = score(reference.view(), query.view(), None, &ScoreOptions { k: 50, ..o.clone() }).unwrap_err();
    assert!(matches!(e, ScoreError::KTooLarge { k: 50, n: 50, .. }), "{e}");
    assert!(e.to_string().contains("k = 50"), "{e}");
    // Empty query.
    let empty = Array2::<f32>::zeros((0, 24));
    assert!(matches!(score(reference.view(), empty.view(), None, &o).unwrap_err(), ScoreError::EmptyQuery));
    // NaN in the query names the row.
    let mut nan = query.clone();
    nan[[4, 7]] = f32::NAN;
    let e = score(reference.view(), nan.view(), None, &o).unwrap_err();
    let cause = std::error::Error::source(&e).map(|c| c.to_string()).unwrap_or_default();
    assert!(cause.contains("row 4"), "{e}: {cause}");
    // d must be below k.
    let e = score(reference.view(), query.view(), None, &ScoreOptions { dim: DimChoice::Fixed(15), ..o.clone() })
        .unwrap_err();
    assert!(e.to_string().contains("dim"), "{e}");
    // Flow needs images.
    let e = score(reference.view(), query.view(), None, &opts(&[Method::Flow])).unwrap_err();
    assert!(matches!(e, ScoreError::NoShape), "{e}");
    // Shape that does not match the rows.
    let s = ImageShape { height: 5, width: 5, channels: 1 };
    let e = score(reference.view(), query.view(), Some(s), &opts(&[Method::Flow])).unwrap_err();
    assert!(matches!(e, ScoreError::BadShape { .. }), "{e}");
    // Method names.
    assert!(Method::parse_list("knn,bogus").unwrap_err().to_string().contains("bogus"));
    assert!(Method::parse_list("knn,knn").is_err());
    assert_eq!(Method::parse_list("lid, tangent").unwrap(), vec![Method::Lid, Method::Tangent]);
    assert!(DimChoice::parse("x").is_err());
    assert_eq!(DimChoice::parse("7").unwrap(), DimChoice::Fixed(7));
}

#[test]
fn lid_is_ma_et_al() {
    // Distances 1, 2, 4: Ma et al. LID = −(1/3 Σ log(r_i / r_3))⁻¹ = 3 / (log 4 + log 2).
    let d = ndarray::arr1(&[1.0f32, 2.0, 4.0]);
    let expected = 3.0 / (4f64.ln() + 2f64.ln());
    assert!((lid_ma(d.view()) - expected).abs() < 1e-12);
    // Zero distances are left out.
    let d0 = ndarray::arr1(&[0.0f32, 1.0, 2.0, 4.0]);
    assert!((lid_ma(d0.view()) - expected).abs() < 1e-12);
    assert!(lid_ma(ndarray::arr1(&[0.0f32, 0.0, 3.0]).view()).is_nan());
}

#[test]
fn perturbation_energy_splits_tangent_and_normal() {
    let t = Torus::new();
    let reference = t.sample(1500, 21);
    // Clean points and two perturbations each: along the surface (a nearby surface point) and along a normal.
    let mut rng = ChaCha8Rng::seed_from_u64(22);
    let n = 30;
    let mut clean = Array2::<f32>::zeros((n, 24));
    let mut along = Array2::<f32>::zeros((n, 24));
    let mut uv = Vec::new();
    for i in 0..n {
        let (u, v) = (rng.random::<f64>() * std::f64::consts::TAU, rng.random::<f64>() * std::f64::consts::TAU);
        uv.push((u, v));
        clean.row_mut(i).assign(&t.point(u, v));
        along.row_mut(i).assign(&t.point(u + 0.01, v - 0.02));
    }
    let o = PairsOptions { k: 15, ..Default::default() };
    let ra = perturbation_energy(reference.view(), clean.view(), along.view(), &o).unwrap();
    assert_eq!(ra.dim_global, Some(2));
    assert!(ra.summary.tangent_fraction.median > 0.95, "{:?}", ra.summary.tangent_fraction);
    // Random directions put about d/D = 2/24 of their energy in the tangent space.
    assert!((ra.summary.expected_random_fraction - 2.0 / 24.0).abs() < 1e-12);
    let rm = ra.summary.random_tangent_fraction.mean;
    assert!((rm - 2.0 / 24.0).abs() < 0.05, "random tangent fraction {rm}");
    // Normal perturbations: a random direction minus its part in the exact tangent plane (central differences of
    // the embedding), scaled to norm 0.01.
    let mut normal = clean.clone();
    for (i, &(u, v)) in uv.iter().enumerate() {
        let h = 1e-3;
        let diff = |a: Array1<f32>, b: Array1<f32>| -> Vec<f64> {
            a.iter().zip(&b).map(|(x, y)| (*x - *y) as f64 / (2.0 * h)).collect()
        };
        let mut basis = vec![diff(t.point(u + h, v), t.point(u - h, v)), diff(t.point(u, v + h), t.point(u, v - h))];
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let b0 = basis[0].clone();
        let c = dot(&basis[1], &b0) / dot(&b0, &b0);
        basis[1].iter_mut().zip(&b0).for_each(|(x, y)| *x -= c * y);
        let mut z: Vec<f64> = (0..24).map(|_| rng.sample::<f64, _>(StandardNormal)).collect();
        for b in &basis {
            let c = dot(&z, b) / dot(b, b);
            z.iter_mut().zip(b).for_each(|(x, y)| *x -= c * y);
        }
        let norm = dot(&z, &z).sqrt();
        for j in 0..24 {
            normal[[i, j]] = clean[[i, j]] + (0.01 * z[j] / norm) as f32;
        }
    }
    let rn = perturbation_energy(reference.view(), clean.view(), normal.view(), &o).unwrap();
    assert!(rn.summary.tangent_fraction.median < 0.03, "{:?}", rn.summary.tangent_fraction);
    assert!((rn.pairs[0].l2 - 0.01).abs() < 1e-4);
    // Zero perturbations give NaN fractions and are counted.
    let rz = perturbation_energy(reference.view(), clean.view(), clean.view(), &o).unwrap();
    assert_eq!(rz.summary.n_zero, n);
    assert!(rz.pairs.iter().all(|p| p.tangent_fraction.is_nan()));
    // Mismatched pairs.
    let short = clean.slice(ndarray::s![..3, ..]).to_owned();
    assert!(perturbation_energy(reference.view(), clean.view(), short.view(), &o).is_err());
}

/// Loaded collections of torus points named `ref{i}` / `q{i}`, the query with a `kind` column.
fn collections() -> (Dataset, Dataset) {
    let t = Torus::new();
    let mut reference = Dataset::from_array(t.sample(200, 21), None).unwrap();
    reference.ids = (0..200).map(|i| format!("ref{i}")).collect();
    let mut near = t.sample(12, 22);
    // The last 6 queries are far from the surface.
    near.slice_mut(ndarray::s![6.., ..]).mapv_inplace(|v| v * 3.0);
    let mut query = Dataset::from_array(near, None).unwrap();
    query.ids = (0..12).map(|i| format!("q{i}")).collect();
    let kinds = (0..12).map(|i| if i < 6 { "natural" } else { "far" }.to_string()).collect();
    query.columns = vec![("kind".into(), Column::Text(kinds))];
    (reference, query)
}

#[test]
fn options_parse_and_print_back() {
    for s in ["auto", "local", "7"] {
        assert_eq!(s.parse::<DimChoice>().unwrap().to_string(), s);
    }
    assert!("0x".parse::<DimChoice>().is_err());
    let m: MethodList = "knn, lid,flow".parse().unwrap();
    assert_eq!(m.0, vec![Method::Knn, Method::Lid, Method::Flow]);
    assert_eq!(m.to_string(), "knn,lid,flow");
    assert!("knn,knn".parse::<MethodList>().is_err());
    assert_eq!(Method::defaults_for(None), vec![Method::Knn, Method::Tangent, Method::Lid]);
    assert_eq!(ScoreOptions::default().k, DEFAULT_K);
    assert_eq!(PairsOptions::default().calibration, DEFAULT_CALIBRATION);
    assert_eq!(FlowParams::from_name(DEFAULT_FLOW_METHOD).unwrap(), FlowParams::default());
}

#[test]
fn score_query_names_neighbours_and_groups_and_writes_a_folder() {
    let (reference, query) = collections();
    let o = opts(&[Method::Knn, Method::Tangent, Method::Lid]);
    let r = score_query(&reference, &query, Some("kind"), &o).unwrap();
    // The same numbers as the array-level entry point; names are the reference ids of the nearest rows.
    let direct = score(reference.data.view(), query.data.view(), None, &o).unwrap();
    assert_eq!(r.scores.column("tangent").unwrap().values, direct.column("tangent").unwrap().values);
    for (i, name) in r.nearest_reference.iter().enumerate() {
        assert_eq!(*name, format!("ref{}", direct.nearest[i]));
    }
    let g = r.groups.as_ref().unwrap();
    assert_eq!(g.report.reference_group, "natural");
    let far = g.report.groups.iter().find(|s| s.name == "far").unwrap();
    assert_eq!(far.auroc["knn_kth"], Some(1.0), "far-off points score higher");

    let dir = tempfile::tempdir().unwrap();
    let v = write_score_dir(dir.path(), &r, "REF", "Q", output::Results::new("score")).unwrap();
    assert_eq!(v["reference"], "REF");
    assert_eq!(v["n_query"], 12);
    assert_eq!(v["groups_column"], "kind");
    assert_eq!(v["image_shape"], serde_json::Value::Null);
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap()).unwrap();
    assert_eq!((&written["files"], &written["groups_column"]), (&v["files"], &v["groups_column"]));
    let csv = std::fs::read_to_string(dir.path().join("scores.csv")).unwrap();
    let first = csv.lines().nth(1).unwrap();
    assert!(first.starts_with("q0,natural,") && first.contains(&format!(",{},", r.nearest_reference[0])), "{first}");
    for f in v["files"].as_array().unwrap() {
        assert!(dir.path().join(f.as_str().unwrap()).is_file(), "{f}");
    }
}

#[test]
fn score_query_refuses_bad_input_before_the_work() {
    let (reference, query) = collections();
    let o = opts(&[Method::Knn]);
    let e = score_query(&reference, &query, Some("nope"), &o).unwrap_err();
    assert!(matches!(&e, ScoreError::NoGroupColumn { have, .. } if have == "kind"), "{e}");
    let narrow = Dataset::from_array(Array2::zeros((3, 5)), None).unwrap();
    assert!(matches!(score_query(&reference, &narrow, None, &o).unwrap_err(), ScoreError::ImageSizeMismatch { .. }));
    let e = score_query(&reference, &query, None, &ScoreOptions { k: 200, ..o }).unwrap_err();
    assert!(matches!(e, ScoreError::KTooLarge { k: 200, n: 200, .. }), "{e}");
}

#[test]
fn pairs_from_a_file_match_the_array_entry_point() {
    let (reference, query) = collections();
    let dir = tempfile::tempdir().unwrap();
    let clean = query.data.slice(ndarray::s![..4, ..]).to_owned();
    let perturbed = clean.mapv(|v| v + 0.01);
    output::write_npy(&dir.path().join("clean.npy"), &clean).unwrap();
    output::write_npy(&dir.path().join("pert.npy"), &perturbed).unwrap();
    let csv = dir.path().join("pairs.csv");
    let lines: String = (0..4).map(|i| format!("clean.npy#{i},pert.npy#{i}\n")).collect();
    std::fs::write(&csv, format!("clean,perturbed\n{lines}")).unwrap();
    let pairs = read_pairs(&csv, &reference, &LoadOptions::default()).unwrap();
    assert_eq!(pairs.clean, clean);
    assert_eq!(pairs.perturbed_ids[2], "pert.npy#2");
    let o = PairsOptions { k: 15, ..Default::default() };
    let run = score_pairs(&reference, &pairs, &o).unwrap();
    let direct = perturbation_energy(reference.data.view(), clean.view(), perturbed.view(), &o).unwrap();
    let tf = |r: &PairsReport| r.pairs.iter().map(|p| p.tangent_fraction).collect::<Vec<_>>();
    assert_eq!(tf(&run.energy), tf(&direct));

    let out = dir.path().join("out");
    let v = write_pairs_dir(&out, &run, "REF", "pairs.csv", output::Results::new("score")).unwrap();
    assert_eq!((v["mode"].as_str(), v["n_pairs"].as_u64(), v["d"].as_u64()), (Some("pairs"), Some(4), Some(24)));
    let table = std::fs::read_to_string(out.join("perturbations.csv")).unwrap();
    assert!(table.lines().nth(1).unwrap().starts_with("clean.npy#0,pert.npy#0,"));
    assert!(out.join("tangent_fraction.npy").is_file() && out.join("random_tangent_fraction.npy").is_file());
    // A row past the end of a stack names the line.
    std::fs::write(&csv, "clean,perturbed\nclean.npy#9,pert.npy#0\n").unwrap();
    let e = read_pairs(&csv, &reference, &LoadOptions::default()).unwrap_err();
    assert!(e.to_string().contains("line 2") && e.to_string().contains("does not exist"), "{e}");
}

#[test]
fn memory_estimate_counts_copies_and_neighbour_lists() {
    // 10⁶ reference rows of 65 536 values: the reference copy alone is 262 GB.
    let big = crate::memory::memory_needed(1_000_000, 10, 65_536, 20, 2000);
    assert!(big > 262_000_000_000, "{big}");
    // The neighbour lists grow with k: 12 bytes per (row, neighbour) for calibration (twice) and query rows.
    let (a, b) = (
        crate::memory::memory_needed(5000, 3000, 10, 20, 1000),
        crate::memory::memory_needed(5000, 3000, 10, 21, 1000),
    );
    let threads = rayon::current_num_threads() as u128;
    assert_eq!(b - a, 12 * (1000 + 1000 + 3000) + threads * 3 * 4 * 10);
    // The calibration is capped by the reference size.
    assert_eq!(crate::memory::memory_needed(500, 10, 4, 5, 2000), crate::memory::memory_needed(500, 10, 4, 5, 500));
}
