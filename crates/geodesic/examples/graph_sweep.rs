//! Sweep of the graph construction on randomly sampled full-circle renders: Spearman correlation of flow geodesics
//! with the true angle distance (on the circle) for each graph construction (kNN, verified, relative) and for
//! Euclidean-graph geodesics, the flow-stage time of each graph over the kNN graph's, and the last graph's
//! decisions (kNN edges dropped, bridges, closures, components before bridging, edges joining views > 45° apart in
//! the kNN → last graph, end candidates / those whose globally initialised flow was kept) and diagnostics.
//!
//! `cargo run --release -p geodesic --example graph_sweep -- [set=SCENE:PARAM:N:SIZE:K:SEED ...]
//! [graphs=knn,verified,relative] [method=FLOW] [lambda=L] [ratio=R] [fb=F] [cf=C] [margin=M] [floor=F] [closure_margin=M] [detour=D] [dump]`:
//! `PARAM` may name several parameters joined by `+` (`yaw+pitch`: truth distance √Σ Δ², full-circle angles
//! periodic, distances from every 50th view). Without `set=` the 26 sets of the sweep (turntable spin and yaw, room camera yaw; n 60–300, 32–64 px, k 6–10).
//! `scale=NAME:S` divides the differences of parameter NAME by S in the truth distance (`--truth-scale NAME=S`;
//! several allowed); `scale=flow` sets every parameter's scale from the renderer's true flow at the scene defaults:
//! S_c = (px of image motion per unit of the first parameter) / (px per unit of c), so each parameter counts in
//! units of the first (degrees of yaw) by the image motion it causes. With several parameters the line also gives
//! the stress of each graph, and the Spearman / stress against the unscaled truth (raw units: degrees and scene
//! units added as they are) and against the range-matched truth (each parameter's full range counts as the first's).
//! `transform=NAME:log|inverse` puts ln(value) or 1/value of parameter NAME into the truth instead of the value
//! (the flow scale follows through the derivative at the scene default).
//! `method=` the optical-flow method of every graph (default the geodesic default), `lambda=` the photometric
//! weight λ. `ratio`, `fb`, `cf`, `margin`, `floor`, `closure_margin`, `detour`, `ends=true|false` (end candidates),
//! `end_global=true|false` (their flow also started from global translations), `end_margin`: the [`VerifyOptions`]
//! of the verified and relative graphs; `dump` prints every candidate edge of the last graph (true Δ angle, residual
//! ratio, margin, forward–backward error, kNN edge, verified, used). The images are rendered gray and quantised to 8 bits, as
//! `imanifold render --gray --sampling random` writes them.

use geodesic::graph::VerifyOptions;
use geodesic::{ColumnScale, GeodesicInput, GeodesicOptions, GraphKind, Metric, NamedColumn, Periodic};
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

/// The sweep: turntable spin and yaw, room camera yaw; n 60–300, 32–64 px, k 6–10, random sampling.
const SWEEP: [&str; 26] = [
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
    "turntable:spin:300:48:8:8",
    "turntable:spin:100:64:6:9",
    "turntable:yaw:250:40:10:10",
    "turntable:spin:70:56:8:11",
    "turntable:yaw:160:64:8:12",
    "turntable:yaw:60:48:6:13",
    "room:yaw:300:40:8:8",
    "room:yaw:250:48:10:9",
    "room:yaw:70:64:6:10",
    "room:yaw:130:56:8:11",
    "room:yaw:180:64:6:12",
    "room:yaw:220:32:6:13",
];

/// Per set: Spearman of each graph, the flow-stage seconds of each, and the relative graph's report.
struct Row {
    spearman: Vec<f64>,
    seconds: Vec<f64>,
    /// Flow pairs measured over the kNN graph's edges.
    pairs: Vec<f64>,
}

/// Pixels of image motion per unit of each parameter (`index` into the scene's parameters) at the scene defaults:
/// RMS of the renderer's true flow over valid pixels for a small step (0.5° or 0.005 scene units), divided by it.
fn flow_per_unit(scene: &Scene, index: &[usize], size: usize) -> Vec<f64> {
    let opts = RenderOptions { color: ColorMode::Gray, ..RenderOptions::square(size) };
    let base = scene.default_params();
    index
        .iter()
        .map(|&pi| {
            let step = match scene.parameters()[pi].unit {
                scene_render::Unit::Degrees => 0.5,
                scene_render::Unit::Length => 0.005,
            };
            let mut moved = base.clone();
            moved.values[pi] += step;
            let f = scene_render::true_flow(scene, &base, &moved, &opts).unwrap();
            let (mut sum, mut count) = (0.0f64, 0usize);
            for ((y, x), &v) in f.valid.indexed_iter() {
                if v {
                    sum += (f.flow[[y, x, 0]] as f64).powi(2) + (f.flow[[y, x, 1]] as f64).powi(2);
                    count += 1;
                }
            }
            (sum / count.max(1) as f64).sqrt() / step
        })
        .collect()
}

