//! Measured flow against the renderer's true flow as a function of the true angle between two views: for every
//! pair of a randomly sampled full circle whose true angle is at most `max=DEG` (default 45°), the symmetrised RMS
//! of the measured flow (as the geodesic edge weight measures it) over the symmetrised RMS of the true flow, and the
//! endpoint error against the truth on the pixels valid in the truth, binned by the true angle.
//!
//! `cargo run --release -p geodesic --example flow_gap -- [set=SCENE:PARAM:N:SIZE:K:SEED ...] [method=NAME]
//! [max=DEG]`; default the four room sets below 0.90 of the graph sweep and `dis-fine`.

use ndarray::{Array2, Axis};
use optical_flow::{FlowEstimator, FlowParams};
use rayon::prelude::*;
use scene_render::{render_set, ColorMode, RenderOptions, Sampling, Scene};

/// One pair: true angle, measured and true symmetrised RMS flow (px), mean endpoint error over valid pixels, residual
/// ratio, RMS residual, and the residual ratio over the pixels whose flow stays inside the frame.
struct PairRow(f64, f64, f64, f64, f64, f64, f64);

fn rms(f: &ndarray::Array3<f32>) -> f64 {
    let n = (f.len() / 2).max(1) as f64;
    (f.iter().map(|&x| x as f64 * x as f64).sum::<f64>() / n).sqrt()
}

