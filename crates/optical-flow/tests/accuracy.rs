//! Accuracy against known flow: the convention, translations, rotations and smooth random deformations of
//! synthetic textures and of a real photograph, determinism across thread counts.

use std::path::Path;

use ndarray::{Array2, Axis};
use optical_flow::synthetic::{motion_field, warped_pair, Motion, Texture};
use optical_flow::{
    compute_flow, endpoint_error, read_gray, warp, DisParams, FlowEstimator, FlowMethod, FlowParams, Morph, MorphParams,
};

fn mean_epe(method: &str, motion: Motion, size: usize, seed: u64) -> f64 {
    let truth = motion_field(motion, size, size);
    let (f1, f2) = warped_pair(&Texture::new(seed), &truth);
    let flow = compute_flow(f1.view(), f2.view(), &FlowParams::from_name(method).unwrap()).unwrap();
    endpoint_error(flow.view(), truth.view()).unwrap().mean
}

#[test]
fn convention_content_moving_right_gives_positive_u() {
    // frame2 shows frame1's content moved 3 px to the right and 2 px down: frame2(x + 3, y + 2) = frame1(x, y).
    let tex = Texture::new(11);
    let (w, h) = (96, 80);
    let f1 = Array2::from_shape_fn((h, w), |(y, x)| tex.at(x as f32, y as f32));
    let f2 = Array2::from_shape_fn((h, w), |(y, x)| tex.at(x as f32 - 3.0, y as f32 - 2.0));
    for method in ["dis", "dis-fine", "variational"] {
        let flow = compute_flow(f1.view(), f2.view(), &FlowParams::from_name(method).unwrap()).unwrap();
        let inner = flow.slice(ndarray::s![8..h - 8, 8..w - 8, ..]);
        let u = inner.index_axis(Axis(2), 0).mean().unwrap();
        let v = inner.index_axis(Axis(2), 1).mean().unwrap();
        assert!((u - 3.0).abs() < 0.05 && (v - 2.0).abs() < 0.05, "{method}: mean flow ({u}, {v}), want (3, 2)");
        // warp(frame2, flow) reproduces frame1.
        let back = warp(f2.view(), flow.view()).unwrap();
        let err = (&back - &f1).slice(ndarray::s![8..h - 8, 8..w - 8]).mapv(f32::abs).mean().unwrap();
        assert!(err < 0.01, "{method}: warp(frame2, flow) differs from frame1 by {err}");
    }
}

#[test]
fn translation_rotation_and_smooth_warps_of_textures() {
    // Bounds are about 2× the measured errors (see the README); the last column is the zero-flow error, which
    // a method must beat by far.
    let cases: [(Motion, f64, f64); 4] = [
        (Motion::Translation { u: 2.3, v: -1.6 }, 0.15, 0.09),
        (Motion::Rotation { degrees: 4.0, zoom: 1.0 }, 0.20, 0.15),
        (Motion::Rotation { degrees: -2.0, zoom: 1.04 }, 0.20, 0.15),
        (Motion::Smooth { seed: 5, max_disp: 6.0 }, 0.22, 0.12),
    ];
    for (i, (motion, bound_medium, bound_fine)) in cases.into_iter().enumerate() {
        let zero = {
            let t = motion_field(motion, 128, 128);
            t.map_axis(Axis(2), |p| p[0].hypot(p[1])).mean().unwrap() as f64
        };
        let medium = mean_epe("dis", motion, 128, 20 + i as u64);
        let fine = mean_epe("dis-fine", motion, 128, 20 + i as u64);
        println!("{motion:?}: zero flow {zero:.3}, dis {medium:.4}, dis-fine {fine:.4}");
        assert!(medium < bound_medium, "{motion:?}: dis EPE {medium} ≥ {bound_medium}");
        assert!(fine < bound_fine, "{motion:?}: dis-fine EPE {fine} ≥ {bound_fine}");
        assert!(medium < 0.1 * zero && fine < 0.1 * zero);
    }
}

#[test]
fn variational_method_recovers_small_smooth_motion() {
    let e = mean_epe("variational", Motion::Smooth { seed: 9, max_disp: 3.0 }, 96, 3);
    println!("variational EPE {e:.4}");
    assert!(e < 0.10, "variational EPE {e}");
}

