//! Sweep of the graph construction on randomly sampled full-circle renders: Spearman correlation of flow geodesics
//! with the true angle distance (on the circle) for the kNN graph and the verified graph, with the flow-stage time
//! of each, the verified graph's decisions and the diagnostics.
//!
//! `cargo run --release -p geodesic --example graph_sweep -- [set=SCENE:PARAM:N:SIZE:K:SEED ...] [ratio=R] [fb=F]
//! [cf=C] [dump]`: without `set=` the 14 sets of the sweep (turntable spin and yaw, room camera yaw; n 60–200,
//! 32–48 px, k 6–10). `ratio`, `fb`, `cf`: the verified graph's thresholds and candidate factor; `dump` prints every
//! candidate edge (true Δ angle, residual ratio, forward–backward error, verified). The images are rendered gray
//! and quantised to 8 bits, as `imanifold render --gray --sampling random` writes them.

use geodesic::graph::VerifyOptions;
use geodesic::{GeodesicInput, GeodesicOptions, GraphKind, Metric, NamedColumn, Periodic};
use ndarray::{Array2, Axis};
use scene_render::{render_set, ColorMode, RenderOptions, Sampling, Scene};

struct SetSpec {
    scene: String,
    param: String,
    n: usize,
    size: usize,
    k: usize,
    seed: u64,
}

impl SetSpec {
    fn parse(s: &str) -> SetSpec {
        let f: Vec<&str> = s.split(':').collect();
        assert_eq!(f.len(), 6, "set=SCENE:PARAM:N:SIZE:K:SEED");
        SetSpec {
            scene: f[0].into(),
            param: f[1].into(),
            n: f[2].parse().unwrap(),
            size: f[3].parse().unwrap(),
            k: f[4].parse().unwrap(),
            seed: f[5].parse().unwrap(),
        }
    }
    fn name(&self) -> String {
        format!("{}:{}:{}:{}:{}:{}", self.scene, self.param, self.n, self.size, self.k, self.seed)
    }
}

const SWEEP: [&str; 14] = [
    "turntable:spin:60:32:6:1",
    "turntable:spin:90:48:8:2",
    "turntable:spin:120:40:10:3",
    "turntable:spin:200:32:8:4",
    "turntable:spin:150:48:6:5",
    "turntable:yaw:80:40:8:6",
    "turntable:yaw:120:32:6:7",
    "room:yaw:60:32:6:1",
    "room:yaw:90:48:8:2",
    "room:yaw:120:40:10:3",
    "room:yaw:200:32:8:4",
    "room:yaw:150:48:6:5",
    "room:yaw:80:40:8:6",
    "room:yaw:100:32:10:7",
];

fn main() {
    let mut specs = Vec::new();
    let mut verify = VerifyOptions::default();
    let mut dump = false;
    for a in std::env::args().skip(1) {
        match a.split_once('=') {
            Some(("set", v)) => specs.push(SetSpec::parse(v)),
            Some(("ratio", v)) => verify.max_residual_ratio = v.parse().unwrap(),
            Some(("fb", v)) => verify.max_fb_error = v.parse().unwrap(),
            Some(("cf", v)) => verify.candidate_factor = v.parse().unwrap(),
            _ if a == "dump" => dump = true,
            _ => panic!("unknown argument {a}"),
        }
    }
    if specs.is_empty() {
        specs = SWEEP.iter().map(|s| SetSpec::parse(s)).collect();
    }
    println!("{verify:?}");
    println!(
        "{:<28} {:>7} {:>8} {:>7} {:>6} {:>5} {:>5} {:>5} {:>5} {:>6}  warnings",
        "set", "knn", "verified", "t_ratio", "cand", "drop", "bridg", "c_bef", "short", "eig2/1"
    );
    let (mut old, mut new, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for s in &specs {
        let scene = Scene::builtin(&s.scene).unwrap();
        let pi = scene.param_index(&s.param).unwrap();
        let spec = &scene.parameters()[pi];
        let period = spec.max - spec.min;
        let params =
            scene_render::sample_parameters(&scene, std::slice::from_ref(&s.param), s.n, Sampling::Random, s.seed)
                .unwrap();
        let truth: Vec<f64> = params.iter().map(|p| p.values[pi]).collect();
        let opts = RenderOptions { color: ColorMode::Gray, ..RenderOptions::square(s.size) };
        let frames: Vec<Array2<f32>> = render_set(&scene, &params, &opts)
            .unwrap()
            .iter()
            .map(|r| r.image.index_axis(Axis(2), 0).mapv(pixels::on_8bit_grid))
            .collect();
        let px = s.size * s.size;
        let data = Array2::from_shape_fn((s.n, px), |(i, p)| frames[i][[p / s.size, p % s.size]]);
        let columns = [NamedColumn { name: &s.param, values: Some(&truth) }];
        let input = GeodesicInput { data: data.view(), frames: Some(&frames), columns: &columns };
        let base = GeodesicOptions {
            k: s.k,
            metric: Metric::Flow,
            truth: vec![s.param.clone()],
            periodic: vec![Periodic { name: s.param.clone(), period }],
            verify,
            ..GeodesicOptions::default()
        };
        let go = |graph| geodesic::run(input, &GeodesicOptions { graph, ..base.clone() }, &()).unwrap();
        let (a, b) = (go(GraphKind::Knn), go(GraphKind::Verified));
        let sp = |r: &geodesic::GeodesicReport| r.truth.as_ref().unwrap().correlations[0].1.spearman;
        let flow_t = |r: &geodesic::GeodesicReport| r.timings.iter().find(|t| t.0 == "flow").unwrap().1;
        let dtrue = |i: usize, j: usize| geodesic::periodic_distance(truth[i], truth[j], period);
        let shortcuts = b.edges.iter().filter(|e| dtrue(e.i, e.j) > 45.0).count();
        let eig = &b.embedding.as_ref().unwrap().eigenvalues;
        let warn: Vec<String> = b.diagnostics.warnings.iter().map(|w| w.kind.to_string()).collect();
        println!(
            "{:<28} {:>7.4} {:>8.4} {:>7.2} {:>6} {:>5} {:>5} {:>5} {:>5} {:>6.3}  {}",
            s.name(),
            sp(&a),
            sp(&b),
            flow_t(&b) / flow_t(&a),
            b.graph.candidates.len(),
            b.graph.dropped.len(),
            b.graph.bridges.len(),
            b.graph.components_before,
            shortcuts,
            eig.get(1).copied().unwrap_or(0.0) / eig[0],
            warn.join(",")
        );
        if dump {
            for c in &b.graph.candidates {
                println!(
                    "  {:>4} {:>4} dtrue {:>6.1} rms {:>6.2} ratio {:>5.3} fb {:>6.3} {} w {:.4} eu {:.4}",
                    c.i,
                    c.j,
                    dtrue(c.i, c.j),
                    c.measure.rms,
                    c.measure.residual_ratio(),
                    c.measure.fb_error,
                    if c.verified { "v" } else { "-" },
                    c.weight,
                    c.measure.plain
                );
            }
        }
        old.push(sp(&a));
        new.push(sp(&b));
        ratios.push(flow_t(&b) / flow_t(&a));
    }
    let stats = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[0], v[v.len() - 1])
    };
    let (om, ow, _) = stats(&mut old);
    let (nm, nw, _) = stats(&mut new);
    let (tm, _, tw) = stats(&mut ratios);
    println!("sets {}: knn median {om:.4} worst {ow:.4}; verified median {nm:.4} worst {nw:.4}", specs.len());
    println!("flow-stage time verified/knn: median {tm:.2}, largest {tw:.2}");
}
