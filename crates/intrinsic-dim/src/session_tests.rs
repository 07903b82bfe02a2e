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
