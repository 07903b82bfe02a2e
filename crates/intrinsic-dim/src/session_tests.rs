//! Tests of the dimension session (options, neighbour budget, duplicates, curves).
use super::*;
use ndarray::{concatenate, Axis};

fn cloud(n: usize, seed: u64) -> ndarray::Array2<f32> {
    benchmark_manifolds::hypercube(n, 3, seed).mapv(|v| v as f32)
}

#[test]
fn options_parse_and_print() {
    assert_eq!("drop".parse::<Duplicates>().unwrap(), Duplicates::Drop);
    assert_eq!("Error".parse::<Duplicates>().unwrap().to_string(), "error");
    assert!("keep".parse::<Duplicates>().is_err());
    assert_eq!("5:8".parse::<Scales>().unwrap(), Scales::Range(5, 8));
    assert_eq!(Scales::Range(5, 8).ks(), vec![5, 6, 7, 8]);
    assert!("1:8".parse::<Scales>().is_err() && "9:8".parse::<Scales>().is_err() && "5".parse::<Scales>().is_err());
}

#[test]
fn bootstrap_interval_covers_the_mean() {
    let v: Vec<f64> = (0..100).map(|i| i as f64).collect();
    let (m, ci) = mean_interval(&v, 3);
    let (lo, hi) = ci.unwrap();
    assert_eq!(m, 49.5);
    assert!(lo < m && m < hi && hi - lo < 20.0 && hi - lo > 5.0, "{lo} {hi}");
    assert!(mean_interval(&[f64::NAN], 0).1.is_none());
}

#[test]
fn refuses_bad_options_before_any_data() {
    assert!(matches!(Session::new(&DimOptions { k: Some(1), ..Default::default() }), Err(SessionError::KTooSmall(1))));
    let bad = DimOptions { estimators: vec!["nope".into()], ..Default::default() };
    assert!(matches!(Session::new(&bad), Err(SessionError::Estimator { .. })));
    let s = Session::new(&DimOptions { estimators: vec!["mle:n_neighbors=30".into()], ..Default::default() }).unwrap();
    assert_eq!(s.k_needed(), 30);
    assert!(matches!(s.check_points(30), Err(SessionError::TooFewPoints { estimator: "mle", needed: 31, n: 30 })));
    // Pointwise fits of a global estimator read 40 neighbours: 40 points cannot give them.
    let opts = DimOptions { estimators: vec!["twonn".into()], pointwise: true, k: Some(40), ..Default::default() };
    let s = Session::new(&opts).unwrap();
    assert_eq!(s.k_needed(), 40);
    assert!(matches!(s.check_points(40), Err(SessionError::NeighborBudget { k: 40, n: 40 })));
    assert!(s.check_points(41).is_ok());
}

#[test]
fn a_k_no_estimator_uses_is_refused() {
    let with = |estimators: &[&str], k: Option<usize>, pointwise: bool| {
        let estimators = estimators.iter().map(|s| s.to_string()).collect();
        Session::new(&DimOptions { estimators, k, pointwise, ..Default::default() })
    };
    // Global estimators, or local ones whose spec sets its own n_neighbors: k would be ignored.
    for specs in [&["lpca"][..], &["twonn", "pca"], &["mle:n_neighbors=12"]] {
        match with(specs, Some(20), false) {
            Err(e @ SessionError::KUnused { k: 20, .. }) => {
                let m = e.to_string();
                assert!(m.starts_with("k 20") && m.contains(&specs.join(", ")), "{m}");
            }
            Err(e) => panic!("{specs:?}: {e}"),
            Ok(_) => panic!("{specs:?}: accepted"),
        }
    }
    // Used by a local estimator, by the default one, or by pointwise fits of a global one: accepted.
    assert!(with(&["lpca", "mle"], Some(20), false).unwrap().k_needed() >= 20);
    assert!(with(&[], Some(20), false).is_ok());
    assert!(with(&["lpca"], Some(20), true).unwrap().k_needed() >= 20);
    // Without k nothing changes.
    assert!(with(&["lpca"], None, false).is_ok());
}

