//! Measurement sweep for the flow edge weight on rendered turntable sets: Spearman correlation of
//! geodesic distance with the true spin-angle distance, for several edge-weight variants computed from the same
//! forward and backward flows, next to Euclidean-graph geodesics and raw pixel distance.
//!
//! The "true rms" column weights the same edges by the renderer's true flow (pixels that become occluded count as
//! zero, so it is no oracle for shortcut edges); "max edge Δ°" is the largest true angle step on a kNN edge.
//!
//! `cargo run --release -p geodesic --example turntable_sweep -- [quick | grid | circle=N,SIZE,K,SEED] [method=NAME]
//! [dump]`: the named sets (the README's CLI set, the demo's quick and full sets, the test's segment, a few more;
//! `quick`: the first three), or the 48-set grid, or one full circle; NAME is an optical-flow method name (default
//! `dis`) or one of the measured variants fine-a5, fine-novar, fine-p12, fine-nomean; `dump` prints per-edge
//! measurements.

use geodesic::{agreement, knn_edges, pixel_distances, shortest_paths, Edge};
use ndarray::{Array2, Array3, ArrayView2, ArrayView3, Axis};
use optical_flow::{FlowEstimator, FlowParams};
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use scene_render::{render_set, ColorMode, RenderOptions, Sampling, Scene};

struct Set {
    name: String,
    frames: Vec<Array2<f32>>,
    data: Array2<f32>,
    truth: Vec<f64>,
    period: f64,
    k: usize,
    params: Vec<scene_render::Params>,
    opts: RenderOptions,
}

use seeds::sub_seed;

/// `angles` None: random full circle by `sample_parameters` (as `imanifold render` / the demo).
#[allow(clippy::too_many_arguments)]
fn make_set(
    name: &str,
    n: usize,
    size: usize,
    ssaa: usize,
    seed: u64,
    k: usize,
    segment: Option<(f64, f64)>,
    quantise: bool,
) -> Set {
    let scene = Scene::builtin("turntable").unwrap();
    let spin = scene.param_index("spin").unwrap();
    let spec = &scene.parameters()[spin];
    let (params, period) = match segment {
        None => {
            let p = scene_render::sample_parameters(&scene, &["spin".to_string()], n, Sampling::Random, seed).unwrap();
            (p, spec.max - spec.min)
        }
        Some((lo, hi)) => {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let p = (0..n)
                .map(|_| {
                    let mut p = scene.default_params();
                    p.values[spin] = rng.random_range(lo..hi);
                    p
                })
                .collect();
            (p, f64::INFINITY)
        }
    };
    let truth: Vec<f64> = params.iter().map(|p: &scene_render::Params| p.values[spin]).collect();
    let opts = RenderOptions { color: ColorMode::Gray, ssaa, ..RenderOptions::square(size) };
    let imgs = render_set(&scene, &params, &opts).unwrap();
    let frames: Vec<Array2<f32>> = imgs
        .iter()
        .map(|r| {
            let f = r.image.index_axis(Axis(2), 0).to_owned();
            if quantise {
                f.mapv(pixels::on_8bit_grid)
            } else {
                f
            }
        })
        .collect();
    let data = Array2::from_shape_fn((n, size * size), |(i, p)| frames[i][[p / size, p % size]]);
    Set { name: name.to_string(), frames, data, truth, period, k, params, opts }
}

/// Per-edge measurements from the forward and backward flows.
#[derive(Clone, Debug, Default)]
struct M {
    rms: f64,
    res: f64,
    /// fraction of pixels failing the forward–backward check (or leaving the frame), mean of both directions
    occ: f64,
    /// RMS displacement over consistent pixels only
    rms_cons: f64,
    /// RMS residual over consistent pixels only
    res_cons: f64,
    /// RMS forward–backward inconsistency |F_ij(x) + F_ji(x + F_ij(x))| over all pixels
    fb: f64,
    /// mean |F| (L1 over pixels of the vector length)
    mean_len: f64,
    /// symmetrised RMS of the true flow (oracle)
    truth_rms: f64,
}

fn sample(f: ArrayView2<f32>, x: f32, y: f32) -> f32 {
    let (h, w) = f.dim();
    let x = x.clamp(0.0, (w - 1) as f32);
    let y = y.clamp(0.0, (h - 1) as f32);
    let x0 = x.floor() as usize;
    let y0 = y.floor() as usize;
    let x1 = (x0 + 1).min(w - 1);
    let y1 = (y0 + 1).min(h - 1);
    let (ax, ay) = (x - x0 as f32, y - y0 as f32);
    let top = f[[y0, x0]] * (1.0 - ax) + f[[y0, x1]] * ax;
    let bot = f[[y1, x0]] * (1.0 - ax) + f[[y1, x1]] * ax;
    top * (1.0 - ay) + bot * ay
}