fn main() {
    let mut sets = Vec::new();
    let mut method = geodesic::DEFAULT_FLOW_METHOD.to_string();
    let mut max = 45.0f64;
    for a in std::env::args().skip(1) {
        match a.split_once('=') {
            Some(("set", v)) => sets.push(v.to_string()),
            Some(("method", v)) => method = v.into(),
            Some(("max", v)) => max = v.parse().unwrap(),
            _ => panic!("unknown argument {a}"),
        }
    }
    if sets.is_empty() {
        sets = ["room:yaw:90:48:8:2", "room:yaw:70:64:6:10", "room:yaw:80:40:8:6", "room:yaw:60:32:6:1"]
            .map(String::from)
            .to_vec();
    }
    let params: FlowParams = FlowParams::new(method.parse().unwrap());
    let est = FlowEstimator::new(params).unwrap();
    println!("method {method}");
    for s in &sets {
        let f: Vec<&str> = s.split(':').collect();
        let scene = Scene::builtin(f[0]).unwrap();
        let (n, size, seed): (usize, usize, u64) =
            (f[2].parse().unwrap(), f[3].parse().unwrap(), f[5].parse().unwrap());
        let pi = scene.param_index(f[1]).unwrap();
        let ps = scene_render::sample_parameters(&scene, &[f[1].to_string()], n, Sampling::Random, seed).unwrap();
        let opts = RenderOptions { color: ColorMode::Gray, ..RenderOptions::square(size) };
        let frames: Vec<Array2<f32>> = render_set(&scene, &ps, &opts)
            .unwrap()
            .iter()
            .map(|r| r.image.index_axis(Axis(2), 0).mapv(pixels::on_8bit_grid))
            .collect();
        let prepared: Vec<_> = frames.iter().map(|f| est.prepare(f.view()).unwrap()).collect();
        let ang = |i: usize, j: usize| geodesic::periodic_distance(ps[i].values[pi], ps[j].values[pi], 360.0);
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| ps[a].values[pi].total_cmp(&ps[b].values[pi]));
        let mut gaps: Vec<(f64, usize, usize)> =
            (0..n).map(|k| (ang(order[k], order[(k + 1) % n]), order[k], order[(k + 1) % n])).collect();
        gaps.sort_by(|a, b| b.0.total_cmp(&a.0));
        let g: Vec<String> = gaps.iter().take(4).map(|g| format!("{:.1}° ({}–{})", g.0, g.1, g.2)).collect();
        println!("{s}: largest gaps {}", g.join(", "));
        if let Ok(v) = std::env::var("FLOW_GAP_ANGLE") {
            let target: f64 = v.parse().unwrap();
            let (i, j) = (0..n)
                .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
                .min_by(|a, b| (ang(a.0, a.1) - target).abs().total_cmp(&(ang(b.0, b.1) - target).abs()))
                .unwrap();
            let m = est.flow(&prepared[i], &prepared[j]).unwrap();
            let t = scene_render::true_flow(&scene, &ps[i], &ps[j], &opts).unwrap();
            println!("pair {i} {j} angle {:.1}: rows of u (measured / true, * invalid)", ang(i, j));
            for y in (0..size).step_by(size / 8) {
                let line: Vec<String> = (0..size)
                    .step_by(size / 8)
                    .map(|x| {
                        let inv = if t.valid[[y, x]] { ' ' } else { '*' };
                        format!("{:5.1}/{:5.1}{inv}", m[[y, x, 0]], t.flow[[y, x, 0]])
                    })
                    .collect();
                println!("  {}", line.join(" "));
            }
        }
        let pairs: Vec<(usize, usize)> =
            (0..n).flat_map(|i| (i + 1..n).map(move |j| (i, j))).filter(|&(i, j)| ang(i, j) <= max).collect();
        let flow_ns = std::sync::atomic::AtomicU64::new(0);
        let rows: Vec<PairRow> = pairs
            .par_iter()
            .map(|&(i, j)| {
                let t0 = std::time::Instant::now();
                let fwd = est.flow(&prepared[i], &prepared[j]).unwrap();
                let bwd = est.flow(&prepared[j], &prepared[i]).unwrap();
                let ns = t0.elapsed().as_nanos() as u64;
                flow_ns.fetch_add(ns, std::sync::atomic::Ordering::Relaxed);
                let tf = scene_render::true_flow(&scene, &ps[i], &ps[j], &opts).unwrap();
                let tb = scene_render::true_flow(&scene, &ps[j], &ps[i], &opts).unwrap();
                let (mut e, mut c) = (0.0f64, 0usize);
                for (m, t) in [(&fwd, &tf), (&bwd, &tb)] {
                    for ((y, x), &v) in t.valid.indexed_iter() {
                        if v {
                            let du = (m[[y, x, 0]] - t.flow[[y, x, 0]]) as f64;
                            let dv = (m[[y, x, 1]] - t.flow[[y, x, 1]]) as f64;
                            e += (du * du + dv * dv).sqrt();
                            c += 1;
                        }
                    }
                }
                let measured = 0.5 * (rms(&fwd) + rms(&bwd));
                let truth = 0.5 * (rms(&tf.flow) + rms(&tb.flow));
                let res = |a: &Array2<f32>, b: &Array2<f32>, f: &ndarray::Array3<f32>| {
                    let w = optical_flow::warp(b.view(), f.view()).unwrap();
                    (w.iter().zip(a.iter()).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum::<f64>() / a.len() as f64)
                        .sqrt()
                };
                let r = 0.5 * (res(&frames[i], &frames[j], &fwd) + res(&frames[j], &frames[i], &bwd));
                // Over the pixels whose flow stays inside the frame (clamped look-ups excluded).
                let res_in = |a: &Array2<f32>, b: &Array2<f32>, f: &ndarray::Array3<f32>| {
                    let w = optical_flow::warp(b.view(), f.view()).unwrap();
                    let (h, wd) = a.dim();
                    let (mut s, mut c) = (0.0f64, 0usize);
                    for y in 0..h {
                        for x in 0..wd {
                            let (tx, ty) = (x as f32 + f[[y, x, 0]], y as f32 + f[[y, x, 1]]);
                            if tx >= 0.0 && ty >= 0.0 && tx <= (wd - 1) as f32 && ty <= (h - 1) as f32 {
                                s += (w[[y, x]] as f64 - a[[y, x]] as f64).powi(2);
                                c += 1;
                            }
                        }
                    }
                    (s / c.max(1) as f64).sqrt()
                };
                let r_in = 0.5 * (res_in(&frames[i], &frames[j], &fwd) + res_in(&frames[j], &frames[i], &bwd));
                let plain =
                    (frames[i].iter().zip(frames[j].iter()).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum::<f64>()
                        / frames[i].len() as f64)
                        .sqrt();
                PairRow(ang(i, j), measured, truth, e / c.max(1) as f64, r / plain, r, r_in / plain)
            })
            .collect();
        let ms = flow_ns.into_inner() as f64 / 1e6 / (2 * rows.len()).max(1) as f64;
        println!("{s}: {} pairs within {max}°; {ms:.2} ms per flow (thread time)", rows.len());
        println!(
            "  {:>9} {:>5} {:>8} {:>8} {:>7} {:>7} {:>9} {:>9}",
            "angle", "pairs", "true px", "meas px", "ratio", "EPE", "res ratio", "in-frame"
        );
        let step = if max > 60.0 { 15.0 } else { 5.0 };
        let mut lo = 0.0;
        while lo < max {
            let mut b: Vec<&PairRow> = rows.iter().filter(|r| r.0 >= lo && r.0 < lo + step).collect();
            if !b.is_empty() {
                b.sort_by(|x, y| (x.1 / x.2).total_cmp(&(y.1 / y.2)));
                let med = |v: Vec<f64>| {
                    let mut v = v;
                    v.sort_by(f64::total_cmp);
                    v[v.len() / 2]
                };
                println!(
                    "  {:>3.0}–{:<3.0}° {:>5} {:>8.2} {:>8.2} {:>7.3} {:>7.2} {:>9.3} {:>9.3}",
                    lo,
                    lo + step,
                    b.len(),
                    med(b.iter().map(|r| r.2).collect()),
                    med(b.iter().map(|r| r.1).collect()),
                    med(b.iter().map(|r| r.1 / r.2).collect()),
                    med(b.iter().map(|r| r.3).collect()),
                    med(b.iter().map(|r| r.4).collect()),
                    med(b.iter().map(|r| r.6).collect()),
                );
            }
            lo += step;
        }
        // Geodesics over the graph of all pairs within `max` (chosen with the truth), for several weights.
        let sources: Vec<usize> = (0..n).collect();
        let geo = |wt: &dyn Fn(&PairRow) -> f64| {
            let edges: Vec<geodesic::Edge> = pairs
                .iter()
                .zip(&rows)
                .map(|(&(i, j), r)| geodesic::Edge {
                    i,
                    j,
                    euclidean: 0.0,
                    flow_rms: None,
                    residual: None,
                    weight: wt(r),
                })
                .collect();
            let d = geodesic::shortest_paths(n, &edges, &sources).unwrap();
            geodesic::agreement(d.view(), &sources, &|i, j| ang(i, j)).spearman
        };
        println!(
            "  graph of all pairs within {max}°: Spearman with weight rms + 10·res {:.4}, rms {:.4}, true rms {:.4}",
            geo(&|r| r.1 + 10.0 * r.5),
            geo(&|r| r.1),
            geo(&|r| r.2)
        );
    }
}
