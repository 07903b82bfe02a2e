//! Flow geodesics on a rendered one-parameter turntable set follow the true rotation angle, better than Euclidean
//! graph geodesics and raw pixel distances (the acceptance figure: Spearman ≥ 0.95).
//! Angles stay inside (−80°, 80°): a segment, so the true distance is |Δangle| with no wrap-around.

use geodesic::{agreement, knn_edges, pixel_distances, shortest_paths, weight_by_flow, DEFAULT_PHOTOMETRIC_WEIGHT};
use ndarray::Array2;
use optical_flow::FlowParams;
use rand::{Rng, SeedableRng};
use scene_render::{render_set, ColorMode, RenderOptions, Scene};

#[test]
fn flow_geodesics_track_the_turntable_angle() {
    let scene = Scene::builtin("turntable").unwrap();
    let spin = scene.param_index("spin").unwrap();
    // About 3° between neighbours. (Sparser sets disconnect the kNN graph; larger k adds shortcut edges between
    // look-alike views of the quasi-periodic texture, which every metric then follows.)
    let n = 50;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
    let angles: Vec<f64> = (0..n).map(|_| rng.random_range(-80.0..80.0)).collect();
    let params: Vec<_> = angles
        .iter()
        .map(|&a| {
            let mut p = scene.default_params();
            p.values[spin] = a;
            p
        })
        .collect();
    let size = 48;
    let opts = RenderOptions { color: ColorMode::Gray, ssaa: 2, ..RenderOptions::square(size) };
    let imgs = render_set(&scene, &params, &opts).unwrap();
    let frames: Vec<Array2<f32>> = imgs.iter().map(|r| r.image.index_axis(ndarray::Axis(2), 0).to_owned()).collect();
    let data = Array2::from_shape_fn((n, size * size), |(i, p)| frames[i][[p / size, p % size]]);

    let k = 6;
    let euclid_edges = knn_edges(data.view(), k).unwrap();
    let mut flow_edges = euclid_edges.clone();
    weight_by_flow(&mut flow_edges, &frames, &FlowParams::default(), DEFAULT_PHOTOMETRIC_WEIGHT, &|_| {}).unwrap();
    let all: Vec<usize> = (0..n).collect();
    let truth = |i: usize, j: usize| (angles[i] - angles[j]).abs();
    let flow = agreement(shortest_paths(n, &flow_edges, &all).unwrap().view(), &all, &truth);
    let euclid = agreement(shortest_paths(n, &euclid_edges, &all).unwrap().view(), &all, &truth);
    let pixel = agreement(pixel_distances(data.view()).unwrap().view(), &all, &truth);
    eprintln!(
        "spearman: flow {:.4}, euclidean graph {:.4}, pixel {:.4}",
        flow.spearman, euclid.spearman, pixel.spearman
    );
    eprintln!("pearson:  flow {:.4}, euclidean graph {:.4}, pixel {:.4}", flow.pearson, euclid.pearson, pixel.pearson);
    let (parts, _) = geodesic::components(n, &flow_edges);
    assert_eq!((parts, flow.pairs), (1, n * (n - 1) / 2), "graph connected");
    assert!(flow.spearman >= 0.95, "flow geodesic Spearman {}", flow.spearman);
    assert!(flow.spearman > pixel.spearman, "flow geodesics better than raw pixel distance");
    // On a set this dense Euclidean-graph geodesics are nearly as good (measured: flow 0.982, Euclidean graph 0.980,
    // pixel 0.899); flow must not be worse.
    assert!(flow.spearman >= euclid.spearman - 0.002, "flow {} vs Euclidean graph {}", flow.spearman, euclid.spearman);
}