#[test]
fn k_sets_local_neighbours_and_labels_are_unique() {
    let opts =
        DimOptions { estimators: vec!["mle".into(), "mle".into(), "twonn".into()], k: Some(7), ..Default::default() };
    let s = Session::new(&opts).unwrap();
    assert_eq!(s.labels(), ["mle", "mle_2", "twonn"]);
    assert_eq!(s.k_needed(), 7);
}

#[test]
fn duplicates_are_dropped_and_pointwise_values_mapped_back() {
    let base = cloud(200, 4);
    // Rows 200..205 repeat rows 10..15.
    let data = concatenate(Axis(0), &[base.view(), base.slice(ndarray::s![10..15, ..])]).unwrap();
    let opts = DimOptions {
        estimators: vec!["mle".into()],
        k: Some(10),
        pointwise: true,
        scales: Some(Scales::Range(5, 7)),
        bootstrap: 0,
        ..Default::default()
    };
    let session = Session::new(&opts).unwrap();
    let r = session.run(data.view(), Source::default()).unwrap();
    assert_eq!((r.n_input, r.n, r.dropped.clone()), (205, 200, (200..205).collect::<Vec<_>>()));
    let pw = r.estimates[0].report.pointwise.as_ref().unwrap();
    assert_eq!(pw.len(), 205);
    for i in 0..5 {
        assert_eq!(pw[200 + i].to_bits(), pw[10 + i].to_bits());
    }
    // The same run on the deduplicated data gives the same per-point values on the kept rows.
    let clean = session.run(base.view(), Source::default()).unwrap();
    assert_eq!(&clean.estimates[0].report.pointwise.as_ref().unwrap()[..], &pw[..200]);
    let curve = r.curves[0].points.as_ref().unwrap();
    assert_eq!(curve.iter().map(|p| p.k).collect::<Vec<_>>(), vec![5, 6, 7]);
    let refused = Session::new(&DimOptions { duplicates: Duplicates::Error, ..opts }).unwrap();
    assert!(matches!(refused.run(data.view(), Source::default()), Err(SessionError::DuplicateRows { count: 5, .. })));
}