fn main() {
    let mut specs = Vec::new();
    let mut verify = VerifyOptions::default();
    let mut dump = false;
    let mut graphs = vec![GraphKind::Knn, GraphKind::Verified, GraphKind::Relative];
    let mut scales: Vec<(String, f64)> = Vec::new();
    let mut flow_scales = false;
    let mut transforms: Vec<(String, String)> = Vec::new();
    let mut flow_method: optical_flow::FlowMethod = geodesic::default_flow_params().method;
    let mut lambda = geodesic::DEFAULT_PHOTOMETRIC_WEIGHT;
    for a in std::env::args().skip(1) {
        match a.split_once('=') {
            Some(("set", v)) => specs.push(SetSpec::parse(v)),
            Some(("scale", "flow")) => flow_scales = true,
            Some(("transform", v)) => {
                let (name, t) = v.split_once(':').expect("transform=NAME:log|inverse");
                assert!(t == "log" || t == "inverse", "transform=NAME:log|inverse");
                transforms.push((name.into(), t.into()));
            }
            Some(("scale", v)) => {
                let (name, s) = v.split_once(':').expect("scale=NAME:S");
                scales.push((name.into(), s.parse().unwrap()));
            }
            Some(("method", v)) => flow_method = v.parse().unwrap(),
            Some(("lambda", v)) => lambda = v.parse().unwrap(),
            Some(("graphs", v)) => graphs = v.split(',').map(|g| g.parse().unwrap()).collect(),
            Some(("ratio", v)) => verify.max_residual_ratio = v.parse().unwrap(),
            Some(("fb", v)) => verify.max_fb_error = v.parse().unwrap(),
            Some(("cf", v)) => verify.candidate_factor = v.parse().unwrap(),
            Some(("margin", v)) => verify.relative_margin = v.parse().unwrap(),
            Some(("floor", v)) => verify.relative_floor = v.parse().unwrap(),
            Some(("closure_margin", v)) => verify.closure_margin = v.parse().unwrap(),
            Some(("detour", v)) => verify.closure_detour = v.parse().unwrap(),
            Some(("ends", v)) => verify.end_candidates = v.parse().unwrap(),
            Some(("end_global", v)) => verify.end_global_init = v.parse().unwrap(),
            Some(("end_margin", v)) => verify.end_margin = v.parse().unwrap(),
            _ if a == "dump" => dump = true,
            _ => panic!("unknown argument {a}"),
        }
    }
    assert_eq!(graphs.first(), Some(&GraphKind::Knn), "graphs= starts with knn (the time reference)");
    if specs.is_empty() {
        specs = SWEEP.iter().map(|s| SetSpec::parse(s)).collect();
    }
    println!("{verify:?}; flow {flow_method}, λ {lambda}");
    print!("{:<28}", "set");
    for g in &graphs {
        print!(" {:>8}", g.name());
    }
    print!(" {:>8}", "euclid");
    for g in &graphs[1..] {
        print!(" {:>8}", format!("t_{}", g.name()));
    }
    println!(
        " {:>6} {:>4} {:>4} {:>4} {:>4} {:>5} {:>5} {:>7}  warnings (last graph)",
        "t_knn", "drop", "brid", "clos", "comp", "short", "eig2/1", "ends/g"
    );
    let mut rows: Vec<Row> = Vec::new();
    let mut euclid = Vec::new();
    for s in &specs {
        let scene = Scene::builtin(&s.scene).unwrap();
        let names: Vec<String> = s.param.split('+').map(String::from).collect();
        let index: Vec<usize> = names.iter().map(|p| scene.param_index(p).unwrap()).collect();
        // Full-range angles (360°) are periodic.
        let periods: Vec<f64> = index
            .iter()
            .map(|&pi| scene.parameters()[pi].max - scene.parameters()[pi].min)
            .map(|r| if r >= 360.0 - 1e-9 { r } else { f64::INFINITY })
            .collect();
        let params = scene_render::sample_parameters(&scene, &names, s.n, Sampling::Random, s.seed).unwrap();
        // A length may enter the truth as log or 1/length (`transform=NAME:log|inverse`): its derivative at the
        // scene default converts the flow scale.
        let transform = |name: &str| transforms.iter().rev().find(|(m, _)| m == name).map(|t| t.1.as_str());
        let apply = |name: &str, v: f64| match transform(name) {
            Some("log") => v.ln(),
            Some("inverse") => 1.0 / v,
            _ => v,
        };
        let slope = |name: &str, v: f64| match transform(name) {
            Some("log") => 1.0 / v,
            Some("inverse") => 1.0 / (v * v),
            _ => 1.0,
        };
        let set_scales: Vec<f64> = if flow_scales {
            let px = flow_per_unit(&scene, &index, s.size);
            let px: Vec<f64> = px
                .iter()
                .zip(&names)
                .zip(&index)
                .map(|((p, n), &pi)| p / slope(n, scene.parameters()[pi].default))
                .collect();
            px.iter().map(|p| px[0] / p).collect()
        } else {
            names.iter().map(|n| scales.iter().rev().find(|(m, _)| m == n).map_or(1.0, |c| c.1)).collect()
        };
        let truth: Vec<Vec<f64>> =
            index.iter().zip(&names).map(|(&pi, n)| params.iter().map(|p| apply(n, p.values[pi])).collect()).collect();
        let opts = RenderOptions { color: ColorMode::Gray, ..RenderOptions::square(s.size) };
        let frames: Vec<Array2<f32>> = render_set(&scene, &params, &opts)
            .unwrap()
            .iter()
            .map(|r| r.image.index_axis(Axis(2), 0).mapv(pixels::on_8bit_grid))
            .collect();
        let px = s.size * s.size;
        let data = Array2::from_shape_fn((s.n, px), |(i, p)| frames[i][[p / s.size, p % s.size]]);
        let columns: Vec<NamedColumn> =
            names.iter().zip(&truth).map(|(name, t)| NamedColumn { name, values: Some(t) }).collect();
        let input = GeodesicInput { data: data.view(), frames: Some(&frames), columns: &columns };
        // Several parameters: distances from every 50th view (as the README's two-parameter table), no embedding.
        let several = names.len() > 1;
        let base = GeodesicOptions {
            k: s.k,
            metric: Metric::Flow,
            truth: names.clone(),
            periodic: names
                .iter()
                .zip(&periods)
                .filter(|(_, p)| p.is_finite())
                .map(|(name, &period)| Periodic { name: name.clone(), period })
                .collect(),
            scales: names
                .iter()
                .zip(&set_scales)
                .filter(|(_, &c)| c != 1.0)
                .map(|(name, &scale)| ColumnScale { name: name.clone(), scale })
                .collect(),
            sources: several.then(|| (0..s.n).step_by(50).collect()),
            dims: if several { 0 } else { geodesic::DEFAULT_DIMS },
            verify,
            flow_method: flow_method.clone(),
            photometric_weight: lambda,
            ..GeodesicOptions::default()
        };
        let reports: Vec<geodesic::GeodesicReport> = graphs
            .iter()
            .map(|&graph| geodesic::run(input, &GeodesicOptions { graph, ..base.clone() }, &()).unwrap())
            .collect();
        let sp = |r: &geodesic::GeodesicReport| r.truth.as_ref().unwrap().correlations[0].1.spearman;
        let flow_t = |r: &geodesic::GeodesicReport| r.timings.iter().find(|t| t.0 == "flow").unwrap().1;
        let dtrue = |i: usize, j: usize| {
            truth
                .iter()
                .zip(&periods)
                .map(|(t, &p)| geodesic::periodic_distance(t[i], t[j], p).powi(2))
                .sum::<f64>()
                .sqrt()
        };
        let b = reports.last().unwrap();
        if several {
            // Stress of each graph, then agreement with the truth in raw units (no scales).
            let stress = |r: &geodesic::GeodesicReport| r.truth.as_ref().unwrap().correlations[0].1.stress;
            let sources = b.sources.clone().unwrap();
            let raw = |r: &geodesic::GeodesicReport| geodesic::agreement(r.distances.view(), &sources, &dtrue);
            let scaled: Vec<String> = set_scales.iter().map(|c| format!("{c:.4}")).collect();
            print!("{:<28} scales {} stress", "", scaled.join(","));
            for r in &reports {
                print!(" {:.3}", stress(r));
            }
            print!("; raw units spearman/stress");
            for r in &reports {
                let a = raw(r);
                print!(" {:.4}/{:.3}", a.spearman, a.stress);
            }
            // Each column in units of its full range relative to the first's (the full ranges weigh alike).
            let range: Vec<f64> = index
                .iter()
                .zip(&names)
                .map(|(&pi, n)| {
                    let spec = &scene.parameters()[pi];
                    (apply(n, spec.max) - apply(n, spec.min)).abs()
                })
                .collect();
            let by_range = |i: usize, j: usize| {
                truth
                    .iter()
                    .zip(&periods)
                    .zip(&range)
                    .map(|((t, &p), &r)| (geodesic::periodic_distance(t[i], t[j], p) * range[0] / r).powi(2))
                    .sum::<f64>()
                    .sqrt()
            };
            print!("; range-matched spearman/stress");
            for r in &reports {
                let a = geodesic::agreement(r.distances.view(), &sources, &by_range);
                print!(" {:.4}/{:.3}", a.spearman, a.stress);
            }
            println!();
        }
        let shortcuts = |r: &geodesic::GeodesicReport| r.edges.iter().filter(|e| dtrue(e.i, e.j) > 45.0).count();
        let eig = b.embedding.as_ref().map_or(vec![f64::NAN], |e| e.eigenvalues.clone());
        let warn: Vec<String> = b.diagnostics.warnings.iter().map(|w| w.kind.to_string()).collect();
        let eu = reports[0].truth.as_ref().unwrap().correlations[1].1.spearman;
        print!("{:<28}", s.name());
        for r in &reports {
            print!(" {:>8.4}", sp(r));
        }
        print!(" {eu:>8.4}");
        for r in &reports[1..] {
            print!(" {:>8.2}", flow_t(r) / flow_t(&reports[0]));
        }
        println!(
            " {:>6.2} {:>4} {:>4} {:>4} {:>4} {:>2}→{:<2} {:>6.3} {:>7}  {}",
            flow_t(&reports[0]),
            b.graph.dropped.len(),
            b.graph.bridges.len() + b.graph.verified_bridges.len(),
            b.graph.closures.len(),
            b.graph.components_before,
            shortcuts(&reports[0]),
            shortcuts(b),
            eig.get(1).copied().unwrap_or(0.0) / eig[0],
            format!(
                "{}/{}",
                b.graph.end_candidates.len(),
                b.graph.end_flow.iter().filter(|m| m.ends_with("global")).count()
            ),
            warn.join(",")
        );
        if dump {
            let used: std::collections::HashSet<(usize, usize)> = b.edges.iter().map(|e| (e.i, e.j)).collect();
            for c in &b.graph.candidates {
                println!(
                    "  {:>4} {:>4} dtrue {:>6.1} rms {:>6.2} ratio {:>5.3} margin {:>6.3} fb {:>6.3} {}{}{} w {:.4}",
                    c.i,
                    c.j,
                    dtrue(c.i, c.j),
                    c.measure.rms,
                    c.measure.residual_ratio(),
                    c.margin,
                    c.measure.fb_error,
                    if c.knn { "k" } else { "-" },
                    if c.verified { "v" } else { "-" },
                    if used.contains(&(c.i, c.j)) { "U" } else { "-" },
                    c.weight,
                );
            }
        }
        euclid.push(eu);
        let pairs = |r: &geodesic::GeodesicReport| {
            r.graph.candidates.len().max(r.edges.len()) as f64 / reports[0].edges.len() as f64
        };
        rows.push(Row {
            spearman: reports.iter().map(sp).collect(),
            seconds: reports.iter().map(flow_t).collect(),
            pairs: reports.iter().map(pairs).collect(),
        });
    }
    let stats = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[0], v[v.len() - 1])
    };
    println!("sets {}", specs.len());
    for (g, graph) in graphs.iter().enumerate() {
        let (m, w, _) = stats(rows.iter().map(|r| r.spearman[g]).collect());
        let above = rows.iter().zip(&euclid).filter(|(r, e)| r.spearman[g] > **e).count();
        let good = rows.iter().filter(|r| r.spearman[g] >= 0.95).count();
        print!(
            "{:<9} Spearman median {m:.4} worst {w:.4}; ≥ 0.95 on {good}; above the Euclidean graph on {above}",
            graph.name()
        );
        if g > 0 {
            let (tm, _, tw) = stats(rows.iter().map(|r| r.seconds[g] / r.seconds[0]).collect());
            let total: f64 =
                rows.iter().map(|r| r.seconds[g]).sum::<f64>() / rows.iter().map(|r| r.seconds[0]).sum::<f64>();
            let (pm, _, pw) = stats(rows.iter().map(|r| r.pairs[g]).collect());
            print!("; flow time / knn: median {tm:.2}, largest {tw:.2}, total {total:.2}; flow pairs / knn edges: median {pm:.2}, largest {pw:.2}");
        }
        println!();
    }
    let (m, w, _) = stats(euclid.clone());
    println!("euclidean graph Spearman median {m:.4} worst {w:.4}");
}