/// One direction: a = frame i, b = frame j, f = F_ij, g = F_ji.
fn one_dir(a: ArrayView2<f32>, b: ArrayView2<f32>, f: ArrayView3<f32>, g: ArrayView3<f32>) -> M {
    let (h, w) = a.dim();
    let gu = g.index_axis(Axis(2), 0);
    let gv = g.index_axis(Axis(2), 1);
    let (mut s2, mut s2c, mut nc, mut r2, mut r2c, mut fb2, mut len) = (0.0, 0.0, 0usize, 0.0, 0.0, 0.0, 0.0);
    for y in 0..h {
        for x in 0..w {
            let (u, v) = (f[[y, x, 0]], f[[y, x, 1]]);
            let (px, py) = (x as f32 + u, y as f32 + v);
            let d2 = (u * u + v * v) as f64;
            s2 += d2;
            len += d2.sqrt();
            let r = (sample(b, px, py) - a[[y, x]]) as f64;
            r2 += r * r;
            let inside = px >= -0.5 && py >= -0.5 && px <= w as f32 - 0.5 && py <= h as f32 - 0.5;
            let (bu, bv) = (sample(gu, px, py), sample(gv, px, py));
            let (cu, cv) = (u + bu, v + bv);
            let c2 = (cu * cu + cv * cv) as f64;
            fb2 += c2;
            let ok = inside && c2 <= 0.01 * (d2 + (bu * bu + bv * bv) as f64) + 0.5;
            if ok {
                nc += 1;
                s2c += d2;
                r2c += r * r;
            }
        }
    }
    let np = (h * w) as f64;
    let ncf = nc.max(1) as f64;
    M {
        rms: (s2 / np).sqrt(),
        res: (r2 / np).sqrt(),
        occ: 1.0 - nc as f64 / np,
        rms_cons: (s2c / ncf).sqrt(),
        res_cons: (r2c / ncf).sqrt(),
        fb: (fb2 / np).sqrt(),
        mean_len: len / np,
        truth_rms: 0.0,
    }
}

fn avg(a: &M, b: &M) -> M {
    M {
        rms: 0.5 * (a.rms + b.rms),
        res: 0.5 * (a.res + b.res),
        occ: 0.5 * (a.occ + b.occ),
        rms_cons: 0.5 * (a.rms_cons + b.rms_cons),
        res_cons: 0.5 * (a.res_cons + b.res_cons),
        fb: 0.5 * (a.fb + b.fb),
        mean_len: 0.5 * (a.mean_len + b.mean_len),
        truth_rms: 0.0,
    }
}

fn measure(set: &Set, edges: &[Edge], params: &FlowParams) -> Vec<M> {
    let est = FlowEstimator::new(params.clone()).unwrap();
    let prep: Vec<_> = set.frames.iter().map(|f| est.prepare(f.view()).unwrap()).collect();
    edges
        .par_iter()
        .map(|e| {
            let f: Array3<f32> = est.flow(&prep[e.i], &prep[e.j]).unwrap();
            let g: Array3<f32> = est.flow(&prep[e.j], &prep[e.i]).unwrap();
            let (a, b) = (set.frames[e.i].view(), set.frames[e.j].view());
            let mut m = avg(&one_dir(a, b, f.view(), g.view()), &one_dir(b, a, g.view(), f.view()));
            let scene = Scene::builtin("turntable").unwrap();
            let tf = scene_render::true_flow(&scene, &set.params[e.i], &set.params[e.j], &set.opts).unwrap();
            let tb = scene_render::true_flow(&scene, &set.params[e.j], &set.params[e.i], &set.opts).unwrap();
            m.truth_rms = 0.5 * (true_rms(&tf) + true_rms(&tb));
            m
        })
        .collect()
}

fn true_rms(f: &scene_render::FlowField) -> f64 {
    let n = f.valid.len() as f64;
    let mut s = 0.0;
    for ((y, x), &ok) in f.valid.indexed_iter() {
        if ok {
            s += (f.flow[[y, x, 0]] as f64).powi(2) + (f.flow[[y, x, 1]] as f64).powi(2);
        }
    }
    (s / n).sqrt()
}

