//! `--path` on a render folder: the renderer's true path beside the path's frames ([`geodesic::render_truth`]).

use geodesic::path::{Endpoint, PathOptions};
use geodesic::{render_true_path, RenderSource};
use scene_render::{ColorMode, RenderOptions, RenderRequest, Sampling, Scene};

/// A turntable render folder: 36 spins 10° apart (grid from −180°), 32 px grey, loaded as the CLI loads it.
fn turntable_folder(dir: &std::path::Path) -> dataset::Dataset {
    let scene = Scene::builtin("turntable").unwrap();
    let request = RenderRequest {
        vary: vec!["spin".into()],
        n: 36,
        sampling: Sampling::Grid,
        seed: 1,
        options: RenderOptions { color: ColorMode::Gray, ssaa: 2, ..RenderOptions::square(32) },
        consecutive_flow: false,
        flow_pairs: Vec::new(),
        npy: false,
        depth: false,
        force: false,
    };
    scene_render::render_to_dir(dir, &scene, &request).unwrap();
    dataset::load(dir, &dataset::LoadOptions::default()).unwrap()
}

fn spin(ds: &dataset::Dataset) -> &[f64] {
    match &ds.columns.iter().find(|(n, _)| n == "spin").unwrap().1 {
        dataset::Column::Numeric(v) => v,
        _ => panic!("spin is numeric"),
    }
}

/// A path that visits the true views in order at an even pace is the rendered truth itself (RMSE 0 at every node,
/// across the ±180° seam the short way round); the same views out of order are far from it.
#[test]
fn rendered_truth_is_zero_on_the_true_views_and_large_on_a_wrong_path() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = turntable_folder(tmp.path());
    let source = RenderSource::find(&ds.source).unwrap().expect("a render folder");
    assert_eq!(source.free, vec![("spin".to_string(), source.scene.param_index("spin").unwrap())]);
    let spin = spin(&ds);
    assert_eq!((spin[34], spin[2]), (160.0, -160.0));
    let period = source.period("spin", source.free[0].1, &[]);
    assert_eq!(period, 360.0, "a full-turn parameter is periodic without --periodic");
    let image = |r: usize| ds.image(r).unwrap().to_owned();
    let compare = |nodes: &[usize]| {
        let steps = vec![1.0; nodes.len() - 1];
        let positions: Vec<f64> = (0..nodes.len()).map(|i| i as f64).collect();
        let frames: Vec<_> = nodes.iter().map(|&r| image(r)).collect();
        let refs: Vec<_> = frames.iter().collect();
        let ends = (nodes[0], *nodes.last().unwrap());
        render_true_path(&source, &[(spin, period)], None, ends, &steps, &positions, &refs).unwrap()
    };
    // 160° → 170° → 180° → −170° → −160°: the short way over the seam, each node exactly on the segment.
    let good = compare(&[34, 35, 0, 1, 2]);
    assert!(good.rmse.iter().all(|&r| r == 0.0), "{:?}", good.rmse);
    assert_eq!(good.values.iter().map(|v| v[0]).collect::<Vec<_>>(), vec![160.0, 170.0, 180.0, 190.0, 200.0]);
    // The same ends through the wrong views: 50° and 100° away from where the segment is.
    let wrong = compare(&[34, 29, 0, 7, 2]);
    assert_eq!((wrong.rmse[0], wrong.rmse[4]), (0.0, 0.0));
    assert!(wrong.rmse[1] > 0.02 && wrong.rmse[3] > 0.02, "{:?}", wrong.rmse);
    assert!(wrong.mean_rmse() > 0.01, "{}", wrong.mean_rmse());
}

/// Through the pipeline and the writer: the geodesic path of the flow graph ends on the rendered truth, its frames
/// stay near it, its in-betweens are compared too, and the folder holds the rendered frames and their RMSE.
#[test]
fn geodesic_path_on_a_render_folder_writes_the_rendered_truth() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = turntable_folder(&tmp.path().join("tt"));
    let options = geodesic::GeodesicOptions {
        k: 4,
        truth: vec!["spin".into()],
        periodic: vec!["spin=360".parse().unwrap()],
        sources: Some(vec![0]),
        dims: 0,
        path: Some(PathOptions { from: Endpoint::Row(3), to: Endpoint::Row(9), frames: 1 }),
        ..Default::default()
    };
    let report = geodesic::run_dataset(&ds, &options, &()).unwrap();
    let p = report.path.as_ref().unwrap();
    let (_, truth) = p.rendered_truth.as_ref().expect("rendered truth");
    assert!(p.rendered_truth_skipped.is_none());
    assert_eq!(truth.rmse.len(), p.frames.len());
    assert_eq!(p.frames.len(), 2 * p.nodes.len() - 1);
    let last = truth.rmse.len() - 1;
    assert_eq!((truth.rmse[0], truth.rmse[last]), (0.0, 0.0), "the ends are the rendered views");
    assert!(truth.max_rmse() < 0.05, "{:?}", truth.rmse);
    // The wrong direction round the circle between the same ends (through 0°, 330°, … 150°) is far from it.
    let ids: Vec<usize> = (0..=30).map(|i| (39 - i) % 36).collect();
    assert_eq!((ids[0], ids[30]), (3, 9));
    let frames: Vec<_> = ids.iter().map(|&r| ds.image(r).unwrap().to_owned()).collect();
    let refs: Vec<_> = frames.iter().collect();
    let positions: Vec<f64> = (0..ids.len()).map(|i| i as f64).collect();
    let (source, _) = p.rendered_truth.as_ref().unwrap();
    let spin = spin(&ds);
    let wrong = render_true_path(source, &[(spin, 360.0)], None, (3, 9), &vec![1.0; 30], &positions, &refs).unwrap();
    assert!(wrong.mean_rmse() > 3.0 * truth.mean_rmse(), "{} vs {}", wrong.mean_rmse(), truth.mean_rmse());

    let out = tmp.path().join("out");
    let row_name = |i: usize| ds.ids[i].clone();
    let dir_options = geodesic::GeodesicDirOptions {
        row_name: &row_name,
        input: None,
        record_periodic: false,
        comparison_arrays: false,
    };
    std::fs::create_dir(&out).unwrap();
    let v = geodesic::write_geodesic_dir(&out, &report, output::Results::new("geodesic"), &dir_options).unwrap();
    let rt = &v["path"]["rendered_truth"];
    assert!((rt["mean_rmse"].as_f64().unwrap() - truth.mean_rmse()).abs() < 1e-12, "{rt}");
    assert_eq!(rt["rmse"].as_array().unwrap().len(), p.frames.len());
    let csv = std::fs::read_to_string(out.join("path/path.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    assert!(header.ends_with(&["truth_file", "truth_rmse", "spin_rendered"]), "{header:?}");
    assert_eq!(csv.lines().count(), p.frames.len() + 1);
    assert!(out.join("path/truth_0000.png").is_file() && out.join(format!("path/truth_{last:04}.png")).is_file());

    // Without the free parameter's column the truth cannot be placed: skipped, with the reason.
    let mut bare = ds.clone();
    bare.columns.clear();
    let r = geodesic::run_dataset(
        &bare,
        &geodesic::GeodesicOptions { truth: Vec::new(), periodic: Vec::new(), ..options },
        &(),
    )
    .unwrap();
    let p = r.path.unwrap();
    assert!(p.rendered_truth.is_none());
    assert!(p.rendered_truth_skipped.unwrap().contains("`spin`"));
}
