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