#[test]
fn smooth_warp_of_a_real_photograph() {
    // camera_128.png: scikit-image's "camera" photograph (CC0), see tests/data/README.md. frame2 is the photo,
    // frame1 its bilinear warp by a smooth field, so frame2(x + f(x)) = frame1(x) up to interpolation.
    let photo = read_gray(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/camera_128.png").as_path()).unwrap();
    let truth = motion_field(Motion::Smooth { seed: 2, max_disp: 4.0 }, 128, 128);
    let f1 = warp(photo.view(), truth.view()).unwrap();
    for (method, bound) in [("dis", 0.30), ("dis-fine", 0.08)] {
        let flow = compute_flow(f1.view(), photo.view(), &FlowParams::from_name(method).unwrap()).unwrap();
        let e = endpoint_error(flow.view(), truth.view()).unwrap();
        println!("camera, {method}: mean EPE {:.4}, median {:.4}", e.mean, e.median);
        assert!(e.mean < bound, "{method}: mean EPE {} ≥ {bound}", e.mean);
    }
}

#[test]
fn same_result_whatever_the_thread_count() {
    let est = FlowEstimator::new(FlowParams::default()).unwrap();
    let frames: Vec<_> = (0..4)
        .map(|i| {
            let t = motion_field(Motion::Smooth { seed: i, max_disp: 3.0 }, 64, 64);
            let (f1, _) = warped_pair(&Texture::new(1), &t);
            est.prepare(f1.view()).unwrap()
        })
        .collect();
    let pairs = [(0, 1), (1, 2), (2, 3), (3, 0), (1, 0)];
    let run = |threads| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| est.flow_pairs(&frames, &pairs)).into_iter().map(|r| r.unwrap()).collect::<Vec<_>>()
    };
    let (one, two) = (run(1), run(2));
    assert_eq!(one, two);
    // The batch result equals the single-pair call.
    assert_eq!(one[2], est.flow(&frames[2], &frames[3]).unwrap());
    assert!(est.flow_pairs(&frames, &[(0, 9)])[0].is_err());
}

#[test]
fn custom_parameters_are_validated_and_used() {
    let bad = FlowParams::new(FlowMethod::Dis(DisParams { patch_stride: 0, ..DisParams::medium() }));
    assert!(FlowEstimator::new(bad).is_err());
    let bad = FlowParams::new(FlowMethod::Dis(DisParams { patch_size: 40, ..DisParams::medium() }));
    let msg = FlowEstimator::new(bad).unwrap_err().to_string();
    assert!(msg.contains("patch_size") && msg.contains("40"), "{msg}");
    // A 12-px patch at stride 4 still recovers a translation.
    let p = FlowParams::new(FlowMethod::Dis(DisParams { patch_size: 12, patch_stride: 4, ..DisParams::medium() }));
    let truth = motion_field(Motion::Translation { u: -1.5, v: 2.5 }, 96, 96);
    let (f1, f2) = warped_pair(&Texture::new(4), &truth);
    let flow = compute_flow(f1.view(), f2.view(), &p).unwrap();
    assert!(endpoint_error(flow.view(), truth.view()).unwrap().mean < 0.15);
}

#[test]
fn morph_with_estimated_flow_beats_cross_fade() {
    // Colour photo (astronaut_96.png, public domain) and its smooth warp: the flow morph at t = 0.5 must be closer to
    // the true half-way image than the cross-fade is.
    let img =
        optical_flow::read_image(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/astronaut_96.png").as_path())
            .unwrap();
    assert_eq!(img.dim(), (96, 96, 3));
    let truth = motion_field(Motion::Translation { u: 4.0, v: -3.0 }, 96, 96);
    let half = truth.mapv(|x| x * 0.5);
    let b = optical_flow::warp_channels(img.view(), truth.mapv(|x| -x).view()).unwrap();
    let mid = optical_flow::warp_channels(img.view(), half.mapv(|x| -x).view()).unwrap();
    let est = FlowEstimator::new(FlowParams::default()).unwrap();
    let m = Morph::new(img.view(), b.view(), &est, MorphParams::default()).unwrap();
    let inner = ndarray::s![10..86, 10..86, ..];
    let err_m = (&m.frame(0.5).unwrap().slice(inner) - &mid.slice(inner)).mapv(f32::abs).mean().unwrap();
    let cf = optical_flow::cross_fade(img.view(), b.view(), 0.5).unwrap();
    let err_c = (&cf.slice(inner) - &mid.slice(inner)).mapv(f32::abs).mean().unwrap();
    println!("morph error {err_m:.4}, cross-fade error {err_c:.4}");
    assert!(err_m < 0.5 * err_c, "morph {err_m} vs cross-fade {err_c}");
}