#[test]
fn folder_has_the_files_results_json_names() {
    let data = cloud(150, 9);
    let opts = DimOptions {
        estimators: vec!["mle".into(), "twonn".into()],
        pointwise: true,
        k: Some(10),
        scales: Some(Scales::List(vec![5, 8])),
        bootstrap: 0,
        ..Default::default()
    };
    let r = Session::new(&opts).unwrap().run(data.view(), Source { name: "x".into(), image_shape: None }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let v = write_dim_dir(dir.path(), &r, output::Results::new("dim")).unwrap();
    assert_eq!(v["k_range"], json!([5, 8]));
    assert_eq!(v["files"]["scale_twonn"], Value::Null);
    for (_, f) in v["files"].as_object().unwrap() {
        if let Some(f) = f.as_str() {
            assert!(dir.path().join(f).is_file(), "{f}");
        }
    }
    assert!(dir.path().join("scale_mle.csv").is_file() && dir.path().join("results.json").is_file());
}

/// Entries without the timing, for comparing runs; the interval left out where the table run has none.
fn untimed(report: &DimReport, table: &DimReport) -> Vec<Value> {
    let mut entries = report.estimate_entries();
    for (e, t) in entries.iter_mut().zip(&table.estimates) {
        e["seconds"] = Value::Null;
        if t.report.estimate.ci_method == crate::NO_TABLE_INTERVAL {
            let how = e["ci_method"].as_str().unwrap();
            assert!(how == crate::NO_TABLE_INTERVAL || how.starts_with("half-sampling"), "{e}");
            e["ci95"] = Value::Null;
            e["ci_method"] = Value::Null;
        }
    }
    entries
}

/// The table path (a context from the kNN table alone) gives the data path's report bit for bit: every value,
/// interval (analytic, bootstrap of per-point values, bootstrap of ratios, calibration-mapped), per-point value
/// and scale curve.
#[test]
fn neighbour_table_run_equals_the_data_run() {
    let specs = [
        "mle",
        "mle:comb=median",
        "twonn",
        "twonn:method=mle",
        "gride:multiscale=true,range_max=16",
        "mom",
        "mada",
        "mind-ml",
        "imanifold:graph_test=false",
        "mle:neighborhood_based=false",
    ];
    let sphere = benchmark_manifolds::hypersphere(300, 3, 2).mapv(|v| v as f32);
    // Per-point values of global estimators refit neighbourhoods of rows: only the local ones have them here.
    for (x, k, specs, pointwise) in
        [(cloud(400, 1), Some(12), &specs[..], false), (sphere, None, &["mle", "mom", "mada:comb=median"][..], true)]
    {
        let opts = DimOptions {
            estimators: specs.iter().map(|s| s.to_string()).collect(),
            k,
            scales: Some(Scales::Range(4, 7)),
            pointwise,
            seed: 5,
            ..Default::default()
        };
        let s = Session::new(&opts).unwrap();
        let want = s.run(x.view(), Source::default()).unwrap();
        // A wider table than needed: the extra columns are ignored.
        let nb = knn::knn_self(x.view(), s.k_needed() + 3).unwrap();
        let got = s.run_neighbors(nb, x.ncols(), Source::default()).unwrap();
        let (a, b) = (untimed(&got, &got), untimed(&want, &got));
        assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
        let no_ci = got.estimates.iter().filter(|e| e.report.estimate.ci_method == crate::NO_TABLE_INTERVAL).count();
        assert_eq!(no_ci, if pointwise { 0 } else { 2 }); // mind-ml, mle with neighborhood_based = false
        for (a, b) in got.estimates.iter().zip(&want.estimates) {
            let bits = |v: &Option<Vec<f64>>| v.as_ref().map(|v| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
            assert_eq!(bits(&a.report.estimate.pointwise), bits(&b.report.estimate.pointwise), "{}", a.label);
            assert_eq!(bits(&a.report.pointwise), bits(&b.report.pointwise), "{}", a.label);
            assert_eq!(bits(&a.report.pointwise_smooth), bits(&b.report.pointwise_smooth), "{}", a.label);
        }
        assert_eq!(got.curves, want.curves);
        assert_eq!((got.n, got.d, got.k_computed), (want.n, want.d, want.k_computed));
    }
}

#[test]
fn neighbour_table_refuses_what_it_cannot_give() {
    let x = cloud(200, 3);
    let run = |spec: &str, nb: knn::Neighbors| {
        let s = Session::new(&DimOptions { estimators: vec![spec.into()], ..Default::default() }).unwrap();
        s.run_neighbors(nb, x.ncols(), Source::default())
    };
    let nb = || knn::knn_self(x.view(), 25).unwrap();
    // Estimators that read the rows.
    for spec in ["imanifold", "tle", "ess:n_neighbors=20", "corrint", "danco"] {
        match run(spec, nb()) {
            Err(SessionError::Estimate(DimError::NeedsData { .. })) => {}
            other => panic!("{spec}: {:?}", other.map(|r| r.estimates.len())),
        }
    }
    assert!(matches!(run("pca", nb()), Err(SessionError::TableTooNarrow { .. })));
    assert!(matches!(run("mle:n_neighbors=30", nb()), Err(SessionError::TableTooNarrow { needed: 30, available: 25 })));
    // Duplicate rows: found from the table (zero distance to a smaller index) and refused, as `Duplicates::Error`.
    let mut dup = x.clone();
    let r = dup.row(4).to_owned();
    dup.row_mut(150).assign(&r);
    dup.row_mut(90).assign(&r);
    match run("mle", knn::knn_self(dup.view(), 25).unwrap()) {
        Err(SessionError::Data(DimError::DuplicateRows { count: 2, first: 90 })) => {}
        other => panic!("{:?}", other.map(|r| r.estimates.len())),
    }
    // A broken table: a row listing itself, distances out of order.
    let mut bad = nb();
    bad.indices[[7, 3]] = 7;
    assert!(matches!(run("mle", bad), Err(SessionError::Data(DimError::BadTable { .. }))));
    let mut bad = nb();
    bad.distances[[9, 0]] = 1e9;
    assert!(matches!(run("mle", bad), Err(SessionError::Data(DimError::BadTable { .. }))));
}