type Variant = (&'static str, Box<dyn Fn(&M) -> f64 + Sync>);

fn variants() -> Vec<Variant> {
    vec![
        ("true rms", Box::new(|m: &M| m.truth_rms)),
        ("base λ10", Box::new(|m: &M| m.rms + 10.0 * m.res)),
        ("λ30", Box::new(|m: &M| m.rms + 30.0 * m.res)),
        ("λ100", Box::new(|m: &M| m.rms + 100.0 * m.res)),
        ("rms only", Box::new(|m: &M| m.rms)),
        ("res only", Box::new(|m: &M| m.res)),
        ("mean|F|+10ρ", Box::new(|m: &M| m.mean_len + 10.0 * m.res)),
        ("rms+10ρ+fb", Box::new(|m: &M| m.rms + 10.0 * m.res + m.fb)),
        ("rms+10ρ+2fb", Box::new(|m: &M| m.rms + 10.0 * m.res + 2.0 * m.fb)),
        ("cons+10ρc+10o", Box::new(|m: &M| m.rms_cons * (1.0 - m.occ) + 10.0 * m.res_cons + 10.0 * m.occ)),
        ("rms+10ρ+10o", Box::new(|m: &M| m.rms + 10.0 * m.res + 10.0 * m.occ)),
    ]
}

// A measurement script: one sequence of named sweeps, read top to bottom.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let has = |a: &str| args.iter().any(|x| x == a);
    let (quick, dump, grid) = (has("quick"), has("dump"), has("grid"));
    let mut sets: Vec<Set> = Vec::new();
    if grid {
        // Full circles (periodic truth) over n, size, k and seeds; segments of 120° (plain truth).
        for &n in &[40, 60, 90] {
            for &size in &[48, 64] {
                for &k in &[6, 8] {
                    for seed in 1..=3u64 {
                        let name = format!("circle n{n} s{size} k{k} seed{seed}");
                        sets.push(make_set(&name, n, size, 4, seed, k, None, true));
                    }
                }
            }
        }
        for &n in &[30, 50] {
            for &size in &[48, 64] {
                for seed in 1..=3u64 {
                    let name = format!("segment120 n{n} s{size} k6 seed{seed}");
                    sets.push(make_set(&name, n, size, 4, 100 + seed, 6, Some((-60.0, 60.0)), true));
                }
            }
        }
    } else if let Some(spec) = args.iter().find_map(|a| a.strip_prefix("circle=")) {
        // circle=N,SIZE,K,SEED
        let v: Vec<u64> = spec.split(',').map(|x| x.parse().unwrap()).collect();
        let name = format!("circle n{} s{} k{} seed{}", v[0], v[1], v[2], v[3]);
        sets.push(make_set(&name, v[0] as usize, v[1] as usize, 4, v[3], v[2] as usize, None, true));
    } else {
        // The README's CLI set: render --n 60 --size 64 --gray --seed 3 (PNG = 8-bit), geodesic --k 6.
        sets.push(make_set("circle n60 s64 seed3 k6", 60, 64, 4, 3, 6, None, true));
        // The demo's quick set: n 60, size 64, k 6, seed sub_seed(0, 200), unquantised.
        sets.push(make_set("demo quick n60 s64 k6", 60, 64, 4, sub_seed(0, 200), 6, None, false));
        // The test's segment set.
        sets.push(make_set("segment n50 s48 ssaa2 k6", 50, 48, 2, 4, 6, Some((-80.0, 80.0)), false));
        if !quick {
            sets.push(make_set("circle n40 s64 seed1 k6", 40, 64, 4, 1, 6, None, true));
            sets.push(make_set("circle n90 s64 seed5 k6", 90, 64, 4, 5, 6, None, true));
            sets.push(make_set("circle n60 s48 seed7 k6", 60, 48, 4, 7, 6, None, true));
            sets.push(make_set("circle n90 s48 seed11 k8", 90, 48, 4, 11, 8, None, true));
            sets.push(make_set("segment n40 s64 seed2 k6", 40, 64, 4, 2, 6, Some((0.0, 120.0)), true));
            sets.push(make_set("demo full n150 s64 k8", 150, 64, 4, sub_seed(0, 200), 8, None, false));
        }
    }
    let vars = variants();
    let method = std::env::args().find_map(|a| a.strip_prefix("method=").map(String::from));
    let params = match method.as_deref().unwrap_or("dis") {
        // Variants of dis-fine (measurement only).
        "fine-a5" => {
            let mut p = optical_flow::DisParams::fine();
            p.variational.alpha = 5.0;
            FlowParams::new(optical_flow::FlowMethod::Dis(p))
        }
        "fine-novar" => {
            let mut p = optical_flow::DisParams::fine();
            p.variational.outer_iters = 0;
            FlowParams::new(optical_flow::FlowMethod::Dis(p))
        }
        "fine-p12" => {
            let mut p = optical_flow::DisParams::fine();
            p.patch_size = 12;
            p.patch_stride = 4;
            FlowParams::new(optical_flow::FlowMethod::Dis(p))
        }
        "fine-nomean" => {
            let mut p = optical_flow::DisParams::fine();
            p.mean_normalization = false;
            FlowParams::new(optical_flow::FlowMethod::Dis(p))
        }
        name => FlowParams::from_name(name).unwrap(),
    };
    println!("flow method {}", params.method.name());
    let mut table: Vec<(String, Vec<f64>)> = Vec::new();
    for set in &sets {
        let n = set.frames.len();
        let t = std::time::Instant::now();
        let edges = knn_edges(set.data.view(), set.k).unwrap();
        let ms = measure(set, &edges, &params);
        let all: Vec<usize> = (0..n).collect();
        let period = set.period;
        let truth = |i: usize, j: usize| {
            let d = (set.truth[i] - set.truth[j]).abs();
            if period.is_finite() {
                let d = d % period;
                d.min(period - d)
            } else {
                d
            }
        };
        let mut ratios: Vec<f64> = ms.iter().filter(|m| m.truth_rms > 0.05).map(|m| m.rms / m.truth_rms).collect();
        ratios.sort_by(f64::total_cmp);
        let q = |f: f64| ratios[((ratios.len() - 1) as f64 * f) as usize];
        eprintln!("  flow rms / true rms: 10% {:.3}, median {:.3}, 90% {:.3}", q(0.1), q(0.5), q(0.9));
        let mut row = Vec::new();
        let eu = agreement(shortest_paths(n, &edges, &all).unwrap().view(), &all, &truth).spearman;
        let px = agreement(pixel_distances(set.data.view()).unwrap().view(), &all, &truth).spearman;
        for (_, w) in &vars {
            let mut e2 = edges.clone();
            for (e, m) in e2.iter_mut().zip(&ms) {
                e.weight = w(m);
            }
            row.push(agreement(shortest_paths(n, &e2, &all).unwrap().view(), &all, &truth).spearman);
        }
        row.push(eu);
        row.push(px);
        // Longest true angle step on a kNN edge: a shortcut between look-alike views far apart on the circle.
        row.push(edges.iter().map(|e| truth(e.i, e.j)).fold(0.0, f64::max));
        let (parts, _) = geodesic::components(n, &edges);
        eprintln!("{} ({} edges, {parts} components, {:.1}s)", set.name, edges.len(), t.elapsed().as_secs_f64());
        if dump {
            println!("# {}", set.name);
            println!("i,j,dtrue,euclid,rms,res,occ,rms_cons,res_cons,fb,mean_len,truth_rms");
            for (e, m) in edges.iter().zip(&ms) {
                println!(
                    "{},{},{:.2},{:.3},{:.3},{:.4},{:.3},{:.3},{:.4},{:.3},{:.3},{:.3}",
                    e.i,
                    e.j,
                    truth(e.i, e.j),
                    e.euclidean,
                    m.rms,
                    m.res,
                    m.occ,
                    m.rms_cons,
                    m.res_cons,
                    m.fb,
                    m.mean_len,
                    m.truth_rms
                );
            }
        }
        table.push((format!("{}{}", set.name, if parts > 1 { " *" } else { "" }), row));
    }
    let mut header = format!("{:<28}", "set");
    for (name, _) in &vars {
        header.push_str(&format!(" {:>13}", name));
    }
    header.push_str(&format!(" {:>13} {:>13} {:>13}", "eucl graph", "pixel", "max edge Δ°"));
    println!("{header}");
    for (name, row) in &table {
        let mut line = format!("{name:<28}");
        for v in row {
            line.push_str(&format!(" {v:>13.4}"));
        }
        println!("{line}");
    }
    // Per variant: over the sets whose kNN graph has no shortcut edge (every edge joins views less than 45° apart),
    // how many reach ≥ 0.95 and beat Euclidean-graph geodesics and pixel distance; minimum and mean Spearman; the
    // smallest margin over Euclidean-graph geodesics. Then how often each beats Euclidean on the other sets.
    let nv = vars.len();
    let good: Vec<&(String, Vec<f64>)> = table.iter().filter(|(_, r)| r[nv + 2] < 45.0).collect();
    let bad: Vec<&(String, Vec<f64>)> = table.iter().filter(|(_, r)| r[nv + 2] >= 45.0).collect();
    println!("summary over {} of {} sets without shortcut edges", good.len(), table.len());
    for (v, (name, _)) in vars.iter().enumerate() {
        let ok = good.iter().filter(|(_, r)| r[v] >= 0.95 && r[v] > r[nv] && r[v] > r[nv + 1]).count();
        let min = good.iter().map(|(_, r)| r[v]).fold(f64::INFINITY, f64::min);
        let margin = good.iter().map(|(_, r)| r[v] - r[nv]).fold(f64::INFINITY, f64::min);
        let mean = good.iter().map(|(_, r)| r[v]).sum::<f64>() / good.len().max(1) as f64;
        let beat = bad.iter().filter(|(_, r)| r[v] > r[nv]).count();
        println!(
            "  {name:<16} pass {ok:>3}/{}  min {min:.4}  mean {mean:.4}  min margin over Euclidean {margin:+.4}  \
             | shortcut sets: beats Euclidean {beat}/{}",
            good.len(),
            bad.len()
        );
    }
}
