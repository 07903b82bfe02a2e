//! With the `opencv` feature: OpenCV's DIS and Farneback run, follow the same convention, and our default method is
//! at least as accurate as OpenCV's DIS-medium on the same pairs (the reference the crate's accuracy goal is measured against).
#![cfg(feature = "opencv")]

use std::path::Path;

use optical_flow::synthetic::{motion_field, warped_pair, Motion, Texture};
use optical_flow::{compute_flow, endpoint_error, read_gray, warp, FlowParams};

#[test]
fn opencv_methods_agree_with_ours_and_with_the_truth() {
    let photo = read_gray(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/camera_128.png")).unwrap();
    let mut ours = 0.0;
    let mut theirs = 0.0;
    for (i, motion) in
        [Motion::Smooth { seed: 3, max_disp: 4.0 }, Motion::Translation { u: 2.5, v: -1.5 }].into_iter().enumerate()
    {
        let truth = motion_field(motion, 128, 128);
        // A photograph (bilinear warp) and an exact synthetic texture pair.
        let pairs = [
            (warp(photo.view(), truth.view()).unwrap(), photo.clone()),
            warped_pair(&Texture::new(40 + i as u64), &truth),
        ];
        for (f1, f2) in &pairs {
            let get = |m: &str| compute_flow(f1.view(), f2.view(), &FlowParams::from_name(m).unwrap()).unwrap();
            let dis = get("dis");
            let cv = get("opencv-dis-medium");
            let e_ours = endpoint_error(dis.view(), truth.view()).unwrap().mean;
            let e_cv = endpoint_error(cv.view(), truth.view()).unwrap().mean;
            let agree = endpoint_error(dis.view(), cv.view()).unwrap().mean;
            let e_fb = endpoint_error(get("opencv-farneback").view(), truth.view()).unwrap().mean;
            let e_fast = endpoint_error(get("opencv-dis-fast").view(), truth.view()).unwrap().mean;
            println!("{motion:?}: ours {e_ours:.4}, opencv dis-medium {e_cv:.4}, fast {e_fast:.4}, farneback {e_fb:.4}, ours vs opencv {agree:.4}");
            // Same convention and close results: the two estimates differ by far less than the motion.
            assert!(agree < 0.5, "ours and OpenCV's differ by {agree} px");
            for e in [e_cv, e_fb, e_fast] {
                assert!(e < 1.0, "an OpenCV method is off the truth by {e} px");
            }
            ours += e_ours;
            theirs += e_cv;
        }
    }
    assert!(ours <= 1.2 * theirs, "our mean EPE {ours} vs OpenCV DIS-medium {theirs}");
}
