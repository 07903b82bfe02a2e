//! The flow-verified graph on a randomly sampled full circle of room views (camera yaw over 360°, 60 images of
//! 32 px, k 6): the plain kNN graph joins many look-alike walls far apart; dropping the edges the flow does not
//! explain raises the geodesics' Spearman correlation with the true angle (measured: kNN 0.51, verified 0.68).
//! The decisions are consistent, and the output does not depend on the thread count.

use geodesic::{GeodesicInput, GeodesicOptions, GeodesicReport, GraphKind, Metric, NamedColumn, Periodic};
use ndarray::{Array2, Axis};
use scene_render::{render_set, ColorMode, RenderOptions, Sampling, Scene};

struct Set {
    frames: Vec<Array2<f32>>,
    data: Array2<f32>,
    yaw: Vec<f64>,
}

fn room_circle(n: usize, size: usize, seed: u64) -> Set {
    let scene = Scene::builtin("room").unwrap();
    let yi = scene.param_index("yaw").unwrap();
    let params = scene_render::sample_parameters(&scene, &["yaw".to_string()], n, Sampling::Random, seed).unwrap();
    let opts = RenderOptions { color: ColorMode::Gray, ..RenderOptions::square(size) };
    let frames: Vec<Array2<f32>> = render_set(&scene, &params, &opts)
        .unwrap()
        .iter()
        .map(|r| r.image.index_axis(Axis(2), 0).mapv(pixels::on_8bit_grid))
        .collect();
    let data = Array2::from_shape_fn((n, size * size), |(i, p)| frames[i][[p / size, p % size]]);
    Set { frames, data, yaw: params.iter().map(|p| p.values[yi]).collect() }
}

fn run(set: &Set, graph: GraphKind) -> GeodesicReport {
    let columns = [NamedColumn { name: "yaw", values: Some(&set.yaw) }];
    let input = GeodesicInput { data: set.data.view(), frames: Some(&set.frames), columns: &columns };
    let options = GeodesicOptions {
        k: 6,
        metric: Metric::Flow,
        graph,
        truth: vec!["yaw".into()],
        periodic: vec![Periodic { name: "yaw".into(), period: 360.0 }],
        ..GeodesicOptions::default()
    };
    geodesic::run(input, &options, &()).unwrap()
}

fn spearman(r: &GeodesicReport) -> f64 {
    r.truth.as_ref().unwrap().correlations[0].1.spearman
}

#[test]
fn verified_graph_beats_knn_on_a_random_room_circle() {
    let set = room_circle(60, 32, 1);
    let knn = run(&set, GraphKind::Knn);
    let verified = run(&set, GraphKind::Verified);
    let (a, b) = (spearman(&knn), spearman(&verified));
    eprintln!("spearman: knn {a:.4}, verified {b:.4}");
    assert!(b > a + 0.1, "verified {b} should beat knn {a} by 0.1");

    // Decisions: every candidate is either an edge, dropped (unverified) or left out (verified but not a kNN edge
    // nor a bridge); bridges connect the graph.
    let g = &verified.graph;
    assert_eq!(g.kind, GraphKind::Verified);
    assert_eq!(g.candidate_k, 18);
    assert!(!g.dropped.is_empty());
    for &(i, j) in &g.dropped {
        let c = g.candidates.iter().find(|c| (c.i, c.j) == (i, j)).unwrap();
        assert!(!c.verified && !verified.edges.iter().any(|e| (e.i, e.j) == (i, j)));
    }
    for &(i, j) in g.bridges.iter().chain(&g.verified_bridges) {
        assert!(verified.edges.iter().any(|e| (e.i, e.j) == (i, j)), "bridge {i}–{j} is an edge");
    }
    assert_eq!((g.components_after, verified.components), (1, 1));
    assert!(g.components_before >= g.components_after);
    let json = geodesic::graph_json(&verified);
    assert_eq!(json["kind"], "verified");
    assert_eq!(json["dropped_shortcuts"].as_array().unwrap().len(), g.dropped.len());
    assert_eq!(json["components_after"], 1);
    assert_eq!(knn.graph.kind, GraphKind::Knn);
    assert!(knn.graph.candidates.is_empty() && knn.graph.dropped.is_empty());
}

#[test]
fn verified_graph_is_the_same_at_one_and_two_threads() {
    let set = room_circle(40, 24, 3);
    let at = |threads| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| run(&set, GraphKind::Verified))
    };
    let (a, b) = (at(1), at(2));
    assert_eq!(a.edges, b.edges);
    assert_eq!(a.graph, b.graph);
    assert_eq!(a.distances, b.distances);
}
