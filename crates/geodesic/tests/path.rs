//! `--path`: the shortest path between two images, its parameter error against the true straight segment, and its
//! image sequence.

use geodesic::path::{column_errors, resolve, shortest_path, Endpoint, PathOptions};
use geodesic::Edge;
use scene_render::{render_set, ColorMode, Params, RenderOptions, Scene};

fn edge(i: usize, j: usize, w: f64) -> Edge {
    Edge { i, j, euclidean: w, flow_rms: None, residual: None, weight: w }
}

#[test]
fn shortest_path_takes_the_light_way_and_reports_its_steps() {
    // A 6-cycle with unit edges plus a heavy chord 0–3 (weight 5) and a light one 1–4 (weight 0.5).
    let mut edges: Vec<Edge> = (0..6).map(|i| edge(i, (i + 1) % 6, 1.0)).collect();
    edges.push(edge(0, 3, 5.0));
    edges.push(edge(1, 4, 0.5));
    let (nodes, steps) = shortest_path(6, &edges, 0, 3).unwrap().unwrap();
    // 0–1–4–3 costs 2.5; 0–1–2–3 and 0–5–4–3 cost 3; the chord 5.
    assert_eq!(nodes, vec![0, 1, 4, 3]);
    assert_eq!(steps, vec![1.0, 0.5, 1.0]);
    let (nodes, steps) = shortest_path(6, &edges, 2, 2).unwrap().unwrap();
    assert_eq!((nodes, steps.len()), (vec![2], 0));
    // Two components: no path.
    let split = vec![edge(0, 1, 1.0), edge(2, 3, 1.0)];
    assert!(shortest_path(4, &split, 0, 3).unwrap().is_none());
    assert!(shortest_path(4, &split, 0, 9).is_err());
}

#[test]
fn parameter_error_is_zero_on_an_even_straight_path_and_wraps() {
    // Values along the path advance with the graph length: no error.
    let values = [10.0, 20.0, 40.0, 70.0];
    let e = column_errors(&[0, 1, 2, 3], &[1.0, 2.0, 3.0], &[("a".into(), &values[..], f64::INFINITY)]);
    assert!(e[0].max_abs_error < 1e-12 && (e[0].span - 60.0).abs() < 1e-12, "{e:?}");
    // A periodic column from 350° to 20° goes through 0°: expected values 350, 5 (= 365), 20.
    let angles = [350.0, 4.0, 20.0];
    let e = column_errors(&[0, 1, 2], &[1.0, 1.0], &[("yaw".into(), &angles[..], 360.0)]);
    assert!((e[0].span - 30.0).abs() < 1e-9);
    assert!((e[0].max_abs_error - 1.0).abs() < 1e-9 && (e[0].mean_abs_error - 1.0 / 3.0).abs() < 1e-9, "{e:?}");
    // A detour through a far value shows as a large error.
    let detour = [0.0, 90.0, 10.0];
    let e = column_errors(&[0, 1, 2], &[1.0, 1.0], &[("a".into(), &detour[..], f64::INFINITY)]);
    assert!((e[0].max_abs_error - 85.0).abs() < 1e-9);
}

/// The fraction of the graph length at a position in edge units: in-betweens take their share of their edge.
#[test]
fn fraction_along_a_path_follows_the_edge_weights() {
    use geodesic::path::fraction_at;
    let steps = [1.0, 3.0];
    let at: Vec<f64> = [0.0, 0.5, 1.0, 1.5, 2.0].iter().map(|&p| fraction_at(&steps, p)).collect();
    assert_eq!(at, vec![0.0, 0.125, 0.25, 0.625, 1.0]);
    assert_eq!(fraction_at(&[0.0, 0.0], 1.0), 0.5, "by hops when the path has no length");
    assert_eq!(fraction_at(&[], 0.0), 0.0);
}

#[test]
fn endpoints_parse_and_resolve() {
    let ids: Vec<String> = ["a.png", "b.png", "7"].iter().map(|s| s.to_string()).collect();
    let (a, b) = PathOptions::parse_ends("1, b.png").unwrap();
    assert_eq!((a.clone(), b.clone()), (Endpoint::Row(1), Endpoint::Name("b.png".into())));
    assert_eq!((resolve(&a, &ids).unwrap(), resolve(&b, &ids).unwrap()), (1, 1));
    assert!(resolve(&Endpoint::Row(3), &ids).unwrap_err().to_string().contains("out of range"));
    assert!(resolve(&Endpoint::Name("c.png".into()), &ids).unwrap_err().to_string().contains("c.png"));
    assert!(PathOptions::parse_ends("3").is_err() && PathOptions::parse_ends(",2").is_err());
    assert!(PathOptions { from: a, to: b, frames: 1000 }.validate().is_err());
}

