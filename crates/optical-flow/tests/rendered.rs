//! Flow on rendered pairs against the renderer's ground-truth flow (computed from depth and the two cameras).

use ndarray::Axis;
use optical_flow::{compute_flow, FlowParams};
use scene_render::{render, true_flow, ColorMode, RenderOptions, Scene};

/// Mean endpoint error over the pixels where the true flow is valid (visible in both frames, not background).
fn rendered_epe(scene: &str, changes: &[(&str, f64)]) -> (f64, f64, usize) {
    let scene = Scene::builtin(scene).unwrap();
    let a = scene.default_params();
    let mut b = a.clone();
    for (name, delta) in changes {
        b.values[scene.param_index(name).unwrap()] += delta;
    }
    let opts = RenderOptions { color: ColorMode::Gray, ..RenderOptions::square(128) };
    let f1 = render(&scene, &a, &opts).unwrap().image.index_axis(Axis(2), 0).to_owned();
    let f2 = render(&scene, &b, &opts).unwrap().image.index_axis(Axis(2), 0).to_owned();
    let truth = true_flow(&scene, &a, &b, &opts).unwrap();
    let est = compute_flow(f1.view(), f2.view(), &FlowParams::default()).unwrap();
    let (mut sum, mut mag, mut count) = (0.0, 0.0, 0);
    for ((y, x), &ok) in truth.valid.indexed_iter() {
        if ok {
            let du = est[[y, x, 0]] - truth.flow[[y, x, 0]];
            let dv = est[[y, x, 1]] - truth.flow[[y, x, 1]];
            sum += ((du * du + dv * dv) as f64).sqrt();
            mag += (truth.flow[[y, x, 0]].hypot(truth.flow[[y, x, 1]])) as f64;
            count += 1;
        }
    }
    (sum / count as f64, mag / count as f64, count)
}

#[test]
fn flow_matches_rendered_ground_truth() {
    // Camera orbit, elevation, dolly and shift on the textured object scene; bounds hold with margin (measured
    // values are printed).
    for (changes, bound) in [
        (vec![("yaw", 3.0)], 0.6),
        (vec![("pitch", 3.0)], 0.6),
        (vec![("distance", -0.15)], 0.6),
        (vec![("shift_x", 0.05)], 0.6),
    ] {
        let (epe, mean_motion, valid) = rendered_epe("object", &changes);
        eprintln!("{changes:?}: mean EPE {epe:.3} px over {valid} valid pixels (mean true motion {mean_motion:.2} px)");
        assert!(valid > 2000, "enough valid pixels");
        assert!(mean_motion > 0.5, "the motion is not trivial");
        assert!(epe < bound, "{changes:?}: mean EPE {epe} ≥ {bound}");
    }
}

/// RMS flow magnitude of `method` over the RMS of the renderer's true flow (over every pixel, as the geodesic edge
/// weight measures it) for room views `delta` degrees of camera yaw apart at 48 px, one ratio per base yaw (every
/// 30°).
fn room_rms_ratios(method: &str, delta: f64) -> Vec<f64> {
    let scene = Scene::builtin("room").unwrap();
    let yaw = scene.param_index("yaw").unwrap();
    let opts = RenderOptions { color: ColorMode::Gray, ..RenderOptions::square(48) };
    let params = FlowParams::from_name(method).unwrap();
    let rms =
        |f: &ndarray::Array3<f32>| (f.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / (f.len() / 2) as f64).sqrt();
    (0..12)
        .map(|b| -165.0 + 30.0 * b as f64)
        .map(|base| {
            let mut a = scene.default_params();
            a.values[yaw] = base;
            let mut b = a.clone();
            b.values[yaw] = base + delta;
            let f1 = render(&scene, &a, &opts).unwrap().image.index_axis(Axis(2), 0).mapv(pixels::on_8bit_grid);
            let f2 = render(&scene, &b, &opts).unwrap().image.index_axis(Axis(2), 0).mapv(pixels::on_8bit_grid);
            let truth = true_flow(&scene, &a, &b, &opts).unwrap();
            rms(&compute_flow(f1.view(), f2.view(), &params).unwrap()) / rms(&truth.flow)
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Room views 25° of camera yaw apart at 48 px (about 13 px of RMS image motion, walls moving one way and the floor
/// the other): `dis-fine` stops near one patch of motion and measures about half of it; `dis-global`, which also
/// starts the patch search from the pair's global translations, measures most of it. Small motions (5°) are
/// measured alike by both.
#[test]
fn global_initialisation_follows_large_room_motion() {
    let (fine, global) = (room_rms_ratios("dis-fine", 25.0), room_rms_ratios("dis-global", 25.0));
    eprintln!("25°: RMS ratio dis-fine {fine:.3?}, dis-global {global:.3?}");
    assert!(median(fine.clone()) < 0.7, "dis-fine {fine:?}");
    assert!((0.75..1.25).contains(&median(global.clone())), "dis-global {global:?}");
    let (fine, global) = (room_rms_ratios("dis-fine", 5.0), room_rms_ratios("dis-global", 5.0));
    eprintln!("5°: RMS ratio dis-fine {fine:.3?}, dis-global {global:.3?}");
    assert!((median(fine) - median(global)).abs() < 0.1);
}

/// The same result at one and two threads (the global search is sequential per pair; pairs run in parallel).
#[test]
fn global_initialisation_is_deterministic() {
    let scene = Scene::builtin("room").unwrap();
    let yaw = scene.param_index("yaw").unwrap();
    let opts = RenderOptions { color: ColorMode::Gray, ..RenderOptions::square(40) };
    let frames: Vec<_> = [0.0, 20.0, 45.0]
        .iter()
        .map(|&y| {
            let mut p = scene.default_params();
            p.values[yaw] = y;
            render(&scene, &p, &opts).unwrap().image.index_axis(Axis(2), 0).to_owned()
        })
        .collect();
    let est = optical_flow::FlowEstimator::new(FlowParams::from_name("dis-global").unwrap()).unwrap();
    let prepared: Vec<_> = frames.iter().map(|f| est.prepare(f.view()).unwrap()).collect();
    let pairs = [(0, 1), (1, 2), (0, 2), (2, 0)];
    let at = |threads| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| est.flow_pairs(&prepared, &pairs).into_iter().map(|f| f.unwrap()).collect::<Vec<_>>())
    };
    assert_eq!(at(1), at(2));
}