/// On a rendered turntable full circle the flow-geodesic path between views 90° apart visits views in order along
/// the short arc at an even pace (small parameter error), and the image sequence has the graph's images plus the
/// in-betweens.
#[test]
fn turntable_path_follows_the_true_arc() {
    let scene = Scene::builtin("turntable").unwrap();
    let n = 72;
    let si = scene.param_index("spin").unwrap();
    let params: Vec<Params> = (0..n)
        .map(|i| {
            let mut p = scene.default_params();
            p.values[si] = 360.0 * i as f64 / n as f64;
            p
        })
        .collect();
    let opts = RenderOptions { color: ColorMode::Gray, ..RenderOptions::square(40) };
    let imgs = render_set(&scene, &params, &opts).unwrap();
    let d = 40 * 40;
    let mut data = ndarray::Array2::<f32>::zeros((n, d));
    for (mut r, img) in data.rows_mut().into_iter().zip(&imgs) {
        r.iter_mut().zip(img.image.iter()).for_each(|(a, b)| *a = *b);
    }
    let spin: Vec<f64> = (0..n).map(|i| 360.0 * i as f64 / n as f64).collect();
    let mut ds = dataset::Dataset::from_array(data, Some(dataset::ImageShape::new(40, 40, 1))).unwrap();
    ds.columns.push(("spin".into(), dataset::Column::Numeric(spin.clone())));
    let options = geodesic::GeodesicOptions {
        k: 6,
        truth: vec!["spin".into()],
        periodic: vec!["spin=360".parse().unwrap()],
        sources: Some(vec![0]),
        dims: 0,
        path: Some(PathOptions { from: Endpoint::Row(3), to: Endpoint::Row(21), frames: 2 }),
        ..Default::default()
    };
    let report = geodesic::run_dataset(&ds, &options, &()).unwrap();
    let p = report.path.unwrap();
    assert_eq!((p.nodes[0], *p.nodes.last().unwrap()), (3, 21));
    // Along the short arc: strictly increasing spin.
    assert!(p.nodes.windows(2).all(|w| spin[w[1]] > spin[w[0]]), "{:?}", p.nodes);
    let e = &p.errors[0];
    assert!((e.span - 90.0).abs() < 1e-9);
    assert!(e.max_abs_error < 0.1 * e.span, "max parameter error {} over a {}° span", e.max_abs_error, e.span);
    assert_eq!(p.frames.len(), p.nodes.len() + 2 * (p.nodes.len() - 1));
    assert!(p.frames.iter().all(|f| f.image.dim() == (40, 40, 1)));
    assert!((p.length - p.steps.iter().sum::<f64>()).abs() < 1e-9);
    // In-memory images: no render folder behind them, nothing rendered.
    assert!(p.rendered_truth.is_none() && p.rendered_truth_skipped.is_none());
}

#[test]
fn stress_is_zero_up_to_scale_and_grows_with_distortion() {
    let t = [1.0, 2.0, 3.0, 4.0];
    let d: Vec<f64> = t.iter().map(|v| 7.0 * v).collect();
    assert!(geodesic::stress(&d, &t) < 1e-12);
    let bent = [7.0, 14.0, 21.0, 40.0];
    let s = geodesic::stress(&bent, &t);
    assert!(s > 0.05 && s < 1.0, "{s}");
    assert!(geodesic::stress(&[], &[]).is_nan() && geodesic::stress(&[0.0], &[1.0]).is_nan());
}

/// Scales divide each truth column's differences: a column in tenfold units with scale 10 gives the same
/// agreement as the original column.
#[test]
fn truth_scales_change_units_not_agreement() {
    let n = 30;
    let a: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
    let b: Vec<f64> = (0..n).map(|i| (i as f64 * 0.11).cos()).collect();
    let data = ndarray::Array2::from_shape_fn((n, 2), |(i, j)| if j == 0 { a[i] as f32 } else { b[i] as f32 });
    let run = |b_col: Vec<f64>, scale: Option<f64>| {
        let mut ds = dataset::Dataset::from_array(data.clone(), None).unwrap();
        ds.columns.push(("a".into(), dataset::Column::Numeric(a.clone())));
        ds.columns.push(("b".into(), dataset::Column::Numeric(b_col)));
        let options = geodesic::GeodesicOptions {
            k: 5,
            metric: geodesic::Metric::Euclidean,
            truth: vec!["a".into(), "b".into()],
            scales: scale.map(|s| vec![format!("b={s}").parse().unwrap()]).unwrap_or_default(),
            dims: 0,
            ..Default::default()
        };
        let c = geodesic::run_dataset(&ds, &options, &()).unwrap().truth.unwrap().correlations;
        assert_eq!(c[1].0, "pixel");
        (c[0].1, c[1].1)
    };
    let (plain, pixel) = run(b.clone(), None);
    let (scaled, _) = run(b.iter().map(|v| 10.0 * v).collect(), Some(10.0));
    assert!((plain.spearman - scaled.spearman).abs() < 1e-9 && (plain.stress - scaled.stress).abs() < 1e-9);
    let (unscaled, _) = run(b.iter().map(|v| 10.0 * v).collect(), None);
    assert!((plain.spearman - unscaled.spearman).abs() > 1e-3, "the unit of b matters without a scale");
    // The rows are the truth coordinates themselves: their distances are the truth distances.
    assert!(pixel.stress < 1e-6 && pixel.spearman > 0.999999, "{pixel:?}");
    // A scale for a column that is not a truth column is refused.
    let bad = geodesic::GeodesicOptions {
        truth: vec!["a".into()],
        scales: vec!["b=2".parse().unwrap()],
        ..Default::default()
    };
    assert!(bad.validate().unwrap_err().to_string().contains("`b`"));
    assert!("b=0".parse::<geodesic::ColumnScale>().is_err() && "b".parse::<geodesic::ColumnScale>().is_err());
}
